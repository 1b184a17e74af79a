//! Deterministic Square records: locations, customers, orders and payments.
//!
//! Record `index` (0-based) of each object has a fixed id derived from the
//! seed. Its `updated_at` is `2024-01-01T00:00:00Z + (index / 3) s + 250 ms`
//! (groups of three share a timestamp, as after a bulk import) and its
//! `created_at` one hour earlier. Payment `i` pays for order `i`; order `i`
//! belongs to location `i % locations` and is in that location's currency,
//! so the Tokyo location's amounts are yen (no minor unit).

use serde::Serialize;

use crate::rng::Rng;

/// 2024-01-01T00:00:00Z in epoch milliseconds.
pub const BASE_MS: i64 = 1_704_067_200_000;

/// The phone number a few customers share with HubSpot contacts (a POS
/// clerk typing the store's test number), for identity-stitching tests.
pub const SHARED_PHONE: &str = crate::hubspot::SHARED_PHONE;

/// `updated_at` of an unmodified record `index` (epoch ms).
pub fn base_updated_ms(index: u64) -> i64 {
    BASE_MS + (index / 3) as i64 * 1000 + 250
}

/// `created_at` of record `index` (epoch ms): one hour before its first update.
pub fn created_ms(index: u64) -> i64 {
    base_updated_ms(index) - 3_600_000
}

/// The first index whose base `updated_at` is `>= ms`.
pub fn first_index_updated_at_or_after(ms: i64) -> u64 {
    if ms <= BASE_MS + 250 {
        return 0;
    }
    let secs = (ms - BASE_MS - 250 + 999) / 1000;
    secs as u64 * 3
}

/// The first index whose `created_at` is `>= ms`.
pub fn first_index_created_at_or_after(ms: i64) -> u64 {
    first_index_updated_at_or_after(ms + 3_600_000)
}

/// RFC 3339 with milliseconds, as Square writes timestamps.
pub fn format_time(ms: i64) -> String {
    crate::hubspot::format_datetime(ms)
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A Square-looking id: 26 characters, unique per (kind, index).
pub fn square_id(seed: u64, salt: u64, index: u64) -> String {
    let hi = crate::rng::mix(seed ^ crate::rng::mix(salt));
    let mut out = Vec::with_capacity(26);
    // 13 characters of salt-dependent noise, 13 of the index (65 bits), so ids never collide.
    let mut h = hi;
    for _ in 0..13 {
        out.push(CROCKFORD[(h & 31) as usize]);
        h >>= 5;
    }
    let mut i = (index as u128) ^ ((crate::rng::mix(hi) as u128) & 0x1_FFFF_FFFF_FFFF_FFFF);
    let mut tail = [0u8; 13];
    for t in tail.iter_mut().rev() {
        *t = CROCKFORD[(i & 31) as usize];
        i >>= 5;
    }
    out.extend_from_slice(&tail);
    String::from_utf8(out).unwrap_or_default()
}

/// Money as Square sends it: an integer amount of the currency's smallest unit.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Money {
    /// Minor units (cents; yen for JPY).
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: &'static str,
}

/// A street address (Square's `Address`).
#[derive(Debug, Clone, Serialize)]
pub struct Address {
    /// Street.
    pub address_line_1: String,
    /// City.
    pub locality: &'static str,
    /// State or prefecture.
    pub administrative_district_level_1: &'static str,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166 country.
    pub country: &'static str,
}

/// A seller location.
#[derive(Debug, Clone, Serialize)]
pub struct Location {
    /// Id.
    pub id: String,
    /// Name.
    pub name: &'static str,
    /// Address.
    pub address: Address,
    /// IANA time zone.
    pub timezone: &'static str,
    /// Capabilities.
    pub capabilities: Vec<&'static str>,
    /// ACTIVE or INACTIVE.
    pub status: &'static str,
    /// RFC 3339.
    pub created_at: String,
    /// The seller.
    pub merchant_id: String,
    /// Country.
    pub country: &'static str,
    /// Language.
    pub language_code: &'static str,
    /// Currency of its amounts.
    pub currency: &'static str,
    /// Business name.
    pub business_name: &'static str,
    /// PHYSICAL or MOBILE.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Square sends more than a connector reads.
    pub mcc: &'static str,
}

struct Site {
    name: &'static str,
    city: &'static str,
    region: &'static str,
    country: &'static str,
    tz: &'static str,
    lang: &'static str,
    currency: &'static str,
    kind: &'static str,
}

const SITES: [Site; 4] = [
    Site {
        name: "Main Street",
        city: "Portland",
        region: "OR",
        country: "US",
        tz: "America/Los_Angeles",
        lang: "en-US",
        currency: "USD",
        kind: "PHYSICAL",
    },
    Site {
        name: "Harbour Front",
        city: "Seattle",
        region: "WA",
        country: "US",
        tz: "America/Los_Angeles",
        lang: "en-US",
        currency: "USD",
        kind: "PHYSICAL",
    },
    Site {
        name: "Shibuya",
        city: "Shibuya-ku",
        region: "Tokyo",
        country: "JP",
        tz: "Asia/Tokyo",
        lang: "ja-JP",
        currency: "JPY",
        kind: "PHYSICAL",
    },
    Site {
        name: "Pop-up Van",
        city: "Portland",
        region: "OR",
        country: "US",
        tz: "America/Los_Angeles",
        lang: "en-US",
        currency: "USD",
        kind: "MOBILE",
    },
];

/// The merchant id of the seeded seller.
pub fn merchant_id(seed: u64) -> String {
    square_id(seed, 0x5E, 0)[..13].to_owned()
}

/// Location `index` (0-based; the sites cycle).
pub fn location(seed: u64, index: u64) -> Location {
    let s = &SITES[(index % SITES.len() as u64) as usize];
    let mut rng = Rng::new(seed, 0x10C, index);
    Location {
        id: format!("L{}", &square_id(seed, 0x10C, index)[13..]),
        name: s.name,
        address: Address {
            address_line_1: format!("{} {} St", 100 + rng.below(900), s.name),
            locality: s.city,
            administrative_district_level_1: s.region,
            postal_code: format!("{:05}", 10000 + rng.below(89999)),
            country: s.country,
        },
        timezone: s.tz,
        capabilities: vec!["CREDIT_CARD_PROCESSING", "AUTOMATIC_TRANSFERS"],
        status: "ACTIVE",
        created_at: format_time(BASE_MS - 400 * 86_400_000 + index as i64 * 86_400_000),
        merchant_id: merchant_id(seed),
        country: s.country,
        language_code: s.lang,
        currency: s.currency,
        business_name: "Braid Coffee Roasters",
        kind: s.kind,
        mcc: "5812",
    }
}

/// Customer preferences.
#[derive(Debug, Clone, Serialize)]
pub struct Preferences {
    /// Opted out of marketing email.
    pub email_unsubscribed: bool,
}

/// A customer profile (loyalty members mostly have phone numbers).
#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    /// Id.
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    /// Phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Seller's own id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    /// Note (changes with every modification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Preferences.
    pub preferences: Preferences,
    /// How the profile was created.
    pub creation_source: &'static str,
    /// Groups.
    pub group_ids: Vec<String>,
    /// Segments.
    pub segment_ids: Vec<String>,
    /// Version (optimistic concurrency).
    pub version: u32,
    /// Square sends more than a connector reads.
    pub tax_ids: serde_json::Value,
}

const GIVEN: [&str; 16] = [
    "Ava", "Liam", "Mia", "Noah", "Emma", "Ethan", "Sofia", "Lucas", "Yui", "Haruto", "Chloé",
    "Mateo", "Amara", "Kenji", "Isla", "Omar",
];
const FAMILY: [&str; 14] = [
    "Nguyen", "Smith", "Garcia", "Tanaka", "Müller", "O'Brien", "Kim", "Patel", "Rossi", "Silva",
    "Sato", "Brown", "Dubois", "Cohen",
];

/// Customer `index` at `version` with `updated_ms`.
pub fn customer(seed: u64, index: u64, version: u32, updated_ms: i64) -> Customer {
    let mut rng = Rng::new(seed, 0xC5, index);
    let given = *rng.pick(&GIVEN);
    let family = *rng.pick(&FAMILY);
    let site = &SITES[(index % 3) as usize];
    let email = if rng.chance(0.85) {
        Some(format!(
            "{}.{}{}@example.com",
            given.to_lowercase(),
            family.to_lowercase().replace('\'', ""),
            index
        ))
    } else {
        None
    };
    let phone = if index % 97 == 5 {
        Some(SHARED_PHONE.to_owned())
    } else if rng.chance(0.9) {
        Some(if site.country == "JP" {
            format!("+81 90-{:04}-{:04}", rng.below(10000), index % 10000)
        } else {
            format!("+1 503-555-{:04}", index % 10000)
        })
    } else {
        None
    };
    let address = rng.chance(0.6).then(|| Address {
        address_line_1: format!("{} Elm St", 1 + rng.below(999)),
        locality: site.city,
        administrative_district_level_1: site.region,
        postal_code: format!("{:05}", 10000 + rng.below(89999)),
        country: site.country,
    });
    let groups = if rng.chance(0.3) {
        vec![format!("GROUP-LOYALTY-{}", 1 + rng.below(3))]
    } else {
        Vec::new()
    };
    Customer {
        id: square_id(seed, 0xC5, index),
        created_at: format_time(created_ms(index)),
        updated_at: format_time(updated_ms),
        given_name: Some(given.to_owned()),
        family_name: Some(family.to_owned()),
        email_address: email,
        phone_number: phone,
        address,
        reference_id: rng.chance(0.5).then(|| format!("LOY-{:07}", index)),
        note: (version > 0).then(|| format!("updated {version} time(s)")),
        preferences: Preferences {
            email_unsubscribed: rng.chance(0.1),
        },
        creation_source: rng.pick::<&'static str>(&[
            "DIRECTORY",
            "LOYALTY",
            "THIRD_PARTY",
            "MERGE",
        ]),
        group_ids: groups,
        segment_ids: Vec::new(),
        version,
        tax_ids: serde_json::json!({}),
    }
}

/// A line item of an order.
#[derive(Debug, Clone, Serialize)]
pub struct LineItem {
    /// Unique within the order.
    pub uid: String,
    /// Item name.
    pub name: &'static str,
    /// Quantity as a decimal string.
    pub quantity: String,
    /// Catalog variation.
    pub catalog_object_id: String,
    /// Variation name.
    pub variation_name: &'static str,
    /// Unit price.
    pub base_price_money: Money,
    /// Price × quantity.
    pub gross_sales_money: Money,
    /// Tax.
    pub total_tax_money: Money,
    /// Discount.
    pub total_discount_money: Money,
    /// Gross − discount + tax.
    pub total_money: Money,
}

/// Where an order came from.
#[derive(Debug, Clone, Serialize)]
pub struct OrderSource {
    /// Application name.
    pub name: &'static str,
}

/// An order.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    /// Id.
    pub id: String,
    /// Location.
    pub location_id: String,
    /// Seller's reference.
    pub reference_id: String,
    /// The buyer, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Items.
    pub line_items: Vec<LineItem>,
    /// OPEN, COMPLETED or CANCELED.
    pub state: &'static str,
    /// Version.
    pub version: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339, for completed orders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// Sum of line totals.
    pub total_money: Money,
    /// Sum of line taxes.
    pub total_tax_money: Money,
    /// Sum of line discounts.
    pub total_discount_money: Money,
    /// Tip.
    pub total_tip_money: Money,
    /// Service charges.
    pub total_service_charge_money: Money,
    /// Source.
    pub source: OrderSource,
    /// Square sends more than a connector reads.
    pub net_amount_due_money: Money,
}

const MENU: [(&str, &str, i64); 8] = [
    ("Latte", "Regular", 475),
    ("Cappuccino", "Large", 525),
    ("Drip Coffee", "Small", 300),
    ("Cold Brew", "Regular", 450),
    ("Croissant", "Butter", 375),
    ("Beans 250g", "Ethiopia", 1699),
    ("Beans 1kg", "House Blend", 4599),
    ("Matcha Latte", "Oat", 550),
];

/// Order `index` at `version` with `updated_ms`, given the locations and the customer count.
pub fn order(
    seed: u64,
    index: u64,
    version: u32,
    updated_ms: i64,
    locations: u64,
    customers: u64,
) -> Order {
    let mut rng = Rng::new(seed, 0x0D, index);
    let loc = location(seed, index % locations.max(1));
    let currency = loc.currency;
    // Yen prices: whole yen (no minor unit), about 1.5 yen per cent.
    let scale = |cents: i64| {
        if currency == "JPY" {
            cents * 3 / 2
        } else {
            cents
        }
    };
    let money = |amount: i64| Money { amount, currency };
    let n = 1 + rng.below(3);
    let mut items = Vec::with_capacity(n as usize);
    let (mut total, mut tax_sum, mut disc_sum) = (0i64, 0i64, 0i64);
    for k in 0..n {
        let (name, variation, price) = *rng.pick(&MENU);
        let price = scale(price);
        let qty = 1 + rng.below(3) as i64;
        let gross = price * qty;
        let disc = if rng.chance(0.2) { gross / 10 } else { 0 };
        let tax = (gross - disc) * 8 / 100;
        let line = gross - disc + tax;
        total += line;
        tax_sum += tax;
        disc_sum += disc;
        items.push(LineItem {
            uid: format!("{}-{k}", &square_id(seed, 0x0D, index)[..8]),
            name,
            quantity: qty.to_string(),
            catalog_object_id: square_id(
                seed,
                0xCA,
                (name.len() as u64) * 31 + variation.len() as u64,
            ),
            variation_name: variation,
            base_price_money: money(price),
            gross_sales_money: money(gross),
            total_tax_money: money(tax),
            total_discount_money: money(disc),
            total_money: money(line),
        });
    }
    let tip = if rng.chance(0.4) {
        scale(100 * (1 + rng.below(3) as i64))
    } else {
        0
    };
    let state = match (version, rng.below(20)) {
        (v, _) if v > 0 => "COMPLETED",
        (_, 0) => "CANCELED",
        (_, 1) => "OPEN",
        _ => "COMPLETED",
    };
    Order {
        id: square_id(seed, 0x0D, index),
        location_id: loc.id,
        reference_id: format!("POS-{index:08}"),
        customer_id: (customers > 0 && !rng.chance(0.2))
            .then(|| square_id(seed, 0xC5, index % customers)),
        line_items: items,
        state,
        version: version + 1,
        created_at: format_time(created_ms(index)),
        updated_at: format_time(updated_ms),
        closed_at: (state == "COMPLETED").then(|| format_time(created_ms(index) + 120_000)),
        total_money: money(total + tip),
        total_tax_money: money(tax_sum),
        total_discount_money: money(disc_sum),
        total_tip_money: money(tip),
        total_service_charge_money: money(0),
        source: OrderSource {
            name: "Square Point of Sale",
        },
        net_amount_due_money: money(0),
    }
}

/// A card.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// VISA, MASTERCARD, …
    pub card_brand: &'static str,
    /// Last four digits.
    pub last_4: String,
    /// Expiry month.
    pub exp_month: u32,
    /// Expiry year.
    pub exp_year: u32,
    /// Square sends more than a connector reads.
    pub fingerprint: String,
}

/// Card details of a card payment.
#[derive(Debug, Clone, Serialize)]
pub struct CardDetails {
    /// AUTHORIZED, CAPTURED, …
    pub status: &'static str,
    /// The card.
    pub card: Card,
    /// KEYED, SWIPED, EMV, CONTACTLESS.
    pub entry_method: &'static str,
}

/// A payment.
#[derive(Debug, Clone, Serialize)]
pub struct Payment {
    /// Id.
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Amount before tip.
    pub amount_money: Money,
    /// Tip.
    pub tip_money: Money,
    /// Amount + tip.
    pub total_money: Money,
    /// COMPLETED, APPROVED, CANCELED, FAILED.
    pub status: &'static str,
    /// CARD or CASH.
    pub source_type: &'static str,
    /// Card details, for card payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_details: Option<CardDetails>,
    /// Location.
    pub location_id: String,
    /// The order paid.
    pub order_id: String,
    /// The buyer, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// Receipt number.
    pub receipt_number: String,
    /// Version token.
    pub version_token: String,
}

/// Payment `index` (paying order `index`) at `version` with `updated_ms`.
pub fn payment(
    seed: u64,
    index: u64,
    version: u32,
    updated_ms: i64,
    locations: u64,
    customers: u64,
) -> Payment {
    let o = order(seed, index, 0, base_updated_ms(index), locations, customers);
    let mut rng = Rng::new(seed, 0x9A, index);
    let id = square_id(seed, 0x9A, index);
    let card = !rng.chance(0.15);
    let amount = o.total_money.amount - o.total_tip_money.amount;
    Payment {
        created_at: format_time(created_ms(index) + 60_000),
        updated_at: format_time(updated_ms),
        amount_money: Money {
            amount,
            currency: o.total_money.currency,
        },
        tip_money: o.total_tip_money,
        total_money: o.total_money,
        status: if version > 0 {
            "COMPLETED"
        } else {
            rng.pick::<&'static str>(&["COMPLETED", "COMPLETED", "COMPLETED", "APPROVED"])
        },
        source_type: if card { "CARD" } else { "CASH" },
        card_details: card.then(|| CardDetails {
            status: "CAPTURED",
            card: Card {
                card_brand: rng.pick::<&'static str>(&[
                    "VISA",
                    "MASTERCARD",
                    "AMERICAN_EXPRESS",
                    "JCB",
                ]),
                last_4: format!("{:04}", rng.below(10000)),
                exp_month: 1 + rng.below(12) as u32,
                exp_year: 2026 + rng.below(5) as u32,
                fingerprint: format!("sq-1-{}", &id[..20]),
            },
            entry_method: rng.pick::<&'static str>(&["EMV", "CONTACTLESS", "KEYED", "SWIPED"]),
        }),
        location_id: o.location_id,
        order_id: o.id,
        customer_id: o.customer_id,
        receipt_number: id[..4].to_owned(),
        version_token: format!("v{version}-{}", &id[..6]),
        id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_tie_in_threes_and_indices_invert_them() {
        assert_eq!(base_updated_ms(0), base_updated_ms(2));
        assert!(base_updated_ms(3) > base_updated_ms(2));
        for i in [0u64, 1, 2, 3, 4, 299, 300, 301, 10_000] {
            let first = first_index_updated_at_or_after(base_updated_ms(i));
            assert!(
                first <= i && base_updated_ms(first) == base_updated_ms(i),
                "{i}"
            );
            assert_eq!(first_index_created_at_or_after(created_ms(i)), first);
        }
    }

    #[test]
    fn ids_are_unique_and_orders_add_up() {
        let ids: std::collections::HashSet<String> =
            (0..5000).map(|i| square_id(42, 0xC5, i)).collect();
        assert_eq!(ids.len(), 5000);
        assert!(ids.iter().all(|id| id.len() == 26));
        for i in 0..200 {
            let o = order(42, i, 0, base_updated_ms(i), 3, 100);
            let lines: i64 = o.line_items.iter().map(|l| l.total_money.amount).sum();
            assert_eq!(lines + o.total_tip_money.amount, o.total_money.amount);
            let p = payment(42, i, 0, base_updated_ms(i), 3, 100);
            assert_eq!(p.order_id, o.id);
            assert_eq!(p.total_money, o.total_money);
        }
        assert_eq!(order(42, 2, 0, 0, 3, 10).total_money.currency, "JPY");
    }
}

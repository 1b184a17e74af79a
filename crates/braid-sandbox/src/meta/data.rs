//! Deterministic Meta ads data: an account's campaign → ad set → ad tree,
//! daily insights per ad, and lead-form leads, each a pure function of the
//! seed and its indices (and, for insights, the day's restatement round).

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use crate::rng::Rng;

/// Object kinds, for ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Campaign.
    Campaign = 1,
    /// Ad set.
    AdSet = 2,
    /// Ad.
    Ad = 3,
    /// Lead form.
    Form = 4,
    /// Lead.
    Lead = 5,
    /// Creative.
    Creative = 6,
}

/// A Meta id: a decimal string too large for a JSON double (why Meta sends ids as strings).
pub fn meta_id(kind: Kind, index: u64) -> String {
    (120_200_000_000_000_000u64 + (kind as u64) * 1_000_000_000_000 + index).to_string()
}

/// The index of a Meta id of `kind`, if it is one.
pub fn index_of(kind: Kind, id: &str) -> Option<u64> {
    let n: u64 = id.parse().ok()?;
    let base = 120_200_000_000_000_000u64 + (kind as u64) * 1_000_000_000_000;
    (n >= base && n < base + 1_000_000_000_000).then(|| n - base)
}

/// Minor-unit exponent of a currency (Meta's "offset": 100 for USD, 1 for JPY).
pub fn currency_exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "HUF" | "TWD" | "PYG" | "COP" | "CRC" => 0,
        _ => 2,
    }
}

/// A minor-unit amount as Meta writes money in insights (`"12.34"`, `"1234"` for yen).
pub fn format_money(minor: u64, currency: &str) -> String {
    match currency_exponent(currency) {
        0 => minor.to_string(),
        e => {
            let d = 10u64.pow(e);
            format!("{}.{:0w$}", minor / d, minor % d, w = e as usize)
        }
    }
}

const OBJECTIVES: &[&str] = &[
    "OUTCOME_SALES",
    "OUTCOME_LEADS",
    "OUTCOME_TRAFFIC",
    "OUTCOME_AWARENESS",
];
const WORDS: &[&str] = &[
    "Winter",
    "Launch",
    "Retarget",
    "Lookalike",
    "Brand",
    "Promo",
    "Holiday",
    "Spring",
    "VIP",
    "Prospecting",
];

/// `2026-10-01T09:30:00-0700`, Meta's time format, for epoch seconds in a fixed offset.
pub fn meta_time(epoch_s: i64, offset_hours: i32) -> String {
    let off = chrono::FixedOffset::east_opt(offset_hours * 3600)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
    chrono::DateTime::from_timestamp(epoch_s, 0)
        .unwrap_or_default()
        .with_timezone(&off)
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string()
}

/// Where the data's times start: 2026-01-05T00:00:00Z.
pub const BASE_S: i64 = 1_767_571_200;

/// A campaign object with every field the sandbox knows.
pub fn campaign(seed: u64, i: u64, account: &str, currency: &str, off: i32) -> Map<String, Value> {
    let mut r = Rng::new(seed, 0xCA, i);
    let created = BASE_S + (i as i64) * 3_600;
    let budget = (20 + r.below(480)) * 10u64.pow(currency_exponent(currency));
    let status = if r.chance(0.15) { "PAUSED" } else { "ACTIVE" };
    obj(json!({
        "id": meta_id(Kind::Campaign, i),
        "account_id": account,
        "name": format!("{} {} {}", r.pick(WORDS), r.pick(WORDS), i),
        "objective": *r.pick(OBJECTIVES),
        "status": status,
        "effective_status": status,
        "buying_type": "AUCTION",
        "daily_budget": budget.to_string(),
        "created_time": meta_time(created, off),
        "updated_time": meta_time(created + 86_400, off),
        "start_time": meta_time(created, off),
    }))
}

/// An ad set of campaign `i / per_campaign`.
pub fn adset(seed: u64, i: u64, per_campaign: u64, account: &str, off: i32) -> Map<String, Value> {
    let mut r = Rng::new(seed, 0xAD5, i);
    let created = BASE_S + (i as i64) * 1_800;
    obj(json!({
        "id": meta_id(Kind::AdSet, i),
        "account_id": account,
        "campaign_id": meta_id(Kind::Campaign, i / per_campaign.max(1)),
        "name": format!("{} audience {}", r.pick(WORDS), i),
        "status": "ACTIVE",
        "effective_status": "ACTIVE",
        "optimization_goal": *r.pick(&["OFFSITE_CONVERSIONS", "LINK_CLICKS", "LEAD_GENERATION", "REACH"]),
        "billing_event": "IMPRESSIONS",
        "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        "created_time": meta_time(created, off),
        "updated_time": meta_time(created + 7_200, off),
        "start_time": meta_time(created, off),
    }))
}

/// Ad `i`, in ad set `i / per_adset`.
pub fn ad(
    seed: u64,
    i: u64,
    per_adset: u64,
    per_campaign: u64,
    account: &str,
    off: i32,
) -> Map<String, Value> {
    let mut r = Rng::new(seed, 0xAD, i);
    let set = i / per_adset.max(1);
    let created = BASE_S + (i as i64) * 900;
    obj(json!({
        "id": meta_id(Kind::Ad, i),
        "account_id": account,
        "adset_id": meta_id(Kind::AdSet, set),
        "campaign_id": meta_id(Kind::Campaign, set / per_campaign.max(1)),
        "name": format!("{} creative {}", r.pick(WORDS), i),
        "status": "ACTIVE",
        "effective_status": "ACTIVE",
        "creative": {"id": meta_id(Kind::Creative, i)},
        "created_time": meta_time(created, off),
        "updated_time": meta_time(created + 3_600, off),
    }))
}

/// The numbers of one ad on one day, at restatement round `round`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayNumbers {
    /// Impressions.
    pub impressions: u64,
    /// Link clicks.
    pub clicks: u64,
    /// Spend in the currency's minor units.
    pub spend_minor: u64,
    /// Purchases (`offsite_conversion.fb_pixel_purchase`).
    pub purchases: u64,
    /// Leads (`lead`).
    pub leads: u64,
    /// Purchase value in minor units.
    pub purchase_value_minor: u64,
}

/// Days since the Unix epoch.
pub fn day_number(d: NaiveDate) -> i64 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
}

/// Ad `ad` on `date` after `round` restatements: each round adds late
/// conversions (and their value), as Meta's attribution does.
pub fn day_numbers(seed: u64, ad: u64, date: NaiveDate, round: u32, currency: &str) -> DayNumbers {
    let mut r = Rng::new(
        seed,
        0x1_5157,
        ad.wrapping_mul(1_000_003) ^ day_number(date) as u64,
    );
    let impressions = 100 + r.below(4_900);
    let clicks = impressions * (5 + r.below(45)) / 1_000;
    // CPM 2–12 in major units.
    let unit = 10u64.pow(currency_exponent(currency));
    let spend_minor = impressions * (2 + r.below(10)) * unit / 1_000 + r.below(unit.max(1));
    let purchases = clicks / 20 + r.below(3) + u64::from(round);
    let leads = r.below(4) + u64::from(round).min(1);
    let purchase_value_minor = purchases * (15 + r.below(185)) * unit;
    DayNumbers {
        impressions,
        clicks,
        spend_minor,
        purchases,
        leads,
        purchase_value_minor,
    }
}

/// One insights row (level `ad`, one day) with every field the sandbox knows.
#[allow(clippy::too_many_arguments)]
pub fn insight(
    seed: u64,
    ad_index: u64,
    date: NaiveDate,
    round: u32,
    account: &str,
    currency: &str,
    per_adset: u64,
    per_campaign: u64,
) -> Map<String, Value> {
    let n = day_numbers(seed, ad_index, date, round, currency);
    let set = ad_index / per_adset.max(1);
    let campaign = set / per_campaign.max(1);
    let mut cr = Rng::new(seed, 0xCA, campaign);
    let campaign_name = format!("{} {} {}", cr.pick(WORDS), cr.pick(WORDS), campaign);
    let mut sr = Rng::new(seed, 0xAD5, set);
    let adset_name = format!("{} audience {}", sr.pick(WORDS), set);
    let mut ar = Rng::new(seed, 0xAD, ad_index);
    let ad_name = format!("{} creative {}", ar.pick(WORDS), ad_index);
    let day = date.format("%Y-%m-%d").to_string();
    let mut actions = vec![
        json!({"action_type": "link_click", "value": n.clicks.to_string()}),
        json!({"action_type": "offsite_conversion.fb_pixel_purchase", "value": n.purchases.to_string()}),
    ];
    if n.leads > 0 {
        actions.push(json!({"action_type": "lead", "value": n.leads.to_string()}));
    }
    obj(json!({
        "account_id": account,
        "account_currency": currency,
        "campaign_id": meta_id(Kind::Campaign, campaign),
        "campaign_name": campaign_name,
        "adset_id": meta_id(Kind::AdSet, set),
        "adset_name": adset_name,
        "ad_id": meta_id(Kind::Ad, ad_index),
        "ad_name": ad_name,
        "impressions": n.impressions.to_string(),
        "clicks": n.clicks.to_string(),
        "spend": format_money(n.spend_minor, currency),
        "actions": actions,
        "action_values": [
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": format_money(n.purchase_value_minor, currency)},
        ],
        "date_start": day,
        "date_stop": day,
    }))
}

/// The shared phone some leads give (the same person as the CRM's and the POS's test customer).
pub const SHARED_LEAD_EMAIL: &str = "ling.wang@example.com";

/// Lead `i` of form `form`: `created_time` grows with the index (one every 10 minutes).
pub fn lead(seed: u64, form: u64, i: u64, ad_count: u64, off: i32) -> Map<String, Value> {
    let mut r = Rng::new(seed, 0x1EAD ^ form, i);
    let first = *r.pick(&[
        "Ling", "Wei", "Ana", "Sam", "Noor", "Kenji", "Maria", "Omar",
    ]);
    let last = *r.pick(&[
        "Wang", "Chen", "Silva", "Lee", "Khan", "Sato", "Rossi", "Diaz",
    ]);
    let email = if i % 97 == 5 {
        SHARED_LEAD_EMAIL.to_owned()
    } else {
        format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase(),
            i
        )
    };
    let phone = format!("+1415555{:04}", r.below(10_000));
    let ad = r.below(ad_count.max(1));
    obj(json!({
        "id": meta_id(Kind::Lead, form * 10_000_000 + i),
        "created_time": meta_time(lead_time(i), off),
        "ad_id": meta_id(Kind::Ad, ad),
        "form_id": meta_id(Kind::Form, form),
        "field_data": [
            {"name": "email", "values": [email]},
            {"name": "phone_number", "values": [phone]},
            {"name": "full_name", "values": [format!("{first} {last}")]},
        ],
    }))
}

/// Epoch seconds at which lead `i` was created.
pub fn lead_time(i: u64) -> i64 {
    BASE_S + 600 * i as i64
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_money_formats_by_currency() {
        let id = meta_id(Kind::Ad, 42);
        assert_eq!(index_of(Kind::Ad, &id), Some(42));
        assert_eq!(index_of(Kind::Campaign, &id), None);
        assert!(id.parse::<u64>().unwrap() > 1 << 53);
        assert_eq!(format_money(1234, "USD"), "12.34");
        assert_eq!(format_money(5, "USD"), "0.05");
        assert_eq!(format_money(1234, "JPY"), "1234");
        assert_eq!(meta_time(BASE_S, -8), "2026-01-04T16:00:00-0800");
    }

    #[test]
    fn restatement_adds_conversions_and_keeps_delivery() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        let a = day_numbers(1, 7, d, 0, "USD");
        let b = day_numbers(1, 7, d, 1, "USD");
        assert_eq!(a.impressions, b.impressions);
        assert_eq!(a.spend_minor, b.spend_minor);
        assert_eq!(b.purchases, a.purchases + 1);
        assert_eq!(a, day_numbers(1, 7, d, 0, "USD"));
    }
}

//! A deterministic online store shared by the Shopify and WooCommerce
//! emulations: customers, products (with variants) and orders (with line
//! items), plus the bookkeeping of records modified or created later.
//!
//! Record `index` (0-based) of each kind is a pure function of (seed, kind,
//! index); each vendor renders it in its own wire format. Unmodified records
//! were last updated at `2024-01-01T00:00:00Z + (index / 3) s` (whole
//! seconds, ties in threes, as after a bulk import) and created one hour
//! before. Modified and created records get one later time per mutation, so
//! every modified record sorts after every untouched one by update time.
//!
//! Listings come in two shapes: keyset (Shopify's `page_info`: "after this
//! record") and offset (WooCommerce's `page`/`per_page`). Both work in index
//! order or update-time order without materialising the data set.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::rng::Rng;

/// 2024-01-01T00:00:00Z in epoch milliseconds.
pub const BASE_MS: i64 = 1_704_067_200_000;

/// A phone number a few customers share with HubSpot contacts, for identity tests.
pub const SHARED_PHONE: &str = "+18005550100";

/// `updated_at` of an unmodified record `index` (epoch ms, whole seconds).
pub fn base_updated_ms(index: u64) -> i64 {
    BASE_MS + (index / 3) as i64 * 1000
}

/// `created_at` of record `index`: one hour before its first update.
pub fn created_ms(index: u64) -> i64 {
    base_updated_ms(index) - 3_600_000
}

/// The first index whose base update time is `>= ms`.
pub fn first_index_updated_at_or_after(ms: i64) -> u64 {
    let delta = ms.saturating_sub(BASE_MS);
    if delta <= 0 {
        return 0;
    }
    (delta as u64).div_ceil(1000) * 3
}

/// The kinds of records a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Customers.
    Customers,
    /// Orders.
    Orders,
    /// Products.
    Products,
}

impl Kind {
    /// Parses `customers`, `orders`, `products`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "customers" => Some(Kind::Customers),
            "orders" => Some(Kind::Orders),
            "products" => Some(Kind::Products),
            _ => None,
        }
    }

    fn salt(self) -> u64 {
        match self {
            Kind::Customers => 0x5C,
            Kind::Orders => 0x50,
            Kind::Products => 0x5B,
        }
    }
}

/// The current version of a modified record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Last update (epoch ms).
    pub updated_ms: i64,
    /// Times modified (0 = as generated).
    pub version: u32,
}

#[derive(Debug, Default)]
struct ObjectState {
    created: u64,
    overrides: BTreeMap<u64, Version>,
    by_time: BTreeSet<(i64, u64)>,
}

#[derive(Debug)]
struct Mutable {
    objects: BTreeMap<Kind, ObjectState>,
    clock_ms: i64,
    mutations: u64,
}

/// An update-time range, inclusive at both ends (epoch ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Earliest update time.
    pub since: i64,
    /// Latest update time.
    pub until: i64,
}

impl Range {
    /// Every time.
    pub const ALL: Range = Range {
        since: i64::MIN,
        until: i64::MAX,
    };

    fn contains(&self, t: i64) -> bool {
        self.since <= t && t <= self.until
    }
}

/// Where a keyset listing continues: after this record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Index order: after `index`.
    Index(u64),
    /// Update order: after (`updated_ms`, `index`).
    Updated(i64, u64),
}

/// One record of a listing and its modification, if any.
pub type Row = (u64, Option<Version>);

/// The mutable state of one vendor's store (its own mutations, its own sizes).
#[derive(Debug)]
pub struct Store {
    seed: u64,
    configured: BTreeMap<Kind, u64>,
    /// Every modification time is at or after this.
    clock_start: i64,
    state: Mutex<Mutable>,
}

impl Store {
    /// A store with `customers`, `orders` and `products` generated records.
    pub fn new(seed: u64, customers: u64, orders: u64, products: u64) -> Self {
        let max = customers.max(orders).max(products);
        let clock_start = base_updated_ms(max) + 60_000;
        let configured = BTreeMap::from([
            (Kind::Customers, customers),
            (Kind::Orders, orders),
            (Kind::Products, products),
        ]);
        Self {
            seed,
            configured,
            clock_start,
            state: Mutex::new(Mutable {
                objects: BTreeMap::new(),
                clock_ms: clock_start,
                mutations: 0,
            }),
        }
    }

    /// Forgets every mutation.
    pub fn reset(&self) {
        let mut s = self.lock();
        s.objects.clear();
        s.mutations = 0;
        s.clock_ms = self.clock_start;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Generated records of `kind` (before creations).
    pub fn configured(&self, kind: Kind) -> u64 {
        self.configured.get(&kind).copied().unwrap_or(0)
    }

    /// Records of `kind` now (generated + created).
    pub fn total(&self, kind: Kind) -> u64 {
        let s = self.lock();
        self.configured(kind) + s.objects.get(&kind).map_or(0, |o| o.created)
    }

    /// The modification of record `index`, if any.
    pub fn version(&self, kind: Kind, index: u64) -> Option<Version> {
        let s = self.lock();
        s.objects.get(&kind)?.overrides.get(&index).copied()
    }

    /// Update time of a record with modification `v`.
    pub fn updated_ms(index: u64, v: Option<Version>) -> i64 {
        v.map_or(base_updated_ms(index), |v| v.updated_ms)
    }

    /// Up to `limit` records after `after` in index order (`after: None` =
    /// from the start) or update order, keeping those `keep` accepts; and
    /// whether more follow.
    pub fn keyset(
        &self,
        kind: Kind,
        range: Range,
        by_updated: bool,
        after: Option<After>,
        limit: usize,
        keep: &dyn Fn(u64, Option<Version>) -> bool,
    ) -> (Vec<Row>, bool) {
        let s = self.lock();
        let empty = ObjectState::default();
        let st = s.objects.get(&kind).unwrap_or(&empty);
        let configured = self.configured(kind);
        let f = first_index_updated_at_or_after(range.since);
        // Untouched records matching the range, in index order: from `from`.
        let next_untouched = |from: u64| -> Option<u64> {
            let mut x = from.max(f);
            while st.overrides.contains_key(&x) {
                x += 1;
            }
            (x < configured && base_updated_ms(x) <= range.until).then_some(x)
        };
        let mut out = Vec::new();
        let mut more = false;
        if !by_updated {
            let mut cursor = match after {
                Some(After::Index(i)) => i + 1,
                Some(After::Updated(_, i)) => i + 1,
                None => 0,
            };
            loop {
                let u = next_untouched(cursor);
                let m = st
                    .overrides
                    .range(cursor..)
                    .find(|(_, v)| range.contains(v.updated_ms))
                    .map(|(i, _)| *i);
                let next = match (u, m) {
                    (Some(a), Some(b)) => a.min(b),
                    (Some(a), None) => a,
                    (None, Some(b)) => b,
                    (None, None) => break,
                };
                let v = st.overrides.get(&next).copied();
                cursor = next + 1;
                if !keep(next, v) {
                    continue;
                }
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push((next, v));
            }
            return (out, more);
        }
        // Update order: untouched records by index, then modified ones by time.
        let phase2_after = match after {
            None => None,
            Some(After::Updated(t, i)) if t >= self.clock_start => Some((t, i)),
            Some(After::Updated(_, i)) | Some(After::Index(i)) => {
                let mut cursor = i + 1;
                while let Some(x) = next_untouched(cursor) {
                    cursor = x + 1;
                    if !keep(x, None) {
                        continue;
                    }
                    if out.len() == limit {
                        return (out, true);
                    }
                    out.push((x, None));
                }
                None
            }
        };
        if after.is_none() {
            let mut cursor = 0;
            while let Some(x) = next_untouched(cursor) {
                cursor = x + 1;
                if !keep(x, None) {
                    continue;
                }
                if out.len() == limit {
                    return (out, true);
                }
                out.push((x, None));
            }
        }
        let lo = phase2_after.map_or(
            std::ops::Bound::Included((range.since, 0)),
            std::ops::Bound::Excluded,
        );
        for &(t, i) in st.by_time.range((lo, std::ops::Bound::Unbounded)) {
            if t > range.until {
                break;
            }
            if t < range.since {
                continue;
            }
            let v = st.overrides.get(&i).copied();
            if !keep(i, v) {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push((i, v));
        }
        (out, more)
    }

    /// How many records of `kind` were updated at or after `since`.
    pub fn count(&self, kind: Kind, since: i64) -> u64 {
        let s = self.lock();
        let empty = ObjectState::default();
        let st = s.objects.get(&kind).unwrap_or(&empty);
        let (untouched, modified) = self.parts(st, kind, since);
        untouched + modified.len() as u64
    }

    /// Untouched matching count and the modified matching indices (index order).
    fn parts(&self, st: &ObjectState, kind: Kind, since: i64) -> (u64, Vec<u64>) {
        let configured = self.configured(kind);
        let f = first_index_updated_at_or_after(since).min(configured);
        let touched_in = st.overrides.range(f..configured).count() as u64;
        let untouched = configured - f - touched_in;
        let modified = st
            .overrides
            .iter()
            .filter(|(_, v)| v.updated_ms >= since)
            .map(|(i, _)| *i)
            .collect();
        (untouched, modified)
    }

    /// Records `offset..offset + limit` of those updated at or after `since`,
    /// in index order or update order (WooCommerce's `page`/`per_page`).
    pub fn offset(
        &self,
        kind: Kind,
        since: i64,
        by_updated: bool,
        offset: u64,
        limit: u64,
    ) -> Vec<Row> {
        let s = self.lock();
        let empty = ObjectState::default();
        let st = s.objects.get(&kind).unwrap_or(&empty);
        let configured = self.configured(kind);
        let f = first_index_updated_at_or_after(since).min(configured);
        let (n_untouched, modified) = self.parts(st, kind, since);
        // The j-th untouched record at or after `f`.
        let nth_untouched = |j: u64| -> u64 {
            let mut x = f + j;
            for o in st.overrides.range(f..configured).map(|(i, _)| *i) {
                if o <= x {
                    x += 1;
                } else {
                    break;
                }
            }
            x
        };
        // Untouched records below `m` (at or after `f`).
        let untouched_below = |m: u64| -> u64 {
            let hi = m.clamp(f, configured);
            hi - f - st.overrides.range(f..hi).count() as u64
        };
        let total = n_untouched + modified.len() as u64;
        let mut out = Vec::new();
        let by_time: Vec<u64> = if by_updated {
            st.by_time
                .range((since, 0)..)
                .map(|(_, i)| *i)
                .collect::<Vec<_>>()
        } else {
            Vec::new()
        };
        let mut k = offset;
        while k < total && (out.len() as u64) < limit {
            let index = if by_updated {
                if k < n_untouched {
                    nth_untouched(k)
                } else {
                    by_time[(k - n_untouched) as usize]
                }
            } else {
                // Merge of the untouched records and the modified ones, by index.
                let mut found = None;
                for (pos, &m) in modified.iter().enumerate() {
                    let before = untouched_below(m) + pos as u64;
                    if k < before {
                        found = Some(nth_untouched(k - pos as u64));
                        break;
                    }
                    if k == before {
                        found = Some(m);
                        break;
                    }
                }
                found.unwrap_or_else(|| nth_untouched(k - modified.len() as u64))
            };
            out.push((index, st.overrides.get(&index).copied()));
            k += 1;
        }
        out
    }

    /// Modifies `count` existing records and creates `create` new ones, all
    /// at one new update time; returns their indices and that time.
    pub fn mutate(&self, kind: Kind, count: u64, create: u64) -> (Vec<u64>, i64) {
        let configured = self.configured(kind);
        let mut s = self.lock();
        s.clock_ms += 1000;
        s.mutations += 1;
        let (now, round) = (s.clock_ms, s.mutations);
        let st = s.objects.entry(kind).or_default();
        let total = configured + st.created;
        let mut rng = Rng::new(self.seed, 0x3A + kind.salt(), round);
        let want = count.min(total);
        let mut chosen = BTreeSet::new();
        while (chosen.len() as u64) < want {
            chosen.insert(rng.below(total));
        }
        let mut indices = Vec::new();
        for index in chosen.into_iter().chain(total..total + create) {
            let version = st.overrides.get(&index).map_or(0, |o| o.version) + 1;
            if let Some(old) = st.overrides.insert(
                index,
                Version {
                    updated_ms: now,
                    version,
                },
            ) {
                st.by_time.remove(&(old.updated_ms, index));
            }
            st.by_time.insert((now, index));
            indices.push(index);
        }
        st.created += create;
        (indices, now)
    }
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Street line.
    pub line1: String,
    /// Apartment, suite.
    pub line2: Option<String>,
    /// City.
    pub city: &'static str,
    /// State or province name.
    pub province: &'static str,
    /// State or province code.
    pub province_code: &'static str,
    /// Postal code.
    pub zip: String,
    /// Country name.
    pub country: &'static str,
    /// ISO 3166-1 alpha-2.
    pub country_code: &'static str,
}

/// A registered customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// First name.
    pub first: &'static str,
    /// Last name.
    pub last: &'static str,
    /// Email (most have one).
    pub email: Option<String>,
    /// Phone in E.164 (many have one).
    pub phone: Option<String>,
    /// Default address.
    pub address: Address,
    /// Opted in to marketing email.
    pub accepts_marketing: bool,
    /// Tags.
    pub tags: Vec<&'static str>,
    /// Changes with every modification.
    pub note: Option<String>,
}

struct Place {
    city: &'static str,
    province: &'static str,
    province_code: &'static str,
    country: &'static str,
    country_code: &'static str,
    dial: &'static str,
}

const PLACES: [Place; 6] = [
    Place {
        city: "Brooklyn",
        province: "New York",
        province_code: "NY",
        country: "United States",
        country_code: "US",
        dial: "+1718555",
    },
    Place {
        city: "Austin",
        province: "Texas",
        province_code: "TX",
        country: "United States",
        country_code: "US",
        dial: "+1512555",
    },
    Place {
        city: "Toronto",
        province: "Ontario",
        province_code: "ON",
        country: "Canada",
        country_code: "CA",
        dial: "+1416555",
    },
    Place {
        city: "Manchester",
        province: "England",
        province_code: "ENG",
        country: "United Kingdom",
        country_code: "GB",
        dial: "+44161496",
    },
    Place {
        city: "Berlin",
        province: "Berlin",
        province_code: "BE",
        country: "Germany",
        country_code: "DE",
        dial: "+4930901",
    },
    Place {
        city: "Shanghai",
        province: "Shanghai",
        province_code: "SH",
        country: "China",
        country_code: "CN",
        dial: "+86139",
    },
];

const FIRST: [&str; 16] = [
    "Olivia", "James", "Amelia", "Lucas", "Hannah", "Mateo", "Zoë", "Felix", "Mei", "Wei", "Nora",
    "Arjun", "Léa", "Tom", "Priya", "Jonas",
];
const LAST: [&str; 14] = [
    "Walker", "Chen", "Schmidt", "O'Neil", "Martin", "Kowalski", "Li", "Haddad", "Jensen", "Rossi",
    "Fischer", "Nakamura", "Brown", "Wang",
];

/// Customer `index` at modification `version`.
pub fn person(seed: u64, index: u64, version: u32) -> Person {
    let mut rng = Rng::new(seed, 0xC0, index);
    let first = *rng.pick(&FIRST);
    let last = *rng.pick(&LAST);
    let place = &PLACES[rng.below(PLACES.len() as u64) as usize];
    let email = rng.chance(0.92).then(|| {
        let local: String = format!("{first}.{last}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        format!("{local}{index}@example.org")
    });
    let phone = if index % 97 == 5 {
        Some(SHARED_PHONE.to_owned())
    } else {
        rng.chance(0.7).then(|| {
            let digits = if place.country_code == "CN" { 8 } else { 4 };
            format!(
                "{}{:0w$}",
                place.dial,
                index % 10u64.pow(digits),
                w = digits as usize
            )
        })
    };
    let address = Address {
        line1: format!("{} {} Street", 1 + rng.below(980), rng.pick(&LAST)),
        line2: rng
            .chance(0.2)
            .then(|| format!("Apt {}", 1 + rng.below(40))),
        city: place.city,
        province: place.province,
        province_code: place.province_code,
        zip: format!("{:05}", 10000 + rng.below(89999)),
        country: place.country,
        country_code: place.country_code,
    };
    let mut tags = Vec::new();
    if rng.chance(0.3) {
        tags.push("vip");
    }
    if rng.chance(0.2) {
        tags.push("wholesale");
    }
    Person {
        first,
        last,
        email,
        phone,
        address,
        accepts_marketing: rng.chance(0.55) || version % 2 == 1,
        tags,
        note: (version > 0).then(|| format!("profile updated {version} time(s)")),
    }
}

/// A product variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Option value (size, weight).
    pub title: &'static str,
    /// Stock-keeping unit.
    pub sku: String,
    /// Unit price in minor units of the shop's currency.
    pub price_minor: i64,
    /// Units in stock.
    pub inventory: i64,
}

/// A product with its variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Title.
    pub title: String,
    /// Brand.
    pub vendor: &'static str,
    /// Category.
    pub product_type: &'static str,
    /// URL handle.
    pub handle: String,
    /// `active`, `draft` or `archived`.
    pub status: &'static str,
    /// Variants (1–3).
    pub variants: Vec<Variant>,
}

const CATALOG: [(&str, &str, i64); 8] = [
    ("Merino Beanie", "Accessories", 2900),
    ("Canvas Tote", "Bags", 3500),
    ("Trail Runner", "Shoes", 12900),
    ("Rain Shell", "Outerwear", 18900),
    ("Organic Tee", "Tops", 2400),
    ("Wool Socks", "Accessories", 1600),
    ("Denim Jacket", "Outerwear", 9800),
    ("Yoga Mat", "Equipment", 5400),
];
const SIZES: [&str; 3] = ["S", "M", "L"];
const VENDORS: [&str; 4] = ["Northwind", "Braid Goods", "Atelier Nord", "Kōbō"];

/// Product `index` at modification `version` (a modification changes its prices).
pub fn product(seed: u64, index: u64, version: u32) -> Product {
    let mut rng = Rng::new(seed, 0x9D, index);
    let (name, kind, price) = CATALOG[(index % CATALOG.len() as u64) as usize];
    let n = 1 + rng.below(3) as usize;
    let bump = 100 * version as i64;
    let variants = (0..n)
        .map(|v| Variant {
            title: SIZES[v],
            sku: format!("{}-{index:05}-{}", &name[..3].to_uppercase(), SIZES[v]),
            price_minor: price + 100 * v as i64 + bump,
            inventory: rng.below(200) as i64,
        })
        .collect();
    let title = format!("{name} {}", index / CATALOG.len() as u64 + 1);
    Product {
        handle: title.to_lowercase().replace(' ', "-"),
        title,
        vendor: VENDORS[rng.below(VENDORS.len() as u64) as usize],
        product_type: kind,
        status: if index % 29 == 7 { "draft" } else { "active" },
        variants,
    }
}

/// A line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Product index.
    pub product: u64,
    /// Variant position in the product (0-based).
    pub variant: u64,
    /// Product title.
    pub title: String,
    /// Variant title.
    pub variant_title: &'static str,
    /// SKU.
    pub sku: String,
    /// Units.
    pub quantity: i64,
    /// Unit price (minor units).
    pub price_minor: i64,
    /// Discount on the line (minor units).
    pub discount_minor: i64,
    /// Tax on the line (minor units).
    pub tax_minor: i64,
}

impl Line {
    /// Price × quantity − discount + tax.
    pub fn total_minor(&self) -> i64 {
        self.price_minor * self.quantity - self.discount_minor + self.tax_minor
    }
}

/// An order, vendor-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderData {
    /// The registered buyer's customer index, `None` for a guest checkout.
    pub customer: Option<u64>,
    /// The buyer's email (a guest's own, else the customer's).
    pub email: Option<String>,
    /// The buyer's phone.
    pub phone: Option<String>,
    /// Billing address.
    pub billing: Address,
    /// Buyer's first and last name.
    pub name: (&'static str, &'static str),
    /// Lines (1–4).
    pub lines: Vec<Line>,
    /// Sum of price × quantity (minor units).
    pub subtotal_minor: i64,
    /// Sum of line discounts.
    pub discount_minor: i64,
    /// Sum of line taxes.
    pub tax_minor: i64,
    /// Shipping.
    pub shipping_minor: i64,
    /// What the buyer pays.
    pub total_minor: i64,
    /// `paid`, `pending`, `refunded`, `cancelled`.
    pub status: &'static str,
    /// Fulfilled (shipped).
    pub fulfilled: bool,
}

/// Order `index` at modification `version`, given the store's customer and
/// product counts. A modification marks it paid and fulfilled.
pub fn order(seed: u64, index: u64, version: u32, customers: u64, products: u64) -> OrderData {
    let mut rng = Rng::new(seed, 0x0E, index);
    let customer = (customers > 0 && rng.chance(0.8)).then(|| rng.below(customers));
    let (name, email, phone, billing) = match customer {
        Some(c) => {
            let p = person(seed, c, 0);
            ((p.first, p.last), p.email, p.phone, p.address)
        }
        None => {
            // A guest: a person of their own, outside the customer list.
            let p = person(seed ^ 0x6E57, index, 0);
            ((p.first, p.last), p.email, p.phone, p.address)
        }
    };
    let n = 1 + rng.below(4);
    let mut lines = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let pi = rng.below(products.max(1));
        let p = product(seed, pi, 0);
        let vi = rng.below(p.variants.len() as u64);
        let v = &p.variants[vi as usize];
        let quantity = 1 + rng.below(3) as i64;
        let gross = v.price_minor * quantity;
        let discount_minor = if rng.chance(0.25) { gross / 10 } else { 0 };
        let tax_minor = (gross - discount_minor) * 8 / 100;
        lines.push(Line {
            product: pi,
            variant: vi,
            title: p.title.clone(),
            variant_title: v.title,
            sku: v.sku.clone(),
            quantity,
            price_minor: v.price_minor,
            discount_minor,
            tax_minor,
        });
    }
    let subtotal_minor: i64 = lines.iter().map(|l| l.price_minor * l.quantity).sum();
    let discount_minor: i64 = lines.iter().map(|l| l.discount_minor).sum();
    let tax_minor: i64 = lines.iter().map(|l| l.tax_minor).sum();
    let shipping_minor = if subtotal_minor - discount_minor >= 10_000 {
        0
    } else {
        799
    };
    let status = match (version, rng.below(25)) {
        (v, _) if v > 0 => "paid",
        (_, 0) => "cancelled",
        (_, 1) => "refunded",
        (_, 2 | 3) => "pending",
        _ => "paid",
    };
    OrderData {
        customer,
        email,
        phone,
        billing,
        name,
        subtotal_minor,
        discount_minor,
        tax_minor,
        shipping_minor,
        total_minor: subtotal_minor - discount_minor + tax_minor + shipping_minor,
        status,
        fulfilled: version > 0 || (status == "paid" && rng.chance(0.7)),
        lines,
    }
}

/// Digits after the decimal point of an ISO 4217 currency.
pub fn currency_exponent(code: &str) -> u32 {
    match code {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
        "KWD" | "BHD" | "JOD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Minor units as a decimal string in `currency` (`1999` USD → `"19.99"`, `1500` JPY → `"1500"`).
pub fn money(minor: i64, currency: &str) -> String {
    let exp = currency_exponent(currency);
    if exp == 0 {
        return minor.to_string();
    }
    let f = 10i64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0w$}",
        m / f as u64,
        m % f as u64,
        w = exp as usize
    )
}

/// Epoch ms as RFC 3339 in a fixed UTC offset (`offset_minutes`), whole
/// seconds: `2024-01-01T19:00:00-05:00`.
pub fn format_offset(ms: i64, offset_minutes: i32) -> String {
    let secs = ms.div_euclid(1000) + offset_minutes as i64 * 60;
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let o = offset_minutes.unsigned_abs();
    format!(
        "{}{sign}{:02}:{:02}",
        t.naive_utc().format("%Y-%m-%dT%H:%M:%S"),
        o / 60,
        o % 60
    )
}

/// Epoch ms as a wall time without an offset (`2024-01-01T00:00:00`), shifted by `offset_minutes`.
pub fn format_naive(ms: i64, offset_minutes: i32) -> String {
    let secs = ms.div_euclid(1000) + offset_minutes as i64 * 60;
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    t.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(n: u64) -> Store {
        Store::new(42, n, n, n)
    }

    fn all_keyset(s: &Store, range: Range, by_updated: bool, limit: usize) -> Vec<u64> {
        let mut after = None;
        let mut out = Vec::new();
        loop {
            let (rows, more) =
                s.keyset(Kind::Orders, range, by_updated, after, limit, &|_, _| true);
            out.extend(rows.iter().map(|r| r.0));
            let Some(&(i, v)) = rows.last() else { break };
            after = Some(if by_updated {
                After::Updated(Store::updated_ms(i, v), i)
            } else {
                After::Index(i)
            });
            if !more {
                break;
            }
        }
        out
    }

    fn all_offset(s: &Store, since: i64, by_updated: bool, limit: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut k = 0;
        loop {
            let rows = s.offset(Kind::Orders, since, by_updated, k, limit);
            if rows.is_empty() {
                return out;
            }
            k += rows.len() as u64;
            out.extend(rows.iter().map(|r| r.0));
        }
    }

    #[test]
    fn keyset_and_offset_listings_agree_in_both_orders() {
        let s = store(40);
        let (changed, t) = s.mutate(Kind::Orders, 5, 2);
        assert_eq!(changed.len(), 7);
        assert!(changed.contains(&40) && changed.contains(&41));
        let by_id: Vec<u64> = (0..42).collect();
        assert_eq!(all_keyset(&s, Range::ALL, false, 7), by_id);
        assert_eq!(all_offset(&s, i64::MIN, false, 7), by_id);
        let by_updated = all_keyset(&s, Range::ALL, true, 4);
        assert_eq!(by_updated.len(), 42);
        let mut tail = by_updated[35..].to_vec();
        tail.sort();
        let mut c = changed.clone();
        c.sort();
        assert_eq!(tail, c, "modified records come last");
        assert_eq!(all_offset(&s, i64::MIN, true, 4), by_updated);
        // Since the mutation: exactly the changed records.
        let since = Range {
            since: t,
            until: i64::MAX,
        };
        let mut got = all_keyset(&s, since, true, 3);
        got.sort();
        assert_eq!(got, c);
        assert_eq!(s.count(Kind::Orders, t), 7);
        let mut got = all_offset(&s, t, false, 2);
        got.sort();
        assert_eq!(got, c);
        // From a base time: the untouched records at or after it, then the changed ones.
        let mid = base_updated_ms(30);
        let from_mid = all_keyset(
            &s,
            Range {
                since: mid,
                until: i64::MAX,
            },
            false,
            5,
        );
        let expect: Vec<u64> = (0..42)
            .filter(|i| changed.contains(i) || *i >= 30)
            .collect();
        assert_eq!(from_mid, expect);
        assert_eq!(all_offset(&s, mid, false, 5), expect);
        assert_eq!(s.count(Kind::Orders, mid), expect.len() as u64);
    }

    #[test]
    fn keyset_in_update_order_survives_modifications_between_pages() {
        let s = store(30);
        let (rows, more) = s.keyset(Kind::Orders, Range::ALL, true, None, 10, &|_, _| true);
        assert!(more);
        let last = rows.last().unwrap().0;
        // Records already read and not yet read change between pages.
        let (changed, _) = s.mutate(Kind::Orders, 8, 0);
        let mut seen: Vec<u64> = rows.iter().map(|r| r.0).collect();
        let mut after = Some(After::Updated(base_updated_ms(last), last));
        loop {
            let (rows, more) = s.keyset(Kind::Orders, Range::ALL, true, after, 10, &|_, _| true);
            seen.extend(rows.iter().map(|r| r.0));
            if !more {
                break;
            }
            let (i, v) = *rows.last().unwrap();
            after = Some(After::Updated(Store::updated_ms(i, v), i));
        }
        for i in 0..30 {
            assert!(seen.contains(&i), "record {i} was skipped");
        }
        for c in changed {
            assert_eq!(
                seen.iter().filter(|x| **x == c).count() as u64,
                if c <= last { 2 } else { 1 }
            );
        }
    }

    #[test]
    fn money_and_times_are_formatted_as_the_vendors_do() {
        assert_eq!(money(1999, "USD"), "19.99");
        assert_eq!(money(5, "EUR"), "0.05");
        assert_eq!(money(1500, "JPY"), "1500");
        assert_eq!(money(1500, "KWD"), "1.500");
        assert_eq!(format_offset(BASE_MS, -300), "2023-12-31T19:00:00-05:00");
        assert_eq!(format_offset(BASE_MS, 60), "2024-01-01T01:00:00+01:00");
        assert_eq!(format_naive(BASE_MS, 0), "2024-01-01T00:00:00");
        let o = order(42, 3, 0, 100, 50);
        let lines: i64 = o.lines.iter().map(Line::total_minor).sum();
        assert_eq!(lines + o.shipping_minor, o.total_minor);
    }
}

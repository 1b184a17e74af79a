//! Deterministic Salesforce records: Contact, Lead, Account, Opportunity,
//! Campaign and CampaignMember.
//!
//! Record `index` (0-based) of an object has an 18-character id that sorts
//! with the index. Its `SystemModstamp` is `2024-01-01T00:00:00Z + index / 3`
//! seconds (Salesforce datetimes carry whole seconds, so ties are the norm),
//! and one record in 61 sits deleted in the recycle bin (`IsDeleted`).

use crate::rng::Rng;

/// 2024-01-01T00:00:00Z in epoch milliseconds.
pub const BASE_MS: i64 = 1_704_067_200_000;

/// The sObjects the sandbox serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SObject {
    /// `Contact` (key prefix 003).
    Contact,
    /// `Lead` (00Q).
    Lead,
    /// `Account` (001).
    Account,
    /// `Opportunity` (006).
    Opportunity,
    /// `Campaign` (701).
    Campaign,
    /// `CampaignMember` (00v).
    CampaignMember,
}

/// Every served object.
pub const OBJECTS: [SObject; 6] = [
    SObject::Contact,
    SObject::Lead,
    SObject::Account,
    SObject::Opportunity,
    SObject::Campaign,
    SObject::CampaignMember,
];

impl SObject {
    /// Parses an API name, case-insensitively as SOQL does.
    pub fn parse(s: &str) -> Option<SObject> {
        OBJECTS
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(s))
    }

    /// The API name.
    pub fn name(self) -> &'static str {
        match self {
            SObject::Contact => "Contact",
            SObject::Lead => "Lead",
            SObject::Account => "Account",
            SObject::Opportunity => "Opportunity",
            SObject::Campaign => "Campaign",
            SObject::CampaignMember => "CampaignMember",
        }
    }

    /// The three-character id prefix.
    pub fn key_prefix(self) -> &'static str {
        match self {
            SObject::Contact => "003",
            SObject::Lead => "00Q",
            SObject::Account => "001",
            SObject::Opportunity => "006",
            SObject::Campaign => "701",
            SObject::CampaignMember => "00v",
        }
    }

    fn salt(self) -> u64 {
        0x5F00 + self as u64
    }
}

/// A field as `sobjects/<X>/describe` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// API name.
    pub name: &'static str,
    /// Salesforce type: id, string, email, phone, picklist, boolean, double,
    /// currency, percent, int, date, datetime, reference, textarea, url, address.
    pub kind: &'static str,
    /// Digits (numbers) or 0.
    pub precision: u32,
    /// Digits after the point (numbers) or 0.
    pub scale: u32,
    /// Whether the field may be null.
    pub nillable: bool,
    /// The compound field this one is a component of.
    pub compound: Option<&'static str>,
    /// Objects a reference points to.
    pub reference_to: Option<&'static str>,
}

const fn f(name: &'static str, kind: &'static str) -> FieldDef {
    FieldDef {
        name,
        kind,
        precision: 0,
        scale: 0,
        nillable: true,
        compound: None,
        reference_to: None,
    }
}
const fn req(name: &'static str, kind: &'static str) -> FieldDef {
    FieldDef {
        nillable: false,
        ..f(name, kind)
    }
}
const fn num(name: &'static str, kind: &'static str, precision: u32, scale: u32) -> FieldDef {
    FieldDef {
        precision,
        scale,
        ..f(name, kind)
    }
}
const fn part(name: &'static str, kind: &'static str, of: &'static str) -> FieldDef {
    FieldDef {
        compound: Some(of),
        ..f(name, kind)
    }
}
const fn geo(name: &'static str, of: &'static str) -> FieldDef {
    FieldDef {
        compound: Some(of),
        ..num(name, "double", 18, 15)
    }
}
const fn reference(name: &'static str, to: &'static str) -> FieldDef {
    FieldDef {
        reference_to: Some(to),
        ..f(name, "reference")
    }
}

const SYSTEM: [FieldDef; 4] = [
    req("CreatedDate", "datetime"),
    req("LastModifiedDate", "datetime"),
    req("SystemModstamp", "datetime"),
    req("IsDeleted", "boolean"),
];

const CONTACT: &[FieldDef] = &[
    req("Id", "id"),
    reference("AccountId", "Account"),
    f("FirstName", "string"),
    req("LastName", "string"),
    f("Salutation", "picklist"),
    req("Name", "string"),
    f("Email", "email"),
    f("Phone", "phone"),
    f("MobilePhone", "phone"),
    f("Title", "string"),
    f("LeadSource", "picklist"),
    f("Birthdate", "date"),
    req("HasOptedOutOfEmail", "boolean"),
    part("MailingStreet", "textarea", "MailingAddress"),
    part("MailingCity", "string", "MailingAddress"),
    part("MailingPostalCode", "string", "MailingAddress"),
    part("MailingCountry", "string", "MailingAddress"),
    geo("MailingLatitude", "MailingAddress"),
    geo("MailingLongitude", "MailingAddress"),
    f("MailingAddress", "address"),
    reference("OwnerId", "User"),
    SYSTEM[0],
    SYSTEM[1],
    SYSTEM[2],
    SYSTEM[3],
];

const LEAD: &[FieldDef] = &[
    req("Id", "id"),
    f("FirstName", "string"),
    req("LastName", "string"),
    req("Name", "string"),
    req("Company", "string"),
    f("Email", "email"),
    f("Phone", "phone"),
    req("Status", "picklist"),
    f("LeadSource", "picklist"),
    f("Industry", "picklist"),
    num("AnnualRevenue", "currency", 18, 0),
    FieldDef {
        precision: 0,
        ..f("NumberOfEmployees", "int")
    },
    req("IsConverted", "boolean"),
    reference("ConvertedContactId", "Contact"),
    f("ConvertedDate", "date"),
    reference("OwnerId", "User"),
    SYSTEM[0],
    SYSTEM[1],
    SYSTEM[2],
    SYSTEM[3],
];

const ACCOUNT: &[FieldDef] = &[
    req("Id", "id"),
    req("Name", "string"),
    f("Type", "picklist"),
    f("Industry", "picklist"),
    f("Phone", "phone"),
    f("Website", "url"),
    num("AnnualRevenue", "currency", 18, 0),
    f("NumberOfEmployees", "int"),
    part("BillingStreet", "textarea", "BillingAddress"),
    part("BillingCity", "string", "BillingAddress"),
    part("BillingPostalCode", "string", "BillingAddress"),
    part("BillingCountry", "string", "BillingAddress"),
    geo("BillingLatitude", "BillingAddress"),
    geo("BillingLongitude", "BillingAddress"),
    f("BillingAddress", "address"),
    reference("OwnerId", "User"),
    SYSTEM[0],
    SYSTEM[1],
    SYSTEM[2],
    SYSTEM[3],
];

const OPPORTUNITY: &[FieldDef] = &[
    req("Id", "id"),
    reference("AccountId", "Account"),
    reference("CampaignId", "Campaign"),
    req("Name", "string"),
    req("StageName", "picklist"),
    num("Amount", "currency", 18, 2),
    num("Probability", "percent", 3, 0),
    req("CloseDate", "date"),
    f("Type", "picklist"),
    f("LeadSource", "picklist"),
    req("IsClosed", "boolean"),
    req("IsWon", "boolean"),
    f("CurrencyIsoCode", "picklist"),
    reference("OwnerId", "User"),
    SYSTEM[0],
    SYSTEM[1],
    SYSTEM[2],
    SYSTEM[3],
];

const CAMPAIGN: &[FieldDef] = &[
    req("Id", "id"),
    req("Name", "string"),
    f("Type", "picklist"),
    f("Status", "picklist"),
    f("StartDate", "date"),
    f("EndDate", "date"),
    num("BudgetedCost", "currency", 18, 0),
    num("ActualCost", "currency", 18, 0),
    num("ExpectedResponse", "percent", 8, 2),
    num("NumberSent", "double", 18, 0),
    req("IsActive", "boolean"),
    reference("OwnerId", "User"),
    SYSTEM[0],
    SYSTEM[1],
    SYSTEM[2],
    SYSTEM[3],
];

const CAMPAIGN_MEMBER: &[FieldDef] = &[
    req("Id", "id"),
    FieldDef {
        nillable: false,
        ..reference("CampaignId", "Campaign")
    },
    reference("LeadId", "Lead"),
    reference("ContactId", "Contact"),
    f("Status", "picklist"),
    req("HasResponded", "boolean"),
    f("FirstRespondedDate", "date"),
    f("Email", "email"),
    f("Phone", "phone"),
    SYSTEM[0],
    SYSTEM[1],
    SYSTEM[2],
    SYSTEM[3],
];

/// What `sobjects/<X>/describe` lists (in this order).
pub fn fields(object: SObject) -> &'static [FieldDef] {
    match object {
        SObject::Contact => CONTACT,
        SObject::Lead => LEAD,
        SObject::Account => ACCOUNT,
        SObject::Opportunity => OPPORTUNITY,
        SObject::Campaign => CAMPAIGN,
        SObject::CampaignMember => CAMPAIGN_MEMBER,
    }
}

/// A field value as it goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON null.
    Null,
    /// A JSON string.
    Str(String),
    /// A JSON number, already formatted.
    Num(String),
    /// A JSON boolean.
    Bool(bool),
    /// A compound address: street, city, postal code, country, latitude, longitude.
    Address([Box<Value>; 6]),
}

/// One generated record; `values` follow [`fields`] of its object.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The 18-character id.
    pub id: String,
    /// `SystemModstamp`, epoch ms.
    pub modstamp_ms: i64,
    /// In the recycle bin.
    pub deleted: bool,
    /// Values in field order.
    pub values: Vec<Value>,
}

impl Record {
    /// The value of `field` in `object`'s record.
    pub fn get(&self, object: SObject, field: &str) -> Option<&Value> {
        let i = fields(object).iter().position(|f| f.name == field)?;
        self.values.get(i)
    }

    /// The value of a string field.
    pub fn str(&self, object: SObject, field: &str) -> Option<&str> {
        match self.get(object, field)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 18-character id of record `index`: prefix, pod, zero padding, the
/// index in base 62 (ASCII order, so ids sort with the index), and
/// Salesforce's case-checksum suffix.
pub fn record_id(object: SObject, index: u64) -> String {
    id_with_prefix(object.key_prefix(), index)
}

pub(crate) fn id_with_prefix(prefix: &str, index: u64) -> String {
    let mut id = String::with_capacity(18);
    id.push_str(prefix);
    id.push_str("5g");
    let mut digits = [b'0'; 10];
    let mut n = index;
    for d in digits.iter_mut().rev() {
        *d = B62[(n % 62) as usize];
        n /= 62;
    }
    id.push_str(std::str::from_utf8(&digits).unwrap_or("0000000000"));
    let bytes = id.as_bytes().to_vec();
    for chunk in bytes.chunks(5) {
        let mut bits = 0usize;
        for (i, c) in chunk.iter().enumerate() {
            if c.is_ascii_uppercase() {
                bits |= 1 << i;
            }
        }
        id.push(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits] as char);
    }
    id
}

/// Base `SystemModstamp` of record `index` (before any mutation).
pub fn base_modstamp_ms(index: u64) -> i64 {
    BASE_MS + (index / 3) as i64 * 1000
}

/// The first index whose base modstamp is `>= ms`.
pub fn first_index_at_or_after(ms: i64) -> u64 {
    let delta = ms - BASE_MS;
    if delta <= 0 {
        return 0;
    }
    (delta as u64).div_ceil(1000) * 3
}

/// Whether base record `index` sits in the recycle bin.
pub fn base_deleted(seed: u64, index: u64) -> bool {
    (index + seed).is_multiple_of(61)
}

/// Base-deleted records in `lo..hi`.
pub fn base_deleted_in(seed: u64, lo: u64, hi: u64) -> u64 {
    // Indexes i with (i + seed) % 61 == 0, i in [lo, hi).
    let count_below = |n: u64| (n + seed % 61).div_ceil(61) - (seed % 61).div_ceil(61);
    if hi <= lo {
        0
    } else {
        count_below(hi) - count_below(lo)
    }
}

/// Formats epoch ms as Salesforce does: `2024-01-01T00:00:00.000+0000`.
pub fn format_datetime(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

fn format_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

const FIRST: &[&str] = &[
    "James", "Mary", "John", "Patricia", "Emma", "Olivia", "Noah", "Liam", "Sophia", "Lukas",
    "Hannah", "Mia", "伟", "芳", "娜", "敏", "静", "磊",
];
const LAST: &[&str] = &[
    "Smith", "Johnson", "Brown", "Garcia", "Müller", "O'Brien", "Evans", "王", "李", "张", "刘",
    "陈",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "qq.com",
    "163.com",
    "example.org",
];
const CITIES: &[(&str, &str, &str, f64, f64)] = &[
    ("New York", "10001", "United States", 40.7128, -74.006),
    (
        "San Francisco",
        "94105",
        "United States",
        37.7749,
        -122.4194,
    ),
    ("London", "EC1A 1BB", "United Kingdom", 51.5074, -0.1278),
    ("Berlin", "10115", "Germany", 52.52, 13.405),
    ("上海", "200000", "China", 31.2304, 121.4737),
    ("深圳", "518000", "China", 22.5431, 114.0579),
];
const SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Trade Show",
    "WeChat",
];
const INDUSTRIES: &[&str] = &[
    "Retail",
    "Apparel",
    "Food & Beverage",
    "Technology",
    "Cosmetics",
];
const STAGES: &[(&str, u32, bool, bool)] = &[
    ("Prospecting", 10, false, false),
    ("Qualification", 10, false, false),
    ("Needs Analysis", 20, false, false),
    ("Proposal/Price Quote", 75, false, false),
    ("Negotiation/Review", 90, false, false),
    ("Closed Won", 100, true, true),
    ("Closed Lost", 0, true, false),
];
/// A shared store phone many records carry (identity resolution must not merge on it).
pub const SHARED_PHONE: &str = "+1 (800) 555-0100";

fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}
fn opt(v: Option<String>) -> Value {
    v.map_or(Value::Null, Value::Str)
}

fn phone(rng: &mut Rng) -> String {
    if rng.chance(0.01) {
        return SHARED_PHONE.into();
    }
    if rng.chance(0.4) {
        format!("+86 138 {:04} {:04}", rng.below(10_000), rng.below(10_000))
    } else {
        format!(
            "({}) {}-{:04}",
            200 + rng.below(800),
            200 + rng.below(800),
            rng.below(10_000)
        )
    }
}

fn cents(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

fn address(rng: &mut Rng) -> (Vec<Value>, Value) {
    let (city, zip, country, lat, lon) = *rng.pick(CITIES);
    let street = format!(
        "{} {} St.",
        1 + rng.below(999),
        rng.pick(&["Main", "Market", "Oak"])
    );
    let lat = format!("{:.6}", lat + (rng.below(1000) as f64 - 500.0) / 100_000.0);
    let lon = format!("{:.6}", lon + (rng.below(1000) as f64 - 500.0) / 100_000.0);
    let parts = vec![
        s(street),
        s(city),
        s(zip),
        s(country),
        Value::Num(lat),
        Value::Num(lon),
    ];
    let compound = Value::Address([
        Box::new(parts[0].clone()),
        Box::new(parts[1].clone()),
        Box::new(parts[2].clone()),
        Box::new(parts[3].clone()),
        Box::new(parts[4].clone()),
        Box::new(parts[5].clone()),
    ]);
    (parts, compound)
}

/// Sizes of the other objects, for references between them.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Accounts.
    pub accounts: u64,
    /// Campaigns.
    pub campaigns: u64,
    /// Contacts.
    pub contacts: u64,
    /// Leads.
    pub leads: u64,
}

/// Record `index` of `object` at mutation `version`, modified at `modstamp_ms`.
pub fn record_at(
    object: SObject,
    seed: u64,
    index: u64,
    version: u32,
    modstamp_ms: i64,
    deleted: bool,
    sizes: Sizes,
) -> Record {
    let mut rng = Rng::new(seed, object.salt(), index);
    let created = base_modstamp_ms(index) - rng.below(200 * 86_400) as i64 * 1000;
    let owner = s(id_with_prefix("005", rng.below(12)));
    let acct = |rng: &mut Rng| {
        s(record_id(
            SObject::Account,
            rng.below(sizes.accounts.max(1)),
        ))
    };
    let mut values: Vec<Value> = match object {
        SObject::Contact | SObject::Lead => {
            let first = *rng.pick(FIRST);
            let last = *rng.pick(LAST);
            let email = rng.chance(0.95).then(|| {
                let e = format!(
                    "{}.{}{}@{}",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    rng.below(100),
                    rng.pick(DOMAINS)
                );
                if rng.chance(0.1) {
                    e.to_uppercase()
                } else {
                    e
                }
            });
            let phone_v = rng.chance(0.85).then(|| phone(&mut rng));
            let source = s(*rng.pick(SOURCES));
            if object == SObject::Contact {
                let (parts, compound) = address(&mut rng);
                let mut v = vec![
                    s(record_id(object, index)),
                    acct(&mut rng),
                    s(first),
                    s(last),
                    opt(rng
                        .chance(0.5)
                        .then(|| rng.pick(&["Mr.", "Ms.", "Dr."]).to_string())),
                    s(format!("{first} {last}")),
                    opt(email),
                    opt(phone_v),
                    opt(rng.chance(0.4).then(|| phone(&mut rng))),
                    opt(rng
                        .chance(0.6)
                        .then(|| rng.pick(&["Buyer", "Store Manager", "CMO"]).to_string())),
                    source,
                    opt(rng.chance(0.4).then(|| {
                        format_date(BASE_MS - (18 * 365 + rng.below(50 * 365) as i64) * 86_400_000)
                    })),
                    Value::Bool(rng.chance(0.1) != (version % 2 == 1)),
                ];
                v.extend(parts);
                v.push(compound);
                v.push(owner);
                v
            } else {
                let converted = rng.chance(0.2);
                vec![
                    s(record_id(object, index)),
                    s(first),
                    s(last),
                    s(format!("{first} {last}")),
                    s(format!(
                        "{} {}",
                        rng.pick(&["Blue", "Golden", "North"]),
                        rng.pick(&["Foods", "Labs", "Retail"])
                    )),
                    opt(email),
                    opt(phone_v),
                    s(*rng.pick(
                        &[
                            "Open - Not Contacted",
                            "Working - Contacted",
                            "Closed - Converted",
                        ][(version as usize % 3)..],
                    )),
                    source,
                    s(*rng.pick(INDUSTRIES)),
                    opt(rng
                        .chance(0.7)
                        .then(|| (rng.below(5_000) * 10_000).to_string()))
                    .num(),
                    Value::Num((1 + rng.below(5000)).to_string()),
                    Value::Bool(converted),
                    opt(converted
                        .then(|| record_id(SObject::Contact, rng.below(sizes.contacts.max(1))))),
                    opt(converted.then(|| format_date(created + 86_400_000))),
                    owner,
                ]
            }
        }
        SObject::Account => {
            let name = format!(
                "{} {} {}",
                rng.pick(&["Blue", "Golden", "Red", "Silver", "North", "上海"]),
                rng.pick(&["Harbor", "Peak", "Lotus", "Dragon"]),
                rng.pick(&["Trading", "Foods", "Apparel", "Coffee"])
            );
            let web = format!("https://www.{}.com", name.to_lowercase().replace(' ', ""));
            let (parts, compound) = address(&mut rng);
            let mut v = vec![
                s(record_id(object, index)),
                s(name),
                s(*rng.pick(&[
                    "Customer - Direct",
                    "Customer - Channel",
                    "Prospect",
                    "Partner",
                ])),
                s(*rng.pick(INDUSTRIES)),
                s(phone(&mut rng)),
                s(web),
                opt(rng
                    .chance(0.8)
                    .then(|| (rng.below(50_000) * 1000).to_string()))
                .num(),
                Value::Num((5 + rng.below(5000) + version as u64).to_string()),
            ];
            v.extend(parts);
            v.push(compound);
            v.push(owner);
            v
        }
        SObject::Opportunity => {
            let (stage, prob, closed, won) =
                STAGES[(rng.below(STAGES.len() as u64) as usize + version as usize) % STAGES.len()];
            let amount = 1_000 + rng.below(5_000_000) + version as u64 * 100;
            vec![
                s(record_id(object, index)),
                acct(&mut rng),
                opt(rng
                    .chance(0.5)
                    .then(|| record_id(SObject::Campaign, rng.below(sizes.campaigns.max(1))))),
                s(format!(
                    "{} - {}",
                    rng.pick(&["Renewal", "New business", "Upsell"]),
                    index + 1
                )),
                s(stage),
                opt(rng.chance(0.95).then(|| cents(amount))).num(),
                Value::Num(prob.to_string()),
                s(format_date(created + rng.below(90) as i64 * 86_400_000)),
                s(*rng.pick(&["New Customer", "Existing Customer - Upgrade"])),
                s(*rng.pick(SOURCES)),
                Value::Bool(closed),
                Value::Bool(won),
                s(*rng.pick(&["USD", "USD", "CNY", "EUR"])),
                owner,
            ]
        }
        SObject::Campaign => {
            let start = BASE_MS - rng.below(365) as i64 * 86_400_000;
            vec![
                s(record_id(object, index)),
                s(format!(
                    "{} {}",
                    rng.pick(&["Spring Sale", "Singles Day", "Black Friday", "Newsletter"]),
                    2023 + index % 3
                )),
                s(*rng.pick(&["Email", "Webinar", "Advertisement", "Social Media"])),
                s(*rng.pick(&["Planned", "In Progress", "Completed"])),
                s(format_date(start)),
                s(format_date(start + 30 * 86_400_000)),
                Value::Num((rng.below(100) * 1000).to_string()),
                Value::Num((rng.below(100) * 1000 + version as u64).to_string()),
                Value::Num(format!("{}.{:02}", rng.below(30), rng.below(100))),
                Value::Num((rng.below(100_000)).to_string()),
                Value::Bool(rng.chance(0.6)),
                owner,
            ]
        }
        SObject::CampaignMember => {
            let lead = rng.chance(0.5);
            let (email, phone_v) = (
                rng.chance(0.9)
                    .then(|| format!("member{}@{}", rng.below(100_000), rng.pick(DOMAINS))),
                rng.chance(0.7).then(|| phone(&mut rng)),
            );
            let responded = rng.chance(0.3) || version > 0;
            vec![
                s(record_id(object, index)),
                s(record_id(
                    SObject::Campaign,
                    rng.below(sizes.campaigns.max(1)),
                )),
                opt(lead.then(|| record_id(SObject::Lead, rng.below(sizes.leads.max(1))))),
                opt((!lead).then(|| record_id(SObject::Contact, rng.below(sizes.contacts.max(1))))),
                s(if responded { "Responded" } else { "Sent" }),
                Value::Bool(responded),
                opt(responded.then(|| format_date(created + 86_400_000))),
                opt(email),
                opt(phone_v),
            ]
        }
    };
    values.push(s(format_datetime(created)));
    values.push(s(format_datetime(modstamp_ms)));
    values.push(s(format_datetime(modstamp_ms)));
    values.push(Value::Bool(deleted));
    Record {
        id: record_id(object, index),
        modstamp_ms,
        deleted,
        values,
    }
}

trait AsNum {
    fn num(self) -> Value;
}
impl AsNum for Value {
    /// A generated string that is a number on the wire.
    fn num(self) -> Value {
        match self {
            Value::Str(s) => Value::Num(s),
            other => other,
        }
    }
}

/// Record `index` as first generated.
pub fn record(object: SObject, seed: u64, index: u64, sizes: Sizes) -> Record {
    record_at(
        object,
        seed,
        index,
        0,
        base_modstamp_ms(index),
        base_deleted(seed, index),
        sizes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: Sizes = Sizes {
        accounts: 10,
        campaigns: 5,
        contacts: 100,
        leads: 50,
    };

    #[test]
    fn every_value_matches_its_field() {
        for o in OBJECTS {
            let r = record(o, 42, 7, SIZES);
            assert_eq!(r.values.len(), fields(o).len(), "{o:?}");
            for (v, def) in r.values.iter().zip(fields(o)) {
                match (def.kind, v) {
                    (_, Value::Null) => assert!(def.nillable, "{o:?}.{}", def.name),
                    ("boolean", Value::Bool(_)) => {}
                    ("double" | "currency" | "percent" | "int", Value::Num(n)) => {
                        assert!(n.parse::<f64>().is_ok())
                    }
                    ("address", Value::Address(_)) => {}
                    ("datetime" | "date", Value::Str(_)) => {}
                    (k, Value::Str(_))
                        if !matches!(
                            k,
                            "boolean" | "double" | "currency" | "percent" | "int" | "address"
                        ) => {}
                    (k, v) => panic!("{o:?}.{}: {k} = {v:?}", def.name),
                }
            }
        }
    }

    #[test]
    fn ids_sort_with_the_index_and_carry_the_checksum() {
        let a = record_id(SObject::Contact, 61);
        let b = record_id(SObject::Contact, 62);
        assert_eq!(a.len(), 18);
        assert!(a < b, "{a} < {b}");
        assert!(a.starts_with("0035g"));
        assert_eq!(
            record(SObject::Contact, 42, 3, SIZES).id,
            record_id(SObject::Contact, 3)
        );
    }

    #[test]
    fn modstamps_tie_in_threes_and_deletions_count() {
        assert_eq!(base_modstamp_ms(0), base_modstamp_ms(2));
        for i in [0u64, 1, 3, 299, 300] {
            let first = first_index_at_or_after(base_modstamp_ms(i));
            assert!(first <= i && base_modstamp_ms(first) == base_modstamp_ms(i));
        }
        for seed in [0u64, 42, 60, 61, 100] {
            for (lo, hi) in [(0u64, 0u64), (0, 200), (5, 130), (61, 62), (60, 61)] {
                let want = (lo..hi).filter(|i| base_deleted(seed, *i)).count() as u64;
                assert_eq!(
                    base_deleted_in(seed, lo, hi),
                    want,
                    "seed {seed} {lo}..{hi}"
                );
            }
        }
        assert_eq!(
            format_datetime(BASE_MS + 1500),
            "2024-01-01T00:00:01.500+0000"
        );
    }
}

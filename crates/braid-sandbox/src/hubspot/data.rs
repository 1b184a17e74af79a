//! Deterministic HubSpot records: contacts, companies and deals.
//!
//! Record `index` (0-based) has id `index + 1`. Its modified time is
//! `2024-01-01T00:00:00Z + (index / 3) s + 250 ms`, so groups of three share a
//! timestamp (cursor ties are the norm in real CRMs after bulk imports).

use crate::rng::Rng;

/// 2024-01-01T00:00:00Z in epoch milliseconds.
pub const BASE_MS: i64 = 1_704_067_200_000;

/// The CRM objects the sandbox serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Object {
    /// `/crm/v3/objects/contacts`
    Contacts,
    /// `/crm/v3/objects/companies`
    Companies,
    /// `/crm/v3/objects/deals`
    Deals,
}

impl Object {
    /// Parses the path segment.
    pub fn parse(s: &str) -> Option<Object> {
        match s {
            "contacts" | "contact" | "0-1" => Some(Object::Contacts),
            "companies" | "company" | "0-2" => Some(Object::Companies),
            "deals" | "deal" | "0-3" => Some(Object::Deals),
            _ => None,
        }
    }

    /// The path segment.
    pub fn name(self) -> &'static str {
        match self {
            Object::Contacts => "contacts",
            Object::Companies => "companies",
            Object::Deals => "deals",
        }
    }

    /// The property holding the last-modified time (what incremental searches filter on).
    pub fn modified_property(self) -> &'static str {
        match self {
            Object::Contacts => "lastmodifieddate",
            _ => "hs_lastmodifieddate",
        }
    }

    /// Properties returned when a request names none (HubSpot's defaults).
    pub fn default_properties(self) -> &'static [&'static str] {
        match self {
            Object::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ],
            Object::Companies => &[
                "createdate",
                "domain",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
            ],
            Object::Deals => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
        }
    }

    fn salt(self) -> u64 {
        match self {
            Object::Contacts => 0xC0,
            Object::Companies => 0xC1,
            Object::Deals => 0xD1,
        }
    }
}

/// A HubSpot property definition, as `/crm/v3/properties/{object}` serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyDef {
    /// Internal name.
    pub name: &'static str,
    /// Label shown in HubSpot.
    pub label: &'static str,
    /// HubSpot type: string, number, datetime, date, enumeration, bool, phone_number.
    pub kind: &'static str,
    /// HubSpot field type (text, number, date, select, booleancheckbox, phonenumber, calculation_read_time).
    pub field_type: &'static str,
    /// Property group.
    pub group: &'static str,
}

const fn p(
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    field_type: &'static str,
    group: &'static str,
) -> PropertyDef {
    PropertyDef {
        name,
        label,
        kind,
        field_type,
        group,
    }
}

const CONTACT_PROPS: &[PropertyDef] = &[
    p("email", "Email", "string", "text", "contactinformation"),
    p(
        "firstname",
        "First Name",
        "string",
        "text",
        "contactinformation",
    ),
    p(
        "lastname",
        "Last Name",
        "string",
        "text",
        "contactinformation",
    ),
    p(
        "phone",
        "Phone Number",
        "phone_number",
        "phonenumber",
        "contactinformation",
    ),
    p(
        "mobilephone",
        "Mobile Phone Number",
        "phone_number",
        "phonenumber",
        "contactinformation",
    ),
    p(
        "company",
        "Company Name",
        "string",
        "text",
        "contactinformation",
    ),
    p("city", "City", "string", "text", "contactinformation"),
    p(
        "country",
        "Country/Region",
        "string",
        "text",
        "contactinformation",
    ),
    p(
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "contactinformation",
    ),
    p(
        "hs_wechat_unionid",
        "WeChat UnionID",
        "string",
        "text",
        "contactinformation",
    ),
    p(
        "hs_email_optout",
        "Unsubscribed from all email",
        "bool",
        "booleancheckbox",
        "contactinformation",
    ),
    p(
        "date_of_birth",
        "Date of birth",
        "date",
        "date",
        "contactinformation",
    ),
    p(
        "createdate",
        "Create Date",
        "datetime",
        "date",
        "contactinformation",
    ),
    p(
        "lastmodifieddate",
        "Last Modified Date",
        "datetime",
        "date",
        "contactinformation",
    ),
    p(
        "hs_object_id",
        "Record ID",
        "number",
        "number",
        "contactinformation",
    ),
];

const COMPANY_PROPS: &[PropertyDef] = &[
    p(
        "name",
        "Company name",
        "string",
        "text",
        "companyinformation",
    ),
    p(
        "domain",
        "Company Domain Name",
        "string",
        "text",
        "companyinformation",
    ),
    p(
        "phone",
        "Phone Number",
        "phone_number",
        "phonenumber",
        "companyinformation",
    ),
    p("city", "City", "string", "text", "companyinformation"),
    p(
        "country",
        "Country/Region",
        "string",
        "text",
        "companyinformation",
    ),
    p(
        "industry",
        "Industry",
        "enumeration",
        "select",
        "companyinformation",
    ),
    p(
        "numberofemployees",
        "Number of Employees",
        "number",
        "number",
        "companyinformation",
    ),
    p(
        "annualrevenue",
        "Annual Revenue",
        "number",
        "number",
        "companyinformation",
    ),
    p(
        "createdate",
        "Create Date",
        "datetime",
        "date",
        "companyinformation",
    ),
    p(
        "hs_lastmodifieddate",
        "Last Modified Date",
        "datetime",
        "date",
        "companyinformation",
    ),
    p(
        "hs_object_id",
        "Record ID",
        "number",
        "number",
        "companyinformation",
    ),
];

const DEAL_PROPS: &[PropertyDef] = &[
    p("dealname", "Deal Name", "string", "text", "dealinformation"),
    p("amount", "Amount", "number", "number", "dealinformation"),
    p(
        "deal_currency_code",
        "Currency",
        "enumeration",
        "select",
        "dealinformation",
    ),
    p(
        "dealstage",
        "Deal Stage",
        "enumeration",
        "radio",
        "dealinformation",
    ),
    p(
        "pipeline",
        "Pipeline",
        "enumeration",
        "select",
        "dealinformation",
    ),
    p(
        "closedate",
        "Close Date",
        "datetime",
        "date",
        "dealinformation",
    ),
    p(
        "createdate",
        "Create Date",
        "datetime",
        "date",
        "dealinformation",
    ),
    p(
        "hs_lastmodifieddate",
        "Last Modified Date",
        "datetime",
        "date",
        "dealinformation",
    ),
    p(
        "hs_object_id",
        "Record ID",
        "number",
        "number",
        "dealinformation",
    ),
];

/// What `/crm/v3/properties/{object}` serves.
pub fn property_definitions(object: Object) -> &'static [PropertyDef] {
    match object {
        Object::Contacts => CONTACT_PROPS,
        Object::Companies => COMPANY_PROPS,
        Object::Deals => DEAL_PROPS,
    }
}

/// One generated record. Property values are HubSpot's wire strings.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `hs_object_id` as a string (`index + 1`).
    pub id: String,
    /// Created time, epoch ms.
    pub created_ms: i64,
    /// Last modified time, epoch ms.
    pub modified_ms: i64,
    /// Every property in definition order; `None` is JSON null.
    pub properties: Vec<(&'static str, Option<String>)>,
}

impl Record {
    /// The value of property `name`, if set.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Base modified time of record `index`, before any mutation.
pub fn base_modified_ms(index: u64) -> i64 {
    BASE_MS + (index / 3) as i64 * 1000 + 250
}

/// The first index whose base modified time is `>= ms`.
pub fn first_index_modified_at_or_after(ms: i64) -> u64 {
    let delta = ms - BASE_MS - 250;
    if delta <= 0 {
        return 0;
    }
    (delta as u64).div_ceil(1000) * 3
}

/// Formats epoch ms as HubSpot does: `2024-01-01T00:00:00.250Z`.
pub fn format_datetime(ms: i64) -> String {
    let mut buf = [0u8; 24];
    write_datetime(&mut buf, ms);
    // Only ASCII digits and separators are written.
    String::from_utf8(buf.to_vec()).unwrap_or_default()
}

/// Appends `format_datetime(ms)` to `out` without allocating.
pub(crate) fn push_datetime(out: &mut Vec<u8>, ms: i64) {
    let mut buf = [0u8; 24];
    write_datetime(&mut buf, ms);
    out.extend_from_slice(&buf);
}

/// Civil date (year, month, day) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn put(buf: &mut [u8], value: u64, width: usize) {
    let mut v = value;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Writes `YYYY-MM-DDTHH:MM:SS.mmmZ` (years outside 0..=9999 wrap; the sandbox never makes them).
fn write_datetime(buf: &mut [u8; 24], ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000) as u64;
    let (year, month, day) = civil_from_days(days);
    put(&mut buf[0..], year.rem_euclid(10_000) as u64, 4);
    buf[4] = b'-';
    put(&mut buf[5..], u64::from(month), 2);
    buf[7] = b'-';
    put(&mut buf[8..], u64::from(day), 2);
    buf[10] = b'T';
    put(&mut buf[11..], in_day / 3_600_000, 2);
    buf[13] = b':';
    put(&mut buf[14..], in_day / 60_000 % 60, 2);
    buf[16] = b':';
    put(&mut buf[17..], in_day / 1000 % 60, 2);
    buf[19] = b'.';
    put(&mut buf[20..], in_day % 1000, 3);
    buf[23] = b'Z';
}

fn format_date(ms: i64) -> String {
    let mut s = format_datetime(ms);
    s.truncate(10);
    s
}

const EN_FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Emma",
    "Olivia",
    "Noah",
    "Liam",
    "Sophia",
    "Lukas",
    "Hannah",
    "Mia",
    "Oliver",
    "Amelia",
    "Jack",
    "Isla",
];
const EN_LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson",
    "Taylor", "Müller", "Schmidt", "O'Brien", "Evans", "Walker", "Wright", "Thompson", "White",
    "Harris", "Clarke",
];
/// Chinese given names with their pinyin.
const CN_FIRST: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("磊", "lei"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀英", "xiuying"),
    ("建华", "jianhua"),
];
/// Chinese family names with their pinyin.
const CN_LAST: &[(&str, &str)] = &[
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("欧阳", "ouyang"),
];
const EN_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "example.org",
    "acme-corp.com",
];
const CN_DOMAINS: &[&str] = &["qq.com", "163.com", "126.com", "sina.com", "foxmail.com"];
const EN_CITIES: &[(&str, &str)] = &[
    ("New York", "US"),
    ("San Francisco", "US"),
    ("Austin", "US"),
    ("London", "GB"),
    ("Manchester", "GB"),
    ("Berlin", "DE"),
    ("Munich", "DE"),
    ("Toronto", "CA"),
];
const CN_CITIES: &[(&str, &str)] = &[
    ("上海", "CN"),
    ("北京", "CN"),
    ("深圳", "CN"),
    ("广州", "CN"),
    ("杭州", "CN"),
    ("成都", "CN"),
];
const STAGES: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
];
const INDUSTRIES: &[&str] = &[
    "COMPUTER_SOFTWARE",
    "RETAIL",
    "APPAREL_FASHION",
    "FOOD_BEVERAGES",
    "MARKETING_AND_ADVERTISING",
    "COSMETICS",
];
const DEAL_STAGES: &[&str] = &[
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];
/// A store's default phone that many contacts carry (identity resolution must not merge on it).
pub const SHARED_PHONE: &str = "+1 (800) 555-0100";
/// A test address typed into many forms.
pub const SHARED_EMAIL: &str = "test@example.com";

fn mixed_case(rng: &mut Rng, s: &str) -> String {
    match rng.below(10) {
        0 => s.to_uppercase(),
        1 | 2 => {
            // Capitalise each dot-separated word of the local part.
            let mut out = String::with_capacity(s.len());
            let mut up = true;
            for c in s.chars() {
                if up {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                up = c == '.' || c == '@';
            }
            out
        }
        _ => s.to_owned(),
    }
}

fn us_phone(rng: &mut Rng) -> String {
    let (a, b, c) = (
        200 + rng.below(800),
        200 + rng.below(800),
        rng.below(10_000),
    );
    match rng.below(4) {
        0 => format!("+1 ({a}) {b}-{c:04}"),
        1 => format!("{a}.{b}.{c:04}"),
        2 => format!("({a}) {b}-{c:04}"),
        _ => format!("+1{a}{b}{c:04}"),
    }
}

fn cn_mobile(rng: &mut Rng) -> String {
    let prefix = *rng.pick(&[130u64, 133, 135, 136, 138, 139, 150, 158, 186, 188]);
    let rest = rng.below(100_000_000);
    match rng.below(3) {
        0 => format!("+86 {prefix} {:04} {:04}", rest / 10_000, rest % 10_000),
        1 => format!("{prefix}{rest:08}"),
        _ => format!("+86-{prefix}-{:04}-{:04}", rest / 10_000, rest % 10_000),
    }
}

fn other_phone(rng: &mut Rng, country: &str) -> String {
    match country {
        "GB" => format!("020 7946 {:04}", rng.below(10_000)),
        "DE" => format!("+49 30 {:07}", rng.below(10_000_000)),
        _ => us_phone(rng),
    }
}

/// The person behind contact `index` (duplicates share one).
struct Person {
    first: String,
    last: String,
    email_local: String,
    chinese: bool,
    city: &'static str,
    country: &'static str,
    domain: &'static str,
}

fn person(seed: u64, index: u64) -> Person {
    let mut rng = Rng::new(seed, 0xFE, index);
    let chinese = rng.chance(0.4);
    if chinese {
        let (first, fp) = *rng.pick(CN_FIRST);
        let (last, lp) = *rng.pick(CN_LAST);
        let (city, country) = *rng.pick(CN_CITIES);
        Person {
            first: first.into(),
            last: last.into(),
            email_local: format!("{fp}.{lp}{}", rng.below(1000)),
            chinese,
            city,
            country,
            domain: CN_DOMAINS[rng.below(CN_DOMAINS.len() as u64) as usize],
        }
    } else {
        let first = *rng.pick(EN_FIRST);
        let last = *rng.pick(EN_LAST);
        let (city, country) = *rng.pick(EN_CITIES);
        let clean: String = last.chars().filter(|c| c.is_ascii_alphabetic()).collect();
        Person {
            first: first.into(),
            last: last.into(),
            email_local: format!(
                "{}.{}{}",
                first.to_lowercase(),
                clean.to_lowercase(),
                rng.below(100)
            ),
            chinese,
            city,
            country,
            domain: EN_DOMAINS[rng.below(EN_DOMAINS.len() as u64) as usize],
        }
    }
}

/// Contact `index`, at mutation `version` (0 = as generated).
pub fn contact_at(seed: u64, index: u64, version: u32, modified_ms: i64) -> Record {
    let mut rng = Rng::new(seed, Object::Contacts.salt(), index);
    // ~3% are a second record of an earlier person, written differently.
    let duplicate_of = (index >= 1000 && rng.chance(0.03)).then(|| index - 1 - rng.below(999));
    let who = person(seed, duplicate_of.unwrap_or(index));
    let mut email = format!("{}@{}", who.email_local, who.domain);
    email = mixed_case(&mut rng, &email);
    if duplicate_of.is_some() && email == format!("{}@{}", who.email_local, who.domain) {
        email = email.to_uppercase();
    }
    if rng.chance(0.05) {
        email = format!(" {email} ");
    }
    if rng.chance(0.005) {
        email = SHARED_EMAIL.into();
    }
    let email = (!rng.chance(0.04)).then_some(email);
    let phone = if rng.chance(0.005) {
        Some(SHARED_PHONE.to_owned())
    } else if rng.chance(0.15) {
        None
    } else if who.chinese {
        Some(cn_mobile(&mut rng))
    } else {
        Some(other_phone(&mut rng, who.country))
    };
    let mobile = rng.chance(0.3).then(|| {
        if who.chinese {
            cn_mobile(&mut rng)
        } else {
            us_phone(&mut rng)
        }
    });
    let unionid = (who.chinese && rng.chance(0.5)).then(|| {
        let mut rng = Rng::new(seed, 0x0B, duplicate_of.unwrap_or(index));
        format!("o6_bm{:016x}{:07x}", rng.next(), rng.below(1 << 28))
    });
    let stage =
        STAGES[((rng.below(STAGES.len() as u64)) as usize + version as usize) % STAGES.len()];
    let created_ms = base_modified_ms(index) - 250 - rng.below(90 * 86_400) as i64 * 1000;
    let dob = rng
        .chance(0.4)
        .then(|| format_date(BASE_MS - (18 * 365 + rng.below(50 * 365) as i64) * 86_400_000));
    let company = rng.chance(0.6).then(|| company_name(seed, rng.below(500)));
    Record {
        id: (index + 1).to_string(),
        created_ms,
        modified_ms,
        properties: vec![
            ("email", email),
            ("firstname", Some(who.first)),
            ("lastname", Some(who.last)),
            ("phone", phone),
            ("mobilephone", mobile),
            ("company", company),
            ("city", Some(who.city.into())),
            ("country", Some(who.country.into())),
            ("lifecyclestage", Some(stage.into())),
            ("hs_wechat_unionid", unionid),
            (
                "hs_email_optout",
                Some(if rng.chance(0.1) { "true" } else { "false" }.into()),
            ),
            ("date_of_birth", dob),
            ("createdate", Some(format_datetime(created_ms))),
            ("lastmodifieddate", Some(format_datetime(modified_ms))),
            ("hs_object_id", Some((index + 1).to_string())),
        ],
    }
}

fn company_name(seed: u64, index: u64) -> String {
    let mut rng = Rng::new(seed, 0xC2, index);
    const A: &[&str] = &[
        "Blue", "Golden", "Red", "Silver", "Green", "North", "Bright", "Swift",
    ];
    const B: &[&str] = &[
        "Harbor", "Peak", "Lotus", "River", "Maple", "Dragon", "Cedar", "Falcon",
    ];
    const C: &[&str] = &[
        "Trading",
        "Foods",
        "Apparel",
        "Labs",
        "Retail",
        "Cosmetics",
        "Coffee",
    ];
    const CN: &[&str] = &["上海", "北京", "深圳", "杭州"];
    const CN2: &[&str] = &["星辰", "云海", "金鼎", "华美", "锦绣"];
    if rng.chance(0.35) {
        format!("{}{}贸易有限公司", rng.pick(CN), rng.pick(CN2))
    } else {
        format!("{} {} {}", rng.pick(A), rng.pick(B), rng.pick(C))
    }
}

/// Company `index` at mutation `version`.
pub fn company_at(seed: u64, index: u64, version: u32, modified_ms: i64) -> Record {
    let mut rng = Rng::new(seed, Object::Companies.salt(), index);
    let name = company_name(seed, index);
    let chinese = !name.is_ascii();
    let (city, country) = if chinese {
        *rng.pick(CN_CITIES)
    } else {
        *rng.pick(EN_CITIES)
    };
    let domain = if chinese {
        format!("{}{}.cn", rng.pick(&["xc", "yh", "jd", "hm"]), index + 1)
    } else {
        format!("{}.com", name.to_lowercase().replace(' ', ""))
    };
    let employees = 5 + rng.below(5000) + version as u64;
    let revenue = (rng.below(50_000_000) + 100_000) as f64;
    let created_ms = base_modified_ms(index) - 250 - rng.below(365 * 86_400) as i64 * 1000;
    Record {
        id: (index + 1).to_string(),
        created_ms,
        modified_ms,
        properties: vec![
            ("name", Some(name)),
            ("domain", Some(domain)),
            (
                "phone",
                Some(if chinese {
                    cn_mobile(&mut rng)
                } else {
                    other_phone(&mut rng, country)
                }),
            ),
            ("city", Some(city.into())),
            ("country", Some(country.into())),
            ("industry", Some(rng.pick(INDUSTRIES).to_string())),
            ("numberofemployees", Some(employees.to_string())),
            (
                "annualrevenue",
                rng.chance(0.8).then(|| format!("{revenue}")),
            ),
            ("createdate", Some(format_datetime(created_ms))),
            ("hs_lastmodifieddate", Some(format_datetime(modified_ms))),
            ("hs_object_id", Some((index + 1).to_string())),
        ],
    }
}

/// Deal `index` at mutation `version`.
pub fn deal_at(seed: u64, index: u64, version: u32, modified_ms: i64) -> Record {
    let mut rng = Rng::new(seed, Object::Deals.salt(), index);
    let currency = *rng.pick(&["USD", "USD", "CNY", "CNY", "EUR"]);
    let cents = 1_000 + rng.below(5_000_000) + version as u64 * 1_000;
    let amount = if cents.is_multiple_of(100) {
        format!("{}", cents / 100)
    } else if cents.is_multiple_of(10) {
        format!("{}.{}", cents / 100, (cents % 100) / 10)
    } else {
        format!("{}.{:02}", cents / 100, cents % 100)
    };
    let created_ms = base_modified_ms(index) - 250 - rng.below(120 * 86_400) as i64 * 1000;
    let stage = DEAL_STAGES
        [(rng.below(DEAL_STAGES.len() as u64) as usize + version as usize) % DEAL_STAGES.len()];
    let close = rng
        .chance(0.7)
        .then(|| format_datetime(created_ms + rng.below(60 * 86_400) as i64 * 1000));
    Record {
        id: (index + 1).to_string(),
        created_ms,
        modified_ms,
        properties: vec![
            (
                "dealname",
                Some(format!(
                    "{} - {}",
                    company_name(seed, rng.below(500)),
                    rng.pick(&["Renewal", "New business", "Upsell", "Pilot"])
                )),
            ),
            ("amount", rng.chance(0.95).then_some(amount)),
            ("deal_currency_code", Some(currency.into())),
            ("dealstage", Some(stage.into())),
            ("pipeline", Some("default".into())),
            ("closedate", close),
            ("createdate", Some(format_datetime(created_ms))),
            ("hs_lastmodifieddate", Some(format_datetime(modified_ms))),
            ("hs_object_id", Some((index + 1).to_string())),
        ],
    }
}

/// Record `index` of `object` at `version`, modified at `modified_ms`.
pub fn record_at(object: Object, seed: u64, index: u64, version: u32, modified_ms: i64) -> Record {
    match object {
        Object::Contacts => contact_at(seed, index, version, modified_ms),
        Object::Companies => company_at(seed, index, version, modified_ms),
        Object::Deals => deal_at(seed, index, version, modified_ms),
    }
}

/// Contact `index` as first generated (before any mutation).
pub fn contact(seed: u64, index: u64) -> Record {
    contact_at(seed, index, 0, base_modified_ms(index))
}

/// Company `index` as first generated.
pub fn company(seed: u64, index: u64) -> Record {
    company_at(seed, index, 0, base_modified_ms(index))
}

/// Deal `index` as first generated.
pub fn deal(seed: u64, index: u64) -> Record {
    deal_at(seed, index, 0, base_modified_ms(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_deterministic_and_ids_follow_indexes() {
        assert_eq!(contact(42, 7), contact(42, 7));
        assert_ne!(contact(42, 7), contact(43, 7));
        assert_eq!(contact(42, 7).id, "8");
        assert_eq!(deal(1, 0).property("hs_object_id"), Some("1"));
    }

    #[test]
    fn modified_times_tie_in_threes_and_the_index_search_agrees() {
        assert_eq!(base_modified_ms(0), base_modified_ms(2));
        assert_ne!(base_modified_ms(2), base_modified_ms(3));
        for i in [0u64, 1, 2, 3, 4, 299, 300, 1_000_001] {
            let ms = base_modified_ms(i);
            let first = first_index_modified_at_or_after(ms);
            assert!(first <= i && base_modified_ms(first) == ms, "index {i}");
            assert!(first == 0 || base_modified_ms(first - 1) < ms);
        }
        assert_eq!(first_index_modified_at_or_after(0), 0);
    }

    #[test]
    fn datetimes_match_chrono() {
        for ms in [
            0i64,
            BASE_MS,
            BASE_MS + 250,
            1_709_633_472_345, // 2024-03-05T10:11:12.345Z
            951_782_400_000,   // 2000-02-29
            4_102_444_799_999, // 2099-12-31T23:59:59.999Z
            -1,
        ] {
            let want = chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(format_datetime(ms), want);
        }
        assert_eq!(
            format_datetime(1_709_633_472_345),
            "2024-03-05T10:11:12.345Z"
        );
        assert_eq!(format_date(1_709_633_472_345), "2024-03-05");
    }

    #[test]
    fn data_has_the_mess_identity_resolution_needs() {
        let contacts: Vec<Record> = (0..20_000).map(|i| contact(42, i)).collect();
        let emails: Vec<&str> = contacts
            .iter()
            .filter_map(|c| c.property("email"))
            .collect();
        assert!(emails.iter().any(|e| e.starts_with(' ')), "stray spaces");
        assert!(
            emails
                .iter()
                .any(|e| e.chars().any(|c| c.is_ascii_uppercase())),
            "mixed case"
        );
        assert!(
            emails.iter().filter(|e| **e == SHARED_EMAIL).count() > 20,
            "shared test address"
        );
        let chinese = contacts
            .iter()
            .filter(|c| c.property("firstname").is_some_and(|n| !n.is_ascii()))
            .count();
        assert!(
            chinese > 6_000 && chinese < 10_000,
            "{chinese} Chinese names"
        );
        let normalized: std::collections::HashSet<String> =
            emails.iter().map(|e| e.trim().to_lowercase()).collect();
        assert!(
            normalized.len() < emails.len() - 300,
            "duplicate people across records"
        );
        assert!(contacts
            .iter()
            .any(|c| c.property("phone").is_some_and(|p| p.starts_with("+86"))));
        assert!(contacts
            .iter()
            .any(|c| c.property("hs_wechat_unionid").is_some()));
    }

    #[test]
    fn every_property_is_defined_and_typed_values_parse() {
        for (object, rec) in [
            (Object::Contacts, contact(42, 5)),
            (Object::Companies, company(42, 5)),
            (Object::Deals, deal(42, 5)),
        ] {
            let defs = property_definitions(object);
            assert_eq!(defs.len(), rec.properties.len());
            for ((name, value), def) in rec.properties.iter().zip(defs) {
                assert_eq!(*name, def.name);
                if let Some(v) = value {
                    match def.kind {
                        "number" => assert!(v.parse::<f64>().is_ok(), "{name}={v}"),
                        "datetime" => assert!(
                            chrono::DateTime::parse_from_rfc3339(v).is_ok(),
                            "{name}={v}"
                        ),
                        "bool" => assert!(v == "true" || v == "false"),
                        _ => {}
                    }
                }
            }
        }
    }
}

//! A generator of the same people spread over several silos — CRM, online
//! shop, POS, WeChat, ads — with overlapping, messy identifiers and the
//! ground truth, and the pairwise metrics of a clustering against it.
//!
//! The mess, at the default noise (`noise = 1.0`; the noise rates below
//! scale with it, which identifiers each silo records does not):
//! * people with a second email (10 %) or phone (10 %), each record showing one;
//! * typos in emails (3 % of shown emails), so the record shares nothing;
//! * identifiers missing per silo (a POS sale without phone or loyalty card,
//!   an ad click without device), records with no identifier at all;
//! * placeholder values shared by many records: `test@example.com` in the
//!   shop, a store's own phone keyed in at the POS, `13800000000` — each
//!   used by at least 60 records, so over the default limit of 50;
//! * households sharing one phone (0.05 % of people), a true ambiguity the
//!   deterministic stitcher gets wrong unless a per-person limit refuses it;
//! * names with typos, swapped order, pinyin or characters for Chinese
//!   people, addresses abbreviated or without the district — profile noise
//!   for the probabilistic pass.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{Date32Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// SplitMix64: small, fast, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    pub fn f(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// True with probability `p`.
    pub fn p(&mut self, p: f64) -> bool {
        self.f() < p
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Distinct people.
    pub people: usize,
    /// Random seed (same seed, same data).
    pub seed: u64,
    /// Scales every noise rate (0 = clean, 1 = default).
    pub noise: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            people: 10_000,
            seed: 7,
            noise: 1.0,
        }
    }
}

impl SynthConfig {
    /// About `records` source records (people × ≈2.45 silos).
    pub fn for_records(records: usize, seed: u64) -> SynthConfig {
        SynthConfig {
            people: (records as f64 / 2.45).ceil() as usize,
            seed,
            noise: 1.0,
        }
    }
}

/// Generated silos and the truth.
#[derive(Debug)]
pub struct Synth {
    /// Edges: `record_key, source, id_type, id_value, seen_at`.
    pub identifiers: RecordBatch,
    /// Profiles: `record_key, source, name, address, city, postcode, birth_date`.
    pub profiles: RecordBatch,
    /// Every record key, in generation order.
    pub records: Vec<String>,
    /// Per record (same order): the person it belongs to.
    pub truth: Vec<u32>,
}

/// The identifiers batch's schema (as braid-normalize extracts it).
pub fn identifiers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("record_key", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("id_type", DataType::Utf8, false),
        Field::new("id_value", DataType::Utf8, false),
        Field::new(
            "seen_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]))
}

/// The profiles batch's schema.
pub fn profiles_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("record_key", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("address", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("postcode", DataType::Utf8, true),
        Field::new("birth_date", DataType::Date32, true),
    ]))
}

const SURNAMES_CN: &[(&str, &str)] = &[
    ("王", "Wang"),
    ("李", "Li"),
    ("张", "Zhang"),
    ("刘", "Liu"),
    ("陈", "Chen"),
    ("杨", "Yang"),
    ("黄", "Huang"),
    ("赵", "Zhao"),
    ("吴", "Wu"),
    ("周", "Zhou"),
    ("徐", "Xu"),
    ("孙", "Sun"),
    ("马", "Ma"),
    ("朱", "Zhu"),
    ("胡", "Hu"),
    ("郭", "Guo"),
    ("何", "He"),
    ("高", "Gao"),
    ("林", "Lin"),
    ("罗", "Luo"),
    ("郑", "Zheng"),
    ("梁", "Liang"),
    ("谢", "Xie"),
    ("宋", "Song"),
];
/// Characters of given names (one or two of them), with pinyin.
const GIVEN_CN: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀", "xiu"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("英", "ying"),
    ("华", "hua"),
    ("建", "jian"),
    ("晓", "xiao"),
    ("东", "dong"),
    ("海", "hai"),
    ("燕", "yan"),
    ("子", "zi"),
    ("涵", "han"),
    ("浩", "hao"),
    ("然", "ran"),
    ("雨", "yu"),
    ("萱", "xuan"),
    ("欣", "xin"),
    ("怡", "yi"),
    ("宇", "yu"),
    ("轩", "xuan"),
    ("梓", "zi"),
    ("博", "bo"),
    ("文", "wen"),
    ("佳", "jia"),
];
const FIRST_EN: &[&str] = &[
    "Liam",
    "Noah",
    "Ava",
    "Mia",
    "Lucas",
    "Chloe",
    "Ethan",
    "Grace",
    "Henry",
    "Ruby",
    "Jack",
    "Isla",
    "Leo",
    "Zoe",
    "Adam",
    "Hannah",
    "Ryan",
    "Alice",
    "Owen",
    "Ella",
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
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Emma",
    "Oliver",
    "Sophie",
];
const LAST_EN: &[&str] = &[
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Phillips",
    "Evans",
    "Turner",
    "Torres",
    "Parker",
    "Collins",
    "Edwards",
    "Stewart",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
];
const CITIES_CN: &[(&str, &str, &[&str])] = &[
    ("上海", "2000", &["黄浦区", "徐汇区", "静安区", "浦东新区"]),
    ("北京", "1000", &["朝阳区", "海淀区", "东城区", "西城区"]),
    ("广州", "5100", &["天河区", "越秀区", "海珠区"]),
    ("深圳", "5180", &["南山区", "福田区", "罗湖区"]),
    ("杭州", "3100", &["西湖区", "上城区", "滨江区"]),
];
const ROADS_CN: &[&str] = &[
    "南京东路",
    "淮海中路",
    "长安街",
    "中山路",
    "人民路",
    "解放路",
    "建国路",
    "延安西路",
    "天河路",
    "深南大道",
    "文三路",
    "滨江大道",
];
const CITIES_EN: &[(&str, &str)] = &[
    ("London", "SW1"),
    ("Manchester", "M1"),
    ("New York", "100"),
    ("Boston", "021"),
    ("Sydney", "200"),
    ("Singapore", "01"),
    ("Toronto", "M5V"),
];
const STREETS_EN: &[(&str, &str)] = &[
    ("High Street", "High St"),
    ("Station Road", "Station Rd"),
    ("Church Lane", "Church Ln"),
    ("Park Avenue", "Park Ave"),
    ("Victoria Road", "Victoria Rd"),
    ("King Street", "King St"),
    ("Queens Road", "Queens Rd"),
    ("Mill Lane", "Mill Ln"),
    ("Oak Avenue", "Oak Ave"),
];

/// One synthetic person.
struct Person {
    chinese: bool,
    surname: usize,
    given: usize,
    given2: Option<usize>,
    emails: Vec<String>,
    phones: Vec<String>,
    wechat: String,
    device: String,
    birth: i32,
    city: usize,
    district: usize,
    road: usize,
    number: u32,
    postcode: String,
}

impl Person {
    fn name(&self, rng: &mut Rng, noise: f64) -> String {
        if self.chinese {
            let (s, sp) = SURNAMES_CN[self.surname];
            let (g1, p1) = GIVEN_CN[self.given];
            let (g, gp) = match self.given2 {
                Some(k) => (
                    format!("{g1}{}", GIVEN_CN[k].0),
                    format!("{}{}", capital(p1), GIVEN_CN[k].1),
                ),
                None => (g1.to_owned(), capital(p1)),
            };
            if rng.p(0.1) {
                // Pinyin, either order (an international shop's form).
                if rng.p(0.5) {
                    format!("{sp} {gp}")
                } else {
                    format!("{gp} {sp}")
                }
            } else {
                format!("{s}{g}")
            }
        } else {
            let f = FIRST_EN[self.given % FIRST_EN.len()];
            let l = LAST_EN[self.surname % LAST_EN.len()];
            let mut n = if rng.p(0.15) {
                format!("{l}, {f}")
            } else {
                format!("{f} {l}")
            };
            if rng.p(0.08 * noise) {
                n = typo(&n, rng);
            }
            if rng.p(0.2) {
                n = n.to_uppercase();
            }
            n
        }
    }

    fn address(&self, rng: &mut Rng) -> (String, String) {
        if self.chinese {
            let (city, _, districts) = CITIES_CN[self.city];
            let road = ROADS_CN[self.road];
            let a = match rng.below(3) {
                0 => format!(
                    "{city}市{}{road}{}号",
                    districts[self.district], self.number
                ),
                1 => format!("{}{road}{}号", districts[self.district], self.number),
                _ => format!("{road}{}号", self.number),
            };
            (a, city.to_owned())
        } else {
            let (city, _) = CITIES_EN[self.city % CITIES_EN.len()];
            let (long, short) = STREETS_EN[self.road % STREETS_EN.len()];
            let street = if rng.p(0.5) { long } else { short };
            (format!("{} {street}", self.number), city.to_owned())
        }
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn typo(s: &str, rng: &mut Rng) -> String {
    let mut c: Vec<char> = s.chars().collect();
    if c.len() < 3 {
        return s.to_owned();
    }
    let i = 1 + rng.below(c.len() - 2);
    match rng.below(3) {
        0 => c.swap(i, i + 1),
        1 => {
            c.remove(i);
        }
        _ => c.insert(i, *rng.pick(&['a', 'e', 'n', 'r', 's'])),
    }
    c.into_iter().collect()
}

fn email_typo(e: &str, rng: &mut Rng) -> String {
    match e.split_once('@') {
        Some((local, domain)) => format!("{}@{domain}", typo(local, rng)),
        None => typo(e, rng),
    }
}

struct Out {
    ik: StringBuilder,
    is: StringBuilder,
    it: StringBuilder,
    iv: StringBuilder,
    seen: TimestampMicrosecondBuilder,
    pk: StringBuilder,
    ps: StringBuilder,
    pn: StringBuilder,
    pa: StringBuilder,
    pc: StringBuilder,
    pp: StringBuilder,
    pb: Date32Builder,
    records: Vec<String>,
    truth: Vec<u32>,
}

impl Out {
    fn id(&mut self, key: &str, source: &str, ty: &str, value: &str, at: i64) {
        self.ik.append_value(key);
        self.is.append_value(source);
        self.it.append_value(ty);
        self.iv.append_value(value);
        self.seen.append_value(at);
    }
    #[allow(clippy::too_many_arguments)]
    fn profile(
        &mut self,
        key: &str,
        source: &str,
        name: Option<String>,
        address: Option<String>,
        city: Option<String>,
        postcode: Option<String>,
        birth: Option<i32>,
    ) {
        self.pk.append_value(key);
        self.ps.append_value(source);
        self.pn.append_option(name);
        self.pa.append_option(address);
        self.pc.append_option(city);
        self.pp.append_option(postcode);
        self.pb.append_option(birth);
    }
}

/// Generates `cfg.people` people over the five silos.
pub fn generate(cfg: &SynthConfig) -> Synth {
    let mut rng = Rng::new(cfg.seed);
    let nz = cfg.noise;
    let n = cfg.people;
    let domains = [
        "gmail.com",
        "qq.com",
        "163.com",
        "outlook.com",
        "icloud.com",
        "126.com",
    ];
    let mut people: Vec<Person> = Vec::with_capacity(n);
    for i in 0..n {
        let chinese = rng.p(0.6);
        let city = rng.below(if chinese {
            CITIES_CN.len()
        } else {
            CITIES_EN.len()
        });
        let district = rng.below(CITIES_CN[city % CITIES_CN.len()].2.len());
        let (surname, given) = if chinese {
            (rng.below(SURNAMES_CN.len()), rng.below(GIVEN_CN.len()))
        } else {
            (rng.below(LAST_EN.len()), rng.below(FIRST_EN.len()))
        };
        let handle = if chinese {
            format!("{}{}{}", GIVEN_CN[given].1, SURNAMES_CN[surname].1, i)
        } else {
            format!("{}.{}{}", FIRST_EN[given], LAST_EN[surname], i)
        }
        .to_lowercase();
        let mut emails = vec![format!("{handle}@{}", rng.pick(&domains))];
        if rng.p(0.10) {
            emails.push(format!("{handle}.work@{}", rng.pick(&domains)));
        }
        let phone = |rng: &mut Rng, k: usize| {
            if chinese {
                // k * 7919 mod 10^9 is one-to-one for k < 10^9: no two people share a number.
                format!(
                    "+861{}{:09}",
                    3 + rng.below(6),
                    (k as u64 * 7919) % 1_000_000_000
                )
            } else {
                format!("+447{:09}", (k as u64 * 7919) % 1_000_000_000)
            }
        };
        let mut phones = vec![phone(&mut rng, 2 * i)];
        if rng.p(0.10) {
            phones.push(phone(&mut rng, 2 * i + 1));
        }
        let postcode = if chinese {
            format!("{}{:02}", CITIES_CN[city].1, district * 10 + rng.below(10))
        } else {
            let (_, p) = CITIES_EN[city % CITIES_EN.len()];
            format!("{p}{}", rng.below(10))
        };
        people.push(Person {
            chinese,
            surname,
            given,
            given2: (chinese && rng.p(0.7)).then(|| rng.below(GIVEN_CN.len())),
            emails,
            phones,
            wechat: format!("o6_{:016x}", rng.next_u64()),
            device: format!("dev-{:016x}", rng.next_u64()),
            birth: 3650 + rng.below(16_000) as i32,
            city,
            district,
            road: rng.below(ROADS_CN.len().max(STREETS_EN.len())) % ROADS_CN.len(),
            number: 1 + rng.below(400) as u32,
            postcode,
        });
    }
    // Households: a few people carry another person's phone.
    for i in 0..n {
        if rng.p(0.0005 * nz) && n > 1 {
            let j = (i + 1 + rng.below(n - 1)) % n;
            let shared = people[j].phones[0].clone();
            people[i].phones[0] = shared;
        }
    }
    let expect = (n as f64 * 2.6) as usize;
    let mut o = Out {
        ik: StringBuilder::with_capacity(expect * 3, expect * 3 * 24),
        is: StringBuilder::with_capacity(expect * 3, expect * 3 * 4),
        it: StringBuilder::with_capacity(expect * 3, expect * 3 * 6),
        iv: StringBuilder::with_capacity(expect * 3, expect * 3 * 22),
        seen: TimestampMicrosecondBuilder::with_capacity(expect * 3),
        pk: StringBuilder::new(),
        ps: StringBuilder::new(),
        pn: StringBuilder::new(),
        pa: StringBuilder::new(),
        pc: StringBuilder::new(),
        pp: StringBuilder::new(),
        pb: Date32Builder::new(),
        records: Vec::with_capacity(expect),
        truth: Vec::with_capacity(expect),
    };
    // Placeholders: each used by at least 60 records (over the default
    // limit of 50) however few people are generated, as they are in real
    // data: a store's phone is keyed in at every sale without one.
    let at_least_60 = |silo_records: f64, rate: f64, values: usize| -> f64 {
        if nz == 0.0 {
            0.0
        } else {
            (rate * nz)
                .max(60.0 * values as f64 / silo_records.max(1.0))
                .min(0.2)
        }
    };
    let n_store = ((n as f64 * 0.5 * 0.03 * nz) / 200.0).floor().max(1.0) as usize;
    let store_phones: Vec<String> = (0..n_store).map(|s| format!("+86216{s:07}")).collect();
    let p_test_email = at_least_60(n as f64 * 0.5, 0.004, 1);
    let p_store = at_least_60(n as f64 * 0.5, 0.03, n_store);
    let p_placeholder = at_least_60(n as f64 * 0.5, 0.004, 1);
    let t0: i64 = 1_700_000_000_000_000;
    let mut seq = [0usize; 5];
    for (pi, p) in people.iter().enumerate() {
        let at = t0 + (pi as i64 % 10_000_000) * 1_000_000;
        let email = |rng: &mut Rng| {
            let e = rng.pick(&p.emails).clone();
            if rng.p(0.03 * nz) {
                email_typo(&e, rng)
            } else {
                e
            }
        };
        // CRM (HubSpot-like): contacts, sometimes duplicated.
        if rng.p(0.6) {
            let copies = if rng.p(0.05) { 2 } else { 1 };
            for _ in 0..copies {
                seq[0] += 1;
                let key = format!("crm/contacts/C{:08}", seq[0]);
                o.id(
                    &key,
                    "crm",
                    "customer_id",
                    &format!("crm:C{:08}", seq[0]),
                    at,
                );
                if rng.p(0.9) {
                    o.id(&key, "crm", "email", &email(&mut rng), at);
                }
                if rng.p(0.85) {
                    o.id(&key, "crm", "phone", rng.pick(&p.phones).as_str(), at);
                }
                if rng.p(0.35) {
                    o.id(&key, "crm", "wechat_unionid", &p.wechat, at);
                }
                let (addr, city) = p.address(&mut rng);
                o.profile(
                    &key,
                    "crm",
                    Some(p.name(&mut rng, nz)),
                    rng.p(0.5).then_some(addr),
                    Some(city),
                    rng.p(0.6).then(|| p.postcode.clone()),
                    rng.p(0.7).then_some(p.birth),
                );
                o.records.push(key);
                o.truth.push(pi as u32);
            }
        }
        // Online shop: customers.
        if rng.p(0.5) {
            seq[1] += 1;
            let key = format!("shop/customers/{}", 100_000 + seq[1]);
            o.id(
                &key,
                "shop",
                "customer_id",
                &format!("shop:{}", 100_000 + seq[1]),
                at,
            );
            if rng.p(p_test_email) {
                o.id(&key, "shop", "email", "test@example.com", at);
            } else if rng.p(0.95) {
                o.id(&key, "shop", "email", &email(&mut rng), at);
            }
            // Delivery needs a phone.
            if rng.p(0.85) {
                o.id(&key, "shop", "phone", rng.pick(&p.phones).as_str(), at);
            }
            if rng.p(0.85) {
                o.id(&key, "shop", "device_id", &p.device, at);
            }
            let (addr, city) = p.address(&mut rng);
            o.profile(
                &key,
                "shop",
                Some(p.name(&mut rng, nz)),
                rng.p(0.95).then_some(addr),
                Some(city),
                rng.p(0.9).then(|| p.postcode.clone()),
                None,
            );
            o.records.push(key);
            o.truth.push(pi as u32);
        }
        // POS: loyalty members at the till.
        if rng.p(0.5) {
            seq[2] += 1;
            let key = format!("pos/members/M{:07}", seq[2]);
            if rng.p(0.7) {
                o.id(
                    &key,
                    "pos",
                    "loyalty_id",
                    &format!("pos:L{:07}", seq[2]),
                    at,
                );
            }
            if rng.p(p_store) {
                o.id(&key, "pos", "phone", rng.pick(&store_phones).as_str(), at);
            } else if rng.p(p_placeholder) {
                o.id(&key, "pos", "phone", "+8613800000000", at);
            } else if rng.p(0.95) {
                // Membership is keyed by phone at the till.
                o.id(&key, "pos", "phone", rng.pick(&p.phones).as_str(), at);
            }
            if rng.p(0.1) {
                o.id(&key, "pos", "email", &email(&mut rng), at);
            }
            let (_, city) = p.address(&mut rng);
            o.profile(
                &key,
                "pos",
                // Members register a name and a birthday (birthday offers).
                rng.p(0.8).then(|| p.name(&mut rng, nz)),
                None,
                Some(city),
                rng.p(0.3).then(|| p.postcode.clone()),
                rng.p(0.6).then_some(p.birth),
            );
            o.records.push(key);
            o.truth.push(pi as u32);
        }
        // WeChat followers.
        if rng.p(0.4) {
            seq[3] += 1;
            let key = format!("wechat/followers/F{:07}", seq[3]);
            o.id(&key, "wechat", "wechat_unionid", &p.wechat, at);
            // Members bind their phone in the mini-program.
            if rng.p(0.85) {
                o.id(&key, "wechat", "phone", rng.pick(&p.phones).as_str(), at);
            }
            // The member card: a real name, the city WeChat reports, a birthday.
            let (_, city) = p.address(&mut rng);
            o.profile(
                &key,
                "wechat",
                rng.p(0.7).then(|| p.name(&mut rng, nz)),
                None,
                rng.p(0.9).then_some(city),
                None,
                rng.p(0.6).then_some(p.birth),
            );
            o.records.push(key);
            o.truth.push(pi as u32);
        }
        // Ads: lead-form submissions with the click and the device.
        if rng.p(0.35) {
            seq[4] += 1;
            let key = format!("ads/clicks/K{:08}", seq[4]);
            o.id(
                &key,
                "ads",
                "click_id",
                &format!("gclid-{:012x}", rng.next_u64() >> 16),
                at,
            );
            if rng.p(0.9) {
                o.id(&key, "ads", "device_id", &p.device, at);
            }
            // Lead forms ask for a phone and a name, often an email.
            if rng.p(0.5) {
                o.id(&key, "ads", "email", &email(&mut rng), at);
            }
            if rng.p(0.75) {
                o.id(&key, "ads", "phone", rng.pick(&p.phones).as_str(), at);
            }
            let (_, city) = p.address(&mut rng);
            o.profile(
                &key,
                "ads",
                rng.p(0.7).then(|| p.name(&mut rng, nz)),
                None,
                rng.p(0.6).then_some(city),
                None,
                None,
            );
            o.records.push(key);
            o.truth.push(pi as u32);
        }
    }
    let ids: Vec<ArrayRef> = vec![
        Arc::new(o.ik.finish()),
        Arc::new(o.is.finish()),
        Arc::new(o.it.finish()),
        Arc::new(o.iv.finish()),
        Arc::new(o.seen.finish().with_timezone("UTC")),
    ];
    let profiles: Vec<ArrayRef> = vec![
        Arc::new(o.pk.finish()),
        Arc::new(o.ps.finish()),
        Arc::new(o.pn.finish()),
        Arc::new(o.pa.finish()),
        Arc::new(o.pc.finish()),
        Arc::new(o.pp.finish()),
        Arc::new(o.pb.finish()),
    ];
    Synth {
        identifiers: RecordBatch::try_new(identifiers_schema(), ids)
            .expect("generator builds the declared schema"),
        profiles: RecordBatch::try_new(profiles_schema(), profiles)
            .expect("generator builds the declared schema"),
        records: o.records,
        truth: o.truth,
    }
}

/// Pairwise precision, recall and F1 of a clustering.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PairMetrics {
    /// Record pairs put together that belong together.
    pub true_positive: u64,
    /// Record pairs put together.
    pub predicted_pairs: u64,
    /// Record pairs that belong together.
    pub true_pairs: u64,
    /// true_positive / predicted_pairs.
    pub precision: f64,
    /// true_positive / true_pairs.
    pub recall: f64,
    /// Harmonic mean.
    pub f1: f64,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Pairwise metrics of `predicted` against `truth` (one label per record, same order).
pub fn pairwise(truth: &[u32], predicted: &[u64]) -> PairMetrics {
    let mut cells: HashMap<(u32, u64), u64> = HashMap::new();
    let mut t: HashMap<u32, u64> = HashMap::new();
    let mut p: HashMap<u64, u64> = HashMap::new();
    for (a, b) in truth.iter().zip(predicted) {
        *cells.entry((*a, *b)).or_default() += 1;
        *t.entry(*a).or_default() += 1;
        *p.entry(*b).or_default() += 1;
    }
    let tp: u64 = cells.values().map(|n| pairs(*n)).sum();
    let tpairs: u64 = t.values().map(|n| pairs(*n)).sum();
    let ppairs: u64 = p.values().map(|n| pairs(*n)).sum();
    let precision = if ppairs == 0 {
        1.0
    } else {
        tp as f64 / ppairs as f64
    };
    let recall = if tpairs == 0 {
        1.0
    } else {
        tp as f64 / tpairs as f64
    };
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    PairMetrics {
        true_positive: tp,
        predicted_pairs: ppairs,
        true_pairs: tpairs,
        precision,
        recall,
        f1,
    }
}

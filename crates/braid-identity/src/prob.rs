//! The probabilistic pass: records that share no identifier but whose
//! profiles (name, address, city, postcode, birth date) agree.
//!
//! * **Cluster fields**: a record's missing fields (and its emails and
//!   phones) are filled from the other records of its deterministic
//!   cluster before blocking and comparison: a till record with a name and
//!   a city is compared with the birth date and postcode its linked CRM
//!   record gave. Value frequencies are those of the records as given.
//! * **Blocking**: candidate pairs share a block key — the whole name in
//!   its city, birth date + name initial, birth date + city, city + house
//!   number + name initial, postcode + house number, or an email's first
//!   or last four letters (names and cities in Latin letters, so scripts
//!   meet); blocks larger than `max_block` are skipped (reported).
//! * **Comparison**: names by Jaro-Winkler over sorted lower-cased tokens
//!   ("Smith, John" = "john smith"), Chinese names by characters (Dice),
//!   and across scripts by pinyin ("王伟明" = "Weiming Wang"); addresses by
//!   token overlap — Latin tokens with street abbreviations expanded,
//!   Chinese addresses as character bigrams — and the house number;
//!   postcode, city (in pinyin when written in characters) and birth date
//!   exactly; emails and phones by near miss (a typo) or, when both sides
//!   have some and none is close, as evidence against.
//! * **Fellegi-Sunter**: each field's level (agree / partial / disagree /
//!   missing) adds `log2(m/u)`; the `u` of an exact name, postcode or
//!   birth-date agreement is the value's frequency among all profiles
//!   (agreeing on "张伟" says less than agreeing on a rare name); names are
//!   counted per person, a cluster's records with one name counting once. A city adds
//!   nothing once the postcodes agree (the postcode names the city).
//!   `m`/`u` come from the configuration or, with `estimate: true`, from
//!   EM over the candidate pairs. Pairs whose weight is at least
//!   `log2(profiles) + threshold` join, best first, unless the union
//!   would break a per-person limit of the deterministic rules; a pair is
//!   scored again against both clusters as earlier unions in the pass left
//!   them, so a chain of merges cannot join two birth dates that disagree.
//!
//! Every accepted pair is kept with its per-field levels and weights for
//! `braid identity explain`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Agreement level of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Equal (or as good as).
    Agree,
    /// Close.
    Partial,
    /// Different.
    Disagree,
    /// One side lacks the field (weight 0).
    Missing,
}

/// `m` and `u` probabilities of one field, per level (agree, partial, disagree).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FieldParams {
    /// P(level | same person).
    pub m: [f64; 3],
    /// P(level | different people).
    pub u: [f64; 3],
}

impl FieldParams {
    fn weight(&self, level: Level, u_agree: Option<f64>) -> f64 {
        let i = match level {
            Level::Agree => 0,
            Level::Partial => 1,
            Level::Disagree => 2,
            Level::Missing => return 0.0,
        };
        let u = if i == 0 {
            u_agree.unwrap_or(self.u[0])
        } else {
            self.u[i]
        };
        (self.m[i].max(1e-9) / u.max(1e-9)).log2()
    }
}

/// Fields compared, in this order.
pub const FIELDS: [&str; NF] = [
    "name",
    "address",
    "postcode",
    "city",
    "birth_date",
    "email",
    "phone",
];

/// Number of compared fields.
pub const NF: usize = 7;

/// Settings of the probabilistic pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbConfig {
    /// Minimum posterior log2-odds to join two records: a pair joins when
    /// its total weight (log2 likelihood ratio) is at least
    /// `log2(profiles) + threshold`, i.e. the prior that two random
    /// profiles are the same person (1 in the number of profiles) is
    /// counted. The default, 0, joins a pair the model finds more likely
    /// the same person than not — the rule that maximises the expected F1
    /// of the clusters; 8 asks for 255-to-1 odds (fewer, surer merges:
    /// see docs/benchmarks.md for both).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Blocks with more records are not compared.
    #[serde(default = "default_max_block")]
    pub max_block: usize,
    /// Estimate m/u with EM over the candidate pairs instead of using `params`.
    #[serde(default)]
    pub estimate: bool,
    /// Per field (see [`FIELDS`]): m/u.
    #[serde(default = "default_params")]
    pub params: [FieldParams; NF],
}

fn default_threshold() -> f64 {
    0.0
}
fn default_max_block() -> usize {
    500
}
fn default_params() -> [FieldParams; NF] {
    [
        // name
        FieldParams {
            m: [0.80, 0.12, 0.08],
            u: [0.002, 0.01, 0.988],
        },
        // address
        FieldParams {
            m: [0.75, 0.15, 0.10],
            u: [0.0002, 0.002, 0.9978],
        },
        // postcode
        FieldParams {
            m: [0.95, 0.0, 0.05],
            u: [0.01, 0.0, 0.99],
        },
        // city
        FieldParams {
            m: [0.97, 0.0, 0.03],
            u: [0.2, 0.0, 0.8],
        },
        // birth_date
        FieldParams {
            m: [0.95, 0.0, 0.05],
            u: [0.0001, 0.0, 0.9999],
        },
        // email: records reaching this pass share no email (an equal one
        // would have linked them), so "agree" is a near miss (a typo: same
        // domain, edit distance <= 2), "partial" a related address (one
        // local part contains the other). Like the prior, `m` is over all
        // pairs of one person's records, most of which show the same email:
        // the levels here are the few percent that do not, and two
        // different emails count against a match.
        FieldParams {
            m: [0.03, 0.04, 0.10],
            u: [0.000_001, 0.000_05, 0.999_949],
        },
        // phone: a near miss is one digit off; most of one person's
        // records show the same phone, so two different phones count
        // against a match.
        FieldParams {
            m: [0.01, 0.0, 0.06],
            u: [0.000_01, 0.0, 0.999_99],
        },
    ]
}

impl Default for ProbConfig {
    fn default() -> Self {
        ProbConfig {
            threshold: default_threshold(),
            max_block: default_max_block(),
            estimate: false,
            params: default_params(),
        }
    }
}

/// A profile, normalised for comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    /// Lower-cased sorted tokens, or the Chinese characters.
    pub name: Option<String>,
    /// Whether `name` is Chinese characters.
    pub name_cjk: bool,
    /// The name in Latin letters: `name` itself, or a Chinese name in
    /// pinyin (surname and given name as two sorted tokens, "wang weiming"),
    /// so that "王伟明" and "Weiming Wang" compare.
    pub name_latin: Option<String>,
    /// Records of this profile's cluster that carry the name (at least
    /// 1): the record counts `1 / name_seen` in the name's frequency, so
    /// that frequencies count people rather than records.
    pub name_seen: u32,
    /// Address tokens (hashes), sorted, distinct.
    pub address: Vec<u64>,
    /// The first number in the address.
    pub number: Option<u32>,
    /// Upper-cased, no spaces.
    pub postcode: Option<String>,
    /// Lower-cased, spaces and `市` dropped, characters in pinyin.
    pub city: Option<String>,
    /// Days since the epoch.
    pub birth_date: Option<i32>,
    /// The record's emails (normalised), for near-miss comparison.
    pub emails: Vec<String>,
    /// The record's phones (E.164).
    pub phones: Vec<String>,
}

impl Prepared {
    /// Fills the fields this profile lacks from `other` (a record of the
    /// same person): name, address (with its number), postcode, city,
    /// birth date; emails and phones are added.
    pub fn fill_from(&mut self, other: &Prepared) {
        if self.name.is_none() && other.name.is_some() {
            self.name.clone_from(&other.name);
            self.name_cjk = other.name_cjk;
            self.name_latin.clone_from(&other.name_latin);
            self.name_seen = other.name_seen;
        }
        if self.address.is_empty() && !other.address.is_empty() {
            self.address.clone_from(&other.address);
            self.number = other.number;
        }
        if self.postcode.is_none() {
            self.postcode.clone_from(&other.postcode);
        }
        if self.city.is_none() {
            self.city.clone_from(&other.city);
        }
        if self.birth_date.is_none() {
            self.birth_date = other.birth_date;
        }
        for e in &other.emails {
            if !self.emails.contains(e) {
                self.emails.push(e.clone());
            }
        }
        for p in &other.phones {
            if !self.phones.contains(p) {
                self.phones.push(p.clone());
            }
        }
    }
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Normalises a name: Chinese characters as they are (spaces dropped),
/// otherwise lower-cased tokens in sorted order.
pub fn normalize_name(s: &str) -> Option<(String, bool)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let cjk: String = s.chars().filter(|c| is_cjk(*c)).collect();
    if !cjk.is_empty()
        && cjk.chars().count() * 2 >= s.chars().filter(|c| !c.is_whitespace()).count()
    {
        return Some((cjk, true));
    }
    let lower = s.to_lowercase();
    let mut tokens: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return None;
    }
    tokens.sort_unstable();
    Some((tokens.join(" "), false))
}

/// Two-character surnames: their pinyin is one token ("ouyang").
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文",
    "夏侯", "司徒", "轩辕",
];

/// A Chinese name in pinyin, as Latin forms are written: the surname and
/// the given name as two lower-case tokens, sorted ("王伟明" →
/// "wang weiming"). Characters without a reading are dropped.
pub fn romanize(cjk: &str) -> Option<String> {
    use pinyin::ToPinyin;
    let chars: Vec<char> = cjk.chars().collect();
    let split = if chars.len() > 2 && COMPOUND_SURNAMES.iter().any(|s| cjk.starts_with(s)) {
        2
    } else {
        1
    };
    let syllables = |cs: &[char]| -> String {
        cs.iter()
            .filter_map(|c| c.to_pinyin().map(|p| p.plain()))
            .collect()
    };
    let (surname, given) = (
        syllables(&chars[..split.min(chars.len())]),
        syllables(&chars[split.min(chars.len())..]),
    );
    let mut tokens: Vec<String> = [surname, given]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect();
    tokens.sort_unstable();
    (!tokens.is_empty()).then(|| tokens.join(" "))
}

const ABBREVIATIONS: &[(&str, &str)] = &[
    ("st", "street"),
    ("rd", "road"),
    ("ave", "avenue"),
    ("av", "avenue"),
    ("ln", "lane"),
    ("dr", "drive"),
    ("blvd", "boulevard"),
    ("sq", "square"),
    ("ct", "court"),
    ("pl", "place"),
    ("hwy", "highway"),
];

/// Address tokens: Latin words (abbreviations expanded) and Chinese
/// character bigrams, hashed; plus the first number.
pub fn address_tokens(s: &str) -> (Vec<u64>, Option<u32>) {
    let lower = s.to_lowercase();
    let mut out = Vec::new();
    let mut number = None;
    let mut run: Vec<char> = Vec::new();
    let mut word = String::new();
    let flush_run = |run: &mut Vec<char>, out: &mut Vec<u64>| {
        if run.len() == 1 {
            out.push(fnv(&run[0].to_string()));
        }
        for w in run.windows(2) {
            let b: String = w.iter().collect();
            out.push(fnv(&b));
        }
        run.clear();
    };
    let flush_word = |word: &mut String, out: &mut Vec<u64>, number: &mut Option<u32>| {
        if word.is_empty() {
            return;
        }
        if word.chars().all(|c| c.is_ascii_digit()) {
            if number.is_none() {
                *number = word.parse().ok();
            }
        } else {
            let w = ABBREVIATIONS
                .iter()
                .find(|(a, _)| a == word)
                .map_or(word.as_str(), |(_, full)| full);
            out.push(fnv(w));
        }
        word.clear();
    };
    for c in lower.chars() {
        if is_cjk(c) {
            flush_word(&mut word, &mut out, &mut number);
            // Administrative suffixes say little.
            if matches!(c, '市' | '号' | '区' | '路' | '省') {
                flush_run(&mut run, &mut out);
                continue;
            }
            run.push(c);
        } else {
            flush_run(&mut run, &mut out);
            if c.is_alphanumeric() {
                if !word.is_empty()
                    && word.chars().all(|w| w.is_ascii_digit()) != c.is_ascii_digit()
                {
                    flush_word(&mut word, &mut out, &mut number);
                }
                word.push(c);
            } else {
                flush_word(&mut word, &mut out, &mut number);
            }
        }
    }
    flush_run(&mut run, &mut out);
    flush_word(&mut word, &mut out, &mut number);
    out.sort_unstable();
    out.dedup();
    (out, number)
}

/// Prepares one profile.
pub fn prepare(
    name: Option<&str>,
    address: Option<&str>,
    city: Option<&str>,
    postcode: Option<&str>,
    birth_date: Option<i32>,
) -> Prepared {
    let (name, name_cjk) = match name.and_then(normalize_name) {
        Some((n, c)) => (Some(n), c),
        None => (None, false),
    };
    let name_latin = match &name {
        Some(n) if name_cjk => romanize(n),
        n => n.clone(),
    };
    let (address, number) = address.map(address_tokens).unwrap_or_default();
    let clean = |s: &str, upper: bool| {
        let t: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '市')
            .collect();
        let t = if upper {
            t.to_uppercase()
        } else {
            t.to_lowercase()
        };
        (!t.is_empty()).then_some(t)
    };
    Prepared {
        name,
        name_cjk,
        name_seen: u32::from(name_latin.is_some()),
        name_latin,
        address,
        number,
        postcode: postcode.and_then(|p| clean(p, true)),
        // In pinyin when written in characters: "上海市" = "Shanghai".
        city: city.and_then(|c| clean(c, false)).map(|c| {
            if c.chars().any(is_cjk) {
                use pinyin::ToPinyin;
                c.chars()
                    .map(|ch| {
                        ch.to_pinyin()
                            .map_or_else(|| ch.to_string(), |p| p.plain().to_owned())
                    })
                    .collect()
            } else {
                c
            }
        }),
        birth_date,
        emails: Vec::new(),
        phones: Vec::new(),
    }
}

/// One field's outcome in a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FieldScore {
    /// The field (see [`FIELDS`]).
    pub field: &'static str,
    /// Its level.
    pub level: Level,
    /// Its weight.
    pub weight: f64,
}

fn overlap(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n as f64 / a.len().min(b.len()) as f64
}

fn dice_chars(a: &str, b: &str) -> f64 {
    let ac: Vec<char> = a.chars().collect();
    let bc: Vec<char> = b.chars().collect();
    let common = ac.iter().filter(|c| bc.contains(c)).count();
    2.0 * common as f64 / (ac.len() + bc.len()).max(1) as f64
}

/// Levels of the five fields of two profiles.
pub fn levels(a: &Prepared, b: &Prepared) -> [Level; NF] {
    let name = match (&a.name, &b.name) {
        (Some(x), Some(y)) if a.name_cjk == b.name_cjk => {
            if x == y {
                Level::Agree
            } else if a.name_cjk {
                if dice_chars(x, y) >= 0.66 {
                    Level::Partial
                } else {
                    Level::Disagree
                }
            } else if strsim::jaro_winkler(x, y) >= 0.92 {
                Level::Partial
            } else {
                Level::Disagree
            }
        }
        // Across scripts, by pinyin ("王伟" and "Wang Wei"; homophones agree too,
        // which the frequency of the pinyin form accounts for).
        (Some(_), Some(_)) => match (&a.name_latin, &b.name_latin) {
            (Some(x), Some(y)) if x == y => Level::Agree,
            (Some(x), Some(y)) if strsim::jaro_winkler(x, y) >= 0.92 => Level::Partial,
            (Some(_), Some(_)) => Level::Disagree,
            _ => Level::Missing,
        },
        _ => Level::Missing,
    };
    let address = if a.address.is_empty() || b.address.is_empty() {
        Level::Missing
    } else {
        let o = overlap(&a.address, &b.address);
        let same_number = a.number == b.number;
        if same_number && o >= 0.8 {
            Level::Agree
        } else if same_number && o >= 0.5 {
            Level::Partial
        } else {
            Level::Disagree
        }
    };
    let exact = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) if x == y => Level::Agree,
        (Some(_), Some(_)) => Level::Disagree,
        _ => Level::Missing,
    };
    let birth = match (a.birth_date, b.birth_date) {
        (Some(x), Some(y)) if x == y => Level::Agree,
        (Some(_), Some(_)) => Level::Disagree,
        _ => Level::Missing,
    };
    [
        name,
        address,
        exact(&a.postcode, &b.postcode),
        exact(&a.city, &b.city),
        birth,
        email_level(&a.emails, &b.emails),
        phone_level(&a.phones, &b.phones),
    ]
}

fn email_level(a: &[String], b: &[String]) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    let mut best = Level::Disagree;
    for x in a {
        for y in b {
            let (Some((xl, xd)), Some((yl, yd))) = (x.split_once('@'), y.split_once('@')) else {
                continue;
            };
            // john.smith1 and john.smith2 are two people: the digits must agree.
            if digits(xl) != digits(yl) {
                continue;
            }
            if xd == yd && xl.len().abs_diff(yl.len()) <= 2 && strsim::levenshtein(xl, yl) <= 2 {
                return Level::Agree;
            }
            if xl.len().min(yl.len()) >= 5 && (xl.contains(yl) || yl.contains(xl)) {
                best = Level::Partial;
            }
        }
    }
    best
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn phone_level(a: &[String], b: &[String]) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    for x in a {
        for y in b {
            if x.len() == y.len() && x.len() >= 8 && strsim::hamming(x, y).is_ok_and(|d| d <= 1) {
                return Level::Agree;
            }
        }
    }
    Level::Disagree
}

/// Value frequencies for term-frequency adjusted `u` of exact agreements.
#[derive(Debug, Default)]
pub struct Frequencies {
    names: HashMap<u64, f64>,
    latin_names: HashMap<u64, f64>,
    /// People behind the profiles (each record counted 1 / `name_seen`).
    people: f64,
    births: HashMap<u64, u32>,
    postcodes: HashMap<u64, u32>,
    total: u32,
}

impl Frequencies {
    /// Counts names (per person, see [`Prepared::name_seen`]), postcodes and
    /// birth dates of `profiles`.
    pub fn new<'a>(profiles: impl Iterator<Item = &'a Prepared>) -> Frequencies {
        let mut f = Frequencies::default();
        for p in profiles {
            f.total += 1;
            let w = 1.0 / f64::from(p.name_seen.max(1));
            f.people += w;
            if let Some(n) = &p.name {
                *f.names.entry(fnv(n)).or_default() += w;
            }
            if let Some(n) = &p.name_latin {
                *f.latin_names.entry(fnv(n)).or_default() += w;
            }
            if let Some(b) = p.birth_date {
                *f.births.entry(b as u64).or_default() += 1;
            }
            if let Some(pc) = &p.postcode {
                *f.postcodes.entry(fnv(pc)).or_default() += 1;
            }
        }
        f
    }

    fn u_key(&self, map: &HashMap<u64, u32>, key: u64, fallback: f64) -> f64 {
        if self.total == 0 {
            return fallback;
        }
        let n = map.get(&key).copied().unwrap_or(1).max(1);
        (f64::from(n) / f64::from(self.total)).max(fallback.min(1e-6))
    }

    fn u_name(&self, map: &HashMap<u64, f64>, v: &Option<String>, fallback: f64) -> f64 {
        match v {
            Some(v) if self.people > 0.0 => {
                let n = map.get(&fnv(v)).copied().unwrap_or(1.0).max(1.0);
                (n / self.people).max(fallback.min(1e-6))
            }
            _ => fallback,
        }
    }

    fn u(&self, map: &HashMap<u64, u32>, v: &Option<String>, fallback: f64) -> f64 {
        v.as_deref()
            .map_or(fallback, |v| self.u_key(map, fnv(v), fallback))
    }
}

/// Scores two prepared profiles.
pub fn score(
    cfg: &ProbConfig,
    params: &[FieldParams; NF],
    freq: &Frequencies,
    a: &Prepared,
    b: &Prepared,
) -> (f64, [FieldScore; NF]) {
    let lv = levels(a, b);
    let mut total = 0.0;
    let mut out = [FieldScore {
        field: "",
        level: Level::Missing,
        weight: 0.0,
    }; NF];
    for i in 0..NF {
        let u_agree = match (i, lv[i]) {
            (0, Level::Agree) if a.name_cjk == b.name_cjk => {
                Some(freq.u_name(&freq.names, &a.name, params[0].u[0]))
            }
            (0, Level::Agree) => {
                Some(freq.u_name(&freq.latin_names, &a.name_latin, params[0].u[0]))
            }
            (2, Level::Agree) => Some(freq.u(&freq.postcodes, &a.postcode, params[2].u[0])),
            (4, Level::Agree) => a
                .birth_date
                .map(|b| freq.u_key(&freq.births, b as u64, params[4].u[0])),
            _ => None,
        };
        // A postcode names its city: once postcodes agree, the city's
        // agreement is no further evidence (counting both would count the
        // postcode's city twice).
        let w = if i == 3 && lv[i] == Level::Agree && lv[2] == Level::Agree {
            0.0
        } else {
            params[i].weight(lv[i], u_agree)
        };
        total += w;
        out[i] = FieldScore {
            field: FIELDS[i],
            level: lv[i],
            weight: w,
        };
    }
    let _ = cfg;
    (total, out)
}

/// Block keys of a profile.
pub fn block_keys(p: &Prepared) -> Vec<u64> {
    // In Latin letters, so that a name in pinyin shares blocks with the
    // same name in characters.
    let initial = p
        .name_latin
        .as_ref()
        .and_then(|n| n.chars().next())
        .map(|c| c.to_string());
    let mut keys = Vec::with_capacity(3);
    if let Some(i) = &initial {
        if let Some(b) = p.birth_date {
            keys.push(fnv(&format!("b|{b}|{i}")));
        }
        if let (Some(c), Some(n)) = (&p.city, p.number) {
            keys.push(fnv(&format!("a|{c}|{n}|{i}")));
        }
    }
    // The whole name in its city: splits whose only evidence is a name and
    // a city (a till record against its CRM twin) share no other key.
    if let (Some(n), Some(c)) = (&p.name_latin, &p.city) {
        keys.push(fnv(&format!("n|{n}|{c}")));
    }
    if let (Some(b), Some(c)) = (p.birth_date, &p.city) {
        keys.push(fnv(&format!("bc|{b}|{c}")));
    }
    if let (Some(pc), Some(n)) = (&p.postcode, p.number) {
        keys.push(fnv(&format!("h|{pc}|{n}")));
    }
    // Emails: a typo leaves either the first or the last four characters of
    // the local part (and the domain) as they were.
    for e in &p.emails {
        if let Some((local, domain)) = e.split_once('@') {
            let d = digits(local);
            let chars: Vec<char> = local.chars().filter(|c| !c.is_ascii_digit()).collect();
            if chars.len() >= 6 {
                let head: String = chars[..4].iter().collect();
                let tail: String = chars[chars.len() - 4..].iter().collect();
                keys.push(fnv(&format!("e<|{domain}|{d}|{head}")));
                keys.push(fnv(&format!("e>|{domain}|{d}|{tail}")));
            }
        }
    }
    keys
}

/// Candidate pairs `(i, j)`, `i < j`, over `profiles` indexed by position,
/// where `i` is in `focus` (all when `None`); and the number of blocks skipped
/// for their size.
pub fn candidates(
    cfg: &ProbConfig,
    profiles: &[Option<Prepared>],
    focus: Option<&[u32]>,
) -> (Vec<(u32, u32)>, usize) {
    let mut blocks: HashMap<u64, Vec<u32>> = HashMap::new();
    for (i, p) in profiles.iter().enumerate() {
        if let Some(p) = p {
            for k in block_keys(p) {
                blocks.entry(k).or_default().push(i as u32);
            }
        }
    }
    let mut skipped = 0;
    let mut pairs = Vec::new();
    match focus {
        None => {
            for members in blocks.values() {
                if members.len() > cfg.max_block {
                    skipped += 1;
                    continue;
                }
                for (x, &i) in members.iter().enumerate() {
                    for &j in &members[x + 1..] {
                        pairs.push((i.min(j), i.max(j)));
                    }
                }
            }
        }
        Some(focus) => {
            for &i in focus {
                let Some(Some(p)) = profiles.get(i as usize) else {
                    continue;
                };
                for k in block_keys(p) {
                    let members = &blocks[&k];
                    if members.len() > cfg.max_block {
                        skipped += 1;
                        continue;
                    }
                    for &j in members.iter().filter(|j| **j != i) {
                        pairs.push((i.min(j), i.max(j)));
                    }
                }
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    (pairs, skipped)
}

/// EM estimate of m/u (and the match share) from comparison levels of
/// candidate pairs, starting at `start`.
pub fn estimate(
    start: &[FieldParams; NF],
    patterns: &[[Level; NF]],
    rounds: usize,
) -> [FieldParams; NF] {
    let idx = |l: Level| match l {
        Level::Agree => Some(0),
        Level::Partial => Some(1),
        Level::Disagree => Some(2),
        Level::Missing => None,
    };
    let mut params = *start;
    let mut p_match: f64 = 0.1;
    for _ in 0..rounds {
        let mut m_acc = [[1e-6f64; 3]; NF];
        let mut u_acc = [[1e-6f64; 3]; NF];
        let mut g_sum = 0.0;
        for pat in patterns {
            let (mut lm, mut lu) = (p_match.ln(), (1.0 - p_match).ln());
            for (f, l) in pat.iter().enumerate() {
                if let Some(i) = idx(*l) {
                    lm += params[f].m[i].max(1e-9).ln();
                    lu += params[f].u[i].max(1e-9).ln();
                }
            }
            let g = 1.0 / (1.0 + (lu - lm).exp());
            g_sum += g;
            for (f, l) in pat.iter().enumerate() {
                if let Some(i) = idx(*l) {
                    m_acc[f][i] += g;
                    u_acc[f][i] += 1.0 - g;
                }
            }
        }
        if patterns.is_empty() {
            break;
        }
        p_match = (g_sum / patterns.len() as f64).clamp(1e-6, 1.0 - 1e-6);
        for f in 0..NF {
            let (ms, us): (f64, f64) = (m_acc[f].iter().sum(), u_acc[f].iter().sum());
            for i in 0..3 {
                params[f].m[i] = m_acc[f][i] / ms;
                params[f].u[i] = u_acc[f][i] / us;
            }
        }
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_across_order_case_and_script() {
        let a = prepare(Some("Smith, John"), None, None, None, None);
        let b = prepare(Some("JOHN SMITH"), None, None, None, None);
        assert_eq!(levels(&a, &b)[0], Level::Agree);
        let c = prepare(Some("Jhon Smith"), None, None, None, None);
        assert_eq!(levels(&a, &c)[0], Level::Partial);
        let d = prepare(Some("Mary Jones"), None, None, None, None);
        assert_eq!(levels(&a, &d)[0], Level::Disagree);
        let z1 = prepare(Some("张 伟"), None, None, None, None);
        let z2 = prepare(Some("张伟"), None, None, None, None);
        assert_eq!(levels(&z1, &z2)[0], Level::Agree);
        let z3 = prepare(Some("张伟伟"), None, None, None, None);
        assert_eq!(levels(&z2, &z3)[0], Level::Partial);
        let p = prepare(Some("Zhang Wei"), None, None, None, None);
        assert_eq!(levels(&z2, &p)[0], Level::Agree, "across scripts by pinyin");
        let q = prepare(Some("Weiming Wang"), None, None, None, None);
        let w = prepare(Some("王伟明"), None, None, None, None);
        assert_eq!(w.name_latin.as_deref(), Some("wang weiming"));
        assert_eq!(levels(&w, &q)[0], Level::Agree);
        assert_eq!(levels(&z2, &q)[0], Level::Disagree);
        assert_eq!(romanize("欧阳娜娜").as_deref(), Some("nana ouyang"));
        // Blocks meet across scripts too.
        let (mut zc, mut pc) = (z2.clone(), p.clone());
        zc.city = prepare(None, None, Some("上海市"), None, None).city;
        pc.city = prepare(None, None, Some("Shanghai"), None, None).city;
        assert_eq!(zc.city, pc.city);
        assert!(block_keys(&zc).iter().any(|k| block_keys(&pc).contains(k)));
    }

    #[test]
    fn a_postcode_and_its_city_count_once_and_other_phones_count_against() {
        let cfg = ProbConfig::default();
        let a = prepare(Some("Ava King"), None, Some("London"), Some("SW1 3"), None);
        let others = (0..99).map(|i| prepare(None, None, None, Some(&format!("N{i}")), None));
        let all: Vec<Prepared> = std::iter::once(a.clone()).chain(others).collect();
        let freq = Frequencies::new(all.iter());
        let (_, f) = score(&cfg, &cfg.params, &freq, &a, &a.clone());
        assert_eq!((f[2].level, f[3].level), (Level::Agree, Level::Agree));
        assert!(f[2].weight > 0.0);
        assert_eq!(f[3].weight, 0.0, "the city is in the postcode");
        let mut b = prepare(Some("Ava King"), None, Some("London"), None, None);
        let (w_city, f) = score(&cfg, &cfg.params, &freq, &a, &b);
        assert!(f[3].weight > 0.0, "without postcodes the city counts");
        b.phones = vec!["+447700900001".into()];
        let mut c = a.clone();
        c.phones = vec!["+447700900999".into()];
        let (w_phones, f) = score(&cfg, &cfg.params, &freq, &c, &b);
        assert_eq!(f[6].level, Level::Disagree);
        assert!(f[6].weight < -3.0, "{}", f[6].weight);
        assert!(w_phones < w_city);
    }

    #[test]
    fn names_are_counted_per_person() {
        let cfg = ProbConfig::default();
        // One person's three records and one more person carry "Ava King".
        let mut ps: Vec<Prepared> = (0..4)
            .map(|_| prepare(Some("Ava King"), None, None, None, None))
            .collect();
        ps.extend((0..96).map(|i| prepare(Some(&format!("Zed {i}")), None, None, None, None)));
        let by_record = Frequencies::new(ps.iter());
        let (plain, _) = score(&cfg, &cfg.params, &by_record, &ps[0], &ps[3]);
        for p in &mut ps[..3] {
            p.name_seen = 3;
        }
        let by_person = Frequencies::new(ps.iter());
        let (people, _) = score(&cfg, &cfg.params, &by_person, &ps[0], &ps[3]);
        // u: 4 of 100 records, but 2 of 98 people.
        let expect = (4.0f64 / 100.0).log2() - (2.0f64 / 98.0).log2();
        assert!((people - plain - expect).abs() < 1e-9, "{plain} {people}");
    }

    #[test]
    fn addresses_compare_by_tokens_and_number() {
        let a = prepare(None, Some("88 High Street"), None, None, None);
        let b = prepare(None, Some("88 high st."), None, None, None);
        assert_eq!(levels(&a, &b)[1], Level::Agree);
        let c = prepare(None, Some("89 High Street"), None, None, None);
        assert_eq!(levels(&a, &c)[1], Level::Disagree);
        let x = prepare(None, Some("上海市黄浦区南京东路88号"), None, None, None);
        let y = prepare(None, Some("南京东路88号"), None, None, None);
        assert_eq!(levels(&x, &y)[1], Level::Agree, "{:?} {:?}", x, y);
        let w = prepare(None, Some("淮海中路88号"), None, None, None);
        assert_eq!(levels(&x, &w)[1], Level::Disagree);
    }

    #[test]
    fn near_miss_emails_and_phones() {
        let mut a = prepare(None, None, None, None, None);
        a.emails = vec!["zhangwei88@qq.com".into()];
        a.phones = vec!["+8613912345678".into()];
        let mut b = a.clone();
        b.emails = vec!["zhangwie88@qq.com".into()];
        b.phones = vec!["+8613912345679".into()];
        let l = levels(&a, &b);
        assert_eq!((l[5], l[6]), (Level::Agree, Level::Agree));
        b.emails = vec!["zhangwei88.work@163.com".into()];
        b.phones = vec!["+8613000000000".into()];
        let l = levels(&a, &b);
        assert_eq!((l[5], l[6]), (Level::Partial, Level::Disagree));
        let mut c = a.clone();
        c.emails = vec!["zhangwxi88@qq.com".into()];
        assert!(block_keys(&a).iter().any(|k| block_keys(&c).contains(k)));
        c.emails = vec!["zhangwei89@qq.com".into()];
        assert_eq!(
            levels(&a, &c)[5],
            Level::Disagree,
            "other digits, other person"
        );
    }

    #[test]
    fn weights_follow_value_frequency() {
        let cfg = ProbConfig::default();
        let common: Vec<Prepared> = (0..100)
            .map(|i| {
                let name = if i < 50 { "张伟" } else { "欧阳娜娜" };
                prepare(Some(name), None, None, Some("200001"), None)
            })
            .collect();
        let freq = Frequencies::new(common.iter());
        let (w_common, _) = score(&cfg, &cfg.params, &freq, &common[0], &common[1]);
        let rare = prepare(Some("司马懿"), None, None, Some("200001"), None);
        let (w_rare, f) = score(&cfg, &cfg.params, &freq, &rare, &rare.clone());
        assert!(w_rare > w_common, "{w_rare} vs {w_common}");
        assert_eq!(f[0].level, Level::Agree);
        assert_eq!(f[4].level, Level::Missing);
        assert_eq!(f[5].level, Level::Missing);
        assert_eq!(f[4].weight, 0.0);
    }

    #[test]
    fn em_separates_matches_from_non_matches() {
        let mut rng = crate::synth::Rng::new(3);
        let mut pats = Vec::new();
        let lv = |rng: &mut crate::synth::Rng, p: f64| {
            if rng.p(p) {
                Level::Agree
            } else {
                Level::Disagree
            }
        };
        for i in 0..5000 {
            if i % 10 == 0 {
                pats.push([
                    lv(&mut rng, 0.9),
                    lv(&mut rng, 0.85),
                    lv(&mut rng, 0.9),
                    lv(&mut rng, 0.95),
                    Level::Missing,
                    Level::Missing,
                    Level::Missing,
                ]);
            } else {
                pats.push([
                    lv(&mut rng, 0.02),
                    lv(&mut rng, 0.003),
                    lv(&mut rng, 0.3),
                    lv(&mut rng, 0.6),
                    Level::Missing,
                    Level::Missing,
                    Level::Missing,
                ]);
            }
        }
        let est = estimate(&default_params(), &pats, 30);
        assert!((est[1].m[0] - 0.85).abs() < 0.05, "{:?}", est[1]);
        assert!(est[1].u[0] < 0.01, "{:?}", est[1]);
        assert!((est[0].m[0] - 0.9).abs() < 0.05, "{:?}", est[0]);
    }
}

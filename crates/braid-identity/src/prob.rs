//! The probabilistic pass: records that share no identifier but whose
//! profiles (name, address, city, postcode, birth date) agree.
//!
//! * **Cluster fields**: a record's missing fields (and its emails and
//!   phones) are filled from the other records of its deterministic
//!   cluster before blocking and comparison: a till record with a name and
//!   a city is compared with the birth date and postcode its linked CRM
//!   record gave. Value frequencies are those of the records as given.
//! * **Blocking**: candidate pairs share a block key — postcode + name
//!   initial, birth date + name initial, or city + house number + name
//!   initial; blocks larger than `max_block` are skipped (reported).
//! * **Comparison**: names by Jaro-Winkler over sorted lower-cased tokens
//!   ("Smith, John" = "john smith"), Chinese names by characters (Dice);
//!   addresses by token overlap — Latin tokens with street abbreviations
//!   expanded, Chinese addresses as character bigrams — and the house
//!   number; postcode, city and birth date exactly.
//! * **Fellegi-Sunter**: each field's level (agree / partial / disagree /
//!   missing) adds `log2(m/u)`; the `u` of an exact name or postcode
//!   agreement is the value's frequency among all profiles (agreeing on
//!   "张伟" says less than agreeing on a rare name). `m`/`u` come from the
//!   configuration or, with `estimate: true`, from EM over the candidate
//!   pairs. Pairs whose weight is at least `log2(profiles) + threshold`
//!   join, best first, unless the
//!   union would break a per-person limit of the deterministic rules.
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
    /// counted. 8 ≈ a 1-in-256 chance that an accepted pair is wrong
    /// under the model's independence assumption.
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
    8.0
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
        // email: records reaching this pass share no email, so "agree" is a
        // near miss (a typo: same domain, edit distance <= 2), "partial" a
        // related address (one local part contains the other).
        FieldParams {
            m: [0.2, 0.15, 0.65],
            u: [0.000_001, 0.000_05, 0.999_949],
        },
        // phone: a near miss is one digit off.
        FieldParams {
            m: [0.1, 0.0, 0.9],
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
    /// Address tokens (hashes), sorted, distinct.
    pub address: Vec<u64>,
    /// The first number in the address.
    pub number: Option<u32>,
    /// Upper-cased, no spaces.
    pub postcode: Option<String>,
    /// Lower-cased, `市` dropped.
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
        address,
        number,
        postcode: postcode.and_then(|p| clean(p, true)),
        city: city.and_then(|c| clean(c, false)),
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
    names: HashMap<u64, u32>,
    postcodes: HashMap<u64, u32>,
    total: u32,
}

impl Frequencies {
    /// Counts names and postcodes of `profiles`.
    pub fn new<'a>(profiles: impl Iterator<Item = &'a Prepared>) -> Frequencies {
        let mut f = Frequencies::default();
        for p in profiles {
            f.total += 1;
            if let Some(n) = &p.name {
                *f.names.entry(fnv(n)).or_default() += 1;
            }
            if let Some(pc) = &p.postcode {
                *f.postcodes.entry(fnv(pc)).or_default() += 1;
            }
        }
        f
    }

    fn u(&self, map: &HashMap<u64, u32>, v: &Option<String>, fallback: f64) -> f64 {
        match v {
            Some(v) if self.total > 0 => {
                let n = map.get(&fnv(v)).copied().unwrap_or(1);
                (f64::from(n) / f64::from(self.total)).max(fallback.min(1e-6))
            }
            _ => fallback,
        }
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
            (0, Level::Agree) => Some(freq.u(&freq.names, &a.name, params[0].u[0])),
            (2, Level::Agree) => Some(freq.u(&freq.postcodes, &a.postcode, params[2].u[0])),
            _ => None,
        };
        let w = params[i].weight(lv[i], u_agree);
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
    let initial = p
        .name
        .as_ref()
        .and_then(|n| n.chars().next())
        .map(|c| c.to_string());
    let mut keys = Vec::with_capacity(3);
    if let Some(i) = &initial {
        if let Some(pc) = &p.postcode {
            keys.push(fnv(&format!("p|{pc}|{i}")));
        }
        if let Some(b) = p.birth_date {
            keys.push(fnv(&format!("b|{b}|{i}")));
        }
        if let (Some(c), Some(n)) = (&p.city, p.number) {
            keys.push(fnv(&format!("a|{c}|{n}|{i}")));
        }
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
        assert_eq!(
            levels(&z2, &p)[0],
            Level::Missing,
            "no comparison across scripts"
        );
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

//! Normalisers for single values: emails, phone numbers, country and
//! currency codes, timestamps, money. Each returns the canonical form or the
//! reason it cannot make one.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::schema::MONEY_SCALE;

/// Trimmed and lower-cased; must look like `local@domain.tld`.
pub fn email(raw: &str) -> Result<String, String> {
    let e = raw.trim().to_lowercase();
    let e = e.strip_prefix("mailto:").unwrap_or(&e).to_owned();
    let ok = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Ok(e)
    } else {
        Err(format!("not an email address: {raw:?}"))
    }
}

/// E.164 (`+8613912345678`), reading numbers without a country code in
/// `default_region` (ISO 3166 alpha-2, e.g. `CN`, `US`).
pub fn phone(raw: &str, default_region: Option<&str>) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("empty phone number".into());
    }
    // `00` is the international prefix in CN and most of Europe.
    let owned;
    let text = if let Some(rest) = trimmed.strip_prefix("00") {
        owned = format!("+{rest}");
        owned.as_str()
    } else {
        trimmed
    };
    let region = match default_region {
        Some(r) => Some(
            r.parse::<phonenumber::country::Id>()
                .map_err(|_| format!("unknown phone region {r:?}"))?,
        ),
        None => None,
    };
    // A number with its country code is read without the region: phonenumber
    // would strip the region's national prefix from it (US: "+86 138…" lost its "1").
    let parse_region = if text.starts_with('+') { None } else { region };
    let parsed = phonenumber::parse(parse_region, text).map_err(|e| {
        if region.is_none() && !text.starts_with('+') {
            format!("phone number {raw:?} has no country code and the source has no default_region")
        } else {
            format!("not a phone number: {raw:?} ({e})")
        }
    })?;
    let digits = parsed.national().value().to_string().len();
    if !(4..=14).contains(&digits) {
        return Err(format!("not a phone number: {raw:?} (wrong length)"));
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// Alpha-3 codes and names (English and Chinese) of the countries braid's
/// sources commonly write, to ISO 3166-1 alpha-2.
const COUNTRY_ALIASES: &[(&str, &str)] = &[
    ("USA", "US"),
    ("UNITED STATES", "US"),
    ("UNITED STATES OF AMERICA", "US"),
    ("AMERICA", "US"),
    ("美国", "US"),
    ("CHN", "CN"),
    ("CHINA", "CN"),
    ("PRC", "CN"),
    ("PEOPLE'S REPUBLIC OF CHINA", "CN"),
    ("中国", "CN"),
    ("中华人民共和国", "CN"),
    ("GBR", "GB"),
    ("UK", "GB"),
    ("UNITED KINGDOM", "GB"),
    ("GREAT BRITAIN", "GB"),
    ("英国", "GB"),
    ("DEU", "DE"),
    ("GERMANY", "DE"),
    ("DEUTSCHLAND", "DE"),
    ("德国", "DE"),
    ("FRA", "FR"),
    ("FRANCE", "FR"),
    ("法国", "FR"),
    ("JPN", "JP"),
    ("JAPAN", "JP"),
    ("日本", "JP"),
    ("CAN", "CA"),
    ("CANADA", "CA"),
    ("加拿大", "CA"),
    ("AUS", "AU"),
    ("AUSTRALIA", "AU"),
    ("澳大利亚", "AU"),
    ("HKG", "HK"),
    ("HONG KONG", "HK"),
    ("香港", "HK"),
    ("TWN", "TW"),
    ("TAIWAN", "TW"),
    ("台湾", "TW"),
    ("SGP", "SG"),
    ("SINGAPORE", "SG"),
    ("新加坡", "SG"),
    ("KOR", "KR"),
    ("SOUTH KOREA", "KR"),
    ("KOREA", "KR"),
    ("韩国", "KR"),
    ("IND", "IN"),
    ("INDIA", "IN"),
    ("ITA", "IT"),
    ("ITALY", "IT"),
    ("ESP", "ES"),
    ("SPAIN", "ES"),
    ("NLD", "NL"),
    ("NETHERLANDS", "NL"),
    ("BRA", "BR"),
    ("BRAZIL", "BR"),
    ("MEX", "MX"),
    ("MEXICO", "MX"),
];

/// ISO 3166-1 alpha-2, upper case, from an alpha-2 or alpha-3 code or a
/// common name. Alpha-2 codes are checked against the regions of the phone
/// metadata (every ISO country that has a phone plan).
pub fn country(raw: &str) -> Result<String, String> {
    let up = raw.trim().to_uppercase();
    if up.len() == 2 && up.parse::<phonenumber::country::Id>().is_ok() {
        return Ok(up);
    }
    COUNTRY_ALIASES
        .iter()
        .find(|(k, _)| *k == up)
        .map(|(_, v)| (*v).to_owned())
        .ok_or_else(|| format!("unknown country {raw:?}"))
}

/// ISO 4217 code, upper case (`RMB` and `¥`/`￥` read as CNY).
pub fn currency(raw: &str) -> Result<String, String> {
    let up = raw.trim().to_uppercase();
    let mapped = match up.as_str() {
        "RMB" | "¥" | "￥" | "元" | "人民币" => "CNY".to_owned(),
        "US$" => "USD".to_owned(),
        "€" => "EUR".to_owned(),
        "£" => "GBP".to_owned(),
        _ => up,
    };
    if mapped.len() == 3 && mapped.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(mapped)
    } else {
        Err(format!("not an ISO 4217 currency code: {raw:?}"))
    }
}

/// A money amount as text (`1234.5`, `1,234.50`, `$12`, `-3`) to an integer
/// scaled by 10^[`MONEY_SCALE`].
pub fn money(raw: &str) -> Result<i128, String> {
    let bad = || format!("not an amount: {raw:?}");
    let mut s: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, '$' | '¥' | '￥' | '€' | '£' | ' ' | '_'))
        .collect();
    if s.contains('.')
        || s.matches(',').count() > 1
        || s.rsplit(',').next().is_some_and(|t| t.len() == 3)
    {
        s.retain(|c| c != ',');
    }
    let negative = s.starts_with('-');
    let s = s.trim_start_matches(['-', '+']);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > MONEY_SCALE as usize
    {
        return Err(bad());
    }
    let scale = MONEY_SCALE as u32;
    let int_v: i128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_v: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i128>().map_err(|_| bad())? * 10i128.pow(scale - frac.len() as u32)
    };
    let v = int_v
        .checked_mul(10i128.pow(scale))
        .and_then(|x| x.checked_add(frac_v))
        .filter(|x| x.abs() < 10i128.pow(38))
        .ok_or_else(bad)?;
    Ok(if negative { -v } else { v })
}

/// A timestamp written as text to UTC microseconds. Text with an offset or
/// `Z` is exact; wall times without one are read in `zone`; bare dates are
/// midnight in `zone`; all-digit values are Unix seconds (or milliseconds
/// when above 10^11).
pub fn timestamp(raw: &str, zone: Tz) -> Result<i64, String> {
    let s = raw.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().map_err(|_| format!("not a timestamp: {raw:?}"))?;
        return Ok(if n > 100_000_000_000 {
            n * 1000
        } else {
            n * 1_000_000
        });
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).timestamp_micros());
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Ok(t.with_timezone(&Utc).timestamp_micros());
        }
    }
    let wall = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    match wall {
        Some(w) => {
            local_to_utc_micros(w, zone).ok_or_else(|| format!("{raw:?} does not exist in {zone}"))
        }
        None => Err(format!("not a timestamp: {raw:?}")),
    }
}

/// A wall time in `zone` to UTC microseconds; the earlier instant on a DST
/// fall-back, `None` for a time skipped by spring-forward.
pub fn local_to_utc_micros(wall: NaiveDateTime, zone: Tz) -> Option<i64> {
    zone.from_local_datetime(&wall)
        .earliest()
        .map(|t| t.with_timezone(&Utc).timestamp_micros())
}

/// A date as text (`1990-05-28`, `1990/05/28`, `19900528`, or a timestamp's date part).
pub fn date(raw: &str) -> Result<NaiveDate, String> {
    let s = raw.trim();
    ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%d.%m.%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
        .or_else(|| {
            s.get(..10)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        })
        .ok_or_else(|| format!("not a date: {raw:?}"))
}

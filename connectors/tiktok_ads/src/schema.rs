//! Arrow schemas of the streams and the conversions from TikTok's wire values.
//!
//! - Ids are text: TikTok's ids have 19 digits (above 2^53) and arrive as
//!   JSON strings.
//! - Entity times (`create_time`, `modify_time`: `2026-09-14 08:21:05`) are
//!   UTC wall times; the advertiser's `create_time` is Unix seconds. Both
//!   become `Timestamp(µs, UTC)`.
//! - Money is the account's currency as `Decimal128(38, 6)` (TikTok writes
//!   two decimals; report metrics arrive as strings and decode straight to
//!   decimals and integers).
//! - Report days (`stat_time_day`, `2026-12-01 00:00:00`) are calendar days
//!   in the account's time zone, `Date32`; each report row carries the
//!   account's `currency` and `account_timezone`.

use std::sync::Arc;

use arrow_array::builder::{Date32Builder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};

/// Scale of every money column.
pub const MONEY_SCALE: i8 = 6;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn money() -> DataType {
    DataType::Decimal128(38, MONEY_SCALE)
}

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn key(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// `advertisers` (`/open_api/v1.3/advertiser/info/`).
pub fn advertisers() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key("advertiser_id"),
        s("name"),
        s("company"),
        s("currency"),
        s("timezone"),
        s("display_timezone"),
        s("country"),
        s("status"),
        s("role"),
        Field::new("balance", money(), true),
        Field::new("create_time", ts(), true),
    ]))
}

/// `campaigns` (`/open_api/v1.3/campaign/get/`).
pub fn campaigns() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key("campaign_id"),
        key("advertiser_id"),
        s("campaign_name"),
        s("objective_type"),
        s("campaign_type"),
        s("budget_mode"),
        Field::new("budget", money(), true),
        s("operation_status"),
        s("secondary_status"),
        Field::new("is_smart_performance_campaign", DataType::Boolean, true),
        Field::new("create_time", ts(), true),
        Field::new("modify_time", ts(), true),
    ]))
}

/// `adgroups` (`/open_api/v1.3/adgroup/get/`).
pub fn adgroups() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key("adgroup_id"),
        s("campaign_id"),
        key("advertiser_id"),
        s("adgroup_name"),
        s("placement_type"),
        s("budget_mode"),
        Field::new("budget", money(), true),
        s("bid_type"),
        Field::new("bid_price", money(), true),
        s("billing_event"),
        s("optimization_goal"),
        s("operation_status"),
        s("secondary_status"),
        Field::new("create_time", ts(), true),
        Field::new("modify_time", ts(), true),
    ]))
}

/// `ads` (`/open_api/v1.3/ad/get/`).
pub fn ads() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key("ad_id"),
        s("adgroup_id"),
        s("campaign_id"),
        key("advertiser_id"),
        s("ad_name"),
        s("ad_format"),
        s("ad_text"),
        s("call_to_action"),
        s("landing_page_url"),
        s("operation_status"),
        s("secondary_status"),
        Field::new("create_time", ts(), true),
        Field::new("modify_time", ts(), true),
    ]))
}

/// TikTok's metric names of the report streams, in column order.
pub const METRICS: [&str; 4] = ["spend", "impressions", "clicks", "conversion"];

/// The parent ids a report row of `level` carries (attribute metrics).
pub fn parents(level: &str) -> &'static [&'static str] {
    match level {
        "ad" => &["campaign_id", "adgroup_id"],
        "adgroup" => &["campaign_id"],
        _ => &[],
    }
}

/// A daily report stream at `level` (`campaign`, `adgroup` or `ad`).
pub fn report(level: &str) -> SchemaRef {
    let mut f = vec![
        key("advertiser_id"),
        Field::new("stat_date", DataType::Date32, false),
        key(&format!("{level}_id")),
    ];
    f.extend(parents(level).iter().map(|p| s(p)));
    f.push(s(&format!("{level}_name")));
    f.push(Field::new("spend", money(), true));
    for m in &METRICS[1..] {
        f.push(Field::new(*m, DataType::Int64, true));
    }
    f.push(s("currency"));
    f.push(s("account_timezone"));
    Arc::new(Schema::new(f))
}

/// The shape a record is decoded in: times and dates as text, the rest as in the stream.
pub fn wire(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(..) | DataType::Date32 => {
                    Field::new(f.name(), DataType::Utf8, true)
                }
                _ => f.as_ref().clone().with_nullable(true),
            })
            .collect::<Vec<_>>(),
    ))
}

/// A UTC wall time (`YYYY-MM-DD HH:MM:SS`), or Unix seconds, as UTC microseconds.
pub fn utc_micros(text: &str) -> Option<i64> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().ok()?.checked_mul(1_000_000);
    }
    let local = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%SZ"))
        .ok()?;
    Some(local.and_utc().timestamp_micros())
}

/// A report day (`2026-12-01 00:00:00`, or `2026-12-01`) as days since the epoch.
pub fn day_number(text: &str) -> Option<i32> {
    let t = text.trim();
    let d = NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()?;
    Some((d - NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

/// Converts a wire batch to the stream's schema: text times → UTC
/// timestamps, text days → dates. Errors name the column and value.
pub fn to_stream(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        let out: ArrayRef = match field.data_type() {
            DataType::Timestamp(..) => {
                let text = col.as_string::<i32>();
                let mut b = TimestampMicrosecondBuilder::with_capacity(text.len());
                for v in text.iter() {
                    match v.map(str::trim).filter(|v| !v.is_empty()) {
                        None => b.append_null(),
                        Some(v) => b.append_value(utc_micros(v).ok_or_else(|| {
                            format!(
                                "`{}` is not a time like 2026-11-02 10:23:45: {v:?}",
                                field.name()
                            )
                        })?),
                    }
                }
                Arc::new(b.finish().with_timezone("UTC"))
            }
            DataType::Date32 => {
                let text = col.as_string::<i32>();
                let mut b = Date32Builder::with_capacity(text.len());
                for v in text.iter() {
                    match v {
                        None => b.append_null(),
                        Some(v) => b.append_value(day_number(v).ok_or_else(|| {
                            format!("`{}` is not a day like 2026-12-01: {v:?}", field.name())
                        })?),
                    }
                }
                Arc::new(b.finish())
            }
            _ => col.clone(),
        };
        if !field.is_nullable() && out.null_count() > 0 {
            return Err(format!("a record has no `{}`", field.name()));
        }
        cols.push(out);
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
}

/// A column of `n` copies of `value`.
pub fn constant(value: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_wall_times_unix_seconds_and_report_days_convert() {
        let us = utc_micros("2026-11-02 08:00:00").unwrap();
        assert_eq!(
            chrono::DateTime::from_timestamp_micros(us)
                .unwrap()
                .to_rfc3339(),
            "2026-11-02T08:00:00+00:00"
        );
        assert_eq!(utc_micros("1700000000"), Some(1_700_000_000_000_000));
        assert_eq!(utc_micros("soon"), None);
        assert_eq!(day_number("1970-01-02 00:00:00"), Some(1));
        let r = report("ad");
        let names: Vec<&str> = r.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "advertiser_id",
                "stat_date",
                "ad_id",
                "campaign_id",
                "adgroup_id",
                "ad_name",
                "spend",
                "impressions",
                "clicks",
                "conversion",
                "currency",
                "account_timezone"
            ]
        );
    }
}

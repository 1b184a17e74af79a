//! Arrow schemas of the streams and the conversions from Ocean Engine's wire values.
//!
//! - Ids are text: project and promotion ids exceed 2^53 (Ocean Engine sends
//!   them as JSON numbers; arrow-json keeps their digits when coercing to text).
//! - Wall times (`2026-11-02 10:23:45`) are Asia/Shanghai, which has been
//!   UTC+8 all year since 1991; they become `Timestamp(µs, UTC)`.
//! - Money is yuan as `Decimal128(38, 4)` (Ocean Engine gives at most two
//!   decimals; four leave room for 厘-level prices).
//! - Report days (`stat_time_day`) are Asia/Shanghai calendar days, `Date32`.

use std::sync::Arc;

use arrow_array::builder::{Date32Builder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};

/// Scale of every money column.
pub const MONEY_SCALE: i8 = 4;

/// Seconds east of UTC of Asia/Shanghai.
const SHANGHAI_OFFSET_SECS: i64 = 8 * 3600;

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

/// `advertisers` (`/open_api/2/advertiser/info/`).
pub fn advertisers() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key("id"),
        s("name"),
        s("company"),
        s("role"),
        s("status"),
        s("address"),
        s("first_industry_name"),
        s("second_industry_name"),
        Field::new("create_time", ts(), true),
    ]))
}

/// `projects` (`/open_api/v3.0/project/list/`).
pub fn projects() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key("project_id"),
        key("advertiser_id"),
        s("name"),
        s("delivery_mode"),
        s("landing_type"),
        s("ad_type"),
        s("status"),
        s("opt_status"),
        s("budget_mode"),
        Field::new("budget", money(), true),
        s("pricing"),
        Field::new("project_create_time", ts(), true),
        Field::new("project_modify_time", ts(), true),
    ]))
}

/// `promotions` (`/open_api/v3.0/promotion/list/`).
pub fn promotions() -> SchemaRef {
    Arc::new(Schema::new(vec![
        key("promotion_id"),
        s("project_id"),
        key("advertiser_id"),
        s("promotion_name"),
        s("status"),
        s("opt_status"),
        Field::new("budget", money(), true),
        Field::new("cpa_bid", money(), true),
        s("learning_phase"),
        Field::new("promotion_create_time", ts(), true),
        Field::new("promotion_modify_time", ts(), true),
    ]))
}

/// The metric columns every report stream carries.
fn metrics() -> Vec<Field> {
    vec![
        Field::new("stat_cost", money(), true),
        Field::new("show_cnt", DataType::Int64, true),
        Field::new("click_cnt", DataType::Int64, true),
        Field::new("convert_cnt", DataType::Int64, true),
    ]
}

/// A daily report stream at `level` (`project` or `promotion`).
pub fn report(level: &str) -> SchemaRef {
    let mut f = vec![
        key("advertiser_id"),
        Field::new("stat_date", DataType::Date32, false),
        key(&format!("{level}_id")),
        s(&format!("{level}_name")),
    ];
    f.extend(metrics());
    Arc::new(Schema::new(f))
}

/// Ocean Engine's metric names, in the order of [`report`]'s metric columns.
pub const METRICS: [&str; 4] = ["stat_cost", "show_cnt", "click_cnt", "convert_cnt"];

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

/// An Asia/Shanghai wall time (`YYYY-MM-DD HH:MM:SS`, or a bare date) as UTC microseconds.
pub fn shanghai_micros(text: &str) -> Option<i64> {
    let t = text.trim();
    let local = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| d.and_time(Default::default()))
        })
        .ok()?;
    Some(local.and_utc().timestamp_micros() - SHANGHAI_OFFSET_SECS * 1_000_000)
}

/// A report day (`2026-12-01`, or `2026-12-01 00:00:00`) as days since the epoch.
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
                        Some(v) => b.append_value(shanghai_micros(v).ok_or_else(|| {
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
    fn shanghai_wall_times_are_eight_hours_ahead_of_utc() {
        // 2026-11-02 08:00 in Shanghai is midnight UTC.
        let us = shanghai_micros("2026-11-02 08:00:00").unwrap();
        assert_eq!(
            chrono::DateTime::from_timestamp_micros(us)
                .unwrap()
                .to_rfc3339(),
            "2026-11-02T00:00:00+00:00"
        );
        assert_eq!(shanghai_micros("2026-11-02"), Some(us - 8 * 3_600_000_000));
        assert_eq!(shanghai_micros("yesterday"), None);
        assert_eq!(day_number("1970-01-02"), Some(1));
        assert_eq!(day_number("1970-01-02 00:00:00"), Some(1));
    }
}

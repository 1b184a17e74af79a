//! Arrow schemas of the streams and the conversions from WeChat's wire values.
//!
//! - `openid` (per official account) and `unionid` (per open-platform
//!   account, shared with the mini-program, the app and the web shop) are
//!   text identifiers; `unionid` is absent for followers whose account is not
//!   bound to an open platform.
//! - `subscribe` (`0`/`1`) becomes a boolean; `subscribe_time` (epoch
//!   seconds) a `Timestamp(µs, UTC)`.
//! - Analytics days (`ref_date`) are Asia/Shanghai calendar days, `Date32`.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Date32Builder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

fn day() -> Field {
    Field::new("ref_date", DataType::Date32, false)
}

/// `followers` (`user/get` + `user/info/batchget`).
pub fn followers() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("openid", DataType::Utf8, false),
        s("unionid"),
        Field::new("subscribe", DataType::Boolean, true),
        s("language"),
        Field::new(
            "subscribe_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        s("remark"),
        int("groupid"),
        Field::new(
            "tagid_list",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        ),
        s("subscribe_scene"),
        int("qr_scene"),
        s("qr_scene_str"),
    ]))
}

/// `user_summary` (`datacube/getusersummary`): per day and source.
pub fn user_summary() -> SchemaRef {
    Arc::new(Schema::new(vec![
        day(),
        Field::new("user_source", DataType::Int64, false),
        int("new_user"),
        int("cancel_user"),
    ]))
}

/// `user_cumulate` (`datacube/getusercumulate`): followers at the end of each day.
pub fn user_cumulate() -> SchemaRef {
    Arc::new(Schema::new(vec![day(), int("cumulate_user")]))
}

/// The shape a record is decoded in: dates as text, booleans and times as
/// the integers WeChat sends, every field nullable.
pub fn wire(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Date32 => Field::new(f.name(), DataType::Utf8, true),
                DataType::Boolean | DataType::Timestamp(..) => {
                    Field::new(f.name(), DataType::Int64, true)
                }
                _ => f.as_ref().clone().with_nullable(true),
            })
            .collect::<Vec<_>>(),
    ))
}

/// A day (`2026-12-01`) as days since the epoch.
pub fn day_number(text: &str) -> Option<i32> {
    let d = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some((d - NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

/// Converts a wire batch to the stream's schema. Errors name the column and value.
pub fn to_stream(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        let out: ArrayRef = match field.data_type() {
            DataType::Boolean => {
                let v = col.as_primitive::<Int64Type>();
                let mut b = BooleanBuilder::with_capacity(v.len());
                for x in v.iter() {
                    b.append_option(x.map(|x| x != 0));
                }
                Arc::new(b.finish())
            }
            DataType::Timestamp(..) => {
                let v = col.as_primitive::<Int64Type>();
                let mut b = TimestampMicrosecondBuilder::with_capacity(v.len());
                for x in v.iter() {
                    match x {
                        // 0 is what WeChat would send for "unknown".
                        None | Some(0) => b.append_null(),
                        Some(secs) => {
                            b.append_value(secs.checked_mul(1_000_000).ok_or_else(|| {
                                format!("`{}` is not epoch seconds: {secs}", field.name())
                            })?)
                        }
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

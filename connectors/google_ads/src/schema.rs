//! Arrow schemas of the streams, the GAQL fields behind each column, and
//! Google's wire values → typed columns.
//!
//! A searchStream answer is a JSON array of batches, each with `results`
//! (rows of nested camelCase objects: `{"campaign": {"id": "…"}, "metrics":
//! {"costMicros": "…"}}`). It is decoded in one pass by arrow-json with a
//! wire schema built from the selected fields (fields nobody selected are
//! skipped), then each column is converted: ids stay strings (Google's are
//! int64 and ad group ids exceed 2^53 in large accounts), int64 counts are
//! `Int64`, `*_micros` become `Decimal128(38, 6)` in the account currency
//! exactly (micros are millionths), double money (`conversions_value`) is
//! rounded to the same decimal, `conversions` stays `Float64` (Google
//! attributes fractions of a conversion), dates are `Date32` days in the
//! account's time zone.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;

/// Scale of every money column (micros).
pub const SCALE: i8 = 6;

/// How a wire value becomes a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// Text (ids, names, enums, resource names).
    Str,
    /// An int64 count (sent as a JSON string).
    Int,
    /// Micros of the account currency → `Decimal128(38, 6)`, exactly.
    Micros,
    /// A double kept as `Float64`.
    Double,
    /// A double amount of money → `Decimal128(38, 6)`, rounded.
    Money,
    /// `YYYY-MM-DD` → `Date32`.
    Date,
    /// A boolean.
    Bool,
}

/// Where a column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    /// The account the query ran for.
    CustomerId,
    /// The account's currency.
    Currency,
    /// The account's time zone.
    TimeZone,
    /// Midnight (account time zone) of the row's `segments.date`, in UTC.
    DayStart,
    /// A GAQL field.
    Gaql(&'static str, Conv),
}

/// One column of a stream.
#[derive(Debug, Clone, Copy)]
pub struct Col {
    /// Column name.
    pub name: &'static str,
    /// Its source.
    pub src: Src,
    /// Part of the primary key (never null).
    pub key: bool,
}

const fn c(name: &'static str, src: Src) -> Col {
    Col {
        name,
        src,
        key: false,
    }
}

const fn k(name: &'static str, src: Src) -> Col {
    Col {
        name,
        src,
        key: true,
    }
}

use Conv::*;
use Src::*;

/// `campaigns` (`FROM campaign`, v23 and later: `start_date_time`/`end_date_time`,
/// `yyyy-MM-dd HH:mm:ss` in the account zone, of which the day is kept).
pub const CAMPAIGNS: &[Col] = &[
    k("customer_id", CustomerId),
    k("id", Gaql("campaign.id", Str)),
    c("resource_name", Gaql("campaign.resource_name", Str)),
    c("name", Gaql("campaign.name", Str)),
    c("status", Gaql("campaign.status", Str)),
    c(
        "advertising_channel_type",
        Gaql("campaign.advertising_channel_type", Str),
    ),
    c(
        "bidding_strategy_type",
        Gaql("campaign.bidding_strategy_type", Str),
    ),
    c("start_date", Gaql("campaign.start_date_time", Date)),
    c("end_date", Gaql("campaign.end_date_time", Date)),
    c(
        "budget_amount",
        Gaql("campaign_budget.amount_micros", Micros),
    ),
    c("currency", Currency),
];

/// `campaigns` before v23 (`campaign.start_date`/`end_date`, `YYYY-MM-DD`).
pub const CAMPAIGNS_BEFORE_V23: &[Col] = &[
    k("customer_id", CustomerId),
    k("id", Gaql("campaign.id", Str)),
    c("resource_name", Gaql("campaign.resource_name", Str)),
    c("name", Gaql("campaign.name", Str)),
    c("status", Gaql("campaign.status", Str)),
    c(
        "advertising_channel_type",
        Gaql("campaign.advertising_channel_type", Str),
    ),
    c(
        "bidding_strategy_type",
        Gaql("campaign.bidding_strategy_type", Str),
    ),
    c("start_date", Gaql("campaign.start_date", Date)),
    c("end_date", Gaql("campaign.end_date", Date)),
    c(
        "budget_amount",
        Gaql("campaign_budget.amount_micros", Micros),
    ),
    c("currency", Currency),
];

/// `ad_groups` (`FROM ad_group`).
pub const AD_GROUPS: &[Col] = &[
    k("customer_id", CustomerId),
    k("id", Gaql("ad_group.id", Str)),
    c("campaign_id", Gaql("campaign.id", Str)),
    c("resource_name", Gaql("ad_group.resource_name", Str)),
    c("name", Gaql("ad_group.name", Str)),
    c("status", Gaql("ad_group.status", Str)),
    c("type", Gaql("ad_group.type", Str)),
    c("cpc_bid", Gaql("ad_group.cpc_bid_micros", Micros)),
    c("currency", Currency),
];

/// `campaign_daily_metrics` (`FROM campaign`, segmented by `segments.date`).
pub const CAMPAIGN_DAILY_METRICS: &[Col] = &[
    k("customer_id", CustomerId),
    k("campaign_id", Gaql("campaign.id", Str)),
    k("date", Gaql("segments.date", Date)),
    c("campaign_name", Gaql("campaign.name", Str)),
    c("campaign_status", Gaql("campaign.status", Str)),
    c("impressions", Gaql("metrics.impressions", Int)),
    c("clicks", Gaql("metrics.clicks", Int)),
    c("cost", Gaql("metrics.cost_micros", Micros)),
    c("conversions", Gaql("metrics.conversions", Double)),
    c(
        "conversions_value",
        Gaql("metrics.conversions_value", Money),
    ),
    c("currency", Currency),
    c("time_zone", TimeZone),
];

/// `click_views` (`FROM click_view`, one day per query).
pub const CLICK_VIEWS: &[Col] = &[
    k("customer_id", CustomerId),
    k("gclid", Gaql("click_view.gclid", Str)),
    c("date", Gaql("segments.date", Date)),
    c("day_start", DayStart),
    c("campaign_id", Gaql("campaign.id", Str)),
    c("ad_group_id", Gaql("ad_group.id", Str)),
    c("ad_group_ad", Gaql("click_view.ad_group_ad", Str)),
    c("page_number", Gaql("click_view.page_number", Int)),
    c("device", Gaql("segments.device", Str)),
    c("click_type", Gaql("segments.click_type", Str)),
    c("time_zone", TimeZone),
];

/// `customer`: the account's own settings (not a stream).
pub const CUSTOMER: &[Col] = &[
    c("id", Gaql("customer.id", Str)),
    c("descriptive_name", Gaql("customer.descriptive_name", Str)),
    c("currency_code", Gaql("customer.currency_code", Str)),
    c("time_zone", Gaql("customer.time_zone", Str)),
    c("manager", Gaql("customer.manager", Bool)),
];

fn out_type(src: Src) -> DataType {
    match src {
        CustomerId | Currency | TimeZone => DataType::Utf8,
        DayStart => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Gaql(_, conv) => match conv {
            Str => DataType::Utf8,
            Int => DataType::Int64,
            Micros | Money => DataType::Decimal128(38, SCALE),
            Double => DataType::Float64,
            Date => DataType::Date32,
            Bool => DataType::Boolean,
        },
    }
}

fn wire_type(conv: Conv) -> DataType {
    match conv {
        Str | Date => DataType::Utf8,
        Int | Micros => DataType::Int64,
        Double | Money => DataType::Float64,
        Bool => DataType::Boolean,
    }
}

/// The stream schema of `cols`.
pub fn schema(cols: &[Col]) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .map(|c| Field::new(c.name, out_type(c.src), !c.key))
            .collect::<Vec<_>>(),
    ))
}

/// The GAQL fields behind `cols`, in order, once each.
pub fn gaql_fields(cols: &[Col]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for c in cols {
        if let Gaql(f, _) = c.src {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

/// `a_b_c` → `aBC`, the REST JSON name of a field part.
pub fn camel(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut up = false;
    for ch in part.chars() {
        if ch == '_' {
            up = true;
        } else if up {
            out.extend(ch.to_uppercase());
            up = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// The record schema of one streamed batch: `results` (rows nested by
/// resource in camelCase) and the `error` a stream may end with.
pub fn batch_wire(cols: &[Col]) -> SchemaRef {
    let mut objects: Vec<(String, Vec<Field>)> = Vec::new();
    for c in cols {
        let Gaql(f, conv) = c.src else { continue };
        let (obj, field) = f.split_once('.').unwrap_or((f, ""));
        let (obj, field) = (camel(obj), camel(field));
        let entry = match objects.iter().position(|(o, _)| *o == obj) {
            Some(i) => &mut objects[i].1,
            None => {
                objects.push((obj, Vec::new()));
                &mut objects.last_mut().expect("just pushed").1
            }
        };
        if !entry.iter().any(|x| x.name() == &field) {
            entry.push(Field::new(field, wire_type(conv), true));
        }
    }
    let row = DataType::Struct(Fields::from(
        objects
            .into_iter()
            .map(|(o, fs)| Field::new(o, DataType::Struct(Fields::from(fs)), true))
            .collect::<Vec<_>>(),
    ));
    let error = DataType::Struct(Fields::from(vec![
        Field::new("code", DataType::Int64, true),
        Field::new("message", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, true),
    ]));
    Arc::new(Schema::new(vec![
        Field::new(
            "results",
            DataType::List(Arc::new(Field::new("item", row, true))),
            true,
        ),
        Field::new("error", error, true),
    ]))
}

/// The account a batch of rows belongs to.
#[derive(Debug, Clone)]
pub struct Account {
    /// Customer id.
    pub id: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// IANA time zone.
    pub time_zone: String,
}

/// The error element a streamed answer carries, if any: `status: message`.
pub fn stream_error(batches: &RecordBatch) -> Option<String> {
    let e = batches.column_by_name("error")?.as_struct();
    (0..e.len()).find(|i| e.is_valid(*i)).map(|i| {
        let text = |name: &str| {
            e.column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .filter(|c| c.is_valid(i))
                .map(|c| c.value(i).to_owned())
                .unwrap_or_default()
        };
        format!("{}: {}", text("status"), text("message"))
    })
}

/// The rows of the decoded batches, as one struct array.
fn rows(batches: &RecordBatch) -> Result<StructArray, String> {
    let list = batches
        .column_by_name("results")
        .ok_or("no results column")?
        .as_list::<i32>();
    let offsets = list.value_offsets();
    let (first, last) = (
        offsets.first().copied().unwrap_or(0) as usize,
        offsets.last().copied().unwrap_or(0) as usize,
    );
    Ok(list.values().slice(first, last - first).as_struct().clone())
}

/// The wire column of GAQL field `f`, with the nulls of its parent object.
fn leaf(rows: &StructArray, f: &str) -> Option<(ArrayRef, Option<arrow_array::BooleanArray>)> {
    let (obj, field) = f.split_once('.')?;
    let parent = rows.column_by_name(&camel(obj))?.as_struct();
    let col = parent.column_by_name(&camel(field))?.clone();
    let valid = parent
        .nulls()
        .map(|n| BooleanArray::from(n.iter().collect::<Vec<_>>()));
    Some((col, valid))
}

/// Midnight of `day` in `tz`, as UTC microseconds.
pub fn day_start_micros(day: NaiveDate, tz: chrono_tz::Tz) -> Option<i64> {
    use chrono::TimeZone;
    let midnight = day.and_hms_opt(0, 0, 0)?;
    let local = tz
        .from_local_datetime(&midnight)
        .earliest()
        // A day that starts in a DST gap starts at 01:00.
        .or_else(|| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        })?;
    Some(local.timestamp_micros())
}

/// `2026-12-01`, or the day of `2026-12-01 00:00:00`.
fn parse_day(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.len() > 10 && !s[10..].starts_with(' ') {
        return None;
    }
    let d = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
    Some((d - NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
}

/// Converts the decoded batches of one answer into the stream's columns.
/// Errors name the column and the value.
pub fn to_stream(
    batches: &RecordBatch,
    cols: &[Col],
    schema: &SchemaRef,
    account: &Account,
) -> Result<RecordBatch, String> {
    let rows = rows(batches)?;
    let n = rows.len();
    let tz: chrono_tz::Tz = account.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let mut out: Vec<ArrayRef> = Vec::with_capacity(cols.len());
    let constant = |v: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
    };
    // Days, for the day_start column.
    let mut days: Option<Vec<Option<i32>>> = None;
    for col in cols {
        let arr: ArrayRef = match col.src {
            CustomerId => constant(&account.id),
            Currency => constant(&account.currency),
            TimeZone => constant(&account.time_zone),
            DayStart => {
                let d = days.clone().unwrap_or_else(|| vec![None; n]);
                let mut b = TimestampMicrosecondBuilder::with_capacity(n);
                for v in d {
                    let micros = v
                        .and_then(braid_sdk::report_window::date_from_days)
                        .and_then(|d| day_start_micros(d, tz));
                    b.append_option(micros);
                }
                Arc::new(b.finish().with_timezone("UTC"))
            }
            Gaql(f, conv) => {
                let (wire, parent) = match leaf(&rows, f) {
                    Some(x) => x,
                    None => (arrow_array::new_null_array(&wire_type(conv), n), None),
                };
                let valid =
                    |i: usize| wire.is_valid(i) && parent.as_ref().is_none_or(|p| p.value(i));
                match conv {
                    Str => {
                        let s = wire.as_string::<i32>();
                        let mut b = StringBuilder::with_capacity(n, n * 16);
                        for i in 0..n {
                            b.append_option(valid(i).then(|| s.value(i)));
                        }
                        Arc::new(b.finish())
                    }
                    Int => {
                        let a = wire.as_primitive::<Int64Type>();
                        let mut b = Int64Builder::with_capacity(n);
                        for i in 0..n {
                            b.append_option(valid(i).then(|| a.value(i)));
                        }
                        Arc::new(b.finish())
                    }
                    Micros => {
                        let a = wire.as_primitive::<Int64Type>();
                        let mut b = Decimal128Builder::with_capacity(n);
                        for i in 0..n {
                            b.append_option(valid(i).then(|| i128::from(a.value(i))));
                        }
                        Arc::new(
                            b.finish()
                                .with_precision_and_scale(38, SCALE)
                                .map_err(|e| e.to_string())?,
                        )
                    }
                    Double => {
                        let a = wire.as_primitive::<Float64Type>();
                        let mut b = Float64Builder::with_capacity(n);
                        for i in 0..n {
                            b.append_option(valid(i).then(|| a.value(i)));
                        }
                        Arc::new(b.finish())
                    }
                    Money => {
                        let a = wire.as_primitive::<Float64Type>();
                        let mut b = Decimal128Builder::with_capacity(n);
                        for i in 0..n {
                            if !valid(i) {
                                b.append_null();
                                continue;
                            }
                            let x = a.value(i);
                            if !x.is_finite() {
                                return Err(format!("`{}` is not a finite amount: {x}", col.name));
                            }
                            b.append_value((x * 1e6).round() as i128);
                        }
                        Arc::new(
                            b.finish()
                                .with_precision_and_scale(38, SCALE)
                                .map_err(|e| e.to_string())?,
                        )
                    }
                    Date => {
                        let s = wire.as_string::<i32>();
                        let mut b = Date32Builder::with_capacity(n);
                        let mut seen = Vec::with_capacity(n);
                        for i in 0..n {
                            if !valid(i) {
                                b.append_null();
                                seen.push(None);
                                continue;
                            }
                            let v = s.value(i);
                            let d = parse_day(v).ok_or_else(|| {
                                format!("`{}` is not a day like 2026-12-01: {v:?}", col.name)
                            })?;
                            b.append_value(d);
                            seen.push(Some(d));
                        }
                        if days.is_none() {
                            days = Some(seen);
                        }
                        Arc::new(b.finish())
                    }
                    Bool => {
                        let a = wire.as_boolean();
                        let mut b = BooleanBuilder::with_capacity(n);
                        for i in 0..n {
                            b.append_option(valid(i).then(|| a.value(i)));
                        }
                        Arc::new(b.finish())
                    }
                }
            }
        };
        if col.key && arr.null_count() > 0 {
            return Err(format!("a row has no `{}`", col.name));
        }
        out.push(arr);
    }
    RecordBatch::try_new(schema.clone(), out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_and_gaql_fields() {
        assert_eq!(camel("cost_micros"), "costMicros");
        assert_eq!(camel("ad_group"), "adGroup");
        let f = gaql_fields(CAMPAIGN_DAILY_METRICS);
        assert_eq!(f[0], "campaign.id");
        assert!(f.contains(&"metrics.cost_micros"));
        let w = batch_wire(CAMPAIGN_DAILY_METRICS);
        assert!(w.field_with_name("results").is_ok());
    }

    #[test]
    fn days_and_date_times_give_the_day() {
        assert_eq!(parse_day("1970-01-02"), Some(1));
        assert_eq!(parse_day("1970-01-02 23:59:59"), Some(1));
        assert_eq!(parse_day("1970-01-02T00:00"), None);
        assert_eq!(parse_day("soon"), None);
    }

    #[test]
    fn midnight_in_the_account_zone() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let us = day_start_micros(d, chrono_tz::America::New_York).unwrap();
        assert_eq!(
            chrono::DateTime::from_timestamp_micros(us)
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T05:00:00+00:00"
        );
    }
}

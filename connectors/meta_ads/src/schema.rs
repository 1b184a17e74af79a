//! Arrow schemas of the streams, and Meta's wire values → typed columns.
//!
//! Meta sends ids, counts and money as strings (`"spend": "12.34"`,
//! `"impressions": "1503"`), budgets in the currency's minor units
//! (`"daily_budget": "5000"` is 50.00 USD, 5000 JPY), and times as
//! `2026-10-01T09:30:00-0700`. Pages are decoded by arrow-json with a wire
//! schema of strings (lists of structs of strings for `actions`,
//! `field_data`), then each column is converted to its stream type: ids stay
//! strings, counts become `Int64`, money `Decimal128(38, 9)` in major units,
//! days `Date32`, times `Timestamp(µs, UTC)`.

use std::sync::Arc;

use arrow_array::builder::{
    Date32Builder, Decimal128Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Scale of every money and conversion column.
pub const SCALE: i8 = 9;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn dec() -> DataType {
    DataType::Decimal128(38, SCALE)
}

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn f(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, true)
}

fn id() -> Field {
    Field::new("id", DataType::Utf8, false)
}

/// `list<struct<action_type utf8, value decimal(38,9)>>`, Meta's action stats.
pub fn actions_type() -> DataType {
    list(DataType::Struct(Fields::from(vec![
        s("action_type"),
        f("value", dec()),
    ])))
}

fn list(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

/// `list<struct<name utf8, values list<utf8>>>`, a lead's answers.
pub fn field_data_type() -> DataType {
    list(DataType::Struct(Fields::from(vec![
        s("name"),
        f("values", list(DataType::Utf8)),
    ])))
}

/// `campaigns`.
pub fn campaigns() -> SchemaRef {
    Arc::new(Schema::new(vec![
        id(),
        s("account_id"),
        s("name"),
        s("objective"),
        s("status"),
        s("effective_status"),
        s("buying_type"),
        f("daily_budget", dec()),
        f("lifetime_budget", dec()),
        s("currency"),
        f("created_time", ts()),
        f("updated_time", ts()),
        f("start_time", ts()),
        f("stop_time", ts()),
    ]))
}

/// `adsets`.
pub fn adsets() -> SchemaRef {
    Arc::new(Schema::new(vec![
        id(),
        s("account_id"),
        s("campaign_id"),
        s("name"),
        s("status"),
        s("effective_status"),
        s("optimization_goal"),
        s("billing_event"),
        s("bid_strategy"),
        f("daily_budget", dec()),
        f("lifetime_budget", dec()),
        s("currency"),
        f("created_time", ts()),
        f("updated_time", ts()),
        f("start_time", ts()),
        f("end_time", ts()),
    ]))
}

/// `ads`.
pub fn ads() -> SchemaRef {
    Arc::new(Schema::new(vec![
        id(),
        s("account_id"),
        s("campaign_id"),
        s("adset_id"),
        s("name"),
        s("status"),
        s("effective_status"),
        s("creative_id"),
        f("created_time", ts()),
        f("updated_time", ts()),
    ]))
}

/// `ad_insights`: one row per ad per day.
pub fn ad_insights() -> SchemaRef {
    Arc::new(Schema::new(vec![
        // `<ad_id>:<date_start>`: one id per row for readers that want a single key.
        Field::new("insight_id", DataType::Utf8, false),
        s("account_id"),
        s("campaign_id"),
        s("campaign_name"),
        s("adset_id"),
        s("adset_name"),
        Field::new("ad_id", DataType::Utf8, false),
        s("ad_name"),
        Field::new("date_start", DataType::Date32, false),
        f("date_stop", DataType::Date32),
        f("impressions", DataType::Int64),
        f("clicks", DataType::Int64),
        f("spend", dec()),
        s("currency"),
        s("account_timezone"),
        f("actions", actions_type()),
        f("action_values", actions_type()),
        f("conversions", dec()),
        f("conversion_value", dec()),
    ]))
}

/// `leads`.
pub fn leads() -> SchemaRef {
    Arc::new(Schema::new(vec![
        id(),
        Field::new("created_time", ts(), false),
        s("ad_id"),
        s("form_id"),
        s("email"),
        s("phone"),
        s("full_name"),
        f("field_data", field_data_type()),
    ]))
}

/// The Graph API `fields` a stream asks for.
pub fn graph_fields(stream: &str) -> &'static str {
    match stream {
        "campaigns" => "id,account_id,name,objective,status,effective_status,buying_type,daily_budget,lifetime_budget,created_time,updated_time,start_time,stop_time",
        "adsets" => "id,account_id,campaign_id,name,status,effective_status,optimization_goal,billing_event,bid_strategy,daily_budget,lifetime_budget,created_time,updated_time,start_time,end_time",
        "ads" => "id,account_id,campaign_id,adset_id,name,status,effective_status,creative,created_time,updated_time",
        "ad_insights" => "account_id,account_currency,campaign_id,campaign_name,adset_id,adset_name,ad_id,ad_name,impressions,clicks,spend,actions,action_values,date_start,date_stop",
        _ => "id,created_time,ad_id,form_id,field_data",
    }
}

/// `[{action_type, value}]` as Meta sends it: both strings.
fn wire_pairs() -> DataType {
    list(DataType::Struct(Fields::from(vec![
        s("action_type"),
        s("value"),
    ])))
}

/// The wire schema of a stream: the JSON as Meta sends it, scalars as strings.
pub fn wire(stream: &str) -> SchemaRef {
    let names: Vec<Field> = match stream {
        "ad_insights" => {
            let mut v: Vec<Field> = ad_insights()
                .fields()
                .iter()
                .filter(|f| {
                    !matches!(
                        f.name().as_str(),
                        "currency"
                            | "insight_id"
                            | "account_timezone"
                            | "conversions"
                            | "conversion_value"
                            | "actions"
                            | "action_values"
                    )
                })
                .map(|f| s(f.name()))
                .collect();
            v.push(s("account_currency"));
            v.push(f("actions", wire_pairs()));
            v.push(f("action_values", wire_pairs()));
            v
        }
        "leads" => vec![
            s("id"),
            s("created_time"),
            s("ad_id"),
            s("form_id"),
            f(
                "field_data",
                list(DataType::Struct(Fields::from(vec![
                    s("name"),
                    f("values", list(DataType::Utf8)),
                ]))),
            ),
        ],
        "ads" => {
            let mut v: Vec<Field> = ads()
                .fields()
                .iter()
                .filter(|f| f.name() != "creative_id")
                .map(|f| s(f.name()))
                .collect();
            v.push(f("creative", DataType::Struct(Fields::from(vec![s("id")]))));
            v
        }
        other => {
            let schema = if other == "campaigns" {
                campaigns()
            } else {
                adsets()
            };
            schema
                .fields()
                .iter()
                .filter(|f| f.name() != "currency")
                .map(|f| s(f.name()))
                .collect()
        }
    };
    Arc::new(Schema::new(names))
}

/// `"12.34"` → 12.34 × 10^scale; `None` when it is not a plain decimal.
pub fn parse_decimal(text: &str, scale: u32) -> Option<i128> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > scale as usize {
        return None;
    }
    let mut v: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    v = v.checked_mul(10i128.pow(scale))?;
    if !frac.is_empty() {
        let f: i128 = frac.parse().ok()?;
        v = v.checked_add(f * 10i128.pow(scale - frac.len() as u32))?;
    }
    Some(if neg { -v } else { v })
}

/// Meta's `2026-10-01T09:30:00-0700` (or RFC 3339) as µs since the epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.timestamp_micros())
}

/// `2026-10-01` as days since the epoch.
pub fn parse_date(text: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// Minor-unit exponent of a currency (Meta's offset 100 → 2, offset 1 → 0).
pub fn currency_exponent(code: &str) -> u32 {
    match code {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "HUF" | "TWD" | "PYG" | "COP" | "CRC" => 0,
        _ => 2,
    }
}

/// What the account says, added to rows.
#[derive(Debug, Clone)]
pub struct Account {
    /// ISO 4217.
    pub currency: String,
    /// IANA zone.
    pub timezone: String,
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a StringArray> {
    batch.column_by_name(name).map(|c| c.as_string::<i32>())
}

fn bad(field: &str, value: &str, what: &str) -> String {
    format!("field `{field}`: {value:?} is not {what}")
}

fn column_of(
    wire: &RecordBatch,
    name: &str,
    target: &DataType,
    minor_exponent: Option<u32>,
) -> Result<ArrayRef, String> {
    let n = wire.num_rows();
    let Some(src) = strings(wire, name) else {
        return Ok(arrow_array::new_null_array(target, n));
    };
    Ok(match target {
        DataType::Utf8 => Arc::new(src.clone()),
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(n);
            for v in src.iter() {
                match v.filter(|v| !v.is_empty()) {
                    None => b.append_null(),
                    Some(v) => b.append_value(v.parse().map_err(|_| bad(name, v, "an integer"))?),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Decimal128(_, _) => {
            let mut b = Decimal128Builder::with_capacity(n);
            for v in src.iter() {
                match v.filter(|v| !v.is_empty()) {
                    None => b.append_null(),
                    Some(v) => {
                        let value = match minor_exponent {
                            // Minor units: an integer, shifted to major units.
                            Some(e) => parse_decimal(v, 0)
                                .and_then(|m| m.checked_mul(10i128.pow(SCALE as u32 - e))),
                            None => parse_decimal(v, SCALE as u32),
                        };
                        b.append_value(value.ok_or_else(|| bad(name, v, "a decimal amount"))?);
                    }
                }
            }
            Arc::new(
                b.finish()
                    .with_precision_and_scale(38, SCALE)
                    .map_err(|e| e.to_string())?,
            )
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(n);
            for v in src.iter() {
                match v.filter(|v| !v.is_empty()) {
                    None => b.append_null(),
                    Some(v) => b.append_value(
                        parse_date(v).ok_or_else(|| bad(name, v, "a date YYYY-MM-DD"))?,
                    ),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, _) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(n);
            for v in src.iter() {
                match v.filter(|v| !v.is_empty()) {
                    None => b.append_null(),
                    Some(v) => b.append_value(parse_time(v).ok_or_else(|| bad(name, v, "a time"))?),
                }
            }
            Arc::new(b.finish().with_timezone("UTC"))
        }
        other => return Err(format!("internal: no conversion of `{name}` to {other}")),
    })
}

/// Meta's `[{action_type, value: "3"}]` → typed action stats, and the sum of
/// the values of `counted` action types.
fn actions(
    wire: &RecordBatch,
    name: &str,
    counted: &[String],
) -> Result<(ArrayRef, ArrayRef), String> {
    let n = wire.num_rows();
    let item = Fields::from(vec![s("action_type"), f("value", dec())]);
    let mut b = ListBuilder::new(StructBuilder::from_fields(item.clone(), 4))
        .with_field(Arc::new(Field::new("item", DataType::Struct(item), true)));
    let mut sums = Decimal128Builder::with_capacity(n);
    let col = wire.column_by_name(name).map(|c| c.as_list::<i32>());
    for row in 0..n {
        let Some(list) = col.filter(|c| c.is_valid(row)) else {
            b.append_null();
            sums.append_null();
            continue;
        };
        let entries = list.value(row);
        let entries = entries.as_struct();
        let types = entries.column(0).as_string::<i32>();
        let values = entries.column(1).as_string::<i32>();
        let mut sum: i128 = 0;
        for k in 0..entries.len() {
            let t = types.is_valid(k).then(|| types.value(k));
            let v = if values.is_valid(k) {
                let text = values.value(k);
                Some(parse_decimal(text, SCALE as u32).ok_or_else(|| bad(name, text, "a number"))?)
            } else {
                None
            };
            if let (Some(t), Some(v)) = (t, v) {
                if counted.iter().any(|c| c == t) {
                    sum += v;
                }
            }
            let sb = b.values();
            sb.field_builder::<StringBuilder>(0)
                .expect("action_type builder")
                .append_option(t);
            sb.field_builder::<Decimal128Builder>(1)
                .expect("value builder")
                .append_option(v);
            sb.append(true);
        }
        b.append(true);
        sums.append_value(sum);
    }
    let list = b.finish();
    // The builder's decimal child has the default precision; give it ours.
    let list = arrow_cast::cast(&list, &actions_type()).map_err(|e| e.to_string())?;
    let sums = sums
        .finish()
        .with_precision_and_scale(38, SCALE)
        .map_err(|e| e.to_string())?;
    Ok((list, Arc::new(sums)))
}

/// A lead's first answer to any of `names`.
fn answer(wire: &RecordBatch, names: &[&str]) -> ArrayRef {
    let n = wire.num_rows();
    let mut b = StringBuilder::with_capacity(n, n * 24);
    let col = wire
        .column_by_name("field_data")
        .map(|c| c.as_list::<i32>());
    for row in 0..n {
        let mut found = None;
        if let Some(list) = col.filter(|c| c.is_valid(row)) {
            let entries = list.value(row);
            let entries = entries.as_struct();
            let keys = entries.column(0).as_string::<i32>();
            let values = entries.column(1).as_list::<i32>();
            for k in 0..entries.len() {
                if keys.is_valid(k) && names.contains(&keys.value(k)) && values.is_valid(k) {
                    let v = values.value(k);
                    let v = v.as_string::<i32>();
                    if !v.is_empty() && v.is_valid(0) {
                        found = Some(v.value(0).to_owned());
                        break;
                    }
                }
            }
        }
        b.append_option(found);
    }
    Arc::new(b.finish())
}

/// A decoded wire page → the stream's batch.
pub fn to_stream(
    stream: &str,
    wire: &RecordBatch,
    schema: &SchemaRef,
    account: &Account,
    counted: &[String],
) -> Result<RecordBatch, String> {
    let n = wire.num_rows();
    let constant = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v; n])) };
    let budget_exp = currency_exponent(&account.currency);
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut derived: Option<(ArrayRef, ArrayRef)> = None;
    for field in schema.fields() {
        let name = field.name().as_str();
        let col = match (stream, name) {
            (_, "currency") if stream != "ad_insights" => constant(&account.currency),
            ("ad_insights", "currency") => match strings(wire, "account_currency") {
                Some(c) if c.null_count() < n || n == 0 => Arc::new(c.clone()),
                _ => constant(&account.currency),
            },
            ("ad_insights", "account_timezone") => constant(&account.timezone),
            ("ad_insights", "insight_id") => {
                let ads = strings(wire, "ad_id");
                let days = strings(wire, "date_start");
                let mut b = StringBuilder::with_capacity(n, n * 32);
                for i in 0..n {
                    match (
                        ads.filter(|a| a.is_valid(i)),
                        days.filter(|d| d.is_valid(i)),
                    ) {
                        (Some(a), Some(d)) => {
                            b.append_value(format!("{}:{}", a.value(i), d.value(i)))
                        }
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            ("ad_insights", "actions") => {
                let (list, sums) = actions(wire, "actions", counted)?;
                derived.get_or_insert((sums.clone(), sums));
                list
            }
            ("ad_insights", "action_values") => {
                let (list, sums) = actions(wire, "action_values", counted)?;
                if let Some(d) = derived.as_mut() {
                    d.1 = sums;
                }
                list
            }
            ("ad_insights", "conversions") => derived
                .as_ref()
                .map(|d| d.0.clone())
                .ok_or("internal: actions before conversions")?,
            ("ad_insights", "conversion_value") => derived
                .as_ref()
                .map(|d| d.1.clone())
                .ok_or("internal: action_values before conversion_value")?,
            ("ads", "creative_id") => match wire.column_by_name("creative") {
                Some(c) => c.as_struct().column(0).clone(),
                None => arrow_array::new_null_array(&DataType::Utf8, n),
            },
            ("leads", "email") => answer(wire, &["email", "work_email"]),
            ("leads", "phone") => answer(wire, &["phone_number", "phone", "work_phone_number"]),
            ("leads", "full_name") => answer(wire, &["full_name"]),
            ("leads", "field_data") => match wire.column_by_name("field_data") {
                Some(c) => c.clone(),
                None => arrow_array::new_null_array(&field_data_type(), n),
            },
            (_, "daily_budget" | "lifetime_budget") => {
                column_of(wire, name, field.data_type(), Some(budget_exp))?
            }
            _ => column_of(wire, name, field.data_type(), None)?,
        };
        if !field.is_nullable() && col.null_count() > 0 {
            return Err(format!("a record has no `{name}`"));
        }
        cols.push(col);
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_times_and_dates_parse() {
        assert_eq!(parse_decimal("12.34", 9), Some(12_340_000_000));
        assert_eq!(parse_decimal("-0.5", 2), Some(-50));
        assert_eq!(parse_decimal("7", 0), Some(7));
        assert_eq!(parse_decimal("1e3", 2), None);
        assert_eq!(parse_decimal("", 2), None);
        assert_eq!(parse_decimal("1.234", 2), None, "no silent rounding");
        assert_eq!(
            parse_time("2026-01-04T16:00:00-0800"),
            Some(1_767_571_200_000_000)
        );
        assert_eq!(parse_date("1970-01-02"), Some(1));
    }
}

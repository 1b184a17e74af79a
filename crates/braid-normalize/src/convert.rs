//! Applying a compiled mapping to a raw batch: canonical columns, normalised
//! values, `extra`, and the rows or fields that go to quarantine.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{
    new_null_array, Array, ArrayRef, BooleanArray, Date32Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_cast::{cast_with_options, CastOptions};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::expr::to_strings;
use crate::mapping::{ColumnSource, CompiledMapping};
use crate::schema::{self, Table, MONEY, MONEY_PRECISION, MONEY_SCALE};
use crate::values;

/// Lineage columns the warehouse adds to raw files, and the Hive partition.
pub const LINEAGE: &[&str] = &[
    "_braid_source",
    "_braid_run_id",
    "_braid_ingested_at",
    "ingest_date",
];

/// Columns whose bad values are nulled (and reported) instead of withholding the record.
const FIELD_LEVEL: &[&str] = &[
    "email",
    "phone",
    "country",
    "birth_date",
    "postcode",
    "wechat_unionid",
];

/// What a source contributes to normalisation besides the mapping.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// The pipeline source name.
    pub source: String,
    /// Zone of wall times when the mapping names none.
    pub timezone: Tz,
    /// Phone region when the mapping names none.
    pub default_region: Option<String>,
}

/// One quarantined record or field.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    /// The row in the input batch.
    pub row: usize,
    /// The record's id in its source, if it had one.
    pub source_id: Option<String>,
    /// `record` (withheld from the unified table) or `field` (value set to null).
    pub action: &'static str,
    /// The canonical column at fault.
    pub column: String,
    /// Why.
    pub reason: String,
}

/// The canonical rows of one raw batch and what was quarantined.
#[derive(Debug)]
pub struct Converted {
    /// Rows that passed, in the table's schema.
    pub batch: RecordBatch,
    /// Problems, by input row.
    pub quarantined: Vec<Quarantined>,
    /// The raw rows that were withheld (for the quarantine's `record` JSON).
    pub withheld: Vec<usize>,
}

/// Maps `raw` (one raw file's batch) through `mapping`.
pub fn convert(
    raw: &RecordBatch,
    mapping: &CompiledMapping,
    cx: &SourceContext,
) -> Result<Converted, String> {
    // Dotted names (`customer.id`) read fields of struct columns.
    let nested = crate::paths::with_nested(raw, &mapping.read_columns())?;
    let raw = &nested;
    let n = raw.num_rows();
    let table = mapping.table;
    let schema = table.schema();
    let zone = mapping.timezone.unwrap_or(cx.timezone);
    let region = mapping
        .default_region
        .clone()
        .or_else(|| cx.default_region.clone());
    let mut problems: Vec<Quarantined> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut source_ids: Vec<Option<String>> = vec![None; n];

    // source_id first: every quarantine entry names it.
    if let Some((_, src)) = mapping.columns.iter().find(|(c, _)| c == "source_id") {
        let a = input(raw, src)?;
        source_ids = to_strings(&a)?
            .into_iter()
            .map(|v| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
            .collect();
    }
    for field in schema.fields() {
        let name = field.name().as_str();
        let array: ArrayRef = match name {
            "source" => Arc::new(StringArray::from(vec![cx.source.as_str(); n])),
            "source_stream" => Arc::new(StringArray::from(vec![mapping.stream.as_str(); n])),
            "ingested_at" => match raw.column_by_name("_braid_ingested_at") {
                Some(a) => cast_with_options(a, &schema::timestamp(), &CastOptions::default())
                    .map_err(|e| e.to_string())?,
                None => {
                    let now = chrono::Utc::now().timestamp_micros();
                    Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC"))
                }
            },
            "braid_id" => new_null_array(&DataType::Utf8, n),
            "source_id" => Arc::new(StringArray::from(source_ids.clone())),
            "extra" => extra(raw, mapping)?,
            "source_tz" if !mapping.columns.iter().any(|(c, _)| c == "source_tz") => {
                Arc::new(StringArray::from(vec![zone.name(); n]))
            }
            _ => match mapping.columns.iter().find(|(c, _)| c == name) {
                None => new_null_array(field.data_type(), n),
                Some((_, src)) => {
                    let a = input(raw, src)?;
                    let (out, errs) =
                        to_canonical(name, &a, field.data_type(), zone, region.as_deref(), src)?;
                    let action = if FIELD_LEVEL.contains(&name) {
                        "field"
                    } else {
                        "record"
                    };
                    for (row, reason) in errs {
                        problems.push(Quarantined {
                            row,
                            source_id: source_ids[row].clone(),
                            action,
                            column: name.to_owned(),
                            reason,
                        });
                    }
                    out
                }
            },
        };
        columns.push(array);
    }
    for (row, id) in source_ids.iter().enumerate() {
        if id.is_none() {
            problems.push(Quarantined {
                row,
                source_id: None,
                action: "record",
                column: "source_id".into(),
                reason: "missing source_id".into(),
            });
        }
    }
    // Money needs its currency.
    let money_col = match table {
        Table::Orders => Some("amount"),
        Table::AdPerformance => Some("spend"),
        _ => None,
    };
    if let Some(m) = money_col {
        let idx = |c: &str| schema.index_of(c).ok();
        if let (Some(a), Some(c)) = (idx(m), idx("currency")) {
            #[allow(clippy::needless_range_loop)]
            for row in 0..n {
                if columns[a].is_valid(row)
                    && columns[c].is_null(row)
                    && !problems
                        .iter()
                        .any(|p| p.row == row && p.column == "currency")
                {
                    problems.push(Quarantined {
                        row,
                        source_id: source_ids[row].clone(),
                        action: "record",
                        column: "currency".into(),
                        reason: format!("{m} without a currency"),
                    });
                }
            }
        }
    }
    let withheld: BTreeSet<usize> = problems
        .iter()
        .filter(|p| p.action == "record")
        .map(|p| p.row)
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    let batch = if withheld.is_empty() {
        batch
    } else {
        let keep = BooleanArray::from((0..n).map(|i| !withheld.contains(&i)).collect::<Vec<_>>());
        arrow_select::filter::filter_record_batch(&batch, &keep).map_err(|e| e.to_string())?
    };
    problems.sort_by_key(|p| p.row);
    Ok(Converted {
        batch,
        quarantined: problems,
        withheld: withheld.into_iter().collect(),
    })
}

/// The input array of a column source (a missing source column is all null:
/// a source that stops sending a field does not stop the run).
fn input(raw: &RecordBatch, src: &ColumnSource) -> Result<ArrayRef, String> {
    let n = raw.num_rows();
    Ok(match src {
        ColumnSource::Column { name, .. } | ColumnSource::Items { name, .. } => {
            match raw.column_by_name(name) {
                Some(a) => a.clone(),
                None => new_null_array(&DataType::Utf8, n),
            }
        }
        ColumnSource::Const(v) => Arc::new(StringArray::from(vec![v.as_str(); n])),
        ColumnSource::Expr(e) => e.eval(raw)?,
    })
}

type Errors = Vec<(usize, String)>;

fn to_canonical(
    column: &str,
    input: &ArrayRef,
    target: &DataType,
    zone: Tz,
    region: Option<&str>,
    src: &ColumnSource,
) -> Result<(ArrayRef, Errors), String> {
    if let ColumnSource::Items { fields, .. } = src {
        return items(input, fields, zone);
    }
    let cast = match src {
        ColumnSource::Column { cast, .. } => cast.as_deref(),
        _ => None,
    };
    let input = pre_cast(input, cast)?;
    let mut errors = Errors::new();
    let out: ArrayRef = match target {
        DataType::Utf8 => {
            let texts = if let Some(s) = input.as_string_opt::<i32>() {
                s.iter().map(|v| v.map(str::to_owned)).collect()
            } else {
                to_strings(&input)?
            };
            let norm: fn(&str, Option<&str>) -> Result<String, String> = match column {
                "email" => |s, _| values::email(s),
                "phone" => values::phone,
                "country" => |s, _| values::country(s),
                "currency" => |s, _| values::currency(s),
                _ => |s, _| Ok(s.trim().to_owned()),
            };
            let mut b = StringBuilder::with_capacity(texts.len(), texts.len() * 16);
            for (i, v) in texts.iter().enumerate() {
                match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    None => b.append_null(),
                    Some(s) => match norm(s, region) {
                        Ok(x) => b.append_value(x),
                        Err(e) => {
                            errors.push((i, e));
                            b.append_null()
                        }
                    },
                }
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, _) => timestamps(&input, zone, &mut errors)?,
        DataType::Decimal128(_, _) => {
            if let Some(s) = input.as_string_opt::<i32>() {
                let mut b = Decimal128Builder::with_capacity(s.len());
                for (i, v) in s.iter().enumerate() {
                    match v.map(str::trim).filter(|x| !x.is_empty()) {
                        None => b.append_null(),
                        Some(x) => match values::money(x) {
                            Ok(m) => b.append_value(m),
                            Err(e) => {
                                errors.push((i, e));
                                b.append_null()
                            }
                        },
                    }
                }
                Arc::new(
                    b.finish()
                        .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
                        .map_err(|e| e.to_string())?,
                )
            } else {
                checked_cast(&input, &MONEY, &mut errors)?
            }
        }
        DataType::Date32 => {
            if let Some(s) = input.as_string_opt::<i32>() {
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
                let vals: Vec<Option<i32>> = s
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v.map(str::trim).filter(|x| !x.is_empty()) {
                        None => None,
                        Some(x) => match values::date(x) {
                            Ok(d) => Some((d - epoch).num_days() as i32),
                            Err(e) => {
                                errors.push((i, e));
                                None
                            }
                        },
                    })
                    .collect();
                Arc::new(Date32Array::from(vals))
            } else {
                checked_cast(&input, &DataType::Date32, &mut errors)?
            }
        }
        other => checked_cast(&input, other, &mut errors)?,
    };
    Ok((out, errors))
}

/// Applies a mapping's explicit `cast`.
fn pre_cast(input: &ArrayRef, cast: Option<&str>) -> Result<ArrayRef, String> {
    let to = match cast {
        None | Some("timestamp") => return Ok(input.clone()),
        Some("string") => DataType::Utf8,
        Some("int") => DataType::Int64,
        Some("float") => DataType::Float64,
        Some("decimal") => MONEY,
        Some("bool") => DataType::Boolean,
        Some("date") => DataType::Date32,
        Some(epoch @ ("epoch_seconds" | "epoch_millis")) => {
            let ints = cast_with_options(input, &DataType::Int64, &CastOptions::default())
                .map_err(|e| e.to_string())?;
            let factor = if epoch == "epoch_seconds" {
                1_000_000
            } else {
                1_000
            };
            let a: TimestampMicrosecondArray = ints
                .as_primitive::<Int64Type>()
                .unary(|v| v.saturating_mul(factor));
            return Ok(Arc::new(a.with_timezone("UTC")));
        }
        Some(other) => return Err(format!("unknown cast {other:?}")),
    };
    cast_with_options(input, &to, &CastOptions::default()).map_err(|e| e.to_string())
}

/// Arrow's cast with nulls for values that do not convert, reported as errors.
fn checked_cast(input: &ArrayRef, to: &DataType, errors: &mut Errors) -> Result<ArrayRef, String> {
    if input.data_type() == to {
        return Ok(input.clone());
    }
    let out = cast_with_options(input, to, &CastOptions::default())
        .map_err(|e| format!("cannot convert {} to {to}: {e}", input.data_type()))?;
    if out.null_count() > input.null_count() {
        let shown = to_strings(input)?;
        #[allow(clippy::needless_range_loop)]
        for i in 0..input.len() {
            if input.is_valid(i) && out.is_null(i) {
                errors.push((
                    i,
                    format!(
                        "cannot convert {:?} to {to}",
                        shown[i].as_deref().unwrap_or("")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn timestamps(input: &ArrayRef, zone: Tz, errors: &mut Errors) -> Result<ArrayRef, String> {
    let utc = schema::timestamp();
    match input.data_type() {
        DataType::Timestamp(_, Some(_)) => {
            cast_with_options(input, &utc, &CastOptions::default()).map_err(|e| e.to_string())
        }
        DataType::Timestamp(_, None) | DataType::Date32 | DataType::Date64 => {
            // Wall times: read them in the source's zone.
            let naive = cast_with_options(
                input,
                &DataType::Timestamp(TimeUnit::Microsecond, None),
                &CastOptions::default(),
            )
            .map_err(|e| e.to_string())?;
            let a = naive.as_primitive::<TimestampMicrosecondType>();
            let mut b = TimestampMicrosecondBuilder::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                match v.and_then(chrono::DateTime::from_timestamp_micros) {
                    None => b.append_null(),
                    Some(t) => match values::local_to_utc_micros(t.naive_utc(), zone) {
                        Some(x) => b.append_value(x),
                        None => {
                            errors.push((i, format!("{} does not exist in {zone}", t.naive_utc())));
                            b.append_null()
                        }
                    },
                }
            }
            Ok(Arc::new(b.finish().with_timezone("UTC")))
        }
        DataType::Int64 | DataType::Int32 | DataType::UInt64 | DataType::UInt32 => {
            let ints = cast_with_options(input, &DataType::Int64, &CastOptions::default())
                .map_err(|e| e.to_string())?;
            let a: TimestampMicrosecondArray = ints.as_primitive::<Int64Type>().unary(|n| {
                if n > 100_000_000_000 {
                    n.saturating_mul(1000)
                } else {
                    n.saturating_mul(1_000_000)
                }
            });
            Ok(Arc::new(a.with_timezone("UTC")))
        }
        _ => {
            let texts = match input.as_string_opt::<i32>() {
                Some(s) => s.iter().map(|v| v.map(str::to_owned)).collect(),
                None => to_strings(input)?,
            };
            let mut b = TimestampMicrosecondBuilder::with_capacity(texts.len());
            for (i, v) in texts.iter().enumerate() {
                match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    None => b.append_null(),
                    Some(s) => match values::timestamp(s, zone) {
                        Ok(x) => b.append_value(x),
                        Err(e) => {
                            errors.push((i, e));
                            b.append_null()
                        }
                    },
                }
            }
            Ok(Arc::new(b.finish().with_timezone("UTC")))
        }
    }
}

/// `orders.items` from a list of structs: fields renamed and converted.
fn items(
    input: &ArrayRef,
    fields: &std::collections::BTreeMap<String, String>,
    zone: Tz,
) -> Result<(ArrayRef, Errors), String> {
    let target_fields = schema::item_fields();
    let list_type = DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(target_fields.clone()),
        true,
    )));
    let Some(list) = input.as_list_opt::<i32>() else {
        if input.null_count() == input.len() {
            return Ok((new_null_array(&list_type, input.len()), Vec::new()));
        }
        return Err(format!(
            "items: expected a list of structs, found {}",
            input.data_type()
        ));
    };
    let Some(values) = list.values().as_struct_opt() else {
        return Err(format!(
            "items: expected a list of structs, found {}",
            input.data_type()
        ));
    };
    let mut children = Vec::new();
    let mut errors = Errors::new();
    for f in target_fields.iter() {
        let child = match fields
            .get(f.name())
            .and_then(|src| values.column_by_name(src))
        {
            Some(c) => {
                let src = ColumnSource::Column {
                    name: f.name().clone(),
                    cast: None,
                };
                let (a, errs) = to_canonical(f.name(), c, f.data_type(), zone, None, &src)?;
                // An item's bad value blames its order: map item index -> list row.
                for (i, e) in errs {
                    let row = list
                        .offsets()
                        .windows(2)
                        .position(|w| (w[0] as usize) <= i && i < (w[1] as usize))
                        .unwrap_or(0);
                    errors.push((row, format!("items[{}].{}: {e}", i, f.name())));
                }
                a
            }
            None => new_null_array(f.data_type(), values.len()),
        };
        children.push(child);
    }
    let structs = StructArray::try_new(target_fields, children, values.nulls().cloned())
        .map_err(|e| e.to_string())?;
    let out = ListArray::try_new(
        Arc::new(Field::new("item", structs.data_type().clone(), true)),
        list.offsets().clone(),
        Arc::new(structs),
        list.nulls().cloned(),
    )
    .map_err(|e| e.to_string())?;
    Ok((Arc::new(out), errors))
}

/// The `extra` JSON object per row: source columns the mapping neither reads
/// nor drops. Null when there are none (or all are null).
fn extra(raw: &RecordBatch, mapping: &CompiledMapping) -> Result<ArrayRef, String> {
    let read = mapping.read_columns();
    let keep: Vec<usize> = raw
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            let n = f.name();
            !LINEAGE.contains(&n.as_str()) && !read.contains(n) && !mapping.drop.contains(n)
        })
        .map(|(i, _)| i)
        .collect();
    if keep.is_empty() {
        return Ok(new_null_array(&DataType::Utf8, raw.num_rows()));
    }
    let projected = raw.project(&keep).map_err(|e| e.to_string())?;
    let lines = json_lines(&projected)?;
    Ok(Arc::new(StringArray::from(
        lines
            .into_iter()
            .map(|l| (l != "{}").then_some(l))
            .collect::<Vec<_>>(),
    )))
}

/// One JSON object per row (arrow-json; nulls omitted).
pub fn json_lines(batch: &RecordBatch) -> Result<Vec<String>, String> {
    let mut buf = Vec::new();
    {
        let mut w = arrow_json::LineDelimitedWriter::new(&mut buf);
        w.write(batch).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    let text = String::from_utf8(buf).map_err(|e| e.to_string())?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.resize(batch.num_rows(), "{}".to_owned());
    Ok(lines)
}

/// A quarantine batch for `problems` of one raw batch.
pub fn quarantine_batch(
    raw: &RecordBatch,
    problems: &[Quarantined],
    source: &str,
    stream: &str,
    raw_file: &str,
) -> Result<RecordBatch, String> {
    let rows: Vec<u32> = problems.iter().map(|p| p.row as u32).collect();
    let taken = arrow_select::take::take_record_batch(raw, &arrow_array::UInt32Array::from(rows))
        .map_err(|e| e.to_string())?;
    let data_cols: Vec<usize> = raw
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !LINEAGE.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let records = json_lines(&taken.project(&data_cols).map_err(|e| e.to_string())?)?;
    let n = problems.len();
    let now = chrono::Utc::now().timestamp_micros();
    let schema: Arc<Schema> = schema::quarantine_schema();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![source; n])),
            Arc::new(StringArray::from(vec![stream; n])),
            Arc::new(StringArray::from(
                problems
                    .iter()
                    .map(|p| p.source_id.clone())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                problems.iter().map(|p| p.action).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                problems
                    .iter()
                    .map(|p| Some(p.column.clone()))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                problems
                    .iter()
                    .map(|p| p.reason.clone())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                records.into_iter().map(Some).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![raw_file; n])),
            Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
        ],
    )
    .map_err(|e| e.to_string())
}

//! Incremental reads: keep rows whose cursor is at or after the state cursor.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Date32Array, Int32Array, Int64Array, LargeStringArray, RecordBatch, Scalar,
    StringArray, TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray,
};
use arrow_schema::{DataType, Schema, TimeUnit};
use braid_core::{CursorValue, Error, Result};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Keeps the rows of a batch whose cursor is `>=` a lower bound (inclusive).
#[derive(Debug)]
pub struct CursorFilter {
    column: usize,
    bound: Scalar<ArrayRef>,
}

fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 {
        q
    } else {
        q + 1
    }
}

impl CursorFilter {
    /// A filter on `field` of `schema` keeping rows with cursor `>= from`.
    pub fn new(stream: &str, schema: &Schema, field: &str, from: &CursorValue) -> Result<Self> {
        let column = schema.index_of(field).map_err(|_| {
            Error::Config(format!(
                "files: stream `{stream}`: cursor field `{field}` is not in the schema"
            ))
        })?;
        let data_type = schema.field(column).data_type();
        let mismatch = || {
            Error::Config(format!(
                "files: stream `{stream}`: the saved cursor {from} ({}) cannot be compared with cursor field `{field}` of type {data_type}; reset the stream's state",
                match from {
                    CursorValue::Int(_) => "an integer",
                    CursorValue::TimestampMicros(_) => "a timestamp",
                    CursorValue::Date(_) => "a date",
                    CursorValue::Str(_) => "a string",
                }
            ))
        };
        let bound: ArrayRef = match (data_type, from) {
            (DataType::Int64, CursorValue::Int(v)) => Arc::new(Int64Array::from(vec![*v])),
            (DataType::Int32, CursorValue::Int(v)) => {
                let v = i32::try_from(*v).map_err(|_| mismatch())?;
                Arc::new(Int32Array::from(vec![v]))
            }
            (
                DataType::Timestamp(unit, tz),
                CursorValue::TimestampMicros(_) | CursorValue::Date(_),
            ) => {
                let us = match from {
                    CursorValue::Date(d) => i64::from(*d).saturating_mul(MICROS_PER_DAY),
                    CursorValue::TimestampMicros(us) => *us,
                    _ => return Err(mismatch()),
                };
                match unit {
                    TimeUnit::Second => Arc::new(
                        TimestampSecondArray::from(vec![ceil_div(us, 1_000_000)])
                            .with_timezone_opt(tz.clone()),
                    ),
                    TimeUnit::Millisecond => Arc::new(
                        TimestampMillisecondArray::from(vec![ceil_div(us, 1_000)])
                            .with_timezone_opt(tz.clone()),
                    ),
                    TimeUnit::Microsecond => Arc::new(
                        TimestampMicrosecondArray::from(vec![us]).with_timezone_opt(tz.clone()),
                    ),
                    TimeUnit::Nanosecond => Arc::new(
                        TimestampNanosecondArray::from(vec![us.saturating_mul(1_000)])
                            .with_timezone_opt(tz.clone()),
                    ),
                }
            }
            (DataType::Date32, CursorValue::Date(d)) => Arc::new(Date32Array::from(vec![*d])),
            (DataType::Date32, CursorValue::TimestampMicros(us)) => {
                let day = i32::try_from(us.div_euclid(MICROS_PER_DAY)).map_err(|_| mismatch())?;
                Arc::new(Date32Array::from(vec![day]))
            }
            (DataType::Utf8, CursorValue::Str(s)) => Arc::new(StringArray::from(vec![s.as_str()])),
            (DataType::LargeUtf8, CursorValue::Str(s)) => {
                Arc::new(LargeStringArray::from(vec![s.as_str()]))
            }
            _ => return Err(mismatch()),
        };
        Ok(CursorFilter {
            column,
            bound: Scalar::new(bound),
        })
    }

    /// The rows of `batch` at or after the bound, and how many rows were
    /// dropped because their cursor is null.
    pub fn apply(&self, batch: &RecordBatch) -> Result<(RecordBatch, usize)> {
        let col = batch.column(self.column);
        let keep = arrow_ord::cmp::gt_eq(col, &self.bound)?;
        let filtered = arrow_select::filter::filter_record_batch(batch, &keep)?;
        Ok((filtered, col.null_count()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;

    #[test]
    fn keeps_rows_at_or_after_the_bound() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("ts", crate::config::timestamp_type(), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(10), Some(20), None, Some(30)])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let f = CursorFilter::new("s", &schema, "ts", &CursorValue::TimestampMicros(20)).unwrap();
        let (out, nulls) = f.apply(&batch).unwrap();
        let ids: Vec<i64> = out
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec();
        assert_eq!(ids, [2, 4]);
        assert_eq!(nulls, 1);

        let f = CursorFilter::new("s", &schema, "id", &CursorValue::Int(3)).unwrap();
        assert_eq!(f.apply(&batch).unwrap().0.num_rows(), 2);

        let e = CursorFilter::new("s", &schema, "id", &CursorValue::Str("x".into())).unwrap_err();
        assert!(e.to_string().contains("reset the stream's state"), "{e}");
    }

    #[test]
    fn coarser_units_round_the_bound_up() {
        assert_eq!(ceil_div(1_500_000, 1_000_000), 2);
        assert_eq!(ceil_div(2_000_000, 1_000_000), 2);
        assert_eq!(ceil_div(-1_500_000, 1_000_000), -1);
    }
}

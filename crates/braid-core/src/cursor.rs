use std::cmp::Ordering;

use arrow_array::{cast::AsArray, types::*, Array};
use arrow_schema::{DataType, TimeUnit};
use serde::{Deserialize, Serialize};

/// A cursor value, comparable within its own variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CursorValue {
    /// An integer cursor (ids, version numbers).
    Int(i64),
    /// A timestamp, microseconds since the Unix epoch, UTC.
    TimestampMicros(i64),
    /// A date, days since the Unix epoch.
    Date(i32),
    /// A string cursor, compared bytewise.
    Str(String),
}

impl PartialOrd for CursorValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        use CursorValue::*;
        match (self, other) {
            (Int(a), Int(b)) | (TimestampMicros(a), TimestampMicros(b)) => Some(a.cmp(b)),
            (Date(a), Date(b)) => Some(a.cmp(b)),
            (Str(a), Str(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl CursorValue {
    /// Timestamp as epoch milliseconds, if this is a timestamp.
    pub fn as_epoch_millis(&self) -> Option<i64> {
        match self {
            CursorValue::TimestampMicros(us) => Some(us.div_euclid(1000)),
            _ => None,
        }
    }
}

impl std::fmt::Display for CursorValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CursorValue::Int(v) => write!(f, "{v}"),
            CursorValue::TimestampMicros(us) => {
                match chrono::DateTime::from_timestamp_micros(*us) {
                    Some(t) => write!(
                        f,
                        "{}",
                        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    ),
                    None => write!(f, "{us}us"),
                }
            }
            CursorValue::Date(d) => match chrono::NaiveDate::from_num_days_from_ce_opt(d + 719_163)
            {
                Some(date) => write!(f, "{date}"),
                None => write!(f, "day {d}"),
            },
            CursorValue::Str(s) => f.write_str(s),
        }
    }
}

fn to_micros(v: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v.div_euclid(1_000),
    }
}

/// The cursor value at row `i`, or `None` if null or of a type that cannot be a cursor.
pub fn cursor_value_at(array: &dyn Array, i: usize) -> Option<CursorValue> {
    if array.is_null(i) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Int64 => CursorValue::Int(array.as_primitive::<Int64Type>().value(i)),
        DataType::Int32 => CursorValue::Int(array.as_primitive::<Int32Type>().value(i) as i64),
        DataType::UInt32 => CursorValue::Int(array.as_primitive::<UInt32Type>().value(i) as i64),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(i),
            };
            CursorValue::TimestampMicros(to_micros(v, *unit))
        }
        DataType::Date32 => CursorValue::Date(array.as_primitive::<Date32Type>().value(i)),
        DataType::Utf8 => CursorValue::Str(array.as_string::<i32>().value(i).to_owned()),
        DataType::LargeUtf8 => CursorValue::Str(array.as_string::<i64>().value(i).to_owned()),
        _ => return None,
    })
}

/// The largest non-null cursor value in `array`.
pub fn cursor_column_max(array: &dyn Array) -> Option<CursorValue> {
    let mut best: Option<CursorValue> = None;
    for i in 0..array.len() {
        if let Some(v) = cursor_value_at(array, i) {
            if best.as_ref().is_none_or(|b| v > *b) {
                best = Some(v);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{StringArray, TimestampMillisecondArray};

    #[test]
    fn max_of_timestamps_is_in_micros() {
        let a = TimestampMillisecondArray::from(vec![Some(5), None, Some(9), Some(2)])
            .with_timezone("UTC");
        assert_eq!(
            cursor_column_max(&a),
            Some(CursorValue::TimestampMicros(9_000))
        );
    }

    #[test]
    fn strings_compare_bytewise_and_nulls_are_skipped() {
        let a = StringArray::from(vec![None, Some("2024-01-02"), Some("2024-01-10")]);
        assert_eq!(
            cursor_column_max(&a),
            Some(CursorValue::Str("2024-01-10".into()))
        );
        assert_eq!(cursor_value_at(&a, 0), None);
    }

    #[test]
    fn state_round_trips_through_json() {
        let v = CursorValue::TimestampMicros(1_700_000_000_123_000);
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(s, r#"{"timestamp_micros":1700000000123000}"#);
        assert_eq!(serde_json::from_str::<CursorValue>(&s).unwrap(), v);
        assert_eq!(v.to_string(), "2023-11-14T22:13:20.123000Z");
        assert_eq!(CursorValue::Date(19_723).to_string(), "2024-01-01");
    }
}

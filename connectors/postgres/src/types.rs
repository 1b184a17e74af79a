//! PostgreSQL types → Arrow types, and how each column is selected.
//!
//! | PostgreSQL | Arrow | selected as |
//! |---|---|---|
//! | `boolean` | Boolean | binary |
//! | `smallint`, `integer`, `bigint` | Int16, Int32, Int64 | binary |
//! | `oid` | UInt32 | binary |
//! | `real`, `double precision` | Float32, Float64 | binary |
//! | `numeric(p,s)`, p ≤ 38, 0 ≤ s ≤ p | Decimal128(p, s) | binary |
//! | `numeric` (no typmod) | Decimal128(38, 9), or Utf8 with `unconstrained_numeric: text` | `::numeric(38,9)` (the server rounds) |
//! | `numeric(p,s)`, p > 38 or s outside 0..=p | Utf8 | `::text` |
//! | `money` | Decimal128(38, 2) | `::numeric(38,2)` |
//! | `text`, `varchar`, `char(n)`, `name` | Utf8 | binary |
//! | `uuid` | Utf8 (hyphenated, lower case) | binary |
//! | `json`, `jsonb` | Utf8 (the JSON text) | binary |
//! | `date` | Date32 (±infinity → null) | binary |
//! | `timestamp` | Timestamp(µs) (±infinity → null) | binary |
//! | `timestamptz` | Timestamp(µs, "UTC") (±infinity → null) | binary |
//! | `time` | Time64(µs) | binary |
//! | `bytea` | Binary | binary |
//! | one-dimensional arrays of the types above | List of that type | binary |
//! | anything else (enums, `interval`, `inet`, ranges, composites, …) | Utf8 | `::text` |
//!
//! Domains are read as their base type. Every column is nullable in the
//! Arrow schema, so `ALTER … SET NOT NULL` does not change the landed schema.

use arrow_schema::{DataType, Field, TimeUnit};

use crate::config::NumericMode;
use crate::sql::quote_ident;

/// Well-known type OIDs (fixed in `pg_type.dat`).
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const MONEY: u32 = 790;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
}

/// How a column's binary values are decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decode {
    Bool,
    I16,
    I32,
    I64,
    U32,
    F32,
    F64,
    /// Decimal with this precision and scale.
    Decimal(u8, i8),
    /// UTF-8 text (text, varchar, json, and every `::text` fallback).
    Text,
    Uuid,
    /// jsonb: a version byte, then the text.
    Jsonb,
    Date,
    Timestamp,
    TimestampTz,
    Time,
    Bytes,
    /// One-dimensional array of the element.
    List(Box<Decode>),
}

impl Decode {
    /// The Arrow type of the decoded values.
    pub fn data_type(&self) -> DataType {
        match self {
            Decode::Bool => DataType::Boolean,
            Decode::I16 => DataType::Int16,
            Decode::I32 => DataType::Int32,
            Decode::I64 => DataType::Int64,
            Decode::U32 => DataType::UInt32,
            Decode::F32 => DataType::Float32,
            Decode::F64 => DataType::Float64,
            Decode::Decimal(p, s) => DataType::Decimal128(*p, *s),
            Decode::Text | Decode::Uuid | Decode::Jsonb => DataType::Utf8,
            Decode::Date => DataType::Date32,
            Decode::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Decode::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Decode::Time => DataType::Time64(TimeUnit::Microsecond),
            Decode::Bytes => DataType::Binary,
            Decode::List(e) => DataType::List(Field::new("item", e.data_type(), true).into()),
        }
    }

    /// Whether values of this kind can be a cursor (see `braid_core::cursor_value_at`).
    pub fn is_cursor_type(&self) -> bool {
        matches!(
            self,
            Decode::I32
                | Decode::I64
                | Decode::Timestamp
                | Decode::TimestampTz
                | Decode::Date
                | Decode::Text
        )
    }
}

/// A column as the catalog describes it.
#[derive(Debug, Clone)]
pub struct PgColumn {
    pub name: String,
    /// Type OID (a domain's base type).
    pub type_oid: u32,
    /// Type modifier (-1 when none).
    pub typmod: i32,
    /// Element type OID when the type is an array, else 0.
    pub elem_oid: u32,
    /// `format_type(type, typmod)`, for casts in statements.
    pub sql_type: String,
}

/// A column as a read selects and decodes it.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    pub name: String,
    pub decode: Decode,
    /// The select-list expression (`"col"` or a cast of it).
    pub select: String,
    /// The column's SQL type, for casting bound parameters to it.
    pub sql_type: String,
}

/// `(precision, scale)` of a `numeric` typmod, `None` when unconstrained.
fn numeric_typmod(typmod: i32) -> Option<(i32, i32)> {
    if typmod < 4 {
        return None;
    }
    let t = typmod - 4;
    let precision = (t >> 16) & 0xffff;
    // PostgreSQL 15 keeps an 11-bit signed scale.
    let mut scale = t & 0x7ff;
    if scale & 0x400 != 0 {
        scale -= 0x800;
    }
    Some((precision, scale))
}

/// What a scalar type decodes to; the `::cast` it needs, if any.
fn scalar(type_oid: u32, typmod: i32, numeric: NumericMode) -> (Decode, Option<&'static str>) {
    use oid::*;
    match type_oid {
        BOOL => (Decode::Bool, None),
        INT2 => (Decode::I16, None),
        INT4 => (Decode::I32, None),
        INT8 => (Decode::I64, None),
        OID => (Decode::U32, None),
        FLOAT4 => (Decode::F32, None),
        FLOAT8 => (Decode::F64, None),
        NUMERIC => match numeric_typmod(typmod) {
            Some((p, s)) if (1..=38).contains(&p) && (0..=p).contains(&s) => {
                (Decode::Decimal(p as u8, s as i8), None)
            }
            Some(_) => (Decode::Text, Some("text")),
            None => match numeric {
                NumericMode::Decimal => (Decode::Decimal(38, 9), Some("numeric(38,9)")),
                NumericMode::Text => (Decode::Text, Some("text")),
            },
        },
        MONEY => (Decode::Decimal(38, 2), Some("numeric(38,2)")),
        TEXT | VARCHAR | BPCHAR | NAME | JSON => (Decode::Text, None),
        UUID => (Decode::Uuid, None),
        JSONB => (Decode::Jsonb, None),
        DATE => (Decode::Date, None),
        TIMESTAMP => (Decode::Timestamp, None),
        TIMESTAMPTZ => (Decode::TimestampTz, None),
        TIME => (Decode::Time, None),
        BYTEA => (Decode::Bytes, None),
        _ => (Decode::Text, Some("text")),
    }
}

/// How `column` is selected and decoded.
pub fn plan(column: &PgColumn, numeric: NumericMode) -> ColumnPlan {
    let ident = quote_ident(&column.name);
    let (decode, select) = if column.elem_oid != 0 {
        // Arrays: element typmods are the column's typmod.
        let (elem, cast) = scalar(column.elem_oid, column.typmod, numeric);
        match (elem, cast) {
            (e @ Decode::Decimal(..), Some(c)) if c.starts_with("numeric") => {
                (Decode::List(Box::new(e)), format!("{ident}::{c}[]"))
            }
            (_, Some(_)) => (Decode::Text, format!("{ident}::text")),
            (e, None) => (Decode::List(Box::new(e)), ident),
        }
    } else {
        match scalar(column.type_oid, column.typmod, numeric) {
            (d, Some(c)) => (d, format!("{ident}::{c}")),
            (d, None) => (d, ident),
        }
    };
    ColumnPlan {
        name: column.name.clone(),
        decode,
        select,
        sql_type: column.sql_type.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(type_oid: u32, typmod: i32, elem_oid: u32) -> PgColumn {
        PgColumn {
            name: "c".into(),
            type_oid,
            typmod,
            elem_oid,
            sql_type: "x".into(),
        }
    }

    #[test]
    fn numeric_typmods_keep_precision_and_scale() {
        // numeric(12,2): ((12 << 16) | 2) + 4
        let p = plan(
            &col(oid::NUMERIC, (12 << 16 | 2) + 4, 0),
            NumericMode::Decimal,
        );
        assert_eq!(p.decode, Decode::Decimal(12, 2));
        assert_eq!(p.select, "\"c\"");
        let p = plan(&col(oid::NUMERIC, -1, 0), NumericMode::Decimal);
        assert_eq!(p.decode, Decode::Decimal(38, 9));
        assert_eq!(p.select, "\"c\"::numeric(38,9)");
        let p = plan(&col(oid::NUMERIC, -1, 0), NumericMode::Text);
        assert_eq!((p.decode, p.select.as_str()), (Decode::Text, "\"c\"::text"));
        // numeric(50,4) does not fit Decimal128; numeric(5,-2) has a negative scale.
        let p = plan(
            &col(oid::NUMERIC, (50 << 16 | 4) + 4, 0),
            NumericMode::Decimal,
        );
        assert_eq!(p.decode, Decode::Text);
        let p = plan(
            &col(oid::NUMERIC, (5 << 16 | 0x7fe) + 4, 0),
            NumericMode::Decimal,
        );
        assert_eq!(p.decode, Decode::Text);
    }

    #[test]
    fn arrays_become_lists_or_text() {
        let p = plan(&col(1007, -1, oid::INT4), NumericMode::Decimal);
        assert_eq!(p.decode, Decode::List(Box::new(Decode::I32)));
        let p = plan(&col(1231, -1, oid::NUMERIC), NumericMode::Decimal);
        assert_eq!(p.decode, Decode::List(Box::new(Decode::Decimal(38, 9))));
        assert_eq!(p.select, "\"c\"::numeric(38,9)[]");
        // An array of an enum lands as its text form.
        let p = plan(&col(99_999, -1, 99_998), NumericMode::Decimal);
        assert_eq!((p.decode, p.select.as_str()), (Decode::Text, "\"c\"::text"));
        assert_eq!(
            plan(&col(oid::TIMESTAMPTZ, -1, 0), NumericMode::Decimal)
                .decode
                .data_type(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
    }
}

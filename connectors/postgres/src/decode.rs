//! PostgreSQL's binary wire format straight into Arrow builders.
//!
//! Each value arrives as the bytes of its type's `send` function; nothing is
//! parsed twice and no intermediate value (JSON or otherwise) is built.

use std::sync::Arc;

use arrow_array::builder::*;
use arrow_array::{ArrayRef, ListArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;

use crate::types::Decode;

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from the Unix epoch to 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// An Arrow builder for one column.
pub enum ColumnBuilder {
    Bool(BooleanBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U32(UInt32Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, i8),
    Text(StringBuilder),
    Uuid(StringBuilder),
    Jsonb(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Time(Time64MicrosecondBuilder),
    Bytes(BinaryBuilder),
    List {
        item: Arc<Field>,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        child: Box<ColumnBuilder>,
    },
}

fn be<const N: usize>(raw: &[u8], what: &str) -> Result<[u8; N], String> {
    raw.try_into()
        .map_err(|_| format!("{what}: expected {N} bytes, got {}", raw.len()))
}

fn i16_at(raw: &[u8], at: usize) -> Result<i16, String> {
    raw.get(at..at + 2)
        .map(|b| i16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "value ends early".to_owned())
}

fn i32_at(raw: &[u8], at: usize) -> Result<i32, String> {
    raw.get(at..at + 4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "value ends early".to_owned())
}

fn text(raw: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(raw).map_err(|e| format!("text is not UTF-8: {e}"))
}

/// A binary `numeric` as an unscaled integer at `scale`.
pub fn numeric_to_i128(raw: &[u8], scale: i8) -> Result<i128, String> {
    let ndigits = i16_at(raw, 0)? as u16 as usize;
    let weight = i16_at(raw, 2)? as i32;
    let sign = i16_at(raw, 4)? as u16;
    if raw.len() != 8 + 2 * ndigits {
        return Err(format!("numeric: {} bytes for {ndigits} digits", raw.len()));
    }
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("NaN has no decimal value".into()),
        0xD000 | 0xF000 => return Err("infinity has no decimal value".into()),
        s => return Err(format!("numeric: unknown sign {s:#x}")),
    }
    let overflow = || format!("does not fit Decimal128 at scale {scale}");
    let mut acc: i128 = 0;
    for i in 0..ndigits {
        let d = i16_at(raw, 8 + 2 * i)? as i128;
        if d == 0 {
            continue;
        }
        // This base-10000 digit is worth d × 10^(4·(weight − i)); unscaled, × 10^scale.
        let exp = 4 * (weight - i as i32) + scale as i32;
        let term = if exp >= 0 {
            let p = *POW10.get(exp as usize).ok_or_else(overflow)?;
            d.checked_mul(p).ok_or_else(overflow)?
        } else {
            let p = POW10.get((-exp) as usize).copied().unwrap_or(i128::MAX);
            if d % p != 0 {
                return Err(format!("has more than {scale} decimals"));
            }
            d / p
        };
        acc = acc.checked_add(term).ok_or_else(overflow)?;
    }
    Ok(if sign == 0x4000 { -acc } else { acc })
}

impl ColumnBuilder {
    /// A builder for `decode` with room for `capacity` values.
    pub fn new(decode: &Decode, capacity: usize) -> Self {
        match decode {
            Decode::Bool => Self::Bool(BooleanBuilder::with_capacity(capacity)),
            Decode::I16 => Self::I16(Int16Builder::with_capacity(capacity)),
            Decode::I32 => Self::I32(Int32Builder::with_capacity(capacity)),
            Decode::I64 => Self::I64(Int64Builder::with_capacity(capacity)),
            Decode::U32 => Self::U32(UInt32Builder::with_capacity(capacity)),
            Decode::F32 => Self::F32(Float32Builder::with_capacity(capacity)),
            Decode::F64 => Self::F64(Float64Builder::with_capacity(capacity)),
            Decode::Decimal(_, s) => Self::Decimal(
                Decimal128Builder::with_capacity(capacity).with_data_type(decode.data_type()),
                *s,
            ),
            Decode::Text => Self::Text(StringBuilder::with_capacity(capacity, capacity * 16)),
            Decode::Uuid => Self::Uuid(StringBuilder::with_capacity(capacity, capacity * 36)),
            Decode::Jsonb => Self::Jsonb(StringBuilder::with_capacity(capacity, capacity * 32)),
            Decode::Date => Self::Date(Date32Builder::with_capacity(capacity)),
            Decode::Timestamp | Decode::TimestampTz => Self::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity)
                    .with_data_type(decode.data_type()),
            ),
            Decode::Time => Self::Time(Time64MicrosecondBuilder::with_capacity(capacity)),
            Decode::Bytes => Self::Bytes(BinaryBuilder::with_capacity(capacity, capacity * 16)),
            Decode::List(e) => {
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                Self::List {
                    item: Arc::new(Field::new("item", e.data_type(), true)),
                    offsets,
                    nulls: NullBufferBuilder::new(capacity),
                    child: Box::new(ColumnBuilder::new(e, capacity)),
                }
            }
        }
    }

    /// Appends one value (`None` is SQL NULL) in the type's binary format.
    pub fn append(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        let Some(raw) = value else {
            self.append_null();
            return Ok(());
        };
        match self {
            Self::Bool(b) => b.append_value(be::<1>(raw, "boolean")?[0] != 0),
            Self::I16(b) => b.append_value(i16::from_be_bytes(be(raw, "smallint")?)),
            Self::I32(b) => b.append_value(i32::from_be_bytes(be(raw, "integer")?)),
            Self::I64(b) => b.append_value(i64::from_be_bytes(be(raw, "bigint")?)),
            Self::U32(b) => b.append_value(u32::from_be_bytes(be(raw, "oid")?)),
            Self::F32(b) => b.append_value(f32::from_be_bytes(be(raw, "real")?)),
            Self::F64(b) => b.append_value(f64::from_be_bytes(be(raw, "double precision")?)),
            Self::Decimal(b, scale) => b.append_value(numeric_to_i128(raw, *scale)?),
            Self::Text(b) => b.append_value(text(raw)?),
            Self::Uuid(b) => {
                let u = uuid::Uuid::from_slice(raw).map_err(|e| format!("uuid: {e}"))?;
                let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                b.append_value(u.hyphenated().encode_lower(&mut buf));
            }
            Self::Jsonb(b) => match raw.split_first() {
                Some((1, json)) => b.append_value(text(json)?),
                Some((v, _)) => return Err(format!("jsonb: unknown format version {v}")),
                None => return Err("jsonb: empty value".into()),
            },
            Self::Date(b) => {
                let d = i32::from_be_bytes(be(raw, "date")?);
                if d == i32::MAX || d == i32::MIN {
                    b.append_null(); // ±infinity
                } else {
                    b.append_value(d.checked_add(PG_EPOCH_DAYS).ok_or("date out of range")?);
                }
            }
            Self::Timestamp(b) => {
                let t = i64::from_be_bytes(be(raw, "timestamp")?);
                if t == i64::MAX || t == i64::MIN {
                    b.append_null(); // ±infinity
                } else {
                    b.append_value(
                        t.checked_add(PG_EPOCH_MICROS)
                            .ok_or("timestamp out of range")?,
                    );
                }
            }
            Self::Time(b) => b.append_value(i64::from_be_bytes(be(raw, "time")?)),
            Self::Bytes(b) => b.append_value(raw),
            Self::List {
                offsets,
                nulls,
                child,
                ..
            } => {
                let ndim = i32_at(raw, 0)?;
                let mut count = 0i32;
                match ndim {
                    0 => {}
                    1 => {
                        let n = i32_at(raw, 12)?;
                        let mut at = 20usize;
                        for _ in 0..n {
                            let len = i32_at(raw, at)?;
                            at += 4;
                            if len < 0 {
                                child.append(None)?;
                            } else {
                                let end = at + len as usize;
                                let v = raw.get(at..end).ok_or("array element ends early")?;
                                child.append(Some(v))?;
                                at = end;
                            }
                        }
                        count = n;
                    }
                    n => {
                        return Err(format!(
                            "a {n}-dimensional array; only one-dimensional arrays become lists (select it ::text in a view)"
                        ))
                    }
                }
                let last = *offsets.last().unwrap_or(&0);
                offsets.push(last + count);
                nulls.append_non_null();
            }
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            Self::Bool(b) => b.append_null(),
            Self::I16(b) => b.append_null(),
            Self::I32(b) => b.append_null(),
            Self::I64(b) => b.append_null(),
            Self::U32(b) => b.append_null(),
            Self::F32(b) => b.append_null(),
            Self::F64(b) => b.append_null(),
            Self::Decimal(b, _) => b.append_null(),
            Self::Text(b) | Self::Uuid(b) | Self::Jsonb(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::Time(b) => b.append_null(),
            Self::Bytes(b) => b.append_null(),
            Self::List { offsets, nulls, .. } => {
                let last = *offsets.last().unwrap_or(&0);
                offsets.push(last);
                nulls.append_null();
            }
        }
    }

    /// The values appended since the last `finish`, as an array.
    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Bool(b) => Arc::new(b.finish()),
            Self::I16(b) => Arc::new(b.finish()),
            Self::I32(b) => Arc::new(b.finish()),
            Self::I64(b) => Arc::new(b.finish()),
            Self::U32(b) => Arc::new(b.finish()),
            Self::F32(b) => Arc::new(b.finish()),
            Self::F64(b) => Arc::new(b.finish()),
            Self::Decimal(b, _) => Arc::new(b.finish()),
            Self::Text(b) | Self::Uuid(b) | Self::Jsonb(b) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
            Self::Time(b) => Arc::new(b.finish()),
            Self::Bytes(b) => Arc::new(b.finish()),
            Self::List {
                item,
                offsets,
                nulls,
                child,
            } => {
                let values = child.finish();
                let offs = std::mem::replace(offsets, vec![0]);
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offs));
                Arc::new(ListArray::new(
                    item.clone(),
                    offsets,
                    values,
                    nulls.finish(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Decimal128Type;
    use arrow_array::Array;

    /// `numeric` in PostgreSQL's send format.
    fn numeric(weight: i16, negative: bool, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((digits.len() as i16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend((if negative { 0x4000u16 } else { 0 }).to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_keep_every_digit() {
        // 12345.67 = [1][2345].[6700], weight 1
        assert_eq!(
            numeric_to_i128(&numeric(1, false, 2, &[1, 2345, 6700]), 2).unwrap(),
            1_234_567
        );
        // -0.0001 = [1] at weight -1, scale 4
        assert_eq!(numeric_to_i128(&numeric(-1, true, 4, &[1]), 4).unwrap(), -1);
        // 10000 = [1] at weight 1 (trailing zero groups are not sent)
        assert_eq!(
            numeric_to_i128(&numeric(1, false, 0, &[1]), 3).unwrap(),
            10_000_000
        );
        // zero
        assert_eq!(numeric_to_i128(&numeric(0, false, 0, &[]), 9).unwrap(), 0);
        // 29 integer digits and 9 decimals fill Decimal128(38, 9) without an intermediate overflow.
        let big = numeric(
            7,
            false,
            9,
            &[
                9, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9000,
            ],
        );
        assert_eq!(
            numeric_to_i128(&big, 9).unwrap(),
            99_999_999_999_999_999_999_999_999_999_999_999_999
        );
        assert!(numeric_to_i128(&big, 10).is_err());
        // more decimals than the scale is refused, never silently cut
        assert!(numeric_to_i128(&numeric(-1, false, 4, &[1]), 2).is_err());
        let mut nan = numeric(0, false, 0, &[]);
        nan[4] = 0xC0;
        assert!(numeric_to_i128(&nan, 2).unwrap_err().contains("NaN"));
    }

    #[test]
    fn builders_decode_the_send_formats() {
        let mut b = ColumnBuilder::new(&Decode::Decimal(12, 2), 4);
        b.append(Some(&numeric(0, true, 2, &[3, 1400]))).unwrap();
        b.append(None).unwrap();
        let a = b.finish();
        let d = a.as_primitive::<Decimal128Type>();
        assert_eq!(d.value_as_string(0), "-3.14");
        assert!(d.is_null(1));

        let mut t = ColumnBuilder::new(&Decode::TimestampTz, 2);
        t.append(Some(&0i64.to_be_bytes())).unwrap();
        t.append(Some(&i64::MAX.to_be_bytes())).unwrap();
        let a = t.finish();
        let ts = a.as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        assert_eq!(ts.value(0), PG_EPOCH_MICROS);
        assert!(ts.is_null(1), "infinity lands as null");

        let mut u = ColumnBuilder::new(&Decode::Uuid, 1);
        u.append(Some(&[0xab; 16])).unwrap();
        assert_eq!(
            u.finish().as_string::<i32>().value(0),
            "abababab-abab-abab-abab-abababababab"
        );

        let mut j = ColumnBuilder::new(&Decode::Jsonb, 1);
        j.append(Some(b"\x01{\"a\": 1}")).unwrap();
        assert_eq!(j.finish().as_string::<i32>().value(0), "{\"a\": 1}");

        // int4[] {7,NULL} then NULL then {}
        let mut arr = Vec::new();
        for v in [1i32, 1, 23, 2, 1] {
            arr.extend(v.to_be_bytes());
        }
        arr.extend(4i32.to_be_bytes());
        arr.extend(7i32.to_be_bytes());
        arr.extend((-1i32).to_be_bytes());
        let mut empty = Vec::new();
        for v in [0i32, 0, 23] {
            empty.extend(v.to_be_bytes());
        }
        let mut l = ColumnBuilder::new(&Decode::List(Box::new(Decode::I32)), 3);
        l.append(Some(&arr)).unwrap();
        l.append(None).unwrap();
        l.append(Some(&empty)).unwrap();
        let a = l.finish();
        let list = a.as_list::<i32>();
        assert_eq!(list.len(), 3);
        assert_eq!(list.value(0).len(), 2);
        assert!(list.value(0).is_null(1));
        assert!(list.is_null(1));
        assert_eq!(list.value(2).len(), 0);
        // a builder is reusable after finish
        l.append(Some(&empty)).unwrap();
        assert_eq!(l.finish().len(), 1);
    }
}

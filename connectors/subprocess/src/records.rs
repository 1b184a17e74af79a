//! Records of one stream (the `data` of Airbyte RECORDs, the `record` of
//! Singer RECORDs) decoded into Arrow batches by arrow-json.
//!
//! Each record's bytes go to the stream's arrow-json [`Decoder`] as they are
//! (the envelope is parsed with a borrowed [`RawValue`] for the record, so the
//! record itself is never built into a `serde_json::Value`). Columns that hold
//! JSON text (see [`crate::schema`]) are not in the decoder's schema; their
//! raw values are picked out of the record by a visitor that skips every
//! other key, and stitched into the batch in schema order.

use std::fmt;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_json::reader::{Decoder, ReaderBuilder};
use arrow_schema::{ArrowError, SchemaRef};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::schema::StreamSchema;

/// Decodes the records of one stream into batches of its schema.
pub struct StreamDecoder {
    schema: SchemaRef,
    decoder: Option<Decoder>,
    /// Per output column: `Ok(i)` = column `i` of the decoded batch, `Err(j)` = JSON column `j`.
    layout: Vec<Result<usize, usize>>,
    json_names: Vec<String>,
    json_builders: Vec<StringBuilder>,
    rows: usize,
}

impl fmt::Debug for StreamDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamDecoder")
            .field("schema", &self.schema)
            .field("rows", &self.rows)
            .finish()
    }
}

impl StreamDecoder {
    /// A decoder for `schema`, buffering up to `batch_rows` rows between flushes.
    pub fn new(schema: &StreamSchema, batch_rows: usize) -> Result<Self, ArrowError> {
        let decoded = schema.decoded();
        let decoder = if decoded.fields().is_empty() {
            None
        } else {
            Some(
                ReaderBuilder::new(decoded)
                    // Room for one more record than a flush waits for.
                    .with_batch_size(batch_rows.max(1) + 1)
                    .with_coerce_primitive(true)
                    .with_strict_mode(false)
                    .build_decoder()?,
            )
        };
        let mut layout = Vec::with_capacity(schema.arrow.fields().len());
        let mut json_names = Vec::new();
        let mut decoded_index = 0;
        for (i, f) in schema.arrow.fields().iter().enumerate() {
            if schema.json_columns.contains(&i) {
                layout.push(Err(json_names.len()));
                json_names.push(f.name().clone());
            } else {
                layout.push(Ok(decoded_index));
                decoded_index += 1;
            }
        }
        let json_builders = json_names.iter().map(|_| StringBuilder::new()).collect();
        Ok(Self {
            schema: schema.arrow.clone(),
            decoder,
            layout,
            json_names,
            json_builders,
            rows: 0,
        })
    }

    /// The Arrow schema of the batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows buffered since the last flush.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds one record (a JSON object).
    pub fn push(&mut self, record: &RawValue) -> Result<(), String> {
        let text = record.get();
        if !text.starts_with('{') {
            return Err(format!(
                "a record must be a JSON object, got `{}`",
                snippet(text)
            ));
        }
        if !self.json_names.is_empty() {
            let mut found: Vec<Option<&str>> = vec![None; self.json_names.len()];
            let mut de = serde_json::Deserializer::from_str(text);
            PickRaw {
                names: &self.json_names,
                out: &mut found,
            }
            .deserialize(&mut de)
            .map_err(|e| format!("record is not valid JSON: {e}"))?;
            for (builder, value) in self.json_builders.iter_mut().zip(found) {
                match value {
                    None | Some("null") => builder.append_null(),
                    Some(v) => builder.append_value(v),
                }
            }
        }
        if let Some(decoder) = self.decoder.as_mut() {
            let consumed = decoder.decode(text.as_bytes()).map_err(|e| e.to_string())?;
            if consumed != text.len() {
                return Err(format!(
                    "the JSON decoder took {consumed} of {} bytes of a record",
                    text.len()
                ));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The buffered rows as one batch, if any.
    pub fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.rows == 0 {
            return Ok(None);
        }
        let decoded = match self.decoder.as_mut() {
            Some(d) => d.flush()?,
            None => None,
        };
        let json: Vec<ArrayRef> = self
            .json_builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let columns: Vec<ArrayRef> = self
            .layout
            .iter()
            .map(|slot| match slot {
                Ok(i) => decoded
                    .as_ref()
                    .map(|b| b.column(*i).clone())
                    .ok_or_else(|| ArrowError::JsonError("decoded batch missing".into())),
                Err(j) => Ok(json[*j].clone()),
            })
            .collect::<Result<_, _>>()?;
        let rows = std::mem::take(&mut self.rows);
        let batch = RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        Ok(Some(batch))
    }
}

/// The first 120 characters of `s`, for messages.
pub fn snippet(s: &str) -> String {
    let mut out: String = s.chars().take(120).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Picks the raw text of the named keys out of one JSON object.
struct PickRaw<'a, 'de> {
    names: &'a [String],
    out: &'a mut [Option<&'de str>],
}

impl<'de> DeserializeSeed<'de> for PickRaw<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PickRaw<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.names.iter().position(|n| n.as_str() == key.as_str()) {
                Some(i) => {
                    let raw: &'de RawValue = map.next_value()?;
                    self.out[i] = Some(raw.get());
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// An object key, borrowed unless it had escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::stream_schema_from_value;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    use arrow_array::Array;
    use serde_json::json;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn records_decode_into_typed_columns_with_json_text_kept_verbatim() {
        let schema = crate::schema::stream_schema(
            "items",
            &raw(r#"{"properties": {
                "id": {"type": "integer"},
                "meta": {"type": ["null", "object"]},
                "at": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "items": {}},
                "name": {"type": ["null", "string"]},
                "address": {"type": "object", "properties": {"city": {"type": "string"}}}
            }}"#),
        )
        .unwrap();
        let mut d = StreamDecoder::new(&schema, 100).unwrap();
        d.push(&raw(r#"{"id":1,"meta":{"k":[1,2]},"at":"2024-01-02T03:04:05+00:00","tags":["a",{"b":1}],"name":7,"address":{"city":"Oslo"},"new_field":1}"#)).unwrap();
        d.push(&raw(
            r#"{"id":2,"meta":null,"at":"2024-01-02T03:04:05.5Z"}"#,
        ))
        .unwrap();
        d.push(&raw(
            r#"{"n\u0061me":"escaped key","id":3,"me\u0074a":{"x":"y"}}"#,
        ))
        .unwrap();
        assert_eq!(d.len(), 3);
        let b = d.flush().unwrap().unwrap();
        assert!(d.flush().unwrap().is_none());
        assert_eq!(b.num_rows(), 3);
        let ids = b.column(0).as_primitive::<Int64Type>();
        assert_eq!(ids.values(), &[1, 2, 3]);
        let meta = b.column(1).as_string::<i32>();
        assert_eq!(meta.value(0), r#"{"k":[1,2]}"#);
        assert!(meta.is_null(1));
        assert_eq!(meta.value(2), r#"{"x":"y"}"#);
        let at = b.column(2).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(at.value(0), 1_704_164_645_000_000);
        assert_eq!(at.value(1), 1_704_164_645_500_000);
        assert!(at.is_null(2));
        let tags = b.column(3).as_string::<i32>();
        assert_eq!(tags.value(0), r#"["a",{"b":1}]"#);
        assert!(tags.is_null(1));
        let name = b.column(4).as_string::<i32>();
        assert_eq!(
            name.value(0),
            "7",
            "numbers in a string column keep their text"
        );
        assert_eq!(name.value(2), "escaped key");
        let city = b.column(5).as_struct().column(0).as_string::<i32>();
        assert_eq!(city.value(0), "Oslo");
    }

    #[test]
    fn only_json_columns_still_count_rows() {
        let schema = stream_schema_from_value("s", &json!({"properties": {"blob": {}}})).unwrap();
        let mut d = StreamDecoder::new(&schema, 10).unwrap();
        d.push(&raw(r#"{"blob":[1]}"#)).unwrap();
        d.push(&raw(r#"{}"#)).unwrap();
        let b = d.flush().unwrap().unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(0).as_string::<i32>().value(0), "[1]");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error_naming_it() {
        let schema = stream_schema_from_value(
            "s",
            &json!({"properties": {"at": {"type": "string", "format": "date-time"}}}),
        )
        .unwrap();
        let mut d = StreamDecoder::new(&schema, 10).unwrap();
        d.push(&raw(r#"{"at":"yesterday"}"#)).unwrap();
        let e = d.flush().unwrap_err().to_string();
        assert!(e.contains("yesterday"), "{e}");
        let e = d.push(&raw("[1]")).unwrap_err();
        assert!(e.contains("JSON object"), "{e}");
    }
}

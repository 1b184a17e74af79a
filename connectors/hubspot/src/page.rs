//! HubSpot page JSON → Arrow in one pass of arrow-json's decoder.
//!
//! Each page is decoded whole with a schema mirroring HubSpot's envelope
//! (`results`: a list of `{id, properties, createdAt, updatedAt, archived}`),
//! the properties as strings (HubSpot sends every value as a string), then
//! each property column is cast to its Arrow type, with empty strings as
//! nulls. No `serde_json::Value`, and each byte is parsed once.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow_cast::cast::{cast_with_options, CastOptions};
use arrow_json::reader::{Decoder, ReaderBuilder};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    next: Option<Next>,
}

#[derive(Deserialize)]
struct Next {
    after: serde_json::Value,
}

/// The next page's `after` token, read without decoding the records.
///
/// HubSpot puts `paging` after `results`, so the tail after the last
/// `"paging":` key is parsed alone; a body without it is a last page (or is
/// broken, which decoding the records then reports).
pub fn peek_next_after(body: &[u8]) -> Result<Option<String>, String> {
    const KEY: &[u8] = b"\"paging\":";
    let Some(pos) = body.windows(KEY.len()).rposition(|w| w == KEY) else {
        return Ok(None);
    };
    let tail = body[pos + KEY.len()..].trim_ascii_end();
    let Some(object) = tail.strip_suffix(b"}") else {
        return Err("invalid JSON in the response: no closing brace".into());
    };
    let p: Paging = serde_json::from_slice(object)
        .map_err(|e| format!("invalid JSON in the response paging: {e}"))?;
    Ok(p.next.map(|n| match n.after {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }))
}

/// What one appended page held.
pub struct PageInfo {
    /// Records in the response (before any skipping).
    pub received: usize,
    /// Records appended.
    pub kept: usize,
    /// The next page's `after` token, if any.
    pub next_after: Option<String>,
    /// Largest modified time (epoch ms) among the appended records.
    pub max_modified_ms: Option<i64>,
    /// Ids of the appended records whose modified time equals `max_modified_ms`.
    pub ids_at_max: Vec<String>,
}

/// Decodes pages of one stream.
pub struct PageDecoder {
    schema: SchemaRef,
    decoder: Decoder,
    /// Output column → position in the page's `properties` struct (for property columns).
    props: Vec<Option<usize>>,
    /// Position of the tracked cursor property in the output, for incremental reads.
    modified: Option<usize>,
    pending: Vec<RecordBatch>,
    buffered: usize,
}

const FIXED: [&str; 4] = ["id", "created_at", "updated_at", "archived"];

impl PageDecoder {
    /// A decoder producing batches of `schema` (the stream's schema: `id`,
    /// `created_at`, `updated_at`, `archived`, then one column per property).
    /// `modified_property` is tracked for incremental reads.
    pub fn new(
        schema: SchemaRef,
        modified_property: Option<&'static str>,
    ) -> Result<Self, arrow_schema::ArrowError> {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let mut prop_fields = Vec::new();
        let mut props = Vec::new();
        for f in schema.fields() {
            if FIXED.contains(&f.name().as_str()) {
                props.push(None);
            } else {
                props.push(Some(prop_fields.len()));
                prop_fields.push(Field::new(f.name(), DataType::Utf8, true));
            }
        }
        let record = Fields::from(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("createdAt", ts.clone(), true),
            Field::new("updatedAt", ts, true),
            Field::new("archived", DataType::Boolean, true),
            Field::new(
                "properties",
                DataType::Struct(Fields::from(prop_fields)),
                true,
            ),
        ]);
        let envelope = Schema::new(vec![Field::new(
            "results",
            DataType::List(Arc::new(Field::new("item", DataType::Struct(record), true))),
            true,
        )]);
        let decoder = ReaderBuilder::new(Arc::new(envelope))
            .with_coerce_primitive(true)
            .with_batch_size(1)
            .build_decoder()?;
        let modified = modified_property.and_then(|p| schema.index_of(p).ok());
        Ok(Self {
            schema,
            decoder,
            props,
            modified,
            pending: Vec::new(),
            buffered: 0,
        })
    }

    /// Rows appended since the last [`PageDecoder::flush`].
    pub fn buffered_rows(&self) -> usize {
        self.buffered
    }

    /// Decodes a page and keeps its records for the next batch (pages are
    /// gathered into larger batches: fewer, bigger batches are much cheaper
    /// to land). Records for which `skip(id, modified_ms)` is true are left out.
    pub fn append(
        &mut self,
        body: &[u8],
        skip: impl Fn(&str, Option<i64>) -> bool,
    ) -> Result<PageInfo, String> {
        let invalid = |e: arrow_schema::ArrowError| format!("invalid JSON in the response: {e}");
        let consumed = self.decoder.decode(body).map_err(invalid)?;
        if consumed != body.len() && !body[consumed..].iter().all(u8::is_ascii_whitespace) {
            return Err("invalid JSON in the response: more than one document".into());
        }
        if self.decoder.has_partial_record() {
            // Reset the decoder so the next page starts clean.
            let _ = self.decoder.flush();
            return Err("invalid JSON in the response: the body ends mid-document".into());
        }
        let page = self
            .decoder
            .flush()
            .map_err(invalid)?
            .ok_or("invalid JSON in the response: empty body")?;
        let results = page.column(0).as_list::<i32>();
        if results.is_null(0) {
            return Err("the response has no `results`".into());
        }
        let records = results.value(0);
        let records = records.as_struct();
        let received = records.len();
        let next_after = peek_next_after(body)?;

        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        let properties = records.column(4).as_struct();
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        for (field, prop) in self.schema.fields().iter().zip(&self.props) {
            let column = match prop {
                None => {
                    let i = FIXED.iter().position(|n| n == field.name()).unwrap_or(0);
                    records.column(i).clone()
                }
                Some(p) => {
                    let raw = properties.column(*p);
                    if field.data_type() == &DataType::Utf8 {
                        raw.clone()
                    } else {
                        let strings = raw.as_string::<i32>();
                        // HubSpot sends "" for an unset typed property.
                        let cleaned: StringArray = strings
                            .iter()
                            .map(|v| v.filter(|s| !s.is_empty()))
                            .collect();
                        cast_with_options(&cleaned, field.data_type(), &options)
                            .map_err(|e| format!("property `{}`: {e}", field.name()))?
                    }
                }
            };
            columns.push(column);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| format!("record does not match the schema: {e}"))?;

        // Skip records, and find the highest cursor among the kept ones.
        let ids = batch.column(0).as_string::<i32>();
        let modified_ms = |i: usize| -> Option<i64> {
            let col = batch.column(self.modified?);
            let ts = col.as_primitive_opt::<TimestampMicrosecondType>()?;
            (!ts.is_null(i)).then(|| ts.value(i).div_euclid(1000))
        };
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|i| Some(!skip(ids.value(i), modified_ms(i))))
            .collect();
        let kept = keep.true_count();
        let mut max_modified: Option<i64> = None;
        let mut ids_at_max = Vec::new();
        if self.modified.is_some() {
            for i in (0..batch.num_rows()).filter(|i| keep.value(*i)) {
                let Some(m) = modified_ms(i) else { continue };
                match max_modified {
                    Some(cur) if m < cur => {}
                    Some(cur) if m == cur => ids_at_max.push(ids.value(i).to_owned()),
                    _ => {
                        max_modified = Some(m);
                        ids_at_max.clear();
                        ids_at_max.push(ids.value(i).to_owned());
                    }
                }
            }
        }
        let batch = if kept == batch.num_rows() {
            batch
        } else {
            arrow_select::filter::filter_record_batch(&batch, &keep).map_err(|e| e.to_string())?
        };
        if batch.num_rows() > 0 {
            self.buffered += batch.num_rows();
            self.pending.push(batch);
        }
        Ok(PageInfo {
            received,
            kept,
            next_after,
            max_modified_ms: max_modified,
            ids_at_max,
        })
    }

    /// The batch of every row appended since the last flush, if any.
    pub fn flush(&mut self) -> Result<Option<RecordBatch>, String> {
        self.buffered = 0;
        let pending = std::mem::take(&mut self.pending);
        match pending.len() {
            0 => Ok(None),
            1 => Ok(pending.into_iter().next()),
            _ => arrow_select::concat::concat_batches(&self.schema, &pending)
                .map(Some)
                .map_err(|e| e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, TimestampMicrosecondType};
    use arrow_array::Array;
    use arrow_schema::{Field, Schema, TimeUnit};
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new(
                "created_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new(
                "updated_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("archived", DataType::Boolean, true),
            Field::new("email", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(38, 9), true),
            Field::new("optout", DataType::Boolean, true),
            Field::new(
                "lastmodifieddate",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("hs_object_id", DataType::Int64, true),
            Field::new("dob", DataType::Date32, true),
        ]))
    }

    struct Decoded {
        batch: RecordBatch,
        received: usize,
        next_after: Option<String>,
        max_modified_ms: Option<i64>,
        ids_at_max: Vec<String>,
    }

    impl PageDecoder {
        fn decode(
            &mut self,
            body: &[u8],
            skip: impl Fn(&str, Option<i64>) -> bool,
        ) -> Result<Decoded, String> {
            let info = self.append(body, skip)?;
            let batch = self.flush()?.expect("rows");
            Ok(Decoded {
                batch,
                received: info.received,
                next_after: info.next_after,
                max_modified_ms: info.max_modified_ms,
                ids_at_max: info.ids_at_max,
            })
        }
    }

    #[test]
    fn the_next_token_is_read_from_the_tail() {
        assert_eq!(
            peek_next_after(PAGE.as_bytes()).unwrap().as_deref(),
            Some("3")
        );
        let last = r#"{"results":[{"id":"1","properties":{"note":"x \"paging\": y"}}]}"#;
        assert_eq!(peek_next_after(last.as_bytes()).unwrap(), None);
        assert!(peek_next_after(br#"{"results":[],"paging":{"next":{"after":"#).is_err());
    }

    #[test]
    fn pages_gather_into_one_batch() {
        let mut d = PageDecoder::new(schema(), Some("lastmodifieddate")).unwrap();
        d.append(PAGE.as_bytes(), |_, _| false).unwrap();
        d.append(PAGE.as_bytes(), |id, _| id == "1").unwrap();
        assert_eq!(d.buffered_rows(), 5);
        assert_eq!(d.flush().unwrap().unwrap().num_rows(), 5);
        assert_eq!(d.buffered_rows(), 0);
        assert!(d.flush().unwrap().is_none());
    }

    const PAGE: &str = r#"{"results":[
      {"id":"1","properties":{"email":"A@x.com","amount":"1234.50","optout":"true","lastmodifieddate":"2024-01-01T00:00:01.250Z","hs_object_id":"1","dob":"1990-02-03","brand_new_prop":"x"},"createdAt":"2023-12-01T00:00:00.000Z","updatedAt":"2024-01-01T00:00:01.250Z","archived":false},
      {"id":"2","properties":{"email":null,"amount":"","optout":"false","lastmodifieddate":"2024-01-01T00:00:01.250Z","hs_object_id":"2","dob":""},"createdAt":"2023-12-01T00:00:00.000Z","updatedAt":"2024-01-01T00:00:01.250Z","archived":false},
      {"id":"3","properties":{"email":"c\"q@x.com","lastmodifieddate":"2024-01-01T00:00:00.250Z","hs_object_id":"3"},"createdAt":"2023-12-01T00:00:00.000Z","updatedAt":"2024-01-01T00:00:00.250Z","archived":false}
    ],"paging":{"next":{"after":"3","link":"?after=3"}}}"#;

    #[test]
    fn page_values_keep_their_types() {
        let mut d = PageDecoder::new(schema(), Some("lastmodifieddate")).unwrap();
        let p = d.decode(PAGE.as_bytes(), |_, _| false).unwrap();
        let b = &p.batch;
        assert_eq!(b.num_rows(), 3);
        assert_eq!(p.next_after.as_deref(), Some("3"));
        assert_eq!(b.column(4).as_string::<i32>().value(0), "A@x.com");
        assert!(b.column(4).is_null(1));
        assert_eq!(b.column(4).as_string::<i32>().value(2), "c\"q@x.com");
        let amount = b.column(5).as_primitive::<Decimal128Type>();
        assert_eq!(amount.value(0), 1_234_500_000_000);
        assert!(amount.is_null(1), "empty string is null");
        assert!(b.column(6).as_boolean().value(0));
        assert!(!b.column(6).as_boolean().value(1));
        let ts = b.column(7).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.value(0), 1_704_067_201_250_000);
        assert!(b.column(9).is_null(1));
        assert_eq!(p.max_modified_ms, Some(1_704_067_201_250));
        assert_eq!(p.ids_at_max, vec!["1", "2"]);
    }

    #[test]
    fn skipped_records_are_left_out() {
        let mut d = PageDecoder::new(schema(), Some("lastmodifieddate")).unwrap();
        let p = d.decode(PAGE.as_bytes(), |id, _| id == "2").unwrap();
        assert_eq!(p.batch.num_rows(), 2);
        assert_eq!(p.received, 3);
        assert_eq!(p.ids_at_max, vec!["1"]);
    }

    #[test]
    fn truncated_json_is_an_error() {
        let mut d = PageDecoder::new(schema(), Some("lastmodifieddate")).unwrap();
        let e = d
            .decode(&PAGE.as_bytes()[..PAGE.len() / 2], |_, _| false)
            .err()
            .unwrap();
        assert!(e.contains("invalid JSON"), "{e}");
    }
}

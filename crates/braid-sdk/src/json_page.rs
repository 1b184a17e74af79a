//! One JSON page body → an Arrow `RecordBatch` of its records, in one pass
//! of arrow-json's decoder, plus a few scalar values found beside the
//! records (a next-page cursor, a total).
//!
//! The decoder's schema mirrors the envelope: the records' list sits at
//! `records_path` (`["results"]`, `["data", "items"]`, or `[]` for a body
//! that is a bare JSON array), each value at its own path. Fields the
//! schema does not name are skipped, so a vendor adding a field breaks
//! nothing; a body cut short is an error, never a short page.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_json::reader::{Decoder, ReaderBuilder};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef};

/// A decoded page: its records and the values asked for, as strings.
#[derive(Debug)]
pub struct JsonPage {
    /// The records, with the record schema (empty when the list is absent or null).
    pub records: RecordBatch,
    /// One entry per value path, `None` when absent or null. Numbers and
    /// booleans come as their JSON text.
    pub values: Vec<Option<String>>,
}

/// Why a body did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonPageError {
    /// Not a JSON document, or one cut short: worth fetching again.
    Malformed(String),
    /// Valid JSON whose records do not fit the schema.
    Data(String),
}

impl std::fmt::Display for JsonPageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonPageError::Malformed(m) | JsonPageError::Data(m) => f.write_str(m),
        }
    }
}

/// Decodes pages of one endpoint.
pub struct JsonPageDecoder {
    schema: SchemaRef,
    envelope: SchemaRef,
    decoder: Decoder,
    records_path: Vec<String>,
    value_paths: Vec<Vec<String>>,
    bare_array: bool,
}

impl std::fmt::Debug for JsonPageDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonPageDecoder")
            .field("records_path", &self.records_path)
            .field("value_paths", &self.value_paths)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Node {
    children: BTreeMap<String, Node>,
    leaf: Option<DataType>,
}

impl Node {
    fn insert(&mut self, path: &[String], leaf: DataType) -> Result<(), ArrowError> {
        match path.split_first() {
            None => {
                if self.leaf.is_some() || !self.children.is_empty() {
                    return Err(ArrowError::SchemaError(
                        "two paths of the page overlap".into(),
                    ));
                }
                self.leaf = Some(leaf);
                Ok(())
            }
            Some((head, rest)) => {
                if self.leaf.is_some() {
                    return Err(ArrowError::SchemaError(format!(
                        "`{head}` is under a path that holds a value"
                    )));
                }
                self.children
                    .entry(head.clone())
                    .or_default()
                    .insert(rest, leaf)
            }
        }
    }

    fn fields(&self) -> Fields {
        self.children
            .iter()
            .map(|(name, node)| {
                let dt = match &node.leaf {
                    Some(dt) => dt.clone(),
                    None => DataType::Struct(node.fields()),
                };
                Field::new(name, dt, true)
            })
            .collect()
    }
}

/// Wrapper key of a bare-array body.
const BARE: &str = "records";

impl JsonPageDecoder {
    /// A decoder for records of `record_schema` at `records_path`, and
    /// string values at `value_paths` (e.g. `[["cursor"]]`).
    pub fn new(
        record_schema: SchemaRef,
        records_path: &[String],
        value_paths: &[Vec<String>],
    ) -> Result<Self, ArrowError> {
        let bare_array = records_path.is_empty();
        if bare_array && !value_paths.is_empty() {
            return Err(ArrowError::SchemaError(
                "a bare-array body has no other values".into(),
            ));
        }
        let records_path: Vec<String> = if bare_array {
            vec![BARE.to_owned()]
        } else {
            records_path.to_vec()
        };
        let item = DataType::Struct(record_schema.fields().clone());
        let mut root = Node::default();
        root.insert(
            &records_path,
            DataType::List(Arc::new(Field::new("item", item, true))),
        )?;
        for p in value_paths {
            if p.is_empty() {
                return Err(ArrowError::SchemaError("an empty value path".into()));
            }
            root.insert(p, DataType::Utf8)?;
        }
        let envelope = Arc::new(Schema::new(root.fields()));
        let decoder = build(&envelope)?;
        Ok(Self {
            schema: record_schema,
            envelope,
            decoder,
            records_path,
            value_paths: value_paths.to_vec(),
            bare_array,
        })
    }

    /// The record schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes one body. Errors are messages for a data error (which the
    /// caller prefixes with the endpoint).
    pub fn decode(&mut self, body: &[u8]) -> Result<JsonPage, String> {
        self.decode_page(body).map_err(|e| e.to_string())
    }

    /// [`decode`](Self::decode), telling a malformed body (cut short, not
    /// JSON) from records that do not fit the schema.
    pub fn decode_page(&mut self, body: &[u8]) -> Result<JsonPage, JsonPageError> {
        let result = self.decode_inner(body);
        if result.is_err() {
            // Start the next page clean.
            if let Ok(d) = build(&self.envelope) {
                self.decoder = d;
            }
        }
        result
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<(), JsonPageError> {
        let consumed = self
            .decoder
            .decode(bytes)
            .map_err(|e| JsonPageError::Malformed(format!("invalid JSON in the response: {e}")))?;
        if consumed != bytes.len() && !bytes[consumed..].iter().all(u8::is_ascii_whitespace) {
            return Err(JsonPageError::Malformed(
                "invalid JSON in the response: more than one document".into(),
            ));
        }
        Ok(())
    }

    fn decode_inner(&mut self, body: &[u8]) -> Result<JsonPage, JsonPageError> {
        use JsonPageError::{Data, Malformed};
        if self.bare_array {
            let trimmed = body.trim_ascii_start();
            if !trimmed.starts_with(b"[") {
                return Err(Malformed("the response is not a JSON array".into()));
            }
            self.feed(b"{\"records\":")?;
            self.feed(body)?;
            self.feed(b"}")?;
        } else {
            self.feed(body)?;
        }
        if self.decoder.has_partial_record() {
            return Err(Malformed(
                "invalid JSON in the response: the body ends mid-document".into(),
            ));
        }
        // The tape holds one complete document: what flush rejects are
        // values that do not fit their columns.
        let page = self
            .decoder
            .flush()
            .map_err(|e| Data(format!("invalid JSON in the response: {e}")))?
            .ok_or_else(|| Malformed("invalid JSON in the response: empty body".into()))?;
        let root = StructArray::from(page);
        let list = walk(&root, &self.records_path);
        let records = match list {
            Some(list) if !list.is_null(0) => {
                let items = list.as_list::<i32>().value(0);
                let items = items.as_struct();
                if items.null_count() > 0 {
                    return Err(Data(format!(
                        "`{}` holds a null record",
                        self.records_path.join(".")
                    )));
                }
                RecordBatch::try_new(self.schema.clone(), items.columns().to_vec())
                    .map_err(|e| Data(format!("records do not match the schema: {e}")))?
            }
            _ => RecordBatch::new_empty(self.schema.clone()),
        };
        let values = self
            .value_paths
            .iter()
            .map(|p| {
                walk(&root, p).and_then(|a| {
                    let s = a.as_string_opt::<i32>()?;
                    (!s.is_null(0)).then(|| s.value(0).to_owned())
                })
            })
            .collect();
        Ok(JsonPage { records, values })
    }
}

fn build(envelope: &SchemaRef) -> Result<Decoder, ArrowError> {
    ReaderBuilder::new(envelope.clone())
        .with_coerce_primitive(true)
        .with_batch_size(1)
        .build_decoder()
}

/// The column at `path` of a one-row struct, or `None` when a struct on the way is null.
fn walk(root: &StructArray, path: &[String]) -> Option<ArrayRef> {
    let (last, parents) = path.split_last()?;
    let mut current = root.clone();
    for p in parents {
        let next = current.column_by_name(p)?;
        if next.is_null(0) {
            return None;
        }
        current = next.as_struct().clone();
    }
    current.column_by_name(last).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::{Int64Type, TimestampMicrosecondType};
    use arrow_schema::TimeUnit;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]))
    }

    fn path(s: &str) -> Vec<String> {
        s.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn nested_records_and_values_decode_and_new_fields_are_ignored() {
        let mut d = JsonPageDecoder::new(
            schema(),
            &path("data.items"),
            &[path("data.next"), path("meta.total")],
        )
        .unwrap();
        let body = br#"{"data":{"items":[{"id":"a","n":1,"at":"2024-01-01T00:00:01.250Z","brand_new":{"x":1}},{"id":"b","n":null}],"next":"c2"},"meta":{"total":17}}"#;
        let p = d.decode(body).unwrap();
        assert_eq!(p.records.num_rows(), 2);
        assert_eq!(p.records.column(0).as_string::<i32>().value(1), "b");
        assert_eq!(p.records.column(1).as_primitive::<Int64Type>().value(0), 1);
        assert_eq!(
            p.records
                .column(2)
                .as_primitive::<TimestampMicrosecondType>()
                .value(0),
            1_704_067_201_250_000
        );
        assert_eq!(p.values, vec![Some("c2".into()), Some("17".into())]);
        // The last page: no list, no cursor.
        let p = d.decode(b"{}").unwrap();
        assert_eq!(p.records.num_rows(), 0);
        assert_eq!(p.values, vec![None, None]);
    }

    #[test]
    fn bare_arrays_decode() {
        let mut d = JsonPageDecoder::new(schema(), &[], &[]).unwrap();
        let p = d.decode(br#" [{"id":"a"},{"id":"b","n":"7"}]"#).unwrap();
        assert_eq!(p.records.num_rows(), 2);
        assert_eq!(p.records.column(1).as_primitive::<Int64Type>().value(1), 7);
        assert!(d.decode(br#"{"id":"a"}"#).is_err());
    }

    #[test]
    fn truncated_bodies_and_missing_required_fields_are_errors() {
        let mut d = JsonPageDecoder::new(schema(), &path("results"), &[path("cursor")]).unwrap();
        let body = br#"{"results":[{"id":"a"},{"id":"b"}],"cursor":"x"}"#;
        let e = d.decode(&body[..body.len() / 2]).unwrap_err();
        assert!(e.contains("ends mid-document"), "{e}");
        // The decoder is clean again after an error.
        assert_eq!(d.decode(body).unwrap().records.num_rows(), 2);
        let e = d.decode(br#"{"results":[{"n":1}]}"#).unwrap_err();
        assert!(e.contains("id"), "{e}");
    }
}

//! HubSpot page JSON → Arrow, without a `serde_json::Value` per record.
//!
//! The page is parsed with borrowed slices; each record is re-emitted as one
//! flat JSON object (properties plus `id`, `created_at`, `updated_at`,
//! `archived`) into a buffer that arrow-json's decoder turns into a batch.
//! On the way, HubSpot's string-encoded booleans become JSON booleans and
//! empty strings in typed columns become nulls.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use arrow_array::RecordBatch;
use arrow_json::reader::{Decoder, ReaderBuilder};
use arrow_schema::{DataType, SchemaRef};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    results: Vec<Item<'a>>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    next: Option<Next>,
}

#[derive(Deserialize)]
struct Next {
    after: serde_json::Value,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    properties: Props<'a>,
    #[serde(rename = "createdAt", borrow, default)]
    created_at: Option<&'a RawValue>,
    #[serde(rename = "updatedAt", borrow, default)]
    updated_at: Option<&'a RawValue>,
    #[serde(default)]
    archived: bool,
}

#[derive(Default)]
struct Props<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Props<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Props<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of properties")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Props<'a>, A::Error> {
                let mut v = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    let val: &'de RawValue = map.next_value()?;
                    v.push((k, val));
                }
                Ok(Props(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Bool,
    Typed,
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

/// The most rows one batch gathers (the arrow-json decoder's batch size).
pub const MAX_BUFFERED_ROWS: usize = 8192;

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
    kinds: HashMap<String, Kind>,
    decoder: Decoder,
    /// Property names by position in the last record, with their kinds:
    /// HubSpot repeats one order, so most lookups are one comparison.
    order: Vec<(String, Option<Kind>)>,
    buf: Vec<u8>,
    buffered: usize,
    /// The cursor property to track, for incremental reads.
    modified_property: Option<&'static str>,
}

impl PageDecoder {
    /// A decoder producing batches of `schema`.
    pub fn new(
        schema: SchemaRef,
        modified_property: Option<&'static str>,
    ) -> Result<Self, arrow_schema::ArrowError> {
        let kinds = schema
            .fields()
            .iter()
            .map(|f| {
                let k = match f.data_type() {
                    DataType::Utf8 | DataType::LargeUtf8 => Kind::Text,
                    DataType::Boolean => Kind::Bool,
                    _ => Kind::Typed,
                };
                (f.name().clone(), k)
            })
            .collect();
        let decoder = ReaderBuilder::new(schema)
            .with_batch_size(MAX_BUFFERED_ROWS)
            .build_decoder()?;
        Ok(Self {
            kinds,
            decoder,
            order: Vec::new(),
            buf: Vec::with_capacity(1 << 16),
            buffered: 0,
            modified_property,
        })
    }

    /// Rows appended since the last [`PageDecoder::flush`].
    pub fn buffered_rows(&self) -> usize {
        self.buffered
    }

    /// Appends a page's records to the batch being built (pages are
    /// gathered into larger batches: fewer, bigger batches are much cheaper
    /// to land). Records for which `skip(id, modified_ms)` is true are left out.
    pub fn append(
        &mut self,
        body: &[u8],
        skip: impl Fn(&str, Option<i64>) -> bool,
    ) -> Result<PageInfo, String> {
        let page: Page<'_> = serde_json::from_slice(body)
            .map_err(|e| format!("invalid JSON in the response: {e}"))?;
        let received = page.results.len();
        self.buf.clear();
        let mut max_modified: Option<i64> = None;
        let mut ids_at_max: Vec<String> = Vec::new();
        let mut kept = 0usize;
        for item in &page.results {
            let modified = self.modified_property.and_then(|prop| {
                item.properties
                    .0
                    .iter()
                    .find(|(k, _)| k == prop)
                    .and_then(|(_, v)| parse_ms(v.get()))
            });
            if skip(&item.id, modified) {
                continue;
            }
            kept += 1;
            if let Some(m) = modified {
                match max_modified {
                    Some(cur) if m < cur => {}
                    Some(cur) if m == cur => ids_at_max.push(item.id.to_string()),
                    _ => {
                        max_modified = Some(m);
                        ids_at_max.clear();
                        ids_at_max.push(item.id.to_string());
                    }
                }
            }
            self.write_record(item);
        }
        if kept > 0 {
            if self.buffered + kept > MAX_BUFFERED_ROWS {
                return Err(format!(
                    "more than {MAX_BUFFERED_ROWS} rows buffered: flush before appending"
                ));
            }
            let consumed = self
                .decoder
                .decode(&self.buf)
                .map_err(|e| format!("record does not match the schema: {e}"))?;
            if consumed != self.buf.len() {
                return Err(format!(
                    "decoder stopped at byte {consumed} of {}",
                    self.buf.len()
                ));
            }
            self.buffered += kept;
        }
        let next_after = page.paging.and_then(|p| p.next).map(|n| match n.after {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        });
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
        self.decoder
            .flush()
            .map_err(|e| format!("record does not match the schema: {e}"))
    }

    fn write_record(&mut self, item: &Item<'_>) {
        let mut out = std::mem::take(&mut self.buf);
        let buf = &mut out;
        buf.push(b'{');
        for (j, (name, raw)) in item.properties.0.iter().enumerate() {
            let kind = match self.order.get(j) {
                Some((n, k)) if n == name.as_ref() => *k,
                _ => {
                    let k = self.kinds.get(name.as_ref()).copied();
                    if j < self.order.len() {
                        self.order[j] = (name.to_string(), k);
                    } else {
                        self.order.push((name.to_string(), k));
                    }
                    k
                }
            };
            let Some(kind) = kind else {
                continue; // a property discover did not list: ignored until the next discover
            };
            let raw = raw.get();
            let _ = serde_json::to_writer(&mut *buf, name.as_ref());
            buf.push(b':');
            match (kind, raw) {
                (Kind::Bool, "\"true\"") => buf.extend_from_slice(b"true"),
                (Kind::Bool, "\"false\"") => buf.extend_from_slice(b"false"),
                (Kind::Bool | Kind::Typed, "\"\"") => buf.extend_from_slice(b"null"),
                _ => buf.extend_from_slice(raw.as_bytes()),
            }
            buf.push(b',');
        }
        buf.extend_from_slice(b"\"id\":");
        let _ = serde_json::to_writer(&mut *buf, item.id.as_ref());
        buf.extend_from_slice(b",\"created_at\":");
        buf.extend_from_slice(item.created_at.map_or("null", |r| r.get()).as_bytes());
        buf.extend_from_slice(b",\"updated_at\":");
        buf.extend_from_slice(item.updated_at.map_or("null", |r| r.get()).as_bytes());
        buf.extend_from_slice(if item.archived {
            b",\"archived\":true}"
        } else {
            b",\"archived\":false}"
        });
        buf.push(b'\n');
        self.buf = out;
    }
}

/// Epoch ms of a JSON string holding an RFC 3339 time or epoch millis.
fn parse_ms(raw: &str) -> Option<i64> {
    let s = raw.strip_prefix('"')?.strip_suffix('"')?;
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
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

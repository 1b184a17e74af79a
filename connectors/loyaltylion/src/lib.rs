//! LoyaltyLion source (Admin API v2): `customers` (loyalty members with
//! point balances and tier) and `transactions` (points added or removed).
//!
//! Written as a vendor would write it outside this repository: it depends on
//! `braid-sdk` alone (the contract, [`HttpClient`], [`JsonPageDecoder`],
//! [`PageTokenGuard`]) and ends with [`braid_sdk::export_plugin!`], so the
//! same crate is a `cdylib` plugin (`connector: plugin:…`) and, as an rlib,
//! compiled into braid (`connector: loyaltylion`). `docs/writing-a-connector.md`
//! walks through it.
//!
//! - Auth: the program API key as `Authorization: Bearer`; LoyaltyLion's
//!   `{"error": …}` bodies become the message (never the key).
//! - Rate limit: 20 requests per second per program; the client paces
//!   itself at `requests_per_second` and retries 429s after `Retry-After`,
//!   as it does 5xx and timeouts.
//! - `customers`: full refresh pages with `since_id` (ascending ids, the end
//!   is a short page) and checkpoints the last id as `resume`, so a crashed
//!   run continues; incremental asks for `updated_at_min` (the committed
//!   cursor, inclusive) with `sort_field=updated_at&sort_direction=asc` and
//!   follows `cursor.next`, checkpointing after every batch.
//! - `transactions` are immutable: incremental on `id` with `since_id` =
//!   committed id − 1 (the contract's inclusive read; the runtime drops the
//!   boundary record it already landed), full refresh with `since_id` from 0.
//! - Pages go straight from JSON to Arrow with arrow-json; fields
//!   LoyaltyLion adds are skipped.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use braid_sdk::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, Error, HttpClient, HttpConfig,
    JsonPageDecoder, Message, MessageStream, PageTokenGuard, ReadRequest, Result, Source,
    StreamDescriptor, StreamState, SyncMode,
};
use futures::StreamExt;
use serde::Deserialize;

/// Rows gathered from consecutive pages into one batch.
const FLUSH_ROWS: usize = 4096;

/// The LoyaltyLion connector (`connector: loyaltylion`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LoyaltyLionConnector;

/// Configuration of the LoyaltyLion source.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltyLionConfig {
    /// The program API key (Manage → API keys; scopes `read_customers`,
    /// `read_transactions`), sent as a bearer token. Secret.
    pub api_key: String,
    /// API base URL (a proxy, the sandbox).
    #[serde(default = "default_base")]
    pub base_url: String,
    /// Records per request (`limit`, at most 500).
    #[serde(
        default = "default_page_size",
        deserialize_with = "braid_sdk::config_value::number"
    )]
    pub page_size: u32,
    /// Earliest time an incremental stream's first run reads (RFC 3339):
    /// `updated_at` of customers, `created_at` of transactions.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Client-side pace, below LoyaltyLion's 20 requests per second.
    #[serde(
        default = "default_rps",
        deserialize_with = "braid_sdk::config_value::number"
    )]
    pub requests_per_second: u32,
    /// Retries of a request after transient failures or 429s.
    #[serde(
        default = "default_retries",
        deserialize_with = "braid_sdk::config_value::number"
    )]
    pub max_retries: u32,
    /// Timeout of one request attempt, in milliseconds (retried).
    #[serde(
        default = "default_timeout",
        deserialize_with = "braid_sdk::config_value::number"
    )]
    pub request_timeout_ms: u64,
}

impl std::fmt::Debug for LoyaltyLionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoyaltyLionConfig")
            .field("api_key", &"***")
            .field("base_url", &self.base_url)
            .field("page_size", &self.page_size)
            .field("start_date", &self.start_date)
            .finish_non_exhaustive()
    }
}

fn default_base() -> String {
    "https://api.loyaltylion.com".into()
}
fn default_page_size() -> u32 {
    500
}
fn default_rps() -> u32 {
    18
}
fn default_retries() -> u32 {
    6
}
fn default_timeout() -> u64 {
    30_000
}

impl LoyaltyLionConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self> {
        let mut c: LoyaltyLionConfig = serde_json::from_value(value)
            .map_err(|e| Error::Config(format!("loyaltylion: {e}")))?;
        c.start_date = c.start_date.take().filter(|s| !s.trim().is_empty());
        if c.api_key.trim().is_empty() {
            return Err(Error::Config("loyaltylion: api_key is empty".into()));
        }
        if !(1..=500).contains(&c.page_size) {
            return Err(Error::Config(format!(
                "loyaltylion: page_size must be 1..=500 (LoyaltyLion's maximum), got {}",
                c.page_size
            )));
        }
        if let Some(s) = &c.start_date {
            chrono::DateTime::parse_from_rfc3339(s).map_err(|e| {
                Error::Config(format!(
                    "loyaltylion: start_date {s:?} is not RFC 3339: {e}"
                ))
            })?;
        }
        Ok(c)
    }
}

fn config_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "required": ["api_key"],
        "additionalProperties": false,
        "properties": {
            "api_key": {"type": "string", "secret": true, "description": "Program API key (bearer token)."},
            "base_url": {"type": "string", "default": "https://api.loyaltylion.com"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 500, "default": 500},
            "start_date": {"type": "string", "format": "date-time"},
            "requests_per_second": {"type": "integer", "minimum": 1, "default": 18},
            "max_retries": {"type": "integer", "minimum": 0, "default": 6},
            "request_timeout_ms": {"type": "integer", "minimum": 1, "default": 30000}
        }
    })
}

impl Connector for LoyaltyLionConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "loyaltylion".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config_schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(LoyaltyLionSource::new(
            LoyaltyLionConfig::from_value(config)?,
        )?))
    }
}

/// LoyaltyLion's error body: `{"error": "text"}` (or `{"message": …}`).
fn error_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error").or_else(|| v.get("message"))?;
    Some(e.as_str().map_or_else(|| e.to_string(), str::to_owned))
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}
fn f(name: &str, dt: DataType) -> Field {
    Field::new(name, dt, true)
}
fn st(name: &str, fields: Vec<Field>) -> Field {
    f(name, DataType::Struct(Fields::from(fields)))
}

/// The `customers` schema: ids as LoyaltyLion sends them (integers; the
/// shop's customer id is the string `merchant_id`), points as `Int64`,
/// times as `Timestamp(µs, UTC)`.
pub fn customers_schema() -> SchemaRef {
    use DataType::{Boolean, Int64, Utf8};
    Arc::new(Schema::new(vec![
        Field::new("id", Int64, false),
        f("merchant_id", Utf8),
        f("email", Utf8),
        f("points_approved", Int64),
        f("points_pending", Int64),
        f("points_spent", Int64),
        f("rewards_claimed", Int64),
        f("blocked", Boolean),
        f("guest", Boolean),
        f("enrolled", Boolean),
        f("enrolled_at", ts()),
        f("referral_id", Utf8),
        st("referred_by", vec![f("id", Int64), f("merchant_id", Utf8)]),
        st(
            "loyalty_tier_membership",
            vec![
                f("started_at", ts()),
                f("expires_at", ts()),
                f("manual", Boolean),
                st(
                    "loyalty_tier",
                    vec![
                        f("id", Int64),
                        f("name", Utf8),
                        f("number", Int64),
                        f("default", Boolean),
                        f("hidden", Boolean),
                        f("lower_bound", Utf8),
                        f("upper_bound", Utf8),
                        f("position", Int64),
                    ],
                ),
            ],
        ),
        f("insights_segment", Utf8),
        f("birthday", Utf8),
        f("referral_url", Utf8),
        st("metadata", vec![f("shopify_source_url", Utf8)]),
        f(
            "linked_merchant_ids",
            DataType::List(Arc::new(Field::new("item", Utf8, true))),
        ),
        f("created_at", ts()),
        Field::new("updated_at", ts(), false),
    ]))
}

/// The `transactions` schema: the member (as the API describes them at
/// read time), the points, and the activity that earned them, if any.
pub fn transactions_schema() -> SchemaRef {
    use DataType::{Int64, Utf8};
    Arc::new(Schema::new(vec![
        Field::new("id", Int64, false),
        st(
            "customer",
            vec![f("id", Int64), f("merchant_id", Utf8), f("email", Utf8)],
        ),
        f("points_approved", Int64),
        f("points_pending", Int64),
        f("created_at", ts()),
        f("resource", Utf8),
        st(
            "activity",
            vec![
                f("id", Int64),
                f("merchant_id", Utf8),
                f("value", Int64),
                f("state", Utf8),
                f("created_at", ts()),
                st(
                    "rule",
                    vec![f("id", Int64), f("name", Utf8), f("title", Utf8)],
                ),
            ],
        ),
    ]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Customers,
    Transactions,
}

impl Kind {
    const ALL: [Kind; 2] = [Kind::Customers, Kind::Transactions];

    fn name(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Transactions => "transactions",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown LoyaltyLion stream {s:?}; expected customers or transactions"
                ))
            })
    }

    fn descriptor(self) -> StreamDescriptor {
        let (schema, cursor) = match self {
            Kind::Customers => (customers_schema(), "updated_at"),
            Kind::Transactions => (transactions_schema(), "id"),
        };
        StreamDescriptor {
            name: self.name().into(),
            schema,
            primary_key: vec!["id".into()],
            cursor_field: Some(cursor.into()),
            sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
        }
    }
}

/// A configured LoyaltyLion source.
#[derive(Debug, Clone)]
pub struct LoyaltyLionSource {
    config: Arc<LoyaltyLionConfig>,
    client: HttpClient,
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Where a page request starts.
enum Page {
    /// `since_id` paging (ascending ids).
    SinceId(i64),
    /// The first request of an `updated_at` range.
    UpdatedSince(String),
    /// A `cursor.next` token.
    Cursor(String),
}

impl LoyaltyLionSource {
    /// A source for `config`.
    pub fn new(config: LoyaltyLionConfig) -> Result<Self> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_retries = config.max_retries;
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.requests_per_second = NonZeroU32::new(config.requests_per_second);
        http.error_message = error_message;
        Ok(Self {
            client: HttpClient::new(http)?,
            config: Arc::new(config),
        })
    }

    async fn get(&self, kind: Kind, page: &Page) -> Result<braid_sdk::HttpResponse> {
        let limit = self.config.page_size;
        let query = match page {
            Page::SinceId(id) => format!("since_id={id}&limit={limit}"),
            Page::UpdatedSince(t) => format!(
                "updated_at_min={}&sort_field=updated_at&sort_direction=asc&limit={limit}",
                encode(t)
            ),
            Page::Cursor(c) => format!("cursor={}&limit={limit}", encode(c)),
        };
        let url = format!(
            "{}?{query}",
            self.client.url(&format!("v2/{}", kind.name()))
        );
        let key = &self.config.api_key;
        self.client
            .send(|c| {
                c.get(&url)
                    .bearer_auth(key)
                    .header("Accept", "application/json")
            })
            .await
    }
}

#[async_trait]
impl Source for LoyaltyLionSource {
    async fn check(&self) -> Result<CheckOutcome> {
        // One record of each stream: the key and both scopes work.
        for kind in Kind::ALL {
            let url = format!(
                "{}?limit=1",
                self.client.url(&format!("v2/{}", kind.name()))
            );
            let key = &self.config.api_key;
            self.client.send(|c| c.get(&url).bearer_auth(key)).await?;
        }
        Ok(CheckOutcome {
            message: format!(
                "authenticated to {}; customers and transactions are readable",
                self.config.base_url
            ),
        })
    }

    async fn discover(&self) -> Result<Catalog> {
        Ok(Catalog {
            streams: Kind::ALL.iter().map(|k| k.descriptor()).collect(),
        })
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let mut readers = Vec::new();
        for configured in request.streams {
            let kind = Kind::parse(&configured.stream.name)?;
            let state = request
                .state
                .stream(kind.name())
                .cloned()
                .unwrap_or_default();
            let incremental = configured.sync_mode == SyncMode::Incremental;
            readers.push(self.clone().stream(
                kind,
                configured.stream.schema.clone(),
                incremental,
                state,
            ));
        }
        Ok(futures::stream::iter(readers).flatten_unordered(2).boxed())
    }
}

/// The committed `updated_at` cursor as RFC 3339 with milliseconds (rounded
/// down: the inclusive filter never skips a record).
fn since_time(state: &StreamState) -> Option<String> {
    let ms = state.cursor.as_ref()?.as_epoch_millis()?;
    let t = chrono::DateTime::from_timestamp_millis(ms)?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The first page of a read.
fn first_page(kind: Kind, incremental: bool, state: &StreamState, start: Option<&str>) -> Page {
    if !incremental {
        // A crashed full refresh resumes after its last committed id.
        let after = state
            .resume
            .as_ref()
            .and_then(|r| r.get("since_id"))
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        return Page::SinceId(after);
    }
    match kind {
        Kind::Customers => Page::UpdatedSince(
            since_time(state)
                .or_else(|| start.map(str::to_owned))
                .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into()),
        ),
        Kind::Transactions => Page::SinceId(match &state.cursor {
            // Inclusive of the committed id: the runtime drops the record it landed.
            Some(CursorValue::Int(id)) => (id - 1).max(0),
            _ => 0,
        }),
    }
}

impl LoyaltyLionSource {
    fn stream(
        self,
        kind: Kind,
        schema: SchemaRef,
        incremental: bool,
        state: StreamState,
    ) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = kind.name();
            let start = if incremental && kind == Kind::Transactions && state.cursor.is_none() {
                self.config.start_date.clone()
            } else {
                None
            };
            // A first incremental read of transactions from `start_date`:
            // since_id from 0, keeping rows created at or after it
            // (LoyaltyLion's created_at_min pages newest first, which a
            // checkpointing reader cannot use).
            let mut page = first_page(kind, incremental, &state, self.config.start_date.as_deref());
            let start_ms = start
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.timestamp_micros());
            let mut decoder = JsonPageDecoder::new(
                schema.clone(),
                &[name.to_owned()],
                &[vec!["cursor".to_owned(), "next".to_owned()]],
            )
            .map_err(|e| Error::Internal(format!("arrow-json decoder: {e}")))?;
            let mut guard = PageTokenGuard::new(name);
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut buffered = 0usize;
            let limit = self.config.page_size as usize;
            let what = format!("GET /v2/{name}");
            loop {
                let resp = self.get(kind, &page).await?;
                let decoded = decoder
                    .decode(&resp.body)
                    .map_err(|e| Error::data(name, format!("{what}: {e}")))?;
                yield Message::Progress { stream: name.into(), pages: 1, retries: (resp.attempts - 1) as u64 };
                let rows = decoded.records.num_rows();
                let mut records = decoded.records;
                let next = match &page {
                    Page::SinceId(_) => {
                        // The end is a page shorter than the limit.
                        let last = last_id(&records);
                        (rows == limit).then_some(()).and(last).map(Page::SinceId)
                    }
                    Page::UpdatedSince(_) | Page::Cursor(_) => match decoded.values[0].clone() {
                        Some(token) if !token.is_empty() => {
                            guard.check(&token)?;
                            Some(Page::Cursor(token))
                        }
                        _ => None,
                    },
                };
                if let Some(min) = start_ms {
                    records = created_at_or_after(&records, min)?;
                }
                if records.num_rows() > 0 {
                    buffered += records.num_rows();
                    pending.push(records);
                }
                if buffered >= FLUSH_ROWS || next.is_none() {
                    let resume_id = pending.last().and_then(last_id);
                    if !pending.is_empty() {
                        let batch = arrow_select::concat::concat_batches(&schema, &pending)
                            .map_err(|e| Error::Internal(format!("concat: {e}")))?;
                        pending.clear();
                        buffered = 0;
                        yield Message::Batch { stream: name.into(), batch };
                    }
                    let resume = match (incremental, resume_id, &next) {
                        (false, Some(id), Some(_)) => Some(serde_json::json!({ "since_id": id })),
                        _ => None,
                    };
                    yield Message::Checkpoint { stream: name.into(), resume };
                }
                match next {
                    Some(p) => page = p,
                    None => break,
                }
            }
        })
    }
}

/// The `id` of a batch's last row.
fn last_id(batch: &RecordBatch) -> Option<i64> {
    use arrow_array::cast::AsArray;
    let n = batch.num_rows();
    let ids = batch
        .column(0)
        .as_primitive_opt::<arrow_array::types::Int64Type>()?;
    (n > 0).then(|| ids.value(n - 1))
}

/// The rows whose `created_at` is at or after `min_micros`.
fn created_at_or_after(batch: &RecordBatch, min_micros: i64) -> Result<RecordBatch> {
    use arrow_array::cast::AsArray;
    let Some(col) = batch.column_by_name("created_at") else {
        return Ok(batch.clone());
    };
    let times = col.as_primitive::<arrow_array::types::TimestampMicrosecondType>();
    let keep: arrow_array::BooleanArray = times
        .iter()
        .map(|t| Some(t.is_some_and(|t| t >= min_micros)))
        .collect();
    arrow_select::filter::filter_record_batch(batch, &keep)
        .map_err(|e| Error::Internal(format!("filter: {e}")))
}

braid_sdk::export_plugin!(LoyaltyLionConnector);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_and_configs() {
        assert_eq!(
            error_message(br#"{"error":"Unauthorized: invalid API key"}"#).as_deref(),
            Some("Unauthorized: invalid API key")
        );
        assert_eq!(error_message(b"<html>"), None);
        let e =
            LoyaltyLionConfig::from_value(serde_json::json!({"api_key": "k", "page_size": 900}))
                .unwrap_err();
        assert!(e.to_string().contains("page_size must be 1..=500"), "{e}");
        let e = LoyaltyLionConfig::from_value(serde_json::json!({"api_key": "k", "bogus": 1}))
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `bogus`"), "{e}");
        let c =
            LoyaltyLionConfig::from_value(serde_json::json!({"api_key": "secret-key"})).unwrap();
        assert!(!format!("{c:?}").contains("secret-key"));
    }

    #[test]
    fn first_pages_follow_the_committed_state() {
        let st = StreamState {
            cursor: Some(CursorValue::Int(77_000_010)),
            ..Default::default()
        };
        assert!(matches!(
            first_page(Kind::Transactions, true, &st, None),
            Page::SinceId(77_000_009)
        ));
        let st = StreamState {
            cursor: Some(CursorValue::TimestampMicros(1_704_067_200_123_456)),
            ..Default::default()
        };
        match first_page(Kind::Customers, true, &st, None) {
            Page::UpdatedSince(t) => assert_eq!(t, "2024-01-01T00:00:00.123Z"),
            _ => panic!("customers read by updated_at"),
        }
        let st = StreamState {
            resume: Some(serde_json::json!({"since_id": 4_100_499})),
            ..Default::default()
        };
        assert!(matches!(
            first_page(Kind::Customers, false, &st, None),
            Page::SinceId(4_100_499)
        ));
    }
}

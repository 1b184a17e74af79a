//! Square source: `locations`, `customers`, `orders` (with line items) and `payments`.
//!
//! - Every request carries `Authorization: Bearer …` and `Square-Version`;
//!   Square's `{"errors":[{category, code, detail}]}` bodies become the
//!   error message (never the token).
//! - Paging follows Square's opaque `cursor` until a page has none, with a
//!   [`PageTokenGuard`] against a cursor handed back twice.
//! - Incremental reads use the endpoints that filter on `updated_at`
//!   (inclusive from the committed cursor) and sort ascending:
//!   `POST /v2/orders/search` (`date_time_filter.updated_at`, `sort_field:
//!   UPDATED_AT`) and `GET /v2/payments` (`updated_at_begin_time`,
//!   `sort_field=UPDATED_AT`) checkpoint after every batch;
//!   `POST /v2/customers/search` filters on `updated_at` but can only sort by
//!   creation, so customers checkpoint once at the end.
//! - Pages are decoded by arrow-json straight into Arrow; money becomes
//!   `Decimal128(38, 3)` in major units by each row's currency (see [`schema`]).

mod config;
pub mod schema;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use braid_sdk::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, Error, HttpClient, HttpConfig,
    JsonPageDecoder, Message, MessageStream, PageTokenGuard, ReadRequest, Result, Source,
    StreamDescriptor, StreamState, SyncMode,
};
use futures::StreamExt;
use serde::Deserialize;

pub use config::SquareConfig;

/// Rows gathered from consecutive pages into one batch.
const FLUSH_ROWS: usize = 4096;

/// Square lets one orders search name at most this many locations.
const LOCATIONS_PER_SEARCH: usize = 10;

/// The Square connector (`connector: square`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SquareConnector;

impl Connector for SquareConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "square".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(SquareSource::new(SquareConfig::from_value(
            config,
        )?)?))
    }
}

/// Square's error body: the first error's `detail` with its category and code.
fn square_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Body {
        errors: Vec<E>,
    }
    #[derive(Deserialize)]
    struct E {
        #[serde(default)]
        category: String,
        #[serde(default)]
        code: String,
        #[serde(default)]
        detail: Option<String>,
        #[serde(default)]
        field: Option<String>,
    }
    let b: Body = serde_json::from_slice(body).ok()?;
    let e = b.errors.into_iter().next()?;
    let mut m = format!("{} {}", e.category, e.code);
    if let Some(d) = e.detail {
        m.push_str(": ");
        m.push_str(&d);
    }
    if let Some(f) = e.field {
        m.push_str(&format!(" (field {f})"));
    }
    Some(m)
}

/// The streams and what they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Locations,
    Customers,
    Orders,
    Payments,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Locations,
        Kind::Customers,
        Kind::Orders,
        Kind::Payments,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Locations => "locations",
            Kind::Customers => "customers",
            Kind::Orders => "orders",
            Kind::Payments => "payments",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::Config(format!("unknown Square stream {s:?}; expected locations, customers, orders or payments")))
    }

    fn schema(self) -> SchemaRef {
        match self {
            Kind::Locations => schema::locations(),
            Kind::Customers => schema::customers(),
            Kind::Orders => schema::orders(),
            Kind::Payments => schema::payments(),
        }
    }

    fn descriptor(self) -> StreamDescriptor {
        let incremental = self != Kind::Locations;
        StreamDescriptor {
            name: self.name().into(),
            schema: self.schema(),
            primary_key: vec!["id".into()],
            cursor_field: incremental.then(|| "updated_at".into()),
            sync_modes: if incremental {
                vec![SyncMode::FullRefresh, SyncMode::Incremental]
            } else {
                vec![SyncMode::FullRefresh]
            },
        }
    }
}

/// A configured Square source.
#[derive(Debug, Clone)]
pub struct SquareSource {
    config: Arc<SquareConfig>,
    client: HttpClient,
}

/// One request of a pagination, without its cursor.
#[derive(Debug, Clone)]
enum Req {
    Get {
        path: &'static str,
        query: Vec<(String, String)>,
    },
    Post {
        path: &'static str,
        body: serde_json::Value,
    },
}

impl Req {
    fn path(&self) -> &'static str {
        match self {
            Req::Get { path, .. } | Req::Post { path, .. } => path,
        }
    }

    fn describe(&self) -> String {
        match self {
            Req::Get { path, .. } => format!("GET {path}"),
            Req::Post { path, .. } => format!("POST {path}"),
        }
    }
}

impl SquareSource {
    /// A source for `config`.
    pub fn new(config: SquareConfig) -> Result<Self> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_retries = config.max_retries as u32;
        http.requests_per_second = config
            .requests_per_second
            .and_then(|n| NonZeroU32::new(n as u32));
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.error_message = square_message;
        Ok(Self {
            client: HttpClient::new(http)?,
            config: Arc::new(config),
        })
    }

    async fn send(&self, req: &Req, cursor: Option<&str>) -> Result<braid_sdk::HttpResponse> {
        send(&self.client, &self.config, req, cursor).await
    }

    /// Ids of the locations whose orders are read.
    async fn location_ids(&self) -> Result<Vec<String>> {
        if let Some(ids) = &self.config.location_ids {
            return Ok(ids.clone());
        }
        #[derive(Deserialize)]
        struct Locations {
            #[serde(default)]
            locations: Vec<Loc>,
        }
        #[derive(Deserialize)]
        struct Loc {
            id: String,
        }
        let req = Req::Get {
            path: "/v2/locations",
            query: Vec::new(),
        };
        let resp = self.send(&req, None).await?;
        let l: Locations = serde_json::from_slice(&resp.body).map_err(|e| {
            Error::data(
                "orders",
                format!("GET /v2/locations: invalid JSON in the response: {e}"),
            )
        })?;
        Ok(l.locations.into_iter().map(|l| l.id).collect())
    }
}

async fn send(
    client: &HttpClient,
    config: &SquareConfig,
    req: &Req,
    cursor: Option<&str>,
) -> Result<braid_sdk::HttpResponse> {
    let token = &config.access_token;
    let version = &config.square_version;
    match req {
        Req::Get { path, query } => {
            let url = client.url(path);
            client
                .send(|c| {
                    let mut b = c.get(&url).query(query);
                    if let Some(cur) = cursor {
                        b = b.query(&[("cursor", cur)]);
                    }
                    b.bearer_auth(token).header("Square-Version", version)
                })
                .await
        }
        Req::Post { path, body } => {
            let url = client.url(path);
            let mut body = body.clone();
            if let Some(cur) = cursor {
                body["cursor"] = cur.into();
            }
            client
                .send(|c| {
                    c.post(&url)
                        .json(&body)
                        .bearer_auth(token)
                        .header("Square-Version", version)
                })
                .await
        }
    }
}

#[async_trait]
impl Source for SquareSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let ids = self.location_ids().await?;
        let req = Req::Get {
            path: "/v2/customers",
            query: vec![("limit".into(), "1".into())],
        };
        self.send(&req, None).await?;
        Ok(CheckOutcome {
            message: format!(
                "authenticated to {}; {} location(s), customers are readable",
                self.config.base_url,
                ids.len()
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
            if incremental && kind == Kind::Locations {
                return Err(Error::Config(
                    "square: locations can only be read in full_refresh mode".into(),
                ));
            }
            readers.push(self.clone().stream(
                kind,
                configured.stream.schema.clone(),
                incremental,
                state,
            ));
        }
        let concurrency = self.config.stream_concurrency as usize;
        Ok(futures::stream::iter(readers)
            .flatten_unordered(concurrency)
            .boxed())
    }
}

/// The committed cursor as Square's RFC 3339 (microseconds, UTC).
fn start_at(state: &StreamState) -> Option<String> {
    let c = state.cursor.as_ref()?;
    let micros = match c {
        braid_sdk::CursorValue::TimestampMicros(m) => *m,
        other => other.as_epoch_millis()? * 1000,
    };
    let t = chrono::DateTime::from_timestamp_micros(micros)?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

impl SquareSource {
    /// The paginations a stream reads, in order, and whether its records
    /// come sorted by `updated_at` (so it may checkpoint after every batch).
    async fn plan(
        &self,
        kind: Kind,
        incremental: bool,
        since: Option<String>,
    ) -> Result<(Vec<Req>, bool)> {
        let cfg = &self.config;
        let page = cfg.page_size.to_string();
        Ok(match kind {
            Kind::Locations => (
                vec![Req::Get {
                    path: "/v2/locations",
                    query: Vec::new(),
                }],
                false,
            ),
            Kind::Customers if !incremental => (
                vec![Req::Get {
                    path: "/v2/customers",
                    query: vec![
                        ("limit".into(), page),
                        ("sort_field".into(), "CREATED_AT".into()),
                        ("sort_order".into(), "ASC".into()),
                    ],
                }],
                false,
            ),
            Kind::Customers => {
                let mut filter = serde_json::json!({});
                if let Some(s) = &since {
                    filter["updated_at"] = serde_json::json!({ "start_at": s });
                }
                let body = serde_json::json!({
                    "limit": cfg.page_size,
                    "query": {"filter": filter, "sort": {"field": "CREATED_AT", "order": "ASC"}},
                });
                // SearchCustomers cannot sort by updated_at: checkpoint at the end only.
                (
                    vec![Req::Post {
                        path: "/v2/customers/search",
                        body,
                    }],
                    false,
                )
            }
            Kind::Orders => {
                let ids = self.location_ids().await?;
                if ids.is_empty() {
                    return Ok((Vec::new(), true));
                }
                let reqs: Vec<Req> = ids
                    .chunks(LOCATIONS_PER_SEARCH)
                    .map(|chunk| {
                        let mut body = serde_json::json!({
                            "location_ids": chunk,
                            "limit": cfg.orders_page_size,
                            "return_entries": false,
                            "query": {"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}},
                        });
                        if let Some(s) = &since {
                            body["query"]["filter"] = serde_json::json!({
                                "date_time_filter": {"updated_at": {"start_at": s}}
                            });
                        }
                        Req::Post {
                            path: "/v2/orders/search",
                            body,
                        }
                    })
                    .collect();
                // More than one search: each is sorted, the whole is not.
                let sorted = reqs.len() == 1;
                (reqs, sorted)
            }
            Kind::Payments => {
                let mut query = vec![
                    ("begin_time".into(), cfg.start_date.clone()),
                    ("sort_order".into(), "ASC".into()),
                    ("limit".into(), page),
                ];
                if incremental {
                    query.push(("sort_field".into(), "UPDATED_AT".into()));
                    if let Some(s) = &since {
                        query.push(("updated_at_begin_time".into(), s.clone()));
                    }
                }
                (
                    vec![Req::Get {
                        path: "/v2/payments",
                        query,
                    }],
                    incremental,
                )
            }
        })
    }

    fn stream(
        self,
        kind: Kind,
        schema: SchemaRef,
        incremental: bool,
        state: StreamState,
    ) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = kind.name();
            let since = if incremental { start_at(&state) } else { None };
            let (reqs, sorted) = self.plan(kind, incremental, since).await?;
            let per_batch = !incremental || sorted;
            // A crashed full refresh resumes at its last committed page.
            let resume = (!incremental).then_some(state.resume.as_ref()).flatten();
            let first_req = resume.and_then(|r| r.get("request")).and_then(|v| v.as_u64()).unwrap_or(0) as usize;
            let mut cursor: Option<String> = resume.and_then(|r| r.get("cursor")).and_then(|v| v.as_str()).map(str::to_owned);
            let key = match kind {
                Kind::Locations => "locations",
                Kind::Customers => "customers",
                Kind::Orders => "orders",
                Kind::Payments => "payments",
            };
            let mut decoder = JsonPageDecoder::new(schema::wire_schema(&schema), &[key.to_owned()], &[vec!["cursor".to_owned()]])
                .map_err(|e| Error::Internal(format!("arrow-json decoder: {e}")))?;
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut buffered = 0usize;
            for (r, req) in reqs.iter().enumerate().skip(first_req) {
                let mut guard = PageTokenGuard::new(name);
                if let Some(c) = &cursor {
                    guard.check(c)?;
                }
                loop {
                    let resp = send(&self.client, &self.config, req, cursor.as_deref()).await?;
                    let what = req.describe();
                    let page = decoder.decode(&resp.body).map_err(|e| Error::data(name, format!("{what}: {e}")))?;
                    let batch = schema::to_stream(page.records, &schema).map_err(|e| Error::data(name, format!("{what}: {e}")))?;
                    yield Message::Progress { stream: name.into(), pages: 1, retries: (resp.attempts - 1) as u64 };
                    let next = page.values.into_iter().next().flatten().filter(|c| !c.is_empty());
                    if let Some(n) = &next {
                        guard.check(n)?;
                    }
                    if batch.num_rows() > 0 {
                        buffered += batch.num_rows();
                        pending.push(batch);
                    }
                    let last = next.is_none() && r + 1 == reqs.len();
                    if buffered >= FLUSH_ROWS || last || (per_batch && next.is_none()) {
                        if !pending.is_empty() {
                            let batch = arrow_select::concat::concat_batches(&schema, &pending)
                                .map_err(|e| Error::Internal(format!("concat: {e}")))?;
                            pending.clear();
                            buffered = 0;
                            yield Message::Batch { stream: name.into(), batch };
                        }
                        if per_batch || last {
                            let resume = if incremental || last {
                                None
                            } else {
                                Some(match &next {
                                    Some(n) => serde_json::json!({"request": r, "cursor": n, "path": req.path()}),
                                    None => serde_json::json!({"request": r + 1}),
                                })
                            };
                            yield Message::Checkpoint { stream: name.into(), resume };
                        }
                    }
                    cursor = next;
                    if cursor.is_none() {
                        break;
                    }
                }
            }
            if reqs.is_empty() {
                yield Message::Checkpoint { stream: name.into(), resume: None };
            }
        })
    }
}

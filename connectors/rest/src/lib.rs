//! The declarative REST source (`connector: rest`): a JSON API nobody wrote
//! a crate for, configured entirely in pipeline YAML (see [`RestConfig`]).
//!
//! Each stream is one endpoint: a `GET` with query parameters or a `POST`
//! with a JSON body template, the records' array at `records_path`, a
//! declared schema (nested values reached with `path`) or one inferred from
//! the first page, and one of four paging styles: a cursor in the body,
//! `Link` headers, page numbers (optionally bounded by a total-pages header)
//! or offset/limit. Incremental streams send the committed cursor as a query
//! parameter or body field; the bound is inclusive and the runtime drops the
//! boundary records it already landed. Pages are decoded by arrow-json
//! straight into Arrow; retries, `Retry-After`, the rate limit and error
//! messages without secrets come from the SDK's `HttpClient`.
//!
//! ```yaml
//! connector: rest
//! config:
//!   base_url: https://api.example.com
//!   auth: {type: bearer, token: ${EXAMPLE_TOKEN}}
//!   streams:
//!     - name: orders
//!       path: /v1/orders
//!       query: {limit: "100"}
//!       records_path: data.items
//!       primary_key: [id]
//!       schema:
//!         - {name: id, type: string, nullable: false}
//!         - {name: updated_at, type: timestamp}
//!         - {name: total, type: "decimal(18,2)", path: totals.grand}
//!       pagination: {type: cursor, cursor_path: data.next_cursor, param: cursor}
//!       incremental: {cursor_field: updated_at, param: updated_since, sorted: true}
//! ```

mod config;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use async_trait::async_trait;
use braid_sdk::{
    oauth::TokenCache, Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, Error, Grant,
    HttpClient, HttpConfig, HttpResponse, JsonPageDecoder, Message, MessageStream, OAuth2,
    PageTokenGuard, ReadRequest, Result, Source, StreamDescriptor, StreamState, SyncMode,
};
use futures::StreamExt;
use reqwest::{Client, RequestBuilder};
use serde_json::Value;

pub use config::{
    split_path, Auth, CursorFormat, FieldConfig, Incremental, KeyLocation, Method, Pagination,
    ParamLocation, RestConfig, StreamConfig,
};

/// Rows gathered from consecutive pages into one batch.
const FLUSH_ROWS: usize = 4096;

/// The REST connector (`connector: rest`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RestConnector;

impl Connector for RestConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "rest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(RestSource::new(RestConfig::from_value(config)?)?))
    }
}

/// The vendor's words from a common error-body shape: `errors[0]`
/// (`category`/`code`/`detail`/`message`), `error.message`,
/// `error_description`, `message`, `error`.
fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let s = |v: &Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    if let Some(e) = v.get("errors").and_then(|e| e.get(0)) {
        if let Some(text) = e.as_str() {
            return Some(text.to_owned());
        }
        let head: Vec<String> = ["category", "code"]
            .iter()
            .filter_map(|k| s(e, k))
            .collect();
        let detail = s(e, "detail").or_else(|| s(e, "message"));
        return match (head.is_empty(), detail) {
            (false, Some(d)) => Some(format!("{}: {d}", head.join(" "))),
            (true, Some(d)) => Some(d),
            (false, None) => Some(head.join(" ")),
            (true, None) => None,
        };
    }
    if let Some(e) = v.get("error") {
        if let Some(m) = s(e, "message") {
            return Some(m);
        }
        if let Some(code) = e.as_str() {
            return Some(match s(&v, "error_description") {
                Some(d) => format!("{code}: {d}"),
                None => code.to_owned(),
            });
        }
    }
    s(&v, "message")
        .or_else(|| s(&v, "error_description"))
        .or_else(|| s(&v, "detail"))
}

/// A configured REST source.
#[derive(Clone)]
pub struct RestSource {
    config: Arc<RestConfig>,
    client: HttpClient,
    tokens: Option<Arc<TokenCache>>,
}

impl std::fmt::Debug for RestSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One request: absolute URL, query pairs and an optional JSON body.
#[derive(Debug, Clone)]
struct Request {
    url: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
}

/// Where the next page starts, also what a full refresh commits as `resume`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PageState {
    First,
    Cursor(String),
    Url(String),
    Page(u64),
    Offset(u64),
}

impl PageState {
    fn to_resume(&self) -> Option<Value> {
        Some(match self {
            PageState::First => return None,
            PageState::Cursor(c) => serde_json::json!({ "cursor": c }),
            PageState::Url(u) => serde_json::json!({ "next_url": u }),
            PageState::Page(p) => serde_json::json!({ "page": p }),
            PageState::Offset(o) => serde_json::json!({ "offset": o }),
        })
    }

    fn from_resume(v: &Value) -> Option<PageState> {
        if let Some(c) = v.get("cursor").and_then(|c| c.as_str()) {
            return Some(PageState::Cursor(c.to_owned()));
        }
        if let Some(u) = v.get("next_url").and_then(|c| c.as_str()) {
            return Some(PageState::Url(u.to_owned()));
        }
        if let Some(p) = v.get("page").and_then(|c| c.as_u64()) {
            return Some(PageState::Page(p));
        }
        v.get("offset")
            .and_then(|c| c.as_u64())
            .map(PageState::Offset)
    }
}

/// Sets `value` at a dotted path of a JSON body, creating objects on the way
/// (numeric segments index existing arrays).
pub fn set_path(body: &mut Value, path: &[String], value: Value) -> Result<()> {
    let Some((head, rest)) = path.split_first() else {
        *body = value;
        return Ok(());
    };
    if let Value::Array(items) = body {
        let i: usize = head.parse().map_err(|_| {
            Error::Config(format!(
                "rest: body path segment `{head}` indexes an array but is not a number"
            ))
        })?;
        let slot = items.get_mut(i).ok_or_else(|| {
            Error::Config(format!(
                "rest: body path index {i} is past the end of the template's array"
            ))
        })?;
        return set_path(slot, rest, value);
    }
    if !body.is_object() {
        *body = Value::Object(Default::default());
    }
    let map = body.as_object_mut().expect("an object");
    set_path(map.entry(head.clone()).or_insert(Value::Null), rest, value)
}

/// The committed cursor written as the API expects it.
pub fn format_cursor(c: &CursorValue, format: CursorFormat) -> String {
    let rfc = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default()
    };
    let date = |days: i32| {
        chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    match (c, format) {
        (CursorValue::Str(s), _) => s.clone(),
        (CursorValue::Int(n), _) => n.to_string(),
        (CursorValue::TimestampMicros(m), CursorFormat::Rfc3339 | CursorFormat::Raw) => rfc(*m),
        (CursorValue::TimestampMicros(m), CursorFormat::EpochMillis) => {
            m.div_euclid(1000).to_string()
        }
        (CursorValue::TimestampMicros(m), CursorFormat::EpochSeconds) => {
            m.div_euclid(1_000_000).to_string()
        }
        (CursorValue::TimestampMicros(m), CursorFormat::Date) => {
            date(m.div_euclid(86_400_000_000) as i32)
        }
        (CursorValue::Date(d), CursorFormat::Date | CursorFormat::Raw) => date(*d),
        (CursorValue::Date(d), CursorFormat::Rfc3339) => rfc(*d as i64 * 86_400_000_000),
        (CursorValue::Date(d), CursorFormat::EpochMillis) => (*d as i64 * 86_400_000).to_string(),
        (CursorValue::Date(d), CursorFormat::EpochSeconds) => (*d as i64 * 86_400).to_string(),
    }
}

impl RestSource {
    /// A source for `config`.
    pub fn new(config: RestConfig) -> Result<Self> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_retries = config.max_retries as u32;
        http.requests_per_second = config
            .requests_per_second
            .and_then(|n| NonZeroU32::new(n as u32));
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.error_message = error_message;
        let tokens = match &config.auth {
            Auth::Oauth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => Some(Arc::new(TokenCache::new(OAuth2::new(
                token_url.clone(),
                client_id.clone(),
                client_secret.clone(),
                Grant::ClientCredentials {
                    scope: scope.clone(),
                },
            )?))),
            _ => None,
        };
        Ok(Self {
            client: HttpClient::new(http)?,
            config: Arc::new(config),
            tokens,
        })
    }

    fn stream_config(&self, name: &str) -> Result<&StreamConfig> {
        self.config
            .streams
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::Config(format!("rest: no stream named {name:?} in the config")))
    }

    /// Sends `req` with the configured headers and auth.
    async fn send(&self, req: &Request, method: Method) -> Result<HttpResponse> {
        let cfg = &self.config;
        let mut query = req.query.clone();
        if let Auth::ApiKey {
            name,
            key,
            location: KeyLocation::Query,
        } = &cfg.auth
        {
            // A next link may carry it already.
            if !req.url.contains(&format!("{name}=")) {
                query.push((name.clone(), key.clone()));
            }
        }
        let build = |c: &Client| -> RequestBuilder {
            let mut b = match method {
                Method::Get => c.get(&req.url),
                Method::Post => c.post(&req.url).json(
                    req.body
                        .as_ref()
                        .unwrap_or(&Value::Object(Default::default())),
                ),
            };
            if !query.is_empty() {
                b = b.query(&query);
            }
            for (k, v) in &cfg.headers {
                b = b.header(k.as_str(), v.as_str());
            }
            match &cfg.auth {
                Auth::Bearer { token } => b.bearer_auth(token),
                Auth::Basic { username, password } => b.basic_auth(username, Some(password)),
                Auth::ApiKey {
                    name,
                    key,
                    location: KeyLocation::Header,
                } => b.header(name.as_str(), key.as_str()),
                _ => b,
            }
        };
        match &self.tokens {
            Some(cache) => {
                cache
                    .send(&self.client, |c, token| build(c).bearer_auth(&token.secret))
                    .await
            }
            None => self.client.send(build).await,
        }
    }

    /// The request for one page.
    fn request(&self, s: &StreamConfig, state: &PageState, since: Option<&str>) -> Result<Request> {
        let url = match state {
            PageState::Url(u) => {
                return Ok(Request {
                    url: u.clone(),
                    query: Vec::new(),
                    body: s.body.clone(),
                });
            }
            _ => self.client.url(&s.path),
        };
        let mut query: Vec<(String, String)> = s
            .query
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut body = s.body.clone();
        if s.method == Method::Post && body.is_none() {
            body = Some(Value::Object(Default::default()));
        }
        let mut put = |location: ParamLocation, name: &str, value: Value| -> Result<()> {
            match (location, body.as_mut()) {
                (ParamLocation::Body, Some(b)) => set_path(b, &split_path(name), value),
                _ => {
                    let text = match value {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    query.retain(|(k, _)| k != name);
                    query.push((name.to_owned(), text));
                    Ok(())
                }
            }
        };
        if let (Some(inc), Some(v)) = (&s.incremental, since) {
            put(inc.location, &inc.param, Value::String(v.to_owned()))?;
        }
        match (&s.pagination, state) {
            (
                Pagination::Cursor {
                    param, location, ..
                },
                PageState::Cursor(c),
            ) => put(*location, param, Value::String(c.clone()))?,
            (
                Pagination::PageNumber {
                    param,
                    start,
                    size_param,
                    page_size,
                    ..
                },
                st,
            ) => {
                let page = match st {
                    PageState::Page(p) => *p,
                    _ => *start,
                };
                put(ParamLocation::Query, param, Value::from(page))?;
                if let (Some(sp), Some(n)) = (size_param, page_size) {
                    put(ParamLocation::Query, sp, Value::from(*n))?;
                }
            }
            (
                Pagination::Offset {
                    offset_param,
                    limit_param,
                    limit,
                    location,
                },
                st,
            ) => {
                let offset = match st {
                    PageState::Offset(o) => *o,
                    _ => 0,
                };
                put(*location, offset_param, Value::from(offset))?;
                put(*location, limit_param, Value::from(*limit))?;
            }
            _ => {}
        }
        Ok(Request { url, query, body })
    }

    /// The stream's schema: declared, or inferred from its first page.
    async fn stream_schema(&self, s: &StreamConfig) -> Result<SchemaRef> {
        let label = format!("rest: stream `{}`", s.name);
        if let Some(schema) = s.declared_schema(&label)? {
            return Ok(schema);
        }
        let req = self.request(s, &PageState::First, None)?;
        let resp = self.send(&req, s.method).await?;
        let what = describe(s);
        let v: Value = serde_json::from_slice(&resp.body).map_err(|e| {
            Error::data(
                &s.name,
                format!("{what}: invalid JSON in the response: {e}"),
            )
        })?;
        let mut records = &v;
        for seg in split_path(s.records_path.as_deref().unwrap_or("")) {
            records = records.get(&seg).unwrap_or(&Value::Null);
        }
        let items: Vec<&Value> = records
            .as_array()
            .map(|a| a.iter().take(s.infer_records.max(1) as usize).collect())
            .unwrap_or_default();
        if items.is_empty() {
            return Err(Error::data(&s.name, format!("{what}: the first page has no records at `{}` to infer a schema from; declare `schema`", s.records_path.as_deref().unwrap_or(""))));
        }
        let inferred = arrow_json::reader::infer_json_schema_from_iterator(
            items.into_iter().map(|v| Ok(v.clone())),
        )
        .map_err(|e| Error::data(&s.name, format!("{what}: cannot infer a schema: {e}")))?;
        for key in s
            .primary_key
            .iter()
            .chain(s.incremental.as_ref().map(|i| &i.cursor_field))
        {
            if inferred.field_with_name(key).is_err() {
                return Err(Error::Config(format!(
                    "{label}: column `{key}` is not in the first page's records; declare `schema`"
                )));
            }
        }
        Ok(Arc::new(inferred))
    }
}

fn describe(s: &StreamConfig) -> String {
    match s.method {
        Method::Get => format!("GET {}", s.path),
        Method::Post => format!("POST {}", s.path),
    }
}

/// The decode schema of declared columns at nested paths: structs down to each leaf.
fn wire_schema(schema: &Schema, paths: &[Vec<String>]) -> Result<SchemaRef> {
    #[derive(Default)]
    struct Node {
        children: Vec<(String, Node)>,
        leaf: Option<DataType>,
    }
    fn insert(n: &mut Node, path: &[String], dt: &DataType) -> std::result::Result<(), String> {
        let Some((head, rest)) = path.split_first() else {
            if n.leaf.is_some() || !n.children.is_empty() {
                return Err("two columns read the same value or one is inside the other".into());
            }
            n.leaf = Some(dt.clone());
            return Ok(());
        };
        if n.leaf.is_some() {
            return Err(format!("`{head}` is inside a value another column reads"));
        }
        let pos = match n.children.iter().position(|(k, _)| k == head) {
            Some(p) => p,
            None => {
                n.children.push((head.clone(), Node::default()));
                n.children.len() - 1
            }
        };
        insert(&mut n.children[pos].1, rest, dt)
    }
    fn fields(n: &Node) -> Fields {
        n.children
            .iter()
            .map(|(k, c)| {
                Field::new(
                    k,
                    c.leaf
                        .clone()
                        .unwrap_or_else(|| DataType::Struct(fields(c))),
                    true,
                )
            })
            .collect()
    }
    let mut root = Node::default();
    for (f, p) in schema.fields().iter().zip(paths) {
        insert(&mut root, p, f.data_type())
            .map_err(|e| Error::Config(format!("rest: column `{}`: {e}", f.name())))?;
    }
    Ok(Arc::new(Schema::new(fields(&root))))
}

/// Each declared column from its path in the decoded (nested) records; a
/// value under a missing object is null.
fn flatten(
    records: &RecordBatch,
    schema: &SchemaRef,
    paths: &[Vec<String>],
) -> std::result::Result<RecordBatch, String> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(paths.len());
    for p in paths {
        let mut col = records
            .column_by_name(&p[0])
            .ok_or("decoded page lacks a column")?
            .clone();
        for seg in &p[1..] {
            let parent = col.clone();
            let st = arrow_array::cast::AsArray::as_struct(parent.as_ref());
            let child = st
                .column_by_name(seg)
                .ok_or("decoded page lacks a nested column")?
                .clone();
            col = if parent.null_count() > 0 {
                let mask: BooleanArray =
                    (0..parent.len()).map(|i| Some(parent.is_null(i))).collect();
                arrow_select::nullif::nullif(child.as_ref(), &mask).map_err(|e| e.to_string())?
            } else {
                child
            };
        }
        cols.push(col);
    }
    RecordBatch::try_new(schema.clone(), cols)
        .map_err(|e| format!("records do not match the declared schema: {e}"))
}

#[async_trait]
impl Source for RestSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let s = &self.config.streams[0];
        let req = self.request(s, &PageState::First, None)?;
        self.send(&req, s.method).await?;
        Ok(CheckOutcome {
            message: format!(
                "{} answered {} for stream `{}`",
                self.config.base_url,
                describe(s),
                s.name
            ),
        })
    }

    async fn discover(&self) -> Result<Catalog> {
        let mut streams = Vec::new();
        for s in &self.config.streams {
            let incremental = s.incremental.is_some();
            streams.push(StreamDescriptor {
                name: s.name.clone(),
                schema: self.stream_schema(s).await?,
                primary_key: s.primary_key.clone(),
                cursor_field: s.incremental.as_ref().map(|i| i.cursor_field.clone()),
                sync_modes: if incremental {
                    vec![SyncMode::FullRefresh, SyncMode::Incremental]
                } else {
                    vec![SyncMode::FullRefresh]
                },
            });
        }
        Ok(Catalog { streams })
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let mut readers = Vec::new();
        for configured in request.streams {
            let s = self.stream_config(&configured.stream.name)?.clone();
            let incremental = configured.sync_mode == SyncMode::Incremental;
            if incremental && s.incremental.is_none() {
                return Err(Error::Config(format!(
                    "rest: stream `{}` has no `incremental` section; read it in full_refresh mode",
                    s.name
                )));
            }
            let state = request.state.stream(&s.name).cloned().unwrap_or_default();
            readers.push(self.clone().stream(
                s,
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

impl RestSource {
    fn stream(
        self,
        s: StreamConfig,
        schema: SchemaRef,
        incremental: bool,
        state: StreamState,
    ) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = s.name.clone();
            let what = describe(&s);
            let inc = s.incremental.clone().filter(|_| incremental);
            let since: Option<String> = inc.as_ref().and_then(|i| {
                state.cursor.as_ref().map(|c| format_cursor(c, i.format)).or_else(|| i.start.clone())
            });
            let per_batch = inc.as_ref().is_none_or(|i| i.sorted);
            // Declared columns may sit at nested paths; inferred ones are the records' own fields.
            let paths = if s.schema.is_some() { Some(s.field_paths()) } else { None };
            let decode_schema = match &paths {
                Some(p) => wire_schema(&schema, p)?,
                None => schema.clone(),
            };
            let records_path = split_path(s.records_path.as_deref().unwrap_or(""));
            let value_paths = match &s.pagination {
                Pagination::Cursor { cursor_path, .. } => vec![split_path(cursor_path)],
                _ => Vec::new(),
            };
            let mut decoder = JsonPageDecoder::new(decode_schema, &records_path, &value_paths)
                .map_err(|e| Error::Config(format!("rest: stream `{name}`: {e}")))?;
            let mut page_state = if incremental {
                PageState::First
            } else {
                state.resume.as_ref().and_then(PageState::from_resume).unwrap_or(PageState::First)
            };
            let mut guard = PageTokenGuard::new(&name);
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut buffered = 0usize;
            loop {
                let req = self.request(&s, &page_state, since.as_deref())?;
                let resp = self.send(&req, s.method).await?;
                let page = decoder.decode(&resp.body).map_err(|e| Error::data(&name, format!("{what}: {e}")))?;
                let batch = match &paths {
                    Some(p) => flatten(&page.records, &schema, p).map_err(|e| Error::data(&name, format!("{what}: {e}")))?,
                    None => page.records,
                };
                let n = batch.num_rows() as u64;
                yield Message::Progress { stream: name.clone(), pages: 1, retries: (resp.attempts - 1) as u64 };
                let next = match &s.pagination {
                    Pagination::None => None,
                    Pagination::Cursor { .. } => page.values.into_iter().next().flatten().filter(|c| !c.is_empty()).map(PageState::Cursor),
                    Pagination::LinkHeader => braid_sdk::next_link(&resp.headers).map(PageState::Url),
                    Pagination::PageNumber { start, page_size, total_pages_header, .. } => {
                        let current = match page_state { PageState::Page(p) => p, _ => *start };
                        let total: Option<u64> = total_pages_header.as_ref().and_then(|h| resp.headers.get(h.as_str())).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
                        let more = match total {
                            Some(t) => current + 1 - start < t,
                            None => n > 0 && page_size.is_none_or(|size| n >= size),
                        };
                        more.then_some(PageState::Page(current + 1))
                    }
                    Pagination::Offset { limit, .. } => {
                        let current = match page_state { PageState::Offset(o) => o, _ => 0 };
                        (n >= *limit).then_some(PageState::Offset(current + n))
                    }
                };
                if let Some(token) = match &next {
                    Some(PageState::Cursor(c)) => Some(c.as_str()),
                    Some(PageState::Url(u)) => Some(u.as_str()),
                    _ => None,
                } {
                    guard.check(token)?;
                }
                if n > 0 {
                    buffered += n as usize;
                    pending.push(batch);
                }
                let last = next.is_none();
                if buffered >= FLUSH_ROWS || last {
                    if !pending.is_empty() {
                        let batch = arrow_select::concat::concat_batches(&schema, &pending).map_err(|e| Error::Internal(format!("concat: {e}")))?;
                        pending.clear();
                        buffered = 0;
                        yield Message::Batch { stream: name.clone(), batch };
                    }
                    if per_batch || last {
                        let resume = if incremental { None } else { next.as_ref().and_then(PageState::to_resume) };
                        yield Message::Checkpoint { stream: name.clone(), resume };
                    }
                }
                match next {
                    Some(n) => page_state = n,
                    None => break,
                }
            }
        })
    }
}

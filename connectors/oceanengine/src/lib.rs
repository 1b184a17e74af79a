//! Ocean Engine (巨量引擎) Marketing API source: `advertisers`, `projects`
//! (项目, v3 campaigns), `promotions` (广告, v3 ads) and the daily reports
//! `project_daily_report` and `promotion_daily_report`.
//!
//! - Every request carries the `Access-Token` header. Ocean Engine answers
//!   errors with HTTP 200 and `{"code": n, "message": …, "request_id": …}`;
//!   [`envelope`] classifies them: 40100 (too many requests) is retried with
//!   backoff, 40102/40104/40105 (token expired, missing, invalid) refresh the
//!   token through `/open_api/oauth2/refresh_token/` once and send again,
//!   5xxxx codes are retried, anything else fails with Ocean Engine's words
//!   and request id. A 2xx body that is not complete JSON (cut short) is retried.
//! - Lists page with `page`/`page_size` until `page_info.total_page`; a full
//!   refresh checkpoints (advertiser, next page) so a crashed run resumes.
//! - Reports use `/open_api/v3.0/report/custom/get/` (`stat_time_day` ×
//!   `cdp_project_id` or `cdp_promotion_id`; `stat_cost`, `show_cnt`,
//!   `click_cnt`, `convert_cnt`) in windows of at most 30 days, on a date
//!   cursor in Asia/Shanghai days. Each incremental run re-pulls
//!   `lookback_days` before the committed day ([`Source::restates_from`]),
//!   so restated figures land as newer versions of their (advertiser,
//!   entity, day) keys; it checkpoints after each window.

mod config;
pub mod schema;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use async_trait::async_trait;
use braid_sdk::envelope::{fetch_decoded, CodeMessage};
use braid_sdk::report_window::{committed_day, days_since_epoch};
use braid_sdk::{
    AccessToken, Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, EnvelopeError,
    Error, HttpClient, HttpConfig, HttpResponse, JsonPage, JsonPageDecoder, Message, MessageStream,
    ReadRequest, ReportRange, Result, Source, StreamDescriptor, StreamState, SyncMode, TokenCache,
    TokenFetcher,
};
use chrono::{Days, NaiveDate};
use futures::StreamExt;
use serde::Deserialize;

pub use config::OceanEngineConfig;

/// Rows gathered from consecutive pages into one batch.
const FLUSH_ROWS: usize = 4096;

/// Ocean Engine's cap on the days of one report request.
pub const MAX_REPORT_DAYS: u32 = 30;

/// Advertisers per `advertiser/info` request.
const ADVERTISERS_PER_INFO: usize = 100;

const REFRESH_PATH: &str = "/open_api/oauth2/refresh_token/";

/// The Ocean Engine connector (`connector: oceanengine`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OceanEngineConnector;

impl Connector for OceanEngineConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "oceanengine".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(OceanEngineSource::new(
            OceanEngineConfig::from_value(config)?,
        )?))
    }
}

/// Classifies Ocean Engine's `{code, message, request_id}` envelope of a
/// 2xx body, from the bytes outside its `data` (see [`braid_sdk::envelope::check`]);
/// each page's decode reads the code again in the same pass as its rows.
pub fn envelope(body: &[u8]) -> Option<EnvelopeError> {
    braid_sdk::envelope::check(body, "code", classify)
}

/// Ocean Engine's error codes by kind.
fn classify(e: &CodeMessage) -> Option<EnvelopeError> {
    let code = e.code();
    if code == 0 {
        return None;
    }
    let m = e.describe();
    Some(match code {
        40100 | 40110 => EnvelopeError::RateLimit(m),
        40102 | 40103 | 40104 | 40105 | 40107 => EnvelopeError::Auth(m),
        50000..=59999 => EnvelopeError::Transient(m),
        _ => EnvelopeError::Fatal(m),
    })
}

/// Refreshes the access token with the app's credentials and the newest refresh token.
struct Refresher {
    http: HttpClient,
    /// Fetches again of a token response cut short.
    retries: u32,
    app_id: String,
    secret: String,
    refresh_token: Mutex<String>,
    initial: Mutex<Option<String>>,
}

#[async_trait]
impl TokenFetcher for Refresher {
    async fn fetch(&self) -> Result<AccessToken> {
        if let Some(t) = self
            .initial
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Ok(AccessToken {
                secret: t,
                expires_at: None,
                extra: Default::default(),
            });
        }
        let refresh = self
            .refresh_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let app_id: serde_json::Value = match self.app_id.parse::<u64>() {
            Ok(n) => n.into(),
            Err(_) => self.app_id.clone().into(),
        };
        let body = serde_json::json!({
            "app_id": app_id,
            "secret": self.secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh,
        });
        let url = self.http.url(REFRESH_PATH);
        #[derive(Deserialize)]
        struct Data {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
            #[serde(default)]
            refresh_token: Option<String>,
        }
        #[derive(Deserialize)]
        struct Body {
            data: Data,
        }
        // A token response cut short is fetched again, as any page.
        let b: Body = fetch_decoded(
            &self.http,
            REFRESH_PATH,
            self.retries,
            || self.http.send(|c| c.post(&url).json(&body)),
            |resp| {
                braid_sdk::envelope::json(&resp.body, |_| Error::Auth {
                    endpoint: REFRESH_PATH.into(),
                    message: "the token response has no data.access_token".into(),
                })
            },
        )
        .await
        .map_err(|e| match e {
            Error::Config(message) => Error::Auth {
                endpoint: REFRESH_PATH.into(),
                message: format!("refreshing the access token: {message}"),
            },
            other => other,
        })?
        .value;
        if let Some(r) = b.data.refresh_token.filter(|r| !r.is_empty()) {
            *self.refresh_token.lock().unwrap_or_else(|p| p.into_inner()) = r;
            tracing::info!(
                "Ocean Engine issued a new refresh token with the access token; it is used for the rest of this run"
            );
        }
        Ok(AccessToken {
            secret: b.data.access_token,
            expires_at: b
                .data
                .expires_in
                .map(|s| Instant::now() + Duration::from_secs(s)),
            extra: Default::default(),
        })
    }
}

enum Auth {
    Static(String),
    Refreshing(TokenCache),
}

/// The streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Advertisers,
    Projects,
    Promotions,
    ProjectReport,
    PromotionReport,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Advertisers,
        Kind::Projects,
        Kind::Promotions,
        Kind::ProjectReport,
        Kind::PromotionReport,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Advertisers => "advertisers",
            Kind::Projects => "projects",
            Kind::Promotions => "promotions",
            Kind::ProjectReport => "project_daily_report",
            Kind::PromotionReport => "promotion_daily_report",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::Config(format!(
                "unknown Ocean Engine stream {s:?}; expected advertisers, projects, promotions, project_daily_report or promotion_daily_report"
            ))
        })
    }

    /// `project` or `promotion` for the report streams.
    fn level(self) -> Option<&'static str> {
        match self {
            Kind::ProjectReport => Some("project"),
            Kind::PromotionReport => Some("promotion"),
            _ => None,
        }
    }

    fn schema(self) -> SchemaRef {
        match self {
            Kind::Advertisers => schema::advertisers(),
            Kind::Projects => schema::projects(),
            Kind::Promotions => schema::promotions(),
            Kind::ProjectReport => schema::report("project"),
            Kind::PromotionReport => schema::report("promotion"),
        }
    }

    fn descriptor(self) -> StreamDescriptor {
        let (primary_key, cursor): (Vec<String>, Option<String>) = match self.level() {
            Some(level) => (
                vec![
                    "advertiser_id".into(),
                    format!("{level}_id"),
                    "stat_date".into(),
                ],
                Some("stat_date".into()),
            ),
            None => (
                vec![match self {
                    Kind::Advertisers => "id".into(),
                    Kind::Projects => "project_id".into(),
                    _ => "promotion_id".into(),
                }],
                None,
            ),
        };
        StreamDescriptor {
            name: self.name().into(),
            schema: self.schema(),
            primary_key,
            sync_modes: if cursor.is_some() {
                vec![SyncMode::FullRefresh, SyncMode::Incremental]
            } else {
                vec![SyncMode::FullRefresh]
            },
            cursor_field: cursor,
        }
    }
}

/// A configured Ocean Engine source.
#[derive(Clone)]
pub struct OceanEngineSource {
    config: Arc<OceanEngineConfig>,
    client: HttpClient,
    auth: Arc<Auth>,
}

impl std::fmt::Debug for OceanEngineSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OceanEngineSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Today in Asia/Shanghai, the day every Ocean Engine account reports in.
pub fn today_shanghai() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

impl OceanEngineSource {
    /// A source for `config`.
    pub fn new(config: OceanEngineConfig) -> Result<Self> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_retries = config.max_retries as u32;
        http.requests_per_second = config
            .requests_per_second
            .and_then(|n| NonZeroU32::new(n.min(u32::MAX as u64) as u32));
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.error_message = CodeMessage::vendor_message;
        http.envelope = Some(envelope);
        let client = HttpClient::new(http.clone())?;
        let auth = if config.can_refresh() {
            let mut token_http = http;
            token_http.requests_per_second = None;
            token_http.max_retries = config.max_retries.min(4) as u32;
            Auth::Refreshing(TokenCache::new(Refresher {
                retries: token_http.max_retries,
                http: HttpClient::new(token_http)?,
                app_id: config.app_id.clone().unwrap_or_default(),
                secret: config.secret.clone().unwrap_or_default(),
                refresh_token: Mutex::new(config.refresh_token.clone().unwrap_or_default()),
                initial: Mutex::new(config.access_token.clone().filter(|t| !t.trim().is_empty())),
            }))
        } else {
            Auth::Static(config.access_token.clone().unwrap_or_default())
        };
        Ok(Self {
            client,
            auth: Arc::new(auth),
            config: Arc::new(config),
        })
    }

    /// `GET path?query` with the access token, refreshed once when refused.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<HttpResponse> {
        let url = self.client.url(path);
        match self.auth.as_ref() {
            Auth::Static(token) => {
                self.client
                    .send(|c| c.get(&url).query(query).header("Access-Token", token))
                    .await
            }
            Auth::Refreshing(cache) => {
                cache
                    .send(&self.client, |c, t| {
                        c.get(&url).query(query).header("Access-Token", &t.secret)
                    })
                    .await
            }
        }
    }

    fn first_start(&self) -> NaiveDate {
        self.config.start().unwrap_or_else(|| {
            today_shanghai()
                .checked_sub_days(Days::new(u64::from(MAX_REPORT_DAYS - 1)))
                .unwrap_or(NaiveDate::MIN)
        })
    }

    /// The report days an incremental read covers, given the committed cursor.
    fn incremental_range(&self, committed: Option<NaiveDate>) -> Option<ReportRange> {
        let floor = match committed {
            Some(_) => self.config.start().unwrap_or(NaiveDate::MIN),
            None => self.first_start(),
        };
        ReportRange::incremental(
            committed,
            self.config.lookback_days as u32,
            floor,
            today_shanghai(),
        )
    }
}

#[async_trait]
impl Source for OceanEngineSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let ids = &self.config.advertiser_ids;
        let path = "/open_api/2/advertiser/info/";
        let query = [(
            "advertiser_ids",
            id_array(ids.iter().take(ADVERTISERS_PER_INFO)),
        )];
        // One small body per check: any JSON shape counts as it did.
        let info: serde_json::Value = fetch_decoded(
            &self.client,
            path,
            self.config.max_retries as u32,
            || self.get(path, &query),
            |resp| {
                braid_sdk::envelope::json(&resp.body, |m| {
                    Error::data("advertisers", format!("GET {path}: {m}"))
                })
            },
        )
        .await?
        .value;
        Ok(CheckOutcome {
            message: format!(
                "authenticated to {}; {} of {} advertiser account(s) readable",
                self.config.base_url,
                info["data"].as_array().map_or(0, Vec::len),
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
            let schema = configured.stream.schema.clone();
            let reader = match kind.level() {
                Some(level) => self.clone().report(kind, level, schema, incremental, state),
                None if incremental => {
                    return Err(Error::Config(format!(
                        "oceanengine: {} can only be read in full_refresh mode",
                        kind.name()
                    )))
                }
                None if kind == Kind::Advertisers => self.clone().advertisers(schema),
                None => self.clone().list(kind, schema, state),
            };
            readers.push(reader);
        }
        let concurrency = self.config.stream_concurrency as usize;
        Ok(futures::stream::iter(readers)
            .flatten_unordered(concurrency)
            .boxed())
    }

    fn restates_from(&self, stream: &str, committed: &StreamState) -> Option<CursorValue> {
        Kind::parse(stream).ok()?.level()?;
        let c = committed_day(committed)?;
        let range = self.incremental_range(Some(c))?;
        Some(CursorValue::Date(days_since_epoch(range.start)))
    }
}

/// `[1,2,3]` as Ocean Engine wants id lists in the query string.
fn id_array<'a>(ids: impl Iterator<Item = &'a String>) -> String {
    format!(
        "[{}]",
        ids.map(String::as_str).collect::<Vec<_>>().join(",")
    )
}

/// One page's rows and envelope, from one pass of `dec`.
fn decode_page(
    dec: &mut JsonPageDecoder,
    resp: &HttpResponse,
    stream: &str,
    what: &str,
) -> Result<JsonPage, braid_sdk::envelope::PageError> {
    CodeMessage::page(dec, &resp.body, classify, |m| {
        Error::data(stream, format!("{what}: {m}"))
    })
}

impl OceanEngineSource {
    fn advertisers(self, schema: SchemaRef) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = Kind::Advertisers.name();
            let wire = schema::wire(&schema);
            let mut dec = CodeMessage::page_decoder(wire.clone(), &["data"], false)?;
            let retries = self.config.max_retries as u32;
            let fields: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let fields = serde_json::to_string(&fields).unwrap_or_default();
            let mut pending = Vec::new();
            for chunk in self.config.advertiser_ids.chunks(ADVERTISERS_PER_INFO) {
                let path = "/open_api/2/advertiser/info/";
                let query = [("advertiser_ids", id_array(chunk.iter())), ("fields", fields.clone())];
                let what = format!("GET {path}");
                let f = fetch_decoded(&self.client, path, retries, || self.get(path, &query), |resp| decode_page(&mut dec, resp, name, &what)).await?;
                let batch = schema::to_stream(f.value.records, &schema).map_err(|e| Error::data(name, format!("{what}: {e}")))?;
                yield Message::Progress { stream: name.into(), pages: 1, retries: u64::from(f.retries) };
                pending.push(batch);
            }
            if let Some(batch) = braid_sdk::take_batch(&schema, &mut pending)? {
                yield Message::Batch { stream: name.into(), batch };
            }
            yield Message::Checkpoint { stream: name.into(), resume: None };
        })
    }

    /// Projects or promotions of every advertiser, page by page.
    fn list(self, kind: Kind, schema: SchemaRef, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = kind.name();
            let path = match kind {
                Kind::Projects => "/open_api/v3.0/project/list/",
                _ => "/open_api/v3.0/promotion/list/",
            };
            let ids = self.config.advertiser_ids.clone();
            // A crashed full refresh resumes at its last committed page, if the
            // advertiser list is still the same at that position.
            let resume = state.resume.as_ref();
            let (first_adv, first_page) = match resume {
                Some(r) => {
                    let i = r.get("advertiser").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
                    let id = r.get("advertiser_id").and_then(|v| v.as_str());
                    let page = r.get("page").and_then(|v| v.as_u64()).unwrap_or(1).max(1);
                    if ids.get(i).map(String::as_str) == id { (i, page) } else { (0, 1) }
                }
                None => (0, 1),
            };
            let size = self.config.page_size;
            let wire = schema::wire(&schema);
            let mut dec = CodeMessage::page_decoder(wire, &["data", "list"], true)?;
            let retries = self.config.max_retries as u32;
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut buffered = 0usize;
            for (ai, adv) in ids.iter().enumerate().skip(first_adv) {
                let mut page = if ai == first_adv { first_page } else { 1 };
                loop {
                    let query = [
                        ("advertiser_id", adv.clone()),
                        ("page", page.to_string()),
                        ("page_size", size.to_string()),
                    ];
                    let what = format!("GET {path} (advertiser {adv}, page {page})");
                    let f = fetch_decoded(&self.client, path, retries, || self.get(path, &query), |resp| decode_page(&mut dec, resp, name, &what)).await?;
                    let total_page = CodeMessage::total_page(&f.value);
                    let batch = schema::to_stream(f.value.records, &schema).map_err(|e| Error::data(name, format!("{what}: {e}")))?;
                    yield Message::Progress { stream: name.into(), pages: 1, retries: u64::from(f.retries) };
                    let n = batch.num_rows();
                    if n > 0 {
                        buffered += n;
                        pending.push(batch);
                    }
                    let more = n > 0 && match total_page {
                        Some(t) => page < t,
                        None => n as u64 == size,
                    };
                    if buffered >= FLUSH_ROWS || !more {
                        if let Some(batch) = braid_sdk::take_batch(&schema, &mut pending)? {
                            buffered = 0;
                            yield Message::Batch { stream: name.into(), batch };
                        }
                        let resume = if more {
                            Some(serde_json::json!({"advertiser": ai, "advertiser_id": adv, "page": page + 1}))
                        } else {
                            ids.get(ai + 1).map(|next| serde_json::json!({"advertiser": ai + 1, "advertiser_id": next, "page": 1}))
                        };
                        yield Message::Checkpoint { stream: name.into(), resume };
                    }
                    if !more {
                        break;
                    }
                    page += 1;
                }
            }
            if first_adv >= ids.len() {
                yield Message::Checkpoint { stream: name.into(), resume: None };
            }
        })
    }

    /// A daily report at `level`, window by window.
    fn report(
        self,
        kind: Kind,
        level: &'static str,
        schema: SchemaRef,
        incremental: bool,
        state: StreamState,
    ) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = kind.name();
            let path = "/open_api/v3.0/report/custom/get/";
            let today = today_shanghai();
            let range = if incremental {
                self.incremental_range(committed_day(&state))
            } else {
                let resumed = state.resume.as_ref()
                    .and_then(|r| r.get("next_start"))
                    .and_then(|v| v.as_str())
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
                let start = resumed.unwrap_or_else(|| self.first_start());
                (start <= today).then_some(ReportRange { start, end: today })
            };
            let windows = range.map(|r| r.windows(MAX_REPORT_DAYS)).unwrap_or_default();
            tracing::debug!(stream = name, windows = windows.len(), ?range, "report range");
            let id_dim = format!("cdp_{level}_id");
            let name_dim = format!("cdp_{level}_name");
            let dims = serde_json::to_string(&["stat_time_day", id_dim.as_str(), name_dim.as_str()]).unwrap_or_default();
            let metrics = serde_json::to_string(&schema::METRICS).unwrap_or_default();
            let order = r#"[{"field":"stat_time_day","type":"ASC"}]"#.to_owned();
            let row = report_row_type(&schema, &id_dim, &name_dim);
            let wire = Arc::new(Schema::new(vec![
                Field::new("dimensions", DataType::Struct(row.0.clone()), true),
                Field::new("metrics", DataType::Struct(row.1.clone()), true),
            ]));
            let mut dec = CodeMessage::page_decoder(wire, &["data", "rows"], true)?;
            let retries = self.config.max_retries as u32;
            let size = self.config.report_page_size;
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut buffered = 0usize;
            for (w, window) in windows.iter().enumerate() {
                for adv in &self.config.advertiser_ids {
                    let mut page = 1u64;
                    loop {
                        let query = [
                            ("advertiser_id", adv.clone()),
                            ("dimensions", dims.clone()),
                            ("metrics", metrics.clone()),
                            ("start_time", window.start.to_string()),
                            ("end_time", window.end.to_string()),
                            ("filters", "[]".to_owned()),
                            ("order_by", order.clone()),
                            ("page", page.to_string()),
                            ("page_size", size.to_string()),
                        ];
                        let what = format!("GET {path} (advertiser {adv}, {}..{}, page {page})", window.start, window.end);
                        let f = fetch_decoded(&self.client, path, retries, || self.get(path, &query), |resp| decode_page(&mut dec, resp, name, &what)).await?;
                        let total_page = CodeMessage::total_page(&f.value);
                        let batch = report_batch(f.value.records, adv, &schema).map_err(|e| Error::data(name, format!("{what}: {e}")))?;
                        yield Message::Progress { stream: name.into(), pages: 1, retries: u64::from(f.retries) };
                        let n = batch.num_rows();
                        if n > 0 {
                            buffered += n;
                            pending.push(batch);
                        }
                        if buffered >= FLUSH_ROWS {
                            if let Some(batch) = braid_sdk::take_batch(&schema, &mut pending)? {
                                buffered = 0;
                                yield Message::Batch { stream: name.into(), batch };
                            }
                        }
                        let more = n > 0 && match total_page {
                            Some(t) => page < t,
                            None => n as u64 == size,
                        };
                        if !more {
                            break;
                        }
                        page += 1;
                    }
                }
                if let Some(batch) = braid_sdk::take_batch(&schema, &mut pending)? {
                    buffered = 0;
                    yield Message::Batch { stream: name.into(), batch };
                }
                // Every day up to this window's end is read: the cursor may move there.
                let resume = match (incremental, windows.get(w + 1)) {
                    (false, Some(next)) => Some(serde_json::json!({"next_start": next.start.to_string()})),
                    _ => None,
                };
                yield Message::Checkpoint { stream: name.into(), resume };
            }
            if windows.is_empty() {
                yield Message::Checkpoint { stream: name.into(), resume: None };
            }
        })
    }
}

/// The `dimensions` and `metrics` structs of a report row.
fn report_row_type(schema: &SchemaRef, id_dim: &str, name_dim: &str) -> (Fields, Fields) {
    let dims = Fields::from(vec![
        Field::new("stat_time_day", DataType::Utf8, true),
        Field::new(id_dim, DataType::Utf8, true),
        Field::new(name_dim, DataType::Utf8, true),
    ]);
    let metrics = Fields::from(
        schema::METRICS
            .iter()
            .map(|m| {
                let f = schema.field_with_name(m).map(|f| f.data_type().clone());
                Field::new(*m, f.unwrap_or(DataType::Utf8), true)
            })
            .collect::<Vec<_>>(),
    );
    (dims, metrics)
}

/// Report rows (`{dimensions, metrics}`) as the stream's columns.
fn report_batch(
    rows: RecordBatch,
    advertiser: &str,
    schema: &SchemaRef,
) -> Result<RecordBatch, String> {
    let n = rows.num_rows();
    let dims = rows.column(0).as_struct();
    let metrics = rows.column(1).as_struct();
    let day: ArrayRef = dims.column(0).clone();
    let mut cols: Vec<ArrayRef> = vec![
        schema::constant(advertiser, n),
        day,
        dims.column(1).clone(),
        dims.column(2).clone(),
    ];
    cols.extend(metrics.columns().iter().cloned());
    // Decode in the wire shape (day as text), then convert like any record.
    let wire = schema::wire(schema);
    let batch = RecordBatch::try_new(wire, cols).map_err(|e| e.to_string())?;
    let out = schema::to_stream(batch, schema)?;
    debug_assert_eq!(out.num_rows(), n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use braid_sdk::report_window::date_from_days;

    #[test]
    fn envelope_codes_are_classified_with_the_vendor_words() {
        assert_eq!(envelope(br#"{"code":0,"message":"OK","data":{}}"#), None);
        let e =
            envelope(r#"{"code":40100,"message":"请求过于频繁","request_id":"2026X"}"#.as_bytes());
        assert_eq!(
            e,
            Some(EnvelopeError::RateLimit(
                "code 40100: 请求过于频繁 (request_id 2026X)".into()
            ))
        );
        assert!(matches!(
            envelope(r#"{"code":40102,"message":"access_token已过期"}"#.as_bytes()),
            Some(EnvelopeError::Auth(_))
        ));
        assert!(matches!(
            envelope(r#"{"code":50000,"message":"系统错误"}"#.as_bytes()),
            Some(EnvelopeError::Transient(_))
        ));
        assert!(matches!(
            envelope(r#"{"code":40001,"message":"参数错误"}"#.as_bytes()),
            Some(EnvelopeError::Fatal(_))
        ));
        // A body cut inside `data` passes the check (its code 0 came first);
        // the rows' decode fails it and the page is fetched again (see
        // `a_cut_page_is_fetched_again_never_landed_short`).
        assert_eq!(
            envelope(br#"{"code":0,"message":"OK","data":{"list":[1,"#),
            None
        );
        assert!(matches!(
            envelope(br#"{"data":{"list":[1,"#),
            Some(EnvelopeError::Transient(m)) if m.contains("cut short")
        ));
    }

    fn list_page(head: &str, tail: &str) -> String {
        let rows = r#"[{"promotion_id":7300000000000000201,"promotion_name":"a","brand_new":{"code":40001}},{"promotion_id":7300000000000000202,"promotion_name":"b"}]"#;
        format!(
            r#"{{{head}"data":{{"list":{rows},"page_info":{{"page":1,"total_page":3}}}}{tail}}}"#
        )
    }

    fn decode(body: &str) -> Result<JsonPage, braid_sdk::envelope::PageError> {
        let wire = schema::wire(&schema::promotions());
        let mut dec = CodeMessage::page_decoder(wire, &["data", "list"], true).unwrap();
        let resp = HttpResponse {
            status: Default::default(),
            headers: Default::default(),
            body: body.as_bytes().to_vec().into(),
            attempts: 1,
        };
        decode_page(&mut dec, &resp, "promotions", "GET /p")
    }

    #[test]
    fn one_pass_reads_the_rows_and_the_envelope_in_every_order() {
        use braid_sdk::envelope::PageError;
        // A success page: rows, total_page, and the code read beside them.
        for body in [
            list_page(r#""code":0,"message":"OK","request_id":"r1","#, ""),
            list_page("", r#","code":0,"message":"OK","request_id":"r1""#),
            list_page("", ""),
        ] {
            assert_eq!(envelope(body.as_bytes()), None, "{body}");
            let p = decode(&body).unwrap();
            assert_eq!(p.records.num_rows(), 2);
            assert_eq!(CodeMessage::total_page(&p), Some(3));
            assert_eq!(
                p.records.column(0).as_string::<i32>().value(1),
                "7300000000000000202"
            );
        }
        // An error code on a page that also carries rows.
        let body = list_page(
            r#""code":40100,"message":"请求过于频繁","request_id":"r2","#,
            "",
        );
        let want = EnvelopeError::RateLimit("code 40100: 请求过于频繁 (request_id r2)".into());
        assert_eq!(envelope(body.as_bytes()), Some(want.clone()));
        assert!(matches!(decode(&body), Err(PageError::Envelope(e)) if e == want));
        // `data` before `code`: the check reads it from the tail, so the
        // token is refreshed by the HTTP client as with any order.
        let body = list_page("", r#","code":40102,"message":"access_token已过期""#);
        assert!(
            matches!(envelope(body.as_bytes()), Some(EnvelopeError::Auth(m)) if m == "code 40102: access_token已过期")
        );
        assert!(matches!(
            decode(&body),
            Err(PageError::Envelope(EnvelopeError::Auth(_)))
        ));
        // A code between two composite values is not in the bytes the check
        // reads; the rows' pass finds it.
        let body = list_page("", r#","code":50000,"message":"系统错误","extra":{}"#);
        assert_eq!(envelope(body.as_bytes()), None);
        assert!(
            matches!(decode(&body), Err(PageError::Envelope(EnvelopeError::Transient(m))) if m == "code 50000: 系统错误")
        );
        let body = list_page("", r#","code":40001,"message":"参数错误","extra":[]"#);
        assert!(matches!(
            decode(&body),
            Err(PageError::Envelope(EnvelopeError::Fatal(_)))
        ));
    }

    #[test]
    fn a_cut_page_is_fetched_again_never_landed_short() {
        use braid_sdk::envelope::PageError;
        let body = list_page(r#""code":0,"message":"OK","request_id":"r1","#, "");
        for cut in 1..body.len() {
            let Some(cut_body) = body.get(..cut) else {
                continue;
            };
            match envelope(cut_body.as_bytes()) {
                Some(EnvelopeError::Transient(_)) => {}
                None => assert!(
                    matches!(
                        decode(cut_body),
                        Err(PageError::Envelope(EnvelopeError::Transient(_)))
                    ),
                    "{cut_body}"
                ),
                other => panic!("{cut_body}: {other:?}"),
            }
        }
        let half = &body[..body.len() / 2];
        assert!(
            matches!(decode(half), Err(PageError::Envelope(EnvelopeError::Transient(m))) if m.contains("cut short"))
        );
        // Rows that do not fit the schema are a data error, not fetched again.
        let body = r#"{"code":0,"data":{"list":[{"promotion_name":{"not":"text"}}]}}"#;
        assert!(matches!(
            decode(body),
            Err(PageError::Fail(Error::Data { .. }))
        ));
    }

    #[test]
    fn report_rows_flatten_into_the_stream_schema() {
        let schema = schema::report("project");
        let (d, m) = report_row_type(&schema, "cdp_project_id", "cdp_project_name");
        let wire = Arc::new(Schema::new(vec![
            Field::new("dimensions", DataType::Struct(d), true),
            Field::new("metrics", DataType::Struct(m), true),
        ]));
        let mut dec = CodeMessage::page_decoder(wire, &["data", "rows"], true).unwrap();
        let body = r#"{"code":0,"data":{"rows":[{"dimensions":{"stat_time_day":"2026-12-01","cdp_project_id":"7300000000000000101","cdp_project_name":"双十二"},"metrics":{"stat_cost":"123.45","show_cnt":"1000","click_cnt":"12","convert_cnt":"3","new_metric":"x"}}],"page_info":{"total_page":1}}}"#.as_bytes();
        let p = dec.decode(body).unwrap();
        assert_eq!(
            p.values,
            vec![Some("0".into()), None, None, Some("1".into())]
        );
        let b = report_batch(p.records, "1760000000000000", &schema).unwrap();
        assert_eq!(b.num_rows(), 1);
        assert_eq!(
            b.column(2).as_string::<i32>().value(0),
            "7300000000000000101"
        );
        let cost = b
            .column(4)
            .as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(cost.value(0), 1_234_500);
        let day = b.column(1).as_primitive::<arrow_array::types::Date32Type>();
        assert_eq!(date_from_days(day.value(0)), "2026-12-01".parse().ok());
    }
}

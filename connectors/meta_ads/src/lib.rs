//! Meta Ads source (Marketing API over the Graph API): `campaigns`,
//! `adsets`, `ads`, daily ad-level `ad_insights`, and lead-form `leads`.
//!
//! - Every request goes to a versioned path (`/v21.0/act_<id>/…`, config
//!   `api_version`) with the `access_token` parameter; errors name the path
//!   only, never the query, so the token is not printed.
//! - Entity edges page with `paging.cursors.after` while `paging.next` is
//!   present (the `next` URL itself is not followed: it repeats the token);
//!   a [`PageTokenGuard`] stops a repeated cursor, and a full refresh commits
//!   its cursor so a crashed run resumes.
//! - `ad_insights` (`level=ad`, `time_increment=1`) reads on a `date_start`
//!   cursor with a lookback ([`ReportRange`]): each incremental read pulls
//!   the committed day minus `lookback_days` through today in the account's
//!   time zone, and [`Source::restates_from`] tells the runtime those days
//!   land again as newer versions. Ranges longer than `sync_max_days` run as
//!   async report runs (`POST …/insights` → `report_run_id`, polled until
//!   `async_status` is `Job Completed`, then `/<report_run_id>/insights`),
//!   `window_days` per run, checkpointed after each.
//! - Throttling is recognised by Meta's error codes (4, 17, 32, 613, 80000–
//!   80014), whatever the HTTP status, and waited out for at least the
//!   `estimated_time_to_regain_access` of `x-business-use-case-usage`.
//! - Ids stay strings (they exceed a double's precision); counts are `Int64`,
//!   money `Decimal128(38, 9)` in the account currency's major units beside a
//!   `currency` column, and insights rows carry the account's time zone.

mod config;
pub mod schema;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use braid_sdk::report_window::date_from_days;
use braid_sdk::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, EnvelopeError, Error, HttpClient,
    HttpConfig, HttpResponse, JsonPageDecoder, Message, MessageStream, PageTokenGuard, ReadRequest,
    ReportRange, Result, Source, StreamDescriptor, StreamState, SyncMode,
};
use chrono::NaiveDate;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

pub use config::MetaAdsConfig;
use schema::Account;

/// Rows gathered from consecutive pages into one batch.
const FLUSH_ROWS: usize = 4096;

/// Attempts at a report run that Meta failed or skipped.
const JOB_ATTEMPTS: u32 = 3;

/// The Meta Ads connector (`connector: meta_ads`).
#[derive(Debug, Clone, Copy, Default)]
pub struct MetaAdsConnector;

impl Connector for MetaAdsConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "meta_ads".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(MetaAdsSource::new(MetaAdsConfig::from_value(
            config,
        )?)?))
    }
}

#[derive(Debug, Deserialize)]
struct GraphError {
    error: GraphErrorBody,
}

#[derive(Debug, Deserialize)]
struct GraphErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    is_transient: Option<bool>,
    #[serde(default)]
    fbtrace_id: Option<String>,
}

impl GraphErrorBody {
    fn describe(&self) -> String {
        let mut m = format!(
            "{} code {}",
            self.kind.as_deref().unwrap_or("error"),
            self.code.unwrap_or(0)
        );
        if let Some(s) = self.error_subcode {
            m.push_str(&format!(" (subcode {s})"));
        }
        m.push_str(": ");
        m.push_str(&self.message);
        if let Some(t) = &self.fbtrace_id {
            m.push_str(&format!(" [fbtrace_id {t}]"));
        }
        m
    }
}

/// Meta's error body as a message: type, code, subcode, message, trace id.
fn graph_message(body: &[u8]) -> Option<String> {
    let e: GraphError = serde_json::from_slice(body).ok()?;
    Some(e.error.describe())
}

/// The longest `estimated_time_to_regain_access` (minutes) in
/// `x-business-use-case-usage` (or `x-ad-account-usage`'s
/// `reset_time_duration`, seconds), capped at an hour.
pub fn throttle_wait(headers: &HeaderMap) -> Option<Duration> {
    let mut best: Option<u64> = None;
    if let Some(v) = headers
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
    {
        for entries in v.as_object().into_iter().flat_map(|o| o.values()) {
            for e in entries.as_array().into_iter().flatten() {
                if let Some(m) = e
                    .get("estimated_time_to_regain_access")
                    .and_then(|m| m.as_u64())
                {
                    best = Some(best.unwrap_or(0).max(m * 60));
                }
            }
        }
    }
    if let Some(s) = headers
        .get("x-ad-account-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        .and_then(|v| v.get("reset_time_duration").and_then(|s| s.as_u64()))
    {
        best = Some(best.unwrap_or(0).max(s));
    }
    best.filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s.min(3600)))
}

/// Classifies a Graph API error by its code, whatever the HTTP status.
fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<(EnvelopeError, Option<Duration>)> {
    let e: GraphError = serde_json::from_slice(body).ok()?;
    let e = e.error;
    let text = e.describe();
    let code = e.code.unwrap_or(0);
    let verdict = match code {
        4 | 17 | 32 | 613 | 80_000..=80_014 => {
            return Some((EnvelopeError::RateLimit(text), throttle_wait(headers)))
        }
        102 | 104 | 190 | 2500 => EnvelopeError::Auth(text),
        10 | 200..=299 => EnvelopeError::Auth(format!("missing permission: {text}")),
        1 if e.error_subcode == Some(1_487_534) => EnvelopeError::Fatal(format!(
            "{text} (the range is too large for a synchronous request: lower sync_max_days)"
        )),
        1 | 2 => EnvelopeError::Transient(text),
        _ if e.is_transient == Some(true) || status.is_server_error() => {
            EnvelopeError::Transient(text)
        }
        _ => EnvelopeError::Fatal(text),
    };
    Some((verdict, None))
}

/// The streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Campaigns,
    AdSets,
    Ads,
    Insights,
    Leads,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Campaigns,
        Kind::AdSets,
        Kind::Ads,
        Kind::Insights,
        Kind::Leads,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Campaigns => "campaigns",
            Kind::AdSets => "adsets",
            Kind::Ads => "ads",
            Kind::Insights => "ad_insights",
            Kind::Leads => "leads",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::Config(format!(
                "unknown Meta Ads stream {s:?}; expected campaigns, adsets, ads, ad_insights or leads"
            ))
        })
    }

    fn schema(self) -> SchemaRef {
        match self {
            Kind::Campaigns => schema::campaigns(),
            Kind::AdSets => schema::adsets(),
            Kind::Ads => schema::ads(),
            Kind::Insights => schema::ad_insights(),
            Kind::Leads => schema::leads(),
        }
    }

    fn descriptor(self) -> StreamDescriptor {
        let (pk, cursor): (Vec<String>, Option<&str>) = match self {
            Kind::Insights => (
                vec!["ad_id".into(), "date_start".into()],
                Some("date_start"),
            ),
            Kind::Leads => (vec!["id".into()], Some("created_time")),
            _ => (vec!["id".into()], None),
        };
        StreamDescriptor {
            name: self.name().into(),
            schema: self.schema(),
            primary_key: pk,
            cursor_field: cursor.map(str::to_owned),
            sync_modes: if cursor.is_some() {
                vec![SyncMode::FullRefresh, SyncMode::Incremental]
            } else {
                vec![SyncMode::FullRefresh]
            },
        }
    }
}

/// A configured Meta Ads source.
#[derive(Debug, Clone)]
pub struct MetaAdsSource {
    config: Arc<MetaAdsConfig>,
    client: HttpClient,
    account: Arc<tokio::sync::OnceCell<Account>>,
}

impl MetaAdsSource {
    /// A source for `config`.
    pub fn new(config: MetaAdsConfig) -> Result<Self> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_retries = config.max_retries as u32;
        http.requests_per_second = config
            .requests_per_second
            .and_then(|n| NonZeroU32::new(n as u32));
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.error_message = graph_message;
        http.classify = Some(classify);
        Ok(Self {
            client: HttpClient::new(http)?,
            config: Arc::new(config),
            account: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    fn path(&self, rest: &str) -> String {
        format!("/{}/{rest}", self.config.api_version)
    }

    fn act(&self) -> String {
        format!("act_{}", self.config.ad_account_id)
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<HttpResponse> {
        let url = self.client.url(path);
        let token = self.config.access_token.as_str();
        self.client
            .send(|c| c.get(&url).query(params).query(&[("access_token", token)]))
            .await
    }

    async fn post(&self, path: &str, params: &[(&str, String)]) -> Result<HttpResponse> {
        let url = self.client.url(path);
        let mut form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("access_token", self.config.access_token.as_str()));
        self.client.send(|c| c.post(&url).form(&form)).await
    }

    /// The ad account's currency and time zone, asked once per source.
    async fn account(&self) -> Result<Account> {
        self.account
            .get_or_try_init(|| async {
                #[derive(Deserialize)]
                struct A {
                    #[serde(default)]
                    currency: Option<String>,
                    #[serde(default)]
                    timezone_name: Option<String>,
                }
                let path = self.path(&self.act());
                let resp = self
                    .get(&path, &[("fields", "name,currency,timezone_name".into())])
                    .await?;
                let a: A = serde_json::from_slice(&resp.body).map_err(|e| {
                    Error::data("account", format!("GET {path}: invalid JSON: {e}"))
                })?;
                Ok::<_, Error>(Account {
                    currency: a.currency.unwrap_or_else(|| "USD".into()),
                    timezone: a.timezone_name.unwrap_or_else(|| "UTC".into()),
                })
            })
            .await
            .cloned()
    }

    fn today(account: &Account) -> NaiveDate {
        let tz: chrono_tz::Tz = account.timezone.parse().unwrap_or_else(|_| {
            tracing::warn!(timezone = %account.timezone, "unknown account time zone; using UTC days");
            chrono_tz::UTC
        });
        chrono::Utc::now().with_timezone(&tz).date_naive()
    }

    fn start_date(&self, today: NaiveDate) -> NaiveDate {
        self.config
            .start()
            .unwrap_or_else(|| today - chrono::Days::new(30))
    }
}

#[async_trait]
impl Source for MetaAdsSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let a = self.account().await?;
        Ok(CheckOutcome {
            message: format!(
                "authenticated to {}; ad account {} ({}, {})",
                self.config.base_url,
                self.act(),
                a.currency,
                a.timezone
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
            if incremental && !matches!(kind, Kind::Insights | Kind::Leads) {
                return Err(Error::Config(format!(
                    "meta_ads: {} can only be read in full_refresh mode",
                    kind.name()
                )));
            }
            if kind == Kind::Leads && self.config.lead_form_ids.is_empty() {
                return Err(Error::Config(
                    "meta_ads: the leads stream needs lead_form_ids".into(),
                ));
            }
            let schema = configured.stream.schema.clone();
            let me = self.clone();
            readers.push(match kind {
                Kind::Insights => me.insights(schema, incremental, state),
                Kind::Leads => me.leads(schema, incremental, state),
                _ => me.entities(kind, schema, state),
            });
        }
        let concurrency = self.config.stream_concurrency as usize;
        Ok(futures::stream::iter(readers)
            .flatten_unordered(concurrency)
            .boxed())
    }

    fn restates_from(&self, stream: &str, committed: &StreamState) -> Option<CursorValue> {
        if stream != Kind::Insights.name() {
            return None;
        }
        let CursorValue::Date(d) = committed.cursor.as_ref()? else {
            return None;
        };
        Some(CursorValue::Date(
            d.saturating_sub(self.config.lookback_days as i32),
        ))
    }
}

/// A page decoder for `stream`'s records under `data`, with the next cursor and link.
fn decoder(stream: &str) -> Result<JsonPageDecoder> {
    JsonPageDecoder::new(
        schema::wire(stream),
        &["data".to_owned()],
        &[
            vec!["paging".into(), "cursors".into(), "after".into()],
            vec!["paging".into(), "next".into()],
        ],
    )
    .map_err(|e| Error::Internal(format!("arrow-json decoder: {e}")))
}

/// Fetches of one page whose body does not decode (a cut connection) before the read fails.
const PAGE_ATTEMPTS: u32 = 3;

/// One page: its rows in the stream schema, the cursor of the next page, and
/// the retries it took (HTTP retries and fetches again after a body that did
/// not decode).
struct Page {
    batch: RecordBatch,
    next: Option<String>,
    retries: u64,
}

/// What a page is decoded into.
struct PageContext<'a> {
    kind: Kind,
    schema: &'a SchemaRef,
    account: &'a Account,
    counted: &'a [String],
    what: &'a str,
}

impl MetaAdsSource {
    /// Fetches and decodes one page; a body that is not valid JSON is fetched
    /// again (Meta's cursors are stable, so the same request is the same page).
    async fn page(
        &self,
        decoder: &mut JsonPageDecoder,
        cx: &PageContext<'_>,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Page> {
        let name = cx.kind.name();
        let mut retries = 0u64;
        for attempt in 1..=PAGE_ATTEMPTS {
            let resp = self.get(path, params).await?;
            retries += u64::from(resp.attempts.saturating_sub(1));
            let page = match decoder.decode(&resp.body) {
                Ok(p) => p,
                Err(e) if attempt < PAGE_ATTEMPTS => {
                    tracing::warn!(stream = name, endpoint = path, error = %e, "page did not decode; fetching it again");
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                    continue;
                }
                Err(e) => {
                    return Err(Error::data(
                        name,
                        format!("{}: {e} (after {PAGE_ATTEMPTS} fetches)", cx.what),
                    ))
                }
            };
            let batch = schema::to_stream(name, &page.records, cx.schema, cx.account, cx.counted)
                .map_err(|e| Error::data(name, format!("{}: {e}", cx.what)))?;
            let mut values = page.values.into_iter();
            let after = values.next().flatten().filter(|s| !s.is_empty());
            let next = values.next().flatten().filter(|s| !s.is_empty());
            return Ok(Page {
                batch,
                next: next.and(after),
                retries,
            });
        }
        unreachable!("the last attempt returns")
    }
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// How one insights window is read.
enum Window {
    Sync(ReportRange),
    Async(ReportRange),
}

impl MetaAdsSource {
    fn entities(self, kind: Kind, schema: SchemaRef, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = kind.name();
            let account = self.account().await?;
            let edge = match kind { Kind::Campaigns => "campaigns", Kind::AdSets => "adsets", _ => "ads" };
            let path = self.path(&format!("{}/{edge}", self.act()));
            let what = format!("GET {path}");
            let mut decoder = decoder(name)?;
            let mut guard = PageTokenGuard::new(name);
            // A crashed full refresh resumes at its last committed cursor.
            let mut after: Option<String> = state.resume.as_ref().and_then(|r| r.get("after")).and_then(|v| v.as_str()).map(str::to_owned);
            if let Some(a) = &after { guard.check(a)?; }
            let mut pending = Vec::new();
            let mut buffered = 0;
            loop {
                let mut params = vec![("fields", schema::graph_fields(name).to_owned()), ("limit", self.config.page_size.to_string())];
                if let Some(a) = &after { params.push(("after", a.clone())); }
                let cx = PageContext { kind, schema: &schema, account: &account, counted: &[], what: &what };
                let Page { batch, next, retries } = self.page(&mut decoder, &cx, &path, &params).await?;
                yield Message::Progress { stream: name.into(), pages: 1, retries };
                if let Some(n) = &next { guard.check(n)?; }
                buffered += batch.num_rows();
                if batch.num_rows() > 0 { pending.push(batch); }
                if buffered >= FLUSH_ROWS || next.is_none() {
                    if let Some(b) = braid_sdk::take_batch(&schema, &mut pending)? {
                        yield Message::Batch { stream: name.into(), batch: b };
                    }
                    buffered = 0;
                    let resume = next.as_ref().map(|n| serde_json::json!({"after": n}));
                    yield Message::Checkpoint { stream: name.into(), resume };
                }
                after = next;
                if after.is_none() { break; }
            }
        })
    }

    /// The windows of the range to read, each synchronous or a report run.
    fn plan(&self, range: ReportRange) -> Vec<Window> {
        let sync_max = self.config.sync_max_days as u32;
        if range.days() <= i64::from(sync_max) {
            return vec![Window::Sync(range)];
        }
        range
            .windows(self.config.window_days as u32)
            .into_iter()
            .map(|w| {
                if w.days() <= i64::from(sync_max) {
                    Window::Sync(w)
                } else {
                    Window::Async(w)
                }
            })
            .collect()
    }

    fn insights_params(&self, w: &ReportRange) -> Vec<(&'static str, String)> {
        vec![
            ("level", "ad".into()),
            ("time_increment", "1".into()),
            (
                "time_range",
                serde_json::json!({"since": day(w.start), "until": day(w.end)}).to_string(),
            ),
            ("fields", schema::graph_fields("ad_insights").into()),
        ]
    }

    /// Starts a report run for `w` and waits for it: the run's id.
    async fn run_report(&self, w: &ReportRange) -> Result<String> {
        let path = self.path(&format!("{}/insights", self.act()));
        let mut last = String::new();
        for attempt in 1..=JOB_ATTEMPTS {
            let resp = self.post(&path, &self.insights_params(w)).await?;
            #[derive(Deserialize)]
            struct Run {
                report_run_id: String,
            }
            let run: Run = serde_json::from_slice(&resp.body).map_err(|e| {
                Error::data(
                    "ad_insights",
                    format!("POST {path}: no report_run_id in the response: {e}"),
                )
            })?;
            let id = run.report_run_id;
            let status_path = self.path(&id);
            let started = Instant::now();
            loop {
                #[derive(Deserialize)]
                struct Status {
                    #[serde(default)]
                    async_status: String,
                    #[serde(default)]
                    async_percent_completion: Option<f64>,
                }
                let resp = self
                    .get(
                        &status_path,
                        &[("fields", "async_status,async_percent_completion".into())],
                    )
                    .await?;
                let s: Status = serde_json::from_slice(&resp.body).map_err(|e| {
                    Error::data(
                        "ad_insights",
                        format!("GET {status_path}: invalid JSON: {e}"),
                    )
                })?;
                match s.async_status.as_str() {
                    "Job Completed" => return Ok(id),
                    "Job Failed" | "Job Skipped" => {
                        last = format!(
                            "report run {id} for {}..{}: {}",
                            day(w.start),
                            day(w.end),
                            s.async_status
                        );
                        tracing::warn!(attempt, "{last}; starting it again");
                        break;
                    }
                    _ => {}
                }
                if started.elapsed() > Duration::from_secs(self.config.job_timeout_seconds) {
                    return Err(Error::Transient {
                        endpoint: status_path,
                        message: format!(
                            "report run {id} did not complete within {} s (last status {:?}, {}%)",
                            self.config.job_timeout_seconds,
                            s.async_status,
                            s.async_percent_completion.unwrap_or(0.0)
                        ),
                    });
                }
                tokio::time::sleep(Duration::from_millis(self.config.job_poll_ms)).await;
            }
        }
        Err(Error::Transient {
            endpoint: path,
            message: format!("{last} ({JOB_ATTEMPTS} attempts)"),
        })
    }

    fn insights(self, schema: SchemaRef, incremental: bool, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let kind = Kind::Insights;
            let name = kind.name();
            let account = self.account().await?;
            let today = Self::today(&account);
            let start = self.start_date(today);
            let range = if incremental {
                let committed = match &state.cursor {
                    Some(CursorValue::Date(d)) => date_from_days(*d),
                    _ => None,
                };
                ReportRange::incremental(committed, self.config.lookback_days as u32, start, today)
            } else {
                // A crashed full refresh resumes at the first window it had not committed.
                let from = state.resume.as_ref().and_then(|r| r.get("from")).and_then(|v| v.as_str())
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                    .unwrap_or(start);
                ReportRange::incremental(None, 0, from, today)
            };
            let Some(range) = range else {
                yield Message::Checkpoint { stream: name.into(), resume: None };
                return;
            };
            tracing::info!(stream = name, from = %range.start, to = %range.end, "reading insights");
            let counted = self.config.conversion_action_types.clone();
            let mut decoder = decoder(name)?;
            let windows = self.plan(range);
            let n_windows = windows.len();
            for (k, w) in windows.into_iter().enumerate() {
                let (path, base, window) = match &w {
                    Window::Sync(r) => (self.path(&format!("{}/insights", self.act())), self.insights_params(r), *r),
                    Window::Async(r) => {
                        let id = self.run_report(r).await?;
                        (self.path(&format!("{id}/insights")), Vec::new(), *r)
                    }
                };
                let what = format!("GET {path} ({}..{})", day(window.start), day(window.end));
                let mut guard = PageTokenGuard::new(name);
                let mut after: Option<String> = None;
                let mut pending = Vec::new();
                let mut buffered = 0;
                loop {
                    let mut params = base.clone();
                    params.push(("limit", self.config.page_size.to_string()));
                    if let Some(a) = &after { params.push(("after", a.clone())); }
                    let cx = PageContext { kind, schema: &schema, account: &account, counted: &counted, what: &what };
                    let Page { batch, next, retries } = self.page(&mut decoder, &cx, &path, &params).await?;
                    yield Message::Progress { stream: name.into(), pages: 1, retries };
                    if let Some(n) = &next { guard.check(n)?; }
                    buffered += batch.num_rows();
                    if batch.num_rows() > 0 { pending.push(batch); }
                    if buffered >= FLUSH_ROWS || next.is_none() {
                        if let Some(b) = braid_sdk::take_batch(&schema, &mut pending)? {
                            yield Message::Batch { stream: name.into(), batch: b };
                        }
                        buffered = 0;
                    }
                    after = next;
                    if after.is_none() { break; }
                }
                // Every day up to the window's end is read: commit.
                let resume = (!incremental && k + 1 < n_windows)
                    .then(|| serde_json::json!({"from": day(window.end + chrono::Days::new(1))}));
                yield Message::Checkpoint { stream: name.into(), resume };
            }
        })
    }

    fn leads(self, schema: SchemaRef, incremental: bool, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let kind = Kind::Leads;
            let name = kind.name();
            let account = self.account().await?;
            // Inclusive from the committed second: Meta filters with GREATER_THAN.
            let since = match (&state.cursor, incremental) {
                (Some(CursorValue::TimestampMicros(us)), true) => Some(us.div_euclid(1_000_000) - 1),
                _ => None,
            };
            let mut decoder = decoder(name)?;
            let mut pending = Vec::new();
            let mut buffered = 0;
            for form in &self.config.lead_form_ids {
                let path = self.path(&format!("{form}/leads"));
                let what = format!("GET {path}");
                let mut guard = PageTokenGuard::new(name);
                let mut after: Option<String> = None;
                loop {
                    let mut params = vec![("fields", schema::graph_fields(name).to_owned()), ("limit", self.config.page_size.to_string())];
                    if let Some(s) = since {
                        params.push(("filtering", serde_json::json!([{"field": "time_created", "operator": "GREATER_THAN", "value": s}]).to_string()));
                    }
                    if let Some(a) = &after { params.push(("after", a.clone())); }
                    let cx = PageContext { kind, schema: &schema, account: &account, counted: &[], what: &what };
                    let Page { batch, next, retries } = self.page(&mut decoder, &cx, &path, &params).await?;
                    yield Message::Progress { stream: name.into(), pages: 1, retries };
                    if let Some(n) = &next { guard.check(n)?; }
                    buffered += batch.num_rows();
                    if batch.num_rows() > 0 { pending.push(batch); }
                    if buffered >= FLUSH_ROWS {
                        if let Some(b) = braid_sdk::take_batch(&schema, &mut pending)? {
                            yield Message::Batch { stream: name.into(), batch: b };
                        }
                        buffered = 0;
                    }
                    after = next;
                    if after.is_none() { break; }
                }
            }
            if let Some(b) = braid_sdk::take_batch(&schema, &mut pending)? {
                yield Message::Batch { stream: name.into(), batch: b };
            }
            // Leads come newest first: only the end of the stream is a safe checkpoint.
            yield Message::Checkpoint { stream: name.into(), resume: None };
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: i64, sub: Option<i64>) -> Vec<u8> {
        serde_json::json!({"error": {"message": "m", "type": "OAuthException", "code": code, "error_subcode": sub, "fbtrace_id": "AbC"}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn graph_errors_classify_by_code_whatever_the_status() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-business-use-case-usage",
            r#"{"123":[{"type":"ads_insights","call_count":100,"estimated_time_to_regain_access":2}]}"#
                .parse()
                .unwrap(),
        );
        let (v, wait) = classify(StatusCode::BAD_REQUEST, &h, &body(80004, Some(2446079))).unwrap();
        assert!(
            matches!(v, EnvelopeError::RateLimit(ref m) if m.contains("code 80004 (subcode 2446079): m [fbtrace_id AbC]")),
            "{v:?}"
        );
        assert_eq!(wait, Some(Duration::from_secs(120)));
        let (v, wait) =
            classify(StatusCode::BAD_REQUEST, &HeaderMap::new(), &body(17, None)).unwrap();
        assert!(matches!(v, EnvelopeError::RateLimit(_)));
        assert_eq!(wait, None);
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &h, &body(190, None))
                .unwrap()
                .0,
            EnvelopeError::Auth(_)
        ));
        assert!(matches!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &h, &body(2, None))
                .unwrap()
                .0,
            EnvelopeError::Transient(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &h, &body(100, None))
                .unwrap()
                .0,
            EnvelopeError::Fatal(_)
        ));
        assert!(classify(StatusCode::BAD_GATEWAY, &h, b"<html>bad gateway</html>").is_none());
    }

    #[test]
    fn restated_days_reach_back_the_lookback() {
        let mut cfg =
            serde_json::json!({"access_token": "t", "ad_account_id": "act_42", "lookback_days": 3});
        let s = MetaAdsSource::new(MetaAdsConfig::from_value(cfg.take()).unwrap()).unwrap();
        let committed = StreamState {
            cursor: Some(CursorValue::Date(20_000)),
            ..Default::default()
        };
        assert_eq!(
            s.restates_from("ad_insights", &committed),
            Some(CursorValue::Date(19_997))
        );
        assert_eq!(s.restates_from("leads", &committed), None);
        assert_eq!(
            s.restates_from("ad_insights", &StreamState::default()),
            None
        );
    }
}

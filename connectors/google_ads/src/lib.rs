//! Google Ads source (Google Ads API over REST): `campaigns`, `ad_groups`,
//! daily `campaign_daily_metrics`, and `click_views` (one row per click,
//! with its `gclid`).
//!
//! - Every query is GAQL sent to `POST /<version>/customers/<id>/googleAds:searchStream`
//!   with an OAuth 2.0 access token from the refresh-token grant
//!   ([`braid_sdk::OAuth2`], refreshed before expiry and once more when the
//!   API answers `UNAUTHENTICATED`), the manager's `login-customer-id` when
//!   configured, and the `developer-token` header when one is configured
//!   (Google sunset developer tokens on 2026-09-09 and ignores the header
//!   since). `api_version` defaults to v26; from v23 the campaign dates are
//!   `start_date_time`/`end_date_time` (the older names below v23). Errors name the path
//!   only; no token or secret is ever printed.
//! - The answer is a JSON array of result batches, decoded in one arrow-json
//!   pass ([`schema::batch_wire`]); an answer that does not decode (cut
//!   short) or ends with an error element is fetched again, since the query
//!   is the same. searchStream has no page token: a window is read whole or
//!   not at all, and checkpointed after it lands.
//! - Errors are classified by Google's `status` and `GoogleAdsFailure`
//!   error codes: `RESOURCE_EXHAUSTED` (and `quotaError`) is waited out for
//!   at least its `retryDelay` (a delay over ten minutes — the daily quota —
//!   fails the run instead), `UNAUTHENTICATED`/`PERMISSION_DENIED` are auth
//!   errors, `INTERNAL`/`UNAVAILABLE`/`DEADLINE_EXCEEDED` are retried, the
//!   rest (`INVALID_ARGUMENT` with a `queryError`, …) fail with Google's words
//!   and request id.
//! - `campaign_daily_metrics` (`FROM campaign`, `segments.date`) reads on a
//!   `date` cursor with a lookback ([`ReportRange`]): each incremental read
//!   pulls the committed day minus `lookback_days` through today in `window_days`
//!   windows, and [`Source::restates_from`] tells the runtime those days land
//!   again as newer versions of (customer, campaign, date).
//! - `click_views` queries one day at a time (Google requires it) for the
//!   last `click_view_days` (at most 90, what Google keeps), on a `date`
//!   cursor. Each incremental read starts a day before the committed day:
//!   the committed day was partial, and so may be the day before in an
//!   account further west (accounts keep their own time zones, the cursor
//!   is one). Those days land again as newer versions of (customer, gclid).
//! - Each account's currency and time zone come from `FROM customer` and are
//!   columns of every row; days are the account's days.

mod config;
pub mod schema;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use braid_sdk::report_window::date_from_days;
use braid_sdk::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, EnvelopeError, Error, Grant,
    HttpClient, HttpConfig, HttpResponse, JsonPageDecoder, Message, MessageStream, OAuth2,
    ReadRequest, ReportRange, Result, Source, StreamDescriptor, StreamState, SyncMode, TokenCache,
};
use chrono::NaiveDate;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

pub use config::GoogleAdsConfig;
use schema::{Account, Col};

/// Fetches of one query whose answer does not decode before the read fails.
const FETCH_ATTEMPTS: u32 = 3;

/// A `retryDelay` longer than this is a spent daily quota: fail, do not wait.
const MAX_QUOTA_WAIT: Duration = Duration::from_secs(600);

/// Days before the committed day every incremental `click_views` read pulls again.
const CLICK_RESTATE_DAYS: u32 = 1;

/// Days of `click_view` Google keeps.
pub const CLICK_VIEW_MAX_DAYS: u64 = 90;

/// The Google Ads connector (`connector: google_ads`).
#[derive(Debug, Clone, Copy, Default)]
pub struct GoogleAdsConnector;

impl Connector for GoogleAdsConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "google_ads".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(GoogleAdsSource::new(
            GoogleAdsConfig::from_value(config)?,
        )?))
    }
}

#[derive(Debug, Deserialize)]
struct Status {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Failure>,
}

#[derive(Debug, Deserialize)]
struct Failure {
    #[serde(default)]
    errors: Vec<AdsError>,
    #[serde(default, rename = "requestId")]
    request_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AdsError {
    #[serde(default, rename = "errorCode")]
    error_code: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Wrapped {
    error: Status,
}

/// Google's error, from `{"error": …}` or a stream `[{"error": …}]`.
fn google_status(body: &[u8]) -> Option<Status> {
    // (serde would read a struct from a sequence too: look at the first byte.)
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first == b'{' {
        return serde_json::from_slice::<Wrapped>(body)
            .ok()
            .map(|w| w.error);
    }
    let items: Vec<serde_json::Value> = serde_json::from_slice(body).ok()?;
    items
        .into_iter()
        .find_map(|v| v.get("error").cloned())
        .and_then(|e| serde_json::from_value(e).ok())
}

impl Status {
    /// `STATUS: message; family CODE: detail (request id …)`.
    fn describe(&self) -> String {
        let mut m = if self.status.is_empty() {
            format!("code {}: {}", self.code.unwrap_or(0), self.message)
        } else {
            format!("{}: {}", self.status, self.message)
        };
        for f in &self.details {
            for e in &f.errors {
                for (family, code) in &e.error_code {
                    m.push_str(&format!("; {family} {}", code.as_str().unwrap_or("?")));
                }
                if !e.message.is_empty() {
                    m.push_str(&format!(": {}", e.message));
                }
            }
            if let Some(r) = &f.request_id {
                m.push_str(&format!(" (request id {r})"));
            }
        }
        m
    }

    fn codes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.details.iter().flat_map(|f| {
            f.errors.iter().flat_map(|e| {
                e.error_code
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
            })
        })
    }

    /// The longest `quotaErrorDetails.retryDelay` (`"30s"`, `"1.5s"`).
    fn retry_delay(&self) -> Option<Duration> {
        self.details
            .iter()
            .flat_map(|f| f.errors.iter())
            .filter_map(|e| {
                let d = e
                    .details
                    .as_ref()?
                    .get("quotaErrorDetails")?
                    .get("retryDelay")?;
                parse_duration(d.as_str()?)
            })
            .max()
    }
}

/// A protobuf JSON duration (`"30s"`, `"0.5s"`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn google_message(body: &[u8]) -> Option<String> {
    google_status(body).map(|s| s.describe())
}

/// Classifies a Google error by its status and error codes.
fn classify(
    status: StatusCode,
    _headers: &HeaderMap,
    body: &[u8],
) -> Option<(EnvelopeError, Option<Duration>)> {
    let s = google_status(body)?;
    let text = s.describe();
    let quota = s.codes().any(|(family, _)| family == "quotaError");
    if s.status == "RESOURCE_EXHAUSTED" || quota || status == StatusCode::TOO_MANY_REQUESTS {
        let wait = s.retry_delay();
        if wait.is_some_and(|w| w > MAX_QUOTA_WAIT) {
            return Some((
                EnvelopeError::QuotaExhausted(format!(
                    "{text} (the quota comes back in {} s: the daily operations budget of the Cloud project's access level is spent)",
                    wait.map(|w| w.as_secs()).unwrap_or(0)
                )),
                None,
            ));
        }
        return Some((EnvelopeError::RateLimit(text), wait));
    }
    let verdict = match s.status.as_str() {
        "UNAUTHENTICATED" => EnvelopeError::Auth(text),
        "PERMISSION_DENIED" => EnvelopeError::Auth(format!(
            "missing permission (for a client account, login_customer_id must name its manager): {text}"
        )),
        "INTERNAL" | "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "ABORTED" | "UNKNOWN" => {
            EnvelopeError::Transient(text)
        }
        _ if status.is_server_error() => EnvelopeError::Transient(text),
        _ => EnvelopeError::Fatal(text),
    };
    Some((verdict, None))
}

/// The streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Campaigns,
    AdGroups,
    Metrics,
    Clicks,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Campaigns, Kind::AdGroups, Kind::Metrics, Kind::Clicks];

    fn name(self) -> &'static str {
        match self {
            Kind::Campaigns => "campaigns",
            Kind::AdGroups => "ad_groups",
            Kind::Metrics => "campaign_daily_metrics",
            Kind::Clicks => "click_views",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::Config(format!(
                "unknown Google Ads stream {s:?}; expected campaigns, ad_groups, campaign_daily_metrics or click_views"
            ))
        })
    }

    /// The columns, with the field names of API version `version`.
    fn cols(self, version: u32) -> &'static [Col] {
        match self {
            Kind::Campaigns if version < 23 => schema::CAMPAIGNS_BEFORE_V23,
            Kind::Campaigns => schema::CAMPAIGNS,
            Kind::AdGroups => schema::AD_GROUPS,
            Kind::Metrics => schema::CAMPAIGN_DAILY_METRICS,
            Kind::Clicks => schema::CLICK_VIEWS,
        }
    }

    fn resource(self) -> &'static str {
        match self {
            Kind::Campaigns | Kind::Metrics => "campaign",
            Kind::AdGroups => "ad_group",
            Kind::Clicks => "click_view",
        }
    }

    fn descriptor(self) -> StreamDescriptor {
        // Both spellings of the campaign dates give the same columns.
        let cols = self.cols(u32::MAX);
        let cursor = matches!(self, Kind::Metrics | Kind::Clicks).then(|| "date".to_owned());
        StreamDescriptor {
            name: self.name().into(),
            schema: schema::schema(cols),
            primary_key: cols
                .iter()
                .filter(|c| c.key)
                .map(|c| c.name.to_owned())
                .collect(),
            sync_modes: if cursor.is_some() {
                vec![SyncMode::FullRefresh, SyncMode::Incremental]
            } else {
                vec![SyncMode::FullRefresh]
            },
            cursor_field: cursor,
        }
    }
}

/// A configured Google Ads source.
#[derive(Clone)]
pub struct GoogleAdsSource {
    config: Arc<GoogleAdsConfig>,
    client: HttpClient,
    tokens: Arc<TokenCache>,
    accounts: Arc<tokio::sync::OnceCell<Vec<Account>>>,
    /// Retries the account queries took, reported by the first stream to read them.
    account_retries: Arc<AtomicU64>,
}

impl std::fmt::Debug for GoogleAdsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleAdsSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn today_in(tz: &str) -> NaiveDate {
    let tz: chrono_tz::Tz = tz.parse().unwrap_or_else(|_| {
        tracing::warn!(timezone = %tz, "unknown account time zone; using UTC days");
        chrono_tz::UTC
    });
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

impl GoogleAdsSource {
    /// A source for `config`.
    pub fn new(config: GoogleAdsConfig) -> Result<Self> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_retries = config.max_retries as u32;
        http.requests_per_second = config
            .requests_per_second
            .and_then(|n| NonZeroU32::new(n.min(u64::from(u32::MAX)) as u32));
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.error_message = google_message;
        http.classify = Some(classify);
        let oauth = OAuth2::new(
            config.token_url.clone(),
            config.client_id.clone(),
            config.client_secret.clone(),
            Grant::RefreshToken {
                refresh_token: config.refresh_token.clone(),
            },
        )?;
        Ok(Self {
            client: HttpClient::new(http)?,
            tokens: Arc::new(TokenCache::new(oauth)),
            config: Arc::new(config),
            accounts: Arc::new(tokio::sync::OnceCell::new()),
            account_retries: Arc::new(AtomicU64::new(0)),
        })
    }

    fn path(&self, customer: &str) -> String {
        format!(
            "/{}/customers/{customer}/googleAds:searchStream",
            self.config.api_version
        )
    }

    /// Sends `query` for `customer`.
    async fn search(&self, customer: &str, query: &str) -> Result<HttpResponse> {
        let url = self.client.url(&self.path(customer));
        let body = serde_json::json!({ "query": query });
        let developer = self.config.developer_token.as_deref();
        let login = self.config.login_customer_id.as_deref();
        self.tokens
            .send(&self.client, |c, t| {
                let mut r = c.post(&url).bearer_auth(&t.secret).json(&body);
                if let Some(d) = developer {
                    r = r.header("developer-token", d);
                }
                match login {
                    Some(l) => r.header("login-customer-id", l),
                    None => r,
                }
            })
            .await
    }

    /// Runs `query` and decodes its answer into `cols`' columns; an answer
    /// that does not decode or ends with an error is fetched again. Returns
    /// the batch and the retries it took.
    async fn query(
        &self,
        stream: &str,
        account: &Account,
        cols: &[Col],
        schema: &SchemaRef,
        query: &str,
        what: &str,
    ) -> Result<(RecordBatch, u64)> {
        let mut decoder = JsonPageDecoder::new(schema::batch_wire(cols), &[], &[])
            .map_err(|e| Error::Internal(format!("arrow-json decoder: {e}")))?;
        let mut retries = 0u64;
        for attempt in 1..=FETCH_ATTEMPTS {
            let resp = self.search(&account.id, query).await?;
            retries += u64::from(resp.attempts.saturating_sub(1));
            let problem = match decoder.decode(&resp.body) {
                Ok(page) => match schema::stream_error(&page.records) {
                    None => {
                        let batch = schema::to_stream(&page.records, cols, schema, account)
                            .map_err(|e| Error::data(stream, format!("{what}: {e}")))?;
                        return Ok((batch, retries));
                    }
                    Some(e) => format!("the stream ended with an error: {e}"),
                },
                Err(e) => e,
            };
            if attempt == FETCH_ATTEMPTS {
                return Err(Error::data(
                    stream,
                    format!("{what}: {problem} (after {FETCH_ATTEMPTS} fetches)"),
                ));
            }
            tracing::warn!(stream, endpoint = %self.path(&account.id), error = %problem, "answer did not decode; running the query again");
            retries += 1;
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
        }
        unreachable!("the last attempt returns")
    }

    /// Each account's id, currency and time zone, asked once per source.
    async fn accounts(&self) -> Result<Vec<Account>> {
        self.accounts
            .get_or_try_init(|| async {
                let cols = schema::CUSTOMER;
                let schema = schema::schema(cols);
                let q = format!(
                    "SELECT {} FROM customer",
                    schema::gaql_fields(cols).join(", ")
                );
                let mut out = Vec::new();
                for id in &self.config.customer_ids {
                    let probe = Account {
                        id: id.clone(),
                        currency: String::new(),
                        time_zone: "UTC".into(),
                    };
                    let what = format!("POST {} (FROM customer)", self.path(id));
                    let (b, retries) = self
                        .query("customer", &probe, cols, &schema, &q, &what)
                        .await?;
                    self.account_retries.fetch_add(retries, Ordering::Relaxed);
                    use arrow_array::cast::AsArray;
                    use arrow_array::Array;
                    let text = |c: usize| {
                        let a = b.column(c).as_string::<i32>();
                        (b.num_rows() > 0 && a.is_valid(0)).then(|| a.value(0).to_owned())
                    };
                    out.push(Account {
                        id: id.clone(),
                        currency: text(2).unwrap_or_default(),
                        time_zone: text(3).unwrap_or_else(|| "UTC".into()),
                    });
                }
                Ok::<_, Error>(out)
            })
            .await
            .cloned()
    }

    /// The latest "today" among the accounts (the furthest-east time zone).
    fn today(accounts: &[Account]) -> NaiveDate {
        accounts
            .iter()
            .map(|a| today_in(&a.time_zone))
            .max()
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    fn start_date(&self, today: NaiveDate) -> NaiveDate {
        self.config
            .start()
            .unwrap_or_else(|| today - chrono::Days::new(30))
    }

    /// The API version's number (`v26` → 26).
    fn version(&self) -> u32 {
        self.config
            .api_version
            .trim_start_matches('v')
            .parse()
            .unwrap_or(u32::MAX)
    }

    fn cols(&self, kind: Kind) -> &'static [Col] {
        kind.cols(self.version())
    }

    fn select(&self, kind: Kind) -> String {
        format!(
            "SELECT {} FROM {}",
            schema::gaql_fields(self.cols(kind)).join(", "),
            kind.resource()
        )
    }
}

fn committed_day(state: &StreamState) -> Option<NaiveDate> {
    match state.cursor.as_ref()? {
        CursorValue::Date(d) => date_from_days(*d),
        _ => None,
    }
}

#[async_trait]
impl Source for GoogleAdsSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let accounts = self.accounts().await?;
        let list: Vec<String> = accounts
            .iter()
            .map(|a| format!("{} ({}, {})", a.id, a.currency, a.time_zone))
            .collect();
        Ok(CheckOutcome {
            message: format!(
                "authenticated to {}; {} account(s) readable: {}",
                self.config.base_url,
                accounts.len(),
                list.join(", ")
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
            if incremental && matches!(kind, Kind::Campaigns | Kind::AdGroups) {
                return Err(Error::Config(format!(
                    "google_ads: {} can only be read in full_refresh mode",
                    kind.name()
                )));
            }
            let schema = configured.stream.schema.clone();
            let me = self.clone();
            readers.push(match kind {
                Kind::Metrics => me.metrics(schema, incremental, state),
                Kind::Clicks => me.clicks(schema, incremental, state),
                _ => me.entities(kind, schema, state),
            });
        }
        let concurrency = self.config.stream_concurrency as usize;
        Ok(futures::stream::iter(readers)
            .flatten_unordered(concurrency)
            .boxed())
    }

    fn restates_from(&self, stream: &str, committed: &StreamState) -> Option<CursorValue> {
        let back = match Kind::parse(stream).ok()? {
            Kind::Metrics => self.config.lookback_days as i32,
            Kind::Clicks => CLICK_RESTATE_DAYS as i32,
            _ => return None,
        };
        let CursorValue::Date(d) = committed.cursor.as_ref()? else {
            return None;
        };
        Some(CursorValue::Date(d.saturating_sub(back)))
    }
}

impl GoogleAdsSource {
    /// Campaigns or ad groups of every account, one query per account.
    fn entities(self, kind: Kind, schema: SchemaRef, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = kind.name();
            let accounts = self.accounts().await?;
            yield Message::Progress { stream: name.into(), pages: 0, retries: self.account_retries.swap(0, Ordering::Relaxed) };
            let mut q = self.select(kind);
            if !self.config.include_removed {
                q.push_str(&format!(" WHERE {}.status != 'REMOVED'", kind.resource()));
            }
            q.push_str(&format!(" ORDER BY {}.id", kind.resource()));
            // A crashed full refresh resumes at the first account it had not committed.
            let from = state.resume.as_ref()
                .and_then(|r| r.get("customer_id")).and_then(|v| v.as_str())
                .and_then(|id| accounts.iter().position(|a| a.id == id))
                .unwrap_or(0);
            for (i, account) in accounts.iter().enumerate().skip(from) {
                let what = format!("POST {} (FROM {})", self.path(&account.id), kind.resource());
                let (batch, retries) = self.query(name, account, self.cols(kind), &schema, &q, &what).await?;
                yield Message::Progress { stream: name.into(), pages: 1, retries };
                if batch.num_rows() > 0 {
                    yield Message::Batch { stream: name.into(), batch };
                }
                let resume = accounts.get(i + 1).map(|next| serde_json::json!({"customer_id": next.id}));
                yield Message::Checkpoint { stream: name.into(), resume };
            }
            if from >= accounts.len() {
                yield Message::Checkpoint { stream: name.into(), resume: None };
            }
        })
    }

    fn metrics(self, schema: SchemaRef, incremental: bool, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let kind = Kind::Metrics;
            let name = kind.name();
            let accounts = self.accounts().await?;
            yield Message::Progress { stream: name.into(), pages: 0, retries: self.account_retries.swap(0, Ordering::Relaxed) };
            let today = Self::today(&accounts);
            let start = self.start_date(today);
            let range = if incremental {
                ReportRange::incremental(committed_day(&state), self.config.lookback_days as u32, start, today)
            } else {
                let from = state.resume.as_ref().and_then(|r| r.get("from")).and_then(|v| v.as_str())
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                    .unwrap_or(start);
                ReportRange::incremental(None, 0, from, today)
            };
            let Some(range) = range else {
                yield Message::Checkpoint { stream: name.into(), resume: None };
                return;
            };
            tracing::info!(stream = name, from = %range.start, to = %range.end, "reading daily campaign metrics");
            let windows = range.windows(self.config.window_days as u32);
            let n_windows = windows.len();
            let select = self.select(kind);
            for (w, window) in windows.into_iter().enumerate() {
                let q = format!(
                    "{select} WHERE segments.date BETWEEN '{}' AND '{}' ORDER BY segments.date, campaign.id",
                    day(window.start), day(window.end)
                );
                for account in &accounts {
                    let what = format!("POST {} ({}..{})", self.path(&account.id), day(window.start), day(window.end));
                    let (batch, retries) = self.query(name, account, self.cols(kind), &schema, &q, &what).await?;
                    yield Message::Progress { stream: name.into(), pages: 1, retries };
                    if batch.num_rows() > 0 {
                        yield Message::Batch { stream: name.into(), batch };
                    }
                }
                // Every day up to the window's end is read for every account: commit.
                let resume = (!incremental && w + 1 < n_windows)
                    .then(|| serde_json::json!({"from": day(window.end + chrono::Days::new(1))}));
                yield Message::Checkpoint { stream: name.into(), resume };
            }
        })
    }

    fn clicks(self, schema: SchemaRef, incremental: bool, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let kind = Kind::Clicks;
            let name = kind.name();
            let accounts = self.accounts().await?;
            yield Message::Progress { stream: name.into(), pages: 0, retries: self.account_retries.swap(0, Ordering::Relaxed) };
            let today = Self::today(&accounts);
            // Google keeps click_view for 90 days: never ask for older ones.
            let oldest = accounts
                .iter()
                .map(|a| today_in(&a.time_zone))
                .min()
                .unwrap_or(today)
                - chrono::Days::new(CLICK_VIEW_MAX_DAYS - 1);
            let mut start = (today - chrono::Days::new(self.config.click_view_days - 1)).max(oldest);
            if let Some(s) = self.config.start() {
                start = start.max(s);
            }
            let range = if incremental {
                let committed = committed_day(&state);
                if let Some(c) = committed.filter(|c| *c < oldest) {
                    tracing::warn!(stream = name, committed = %c, oldest = %oldest, "clicks before {oldest} are past Google's 90 days and cannot be read");
                }
                ReportRange::incremental(committed.map(|c| c.max(oldest)), CLICK_RESTATE_DAYS, start, today)
            } else {
                let from = state.resume.as_ref().and_then(|r| r.get("from")).and_then(|v| v.as_str())
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                    .map(|d| d.max(oldest))
                    .unwrap_or(start);
                ReportRange::incremental(None, 0, from, today)
            };
            let Some(range) = range else {
                yield Message::Checkpoint { stream: name.into(), resume: None };
                return;
            };
            let select = self.select(kind);
            let days = range.windows(1);
            let n = days.len();
            let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
            for (i, d) in days.into_iter().enumerate() {
                let q = format!("{select} WHERE segments.date = '{}'", day(d.start));
                for account in &accounts {
                    if d.start > today_in(&account.time_zone) {
                        continue;
                    }
                    let what = format!("POST {} (click_view {})", self.path(&account.id), day(d.start));
                    let (batch, retries) = self.query(name, account, self.cols(kind), &schema, &q, &what).await?;
                    yield Message::Progress { stream: name.into(), pages: 1, retries };
                    *per_day.entry(account.id.clone()).or_default() += batch.num_rows();
                    if batch.num_rows() > 0 {
                        yield Message::Batch { stream: name.into(), batch };
                    }
                }
                let resume = (!incremental && i + 1 < n)
                    .then(|| serde_json::json!({"from": day(d.start + chrono::Days::new(1))}));
                yield Message::Checkpoint { stream: name.into(), resume };
            }
            tracing::debug!(stream = name, ?per_day, "clicks read");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(status: &str, code: u16, family: &str, value: &str, delay: Option<&str>) -> Vec<u8> {
        let mut e = serde_json::json!({"errorCode": {family: value}, "message": "m"});
        if let Some(d) = delay {
            e["details"] = serde_json::json!({"quotaErrorDetails": {"retryDelay": d}});
        }
        serde_json::json!([{"error": {"code": code, "message": "x", "status": status,
            "details": [{"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                "errors": [e], "requestId": "RQ1"}]}}])
        .to_string()
        .into_bytes()
    }

    #[test]
    fn errors_classify_by_google_status_and_codes() {
        let h = HeaderMap::new();
        let (v, wait) = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            &body(
                "RESOURCE_EXHAUSTED",
                429,
                "quotaError",
                "RESOURCE_EXHAUSTED",
                Some("30s"),
            ),
        )
        .unwrap();
        assert!(
            matches!(&v, EnvelopeError::RateLimit(m) if m.contains("RESOURCE_EXHAUSTED: x; quotaError RESOURCE_EXHAUSTED: m (request id RQ1)")),
            "{v:?}"
        );
        assert_eq!(wait, Some(Duration::from_secs(30)));
        let (v, _) = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            &body(
                "RESOURCE_EXHAUSTED",
                429,
                "quotaError",
                "RESOURCE_EXHAUSTED",
                Some("86400s"),
            ),
        )
        .unwrap();
        assert!(matches!(v, EnvelopeError::QuotaExhausted(m) if m.contains("daily")));
        let auth = |status, s: &str| {
            classify(
                status,
                &h,
                &body(s, 401, "authenticationError", "OAUTH_TOKEN_EXPIRED", None),
            )
            .unwrap()
            .0
        };
        assert!(matches!(
            auth(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            EnvelopeError::Auth(_)
        ));
        assert!(
            matches!(auth(StatusCode::FORBIDDEN, "PERMISSION_DENIED"), EnvelopeError::Auth(m) if m.contains("login_customer_id"))
        );
        assert!(matches!(
            auth(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            EnvelopeError::Transient(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &h, &body("INVALID_ARGUMENT", 400, "queryError", "UNRECOGNIZED_FIELD", None)).unwrap().0,
            EnvelopeError::Fatal(m) if m.contains("queryError UNRECOGNIZED_FIELD")
        ));
        // A bare object body is understood too; HTML is left to the status.
        assert!(google_status(
            br#"{"error":{"code":503,"message":"down","status":"UNAVAILABLE"}}"#
        )
        .is_some());
        assert!(classify(StatusCode::BAD_GATEWAY, &h, b"<html>502</html>").is_none());
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn a_stream_answer_decodes_into_typed_columns() {
        let cols = schema::CAMPAIGN_DAILY_METRICS;
        let s = schema::schema(cols);
        let mut dec = JsonPageDecoder::new(schema::batch_wire(cols), &[], &[]).unwrap();
        let body = br#"[{"results":[{"campaign":{"resourceName":"customers/1/campaigns/20000000001","id":"20000000001","name":"Brand","status":"ENABLED","newThing":{"a":1}},"segments":{"date":"2026-12-01"},"metrics":{"impressions":"1200","clicks":"31","costMicros":"12345678","conversions":2.5,"conversionsValue":106.25}}],"fieldMask":"campaign.id","requestId":"r"},{"fieldMask":"campaign.id","requestId":"r","queryResourceConsumption":"200"}]"#;
        let page = dec.decode(body).unwrap();
        assert_eq!(schema::stream_error(&page.records), None);
        let acct = Account {
            id: "1234567890".into(),
            currency: "USD".into(),
            time_zone: "America/New_York".into(),
        };
        let b = schema::to_stream(&page.records, cols, &s, &acct).unwrap();
        assert_eq!(b.num_rows(), 1);
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Decimal128Type, Float64Type, Int64Type};
        assert_eq!(b.column(1).as_string::<i32>().value(0), "20000000001");
        assert_eq!(b.column(5).as_primitive::<Int64Type>().value(0), 1200);
        assert_eq!(
            b.column(7).as_primitive::<Decimal128Type>().value(0),
            12_345_678
        );
        assert_eq!(b.column(8).as_primitive::<Float64Type>().value(0), 2.5);
        assert_eq!(
            b.column(9).as_primitive::<Decimal128Type>().value(0),
            106_250_000
        );
        assert_eq!(b.column(10).as_string::<i32>().value(0), "USD");
        // A cut answer and an error element are problems, not short answers.
        assert!(dec.decode(&body[..body.len() / 2]).is_err());
        let err =
            br#"[{"results":[]},{"error":{"code":500,"message":"boom","status":"INTERNAL"}}]"#;
        let page = dec.decode(err).unwrap();
        assert_eq!(
            schema::stream_error(&page.records).as_deref(),
            Some("INTERNAL: boom")
        );
    }

    #[test]
    fn restated_days_reach_back_the_lookback() {
        let cfg = serde_json::json!({"client_id": "i", "client_secret": "s", "refresh_token": "r",
            "developer_token": "d", "customer_ids": ["1234567890"], "lookback_days": 5});
        let s = GoogleAdsSource::new(GoogleAdsConfig::from_value(cfg).unwrap()).unwrap();
        let committed = StreamState {
            cursor: Some(CursorValue::Date(20_000)),
            ..Default::default()
        };
        assert_eq!(
            s.restates_from("campaign_daily_metrics", &committed),
            Some(CursorValue::Date(19_995))
        );
        assert_eq!(
            s.restates_from("click_views", &committed),
            Some(CursorValue::Date(19_999))
        );
        assert_eq!(s.restates_from("campaigns", &committed), None);
    }
}

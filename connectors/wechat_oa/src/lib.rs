//! WeChat Official Account (微信公众号) source: `followers`, and the daily
//! user analytics `user_summary` (new and cancelled followers per source)
//! and `user_cumulate` (followers at the end of each day).
//!
//! - **Auth.** `GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`
//!   gives an `access_token` valid for `expires_in` seconds (7,200). It is
//!   shared by every stream through a [`TokenCache`], fetched again a minute
//!   before it expires, and fetched again (once per refusal) when WeChat
//!   answers 40001 (invalid, or no longer the latest because another tool
//!   fetched one), 40014 or 42001 (expired). Every call carries it in the
//!   `access_token` query parameter; errors name only the path, never the query.
//! - **Errors** arrive with HTTP 200 as `{"errcode", "errmsg"}`; [`envelope`]
//!   classifies them: 45011 (minute quota) is retried with backoff, -1
//!   (system busy) and bodies cut short are retried, 45009 (daily quota
//!   spent) is a rate-limit error that is not retried (exit code 4), anything
//!   else fails with WeChat's code and words (which carry WeChat's `rid`).
//! - **Followers** (full refresh): `GET /cgi-bin/user/get` lists up to 10,000
//!   openids per call, continued with `next_openid` until an empty page;
//!   each page's openids are looked up 100 at a time with `POST
//!   /cgi-bin/user/info/batchget`. A checkpoint follows each listed page with
//!   its `next_openid` as `resume`, so a crashed read continues there.
//! - **Analytics** (`POST /datacube/getusersummary`, `getusercumulate`): a
//!   date cursor on `ref_date` in Asia/Shanghai days, windows of at most 7
//!   days ending yesterday (WeChat serves finished days only), a checkpoint
//!   after each window; incremental runs re-pull `lookback_days` before the
//!   committed day ([`Source::restates_from`]), so corrected figures land as
//!   newer versions of their keys.

mod config;
pub mod schema;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use braid_sdk::envelope::{fetch_decoded, PageError};
use braid_sdk::report_window::{committed_day, days_since_epoch};
use braid_sdk::{
    AccessToken, Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, EnvelopeError,
    Error, HttpClient, HttpConfig, HttpResponse, JsonPage, JsonPageDecoder, Message, MessageStream,
    PageTokenGuard, ReadRequest, ReportRange, Result, Source, StreamDescriptor, StreamState,
    SyncMode, TokenCache, TokenFetcher,
};
use chrono::{Days, NaiveDate};
use futures::StreamExt;
use serde::Deserialize;

pub use config::WeChatOaConfig;

/// Rows gathered into one batch.
const FLUSH_ROWS: usize = 4096;

/// WeChat's cap on the days of one datacube request.
pub const MAX_ANALYTICS_DAYS: u32 = 7;

const TOKEN_PATH: &str = "/cgi-bin/token";
const USER_GET: &str = "/cgi-bin/user/get";
const BATCHGET: &str = "/cgi-bin/user/info/batchget";

/// The WeChat Official Account connector (`connector: wechat_oa`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WeChatOaConnector;

impl Connector for WeChatOaConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "wechat_oa".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(WeChatOaSource::new(WeChatOaConfig::from_value(
            config,
        )?)?))
    }
}

#[derive(Debug, Default, Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

/// Classifies WeChat's `{errcode, errmsg}` envelope of a 2xx body, from
/// the bytes outside its lists (see [`braid_sdk::envelope::check`]); each
/// page's decode reads `errcode` again in the same pass as its rows.
pub fn envelope(body: &[u8]) -> Option<EnvelopeError> {
    braid_sdk::envelope::check(body, "errcode", classify)
}

/// WeChat's error codes by kind.
fn classify(e: &Envelope) -> Option<EnvelopeError> {
    let code = e.errcode.unwrap_or(0);
    if code == 0 {
        return None;
    }
    let m = format!(
        "errcode {code}: {}",
        e.errmsg.as_deref().unwrap_or("(no errmsg)")
    );
    Some(match code {
        45011 => EnvelopeError::RateLimit(m),
        45009 => EnvelopeError::QuotaExhausted(format!(
            "{m} (the account's daily quota of this API is spent; it refills at midnight Beijing time, or an admin can clear it with clear_quota)"
        )),
        40001 | 40014 | 41001 | 42001 => EnvelopeError::Auth(m),
        -1 => EnvelopeError::Transient(m),
        48001 => EnvelopeError::Fatal(format!(
            "{m} (the official account has no permission for this API; unverified subscription accounts cannot list followers)"
        )),
        _ => EnvelopeError::Fatal(m),
    })
}

/// The vendor's words from a non-2xx body (a gateway error with the envelope).
fn error_message(body: &[u8]) -> Option<String> {
    let e: Envelope = serde_json::from_slice(body).ok()?;
    Some(format!(
        "errcode {}: {}",
        e.errcode?,
        e.errmsg.as_deref().unwrap_or("")
    ))
}

/// Fetches access tokens with the AppID and AppSecret.
struct Fetcher {
    http: HttpClient,
    /// Fetches again of a token response cut short.
    retries: u32,
    appid: String,
    secret: String,
    /// A configured token, handed out once before fetching.
    initial: Mutex<Option<String>>,
}

#[async_trait]
impl TokenFetcher for Fetcher {
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
        let url = self.http.url(TOKEN_PATH);
        let query = [
            ("grant_type", "client_credential"),
            ("appid", self.appid.as_str()),
            ("secret", self.secret.as_str()),
        ];
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        // A token response cut short is fetched again, as any page.
        let t: Token = fetch_decoded(
            &self.http,
            TOKEN_PATH,
            self.retries,
            || self.http.send(|c| c.get(&url).query(&query)),
            |resp| {
                braid_sdk::envelope::json(&resp.body, |_| Error::Auth {
                    endpoint: TOKEN_PATH.into(),
                    message: "the token response has no access_token".into(),
                })
            },
        )
        .await
        .map_err(|e| match e {
            Error::Config(message) | Error::Auth { message, .. } => Error::Auth {
                endpoint: TOKEN_PATH.into(),
                message: format!("fetching the access token with the appid and secret: {message}"),
            },
            other => other,
        })?
        .value;
        tracing::debug!(expires_in = ?t.expires_in, "fetched a WeChat access token");
        Ok(AccessToken {
            secret: t.access_token,
            expires_at: t
                .expires_in
                .map(|s| Instant::now() + Duration::from_secs(s)),
            extra: Default::default(),
        })
    }
}

enum Auth {
    Static(String),
    Fetching(TokenCache),
}

/// The streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Followers,
    UserSummary,
    UserCumulate,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Followers, Kind::UserSummary, Kind::UserCumulate];

    fn name(self) -> &'static str {
        match self {
            Kind::Followers => "followers",
            Kind::UserSummary => "user_summary",
            Kind::UserCumulate => "user_cumulate",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                Error::Config(format!(
                "unknown WeChat stream {s:?}; expected followers, user_summary or user_cumulate"
            ))
            })
    }

    /// The datacube path of an analytics stream.
    fn datacube(self) -> Option<&'static str> {
        match self {
            Kind::Followers => None,
            Kind::UserSummary => Some("/datacube/getusersummary"),
            Kind::UserCumulate => Some("/datacube/getusercumulate"),
        }
    }

    fn schema(self) -> SchemaRef {
        match self {
            Kind::Followers => schema::followers(),
            Kind::UserSummary => schema::user_summary(),
            Kind::UserCumulate => schema::user_cumulate(),
        }
    }

    fn descriptor(self) -> StreamDescriptor {
        let (primary_key, cursor): (Vec<&str>, Option<&str>) = match self {
            Kind::Followers => (vec!["openid"], None),
            Kind::UserSummary => (vec!["ref_date", "user_source"], Some("ref_date")),
            Kind::UserCumulate => (vec!["ref_date"], Some("ref_date")),
        };
        StreamDescriptor {
            name: self.name().into(),
            schema: self.schema(),
            primary_key: primary_key.into_iter().map(String::from).collect(),
            sync_modes: if cursor.is_some() {
                vec![SyncMode::FullRefresh, SyncMode::Incremental]
            } else {
                vec![SyncMode::FullRefresh]
            },
            cursor_field: cursor.map(String::from),
        }
    }
}

/// A configured WeChat Official Account source.
#[derive(Clone)]
pub struct WeChatOaSource {
    config: Arc<WeChatOaConfig>,
    client: HttpClient,
    auth: Arc<Auth>,
}

impl std::fmt::Debug for WeChatOaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeChatOaSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Yesterday in Asia/Shanghai: the last day WeChat's datacube serves.
pub fn yesterday_shanghai() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive() - chrono::Duration::days(1)
}

/// A `user/get` page.
#[derive(Deserialize)]
struct UserList {
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    data: Option<OpenIds>,
    #[serde(default)]
    next_openid: Option<String>,
    /// The envelope, read in the same pass.
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

#[derive(Deserialize)]
struct OpenIds {
    #[serde(default)]
    openid: Vec<String>,
}

/// A decoder of the rows at `records`, reading `errcode` and `errmsg`
/// (values 0 and 1) in the same pass.
fn decoder(schema: &SchemaRef, records: &str) -> Result<JsonPageDecoder> {
    let values = [vec!["errcode".to_owned()], vec!["errmsg".to_owned()]];
    JsonPageDecoder::new(schema::wire(schema), &[records.to_owned()], &values)
        .map_err(|e| Error::Internal(format!("arrow-json decoder: {e}")))
}

/// One page's rows and `errcode`, from one pass of `dec`.
fn decode_page(
    dec: &mut JsonPageDecoder,
    resp: &HttpResponse,
    stream: &str,
    what: &str,
) -> Result<JsonPage, PageError> {
    let p = dec
        .decode_page(&resp.body)
        .map_err(|e| PageError::from_json(e, |m| Error::data(stream, format!("{what}: {m}"))))?;
    let errcode = match p.values.first().cloned().flatten() {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            PageError::Envelope(EnvelopeError::Transient(format!(
                "the response is not a JSON envelope: `errcode` is {c:?}, not an integer"
            )))
        })?),
    };
    let e = Envelope {
        errcode,
        errmsg: p.values.get(1).cloned().flatten(),
    };
    match classify(&e) {
        Some(verdict) => Err(PageError::Envelope(verdict)),
        None => Ok(p),
    }
}

impl WeChatOaSource {
    /// A source for `config`.
    pub fn new(config: WeChatOaConfig) -> Result<Self> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_retries = config.max_retries as u32;
        http.requests_per_second = config
            .requests_per_second
            .and_then(|n| NonZeroU32::new(n.min(u32::MAX as u64) as u32));
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.error_message = error_message;
        http.envelope = Some(envelope);
        let client = HttpClient::new(http.clone())?;
        let auth = match (&config.appid, &config.secret) {
            (Some(appid), Some(secret)) => {
                let mut token_http = http;
                token_http.requests_per_second = None;
                token_http.max_retries = config.max_retries.min(4) as u32;
                Auth::Fetching(TokenCache::new(Fetcher {
                    retries: token_http.max_retries,
                    http: HttpClient::new(token_http)?,
                    appid: appid.clone(),
                    secret: secret.clone(),
                    initial: Mutex::new(config.access_token.clone()),
                }))
            }
            _ => Auth::Static(config.access_token.clone().unwrap_or_default()),
        };
        Ok(Self {
            client,
            auth: Arc::new(auth),
            config: Arc::new(config),
        })
    }

    /// `GET path?query` or `POST path` with a JSON body, with the access
    /// token in the query string (fetched again once when refused).
    async fn call(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<HttpResponse> {
        let url = self.client.url(path);
        let build = |c: &reqwest::Client, token: &str| {
            let r = match body {
                Some(b) => c.post(&url).json(b),
                None => c.get(&url),
            };
            r.query(&[("access_token", token)]).query(query)
        };
        match self.auth.as_ref() {
            Auth::Static(token) => self.client.send(|c| build(c, token)).await,
            Auth::Fetching(cache) => cache.send(&self.client, |c, t| build(c, &t.secret)).await,
        }
    }

    fn first_start(&self) -> NaiveDate {
        self.config.start().unwrap_or_else(|| {
            yesterday_shanghai()
                .checked_sub_days(Days::new(29))
                .unwrap_or(NaiveDate::MIN)
        })
    }

    /// The analytics days an incremental read covers, given the committed cursor.
    fn incremental_range(&self, committed: Option<NaiveDate>) -> Option<ReportRange> {
        let floor = match committed {
            Some(_) => self.config.start().unwrap_or(NaiveDate::MIN),
            None => self.first_start(),
        };
        ReportRange::incremental(
            committed,
            self.config.lookback_days as u32,
            floor,
            yesterday_shanghai(),
        )
    }
}

#[async_trait]
impl Source for WeChatOaSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let y = yesterday_shanghai().to_string();
        let body = serde_json::json!({"begin_date": y, "end_date": y});
        let path = "/datacube/getusercumulate";
        // One small body per check: any JSON shape counts as it did.
        let v: serde_json::Value = fetch_decoded(
            &self.client,
            path,
            self.config.max_retries as u32,
            || self.call(path, &[], Some(&body)),
            |resp| braid_sdk::envelope::json(&resp.body, |m| Error::data("user_cumulate", m)),
        )
        .await?
        .value;
        let followers = v["list"][0]["cumulate_user"].as_i64();
        let who = self
            .config
            .appid
            .as_deref()
            .map(|a| format!("official account {a}"))
            .unwrap_or_else(|| "the official account".into());
        Ok(CheckOutcome {
            message: match followers {
                Some(n) => format!(
                    "authenticated to {} as {who}; {n} followers at the end of {y}",
                    self.config.base_url
                ),
                None => format!("authenticated to {} as {who}", self.config.base_url),
            },
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
            let reader = match kind.datacube() {
                Some(path) => self
                    .clone()
                    .analytics(kind, path, schema, incremental, state),
                None if incremental => {
                    return Err(Error::Config(
                        "wechat_oa: followers can only be read in full_refresh mode (WeChat lists followers without a modified-since filter)".into(),
                    ))
                }
                None => self.clone().followers(schema, state),
            };
            readers.push(reader);
        }
        let concurrency = self.config.stream_concurrency as usize;
        Ok(futures::stream::iter(readers)
            .flatten_unordered(concurrency)
            .boxed())
    }

    fn restates_from(&self, stream: &str, committed: &StreamState) -> Option<CursorValue> {
        Kind::parse(stream).ok()?.datacube()?;
        let c = committed_day(committed)?;
        let range = self.incremental_range(Some(c))?;
        Some(CursorValue::Date(days_since_epoch(range.start)))
    }
}

impl WeChatOaSource {
    /// Followers, one `user/get` page of openids at a time, looked up in batches.
    fn followers(self, schema: SchemaRef, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = Kind::Followers.name();
            let mut next = state
                .resume
                .as_ref()
                .and_then(|r| r.get("next_openid"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            if !next.is_empty() {
                tracing::info!(stream = name, "resuming the follower list after a committed page");
            }
            let mut dec = decoder(&schema, "user_info_list")?;
            let retries = self.config.max_retries as u32;
            let mut guard = PageTokenGuard::new(name);
            let lang = self.config.lang.clone();
            let batch = self.config.batch_size as usize;
            let mut listed = 0u64;
            let mut total = None;
            loop {
                let query = [("next_openid", next.clone())];
                let f = fetch_decoded(&self.client, USER_GET, retries, || self.call(USER_GET, &query, None), |resp| {
                    let page: UserList = braid_sdk::envelope::json(&resp.body, |m| Error::data(name, format!("GET {USER_GET}: {m}")))?;
                    match classify(&Envelope { errcode: page.errcode, errmsg: page.errmsg.clone() }) {
                        Some(verdict) => Err(PageError::Envelope(verdict)),
                        None => Ok(page),
                    }
                }).await?;
                let page = f.value;
                yield Message::Progress { stream: name.into(), pages: 1, retries: u64::from(f.retries) };
                total = page.total.or(total);
                let ids = page.data.map(|d| d.openid).unwrap_or_default();
                if ids.len() as u64 != page.count {
                    Err(Error::data(name, format!("GET {USER_GET}: count is {} but {} openids came", page.count, ids.len())))?;
                }
                if ids.is_empty() {
                    break;
                }
                listed += ids.len() as u64;
                let mut pending: Vec<RecordBatch> = Vec::new();
                let mut buffered = 0usize;
                for chunk in ids.chunks(batch) {
                    let users: Vec<serde_json::Value> = chunk
                        .iter()
                        .map(|o| serde_json::json!({"openid": o, "lang": lang}))
                        .collect();
                    let body = serde_json::json!({"user_list": users});
                    let what = format!("POST {BATCHGET}");
                    let f = fetch_decoded(&self.client, BATCHGET, retries, || self.call(BATCHGET, &[], Some(&body)), |resp| decode_page(&mut dec, resp, name, &what)).await?;
                    let b = schema::to_stream(f.value.records, &schema).map_err(|e| Error::data(name, format!("{what}: {e}")))?;
                    yield Message::Progress { stream: name.into(), pages: 1, retries: u64::from(f.retries) };
                    if b.num_rows() != chunk.len() {
                        Err(Error::data(name, format!("POST {BATCHGET}: asked for {} followers, got {}", chunk.len(), b.num_rows())))?;
                    }
                    buffered += b.num_rows();
                    pending.push(b);
                    if buffered >= FLUSH_ROWS {
                        if let Some(b) = braid_sdk::take_batch(&schema, &mut pending)? {
                            buffered = 0;
                            yield Message::Batch { stream: name.into(), batch: b };
                        }
                    }
                }
                if let Some(b) = braid_sdk::take_batch(&schema, &mut pending)? {
                    yield Message::Batch { stream: name.into(), batch: b };
                }
                let after = page.next_openid.unwrap_or_default();
                if after.is_empty() {
                    break;
                }
                guard.check(&after)?;
                // Every follower up to `after` has landed: a crashed read continues there.
                yield Message::Checkpoint { stream: name.into(), resume: Some(serde_json::json!({"next_openid": after})) };
                next = after;
            }
            if let Some(t) = total {
                if state.resume.is_none() && listed != t {
                    tracing::warn!(stream = name, listed, total = t, "the follower count changed while listing");
                }
            }
            yield Message::Checkpoint { stream: name.into(), resume: None };
        })
    }

    /// A datacube analytics stream, window by window.
    fn analytics(
        self,
        kind: Kind,
        path: &'static str,
        schema: SchemaRef,
        incremental: bool,
        state: StreamState,
    ) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = kind.name();
            let yesterday = yesterday_shanghai();
            let range = if incremental {
                self.incremental_range(committed_day(&state))
            } else {
                let resumed = state.resume.as_ref()
                    .and_then(|r| r.get("next_start"))
                    .and_then(|v| v.as_str())
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
                let start = resumed.unwrap_or_else(|| self.first_start());
                (start <= yesterday).then_some(ReportRange { start, end: yesterday })
            };
            let windows = range.map(|r| r.windows(MAX_ANALYTICS_DAYS)).unwrap_or_default();
            tracing::debug!(stream = name, windows = windows.len(), ?range, "analytics range");
            let mut dec = decoder(&schema, "list")?;
            let retries = self.config.max_retries as u32;
            for (w, window) in windows.iter().enumerate() {
                let body = serde_json::json!({
                    "begin_date": window.start.to_string(),
                    "end_date": window.end.to_string(),
                });
                let what = format!("POST {path} ({}..{})", window.start, window.end);
                let f = fetch_decoded(&self.client, path, retries, || self.call(path, &[], Some(&body)), |resp| decode_page(&mut dec, resp, name, &what)).await?;
                let b = schema::to_stream(f.value.records, &schema).map_err(|e| Error::data(name, format!("{what}: {e}")))?;
                yield Message::Progress { stream: name.into(), pages: 1, retries: u64::from(f.retries) };
                if b.num_rows() > 0 {
                    yield Message::Batch { stream: name.into(), batch: b };
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    #[test]
    fn errcodes_are_classified_with_wechat_words() {
        assert_eq!(envelope(br#"{"list":[]}"#), None);
        assert_eq!(envelope(br#"{"errcode":0,"errmsg":"ok"}"#), None);
        assert!(matches!(
            envelope(br#"{"errcode":42001,"errmsg":"access_token expired rid: 1"}"#),
            Some(EnvelopeError::Auth(m)) if m == "errcode 42001: access_token expired rid: 1"
        ));
        assert!(matches!(
            envelope(br#"{"errcode":40001,"errmsg":"invalid credential"}"#),
            Some(EnvelopeError::Auth(_))
        ));
        assert!(matches!(
            envelope(br#"{"errcode":45011,"errmsg":"minute"}"#),
            Some(EnvelopeError::RateLimit(_))
        ));
        assert!(
            matches!(envelope(br#"{"errcode":45009,"errmsg":"daily"}"#), Some(EnvelopeError::QuotaExhausted(m)) if m.contains("clear_quota"))
        );
        assert!(matches!(
            envelope(br#"{"errcode":-1,"errmsg":"system error"}"#),
            Some(EnvelopeError::Transient(_))
        ));
        assert!(matches!(
            envelope(br#"{"errcode":61501,"errmsg":"date range error"}"#),
            Some(EnvelopeError::Fatal(_))
        ));
        assert!(matches!(
            envelope(br#"{"user_info_list":[{"openid":"o"#),
            Some(EnvelopeError::Transient(m)) if m.contains("cut short")
        ));
    }

    #[test]
    fn batchget_records_decode_into_typed_columns() {
        let schema = schema::followers();
        let mut dec = decoder(&schema, "user_info_list").unwrap();
        let body = r#"{"user_info_list":[
            {"subscribe":1,"openid":"oLVPa","language":"zh_CN","subscribe_time":1704067200,"unionid":"o6_bm1","remark":"门店会员","groupid":0,"tagid_list":[2,101],"subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":7,"qr_scene_str":"store_3","brand_new":"x"},
            {"subscribe":0,"openid":"oLVPb","tagid_list":[]}
        ]}"#;
        let p = dec.decode(body.as_bytes()).unwrap();
        let b = schema::to_stream(p.records, &schema).unwrap();
        assert_eq!(b.num_rows(), 2);
        let sub = b.column(2).as_boolean();
        assert!(sub.value(0) && !sub.value(1));
        let t = b
            .column(4)
            .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        assert_eq!(t.value(0), 1_704_067_200_000_000);
        assert!(t.is_null(1));
        assert_eq!(b.column(1).as_string::<i32>().value(0), "o6_bm1");
        assert!(b.column(1).is_null(1));
        let tags = b.column(7).as_list::<i32>();
        assert_eq!(tags.value(0).len(), 2);
        // A record without its openid is refused, not landed.
        let p = dec
            .decode(br#"{"user_info_list":[{"subscribe":1}]}"#)
            .unwrap();
        assert!(schema::to_stream(p.records, &schema)
            .unwrap_err()
            .contains("openid"));
    }

    #[test]
    fn pages_read_their_errcode_in_the_rows_pass() {
        let schema = schema::followers();
        let mut dec = decoder(&schema, "user_info_list").unwrap();
        let mut run = |body: &str| {
            let resp = HttpResponse {
                status: Default::default(),
                headers: Default::default(),
                body: body.as_bytes().to_vec().into(),
                attempts: 1,
            };
            decode_page(&mut dec, &resp, "followers", "POST /b")
        };
        let list = r#""user_info_list":[{"subscribe":1,"openid":"oA","remark":"errcode 45011"},{"subscribe":1,"openid":"oB"}]"#;
        // WeChat's success carries no errcode; `errcode: 0` passes too.
        for body in [
            format!("{{{list}}}"),
            format!(r#"{{"errcode":0,"errmsg":"ok",{list}}}"#),
        ] {
            assert_eq!(envelope(body.as_bytes()), None);
            assert_eq!(run(&body).unwrap().records.num_rows(), 2);
        }
        // An errcode on a page that also carries rows, before or after them.
        for body in [
            format!(r#"{{"errcode":45011,"errmsg":"api minute-quota reach limit",{list}}}"#),
            format!(r#"{{{list},"errcode":45011,"errmsg":"api minute-quota reach limit"}}"#),
        ] {
            let want =
                EnvelopeError::RateLimit("errcode 45011: api minute-quota reach limit".into());
            assert_eq!(envelope(body.as_bytes()), Some(want.clone()), "{body}");
            assert!(matches!(run(&body), Err(PageError::Envelope(e)) if e == want));
        }
        let body =
            format!(r#"{{{list},"errcode":42001,"errmsg":"access_token expired","x":{{}}}}"#);
        assert_eq!(
            envelope(body.as_bytes()),
            None,
            "between two lists: the rows' pass reads it"
        );
        assert!(matches!(
            run(&body),
            Err(PageError::Envelope(EnvelopeError::Auth(_)))
        ));
        // Cut short anywhere: transient in the check or in the rows' pass.
        let body = format!("{{{list}}}");
        for cut in 1..body.len() {
            let Some(cut_body) = body.get(..cut) else {
                continue;
            };
            match envelope(cut_body.as_bytes()) {
                Some(EnvelopeError::Transient(_)) => {}
                None => assert!(
                    matches!(
                        run(cut_body),
                        Err(PageError::Envelope(EnvelopeError::Transient(_)))
                    ),
                    "{cut_body}"
                ),
                other => panic!("{cut_body}: {other:?}"),
            }
        }
        // A user/get page: its errcode is read by the same serde pass as the openids.
        let page: UserList = braid_sdk::envelope::json(
            br#"{"total":2,"count":2,"data":{"openid":["oA","oB"]},"next_openid":"oB","errcode":-1,"errmsg":"system error"}"#,
            |m| Error::data("followers", m),
        )
        .unwrap();
        assert_eq!((page.count, page.errcode), (2, Some(-1)));
        assert!(matches!(
            braid_sdk::envelope::json::<UserList>(br#"{"total":2,"count":2,"data":{"openid":["oA""#, |m| Error::data("followers", m)),
            Err(PageError::Envelope(EnvelopeError::Transient(m))) if m.contains("cut short")
        ));
    }
}

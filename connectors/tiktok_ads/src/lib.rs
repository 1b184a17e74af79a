//! TikTok Ads source (API for Business, Marketing API v1.3): `advertisers`,
//! `campaigns`, `adgroups`, `ads` and the daily reports
//! `campaign_daily_report`, `adgroup_daily_report` and `ad_daily_report`.
//!
//! - Every request carries the long-lived token in the `Access-Token`
//!   header. TikTok answers errors with HTTP 200 and `{"code": n, "message":
//!   …, "request_id": …}`; [`envelope`] classifies them: 40100 (the app's QPS
//!   limit) and 40133 are retried with backoff, 40104/40105 (no token, a
//!   wrong or revoked token) and 40001 (no permission on the advertiser) are
//!   auth errors, 5xxxx codes are retried, anything else fails with TikTok's
//!   words and request id. A 2xx body that is not complete JSON (cut short)
//!   is retried.
//! - Lists page with `page`/`page_size` until `page_info.total_page`; a full
//!   refresh checkpoints (advertiser, next page) so a crashed run resumes.
//! - Reports use `/open_api/v1.3/report/integrated/get/` (`report_type=BASIC`,
//!   `service_type=AUCTION`, `data_level=AUCTION_<LEVEL>`, dimensions
//!   `[<level>_id, stat_time_day]`, metrics `spend`, `impressions`, `clicks`,
//!   `conversion` and the name and parent ids as attribute metrics) in
//!   windows of at most 30 days, on a date cursor in the accounts' own days.
//!   The accounts' currency and time zone come from `advertiser/info` and
//!   land on every report row. Each incremental run re-pulls `lookback_days`
//!   before the committed day ([`Source::restates_from`]), so restated figures
//!   land as newer versions of their (advertiser, entity, day) keys; it
//!   checkpoints after each window.

mod config;
pub mod schema;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use async_trait::async_trait;
use braid_sdk::envelope::{fetch_decoded, CodeMessage, PageError};
use braid_sdk::report_window::{committed_day, days_since_epoch};
use braid_sdk::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, EnvelopeError, Error, HttpClient,
    HttpConfig, HttpResponse, JsonPage, JsonPageDecoder, Message, MessageStream, ReadRequest,
    ReportRange, Result, Source, StreamDescriptor, StreamState, SyncMode,
};
use chrono::{Days, NaiveDate};
use futures::StreamExt;
use serde::Deserialize;

pub use config::TikTokAdsConfig;

/// Rows gathered from consecutive pages into one batch.
const FLUSH_ROWS: usize = 4096;

/// TikTok's cap on the days of one report request by `stat_time_day`.
pub const MAX_REPORT_DAYS: u32 = 30;

const ADVERTISER_INFO: &str = "/open_api/v1.3/advertiser/info/";
const REPORT: &str = "/open_api/v1.3/report/integrated/get/";

/// The TikTok Ads connector (`connector: tiktok_ads`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TikTokAdsConnector;

impl Connector for TikTokAdsConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "tiktok_ads".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(TikTokAdsSource::new(
            TikTokAdsConfig::from_value(config)?,
        )?))
    }
}

/// Classifies TikTok's `{code, message, request_id}` envelope of a 2xx
/// body, from the bytes outside its `data` (see [`braid_sdk::envelope::check`]);
/// each page's decode reads the code again in the same pass as its rows.
pub fn envelope(body: &[u8]) -> Option<EnvelopeError> {
    braid_sdk::envelope::check(body, "code", classify)
}

/// TikTok's error codes by kind.
fn classify(e: &CodeMessage) -> Option<EnvelopeError> {
    let code = e.code();
    if code == 0 {
        return None;
    }
    let m = e.describe();
    Some(match code {
        40100 | 40133 => EnvelopeError::RateLimit(m),
        40001 | 40102 | 40104 | 40105 => EnvelopeError::Auth(m),
        50000..=59999 => EnvelopeError::Transient(m),
        _ => EnvelopeError::Fatal(m),
    })
}

/// The streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Advertisers,
    Campaigns,
    Adgroups,
    Ads,
    CampaignReport,
    AdgroupReport,
    AdReport,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Advertisers,
        Kind::Campaigns,
        Kind::Adgroups,
        Kind::Ads,
        Kind::CampaignReport,
        Kind::AdgroupReport,
        Kind::AdReport,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Advertisers => "advertisers",
            Kind::Campaigns => "campaigns",
            Kind::Adgroups => "adgroups",
            Kind::Ads => "ads",
            Kind::CampaignReport => "campaign_daily_report",
            Kind::AdgroupReport => "adgroup_daily_report",
            Kind::AdReport => "ad_daily_report",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::Config(format!(
                "unknown TikTok Ads stream {s:?}; expected advertisers, campaigns, adgroups, ads, campaign_daily_report, adgroup_daily_report or ad_daily_report"
            ))
        })
    }

    /// `campaign`, `adgroup` or `ad` for the report streams.
    fn level(self) -> Option<&'static str> {
        match self {
            Kind::CampaignReport => Some("campaign"),
            Kind::AdgroupReport => Some("adgroup"),
            Kind::AdReport => Some("ad"),
            _ => None,
        }
    }

    /// The list endpoint and the id of its items.
    fn list(self) -> Option<(&'static str, &'static str)> {
        match self {
            Kind::Campaigns => Some(("/open_api/v1.3/campaign/get/", "campaign_id")),
            Kind::Adgroups => Some(("/open_api/v1.3/adgroup/get/", "adgroup_id")),
            Kind::Ads => Some(("/open_api/v1.3/ad/get/", "ad_id")),
            _ => None,
        }
    }

    fn schema(self) -> SchemaRef {
        match self {
            Kind::Advertisers => schema::advertisers(),
            Kind::Campaigns => schema::campaigns(),
            Kind::Adgroups => schema::adgroups(),
            Kind::Ads => schema::ads(),
            Kind::CampaignReport => schema::report("campaign"),
            Kind::AdgroupReport => schema::report("adgroup"),
            Kind::AdReport => schema::report("ad"),
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
                vec![match self.list() {
                    Some((_, id)) => id.into(),
                    None => "advertiser_id".into(),
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

/// An advertiser account's currency and time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Advertiser id.
    pub id: String,
    /// ISO 4217 currency of its figures.
    pub currency: String,
    /// IANA zone its report days are in.
    pub timezone: String,
}

impl Account {
    /// Today in the account's zone (UTC when TikTok names a zone chrono-tz does not know).
    pub fn today(&self) -> NaiveDate {
        let tz: chrono_tz::Tz = self.timezone.parse().unwrap_or_else(|_| {
            tracing::warn!(timezone = %self.timezone, "unknown TikTok account time zone; using UTC days");
            chrono_tz::UTC
        });
        chrono::Utc::now().with_timezone(&tz).date_naive()
    }
}

/// A configured TikTok Ads source.
#[derive(Clone)]
pub struct TikTokAdsSource {
    config: Arc<TikTokAdsConfig>,
    client: HttpClient,
    accounts: Arc<tokio::sync::OnceCell<Vec<Account>>>,
}

impl std::fmt::Debug for TikTokAdsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TikTokAdsSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The latest calendar day anywhere (UTC+14): no account's today is later.
fn latest_today() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(14)).date_naive()
}

impl TikTokAdsSource {
    /// A source for `config`.
    pub fn new(config: TikTokAdsConfig) -> Result<Self> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_retries = config.max_retries as u32;
        http.requests_per_second = config
            .requests_per_second
            .and_then(|n| NonZeroU32::new(n.min(u32::MAX as u64) as u32));
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.error_message = CodeMessage::vendor_message;
        http.envelope = Some(envelope);
        Ok(Self {
            client: HttpClient::new(http)?,
            config: Arc::new(config),
            accounts: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// `GET path?query` with the access token.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<HttpResponse> {
        let url = self.client.url(path);
        let token = self.config.access_token.as_deref().unwrap_or_default();
        self.client
            .send(|c| c.get(&url).query(query).header("Access-Token", token))
            .await
    }

    /// The configured accounts' currency and zone, read once per source.
    async fn accounts(&self) -> Result<&[Account]> {
        let accounts = self
            .accounts
            .get_or_try_init(|| async {
                let query = [(
                    "advertiser_ids",
                    id_array(self.config.advertiser_ids.iter()),
                )];
                #[derive(Deserialize)]
                struct Item {
                    advertiser_id: serde_json::Value,
                    #[serde(default)]
                    currency: Option<String>,
                    #[serde(default)]
                    timezone: Option<String>,
                }
                #[derive(Deserialize)]
                struct Data {
                    #[serde(default)]
                    list: Vec<Item>,
                }
                #[derive(Deserialize)]
                struct Body {
                    data: Data,
                }
                let body: Body = fetch_decoded(
                    &self.client,
                    ADVERTISER_INFO,
                    self.config.max_retries as u32,
                    || self.get(ADVERTISER_INFO, &query),
                    |resp| {
                        braid_sdk::envelope::json(&resp.body, |m| {
                            Error::data("advertisers", format!("GET {ADVERTISER_INFO}: {m}"))
                        })
                    },
                )
                .await?
                .value;
                let by_id: BTreeMap<String, Item> = body
                    .data
                    .list
                    .into_iter()
                    .map(|i| {
                        let id = match &i.advertiser_id {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (id, i)
                    })
                    .collect();
                self.config
                    .advertiser_ids
                    .iter()
                    .map(|id| {
                        let item = by_id.get(id).ok_or_else(|| Error::Auth {
                            endpoint: ADVERTISER_INFO.into(),
                            message: format!(
                                "TikTok does not return advertiser {id} for this access token"
                            ),
                        })?;
                        Ok(Account {
                            id: id.clone(),
                            currency: item.currency.clone().unwrap_or_default(),
                            timezone: item.timezone.clone().unwrap_or_else(|| "UTC".into()),
                        })
                    })
                    .collect::<Result<Vec<Account>>>()
            })
            .await?;
        Ok(accounts.as_slice())
    }

    fn first_start(&self, today: NaiveDate) -> NaiveDate {
        self.config.start().unwrap_or_else(|| {
            today
                .checked_sub_days(Days::new(u64::from(MAX_REPORT_DAYS - 1)))
                .unwrap_or(NaiveDate::MIN)
        })
    }

    /// The report days an incremental read covers, given the committed cursor.
    fn incremental_range(
        &self,
        committed: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Option<ReportRange> {
        let floor = match committed {
            Some(_) => self.config.start().unwrap_or(NaiveDate::MIN),
            None => self.first_start(today),
        };
        ReportRange::incremental(committed, self.config.lookback_days as u32, floor, today)
    }
}

#[async_trait]
impl Source for TikTokAdsSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let accounts = self.accounts().await?;
        let described: Vec<String> = accounts
            .iter()
            .map(|a| format!("{} ({}, {})", a.id, a.currency, a.timezone))
            .collect();
        Ok(CheckOutcome {
            message: format!(
                "authenticated to {}; {} advertiser account(s) readable: {}",
                self.config.base_url,
                accounts.len(),
                described.join(", ")
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
                        "tiktok_ads: {} can only be read in full_refresh mode",
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
        let range = self.incremental_range(Some(c), latest_today())?;
        Some(CursorValue::Date(days_since_epoch(range.start)))
    }
}

/// `["1","2"]` as TikTok wants id lists in the query string.
fn id_array<'a>(ids: impl Iterator<Item = &'a String>) -> String {
    serde_json::to_string(&ids.collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

/// One page's rows and envelope, from one pass of `dec`.
fn decode_page(
    dec: &mut JsonPageDecoder,
    resp: &HttpResponse,
    stream: &str,
    what: &str,
) -> Result<JsonPage, PageError> {
    CodeMessage::page(dec, &resp.body, classify, |m| {
        Error::data(stream, format!("{what}: {m}"))
    })
}

impl TikTokAdsSource {
    fn advertisers(self, schema: SchemaRef) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = Kind::Advertisers.name();
            let wire = schema::wire(&schema);
            let mut dec = CodeMessage::page_decoder(wire, &["data", "list"], false)?;
            let retries = self.config.max_retries as u32;
            let fields: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let fields = serde_json::to_string(&fields).unwrap_or_default();
            let mut pending = Vec::new();
            for chunk in self.config.advertiser_ids.chunks(100) {
                let query = [("advertiser_ids", id_array(chunk.iter())), ("fields", fields.clone())];
                let what = format!("GET {ADVERTISER_INFO}");
                let f = fetch_decoded(&self.client, ADVERTISER_INFO, retries, || self.get(ADVERTISER_INFO, &query), |resp| decode_page(&mut dec, resp, name, &what)).await?;
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

    /// Campaigns, ad groups or ads of every advertiser, page by page.
    fn list(self, kind: Kind, schema: SchemaRef, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = kind.name();
            let (path, _) = kind.list().ok_or_else(|| Error::Internal(format!("{name} is not a list")))?;
            let ids = self.config.advertiser_ids.clone();
            // A crashed full refresh resumes at its last committed page, if the
            // advertiser list is still the same at that position.
            let (first_adv, first_page) = match state.resume.as_ref() {
                Some(r) => {
                    let i = r.get("advertiser").and_then(|v| v.as_u64()).unwrap_or(0) as usize;
                    let id = r.get("advertiser_id").and_then(|v| v.as_str());
                    let page = r.get("page").and_then(|v| v.as_u64()).unwrap_or(1).max(1);
                    if ids.get(i).map(String::as_str) == id { (i, page) } else { (0, 1) }
                }
                None => (0, 1),
            };
            let size = self.config.page_size;
            let mut dec = CodeMessage::page_decoder(schema::wire(&schema), &["data", "list"], true)?;
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
            let accounts = self.accounts().await?.to_vec();
            let today = accounts.iter().map(Account::today).max().unwrap_or_else(latest_today);
            let range = if incremental {
                self.incremental_range(committed_day(&state), today)
            } else {
                let resumed = state.resume.as_ref()
                    .and_then(|r| r.get("next_start"))
                    .and_then(|v| v.as_str())
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
                let start = resumed.unwrap_or_else(|| self.first_start(today));
                (start <= today).then_some(ReportRange { start, end: today })
            };
            let windows = range.map(|r| r.windows(MAX_REPORT_DAYS)).unwrap_or_default();
            tracing::debug!(stream = name, windows = windows.len(), ?range, "report range");
            let id_dim = format!("{level}_id");
            let name_metric = format!("{level}_name");
            let dims = serde_json::to_string(&[id_dim.as_str(), "stat_time_day"]).unwrap_or_default();
            let mut metric_names: Vec<String> = schema::METRICS.iter().map(|m| (*m).to_owned()).collect();
            metric_names.extend(schema::parents(level).iter().map(|p| (*p).to_owned()));
            metric_names.push(name_metric.clone());
            let metrics = serde_json::to_string(&metric_names).unwrap_or_default();
            let row = report_row_type(&schema, level);
            let wire = Arc::new(Schema::new(vec![
                Field::new("dimensions", DataType::Struct(row.0.clone()), true),
                Field::new("metrics", DataType::Struct(row.1.clone()), true),
            ]));
            let mut dec = CodeMessage::page_decoder(wire, &["data", "list"], true)?;
            let retries = self.config.max_retries as u32;
            let size = self.config.report_page_size;
            let data_level = format!("AUCTION_{}", level.to_uppercase());
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut buffered = 0usize;
            for (w, window) in windows.iter().enumerate() {
                for account in &accounts {
                    let mut page = 1u64;
                    loop {
                        let query = [
                            ("advertiser_id", account.id.clone()),
                            ("report_type", "BASIC".to_owned()),
                            ("service_type", "AUCTION".to_owned()),
                            ("data_level", data_level.clone()),
                            ("dimensions", dims.clone()),
                            ("metrics", metrics.clone()),
                            ("start_date", window.start.to_string()),
                            ("end_date", window.end.to_string()),
                            ("page", page.to_string()),
                            ("page_size", size.to_string()),
                        ];
                        let what = format!("GET {REPORT} (advertiser {}, {}..{}, page {page})", account.id, window.start, window.end);
                        let f = fetch_decoded(&self.client, REPORT, retries, || self.get(REPORT, &query), |resp| decode_page(&mut dec, resp, name, &what)).await?;
                        let total_page = CodeMessage::total_page(&f.value);
                        let batch = report_batch(f.value.records, account, level, &schema).map_err(|e| Error::data(name, format!("{what}: {e}")))?;
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

/// The `dimensions` and `metrics` structs of a report row at `level`.
fn report_row_type(schema: &SchemaRef, level: &str) -> (Fields, Fields) {
    let dims = Fields::from(vec![
        Field::new(format!("{level}_id"), DataType::Utf8, true),
        Field::new("stat_time_day", DataType::Utf8, true),
    ]);
    let mut metrics: Vec<Field> = schema::METRICS
        .iter()
        .map(|m| {
            let t = schema.field_with_name(m).map(|f| f.data_type().clone());
            Field::new(*m, t.unwrap_or(DataType::Utf8), true)
        })
        .collect();
    metrics.extend(
        schema::parents(level)
            .iter()
            .map(|p| Field::new(*p, DataType::Utf8, true)),
    );
    metrics.push(Field::new(format!("{level}_name"), DataType::Utf8, true));
    (dims, Fields::from(metrics))
}

/// Report rows (`{dimensions, metrics}`) as the stream's columns.
fn report_batch(
    rows: RecordBatch,
    account: &Account,
    level: &str,
    schema: &SchemaRef,
) -> Result<RecordBatch, String> {
    let n = rows.num_rows();
    let dims = rows.column(0).as_struct();
    let metrics = rows.column(1).as_struct();
    let parents = schema::parents(level).len();
    let m = schema::METRICS.len();
    // advertiser_id, stat_date, <level>_id, parents…, <level>_name, metrics…, currency, account_timezone
    let mut cols: Vec<ArrayRef> = vec![
        schema::constant(&account.id, n),
        dims.column(1).clone(),
        dims.column(0).clone(),
    ];
    for p in 0..parents {
        cols.push(metrics.column(m + p).clone());
    }
    cols.push(metrics.column(m + parents).clone());
    for i in 0..m {
        cols.push(metrics.column(i).clone());
    }
    cols.push(schema::constant(&account.currency, n));
    cols.push(schema::constant(&account.timezone, n));
    let wire = schema::wire(schema);
    let batch = RecordBatch::try_new(wire, cols).map_err(|e| e.to_string())?;
    schema::to_stream(batch, schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use braid_sdk::report_window::date_from_days;

    #[test]
    fn envelope_codes_are_classified_with_the_vendor_words() {
        assert_eq!(envelope(br#"{"code":0,"message":"OK","data":{}}"#), None);
        let e = envelope(
            br#"{"code":40100,"message":"App 1 reaches the QPS limit 10","request_id":"2026X"}"#,
        );
        assert_eq!(
            e,
            Some(EnvelopeError::RateLimit(
                "code 40100: App 1 reaches the QPS limit 10 (request_id 2026X)".into()
            ))
        );
        for code in [40001, 40104, 40105] {
            assert!(matches!(
                envelope(format!(r#"{{"code":{code},"message":"no"}}"#).as_bytes()),
                Some(EnvelopeError::Auth(_))
            ));
        }
        assert!(matches!(
            envelope(br#"{"code":50000,"message":"System error"}"#),
            Some(EnvelopeError::Transient(_))
        ));
        assert!(matches!(
            envelope(br#"{"code":40002,"message":"Invalid metric"}"#),
            Some(EnvelopeError::Fatal(_))
        ));
        // A body cut inside `data` passes the check (its code 0 came first);
        // the rows' decode fails it and the page is fetched again (see
        // `report_pages_read_their_envelope_in_the_rows_pass`).
        assert_eq!(
            envelope(br#"{"code":0,"message":"OK","data":{"list":[1,"#),
            None
        );
        assert!(matches!(
            envelope(br#"{"data":{"list":[1,"#),
            Some(EnvelopeError::Transient(m)) if m.contains("cut short")
        ));
    }

    fn report_decoder() -> JsonPageDecoder {
        let schema = schema::report("ad");
        let (d, m) = report_row_type(&schema, "ad");
        let wire = Arc::new(Schema::new(vec![
            Field::new("dimensions", DataType::Struct(d), true),
            Field::new("metrics", DataType::Struct(m), true),
        ]));
        CodeMessage::page_decoder(wire, &["data", "list"], true).unwrap()
    }

    fn response(body: &str) -> HttpResponse {
        HttpResponse {
            status: Default::default(),
            headers: Default::default(),
            body: body.as_bytes().to_vec().into(),
            attempts: 1,
        }
    }

    #[test]
    fn report_pages_read_their_envelope_in_the_rows_pass() {
        let row = r#"{"dimensions":{"ad_id":"1830000000000000017","stat_time_day":"2026-12-01 00:00:00"},"metrics":{"spend":"1.5","impressions":"10","clicks":"1","conversion":"0","ad_name":"c","code":"not the envelope's"}}"#;
        let data =
            format!(r#""data":{{"list":[{row},{row}],"page_info":{{"page":1,"total_page":2}}}}"#);
        let mut dec = report_decoder();
        let mut run =
            |body: &str| decode_page(&mut dec, &response(body), "ad_daily_report", "GET /r");
        // Success, with the envelope before or after `data`.
        for body in [
            format!(r#"{{"code":0,"message":"OK","request_id":"r",{data}}}"#),
            format!(r#"{{{data},"code":0,"message":"OK","request_id":"r"}}"#),
        ] {
            assert_eq!(envelope(body.as_bytes()), None);
            let p = run(&body).unwrap();
            assert_eq!(p.records.num_rows(), 2);
            assert_eq!(CodeMessage::total_page(&p), Some(2));
        }
        // An error code on a page with rows, before and after `data`.
        let body = format!(r#"{{"code":40100,"message":"QPS","request_id":"r7",{data}}}"#);
        let want = EnvelopeError::RateLimit("code 40100: QPS (request_id r7)".into());
        assert_eq!(envelope(body.as_bytes()), Some(want.clone()));
        assert!(matches!(run(&body), Err(PageError::Envelope(e)) if e == want));
        let body = format!(r#"{{{data},"code":40105,"message":"token","request_id":"r8"}}"#);
        let want = EnvelopeError::Auth("code 40105: token (request_id r8)".into());
        assert_eq!(envelope(body.as_bytes()), Some(want.clone()));
        assert!(matches!(run(&body), Err(PageError::Envelope(e)) if e == want));
        // Cut short: transient in the check or in the rows' pass, at any cut.
        let body = format!(r#"{{"code":0,"message":"OK","request_id":"r",{data}}}"#);
        for cut in 1..body.len() {
            match envelope(&body.as_bytes()[..cut]) {
                Some(EnvelopeError::Transient(_)) => {}
                None => assert!(
                    matches!(
                        run(&body[..cut]),
                        Err(PageError::Envelope(EnvelopeError::Transient(_)))
                    ),
                    "{}",
                    &body[..cut]
                ),
                other => panic!("{}: {other:?}", &body[..cut]),
            }
        }
        // The decoder is clean after a cut page.
        assert_eq!(run(&body).unwrap().records.num_rows(), 2);
    }

    #[test]
    fn report_rows_flatten_into_the_stream_schema_with_currency_and_zone() {
        let schema = schema::report("ad");
        let (d, m) = report_row_type(&schema, "ad");
        let wire = Arc::new(Schema::new(vec![
            Field::new("dimensions", DataType::Struct(d), true),
            Field::new("metrics", DataType::Struct(m), true),
        ]));
        let mut dec = CodeMessage::page_decoder(wire, &["data", "list"], true).unwrap();
        let body = br#"{"code":0,"data":{"list":[{"dimensions":{"ad_id":"1830000000000000017","stat_time_day":"2026-12-01 00:00:00"},"metrics":{"spend":"123.45","impressions":"1000","clicks":"12","conversion":"3","campaign_id":"1810000000000000011","adgroup_id":"1820000000000000013","ad_name":"Creative","new_metric":"x"}}],"page_info":{"page":1,"total_page":1}}}"#;
        let p = dec.decode(body).unwrap();
        assert_eq!(
            p.values,
            vec![Some("0".into()), None, None, Some("1".into())]
        );
        let account = Account {
            id: "6900000000000000001".into(),
            currency: "USD".into(),
            timezone: "America/New_York".into(),
        };
        let b = report_batch(p.records, &account, "ad", &schema).unwrap();
        assert_eq!(b.num_rows(), 1);
        let text = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_string::<i32>()
                .value(0)
                .to_owned()
        };
        assert_eq!(text("ad_id"), "1830000000000000017");
        assert_eq!(text("campaign_id"), "1810000000000000011");
        assert_eq!(text("adgroup_id"), "1820000000000000013");
        assert_eq!(text("ad_name"), "Creative");
        assert_eq!(text("currency"), "USD");
        assert_eq!(text("account_timezone"), "America/New_York");
        let spend = b
            .column_by_name("spend")
            .unwrap()
            .as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(spend.value(0), 123_450_000);
        let conv = b
            .column_by_name("conversion")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!(conv.value(0), 3);
        let day = b
            .column_by_name("stat_date")
            .unwrap()
            .as_primitive::<arrow_array::types::Date32Type>();
        assert_eq!(date_from_days(day.value(0)), "2026-12-01".parse().ok());
    }
}

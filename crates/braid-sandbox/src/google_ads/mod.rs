//! Google Ads API emulation (REST): `googleAds:searchStream` with GAQL over
//! customers, campaigns, ad groups (daily metrics segmented by
//! `segments.date`) and `click_view`, behind the OAuth 2.0 refresh-token
//! flow at a token endpoint.
//!
//! Wire format as Google documents it: `POST /v26/customers/<id>/googleAds:searchStream`
//! with `{"query": "<GAQL>"}`, the `Authorization: Bearer` access token
//! and, because the OAuth user reaches the client accounts through their
//! manager, the `login-customer-id` header naming the manager. Google sunset
//! developer tokens on 2026-09-09 (the `developer-token` header is optional
//! and ignored since; access levels belong to the OAuth client's Cloud
//! project): by default the emulation ignores the header too, and with
//! `developer_token` set it requires it as before the sunset. Versions before
//! v23 are sunset (v22 on 2026-10-07) and answered as such; v23 replaced
//! `campaign.start_date`/`end_date` by `start_date_time`/`end_date_time`
//! (`yyyy-MM-dd HH:mm:ss`, empty end = runs indefinitely), and each version
//! knows only its own names. The answer is one JSON array of result batches (`results`,
//! camelCase `fieldMask`, `requestId`; `queryResourceConsumption` on the
//! last), at most `batch_rows` rows each. Proto3 JSON mapping: int64 values
//! (ids, impressions, clicks, `costMicros`) are strings, doubles
//! (`conversions`, `conversionsValue`) numbers, enums names. Rows of a
//! query with metrics or `segments.date` exist only for days with
//! impressions. `segments.date` needs a finite date filter; `click_view`
//! needs a filter to exactly one day. Money is micros of the account
//! currency; days are days in the account's time zone.
//!
//! Errors are Google's: `[{"error": {code, message, status, details:
//! [{"@type": "…GoogleAdsFailure", errors: [{errorCode, message, details}],
//! requestId}]}}]` — `UNAUTHENTICATED` (401; `OAUTH_TOKEN_EXPIRED`,
//! `OAUTH_TOKEN_INVALID`, `DEVELOPER_TOKEN_INVALID`), `PERMISSION_DENIED`
//! (403; `USER_PERMISSION_DENIED` without the manager's `login-customer-id`),
//! `INVALID_ARGUMENT` (400; `queryError`), `RESOURCE_EXHAUSTED` (429;
//! `quotaError` with `quotaErrorDetails.retryDelay`), `UNAVAILABLE` /
//! `INTERNAL` (5xx). The token endpoint answers RFC 6749 errors
//! (`invalid_grant`, `invalid_client`).
//!
//! Admin: `POST /_sandbox/google_ads/restate {"days": n}` (late conversions
//! for the last n days), `…/expire_tokens` (issued access tokens answer
//! `OAUTH_TOKEN_EXPIRED`), `…/extra_field {"enabled": true}` (every row
//! carries a field nobody selected).

// Handlers return a ready `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

pub mod data;
pub mod gaql;

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use serde_json::{Map, Value};

use data::{AdGroup, Campaign, Figures};
use gaql::{Op, Query};

/// The API versions served (older ones are sunset).
pub const OLDEST_VERSION: u32 = 23;

/// The first version with `campaign.start_date_time`/`end_date_time`.
pub const DATE_TIME_VERSION: u32 = 23;

/// One client account.
#[derive(Debug, Clone)]
pub struct GoogleAdsCustomer {
    /// Customer id, ten digits without dashes.
    pub id: String,
    /// `descriptive_name`.
    pub name: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// IANA time zone the account's days are in.
    pub time_zone: String,
}

/// Settings of the Google Ads emulation. `Debug` redacts the secrets.
#[derive(Clone)]
pub struct GoogleAdsConfig {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// A refresh token the token endpoint accepts.
    pub refresh_token: String,
    /// A developer token every call must carry (Google before the
    /// 2026-09-09 sunset); `None` ignores the header, as Google does now.
    pub developer_token: Option<String>,
    /// The manager account the OAuth user signs in through (`login-customer-id`).
    pub manager_customer_id: String,
    /// Client accounts under the manager.
    pub customers: Vec<GoogleAdsCustomer>,
    /// Campaigns per customer.
    pub campaigns_per_customer: u64,
    /// Ad groups per campaign.
    pub ad_groups_per_campaign: u64,
    /// Days of history before today.
    pub history_days: u32,
    /// Most clicks one ad group gets in a day.
    pub max_clicks: u64,
    /// Requests per second before `RESOURCE_EXHAUSTED` (`None` = unlimited).
    pub requests_per_second: Option<u32>,
    /// Seconds an issued access token lives.
    pub token_ttl_secs: u64,
    /// Rows per streamed batch (Google streams 10 000).
    pub batch_rows: usize,
}

impl std::fmt::Debug for GoogleAdsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleAdsConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("developer_token", &"<redacted>")
            .field("manager_customer_id", &self.manager_customer_id)
            .field("customers", &self.customers)
            .field("campaigns_per_customer", &self.campaigns_per_customer)
            .field("ad_groups_per_campaign", &self.ad_groups_per_campaign)
            .field("history_days", &self.history_days)
            .field("requests_per_second", &self.requests_per_second)
            .finish_non_exhaustive()
    }
}

impl Default for GoogleAdsConfig {
    fn default() -> Self {
        Self {
            client_id: "123456789012-sandbox.apps.googleusercontent.com".into(),
            client_secret: "GOCSPX-sandbox-google-secret".into(),
            refresh_token: "1//0sandbox-google-refresh".into(),
            developer_token: None,
            manager_customer_id: "9990001111".into(),
            customers: vec![
                GoogleAdsCustomer {
                    id: "1234567890".into(),
                    name: "Sandbox Store US".into(),
                    currency: "USD".into(),
                    time_zone: "America/New_York".into(),
                },
                GoogleAdsCustomer {
                    id: "2223334444".into(),
                    name: "Sandbox Store DE".into(),
                    currency: "EUR".into(),
                    time_zone: "Europe/Berlin".into(),
                },
            ],
            campaigns_per_customer: 6,
            ad_groups_per_campaign: 3,
            history_days: 45,
            max_clicks: 6,
            requests_per_second: Some(100),
            token_ttl_secs: 3599,
            batch_rows: 10_000,
        }
    }
}

#[derive(Debug, Default)]
struct Mutable {
    valid: BTreeSet<String>,
    expired: BTreeSet<String>,
    rounds: BTreeMap<NaiveDate, u32>,
    extra_field: bool,
}

/// Shared state of the emulation.
#[derive(Debug)]
pub(crate) struct GoogleAds {
    pub(crate) config: GoogleAdsConfig,
    seed: u64,
    state: Mutex<Mutable>,
    issued: AtomicU64,
}

impl GoogleAds {
    pub(crate) fn new(config: GoogleAdsConfig, seed: u64) -> Self {
        Self {
            config,
            seed,
            state: Mutex::new(Mutable::default()),
            issued: AtomicU64::new(0),
        }
    }

    pub(crate) fn reset(&self) {
        let mut s = self.lock();
        s.rounds.clear();
        s.extra_field = false;
        // Issued tokens keep working.
        let expired = std::mem::take(&mut s.expired);
        s.valid.extend(expired);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn round(&self, day: NaiveDate) -> u32 {
        self.lock().rounds.get(&day).copied().unwrap_or(0)
    }
}

/// Today in `tz` (UTC when the name is unknown).
pub fn today_in(tz: &str) -> NaiveDate {
    let tz: chrono_tz::Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

/// The first day with data of a customer.
pub fn first_day(config: &GoogleAdsConfig, customer: &GoogleAdsCustomer) -> NaiveDate {
    let today = today_in(&customer.time_zone);
    today
        .checked_sub_days(Days::new(config.history_days.into()))
        .unwrap_or(today)
}

/// The campaigns of customer `k`.
pub fn campaigns(config: &GoogleAdsConfig, seed: u64, k: usize) -> Vec<Campaign> {
    (0..config.campaigns_per_customer)
        .map(|i| data::campaign(seed, k, i, config.campaigns_per_customer))
        .collect()
}

/// The ad groups of customer `k`.
pub fn ad_groups(config: &GoogleAdsConfig, seed: u64, k: usize) -> Vec<AdGroup> {
    campaigns(config, seed, k)
        .iter()
        .flat_map(|c| (0..config.ad_groups_per_campaign).map(move |g| data::ad_group(seed, c, g)))
        .collect()
}

/// What `ag` did on `day`, with `round` restatements (public for tests that
/// compute the expected figures).
pub fn figures(
    config: &GoogleAdsConfig,
    seed: u64,
    ag: &AdGroup,
    day: NaiveDate,
    round: u32,
) -> Figures {
    data::figures(seed, ag, day, round, config.max_clicks)
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    let api = Router::new()
        .route(
            "/{version}/customers/{customer}/{method}",
            post(search_stream),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, gate));
    api.route("/token", post(token))
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/google_ads/restate", post(restate))
        .route("/_sandbox/google_ads/expire_tokens", post(expire_tokens))
        .route("/_sandbox/google_ads/extra_field", post(extra_field))
}

/// Whether `path` is a Google Ads API path (`/v21/customers/…`) or its token endpoint.
pub(crate) fn owns(path: &str) -> bool {
    if path == "/token" {
        return true;
    }
    let mut seg = path.trim_start_matches('/').split('/');
    let version = seg.next().unwrap_or("");
    version
        .strip_prefix('v')
        .is_some_and(|v| v.parse::<u32>().is_ok())
        && seg.next() == Some("customers")
}

/// What the demo's Google Ads pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, c: &GoogleAdsConfig) -> Vec<(String, String)> {
    let ids: Vec<&str> = c.customers.iter().map(|c| c.id.as_str()).collect();
    let start = c
        .customers
        .iter()
        .map(|k| first_day(c, k))
        .min()
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    vec![
        ("GOOGLE_ADS_BASE_URL".into(), base_url.into()),
        ("GOOGLE_ADS_TOKEN_URL".into(), format!("{base_url}/token")),
        ("GOOGLE_ADS_CLIENT_ID".into(), c.client_id.clone()),
        ("GOOGLE_ADS_CLIENT_SECRET".into(), c.client_secret.clone()),
        ("GOOGLE_ADS_REFRESH_TOKEN".into(), c.refresh_token.clone()),
        (
            "GOOGLE_ADS_DEVELOPER_TOKEN".into(),
            c.developer_token.clone().unwrap_or_default(),
        ),
        (
            "GOOGLE_ADS_LOGIN_CUSTOMER_ID".into(),
            c.manager_customer_id.clone(),
        ),
        ("GOOGLE_ADS_CUSTOMER_IDS".into(), ids.join(",")),
        ("GOOGLE_ADS_START_DATE".into(), start.to_string()),
    ]
}

fn request_id() -> String {
    static N: AtomicU64 = AtomicU64::new(11);
    let n = crate::rng::mix(N.fetch_add(1, Ordering::Relaxed));
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..22)
        .map(|k| ALPHABET[((crate::rng::mix(n ^ k) >> 7) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

/// One entry of a `GoogleAdsFailure`.
struct AdsError {
    /// `{"<family>": "<CODE>"}`, e.g. `{"quotaError": "RESOURCE_EXHAUSTED"}`.
    family: &'static str,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

/// Google's error body for an API call: a stream of one error element.
fn ads_error(
    status: StatusCode,
    grpc: &str,
    message: &str,
    version: &str,
    e: AdsError,
) -> Response {
    let mut entry = serde_json::json!({
        "errorCode": { e.family: e.code },
        "message": e.message,
    });
    if let Some(d) = e.details {
        entry["details"] = d;
    }
    let body = serde_json::json!([{
        "error": {
            "code": status.as_u16(),
            "message": message,
            "status": grpc,
            "details": [{
                "@type": format!("type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure"),
                "errors": [entry],
                "requestId": request_id(),
            }],
        }
    }]);
    json_response(status, body.to_string())
}

fn invalid_argument(
    version: &str,
    family: &'static str,
    code: &'static str,
    message: String,
) -> Response {
    ads_error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        "Request contains an invalid argument.",
        version,
        AdsError {
            family,
            code,
            message,
            details: None,
        },
    )
}

fn unauthenticated(version: &str, code: &'static str, message: &str) -> Response {
    ads_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        version,
        AdsError {
            family: "authenticationError",
            code,
            message: message.into(),
            details: None,
        },
    )
}

fn resource_exhausted(version: &str) -> Response {
    ads_error(
        StatusCode::TOO_MANY_REQUESTS,
        "RESOURCE_EXHAUSTED",
        "Resource has been exhausted (e.g. check quota).",
        version,
        AdsError {
            family: "quotaError",
            code: "RESOURCE_EXHAUSTED",
            message: "Too many requests. Retry in 1 seconds.".into(),
            details: Some(serde_json::json!({
                "quotaErrorDetails": {
                    "rateScope": "DEVELOPER",
                    "rateName": "Number of operations for basic access",
                    "retryDelay": "1s"
                }
            })),
        },
    )
}

/// Google's answer to an injected status fault.
pub(crate) fn fault_response(path: &str, status: StatusCode) -> Response {
    if path == "/token" {
        let body = match status.as_u16() {
            s if s >= 500 => {
                serde_json::json!({"error": "internal_failure", "error_description": "Backend Error"})
            }
            _ => serde_json::json!({"error": "invalid_grant", "error_description": "Bad Request"}),
        };
        return json_response(status, body.to_string());
    }
    let version = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("v26");
    match status.as_u16() {
        429 => resource_exhausted(version),
        401 => unauthenticated(version, "OAUTH_TOKEN_EXPIRED", "OAuth token in the header has expired."),
        500 => ads_error(
            status,
            "INTERNAL",
            "Internal error encountered.",
            version,
            AdsError {
                family: "internalError",
                code: "INTERNAL_ERROR",
                message: "An internal error has occurred.".into(),
                details: None,
            },
        ),
        s if s >= 500 => json_response(
            status,
            serde_json::json!([{"error": {"code": s, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}}]).to_string(),
        ),
        _ => invalid_argument(version, "requestError", "UNKNOWN", "The request failed.".into()),
    }
}

/// Version, access token, developer token, `login-customer-id` and the request budget.
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    Path(params): Path<BTreeMap<String, String>>,
    headers: HeaderMap,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let g = &app.google_ads;
    let version = params.get("version").map(String::as_str).unwrap_or("");
    match version
        .strip_prefix('v')
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(v) if v >= OLDEST_VERSION => {}
        Some(_) => {
            return ads_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!(
                    "Version {version} is deprecated. Requests to this version will be blocked."
                ),
                "v26",
                AdsError {
                    family: "requestError",
                    code: "UNSUPPORTED_VERSION",
                    message: format!(
                        "API version {version} is sunset; use v{OLDEST_VERSION} or later."
                    ),
                    details: None,
                },
            )
        }
        None => return (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let Some(token) = header("authorization").and_then(|v| v.strip_prefix("Bearer ")) else {
        return unauthenticated(
            version,
            "OAUTH_TOKEN_HEADER_INVALID",
            "OAuth token HTTP header is malformed.",
        );
    };
    {
        let s = g.lock();
        if s.expired.contains(token) {
            return unauthenticated(
                version,
                "OAUTH_TOKEN_EXPIRED",
                "OAuth token in the header has expired.",
            );
        }
        if !s.valid.contains(token) {
            return unauthenticated(
                version,
                "OAUTH_TOKEN_INVALID",
                "OAuth token in the header is not valid.",
            );
        }
    }
    if let Some(required) = &g.config.developer_token {
        if header("developer-token") != Some(required.as_str()) {
            return unauthenticated(
                version,
                "DEVELOPER_TOKEN_INVALID",
                "The developer token is not valid.",
            );
        }
    }
    let customer = params.get("customer").map(String::as_str).unwrap_or("");
    if customer.is_empty() || !customer.bytes().all(|b| b.is_ascii_digit()) {
        return invalid_argument(
            version,
            "authenticationError",
            "CLIENT_CUSTOMER_ID_INVALID",
            format!("Client customer ID is not a number: '{customer}' (send it without dashes)."),
        );
    }
    let login = header("login-customer-id").map(|v| v.replace('-', ""));
    let known = g.config.customers.iter().any(|c| c.id == customer);
    if !known || login.as_deref() != Some(g.config.manager_customer_id.as_str()) {
        return ads_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "The caller does not have permission",
            version,
            AdsError {
                family: "authorizationError",
                code: "USER_PERMISSION_DENIED",
                message: "User doesn't have permission to access customer. Note: If you're accessing a client customer, the manager's customer ID must be set in the 'login-customer-id' header. See https://developers.google.com/google-ads/api/docs/concepts/call-structure#cid".into(),
                details: None,
            },
        );
    }
    if let Some(limit) = g.config.requests_per_second {
        if app.spend("google_ads:requests", limit).is_none() {
            return resource_exhausted(version);
        }
    }
    next.run(req).await
}

/// `POST /token`: the refresh-token grant (RFC 6749 §6), as oauth2.googleapis.com answers it.
async fn token(State(app): State<Arc<crate::AppState>>, body: axum::body::Bytes) -> Response {
    let g = &app.google_ads;
    let form = crate::query_pairs(std::str::from_utf8(&body).ok());
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let err = |status: StatusCode, e: &str, d: &str| {
        json_response(
            status,
            serde_json::json!({"error": e, "error_description": d}).to_string(),
        )
    };
    if field("grant_type") != "refresh_token" {
        return err(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type: ",
        );
    }
    if field("client_id") != g.config.client_id || field("client_secret") != g.config.client_secret
    {
        return err(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    if field("refresh_token") != g.config.refresh_token {
        return err(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
    }
    let n = g.issued.fetch_add(1, Ordering::Relaxed) + 1;
    let token = format!("ya29.a0sandbox{n:04}{}", &request_id()[..12]);
    g.lock().valid.insert(token.clone());
    Json(serde_json::json!({
        "access_token": token,
        "expires_in": g.config.token_ttl_secs,
        "scope": "https://www.googleapis.com/auth/adwords",
        "token_type": "Bearer",
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SearchRequest {
    query: String,
}

/// A row before selection: every field of the resource by its GAQL name.
type Flat = BTreeMap<&'static str, Value>;

fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

/// Fields each resource knows (besides `customer.*`, `segments.date` and metrics).
fn known_fields(
    resource: &str,
    version: u32,
) -> Option<(&'static [&'static str], &'static [&'static str])> {
    const CAMPAIGN_V23: &[&str] = &[
        "campaign.id",
        "campaign.resource_name",
        "campaign.name",
        "campaign.status",
        "campaign.advertising_channel_type",
        "campaign.bidding_strategy_type",
        "campaign.start_date_time",
        "campaign.end_date_time",
        "campaign.campaign_budget",
        "campaign_budget.amount_micros",
    ];
    const CAMPAIGN: &[&str] = &[
        "campaign.id",
        "campaign.resource_name",
        "campaign.name",
        "campaign.status",
        "campaign.advertising_channel_type",
        "campaign.bidding_strategy_type",
        "campaign.start_date",
        "campaign.end_date",
        "campaign.campaign_budget",
        "campaign_budget.amount_micros",
    ];
    const AD_GROUP: &[&str] = &[
        "ad_group.id",
        "ad_group.resource_name",
        "ad_group.name",
        "ad_group.status",
        "ad_group.type",
        "ad_group.cpc_bid_micros",
        "ad_group.campaign",
        "campaign.id",
        "campaign.name",
        "campaign.status",
    ];
    const CLICK_VIEW: &[&str] = &[
        "click_view.gclid",
        "click_view.resource_name",
        "click_view.ad_group_ad",
        "click_view.page_number",
        "segments.device",
        "segments.click_type",
        "campaign.id",
        "campaign.name",
        "ad_group.id",
        "ad_group.name",
    ];
    const METRICS: &[&str] = &[
        "metrics.impressions",
        "metrics.clicks",
        "metrics.cost_micros",
        "metrics.conversions",
        "metrics.conversions_value",
    ];
    const CLICK_METRICS: &[&str] = &["metrics.clicks"];
    Some(match resource {
        "customer" => (&[], &[]),
        "campaign" if version >= DATE_TIME_VERSION => (CAMPAIGN_V23, METRICS),
        "campaign" => (CAMPAIGN, METRICS),
        "ad_group" => (AD_GROUP, METRICS),
        "click_view" => (CLICK_VIEW, CLICK_METRICS),
        _ => return None,
    })
}

fn customer_fields(c: &GoogleAdsCustomer, f: &mut Flat) {
    f.insert("customer.id", s(&c.id));
    f.insert("customer.resource_name", s(format!("customers/{}", c.id)));
    f.insert("customer.descriptive_name", s(&c.name));
    f.insert("customer.currency_code", s(&c.currency));
    f.insert("customer.time_zone", s(&c.time_zone));
    f.insert("customer.manager", Value::Bool(false));
    f.insert("customer.status", s("ENABLED"));
}

fn campaign_fields(cust: &str, c: &Campaign, first: NaiveDate, f: &mut Flat) {
    f.insert("campaign.id", s(c.id));
    f.insert(
        "campaign.resource_name",
        s(format!("customers/{cust}/campaigns/{}", c.id)),
    );
    f.insert("campaign.name", s(&c.name));
    f.insert("campaign.status", s(c.status));
    f.insert("campaign.advertising_channel_type", s(c.channel));
    f.insert("campaign.bidding_strategy_type", s(c.bidding));
    let start = first
        .checked_sub_days(Days::new(c.index * 3))
        .unwrap_or(first);
    f.insert("campaign.start_date", s(start.format("%Y-%m-%d")));
    f.insert("campaign.end_date", s("2037-12-30"));
    f.insert(
        "campaign.start_date_time",
        s(format!("{} 00:00:00", start.format("%Y-%m-%d"))),
    );
    // An end only for removed campaigns; the others run indefinitely (no value).
    if c.status == "REMOVED" {
        let end = start.checked_add_days(Days::new(10)).unwrap_or(start);
        f.insert(
            "campaign.end_date_time",
            s(format!("{} 23:59:59", end.format("%Y-%m-%d"))),
        );
    }
    f.insert(
        "campaign.campaign_budget",
        s(format!("customers/{cust}/campaignBudgets/{}", c.budget_id)),
    );
    f.insert("campaign_budget.amount_micros", s(c.budget_micros));
}

fn ad_group_fields(cust: &str, ag: &AdGroup, f: &mut Flat) {
    f.insert("ad_group.id", s(ag.id));
    f.insert(
        "ad_group.resource_name",
        s(format!("customers/{cust}/adGroups/{}", ag.id)),
    );
    f.insert("ad_group.name", s(&ag.name));
    f.insert("ad_group.status", s(ag.status));
    f.insert("ad_group.type", s(ag.kind));
    f.insert("ad_group.cpc_bid_micros", s(ag.cpc_bid_micros));
    f.insert(
        "ad_group.campaign",
        s(format!("customers/{cust}/campaigns/{}", ag.campaign.id)),
    );
    f.insert("campaign.id", s(ag.campaign.id));
    f.insert("campaign.name", s(&ag.campaign.name));
    f.insert("campaign.status", s(ag.campaign.status));
}

fn metric_fields(x: &Figures, f: &mut Flat) {
    f.insert("metrics.impressions", s(x.impressions));
    f.insert("metrics.clicks", s(x.clicks));
    f.insert("metrics.cost_micros", s(x.cost_micros));
    f.insert("metrics.conversions", serde_json::json!(x.conversions));
    f.insert(
        "metrics.conversions_value",
        serde_json::json!(x.conversions_value),
    );
}

/// `a.b_c` → (`a`, `bC`) in the REST field names.
fn camel(part: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for ch in part.chars() {
        if ch == '_' {
            up = true;
        } else if up {
            out.extend(ch.to_uppercase());
            up = false;
        } else {
            out.push(ch);
        }
    }
    out
}

fn camel_path(field: &str) -> String {
    field.split('.').map(camel).collect::<Vec<_>>().join(".")
}

/// Compares a row's value with a query literal: as numbers when both are, else as text.
fn compare(v: &Value, lit: &str) -> CmpOrdering {
    let text = match v {
        Value::String(t) => t.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match (text.parse::<f64>(), lit.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(CmpOrdering::Equal),
        _ => text.as_str().cmp(lit),
    }
}

fn compare_values(a: &Value, b: &Value) -> CmpOrdering {
    let text = match b {
        Value::String(t) => t.clone(),
        other => other.to_string(),
    };
    compare(a, &text)
}

/// The days a `DURING` literal covers, relative to the account's today.
fn during(lit: &str, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let back = |n: u64| today.checked_sub_days(Days::new(n));
    Some(match lit {
        "TODAY" => (today, today),
        "YESTERDAY" => (back(1)?, back(1)?),
        "LAST_7_DAYS" => (back(7)?, back(1)?),
        "LAST_14_DAYS" => (back(14)?, back(1)?),
        "LAST_30_DAYS" => (back(30)?, back(1)?),
        _ => return None,
    })
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// The date range the `segments.date` filters allow, if they bound it.
fn date_range(
    q: &Query,
    today: NaiveDate,
    version: &str,
) -> Result<Option<(NaiveDate, NaiveDate)>, Response> {
    let bad = |m: String| {
        invalid_argument(
            version,
            "queryError",
            "INVALID_VALUE_WITH_DURING_OPERATOR",
            m,
        )
    };
    let day = |v: &str| {
        parse_day(v).ok_or_else(|| {
            invalid_argument(
                version,
                "queryError",
                "INVALID_LITERAL",
                format!("Invalid date literal '{v}': dates are YYYY-MM-DD."),
            )
        })
    };
    let (mut lo, mut hi): (Option<NaiveDate>, Option<NaiveDate>) = (None, None);
    let mut tighten = |a: Option<NaiveDate>, b: Option<NaiveDate>| {
        if let Some(a) = a {
            lo = Some(lo.map_or(a, |l| l.max(a)));
        }
        if let Some(b) = b {
            hi = Some(hi.map_or(b, |h| h.min(b)));
        }
    };
    for c in q.filters.iter().filter(|c| c.field == "segments.date") {
        match &c.op {
            Op::Cmp("=", v) => {
                let d = day(v)?;
                tighten(Some(d), Some(d));
            }
            Op::Cmp(">=", v) => tighten(Some(day(v)?), None),
            Op::Cmp(">", v) => tighten(day(v)?.succ_opt(), None),
            Op::Cmp("<=", v) => tighten(None, Some(day(v)?)),
            Op::Cmp("<", v) => tighten(None, day(v)?.pred_opt()),
            Op::Between(a, b) => tighten(Some(day(a)?), Some(day(b)?)),
            Op::During(lit) => {
                let (a, b) = during(lit, today)
                    .ok_or_else(|| bad(format!("Unknown date range literal '{lit}'.")))?;
                tighten(Some(a), Some(b));
            }
            Op::In(vs) => {
                let ds = vs.iter().map(|v| day(v)).collect::<Result<Vec<_>, _>>()?;
                tighten(ds.iter().min().copied(), ds.iter().max().copied());
            }
            _ => {}
        }
    }
    Ok(match (lo, hi) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    })
}

fn holds(row: &Flat, q: &Query) -> bool {
    // Date filters chose the days the rows were generated for.
    q.filters
        .iter()
        .filter(|c| c.field != "segments.date")
        .all(|c| {
            let v = row.get(c.field.as_str()).cloned().unwrap_or(Value::Null);
            match &c.op {
                Op::Cmp(op, lit) => {
                    let o = compare(&v, lit);
                    match *op {
                        "=" => o == CmpOrdering::Equal,
                        "!=" => o != CmpOrdering::Equal,
                        ">" => o == CmpOrdering::Greater,
                        ">=" => o != CmpOrdering::Less,
                        "<" => o == CmpOrdering::Less,
                        _ => o != CmpOrdering::Greater,
                    }
                }
                Op::In(vs) => vs.iter().any(|l| compare(&v, l) == CmpOrdering::Equal),
                Op::NotIn(vs) => vs.iter().all(|l| compare(&v, l) != CmpOrdering::Equal),
                Op::Between(a, b) => {
                    compare(&v, a) != CmpOrdering::Less && compare(&v, b) != CmpOrdering::Greater
                }
                Op::During(_) => true,
                Op::IsNull(null) => v.is_null() == *null,
            }
        })
}

/// Runs `q` for customer `k`: the matching rows, before selection.
fn execute(g: &GoogleAds, k: usize, q: &Query, version: &str) -> Result<Vec<Flat>, Response> {
    let cust = &g.config.customers[k];
    let unknown = |f: &str| {
        invalid_argument(
            version,
            "queryError",
            "UNRECOGNIZED_FIELD",
            format!("Unrecognized field in the query: '{f}'."),
        )
    };
    let number = version
        .strip_prefix('v')
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(OLDEST_VERSION);
    let Some((own, metrics)) = known_fields(&q.from, number) else {
        return Err(invalid_argument(
            version,
            "queryError",
            "INVALID_RESOURCE_NAME_IN_FROM_CLAUSE",
            format!("Invalid resource name in FROM clause: '{}'.", q.from),
        ));
    };
    let segmented = q.from != "customer";
    let referenced = q
        .select
        .iter()
        .chain(q.filters.iter().map(|c| &c.field))
        .chain(q.order_by.iter().map(|(f, _)| f));
    for f in referenced {
        let ok = f.starts_with("customer.")
            || own.contains(&f.as_str())
            || metrics.contains(&f.as_str())
            || (segmented && f == "segments.date");
        if !ok {
            return Err(unknown(f));
        }
    }
    let today = today_in(&cust.time_zone);
    let first = first_day(&g.config, cust);
    let mut base = Flat::new();
    customer_fields(cust, &mut base);
    if q.from == "customer" {
        return Ok(vec![base].into_iter().filter(|r| holds(r, q)).collect());
    }
    let range = date_range(q, today, version)?;
    let wants_date = q.select.iter().any(|f| f == "segments.date");
    let wants_metrics = q
        .select
        .iter()
        .chain(q.filters.iter().map(|c| &c.field))
        .any(|f| f.starts_with("metrics."));
    let days: Vec<NaiveDate> = {
        let (a, b) = range.unwrap_or((first, today));
        let (a, b) = (a.max(first), b.min(today));
        a.iter_days().take_while(|d| *d <= b).collect()
    };
    let seed = g.seed;
    let mut rows = Vec::new();
    match q.from.as_str() {
        "click_view" => {
            let Some((a, b)) = range.filter(|(a, b)| a == b) else {
                return Err(invalid_argument(
                    version,
                    "queryError",
                    "EXPECTED_FILTERS_ON_DATE_RANGE",
                    "Queries on click_view must filter segments.date to a single day.".into(),
                ));
            };
            let _ = b;
            if (today - a).num_days() > 90 {
                return Err(invalid_argument(
                    version,
                    "queryError",
                    "DATE_RANGE_TOO_WIDE",
                    "click_view can be queried for the last 90 days only.".into(),
                ));
            }
            if a < first || a > today {
                return Ok(rows);
            }
            let round = g.round(a);
            for ag in ad_groups(&g.config, seed, k) {
                let x = figures(&g.config, seed, &ag, a, round);
                for n in 0..x.clicks {
                    let c = data::click(seed, &ag, a, n);
                    let mut f = base.clone();
                    f.insert("click_view.gclid", s(&c.gclid));
                    f.insert(
                        "click_view.resource_name",
                        s(format!(
                            "customers/{}/clickViews/{}~{}",
                            cust.id, a, c.gclid
                        )),
                    );
                    f.insert(
                        "click_view.ad_group_ad",
                        s(format!(
                            "customers/{}/adGroupAds/{}~{}",
                            cust.id, ag.id, ag.ad_id
                        )),
                    );
                    f.insert("click_view.page_number", s(c.page_number));
                    f.insert("segments.device", s(c.device));
                    f.insert("segments.click_type", s("URL_CLICKS"));
                    f.insert("segments.date", s(a));
                    f.insert("campaign.id", s(ag.campaign.id));
                    f.insert("campaign.name", s(&ag.campaign.name));
                    f.insert("ad_group.id", s(ag.id));
                    f.insert("ad_group.name", s(&ag.name));
                    f.insert("metrics.clicks", s(1));
                    rows.push(f);
                }
            }
        }
        "campaign" | "ad_group" => {
            if wants_date && range.is_none() {
                return Err(invalid_argument(
                    version,
                    "queryError",
                    "EXPECTED_FILTERS_ON_DATE_RANGE",
                    "A query selecting segments.date must filter it to a finite date range.".into(),
                ));
            }
            let rounds: Vec<u32> = days.iter().map(|d| g.round(*d)).collect();
            let groups = ad_groups(&g.config, seed, k);
            // (entity fields, the ad groups whose figures it sums)
            let entities: Vec<(Flat, Vec<&AdGroup>)> = if q.from == "campaign" {
                campaigns(&g.config, seed, k)
                    .into_iter()
                    .map(|c| {
                        let mut f = base.clone();
                        campaign_fields(&cust.id, &c, first, &mut f);
                        let mine = groups.iter().filter(|ag| ag.campaign.id == c.id).collect();
                        (f, mine)
                    })
                    .collect()
            } else {
                groups
                    .iter()
                    .map(|ag| {
                        let mut f = base.clone();
                        ad_group_fields(&cust.id, ag, &mut f);
                        (f, vec![ag])
                    })
                    .collect()
            };
            for (f, mine) in entities {
                let day_figures = |i: usize| {
                    let mut x = Figures::default();
                    for ag in &mine {
                        x += figures(&g.config, seed, ag, days[i], rounds[i]);
                    }
                    x
                };
                if wants_date {
                    for (i, day) in days.iter().enumerate() {
                        let x = day_figures(i);
                        if x.impressions == 0 {
                            continue;
                        }
                        let mut row = f.clone();
                        row.insert("segments.date", s(day));
                        metric_fields(&x, &mut row);
                        rows.push(row);
                    }
                } else if wants_metrics {
                    let mut x = Figures::default();
                    for i in 0..days.len() {
                        x += day_figures(i);
                    }
                    let mut row = f;
                    metric_fields(&x, &mut row);
                    rows.push(row);
                } else {
                    rows.push(f);
                }
            }
        }
        _ => {}
    }
    rows.retain(|r| holds(r, q));
    if !q.order_by.is_empty() {
        rows.sort_by(|a, b| {
            for (field, desc) in &q.order_by {
                let (x, y) = (a.get(field.as_str()), b.get(field.as_str()));
                let o = match (x, y) {
                    (Some(x), Some(y)) => compare_values(x, y),
                    _ => CmpOrdering::Equal,
                };
                let o = if *desc { o.reverse() } else { o };
                if o != CmpOrdering::Equal {
                    return o;
                }
            }
            CmpOrdering::Equal
        });
    }
    if let Some(l) = q.limit {
        rows.truncate(l as usize);
    }
    Ok(rows)
}

/// A row as the API sends it: the selected fields nested in camelCase, and
/// the resource name of the resource in `FROM`.
fn render(row: &Flat, q: &Query, extra: bool) -> Value {
    let mut out = Map::new();
    let mut put = |field: &str, v: Value| {
        let mut parts = field.split('.');
        let (Some(obj), Some(key)) = (parts.next(), parts.next()) else {
            return;
        };
        let entry = out
            .entry(camel(obj))
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(camel(key), v);
        }
    };
    let own = format!("{}.resource_name", q.from);
    if let Some(v) = row.get(own.as_str()) {
        put(&own, v.clone());
    }
    for f in &q.select {
        if let Some(v) = row.get(f.as_str()) {
            put(f, v.clone());
        }
    }
    if extra {
        put(
            &format!("{}.sandbox_new_field", q.from),
            s("added by the sandbox"),
        );
        if q.select.iter().any(|f| f.starts_with("metrics.")) {
            put("metrics.sandbox_new_metric", serde_json::json!(1.5));
        }
    }
    Value::Object(out)
}

/// `POST /{version}/customers/{id}/googleAds:searchStream`.
async fn search_stream(
    State(app): State<Arc<crate::AppState>>,
    Path((version, customer, method)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let g = &app.google_ads;
    if method != "googleAds:searchStream" {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let req: SearchRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                serde_json::json!([{"error": {"code": 400, "message": format!("Invalid JSON payload received. {e}"), "status": "INVALID_ARGUMENT"}}]).to_string(),
            )
        }
    };
    let q = match gaql::parse(&req.query) {
        Ok(q) => q,
        Err(e) => {
            return invalid_argument(
                &version,
                "queryError",
                "UNEXPECTED_INPUT",
                format!("Error in query: {e}."),
            )
        }
    };
    let Some(k) = g.config.customers.iter().position(|c| c.id == customer) else {
        return (StatusCode::FORBIDDEN, "unknown customer").into_response();
    };
    let rows = match execute(g, k, &q, &version) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let extra = g.lock().extra_field;
    let mask = q
        .select
        .iter()
        .map(|f| camel_path(f))
        .collect::<Vec<_>>()
        .join(",");
    let id = request_id();
    let per = g.config.batch_rows.max(1);
    let mut batches: Vec<Value> = rows
        .chunks(per)
        .map(|chunk| {
            serde_json::json!({
                "results": chunk.iter().map(|r| render(r, &q, extra)).collect::<Vec<_>>(),
                "fieldMask": mask,
                "requestId": id,
            })
        })
        .collect();
    if batches.is_empty() {
        batches.push(serde_json::json!({"fieldMask": mask, "requestId": id}));
    }
    if let Some(Value::Object(last)) = batches.last_mut() {
        last.insert("queryResourceConsumption".into(), s(rows.len() * 4 + 100));
    }
    json_response(StatusCode::OK, Value::Array(batches).to_string())
}

#[derive(Debug, Deserialize)]
struct RestateRequest {
    days: u32,
}

/// Late conversions for the last `days` days of every account.
async fn restate(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<RestateRequest>,
) -> Response {
    let g = &app.google_ads;
    let todays: Vec<NaiveDate> = g
        .config
        .customers
        .iter()
        .map(|c| today_in(&c.time_zone))
        .collect();
    let (Some(lo), Some(hi)) = (todays.iter().min().copied(), todays.iter().max().copied()) else {
        return Json(serde_json::json!({"days": []})).into_response();
    };
    let from = lo
        .checked_sub_days(Days::new(u64::from(req.days.max(1) - 1)))
        .unwrap_or(lo);
    let mut s = g.lock();
    let mut days = Vec::new();
    for d in from.iter_days().take_while(|d| *d <= hi) {
        if req.days == 0 {
            break;
        }
        *s.rounds.entry(d).or_default() += 1;
        days.push(d.to_string());
    }
    Json(serde_json::json!({ "days": days })).into_response()
}

async fn expire_tokens(State(app): State<Arc<crate::AppState>>) -> Response {
    let mut s = app.google_ads.lock();
    let valid = std::mem::take(&mut s.valid);
    let n = valid.len();
    s.expired.extend(valid);
    Json(serde_json::json!({ "expired": n })).into_response()
}

#[derive(Debug, Deserialize)]
struct ExtraFieldRequest {
    enabled: bool,
}

async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<ExtraFieldRequest>,
) -> Response {
    app.google_ads.lock().extra_field = req.enabled;
    Json(serde_json::json!({ "ok": true })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_field_names() {
        assert!(owns("/v26/customers/1234567890/googleAds:searchStream"));
        assert!(owns("/token"));
        assert!(!owns("/v21.0/act_1/insights"));
        assert!(!owns("/v2/orders/search"));
        assert_eq!(camel_path("metrics.cost_micros"), "metrics.costMicros");
        assert_eq!(
            camel_path("ad_group.cpc_bid_micros"),
            "adGroup.cpcBidMicros"
        );
    }

    #[test]
    fn campaign_clicks_are_the_sum_of_their_ad_groups() {
        let c = GoogleAdsConfig::default();
        let groups = ad_groups(&c, 42, 0);
        assert_eq!(
            groups.len() as u64,
            c.campaigns_per_customer * c.ad_groups_per_campaign
        );
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let a = figures(&c, 42, &groups[0], day, 0);
        let b = figures(&c, 42, &groups[0], day, 1);
        assert_eq!(a.clicks, b.clicks);
        if a.clicks > 0 {
            assert!(b.conversions > a.conversions);
        }
        assert_eq!(a.cost_micros % 10_000, 0);
    }
}

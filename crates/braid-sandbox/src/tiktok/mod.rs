//! TikTok API for Business (Marketing API v1.3) emulation: advertiser info,
//! campaign/ad group/ad lists and the synchronous integrated report.
//!
//! Wire format as TikTok documents it: every answer is HTTP 200 with
//! `{"code", "message", "request_id", "data"}`, and `code != 0` is the
//! error (40100 the app's QPS limit, 40104 no `Access-Token`, 40105 a token
//! that is wrong or revoked, 40001 no permission on the advertiser, 40002
//! bad parameter, 50000 system error). The token travels in the
//! `Access-Token` header. Lists and reports page with `page`/`page_size`
//! (≤ 1000) and answer `page_info {page, page_size, total_number,
//! total_page}`. Array and object parameters (`advertiser_ids`, `fields`,
//! `dimensions`, `metrics`, `filtering`) are JSON in the query string. Ids
//! are 19-digit strings. Report days are the advertiser's time zone
//! (`stat_time_day` as `2026-12-01 00:00:00`), a `stat_time_day` report spans
//! at most 30 days, and metrics come back as strings.
//!
//! Admin: `POST /_sandbox/tiktok/restate {"days": n}` (the figures of each
//! account's last n days change: late conversions), `POST
//! /_sandbox/tiktok/extra_field {"name": "…"}` (every list item and report
//! row carries a field nobody asked for), `POST /_sandbox/tiktok/revoke`
//! (the configured token answers 40105 from then on). An injected 429 fault
//! answers as TikTok does: HTTP 200 with code 40100.

// Handlers return a ready `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

mod data;

pub use data::{
    account_locale, ad, ad_figures, ad_id, adgroup, adgroup_figures, adgroup_id, advertiser,
    advertiser_id, campaign, campaign_figures, campaign_id, Figures, Shape,
};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Days, NaiveDate};
use serde::Deserialize;

/// Settings of the TikTok emulation. `Debug` redacts the token.
#[derive(Clone)]
pub struct TikTokConfig {
    /// The developer app's id (named in rate-limit messages).
    pub app_id: String,
    /// The long-lived access token the advertisers authorised.
    pub access_token: String,
    /// Advertiser accounts (currencies and zones cycle USD/New York,
    /// EUR/Berlin, JPY/Tokyo, GBP/London).
    pub advertisers: u64,
    /// Campaigns per advertiser.
    pub campaigns_per_advertiser: u64,
    /// Ad groups per campaign.
    pub adgroups_per_campaign: u64,
    /// Ads per ad group.
    pub ads_per_adgroup: u64,
    /// Days of report history up to each account's today.
    pub history_days: u32,
    /// Requests per second before code 40100 (`None` = unlimited).
    pub requests_per_second: Option<u32>,
}

impl std::fmt::Debug for TikTokConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TikTokConfig")
            .field("app_id", &self.app_id)
            .field("access_token", &"<redacted>")
            .field("advertisers", &self.advertisers)
            .field("campaigns_per_advertiser", &self.campaigns_per_advertiser)
            .field("adgroups_per_campaign", &self.adgroups_per_campaign)
            .field("ads_per_adgroup", &self.ads_per_adgroup)
            .field("history_days", &self.history_days)
            .field("requests_per_second", &self.requests_per_second)
            .finish()
    }
}

impl Default for TikTokConfig {
    fn default() -> Self {
        Self {
            app_id: "7412000000000000001".into(),
            access_token: "sandbox-tiktok-token".into(),
            advertisers: 2,
            campaigns_per_advertiser: 12,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 2,
            history_days: 45,
            requests_per_second: Some(20),
        }
    }
}

impl TikTokConfig {
    /// The account tree's shape.
    pub fn shape(&self) -> Shape {
        Shape {
            campaigns: self.campaigns_per_advertiser,
            adgroups: self.adgroups_per_campaign,
            ads: self.ads_per_adgroup,
        }
    }
}

#[derive(Debug, Default)]
struct Mutable {
    /// Restatements per (advertiser index, day).
    revisions: BTreeMap<(u64, NaiveDate), u32>,
    extra_field: Option<String>,
    revoked: bool,
}

/// Shared state of the emulation.
#[derive(Debug)]
pub(crate) struct TikTok {
    pub(crate) config: TikTokConfig,
    seed: u64,
    state: Mutex<Mutable>,
}

impl TikTok {
    pub(crate) fn new(config: TikTokConfig, seed: u64) -> Self {
        Self {
            config,
            seed,
            state: Mutex::new(Mutable::default()),
        }
    }

    pub(crate) fn reset(&self) {
        *self.lock() = Mutable::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn revision(&self, a: u64, day: NaiveDate) -> u32 {
        self.lock().revisions.get(&(a, day)).copied().unwrap_or(0)
    }
}

/// Today in the time zone of advertiser `a`.
pub fn today_for(a: u64) -> NaiveDate {
    let tz: chrono_tz::Tz = account_locale(a).1.parse().unwrap_or(chrono_tz::UTC);
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

/// The first day with report data of advertiser `a`.
pub fn first_report_day(config: &TikTokConfig, a: u64) -> NaiveDate {
    today_for(a)
        .checked_sub_days(Days::new(u64::from(config.history_days.max(1) - 1)))
        .unwrap_or(NaiveDate::MIN)
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/open_api/v1.3/advertiser/info/", get(advertiser_info))
        .route("/open_api/v1.3/campaign/get/", get(campaign_get))
        .route("/open_api/v1.3/adgroup/get/", get(adgroup_get))
        .route("/open_api/v1.3/ad/get/", get(ad_get))
        .route("/open_api/v1.3/report/integrated/get/", get(report))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/tiktok/restate", post(restate))
        .route("/_sandbox/tiktok/extra_field", post(extra_field))
        .route("/_sandbox/tiktok/revoke", post(revoke))
}

/// What the demo's TikTok pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, c: &TikTokConfig, seed: u64) -> Vec<(String, String)> {
    let ids: Vec<String> = (0..c.advertisers)
        .map(|a| advertiser_id(seed, a).to_string())
        .collect();
    let start = (0..c.advertisers)
        .map(|a| first_report_day(c, a))
        .min()
        .unwrap_or(NaiveDate::MIN);
    vec![
        ("TIKTOK_BASE_URL".into(), base_url.into()),
        ("TIKTOK_ACCESS_TOKEN".into(), c.access_token.clone()),
        ("TIKTOK_ADVERTISER_IDS".into(), ids.join(",")),
        ("TIKTOK_START_DATE".into(), start.to_string()),
    ]
}

/// A request id in TikTok's shape (UTC time + hex).
fn request_id() -> String {
    format!(
        "{}{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        &crate::correlation_id().replace('-', "")[..18].to_uppercase()
    )
}

fn envelope(status: StatusCode, code: i64, message: &str, data: serde_json::Value) -> Response {
    let body = serde_json::json!({
        "code": code,
        "message": message,
        "request_id": request_id(),
        "data": data,
    });
    let mut r = Response::new(axum::body::Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn ok(data: serde_json::Value) -> Response {
    envelope(StatusCode::OK, 0, "OK", data)
}

fn error(code: i64, message: &str) -> Response {
    envelope(StatusCode::OK, code, message, serde_json::json!({}))
}

fn bad_param(message: &str) -> Response {
    error(40002, message)
}

fn rate_limited(app_id: &str, limit: u32) -> Response {
    error(
        40100,
        &format!(
            "App {app_id} reaches the QPS limit {limit}, current QPS is {}. Please retry later.",
            limit + 1
        ),
    )
}

/// TikTok's answer to an injected status fault: a 429 is its rate-limit
/// code on HTTP 200; other statuses are the gateway's, with the envelope's
/// system error.
pub(crate) fn fault_response(state: &crate::AppState, status: StatusCode) -> Response {
    match status.as_u16() {
        429 => rate_limited(&state.tiktok.config.app_id, 10),
        401 => error(40105, "Access token is incorrect or has been revoked."),
        _ => envelope(
            status,
            50000,
            "System error. Please try again later.",
            serde_json::json!({}),
        ),
    }
}

/// `Access-Token` auth and the app's per-second budget.
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let tt = &app.tiktok;
    let token = req
        .headers()
        .get("access-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return error(
            40104,
            "Access token is null. Please pass it in the Access-Token header.",
        );
    }
    if token != tt.config.access_token || tt.lock().revoked {
        return error(40105, "Access token is incorrect or has been revoked.");
    }
    if let Some(limit) = tt.config.requests_per_second {
        if app.spend("tiktok:app", limit).is_none() {
            return rate_limited(&tt.config.app_id, limit);
        }
    }
    next.run(req).await
}

/// A JSON array parameter (strings or numbers) as strings.
fn json_list(q: &BTreeMap<String, String>, key: &str) -> Result<Option<Vec<String>>, Response> {
    let Some(raw) = q.get(key) else {
        return Ok(None);
    };
    let v: Vec<serde_json::Value> = serde_json::from_str(raw).map_err(|_| {
        bad_param(&format!(
            "{key}: Invalid value. It should be a JSON array, got {raw}"
        ))
    })?;
    Ok(Some(
        v.into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
    ))
}

/// The index of an advertiser id the token may read.
fn advertiser_index(app: &crate::AppState, raw: &str) -> Result<u64, Response> {
    let tt = &app.tiktok;
    let id: u64 = raw
        .trim()
        .parse()
        .map_err(|_| bad_param(&format!("advertiser_id: Invalid value {raw}")))?;
    (0..tt.config.advertisers)
        .find(|a| advertiser_id(tt.seed, *a) == id)
        .ok_or_else(|| error(40001, &format!("No permission to operate advertiser {id}.")))
}

fn required_advertiser(
    app: &crate::AppState,
    q: &BTreeMap<String, String>,
) -> Result<u64, Response> {
    match q.get("advertiser_id") {
        Some(raw) => advertiser_index(app, raw),
        None => Err(bad_param("advertiser_id: Missing data for required field.")),
    }
}

fn paging(q: &BTreeMap<String, String>) -> Result<(u64, u64), Response> {
    let page = match q.get("page") {
        None => 1,
        Some(p) => p.parse::<u64>().ok().filter(|p| *p >= 1).ok_or_else(|| {
            bad_param(&format!(
                "page: Must be greater than or equal to 1, got {p}"
            ))
        })?,
    };
    let size = match q.get("page_size") {
        None => 10,
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=1000).contains(s))
            .ok_or_else(|| bad_param(&format!("page_size: Must be between 1 and 1000, got {p}")))?,
    };
    Ok((page, size))
}

fn page_info(page: u64, size: u64, total: u64) -> serde_json::Value {
    serde_json::json!({
        "page": page,
        "page_size": size,
        "total_number": total,
        "total_page": total.div_ceil(size),
    })
}

fn with_extra(app: &crate::AppState, mut v: serde_json::Value) -> serde_json::Value {
    if let Some(name) = &app.tiktok.lock().extra_field {
        if let Some(o) = v.as_object_mut() {
            o.insert(name.clone(), serde_json::json!({"added_by": "sandbox"}));
        }
    }
    v
}

/// Keeps only `fields` (when given) of an item; an unknown field is a 40002.
fn select(
    item: serde_json::Value,
    fields: Option<&[String]>,
) -> Result<serde_json::Value, Response> {
    let Some(fields) = fields else {
        return Ok(item);
    };
    let serde_json::Value::Object(mut all) = item else {
        return Ok(item);
    };
    let mut out = serde_json::Map::new();
    for f in fields {
        match all.remove(f) {
            Some(v) => {
                out.insert(f.clone(), v);
            }
            None => return Err(bad_param(&format!("fields: Invalid field {f}"))),
        }
    }
    Ok(serde_json::Value::Object(out))
}

async fn advertiser_info(
    State(app): State<Arc<crate::AppState>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = crate::query_pairs(raw.as_deref());
    let ids = match json_list(&q, "advertiser_ids") {
        Ok(Some(ids)) if !ids.is_empty() && ids.len() <= 100 => ids,
        Ok(_) => return bad_param("advertiser_ids: Length must be between 1 and 100."),
        Err(r) => return r,
    };
    let fields = match json_list(&q, "fields") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut out = Vec::new();
    for id in &ids {
        let a = match advertiser_index(&app, id) {
            Ok(a) => a,
            Err(r) => return r,
        };
        match select(
            with_extra(&app, advertiser(app.tiktok.seed, a)),
            fields.as_deref(),
        ) {
            Ok(v) => out.push(v),
            Err(r) => return r,
        }
    }
    ok(serde_json::json!({"list": out}))
}

/// One page of `total` generated items.
fn list_page(
    app: &crate::AppState,
    q: &BTreeMap<String, String>,
    total: u64,
    item: impl Fn(u64) -> serde_json::Value,
) -> Response {
    let (page, size) = match paging(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(f) = q.get("filtering") {
        if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(f).is_err() {
            return bad_param(&format!("filtering: Invalid JSON object {f}"));
        }
    }
    let fields = match json_list(q, "fields") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let start = (page - 1) * size;
    let mut list = Vec::new();
    for i in start..(start + size).min(total) {
        match select(with_extra(app, item(i)), fields.as_deref()) {
            Ok(v) => list.push(v),
            Err(r) => return r,
        }
    }
    ok(serde_json::json!({"list": list, "page_info": page_info(page, size, total)}))
}

async fn campaign_get(
    State(app): State<Arc<crate::AppState>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = crate::query_pairs(raw.as_deref());
    let a = match required_advertiser(&app, &q) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (seed, s) = (app.tiktok.seed, app.tiktok.config.shape());
    list_page(&app, &q, s.campaigns, |c| campaign(seed, &s, a, c))
}

async fn adgroup_get(State(app): State<Arc<crate::AppState>>, RawQuery(raw): RawQuery) -> Response {
    let q = crate::query_pairs(raw.as_deref());
    let a = match required_advertiser(&app, &q) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (seed, s) = (app.tiktok.seed, app.tiktok.config.shape());
    list_page(&app, &q, s.campaigns * s.adgroups, |i| {
        adgroup(seed, &s, a, i / s.adgroups, i % s.adgroups)
    })
}

async fn ad_get(State(app): State<Arc<crate::AppState>>, RawQuery(raw): RawQuery) -> Response {
    let q = crate::query_pairs(raw.as_deref());
    let a = match required_advertiser(&app, &q) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (seed, s) = (app.tiktok.seed, app.tiktok.config.shape());
    let per_c = s.adgroups * s.ads;
    list_page(&app, &q, s.campaigns * per_c, |i| {
        ad(seed, &s, a, i / per_c, (i % per_c) / s.ads, i % s.ads)
    })
}

/// Report levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Campaign,
    Adgroup,
    Ad,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        match s {
            "AUCTION_CAMPAIGN" => Some(Level::Campaign),
            "AUCTION_ADGROUP" => Some(Level::Adgroup),
            "AUCTION_AD" => Some(Level::Ad),
            _ => None,
        }
    }

    fn id_dimension(self) -> &'static str {
        match self {
            Level::Campaign => "campaign_id",
            Level::Adgroup => "adgroup_id",
            Level::Ad => "ad_id",
        }
    }
}

const METRICS: &[&str] = &[
    "spend",
    "impressions",
    "clicks",
    "conversion",
    "ctr",
    "cpc",
    "currency",
    "campaign_name",
    "campaign_id",
    "adgroup_name",
    "adgroup_id",
    "ad_name",
];

fn parse_day(q: &BTreeMap<String, String>, key: &str) -> Result<NaiveDate, Response> {
    let raw = q
        .get(key)
        .ok_or_else(|| bad_param(&format!("{key}: Missing data for required field.")))?;
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        bad_param(&format!(
            "{key}: Invalid date format, expected YYYY-MM-DD: {raw}"
        ))
    })
}

/// `GET /open_api/v1.3/report/integrated/get/`: a BASIC auction report by day.
async fn report(State(app): State<Arc<crate::AppState>>, RawQuery(raw): RawQuery) -> Response {
    let q = crate::query_pairs(raw.as_deref());
    match q.get("report_type").map(String::as_str) {
        Some("BASIC") => {}
        Some(other) => {
            return bad_param(&format!(
                "report_type: Unsupported report type {other} in this sandbox"
            ))
        }
        None => return bad_param("report_type: Missing data for required field."),
    }
    if q.get("service_type").is_some_and(|s| s != "AUCTION") {
        return bad_param("service_type: Only AUCTION is supported in this sandbox");
    }
    let a = match required_advertiser(&app, &q) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(level) = q.get("data_level").and_then(|d| Level::parse(d)) else {
        return bad_param("data_level: Must be one of AUCTION_ADVERTISER, AUCTION_CAMPAIGN, AUCTION_ADGROUP, AUCTION_AD.");
    };
    let dims = match json_list(&q, "dimensions") {
        Ok(Some(d)) if !d.is_empty() => d,
        Ok(_) => return bad_param("dimensions: Missing data for required field."),
        Err(r) => return r,
    };
    let metrics = match json_list(&q, "metrics") {
        Ok(Some(m)) => m,
        Ok(None) => vec!["spend".into(), "impressions".into()],
        Err(r) => return r,
    };
    if let Some(m) = metrics.iter().find(|m| !METRICS.contains(&m.as_str())) {
        return bad_param(&format!("metrics: Invalid metric {m}"));
    }
    // Attribute metrics must not be finer than the level.
    let finer = |m: &str| match level {
        Level::Campaign => m.starts_with("adgroup_") || m.starts_with("ad_"),
        Level::Adgroup => m.starts_with("ad_"),
        Level::Ad => false,
    };
    if let Some(m) = metrics.iter().find(|m| finer(m)) {
        return bad_param(&format!("metrics: {m} is not available at this data_level"));
    }
    let id_dim = level.id_dimension();
    let mut sorted = dims.clone();
    sorted.sort();
    let mut want = vec![id_dim.to_owned(), "stat_time_day".to_owned()];
    want.sort();
    if sorted != want {
        return bad_param(&format!(
            "dimensions: This sandbox serves [\"{id_dim}\", \"stat_time_day\"] at this data_level, got {dims:?}"
        ));
    }
    let (start, end) = match (parse_day(&q, "start_date"), parse_day(&q, "end_date")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if end < start {
        return bad_param("end_date: Must not be earlier than start_date.");
    }
    if (end - start).num_days() + 1 > 30 {
        return bad_param("The time span between start_date and end_date can not exceed 30 days when stat_time_day is a dimension.");
    }
    let (page, size) = match paging(&q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let tt = &app.tiktok;
    let (seed, s) = (tt.seed, tt.config.shape());
    let first = first_report_day(&tt.config, a);
    let today = today_for(a);
    let (currency, _) = account_locale(a);
    let entities = match level {
        Level::Campaign => s.campaigns,
        Level::Adgroup => s.campaigns * s.adgroups,
        Level::Ad => s.campaigns * s.adgroups * s.ads,
    };
    // Rows in (day, entity) order; days outside the history have none.
    let mut rows: Vec<(NaiveDate, u64, Figures)> = Vec::new();
    let mut day = start.max(first);
    while day <= end.min(today) {
        let rev = tt.revision(a, day);
        for e in 0..entities {
            let f = match level {
                Level::Campaign => campaign_figures(seed, &s, a, e, day, rev),
                Level::Adgroup => {
                    adgroup_figures(seed, &s, a, e / s.adgroups, e % s.adgroups, day, rev)
                }
                Level::Ad => ad_figures(
                    seed,
                    s.campaign_index(a, 0) * s.adgroups * s.ads + e,
                    day,
                    rev,
                ),
            };
            if let Some(f) = f {
                rows.push((day, e, f));
            }
        }
        day = match day.succ_opt() {
            Some(d) => d,
            None => break,
        };
    }
    let total = rows.len() as u64;
    let from = ((page - 1) * size) as usize;
    let per_c = s.adgroups * s.ads;
    let out: Vec<serde_json::Value> = rows
        .iter()
        .skip(from)
        .take(size as usize)
        .map(|(day, e, f)| {
            // (campaign, ad group, ad) indices within the advertiser.
            let (c, g, k) = match level {
                Level::Campaign => (*e, 0, 0),
                Level::Adgroup => (e / s.adgroups, e % s.adgroups, 0),
                Level::Ad => (e / per_c, (e % per_c) / s.ads, e % s.ads),
            };
            let cid = campaign_id(seed, s.campaign_index(a, c)).to_string();
            let gid = adgroup_id(seed, s.adgroup_index(a, c, g)).to_string();
            let kid = ad_id(seed, s.ad_index(a, c, g, k)).to_string();
            let mut d = serde_json::Map::new();
            d.insert("stat_time_day".into(), format!("{day} 00:00:00").into());
            d.insert(
                id_dim.into(),
                match level {
                    Level::Campaign => cid.clone(),
                    Level::Adgroup => gid.clone(),
                    Level::Ad => kid.clone(),
                }
                .into(),
            );
            let mut m = serde_json::Map::new();
            for metric in &metrics {
                let v: String = match metric.as_str() {
                    "spend" => f.spend(),
                    "impressions" => f.impressions.to_string(),
                    "clicks" => f.clicks.to_string(),
                    "conversion" => f.conversion.to_string(),
                    "ctr" => format!(
                        "{:.2}",
                        f.clicks as f64 * 100.0 / f.impressions.max(1) as f64
                    ),
                    "cpc" => format!(
                        "{:.2}",
                        f.spend_cents as f64 / 100.0 / f.clicks.max(1) as f64
                    ),
                    "currency" => currency.into(),
                    "campaign_id" => cid.clone(),
                    "adgroup_id" => gid.clone(),
                    "campaign_name" => campaign(seed, &s, a, c)["campaign_name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    "adgroup_name" => adgroup(seed, &s, a, c, g)["adgroup_name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    _ => ad(seed, &s, a, c, g, k)["ad_name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                };
                m.insert(metric.clone(), v.into());
            }
            with_extra(&app, serde_json::json!({"dimensions": d, "metrics": m}))
        })
        .collect();
    ok(serde_json::json!({
        "list": out,
        "page_info": page_info(page, size, total),
    }))
}

#[derive(Debug, Deserialize)]
struct Restate {
    days: u32,
}

/// The last `days` days (to each account's today) get new figures.
async fn restate(State(app): State<Arc<crate::AppState>>, Json(r): Json<Restate>) -> Response {
    let tt = &app.tiktok;
    let mut changed = Vec::new();
    let mut s = tt.lock();
    for a in 0..tt.config.advertisers {
        let today = today_for(a);
        for back in 0..r.days {
            if let Some(d) = today.checked_sub_days(Days::new(back.into())) {
                *s.revisions.entry((a, d)).or_default() += 1;
                changed.push(serde_json::json!({"advertiser_id": advertiser_id(tt.seed, a).to_string(), "day": d.to_string()}));
            }
        }
    }
    Json(serde_json::json!({"restated": changed})).into_response()
}

#[derive(Debug, Deserialize)]
struct ExtraField {
    name: String,
}

async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(r): Json<ExtraField>,
) -> Response {
    app.tiktok.lock().extra_field = Some(r.name.clone());
    Json(serde_json::json!({"field": r.name})).into_response()
}

async fn revoke(State(app): State<Arc<crate::AppState>>) -> Response {
    app.tiktok.lock().revoked = true;
    Json(serde_json::json!({"revoked": true})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sandbox, SandboxConfig};

    const TOKEN: &str = "sandbox-tiktok-token";

    async fn start() -> Sandbox {
        let mut c = SandboxConfig::default();
        c.tiktok.campaigns_per_advertiser = 25;
        c.tiktok.history_days = 40;
        Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }

    async fn get(sb: &Sandbox, path: &str, token: &str) -> serde_json::Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", sb.base_url()))
            .header("Access-Token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "TikTok answers errors with HTTP 200");
        r.json().await.unwrap()
    }

    #[tokio::test]
    async fn lists_page_with_page_info_ids_are_strings_and_fields_select() {
        let sb = start().await;
        let adv = advertiser_id(42, 1);
        let v = get(
            &sb,
            &format!("/open_api/v1.3/campaign/get/?advertiser_id={adv}&page=3&page_size=10"),
            TOKEN,
        )
        .await;
        assert_eq!(v["code"], 0, "{v}");
        assert!(v["request_id"].as_str().is_some_and(|r| r.len() > 14));
        assert_eq!(v["data"]["page_info"]["total_page"], 3);
        assert_eq!(v["data"]["page_info"]["total_number"], 25);
        let list = v["data"]["list"].as_array().unwrap();
        assert_eq!(list.len(), 5);
        let s = SandboxConfig::default().tiktok;
        let shape = Shape {
            campaigns: 25,
            ..s.shape()
        };
        assert_eq!(
            list[0]["campaign_id"].as_str(),
            Some(
                campaign_id(42, shape.campaign_index(1, 20))
                    .to_string()
                    .as_str()
            )
        );
        let v = get(
            &sb,
            &format!("/open_api/v1.3/ad/get/?advertiser_id={adv}&page_size=1000&fields=%5B%22ad_id%22%2C%22ad_name%22%5D"),
            TOKEN,
        )
        .await;
        let list = v["data"]["list"].as_array().unwrap();
        assert_eq!(list.len(), 25 * 2 * 2);
        assert_eq!(list[0].as_object().unwrap().len(), 2, "{}", list[0]);
        let v = get(
            &sb,
            &format!("/open_api/v1.3/campaign/get/?advertiser_id={adv}&page_size=1001"),
            TOKEN,
        )
        .await;
        assert_eq!(v["code"], 40002, "{v}");
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn tokens_and_permissions_are_refused_with_codes_on_http_200() {
        let sb = start().await;
        let adv = advertiser_id(42, 0);
        let path = format!("/open_api/v1.3/advertiser/info/?advertiser_ids=%5B%22{adv}%22%5D");
        let v = get(&sb, &path, TOKEN).await;
        assert_eq!(
            v["data"]["list"][0]["advertiser_id"],
            adv.to_string(),
            "{v}"
        );
        assert_eq!(v["data"]["list"][0]["currency"], "USD");
        assert_eq!(get(&sb, &path, "nope").await["code"], 40105);
        assert_eq!(get(&sb, &path, "").await["code"], 40104);
        let other = get(&sb, "/open_api/v1.3/campaign/get/?advertiser_id=123", TOKEN).await;
        assert_eq!(other["code"], 40001, "{other}");
        reqwest::Client::new()
            .post(format!("{}/_sandbox/tiktok/revoke", sb.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(get(&sb, &path, TOKEN).await["code"], 40105);
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn reports_cap_the_span_page_and_change_after_a_restatement() {
        let sb = start().await;
        let adv = advertiser_id(42, 0);
        let today = today_for(0);
        let from = today - chrono::Duration::days(2);
        let path = |page: u32, start: NaiveDate| {
            format!("/open_api/v1.3/report/integrated/get/?advertiser_id={adv}&report_type=BASIC&service_type=AUCTION&data_level=AUCTION_CAMPAIGN&dimensions=%5B%22campaign_id%22%2C%22stat_time_day%22%5D&metrics=%5B%22spend%22%2C%22conversion%22%2C%22campaign_name%22%5D&start_date={start}&end_date={today}&page={page}&page_size=1000")
        };
        let v = get(&sb, &path(1, from), TOKEN).await;
        assert_eq!(v["code"], 0, "{v}");
        let rows = v["data"]["list"].as_array().unwrap().clone();
        let shape = Shape {
            campaigns: 25,
            ..SandboxConfig::default().tiktok.shape()
        };
        let expected: usize = (0..3)
            .map(|b| {
                let d = from + chrono::Duration::days(b);
                (0..25)
                    .filter(|c| campaign_figures(42, &shape, 0, *c, d, 0).is_some())
                    .count()
            })
            .sum();
        assert_eq!(rows.len(), expected);
        assert_eq!(v["data"]["page_info"]["total_number"], expected as u64);
        assert!(rows[0]["metrics"]["spend"].as_str().unwrap().contains('.'));
        assert!(rows[0]["dimensions"]["stat_time_day"]
            .as_str()
            .unwrap()
            .ends_with(" 00:00:00"));
        reqwest::Client::new()
            .post(format!("{}/_sandbox/tiktok/restate", sb.base_url()))
            .json(&serde_json::json!({"days": 1}))
            .send()
            .await
            .unwrap();
        let again = get(&sb, &path(1, from), TOKEN).await;
        let on = |rows: &[serde_json::Value], d: NaiveDate| -> Vec<serde_json::Value> {
            rows.iter()
                .filter(|r| r["dimensions"]["stat_time_day"] == format!("{d} 00:00:00"))
                .cloned()
                .collect()
        };
        let again = again["data"]["list"].as_array().unwrap().clone();
        assert_ne!(on(&rows, today), on(&again, today));
        assert_eq!(on(&rows, from), on(&again, from), "older days unchanged");
        let far = from - chrono::Duration::days(40);
        assert_eq!(get(&sb, &path(1, far), TOKEN).await["code"], 40002);
        // An ad-level attribute at campaign level is refused.
        let bad = path(1, from).replace("campaign_name", "ad_name");
        assert_eq!(get(&sb, &bad, TOKEN).await["code"], 40002);
        sb.shutdown().await;
    }
}

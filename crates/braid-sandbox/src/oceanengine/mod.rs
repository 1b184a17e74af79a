//! Ocean Engine (巨量引擎) Marketing API emulation: advertiser info, v3
//! project and promotion lists, the v3 custom report, and the token refresh.
//!
//! Wire format as Ocean Engine documents it: every answer is HTTP 200 with
//! `{"code", "message", "request_id", "data"}`, and `code != 0` is the error
//! (40100 too many requests, 40102 access token expired, 40104 no token,
//! 40105 token invalid, 40001 bad parameter, 50000 system error). The token
//! travels in the `Access-Token` header. Lists page with `page`/`page_size`
//! and answer `page_info {page, page_size, total_number, total_page}`.
//! Complex query parameters (`filtering`, `dimensions`, `metrics`, `fields`)
//! are JSON in the query string. Report dates are Asia/Shanghai days; a
//! report request spans at most 30 days.
//!
//! Admin: `POST /_sandbox/oceanengine/expire_tokens` (every issued access
//! token answers 40102 from then on), `POST /_sandbox/oceanengine/restate
//! {"days": n}` (the figures of the last n days change: late conversions),
//! `POST /_sandbox/oceanengine/extra_field {"name": "…"}` (every list item
//! and report row carries a field nobody asked for). An injected 429 fault
//! answers as Ocean Engine does: HTTP 200 with code 40100.

// Handlers return a ready `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

mod data;

pub use data::{
    advertiser, advertiser_id, project, project_figures, project_id, promotion, promotion_figures,
    promotion_id, Advertiser, Figures, Project, Promotion,
};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Days, NaiveDate};
use serde::Deserialize;

/// Settings of the Ocean Engine emulation. `Debug` redacts the secrets.
#[derive(Clone)]
pub struct OceanEngineConfig {
    /// The developer app's id.
    pub app_id: String,
    /// The app's secret.
    pub secret: String,
    /// A refresh token the token endpoint accepts.
    pub refresh_token: String,
    /// An access token accepted from the start (as if granted earlier).
    pub access_token: String,
    /// Advertiser accounts.
    pub advertisers: u64,
    /// Projects per advertiser.
    pub projects_per_advertiser: u64,
    /// Promotions per project.
    pub promotions_per_project: u64,
    /// Days of report history up to today (Asia/Shanghai).
    pub history_days: u32,
    /// Requests per second before code 40100 (`None` = unlimited).
    pub requests_per_second: Option<u32>,
    /// Seconds an issued access token lives (`expires_in`).
    pub token_ttl_secs: u64,
}

impl std::fmt::Debug for OceanEngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OceanEngineConfig")
            .field("app_id", &self.app_id)
            .field("secret", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("access_token", &"<redacted>")
            .field("advertisers", &self.advertisers)
            .field("projects_per_advertiser", &self.projects_per_advertiser)
            .field("promotions_per_project", &self.promotions_per_project)
            .field("history_days", &self.history_days)
            .field("requests_per_second", &self.requests_per_second)
            .finish()
    }
}

impl Default for OceanEngineConfig {
    fn default() -> Self {
        Self {
            app_id: "1780000000000001".into(),
            secret: "sandbox-oceanengine-secret".into(),
            refresh_token: "sandbox-oceanengine-refresh".into(),
            access_token: "sandbox-oceanengine-token".into(),
            advertisers: 2,
            projects_per_advertiser: 40,
            promotions_per_project: 3,
            history_days: 45,
            requests_per_second: Some(50),
            token_ttl_secs: 86_400,
        }
    }
}

#[derive(Debug, Default)]
struct Mutable {
    /// Access tokens that work.
    valid: BTreeSet<String>,
    /// Access tokens that expired (answer 40102, not 40105).
    expired: BTreeSet<String>,
    /// Refresh tokens issued (the configured one always works).
    refresh: BTreeSet<String>,
    issued: u64,
    /// Restatements per day.
    revisions: BTreeMap<NaiveDate, u32>,
    extra_field: Option<String>,
}

/// Shared state of the emulation.
#[derive(Debug)]
pub(crate) struct OceanEngine {
    pub(crate) config: OceanEngineConfig,
    seed: u64,
    state: Mutex<Mutable>,
}

impl OceanEngine {
    pub(crate) fn new(config: OceanEngineConfig, seed: u64) -> Self {
        let s = Mutable {
            valid: [config.access_token.clone()].into(),
            ..Mutable::default()
        };
        Self {
            config,
            seed,
            state: Mutex::new(s),
        }
    }

    pub(crate) fn reset(&self) {
        let mut s = self.lock();
        s.revisions.clear();
        s.extra_field = None;
        s.expired.clear();
        s.valid.insert(self.config.access_token.clone());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn revision(&self, day: NaiveDate) -> u32 {
        self.lock().revisions.get(&day).copied().unwrap_or(0)
    }
}

/// Today in Asia/Shanghai (UTC+8 all year).
pub fn today_shanghai() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive()
}

/// The first day with report data for `config`.
pub fn first_report_day(config: &OceanEngineConfig) -> NaiveDate {
    today_shanghai()
        .checked_sub_days(Days::new(u64::from(config.history_days.max(1) - 1)))
        .unwrap_or(NaiveDate::MIN)
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    let api = Router::new()
        .route("/open_api/2/advertiser/info/", get(advertiser_info))
        .route("/open_api/v3.0/project/list/", get(project_list))
        .route("/open_api/v3.0/promotion/list/", get(promotion_list))
        .route("/open_api/v3.0/report/custom/get/", get(custom_report))
        .route_layer(axum::middleware::from_fn_with_state(state, gate));
    api.route("/open_api/oauth2/refresh_token/", post(refresh_token))
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/oceanengine/expire_tokens", post(expire_tokens))
        .route("/_sandbox/oceanengine/restate", post(restate))
        .route("/_sandbox/oceanengine/extra_field", post(extra_field))
}

/// What the demo's Ocean Engine pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, c: &OceanEngineConfig, seed: u64) -> Vec<(String, String)> {
    let ids: Vec<String> = (0..c.advertisers)
        .map(|a| advertiser_id(seed, a).to_string())
        .collect();
    vec![
        ("OCEANENGINE_BASE_URL".into(), base_url.into()),
        ("OCEANENGINE_APP_ID".into(), c.app_id.clone()),
        ("OCEANENGINE_SECRET".into(), c.secret.clone()),
        ("OCEANENGINE_REFRESH_TOKEN".into(), c.refresh_token.clone()),
        ("OCEANENGINE_ACCESS_TOKEN".into(), c.access_token.clone()),
        ("OCEANENGINE_ADVERTISER_IDS".into(), ids.join(",")),
        (
            "OCEANENGINE_START_DATE".into(),
            first_report_day(c).to_string(),
        ),
    ]
}

/// A request id in Ocean Engine's shape (time + hex).
fn request_id() -> String {
    let now = chrono::Utc::now() + chrono::Duration::hours(8);
    format!(
        "{}{}",
        now.format("%Y%m%d%H%M%S"),
        &crate::correlation_id().replace('-', "")[..18].to_uppercase()
    )
}

/// Ocean Engine's envelope with `data`, always HTTP 200 unless `status` says otherwise.
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
    error(40001, message)
}

fn rate_limited() -> Response {
    error(40100, "请求过于频繁，请稍后再试")
}

/// Ocean Engine's answer to an injected status fault: a 429 is its
/// rate-limit code on HTTP 200; other statuses are the gateway's, with the
/// envelope's system error.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    match status.as_u16() {
        429 => rate_limited(),
        401 => error(40105, "access_token无效"),
        _ => envelope(status, 50000, "系统错误，请稍后重试", serde_json::json!({})),
    }
}

/// `Access-Token` auth and the per-second budget.
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let oe = &app.oceanengine;
    let token = req
        .headers()
        .get("access-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return error(40104, "access_token为空，请在请求头Access-Token中传入");
    }
    {
        let s = oe.lock();
        if s.expired.contains(token) {
            return error(40102, "access_token已过期，请使用refresh_token刷新");
        }
        if !s.valid.contains(token) {
            return error(40105, "access_token无效");
        }
    }
    if let Some(limit) = oe.config.requests_per_second {
        if app.spend("oceanengine:general", limit).is_none() {
            return rate_limited();
        }
    }
    next.run(req).await
}

#[derive(Debug, Deserialize)]
struct RefreshRequest {
    #[serde(default)]
    app_id: serde_json::Value,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    refresh_token: String,
}

/// `POST /open_api/oauth2/refresh_token/`: a new access token (and refresh token).
async fn refresh_token(
    State(app): State<Arc<crate::AppState>>,
    body: axum::body::Bytes,
) -> Response {
    let oe = &app.oceanengine;
    let req: RefreshRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_param(&format!("请求体不是合法的JSON: {e}")),
    };
    let app_id = match &req.app_id {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if req
        .grant_type
        .as_deref()
        .is_some_and(|g| g != "refresh_token")
    {
        return bad_param("grant_type 只允许 refresh_token");
    }
    if app_id != oe.config.app_id || req.secret != oe.config.secret {
        return error(40001, "app_id 或 secret 错误");
    }
    let mut s = oe.lock();
    if req.refresh_token != oe.config.refresh_token && !s.refresh.contains(&req.refresh_token) {
        return error(40107, "refresh_token无效");
    }
    s.issued += 1;
    let n = s.issued;
    let access = format!(
        "{:040x}",
        crate::rng::mix(oe.seed ^ n) as u128 * 0x1_0000 + n as u128
    );
    let refresh = format!("{:040x}", crate::rng::mix(oe.seed ^ n ^ 0xFEED) as u128);
    s.valid.insert(access.clone());
    s.refresh.insert(refresh.clone());
    drop(s);
    ok(serde_json::json!({
        "access_token": access,
        "expires_in": oe.config.token_ttl_secs,
        "refresh_token": refresh,
        "refresh_token_expires_in": 2_592_000,
    }))
}

fn query_pairs(raw: Option<&str>) -> BTreeMap<String, String> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                k.to_owned(),
                crate::hubspot::percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// A JSON array parameter (`["a","b"]`, or numbers).
fn json_list(q: &BTreeMap<String, String>, key: &str) -> Result<Option<Vec<String>>, Response> {
    let Some(raw) = q.get(key) else {
        return Ok(None);
    };
    let v: Vec<serde_json::Value> = serde_json::from_str(raw)
        .map_err(|_| bad_param(&format!("{key} 参数格式错误，应为JSON数组: {raw}")))?;
    Ok(Some(
        v.into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
    ))
}

/// The advertiser index of `advertiser_id`.
fn advertiser_index(app: &crate::AppState, raw: Option<&String>) -> Result<u64, Response> {
    let oe = &app.oceanengine;
    let Some(raw) = raw else {
        return Err(bad_param("advertiser_id 为必填参数"));
    };
    let id: u64 = raw
        .trim()
        .parse()
        .map_err(|_| bad_param(&format!("advertiser_id 格式错误: {raw}")))?;
    (0..oe.config.advertisers)
        .find(|a| advertiser_id(oe.seed, *a) == id)
        .ok_or_else(|| error(40002, &format!("没有权限访问广告主 {id}")))
}

fn paging(q: &BTreeMap<String, String>, default: u64, max: u64) -> Result<(u64, u64), Response> {
    let page = match q.get("page") {
        None => 1,
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| bad_param(&format!("page 必须为大于0的整数: {p}")))?,
    };
    let size = match q.get("page_size") {
        None => default,
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=max).contains(s))
            .ok_or_else(|| bad_param(&format!("page_size 取值范围为1-{max}: {p}")))?,
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
    if let Some(name) = &app.oceanengine.lock().extra_field {
        if let Some(o) = v.as_object_mut() {
            o.insert(
                name.clone(),
                serde_json::json!({"added_by": "sandbox", "n": 1}),
            );
        }
    }
    v
}

async fn advertiser_info(
    State(app): State<Arc<crate::AppState>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let ids = match json_list(&q, "advertiser_ids") {
        Ok(Some(ids)) if !ids.is_empty() && ids.len() <= 100 => ids,
        Ok(_) => return bad_param("advertiser_ids 为必填参数，最多100个"),
        Err(r) => return r,
    };
    let oe = &app.oceanengine;
    let mut out = Vec::new();
    for raw in &ids {
        match advertiser_index(&app, Some(raw)) {
            Ok(a) => out.push(with_extra(
                &app,
                serde_json::to_value(advertiser(oe.seed, a)).unwrap_or_default(),
            )),
            Err(r) => return r,
        }
    }
    ok(serde_json::Value::Array(out))
}

async fn project_list(
    State(app): State<Arc<crate::AppState>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let a = match advertiser_index(&app, q.get("advertiser_id")) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (page, size) = match paging(&q, 10, 100) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(f) = q.get("filtering") {
        if serde_json::from_str::<serde_json::Value>(f).is_err() {
            return bad_param(&format!("filtering 参数格式错误: {f}"));
        }
    }
    let oe = &app.oceanengine;
    let per = oe.config.projects_per_advertiser;
    let start = (page - 1) * size;
    let list: Vec<serde_json::Value> = (start..(start + size).min(per))
        .map(|p| {
            with_extra(
                &app,
                serde_json::to_value(project(oe.seed, a, p, per)).unwrap_or_default(),
            )
        })
        .collect();
    ok(serde_json::json!({"list": list, "page_info": page_info(page, size, per)}))
}

async fn promotion_list(
    State(app): State<Arc<crate::AppState>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let a = match advertiser_index(&app, q.get("advertiser_id")) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (page, size) = match paging(&q, 10, 100) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let oe = &app.oceanengine;
    let (per, pp) = (
        oe.config.projects_per_advertiser,
        oe.config.promotions_per_project,
    );
    let total = per * pp;
    let start = (page - 1) * size;
    let list: Vec<serde_json::Value> = (start..(start + size).min(total))
        .map(|i| {
            with_extra(
                &app,
                serde_json::to_value(promotion(oe.seed, a, i / pp, i % pp, per, pp))
                    .unwrap_or_default(),
            )
        })
        .collect();
    ok(serde_json::json!({"list": list, "page_info": page_info(page, size, total)}))
}

const METRICS: &[&str] = &["stat_cost", "show_cnt", "click_cnt", "convert_cnt"];

fn parse_day(q: &BTreeMap<String, String>, key: &str) -> Result<NaiveDate, Response> {
    let raw = q
        .get(key)
        .ok_or_else(|| bad_param(&format!("{key} 为必填参数")))?;
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| bad_param(&format!("{key} 格式应为YYYY-MM-DD: {raw}")))
}

/// `GET /open_api/v3.0/report/custom/get/`: daily figures per project or per promotion.
async fn custom_report(
    State(app): State<Arc<crate::AppState>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let a = match advertiser_index(&app, q.get("advertiser_id")) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let dims = match json_list(&q, "dimensions") {
        Ok(Some(d)) if !d.is_empty() => d,
        Ok(_) => return bad_param("dimensions 为必填参数"),
        Err(r) => return r,
    };
    let metrics = match json_list(&q, "metrics") {
        Ok(Some(m)) if !m.is_empty() => m,
        Ok(_) => return bad_param("metrics 为必填参数"),
        Err(r) => return r,
    };
    if let Some(m) = metrics.iter().find(|m| !METRICS.contains(&m.as_str())) {
        return bad_param(&format!("metrics 中包含不支持的指标: {m}"));
    }
    let level_promotion = dims.iter().any(|d| d == "cdp_promotion_id");
    let level_project = dims.iter().any(|d| d == "cdp_project_id");
    for d in &dims {
        let known = [
            "stat_time_day",
            "cdp_project_id",
            "cdp_project_name",
            "cdp_promotion_id",
            "cdp_promotion_name",
        ];
        if !known.contains(&d.as_str()) {
            return bad_param(&format!("dimensions 中包含不支持的维度: {d}"));
        }
    }
    if !dims.iter().any(|d| d == "stat_time_day") || level_promotion == level_project {
        return bad_param(
            "dimensions 需包含 stat_time_day 以及 cdp_project_id 或 cdp_promotion_id 之一",
        );
    }
    let (start, end) = match (parse_day(&q, "start_time"), parse_day(&q, "end_time")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if end < start {
        return bad_param("end_time 不能早于 start_time");
    }
    if (end - start).num_days() + 1 > 30 {
        return bad_param("时间跨度不能超过30天");
    }
    let (page, size) = match paging(&q, 20, 1000) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let oe = &app.oceanengine;
    let (per, pp) = (
        oe.config.projects_per_advertiser,
        oe.config.promotions_per_project,
    );
    let first = first_report_day(&oe.config);
    let today = today_shanghai();
    // Rows in (day, entity) order; days outside the history have none.
    let entities = if level_promotion { per * pp } else { per };
    let mut rows: Vec<(NaiveDate, u64, Figures)> = Vec::new();
    let mut day = start.max(first);
    while day <= end.min(today) {
        let rev = oe.revision(day);
        for e in 0..entities {
            let f = if level_promotion {
                promotion_figures(oe.seed, (a * per) * pp + e, day, rev)
            } else {
                project_figures(oe.seed, a, e, day, rev, per, pp)
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
    let out: Vec<serde_json::Value> = rows
        .iter()
        .skip(from)
        .take(size as usize)
        .map(|(day, e, f)| {
            let mut d = serde_json::Map::new();
            for dim in &dims {
                let v = match dim.as_str() {
                    "stat_time_day" => day.to_string(),
                    "cdp_project_id" => project_id(oe.seed, a, *e, per).to_string(),
                    "cdp_project_name" => project(oe.seed, a, *e, per).name,
                    "cdp_promotion_id" => {
                        promotion_id(oe.seed, a, e / pp, e % pp, per, pp).to_string()
                    }
                    _ => promotion(oe.seed, a, e / pp, e % pp, per, pp).promotion_name,
                };
                d.insert(dim.clone(), v.into());
            }
            let mut m = serde_json::Map::new();
            for metric in &metrics {
                let v = match metric.as_str() {
                    "stat_cost" => f.cost_yuan(),
                    "show_cnt" => f.show_cnt.to_string(),
                    "click_cnt" => f.click_cnt.to_string(),
                    _ => f.convert_cnt.to_string(),
                };
                m.insert(metric.clone(), v.into());
            }
            with_extra(&app, serde_json::json!({"dimensions": d, "metrics": m}))
        })
        .collect();
    ok(serde_json::json!({
        "rows": out,
        "total_metrics": {},
        "page_info": page_info(page, size, total),
    }))
}

async fn expire_tokens(State(app): State<Arc<crate::AppState>>) -> Response {
    let mut s = app.oceanengine.lock();
    let valid = std::mem::take(&mut s.valid);
    let n = valid.len();
    s.expired.extend(valid);
    Json(serde_json::json!({"expired": n})).into_response()
}

#[derive(Debug, Deserialize)]
struct Restate {
    days: u32,
}

/// The last `days` days (to today, Asia/Shanghai) get new figures.
async fn restate(State(app): State<Arc<crate::AppState>>, Json(r): Json<Restate>) -> Response {
    let today = today_shanghai();
    let mut s = app.oceanengine.lock();
    let mut changed = Vec::new();
    for back in 0..r.days {
        if let Some(d) = today.checked_sub_days(Days::new(back.into())) {
            *s.revisions.entry(d).or_default() += 1;
            changed.push(d.to_string());
        }
    }
    Json(serde_json::json!({"days": changed})).into_response()
}

#[derive(Debug, Deserialize)]
struct ExtraField {
    name: String,
}

async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(r): Json<ExtraField>,
) -> Response {
    app.oceanengine.lock().extra_field = Some(r.name.clone());
    Json(serde_json::json!({"field": r.name})).into_response()
}

/// Whether `headers` carry `token` in `Access-Token` (for tests of the gate).
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get("access-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim() == token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sandbox, SandboxConfig};

    async fn start() -> Sandbox {
        let mut c = SandboxConfig::default();
        c.oceanengine.projects_per_advertiser = 25;
        c.oceanengine.history_days = 40;
        Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }

    async fn get(sb: &Sandbox, path: &str, token: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}{path}", sb.base_url()))
            .header("Access-Token", token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn lists_page_with_page_info_and_ids_stay_exact() {
        let sb = start().await;
        let adv = advertiser_id(42, 1);
        let v = get(
            &sb,
            &format!("/open_api/v3.0/project/list/?advertiser_id={adv}&page=3&page_size=10"),
            "sandbox-oceanengine-token",
        )
        .await;
        assert_eq!(v["code"], 0, "{v}");
        assert_eq!(v["data"]["page_info"]["total_page"], 3);
        assert_eq!(v["data"]["page_info"]["total_number"], 25);
        let list = v["data"]["list"].as_array().unwrap();
        assert_eq!(list.len(), 5);
        assert_eq!(
            list[0]["project_id"].as_u64(),
            Some(project_id(42, 1, 20, 25))
        );
        let v = get(
            &sb,
            &format!("/open_api/v3.0/project/list/?advertiser_id={adv}&page_size=101"),
            "sandbox-oceanengine-token",
        )
        .await;
        assert_eq!(v["code"], 40001, "{v}");
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn tokens_expire_and_refresh_and_errors_come_on_http_200() {
        let sb = start().await;
        let c = reqwest::Client::new();
        let adv = advertiser_id(42, 0);
        let path = format!("/open_api/2/advertiser/info/?advertiser_ids=[{adv}]");
        let v = get(&sb, &path, "sandbox-oceanengine-token").await;
        assert_eq!(v["data"][0]["id"].as_u64(), Some(adv), "{v}");
        let r = c
            .get(format!("{}{path}", sb.base_url()))
            .header("Access-Token", "nope")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], 40105);
        c.post(format!(
            "{}/_sandbox/oceanengine/expire_tokens",
            sb.base_url()
        ))
        .send()
        .await
        .unwrap();
        let v = get(&sb, &path, "sandbox-oceanengine-token").await;
        assert_eq!(v["code"], 40102, "{v}");
        let t: serde_json::Value = c
            .post(format!("{}/open_api/oauth2/refresh_token/", sb.base_url()))
            .json(&serde_json::json!({"app_id": 1780000000000001u64, "secret": "sandbox-oceanengine-secret", "grant_type": "refresh_token", "refresh_token": "sandbox-oceanengine-refresh"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(t["code"], 0, "{t}");
        let fresh = t["data"]["access_token"].as_str().unwrap();
        assert_eq!(get(&sb, &path, fresh).await["code"], 0);
        let bad: serde_json::Value = c
            .post(format!("{}/open_api/oauth2/refresh_token/", sb.base_url()))
            .json(&serde_json::json!({"app_id": "1780000000000001", "secret": "wrong", "refresh_token": "sandbox-oceanengine-refresh"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(bad["code"], 40001);
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn reports_cap_the_span_page_and_change_after_a_restatement() {
        let sb = start().await;
        let adv = advertiser_id(42, 0);
        let today = today_shanghai();
        let from = today - chrono::Duration::days(2);
        let path = |page: u32| {
            format!("/open_api/v3.0/report/custom/get/?advertiser_id={adv}&dimensions=%5B%22stat_time_day%22%2C%22cdp_project_id%22%5D&metrics=%5B%22stat_cost%22%2C%22convert_cnt%22%5D&start_time={from}&end_time={today}&page={page}&page_size=1000&filters=%5B%5D&order_by=%5B%5D")
        };
        let v = get(&sb, &path(1), "sandbox-oceanengine-token").await;
        assert_eq!(v["code"], 0, "{v}");
        let rows = v["data"]["rows"].as_array().unwrap().clone();
        let expected: usize = (0..3)
            .map(|b| {
                let d = from + chrono::Duration::days(b);
                (0..25)
                    .filter(|p| project_figures(42, 0, *p, d, 0, 25, 3).is_some())
                    .count()
            })
            .sum();
        assert_eq!(rows.len(), expected);
        assert!(rows[0]["metrics"]["stat_cost"]
            .as_str()
            .unwrap()
            .contains('.'));
        reqwest::Client::new()
            .post(format!("{}/_sandbox/oceanengine/restate", sb.base_url()))
            .json(&serde_json::json!({"days": 1}))
            .send()
            .await
            .unwrap();
        let again = get(&sb, &path(1), "sandbox-oceanengine-token").await;
        let today_rows = |rows: &[serde_json::Value]| -> Vec<serde_json::Value> {
            rows.iter()
                .filter(|r| r["dimensions"]["stat_time_day"] == today.to_string())
                .cloned()
                .collect()
        };
        let again = again["data"]["rows"].as_array().unwrap().clone();
        assert_ne!(today_rows(&rows), today_rows(&again));
        assert_eq!(rows[0], again[0], "older days unchanged");
        let far = from - chrono::Duration::days(40);
        let v = get(
            &sb,
            &path(1).replace(&format!("start_time={from}"), &format!("start_time={far}")),
            "sandbox-oceanengine-token",
        )
        .await;
        assert_eq!(v["code"], 40001, "{v}");
        sb.shutdown().await;
    }
}

//! Meta Marketing API (Graph API) emulation: one ad account's campaigns,
//! ad sets and ads, daily ad-level insights (synchronous and as async report
//! runs), and lead-form leads.
//!
//! Wire format as Meta documents it: versioned paths (`/v21.0/act_<id>/…`),
//! the `access_token` query parameter, `fields` selection, cursor paging
//! (`paging.cursors.after`, `paging.next` only when there is a next page),
//! ids as strings, insights numbers as strings, money in the account currency
//! (`spend` in major units, budgets in minor units), Meta's time format
//! (`2026-10-01T09:30:00-0700`), and the `{"error":{message, type, code,
//! error_subcode, fbtrace_id}}` body. Throttling is Meta's: error code 80004
//! (too many calls to this ad account, HTTP 400) with the
//! `x-business-use-case-usage` header naming `estimated_time_to_regain_access`
//! (minutes); an injected status 429 fault is answered the way Meta throttles
//! an app — HTTP 400 with code 17 `User request limit reached`.
//! `POST /_sandbox/meta/throttle {"count": n}` answers the next n calls to
//! the ad account with code 80004 whatever their pace.

// Handlers return a ready `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

pub mod data;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::RepeatPaging;
use data::Kind;

/// Settings of the Meta emulation. `Debug` redacts the access token.
#[derive(Clone)]
pub struct MetaConfig {
    /// The access token the API accepts (`access_token` parameter or `Authorization: Bearer`).
    pub access_token: String,
    /// The ad account's number (the API path is `act_<number>`).
    pub account_id: String,
    /// The account currency (ISO 4217).
    pub currency: String,
    /// The account's IANA time zone; insights days are days in it.
    pub timezone: String,
    /// Campaigns served.
    pub campaigns: u64,
    /// Ad sets per campaign.
    pub adsets_per_campaign: u64,
    /// Ads per ad set.
    pub ads_per_adset: u64,
    /// Days of insights before today (every ad delivers every day from then to today).
    pub history_days: u32,
    /// Lead forms served.
    pub lead_forms: u64,
    /// Leads per form at start.
    pub leads_per_form: u64,
    /// Calls per second to the ad account before code 80004 (`None` = unlimited).
    pub calls_per_second: Option<u32>,
    /// The longest `time_range` (days) a synchronous insights request accepts;
    /// longer ones must run as async report runs.
    pub sync_max_days: u32,
    /// Status polls a report run takes to complete.
    pub job_polls: u32,
}

impl std::fmt::Debug for MetaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaConfig")
            .field("access_token", &"<redacted>")
            .field("account_id", &self.account_id)
            .field("currency", &self.currency)
            .field("timezone", &self.timezone)
            .field("campaigns", &self.campaigns)
            .field("adsets_per_campaign", &self.adsets_per_campaign)
            .field("ads_per_adset", &self.ads_per_adset)
            .field("history_days", &self.history_days)
            .field("lead_forms", &self.lead_forms)
            .field("leads_per_form", &self.leads_per_form)
            .field("calls_per_second", &self.calls_per_second)
            .field("sync_max_days", &self.sync_max_days)
            .field("job_polls", &self.job_polls)
            .finish()
    }
}

impl Default for MetaConfig {
    fn default() -> Self {
        Self {
            access_token: "EAAsandboxMetaToken".into(),
            account_id: "1234567890123".into(),
            currency: "USD".into(),
            timezone: "America/Los_Angeles".into(),
            campaigns: 4,
            adsets_per_campaign: 2,
            ads_per_adset: 3,
            history_days: 60,
            lead_forms: 1,
            leads_per_form: 300,
            calls_per_second: Some(200),
            sync_max_days: 31,
            job_polls: 2,
        }
    }
}

#[derive(Debug, Clone)]
struct Job {
    params: InsightsParams,
    polls: u32,
}

#[derive(Debug, Default)]
struct Mutable {
    /// Restatement round per day.
    rounds: BTreeMap<NaiveDate, u32>,
    /// Leads created per form beyond the configured ones.
    new_leads: BTreeMap<u64, u64>,
    jobs: BTreeMap<String, Job>,
    extra_field: bool,
    /// Calls still to be answered with code 80004 (`/_sandbox/meta/throttle`).
    throttle_next: u32,
}

/// Shared state of the emulation.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) config: MetaConfig,
    seed: u64,
    state: Mutex<Mutable>,
    next_job: AtomicU64,
}

impl Meta {
    pub(crate) fn new(config: MetaConfig, seed: u64) -> Self {
        Self {
            config,
            seed,
            state: Mutex::new(Mutable::default()),
            next_job: AtomicU64::new(1),
        }
    }

    pub(crate) fn reset(&self) {
        *self.lock() = Mutable::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn adsets(&self) -> u64 {
        self.config.campaigns * self.config.adsets_per_campaign
    }

    fn ads(&self) -> u64 {
        self.adsets() * self.config.ads_per_adset
    }

    fn account(&self) -> String {
        self.config.account_id.clone()
    }

    fn tz(&self) -> chrono_tz::Tz {
        self.config.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The account's current day and UTC offset (whole hours).
    fn today(&self) -> (NaiveDate, i32) {
        use chrono::Offset;
        let now = chrono::Utc::now().with_timezone(&self.tz());
        let off = now.offset().fix().local_minus_utc() / 3600;
        (now.date_naive(), off)
    }

    fn first_day(&self) -> NaiveDate {
        let (today, _) = self.today();
        today
            .checked_sub_days(chrono::Days::new(self.config.history_days.into()))
            .unwrap_or(today)
    }

    fn leads_of(&self, form: u64) -> u64 {
        self.config.leads_per_form + self.lock().new_leads.get(&form).copied().unwrap_or(0)
    }
}

/// The insights query of a request (sync or a report run).
#[derive(Debug, Clone)]
struct InsightsParams {
    since: NaiveDate,
    until: NaiveDate,
    fields: Option<BTreeSet<String>>,
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/{version}/{node}", get(get_node))
        .route("/{version}/{node}/{edge}", get(get_edge).post(post_edge))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/meta/restate", post(restate))
        .route("/_sandbox/meta/leads", post(add_leads))
        .route("/_sandbox/meta/extra_field", post(extra_field))
        .route("/_sandbox/meta/throttle", post(throttle))
}

/// Whether `path` is a Graph API path (`/v21.0/…`).
pub(crate) fn owns(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/v") else {
        return false;
    };
    let seg = rest.split('/').next().unwrap_or("");
    seg.split_once('.')
        .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
}

/// What the demo's Meta pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, c: &MetaConfig) -> Vec<(String, String)> {
    vec![
        ("META_BASE_URL".into(), base_url.into()),
        ("META_ACCESS_TOKEN".into(), c.access_token.clone()),
        ("META_AD_ACCOUNT_ID".into(), c.account_id.clone()),
        ("META_LEAD_FORM_ID".into(), data::meta_id(Kind::Form, 0)),
    ]
}

fn trace_id() -> String {
    let n = crate::rng::mix(rand_counter());
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..11)
        .map(|k| alphabet[((n >> (k * 5)) % alphabet.len() as u64) as usize] as char)
        .collect()
}

fn rand_counter() -> u64 {
    static N: AtomicU64 = AtomicU64::new(7);
    N.fetch_add(0x9E37, Ordering::Relaxed)
}

/// Meta's error body.
pub fn error_body(message: &str, kind: &str, code: u32, subcode: Option<u32>) -> String {
    let mut e = serde_json::json!({
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": trace_id(),
    });
    if let Some(s) = subcode {
        e["error_subcode"] = s.into();
    }
    serde_json::json!({ "error": e }).to_string()
}

fn meta_error(status: StatusCode, message: &str, code: u32, subcode: Option<u32>) -> Response {
    json_response(
        status,
        error_body(message, "OAuthException", code, subcode).into_bytes(),
    )
}

fn invalid_param(message: &str) -> Response {
    meta_error(
        StatusCode::BAD_REQUEST,
        &format!("(#100) {message}"),
        100,
        None,
    )
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// `x-business-use-case-usage` for the account.
fn usage_header(account: &str, call_count: u32, regain_minutes: u32) -> HeaderValue {
    let v = serde_json::json!({
        account: [{
            "type": "ads_insights",
            "call_count": call_count,
            "total_cputime": call_count / 2,
            "total_time": call_count / 2,
            "estimated_time_to_regain_access": regain_minutes,
        }]
    });
    HeaderValue::from_str(&v.to_string()).unwrap_or(HeaderValue::from_static("{}"))
}

fn throttled(account: &str, code: u32) -> Response {
    let (msg, sub) = if code == 17 {
        ("(#17) User request limit reached", 2446079)
    } else {
        (
            "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
            2446079,
        )
    };
    let mut r = meta_error(StatusCode::BAD_REQUEST, msg, code, Some(sub));
    r.headers_mut()
        .insert("x-business-use-case-usage", usage_header(account, 100, 0));
    r
}

/// Meta's answer to an injected status fault.
pub(crate) fn fault_response(state: &crate::AppState, status: StatusCode) -> Response {
    let account = state.meta.account();
    match status.as_u16() {
        429 => throttled(&account, 17),
        401 | 403 => meta_error(
            StatusCode::BAD_REQUEST,
            "Error validating access token: Session has expired.",
            190,
            Some(463),
        ),
        s if s >= 500 => meta_error(
            status,
            "An unexpected error has occurred. Please retry your request later.",
            2,
            None,
        ),
        _ => meta_error(status, "An unknown error has occurred.", 1, None),
    }
}

fn token_of(req: &axum::extract::Request, form: &[u8]) -> Option<String> {
    if let Some(t) = std::str::from_utf8(form)
        .ok()
        .and_then(|f| crate::query_pairs(Some(f)).remove("access_token"))
    {
        return Some(t);
    }
    if let Some(q) = req.uri().query() {
        if let Some(t) = crate::query_pairs(Some(q)).remove("access_token") {
            return Some(t);
        }
    }
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// The API version, the access token and the ad account's call budget.
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    Path(params): Path<BTreeMap<String, String>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let meta = &app.meta;
    let version = params.get("version").map(String::as_str).unwrap_or("");
    let major: Option<u32> = version
        .strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .and_then(|(a, _)| a.parse().ok());
    match major {
        None => return invalid_param(&format!("Unknown path components: /{version}")),
        Some(m) if m < 19 => {
            return meta_error(
                StatusCode::BAD_REQUEST,
                &format!("(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: v21.0. (called {version})"),
                2635,
                None,
            )
        }
        Some(_) => {}
    }
    // A POST carries its parameters (the token too) in a form body.
    let (req, form) = if req.method() == axum::http::Method::POST {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        (
            axum::extract::Request::from_parts(parts, Body::from(bytes.clone())),
            bytes,
        )
    } else {
        (req, bytes::Bytes::new())
    };
    match token_of(&req, &form) {
        None => {
            return meta_error(
                StatusCode::BAD_REQUEST,
                "An active access token must be used to query information about the current user.",
                2500,
                None,
            )
        }
        Some(t) if t != meta.config.access_token => {
            return meta_error(
                StatusCode::BAD_REQUEST,
                "Invalid OAuth access token - Cannot parse access token",
                190,
                None,
            )
        }
        Some(_) => {}
    }
    let throttle = {
        let mut m = meta.lock();
        let due = m.throttle_next > 0;
        m.throttle_next = m.throttle_next.saturating_sub(1);
        due
    };
    if throttle {
        return throttled(&meta.account(), 80004);
    }
    if let Some(limit) = meta.config.calls_per_second {
        if app.spend("meta:account", limit).is_none() {
            return throttled(&meta.account(), 80004);
        }
    }
    let mut resp = next.run(req).await;
    if params.get("node").is_some_and(|n| n.starts_with("act_")) {
        resp.headers_mut().insert(
            "x-business-use-case-usage",
            usage_header(&meta.account(), 5, 0),
        );
    }
    resp
}

fn fields_of(q: &BTreeMap<String, String>) -> Option<BTreeSet<String>> {
    q.get("fields").map(|f| {
        f.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Keeps the asked-for fields (always `id` when the object has one), plus
/// the extra field when the admin switched it on.
fn select(mut m: Map<String, Value>, fields: &Option<BTreeSet<String>>, extra: bool) -> Value {
    if let Some(f) = fields {
        m.retain(|k, _| k == "id" || f.contains(k));
    }
    if extra {
        m.insert(
            "sandbox_new_field".into(),
            serde_json::json!({"added_by": "meta", "n": 1}),
        );
    }
    Value::Object(m)
}

fn encode_cursor(offset: u64) -> String {
    // Opaque to clients, as Meta's base64 cursors are.
    format!("QVFI{:X}Mk", offset ^ 0x00C0_FFEE)
}

fn decode_cursor(s: &str) -> Option<u64> {
    let body = s.strip_prefix("QVFI")?.strip_suffix("Mk")?;
    Some(u64::from_str_radix(body, 16).ok()? ^ 0x00C0_FFEE)
}

/// A `{"data":[…],"paging":{…}}` page of `total` items from `offset`.
#[allow(clippy::too_many_arguments)]
fn page(
    app: &crate::AppState,
    path: &str,
    q: &BTreeMap<String, String>,
    total: u64,
    default_limit: u64,
    max_limit: u64,
    repeat: bool,
    item: &dyn Fn(u64) -> Value,
) -> Response {
    let limit = match q.get("limit") {
        None => default_limit,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if n >= 1 => n.min(max_limit),
            _ => return invalid_param(&format!("Param limit must be a positive integer, got {l}")),
        },
    };
    let offset = match q.get("after") {
        None => 0,
        Some(a) => match decode_cursor(a) {
            Some(o) => o,
            None => return invalid_param("Invalid cursor"),
        },
    };
    let end = (offset + limit).min(total);
    let data: Vec<Value> = (offset..end).map(item).collect();
    let mut body = serde_json::json!({ "data": data });
    if end > offset {
        let after = if repeat {
            q.get("after")
                .cloned()
                .unwrap_or_else(|| encode_cursor(offset))
        } else {
            encode_cursor(end)
        };
        let mut paging = serde_json::json!({
            "cursors": {"before": encode_cursor(offset), "after": after}
        });
        if end < total {
            // Meta's next link repeats every parameter, the access token included.
            let mut qs: Vec<String> = q
                .iter()
                .filter(|(k, _)| k.as_str() != "after")
                .map(|(k, v)| format!("{k}={}", encode_component(v)))
                .collect();
            qs.push(format!("after={after}"));
            paging["next"] = format!("{}{path}?{}", app.base_url, qs.join("&")).into();
        }
        body["paging"] = paging;
    }
    Json(body).into_response()
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn not_found(node: &str) -> Response {
    meta_error(
        StatusCode::BAD_REQUEST,
        &format!("Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"),
        100,
        Some(33),
    )
}

/// `act_<id>` of the configured account, else the error to answer.
fn check_account(meta: &Meta, node: &str) -> Result<(), Response> {
    match node.strip_prefix("act_") {
        Some(id) if id == meta.config.account_id => Ok(()),
        _ => Err(not_found(node)),
    }
}

async fn get_node(
    State(app): State<Arc<crate::AppState>>,
    Path((_version, node)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let meta = &app.meta;
    let q = crate::query_pairs(raw.as_deref());
    if node.starts_with("act_") {
        if let Err(r) = check_account(meta, &node) {
            return r;
        }
        let (_, off) = meta.today();
        let m = serde_json::json!({
            "id": node,
            "account_id": meta.account(),
            "name": "Sandbox Ads Account",
            "currency": meta.config.currency,
            "timezone_name": meta.config.timezone,
            "timezone_offset_hours_utc": off,
            "account_status": 1,
        });
        let Value::Object(m) = m else {
            return not_found(&node);
        };
        return Json(select(m, &fields_of(&q), false)).into_response();
    }
    // A report run's status: each poll moves it along.
    let mut s = meta.lock();
    let Some(job) = s.jobs.get_mut(&node) else {
        return not_found(&node);
    };
    job.polls += 1;
    let need = meta.config.job_polls.max(1);
    let (status, pct) = if job.polls >= need {
        ("Job Completed", 100)
    } else if job.polls == 1 {
        ("Job Not Started", 0)
    } else {
        ("Job Running", 100 * job.polls / need)
    };
    Json(serde_json::json!({
        "id": node,
        "account_id": meta.account(),
        "async_status": status,
        "async_percent_completion": pct,
        "date_start": job.params.since.format("%Y-%m-%d").to_string(),
        "date_stop": job.params.until.format("%Y-%m-%d").to_string(),
    }))
    .into_response()
}

fn parse_insights(q: &BTreeMap<String, String>, meta: &Meta) -> Result<InsightsParams, Response> {
    match q.get("level").map(String::as_str) {
        None | Some("ad") => {}
        Some(l) => {
            return Err(invalid_param(&format!(
                "The sandbox serves insights at level=ad only, got level={l}"
            )))
        }
    }
    match q.get("time_increment").map(String::as_str) {
        Some("1") => {}
        other => {
            return Err(invalid_param(&format!(
                "The sandbox serves daily insights only (time_increment=1), got {other:?}"
            )))
        }
    }
    #[derive(Deserialize)]
    struct Range {
        since: String,
        until: String,
    }
    let Some(raw) = q.get("time_range") else {
        return Err(invalid_param(
            "The sandbox needs a time_range {\"since\",\"until\"}",
        ));
    };
    let range: Range = serde_json::from_str(raw).map_err(|_| {
        invalid_param(&format!(
            "Param time_range must be a JSON object with since and until, got {raw}"
        ))
    })?;
    let day = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            invalid_param(&format!(
                "Param time_range[since/until] must be a date YYYY-MM-DD, got {s}"
            ))
        })
    };
    let (since, until) = (day(&range.since)?, day(&range.until)?);
    if since > until {
        return Err(invalid_param("time_range since must not be after until"));
    }
    let _ = meta;
    Ok(InsightsParams {
        since,
        until,
        fields: fields_of(q),
    })
}

/// The insights rows of `p`, in date order then ad order.
fn insights_page(
    app: &crate::AppState,
    path: &str,
    q: &BTreeMap<String, String>,
    p: &InsightsParams,
    repeat: bool,
) -> Response {
    let meta = &app.meta;
    let c = &meta.config;
    let (today, _) = meta.today();
    let first = p.since.max(meta.first_day());
    let last = p.until.min(today);
    let ads = meta.ads();
    let days = if first > last {
        0
    } else {
        ((last - first).num_days() + 1) as u64
    };
    let (rounds, extra) = {
        let s = meta.lock();
        (s.rounds.clone(), s.extra_field)
    };
    let account = meta.account();
    page(app, path, q, days * ads, 25, 500, repeat, &|k| {
        let date = first + chrono::Days::new(k / ads.max(1));
        let ad = k % ads.max(1);
        let round = rounds.get(&date).copied().unwrap_or(0);
        let m = data::insight(
            meta.seed,
            ad,
            date,
            round,
            &account,
            &c.currency,
            c.ads_per_adset,
            c.adsets_per_campaign,
        );
        let mut keep = p.fields.clone();
        if let Some(f) = keep.as_mut() {
            // Meta always returns the report's dates.
            f.insert("date_start".into());
            f.insert("date_stop".into());
        }
        select(m, &keep, extra)
    })
}

async fn get_edge(
    State(app): State<Arc<crate::AppState>>,
    Path((version, node, edge)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    repeat: Option<axum::Extension<RepeatPaging>>,
) -> Response {
    let meta = &app.meta;
    let c = &meta.config;
    let q = crate::query_pairs(raw.as_deref());
    let path = format!("/{version}/{node}/{edge}");
    let repeat = repeat.is_some();
    let fields = fields_of(&q);
    let extra = meta.lock().extra_field;
    let (_, off) = meta.today();
    let account = meta.account();
    if node.starts_with("act_") {
        if let Err(r) = check_account(meta, &node) {
            return r;
        }
        return match edge.as_str() {
            "campaigns" => page(&app, &path, &q, c.campaigns, 25, 500, repeat, &|i| {
                select(
                    data::campaign(meta.seed, i, &account, &c.currency, off),
                    &fields,
                    extra,
                )
            }),
            "adsets" => page(&app, &path, &q, meta.adsets(), 25, 500, repeat, &|i| {
                select(
                    data::adset(meta.seed, i, c.adsets_per_campaign, &account, off),
                    &fields,
                    extra,
                )
            }),
            "ads" => page(&app, &path, &q, meta.ads(), 25, 500, repeat, &|i| {
                select(
                    data::ad(
                        meta.seed,
                        i,
                        c.ads_per_adset,
                        c.adsets_per_campaign,
                        &account,
                        off,
                    ),
                    &fields,
                    extra,
                )
            }),
            "insights" => {
                let p = match parse_insights(&q, meta) {
                    Ok(p) => p,
                    Err(r) => return r,
                };
                if (p.until - p.since).num_days() + 1 > i64::from(c.sync_max_days) {
                    return meta_error(
                        StatusCode::BAD_REQUEST,
                        "Please reduce the amount of data you're asking for, then retry your request",
                        1,
                        Some(1_487_534),
                    );
                }
                insights_page(&app, &path, &q, &p, repeat)
            }
            _ => invalid_param(&format!(
                "Tried accessing nonexisting field ({edge}) on node type (AdAccount)"
            )),
        };
    }
    if edge == "insights" {
        let job = meta.lock().jobs.get(&node).cloned();
        let Some(job) = job else {
            return not_found(&node);
        };
        if job.polls < c.job_polls.max(1) {
            return invalid_param("The report run has not completed; poll its async_status first");
        }
        return insights_page(&app, &path, &q, &job.params, repeat);
    }
    if edge == "leads" {
        let Some(form) = data::index_of(Kind::Form, &node).filter(|f| *f < c.lead_forms) else {
            return not_found(&node);
        };
        let total = meta.leads_of(form);
        // `filtering=[{"field":"time_created","operator":"GREATER_THAN","value":<unix>}]`
        let after_s = match q.get("filtering") {
            None => None,
            Some(f) => match lead_filter(f) {
                Ok(v) => v,
                Err(r) => return r,
            },
        };
        // Leads come newest first; the filter keeps those created after `after_s`.
        let first = after_s.map_or(0, |t| {
            if t < data::BASE_S {
                0
            } else {
                ((t - data::BASE_S) / 600 + 1) as u64
            }
        });
        let n = total.saturating_sub(first);
        let ads = meta.ads();
        return page(&app, &path, &q, n, 25, 500, repeat, &|k| {
            let i = total - 1 - k;
            select(data::lead(meta.seed, form, i, ads, off), &fields, extra)
        });
    }
    not_found(&node)
}

fn lead_filter(raw: &str) -> Result<Option<i64>, Response> {
    #[derive(Deserialize)]
    struct F {
        field: String,
        operator: String,
        value: Value,
    }
    let fs: Vec<F> = serde_json::from_str(raw)
        .map_err(|_| invalid_param(&format!("Param filtering must be a JSON array, got {raw}")))?;
    let mut out = None;
    for f in fs {
        if f.field != "time_created" || f.operator != "GREATER_THAN" {
            return Err(invalid_param(&format!(
                "The sandbox filters leads on time_created GREATER_THAN only, got {} {}",
                f.field, f.operator
            )));
        }
        let v = match &f.value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        out = Some(v.ok_or_else(|| invalid_param("time_created needs a unix time"))?);
    }
    Ok(out)
}

async fn post_edge(
    State(app): State<Arc<crate::AppState>>,
    Path((_version, node, edge)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    body: axum::body::Bytes,
) -> Response {
    let meta = &app.meta;
    if let Err(r) = check_account(meta, &node) {
        return r;
    }
    if edge != "insights" {
        return invalid_param(&format!("The sandbox creates nothing on /{edge}"));
    }
    // Parameters come in the query or a form body, as the Graph API takes them.
    let mut q = crate::query_pairs(raw.as_deref());
    q.extend(crate::query_pairs(
        std::str::from_utf8(&body).ok().filter(|s| !s.is_empty()),
    ));
    let p = match parse_insights(&q, meta) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = (6_120_000_000_000_000u64 + meta.next_job.fetch_add(1, Ordering::Relaxed)).to_string();
    meta.lock().jobs.insert(
        id.clone(),
        Job {
            params: p,
            polls: 0,
        },
    );
    Json(serde_json::json!({ "report_run_id": id })).into_response()
}

#[derive(Debug, Deserialize)]
struct RestateRequest {
    /// The last `days` days (today included) get one more round of late conversions.
    days: u32,
}

async fn restate(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<RestateRequest>,
) -> Response {
    let meta = &app.meta;
    let (today, _) = meta.today();
    let mut s = meta.lock();
    let mut days = Vec::new();
    for k in 0..req.days {
        let Some(d) = today.checked_sub_days(chrono::Days::new(k.into())) else {
            break;
        };
        *s.rounds.entry(d).or_default() += 1;
        days.push(d.format("%Y-%m-%d").to_string());
    }
    Json(serde_json::json!({ "days": days })).into_response()
}

#[derive(Debug, Deserialize)]
struct LeadsRequest {
    #[serde(default)]
    form: u64,
    create: u64,
}

async fn add_leads(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<LeadsRequest>,
) -> Response {
    let meta = &app.meta;
    let before = meta.leads_of(req.form);
    *meta.lock().new_leads.entry(req.form).or_default() += req.create;
    let ids: Vec<String> = (before..before + req.create)
        .map(|i| data::meta_id(Kind::Lead, req.form * 10_000_000 + i))
        .collect();
    Json(serde_json::json!({ "ids": ids })).into_response()
}

#[derive(Debug, Deserialize)]
struct ExtraFieldRequest {
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<ExtraFieldRequest>,
) -> Response {
    app.meta.lock().extra_field = req.enabled;
    Json(serde_json::json!({ "ok": true })).into_response()
}

#[derive(Debug, Deserialize)]
struct ThrottleRequest {
    count: u32,
}

/// The next `count` calls to the ad account answer code 80004.
async fn throttle(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<ThrottleRequest>,
) -> Response {
    app.meta.lock().throttle_next = req.count;
    Json(serde_json::json!({ "ok": true, "count": req.count })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_paths_and_cursors() {
        assert!(owns("/v21.0/act_1/insights"));
        assert!(!owns("/v2/orders/search"));
        assert!(!owns("/v18/customers/1/googleAds:searchStream"));
        assert_eq!(decode_cursor(&encode_cursor(12345)), Some(12345));
        assert_eq!(decode_cursor("nope"), None);
    }
}

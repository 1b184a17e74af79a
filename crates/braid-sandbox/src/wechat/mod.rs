//! WeChat Official Account (微信公众号) API emulation: the access token,
//! the follower list, batched user info and the user-analysis datacube.
//!
//! Wire format as WeChat documents it: `GET /cgi-bin/token?grant_type=
//! client_credential&appid=&secret=` gives `{"access_token","expires_in":7200}`;
//! every other call carries `access_token` in the query string and errors
//! come with HTTP 200 as `{"errcode": n, "errmsg": "… rid: …"}` (40001
//! invalid credential or not the latest token, 42001 token expired, 41001
//! token missing, 45009 daily quota spent, 45011 minute quota, -1 system
//! busy, 40013/40125 bad appid/secret, 40003 invalid openid, 61501 date
//! range). `GET /cgi-bin/user/get?next_openid=` lists up to 10,000 openids
//! per call; `POST /cgi-bin/user/info/batchget` takes up to 100; `POST
//! /datacube/getusersummary` and `getusercumulate` span at most 7 days and
//! end yesterday at the latest (Asia/Shanghai).
//!
//! Admin: `POST /_sandbox/wechat/expire_tokens` (then 42001), `POST
//! /_sandbox/wechat/replace_tokens` (someone else fetched a token: the old
//! ones answer 40001), `POST /_sandbox/wechat/subscribe {"count": n}` (new
//! followers, subscribed now), `POST /_sandbox/wechat/unsubscribe
//! {"openids": [..]}` (they leave `user/get`; `batchget` answers
//! `subscribe: 0` for them), `POST /_sandbox/wechat/restate {"days": n}` (the
//! last n finished days' analytics change), `POST /_sandbox/wechat/extra_field
//! {"name"}`. An injected 429 answers errcode 45011 and an injected 503
//! errcode -1, both with HTTP 200 as WeChat does; other statuses keep their
//! status with errcode -1.

// Handlers return a ready `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Settings of the WeChat emulation. `Debug` redacts the secret.
#[derive(Clone)]
pub struct WeChatConfig {
    /// The official account's appid.
    pub appid: String,
    /// Its AppSecret.
    pub secret: String,
    /// Followers at start.
    pub followers: u64,
    /// Openids per `user/get` page (WeChat: 10,000).
    pub page_size: u64,
    /// Days of analytics history up to yesterday.
    pub history_days: u32,
    /// Requests per second before errcode 45011 (`None` = unlimited).
    pub requests_per_second: Option<u32>,
    /// Calls per API path per day before errcode 45009 (`None` = unlimited;
    /// WeChat's quotas are per interface, e.g. 2,000 `token` calls a day).
    pub daily_quota: Option<u64>,
}

impl std::fmt::Debug for WeChatConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeChatConfig")
            .field("appid", &self.appid)
            .field("secret", &"<redacted>")
            .field("followers", &self.followers)
            .field("page_size", &self.page_size)
            .field("history_days", &self.history_days)
            .field("requests_per_second", &self.requests_per_second)
            .field("daily_quota", &self.daily_quota)
            .finish()
    }
}

impl Default for WeChatConfig {
    fn default() -> Self {
        Self {
            appid: "wx5a1e0c0ffee0b1e5".into(),
            secret: "sandbox-wechat-appsecret".into(),
            followers: 2500,
            page_size: 10_000,
            history_days: 30,
            requests_per_second: Some(100),
            daily_quota: None,
        }
    }
}

#[derive(Debug, Default)]
struct Mutable {
    valid: BTreeSet<String>,
    expired: BTreeSet<String>,
    issued: u64,
    /// Followers added through the admin endpoint, with their subscribe time.
    added: Vec<i64>,
    revisions: BTreeMap<NaiveDate, u32>,
    extra_field: Option<String>,
    /// Indices of followers who unsubscribed.
    unsubscribed: BTreeSet<u64>,
    /// Calls per API path today (for `daily_quota`).
    calls: BTreeMap<String, u64>,
}

/// Shared state of the emulation.
#[derive(Debug)]
pub(crate) struct WeChat {
    pub(crate) config: WeChatConfig,
    seed: u64,
    state: Mutex<Mutable>,
}

impl WeChat {
    pub(crate) fn new(config: WeChatConfig, seed: u64) -> Self {
        Self {
            config,
            seed,
            state: Mutex::new(Mutable::default()),
        }
    }

    pub(crate) fn reset(&self) {
        let mut s = self.lock();
        s.added.clear();
        s.revisions.clear();
        s.extra_field = None;
        s.unsubscribed.clear();
        s.calls.clear();
    }

    /// Counts a call of `path`; false when today's quota of it is spent.
    fn quota(&self, path: &str) -> bool {
        let Some(limit) = self.config.daily_quota else {
            return true;
        };
        let mut s = self.lock();
        let n = s.calls.entry(path.to_owned()).or_default();
        if *n >= limit {
            return false;
        }
        *n += 1;
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn total(&self) -> u64 {
        self.config.followers + self.lock().added.len() as u64
    }
}

/// 2024-01-01T00:00:00Z in epoch seconds.
const BASE_SECS: i64 = 1_704_067_200;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Openid of follower `i`: 28 characters, unique per (seed, index).
pub fn openid(seed: u64, i: u64) -> String {
    let mut out = String::from("oLVP");
    let mut h = crate::rng::mix(seed ^ 0x3C);
    for _ in 0..10 {
        out.push(B64[(h & 63) as usize] as char);
        h >>= 6;
    }
    let mut n = i ^ (crate::rng::mix(seed) & 0xFFF_FFFF_FFFF);
    let mut tail = [b'A'; 14];
    for t in tail.iter_mut().rev() {
        *t = B64[(n & 63) as usize];
        n >>= 6;
    }
    out.push_str(std::str::from_utf8(&tail).unwrap_or_default());
    out
}

/// The index of the follower whose openid is `o`, if it is one of ours.
pub fn openid_index(seed: u64, o: &str) -> Option<u64> {
    let tail = o.get(14..)?;
    let mut n: u64 = 0;
    for c in tail.bytes() {
        let v = B64.iter().position(|b| *b == c)? as u64;
        n = n.checked_mul(64)?.checked_add(v)?;
    }
    let i = n ^ (crate::rng::mix(seed) & 0xFFF_FFFF_FFFF);
    (openid(seed, i) == o).then_some(i)
}

/// Unionid of follower `i`, if bound to the open platform. One follower in
/// four carries the unionid HubSpot contact `i / 4` would have (people who
/// are in the CRM and follow the account), the rest their own.
pub fn unionid(seed: u64, i: u64) -> Option<String> {
    let mut r = Rng::new(seed, 0x3D, i);
    if r.chance(0.1) {
        return None;
    }
    let mut rng = if i.is_multiple_of(4) {
        Rng::new(seed, 0x0B, i / 4)
    } else {
        Rng::new(seed, 0x3E, i)
    };
    Some(format!(
        "o6_bm{:016x}{:07x}",
        rng.next(),
        rng.below(1 << 28)
    ))
}

/// One `user_info_list` entry.
#[derive(Debug, Clone, Serialize)]
pub struct Follower {
    /// 1 = subscribed.
    pub subscribe: u8,
    /// Openid (per official account).
    pub openid: String,
    /// Language.
    pub language: &'static str,
    /// Subscribe time, epoch seconds.
    pub subscribe_time: i64,
    /// Unionid (across the open platform), when bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// Operator's remark.
    pub remark: String,
    /// Group id.
    pub groupid: i64,
    /// Tags.
    pub tagid_list: Vec<i64>,
    /// How they subscribed.
    pub subscribe_scene: &'static str,
    /// QR scene.
    pub qr_scene: i64,
    /// QR scene text.
    pub qr_scene_str: String,
}

fn pick(r: &mut Rng, items: &[&'static str]) -> &'static str {
    items[r.below(items.len() as u64) as usize]
}

/// Follower `i` of the initial set (subscribe time from its index).
pub fn follower(seed: u64, i: u64, subscribe_time: Option<i64>) -> Follower {
    let mut r = Rng::new(seed, 0x3F, i);
    let tags: Vec<i64> = [2, 100, 101, 102]
        .into_iter()
        .filter(|_| r.chance(0.3))
        .collect();
    Follower {
        subscribe: 1,
        openid: openid(seed, i),
        language: pick(&mut r, &["zh_CN", "zh_CN", "zh_TW", "en"]),
        subscribe_time: subscribe_time
            .unwrap_or(BASE_SECS + (i as i64) * 3600 + r.below(3600) as i64),
        unionid: unionid(seed, i),
        remark: if r.chance(0.1) {
            "门店会员".into()
        } else {
            String::new()
        },
        groupid: 0,
        tagid_list: tags,
        subscribe_scene: pick(
            &mut r,
            &[
                "ADD_SCENE_QR_CODE",
                "ADD_SCENE_SEARCH",
                "ADD_SCENE_ACCOUNT_MIGRATION",
                "ADD_SCENE_PROFILE_CARD",
            ],
        ),
        qr_scene: r.below(100) as i64,
        qr_scene_str: format!("store_{}", r.below(20)),
    }
}

/// Yesterday in Asia/Shanghai: the last day the datacube serves.
pub fn yesterday_shanghai() -> NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive() - chrono::Duration::days(1)
}

/// The first analytics day for `config`.
pub fn first_analytics_day(config: &WeChatConfig) -> NaiveDate {
    yesterday_shanghai()
        .checked_sub_days(Days::new(u64::from(config.history_days.max(1) - 1)))
        .unwrap_or(NaiveDate::MIN)
}

/// `getusersummary` rows of `day` after `revision` restatements: (user_source, new_user, cancel_user).
pub fn user_summary(seed: u64, day: NaiveDate, revision: u32) -> Vec<(i64, i64, i64)> {
    let n = day.signed_duration_since(NaiveDate::MIN).num_days() as u64;
    [0i64, 1, 17, 30, 43]
        .into_iter()
        .filter_map(|src| {
            let mut r = Rng::new(seed, 0x40 ^ (src as u64) << 4, n);
            (!r.chance(0.2)).then(|| {
                (
                    src,
                    r.below(300) as i64 + revision as i64,
                    r.below(40) as i64,
                )
            })
        })
        .collect()
}

/// `getusercumulate` of `day`.
pub fn user_cumulate(seed: u64, day: NaiveDate, revision: u32) -> i64 {
    let n = day.signed_duration_since(NaiveDate::MIN).num_days();
    let base = n - NaiveDate::from_ymd_opt(2024, 1, 1)
        .map_or(0, |d| d.signed_duration_since(NaiveDate::MIN).num_days());
    10_000 + base * 150 + (crate::rng::mix(seed ^ n as u64) % 100) as i64 + revision as i64
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/cgi-bin/user/get", get(user_get))
        .route("/cgi-bin/user/info/batchget", post(batchget))
        .route("/datacube/getusersummary", post(getusersummary))
        .route("/datacube/getusercumulate", post(getusercumulate))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
        .route("/cgi-bin/token", get(token))
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/wechat/expire_tokens", post(expire_tokens))
        .route("/_sandbox/wechat/replace_tokens", post(replace_tokens))
        .route("/_sandbox/wechat/unsubscribe", post(unsubscribe))
        .route("/_sandbox/wechat/subscribe", post(subscribe))
        .route("/_sandbox/wechat/restate", post(restate))
        .route("/_sandbox/wechat/extra_field", post(extra_field))
}

/// What the demo's WeChat pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, c: &WeChatConfig) -> Vec<(String, String)> {
    vec![
        ("WECHAT_BASE_URL".into(), base_url.into()),
        ("WECHAT_APPID".into(), c.appid.clone()),
        ("WECHAT_SECRET".into(), c.secret.clone()),
        (
            "WECHAT_START_DATE".into(),
            first_analytics_day(c).to_string(),
        ),
    ]
}

fn rid() -> String {
    let id = crate::correlation_id().replace('-', "");
    format!("{}-{}-{}", &id[..8], &id[8..16], &id[16..24])
}

fn json(body: serde_json::Value) -> Response {
    let mut r = Response::new(axum::body::Body::from(body.to_string()));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; encoding=utf-8"),
    );
    r
}

/// WeChat's error body (HTTP 200).
pub(crate) fn error(code: i64, msg: &str) -> Response {
    json(serde_json::json!({"errcode": code, "errmsg": format!("{msg} rid: {}", rid())}))
}

/// WeChat's answer to an injected status fault.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    match status.as_u16() {
        429 => error(
            45011,
            "api minute-quota reach limit  mustslower  retry next minute",
        ),
        // WeChat's "system busy" comes with HTTP 200.
        503 => error(-1, "system error"),
        _ => {
            let mut r = error(-1, "system error");
            *r.status_mut() = status;
            r
        }
    }
}

async fn token(State(app): State<Arc<crate::AppState>>, RawQuery(raw): RawQuery) -> Response {
    let q = crate::query_pairs(raw.as_deref());
    let wc = &app.wechat;
    if !wc.quota("/cgi-bin/token") {
        return error(45009, "reach max api daily quota limit");
    }
    if q.get("grant_type").map(String::as_str) != Some("client_credential") {
        return error(40002, "invalid grant_type");
    }
    if q.get("appid") != Some(&wc.config.appid) {
        return error(40013, "invalid appid");
    }
    if q.get("secret") != Some(&wc.config.secret) {
        return error(40125, "invalid appsecret");
    }
    let mut s = wc.lock();
    s.issued += 1;
    let t = format!(
        "{}_{:032x}{:016x}",
        s.issued,
        crate::rng::mix(wc.seed ^ s.issued) as u128 * 0x1_0000_0000,
        crate::rng::mix(s.issued)
    );
    s.valid.insert(t.clone());
    json(serde_json::json!({"access_token": t, "expires_in": 7200}))
}

async fn gate(
    State(app): State<Arc<crate::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let q = crate::query_pairs(req.uri().query());
    let wc = &app.wechat;
    let Some(token) = q.get("access_token").filter(|t| !t.is_empty()) else {
        return error(41001, "access_token missing");
    };
    {
        let s = wc.lock();
        if s.expired.contains(token) {
            return error(42001, "access_token expired");
        }
        if !s.valid.contains(token) {
            return error(
                40001,
                "invalid credential, access_token is invalid or not latest",
            );
        }
    }
    if let Some(limit) = wc.config.requests_per_second {
        if app.spend("wechat:general", limit).is_none() {
            return error(
                45011,
                "api minute-quota reach limit  mustslower  retry next minute",
            );
        }
    }
    if !wc.quota(req.uri().path()) {
        return error(45009, "reach max api daily quota limit");
    }
    next.run(req).await
}

async fn user_get(State(app): State<Arc<crate::AppState>>, RawQuery(raw): RawQuery) -> Response {
    let q = crate::query_pairs(raw.as_deref());
    let wc = &app.wechat;
    let total = wc.total();
    let start = match q.get("next_openid").filter(|s| !s.is_empty()) {
        None => 0,
        Some(o) => match openid_index(wc.seed, o).filter(|i| *i < total) {
            Some(i) => i + 1,
            None => return error(40003, "invalid openid"),
        },
    };
    let gone = wc.lock().unsubscribed.clone();
    let ids: Vec<String> = (start..total)
        .filter(|i| !gone.contains(i))
        .take(wc.config.page_size as usize)
        .map(|i| openid(wc.seed, i))
        .collect();
    let mut body = serde_json::json!({
        "total": total - gone.len() as u64,
        "count": ids.len(),
        "next_openid": ids.last().cloned().unwrap_or_default(),
    });
    if !ids.is_empty() {
        body["data"] = serde_json::json!({"openid": ids});
    }
    json(body)
}

#[derive(Deserialize)]
struct BatchGet {
    user_list: Vec<UserRef>,
}

#[derive(Deserialize)]
struct UserRef {
    openid: String,
}

async fn batchget(State(app): State<Arc<crate::AppState>>, body: axum::body::Bytes) -> Response {
    let req: BatchGet = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return error(47001, "data format error"),
    };
    if req.user_list.is_empty() || req.user_list.len() > 100 {
        return error(45158, "user_list size out of limit (1-100)");
    }
    let wc = &app.wechat;
    let (initial, added, extra, gone) = {
        let s = wc.lock();
        (
            wc.config.followers,
            s.added.clone(),
            s.extra_field.clone(),
            s.unsubscribed.clone(),
        )
    };
    let total = initial + added.len() as u64;
    let mut list = Vec::new();
    for u in &req.user_list {
        // Openids encode their index; look it up in the served range.
        let Some(i) = openid_index(wc.seed, &u.openid).filter(|i| *i < total) else {
            return error(40003, "invalid openid");
        };
        if gone.contains(&i) {
            // WeChat tells no more than this about someone who left.
            let mut v = serde_json::json!({"subscribe": 0, "openid": u.openid, "tagid_list": []});
            if let Some(union) = unionid(wc.seed, i) {
                v["unionid"] = union.into();
            }
            list.push(v);
            continue;
        }
        let time = (i >= initial).then(|| added[(i - initial) as usize]);
        let mut v = serde_json::to_value(follower(wc.seed, i, time)).unwrap_or_default();
        if let (Some(name), Some(o)) = (&extra, v.as_object_mut()) {
            o.insert(name.clone(), serde_json::json!("sandbox"));
        }
        list.push(v);
    }
    json(serde_json::json!({"user_info_list": list}))
}

#[derive(Deserialize)]
struct Range {
    begin_date: String,
    end_date: String,
}

fn range(body: &[u8]) -> Result<(NaiveDate, NaiveDate), Response> {
    let r: Range = serde_json::from_slice(body).map_err(|_| error(47001, "data format error"))?;
    let parse = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| error(61501, "date range error"))
    };
    let (b, e) = (parse(&r.begin_date)?, parse(&r.end_date)?);
    if e < b || (e - b).num_days() >= 7 || e > yesterday_shanghai() {
        return Err(error(61501, "date range error"));
    }
    Ok((b, e))
}

fn days_in(app: &crate::AppState, b: NaiveDate, e: NaiveDate) -> Vec<(NaiveDate, u32)> {
    let wc = &app.wechat;
    let first = first_analytics_day(&wc.config);
    let s = wc.lock();
    b.max(first)
        .iter_days()
        .take_while(|d| *d <= e)
        .map(|d| (d, s.revisions.get(&d).copied().unwrap_or(0)))
        .collect()
}

async fn getusersummary(
    State(app): State<Arc<crate::AppState>>,
    body: axum::body::Bytes,
) -> Response {
    let (b, e) = match range(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let list: Vec<serde_json::Value> = days_in(&app, b, e)
        .into_iter()
        .flat_map(|(d, rev)| {
            user_summary(app.wechat.seed, d, rev).into_iter().map(move |(src, new, cancel)| {
                serde_json::json!({"ref_date": d.to_string(), "user_source": src, "new_user": new, "cancel_user": cancel})
            })
        })
        .collect();
    json(serde_json::json!({"list": list}))
}

async fn getusercumulate(
    State(app): State<Arc<crate::AppState>>,
    body: axum::body::Bytes,
) -> Response {
    let (b, e) = match range(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let list: Vec<serde_json::Value> = days_in(&app, b, e)
        .into_iter()
        .map(|(d, rev)| {
            serde_json::json!({"ref_date": d.to_string(), "cumulate_user": user_cumulate(app.wechat.seed, d, rev)})
        })
        .collect();
    json(serde_json::json!({"list": list}))
}

async fn expire_tokens(State(app): State<Arc<crate::AppState>>) -> Response {
    let mut s = app.wechat.lock();
    let valid = std::mem::take(&mut s.valid);
    let n = valid.len();
    s.expired.extend(valid);
    Json(serde_json::json!({"expired": n})).into_response()
}

/// Someone fetched a new token elsewhere: the ones handed out so far answer 40001.
async fn replace_tokens(State(app): State<Arc<crate::AppState>>) -> Response {
    let mut s = app.wechat.lock();
    let n = s.valid.len();
    s.valid.clear();
    Json(serde_json::json!({"replaced": n})).into_response()
}

#[derive(Deserialize)]
struct Unsubscribe {
    openids: Vec<String>,
}

async fn unsubscribe(
    State(app): State<Arc<crate::AppState>>,
    Json(r): Json<Unsubscribe>,
) -> Response {
    let wc = &app.wechat;
    let total = wc.total();
    let found: Vec<u64> = r
        .openids
        .iter()
        .filter_map(|o| openid_index(wc.seed, o).filter(|i| *i < total))
        .collect();
    let n = found.len();
    wc.lock().unsubscribed.extend(found);
    Json(serde_json::json!({"unsubscribed": n})).into_response()
}

#[derive(Deserialize)]
struct Subscribe {
    count: u64,
}

/// `count` new followers, subscribed now; answers their openids.
async fn subscribe(State(app): State<Arc<crate::AppState>>, Json(r): Json<Subscribe>) -> Response {
    let wc = &app.wechat;
    let now = chrono::Utc::now().timestamp();
    let mut s = wc.lock();
    let start = wc.config.followers + s.added.len() as u64;
    s.added.extend(std::iter::repeat_n(now, r.count as usize));
    let ids: Vec<String> = (start..start + r.count)
        .map(|i| openid(wc.seed, i))
        .collect();
    Json(serde_json::json!({"openids": ids, "subscribe_time": now})).into_response()
}

#[derive(Deserialize)]
struct Restate {
    days: u32,
}

async fn restate(State(app): State<Arc<crate::AppState>>, Json(r): Json<Restate>) -> Response {
    let y = yesterday_shanghai();
    let mut s = app.wechat.lock();
    for back in 0..r.days {
        if let Some(d) = y.checked_sub_days(Days::new(back.into())) {
            *s.revisions.entry(d).or_default() += 1;
        }
    }
    Json(serde_json::json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct ExtraField {
    name: String,
}

async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(r): Json<ExtraField>,
) -> Response {
    app.wechat.lock().extra_field = Some(r.name);
    Json(serde_json::json!({"ok": true})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Sandbox, SandboxConfig};

    async fn start(followers: u64, page_size: u64) -> Sandbox {
        let mut c = SandboxConfig::default();
        c.wechat.followers = followers;
        c.wechat.page_size = page_size;
        c.wechat.daily_quota = Some(50);
        Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }

    async fn call(sb: &Sandbox, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let c = reqwest::Client::new();
        let url = format!("{}{path}", sb.base_url());
        let r = match body {
            Some(b) => c.post(url).json(&b).send().await.unwrap(),
            None => c.get(url).send().await.unwrap(),
        };
        assert_eq!(r.status(), 200, "WeChat answers errors with HTTP 200");
        r.json().await.unwrap()
    }

    async fn token(sb: &Sandbox) -> String {
        let d = WeChatConfig::default();
        let v = call(
            sb,
            &format!(
                "/cgi-bin/token?grant_type=client_credential&appid={}&secret={}",
                d.appid, d.secret
            ),
            None,
        )
        .await;
        assert_eq!(v["expires_in"], 7200, "{v}");
        v["access_token"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn followers_page_by_next_openid_and_batchget_takes_at_most_100() {
        let sb = start(25, 10).await;
        let t = token(&sb).await;
        let mut next = String::new();
        let mut all = Vec::new();
        loop {
            let v = call(
                &sb,
                &format!("/cgi-bin/user/get?access_token={t}&next_openid={next}"),
                None,
            )
            .await;
            assert_eq!(v["total"], 25, "{v}");
            let n = v["count"].as_u64().unwrap();
            if n == 0 {
                assert_eq!(v["next_openid"], "", "{v}");
                assert!(v.get("data").is_none());
                break;
            }
            let ids = v["data"]["openid"].as_array().unwrap();
            assert_eq!(ids.len() as u64, n);
            next = v["next_openid"].as_str().unwrap().to_owned();
            assert_eq!(ids.last().unwrap(), &serde_json::Value::from(next.clone()));
            all.extend(ids.iter().map(|o| o.as_str().unwrap().to_owned()));
        }
        assert_eq!(all.len(), 25);
        assert_eq!(all[7], openid(42, 7));
        let list: Vec<_> = all
            .iter()
            .take(3)
            .map(|o| serde_json::json!({"openid": o, "lang": "zh_CN"}))
            .collect();
        let path = format!("/cgi-bin/user/info/batchget?access_token={t}");
        let v = call(&sb, &path, Some(serde_json::json!({"user_list": list}))).await;
        let info = v["user_info_list"].as_array().unwrap();
        assert_eq!(info.len(), 3);
        assert_eq!(info[1]["openid"], all[1].as_str());
        assert_eq!(info[1]["subscribe"], 1);
        assert!(info[1]["subscribe_time"].as_i64().unwrap() >= BASE_SECS);
        let too_many: Vec<_> = (0..101)
            .map(|i| serde_json::json!({"openid": openid(42, i % 25)}))
            .collect();
        let v = call(&sb, &path, Some(serde_json::json!({"user_list": too_many}))).await;
        assert_eq!(v["errcode"], 45158, "{v}");
        // Someone leaves: gone from the list, `subscribe: 0` in batchget.
        reqwest::Client::new()
            .post(format!("{}/_sandbox/wechat/unsubscribe", sb.base_url()))
            .json(&serde_json::json!({"openids": [all[0]]}))
            .send()
            .await
            .unwrap();
        let v = call(&sb, &format!("/cgi-bin/user/get?access_token={t}"), None).await;
        assert_eq!(v["total"], 24);
        assert_eq!(v["data"]["openid"][0], all[1].as_str());
        let v = call(
            &sb,
            &path,
            Some(serde_json::json!({"user_list": [{"openid": all[0]}]})),
        )
        .await;
        assert_eq!(v["user_info_list"][0]["subscribe"], 0, "{v}");
        assert!(v["user_info_list"][0].get("subscribe_time").is_none());
        sb.shutdown().await;
    }

    #[tokio::test]
    async fn token_errors_date_ranges_and_quotas_answer_errcodes() {
        let sb = start(5, 10).await;
        let v = call(
            &sb,
            "/cgi-bin/token?grant_type=client_credential&appid=wx5a1e0c0ffee0b1e5&secret=nope",
            None,
        )
        .await;
        assert_eq!(v["errcode"], 40125, "{v}");
        assert!(v["errmsg"].as_str().unwrap().contains("rid:"));
        let v = call(&sb, "/cgi-bin/user/get", None).await;
        assert_eq!(v["errcode"], 41001, "{v}");
        let t = token(&sb).await;
        let y = yesterday_shanghai();
        let range = |b: NaiveDate, e: NaiveDate| serde_json::json!({"begin_date": b.to_string(), "end_date": e.to_string()});
        let path = format!("/datacube/getusersummary?access_token={t}");
        let week = y - chrono::Duration::days(6);
        let v = call(&sb, &path, Some(range(week, y))).await;
        let list = v["list"].as_array().unwrap();
        assert!(!list.is_empty(), "{v}");
        assert!(list
            .iter()
            .all(|r| r["ref_date"].as_str().unwrap() >= week.to_string().as_str()));
        let v = call(&sb, &path, Some(range(week - chrono::Duration::days(1), y))).await;
        assert_eq!(v["errcode"], 61501, "8 days: {v}");
        let today = y + chrono::Duration::days(1);
        let v = call(&sb, &path, Some(range(today, today))).await;
        assert_eq!(v["errcode"], 61501, "today is not finished: {v}");
        let v = call(
            &sb,
            &format!("/datacube/getusercumulate?access_token={t}"),
            Some(range(y, y)),
        )
        .await;
        assert_eq!(v["list"][0]["ref_date"], y.to_string(), "{v}");
        let admin = |p: &'static str| {
            let url = format!("{}{p}", sb.base_url());
            async move { reqwest::Client::new().post(url).send().await.unwrap() }
        };
        admin("/_sandbox/wechat/replace_tokens").await;
        let v = call(&sb, &format!("/cgi-bin/user/get?access_token={t}"), None).await;
        assert_eq!(v["errcode"], 40001, "{v}");
        let t = token(&sb).await;
        admin("/_sandbox/wechat/expire_tokens").await;
        let v = call(&sb, &format!("/cgi-bin/user/get?access_token={t}"), None).await;
        assert_eq!(v["errcode"], 42001, "{v}");
        let t = token(&sb).await;
        let mut last = serde_json::Value::Null;
        for _ in 0..51 {
            last = call(&sb, &format!("/cgi-bin/user/get?access_token={t}"), None).await;
        }
        assert_eq!(last["errcode"], 45009, "{last}");
        sb.shutdown().await;
    }

    #[test]
    fn openids_are_28_characters_and_unique() {
        let a = openid(42, 0);
        assert_eq!(a.len(), 28);
        let set: BTreeSet<String> = (0..5000).map(|i| openid(42, i)).collect();
        assert_eq!(set.len(), 5000);
        assert_eq!(openid_index(42, &openid(42, 4321)), Some(4321));
        assert_eq!(openid_index(42, "oLVPnot-an-openid-of-ours-x"), None);
        assert!(unionid(42, 4).is_none_or(|u| u.starts_with("o6_bm")));
    }
}

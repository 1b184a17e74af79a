//! LoyaltyLion Admin API v2 emulation: `GET /v2/customers` and
//! `GET /v2/transactions`, served under `/loyaltylion` (the real host is
//! `https://api.loyaltylion.com`; Square owns `/v2/` on this sandbox).
//!
//! As LoyaltyLion documents it: a program API key as
//! `Authorization: Bearer <key>` (401 otherwise); `limit` 1–500 (default
//! 100, anything else a 400); two ways to page: `since_id` (ascending by id,
//! ids strictly greater; "fewer than `limit` records" means the end), and
//! the opaque `cursor` of `{"cursor":{"prev","next"}}` (newest first unless
//! `sort_field`/`sort_direction` say otherwise; the cursor carries the
//! filters of the first request, so with `cursor` every other parameter but
//! `limit` is ignored; a null `next` is the end). Customers filter on
//! `updated_at_min`/`updated_at_max` (inclusive here) and sort on `id` or
//! `updated_at`; transactions are immutable, filter on `customer_id` and
//! `created_at_min` (inclusive) / `created_at_max` (exclusive). Timestamps
//! are ISO 8601 UTC with milliseconds. One shared rate limit of
//! `requests_per_second` (LoyaltyLion: 20) answered with 429 and
//! `Retry-After: 1`.
//!
//! Not documented publicly, chosen here: error bodies are
//! `{"error": "<message>"}`; descending order with an `updated_at` filter is
//! not emulated (a 400 says so).
//!
//! The members are the Shopify emulation's customers (same seed, same
//! people): `merchant_id` is the Shopify customer id, so identity stitching
//! joins them. `POST /_sandbox/loyaltylion/mutate
//! {"object":"customers","count","create"}` modifies and creates members at
//! one new `updated_at`; `{"object":"transactions","create":n}` appends
//! transactions; `POST /_sandbox/loyaltylion/extra_field {"name"}` adds a
//! field to every record.

// Handlers return a ready `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::commerce::{self, After, Kind, Range, Store, Version};
use crate::rng::Rng;

/// Settings of the LoyaltyLion emulation. `Debug` redacts the key.
#[derive(Clone)]
pub struct LoyaltyLionConfig {
    /// The program API key accepted as a bearer token.
    pub api_key: String,
    /// Members (the Shopify emulation's first `customers` customers).
    pub customers: u64,
    /// Points transactions.
    pub transactions: u64,
    /// The shared rate limit (requests per second).
    pub requests_per_second: u32,
}

impl std::fmt::Debug for LoyaltyLionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoyaltyLionConfig")
            .field("api_key", &"<redacted>")
            .field("customers", &self.customers)
            .field("transactions", &self.transactions)
            .field("requests_per_second", &self.requests_per_second)
            .finish()
    }
}

impl Default for LoyaltyLionConfig {
    fn default() -> Self {
        Self {
            api_key: "ll_sandbox_program_key_0000000000000000".into(),
            customers: 1500,
            transactions: 4000,
            requests_per_second: 20,
        }
    }
}

/// LoyaltyLion's id of member `index`.
pub const CUSTOMER_ID_BASE: i64 = 4_100_000;
/// LoyaltyLion's id of transaction `index`.
pub const TRANSACTION_ID_BASE: i64 = 77_000_000;
/// Transaction `index` was created at `BASE_MS + index × this`.
const TRANSACTION_SPACING_MS: i64 = 30_000;

/// Shared state of the emulation.
#[derive(Debug)]
pub(crate) struct LoyaltyLion {
    pub(crate) config: LoyaltyLionConfig,
    seed: u64,
    store: Store,
    created_transactions: Mutex<u64>,
    extra_field: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// ISO 8601 UTC with milliseconds: `2024-01-01T00:00:00.000Z`.
fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

const SEGMENTS: [&str; 5] = ["Champions", "Loyal", "At Risk", "Hibernating", "New"];
const RULES: [(i64, &str, &str, i64); 4] = [
    (501, "purchase", "Make a purchase", 0),
    (502, "signup", "Join the program", 200),
    (503, "birthday", "Celebrate your birthday", 250),
    (504, "review", "Write a review", 100),
];

/// A member's point balances at modification `version`.
struct Points {
    approved: i64,
    pending: i64,
    spent: i64,
    rewards: i64,
}

impl LoyaltyLion {
    pub(crate) fn new(config: LoyaltyLionConfig, seed: u64) -> Self {
        Self {
            // Shopify's seed: the same people.
            seed,
            store: Store::new(seed, config.customers, 0, 0),
            created_transactions: Mutex::new(0),
            extra_field: Mutex::new(None),
            config,
        }
    }

    pub(crate) fn reset(&self) {
        self.store.reset();
        *lock(&self.created_transactions) = 0;
        *lock(&self.extra_field) = None;
    }

    fn transactions_total(&self) -> u64 {
        self.config.transactions + *lock(&self.created_transactions)
    }

    fn points(&self, index: u64, version: u32) -> Points {
        let mut rng = Rng::new(self.seed, 0x11 + version as u64, index);
        Points {
            approved: rng.below(5000) as i64,
            pending: rng.below(300) as i64,
            spent: rng.below(3000) as i64,
            rewards: rng.below(12) as i64,
        }
    }

    fn summary(&self, index: u64) -> Value {
        let v = self.store.version(Kind::Customers, index);
        let version = v.map_or(0, |v| v.version);
        let p = commerce::person(self.seed, index, version);
        let pts = self.points(index, version);
        json!({
            "id": CUSTOMER_ID_BASE + index as i64,
            "merchant_id": crate::shopify::shopify_id(Kind::Customers, index).to_string(),
            "email": p.email,
            "points_pending": pts.pending,
            "points_approved": pts.approved,
            "points_spent": pts.spent,
        })
    }

    pub(crate) fn customer(&self, index: u64, v: Option<Version>) -> Value {
        let version = v.map_or(0, |v| v.version);
        let p = commerce::person(self.seed, index, version);
        let pts = self.points(index, version);
        let mut rng = Rng::new(self.seed, 0x12, index);
        let created = commerce::created_ms(index);
        let updated = Store::updated_ms(index, v);
        let guest = p.email.is_none() || rng.chance(0.05);
        let merchant_id = crate::shopify::shopify_id(Kind::Customers, index);
        let referral_id = format!("{:08x}", crate::rng::mix(self.seed ^ index) as u32);
        let (number, name, lower, upper) = match pts.approved {
            0..=999 => (1, "Bronze", "0", Some("999")),
            1000..=2999 => (2, "Silver", "1000", Some("2999")),
            _ => (3, "Gold", "3000", None),
        };
        let tier = (!guest).then(|| {
            json!({
                "started_at": ts(created + 300_000),
                "expires_at": (number > 1).then(|| ts(created + 300_000 + 365 * 86_400_000)),
                "manual": index % 41 == 9,
                "loyalty_tier": {
                    "id": 900 + number,
                    "name": name,
                    "number": number,
                    "default": number == 1,
                    "hidden": false,
                    "lower_bound": lower,
                    "upper_bound": upper,
                    "position": number,
                }
            })
        });
        let referred_by = (index % 7 == 3 && index > 0).then(|| {
            json!({
                "id": CUSTOMER_ID_BASE + (index / 2) as i64,
                "merchant_id": crate::shopify::shopify_id(Kind::Customers, index / 2).to_string(),
            })
        });
        let birthday = rng.chance(0.4).then(|| {
            format!(
                "{}-{:02}-{:02}",
                1960 + rng.below(45),
                1 + rng.below(12),
                1 + rng.below(28)
            )
        });
        json!({
            "id": CUSTOMER_ID_BASE + index as i64,
            "merchant_id": merchant_id.to_string(),
            "email": p.email,
            "points_approved": pts.approved,
            "points_pending": pts.pending,
            "points_spent": pts.spent,
            "properties": {},
            "metadata": {
                "shopify_source_url": format!("https://braid-demo.myshopify.com/admin/customers/{merchant_id}"),
            },
            "rewards_claimed": pts.rewards,
            "blocked": index % 53 == 7,
            "guest": guest,
            "enrolled": !guest,
            "enrolled_at": (!guest).then(|| ts(created + 300_000)),
            "referral_id": referral_id,
            "referred_by": referred_by,
            "loyalty_tier_membership": tier,
            "insights_segment": *rng.pick(&SEGMENTS),
            "birthday": birthday,
            "referral_url": format!("https://braid-demo.myshopify.com/?ll_ref={referral_id}"),
            "linked_merchant_ids": [],
            "created_at": ts(created),
            "updated_at": ts(updated),
        })
    }

    fn transaction_created_ms(index: u64) -> i64 {
        commerce::BASE_MS + index as i64 * TRANSACTION_SPACING_MS
    }

    /// The member transaction `index` belongs to.
    fn transaction_customer(&self, index: u64) -> u64 {
        Rng::new(self.seed, 0x13, index).below(self.store.total(Kind::Customers).max(1))
    }

    pub(crate) fn transaction(&self, index: u64) -> Value {
        let mut rng = Rng::new(self.seed, 0x14, index);
        let customer = self.transaction_customer(index);
        let created = ts(Self::transaction_created_ms(index));
        let id = TRANSACTION_ID_BASE + index as i64;
        let kind = rng.below(20);
        if kind < 16 {
            let (rule_id, rule, title, fixed) = RULES[rng.below(RULES.len() as u64) as usize];
            let value = if fixed > 0 {
                fixed
            } else {
                5 * (1 + rng.below(80) as i64)
            };
            let pending = rule == "purchase" && rng.chance(0.3);
            let summary = self.summary(customer);
            json!({
                "id": id,
                "customer": summary,
                "points_approved": if pending { 0 } else { value },
                "points_pending": if pending { value } else { 0 },
                "created_at": created,
                "resource": "activity",
                "activity": {
                    "id": 300_000_000 + index as i64,
                    "merchant_id": (rule == "purchase").then(|| (crate::shopify::ORDER_ID_BASE + rng.below(100_000) as i64).to_string()),
                    "value": value,
                    "state": if pending { "pending" } else { "approved" },
                    "customer": summary,
                    "created_at": created,
                    "rule": {"id": rule_id, "name": rule, "title": title},
                    "flow": null,
                    "resource": null,
                },
            })
        } else {
            // A reward claimed (points spent) or a manual adjustment.
            let (resource, points) = if kind < 19 {
                ("claimed_reward", -(100 * (1 + rng.below(10) as i64)))
            } else {
                ("adjustment", 50 * (rng.below(9) as i64 - 4))
            };
            json!({
                "id": id,
                "customer": self.summary(customer),
                "points_approved": points,
                "points_pending": 0,
                "created_at": created,
                "resource": resource,
                "activity": null,
            })
        }
    }
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/loyaltylion/v2/{resource}", get(list))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/loyaltylion/mutate", post(mutate))
        .route("/_sandbox/loyaltylion/extra_field", post(extra_field))
}

/// Whether the emulation owns `path`.
pub(crate) fn owns(path: &str) -> bool {
    path.starts_with("/loyaltylion/")
}

/// What the demo's LoyaltyLion pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, config: &LoyaltyLionConfig) -> Vec<(String, String)> {
    vec![
        (
            "LOYALTYLION_BASE_URL".into(),
            format!("{base_url}/loyaltylion"),
        ),
        ("LOYALTYLION_API_KEY".into(), config.api_key.clone()),
    ]
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }).to_string().into_bytes())
}

fn rate_limited() -> Response {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "Rate limit exceeded: 20 requests per second",
    );
    r.headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    r
}

/// LoyaltyLion's answer to an injected status fault.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    match status.as_u16() {
        429 => rate_limited(),
        401 => error(status, "Unauthorized: invalid API key"),
        403 => error(
            status,
            "Forbidden: the API key lacks the read_customers scope",
        ),
        404 => error(status, "Not found"),
        _ => error(status, "Internal server error"),
    }
}

/// The bearer key and the shared per-second budget.
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let ll = &app.loyaltylion;
    let key = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if key != Some(ll.config.api_key.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized: invalid API key");
    }
    if app
        .spend("loyaltylion:api", ll.config.requests_per_second)
        .is_none()
    {
        return rate_limited();
    }
    next.run(req).await
}

/// Base64url without padding (cursors are opaque to clients).
fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, b)| n | (*b as u32) << (16 - 8 * k));
        for k in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
        }
    }
    out
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::new();
    for chunk in s.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (k, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * k);
        }
        for k in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * k)) as u8);
        }
    }
    Some(out)
}

/// What a cursor carries: the first request's filters and where the last page ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "lastId")]
    last_id: Option<i64>,
    #[serde(rename = "lastUpdated", default)]
    last_updated: Option<i64>,
    direction: String,
    sort: String,
    order: String,
    #[serde(default)]
    min: Option<i64>,
    #[serde(default)]
    max: Option<i64>,
    #[serde(default)]
    customer: Option<i64>,
}

impl Cursor {
    fn encode(&self) -> String {
        b64(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }

    fn decode(s: &str) -> Option<Cursor> {
        serde_json::from_slice(&unb64(s)?).ok()
    }
}

fn parse_time(field: &str, raw: &str) -> Result<i64, Response> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("{field} must be an ISO 8601 datetime string"),
            )
        })
}

fn int_param(field: &str, raw: &str) -> Result<i64, Response> {
    raw.trim().parse::<i64>().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("{field} must be an integer"),
        )
    })
}

async fn list(
    State(app): State<Arc<crate::AppState>>,
    Path(resource): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let ll = &app.loyaltylion;
    let customers = match resource.as_str() {
        "customers" => true,
        "transactions" => false,
        _ => return error(StatusCode::NOT_FOUND, "Not found"),
    };
    let q = crate::query_pairs(raw.as_deref());
    let get = |k: &str| q.get(k).map(String::as_str);
    let limit = match get("limit") {
        None => 100,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "limit must be an integer between 1 and 500",
                )
            }
        },
    };
    let mut since_id_mode = false;
    let cursor = if let Some(token) = get("cursor") {
        match Cursor::decode(token) {
            Some(c) => c,
            None => return error(StatusCode::BAD_REQUEST, "cursor is invalid"),
        }
    } else {
        let (min_key, max_key) = if customers {
            ("updated_at_min", "updated_at_max")
        } else {
            ("created_at_min", "created_at_max")
        };
        let mut c = Cursor {
            last_id: None,
            last_updated: None,
            direction: "next".into(),
            sort: "id".into(),
            order: "desc".into(),
            min: None,
            max: None,
            customer: None,
        };
        if let Some(s) = get(min_key) {
            match parse_time(min_key, s) {
                Ok(t) => c.min = Some(t),
                Err(r) => return r,
            }
        }
        if let Some(s) = get(max_key) {
            match parse_time(max_key, s) {
                Ok(t) => c.max = Some(t),
                Err(r) => return r,
            }
        }
        if !customers {
            if let Some(s) = get("customer_id") {
                match int_param("customer_id", s) {
                    Ok(id) => c.customer = Some(id),
                    Err(r) => return r,
                }
            }
        }
        if customers {
            match get("sort_field") {
                None | Some("id") => {}
                Some("updated_at") => c.sort = "updated_at".into(),
                Some(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "sort_field must be one of: id, updated_at",
                    )
                }
            }
            match get("sort_direction") {
                None => {}
                Some("asc") => c.order = "asc".into(),
                Some("desc") => c.order = "desc".into(),
                Some(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "sort_direction must be one of: asc, desc",
                    )
                }
            }
        }
        if let Some(s) = get("since_id") {
            match int_param("since_id", s) {
                Ok(id) if id >= 0 => {
                    // since_id: ascending by id, strictly after it.
                    since_id_mode = true;
                    c.sort = "id".into();
                    c.order = "asc".into();
                    c.last_id = Some(id);
                }
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "since_id must be an integer greater than or equal to 0",
                    )
                }
            }
        }
        if customers
            && c.order == "desc"
            && (c.sort == "updated_at" || c.min.is_some() || c.max.is_some())
        {
            return error(
                StatusCode::BAD_REQUEST,
                "sandbox: descending order with updated_at filters or sort is not emulated; use sort_direction=asc",
            );
        }
        c
    };
    let extra = lock(&ll.extra_field).clone();
    let (records, next): (Vec<Value>, Option<Cursor>) = if customers {
        page_customers(ll, &cursor, limit)
    } else {
        page_transactions(ll, &cursor, limit)
    };
    let key = if customers {
        "customers"
    } else {
        "transactions"
    };
    let next_token = next.as_ref().map(Cursor::encode);
    let mut buf = Vec::with_capacity(records.len() * 1200 + 64);
    buf.extend_from_slice(format!("{{\"{key}\":[").as_bytes());
    for (k, mut value) in records.into_iter().enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        if let Some(f) = &extra {
            value[f.as_str()] = json!({"introduced": "2026-06", "values": [1, 2, 3]});
        }
        let _ = serde_json::to_writer(&mut buf, &value);
    }
    buf.extend_from_slice(b"],\"cursor\":");
    let _ = serde_json::to_writer(&mut buf, &json!({"prev": null, "next": next_token}));
    buf.push(b'}');
    let mut resp = json_response(StatusCode::OK, buf);
    if let (Some(t), false) = (&next_token, since_id_mode) {
        let link = format!(
            "<{}/loyaltylion/v2/{key}?cursor={t}&limit={limit}>; rel=\"next\"",
            app.base_url
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert("link", v);
        }
    }
    resp
}

fn page_customers(ll: &LoyaltyLion, c: &Cursor, limit: usize) -> (Vec<Value>, Option<Cursor>) {
    let range = Range {
        since: c.min.unwrap_or(i64::MIN),
        until: c.max.unwrap_or(i64::MAX),
    };
    let index_of = |id: i64| (id - CUSTOMER_ID_BASE).max(-1);
    let rows: Vec<(u64, Option<Version>)>;
    let more;
    if c.order == "asc" {
        let after = match (c.sort.as_str(), c.last_id) {
            (_, None) => None,
            ("updated_at", Some(id)) => {
                let i = index_of(id);
                (i >= 0).then(|| After::Updated(c.last_updated.unwrap_or(i64::MIN), i as u64))
            }
            (_, Some(id)) => {
                let i = index_of(id);
                // since_id below the first id: from the start.
                (i >= 0).then_some(After::Index(i as u64))
            }
        };
        let (r, m) = ll.store.keyset(
            Kind::Customers,
            range,
            c.sort == "updated_at",
            after,
            limit,
            &|_, _| true,
        );
        rows = r;
        more = m;
    } else {
        // Newest first, by id (no time filters: refused above).
        let total = ll.store.total(Kind::Customers);
        let start = match c.last_id {
            None => total,
            Some(id) => index_of(id).clamp(0, total as i64) as u64,
        };
        let lo = start.saturating_sub(limit as u64);
        rows = (lo..start)
            .rev()
            .map(|i| (i, ll.store.version(Kind::Customers, i)))
            .collect();
        more = lo > 0;
    }
    let next = match (more, rows.last()) {
        (true, Some(&(i, v))) => Some(Cursor {
            last_id: Some(CUSTOMER_ID_BASE + i as i64),
            last_updated: Some(Store::updated_ms(i, v)),
            ..c.clone()
        }),
        _ => None,
    };
    (
        rows.iter().map(|(i, v)| ll.customer(*i, *v)).collect(),
        next,
    )
}

fn page_transactions(ll: &LoyaltyLion, c: &Cursor, limit: usize) -> (Vec<Value>, Option<Cursor>) {
    let total = ll.transactions_total();
    let keep = |i: u64| -> bool {
        let t = LoyaltyLion::transaction_created_ms(i);
        c.min.is_none_or(|m| t >= m)
            && c.max.is_none_or(|m| t < m)
            && c.customer
                .is_none_or(|id| CUSTOMER_ID_BASE + ll.transaction_customer(i) as i64 == id)
    };
    let mut out = Vec::new();
    let mut more = false;
    if c.order == "asc" {
        let mut i = match c.last_id {
            None => 0,
            Some(id) => (id - TRANSACTION_ID_BASE + 1).max(0) as u64,
        };
        // Created-at grows with the id: start at the first one in range.
        if let Some(m) = c.min {
            let first = (m - commerce::BASE_MS).max(0) as u64 / TRANSACTION_SPACING_MS as u64;
            i = i.max(first);
        }
        while i < total {
            if keep(i) {
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(i);
            }
            i += 1;
        }
    } else {
        let mut i = match c.last_id {
            None => total,
            Some(id) => (id - TRANSACTION_ID_BASE).clamp(0, total as i64) as u64,
        };
        while i > 0 {
            i -= 1;
            if keep(i) {
                if out.len() == limit {
                    more = true;
                    break;
                }
                out.push(i);
            }
        }
    }
    let next = match (more, out.last()) {
        (true, Some(&i)) => Some(Cursor {
            last_id: Some(TRANSACTION_ID_BASE + i as i64),
            ..c.clone()
        }),
        _ => None,
    };
    (out.into_iter().map(|i| ll.transaction(i)).collect(), next)
}

#[derive(Debug, Deserialize)]
struct MutateRequest {
    object: String,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    create: u64,
}

/// Modifies `count` members and creates `create` at one new `updated_at`,
/// or appends `create` transactions; answers the ids.
async fn mutate(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<MutateRequest>,
) -> Response {
    let ll = &app.loyaltylion;
    match req.object.as_str() {
        "customers" => {
            let (indices, now) = ll.store.mutate(Kind::Customers, req.count, req.create);
            let ids: Vec<i64> = indices
                .iter()
                .map(|i| CUSTOMER_ID_BASE + *i as i64)
                .collect();
            Json(json!({"ids": ids, "updated_at": ts(now), "updated_at_ms": now})).into_response()
        }
        "transactions" => {
            let from = ll.transactions_total();
            *lock(&ll.created_transactions) += req.create;
            let ids: Vec<i64> = (from..from + req.create)
                .map(|i| TRANSACTION_ID_BASE + i as i64)
                .collect();
            Json(json!({"ids": ids})).into_response()
        }
        other => (
            StatusCode::BAD_REQUEST,
            format!("unknown object {other}; expected customers or transactions"),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct ExtraField {
    #[serde(default)]
    name: Option<String>,
}

/// From now on every record carries the field `name`; `{}` stops it.
async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<ExtraField>,
) -> Response {
    *lock(&app.loyaltylion.extra_field) = req.name.clone();
    Json(json!({"ok": true, "name": req.name})).into_response()
}

/// Member `index` as LoyaltyLion sends it, for tests.
pub fn customer_record(config: &LoyaltyLionConfig, seed: u64, index: u64) -> Value {
    LoyaltyLion::new(config.clone(), seed).customer(index, None)
}

/// Transaction `index` as LoyaltyLion sends it, for tests.
pub fn transaction_record(config: &LoyaltyLionConfig, seed: u64, index: u64) -> Value {
    LoyaltyLion::new(config.clone(), seed).transaction(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_through_base64url() {
        for s in ["", "a", "ab", "abc", "abcd", "{\"lastId\":1468}"] {
            assert_eq!(unb64(&b64(s.as_bytes())).unwrap(), s.as_bytes());
        }
        let c = Cursor {
            last_id: Some(CUSTOMER_ID_BASE + 9),
            last_updated: Some(commerce::BASE_MS),
            direction: "next".into(),
            sort: "updated_at".into(),
            order: "asc".into(),
            min: Some(5),
            max: None,
            customer: None,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("!!"), None);
    }

    #[test]
    fn members_are_shopify_customers_and_transactions_point_at_members() {
        let ll = LoyaltyLion::new(LoyaltyLionConfig::default(), 42);
        let c = ll.customer(5, None);
        assert_eq!(c["id"], CUSTOMER_ID_BASE + 5);
        assert_eq!(
            c["merchant_id"],
            crate::shopify::shopify_id(Kind::Customers, 5).to_string()
        );
        assert!(c["updated_at"].as_str().unwrap().ends_with(".000Z"));
        let t = ll.transaction(3);
        assert_eq!(t["id"], TRANSACTION_ID_BASE + 3);
        let cid = t["customer"]["id"].as_i64().unwrap();
        assert!((CUSTOMER_ID_BASE..CUSTOMER_ID_BASE + 1500).contains(&cid));
    }
}

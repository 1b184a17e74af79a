//! Square API emulation: locations, customers (list and search), orders
//! search and payments list, with Square's bearer auth, `Square-Version`
//! header, opaque `cursor` paging, `{"errors":[…]}` bodies and
//! `RATE_LIMITED` 429s.
//!
//! Sorting is ascending only (what an incremental reader asks for); a
//! descending sort is answered with a 400 naming the limitation.

// Handlers return a ready `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

mod data;

pub use data::{
    base_updated_ms, created_ms, customer, format_time, location, merchant_id, order, payment,
    square_id, Customer, Location, Money, Order, Payment, BASE_MS, SHARED_PHONE,
};

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use crate::RepeatPaging;

/// Settings of the Square emulation. `Debug` redacts the access token.
#[derive(Clone)]
pub struct SquareConfig {
    /// The access token the API accepts as `Authorization: Bearer …`.
    pub access_token: String,
    /// Locations served (the sites cycle: two US stores, Tokyo in yen, a van).
    pub locations: u64,
    /// Customers served.
    pub customers: u64,
    /// Orders served.
    pub orders: u64,
    /// Payments served (payment `i` pays order `i`).
    pub payments: u64,
    /// Requests per second before `RATE_LIMITED` 429s (`None` = unlimited).
    pub requests_per_second: Option<u32>,
}

impl std::fmt::Debug for SquareConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SquareConfig")
            .field("access_token", &"<redacted>")
            .field("locations", &self.locations)
            .field("customers", &self.customers)
            .field("orders", &self.orders)
            .field("payments", &self.payments)
            .field("requests_per_second", &self.requests_per_second)
            .finish()
    }
}

impl Default for SquareConfig {
    fn default() -> Self {
        Self {
            access_token: "sandbox-square-token".into(),
            locations: 3,
            customers: 2000,
            orders: 3000,
            payments: 3000,
            requests_per_second: Some(100),
        }
    }
}

/// The objects that change over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Object {
    /// `/v2/customers`
    Customers,
    /// `/v2/orders`
    Orders,
    /// `/v2/payments`
    Payments,
}

impl Object {
    fn parse(s: &str) -> Option<Object> {
        match s {
            "customers" => Some(Object::Customers),
            "orders" => Some(Object::Orders),
            "payments" => Some(Object::Payments),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Override {
    updated_ms: i64,
    version: u32,
}

#[derive(Debug, Default)]
struct ObjectState {
    created: u64,
    overrides: BTreeMap<u64, Override>,
    by_time: BTreeSet<(i64, u64)>,
}

#[derive(Debug)]
struct Mutable {
    objects: BTreeMap<Object, ObjectState>,
    clock_ms: i64,
    mutations: u64,
}

/// Shared state of the emulation.
#[derive(Debug)]
pub(crate) struct Square {
    pub(crate) config: SquareConfig,
    seed: u64,
    state: Mutex<Mutable>,
    /// A field Square "started sending" on every customer, order and payment.
    extra_field: Mutex<Option<String>>,
}

impl Square {
    pub(crate) fn new(config: SquareConfig, seed: u64) -> Self {
        let max = config.customers.max(config.orders).max(config.payments);
        Self {
            seed,
            state: Mutex::new(Mutable {
                objects: BTreeMap::new(),
                clock_ms: base_updated_ms(max) + 60_000,
                mutations: 0,
            }),
            extra_field: Mutex::new(None),
            config,
        }
    }

    pub(crate) fn reset(&self) {
        let mut s = self.lock();
        s.objects.clear();
        s.mutations = 0;
        drop(s);
        *self.extra_field.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn configured(&self, object: Object) -> u64 {
        match object {
            Object::Customers => self.config.customers,
            Object::Orders => self.config.orders,
            Object::Payments => self.config.payments,
        }
    }

    fn locations(&self) -> u64 {
        self.config.locations.max(1)
    }
}

/// Time filters and order of one listing.
#[derive(Debug, Clone)]
struct Query {
    /// `updated_at` range, inclusive (epoch ms).
    updated: (i64, i64),
    /// `created_at` range, inclusive (epoch ms).
    created: (i64, i64),
    /// Sorted by `updated_at` (else by creation).
    by_updated: bool,
    /// Location indices allowed (orders and payments), `None` = all.
    locations: Option<Vec<u64>>,
}

/// Where a listing continues: in creation order an index; in `updated_at`
/// order first the untouched records by index, then the modified ones by
/// their offset in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    Index(u64),
    Late(u64),
}

impl Pos {
    fn encode(self) -> String {
        // Opaque to clients, as Square's cursors are.
        let (tag, n) = match self {
            Pos::Index(n) => ('B', n),
            Pos::Late(n) => ('L', n),
        };
        format!("{tag}{:X}Q", n ^ 0x5A5A_5A5A)
    }

    fn decode(s: &str) -> Option<Pos> {
        let body = s.get(1..)?.strip_suffix('Q')?;
        let n = u64::from_str_radix(body, 16).ok()? ^ 0x5A5A_5A5A;
        match s.as_bytes().first()? {
            b'B' => Some(Pos::Index(n)),
            b'L' => Some(Pos::Late(n)),
            _ => None,
        }
    }
}

/// One page of record indices (with their modification) and where the next starts.
type Page = (Vec<(u64, Option<Override>)>, Option<Pos>);

impl Square {
    fn scan(&self, obj: Object, q: &Query, pos: Pos, limit: u64) -> Page {
        let s = self.lock();
        let empty = ObjectState::default();
        let st = s.objects.get(&obj).unwrap_or(&empty);
        let total = self.configured(obj) + st.created;
        let n_loc = self.locations();
        let loc_ok = |i: u64| {
            obj == Object::Customers
                || q.locations
                    .as_ref()
                    .is_none_or(|l| l.contains(&(i % n_loc)))
        };
        let created_ok = |i: u64| (q.created.0..=q.created.1).contains(&created_ms(i));
        let updated_of = |i: u64| {
            st.overrides
                .get(&i)
                .map_or(base_updated_ms(i), |o| o.updated_ms)
        };
        let updated_ok = |i: u64| (q.updated.0..=q.updated.1).contains(&updated_of(i));
        let first_updated = data::first_index_updated_at_or_after(q.updated.0);
        let first_created = data::first_index_created_at_or_after(q.created.0);
        let mut out = Vec::new();
        if !q.by_updated {
            let Pos::Index(mut i) = pos else {
                return (out, None);
            };
            i = i.max(first_created);
            while i < total && (out.len() as u64) < limit {
                if i < first_updated && !st.overrides.contains_key(&i) {
                    // Untouched records before `first_updated` are too old: jump to the next modified one.
                    i = st
                        .overrides
                        .range(i..first_updated)
                        .next()
                        .map_or(first_updated, |(k, _)| *k);
                    continue;
                }
                if !created_ok(i) {
                    break;
                }
                if loc_ok(i) && updated_ok(i) {
                    out.push((i, st.overrides.get(&i).copied()));
                }
                i += 1;
            }
            return (out, (i < total).then_some(Pos::Index(i)));
        }
        let mut pos = pos;
        if let Pos::Index(mut i) = pos {
            i = i.max(first_updated).max(first_created);
            while i < total && (out.len() as u64) < limit {
                if base_updated_ms(i) > q.updated.1 || !created_ok(i) {
                    i = total;
                    break;
                }
                if !st.overrides.contains_key(&i) && loc_ok(i) {
                    out.push((i, None));
                }
                i += 1;
            }
            if i < total {
                return (out, Some(Pos::Index(i)));
            }
            pos = Pos::Late(0);
        }
        let Pos::Late(k) = pos else {
            return (out, None);
        };
        let late: Vec<u64> = st
            .by_time
            .iter()
            .filter(|(t, i)| *t >= q.updated.0 && *t <= q.updated.1 && created_ok(*i) && loc_ok(*i))
            .map(|(_, i)| *i)
            .collect();
        let mut k = k as usize;
        while k < late.len() && (out.len() as u64) < limit {
            out.push((late[k], st.overrides.get(&late[k]).copied()));
            k += 1;
        }
        (out, (k < late.len()).then_some(Pos::Late(k as u64)))
    }

    fn write(&self, obj: Object, index: u64, ov: Option<Override>, buf: &mut Vec<u8>) {
        let (version, updated) =
            ov.map_or((0, base_updated_ms(index)), |o| (o.version, o.updated_ms));
        let (seed, l, c) = (self.seed, self.locations(), self.config.customers);
        // Writing to a Vec cannot fail.
        let _ = match obj {
            Object::Customers => {
                serde_json::to_writer(&mut *buf, &customer(seed, index, version, updated))
            }
            Object::Orders => {
                serde_json::to_writer(&mut *buf, &order(seed, index, version, updated, l, c))
            }
            Object::Payments => {
                serde_json::to_writer(&mut *buf, &payment(seed, index, version, updated, l, c))
            }
        };
        let extra = self.extra_field.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(name), Some(b'}')) = (extra.as_deref(), buf.last()) {
            buf.pop();
            let _ = write!(
                buf,
                r#",{}:{{"introduced":"2026-12-01","values":[1,2,3]}}}}"#,
                serde_json::Value::from(name)
            );
        }
    }

    /// `{"<key>":[…],"cursor":"…"}`; Square sends `{}` when nothing matched.
    fn page_body(
        &self,
        obj: Object,
        key: &str,
        page: Page,
        given: Option<&str>,
        repeat: bool,
    ) -> Response {
        let (rows, next) = page;
        let mut buf = Vec::with_capacity(rows.len() * 900 + 64);
        buf.push(b'{');
        if !rows.is_empty() {
            buf.extend_from_slice(format!("\"{key}\":[").as_bytes());
            for (k, (i, ov)) in rows.iter().enumerate() {
                if k > 0 {
                    buf.push(b',');
                }
                self.write(obj, *i, *ov, &mut buf);
            }
            buf.push(b']');
        }
        if let Some(next) = next {
            let token = match (repeat, given) {
                (true, Some(g)) => g.to_owned(),
                _ => next.encode(),
            };
            if !rows.is_empty() {
                buf.push(b',');
            }
            buf.extend_from_slice(format!("\"cursor\":\"{token}\"").as_bytes());
        }
        buf.push(b'}');
        json_response(StatusCode::OK, buf)
    }
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/v2/locations", get(list_locations))
        .route("/v2/customers", get(list_customers))
        .route("/v2/customers/search", post(search_customers))
        .route("/v2/orders/search", post(search_orders))
        .route("/v2/payments", get(list_payments))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/square/mutate", post(mutate))
        .route("/_sandbox/square/extra_field", post(extra_field))
}

#[derive(Debug, Deserialize)]
struct ExtraField {
    #[serde(default)]
    name: Option<String>,
}

/// `{"name": "x"}` adds field `x` (an object) to every customer, order and
/// payment served; `{}` stops it.
async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<ExtraField>,
) -> Response {
    *app.square
        .extra_field
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = req.name.clone();
    Json(serde_json::json!({"ok": true, "name": req.name})).into_response()
}

/// What the demo's Square pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, config: &SquareConfig, seed: u64) -> Vec<(String, String)> {
    let mut env = vec![
        ("SQUARE_BASE_URL".into(), base_url.into()),
        ("SQUARE_ACCESS_TOKEN".into(), config.access_token.clone()),
    ];
    // The first three location ids, for pipelines that name them (the REST example's orders search).
    for k in 1..=3u64 {
        let id = location(seed, (k - 1) % config.locations.max(1)).id;
        env.push((format!("SQUARE_LOCATION_ID_{k}"), id));
    }
    env
}

/// Square's error body: `{"errors":[{"category","code","detail"[,"field"]}]}`.
pub fn error_body(category: &str, code: &str, detail: &str, field: Option<&str>) -> String {
    let mut e = serde_json::json!({"category": category, "code": code, "detail": detail});
    if let Some(f) = field {
        e["field"] = f.into();
    }
    serde_json::json!({ "errors": [e] }).to_string()
}

fn square_error(
    status: StatusCode,
    category: &str,
    code: &str,
    detail: &str,
    field: Option<&str>,
) -> Response {
    json_response(
        status,
        error_body(category, code, detail, field).into_bytes(),
    )
}

fn bad_request(code: &str, detail: &str, field: Option<&str>) -> Response {
    square_error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST_ERROR",
        code,
        detail,
        field,
    )
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn unauthorized(detail: &str) -> Response {
    square_error(
        StatusCode::UNAUTHORIZED,
        "AUTHENTICATION_ERROR",
        "UNAUTHORIZED",
        detail,
        None,
    )
}

fn rate_limited() -> Response {
    square_error(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMIT_ERROR",
        "RATE_LIMITED",
        "Rate limit exceeded.",
        None,
    )
}

/// Square's answer to an injected status fault.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    match status.as_u16() {
        429 => rate_limited(),
        401 => unauthorized("This request could not be authorized."),
        403 => square_error(
            status,
            "AUTHENTICATION_ERROR",
            "INSUFFICIENT_SCOPES",
            "The merchant has not given your application sufficient permissions to do that.",
            None,
        ),
        503 => square_error(
            status,
            "API_ERROR",
            "SERVICE_UNAVAILABLE",
            "Service Unavailable",
            None,
        ),
        504 => square_error(
            status,
            "API_ERROR",
            "GATEWAY_TIMEOUT",
            "Gateway Timeout",
            None,
        ),
        _ => square_error(
            status,
            "API_ERROR",
            "INTERNAL_SERVER_ERROR",
            "An internal error has occurred, and the API was unable to service your request.",
            None,
        ),
    }
}

/// Bearer auth, the `Square-Version` header's format, and the request budget.
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let config = &app.square.config;
    match req.headers().get("authorization").and_then(|v| v.to_str().ok()) {
        None => {
            return unauthorized("Your request did not include an `Authorization` http header with an access token. The header value is expected to be of the format \"Bearer TOKEN\" (without quotation marks), where TOKEN is to be replaced with your access token (e.g. \"Bearer ABC123def456GHI789jkl0\"). For more information, see https://developer.squareup.com/docs/build-basics/access-tokens. If you are seeing this error message while using one of our officially supported SDKs, please report this to developers@squareup.com.")
        }
        Some(v) => {
            let token = v.strip_prefix("Bearer ").map(str::trim);
            if token != Some(config.access_token.as_str()) {
                return unauthorized("This request could not be authorized.");
            }
        }
    }
    if let Some(v) = req.headers().get("square-version") {
        if !valid_version(v.to_str().unwrap_or("")) {
            return bad_request(
                "INVALID_SQUARE_VERSION_FORMAT",
                "Invalid Square-Version format. Expected YYYY-MM-DD.",
                None,
            );
        }
    }
    if let Some(limit) = config.requests_per_second {
        if app.spend("square:general", limit).is_none() {
            return rate_limited();
        }
    }
    next.run(req).await
}

fn valid_version(v: &str) -> bool {
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok() && v.len() == 10
}

fn query_pairs(raw: Option<&str>) -> BTreeMap<String, String> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), crate::hubspot::percent_decode(v))
        })
        .collect()
}

fn parse_limit(raw: Option<&str>, default: u64, max: u64) -> Result<u64, Response> {
    let Some(raw) = raw else { return Ok(default) };
    let n: i64 = raw.parse().map_err(|_| {
        bad_request(
            "INVALID_VALUE",
            &format!("Invalid value for `limit`: {raw}"),
            Some("limit"),
        )
    })?;
    if n < 1 {
        return Err(bad_request(
            "VALUE_TOO_LOW",
            &format!("`limit` must be at least 1, got {n}."),
            Some("limit"),
        ));
    }
    if n as u64 > max {
        return Err(bad_request(
            "VALUE_TOO_HIGH",
            &format!("`limit` must be at most {max}, got {n}."),
            Some("limit"),
        ));
    }
    Ok(n as u64)
}

fn parse_time(raw: &str, field: &str) -> Result<i64, Response> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            bad_request(
                "INVALID_TIME",
                &format!("Invalid RFC 3339 timestamp for `{field}`: {raw}"),
                Some(field),
            )
        })
}

fn parse_cursor(raw: Option<&str>) -> Result<Pos, Response> {
    match raw {
        None | Some("") => Ok(Pos::Index(0)),
        Some(c) => Pos::decode(c).ok_or_else(|| {
            bad_request(
                "INVALID_CURSOR",
                "The pagination cursor is invalid.",
                Some("cursor"),
            )
        }),
    }
}

fn ascending(order: Option<&str>, default_desc: bool) -> Result<(), Response> {
    match order {
        Some("ASC") => Ok(()),
        None if !default_desc => Ok(()),
        Some("DESC") | None => Err(bad_request(
            "INVALID_SORT_ORDER",
            "The sandbox serves sort_order ASC only.",
            Some("sort_order"),
        )),
        Some(o) => Err(bad_request(
            "INVALID_ENUM_VALUE",
            &format!("`{o}` is not a valid enum value for `sort_order`."),
            Some("sort_order"),
        )),
    }
}

const ALL_TIME: (i64, i64) = (i64::MIN, i64::MAX);

async fn list_locations(State(app): State<Arc<crate::AppState>>) -> Response {
    let sq = &app.square;
    let locations: Vec<Location> = (0..sq.locations()).map(|i| location(sq.seed, i)).collect();
    Json(serde_json::json!({ "locations": locations })).into_response()
}

async fn list_customers(
    State(app): State<Arc<crate::AppState>>,
    RawQuery(raw): RawQuery,
    repeat: Option<Extension<RepeatPaging>>,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let limit = match parse_limit(q.get("limit").map(String::as_str), 100, 100) {
        Ok(l) => l,
        Err(r) => return r,
    };
    if let Err(r) = ascending(q.get("sort_order").map(String::as_str), false) {
        return r;
    }
    let pos = match parse_cursor(q.get("cursor").map(String::as_str)) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let query = Query {
        updated: ALL_TIME,
        created: ALL_TIME,
        by_updated: false,
        locations: None,
    };
    let sq = &app.square;
    let page = sq.scan(Object::Customers, &query, pos, limit);
    sq.page_body(
        Object::Customers,
        "customers",
        page,
        q.get("cursor").map(String::as_str),
        repeat.is_some(),
    )
}

#[derive(Debug, Default, Deserialize)]
struct TimeRange {
    #[serde(default)]
    start_at: Option<String>,
    #[serde(default)]
    end_at: Option<String>,
}

fn range(r: Option<&TimeRange>, field: &str) -> Result<(i64, i64), Response> {
    let Some(r) = r else { return Ok(ALL_TIME) };
    let lo = r
        .start_at
        .as_deref()
        .map(|s| parse_time(s, field))
        .transpose()?;
    // `end_at` is exclusive in Square's time ranges.
    let hi = r
        .end_at
        .as_deref()
        .map(|s| parse_time(s, field))
        .transpose()?;
    Ok((lo.unwrap_or(i64::MIN), hi.map_or(i64::MAX, |h| h - 1)))
}

#[derive(Debug, Default, Deserialize)]
struct CustomerSearch {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    query: Option<CustomerQuery>,
}

#[derive(Debug, Default, Deserialize)]
struct CustomerQuery {
    #[serde(default)]
    filter: Option<CustomerFilter>,
    #[serde(default)]
    sort: Option<CustomerSort>,
}

#[derive(Debug, Default, Deserialize)]
struct CustomerFilter {
    #[serde(default)]
    created_at: Option<TimeRange>,
    #[serde(default)]
    updated_at: Option<TimeRange>,
}

#[derive(Debug, Default, Deserialize)]
struct CustomerSort {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    order: Option<String>,
}

async fn search_customers(
    State(app): State<Arc<crate::AppState>>,
    repeat: Option<Extension<RepeatPaging>>,
    body: axum::body::Bytes,
) -> Response {
    let req: CustomerSearch = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request("BAD_REQUEST", &format!("Invalid request body: {e}"), None),
    };
    let limit = match parse_limit(req.limit.map(|l| l.to_string()).as_deref(), 100, 100) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let q = req.query.unwrap_or_default();
    let filter = q.filter.unwrap_or_default();
    if let Some(sort) = &q.sort {
        // SearchCustomers sorts by DEFAULT (name) or CREATED_AT only.
        match sort.field.as_deref() {
            None | Some("CREATED_AT") | Some("DEFAULT") => {}
            Some(f) => {
                return bad_request(
                    "INVALID_ENUM_VALUE",
                    &format!("`{f}` is not a valid enum value for `query.sort.field`."),
                    Some("query.sort.field"),
                )
            }
        }
        if let Err(r) = ascending(sort.order.as_deref(), false) {
            return r;
        }
    }
    let (updated, created) = match (
        range(filter.updated_at.as_ref(), "query.filter.updated_at"),
        range(filter.created_at.as_ref(), "query.filter.created_at"),
    ) {
        (Ok(u), Ok(c)) => (u, c),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let pos = match parse_cursor(req.cursor.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let query = Query {
        updated,
        created,
        by_updated: false,
        locations: None,
    };
    let sq = &app.square;
    let page = sq.scan(Object::Customers, &query, pos, limit);
    sq.page_body(
        Object::Customers,
        "customers",
        page,
        req.cursor.as_deref(),
        repeat.is_some(),
    )
}

#[derive(Debug, Default, Deserialize)]
struct OrderSearch {
    #[serde(default)]
    location_ids: Vec<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    return_entries: bool,
    #[serde(default)]
    query: Option<OrderQuery>,
}

#[derive(Debug, Default, Deserialize)]
struct OrderQuery {
    #[serde(default)]
    filter: Option<OrderFilter>,
    #[serde(default)]
    sort: Option<OrderSort>,
}

#[derive(Debug, Default, Deserialize)]
struct OrderFilter {
    #[serde(default)]
    date_time_filter: Option<DateTimeFilter>,
}

#[derive(Debug, Default, Deserialize)]
struct DateTimeFilter {
    #[serde(default)]
    created_at: Option<TimeRange>,
    #[serde(default)]
    updated_at: Option<TimeRange>,
    #[serde(default)]
    closed_at: Option<TimeRange>,
}

#[derive(Debug, Default, Deserialize)]
struct OrderSort {
    sort_field: String,
    #[serde(default)]
    sort_order: Option<String>,
}

async fn search_orders(
    State(app): State<Arc<crate::AppState>>,
    repeat: Option<Extension<RepeatPaging>>,
    body: axum::body::Bytes,
) -> Response {
    let req: OrderSearch = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request("BAD_REQUEST", &format!("Invalid request body: {e}"), None),
    };
    if req.location_ids.is_empty() {
        return bad_request(
            "MISSING_REQUIRED_PARAMETER",
            "Missing required parameter.",
            Some("location_ids"),
        );
    }
    if req.location_ids.len() > 10 {
        return bad_request(
            "TOO_MANY_ITEMS",
            "`location_ids` must contain at most 10 items.",
            Some("location_ids"),
        );
    }
    let sq = &app.square;
    let known: Vec<String> = (0..sq.locations())
        .map(|i| location(sq.seed, i).id)
        .collect();
    let mut allowed = Vec::new();
    for id in &req.location_ids {
        match known.iter().position(|k| k == id) {
            Some(i) => allowed.push(i as u64),
            None => {
                return square_error(
                    StatusCode::NOT_FOUND,
                    "INVALID_REQUEST_ERROR",
                    "NOT_FOUND",
                    &format!("Location `{id}` not found."),
                    Some("location_ids"),
                )
            }
        }
    }
    let limit = match parse_limit(req.limit.map(|l| l.to_string()).as_deref(), 500, 1000) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let q = req.query.unwrap_or_default();
    let dt = q
        .filter
        .and_then(|f| f.date_time_filter)
        .unwrap_or_default();
    if dt.closed_at.is_some() {
        return bad_request(
            "INVALID_VALUE",
            "The sandbox filters on created_at and updated_at only.",
            Some("query.filter.date_time_filter.closed_at"),
        );
    }
    let by_updated = match &q.sort {
        None => false,
        Some(s) => {
            if let Err(r) = ascending(s.sort_order.as_deref(), true) {
                return r;
            }
            match s.sort_field.as_str() {
                "UPDATED_AT" => true,
                "CREATED_AT" => false,
                "CLOSED_AT" => {
                    return bad_request(
                        "INVALID_VALUE",
                        "The sandbox sorts by CREATED_AT or UPDATED_AT.",
                        Some("query.sort.sort_field"),
                    )
                }
                f => {
                    return bad_request(
                        "INVALID_ENUM_VALUE",
                        &format!("`{f}` is not a valid enum value for `query.sort.sort_field`."),
                        Some("query.sort.sort_field"),
                    )
                }
            }
        }
    };
    // Square: a date-time filter must be on the field the results are sorted by.
    if (by_updated && dt.created_at.is_some()) || (!by_updated && dt.updated_at.is_some()) {
        return bad_request(
            "INVALID_VALUE",
            "The `date_time_filter` field must match the `sort_field`.",
            Some("query.filter.date_time_filter"),
        );
    }
    let (updated, created) = match (
        range(
            dt.updated_at.as_ref(),
            "query.filter.date_time_filter.updated_at",
        ),
        range(
            dt.created_at.as_ref(),
            "query.filter.date_time_filter.created_at",
        ),
    ) {
        (Ok(u), Ok(c)) => (u, c),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let pos = match parse_cursor(req.cursor.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let query = Query {
        updated,
        created,
        by_updated,
        locations: Some(allowed),
    };
    let page = sq.scan(Object::Orders, &query, pos, limit);
    if req.return_entries {
        let (rows, next) = page;
        let entries: Vec<serde_json::Value> = rows
            .iter()
            .map(|(i, ov)| {
                let loc = location(sq.seed, i % sq.locations());
                serde_json::json!({"order_id": square_id(sq.seed, 0x0D, *i), "version": ov.map_or(1, |o| o.version + 1), "location_id": loc.id})
            })
            .collect();
        let mut body = serde_json::Map::new();
        if !entries.is_empty() {
            body.insert("order_entries".into(), entries.into());
        }
        if let Some(n) = next {
            body.insert("cursor".into(), n.encode().into());
        }
        return Json(serde_json::Value::Object(body)).into_response();
    }
    sq.page_body(
        Object::Orders,
        "orders",
        page,
        req.cursor.as_deref(),
        repeat.is_some(),
    )
}

async fn list_payments(
    State(app): State<Arc<crate::AppState>>,
    RawQuery(raw): RawQuery,
    repeat: Option<Extension<RepeatPaging>>,
) -> Response {
    let q = query_pairs(raw.as_deref());
    let get = |k: &str| q.get(k).map(String::as_str);
    let limit = match parse_limit(get("limit"), 100, 100) {
        Ok(l) => l,
        Err(r) => return r,
    };
    if let Err(r) = ascending(get("sort_order"), true) {
        return r;
    }
    let by_updated = match get("sort_field") {
        None | Some("CREATED_AT") => false,
        Some("UPDATED_AT") => true,
        Some(f) => {
            return bad_request(
                "INVALID_ENUM_VALUE",
                &format!("`{f}` is not a valid enum value for `sort_field`."),
                Some("sort_field"),
            )
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    // Square's defaults: created in the last year, up to now.
    let times = (|| -> Result<_, Response> {
        let begin = get("begin_time")
            .map(|s| parse_time(s, "begin_time"))
            .transpose()?;
        let end = get("end_time")
            .map(|s| parse_time(s, "end_time"))
            .transpose()?;
        let ubegin = get("updated_at_begin_time")
            .map(|s| parse_time(s, "updated_at_begin_time"))
            .transpose()?;
        let uend = get("updated_at_end_time")
            .map(|s| parse_time(s, "updated_at_end_time"))
            .transpose()?;
        Ok((
            (
                begin.unwrap_or(now - 365 * 86_400_000),
                end.map_or(now, |e| e - 1),
            ),
            (ubegin.unwrap_or(i64::MIN), uend.map_or(i64::MAX, |e| e - 1)),
        ))
    })();
    let (created, updated) = match times {
        Ok(t) => t,
        Err(r) => return r,
    };
    let sq = &app.square;
    let locations = match get("location_id") {
        None => None,
        Some(id) => match (0..sq.locations()).find(|i| location(sq.seed, *i).id == id) {
            Some(i) => Some(vec![i]),
            None => {
                return square_error(
                    StatusCode::NOT_FOUND,
                    "INVALID_REQUEST_ERROR",
                    "NOT_FOUND",
                    &format!("Location `{id}` not found."),
                    Some("location_id"),
                )
            }
        },
    };
    let pos = match parse_cursor(get("cursor")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let query = Query {
        updated,
        created,
        by_updated,
        locations,
    };
    let page = sq.scan(Object::Payments, &query, pos, limit);
    sq.page_body(
        Object::Payments,
        "payments",
        page,
        get("cursor"),
        repeat.is_some(),
    )
}

#[derive(Debug, Deserialize)]
struct MutateRequest {
    object: String,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    create: u64,
}

/// Modifies `count` existing records and creates `create` new ones; all get
/// one new `updated_at`, later than every existing one.
async fn mutate(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<MutateRequest>,
) -> Response {
    let Some(obj) = Object::parse(&req.object) else {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "unknown object {}; expected customers, orders or payments",
                req.object
            ),
        )
            .into_response();
    };
    let sq = &app.square;
    let configured = sq.configured(obj);
    let mut s = sq.lock();
    s.clock_ms += 1000;
    s.mutations += 1;
    let (now, round) = (s.clock_ms, s.mutations);
    let st = s.objects.entry(obj).or_default();
    let total = configured + st.created;
    let mut rng = crate::rng::Rng::new(sq.seed, 0x51 + obj as u64, round);
    let want = req.count.min(total);
    let mut chosen = BTreeSet::new();
    while (chosen.len() as u64) < want {
        chosen.insert(rng.below(total));
    }
    let salt = match obj {
        Object::Customers => 0xC5,
        Object::Orders => 0x0D,
        Object::Payments => 0x9A,
    };
    let mut ids = Vec::new();
    for index in chosen.into_iter().chain(total..total + req.create) {
        let version = st.overrides.get(&index).map_or(0, |o| o.version) + 1;
        if let Some(old) = st.overrides.insert(
            index,
            Override {
                updated_ms: now,
                version,
            },
        ) {
            st.by_time.remove(&(old.updated_ms, index));
        }
        st.by_time.insert((now, index));
        ids.push(square_id(sq.seed, salt, index));
    }
    st.created += req.create;
    Json(serde_json::json!({"ids": ids, "updated_at": format_time(now), "updated_at_ms": now}))
        .into_response()
}

/// Whether `headers` carry `token` as a bearer token (for tests of the gate).
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sq(n: u64) -> Square {
        let c = SquareConfig {
            customers: n,
            orders: n,
            payments: n,
            ..Default::default()
        };
        Square::new(c, 42)
    }

    fn all(s: &Square, obj: Object, q: &Query, limit: u64) -> Vec<u64> {
        let mut pos = Pos::Index(0);
        let mut out = Vec::new();
        loop {
            let (rows, next) = s.scan(obj, q, pos, limit);
            out.extend(rows.iter().map(|r| r.0));
            match next {
                Some(p) => pos = p,
                None => return out,
            }
        }
    }

    #[test]
    fn cursors_round_trip() {
        for p in [Pos::Index(0), Pos::Index(12345), Pos::Late(7)] {
            assert_eq!(Pos::decode(&p.encode()), Some(p));
        }
        assert_eq!(Pos::decode("garbage"), None);
    }

    #[test]
    fn updated_order_puts_modified_records_last_and_filters_by_time() {
        let s = sq(30);
        {
            let mut m = s.lock();
            let st = m.objects.entry(Object::Orders).or_default();
            for i in [2u64, 10] {
                st.overrides.insert(
                    i,
                    Override {
                        updated_ms: BASE_MS + 100_000,
                        version: 1,
                    },
                );
                st.by_time.insert((BASE_MS + 100_000, i));
            }
        }
        let q = Query {
            updated: ALL_TIME,
            created: ALL_TIME,
            by_updated: true,
            locations: None,
        };
        let got = all(&s, Object::Orders, &q, 7);
        assert_eq!(got.len(), 30);
        assert_eq!(&got[28..], &[2, 10]);
        let q = Query {
            updated: (base_updated_ms(27), i64::MAX),
            ..q
        };
        assert_eq!(all(&s, Object::Orders, &q, 2), vec![27, 28, 29, 2, 10]);
        // Creation order keeps them in place; the time filter still applies.
        let q = Query {
            by_updated: false,
            ..q
        };
        assert_eq!(all(&s, Object::Orders, &q, 2), vec![2, 10, 27, 28, 29]);
        let q = Query {
            updated: ALL_TIME,
            created: ALL_TIME,
            by_updated: false,
            locations: Some(vec![1]),
        };
        assert!(all(&s, Object::Orders, &q, 4).iter().all(|i| i % 3 == 1));
    }
}

//! Salesforce REST API emulation: the OAuth 2.0 token endpoint, SOQL `query`
//! and `queryAll` with `nextRecordsUrl` paging, `sobjects/<X>/describe`,
//! session expiry, the daily API request limit and Salesforce's error bodies.

mod data;
mod soql;

pub use data::{
    base_deleted, base_modstamp_ms, fields, format_datetime, record, record_at, record_id,
    FieldDef, Record, SObject, Sizes, Value, BASE_MS, OBJECTS, SHARED_PHONE,
};
pub use soql::{parse as parse_soql, parse_datetime, Query, SoqlError};

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use crate::RepeatPaging;

/// Settings of the Salesforce emulation. `Debug` redacts the secrets.
#[derive(Clone)]
pub struct SalesforceConfig {
    /// The connected app's consumer key.
    pub client_id: String,
    /// The connected app's consumer secret.
    pub client_secret: String,
    /// The refresh token the token endpoint accepts.
    pub refresh_token: String,
    /// Whether the client credentials flow has a run-as user.
    pub client_credentials_enabled: bool,
    /// Records per object.
    pub contacts: u64,
    /// Leads served.
    pub leads: u64,
    /// Accounts served.
    pub accounts: u64,
    /// Opportunities served.
    pub opportunities: u64,
    /// Campaigns served.
    pub campaigns: u64,
    /// Campaign members served.
    pub campaign_members: u64,
    /// API requests allowed per 24 hours before `REQUEST_LIMIT_EXCEEDED`.
    pub daily_api_requests: u64,
    /// Objects the integration user may not read.
    pub hidden_objects: Vec<String>,
}

impl std::fmt::Debug for SalesforceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("contacts", &self.contacts)
            .field("daily_api_requests", &self.daily_api_requests)
            .finish_non_exhaustive()
    }
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        Self {
            client_id: "3MVG9sandbox.braid.consumer.key".into(),
            client_secret: "sandbox-salesforce-secret".into(),
            refresh_token: "5Aep861sandbox-refresh-token".into(),
            client_credentials_enabled: true,
            contacts: 2000,
            leads: 800,
            accounts: 300,
            opportunities: 600,
            campaigns: 20,
            campaign_members: 1500,
            daily_api_requests: 100_000,
            hidden_objects: Vec::new(),
        }
    }
}

/// Salesforce's default and largest query batch.
pub const MAX_BATCH: usize = 2000;
/// Open query cursors per user before the oldest is dropped (Salesforce: 10).
const OPEN_CURSORS: usize = 10;
const ORG_ID: &str = "00D5g000004XyZqEAK";

#[derive(Debug, Clone, Copy)]
struct Override {
    modstamp_ms: i64,
    version: u32,
    deleted: bool,
}

#[derive(Debug, Default, Clone)]
struct ObjectState {
    created: u64,
    overrides: BTreeMap<u64, Override>,
}

/// A query's result set, frozen when it ran (as Salesforce's cursors are).
struct Cursor {
    query: Query,
    all_rows: bool,
    base_hi: u64,
    overrides: Arc<BTreeMap<u64, Override>>,
    /// Mutated records in the range, by (modstamp, index).
    late: Vec<(u64, Override)>,
    total: u64,
    batch: usize,
    /// Offset of a page → where its scan starts (base index, late position).
    positions: BTreeMap<u64, (u64, usize)>,
    extra_field: Option<String>,
}

struct Mutable {
    objects: BTreeMap<SObject, ObjectState>,
    clock_ms: i64,
    mutations: u64,
    tokens: HashSet<String>,
    cursors: BTreeMap<String, Cursor>,
    order: VecDeque<String>,
    extra_fields: BTreeMap<SObject, String>,
    next_cursor: u64,
}

/// Shared state of the emulation.
pub(crate) struct Salesforce {
    pub(crate) config: SalesforceConfig,
    seed: u64,
    api_used: AtomicU64,
    tokens_issued: AtomicU64,
    state: Mutex<Mutable>,
}

impl Salesforce {
    pub(crate) fn new(config: SalesforceConfig, seed: u64) -> Self {
        let max = [
            config.contacts,
            config.leads,
            config.accounts,
            config.opportunities,
            config.campaigns,
            config.campaign_members,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Self {
            seed,
            api_used: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            state: Mutex::new(Mutable {
                objects: BTreeMap::new(),
                clock_ms: base_modstamp_ms(max) + 60_000,
                mutations: 0,
                tokens: HashSet::new(),
                cursors: BTreeMap::new(),
                order: VecDeque::new(),
                extra_fields: BTreeMap::new(),
                next_cursor: 0,
            }),
            config,
        }
    }

    pub(crate) fn reset(&self) {
        let mut s = self.lock();
        s.objects.clear();
        s.mutations = 0;
        s.cursors.clear();
        s.order.clear();
        s.extra_fields.clear();
        self.api_used.store(0, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn configured(&self, o: SObject) -> u64 {
        let c = &self.config;
        match o {
            SObject::Contact => c.contacts,
            SObject::Lead => c.leads,
            SObject::Account => c.accounts,
            SObject::Opportunity => c.opportunities,
            SObject::Campaign => c.campaigns,
            SObject::CampaignMember => c.campaign_members,
        }
    }

    fn sizes(&self) -> Sizes {
        Sizes {
            accounts: self.config.accounts,
            campaigns: self.config.campaigns,
            contacts: self.config.contacts,
            leads: self.config.leads,
        }
    }

    fn hidden(&self, o: SObject) -> bool {
        self.config
            .hidden_objects
            .iter()
            .any(|h| h.eq_ignore_ascii_case(o.name()))
    }

    fn render(&self, o: SObject, index: u64, ov: Option<Override>) -> Record {
        match ov {
            Some(v) => record_at(
                o,
                self.seed,
                index,
                v.version,
                v.modstamp_ms,
                v.deleted,
                self.sizes(),
            ),
            None => record(o, self.seed, index, self.sizes()),
        }
    }
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    let api = Router::new()
        .route("/services/data/{version}/query", get(query))
        .route("/services/data/{version}/queryAll", get(query_all))
        .route("/services/data/{version}/query/{locator}", get(query_more))
        .route(
            "/services/data/{version}/queryAll/{locator}",
            get(query_more),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/describe",
            get(describe),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, gate));
    Router::new()
        .route("/services/oauth2/token", post(token))
        .merge(api)
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/salesforce/mutate", post(mutate))
        .route(
            "/_sandbox/salesforce/expire_sessions",
            post(expire_sessions),
        )
        .route("/_sandbox/salesforce/extra_field", post(extra_field))
        .route("/_sandbox/salesforce/usage", get(usage))
}

/// What the demo's Salesforce pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, c: &SalesforceConfig) -> Vec<(String, String)> {
    vec![
        ("SALESFORCE_LOGIN_URL".into(), base_url.into()),
        ("SALESFORCE_CLIENT_ID".into(), c.client_id.clone()),
        ("SALESFORCE_CLIENT_SECRET".into(), c.client_secret.clone()),
        ("SALESFORCE_REFRESH_TOKEN".into(), c.refresh_token.clone()),
    ]
}

/// Salesforce's error body: `[{"message": …, "errorCode": …}]`.
pub(crate) fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json;charset=UTF-8")],
        serde_json::json!([{"message": message, "errorCode": code}]).to_string(),
    )
        .into_response()
}

fn invalid_session() -> Response {
    sf_error(
        StatusCode::UNAUTHORIZED,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    )
}

fn not_found() -> Response {
    sf_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// Salesforce's answer to an injected status fault.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    match status.as_u16() {
        401 => invalid_session(),
        403 => sf_error(status, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        429 => {
            let mut r = sf_error(status, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.");
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        503 => sf_error(status, "SERVER_UNAVAILABLE", "Server is temporarily unavailable, try again later"),
        _ => sf_error(
            status,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: 1871522411-37911 (-1418725411)",
        ),
    }
}

/// Bearer sessions, the API version in the path, and the daily request limit
/// with its `Sforce-Limit-Info` header.
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let sf = &app.salesforce;
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(|t| t.trim().to_owned());
    let valid = token.is_some_and(|t| sf.lock().tokens.contains(&t));
    if !valid {
        return invalid_session();
    }
    let version = req.uri().path().split('/').nth(3).unwrap_or("");
    let ok_version = version
        .strip_prefix('v')
        .and_then(|v| v.parse::<f64>().ok())
        .is_some_and(|v| (31.0..=66.0).contains(&v) && version.contains('.'));
    if !ok_version {
        return not_found();
    }
    let limit = sf.config.daily_api_requests;
    let used = sf.api_used.fetch_add(1, Ordering::Relaxed) + 1;
    let mut resp = if used > limit {
        sf_error(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
    } else {
        next.run(req).await
    };
    if let Ok(v) = HeaderValue::from_str(&format!("api-usage={}/{limit}", used.min(limit))) {
        resp.headers_mut().insert("sforce-limit-info", v);
    }
    resp
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form(raw: &str) -> BTreeMap<String, String> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/json;charset=UTF-8")],
        serde_json::json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response()
}

/// `POST /services/oauth2/token` with the refresh-token or client-credentials grant.
async fn token(State(app): State<Arc<crate::AppState>>, body: axum::body::Bytes) -> Response {
    let sf = &app.salesforce;
    let f = form(&String::from_utf8_lossy(&body));
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    let grant = get("grant_type");
    if !matches!(grant, "refresh_token" | "client_credentials") {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    if get("client_id") != sf.config.client_id {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    if get("client_secret") != sf.config.client_secret {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    if grant == "refresh_token" && get("refresh_token") != sf.config.refresh_token {
        return oauth_error("invalid_grant", "expired access/refresh token");
    }
    if grant == "client_credentials" && !sf.config.client_credentials_enabled {
        return oauth_error("invalid_grant", "no client credentials user enabled");
    }
    let n = sf.tokens_issued.fetch_add(1, Ordering::Relaxed) + 1;
    let mix = crate::rng::mix(sf.seed ^ n);
    let access = format!(
        "{}!AQ4AQ{:016x}{:016x}",
        &ORG_ID[..15],
        mix,
        crate::rng::mix(mix)
    );
    sf.lock().tokens.insert(access.clone());
    let issued_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let signature: String = (0..4)
        .map(|k| format!("{:016x}", crate::rng::mix(mix ^ k)))
        .collect();
    let mut body = serde_json::json!({
        "access_token": access,
        "signature": signature,
        "scope": if grant == "refresh_token" { "refresh_token api" } else { "api" },
        "instance_url": app.base_url,
        "id": format!("{}/id/{ORG_ID}/0055g00000AbCdEAAV", app.base_url),
        "token_type": "Bearer",
        "issued_at": issued_at.to_string(),
    });
    if grant == "client_credentials" {
        body.as_object_mut().map(|m| m.remove("refresh_token"));
    }
    Json(body).into_response()
}

fn query_param(raw: Option<&str>, key: &str) -> Option<String> {
    raw?.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (k == key).then(|| percent_decode(v))
    })
}

/// `Sforce-Query-Options: batchSize=n` (200..=2000; default 2000).
fn batch_size(h: &HeaderMap) -> usize {
    h.get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|kv| kv.trim().strip_prefix("batchSize="))
                .and_then(|n| n.trim().parse::<usize>().ok())
        })
        .map_or(MAX_BATCH, |n| n.clamp(200, MAX_BATCH))
}

async fn query(
    State(app): State<Arc<crate::AppState>>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    run_query(&app, &version, raw.as_deref(), &headers, false)
}

async fn query_all(
    State(app): State<Arc<crate::AppState>>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    run_query(&app, &version, raw.as_deref(), &headers, true)
}

fn run_query(
    app: &crate::AppState,
    version: &str,
    raw: Option<&str>,
    headers: &HeaderMap,
    all_rows: bool,
) -> Response {
    let sf = &app.salesforce;
    let Some(q) = query_param(raw, "q").filter(|q| !q.trim().is_empty()) else {
        return sf_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        );
    };
    let added = |o: SObject| sf.lock().extra_fields.get(&o).cloned();
    let parsed = match soql::parse_with(&q, &added) {
        Ok(p) if sf.hidden(p.object) => Err(SoqlError {
            code: "INVALID_TYPE",
            message: format!(
                "\n{q}\n^\nERROR at Row:1:Column:1\nsObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                p.object.name()
            ),
        }),
        other => other,
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => return sf_error(StatusCode::BAD_REQUEST, e.code, &e.message),
    };
    let object = parsed.object;
    let mut s = sf.lock();
    let st = s.objects.get(&object).cloned().unwrap_or_default();
    let n = sf.configured(object);
    let base_lo = if parsed.lo == i64::MIN {
        0
    } else {
        data::first_index_at_or_after(parsed.lo).min(n)
    };
    let base_hi = if parsed.hi == i64::MAX {
        n
    } else {
        data::first_index_at_or_after(parsed.hi.saturating_add(1)).min(n)
    }
    .max(base_lo);
    let want_deleted = |deleted: bool| match parsed.is_deleted {
        Some(d) => d == deleted,
        None => all_rows || !deleted,
    };
    // Base records in range that are neither overridden nor filtered out.
    let overridden_in = st
        .overrides
        .range(base_lo..base_hi)
        .filter(|(i, _)| **i < n);
    let mut base_count = base_hi - base_lo;
    let deleted_in = data::base_deleted_in(sf.seed, base_lo, base_hi);
    let mut deleted_overridden = 0;
    for (i, _) in overridden_in {
        base_count -= 1;
        if data::base_deleted(sf.seed, *i) {
            deleted_overridden += 1;
        }
    }
    let deleted_live = deleted_in - deleted_overridden;
    let base_count = match (parsed.is_deleted, all_rows) {
        (Some(true), _) => deleted_live,
        (None, true) => base_count,
        _ => base_count - deleted_live,
    };
    let mut late: Vec<(u64, Override)> = st
        .overrides
        .iter()
        .filter(|(_, o)| {
            o.modstamp_ms >= parsed.lo && o.modstamp_ms <= parsed.hi && want_deleted(o.deleted)
        })
        .map(|(i, o)| (*i, *o))
        .collect();
    late.sort_by_key(|(i, o)| (o.modstamp_ms, *i));
    let mut total = base_count + late.len() as u64;
    if let Some(l) = parsed.limit {
        total = total.min(l);
    }
    s.next_cursor += 1;
    let locator = data::id_with_prefix("01g", s.next_cursor);
    let mut cursor = Cursor {
        query: parsed,
        all_rows,

        base_hi,
        overrides: Arc::new(st.overrides),
        late,
        total,
        batch: batch_size(headers),
        positions: BTreeMap::new(),
        extra_field: s.extra_fields.get(&object).cloned(),
    };
    cursor.positions.insert(0, (base_lo, 0));
    let body = page(sf, &mut cursor, version, &locator, 0, false);
    s.cursors.insert(locator.clone(), cursor);
    s.order.push_back(locator);
    while s.order.len() > OPEN_CURSORS {
        if let Some(old) = s.order.pop_front() {
            s.cursors.remove(&old);
        }
    }
    json_response(body)
}

async fn query_more(
    State(app): State<Arc<crate::AppState>>,
    Path((version, locator)): Path<(String, String)>,
    repeat: Option<Extension<RepeatPaging>>,
) -> Response {
    let sf = &app.salesforce;
    let invalid = || {
        sf_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        )
    };
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return invalid();
    };
    let Ok(offset) = offset.parse::<u64>() else {
        return invalid();
    };
    let mut s = sf.lock();
    let Some(cursor) = s.cursors.get_mut(id) else {
        return invalid();
    };
    if !cursor.positions.contains_key(&offset) {
        return invalid();
    }
    json_response(page(sf, cursor, &version, id, offset, repeat.is_some()))
}

/// Renders the page of `cursor` at `offset`, remembering where the next starts.
fn page(
    sf: &Salesforce,
    c: &mut Cursor,
    version: &str,
    locator: &str,
    offset: u64,
    repeat: bool,
) -> Vec<u8> {
    let object = c.query.object;
    let (mut base_pos, mut late_pos) = c.positions[&offset];
    let want = (c.total - offset.min(c.total)).min(c.batch as u64);
    let defs = fields(object);
    let mut buf = Vec::with_capacity(want as usize * 600 + 200);
    buf.extend_from_slice(format!("{{\"totalSize\":{},\"done\":", c.total).as_bytes());
    let mut rows = Vec::with_capacity(want as usize);
    while (rows.len() as u64) < want {
        if base_pos < c.base_hi {
            let i = base_pos;
            base_pos += 1;
            if c.overrides.contains_key(&i) {
                continue;
            }
            let deleted = data::base_deleted(sf.seed, i);
            let keep = match c.query.is_deleted {
                Some(d) => d == deleted,
                None => c.all_rows || !deleted,
            };
            if keep {
                rows.push((i, None));
            }
        } else if let Some((i, o)) = c.late.get(late_pos) {
            late_pos += 1;
            rows.push((*i, Some(*o)));
        } else {
            break;
        }
    }
    let next = offset + rows.len() as u64;
    let done = next >= c.total || rows.is_empty();
    buf.extend_from_slice(if done { b"true" as &[u8] } else { b"false" });
    if !done {
        c.positions.insert(next, (base_pos, late_pos));
        let token = if repeat { offset } else { next };
        let kind = if c.all_rows { "queryAll" } else { "query" };
        buf.extend_from_slice(
            format!(",\"nextRecordsUrl\":\"/services/data/{version}/{kind}/{locator}-{token}\"")
                .as_bytes(),
        );
    }
    buf.extend_from_slice(b",\"records\":[");
    for (k, (index, ov)) in rows.iter().enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        let rec = sf.render(object, *index, *ov);
        buf.extend_from_slice(b"{\"attributes\":{\"type\":\"");
        buf.extend_from_slice(object.name().as_bytes());
        buf.extend_from_slice(
            format!(
                "\",\"url\":\"/services/data/{version}/sobjects/{}/{}\"}}",
                object.name(),
                rec.id
            )
            .as_bytes(),
        );
        for fi in &c.query.fields {
            buf.extend_from_slice(b",\"");
            buf.extend_from_slice(defs[*fi].name.as_bytes());
            buf.extend_from_slice(b"\":");
            write_value(&mut buf, &rec.values[*fi]);
        }
        if let Some(extra) = &c.extra_field {
            buf.extend_from_slice(format!(",\"{extra}\":\"gold\"").as_bytes());
        }
        buf.push(b'}');
    }
    buf.extend_from_slice(b"]}");
    buf
}

fn write_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Bool(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Num(n) => buf.extend_from_slice(n.as_bytes()),
        Value::Str(s) => {
            let _ = serde_json::to_writer(&mut *buf, s);
        }
        Value::Address(parts) => {
            let keys = [
                "street",
                "city",
                "postalCode",
                "country",
                "latitude",
                "longitude",
            ];
            buf.extend_from_slice(b"{");
            for (k, (key, part)) in keys.iter().zip(parts.iter()).enumerate() {
                if k > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(format!("\"{key}\":").as_bytes());
                write_value(buf, part);
            }
            buf.extend_from_slice(b",\"geocodeAccuracy\":null,\"state\":null,\"stateCode\":null,\"countryCode\":null}");
        }
    }
}

fn json_response(body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    r
}

fn soap_type(kind: &str) -> &'static str {
    match kind {
        "id" | "reference" => "tns:ID",
        "boolean" => "xsd:boolean",
        "double" | "currency" | "percent" => "xsd:double",
        "int" => "xsd:int",
        "date" => "xsd:date",
        "datetime" => "xsd:dateTime",
        "address" => "urn:address",
        _ => "xsd:string",
    }
}

async fn describe(
    State(app): State<Arc<crate::AppState>>,
    Path((version, object)): Path<(String, String)>,
) -> Response {
    let sf = &app.salesforce;
    let Some(o) = SObject::parse(&object).filter(|o| !sf.hidden(*o)) else {
        return not_found();
    };
    let extra = sf.lock().extra_fields.get(&o).cloned();
    let mut list: Vec<serde_json::Value> = fields(o)
        .iter()
        .map(|d| {
            let length = match d.kind {
                "id" | "reference" => 18,
                "string" | "email" | "phone" | "picklist" | "url" => 255,
                "textarea" => 32000,
                _ => 0,
            };
            serde_json::json!({
                "name": d.name, "label": d.name, "type": d.kind, "soapType": soap_type(d.kind),
                "length": length, "byteLength": length * 3, "precision": d.precision, "scale": d.scale,
                "digits": if d.kind == "int" { 9 } else { 0 },
                "nillable": d.nillable, "compoundFieldName": d.compound,
                "referenceTo": d.reference_to.map_or(vec![], |r| vec![r]),
                "custom": false, "calculated": false, "filterable": d.kind != "address",
                "sortable": d.kind != "address" && d.kind != "textarea", "unique": false,
                "idLookup": d.kind == "id", "externalId": false, "picklistValues": [],
                "createable": !matches!(d.name, "Id" | "IsDeleted" | "CreatedDate" | "LastModifiedDate" | "SystemModstamp"),
                "updateable": !matches!(d.name, "Id" | "IsDeleted" | "CreatedDate" | "LastModifiedDate" | "SystemModstamp"),
            })
        })
        .collect();
    if let Some(name) = extra {
        list.push(serde_json::json!({"name": name, "label": name, "type": "picklist", "soapType": "xsd:string",
            "length": 255, "precision": 0, "scale": 0, "nillable": true, "custom": true, "compoundFieldName": null}));
    }
    let name = o.name();
    Json(serde_json::json!({
        "name": name, "label": name, "labelPlural": format!("{name}s"), "keyPrefix": o.key_prefix(),
        "custom": false, "queryable": true, "retrieveable": true, "replicateable": true,
        "deletable": true, "createable": true, "updateable": true, "searchable": true,
        "fields": list,
        "urls": {
            "sobject": format!("/services/data/{version}/sobjects/{name}"),
            "describe": format!("/services/data/{version}/sobjects/{name}/describe"),
            "rowTemplate": format!("/services/data/{version}/sobjects/{name}/{{ID}}"),
        },
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct MutateRequest {
    object: String,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    create: u64,
    #[serde(default)]
    delete: u64,
}

/// Modifies `count` live records, deletes `delete` and creates `create`; all
/// get one new `SystemModstamp`, later than every existing one.
async fn mutate(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<MutateRequest>,
) -> Response {
    let Some(o) = SObject::parse(&req.object) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("unknown object {}", req.object),
        )
            .into_response();
    };
    let sf = &app.salesforce;
    let configured = sf.configured(o);
    let mut s = sf.lock();
    s.clock_ms += 1000;
    s.mutations += 1;
    let (now, round) = (s.clock_ms, s.mutations);
    let st = s.objects.entry(o).or_default();
    let total = configured + st.created;
    let is_deleted = |st: &ObjectState, i: u64| {
        st.overrides
            .get(&i)
            .map_or(i < configured && base_deleted(sf.seed, i), |v| v.deleted)
    };
    let live = (0..total).filter(|i| !is_deleted(st, *i)).count() as u64;
    let mut rng = crate::rng::Rng::new(sf.seed, 0x5A + o as u64, round);
    let mut chosen: BTreeSet<u64> = BTreeSet::new();
    let want = (req.count + req.delete).min(live);
    while (chosen.len() as u64) < want {
        let i = rng.below(total);
        if !is_deleted(st, i) {
            chosen.insert(i);
        }
    }
    let mut to_delete: BTreeSet<u64> = BTreeSet::new();
    for i in chosen.iter().copied() {
        if (to_delete.len() as u64) < req.delete
            && rng.chance(req.delete as f64 / want.max(1) as f64)
        {
            to_delete.insert(i);
        }
    }
    for i in chosen.iter().rev().copied() {
        if (to_delete.len() as u64) >= req.delete.min(want) {
            break;
        }
        to_delete.insert(i);
    }
    let (mut modified, mut deleted, mut created) = (Vec::new(), Vec::new(), Vec::new());
    for index in chosen.into_iter().chain(total..total + req.create) {
        let version = st.overrides.get(&index).map_or(0, |v| v.version) + 1;
        let del = to_delete.contains(&index);
        st.overrides.insert(
            index,
            Override {
                modstamp_ms: now,
                version,
                deleted: del,
            },
        );
        let id = record_id(o, index);
        if index >= total {
            created.push(id)
        } else if del {
            deleted.push(id)
        } else {
            modified.push(id)
        }
    }
    st.created += req.create;
    Json(serde_json::json!({
        "modified": modified, "deleted": deleted, "created": created,
        "system_modstamp": format_datetime(now), "system_modstamp_ms": now,
    }))
    .into_response()
}

/// Ends every session, as when tokens time out: the next call gets 401 `INVALID_SESSION_ID`.
async fn expire_sessions(State(app): State<Arc<crate::AppState>>) -> Response {
    let n = {
        let mut s = app.salesforce.lock();
        let n = s.tokens.len();
        s.tokens.clear();
        n
    };
    Json(serde_json::json!({"expired": n})).into_response()
}

#[derive(Debug, Deserialize)]
struct ExtraField {
    object: String,
    name: String,
}

/// A field added to the org after discovery: describe lists it and every
/// query record of the object carries it, selected or not (a page with an
/// unexpected field).
async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<ExtraField>,
) -> Response {
    let Some(o) = SObject::parse(&req.object) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("unknown object {}", req.object),
        )
            .into_response();
    };
    app.salesforce.lock().extra_fields.insert(o, req.name);
    Json(serde_json::json!({"ok": true})).into_response()
}

/// API requests counted against the daily limit, and tokens issued.
async fn usage(State(app): State<Arc<crate::AppState>>) -> Response {
    let sf = &app.salesforce;
    Json(serde_json::json!({
        "api_requests": sf.api_used.load(Ordering::Relaxed),
        "tokens_issued": sf.tokens_issued.load(Ordering::Relaxed),
    }))
    .into_response()
}

//! HubSpot CRM v3 emulation: objects list, search and properties endpoints,
//! with HubSpot's bearer auth, paging, error bodies and rate limits.

mod data;

pub use data::{
    base_modified_ms, company, contact, deal, first_index_modified_at_or_after, format_datetime,
    property_definitions, record_at, Object, PropertyDef, Record, BASE_MS, SHARED_EMAIL,
    SHARED_PHONE,
};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use crate::{correlation_id, error_body, RepeatPaging};

/// Settings of the HubSpot emulation. `Debug` redacts the access token.
#[derive(Clone)]
pub struct HubSpotConfig {
    /// The private-app token the API accepts as `Authorization: Bearer …`.
    pub access_token: String,
    /// Contacts served.
    pub contacts: u64,
    /// Companies served.
    pub companies: u64,
    /// Deals served.
    pub deals: u64,
    /// Requests per second before 429s (`None` = unlimited).
    pub requests_per_second: Option<u32>,
    /// Search requests per second before 429s (HubSpot: 5; `None` = unlimited).
    pub search_requests_per_second: Option<u32>,
}

impl std::fmt::Debug for HubSpotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotConfig")
            .field("access_token", &"<redacted>")
            .field("contacts", &self.contacts)
            .field("companies", &self.companies)
            .field("deals", &self.deals)
            .field("requests_per_second", &self.requests_per_second)
            .field(
                "search_requests_per_second",
                &self.search_requests_per_second,
            )
            .finish()
    }
}

impl Default for HubSpotConfig {
    fn default() -> Self {
        Self {
            access_token: "sandbox-hubspot-token".into(),
            contacts: 3000,
            companies: 500,
            deals: 1500,
            requests_per_second: Some(100),
            search_requests_per_second: Some(5),
        }
    }
}

/// HubSpot caps the results one search can page through.
pub const SEARCH_RESULT_CAP: u64 = 10_000;

#[derive(Debug, Clone, Copy)]
struct Override {
    modified_ms: i64,
    version: u32,
}

#[derive(Debug, Default)]
struct ObjectState {
    /// Records created through the admin API, beyond the configured size.
    created: u64,
    overrides: BTreeMap<u64, Override>,
    /// Overridden records sorted by (modified, index).
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
pub(crate) struct HubSpot {
    pub(crate) config: HubSpotConfig,
    seed: u64,
    state: Mutex<Mutable>,
}

impl HubSpot {
    pub(crate) fn new(config: HubSpotConfig, seed: u64) -> Self {
        let max = config.contacts.max(config.companies).max(config.deals);
        Self {
            seed,
            state: Mutex::new(Mutable {
                objects: BTreeMap::new(),
                clock_ms: base_modified_ms(max) + 60_000,
                mutations: 0,
            }),
            config,
        }
    }

    pub(crate) fn reset(&self) {
        let mut s = self.lock();
        s.objects.clear();
        s.mutations = 0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn configured(&self, object: Object) -> u64 {
        match object {
            Object::Contacts => self.config.contacts,
            Object::Companies => self.config.companies,
            Object::Deals => self.config.deals,
        }
    }

    fn record(&self, object: Object, index: u64, ov: Option<Override>) -> Record {
        match ov {
            Some(o) => record_at(object, self.seed, index, o.version, o.modified_ms),
            None => record_at(object, self.seed, index, 0, base_modified_ms(index)),
        }
    }
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/crm/v3/objects/{object}", get(list))
        .route("/crm/v3/objects/{object}/search", post(search))
        .route("/crm/v3/properties/{object}", get(properties))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
}

/// HubSpot's bearer auth and per-second budgets (general, and search).
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let config = &app.hubspot.config;
    if !authorized(req.headers(), &config.access_token) {
        return unauthorized();
    }
    let search = req.uri().path().ends_with("/search");
    let mut remaining = None;
    if let Some(limit) = config.requests_per_second {
        match app.spend("hubspot:general", limit) {
            Some(r) => remaining = Some((limit, r)),
            None => return rate_limited(limit),
        }
    }
    if search {
        if let Some(limit) = config.search_requests_per_second {
            if app.spend("hubspot:search", limit).is_none() {
                return rate_limited(limit);
            }
        }
    }
    let mut resp = next.run(req).await;
    if let Some((limit, r)) = remaining {
        rate_headers(resp.headers_mut(), limit, r);
    }
    resp
}

/// HubSpot's answer to an injected status fault.
pub(crate) fn fault_response(app: &crate::AppState, status: StatusCode) -> Response {
    match status.as_u16() {
        429 => rate_limited(app.hubspot.config.requests_per_second.unwrap_or(100)),
        401 => unauthorized(),
        _ => hubspot_error(
            status,
            "INTERNAL_ERROR",
            "internal error, reference: sandbox fault injection",
        ),
    }
}

/// What the demo's HubSpot pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, config: &HubSpotConfig) -> Vec<(String, String)> {
    vec![
        ("HUBSPOT_BASE_URL".into(), base_url.into()),
        ("HUBSPOT_ACCESS_TOKEN".into(), config.access_token.clone()),
    ]
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new().route("/_sandbox/hubspot/mutate", post(mutate))
}

fn hubspot_error(status: StatusCode, category: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json;charset=utf-8")],
        error_body(category, message),
    )
        .into_response()
}

fn unknown_object(object: &str) -> Response {
    hubspot_error(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        &format!("Unable to infer object type from: {object}"),
    )
}

fn json_response(body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    r
}

/// Decodes `%XX` and `+` in a query component.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct ListQuery {
    limit: Option<String>,
    after: Option<String>,
    properties: Vec<String>,
    archived: bool,
}

fn parse_list_query(raw: Option<&str>) -> ListQuery {
    let mut q = ListQuery {
        limit: None,
        after: None,
        properties: Vec::new(),
        archived: false,
    };
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "limit" => q.limit = Some(v),
            "after" => q.after = Some(v),
            "properties" => q
                .properties
                .extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_owned)),
            "archived" => q.archived = v.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    q
}

/// Appends a JSON string literal.
fn push_str(buf: &mut Vec<u8>, s: &str) {
    // Most values need no escaping: copy them in one go.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

/// A property to render: its name, its position in the object's definitions
/// (where generated records keep it) and its pre-rendered `"name":` key.
struct Selected {
    name: &'static str,
    position: usize,
    key: Vec<u8>,
}

fn write_record(buf: &mut Vec<u8>, rec: &Record, props: &[Selected]) {
    buf.extend_from_slice(b"{\"id\":");
    push_str(buf, &rec.id);
    buf.extend_from_slice(b",\"properties\":{");
    let mut first = true;
    for sel in props {
        let value = match rec.properties.get(sel.position) {
            Some((name, value)) if *name == sel.name => value,
            _ => match rec.properties.iter().find(|(k, _)| *k == sel.name) {
                Some((_, value)) => value,
                None => continue,
            },
        };
        if !first {
            buf.push(b',');
        }
        first = false;
        buf.extend_from_slice(&sel.key);
        match value {
            Some(v) => push_str(buf, v),
            None => buf.extend_from_slice(b"null"),
        }
    }
    buf.extend_from_slice(b"},\"createdAt\":\"");
    data::push_datetime(buf, rec.created_ms);
    buf.extend_from_slice(b"\",\"updatedAt\":\"");
    data::push_datetime(buf, rec.modified_ms);
    buf.extend_from_slice(b"\",\"archived\":false}");
}

fn selected_properties(object: Object, requested: &[String]) -> Vec<Selected> {
    let defs = property_definitions(object);
    let wanted = |name: &str| {
        if requested.is_empty() {
            object.default_properties().contains(&name)
        } else {
            // Unknown names are ignored, as HubSpot does for reads.
            requested.iter().any(|r| r == name)
        }
    };
    defs.iter()
        .enumerate()
        .filter(|(_, d)| wanted(d.name))
        .map(|(position, d)| {
            let mut key = Vec::with_capacity(d.name.len() + 3);
            push_str(&mut key, d.name);
            key.push(b':');
            Selected {
                name: d.name,
                position,
                key,
            }
        })
        .collect()
}

async fn list(
    State(app): State<Arc<crate::AppState>>,
    Path(object): Path<String>,
    RawQuery(raw): RawQuery,
    repeat: Option<Extension<RepeatPaging>>,
) -> Response {
    let Some(obj) = Object::parse(&object) else {
        return unknown_object(&object);
    };
    let q = parse_list_query(raw.as_deref());
    let limit = match q.limit.as_deref().map(str::parse::<u64>) {
        None => 10,
        Some(Ok(n)) if n >= 1 => n.min(100),
        Some(_) => {
            return hubspot_error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "Invalid input JSON on line 1: limit must be a positive integer",
            )
        }
    };
    let start = match q.after.as_deref() {
        None | Some("") => 0,
        Some(a) => match a.parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                return hubspot_error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    &format!("Invalid `after` value: {a}"),
                )
            }
        },
    };
    if q.archived {
        // The sandbox archives nothing.
        return json_response(b"{\"results\":[]}".to_vec());
    }
    let hs = &app.hubspot;
    let props = selected_properties(obj, &q.properties);
    let (total, overrides): (u64, Vec<Option<Override>>) = {
        let s = hs.lock();
        let st = s.objects.get(&obj);
        let total = hs.configured(obj) + st.map_or(0, |o| o.created);
        let end = (start + limit).min(total);
        let ovs = (start..end)
            .map(|i| st.and_then(|o| o.overrides.get(&i).copied()))
            .collect();
        (total, ovs)
    };
    let mut buf = Vec::with_capacity(overrides.len() * 700 + 200);
    buf.extend_from_slice(b"{\"results\":[");
    for (k, ov) in overrides.iter().enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        write_record(&mut buf, &hs.record(obj, start + k as u64, *ov), &props);
    }
    buf.push(b']');
    let next = start + overrides.len() as u64;
    if next < total {
        let token = if repeat.is_some() {
            start.to_string()
        } else {
            next.to_string()
        };
        let link = format!(
            "{}/crm/v3/objects/{}?after={token}",
            app.base_url,
            obj.name()
        );
        buf.extend_from_slice(b",\"paging\":{\"next\":{\"after\":");
        push_str(&mut buf, &token);
        buf.extend_from_slice(b",\"link\":");
        push_str(&mut buf, &link);
        buf.extend_from_slice(b"}}");
    }
    buf.push(b'}');
    json_response(buf)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    #[serde(default)]
    filter_groups: Vec<FilterGroup>,
    #[serde(default)]
    sorts: Vec<serde_json::Value>,
    #[serde(default)]
    properties: Vec<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    after: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct FilterGroup {
    #[serde(default)]
    filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

/// The matching modified-time range `[lo, hi]` (inclusive, epoch ms).
#[allow(clippy::result_large_err)] // built once per request; boxing buys nothing
fn filter_range(object: Object, req: &SearchRequest) -> Result<(i64, i64), Response> {
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    if req.filter_groups.len() > 1 {
        return Err(hubspot_error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "The sandbox supports one filter group",
        ));
    }
    for f in req.filter_groups.iter().flat_map(|g| &g.filters) {
        if f.property_name != object.modified_property() {
            let known = property_definitions(object)
                .iter()
                .any(|d| d.name == f.property_name);
            let msg = if known {
                format!(
                    "The sandbox filters on {} only, not {}",
                    object.modified_property(),
                    f.property_name
                )
            } else {
                format!(
                    "There was a problem with the request. Property \"{}\" does not exist",
                    f.property_name
                )
            };
            return Err(hubspot_error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &msg,
            ));
        }
        let raw = match &f.value {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                return Err(hubspot_error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    "filter value is required",
                ))
            }
        };
        let v: i64 = match raw.parse() {
            Ok(v) => v,
            Err(_) => match chrono::DateTime::parse_from_rfc3339(&raw) {
                Ok(t) => t.timestamp_millis(),
                Err(_) => {
                    return Err(hubspot_error(
                        StatusCode::BAD_REQUEST,
                        "VALIDATION_ERROR",
                        &format!("{raw} is not a valid datetime for {}", f.property_name),
                    ))
                }
            },
        };
        match f.operator.as_str() {
            "GTE" => lo = lo.max(v),
            "GT" => lo = lo.max(v.saturating_add(1)),
            "LTE" => hi = hi.min(v),
            "LT" => hi = hi.min(v.saturating_sub(1)),
            "EQ" => {
                lo = lo.max(v);
                hi = hi.min(v);
            }
            op => {
                return Err(hubspot_error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    &format!("Unsupported operator {op} in the sandbox"),
                ))
            }
        }
    }
    Ok((lo, hi))
}

/// The `k`-th (0-based) index in `[from, to)` that is not in `skip`.
fn nth_unskipped(from: u64, to: u64, k: u64, skip: &BTreeMap<u64, Override>) -> Option<u64> {
    let mut idx = from + k;
    loop {
        if idx >= to {
            return None;
        }
        let skipped = skip.range(from..=idx).count() as u64;
        let candidate = from + k + skipped;
        if candidate == idx {
            if skip.contains_key(&idx) {
                idx += 1;
                continue;
            }
            return Some(idx);
        }
        idx = candidate;
    }
}

async fn search(
    State(app): State<Arc<crate::AppState>>,
    Path(object): Path<String>,
    repeat: Option<Extension<RepeatPaging>>,
    body: axum::body::Bytes,
) -> Response {
    let Some(obj) = Object::parse(&object) else {
        return unknown_object(&object);
    };
    let req: SearchRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return hubspot_error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!("Invalid input JSON: {e}"),
            )
        }
    };
    let limit = req.limit.unwrap_or(10);
    if !(1..=200).contains(&limit) {
        return hubspot_error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "limit must be between 1 and 200",
        );
    }
    let after = match &req.after {
        None => 0,
        Some(serde_json::Value::String(s)) if s.is_empty() => 0,
        Some(serde_json::Value::String(s)) => s.parse::<u64>().unwrap_or(u64::MAX),
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(u64::MAX),
        Some(_) => u64::MAX,
    };
    if after >= SEARCH_RESULT_CAP {
        return hubspot_error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "There was a problem with the request. Paging beyond 10000 results is not supported; narrow the search with filters",
        );
    }
    let descending = req.sorts.iter().any(|s| {
        let d = s.get("direction").and_then(|d| d.as_str()).unwrap_or("");
        d.eq_ignore_ascii_case("DESCENDING") || s.as_str().is_some_and(|t| t.starts_with('-'))
    });
    let (lo, hi) = match filter_range(obj, &req) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let hs = &app.hubspot;
    let props = selected_properties(obj, &req.properties);
    // Matching records in ascending (modified, id) order: the untouched base
    // records (modified time grows with the index), then the mutated ones,
    // which are all later than every base record.
    let (total, page) = {
        let s = hs.lock();
        let empty = ObjectState::default();
        let st = s.objects.get(&obj).unwrap_or(&empty);
        let n = hs.configured(obj);
        let base_lo = if lo == i64::MIN {
            0
        } else {
            first_index_modified_at_or_after(lo).min(n)
        };
        let base_hi = if hi == i64::MAX {
            n
        } else {
            first_index_modified_at_or_after(hi.saturating_add(1)).min(n)
        };
        let base_hi = base_hi.max(base_lo);
        let skipped = st.overrides.range(base_lo..base_hi).count() as u64;
        let base_count = base_hi - base_lo - skipped;
        let late: Vec<(i64, u64)> = st
            .by_time
            .iter()
            .filter(|(t, _)| *t >= lo && *t <= hi)
            .copied()
            .collect();
        let total = base_count + late.len() as u64;
        let mut page = Vec::new();
        for k in after..(after + limit).min(total) {
            let pos = if descending { total - 1 - k } else { k };
            let index = if pos < base_count {
                match nth_unskipped(base_lo, base_hi, pos, &st.overrides) {
                    Some(i) => i,
                    None => break,
                }
            } else {
                late[(pos - base_count) as usize].1
            };
            page.push((index, st.overrides.get(&index).copied()));
        }
        (total, page)
    };
    let mut buf = Vec::with_capacity(page.len() * 700 + 200);
    buf.extend_from_slice(format!("{{\"total\":{total},\"results\":[").as_bytes());
    for (k, (index, ov)) in page.iter().enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        write_record(&mut buf, &hs.record(obj, *index, *ov), &props);
    }
    buf.push(b']');
    let next = after + page.len() as u64;
    if next < total {
        let token = if repeat.is_some() { after } else { next };
        buf.extend_from_slice(b",\"paging\":{\"next\":{\"after\":");
        push_str(&mut buf, &token.to_string());
        buf.extend_from_slice(b"}}");
    }
    buf.push(b'}');
    json_response(buf)
}

async fn properties(Path(object): Path<String>) -> Response {
    let Some(obj) = Object::parse(&object) else {
        return unknown_object(&object);
    };
    let results: Vec<serde_json::Value> = property_definitions(obj)
        .iter()
        .enumerate()
        .map(|(i, d)| {
            serde_json::json!({
                "name": d.name, "label": d.label, "type": d.kind, "fieldType": d.field_type,
                "groupName": d.group, "description": "", "displayOrder": i, "calculated": false,
                "externalOptions": false, "hasUniqueValue": d.name == "hs_object_id", "hidden": false,
                "hubspotDefined": !d.name.starts_with("date_of_birth"), "formField": d.kind != "datetime",
                "options": [], "createdAt": "2019-08-06T02:41:52.127Z", "updatedAt": "2023-09-12T08:11:00.000Z",
                "modificationMetadata": {"archivable": true, "readOnlyDefinition": true, "readOnlyValue": d.kind == "datetime"}
            })
        })
        .collect();
    Json(serde_json::json!({ "results": results })).into_response()
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
/// one new modified time, later than every existing one.
async fn mutate(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<MutateRequest>,
) -> Response {
    let Some(obj) = Object::parse(&req.object) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("unknown object {}", req.object),
        )
            .into_response();
    };
    let hs = &app.hubspot;
    let configured = hs.configured(obj);
    let mut s = hs.lock();
    s.clock_ms += 1000;
    s.mutations += 1;
    let (now, round) = (s.clock_ms, s.mutations);
    let st = s.objects.entry(obj).or_default();
    let total = configured + st.created;
    let mut ids = Vec::new();
    let mut rng = crate::rng::Rng::new(hs.seed, 0x77 + obj as u64, round);
    let want = req.count.min(total);
    let mut chosen = BTreeSet::new();
    while (chosen.len() as u64) < want {
        chosen.insert(rng.below(total));
    }
    for index in chosen.into_iter().chain(total..total + req.create) {
        let version = st.overrides.get(&index).map_or(0, |o| o.version) + 1;
        if let Some(old) = st.overrides.insert(
            index,
            Override {
                modified_ms: now,
                version,
            },
        ) {
            st.by_time.remove(&(old.modified_ms, index));
        }
        st.by_time.insert((now, index));
        ids.push((index + 1).to_string());
    }
    st.created += req.create;
    Json(
        serde_json::json!({"ids": ids, "modified_at": format_datetime(now), "modified_at_ms": now}),
    )
    .into_response()
}

/// Whether the request carries the configured bearer token.
pub(crate) fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .is_some_and(|t| t.trim() == token)
}

/// HubSpot's 401 response.
pub(crate) fn unauthorized() -> Response {
    hubspot_error(
        StatusCode::UNAUTHORIZED,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    )
}

/// HubSpot's 429 response for a per-second budget.
pub(crate) fn rate_limited(limit: u32) -> Response {
    let body = serde_json::json!({
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": "SECONDLY",
        "groupName": "publicapi:private-app:secondly",
    });
    let mut r = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    let h = r.headers_mut();
    h.insert("retry-after", HeaderValue::from_static("1"));
    rate_headers(h, limit, 0);
    r
}

/// HubSpot's rate-limit headers.
pub(crate) fn rate_headers(h: &mut HeaderMap, limit: u32, remaining: u32) {
    let (l, r) = (HeaderValue::from(limit), HeaderValue::from(remaining));
    h.insert("x-hubspot-ratelimit-secondly", l.clone());
    h.insert("x-hubspot-ratelimit-secondly-remaining", r.clone());
    h.insert("x-hubspot-ratelimit-max", HeaderValue::from(limit * 10));
    h.insert(
        "x-hubspot-ratelimit-remaining",
        HeaderValue::from(remaining * 10),
    );
    h.insert(
        "x-hubspot-ratelimit-interval-milliseconds",
        HeaderValue::from_static("10000"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_unskipped_walks_around_overrides() {
        let mut skip = BTreeMap::new();
        for i in [2u64, 3, 7] {
            skip.insert(
                i,
                Override {
                    modified_ms: 0,
                    version: 1,
                },
            );
        }
        let got: Vec<u64> = (0..7)
            .filter_map(|k| nth_unskipped(0, 10, k, &skip))
            .collect();
        assert_eq!(got, vec![0, 1, 4, 5, 6, 8, 9]);
        assert_eq!(nth_unskipped(0, 10, 7, &skip), None);
        assert_eq!(nth_unskipped(3, 10, 0, &skip), Some(4));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let mut c = crate::SandboxConfig::default();
        c.hubspot.access_token = "pat-na1-very-secret".into();
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("contacts: 3000"), "{shown}");
    }

    #[test]
    fn query_strings_are_decoded() {
        let q = parse_list_query(Some(
            "limit=100&after=NTI%3D&properties=email%2Cphone&properties=city",
        ));
        assert_eq!(q.limit.as_deref(), Some("100"));
        assert_eq!(q.after.as_deref(), Some("NTI="));
        assert_eq!(q.properties, vec!["email", "phone", "city"]);
    }
}

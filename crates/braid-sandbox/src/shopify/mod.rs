//! Shopify Admin REST emulation: `customers.json`, `orders.json` (with
//! line items) and `products.json` (with variants) under
//! `/admin/api/{version}/`, plus `shop.json`.
//!
//! As Shopify documents it: `X-Shopify-Access-Token` auth (401
//! `{"errors":"[API] Invalid API key or access token …"}`), cursor paging
//! through the `Link` header's `rel="next"` URL carrying `page_info` (a
//! request with `page_info` may add only `limit` and `fields`; anything else
//! is a 400, as the filters live in the cursor), `limit` 1–250 (default 50),
//! `updated_at_min`/`updated_at_max` (inclusive), `since_id`,
//! `order=updated_at asc|id asc`, orders' `status` filter defaulting to
//! `open` (a reader must send `status=any`), timestamps in the shop's UTC
//! offset, money as decimal strings in the shop's currency, int64 ids, and
//! the leaky-bucket rate limit: a bucket of `bucket_size` calls leaking
//! `leak_per_second`, reported as `X-Shopify-Shop-Api-Call-Limit: n/40`,
//! with 429 `{"errors":"Exceeded 2 calls per second for api client. …"}` and
//! `Retry-After` when full. `POST /_sandbox/shopify/mutate
//! {"object","count","create"}` modifies and creates records at one new
//! `updated_at`; `POST /_sandbox/shopify/extra_field {"name"}` makes every
//! record carry a field nobody expects. Cursors are keysets (after this record), so
//! records changing between pages move but are never skipped. No
//! `rel="previous"` link is sent (readers only go forward).

// Handlers return a ready `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::commerce::{self, After, Kind, Range, Store, Version};
use crate::RepeatPaging;

/// Settings of the Shopify emulation. `Debug` redacts the access token.
#[derive(Clone)]
pub struct ShopifyConfig {
    /// The Admin API access token accepted as `X-Shopify-Access-Token`.
    pub access_token: String,
    /// The shop's name (`{shop}.myshopify.com`).
    pub shop: String,
    /// The shop's currency (ISO 4217); every amount is in it.
    pub currency: String,
    /// The shop's UTC offset in minutes (timestamps carry it).
    pub utc_offset_minutes: i32,
    /// Customers served.
    pub customers: u64,
    /// Orders served.
    pub orders: u64,
    /// Products served.
    pub products: u64,
    /// Calls the leaky bucket holds (Shopify: 40; Plus: 400).
    pub bucket_size: u32,
    /// Calls leaking out per second (Shopify: 2; Plus: 20). 0 = no limit.
    pub leak_per_second: f64,
}

impl std::fmt::Debug for ShopifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyConfig")
            .field("access_token", &"<redacted>")
            .field("shop", &self.shop)
            .field("currency", &self.currency)
            .field("utc_offset_minutes", &self.utc_offset_minutes)
            .field("customers", &self.customers)
            .field("orders", &self.orders)
            .field("products", &self.products)
            .field("bucket_size", &self.bucket_size)
            .field("leak_per_second", &self.leak_per_second)
            .finish()
    }
}

impl Default for ShopifyConfig {
    fn default() -> Self {
        Self {
            access_token: "shpat_sandbox0000000000000000000000".into(),
            shop: "braid-demo".into(),
            currency: "USD".into(),
            utc_offset_minutes: -300,
            customers: 2000,
            orders: 3000,
            products: 200,
            bucket_size: 40,
            leak_per_second: 2.0,
        }
    }
}

/// Base of customer ids.
pub const CUSTOMER_ID_BASE: i64 = 7_100_000_000_000;
/// Base of order ids.
pub const ORDER_ID_BASE: i64 = 5_500_000_000_000;
/// Base of product ids.
pub const PRODUCT_ID_BASE: i64 = 8_000_000_000_000;
/// Base of variant ids (product id × 10 + position, shifted).
pub const VARIANT_ID_BASE: i64 = 44_000_000_000_000;
/// Base of line item ids.
pub const LINE_ITEM_ID_BASE: i64 = 13_000_000_000_000;
const ADDRESS_ID_BASE: i64 = 8_900_000_000_000;

/// The id of record `index` of `kind`.
pub fn shopify_id(kind: Kind, index: u64) -> i64 {
    let base = match kind {
        Kind::Customers => CUSTOMER_ID_BASE,
        Kind::Orders => ORDER_ID_BASE,
        Kind::Products => PRODUCT_ID_BASE,
    };
    base + index as i64
}

fn index_of(kind: Kind, id: i64) -> Option<u64> {
    let i = id - shopify_id(kind, 0);
    (i >= 0).then_some(i as u64)
}

/// Shared state of the emulation.
#[derive(Debug)]
pub(crate) struct Shopify {
    pub(crate) config: ShopifyConfig,
    seed: u64,
    store: Store,
    bucket: Mutex<(f64, Instant)>,
    /// A field Shopify started sending, on every record (`/_sandbox/shopify/extra_field`).
    extra_field: Mutex<Option<String>>,
}

impl Shopify {
    pub(crate) fn new(config: ShopifyConfig, seed: u64) -> Self {
        Self {
            seed,
            store: Store::new(seed, config.customers, config.orders, config.products),
            bucket: Mutex::new((0.0, Instant::now())),
            extra_field: Mutex::new(None),
            config,
        }
    }

    pub(crate) fn reset(&self) {
        self.store.reset();
        *self.bucket.lock().unwrap_or_else(|p| p.into_inner()) = (0.0, Instant::now());
        *self.extra_field.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Takes one call from the bucket: the level after it, or the seconds
    /// until there is room.
    fn take_call(&self) -> Result<u32, f64> {
        let c = &self.config;
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        if c.leak_per_second <= 0.0 {
            return Ok(0);
        }
        let now = Instant::now();
        let level = (b.0 - now.duration_since(b.1).as_secs_f64() * c.leak_per_second).max(0.0);
        *b = (level, now);
        if level + 1.0 > c.bucket_size as f64 {
            return Err((level + 1.0 - c.bucket_size as f64) / c.leak_per_second);
        }
        b.0 = level + 1.0;
        Ok(b.0.ceil() as u32)
    }

    fn ts(&self, ms: i64) -> String {
        commerce::format_offset(ms, self.config.utc_offset_minutes)
    }

    fn money(&self, minor: i64) -> String {
        commerce::money(minor, &self.config.currency)
    }

    fn address(&self, a: &commerce::Address, name: (&str, &str), phone: Option<&str>) -> Value {
        json!({
            "first_name": name.0,
            "last_name": name.1,
            "company": null,
            "address1": a.line1,
            "address2": a.line2,
            "city": a.city,
            "province": a.province,
            "country": a.country,
            "zip": a.zip,
            "phone": phone,
            "name": format!("{} {}", name.0, name.1),
            "province_code": a.province_code,
            "country_code": a.country_code,
            "country_name": a.country,
        })
    }

    /// Customer `index` as Shopify sends it.
    pub(crate) fn customer(&self, index: u64, v: Option<Version>) -> Value {
        let p = commerce::person(self.seed, index, v.map_or(0, |v| v.version));
        let id = shopify_id(Kind::Customers, index);
        let updated = Store::updated_ms(index, v);
        let mut addr = self.address(&p.address, (p.first, p.last), p.phone.as_deref());
        addr["id"] = json!(ADDRESS_ID_BASE + index as i64);
        addr["customer_id"] = json!(id);
        addr["default"] = json!(true);
        json!({
            "id": id,
            "email": p.email,
            "created_at": self.ts(commerce::created_ms(index)),
            "updated_at": self.ts(updated),
            "first_name": p.first,
            "last_name": p.last,
            "state": "enabled",
            "note": p.note,
            "verified_email": p.email.is_some(),
            "multipass_identifier": null,
            "tax_exempt": false,
            "tags": p.tags.join(", "),
            "currency": self.config.currency,
            "phone": p.phone,
            "addresses": [addr.clone()],
            "tax_exemptions": [],
            "email_marketing_consent": p.email.as_ref().map(|_| json!({
                "state": if p.accepts_marketing { "subscribed" } else { "not_subscribed" },
                "opt_in_level": "single_opt_in",
                "consent_updated_at": if p.accepts_marketing { Value::from(self.ts(updated)) } else { Value::Null },
            })),
            "sms_marketing_consent": null,
            "admin_graphql_api_id": format!("gid://shopify/Customer/{id}"),
            "default_address": addr,
        })
    }

    /// Order `index` as Shopify sends it.
    pub(crate) fn order(&self, index: u64, v: Option<Version>) -> Value {
        let c = &self.config;
        let o = commerce::order(
            self.seed,
            index,
            v.map_or(0, |v| v.version),
            c.customers,
            c.products,
        );
        let id = shopify_id(Kind::Orders, index);
        let created = commerce::created_ms(index);
        let updated = Store::updated_ms(index, v);
        let (closed, cancelled) = order_state(&o);
        let lines: Vec<Value> = o
            .lines
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let vid = VARIANT_ID_BASE + l.product as i64 * 10 + l.variant as i64;
                let lid = LINE_ITEM_ID_BASE + index as i64 * 10 + k as i64;
                json!({
                    "id": lid,
                    "admin_graphql_api_id": format!("gid://shopify/LineItem/{lid}"),
                    "variant_id": vid,
                    "product_id": shopify_id(Kind::Products, l.product),
                    "title": l.title,
                    "variant_title": l.variant_title,
                    "name": format!("{} - {}", l.title, l.variant_title),
                    "sku": l.sku,
                    "vendor": null,
                    "quantity": l.quantity,
                    "current_quantity": l.quantity,
                    "price": self.money(l.price_minor),
                    "total_discount": self.money(l.discount_minor),
                    "taxable": true,
                    "requires_shipping": true,
                    "gift_card": false,
                    "fulfillable_quantity": if o.fulfilled { 0 } else { l.quantity },
                    "fulfillment_status": if o.fulfilled { Value::from("fulfilled") } else { Value::Null },
                    "tax_lines": [{"title": "Sales tax", "price": self.money(l.tax_minor), "rate": 0.08}],
                })
            })
            .collect();
        let financial = match o.status {
            "cancelled" => "voided",
            s => s,
        };
        let customer = o.customer.map(|ci| {
            let p = commerce::person(self.seed, ci, 0);
            json!({
                "id": shopify_id(Kind::Customers, ci),
                "email": p.email,
                "first_name": p.first,
                "last_name": p.last,
                "phone": p.phone,
                "state": "enabled",
                "currency": c.currency,
                "admin_graphql_api_id": format!("gid://shopify/Customer/{}", shopify_id(Kind::Customers, ci)),
            })
        });
        json!({
            "id": id,
            "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
            "name": format!("#{}", 1001 + index),
            "order_number": 1001 + index,
            "number": 1 + index,
            "email": o.email,
            "contact_email": o.email,
            "phone": o.phone,
            "created_at": self.ts(created),
            "updated_at": self.ts(updated),
            "processed_at": self.ts(created),
            "closed_at": closed.then(|| self.ts(updated)),
            "cancelled_at": cancelled.then(|| self.ts(created + 3_600_000)),
            "cancel_reason": cancelled.then_some("customer"),
            "currency": c.currency,
            "presentment_currency": c.currency,
            "total_price": self.money(o.total_minor),
            "current_total_price": self.money(o.total_minor),
            "subtotal_price": self.money(o.subtotal_minor - o.discount_minor),
            "total_line_items_price": self.money(o.subtotal_minor),
            "total_tax": self.money(o.tax_minor),
            "total_discounts": self.money(o.discount_minor),
            "taxes_included": false,
            "financial_status": financial,
            "fulfillment_status": if o.fulfilled { Value::from("fulfilled") } else { Value::Null },
            "confirmed": true,
            "test": false,
            "tags": "",
            "source_name": if index.is_multiple_of(5) { "pos" } else { "web" },
            "note": v.map(|v| format!("edited {} time(s)", v.version)),
            "customer": customer,
            "billing_address": self.address(&o.billing, o.name, o.phone.as_deref()),
            "line_items": lines,
            "shipping_lines": [{"title": "Standard", "code": "STANDARD", "price": self.money(o.shipping_minor)}],
        })
    }

    /// Product `index` as Shopify sends it.
    pub(crate) fn product(&self, index: u64, v: Option<Version>) -> Value {
        let p = commerce::product(self.seed, index, v.map_or(0, |v| v.version));
        let id = shopify_id(Kind::Products, index);
        let created = self.ts(commerce::created_ms(index));
        let updated = self.ts(Store::updated_ms(index, v));
        let variants: Vec<Value> = p
            .variants
            .iter()
            .enumerate()
            .map(|(k, var)| {
                let vid = VARIANT_ID_BASE + index as i64 * 10 + k as i64;
                json!({
                    "id": vid,
                    "product_id": id,
                    "title": var.title,
                    "price": self.money(var.price_minor),
                    "position": k + 1,
                    "inventory_policy": "deny",
                    "compare_at_price": null,
                    "option1": var.title,
                    "option2": null,
                    "option3": null,
                    "created_at": created,
                    "updated_at": updated,
                    "taxable": true,
                    "barcode": format!("0{:012}", vid % 1_000_000_000_000),
                    "sku": var.sku,
                    "inventory_quantity": var.inventory,
                    "admin_graphql_api_id": format!("gid://shopify/ProductVariant/{vid}"),
                })
            })
            .collect();
        json!({
            "id": id,
            "title": p.title,
            "body_html": format!("<p>{}</p>", p.title),
            "vendor": p.vendor,
            "product_type": p.product_type,
            "created_at": created,
            "handle": p.handle,
            "updated_at": updated,
            "published_at": (p.status == "active").then(|| created.clone()),
            "template_suffix": null,
            "published_scope": "web",
            "tags": "",
            "status": p.status,
            "admin_graphql_api_id": format!("gid://shopify/Product/{id}"),
            "variants": variants,
            "options": [{"id": id * 10, "product_id": id, "name": "Size", "position": 1,
                "values": p.variants.iter().map(|v| v.title).collect::<Vec<_>>()}],
            "images": [],
            "image": null,
        })
    }
}

/// (closed, cancelled) of an order.
fn order_state(o: &commerce::OrderData) -> (bool, bool) {
    let cancelled = o.status == "cancelled";
    let closed = !cancelled && o.fulfilled && matches!(o.status, "paid" | "refunded");
    (closed, cancelled)
}

/// Orders' `status` filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Open,
    Closed,
    Cancelled,
    Any,
}

impl Status {
    fn code(self) -> char {
        match self {
            Status::Open => 'o',
            Status::Closed => 'c',
            Status::Cancelled => 'x',
            Status::Any => 'a',
        }
    }

    fn from_code(c: char) -> Option<Status> {
        Some(match c {
            'o' => Status::Open,
            'c' => Status::Closed,
            'x' => Status::Cancelled,
            'a' => Status::Any,
            _ => return None,
        })
    }
}

/// What a `page_info` carries: the listing's filters and where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    by_updated: bool,
    range: Range,
    status: Status,
    /// `None` on a first page (from the start).
    after: Option<After>,
}

impl Cursor {
    fn encode(&self) -> String {
        let (t, i) = match self.after {
            Some(After::Index(i)) => (0, i),
            Some(After::Updated(t, i)) => (t, i),
            None => (0, u64::MAX),
        };
        let plain = format!(
            "{}|{}|{}|{}|{}|{}",
            if self.by_updated { 'u' } else { 'i' },
            self.range.since,
            self.range.until,
            self.status.code(),
            t,
            i
        );
        // Opaque to clients, as Shopify's are.
        plain
            .bytes()
            .map(|b| format!("{:02x}", b ^ 0x5A))
            .collect::<String>()
    }

    fn decode(s: &str) -> Option<Cursor> {
        if !s.len().is_multiple_of(2) || !s.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|k| u8::from_str_radix(&s[k..k + 2], 16).ok().map(|b| b ^ 0x5A))
            .collect();
        let plain = String::from_utf8(bytes?).ok()?;
        let parts: Vec<&str> = plain.split('|').collect();
        let [o, since, until, st, t, i] = parts.as_slice() else {
            return None;
        };
        let by_updated = match *o {
            "u" => true,
            "i" => false,
            _ => return None,
        };
        let t: i64 = t.parse().ok()?;
        let i: u64 = i.parse().ok()?;
        Some(Cursor {
            by_updated,
            range: Range {
                since: since.parse().ok()?,
                until: until.parse().ok()?,
            },
            status: Status::from_code(st.chars().next()?)?,
            after: match (i, by_updated) {
                (u64::MAX, _) => None,
                (_, true) => Some(After::Updated(t, i)),
                (_, false) => Some(After::Index(i)),
            },
        })
    }
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/admin/api/{version}/{resource}", get(list))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/shopify/mutate", post(mutate))
        .route("/_sandbox/shopify/extra_field", post(extra_field))
}

/// What the demo's Shopify pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, config: &ShopifyConfig) -> Vec<(String, String)> {
    vec![
        ("SHOPIFY_BASE_URL".into(), base_url.into()),
        ("SHOPIFY_SHOP".into(), config.shop.clone()),
        ("SHOPIFY_ACCESS_TOKEN".into(), config.access_token.clone()),
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

/// Shopify's error body: `{"errors": <string or object>}`.
fn shopify_error(status: StatusCode, errors: Value) -> Response {
    json_response(status, json!({ "errors": errors }).to_string().into_bytes())
}

fn unauthorized() -> Response {
    shopify_error(
        StatusCode::UNAUTHORIZED,
        "[API] Invalid API key or access token (unrecognized login or wrong password)".into(),
    )
}

fn rate_limited(wait_seconds: f64, bucket: u32) -> Response {
    let mut r = shopify_error(
        StatusCode::TOO_MANY_REQUESTS,
        "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.".into(),
    );
    let wait = (wait_seconds * 10.0).ceil() / 10.0;
    if let Ok(v) = HeaderValue::from_str(&format!("{:.1}", wait.max(0.1))) {
        r.headers_mut().insert("retry-after", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{bucket}/{bucket}")) {
        r.headers_mut().insert("x-shopify-shop-api-call-limit", v);
    }
    r
}

fn bad_request(field: &str, message: &str) -> Response {
    shopify_error(StatusCode::BAD_REQUEST, json!({ field: message }))
}

/// Shopify's answer to an injected status fault.
pub(crate) fn fault_response(app: &crate::AppState, status: StatusCode) -> Response {
    match status.as_u16() {
        429 => rate_limited(2.0, app.shopify.config.bucket_size),
        401 => unauthorized(),
        403 => shopify_error(
            status,
            "[API] This action requires merchant approval for read_orders scope.".into(),
        ),
        404 => shopify_error(status, "Not Found".into()),
        503 => shopify_error(status, "Unavailable Shop".into()),
        _ => shopify_error(status, "Internal Server Error".into()),
    }
}

/// `X-Shopify-Access-Token` and the leaky bucket.
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let sh = &app.shopify;
    let token = req
        .headers()
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(sh.config.access_token.as_str()) {
        return unauthorized();
    }
    let level = match sh.take_call() {
        Ok(l) => l,
        Err(wait) => return rate_limited(wait, sh.config.bucket_size),
    };
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&format!("{level}/{}", sh.config.bucket_size)) {
        resp.headers_mut()
            .insert("x-shopify-shop-api-call-limit", v);
    }
    let n = app.requests.load(std::sync::atomic::Ordering::Relaxed);
    if let Ok(v) = HeaderValue::from_str(&format!("{:016x}-sandbox", crate::rng::mix(n))) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                crate::hubspot::percent_decode(k),
                crate::hubspot::percent_decode(v),
            )
        })
        .collect()
}

fn parse_time(field: &str, raw: &str) -> Result<i64, Response> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            bad_request(
                field,
                &format!("{field} is not a valid ISO 8601 date: {raw}"),
            )
        })
}

fn valid_version(v: &str) -> bool {
    v == "unstable"
        || (v.len() == 7
            && chrono::NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d").is_ok())
}

async fn list(
    State(app): State<Arc<crate::AppState>>,
    Path((version, resource)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    repeat: Option<Extension<RepeatPaging>>,
) -> Response {
    let sh = &app.shopify;
    if !valid_version(&version) {
        return shopify_error(StatusCode::NOT_FOUND, "Not Found".into());
    }
    let kind = match resource.as_str() {
        "customers.json" => Kind::Customers,
        "orders.json" => Kind::Orders,
        "products.json" => Kind::Products,
        "shop.json" => {
            let c = &sh.config;
            return Json(json!({"shop": {
                "id": 60_000_000_001i64,
                "name": "Braid Demo Store",
                "myshopify_domain": format!("{}.myshopify.com", c.shop),
                "currency": c.currency,
                "iana_timezone": "America/New_York",
                "plan_name": "basic",
            }}))
            .into_response();
        }
        _ => return shopify_error(StatusCode::NOT_FOUND, "Not Found".into()),
    };
    let q = query_pairs(raw.as_deref());
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let limit = match get("limit") {
        None => 50,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if (1..=250).contains(&n) => n as usize,
            _ => return bad_request("limit", "limit must be an integer between 1 and 250"),
        },
    };
    let given = get("page_info").map(str::to_owned);
    let cursor = if let Some(token) = &given {
        // The filters live in the cursor: anything but limit and fields is refused.
        if let Some((k, _)) = q
            .iter()
            .find(|(k, _)| !matches!(k.as_str(), "page_info" | "limit" | "fields"))
        {
            return bad_request(
                k,
                &format!("{k} cannot be passed when page_info is present."),
            );
        }
        match Cursor::decode(token) {
            Some(c) => c,
            None => return bad_request("page_info", "Invalid value."),
        }
    } else {
        let mut range = Range::ALL;
        if let Some(s) = get("updated_at_min") {
            match parse_time("updated_at_min", s) {
                Ok(t) => range.since = t,
                Err(r) => return r,
            }
        }
        if let Some(s) = get("updated_at_max") {
            match parse_time("updated_at_max", s) {
                Ok(t) => range.until = t,
                Err(r) => return r,
            }
        }
        let by_updated = match get("order").map(|o| o.trim().to_ascii_lowercase()) {
            None => false,
            Some(o) => match o.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["id"] | ["id", "asc"] => false,
                ["updated_at"] | ["updated_at", "asc"] => true,
                _ => {
                    return bad_request(
                        "order",
                        &format!("the sandbox orders by `id asc` or `updated_at asc`, not {o:?}"),
                    )
                }
            },
        };
        let status = match (kind, get("status")) {
            (Kind::Orders, None | Some("open")) => Status::Open,
            (Kind::Orders, Some("closed")) => Status::Closed,
            (Kind::Orders, Some("cancelled")) => Status::Cancelled,
            (Kind::Orders, Some("any")) => Status::Any,
            (Kind::Orders, Some(s)) => {
                return bad_request(
                    "status",
                    &format!("status {s:?} is not one of open, closed, cancelled, any"),
                )
            }
            _ => Status::Any,
        };
        let after = match get("since_id") {
            None => None,
            Some(s) => match s.parse::<i64>() {
                Ok(id) => index_of(kind, id).map(After::Index),
                Err(_) => return bad_request("since_id", "since_id must be an integer"),
            },
        };
        // since_id lists in id order after that record.
        let by_updated = by_updated && after.is_none();
        Cursor {
            by_updated,
            range,
            status,
            after,
        }
    };
    let c = &sh.config;
    let keep = |i: u64, v: Option<Version>| -> bool {
        if cursor.status == Status::Any {
            return true;
        }
        let o = commerce::order(
            sh.seed,
            i,
            v.map_or(0, |v| v.version),
            c.customers,
            c.products,
        );
        let (closed, cancelled) = order_state(&o);
        match cursor.status {
            Status::Open => !closed && !cancelled,
            Status::Closed => closed,
            Status::Cancelled => cancelled,
            Status::Any => true,
        }
    };
    let (rows, more) = sh.store.keyset(
        kind,
        cursor.range,
        cursor.by_updated,
        cursor.after,
        limit,
        &keep,
    );
    let key = match kind {
        Kind::Customers => "customers",
        Kind::Orders => "orders",
        Kind::Products => "products",
    };
    let extra = sh
        .extra_field
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut buf = Vec::with_capacity(rows.len() * 1500 + 32);
    buf.extend_from_slice(format!("{{\"{key}\":[").as_bytes());
    for (k, (i, v)) in rows.iter().enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        let mut value = match kind {
            Kind::Customers => sh.customer(*i, *v),
            Kind::Orders => sh.order(*i, *v),
            Kind::Products => sh.product(*i, *v),
        };
        if let Some(f) = &extra {
            value[f.as_str()] = json!({"introduced": "2025-01", "values": [1, 2, 3]});
        }
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut buf, &value);
    }
    buf.extend_from_slice(b"]}");
    let mut resp = json_response(StatusCode::OK, buf);
    if let Ok(v) = HeaderValue::from_str(&version) {
        resp.headers_mut().insert("x-shopify-api-version", v);
    }
    if let (true, Some(&(i, v))) = (more, rows.last()) {
        let next = Cursor {
            after: Some(if cursor.by_updated {
                After::Updated(Store::updated_ms(i, v), i)
            } else {
                After::Index(i)
            }),
            ..cursor
        };
        let token = match (&repeat, &given) {
            (Some(_), Some(g)) => g.clone(),
            _ => next.encode(),
        };
        let link = format!(
            "<{}/admin/api/{version}/{resource}?limit={limit}&page_info={token}>; rel=\"next\"",
            app.base_url
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert("link", v);
        }
    }
    resp
}

#[derive(Debug, Deserialize)]
struct MutateRequest {
    object: String,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    create: u64,
}

/// Modifies `count` existing records and creates `create` new ones at one
/// new `updated_at`; answers their ids.
async fn mutate(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<MutateRequest>,
) -> Response {
    let Some(kind) = Kind::parse(&req.object) else {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "unknown object {}; expected customers, orders or products",
                req.object
            ),
        )
            .into_response();
    };
    let sh = &app.shopify;
    let (indices, now) = sh.store.mutate(kind, req.count, req.create);
    let ids: Vec<i64> = indices.iter().map(|i| shopify_id(kind, *i)).collect();
    Json(json!({"ids": ids, "updated_at": sh.ts(now), "updated_at_ms": now})).into_response()
}

#[derive(Debug, Deserialize)]
struct ExtraField {
    #[serde(default)]
    name: Option<String>,
}

/// From now on every record carries the field `name` (an object nobody
/// asked for, as when Shopify adds one); `{}` stops it.
async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<ExtraField>,
) -> Response {
    *app.shopify
        .extra_field
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = req.name.clone();
    Json(json!({"ok": true, "name": req.name})).into_response()
}

/// Every record's fields as Shopify sends them, for tests: record `index` of `kind`.
pub fn record(config: &ShopifyConfig, seed: u64, kind: Kind, index: u64) -> Value {
    let sh = Shopify::new(config.clone(), seed);
    match kind {
        Kind::Customers => sh.customer(index, None),
        Kind::Orders => sh.order(index, None),
        Kind::Products => sh.product(index, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            by_updated: true,
            range: Range {
                since: 5,
                until: i64::MAX,
            },
            status: Status::Any,
            after: Some(After::Updated(1_704_067_200_000, 17)),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("zz"), None);
        assert_eq!(Cursor::decode("abc"), None);
    }

    #[test]
    fn records_carry_offsets_money_strings_and_int_ids() {
        let sh = Shopify::new(ShopifyConfig::default(), 42);
        let o = sh.order(3, None);
        assert_eq!(o["id"], ORDER_ID_BASE + 3);
        assert!(o["created_at"].as_str().unwrap().ends_with("-05:00"));
        assert!(o["total_price"].as_str().unwrap().contains('.'));
        assert!(!o["line_items"].as_array().unwrap().is_empty());
        let p = sh.product(1, None);
        assert!(!p["variants"].as_array().unwrap().is_empty());
        let c = sh.customer(5, None);
        assert_eq!(c["phone"], commerce::SHARED_PHONE);
    }
}

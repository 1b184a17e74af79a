//! WooCommerce REST API v3 emulation: `/wp-json/wc/v3/customers`,
//! `/orders` (with line items) and `/products`.
//!
//! As WooCommerce documents it: consumer key and secret as HTTP basic auth,
//! or as `consumer_key`/`consumer_secret` query parameters; errors as
//! `{"code","message","data":{"status"}}` (`woocommerce_rest_cannot_view`
//! without credentials, `woocommerce_rest_authentication_error` for a wrong
//! key or secret, `rest_invalid_param` for a bad parameter); `page`
//! (from 1) and `per_page` (1–100, default 10) with `X-WP-Total`,
//! `X-WP-TotalPages` and a `Link` header; a bare JSON array as the body;
//! `orderby` (orders and products: `date`, `id`, `modified`, …, default
//! `date`; customers: `id`, `include`, `name`, `registered_date`, default
//! `name`) and `order` (`asc` only here); `modified_after` (exclusive) on
//! orders and products, read as UTC with `dates_are_gmt=true` and as site
//! time otherwise. The customers endpoint has no `modified_after`: as in
//! WordPress, a parameter an endpoint does not know is ignored, so a reader
//! passing it gets every customer. Times come twice, in the site's zone
//! without an offset (`date_modified`) and in UTC (`date_modified_gmt`);
//! money as decimal strings in the store currency (line `price` is a
//! number). Listings are offset pages over the live data, as WooCommerce's
//! are. `POST /_sandbox/woocommerce/mutate {"object","count","create"}` and
//! `/_sandbox/woocommerce/extra_field {"name"}` as for Shopify.

// Handlers return a ready `Response` as their error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::commerce::{self, Kind, Store, Version};

/// Settings of the WooCommerce emulation. `Debug` redacts the secrets.
#[derive(Clone)]
pub struct WooCommerceConfig {
    /// The consumer key (`ck_…`).
    pub consumer_key: String,
    /// The consumer secret (`cs_…`).
    pub consumer_secret: String,
    /// The store currency (ISO 4217).
    pub currency: String,
    /// The site's UTC offset in minutes (the non-`_gmt` times are in it).
    pub utc_offset_minutes: i32,
    /// Customers served.
    pub customers: u64,
    /// Orders served.
    pub orders: u64,
    /// Products served.
    pub products: u64,
}

impl std::fmt::Debug for WooCommerceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooCommerceConfig")
            .field("consumer_key", &"<redacted>")
            .field("consumer_secret", &"<redacted>")
            .field("currency", &self.currency)
            .field("utc_offset_minutes", &self.utc_offset_minutes)
            .field("customers", &self.customers)
            .field("orders", &self.orders)
            .field("products", &self.products)
            .finish()
    }
}

impl Default for WooCommerceConfig {
    fn default() -> Self {
        Self {
            consumer_key: "ck_sandbox0000000000000000000000000000000".into(),
            consumer_secret: "cs_sandbox0000000000000000000000000000000".into(),
            currency: "EUR".into(),
            utc_offset_minutes: 60,
            customers: 2000,
            orders: 3000,
            products: 200,
        }
    }
}

/// The id of record `index` of `kind` (WordPress user ids start after the admin).
pub fn woo_id(kind: Kind, index: u64) -> i64 {
    index as i64
        + match kind {
            Kind::Customers => 2,
            Kind::Products => 100,
            Kind::Orders => 100_000,
        }
}

/// Shared state of the emulation.
#[derive(Debug)]
pub(crate) struct WooCommerce {
    pub(crate) config: WooCommerceConfig,
    seed: u64,
    store: Store,
    extra_field: Mutex<Option<String>>,
}

impl WooCommerce {
    pub(crate) fn new(config: WooCommerceConfig, seed: u64) -> Self {
        Self {
            // Another shop than Shopify's: its own people and orders.
            seed: seed ^ 0x3000,
            store: Store::new(
                seed ^ 0x3000,
                config.customers,
                config.orders,
                config.products,
            ),
            extra_field: Mutex::new(None),
            config,
        }
    }

    pub(crate) fn reset(&self) {
        self.store.reset();
        *self.extra_field.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn money(&self, minor: i64) -> String {
        commerce::money(minor, &self.config.currency)
    }

    /// `(local, gmt)` renderings of a time.
    fn times(&self, ms: i64) -> (String, String) {
        (
            commerce::format_naive(ms, self.config.utc_offset_minutes),
            commerce::format_naive(ms, 0),
        )
    }

    fn address(
        a: &commerce::Address,
        name: (&str, &str),
        contact: Option<(Option<&str>, Option<&str>)>,
    ) -> Value {
        let mut v = json!({
            "first_name": name.0,
            "last_name": name.1,
            "company": "",
            "address_1": a.line1,
            "address_2": a.line2.clone().unwrap_or_default(),
            "city": a.city,
            "postcode": a.zip,
            "country": a.country_code,
            "state": a.province_code,
        });
        if let Some((email, phone)) = contact {
            v["email"] = json!(email.unwrap_or(""));
            v["phone"] = json!(phone.unwrap_or(""));
        }
        v
    }

    pub(crate) fn customer(&self, index: u64, v: Option<Version>) -> Value {
        let p = commerce::person(self.seed, index, v.map_or(0, |v| v.version));
        let (c, cg) = self.times(commerce::created_ms(index));
        let (m, mg) = self.times(Store::updated_ms(index, v));
        let email = p.email.clone().unwrap_or_default();
        json!({
            "id": woo_id(Kind::Customers, index),
            "date_created": c, "date_created_gmt": cg,
            "date_modified": m, "date_modified_gmt": mg,
            "email": email,
            "first_name": p.first,
            "last_name": p.last,
            "role": "customer",
            "username": format!("{}{}", p.first.to_lowercase(), index),
            "billing": Self::address(&p.address, (p.first, p.last), Some((p.email.as_deref(), p.phone.as_deref()))),
            "shipping": Self::address(&p.address, (p.first, p.last), None),
            "is_paying_customer": !index.is_multiple_of(3),
            "avatar_url": "https://secure.gravatar.com/avatar/00000000000000000000000000000000?s=96&d=mm&r=g",
            "meta_data": p.note.map(|n| vec![json!({"id": index, "key": "profile_note", "value": n})]).unwrap_or_default(),
        })
    }

    pub(crate) fn order(&self, index: u64, v: Option<Version>) -> Value {
        let c = &self.config;
        let o = commerce::order(
            self.seed,
            index,
            v.map_or(0, |v| v.version),
            c.customers,
            c.products,
        );
        let created = commerce::created_ms(index);
        let (cl, cg) = self.times(created);
        let (ml, mg) = self.times(Store::updated_ms(index, v));
        let status = match (o.status, o.fulfilled) {
            ("paid", true) => "completed",
            ("paid", false) => "processing",
            ("pending", _) => "pending",
            ("refunded", _) => "refunded",
            _ => "cancelled",
        };
        let paid = matches!(status, "completed" | "processing" | "refunded");
        let (pl, pg) = self.times(created + 60_000);
        let lines: Vec<Value> = o
            .lines
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let gross = l.price_minor * l.quantity;
                let exp = 10f64.powi(commerce::currency_exponent(&c.currency) as i32);
                json!({
                    "id": 1_000_000 + index as i64 * 10 + k as i64,
                    "name": format!("{} - {}", l.title, l.variant_title),
                    "product_id": woo_id(Kind::Products, l.product),
                    "variation_id": 0,
                    "quantity": l.quantity,
                    "tax_class": "",
                    "subtotal": self.money(gross),
                    "subtotal_tax": self.money(l.tax_minor),
                    "total": self.money(gross - l.discount_minor),
                    "total_tax": self.money(l.tax_minor),
                    "taxes": [],
                    "meta_data": [{"id": k, "key": "size", "value": l.variant_title}],
                    "sku": l.sku,
                    "price": (gross - l.discount_minor) as f64 / l.quantity as f64 / exp,
                    "image": {"id": "", "src": ""},
                    "parent_name": null,
                })
            })
            .collect();
        let mut head = json!({
            "id": woo_id(Kind::Orders, index),
            "parent_id": 0,
            "status": status,
            "currency": c.currency,
            "version": "9.4.2",
            "prices_include_tax": false,
            "date_created": cl, "date_created_gmt": cg,
            "date_modified": ml, "date_modified_gmt": mg,
            "discount_total": self.money(o.discount_minor),
            "discount_tax": self.money(0),
            "shipping_total": self.money(o.shipping_minor),
            "shipping_tax": self.money(0),
            "cart_tax": self.money(o.tax_minor),
            "total": self.money(o.total_minor),
            "total_tax": self.money(o.tax_minor),
            "customer_id": o.customer.map_or(0, |ci| woo_id(Kind::Customers, ci)),
            "order_key": format!("wc_order_{:013x}", crate::rng::mix(index) & 0xf_ffff_ffff_ffff),
            "billing": Self::address(&o.billing, o.name, Some((o.email.as_deref(), o.phone.as_deref()))),
            "shipping": Self::address(&o.billing, o.name, None),
            "payment_method": "stripe",
            "payment_method_title": "Credit card",
            "transaction_id": if paid { format!("ch_{:016x}", crate::rng::mix(index ^ 0x77)) } else { String::new() },
            "customer_ip_address": "203.0.113.7",
            "customer_user_agent": "Mozilla/5.0",
            "created_via": "checkout",
            "customer_note": v.map(|v| format!("edited {} time(s)", v.version)).unwrap_or_default(),
            "date_completed": (status == "completed").then(|| ml.clone()),
            "date_completed_gmt": (status == "completed").then(|| mg.clone()),
            "date_paid": paid.then(|| pl.clone()),
            "date_paid_gmt": paid.then(|| pg.clone()),
        });
        let more = json!({
            "cart_hash": "",
            "number": (100_000 + index).to_string(),
            "meta_data": [],
            "line_items": lines,
            "tax_lines": [],
            "shipping_lines": [{"id": 2_000_000 + index as i64, "method_title": "Flat rate", "method_id": "flat_rate", "total": self.money(o.shipping_minor), "total_tax": self.money(0)}],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
            "currency_symbol": "€",
        });
        if let (Value::Object(a), Value::Object(b)) = (&mut head, more) {
            a.extend(b);
        }
        head
    }

    pub(crate) fn product(&self, index: u64, v: Option<Version>) -> Value {
        let p = commerce::product(self.seed, index, v.map_or(0, |v| v.version));
        let (cl, cg) = self.times(commerce::created_ms(index));
        let (ml, mg) = self.times(Store::updated_ms(index, v));
        let first = &p.variants[0];
        let variable = p.variants.len() > 1;
        let id = woo_id(Kind::Products, index);
        json!({
            "id": id,
            "name": p.title,
            "slug": p.handle,
            "permalink": format!("https://shop.example.com/product/{}/", p.handle),
            "date_created": cl, "date_created_gmt": cg,
            "date_modified": ml, "date_modified_gmt": mg,
            "type": if variable { "variable" } else { "simple" },
            "status": if p.status == "active" { "publish" } else { "draft" },
            "featured": false,
            "catalog_visibility": "visible",
            "description": format!("<p>{}</p>", p.title),
            "short_description": "",
            "sku": first.sku.trim_end_matches(first.title).trim_end_matches('-'),
            "price": self.money(first.price_minor),
            "regular_price": self.money(first.price_minor),
            "sale_price": "",
            "on_sale": false,
            "purchasable": true,
            "total_sales": index % 50,
            "manage_stock": true,
            "stock_quantity": first.inventory,
            "stock_status": if first.inventory > 0 { "instock" } else { "outofstock" },
            "categories": [{"id": 15 + (index % 8) as i64, "name": p.product_type, "slug": p.product_type.to_lowercase()}],
            "tags": [],
            "attributes": [],
            "variations": if variable { (0..p.variants.len() as i64).map(|k| id * 10 + k).collect::<Vec<_>>() } else { Vec::new() },
        })
    }
}

pub(crate) fn router(state: Arc<crate::AppState>) -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/wp-json/wc/v3/{resource}", get(list))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
}

pub(crate) fn admin_router() -> Router<Arc<crate::AppState>> {
    Router::new()
        .route("/_sandbox/woocommerce/mutate", post(mutate))
        .route("/_sandbox/woocommerce/extra_field", post(extra_field))
}

/// What the demo's WooCommerce pipeline reads from the environment.
pub(crate) fn demo_env(base_url: &str, config: &WooCommerceConfig) -> Vec<(String, String)> {
    vec![
        ("WOOCOMMERCE_URL".into(), base_url.into()),
        (
            "WOOCOMMERCE_CONSUMER_KEY".into(),
            config.consumer_key.clone(),
        ),
        (
            "WOOCOMMERCE_CONSUMER_SECRET".into(),
            config.consumer_secret.clone(),
        ),
    ]
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

/// WooCommerce's (WordPress's) error body.
pub fn error_body(code: &str, message: &str, status: u16, params: Option<Value>) -> String {
    let mut data = json!({ "status": status });
    if let Some(p) = params {
        data["params"] = p;
    }
    json!({"code": code, "message": message, "data": data}).to_string()
}

fn woo_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        error_body(code, message, status.as_u16(), None).into_bytes(),
    )
}

fn invalid_param(param: &str, why: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        error_body(
            "rest_invalid_param",
            &format!("Invalid parameter(s): {param}"),
            400,
            Some(json!({ param: why })),
        )
        .into_bytes(),
    )
}

/// WooCommerce's answer to an injected status fault.
pub(crate) fn fault_response(status: StatusCode) -> Response {
    match status.as_u16() {
        401 => woo_error(
            status,
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot list resources.",
        ),
        429 => {
            let mut r = woo_error(
                status,
                "woocommerce_rest_too_many_requests",
                "Too many requests. Please wait and try again.",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        s if s >= 500 => woo_error(
            status,
            "internal_server_error",
            "There has been a critical error on this website.",
        ),
        _ => woo_error(status, "rest_error", "Sandbox fault injection."),
    }
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

/// The credentials of a request: basic auth, else the query string.
fn credentials(headers: &HeaderMap, query: &[(String, String)]) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = decode_base64(basic.trim())?;
        let (k, s) = decoded.split_once(':')?;
        return Some((k.to_owned(), s.to_owned()));
    }
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Some((get("consumer_key")?, get("consumer_secret")?))
}

fn decode_base64(s: &str) -> Option<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Consumer key and secret.
async fn gate(
    State(app): State<Arc<crate::AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let c = &app.woocommerce.config;
    let query = query_pairs(req.uri().query());
    match credentials(req.headers(), &query) {
        None => {
            return woo_error(
                StatusCode::UNAUTHORIZED,
                "woocommerce_rest_cannot_view",
                "Sorry, you cannot list resources.",
            )
        }
        Some((k, _)) if k != c.consumer_key => {
            return woo_error(
                StatusCode::UNAUTHORIZED,
                "woocommerce_rest_authentication_error",
                "Consumer key is invalid.",
            )
        }
        Some((_, s)) if s != c.consumer_secret => {
            return woo_error(
                StatusCode::UNAUTHORIZED,
                "woocommerce_rest_authentication_error",
                "Consumer secret is invalid.",
            )
        }
        Some(_) => {}
    }
    next.run(req).await
}

/// An ISO 8601 time as epoch ms; without an offset it is site time unless `gmt`.
fn parse_time(raw: &str, gmt: bool, offset_minutes: i32) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.timestamp_millis());
    }
    let naive = chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S").ok()?;
    let ms = naive.and_utc().timestamp_millis();
    Some(if gmt {
        ms
    } else {
        ms - offset_minutes as i64 * 60_000
    })
}

async fn list(
    State(app): State<Arc<crate::AppState>>,
    Path(resource): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let wc = &app.woocommerce;
    let kind = match resource.as_str() {
        "customers" => Kind::Customers,
        "orders" => Kind::Orders,
        "products" => Kind::Products,
        _ => {
            return woo_error(
                StatusCode::NOT_FOUND,
                "rest_no_route",
                "No route was found matching the URL and request method.",
            )
        }
    };
    let q = query_pairs(raw.as_deref());
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let page = match get("page").map(str::parse::<u64>) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => return invalid_param("page", "page must be greater than or equal to 1"),
    };
    let per_page = match get("per_page").map(str::parse::<u64>) {
        None => 10,
        Some(Ok(p)) if (1..=100).contains(&p) => p,
        _ => {
            return invalid_param(
                "per_page",
                "per_page must be between 1 (inclusive) and 100 (inclusive)",
            )
        }
    };
    match get("order") {
        None | Some("asc") => {}
        Some("desc") => return invalid_param("order", "the sandbox lists in ascending order only"),
        Some(_) => return invalid_param("order", "order is not one of asc and desc."),
    }
    let orderby = get("orderby").unwrap_or(if kind == Kind::Customers {
        "name"
    } else {
        "date"
    });
    let allowed: &[&str] = match kind {
        Kind::Customers => &["id", "include", "name", "registered_date"],
        Kind::Orders => &["date", "id", "include", "title", "slug", "modified"],
        Kind::Products => &[
            "date",
            "id",
            "include",
            "title",
            "slug",
            "modified",
            "price",
            "popularity",
            "rating",
            "menu_order",
        ],
    };
    if !allowed.contains(&orderby) {
        let list = allowed.join(", ");
        return invalid_param("orderby", &format!("orderby is not one of {list}."));
    }
    let (by_updated, by_name) = match orderby {
        "modified" => (true, false),
        "name" => (false, true),
        "id" | "date" | "registered_date" => (false, false),
        other => {
            return invalid_param(
                "orderby",
                &format!("the sandbox orders by id, date, modified or name, not {other}"),
            )
        }
    };
    // Customers know no modified_after: WordPress ignores what an endpoint does not declare.
    let since = match (kind, get("modified_after")) {
        (Kind::Customers, _) | (_, None) => i64::MIN,
        (_, Some(raw)) => {
            let gmt = get("dates_are_gmt").is_some_and(|v| v == "true" || v == "1");
            match parse_time(raw, gmt, wc.config.utc_offset_minutes) {
                // Exclusive: strictly after (times have whole seconds).
                Some(ms) => ms + 1,
                None => return invalid_param("modified_after", "Invalid date."),
            }
        }
    };
    let total = wc.store.count(kind, since);
    let offset = (page - 1) * per_page;
    let rows = if by_name {
        // Name order (last, first, id), materialised: the customer list is small.
        let all = wc.store.offset(kind, since, false, 0, total);
        let mut keyed: Vec<(String, u64, Option<Version>)> = all
            .into_iter()
            .map(|(i, v)| {
                let p = commerce::person(wc.seed, i, v.map_or(0, |v| v.version));
                (format!("{} {}", p.last, p.first), i, v)
            })
            .collect();
        keyed.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        keyed
            .into_iter()
            .skip(offset as usize)
            .take(per_page as usize)
            .map(|(_, i, v)| (i, v))
            .collect()
    } else {
        wc.store.offset(kind, since, by_updated, offset, per_page)
    };
    let extra = wc
        .extra_field
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut buf = Vec::with_capacity(rows.len() * 1800 + 2);
    buf.push(b'[');
    for (k, (i, v)) in rows.iter().enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        let mut value = match kind {
            Kind::Customers => wc.customer(*i, *v),
            Kind::Orders => wc.order(*i, *v),
            Kind::Products => wc.product(*i, *v),
        };
        if let Some(f) = &extra {
            value[f.as_str()] = json!({"introduced": "9.5", "values": [1, 2, 3]});
        }
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut buf, &value);
    }
    buf.push(b']');
    let pages = total.div_ceil(per_page);
    let mut resp = json_response(StatusCode::OK, buf);
    let h = resp.headers_mut();
    h.insert("x-wp-total", HeaderValue::from(total));
    h.insert("x-wp-totalpages", HeaderValue::from(pages));
    if page < pages {
        // The same query with the next page (credentials in the query stay out of it).
        let keep: Vec<String> = q
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "page" | "consumer_key" | "consumer_secret"))
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "%20")))
            .collect();
        let link = format!(
            "<{}/wp-json/wc/v3/{resource}?{}&page={}>; rel=\"next\"",
            app.base_url,
            keep.join("&"),
            page + 1
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            h.insert("link", v);
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

/// Modifies `count` records and creates `create` at one new modification time; answers their ids.
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
    let wc = &app.woocommerce;
    let (indices, now) = wc.store.mutate(kind, req.count, req.create);
    let ids: Vec<i64> = indices.iter().map(|i| woo_id(kind, *i)).collect();
    let (_, gmt) = wc.times(now);
    Json(json!({"ids": ids, "date_modified_gmt": gmt, "updated_at_ms": now})).into_response()
}

#[derive(Debug, Deserialize)]
struct ExtraField {
    #[serde(default)]
    name: Option<String>,
}

async fn extra_field(
    State(app): State<Arc<crate::AppState>>,
    Json(req): Json<ExtraField>,
) -> Response {
    *app.woocommerce
        .extra_field
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = req.name.clone();
    Json(json!({"ok": true, "name": req.name})).into_response()
}

/// Record `index` of `kind` as WooCommerce sends it, for tests.
pub fn record(config: &WooCommerceConfig, seed: u64, kind: Kind, index: u64) -> Value {
    let wc = WooCommerce::new(config.clone(), seed);
    match kind {
        Kind::Customers => wc.customer(index, None),
        Kind::Orders => wc.order(index, None),
        Kind::Products => wc.product(index, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode_and_times_parse() {
        assert_eq!(decode_base64("Y2tfMTpjc18y").as_deref(), Some("ck_1:cs_2"));
        assert_eq!(
            parse_time("2024-01-01T01:00:00", false, 60),
            Some(commerce::BASE_MS)
        );
        assert_eq!(
            parse_time("2024-01-01T00:00:00", true, 60),
            Some(commerce::BASE_MS)
        );
        let wc = WooCommerce::new(WooCommerceConfig::default(), 42);
        let o = wc.order(1, None);
        assert_eq!(o["date_created_gmt"].as_str().unwrap().len(), 19);
        assert!(o["line_items"][0]["price"].is_number());
    }
}

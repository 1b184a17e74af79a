//! Loopback emulations of vendor APIs, for tests, the demo and benchmarks.
//!
//! Each vendor is a module with its own router, speaking the vendor's real
//! wire format (auth headers, paging, error bodies, rate limits) over data
//! generated deterministically from a seed, so millions of records are served
//! without being stored. Admin endpoints under `/_sandbox` let tests modify
//! records and inject faults:
//!
//! - `POST /_sandbox/hubspot/mutate` `{"object":"contacts","count":50,"create":0}`
//! - `POST /_sandbox/square/mutate` `{"object":"orders","count":50,"create":0}`
//! - `POST /_sandbox/oceanengine/restate` `{"days":3}`, `…/expire_tokens`, `…/extra_field`
//! - `POST /_sandbox/wechat/restate` `{"days":3}`, `…/expire_tokens`, `…/replace_tokens`,
//!   `…/subscribe`, `…/unsubscribe`, `…/extra_field`
//! - `POST /_sandbox/tiktok/restate` `{"days":3}`, `…/extra_field` `{"name":"x"}`, `…/revoke`
//! - `POST /_sandbox/shopify/mutate` `{"object":"orders","count":50,"create":0}`
//! - `POST /_sandbox/woocommerce/mutate` `{"object":"orders","count":50,"create":0}`
//! - `POST /_sandbox/meta/restate` `{"days":3}` (late conversions for the last days),
//!   `/_sandbox/meta/leads` `{"create":10}`, `/_sandbox/meta/extra_field` `{"enabled":true}`
//! - `POST /_sandbox/loyaltylion/mutate` `{"object":"customers","count":50,"create":0}`
//!   or `{"object":"transactions","create":100}`, `/_sandbox/loyaltylion/extra_field` `{"name":"x"}`
//! - `POST /_sandbox/google_ads/restate` `{"days":3}`, `…/expire_tokens`, `…/extra_field` `{"enabled":true}`
//! - `POST /_sandbox/faults` `{"path_prefix":"/crm/v3/objects/contacts","kind":"status","status":500,"count":2}`
//!   (kinds: `status`, `repeat_paging`, `truncate`, `delay_ms` with `"ms"`)
//! - `GET /_sandbox/stats`, `POST /_sandbox/reset`

pub mod bench;
pub mod commerce;
pub mod google_ads;
pub mod hubspot;
pub mod loyaltylion;
pub mod meta;
pub mod oceanengine;
mod rng;
pub mod salesforce;
pub mod shopify;
pub mod square;
pub mod tiktok;
pub mod wechat;
pub mod woocommerce;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub use google_ads::{GoogleAdsConfig, GoogleAdsCustomer};
pub use hubspot::HubSpotConfig;
pub use loyaltylion::LoyaltyLionConfig;
pub use meta::MetaConfig;
pub use oceanengine::OceanEngineConfig;
pub use salesforce::SalesforceConfig;
pub use shopify::ShopifyConfig;
pub use square::SquareConfig;
pub use tiktok::TikTokConfig;
pub use wechat::WeChatConfig;
pub use woocommerce::WooCommerceConfig;

/// What the sandbox serves.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Seed of every generated value.
    pub seed: u64,
    /// The HubSpot emulation.
    pub hubspot: HubSpotConfig,
    /// The Square emulation.
    pub square: SquareConfig,
    /// The Salesforce emulation.
    pub salesforce: SalesforceConfig,
    /// The Ocean Engine (巨量引擎) emulation.
    pub oceanengine: OceanEngineConfig,
    /// The WeChat Official Account emulation.
    pub wechat: WeChatConfig,
    /// The Shopify emulation.
    pub shopify: ShopifyConfig,
    /// The WooCommerce emulation.
    pub woocommerce: WooCommerceConfig,
    /// The Meta Marketing API emulation.
    pub meta: MetaConfig,
    /// The LoyaltyLion Admin API emulation (under `/loyaltylion`).
    pub loyaltylion: LoyaltyLionConfig,
    /// The Google Ads API emulation.
    pub google_ads: GoogleAdsConfig,
    /// The TikTok API for Business emulation.
    pub tiktok: TikTokConfig,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            hubspot: HubSpotConfig::default(),
            square: SquareConfig::default(),
            salesforce: SalesforceConfig::default(),
            oceanengine: OceanEngineConfig::default(),
            wechat: WeChatConfig::default(),
            shopify: ShopifyConfig::default(),
            woocommerce: WooCommerceConfig::default(),
            meta: MetaConfig::default(),
            loyaltylion: LoyaltyLionConfig::default(),
            google_ads: GoogleAdsConfig::default(),
            tiktok: TikTokConfig::default(),
        }
    }
}

/// A running sandbox.
pub struct Sandbox {
    addr: SocketAddr,
    config: SandboxConfig,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Binds `addr` (port 0 = any free port) and serves until [`Sandbox::shutdown`].
    pub async fn start(config: SandboxConfig, addr: SocketAddr) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            base_url: format!("http://{addr}"),
            hubspot: hubspot::HubSpot::new(config.hubspot.clone(), config.seed),
            square: square::Square::new(config.square.clone(), config.seed),
            salesforce: salesforce::Salesforce::new(config.salesforce.clone(), config.seed),
            oceanengine: oceanengine::OceanEngine::new(config.oceanengine.clone(), config.seed),
            wechat: wechat::WeChat::new(config.wechat.clone(), config.seed),
            shopify: shopify::Shopify::new(config.shopify.clone(), config.seed),
            woocommerce: woocommerce::WooCommerce::new(config.woocommerce.clone(), config.seed),
            meta: meta::Meta::new(config.meta.clone(), config.seed),
            loyaltylion: loyaltylion::LoyaltyLion::new(config.loyaltylion.clone(), config.seed),
            google_ads: google_ads::GoogleAds::new(config.google_ads.clone(), config.seed),
            tiktok: tiktok::TikTok::new(config.tiktok.clone(), config.seed),
            // Vendors: your emulation's state here.
            faults: Mutex::new(Vec::new()),
            stats: Mutex::new(Stats::default()),
            windows: Mutex::new(BTreeMap::new()),
            requests: AtomicU64::new(0),
        });
        // Vendors: merge your router (with its own auth/rate-limit gate) here,
        // and your admin routes (`/_sandbox/<vendor>/...`) below.
        let vendors = Router::new()
            .merge(hubspot::router(state.clone()))
            .merge(square::router(state.clone()))
            .merge(salesforce::router(state.clone()))
            .merge(oceanengine::router(state.clone()))
            .merge(wechat::router(state.clone()))
            .merge(shopify::router(state.clone()))
            .merge(woocommerce::router(state.clone()))
            .merge(meta::router(state.clone()))
            .merge(loyaltylion::router(state.clone()))
            .merge(google_ads::router(state.clone()))
            .merge(tiktok::router(state.clone()));
        let app = vendors
            .layer(middleware::from_fn_with_state(
                state.clone(),
                faults_and_stats,
            ))
            .merge(hubspot::admin_router())
            .merge(square::admin_router())
            .merge(salesforce::admin_router())
            .merge(oceanengine::admin_router())
            .merge(wechat::admin_router())
            .merge(shopify::admin_router())
            .merge(woocommerce::admin_router())
            .merge(meta::admin_router())
            .merge(loyaltylion::admin_router())
            .merge(google_ads::admin_router())
            .merge(tiktok::admin_router())
            .route("/_sandbox/faults", post(add_fault))
            .route("/_sandbox/stats", get(stats))
            .route("/_sandbox/reset", post(reset))
            .with_state(state);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        tracing::info!(%addr, "vendor sandbox listening");
        Ok(Sandbox {
            addr,
            config,
            shutdown: Some(tx),
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where a HubSpot client points its base URL (HubSpot paths start with `/crm/v3`).
    pub fn hubspot_base_url(&self) -> String {
        self.base_url()
    }

    /// The environment the demo pipelines read: each vendor's base URL(s)
    /// pointed at this sandbox and the credentials it accepts.
    pub fn demo_env(&self) -> Vec<(String, String)> {
        let base = self.base_url();
        let mut env = hubspot::demo_env(&base, &self.config.hubspot);
        env.extend(square::demo_env(
            &base,
            &self.config.square,
            self.config.seed,
        ));
        env.extend(salesforce::demo_env(&base, &self.config.salesforce));
        env.extend(oceanengine::demo_env(
            &base,
            &self.config.oceanengine,
            self.config.seed,
        ));
        env.extend(wechat::demo_env(&base, &self.config.wechat));
        env.extend(shopify::demo_env(&base, &self.config.shopify));
        env.extend(woocommerce::demo_env(&base, &self.config.woocommerce));
        env.extend(meta::demo_env(&base, &self.config.meta));
        env.extend(loyaltylion::demo_env(&base, &self.config.loyaltylion));
        env.extend(google_ads::demo_env(&base, &self.config.google_ads));
        env.extend(tiktok::demo_env(
            &base,
            &self.config.tiktok,
            self.config.seed,
        ));
        // Vendors: extend with yours.
        env.sort();
        env
    }

    /// Stops serving and waits for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) struct AppState {
    pub(crate) base_url: String,
    pub(crate) hubspot: hubspot::HubSpot,
    pub(crate) square: square::Square,
    pub(crate) salesforce: salesforce::Salesforce,
    pub(crate) oceanengine: oceanengine::OceanEngine,
    pub(crate) wechat: wechat::WeChat,
    pub(crate) shopify: shopify::Shopify,
    pub(crate) woocommerce: woocommerce::WooCommerce,
    pub(crate) meta: meta::Meta,
    pub(crate) loyaltylion: loyaltylion::LoyaltyLion,
    pub(crate) google_ads: google_ads::GoogleAds,
    pub(crate) tiktok: tiktok::TikTok,
    faults: Mutex<Vec<Fault>>,
    stats: Mutex<Stats>,
    /// Per-second request windows by budget name: (second, count).
    windows: Mutex<BTreeMap<&'static str, (u64, u32)>>,
    requests: AtomicU64,
}

#[derive(Debug, Clone, Deserialize)]
struct Fault {
    path_prefix: String,
    kind: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    ms: Option<u64>,
    #[serde(default = "one")]
    count: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Default, serde::Serialize)]
struct Stats {
    requests: u64,
    by_status: BTreeMap<String, u64>,
    by_path: BTreeMap<String, u64>,
}

/// Marks a request whose response must repeat the request's page token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RepeatPaging;

/// A HubSpot-style correlation id.
pub(crate) fn correlation_id() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = rng::mix(N.fetch_add(1, Ordering::Relaxed));
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        n >> 32,
        (n >> 16) & 0xffff,
        n & 0xfff,
        (n >> 20) & 0xfff,
        rng::mix(n) & 0xffff_ffff_ffff
    )
}

/// HubSpot's error body.
pub(crate) fn error_body(category: &str, message: &str) -> String {
    serde_json::json!({
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    })
    .to_string()
}

impl AppState {
    /// Takes one use of the first fault registered for a prefix of `path`.
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let pos = faults
            .iter()
            .position(|f| path.starts_with(&f.path_prefix) && f.count > 0)?;
        faults[pos].count -= 1;
        let f = faults[pos].clone();
        if faults[pos].count == 0 {
            faults.remove(pos);
        }
        Some(f)
    }

    /// Spends one request of the per-second budget `bucket`: the remaining
    /// budget, or `None` when this second's budget is spent. Vendors use it in
    /// their gates; name buckets `"<vendor>:<budget>"`.
    pub(crate) fn spend(&self, bucket: &'static str, limit: u32) -> Option<u32> {
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let entry = w.entry(bucket).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        if entry.1 >= limit {
            return None;
        }
        entry.1 += 1;
        Some(limit - entry.1)
    }
}

/// `a=1&b=x%20y` as a map, values percent-decoded (`+` is a space).
pub(crate) fn query_pairs(raw: Option<&str>) -> BTreeMap<String, String> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (hubspot::percent_decode(k), hubspot::percent_decode(v))
        })
        .collect()
}

/// How the vendor that owns `path` answers an injected status fault.
///
/// Vendors: add your path prefixes here.
fn fault_response(state: &AppState, path: &str, status: StatusCode) -> Response {
    if path.starts_with("/crm/") {
        return hubspot::fault_response(state, status);
    }
    if path.starts_with("/v2/") {
        return square::fault_response(status);
    }
    if path.starts_with("/services/") {
        return salesforce::fault_response(status);
    }
    if path.starts_with("/cgi-bin/") || path.starts_with("/datacube/") {
        return wechat::fault_response(status);
    }
    if path.starts_with("/open_api/v1.3/") {
        return tiktok::fault_response(state, status);
    }
    if path.starts_with("/open_api/") {
        return oceanengine::fault_response(status);
    }
    if path.starts_with("/admin/api/") {
        return shopify::fault_response(state, status);
    }
    if path.starts_with("/wp-json/") {
        return woocommerce::fault_response(status);
    }
    if google_ads::owns(path) {
        return google_ads::fault_response(path, status);
    }
    if meta::owns(path) {
        return meta::fault_response(state, status);
    }
    if loyaltylion::owns(path) {
        return loyaltylion::fault_response(status);
    }
    (
        status,
        [("content-type", "application/json")],
        serde_json::json!({"error": "sandbox fault injection", "status": status.as_u16()})
            .to_string(),
    )
        .into_response()
}

/// Injected faults (status, delay, repeated paging, truncation) and stats in
/// front of every vendor endpoint. Auth and rate limits are each vendor's own
/// gate (see `hubspot::gate`), layered on its router.
async fn faults_and_stats(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_owned();
    let fault = state.take_fault(&path);
    let mut truncate = false;
    let response = 'resp: {
        if let Some(f) = &fault {
            match f.kind.as_str() {
                "status" => {
                    let status = StatusCode::from_u16(f.status.unwrap_or(500))
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    break 'resp fault_response(&state, &path, status);
                }
                "delay_ms" => tokio::time::sleep(Duration::from_millis(f.ms.unwrap_or(1000))).await,
                "repeat_paging" => {
                    req.extensions_mut().insert(RepeatPaging);
                }
                "truncate" => truncate = true,
                _ => {}
            }
        }
        next.run(req).await
    };
    let response = if truncate {
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let cut = bytes.slice(..bytes.len() / 2);
        parts.headers.remove("content-length");
        Response::from_parts(parts, Body::from(cut))
    } else {
        response
    };
    let mut stats = state.stats.lock().unwrap_or_else(|p| p.into_inner());
    stats.requests += 1;
    *stats
        .by_status
        .entry(response.status().as_u16().to_string())
        .or_default() += 1;
    *stats.by_path.entry(path).or_default() += 1;
    response
}

async fn add_fault(State(state): State<Arc<AppState>>, Json(fault): Json<Fault>) -> Response {
    match fault.kind.as_str() {
        "status" | "repeat_paging" | "truncate" | "delay_ms" => {}
        other => {
            return (
                StatusCode::BAD_REQUEST,
                format!("unknown fault kind {other}"),
            )
                .into_response()
        }
    }
    state
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(fault);
    Json(serde_json::json!({"ok": true})).into_response()
}

async fn stats(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.stats.lock().unwrap_or_else(|p| p.into_inner());
    Json(serde_json::to_value(&*stats).unwrap_or_default()).into_response()
}

async fn reset(State(state): State<Arc<AppState>>) -> Response {
    state
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    *state.stats.lock().unwrap_or_else(|p| p.into_inner()) = Stats::default();
    state.hubspot.reset();
    state.square.reset();
    state.salesforce.reset();
    state.oceanengine.reset();
    state.wechat.reset();
    state.shopify.reset();
    state.woocommerce.reset();
    state.meta.reset();
    state.loyaltylion.reset();
    state.google_ads.reset();
    state.tiktok.reset();
    // Vendors: reset your mutations here.
    Json(serde_json::json!({"ok": true})).into_response()
}

//! Shopify source (Admin REST API): `customers`, `orders` (with line items)
//! and `products` (with variants).
//!
//! - Every request carries `X-Shopify-Access-Token`; Shopify's
//!   `{"errors": …}` bodies become the error message (never the token).
//! - Paging follows the `Link` header's `rel="next"` URL (its `page_info`
//!   cursor carries the filters, so nothing else is added), checked to stay
//!   on the shop's host, with a [`PageTokenGuard`] against a repeated cursor.
//! - Rate limit: Shopify's leaky bucket. After each response the
//!   `X-Shopify-Shop-Api-Call-Limit: n/m` header is read; when fewer than
//!   `bucket_headroom` calls are left the stream waits for the bucket to
//!   drain at `calls_per_second`. A 429 is retried after its `Retry-After`
//!   by the SDK client, as are 5xx and timeouts.
//! - Full refresh lists in id order; its checkpoints carry the next
//!   `page_info`, so a crashed run resumes where it stopped. Incremental
//!   lists with `updated_at_min` (inclusive, from the committed cursor) and
//!   `order=updated_at asc`, so it checkpoints after every batch. Orders are
//!   always read with `status=any` (Shopify's default is open orders only).
//! - Pages are decoded by arrow-json straight into Arrow (see [`schema`]).

mod config;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use braid_sdk::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, Error, HttpClient, HttpConfig,
    JsonPageDecoder, Message, MessageStream, PageTokenGuard, ReadRequest, Result, Source,
    StreamDescriptor, StreamState, SyncMode,
};
use futures::StreamExt;

pub use config::ShopifyConfig;

/// Rows gathered from consecutive pages into one batch.
const FLUSH_ROWS: usize = 4096;

/// The Shopify connector (`connector: shopify`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ShopifyConnector;

impl Connector for ShopifyConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "shopify".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(ShopifySource::new(ShopifyConfig::from_value(
            config,
        )?)?))
    }
}

/// Shopify's error body: `{"errors": "text"}` or `{"errors": {"field": "text" | ["text", …]}}`.
fn shopify_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    match v.get("errors").or_else(|| v.get("error"))? {
        serde_json::Value::Object(fields) => Some(
            fields
                .iter()
                .map(|(k, v)| format!("{k}: {}", text(v)))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => Some(text(other)),
    }
}

/// The streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Customers,
    Orders,
    Products,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Customers, Kind::Orders, Kind::Products];

    fn name(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Orders => "orders",
            Kind::Products => "products",
        }
    }

    fn parse(s: &str) -> Result<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown Shopify stream {s:?}; expected customers, orders or products"
                ))
            })
    }

    fn schema(self) -> SchemaRef {
        match self {
            Kind::Customers => schema::customers(),
            Kind::Orders => schema::orders(),
            Kind::Products => schema::products(),
        }
    }

    fn descriptor(self) -> StreamDescriptor {
        StreamDescriptor {
            name: self.name().into(),
            schema: self.schema(),
            primary_key: vec!["id".into()],
            cursor_field: Some("updated_at".into()),
            sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
        }
    }
}

/// A configured Shopify source.
#[derive(Debug, Clone)]
pub struct ShopifySource {
    config: Arc<ShopifyConfig>,
    base: Arc<str>,
    client: HttpClient,
}

/// `n/m` of `X-Shopify-Shop-Api-Call-Limit`.
fn call_limit(headers: &reqwest::header::HeaderMap) -> Option<(u64, u64)> {
    let v = headers
        .get("x-shopify-shop-api-call-limit")?
        .to_str()
        .ok()?;
    let (n, m) = v.split_once('/')?;
    Some((n.trim().parse().ok()?, m.trim().parse().ok()?))
}

/// How long to wait so that `headroom` calls stay free in a bucket at `used/size`.
fn bucket_wait(used: u64, size: u64, headroom: u64, leak_per_second: u64) -> Option<Duration> {
    let keep = headroom.min(size.saturating_sub(1));
    let over = (used + keep).checked_sub(size)?;
    let calls = over + 1;
    Some(Duration::from_secs_f64(
        calls as f64 / leak_per_second.max(1) as f64,
    ))
}

/// The `page_info` of a next-page URL.
fn page_info(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("page_info="))
        .filter(|v| !v.is_empty())
}

impl ShopifySource {
    /// A source for `config`.
    pub fn new(config: ShopifyConfig) -> Result<Self> {
        let base = config.api_base();
        let mut http = HttpConfig::new(base.clone());
        http.max_retries = config.max_retries as u32;
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.error_message = shopify_message;
        Ok(Self {
            client: HttpClient::new(http)?,
            base: base.into(),
            config: Arc::new(config),
        })
    }

    fn resource_url(&self, resource: &str) -> String {
        format!(
            "{}/admin/api/{}/{resource}.json",
            self.base, self.config.api_version
        )
    }

    /// GETs `url` (query included) with the token, then paces against the bucket.
    async fn get(&self, url: &str) -> Result<braid_sdk::HttpResponse> {
        let token = &self.config.access_token;
        let resp = self
            .client
            .send(|c| {
                c.get(url)
                    .header("X-Shopify-Access-Token", token)
                    .header("Accept", "application/json")
            })
            .await?;
        if let Some((used, size)) = call_limit(&resp.headers) {
            if let Some(wait) = bucket_wait(
                used,
                size,
                self.config.bucket_headroom,
                self.config.calls_per_second,
            ) {
                tracing::debug!(
                    used,
                    size,
                    wait_ms = wait.as_millis() as u64,
                    "Shopify bucket nearly full; waiting"
                );
                tokio::time::sleep(wait).await;
            }
        }
        Ok(resp)
    }

    /// The first page's URL of a stream.
    fn first_url(&self, kind: Kind, since: Option<&str>) -> String {
        let mut q: Vec<(&str, String)> = vec![("limit", self.config.page_size.to_string())];
        if kind == Kind::Orders {
            q.push(("status", "any".into()));
        }
        if let Some(s) = since {
            q.push(("updated_at_min", s.to_owned()));
            q.push(("order", "updated_at asc".into()));
        }
        let query: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        format!("{}?{}", self.resource_url(kind.name()), query.join("&"))
    }

    /// The URL of a page from its `page_info` (a resumed full refresh).
    fn page_url(&self, kind: Kind, page_info: &str) -> String {
        format!(
            "{}?limit={}&page_info={}",
            self.resource_url(kind.name()),
            self.config.page_size,
            encode(page_info)
        )
    }
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[async_trait]
impl Source for ShopifySource {
    async fn check(&self) -> Result<CheckOutcome> {
        let resp = self.get(&self.resource_url("shop")).await?;
        let shop: serde_json::Value = serde_json::from_slice(&resp.body)
            .map_err(|e| Error::data("shop", format!("GET shop.json: invalid JSON: {e}")))?;
        let name = shop["shop"]["name"].as_str().unwrap_or("?").to_owned();
        let currency = shop["shop"]["currency"].as_str().unwrap_or("?").to_owned();
        // Each stream's scope (read_customers, read_orders, read_products).
        for kind in Kind::ALL {
            let url = format!("{}?limit=1", self.resource_url(kind.name()));
            self.get(&url).await?;
        }
        Ok(CheckOutcome {
            message: format!(
                "authenticated to {name} ({}), currency {currency}; customers, orders and products are readable",
                self.base
            ),
        })
    }

    async fn discover(&self) -> Result<Catalog> {
        Ok(Catalog {
            streams: Kind::ALL.iter().map(|k| k.descriptor()).collect(),
        })
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let mut readers = Vec::new();
        for configured in request.streams {
            let kind = Kind::parse(&configured.stream.name)?;
            let state = request
                .state
                .stream(kind.name())
                .cloned()
                .unwrap_or_default();
            let incremental = configured.sync_mode == SyncMode::Incremental;
            readers.push(self.clone().stream(
                kind,
                configured.stream.schema.clone(),
                incremental,
                state,
            ));
        }
        let concurrency = self.config.stream_concurrency as usize;
        Ok(futures::stream::iter(readers)
            .flatten_unordered(concurrency)
            .boxed())
    }
}

/// The committed cursor as RFC 3339 (UTC, whole seconds: Shopify's resolution,
/// rounded down so the inclusive filter never skips a record).
fn start_at(state: &StreamState) -> Option<String> {
    let c = state.cursor.as_ref()?;
    let micros = match c {
        braid_sdk::CursorValue::TimestampMicros(m) => *m,
        other => other.as_epoch_millis()? * 1000,
    };
    let t = chrono::DateTime::from_timestamp(micros.div_euclid(1_000_000), 0)?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl ShopifySource {
    fn stream(
        self,
        kind: Kind,
        schema: SchemaRef,
        incremental: bool,
        state: StreamState,
    ) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = kind.name();
            let since = if incremental {
                start_at(&state).or_else(|| self.config.start_date.clone())
            } else {
                None
            };
            // A crashed full refresh resumes at its last committed page.
            let resumed = (!incremental)
                .then_some(state.resume.as_ref())
                .flatten()
                .and_then(|r| r.get("page_info"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            let mut url = match &resumed {
                Some(pi) => self.page_url(kind, pi),
                None => {
                    // Incremental without a cursor or start date reads everything, in update order.
                    let since = if incremental { Some(since.clone().unwrap_or_else(|| "1970-01-01T00:00:00Z".into())) } else { None };
                    self.first_url(kind, since.as_deref())
                }
            };
            let mut guard = PageTokenGuard::new(name);
            if let Some(pi) = &resumed {
                guard.check(pi)?;
            }
            let mut decoder = JsonPageDecoder::new(schema.clone(), &[name.to_owned()], &[])
                .map_err(|e| Error::Internal(format!("arrow-json decoder: {e}")))?;
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut buffered = 0usize;
            let what = format!("GET /admin/api/{}/{name}.json", self.config.api_version);
            loop {
                let resp = self.get(&url).await?;
                let page = decoder.decode(&resp.body).map_err(|e| Error::data(name, format!("{what}: {e}")))?;
                yield Message::Progress { stream: name.into(), pages: 1, retries: (resp.attempts - 1) as u64 };
                let next = braid_sdk::next_link(&resp.headers);
                let next_info = match &next {
                    None => None,
                    Some(n) => {
                        if !n.starts_with(&format!("{}/", self.base)) {
                            let shown: String = n.chars().take(120).collect();
                            Err(Error::data(name, format!("{what}: the next-page link leaves the shop ({shown}); not following it with the access token")))?;
                        }
                        let pi = page_info(n).ok_or_else(|| Error::data(name, format!("{what}: a next-page link without page_info")))?;
                        guard.check(pi)?;
                        Some(pi.to_owned())
                    }
                };
                if page.records.num_rows() > 0 {
                    buffered += page.records.num_rows();
                    pending.push(page.records);
                }
                if buffered >= FLUSH_ROWS || next.is_none() {
                    if !pending.is_empty() {
                        let batch = arrow_select::concat::concat_batches(&schema, &pending)
                            .map_err(|e| Error::Internal(format!("concat: {e}")))?;
                        pending.clear();
                        buffered = 0;
                        yield Message::Batch { stream: name.into(), batch };
                    }
                    let resume = match (&next_info, incremental) {
                        (Some(pi), false) => Some(serde_json::json!({ "page_info": pi })),
                        _ => None,
                    };
                    yield Message::Checkpoint { stream: name.into(), resume };
                }
                match next {
                    Some(n) => url = n,
                    None => break,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopify_error_bodies_become_messages() {
        assert_eq!(
            shopify_message(br#"{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}"#).as_deref(),
            Some("[API] Invalid API key or access token (unrecognized login or wrong password)")
        );
        assert_eq!(
            shopify_message(br#"{"errors":{"updated_at_min":"updated_at_min cannot be passed when page_info is present.","limit":["too big"]}}"#).as_deref(),
            Some("limit: too big; updated_at_min: updated_at_min cannot be passed when page_info is present.")
        );
        assert_eq!(shopify_message(b"<html>"), None);
    }

    #[test]
    fn the_bucket_is_left_headroom() {
        assert_eq!(bucket_wait(10, 40, 4, 2), None);
        assert_eq!(bucket_wait(35, 40, 4, 2), None);
        assert_eq!(bucket_wait(36, 40, 4, 2), Some(Duration::from_millis(500)));
        assert_eq!(bucket_wait(40, 40, 4, 2), Some(Duration::from_millis(2500)));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-shopify-shop-api-call-limit", "39/40".parse().unwrap());
        assert_eq!(call_limit(&h), Some((39, 40)));
    }

    #[test]
    fn page_info_and_cursor_formatting() {
        assert_eq!(
            page_info(
                "https://s.myshopify.com/admin/api/2024-10/orders.json?limit=250&page_info=abc"
            ),
            Some("abc")
        );
        assert_eq!(page_info("https://x/y.json?limit=1"), None);
        let st = StreamState {
            cursor: Some(braid_sdk::CursorValue::TimestampMicros(
                1_704_067_200_999_999,
            )),
            ..Default::default()
        };
        assert_eq!(start_at(&st).as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(encode("updated_at asc"), "updated_at%20asc");
        assert_eq!(
            encode("2024-01-01T00:00:00+01:00"),
            "2024-01-01T00%3A00%3A00%2B01%3A00"
        );
    }
}

use braid_sdk::config_value::{number, opt_number};
use braid_sdk::Error;
use serde::Deserialize;

/// Configuration of the Square source.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SquareConfig {
    /// API base URL (`https://connect.squareupsandbox.com` for Square's own sandbox).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Personal or OAuth access token, sent as `Authorization: Bearer …`. Secret.
    pub access_token: String,
    /// The API version sent as `Square-Version` (YYYY-MM-DD); pins the wire format.
    #[serde(default = "default_version")]
    pub square_version: String,
    /// Locations whose orders are read (default: every location `GET /v2/locations` lists).
    #[serde(default)]
    pub location_ids: Option<Vec<String>>,
    /// Earliest payment creation time read (RFC 3339). Square's default window
    /// is the last year only, so the connector always sends this.
    #[serde(default = "default_start")]
    pub start_date: String,
    /// Records per page of customers and payments (Square allows at most 100).
    #[serde(default = "default_page_size", deserialize_with = "number")]
    pub page_size: u64,
    /// Orders per page of `POST /v2/orders/search` (at most 1000).
    #[serde(default = "default_orders_page_size", deserialize_with = "number")]
    pub orders_page_size: u64,
    /// Client-side limit on requests per second.
    #[serde(default, deserialize_with = "opt_number")]
    pub requests_per_second: Option<u64>,
    /// Retries of a request after transient failures or 429s.
    #[serde(default = "default_retries", deserialize_with = "number")]
    pub max_retries: u64,
    /// Timeout of one request attempt, in milliseconds (a timed-out attempt is retried).
    #[serde(default = "default_timeout", deserialize_with = "number")]
    pub request_timeout_ms: u64,
    /// Streams read at the same time.
    #[serde(default = "default_concurrency", deserialize_with = "number")]
    pub stream_concurrency: u64,
}

impl std::fmt::Debug for SquareConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SquareConfig")
            .field("base_url", &self.base_url)
            .field("access_token", &"***")
            .field("square_version", &self.square_version)
            .field("location_ids", &self.location_ids)
            .field("start_date", &self.start_date)
            .field("page_size", &self.page_size)
            .field("orders_page_size", &self.orders_page_size)
            .field("requests_per_second", &self.requests_per_second)
            .field("max_retries", &self.max_retries)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("stream_concurrency", &self.stream_concurrency)
            .finish()
    }
}

fn default_base_url() -> String {
    "https://connect.squareup.com".into()
}
fn default_version() -> String {
    "2025-10-16".into()
}
fn default_start() -> String {
    "2013-01-01T00:00:00Z".into()
}
fn default_page_size() -> u64 {
    100
}
fn default_orders_page_size() -> u64 {
    500
}
fn default_retries() -> u64 {
    6
}
fn default_timeout() -> u64 {
    60_000
}
fn default_concurrency() -> u64 {
    4
}

impl SquareConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let c: SquareConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("square: {e}")))?;
        let bad = |m: String| Err(Error::Config(format!("square: {m}")));
        if c.access_token.trim().is_empty() {
            return bad("access_token is empty".into());
        }
        if !(1..=100).contains(&c.page_size) {
            return bad(format!(
                "page_size must be 1..=100 (Square's maximum), got {}",
                c.page_size
            ));
        }
        if !(1..=1000).contains(&c.orders_page_size) {
            return bad(format!(
                "orders_page_size must be 1..=1000, got {}",
                c.orders_page_size
            ));
        }
        if c.stream_concurrency == 0 {
            return bad("stream_concurrency must be at least 1".into());
        }
        if c.request_timeout_ms == 0 {
            return bad("request_timeout_ms must be at least 1".into());
        }
        if chrono::NaiveDate::parse_from_str(&c.square_version, "%Y-%m-%d").is_err() {
            return bad(format!(
                "square_version must be a date like 2025-10-16, got {:?}",
                c.square_version
            ));
        }
        if chrono::DateTime::parse_from_rfc3339(&c.start_date).is_err() {
            return bad(format!(
                "start_date must be an RFC 3339 time like 2013-01-01T00:00:00Z, got {:?}",
                c.start_date
            ));
        }
        if !(c.base_url.starts_with("http://") || c.base_url.starts_with("https://")) {
            return bad(format!(
                "base_url must start with http:// or https://, got {:?}",
                c.base_url
            ));
        }
        if c.location_ids.as_ref().is_some_and(|l| l.is_empty()) {
            return bad("location_ids is empty; leave it out to read every location".into());
        }
        Ok(c)
    }
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Square",
        "type": "object",
        "additionalProperties": false,
        "required": ["access_token"],
        "properties": {
            "base_url": {"type": "string", "default": "https://connect.squareup.com"},
            "access_token": {"type": "string", "secret": true, "description": "Personal or OAuth access token"},
            "square_version": {"type": "string", "default": "2025-10-16", "description": "Square-Version header"},
            "location_ids": {"type": "array", "items": {"type": "string"}},
            "start_date": {"type": "string", "default": "2013-01-01T00:00:00Z"},
            "page_size": {"type": ["integer", "string"], "default": 100},
            "orders_page_size": {"type": ["integer", "string"], "default": 500},
            "requests_per_second": {"type": ["integer", "string"]},
            "max_retries": {"type": ["integer", "string"], "default": 6},
            "request_timeout_ms": {"type": ["integer", "string"], "default": 60000},
            "stream_concurrency": {"type": ["integer", "string"], "default": 4}
        }
    })
}

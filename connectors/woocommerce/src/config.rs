use braid_sdk::config_value::{number, opt_number};
use braid_sdk::Error;
use serde::Deserialize;

/// How the consumer key and secret are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// HTTP basic auth (key as user, secret as password): WooCommerce's way over HTTPS.
    #[default]
    Basic,
    /// `consumer_key` and `consumer_secret` query parameters, for servers that
    /// drop the `Authorization` header (some FastCGI set-ups). They never
    /// appear in braid's errors or logs.
    QueryString,
}

/// Configuration of the WooCommerce source.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WooCommerceConfig {
    /// The store's site URL (`https://shop.example.com`); the API is under `/wp-json/wc/v3/`.
    pub url: String,
    /// REST API consumer key (`ck_…`). Secret.
    pub consumer_key: String,
    /// REST API consumer secret (`cs_…`). Secret.
    pub consumer_secret: String,
    /// How the key and secret are sent.
    #[serde(default)]
    pub auth: Auth,
    /// Earliest modification time an incremental stream's first run reads
    /// (RFC 3339); default: everything.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Records per page (`per_page`, at most 100).
    #[serde(default = "default_page_size", deserialize_with = "number")]
    pub page_size: u64,
    /// Client-side limit on requests per second (WooCommerce has none; hosts may).
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

impl std::fmt::Debug for WooCommerceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooCommerceConfig")
            .field("url", &self.url)
            .field("consumer_key", &"***")
            .field("consumer_secret", &"***")
            .field("auth", &self.auth)
            .field("start_date", &self.start_date)
            .field("page_size", &self.page_size)
            .field("requests_per_second", &self.requests_per_second)
            .field("max_retries", &self.max_retries)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("stream_concurrency", &self.stream_concurrency)
            .finish()
    }
}

fn default_page_size() -> u64 {
    100
}
fn default_retries() -> u64 {
    6
}
fn default_timeout() -> u64 {
    60_000
}
fn default_concurrency() -> u64 {
    3
}

impl WooCommerceConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let mut c: WooCommerceConfig = serde_json::from_value(value)
            .map_err(|e| Error::Config(format!("woocommerce: {e}")))?;
        c.start_date = c.start_date.take().filter(|s| !s.trim().is_empty());
        let bad = |m: String| Err(Error::Config(format!("woocommerce: {m}")));
        if c.consumer_key.trim().is_empty() || c.consumer_secret.trim().is_empty() {
            return bad("consumer_key and consumer_secret must both be set".into());
        }
        if !(1..=100).contains(&c.page_size) {
            return bad(format!(
                "page_size must be 1..=100 (WooCommerce's maximum), got {}",
                c.page_size
            ));
        }
        if c.stream_concurrency == 0 {
            return bad("stream_concurrency must be at least 1".into());
        }
        if c.request_timeout_ms == 0 {
            return bad("request_timeout_ms must be at least 1".into());
        }
        if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
            return bad(format!(
                "url must start with https:// (or http://), got {:?}",
                c.url
            ));
        }
        if let Some(s) = &c.start_date {
            if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                return bad(format!(
                    "start_date must be an RFC 3339 time like 2024-01-01T00:00:00Z, got {s:?}"
                ));
            }
        }
        Ok(c)
    }

    /// The API root: `{url}/wp-json/wc/v3`.
    pub fn api_base(&self) -> String {
        let u = self.url.trim_end_matches('/');
        let u = u.strip_suffix("/wp-json/wc/v3").unwrap_or(u);
        format!("{u}/wp-json/wc/v3")
    }
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "WooCommerce",
        "type": "object",
        "additionalProperties": false,
        "required": ["url", "consumer_key", "consumer_secret"],
        "properties": {
            "url": {"type": "string", "description": "the store's site URL"},
            "consumer_key": {"type": "string", "secret": true},
            "consumer_secret": {"type": "string", "secret": true},
            "auth": {"enum": ["basic", "query_string"], "default": "basic"},
            "start_date": {"type": "string"},
            "page_size": {"type": ["integer", "string"], "default": 100},
            "requests_per_second": {"type": ["integer", "string"]},
            "max_retries": {"type": ["integer", "string"], "default": 6},
            "request_timeout_ms": {"type": ["integer", "string"], "default": 60000},
            "stream_concurrency": {"type": ["integer", "string"], "default": 3}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_checked_and_secrets_hidden() {
        let c = WooCommerceConfig::from_value(serde_json::json!({
            "url": "https://shop.example.com/", "consumer_key": "ck_1", "consumer_secret": "cs_secret"
        }))
        .unwrap();
        assert_eq!(c.api_base(), "https://shop.example.com/wp-json/wc/v3");
        assert_eq!(c.auth, Auth::Basic);
        assert!(!format!("{c:?}").contains("cs_secret"));
        let e = WooCommerceConfig::from_value(serde_json::json!({
            "url": "https://s", "consumer_key": "ck_1", "consumer_secret": "cs", "page_size": 101
        }))
        .unwrap_err();
        assert!(e.to_string().contains("100"), "{e}");
        let e = WooCommerceConfig::from_value(serde_json::json!({
            "url": "https://s", "consumer_key": "ck_1", "consumer_secret": "cs", "auth": "oauth1"
        }))
        .unwrap_err();
        assert!(e.to_string().contains("query_string"), "{e}");
    }
}

use braid_sdk::config_value::number;
use braid_sdk::Error;
use serde::Deserialize;

/// Configuration of the Shopify source.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyConfig {
    /// The shop: `braid-demo` or `braid-demo.myshopify.com` (the API is at
    /// `https://{shop}.myshopify.com`). Needed unless `base_url` is set.
    #[serde(default)]
    pub shop: Option<String>,
    /// API base URL instead of the shop's (a proxy, the sandbox).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Admin API access token (`shpat_…`), sent as `X-Shopify-Access-Token`. Secret.
    pub access_token: String,
    /// Admin API version in the path (`/admin/api/{api_version}/`); pins the wire format.
    #[serde(default = "default_version")]
    pub api_version: String,
    /// Earliest `updated_at` an incremental stream's first run reads (RFC 3339);
    /// default: everything.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Records per page (`limit`, at most 250).
    #[serde(default = "default_page_size", deserialize_with = "number")]
    pub page_size: u64,
    /// The shop's leak rate: calls per second the bucket drains (2 on
    /// standard plans, 20 on Shopify Plus). The connector slows down as the
    /// `X-Shopify-Shop-Api-Call-Limit` header nears full, at this rate.
    #[serde(default = "default_leak", deserialize_with = "number")]
    pub calls_per_second: u64,
    /// Calls kept free in the bucket (for other apps of the shop).
    #[serde(default = "default_headroom", deserialize_with = "number")]
    pub bucket_headroom: u64,
    /// Retries of a request after transient failures or 429s.
    #[serde(default = "default_retries", deserialize_with = "number")]
    pub max_retries: u64,
    /// Timeout of one request attempt, in milliseconds (a timed-out attempt is retried).
    #[serde(default = "default_timeout", deserialize_with = "number")]
    pub request_timeout_ms: u64,
    /// Streams read at the same time (they share the shop's bucket).
    #[serde(default = "default_concurrency", deserialize_with = "number")]
    pub stream_concurrency: u64,
}

impl std::fmt::Debug for ShopifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyConfig")
            .field("shop", &self.shop)
            .field("base_url", &self.base_url)
            .field("access_token", &"***")
            .field("api_version", &self.api_version)
            .field("start_date", &self.start_date)
            .field("page_size", &self.page_size)
            .field("calls_per_second", &self.calls_per_second)
            .field("bucket_headroom", &self.bucket_headroom)
            .field("max_retries", &self.max_retries)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("stream_concurrency", &self.stream_concurrency)
            .finish()
    }
}

fn default_version() -> String {
    "2024-10".into()
}
fn default_page_size() -> u64 {
    250
}
fn default_leak() -> u64 {
    2
}
fn default_headroom() -> u64 {
    4
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

impl ShopifyConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let mut c: ShopifyConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("shopify: {e}")))?;
        // `${SHOPIFY_BASE_URL:-}` left empty means the shop's own host.
        c.base_url = c.base_url.take().filter(|u| !u.trim().is_empty());
        c.shop = c.shop.take().filter(|s| !s.trim().is_empty());
        c.start_date = c.start_date.take().filter(|s| !s.trim().is_empty());
        let bad = |m: String| Err(Error::Config(format!("shopify: {m}")));
        if c.access_token.trim().is_empty() {
            return bad("access_token is empty".into());
        }
        if !(1..=250).contains(&c.page_size) {
            return bad(format!(
                "page_size must be 1..=250 (Shopify's maximum), got {}",
                c.page_size
            ));
        }
        if c.calls_per_second == 0 {
            return bad("calls_per_second must be at least 1".into());
        }
        if c.stream_concurrency == 0 {
            return bad("stream_concurrency must be at least 1".into());
        }
        if c.request_timeout_ms == 0 {
            return bad("request_timeout_ms must be at least 1".into());
        }
        let v = &c.api_version;
        let dated = v.len() == 7
            && chrono::NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d").is_ok();
        if !dated && v != "unstable" {
            return bad(format!(
                "api_version must be a release like 2024-10, got {v:?}"
            ));
        }
        if let Some(s) = &c.start_date {
            if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                return bad(format!(
                    "start_date must be an RFC 3339 time like 2024-01-01T00:00:00Z, got {s:?}"
                ));
            }
        }
        match (&c.shop, &c.base_url) {
            (None, None) => {
                return bad("set shop (e.g. my-store or my-store.myshopify.com) or base_url".into())
            }
            (_, Some(u)) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                return bad(format!(
                    "base_url must start with http:// or https://, got {u:?}"
                ))
            }
            (Some(s), None) if shop_host(s).is_none() => {
                return bad(format!(
                    "shop must be a shop name like my-store or my-store.myshopify.com, got {s:?}"
                ))
            }
            _ => {}
        }
        Ok(c)
    }

    /// Where the Admin API is: `base_url`, else `https://{shop}.myshopify.com`.
    pub fn api_base(&self) -> String {
        if let Some(u) = self.base_url.as_deref().filter(|u| !u.is_empty()) {
            return u.trim_end_matches('/').to_owned();
        }
        let host = self.shop.as_deref().and_then(shop_host).unwrap_or_default();
        format!("https://{host}")
    }
}

/// `my-store` or `my-store.myshopify.com` (or a URL of it) → `my-store.myshopify.com`.
fn shop_host(shop: &str) -> Option<String> {
    let s = shop
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let name = s.strip_suffix(".myshopify.com").unwrap_or(s);
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then(|| format!("{name}.myshopify.com"))
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Shopify",
        "type": "object",
        "additionalProperties": false,
        "required": ["access_token"],
        "properties": {
            "shop": {"type": "string", "description": "my-store or my-store.myshopify.com"},
            "base_url": {"type": "string", "description": "API base URL instead of https://{shop}.myshopify.com"},
            "access_token": {"type": "string", "secret": true, "description": "Admin API access token (X-Shopify-Access-Token)"},
            "api_version": {"type": "string", "default": "2024-10"},
            "start_date": {"type": "string", "description": "earliest updated_at of a first incremental run (RFC 3339)"},
            "page_size": {"type": ["integer", "string"], "default": 250},
            "calls_per_second": {"type": ["integer", "string"], "default": 2, "description": "the shop's leak rate (Plus: 20)"},
            "bucket_headroom": {"type": ["integer", "string"], "default": 4},
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
    fn shop_names_become_hosts_and_bad_configs_are_named() {
        let c = ShopifyConfig::from_value(
            serde_json::json!({"shop": "my-store.myshopify.com", "access_token": "x"}),
        )
        .unwrap();
        assert_eq!(c.api_base(), "https://my-store.myshopify.com");
        let c =
            ShopifyConfig::from_value(serde_json::json!({"shop": "my-store", "access_token": "x"}))
                .unwrap();
        assert_eq!(c.api_base(), "https://my-store.myshopify.com");
        let e = ShopifyConfig::from_value(serde_json::json!({"access_token": "x"})).unwrap_err();
        assert!(e.to_string().contains("set shop"), "{e}");
        let e = ShopifyConfig::from_value(
            serde_json::json!({"shop": "s", "access_token": "x", "page_size": 251}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("250"), "{e}");
        let e = ShopifyConfig::from_value(
            serde_json::json!({"shop": "s", "access_token": "x", "api_version": "2024-13"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("api_version"), "{e}");
        let dbg = format!(
            "{:?}",
            ShopifyConfig::from_value(
                serde_json::json!({"shop": "s", "access_token": "shpat_secret"})
            )
            .unwrap()
        );
        assert!(!dbg.contains("shpat_secret"));
    }
}

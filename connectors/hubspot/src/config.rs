use std::collections::BTreeMap;

use braid_sdk::config_value::{number, opt_number};
use braid_sdk::Error;
use serde::Deserialize;

/// Configuration of the HubSpot source.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// API base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Private-app access token (or OAuth access token). Secret.
    pub access_token: String,
    /// Records per page of the objects list endpoint (HubSpot allows at most 100).
    #[serde(default = "default_page_size", deserialize_with = "number")]
    pub page_size: u64,
    /// Records per page of the search endpoint used by incremental reads (at most 200).
    #[serde(default = "default_search_page_size", deserialize_with = "number")]
    pub search_page_size: u64,
    /// Client-side limit on requests per second (HubSpot private apps: 10-19/s).
    #[serde(default, deserialize_with = "opt_number")]
    pub requests_per_second: Option<u64>,
    /// Retries of a request after transient failures or 429s.
    #[serde(default = "default_retries", deserialize_with = "number")]
    pub max_retries: u64,
    /// Streams read at the same time.
    #[serde(default = "default_concurrency", deserialize_with = "number")]
    pub stream_concurrency: u64,
    /// Properties to read per object (default: every property `discover` finds).
    #[serde(default)]
    pub properties: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for HubSpotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotConfig")
            .field("base_url", &self.base_url)
            .field("access_token", &"***")
            .field("page_size", &self.page_size)
            .field("search_page_size", &self.search_page_size)
            .field("requests_per_second", &self.requests_per_second)
            .field("max_retries", &self.max_retries)
            .field("stream_concurrency", &self.stream_concurrency)
            .field("properties", &self.properties)
            .finish()
    }
}

fn default_base_url() -> String {
    "https://api.hubapi.com".into()
}
fn default_page_size() -> u64 {
    100
}
fn default_search_page_size() -> u64 {
    200
}
fn default_retries() -> u64 {
    6
}
fn default_concurrency() -> u64 {
    3
}

impl HubSpotConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let c: HubSpotConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(e.to_string()))?;
        if c.access_token.trim().is_empty() {
            return Err(Error::Config("access_token is empty".into()));
        }
        if !(1..=100).contains(&c.page_size) {
            return Err(Error::Config(format!(
                "page_size must be 1..=100 (HubSpot's maximum), got {}",
                c.page_size
            )));
        }
        if !(1..=200).contains(&c.search_page_size) {
            return Err(Error::Config(format!(
                "search_page_size must be 1..=200, got {}",
                c.search_page_size
            )));
        }
        if c.stream_concurrency == 0 {
            return Err(Error::Config(
                "stream_concurrency must be at least 1".into(),
            ));
        }
        if !(c.base_url.starts_with("http://") || c.base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "base_url must start with http:// or https://, got {:?}",
                c.base_url
            )));
        }
        for k in c.properties.keys() {
            if crate::OBJECTS.iter().all(|o| o.name != k) {
                return Err(Error::Config(format!(
                    "properties: unknown object {k:?}; expected contacts, companies or deals"
                )));
            }
        }
        Ok(c)
    }
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "HubSpot CRM v3",
        "type": "object",
        "additionalProperties": false,
        "required": ["access_token"],
        "properties": {
            "base_url": {"type": "string", "default": "https://api.hubapi.com", "description": "API base URL"},
            "access_token": {"type": "string", "secret": true, "description": "Private-app or OAuth access token"},
            "page_size": {"type": ["integer", "string"], "default": 100, "description": "Records per list page (max 100)"},
            "search_page_size": {"type": ["integer", "string"], "default": 200, "description": "Records per search page (max 200)"},
            "requests_per_second": {"type": ["integer", "string"], "description": "Client-side request rate limit"},
            "max_retries": {"type": ["integer", "string"], "default": 6},
            "stream_concurrency": {"type": ["integer", "string"], "default": 3},
            "properties": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_strings_are_accepted_and_debug_hides_the_token() {
        let c = HubSpotConfig::from_value(
            serde_json::json!({"access_token": "pat-SECRET", "page_size": "50"}),
        )
        .unwrap();
        assert_eq!(c.page_size, 50);
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn bad_values_name_the_field() {
        let e =
            HubSpotConfig::from_value(serde_json::json!({"access_token": "x", "page_size": 500}))
                .unwrap_err();
        assert!(e.to_string().contains("page_size"), "{e}");
        let e = HubSpotConfig::from_value(serde_json::json!({"access_token": "x", "pagesize": 5}))
            .unwrap_err();
        assert!(e.to_string().contains("pagesize"), "{e}");
        let e = HubSpotConfig::from_value(serde_json::json!({})).unwrap_err();
        assert!(e.to_string().contains("access_token"), "{e}");
    }
}

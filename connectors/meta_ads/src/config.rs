use braid_sdk::config_value::{number, opt_number};
use braid_sdk::Error;
use chrono::NaiveDate;
use serde::Deserialize;

/// Configuration of the Meta Ads source (`connector: meta_ads`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaAdsConfig {
    /// Graph API host (`https://graph.facebook.com`).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Graph API version in every path (`v21.0`); pins the wire format.
    #[serde(default = "default_version")]
    pub api_version: String,
    /// A system-user or long-lived user access token with `ads_read` (and
    /// `leads_retrieval` for leads), sent as the `access_token` parameter. Secret.
    pub access_token: String,
    /// The ad account: `act_1234567890` or just its number.
    pub ad_account_id: String,
    /// First day of insights read on a first run (`YYYY-MM-DD`, a day in the
    /// account's time zone; Meta keeps 37 months). Default: 30 days ago.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Days before the committed day that every incremental read of
    /// `ad_insights` pulls again, because Meta restates them (late
    /// conversions within the attribution window; 28 covers 28-day click).
    #[serde(default = "default_lookback", deserialize_with = "number")]
    pub lookback_days: u64,
    /// Longest range (days) read with a synchronous insights request; longer
    /// ranges run as async report runs (`POST …/insights` → `report_run_id`).
    #[serde(default = "default_sync_max", deserialize_with = "number")]
    pub sync_max_days: u64,
    /// Days per async report run (each is checkpointed when read).
    #[serde(default = "default_window", deserialize_with = "number")]
    pub window_days: u64,
    /// Milliseconds between polls of a report run's `async_status`.
    #[serde(default = "default_poll", deserialize_with = "number")]
    pub job_poll_ms: u64,
    /// Seconds a report run may take before the read fails.
    #[serde(default = "default_job_timeout", deserialize_with = "number")]
    pub job_timeout_seconds: u64,
    /// Action types summed into `conversions` (and their `action_values`
    /// into `conversion_value`).
    #[serde(default = "default_conversions")]
    pub conversion_action_types: Vec<String>,
    /// Lead forms whose leads the `leads` stream reads.
    #[serde(default)]
    pub lead_form_ids: Vec<String>,
    /// Records per page (`limit`; Meta allows up to 500 on these edges).
    #[serde(default = "default_page_size", deserialize_with = "number")]
    pub page_size: u64,
    /// Client-side limit on requests per second.
    #[serde(default, deserialize_with = "opt_number")]
    pub requests_per_second: Option<u64>,
    /// Retries of a request after throttling, transient failures or timeouts.
    #[serde(default = "default_retries", deserialize_with = "number")]
    pub max_retries: u64,
    /// Timeout of one request attempt, in milliseconds.
    #[serde(default = "default_timeout", deserialize_with = "number")]
    pub request_timeout_ms: u64,
    /// Streams read at the same time.
    #[serde(default = "default_concurrency", deserialize_with = "number")]
    pub stream_concurrency: u64,
}

impl std::fmt::Debug for MetaAdsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaAdsConfig")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("access_token", &"***")
            .field("ad_account_id", &self.ad_account_id)
            .field("start_date", &self.start_date)
            .field("lookback_days", &self.lookback_days)
            .field("sync_max_days", &self.sync_max_days)
            .field("window_days", &self.window_days)
            .field("lead_form_ids", &self.lead_form_ids)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

fn default_base_url() -> String {
    "https://graph.facebook.com".into()
}
fn default_version() -> String {
    "v21.0".into()
}
fn default_lookback() -> u64 {
    7
}
fn default_sync_max() -> u64 {
    7
}
fn default_window() -> u64 {
    30
}
fn default_poll() -> u64 {
    2000
}
fn default_job_timeout() -> u64 {
    3600
}
fn default_conversions() -> Vec<String> {
    vec!["offsite_conversion.fb_pixel_purchase".into(), "lead".into()]
}
fn default_page_size() -> u64 {
    500
}
fn default_retries() -> u64 {
    6
}
fn default_timeout() -> u64 {
    120_000
}
fn default_concurrency() -> u64 {
    2
}

impl MetaAdsConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let mut c: MetaAdsConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("meta_ads: {e}")))?;
        let bad = |m: String| Err(Error::Config(format!("meta_ads: {m}")));
        if c.access_token.trim().is_empty() {
            return bad("access_token is empty".into());
        }
        let number = c.ad_account_id.trim().trim_start_matches("act_").to_owned();
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return bad(format!(
                "ad_account_id must be act_<digits> or the account number, got {:?}",
                c.ad_account_id
            ));
        }
        c.ad_account_id = number;
        let v = c.api_version.trim_start_matches('v');
        if !v
            .split_once('.')
            .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
        {
            return bad(format!(
                "api_version must look like v21.0, got {:?}",
                c.api_version
            ));
        }
        if let Some(s) = c.start_date.as_deref().filter(|s| !s.trim().is_empty()) {
            if NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").is_err() {
                return bad(format!("start_date must be YYYY-MM-DD, got {s:?}"));
            }
        } else {
            c.start_date = None;
        }
        if !(1..=500).contains(&c.page_size) {
            return bad(format!("page_size must be 1..=500, got {}", c.page_size));
        }
        if c.sync_max_days == 0 || c.window_days == 0 {
            return bad("sync_max_days and window_days must be at least 1".into());
        }
        if c.lookback_days > 400 {
            return bad(format!(
                "lookback_days must be at most 400, got {}",
                c.lookback_days
            ));
        }
        if c.stream_concurrency == 0 || c.request_timeout_ms == 0 || c.job_poll_ms == 0 {
            return bad(
                "stream_concurrency, request_timeout_ms and job_poll_ms must be at least 1".into(),
            );
        }
        if !(c.base_url.starts_with("http://") || c.base_url.starts_with("https://")) {
            return bad(format!(
                "base_url must start with http:// or https://, got {:?}",
                c.base_url
            ));
        }
        if c.lead_form_ids.iter().any(|f| f.trim().is_empty()) {
            return bad("lead_form_ids has an empty id".into());
        }
        Ok(c)
    }

    /// The configured first day, if any.
    pub fn start(&self) -> Option<NaiveDate> {
        self.start_date
            .as_deref()
            .and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
    }
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    let int = || serde_json::json!({"type": ["integer", "string"]});
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Meta Ads",
        "type": "object",
        "additionalProperties": false,
        "required": ["access_token", "ad_account_id"],
        "properties": {
            "base_url": {"type": "string", "default": "https://graph.facebook.com"},
            "api_version": {"type": "string", "default": "v21.0"},
            "access_token": {"type": "string", "secret": true, "description": "System-user access token with ads_read (leads_retrieval for leads)"},
            "ad_account_id": {"type": "string", "description": "act_<number> or the number"},
            "start_date": {"type": "string", "description": "YYYY-MM-DD; default 30 days ago"},
            "lookback_days": int(),
            "sync_max_days": int(),
            "window_days": int(),
            "job_poll_ms": int(),
            "job_timeout_seconds": int(),
            "conversion_action_types": {"type": "array", "items": {"type": "string"}},
            "lead_form_ids": {"type": "array", "items": {"type": "string"}},
            "page_size": int(),
            "requests_per_second": int(),
            "max_retries": int(),
            "request_timeout_ms": int(),
            "stream_concurrency": int()
        }
    })
}

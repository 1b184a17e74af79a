use braid_sdk::config_value::number;
use braid_sdk::Error;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

/// Configuration of the TikTok Ads source.
///
/// TikTok's Marketing API authenticates with a long-lived access token
/// (from the advertiser authorisation flow of a TikTok for Business
/// developer app), sent in the `Access-Token` header.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TikTokAdsConfig {
    /// API host (`https://business-api.tiktok.com`); paths start with `/open_api/v1.3/`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Access token, sent as the `Access-Token` header. Secret.
    #[serde(default, deserialize_with = "opt_text")]
    pub access_token: Option<String>,
    /// Advertiser accounts to read: a list, or a comma-separated string.
    #[serde(deserialize_with = "id_list")]
    pub advertiser_ids: Vec<String>,
    /// First report day (YYYY-MM-DD, in each account's time zone). Default:
    /// 29 days before today on the first run (a 30-day window), no floor afterwards.
    #[serde(default, deserialize_with = "opt_text")]
    pub start_date: Option<String>,
    /// Days before the committed report day that every incremental run
    /// re-pulls, because TikTok restates recent days (attribution windows,
    /// refunded invalid clicks).
    #[serde(default = "default_lookback", deserialize_with = "number")]
    pub lookback_days: u64,
    /// Campaigns/ad groups/ads per page (TikTok allows 1–1000).
    #[serde(default = "default_page_size", deserialize_with = "number")]
    pub page_size: u64,
    /// Report rows per page (1–1000).
    #[serde(default = "default_page_size", deserialize_with = "number")]
    pub report_page_size: u64,
    /// Client-side limit on requests per second (TikTok limits each app's
    /// QPS; 40100 answers are retried with backoff anyway).
    #[serde(default = "default_rps", deserialize_with = "opt_number")]
    pub requests_per_second: Option<u64>,
    /// Retries of a request after transient failures or rate limits.
    #[serde(default = "default_retries", deserialize_with = "number")]
    pub max_retries: u64,
    /// Timeout of one request attempt, in milliseconds (a timed-out attempt is retried).
    #[serde(default = "default_timeout", deserialize_with = "number")]
    pub request_timeout_ms: u64,
    /// Streams read at the same time.
    #[serde(default = "default_concurrency", deserialize_with = "number")]
    pub stream_concurrency: u64,
}

impl std::fmt::Debug for TikTokAdsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TikTokAdsConfig")
            .field("base_url", &self.base_url)
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("advertiser_ids", &self.advertiser_ids)
            .field("start_date", &self.start_date)
            .field("lookback_days", &self.lookback_days)
            .field("page_size", &self.page_size)
            .field("report_page_size", &self.report_page_size)
            .field("requests_per_second", &self.requests_per_second)
            .field("max_retries", &self.max_retries)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("stream_concurrency", &self.stream_concurrency)
            .finish()
    }
}

fn default_base_url() -> String {
    "https://business-api.tiktok.com".into()
}
fn default_lookback() -> u64 {
    7
}
fn default_page_size() -> u64 {
    1000
}
fn default_rps() -> Option<u64> {
    Some(10)
}
fn default_retries() -> u64 {
    6
}
fn default_timeout() -> u64 {
    60_000
}
fn default_concurrency() -> u64 {
    2
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    N(u64),
    S(String),
}

impl Text {
    fn into_string(self) -> String {
        match self {
            Text::N(n) => n.to_string(),
            Text::S(s) => s.trim().to_owned(),
        }
    }
}

fn opt_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    number(d).map(|n| (n > 0).then_some(n))
}

fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(Text::deserialize(d)?.into_string()).filter(|s| !s.is_empty()))
}

/// Ids as a list (numbers or strings) or one comma-separated string.
fn id_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L {
        List(Vec<Text>),
        One(Text),
    }
    let items: Vec<String> = match L::deserialize(d)? {
        L::List(l) => l.into_iter().map(Text::into_string).collect(),
        L::One(t) => t
            .into_string()
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
    };
    Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
}

impl TikTokAdsConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let c: TikTokAdsConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("tiktok_ads: {e}")))?;
        let bad = |m: String| Err(Error::Config(format!("tiktok_ads: {m}")));
        if c.access_token.is_none() {
            return bad("access_token is required (the Access-Token header)".into());
        }
        if c.advertiser_ids.is_empty() {
            return bad("advertiser_ids is empty".into());
        }
        if c.advertiser_ids.len() > 100 {
            return bad(format!(
                "at most 100 advertiser_ids per source (advertiser/info's limit), got {}",
                c.advertiser_ids.len()
            ));
        }
        if let Some(id) = c
            .advertiser_ids
            .iter()
            .find(|id| id.parse::<u64>().is_err())
        {
            return bad(format!("advertiser id {id:?} is not a number"));
        }
        for (name, v) in [
            ("page_size", c.page_size),
            ("report_page_size", c.report_page_size),
        ] {
            if !(1..=1000).contains(&v) {
                return bad(format!(
                    "{name} must be 1..=1000 (TikTok's maximum), got {v}"
                ));
            }
        }
        if c.lookback_days > 365 {
            return bad(format!(
                "lookback_days must be at most 365, got {}",
                c.lookback_days
            ));
        }
        if c.stream_concurrency == 0 {
            return bad("stream_concurrency must be at least 1".into());
        }
        if c.request_timeout_ms == 0 {
            return bad("request_timeout_ms must be at least 1".into());
        }
        if let Some(s) = &c.start_date {
            if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
                return bad(format!(
                    "start_date must be a date like 2026-11-01, got {s:?}"
                ));
            }
        }
        if !(c.base_url.starts_with("http://") || c.base_url.starts_with("https://")) {
            return bad(format!(
                "base_url must start with http:// or https://, got {:?}",
                c.base_url
            ));
        }
        Ok(c)
    }

    /// The configured start date.
    pub fn start(&self) -> Option<NaiveDate> {
        self.start_date
            .as_deref()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
    }
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "TikTok Ads (API for Business v1.3)",
        "type": "object",
        "additionalProperties": false,
        "required": ["access_token", "advertiser_ids"],
        "properties": {
            "base_url": {"type": "string", "default": "https://business-api.tiktok.com"},
            "access_token": {"type": "string", "secret": true, "description": "Access-Token header"},
            "advertiser_ids": {"type": ["array", "string"], "items": {"type": ["string", "integer"]}, "description": "advertiser accounts; a list or comma-separated"},
            "start_date": {"type": "string", "description": "first report day, YYYY-MM-DD (account time zone)"},
            "lookback_days": {"type": ["integer", "string"], "default": 7},
            "page_size": {"type": ["integer", "string"], "default": 1000},
            "report_page_size": {"type": ["integer", "string"], "default": 1000},
            "requests_per_second": {"type": ["integer", "string"], "default": 10},
            "max_retries": {"type": ["integer", "string"], "default": 6},
            "request_timeout_ms": {"type": ["integer", "string"], "default": 60000},
            "stream_concurrency": {"type": ["integer", "string"], "default": 2}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_checked_and_the_token_is_never_shown() {
        let c = TikTokAdsConfig::from_value(serde_json::json!({
            "access_token": "tok-secret-1", "advertiser_ids": "6900000000000000001, 6900000000000000008",
            "lookback_days": "3"
        }))
        .unwrap();
        assert_eq!(c.advertiser_ids.len(), 2);
        assert_eq!(c.lookback_days, 3);
        assert!(!format!("{c:?}").contains("tok-secret-1"));
        for bad in [
            serde_json::json!({"advertiser_ids": "1"}),
            serde_json::json!({"access_token": "t", "advertiser_ids": ""}),
            serde_json::json!({"access_token": "t", "advertiser_ids": "x1"}),
            serde_json::json!({"access_token": "t", "advertiser_ids": "1", "page_size": 1001}),
            serde_json::json!({"access_token": "t", "advertiser_ids": "1", "start_date": "yesterday"}),
            serde_json::json!({"access_token": "t", "advertiser_ids": "1", "app_secret": "s"}),
        ] {
            assert!(
                matches!(
                    TikTokAdsConfig::from_value(bad.clone()),
                    Err(Error::Config(_))
                ),
                "{bad}"
            );
        }
    }
}

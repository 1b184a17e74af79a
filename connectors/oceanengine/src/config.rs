use braid_sdk::config_value::number;
use braid_sdk::Error;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

/// Configuration of the Ocean Engine (巨量引擎) source.
///
/// Authenticate with an `access_token`, or with `app_id` + `secret` +
/// `refresh_token` (the connector then refreshes through
/// `/open_api/oauth2/refresh_token/` whenever Ocean Engine answers that the
/// token expired, 40102). Both may be given: the access token is used first.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OceanEngineConfig {
    /// API host (`https://ad.oceanengine.com`); paths start with `/open_api/`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Access token, sent as the `Access-Token` header. Secret.
    #[serde(default, deserialize_with = "opt_text")]
    pub access_token: Option<String>,
    /// The developer app's id (for refreshing the token).
    #[serde(default, deserialize_with = "opt_text")]
    pub app_id: Option<String>,
    /// The app's secret. Secret.
    #[serde(default, deserialize_with = "opt_text")]
    pub secret: Option<String>,
    /// A refresh token of the authorising user. Secret. Ocean Engine issues a
    /// new one with every refresh; the connector uses the newest for the rest
    /// of the run.
    #[serde(default, deserialize_with = "opt_text")]
    pub refresh_token: Option<String>,
    /// Advertiser accounts to read: a list, or a comma-separated string.
    #[serde(deserialize_with = "id_list")]
    pub advertiser_ids: Vec<String>,
    /// First report day (YYYY-MM-DD, Asia/Shanghai). Default: 29 days before
    /// today on the first run (a 30-day window), no floor afterwards.
    #[serde(default, deserialize_with = "opt_text")]
    pub start_date: Option<String>,
    /// Days before the committed report day that every incremental run
    /// re-pulls, because Ocean Engine restates recent days (late conversions,
    /// refunded invalid traffic).
    #[serde(default = "default_lookback", deserialize_with = "number")]
    pub lookback_days: u64,
    /// Projects/promotions per page (Ocean Engine allows 1–100).
    #[serde(default = "default_page_size", deserialize_with = "number")]
    pub page_size: u64,
    /// Report rows per page (1–1000).
    #[serde(default = "default_report_page_size", deserialize_with = "number")]
    pub report_page_size: u64,
    /// Client-side limit on requests per second (Ocean Engine limits each
    /// app per endpoint; 40100 answers are retried with backoff anyway).
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

impl std::fmt::Debug for OceanEngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "***");
        f.debug_struct("OceanEngineConfig")
            .field("base_url", &self.base_url)
            .field("access_token", &redacted(&self.access_token))
            .field("app_id", &self.app_id)
            .field("secret", &redacted(&self.secret))
            .field("refresh_token", &redacted(&self.refresh_token))
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
    "https://ad.oceanengine.com".into()
}
fn default_lookback() -> u64 {
    7
}
fn default_page_size() -> u64 {
    100
}
fn default_report_page_size() -> u64 {
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
    Ok(items
        .into_iter()
        .filter(|s: &String| !s.is_empty())
        .collect())
}

impl OceanEngineConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let c: OceanEngineConfig = serde_json::from_value(value)
            .map_err(|e| Error::Config(format!("oceanengine: {e}")))?;
        let bad = |m: String| Err(Error::Config(format!("oceanengine: {m}")));
        let set = |o: &Option<String>| o.as_ref().is_some_and(|s| !s.trim().is_empty());
        let refresh = [&c.app_id, &c.secret, &c.refresh_token];
        let n_refresh = refresh.iter().filter(|o| set(o)).count();
        if n_refresh != 0 && n_refresh != 3 {
            return bad(
                "app_id, secret and refresh_token go together (all three refresh the token)".into(),
            );
        }
        if !set(&c.access_token) && n_refresh == 0 {
            return bad("give access_token, or app_id + secret + refresh_token".into());
        }
        if c.advertiser_ids.is_empty() {
            return bad("advertiser_ids is empty".into());
        }
        if let Some(id) = c
            .advertiser_ids
            .iter()
            .find(|id| id.parse::<u64>().is_err())
        {
            return bad(format!("advertiser id {id:?} is not a number"));
        }
        if !(1..=100).contains(&c.page_size) {
            return bad(format!(
                "page_size must be 1..=100 (Ocean Engine's maximum), got {}",
                c.page_size
            ));
        }
        if !(1..=1000).contains(&c.report_page_size) {
            return bad(format!(
                "report_page_size must be 1..=1000, got {}",
                c.report_page_size
            ));
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

    /// Whether the token can be refreshed.
    pub fn can_refresh(&self) -> bool {
        self.refresh_token.is_some()
    }
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Ocean Engine (巨量引擎)",
        "type": "object",
        "additionalProperties": false,
        "required": ["advertiser_ids"],
        "properties": {
            "base_url": {"type": "string", "default": "https://ad.oceanengine.com"},
            "access_token": {"type": "string", "secret": true, "description": "Access-Token header"},
            "app_id": {"type": ["string", "integer"], "description": "developer app id (token refresh)"},
            "secret": {"type": "string", "secret": true, "description": "app secret (token refresh)"},
            "refresh_token": {"type": "string", "secret": true, "description": "refresh token (token refresh)"},
            "advertiser_ids": {"type": ["array", "string"], "items": {"type": ["string", "integer"]}, "description": "advertiser accounts; a list or comma-separated"},
            "start_date": {"type": "string", "description": "first report day, YYYY-MM-DD (Asia/Shanghai)"},
            "lookback_days": {"type": ["integer", "string"], "default": 7},
            "page_size": {"type": ["integer", "string"], "default": 100},
            "report_page_size": {"type": ["integer", "string"], "default": 1000},
            "requests_per_second": {"type": ["integer", "string"], "default": 10},
            "max_retries": {"type": ["integer", "string"], "default": 6},
            "request_timeout_ms": {"type": ["integer", "string"], "default": 60000},
            "stream_concurrency": {"type": ["integer", "string"], "default": 2}
        }
    })
}

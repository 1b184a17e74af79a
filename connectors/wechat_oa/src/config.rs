use braid_sdk::config_value::number;
use braid_sdk::Error;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

/// Configuration of the WeChat Official Account (微信公众号) source.
///
/// Authenticate with `appid` + `secret` (the connector fetches an
/// `access_token` from `/cgi-bin/token`, keeps it until shortly before its
/// `expires_in`, and fetches a new one when WeChat answers 40001, 40014 or
/// 42001), or with an `access_token` handed out by the account's central
/// token service (WeChat invalidates older tokens whenever a new one is
/// fetched, so accounts with several tools usually have one). Both may be
/// given: the access token is used first, `appid` + `secret` when it is refused.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeChatOaConfig {
    /// API host (`https://api.weixin.qq.com`).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The official account's AppID.
    #[serde(default, deserialize_with = "opt_text")]
    pub appid: Option<String>,
    /// Its AppSecret. Secret.
    #[serde(default, deserialize_with = "opt_text")]
    pub secret: Option<String>,
    /// An access token from a central token service. Secret.
    #[serde(default, deserialize_with = "opt_text")]
    pub access_token: Option<String>,
    /// First analytics day (YYYY-MM-DD, Asia/Shanghai). Default: 29 days
    /// before yesterday on the first run (30 days), no floor afterwards.
    #[serde(default, deserialize_with = "opt_text")]
    pub start_date: Option<String>,
    /// Days before the committed analytics day that every incremental run
    /// re-pulls (WeChat fills the previous day in during the morning and may
    /// correct recent days).
    #[serde(default = "default_lookback", deserialize_with = "number")]
    pub lookback_days: u64,
    /// Language of `batchget` answers (`zh_CN`, `zh_TW`, `en`).
    #[serde(default = "default_lang")]
    pub lang: String,
    /// Openids per `user/info/batchget` call (WeChat allows 1–100).
    #[serde(default = "default_batch", deserialize_with = "number")]
    pub batch_size: u64,
    /// Client-side limit on requests per second (45011 answers are retried
    /// with backoff anyway).
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

impl std::fmt::Debug for WeChatOaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "***");
        f.debug_struct("WeChatOaConfig")
            .field("base_url", &self.base_url)
            .field("appid", &self.appid)
            .field("secret", &redacted(&self.secret))
            .field("access_token", &redacted(&self.access_token))
            .field("start_date", &self.start_date)
            .field("lookback_days", &self.lookback_days)
            .field("lang", &self.lang)
            .field("batch_size", &self.batch_size)
            .field("requests_per_second", &self.requests_per_second)
            .field("max_retries", &self.max_retries)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("stream_concurrency", &self.stream_concurrency)
            .finish()
    }
}

fn default_base_url() -> String {
    "https://api.weixin.qq.com".into()
}
fn default_lookback() -> u64 {
    3
}
fn default_lang() -> String {
    "zh_CN".into()
}
fn default_batch() -> u64 {
    100
}
fn default_rps() -> Option<u64> {
    Some(20)
}
fn default_retries() -> u64 {
    8
}
fn default_timeout() -> u64 {
    30_000
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

impl WeChatOaConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let c: WeChatOaConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("wechat_oa: {e}")))?;
        let bad = |m: String| Err(Error::Config(format!("wechat_oa: {m}")));
        if c.secret.is_some() && c.appid.is_none() {
            return bad("a secret needs its appid (both fetch the access token)".into());
        }
        if c.access_token.is_none() && c.secret.is_none() {
            return bad("give appid + secret, or an access_token".into());
        }
        if !(1..=100).contains(&c.batch_size) {
            return bad(format!(
                "batch_size must be 1..=100 (WeChat's batchget maximum), got {}",
                c.batch_size
            ));
        }
        if !["zh_CN", "zh_TW", "en"].contains(&c.lang.as_str()) {
            return bad(format!("lang must be zh_CN, zh_TW or en, got {:?}", c.lang));
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
        "title": "WeChat Official Account (微信公众号)",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "base_url": {"type": "string", "default": "https://api.weixin.qq.com"},
            "appid": {"type": "string", "description": "the official account's AppID"},
            "secret": {"type": "string", "secret": true, "description": "AppSecret (fetches access tokens)"},
            "access_token": {"type": "string", "secret": true, "description": "a token from the account's central token service"},
            "start_date": {"type": "string", "description": "first analytics day, YYYY-MM-DD (Asia/Shanghai)"},
            "lookback_days": {"type": ["integer", "string"], "default": 3},
            "lang": {"type": "string", "enum": ["zh_CN", "zh_TW", "en"], "default": "zh_CN"},
            "batch_size": {"type": ["integer", "string"], "default": 100},
            "requests_per_second": {"type": ["integer", "string"], "default": 20},
            "max_retries": {"type": ["integer", "string"], "default": 8},
            "request_timeout_ms": {"type": ["integer", "string"], "default": 30000},
            "stream_concurrency": {"type": ["integer", "string"], "default": 2}
        }
    })
}

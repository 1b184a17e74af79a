use braid_sdk::config_value::{number, opt_number};
use braid_sdk::Error;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

/// Configuration of the Google Ads source (`connector: google_ads`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleAdsConfig {
    /// API host (`https://googleads.googleapis.com`).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// API version in every path (`v26`); pins the wire format. Google
    /// sunsets a version about a year after its release (v22 on 2026-10-07).
    #[serde(default = "default_version")]
    pub api_version: String,
    /// OAuth 2.0 token endpoint (`https://oauth2.googleapis.com/token`).
    #[serde(default = "default_token_url")]
    pub token_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret. Secret.
    pub client_secret: String,
    /// Refresh token of a user with access to the accounts (scope
    /// `https://www.googleapis.com/auth/adwords`). Secret.
    pub refresh_token: String,
    /// The developer token, sent as `developer-token` when set. Google sunset
    /// developer tokens on 2026-09-09 (the header is ignored since; access
    /// levels belong to the OAuth client's Cloud project). Secret.
    #[serde(default)]
    pub developer_token: Option<String>,
    /// The manager account the user reaches the client accounts through,
    /// sent as `login-customer-id` (dashes allowed).
    #[serde(default)]
    pub login_customer_id: Option<String>,
    /// Client accounts to read (`123-456-7890` or `1234567890`); a list or a
    /// comma-separated string.
    #[serde(deserialize_with = "id_list")]
    pub customer_ids: Vec<String>,
    /// First day of metrics read on a first run (`YYYY-MM-DD`, a day in
    /// each account's time zone). Default: 30 days ago.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Days before the committed day that every incremental read of
    /// `campaign_daily_metrics` pulls again (conversions are attributed
    /// to the click's day and arrive for weeks: Google restates them).
    #[serde(default = "default_lookback", deserialize_with = "number")]
    pub lookback_days: u64,
    /// Days per `campaign_daily_metrics` query (each window is checkpointed).
    #[serde(default = "default_window", deserialize_with = "number")]
    pub window_days: u64,
    /// Days back `click_views` reads on a first run (Google keeps 90).
    #[serde(default = "default_click_days", deserialize_with = "number")]
    pub click_view_days: u64,
    /// Also read REMOVED campaigns and ad groups (default: yes, since their
    /// past metrics still land in `campaign_daily_metrics`).
    #[serde(default = "yes")]
    pub include_removed: bool,
    /// Client-side limit on requests per second.
    #[serde(default, deserialize_with = "opt_number")]
    pub requests_per_second: Option<u64>,
    /// Retries of a request after RESOURCE_EXHAUSTED, transient failures or timeouts.
    #[serde(default = "default_retries", deserialize_with = "number")]
    pub max_retries: u64,
    /// Timeout of one request attempt, in milliseconds.
    #[serde(default = "default_timeout", deserialize_with = "number")]
    pub request_timeout_ms: u64,
    /// Streams read at the same time.
    #[serde(default = "default_concurrency", deserialize_with = "number")]
    pub stream_concurrency: u64,
}

impl std::fmt::Debug for GoogleAdsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleAdsConfig")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("refresh_token", &"***")
            .field("developer_token", &"***")
            .field("login_customer_id", &self.login_customer_id)
            .field("customer_ids", &self.customer_ids)
            .field("start_date", &self.start_date)
            .field("lookback_days", &self.lookback_days)
            .field("window_days", &self.window_days)
            .finish_non_exhaustive()
    }
}

fn default_base_url() -> String {
    "https://googleads.googleapis.com".into()
}
fn default_version() -> String {
    "v26".into()
}
fn default_token_url() -> String {
    "https://oauth2.googleapis.com/token".into()
}
fn default_lookback() -> u64 {
    14
}
fn default_window() -> u64 {
    31
}
fn default_click_days() -> u64 {
    30
}
fn yes() -> bool {
    true
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

/// A list of ids, or one comma-separated string of them.
fn id_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L {
        List(Vec<serde_json::Value>),
        S(String),
    }
    let raw: Vec<String> = match L::deserialize(d)? {
        L::S(s) => s.split(',').map(str::to_owned).collect(),
        L::List(v) => v
            .into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
    };
    Ok(raw
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

/// `123-456-7890` → `1234567890`, if it is ten digits.
fn customer_id(raw: &str) -> Option<String> {
    let id: String = raw.trim().chars().filter(|c| *c != '-').collect();
    (id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

impl GoogleAdsConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let mut c: GoogleAdsConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("google_ads: {e}")))?;
        let bad = |m: String| Err(Error::Config(format!("google_ads: {m}")));
        for (name, v) in [
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", &c.refresh_token),
        ] {
            if v.trim().is_empty() {
                return bad(format!("{name} is empty"));
            }
        }
        c.developer_token = c
            .developer_token
            .take()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        if c.customer_ids.is_empty() {
            return bad("customer_ids is empty".into());
        }
        let mut ids = Vec::new();
        for raw in &c.customer_ids {
            match customer_id(raw) {
                Some(id) if !ids.contains(&id) => ids.push(id),
                Some(_) => {}
                None => {
                    return bad(format!(
                        "customer id {raw:?} is not ten digits (123-456-7890 or 1234567890)"
                    ))
                }
            }
        }
        c.customer_ids = ids;
        c.login_customer_id = match c.login_customer_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => match customer_id(raw) {
                Some(id) => Some(id),
                None => {
                    return bad(format!(
                        "login_customer_id {raw:?} is not ten digits (123-456-7890 or 1234567890)"
                    ))
                }
            },
        };
        let v = c.api_version.trim();
        if !v
            .strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            return bad(format!("api_version must look like v26, got {v:?}"));
        }
        c.api_version = v.to_owned();
        if let Some(s) = c.start_date.as_deref().filter(|s| !s.trim().is_empty()) {
            if NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").is_err() {
                return bad(format!("start_date must be YYYY-MM-DD, got {s:?}"));
            }
        } else {
            c.start_date = None;
        }
        if c.window_days == 0 || c.click_view_days == 0 {
            return bad("window_days and click_view_days must be at least 1".into());
        }
        if c.click_view_days > 90 {
            return bad(format!(
                "click_view_days must be at most 90 (Google keeps click_view 90 days), got {}",
                c.click_view_days
            ));
        }
        if c.lookback_days > 400 {
            return bad(format!(
                "lookback_days must be at most 400, got {}",
                c.lookback_days
            ));
        }
        if c.stream_concurrency == 0 || c.request_timeout_ms == 0 {
            return bad("stream_concurrency and request_timeout_ms must be at least 1".into());
        }
        for (name, url) in [("base_url", &c.base_url), ("token_url", &c.token_url)] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return bad(format!(
                    "{name} must start with http:// or https://, got {url:?}"
                ));
            }
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
        "title": "Google Ads",
        "type": "object",
        "additionalProperties": false,
        "required": ["client_id", "client_secret", "refresh_token", "customer_ids"],
        "properties": {
            "base_url": {"type": "string", "default": "https://googleads.googleapis.com"},
            "api_version": {"type": "string", "default": "v26"},
            "token_url": {"type": "string", "default": "https://oauth2.googleapis.com/token"},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string", "secret": true},
            "refresh_token": {"type": "string", "secret": true, "description": "OAuth refresh token with the adwords scope"},
            "developer_token": {"type": "string", "secret": true, "description": "optional since Google sunset developer tokens (2026-09-09)"},
            "login_customer_id": {"type": "string", "description": "manager account id (login-customer-id header)"},
            "customer_ids": {"type": ["array", "string"], "items": {"type": "string"}, "description": "client account ids; a list or comma-separated"},
            "start_date": {"type": "string", "description": "YYYY-MM-DD; default 30 days ago"},
            "lookback_days": int(),
            "window_days": int(),
            "click_view_days": int(),
            "include_removed": {"type": "boolean"},
            "requests_per_second": int(),
            "max_retries": int(),
            "request_timeout_ms": int(),
            "stream_concurrency": int()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "client_id": "id", "client_secret": "s", "refresh_token": "r",
            "developer_token": "d", "customer_ids": "123-456-7890, 2223334444",
            "login_customer_id": "999-000-1111"
        })
    }

    #[test]
    fn ids_lose_their_dashes_and_bad_ones_are_named() {
        let c = GoogleAdsConfig::from_value(base()).unwrap();
        assert_eq!(c.customer_ids, ["1234567890", "2223334444"]);
        assert_eq!(c.login_customer_id.as_deref(), Some("9990001111"));
        assert!(!format!("{c:?}").contains("\"s\""));
        let mut v = base();
        v["customer_ids"] = serde_json::json!(["12345"]);
        let e = GoogleAdsConfig::from_value(v).unwrap_err().to_string();
        assert!(e.contains("\"12345\""), "{e}");
        let mut v = base();
        v["click_view_days"] = "91".into();
        assert!(GoogleAdsConfig::from_value(v).is_err());
        let mut v = base();
        v["developer_token"] = " ".into();
        assert_eq!(
            GoogleAdsConfig::from_value(v).unwrap().developer_token,
            None
        );
        let mut v = base();
        v["refresh_token"] = "".into();
        assert!(GoogleAdsConfig::from_value(v)
            .unwrap_err()
            .to_string()
            .contains("refresh_token"));
    }
}

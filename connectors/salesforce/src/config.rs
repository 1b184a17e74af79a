use std::collections::BTreeMap;

use braid_sdk::Error;
use serde::{Deserialize, Deserializer};

use crate::OBJECTS;
use braid_sdk::config_value::{number, opt_number};

/// Configuration of the Salesforce source.
///
/// ```yaml
/// connector: salesforce
/// config:
///   login_url: https://mycompany.my.salesforce.com
///   client_id: ${SALESFORCE_CLIENT_ID}
///   client_secret: ${SALESFORCE_CLIENT_SECRET}
///   refresh_token: ${SALESFORCE_REFRESH_TOKEN}   # leave out for the client credentials flow
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceConfig {
    /// Where the token endpoint (`/services/oauth2/token`) lives:
    /// `https://login.salesforce.com`, `https://test.salesforce.com` for a
    /// sandbox org, or the org's My Domain URL (required by the client
    /// credentials flow). API calls go to the `instance_url` the token
    /// response names.
    #[serde(default = "default_login_url")]
    pub login_url: String,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The connected app's consumer secret. Secret.
    pub client_secret: String,
    /// A refresh token of the integration user (refresh-token flow). Secret.
    /// Leave it out (or empty) for the client credentials flow, where the
    /// connected app runs as its configured user.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// `refresh_token` or `client_credentials`; by default the refresh-token
    /// flow when a refresh token is given, else client credentials.
    #[serde(default)]
    pub grant_type: Option<String>,
    /// REST API version, `v64.0` or `64.0`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// The objects `discover` describes (default: the six it knows). An
    /// integration user without read access to one must leave it out.
    #[serde(default)]
    pub objects: Option<Vec<String>>,
    /// Fields to read per object (default: every field describe lists that
    /// the REST API can return in a query). `Id`, `SystemModstamp` and
    /// `IsDeleted` are always read.
    #[serde(default)]
    pub fields: BTreeMap<String, Vec<String>>,
    /// Read with `queryAll`, so records in the recycle bin come too, with
    /// `IsDeleted = true` (Salesforce keeps them there for 15 days).
    #[serde(default = "yes", deserialize_with = "boolean")]
    pub include_deleted: bool,
    /// Records per query page (`Sforce-Query-Options: batchSize`, 200..=2000).
    #[serde(default = "default_batch", deserialize_with = "number")]
    pub batch_size: u64,
    /// Earliest `SystemModstamp` read on a first incremental run (RFC 3339).
    #[serde(default)]
    pub start_date: Option<String>,
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

impl std::fmt::Debug for SalesforceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceConfig")
            .field("login_url", &self.login_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("grant_type", &self.grant_type)
            .field("api_version", &self.api_version)
            .field("objects", &self.objects)
            .field("fields", &self.fields)
            .field("include_deleted", &self.include_deleted)
            .field("batch_size", &self.batch_size)
            .field("start_date", &self.start_date)
            .field("requests_per_second", &self.requests_per_second)
            .field("max_retries", &self.max_retries)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("stream_concurrency", &self.stream_concurrency)
            .finish()
    }
}

fn default_login_url() -> String {
    "https://login.salesforce.com".into()
}
fn default_api_version() -> String {
    "v64.0".into()
}
fn yes() -> bool {
    true
}
fn default_batch() -> u64 {
    2000
}
fn default_retries() -> u64 {
    6
}
fn default_timeout() -> u64 {
    120_000
}
fn default_concurrency() -> u64 {
    3
}

fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        B(bool),
        S(String),
    }
    match B::deserialize(d)? {
        B::B(b) => Ok(b),
        B::S(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(serde::de::Error::custom(format!(
                "expected true or false, got {s:?}"
            ))),
        },
    }
}

/// The OAuth 2.0 flow the source authenticates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// `grant_type=refresh_token`.
    RefreshToken,
    /// `grant_type=client_credentials`.
    ClientCredentials,
}

impl SalesforceConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let mut c: SalesforceConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("salesforce: {e}")))?;
        let bad = |m: String| Err(Error::Config(format!("salesforce: {m}")));
        if c.refresh_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            c.refresh_token = None;
        }
        if c.grant_type.as_deref().is_some_and(|t| t.trim().is_empty()) {
            c.grant_type = None;
        }
        if c.client_id.trim().is_empty() {
            return bad("client_id is empty".into());
        }
        if c.client_secret.trim().is_empty() {
            return bad("client_secret is empty".into());
        }
        match c.grant_type.as_deref() {
            None | Some("client_credentials") => {}
            Some("refresh_token") if c.refresh_token.is_none() => {
                return bad("grant_type is refresh_token but refresh_token is empty".into())
            }
            Some("refresh_token") => {}
            Some(other) => {
                return bad(format!(
                    "grant_type must be refresh_token or client_credentials, got {other:?}"
                ))
            }
        }
        if !(c.login_url.starts_with("http://") || c.login_url.starts_with("https://")) {
            return bad(format!(
                "login_url must start with http:// or https://, got {:?}",
                c.login_url
            ));
        }
        let v = c.api_version.trim().trim_start_matches(['v', 'V']);
        let ok = v
            .split_once('.')
            .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
        if !ok {
            return bad(format!(
                "api_version must look like v64.0, got {:?}",
                c.api_version
            ));
        }
        c.api_version = format!("v{v}");
        if !(200..=2000).contains(&c.batch_size) {
            return bad(format!(
                "batch_size must be 200..=2000 (Salesforce's query batch sizes), got {}",
                c.batch_size
            ));
        }
        if c.stream_concurrency == 0 {
            return bad("stream_concurrency must be at least 1".into());
        }
        if c.request_timeout_ms == 0 {
            return bad("request_timeout_ms must be at least 1".into());
        }
        if let Some(s) = &c.start_date {
            if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                return bad(format!(
                    "start_date must be an RFC 3339 time like 2024-01-01T00:00:00Z, got {s:?}"
                ));
            }
        }
        let known = |o: &str| OBJECTS.iter().find(|k| k.eq_ignore_ascii_case(o)).copied();
        if let Some(objects) = &mut c.objects {
            if objects.is_empty() {
                return bad("objects is empty; leave it out to read all six".into());
            }
            for o in objects.iter_mut() {
                match known(o) {
                    Some(k) => *o = k.to_owned(),
                    None => {
                        return bad(format!(
                            "objects: unknown object {o:?}; expected one of {}",
                            OBJECTS.join(", ")
                        ))
                    }
                }
            }
        }
        let mut fields = BTreeMap::new();
        for (o, list) in std::mem::take(&mut c.fields) {
            let Some(k) = known(&o) else {
                return bad(format!(
                    "fields: unknown object {o:?}; expected one of {}",
                    OBJECTS.join(", ")
                ));
            };
            fields.insert(k.to_owned(), list);
        }
        c.fields = fields;
        Ok(c)
    }

    /// The flow to authenticate with.
    pub fn flow(&self) -> Flow {
        match (self.grant_type.as_deref(), &self.refresh_token) {
            (Some("client_credentials"), _) | (None, None) => Flow::ClientCredentials,
            _ => Flow::RefreshToken,
        }
    }

    /// The objects to describe and read.
    pub fn objects(&self) -> Vec<String> {
        self.objects
            .clone()
            .unwrap_or_else(|| OBJECTS.iter().map(|o| (*o).to_owned()).collect())
    }
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Salesforce",
        "type": "object",
        "additionalProperties": false,
        "required": ["client_id", "client_secret"],
        "properties": {
            "login_url": {"type": "string", "default": "https://login.salesforce.com", "description": "Token endpoint host: login/test.salesforce.com or the My Domain URL"},
            "client_id": {"type": "string", "description": "Connected app consumer key"},
            "client_secret": {"type": "string", "secret": true, "description": "Connected app consumer secret"},
            "refresh_token": {"type": "string", "secret": true, "description": "Refresh token (refresh-token flow); leave out for client credentials"},
            "grant_type": {"enum": ["refresh_token", "client_credentials"]},
            "api_version": {"type": "string", "default": "v64.0"},
            "objects": {"type": "array", "items": {"enum": OBJECTS}},
            "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "include_deleted": {"type": ["boolean", "string"], "default": true, "description": "queryAll: recycle-bin records with IsDeleted = true"},
            "batch_size": {"type": ["integer", "string"], "default": 2000},
            "start_date": {"type": "string", "description": "Earliest SystemModstamp of a first incremental run"},
            "requests_per_second": {"type": ["integer", "string"]},
            "max_retries": {"type": ["integer", "string"], "default": 6},
            "request_timeout_ms": {"type": ["integer", "string"], "default": 120000},
            "stream_concurrency": {"type": ["integer", "string"], "default": 3}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({"client_id": "3MVG9", "client_secret": "SECRET-1"})
    }

    #[test]
    fn flows_follow_the_refresh_token_and_debug_hides_secrets() {
        let c = SalesforceConfig::from_value(base()).unwrap();
        assert_eq!(c.flow(), Flow::ClientCredentials);
        let mut v = base();
        v["refresh_token"] = "5Aep-SECRET-2".into();
        v["api_version"] = "62.0".into();
        v["batch_size"] = "500".into();
        let c = SalesforceConfig::from_value(v).unwrap();
        assert_eq!(c.flow(), Flow::RefreshToken);
        assert_eq!(c.api_version, "v62.0");
        assert_eq!(c.batch_size, 500);
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let mut v = base();
        v["refresh_token"] = "".into();
        assert_eq!(
            SalesforceConfig::from_value(v).unwrap().flow(),
            Flow::ClientCredentials
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let with = |k: &str, val: serde_json::Value| {
            let mut v = base();
            v[k] = val;
            SalesforceConfig::from_value(v).unwrap_err().to_string()
        };
        assert!(with("batch_size", 5000.into()).contains("batch_size"));
        assert!(with("api_version", "latest".into()).contains("api_version"));
        assert!(with("grant_type", "password".into()).contains("grant_type"));
        assert!(with("grant_type", "refresh_token".into()).contains("refresh_token is empty"));
        assert!(with("objects", serde_json::json!(["Widget"])).contains("Widget"));
        assert!(with("fields", serde_json::json!({"Widget": ["Id"]})).contains("Widget"));
        assert!(with("start_date", "yesterday".into()).contains("start_date"));
        assert!(with("clientid", "x".into()).contains("clientid"));
        let e = SalesforceConfig::from_value(serde_json::json!({"client_id": "x"})).unwrap_err();
        assert!(e.to_string().contains("client_secret"), "{e}");
        let mut v = base();
        v["objects"] = serde_json::json!(["contact", "Lead"]);
        assert_eq!(
            SalesforceConfig::from_value(v).unwrap().objects(),
            vec!["Contact", "Lead"]
        );
    }
}

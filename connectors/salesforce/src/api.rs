//! Talking to Salesforce: the OAuth 2.0 token, the instance URL it names,
//! one refresh on `INVALID_SESSION_ID`, and Salesforce's error bodies.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use braid_sdk::{
    AccessToken, Error, Grant, HttpClient, HttpConfig, HttpResponse, OAuth2, Result, TokenCache,
};
use serde::Deserialize;

use crate::config::{Flow, SalesforceConfig};

/// Salesforce's error body, `[{"message": …, "errorCode": …}]` (or the
/// OAuth `{"error", "error_description"}`), as `CODE: message`.
pub fn salesforce_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct E {
        #[serde(default)]
        message: Option<String>,
        #[serde(default, rename = "errorCode")]
        code: Option<String>,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        error_description: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Body {
        List(Vec<E>),
        One(E),
    }
    let e = match serde_json::from_slice::<Body>(body).ok()? {
        Body::List(l) => l.into_iter().next()?,
        Body::One(e) => e,
    };
    let code = e.code.or(e.error);
    let message = e.message.or(e.error_description);
    match (code, message) {
        (Some(c), Some(m)) => Some(format!("{c}: {}", m.trim())),
        (Some(c), None) => Some(c),
        (None, Some(m)) => Some(m.trim().to_owned()),
        (None, None) => None,
    }
}

/// The REST API of one org.
pub struct Api {
    http: HttpClient,
    tokens: TokenCache,
    /// `v64.0`.
    pub version: String,
    /// The latest `Sforce-Limit-Info: api-usage=used/max`.
    used: AtomicU64,
    max: AtomicU64,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// The API for `config`.
    pub fn new(config: &SalesforceConfig) -> Result<Arc<Self>> {
        let mut http = HttpConfig::new(config.login_url.clone());
        http.max_retries = config.max_retries as u32;
        http.requests_per_second = config
            .requests_per_second
            .and_then(|n| NonZeroU32::new(n as u32));
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.timeout = Duration::from_millis(config.request_timeout_ms);
        http.error_message = salesforce_message;
        let grant = match config.flow() {
            Flow::RefreshToken => Grant::RefreshToken {
                refresh_token: config.refresh_token.clone().unwrap_or_default(),
            },
            Flow::ClientCredentials => Grant::ClientCredentials { scope: None },
        };
        let token_url = format!(
            "{}/services/oauth2/token",
            config.login_url.trim_end_matches('/')
        );
        let oauth = OAuth2::new(
            token_url,
            config.client_id.clone(),
            config.client_secret.clone(),
            grant,
        )?;
        Ok(Arc::new(Self {
            http: HttpClient::new(http)?,
            tokens: TokenCache::new(oauth),
            version: config.api_version.clone(),
            used: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }))
    }

    /// The org's instance URL, from the current token (fetching one if needed).
    pub async fn instance_url(&self) -> Result<String> {
        let t = self.tokens.get().await?;
        instance(&t)
    }

    /// `/services/data/vXX.X/<rest>`.
    pub fn data_path(&self, rest: &str) -> String {
        format!(
            "/services/data/{}/{}",
            self.version,
            rest.trim_start_matches('/')
        )
    }

    /// API requests used and allowed per 24 hours, as Salesforce last said.
    pub fn usage(&self) -> Option<(u64, u64)> {
        let max = self.max.load(Ordering::Relaxed);
        (max > 0).then(|| (self.used.load(Ordering::Relaxed), max))
    }

    /// `GET <instance_url><path>` with `query`, as the current user. A 401
    /// `INVALID_SESSION_ID` (the session ended) fetches a new token once and
    /// sends again; `REQUEST_LIMIT_EXCEEDED` becomes a rate-limit error
    /// saying the org's API request limit is spent.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        batch_size: Option<u64>,
    ) -> Result<HttpResponse> {
        let options = batch_size.map(|n| format!("batchSize={n}"));
        let send = |token: AccessToken| {
            let options = options.clone();
            async move {
                let url = format!("{}{path}", instance(&token)?.trim_end_matches('/'));
                self.http
                    .send(|c| {
                        let mut b = c.get(&url).bearer_auth(&token.secret);
                        if !query.is_empty() {
                            b = b.query(query);
                        }
                        if let Some(o) = &options {
                            b = b.header("Sforce-Query-Options", o);
                        }
                        b
                    })
                    .await
            }
        };
        let token = self.tokens.get().await?;
        let result = match send(token.clone()).await {
            Err(Error::Auth { endpoint, message }) if session_ended(&message) => {
                tracing::info!(%endpoint, "Salesforce session expired (INVALID_SESSION_ID); fetching a new access token");
                self.tokens.invalidate(&token).await;
                let fresh = self.tokens.get().await?;
                send(fresh).await.map_err(|e| match e {
                    Error::Auth {
                        endpoint,
                        message: again,
                    } => Error::Auth {
                        endpoint,
                        message: format!("{again} (also with a newly fetched access token)"),
                    },
                    other => other,
                })
            }
            other => other,
        };
        let result = result.map_err(classify);
        if let Ok(r) = &result {
            self.note_usage(r);
        }
        result
    }

    fn note_usage(&self, r: &HttpResponse) {
        let Some(v) = r
            .headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let Some((used, max)) = v
            .split(',')
            .find_map(|kv| kv.trim().strip_prefix("api-usage="))
            .and_then(|u| u.split_once('/'))
        else {
            return;
        };
        if let (Ok(u), Ok(m)) = (used.trim().parse(), max.trim().parse()) {
            self.used.store(u, Ordering::Relaxed);
            self.max.store(m, Ordering::Relaxed);
        }
    }
}

fn instance(t: &AccessToken) -> Result<String> {
    t.extra_str("instance_url")
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .map(str::to_owned)
        .ok_or_else(|| Error::Auth {
            endpoint: "/services/oauth2/token".into(),
            message: "the token response has no instance_url".into(),
        })
}

/// Whether the SDK's auth error is Salesforce's 401 `INVALID_SESSION_ID`.
fn session_ended(message: &str) -> bool {
    message.starts_with("HTTP 401") && message.contains("INVALID_SESSION_ID")
}

/// Salesforce's 403 `REQUEST_LIMIT_EXCEEDED` is the org's 24-hour API
/// request limit, not a permission problem: a rate-limit error that says so
/// (not retried: the limit frees up over hours).
fn classify(e: Error) -> Error {
    match e {
        Error::Auth { endpoint, message } if message.contains("REQUEST_LIMIT_EXCEEDED") => {
            let vendor = message
                .strip_prefix("missing permission or scope: ")
                .unwrap_or(&message)
                .to_owned();
            Error::RateLimit {
                endpoint,
                message: format!(
                    "{vendor} — the org's API request limit (per rolling 24 hours) is used up; \
                     Setup → Company Information shows it, and it frees up as the day's calls age out"
                ),
                retry_after: None,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_read_as_code_and_message() {
        assert_eq!(
            salesforce_message(
                br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#
            )
            .as_deref(),
            Some("INVALID_SESSION_ID: Session expired or invalid")
        );
        assert_eq!(
            salesforce_message(
                br#"{"error":"invalid_grant","error_description":"expired access/refresh token"}"#
            )
            .as_deref(),
            Some("invalid_grant: expired access/refresh token")
        );
        assert_eq!(salesforce_message(b"<html>"), None);
    }

    #[test]
    fn only_a_401_invalid_session_refreshes_and_the_request_limit_is_a_rate_limit() {
        assert!(session_ended(
            "HTTP 401: INVALID_SESSION_ID: Session expired or invalid"
        ));
        assert!(!session_ended(
            "missing permission or scope: HTTP 403: REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
        ));
        let e = classify(Error::Auth {
            endpoint: "/services/data/v64.0/queryAll".into(),
            message: "missing permission or scope: HTTP 403: REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.".into(),
        });
        let text = e.to_string();
        assert!(matches!(e, Error::RateLimit { .. }), "{text}");
        assert!(
            text.contains("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."),
            "{text}"
        );
        assert!(!text.contains("missing permission"), "{text}");
    }
}

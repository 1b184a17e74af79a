//! Access tokens: OAuth 2.0 grants (client credentials, refresh token), a
//! cache that refreshes before expiry, and a send that refreshes once when
//! the vendor says the token expired.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use braid_core::{Error, Result};
use reqwest::{Client, RequestBuilder};

use crate::{HttpClient, HttpConfig, HttpError, HttpResponse};

/// An access token, when it expires, and whatever else the token endpoint
/// returned (Salesforce's `instance_url`, a rotated `refresh_token`, …).
#[derive(Clone)]
pub struct AccessToken {
    /// The token itself. Never logged.
    pub secret: String,
    /// When it stops working, if the vendor said.
    pub expires_at: Option<Instant>,
    /// The other fields of the token response.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// A string field of the token response (e.g. `instance_url`).
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(|v| v.as_str())
    }
}

/// Gets a fresh token. Implement it for a vendor's own token flow (WeChat's
/// `appid`/`secret`, Ocean Engine's refresh); [`OAuth2`] covers the standard grants.
#[async_trait]
pub trait TokenFetcher: Send + Sync {
    /// Asks the vendor for a new token.
    async fn fetch(&self) -> Result<AccessToken>;
}

/// The OAuth 2.0 grant a connector authenticates with.
#[derive(Clone)]
pub enum Grant {
    /// `grant_type=client_credentials`, with an optional scope.
    ClientCredentials {
        /// Space-separated scopes, if the vendor wants them.
        scope: Option<String>,
    },
    /// `grant_type=refresh_token`.
    RefreshToken {
        /// The long-lived refresh token. Never logged.
        refresh_token: String,
    },
}

/// A standard OAuth 2.0 token endpoint (RFC 6749 §4.4 and §6), client
/// credentials sent in the form body as Salesforce and Google accept them.
pub struct OAuth2 {
    http: HttpClient,
    token_url: String,
    client_id: String,
    client_secret: String,
    grant: Grant,
}

impl std::fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl OAuth2 {
    /// A token endpoint at `token_url` (absolute URL).
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        grant: Grant,
    ) -> Result<Self> {
        let token_url = token_url.into();
        let mut config = HttpConfig::new(token_url.clone());
        config.max_retries = 4;
        config.error_message = oauth_error_message;
        Ok(Self {
            http: HttpClient::new(config)?,
            token_url,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            grant,
        })
    }
}

/// `error_description`, else `error`, of an RFC 6749 §5.2 error body.
fn oauth_error_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = v.get("error").and_then(|e| e.as_str());
    let description = v.get("error_description").and_then(|e| e.as_str());
    match (error, description) {
        (Some(e), Some(d)) => Some(format!("{e}: {d}")),
        (Some(e), None) => Some(e.to_owned()),
        (None, Some(d)) => Some(d.to_owned()),
        (None, None) => None,
    }
}

#[async_trait]
impl TokenFetcher for OAuth2 {
    async fn fetch(&self) -> Result<AccessToken> {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
        ];
        match &self.grant {
            Grant::ClientCredentials { scope } => {
                form.push(("grant_type", "client_credentials"));
                if let Some(s) = scope {
                    form.push(("scope", s));
                }
            }
            Grant::RefreshToken { refresh_token } => {
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", refresh_token));
            }
        }
        let response = self
            .http
            .send(|c| c.post(&self.token_url).form(&form))
            .await
            .map_err(|e| match e {
                // Any 4xx from a token endpoint is a credentials problem.
                Error::Config(message) => Error::Auth {
                    endpoint: endpoint_of(&self.token_url),
                    message,
                },
                other => other,
            })?;
        parse_token_response(&response.body, &self.token_url)
    }
}

/// Parses `{"access_token": …, "expires_in": 3600, …}` (`expires_in` may be
/// a number or a string; other fields land in `extra`).
pub fn parse_token_response(body: &[u8], token_url: &str) -> Result<AccessToken> {
    let bad = |what: &str| Error::Auth {
        endpoint: endpoint_of(token_url),
        message: format!("the token response {what}"),
    };
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|_| bad("is not a JSON object"))?;
    let secret = match map.remove("access_token") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s,
        _ => return Err(bad("has no access_token")),
    };
    let expires_in = match map.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    Ok(AccessToken {
        secret,
        expires_at: expires_in.map(|s| Instant::now() + Duration::from_secs(s)),
        extra: map,
    })
}

/// The path of a URL, for errors (never the query string).
fn endpoint_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "the token endpoint".into())
}

/// A token shared by every request of a source: fetched on first use,
/// refreshed a minute before it expires or when a request was refused with it.
pub struct TokenCache {
    fetcher: Arc<dyn TokenFetcher>,
    current: tokio::sync::Mutex<Option<AccessToken>>,
    margin: Duration,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache over `fetcher`.
    pub fn new(fetcher: impl TokenFetcher + 'static) -> Self {
        Self {
            fetcher: Arc::new(fetcher),
            current: tokio::sync::Mutex::new(None),
            margin: Duration::from_secs(60),
        }
    }

    /// The current token, fetching a new one if there is none or it is about to expire.
    pub async fn get(&self) -> Result<AccessToken> {
        let mut current = self.current.lock().await;
        if let Some(t) = current.as_ref() {
            let fresh = t
                .expires_at
                .is_none_or(|at| at.saturating_duration_since(Instant::now()) > self.margin);
            if fresh {
                return Ok(t.clone());
            }
        }
        let token = self.fetcher.fetch().await?;
        tracing::debug!("fetched a new access token");
        *current = Some(token.clone());
        Ok(token)
    }

    /// Forgets `stale` (if it is still the current token), so the next
    /// [`TokenCache::get`] fetches a new one.
    pub async fn invalidate(&self, stale: &AccessToken) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| t.secret == stale.secret) {
            *current = None;
        }
    }

    /// Sends the request `build` makes with the current token. When the
    /// vendor answers with an auth error (an expired or revoked session),
    /// fetches a new token once and sends again; a second refusal is the
    /// error. The response's `attempts` count both sends: the first one's
    /// retries (say 5xx answers before the 401) and its refused attempt.
    pub async fn send<F>(&self, http: &HttpClient, build: F) -> Result<HttpResponse>
    where
        F: Fn(&Client, &AccessToken) -> RequestBuilder,
    {
        self.send_counted(http, build).await.map_err(Error::from)
    }

    /// [`TokenCache::send`], with the attempts of both sends in a failure
    /// (none when no token could be had).
    pub async fn send_counted<F>(
        &self,
        http: &HttpClient,
        build: F,
    ) -> std::result::Result<HttpResponse, HttpError>
    where
        F: Fn(&Client, &AccessToken) -> RequestBuilder,
    {
        let no_token = |error| HttpError { error, attempts: 0 };
        let token = self.get().await.map_err(no_token)?;
        match http.send_counted(|c| build(c, &token)).await {
            Err(HttpError {
                error: Error::Auth { endpoint, message },
                attempts: refused,
            }) => {
                tracing::info!(%endpoint, "access token refused; fetching a new one");
                self.invalidate(&token).await;
                let token = self.get().await.map_err(|error| HttpError {
                    error,
                    attempts: refused,
                })?;
                // Every attempt of the first send counts: run reports add up retries from `attempts`.
                match http.send_counted(|c| build(c, &token)).await {
                    Ok(mut r) => {
                        r.attempts = r.attempts.saturating_add(refused);
                        Ok(r)
                    }
                    Err(HttpError { error, attempts }) => Err(HttpError {
                        error: match error {
                            Error::Auth {
                                endpoint,
                                message: again,
                            } => Error::Auth {
                                endpoint,
                                message: format!(
                                    "{again} (also after fetching a new token; first: {message})"
                                ),
                            },
                            other => other,
                        },
                        attempts: attempts.saturating_add(refused),
                    }),
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use axum::{Form, Router};

    #[derive(Default)]
    struct Server {
        tokens_issued: AtomicU32,
        flaky_hits: AtomicU32,
        never_hits: AtomicU32,
    }

    async fn token(
        State(s): State<Arc<Server>>,
        Form(form): Form<std::collections::HashMap<String, String>>,
    ) -> axum::response::Response {
        if form.get("client_secret").map(String::as_str) != Some("s3cret")
            || form.get("grant_type").map(String::as_str) != Some("refresh_token")
            || form.get("refresh_token").map(String::as_str) != Some("r1")
        {
            return (
                StatusCode::BAD_REQUEST,
                r#"{"error":"invalid_grant","error_description":"expired access/refresh token"}"#,
            )
                .into_response();
        }
        let n = s.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
        axum::Json(serde_json::json!({
            "access_token": format!("tok{n}"), "expires_in": 3599,
            "token_type": "Bearer", "instance_url": "https://example.my.salesforce.com"
        }))
        .into_response()
    }

    /// Accepts only the latest token, as after a session expiry.
    async fn data(State(s): State<Arc<Server>>, h: HeaderMap) -> axum::response::Response {
        let want = format!(
            "Bearer tok{}",
            s.tokens_issued.load(Ordering::SeqCst).max(2)
        );
        if h.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str()) {
            "ok".into_response()
        } else {
            (
                StatusCode::UNAUTHORIZED,
                r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
            )
                .into_response()
        }
    }

    /// Two 503s first, then as `data`.
    async fn flaky(State(s): State<Arc<Server>>, h: HeaderMap) -> axum::response::Response {
        if s.flaky_hits.fetch_add(1, Ordering::SeqCst) < 2 {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"message":"try later"}"#,
            )
                .into_response();
        }
        data(State(s), h).await
    }

    /// Two 503s first, then refuses every token.
    async fn never(State(s): State<Arc<Server>>) -> axum::response::Response {
        if s.never_hits.fetch_add(1, Ordering::SeqCst) < 2 {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"message":"try later"}"#,
            )
                .into_response();
        }
        (
            StatusCode::UNAUTHORIZED,
            r#"{"message":"Session expired or invalid"}"#,
        )
            .into_response()
    }

    async fn serve() -> (String, Arc<Server>) {
        let s = Arc::new(Server::default());
        let app = Router::new()
            .route("/token", post(token))
            .route("/data", get(data))
            .route("/flaky", get(flaky))
            .route("/never", get(never))
            .with_state(s.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (url, s)
    }

    #[tokio::test]
    async fn a_refused_token_is_refreshed_once_and_the_request_sent_again() {
        let (url, server) = serve().await;
        let oauth = OAuth2::new(
            format!("{url}/token"),
            "id",
            "s3cret",
            Grant::RefreshToken {
                refresh_token: "r1".into(),
            },
        )
        .unwrap();
        let cache = TokenCache::new(oauth);
        let t = cache.get().await.unwrap();
        assert_eq!(t.secret, "tok1");
        assert_eq!(
            t.extra_str("instance_url"),
            Some("https://example.my.salesforce.com")
        );
        assert!(!format!("{t:?}").contains("tok1"));
        let http = HttpClient::new(HttpConfig::new(url.clone())).unwrap();
        let r = cache
            .send(&http, |c, t| {
                c.get(http.url("/data")).bearer_auth(&t.secret)
            })
            .await
            .unwrap();
        assert_eq!(&r.body[..], b"ok");
        assert_eq!(
            r.attempts, 2,
            "the refused attempt and the one with the new token"
        );
        assert_eq!(server.tokens_issued.load(Ordering::SeqCst), 2);
        // The refreshed token is cached: no third fetch.
        let r = cache
            .send(&http, |c, t| {
                c.get(http.url("/data")).bearer_auth(&t.secret)
            })
            .await
            .unwrap();
        assert_eq!(r.attempts, 1);
        assert_eq!(server.tokens_issued.load(Ordering::SeqCst), 2);
    }

    fn oauth(url: &str, secret: &str) -> OAuth2 {
        OAuth2::new(
            format!("{url}/token"),
            "id",
            secret,
            Grant::RefreshToken {
                refresh_token: "r1".into(),
            },
        )
        .unwrap()
    }

    fn fast(url: &str) -> HttpClient {
        let mut c = HttpConfig::new(url);
        c.min_backoff = Duration::from_millis(5);
        c.max_backoff = Duration::from_millis(20);
        c.max_retries = 3;
        HttpClient::new(c).unwrap()
    }

    #[tokio::test]
    async fn retries_before_a_refused_token_count_in_the_attempts() {
        let (url, server) = serve().await;
        let cache = TokenCache::new(oauth(&url, "s3cret"));
        let http = fast(&url);
        // 503, 503, 401 with tok1; then tok2 is accepted at once.
        let r = cache
            .send(&http, |c, t| {
                c.get(http.url("/flaky")).bearer_auth(&t.secret)
            })
            .await
            .unwrap();
        assert_eq!(&r.body[..], b"ok");
        assert_eq!(r.attempts, 4, "two 5xx, the refused attempt, the resend");
        assert_eq!(server.flaky_hits.load(Ordering::SeqCst), 4);
        assert_eq!(server.tokens_issued.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_token_refused_twice_fails_with_the_attempts_of_both_sends() {
        let (url, server) = serve().await;
        let cache = TokenCache::new(oauth(&url, "s3cret"));
        let http = fast(&url);
        // 503, 503, 401 with tok1; 401 again with tok2.
        let e = cache
            .send_counted(&http, |c, t| {
                c.get(http.url("/never?sig=QUERYSECRET"))
                    .bearer_auth(&t.secret)
            })
            .await
            .unwrap_err();
        assert_eq!(e.attempts, 4, "three attempts with tok1, one with tok2");
        assert_eq!(server.never_hits.load(Ordering::SeqCst), 4);
        assert!(matches!(e.error, Error::Auth { .. }), "{e:?}");
        let text = format!("{e} {e:?}");
        assert!(
            text.contains("also after fetching a new token") && text.contains("/never"),
            "{text}"
        );
        for secret in ["tok1", "tok2", "s3cret", "r1\"", "QUERYSECRET"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        // Through `send`, the same failure as a plain error.
        let e = cache
            .send(&http, |c, t| {
                c.get(http.url("/never")).bearer_auth(&t.secret)
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), braid_core::ErrorKind::Auth);
    }

    #[tokio::test]
    async fn a_refused_grant_is_an_auth_error_with_the_vendor_words_and_no_secret() {
        let (url, _) = serve().await;
        let oauth = OAuth2::new(
            format!("{url}/token"),
            "id",
            "wrong-secret",
            Grant::RefreshToken {
                refresh_token: "r1".into(),
            },
        )
        .unwrap();
        let e = TokenCache::new(oauth).get().await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Auth { .. }), "{text}");
        assert!(
            text.contains("invalid_grant: expired access/refresh token"),
            "{text}"
        );
        assert!(text.contains("/token"), "{text}");
        assert!(!text.contains("wrong-secret"), "{text}");
    }
}

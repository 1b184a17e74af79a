use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use braid_core::Error;
use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode};
use tokio::sync::Semaphore;

/// Extracts the vendor's human message from an error body.
pub type ErrorBodyParser = fn(&[u8]) -> Option<String>;

/// Looks inside a 2xx body for an error the vendor reports in its envelope
/// (TikTok's and Ocean Engine's `code`/`message`, WeChat's `errcode`/`errmsg`):
/// `None` when the body is a success.
pub type EnvelopeCheck = fn(&[u8]) -> Option<EnvelopeError>;

/// Classifies a non-2xx response by what its body and headers say, for
/// vendors whose status does not tell (Meta answers throttling with HTTP 400
/// and error code 17/80004/613, and says in `x-business-use-case-usage` how
/// long to wait). `None` falls back to classifying by status. A returned wait
/// is the least delay before the retry, as with `Retry-After`.
pub type ErrorClassifier =
    fn(StatusCode, &HeaderMap, &[u8]) -> Option<(EnvelopeError, Option<Duration>)>;

/// An error a vendor sent with HTTP 200, classified so the client retries it
/// (rate limits, transient failures) or fails at once (auth, bad request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Slow down; retried with backoff.
    RateLimit(String),
    /// A quota that will not refill within the run (WeChat's daily 45009):
    /// a rate-limit error, not retried.
    QuotaExhausted(String),
    /// Try again; retried with backoff.
    Transient(String),
    /// Credentials refused or expired.
    Auth(String),
    /// The request is wrong; not retried.
    Fatal(String),
}

/// How an [`HttpClient`] behaves.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base URL every path is joined to (no trailing slash needed).
    pub base_url: String,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Retries after the first attempt for transient failures and rate limits.
    pub max_retries: u32,
    /// First backoff delay.
    pub min_backoff: Duration,
    /// Largest backoff delay.
    pub max_backoff: Duration,
    /// Client-side rate limit, requests per second.
    pub requests_per_second: Option<NonZeroU32>,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Pulls the vendor's message out of an error body.
    pub error_message: ErrorBodyParser,
    /// Checks 2xx bodies for errors sent with HTTP 200, if the vendor does that.
    pub envelope: Option<EnvelopeCheck>,
    /// Classifies non-2xx responses by their body, if the status does not tell.
    pub classify: Option<ErrorClassifier>,
}

impl HttpConfig {
    /// Defaults for `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: Duration::from_secs(60),
            max_retries: 6,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(60),
            requests_per_second: None,
            max_concurrency: 4,
            user_agent: concat!("braid/", env!("CARGO_PKG_VERSION")).into(),
            error_message: message_field,
            envelope: None,
            classify: None,
        }
    }
}

/// The default body parser: a top-level `"message"` string.
fn message_field(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"message\"")?;
    let rest = &text[start + 9..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// Request counters of one client.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Attempts sent.
    pub requests: AtomicU64,
    /// Attempts that were retries.
    pub retries: AtomicU64,
    /// Responses that were 429s.
    pub rate_limited: AtomicU64,
}

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status (always 2xx: others become errors).
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
}

/// A request that failed for good, with the attempts it took: the failing
/// side of [`HttpResponse::attempts`], so a caller that sends again (as
/// [`crate::TokenCache::send`] does after a refused token) can report every
/// retry. Its text is the error's, which names the endpoint path only (never
/// the query string or headers, which may hold secrets).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct HttpError {
    /// Why the last attempt failed.
    pub error: Error,
    /// Attempts sent (1 = failed without a retry).
    pub attempts: u32,
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        e.error
    }
}

/// An HTTP client for connectors: retries with exponential backoff and
/// jitter (honouring `Retry-After`), a client-side rate limit, bounded
/// concurrency, and typed errors that name the endpoint path (never the
/// query string or headers, which may hold secrets).
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: HttpConfig,
    limiter: Option<DefaultDirectRateLimiter>,
    slots: Semaphore,
    stats: HttpStats,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("base_url", &self.inner.config.base_url)
            .finish_non_exhaustive()
    }
}

/// One failed attempt.
struct Attempt {
    error: Error,
    retry_after: Option<Duration>,
    /// False when retrying cannot help even though the kind is retryable.
    retry: bool,
}

impl HttpClient {
    /// Builds a client.
    pub fn new(config: HttpConfig) -> Result<Self, Error> {
        let client = Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(config.user_agent.clone())
            .pool_max_idle_per_host(config.max_concurrency.max(1))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let limiter = config
            .requests_per_second
            .map(|n| RateLimiter::direct(Quota::per_second(n)));
        Ok(Self {
            inner: Arc::new(Inner {
                slots: Semaphore::new(config.max_concurrency.max(1)),
                client,
                limiter,
                config,
                stats: HttpStats::default(),
            }),
        })
    }

    /// The base URL joined with `path`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.inner.config.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    /// The client's counters.
    pub fn stats(&self) -> &HttpStats {
        &self.inner.stats
    }

    /// Sends the request `build` makes (called once per attempt), retrying
    /// transient failures and rate limits. Non-2xx responses become typed errors.
    pub async fn send<F>(&self, build: F) -> Result<HttpResponse, Error>
    where
        F: Fn(&Client) -> RequestBuilder,
    {
        self.send_counted(build).await.map_err(Error::from)
    }

    /// [`HttpClient::send`], with the attempts a failure took in its error.
    pub async fn send_counted<F>(&self, build: F) -> Result<HttpResponse, HttpError>
    where
        F: Fn(&Client) -> RequestBuilder,
    {
        let cfg = &self.inner.config;
        let attempts = AtomicU64::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(cfg.min_backoff)
            .with_max_delay(cfg.max_backoff)
            .with_max_times(cfg.max_retries as usize)
            .with_jitter();
        let result = (|| async {
            let n = attempts.fetch_add(1, Ordering::Relaxed);
            if n > 0 {
                self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            self.attempt(&build).await
        })
        .retry(backoff)
        .when(|a: &Attempt| a.retry && a.error.is_retryable())
        .adjust(|a: &Attempt, dur| {
            dur.map(|d| {
                a.retry_after
                    .map_or(d, |r| r.max(d.min(r + Duration::from_millis(250))))
            })
        })
        .notify(|a: &Attempt, dur| {
            let wait_ms = dur.as_millis() as u64;
            metrics::counter!("braid_http_retries_total").increment(1);
            if a.error.kind() == braid_core::ErrorKind::RateLimit {
                metrics::counter!("braid_rate_limit_waits_total").increment(1);
                metrics::histogram!("braid_rate_limit_wait_seconds").record(dur.as_secs_f64());
                tracing::info!(error = %a.error, wait_ms, "rate limited; waiting");
            } else {
                tracing::warn!(error = %a.error, wait_ms, "retrying");
            }
        })
        .await;
        let n = attempts.load(Ordering::Relaxed) as u32;
        match result {
            Ok(mut r) => {
                r.attempts = n;
                Ok(r)
            }
            Err(a) => Err(HttpError {
                error: a.error,
                attempts: n,
            }),
        }
    }

    async fn attempt<F>(&self, build: &F) -> Result<HttpResponse, Attempt>
    where
        F: Fn(&Client) -> RequestBuilder,
    {
        let request = build(&self.inner.client).build().map_err(|e| Attempt {
            error: Error::Config(format!("invalid request: {}", e.without_url())),
            retry_after: None,
            retry: true,
        })?;
        let endpoint = request.url().path().to_owned();
        let method = request.method().clone();
        if let Some(l) = &self.inner.limiter {
            l.until_ready().await;
        }
        let _slot = self.inner.slots.acquire().await.map_err(|_| Attempt {
            error: Error::Internal("HTTP client closed".into()),
            retry_after: None,
            retry: true,
        })?;
        self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        let transient = |message: String| Attempt {
            error: Error::Transient {
                endpoint: endpoint.clone(),
                message,
            },
            retry_after: None,
            retry: true,
        };
        let span = tracing::debug_span!("http", %method, path = %endpoint);
        let response = tracing::Instrument::instrument(self.inner.client.execute(request), span)
            .await
            .map_err(|e| transient(describe(&e)))?;
        let status = response.status();
        metrics::counter!("braid_http_requests_total", "status" => status.as_u16().to_string())
            .increment(1);
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transient(format!("reading the body: {}", describe(&e))))?;
        tracing::debug!(%method, path = %endpoint, status = status.as_u16(), bytes = body.len(), "http");
        if status.is_success() {
            if let Some(verdict) = self.inner.config.envelope.and_then(|check| check(&body)) {
                let retry = !matches!(verdict, EnvelopeError::QuotaExhausted(_));
                let error = match verdict {
                    EnvelopeError::RateLimit(message) | EnvelopeError::QuotaExhausted(message) => {
                        self.inner
                            .stats
                            .rate_limited
                            .fetch_add(1, Ordering::Relaxed);
                        Error::RateLimit {
                            endpoint,
                            message,
                            retry_after: None,
                        }
                    }
                    EnvelopeError::Transient(message) => Error::Transient { endpoint, message },
                    EnvelopeError::Auth(message) => Error::Auth { endpoint, message },
                    EnvelopeError::Fatal(message) => {
                        Error::Config(format!("{endpoint} refused the request: {message}"))
                    }
                };
                return Err(Attempt {
                    error,
                    retry_after: None,
                    retry,
                });
            }
            return Ok(HttpResponse {
                status,
                headers,
                body,
                attempts: 1,
            });
        }
        let vendor = (self.inner.config.error_message)(&body).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.chars().take(300).collect();
            if text.trim().is_empty() {
                status.to_string()
            } else {
                text
            }
        });
        let message = format!("HTTP {}: {vendor}", status.as_u16());
        if let Some((verdict, wait)) = self
            .inner
            .config
            .classify
            .and_then(|classify| classify(status, &headers, &body))
        {
            let retry_after = wait.or_else(|| retry_after(&headers));
            let retry = !matches!(verdict, EnvelopeError::QuotaExhausted(_));
            let error = match verdict {
                EnvelopeError::RateLimit(m) | EnvelopeError::QuotaExhausted(m) => {
                    self.inner
                        .stats
                        .rate_limited
                        .fetch_add(1, Ordering::Relaxed);
                    Error::RateLimit {
                        endpoint,
                        message: format!("HTTP {}: {m}", status.as_u16()),
                        retry_after,
                    }
                }
                EnvelopeError::Transient(m) => Error::Transient {
                    endpoint,
                    message: format!("HTTP {}: {m}", status.as_u16()),
                },
                EnvelopeError::Auth(m) => Error::Auth {
                    endpoint,
                    message: format!("HTTP {}: {m}", status.as_u16()),
                },
                EnvelopeError::Fatal(m) => Error::Config(format!(
                    "{endpoint} refused the request: HTTP {}: {m}",
                    status.as_u16()
                )),
            };
            return Err(Attempt {
                error,
                retry_after,
                retry,
            });
        }
        let retry_after = retry_after(&headers);
        let error = match status.as_u16() {
            401 => Error::Auth { endpoint, message },
            403 => Error::Auth {
                endpoint,
                message: format!("missing permission or scope: {message}"),
            },
            429 => {
                self.inner
                    .stats
                    .rate_limited
                    .fetch_add(1, Ordering::Relaxed);
                Error::RateLimit {
                    endpoint,
                    message,
                    retry_after,
                }
            }
            408 | 500..=599 => Error::Transient { endpoint, message },
            _ => Error::Config(format!("{endpoint} refused the request: {message}")),
        };
        Err(Attempt {
            error,
            retry_after,
            retry: true,
        })
    }
}

/// A reqwest error without its URL (which may carry secrets in the query).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut msg = format!("{kind}: {}", ErrorChain(e));
    if let Some(url) = e.url() {
        if let Some(q) = url.query() {
            msg = msg.replace(q, "…");
        }
    }
    msg
}

struct ErrorChain<'a>(&'a reqwest::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut source = std::error::Error::source(self.0);
        let mut first = true;
        while let Some(s) = source {
            if !first {
                f.write_str(": ")?;
            }
            write!(f, "{s}")?;
            first = false;
            source = s.source();
        }
        if first {
            write!(f, "{}", self.0)?;
        }
        Ok(())
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite())
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode as S;
    use axum::response::IntoResponse;
    use std::sync::atomic::AtomicUsize;

    /// Serves `script[i]` for the i-th request, then 200s.
    async fn server(
        script: Vec<(u16, &'static str, Option<&'static str>)>,
    ) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = axum::Router::new().fallback(move || {
            let h = h.clone();
            let script = script.clone();
            async move {
                let i = h.fetch_add(1, Ordering::SeqCst);
                match script.get(i) {
                    Some((code, body, retry)) => {
                        let mut r = (S::from_u16(*code).unwrap(), *body).into_response();
                        if let Some(ra) = retry {
                            r.headers_mut().insert("retry-after", ra.parse().unwrap());
                        }
                        r
                    }
                    None => (S::OK, r#"{"ok":true}"#).into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, hits)
    }

    fn fast(url: &str) -> HttpConfig {
        let mut c = HttpConfig::new(url);
        c.min_backoff = Duration::from_millis(5);
        c.max_backoff = Duration::from_millis(20);
        c.max_retries = 3;
        c
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_success() {
        let (url, hits) = server(vec![(500, "boom", None), (502, "bad gateway", None)]).await;
        let c = HttpClient::new(fast(&url)).unwrap();
        let r = c.send(|h| h.get(c.url("/x"))).await.unwrap();
        assert_eq!(r.body.as_ref(), br#"{"ok":true}"#);
        assert_eq!(r.attempts, 3);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        assert_eq!(c.stats().retries.load(Ordering::Relaxed), 2);
    }

    fn errcode(body: &[u8]) -> Option<EnvelopeError> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        match v.get("errcode")?.as_i64()? {
            0 => None,
            45011 => Some(EnvelopeError::RateLimit("minute quota".into())),
            45009 => Some(EnvelopeError::QuotaExhausted("daily quota".into())),
            _ => Some(EnvelopeError::Fatal("bad".into())),
        }
    }

    #[tokio::test]
    async fn envelope_rate_limits_are_retried_but_exhausted_quotas_are_not() {
        let (url, hits) = server(vec![(200, r#"{"errcode":45011}"#, None)]).await;
        let mut cfg = fast(&url);
        cfg.envelope = Some(errcode);
        let c = HttpClient::new(cfg.clone()).unwrap();
        let r = c.send(|h| h.get(c.url("/x"))).await.unwrap();
        assert_eq!(r.attempts, 2);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        let (url, hits) = server(vec![(200, r#"{"errcode":45009}"#, None)]).await;
        cfg.base_url = url;
        let c = HttpClient::new(cfg).unwrap();
        let e = c.send(|h| h.get(c.url("/x"))).await.unwrap_err();
        assert!(matches!(e, Error::RateLimit { .. }), "{e:?}");
        assert!(e.to_string().contains("daily quota"), "{e}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "not retried");
    }

    #[tokio::test]
    async fn retry_after_is_waited_at_least() {
        let (url, _) = server(vec![(429, r#"{"message":"slow down"}"#, Some("1"))]).await;
        let c = HttpClient::new(fast(&url)).unwrap();
        let t = std::time::Instant::now();
        let r = c.send(|h| h.get(c.url("/x"))).await.unwrap();
        assert_eq!(r.attempts, 2);
        assert!(
            t.elapsed() >= Duration::from_secs(1),
            "waited {:?}",
            t.elapsed()
        );
        assert_eq!(c.stats().rate_limited.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn unauthorized_is_an_auth_error_with_the_vendor_message_and_no_secret() {
        let (url, hits) = server(vec![(
            401,
            r#"{"status":"error","message":"Authentication credentials not found."}"#,
            None,
        )])
        .await;
        let c = HttpClient::new(fast(&url)).unwrap();
        let e = c
            .send(|h| {
                h.get(c.url("/crm/v3/objects/contacts?hapikey=SECRET123"))
                    .bearer_auth("TOKEN456")
            })
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Auth { .. }), "{e:?}");
        assert!(
            text.contains("Authentication credentials not found."),
            "{text}"
        );
        assert!(text.contains("/crm/v3/objects/contacts"), "{text}");
        assert!(
            !text.contains("SECRET123") && !text.contains("TOKEN456"),
            "{text}"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "auth errors are not retried"
        );
    }

    #[tokio::test]
    async fn exhausted_retries_are_transient_errors_naming_the_path_only() {
        let (url, hits) = server(vec![(503, "down", None); 10]).await;
        let c = HttpClient::new(fast(&url)).unwrap();
        let e = c
            .send(|h| h.get(c.url("/v1/things?api_key=SECRET")))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Transient { .. }), "{e:?}");
        assert!(!e.to_string().contains("SECRET"), "{e}");
        assert_eq!(hits.load(Ordering::SeqCst), 4, "1 attempt + 3 retries");
    }

    #[tokio::test]
    async fn a_failure_carries_the_attempts_it_took() {
        // Two 5xx retried, then a 401 that ends the send.
        let (url, hits) = server(vec![
            (503, "down", None),
            (500, "boom", None),
            (401, r#"{"message":"expired"}"#, None),
        ])
        .await;
        let c = HttpClient::new(fast(&url)).unwrap();
        let e = c
            .send_counted(|h| h.get(c.url("/x?key=SECRET")).bearer_auth("TOKEN456"))
            .await
            .unwrap_err();
        assert!(matches!(e.error, Error::Auth { .. }), "{e:?}");
        assert_eq!(e.attempts, 3);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        assert_eq!(c.stats().retries.load(Ordering::Relaxed), 2);
        let text = format!("{e} {e:?}");
        assert!(text.contains("expired") && text.contains("/x"), "{text}");
        assert!(
            !text.contains("SECRET") && !text.contains("TOKEN456"),
            "{text}"
        );
        // Retries exhausted: 1 attempt + max_retries.
        let (url, _) = server(vec![(503, "down", None); 10]).await;
        let c = HttpClient::new(fast(&url)).unwrap();
        let e = c.send_counted(|h| h.get(c.url("/x"))).await.unwrap_err();
        assert!(matches!(e.error, Error::Transient { .. }), "{e:?}");
        assert_eq!(e.attempts, 4);
        // A failure at the first attempt is one attempt.
        let (url, _) = server(vec![(404, "no such thing", None)]).await;
        let c = HttpClient::new(fast(&url)).unwrap();
        let e = c.send_counted(|h| h.get(c.url("/x"))).await.unwrap_err();
        assert_eq!(e.attempts, 1);
        assert_eq!(Error::from(e).kind(), braid_core::ErrorKind::Config);
    }

    #[tokio::test]
    async fn unreachable_host_is_transient_without_the_query() {
        let mut cfg = fast("http://127.0.0.1:9");
        cfg.max_retries = 1;
        let c = HttpClient::new(cfg).unwrap();
        let e = c
            .send(|h| h.get(c.url("/x?token=SECRET")))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Transient { .. }), "{e:?}");
        assert!(e.to_string().contains("cannot connect"), "{e}");
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }

    fn throttled_400(
        status: StatusCode,
        _h: &HeaderMap,
        body: &[u8],
    ) -> Option<(EnvelopeError, Option<Duration>)> {
        (status == StatusCode::BAD_REQUEST && body.starts_with(b"throttled")).then(|| {
            (
                EnvelopeError::RateLimit("throttled".into()),
                Some(Duration::from_millis(30)),
            )
        })
    }

    #[tokio::test]
    async fn a_classifier_turns_a_vendor_400_into_a_retried_rate_limit() {
        let (url, hits) = server(vec![(400, "throttled", None), (400, "throttled", None)]).await;
        let mut cfg = fast(&url);
        cfg.classify = Some(throttled_400);
        let c = HttpClient::new(cfg).unwrap();
        let r = c.send(|h| h.get(c.url("/x"))).await.unwrap();
        assert_eq!(r.attempts, 3);
        assert_eq!(c.stats().rate_limited.load(Ordering::Relaxed), 2);
        // Other 400s still fail at once.
        let (url, hits2) = server(vec![(400, "bad field", None)]).await;
        let mut cfg = fast(&url);
        cfg.classify = Some(throttled_400);
        let c = HttpClient::new(cfg).unwrap();
        let e = c.send(|h| h.get(c.url("/x"))).await.unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert_eq!(
            (hits.load(Ordering::SeqCst), hits2.load(Ordering::SeqCst)),
            (3, 1)
        );
    }

    #[test]
    fn vendor_messages_and_retry_after_parse() {
        assert_eq!(
            message_field(br#"{"status":"error","message":"a \"b\""}"#).as_deref(),
            Some("a \"b\"")
        );
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    }
}

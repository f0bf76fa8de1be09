//! The retry and concurrency policy both API clients share.
//!
//! - 429 is retried for every method: the server refused the request without acting on it.
//!   `Retry-After` (seconds or an HTTP date) is honoured up to a cap.
//! - 502, 503, 504, a 500 whose body mentions a timeout, and timeouts are retried only for
//!   idempotent requests (GET, PUT, PATCH, DELETE). A POST that may have been applied is
//!   never retried blind: it surfaces, and the caller looks the record up before trying again.
//! - A connection that could not be opened is retried for every method (nothing was sent).
//! - Delays grow exponentially with jitter (the `backon` crate), and the number of
//!   attempts is capped. A semaphore caps requests in flight per API; it is held only while
//!   a request is on the wire, never while sleeping.
//! - A transport may have a [`crate::request_budget::Budget`] shared with every other
//!   instance (ConnectWise's): each attempt takes one request from it, and a 429 holds
//!   every caller back until its `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::ExponentialBuilder;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;

use crate::settings::HttpSettings;

/// How many times and how long to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub max_retry_after: Duration,
    /// How much of a server's `Retry-After` is waited: 1 in production; a simulation
    /// that runs a month in minutes scales it down with its clock.
    pub retry_after_scale: f64,
}

impl RetryPolicy {
    pub fn from_settings(s: &HttpSettings) -> Self {
        Self {
            max_attempts: s.max_attempts.max(1),
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: s.max_retry_after,
            retry_after_scale: 1.0,
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
    }
}

/// A response as received: status, headers, body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Attempts made, the first included.
    pub attempts: u32,
}

/// A request that got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Timed out after being sent: it may have been applied.
    #[error("timed out after {attempts} attempt(s)")]
    Timeout { attempts: u32 },
    /// No answer (connection refused, reset, DNS...).
    #[error("no answer after {attempts} attempt(s): {reason}")]
    Unreachable { attempts: u32, reason: String },
}

/// The errors of both API clients that do not depend on the vendor's error body: one
/// mapping from a request that got no answer, or an answer that is not what the API
/// documents, to each client's error type.
pub trait ClientError: Sized {
    fn timeout(method: String, path: String, attempts: u32) -> Self;
    fn unreachable(method: String, path: String, attempts: u32, reason: String) -> Self;
    fn decode(method: String, path: String, reason: String) -> Self;

    /// The error of `method path` that got no HTTP answer.
    fn from_transport(method: &reqwest::Method, path: &str, e: TransportError) -> Self {
        match e {
            TransportError::Timeout { attempts } => {
                Self::timeout(method.to_string(), path.to_owned(), attempts)
            }
            TransportError::Unreachable { attempts, reason } => {
                Self::unreachable(method.to_string(), path.to_owned(), attempts, reason)
            }
        }
    }
}

/// Implements [`ClientError`] for an error enum with the variants `Timeout`, `Unreachable`
/// and `Decode` (both clients' errors have them, with the same fields).
macro_rules! client_error {
    ($error:ty) => {
        impl $crate::http::ClientError for $error {
            fn timeout(method: String, path: String, attempts: u32) -> Self {
                Self::Timeout {
                    method,
                    path,
                    attempts,
                }
            }
            fn unreachable(method: String, path: String, attempts: u32, reason: String) -> Self {
                Self::Unreachable {
                    method,
                    path,
                    attempts,
                    reason,
                }
            }
            fn decode(method: String, path: String, reason: String) -> Self {
                Self::Decode {
                    method,
                    path,
                    reason,
                }
            }
        }
    };
}
pub(crate) use client_error;

/// The JSON body of a success answer to `method path`, or the error naming the field that
/// is not what the API documents ([`decode_json`]).
pub fn decode_answer<T: serde::de::DeserializeOwned, E: ClientError>(
    method: &reqwest::Method,
    path: &str,
    body: &[u8],
) -> Result<T, E> {
    decode_json(body).map_err(|reason| E::decode(method.to_string(), path.to_owned(), reason))
}

/// One HTTP API: its client, policy and concurrency cap.
#[derive(Debug, Clone)]
pub struct Transport {
    pub client: reqwest::Client,
    pub policy: RetryPolicy,
    limiter: Arc<Semaphore>,
    budget: Option<Arc<dyn crate::request_budget::Budget>>,
}

/// Builds the shared `reqwest` client (rustls, timeouts, user agent). Build it once per cold start.
pub fn build_client(s: &HttpSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(s.timeout)
        .connect_timeout(s.connect_timeout)
        .user_agent(concat!(
            "acronis-connectwise/",
            env!("CARGO_PKG_VERSION"),
            " (+aws-lambda)"
        ))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::PATCH | Method::DELETE | Method::OPTIONS
    )
}

/// What to do after one attempt.
#[derive(Debug, PartialEq)]
enum Next {
    Done,
    Retry(Option<Duration>),
}

fn decide_status(method: &Method, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Next {
    match status.as_u16() {
        429 => Next::Retry(retry_after(headers)),
        502..=504 if idempotent(method) => Next::Retry(retry_after(headers)),
        500 if idempotent(method) && mentions_timeout(body) => Next::Retry(None),
        _ => Next::Done,
    }
}

fn mentions_timeout(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("timeout")
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(raw).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

impl Transport {
    pub fn new(client: reqwest::Client, policy: RetryPolicy, concurrency: usize) -> Self {
        Self {
            client,
            policy,
            limiter: Arc::new(Semaphore::new(concurrency.max(1))),
            budget: None,
        }
    }

    /// Every attempt first takes one request from `budget`.
    pub fn with_budget(mut self, budget: Arc<dyn crate::request_budget::Budget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The request every API client sends: `headers` (its credentials among them), the
    /// `query` when there is one and a JSON `body` when there is one. One builder, so that
    /// the clients cannot come to encode a request differently.
    pub fn request(
        &self,
        method: &Method,
        url: &url::Url,
        headers: HeaderMap,
        query: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .request(method.clone(), url.clone())
            .headers(headers);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_vec());
        }
        req
    }

    /// Sends the request `build` makes, retrying per the policy (backon's `Retryable`, a
    /// server's `Retry-After` honoured through its `adjust`). Any HTTP answer that is not
    /// retried (or the last one) is returned as is; the caller maps statuses to its errors.
    pub async fn send(
        &self,
        method: &Method,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<RawResponse, TransportError> {
        use backon::Retryable as _;
        let attempts = AtomicU32::new(0);
        let attempt = || async {
            let attempts = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            self.attempt(method, &build, attempts).await
        };
        let (min_delay, max_retry_after, scale) = (
            self.policy.min_delay,
            self.policy.max_retry_after,
            self.policy.retry_after_scale,
        );
        let outcome = attempt
            .retry(self.policy.backoff())
            .sleep(tokio::time::sleep)
            .when(|f: &Attempt| matches!(f.next, Next::Retry(_)))
            .adjust(move |f, backoff| match (&f.next, backoff) {
                (_, None) => None,
                // The server said when: wait that long (plus the jittered backoff's small
                // share), unless that is longer than we wait for anyone.
                (Next::Retry(Some(d)), _) if *d > max_retry_after => None,
                (Next::Retry(Some(d)), Some(b)) => Some(d.mul_f64(scale).max(b.min(min_delay))),
                (_, b) => b,
            })
            .notify(|f, delay| {
                tracing::debug!(
                    attempt = f.attempts,
                    delay_ms = delay.as_millis() as u64,
                    "retrying request"
                );
            })
            .await;
        match outcome {
            Ok(response) => Ok(response),
            Err(last) => last.result,
        }
    }

    /// One attempt: an answer that is final is `Ok`; anything else is an [`Attempt`] saying
    /// whether it may be retried.
    async fn attempt(
        &self,
        method: &Method,
        build: &impl Fn() -> reqwest::RequestBuilder,
        attempts: u32,
    ) -> Result<RawResponse, Attempt> {
        let outcome = {
            let _permit = self
                .limiter
                .acquire()
                .await
                .expect("the semaphore is never closed");
            if let Some(Err(reason)) = match &self.budget {
                Some(budget) => Some(budget.take().await),
                None => None,
            } {
                // Nothing was sent: as a connection that could not be opened.
                return Err(Attempt {
                    next: Next::Retry(None),
                    attempts,
                    result: Err(TransportError::Unreachable { attempts, reason }),
                });
            }
            match build().send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    resp.bytes().await.map(|b| (status, headers, b.to_vec()))
                }
                Err(e) => Err(e),
            }
        };
        let if_idempotent = || {
            if idempotent(method) {
                Next::Retry(None)
            } else {
                Next::Done
            }
        };
        let (next, result) = match outcome {
            Ok((status, headers, body)) => {
                let next = decide_status(method, status, &headers, &body);
                if let (Some(budget), 429) = (&self.budget, status.as_u16()) {
                    let wait = retry_after(&headers).unwrap_or(self.policy.min_delay);
                    budget
                        .throttled(wait.mul_f64(self.policy.retry_after_scale))
                        .await;
                }
                let response = RawResponse {
                    status,
                    headers,
                    body,
                    attempts,
                };
                if next == Next::Done {
                    return Ok(response);
                }
                (next, Ok(response))
            }
            Err(e) if e.is_connect() => (
                Next::Retry(None),
                Err(TransportError::Unreachable {
                    attempts,
                    reason: short_reason(e),
                }),
            ),
            Err(e) if e.is_timeout() => {
                (if_idempotent(), Err(TransportError::Timeout { attempts }))
            }
            Err(e) => (
                if_idempotent(),
                Err(TransportError::Unreachable {
                    attempts,
                    reason: short_reason(e),
                }),
            ),
        };
        Err(Attempt {
            next,
            attempts,
            result,
        })
    }
}

/// An attempt that was not a final answer: what it gave, and whether it may be retried.
#[derive(Debug)]
struct Attempt {
    next: Next,
    attempts: u32,
    result: Result<RawResponse, TransportError>,
}

/// The error chain without URLs (they can carry query strings we do not want in logs).
fn short_reason(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

/// Decodes a vendor's JSON answer; a failure names the field where it went wrong
/// (`[0].quantity: invalid type: string "5", expected f64`), so a run record says which
/// field of which answer could not be read. serde's message can quote values from the
/// body, which are vendor data, never our keys.
pub fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path.is_empty() || path == "." {
            e.into_inner().to_string()
        } else {
            format!("`{path}`: {}", e.into_inner())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    fn headers(retry: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(r) = retry {
            h.insert(RETRY_AFTER, HeaderValue::from_str(r).unwrap());
        }
        h
    }

    #[test]
    fn retries_429_for_every_method_with_retry_after() {
        for m in [Method::GET, Method::POST, Method::PATCH] {
            assert_eq!(
                decide_status(&m, StatusCode::TOO_MANY_REQUESTS, &headers(Some("2")), b""),
                Next::Retry(Some(Duration::from_secs(2)))
            );
        }
    }

    #[test]
    fn never_retries_a_post_on_5xx() {
        for s in [502, 503, 504] {
            let s = StatusCode::from_u16(s).unwrap();
            assert_eq!(
                decide_status(&Method::POST, s, &headers(None), b""),
                Next::Done
            );
            assert_eq!(
                decide_status(&Method::GET, s, &headers(None), b""),
                Next::Retry(None)
            );
        }
    }

    #[test]
    fn retries_a_500_only_when_it_mentions_a_timeout() {
        assert_eq!(
            decide_status(
                &Method::GET,
                StatusCode::INTERNAL_SERVER_ERROR,
                &headers(None),
                b"{\"message\":\"SQL Timeout expired\"}"
            ),
            Next::Retry(None)
        );
        assert_eq!(
            decide_status(
                &Method::GET,
                StatusCode::INTERNAL_SERVER_ERROR,
                &headers(None),
                b"boom"
            ),
            Next::Done
        );
        assert_eq!(
            decide_status(&Method::GET, StatusCode::BAD_REQUEST, &headers(None), b""),
            Next::Done
        );
    }

    #[test]
    fn parses_retry_after_as_date() {
        let future = std::time::SystemTime::now() + Duration::from_secs(30);
        let h = headers(Some(&httpdate::fmt_http_date(future)));
        let d = retry_after(&h).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
        assert_eq!(retry_after(&headers(Some("soon"))), None);
    }

    #[test]
    fn backoff_is_capped_in_attempts() {
        let policy = RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
            retry_after_scale: 1.0,
        };
        let delays: Vec<_> = backon::BackoffBuilder::build(policy.backoff()).collect();
        assert_eq!(delays.len(), 3);
        assert!(
            delays.iter().all(|d| *d <= Duration::from_millis(100)),
            "{delays:?}"
        );
    }
}

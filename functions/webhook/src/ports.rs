//! What the core needs from the outside, as traits, with the production adapters:
//! [`Dedupe`] for [`Store`], [`Publish`] for [`EventBus`], [`KeySource`] for [`HttpKeySource`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::header::HeaderValue;
use shared::bus::{Event, EventBus};
use shared::store::{CallbackSeen, KeyFetch, Store};
use tokio::sync::OnceCell;
use url::Url;

use crate::signature::SigningKey;

/// How long fetching a signing key may take.
pub const KEY_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest key response read.
const MAX_KEY_RESPONSE_BYTES: usize = 16 * 1024;

/// A port failed; the message is safe to log (no key, no body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// Why a signing key was not had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The ConnectWise host answered 4xx (not 408/429) for the key id: no such key, so the
    /// callback is not ConnectWise's. Refused with 401; a retry would fail the same way.
    #[error("signing key fetch: refused with HTTP {0}")]
    Refused(u16),
    /// Not fetched now (5xx, 429, timeout, a bad answer): worth a retry.
    #[error(transparent)]
    Unavailable(#[from] PortError),
}

/// Remembers message ids.
pub trait Dedupe: Send + Sync {
    /// True the first time `id` is seen in `scope` (within `ttl`), false after; `seen` says
    /// what the callback was (kept with the record, for `acw doctor`).
    fn remember_once(
        &self,
        scope: &str,
        id: &str,
        ttl: Duration,
        seen: &CallbackSeen,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;

    /// Forgets `id`, so that a retry of work that failed is not taken for a duplicate.
    fn forget(&self, scope: &str, id: &str) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Puts events on the bus.
pub trait Publish: Send + Sync {
    /// Ok only when the event is on the bus.
    fn publish(&self, event: Event) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Fetches signing keys (the core caches them).
pub trait KeySource: Send + Sync {
    /// The key served at `key_url` (already checked to be on the ConnectWise host), and
    /// whether it took credentials.
    fn fetch(
        &self,
        key_url: &Url,
    ) -> impl Future<Output = Result<(SigningKey, KeyFetch), KeyError>> + Send;
}

impl Dedupe for Store {
    async fn remember_once(
        &self,
        scope: &str,
        id: &str,
        ttl: Duration,
        seen: &CallbackSeen,
    ) -> Result<bool, PortError> {
        Store::remember_callback(self, scope, id, ttl, seen)
            .await
            .map_err(|e| PortError(e.to_string()))
    }

    async fn forget(&self, scope: &str, id: &str) -> Result<(), PortError> {
        Store::forget(self, scope, id)
            .await
            .map_err(|e| PortError(e.to_string()))
    }
}

impl Publish for EventBus {
    async fn publish(&self, event: Event) -> Result<(), PortError> {
        let report = EventBus::publish(self, std::slice::from_ref(&event)).await;
        match report.failed.first() {
            None if report.published == 1 => Ok(()),
            None => Err(PortError(format!(
                "{} event(s) published instead of 1",
                report.published
            ))),
            Some(f) => Err(PortError(format!("{}: {}", f.code, f.message))),
        }
    }
}

/// The API member's `Authorization` header, for a host that serves signing keys only to it:
/// read from the credentials secret on first need, then kept.
#[derive(Debug)]
pub enum MemberAuth {
    /// Read from Secrets Manager when first needed.
    Secret {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        header: OnceCell<HeaderValue>,
    },
    /// A fixed header (tests).
    Fixed(HeaderValue),
}

impl MemberAuth {
    /// From the credentials secret `secret_id`, read on first need.
    pub fn secret(client: aws_sdk_secretsmanager::Client, secret_id: String) -> Self {
        Self::Secret {
            client,
            secret_id,
            header: OnceCell::new(),
        }
    }

    async fn header(&self) -> Result<HeaderValue, PortError> {
        match self {
            Self::Fixed(h) => Ok(h.clone()),
            Self::Secret {
                client,
                secret_id,
                header,
            } => header
                .get_or_try_init(|| async {
                    let creds = shared::secrets::Credentials::load(client, secret_id)
                        .await
                        .map_err(|e| PortError(e.to_string()))?;
                    shared::connectwise::client::basic_auth(&creds.connectwise)
                        .map_err(|e| PortError(e.to_string()))
                })
                .await
                .cloned(),
        }
    }
}

/// Fetches `GET key_url` → `{"signing_key": "..."}` without following redirects: without
/// credentials, as ConnectWise documents; if the host refuses that (401 or 403) and
/// [`MemberAuth`] is configured, again with the API member's credentials, and from then on
/// with them first.
#[derive(Debug)]
pub struct HttpKeySource {
    client: reqwest::Client,
    client_id: Option<String>,
    auth: Option<MemberAuth>,
    needs_auth: AtomicBool,
}

impl HttpKeySource {
    /// `client` should not follow redirects ([`shared::http::build_client`] does not).
    /// `client_id` is sent as the `clientId` header when set.
    pub fn new(client: reqwest::Client, client_id: Option<String>) -> Self {
        Self {
            client,
            client_id,
            auth: None,
            needs_auth: AtomicBool::new(false),
        }
    }

    /// The key source the webhook's settings describe: with [`MemberAuth`] from the
    /// credentials secret when `SECRET_ID` is set.
    pub fn from_config(
        client: reqwest::Client,
        config: &crate::WebhookConfig,
        secrets: impl FnOnce() -> aws_sdk_secretsmanager::Client,
    ) -> Self {
        let source = Self::new(client, config.client_id.clone());
        match &config.secret_id {
            Some(id) => source.with_member_auth(MemberAuth::secret(secrets(), id.clone())),
            None => source,
        }
    }

    /// Also fetches with the API member's credentials when the host refuses an anonymous fetch.
    pub fn with_member_auth(self, auth: MemberAuth) -> Self {
        Self {
            auth: Some(auth),
            ..self
        }
    }

    async fn get(&self, key_url: &Url, auth: Option<HeaderValue>) -> Result<SigningKey, KeyError> {
        // Errors never quote the URL: its `id` is what lets anyone fetch the key.
        let fail =
            |what: String| KeyError::Unavailable(PortError(format!("signing key fetch: {what}")));
        let mut request = self
            .client
            .get(key_url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(KEY_FETCH_TIMEOUT);
        if let Some(id) = &self.client_id {
            request = request.header("clientId", id);
        }
        if let Some(auth) = auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_client_error() && !matches!(status.as_u16(), 408 | 429) {
            return Err(KeyError::Refused(status.as_u16()));
        }
        if !status.is_success() {
            return Err(fail(format!("HTTP {}", status.as_u16())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_KEY_RESPONSE_BYTES as u64)
        {
            return Err(fail("response too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_KEY_RESPONSE_BYTES {
                return Err(fail("response too large".into()));
            }
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| fail("response is not JSON".into()))?;
        let key = value
            .get("signing_key")
            .and_then(serde_json::Value::as_str)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| fail("response has no signing_key".into()))?;
        Ok(SigningKey::derive(key))
    }
}

impl KeySource for HttpKeySource {
    async fn fetch(&self, key_url: &Url) -> Result<(SigningKey, KeyFetch), KeyError> {
        let Some(auth) = &self.auth else {
            return Ok((self.get(key_url, None).await?, KeyFetch::Anonymous));
        };
        if !self.needs_auth.load(Ordering::Relaxed) {
            match self.get(key_url, None).await {
                Err(KeyError::Refused(401 | 403)) => {
                    tracing::info!(
                        "the ConnectWise host refused an anonymous signing key fetch; fetching with the API member's credentials"
                    );
                }
                other => return other.map(|key| (key, KeyFetch::Anonymous)),
            }
        }
        let header = auth.header().await?;
        let key = self.get(key_url, Some(header)).await?;
        self.needs_auth.store(true, Ordering::Relaxed);
        Ok((key, KeyFetch::Authenticated))
    }
}

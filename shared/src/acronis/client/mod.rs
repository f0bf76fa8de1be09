//! The Acronis Cyber Cloud client (Account Management v2 and Alert Manager v1).
//!
//! A client-credentials token is cached until shortly before it expires and refreshed once
//! on a 401; tenant and quota writes carry the current `version` and survive a 409/426 by
//! re-reading; lists follow the `after` cursor. Retries follow [`crate::http`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::Retryable as _;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use super::error::{AcronisError, ErrorEnvelope, OAuthError};
use super::models::*;
use crate::http::{ClientError as _, RawResponse, Transport, TransportError};
use crate::secrets::AcronisCredentials;

mod alerts;
mod offering;
mod tenants;

/// How many times a versioned write re-reads after a conflict.
const VERSION_RETRIES: usize = 3;
/// Tenants per batch read (`uuids=` / `tenants=`).
pub const BATCH: usize = 100;
const MAX_PAGES: usize = 100_000;

#[derive(Debug)]
struct CachedToken {
    value: SecretString,
    /// When to stop using it: shortly before it expires.
    refresh_at: SystemTime,
}

/// A client of one Acronis data center, as one API client. Cheap to clone; build once per
/// cold start so the token is shared.
#[derive(Debug, Clone)]
pub struct AcronisClient {
    /// The connection (partner tenant and data centre) this client is, as the secret names it.
    connection: crate::secrets::ConnectionName,
    transport: Transport,
    base: Url,
    /// The API client's id and secret and the generation of the secret they came from;
    /// shared by the clones, replaced when a refused secret is found rotated.
    credentials: Arc<std::sync::RwLock<ClientCredentials>>,
    reloader: Option<Arc<crate::secrets::SecretReloader>>,
    token: Arc<Mutex<Option<CachedToken>>>,
    /// The partner tenant (the API client's own), read once.
    partner: Arc<tokio::sync::OnceCell<String>>,
    /// Per path, the page size the platform was seen to use on reads by id list, when it
    /// answered fewer ids than asked. Later reads ask that many ids per call, side by side,
    /// instead of following one cursor page after page.
    id_pages: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

/// The API client's credentials as the clients of one instance share them.
#[derive(Debug, Clone)]
struct ClientCredentials {
    generation: u64,
    client_id: String,
    client_secret: SecretString,
}

/// Whether Acronis refused the API client's credentials (the token endpoint's 400
/// `invalid_client`, 401 or 403, or an API's 401 or 403), not an outage.
fn refused(e: &AcronisError) -> bool {
    matches!(
        e,
        AcronisError::Auth {
            status: 400 | 401 | 403,
            ..
        } | AcronisError::Api {
            status: 401 | 403,
            ..
        }
    )
}

/// Reads by id list in flight at once (the transport's own limit still applies).
const ID_READS_IN_FLIGHT: usize = 8;

/// Query of `GET /alerts`.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// `updated_at=ge(<ns>)`.
    pub updated_since_ns: Option<i64>,
    pub show_deleted: bool,
    pub types: Vec<String>,
    pub tenant: Option<String>,
    pub limit: usize,
    /// A continuation cursor; the other filters are encoded in it.
    pub after: Option<String>,
}

/// Outcome of [`AcronisClient::set_offering_items`].
#[derive(Debug, Clone, PartialEq)]
pub struct OfferingItemsWrite {
    /// Items whose status or quota changed.
    pub changed: Vec<OfferingItem>,
    /// Desired items the tenant does not have.
    pub unknown: Vec<(String, Option<String>)>,
    /// The items as they were read before the write.
    pub before: Vec<OfferingItem>,
}

impl AcronisClient {
    /// Builds a client; checks the data-center URL (https, or http on loopback for the
    /// local simulator), no network.
    pub fn new(creds: &AcronisCredentials, transport: Transport) -> Result<Self, AcronisError> {
        let raw = creds.datacenter_url.trim().trim_end_matches('/');
        let base = Url::parse(&format!("{raw}/")).map_err(|e| {
            AcronisError::Config(format!("acronis_datacenter_url {raw:?} is not a URL: {e}"))
        })?;
        let loopback = matches!(base.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if base.scheme() != "https" && !(base.scheme() == "http" && loopback) {
            return Err(AcronisError::Config(format!(
                "acronis_datacenter_url {raw:?} must use https"
            )));
        }
        Ok(Self {
            connection: creds.name.clone(),
            transport,
            base,
            credentials: Arc::new(std::sync::RwLock::new(ClientCredentials {
                generation: 0,
                client_id: creds.client_id.clone(),
                client_secret: creds.client_secret.clone(),
            })),
            reloader: None,
            token: Arc::default(),
            partner: Arc::default(),
            id_pages: Arc::default(),
        })
    }

    /// Reads the secret again (through `reloader`) when Acronis refuses the API client.
    pub fn with_reloader(mut self, reloader: Arc<crate::secrets::SecretReloader>) -> Self {
        self.reloader = Some(reloader);
        self
    }

    /// The connection this client is.
    pub fn connection(&self) -> &crate::secrets::ConnectionName {
        &self.connection
    }

    /// The data centre's address.
    pub fn datacenter_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    fn client_credentials(&self) -> ClientCredentials {
        self.credentials
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The API client's id (its own tenant is the partner tenant).
    fn client_id(&self) -> String {
        self.client_credentials().client_id
    }

    /// Credentials newer than those refused (of generation `used`), applied to every clone
    /// (the cached token dropped); whether there are any. A request sent side by side may
    /// have found them already.
    async fn reload_credentials(&self, used: u64) -> bool {
        let Some(reloader) = &self.reloader else {
            return false;
        };
        let seen = self.client_credentials().generation;
        if seen > used {
            return true;
        }
        let Some((generation, creds)) = reloader.newer_than(seen).await else {
            return false;
        };
        // A connection removed from the secret keeps what it had until it is dropped.
        let Some(creds) = creds.acronis.get(&self.connection) else {
            return false;
        };
        self.apply_credentials(generation, creds).await
    }

    /// Takes the API client of `creds` (read from the secret's `generation`), unless this
    /// client already has those of a later read; whether they differ from what it had.
    pub(crate) async fn apply_credentials(
        &self,
        generation: u64,
        creds: &crate::secrets::AcronisCredentials,
    ) -> bool {
        let changed = {
            let mut current = self
                .credentials
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let newer = current.generation < generation;
            let differs = current.client_id != creds.client_id
                || current.client_secret.expose_secret() != creds.client_secret.expose_secret();
            if newer {
                *current = ClientCredentials {
                    generation,
                    client_id: creds.client_id.clone(),
                    client_secret: creds.client_secret.clone(),
                };
            }
            newer && differs
        };
        if changed {
            *self.token.lock().await = None;
        }
        changed
    }

    fn url(&self, path: &str) -> Result<Url, AcronisError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| AcronisError::Config(format!("bad path {path}: {e}")))
    }

    /// A valid access token: the cached one, or a new one.
    async fn access_token(&self) -> Result<SecretString, AcronisError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && SystemTime::now() < t.refresh_at
        {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Forgets `used` if it is still the cached token (another task may have refreshed it).
    async fn invalidate(&self, used: &SecretString) {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == used.expose_secret())
        {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, AcronisError> {
        let url = self.url("api/2/idp/token")?;
        let creds = self.client_credentials();
        let resp = self
            .transport
            .send(&Method::POST, || {
                self.transport
                    .client
                    .post(url.clone())
                    .basic_auth(&creds.client_id, Some(creds.client_secret.expose_secret()))
                    .form(&[("grant_type", "client_credentials")])
            })
            .await
            .map_err(|e| transport_error(&Method::POST, "/api/2/idp/token", e))?;
        if !resp.status.is_success() {
            let body: OAuthError = serde_json::from_slice(&resp.body).unwrap_or_default();
            return Err(AcronisError::Auth {
                status: resp.status.as_u16(),
                error: body.error.unwrap_or_else(|| "unknown".into()),
                description: body.error_description.unwrap_or_default(),
            });
        }
        let token: TokenResponse = decode(&Method::POST, "/api/2/idp/token", &resp.body)?;
        let now = SystemTime::now();
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        let lifetime = token
            .expires_in
            .or(token.expires_on.map(|on| on - now_secs))
            .unwrap_or(3600)
            .max(0) as u64;
        // Renew 10 minutes early, or at 90% of a short lifetime.
        let margin = (lifetime / 10).min(600);
        Ok(CachedToken {
            value: SecretString::from(token.access_token),
            refresh_at: now + Duration::from_secs(lifetime - margin),
        })
    }

    /// Sends an authenticated request; on a 401 refreshes the token once and resends. An
    /// API client Acronis refuses (its token refused, or a 401 or 403 after a fresh token)
    /// is looked for again in the secret, and the request sent once more with new ones.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, AcronisError> {
        let used = self.client_credentials().generation;
        match self
            .send_once(method.clone(), path, query, body.clone())
            .await
        {
            Err(e) if refused(&e) && self.reload_credentials(used).await => {
                self.send_once(method, path, query, body).await
            }
            other => other,
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<RawResponse, AcronisError> {
        let url = self.url(path)?;
        // A 401 means the token expired early or was revoked: drop it and resend once
        // with a fresh one (backon, no delay).
        let attempt = || async {
            let token = self.access_token().await?;
            let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    AcronisError::Config("the access token is not a valid header".into())
                })?;
            bearer.set_sensitive(true);
            let resp = self
                .transport
                .send(&method, || {
                    let auth = HeaderMap::from_iter([(AUTHORIZATION, bearer.clone())]);
                    self.transport
                        .request(&method, &url, auth, query, body.as_deref())
                })
                .await
                .map_err(|e| transport_error(&method, path, e))?;
            if resp.status.as_u16() == 401 {
                self.invalidate(&token).await;
            }
            if resp.status.is_success() {
                Ok(resp)
            } else {
                Err(api_error(&method, path, &resp))
            }
        };
        let once_more = backon::ConstantBuilder::default()
            .with_delay(Duration::ZERO)
            .with_max_times(1);
        attempt
            .retry(once_more)
            .sleep(tokio::time::sleep)
            .when(|e| matches!(e, AcronisError::Api { status: 401, .. }))
            .await
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<T, AcronisError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| AcronisError::Config(format!("could not encode request: {e}")))?;
        let resp = self.send(method.clone(), path, query, body).await?;
        decode(&method, path, &resp.body)
    }

    async fn no_content(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<(), AcronisError> {
        let body = body.map(|b| b.to_string().into_bytes());
        self.send(method, path, query, body).await.map(|_| ())
    }

    /// Follows `after` cursors from `first` (the filtered query) to the end.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        path: &str,
        first: Vec<(&str, String)>,
        limit: usize,
    ) -> Result<Vec<T>, AcronisError> {
        let mut out = Vec::new();
        let mut query = first;
        let mut seen_cursors = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let page: Page<T> = self.json(Method::GET, path, &query, None::<&()>).await?;
            let after = page.after().map(str::to_owned);
            out.extend(page.items);
            match after {
                // A repeated cursor would loop forever.
                Some(a) if seen_cursors.insert(a.clone()) => {
                    query = vec![("limit", limit.to_string()), ("after", a)];
                }
                _ => return Ok(out),
            }
        }
        Err(AcronisError::Decode {
            method: "GET".into(),
            path: path.into(),
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }
}

/// Runs `attempt` (read the current version, then write with it), again after a version
/// conflict, [`VERSION_RETRIES`] times in all.
async fn on_version_conflict<T, F, Fut>(attempt: F) -> Result<T, AcronisError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AcronisError>>,
{
    attempt
        .retry(crate::retry::after_conflict(VERSION_RETRIES))
        .sleep(tokio::time::sleep)
        .when(AcronisError::is_version_conflict)
        .await
}

fn decode<T: DeserializeOwned>(
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<T, AcronisError> {
    crate::http::decode_answer(method, path, body)
}

fn transport_error(method: &Method, path: &str, e: TransportError) -> AcronisError {
    AcronisError::from_transport(method, path, e)
}

fn api_error(method: &Method, path: &str, resp: &RawResponse) -> AcronisError {
    let envelope: Option<ErrorEnvelope> = serde_json::from_slice(&resp.body).ok();
    let inner = envelope.and_then(|e| e.error);
    let (code, message, domain) = match inner {
        Some(i) => (i.code_number(), i.message.unwrap_or_default(), i.domain),
        None => (
            None,
            format!(
                "HTTP {} with a body that is not Acronis's error JSON ({} bytes)",
                resp.status.as_u16(),
                resp.body.len()
            ),
            None,
        ),
    };
    AcronisError::Api {
        status: resp.status.as_u16(),
        method: method.to_string(),
        path: path.to_owned(),
        code,
        message,
        domain,
        attempts: resp.attempts,
    }
}

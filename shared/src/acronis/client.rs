//! The Acronis Cyber Cloud client (Account Management v2 and Alert Manager v1).
//!
//! A client-credentials token is cached until shortly before it expires and refreshed once
//! on a 401; tenant and quota writes carry the current `version` and survive a 409/426 by
//! re-reading; lists follow the `after` cursor. Retries follow [`crate::http`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::Retryable as _;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use super::error::{AcronisError, ErrorEnvelope, OAuthError};
use super::models::*;
use crate::http::{RawResponse, Transport, TransportError};
use crate::secrets::AcronisCredentials;

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
        {
            let mut current = self
                .credentials
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if current.generation < generation {
                *current = ClientCredentials {
                    generation,
                    client_id: creds.acronis.client_id.clone(),
                    client_secret: creds.acronis.client_secret.clone(),
                };
            }
        }
        *self.token.lock().await = None;
        true
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
                    let mut req = self
                        .transport
                        .client
                        .request(method.clone(), url.clone())
                        .header(reqwest::header::AUTHORIZATION, bearer.clone());
                    if !query.is_empty() {
                        req = req.query(query);
                    }
                    if let Some(b) = &body {
                        req = req.header(CONTENT_TYPE, "application/json").body(b.clone());
                    }
                    req
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

    // ---- account -------------------------------------------------------------------

    /// The API client's own record; its `tenant_id` is the partner tenant.
    pub async fn client_info(&self) -> Result<ApiClientInfo, AcronisError> {
        self.json(
            Method::GET,
            &format!("api/2/clients/{}", self.client_id()),
            &[],
            None::<&()>,
        )
        .await
    }

    /// The partner tenant: the API client's own, read once per client.
    pub async fn partner_tenant_id(&self) -> Result<String, AcronisError> {
        self.partner
            .get_or_try_init(|| async { self.client_info().await.map(|c| c.tenant_id) })
            .await
            .cloned()
    }

    pub async fn tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        self.json(
            Method::GET,
            &format!("api/2/tenants/{id}"),
            &[],
            None::<&()>,
        )
        .await
    }

    /// Tenants by id (see [`Self::by_ids`]).
    pub async fn tenants_by_ids(&self, ids: &[String]) -> Result<Vec<Tenant>, AcronisError> {
        self.by_ids("api/2/tenants", "uuids", ids).await
    }

    /// A read by id list: batches of [`BATCH`] ids, or of the page size the platform was seen
    /// to use when smaller, read side by side, each followed to its last page (the platform's
    /// page size for these reads is not documented, so a cursor is always followed). In the
    /// order of `ids`' batches.
    async fn by_ids<T: DeserializeOwned>(
        &self,
        path: &str,
        param: &'static str,
        ids: &[String],
    ) -> Result<Vec<T>, AcronisError> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let size = self
            .id_pages
            .lock()
            .ok()
            .and_then(|pages| pages.get(path).copied())
            .map_or(BATCH, |seen| seen.clamp(1, BATCH));
        let chunks: Vec<Vec<String>> = ids.chunks(size).map(<[String]>::to_vec).collect();
        let pages: Vec<Vec<T>> = stream::iter(
            chunks
                .into_iter()
                .map(|chunk| self.id_chunk(path, param, chunk)),
        )
        .buffered(ID_READS_IN_FLIGHT)
        .try_collect()
        .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// The first answer to a read by id list with no `limit` (the platform's own page size):
    /// how many tenants it holds and whether a cursor continues it. For `acw doctor`.
    pub async fn id_list_first_page(&self, ids: &[String]) -> Result<(usize, bool), AcronisError> {
        let q = vec![("uuids", ids.join(","))];
        let page: Page<Tenant> = self
            .json(Method::GET, "api/2/tenants", &q, None::<&()>)
            .await?;
        Ok((page.items.len(), page.after().is_some()))
    }

    /// Every direct child of `parent_id`, paging with `after`.
    pub async fn child_tenants(&self, parent_id: &str) -> Result<Vec<Tenant>, AcronisError> {
        let limit = 100;
        self.all_pages(
            "api/2/tenants",
            vec![
                ("parent_id", parent_id.to_owned()),
                ("limit", limit.to_string()),
            ],
            limit,
        )
        .await
    }

    /// A storage by id (its name, for people).
    pub async fn infra(&self, id: &str) -> Result<Infra, AcronisError> {
        self.json(Method::GET, &format!("api/2/infra/{id}"), &[], None::<&()>)
            .await
    }

    /// The direct children of `parent_id` changed since `since`, deleted ones included (with
    /// `deleted_at`): what a cycle checks instead of reading every mapped tenant.
    pub async fn child_tenants_changed(
        &self,
        parent_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Tenant>, AcronisError> {
        let limit = 100;
        self.all_pages(
            "api/2/tenants",
            vec![
                ("parent_id", parent_id.to_owned()),
                (
                    "updated_since",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
                ("allow_deleted", "true".to_owned()),
                ("limit", limit.to_string()),
            ],
            limit,
        )
        .await
    }

    /// Creates a tenant. Not retried after it may have been applied: on a timeout, look the
    /// tenant up (by `internal_tag`) before trying again.
    pub async fn create_tenant(&self, t: &NewTenant) -> Result<Tenant, AcronisError> {
        self.json(Method::POST, "api/2/tenants", &[], Some(t)).await
    }

    /// Updates a tenant with its current version, re-reading after a version conflict.
    pub async fn update_tenant(
        &self,
        id: &str,
        patch: &TenantPatch,
    ) -> Result<Tenant, AcronisError> {
        let attempt = || async {
            let current = self.tenant(id).await?;
            let mut body =
                serde_json::to_value(patch).map_err(|e| AcronisError::Config(e.to_string()))?;
            body["version"] = json!(current.version);
            self.json(
                Method::PUT,
                &format!("api/2/tenants/{id}"),
                &[],
                Some(&body),
            )
            .await
        };
        on_version_conflict(attempt).await
    }

    /// Disables a tenant (with its current version).
    pub async fn disable_tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        self.update_tenant(
            id,
            &TenantPatch {
                enabled: Some(false),
                ..TenantPatch::default()
            },
        )
        .await
    }

    pub async fn enable_tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        self.update_tenant(
            id,
            &TenantPatch {
                enabled: Some(true),
                ..TenantPatch::default()
            },
        )
        .await
    }

    /// Deletes a tenant (it must be disabled first) with its current version.
    pub async fn delete_tenant(&self, id: &str) -> Result<(), AcronisError> {
        let attempt = || async {
            let current = self.tenant(id).await?;
            let q = [("version", current.version.to_string())];
            self.no_content(Method::DELETE, &format!("api/2/tenants/{id}"), &q, None)
                .await
        };
        on_version_conflict(attempt).await
    }

    /// Tenants and users matching `text` under `tenant`.
    pub async fn search(
        &self,
        tenant: &str,
        text: &str,
        limit: usize,
    ) -> Result<Vec<SearchHit>, AcronisError> {
        let q = [
            ("tenant", tenant.to_owned()),
            ("text", text.to_owned()),
            ("limit", limit.clamp(1, 300).to_string()),
        ];
        let page: Page<SearchHit> = self
            .json(Method::GET, "api/2/search", &q, None::<&()>)
            .await?;
        Ok(page.items)
    }

    /// Whether `login` is free (204), taken (409 or 406), or the call failed.
    pub async fn login_available(&self, login: &str) -> Result<bool, AcronisError> {
        match self
            .no_content(
                Method::GET,
                "api/2/users/check_login",
                &[("username", login.to_owned())],
                None,
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.status(), Some(406 | 409)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn create_user(&self, u: &NewUser) -> Result<User, AcronisError> {
        self.json(Method::POST, "api/2/users", &[], Some(u)).await
    }

    pub async fn user(&self, id: &str) -> Result<User, AcronisError> {
        self.json(Method::GET, &format!("api/2/users/{id}"), &[], None::<&()>)
            .await
    }

    /// The ids of a tenant's users.
    pub async fn tenant_user_ids(&self, tenant_id: &str) -> Result<Vec<String>, AcronisError> {
        let page: Page<String> = self
            .json(
                Method::GET,
                &format!("api/2/tenants/{tenant_id}/users"),
                &[],
                None::<&()>,
            )
            .await?;
        Ok(page.items)
    }

    pub async fn send_activation_email(&self, user_id: &str) -> Result<(), AcronisError> {
        self.no_content(
            Method::POST,
            &format!("api/2/users/{user_id}/send-activation-email"),
            &[],
            Some(json!({})),
        )
        .await
    }

    pub async fn set_access_policies(
        &self,
        user_id: &str,
        policies: &[AccessPolicy],
    ) -> Result<(), AcronisError> {
        self.no_content(
            Method::PUT,
            &format!("api/2/users/{user_id}/access_policies"),
            &[],
            Some(json!({ "items": policies })),
        )
        .await
    }

    pub async fn pricing(&self, tenant_id: &str) -> Result<Pricing, AcronisError> {
        self.json(
            Method::GET,
            &format!("api/2/tenants/{tenant_id}/pricing"),
            &[],
            None::<&()>,
        )
        .await
    }

    /// Puts a tenant in pricing `mode`, with the version of `known` (the pricing just read)
    /// first, then re-read after a conflict.
    pub async fn set_pricing_mode(
        &self,
        tenant_id: &str,
        mode: &str,
        known: &Pricing,
    ) -> Result<Pricing, AcronisError> {
        let first = std::sync::Mutex::new(Some(known.clone()));
        let attempt = || async {
            let fresh = first
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let current = match fresh {
                Some(p) => p,
                None => self.pricing(tenant_id).await?,
            };
            let mut body = json!({"mode": mode, "version": current.version});
            if let Some(currency) = &current.currency {
                body["currency"] = json!(currency);
            }
            self.json(
                Method::PUT,
                &format!("api/2/tenants/{tenant_id}/pricing"),
                &[],
                Some(&body),
            )
            .await
        };
        on_version_conflict(attempt).await
    }

    pub async fn set_tenant_mfa(&self, tenant_id: &str, enabled: bool) -> Result<(), AcronisError> {
        self.no_content(
            Method::PUT,
            &format!("api/2/tenants/{tenant_id}/mfa/status"),
            &[],
            Some(json!({ "enabled": enabled })),
        )
        .await
    }

    // ---- offering items and usage ------------------------------------------------------

    /// A tenant's offering items of every edition.
    pub async fn offering_items(&self, tenant_id: &str) -> Result<Vec<OfferingItem>, AcronisError> {
        let page: Page<OfferingItem> = self
            .json(
                Method::GET,
                &format!("api/2/tenants/{tenant_id}/offering_items"),
                &[("edition", "*".into())],
                None::<&()>,
            )
            .await?;
        Ok(page.items)
    }

    /// What the partner may enable on a child of `kind` (every edition).
    pub async fn available_for_child(
        &self,
        parent_id: &str,
        kind: &str,
    ) -> Result<Vec<OfferingItem>, AcronisError> {
        let q = [("kind", kind.to_owned()), ("edition", "*".to_owned())];
        let page: Page<OfferingItem> = self
            .json(
                Method::GET,
                &format!("api/2/tenants/{parent_id}/offering_items/available_for_child"),
                &q,
                None::<&()>,
            )
            .await?;
        Ok(page.items)
    }

    /// Brings a tenant's offering items to `desired`: reads them, writes only the items whose
    /// status or quota differ (with their current `quota.version`), and on a 426/409 re-reads
    /// and tries again. Nothing is written when nothing differs.
    ///
    /// `desired` is computed from the items just read, so one read serves both the
    /// decision and the write.
    pub async fn set_offering_items(
        &self,
        tenant_id: &str,
        desired: impl Fn(&[OfferingItem]) -> Vec<DesiredItem>,
    ) -> Result<OfferingItemsWrite, AcronisError> {
        self.set_offering_items_from(tenant_id, None, desired).await
    }

    /// [`Self::set_offering_items`] from items the caller just read (`known`), read again
    /// only when the write meets a version conflict.
    pub async fn set_offering_items_from(
        &self,
        tenant_id: &str,
        known: Option<Vec<OfferingItem>>,
        desired: impl Fn(&[OfferingItem]) -> Vec<DesiredItem>,
    ) -> Result<OfferingItemsWrite, AcronisError> {
        let known = std::sync::Mutex::new(known);
        let attempt = || async {
            let first = known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let current = match first {
                Some(items) => items,
                None => self.offering_items(tenant_id).await?,
            };
            let (writes, unknown) =
                crate::domain::item_writes::item_writes(&current, &desired(&current));
            if writes.is_empty() {
                return Ok(OfferingItemsWrite {
                    changed: Vec::new(),
                    unknown,
                    before: current,
                });
            }
            let body = json!({ "offering_items": writes });
            let page = self
                .json::<Page<OfferingItem>>(
                    Method::PUT,
                    &format!("api/2/tenants/{tenant_id}/offering_items"),
                    &[],
                    Some(&body),
                )
                .await?;
            Ok(OfferingItemsWrite {
                changed: page.items,
                unknown,
                before: current,
            })
        };
        on_version_conflict(attempt).await
    }

    /// One batch of a read by id list, to its last page; notes the page size it reveals.
    async fn id_chunk<T: DeserializeOwned>(
        &self,
        path: &str,
        param: &'static str,
        chunk: Vec<String>,
    ) -> Result<Vec<T>, AcronisError> {
        let q = vec![(param, chunk.join(",")), ("limit", BATCH.to_string())];
        let first: Page<T> = self.json(Method::GET, path, &q, None::<&()>).await?;
        let after = first.after().map(str::to_owned);
        let mut items = first.items;
        if let Some(after) = after {
            if !items.is_empty()
                && items.len() < chunk.len()
                && let Ok(mut pages) = self.id_pages.lock()
            {
                pages.insert(path.to_owned(), items.len());
            }
            let rest = vec![("limit", BATCH.to_string()), ("after", after)];
            items.extend(self.all_pages::<T>(path, rest, BATCH).await?);
        }
        Ok(items)
    }

    /// Current-period usage of many tenants (see [`Self::by_ids`]).
    pub async fn usages(&self, tenant_ids: &[String]) -> Result<Vec<TenantUsages>, AcronisError> {
        self.by_ids("api/2/tenants/usages", "tenants", tenant_ids)
            .await
    }

    // ---- alerts ------------------------------------------------------------------------

    /// One page of alerts in ascending `updated_at` order, with the cursor to the next.
    pub async fn alerts_page(&self, q: &AlertQuery) -> Result<Page<Alert>, AcronisError> {
        let limit = q.limit.clamp(1, 1000);
        let mut query = vec![("limit", limit.to_string())];
        if let Some(after) = &q.after {
            query.push(("after", after.clone()));
        } else {
            if let Some(ns) = q.updated_since_ns {
                query.push(("updated_at", format!("ge({ns})")));
            }
            query.push(("show_deleted", q.show_deleted.to_string()));
            query.push(("order", "asc(updated_at)".into()));
            for t in &q.types {
                query.push(("type", t.clone()));
            }
            if let Some(t) = &q.tenant {
                query.push(("tenant", t.clone()));
            }
        }
        self.json(
            Method::GET,
            "api/alert_manager/v1/alerts",
            &query,
            None::<&()>,
        )
        .await
    }

    /// One alert by id, cleared ones included (`show_deleted=true`).
    pub async fn alert(&self, id: &str) -> Result<Alert, AcronisError> {
        self.json(
            Method::GET,
            &format!("api/alert_manager/v1/alerts/{id}"),
            &[("show_deleted", "true".to_owned())],
            None::<&()>,
        )
        .await
    }

    /// The alert types registered in Alert Manager.
    pub async fn alert_types(&self) -> Result<Vec<AlertType>, AcronisError> {
        let page: Page<AlertType> = self
            .json(Method::GET, "api/alert_manager/v1/types", &[], None::<&()>)
            .await?;
        Ok(page.items)
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
    crate::http::decode_json(body).map_err(|reason| AcronisError::Decode {
        method: method.to_string(),
        path: path.to_owned(),
        reason,
    })
}

fn transport_error(method: &Method, path: &str, e: TransportError) -> AcronisError {
    match e {
        TransportError::Timeout { attempts } => AcronisError::Timeout {
            method: method.to_string(),
            path: path.to_owned(),
            attempts,
        },
        TransportError::Unreachable { attempts, reason } => AcronisError::Unreachable {
            method: method.to_string(),
            path: path.to_owned(),
            attempts,
            reason,
        },
    }
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

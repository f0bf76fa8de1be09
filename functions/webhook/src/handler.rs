//! The transport-agnostic core: one callback in, one [`Reply`] out.

use std::collections::HashMap;

use serde_json::{Value, json};
use shared::bus::{AgreementChanged, CompanyChanged, Event, Origin, TicketChanged, VERSION};
use shared::store::{CallbackSeen, KeyFetch};
use tokio::sync::RwLock;
use tracing::instrument;
use url::Url;

use crate::config::WebhookConfig;
use crate::payload::{self, Callback, Kind};
use crate::ports::{Dedupe, KeyError, KeySource, Publish};
use crate::signature::{self, SigningKey};

/// The dedupe scope of callback message ids.
pub const DEDUPE_SCOPE: &str = "callback";
/// Most signing keys cached (only successfully fetched keys are, so this is a backstop).
const MAX_CACHED_KEYS: usize = 64;

/// The answer to a callback: a status and a JSON body. Errors are
/// `{"error": "<code>", "message": "<what is wrong>"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn status(status: u16, word: &str) -> Self {
        Self {
            status,
            body: json!({ "status": word }),
        }
    }

    fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": code, "message": message.into() }),
        }
    }

    /// What happened, as counted in the log: the error code or the status word.
    pub fn outcome(&self) -> &str {
        self.body
            .get("error")
            .or_else(|| self.body.get("status"))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
    }

    /// The body as bytes, ready to send.
    pub fn body_bytes(&self) -> Vec<u8> {
        self.body.to_string().into_bytes()
    }
}

/// The ids of a request, for its one log line.
#[derive(Debug, Default)]
struct Seen {
    message_id: Option<String>,
    kind: Option<String>,
    action: Option<&'static str>,
    record_id: Option<i64>,
}

/// The webhook: verifies, dedupes and publishes callbacks. Build once per cold start.
pub struct Webhook<D, P, K> {
    config: WebhookConfig,
    dedupe: D,
    publisher: P,
    keys: K,
    /// Derived signing keys by key URL, with how each was had; only successful fetches
    /// are cached.
    cache: RwLock<HashMap<String, (SigningKey, KeyFetch)>>,
}

impl<D, P, K> std::fmt::Debug for Webhook<D, P, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<D: Dedupe, P: Publish, K: KeySource> Webhook<D, P, K> {
    pub fn new(config: WebhookConfig, dedupe: D, publisher: P, keys: K) -> Self {
        Self {
            config,
            dedupe,
            publisher,
            keys,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Handles one callback: `signature` is the `x-content-signature` header, `body` the
    /// exact raw body. Logs one line with `outcome=` and the ids it learned.
    #[instrument(skip_all)]
    pub async fn handle(&self, signature: Option<&str>, body: &[u8]) -> Reply {
        let mut seen = Seen::default();
        let reply = self.process(signature, body, &mut seen).await;
        let outcome = reply.outcome();
        let Seen {
            message_id,
            kind,
            action,
            record_id,
        } = seen;
        if reply.status < 400 {
            tracing::info!(
                outcome,
                status = reply.status,
                message_id,
                callback_type = kind,
                action,
                record_id,
                "callback handled"
            );
        } else {
            tracing::warn!(
                outcome,
                status = reply.status,
                message_id,
                callback_type = kind,
                action,
                record_id,
                "callback refused"
            );
        }
        reply
    }

    async fn process(&self, signature: Option<&str>, body: &[u8], seen: &mut Seen) -> Reply {
        if body.len() > self.config.max_body_bytes {
            return Reply::error(
                413,
                "payload_too_large",
                format!(
                    "the body is {} bytes, over the limit of {}",
                    body.len(),
                    self.config.max_body_bytes
                ),
            );
        }
        let Some(signature) = signature else {
            return Reply::error(
                401,
                "missing_signature",
                "the x-content-signature header is required",
            );
        };
        let Some(obj) = payload::parse_object(body) else {
            return Reply::error(400, "malformed_json", "the body is not a JSON object");
        };
        let Some(raw_key_url) = payload::key_url(&obj) else {
            return Reply::error(
                400,
                "missing_key_url",
                "Metadata.key_url is missing or not a string",
            );
        };
        let key_url = match signature::trusted_key_url(raw_key_url, &self.config.key_origins) {
            Ok(url) => url,
            Err(why) => {
                // The host alone (never the URL, whose id fetches the key) tells an operator
                // which alias their callbacks use.
                let host = url::Url::parse(raw_key_url.trim())
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned));
                tracing::warn!(key_url_host = host, "untrusted key URL");
                return Reply::error(401, "untrusted_key_url", why);
            }
        };
        let bad_signature = || {
            Reply::error(
                401,
                "bad_signature",
                "x-content-signature does not match the body",
            )
        };
        // A header that cannot be a signature needs no key to be refused.
        let Some(signature) = signature::decode_signature(signature) else {
            return bad_signature();
        };
        let key_fetch = match self.verify(&key_url, body, &signature).await {
            Ok(Some(fetch)) => fetch,
            Ok(None) => return bad_signature(),
            Err(e @ KeyError::Refused(_)) => {
                tracing::warn!(error = %e, "signing key refused by the ConnectWise host");
                return Reply::error(
                    401,
                    "unknown_signing_key",
                    "the ConnectWise host has no signing key at Metadata.key_url",
                );
            }
            Err(KeyError::Unavailable(e)) => {
                tracing::warn!(error = %e, "signing key unavailable");
                // 429, never a 5xx: ConnectWise retries a callback only on 404, 409, 419
                // and 429.
                return Reply::error(
                    429,
                    "key_unavailable",
                    "the signing key could not be fetched; retry later",
                );
            }
        };

        let callback = match payload::validate(&obj) {
            Ok(c) => c,
            Err(e) => {
                return Reply {
                    status: 400,
                    body: json!({"error": "invalid_field", "field": e.field, "message": e.message}),
                };
            }
        };
        seen.message_id = Some(callback.message_id.clone());
        seen.kind = Some(callback.kind.clone());
        seen.action = Some(callback.action.as_str());
        seen.record_id = Some(callback.id);

        let Some(kind) = callback.product_kind() else {
            return Reply::status(202, "ignored");
        };
        let record = CallbackSeen {
            kind: callback.kind.to_ascii_lowercase(),
            record_id: callback.id,
            key_host: shared::connectwise::client::host_and_port(&key_url),
            key_fetch,
            seen_at: shared::clock::now(),
        };
        self.dedupe_and_publish(kind, &callback, &record).await
    }

    /// How the key at `key_url` that verifies the signature was had, or `None` when it does
    /// not verify. A cached key that does not is refetched once, in case ConnectWise
    /// rotated it.
    async fn verify(
        &self,
        key_url: &Url,
        body: &[u8],
        signature: &[u8],
    ) -> Result<Option<KeyFetch>, KeyError> {
        let cached = self.cache.read().await.get(key_url.as_str()).cloned();
        if let Some((key, fetch)) = &cached
            && key.verifies(body, signature)
        {
            return Ok(Some(*fetch));
        }
        let (fresh, fetch) = self.keys.fetch(key_url).await?;
        let ok = fresh.verifies(body, signature);
        if cached.as_ref().map(|(k, _)| k) != Some(&fresh) {
            let mut cache = self.cache.write().await;
            if cache.len() >= MAX_CACHED_KEYS && !cache.contains_key(key_url.as_str()) {
                cache.clear();
            }
            cache.insert(key_url.as_str().to_owned(), (fresh, fetch));
        }
        Ok(ok.then_some(fetch))
    }

    async fn dedupe_and_publish(&self, kind: Kind, cb: &Callback, record: &CallbackSeen) -> Reply {
        let unavailable = || {
            // 429: the one answer of these ConnectWise retries that means "later".
            Reply::error(
                429,
                "unavailable",
                "the callback could not be recorded; retry later",
            )
        };
        match self
            .dedupe
            .remember_once(DEDUPE_SCOPE, &cb.message_id, self.config.dedupe_ttl, record)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Reply::status(200, "duplicate"),
            Err(e) => {
                tracing::warn!(error = %e, "dedupe store failed");
                // The write may have landed before the error: undo it so a retry is not a duplicate.
                self.forget(&cb.message_id).await;
                return unavailable();
            }
        }
        let origin = Origin::Callback {
            message_id: cb.message_id.clone(),
        };
        let event = match kind {
            Kind::Company => Event::Company(CompanyChanged {
                version: VERSION,
                company_id: cb.id,
                action: cb.action,
                origin,
                observed_at: shared::clock::now(),
            }),
            Kind::Agreement => Event::Agreement(AgreementChanged {
                version: VERSION,
                agreement_id: cb.id,
                company_id: cb.entity_company_id(),
                action: cb.action,
                origin,
                observed_at: shared::clock::now(),
            }),
            Kind::Ticket => Event::Ticket(TicketChanged {
                version: VERSION,
                ticket_id: cb.id,
                action: cb.action,
                origin,
                observed_at: shared::clock::now(),
            }),
        };
        let detail_type = event.detail_type();
        if let Err(e) = self.publisher.publish(event).await {
            tracing::warn!(error = %e, detail_type, "publish failed");
            self.forget(&cb.message_id).await;
            return unavailable();
        }
        Reply {
            status: 200,
            body: json!({"status": "accepted", "event": detail_type}),
        }
    }

    async fn forget(&self, message_id: &str) {
        if let Err(e) = self.dedupe.forget(DEDUPE_SCOPE, message_id).await {
            tracing::error!(error = %e, "could not forget the dedupe record; ConnectWise's retry will be taken for a duplicate until the reconciler runs");
        }
    }
}

//! API credentials from one Secrets Manager secret, read once per cold start.
//!
//! The secret is a flat JSON object of strings, so that it can be filled in the AWS console's
//! key/value editor:
//!
//! | key | meaning |
//! |---|---|
//! | `cw_site` | ConnectWise API host, e.g. `api-na.myconnectwise.net` (or an `https://` origin; `http://` only for loopback test hosts) |
//! | `cw_company_id` | the company you log in to ConnectWise with |
//! | `cw_public_key`, `cw_private_key` | the API member's keys |
//! | `cw_client_id` | the integration's clientId from developer.connectwise.com |
//! | `cw_codebase` | optional, e.g. `v2025_1/`; discovered from `/login/companyinfo` when absent |
//! | `acronis_datacenter_url` | e.g. `https://eu2-cloud.acronis.com` (the connection named `default`) |
//! | `acronis_client_id`, `acronis_client_secret` | an API client of the partner tenant (the connection named `default`) |
//! | `acronis.{name}.datacenter_url`, `acronis.{name}.client_id`, `acronis.{name}.client_secret` | any number of further Acronis connections (one per partner tenant and data centre), named by the MSP: `[a-z][a-z0-9-]{0,31}` |
//!
//! A secret needs at least one Acronis connection; the flat `acronis_*` keys of a stack
//! deployed before there were several are the connection `default` ([`connections`]).
//!
//! Secret values live in [`SecretString`]s: `Debug` prints `[REDACTED]`, and no error
//! here ever quotes the secret's content (only the names of missing or bad keys).

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde_json::{Map, Value};

pub mod connections;
pub use connections::{ConnectionName, DEFAULT_CONNECTION};

/// The ConnectWise half of the secret.
#[derive(Debug, Clone)]
pub struct ConnectWiseCredentials {
    pub site: String,
    pub company_id: String,
    pub public_key: SecretString,
    pub private_key: SecretString,
    pub client_id: String,
    pub codebase: Option<String>,
}

/// One Acronis connection: an API client of one partner tenant in one data centre.
#[derive(Debug, Clone)]
pub struct AcronisCredentials {
    /// The name the MSP gave it (`default` for the flat keys).
    pub name: ConnectionName,
    pub datacenter_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Both credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub connectwise: ConnectWiseCredentials,
    /// The Acronis connections by name; never empty.
    pub acronis: BTreeMap<ConnectionName, AcronisCredentials>,
}

/// Why the credentials could not be had. Never carries the secret's content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("could not read secret {secret_id}: {reason}")]
    Unreadable { secret_id: String, reason: String },
    #[error("secret {secret_id} has no string value (binary secrets are not supported)")]
    NotString { secret_id: String },
    #[error(
        "secret {secret_id} is not a JSON object of strings (fill it with the keys listed in the README)"
    )]
    NotJsonObject { secret_id: String },
    #[error(
        "secret {secret_id} is missing {missing:?} and has blank, non-string or unknown {invalid:?}"
    )]
    Fields {
        secret_id: String,
        missing: Vec<String>,
        invalid: Vec<String>,
    },
}

/// The keys a filled secret has.
pub const REQUIRED: [&str; 8] = [
    "cw_site",
    "cw_company_id",
    "cw_public_key",
    "cw_private_key",
    "cw_client_id",
    "acronis_datacenter_url",
    "acronis_client_id",
    "acronis_client_secret",
];

impl Credentials {
    /// Parses the secret string. `secret_id` is only used in error messages.
    pub fn parse(secret_id: &str, raw: &str) -> Result<Self, SecretError> {
        // Parse into a generic map first: serde's own messages can quote values.
        let map: Map<String, Value> = match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(SecretError::NotJsonObject {
                    secret_id: secret_id.to_owned(),
                });
            }
        };
        let mut missing: Vec<String> = Vec::new();
        let mut invalid: Vec<String> = Vec::new();
        for key in REQUIRED.iter().filter(|k| k.starts_with("cw_")) {
            match map.get(*key) {
                None | Some(Value::Null) => missing.push((*key).to_owned()),
                Some(Value::String(s)) if !s.trim().is_empty() => {}
                Some(_) => invalid.push((*key).to_owned()),
            }
        }
        if let Some(v) = map.get("cw_codebase")
            && !matches!(v, Value::String(_) | Value::Null)
        {
            invalid.push("cw_codebase".to_owned());
        }
        let acronis = connections::parse(&map, &mut missing, &mut invalid);
        if !missing.is_empty() || !invalid.is_empty() {
            return Err(SecretError::Fields {
                secret_id: secret_id.to_owned(),
                missing,
                invalid,
            });
        }
        let text = |key: &str| connections::text(&map, key);
        let secret = |key: &str| SecretString::from(text(key));
        Ok(Self {
            connectwise: ConnectWiseCredentials {
                site: text("cw_site"),
                company_id: text("cw_company_id"),
                public_key: secret("cw_public_key"),
                private_key: secret("cw_private_key"),
                client_id: text("cw_client_id"),
                codebase: Some(text("cw_codebase")).filter(|c| !c.is_empty()),
            },
            acronis,
        })
    }

    /// Reads and parses the secret.
    pub async fn load(
        client: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
    ) -> Result<Self, SecretError> {
        let out = client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| SecretError::Unreadable {
                secret_id: secret_id.to_owned(),
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e.into_service_error())
                    .to_string(),
            })?;
        let raw = out.secret_string().ok_or_else(|| SecretError::NotString {
            secret_id: secret_id.to_owned(),
        })?;
        Self::parse(secret_id, raw)
    }
}

/// The secret read again when an API refuses the credentials (a key rotated while the
/// instance was warm), at most once per `min_interval` per instance. Both clients of an
/// instance share one: the first to be refused reads the secret; the other finds the new
/// credentials already read (each client remembers the generation it applied).
#[derive(Debug)]
pub struct SecretReloader {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    min_interval: std::time::Duration,
    state: tokio::sync::Mutex<ReloadState>,
}

#[derive(Debug, Default)]
struct ReloadState {
    last_read: Option<std::time::Instant>,
    generation: u64,
    latest: Option<Credentials>,
}

/// What a read gives: the same credentials or new ones.
fn same(a: &Credentials, b: &Credentials) -> bool {
    use secrecy::ExposeSecret as _;
    let (x, y) = (&a.connectwise, &b.connectwise);
    x.company_id == y.company_id
        && x.client_id == y.client_id
        && x.public_key.expose_secret() == y.public_key.expose_secret()
        && x.private_key.expose_secret() == y.private_key.expose_secret()
        && a.acronis.len() == b.acronis.len()
        && a.acronis.iter().zip(&b.acronis).all(|((m, p), (n, q))| {
            m == n
                && p.datacenter_url == q.datacenter_url
                && p.client_id == q.client_id
                && p.client_secret.expose_secret() == q.client_secret.expose_secret()
        })
}

/// Once a minute per instance: a refused key costs one secret read a minute, not one per
/// request.
pub const RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl SecretReloader {
    /// `current` is what the instance read at its cold start (generation 0), read again at
    /// most once per `min_interval` from then.
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        current: Credentials,
        min_interval: std::time::Duration,
    ) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            client,
            secret_id: secret_id.into(),
            min_interval,
            state: tokio::sync::Mutex::new(ReloadState {
                last_read: Some(std::time::Instant::now()),
                generation: 0,
                latest: Some(current),
            }),
        })
    }

    /// Credentials newer than generation `seen`: already read by the other client, or read
    /// now unless the secret was read less than `min_interval` ago. `None` when there are
    /// none (the secret holds what was refused, or it could not be read: logged).
    pub async fn newer_than(&self, seen: u64) -> Option<(u64, Credentials)> {
        let mut s = self.state.lock().await;
        if s.generation > seen {
            return s.latest.clone().map(|c| (s.generation, c));
        }
        if s.last_read.is_some_and(|t| t.elapsed() < self.min_interval) {
            return None;
        }
        match self.read_again(&mut s).await {
            Ok(None) => {
                tracing::warn!(
                    secret_id = %self.secret_id,
                    "credentials refused and the secret still holds them"
                );
                None
            }
            Ok(Some(newer)) => {
                tracing::info!(secret_id = %self.secret_id, "credentials refused: read the secret again and found new ones");
                Some(newer)
            }
            Err(e) => {
                tracing::warn!(error = %e, "credentials refused and the secret could not be read again");
                None
            }
        }
    }

    /// Reads the secret now (and notes when): its credentials as the next generation when
    /// they differ from the latest read, `None` when they are the same. Both ways of reading
    /// again share it, so a generation means one thing whichever read found it.
    async fn read_again(
        &self,
        s: &mut ReloadState,
    ) -> Result<Option<(u64, Credentials)>, SecretError> {
        s.last_read = Some(std::time::Instant::now());
        let fresh = Credentials::load(&self.client, &self.secret_id).await?;
        if s.latest.as_ref().is_some_and(|l| same(l, &fresh)) {
            return Ok(None);
        }
        s.generation += 1;
        s.latest = Some(fresh.clone());
        Ok(Some((s.generation, fresh)))
    }
}

impl SecretReloader {
    /// The secret read again when it was last read `max_age` ago or more (an added or
    /// removed Acronis connection is noticed without a redeploy): its credentials and their
    /// generation when they differ from the latest read, else `None`. A failed read is
    /// logged and tried again after `max_age`.
    pub async fn refreshed(&self, max_age: std::time::Duration) -> Option<(u64, Credentials)> {
        let mut s = self.state.lock().await;
        if s.last_read.is_some_and(|t| t.elapsed() < max_age) {
            return None;
        }
        match self.read_again(&mut s).await {
            Ok(None) => None,
            Ok(Some((generation, fresh))) => {
                tracing::info!(secret_id = %self.secret_id, connections = fresh.acronis.len(), "the secret changed: applying its credentials");
                Some((generation, fresh))
            }
            Err(e) => {
                tracing::warn!(error = %e, "the secret could not be read again; keeping what was read before");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const FULL: &str = r#"{
        "cw_site": "api-na.myconnectwise.net", "cw_company_id": "acme",
        "cw_public_key": "PUBLIC-abc", "cw_private_key": "PRIVATE-xyz",
        "cw_client_id": "cid", "acronis_datacenter_url": "https://eu2-cloud.acronis.com",
        "acronis_client_id": "aid", "acronis_client_secret": "ASECRET-123"
    }"#;

    #[test]
    fn parses_a_full_secret() {
        let c = Credentials::parse("s", FULL).unwrap();
        assert_eq!(c.connectwise.site, "api-na.myconnectwise.net");
        assert_eq!(c.connectwise.private_key.expose_secret(), "PRIVATE-xyz");
        assert_eq!(c.connectwise.codebase, None);
        let default = &c.acronis[DEFAULT_CONNECTION];
        assert_eq!(default.client_secret.expose_secret(), "ASECRET-123");
        assert_eq!(c.acronis.len(), 1);
    }

    #[test]
    fn debug_output_redacts_every_secret() {
        let c = Credentials::parse("s", FULL).unwrap();
        let debug = format!("{c:?}");
        for secret in ["PUBLIC-abc", "PRIVATE-xyz", "ASECRET-123"] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn names_missing_and_bad_fields_without_quoting_values() {
        let raw = r#"{"cw_site": "x", "cw_company_id": 12345, "cw_public_key": "PUBLIC-abc",
                      "cw_private_key": " ", "acronis_datacenter_url": "u", "acronis_client_id": "i",
                      "acronis_client_secret": "ASECRET-123"}"#;
        let err = Credentials::parse("acw/credentials", raw).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("acw/credentials"), "{msg}");
        assert!(msg.contains("cw_client_id"), "{msg}");
        assert!(
            msg.contains("cw_company_id") && msg.contains("cw_private_key"),
            "{msg}"
        );
        for leaked in ["12345", "PUBLIC-abc", "ASECRET-123"] {
            assert!(
                !msg.contains(leaked) && !format!("{err:?}").contains(leaked),
                "{leaked} leaked: {msg}"
            );
        }
    }

    #[test]
    fn malformed_json_never_echoes_content() {
        for raw in [
            "{\"cw_private_key\": \"PRIVATE-xyz\"",
            "[\"PRIVATE-xyz\"]",
            "PRIVATE-xyz",
        ] {
            let err = Credentials::parse("s", raw).unwrap_err();
            assert!(matches!(err, SecretError::NotJsonObject { .. }));
            assert!(!format!("{err} {err:?}").contains("PRIVATE-xyz"));
        }
    }

    #[test]
    fn keeps_an_optional_codebase() {
        let raw = FULL.replace(
            "\"cw_client_id\"",
            "\"cw_codebase\": \"v2025_1/\", \"cw_client_id\"",
        );
        let c = Credentials::parse("s", &raw).unwrap();
        assert_eq!(c.connectwise.codebase.as_deref(), Some("v2025_1/"));
    }
}

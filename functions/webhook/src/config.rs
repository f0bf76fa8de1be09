//! The webhook's settings, read once at cold start.

use std::time::Duration;

use shared::settings::{SettingsError, number, required};
use url::Url;

/// Largest body accepted by default (API Gateway and Function URLs allow more; callbacks are small).
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// How long a `MessageId` is remembered by default (a week).
pub const DEFAULT_DEDUPE_TTL_HOURS: u64 = 168;

/// What the webhook needs from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// `CW_SITE` as an origin (`https://api-na.myconnectwise.net`).
    pub allowed_origin: Url,
    /// The origins a callback's `Metadata.key_url` may point at: `CW_SITE` and its known
    /// aliases (`na.` for `api-na.`; see [`shared::connectwise::client::site_aliases`]).
    pub key_origins: Vec<Url>,
    /// `MAX_BODY_BYTES` (default 262144).
    pub max_body_bytes: usize,
    /// `DEDUPE_TTL_HOURS` (default 168): how long a `MessageId` is remembered.
    pub dedupe_ttl: Duration,
    /// `CW_CLIENT_ID`: sent as the `clientId` header when fetching the signing key.
    pub client_id: Option<String>,
    /// `SECRET_ID`: the credentials secret, read only if the ConnectWise host refuses to
    /// serve a signing key without the API member's credentials.
    pub secret_id: Option<String>,
}

impl WebhookConfig {
    /// Reads the process environment; the error names the variable to fix.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let site = required(&lookup, "CW_SITE")?;
        let allowed_origin = shared::connectwise::client::site_origin(&site).map_err(|e| {
            SettingsError::Invalid {
                name: "CW_SITE",
                reason: e.to_string(),
            }
        })?;
        let max_body_bytes = number(&lookup, "MAX_BODY_BYTES", 1, 6 * 1024 * 1024)?
            .map_or(DEFAULT_MAX_BODY_BYTES, |n| n as usize);
        let ttl_hours =
            number(&lookup, "DEDUPE_TTL_HOURS", 1, 24 * 366)?.unwrap_or(DEFAULT_DEDUPE_TTL_HOURS);
        let optional = |name| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Ok(Self {
            key_origins: shared::connectwise::client::site_aliases(&allowed_origin),
            allowed_origin,
            max_body_bytes,
            dedupe_ttl: Duration::from_secs(ttl_hours * 3600),
            client_id: optional("CW_CLIENT_ID"),
            secret_id: optional("SECRET_ID"),
        })
    }

    /// A configuration with the defaults for `allowed_origin`.
    pub fn new(allowed_origin: Url) -> Self {
        Self {
            key_origins: shared::connectwise::client::site_aliases(&allowed_origin),
            allowed_origin,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            dedupe_ttl: Duration::from_secs(DEFAULT_DEDUPE_TTL_HOURS * 3600),
            client_id: None,
            secret_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_defaults_and_overrides() {
        let c =
            WebhookConfig::from_lookup(env(&[("CW_SITE", "api-na.myconnectwise.net")])).unwrap();
        assert_eq!(
            c.allowed_origin.as_str(),
            "https://api-na.myconnectwise.net/"
        );
        assert_eq!(c.max_body_bytes, 262_144);
        assert_eq!(c.dedupe_ttl, Duration::from_secs(168 * 3600));
        assert_eq!(c.client_id, None);
        assert_eq!(c.secret_id, None);
        assert_eq!(c.key_origins.len(), 2, "api-na. and na.");

        let c = WebhookConfig::from_lookup(env(&[
            ("CW_SITE", "http://127.0.0.1:4580"),
            ("MAX_BODY_BYTES", "1024"),
            ("DEDUPE_TTL_HOURS", "1"),
            ("CW_CLIENT_ID", "abc"),
            ("SECRET_ID", " stack/credentials "),
        ]))
        .unwrap();
        assert_eq!(c.allowed_origin.as_str(), "http://127.0.0.1:4580/");
        assert_eq!(c.max_body_bytes, 1024);
        assert_eq!(c.dedupe_ttl, Duration::from_secs(3600));
        assert_eq!(c.client_id.as_deref(), Some("abc"));
        assert_eq!(c.secret_id.as_deref(), Some("stack/credentials"));
    }

    #[test]
    fn names_the_variable_to_fix() {
        assert_eq!(
            WebhookConfig::from_lookup(env(&[])).unwrap_err(),
            SettingsError::Missing("CW_SITE")
        );
        let e =
            WebhookConfig::from_lookup(env(&[("CW_SITE", "http://cw.example.com")])).unwrap_err();
        assert!(
            matches!(
                e,
                SettingsError::Invalid {
                    name: "CW_SITE",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = WebhookConfig::from_lookup(env(&[
            ("CW_SITE", "cw.example.com"),
            ("MAX_BODY_BYTES", "lots"),
        ]))
        .unwrap_err();
        assert!(
            matches!(
                e,
                SettingsError::Invalid {
                    name: "MAX_BODY_BYTES",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = WebhookConfig::from_lookup(env(&[
            ("CW_SITE", "cw.example.com"),
            ("DEDUPE_TTL_HOURS", "0"),
        ]))
        .unwrap_err();
        assert!(
            matches!(
                e,
                SettingsError::Invalid {
                    name: "DEDUPE_TTL_HOURS",
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

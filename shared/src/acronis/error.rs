//! Acronis errors, typed at the edge.

use serde::Deserialize;
use serde_json::Value;

/// `{"error": {code, message, details, context, domain}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorEnvelope {
    #[serde(default)]
    pub error: Option<ErrorInner>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorInner {
    #[serde(default)]
    pub code: Option<Value>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
}

impl ErrorInner {
    /// The platform code (1001 version mismatch, 1004 name taken, 1006 not disabled...),
    /// sent as a number or a numeric string.
    pub fn code_number(&self) -> Option<i64> {
        match &self.code {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
    }
}

/// OAuth error of `/idp/token`: `{error, error_description}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OAuthError {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Platform error codes the integration acts on.
pub mod codes {
    pub const VERSION_MISMATCH: i64 = 1001;
    pub const TENANT_NAME_TAKEN: i64 = 1004;
    pub const TENANT_NOT_FOUND: i64 = 1005;
    pub const DELETE_ENABLED_TENANT: i64 = 1006;
    pub const INVALID_LOGIN: i64 = 1033;
}

/// A failed Acronis call. Messages never hold the client secret or a token.
#[derive(Debug, thiserror::Error)]
pub enum AcronisError {
    #[error("Acronis configuration: {0}")]
    Config(String),
    /// The token endpoint refused the API client.
    #[error(
        "Acronis refused the API client credentials (HTTP {status} {error}: {description}); check acronis_client_id and acronis_client_secret"
    )]
    Auth {
        status: u16,
        error: String,
        description: String,
    },
    #[error("Acronis {method} {path} failed with HTTP {status}{}: {message}", code.map(|c| format!(" (code {c})")).unwrap_or_default())]
    Api {
        status: u16,
        method: String,
        path: String,
        code: Option<i64>,
        message: String,
        domain: Option<String>,
        attempts: u32,
    },
    /// No answer in time. For a POST it may have been applied: look up before retrying.
    #[error("Acronis {method} {path} timed out after {attempts} attempt(s)")]
    Timeout {
        method: String,
        path: String,
        attempts: u32,
    },
    #[error("Acronis {method} {path} unreachable after {attempts} attempt(s): {reason}")]
    Unreachable {
        method: String,
        path: String,
        attempts: u32,
        reason: String,
    },
    #[error("Acronis {method} {path} answered with an unexpected body: {reason}")]
    Decode {
        method: String,
        path: String,
        reason: String,
    },
}

impl AcronisError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Auth { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// A stale `version` or `quota.version` (409 / 426, or platform code 1001).
    pub fn is_version_conflict(&self) -> bool {
        matches!(self.status(), Some(409 | 426)) && self.code() != Some(codes::TENANT_NAME_TAKEN)
            || self.code() == Some(codes::VERSION_MISMATCH)
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404) || self.code() == Some(codes::TENANT_NOT_FOUND)
    }

    /// Worth trying again later (the next run): throttling, outages, timeouts.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            Self::Timeout { .. } | Self::Unreachable { .. } => true,
            Self::Config(_) | Self::Auth { .. } | Self::Decode { .. } => false,
        }
    }
}

crate::http::client_error!(AcronisError);

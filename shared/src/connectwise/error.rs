//! ConnectWise errors, typed at the edge.

use serde::{Deserialize, Serialize};

/// One entry of ConnectWise's `errors[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
}

/// ConnectWise's error body `{code, message, errors[]}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub errors: Option<Vec<FieldError>>,
}

/// A failed ConnectWise call. Messages name the method and path (never the query string,
/// the keys or the body we sent).
#[derive(Debug, thiserror::Error)]
pub enum CwError {
    /// Bad configuration (site, codebase, keys), found before any request.
    #[error("ConnectWise configuration: {0}")]
    Config(String),
    /// ConnectWise answered with an error status.
    #[error(
        "ConnectWise {method} {path} failed with HTTP {status} {code}: {message}{}",
        describe(errors)
    )]
    Api {
        status: u16,
        method: String,
        path: String,
        code: String,
        message: String,
        errors: Vec<FieldError>,
        attempts: u32,
    },
    /// No answer in time. For a POST it may have been applied: look up before retrying.
    #[error("ConnectWise {method} {path} timed out after {attempts} attempt(s)")]
    Timeout {
        method: String,
        path: String,
        attempts: u32,
    },
    #[error("ConnectWise {method} {path} unreachable after {attempts} attempt(s): {reason}")]
    Unreachable {
        method: String,
        path: String,
        attempts: u32,
        reason: String,
    },
    /// A success answer whose body is not what the API documents.
    #[error("ConnectWise {method} {path} answered with an unexpected body: {reason}")]
    Decode {
        method: String,
        path: String,
        reason: String,
    },
}

fn describe(errors: &[FieldError]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "{}{}: {}",
                e.code.as_deref().unwrap_or("error"),
                e.field
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default(),
                e.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    format!(" [{}]", parts.join("; "))
}

impl CwError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// A duplicate: `ObjectExists` among the field errors.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Api { errors, .. } if errors.iter().any(|e| e.code.as_deref() == Some("ObjectExists")))
    }

    /// Worth trying again later (the next run): throttling, outages, timeouts.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            Self::Timeout { .. } | Self::Unreachable { .. } => true,
            Self::Config(_) | Self::Decode { .. } => false,
        }
    }
}

crate::http::client_error!(CwError);

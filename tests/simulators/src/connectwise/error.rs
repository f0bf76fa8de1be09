//! ConnectWise error answers and JSON answers with the vendor content type.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::control::cw_error;

/// The content type every ConnectWise API answer carries.
pub const CW_CONTENT_TYPE: &str = "application/vnd.connectwise.com+json; version=2025.8";

/// A JSON answer with ConnectWise's content type.
pub fn cw_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CW_CONTENT_TYPE),
    );
    resp
}

/// An API failure, rendered as `{code, message, errors[]}`.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    Unauthorized(String),
    NotFound(String),
    /// 400 `InvalidObject` with the given validation errors.
    Invalid {
        message: String,
        errors: Vec<Value>,
    },
}

impl ApiError {
    pub fn not_found(resource: &str, id: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{resource} {id} not found"))
    }

    /// A 400 with no field errors (query-string and body-shape problems).
    pub fn bad(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            errors: Vec::new(),
        }
    }

    fn field(resource: &str, code: &str, field: &str, message: String) -> Self {
        Self::Invalid {
            message: format!("{resource} object is invalid"),
            errors: vec![json!({
                "code": code,
                "message": message,
                "resource": resource,
                "field": field,
            })],
        }
    }

    pub fn missing(resource: &str, field: &str) -> Self {
        Self::field(
            resource,
            "MissingRequiredField",
            field,
            format!("The {field} field is required."),
        )
    }

    pub fn invalid_field(resource: &str, field: &str, message: impl Into<String>) -> Self {
        Self::field(resource, "InvalidField", field, message.into())
    }

    pub fn exists(resource: &str, field: &str, message: impl Into<String>) -> Self {
        Self::field(resource, "ObjectExists", field, message.into())
    }

    pub fn invalid_object(resource: &str, field: &str, message: impl Into<String>) -> Self {
        Self::field(resource, "InvalidObject", field, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = match self {
            ApiError::Unauthorized(m) => cw_error(StatusCode::UNAUTHORIZED, "Unauthorized", m),
            ApiError::NotFound(m) => cw_error(StatusCode::NOT_FOUND, "NotFound", m),
            ApiError::Invalid { message, errors } if errors.is_empty() => {
                cw_error(StatusCode::BAD_REQUEST, "InvalidObject", message)
            }
            ApiError::Invalid { message, errors } => (
                StatusCode::BAD_REQUEST,
                Json(json!({"code": "InvalidObject", "message": message, "errors": errors})),
            )
                .into_response(),
        };
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(CW_CONTENT_TYPE),
        );
        resp
    }
}

pub type ApiResult = Result<Response, ApiError>;

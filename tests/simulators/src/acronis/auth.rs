//! `POST /api/2/idp/token` (client credentials) and the bearer check on every other route.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;

use super::state::{ApiError, Shared, Token, now_ms};

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// `(client_id, client_secret)` from an HTTP Basic header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

pub async fn token(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let creds = basic_credentials(&headers)
        .or_else(|| Some((field("client_id")?, field("client_secret")?)));
    let mut s = app.lock();
    let Some((id, secret)) = creds else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed: no credentials",
        );
    };
    if id != s.config.client_id || secret != s.config.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    match field("grant_type").as_deref() {
        Some("client_credentials") => {}
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            );
        }
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant type {other:?} is not supported"),
            );
        }
    }
    let access_token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let ttl = s.token_ttl_secs;
    let now = now_ms();
    let expires_at_ms = now + i64::try_from(ttl.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    s.tokens
        .insert(access_token.clone(), Token { expires_at_ms });
    s.tokens_issued += 1;
    Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_on": expires_at_ms / 1000,
        "expires_in": ttl,
    }))
    .into_response()
}

/// Route middleware: a valid, unexpired bearer token or 401 in the Acronis envelope.
pub async fn require_bearer(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let verdict = {
        let s = app.lock();
        match token.as_deref().and_then(|t| s.tokens.get(t)) {
            None => Err("Unauthorized: invalid token"),
            Some(t) if t.expires_at_ms <= now_ms() => Err("Unauthorized: token is expired"),
            Some(_) => Ok(()),
        }
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(msg) => ApiError::new(StatusCode::UNAUTHORIZED, 401, msg).into_response(),
    }
}

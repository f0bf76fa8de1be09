//! Request bodies checked against Acronis's Account Management API v2 document
//! (`tests/simulators/specs/acronis-account-management-v2.openapi.json`, reconstructed; see the
//! SOURCE file beside it) by `crate::spec`: required fields, types, the values and lengths the
//! document states. The answer is Acronis's: 400 with
//! `{"error": {"code": 400, "message", "details": {"info", "field"}, "context", "domain"}}`,
//! naming the first offending field. Where the document and the vendor's notes disagree, the
//! notes win: a required field sent as `null` is given (an unlimited quota is `value: null`),
//! and the handlers, which follow the notes, refuse what the notes refuse.

use std::sync::LazyLock;

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::ApiError;
use crate::spec::Spec;

const DOCUMENT: &str = include_str!("../../specs/acronis-account-management-v2.openapi.json");

static SPEC: LazyLock<Spec> = LazyLock::new(|| Spec::parse(DOCUMENT, "/api/2", true));

/// The error Acronis would answer `body` with, if any.
fn refusal(method: &str, route: &str, body: &Value) -> Option<ApiError> {
    let (schema, violations) = SPEC.check(method, route, body)?;
    let first = violations.into_iter().next()?;
    let mut e = ApiError::new(
        StatusCode::BAD_REQUEST,
        400,
        format!("Request body does not match {schema}: {}", first.message),
    );
    e.extra = Some((
        json!({"info": first.message, "field": first.field}),
        json!({}),
    ));
    Some(e)
}

/// Middleware of the API routes: a body the document refuses gets the vendor's 400.
pub async fn validate(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    crate::spec::guard(matched, req, next, |method, route, body| {
        refusal(method, route, body).map(IntoResponse::into_response)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_constraint_class_names_its_field() {
        let route = "/api/2/tenants";
        let ok = json!({"name": "Customer, Inc", "kind": "customer",
                        "parent_id": "ede9f834-70b3-476c-83d9-736f9f8c7dae"});
        assert!(refusal("POST", route, &ok).is_none());
        let field = |body: Value| {
            let e = refusal("POST", route, &body).expect("refused");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            e.extra.expect("details").0["field"].clone()
        };
        let mut missing = ok.clone();
        missing.as_object_mut().unwrap().remove("name");
        assert_eq!(field(missing), "name");
        let mut short = ok.clone();
        short["parent_id"] = json!("ede9f834");
        assert_eq!(field(short), "parent_id");
        let mut typed = ok.clone();
        typed["enabled"] = json!("yes");
        assert_eq!(field(typed), "enabled");
        let mut outside = ok;
        outside["kind"] = json!("galaxy");
        assert_eq!(field(outside), "kind");
    }
}

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
#[cfg(test)]
use serde_json::Value;
use serde_json::json;

use super::state::ApiError;
use crate::spec::{Refused, Spec};

const DOCUMENT: &str = include_str!("../../specs/acronis-account-management-v2.openapi.json");

// The notes: a batch read takes `uuids` or `parent_id` or `subtree_root_id` (table row 5;
// the handler refuses a read with none of them), and a page after the first needs only
// `limit` and `after`, whose cursor encodes the filters (Paging).
static SPEC: LazyLock<Spec> = LazyLock::new(|| {
    Spec::parse(DOCUMENT, "/api/2", true)
        .optional_query("GET", "/api/2/tenants", "uuids")
        .cursor_param("after")
});

/// The error Acronis answers a refused request with, naming the first offending field.
fn answer(refused: Refused) -> ApiError {
    let (what, violations) = match refused {
        Refused::Query(v) => ("Request query".to_owned(), v),
        Refused::Body { schema, violations } => {
            (format!("Request body does not match {schema}"), violations)
        }
    };
    let (field, info) = violations
        .into_iter()
        .next()
        .map(|v| (v.field, v.message))
        .unwrap_or_default();
    let mut e = ApiError::new(StatusCode::BAD_REQUEST, 400, format!("{what}: {info}"));
    e.extra = Some((json!({"info": info, "field": field}), json!({})));
    e
}

/// The error Acronis would answer `body` with, if any.
#[cfg(test)]
fn refusal(method: &str, route: &str, body: &Value) -> Option<ApiError> {
    let (schema, violations) = SPEC.check(method, route, body)?;
    (!violations.is_empty()).then(|| answer(Refused::Body { schema, violations }))
}

/// Middleware of the API routes: a query or body the document refuses gets the vendor's 400.
pub async fn validate(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    crate::spec::guard(&SPEC, matched, req, next, |refused| {
        answer(refused).into_response()
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

    #[test]
    fn query_parameters_are_required_and_typed_as_documented_unless_the_notes_say_otherwise() {
        let field = |method: &str, route: &str, q: &str| {
            let v = SPEC.check_query(method, route, Some(q));
            (!v.is_empty()).then(|| {
                let e = answer(Refused::Query(v));
                assert_eq!(e.status, StatusCode::BAD_REQUEST);
                e.extra.expect("details").0["field"].clone()
            })
        };
        assert_eq!(
            field("GET", "/api/2/search", "tenant=t&text=abc&limit=5"),
            None
        );
        assert_eq!(
            field("GET", "/api/2/search", "tenant=t"),
            Some(json!("text"))
        );
        assert_eq!(
            field("GET", "/api/2/search", "tenant=t&text=abc&limit=five"),
            Some(json!("limit"))
        );
        assert_eq!(
            field("DELETE", "/api/2/tenants/{tenant_id}", "version=v1"),
            Some(json!("version"))
        );
        // The document requires `uuids`; the notes allow `parent_id` instead, and a next page
        // with only `limit` and `after`.
        assert_eq!(field("GET", "/api/2/tenants", "parent_id=p"), None);
        assert_eq!(
            field("GET", "/api/2/tenants/usages", "limit=2&after=c"),
            None
        );
        assert_eq!(
            field("GET", "/api/2/tenants/usages", "limit=2"),
            Some(json!("tenants"))
        );
    }
}

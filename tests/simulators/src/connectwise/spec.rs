//! Request bodies checked against ConnectWise's own OpenAPI document
//! (`tests/simulators/specs/connectwise-manage.openapi.json`, a subset of Manage 2025.8; see
//! the SOURCE file beside it), so that the simulator refuses what the real API refuses: a
//! required field missing, a value of the wrong type, a value outside an enum, a string longer
//! than the "Max length: N" its description states. PATCH operations are checked against the
//! field their path names; query parameters against their declared types. The answer is
//! ConnectWise's: 400 `InvalidObject` with one `errors[]` entry (`code`, `message`,
//! `resource`, `field`) per offending field.
//!
//! The constraints are read from the document, not kept by hand. Fields the document does not
//! name are let through (the API ignores them); `null` counts as absent.

use std::sync::LazyLock;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::spec::{Refused, Spec, Violation, ViolationKind};

const DOCUMENT: &str = include_str!("../../specs/connectwise-manage.openapi.json");

static SPEC: LazyLock<Spec> = LazyLock::new(|| Spec::parse(DOCUMENT, "", false));

/// `CatalogItem` → `catalogItem`, the resource name ConnectWise's errors carry.
fn resource_name(schema: &str) -> String {
    let mut c = schema.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// ConnectWise's `errors[]` entries for `violations` of `resource`.
fn entries(resource: &str, violations: Vec<Violation>) -> Vec<Value> {
    violations
        .into_iter()
        .map(|v| {
            let code = match v.kind {
                ViolationKind::Missing => "MissingRequiredField",
                ViolationKind::Invalid => "InvalidField",
                ViolationKind::NotAnObject => "InvalidObject",
            };
            json!({"code": code, "message": v.message, "resource": resource, "field": v.field})
        })
        .collect()
}

/// The `errors[]` ConnectWise would answer `body` with (empty: accepted), and its resource.
#[cfg(test)]
fn errors(method: &str, route: &str, body: &Value) -> Option<(String, Vec<Value>)> {
    let (schema, violations) = SPEC.check(method, route, body)?;
    let resource = resource_name(&schema);
    let errors = entries(&resource, violations);
    Some((resource, errors))
}

/// ConnectWise's 400 for a refused request.
fn answer(refused: Refused) -> ApiError {
    match refused {
        Refused::Query(violations) => ApiError::Invalid {
            message: "The request query is invalid".into(),
            errors: entries("query", violations),
        },
        Refused::Body { schema, violations } => {
            let resource = resource_name(&schema);
            ApiError::Invalid {
                message: format!("{resource} object is invalid"),
                errors: entries(&resource, violations),
            }
        }
    }
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
    use crate::spec::BodySchema;

    #[test]
    fn reads_the_operations_of_the_document() {
        assert_eq!(
            SPEC.body("POST", "/procurement/catalog"),
            Some(&BodySchema::Object("CatalogItem".into()))
        );
        assert_eq!(
            SPEC.body("PATCH", "/finance/agreements/{id}/additions/{child_id}"),
            Some(&BodySchema::Patch("Addition".into()))
        );
    }

    #[test]
    fn each_constraint_class_names_its_field() {
        let check = |body: Value| errors("POST", "/procurement/catalog", &body).unwrap().1;
        let ok = json!({"identifier": "ACR-1", "description": "Acronis", "customerDescription": "x",
                        "subcategory": {"id": 1}, "type": {"id": 1}, "productClass": "Service"});
        assert!(check(ok.clone()).is_empty());
        let mut long = ok.clone();
        long["description"] = json!("x".repeat(61));
        assert_eq!(check(long)[0]["field"], "description");
        let mut missing = ok.clone();
        missing.as_object_mut().unwrap().remove("identifier");
        assert_eq!(check(missing)[0]["code"], "MissingRequiredField");
        let mut typed = ok.clone();
        typed["subcategory"] = json!({"id": "one"});
        assert_eq!(check(typed)[0]["field"], "subcategory/id");
        let mut outside = ok;
        outside["productClass"] = json!("Gadget");
        assert_eq!(check(outside)[0]["field"], "productClass");
    }

    #[test]
    fn a_query_parameter_of_the_wrong_type_is_refused() {
        let refused = |q: &str| {
            let v = SPEC.check_query("GET", "/company/companies", Some(q));
            (!v.is_empty()).then(|| answer(Refused::Query(v)))
        };
        assert!(refused("page=2&pageSize=50&conditions=id%3D1").is_none());
        let Some(ApiError::Invalid { errors, .. }) = refused("page=two") else {
            panic!("refused");
        };
        assert_eq!(errors[0]["field"], "page");
        assert_eq!(errors[0]["code"], "InvalidField");
    }

    #[test]
    fn patch_operations_are_checked_against_their_field() {
        let check = |body: Value| errors("PATCH", "/service/tickets/{id}", &body).unwrap().1;
        assert!(check(json!([{"op": "replace", "path": "status/id", "value": 3}])).is_empty());
        assert!(check(json!([{"op": "replace", "path": "summary", "value": "ok"}])).is_empty());
        assert_eq!(
            check(json!([{"op": "replace", "path": "summary", "value": "x".repeat(101)}]))[0]["field"],
            "summary"
        );
        assert_eq!(
            check(json!([{"op": "replace", "path": "noSuchField", "value": 1}]))[0]["code"],
            "InvalidField"
        );
    }
}

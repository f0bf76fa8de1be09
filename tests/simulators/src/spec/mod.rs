//! Requests checked against a vendor's OpenAPI document, so that a simulator refuses what
//! the real API refuses: a query parameter missing or of the wrong type ([`query`]); in a
//! body, a required field missing, a value of the wrong type, a value outside
//! its enum, a string outside its length. The constraints are read from the document (JSON
//! Schema keywords, and the limits its descriptions state: ConnectWise's "Max length: N",
//! Acronis's "supports following values: a, b"), never kept by hand. Fields the document does
//! not name are let through (the APIs ignore them); a `null` value is not checked. Each
//! simulator renders the violations in its vendor's error shape.

mod query;

use std::collections::HashMap;

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// Bodies larger than this are refused unread.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// What a request was refused for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Its query string (a required parameter missing, a value of the wrong type).
    Query(Vec<Violation>),
    /// Its JSON body, checked against `schema`.
    Body {
        schema: String,
        violations: Vec<Violation>,
    },
}

/// The middleware both simulators put innermost on their API routes: a request whose query
/// string, or whose POST, PUT or PATCH JSON body, `spec` refuses gets `answer(refused)`
/// before any handler sees it; everything else goes on unchanged.
pub async fn guard(
    spec: &Spec,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
    answer: impl Fn(Refused) -> Response,
) -> Response {
    let Some(route) = matched.map(|m| m.as_str().to_owned()) else {
        return next.run(req).await;
    };
    let method = req.method().as_str().to_owned();
    let violations = spec.check_query(&method, &route, req.uri().query());
    if !violations.is_empty() {
        return answer(Refused::Query(violations));
    }
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes)
        && let Some((schema, violations)) = spec.check(&method, &route, &value)
        && !violations.is_empty()
    {
        return answer(Refused::Body { schema, violations });
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Why a body was refused, for one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// `description`, `subcategory/id`, `contact/email`.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    Missing,
    Invalid,
    NotAnObject,
}

/// What an operation's body must be.
#[derive(Debug, Clone, PartialEq)]
pub enum BodySchema {
    /// An object of this schema (POST, PUT).
    Object(String),
    /// ConnectWise PATCH operations (`[{op, path, value}]`) on an object of this schema.
    Patch(String),
}

/// A document's schemas, and its operations' bodies and query parameters by (method, path
/// with `{}` for parameters).
#[derive(Debug)]
pub struct Spec {
    schemas: Map<String, Value>,
    bodies: HashMap<(String, String), BodySchema>,
    queries: HashMap<(String, String), Vec<query::QueryParam>>,
    /// A parameter that continues a walk whose filters its cursor encodes (Acronis's
    /// `after`): a request carrying it needs no required filter.
    cursor: Option<&'static str>,
    /// Whether a required field sent as `null` is present. Acronis: yes (its notes: a quota
    /// with `value: null` is unlimited); ConnectWise: no (a null field is not given).
    null_is_present: bool,
}

/// `/finance/agreements/{parentId}/additions/{id}` → `/finance/agreements/{}/additions/{}`.
pub fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
}

/// `maxLength`, or ConnectWise's "Max length: 60;" in the description.
fn max_length(schema: &Value) -> Option<usize> {
    if let Some(n) = schema.get("maxLength").and_then(Value::as_u64) {
        return usize::try_from(n).ok();
    }
    let d = schema.get("description")?.as_str()?;
    let rest = &d[d.find("Max length:")? + "Max length:".len()..];
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `enum`, or Acronis's "supports following values: root, partner, folder" in the description.
fn allowed_values(schema: &Value) -> Option<Vec<String>> {
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        return Some(
            options
                .iter()
                .filter_map(|o| o.as_str().map(str::to_owned))
                .collect(),
        );
    }
    let d = schema.get("description")?.as_str()?;
    let rest = &d[d.find("following values:")? + "following values:".len()..];
    let list: Vec<String> = rest
        .split(',')
        .map(|v| v.trim().trim_end_matches('.').to_owned())
        .filter(|v| !v.is_empty() && !v.contains(' '))
        .collect();
    (!list.is_empty()).then_some(list)
}

impl Spec {
    /// Reads `text`; `prefix` is the servers' base path the simulator serves the paths under
    /// (`/api/2` for Acronis, nothing for ConnectWise, whose router is nested).
    pub fn parse(text: &str, prefix: &str, null_is_present: bool) -> Self {
        let doc: Value = serde_json::from_str(text).expect("a vendor spec is JSON");
        let schemas = doc["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut bodies = HashMap::new();
        let mut queries = HashMap::new();
        for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in ops.as_object().into_iter().flatten() {
                if !op.is_object() || method == "parameters" {
                    continue;
                }
                let key = (method.to_uppercase(), shape(&format!("{prefix}{path}")));
                let params = query::params(&doc, ops, op);
                if !params.is_empty() {
                    queries.insert(key.clone(), params);
                }
                let Some(schema) = op
                    .pointer("/requestBody/content/application~1json/schema")
                    .cloned()
                else {
                    continue;
                };
                let body = match (ref_name(&schema), schema.get("items").and_then(ref_name)) {
                    (Some(name), _) => BodySchema::Object(name.to_owned()),
                    (None, Some("PatchOperation")) => {
                        // The object patched: what the operation answers with.
                        let target = op["responses"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .filter_map(|(_, r)| r["content"].as_object())
                            .flat_map(|c| c.values())
                            .find_map(|c| ref_name(&c["schema"]).map(str::to_owned));
                        match target {
                            Some(t) => BodySchema::Patch(t),
                            None => continue,
                        }
                    }
                    _ => continue,
                };
                bodies.insert(key, body);
            }
        }
        Self {
            schemas,
            bodies,
            queries,
            cursor: None,
            null_is_present,
        }
    }

    /// Where the vendor's notes say a parameter the document requires may be left out (for
    /// an alternative the handler checks).
    pub fn optional_query(mut self, method: &str, path: &str, name: &str) -> Self {
        if let Some(params) = self.queries.get_mut(&(method.to_owned(), shape(path))) {
            for p in params.iter_mut().filter(|p| p.name == name) {
                p.required = false;
            }
        }
        self
    }

    /// Requests carrying the parameter `name` continue a cursor walk and need no required
    /// filter (the cursor encodes them).
    pub fn cursor_param(mut self, name: &'static str) -> Self {
        self.cursor = Some(name);
        self
    }

    /// What the document says the body of `method` on the route `path` must be.
    pub fn body(&self, method: &str, path: &str) -> Option<&BodySchema> {
        self.bodies.get(&(method.to_owned(), shape(path)))
    }

    /// The violations of `body` sent with `method` to the route `path`, and the schema it was
    /// checked against; `None` when the document says nothing about that body.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Option<(String, Vec<Violation>)> {
        Some(match self.body(method, path)? {
            BodySchema::Object(s) => (s.clone(), self.object(s, body, "")),
            BodySchema::Patch(s) => (s.clone(), self.patch(s, body)),
        })
    }

    fn object(&self, schema: &str, v: &Value, prefix: &str) -> Vec<Violation> {
        let Some(s) = self.schemas.get(schema) else {
            return Vec::new();
        };
        let Some(obj) = v.as_object() else {
            let field = prefix.trim_end_matches('/').to_owned();
            return vec![Violation {
                kind: ViolationKind::NotAnObject,
                message: format!(
                    "{} must be an object",
                    if field.is_empty() { "the body" } else { &field }
                ),
                field,
            }];
        };
        let mut out = Vec::new();
        for name in s["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            let given = match obj.get(name) {
                None => false,
                Some(v) => self.null_is_present || !v.is_null(),
            };
            if !given {
                let field = format!("{prefix}{name}");
                out.push(Violation {
                    kind: ViolationKind::Missing,
                    message: format!("The {field} field is required."),
                    field,
                });
            }
        }
        let props = s["properties"].as_object();
        for (name, value) in obj {
            if let Some(p) = props.and_then(|p| p.get(name)) {
                out.extend(self.value(p, value, &format!("{prefix}{name}")));
            }
        }
        out
    }

    fn value(&self, p: &Value, v: &Value, field: &str) -> Vec<Violation> {
        if v.is_null() {
            return Vec::new();
        }
        if let Some(name) = ref_name(p) {
            return match self.schemas.get(name) {
                // A named scalar (an enum of roles, say) is checked as itself.
                Some(target) if target["type"].as_str().is_some_and(|t| t != "object") => {
                    self.value(&target.clone(), v, field)
                }
                _ => self.object(name, v, &format!("{field}/")),
            };
        }
        let invalid = |message: String| {
            vec![Violation {
                kind: ViolationKind::Invalid,
                field: field.to_owned(),
                message,
            }]
        };
        match p["type"].as_str() {
            Some("string") => {
                let Some(s) = v.as_str() else {
                    return invalid(format!("The {field} field must be a string."));
                };
                if let Some(options) = allowed_values(p)
                    && !options.iter().any(|o| o == s)
                {
                    return invalid(format!(
                        "{s:?} is not a valid value for {field}; expected one of {}.",
                        options.join(", ")
                    ));
                }
                let len = s.chars().count();
                if let Some(max) = max_length(p).filter(|max| len > *max) {
                    return invalid(format!(
                        "The field {field} must be a string with a maximum length of {max}."
                    ));
                }
                match p.get("minLength").and_then(Value::as_u64) {
                    Some(min) if (len as u64) < min => invalid(format!(
                        "The field {field} must be a string with a minimum length of {min}."
                    )),
                    _ => Vec::new(),
                }
            }
            Some("integer") if !(v.is_i64() || v.is_u64()) => {
                invalid(format!("The {field} field must be an integer."))
            }
            Some("number") if !v.is_number() => {
                invalid(format!("The {field} field must be a number."))
            }
            Some("boolean") if !v.is_boolean() => {
                invalid(format!("The {field} field must be true or false."))
            }
            Some("array") => match v.as_array() {
                None => invalid(format!("The {field} field must be an array.")),
                Some(items) => items
                    .iter()
                    .enumerate()
                    .flat_map(|(i, item)| self.value(&p["items"], item, &format!("{field}/{i}")))
                    .collect(),
            },
            _ => Vec::new(),
        }
    }

    /// `[{op, path, value}]`: each operation names a field of `schema` and sets it to a value
    /// that field accepts.
    fn patch(&self, schema: &str, v: &Value) -> Vec<Violation> {
        let Some(ops) = v.as_array() else {
            return vec![Violation {
                kind: ViolationKind::NotAnObject,
                field: String::new(),
                message: "A PATCH body is an array of operations.".into(),
            }];
        };
        let mut out = Vec::new();
        for op in ops {
            let path = op["path"].as_str().unwrap_or_default();
            let field = path.trim_start_matches('/');
            let verb = op["op"].as_str().unwrap_or_default().to_ascii_lowercase();
            let invalid = |message: String| Violation {
                kind: ViolationKind::Invalid,
                field: field.to_owned(),
                message,
            };
            if !matches!(verb.as_str(), "add" | "replace" | "remove") {
                out.push(invalid(format!(
                    "{verb:?} is not a PATCH operation (add, replace or remove)."
                )));
                continue;
            }
            match self.field_at(schema, path) {
                None => out.push(invalid(format!("{field} is not a field of {schema}."))),
                Some(p) if verb != "remove" => out.extend(self.value(&p, &op["value"], field)),
                Some(_) => {}
            }
        }
        out
    }

    /// The schema of the field at a PATCH path (`status/id`), matched case-insensitively.
    fn field_at(&self, schema: &str, path: &str) -> Option<Value> {
        let mut current = self.schemas.get(schema)?.clone();
        for seg in path.trim_start_matches('/').split('/') {
            if let Some(name) = ref_name(&current) {
                current = self.schemas.get(name)?.clone();
            }
            let props = current["properties"].as_object()?;
            current = props
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(seg))
                .map(|(_, v)| v.clone())?;
        }
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn limits_come_from_keywords_and_descriptions() {
        assert_eq!(max_length(&json!({"maxLength": 36})), Some(36));
        assert_eq!(
            max_length(&json!({"description": " Max length: 60;"})),
            Some(60)
        );
        assert_eq!(max_length(&json!({"description": "A name"})), None);
        assert_eq!(
            allowed_values(
                &json!({"description": "Current implementations supports following values: root, partner, folder"})
            ),
            Some(vec!["root".into(), "partner".into(), "folder".into()])
        );
        assert_eq!(
            allowed_values(&json!({"enum": ["Billable", "DoNotBill"]})),
            Some(vec!["Billable".into(), "DoNotBill".into()])
        );
    }
}

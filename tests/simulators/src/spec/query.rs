//! Query parameters checked against the document: a required one given, and an integer,
//! number or boolean one that parses as such. Parameter names match case-insensitively (both
//! APIs accept `pageSize` and `pagesize`); parameters the document does not name are let
//! through.

use serde_json::Value;

use super::{Spec, Violation, ViolationKind, shape};

/// One query parameter of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct QueryParam {
    pub name: String,
    pub required: bool,
    /// `integer`, `number`, `boolean`, `string`, …
    pub kind: Option<String>,
}

/// The query parameters of `op` (and of its path item), `$ref`s resolved in `doc`.
pub(super) fn params(doc: &Value, path_item: &Value, op: &Value) -> Vec<QueryParam> {
    let listed = [&op["parameters"], &path_item["parameters"]];
    listed
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|p| match p.get("$ref").and_then(Value::as_str) {
            Some(r) => doc.pointer(r.trim_start_matches('#')),
            None => Some(p),
        })
        .filter(|p| p["in"] == "query")
        .filter_map(|p| {
            Some(QueryParam {
                name: p["name"].as_str()?.to_owned(),
                required: p["required"].as_bool().unwrap_or(false),
                kind: p["schema"]["type"].as_str().map(str::to_owned),
            })
        })
        .collect()
}

impl Spec {
    /// The violations of the query string `query` sent with `method` to the route `path`.
    pub fn check_query(&self, method: &str, path: &str, query: Option<&str>) -> Vec<Violation> {
        let Some(params) = self.queries.get(&(method.to_owned(), shape(path))) else {
            return Vec::new();
        };
        let given: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let continues = self
            .cursor
            .is_some_and(|c| given.iter().any(|(k, _)| k.eq_ignore_ascii_case(c)));
        let mut out = Vec::new();
        for p in params {
            let values: Vec<&str> = given
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(&p.name))
                .map(|(_, v)| v.as_str())
                .collect();
            if values.is_empty() && p.required && !continues {
                out.push(Violation {
                    kind: ViolationKind::Missing,
                    field: p.name.clone(),
                    message: format!("The {} query parameter is required.", p.name),
                });
            }
            for v in values {
                let v = v.trim();
                let (ok, what) = match p.kind.as_deref() {
                    Some("integer") => (v.parse::<i64>().is_ok(), "an integer"),
                    Some("number") => (v.parse::<f64>().is_ok_and(f64::is_finite), "a number"),
                    Some("boolean") => (
                        v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
                        "true or false",
                    ),
                    _ => (true, ""),
                };
                if !ok {
                    out.push(Violation {
                        kind: ViolationKind::Invalid,
                        field: p.name.clone(),
                        message: format!("The {} query parameter must be {what}.", p.name),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec() -> Spec {
        let doc = json!({
            "paths": {"/things/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Version"}],
                "get": {"parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "ratio", "in": "query", "schema": {"type": "number"}},
                    {"name": "deep", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}
                ]}
            }},
            "components": {"schemas": {}, "parameters": {
                "Version": {"name": "version", "in": "query", "required": true, "schema": {"type": "integer"}}
            }}
        });
        Spec::parse(&doc.to_string(), "/api", false)
    }

    #[test]
    fn required_and_typed_parameters_are_checked_by_name_case_insensitively() {
        let s = spec();
        let check = |q: &str| -> Vec<(ViolationKind, String)> {
            s.check_query("GET", "/api/things/{id}", Some(q))
                .into_iter()
                .map(|v| (v.kind, v.field))
                .collect()
        };
        assert!(check("version=3&limit=10&ratio=0.5&deep=TRUE&other=x").is_empty());
        assert!(check("VERSION=3&Limit=10").is_empty());
        assert_eq!(check(""), [(ViolationKind::Missing, "version".to_owned())]);
        assert_eq!(
            check("version=3&limit=ten&ratio=NaN&deep=yes"),
            [
                (ViolationKind::Invalid, "limit".to_owned()),
                (ViolationKind::Invalid, "ratio".to_owned()),
                (ViolationKind::Invalid, "deep".to_owned()),
            ]
        );
        assert!(
            s.check_query("POST", "/api/things/{id}", None).is_empty(),
            "an operation the document does not have"
        );
    }
}

//! ConnectWise PATCH bodies (`[{op, path, value}]`, not strict RFC 6902) and the JSON merge
//! used by the control API.

use serde_json::{Map, Value};

/// Why a PATCH body was refused; becomes a 400 `InvalidObject`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchError(pub String);

fn segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Finds the member name in `obj` matching `key` case-insensitively (exact first).
fn member_name(obj: &Map<String, Value>, key: &str) -> String {
    if obj.contains_key(key) {
        return key.to_owned();
    }
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .cloned()
        .unwrap_or_else(|| key.to_owned())
}

fn set_path(
    target: &mut Value,
    segs: &[String],
    value: Value,
    path: &str,
) -> Result<(), PatchError> {
    let Some((head, rest)) = segs.split_first() else {
        *target = value;
        return Ok(());
    };
    match target {
        Value::Object(obj) => {
            let name = member_name(obj, head);
            if rest.is_empty() {
                obj.insert(name, value);
                Ok(())
            } else {
                let child = obj.entry(name).or_insert(Value::Null);
                if child.is_null() {
                    *child = Value::Object(Map::new());
                }
                set_path(child, rest, value, path)
            }
        }
        Value::Array(items) => {
            let idx = if head == "-" {
                items.len()
            } else {
                head.parse::<usize>().map_err(|_| {
                    PatchError(format!("invalid array index '{head}' in path '{path}'"))
                })?
            };
            if idx == items.len() && rest.is_empty() {
                items.push(value);
                return Ok(());
            }
            let item = items.get_mut(idx).ok_or_else(|| {
                PatchError(format!("array index {idx} out of range in path '{path}'"))
            })?;
            set_path(item, rest, value, path)
        }
        _ => Err(PatchError(format!(
            "cannot apply path '{path}': parent is not an object"
        ))),
    }
}

fn remove_path(target: &mut Value, segs: &[String], path: &str) -> Result<(), PatchError> {
    let Some((head, rest)) = segs.split_first() else {
        return Err(PatchError("cannot remove the whole object".into()));
    };
    match target {
        Value::Object(obj) => {
            let name = member_name(obj, head);
            if rest.is_empty() {
                obj.remove(&name);
                Ok(())
            } else if let Some(child) = obj.get_mut(&name) {
                remove_path(child, rest, path)
            } else {
                Ok(())
            }
        }
        Value::Array(items) => {
            let idx = head.parse::<usize>().map_err(|_| {
                PatchError(format!("invalid array index '{head}' in path '{path}'"))
            })?;
            if idx >= items.len() {
                return Err(PatchError(format!(
                    "array index {idx} out of range in path '{path}'"
                )));
            }
            if rest.is_empty() {
                items.remove(idx);
                Ok(())
            } else {
                remove_path(&mut items[idx], rest, path)
            }
        }
        _ => Err(PatchError(format!(
            "cannot apply path '{path}': parent is not an object"
        ))),
    }
}

/// Applies a ConnectWise PATCH body to `record`, returning the top-level fields it touched.
pub fn apply_patch(record: &mut Value, body: &Value) -> Result<Vec<String>, PatchError> {
    let Some(ops) = body.as_array() else {
        return Err(PatchError(
            "The request body must be an array of patch operations".into(),
        ));
    };
    let mut touched = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Some(obj) = op.as_object() else {
            return Err(PatchError(format!("patch operation {i} is not an object")));
        };
        let get = |k: &str| {
            obj.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v)
        };
        let Some(kind) = get("op").and_then(Value::as_str) else {
            return Err(PatchError(format!("patch operation {i} has no 'op'")));
        };
        let Some(path) = get("path").and_then(Value::as_str) else {
            return Err(PatchError(format!("patch operation {i} has no 'path'")));
        };
        let segs = segments(path);
        if segs.iter().any(String::is_empty) {
            return Err(PatchError(format!("invalid path '{path}'")));
        }
        match kind.to_ascii_lowercase().as_str() {
            "add" | "replace" => {
                let value = get("value").cloned().unwrap_or(Value::Null);
                set_path(record, &segs, value, path)?;
            }
            "remove" => remove_path(record, &segs, path)?,
            other => {
                return Err(PatchError(format!(
                    "Unsupported patch operation '{other}'; expected add, replace or remove"
                )));
            }
        }
        touched.push(segs[0].clone());
    }
    Ok(touched)
}

/// RFC 7396 JSON merge patch: objects merge recursively, `null` removes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    let entry = t.entry(k.clone()).or_insert(Value::Null);
                    if entry.is_object() && v.is_object() {
                        merge(entry, v);
                    } else {
                        *entry = v.clone();
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replace_with_and_without_leading_slash() {
        let mut v = json!({"id": 1, "quantity": 3, "status": {"id": 1, "name": "New"}});
        let touched = apply_patch(
            &mut v,
            &json!([
                {"op": "replace", "path": "quantity", "value": 7},
                {"op": "replace", "path": "/status", "value": {"id": 3}}
            ]),
        )
        .expect("applies");
        assert_eq!(v, json!({"id": 1, "quantity": 7, "status": {"id": 3}}));
        assert_eq!(touched, vec!["quantity", "status"]);
    }

    #[test]
    fn nested_add_remove_and_arrays() {
        let mut v = json!({"a": {"b": 1}, "items": [{"value": "x"}, {"value": "y"}], "c": true});
        apply_patch(
            &mut v,
            &json!([
                {"op": "add", "path": "a/d", "value": 2},
                {"op": "replace", "path": "/items/1/value", "value": "z"},
                {"op": "add", "path": "new/deep", "value": "n"},
                {"op": "remove", "path": "c"},
                {"op": "REPLACE", "path": "A/B", "value": 5}
            ]),
        )
        .expect("applies");
        assert_eq!(
            v,
            json!({"a": {"b": 5, "d": 2}, "items": [{"value": "x"}, {"value": "z"}], "new": {"deep": "n"}})
        );
    }

    #[test]
    fn refuses_bad_bodies() {
        let mut v = json!({"a": 1});
        assert!(apply_patch(&mut v, &json!({"op": "replace", "path": "a", "value": 2})).is_err());
        assert!(apply_patch(&mut v, &json!([{"op": "move", "path": "a", "value": 2}])).is_err());
        assert!(apply_patch(&mut v, &json!([{"op": "replace", "value": 2}])).is_err());
        assert!(
            apply_patch(
                &mut v,
                &json!([{"op": "replace", "path": "a/b", "value": 2}])
            )
            .is_err()
        );
        assert_eq!(v, json!({"a": 1}));
    }

    #[test]
    fn merge_patch() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge(&mut v, &json!({"a": {"b": null, "e": 4}, "d": [1]}));
        assert_eq!(v, json!({"a": {"c": 2, "e": 4}, "d": [1]}));
    }
}

//! Fields this version does not know, found by a round trip through its types.
//!
//! Two versions run side by side during a deploy or a rollback, so a stored item may carry a
//! field the reader's types do not have. Reading it is never an error (the types ignore it),
//! and writing the item back keeps it (`keep`). What an operator types (a config file) is
//! held to the types strictly instead (`paths`). A field is unknown when it is in what was
//! read but not in what the reader's types make of it again (`known`): a `null` counts as
//! absent (an `Option` left out serializes as nothing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The fields of a stored record that this version's type does not have, captured when the
/// record is read (`#[serde(flatten)]`) and written back with it, so that a record a newer
/// version wrote keeps what that version added when this one updates it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Unknown(pub BTreeMap<String, Value>);

impl Unknown {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The parts of `raw` that `known` (the same value after a round trip through the reader's
/// types) does not have, as a tree of the same shape; `None` when there are none.
pub fn unknown(raw: &Value, known: &Value) -> Option<Value> {
    match (raw, known) {
        (Value::Object(r), Value::Object(k)) => {
            let mut out = Map::new();
            for (key, value) in r {
                if value.is_null() {
                    continue;
                }
                match k.get(key) {
                    None | Some(Value::Null) => {
                        out.insert(key.clone(), value.clone());
                    }
                    Some(kv) => {
                        if let Some(u) = unknown(value, kv) {
                            out.insert(key.clone(), u);
                        }
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        // A list's unknown fields are kept only where both sides have an object at the index.
        (Value::Array(r), Value::Array(k)) if r.len() == k.len() => {
            let items: Vec<Value> = r
                .iter()
                .zip(k)
                .map(|(a, b)| unknown(a, b).unwrap_or(Value::Null))
                .collect();
            items
                .iter()
                .any(|v| !v.is_null())
                .then_some(Value::Array(items))
        }
        _ => None,
    }
}

/// `new` with the unknown parts `extra` put back where `new` has nothing of its own.
pub fn keep(new: &mut Value, extra: &Value) {
    match (new, extra) {
        (Value::Object(n), Value::Object(e)) => {
            for (key, value) in e {
                match n.get_mut(key) {
                    Some(existing) => keep(existing, value),
                    None => {
                        n.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(n), Value::Array(e)) if n.len() == e.len() => {
            for (a, b) in n.iter_mut().zip(e) {
                keep(a, b);
            }
        }
        _ => {}
    }
}

/// The dotted paths of every unknown field (`alerts.board_nme`, `products[2].fre`).
pub fn paths(raw: &Value, known: &Value) -> Vec<String> {
    fn walk(prefix: &str, tree: &Value, out: &mut Vec<String>) {
        match tree {
            Value::Object(m) => {
                for (key, value) in m {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    if value.is_object() || value.is_array() {
                        let before = out.len();
                        walk(&path, value, out);
                        if out.len() == before {
                            out.push(path);
                        }
                    } else {
                        out.push(path);
                    }
                }
            }
            Value::Array(items) => {
                for (i, value) in items.iter().enumerate() {
                    if !value.is_null() {
                        walk(&format!("{prefix}[{i}]"), value, out);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(tree) = unknown(raw, known) {
        walk("", &tree, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_fields_the_types_dropped_at_any_depth() {
        let raw = json!({"a": 1, "new": "x", "nested": {"b": true, "later": [1]}, "gone": null,
                         "list": [{"c": 1, "d": 2}, {"c": 3}]});
        let known = json!({"a": 1, "nested": {"b": true}, "list": [{"c": 1}, {"c": 3}], "dflt": 0});
        assert_eq!(
            unknown(&raw, &known),
            Some(json!({"new": "x", "nested": {"later": [1]}, "list": [{"d": 2}, null]}))
        );
        assert_eq!(
            paths(&raw, &known),
            vec!["list[0].d", "nested.later", "new"]
        );
        assert_eq!(unknown(&known, &known), None);
    }

    #[test]
    fn keeps_unknown_fields_without_overwriting_new_values() {
        let mut new = json!({"a": 2, "nested": {"b": false}, "list": [{"c": 9}, {"c": 3}]});
        let extra = json!({"new": "x", "nested": {"later": [1]}, "list": [{"d": 2}, null]});
        keep(&mut new, &extra);
        assert_eq!(
            new,
            json!({"a": 2, "new": "x", "nested": {"b": false, "later": [1]},
                   "list": [{"c": 9, "d": 2}, {"c": 3}]})
        );
    }
}

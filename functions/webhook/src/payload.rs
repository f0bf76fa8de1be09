//! Reading a callback body: PascalCase keys read case-insensitively, `ID` as a number or a
//! string of digits, `Entity` as an escaped JSON string parsed leniently (a hint only).

use serde_json::{Map, Value};
use shared::bus::Action;

/// Longest `MessageId` accepted (it becomes part of a DynamoDB key).
pub const MAX_MESSAGE_ID_LEN: usize = 256;

/// A JSON object body, or `None` when the body is not one.
pub fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// `obj[name]`, the exact spelling first, then any ASCII case (`MessageID`, `messageid`, ...).
pub fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// `Metadata.key_url` when it is a non-empty string.
pub fn key_url(obj: &Map<String, Value>) -> Option<&str> {
    field(obj, "Metadata")?
        .as_object()
        .and_then(|m| field(m, "key_url"))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// The record types the product acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Company,
    Agreement,
    /// A ticket (a technician's close may dismiss its alert: the ticket sync decides).
    Ticket,
}

/// A verified callback's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    /// `Type`, lower-cased.
    pub kind: String,
    pub action: Action,
    pub id: i64,
    pub message_id: String,
    /// `Entity` parsed, when it was valid JSON.
    pub entity: Option<Value>,
}

impl Callback {
    /// The product's kind, or `None` for a type it ignores.
    pub fn product_kind(&self) -> Option<Kind> {
        match self.kind.as_str() {
            "company" => Some(Kind::Company),
            "agreement" => Some(Kind::Agreement),
            "ticket" => Some(Kind::Ticket),
            _ => None,
        }
    }

    /// `Entity.company.id`, when the entity names it.
    pub fn entity_company_id(&self) -> Option<i64> {
        let entity = self.entity.as_ref()?.as_object()?;
        let company = field(entity, "company")?.as_object()?;
        as_id(field(company, "id")?)
    }
}

/// A field that is missing or has the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// A positive record id: a JSON integer or a string of ASCII digits.
pub fn as_id(v: &Value) -> Option<i64> {
    let id = match v {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()?
        }
        _ => return None,
    };
    (id > 0).then_some(id)
}

/// Reads and checks `Type`, `Action`, `ID` and `MessageId`, and parses `Entity` leniently.
pub fn validate(obj: &Map<String, Value>) -> Result<Callback, FieldError> {
    let kind = field(obj, "Type")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("Type", "Type must be a non-empty string"))?
        .to_ascii_lowercase();
    let action = field(obj, "Action")
        .and_then(Value::as_str)
        .and_then(|a| Action::parse(a.trim()))
        .ok_or_else(|| invalid("Action", "Action must be one of added, updated, deleted"))?;
    let id = field(obj, "ID")
        .and_then(as_id)
        .ok_or_else(|| invalid("ID", "ID must be a positive integer or a string of digits"))?;
    let message_id = field(obj, "MessageId")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= MAX_MESSAGE_ID_LEN)
        .ok_or_else(|| {
            invalid(
                "MessageId",
                format!(
                    "MessageId must be a non-empty string of at most {MAX_MESSAGE_ID_LEN} bytes"
                ),
            )
        })?
        .to_owned();
    let entity = match field(obj, "Entity") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok(),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => None,
    };
    Ok(Callback {
        kind,
        action,
        id,
        message_id,
        entity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_keys_in_any_case() {
        let o = obj(json!({
            "messageid": "m-1", "TYPE": "Company", "action": "ADDED", "Id": "42",
            "metadata": {"KEY_URL": "https://x/k"},
            "entity": "{\"id\":42,\"company\":{\"id\":\"7\"}}"
        }));
        assert_eq!(key_url(&o), Some("https://x/k"));
        let c = validate(&o).unwrap();
        assert_eq!(c.kind, "company");
        assert_eq!(c.action, Action::Added);
        assert_eq!(c.id, 42);
        assert_eq!(c.message_id, "m-1");
        assert_eq!(c.product_kind(), Some(Kind::Company));
        assert_eq!(c.entity_company_id(), Some(7));
    }

    #[test]
    fn prefers_the_exact_spelling() {
        let o = obj(json!({"messageid": "a", "MessageId": "b"}));
        assert_eq!(field(&o, "MessageId"), Some(&json!("b")));
    }

    #[test]
    fn names_the_bad_field() {
        let good = json!({"Type": "company", "Action": "updated", "ID": 3, "MessageId": "m"});
        assert!(validate(&obj(good.clone())).is_ok());
        for (f, v) in [
            ("Type", json!(5)),
            ("Type", json!("")),
            ("Action", json!("renamed")),
            ("Action", json!(null)),
            ("ID", json!("12a")),
            ("ID", json!(-1)),
            ("ID", json!(1.5)),
            ("ID", json!("")),
            ("MessageId", json!("")),
            ("MessageId", json!(9)),
            ("MessageId", json!("x".repeat(300))),
        ] {
            let mut o = obj(good.clone());
            o.insert(f.into(), v);
            assert_eq!(validate(&o).unwrap_err().field, f, "{o:?}");
        }
        for f in ["Type", "Action", "ID", "MessageId"] {
            let mut o = obj(good.clone());
            o.remove(f);
            assert_eq!(validate(&o).unwrap_err().field, f);
        }
    }

    #[test]
    fn reads_the_entity_leniently() {
        let base = json!({"Type": "agreement", "Action": "updated", "ID": 3, "MessageId": "m"});
        let mut o = obj(base.clone());
        o.insert("Entity".into(), json!("not json {"));
        let c = validate(&o).unwrap();
        assert_eq!(c.entity, None);
        assert_eq!(c.entity_company_id(), None);
        o.insert("Entity".into(), json!("{\"company\":{\"id\":19}}"));
        assert_eq!(validate(&o).unwrap().entity_company_id(), Some(19));
        o.insert("Entity".into(), json!("{\"company\":null}"));
        assert_eq!(validate(&o).unwrap().entity_company_id(), None);
        assert_eq!(validate(&obj(base)).unwrap().entity, None);
    }

    #[test]
    fn key_url_must_be_a_string() {
        assert_eq!(key_url(&obj(json!({}))), None);
        assert_eq!(key_url(&obj(json!({"Metadata": "x"}))), None);
        assert_eq!(key_url(&obj(json!({"Metadata": {"key_url": 1}}))), None);
        assert_eq!(key_url(&obj(json!({"Metadata": {"key_url": " "}}))), None);
        assert!(parse_object(b"[1]").is_none());
        assert!(parse_object(b"{").is_none());
        assert!(parse_object(b"{}").is_some());
    }
}

//! The Acronis connections of the secret: the flat `acronis_*` keys (the connection
//! `default`, as every stack deployed before there were several holds them) and any number
//! of `acronis.{name}.{field}` groups.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde_json::{Map, Value};

use super::AcronisCredentials;

pub use crate::domain::connection::{BadConnectionName, ConnectionName, DEFAULT_CONNECTION};

/// The fields of one connection, as the suffix of its keys.
const FIELDS: [&str; 3] = ["datacenter_url", "client_id", "client_secret"];

/// The key of one field of a connection in the secret.
pub fn key(name: &ConnectionName, field: &str) -> String {
    if name.is_default() {
        format!("acronis_{field}")
    } else {
        format!("acronis.{name}.{field}")
    }
}

/// A key's trimmed string value ("" when absent or not a string).
pub(super) fn text(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The connections of the secret's `map`; what is missing or bad is added to `missing` and
/// `invalid` by key name (never by value).
pub(super) fn parse(
    map: &Map<String, Value>,
    missing: &mut Vec<String>,
    invalid: &mut Vec<String>,
) -> BTreeMap<ConnectionName, AcronisCredentials> {
    let mut groups: BTreeMap<ConnectionName, Vec<String>> = BTreeMap::new();
    let flat: Vec<String> = FIELDS.iter().map(|f| format!("acronis_{f}")).collect();
    if flat.iter().any(|k| map.contains_key(k)) {
        groups.insert(ConnectionName::default_name(), flat.clone());
    }
    for key in map.keys().filter(|k| k.starts_with("acronis.")) {
        let rest = &key["acronis.".len()..];
        let parsed = rest.rsplit_once('.').and_then(|(name, field)| {
            let name = ConnectionName::parse(name).ok()?;
            FIELDS.contains(&field).then_some(name)
        });
        match parsed {
            // The flat keys already name `default`: two sources for one connection.
            Some(name) if name.is_default() && map.contains_key(&flat[0]) => {
                invalid.push(key.clone())
            }
            Some(name) => {
                groups.entry(name.clone()).or_insert_with(|| {
                    FIELDS
                        .iter()
                        .map(|f| format!("acronis.{name}.{f}"))
                        .collect()
                });
            }
            None => invalid.push(key.clone()),
        }
    }
    if groups.is_empty() {
        missing.extend(flat);
        return BTreeMap::new();
    }
    let mut out = BTreeMap::new();
    for (name, keys) in groups {
        let mut complete = true;
        for k in &keys {
            match map.get(k) {
                None | Some(Value::Null) => missing.push(k.clone()),
                Some(Value::String(s)) if !s.trim().is_empty() => continue,
                Some(_) => invalid.push(k.clone()),
            }
            complete = false;
        }
        if complete {
            out.insert(
                name.clone(),
                AcronisCredentials {
                    name,
                    datacenter_url: text(map, &keys[0]),
                    client_id: text(map, &keys[1]),
                    client_secret: SecretString::from(text(map, &keys[2])),
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Credentials, SecretError};
    use super::*;
    use secrecy::ExposeSecret as _;

    const CW: &str = r#""cw_site": "api-na.myconnectwise.net", "cw_company_id": "acme",
        "cw_public_key": "PUBLIC-abc", "cw_private_key": "PRIVATE-xyz", "cw_client_id": "cid""#;

    fn parse(acronis: &str) -> Result<Credentials, SecretError> {
        Credentials::parse("s", &format!("{{{CW}, {acronis}}}"))
    }

    fn fields(e: SecretError) -> (Vec<String>, Vec<String>) {
        match e {
            SecretError::Fields {
                missing, invalid, ..
            } => (missing, invalid),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn flat_keys_and_named_connections_side_by_side() {
        let c = parse(
            r#""acronis_datacenter_url": "https://eu2-cloud.acronis.com",
               "acronis_client_id": "eu", "acronis_client_secret": "EU-SECRET",
               "acronis.us-east.datacenter_url": "https://us5-cloud.acronis.com",
               "acronis.us-east.client_id": "us", "acronis.us-east.client_secret": "US-SECRET""#,
        )
        .unwrap();
        let names: Vec<&str> = c.acronis.keys().map(ConnectionName::as_str).collect();
        assert_eq!(names, ["default", "us-east"]);
        let us = &c.acronis["us-east"];
        assert_eq!(us.name.as_str(), "us-east");
        assert_eq!(us.datacenter_url, "https://us5-cloud.acronis.com");
        assert_eq!(us.client_secret.expose_secret(), "US-SECRET");
        assert_eq!(c.acronis["default"].client_id, "eu");
    }

    #[test]
    fn named_connections_alone_are_enough() {
        let c = parse(
            r#""acronis.eu.datacenter_url": "https://eu2-cloud.acronis.com",
               "acronis.eu.client_id": "eu", "acronis.eu.client_secret": "EU-SECRET""#,
        )
        .unwrap();
        assert_eq!(c.acronis.len(), 1);
        assert!(c.acronis.contains_key("eu"));
    }

    #[test]
    fn an_incomplete_connection_names_its_missing_keys_without_values() {
        let (missing, invalid) = fields(
            parse(
                r#""acronis.us.datacenter_url": "https://us5-cloud.acronis.com",
                   "acronis.us.client_secret": "US-SECRET",
                   "acronis.eu.client_id": 7, "acronis.eu.client_secret": "EU-SECRET",
                   "acronis.eu.datacenter_url": "https://eu2-cloud.acronis.com""#,
            )
            .unwrap_err(),
        );
        assert_eq!(missing, ["acronis.us.client_id"]);
        assert_eq!(invalid, ["acronis.eu.client_id"]);
    }

    #[test]
    fn bad_names_unknown_fields_and_a_second_default_are_refused() {
        let err = parse(
            r#""acronis_datacenter_url": "https://eu2-cloud.acronis.com",
               "acronis_client_id": "eu", "acronis_client_secret": "EU-SECRET",
               "acronis.default.client_id": "x", "acronis.US.client_id": "y",
               "acronis.us.password": "US-SECRET""#,
        )
        .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains("US-SECRET") && !text.contains("EU-SECRET"),
            "{text}"
        );
        let (missing, mut invalid) = fields(err);
        invalid.sort();
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(
            invalid,
            [
                "acronis.US.client_id",
                "acronis.default.client_id",
                "acronis.us.password"
            ]
        );
    }

    #[test]
    fn no_connection_at_all_is_missing_the_flat_keys() {
        let (missing, _) = fields(Credentials::parse("s", &format!("{{{CW}}}")).unwrap_err());
        assert_eq!(
            missing,
            [
                "acronis_datacenter_url",
                "acronis_client_id",
                "acronis_client_secret"
            ]
        );
    }

    #[test]
    fn names_are_checked_and_keys_written_back_as_read() {
        for bad in ["", "Default", "1eu", "eu_west", "a.b", &"x".repeat(33)] {
            assert!(ConnectionName::parse(bad).is_err(), "{bad}");
        }
        let us = ConnectionName::parse("us-5").unwrap();
        assert_eq!(key(&us, "client_id"), "acronis.us-5.client_id");
        assert_eq!(
            key(&ConnectionName::default(), "client_id"),
            "acronis_client_id"
        );
        let json = serde_json::to_string(&us).unwrap();
        assert_eq!(json, "\"us-5\"");
        assert!(serde_json::from_str::<ConnectionName>("\"US\"").is_err());
    }
}

//! The credentials secret as `acw connections` edits it: read whole (GetSecretValue), one
//! connection's keys added or removed by a pure function over its JSON object, every other
//! key kept exactly as it was, checked to still be a secret the functions can read, and
//! written whole (PutSecretValue). Nothing here prints, logs or returns a secret value: errors
//! name keys, never their values.

use std::collections::BTreeSet;

use anyhow::{Context, Result, anyhow, bail};
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value};
use shared::secrets::connections::key;
use shared::secrets::{AcronisCredentials, ConnectionName, Credentials};

/// The fields of a connection, as the suffix of its keys (`shared::secrets::connections`).
pub const FIELDS: [&str; 3] = ["datacenter_url", "client_id", "client_secret"];

/// The secret as read: its id, the version read, its object.
#[derive(Debug)]
pub struct SecretDoc {
    pub id: String,
    version: Option<String>,
    pub map: Map<String, Value>,
}

/// Why an edit is refused (by name, never by value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("the secret already has a connection named {0} (acw connections list)")]
    Present(ConnectionName),
    #[error("no Acronis connection named {name}: the secret has {known} (acw connections list)")]
    Absent { name: ConnectionName, known: String },
    #[error(
        "connection {0} already uses this API client of this data centre: one partner tenant is one connection"
    )]
    SameClient(ConnectionName),
    #[error(
        "{0} is the secret's last Acronis connection: the functions need one (add another first)"
    )]
    Last(ConnectionName),
}

/// The connections the secret's keys name, complete or not: the flat `acronis_*` keys are
/// `default`, each `acronis.{name}.{field}` its name.
pub fn names(map: &Map<String, Value>) -> BTreeSet<ConnectionName> {
    map.keys().filter_map(|k| owner(k)).collect()
}

/// The connection a key belongs to, if any.
fn owner(key: &str) -> Option<ConnectionName> {
    if let Some(field) = key.strip_prefix("acronis_") {
        return FIELDS.contains(&field).then(ConnectionName::default_name);
    }
    let (name, field) = key.strip_prefix("acronis.")?.rsplit_once('.')?;
    let name = ConnectionName::parse(name).ok()?;
    FIELDS.contains(&field).then_some(name)
}

/// Every key of connection `name` in the secret (for `default`: the flat keys, and any
/// `acronis.default.*`), sorted.
pub fn keys_of(map: &Map<String, Value>, name: &ConnectionName) -> Vec<String> {
    let prefix = format!("acronis.{name}.");
    let mut keys: Vec<String> = map
        .keys()
        .filter(|k| owner(k).as_ref() == Some(name) || k.starts_with(&prefix))
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// A field of connection `name` as the secret holds it (trimmed; `None` when absent, blank
/// or not a string). Only for what may be shown: never asked for `client_secret` but to
/// know whether it is there.
fn field(map: &Map<String, Value>, name: &ConnectionName, field: &str) -> Option<String> {
    // `default` is the flat keys, or `acronis.default.*` in a secret without them.
    let keys = [key(name, field), format!("acronis.{name}.{field}")];
    keys.iter()
        .find_map(|k| map.get(k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// What may be shown of a connection: never its client secret, only whether it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub datacenter_url: Option<String>,
    pub client_id: Option<String>,
    /// All three fields are there (not blank).
    pub complete: bool,
}

/// What may be shown of connection `name`.
pub fn shown(map: &Map<String, Value>, name: &ConnectionName) -> Shown {
    let datacenter_url = field(map, name, "datacenter_url");
    let client_id = field(map, name, "client_id");
    let has_secret = field(map, name, "client_secret").is_some();
    Shown {
        complete: datacenter_url.is_some() && client_id.is_some() && has_secret,
        datacenter_url,
        client_id,
    }
}

/// `map` with connection `c` added (its three keys, `shared::secrets::connections::key`);
/// refused when the secret already has a connection of that name, or one with the same API
/// client of the same data centre. The keys written, sorted.
pub fn with_connection(
    map: &Map<String, Value>,
    c: &AcronisCredentials,
) -> Result<(Map<String, Value>, Vec<String>), EditError> {
    if !keys_of(map, &c.name).is_empty() {
        return Err(EditError::Present(c.name.clone()));
    }
    // The same partner read through two connections would list its tenants twice.
    let url = c.datacenter_url.trim().trim_end_matches('/');
    if let Some(other) = names(map).into_iter().find(|n| {
        let o = shown(map, n);
        o.client_id.as_deref() == Some(c.client_id.trim())
            && o.datacenter_url.as_deref().map(|u| u.trim_end_matches('/')) == Some(url)
    }) {
        return Err(EditError::SameClient(other));
    }
    let mut out = map.clone();
    let values = [
        c.datacenter_url.clone(),
        c.client_id.clone(),
        c.client_secret.expose_secret().to_owned(),
    ];
    let mut written = Vec::new();
    for (field, value) in FIELDS.iter().zip(values) {
        let k = key(&c.name, field);
        out.insert(k.clone(), Value::String(value));
        written.push(k);
    }
    written.sort();
    Ok((out, written))
}

/// `map` without connection `name` (every key of it); refused when there is no such
/// connection, or when it is the last. The keys removed, sorted.
pub fn without_connection(
    map: &Map<String, Value>,
    name: &ConnectionName,
) -> Result<(Map<String, Value>, Vec<String>), EditError> {
    let present = names(map);
    let removed = keys_of(map, name);
    if removed.is_empty() {
        return Err(EditError::Absent {
            name: name.clone(),
            known: ConnectionName::listed(&present),
        });
    }
    if present.iter().all(|n| n == name) {
        return Err(EditError::Last(name.clone()));
    }
    let mut out = map.clone();
    for k in &removed {
        out.remove(k);
    }
    Ok((out, removed))
}

/// The edited secret as the functions will read it: refused (by key names) unless it parses.
pub fn check(id: &str, map: &Map<String, Value>) -> Result<Credentials> {
    Credentials::parse(id, &Value::Object(map.clone()).to_string())
        .context("the edited secret would not be readable; nothing was written")
}

impl SecretDoc {
    /// Reads the secret whole.
    pub async fn read(client: &aws_sdk_secretsmanager::Client, id: &str) -> Result<Self> {
        let (version, raw) = get(client, id).await?;
        let map = match serde_json::from_str::<Value>(&raw) {
            Ok(Value::Object(map)) => map,
            // serde's own messages can quote the content: say only what it is not.
            _ => bail!(
                "secret {id} is not a JSON object (fill it with the keys listed in the README)"
            ),
        };
        Ok(Self {
            id: id.to_owned(),
            version,
            map,
        })
    }

    /// The connections of the secret, parsed as the functions parse them.
    pub fn credentials(&self) -> Result<Credentials> {
        Credentials::parse(&self.id, &Value::Object(self.map.clone()).to_string())
            .context("reading the credentials secret")
    }

    /// Writes `map` as the secret's new version, unless the secret changed since it was
    /// read (another edit, a rotation): then nothing is written and the edit is to be run
    /// again. Secrets Manager has no conditional write, so this narrows the window to the
    /// two requests rather than closing it.
    pub async fn write(
        &self,
        client: &aws_sdk_secretsmanager::Client,
        map: &Map<String, Value>,
    ) -> Result<()> {
        let (now, _) = get(client, &self.id).await?;
        if now != self.version {
            bail!(
                "secret {} changed while this command ran; nothing was written: run it again",
                self.id
            );
        }
        client
            .put_secret_value()
            .secret_id(&self.id)
            .secret_string(Value::Object(map.clone()).to_string())
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "could not write secret {}: {}",
                    self.id,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e.into_service_error())
                )
            })?;
        Ok(())
    }
}

/// The secret's current version id and string.
async fn get(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<(Option<String>, String)> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "could not read secret {id}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e.into_service_error())
            )
        })?;
    let raw = out
        .secret_string()
        .ok_or_else(|| {
            anyhow!("secret {id} has no string value (binary secrets are not supported)")
        })?
        .to_owned();
    Ok((out.version_id().map(str::to_owned), raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn name(s: &str) -> ConnectionName {
        ConnectionName::parse(s).unwrap()
    }

    fn secret() -> Map<String, Value> {
        map(json!({
            "cw_site": "https://api-na.myconnectwise.net", "cw_company_id": "acme",
            "cw_public_key": "PUB", "cw_private_key": "PRIV", "cw_client_id": "cid",
            "cw_codebase": null,
            "acronis_datacenter_url": "https://eu2-cloud.acronis.com",
            "acronis_client_id": "eu", "acronis_client_secret": "EU-SECRET",
            "something_else": {"kept": [1, 2]},
        }))
    }

    fn creds(n: &str, url: &str) -> AcronisCredentials {
        AcronisCredentials {
            name: name(n),
            datacenter_url: url.into(),
            client_id: format!("{n}-client"),
            client_secret: SecretString::from(format!("{n}-SECRET")),
        }
    }

    /// Every key of `before` but `except` is in `after` with the same value.
    fn others_kept(before: &Map<String, Value>, after: &Map<String, Value>, except: &[String]) {
        for (k, v) in before.iter().filter(|(k, _)| !except.contains(k)) {
            assert_eq!(after.get(k), Some(v), "{k} changed");
        }
    }

    #[test]
    fn adding_writes_three_keys_and_touches_no_other() {
        let before = secret();
        let (after, written) =
            with_connection(&before, &creds("us-east", "https://us5-cloud.acronis.com")).unwrap();
        assert_eq!(
            written,
            [
                "acronis.us-east.client_id",
                "acronis.us-east.client_secret",
                "acronis.us-east.datacenter_url"
            ]
        );
        assert_eq!(after.len(), before.len() + 3);
        others_kept(&before, &after, &[]);
        assert_eq!(after["acronis.us-east.client_secret"], "us-east-SECRET");
        let parsed = check("s", &after).unwrap();
        let names: Vec<&str> = parsed.acronis.keys().map(ConnectionName::as_str).collect();
        assert_eq!(names, ["default", "us-east"]);
        assert_eq!(
            names_of(&after),
            ["default", "us-east"],
            "names() agrees with the parse"
        );
    }

    fn names_of(m: &Map<String, Value>) -> Vec<String> {
        names(m).into_iter().map(String::from).collect()
    }

    #[test]
    fn adding_default_writes_the_flat_keys_and_a_present_name_is_refused() {
        let mut only_us = secret();
        for k in [
            "acronis_datacenter_url",
            "acronis_client_id",
            "acronis_client_secret",
        ] {
            only_us.remove(k);
        }
        let (only_us, _) =
            with_connection(&only_us, &creds("us", "https://us5-cloud.acronis.com")).unwrap();
        let (both, written) =
            with_connection(&only_us, &creds("default", "https://eu2-cloud.acronis.com")).unwrap();
        assert_eq!(
            written,
            [
                "acronis_client_id",
                "acronis_client_secret",
                "acronis_datacenter_url"
            ]
        );
        others_kept(&only_us, &both, &[]);
        assert_eq!(
            with_connection(&both, &creds("us", "https://x.example")).unwrap_err(),
            EditError::Present(name("us"))
        );
        assert_eq!(
            with_connection(&both, &creds("default", "https://x.example")).unwrap_err(),
            EditError::Present(name("default"))
        );
        // Another name for a connection already there.
        let mut eu_again = creds("eu-again", "https://eu2-cloud.acronis.com/");
        eu_again.client_id = "eu".into();
        assert_eq!(
            with_connection(&secret(), &eu_again).unwrap_err(),
            EditError::SameClient(name("default"))
        );
        eu_again.datacenter_url = "https://us5-cloud.acronis.com".into();
        with_connection(&secret(), &eu_again).unwrap();
        // An incomplete group is present too: adding would mix two connections' keys.
        let mut partial = secret();
        partial.insert("acronis.half.client_id".into(), json!("x"));
        assert!(matches!(
            with_connection(&partial, &creds("half", "https://x.example")),
            Err(EditError::Present(_))
        ));
    }

    #[test]
    fn removing_takes_every_key_of_that_connection_only() {
        let (two, _) =
            with_connection(&secret(), &creds("us", "https://us5-cloud.acronis.com")).unwrap();
        let (after, removed) = without_connection(&two, &name("us")).unwrap();
        assert_eq!(
            removed,
            [
                "acronis.us.client_id",
                "acronis.us.client_secret",
                "acronis.us.datacenter_url"
            ]
        );
        assert_eq!(after, secret(), "back to what it was");

        let (after, removed) = without_connection(&two, &name("default")).unwrap();
        assert_eq!(
            removed,
            [
                "acronis_client_id",
                "acronis_client_secret",
                "acronis_datacenter_url"
            ]
        );
        others_kept(&two, &after, &removed);
        assert_eq!(names_of(&after), ["us"]);
        check("s", &after).unwrap();

        // A connection with an unknown field: every key of it goes.
        let mut odd = two.clone();
        odd.insert("acronis.us.password".into(), json!("US-SECRET"));
        let (after, removed) = without_connection(&odd, &name("us")).unwrap();
        assert_eq!(removed.len(), 4);
        assert_eq!(after, secret());
    }

    #[test]
    fn removing_an_absent_or_the_last_connection_is_refused() {
        let err = without_connection(&secret(), &name("us")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no Acronis connection named us: the secret has default (acw connections list)"
        );
        assert_eq!(
            without_connection(&secret(), &name("default")).unwrap_err(),
            EditError::Last(name("default"))
        );
        // `cw_*` and other keys are no connection's.
        assert_eq!(names_of(&secret()), ["default"]);
        let mut m = secret();
        m.insert("acronis_other".into(), json!("x"));
        m.insert("acronis.US.client_id".into(), json!("x"));
        assert_eq!(names_of(&m), ["default"]);
    }

    #[test]
    fn what_is_shown_of_a_connection_is_never_its_secret() {
        let mut m = secret();
        m.insert("acronis.us.client_id".into(), json!(" us "));
        m.insert("acronis.us.client_secret".into(), json!(""));
        assert_eq!(
            shown(&m, &name("default")),
            Shown {
                datacenter_url: Some("https://eu2-cloud.acronis.com".into()),
                client_id: Some("eu".into()),
                complete: true,
            }
        );
        assert_eq!(
            shown(&m, &name("us")),
            Shown {
                datacenter_url: None,
                client_id: Some("us".into()),
                complete: false,
            }
        );
        let text = format!(
            "{:?}",
            names(&m).iter().map(|n| shown(&m, n)).collect::<Vec<_>>()
        );
        assert!(!text.contains("EU-SECRET"), "{text}");
    }

    #[test]
    fn a_check_that_fails_names_keys_never_values() {
        let mut m = secret();
        m.insert("acronis.us.client_secret".into(), json!("US-SECRET"));
        let err = check("s", &m).unwrap_err();
        let text = format!("{err:#} {err:?}");
        assert!(text.contains("acronis.us.client_id"), "{text}");
        assert!(
            !text.contains("US-SECRET") && !text.contains("EU-SECRET"),
            "{text}"
        );
    }
}

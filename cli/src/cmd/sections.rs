//! Settings sections from the command line: `key=value` pairs applied to a section, the
//! leaves that changed, and one save that audits and prints them (or, with `--dry-run`, only
//! prints them). Shared by `acw provisioning|usage|billing … set`.

use anyhow::{Result, anyhow, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
pub use shared::domain::config::leaves;
use shared::domain::settings::Section;

use crate::ctx::Ctx;
use crate::output::{cell, emit, table};

/// One setting that differs: its dotted key, and its value before and after (`None`: unset,
/// or gone). The values are JSON because a section's leaves are of every kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingChange {
    pub setting: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl SettingChange {
    /// `setting | old | new` as table cells.
    pub fn cells(&self) -> Vec<String> {
        let shown = |v: &Option<Value>| cell(v.as_ref().unwrap_or(&Value::Null));
        vec![self.setting.clone(), shown(&self.old), shown(&self.new)]
    }
}

/// What a `… set` of a settings section changed (or, with `dry_run`, would change), and the
/// section as it is then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionSaved<T> {
    pub dry_run: bool,
    pub changes: Vec<SettingChange>,
    pub settings: T,
}

/// A section as a `setting | value` table.
pub fn render<T: Serialize>(value: &T) -> String {
    table(
        &["setting", "value"],
        leaves(value).into_iter().map(|(k, v)| vec![k, cell(&v)]),
    )
}

/// Every leaf that differs, as `{setting, old, new}` (a leaf gone shows `new: null`).
pub fn changes<T: Serialize>(old: &T, new: &T) -> Vec<SettingChange> {
    let a: std::collections::BTreeMap<String, Value> = leaves(old).into_iter().collect();
    let b: std::collections::BTreeMap<String, Value> = leaves(new).into_iter().collect();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| SettingChange {
            setting: k.clone(),
            old: a.get(k).cloned(),
            new: b.get(k).cloned(),
        })
        .collect()
}

/// Parses `raw` as the same kind of value as `current`.
fn parse_like(key: &str, current: &Value, raw: &str) -> Result<Value> {
    match current {
        Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "off" | "no" | "0" => Ok(Value::Bool(false)),
            _ => bail!("{key} is true or false, not {raw:?}"),
        },
        Value::Number(_) => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| anyhow!("{key} is a whole number, not {raw:?}")),
        Value::Array(_) => Ok(Value::Array(
            raw.split(',')
                .map(|s| Value::String(s.trim().to_owned()))
                .filter(|s| s.as_str() != Some(""))
                .collect(),
        )),
        _ => Ok(Value::String(raw.to_owned())),
    }
}

/// Applies `key=value` pairs to a settings value, refusing unknown keys and bad values.
pub fn apply_pairs<T>(current: &T, pairs: &[String]) -> Result<T>
where
    T: Serialize + DeserializeOwned,
{
    let mut value = serde_json::to_value(current)?;
    let known: Vec<String> = leaves(current).into_iter().map(|(k, _)| k).collect();
    for pair in pairs {
        let (key, raw) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("{pair:?} is not KEY=VALUE (e.g. auto_provisioning=true)"))?;
        let key = key.trim();
        if !known.iter().any(|k| k == key) {
            bail!(
                "unknown setting {key:?}; the settings are: {}",
                known.join(", ")
            );
        }
        let slot = slot_at(&mut value, key)?;
        if matches!(raw.trim(), "none" | "null") {
            // Unsets an optional setting (a required one is refused below).
            *slot = Value::Null;
        } else if slot.is_null() {
            // An unset optional: a number or a switch if the setting takes one, else text.
            let scalar = raw
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| raw.trim().parse::<bool>().map(Value::Bool))
                .unwrap_or_else(|_| Value::String(raw.to_owned()));
            *slot = scalar;
            if serde_json::from_value::<T>(value.clone()).is_err() {
                *slot_at(&mut value, key)? = Value::String(raw.to_owned());
            }
        } else {
            *slot = parse_like(key, slot, raw)?;
        }
    }
    serde_json::from_value(value).map_err(|e| anyhow!("{e} (in {})", pairs.join(" ")))
}

/// `pairs` applied to `old` and checked by `validate` (the section's own rules): every
/// `… set` refuses the same way, saving nothing, when either fails.
pub fn applied<T>(old: &T, pairs: &[String], validate: fn(&T) -> Result<(), String>) -> Result<T>
where
    T: Serialize + DeserializeOwned,
{
    let new = apply_pairs(old, pairs)?;
    validate(&new).map_err(|e| anyhow!("{e}; nothing was saved"))?;
    Ok(new)
}

/// The value at a dotted key.
fn slot_at<'a>(value: &'a mut Value, key: &str) -> Result<&'a mut Value> {
    let mut slot = value;
    for part in key.split('.') {
        slot = slot
            .get_mut(part)
            .ok_or_else(|| anyhow!("unknown setting {key:?}"))?;
    }
    Ok(slot)
}

/// Saves a section when it differs from what is stored, audits the change as `action`, and
/// prints what changed; with `dry_run`, prints what would change and saves nothing.
pub async fn save<T: Section + Clone + Send + Sync + 'static>(
    ctx: &Ctx,
    action: &str,
    old: &T,
    new: &T,
    dry_run: bool,
) -> Result<()> {
    let changes = changes(old, new);
    let report = SectionSaved {
        dry_run,
        changes,
        settings: new.clone(),
    };
    if !report.changes.is_empty() && !dry_run {
        ctx.store().await?.save_section(new).await?;
        // The audit entry's detail: `{"changes": […]}`.
        let detail = serde_json::to_value(Changes {
            changes: &report.changes,
        })?;
        ctx.audit(action, T::NAME, detail).await?;
    }
    let changes = &report.changes;
    emit(ctx, &report, || {
        let summary = if changes.is_empty() {
            "nothing changed".to_owned()
        } else {
            let verb = if dry_run { "would change" } else { "changed" };
            table(
                &[verb, "old", "new"],
                changes.iter().map(SettingChange::cells),
            )
        };
        format!("{summary}\n{}", render(new))
    });
    Ok(())
}

/// An audit entry's detail: the settings changed.
#[derive(Serialize)]
struct Changes<'a> {
    changes: &'a [SettingChange],
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::settings::ProvisioningSettings;

    #[test]
    fn pairs_set_nested_keys_and_refuse_unknown_ones_and_bad_values() {
        let s = ProvisioningSettings::default();
        let pairs = [
            "auto_provisioning=on".to_owned(),
            "deprovisioning.disable=true".to_owned(),
            "language=de".to_owned(),
        ];
        let new = apply_pairs(&s, &pairs).unwrap();
        assert!(new.auto_provisioning && new.deprovisioning.disable);
        assert_eq!(new.language, "de");

        let err = apply_pairs(&s, &["auto_provision=true".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("unknown setting"), "{err}");
        assert!(err.to_string().contains("deprovisioning.delete"), "{err}");
        let err = apply_pairs(&s, &["two_factor=maybe".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("true or false"), "{err}");
        assert!(apply_pairs(&s, &["two_factor".to_owned()]).is_err());
    }

    #[test]
    fn lists_split_on_commas() {
        let b = shared::domain::settings::BillingSettings::default();
        let new = apply_pairs(&b, &["payg_agreement_types=PAYG, metered".to_owned()]).unwrap();
        assert_eq!(new.payg_agreement_types, vec!["PAYG", "metered"]);
    }

    #[test]
    fn the_time_zone_is_an_iana_name_or_refused() {
        let b = shared::domain::settings::BillingSettings::default();
        let ny = apply_pairs(&b, &["time_zone=America/New_York".to_owned()]).unwrap();
        assert_eq!(ny.zone().name(), "America/New_York");
        let tokyo = apply_pairs(&ny, &["time_zone=Asia/Tokyo".to_owned()]).unwrap();
        assert_eq!(tokyo.zone().name(), "Asia/Tokyo");
        for bad in ["time_zone=Eastern Standard Time", "time_zone=EST-ish"] {
            let err = apply_pairs(&ny, &[bad.to_owned()]).unwrap_err().to_string();
            assert!(
                err.contains("unknown time zone") && err.contains("IANA"),
                "{err}"
            );
        }
        let unset = apply_pairs(&ny, &["time_zone=none".to_owned()]).unwrap();
        assert_eq!(unset.time_zone, None);
        assert_eq!(
            serde_json::to_value(&changes(&b, &ny)[0]).unwrap(),
            serde_json::json!({"setting": "time_zone", "old": null, "new": "America/New_York"})
        );
    }

    #[test]
    fn changes_name_each_leaf_that_differs() {
        let old = ProvisioningSettings::default();
        let new = apply_pairs(&old, &["deprovisioning.disable=true".to_owned()]).unwrap();
        let c = changes(&old, &new);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].setting, "deprovisioning.disable");
        assert!(changes(&old, &old).is_empty());
    }
}

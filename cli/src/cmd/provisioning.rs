//! `acw provisioning show|set`: the provisioning and deprovisioning settings.

use anyhow::{Result, anyhow, bail};
use serde_json::Value;
use shared::domain::settings::{self, ProvisioningSettings};

use crate::ctx::{self, Ctx};
use crate::output::{cell, emit, table};

/// Every leaf of a JSON object as `dotted.key = value`, in order.
pub fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

fn leaves<T: serde::Serialize>(value: &T) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    flatten(
        "",
        &serde_json::to_value(value).unwrap_or(Value::Null),
        &mut out,
    );
    out
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
    T: serde::Serialize + serde::de::DeserializeOwned,
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
        let mut slot = &mut value;
        for part in key.split('.') {
            slot = slot
                .get_mut(part)
                .ok_or_else(|| anyhow!("unknown setting {key:?}"))?;
        }
        *slot = parse_like(key, slot, raw)?;
    }
    Ok(serde_json::from_value(value)?)
}

/// The effective provisioning settings (defaults when never saved).
pub async fn load(store: &shared::store::Store) -> Result<ProvisioningSettings> {
    Ok(store
        .settings(settings::PROVISIONING)
        .await?
        .unwrap_or_default())
}

fn render(s: &ProvisioningSettings) -> String {
    table(
        &["setting", "value"],
        leaves(s).into_iter().map(|(k, v)| vec![k, cell(&v)]),
    )
}

pub async fn show(ctx: &Ctx) -> Result<()> {
    let store = ctx::store().await?;
    let s = load(&store).await?;
    emit(ctx, &serde_json::to_value(&s)?, || render(&s));
    Ok(())
}

pub async fn set(ctx: &Ctx, pairs: &[String]) -> Result<()> {
    let store = ctx::store().await?;
    let old = load(&store).await?;
    let new = apply_pairs(&old, pairs)?;
    new.validate()
        .map_err(|e| anyhow!("{e}; nothing was saved"))?;
    super::usage::save(
        ctx,
        &store,
        settings::PROVISIONING,
        "provisioning.set",
        &old,
        &new,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

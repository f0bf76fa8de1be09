//! `acw usage show|set|product` and `acw billing show|set`: how usage becomes a quantity
//! (unit, base, rounding, field; per product), and which agreements are pay-as-you-go.

use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::domain::settings::{self, BillingSettings};
use shared::domain::usage::{self as rules, UnitRule, UsageSettings};
use shared::store::Store;

use super::provisioning::{apply_pairs, flatten};
use crate::ctx::{self, Ctx};
use crate::output::{cell, emit, table};

fn leaves<T: Serialize>(value: &T) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    flatten(
        "",
        &serde_json::to_value(value).unwrap_or(Value::Null),
        &mut out,
    );
    out
}

fn render<T: Serialize>(value: &T) -> String {
    table(
        &["setting", "value"],
        leaves(value).into_iter().map(|(k, v)| vec![k, cell(&v)]),
    )
}

/// Every leaf that differs, as `{setting, old, new}` (a leaf gone shows `new: null`).
fn changes<T: Serialize>(old: &T, new: &T) -> Vec<Value> {
    let a: std::collections::BTreeMap<String, Value> = leaves(old).into_iter().collect();
    let b: std::collections::BTreeMap<String, Value> = leaves(new).into_iter().collect();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| json!({"setting": k, "old": a.get(k), "new": b.get(k)}))
        .collect()
}

/// Saves a settings section when it differs from what is stored, audits the change, and
/// prints what changed (shared by every `… set` command).
pub async fn save<T: Serialize + DeserializeOwned>(
    ctx: &Ctx,
    store: &Store,
    section: &str,
    action: &str,
    old: &T,
    new: &T,
) -> Result<()> {
    let changes = changes(old, new);
    if !changes.is_empty() {
        store.put_settings(section, new).await?;
        ctx::audit(store, action, section, json!({ "changes": changes })).await?;
    }
    let out = json!({ "changes": changes, "settings": new });
    emit(ctx, &out, || {
        let summary = if changes.is_empty() {
            "nothing changed".to_owned()
        } else {
            table(
                &["changed", "old", "new"],
                changes
                    .iter()
                    .map(|c| vec![cell(&c["setting"]), cell(&c["old"]), cell(&c["new"])]),
            )
        };
        format!("{summary}\n{}", render(new))
    });
    Ok(())
}

async fn load_usage(store: &Store) -> Result<UsageSettings> {
    Ok(store.settings(rules::SECTION).await?.unwrap_or_default())
}

pub async fn show(ctx: &Ctx) -> Result<()> {
    let store = ctx::store().await?;
    let s = load_usage(&store).await?;
    emit(ctx, &serde_json::to_value(&s)?, || {
        format!(
            "{}\nstorage: the rule of every storage product without its own rule; \
             unit kb|mb|gb|tb|raw|hours, base 1000|1024, rounding up|nearest|down, \
             decimals 0-6, field absolute_value|value",
            render(&s)
        )
    });
    Ok(())
}

/// `acw usage set storage.base=1000 storage.unit=tb ...`
pub async fn set(ctx: &Ctx, pairs: &[String]) -> Result<()> {
    let store = ctx::store().await?;
    let old = load_usage(&store).await?;
    // The per-product rules have their own command; here only the default rule.
    let storage = apply_pairs(
        &json!({ "storage": old.storage }),
        &pairs
            .iter()
            .map(|p| p.trim().to_owned())
            .collect::<Vec<_>>(),
    )
    .map_err(|e| anyhow!("{e} (per-product rules: `acw usage product PRODUCT KEY=VALUE...`)"))?;
    let new = UsageSettings {
        storage: serde_json::from_value(storage["storage"].clone())
            .map_err(|e| anyhow!("{e}; nothing was saved"))?,
        ..old.clone()
    };
    new.validate()
        .map_err(|e| anyhow!("{e}; nothing was saved"))?;
    save(ctx, &store, rules::SECTION, "usage.set", &old, &new).await
}

/// A product given as an id, or as the identifier of a mapped product.
async fn product_id(store: &Store, product: &str) -> Result<i64> {
    if let Ok(id) = product.trim().parse::<i64>() {
        return Ok(id);
    }
    let mappings = store.product_mappings().await?;
    mappings
        .iter()
        .find(|m| {
            m.product_identifier
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(product.trim()))
        })
        .and_then(|m| m.product_id)
        .ok_or_else(|| {
            anyhow!(
                "no mapped product {product:?}: give the ConnectWise product id, or the identifier of a mapped product (`acw products list`)"
            )
        })
}

/// `acw usage product PRODUCT unit=gb base=1000 ...`, or `--reset` to use the storage rule.
pub async fn product(ctx: &Ctx, product: &str, pairs: &[String], reset: bool) -> Result<()> {
    let store = ctx::store().await?;
    let id = product_id(&store, product).await?;
    let old = load_usage(&store).await?;
    let mut new = old.clone();
    match (reset, pairs.is_empty()) {
        (true, true) => {
            new.products.remove(&id);
        }
        (true, false) => bail!("--reset takes no KEY=VALUE; nothing was saved"),
        (false, true) => bail!(
            "give KEY=VALUE pairs (unit, base, rounding, decimals, field) or --reset; nothing was saved"
        ),
        (false, false) => {
            let current: UnitRule = old.rule(id);
            let rule =
                apply_pairs(&current, pairs).map_err(|e| anyhow!("{e}; nothing was saved"))?;
            new.products.insert(id, rule);
        }
    }
    new.validate()
        .map_err(|e| anyhow!("{e}; nothing was saved"))?;
    save(ctx, &store, rules::SECTION, "usage.product", &old, &new).await
}

async fn load_billing(store: &Store) -> Result<BillingSettings> {
    Ok(store.settings(settings::BILLING).await?.unwrap_or_default())
}

pub async fn billing_show(ctx: &Ctx) -> Result<()> {
    let store = ctx::store().await?;
    let b = load_billing(&store).await?;
    emit(ctx, &serde_json::to_value(&b)?, || {
        format!(
            "{}\nAn agreement whose type name contains one of these (any case) is pay-as-you-go.",
            render(&b)
        )
    });
    Ok(())
}

/// `acw billing set payg_agreement_types="Pay As You Go, Metered"`
pub async fn billing_set(ctx: &Ctx, pairs: &[String]) -> Result<()> {
    let store = ctx::store().await?;
    let old = load_billing(&store).await?;
    let new = apply_pairs(&old, pairs)?;
    new.validate()
        .map_err(|e| anyhow!("{e}; nothing was saved"))?;
    save(ctx, &store, settings::BILLING, "billing.set", &old, &new).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_list_added_changed_and_removed_leaves() {
        let old = UsageSettings::default();
        let mut new = old.clone();
        new.storage.base = 1000;
        new.products.insert(504, UnitRule::default());
        let c = changes(&old, &new);
        let keys: Vec<&str> = c.iter().filter_map(|v| v["setting"].as_str()).collect();
        assert!(keys.contains(&"storage.base"), "{keys:?}");
        assert!(keys.contains(&"products.504.unit"), "{keys:?}");
        let back = changes(&new, &old);
        assert!(
            back.iter()
                .any(|v| v["setting"] == "products.504.unit" && v["new"].is_null())
        );
        assert!(changes(&old, &old).is_empty());
    }
}

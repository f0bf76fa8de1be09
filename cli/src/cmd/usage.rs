//! `acw usage show|set|product`: how usage becomes a quantity (unit, base, rounding, field;
//! per product).

use anyhow::{Result, anyhow, bail};
use shared::domain::usage::{UnitRule, UsageSettings};
use shared::store::Store;

use super::args::DryRun;
use super::sections::{apply_pairs, render, save};
use crate::ctx::Ctx;
use crate::output::emit;

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum UsageCmd {
    /// Show the usage settings (defaults when never saved).
    Show,
    /// Set the storage rule, e.g. `storage.base=1000 storage.unit=tb storage.decimals=3`.
    Set {
        /// key=value pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Give one product its own rule (`unit=gb base=1000 rounding=nearest`), or `--reset`.
    Product {
        /// ConnectWise product id, or the identifier of a mapped product.
        product: String,
        /// key=value pairs: unit, base, rounding, decimals, field.
        #[arg(value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Remove the product's own rule (it follows the storage rule again).
        #[arg(long)]
        reset: bool,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: UsageCmd) -> Result<()> {
    match cmd {
        UsageCmd::Show => show(ctx).await,
        UsageCmd::Set { pairs, dry_run } => set(ctx, &pairs, dry_run.dry_run).await,
        UsageCmd::Product {
            product,
            pairs,
            reset,
            dry_run,
        } => self::product(ctx, &product, &pairs, reset, dry_run.dry_run).await,
    }
}

async fn load_usage(store: &Store) -> Result<UsageSettings> {
    Ok(store.section().await?)
}

pub async fn show(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let s = load_usage(store).await?;
    emit(ctx, &s, || {
        format!(
            "{}\nstorage: the rule of every storage product without its own rule; \
             unit kb|mb|gb|tb|raw|hours, base 1000|1024, rounding up|nearest|down, \
             decimals 0-6, field absolute_value|value",
            render(&s)
        )
    });
    Ok(())
}

/// The default rule alone, as `usage set` names its keys (`storage.unit=…`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DefaultRule {
    storage: UnitRule,
}

/// `acw usage set storage.base=1000 storage.unit=tb ...`
pub async fn set(ctx: &Ctx, pairs: &[String], dry_run: bool) -> Result<()> {
    let store = ctx.store().await?;
    let old = load_usage(store).await?;
    // The per-product rules have their own command; here only the default rule.
    let storage = apply_pairs(
        &DefaultRule {
            storage: old.storage,
        },
        &pairs
            .iter()
            .map(|p| p.trim().to_owned())
            .collect::<Vec<_>>(),
    )
    .map_err(|e| anyhow!("{e} (per-product rules: `acw usage product PRODUCT KEY=VALUE...`)"))?;
    let new = UsageSettings {
        storage: storage.storage,
        ..old.clone()
    };
    new.validate()
        .map_err(|e| anyhow!("{e}; nothing was saved"))?;
    save(ctx, "usage.set", &old, &new, dry_run).await
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
pub async fn product(
    ctx: &Ctx,
    product: &str,
    pairs: &[String],
    reset: bool,
    dry_run: bool,
) -> Result<()> {
    let store = ctx.store().await?;
    let id = product_id(store, product).await?;
    let old = load_usage(store).await?;
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
    save(ctx, "usage.product", &old, &new, dry_run).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The changes as `--json` prints them.
    fn changes<T: serde::Serialize>(old: &T, new: &T) -> Vec<serde_json::Value> {
        crate::cmd::sections::changes(old, new)
            .iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect()
    }

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

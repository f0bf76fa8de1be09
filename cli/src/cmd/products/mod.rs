//! `acw products list|settings|map|unmap|free|default-storage|auto-map`: which ConnectWise
//! catalog product stands for which Acronis offering item (the store's `ProductMapping`s,
//! checked against what the partner may enable on customers: `available_for_child`).
//! Mapping one item by hand is in [`mapping`].

mod mapping;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use shared::acronis::models::OfferingItem;
use shared::bootstrap::Deps;
use shared::domain::products::ProductSettings;
use shared::services::products::AutoMapReport;
use shared::store::{ProductMapping, RunRecord};

use self::mapping::{default_storage, free, map, unmap};
use super::args::DryRun;
use super::companies::RUN_NAME;
use crate::ctx::Ctx;
use crate::output::{emit, opt, table};

/// An offering item of `products list` (the report is the list of them), with its mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRow {
    pub offering_item: String,
    pub edition: Option<String>,
    #[serde(rename = "type")]
    pub item_type: Option<String>,
    pub infra_id: Option<String>,
    /// The storage's name, when Acronis names it.
    pub infra_name: Option<String>,
    pub measurement_unit: Option<String>,
    /// Still offered to customers (a mapping of an item no longer offered maps nothing).
    pub offered: bool,
    pub mapping: Option<MappingShown>,
}

/// An offering item's mapping, as the commands print it and audit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingShown {
    pub offering_item: String,
    pub infra_id: Option<String>,
    pub edition: Option<String>,
    pub product_id: Option<i64>,
    pub product_identifier: Option<String>,
    pub free: bool,
    pub default_storage: bool,
}

impl MappingShown {
    pub fn of(m: &ProductMapping) -> Self {
        Self {
            offering_item: m.offering_item.clone(),
            infra_id: m.infra_id.clone(),
            edition: m.edition.clone(),
            product_id: m.product_id,
            product_identifier: m.product_identifier.clone(),
            free: m.free,
            default_storage: m.default_storage,
        }
    }

    /// As an audit entry's detail.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// What `products auto-map` proposed, created and mapped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoMapped {
    pub dry_run: bool,
    pub report: AutoMapReport,
}

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum ProductsCmd {
    /// Offering items available to customers, with their mapping.
    List,
    /// Show or set the editions mapped and the attributes of products auto-mapping creates,
    /// e.g. `editions=pck_per_workload new_products.subcategory=Backup` (checked against
    /// ConnectWise and Acronis before saving).
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Check and show what would change; save nothing")
    ))]
    Settings {
        /// `key=value` pairs; none shows the settings.
        #[arg(value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Map an offering item to a ConnectWise catalog product.
    #[command(mut_arg("dry_run", DryRun::help(MAPPING_DRY_RUN)))]
    Map {
        /// Offering item name, e.g. pw_base_servers.
        item: String,
        /// Catalog product id or identifier.
        product: String,
        /// The storage (infra id), for storage items.
        #[arg(long, value_name = "INFRA_ID")]
        infra: Option<String>,
        /// Edition (defaults to the item's).
        #[arg(long)]
        edition: Option<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Remove an offering item's mapping.
    #[command(mut_arg("dry_run", DryRun::help(MAPPING_DRY_RUN)))]
    Unmap {
        item: String,
        #[arg(long, value_name = "INFRA_ID")]
        infra: Option<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Enable an offering item for every tenant without a product.
    #[command(mut_arg("dry_run", DryRun::help(MAPPING_DRY_RUN)))]
    Free {
        item: String,
        #[arg(long, value_name = "INFRA_ID")]
        infra: Option<String>,
        #[arg(long)]
        edition: Option<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Choose the backup storage every tenant gets.
    #[command(mut_arg("dry_run", DryRun::help(MAPPING_DRY_RUN)))]
    DefaultStorage {
        /// The storage's infra id.
        infra: String,
        /// The storage offering item.
        #[arg(long, default_value = STORAGE_ITEM)]
        item: String,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Propose, create and map ConnectWise products for the offering items.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Show the proposals and the products that would be created; change nothing")
    ))]
    AutoMap {
        #[command(flatten)]
        dry_run: DryRun,
    },
}

/// The storage offering item `default-storage` maps unless told another.
pub const STORAGE_ITEM: &str = "pw_base_storage";

/// `--dry-run` of the commands that map one item.
const MAPPING_DRY_RUN: &str = "Show the mapping that would be saved or removed; change nothing";

pub async fn run(ctx: &Ctx, cmd: ProductsCmd) -> Result<()> {
    match cmd {
        ProductsCmd::List => list(ctx).await,
        ProductsCmd::Settings { pairs, dry_run } => settings(ctx, &pairs, dry_run.dry_run).await,
        ProductsCmd::Map {
            item,
            product,
            infra,
            edition,
            dry_run,
        } => {
            map(
                ctx,
                &item,
                infra.as_deref(),
                &product,
                edition,
                dry_run.dry_run,
            )
            .await
        }
        ProductsCmd::Unmap {
            item,
            infra,
            dry_run,
        } => unmap(ctx, &item, infra.as_deref(), dry_run.dry_run).await,
        ProductsCmd::Free {
            item,
            infra,
            edition,
            dry_run,
        } => free(ctx, &item, infra.as_deref(), edition, dry_run.dry_run).await,
        ProductsCmd::DefaultStorage {
            infra,
            item,
            dry_run,
        } => default_storage(ctx, &item, &infra, dry_run.dry_run).await,
        ProductsCmd::AutoMap { dry_run } => auto_map(ctx, dry_run.dry_run).await,
    }
}

/// What the partner may enable on a customer tenant.
async fn offered(deps: &Deps) -> Result<Vec<OfferingItem>> {
    let partner = deps.provisioning().partner_id().await?;
    Ok(deps
        .acronis
        .available_for_child(&partner, "customer")
        .await?)
}

fn label(item: &str, infra: Option<&str>) -> String {
    match infra {
        Some(i) => format!("{item} (storage {i})"),
        None => item.to_owned(),
    }
}

fn existing<'a>(
    mappings: &'a [ProductMapping],
    item: &str,
    infra: Option<&str>,
) -> Option<&'a ProductMapping> {
    mappings
        .iter()
        .find(|m| m.offering_item == item && m.infra_id.as_deref() == infra)
}

pub async fn list(ctx: &Ctx) -> Result<()> {
    let deps = ctx.deps().await?;
    let items = offered(deps).await?;
    let mappings = deps.store.product_mappings().await?;
    let mut rows: Vec<ProductRow> = items
        .iter()
        .map(|i| ProductRow {
            offering_item: i.name.clone(),
            edition: i.edition.clone(),
            item_type: i.item_type.clone(),
            infra_id: i.infra_id.clone(),
            infra_name: None,
            measurement_unit: i.measurement_unit.clone(),
            offered: true,
            mapping: existing(&mappings, &i.name, i.infra_id.as_deref()).map(MappingShown::of),
        })
        .collect();
    // Mappings of items no longer offered: they map nothing until fixed.
    for m in &mappings {
        if !items
            .iter()
            .any(|i| i.name == m.offering_item && i.infra_id == m.infra_id)
        {
            rows.push(ProductRow {
                offering_item: m.offering_item.clone(),
                edition: m.edition.clone(),
                item_type: None,
                infra_id: m.infra_id.clone(),
                infra_name: None,
                measurement_unit: m.measurement_unit.clone(),
                offered: false,
                mapping: Some(MappingShown::of(m)),
            });
        }
    }
    // Storages by name: one lookup per storage (a handful); an id Acronis cannot name is
    // shown as it is.
    let infra_ids: std::collections::BTreeSet<String> =
        rows.iter().filter_map(|r| r.infra_id.clone()).collect();
    let mut infra_names = std::collections::BTreeMap::new();
    for id in infra_ids {
        if let Ok(i) = deps.acronis.infra(&id).await
            && let Some(name) = i.name.filter(|n| !n.trim().is_empty())
        {
            infra_names.insert(id, name);
        }
    }
    for r in &mut rows {
        r.infra_name = r
            .infra_id
            .as_ref()
            .and_then(|id| infra_names.get(id))
            .cloned();
    }
    emit(ctx, &rows, || {
        let cells = rows.iter().map(|r| {
            let m = r.mapping.as_ref();
            let product = match (
                m.and_then(|m| m.product_id),
                m.and_then(|m| m.product_identifier.as_ref()),
            ) {
                (None, _) => "-".to_owned(),
                (Some(id), Some(ident)) => format!("{id} {ident}"),
                (Some(id), None) => id.to_string(),
            };
            let mut flags = Vec::new();
            if m.is_some_and(|m| m.free) {
                flags.push("free");
            }
            if m.is_some_and(|m| m.default_storage) {
                flags.push("default storage");
            }
            if !r.offered {
                flags.push("NOT OFFERED");
            }
            vec![
                r.offering_item.clone(),
                opt(r.edition.as_ref()),
                match (&r.infra_name, &r.infra_id) {
                    (Some(name), Some(id)) => format!("{name} ({id})"),
                    (_, id) => opt(id.as_ref()),
                },
                opt(r.measurement_unit.as_ref()),
                product,
                flags.join(", "),
            ]
        });
        table(
            &[
                "offering item",
                "edition",
                "storage",
                "unit",
                "product",
                "flags",
            ],
            cells,
        )
    });
    Ok(())
}

/// `acw products auto-map [--dry-run]`: proposes a product for every offering item of the
/// selected editions, creates the missing ones, and stores the mappings.
pub async fn auto_map(ctx: &Ctx, dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let svc = deps.provisioning();
    let report = shared::services::products::auto_map(&svc, dry_run)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !dry_run && (report.mapped > 0 || !report.created.is_empty()) {
        record_auto_map(ctx, &report).await?;
    }
    let shown = AutoMapped { dry_run, report };
    let report = &shown.report;
    crate::output::emit(ctx, &shown, || {
        let rows = report.proposals.iter().map(|p| {
            let (action, product) = match &p.choice {
                shared::domain::products::ProductChoice::Existing {
                    identifier,
                    matched,
                    ..
                } => (
                    format!("map ({matched:?})").to_lowercase(),
                    identifier.clone(),
                ),
                shared::domain::products::ProductChoice::Create { identifier, .. } => (
                    if dry_run { "would create" } else { "created" }.to_owned(),
                    identifier.clone(),
                ),
            };
            vec![
                label(&p.offering_item, p.infra_id.as_deref()),
                p.edition.clone().unwrap_or_default(),
                action,
                product,
            ]
        });
        let mut out =
            crate::output::table(&["offering item", "edition", "action", "product"], rows);
        out.push_str(&format!(
            "\n{} product(s) {}, {} mapping(s) stored{}",
            report.created.len(),
            if dry_run {
                "to create (dry run: nothing written)"
            } else {
                "created"
            },
            report.mapped,
            if report.kept.is_empty() {
                String::new()
            } else {
                format!(", kept your own mapping of {}", report.kept.join(", "))
            }
        ));
        out
    });
    Ok(())
}

/// Records what a real auto-map changed: a run of `acw` (each product created in ConnectWise,
/// and the mappings stored), shown by `acw status`, and an audit entry.
async fn record_auto_map(ctx: &Ctx, report: &AutoMapReport) -> Result<()> {
    let mut run = RunRecord::start(RUN_NAME);
    for created in &report.created {
        run.changes.push(shared::store::Change {
            subject: format!("product {created}"),
            field: "created".into(),
            old: None,
            new: serde_json::Value::Bool(true),
            basis: Some("acw products auto-map".into()),
        });
    }
    run.count("products_created", report.created.len() as u64);
    run.count("mapped", report.mapped as u64);
    ctx.record(&mut run).await?;
    // The audit entry's detail is free-form.
    let detail = serde_json::json!({"created": report.created, "mapped": report.mapped});
    ctx.audit("products.auto-map", "products", detail).await
}

/// `acw products settings [KEY=VALUE…] [--dry-run]`: the product-mapping settings, shown,
/// or changed after checking every named attribute and edition against the accounts.
pub async fn settings(ctx: &Ctx, pairs: &[String], dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let old: ProductSettings = deps.store.section().await?;
    if pairs.is_empty() {
        emit(ctx, &old, || super::sections::render(&old));
        return Ok(());
    }
    let new = super::sections::apply_pairs(&old, pairs)?;
    shared::services::products::check_settings(&deps.provisioning(), &new)
        .await
        .map_err(|e| anyhow!("{e}; nothing was saved"))?;
    super::sections::save(ctx, "products.settings", &old, &new, dry_run).await
}

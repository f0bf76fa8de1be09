//! `acw products map|unmap|free|default-storage`: one offering item's mapping, set by hand
//! and checked against what Acronis offers and the ConnectWise catalog.

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use shared::acronis::models::OfferingItem;
use shared::bootstrap::Deps;
use shared::connectwise::models::CatalogItem;
use shared::connectwise::{Conditions, ListQuery};
use shared::store::ProductMapping;

use super::{MappingShown, existing, label, offered};
use crate::cmd::args::ConnectionArg;
use crate::ctx::Ctx;
use crate::output::{emit, opt};
use shared::secrets::ConnectionName;

/// What `products map|free --dry-run` would save (a real run prints the [`MappingShown`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingDryRun {
    pub dry_run: bool,
    pub would_save: MappingShown,
}

/// What `products unmap --dry-run` would remove.
pub type UnmapDryRun = crate::cmd::args::UnmapPreview<MappingShown>;

/// What `products unmap` removed.
pub type Unmapped = crate::cmd::args::UnmapDone<MappingShown>;

/// What `products default-storage` chose, and the storages no longer default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultStorageReport {
    pub dry_run: bool,
    pub default_storage: MappingShown,
    pub cleared: Vec<String>,
}

/// The offered item `name` (and storage), or what to fix.
fn find_item<'a>(
    items: &'a [OfferingItem],
    name: &str,
    infra: Option<&str>,
) -> Result<&'a OfferingItem> {
    let same_name: Vec<&OfferingItem> = items.iter().filter(|i| i.name == name).collect();
    if same_name.is_empty() {
        bail!(
            "Acronis offers no item {name:?} to customers (see `acw products list` for the names)"
        );
    }
    if let Some(i) = same_name.iter().find(|i| i.infra_id.as_deref() == infra) {
        return Ok(i);
    }
    let storages: Vec<&str> = same_name
        .iter()
        .filter_map(|i| i.infra_id.as_deref())
        .collect();
    match infra {
        None => bail!(
            "{name} is a storage item: give --infra with one of {}",
            storages.join(", ")
        ),
        Some(i) if storages.is_empty() => bail!("{name} is not a storage item; drop --infra {i}"),
        Some(i) => bail!(
            "{name} has no storage {i}; the storages are {}",
            storages.join(", ")
        ),
    }
}

fn check_edition(item: &OfferingItem, edition: Option<String>) -> Result<Option<String>> {
    match (edition, &item.edition) {
        (None, e) => Ok(e.clone()),
        (Some(want), Some(has)) if &want != has => bail!(
            "{} belongs to edition {has}, not {want} (pick the item of that edition in `acw products list`)",
            item.name
        ),
        (Some(want), _) => Ok(Some(want)),
    }
}

async fn catalog_product(deps: &Deps, product: &str) -> Result<CatalogItem> {
    let c = match product.trim().parse::<i64>() {
        Ok(id) => Conditions::new().eq("id", id),
        Err(_) => Conditions::new().eq("identifier", product.trim()),
    };
    deps.cw
        .catalog(&ListQuery::conditions(c))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            anyhow!(
                "the ConnectWise catalog has no product {product:?} (give its id or identifier)"
            )
        })
}

fn new_mapping(
    item: &OfferingItem,
    edition: Option<String>,
    connection: &ConnectionName,
) -> ProductMapping {
    ProductMapping {
        connection: connection.clone(),
        unknown: Default::default(),
        offering_item: item.name.clone(),
        infra_id: item.infra_id.clone(),
        edition,
        product_id: None,
        product_identifier: None,
        free: false,
        default_storage: false,
        application_id: item.application_id.clone(),
        measurement_unit: item.measurement_unit.clone(),
        updated_at: Utc::now(),
    }
}

/// What `map`, `free` and `default-storage` start from, read in one place so that the three
/// find the item and its mapping alike.
#[derive(Debug)]
struct Target {
    /// Every connection's mappings.
    all: Vec<ProductMapping>,
    /// The connection's own.
    own: Vec<ProductMapping>,
    /// The item the connection offers by that name (and storage).
    offering: OfferingItem,
    /// Its mapping in the connection, else a new one of the item's edition (not saved).
    mapping: ProductMapping,
}

async fn target(
    deps: &Deps,
    conn: &ConnectionArg,
    item: &str,
    infra: Option<&str>,
) -> Result<Target> {
    let svc = conn.service(deps).await?;
    let connection = svc.acronis.connection();
    let all = deps.store.product_mappings().await?;
    let own: Vec<ProductMapping> = all
        .iter()
        .filter(|m| &m.connection == connection)
        .cloned()
        .collect();
    let items = offered(&svc).await?;
    let offering = find_item(&items, item, infra)?.clone();
    let mapping = existing(&own, &offering.name, offering.infra_id.as_deref())
        .cloned()
        .unwrap_or_else(|| new_mapping(&offering, offering.edition.clone(), connection));
    Ok(Target {
        all,
        own,
        offering,
        mapping,
    })
}

/// Saves each planned mapping and audits it as its action; nothing with `dry_run`.
async fn save(ctx: &Ctx, plan: &[(&str, ProductMapping)], dry_run: bool) -> Result<()> {
    if dry_run {
        return Ok(());
    }
    for (action, m) in plan {
        ctx.store().await?.put_product_mapping(m).await?;
        ctx.audit(
            action,
            &label(&m.offering_item, m.infra_id.as_deref()),
            MappingShown::of(m).detail(),
        )
        .await?;
    }
    Ok(())
}

/// Prints the mapping saved, or with `dry_run` the one that would be.
fn emit_saved(ctx: &Ctx, m: &ProductMapping, dry_run: bool, human: impl FnOnce() -> String) {
    let shown = MappingShown::of(m);
    if dry_run {
        let report = MappingDryRun {
            dry_run: true,
            would_save: shown,
        };
        emit(ctx, &report, human);
    } else {
        emit(ctx, &shown, human);
    }
}

/// Saves `m` as `action` (nothing with `dry_run`) and prints it, `line` for a person.
async fn save_one(
    ctx: &Ctx,
    action: &str,
    mut m: ProductMapping,
    dry_run: bool,
    line: impl FnOnce(&ProductMapping) -> String,
) -> Result<()> {
    m.updated_at = Utc::now();
    save(ctx, &[(action, m.clone())], dry_run).await?;
    emit_saved(ctx, &m, dry_run, || said(line(&m), dry_run));
    Ok(())
}

/// The human line, marked when it was only previewed.
fn said(line: String, dry_run: bool) -> String {
    if dry_run {
        format!("{line}\n(dry run: nothing saved)")
    } else {
        line
    }
}

pub async fn map(
    ctx: &Ctx,
    conn: &ConnectionArg,
    item: &str,
    infra: Option<&str>,
    product: &str,
    edition: Option<String>,
    dry_run: bool,
) -> Result<()> {
    let deps = ctx.deps().await?;
    let Target {
        all,
        offering,
        mapping: mut m,
        ..
    } = target(deps, conn, item, infra).await?;
    let edition = check_edition(&offering, edition)?;
    let catalog = catalog_product(deps, product).await?;
    // A product stands for one item of one connection: the same item in another data
    // centre is another product.
    if let Some(other) = all.iter().find(|o| {
        o.product_id == Some(catalog.id)
            && !(o.connection == m.connection
                && o.offering_item == m.offering_item
                && o.infra_id == m.infra_id)
    }) {
        bail!(
            "product {} is already mapped to {}; unmap that first (`acw products unmap {}`)",
            catalog.id,
            label(&other.offering_item, other.infra_id.as_deref()),
            other.offering_item
        );
    }
    m.edition = edition;
    m.product_id = Some(catalog.id);
    m.product_identifier = catalog.identifier.clone();
    m.free = false;
    m.application_id = offering.application_id;
    m.measurement_unit = offering.measurement_unit;
    save_one(ctx, "products.map", m, dry_run, |m| {
        format!(
            "{} mapped to product {} {}",
            label(&m.offering_item, m.infra_id.as_deref()),
            catalog.id,
            opt(catalog.identifier.as_ref())
        )
    })
    .await
}

pub async fn free(
    ctx: &Ctx,
    conn: &ConnectionArg,
    item: &str,
    infra: Option<&str>,
    edition: Option<String>,
    dry_run: bool,
) -> Result<()> {
    let deps = ctx.deps().await?;
    let Target {
        offering,
        mapping: mut m,
        ..
    } = target(deps, conn, item, infra).await?;
    m.edition = check_edition(&offering, edition)?;
    m.product_id = None;
    m.product_identifier = None;
    m.free = true;
    save_one(ctx, "products.free", m, dry_run, |m| {
        format!(
            "{} is free: enabled for every tenant without a product",
            label(&m.offering_item, m.infra_id.as_deref())
        )
    })
    .await
}

pub async fn unmap(
    ctx: &Ctx,
    conn: &ConnectionArg,
    item: &str,
    infra: Option<&str>,
    dry_run: bool,
) -> Result<()> {
    // The store alone: removing a mapping needs neither API. Without --connection, the
    // item's mapping in whichever connection has one (several: name it).
    let store = ctx.store().await?;
    let mut mappings = store.product_mappings().await?;
    if let Some(c) = &conn.connection {
        mappings.retain(|m| &m.connection == c);
    } else {
        let of_item: std::collections::BTreeSet<&ConnectionName> = mappings
            .iter()
            .filter(|m| m.offering_item == item && m.infra_id.as_deref() == infra)
            .map(|m| &m.connection)
            .collect();
        if of_item.len() > 1 {
            bail!(
                "{} is mapped in several connections ({}): name one with --connection",
                label(item, infra),
                of_item
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let Some(m) = existing(&mappings, item, infra) else {
        let same: Vec<String> = mappings
            .iter()
            .filter(|m| m.offering_item == item)
            .map(|m| label(&m.offering_item, m.infra_id.as_deref()))
            .collect();
        if same.is_empty() {
            bail!("{} is not mapped", label(item, infra));
        }
        bail!(
            "{} is not mapped; mapped are: {} (give --infra)",
            label(item, infra),
            same.join(", ")
        );
    };
    if dry_run {
        let report = UnmapDryRun {
            dry_run: true,
            would_unmap: MappingShown::of(m),
        };
        emit(ctx, &report, || {
            said(format!("{} would be unmapped", label(item, infra)), true)
        });
        return Ok(());
    }
    store
        .delete_product_mapping(&m.connection, &m.offering_item, m.infra_id.as_deref())
        .await?;
    let report = Unmapped {
        unmapped: MappingShown::of(m),
    };
    ctx.audit(
        "products.unmap",
        &label(&m.offering_item, m.infra_id.as_deref()),
        report.unmapped.detail(),
    )
    .await?;
    emit(ctx, &report, || format!("{} unmapped", label(item, infra)));
    Ok(())
}

pub async fn default_storage(
    ctx: &Ctx,
    conn: &ConnectionArg,
    item: &str,
    infra: &str,
    dry_run: bool,
) -> Result<()> {
    let deps = ctx.deps().await?;
    let Target {
        own,
        offering,
        mapping: mut m,
        ..
    } = target(deps, conn, item, Some(infra)).await?;
    let mut plan: Vec<(&str, ProductMapping)> = Vec::new();
    let mut cleared = Vec::new();
    for other in own.iter().filter(|m| {
        m.default_storage && !(m.offering_item == offering.name && m.infra_id == offering.infra_id)
    }) {
        let mut o = other.clone();
        o.default_storage = false;
        o.updated_at = Utc::now();
        cleared.push(label(&o.offering_item, o.infra_id.as_deref()));
        plan.push(("products.default-storage.clear", o));
    }
    let changed = !m.default_storage;
    if changed {
        m.default_storage = true;
        m.updated_at = Utc::now();
        plan.push(("products.default-storage", m.clone()));
    }
    save(ctx, &plan, dry_run).await?;
    let report = DefaultStorageReport {
        dry_run,
        default_storage: MappingShown::of(&m),
        cleared: cleared.clone(),
    };
    emit(ctx, &report, || {
        let mut s = format!(
            "default storage: {}",
            label(&m.offering_item, m.infra_id.as_deref())
        );
        if !changed {
            s.push_str(" (unchanged)");
        }
        for c in &cleared {
            s.push_str(&format!("\nno longer default: {c}"));
        }
        said(s, dry_run)
    });
    Ok(())
}

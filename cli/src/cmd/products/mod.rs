//! `acw products list|settings|map|unmap|free|default-storage|auto-map`: which ConnectWise
//! catalog product stands for which Acronis offering item (the store's `ProductMapping`s,
//! checked against what the partner may enable on customers: `available_for_child`).
//! One file per subcommand (`list.rs`, `settings.rs`, `auto_map.rs`); mapping one item by
//! hand (`map`, `unmap`, `free`, `default-storage`, which share their checks) is in
//! [`mapping`].

mod auto_map;
mod list;
mod mapping;
mod settings;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use shared::acronis::models::OfferingItem;
use shared::services::provisioning::Provisioning;
use shared::store::ProductMapping;

pub use self::list::ProductRow;
use self::mapping::{default_storage, free, map, unmap};
use super::args::{ConnectionArg, DryRun};
use crate::ctx::Ctx;

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
        // The fields config as code keeps too, printed as they are (`null` when unset).
        let e = shared::domain::config::ProductEntry::from_mapping(m);
        Self {
            offering_item: e.offering_item,
            infra_id: e.infra_id,
            edition: e.edition,
            product_id: e.product_id,
            product_identifier: e.product_identifier,
            free: e.free,
            default_storage: e.default_storage,
        }
    }

    /// As an audit entry's detail.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum ProductsCmd {
    /// Offering items available to customers, with their mapping.
    List {
        #[command(flatten)]
        connection: ConnectionArg,
    },
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
    Map(MapCmd),
    /// Remove an offering item's mapping.
    #[command(mut_arg("dry_run", DryRun::help(MAPPING_DRY_RUN)))]
    Unmap {
        item: String,
        #[arg(long, value_name = "INFRA_ID")]
        infra: Option<String>,
        #[command(flatten)]
        connection: ConnectionArg,
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
        connection: ConnectionArg,
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
        connection: ConnectionArg,
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
        connection: ConnectionArg,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

/// `products map`'s arguments.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct MapCmd {
    /// Offering item name, e.g. pw_base_servers.
    pub item: String,
    /// Catalog product id or identifier.
    pub product: String,
    /// The storage (infra id), for storage items.
    #[arg(long, value_name = "INFRA_ID")]
    pub infra: Option<String>,
    /// Edition (defaults to the item's).
    #[arg(long)]
    pub edition: Option<String>,
    #[command(flatten)]
    pub connection: ConnectionArg,
    #[command(flatten)]
    pub dry_run: DryRun,
}

/// The storage offering item `default-storage` maps unless told another.
pub const STORAGE_ITEM: &str = "pw_base_storage";

/// `--dry-run` of the commands that map one item.
const MAPPING_DRY_RUN: &str = "Show the mapping that would be saved or removed; change nothing";

pub async fn run(ctx: &Ctx, cmd: ProductsCmd) -> Result<()> {
    match cmd {
        ProductsCmd::List { connection } => list::list(ctx, &connection).await,
        ProductsCmd::Settings { pairs, dry_run } => {
            settings::settings(ctx, &pairs, dry_run.dry_run).await
        }
        ProductsCmd::Map(m) => {
            let infra = m.infra.as_deref();
            map(
                ctx,
                &m.connection,
                &m.item,
                infra,
                &m.product,
                m.edition.clone(),
                m.dry_run.dry_run,
            )
            .await
        }
        ProductsCmd::Unmap {
            item,
            infra,
            connection,
            dry_run,
        } => unmap(ctx, &connection, &item, infra.as_deref(), dry_run.dry_run).await,
        ProductsCmd::Free {
            item,
            infra,
            edition,
            connection,
            dry_run,
        } => {
            let infra = infra.as_deref();
            free(ctx, &connection, &item, infra, edition, dry_run.dry_run).await
        }
        ProductsCmd::DefaultStorage {
            infra,
            item,
            connection,
            dry_run,
        } => default_storage(ctx, &connection, &item, &infra, dry_run.dry_run).await,
        ProductsCmd::AutoMap {
            connection,
            dry_run,
        } => auto_map::auto_map(ctx, &connection, dry_run.dry_run).await,
    }
}

/// What the partner may enable on a customer tenant.
async fn offered(svc: &Provisioning) -> Result<Vec<OfferingItem>> {
    let partner = svc.partner_id().await?;
    Ok(svc
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

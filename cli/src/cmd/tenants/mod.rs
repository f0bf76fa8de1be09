//! `acw tenants list|production`, one file per subcommand, each with its report.

mod list;
mod production;

use anyhow::Result;

pub use self::list::TenantsPage;
use super::args::{ConnectionArg, DryRun, MappingArg};
use crate::ctx::Ctx;

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum TenantsCmd {
    /// The partner's customer tenants and the companies they are mapped to.
    List {
        /// Part of the name, id or customer_id.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_enum, default_value = "all")]
        mapping: MappingArg,
        /// Page to show (from 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        page: u64,
        /// Tenants per page.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
        per_page: u64,
        #[command(flatten)]
        connection: ConnectionArg,
    },
    /// Put mapped tenants still in trial in production (once, for good), as provisioning
    /// does for new tenants.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Show which tenants would switch; write nothing")
    ))]
    Production {
        /// Only this company's tenant.
        #[arg(long, value_name = "COMPANY_ID")]
        company: Option<i64>,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: TenantsCmd) -> Result<()> {
    match cmd {
        TenantsCmd::List {
            search,
            mapping,
            page,
            per_page,
            connection,
        } => {
            let pages = (page, per_page);
            list::list(ctx, &connection, search.as_deref(), mapping.into(), pages).await
        }
        TenantsCmd::Production { company, dry_run } => {
            production::production(ctx, company, dry_run.dry_run).await
        }
    }
}

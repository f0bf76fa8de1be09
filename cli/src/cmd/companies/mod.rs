//! `acw companies list|map|match|unmap`, one file per subcommand, each with its report.

mod list;
mod map;
mod matching;
mod unmap;

use std::path::PathBuf;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use shared::services::companies::CompanyFilter;
use shared::store::{CompanyMapping, Failure, MappingOrigin};

pub use self::list::CompanyRow;
pub use self::matching::MatchDryRun;
use super::args::{ConnectionArg, DryRun, MappingArg};
use crate::ctx::Ctx;

/// Runs of `acw` are recorded under this function name (see `acw status`).
pub const RUN_NAME: &str = "acw";

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum CompaniesCmd {
    /// List companies with their tenants.
    List {
        /// Part of the name or identifier.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_enum, default_value = "all")]
        mapping: MappingArg,
        /// Company type name (repeatable: any of them).
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        /// Company status name (repeatable: any of them).
        #[arg(long = "status", value_name = "STATUS")]
        statuses: Vec<String>,
    },
    /// Map companies to new tenants, or one company to an existing tenant.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Check and show what would be done (tenant, quotas); change nothing")
    ))]
    Map {
        #[arg(required = true, value_name = "COMPANY_ID")]
        ids: Vec<i64>,
        /// Existing customer tenant (one company only).
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
        /// The Acronis connection of the tenant, new or existing (left out: a new tenant's
        /// is the one `provisioning.new_customers` chooses, an existing one's is found).
        #[command(flatten)]
        connection: ConnectionArg,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Propose which existing tenant belongs to which unmapped company (same name, then
    /// normalised name, the tenant's customer_id, contact email domain) and map the proposed
    /// pairs, each checked as `companies map` checks it.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Show the proposals, the ambiguous and the unmatched; map nothing")
    ))]
    Match {
        /// Map only the proposals of these companies (repeatable).
        #[arg(long = "company", value_name = "COMPANY_ID")]
        only: Vec<i64>,
        /// Map the pairs of this file instead of proposing: the output of
        /// `companies match --dry-run --json`, reviewed and edited (its `plan.proposals`), or a
        /// list of `{"company_id": …, "tenant_id": …}`.
        #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
        from: Option<PathBuf>,
        /// The Acronis connection whose tenants are matched.
        #[command(flatten)]
        connection: ConnectionArg,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Remove a company's mapping (the tenant is left as it is).
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Show the mapping that would be removed; change nothing")
    ))]
    Unmap {
        #[arg(value_name = "COMPANY_ID")]
        id: i64,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: CompaniesCmd) -> Result<()> {
    match cmd {
        CompaniesCmd::List {
            search,
            mapping,
            types,
            statuses,
        } => {
            let filter = CompanyFilter {
                search,
                mapping: mapping.into(),
                types,
                statuses,
            };
            list::list(ctx, &filter).await
        }
        CompaniesCmd::Map {
            ids,
            tenant,
            connection,
            dry_run,
        } => {
            let connection = connection.connection.as_ref();
            map::map(ctx, &ids, (tenant.as_deref(), connection), dry_run.dry_run).await
        }
        CompaniesCmd::Match {
            only,
            from,
            connection,
            dry_run,
        } => match from {
            Some(file) => matching::map_from_file(ctx, &file, &only).await,
            None => matching::match_tenants(ctx, &only, &connection, dry_run.dry_run).await,
        },
        CompaniesCmd::Unmap { id, dry_run } => unmap::unmap(ctx, id, dry_run.dry_run).await,
    }
}

/// A company's mapping, as the commands print it and audit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingShown {
    pub company_id: i64,
    /// The tenant's Acronis connection (left out: `default`).
    #[serde(
        default,
        skip_serializing_if = "shared::domain::connection::is_default"
    )]
    pub connection: shared::secrets::ConnectionName,
    pub tenant_id: String,
    pub company_name: Option<String>,
    pub tenant_name: Option<String>,
    pub origin: MappingOrigin,
}

impl MappingShown {
    pub fn of(m: &CompanyMapping) -> Self {
        Self {
            company_id: m.company_id,
            connection: m.connection.clone(),
            tenant_id: m.tenant_id.clone(),
            company_name: m.company_name.clone(),
            tenant_name: m.tenant_name.clone(),
            origin: m.origin,
        }
    }

    /// As an audit entry's detail.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A company that was not mapped, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub subject: String,
    pub reason: String,
}

impl Refused {
    pub fn all(failures: &[Failure]) -> Vec<Self> {
        failures
            .iter()
            .map(|f| Self {
                subject: f.subject.clone(),
                reason: f.reason.clone(),
            })
            .collect()
    }
}

fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if crate::output::interactive() && len > 1 {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} companies {elapsed} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

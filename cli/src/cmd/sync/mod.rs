//! `acw sync reconcile|quotas|usage|alerts [--dry-run]`: one cycle of a job now, or its plan.
//! One file per subcommand, each with its report.

mod alerts;
mod quotas;
mod reconcile;
mod usage;

use anyhow::Result;

use super::args::DryRun;
use crate::ctx::Ctx;

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum SyncCmd {
    /// Find companies whose state may have changed and queue them for the provisioner.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Find the candidates without queueing anything or moving the cursor")
    ))]
    Reconcile {
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Push pay-as-you-go usage into the agreement additions now (writes only what changed).
    #[command(mut_arg(
        "dry_run",
        DryRun::help(
            "Show the quantities that would be written, writing nothing (not even the records \
         of what was read)"
        )
    ))]
    Usage {
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Bring mapped companies' quotas to their agreements now.
    #[command(mut_arg("dry_run", DryRun::help("Show what would change without writing")))]
    Quotas {
        /// Only this ConnectWise company.
        #[arg(long)]
        company: Option<i64>,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Poll alerts now (alerts of mapped tenants and types become ticket events).
    #[command(mut_arg(
        "dry_run",
        DryRun::help(
            "Show the events a poll would publish and what the ticket sync would do with each \
         (create, note, reopen, renew, close), writing nothing"
        )
    ))]
    Alerts {
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: SyncCmd) -> Result<()> {
    match cmd {
        SyncCmd::Reconcile { dry_run } => reconcile::reconcile(ctx, dry_run.dry_run).await,
        SyncCmd::Usage { dry_run } => usage::usage(ctx, dry_run.dry_run).await,
        SyncCmd::Quotas { company, dry_run } => quotas::quotas(ctx, company, dry_run.dry_run).await,
        SyncCmd::Alerts { dry_run } => alerts::sync(ctx, dry_run.dry_run).await,
    }
}

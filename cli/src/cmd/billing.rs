//! `acw billing show|set`: which agreements are pay-as-you-go, and the MSP's time zone.

use anyhow::Result;
use shared::domain::settings::BillingSettings;
use shared::store::Store;

use super::args::DryRun;
use super::sections::{applied, render, save};
use crate::ctx::Ctx;
use crate::output::emit;

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum BillingCmd {
    /// Show which agreement types are pay-as-you-go.
    Show,
    /// Set them, e.g. `payg_agreement_types="Pay As You Go, Metered"`.
    Set {
        /// key=value pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: BillingCmd) -> Result<()> {
    match cmd {
        BillingCmd::Show => show(ctx).await,
        BillingCmd::Set { pairs, dry_run } => set(ctx, &pairs, dry_run.dry_run).await,
    }
}

async fn load_billing(store: &Store) -> Result<BillingSettings> {
    Ok(store.section().await?)
}

pub async fn show(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let b = load_billing(store).await?;
    emit(ctx, &b, || {
        format!(
            "{}\nAn agreement whose type name contains one of these (any case) is pay-as-you-go.\n\
             Days (agreement and addition dates, usage's billing days) are the MSP's, in {}{}.",
            render(&b),
            b.zone(),
            if b.time_zone.is_none() {
                " (never set)"
            } else {
                ""
            }
        )
    });
    Ok(())
}

/// `acw billing set payg_agreement_types="Pay As You Go, Metered" time_zone=America/Chicago`
pub async fn set(ctx: &Ctx, pairs: &[String], dry_run: bool) -> Result<()> {
    let store = ctx.store().await?;
    let old = load_billing(store).await?;
    let new = applied(&old, pairs, BillingSettings::validate)?;
    save(ctx, "billing.set", &old, &new, dry_run).await
}

//! `acw provisioning show|set`: the provisioning and deprovisioning settings.

use anyhow::{Result, anyhow};
use clap::Subcommand;
use shared::domain::settings::ProvisioningSettings;

use super::args::DryRun;
use super::sections::{apply_pairs, render, save};
use crate::ctx::Ctx;
use crate::output::emit;

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum ProvisioningCmd {
    /// Show the provisioning settings (defaults when never saved).
    Show,
    /// Set provisioning settings, e.g. `auto_provisioning=true deprovisioning.disable=true`.
    Set {
        /// key=value pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: ProvisioningCmd) -> Result<()> {
    match cmd {
        ProvisioningCmd::Show => show(ctx).await,
        ProvisioningCmd::Set { pairs, dry_run } => set(ctx, &pairs, dry_run.dry_run).await,
    }
}

/// The new-customer rule checked against the secret's connections and the names ConnectWise
/// lists for its field.
pub async fn check_new_customers(
    ctx: &Ctx,
    rule: &shared::domain::connection::NewCustomerRule,
) -> Result<()> {
    let deps = ctx.deps().await?;
    let listed: Vec<String> = match rule.by {
        Some(by) => deps
            .cw
            .list_all::<shared::connectwise::models::Named>(
                by.list_path(),
                &shared::connectwise::ListQuery::default(),
            )
            .await?
            .into_iter()
            .filter_map(|n| n.name)
            .collect(),
        None => Vec::new(),
    };
    let known = deps
        .connections
        .current()
        .await
        .keys()
        .cloned()
        .collect::<Vec<_>>();
    let problems = rule.problems(&known, &listed);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "provisioning.new_customers: {}; nothing was saved",
            problems.join("; ")
        ))
    }
}

/// The effective provisioning settings (defaults when never saved).
pub async fn load(store: &shared::store::Store) -> Result<ProvisioningSettings> {
    Ok(store.section().await?)
}

pub async fn show(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let s = load(store).await?;
    emit(ctx, &s, || render(&s));
    Ok(())
}

pub async fn set(ctx: &Ctx, pairs: &[String], dry_run: bool) -> Result<()> {
    let store = ctx.store().await?;
    let old = load(store).await?;
    let new = apply_pairs(&old, pairs)?;
    new.validate()
        .map_err(|e| anyhow!("{e}; nothing was saved"))?;
    if new.new_customers != old.new_customers {
        check_new_customers(ctx, &new.new_customers).await?;
    }
    save(ctx, "provisioning.set", &old, &new, dry_run).await
}

//! `acw attention show|set`: the board where problems that need a person become tickets
//! (see `shared::domain::attention`), checked against the board before saving.

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use shared::domain::attention::AttentionSettings;
use shared::services::alerts::board_catalog;

use super::args::DryRun;
use super::sections::{applied, render, save};
use crate::ctx::Ctx;
use crate::output::emit;

#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AttentionCmd {
    /// Show the needs-attention settings.
    Show,
    /// Set them, e.g. `board_id=12 closing_status_id=3 prepaid_overage_notice=true`
    /// (checked against the board).
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Check and show what would change; save nothing")
    ))]
    Set {
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: AttentionCmd) -> Result<()> {
    match cmd {
        AttentionCmd::Show => show(ctx).await,
        AttentionCmd::Set { pairs, dry_run } => set(ctx, &pairs, dry_run.dry_run).await,
    }
}

pub async fn show(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let s: AttentionSettings = store.section().await?;
    emit(ctx, &s, || render(&s));
    Ok(())
}

pub async fn set(ctx: &Ctx, pairs: &[String], dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let old: AttentionSettings = deps.store.section().await?;
    let new = applied(&old, pairs, AttentionSettings::validate)?;
    if let Some(board_id) = new.board_id {
        let catalog = board_catalog(&deps.cw, board_id)
            .await
            .map_err(|e| anyhow!("{e}; nothing was saved"))?;
        let on_board =
            |id: Option<i64>| id.is_none_or(|id| catalog.statuses.iter().any(|s| s.id == id));
        for (name, id) in [
            ("status_id", new.status_id),
            ("closing_status_id", new.closing_status_id),
        ] {
            if !on_board(id) {
                bail!(
                    "{name} {} is not a status of board {board_id} ({}); nothing was saved",
                    id.unwrap_or_default(),
                    catalog.board_name.as_deref().unwrap_or("?")
                );
            }
        }
        if let Some(p) = new.priority_id
            && !catalog.priorities.iter().any(|x| x.id == p)
        {
            bail!("priority_id {p} is not a ConnectWise priority; nothing was saved");
        }
    }
    save(ctx, "attention.set", &old, &new, dry_run).await
}

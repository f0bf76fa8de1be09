//! `acw sync reconcile [--dry-run]`: one reconciler cycle now, or its candidates.

use std::time::Duration;

use anyhow::Result;
use indicatif::ProgressBar;
use serde::Serialize;
use shared::services::reconcile;
use shared::store::{Failure, RunRecord};

use crate::ctx::Ctx;
use crate::output::{emit, table};

/// The run is recorded as the reconciler's (it is the same cycle, run by hand).
const FUNCTION: &str = "reconciler";

/// What `sync reconcile` found and queued.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ReconcileShown {
    pub dry_run: bool,
    pub run_id: String,
    pub candidates: Vec<Candidate>,
    pub published: usize,
    pub failed: usize,
    pub cursor_advanced: bool,
}

/// A company the cycle picked, and why.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Candidate {
    pub company_id: i64,
    pub reason: String,
}

pub async fn reconcile(ctx: &Ctx, dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let spinner = if crate::output::interactive() {
        let s = ProgressBar::new_spinner();
        s.set_message("reconciling");
        s.enable_steady_tick(Duration::from_millis(120));
        s
    } else {
        ProgressBar::hidden()
    };
    let mut run = RunRecord::start(FUNCTION);
    run.dry_run = dry_run;
    let result = reconcile::reconcile(
        &deps.cw,
        &deps.connections,
        &deps.store,
        &deps.bus,
        &mut run,
        dry_run,
    )
    .await;
    spinner.finish_and_clear();
    if !dry_run {
        if let Err(e) = &result {
            run.failures.push(Failure {
                subject: "cycle".into(),
                reason: format!("{e:#}"),
                transient: true,
            });
        }
        ctx.record(&mut run).await?;
    }
    let report = result?;
    let shown = ReconcileShown {
        dry_run,
        run_id: run.run_id.clone(),
        candidates: report
            .candidates
            .iter()
            .map(|(id, why)| Candidate {
                company_id: *id,
                reason: (*why).to_owned(),
            })
            .collect(),
        published: report.published,
        failed: report.failed,
        cursor_advanced: report.cursor_advanced,
    };
    emit(ctx, &shown, || {
        let candidates = table(
            &["company", "reason"],
            report
                .candidates
                .iter()
                .map(|(id, why)| vec![id.to_string(), (*why).to_owned()]),
        );
        let summary = table(
            &["candidates", "queued", "failed", "cursor"],
            [vec![
                report.candidates.len().to_string(),
                if dry_run {
                    "0 (dry run)".to_owned()
                } else {
                    report.published.to_string()
                },
                report.failed.to_string(),
                if report.cursor_advanced {
                    "advanced"
                } else {
                    "unchanged"
                }
                .to_owned(),
            ]],
        );
        format!(
            "{candidates}\n{summary}{}",
            if dry_run {
                "\ndry run: nothing was queued or written"
            } else {
                ""
            }
        )
    });
    Ok(())
}

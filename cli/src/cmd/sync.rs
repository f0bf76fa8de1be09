//! `acw sync reconcile [--dry-run]`: one reconciler cycle now.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use indicatif::ProgressBar;
use serde_json::json;
use shared::services::reconcile;
use shared::store::{Failure, RunRecord};

use crate::ctx::{self, Ctx};
use crate::output::{emit, table};

/// The run is recorded as the reconciler's (it is the same cycle, run by hand).
const FUNCTION: &str = "reconciler";

pub async fn reconcile(ctx: &Ctx, dry_run: bool) -> Result<()> {
    let deps = ctx::deps().await?;
    let spinner = if std::io::stderr().is_terminal() {
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
        &deps.acronis,
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
        run.finished_at = Some(chrono::Utc::now());
        deps.store
            .put_run(&run, shared::bootstrap::run_retention())
            .await?;
    }
    let report = result?;
    let json = json!({
        "dry_run": dry_run,
        "run_id": run.run_id,
        "candidates": report.candidates.iter().map(|(id, why)| json!({"company_id": id, "reason": why})).collect::<Vec<_>>(),
        "published": report.published,
        "failed": report.failed,
        "cursor_advanced": report.cursor_advanced,
    });
    emit(ctx, &json, || {
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

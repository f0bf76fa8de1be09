//! `acw sync usage [--dry-run]`: one usage-push cycle now, or the quantities it would write.

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use shared::runs::MetricLog;
use shared::store::{Failure, RunRecord};

use crate::ctx::Ctx;
use crate::output::{emit, table};

/// `acw sync usage`: one usage-push cycle now, in this process (no shards); the run record
/// is the usage push's. `--dry-run` prints the push plan (every quantity to write, from what
/// ConnectWise holds to what usage says) and writes nothing.
pub async fn usage(ctx: &Ctx, dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let svc = deps.usage_push();
    if dry_run {
        let mut run = RunRecord::start(shared::services::usage::FUNCTION);
        run.dry_run = true;
        let plan = svc
            .preview(&mut run)
            .await
            .map_err(|e| anyhow::anyhow!("the usage preview failed: {e}"))?;
        let report = UsageDryRun {
            dry_run: true,
            writes: plan.writes.iter().map(UsageWrite::of).collect(),
            additions: plan.additions,
            unchanged: plan.unchanged,
            not_in_force: plan.not_in_force,
            failures: run.failures.clone(),
        };
        let rows: Vec<Value> = report
            .writes
            .iter()
            .map(|w| serde_json::to_value(w).unwrap_or_default())
            .collect();
        emit(ctx, &report, || {
            const COLUMNS: [&str; 7] = [
                "company",
                "agreement",
                "addition",
                "product",
                "from",
                "to",
                "basis",
            ];
            let mut out = table(
                &COLUMNS,
                rows.iter().map(|r| {
                    COLUMNS
                        .iter()
                        .map(|k| crate::output::cell(&r[*k]))
                        .collect()
                }),
            );
            for f in &run.failures {
                out.push_str(&format!("\n! {}: {}", f.subject, f.reason));
            }
            out.push_str(&format!(
                "\n{} addition(s) to write, {} unchanged (dry run: nothing written)",
                rows.len(),
                plan.unchanged
            ));
            out
        });
        return Ok(());
    }
    let recorder = deps.recorder().with_log(MetricLog::Off);
    let reply = shared::services::cycles::usage_push(
        &svc,
        None,
        &recorder,
        shared::services::usage::Deadline::none(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("the usage push failed: {e}"))?;
    // The usage push's own reply (`shared::services::cycles`), printed as it is.
    emit(ctx, &reply, || {
        table(
            &["field", "value"],
            reply
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| vec![k.clone(), crate::output::cell(v)]),
        )
    });
    Ok(())
}

/// What `sync usage --dry-run` shows: every quantity to write.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct UsageDryRun {
    pub dry_run: bool,
    pub writes: Vec<UsageWrite>,
    pub additions: u64,
    pub unchanged: u64,
    pub not_in_force: u64,
    pub failures: Vec<Failure>,
}

/// One planned quantity write, as printed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct UsageWrite {
    pub company: i64,
    pub agreement: i64,
    pub addition: i64,
    pub product: i64,
    /// What ConnectWise holds.
    pub from: Option<f64>,
    pub to: f64,
    pub basis: String,
}

impl UsageWrite {
    fn of(w: &shared::domain::usage_push::PlannedWrite) -> Self {
        let r = &w.record;
        Self {
            company: r.company_id,
            agreement: r.agreement_id,
            addition: r.addition_id,
            product: r.product_id,
            from: r.last_pushed_quantity,
            to: w.quantity,
            basis: w.basis.clone(),
        }
    }
}

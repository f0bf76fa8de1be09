//! `acw sync reconcile|quotas|usage [--dry-run]`: one cycle of a job now, or its plan.

use std::time::Duration;

use anyhow::Result;
use indicatif::ProgressBar;
use serde::Serialize;
use serde_json::Value;
use shared::acronis::models::Quota;
use shared::runs::MetricLog;
use shared::services::provisioning::CompanyPlan;
use shared::services::reconcile;
use shared::store::{Failure, RunRecord};

use super::args::DryRun;
use crate::ctx::Ctx;
use crate::output::{emit, table};

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
        SyncCmd::Reconcile { dry_run } => reconcile(ctx, dry_run.dry_run).await,
        SyncCmd::Usage { dry_run } => usage(ctx, dry_run.dry_run).await,
        SyncCmd::Quotas { company, dry_run } => quotas(ctx, company, dry_run.dry_run).await,
        SyncCmd::Alerts { dry_run } => super::alerts::sync(ctx, dry_run.dry_run).await,
    }
}

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

/// What `sync quotas` checked, planned or did, per company.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotasReport {
    pub dry_run: bool,
    pub companies: usize,
    pub rows: Vec<QuotaRow>,
    /// Changes and failures the run recorded.
    pub changes: usize,
    pub failures: usize,
}

/// One row of `sync quotas`: an item write a dry run would send, a company's plan, or what
/// the real run did with a company.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum QuotaRow {
    Write {
        company: i64,
        item: String,
        infra_id: Option<String>,
        from: Option<ItemState>,
        to: ItemState,
    },
    Plan {
        company: i64,
        plan: Box<CompanyPlan>,
    },
    Outcome {
        company: i64,
        outcome: String,
    },
    Error {
        company: i64,
        error: String,
    },
}

/// An offering item's status and quota.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct ItemState {
    pub status: i64,
    pub quota: Option<Quota>,
}

/// `acw sync quotas [--company ID] [--dry-run]`: brings mapped companies' quotas to their
/// agreements now (the provisioner's decision, so a company that no longer qualifies is
/// deprovisioned as configured). A dry run shows each item whose status or quota would change.
pub async fn quotas(ctx: &Ctx, company: Option<i64>, dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let svc = deps.provisioning();
    let companies: Vec<i64> = match company {
        Some(id) => vec![id],
        None => deps
            .store
            .mappings()
            .await?
            .iter()
            .map(|m| m.company_id)
            .collect(),
    };
    let bar = if crate::output::interactive() && companies.len() > 1 {
        ProgressBar::new(companies.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    let mut run = RunRecord::start("provisioner");
    run.dry_run = dry_run;
    let mut rows = Vec::new();
    for id in &companies {
        bar.inc(1);
        if dry_run {
            rows.extend(quota_preview(deps, *id).await?);
        } else {
            match svc.sync_company(*id, &mut run).await {
                Ok(outcome) => rows.push(QuotaRow::Outcome {
                    company: *id,
                    outcome: format!("{outcome:?}"),
                }),
                Err(e) => {
                    run.failures.push(Failure {
                        subject: format!("company {id}"),
                        reason: e.to_string(),
                        transient: e.is_transient(),
                    });
                    rows.push(QuotaRow::Error {
                        company: *id,
                        error: e.to_string(),
                    });
                }
            }
        }
    }
    bar.finish_and_clear();
    if !dry_run {
        ctx.record(&mut run).await?;
    }
    let report = QuotasReport {
        dry_run,
        companies: companies.len(),
        rows,
        changes: run.changes.len(),
        failures: run.failures.len(),
    };
    emit(ctx, &report, || {
        let mut out = table(
            &["row"],
            report
                .rows
                .iter()
                .map(|r| vec![serde_json::to_value(r).unwrap_or_default().to_string()]),
        );
        out.push_str(&format!(
            "\n{} compan{} checked{}",
            report.companies,
            if report.companies == 1 { "y" } else { "ies" },
            if dry_run {
                " (dry run: nothing written)".to_owned()
            } else {
                format!(
                    ", {} change(s), {} failure(s)",
                    report.changes, report.failures
                )
            }
        ));
        out
    });
    if !dry_run && report.failures > 0 {
        anyhow::bail!(
            "{} compan(ies) could not be synced (see above)",
            report.failures
        );
    }
    Ok(())
}

/// The plan the real run would carry out for one company, and for a quota sync (or quotas to
/// zero) the very writes it would send (`domain::item_writes`, as the sync does).
async fn quota_preview(deps: &shared::bootstrap::Deps, id: i64) -> Result<Vec<QuotaRow>> {
    use shared::domain::item_writes::item_writes;
    use shared::domain::provisioning::DeprovisionStep;
    use shared::domain::quotas;
    let svc = deps.provisioning();
    let (settings, billing, mappings) = svc.settings().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let view = svc
        .view(id, &billing, &mappings)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = view.plan(&settings, chrono::Utc::now());
    let desired = |current: &[_]| match &plan {
        CompanyPlan::SyncQuotas { quotas: q, .. } => Some(quotas::desired_items(q, current)),
        CompanyPlan::Deprovision { steps, .. }
            if steps.due.contains(&DeprovisionStep::QuotasToZero) =>
        {
            Some(quotas::zero_quotas(current))
        }
        _ => None,
    };
    let tenant = match &plan {
        CompanyPlan::SyncQuotas { mapping, .. } | CompanyPlan::Deprovision { mapping, .. } => {
            Some(mapping.tenant_id.clone())
        }
        _ => None,
    };
    let mut rows = Vec::new();
    if let Some(tenant) = tenant {
        let current = deps.acronis.offering_items(&tenant).await?;
        if let Some(want) = desired(&current) {
            for w in &item_writes(&current, &want).0 {
                let from = current
                    .iter()
                    .find(|c| c.name == w.name && c.infra_id == w.infra_id);
                rows.push(QuotaRow::Write {
                    company: id,
                    item: w.name.clone(),
                    infra_id: w.infra_id.clone(),
                    from: from.map(|c| ItemState {
                        status: c.status,
                        quota: c.quota,
                    }),
                    to: ItemState {
                        status: w.status,
                        quota: w.quota,
                    },
                });
            }
        }
    }
    rows.push(QuotaRow::Plan {
        company: id,
        plan: Box::new(plan),
    });
    Ok(rows)
}

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

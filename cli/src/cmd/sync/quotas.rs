//! `acw sync quotas [--company ID] [--dry-run]`: mapped companies' quotas brought to their
//! agreements now, or the writes that would do it.

use anyhow::Result;
use indicatif::ProgressBar;
use serde::Serialize;
use shared::acronis::models::Quota;
use shared::services::provisioning::CompanyPlan;
use shared::store::{Failure, RunRecord};

use crate::ctx::Ctx;
use crate::output::{emit, table};

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
    let (settings, billing, mut mappings) =
        svc.settings().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // The company's connection's product mappings make its quotas.
    if let Some(m) = deps.store.mapping_by_company(id).await? {
        mappings.retain(|p| p.connection == m.connection);
    }
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
            Some((mapping.connection.clone(), mapping.tenant_id.clone()))
        }
        _ => None,
    };
    let mut rows = Vec::new();
    if let Some((connection, tenant)) = tenant {
        let acronis = deps.connections.client(&connection).await?;
        let current = acronis.offering_items(&tenant).await?;
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

//! `acw companies map`: companies to new tenants, or one company to an existing tenant, each
//! pair through the checks of `services::companies::plan_map`.

use anyhow::{Result, bail};
use serde::Serialize;
use shared::services::companies::{self, MapPlan};
use shared::store::{Failure, RunRecord};

use super::{MappingShown, RUN_NAME, Refused, progress};
use crate::ctx::Ctx;
use crate::output::{emit, opt, table};
use shared::secrets::ConnectionName;

/// What `companies map` (and `companies match`) mapped, and what it could not.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct MapReport {
    pub mapped: Vec<MappingShown>,
    pub failed: Vec<Refused>,
}

/// What `companies map --dry-run` shows: per company, the tenant it would get and its quotas.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapDryRun {
    pub dry_run: bool,
    pub plans: Vec<MapPlan>,
    pub failed: Vec<Refused>,
}

pub async fn map(
    ctx: &Ctx,
    ids: &[i64],
    (tenant, connection): (Option<&str>, Option<&ConnectionName>),
    dry_run: bool,
) -> Result<()> {
    if tenant.is_some() && ids.len() != 1 {
        bail!("--tenant maps exactly one company; got {} ids", ids.len());
    }
    let pairs: Vec<(i64, Option<String>)> = ids
        .iter()
        .map(|id| (*id, tenant.map(str::to_owned)))
        .collect();
    map_pairs(ctx, &pairs, connection, dry_run).await
}

/// Maps each company to its tenant (or a new one), every pair through the checks of
/// [`companies::plan_map`], with a progress bar; one refused pair does not stop the others.
/// The real run is recorded (`acw status`); a dry run records nothing.
pub async fn map_pairs(
    ctx: &Ctx,
    pairs: &[(i64, Option<String>)],
    connection: Option<&ConnectionName>,
    dry_run: bool,
) -> Result<()> {
    let deps = ctx.deps().await?;
    let svc = deps.provisioning();
    let mut run = RunRecord::start(RUN_NAME);
    let bar = progress(pairs.len() as u64);
    let mut mapped = Vec::new();
    let mut planned = Vec::new();
    for (id, tenant) in pairs {
        let (id, tenant) = (*id, tenant.as_deref());
        bar.set_message(format!("company {id}"));
        // Read and check: the plan. A dry run shows it; the real run carries it out.
        let result = match companies::plan_map(&svc, id, tenant, connection).await {
            Ok(plan) if dry_run => {
                planned.push(plan);
                bar.inc(1);
                continue;
            }
            Ok(plan) => companies::apply_map(&svc, plan, &mut run).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(m) => {
                let shown = MappingShown::of(&m);
                ctx.audit("companies.map", &format!("company {id}"), shown.detail())
                    .await?;
                mapped.push(shown);
            }
            Err(e) => run.failures.push(Failure {
                subject: format!("company {id}"),
                reason: e.to_string(),
                transient: e.is_transient(),
            }),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if dry_run {
        let report = MapDryRun {
            dry_run: true,
            plans: planned,
            failed: Refused::all(&run.failures),
        };
        return show_map_plans(ctx, &report);
    }
    run.count("mapped", mapped.len() as u64);
    ctx.record(&mut run).await?;
    let report = MapReport {
        mapped,
        failed: Refused::all(&run.failures),
    };
    emit(ctx, &report, || {
        let mut rows: Vec<Vec<String>> = report
            .mapped
            .iter()
            .map(|m| {
                vec![
                    m.company_id.to_string(),
                    opt(m.company_name.as_ref()),
                    m.tenant_id.clone(),
                    "mapped".into(),
                ]
            })
            .collect();
        rows.extend(report.failed.iter().map(|f| {
            vec![
                f.subject.trim_start_matches("company ").to_owned(),
                "-".into(),
                "-".into(),
                format!("FAILED: {}", f.reason),
            ]
        }));
        table(&["company", "name", "tenant", "result"], rows)
    });
    if !report.failed.is_empty() {
        let reasons: Vec<String> = report
            .failed
            .iter()
            .map(|f| format!("{}: {}", f.subject, f.reason))
            .collect();
        bail!(
            "{} of {} compan{} not mapped:\n  {}",
            report.failed.len(),
            pairs.len(),
            if pairs.len() == 1 {
                "y was"
            } else {
                "ies were"
            },
            reasons.join("\n  ")
        );
    }
    Ok(())
}

/// Prints the plans of `map --dry-run`; fails when a company was refused.
fn show_map_plans(ctx: &Ctx, report: &MapDryRun) -> Result<()> {
    emit(ctx, report, || {
        let mut rows: Vec<Vec<String>> = report.plans.iter().map(plan_row).collect();
        rows.extend(report.failed.iter().map(|f| {
            vec![
                f.subject.trim_start_matches("company ").to_owned(),
                "-".into(),
                format!("REFUSED: {}", f.reason),
                "-".into(),
            ]
        }));
        format!(
            "{}\ndry run: nothing was created or mapped",
            table(&["company", "name", "would map to", "quotas"], rows)
        )
    });
    if !report.failed.is_empty() {
        bail!(
            "{} compan(ies) could not be mapped (see above)",
            report.failed.len()
        );
    }
    Ok(())
}

fn plan_row(p: &MapPlan) -> Vec<String> {
    let (company, tenant, quotas) = match p {
        MapPlan::NewTenant {
            company,
            tenant_name,
            quotas,
            ..
        } => (company, format!("new tenant {tenant_name:?}"), quotas),
        MapPlan::ExistingTenant {
            company,
            tenant_id,
            tenant_name,
            quotas,
            ..
        } => (
            company,
            format!(
                "existing tenant {} ({tenant_id})",
                tenant_name.as_deref().unwrap_or("?")
            ),
            quotas,
        ),
    };
    vec![
        company.id.to_string(),
        opt(company.name.as_ref()),
        tenant,
        quotas
            .items
            .iter()
            .map(|i| format!("{}: {}", i.offering_item, i.basis))
            .collect::<Vec<_>>()
            .join("\n"),
    ]
}

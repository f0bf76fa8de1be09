//! `acw tenants production [--company ID] [--dry-run]`: puts mapped tenants still in trial
//! in production (once, for good), the way provisioning puts new tenants. The plan (which
//! tenants are in trial) is printed first; a dry run stops there.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use shared::domain::provisioning::pricing_change;
use shared::domain::settings::TenantMode;
use shared::store::{Failure, RunRecord};

use crate::cmd::companies::{RUN_NAME, Refused};
use crate::ctx::Ctx;
use crate::output::{emit, table};

/// `tenants production`: the tenants in trial, and what was switched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionReport {
    pub dry_run: bool,
    /// Mapped tenants checked.
    pub checked: usize,
    pub plan: Vec<ProductionStep>,
    /// Tenants switched.
    pub switched: usize,
    pub failures: Vec<Refused>,
}

/// One tenant in trial, to be put in production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionStep {
    pub company_id: i64,
    pub tenant_id: String,
    pub tenant_name: Option<String>,
    pub from: String,
    pub to: String,
    pub switched: bool,
}

pub async fn production(ctx: &Ctx, company: Option<i64>, dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let svc = deps.provisioning();
    let mappings: Vec<_> = deps
        .store
        .mappings()
        .await?
        .into_iter()
        .filter(|m| company.is_none_or(|c| m.company_id == c))
        .collect();
    if let Some(c) = company
        && mappings.is_empty()
    {
        bail!("company {c} is not mapped (`acw companies list` shows the mapped ones)");
    }
    // Read: each tenant's pricing mode. Plan: those that must switch.
    let mut run = RunRecord::start(RUN_NAME);
    run.dry_run = dry_run;
    let plan = to_switch(deps, &mappings, &mut run).await;
    let mut switched = Vec::new();
    if !dry_run {
        for (m, _) in &plan {
            let subject = format!("company {} / tenant {}", m.company_id, m.tenant_id);
            let switch = async {
                svc.on(&m.connection)
                    .await?
                    .ensure_tenant_mode(&m.tenant_id, TenantMode::Production, &subject, &mut run)
                    .await
            };
            match switch.await {
                Ok((_, true)) => {
                    // The audit entry's detail is free-form.
                    let detail = serde_json::json!({"mode": "production"});
                    ctx.audit("tenants.production", &subject, detail).await?;
                    switched.push(m.company_id);
                }
                Ok((_, false)) => {}
                Err(e) => run.failures.push(Failure {
                    subject,
                    reason: e.to_string(),
                    transient: e.is_transient(),
                }),
            }
        }
        ctx.record(&mut run).await?;
    }
    let report = ProductionReport {
        dry_run,
        checked: mappings.len(),
        plan: plan
            .iter()
            .map(|(m, mode)| ProductionStep {
                company_id: m.company_id,
                tenant_id: m.tenant_id.clone(),
                tenant_name: m.tenant_name.clone(),
                from: mode.clone(),
                to: "production".into(),
                switched: switched.contains(&m.company_id),
            })
            .collect(),
        switched: switched.len(),
        failures: Refused::all(&run.failures),
    };
    emit(ctx, &report, || {
        let mut out = if plan.is_empty() {
            "every mapped tenant is out of trial".to_owned()
        } else {
            table(
                &["company", "tenant", "mode", "→"],
                plan.iter().map(|(m, mode)| {
                    vec![
                        m.company_id.to_string(),
                        m.tenant_name.clone().unwrap_or_else(|| m.tenant_id.clone()),
                        mode.clone(),
                        "production".into(),
                    ]
                }),
            )
        };
        out.push_str(&if dry_run {
            format!(
                "\n{} of {} tenant(s) would be put in production (dry run: nothing written; the switch cannot be undone)",
                plan.len(),
                mappings.len()
            )
        } else {
            format!(
                "\n{} tenant(s) put in production, {} failure(s)",
                switched.len(),
                run.failures.len()
            )
        });
        for f in &run.failures {
            out.push_str(&format!("\n{}: {}", f.subject, f.reason));
        }
        out
    });
    if !run.failures.is_empty() {
        bail!(
            "{} tenant(s) could not be checked or switched (see above)",
            run.failures.len()
        );
    }
    Ok(())
}

/// The mapped tenants not in production, each read in its own connection (a tenant that
/// cannot be read is a failure of the run).
async fn to_switch(
    deps: &shared::bootstrap::Deps,
    mappings: &[shared::store::CompanyMapping],
    run: &mut RunRecord,
) -> Vec<(shared::store::CompanyMapping, String)> {
    let mut plan = Vec::new();
    for m in mappings {
        let read = match deps.connections.client(&m.connection).await {
            Ok(acronis) => acronis
                .pricing(&m.tenant_id)
                .await
                .map_err(|e| (e.to_string(), e.is_transient())),
            Err(e) => Err((e.to_string(), false)),
        };
        match read {
            Ok(p) if pricing_change(TenantMode::Production, &p.mode).is_some() => {
                plan.push((m.clone(), p.mode));
            }
            Ok(_) => {}
            Err((reason, transient)) => run.failures.push(Failure {
                subject: format!("company {} / tenant {}", m.company_id, m.tenant_id),
                reason,
                transient,
            }),
        }
    }
    plan
}

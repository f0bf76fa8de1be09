//! `acw tenants list [--search S] [--mapping M] [--page N] [--per-page N]`: the partner's
//! customer tenants and their companies.
//!
//! `acw tenants production [--company ID] [--dry-run]`: puts mapped tenants still in trial
//! in production (once, for good), the way provisioning puts new tenants. The plan (which
//! tenants are in trial) is printed first; a dry run stops there.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use shared::domain::provisioning::pricing_change;
use shared::domain::settings::TenantMode;
use shared::services::companies::{self, MappingFilter};
use shared::store::{Failure, RunRecord};

use super::args::{DryRun, MappingArg};
use super::companies::RUN_NAME;
use super::companies::Refused;
use crate::ctx::Ctx;
use crate::output::{emit, opt, table};

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum TenantsCmd {
    /// The partner's customer tenants and the companies they are mapped to.
    List {
        /// Part of the name, id or customer_id.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_enum, default_value = "all")]
        mapping: MappingArg,
        /// Page to show (from 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        page: u64,
        /// Tenants per page.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1000))]
        per_page: u64,
    },
    /// Put mapped tenants still in trial in production (once, for good), as provisioning
    /// does for new tenants.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Show which tenants would switch; write nothing")
    ))]
    Production {
        /// Only this company's tenant.
        #[arg(long, value_name = "COMPANY_ID")]
        company: Option<i64>,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: TenantsCmd) -> Result<()> {
    match cmd {
        TenantsCmd::List {
            search,
            mapping,
            page,
            per_page,
        } => list(ctx, search.as_deref(), mapping.into(), page, per_page).await,
        TenantsCmd::Production { company, dry_run } => {
            production(ctx, company, dry_run.dry_run).await
        }
    }
}

/// `tenants list`: one page of the partner's customer tenants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantsPage {
    pub total: usize,
    pub page: u64,
    pub per_page: u64,
    pub tenants: Vec<TenantShown>,
}

/// A tenant and the company it is mapped to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantShown {
    pub id: String,
    pub name: Option<String>,
    pub customer_id: Option<String>,
    pub enabled: bool,
    pub pricing_mode: Option<String>,
    pub company_id: Option<i64>,
    pub company_name: Option<String>,
}

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

pub async fn list(
    ctx: &Ctx,
    search: Option<&str>,
    mapping: MappingFilter,
    page: u64,
    per_page: u64,
) -> Result<()> {
    let deps = ctx.deps().await?;
    let rows = companies::tenants(&deps.provisioning(), search, mapping).await?;
    let total = rows.len();
    let first = ((page - 1) * per_page) as usize;
    let shown: Vec<_> = rows.iter().skip(first).take(per_page as usize).collect();
    let report = TenantsPage {
        total,
        page,
        per_page,
        tenants: shown
            .iter()
            .map(|r| TenantShown {
                id: r.tenant.id.clone(),
                name: r.tenant.name.clone(),
                customer_id: r.tenant.customer_id.clone(),
                enabled: r.tenant.enabled,
                pricing_mode: r.tenant.pricing_mode.clone(),
                company_id: r.mapping.as_ref().map(|m| m.company_id),
                company_name: r.mapping.as_ref().and_then(|m| m.company_name.clone()),
            })
            .collect(),
    };
    emit(ctx, &report, || {
        let pages = total.div_ceil(per_page as usize).max(1);
        format!(
            "{}\n{total} tenant{}, page {page} of {pages}",
            table(
                &["tenant", "name", "customer id", "enabled", "company"],
                shown.iter().map(|r| {
                    vec![
                        r.tenant.id.clone(),
                        opt(r.tenant.name.as_ref()),
                        opt(r.tenant.customer_id.as_ref()),
                        if r.tenant.enabled { "yes" } else { "no" }.to_owned(),
                        r.mapping.as_ref().map_or_else(
                            || "-".to_owned(),
                            |m| match &m.company_name {
                                Some(n) => format!("{} {n}", m.company_id),
                                None => m.company_id.to_string(),
                            },
                        ),
                    ]
                }),
            ),
            if total == 1 { "" } else { "s" }
        )
    });
    Ok(())
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
    let mut plan = Vec::new();
    let mut run = RunRecord::start(RUN_NAME);
    run.dry_run = dry_run;
    for m in &mappings {
        match deps.acronis.pricing(&m.tenant_id).await {
            Ok(p) if pricing_change(TenantMode::Production, &p.mode).is_some() => {
                plan.push((m.clone(), p.mode));
            }
            Ok(_) => {}
            Err(e) => run.failures.push(Failure {
                subject: format!("company {} / tenant {}", m.company_id, m.tenant_id),
                reason: e.to_string(),
                transient: e.is_transient(),
            }),
        }
    }
    let mut switched = Vec::new();
    if !dry_run {
        for (m, _) in &plan {
            let subject = format!("company {} / tenant {}", m.company_id, m.tenant_id);
            match svc
                .ensure_tenant_mode(&m.tenant_id, TenantMode::Production, &subject, &mut run)
                .await
            {
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

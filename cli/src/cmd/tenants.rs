//! `acw tenants list [--search S] [--mapping M] [--page N] [--per-page N]`: the partner's
//! customer tenants and their companies.
//!
//! `acw tenants production [--company ID] [--dry-run]`: puts mapped tenants still in trial
//! in production (once, for good), the way provisioning puts new tenants. The plan (which
//! tenants are in trial) is printed first; a dry run stops there.

use anyhow::{Result, bail};
use serde_json::json;
use shared::domain::provisioning::pricing_change;
use shared::domain::settings::TenantMode;
use shared::services::companies::{self, MappingFilter};
use shared::store::{Failure, RunRecord};

use super::args::{DryRun, MappingArg};
use super::companies::RUN_NAME;
use crate::ctx::{self, Ctx};
use crate::output::{emit, opt, table};

#[derive(Debug, clap::Subcommand)]
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

pub async fn list(
    ctx: &Ctx,
    search: Option<&str>,
    mapping: MappingFilter,
    page: u64,
    per_page: u64,
) -> Result<()> {
    let deps = ctx::deps().await?;
    let rows = companies::tenants(&deps.provisioning(), search, mapping).await?;
    let total = rows.len();
    let first = ((page - 1) * per_page) as usize;
    let shown: Vec<_> = rows.iter().skip(first).take(per_page as usize).collect();
    let json = json!({
        "total": total,
        "page": page,
        "per_page": per_page,
        "tenants": shown.iter().map(|r| json!({
            "id": r.tenant.id,
            "name": r.tenant.name,
            "customer_id": r.tenant.customer_id,
            "enabled": r.tenant.enabled,
            "pricing_mode": r.tenant.pricing_mode,
            "company_id": r.mapping.as_ref().map(|m| m.company_id),
            "company_name": r.mapping.as_ref().and_then(|m| m.company_name.clone()),
        })).collect::<Vec<_>>(),
    });
    emit(ctx, &json, || {
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
    let deps = ctx::deps().await?;
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
                    ctx::audit(
                        &deps.store,
                        "tenants.production",
                        &subject,
                        json!({"mode": "production"}),
                    )
                    .await?;
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
        run.finished_at = Some(chrono::Utc::now());
        deps.store
            .put_run(&run, shared::bootstrap::run_retention())
            .await?;
    }
    let rows: Vec<_> = plan
        .iter()
        .map(|(m, mode)| {
            json!({"company_id": m.company_id, "tenant_id": m.tenant_id,
                   "tenant_name": m.tenant_name, "from": mode, "to": "production",
                   "switched": switched.contains(&m.company_id)})
        })
        .collect();
    let value = json!({"dry_run": dry_run, "checked": mappings.len(), "plan": rows,
                       "switched": switched.len(), "failures": run.failures.iter().map(|f| json!({"subject": f.subject, "reason": f.reason})).collect::<Vec<_>>()});
    emit(ctx, &value, || {
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

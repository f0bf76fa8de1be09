//! `acw companies list|map|match|unmap`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use shared::domain::deprovisioning::describe_pending;
use shared::services::companies::{self, CompanyFilter, MapPlan};
use shared::store::{Change, CompanyMapping, DeprovisionClock, Failure, RunRecord};

use super::args::{DryRun, MappingArg};
use crate::ctx::{self, Ctx};
use crate::output::{emit, opt, table};

/// Runs of `acw` are recorded under this function name (see `acw status`).
pub const RUN_NAME: &str = "acw";

#[derive(Debug, clap::Subcommand)]
pub enum CompaniesCmd {
    /// List companies with their tenants.
    List {
        /// Part of the name or identifier.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, value_enum, default_value = "all")]
        mapping: MappingArg,
        /// Company type name (repeatable: any of them).
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        /// Company status name (repeatable: any of them).
        #[arg(long = "status", value_name = "STATUS")]
        statuses: Vec<String>,
    },
    /// Map companies to new tenants, or one company to an existing tenant.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Check and show what would be done (tenant, quotas); change nothing")
    ))]
    Map {
        #[arg(required = true, value_name = "COMPANY_ID")]
        ids: Vec<i64>,
        /// Existing customer tenant (one company only).
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Propose which existing tenant belongs to which unmapped company (same name, then
    /// normalised name, the tenant's customer_id, contact email domain) and map the proposed
    /// pairs, each checked as `companies map` checks it.
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Show the proposals, the ambiguous and the unmatched; map nothing")
    ))]
    Match {
        /// Map only the proposals of these companies (repeatable).
        #[arg(long = "company", value_name = "COMPANY_ID")]
        only: Vec<i64>,
        /// Map the pairs of this file instead of proposing: the output of
        /// `companies match --dry-run --json`, reviewed and edited (its `plan.proposals`), or a
        /// list of `{"company_id": …, "tenant_id": …}`.
        #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
        from: Option<PathBuf>,
        #[command(flatten)]
        dry_run: DryRun,
    },
    /// Remove a company's mapping (the tenant is left as it is).
    #[command(mut_arg(
        "dry_run",
        DryRun::help("Show the mapping that would be removed; change nothing")
    ))]
    Unmap {
        #[arg(value_name = "COMPANY_ID")]
        id: i64,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: CompaniesCmd) -> Result<()> {
    match cmd {
        CompaniesCmd::List {
            search,
            mapping,
            types,
            statuses,
        } => {
            let filter = CompanyFilter {
                search,
                mapping: mapping.into(),
                types,
                statuses,
            };
            list(ctx, &filter).await
        }
        CompaniesCmd::Map {
            ids,
            tenant,
            dry_run,
        } => map(ctx, &ids, tenant.as_deref(), dry_run.dry_run).await,
        CompaniesCmd::Match {
            only,
            from,
            dry_run,
        } => match from {
            Some(file) => map_from_file(ctx, &file, &only).await,
            None => match_tenants(ctx, &only, dry_run.dry_run).await,
        },
        CompaniesCmd::Unmap { id, dry_run } => unmap(ctx, id, dry_run.dry_run).await,
    }
}

pub async fn list(ctx: &Ctx, filter: &CompanyFilter) -> Result<()> {
    let deps = ctx::deps().await?;
    let rows = companies::list(&deps.provisioning(), filter).await?;
    let clocks: std::collections::HashMap<i64, DeprovisionClock> = deps
        .store
        .deprovision_clocks()
        .await?
        .into_iter()
        .map(|c| (c.company_id, c))
        .collect();
    let pending = |id: i64| {
        clocks
            .get(&id)
            .map(|c| c.pending.as_slice())
            .unwrap_or_default()
    };
    let json = Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "id": r.company.id,
                    "identifier": r.company.identifier,
                    "name": r.company.name,
                    "status": r.company.status.as_ref().and_then(|s| s.name.clone()),
                    "types": r.company.types.iter().flatten().filter_map(|t| t.name.clone()).collect::<Vec<_>>(),
                    "tenant_id": r.mapping.as_ref().map(|m| m.tenant_id.clone()),
                    "origin": r.mapping.as_ref().map(|m| m.origin),
                    "pending_deprovisioning": pending(r.company.id),
                })
            })
            .collect(),
    );
    emit(ctx, &json, || {
        let n = rows.len();
        format!(
            "{}\n{n} compan{}",
            table(
                &[
                    "id",
                    "identifier",
                    "name",
                    "status",
                    "types",
                    "tenant",
                    "deprovisioning"
                ],
                rows.iter().map(|r| {
                    vec![
                        r.company.id.to_string(),
                        opt(r.company.identifier.as_ref()),
                        opt(r.company.name.as_ref()),
                        opt(r.company.status.as_ref().and_then(|s| s.name.as_ref())),
                        r.company
                            .types
                            .iter()
                            .flatten()
                            .filter_map(|t| t.name.clone())
                            .collect::<Vec<_>>()
                            .join(", "),
                        opt(r.mapping.as_ref().map(|m| &m.tenant_id)),
                        describe_pending(pending(r.company.id)),
                    ]
                }),
            ),
            if n == 1 { "y" } else { "ies" }
        )
    });
    Ok(())
}

fn mapping_json(m: &CompanyMapping) -> Value {
    json!({
        "company_id": m.company_id,
        "tenant_id": m.tenant_id,
        "company_name": m.company_name,
        "tenant_name": m.tenant_name,
        "origin": m.origin,
    })
}

fn progress(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if crate::output::interactive() && len > 1 {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} companies {elapsed} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

pub async fn map(ctx: &Ctx, ids: &[i64], tenant: Option<&str>, dry_run: bool) -> Result<()> {
    if tenant.is_some() && ids.len() != 1 {
        bail!("--tenant maps exactly one company; got {} ids", ids.len());
    }
    let pairs: Vec<(i64, Option<String>)> = ids
        .iter()
        .map(|id| (*id, tenant.map(str::to_owned)))
        .collect();
    map_pairs(ctx, &pairs, dry_run).await
}

/// Maps each company to its tenant (or a new one), every pair through the checks of
/// [`companies::plan_map`], with a progress bar; one refused pair does not stop the others.
async fn map_pairs(ctx: &Ctx, pairs: &[(i64, Option<String>)], dry_run: bool) -> Result<()> {
    let deps = ctx::deps().await?;
    let svc = deps.provisioning();
    let mut run = RunRecord::start(RUN_NAME);
    let bar = progress(pairs.len() as u64);
    let mut mapped = Vec::new();
    let mut planned = Vec::new();
    for (id, tenant) in pairs {
        let (id, tenant) = (*id, tenant.as_deref());
        bar.set_message(format!("company {id}"));
        // Read and check: the plan. A dry run shows it; the real run carries it out.
        let result = match companies::plan_map(&svc, id, tenant).await {
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
                ctx::audit(
                    &deps.store,
                    "companies.map",
                    &format!("company {id}"),
                    mapping_json(&m),
                )
                .await?;
                mapped.push(m);
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
        return show_map_plans(ctx, &planned, &run.failures);
    }
    run.count("mapped", mapped.len() as u64);
    run.finished_at = Some(chrono::Utc::now());
    deps.store
        .put_run(&run, shared::bootstrap::run_retention())
        .await?;
    let json = json!({
        "mapped": mapped.iter().map(mapping_json).collect::<Vec<_>>(),
        "failed": run.failures.iter().map(|f| json!({"subject": f.subject, "reason": f.reason})).collect::<Vec<_>>(),
    });
    emit(ctx, &json, || {
        let mut rows: Vec<Vec<String>> = mapped
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
        rows.extend(run.failures.iter().map(|f| {
            vec![
                f.subject.trim_start_matches("company ").to_owned(),
                "-".into(),
                "-".into(),
                format!("FAILED: {}", f.reason),
            ]
        }));
        table(&["company", "name", "tenant", "result"], rows)
    });
    if !run.failures.is_empty() {
        let reasons: Vec<String> = run
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.subject, f.reason))
            .collect();
        bail!(
            "{} of {} compan{} not mapped:\n  {}",
            run.failures.len(),
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

/// What `map --dry-run` shows: per company, the tenant it would get and its quotas.
fn show_map_plans(ctx: &Ctx, plans: &[MapPlan], failures: &[Failure]) -> Result<()> {
    let json = json!({
        "dry_run": true,
        "plans": plans,
        "failed": failures.iter().map(|f| json!({"subject": f.subject, "reason": f.reason})).collect::<Vec<_>>(),
    });
    emit(ctx, &json, || {
        let mut rows: Vec<Vec<String>> = plans
            .iter()
            .map(|p| {
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
            })
            .collect();
        rows.extend(failures.iter().map(|f| {
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
    if !failures.is_empty() {
        bail!(
            "{} compan(ies) could not be mapped (see above)",
            failures.len()
        );
    }
    Ok(())
}

pub async fn unmap(ctx: &Ctx, id: i64, dry_run: bool) -> Result<()> {
    // The store alone: unmapping needs neither API.
    let store = ctx::store().await?;
    if dry_run {
        let Some(mapping) = store.mapping_by_company(id).await? else {
            bail!("company {id} is not mapped (see `acw companies list --mapping mapped`)");
        };
        emit(
            ctx,
            &json!({"dry_run": true, "would_unmap": mapping_json(&mapping)}),
            || {
                format!(
                    "company {id} would be unmapped from tenant {} (the tenant is left as it is; dry run: nothing changed)",
                    mapping.tenant_id
                )
            },
        );
        return Ok(());
    }
    let Some(removed) = store.unmap_company(id).await? else {
        bail!("company {id} is not mapped (see `acw companies list --mapping mapped`)");
    };
    let mut run = RunRecord::start(RUN_NAME);
    run.changes.push(Change {
        subject: format!("company {id}"),
        field: "mapping".into(),
        old: Some(json!(removed.tenant_id)),
        new: Value::Null,
        basis: Some("unmapped by hand".into()),
    });
    run.finished_at = Some(chrono::Utc::now());
    store
        .put_run(&run, shared::bootstrap::run_retention())
        .await?;
    ctx::audit(
        &store,
        "companies.unmap",
        &format!("company {id}"),
        mapping_json(&removed),
    )
    .await?;
    emit(ctx, &json!({ "unmapped": mapping_json(&removed) }), || {
        format!(
            "company {id} unmapped from tenant {} (the tenant was left as it is)",
            removed.tenant_id
        )
    });
    Ok(())
}

/// `acw companies match [--dry-run] [--company ID…]`: proposes company ↔ tenant pairs
/// (`domain::matching`) and maps the proposed pairs (all, or those of the chosen
/// companies), each through the checks of `companies map`. A dry run shows the proposals,
/// the ambiguous and the unmatched.
pub async fn match_tenants(ctx: &Ctx, only: &[i64], dry_run: bool) -> Result<()> {
    let deps = ctx::deps().await?;
    let reads = companies::match_plan(&deps.provisioning()).await?;
    let plan = &reads.plan;
    if let Some(missing) = only
        .iter()
        .find(|id| !plan.proposals.iter().any(|p| p.company_id == **id))
    {
        bail!(
            "no tenant is proposed for company {missing} (`acw companies match --dry-run` shows the proposals)"
        );
    }
    let chosen: Vec<_> = plan
        .proposals
        .iter()
        .filter(|p| only.is_empty() || only.contains(&p.company_id))
        .collect();
    if dry_run {
        emit(
            ctx,
            &json!({"dry_run": true, "companies": reads.companies, "tenants": reads.tenants, "plan": plan}),
            || {
                let mut out = table(
                    &["company", "name", "tenant", "tenant name", "evidence"],
                    chosen.iter().map(|p| {
                        vec![
                            p.company_id.to_string(),
                            p.company_name.clone(),
                            p.tenant_id.clone(),
                            p.tenant_name.clone(),
                            p.evidence.describe().to_owned(),
                        ]
                    }),
                );
                out.push_str(&format!(
                    "\n{} proposed of {} unmapped companies and {} unmapped tenants",
                    chosen.len(),
                    reads.companies,
                    reads.tenants
                ));
                for a in &plan.ambiguous {
                    let names = |v: Vec<String>| v.join(", ");
                    out.push_str(&format!(
                        "\nambiguous ({} {:?}): companies {} ↔ tenants {}",
                        a.evidence.describe(),
                        a.key,
                        names(
                            a.companies
                                .iter()
                                .map(|(id, n)| format!("{id} {n}"))
                                .collect()
                        ),
                        names(
                            a.tenants
                                .iter()
                                .map(|(id, n)| format!("{n} ({id})"))
                                .collect()
                        ),
                    ));
                }
                if !plan.unmatched_companies.is_empty() {
                    out.push_str(&format!(
                        "\nno tenant found for {} compan{} (map them with `acw companies map`)",
                        plan.unmatched_companies.len(),
                        if plan.unmatched_companies.len() == 1 {
                            "y"
                        } else {
                            "ies"
                        }
                    ));
                }
                out.push_str("\ndry run: nothing was mapped");
                out
            },
        );
        return Ok(());
    }
    let pairs: Vec<(i64, Option<String>)> = chosen
        .iter()
        .map(|p| (p.company_id, Some(p.tenant_id.clone())))
        .collect();
    if pairs.is_empty() {
        emit(ctx, &json!({"mapped": [], "failed": []}), || {
            "no pair to map (`acw companies match --dry-run` shows why)".to_owned()
        });
        return Ok(());
    }
    map_pairs(ctx, &pairs, false).await
}

/// One pair of a reviewed match file (what `--dry-run --json` writes beside the ids, names
/// and evidence, is not read).
#[derive(Debug, serde::Deserialize)]
struct FilePair {
    company_id: i64,
    tenant_id: String,
}

/// `acw companies match --from FILE [--company ID…]`: maps the pairs of a reviewed file
/// (the dry run's JSON, or a list of pairs), each through the checks of `companies map`.
pub async fn map_from_file(ctx: &Ctx, file: &std::path::Path, only: &[i64]) -> Result<()> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not JSON ({e}); write it with `acw companies match --dry-run --json`",
            file.display()
        )
    })?;
    let list = doc.pointer("/plan/proposals").cloned().unwrap_or(doc);
    let pairs: Vec<FilePair> = serde_json::from_value(list).map_err(|e| {
        anyhow::anyhow!(
            "{}: expected the output of `acw companies match --dry-run --json` or a list of {{\"company_id\": …, \"tenant_id\": …}} ({e})",
            file.display()
        )
    })?;
    let pairs: Vec<(i64, Option<String>)> = pairs
        .into_iter()
        .filter(|p| only.is_empty() || only.contains(&p.company_id))
        .map(|p| (p.company_id, Some(p.tenant_id)))
        .collect();
    if pairs.is_empty() {
        bail!("{} holds no pair to map", file.display());
    }
    let mut companies = std::collections::BTreeSet::new();
    if let Some((dup, _)) = pairs.iter().find(|(c, _)| !companies.insert(*c)) {
        bail!(
            "{} maps company {dup} twice; keep one pair per company",
            file.display()
        );
    }
    map_pairs(ctx, &pairs, false).await
}

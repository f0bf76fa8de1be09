//! `acw companies match`: proposes company ↔ tenant pairs (`domain::matching`) and maps the
//! chosen ones, each through the checks of `companies map`; or maps a reviewed file's pairs.

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::Value;
use shared::domain::matching::MatchPlan;
use shared::services::companies;

use super::map::{MapReport, map_pairs};
use crate::ctx::Ctx;
use crate::output::{emit, table};

/// What `companies match --dry-run` shows (and `--from` reads back).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchDryRun {
    pub dry_run: bool,
    /// Unmapped companies and unmapped customer tenants that took part.
    pub companies: usize,
    pub tenants: usize,
    pub plan: MatchPlan,
}

/// `acw companies match [--dry-run] [--company ID…]`: maps the proposed pairs (all, or those
/// of the chosen companies); a dry run shows the proposals, the ambiguous and the unmatched.
pub async fn match_tenants(
    ctx: &Ctx,
    only: &[i64],
    connection: &crate::cmd::args::ConnectionArg,
    dry_run: bool,
) -> Result<()> {
    let deps = ctx.deps().await?;
    let svc = connection.service(deps).await?;
    let reads = companies::match_plan(&svc).await?;
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
        let report = MatchDryRun {
            dry_run: true,
            companies: reads.companies,
            tenants: reads.tenants,
            plan: plan.clone(),
        };
        emit(ctx, &report, || human(&report, &chosen));
        return Ok(());
    }
    let pairs: Vec<(i64, Option<String>)> = chosen
        .iter()
        .map(|p| (p.company_id, Some(p.tenant_id.clone())))
        .collect();
    if pairs.is_empty() {
        let report = MapReport {
            mapped: Vec::new(),
            failed: Vec::new(),
        };
        emit(ctx, &report, || {
            "no pair to map (`acw companies match --dry-run` shows why)".to_owned()
        });
        return Ok(());
    }
    map_pairs(ctx, &pairs, Some(svc.acronis.connection()), false).await
}

fn human(report: &MatchDryRun, chosen: &[&shared::domain::matching::Proposal]) -> String {
    let plan = &report.plan;
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
        report.companies,
        report.tenants
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
    map_pairs(ctx, &pairs, None, false).await
}

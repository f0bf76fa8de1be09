//! `acw config export|apply`: every setting and mapping as one reviewable YAML file (the
//! model, its checks and the plan are [`shared::domain::config`]'s).
//!
//! The whole file is checked before anything is written, and only what differs is written,
//! so applying the same file twice changes nothing. `--dry-run` prints the plan's
//! differences; the real run executes the same plan.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;
use serde_json::Value;
use shared::domain::config::{self, ConfigFile, ConfigStep, Diff};
use shared::services::config as service;
use shared::store::{Change, RunRecord};

use super::args::DryRun;
use crate::ctx::Ctx;
use crate::output::{cell, emit};

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum ConfigCmd {
    /// Print every setting and mapping as YAML.
    Export,
    /// Apply a YAML file (as exported): prints the diff; applying twice changes nothing.
    #[command(mut_arg("dry_run", DryRun::help("Print the diff without writing")))]
    Apply {
        file: std::path::PathBuf,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

pub async fn run(ctx: &Ctx, cmd: ConfigCmd) -> Result<()> {
    match cmd {
        ConfigCmd::Export => export(ctx).await,
        ConfigCmd::Apply { file, dry_run } => apply(ctx, &file, dry_run.dry_run).await,
    }
}

pub async fn export(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let file = service::current(store).await?;
    // The file itself, not a report: its keys in the order of its types, as reviewed.
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&file)?);
    } else {
        print!(
            "# acw configuration (apply with `acw config apply FILE [--dry-run]`)\n{}",
            serde_norway::to_string(&file)?
        );
    }
    Ok(())
}

/// Parses and checks a file; nothing is written when this fails.
///
/// Stored settings tolerate fields of another version; a file an operator wrote does not: a
/// key the file's types do not know (a typo) is refused with its path.
pub fn parse(text: &str) -> Result<ConfigFile> {
    let raw: Value = serde_norway::from_str(text)?;
    let file: ConfigFile = serde_json::from_value(raw.clone())?;
    let unknown = shared::unknown_fields::paths(&raw, &serde_json::to_value(&file)?);
    if !unknown.is_empty() {
        return Err(anyhow!("unknown key(s): {}", unknown.join(", ")));
    }
    config::check(&file).map_err(|e| anyhow!(e))?;
    Ok(file)
}

fn render(diffs: &[Diff], dry_run: bool) -> String {
    let mut lines: Vec<String> = diffs
        .iter()
        .map(|d| {
            let sign = match d.op {
                "add" => "+",
                "remove" => "-",
                _ => "~",
            };
            let show = |v: &Value| match v {
                Value::Object(_) => v.to_string(),
                other => cell(other),
            };
            match d.op {
                "add" => format!("{sign} {}.{}: {}", d.section, d.key, show(&d.new)),
                "remove" => format!("{sign} {}.{}: {}", d.section, d.key, show(&d.old)),
                _ => format!(
                    "{sign} {}.{}: {} → {}",
                    d.section,
                    d.key,
                    show(&d.old),
                    show(&d.new)
                ),
            }
        })
        .collect();
    lines.push(match (diffs.len(), dry_run) {
        (0, _) => "no changes: the store already matches the file".to_owned(),
        (n, true) => format!("dry run: {n} change(s), nothing was written"),
        (n, false) => format!("{n} change(s) applied"),
    });
    lines.join("\n")
}

/// What names things in the accounts is checked there, as its command checks it: product
/// attributes and editions (`products settings`), the alert board's statuses, types and
/// priorities (`alerts map`), each mapped company and tenant (`companies map --tenant`).
async fn check_against_accounts(ctx: &Ctx, plan: &config::ConfigPlan) -> Result<()> {
    let named = plan.steps.iter().any(|s| {
        matches!(
            s,
            ConfigStep::SaveProductSettings(_)
                | ConfigStep::SaveAlerts(_)
                | ConfigStep::Map(_)
                | ConfigStep::SaveProvisioning(_)
        )
    });
    if !named {
        return Ok(());
    }
    let deps = ctx.deps().await?;
    let svc = deps.provisioning();
    // Companies the plan unmaps first: their tenants are free for the plan's mappings.
    let unmapped: Vec<i64> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            ConfigStep::Unmap { company_id } => Some(*company_id),
            _ => None,
        })
        .collect();
    for step in &plan.steps {
        match step {
            ConfigStep::SaveProductSettings(p) => {
                shared::services::products::check_settings(&svc, p)
                    .await
                    .map_err(|e| anyhow!("product_settings: {e}"))?;
            }
            ConfigStep::SaveProvisioning(p) => {
                crate::cmd::provisioning::check_new_customers(ctx, &p.new_customers).await?
            }
            ConfigStep::SaveAlerts(a) => shared::services::alerts::check_settings(&deps.cw, a)
                .await
                .map_err(|e| anyhow!("alerts: {e}"))?,
            // As `companies map --tenant` checks: the company exists; the tenant exists, is
            // a customer of this partner and is mapped to no company that stays mapped.
            ConfigStep::Map(m) => {
                shared::services::companies::check_pair(
                    &svc.on(&m.connection).await?,
                    m.company_id,
                    &m.tenant_id,
                    &unmapped,
                )
                .await
                .map_err(|e| {
                    anyhow!(
                        "companies: company {} → tenant {}: {e}",
                        m.company_id,
                        m.tenant_id
                    )
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

pub async fn apply(ctx: &Ctx, path: &Path, dry_run: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let want = parse(&text).map_err(|e| {
        anyhow!(
            "{} is not a valid acw configuration: {e:#}; nothing was written",
            path.display()
        )
    })?;
    let store = ctx.store().await?;
    let have = service::current(store).await?;
    config::refuse_moves(&have, &want).map_err(|e| anyhow!("{e}; nothing was written"))?;
    let plan = config::plan(&have, &want, chrono::Utc::now());
    check_against_accounts(ctx, &plan)
        .await
        .map_err(|e| anyhow!("{}: {e:#}; nothing was written", path.display()))?;
    if !dry_run && !plan.steps.is_empty() {
        service::apply(store, &plan).await?;
        record(ctx, path, &plan).await?;
    }
    let report = ConfigApplied {
        dry_run,
        changes: plan.diffs,
        steps: plan.steps,
    };
    emit(ctx, &report, || render(&report.changes, dry_run));
    Ok(())
}

/// What `config apply` changed (or, with `dry_run`, would change), and its steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigApplied {
    pub dry_run: bool,
    pub changes: Vec<Diff>,
    pub steps: Vec<ConfigStep>,
}

/// Records an applied file: a run of `acw` whose changes are the file's differences (shown
/// by `acw status`), and an audit entry.
async fn record(ctx: &Ctx, path: &Path, plan: &config::ConfigPlan) -> Result<()> {
    let mut run = RunRecord::start(super::companies::RUN_NAME);
    for d in &plan.diffs {
        run.changes.push(Change {
            subject: format!("{} {}", d.section, d.key),
            field: d.op.into(),
            old: Some(d.old.clone()),
            new: d.new.clone(),
            basis: Some(format!("acw config apply {}", path.display())),
        });
    }
    ctx.record(&mut run).await?;
    let detail = serde_json::to_value(Audited {
        changes: &plan.diffs,
    })?;
    ctx.audit("config.apply", &path.display().to_string(), detail)
        .await
}

/// What `config apply` audits.
#[derive(Serialize)]
struct Audited<'a> {
    changes: &'a [Diff],
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::config::{ProductEntry, diff};
    use shared::domain::settings::{BillingSettings, ProvisioningSettings};
    use shared::domain::usage::UsageSettings;

    fn product(item: &str, id: Option<i64>) -> ProductEntry {
        ProductEntry::new(item, id)
    }

    #[test]
    fn a_file_round_trips_and_diffs_to_nothing_against_itself() {
        let file = ConfigFile {
            provisioning: Some(ProvisioningSettings::default()),
            billing: Some(BillingSettings::default()),
            usage: Some(UsageSettings::default()),
            products: Some(vec![product("pw_base_servers", Some(500))]),
            companies: Some(vec![]),
            jobs: Some(shared::domain::config::JobsEntry {
                paused: [shared::domain::jobs::Job::UsagePush].into(),
            }),
            product_settings: Some(Default::default()),
            alerts: Some(Default::default()),
        };
        let text = serde_norway::to_string(&file).unwrap();
        let back = parse(&text).unwrap();
        assert_eq!(back, file);
        assert!(diff(&file, &back).is_empty());
    }

    #[test]
    fn sections_left_out_are_untouched_and_present_ones_authoritative() {
        let have = ConfigFile {
            provisioning: Some(ProvisioningSettings::default()),
            billing: Some(BillingSettings::default()),
            usage: Some(UsageSettings::default()),
            products: Some(vec![
                product("pw_base_servers", Some(500)),
                product("pw_base_vms", Some(502)),
            ]),
            companies: Some(vec![]),
            jobs: None,
            product_settings: None,
            alerts: None,
        };
        let want = parse(
            "provisioning:\n  auto_provisioning: true\nproducts:\n- offering_item: pw_base_servers\n  product_id: 501\n",
        )
        .unwrap();
        let d = diff(&have, &want);
        let ops: Vec<(&str, &str, &str)> = d
            .iter()
            .map(|d| (d.section, d.key.as_str(), d.op))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("provisioning", "auto_provisioning", "change"),
                ("products", "pw_base_vms", "remove"),
                ("products", "pw_base_servers", "change"),
            ]
        );
    }

    #[test]
    fn bad_files_are_refused_with_what_to_fix() {
        let err = parse("provisioning: [oops").unwrap_err().to_string();
        assert!(!err.is_empty());
        let err = parse("provisioning:\n  auto_provision: true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("auto_provision"), "{err}");
        let err = parse("provisioning:\n  language: english\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("two-letter"), "{err}");
        let err = parse(
            "products:\n- offering_item: a\n  product_id: 1\n- offering_item: b\n  product_id: 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("product 1 is mapped to both"), "{err}");
        let err =
            parse("companies:\n- company_id: 1\n  tenant_id: t\n- company_id: 2\n  tenant_id: t\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("tenant t"), "{err}");
    }
}

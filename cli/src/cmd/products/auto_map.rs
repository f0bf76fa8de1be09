//! `acw products auto-map [--dry-run]`: the products to create and map, then created and
//! mapped (recorded as a run of `acw`).

use anyhow::Result;
use serde::Serialize;
use shared::services::products::AutoMapReport;
use shared::store::RunRecord;

use super::label;
use crate::cmd::companies::RUN_NAME;
use crate::ctx::Ctx;

/// What `products auto-map` proposed, created and mapped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoMapped {
    pub dry_run: bool,
    pub report: AutoMapReport,
}

/// `acw products auto-map [--dry-run]`: proposes a product for every offering item of the
/// selected editions, creates the missing ones, and stores the mappings.
pub async fn auto_map(
    ctx: &Ctx,
    connection: &crate::cmd::args::ConnectionArg,
    dry_run: bool,
) -> Result<()> {
    let deps = ctx.deps().await?;
    let svc = connection.service(deps).await?;
    let report = shared::services::products::auto_map(&svc, dry_run)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !dry_run && (report.mapped > 0 || !report.created.is_empty()) {
        record_auto_map(ctx, &report).await?;
    }
    let shown = AutoMapped { dry_run, report };
    let report = &shown.report;
    crate::output::emit(ctx, &shown, || {
        let rows = report.proposals.iter().map(|p| {
            let (action, product) = match &p.choice {
                shared::domain::products::ProductChoice::Existing {
                    identifier,
                    matched,
                    ..
                } => (
                    format!("map ({matched:?})").to_lowercase(),
                    identifier.clone(),
                ),
                shared::domain::products::ProductChoice::Create { identifier, .. } => (
                    if dry_run { "would create" } else { "created" }.to_owned(),
                    identifier.clone(),
                ),
            };
            vec![
                label(&p.offering_item, p.infra_id.as_deref()),
                p.edition.clone().unwrap_or_default(),
                action,
                product,
            ]
        });
        let mut out =
            crate::output::table(&["offering item", "edition", "action", "product"], rows);
        out.push_str(&format!(
            "\n{} product(s) {}, {} mapping(s) stored{}",
            report.created.len(),
            if dry_run {
                "to create (dry run: nothing written)"
            } else {
                "created"
            },
            report.mapped,
            if report.kept.is_empty() {
                String::new()
            } else {
                format!(", kept your own mapping of {}", report.kept.join(", "))
            }
        ));
        out
    });
    Ok(())
}

/// Records what a real auto-map changed: a run of `acw` (each product created in ConnectWise,
/// and the mappings stored), shown by `acw status`, and an audit entry.
async fn record_auto_map(ctx: &Ctx, report: &AutoMapReport) -> Result<()> {
    let mut run = RunRecord::start(RUN_NAME);
    for created in &report.created {
        run.changes.push(shared::store::Change {
            subject: format!("product {created}"),
            field: "created".into(),
            old: None,
            new: serde_json::Value::Bool(true),
            basis: Some("acw products auto-map".into()),
        });
    }
    run.count("products_created", report.created.len() as u64);
    run.count("mapped", report.mapped as u64);
    ctx.record(&mut run).await?;
    // The audit entry's detail is free-form.
    let detail = serde_json::json!({"created": report.created, "mapped": report.mapped});
    ctx.audit("products.auto-map", "products", detail).await
}

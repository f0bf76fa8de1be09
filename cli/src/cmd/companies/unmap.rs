//! `acw companies unmap`: removes a company's mapping (the tenant is left as it is).

use anyhow::{Result, bail};
use shared::store::{Change, RunRecord};

use super::{MappingShown, RUN_NAME};
use crate::ctx::Ctx;
use crate::output::emit;

/// What `companies unmap --dry-run` would remove.
pub type UnmapDryRun = crate::cmd::args::UnmapPreview<MappingShown>;

/// What `companies unmap` removed.
pub type Unmapped = crate::cmd::args::UnmapDone<MappingShown>;

pub async fn unmap(ctx: &Ctx, id: i64, dry_run: bool) -> Result<()> {
    // The store alone: unmapping needs neither API.
    let store = ctx.store().await?;
    if dry_run {
        let Some(mapping) = store.mapping_by_company(id).await? else {
            bail!("company {id} is not mapped (see `acw companies list --mapping mapped`)");
        };
        let report = UnmapDryRun {
            dry_run: true,
            would_unmap: MappingShown::of(&mapping),
        };
        emit(ctx, &report, || {
            format!(
                "company {id} would be unmapped from tenant {} (the tenant is left as it is; dry run: nothing changed)",
                mapping.tenant_id
            )
        });
        return Ok(());
    }
    let Some(removed) = store.unmap_company(id).await? else {
        bail!("company {id} is not mapped (see `acw companies list --mapping mapped`)");
    };
    let mut run = RunRecord::start(RUN_NAME);
    run.changes.push(Change {
        subject: format!("company {id}"),
        field: "mapping".into(),
        old: Some(serde_json::Value::String(removed.tenant_id.clone())),
        new: serde_json::Value::Null,
        basis: Some("unmapped by hand".into()),
    });
    ctx.record(&mut run).await?;
    let report = Unmapped {
        unmapped: MappingShown::of(&removed),
    };
    ctx.audit(
        "companies.unmap",
        &format!("company {id}"),
        report.unmapped.detail(),
    )
    .await?;
    emit(ctx, &report, || {
        format!(
            "company {id} unmapped from tenant {} (the tenant was left as it is)",
            removed.tenant_id
        )
    });
    Ok(())
}

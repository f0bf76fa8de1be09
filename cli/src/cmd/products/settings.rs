//! `acw products settings [KEY=VALUE…] [--dry-run]`: the editions mapped and the attributes
//! of the products auto-mapping creates.

use anyhow::{Result, anyhow};
use shared::domain::products::ProductSettings;

use crate::ctx::Ctx;
use crate::output::emit;

/// `acw products settings [KEY=VALUE…] [--dry-run]`: the product-mapping settings, shown,
/// or changed after checking every named attribute and edition against the accounts.
pub async fn settings(ctx: &Ctx, pairs: &[String], dry_run: bool) -> Result<()> {
    let deps = ctx.deps().await?;
    let old: ProductSettings = deps.store.section().await?;
    if pairs.is_empty() {
        emit(ctx, &old, || crate::cmd::sections::render(&old));
        return Ok(());
    }
    let new = crate::cmd::sections::apply_pairs(&old, pairs)?;
    shared::services::products::check_settings(&deps.provisioning(), &new)
        .await
        .map_err(|e| anyhow!("{e}; nothing was saved"))?;
    crate::cmd::sections::save(ctx, "products.settings", &old, &new, dry_run).await
}

//! `acw tenants list [--search S] [--mapping M] [--page N] [--per-page N]`: the partner's
//! customer tenants and their companies.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use shared::services::companies::{self, MappingFilter};

use crate::ctx::Ctx;
use crate::output::{emit, opt, table};

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

pub async fn list(
    ctx: &Ctx,
    connection: &crate::cmd::args::ConnectionArg,
    search: Option<&str>,
    mapping: MappingFilter,
    (page, per_page): (u64, u64),
) -> Result<()> {
    let deps = ctx.deps().await?;
    let rows = companies::tenants(&connection.service(deps).await?, search, mapping).await?;
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

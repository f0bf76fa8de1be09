//! `acw companies list`: companies with their tenants and pending deprovisioning.

use std::collections::HashMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use shared::domain::deprovisioning::{PendingStep, describe_pending};
use shared::services::companies::{self, CompanyFilter};
use shared::store::{DeprovisionClock, MappingOrigin};

use crate::ctx::Ctx;
use crate::output::{emit, opt, table};

/// One company of `acw companies list` (the report is the list of them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyRow {
    pub id: i64,
    pub identifier: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub types: Vec<String>,
    /// The Acronis connection (data centre and partner) of its tenant.
    pub connection: Option<String>,
    pub tenant_id: Option<String>,
    /// The tenant's name when it was mapped.
    pub tenant_name: Option<String>,
    pub origin: Option<MappingOrigin>,
    pub pending_deprovisioning: Vec<PendingStep>,
}

pub async fn list(ctx: &Ctx, filter: &CompanyFilter) -> Result<()> {
    let deps = ctx.deps().await?;
    let rows = companies::list(&deps.provisioning(), filter).await?;
    let mut clocks: HashMap<i64, DeprovisionClock> = deps
        .store
        .deprovision_clocks()
        .await?
        .into_iter()
        .map(|c| (c.company_id, c))
        .collect();
    let report: Vec<CompanyRow> = rows
        .into_iter()
        .map(|r| CompanyRow {
            id: r.company.id,
            identifier: r.company.identifier,
            name: r.company.name,
            status: r.company.status.and_then(|s| s.name),
            types: r
                .company
                .types
                .into_iter()
                .flatten()
                .filter_map(|t| t.name)
                .collect(),
            connection: r.mapping.as_ref().map(|m| m.connection.to_string()),
            tenant_id: r.mapping.as_ref().map(|m| m.tenant_id.clone()),
            tenant_name: r.mapping.as_ref().and_then(|m| m.tenant_name.clone()),
            origin: r.mapping.as_ref().map(|m| m.origin),
            pending_deprovisioning: clocks
                .remove(&r.company.id)
                .map(|c| c.pending)
                .unwrap_or_default(),
        })
        .collect();
    emit(ctx, &report, || {
        let n = report.len();
        format!(
            "{}\n{n} compan{}",
            table(
                &[
                    "id",
                    "identifier",
                    "name",
                    "status",
                    "types",
                    "connection",
                    "tenant",
                    "deprovisioning"
                ],
                report.iter().map(|r| {
                    vec![
                        r.id.to_string(),
                        opt(r.identifier.as_ref()),
                        opt(r.name.as_ref()),
                        opt(r.status.as_ref()),
                        r.types.join(", "),
                        opt(r.connection.as_ref()),
                        opt(r.tenant_id.as_ref()),
                        describe_pending(&r.pending_deprovisioning),
                    ]
                }),
            ),
            if n == 1 { "y" } else { "ies" }
        )
    });
    Ok(())
}

//! Company mapping by hand: list companies with search and filters, map one to a new or an
//! existing tenant (1:1, refused with a clear message when either side is taken), unmap.

mod ports;
#[cfg(test)]
mod tests;

pub use ports::{MappingApi, MappingStore};

use chrono::Utc;
use serde::Serialize;

use super::provisioning::{ProvisionError, Provisioning};
use crate::connectwise::models::Company;
use crate::connectwise::{Conditions, ListQuery};
use crate::domain::connection::ConnectionName;
use crate::domain::mapping;
use crate::domain::quotas::QuotaPlan;
use crate::domain::settings::ProvisioningSettings;
use crate::store::{CompanyMapping, MappingOrigin, RunRecord, StoreError};

/// Which companies to list by mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum MappingFilter {
    #[default]
    All,
    Mapped,
    Unmapped,
}

/// Filters of the company list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyFilter {
    /// Part of the name or identifier.
    pub search: Option<String>,
    pub mapping: MappingFilter,
    /// Company type names (any of them).
    pub types: Vec<String>,
    /// Company status names (any of them).
    pub statuses: Vec<String>,
}

/// A company and its mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompanyRow {
    pub company: Company,
    pub mapping: Option<CompanyMapping>,
}

/// Lists companies. Search and statuses are ConnectWise conditions; types are matched
/// here (a company holds several types, which `conditions` cannot test).
pub async fn list(
    svc: &(impl MappingApi + MappingStore),
    filter: &CompanyFilter,
) -> Result<Vec<CompanyRow>, ProvisionError> {
    let mut c = Conditions::new().eq("deletedFlag", false);
    if let Some(s) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        c = c.any_of([
            Conditions::new().contains("name", s),
            Conditions::new().contains("identifier", s),
        ]);
    }
    if !filter.statuses.is_empty() {
        c = c.is_in("status/name", filter.statuses.iter());
    }
    let companies = svc.companies(&ListQuery::conditions(c)).await?;
    let mappings = svc.mappings().await?;
    let wanted_types: Vec<String> = filter.types.iter().map(|t| t.to_lowercase()).collect();
    Ok(companies
        .into_iter()
        .filter(|co| {
            wanted_types.is_empty()
                || co.types.iter().flatten().any(|t| {
                    t.name
                        .as_deref()
                        .is_some_and(|n| wanted_types.contains(&n.to_lowercase()))
                })
        })
        .map(|company| {
            let mapping = mappings
                .iter()
                .find(|m| m.company_id == company.id)
                .cloned();
            CompanyRow { company, mapping }
        })
        .filter(|row| match filter.mapping {
            MappingFilter::All => true,
            MappingFilter::Mapped => row.mapping.is_some(),
            MappingFilter::Unmapped => row.mapping.is_none(),
        })
        .collect())
}

async fn company(
    svc: &(impl MappingApi + MappingStore),
    company_id: i64,
) -> Result<Company, ProvisionError> {
    match svc.company(company_id).await {
        Ok(c) => Ok(c),
        Err(e) if e.is_not_found() => Err(ProvisionError::NeedsAttention(format!(
            "ConnectWise has no company {company_id} (list them with `acw companies list`)"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// What mapping a company by hand will do: the value `acw companies map --dry-run` prints and
/// [`apply_map`] carries out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum MapPlan {
    /// Create (or adopt, after a lost answer) a tenant named `tenant_name`, with its first
    /// account and quotas, whatever the auto-provisioning setting; then map it.
    NewTenant {
        company: Company,
        /// The Acronis connection the tenant is created in.
        connection: ConnectionName,
        tenant_name: String,
        quotas: QuotaPlan,
        #[serde(skip)]
        settings: ProvisioningSettings,
    },
    /// Map to this existing customer tenant of the partner, then bring its quotas.
    ExistingTenant {
        company: Company,
        /// The Acronis connection the tenant is in.
        connection: ConnectionName,
        tenant_id: String,
        tenant_name: Option<String>,
        quotas: QuotaPlan,
    },
}

/// Reads and checks what mapping `company_id` (to `tenant_id`, or to a new tenant) needs:
/// the company exists and is not mapped; an existing tenant exists, is a customer of this
/// partner and is not mapped (the store refuses a taken one again when mapping).
///
/// The connection is `connection` when named; else, for a new tenant, the one
/// `provisioning.new_customers` chooses, and for an existing tenant the one that has it.
pub async fn plan_map(
    svc: &Provisioning,
    company_id: i64,
    tenant_id: Option<&str>,
    connection: Option<&ConnectionName>,
) -> Result<MapPlan, ProvisionError> {
    let company = company(svc, company_id).await?;
    let (settings, billing, mappings) = svc.settings().await?;
    let connection = match (connection, tenant_id) {
        (Some(c), _) => c.clone(),
        (None, None) => {
            let known: Vec<ConnectionName> =
                svc.connections.current().await.keys().cloned().collect();
            settings
                .new_customers
                .connection_for(&company.rule_fields(), &known)
                .map_err(|e| {
                    ProvisionError::NeedsAttention(format!(
                        "company {company_id}: {e}; or name one with --connection"
                    ))
                })?
        }
        (None, Some(t)) => connection_of_tenant(svc, t).await?,
    };
    let svc = &svc.on(&connection).await?;
    let mappings: Vec<_> = mappings
        .into_iter()
        .filter(|m| m.connection == connection)
        .collect();
    let view = svc.view(company_id, &billing, &mappings).await?;
    mapping::company_free(company_id, view.mapping.as_ref())
        .map_err(ProvisionError::NeedsAttention)?;
    let Some(tenant_id) = tenant_id else {
        return Ok(MapPlan::NewTenant {
            tenant_name: crate::domain::provisioning::tenant_name(&company)
                .map_err(ProvisionError::NeedsAttention)?,
            company,
            connection,
            quotas: view.plan,
            settings,
        });
    };
    let tenant = mappable_tenant(svc, tenant_id, |_| false).await?;
    Ok(MapPlan::ExistingTenant {
        company,
        connection,
        tenant_id: tenant.id,
        tenant_name: tenant.name,
        quotas: view.plan,
    })
}

/// The connection whose partner has tenant `tenant_id` (asked of each, side by side).
async fn connection_of_tenant(
    svc: &Provisioning,
    tenant_id: &str,
) -> Result<ConnectionName, ProvisionError> {
    let clients = svc.connections.current().await;
    if clients.len() == 1 {
        return Ok(clients.keys().next().cloned().unwrap_or_default());
    }
    let asked = futures::future::join_all(
        clients
            .iter()
            .map(|(name, client)| async move { (name, client.tenant(tenant_id).await) }),
    )
    .await;
    let mut found = Vec::new();
    for (name, answer) in asked {
        match answer {
            Ok(_) => found.push(name.clone()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ProvisionError::NeedsAttention(format!(
            "no Acronis connection has tenant {tenant_id}"
        ))),
        _ => Err(ProvisionError::NeedsAttention(format!(
            "tenant {tenant_id} is in several connections; name one with --connection"
        ))),
    }
}

/// The checks of a mapping by hand to an existing tenant, for a pair that a plan maps after
/// unmapping `unmapped_first` (config as code): the company exists; the tenant exists, is a
/// customer of this partner and is mapped to no company that stays mapped.
pub async fn check_pair(
    svc: &(impl MappingApi + MappingStore),
    company_id: i64,
    tenant_id: &str,
    unmapped_first: &[i64],
) -> Result<(), ProvisionError> {
    company(svc, company_id).await?;
    mappable_tenant(svc, tenant_id, |c| {
        c == company_id || unmapped_first.contains(&c)
    })
    .await
    .map(|_| ())
}

/// An existing tenant that may be mapped: it exists, is a customer of this partner, and is
/// mapped to no company except those `free` lets go.
async fn mappable_tenant(
    svc: &(impl MappingApi + MappingStore),
    tenant_id: &str,
    free: impl Fn(i64) -> bool,
) -> Result<crate::acronis::models::Tenant, ProvisionError> {
    let tenant = match svc.tenant(tenant_id).await {
        Ok(t) => t,
        Err(e) if e.is_not_found() => {
            return Err(ProvisionError::NeedsAttention(format!(
                "Acronis has no tenant {tenant_id}"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let partner = svc.partner_id().await?;
    let mapped_to = svc
        .mapping_by_tenant(&tenant.id)
        .await?
        .map(|m| m.company_id)
        .filter(|c| !free(*c));
    mapping::tenant_mappable(&tenant, &partner, mapped_to)
        .map_err(ProvisionError::NeedsAttention)?;
    Ok(tenant)
}

/// Carries out a [`MapPlan`].
pub async fn apply_map(
    svc: &Provisioning,
    plan: MapPlan,
    run: &mut RunRecord,
) -> Result<CompanyMapping, ProvisionError> {
    match plan {
        MapPlan::NewTenant {
            company,
            connection,
            quotas,
            settings,
            ..
        } => {
            let (mapping, _) = svc
                .on(&connection)
                .await?
                .provision(&company, &quotas, &settings, MappingOrigin::Manual, run)
                .await?;
            Ok(mapping)
        }
        MapPlan::ExistingTenant {
            company,
            connection,
            tenant_id,
            tenant_name,
            quotas,
        } => {
            let svc = &svc.on(&connection).await?;
            let tenant = (tenant_id.as_str(), tenant_name);
            let mapping = record_mapping(svc, &company, &connection, tenant, &quotas, run).await?;
            svc.sync_quotas(company.id, &tenant_id, &quotas, run)
                .await?;
            Ok(mapping)
        }
    }
}

/// Stores the mapping of `company` to the existing tenant `tenant_id` (refused when either
/// side is taken meanwhile) and records it on `run`.
async fn record_mapping(
    svc: &impl MappingStore,
    company: &Company,
    connection: &ConnectionName,
    (tenant_id, tenant_name): (&str, Option<String>),
    quotas: &QuotaPlan,
    run: &mut RunRecord,
) -> Result<CompanyMapping, ProvisionError> {
    let mapping = CompanyMapping {
        unknown: Default::default(),
        connection: connection.clone(),
        company_id: company.id,
        tenant_id: tenant_id.to_owned(),
        company_name: company.name.clone(),
        tenant_name,
        origin: MappingOrigin::Manual,
        mapped_at: crate::clock::now(),
        // Whether it qualifies now (so that losing its agreements later
        // deprovisions it).
        qualified_at: quotas.has_mapped_products.then(Utc::now),
        setup_pending: false,
    };
    svc.map_company(&mapping).await.map_err(|e| match e {
        StoreError::CompanyAlreadyMapped { .. } | StoreError::TenantAlreadyMapped { .. } => {
            ProvisionError::NeedsAttention(format!("{e}; unmap it first"))
        }
        other => other.into(),
    })?;
    run.changes.push(crate::store::Change {
        subject: format!("company {}", company.id),
        field: "mapping".into(),
        old: None,
        new: serde_json::json!(tenant_id),
        basis: Some("mapped by hand to an existing tenant".into()),
    });
    Ok(mapping)
}

/// Maps a company to a new tenant: provisions it whatever the auto-provisioning setting.
pub async fn map_to_new_tenant(
    svc: &Provisioning,
    company_id: i64,
    run: &mut RunRecord,
) -> Result<CompanyMapping, ProvisionError> {
    let plan = plan_map(svc, company_id, None, None).await?;
    apply_map(svc, plan, run).await
}

/// Maps a company to an existing customer tenant of the partner, then brings the tenant's
/// quotas to the company's agreements.
pub async fn map_to_existing_tenant(
    svc: &Provisioning,
    company_id: i64,
    tenant_id: &str,
    run: &mut RunRecord,
) -> Result<CompanyMapping, ProvisionError> {
    let plan = plan_map(svc, company_id, Some(tenant_id), None).await?;
    apply_map(svc, plan, run).await
}

/// Removes a company's mapping (the tenant is left as it is).
pub async fn unmap(
    svc: &(impl MappingApi + MappingStore),
    company_id: i64,
    run: &mut RunRecord,
) -> Result<CompanyMapping, ProvisionError> {
    let removed = svc.unmap_company(company_id).await?.ok_or_else(|| {
        ProvisionError::NeedsAttention(format!("company {company_id} is not mapped"))
    })?;
    run.changes.push(crate::store::Change {
        subject: format!("company {company_id}"),
        field: "mapping".into(),
        old: Some(serde_json::json!(removed.tenant_id)),
        new: serde_json::Value::Null,
        basis: Some("unmapped by hand".into()),
    });
    Ok(removed)
}

/// What `acw companies match` read and proposes.
#[derive(Debug, Clone, Serialize)]
pub struct MatchReads {
    pub plan: crate::domain::matching::MatchPlan,
    /// Unmapped companies and unmapped customer tenants that took part.
    pub companies: usize,
    pub tenants: usize,
}

/// Reads the unmapped companies and the partner's unmapped customer tenants, with the
/// evidence the APIs give (names, the tenant's `customer_id`, contact email domains), and
/// proposes pairs ([`crate::domain::matching::propose`]). Contacts are read (100 companies
/// per call) only when some tenant has a contact email to compare.
pub async fn match_plan(
    svc: &(impl MappingApi + MappingStore),
) -> Result<MatchReads, ProvisionError> {
    use crate::domain::matching::{CompanySide, TenantSide, email_domain, propose};
    let partner = svc.partner_id().await?;
    let mappings = svc.mappings().await?;
    let mapped_companies: std::collections::BTreeSet<i64> =
        mappings.iter().map(|m| m.company_id).collect();
    let mapped_tenants: std::collections::BTreeSet<&str> =
        mappings.iter().map(|m| m.tenant_id.as_str()).collect();
    let tenants: Vec<TenantSide> = svc
        .child_tenants(&partner)
        .await?
        .into_iter()
        .filter(|t| {
            t.kind == "customer"
                && t.deleted_at.is_none()
                && !mapped_tenants.contains(t.id.as_str())
        })
        .map(|t| TenantSide {
            name: t.name.clone().unwrap_or_default(),
            customer_id: t.customer_id.clone(),
            email_domain: t
                .contact
                .as_ref()
                .and_then(|c| c.email.as_deref())
                .and_then(email_domain),
            id: t.id,
        })
        .collect();
    let q = ListQuery {
        fields: Some("id,name,identifier".into()),
        ..ListQuery::conditions(Conditions::new().eq("deletedFlag", false))
    };
    let mut companies: Vec<CompanySide> = svc
        .companies(&q)
        .await?
        .into_iter()
        .filter(|c| !mapped_companies.contains(&c.id))
        .map(|c| CompanySide {
            id: c.id,
            name: c.name.unwrap_or_default(),
            identifier: c.identifier,
            email_domains: Default::default(),
        })
        .collect();
    if tenants.iter().any(|t| t.email_domain.is_some()) {
        let ids: Vec<i64> = companies.iter().map(|c| c.id).collect();
        let mut domains: std::collections::BTreeMap<i64, std::collections::BTreeSet<String>> =
            Default::default();
        for chunk in ids.chunks(100) {
            let q = ListQuery {
                fields: Some("id,company,communicationItems".into()),
                ..ListQuery::conditions(
                    Conditions::new().is_in("company/id", chunk.iter().copied()),
                )
            };
            for contact in svc.contacts(&q).await? {
                if let (Some(company), Some(domain)) = (
                    contact.company.as_ref().map(|c| c.id),
                    contact.email().and_then(email_domain),
                ) {
                    domains.entry(company).or_default().insert(domain);
                }
            }
        }
        for c in &mut companies {
            c.email_domains = domains.remove(&c.id).unwrap_or_default();
        }
    }
    Ok(MatchReads {
        plan: propose(&companies, &tenants),
        companies: companies.len(),
        tenants: tenants.len(),
    })
}

/// A customer tenant of the partner and the company it is mapped to, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantRow {
    pub tenant: crate::acronis::models::Tenant,
    pub mapping: Option<CompanyMapping>,
}

/// The partner's customer tenants (every page), with their mappings, filtered by a part of
/// the name, id or customer_id (`search`, case ignored) and by mapping; sorted by name.
pub async fn tenants(
    svc: &(impl MappingApi + MappingStore),
    search: Option<&str>,
    mapping: MappingFilter,
) -> Result<Vec<TenantRow>, ProvisionError> {
    let partner = svc.partner_id().await?;
    let mappings = svc.mappings().await?;
    let needle = search
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let mut rows: Vec<TenantRow> = svc
        .child_tenants(&partner)
        .await?
        .into_iter()
        .filter(|t| t.kind == "customer" && t.deleted_at.is_none())
        .filter(|t| {
            needle.as_ref().is_none_or(|n| {
                [Some(&t.id), t.name.as_ref(), t.customer_id.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|v| v.to_lowercase().contains(n))
            })
        })
        .map(|tenant| TenantRow {
            mapping: mappings.iter().find(|m| m.tenant_id == tenant.id).cloned(),
            tenant,
        })
        .filter(|row| match mapping {
            MappingFilter::All => true,
            MappingFilter::Mapped => row.mapping.is_some(),
            MappingFilter::Unmapped => row.mapping.is_none(),
        })
        .collect();
    rows.sort_by(|a, b| {
        let name = |r: &TenantRow| r.tenant.name.clone().unwrap_or_default().to_lowercase();
        name(a)
            .cmp(&name(b))
            .then_with(|| a.tenant.id.cmp(&b.tenant.id))
    });
    Ok(rows)
}

//! Configuration as code: what the store holds, as a file, and applying a plan of
//! [`crate::domain::config`] step by step.

use crate::domain::config::{
    CompanyEntry, ConfigFile, ConfigPlan, ConfigStep, JobsEntry, ProductEntry,
};
use crate::domain::jobs::JobSettings;
use crate::domain::settings::{BillingSettings, ProvisioningSettings};
use crate::domain::usage::UsageSettings;
use crate::store::{Store, StoreError};

/// What the store holds, as a file (every section present).
pub async fn current(store: &Store) -> Result<ConfigFile, StoreError> {
    let provisioning: ProvisioningSettings = store.section().await?;
    let billing: BillingSettings = store.section().await?;
    let usage: UsageSettings = store.section().await?;
    let products = store
        .product_mappings()
        .await?
        .iter()
        .map(ProductEntry::from_mapping)
        .collect();
    let companies = store
        .mappings()
        .await?
        .iter()
        .map(CompanyEntry::from_mapping)
        .collect();
    let jobs: JobSettings = store.section().await?;
    Ok(ConfigFile {
        product_settings: Some(store.section().await?),
        alerts: Some(store.section().await?),
        jobs: Some(JobsEntry {
            paused: jobs.paused.into_keys().collect(),
        }),
        provisioning: Some(provisioning),
        billing: Some(billing),
        usage: Some(usage),
        products: Some(products),
        companies: Some(companies),
    })
}

/// Executes the plan's steps in order; stops at the first that fails (the next apply of
/// the same file plans what is left).
pub async fn apply(store: &Store, plan: &ConfigPlan) -> Result<(), ApplyError> {
    for step in &plan.steps {
        match step {
            ConfigStep::SaveProvisioning(p) => store.save_section(p).await?,
            ConfigStep::SaveBilling(b) => store.save_section(b).await?,
            ConfigStep::SaveUsage(u) => store.save_section(u).await?,
            ConfigStep::SaveProductSettings(p) => store.save_section(p).await?,
            ConfigStep::SaveAlerts(a) => store.save_section(a).await?,
            ConfigStep::SaveJobs(paused) => {
                let mut jobs: JobSettings = store.section().await?;
                jobs.paused.retain(|j, _| paused.contains(j));
                for j in paused {
                    jobs.paused
                        .entry(*j)
                        .or_insert_with(|| crate::domain::jobs::Paused {
                            since: crate::clock::now(),
                            by: Some("config apply".into()),
                        });
                }
                store.save_section(&jobs).await?
            }
            ConfigStep::Unmap { company_id } => {
                store.unmap_company(*company_id).await?;
            }
            ConfigStep::PutProduct(m) => store.put_product_mapping(m).await?,
            ConfigStep::DeleteProduct {
                connection,
                offering_item,
                infra_id,
            } => {
                store
                    .delete_product_mapping(connection, offering_item, infra_id.as_deref())
                    .await?
            }
            ConfigStep::Map(m) => store
                .map_company(m)
                .await
                .map_err(|e| ApplyError::Map(m.company_id, e))?,
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("mapping company {0}: {1}")]
    Map(i64, StoreError),
}

//! What a mapped company's lifecycle (deprovisioning on its days, enabling again when it
//! qualifies again) needs from Acronis ([`TenantLifecycle`]) and from the table
//! ([`LifecycleStore`]): narrow ports, so each branch is unit-tested with
//! [`crate::testing::FakeLifecycle`]; [`Lifecycle`] runs over them, and [`Provisioning`]
//! builds it over the real client and store.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::Provisioning;
use crate::acronis::models::Tenant;
use crate::acronis::{AcronisClient, AcronisError};
use crate::domain::quotas;
use crate::store::{CompanyMapping, DeprovisionClock, DisabledTenant, Store, StoreError};

/// A customer tenant's state in Acronis.
pub trait TenantLifecycle: Send + Sync {
    fn tenant(&self, id: &str) -> impl Future<Output = Result<Tenant, AcronisError>> + Send;
    /// Sets every offering item's quota to zero where it is not; how many it wrote.
    fn zero_quotas(
        &self,
        tenant_id: &str,
    ) -> impl Future<Output = Result<usize, AcronisError>> + Send;
    fn enable_tenant(&self, id: &str) -> impl Future<Output = Result<(), AcronisError>> + Send;
    fn disable_tenant(&self, id: &str) -> impl Future<Output = Result<(), AcronisError>> + Send;
    /// Refused with [`crate::acronis::error::codes::DELETE_ENABLED_TENANT`] while enabled.
    fn delete_tenant(&self, id: &str) -> impl Future<Output = Result<(), AcronisError>> + Send;
}

/// The company's lifecycle records: the mapping, the deprovisioning clock and the mark of
/// a tenant this product disabled.
pub trait LifecycleStore: Send + Sync {
    fn mark_qualified(
        &self,
        m: &CompanyMapping,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn unmap_company(
        &self,
        company_id: i64,
    ) -> impl Future<Output = Result<Option<CompanyMapping>, StoreError>> + Send;
    fn put_deprovision_clock(
        &self,
        c: &DeprovisionClock,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn clear_deprovision_clock(
        &self,
        company_id: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn disabled_tenant(
        &self,
        company_id: i64,
    ) -> impl Future<Output = Result<Option<DisabledTenant>, StoreError>> + Send;
    fn put_disabled_tenant(
        &self,
        d: &DisabledTenant,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn clear_disabled_tenant(
        &self,
        company_id: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A company's lifecycle over its two ports.
#[derive(Debug, Clone, Copy)]
pub struct Lifecycle<'a, A, S> {
    pub acronis: &'a A,
    pub store: &'a S,
}

impl Provisioning {
    /// The lifecycle over this service's client and store.
    pub fn lifecycle(&self) -> Lifecycle<'_, AcronisClient, Store> {
        Lifecycle {
            acronis: &self.acronis,
            store: &self.store,
        }
    }
}

impl TenantLifecycle for AcronisClient {
    async fn tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        AcronisClient::tenant(self, id).await
    }
    async fn zero_quotas(&self, tenant_id: &str) -> Result<usize, AcronisError> {
        let written = self
            .set_offering_items(tenant_id, quotas::zero_quotas)
            .await?;
        Ok(written.changed.len())
    }
    async fn enable_tenant(&self, id: &str) -> Result<(), AcronisError> {
        AcronisClient::enable_tenant(self, id).await.map(|_| ())
    }
    async fn disable_tenant(&self, id: &str) -> Result<(), AcronisError> {
        AcronisClient::disable_tenant(self, id).await.map(|_| ())
    }
    async fn delete_tenant(&self, id: &str) -> Result<(), AcronisError> {
        AcronisClient::delete_tenant(self, id).await
    }
}

impl LifecycleStore for Store {
    async fn mark_qualified(
        &self,
        m: &CompanyMapping,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Store::mark_qualified(self, m, at).await
    }
    async fn unmap_company(&self, company_id: i64) -> Result<Option<CompanyMapping>, StoreError> {
        Store::unmap_company(self, company_id).await
    }
    async fn put_deprovision_clock(&self, c: &DeprovisionClock) -> Result<(), StoreError> {
        Store::put_deprovision_clock(self, c).await
    }
    async fn clear_deprovision_clock(&self, company_id: i64) -> Result<(), StoreError> {
        Store::clear_deprovision_clock(self, company_id).await
    }
    async fn disabled_tenant(&self, company_id: i64) -> Result<Option<DisabledTenant>, StoreError> {
        Store::disabled_tenant(self, company_id).await
    }
    async fn put_disabled_tenant(&self, d: &DisabledTenant) -> Result<(), StoreError> {
        Store::put_disabled_tenant(self, d).await
    }
    async fn clear_disabled_tenant(&self, company_id: i64) -> Result<(), StoreError> {
        Store::clear_disabled_tenant(self, company_id).await
    }
}

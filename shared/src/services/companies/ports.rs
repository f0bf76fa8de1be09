//! What mapping companies by hand needs from the two accounts ([`MappingApi`]) and from
//! the table ([`MappingStore`]): narrow ports, so its refusals and writes are unit-tested
//! with [`crate::testing::FakeMappings`]; [`Provisioning`] is the real one for both.

use std::future::Future;

use crate::acronis::AcronisError;
use crate::acronis::models::Tenant;
use crate::connectwise::models::{Company, Contact};
use crate::connectwise::{CwError, ListQuery};
use crate::services::provisioning::Provisioning;
use crate::store::{CompanyMapping, StoreError};

/// Companies in ConnectWise, tenants in Acronis.
pub trait MappingApi: Send + Sync {
    fn company(&self, id: i64) -> impl Future<Output = Result<Company, CwError>> + Send;
    fn companies(
        &self,
        q: &ListQuery,
    ) -> impl Future<Output = Result<Vec<Company>, CwError>> + Send;
    fn contacts(&self, q: &ListQuery)
    -> impl Future<Output = Result<Vec<Contact>, CwError>> + Send;
    fn tenant(&self, id: &str) -> impl Future<Output = Result<Tenant, AcronisError>> + Send;
    /// Every child tenant of `parent_id` (every page).
    fn child_tenants(
        &self,
        parent_id: &str,
    ) -> impl Future<Output = Result<Vec<Tenant>, AcronisError>> + Send;
    /// The partner tenant (the API client's tenant).
    fn partner_id(&self) -> impl Future<Output = Result<String, AcronisError>> + Send;
}

/// The company ↔ tenant mappings (1:1, refused by the store when either side is taken).
pub trait MappingStore: Send + Sync {
    fn mappings(&self) -> impl Future<Output = Result<Vec<CompanyMapping>, StoreError>> + Send;
    fn mapping_by_tenant(
        &self,
        tenant_id: &str,
    ) -> impl Future<Output = Result<Option<CompanyMapping>, StoreError>> + Send;
    /// [`StoreError::CompanyAlreadyMapped`] or [`StoreError::TenantAlreadyMapped`] when
    /// either side is taken.
    fn map_company(
        &self,
        m: &CompanyMapping,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The mapping removed, if there was one.
    fn unmap_company(
        &self,
        company_id: i64,
    ) -> impl Future<Output = Result<Option<CompanyMapping>, StoreError>> + Send;
}

impl MappingApi for Provisioning {
    async fn company(&self, id: i64) -> Result<Company, CwError> {
        self.cw.company(id).await
    }
    async fn companies(&self, q: &ListQuery) -> Result<Vec<Company>, CwError> {
        self.cw.companies(q).await
    }
    async fn contacts(&self, q: &ListQuery) -> Result<Vec<Contact>, CwError> {
        self.cw.contacts(q).await
    }
    async fn tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        self.acronis.tenant(id).await
    }
    async fn child_tenants(&self, parent_id: &str) -> Result<Vec<Tenant>, AcronisError> {
        self.acronis.child_tenants(parent_id).await
    }
    async fn partner_id(&self) -> Result<String, AcronisError> {
        Provisioning::partner_id(self).await
    }
}

impl MappingStore for Provisioning {
    async fn mappings(&self) -> Result<Vec<CompanyMapping>, StoreError> {
        self.store.mappings().await
    }
    async fn mapping_by_tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Option<CompanyMapping>, StoreError> {
        self.store.mapping_by_tenant(tenant_id).await
    }
    async fn map_company(&self, m: &CompanyMapping) -> Result<(), StoreError> {
        self.store.map_company(m).await
    }
    async fn unmap_company(&self, company_id: i64) -> Result<Option<CompanyMapping>, StoreError> {
        self.store.unmap_company(company_id).await
    }
}

//! A fake of both sides of mapping companies by hand
//! ([`crate::services::companies::MappingApi`] and [`MappingStore`]): ConnectWise's
//! companies, the partner's tenants, and mappings kept 1:1 as the table keeps them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::cw_status;
use crate::acronis::AcronisError;
use crate::acronis::models::Tenant;
use crate::connectwise::models::{Company, Contact, Reference};
use crate::connectwise::{CwError, ListQuery};
use crate::services::companies::{MappingApi, MappingStore};
use crate::store::{CompanyMapping, StoreError};

/// The partner tenant of [`FakeMappings`].
pub const PARTNER: &str = "partner-1";

#[derive(Debug, Default)]
struct Accounts {
    companies: BTreeMap<i64, Company>,
    tenants: BTreeMap<String, Tenant>,
    mappings: BTreeMap<i64, CompanyMapping>,
    contact_reads: u32,
}

/// Both accounts and the table, in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeMappings(Arc<Mutex<Accounts>>);

impl FakeMappings {
    /// A company named `name`, of the company types `types`.
    pub fn company(&self, id: i64, name: &str, types: &[&str]) {
        let company = Company {
            country: Default::default(),
            market: Default::default(),
            territory: Default::default(),
            id,
            identifier: Some(name.replace(' ', "")),
            name: Some(name.into()),
            status: None,
            types: Some(
                types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| Reference {
                        id: i as i64 + 1,
                        name: Some((*t).into()),
                        identifier: None,
                    })
                    .collect(),
            ),
            default_contact: None,
            deleted_flag: Some(false),
            address_line1: None,
            city: None,
            phone_number: None,
            website: None,
            info: None,
        };
        self.0.lock().unwrap().companies.insert(id, company);
    }

    /// A tenant of `kind` under `parent`.
    pub fn tenant(&self, id: &str, name: &str, kind: &str, parent: &str) -> Tenant {
        let tenant = super::tenant(id, name, kind, parent);
        self.put_tenant(tenant.clone());
        tenant
    }

    pub fn put_tenant(&self, t: Tenant) {
        self.0.lock().unwrap().tenants.insert(t.id.clone(), t);
    }

    /// A customer of [`PARTNER`].
    pub fn customer(&self, id: &str, name: &str) -> Tenant {
        self.tenant(id, name, "customer", PARTNER)
    }

    /// `company_id` mapped to `tenant_id` already (by the reconciler, say).
    pub fn mapped(&self, company_id: i64, tenant_id: &str) {
        let m = super::auto_mapping(company_id, tenant_id);
        self.0.lock().unwrap().mappings.insert(company_id, m);
    }

    pub fn all_mappings(&self) -> Vec<CompanyMapping> {
        self.0.lock().unwrap().mappings.values().cloned().collect()
    }

    /// Contact reads made (each a page of up to 100 companies).
    pub fn contact_reads(&self) -> u32 {
        self.0.lock().unwrap().contact_reads
    }
}

fn tenant_not_found(id: &str) -> AcronisError {
    AcronisError::Api {
        status: 404,
        method: "GET".into(),
        path: format!("api/2/tenants/{id}"),
        code: None,
        message: "tenant not found".into(),
        domain: None,
        attempts: 1,
    }
}

impl MappingApi for FakeMappings {
    async fn company(&self, id: i64) -> Result<Company, CwError> {
        let s = self.0.lock().unwrap();
        s.companies
            .get(&id)
            .cloned()
            .ok_or_else(|| cw_status(404, &format!("company/companies/{id}")))
    }
    /// Every company: the conditions are ConnectWise's to apply, and tested against the
    /// simulator.
    async fn companies(&self, _q: &ListQuery) -> Result<Vec<Company>, CwError> {
        Ok(self.0.lock().unwrap().companies.values().cloned().collect())
    }
    async fn contacts(&self, _q: &ListQuery) -> Result<Vec<Contact>, CwError> {
        self.0.lock().unwrap().contact_reads += 1;
        Ok(Vec::new())
    }
    async fn tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        let s = self.0.lock().unwrap();
        s.tenants
            .get(id)
            .cloned()
            .ok_or_else(|| tenant_not_found(id))
    }
    async fn child_tenants(&self, parent_id: &str) -> Result<Vec<Tenant>, AcronisError> {
        let s = self.0.lock().unwrap();
        Ok(s.tenants
            .values()
            .filter(|t| t.parent_id == parent_id)
            .cloned()
            .collect())
    }
    async fn partner_id(&self) -> Result<String, AcronisError> {
        Ok(PARTNER.into())
    }
}

impl MappingStore for FakeMappings {
    async fn mappings(&self) -> Result<Vec<CompanyMapping>, StoreError> {
        Ok(self.all_mappings())
    }
    async fn mapping_by_tenant(
        &self,
        tenant_id: &str,
    ) -> Result<Option<CompanyMapping>, StoreError> {
        let s = self.0.lock().unwrap();
        Ok(s.mappings
            .values()
            .find(|m| m.tenant_id == tenant_id)
            .cloned())
    }
    async fn map_company(&self, m: &CompanyMapping) -> Result<(), StoreError> {
        let mut s = self.0.lock().unwrap();
        if let Some(taken) = s.mappings.get(&m.company_id) {
            return Err(StoreError::CompanyAlreadyMapped {
                company_id: m.company_id,
                tenant_id: taken.tenant_id.clone(),
            });
        }
        if let Some(taken) = s.mappings.values().find(|t| t.tenant_id == m.tenant_id) {
            return Err(StoreError::TenantAlreadyMapped {
                tenant_id: m.tenant_id.clone(),
                company_id: taken.company_id,
            });
        }
        s.mappings.insert(m.company_id, m.clone());
        Ok(())
    }
    async fn unmap_company(&self, company_id: i64) -> Result<Option<CompanyMapping>, StoreError> {
        Ok(self.0.lock().unwrap().mappings.remove(&company_id))
    }
}

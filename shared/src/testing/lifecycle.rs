//! A fake of a company's lifecycle ports
//! ([`crate::services::provisioning::TenantLifecycle`] and [`LifecycleStore`]): tenants
//! with how many items hold a quota above zero, the mapping, the deprovisioning clock and
//! the disabled mark; every write is logged in order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::acronis::AcronisError;
use crate::acronis::error::codes;
use crate::acronis::models::Tenant;
use crate::services::provisioning::{LifecycleStore, TenantLifecycle};
use crate::store::{CompanyMapping, DeprovisionClock, DisabledTenant, StoreError};

#[derive(Debug, Default)]
struct State {
    tenants: BTreeMap<String, (Tenant, usize)>,
    mappings: BTreeMap<i64, CompanyMapping>,
    clocks: BTreeMap<i64, DeprovisionClock>,
    marks: BTreeMap<i64, DisabledTenant>,
    writes: Vec<String>,
}

/// Acronis' tenants and the table, in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeLifecycle(Arc<Mutex<State>>);

impl FakeLifecycle {
    /// Company `company_id` mapped to tenant `tenant_id`, whose `quotas` items hold a
    /// quota above zero; returns the mapping.
    pub fn mapped(
        &self,
        company_id: i64,
        tenant_id: &str,
        enabled: bool,
        quotas: usize,
    ) -> CompanyMapping {
        let tenant = Tenant {
            enabled,
            internal_tag: Some(company_id.to_string()),
            ..super::tenant(
                tenant_id,
                &format!("Tenant {tenant_id}"),
                "customer",
                super::PARTNER,
            )
        };
        let mapping = super::auto_mapping(company_id, tenant_id);
        let mut s = self.0.lock().unwrap();
        s.tenants.insert(tenant_id.into(), (tenant, quotas));
        s.mappings.insert(company_id, mapping.clone());
        mapping
    }

    /// The tenant is deleted in Acronis (by someone else).
    pub fn remove_tenant(&self, tenant_id: &str) {
        self.0.lock().unwrap().tenants.remove(tenant_id);
    }

    /// The tenant's `enabled`, and its items with a quota above zero; `None` once deleted.
    pub fn tenant_state(&self, tenant_id: &str) -> Option<(bool, usize)> {
        let s = self.0.lock().unwrap();
        s.tenants.get(tenant_id).map(|(t, q)| (t.enabled, *q))
    }

    pub fn mapping(&self, company_id: i64) -> Option<CompanyMapping> {
        self.0.lock().unwrap().mappings.get(&company_id).cloned()
    }

    pub fn clock(&self, company_id: i64) -> Option<DeprovisionClock> {
        self.0.lock().unwrap().clocks.get(&company_id).cloned()
    }

    pub fn set_clock(&self, c: DeprovisionClock) {
        self.0.lock().unwrap().clocks.insert(c.company_id, c);
    }

    pub fn mark(&self, company_id: i64) -> Option<DisabledTenant> {
        self.0.lock().unwrap().marks.get(&company_id).cloned()
    }

    /// This product disabled `tenant_id` for `company_id` (its mark).
    pub fn set_mark(&self, company_id: i64, tenant_id: &str) {
        self.0.lock().unwrap().marks.insert(
            company_id,
            DisabledTenant {
                unknown: Default::default(),
                company_id,
                tenant_id: tenant_id.into(),
                reason: "no agreement".into(),
                disabled_at: crate::clock::now(),
            },
        );
    }

    /// Every write, in order (`"disable t-1"`, `"put mark 7"`…).
    pub fn writes(&self) -> Vec<String> {
        self.0.lock().unwrap().writes.clone()
    }

    fn log(&self, write: String) {
        self.0.lock().unwrap().writes.push(write);
    }
}

fn acronis(status: u16, code: Option<i64>, path: String) -> AcronisError {
    AcronisError::Api {
        status,
        method: "GET".into(),
        path,
        code,
        message: format!("HTTP {status}"),
        domain: None,
        attempts: 1,
    }
}

impl FakeLifecycle {
    fn with_tenant<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut (Tenant, usize)) -> Result<T, AcronisError>,
    ) -> Result<T, AcronisError> {
        let mut s = self.0.lock().unwrap();
        match s.tenants.get_mut(id) {
            Some(t) => f(t),
            None => Err(acronis(404, None, format!("api/2/tenants/{id}"))),
        }
    }
}

impl TenantLifecycle for FakeLifecycle {
    async fn tenant(&self, id: &str) -> Result<Tenant, AcronisError> {
        self.with_tenant(id, |(t, _)| Ok(t.clone()))
    }
    async fn zero_quotas(&self, tenant_id: &str) -> Result<usize, AcronisError> {
        let zeroed = self.with_tenant(tenant_id, |(_, q)| Ok(std::mem::take(q)))?;
        self.log(format!("zero {tenant_id}"));
        Ok(zeroed)
    }
    async fn enable_tenant(&self, id: &str) -> Result<(), AcronisError> {
        self.with_tenant(id, |(t, _)| {
            t.enabled = true;
            Ok(())
        })?;
        self.log(format!("enable {id}"));
        Ok(())
    }
    async fn disable_tenant(&self, id: &str) -> Result<(), AcronisError> {
        self.with_tenant(id, |(t, _)| {
            t.enabled = false;
            Ok(())
        })?;
        self.log(format!("disable {id}"));
        Ok(())
    }
    async fn delete_tenant(&self, id: &str) -> Result<(), AcronisError> {
        self.with_tenant(id, |(t, _)| {
            if t.enabled {
                return Err(acronis(
                    400,
                    Some(codes::DELETE_ENABLED_TENANT),
                    format!("api/2/tenants/{id}"),
                ));
            }
            Ok(())
        })?;
        self.remove_tenant(id);
        self.log(format!("delete {id}"));
        Ok(())
    }
}

impl LifecycleStore for FakeLifecycle {
    async fn mark_qualified(
        &self,
        m: &CompanyMapping,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut s = self.0.lock().unwrap();
        if let Some(stored) = s
            .mappings
            .get_mut(&m.company_id)
            .filter(|s| s.tenant_id == m.tenant_id)
        {
            stored.qualified_at = Some(at);
        }
        s.writes.push(format!("qualified {}", m.company_id));
        Ok(())
    }
    async fn unmap_company(&self, company_id: i64) -> Result<Option<CompanyMapping>, StoreError> {
        self.log(format!("unmap {company_id}"));
        Ok(self.0.lock().unwrap().mappings.remove(&company_id))
    }
    async fn put_deprovision_clock(&self, c: &DeprovisionClock) -> Result<(), StoreError> {
        self.log(format!("put clock {}", c.company_id));
        self.set_clock(c.clone());
        Ok(())
    }
    async fn clear_deprovision_clock(&self, company_id: i64) -> Result<(), StoreError> {
        self.log(format!("clear clock {company_id}"));
        self.0.lock().unwrap().clocks.remove(&company_id);
        Ok(())
    }
    async fn disabled_tenant(&self, company_id: i64) -> Result<Option<DisabledTenant>, StoreError> {
        Ok(self.mark(company_id))
    }
    async fn put_disabled_tenant(&self, d: &DisabledTenant) -> Result<(), StoreError> {
        self.log(format!("put mark {}", d.company_id));
        self.0.lock().unwrap().marks.insert(d.company_id, d.clone());
        Ok(())
    }
    async fn clear_disabled_tenant(&self, company_id: i64) -> Result<(), StoreError> {
        self.log(format!("clear mark {company_id}"));
        self.0.lock().unwrap().marks.remove(&company_id);
        Ok(())
    }
}

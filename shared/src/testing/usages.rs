//! A fake of Acronis' usage reads ([`crate::services::usage::UsageApi`]): tenants with
//! their usages, tenants gone (a batch naming one is refused whole, as Acronis refuses
//! it), tenants a batch answer leaves out, and an outage.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::acronis::AcronisError;
use crate::acronis::models::{TenantUsages, Usage};
use crate::services::usage::UsageApi;

#[derive(Debug, Default)]
struct Tenants {
    usages: BTreeMap<String, Vec<Usage>>,
    gone: BTreeSet<String>,
    left_out: BTreeSet<String>,
    down: bool,
    calls: Vec<usize>,
}

/// Tenants' usages, in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeUsages(Arc<Mutex<Tenants>>);

impl FakeUsages {
    pub fn tenant(&self, id: &str, usages: Vec<Usage>) {
        self.0.lock().unwrap().usages.insert(id.into(), usages);
    }
    /// Deleted in Acronis: a batch that names it is refused.
    pub fn gone(&self, id: &str) {
        self.0.lock().unwrap().gone.insert(id.into());
    }
    /// Answered by no batch (read alone, answered with nothing for it either).
    pub fn left_out(&self, id: &str) {
        self.0.lock().unwrap().left_out.insert(id.into());
    }
    /// Acronis answers 503 from now on.
    pub fn down(&self) {
        self.0.lock().unwrap().down = true;
    }
    /// The size of each call made, in order.
    pub fn calls(&self) -> Vec<usize> {
        self.0.lock().unwrap().calls.clone()
    }
}

fn refused(status: u16) -> AcronisError {
    AcronisError::Api {
        status,
        method: "GET".into(),
        path: "api/2/tenants/usages".into(),
        code: None,
        message: format!("HTTP {status}"),
        domain: None,
        attempts: 1,
    }
}

impl UsageApi for FakeUsages {
    async fn usages(&self, tenant_ids: &[String]) -> Result<Vec<TenantUsages>, AcronisError> {
        let mut s = self.0.lock().unwrap();
        s.calls.push(tenant_ids.len());
        if s.down {
            return Err(refused(503));
        }
        if tenant_ids.iter().any(|t| s.gone.contains(t)) {
            return Err(refused(404));
        }
        Ok(tenant_ids
            .iter()
            .filter(|t| !s.left_out.contains(*t))
            .map(|t| TenantUsages {
                // Acronis may answer an id in another case.
                tenant: t.to_uppercase(),
                usages: s.usages.get(t).cloned().unwrap_or_default(),
            })
            .collect())
    }
}

//! In-memory fakes of the services' ports, for unit tests that need no network: each keeps
//! what was written and counts what was asked, and can be told to fail the way the real
//! thing fails (a timeout, a 404, a conflicting writer). Built for this crate's tests and,
//! with the `testing` feature, for the functions' handler tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a fake's lock is never poisoned in a test that passes

mod attention;
mod bus;
mod callbacks;
mod lifecycle;
mod mappings;
mod products;
mod runs;
mod tickets;
mod usages;

pub use attention::FakeAttentionStore;
pub use bus::{FakeBus, FakeReconcileStore};
pub use callbacks::FakeCallbacks;
pub use lifecycle::FakeLifecycle;
pub use mappings::{FakeMappings, PARTNER};
pub use products::FakeProducts;
pub use runs::FakeRuns;
pub use usages::FakeUsages;

pub use tickets::{FakeTicketApi, FakeTicketStore, PostOutcome, open_ticket};

use crate::connectwise::CwError;

/// An error as ConnectWise answers it with `status`.
pub fn cw_status(status: u16, path: &str) -> CwError {
    CwError::Api {
        status,
        method: "GET".into(),
        path: path.into(),
        code: String::new(),
        message: format!("HTTP {status}"),
        errors: Vec::new(),
        attempts: 1,
    }
}

/// A request that got no answer in time.
pub fn cw_timeout(method: &str, path: &str) -> CwError {
    CwError::Timeout {
        method: method.into(),
        path: path.into(),
        attempts: 1,
    }
}

/// A tenant of `kind` under `parent`, enabled, as Acronis answers it.
pub fn tenant(id: &str, name: &str, kind: &str, parent: &str) -> crate::acronis::models::Tenant {
    crate::acronis::models::Tenant {
        id: id.into(),
        version: 1,
        name: Some(name.into()),
        kind: kind.into(),
        parent_id: parent.into(),
        enabled: true,
        customer_id: None,
        internal_tag: None,
        language: None,
        contact: None,
        mfa_status: None,
        pricing_mode: None,
        deleted_at: None,
    }
}

/// `company_id` mapped to `tenant_id` by provisioning, not yet qualifying.
pub fn auto_mapping(company_id: i64, tenant_id: &str) -> crate::store::CompanyMapping {
    crate::store::CompanyMapping {
        connection: Default::default(),
        unknown: Default::default(),
        company_id,
        tenant_id: tenant_id.into(),
        company_name: None,
        tenant_name: None,
        origin: crate::store::MappingOrigin::Auto,
        mapped_at: crate::clock::now(),
        qualified_at: None,
        setup_pending: false,
    }
}

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

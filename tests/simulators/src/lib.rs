//! Stateful loopback simulators of the two APIs the integration talks to.
//!
//! - [`connectwise`]: ConnectWise Manage REST 3.0 (companies, agreements, additions, catalog,
//!   boards, tickets, callbacks) and the signed callbacks ConnectWise sends.
//! - [`acronis`]: Acronis Account Management API v2 and Alert Manager API v1.
//!
//! Both answer with the real APIs' paths, headers, paging and error bodies, and share the
//! control plane in [`control`] (request log, counts, faults, latency). Seeding routes live
//! under `/_sim/` and are documented on each module.

pub mod acronis;
pub mod clock;
pub mod connectwise;
pub mod control;
pub mod oracle;
pub mod spec;

pub use control::{Control, FaultKind, FaultRule, RequestRecord, Running};

//! Common library of the Acronis Cyber Cloud ↔ ConnectWise Manage Lambdas.
//!
//! Split by concern:
//! - [`settings`]: environment settings, read once at cold start;
//! - [`secrets`]: the API credentials from one Secrets Manager secret, in redacting types;
//! - [`telemetry`]: JSON tracing for Lambda;
//! - [`http`]: the retry and concurrency policy both API clients share;
//! - [`retry`]: the backoff of every read-decide-write loop that lost to a concurrent write;
//! - [`connectwise`], [`acronis`]: the two API clients;
//! - [`store`]: the DynamoDB single table;
//! - [`bus`]: the EventBridge publisher and the event types;
//! - [`functions`]: the list of the Lambda functions;
//! - [`runs`]: the run bookkeeping of scheduled functions and its metric.
//!
//! Domain decisions are plain functions over data; adapters (clients, store, bus) never decide.
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod acronis;
pub mod aws;
pub mod bootstrap;
pub mod bus;
pub mod clock;
pub mod connectwise;
pub mod deadline;
pub mod domain;
pub mod functions;
pub mod http;
pub mod queues;
pub mod request_budget;
pub mod retry;
pub mod runs;
pub mod secrets;
pub mod services;
pub mod settings;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod unknown_fields;

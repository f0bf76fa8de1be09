//! usage-push: the scheduled cycle (see `shared::services::usage`). It plans (every
//! ConnectWise read) and either pushes in process or, above `USAGE_SHARD_SIZE` companies,
//! publishes `usage.shard` events for the shard workers. The run record is stored whatever
//! happens (`shared::runs`); the recorded cycle is `shared::services::cycles::usage_push`,
//! which `acw sync usage` runs too.
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub use shared::services::cycles::{
    USAGE_MAX_PLAN as MAX_PLAN, USAGE_RESERVE as RESERVE, usage_deadline as deadline,
    usage_push as handle,
};

#[cfg(test)]
mod tests;

//! usage-push: the scheduled cycle (see `shared::services::usage`). It plans (every
//! ConnectWise read) and either pushes in process or, above `USAGE_SHARD_SIZE` companies,
//! publishes `usage.shard` events for the shard workers. The run record is stored whatever
//! happens (`shared::runs`); the recorded cycle is `shared::services::cycles::usage_push`,
//! which `acw sync usage` runs too.

pub use shared::services::cycles::{
    USAGE_MAX_PLAN as MAX_PLAN, USAGE_RESERVE as RESERVE, usage_deadline as deadline,
    usage_push as handle,
};

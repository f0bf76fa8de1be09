//! Application services: the steps of each job, over the clients and the store, with the
//! decisions taken by [`crate::domain`]. Shared by the Lambdas, the local runner and `acw`.
//!
//! - [`provisioning`]: one company → provision, sync quotas, deprovision;
//! - [`single_flight`]: one run at a time per company, the callbacks of a sale coalesced;
//! - [`reconcile`]: the periodic sweep that repairs lost callbacks;
//! - [`callbacks`]: registering the ConnectWise callbacks idempotently;
//! - [`companies`]: listing, mapping and unmapping companies by hand;
//! - [`config`]: configuration as code (the store as a file, applying a plan);
//! - [`cycles`]: the scheduled jobs as one recorded run each (functions and `acw sync`);
//! - [`dead_letters`]: reading the dead-letter queues and replaying them (`acw dlq`).

pub mod alerts;
pub mod attention;
pub mod callbacks;
pub mod companies;
pub mod config;
pub mod cycles;
pub mod dead_letters;
pub mod products;
pub mod provisioning;
pub mod reconcile;
pub mod single_flight;
pub mod usage;

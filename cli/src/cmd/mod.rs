//! One module per command group.

pub mod alerts;
pub mod attention;
pub mod companies;
pub mod config;
pub mod dlq;
pub mod doctor;
pub mod jobs;
pub mod products;
pub mod provisioning;
pub mod sections;
pub mod setup;
pub mod status;
pub mod sync;
pub mod tenants;
pub mod time_zone;
pub mod usage;

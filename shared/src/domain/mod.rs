//! Domain decisions as plain functions: data in, decisions out. No network here, and
//! nothing from `store`, the API clients or `services`: the dependency goes one way, from
//! them to here (`shared/tests/domain_layers.rs` checks it).
//!
//! - [`records`]: the stored records these decisions read and make (the store keeps them);
//! - [`settings`]: the product's settings and their defaults; [`config`]: every setting and
//!   mapping as one file, and the plan that brings the store to it;
//! - [`quotas`]: agreements + product mapping → each offering item's quota;
//! - [`item_writes`]: the offering-item writes that bring a tenant to those quotas;
//! - [`provisioning`]: provision, sync, deprovision or nothing, and the first account;
//!   [`company_plan`]: what was read about one company and the plan made from it;
//!   [`sale_calls`]: the API calls a sale cannot avoid;
//! - [`calendar`]: the dates that change a company's state, and the daily sweep's slices;
//! - [`attention`]: which needs-attention ticket a problem opens, notes or closes;
//! - [`jobs`]: the jobs an operator pauses, and where each is held;
//! - [`mapping`]: whether a company may be mapped to a tenant; [`matching`]: which existing
//!   tenant belongs to which company (the proposals of `acw companies match`);
//! - [`reconcile`]: which companies a reconciler cycle re-derives, and why;
//! - [`deprovisioning`]: which deprovisioning steps are due, and which wait for their day;
//! - [`usage`]: usages → each product's quantity; [`usage_records`]: which agreements the
//!   usage push reads and which addition carries a product; [`usage_cycle`]: which
//!   companies a planner lists, which agreements it forces, when its cursors move;
//!   [`usage_push`]: which quantities a push writes; [`usage_handoff`]: a shard's leftover;
//! - [`dead_letters`]: what a dead-letter queue's message holds (either shape), and what
//!   `acw dlq replay` does with it.

pub mod alerts;
pub mod attention;
pub mod calendar;
pub mod callbacks;
pub mod company_plan;
pub mod config;
pub mod connection;
pub mod dead_letters;
pub mod deprovisioning;
pub mod item_writes;
pub mod jobs;
pub mod mapping;
pub mod matching;
pub mod products;
pub mod provisioning;
pub mod quotas;
pub mod reconcile;
pub mod records;
pub mod request_budget;
pub mod sale_calls;
pub mod settings;
pub mod usage;
pub mod usage_cycle;
pub mod usage_handoff;
pub mod usage_push;
pub mod usage_records;

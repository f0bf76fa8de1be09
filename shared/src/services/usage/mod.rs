//! The usage push: Acronis usage → the quantity of each pay-as-you-go agreement addition,
//! written only when it differs from what ConnectWise holds.
//!
//! The decisions are the domain's: which agreements to read and which addition carries a
//! product ([`crate::domain::usage_records`]), which quantities a push writes
//! ([`crate::domain::usage_push`]). This module reads (`reads.rs`), stores what was read, and
//! executes push plans (`push.rs`); [`UsagePush::preview`] is `acw sync usage --dry-run`.
//!
//! A cycle has two phases:
//! - [`UsagePush::plan`] (the scheduled run) does every ConnectWise **read**: one
//!   `finance/agreements?conditions=lastUpdated>[cursor]` list for what changed since the
//!   last cycle, one agreements list per 100 companies never seen before (discovery), and
//!   one additions list for each PAYG agreement that is new or changed. What it reads
//!   becomes [`AdditionRecord`]s (addition id per (agreement, product), the quantity
//!   ConnectWise holds, the agreement's `lastUpdated`, the days it bills). A company whose
//!   agreements are all first seen and still unread waits for a later plan: it has nothing
//!   to push yet (`domain::usage_cycle::waiting_companies`). Nothing else is
//!   read: an unchanged cycle makes no per-agreement read. The one exception is an
//!   agreement with a missing addition, re-read once per [`MISSING_RECHECK`]. From the
//!   store it reads only the records of the agreements it examines (`BatchGetItem`).
//! - [`UsagePush::push`] (in process for small partners, else one shard worker per
//!   [`UsageShard`] event) reads its companies' records (one index range), the usages of
//!   its tenants (100 per call), and PATCHes an addition only when the converted usage
//!   differs from the stored quantity and the addition bills today (an agreement that ends
//!   by date stops being pushed without anyone editing it).
//! - A missing addition (a 404 on the write, or gone from a re-read) is marked on its
//!   record and reported in every run record, never written again and never created.
//! - Each run stops starting API calls at its [`Deadline`] (after [`MIN_PROGRESS`] of
//!   them): the planner leaves unread agreements in `pending_reads` for the next cycle; a
//!   shard leaves unwritten quantities unchanged in the store, and the shard worker hands
//!   those companies on at once (`domain::usage_handoff`).
//!
//! Our own PATCH bumps the agreement's `lastUpdated`: the PATCH answer's `_info.lastUpdated`
//! is kept as the agreement's, and a change within [`SELF_TOUCH`] of it counts as ours (a
//! person's edit within those seconds would be missed until the agreement changes again).
//! The cursor of the change list lags [`SKEW`] behind the planner's clock.

mod push;
mod reads;
#[cfg(test)]
mod tests;
mod usages;

pub use usages::{LEFT_OUT, UnreadTenant, UsageApi, read_usages};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::acronis::Connections;
use crate::acronis::models::TenantUsages;
use crate::bus::events::{ShardCompany, UsageShard};
use crate::bus::{Event, EventBus};
use crate::connectwise::models::Agreement;
use crate::connectwise::{Conditions, ConnectWiseClient, ListQuery};
use crate::domain::calendar;
use crate::domain::settings::BillingSettings;
use crate::domain::usage::UsageSettings;
use crate::domain::usage_cycle;
use crate::domain::usage_push::{self as rules_push, PlannedWrite, PushPlan};
use crate::domain::usage_records::{self, missing_failure};
use crate::store::{
    AdditionRecord, Change, CompanyMapping, Failure, MissingAdditions, ProductMapping, RunRecord,
    Store, StoreError,
};

/// The run record names.
pub const FUNCTION: &str = crate::functions::Function::UsagePush.name();
pub const SHARD_FUNCTION: &str = crate::functions::Function::UsageShardWorker.name();
/// The cursor item holding the cycle's state.
const STATE: &str = "usage-push";
/// How far the change cursor lags behind our clock (clock skew with ConnectWise).
pub const SKEW: Duration = Duration::seconds(120);
pub use crate::domain::usage_records::SELF_TOUCH;
/// Companies per agreements discovery call (`company/id in (...)`).
const DISCOVERY_CHUNK: usize = 100;
/// How often the planner re-reads an agreement whose addition went missing (an addition
/// put back may not touch the agreement's `lastUpdated`). One read per hour per such
/// agreement, instead of a failing write every cycle.
pub const MISSING_RECHECK: Duration = Duration::hours(1);
/// Reads (and writes) a run makes even past its deadline, so that a cycle whose bookkeeping
/// ate its budget still moves on (the deadline keeps a reserve for this).
pub const MIN_PROGRESS: usize = 10;

/// Tuning of a cycle.
#[derive(Debug, Clone, Copy)]
pub struct UsageOptions {
    /// Companies per shard; a cycle with more is fanned out over the bus.
    pub shard_size: usize,
    /// Requests in flight per phase (the transports bound each API as well).
    pub concurrency: usize,
}

impl Default for UsageOptions {
    fn default() -> Self {
        Self {
            shard_size: 1000,
            concurrency: 16,
        }
    }
}

impl UsageOptions {
    /// `USAGE_SHARD_SIZE`, `USAGE_CONCURRENCY`.
    pub fn from_env() -> Self {
        let n = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|v| (1..=100_000).contains(v))
                .unwrap_or(d)
        };
        let d = Self::default();
        Self {
            shard_size: n("USAGE_SHARD_SIZE", d.shard_size),
            concurrency: n("USAGE_CONCURRENCY", d.concurrency),
        }
    }
}

pub use crate::deadline::Deadline;

/// What the planner remembers between cycles (one cursor item).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PushState {
    /// The change list reads agreements updated after this.
    pub agreements_since: Option<DateTime<Utc>>,
    /// Companies whose agreements were listed once (so they are not listed again).
    pub discovered: BTreeSet<i64>,
    /// Agreements with records that are no longer PAYG and open (or are gone): not pushed.
    pub inactive_agreements: BTreeSet<i64>,
    /// Agreements whose additions are still to be read: the last plan ran out of time.
    pub pending_reads: BTreeSet<i64>,
    /// Those of `pending_reads` first seen by discovery: nothing is recorded for them, so
    /// the next plan does not look their records up (a cold backfill's thousands of keys).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub pending_fresh: BTreeSet<i64>,
    /// When the daily sweep last listed its slice of the companies.
    #[serde(default)]
    pub swept_at: Option<DateTime<Utc>>,
    /// The run id of the last plan that fanned out shards: a hand-off of an older plan's
    /// shard is superseded by this one's shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_plan: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The usage push over both clients and the store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UsagePush {
    pub cw: ConnectWiseClient,
    /// Every Acronis connection: each tenant's usage is read from its own.
    pub connections: Connections,
    pub store: Store,
    pub options: UsageOptions,
    /// Added to the wall clock: zero in production; tests move time forward with it.
    pub clock_offset: Duration,
}

/// What a scheduled cycle did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CycleReport {
    pub companies: usize,
    /// Shards published on the bus (0: pushed in process).
    pub shards_published: usize,
}

/// What a push may take from its cycle's reads instead of reading it again.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// Records read but not stored yet: they replace the stored ones of the same
    /// (agreement, product).
    pub records: &'a [AdditionRecord],
    /// The agreements no longer pushed (else the stored cycle state's).
    pub inactive: Option<&'a BTreeSet<i64>>,
    pub product_mappings: Option<&'a [ProductMapping]>,
}

/// What one cycle's reads found, before anything is stored.
#[derive(Debug, Clone)]
pub struct CycleReads {
    prev: Option<PushState>,
    /// The cycle state to store.
    pub state: PushState,
    pub mappings: Vec<CompanyMapping>,
    pub product_mappings: Vec<ProductMapping>,
    /// Addition records of the agreements read.
    pub recorded: Vec<AdditionRecord>,
    /// Companies left out of this cycle's push until their agreements are read
    /// ([`usage_cycle::waiting_companies`]).
    pub waiting: BTreeSet<i64>,
    missing_now: Vec<MissingAdditions>,
    found_again: Vec<i64>,
    /// Agreements gone from ConnectWise: their missing-addition marks are dropped.
    gone_agreements: Vec<i64>,
}

impl CycleReads {
    /// The mapped companies to push: all but those waiting for their first reads.
    pub fn companies(&self) -> Vec<ShardCompany> {
        self.mappings
            .iter()
            .filter(|m| !self.waiting.contains(&m.company_id))
            .map(|m| ShardCompany {
                company_id: m.company_id,
                tenant_id: m.tenant_id.clone(),
                connection: m.connection.clone(),
            })
            .collect()
    }
}

impl UsagePush {
    pub fn new(
        cw: ConnectWiseClient,
        connections: impl Into<Connections>,
        store: Store,
        options: UsageOptions,
    ) -> Self {
        Self {
            cw,
            connections: connections.into(),
            store,
            options,
            clock_offset: Duration::zero(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        crate::clock::now() + self.clock_offset
    }

    /// The scheduled run: plan, then push in process or publish shards. The run record
    /// is the caller's to store.
    pub async fn cycle(
        &self,
        bus: Option<&EventBus>,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<CycleReport, UsageError> {
        let mut reads = self.read_cycle(run, deadline).await?;
        let companies = reads.companies();
        let fan_out = bus.is_some() && companies.len() > self.options.shard_size;
        if fan_out {
            reads.state.latest_plan = Some(run.run_id.clone());
        }
        self.record_reads(&reads, run).await?;
        let mut report = CycleReport {
            companies: companies.len(),
            shards_published: 0,
        };
        match bus {
            Some(bus) if companies.len() > self.options.shard_size => {
                let events: Vec<Event> =
                    UsageShard::split(&run.run_id, &companies, self.options.shard_size.max(1))
                        .into_iter()
                        .map(Event::UsageShard)
                        .collect();
                let published = bus.publish(&events).await;
                report.shards_published = published.published;
                run.count("shards", published.published as u64);
                for f in published.failed {
                    run.failures.push(Failure {
                        subject: format!("usage shard {}", f.index),
                        reason: format!("not published: {} {}", f.code, f.message),
                        transient: true,
                    });
                }
            }
            _ => {
                // In process: what the reads found need not be read again.
                let known = Known {
                    records: &[],
                    inactive: Some(&reads.state.inactive_agreements),
                    product_mappings: Some(&reads.product_mappings),
                };
                let plan = self.plan_push(&companies, known, run).await?;
                // What the deadline leaves is the next cycle's (in process there is no
                // hand-off: the cycle's own run is the one that ran out of time).
                self.apply_push(plan, run, deadline).await?;
            }
        }
        Ok(report)
    }

    /// Every ConnectWise read of a cycle, then what they found stored; returns the mapped
    /// companies to push, in shards (the plan of a fan-out, which its hand-offs name).
    pub async fn plan(
        &self,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<Vec<ShardCompany>, UsageError> {
        let mut reads = self.read_cycle(run, deadline).await?;
        reads.state.latest_plan = Some(run.run_id.clone());
        self.record_reads(&reads, run).await?;
        Ok(reads.companies())
    }
}

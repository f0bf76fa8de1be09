//! The usage push: Acronis usage → the quantity of each pay-as-you-go agreement addition,
//! written only when it differs from what ConnectWise holds.
//!
//! A cycle has two phases:
//! - [`UsagePush::plan`] (the scheduled run) does every ConnectWise **read**: one
//!   `finance/agreements?conditions=lastUpdated>[cursor]` list for what changed since the
//!   last cycle, one agreements list per 100 companies never seen before (discovery), and
//!   one additions list for each PAYG agreement that is new or changed. What it reads
//!   becomes [`AdditionRecord`]s (addition id per (agreement, product), the quantity
//!   ConnectWise holds, the agreement's `lastUpdated`, the days it bills). Nothing else is
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
//!   them): the planner leaves unread agreements in `pending_reads`, a shard leaves
//!   unwritten quantities unchanged in the store; the next cycle does the rest.
//!
//! Our own PATCH bumps the agreement's `lastUpdated`: the PATCH answer's `_info.lastUpdated`
//! is kept as the agreement's, and a change within [`SELF_TOUCH`] of it counts as ours (a
//! person's edit within those seconds would be missed until the agreement changes again).
//! The cursor of the change list lags [`SKEW`] behind the planner's clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::acronis::AcronisClient;
use crate::acronis::models::TenantUsages;
use crate::bus::events::{ShardCompany, UsageShard};
use crate::bus::{Event, EventBus, VERSION};
use crate::connectwise::models::Agreement;
use crate::connectwise::{Conditions, ConnectWiseClient, ListQuery};
use crate::domain::calendar;
use crate::domain::settings::BillingSettings;
use crate::domain::usage::UsageSettings;
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

/// When a run must stop starting API calls, so that it ends (and records what it did)
/// well before its Lambda time limit. What is left is done by the next cycle.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadline(Option<tokio::time::Instant>);

impl Deadline {
    /// No limit (tests, `acw sync usage`).
    pub fn none() -> Self {
        Self(None)
    }

    /// `budget` from now.
    pub fn after(budget: std::time::Duration) -> Self {
        Self(Some(tokio::time::Instant::now() + budget))
    }

    /// From a Lambda invocation's deadline (ms since the epoch), keeping `reserve` for
    /// what follows the API calls (publishing, the run record), and at most `cap` from now.
    pub fn lambda(
        deadline_ms: u64,
        reserve: std::time::Duration,
        cap: std::time::Duration,
    ) -> Self {
        let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
        let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        Self::after(left.saturating_sub(reserve).min(cap))
    }

    pub fn passed(&self) -> bool {
        self.0.is_some_and(|d| tokio::time::Instant::now() >= d)
    }
}

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
    /// When the daily sweep last listed its slice of the companies.
    #[serde(default)]
    pub swept_at: Option<DateTime<Utc>>,
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
    pub acronis: AcronisClient,
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

/// What one cycle's reads found, before anything is stored.
#[derive(Debug, Clone)]
pub struct CycleReads {
    prev: Option<PushState>,
    /// The cycle state to store.
    pub state: PushState,
    pub mappings: Vec<CompanyMapping>,
    /// Addition records of the agreements read.
    pub recorded: Vec<AdditionRecord>,
    missing_now: Vec<MissingAdditions>,
    found_again: Vec<i64>,
    /// Agreements gone from ConnectWise: their missing-addition marks are dropped.
    gone_agreements: Vec<i64>,
}

impl CycleReads {
    /// The mapped companies, to push.
    pub fn companies(&self) -> Vec<ShardCompany> {
        self.mappings
            .iter()
            .map(|m| ShardCompany {
                company_id: m.company_id,
                tenant_id: m.tenant_id.clone(),
            })
            .collect()
    }
}

impl UsagePush {
    pub fn new(
        cw: ConnectWiseClient,
        acronis: AcronisClient,
        store: Store,
        options: UsageOptions,
    ) -> Self {
        Self {
            cw,
            acronis,
            store,
            options,
            clock_offset: Duration::zero(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// The scheduled run: plan, then push in process or publish shards. The run record
    /// is the caller's to store.
    pub async fn cycle(
        &self,
        bus: Option<&EventBus>,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<CycleReport, UsageError> {
        let companies = self.plan(run, deadline).await?;
        let mut report = CycleReport {
            companies: companies.len(),
            shards_published: 0,
        };
        match bus {
            Some(bus) if companies.len() > self.options.shard_size => {
                let size = self.options.shard_size.max(1);
                let shards = companies.len().div_ceil(size);
                let events: Vec<Event> = companies
                    .chunks(size)
                    .enumerate()
                    .map(|(i, c)| {
                        Event::UsageShard(UsageShard {
                            version: VERSION,
                            run_id: run.run_id.clone(),
                            shard: i as u32,
                            shards: shards as u32,
                            companies: c.to_vec(),
                        })
                    })
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
            _ => self.push(&companies, run, deadline).await?,
        }
        Ok(report)
    }

    /// Every ConnectWise read of a cycle, then what they found stored; returns the mapped
    /// companies to push.
    pub async fn plan(
        &self,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<Vec<ShardCompany>, UsageError> {
        let reads = self.read_cycle(run, deadline).await?;
        self.record_reads(&reads, run).await?;
        Ok(reads.companies())
    }

    /// The reads of a cycle (ConnectWise and the store), nothing written: the additions of
    /// new, changed and swept PAYG agreements, as records decided by
    /// [`usage_records`](crate::domain::usage_records).
    pub async fn read_cycle(
        &self,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<CycleReads, UsageError> {
        let started = self.now();
        let today = started.date_naive();
        let mappings = self.store.mappings().await?;
        let products: BTreeSet<i64> = self
            .store
            .product_mappings()
            .await?
            .iter()
            .filter_map(|m| m.product_id)
            .collect();
        let billing: BillingSettings = self.store.section().await?;
        let prev: Option<PushState> = self.store.cursor(STATE).await?;
        let mut state = prev.clone().unwrap_or_default();
        let mapped: HashMap<i64, &str> = mappings
            .iter()
            .map(|m| (m.company_id, m.tenant_id.as_str()))
            .collect();
        run.count("companies", mapped.len() as u64);
        let mut gone_agreements: Vec<i64> = Vec::new();
        // 1. What changed since the last cycle (one list call).
        let mut examine: BTreeMap<i64, Agreement> = BTreeMap::new();
        let mut since_ok = true;
        if let Some(since) = state.agreements_since {
            let q = ListQuery::conditions(Conditions::new().gt("lastUpdated", since));
            match self.cw.agreements(&q).await {
                Ok(list) => {
                    run.count("agreements_changed", list.len() as u64);
                    for a in list {
                        if a.company
                            .as_ref()
                            .is_some_and(|c| mapped.contains_key(&c.id))
                        {
                            examine.insert(a.id, a);
                        }
                    }
                }
                Err(e) => {
                    since_ok = false;
                    run.failures.push(Failure {
                        subject: "changed agreements".into(),
                        reason: e.to_string(),
                        transient: e.is_transient(),
                    });
                }
            }
        }

        // 2. Companies never seen, and this cycle's slice of the daily sweep (whatever
        //    lastUpdated says: ConnectWise may change an addition without touching its
        //    agreement): their agreements, 100 companies per call.
        let slots = calendar::sweep_slots(state.swept_at, started);
        let swept: BTreeSet<i64> = mappings
            .iter()
            .map(|m| m.company_id)
            .filter(|c| state.discovered.contains(c) && slots.contains(&calendar::sweep_slot(*c)))
            .collect();
        run.count("companies_swept", swept.len() as u64);
        let new_companies: Vec<i64> = mappings
            .iter()
            .map(|m| m.company_id)
            .filter(|c| !state.discovered.contains(c) || swept.contains(c))
            .collect();
        // Agreements whose additions are read whatever their lastUpdated.
        let mut forced: BTreeSet<i64> = BTreeSet::new();
        let mut sweep_ok = true;
        let mut discovered_ok: BTreeSet<i64> = BTreeSet::new();
        // Agreements first seen by discovery: nothing is recorded for them yet.
        let mut fresh: BTreeSet<i64> = BTreeSet::new();
        // Owned chunks: a closure over borrowed slices makes the future's Send-ness
        // unprovable to rustc when it is spawned (rust-lang/rust#110338).
        let chunks: Vec<Vec<i64>> = new_companies
            .chunks(DISCOVERY_CHUNK)
            .map(<[i64]>::to_vec)
            .collect();
        let lists = stream::iter(chunks.into_iter().map(|chunk| {
            let q =
                ListQuery::conditions(Conditions::new().is_in("company/id", chunk.iter().copied()));
            async move { (chunk, self.cw.agreements(&q).await) }
        }))
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        for (chunk, result) in lists {
            match result {
                Ok(list) => {
                    discovered_ok.extend(chunk.iter().copied());
                    for a in list {
                        let company = a.company.as_ref().map(|c| c.id);
                        if company.is_some_and(|c| swept.contains(&c)) {
                            forced.insert(a.id);
                            examine.entry(a.id).or_insert(a);
                        } else if let std::collections::btree_map::Entry::Vacant(v) =
                            examine.entry(a.id)
                        {
                            fresh.insert(a.id);
                            v.insert(a);
                        }
                    }
                }
                Err(e) => {
                    sweep_ok &= !chunk.iter().any(|c| swept.contains(c));
                    run.failures.push(Failure {
                        subject: format!(
                            "agreements of companies {}..{}",
                            chunk[0],
                            chunk[chunk.len() - 1]
                        ),
                        reason: e.to_string(),
                        transient: e.is_transient(),
                    });
                }
            }
        }

        // 3. Agreements left unread by the last plan (it ran out of time), 100 per call.
        let pending: Vec<i64> = std::mem::take(&mut state.pending_reads)
            .into_iter()
            .filter(|id| !examine.contains_key(id))
            .collect();
        for chunk in pending.chunks(DISCOVERY_CHUNK) {
            let q = ListQuery::conditions(Conditions::new().is_in("id", chunk.iter().copied()));
            match self.cw.agreements(&q).await {
                Ok(list) => {
                    for a in list {
                        forced.insert(a.id);
                        examine.insert(a.id, a);
                    }
                }
                Err(e) => {
                    state.pending_reads.extend(chunk.iter().copied());
                    run.failures.push(Failure {
                        subject: format!("{} agreements left from the last cycle", chunk.len()),
                        reason: e.to_string(),
                        transient: e.is_transient(),
                    });
                }
            }
        }

        // 4. Agreements with a missing addition, re-read hourly (a put-back addition may
        //    not touch the agreement).
        let missing = self.store.missing_additions().await?;
        let was_missing: BTreeSet<i64> = missing.iter().map(|m| m.agreement_id).collect();
        let due: Vec<i64> = missing
            .iter()
            .filter(|m| {
                !state.inactive_agreements.contains(&m.agreement_id)
                    && m.checked_at + MISSING_RECHECK <= started
            })
            .map(|m| m.agreement_id)
            .collect();
        // Those already listed as changed need no fetch, only a read of their additions.
        let (listed, recheck): (Vec<i64>, Vec<i64>) =
            due.into_iter().partition(|id| examine.contains_key(id));
        forced.extend(listed);
        let rechecked = stream::iter(
            recheck
                .into_iter()
                .map(|id| async move { (id, self.cw.agreement(id).await) }),
        )
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        for (id, result) in rechecked {
            match result {
                Ok(a) => {
                    forced.insert(id);
                    examine.insert(id, a);
                }
                Err(e) if e.is_not_found() => {
                    state.inactive_agreements.insert(id);
                    gone_agreements.push(id);
                    run.failures.push(Failure {
                        subject: format!("agreement {id}"),
                        reason:
                            "the agreement is gone from ConnectWise: its usage is no longer pushed"
                                .into(),
                        transient: false,
                    });
                }
                Err(e) => run.failures.push(Failure {
                    subject: format!("agreement {id}"),
                    reason: format!("not re-read: {e}"),
                    transient: e.is_transient(),
                }),
            }
        }

        // 5. The records of the agreements examined (batched key reads of the mapped
        //    products: the cost follows the changes, not the partner's size).
        let ids: Vec<i64> = examine
            .keys()
            .filter(|id| !fresh.contains(id))
            .copied()
            .collect();
        let product_ids: Vec<i64> = products.iter().copied().collect();
        let mut by_agreement: HashMap<i64, Vec<AdditionRecord>> = HashMap::new();
        for r in self
            .store
            .additions_of_agreements(&ids, &product_ids)
            .await?
        {
            by_agreement.entry(r.agreement_id).or_default().push(r);
        }

        // 6. Which agreements need their additions read: new or changed open PAYG ones.
        let read_plan =
            usage_records::agreements_to_read(examine, &by_agreement, &forced, &billing, today);
        state.inactive_agreements.extend(read_plan.now_inactive);
        state
            .inactive_agreements
            .retain(|id| !read_plan.active.contains(id));
        let to_read = read_plan.read;
        run.count("agreements_read", to_read.len() as u64);

        // 7. Read them, with bounded concurrency, while time allows, and keep what they hold.
        let reads = stream::iter(to_read.into_iter().enumerate().map(|(i, a)| async move {
            if i >= MIN_PROGRESS && deadline.passed() {
                return (a, None);
            }
            let r = self.cw.additions(a.id, &ListQuery::default()).await;
            (a, Some(r))
        }))
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let now = self.now();
        let mut recorded: Vec<AdditionRecord> = Vec::new();
        let mut missing_now: Vec<MissingAdditions> = Vec::new();
        let mut found_again: Vec<i64> = Vec::new();
        for (a, result) in reads {
            let company_id = a.company.as_ref().map_or(0, |c| c.id);
            let additions = match result {
                Some(Ok(list)) => list,
                None => {
                    state.pending_reads.insert(a.id);
                    continue;
                }
                Some(Err(e)) => {
                    discovered_ok.remove(&company_id);
                    run.failures.push(Failure {
                        subject: format!("company {company_id} / agreement {}", a.id),
                        reason: format!("additions not read: {e}"),
                        transient: e.is_transient(),
                    });
                    continue;
                }
            };
            let known = by_agreement.get(&a.id).map_or(&[][..], Vec::as_slice);
            let decided =
                usage_records::record_agreement(&a, &additions, known, &products, today, now);
            run.failures.extend(decided.problems.iter().cloned());
            if decided.has_missing() {
                missing_now.push(MissingAdditions {
                    agreement_id: a.id,
                    company_id,
                    checked_at: now,
                });
            } else if was_missing.contains(&a.id) {
                found_again.push(a.id);
            }
            recorded.extend(decided.records);
        }
        if !state.pending_reads.is_empty() {
            run.count("agreements_deferred", state.pending_reads.len() as u64);
        }
        if since_ok {
            state.agreements_since = Some(started - SKEW);
        }
        if sweep_ok {
            state.swept_at = Some(started);
        }
        state.discovered.extend(discovered_ok);
        Ok(CycleReads {
            prev,
            state,
            mappings,
            recorded,
            missing_now,
            found_again,
            gone_agreements,
        })
    }

    /// Stores what a cycle's reads found: the addition records, which agreements miss an
    /// addition, and the cycle state.
    pub async fn record_reads(
        &self,
        reads: &CycleReads,
        run: &mut RunRecord,
    ) -> Result<(), UsageError> {
        for id in &reads.gone_agreements {
            self.store.clear_missing_additions(*id).await?;
        }
        self.store.put_additions(&reads.recorded).await?;
        for m in &reads.missing_now {
            self.store.put_missing_additions(m).await?;
        }
        for id in &reads.found_again {
            self.store.clear_missing_additions(*id).await?;
        }
        run.count("additions_recorded", reads.recorded.len() as u64);
        if reads.prev.as_ref() != Some(&reads.state)
            && let Err(e) = self
                .store
                .advance_cursor(STATE, reads.prev.as_ref(), &reads.state)
                .await
        {
            run.failures.push(Failure {
                subject: "usage-push state".into(),
                reason: e.to_string(),
                transient: true,
            });
        }
        Ok(())
    }

    /// Reads the usages of `companies` and writes the additions whose quantity changed.
    pub async fn push(
        &self,
        companies: &[ShardCompany],
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<(), UsageError> {
        let plan = self.plan_push(companies, &[], None, run).await?;
        self.apply_push(plan, run, deadline).await
    }

    /// What a cycle would write, with nothing written (`acw sync usage --dry-run`): the
    /// reads of [`Self::read_cycle`], then the push plan of every mapped company from the
    /// records just read (in place of the stored ones).
    pub async fn preview(&self, run: &mut RunRecord) -> Result<PushPlan, UsageError> {
        let reads = self.read_cycle(run, Deadline::none()).await?;
        let companies = reads.companies();
        self.plan_push(
            &companies,
            &reads.recorded,
            Some(&reads.state.inactive_agreements),
            run,
        )
        .await
    }

    /// The push plan of `companies` (see [`rules_push::plan_push`]): their stored records,
    /// with `read` (records not stored yet) in place of the stored ones of the same
    /// (agreement, product), and the usages of their tenants (100 per call). `inactive` is
    /// the stored cycle state's unless given.
    pub async fn plan_push(
        &self,
        companies: &[ShardCompany],
        read: &[AdditionRecord],
        inactive: Option<&BTreeSet<i64>>,
        run: &mut RunRecord,
    ) -> Result<PushPlan, UsageError> {
        let product_mappings: Vec<ProductMapping> = self.store.product_mappings().await?;
        let settings: UsageSettings = self.store.section().await?;
        let inactive = match inactive {
            Some(i) => i.clone(),
            None => {
                let state: PushState = self.store.cursor(STATE).await?.unwrap_or_default();
                state.inactive_agreements
            }
        };
        let today = self.now().date_naive();
        // This shard's records: one index range.
        let mut records = match (
            companies.iter().map(|c| c.company_id).min(),
            companies.iter().map(|c| c.company_id).max(),
        ) {
            (Some(first), Some(last)) => self.store.additions_of_companies(first, last).await?,
            _ => Vec::new(),
        };
        let fresh: BTreeSet<(i64, i64)> = read
            .iter()
            .map(|r| (r.agreement_id, r.product_id))
            .collect();
        records.retain(|r| !fresh.contains(&(r.agreement_id, r.product_id)));
        records.extend(read.iter().cloned());

        // Usages, 100 tenants per call.
        let tenant_ids: Vec<String> = companies.iter().map(|c| c.tenant_id.clone()).collect();
        let chunks: Vec<Vec<String>> = tenant_ids
            .chunks(crate::acronis::client::BATCH)
            .map(<[String]>::to_vec)
            .collect();
        let batches = stream::iter(
            chunks
                .into_iter()
                .map(|chunk| async move { self.usages(&chunk).await }),
        )
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut usages: HashMap<String, TenantUsages> = HashMap::new();
        for (got, failed) in batches {
            for t in got {
                usages.insert(t.tenant.to_ascii_lowercase(), t);
            }
            for (tenant, reason, transient) in failed {
                let company = companies
                    .iter()
                    .find(|c| c.tenant_id == tenant)
                    .map_or(0, |c| c.company_id);
                run.failures.push(Failure {
                    subject: format!("company {company} / tenant {tenant}"),
                    reason: format!("usage not read: {reason}"),
                    transient,
                });
            }
        }

        let plan = rules_push::plan_push(
            companies,
            records,
            &inactive,
            &usages,
            &product_mappings,
            &settings,
            today,
        );
        run.count("not_in_force", plan.not_in_force);
        run.count("companies_pushed", plan.companies_pushed);
        run.count("additions", plan.additions);
        run.count("unchanged", plan.unchanged);
        run.failures.extend(plan.problems.iter().cloned());
        Ok(plan)
    }

    /// Executes a push plan: PATCH each quantity (replace, idempotent) while time allows,
    /// and record what ConnectWise now holds.
    pub async fn apply_push(
        &self,
        plan: PushPlan,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<(), UsageError> {
        // Writes: PATCH replace quantity, idempotent.
        let results = stream::iter(
            plan.writes
                .into_iter()
                .enumerate()
                .map(|(i, w)| async move {
                    if i >= MIN_PROGRESS && deadline.passed() {
                        return (w, None);
                    }
                    let result = self
                        .cw
                        .set_addition_quantity(
                            w.record.agreement_id,
                            w.record.addition_id,
                            w.quantity,
                        )
                        .await;
                    (w, Some(result))
                }),
        )
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut recorded: Vec<AdditionRecord> = Vec::new();
        let mut unrecorded: Option<StoreError> = None;
        for (w, result) in results {
            let subject = w.subject();
            let PlannedWrite {
                record: r,
                quantity: new,
                basis,
            } = w;
            let Some(result) = result else {
                // Out of time: the stored quantity is unchanged, so the next cycle writes it.
                run.count("writes_deferred", 1);
                continue;
            };
            match result {
                Ok(add) => {
                    run.count("writes", 1);
                    let touched = add.info.as_ref().and_then(|i| i.last_updated);
                    recorded.push(AdditionRecord {
                        last_pushed_quantity: Some(new),
                        agreement_last_updated: r.agreement_last_updated.max(touched),
                        updated_at: self.now(),
                        ..r.clone()
                    });
                    run.changes.push(Change {
                        subject,
                        field: "quantity".into(),
                        old: r.last_pushed_quantity.map(serde_json::Value::from),
                        new: serde_json::Value::from(new),
                        basis: Some(basis),
                    });
                }
                Err(e) if e.is_not_found() => {
                    // Remembered, so later cycles report it without writing, and the
                    // planner re-reads its agreement now and then.
                    run.failures.push(missing_failure(&r));
                    if let Err(e) = self
                        .store
                        .put_missing_additions(&MissingAdditions {
                            agreement_id: r.agreement_id,
                            company_id: r.company_id,
                            checked_at: self.now(),
                        })
                        .await
                    {
                        unrecorded.get_or_insert(e);
                    }
                    recorded.push(AdditionRecord {
                        missing_since: Some(self.now()),
                        updated_at: self.now(),
                        ..r
                    });
                }
                Err(e) => run.failures.push(Failure {
                    subject,
                    reason: e.to_string(),
                    transient: e.is_transient(),
                }),
            }
        }
        // The product's own records failing to store fails the shard (the event is retried,
        // its writes repeated with the same quantities), rather than passing unnoticed.
        self.store.put_additions(&recorded).await?;
        match unrecorded {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// One batch of usages; a batch refused as a whole (a tenant gone) is read tenant by
    /// tenant so that one tenant does not fail the other 99.
    async fn usages(&self, chunk: &[String]) -> (Vec<TenantUsages>, Vec<(String, String, bool)>) {
        match self.acronis.usages(chunk).await {
            Ok(got) => (got, Vec::new()),
            Err(e) if e.is_transient() || chunk.len() == 1 => (
                Vec::new(),
                chunk
                    .iter()
                    .map(|t| (t.clone(), e.to_string(), e.is_transient()))
                    .collect(),
            ),
            Err(_) => {
                let mut got = Vec::new();
                let mut failed = Vec::new();
                for t in chunk {
                    match self.acronis.usages(std::slice::from_ref(t)).await {
                        Ok(u) => got.extend(u),
                        Err(e) => failed.push((t.clone(), e.to_string(), e.is_transient())),
                    }
                }
                (got, failed)
            }
        }
    }
}

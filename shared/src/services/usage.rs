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

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::acronis::AcronisClient;
use crate::acronis::models::TenantUsages;
use crate::bus::events::{ShardCompany, UsageShard};
use crate::bus::{Event, EventBus, VERSION};
use crate::connectwise::models::{Addition, Agreement};
use crate::connectwise::{Conditions, ConnectWiseClient, ListQuery};
use crate::domain::calendar;
use crate::domain::settings::BillingSettings;
use crate::domain::usage::{self as rules, Decision, UsageSettings};
use crate::store::{
    AdditionRecord, Change, Failure, MissingAdditions, ProductMapping, RunRecord, Store, StoreError,
};

/// The run record names.
pub const FUNCTION: &str = crate::functions::Function::UsagePush.name();
pub const SHARD_FUNCTION: &str = crate::functions::Function::UsageShardWorker.name();
/// The cursor item holding the cycle's state.
const STATE: &str = "usage-push";
/// How far the change cursor lags behind our clock (clock skew with ConnectWise).
pub const SKEW: Duration = Duration::seconds(120);
/// An agreement `lastUpdated` this close after our own write counts as our write.
pub const SELF_TOUCH: Duration = Duration::seconds(2);
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

/// A PAYG agreement that bills now or will (see [`calendar::agreement_open`]).
fn open_payg(a: &Agreement, billing: &BillingSettings, today: NaiveDate) -> bool {
    calendar::agreement_open(a, today)
        && billing.is_payg_type(a.agreement_type.as_ref().and_then(|t| t.name.as_deref()))
}

fn last_updated(a: &Agreement) -> Option<DateTime<Utc>> {
    a.info.as_ref().and_then(|i| i.last_updated)
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

    /// Every ConnectWise read of a cycle; returns the mapped companies to push.
    pub async fn plan(
        &self,
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<Vec<ShardCompany>, UsageError> {
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
                    self.store.clear_missing_additions(id).await?;
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
        let mut to_read: Vec<Agreement> = Vec::new();
        for a in examine.into_values() {
            let known = by_agreement.get(&a.id);
            if !open_payg(&a, &billing, today) {
                if known.is_some() {
                    state.inactive_agreements.insert(a.id);
                }
                continue;
            }
            state.inactive_agreements.remove(&a.id);
            let stored =
                known.and_then(|rs| rs.iter().filter_map(|r| r.agreement_last_updated).max());
            let changed = match (stored, last_updated(&a)) {
                (Some(s), Some(now)) => now > s + SELF_TOUCH,
                _ => true,
            };
            if known.is_none() || changed || forced.contains(&a.id) {
                to_read.push(a);
            }
        }
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
            let known: Vec<&AdditionRecord> = by_agreement
                .get(&a.id)
                .map(|rs| rs.iter().collect())
                .unwrap_or_default();
            let records = self.record_agreement(&a, &additions, &known, &products, today, now, run);
            if records.iter().any(|r| r.missing_since.is_some()) {
                missing_now.push(MissingAdditions {
                    agreement_id: a.id,
                    company_id,
                    checked_at: now,
                });
            } else if was_missing.contains(&a.id) {
                found_again.push(a.id);
            }
            recorded.extend(records);
        }
        self.store.put_additions(&recorded).await?;
        for m in &missing_now {
            self.store.put_missing_additions(m).await?;
        }
        for id in found_again {
            self.store.clear_missing_additions(id).await?;
        }
        run.count("additions_recorded", recorded.len() as u64);
        if !state.pending_reads.is_empty() {
            run.count("agreements_deferred", state.pending_reads.len() as u64);
        }

        // 8. Remember, then hand out the companies.
        if since_ok {
            state.agreements_since = Some(started - SKEW);
        }
        if sweep_ok {
            state.swept_at = Some(started);
        }
        state.discovered.extend(discovered_ok);
        if prev.as_ref() != Some(&state)
            && let Err(e) = self
                .store
                .advance_cursor(STATE, prev.as_ref(), &state)
                .await
        {
            run.failures.push(Failure {
                subject: "usage-push state".into(),
                reason: e.to_string(),
                transient: true,
            });
        }
        Ok(mappings
            .into_iter()
            .map(|m| ShardCompany {
                company_id: m.company_id,
                tenant_id: m.tenant_id,
            })
            .collect())
    }

    /// The addition records of one agreement from the additions ConnectWise holds: one per
    /// mapped product (the stored addition if it is still there, else the lowest id), with
    /// its billing window; a stored addition that is gone is marked missing and reported.
    #[allow(clippy::too_many_arguments)]
    fn record_agreement(
        &self,
        a: &Agreement,
        additions: &[Addition],
        known: &[&AdditionRecord],
        products: &BTreeSet<i64>,
        today: NaiveDate,
        now: DateTime<Utc>,
        run: &mut RunRecord,
    ) -> Vec<AdditionRecord> {
        let company_id = a.company.as_ref().map_or(0, |c| c.id);
        let mut out = Vec::new();
        let mut by_product: BTreeMap<i64, Vec<&Addition>> = BTreeMap::new();
        for add in additions
            .iter()
            .filter(|x| calendar::addition_open(x, today))
        {
            if let Some(p) = add.product.as_ref().map(|p| p.id)
                && products.contains(&p)
            {
                by_product.entry(p).or_default().push(add);
            }
        }
        for (product, mut candidates) in by_product {
            candidates.sort_by_key(|x| x.id);
            let stored = known.iter().find(|r| r.product_id == product);
            let chosen = stored
                .and_then(|r| candidates.iter().find(|c| c.id == r.addition_id))
                .unwrap_or(&candidates[0]);
            if candidates.len() > 1 {
                run.failures.push(Failure {
                    subject: format!("company {company_id} / agreement {}", a.id),
                    reason: format!(
                        "{} additions of product {product} ({:?}): usage goes to addition {} only; remove the others",
                        candidates.len(),
                        candidates.iter().map(|c| c.id).collect::<Vec<_>>(),
                        chosen.id
                    ),
                    transient: false,
                });
            }
            if let Some(r) = stored
                && r.addition_id != chosen.id
            {
                run.failures.push(Failure {
                    subject: format!("company {company_id} / agreement {} / addition {}", a.id, r.addition_id),
                    reason: format!("addition {} of product {product} is gone; adopted addition {} that ConnectWise now holds", r.addition_id, chosen.id),
                    transient: false,
                });
            }
            let (in_force_from, in_force_until) = calendar::billing_window(a, chosen);
            out.push(AdditionRecord {
                agreement_id: a.id,
                product_id: product,
                company_id,
                addition_id: chosen.id,
                last_pushed_quantity: chosen.quantity,
                agreement_last_updated: last_updated(a),
                in_force_from,
                in_force_until,
                missing_since: None,
                updated_at: now,
            });
        }
        for r in known {
            if out.iter().any(|o| o.product_id == r.product_id) {
                continue;
            }
            match additions.iter().find(|x| x.id == r.addition_id) {
                // Still there but cancelled: it ends; nothing to report.
                Some(ended) => {
                    let (in_force_from, until) = calendar::billing_window(a, ended);
                    let yesterday = today.pred_opt().unwrap_or(today);
                    let in_force_until = Some(until.map_or(yesterday, |u| u.min(yesterday)));
                    out.push(AdditionRecord {
                        in_force_from,
                        in_force_until,
                        agreement_last_updated: last_updated(a),
                        missing_since: None,
                        updated_at: now,
                        ..(*r).clone()
                    });
                }
                None => {
                    run.failures.push(missing_failure(r));
                    out.push(AdditionRecord {
                        agreement_last_updated: last_updated(a),
                        missing_since: r.missing_since.or(Some(now)),
                        updated_at: now,
                        ..(*r).clone()
                    });
                }
            }
        }
        out
    }

    /// Reads the usages of `companies` and writes the additions whose quantity changed.
    pub async fn push(
        &self,
        companies: &[ShardCompany],
        run: &mut RunRecord,
        deadline: Deadline,
    ) -> Result<(), UsageError> {
        let product_mappings: Vec<ProductMapping> = self.store.product_mappings().await?;
        let settings: UsageSettings = self.store.section().await?;
        let state: PushState = self.store.cursor(STATE).await?.unwrap_or_default();
        let wanted: HashMap<i64, &str> = companies
            .iter()
            .map(|c| (c.company_id, c.tenant_id.as_str()))
            .collect();
        let today = self.now().date_naive();
        // This shard's records (one index range), those billing today. One addition per
        // (company, product): the lowest agreement id wins.
        let stored = match (
            companies.iter().map(|c| c.company_id).min(),
            companies.iter().map(|c| c.company_id).max(),
        ) {
            (Some(first), Some(last)) => self.store.additions_of_companies(first, last).await?,
            _ => Vec::new(),
        };
        let mut records: BTreeMap<(i64, i64), Vec<AdditionRecord>> = BTreeMap::new();
        for r in stored {
            if !wanted.contains_key(&r.company_id)
                || state.inactive_agreements.contains(&r.agreement_id)
            {
                continue;
            }
            if !r.in_force_on(today) {
                run.count("not_in_force", 1);
                continue;
            }
            records
                .entry((r.company_id, r.product_id))
                .or_default()
                .push(r);
        }

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

        // Decisions.
        let mut writes: Vec<(AdditionRecord, f64, String)> = Vec::new();
        for c in companies {
            let Some(tu) = usages.get(&c.tenant_id.to_ascii_lowercase()) else {
                continue;
            };
            run.count("companies_pushed", 1);
            let quantities = rules::product_quantities(&tu.usages, &product_mappings, &settings);
            for ((company, product), mut rs) in records
                .range((c.company_id, i64::MIN)..=(c.company_id, i64::MAX))
                .map(|(k, v)| (*k, v.clone()))
            {
                rs.sort_by_key(|r| r.agreement_id);
                if rs.len() > 1 {
                    run.failures.push(Failure {
                        subject: format!("company {company} / product {product}"),
                        reason: format!(
                            "on {} PAYG agreements {:?}: usage goes to agreement {} only",
                            rs.len(),
                            rs.iter().map(|r| r.agreement_id).collect::<Vec<_>>(),
                            rs[0].agreement_id
                        ),
                        transient: false,
                    });
                }
                let r = rs.swap_remove(0);
                let (new, basis) = quantities
                    .get(&product)
                    .map_or((0.0, "no usage reported".to_owned()), |q| {
                        (q.quantity, q.basis.clone())
                    });
                run.count("additions", 1);
                match rules::decide(r.last_pushed_quantity, new, r.missing_since.is_none()) {
                    Decision::Unchanged => run.count("unchanged", 1),
                    Decision::ReportMissing => run.failures.push(missing_failure(&r)),
                    Decision::Write { .. } => writes.push((r, new, basis)),
                }
            }
        }

        // Writes: PATCH replace quantity, idempotent.
        let results = stream::iter(writes.into_iter().enumerate().map(
            |(i, (r, new, basis))| async move {
                if i >= MIN_PROGRESS && deadline.passed() {
                    return (r, new, basis, None);
                }
                let result = self
                    .cw
                    .set_addition_quantity(r.agreement_id, r.addition_id, new)
                    .await;
                (r, new, basis, Some(result))
            },
        ))
        .buffer_unordered(self.options.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut recorded: Vec<AdditionRecord> = Vec::new();
        let mut unrecorded: Option<StoreError> = None;
        for (r, new, basis, result) in results {
            let subject = format!(
                "company {} / agreement {} / addition {}",
                r.company_id, r.agreement_id, r.addition_id
            );
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

fn missing_failure(r: &AdditionRecord) -> Failure {
    Failure {
        subject: format!(
            "company {} / agreement {} / addition {}",
            r.company_id, r.agreement_id, r.addition_id
        ),
        reason: format!(
            "addition {} (product {}) no longer exists in ConnectWise: not recreated; add it back (or map another) to bill this usage",
            r.addition_id, r.product_id
        ),
        transient: false,
    }
}

//! The reconciler: callbacks are hints and can be lost, so every cycle this finds the
//! companies whose state may have changed and puts the same events on the bus that a
//! callback would have (the provisioner decides from current data either way).
//!
//! A cycle costs what changed, not what exists. Candidates:
//! - companies and agreements changed since the cursor (`lastUpdated`, with an overlap);
//!   on the first run, every company with an agreement in force. An agreement whose last
//!   change was the usage push's own write (its addition records say so) is not one:
//!   [`rules::changed_by_others`];
//! - mapped tenants Acronis lists as changed since the cursor (`updated_since`, deleted ones
//!   included) that are now deleted or disabled;
//! - companies deferred while their job was paused, once it runs again;
//! - companies whose next deprovisioning step has reached its day (no edit marks that day);
//! - companies on the day their agreements change them by themselves (an agreement starts or
//!   ends, an addition takes effect or is cancelled: the provisioner keeps that day);
//! - the daily sweep: this cycle's slices of the mapped companies (each one once a day,
//!   [`crate::domain::calendar::sweep_slots`], read from the store by slot), re-derived and
//!   checked whole: deleted in ConnectWise (absent from an id-only listing), tenant gone or
//!   disabled. Nothing depends on callbacks, `lastUpdated` or `updated_since` alone
//!   (ConnectWise may change an addition without touching its agreement, a callback may be
//!   lost). With auto-provisioning on, once a day also the unmapped companies with an active
//!   agreement (one id-only listing), so a company that qualifies reaches the provisioner
//!   within a day even when its callbacks were lost and nothing edits it.
//!
//! Read → plan ([`plan`], deciding in [`crate::domain::reconcile`]) → apply ([`apply`]).
//! The cursor advances to the cycle's start only when every event is on the bus.

mod feeds;
pub use feeds::feed_cursor;
mod ports;
#[cfg(test)]
mod tests;

pub use ports::ReconcileStore;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use futures::FutureExt as _;

use crate::acronis::models::Tenant;
use crate::acronis::{AcronisClient, Connections};
use crate::bus::{CompanyChanged, Event, EventBus, EventSink, Origin, VERSION};
use crate::connectwise::{Conditions, ConnectWiseClient, ListQuery};
use crate::domain::calendar;
use crate::domain::connection::ConnectionName;
use crate::domain::reconcile::{self as rules, Candidate, ReconcileFacts};
use crate::domain::settings::{BillingSettings, ProvisioningSettings};
use crate::store::{CompanyMapping, Failure, RunRecord, Store};

pub const CURSOR: &str = "reconciler";
/// When the daily sweep last ran.
pub const SWEEP_CURSOR: &str = "reconciler-sweep";
/// Set once the mappings stored before the sweep's index existed are filed under their slots.
pub const SWEEP_INDEX_CURSOR: &str = "reconciler-sweep-index";
/// Re-read this much before the cursor: clocks and ConnectWise's own commit lag.
const OVERLAP_MINUTES: i64 = 5;

/// What one cycle found and sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconcileReport {
    /// Company id → why it was picked.
    pub candidates: BTreeMap<i64, &'static str>,
    pub published: usize,
    pub failed: usize,
    pub cursor_advanced: bool,
}

/// A cycle's plan: the companies to send and the cursors to move once they are on the bus.
#[derive(Debug, Clone)]
pub struct ReconcilePlan {
    pub started: DateTime<Utc>,
    pub candidates: BTreeMap<i64, Candidate>,
    cursor: Option<DateTime<Utc>>,
    swept: Option<DateTime<Utc>>,
    /// Deferred companies whose job runs again, sent this cycle.
    resumed: Vec<i64>,
    /// Each connection's change-feed cursor: (name, as read, to store).
    feeds: Vec<(String, Option<DateTime<Utc>>, DateTime<Utc>)>,
    /// Connections that could not be read this cycle (recorded): the others' work is sent,
    /// then the cycle fails so that the alarm fires; the daily sweep's slice is swept again.
    failed_connections: Vec<String>,
    /// Whether the sweep's cursor moves (not when a connection's part of the slice was not
    /// read).
    advance_sweep: bool,
}

impl ReconcilePlan {
    /// Each candidate company and why it was picked.
    pub fn reasons(&self) -> BTreeMap<i64, &'static str> {
        self.candidates
            .iter()
            .map(|(id, c)| (*id, c.reason))
            .collect()
    }
}

/// Runs one cycle (with `dry_run`, finds the candidates but sends nothing).
pub async fn reconcile(
    cw: &ConnectWiseClient,
    acronis: &Connections,
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
    dry_run: bool,
) -> anyhow::Result<ReconcileReport> {
    if !dry_run {
        index_sweep_slots(store, run).await?;
    }
    let plan = plan(cw, acronis, store, run).await?;
    if dry_run {
        return Ok(ReconcileReport {
            candidates: plan.reasons(),
            ..ReconcileReport::default()
        });
    }
    let failed = plan.failed_connections.clone();
    let report = apply(plan, store, bus, run).await?;
    if !failed.is_empty() {
        anyhow::bail!(
            "Acronis connection(s) {} could not be read this cycle (see the run's failures); \
             the others were reconciled",
            failed.join(", ")
        );
    }
    Ok(report)
}

/// Files mappings stored by an earlier version under their sweep slots, once.
async fn index_sweep_slots(store: &Store, run: &mut RunRecord) -> anyhow::Result<()> {
    if store.cursor::<bool>(SWEEP_INDEX_CURSOR).await? == Some(true) {
        return Ok(());
    }
    let indexed = store.index_sweep_slots().await?;
    run.count("mappings_indexed", indexed as u64);
    let _ = store.advance_cursor(SWEEP_INDEX_CURSOR, None, &true).await;
    Ok(())
}

/// Reads what the decision needs and decides ([`rules::candidates`]).
pub async fn plan(
    cw: &ConnectWiseClient,
    acronis: &Connections,
    store: &Store,
    run: &mut RunRecord,
) -> anyhow::Result<ReconcilePlan> {
    let started = crate::clock::now();
    // What does not depend on anything else, read side by side.
    // (The days due are read up to the latest day anywhere, beside the zone that says
    // which day it is for the MSP, then kept up to its today.)
    let (cursor, swept_at, mut changes_due, settings, billing, clocks, deferred) = tokio::try_join!(
        store.cursor::<DateTime<Utc>>(CURSOR),
        store.cursor::<DateTime<Utc>>(SWEEP_CURSOR),
        store.changes_due(calendar::latest_day(started)),
        store.section::<ProvisioningSettings>(),
        store.section::<BillingSettings>(),
        store.deprovision_clocks(),
        store.deferred(),
    )?;
    let zone = billing.zone();
    let today = calendar::local_day(started, zone);
    changes_due.retain(|c| c.on <= today);
    let due_slots = calendar::sweep_slots(swept_at, started, zone);
    let since = cursor.map(|c| c - Duration::minutes(OVERLAP_MINUTES));

    // Then what the cursors decide, also side by side (each connection on its own: one
    // data centre's failure is recorded and leaves the others' changes to be acted on).
    let clients = acronis.current().await;
    let changed_in_cw = changed_in_connectwise(cw, store, since);
    let sweep = sweep_slice(cw, &clients, store, &due_slots);
    let changed_in_acronis = feeds::changed_in_all(&clients, store, (cursor, started));
    let unmapped_sweep = async {
        if !(settings.auto_provisioning && cursor.is_some() && rules::sweeps_unmapped(&due_slots)) {
            return anyhow::Ok((Vec::new(), Default::default()));
        }
        unmapped_sweep(cw, store).await
    };
    let jobs = async {
        if deferred.is_empty() {
            Ok(Default::default())
        } else {
            store.section().await
        }
    };
    // Boxed (as trait objects): side by side, the client futures would not fit a small
    // stack unboxed, and their nested types would overflow the compiler's layout depth.
    let (
        (changed_companies, changed_agreements, agreements_ours),
        (swept, existing, tenants, sweep_failures),
        (tenants_changed, changed_tenants, feeds, feed_failures),
        (with_active_agreement, mapped),
        jobs,
    ) = tokio::try_join!(
        changed_in_cw.boxed(),
        sweep.boxed(),
        changed_in_acronis.boxed(),
        unmapped_sweep.boxed(),
        Box::pin(async { Ok(jobs.await?) }),
    )?;
    // Every connection failing is the whole cycle failing, as with one connection: nothing
    // is sent and every cursor stays.
    for failures in [&sweep_failures, &feed_failures] {
        if !failures.is_empty() && failures.len() >= clients.len() {
            let reasons: Vec<String> = failures
                .iter()
                .map(|f| format!("{}: {}", f.subject, f.reason))
                .collect();
            anyhow::bail!("{}", reasons.join("; "));
        }
    }
    let mut failed_connections: Vec<String> = sweep_failures
        .iter()
        .chain(&feed_failures)
        .filter_map(|f| f.subject.strip_prefix("connection ").map(str::to_owned))
        .collect();
    failed_connections.sort();
    failed_connections.dedup();
    let sweep_complete = sweep_failures.is_empty();
    run.failures.extend(sweep_failures);
    run.failures.extend(feed_failures);
    if cursor.is_some() {
        run.count("tenants_changed", tenants_changed as u64);
        run.count("agreements_changed_by_usage_push", agreements_ours as u64);
    }
    let facts = ReconcileFacts {
        started,
        first_run: cursor.is_none(),
        changed_companies,
        changed_agreements,
        swept_at,
        swept,
        existing,
        tenants,
        changed_tenants,
        changes_due,
        with_active_agreement,
        mapped,
        clocks,
        deferred,
        jobs,
    };
    let candidates = rules::candidates(&facts);
    run.count("candidates", candidates.len() as u64);
    Ok(ReconcilePlan {
        started,
        resumed: rules::resumed(&facts),
        candidates,
        cursor,
        swept: facts.swept_at,
        // A slice a connection could not sweep is swept again next cycle.
        advance_sweep: sweep_complete,
        feeds,
        failed_connections,
    })
}

/// The companies ConnectWise changed since `since`, the companies of agreements someone
/// else changed, and how many agreements only our own usage writes changed; on a first run
/// (no `since`), every company with an active agreement.
async fn changed_in_connectwise(
    cw: &ConnectWiseClient,
    store: &Store,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<(Vec<i64>, Vec<i64>, usize)> {
    let Some(since) = since else {
        return Ok((
            companies_with_agreements(cw, Conditions::new().eq("agreementStatus", "Active"))
                .await?,
            Vec::new(),
            0,
        ));
    };
    let changed = ListQuery {
        fields: Some("id".into()),
        ..ListQuery::conditions(Conditions::new().gt("lastUpdated", since))
    };
    let agreements = ListQuery {
        fields: Some("id,company,_info".into()),
        ..ListQuery::conditions(Conditions::new().gt("lastUpdated", since))
    };
    let (companies, agreements, products) = tokio::try_join!(
        async { anyhow::Ok(cw.companies(&changed).await?) },
        async { anyhow::Ok(cw.agreements(&agreements).await?) },
        async { anyhow::Ok(store.product_mappings().await?) },
    )?;
    // The records of the usage push say which changes were its own writes.
    let ids: Vec<i64> = agreements.iter().map(|a| a.id).collect();
    let products: Vec<i64> = products.iter().filter_map(|m| m.product_id).collect();
    let records = if ids.is_empty() || products.is_empty() {
        Vec::new()
    } else {
        store.additions_of_agreements(&ids, &products).await?
    };
    let (by_others, ours) = rules::changed_by_others(&agreements, &records);
    Ok((companies.iter().map(|c| c.id).collect(), by_others, ours))
}

/// The daily sweep's due slice: its mappings, which of their companies still exist, and
/// their tenants (checked whole, each in its own connection). The mappings of a connection
/// that cannot be read are left out of this slice (recorded): a tenant not read is not a
/// tenant gone.
async fn sweep_slice(
    cw: &ConnectWiseClient,
    clients: &BTreeMap<ConnectionName, AcronisClient>,
    store: &Store,
    due_slots: &[i64],
) -> anyhow::Result<(
    Vec<CompanyMapping>,
    BTreeSet<i64>,
    Vec<Tenant>,
    Vec<Failure>,
)> {
    let mut swept = store.mappings_in_slots(due_slots).await?;
    if swept.is_empty() {
        return Ok((swept, BTreeSet::new(), Vec::new(), Vec::new()));
    }
    let ids: Vec<i64> = swept.iter().map(|m| m.company_id).collect();
    let existing = futures::future::try_join_all(ids.chunks(100).map(|chunk| {
        let q = ListQuery {
            fields: Some("id".into()),
            ..ListQuery::conditions(Conditions::new().is_in("id", chunk.iter().copied()))
        };
        async move { anyhow::Ok(cw.companies(&q).await?) }
    }));
    let mut by_connection: BTreeMap<ConnectionName, Vec<String>> = BTreeMap::new();
    for m in &swept {
        by_connection
            .entry(m.connection.clone())
            .or_default()
            .push(m.tenant_id.clone());
    }
    let reads =
        futures::future::join_all(by_connection.into_iter().map(|(name, ids)| async move {
            let read = match clients.get(&name) {
                Some(client) => client.tenants_by_ids(&ids).await.map_err(|e| e.to_string()),
                None => Err("the secret has no such connection".to_owned()),
            };
            (name, read)
        }));
    let (existing, reads) = tokio::try_join!(existing, async { anyhow::Ok(reads.await) })?;
    let mut tenants = Vec::new();
    let mut failures = Vec::new();
    for (name, read) in reads {
        match read {
            Ok(t) => tenants.extend(t),
            Err(reason) => {
                swept.retain(|m| m.connection != name);
                failures.push(Failure {
                    subject: format!("connection {name}"),
                    reason: format!("the daily sweep's tenants not read: {reason}"),
                    transient: true,
                });
            }
        }
    }
    let existing: BTreeSet<i64> = existing.into_iter().flatten().map(|c| c.id).collect();
    Ok((swept, existing, tenants, failures))
}

/// With auto-provisioning on, once a day: the companies with an active agreement (one
/// id-only listing) and the mapped ones, to find unmapped companies that qualify.
async fn unmapped_sweep(
    cw: &ConnectWiseClient,
    store: &Store,
) -> anyhow::Result<(Vec<i64>, BTreeSet<i64>)> {
    let (active, mapped) = tokio::try_join!(
        async {
            anyhow::Ok(
                companies_with_agreements(cw, Conditions::new().eq("agreementStatus", "Active"))
                    .await?,
            )
        },
        async { anyhow::Ok(store.mappings().await?) },
    )?;
    Ok((active, mapped.iter().map(|m| m.company_id).collect()))
}

/// The companies of the agreements `conditions` select (one id-only listing).
async fn companies_with_agreements(
    cw: &ConnectWiseClient,
    conditions: Conditions,
) -> Result<Vec<i64>, crate::connectwise::CwError> {
    let q = ListQuery {
        fields: Some("id,company".into()),
        ..ListQuery::conditions(conditions)
    };
    Ok(cw
        .agreements(&q)
        .await?
        .into_iter()
        .filter_map(|a| a.company.map(|c| c.id))
        .collect())
}

/// Sends the plan's events; moves the cursors only when every one is on the bus.
pub async fn apply(
    plan: ReconcilePlan,
    store: &impl ReconcileStore,
    bus: &impl EventSink,
    run: &mut RunRecord,
) -> anyhow::Result<ReconcileReport> {
    let mut report = ReconcileReport {
        candidates: plan.reasons(),
        ..ReconcileReport::default()
    };
    let events: Vec<Event> = plan
        .candidates
        .iter()
        .map(|(id, c)| {
            Event::Company(CompanyChanged {
                version: VERSION,
                company_id: *id,
                action: c.action,
                origin: Origin::Reconciler {
                    run_id: run.run_id.clone(),
                },
                observed_at: plan.started,
            })
        })
        .collect();
    let published = bus.publish_events(&events).await;
    report.published = published.published;
    report.failed = published.failed.len();
    for f in &published.failed {
        run.failures.push(Failure {
            subject: format!(
                "event {}",
                events
                    .get(f.index)
                    .map(|e| e.detail_type())
                    .unwrap_or_default()
            ),
            reason: format!("{}: {}", f.code, f.message),
            transient: true,
        });
    }
    run.count("published", report.published as u64);
    if published.all_published() {
        store
            .advance_cursor(CURSOR, plan.cursor.as_ref(), &plan.started)
            .await?;
        if plan.advance_sweep {
            store
                .advance_cursor(SWEEP_CURSOR, plan.swept.as_ref(), &plan.started)
                .await?;
        }
        for (name, read, next) in &plan.feeds {
            store.advance_cursor(name, read.as_ref(), next).await?;
        }
        report.cursor_advanced = true;
        // Sent again: the provisioner has them (and defers them again if paused anew).
        for id in &plan.resumed {
            store.clear_deferred(*id).await?;
        }
    }
    Ok(report)
}

//! The reconciler: callbacks are hints and can be lost, so every cycle this finds the
//! companies whose state may have changed and puts the same events on the bus that a
//! callback would have (the provisioner decides from current data either way).
//!
//! A cycle costs what changed, not what exists. Candidates:
//! - companies and agreements changed since the cursor (`lastUpdated`, with an overlap);
//!   on the first run, every company with an agreement in force;
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

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::acronis::AcronisClient;
use crate::bus::{CompanyChanged, Event, EventBus, Origin, VERSION};
use crate::connectwise::{Conditions, ConnectWiseClient, ListQuery};
use crate::domain::calendar;
use crate::domain::reconcile::{self as rules, Candidate, ReconcileFacts};
use crate::domain::settings::ProvisioningSettings;
use crate::store::{Failure, RunRecord, Store};

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
}

/// Runs one cycle (with `dry_run`, finds the candidates but sends nothing).
pub async fn reconcile(
    cw: &ConnectWiseClient,
    acronis: &AcronisClient,
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
            candidates: plan
                .candidates
                .iter()
                .map(|(id, c)| (*id, c.reason))
                .collect(),
            ..ReconcileReport::default()
        });
    }
    apply(plan, store, bus, run).await
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
    acronis: &AcronisClient,
    store: &Store,
    run: &mut RunRecord,
) -> anyhow::Result<ReconcilePlan> {
    let started = crate::clock::now();
    let cursor: Option<DateTime<Utc>> = store.cursor(CURSOR).await?;
    let mut facts = ReconcileFacts {
        started,
        first_run: cursor.is_none(),
        ..ReconcileFacts::default()
    };
    match cursor {
        Some(since) => {
            let since = since - Duration::minutes(OVERLAP_MINUTES);
            let changed = ListQuery {
                fields: Some("id".into()),
                ..ListQuery::conditions(Conditions::new().gt("lastUpdated", since))
            };
            facts.changed_companies = cw.companies(&changed).await?.iter().map(|c| c.id).collect();
            facts.changed_agreements =
                companies_with_agreements(cw, Conditions::new().gt("lastUpdated", since)).await?;
        }
        None => {
            facts.changed_companies =
                companies_with_agreements(cw, Conditions::new().eq("agreementStatus", "Active"))
                    .await?;
        }
    }
    // The daily sweep's due slice: its companies and tenants checked whole.
    facts.swept_at = store.cursor(SWEEP_CURSOR).await?;
    let due_slots = calendar::sweep_slots(facts.swept_at, started);
    facts.swept = store.mappings_in_slots(&due_slots).await?;
    if !facts.swept.is_empty() {
        let ids: Vec<i64> = facts.swept.iter().map(|m| m.company_id).collect();
        for chunk in ids.chunks(100) {
            let q = ListQuery {
                fields: Some("id".into()),
                ..ListQuery::conditions(Conditions::new().is_in("id", chunk.iter().copied()))
            };
            facts
                .existing
                .extend(cw.companies(&q).await?.into_iter().map(|c| c.id));
        }
        let tenant_ids: Vec<String> = facts.swept.iter().map(|m| m.tenant_id.clone()).collect();
        facts.tenants = acronis.tenants_by_ids(&tenant_ids).await?;
    }
    // Tenants Acronis reports changed (deleted ones included), and their mappings.
    if let Some(since) = cursor {
        let partner = acronis.partner_tenant_id().await?;
        let changed = acronis
            .child_tenants_changed(&partner, since - Duration::minutes(OVERLAP_MINUTES))
            .await?;
        run.count("tenants_changed", changed.len() as u64);
        if !changed.is_empty() {
            let ids: Vec<String> = changed.iter().map(|t| t.id.clone()).collect();
            let mappings = store.mappings_of_tenants(&ids).await?;
            facts.changed_tenants = changed
                .into_iter()
                .filter_map(|t| {
                    let m = mappings.iter().find(|m| m.tenant_id == t.id)?;
                    Some((m.clone(), t))
                })
                .collect();
        }
    }
    facts.changes_due = store.changes_due(started.date_naive()).await?;
    // With auto-provisioning on, once a day: unmapped companies that qualify (one id-only
    // listing of the active agreements; a first run has listed them already).
    let settings: ProvisioningSettings = store.section().await?;
    if settings.auto_provisioning && !facts.first_run && rules::sweeps_unmapped(&due_slots) {
        facts.with_active_agreement =
            companies_with_agreements(cw, Conditions::new().eq("agreementStatus", "Active"))
                .await?;
        facts.mapped = store
            .mappings()
            .await?
            .iter()
            .map(|m| m.company_id)
            .collect();
    }
    facts.clocks = store.deprovision_clocks().await?;
    facts.deferred = store.deferred().await?;
    if !facts.deferred.is_empty() {
        facts.jobs = store.section().await?;
    }
    let candidates = rules::candidates(&facts);
    run.count("candidates", candidates.len() as u64);
    Ok(ReconcilePlan {
        started,
        resumed: rules::resumed(&facts),
        candidates,
        cursor,
        swept: facts.swept_at,
    })
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
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
) -> anyhow::Result<ReconcileReport> {
    let mut report = ReconcileReport {
        candidates: plan
            .candidates
            .iter()
            .map(|(id, c)| (*id, c.reason))
            .collect(),
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
    let published = bus.publish(&events).await;
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
        store
            .advance_cursor(SWEEP_CURSOR, plan.swept.as_ref(), &plan.started)
            .await?;
        report.cursor_advanced = true;
        // Sent again: the provisioner has them (and defers them again if paused anew).
        for id in &plan.resumed {
            store.clear_deferred(*id).await?;
        }
    }
    Ok(report)
}

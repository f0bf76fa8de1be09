//! The reconciler: callbacks are hints and can be lost, so every cycle this finds the
//! companies whose state may have changed and puts the same events on the bus that a
//! callback would have (the provisioner decides from current data either way).
//!
//! Candidates:
//! - companies and agreements changed since the cursor (`lastUpdated`, with an overlap);
//!   on the first run, every company with an agreement in force;
//! - mapped companies whose state disagrees: deleted in ConnectWise (absent from an id-only
//!   listing), or whose tenant is gone or disabled in Acronis;
//! - companies whose next deprovisioning step has reached its day (no edit marks that day);
//! - companies on the day their agreements change them by themselves (an agreement starts or
//!   ends, an addition takes effect or is cancelled: the provisioner keeps that day);
//! - the daily sweep: this cycle's slices of the mapped companies (each one once a day,
//!   [`calendar::sweep_slots`]), so that nothing depends on callbacks or `lastUpdated` alone
//!   (ConnectWise may change an addition without touching its agreement).
//!
//! The cursor advances to the cycle's start only when every event is on the bus.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::acronis::AcronisClient;
use crate::bus::{Action, CompanyChanged, Event, EventBus, Origin, VERSION};
use crate::connectwise::{Conditions, ConnectWiseClient, ListQuery};
use crate::domain::calendar;
use crate::store::{Failure, RunRecord, Store};

pub const CURSOR: &str = "reconciler";
/// When the daily sweep last ran.
pub const SWEEP_CURSOR: &str = "reconciler-sweep";
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

/// Runs one cycle (with `dry_run`, finds the candidates but sends nothing).
pub async fn reconcile(
    cw: &ConnectWiseClient,
    acronis: &AcronisClient,
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
    dry_run: bool,
) -> anyhow::Result<ReconcileReport> {
    let started = Utc::now();
    let cursor: Option<DateTime<Utc>> = store.cursor(CURSOR).await?;
    let mut report = ReconcileReport::default();

    match cursor {
        Some(since) => {
            let since = since - Duration::minutes(OVERLAP_MINUTES);
            let changed = ListQuery {
                fields: Some("id".into()),
                ..ListQuery::conditions(Conditions::new().gt("lastUpdated", since))
            };
            for c in cw.companies(&changed).await? {
                report.candidates.entry(c.id).or_insert("company changed");
            }
            let changed = ListQuery {
                fields: Some("id,company".into()),
                ..ListQuery::conditions(Conditions::new().gt("lastUpdated", since))
            };
            for a in cw.agreements(&changed).await? {
                if let Some(c) = a.company {
                    report.candidates.entry(c.id).or_insert("agreement changed");
                }
            }
        }
        None => {
            let active = ListQuery {
                fields: Some("id,company".into()),
                ..ListQuery::conditions(Conditions::new().eq("agreementStatus", "Active"))
            };
            for a in cw.agreements(&active).await? {
                if let Some(c) = a.company {
                    report
                        .candidates
                        .entry(c.id)
                        .or_insert("first run: agreement in force");
                }
            }
        }
    }

    // Mapped companies whose state disagrees.
    let mappings = store.mappings().await?;
    let mut deleted = BTreeSet::new();
    if !mappings.is_empty() {
        let ids: Vec<i64> = mappings.iter().map(|m| m.company_id).collect();
        let mut existing = BTreeSet::new();
        for chunk in ids.chunks(100) {
            let q = ListQuery {
                fields: Some("id".into()),
                ..ListQuery::conditions(Conditions::new().is_in("id", chunk.iter().copied()))
            };
            existing.extend(cw.companies(&q).await?.into_iter().map(|c| c.id));
        }
        for id in ids.iter().filter(|id| !existing.contains(id)) {
            deleted.insert(*id);
            report
                .candidates
                .insert(*id, "mapped company deleted in ConnectWise");
        }
        let tenant_ids: Vec<String> = mappings.iter().map(|m| m.tenant_id.clone()).collect();
        let tenants = acronis.tenants_by_ids(&tenant_ids).await?;
        for m in &mappings {
            match tenants.iter().find(|t| t.id == m.tenant_id) {
                None => {
                    report
                        .candidates
                        .entry(m.company_id)
                        .or_insert("mapped tenant gone in Acronis");
                }
                Some(t) if t.enabled == Some(false) => {
                    report
                        .candidates
                        .entry(m.company_id)
                        .or_insert("mapped tenant disabled");
                }
                Some(_) => {}
            }
        }
    }

    // The days that change companies by themselves.
    for due in store.changes_due(started.date_naive()).await? {
        report
            .candidates
            .entry(due.company_id)
            .or_insert("a date in its agreements came");
    }

    // The daily sweep: this cycle's slices of the mapped companies.
    let swept: Option<DateTime<Utc>> = store.cursor(SWEEP_CURSOR).await?;
    let slots = calendar::sweep_slots(swept, started);
    for m in &mappings {
        if slots.contains(&calendar::sweep_slot(m.company_id)) {
            report
                .candidates
                .entry(m.company_id)
                .or_insert("daily re-derive");
        }
    }

    // A grace period that ended: its step runs now, though nothing was edited.
    for clock in store.deprovision_clocks().await? {
        if clock.pending.first().is_some_and(|p| p.on <= started) {
            report
                .candidates
                .entry(clock.company_id)
                .or_insert("deprovisioning step due");
        }
    }

    run.count("candidates", report.candidates.len() as u64);
    if dry_run {
        return Ok(report);
    }
    let events: Vec<Event> = report
        .candidates
        .keys()
        .map(|id| {
            Event::Company(CompanyChanged {
                version: VERSION,
                company_id: *id,
                action: if deleted.contains(id) {
                    Action::Deleted
                } else {
                    Action::Updated
                },
                origin: Origin::Reconciler {
                    run_id: run.run_id.clone(),
                },
                observed_at: started,
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
            .advance_cursor(CURSOR, cursor.as_ref(), &started)
            .await?;
        store
            .advance_cursor(SWEEP_CURSOR, swept.as_ref(), &started)
            .await?;
        report.cursor_advanced = true;
    }
    Ok(report)
}

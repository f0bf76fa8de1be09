//! The reconciler's decision, pure: from what one cycle read to the companies to re-derive,
//! why, and as what event (see `services::reconcile` for the reads).
//!
//! A cycle costs what changed, not what exists: it reads what ConnectWise and Acronis report
//! changed since its cursor, plus one slot of the daily sweep (1/96 of the mapped companies,
//! checked whole). A company is picked once, for the first reason in this order: changed
//! since the cursor (or, on the first run, with an agreement in force); in the sweep's slice
//! but deleted in ConnectWise (sent as `deleted`); its tenant reported deleted or disabled
//! since the cursor, or found so by the sweep; a date in its agreements came; its slice of the
//! daily sweep; once a day, with auto-provisioning on, unmapped with an active agreement;
//! deferred while its job was paused, once the job runs again; a deprovisioning step due.
//! A deleted company's event says `deleted` whatever picked it first.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::acronis::models::Tenant;
use crate::bus::Action;

use crate::connectwise::models::Agreement;
use crate::domain::jobs::JobSettings;
use crate::domain::records::{
    AdditionRecord, CompanyMapping, Deferred, DeprovisionClock, NextChange,
};
use crate::domain::usage_records;

/// The sweep's slot in whose cycle unmapped companies are swept (one listing a day).
pub const UNMAPPED_SWEEP_SLOT: i64 = 0;

/// The companies of the agreements changed since the cursor that someone else changed,
/// and how many agreements were changed only by the usage push's own writes (their records
/// in `records` say so, [`usage_records::changed_since_our_write`]). Those are no
/// candidates: at 10,000 companies a steady cycle's writes would otherwise re-derive
/// hundreds of unchanged companies every cycle. An edit that our write followed within the
/// same cycle reaches the provisioner by its callback, or else by the daily sweep, which
/// checks every company whatever `lastUpdated` says.
pub fn changed_by_others(changed: &[Agreement], records: &[AdditionRecord]) -> (Vec<i64>, usize) {
    let mut by_agreement: BTreeMap<i64, Vec<AdditionRecord>> = BTreeMap::new();
    for r in records {
        by_agreement
            .entry(r.agreement_id)
            .or_default()
            .push(r.clone());
    }
    let mut ours = 0;
    let mut companies = Vec::new();
    for a in changed {
        let by_us = by_agreement
            .get(&a.id)
            .is_some_and(|rs| !usage_records::changed_since_our_write(a, rs));
        match a.company.as_ref() {
            _ if by_us => ours += 1,
            Some(c) => companies.push(c.id),
            None => {}
        }
    }
    (companies, ours)
}

/// What one cycle read.
#[derive(Debug, Clone, Default)]
pub struct ReconcileFacts {
    /// The cycle's start (the sweep's slots and due steps are measured against it).
    pub started: DateTime<Utc>,
    /// Whether a cursor existed (else this is the first run).
    pub first_run: bool,
    /// Companies changed since the cursor (or, on the first run, with an agreement in force).
    pub changed_companies: Vec<i64>,
    /// Companies whose agreements changed since the cursor.
    pub changed_agreements: Vec<i64>,
    /// The mappings of the sweep's due slots.
    pub swept: Vec<CompanyMapping>,
    /// Of the swept companies, those ConnectWise still lists.
    pub existing: BTreeSet<i64>,
    /// The swept companies' tenants Acronis returned.
    pub tenants: Vec<Tenant>,
    /// Mapped tenants Acronis reports changed since the cursor, with their mappings.
    pub changed_tenants: Vec<(CompanyMapping, Tenant)>,
    pub changes_due: Vec<NextChange>,
    /// When the daily sweep last ran.
    pub swept_at: Option<DateTime<Utc>>,
    pub clocks: Vec<DeprovisionClock>,
    /// With auto-provisioning on, in the cycle that sweeps [`UNMAPPED_SWEEP_SLOT`]: the
    /// companies with an active agreement, so that an unmapped company that qualifies
    /// without any callback or edit is provisioned within a day.
    pub with_active_agreement: Vec<i64>,
    /// Every mapped company, read in that same cycle only.
    pub mapped: BTreeSet<i64>,
    /// Companies deferred while their job was paused, and which jobs are paused now.
    pub deferred: Vec<Deferred>,
    pub jobs: JobSettings,
}

/// One company to re-derive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub reason: &'static str,
    /// The event's action: `deleted` for a mapped company gone from ConnectWise.
    pub action: Action,
}

/// Why a mapped tenant needs its company re-derived, if it does.
fn tenant_reason(t: Option<&Tenant>) -> Option<&'static str> {
    match t {
        None => Some("mapped tenant gone in Acronis"),
        Some(t) if t.deleted_at.is_some() => Some("mapped tenant gone in Acronis"),
        Some(t) if !t.enabled => Some("mapped tenant disabled"),
        Some(_) => None,
    }
}

/// The deferred companies whose job runs again.
pub fn resumed(f: &ReconcileFacts) -> Vec<i64> {
    f.deferred
        .iter()
        .filter(|d| !f.jobs.is_paused(d.job))
        .map(|d| d.company_id)
        .collect()
}

/// Whether this cycle reads the active agreements for the unmapped sweep.
pub fn sweeps_unmapped(slots: &[i64]) -> bool {
    slots.contains(&UNMAPPED_SWEEP_SLOT)
}

/// The cycle's plan: every company to send, by id.
pub fn candidates(f: &ReconcileFacts) -> BTreeMap<i64, Candidate> {
    let mut out: BTreeMap<i64, &'static str> = BTreeMap::new();
    let first_reason = if f.first_run {
        "first run: agreement in force"
    } else {
        "company changed"
    };
    for id in &f.changed_companies {
        out.entry(*id).or_insert(first_reason);
    }
    for id in &f.changed_agreements {
        out.entry(*id).or_insert("agreement changed");
    }
    let deleted: BTreeSet<i64> = f
        .swept
        .iter()
        .map(|m| m.company_id)
        .filter(|id| !f.existing.contains(id))
        .collect();
    for id in &deleted {
        out.insert(*id, "mapped company deleted in ConnectWise");
    }
    for (m, t) in &f.changed_tenants {
        if t.id == m.tenant_id
            && let Some(reason) = tenant_reason(Some(t))
        {
            out.entry(m.company_id).or_insert(reason);
        }
    }
    for m in &f.swept {
        if let Some(reason) = tenant_reason(f.tenants.iter().find(|t| t.id == m.tenant_id)) {
            out.entry(m.company_id).or_insert(reason);
        }
    }
    for due in &f.changes_due {
        out.entry(due.company_id)
            .or_insert("a date in its agreements came");
    }
    for m in &f.swept {
        out.entry(m.company_id).or_insert("daily re-derive");
    }
    for id in &f.with_active_agreement {
        if !f.mapped.contains(id) {
            out.entry(*id)
                .or_insert("daily re-derive (unmapped, auto-provisioning)");
        }
    }
    for id in resumed(f) {
        out.entry(id).or_insert("deferred while its job was paused");
    }
    for clock in &f.clocks {
        if clock.pending.first().is_some_and(|p| p.on <= f.started) {
            out.entry(clock.company_id)
                .or_insert("deprovisioning step due");
        }
    }
    out.into_iter()
        .map(|(id, reason)| {
            let action = if deleted.contains(&id) {
                Action::Deleted
            } else {
                Action::Updated
            };
            (id, Candidate { reason, action })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::MappingOrigin;
    use serde_json::json;

    fn mapping(company: i64, tenant: &str) -> CompanyMapping {
        CompanyMapping {
            connection: Default::default(),
            unknown: Default::default(),
            company_id: company,
            tenant_id: tenant.into(),
            company_name: None,
            tenant_name: None,
            origin: MappingOrigin::Manual,
            mapped_at: Utc::now(),
            qualified_at: None,
            setup_pending: false,
        }
    }

    fn tenant(id: &str, enabled: bool) -> Tenant {
        serde_json::from_value(
            json!({"id": id, "version": 1, "name": id, "kind": "customer", "parent_id": "p",
                   "enabled": enabled, "internal_tag": null}),
        )
        .unwrap()
    }

    #[test]
    fn an_agreement_last_changed_by_our_own_usage_write_is_no_candidate() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let agreement = |id: i64, company: i64, updated: &str| -> Agreement {
            serde_json::from_value(json!({"id": id, "company": {"id": company},
                "_info": {"lastUpdated": updated}}))
            .unwrap()
        };
        let record = |agreement: i64, read: &str| AdditionRecord {
            agreement_id: agreement,
            product_id: 1,
            company_id: 0,
            addition_id: 1,
            last_pushed_quantity: Some(1.0),
            agreement_last_updated: Some(at(read)),
            in_force_from: None,
            in_force_until: None,
            missing_since: None,
            updated_at: at(read),
            unknown: Default::default(),
        };
        let changed = [
            // Our PATCH's own answer: the same second, or within SELF_TOUCH of it.
            agreement(1, 10, "2026-12-07T12:00:01Z"),
            // Someone edited it after our write.
            agreement(2, 20, "2026-12-07T12:00:30Z"),
            // Nothing recorded (prepaid, or never read): someone else's.
            agreement(3, 30, "2026-12-07T12:00:00Z"),
        ];
        let mut without_date = agreement(4, 40, "2026-12-07T12:00:00Z");
        without_date.info = None;
        let records = [
            record(1, "2026-12-07T12:00:00Z"),
            record(2, "2026-12-07T12:00:00Z"),
            record(4, "2026-12-07T12:00:00Z"),
        ];
        let mut all = changed.to_vec();
        all.push(without_date);
        assert_eq!(changed_by_others(&all, &records), (vec![20, 30, 40], 1));
    }

    #[test]
    fn each_company_once_for_its_first_reason_and_deleted_ones_as_deleted() {
        let started = Utc::now();
        let mut gone = tenant("t6", true);
        gone.deleted_at = Some("2026-11-29T10:00:00Z".into());
        let f = ReconcileFacts {
            started,
            first_run: false,
            changed_companies: vec![1],
            changed_agreements: vec![1, 2],
            swept: vec![
                mapping(1, "t1"),
                mapping(3, "t3"),
                mapping(4, "t4"),
                mapping(5, "t5"),
            ],
            existing: [1, 4, 5].into(),
            tenants: vec![tenant("t1", true), tenant("t3", true), tenant("t4", false)],
            changed_tenants: vec![
                (mapping(6, "t6"), gone),
                (mapping(7, "t7"), tenant("t7", false)),
                (mapping(8, "t8"), tenant("t8", true)),
            ],
            ..ReconcileFacts::default()
        };
        let c = candidates(&f);
        let reasons: Vec<(i64, &str, Action)> =
            c.iter().map(|(id, c)| (*id, c.reason, c.action)).collect();
        assert_eq!(
            reasons,
            vec![
                (1, "company changed", Action::Updated),
                (2, "agreement changed", Action::Updated),
                (3, "mapped company deleted in ConnectWise", Action::Deleted),
                (4, "mapped tenant disabled", Action::Updated),
                (5, "mapped tenant gone in Acronis", Action::Updated),
                (6, "mapped tenant gone in Acronis", Action::Updated),
                (7, "mapped tenant disabled", Action::Updated),
            ]
        );
    }

    #[test]
    fn the_swept_slice_is_re_derived_and_nothing_else_unchanged() {
        let started = Utc::now();
        let f = ReconcileFacts {
            started,
            first_run: true,
            changed_companies: vec![7],
            swept: vec![mapping(8, "t8")],
            existing: [8].into(),
            tenants: vec![tenant("t8", true)],
            ..ReconcileFacts::default()
        };
        let c = candidates(&f);
        assert_eq!(c[&7].reason, "first run: agreement in force");
        assert_eq!(c[&8].reason, "daily re-derive");
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn unmapped_companies_with_an_active_agreement_are_swept_once_a_day() {
        let f = ReconcileFacts {
            started: Utc::now(),
            with_active_agreement: vec![10, 11, 12],
            mapped: [11].into(),
            ..ReconcileFacts::default()
        };
        let c = candidates(&f);
        let ids: Vec<i64> = c.keys().copied().collect();
        assert_eq!(ids, vec![10, 12]);
        assert_eq!(
            c[&10].reason,
            "daily re-derive (unmapped, auto-provisioning)"
        );
        assert!(sweeps_unmapped(&[0, 1]));
        assert!(!sweeps_unmapped(&[1, 2]));
    }
}

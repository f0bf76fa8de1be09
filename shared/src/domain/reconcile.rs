//! The reconciler's decision, pure: from what one cycle read to the companies to re-derive,
//! why, and as what event (see [`crate::services::reconcile`] for the reads).
//!
//! A company is picked once, for the first reason in this order: changed since the cursor
//! (or, on the first run, with an agreement in force); mapped but deleted in ConnectWise
//! (sent as `deleted`); its tenant gone or disabled; a date in its agreements came; its
//! slice of the daily sweep (mapped companies, and with auto-provisioning on, unmapped
//! companies with an active agreement); a deprovisioning step due. A deleted company's event says
//! `deleted` whatever picked it first.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::acronis::models::Tenant;
use crate::bus::Action;
use crate::domain::calendar;
use crate::store::{CompanyMapping, DeprovisionClock, NextChange};

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
    pub mappings: Vec<CompanyMapping>,
    /// Of the mapped companies, those ConnectWise still lists.
    pub existing: BTreeSet<i64>,
    /// The mapped tenants Acronis returned.
    pub tenants: Vec<Tenant>,
    pub changes_due: Vec<NextChange>,
    /// When the daily sweep last ran.
    pub swept_at: Option<DateTime<Utc>>,
    pub clocks: Vec<DeprovisionClock>,
    /// With auto-provisioning on: the companies with an active agreement (read only when
    /// a sweep slot is due), so that an unmapped company that qualifies without any
    /// callback or edit is provisioned within a day.
    pub with_active_agreement: Vec<i64>,
}

/// One company to re-derive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub reason: &'static str,
    /// The event's action: `deleted` for a mapped company gone from ConnectWise.
    pub action: Action,
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
        .mappings
        .iter()
        .map(|m| m.company_id)
        .filter(|id| !f.existing.contains(id))
        .collect();
    for id in &deleted {
        out.insert(*id, "mapped company deleted in ConnectWise");
    }
    for m in &f.mappings {
        match f.tenants.iter().find(|t| t.id == m.tenant_id) {
            None => {
                out.entry(m.company_id)
                    .or_insert("mapped tenant gone in Acronis");
            }
            Some(t) if t.enabled == Some(false) => {
                out.entry(m.company_id).or_insert("mapped tenant disabled");
            }
            Some(_) => {}
        }
    }
    for due in &f.changes_due {
        out.entry(due.company_id)
            .or_insert("a date in its agreements came");
    }
    let slots = calendar::sweep_slots(f.swept_at, f.started);
    for m in &f.mappings {
        if slots.contains(&calendar::sweep_slot(m.company_id)) {
            out.entry(m.company_id).or_insert("daily re-derive");
        }
    }
    let mapped: BTreeSet<i64> = f.mappings.iter().map(|m| m.company_id).collect();
    for id in &f.with_active_agreement {
        if !mapped.contains(id) && slots.contains(&calendar::sweep_slot(*id)) {
            out.entry(*id)
                .or_insert("daily re-derive (unmapped, auto-provisioning)");
        }
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
    use crate::store::MappingOrigin;
    use serde_json::json;

    fn mapping(company: i64, tenant: &str) -> CompanyMapping {
        CompanyMapping {
            company_id: company,
            tenant_id: tenant.into(),
            company_name: None,
            tenant_name: None,
            origin: MappingOrigin::Manual,
            mapped_at: Utc::now(),
            qualified_at: None,
        }
    }

    fn tenant(id: &str, enabled: bool) -> Tenant {
        serde_json::from_value(
            json!({"id": id, "name": id, "kind": "customer", "enabled": enabled}),
        )
        .unwrap()
    }

    #[test]
    fn each_company_once_for_its_first_reason_and_deleted_ones_as_deleted() {
        let started = Utc::now();
        let f = ReconcileFacts {
            started,
            first_run: false,
            changed_companies: vec![1],
            changed_agreements: vec![1, 2],
            mappings: vec![
                mapping(1, "t1"),
                mapping(3, "t3"),
                mapping(4, "t4"),
                mapping(5, "t5"),
            ],
            existing: [1, 4, 5].into(),
            tenants: vec![tenant("t1", true), tenant("t3", true), tenant("t4", false)],
            // The sweep ran just now: no slice is due.
            swept_at: Some(started),
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
            ]
        );
    }

    #[test]
    fn a_sweep_a_day_after_the_last_covers_every_mapped_company() {
        let started = Utc::now();
        let f = ReconcileFacts {
            started,
            first_run: true,
            changed_companies: vec![7],
            mappings: vec![mapping(8, "t8")],
            existing: [8].into(),
            tenants: vec![tenant("t8", true)],
            swept_at: Some(started - chrono::Duration::days(1)),
            ..ReconcileFacts::default()
        };
        let c = candidates(&f);
        assert_eq!(c[&7].reason, "first run: agreement in force");
        assert_eq!(c[&8].reason, "daily re-derive");
    }

    #[test]
    fn unmapped_companies_with_an_active_agreement_are_swept_in_their_slot() {
        let started = Utc::now();
        let slot_now = calendar::sweep_slots(None, started)[0];
        let in_slot = 96 * 5 + slot_now;
        let other = 96 * 5 + (slot_now + 1) % 96;
        let f = ReconcileFacts {
            started,
            mappings: vec![mapping(in_slot + 96, "t")],
            existing: [in_slot + 96].into(),
            tenants: vec![tenant("t", true)],
            with_active_agreement: vec![in_slot, other, in_slot + 96],
            ..ReconcileFacts::default()
        };
        let c = candidates(&f);
        assert_eq!(
            c[&in_slot].reason,
            "daily re-derive (unmapped, auto-provisioning)"
        );
        assert!(!c.contains_key(&other), "not its slot: {c:?}");
        assert_eq!(
            c[&(in_slot + 96)].reason,
            "daily re-derive",
            "mapped: {c:?}"
        );
    }
}

//! A fake of the bus ([`crate::bus::EventSink`]) and of the reconciler's cursors
//! ([`crate::services::reconcile::ReconcileStore`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::bus::{Event, EventSink, FailedEntry, PublishReport};
use crate::services::reconcile::ReconcileStore;
use crate::store::StoreError;

#[derive(Debug, Default)]
struct Bus {
    events: Vec<Event>,
    /// Company ids whose events the bus refuses.
    refused: BTreeSet<i64>,
}

/// The events put on the bus, in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeBus(Arc<Mutex<Bus>>);

impl FakeBus {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().events.clone()
    }

    /// From now on, `company_id`'s events are refused (as EventBridge refuses an entry).
    pub fn refuse_company(&self, company_id: i64) {
        self.0.lock().unwrap().refused.insert(company_id);
    }
}

impl EventSink for FakeBus {
    async fn publish_events(&self, events: &[Event]) -> PublishReport {
        let mut s = self.0.lock().unwrap();
        let mut report = PublishReport::default();
        for (index, e) in events.iter().enumerate() {
            let refused = matches!(e, Event::Company(c) if s.refused.contains(&c.company_id));
            if refused {
                report.failed.push(FailedEntry {
                    index,
                    detail_type: e.detail_type(),
                    code: "InternalFailure".into(),
                    message: "refused".into(),
                });
            } else {
                s.events.push(e.clone());
                report.published += 1;
            }
        }
        report
    }
}

#[derive(Debug, Default)]
struct Cursors {
    values: BTreeMap<String, DateTime<Utc>>,
    deferred: BTreeSet<i64>,
}

/// Cursors (moved only from the value expected) and deferred companies, in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeReconcileStore(Arc<Mutex<Cursors>>);

impl FakeReconcileStore {
    pub fn cursor(&self, name: &str) -> Option<DateTime<Utc>> {
        self.0.lock().unwrap().values.get(name).copied()
    }
    pub fn set_cursor(&self, name: &str, at: DateTime<Utc>) {
        self.0.lock().unwrap().values.insert(name.into(), at);
    }
    pub fn defer(&self, company_id: i64) {
        self.0.lock().unwrap().deferred.insert(company_id);
    }
    pub fn deferred(&self) -> Vec<i64> {
        self.0.lock().unwrap().deferred.iter().copied().collect()
    }
}

impl ReconcileStore for FakeReconcileStore {
    async fn advance_cursor(
        &self,
        name: &str,
        expected: Option<&DateTime<Utc>>,
        value: &DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut s = self.0.lock().unwrap();
        if s.values.get(name) != expected {
            return Err(StoreError::Conflict(format!("cursor {name}")));
        }
        s.values.insert(name.into(), *value);
        Ok(())
    }
    async fn clear_deferred(&self, company_id: i64) -> Result<(), StoreError> {
        self.0.lock().unwrap().deferred.remove(&company_id);
        Ok(())
    }
}

//! Fakes of the ticket sync's ports ([`crate::services::alerts::TicketApi`],
//! [`crate::services::alerts::TicketStore`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use super::{cw_status, cw_timeout};
use crate::connectwise::CwError;
use crate::connectwise::models::{NewTicket, NewTicketNote, PatchOp, Reference, Ticket};
use crate::domain::alerts::AlertSettings;
use crate::services::alerts::{TicketApi, TicketStore};
use crate::store::{AlertTicket, StoreError};

/// How the fake answers a ticket POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    Created,
    /// Created, but the answer was lost (a timeout after ConnectWise applied it).
    CreatedThenTimeout,
    /// Not created, and no answer.
    Timeout,
}

#[derive(Debug, Default)]
struct Tickets {
    tickets: BTreeMap<i64, Ticket>,
    next_id: i64,
    notes: Vec<(i64, String)>,
    posts: VecDeque<PostOutcome>,
    calls: BTreeMap<&'static str, u32>,
}

/// ConnectWise's tickets in memory.
#[derive(Debug, Clone, Default)]
pub struct FakeTicketApi(Arc<Mutex<Tickets>>);

impl FakeTicketApi {
    pub fn new() -> Self {
        let fake = Self::default();
        fake.0.lock().unwrap().next_id = 100;
        fake
    }

    /// The next ticket POSTs answer as listed (then as `Created`).
    pub fn posts(&self, outcomes: &[PostOutcome]) {
        self.0.lock().unwrap().posts.extend(outcomes);
    }

    /// Puts (or replaces) a ticket, as a technician's edit would.
    pub fn put(&self, t: Ticket) {
        self.0.lock().unwrap().tickets.insert(t.id, t);
    }

    /// Deletes a ticket, as in ConnectWise.
    pub fn delete(&self, id: i64) {
        self.0.lock().unwrap().tickets.remove(&id);
    }

    pub fn ticket_now(&self, id: i64) -> Option<Ticket> {
        self.0.lock().unwrap().tickets.get(&id).cloned()
    }

    pub fn tickets(&self) -> Vec<Ticket> {
        self.0.lock().unwrap().tickets.values().cloned().collect()
    }

    /// The notes added, as (ticket, text).
    pub fn notes(&self) -> Vec<(i64, String)> {
        self.0.lock().unwrap().notes.clone()
    }

    /// How many times `call` was made.
    pub fn calls(&self, call: &str) -> u32 {
        self.0.lock().unwrap().calls.get(call).copied().unwrap_or(0)
    }

    fn count(&self, call: &'static str) {
        *self.0.lock().unwrap().calls.entry(call).or_default() += 1;
    }
}

/// A ticket as ConnectWise would answer it: open, in `status`.
pub fn open_ticket(id: i64, key: &str, status_id: i64) -> Ticket {
    Ticket {
        id,
        summary: Some(format!("ticket {id}")),
        board: None,
        status: Some(Reference::id(status_id)),
        ticket_type: None,
        sub_type: None,
        priority: None,
        company: None,
        external_x_ref: Some(key.to_owned()),
        closed_flag: Some(false),
        closed_date: None,
        info: None,
    }
}

impl TicketApi for FakeTicketApi {
    async fn ticket(&self, id: i64) -> Result<Ticket, CwError> {
        self.count("ticket");
        self.ticket_now(id)
            .ok_or_else(|| cw_status(404, &format!("service/tickets/{id}")))
    }

    async fn create_ticket(&self, t: &NewTicket) -> Result<Ticket, CwError> {
        self.count("create_ticket");
        let mut s = self.0.lock().unwrap();
        let outcome = s.posts.pop_front().unwrap_or(PostOutcome::Created);
        if outcome == PostOutcome::Timeout {
            return Err(cw_timeout("POST", "service/tickets"));
        }
        s.next_id += 1;
        let id = s.next_id;
        let ticket = Ticket {
            summary: Some(t.summary.clone()),
            status: t.status.clone(),
            company: Some(t.company.clone()),
            board: Some(t.board.clone()),
            ..open_ticket(id, t.external_x_ref.as_deref().unwrap_or_default(), 0)
        };
        s.tickets.insert(id, ticket.clone());
        match outcome {
            PostOutcome::CreatedThenTimeout => Err(cw_timeout("POST", "service/tickets")),
            _ => Ok(ticket),
        }
    }

    async fn update_ticket(&self, id: i64, ops: &[PatchOp]) -> Result<Ticket, CwError> {
        self.count("update_ticket");
        let mut s = self.0.lock().unwrap();
        let t = s
            .tickets
            .get_mut(&id)
            .ok_or_else(|| cw_status(404, &format!("service/tickets/{id}")))?;
        for op in ops.iter().filter(|op| op.path == "status") {
            t.status = Some(serde_json::from_value(op.value.clone()).unwrap());
        }
        Ok(t.clone())
    }

    async fn add_ticket_note(&self, ticket_id: i64, note: &NewTicketNote) -> Result<(), CwError> {
        self.count("add_ticket_note");
        let mut s = self.0.lock().unwrap();
        if !s.tickets.contains_key(&ticket_id) {
            return Err(cw_status(
                404,
                &format!("service/tickets/{ticket_id}/notes"),
            ));
        }
        s.notes.push((ticket_id, note.text.clone()));
        Ok(())
    }

    async fn ticket_by_xref_confirmed(
        &self,
        key: &str,
        keep: impl Fn(&Ticket) -> bool + Send + Sync,
    ) -> Result<Option<Ticket>, CwError> {
        self.count("ticket_by_xref");
        let s = self.0.lock().unwrap();
        Ok(s.tickets
            .values()
            .rev()
            .find(|t| t.external_x_ref.as_deref() == Some(key) && keep(t))
            .cloned())
    }
}

#[derive(Debug, Default)]
struct Records {
    settings: AlertSettings,
    tickets: BTreeMap<String, AlertTicket>,
    remembered: BTreeSet<(String, String)>,
    /// Conditional writes to refuse as if another delivery had written first.
    conflicts: u32,
}

/// The table's alert-ticket records, in memory, with the same conditions.
#[derive(Debug, Clone, Default)]
pub struct FakeTicketStore(Arc<Mutex<Records>>);

impl FakeTicketStore {
    pub fn with_settings(settings: AlertSettings) -> Self {
        let fake = Self::default();
        fake.0.lock().unwrap().settings = settings;
        fake
    }

    pub fn record(&self, key: &str) -> Option<AlertTicket> {
        self.0.lock().unwrap().tickets.get(key).cloned()
    }

    pub fn put_record(&self, r: AlertTicket) {
        self.0
            .lock()
            .unwrap()
            .tickets
            .insert(r.alert_key.clone(), r);
    }

    /// The next `n` conditional writes lose to a concurrent writer.
    pub fn conflicts(&self, n: u32) {
        self.0.lock().unwrap().conflicts = n;
    }

    pub fn remembered(&self) -> usize {
        self.0.lock().unwrap().remembered.len()
    }
}

impl TicketStore for FakeTicketStore {
    async fn alert_settings(&self) -> Result<AlertSettings, StoreError> {
        Ok(self.0.lock().unwrap().settings.clone())
    }

    async fn remember_once(
        &self,
        scope: &str,
        id: &str,
        _ttl: StdDuration,
    ) -> Result<bool, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .remembered
            .insert((scope.to_owned(), id.to_owned())))
    }

    async fn forget(&self, scope: &str, id: &str) -> Result<(), StoreError> {
        self.0
            .lock()
            .unwrap()
            .remembered
            .remove(&(scope.to_owned(), id.to_owned()));
        Ok(())
    }

    async fn alert_ticket(&self, alert_key: &str) -> Result<Option<AlertTicket>, StoreError> {
        Ok(self.record(alert_key))
    }

    async fn create_alert_ticket(&self, t: &AlertTicket) -> Result<bool, StoreError> {
        let mut s = self.0.lock().unwrap();
        if s.tickets.contains_key(&t.alert_key) {
            return Ok(false);
        }
        s.tickets.insert(t.alert_key.clone(), t.clone());
        Ok(true)
    }

    async fn update_alert_ticket(&self, t: &AlertTicket) -> Result<(), StoreError> {
        let mut s = self.0.lock().unwrap();
        let conflict = || StoreError::Conflict(format!("alert ticket {}", t.alert_key));
        if s.conflicts > 0 {
            s.conflicts -= 1;
            return Err(conflict());
        }
        let stored = s.tickets.get(&t.alert_key).map(|r| r.revision);
        if stored != Some(t.revision.saturating_sub(1)) {
            return Err(conflict());
        }
        s.tickets.insert(t.alert_key.clone(), t.clone());
        Ok(())
    }
}

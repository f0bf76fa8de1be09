//! Alerts → tickets: the poller (Acronis alerts → bus events), the ticket sync (one event
//! → the alert's one ticket created, noted, reopened, renewed or closed) and saving the
//! alert mapping. The decisions are [`crate::domain::alerts`]'s.
//!
//! Poller: a cursor holds the high-water mark `updatedAt` (ns) and the `(id, updatedAt)`
//! pairs seen within the overlap window. Each poll reads `updated_at=ge(mark - overlap)`,
//! `show_deleted`, ascending, paging with `after`; a pair already seen is skipped, so an
//! overlap re-read doubles nothing. After each page's events are on the bus the cursor
//! moves (conditionally: a concurrent poll makes it fail rather than go back); an event the
//! bus refused holds the mark just before it, so it is read again and nothing is lost.
//!
//! Ticket sync: the record of an alert key is claimed with a conditional write (state
//! `creating`) before any ticket POST, so concurrent deliveries make one ticket; the
//! losers retry later and become notes. A POST that times out is never repeated: the
//! ticket is looked up by `externalXRef` first. Deliveries of one `(alert id, updatedAt)`
//! are handled once (a dedupe record, forgotten when the handling fails).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration as StdDuration;

use backon::Retryable as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::acronis::models::{Alert, AlertTenant};
use crate::acronis::{AcronisClient, AcronisError, AlertQuery};
use crate::bus::{AlertChanged, Event, EventBus, VERSION};
use crate::connectwise::models::{NewTicket, NewTicketNote, PatchOp, Reference, Ticket};
use crate::connectwise::{Conditions, ConnectWiseClient, CwError, ListQuery};
use crate::domain::alerts::{
    self as rules, AlertEvent, AlertSettings, BoardCatalog, TicketAction, TicketNow, TypeMapping,
};
use crate::store::{AlertTicket, Change, Failure, RunRecord, Store, StoreError, TicketState};

/// The poller's cursor name.
pub const CURSOR: &str = "alert-poller";
/// Dedupe scope of handled deliveries.
const DEDUPE_SCOPE: &str = "ticket-sync";
const DEDUPE_TTL: StdDuration = StdDuration::from_secs(14 * 86_400);
/// Most `(id, updatedAt)` pairs the cursor keeps (an item must stay small).
const MAX_SEEN: usize = 5_000;

// ---- settings ----------------------------------------------------------------------------

/// The stored alert mapping, or the defaults.
pub async fn load_settings(store: &Store) -> Result<AlertSettings, StoreError> {
    store.section().await
}

/// Why a mapping was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The mapping names something not on the board (the message says what).
    #[error("alert mapping refused: {0}")]
    Invalid(String),
    #[error(transparent)]
    ConnectWise(#[from] CwError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads a board's statuses, types, subtypes and the priorities.
pub async fn board_catalog(
    cw: &ConnectWiseClient,
    board_id: i64,
) -> Result<BoardCatalog, SaveError> {
    let boards = cw.boards().await?;
    let Some(board) = boards.into_iter().find(|b| b.id == board_id) else {
        return Err(SaveError::Invalid(format!(
            "board {board_id} does not exist"
        )));
    };
    Ok(BoardCatalog {
        board_id,
        board_name: board.name,
        statuses: cw.board_statuses(board_id).await?,
        types: cw.board_types(board_id).await?,
        subtypes: cw.board_subtypes(board_id).await?,
        priorities: cw.priorities().await?,
    })
}

/// Validates the mapping against its board and saves it; refuses a status, type, subtype
/// or priority not on the board with a message naming it.
pub async fn save_settings(
    cw: &ConnectWiseClient,
    store: &Store,
    settings: &AlertSettings,
) -> Result<(), SaveError> {
    settings.validate().map_err(SaveError::Invalid)?;
    if let Some(board_id) = settings.board_id {
        let catalog = board_catalog(cw, board_id).await?;
        settings
            .validate_against(&catalog)
            .map_err(SaveError::Invalid)?;
    }
    store.save_section(settings).await?;
    Ok(())
}

// ---- poller ------------------------------------------------------------------------------

/// The poller's cursor: the high-water mark and the pairs seen within the overlap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertCursor {
    pub high_water_ns: i64,
    /// `{ID}@{updatedAt ns}` of alerts at or after `high_water_ns - overlap`.
    #[serde(default)]
    pub seen: Vec<String>,
    /// When the open tickets' alerts were last looked up (ns; see [`sweep`]).
    #[serde(default)]
    pub swept_ns: i64,
    /// Alerts reported cleared because they were gone, while their ticket is still open.
    #[serde(default)]
    pub gone: Vec<String>,
}

/// Poll options.
#[derive(Debug, Clone)]
pub struct PollOptions {
    pub page_size: usize,
    /// Re-read this much before the mark (Acronis' commit lag, clocks).
    pub overlap: Duration,
    /// How far back the very first poll reads.
    pub first_lookback: Duration,
    /// Stop after this many pages (the next poll goes on).
    pub max_pages: usize,
    /// How often the alerts of open tickets are looked up one by one (with auto-close on).
    pub sweep_every: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            overlap: Duration::minutes(5),
            first_lookback: Duration::hours(24),
            max_pages: 1_000,
            sweep_every: Duration::minutes(15),
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollReport {
    pub pages: usize,
    pub read: usize,
    pub published: usize,
    pub duplicates: usize,
    pub unmapped_tenant: usize,
    pub unmapped_type: usize,
    pub failed: usize,
    pub cursor_ns: i64,
    /// Alerts of open tickets found gone by the sweep (reported cleared).
    pub gone: usize,
}

/// Why a poll stopped early. The cursor holds what was done; the next poll goes on.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Acronis(#[from] AcronisError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} event(s) not put on the bus")]
    Bus(usize),
}

fn seen_ns(entry: &str) -> i64 {
    entry
        .rsplit_once('@')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// One poll: alerts updated since the cursor → `alert.raised` / `alert.cleared` events for
/// mapped tenants and alert types.
pub async fn poll(
    acronis: &AcronisClient,
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
    opts: &PollOptions,
) -> Result<PollReport, PollError> {
    let settings = load_settings(store).await?;
    let stored: Option<AlertCursor> = store.cursor(CURSOR).await?;
    let overlap_ns = opts.overlap.num_nanoseconds().unwrap_or(0);
    let mut cursor = stored.clone().unwrap_or_else(|| AlertCursor {
        high_water_ns: (Utc::now() - opts.first_lookback)
            .timestamp_nanos_opt()
            .unwrap_or(0),
        seen: Vec::new(),
        swept_ns: 0,
        gone: Vec::new(),
    });
    let mut expected = stored;
    let mut seen: BTreeSet<String> = cursor.seen.iter().cloned().collect();
    let mut companies: HashMap<String, Option<i64>> = HashMap::new();
    let mut report = PollReport {
        cursor_ns: cursor.high_water_ns,
        ..PollReport::default()
    };
    let mut query = AlertQuery {
        updated_since_ns: Some(cursor.high_water_ns.saturating_sub(overlap_ns)),
        show_deleted: true,
        limit: opts.page_size,
        ..AlertQuery::default()
    };
    let mut result = Ok(());
    for _ in 0..opts.max_pages.max(1) {
        let page = match acronis.alerts_page(&query).await {
            Ok(p) => p,
            Err(e) => {
                result = Err(PollError::Acronis(e));
                break;
            }
        };
        report.pages += 1;
        report.read += page.items.len();
        let mut events = Vec::new();
        let mut event_ns = Vec::new();
        let mut page_max = cursor.high_water_ns;
        for alert in &page.items {
            let ns = rules::updated_ns(alert);
            page_max = page_max.max(ns);
            let occurrence = rules::occurrence_id(alert);
            if seen.contains(&occurrence) {
                report.duplicates += 1;
                continue;
            }
            let tenant = alert.tenant.uuid.clone().unwrap_or_default().to_lowercase();
            let company = match companies.get(&tenant) {
                Some(c) => *c,
                None => {
                    let c = match store.mapping_by_tenant(&tenant).await {
                        Ok(m) => m.map(|m| m.company_id),
                        Err(e) => {
                            result = Err(e.into());
                            break;
                        }
                    };
                    companies.insert(tenant.clone(), c);
                    c
                }
            };
            let Some(company_id) = company else {
                report.unmapped_tenant += 1;
                seen.insert(occurrence);
                continue;
            };
            if settings.mapping(&alert.alert_type).is_none() {
                report.unmapped_type += 1;
                seen.insert(occurrence);
                continue;
            }
            let changed = AlertChanged {
                version: VERSION,
                alert_key: rules::alert_key(alert),
                company_id,
                alert: alert.clone(),
            };
            events.push(if alert.deleted_at.is_some() {
                Event::AlertCleared(changed)
            } else {
                Event::AlertRaised(changed)
            });
            event_ns.push((occurrence, ns));
        }
        if result.is_err() {
            break;
        }
        let published = bus.publish(&events).await;
        report.published += published.published;
        report.failed += published.failed.len();
        let failed: BTreeSet<usize> = published.failed.iter().map(|f| f.index).collect();
        for f in &published.failed {
            run.failures.push(Failure {
                subject: format!("alert event {}", f.detail_type),
                reason: format!("{}: {}", f.code, f.message),
                transient: true,
            });
        }
        let mut mark = page_max;
        for (i, (occurrence, ns)) in event_ns.into_iter().enumerate() {
            if failed.contains(&i) {
                // Read it again next time: hold the mark just before it.
                mark = mark.min(ns - 1).max(cursor.high_water_ns);
            } else {
                seen.insert(occurrence);
            }
        }
        let floor = mark.saturating_sub(overlap_ns);
        seen.retain(|s| seen_ns(s) >= floor);
        let mut kept: Vec<String> = seen.iter().cloned().collect();
        if kept.len() > MAX_SEEN {
            kept.sort_by_key(|s| std::cmp::Reverse(seen_ns(s)));
            kept.truncate(MAX_SEEN);
            kept.sort();
        }
        let next = AlertCursor {
            high_water_ns: mark,
            seen: kept,
            ..cursor.clone()
        };
        if expected.as_ref() != Some(&next) {
            if let Err(e) = store.advance_cursor(CURSOR, expected.as_ref(), &next).await {
                result = Err(e.into());
                break;
            }
            expected = Some(next.clone());
        }
        cursor = next;
        report.cursor_ns = cursor.high_water_ns;
        if !failed.is_empty() {
            result = Err(PollError::Bus(failed.len()));
            break;
        }
        match page.after() {
            Some(after) => {
                query.after = Some(after.to_owned());
            }
            None => break,
        }
    }
    if result.is_ok() && settings.auto_close {
        result = sweep(
            acronis,
            store,
            bus,
            run,
            opts,
            &mut report,
            cursor,
            expected,
        )
        .await;
    }
    run.count("pages", report.pages as u64);
    run.count("alerts_read", report.read as u64);
    run.count("published", report.published as u64);
    run.count("duplicates_skipped", report.duplicates as u64);
    run.count("skipped_unmapped_tenant", report.unmapped_tenant as u64);
    run.count("skipped_unmapped_type", report.unmapped_type as u64);
    result.map(|()| report)
}

/// A cleared alert may not show as cleared: whether the API marks it (`deletedAt`) or drops it
/// is not documented. Every `sweep_every`, the alert of each open ticket is looked up by id; one
/// that is gone is reported cleared, once (the cursor remembers it while its ticket is open).
#[allow(clippy::too_many_arguments)]
async fn sweep(
    acronis: &AcronisClient,
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
    opts: &PollOptions,
    report: &mut PollReport,
    cursor: AlertCursor,
    expected: Option<AlertCursor>,
) -> Result<(), PollError> {
    let now = Utc::now();
    let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let every_ns = opts.sweep_every.num_nanoseconds().unwrap_or(i64::MAX);
    if now_ns.saturating_sub(cursor.swept_ns) < every_ns {
        return Ok(());
    }
    let open: Vec<AlertTicket> = store
        .open_alert_tickets()
        .await?
        .into_iter()
        .filter(|t| t.state == TicketState::Open)
        .collect();
    let mut gone: BTreeSet<String> = cursor.gone.iter().cloned().collect();
    let mut events = Vec::new();
    let mut reported = Vec::new();
    for t in &open {
        let (Some(id), Some(alert_type), Some(tenant)) =
            (&t.last_alert_id, &t.alert_type, &t.tenant_id)
        else {
            continue;
        };
        if gone.contains(id) {
            continue;
        }
        match acronis.alert(id).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                let alert = Alert {
                    id: id.clone(),
                    alert_type: alert_type.clone(),
                    category: None,
                    severity: None,
                    created_at: None,
                    updated_at: Some(now),
                    deleted_at: Some(now),
                    tenant: AlertTenant {
                        uuid: Some(tenant.clone()),
                        ..AlertTenant::default()
                    },
                    details: Value::Null,
                };
                events.push(Event::AlertCleared(AlertChanged {
                    version: VERSION,
                    alert_key: t.alert_key.clone(),
                    company_id: t.company_id,
                    alert,
                }));
                reported.push(id.clone());
            }
            Err(e) => run.failures.push(Failure {
                subject: format!("alert {id}"),
                reason: format!("could not look up the alert of an open ticket: {e}"),
                transient: e.is_transient(),
            }),
        }
    }
    let published = bus.publish(&events).await;
    let failed: BTreeSet<usize> = published.failed.iter().map(|f| f.index).collect();
    for (i, id) in reported.into_iter().enumerate() {
        if !failed.contains(&i) {
            gone.insert(id);
        }
    }
    report.gone += published.published;
    report.published += published.published;
    run.count("gone_alerts_cleared", published.published as u64);
    // Forget the alerts whose ticket is no longer open.
    let still_open: BTreeSet<&String> = open
        .iter()
        .filter_map(|t| t.last_alert_id.as_ref())
        .collect();
    gone.retain(|id| still_open.contains(id));
    let next = AlertCursor {
        swept_ns: now_ns,
        gone: gone.into_iter().collect(),
        ..cursor
    };
    store
        .advance_cursor(CURSOR, expected.as_ref(), &next)
        .await?;
    if published.failed.is_empty() {
        Ok(())
    } else {
        Err(PollError::Bus(published.failed.len()))
    }
}

// ---- ticket sync -------------------------------------------------------------------------

/// Why an event was not handled.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// Another delivery is creating this alert's ticket; retry later.
    #[error("the ticket of {0} is being created by another delivery")]
    Busy(String),
    /// A ticket POST timed out and no ticket carries the key yet; the claim stays, the
    /// retry looks up again before creating.
    #[error("ticket POST for {0} timed out and no ticket was found by externalXRef yet")]
    Unconfirmed(String),
    #[error(transparent)]
    ConnectWise(#[from] CwError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TicketError {
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Busy(_) | Self::Unconfirmed(_) => true,
            Self::ConnectWise(e) => e.is_transient() || matches!(e, CwError::Timeout { .. }),
            Self::Store(e) => matches!(e, StoreError::Dynamo(_) | StoreError::Conflict(_)),
        }
    }
}

/// What happened to the ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketOutcome {
    Created {
        ticket_id: i64,
        adopted: bool,
    },
    Noted {
        ticket_id: i64,
    },
    Reopened {
        ticket_id: i64,
    },
    Renewed {
        ticket_id: i64,
        previous: Option<i64>,
    },
    Closed {
        ticket_id: i64,
    },
    NotedCleared {
        ticket_id: i64,
    },
    Duplicate,
    Left {
        reason: String,
    },
}

impl TicketOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Created { adopted: false, .. } => "created",
            Self::Created { adopted: true, .. } => "adopted",
            Self::Noted { .. } => "noted",
            Self::Reopened { .. } => "reopened",
            Self::Renewed { .. } => "renewed",
            Self::Closed { .. } => "closed",
            Self::NotedCleared { .. } => "noted_cleared",
            Self::Duplicate => "duplicate",
            Self::Left { .. } => "left",
        }
    }
}

/// The ticket sync. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TicketSync {
    pub cw: ConnectWiseClient,
    pub store: Store,
}

/// Rounds of re-reading after a concurrent write to the same record.
const CONFLICT_ROUNDS: usize = 5;

impl TicketSync {
    pub fn new(cw: ConnectWiseClient, store: Store) -> Self {
        Self { cw, store }
    }

    /// Handles one alert event now.
    pub async fn handle(
        &self,
        event: &Event,
        run: &mut RunRecord,
    ) -> Result<TicketOutcome, TicketError> {
        self.handle_at(event, run, Utc::now()).await
    }

    /// Handles one alert event as of `now` (the N-day rule is measured against it).
    pub async fn handle_at(
        &self,
        event: &Event,
        run: &mut RunRecord,
        now: DateTime<Utc>,
    ) -> Result<TicketOutcome, TicketError> {
        let (kind, changed) = match event {
            Event::AlertRaised(c) => (AlertEvent::Raised, c),
            Event::AlertCleared(c) => (AlertEvent::Cleared, c),
            _ => {
                return Ok(TicketOutcome::Left {
                    reason: "not an alert event".into(),
                });
            }
        };
        let settings = load_settings(&self.store).await?;
        let Some(mapping) = settings.mapping(&changed.alert.alert_type).cloned() else {
            run.count("skipped_unmapped_type", 1);
            return Ok(TicketOutcome::Left {
                reason: format!("alert type {} is not mapped", changed.alert.alert_type),
            });
        };
        let dedupe_id = format!(
            "{}@{}",
            rules::occurrence_id(&changed.alert),
            if kind == AlertEvent::Raised {
                "raised"
            } else {
                "cleared"
            }
        );
        if !self
            .store
            .remember_once(DEDUPE_SCOPE, &dedupe_id, DEDUPE_TTL)
            .await?
        {
            run.count("duplicate_deliveries", 1);
            return Ok(TicketOutcome::Duplicate);
        }
        let result = {
            // A write that lost to a concurrent delivery is decided again from a fresh read.
            let shared_run = tokio::sync::Mutex::new(&mut *run);
            let attempt = || async {
                let mut run = shared_run.lock().await;
                self.once(kind, changed, &mapping, &settings, &mut run, now)
                    .await
            };
            let retried = attempt
                .retry(crate::retry::after_conflict(CONFLICT_ROUNDS))
                .sleep(tokio::time::sleep)
                .when(|e| matches!(e, TicketError::Store(StoreError::Conflict(_))));
            Box::pin(retried).await
        };
        match &result {
            Ok(outcome) => {
                run.count(outcome.name(), 1);
            }
            Err(e) => {
                // The work must be redone by a retry of this delivery.
                if let Err(f) = self.store.forget(DEDUPE_SCOPE, &dedupe_id).await {
                    tracing::error!(error = %f, "could not forget the dedupe record");
                }
                run.failures.push(Failure {
                    subject: format!("alert {}", changed.alert_key),
                    reason: e.to_string(),
                    transient: e.is_transient(),
                });
            }
        }
        result
    }

    async fn once(
        &self,
        kind: AlertEvent,
        changed: &AlertChanged,
        mapping: &TypeMapping,
        settings: &AlertSettings,
        run: &mut RunRecord,
        now: DateTime<Utc>,
    ) -> Result<TicketOutcome, TicketError> {
        let key = &changed.alert_key;
        let record = self.store.alert_ticket(key).await?;
        let to_read = record
            .as_ref()
            .and_then(|r| r.ticket_id)
            .filter(|_| rules::needs_ticket(kind, record.as_ref(), settings));
        let ticket = match to_read {
            Some(id) => Some(self.ticket_now(id).await?),
            None => None,
        };
        let (ticket_now, status_name) = match &ticket {
            Some((t, n)) => (Some(t.clone()), n.clone()),
            None => (None, None),
        };
        let action = rules::decide(
            kind,
            record.as_ref(),
            ticket_now.as_ref(),
            mapping,
            settings,
            now,
        );
        tracing::info!(alert_key = %key, ?action, "alert ticket decision");
        let alert = &changed.alert;
        match action {
            TicketAction::Leave(reason) => {
                if let (Some(r), Some(TicketNow::Closed { closed_at })) = (&record, &ticket_now)
                    && r.state != TicketState::Closed
                {
                    let mut r = r.clone();
                    r.state = TicketState::Closed;
                    r.closed_at = closed_at.or(Some(now));
                    self.write(&mut r, now).await?;
                }
                Ok(TicketOutcome::Left {
                    reason: reason.into(),
                })
            }
            TicketAction::Wait => Err(TicketError::Busy(key.clone())),
            TicketAction::Create => {
                let claim = AlertTicket {
                    alert_key: key.clone(),
                    company_id: changed.company_id,
                    ticket_id: None,
                    state: TicketState::Creating,
                    last_alert_id: Some(alert.id.clone()),
                    alert_type: Some(alert.alert_type.clone()),
                    tenant_id: alert.tenant.uuid.clone(),
                    occurrences: 0,
                    closed_at: None,
                    revision: 0,
                    updated_at: now,
                };
                if !self.store.create_alert_ticket(&claim).await? {
                    // Another delivery won the claim: decide again from its record.
                    return Err(TicketError::Store(StoreError::Conflict(format!(
                        "alert ticket {key}"
                    ))));
                }
                self.create(claim, changed, mapping, settings, None, run, now)
                    .await
            }
            TicketAction::TakeOver { record: mut r } => {
                // Take the stale claim over (conditional on its revision), then look up.
                self.write(&mut r, now).await?;
                self.create(r, changed, mapping, settings, None, run, now)
                    .await
            }
            TicketAction::Renew {
                record: mut r,
                previous,
            } => {
                r.ticket_id = None;
                let previous = Some(previous);
                r.state = TicketState::Creating;
                r.closed_at = None;
                self.write(&mut r, now).await?;
                match self
                    .create(r, changed, mapping, settings, previous, run, now)
                    .await?
                {
                    TicketOutcome::Created { ticket_id, .. } => Ok(TicketOutcome::Renewed {
                        ticket_id,
                        previous,
                    }),
                    other => Ok(other),
                }
            }
            TicketAction::Note { ticket_id: id } => {
                self.note(id, rules::occurrence_note(alert, false)).await?;
                self.bump(key, now, |r| {
                    r.occurrences += 1;
                    r.last_alert_id = Some(alert.id.clone());
                })
                .await?;
                Ok(TicketOutcome::Noted { ticket_id: id })
            }
            TicketAction::Reopen {
                ticket_id: id,
                status_id,
            } => {
                self.cw
                    .update_ticket(id, &[PatchOp::replace("status", Reference::id(status_id))])
                    .await?;
                self.note(id, rules::occurrence_note(alert, true)).await?;
                self.bump(key, now, |r| {
                    r.occurrences += 1;
                    r.last_alert_id = Some(alert.id.clone());
                    r.state = TicketState::Open;
                    r.closed_at = None;
                })
                .await?;
                run.changes.push(Change {
                    subject: format!("ticket {id}"),
                    field: "status".into(),
                    old: Some("closed".into()),
                    new: status_id.into(),
                    basis: Some(format!("alert {key} raised again")),
                });
                Ok(TicketOutcome::Reopened { ticket_id: id })
            }
            TicketAction::Close {
                ticket_id: id,
                from_status_id,
                closing_status_id: closing,
            } => {
                self.cw
                    .update_ticket(id, &[PatchOp::replace("status", Reference::id(closing))])
                    .await?;
                self.bump(key, now, |r| {
                    r.state = TicketState::Closed;
                    r.closed_at = Some(now);
                })
                .await?;
                run.changes.push(Change {
                    subject: format!("ticket {id}"),
                    field: "status".into(),
                    old: Some(from_status_id.into()),
                    new: closing.into(),
                    basis: Some(format!("alert {key} cleared (auto-close)")),
                });
                Ok(TicketOutcome::Closed { ticket_id: id })
            }
            TicketAction::NoteCleared { ticket_id: id } => {
                self.note(id, rules::cleared_note(alert, status_name.as_deref()))
                    .await?;
                Ok(TicketOutcome::NotedCleared { ticket_id: id })
            }
        }
    }

    /// The ticket now, and its status name.
    async fn ticket_now(&self, id: i64) -> Result<(TicketNow, Option<String>), TicketError> {
        match self.cw.ticket(id).await {
            Ok(t) => Ok(view(&t)),
            Err(e) if e.is_not_found() => Ok((TicketNow::Missing, None)),
            Err(e) => Err(e.into()),
        }
    }

    async fn note(&self, ticket_id: i64, text: String) -> Result<(), TicketError> {
        self.cw
            .add_ticket_note(
                ticket_id,
                &NewTicketNote {
                    text,
                    detail_description_flag: true,
                    internal_analysis_flag: false,
                },
            )
            .await?;
        Ok(())
    }

    /// Writes the record, conditional on the revision it was read at.
    async fn write(&self, r: &mut AlertTicket, now: DateTime<Utc>) -> Result<(), StoreError> {
        r.revision += 1;
        r.updated_at = now.max(Utc::now());
        self.store.update_alert_ticket(r).await
    }

    /// Bookkeeping after a side effect in ConnectWise (a note, a status): re-read and
    /// apply `f` until the conditional write holds, so a concurrent writer never makes the
    /// side effect happen twice.
    async fn bump(
        &self,
        key: &str,
        now: DateTime<Utc>,
        f: impl Fn(&mut AlertTicket),
    ) -> Result<(), StoreError> {
        let attempt = || async {
            let Some(mut r) = self.store.alert_ticket(key).await? else {
                return Ok(());
            };
            f(&mut r);
            self.write(&mut r, now).await
        };
        attempt
            .retry(crate::retry::after_conflict(20))
            .sleep(tokio::time::sleep)
            .when(|e| matches!(e, StoreError::Conflict(_)))
            .await
    }

    /// A ticket carrying the key and not `exclude`, newest first.
    async fn find_by_xref(
        &self,
        key: &str,
        exclude: Option<i64>,
    ) -> Result<Option<Ticket>, CwError> {
        let q = ListQuery::conditions(Conditions::new().eq("externalXRef", key));
        let mut found: Vec<Ticket> = self
            .cw
            .tickets(&q)
            .await?
            .into_iter()
            .filter(|t| Some(t.id) != exclude)
            .filter(|t| {
                t.external_x_ref
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(key))
            })
            .collect();
        found.sort_by_key(|t| std::cmp::Reverse(t.id));
        Ok(found.into_iter().next())
    }

    /// With the record claimed (`creating`): adopts a ticket already carrying the key
    /// (a stale claim or a renewal interrupted after its POST), else creates one; on a POST
    /// timeout, looks up by `externalXRef` before anything else.
    #[allow(clippy::too_many_arguments)]
    async fn create(
        &self,
        mut r: AlertTicket,
        changed: &AlertChanged,
        mapping: &TypeMapping,
        settings: &AlertSettings,
        previous: Option<i64>,
        run: &mut RunRecord,
        now: DateTime<Utc>,
    ) -> Result<TicketOutcome, TicketError> {
        let key = &changed.alert_key;
        // A claim that was taken over (revision > 1 while creating) may already have a ticket.
        let adopted = if r.revision > 0 {
            self.find_by_xref(key, previous)
                .await?
                .filter(|t| t.closed_flag != Some(true))
        } else {
            None
        };
        let (ticket, adopted) = match adopted {
            Some(t) => (t, true),
            None => {
                let new = NewTicket {
                    summary: rules::ticket_summary(&changed.alert),
                    board: Reference::id(settings.board_id.unwrap_or_default()),
                    company: Reference::id(changed.company_id),
                    status: Some(Reference::id(mapping.status_id)),
                    ticket_type: mapping.type_id.map(Reference::id),
                    sub_type: mapping.subtype_id.map(Reference::id),
                    priority: mapping.priority_id.map(Reference::id),
                    external_x_ref: Some(key.clone()),
                    initial_description: Some(rules::ticket_description(&changed.alert, key)),
                };
                match self.cw.create_ticket(&new).await {
                    Ok(t) => (t, false),
                    Err(CwError::Timeout { .. }) => {
                        run.count("post_timeouts", 1);
                        match self.find_by_xref(key, previous).await? {
                            Some(t) => (t, true),
                            None => {
                                // Keep the claim; a retry after the lease looks up again.
                                return Err(TicketError::Unconfirmed(key.clone()));
                            }
                        }
                    }
                    Err(e) => {
                        // ConnectWise answered with an error: mark the claim stale so the
                        // retry takes it over at once (it still looks up before creating).
                        r.revision += 1;
                        r.updated_at = DateTime::<Utc>::UNIX_EPOCH;
                        if let Err(w) = self.store.update_alert_ticket(&r).await {
                            tracing::warn!(error = %w, "could not release the ticket claim");
                        }
                        return Err(e.into());
                    }
                }
            }
        };
        r.ticket_id = Some(ticket.id);
        r.state = TicketState::Open;
        r.occurrences += 1;
        r.last_alert_id = Some(changed.alert.id.clone());
        r.closed_at = None;
        self.write(&mut r, now).await?;
        run.changes.push(Change {
            subject: format!("alert {key}"),
            field: "ticket".into(),
            old: previous.map(Into::into),
            new: ticket.id.into(),
            basis: Some(format!(
                "{} ({})",
                rules::alert_title(&changed.alert),
                if adopted {
                    "adopted by externalXRef"
                } else {
                    "created"
                }
            )),
        });
        Ok(TicketOutcome::Created {
            ticket_id: ticket.id,
            adopted,
        })
    }
}

/// The decision's view of a ticket, and its status name.
pub fn view(t: &Ticket) -> (TicketNow, Option<String>) {
    let name = t.status.as_ref().and_then(|s| s.name.clone());
    if t.closed_flag == Some(true) {
        (
            TicketNow::Closed {
                closed_at: t.closed_date,
            },
            name,
        )
    } else {
        (
            TicketNow::Open {
                status_id: t.status.as_ref().map(|s| s.id),
            },
            name,
        )
    }
}

/// Counts of tickets per `externalXRef` (for checks and the benchmark).
pub fn tickets_per_key(tickets: &[Ticket]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for t in tickets {
        if let Some(x) = &t.external_x_ref {
            *m.entry(x.to_lowercase()).or_default() += 1;
        }
    }
    m
}

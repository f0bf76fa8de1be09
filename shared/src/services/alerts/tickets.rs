//! The ticket sync: one alert event → the alert's one ticket created, noted, reopened,
//! renewed or closed.

use super::*;

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
    /// The invocation reached its deadline in the middle of this alert; its retry goes on
    /// (a ticket POST is never repeated blind: the retry looks it up first).
    #[error("stopped at the invocation's deadline while handling {0}")]
    Deadline(String),
    #[error(transparent)]
    ConnectWise(#[from] CwError),
    /// Dismissing a technician's fixed alert in Acronis (boxed: the error is large).
    #[error(transparent)]
    Acronis(Box<AcronisError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A ticket answer the decision cannot rest on (whether it is closed, its status, its
    /// key): nothing written; retried, as the next answer may be whole.
    #[error(transparent)]
    Malformed(#[from] crate::domain::quotas::Malformed),
}

impl From<AcronisError> for TicketError {
    fn from(e: AcronisError) -> Self {
        Self::Acronis(Box::new(e))
    }
}

impl TicketError {
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Busy(_) | Self::Unconfirmed(_) | Self::Deadline(_) | Self::Malformed(_) => true,
            Self::ConnectWise(e) => e.is_transient() || matches!(e, CwError::Timeout { .. }),
            Self::Acronis(e) => e.is_transient(),
            Self::Store(e) => e.is_transient(),
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
    /// A technician's close dismissed the alert in Acronis.
    Dismissed {
        ticket_id: i64,
        alert_id: String,
    },
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
            Self::Dismissed { .. } => "dismissed",
            Self::Left { .. } => "left",
        }
    }
}

/// What the ticket sync read to decide on one alert key, and its decision.
#[derive(Debug, Clone)]
pub struct Decided {
    pub record: Option<AlertTicket>,
    /// The ticket as ConnectWise has it, when it was read.
    pub ticket_now: Option<TicketNow>,
    pub status_name: Option<String>,
    pub action: TicketAction,
}

/// The ticket sync, over ConnectWise and the table ([`TicketApi`], [`TicketStore`]: the
/// client and the store in a deployment, fakes in unit tests). Cheap to clone.
#[derive(Debug, Clone)]
pub struct TicketSync<C = ConnectWiseClient, S = Store, D = ()> {
    pub cw: C,
    pub store: S,
    /// Where a technician's close dismisses an alert (`()`: nowhere; such a sync refuses a
    /// dismissal rather than skip it).
    pub acronis: D,
    /// When the invocation must stop (none unless set: tests, `acw`).
    pub deadline: crate::deadline::Deadline,
}

/// Rounds of re-reading after a concurrent write to the same record.
const CONFLICT_ROUNDS: usize = 5;

impl<C: TicketApi, S: TicketStore> TicketSync<C, S> {
    pub fn new(cw: C, store: S) -> Self {
        Self {
            cw,
            store,
            acronis: (),
            deadline: crate::deadline::Deadline::none(),
        }
    }
}

impl<C: TicketApi, S: TicketStore, D: AlertDismiss> TicketSync<C, S, D> {
    /// The same sync dismissing alerts through `acronis` (a technician's close).
    pub fn with_acronis<D2: AlertDismiss>(&self, acronis: D2) -> TicketSync<C, S, D2> {
        TicketSync {
            cw: self.cw.clone(),
            store: self.store.clone(),
            acronis,
            deadline: self.deadline,
        }
    }

    /// The same service for one invocation that must stop at `deadline`.
    pub fn with_deadline(&self, deadline: crate::deadline::Deadline) -> Self {
        Self {
            deadline,
            ..self.clone()
        }
    }

    /// Handles one alert event now.
    pub async fn handle(
        &self,
        event: &Event,
        run: &mut RunRecord,
    ) -> Result<TicketOutcome, TicketError> {
        self.handle_at(event, run, crate::clock::now()).await
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
            Event::Ticket(t) => {
                // Boxed: its future would deepen every caller's (rustc's layout limit).
                let outcome = Box::pin(self.on_ticket(t, run, now)).await;
                match &outcome {
                    Ok(o) => run.count(o.name(), 1),
                    // Recorded before Lambda retries the delivery (or gives it up).
                    Err(e) => run.failures.push(Failure {
                        subject: format!("ticket {}", t.ticket_id),
                        reason: e.to_string(),
                        transient: e.is_transient(),
                    }),
                }
                return outcome;
            }
            _ => {
                return Ok(TicketOutcome::Left {
                    reason: "not an alert event".into(),
                });
            }
        };
        let settings = self.store.alert_settings().await?;
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
            match self.deadline.race(Box::pin(retried)).await {
                Some(result) => result,
                None => Err(TicketError::Deadline(changed.alert_key.clone())),
            }
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
                if matches!(e, TicketError::Malformed(_)) {
                    run.count(crate::runs::MALFORMED_ANSWERS_COUNT, 1);
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

    /// Reads what the decision on `key` needs (its record, and its ticket when that
    /// matters), then decides ([`rules::decide`]).
    pub async fn decide(
        &self,
        kind: AlertEvent,
        key: &str,
        mapping: &TypeMapping,
        settings: &AlertSettings,
        now: DateTime<Utc>,
    ) -> Result<Decided, TicketError> {
        let record = self.store.alert_ticket(key).await?;
        let to_read = record
            .as_ref()
            .and_then(|r| r.ticket_id)
            .filter(|_| rules::needs_ticket(kind, record.as_ref(), settings));
        let (ticket_now, status_name) = match to_read {
            Some(id) => {
                let (t, n) = self.ticket_now(id).await?;
                (Some(t), n)
            }
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
        Ok(Decided {
            record,
            ticket_now,
            status_name,
            action,
        })
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
        let Decided {
            record,
            ticket_now,
            status_name,
            action,
        } = self.decide(kind, key, mapping, settings, now).await?;
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
                let claim = self.claim(changed, now).await?;
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
            } => self.reopen(id, status_id, changed, run, now).await,
            TicketAction::Close {
                ticket_id: id,
                from_status_id,
                closing_status_id: closing,
            } => {
                let from = status_label(from_status_id, status_name.clone());
                self.close(id, from, closing, key, run, now).await
            }
            TicketAction::NoteCleared { ticket_id: id } => {
                self.note(id, rules::cleared_note(alert, status_name.as_deref()))
                    .await?;
                Ok(TicketOutcome::NotedCleared { ticket_id: id })
            }
        }
    }
}

/// The decision's view of a ticket, and its status name. Whether it is closed and its
/// status decide between a note, a reopening and a close: a ticket answered without them is
/// refused (the spec marks both nullable, with no meaning for `null`), never read as open.
pub fn view(t: &Ticket) -> Result<(TicketNow, Option<String>), crate::domain::quotas::Malformed> {
    let malformed = |field| crate::domain::quotas::Malformed {
        what: format!("ConnectWise ticket {}", t.id),
        field,
        problem: "is missing".into(),
    };
    let closed = t.closed_flag.ok_or_else(|| malformed("closedFlag"))?;
    let status = t.status.as_ref().ok_or_else(|| malformed("status"))?;
    let name = status.name.clone();
    Ok(if closed {
        (
            TicketNow::Closed {
                closed_at: t.closed_date,
            },
            name,
        )
    } else {
        (
            TicketNow::Open {
                status_id: Some(status.id),
            },
            name,
        )
    })
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

/// A ticket status as run records show it: `"Closed (3)"`, or the id when ConnectWise gave
/// no name.
pub(super) fn status_label(id: i64, name: Option<String>) -> serde_json::Value {
    match name {
        Some(n) if !n.trim().is_empty() => format!("{} ({id})", n.trim()).into(),
        _ => id.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_without_closed_flag_or_status_is_refused_not_read_as_open() {
        let ticket = |v: serde_json::Value| serde_json::from_value::<Ticket>(v).unwrap();
        let closed = ticket(serde_json::json!({"id": 1, "closedFlag": true, "status": {"id": 2}}));
        assert!(matches!(view(&closed), Ok((TicketNow::Closed { .. }, _))));
        let open = ticket(serde_json::json!({"id": 1, "closedFlag": false, "status": {"id": 3}}));
        assert!(matches!(
            view(&open),
            Ok((TicketNow::Open { status_id: Some(3) }, _))
        ));
        let field = |v| view(&ticket(v)).map(|_| ()).unwrap_err().field;
        assert_eq!(
            field(serde_json::json!({"id": 1, "status": {"id": 2}})),
            "closedFlag"
        );
        assert_eq!(
            field(serde_json::json!({"id": 1, "closedFlag": false})),
            "status"
        );
    }
}

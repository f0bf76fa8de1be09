//! The ticket sync's ConnectWise and table steps: read a ticket, note, create, and keep
//! its record.

use super::*;

impl<C: TicketApi, S: TicketStore, D: AlertDismiss> TicketSync<C, S, D> {
    /// The ticket now, and its status name.
    pub(super) async fn ticket_now(
        &self,
        id: i64,
    ) -> Result<(TicketNow, Option<String>), TicketError> {
        match self.cw.ticket(id).await {
            Ok(t) => Ok(view(&t)?),
            Err(e) if e.is_not_found() => Ok((TicketNow::Missing, None)),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn note(&self, ticket_id: i64, text: String) -> Result<(), TicketError> {
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
    pub(super) async fn write(
        &self,
        r: &mut AlertTicket,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        r.revision += 1;
        r.updated_at = now.max(crate::clock::now());
        self.store.update_alert_ticket(r).await
    }

    /// Bookkeeping after a side effect in ConnectWise (a note, a status): re-read and
    /// apply `f` until the conditional write holds, so a concurrent writer never makes the
    /// side effect happen twice.
    pub(super) async fn bump(
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

    /// Marks a claim stale, so that a retry takes it over at once (and looks up before
    /// creating); a claim left as it was expires by itself.
    pub(super) async fn release(&self, r: &mut AlertTicket) {
        r.revision += 1;
        r.updated_at = DateTime::<Utc>::UNIX_EPOCH;
        if let Err(w) = self.store.update_alert_ticket(r).await {
            tracing::warn!(error = %w, "could not release the ticket claim");
        }
    }

    /// The newest ticket carrying the key and not `exclude` (an empty answer confirmed by a
    /// second read).
    pub(super) async fn find_by_xref(
        &self,
        key: &str,
        exclude: Option<i64>,
    ) -> Result<Option<Ticket>, TicketError> {
        Ok(self
            .cw
            .ticket_by_xref_confirmed(key, |t| Some(t.id) != exclude)
            .await?)
    }

    /// With the record claimed (`creating`): adopts a ticket already carrying the key
    /// (a stale claim or a renewal interrupted after its POST), else creates one; on a POST
    /// timeout, looks up by `externalXRef` before anything else.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create(
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
            match self.find_by_xref(key, previous).await {
                Ok(t) => t.filter(|t| t.closed_flag != Some(true)),
                Err(e) => {
                    // Nothing was posted: the retry may take the claim over at once.
                    self.release(&mut r).await;
                    return Err(e);
                }
            }
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
                        // ConnectWise answered with an error: the retry may take the claim
                        // over at once (it still looks up before creating).
                        self.release(&mut r).await;
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
        r.closed_by_product = false;
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

    /// Claims `changed`'s key for the ticket about to be created (`creating`); another
    /// delivery holding the claim is a conflict: decide again from its record.
    pub(super) async fn claim(
        &self,
        changed: &AlertChanged,
        now: DateTime<Utc>,
    ) -> Result<AlertTicket, TicketError> {
        let alert = &changed.alert;
        let claim = AlertTicket {
            unknown: Default::default(),
            alert_key: changed.alert_key.clone(),
            company_id: changed.company_id,
            connection: changed.connection.clone(),
            ticket_id: None,
            state: TicketState::Creating,
            last_alert_id: Some(alert.id.clone()),
            alert_type: Some(alert.alert_type.clone()),
            tenant_id: alert.tenant.uuid.clone(),
            occurrences: 0,
            closed_at: None,
            closed_by_product: false,
            dismissed: None,
            revision: 0,
            updated_at: now,
        };
        if !self.store.create_alert_ticket(&claim).await? {
            return Err(TicketError::Store(StoreError::Conflict(format!(
                "alert ticket {}",
                changed.alert_key
            ))));
        }
        Ok(claim)
    }

    /// Reopens ticket `id` in `status_id` for the alert raised again, with a note.
    pub(super) async fn reopen(
        &self,
        id: i64,
        status_id: i64,
        changed: &AlertChanged,
        run: &mut RunRecord,
        now: DateTime<Utc>,
    ) -> Result<TicketOutcome, TicketError> {
        let (key, alert) = (&changed.alert_key, &changed.alert);
        let updated = self
            .cw
            .update_ticket(id, &[PatchOp::replace("status", Reference::id(status_id))])
            .await?;
        self.note(id, rules::occurrence_note(alert, true)).await?;
        self.bump(key, now, |r| {
            r.occurrences += 1;
            r.last_alert_id = Some(alert.id.clone());
            r.state = TicketState::Open;
            r.closed_at = None;
            r.closed_by_product = false;
        })
        .await?;
        run.changes.push(Change {
            subject: format!("ticket {id}"),
            field: "status".into(),
            old: Some("closed".into()),
            new: super::tickets::status_label(status_id, updated.status.and_then(|s| s.name)),
            basis: Some(format!("alert {key} raised again")),
        });
        Ok(TicketOutcome::Reopened { ticket_id: id })
    }

    /// Closes ticket `id` (now in status `from`) in the `closing` status: its alert cleared.
    pub(super) async fn close(
        &self,
        id: i64,
        from: serde_json::Value,
        closing: i64,
        key: &str,
        run: &mut RunRecord,
        now: DateTime<Utc>,
    ) -> Result<TicketOutcome, TicketError> {
        let updated = self
            .cw
            .update_ticket(id, &[PatchOp::replace("status", Reference::id(closing))])
            .await?;
        self.bump(key, now, |r| {
            r.state = TicketState::Closed;
            r.closed_at = Some(now);
            // Its alert cleared: this close dismisses nothing (no loop).
            r.closed_by_product = true;
        })
        .await?;
        run.changes.push(Change {
            subject: format!("ticket {id}"),
            field: "status".into(),
            old: Some(from),
            new: super::tickets::status_label(closing, updated.status.and_then(|s| s.name)),
            basis: Some(format!("alert {key} cleared (auto-close)")),
        });
        Ok(TicketOutcome::Closed { ticket_id: id })
    }
}

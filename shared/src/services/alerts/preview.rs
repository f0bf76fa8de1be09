//! What a poll would publish and what the ticket sync would then do with each event
//! (`acw sync alerts --dry-run`): the poller's reads and [`rules::poll_step`], then the
//! ticket sync's reads and [`rules::decide`] for each event, and nothing written (the cursor
//! stays, no event is published, no ticket touched).
//!
//! Each event is decided from what is stored now: when one poll carries two events of the
//! same alert (raised, then cleared), the second row shows the decision before the first
//! has run.

use super::*;

/// One event a poll would publish, and what the ticket sync would do with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedTicket {
    pub alert_id: String,
    pub alert_type: String,
    pub alert_key: String,
    pub company_id: i64,
    /// `raised` or `cleared`.
    pub event: &'static str,
    /// [`TicketAction::kind`].
    pub action: &'static str,
    /// The ticket acted on, when it exists already.
    pub ticket_id: Option<i64>,
    pub description: String,
}

/// What a poll and the ticket sync after it would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertPlan {
    pub tickets: Vec<PlannedTicket>,
    pub read: usize,
    pub duplicates: usize,
    pub unmapped_tenant: usize,
    pub unmapped_type: usize,
    /// Open tickets whose alert is gone (the sweep, with auto-close on, when due).
    pub gone: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Poll(#[from] PollError),
    #[error(transparent)]
    Ticket(#[from] TicketError),
}

impl From<StoreError> for PreviewError {
    fn from(e: StoreError) -> Self {
        Self::Poll(e.into())
    }
}

/// [`preview`] of every connection, one after the other, in one plan.
pub async fn preview_all<D: AlertDismiss>(
    connections: &crate::acronis::Connections,
    sync: &TicketSync<ConnectWiseClient, Store, D>,
    opts: &PollOptions,
    run: &mut RunRecord,
) -> Result<AlertPlan, PreviewError> {
    let mut all = AlertPlan::default();
    for client in connections.current().await.values() {
        let plan = Box::pin(preview(client, sync, opts, run)).await?;
        all.tickets.extend(plan.tickets);
        all.read += plan.read;
        all.duplicates += plan.duplicates;
        all.unmapped_tenant += plan.unmapped_tenant;
        all.unmapped_type += plan.unmapped_type;
        all.gone += plan.gone;
    }
    Ok(all)
}

/// The plan of one connection's next poll and of the ticket sync's handling of its events.
pub async fn preview<D: AlertDismiss>(
    acronis: &AcronisClient,
    sync: &TicketSync<ConnectWiseClient, Store, D>,
    opts: &PollOptions,
    run: &mut RunRecord,
) -> Result<AlertPlan, PreviewError> {
    let store = &sync.store;
    let settings = load_settings(store).await?;
    let cursor: AlertCursor = store
        .cursor(&super::poll::cursor_name(acronis.connection()))
        .await?
        .unwrap_or_else(|| first_cursor(opts));
    let mut seen: BTreeSet<String> = cursor.seen.iter().cloned().collect();
    let mut companies: HashMap<String, Option<i64>> = HashMap::new();
    let mut plan = AlertPlan::default();
    let mut events: Vec<Event> = Vec::new();
    let mut query = first_page(&cursor, opts);
    for _ in 0..opts.max_pages.max(1) {
        let page = acronis.alerts_page(&query).await.map_err(PollError::from)?;
        plan.read += page.items.len();
        for alert in &page.items {
            let occurrence = rules::occurrence_id(alert);
            let carried = seen.contains(&occurrence);
            let company = if carried {
                None
            } else {
                company_of(store, acronis.connection(), &mut companies, alert).await?
            };
            match rules::poll_step(alert, carried, company, &settings) {
                PollStep::Duplicate => plan.duplicates += 1,
                PollStep::UnmappedTenant => plan.unmapped_tenant += 1,
                PollStep::UnmappedType => plan.unmapped_type += 1,
                PollStep::Publish { company_id, event } => {
                    events.push(alert_event(
                        event,
                        (acronis.connection(), company_id),
                        alert,
                    ));
                }
            }
            seen.insert(occurrence);
        }
        match page.after() {
            Some(after) => query.after = Some(after.to_owned()),
            None => break,
        }
    }
    let now = crate::clock::now();
    if settings.auto_close && sweep_due(&cursor, opts, now) {
        let gone: BTreeSet<String> = cursor.gone.iter().cloned().collect();
        let found = super::sweep::gone_alerts(acronis, store, (&gone, &seen), now, run).await?;
        plan.gone = found.events.len();
        events.extend(found.events);
    }
    for event in &events {
        let (kind, changed) = match event {
            Event::AlertRaised(c) => (AlertEvent::Raised, c),
            Event::AlertCleared(c) => (AlertEvent::Cleared, c),
            _ => continue,
        };
        let Some(mapping) = settings.mapping(&changed.alert.alert_type) else {
            continue;
        };
        let decided = sync
            .decide(kind, &changed.alert_key, mapping, &settings, now)
            .await?;
        plan.tickets.push(PlannedTicket {
            alert_id: changed.alert.id.clone(),
            alert_type: changed.alert.alert_type.clone(),
            alert_key: changed.alert_key.clone(),
            company_id: changed.company_id,
            event: match kind {
                AlertEvent::Raised => "raised",
                AlertEvent::Cleared => "cleared",
            },
            action: decided.action.kind(),
            ticket_id: decided.action.ticket_id(),
            description: decided.action.describe(),
        });
    }
    Ok(plan)
}

//! The sweep: the alert of each open ticket looked up, so that one gone from Acronis is
//! reported cleared (the listing may not show a cleared alert at all).

use super::poll::{cursor_name, sweep_due};
use super::*;
use crate::domain::alerts::clears;

/// Open tickets whose alert is gone, as cleared events.
pub(super) struct Gone {
    /// The open tickets looked at.
    pub open: Vec<AlertTicket>,
    pub events: Vec<Event>,
    /// The alert id of each event.
    pub reported: Vec<String>,
}

/// Looks up the alert of each open ticket not yet reported gone (`gone`): one that is gone
/// becomes a cleared event as of `now` (`domain::alerts::clears`).
pub(super) async fn gone_alerts(
    acronis: &AcronisClient,
    store: &Store,
    (gone, recent): (&BTreeSet<String>, &BTreeSet<String>),
    now: DateTime<Utc>,
    run: &mut RunRecord,
) -> Result<Gone, StoreError> {
    // The open tickets of this connection's alerts.
    let open: Vec<AlertTicket> = store
        .open_alert_tickets()
        .await?
        .into_iter()
        .filter(|t| t.state == TicketState::Open && &t.connection == acronis.connection())
        .collect();
    let mut events = Vec::new();
    let mut reported = Vec::new();
    let unreported = clears::unreported(&open, gone);
    if unreported.is_empty() {
        return Ok(Gone {
            open,
            events,
            reported,
        });
    }
    let types: BTreeSet<String> = unreported
        .iter()
        .filter_map(|t| t.alert_type.clone())
        .collect();
    let active = match active_alert_ids(acronis, types.into_iter().collect()).await {
        Ok(ids) => ids,
        Err(e) => {
            run.failures.push(Failure {
                subject: "active alerts".into(),
                reason: format!("could not list the active alerts: {e}"),
                transient: e.is_transient(),
            });
            return Ok(Gone {
                open,
                events,
                reported,
            });
        }
    };
    let lookups: Vec<(AlertTicket, String)> = clears::to_look_up(&unreported, &active)
        .into_iter()
        .map(|(t, id)| (t.clone(), id))
        .collect();
    // Owned futures: a closure over borrowed data makes the future's Send-ness unprovable
    // to rustc when it is spawned (rust-lang/rust#110338).
    use futures::StreamExt as _;
    let found = futures::stream::iter(lookups.into_iter().map(|(t, id)| {
        let acronis = acronis.clone();
        async move {
            let result = acronis.alert(&id).await;
            (t, id, result)
        }
    }))
    .buffered(LOOKUPS_IN_FLIGHT)
    .collect::<Vec<_>>()
    .await;
    for (t, id, result) in found {
        let lookup = match result {
            Ok(alert) => clears::Lookup::Found(Box::new(alert)),
            Err(e) if e.is_not_found() => clears::Lookup::NotFound,
            Err(e) => {
                run.failures.push(Failure {
                    subject: format!("alert {id}"),
                    reason: format!("could not look up the alert of an open ticket: {e}"),
                    transient: e.is_transient(),
                });
                continue;
            }
        };
        if let Some(alert) = clears::clears_for(&t, lookup, recent, now) {
            events.push(Event::AlertCleared(AlertChanged {
                version: VERSION,
                alert_key: t.alert_key.clone(),
                company_id: t.company_id,
                connection: t.connection.clone(),
                alert,
            }));
            reported.push(id);
        }
    }
    Ok(Gone {
        open,
        events,
        reported,
    })
}

/// Alert lookups by id in flight at once.
const LOOKUPS_IN_FLIGHT: usize = 4;

/// The ids of the active (not cleared) alerts of these types, every page.
async fn active_alert_ids(
    acronis: &AcronisClient,
    types: Vec<String>,
) -> Result<BTreeSet<String>, crate::acronis::AcronisError> {
    let mut ids = BTreeSet::new();
    let mut query = AlertQuery {
        types,
        limit: 1000,
        ..AlertQuery::default()
    };
    let mut cursors = BTreeSet::new();
    loop {
        let page = acronis.alerts_page(&query).await?;
        ids.extend(page.items.iter().map(|a| a.id.clone()));
        match page.after() {
            // A repeated cursor would loop forever.
            Some(after) if cursors.insert(after.to_owned()) => query.after = Some(after.to_owned()),
            _ => return Ok(ids),
        }
    }
}

/// A cleared alert may not show as cleared: whether the API marks it (`deletedAt`) or drops it
/// is not documented. Every `sweep_every`, the alert of each open ticket is looked up by id; one
/// that is gone is reported cleared, once (the cursor remembers it while its ticket is open).
#[allow(clippy::too_many_arguments)]
pub(super) async fn sweep(
    acronis: &AcronisClient,
    store: &Store,
    bus: &EventBus,
    run: &mut RunRecord,
    opts: &PollOptions,
    report: &mut PollReport,
    cursor: AlertCursor,
    expected: Option<AlertCursor>,
) -> Result<(), PollError> {
    let now = crate::clock::now();
    let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    if !sweep_due(&cursor, opts, now) {
        return Ok(());
    }
    let mut gone: BTreeSet<String> = cursor.gone.iter().cloned().collect();
    let Gone {
        open,
        events,
        reported,
    } = gone_alerts(
        acronis,
        store,
        (&gone, &cursor.seen.iter().cloned().collect()),
        now,
        run,
    )
    .await?;
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
        .advance_cursor(&cursor_name(acronis.connection()), expected.as_ref(), &next)
        .await?;
    if published.failed.is_empty() {
        Ok(())
    } else {
        Err(PollError::Bus(published.failed.len()))
    }
}

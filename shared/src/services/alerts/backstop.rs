//! The backstop of the ticket callbacks: a callback can be lost, so while a technician's close
//! dismisses alerts (`clear_alert_on_close`), each reconciler cycle lists the alert board's
//! tickets of ours changed since its cursor whose status counts as fixed (a fixed status
//! need not be a closed one, so `closedFlag` is not asked for), and puts a
//! `ticket.updated` event on the bus for each, as the webhook would have. The ticket sync
//! decides as for a callback, so a close already handled dismisses nothing twice.
//!
//! The cursor moves to the cycle's start only when every event is on the bus; off (or with
//! no board), nothing is read and the cursor is left where it was.

use crate::bus::{Action, EventSink, Origin, TicketChanged};
use crate::connectwise::{Conditions, ListQuery};
use crate::domain::alerts::dismissals::is_fixed;

use super::*;

/// When the backstop last looked.
pub const TICKETS_CURSOR: &str = "reconciler-tickets";
/// Re-read this much before the cursor: clocks and ConnectWise's own commit lag.
const OVERLAP_MINUTES: i64 = 5;
/// How far back its first cycle looks (or the first after it was switched on).
const FIRST_LOOK_BACK_HOURS: i64 = 24;

/// What the backstop did in one cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backstop {
    /// Closed tickets of ours in a fixed status, changed since the cursor.
    pub found: usize,
    pub published: usize,
}

/// One cycle of the backstop (see the module).
pub async fn closed_tickets(
    cw: &ConnectWiseClient,
    store: &Store,
    bus: &impl EventSink,
    run_id: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Backstop> {
    let settings: AlertSettings = store.section().await?;
    let Some(board) = settings.board_id.filter(|_| settings.clear_alert_on_close) else {
        return Ok(Backstop::default());
    };
    let cursor: Option<DateTime<Utc>> = store.cursor(TICKETS_CURSOR).await?;
    let since = cursor.map_or(now - Duration::hours(FIRST_LOOK_BACK_HOURS), |c| {
        c - Duration::minutes(OVERLAP_MINUTES)
    });
    let conditions = Conditions::new()
        .eq("board/id", board)
        .gt("lastUpdated", since)
        .like(
            "externalXRef",
            &format!("{}%", crate::domain::alerts::ALERT_KEY_SCHEME),
        );
    let tickets = cw.tickets(&ListQuery::conditions(conditions)).await?;
    let events: Vec<Event> = tickets
        .iter()
        .filter(|t| is_fixed(&settings, t.status.as_ref().and_then(|s| s.name.as_deref())))
        .map(|t| {
            Event::Ticket(TicketChanged {
                version: VERSION,
                ticket_id: t.id,
                action: Action::Updated,
                origin: Origin::Reconciler {
                    run_id: run_id.to_owned(),
                },
                observed_at: now,
            })
        })
        .collect();
    let report = bus.publish_events(&events).await;
    if !report.all_published() {
        anyhow::bail!(
            "{} of {} ticket events could not be put on the bus; the cursor holds",
            report.failed.len(),
            events.len()
        );
    }
    store
        .advance_cursor(TICKETS_CURSOR, cursor.as_ref(), &now)
        .await?;
    Ok(Backstop {
        found: events.len(),
        published: report.published,
    })
}

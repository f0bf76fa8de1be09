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

mod backstop;
mod dismiss;
mod poll;
mod ports;
mod preview;
mod sweep;
#[cfg(test)]
mod tests;
mod ticket_writes;
mod tickets;

pub use backstop::{Backstop, TICKETS_CURSOR, closed_tickets};
pub use dismiss::AlertDismiss;
pub use poll::*;
pub use ports::{TicketApi, TicketStore};
pub use preview::*;
pub use tickets::*;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration as StdDuration;

use backon::Retryable as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::acronis::models::Alert;
use crate::acronis::{AcronisClient, AcronisError, AlertQuery};
use crate::bus::{AlertChanged, Event, EventBus, VERSION};
use crate::connectwise::models::{NewTicket, NewTicketNote, PatchOp, Reference, Ticket};
use crate::connectwise::{ConnectWiseClient, CwError};
use crate::domain::alerts::{
    self as rules, AlertEvent, AlertSettings, BoardCatalog, PollStep, TicketAction, TicketNow,
    TypeMapping,
};
use crate::store::{AlertTicket, Change, Failure, RunRecord, Store, StoreError, TicketState};

/// The poller's cursor name.
pub const CURSOR: &str = "alert-poller";
/// Dedupe scope of handled deliveries.
const DEDUPE_SCOPE: &str = "ticket-sync";
const DEDUPE_TTL: StdDuration = StdDuration::from_secs(14 * 86_400);
/// Most `(id, updatedAt)` pairs the cursor keeps (an item must stay small).
const MAX_SEEN: usize = 5_000;

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

/// Validates the mapping against its board; refuses a status, type, subtype or priority
/// not on the board with a message naming it.
pub async fn check_settings(
    cw: &ConnectWiseClient,
    settings: &AlertSettings,
) -> Result<(), SaveError> {
    settings.validate().map_err(SaveError::Invalid)?;
    if let Some(board_id) = settings.board_id {
        let catalog = board_catalog(cw, board_id).await?;
        settings
            .validate_against(&catalog)
            .map_err(SaveError::Invalid)?;
    }
    Ok(())
}

/// Checks the mapping ([`check_settings`]) and saves it.
pub async fn save_settings(
    cw: &ConnectWiseClient,
    store: &Store,
    settings: &AlertSettings,
) -> Result<(), SaveError> {
    check_settings(cw, settings).await?;
    store.save_section(settings).await?;
    Ok(())
}

//! What the ticket sync needs from ConnectWise ([`TicketApi`]) and from the table
//! ([`TicketStore`]): narrow ports, so that each branch of the sync is unit-tested with the
//! in-memory fakes of [`crate::testing`] in milliseconds, and the local stack proves the
//! whole with the real client and store.

use std::future::Future;
use std::time::Duration as StdDuration;

use crate::connectwise::models::{NewTicket, NewTicketNote, PatchOp, Ticket};
use crate::connectwise::{ConnectWiseClient, CwError};
use crate::domain::alerts::AlertSettings;
use crate::store::{AlertTicket, Store, StoreError};

/// The ConnectWise side of the ticket sync: tickets and their notes.
pub trait TicketApi: Clone + Send + Sync + std::fmt::Debug {
    fn ticket(&self, id: i64) -> impl Future<Output = Result<Ticket, CwError>> + Send;
    /// Never retried blind: on [`CwError::Timeout`] look the ticket up by `externalXRef`.
    fn create_ticket(&self, t: &NewTicket) -> impl Future<Output = Result<Ticket, CwError>> + Send;
    fn update_ticket(
        &self,
        id: i64,
        ops: &[PatchOp],
    ) -> impl Future<Output = Result<Ticket, CwError>> + Send;
    fn add_ticket_note(
        &self,
        ticket_id: i64,
        note: &NewTicketNote,
    ) -> impl Future<Output = Result<(), CwError>> + Send;
    /// The newest ticket carrying `key` in `externalXRef` that `keep` accepts (an empty
    /// answer confirmed by a second read).
    fn ticket_by_xref_confirmed(
        &self,
        key: &str,
        keep: impl Fn(&Ticket) -> bool + Send + Sync,
    ) -> impl Future<Output = Result<Option<Ticket>, CwError>> + Send;
}

/// The table side of the ticket sync: the alert mapping, the ticket records (conditional
/// writes) and the deliveries handled.
pub trait TicketStore: Clone + Send + Sync + std::fmt::Debug {
    fn alert_settings(&self) -> impl Future<Output = Result<AlertSettings, StoreError>> + Send;
    /// `false` when `id` was remembered already within `ttl`.
    fn remember_once(
        &self,
        scope: &str,
        id: &str,
        ttl: StdDuration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn forget(&self, scope: &str, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn alert_ticket(
        &self,
        alert_key: &str,
    ) -> impl Future<Output = Result<Option<AlertTicket>, StoreError>> + Send;
    /// Creates the record only if none exists: `false` when another delivery has it.
    fn create_alert_ticket(
        &self,
        t: &AlertTicket,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Writes the record if its stored revision is the one before `t`'s, else
    /// [`StoreError::Conflict`].
    fn update_alert_ticket(
        &self,
        t: &AlertTicket,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl TicketApi for ConnectWiseClient {
    async fn ticket(&self, id: i64) -> Result<Ticket, CwError> {
        ConnectWiseClient::ticket(self, id).await
    }
    async fn create_ticket(&self, t: &NewTicket) -> Result<Ticket, CwError> {
        ConnectWiseClient::create_ticket(self, t).await
    }
    async fn update_ticket(&self, id: i64, ops: &[PatchOp]) -> Result<Ticket, CwError> {
        ConnectWiseClient::update_ticket(self, id, ops).await
    }
    async fn add_ticket_note(&self, ticket_id: i64, note: &NewTicketNote) -> Result<(), CwError> {
        ConnectWiseClient::add_ticket_note(self, ticket_id, note)
            .await
            .map(|_| ())
    }
    async fn ticket_by_xref_confirmed(
        &self,
        key: &str,
        keep: impl Fn(&Ticket) -> bool + Send + Sync,
    ) -> Result<Option<Ticket>, CwError> {
        ConnectWiseClient::ticket_by_xref_confirmed(self, key, keep).await
    }
}

impl TicketStore for Store {
    async fn alert_settings(&self) -> Result<AlertSettings, StoreError> {
        self.section().await
    }
    async fn remember_once(
        &self,
        scope: &str,
        id: &str,
        ttl: StdDuration,
    ) -> Result<bool, StoreError> {
        Store::remember_once(self, scope, id, ttl).await
    }
    async fn forget(&self, scope: &str, id: &str) -> Result<(), StoreError> {
        Store::forget(self, scope, id).await
    }
    async fn alert_ticket(&self, alert_key: &str) -> Result<Option<AlertTicket>, StoreError> {
        Store::alert_ticket(self, alert_key).await
    }
    async fn create_alert_ticket(&self, t: &AlertTicket) -> Result<bool, StoreError> {
        Store::create_alert_ticket(self, t).await
    }
    async fn update_alert_ticket(&self, t: &AlertTicket) -> Result<(), StoreError> {
        Store::update_alert_ticket(self, t).await
    }
}

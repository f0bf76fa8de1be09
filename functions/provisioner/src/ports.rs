//! What the provisioner needs of the provisioning service ([`CompanySync`]): the company's
//! single flight, an agreement's company, and the needs-attention ticket's two ports. The
//! real one is [`Provisioning`]; the handler's tests use a fake.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::connectwise::ConnectWiseClient;
use shared::services::alerts::TicketApi;
use shared::services::attention::AttentionStore;
use shared::services::provisioning::{ProvisionError, Provisioning};
use shared::services::single_flight::Flight;
use shared::store::{RunRecord, Store};

pub trait CompanySync: Send + Sync {
    type Tickets: TicketApi;
    type Attention: AttentionStore;

    /// Brings a company to its target for a change (`company_id`, observed at `seen`,
    /// settling `settle`), unless another run covers it
    /// ([`Provisioning::sync_single_flight`]).
    fn sync_single_flight(
        &self,
        change: (i64, DateTime<Utc>, Duration),
        run: &mut RunRecord,
    ) -> impl Future<Output = Result<Flight, ProvisionError>> + Send;

    /// The company of agreement `agreement_id`; `None` when ConnectWise has no such
    /// agreement or it names no company.
    fn agreement_company(
        &self,
        agreement_id: i64,
    ) -> impl Future<Output = Result<Option<i64>, ProvisionError>> + Send;

    /// Where needs-attention tickets are kept.
    fn attention(&self) -> (&Self::Tickets, &Self::Attention);
}

impl CompanySync for Provisioning {
    type Tickets = ConnectWiseClient;
    type Attention = Store;

    async fn sync_single_flight(
        &self,
        (company_id, seen, settle): (i64, DateTime<Utc>, Duration),
        run: &mut RunRecord,
    ) -> Result<Flight, ProvisionError> {
        Provisioning::sync_single_flight(self, company_id, seen, settle, run).await
    }

    async fn agreement_company(&self, agreement_id: i64) -> Result<Option<i64>, ProvisionError> {
        match self.cw.agreement(agreement_id).await {
            Ok(agreement) => Ok(agreement.company.map(|c| c.id)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn attention(&self) -> (&ConnectWiseClient, &Store) {
        (&self.cw, &self.store)
    }
}

//! The typed endpoints the product uses, over the generic reads and writes.

use super::*;

impl ConnectWiseClient {
    pub async fn system_info(&self) -> Result<serde_json::Value, CwError> {
        self.get("system/info").await
    }
    /// The MSP's own time zone as ConnectWise names it (Windows' names, "Eastern Standard
    /// Time"): My Company's `serverTimeZone` (`/system/myCompany/other`), a time zone setup
    /// whose `timeZone.name` is the zone (`/system/timeZoneSetups/{id}`). `None` when
    /// ConnectWise has none set.
    pub async fn my_company_time_zone(&self) -> Result<Option<String>, CwError> {
        let others: Vec<MyCompanyOther> = self
            .list_all("system/myCompany/other", &ListQuery::default())
            .await?;
        let Some(setup) = others.into_iter().find_map(|o| o.server_time_zone) else {
            return Ok(None);
        };
        let setup: TimeZoneSetup = self
            .get(&format!("system/timeZoneSetups/{}", setup.id))
            .await?;
        Ok(setup
            .time_zone
            .and_then(|z| z.name)
            .filter(|n| !n.trim().is_empty()))
    }
    pub async fn companies(&self, q: &ListQuery) -> Result<Vec<Company>, CwError> {
        self.list_all("company/companies", q).await
    }
    pub async fn company(&self, id: i64) -> Result<Company, CwError> {
        self.get(&format!("company/companies/{id}")).await
    }
    pub async fn company_statuses(&self) -> Result<Vec<Named>, CwError> {
        self.list_all("company/companies/statuses", &ListQuery::default())
            .await
    }
    pub async fn company_types(&self) -> Result<Vec<Named>, CwError> {
        self.list_all("company/companies/types", &ListQuery::default())
            .await
    }
    pub async fn contacts(&self, q: &ListQuery) -> Result<Vec<Contact>, CwError> {
        self.list_all("company/contacts", q).await
    }
    pub async fn contact(&self, id: i64) -> Result<Contact, CwError> {
        self.get(&format!("company/contacts/{id}")).await
    }
    pub async fn agreements(&self, q: &ListQuery) -> Result<Vec<Agreement>, CwError> {
        self.list_all("finance/agreements", q).await
    }
    pub async fn agreement(&self, id: i64) -> Result<Agreement, CwError> {
        self.get(&format!("finance/agreements/{id}")).await
    }
    pub async fn additions(
        &self,
        agreement_id: i64,
        q: &ListQuery,
    ) -> Result<Vec<Addition>, CwError> {
        self.list_all(&format!("finance/agreements/{agreement_id}/additions"), q)
            .await
    }
    pub async fn addition(&self, agreement_id: i64, id: i64) -> Result<Addition, CwError> {
        self.get(&format!("finance/agreements/{agreement_id}/additions/{id}"))
            .await
    }
    pub async fn create_addition(
        &self,
        agreement_id: i64,
        a: &NewAddition,
    ) -> Result<Addition, CwError> {
        self.post(&format!("finance/agreements/{agreement_id}/additions"), a)
            .await
    }
    /// Sets an addition's quantity (PATCH `replace quantity`; idempotent).
    pub async fn set_addition_quantity(
        &self,
        agreement_id: i64,
        id: i64,
        quantity: f64,
    ) -> Result<Addition, CwError> {
        self.patch(
            &format!("finance/agreements/{agreement_id}/additions/{id}"),
            &[PatchOp::replace("quantity", quantity)],
        )
        .await
    }
    pub async fn catalog(&self, q: &ListQuery) -> Result<Vec<CatalogItem>, CwError> {
        self.list_all("procurement/catalog", q).await
    }
    pub async fn create_catalog_item(&self, item: &NewCatalogItem) -> Result<CatalogItem, CwError> {
        self.post("procurement/catalog", item).await
    }
    pub async fn boards(&self) -> Result<Vec<Board>, CwError> {
        self.list_all("service/boards", &ListQuery::default()).await
    }
    pub async fn board_statuses(&self, board_id: i64) -> Result<Vec<BoardStatus>, CwError> {
        self.list_all(
            &format!("service/boards/{board_id}/statuses"),
            &ListQuery::default(),
        )
        .await
    }
    pub async fn board_types(&self, board_id: i64) -> Result<Vec<Named>, CwError> {
        self.list_all(
            &format!("service/boards/{board_id}/types"),
            &ListQuery::default(),
        )
        .await
    }
    pub async fn board_subtypes(&self, board_id: i64) -> Result<Vec<BoardSubType>, CwError> {
        self.list_all(
            &format!("service/boards/{board_id}/subtypes"),
            &ListQuery::default(),
        )
        .await
    }
    pub async fn priorities(&self) -> Result<Vec<Named>, CwError> {
        self.list_all("service/priorities", &ListQuery::default())
            .await
    }
    pub async fn tickets(&self, q: &ListQuery) -> Result<Vec<Ticket>, CwError> {
        self.list_all("service/tickets", q).await
    }
    /// The tickets carrying `key` in `externalXRef` (case ignored, as ConnectWise compares),
    /// newest first: how a ticket whose creation answer was lost is found again.
    ///
    /// What a caller adopts a ticket on must be in the answer: a ticket without the key (or
    /// with another) or without `closedFlag` makes the lookup fail naming the field, never
    /// "no ticket" (after which a second one would be created).
    pub async fn tickets_by_xref(&self, key: &str) -> Result<Vec<Ticket>, CwError> {
        let q = ListQuery::conditions(Conditions::new().eq("externalXRef", key));
        let mut found: Vec<Ticket> = self.tickets(&q).await?;
        for t in &found {
            let problem = match (&t.external_x_ref, t.closed_flag) {
                (None, _) => "`externalXRef` is missing",
                (Some(x), _) if !x.eq_ignore_ascii_case(key) => "`externalXRef` is another key",
                (_, None) => "`closedFlag` is missing",
                _ => continue,
            };
            return Err(CwError::Decode {
                method: "GET".into(),
                path: "service/tickets".into(),
                reason: format!("ticket {}: {problem}", t.id),
            });
        }
        found.sort_by_key(|t| std::cmp::Reverse(t.id));
        Ok(found)
    }

    /// The newest ticket carrying `key` that `keep` accepts. Nothing found is confirmed by a
    /// second read, as it lets the caller create a ticket: a lookup answered empty once
    /// must not make a second ticket.
    pub async fn ticket_by_xref_confirmed(
        &self,
        key: &str,
        keep: impl Fn(&Ticket) -> bool,
    ) -> Result<Option<Ticket>, CwError> {
        for _ in 0..2 {
            if let Some(t) = self.tickets_by_xref(key).await?.into_iter().find(&keep) {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    pub async fn ticket(&self, id: i64) -> Result<Ticket, CwError> {
        self.get(&format!("service/tickets/{id}")).await
    }
    /// Never retried blind: on [`CwError::Timeout`] look the ticket up by `externalXRef`.
    pub async fn create_ticket(&self, t: &NewTicket) -> Result<Ticket, CwError> {
        self.post("service/tickets", t).await
    }
    pub async fn update_ticket(&self, id: i64, ops: &[PatchOp]) -> Result<Ticket, CwError> {
        self.patch(&format!("service/tickets/{id}"), ops).await
    }
    pub async fn add_ticket_note(
        &self,
        ticket_id: i64,
        note: &NewTicketNote,
    ) -> Result<TicketNote, CwError> {
        self.post(&format!("service/tickets/{ticket_id}/notes"), note)
            .await
    }
    pub async fn callbacks(&self, q: &ListQuery) -> Result<Vec<CallbackEntry>, CwError> {
        self.list_all("system/callbacks", q).await
    }
    pub async fn create_callback(&self, c: &NewCallback) -> Result<CallbackEntry, CwError> {
        self.post("system/callbacks", c).await
    }
    pub async fn delete_callback(&self, id: i64) -> Result<(), CwError> {
        self.delete(&format!("system/callbacks/{id}")).await
    }
}

//! Alert ↔ ticket records, and the collection of open ones.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;

impl Store {
    /// Creates the record of an alert key; false when one exists (another delivery won).
    pub async fn create_alert_ticket(&self, t: &AlertTicket) -> Result<bool, StoreError> {
        let item = self.alert_ticket_item(t)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        put_if(result)
    }

    /// Writes `t` if the stored revision is still `t.revision - 1`.
    pub async fn update_alert_ticket(&self, t: &AlertTicket) -> Result<(), StoreError> {
        let item = self.alert_ticket_item(t)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#rev = :prev")
            .expression_attribute_names("#rev", "revision")
            .expression_attribute_values(
                ":prev",
                AttributeValue::N(t.revision.saturating_sub(1).to_string()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict(format!(
                "alert ticket {}",
                t.alert_key
            ))),
            Err(e) => Err(dynamo(e)),
        }
    }

    pub(super) fn alert_ticket_item(&self, t: &AlertTicket) -> Result<Item, StoreError> {
        let mut item = Self::item(t, keys::alert(&t.alert_key), keys::TICKET)?;
        if t.state != TicketState::Closed {
            item.insert("gsi1pk".into(), s(keys::OPEN_TICKETS_INDEX));
            item.insert("gsi1sk".into(), s(t.alert_key.clone()));
        }
        Ok(item)
    }

    pub async fn alert_ticket(&self, alert_key: &str) -> Result<Option<AlertTicket>, StoreError> {
        self.get(keys::alert(alert_key), keys::TICKET).await
    }

    /// Alert tickets not closed.
    pub async fn open_alert_tickets(&self) -> Result<Vec<AlertTicket>, StoreError> {
        self.query_index(keys::OPEN_TICKETS_INDEX, None).await
    }
}

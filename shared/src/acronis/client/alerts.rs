//! Alert Manager: alerts and their types.

use super::*;

impl AcronisClient {
    /// One page of alerts in ascending `updated_at` order, with the cursor to the next.
    pub async fn alerts_page(&self, q: &AlertQuery) -> Result<Page<Alert>, AcronisError> {
        let limit = q.limit.clamp(1, 1000);
        let mut query = vec![("limit", limit.to_string())];
        if let Some(after) = &q.after {
            query.push(("after", after.clone()));
        } else {
            if let Some(ns) = q.updated_since_ns {
                query.push(("updated_at", format!("ge({ns})")));
            }
            query.push(("show_deleted", q.show_deleted.to_string()));
            query.push(("order", "asc(updated_at)".into()));
            for t in &q.types {
                query.push(("type", t.clone()));
            }
            if let Some(t) = &q.tenant {
                query.push(("tenant", t.clone()));
            }
        }
        self.json(
            Method::GET,
            "api/alert_manager/v1/alerts",
            &query,
            None::<&()>,
        )
        .await
    }

    /// One alert by id, cleared ones included (`show_deleted=true`).
    pub async fn alert(&self, id: &str) -> Result<Alert, AcronisError> {
        self.json(
            Method::GET,
            &format!("api/alert_manager/v1/alerts/{id}"),
            &[("show_deleted", "true".to_owned())],
            None::<&()>,
        )
        .await
    }

    /// Dismisses an alert (`DELETE /alerts/{id}`, 204). An alert Acronis no longer knows
    /// (404, "Alert was not found") is as good as dismissed: `Ok(false)`.
    pub async fn dismiss_alert(&self, id: &str) -> Result<bool, AcronisError> {
        match self
            .no_content(
                Method::DELETE,
                &format!("api/alert_manager/v1/alerts/{id}"),
                &[],
                None,
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The alert types registered in Alert Manager.
    pub async fn alert_types(&self) -> Result<Vec<AlertType>, AcronisError> {
        let page: Page<AlertType> = self
            .json(Method::GET, "api/alert_manager/v1/types", &[], None::<&()>)
            .await?;
        Ok(page.items)
    }
}

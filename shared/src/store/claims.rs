//! Provisioning claims (leases that keep two workers off one company) and the tenants deprovisioning disabled.

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;

impl Store {
    /// Claims a company for provisioning for `lease`; true when this caller holds it (a new
    /// claim, an expired one, or its own).
    pub async fn claim_company(
        &self,
        company_id: i64,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = crate::clock::now();
        let expires = now + chrono::Duration::from_std(lease).unwrap_or_default();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::company(company_id)))
            .item("sk", s(keys::CLAIM))
            .item("owner", s(owner))
            .item("ttl", epoch(expires))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now OR #owner = :owner")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", epoch(now))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        put_if(result)
    }

    /// Releases a claim this caller holds.
    pub async fn release_claim(&self, company_id: i64, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::company(company_id)))
            .key("sk", s(keys::CLAIM))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(s) if s.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(dynamo(e)),
        }
    }

    pub async fn put_disabled_tenant(&self, d: &DisabledTenant) -> Result<(), StoreError> {
        self.put(Self::item(d, keys::company(d.company_id), keys::DISABLED)?)
            .await
    }

    pub async fn disabled_tenant(
        &self,
        company_id: i64,
    ) -> Result<Option<DisabledTenant>, StoreError> {
        self.get(keys::company(company_id), keys::DISABLED).await
    }

    pub async fn clear_disabled_tenant(&self, company_id: i64) -> Result<(), StoreError> {
        self.delete(keys::company(company_id), keys::DISABLED).await
    }
}

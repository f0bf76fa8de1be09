//! Acronis Account Management v2 and Alert Manager v1 records.
//!
//! Fields Acronis may omit are optional; unknown fields are ignored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Cyber Protection application id.
pub const CYBER_PROTECTION_APP: &str = "6e6d758d-8e74-3ae3-ac84-50eb0dff12eb";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TenantContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
}

/// A tenant. What the product decides on is required as in the schema (`Tenants.Tenant`):
/// `version` (every write carries it), `kind` and `parent_id` (mapping), `enabled`
/// (disabling, re-enabling) and `internal_tag` (adopting a tenant a previous attempt made;
/// `null` on an untagged tenant, but never absent): an answer missing one is refused, never
/// read as a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub version: i64,
    #[serde(default)]
    pub name: Option<String>,
    pub kind: String,
    pub parent_id: String,
    pub enabled: bool,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub internal_tag: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub contact: Option<TenantContact>,
    #[serde(default)]
    pub mfa_status: Option<String>,
    #[serde(default)]
    pub pricing_mode: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<String>,
}

/// A field that must be present and may be `null` (`deserialize_with` makes a missing field
/// an error, where a plain `Option` would read it as `None`).
fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::deserialize(d)
}

/// `GET /tenants/{id}/pricing`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Pricing {
    /// `trial`, `production` or `suspended`.
    pub mode: String,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub production_start_date: Option<String>,
    pub version: i64,
}

/// `POST /tenants`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewTenant {
    pub name: String,
    pub kind: String,
    pub parent_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<TenantContact>,
}

/// The fields of a `PUT /tenants/{id}`; the client adds the current `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TenantPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<TenantContact>,
}

/// Quotas are whole numbers (items, bytes, seconds): written as integers, read leniently.
/// All three fields are required in Acronis' answers (`OfferingItems.Quota`; `value` and
/// `overage` may be `null`): a quota missing one is refused, never read as unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Quota {
    /// Soft quota; `None` with `overage: None` is unlimited.
    #[serde(deserialize_with = "whole_number")]
    pub value: Option<i64>,
    /// Hard allowance above `value`; `Some(0)` is a hard quota at exactly `value`.
    #[serde(deserialize_with = "whole_number")]
    pub overage: Option<i64>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferingItem {
    #[serde(default)]
    pub application_id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub edition: Option<String>,
    #[serde(default)]
    pub usage_name: Option<String>,
    /// `count`, `infra`, `feature`.
    #[serde(default, rename = "type")]
    pub item_type: Option<String>,
    #[serde(default)]
    pub infra_id: Option<String>,
    #[serde(default)]
    pub measurement_unit: Option<String>,
    /// 1 on, 0 off; required (`OfferingItems.OfferingItemOutput`): an item without it is
    /// refused, never read as off.
    pub status: i64,
    #[serde(default)]
    pub locked: Option<bool>,
    #[serde(default)]
    pub quota: Option<Quota>,
}

impl OfferingItem {
    /// The identity of an item within a tenant: name and, for storage, the storage.
    pub fn key(&self) -> (String, Option<String>) {
        (self.name.clone(), self.infra_id.clone())
    }
}

/// What an offering item should be, as a decision from the domain.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredItem {
    pub application_id: String,
    pub name: String,
    pub infra_id: Option<String>,
    pub enabled: bool,
    /// `None`: unlimited. Ignored when `enabled` is false.
    pub quota: Option<QuotaLimit>,
}

/// A quota value and its hard allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimit {
    pub value: i64,
    pub overage: Option<i64>,
}

/// An optional number that may arrive as `10` or `10.0`.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v: Option<f64> = Option::deserialize(d)?;
    Ok(v.map(|f| f.round() as i64))
}

/// One item of a `PUT /tenants/{id}/offering_items` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferingItemWrite {
    pub application_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infra_id: Option<String>,
    pub status: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub tenant_uuid: Option<String>,
    #[serde(default)]
    pub application_id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub usage_name: Option<String>,
    #[serde(default)]
    pub edition: Option<String>,
    #[serde(default, rename = "type")]
    pub usage_type: Option<String>,
    #[serde(default)]
    pub measurement_unit: Option<String>,
    #[serde(default)]
    pub infra_id: Option<String>,
    #[serde(default)]
    pub range_start: Option<String>,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub absolute_value: Option<f64>,
    /// The tenant's offering item for this usage (present only when one matches).
    #[serde(default)]
    pub offering_item: Option<UsageItemState>,
}

/// What a usage says of its offering item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UsageItemState {
    /// Required (`Usages.UsageOutputOfferingItem`).
    pub status: i64,
    #[serde(default)]
    pub quota: Option<Quota>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantUsages {
    pub tenant: String,
    #[serde(default)]
    pub usages: Vec<Usage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UserContact {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
}

/// A user. `version`, `tenant_id` and `login` are required (`Users.User`): whether the
/// first account exists is decided on its login and tenant, never on a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub version: i64,
    pub tenant_id: String,
    pub login: String,
    #[serde(default)]
    pub activated: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub mfa_status: Option<String>,
}

/// `POST /users`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewUser {
    pub tenant_id: String,
    pub login: String,
    pub contact: UserContact,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// One access policy (role) of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessPolicy {
    pub id: String,
    pub issuer_id: String,
    pub role_id: String,
    pub tenant_id: String,
    pub trustee_id: String,
    pub trustee_type: String,
    pub version: i64,
}

impl AccessPolicy {
    /// The company administrator role of `user` on `tenant`.
    pub fn company_admin(tenant_id: &str, user_id: &str) -> Self {
        const ZERO: &str = "00000000-0000-0000-0000-000000000000";
        Self {
            id: ZERO.into(),
            issuer_id: ZERO.into(),
            role_id: "company_admin".into(),
            tenant_id: tenant_id.into(),
            trustee_id: user_id.into(),
            trustee_type: "user".into(),
            version: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// `tenant` or `user`.
    pub obj_type: String,
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub parent_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AlertTenant {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub locator: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub id: String,
    #[serde(rename = "type")]
    pub alert_type: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Required: every alert the API lists has it (the `updated_at` filter is "when the
    /// alert was created or dismissed"), and the poll's mark and the `(id, updatedAt)`
    /// identity of an occurrence rest on it. An alert without it is refused naming it,
    /// never read as its `createdAt` (a re-raised alert keeps its id, so a repeat could read
    /// as the occurrence already carried and its note be lost).
    pub updated_at: DateTime<Utc>,
    /// When the alert was cleared. No vendor source shows the field's name: `deletedAt`
    /// (as its siblings) and `deleted_at` are both read.
    #[serde(default, alias = "deleted_at")]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tenant: AlertTenant,
    #[serde(default)]
    pub details: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertType {
    pub id: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
}

/// `{items, paging: {cursors: {after?}}}`. `items` is required in every list's schema: a
/// list without it is refused, never read as empty (an empty list can be taken for "no
/// such tenant" or "no active alert").
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub cursors: Option<Cursors>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Cursors {
    #[serde(default)]
    pub after: Option<String>,
}

impl<T> Page<T> {
    pub fn after(&self) -> Option<&str> {
        self.paging
            .as_ref()
            .and_then(|p| p.cursors.as_ref())
            .and_then(|c| c.after.as_deref())
            .filter(|a| !a.is_empty())
    }
}

/// `/idp/token` answer.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_on: Option<i64>,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// `/api/2/clients/{id}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiClientInfo {
    pub client_id: String,
    pub tenant_id: String,
}

/// A storage (infrastructure component), as `GET /infra/{id}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Infra {
    pub id: String,
    /// The name users see.
    #[serde(default)]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant() -> Value {
        json!({"id": "t1", "version": 2, "name": "T", "kind": "customer", "parent_id": "p",
               "enabled": false, "internal_tag": null})
    }

    #[test]
    fn a_tenant_without_what_the_product_decides_on_is_refused() {
        let t: Tenant = serde_json::from_value(tenant()).unwrap();
        assert_eq!((t.enabled, t.internal_tag), (false, None));
        for field in ["version", "kind", "parent_id", "enabled", "internal_tag"] {
            let mut v = tenant();
            v.as_object_mut().unwrap().remove(field);
            let err = serde_json::from_value::<Tenant>(v).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        let mut v = tenant();
        v["enabled"] = Value::Null;
        assert!(serde_json::from_value::<Tenant>(v).is_err(), "enabled null");
    }

    #[test]
    fn a_list_without_items_is_refused_not_empty() {
        assert!(serde_json::from_value::<Page<String>>(json!({})).is_err());
        let empty: Page<String> = serde_json::from_value(json!({"items": []})).unwrap();
        assert!(empty.items.is_empty());
    }
}

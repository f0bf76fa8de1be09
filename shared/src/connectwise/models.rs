//! ConnectWise Manage records as the integration reads and writes them.
//!
//! The spec marks fields required that ConnectWise omits, so every response field is an
//! `Option` (or defaults) except `id`; unknown fields are ignored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A reference to another record: `{id, name?, identifier?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

impl Reference {
    pub fn id(id: i64) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }
}

/// `_info` metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    #[serde(default)]
    pub last_updated: Option<DateTime<Utc>>,
    #[serde(default)]
    pub date_entered: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub id: i64,
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<Reference>,
    #[serde(default)]
    pub types: Option<Vec<Reference>>,
    #[serde(default)]
    pub default_contact: Option<Reference>,
    #[serde(default)]
    pub deleted_flag: Option<bool>,
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    /// What a connection rule may read (`provisioning.new_customers.by`).
    #[serde(default)]
    pub market: Option<Reference>,
    #[serde(default)]
    pub territory: Option<Reference>,
    #[serde(default)]
    pub country: Option<Reference>,
    #[serde(default, rename = "_info")]
    pub info: Option<Info>,
}

impl Company {
    /// What a connection rule reads of it.
    pub fn rule_fields(&self) -> crate::domain::connection::CompanyFields {
        let name = |r: &Option<Reference>| r.as_ref().and_then(|r| r.name.clone());
        crate::domain::connection::CompanyFields {
            types: self
                .types
                .iter()
                .flatten()
                .filter_map(|t| t.name.clone())
                .collect(),
            market: name(&self.market),
            territory: name(&self.territory),
            country: name(&self.country),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommunicationItem {
    #[serde(default, rename = "type")]
    pub kind: Option<Reference>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub default_flag: Option<bool>,
    #[serde(default)]
    pub communication_type: Option<String>,
}

impl CommunicationItem {
    /// Whether it is an e-mail address (by its communication type or its type's name).
    pub fn is_email(&self) -> bool {
        self.communication_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("email"))
            || self
                .kind
                .as_ref()
                .and_then(|k| k.name.as_deref())
                .is_some_and(|n| n.eq_ignore_ascii_case("email"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: i64,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub company: Option<Reference>,
    #[serde(default)]
    pub default_flag: Option<bool>,
    #[serde(default)]
    pub communication_items: Option<Vec<CommunicationItem>>,
    /// Contact types (`Billing`, `Technical`, …).
    #[serde(default)]
    pub types: Option<Vec<Reference>>,
    #[serde(default)]
    pub inactive_flag: Option<bool>,
}

impl Contact {
    /// Whether it has the contact type `name` (case-insensitive).
    pub fn has_type(&self, name: &str) -> bool {
        self.types.iter().flatten().any(|t| {
            t.name
                .as_deref()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name.trim()))
        })
    }

    /// The contact's email: the default email item first, else any email item.
    pub fn email(&self) -> Option<&str> {
        let items = self.communication_items.as_deref().unwrap_or_default();
        let is_email = |i: &&CommunicationItem| i.is_email();
        let usable = |i: &&CommunicationItem| i.value.as_deref().is_some_and(|v| v.contains('@'));
        items
            .iter()
            .filter(is_email)
            .filter(usable)
            .find(|i| i.default_flag == Some(true))
            .or_else(|| items.iter().filter(is_email).find(usable))
            .and_then(|i| i.value.as_deref())
            .map(str::trim)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub agreement_type: Option<Reference>,
    #[serde(default)]
    pub company: Option<Reference>,
    /// `Active`, `Cancelled`, `Expired`, `Inactive`.
    #[serde(default)]
    pub agreement_status: Option<String>,
    #[serde(default)]
    pub cancelled_flag: Option<bool>,
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub no_ending_date_flag: Option<bool>,
    #[serde(default)]
    pub billing_cycle: Option<Reference>,
    #[serde(default, rename = "_info")]
    pub info: Option<Info>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    pub id: i64,
    #[serde(default)]
    pub product: Option<Reference>,
    #[serde(default)]
    pub quantity: Option<f64>,
    #[serde(default)]
    pub less_included: Option<f64>,
    #[serde(default)]
    pub unit_price: Option<f64>,
    #[serde(default)]
    pub unit_cost: Option<f64>,
    /// `Billable`, `DoNotBill`, `NoCharge`.
    #[serde(default)]
    pub bill_customer: Option<String>,
    #[serde(default)]
    pub effective_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub cancelled_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub agreement_status: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub invoice_description: Option<String>,
    #[serde(default)]
    pub agreement_id: Option<i64>,
    #[serde(default, rename = "_info")]
    pub info: Option<Info>,
}

/// A new agreement addition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAddition {
    pub product: Reference,
    pub quantity: f64,
    pub bill_customer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_date: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    pub id: i64,
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub customer_description: Option<String>,
    #[serde(default)]
    pub inactive_flag: Option<bool>,
    #[serde(default)]
    pub category: Option<Reference>,
    #[serde(default)]
    pub subcategory: Option<Reference>,
    #[serde(default, rename = "type")]
    pub item_type: Option<Reference>,
    #[serde(default)]
    pub product_class: Option<String>,
    #[serde(default)]
    pub unit_of_measure: Option<Reference>,
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default)]
    pub cost: Option<f64>,
}

/// A new catalog product.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCatalogItem {
    pub identifier: String,
    pub description: String,
    pub customer_description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Reference>,
    pub subcategory: Reference,
    #[serde(rename = "type")]
    pub item_type: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_of_measure: Option<Reference>,
}

/// A named record of a reference list (company statuses and types, board types, priorities,
/// catalog categories...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Named {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
}

/// My Company's "Other" setup (`/system/myCompany/other`): what the product reads of it is
/// the company's time zone, `serverTimeZone`, a reference to a [`TimeZoneSetup`] (the
/// spec's `updateMemberTimeZonesFlag`: "Otherwise, only My Company time zone will be
/// updated").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyCompanyOther {
    pub id: i64,
    #[serde(default)]
    pub server_time_zone: Option<Named>,
}

/// A time zone setup (`/system/timeZoneSetups/{id}`): a name the MSP chose, and the zone,
/// `timeZone.name`, as Windows names it ("Eastern Standard Time").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeZoneSetup {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub time_zone: Option<Named>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Board {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub inactive_flag: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoardStatus {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub board: Option<Reference>,
    #[serde(default)]
    pub closed_status: Option<bool>,
    #[serde(default)]
    pub default_flag: Option<bool>,
    #[serde(default)]
    pub inactive: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoardSubType {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub board: Option<Reference>,
    #[serde(default)]
    pub type_association_ids: Option<Vec<i64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: i64,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub board: Option<Reference>,
    #[serde(default)]
    pub status: Option<Reference>,
    #[serde(default, rename = "type")]
    pub ticket_type: Option<Reference>,
    #[serde(default)]
    pub sub_type: Option<Reference>,
    #[serde(default)]
    pub priority: Option<Reference>,
    #[serde(default)]
    pub company: Option<Reference>,
    #[serde(default, rename = "externalXRef")]
    pub external_x_ref: Option<String>,
    #[serde(default)]
    pub closed_flag: Option<bool>,
    #[serde(default)]
    pub closed_date: Option<DateTime<Utc>>,
    #[serde(default, rename = "_info")]
    pub info: Option<Info>,
}

/// A new service ticket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTicket {
    pub summary: String,
    pub board: Reference,
    pub company: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Reference>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ticket_type: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Reference>,
    #[serde(rename = "externalXRef", skip_serializing_if = "Option::is_none")]
    pub external_x_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketNote {
    pub id: i64,
    #[serde(default)]
    pub ticket_id: Option<i64>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub detail_description_flag: Option<bool>,
    #[serde(default)]
    pub internal_analysis_flag: Option<bool>,
}

/// A new ticket note.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTicketNote {
    pub text: String,
    pub detail_description_flag: bool,
    pub internal_analysis_flag: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackEntry {
    pub id: i64,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub object_id: Option<i64>,
    #[serde(default, rename = "type")]
    pub callback_type: Option<String>,
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub inactive_flag: Option<bool>,
}

/// A new callback registration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCallback {
    pub url: String,
    pub object_id: i64,
    #[serde(rename = "type")]
    pub callback_type: String,
    pub level: String,
    pub description: String,
    pub inactive_flag: bool,
}

/// `GET /login/companyinfo/{company}` (PascalCase, unauthenticated).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompanyInfo {
    #[serde(default)]
    pub codebase: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub version_code: Option<String>,
}

/// `/count` answers.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Count {
    pub count: u64,
}

/// One operation of a ConnectWise PATCH body (not strict RFC 6902: `path` is a field name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOp {
    pub op: &'static str,
    pub path: String,
    pub value: Value,
}

impl PatchOp {
    pub fn replace(path: impl Into<String>, value: impl Serialize) -> Self {
        Self {
            op: "replace",
            path: path.into(),
            value: serde_json::to_value(value).unwrap_or(Value::Null),
        }
    }
}

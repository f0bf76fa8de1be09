//! What a company's provisioning run reads from the table, in one batch: the settings
//! sections its plan depends on, and the company's mapping, deprovisioning clock and next
//! change day (six items, one `BatchGetItem`, read consistently).

// This module adds to `Store`, over the helpers and imports of `store`.
use super::*;

use crate::domain::jobs::JobSettings;
use crate::domain::settings::{BillingSettings, ProvisioningSettings, Section};

/// The table's side of one company run.
#[derive(Debug, Clone, Default)]
pub struct CompanyRecords {
    pub provisioning: ProvisioningSettings,
    pub billing: BillingSettings,
    pub jobs: JobSettings,
    pub mapping: Option<CompanyMapping>,
    pub clock: Option<DeprovisionClock>,
    pub next_change: Option<NextChange>,
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn sk_of(item: &Item) -> Option<&str> {
    item.get("sk")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

impl Store {
    /// Reads [`CompanyRecords`] of a company in one batch.
    pub async fn company_records(&self, company_id: i64) -> Result<CompanyRecords, StoreError> {
        let settings = || keys::SETTINGS.to_owned();
        let company = || keys::company(company_id);
        let keys = vec![
            key(settings(), ProvisioningSettings::NAME),
            key(settings(), BillingSettings::NAME),
            key(settings(), JobSettings::NAME),
            key(company(), keys::MAPPING),
            key(company(), keys::NOT_QUALIFYING),
            key(company(), keys::NEXT_CHANGE),
        ];
        let mut records = CompanyRecords::default();
        for item in self.get_batch(keys).await? {
            let is_settings =
                item.get("pk").and_then(|v| v.as_s().ok()) == Some(&keys::SETTINGS.to_owned());
            match (is_settings, sk_of(&item)) {
                (true, Some(ProvisioningSettings::NAME)) => {
                    records.provisioning = Self::read(item)?;
                }
                (true, Some(BillingSettings::NAME)) => records.billing = Self::read(item)?,
                (true, Some(JobSettings::NAME)) => records.jobs = Self::read(item)?,
                (false, Some(keys::MAPPING)) => records.mapping = Some(Self::read(item)?),
                (false, Some(keys::NOT_QUALIFYING)) => records.clock = Some(Self::read(item)?),
                (false, Some(keys::NEXT_CHANGE)) => {
                    records.next_change = Some(Self::read(item)?);
                }
                _ => {}
            }
        }
        Ok(records)
    }
}

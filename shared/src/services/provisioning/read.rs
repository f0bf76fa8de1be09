//! What a company's plan is made from, read side by side: the company and its agreements
//! from ConnectWise, the additions of those in force on the MSP's day, and the table's side
//! (settings, mapping, deprovisioning clock, next change day) in one batch.

use chrono::NaiveDate;

use super::{CompanyView, ProvisionError, Provisioning};
use crate::connectwise::models::Company;
use crate::connectwise::{Conditions, ListQuery};
use crate::domain::calendar::{self, Zone};
use crate::domain::connection::{ConnectionName, NoConnection};
use crate::domain::quotas::{self, AgreementWithAdditions};
use crate::domain::settings::{BillingSettings, ProvisioningSettings};
use crate::store::{CompanyMapping, CompanyRecords, DeprovisionClock, ProductMapping, StoreError};

/// What [`Provisioning::read_for_plan`] read.
#[derive(Debug, Clone)]
pub(super) struct PlanInputs {
    pub(super) settings: ProvisioningSettings,
    pub(super) jobs: crate::domain::jobs::JobSettings,
    pub(super) next_change: Option<crate::store::NextChange>,
    pub(super) view: CompanyView,
    /// The company's Acronis connection: its mapping's, or for a new customer the one
    /// `provisioning.new_customers` chooses (an error when none: a person decides).
    pub(super) connection: Result<ConnectionName, NoConnection>,
}

/// What [`Provisioning::read_company`] reads from ConnectWise.
struct ConnectWiseReads {
    company: Option<Company>,
    all: Vec<crate::connectwise::models::Agreement>,
    agreements: Vec<AgreementWithAdditions>,
    today: NaiveDate,
}

impl ConnectWiseReads {
    fn with(
        self,
        mapping: Option<CompanyMapping>,
        clock: Option<DeprovisionClock>,
    ) -> CompanyReads {
        CompanyReads {
            company: self.company,
            all: self.all,
            agreements: self.agreements,
            // A clock without a mapping is left over: it acts on nothing.
            clock: clock.filter(|_| mapping.is_some()),
            mapping,
            today: self.today,
        }
    }
}

/// What [`Provisioning::view`] reads, before the settings turn it into a view.
#[derive(Debug, Clone)]
struct CompanyReads {
    company: Option<Company>,
    /// Every agreement of the company (for the next day one changes it).
    all: Vec<crate::connectwise::models::Agreement>,
    /// Those in force today, with their additions.
    agreements: Vec<AgreementWithAdditions>,
    mapping: Option<CompanyMapping>,
    clock: Option<DeprovisionClock>,
    today: NaiveDate,
}

impl CompanyReads {
    fn view(
        self,
        billing: &BillingSettings,
        mappings: &[ProductMapping],
    ) -> Result<CompanyView, quotas::Malformed> {
        let next_change = calendar::next_change(&self.all, &self.agreements, self.today);
        let plan = quotas::plan(&self.agreements, mappings, billing, self.today)?;
        Ok(CompanyView {
            company: self.company,
            agreements: self.agreements,
            mapping: self.mapping,
            clock: self.clock,
            plan,
            next_change,
        })
    }
}

impl Provisioning {
    /// The settings a company's plan depends on, read side by side.
    pub async fn settings(
        &self,
    ) -> Result<(ProvisioningSettings, BillingSettings, Vec<ProductMapping>), StoreError> {
        tokio::try_join!(
            self.store.section(),
            self.store.section(),
            self.store.product_mappings()
        )
    }

    /// Re-reads a company, its agreements in force with their additions, and its mapping.
    pub async fn view(
        &self,
        company_id: i64,
        billing: &BillingSettings,
        mappings: &[ProductMapping],
    ) -> Result<CompanyView, ProvisionError> {
        let (cw, mapping, clock) = tokio::try_join!(
            Box::pin(self.read_company(company_id, billing.zone())),
            async {
                self.store
                    .mapping_by_company(company_id)
                    .await
                    .map_err(ProvisionError::from)
            },
            async {
                self.store
                    .deprovision_clock(company_id)
                    .await
                    .map_err(ProvisionError::from)
            },
        )?;
        cw.with(mapping, clock)
            .view(billing, mappings)
            .map_err(|e| ProvisionError::Malformed(company_id, e))
    }

    /// The company's side of its view, read side by side: the company and its agreements at
    /// once, then the additions of each agreement in force on the MSP's day (in `zone`) at
    /// once.
    async fn read_company(
        &self,
        company_id: i64,
        zone: Zone,
    ) -> Result<ConnectWiseReads, ProvisionError> {
        let (company, all) = self.read_agreements(company_id).await?;
        self.read_in_force(company, all, zone).await
    }

    /// The company and all its agreements, side by side.
    async fn read_agreements(
        &self,
        company_id: i64,
    ) -> Result<(Option<Company>, Vec<crate::connectwise::models::Agreement>), ProvisionError> {
        let company = async {
            match self.cw.company(company_id).await {
                Ok(c) => Ok(Some(c)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(ProvisionError::from(e)),
            }
        };
        let agreements = async {
            self.cw
                .agreements(&ListQuery::conditions(
                    Conditions::new().eq("company/id", company_id),
                ))
                .await
                .map_err(ProvisionError::from)
        };
        // Boxed: client futures side by side would not fit a small stack unboxed.
        let (company, all) = tokio::try_join!(Box::pin(company), Box::pin(agreements))?;
        // A company gone has no agreements to act on.
        let all = if company.is_some() { all } else { Vec::new() };
        Ok((company, all))
    }

    /// The additions of the agreements in force today, the MSP's day in `zone`, side by side.
    async fn read_in_force(
        &self,
        company: Option<Company>,
        all: Vec<crate::connectwise::models::Agreement>,
        zone: Zone,
    ) -> Result<ConnectWiseReads, ProvisionError> {
        let today = calendar::local_day(crate::clock::now(), zone);
        let in_force: Vec<_> = all
            .iter()
            .filter(|a| calendar::agreement_in_force(a, today))
            .cloned()
            .collect();
        let agreements =
            futures::future::try_join_all(in_force.into_iter().map(|agreement| async move {
                let additions = self
                    .cw
                    .additions(agreement.id, &ListQuery::default())
                    .await?;
                Ok::<_, ProvisionError>(AgreementWithAdditions {
                    agreement,
                    additions,
                })
            }))
            .await?;
        Ok(ConnectWiseReads {
            company,
            all,
            agreements,
            today,
        })
    }

    /// Everything a company's plan is made from: the table's side in one batch (settings,
    /// mapping, clock, next change day) and the product mapping, beside the company's reads.
    pub(super) async fn read_for_plan(
        &self,
        company_id: i64,
    ) -> Result<PlanInputs, ProvisionError> {
        // The additions are read once the zone (in the batch) says which day it is.
        let (records, (company, all), mappings) = tokio::try_join!(
            async {
                self.store
                    .company_records(company_id)
                    .await
                    .map_err(ProvisionError::from)
            },
            Box::pin(self.read_agreements(company_id)),
            async {
                self.store
                    .product_mappings()
                    .await
                    .map_err(ProvisionError::from)
            },
        )?;
        let cw = Box::pin(self.read_in_force(company, all, records.billing.zone())).await?;
        let CompanyRecords {
            provisioning: settings,
            billing,
            jobs,
            mapping,
            clock,
            next_change,
        } = records;
        let known: Vec<ConnectionName> = self.connections.current().await.keys().cloned().collect();
        let connection = match (&mapping, &cw.company) {
            (Some(m), _) => Ok(m.connection.clone()),
            (None, Some(company)) => settings
                .new_customers
                .connection_for(&company.rule_fields(), &known),
            // A company gone is not provisioned anywhere.
            (None, None) => Err(NoConnection::Ambiguous {
                known: "none for a company ConnectWise no longer has".into(),
            }),
        };
        // The connection's product mappings make the quotas (the same offering item is a
        // different product in each); without one, any connection's say whether it qualifies.
        let mappings: Vec<ProductMapping> = match &connection {
            Ok(c) => mappings
                .into_iter()
                .filter(|m| &m.connection == c)
                .collect(),
            Err(_) => mappings,
        };
        let view = cw
            .with(mapping, clock)
            .view(&billing, &mappings)
            .map_err(|e| ProvisionError::Malformed(company_id, e))?;
        Ok(PlanInputs {
            settings,
            jobs,
            next_change,
            view,
            connection,
        })
    }
}

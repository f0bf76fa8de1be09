//! What to do with one company, pure: the view read about it ([`CompanyView`]) and the
//! plan made from it ([`CompanyPlan`]), the value `acw sync quotas --dry-run` prints and
//! `services::provisioning` carries out. Here rather than beside the reads so that a plan
//! can be made and tested without the clients or the store.

use chrono::{DateTime, NaiveDate, Utc};

use crate::connectwise::models::Company;
use crate::domain::deprovisioning::DeprovisionPlan;
use crate::domain::jobs::Job;
use crate::domain::provisioning::{self as rules, Decision};
use crate::domain::quotas::{AgreementWithAdditions, QuotaPlan};
use crate::domain::records::{CompanyMapping, DeprovisionClock};
use crate::domain::settings::ProvisioningSettings;

/// Everything read about a company for one decision.
#[derive(Debug, Clone)]
pub struct CompanyView {
    pub company: Option<Company>,
    pub agreements: Vec<AgreementWithAdditions>,
    pub mapping: Option<CompanyMapping>,
    /// The deprovisioning clock, when the mapped company was seen not qualifying.
    pub clock: Option<DeprovisionClock>,
    pub plan: QuotaPlan,
    /// The next day its agreements change its state by themselves.
    pub next_change: Option<NaiveDate>,
}

/// What to do with one company, carrying everything the executor needs: the plan
/// `acw sync quotas --dry-run` prints, and the value `Provisioning::apply` carries out.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
// One plan per company and run, moved a few times: the company's size is not worth a box.
#[allow(clippy::large_enum_variant)]
pub enum CompanyPlan {
    /// Create (or adopt) its tenant, account and quotas, then map it.
    Provision {
        company: Company,
        quotas: QuotaPlan,
        /// The tenant a failed attempt made and mapped, whose setup this finishes.
        #[serde(skip_serializing_if = "Option::is_none")]
        pending: Option<CompanyMapping>,
    },
    /// Bring the mapped tenant's quotas to the agreements (and stop a deprovisioning clock).
    SyncQuotas {
        mapping: CompanyMapping,
        clock: Option<DeprovisionClock>,
        quotas: QuotaPlan,
    },
    /// Run the deprovisioning steps that are due; keep the clock for the others.
    Deprovision {
        mapping: CompanyMapping,
        clock: Option<DeprovisionClock>,
        reason: String,
        steps: DeprovisionPlan,
    },
    Nothing {
        reason: String,
    },
}

impl CompanyPlan {
    /// The job this plan belongs to (a paused job holds it back).
    pub fn job(&self) -> Option<Job> {
        match self {
            Self::Provision { .. } | Self::Deprovision { .. } => Some(Job::Provisioning),
            Self::SyncQuotas { .. } => Some(Job::QuotaSync),
            Self::Nothing { .. } => None,
        }
    }

    /// The quotas it brings the tenant to, when it writes quotas.
    pub fn quotas(&self) -> Option<&QuotaPlan> {
        match self {
            Self::Provision { quotas, .. } | Self::SyncQuotas { quotas, .. } => Some(quotas),
            Self::Deprovision { .. } | Self::Nothing { .. } => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Provision { .. } => "provision",
            Self::SyncQuotas { .. } => "sync_quotas",
            Self::Deprovision { .. } => "deprovision",
            Self::Nothing { .. } => "nothing",
        }
    }
}

impl CompanyView {
    /// The plan for this company at `now`: the domain's decision, with what it acts on.
    pub fn plan(self, settings: &ProvisioningSettings, now: DateTime<Utc>) -> CompanyPlan {
        let decision = self.decide(settings, now);
        let (company, mapping, clock, quotas) = (self.company, self.mapping, self.clock, self.plan);
        match (decision, company, mapping) {
            (Decision::Provision, Some(company), pending) => CompanyPlan::Provision {
                company,
                quotas,
                pending,
            },
            (Decision::SyncQuotas, _, Some(mapping)) => CompanyPlan::SyncQuotas {
                mapping,
                clock,
                quotas,
            },
            (Decision::Deprovision { reason, plan }, _, Some(mapping)) => {
                CompanyPlan::Deprovision {
                    mapping,
                    clock,
                    reason,
                    steps: plan,
                }
            }
            (Decision::Nothing { reason }, _, _) => CompanyPlan::Nothing { reason },
            // `decide` provisions only a company it read, and syncs or deprovisions only a
            // mapped one.
            (other, _, _) => CompanyPlan::Nothing {
                reason: format!("inconsistent decision {other:?}"),
            },
        }
    }

    /// The provisioning decision for this view at `now`.
    pub fn decide(&self, settings: &ProvisioningSettings, now: DateTime<Utc>) -> Decision {
        let facts = rules::Facts {
            standing: rules::standing(self.company.as_ref()),
            mapped: self.mapping.is_some(),
            qualifies: self.plan.has_mapped_products,
            ever_qualified: self
                .mapping
                .as_ref()
                .is_some_and(CompanyMapping::ever_qualified),
            not_qualifying_since: self.clock.as_ref().map(|c| c.since),
            done: self.clock.as_ref().map_or(&[], |c| c.done.as_slice()),
            setup_pending: self.mapping.as_ref().is_some_and(|m| m.setup_pending),
        };
        rules::decide(&facts, settings, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectwise::models::Reference;
    use crate::domain::records::MappingOrigin;

    fn company(status: &str) -> Company {
        Company {
            country: Default::default(),
            market: Default::default(),
            territory: Default::default(),
            id: 5,
            identifier: Some("Acme".into()),
            name: Some("Acme Corp".into()),
            status: Some(Reference {
                id: 1,
                name: Some(status.into()),
                identifier: None,
            }),
            types: None,
            default_contact: None,
            deleted_flag: Some(false),
            address_line1: None,
            city: None,
            phone_number: None,
            website: None,
            info: None,
        }
    }

    fn mapping(origin: MappingOrigin) -> CompanyMapping {
        CompanyMapping {
            connection: Default::default(),
            company_id: 5,
            tenant_id: "t-5".into(),
            company_name: None,
            tenant_name: None,
            origin,
            mapped_at: Utc::now(),
            qualified_at: None,
            setup_pending: false,
            unknown: Default::default(),
        }
    }

    fn view(
        company: Option<Company>,
        mapping: Option<CompanyMapping>,
        qualifies: bool,
    ) -> CompanyView {
        CompanyView {
            company,
            agreements: Vec::new(),
            mapping,
            clock: None,
            plan: QuotaPlan {
                items: Vec::new(),
                has_mapped_products: qualifies,
            },
            next_change: None,
        }
    }

    fn auto() -> ProvisioningSettings {
        ProvisioningSettings {
            auto_provisioning: true,
            ..ProvisioningSettings::default()
        }
    }

    #[test]
    fn an_unmapped_qualifying_company_is_provisioned_with_what_was_read() {
        let v = view(Some(company("Active")), None, true);
        let plan = v.clone().plan(&auto(), Utc::now());
        assert_eq!(
            plan,
            CompanyPlan::Provision {
                company: company("Active"),
                quotas: v.plan.clone(),
                pending: None,
            }
        );
        assert_eq!(plan.job(), Some(Job::Provisioning));
        assert_eq!(plan.name(), "provision");
        assert_eq!(plan.quotas(), Some(&v.plan));
    }

    #[test]
    fn a_mapping_whose_setup_is_pending_is_provisioned_again_carrying_it() {
        let pending = CompanyMapping {
            setup_pending: true,
            ..mapping(MappingOrigin::Auto)
        };
        let plan =
            view(Some(company("Active")), Some(pending.clone()), true).plan(&auto(), Utc::now());
        assert!(
            matches!(&plan, CompanyPlan::Provision { pending: Some(p), .. } if *p == pending),
            "{plan:?}"
        );
    }

    #[test]
    fn a_mapped_qualifying_company_syncs_its_quotas() {
        let m = mapping(MappingOrigin::Auto);
        let plan = view(Some(company("Active")), Some(m.clone()), true)
            .plan(&ProvisioningSettings::default(), Utc::now());
        assert!(
            matches!(&plan, CompanyPlan::SyncQuotas { mapping, clock: None, .. } if *mapping == m),
            "{plan:?}"
        );
        assert_eq!(plan.job(), Some(Job::QuotaSync));
        assert_eq!(plan.name(), "sync_quotas");
    }

    #[test]
    fn a_mapped_company_gone_is_deprovisioned_and_writes_no_quotas() {
        let plan = view(None, Some(mapping(MappingOrigin::Auto)), false)
            .plan(&ProvisioningSettings::default(), Utc::now());
        assert!(
            matches!(&plan, CompanyPlan::Deprovision { reason, .. } if reason == "the company was deleted"),
            "{plan:?}"
        );
        assert_eq!(plan.job(), Some(Job::Provisioning));
        assert_eq!(plan.quotas(), None);
    }

    #[test]
    fn a_hand_mapped_company_that_never_qualified_is_left_alone() {
        let v = view(
            Some(company("Active")),
            Some(mapping(MappingOrigin::Manual)),
            false,
        );
        assert!(matches!(
            v.decide(&ProvisioningSettings::default(), Utc::now()),
            Decision::Nothing { .. }
        ));
        let plan = v.plan(&ProvisioningSettings::default(), Utc::now());
        assert_eq!(plan.job(), None);
        assert_eq!(plan.name(), "nothing");
    }

    #[test]
    fn the_plan_prints_tagged_by_its_action() {
        let plan = view(Some(company("Active")), None, false).plan(&auto(), Utc::now());
        let printed = serde_json::to_value(&plan).expect("a plan serializes");
        assert_eq!(printed["action"], "nothing");
        assert!(printed["reason"].is_string(), "{printed}");
    }
}

//! Provisioning decisions: what to do with one ConnectWise company, from current data.

use chrono::{DateTime, Utc};

use crate::connectwise::models::{Company, Contact};

use super::deprovisioning::{self, DeprovisionPlan};
use super::settings::{ProvisioningSettings, TenantMode};

/// The company as ConnectWise holds it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompanyStanding {
    /// Deleted (404 or `deletedFlag`).
    Gone,
    /// Its status is inactive.
    Inactive,
    Active,
}

/// Reads a company's standing. A status named "Inactive" (ConnectWise's stock inactive
/// status) makes a company inactive.
pub fn standing(company: Option<&Company>) -> CompanyStanding {
    match company {
        None => CompanyStanding::Gone,
        Some(c) if c.deleted_flag == Some(true) => CompanyStanding::Gone,
        Some(c)
            if c.status
                .as_ref()
                .and_then(|s| s.name.as_deref())
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("inactive")) =>
        {
            CompanyStanding::Inactive
        }
        Some(_) => CompanyStanding::Active,
    }
}

pub use super::deprovisioning::DeprovisionStep;

/// What to do with a company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Create (or adopt) its tenant, account and quotas, then map it.
    Provision,
    /// Mapped and qualifying: bring the tenant's quotas to the agreements.
    SyncQuotas,
    /// Mapped but no longer qualifying: run the steps that are due (possibly none); the
    /// others wait for their day.
    Deprovision {
        reason: String,
        plan: DeprovisionPlan,
    },
    /// Nothing to do, and why.
    Nothing { reason: String },
}

/// What is known about a company when deciding for it.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub standing: CompanyStanding,
    pub mapped: bool,
    /// An agreement in force holds a mapped product.
    pub qualifies: bool,
    /// It qualified at some time since it was mapped (a company mapped by hand before its
    /// agreement exists has not, and is never deprovisioned for lacking one).
    pub ever_qualified: bool,
    /// Since when it has been seen not qualifying, and the steps already run.
    pub not_qualifying_since: Option<DateTime<Utc>>,
    pub done: &'a [DeprovisionStep],
    /// Its tenant exists but an earlier attempt did not finish setting it up (account, mode,
    /// two-factor).
    pub setup_pending: bool,
}

/// Decides for one company at `now`.
pub fn decide(facts: &Facts<'_>, settings: &ProvisioningSettings, now: DateTime<Utc>) -> Decision {
    let deprovision = |reason: &str| {
        let since = facts.not_qualifying_since.unwrap_or(now);
        Decision::Deprovision {
            reason: reason.into(),
            plan: deprovisioning::plan(&settings.deprovisioning, since, facts.done, now),
        }
    };
    match (facts.mapped, facts.standing, facts.qualifies) {
        (true, _, _) if !facts.qualifies && !facts.ever_qualified => Decision::Nothing {
            reason: "no agreement has held a mapped product since the company was mapped".into(),
        },
        (true, CompanyStanding::Gone, _) => deprovision("the company was deleted"),
        (true, CompanyStanding::Inactive, _) => deprovision("the company is inactive"),
        (true, CompanyStanding::Active, false) => {
            deprovision("no agreement in force holds a mapped product")
        }
        // Provisioning finishes what an earlier attempt left undone (quotas included).
        (true, CompanyStanding::Active, true) if facts.setup_pending => Decision::Provision,
        (true, CompanyStanding::Active, true) => Decision::SyncQuotas,
        (false, CompanyStanding::Active, true) if settings.auto_provisioning => Decision::Provision,
        (false, CompanyStanding::Active, true) => Decision::Nothing {
            reason: "auto-provisioning is off".into(),
        },
        (false, CompanyStanding::Active, false) => Decision::Nothing {
            reason: "no agreement in force holds a mapped product".into(),
        },
        (false, _, _) => Decision::Nothing {
            reason: "the company is not mapped and not active".into(),
        },
    }
}

/// The pricing mode to put a tenant in, if it must change: only trial → production, as
/// `mode` asks (a tenant in production, or suspended, is never written: the switch is
/// once and cannot be undone).
pub fn pricing_change(mode: TenantMode, current: &str) -> Option<&'static str> {
    (mode == TenantMode::Production && current.eq_ignore_ascii_case("trial"))
        .then_some("production")
}

/// The tenant's name: the company name, trimmed, or its identifier.
pub fn tenant_name(company: &Company) -> Result<String, String> {
    let name = company
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(company
            .identifier
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty()))
        .ok_or_else(|| {
            format!(
                "company {} has neither a name nor an identifier",
                company.id
            )
        })?;
    Ok(name.chars().take(128).collect())
}

/// The tag put on a tenant so that a retry finds and adopts it instead of creating another.
pub fn tenant_tag(company_id: i64) -> String {
    format!("cw-company-{company_id}")
}

/// The first account of a tenant, from the company's primary contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPlan {
    pub login: String,
    pub email: String,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
}

/// Where the first account comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountSource<'a> {
    PrimaryContact,
    /// The company's first active contact (lowest id) of this contact type.
    ContactType(&'a str),
}

impl<'a> AccountSource<'a> {
    pub fn of(settings: &'a ProvisioningSettings) -> Self {
        match settings.account_contact_type.trim() {
            "" => Self::PrimaryContact,
            t => Self::ContactType(t),
        }
    }
}

/// The contact of `contact_type` an account comes from: the first active one by id.
pub fn contact_of_type<'c>(contacts: &'c [Contact], contact_type: &str) -> Option<&'c Contact> {
    contacts
        .iter()
        .filter(|c| c.inactive_flag != Some(true) && c.has_type(contact_type))
        .min_by_key(|c| c.id)
}

/// Whether the contact's e-mail items can be chosen from: of several, the account's is the
/// one marked default, so an e-mail item without `defaultFlag` (or without its `value`)
/// would let another address be taken for it.
pub fn contact_malformed(contact: &Contact) -> Option<super::quotas::Malformed> {
    let emails: Vec<_> = contact
        .communication_items
        .iter()
        .flatten()
        .filter(|i| i.is_email())
        .collect();
    let malformed = |field| super::quotas::Malformed {
        what: format!("ConnectWise contact {}", contact.id),
        field,
        problem: "is missing on an e-mail item".into(),
    };
    if emails.iter().any(|i| i.value.is_none()) {
        return Some(malformed("communicationItems.value"));
    }
    if emails.len() > 1 && emails.iter().any(|i| i.default_flag.is_none()) {
        return Some(malformed("communicationItems.defaultFlag"));
    }
    None
}

/// The account from a contact: the login is its email address (lower case).
pub fn account_from_contact(
    company: &Company,
    source: AccountSource<'_>,
    contact: Option<&Contact>,
) -> Result<AccountPlan, String> {
    let contact = contact.ok_or_else(|| match source {
        AccountSource::PrimaryContact => format!(
            "company {} has no primary contact: set a default contact in ConnectWise, or turn off account creation",
            company.id
        ),
        AccountSource::ContactType(t) => format!(
            "company {} has no active contact of type {t:?}: add one in ConnectWise, or set provisioning.account_contact_type= (empty) to use the primary contact",
            company.id
        ),
    })?;
    let email = contact.email().ok_or_else(|| {
        format!(
            "contact {} of company {} has no email address: add one in ConnectWise so the account can be activated",
            contact.id, company.id
        )
    })?;
    let email = email.to_lowercase();
    if email.len() < 3 || email.contains(char::is_whitespace) || !email.contains('@') {
        return Err(format!(
            "contact {}'s email {email:?} is not a usable login",
            contact.id
        ));
    }
    Ok(AccountPlan {
        login: email.clone(),
        email,
        firstname: contact.first_name.clone().filter(|s| !s.trim().is_empty()),
        lastname: contact.last_name.clone().filter(|s| !s.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectwise::models::{CommunicationItem, Reference};

    fn company(status: &str) -> Company {
        Company {
            country: Default::default(),
            market: Default::default(),
            territory: Default::default(),
            id: 5,
            identifier: Some("Acme".into()),
            name: Some(" Acme Corp ".into()),
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

    fn facts(
        standing: CompanyStanding,
        mapped: bool,
        qualifies: bool,
        ever_qualified: bool,
    ) -> Facts<'static> {
        Facts {
            standing,
            mapped,
            qualifies,
            ever_qualified,
            not_qualifying_since: None,
            done: &[],
            setup_pending: false,
        }
    }

    #[test]
    fn decision_table() {
        let auto = ProvisioningSettings {
            auto_provisioning: true,
            ..ProvisioningSettings::default()
        };
        let manual = ProvisioningSettings::default();
        let now = Utc::now();
        use CompanyStanding::*;
        let d = |f: Facts<'_>, s: &ProvisioningSettings| decide(&f, s, now);
        assert_eq!(
            d(facts(Active, false, true, false), &auto),
            Decision::Provision
        );
        for (f, s) in [
            (facts(Active, false, true, false), &manual),
            (facts(Active, false, false, false), &auto),
            (facts(Gone, false, true, false), &auto),
        ] {
            assert!(matches!(d(f, s), Decision::Nothing { .. }), "{f:?}");
        }
        assert_eq!(
            d(facts(Active, true, true, true), &manual),
            Decision::SyncQuotas
        );
        // A tenant left half set up is finished while the company qualifies, auto or not,
        // and deprovisioned like any other once it does not.
        let pending = |standing, qualifies| Facts {
            setup_pending: true,
            ..facts(standing, true, qualifies, true)
        };
        assert_eq!(d(pending(Active, true), &manual), Decision::Provision);
        assert!(matches!(
            d(pending(Active, false), &manual),
            Decision::Deprovision { .. }
        ));
        for (standing, qualifies) in [(Gone, true), (Inactive, true), (Active, false)] {
            match d(facts(standing, true, qualifies, true), &manual) {
                Decision::Deprovision { plan, .. } => {
                    assert_eq!(plan.due, vec![DeprovisionStep::QuotasToZero]);
                    assert_eq!(plan.since, now, "the clock starts now");
                }
                other => panic!("{standing:?}/{qualifies}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_company_mapped_before_it_ever_qualified_is_left_alone() {
        let now = Utc::now();
        let s = ProvisioningSettings::default();
        for standing in [
            CompanyStanding::Active,
            CompanyStanding::Inactive,
            CompanyStanding::Gone,
        ] {
            assert!(matches!(
                decide(&facts(standing, true, false, false), &s, now),
                Decision::Nothing { .. }
            ));
        }
        // Once it has qualified, losing its agreement deprovisions it.
        assert!(matches!(
            decide(&facts(CompanyStanding::Active, true, false, true), &s, now),
            Decision::Deprovision { .. }
        ));
    }

    #[test]
    fn the_clock_counts_from_the_first_time_seen_and_skips_what_ran() {
        let s = ProvisioningSettings {
            deprovisioning: crate::domain::settings::DeprovisionSettings {
                disable: true,
                ..Default::default()
            },
            ..ProvisioningSettings::default()
        };
        let now = Utc::now();
        let since = now - chrono::Duration::days(11);
        let f = Facts {
            not_qualifying_since: Some(since),
            done: &[DeprovisionStep::QuotasToZero],
            ..facts(CompanyStanding::Active, true, false, true)
        };
        match decide(&f, &s, now) {
            Decision::Deprovision { plan, .. } => {
                assert_eq!(plan.since, since);
                assert_eq!(plan.due, vec![DeprovisionStep::Disable]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_account_contact_of_a_type_is_the_first_active_one() {
        let contact = |id: i64, types: &[&str], inactive: bool| Contact {
            id,
            first_name: None,
            last_name: None,
            company: None,
            default_flag: None,
            communication_items: None,
            types: Some(
                types
                    .iter()
                    .map(|t| Reference {
                        id: 1,
                        name: Some((*t).into()),
                        identifier: None,
                    })
                    .collect(),
            ),
            inactive_flag: Some(inactive),
        };
        let list = [
            contact(9, &["Billing"], false),
            contact(3, &["Billing"], true),
            contact(5, &["technical", "billing"], false),
            contact(1, &["Technical"], false),
        ];
        assert_eq!(contact_of_type(&list, "Billing").map(|c| c.id), Some(5));
        assert_eq!(contact_of_type(&list, " technical ").map(|c| c.id), Some(1));
        assert!(contact_of_type(&list, "Owner").is_none());
        let manual = ProvisioningSettings::default();
        assert_eq!(AccountSource::of(&manual), AccountSource::PrimaryContact);
        let typed = ProvisioningSettings {
            account_contact_type: "Billing".into(),
            ..manual
        };
        assert_eq!(
            AccountSource::of(&typed),
            AccountSource::ContactType("Billing")
        );
    }

    #[test]
    fn only_a_trial_tenant_is_switched_and_only_to_production() {
        use TenantMode::*;
        assert_eq!(pricing_change(Production, "trial"), Some("production"));
        assert_eq!(pricing_change(Production, "Trial"), Some("production"));
        assert_eq!(pricing_change(Production, "production"), None);
        assert_eq!(pricing_change(Production, "suspended"), None);
        for current in ["trial", "production", "suspended"] {
            assert_eq!(pricing_change(Trial, current), None);
        }
    }

    #[test]
    fn standing_reads_deleted_and_inactive() {
        assert_eq!(standing(None), CompanyStanding::Gone);
        assert_eq!(standing(Some(&company("Active"))), CompanyStanding::Active);
        assert_eq!(
            standing(Some(&company("inactive"))),
            CompanyStanding::Inactive
        );
        let mut deleted = company("Active");
        deleted.deleted_flag = Some(true);
        assert_eq!(standing(Some(&deleted)), CompanyStanding::Gone);
    }

    #[test]
    fn account_needs_a_contact_with_email() {
        let c = company("Active");
        assert!(
            account_from_contact(&c, AccountSource::PrimaryContact, None)
                .unwrap_err()
                .contains("no primary contact")
        );
        assert!(
            account_from_contact(&c, AccountSource::ContactType("Billing"), None)
                .unwrap_err()
                .contains("no active contact of type \"Billing\"")
        );
        let mut contact = Contact {
            id: 9,
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            company: None,
            default_flag: Some(true),
            communication_items: Some(vec![]),
            types: None,
            inactive_flag: None,
        };
        assert!(
            account_from_contact(&c, AccountSource::PrimaryContact, Some(&contact))
                .unwrap_err()
                .contains("has no email address")
        );
        contact.communication_items = Some(vec![CommunicationItem {
            kind: Some(Reference {
                id: 1,
                name: Some("Email".into()),
                identifier: None,
            }),
            value: Some("Ann.Lee@Example.com".into()),
            default_flag: Some(true),
            communication_type: Some("Email".into()),
        }]);
        let a = account_from_contact(&c, AccountSource::PrimaryContact, Some(&contact)).unwrap();
        assert_eq!(
            (a.login.as_str(), a.firstname.as_deref()),
            ("ann.lee@example.com", Some("Ann"))
        );
        assert_eq!(tenant_name(&c).unwrap(), "Acme Corp");
    }

    #[test]
    fn an_email_item_without_value_or_of_several_without_default_flag_is_malformed() {
        let email = |value: Option<&str>, default: Option<bool>| CommunicationItem {
            kind: None,
            value: value.map(str::to_owned),
            default_flag: default,
            communication_type: Some("Email".into()),
        };
        let contact = |items: Vec<CommunicationItem>| -> Contact {
            serde_json::from_value::<Contact>(serde_json::json!({"id": 5}))
                .map(|c| Contact {
                    communication_items: Some(items),
                    ..c
                })
                .unwrap()
        };
        let field = |items| contact_malformed(&contact(items)).map(|m| m.field);
        assert_eq!(field(vec![email(Some("a@x.example"), None)]), None, "one");
        assert_eq!(
            field(vec![
                email(Some("a@x.example"), Some(false)),
                email(Some("b@x.example"), Some(true))
            ]),
            None
        );
        assert_eq!(
            field(vec![
                email(Some("a@x.example"), None),
                email(Some("b@x.example"), Some(true))
            ]),
            Some("communicationItems.defaultFlag")
        );
        assert_eq!(
            field(vec![email(None, Some(true))]),
            Some("communicationItems.value")
        );
    }
}

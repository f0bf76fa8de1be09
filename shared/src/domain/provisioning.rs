//! Provisioning decisions: what to do with one ConnectWise company, from current data.

use crate::connectwise::models::{Company, Contact};

use super::settings::{DeprovisionSettings, ProvisioningSettings};

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

/// One deprovisioning step, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeprovisionStep {
    QuotasToZero,
    Disable,
    Delete,
}

/// What to do with a company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Create (or adopt) its tenant, account and quotas, then map it.
    Provision,
    /// Mapped and qualifying: bring the tenant's quotas to the agreements.
    SyncQuotas,
    /// Mapped but no longer qualifying: run these steps (possibly none).
    Deprovision {
        reason: String,
        steps: Vec<DeprovisionStep>,
    },
    /// Nothing to do, and why.
    Nothing { reason: String },
}

/// The configured deprovisioning steps, in order.
pub fn deprovision_steps(s: &DeprovisionSettings) -> Vec<DeprovisionStep> {
    let mut steps = Vec::new();
    if s.quotas_to_zero {
        steps.push(DeprovisionStep::QuotasToZero);
    }
    if s.disable || s.delete {
        // Acronis deletes only disabled tenants.
        steps.push(DeprovisionStep::Disable);
    }
    if s.delete {
        steps.push(DeprovisionStep::Delete);
    }
    steps
}

/// Decides for one company from its standing, whether it is mapped, and whether an
/// agreement in force holds a mapped product.
pub fn decide(
    standing: CompanyStanding,
    mapped: bool,
    qualifies: bool,
    settings: &ProvisioningSettings,
) -> Decision {
    let deprovision = |reason: &str| Decision::Deprovision {
        reason: reason.into(),
        steps: deprovision_steps(&settings.deprovisioning),
    };
    match (mapped, standing, qualifies) {
        (true, CompanyStanding::Gone, _) => deprovision("the company was deleted"),
        (true, CompanyStanding::Inactive, _) => deprovision("the company is inactive"),
        (true, CompanyStanding::Active, false) => {
            deprovision("no agreement in force holds a mapped product")
        }
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

/// The account from a contact: the login is its email address (lower case).
pub fn account_from_contact(
    company: &Company,
    contact: Option<&Contact>,
) -> Result<AccountPlan, String> {
    let contact = contact.ok_or_else(|| {
        format!(
            "company {} has no primary contact: set a default contact in ConnectWise, or turn off account creation",
            company.id
        )
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

    #[test]
    fn decision_table() {
        let auto = ProvisioningSettings {
            auto_provisioning: true,
            ..ProvisioningSettings::default()
        };
        let manual = ProvisioningSettings::default();
        use CompanyStanding::*;
        assert_eq!(decide(Active, false, true, &auto), Decision::Provision);
        assert!(matches!(
            decide(Active, false, true, &manual),
            Decision::Nothing { .. }
        ));
        assert!(matches!(
            decide(Active, false, false, &auto),
            Decision::Nothing { .. }
        ));
        assert!(matches!(
            decide(Gone, false, true, &auto),
            Decision::Nothing { .. }
        ));
        assert_eq!(decide(Active, true, true, &manual), Decision::SyncQuotas);
        for (standing, qualifies) in [(Gone, true), (Inactive, true), (Active, false)] {
            match decide(standing, true, qualifies, &manual) {
                Decision::Deprovision { steps, .. } => {
                    assert_eq!(steps, vec![DeprovisionStep::QuotasToZero])
                }
                other => panic!("{standing:?}/{qualifies}: {other:?}"),
            }
        }
    }

    #[test]
    fn deprovision_steps_follow_the_settings_in_order() {
        let all = DeprovisionSettings {
            quotas_to_zero: true,
            disable: true,
            delete: true,
        };
        use DeprovisionStep::*;
        assert_eq!(deprovision_steps(&all), vec![QuotasToZero, Disable, Delete]);
        let delete_only = DeprovisionSettings {
            quotas_to_zero: false,
            disable: false,
            delete: true,
        };
        assert_eq!(
            deprovision_steps(&delete_only),
            vec![Disable, Delete],
            "delete needs disable first"
        );
        assert!(
            deprovision_steps(&DeprovisionSettings {
                quotas_to_zero: false,
                ..Default::default()
            })
            .is_empty()
        );
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
            account_from_contact(&c, None)
                .unwrap_err()
                .contains("no primary contact")
        );
        let mut contact = Contact {
            id: 9,
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            company: None,
            default_flag: Some(true),
            communication_items: Some(vec![]),
        };
        assert!(
            account_from_contact(&c, Some(&contact))
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
        let a = account_from_contact(&c, Some(&contact)).unwrap();
        assert_eq!(
            (a.login.as_str(), a.firstname.as_deref()),
            ("ann.lee@example.com", Some("Ann"))
        );
        assert_eq!(tenant_name(&c).unwrap(), "Acme Corp");
    }
}

//! The API calls a sale cannot avoid: what a new company with agreements in force costs at
//! the least, under the provisioning settings. `make bench-provisioning` divides the calls
//! it measured by this sum (its `ratio=`); `ARCHITECTURE.md` explains each item.
//!
//! Not counted: the Acronis token and the partner tenant, read once per function instance
//! and shared by every company it provisions.

use super::settings::{ProvisioningSettings, TenantMode};

/// One call a sale cannot avoid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnavoidableCall {
    /// `ConnectWise` or `Acronis`.
    pub api: &'static str,
    pub call: &'static str,
    pub why: &'static str,
}

/// What was sold to one company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sale {
    /// Agreements in force that hold additions.
    pub agreements: usize,
    /// Whether an addition maps to an offering item (a quota to write).
    pub maps_to_items: bool,
}

/// The calls that provision `sale` under `settings`, in the order they run.
pub fn unavoidable_calls(settings: &ProvisioningSettings, sale: Sale) -> Vec<UnavoidableCall> {
    let cw = |call, why| UnavoidableCall {
        api: "ConnectWise",
        call,
        why,
    };
    let acronis = |call, why| UnavoidableCall {
        api: "Acronis",
        call,
        why,
    };
    let mut calls = vec![
        cw(
            "GET /company/companies/{id}",
            "its name, identifier, status and primary contact",
        ),
        cw(
            "GET /finance/agreements?conditions=company/id=…",
            "the agreements that may hold Acronis products",
        ),
    ];
    for _ in 0..sale.agreements {
        calls.push(cw(
            "GET /finance/agreements/{id}/additions",
            "the products and quantities of each agreement in force",
        ));
    }
    let account = settings.create_account_from_primary_contact;
    if account {
        calls.push(if settings.account_contact_type.trim().is_empty() {
            cw(
                "GET /company/contacts/{id}",
                "the primary contact's name and email, for the tenant and its account",
            )
        } else {
            cw(
                "GET /company/contacts?conditions=company/id=…",
                "the contact of the configured type, for the tenant and its account",
            )
        });
    }
    calls.push(acronis("POST /tenants", "the customer tenant"));
    if sale.maps_to_items {
        calls.push(acronis(
            "GET /tenants/{id}/offering_items",
            "which items the platform enabled on the new tenant, with the versions a write needs",
        ));
        calls.push(acronis(
            "PUT /tenants/{id}/offering_items",
            "the quotas of what was sold",
        ));
    }
    if account {
        calls.push(acronis("POST /users", "the first account"));
        calls.push(acronis(
            "PUT /users/{id}/access_policies",
            "the company administrator role",
        ));
        if settings.send_activation_email {
            calls.push(acronis(
                "POST /users/{id}/send-activation-email",
                "the activation email",
            ));
        }
    }
    if settings.tenant_mode == TenantMode::Production {
        calls.push(acronis(
            "GET /tenants/{id}/pricing",
            "the pricing version a mode change needs",
        ));
        calls.push(acronis(
            "PUT /tenants/{id}/pricing",
            "production mode (Acronis creates tenants in trial)",
        ));
    }
    if settings.two_factor {
        calls.push(acronis(
            "PUT /tenants/{id}/mfa/status",
            "two-factor sign-in",
        ));
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(settings: &ProvisioningSettings, agreements: usize) -> usize {
        unavoidable_calls(
            settings,
            Sale {
                agreements,
                maps_to_items: true,
            },
        )
        .len()
    }

    #[test]
    fn a_sale_under_the_defaults_costs_twelve_calls_plus_one_per_extra_agreement() {
        let defaults = ProvisioningSettings::default();
        // company, agreements, additions, contact; tenant, items read and write, user,
        // role, activation email, pricing read and write.
        assert_eq!(count(&defaults, 1), 12);
        assert_eq!(count(&defaults, 3), 14);
    }

    #[test]
    fn each_setting_adds_or_removes_its_own_calls() {
        let base = ProvisioningSettings::default();
        let no_email = ProvisioningSettings {
            send_activation_email: false,
            ..base.clone()
        };
        assert_eq!(count(&no_email, 1), 11);
        let no_account = ProvisioningSettings {
            create_account_from_primary_contact: false,
            ..base.clone()
        };
        // No contact, user, role or email.
        assert_eq!(count(&no_account, 1), 8);
        let trial = ProvisioningSettings {
            tenant_mode: TenantMode::Trial,
            ..base.clone()
        };
        assert_eq!(count(&trial, 1), 10);
        let two_factor = ProvisioningSettings {
            two_factor: true,
            ..base
        };
        assert_eq!(count(&two_factor, 1), 13);
        let nothing_mapped = unavoidable_calls(
            &ProvisioningSettings::default(),
            Sale {
                agreements: 1,
                maps_to_items: false,
            },
        );
        assert!(
            !nothing_mapped
                .iter()
                .any(|c| c.call.contains("offering_items"))
        );
    }
}

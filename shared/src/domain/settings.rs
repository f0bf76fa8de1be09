//! The product's settings, stored in DynamoDB (one item per section) with the vendor's
//! defaults when never saved. Each section validates itself before it is saved.

use serde::{Deserialize, Serialize};

/// Section names in the store.
pub const PROVISIONING: &str = "provisioning";
pub const BILLING: &str = "billing";

/// A settings section: a type stored as one item under its own name, whose `Default` is
/// what holds until it is first saved. Read and written only through
/// `Store::section` and `Store::save_section`.
pub trait Section: Serialize + serde::de::DeserializeOwned + Default {
    /// Its name in the store.
    const NAME: &'static str;
}

impl Section for ProvisioningSettings {
    const NAME: &'static str = PROVISIONING;
}

impl Section for BillingSettings {
    const NAME: &'static str = BILLING;
}

impl Section for super::usage::UsageSettings {
    const NAME: &'static str = super::usage::SECTION;
}

impl Section for super::alerts::AlertSettings {
    const NAME: &'static str = super::alerts::SECTION;
}

impl Section for super::attention::AttentionSettings {
    const NAME: &'static str = super::attention::SECTION;
}

impl Section for super::jobs::JobSettings {
    const NAME: &'static str = super::jobs::SECTION;
}

impl Section for super::products::ProductSettings {
    const NAME: &'static str = super::products::SECTION;
}

/// What happens when a company stops qualifying, and after how many days (counted from the
/// first time the product saw it not qualifying). Vendor defaults: quotas to zero at once;
/// disable off (after 10 days when on); delete off (after 30 days when on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeprovisionSettings {
    /// Set every enabled offering item's quota to zero (usage is kept).
    pub quotas_to_zero: bool,
    pub quotas_to_zero_after_days: u32,
    /// Disable the tenant (Acronis keeps billing a disabled tenant's usage).
    pub disable: bool,
    pub disable_after_days: u32,
    /// Delete the tenant, its users and backups (irreversible; needs `disable`).
    pub delete: bool,
    pub delete_after_days: u32,
}

/// The longest grace period accepted (ten years).
pub const MAX_GRACE_DAYS: u32 = 3650;

impl Default for DeprovisionSettings {
    fn default() -> Self {
        Self {
            quotas_to_zero: true,
            quotas_to_zero_after_days: 0,
            disable: false,
            disable_after_days: 10,
            delete: false,
            delete_after_days: 30,
        }
    }
}

/// The pricing mode new tenants are put in. Acronis creates customers in trial, leaves
/// their usage out of the partner's monthly reports, and switches them only after a full
/// trial month; the switch to production is once and for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TenantMode {
    #[default]
    Production,
    Trial,
}

/// Provisioning settings (the vendor's "Provisioning" tab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProvisioningSettings {
    /// Create tenants automatically for companies whose active agreements hold mapped products.
    pub auto_provisioning: bool,
    /// Create the tenant's first account (from the company's primary contact, or from
    /// its first contact of `account_contact_type`).
    pub create_account_from_primary_contact: bool,
    /// Empty: the account comes from the primary (default) contact. A contact type name
    /// (`Billing`, `Technical`): from the company's first active contact of that type.
    pub account_contact_type: String,
    /// Let the account holder set the password from an activation email.
    pub send_activation_email: bool,
    /// Require two-factor authentication in new tenants.
    pub two_factor: bool,
    /// Language of new tenants and accounts.
    pub language: String,
    /// Pricing mode of new tenants (production unless trial is chosen).
    pub tenant_mode: TenantMode,
    pub deprovisioning: DeprovisionSettings,
    /// Which Acronis connection a new customer's tenant is created in.
    pub new_customers: crate::domain::connection::NewCustomerRule,
}

impl Default for ProvisioningSettings {
    fn default() -> Self {
        Self {
            auto_provisioning: false,
            create_account_from_primary_contact: true,
            account_contact_type: String::new(),
            send_activation_email: true,
            two_factor: false,
            language: "en".into(),
            tenant_mode: TenantMode::Production,
            deprovisioning: DeprovisionSettings::default(),
            new_customers: Default::default(),
        }
    }
}

impl ProvisioningSettings {
    /// Refuses combinations Acronis would refuse later, with what to fix.
    pub fn validate(&self) -> Result<(), String> {
        let d = &self.deprovisioning;
        if d.delete && !d.disable {
            return Err("deprovisioning.delete needs deprovisioning.disable: Acronis deletes only disabled tenants".into());
        }
        for (name, days) in [
            ("quotas_to_zero_after_days", d.quotas_to_zero_after_days),
            ("disable_after_days", d.disable_after_days),
            ("delete_after_days", d.delete_after_days),
        ] {
            if days > MAX_GRACE_DAYS {
                return Err(format!(
                    "deprovisioning.{name} is {days}; at most {MAX_GRACE_DAYS}"
                ));
            }
        }
        if d.delete && d.delete_after_days < d.disable_after_days {
            return Err(format!(
                "deprovisioning.delete_after_days ({}) must not be before disable_after_days ({}): Acronis deletes only disabled tenants",
                d.delete_after_days, d.disable_after_days
            ));
        }
        if self.language.len() != 2 || !self.language.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(format!(
                "language {:?} must be a two-letter code such as en",
                self.language
            ));
        }
        Ok(())
    }
}

/// Billing settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BillingSettings {
    /// An addition is pay-as-you-go when its agreement's type name contains one of these
    /// (case-insensitive); every other addition is prepaid. ConnectWise admins already sort
    /// agreements by type, so this is where they look.
    pub payg_agreement_types: Vec<String>,
    /// The MSP's time zone (an IANA name): ConnectWise's agreement and addition dates are
    /// its calendar days, so every "today", in-force check and billing day is taken there,
    /// and the daily sweep's slots are quarter hours of its day. Never set (and in items
    /// stored before this setting): UTC, and `acw setup` sets the zone ConnectWise gives.
    pub time_zone: Option<super::calendar::Zone>,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            payg_agreement_types: vec![
                "pay as you go".into(),
                "pay-as-you-go".into(),
                "payg".into(),
                "usage".into(),
            ],
            time_zone: None,
        }
    }
}

impl BillingSettings {
    /// The MSP's time zone: the one set, else UTC.
    pub fn zone(&self) -> super::calendar::Zone {
        self.time_zone.unwrap_or_default()
    }

    pub fn validate(&self) -> Result<(), String> {
        if self
            .payg_agreement_types
            .iter()
            .any(|t| t.trim().is_empty())
        {
            return Err("payg_agreement_types must not hold blank names".into());
        }
        Ok(())
    }

    /// Whether an agreement of this type name bills by usage.
    pub fn is_payg_type(&self, agreement_type: Option<&str>) -> bool {
        let Some(name) = agreement_type else {
            return false;
        };
        let name = name.to_lowercase();
        self.payg_agreement_types
            .iter()
            .any(|t| name.contains(&t.to_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_vendors() {
        let p = ProvisioningSettings::default();
        assert!(
            !p.auto_provisioning
                && p.create_account_from_primary_contact
                && p.send_activation_email
                && !p.two_factor
                && p.tenant_mode == TenantMode::Production
        );
        assert_eq!(
            p.deprovisioning,
            DeprovisionSettings {
                quotas_to_zero: true,
                quotas_to_zero_after_days: 0,
                disable: false,
                disable_after_days: 10,
                delete: false,
                delete_after_days: 30,
            }
        );
        assert!(p.validate().is_ok());
    }

    #[test]
    fn delete_needs_disable() {
        let mut p = ProvisioningSettings::default();
        p.deprovisioning.delete = true;
        assert!(
            p.validate()
                .unwrap_err()
                .contains("needs deprovisioning.disable")
        );
        p.deprovisioning.disable = true;
        assert!(p.validate().is_ok());
        p.deprovisioning.delete_after_days = 5;
        assert!(
            p.validate()
                .unwrap_err()
                .contains("before disable_after_days")
        );
        p.deprovisioning.delete_after_days = 4000;
        assert!(p.validate().unwrap_err().contains("at most 3650"));
    }

    #[test]
    fn another_versions_keys_are_read_and_missing_ones_default() {
        let p: ProvisioningSettings =
            serde_json::from_str(r#"{"auto_provisioning": true}"#).unwrap();
        assert!(p.auto_provisioning && p.send_activation_email);
        // A key of another version is no error (what an operator types is checked by
        // `unknown_fields::paths` instead).
        let later: ProvisioningSettings = serde_json::from_str(
            r#"{"auto_provisioning": true, "connection": "eu", "deprovisioning": {"archive": true}}"#,
        )
        .unwrap();
        assert_eq!(later, p);
    }

    #[test]
    fn payg_by_agreement_type() {
        let b = BillingSettings::default();
        assert!(b.is_payg_type(Some("Acronis Pay-As-You-Go")));
        assert!(b.is_payg_type(Some("Backup USAGE")));
        assert!(!b.is_payg_type(Some("Managed Services")));
        assert!(!b.is_payg_type(None));
    }

    #[test]
    fn the_time_zone_is_utc_in_items_stored_before_it_and_checked_when_given() {
        let old: BillingSettings =
            serde_json::from_str(r#"{"payg_agreement_types": ["metered"]}"#).unwrap();
        assert_eq!(old.time_zone, None);
        assert_eq!(old.zone(), super::super::calendar::Zone::UTC);
        assert_eq!(old.payg_agreement_types, ["metered"]);
        let b: BillingSettings =
            serde_json::from_str(r#"{"time_zone": "America/New_York"}"#).unwrap();
        assert_eq!(b.zone().name(), "America/New_York");
        assert_eq!(
            serde_json::to_value(&b).unwrap()["time_zone"],
            "America/New_York"
        );
        let err = serde_json::from_str::<BillingSettings>(r#"{"time_zone": "EST-ish"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown time zone"), "{err}");
    }
}

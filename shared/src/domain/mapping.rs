//! Whether a company may be mapped to a tenant by hand (or by a match), pure: a company is
//! mapped at most once; an existing tenant must be a customer of this partner, mapped to
//! no other company. The store refuses a taken company or tenant again when it writes.

use crate::acronis::models::Tenant;
use crate::domain::records::CompanyMapping;

/// Refused when `company_id` is already mapped (`mapping`).
pub fn company_free(company_id: i64, mapping: Option<&CompanyMapping>) -> Result<(), String> {
    match mapping {
        Some(m) => Err(format!(
            "company {company_id} is already mapped to tenant {}; unmap it first",
            m.tenant_id
        )),
        None => Ok(()),
    }
}

/// Refused unless `tenant` is a customer of `partner_id` and mapped to no company
/// (`mapped_to`: the company it is mapped to, if any).
pub fn tenant_mappable(
    tenant: &Tenant,
    partner_id: &str,
    mapped_to: Option<i64>,
) -> Result<(), String> {
    if tenant.kind != "customer" {
        return Err(format!(
            "tenant {} is a {} tenant; only customer tenants can be mapped",
            tenant.id, tenant.kind
        ));
    }
    if tenant.parent_id != partner_id {
        return Err(format!(
            "tenant {} is not a customer of this partner",
            tenant.id
        ));
    }
    if let Some(company) = mapped_to {
        return Err(format!(
            "tenant {} is already mapped to company {company}; unmap it first",
            tenant.id
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant(kind: &str, parent: &str) -> Tenant {
        serde_json::from_value(
            json!({"id": "t1", "version": 1, "kind": kind, "parent_id": parent,
                                     "enabled": true, "internal_tag": null}),
        )
        .unwrap()
    }

    #[test]
    fn only_an_unmapped_customer_of_this_partner() {
        assert!(tenant_mappable(&tenant("customer", "p"), "p", None).is_ok());
        let e = tenant_mappable(&tenant("partner", "p"), "p", None).unwrap_err();
        assert!(e.contains("only customer tenants"), "{e}");
        let e = tenant_mappable(&tenant("customer", "other"), "p", None).unwrap_err();
        assert!(e.contains("not a customer of this partner"), "{e}");
        let e = tenant_mappable(&tenant("customer", "p"), "p", Some(9)).unwrap_err();
        assert!(e.contains("already mapped to company 9"), "{e}");
    }

    #[test]
    fn a_company_is_mapped_once() {
        assert!(company_free(1, None).is_ok());
        let m = CompanyMapping {
            connection: Default::default(),
            unknown: Default::default(),
            company_id: 1,
            tenant_id: "t1".into(),
            company_name: None,
            tenant_name: None,
            origin: crate::domain::records::MappingOrigin::Manual,
            mapped_at: chrono::Utc::now(),
            qualified_at: None,
            setup_pending: false,
        };
        assert!(
            company_free(1, Some(&m))
                .unwrap_err()
                .contains("unmap it first")
        );
    }
}

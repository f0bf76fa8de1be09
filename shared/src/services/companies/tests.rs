//! Mapping by hand over a fake of both accounts and the table.

use super::*;
use crate::domain::connection::ConnectionName;
use crate::store::RunRecord;
use crate::testing::FakeMappings;

fn accounts() -> FakeMappings {
    let fake = FakeMappings::default();
    fake.company(1, "Acme Ltd", &["Customer"]);
    fake.company(2, "Globex", &["Prospect"]);
    fake.company(3, "Initech", &["customer", "Partner"]);
    fake.customer("t-acme", "Acme Ltd");
    fake.customer("t-globex", "Globex Corporation");
    fake
}

fn needs_attention(err: ProvisionError) -> String {
    match err {
        ProvisionError::NeedsAttention(m) => m,
        other => panic!("expected needs-attention, got {other}"),
    }
}

#[tokio::test]
async fn a_pair_is_refused_with_the_reason_when_either_side_cannot_be_mapped() {
    let fake = accounts();
    fake.tenant("t-other", "Elsewhere", "customer", "another-partner");
    fake.tenant("t-partner", "Reseller", "partner", crate::testing::PARTNER);
    fake.mapped(2, "t-globex");
    let refusal = |company, tenant: &'static str| {
        let fake = fake.clone();
        async move { needs_attention(check_pair(&fake, company, tenant, &[]).await.unwrap_err()) }
    };
    assert!(
        refusal(9, "t-acme")
            .await
            .contains("ConnectWise has no company 9")
    );
    assert!(
        refusal(1, "t-gone")
            .await
            .contains("Acronis has no tenant t-gone")
    );
    assert!(
        refusal(1, "t-other")
            .await
            .contains("not a customer of this partner")
    );
    assert!(
        refusal(1, "t-partner")
            .await
            .contains("only customer tenants")
    );
    assert!(
        refusal(1, "t-globex")
            .await
            .contains("already mapped to company 2")
    );
    check_pair(&fake, 1, "t-acme", &[]).await.unwrap();
    // Config as code unmaps company 2 first: its tenant is free for company 1.
    check_pair(&fake, 1, "t-globex", &[2]).await.unwrap();
}

#[tokio::test]
async fn a_mapping_records_whether_the_company_qualifies_and_a_side_taken_meanwhile_is_refused() {
    let fake = accounts();
    let company = MappingApi::company(&fake, 1).await.unwrap();
    let qualifying = QuotaPlan {
        has_mapped_products: true,
        ..QuotaPlan::default()
    };
    let mut run = RunRecord::start("acw");
    let m = record_mapping(
        &fake,
        &company,
        &ConnectionName::parse("us").unwrap(),
        ("t-acme", Some("Acme Ltd".into())),
        &qualifying,
        &mut run,
    )
    .await
    .unwrap();
    assert_eq!(m.origin, MappingOrigin::Manual);
    assert_eq!(
        m.connection.as_str(),
        "us",
        "the tenant's connection is kept"
    );
    assert!(
        m.qualified_at.is_some(),
        "losing its agreements later deprovisions it"
    );
    assert_eq!(run.changes.len(), 1);
    assert_eq!(run.changes[0].new, serde_json::json!("t-acme"));

    let other = MappingApi::company(&fake, 3).await.unwrap();
    let mut run = RunRecord::start("acw");
    let err = record_mapping(
        &fake,
        &other,
        &ConnectionName::default(),
        ("t-acme", None),
        &QuotaPlan::default(),
        &mut run,
    )
    .await
    .unwrap_err();
    let message = needs_attention(err);
    assert!(
        message.contains("already mapped to company 1; unmap it first"),
        "{message}"
    );
    assert!(
        run.changes.is_empty(),
        "nothing recorded for a refused mapping"
    );
    assert_eq!(fake.all_mappings().len(), 1);
}

#[tokio::test]
async fn unmapping_records_the_tenant_it_let_go_and_an_unmapped_company_is_refused() {
    let fake = accounts();
    fake.mapped(1, "t-acme");
    let mut run = RunRecord::start("acw");
    let removed = unmap(&fake, 1, &mut run).await.unwrap();
    assert_eq!(removed.tenant_id, "t-acme");
    assert_eq!(run.changes[0].old, Some(serde_json::json!("t-acme")));
    assert!(fake.all_mappings().is_empty());
    let message = needs_attention(unmap(&fake, 1, &mut run).await.unwrap_err());
    assert_eq!(message, "company 1 is not mapped");
}

#[tokio::test]
async fn the_company_list_filters_types_whatever_their_case_and_by_mapping() {
    let fake = accounts();
    fake.mapped(3, "t-acme");
    let ids = |rows: Vec<CompanyRow>| rows.into_iter().map(|r| r.company.id).collect::<Vec<_>>();
    let customers = CompanyFilter {
        types: vec!["CUSTOMER".into()],
        ..CompanyFilter::default()
    };
    assert_eq!(ids(list(&fake, &customers).await.unwrap()), vec![1, 3]);
    let unmapped = CompanyFilter {
        mapping: MappingFilter::Unmapped,
        ..customers.clone()
    };
    assert_eq!(ids(list(&fake, &unmapped).await.unwrap()), vec![1]);
    let mapped = list(
        &fake,
        &CompanyFilter {
            mapping: MappingFilter::Mapped,
            ..CompanyFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(mapped.len(), 1);
    assert_eq!(mapped[0].mapping.as_ref().unwrap().tenant_id, "t-acme");
}

#[tokio::test]
async fn the_tenant_list_shows_live_customers_by_name_searched_by_customer_id() {
    let fake = accounts();
    let mut deleted = fake.customer("t-old", "Old Co");
    deleted.deleted_at = Some("2026-01-01T00:00:00Z".into());
    fake.put_tenant(deleted);
    let mut tagged = fake.customer("t-beta", "beta Industries");
    tagged.customer_id = Some("CRM-77".into());
    fake.put_tenant(tagged);
    fake.tenant("t-folder", "A folder", "folder", crate::testing::PARTNER);
    fake.mapped(1, "t-acme");
    let names = |rows: Vec<TenantRow>| {
        rows.into_iter()
            .map(|r| r.tenant.name.unwrap())
            .collect::<Vec<_>>()
    };
    let all = tenants(&fake, None, MappingFilter::All).await.unwrap();
    assert_eq!(
        names(all),
        vec!["Acme Ltd", "beta Industries", "Globex Corporation"]
    );
    let found = tenants(&fake, Some(" crm-77 "), MappingFilter::All)
        .await
        .unwrap();
    assert_eq!(names(found), vec!["beta Industries"]);
    let unmapped = tenants(&fake, None, MappingFilter::Unmapped).await.unwrap();
    assert_eq!(
        names(unmapped),
        vec!["beta Industries", "Globex Corporation"]
    );
}

#[tokio::test]
async fn matching_proposes_pairs_among_the_unmapped_and_reads_contacts_only_for_email_evidence() {
    let fake = accounts();
    fake.mapped(3, "t-initech");
    let reads = match_plan(&fake).await.unwrap();
    assert_eq!((reads.companies, reads.tenants), (2, 2));
    let pairs: Vec<_> = reads
        .plan
        .proposals
        .iter()
        .map(|p| (p.company_id, p.tenant_id.as_str()))
        .collect();
    assert_eq!(pairs, vec![(1, "t-acme"), (2, "t-globex")]);
    assert_eq!(fake.contact_reads(), 0, "no tenant has a contact email");
}

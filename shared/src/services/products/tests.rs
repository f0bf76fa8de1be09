//! Auto-mapping over a fake of both accounts and the table.

use super::*;
use std::collections::BTreeMap;

use crate::testing::FakeProducts;

fn accounts() -> FakeProducts {
    let fake = FakeProducts::default().with_default_setup();
    fake.offer("pw_base_servers", Some("pck_per_workload"));
    fake.offer("pw_base_workstations", Some("pck_per_workload"));
    fake
}

fn mapped_to(item: &str, product_id: i64) -> ProductMapping {
    ProductMapping {
        connection: Default::default(),
        unknown: Default::default(),
        offering_item: item.into(),
        infra_id: None,
        edition: Some("pck_per_workload".into()),
        product_id: Some(product_id),
        product_identifier: Some(format!("MANUAL-{product_id}")),
        free: false,
        default_storage: false,
        application_id: None,
        measurement_unit: None,
        updated_at: crate::clock::now(),
    }
}

#[tokio::test]
async fn dry_run_shows_what_it_would_create_and_keep_and_writes_nothing() {
    let fake = accounts();
    let administrators = mapped_to("pw_base_servers", 77);
    fake.map(administrators.clone());
    let report = auto_map(&fake, true).await.unwrap();
    assert_eq!(report.kept, vec!["pw_base_servers"]);
    assert_eq!(report.created, vec!["ACR-PW-BASE-WORKSTATIONS"]);
    assert_eq!(report.mapped, 0);
    assert_eq!(fake.creates(), 0);
    assert_eq!(fake.mappings(), vec![administrators]);
}

#[tokio::test]
async fn run_creates_what_is_missing_keeps_the_administrators_choice_and_twice_changes_nothing() {
    let fake = accounts();
    fake.catalog_product(5, "pw_base_servers");
    fake.map(mapped_to("pw_base_servers", 77));
    let first = auto_map(&fake, false).await.unwrap();
    assert_eq!(first.kept, vec!["pw_base_servers"]);
    assert_eq!(first.mapped, 1);
    assert_eq!(fake.creates(), 1);
    let by_item: BTreeMap<_, _> = fake
        .mappings()
        .into_iter()
        .map(|m| (m.offering_item, m.product_id))
        .collect();
    assert_eq!(
        by_item["pw_base_servers"],
        Some(77),
        "kept as the administrator mapped it"
    );
    assert_eq!(by_item["pw_base_workstations"], Some(1001));

    let second = auto_map(&fake, false).await.unwrap();
    assert!(second.created.is_empty(), "{second:?}");
    assert_eq!(second.mapped, 0);
    assert_eq!(fake.creates(), 1, "no second product");
}

#[tokio::test]
async fn a_product_created_whose_answer_was_lost_is_adopted_not_made_twice() {
    let fake = accounts();
    fake.lose_next_create_answer();
    let report = auto_map(&fake, false).await.unwrap();
    assert_eq!(report.mapped, 2);
    assert_eq!(fake.creates(), 2, "one product per item");
    let identifiers: Vec<_> = fake
        .catalog_items()
        .into_iter()
        .filter_map(|c| c.identifier)
        .collect();
    assert_eq!(
        identifiers,
        vec!["ACR-PW-BASE-SERVERS", "ACR-PW-BASE-WORKSTATIONS"]
    );
    let ids: Vec<_> = fake.mappings().into_iter().map(|m| m.product_id).collect();
    assert_eq!(ids, vec![Some(1001), Some(1002)]);
}

#[tokio::test]
async fn a_subcategory_connectwise_does_not_have_reaches_a_person_before_anything_is_created() {
    let fake = FakeProducts::default();
    fake.name("procurement/types", "Service", 12);
    fake.offer("pw_base_servers", None);
    let err = auto_map(&fake, false).await.unwrap_err();
    assert!(
        matches!(&err, ProvisionError::NeedsAttention(m) if m.contains("subcategory named \"Backup\"")),
        "{err}"
    );
    assert_eq!(fake.creates(), 0);
    assert!(fake.mappings().is_empty());
}

#[tokio::test]
async fn settings_naming_an_edition_the_partner_does_not_offer_are_refused_with_the_choices() {
    let fake = accounts();
    let settings = ProductSettings {
        editions: vec!["pck_per_gigabyte".into()],
        ..ProductSettings::default()
    };
    let err = check_settings(&fake, &settings).await.unwrap_err();
    let ProvisionError::NeedsAttention(message) = err else {
        panic!("{err}");
    };
    assert!(
        message.contains("no edition \"pck_per_gigabyte\""),
        "{message}"
    );
    assert!(message.contains("pck_per_workload"), "{message}");
    fake.set_settings(settings);
    let dry = auto_map(&fake, true).await.unwrap();
    assert!(
        dry.proposals.is_empty(),
        "items of other editions are not mapped"
    );
}

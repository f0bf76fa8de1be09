//! Product auto-mapping against both simulators and moto.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use integration_tests::LocalStack;
use serde_json::json;
use shared::domain::products::{self, ProductChoice, ProductSettings};
use shared::services::products::auto_map;
use shared::services::provisioning::Provisioning;

#[tokio::test]
async fn auto_map_matches_creates_and_dry_runs_write_nothing() {
    let LocalStack {
        cw_sim,
        cw,
        acronis,
        store,
        ..
    } = LocalStack::start().await.unwrap();
    cw_sim
        .seed(json!({
            "subcategories": [{"name": "Backup"}, {"name": "Hardware"}],
            "types": [{"name": "Service"}, {"name": "Inventory part"}],
            "unitOfMeasures": [{"name": "Each"}],
            "catalog": [
                {"identifier": "ACR-PW-BASE-SERVERS", "description": "Servers", "customerDescription": "Servers",
                 "subcategory": {"id": 1}, "type": {"id": 1}},
                {"identifier": "PWBaseWorkstations", "description": "Our PC backup", "customerDescription": "PCs",
                 "subcategory": {"id": 1}, "type": {"id": 1}}
            ]
        }))
        .unwrap();
    let mut settings = ProductSettings {
        editions: vec!["pck_per_workload".into()],
        ..ProductSettings::default()
    };
    settings.new_products.unit_of_measure = Some("Each".into());
    store.save_section(&settings).await.unwrap();
    let svc = Provisioning::new(cw, acronis, store);

    // Dry run: the proposal, and nothing written anywhere.
    cw_sim.control().clear_requests();
    let dry = auto_map(&svc, true).await.unwrap();
    let choice = |name: &str| {
        dry.proposals
            .iter()
            .find(|p| p.offering_item == name)
            .map(|p| p.choice.clone())
    };
    assert!(matches!(
        choice("pw_base_servers"),
        Some(ProductChoice::Existing {
            matched: products::MatchKind::Exact,
            ..
        })
    ));
    assert!(matches!(
        choice("pw_base_workstations"),
        Some(ProductChoice::Existing {
            matched: products::MatchKind::Normalised,
            ..
        })
    ));
    assert!(matches!(
        choice("pw_base_vms"),
        Some(ProductChoice::Create { .. })
    ));
    assert!(choice("pg_base_servers").is_none(), "deselected edition");
    assert!(!dry.created.is_empty());
    let writes = cw_sim
        .control()
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .count();
    assert_eq!(writes, 0);
    assert!(svc.store.product_mappings().await.unwrap().is_empty());

    // For real: the missing products are created with the configured attributes.
    let done = auto_map(&svc, false).await.unwrap();
    assert_eq!(done.created, dry.created);
    assert_eq!(done.mapped, done.proposals.len());
    // What it executed, from the simulator's log and state and the store (not from its
    // report): one catalog POST per product the dry run proposed to create, those
    // identifiers, and one mapping per proposal, to the product it proposed.
    let posts = cw_sim
        .control()
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/procurement/catalog"))
        .count();
    assert_eq!(posts, dry.created.len());
    let identifiers: std::collections::BTreeSet<String> = cw_sim.state()["catalog"]["rows"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|p| p["identifier"].as_str().map(str::to_owned))
        .filter(|i| i != "ACR-PW-BASE-SERVERS" && i != "PWBaseWorkstations")
        .collect();
    assert_eq!(
        identifiers,
        dry.created.iter().cloned().collect(),
        "the products created are those the dry run named"
    );
    let stored = svc.store.product_mappings().await.unwrap();
    assert_eq!(stored.len(), dry.proposals.len());
    for p in &dry.proposals {
        let m = stored
            .iter()
            .find(|m| m.offering_item == p.offering_item && m.infra_id == p.infra_id)
            .unwrap_or_else(|| panic!("{} not mapped", p.offering_item));
        let proposed = match &p.choice {
            ProductChoice::Existing { identifier, .. }
            | ProductChoice::Create { identifier, .. } => identifier,
        };
        assert_eq!(m.product_identifier.as_deref(), Some(proposed.as_str()));
    }
    let rows = &cw_sim.state()["catalog"]["rows"];
    let vms = rows
        .as_object()
        .unwrap()
        .values()
        .find(|p| p["identifier"] == "ACR-PW-BASE-VMS")
        .expect("product created");
    assert_eq!(vms["subcategory"]["name"], "Backup");
    assert_eq!(vms["type"]["name"], "Service");
    assert_eq!(vms["productClass"], "Service");
    assert_eq!(vms["unitOfMeasure"]["name"], "Each");
    let mappings = svc.store.product_mappings().await.unwrap();
    let servers = mappings
        .iter()
        .find(|m| m.offering_item == "pw_base_servers")
        .unwrap();
    assert_eq!(
        servers.product_identifier.as_deref(),
        Some("ACR-PW-BASE-SERVERS")
    );

    // Again: everything matches exactly now, nothing is created or rewritten.
    cw_sim.control().clear_requests();
    let again = auto_map(&svc, false).await.unwrap();
    assert!(again.created.is_empty(), "{:?}", again.created);
    assert_eq!(again.mapped, 0);
    assert_eq!(
        cw_sim
            .control()
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        0
    );

    // A subcategory that does not exist: a clear error before anything is created.
    settings.new_products.subcategory = "Nope".into();
    settings.editions = vec!["pck_per_gigabyte".into()];
    svc.store.save_section(&settings).await.unwrap();
    let err = auto_map(&svc, false).await.unwrap_err();
    assert!(
        err.to_string().contains("no subcategory named \"Nope\""),
        "{err}"
    );
}

/// The real offering items (the vendor's WHMCS catalog of 2020, 213 items, and the long
/// `pack_adv_backup_web_hosting_servers`) against a ConnectWise simulator that refuses what
/// ConnectWise refuses: every billable item gets a product, none is refused.
#[tokio::test]
async fn auto_map_creates_a_product_for_every_real_offering_item() {
    let LocalStack {
        cw_sim,
        acronis_sim,
        cw,
        acronis,
        store,
        ..
    } = LocalStack::start().await.unwrap();
    cw_sim
        .seed(json!({"subcategories": [{"name": "Backup"}], "types": [{"name": "Service"}]}))
        .unwrap();
    let csv = include_str!("../../simulators/specs/acronis-offering-items-catalog-whmcs-2020.csv");
    let mut items: Vec<simulators::acronis::CatalogItem> = csv
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            serde_json::from_value(json!({
                "name": f[2],
                "usage_name": f[2],
                "edition": (!f[1].is_empty()).then_some(f[1]),
                "type": if f[4] == "feature" { "feature" } else { "count" },
                "measurement_unit": if f[4] == "feature" { "n/a" } else { f[4] },
            }))
            .unwrap()
        })
        .collect();
    items.push(
        serde_json::from_value(json!({"name": "pack_adv_backup_web_hosting_servers",
            "usage_name": "pack_adv_backup_web_hosting_servers", "edition": "pck_per_workload"}))
        .unwrap(),
    );
    let mut editions: Vec<String> = items.iter().filter_map(|i| i.edition.clone()).collect();
    editions.sort();
    editions.dedup();
    acronis_sim.upsert_catalog(items);
    let settings = ProductSettings {
        editions,
        ..ProductSettings::default()
    };
    store.save_section(&settings).await.unwrap();
    let svc = Provisioning::new(cw, acronis, store);

    let done = auto_map(&svc, false).await.unwrap();
    assert!(done.created.len() > 150, "{}", done.created.len());
    assert_eq!(done.mapped, done.proposals.len());
    let posts: Vec<_> = cw_sim
        .control()
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.route == "/procurement/catalog")
        .collect();
    assert_eq!(posts.len(), done.created.len());
    assert!(posts.iter().all(|r| r.status == 201), "{posts:?}");
    let rows = cw_sim.state()["catalog"]["rows"].clone();
    let long = rows
        .as_object()
        .unwrap()
        .values()
        .find(|p| {
            p["description"]
                .as_str()
                .unwrap()
                .contains("pack adv backup")
        })
        .expect("the long item's product");
    assert_eq!(
        long["description"],
        "Acronis pack adv backup web hosting servers (per workload)"
    );
}

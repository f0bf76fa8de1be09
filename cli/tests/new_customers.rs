//! `acw provisioning new-customers`: the rule that says which Acronis connection a new
//! customer's tenant goes to, checked against the secret's connections and the names
//! ConnectWise lists before anything is saved.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

mod common;

use serde_json::json;
use shared::domain::connection::CompanyField;
use shared::domain::settings::ProvisioningSettings;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_customer_rule_is_checked_against_the_accounts_before_it_is_saved() {
    let s = common::stack().await;
    s.cw.seed(json!({"countries": [{"name": "United States"}, {"name": "Germany"}]}))
        .unwrap();
    let saved = || async { s.store.section::<ProvisioningSettings>().await.unwrap() };

    // A value ConnectWise does not have, a connection the secret does not have: refused,
    // each named, nothing saved.
    let out = s
        .acw(&[
            "provisioning",
            "new-customers",
            "--by",
            "country",
            "--value",
            "Atlantis=default",
            "--value",
            "United States=us",
        ])
        .await
        .failed();
    assert!(
        out.stderr
            .contains("ConnectWise has no country named \"Atlantis\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the secret has no connection us"),
        "{}",
        out.stderr
    );
    assert_eq!(saved().await.new_customers, Default::default());

    // A dry run shows the rule and saves nothing.
    let args = [
        "provisioning",
        "new-customers",
        "--by",
        "country",
        "--value",
        "germany=default",
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    s.acw(&dry).await.ok();
    assert_eq!(saved().await.new_customers, Default::default());

    // The rule as ConnectWise names it (case aside), saved and shown.
    s.acw(&args).await.ok();
    let rule = saved().await.new_customers;
    assert_eq!(rule.by, Some(CompanyField::Country));
    assert_eq!(
        rule.values.get("germany").map(|c| c.as_str()),
        Some("default")
    );
    assert_eq!(rule.connection, None);
    let shown = s.acw(&["provisioning", "show", "--json"]).await.ok().json();
    assert_eq!(shown["new_customers"]["by"], "country");
}

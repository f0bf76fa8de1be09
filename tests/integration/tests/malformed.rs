//! Malformed vendor answers never cause a destructive or wrong write: each corrupted answer
//! of the reads a company's quotas are decided on makes its run fail naming the field, the
//! tenant's quotas stay as they were, and the next clean run completes.
//!
//! The corpus (answers replaced by the simulators, as a proxy between the product and the
//! vendors would corrupt them):
//! - ConnectWise: the additions of the company's agreement without `quantity`, with it
//!   `null`, as a string, adding up below zero, without `product`; the additions,
//!   agreements and company answered with a body that is not JSON (an HTML page or a
//!   truncated body with status 200); the additions answered once as an empty list, and the
//!   company once as gone (404): what they plan takes something away, and the fresh read
//!   that must confirm it does not;
//! - Acronis: the tenant's offering items without `status`, with it a string, with a quota
//!   without `version`, with `value` a string, and as a body that is not JSON.
//!
//! The rest of the corpus: `malformed_tenants.rs` (Acronis tenant reads, lookups and users,
//! the ConnectWise contact of the first account), `malformed_tickets.rs` (Acronis alerts,
//! ConnectWise tickets read and looked up by key), `malformed_feeds.rs` (the reconciler's
//! Acronis change feed and tenants by id, the needs-attention service's ticket lookup) and
//! `usage.rs` (Acronis usage).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use integration_tests::seed::{SERVERS, contact, customer};
use integration_tests::{LocalStack, answer_with};
use serde_json::{Value, json};
use shared::services::provisioning::Provisioning;
use shared::store::RunRecord;
use simulators::control::{FaultKind, FaultRule};

#[derive(Clone, Copy)]
enum Vendor {
    ConnectWise,
    Acronis,
}
const COMPANY: i64 = 41;
const AGREEMENT: i64 = 4100;

fn additions_with(change: impl Fn(&mut Value)) -> Value {
    let mut a = json!([{"id": 41000, "agreementId": AGREEMENT, "product": {"id": SERVERS},
                        "quantity": 5.0, "billCustomer": "Billable"}]);
    change(&mut a[0]);
    a
}

fn answer(path: &str, body: Option<Value>) -> FaultRule {
    answer_with(path, body, None)
}

fn servers_quota(s: &LocalStack, tenant: &str) -> Value {
    let state = s.acronis_sim.state();
    state["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == tenant)
        .and_then(|t| {
            t["offering_items"]
                .as_array()?
                .iter()
                .find(|i| i["name"] == "pw_base_servers" && i["status"] == 1)
                .map(|i| i["quota"].clone())
        })
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_corrupted_answer_fails_the_company_naming_the_field_and_writes_nothing() {
    let s = LocalStack::start().await.unwrap();
    // Its addition is what `additions_with` answers unchanged.
    customer(
        &s,
        COMPANY,
        "Tailspin",
        contact(COMPANY, "it@tailspin.example"),
    )
    .await
    .unwrap();
    let svc = Provisioning::new(s.cw.clone(), s.acronis.clone(), s.store.clone());
    svc.sync_company(COMPANY, &mut RunRecord::start("test"))
        .await
        .unwrap();
    let tenant = s
        .store
        .mapping_by_company(COMPANY)
        .await
        .unwrap()
        .unwrap()
        .tenant_id;
    let before = servers_quota(&s, &tenant);
    assert_eq!(before["value"], 5, "{before}");

    let additions = format!("/finance/agreements/{AGREEMENT}/additions");
    let cw = |name, fault, field| (name, Vendor::ConnectWise, fault, field);
    let acronis = |name, fault, field| (name, Vendor::Acronis, fault, field);
    let items = format!("/tenants/{tenant}/offering_items");
    let items_with = |change: &dyn Fn(&mut Value)| {
        let mut answer = json!({"items": s.acronis_sim.state()["tenants"].as_array().unwrap().iter()
            .find(|t| t["id"] == tenant.as_str()).unwrap()["offering_items"].clone()});
        for item in answer["items"].as_array_mut().unwrap() {
            change(item);
        }
        Some(answer)
    };
    let corpus: Vec<(&str, Vendor, FaultRule, &str)> = vec![
        cw(
            "quantity missing",
            answer(
                &additions,
                Some(additions_with(|a| {
                    a.as_object_mut().unwrap().remove("quantity");
                })),
            ),
            "quantity",
        ),
        cw(
            "quantity null",
            answer(
                &additions,
                Some(additions_with(|a| a["quantity"] = Value::Null)),
            ),
            "quantity",
        ),
        cw(
            "quantity a string",
            answer(
                &additions,
                Some(additions_with(|a| a["quantity"] = json!("5"))),
            ),
            "quantity",
        ),
        cw(
            "quantity below zero",
            answer(
                &additions,
                Some(additions_with(|a| a["quantity"] = json!(-3.0))),
            ),
            "quantity",
        ),
        cw(
            "product missing",
            answer(
                &additions,
                Some(additions_with(|a| {
                    a.as_object_mut().unwrap().remove("product");
                })),
            ),
            "product",
        ),
        cw("additions not JSON", answer(&additions, None), ""),
        cw(
            "agreements not JSON",
            answer("/finance/agreements", None),
            "",
        ),
        cw(
            "company not JSON",
            answer(&format!("/company/companies/{COMPANY}"), None),
            "",
        ),
        cw(
            "additions once an empty list",
            answer_with(&additions, Some(json!([])), Some(1)),
            "not confirmed by a fresh read",
        ),
        cw(
            "company once gone",
            FaultRule {
                method: Some("GET".into()),
                path_contains: Some(format!("/company/companies/{COMPANY}")),
                times: Some(1),
                fault: FaultKind::Status {
                    status: 404,
                    retry_after: None,
                    body: Some(json!({"code": "NotFound", "message": "Company not found"})),
                },
            },
            "not confirmed by a fresh read",
        ),
        acronis(
            "offering items without status",
            answer(
                &items,
                items_with(&|i| {
                    i.as_object_mut().unwrap().remove("status");
                }),
            ),
            "status",
        ),
        acronis(
            "offering item status a string",
            answer(&items, items_with(&|i| i["status"] = json!("1"))),
            "status",
        ),
        acronis(
            "quota without version",
            answer(
                &items,
                items_with(&|i| {
                    if let Some(q) = i["quota"].as_object_mut() {
                        q.remove("version");
                    }
                }),
            ),
            "version",
        ),
        acronis(
            "quota value a string",
            answer(
                &items,
                items_with(&|i| {
                    if i["quota"].is_object() {
                        i["quota"]["value"] = json!("5");
                    }
                }),
            ),
            "value",
        ),
        acronis("offering items not JSON", answer(&items, None), ""),
    ];
    let cases = corpus.len();
    for (name, vendor, fault, field) in corpus {
        let control = match vendor {
            Vendor::ConnectWise => s.cw_sim.control(),
            Vendor::Acronis => s.acronis_sim.control(),
        };
        control.add_fault(fault);
        let mut run = RunRecord::start("test");
        let result = svc.sync_company(COMPANY, &mut run).await;
        control.clear_faults();
        let err = result.expect_err(name);
        assert!(
            err.to_string().contains(field),
            "{name}: the failure names `{field}`: {err}"
        );
        assert_eq!(
            servers_quota(&s, &tenant),
            before,
            "{name}: the quota is as it was"
        );
        let mapping = s.store.mapping_by_company(COMPANY).await.unwrap();
        assert_eq!(
            mapping.map(|m| m.tenant_id),
            Some(tenant.clone()),
            "{name}: still mapped"
        );
        // The next clean run completes and keeps the quota.
        svc.sync_company(COMPANY, &mut RunRecord::start("test"))
            .await
            .unwrap_or_else(|e| panic!("{name}: the clean run after: {e}"));
        assert_eq!(servers_quota(&s, &tenant), before, "{name}: after");
    }
    println!("malformed answers: {cases} cases over 3 ConnectWise reads and 1 Acronis read");

    // The same empty additions answered twice (the sale really ended): confirmed, applied.
    s.cw_sim
        .control()
        .add_fault(answer_with(&additions, Some(json!([])), Some(2)));
    let mut run = RunRecord::start("test");
    svc.sync_company(COMPANY, &mut run).await.unwrap();
    s.cw_sim.control().clear_faults();
    assert_eq!(
        run.counts.get("destructive_confirmed"),
        Some(&1),
        "{:?}",
        run.counts
    );
    assert_eq!(
        servers_quota(&s, &tenant)["value"],
        0,
        "the confirmed plan was applied"
    );
    svc.sync_company(COMPANY, &mut RunRecord::start("test"))
        .await
        .unwrap();
    assert_eq!(
        servers_quota(&s, &tenant)["value"],
        before["value"],
        "and undone by the clean answers"
    );
}

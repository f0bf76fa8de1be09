//! Reading batches of usages over a fake of Acronis: what a batch refused whole, an
//! outage, and a tenant left out of an answer each become.

use super::*;
use crate::acronis::models::Usage;
use crate::testing::FakeUsages;

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn servers(value: f64) -> Vec<Usage> {
    vec![Usage {
        tenant_uuid: None,
        application_id: None,
        name: "pw_base_servers".into(),
        usage_name: None,
        edition: Some("pck_per_workload".into()),
        usage_type: None,
        measurement_unit: Some("quantity".into()),
        infra_id: None,
        range_start: None,
        value: Some(value),
        absolute_value: None,
        offering_item: None,
    }]
}

fn tenants_read(got: &[TenantUsages]) -> Vec<String> {
    got.iter().map(|u| u.tenant.to_lowercase()).collect()
}

#[tokio::test]
async fn a_whole_batch_is_one_call_and_an_id_answered_in_another_case_counts_as_read() {
    let acronis = FakeUsages::default();
    acronis.tenant("t-a", servers(3.0));
    acronis.tenant("t-b", servers(5.0));
    let (got, unread) = read_usages(&acronis, &ids(&["t-a", "t-b"])).await;
    assert_eq!(tenants_read(&got), vec!["t-a", "t-b"]);
    assert!(unread.is_empty(), "{unread:?}");
    assert_eq!(acronis.calls(), vec![2]);
}

#[tokio::test]
async fn a_tenant_left_out_of_the_answer_waits_as_a_transient_failure_not_as_zero_usage() {
    let acronis = FakeUsages::default();
    acronis.tenant("t-a", servers(3.0));
    acronis.left_out("t-b");
    let (got, unread) = read_usages(&acronis, &ids(&["t-a", "t-b"])).await;
    assert_eq!(tenants_read(&got), vec!["t-a"]);
    assert_eq!(unread, vec![("t-b".into(), LEFT_OUT.into(), true)]);
}

#[tokio::test]
async fn a_batch_refused_for_one_gone_tenant_is_read_tenant_by_tenant_so_the_others_are_pushed() {
    let acronis = FakeUsages::default();
    for t in ["t-a", "t-b", "t-c"] {
        acronis.tenant(t, servers(1.0));
    }
    acronis.gone("t-b");
    let (got, unread) = read_usages(&acronis, &ids(&["t-a", "t-b", "t-c"])).await;
    assert_eq!(tenants_read(&got), vec!["t-a", "t-c"]);
    assert_eq!(unread.len(), 1);
    let (tenant, reason, transient) = &unread[0];
    assert_eq!(tenant, "t-b");
    assert!(reason.contains("404"), "{reason}");
    assert!(!transient, "a gone tenant is for a person, not a retry");
    assert_eq!(acronis.calls(), vec![3, 1, 1, 1]);
}

#[tokio::test]
async fn an_outage_fails_the_batch_as_transient_without_a_call_per_tenant() {
    let acronis = FakeUsages::default();
    acronis.tenant("t-a", servers(1.0));
    acronis.down();
    let (got, unread) = read_usages(&acronis, &ids(&["t-a", "t-b"])).await;
    assert!(got.is_empty());
    assert!(
        unread.iter().all(|(_, _, transient)| *transient),
        "{unread:?}"
    );
    assert_eq!(unread.len(), 2);
    assert_eq!(
        acronis.calls(),
        vec![2],
        "no storm of single reads during an outage"
    );
}

//! The reconciler's redrive, with its own role: what the bus consumers failed on after
//! Lambda's retries (an outage longer than about 3 minutes) goes back on the bus, and what
//! this version cannot read stays for a person.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::time::Duration;

use integration_tests::{
    LocalStack, aws, bus_to_queue, drain_queue, last_run, reconciler_deps, unique,
};
use serde_json::json;
use shared::bus::VERSION;
use shared::functions::Function;

#[tokio::test]
async fn a_reconciler_cycle_puts_the_consumers_dead_letters_back_on_the_bus() {
    let stack = LocalStack::start().await.unwrap();
    let admin = aws().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&admin);
    let stack_name = unique("redrive");
    let queues = local_runner::ensure_dead_letter_queues(&sqs, &stack_name)
        .await
        .unwrap();
    let dead_letters = |f: Function| {
        queues
            .iter()
            .find(|(g, _)| *g == f)
            .map(|(_, url)| url.clone())
            .unwrap()
    };
    let (bus, consumer_sqs, consumer_queue) =
        bus_to_queue(&admin, Function::Provisioner).await.unwrap();

    // A company event the provisioner failed on three times, as Lambda records it; and a
    // body no version can read.
    let event = json!({
        "version": "0", "id": "e-1", "detail-type": "company.updated",
        "source": "acronis-connectwise", "account": "123456789012",
        "time": "2026-12-06T10:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {"version": VERSION, "company_id": 4711, "action": "updated",
                   "origin": {"kind": "admin"}, "observed_at": "2026-12-06T10:00:00Z"},
    });
    let record = local_runner::invoke::failure_record(
        Function::Provisioner,
        "r-1",
        "RetriesExhausted",
        3,
        &event,
        "ConnectWise answered 503",
    );
    for body in [record.to_string(), "not an event".to_owned()] {
        sqs.send_message()
            .queue_url(dead_letters(Function::Provisioner))
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let deps = reconciler_deps(&stack, bus.name(), Some(&stack_name)).await;
    reconciler::handle(&deps, &deps.recorder()).await.unwrap();

    let delivered = drain_queue(&consumer_sqs, &consumer_queue, 1, Duration::from_secs(10))
        .await
        .unwrap();
    let redriven: Vec<_> = delivered
        .iter()
        .filter(|m| m["detail"]["company_id"] == 4711)
        .collect();
    assert_eq!(redriven.len(), 1, "{delivered:?}");
    assert_eq!(redriven[0]["detail-type"], "company.updated");

    let runs = [last_run(&stack.store, Function::Reconciler).await];
    assert_eq!(
        runs[0].counts["dead_letters_republished"], 1,
        "{:?}",
        runs[0]
    );
    assert_eq!(runs[0].counts["dead_letters_left"], 1, "{:?}", runs[0]);
    assert!(
        runs[0]
            .failures
            .iter()
            .any(|f| !f.transient && f.subject.contains("dead letter")),
        "the unreadable letter needs a person: {:?}",
        runs[0].failures
    );

    // What stays is the unreadable letter; a second cycle puts nothing back twice.
    let left = sqs
        .receive_message()
        .queue_url(dead_letters(Function::Provisioner))
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body(), Some("not an event"));
    reconciler::handle(&deps, &deps.recorder()).await.unwrap();
    let more = drain_queue(&consumer_sqs, &consumer_queue, 1, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(
        more.iter().all(|m| m["detail"]["company_id"] != 4711),
        "{more:?}"
    );
}

/// A reconciler cycle out of time records that it stopped (instead of being killed with no
/// record) and keeps its cursor; the next cycle finds the same companies and sends each
/// once.
#[tokio::test]
async fn a_reconciler_cycle_stopped_at_its_deadline_is_recorded_and_the_next_one_does_its_work() {
    let stack = LocalStack::start().await.unwrap();
    let admin = aws().await.unwrap();
    stack
        .cw_sim
        .seed(json!({
            "companies": [{"id": 815, "identifier": "Fabrikam", "name": "Fabrikam"}],
            "agreements": [{"id": 8150, "name": "Backup", "type": {"id": 1, "name": "Managed"},
                            "company": {"id": 815}, "agreementStatus": "Active", "noEndingDateFlag": true}]
        }))
        .unwrap();
    let (bus, consumer_sqs, consumer_queue) =
        bus_to_queue(&admin, Function::Provisioner).await.unwrap();
    let deps = reconciler_deps(&stack, bus.name(), None).await;
    let out_of_time = shared::deadline::Deadline::after(Duration::ZERO);
    let err = reconciler::handle_until(&deps, &deps.recorder(), out_of_time)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("deadline"), "{err}");
    let cursor: Option<chrono::DateTime<chrono::Utc>> = stack
        .store
        .cursor(shared::services::reconcile::CURSOR)
        .await
        .unwrap();
    assert_eq!(cursor, None, "the cursor holds");
    let runs = [last_run(&stack.store, Function::Reconciler).await];
    assert!(
        runs[0]
            .failures
            .iter()
            .any(|f| f.reason.contains("deadline")),
        "{:?}",
        runs[0]
    );

    let reply = reconciler::handle(&deps, &deps.recorder()).await.unwrap();
    assert_eq!(reply["published"], 1, "{reply}");
    let sent = drain_queue(&consumer_sqs, &consumer_queue, 2, Duration::from_secs(3))
        .await
        .unwrap();
    let fabrikam = sent
        .iter()
        .filter(|m| m["detail"]["company_id"] == 815)
        .count();
    assert_eq!(fabrikam, 1, "{sent:?}");
}

//! The event bus against EventBridge and SQS (moto).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::time::Duration;

use chrono::Utc;
use integration_tests::{aws, drain_queue, unique};
use shared::bus::*;

struct Fixture {
    bus: EventBus,
    sqs: aws_sdk_sqs::Client,
    provisioner_queue: String,
    tickets_queue: String,
}

/// A bus with the product's routes, each to its own queue.
async fn fixture() -> Fixture {
    let config = aws().await.unwrap();
    let eb = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus_name = unique("bus");
    local_runner::ensure_bus(&eb, &bus_name).await.unwrap();
    let mut queues = Vec::new();
    for route in local_runner::routes() {
        let name = unique(route.consumer.name());
        queues.push(
            local_runner::route_to_queue(&eb, &sqs, &bus_name, &name, &route.pattern, &name)
                .await
                .unwrap(),
        );
    }
    Fixture {
        bus: EventBus::new(eb, bus_name),
        sqs,
        provisioner_queue: queues[0].clone(),
        tickets_queue: queues[1].clone(),
    }
}

fn company(id: i64, action: Action) -> Event {
    Event::Company(CompanyChanged {
        version: VERSION,
        company_id: id,
        action,
        origin: Origin::Callback {
            message_id: format!("m-{id}"),
        },
        observed_at: Utc::now(),
    })
}

#[tokio::test]
async fn events_reach_the_consumer_queue_through_the_rule() {
    let f = fixture().await;
    // 23 events: three PutEvents batches (10, 10, 3).
    let events: Vec<Event> = (1..=23).map(|i| company(i, Action::Updated)).collect();
    let report = f.bus.publish(&events).await;
    assert!(report.all_published(), "{report:?}");
    assert_eq!(report.published, 23);

    let received = drain_queue(&f.sqs, &f.provisioner_queue, 23, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(received.len(), 23);
    let mut ids: Vec<i64> = received
        .iter()
        .map(|m| {
            assert_eq!(m["source"], SOURCE);
            let event =
                Event::parse(m["detail-type"].as_str().unwrap(), m["detail"].clone()).unwrap();
            match event {
                Event::Company(c) => c.company_id,
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=23).collect::<Vec<_>>());
    // The ticket consumer's rule did not match company events.
    assert!(
        drain_queue(&f.sqs, &f.tickets_queue, 1, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn partial_failures_are_reported_per_entry() {
    let f = fixture().await;
    let good = company(1, Action::Added);
    let entries = vec![
        RawEntry {
            detail_type: good.detail_type(),
            detail: good.detail().unwrap(),
        },
        RawEntry {
            detail_type: "company.added".into(),
            detail: "{not json".into(),
        },
        RawEntry {
            detail_type: "company.added".into(),
            detail: format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024)),
        },
    ];
    let report = f.bus.publish_raw(entries).await;
    assert_eq!(report.published, 1);
    let codes: Vec<(usize, &str)> = report
        .failed
        .iter()
        .map(|e| (e.index, e.code.as_str()))
        .collect();
    assert!(codes.contains(&(1, "MalformedDetail")), "{codes:?}");
    assert!(codes.contains(&(2, "EntryTooLarge")), "{codes:?}");
    assert_eq!(
        drain_queue(&f.sqs, &f.provisioner_queue, 2, Duration::from_secs(3))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_bus_that_cannot_be_reached_reports_every_entry() {
    let config = aws().await.unwrap();
    let bus = EventBus::new(
        aws_sdk_eventbridge::Client::new(&config),
        unique("missing-bus"),
    );
    let report = bus
        .publish(&[company(1, Action::Added), company(2, Action::Deleted)])
        .await;
    assert_eq!(report.published, 0);
    assert_eq!(report.failed.len(), 2);
    assert!(
        report.failed.iter().all(|f| f.code == "RequestFailed"),
        "{report:?}"
    );
    assert_eq!(report.failed[1].detail_type, "company.deleted");
}

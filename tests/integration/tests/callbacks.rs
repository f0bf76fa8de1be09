//! ConnectWise's callback delivery as its guide states it, against the product: a callback
//! whose deliveries fail for three days is disabled by ConnectWise, and the next reconciler
//! cycle registers it again, says so in its run record and counts it for its alarm.
//! Its own test binary: it moves the simulators' clock.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::time::Duration;

use integration_tests::{LocalStack, aws, bus_to_queue, last_run, reconciler_deps};
use serde_json::{Value, json};
use shared::functions::Function;

/// A receiver that refuses every callback with a 500 (ConnectWise does not retry it).
async fn refusing_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let app =
        axum::Router::new().fallback(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn ui_change(stack: &LocalStack, company: i64, name: &str) {
    let resp = reqwest::Client::new()
        .patch(format!("{}/_sim/companies/{company}", stack.cw_sim.url()))
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

/// The callbacks' state as ConnectWise holds it: (type, url, inactive) of each.
fn registered(stack: &LocalStack) -> Vec<(String, String, bool)> {
    let state = stack.cw_sim.state();
    let rows = &state["callbacks"]["rows"];
    let mut out: Vec<_> = rows
        .as_object()
        .map(|m| m.values().cloned().collect::<Vec<Value>>())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or_default().to_owned(),
                c["url"].as_str().unwrap_or_default().to_owned(),
                c["inactiveFlag"] == json!(true),
            )
        })
        .collect();
    out.sort();
    out
}

async fn wait_for_state(stack: &LocalStack, company: i64, n: usize, state: &str) {
    for _ in 0..200 {
        let done = stack
            .cw_sim
            .sent_callbacks()
            .iter()
            .filter(|e| e.id == company && e.state == state)
            .count();
        if done >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{:?}", stack.cw_sim.sent_callbacks());
}

#[tokio::test]
async fn a_callback_disabled_after_three_days_of_failures_is_registered_again_in_one_cycle() {
    simulators::clock::set_offset(chrono::Duration::zero());
    let stack = LocalStack::start().await.unwrap();
    stack
        .cw_sim
        .seed(json!({"companies": [{"id": 31, "identifier": "Refused", "name": "Refused"}]}))
        .unwrap();
    let hook = refusing_receiver().await;
    shared::services::callbacks::register(&stack.cw, &hook, false)
        .await
        .unwrap();

    // Refused today, and still three days later: ConnectWise disables the callback.
    ui_change(&stack, 31, "Refused 1").await;
    wait_for_state(&stack, 31, 1, "refused").await;
    simulators::clock::set_offset(chrono::Duration::days(3) + chrono::Duration::minutes(1));
    ui_change(&stack, 31, "Refused 2").await;
    wait_for_state(&stack, 31, 2, "refused").await;
    let before = registered(&stack);
    assert!(
        before.contains(&("company".into(), hook.clone(), true)),
        "{before:?}"
    );
    // A 5xx is not retried.
    assert!(
        stack
            .cw_sim
            .sent_callbacks()
            .iter()
            .all(|e| e.attempts == 1),
        "{:?}",
        stack.cw_sim.sent_callbacks()
    );

    // One reconciler cycle finds it, registers it again, and says so.
    let admin = aws().await.unwrap();
    let (bus, _, _) = bus_to_queue(&admin, Function::Provisioner).await.unwrap();
    let deps = reconciler_deps(&stack, bus.name(), None).await;
    reconciler::handle(&deps, &deps.recorder()).await.unwrap();
    let after = registered(&stack);
    assert_eq!(
        after,
        vec![
            ("agreement".to_owned(), hook.clone(), false),
            ("company".to_owned(), hook.clone(), false)
        ]
    );
    let runs = [last_run(&stack.store, Function::Reconciler).await];
    assert_eq!(runs[0].counts["callbacks_disabled"], 1, "{:?}", runs[0]);
    assert!(
        runs[0]
            .changes
            .iter()
            .any(|c| c.subject.contains("callback company") && c.new == json!(false)),
        "{:?}",
        runs[0].changes
    );
    let line = shared::runs::metric_line("stack", &runs[0]);
    assert!(line.contains("\"CallbacksDisabled\":1"), "{line}");

    // The next cycle has nothing to do.
    reconciler::handle(&deps, &deps.recorder()).await.unwrap();
    let runs = [last_run(&stack.store, Function::Reconciler).await];
    assert_eq!(
        runs[0]
            .counts
            .get("callbacks_disabled")
            .copied()
            .unwrap_or(0),
        0
    );
    simulators::clock::set_offset(chrono::Duration::zero());
}

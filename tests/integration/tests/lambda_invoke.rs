//! The local runner invokes a bus consumer as EventBridge and Lambda do: the rule's delivery
//! (its `RetryPolicy`, then its dead-letter queue with the event itself) and Lambda's
//! asynchronous retries (then the on-failure record), both into the one queue the template
//! gives each function, and both read by `acw dlq`'s reader.

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use integration_tests::{aws, unique};
use local_runner::invoke::{AsyncTarget, invoke_batch};
use serde_json::{Value, json};
use shared::domain::dead_letters::{Shape, read};
use shared::functions::Function;
use shared::services::dead_letters::Queues;

fn event(id: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "alert.raised",
        "source": "acronis-connectwise", "account": "123456789012",
        "time": "2026-12-07T10:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {"version": shared::bus::VERSION, "alert": {"id": id}},
    })
}

struct Fixture {
    sqs: aws_sdk_sqs::Client,
    queues: shared::queues::SqsQueues,
    target: AsyncTarget,
}

/// A consumer's queue (where its rule delivers) and its dead-letter queue, named as the
/// template names a stack's.
async fn fixture(function: Function, scale: f64) -> Fixture {
    let sqs = aws_sdk_sqs::Client::new(&aws().await.unwrap());
    let stack = unique("invoke");
    let create = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let queue_url = create(unique("rule")).await;
    let dead_letters = create(shared::domain::dead_letters::queue_name(&stack, function)).await;
    Fixture {
        queues: shared::queues::SqsQueues::new(sqs.clone(), &stack).without_waiting(),
        target: AsyncTarget {
            function,
            queue_url,
            dead_letters: Some(dead_letters),
            scale,
            throttled: false,
        },
        sqs,
    }
}

impl Fixture {
    async fn deliver(&self, event: &Value) {
        self.sqs
            .send_message()
            .queue_url(&self.target.queue_url)
            .message_body(event.to_string())
            .send()
            .await
            .unwrap();
    }

    /// Invokes until `done` says so (or 60 s pass): the retries' delays are real, scaled.
    async fn invoke_until<F, Fut>(&self, handle: F, done: impl Fn(usize) -> bool)
    where
        F: Fn(Value) -> Fut,
        Fut: std::future::Future<Output = Result<Value, String>>,
    {
        let started = Instant::now();
        let mut dead = 0;
        while !done(dead) {
            assert!(started.elapsed() < Duration::from_secs(60), "gave up");
            dead += invoke_batch(&self.sqs, &self.target, 1, &handle)
                .await
                .unwrap()
                .dead_lettered;
        }
    }

    async fn letters(&self) -> Vec<shared::domain::dead_letters::DeadLetter> {
        self.queues
            .receive(self.target.function, Duration::from_secs(30))
            .await
            .unwrap()
            .iter()
            .map(|m| {
                read(
                    self.target.function,
                    &m.message_id,
                    m.sent_at,
                    &m.body,
                    &m.attributes,
                )
            })
            .collect()
    }
}

/// Lambda tries a failing event three times (`MaximumRetryAttempts: 2`), then records it.
#[tokio::test]
async fn a_failing_event_is_tried_three_times_then_recorded_for_the_on_failure_queue() {
    let f = fixture(Function::TicketSync, 0.01).await;
    f.deliver(&event("A-1")).await;
    let calls = AtomicU32::new(0);
    f.invoke_until(
        |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<Value, _>("ConnectWise answered 503".to_owned()) }
        },
        |dead| dead == 1,
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let letters = f.letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].shape, Shape::OnFailure);
    assert_eq!(letters[0].event_id.as_deref(), Some("A-1"));
    assert_eq!(
        letters[0].why.condition.as_deref(),
        Some("RetriesExhausted")
    );
}

/// The rule's delivery refused (Lambda's `Invoke` throttled) is retried as its
/// `RetryPolicy` says (the reconciler's schedule: 3 retries), then the event itself goes
/// to the dead-letter queue with EventBridge's attributes; no invocation ran.
#[tokio::test]
async fn an_event_the_rule_cannot_deliver_reaches_its_dead_letter_queue_as_the_event() {
    let mut f = fixture(Function::Reconciler, 0.005).await;
    f.target.throttled = true;
    let tick = json!({"version": "0", "id": "tick-1", "detail-type": "Scheduled Event",
                      "source": "aws.events", "account": "123456789012",
                      "time": "2026-12-07T10:00:00Z", "region": "eu-west-1",
                      "resources": ["arn:aws:events:eu-west-1:123456789012:rule/reconcile"],
                      "detail": {}});
    f.deliver(&tick).await;
    let calls = AtomicU32::new(0);
    f.invoke_until(
        |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<Value, String>(Value::Null) }
        },
        |dead| dead == 1,
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 0, "throttled: never invoked");
    let letters = f.letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].shape, Shape::Event);
    assert_eq!(letters[0].event_id.as_deref(), Some("tick-1"));
    assert_eq!(
        letters[0].content,
        shared::domain::dead_letters::Content::Scheduled
    );
    assert_eq!(letters[0].why.attempts, Some(3), "{:?}", letters[0].why);
    assert_eq!(
        letters[0].why.condition.as_deref(),
        Some("MaximumRetryAttempts"),
        "{:?}",
        letters[0].why
    );
    assert!(
        letters[0]
            .why
            .error
            .as_deref()
            .is_some_and(|e| e.contains("TooManyRequestsException")),
        "{:?}",
        letters[0].why
    );
}

/// Refused deliveries are the rule's attempts, not Lambda's: an event the rule delivers on
/// its third try still gets Lambda's three invocations before it is recorded.
#[tokio::test]
async fn lambdas_attempts_start_when_the_rule_delivers() {
    let mut f = fixture(Function::TicketSync, 0.0001).await;
    f.target.throttled = true;
    f.deliver(&event("A-2")).await;
    for _ in 0..2 {
        let outcome = invoke_batch(&f.sqs, &f.target, 1, |_| async {
            Ok::<Value, String>(Value::Null)
        })
        .await
        .unwrap();
        assert_eq!((outcome.received, outcome.retrying), (1, 1));
    }
    f.target.throttled = false;
    f.target.scale = 0.01;
    let calls = AtomicU32::new(0);
    f.invoke_until(
        |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<Value, _>("still failing".to_owned()) }
        },
        |dead| dead == 1,
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let letters = f.letters().await;
    assert_eq!(letters[0].shape, Shape::OnFailure);
    assert_eq!(letters[0].event_id.as_deref(), Some("A-2"));
}

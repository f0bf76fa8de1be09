//! Asynchronous invocation as Lambda does it, over the SQS queue a local rule targets.
//!
//! Lambda's documented behaviour ("Asynchronous invocation" and "Configuring error handling
//! for asynchronous invocation" in the Lambda developer guide): a failed invocation is
//! retried `MaximumRetryAttempts` times (the template's `EventInvokeConfig`; 2 by default),
//! one minute after the first attempt and two minutes after the second; an event older than
//! `MaximumEventAgeInSeconds` (6 hours by default) is not tried again; then the event goes to
//! the on-failure destination as an invocation record (`requestContext`, `requestPayload`,
//! `responseContext`, `responsePayload`). Waits are multiplied by `scale`, as the simulated
//! month scales time.
//!
//! The attempt count is SQS's `ApproximateReceiveCount`, the event's age its
//! `SentTimestamp`, and a retry's delay its visibility timeout (whole seconds, as SQS counts).

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Value, json};
use shared::functions::Function;

/// Lambda's waits before the second and the third attempt.
pub const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];
/// How long an event stays hidden while its invocation runs: the consumers' timeout.
const RUNNING_SECS: i32 = 300;
/// `MaximumEventAgeInSeconds` when the template does not set it (Lambda's default).
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(6 * 3600);

/// One asynchronously invoked function as the local stack hosts it.
#[derive(Debug, Clone)]
pub struct AsyncTarget {
    pub function: Function,
    /// The queue its rule delivers to (standing in for Lambda's own event queue).
    pub queue_url: String,
    /// Its on-failure destination. `None` (tests that do not model the limit): a failed event
    /// is retried until it succeeds.
    pub dead_letters: Option<String>,
    /// Multiplies Lambda's waits (retry delays, maximum event age).
    pub scale: f64,
    /// Lambda's `Invoke` refuses with 429 (its rate of invocations), so the rule's delivery
    /// retries ([`crate::rule_delivery`]): a switch for tests.
    pub throttled: bool,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub received: usize,
    pub handled: usize,
    /// Failed and left for a retry.
    pub retrying: usize,
    /// Failed for the last time: sent to the on-failure destination.
    pub dead_lettered: usize,
}

impl AsyncTarget {
    /// A target retrying without limit (the former local behaviour, for tests that count
    /// deliveries rather than model Lambda's limit).
    pub fn unlimited(function: Function, queue_url: impl Into<String>) -> Self {
        Self {
            function,
            queue_url: queue_url.into(),
            dead_letters: None,
            scale: 1.0 / 60.0,
            throttled: false,
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.scale.max(0.0))
    }

    /// The visibility timeout before attempt `attempt + 1` (whole seconds, at least 1).
    fn retry_delay_secs(&self, attempt: u32) -> i32 {
        let delay = RETRY_DELAYS[(attempt.saturating_sub(1) as usize).min(RETRY_DELAYS.len() - 1)];
        i32::try_from(self.scaled(delay).as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

/// Lambda's on-failure record of an event.
pub fn failure_record(
    function: Function,
    request_id: &str,
    condition: &str,
    attempts: u32,
    payload: &Value,
    error: &str,
) -> Value {
    json!({
        "version": "1.0",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "requestContext": {
            "requestId": request_id,
            "functionArn": format!("arn:aws:lambda:eu-west-1:123456789012:function:{}:$LATEST", function.name()),
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {"errorType": "HandlerError", "errorMessage": error},
    })
}

fn attempts_and_age(m: &Message) -> (u32, Duration) {
    let attr = |name: MessageSystemAttributeName| {
        m.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let attempts = attr(MessageSystemAttributeName::ApproximateReceiveCount).unwrap_or(1);
    let sent_ms = attr(MessageSystemAttributeName::SentTimestamp);
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let age = sent_ms.map_or(Duration::ZERO, |s| {
        Duration::from_millis(now_ms.saturating_sub(s))
    });
    (u32::try_from(attempts).unwrap_or(u32::MAX), age)
}

/// Receives one batch (up to 10 events, waiting up to `wait_secs`) and invokes `handle` on
/// each, side by side as concurrent invocations would run. A handled event is deleted; a
/// failed one is retried after Lambda's delay, or, after its last attempt or past its age,
/// sent to the on-failure destination and deleted.
pub async fn invoke_batch<F, Fut, E>(
    sqs: &aws_sdk_sqs::Client,
    target: &AsyncTarget,
    wait_secs: i32,
    handle: F,
) -> Result<BatchOutcome>
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Value, E>>,
    E: std::fmt::Display,
{
    let out = sqs
        .receive_message()
        .queue_url(&target.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        // Hidden while its invocation runs (the consumers' Lambda timeout), as Lambda never
        // hands an event out twice at once; a failure sets its retry's delay below.
        .visibility_timeout(RUNNING_SECS)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .message_attribute_names("All")
        .send()
        .await
        .context("receiving from the consumer queue")?;
    let messages = out.messages.unwrap_or_default();
    let runs = messages.iter().map(|m| {
        let handle = &handle;
        async move {
            let body = m.body().unwrap_or("");
            // First the rule's delivery: Lambda's `Invoke` may refuse the event.
            if let Some(refusal) = crate::rule_delivery::refusal(target, body) {
                return Ok(
                    match crate::rule_delivery::refused(sqs, target, m, &refusal).await? {
                        crate::rule_delivery::Delivery::Retrying => Done::Retrying,
                        crate::rule_delivery::Delivery::DeadLettered => Done::DeadLettered,
                    },
                );
            }
            let Ok(envelope) = serde_json::from_str::<Value>(body) else {
                // Lambda would fail on it like on any event: retried, then dead-lettered.
                let raw = Value::String(body.to_owned());
                return fail(sqs, target, m, &raw, "the event is not JSON").await;
            };
            match handle(envelope.clone()).await {
                Ok(_) => {
                    delete(sqs, target, m).await?;
                    Ok(Done::Handled)
                }
                Err(e) => fail(sqs, target, m, &envelope, &e.to_string()).await,
            }
        }
    });
    let mut outcome = BatchOutcome {
        received: messages.len(),
        ..BatchOutcome::default()
    };
    for done in futures::future::join_all(runs).await {
        match done? {
            Done::Handled => outcome.handled += 1,
            Done::Retrying => outcome.retrying += 1,
            Done::DeadLettered => outcome.dead_lettered += 1,
        }
    }
    Ok(outcome)
}

enum Done {
    Handled,
    Retrying,
    DeadLettered,
}

pub(crate) async fn delete(
    sqs: &aws_sdk_sqs::Client,
    target: &AsyncTarget,
    m: &Message,
) -> Result<()> {
    if let Some(h) = m.receipt_handle() {
        sqs.delete_message()
            .queue_url(&target.queue_url)
            .receipt_handle(h)
            .send()
            .await
            .context("deleting an event from the rule's queue")?;
    }
    Ok(())
}

async fn fail(
    sqs: &aws_sdk_sqs::Client,
    target: &AsyncTarget,
    m: &Message,
    envelope: &Value,
    error: &str,
) -> Result<Done> {
    let (attempts, age) = attempts_and_age(m);
    let retries = target.function.async_retries().unwrap_or(0);
    let too_old = age >= target.scaled(MAX_EVENT_AGE);
    let (Some(dead_letters), true) = (&target.dead_letters, attempts > retries || too_old) else {
        let delay = target.retry_delay_secs(attempts);
        tracing::warn!(consumer = %target.function, attempts, error, delay, "invocation failed; retried after Lambda's delay");
        if let Some(h) = m.receipt_handle() {
            sqs.change_message_visibility()
                .queue_url(&target.queue_url)
                .receipt_handle(h)
                .visibility_timeout(delay)
                .send()
                .await
                .context("delaying a retry")?;
        }
        return Ok(Done::Retrying);
    };
    let condition = if too_old {
        "EventAgeExceeded"
    } else {
        "RetriesExhausted"
    };
    let record = failure_record(
        target.function,
        m.message_id().unwrap_or_default(),
        condition,
        attempts,
        envelope,
        error,
    );
    sqs.send_message()
        .queue_url(dead_letters)
        .message_body(record.to_string())
        .send()
        .await
        .context("sending to the on-failure destination")?;
    tracing::warn!(consumer = %target.function, attempts, condition, error, "invocation failed for the last time; sent to the on-failure destination");
    delete(sqs, target, m).await?;
    Ok(Done::DeadLettered)
}

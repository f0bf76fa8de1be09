//! A rule's delivery to its Lambda target, as EventBridge does it, before Lambda's own
//! asynchronous queue ([`crate::invoke`]) takes the event.
//!
//! EventBridge's documented behaviour ("Retrying events" and "Using dead-letter queues" in
//! the EventBridge user guide): when the target's `Invoke` is refused with a retryable error
//! (throttling, a service error), EventBridge retries "for 24 hours and up to 185 times with
//! an exponential back off and jitter" unless the rule's `RetryPolicy` says less; an error
//! it does not retry (a payload over the limit, a missing function or permission) and an
//! event past its retries go to the rule's dead-letter queue as the event itself, with the
//! message attributes `RULE_ARN`, `TARGET_ARN`, `ERROR_CODE`, `ERROR_MESSAGE`,
//! `RETRY_ATTEMPTS` and, past its retries, `EXHAUSTED_RETRY_CONDITION`. The template
//! points both a rule's dead-letter queue and the function's on-failure destination at one
//! queue, so it holds both shapes (`acw dlq` reads both).
//!
//! Locally the rule delivers to an SQS queue; refusals are decided here, when the event is
//! taken from it. A refused event is put back with its delivery attempts and first-sent
//! time as message attributes (so Lambda's own attempt count and event age start when it is
//! accepted, as on AWS), delayed by the backoff, multiplied by the target's `scale`.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_sqs::types::{Message, MessageAttributeValue};
use shared::functions::Function;

use crate::invoke::AsyncTarget;

/// Lambda's asynchronous `Invoke` payload limit (the 256 KB the stack keeps; see
/// `infra/aws_limits.py`).
pub const ASYNC_PAYLOAD_BYTES: usize = 256 * 1024;
/// The longest delay SQS takes (`DelaySeconds`), which caps a scaled backoff here.
const MAX_DELAY_SECS: i32 = 900;
const ATTEMPTS: &str = "eb_delivery_attempts";
const FIRST_SENT_MS: &str = "eb_first_sent_ms";

/// Why `Invoke` refused the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    /// Whether EventBridge tries again.
    pub retryable: bool,
}

/// What the rule's delivery did with a refused event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Put back for another attempt after the backoff.
    Retrying,
    /// Sent to the rule's dead-letter queue.
    DeadLettered,
}

/// Whether Lambda's `Invoke` takes `body` for `target` now.
pub fn refusal(target: &AsyncTarget, body: &str) -> Option<Refusal> {
    if body.len() > ASYNC_PAYLOAD_BYTES {
        return Some(Refusal {
            code: "RequestEntityTooLargeException",
            message: format!(
                "Request must be smaller than {ASYNC_PAYLOAD_BYTES} bytes for the InvokeAsync operation ({} bytes)",
                body.len()
            ),
            retryable: false,
        });
    }
    target.throttled.then(|| Refusal {
        code: "TooManyRequestsException",
        message: "Rate Exceeded.".into(),
        retryable: true,
    })
}

/// The backoff before delivery attempt `attempt + 1`: doubling from one second, capped at
/// SQS's longest delay after scaling.
fn backoff_secs(target: &AsyncTarget, attempt: u32) -> i32 {
    let unscaled = Duration::from_secs(1u64 << attempt.min(20));
    let scaled = unscaled.mul_f64(target.scale.max(0.0)).as_secs();
    i32::try_from(scaled)
        .unwrap_or(MAX_DELAY_SECS)
        .min(MAX_DELAY_SECS)
}

fn attribute(m: &Message, name: &str) -> Option<u64> {
    m.message_attributes()?
        .get(name)?
        .string_value()?
        .parse()
        .ok()
}

fn number(v: u64) -> Result<MessageAttributeValue> {
    Ok(MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(v.to_string())
        .build()?)
}

fn text(v: &str) -> Result<MessageAttributeValue> {
    Ok(MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()?)
}

/// The rule's ARN as the template's stack would name it.
fn rule_arn(function: Function) -> String {
    format!(
        "arn:aws:events:eu-west-1:123456789012:rule/local/{}-rule",
        function.name()
    )
}

/// Handles a refused event: back on the rule's queue after the backoff, or, past the rule's
/// `RetryPolicy` (or for an error not retried), to its dead-letter queue. Without a
/// dead-letter queue it is retried without limit.
pub async fn refused(
    sqs: &aws_sdk_sqs::Client,
    target: &AsyncTarget,
    m: &Message,
    refusal: &Refusal,
) -> Result<Delivery> {
    let body = m.body().unwrap_or_default();
    let attempts = attribute(m, ATTEMPTS).unwrap_or(1);
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let first_sent_ms = attribute(m, FIRST_SENT_MS).unwrap_or_else(|| {
        m.attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
            .and_then(|v| v.parse().ok())
            .unwrap_or(now_ms)
    });
    let age = Duration::from_millis(now_ms.saturating_sub(first_sent_ms));
    let (max_attempts, max_age) = target
        .function
        .rule_retry_policy()
        .unwrap_or((185, Duration::from_secs(86_400)));
    let too_old = age >= max_age.mul_f64(target.scale);
    let exhausted = attempts > u64::from(max_attempts) || too_old;
    let outcome = match (&target.dead_letters, !refusal.retryable || exhausted) {
        (Some(dead_letters), true) => {
            let mut send = sqs
                .send_message()
                .queue_url(dead_letters)
                .message_body(body)
                .message_attributes("RETRY_ATTEMPTS", number(attempts - 1)?);
            if refusal.retryable {
                let condition = if too_old {
                    "MaximumEventAgeInSeconds"
                } else {
                    "MaximumRetryAttempts"
                };
                send = send.message_attributes("EXHAUSTED_RETRY_CONDITION", text(condition)?);
            }
            send.message_attributes("RULE_ARN", text(&rule_arn(target.function))?)
                .message_attributes(
                    "TARGET_ARN",
                    text(&format!(
                        "arn:aws:lambda:eu-west-1:123456789012:function:{}",
                        target.function.name()
                    ))?,
                )
                .message_attributes("ERROR_CODE", text(refusal.code)?)
                .message_attributes("ERROR_MESSAGE", text(&refusal.message)?)
                .send()
                .await
                .context("sending to the rule's dead-letter queue")?;
            tracing::warn!(consumer = %target.function, attempts, code = refusal.code, "the rule could not deliver the event; sent to its dead-letter queue");
            Delivery::DeadLettered
        }
        _ => {
            let delay = backoff_secs(target, u32::try_from(attempts).unwrap_or(u32::MAX));
            sqs.send_message()
                .queue_url(&target.queue_url)
                .message_body(body)
                .delay_seconds(delay)
                .message_attributes(ATTEMPTS, number(attempts + 1)?)
                .message_attributes(FIRST_SENT_MS, number(first_sent_ms)?)
                .send()
                .await
                .context("putting a refused event back for the rule's retry")?;
            tracing::warn!(consumer = %target.function, attempts, code = refusal.code, delay, "the target refused the event; the rule retries it");
            Delivery::Retrying
        }
    };
    crate::invoke::delete(sqs, target, m).await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(throttled: bool) -> AsyncTarget {
        AsyncTarget {
            throttled,
            ..AsyncTarget::unlimited(Function::TicketSync, "q")
        }
    }

    #[test]
    fn an_oversized_payload_is_refused_for_good_and_a_throttled_target_for_now() {
        let big = "x".repeat(ASYNC_PAYLOAD_BYTES + 1);
        let r = refusal(&target(false), &big).unwrap();
        assert_eq!(
            (r.code, r.retryable),
            ("RequestEntityTooLargeException", false)
        );
        let r = refusal(&target(true), "{}").unwrap();
        assert_eq!((r.code, r.retryable), ("TooManyRequestsException", true));
        assert_eq!(refusal(&target(false), "{}"), None);
    }

    #[test]
    fn the_backoff_doubles_and_stays_within_what_sqs_delays() {
        let t = AsyncTarget {
            scale: 1.0,
            ..target(true)
        };
        assert_eq!(backoff_secs(&t, 1), 2);
        assert_eq!(backoff_secs(&t, 4), 16);
        assert_eq!(backoff_secs(&t, 30), MAX_DELAY_SECS);
    }
}

//! The consumers' queues as Lambda drains them in the month.

use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

/// Hands every queued event to `handle` until the queue is empty (a failed one is left for
/// its retry, as SQS does after the visibility timeout).
pub(super) async fn drain<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue: &local_runner::invoke::AsyncTarget,
    dead_lettered: &std::sync::atomic::AtomicU64,
    until_settled: bool,
    handle: F,
) -> Result<()>
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Value, String>>,
{
    loop {
        let outcome = local_runner::invoke::invoke_batch(sqs, queue, 0, &handle).await?;
        dead_lettered.fetch_add(
            outcome.dead_lettered as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        if outcome.handled > 0 {
            continue;
        }
        // A vendor down for 30 minutes outlasts Lambda's retries (about 3 minutes): while it
        // is down, every event waiting for its retry gets it (and its last one) now.
        if !until_settled || in_flight(sqs, &queue.queue_url).await? == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Events received but not yet deleted: waiting for their retry.
async fn in_flight(sqs: &aws_sdk_sqs::Client, queue: &str) -> Result<i64> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    Ok([
        A::ApproximateNumberOfMessages,
        A::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .filter_map(|a| attributes.get(a)?.parse::<i64>().ok())
    .sum())
}

//! The dead-letter queues over SQS (the port `services::dead_letters::Queues`), found
//! by name from the stack's name (`STACK_NAME`): `<stack>-<function>-dead-letters`, as the
//! template names them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::domain::dead_letters::queue_name;
use crate::functions::Function;
use crate::services::dead_letters::{QueueError, Queues, Received};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

/// Each receive waits this long for a message (long polling: an empty answer means the queue
/// has no visible message, not that the sampled servers had none).
const WAIT_SECS: i32 = 1;

#[derive(Debug)]
pub struct SqsQueues {
    client: aws_sdk_sqs::Client,
    stack: String,
    urls: tokio::sync::Mutex<HashMap<Function, String>>,
    wait_secs: i32,
}

fn error(what: &str, e: impl std::error::Error) -> QueueError {
    QueueError(format!("{what}: {}", DisplayErrorContext(e)))
}

impl SqsQueues {
    pub fn new(client: aws_sdk_sqs::Client, stack: &str) -> Self {
        Self {
            client,
            stack: stack.to_owned(),
            urls: tokio::sync::Mutex::new(HashMap::new()),
            wait_secs: WAIT_SECS,
        }
    }

    /// Receives that do not wait for a message (short polling: an empty answer may miss a
    /// message on AWS, which the next cycle's redrive finds; the simulated month, whose
    /// cycles are a second or two of wall time, cannot wait a second per queue).
    pub fn without_waiting(mut self) -> Self {
        self.wait_secs = 0;
        self
    }

    /// The queue's name, for reports.
    pub fn name(&self, function: Function) -> String {
        queue_name(&self.stack, function)
    }

    async fn url(&self, function: Function) -> Result<String, QueueError> {
        let mut urls = self.urls.lock().await;
        if let Some(url) = urls.get(&function) {
            return Ok(url.clone());
        }
        let name = self.name(function);
        let url = match self.client.get_queue_url().queue_name(&name).send().await {
            Ok(out) => out
                .queue_url
                .ok_or_else(|| QueueError(format!("GetQueueUrl of {name} returned no URL")))?,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_queue_does_not_exist()) =>
            {
                return Err(QueueError(format!(
                    "queue {name} does not exist: is STACK_NAME ({}) the stack's name?",
                    self.stack
                )));
            }
            Err(e) => return Err(error(&format!("finding queue {name}"), e)),
        };
        urls.insert(function, url.clone());
        Ok(url)
    }
}

impl Queues for SqsQueues {
    async fn receive(
        &self,
        function: Function,
        hide: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        let url = self.url(function).await?;
        let out = self
            .client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(i32::try_from(hide.as_secs()).unwrap_or(i32::MAX))
            .wait_time_seconds(self.wait_secs)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| error(&format!("receiving from {}", self.name(function)), e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let sent_at = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|ms| ms.parse::<i64>().ok())
                    .and_then(chrono::DateTime::from_timestamp_millis);
                let attributes: BTreeMap<String, String> = m
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                    .collect();
                Some(Received {
                    message_id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    attributes,
                    sent_at,
                })
            })
            .collect())
    }

    async fn delete(&self, function: Function, receipt: &str) -> Result<(), QueueError> {
        let url = self.url(function).await?;
        self.client
            .delete_message()
            .queue_url(&url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| error(&format!("deleting from {}", self.name(function)), e))?;
        Ok(())
    }

    async fn release(&self, function: Function, receipt: &str) -> Result<(), QueueError> {
        let url = self.url(function).await?;
        self.client
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| error(&format!("releasing in {}", self.name(function)), e))?;
        Ok(())
    }

    async fn waiting(&self, function: Function) -> Result<u64, QueueError> {
        let url = self.url(function).await?;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| error(&format!("reading {}", self.name(function)), e))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                QueueError(format!(
                    "{} has no ApproximateNumberOfMessages",
                    self.name(function)
                ))
            })
    }
}

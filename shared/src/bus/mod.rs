//! The EventBridge publisher.
//!
//! Entries go out in requests packed by count and by bytes (`limits`: at most 10 entries
//! whose sizes, as EventBridge computes them, add up to less than its request limit);
//! `FailedEntryCount` is checked and the failed entries retried with backoff when their
//! error is transient, then reported. An entry too large for EventBridge (or, in its
//! envelope, for an asynchronous invocation) is reported without being sent, and a request
//! EventBridge refuses as invalid is not sent again. The caller decides what a failure
//! means (the webhook answers 5xx so ConnectWise retries).

pub mod consumer;
pub mod delivery;
pub mod events;
pub mod limits;

use std::time::Duration;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

pub use events::{
    Action, AgreementChanged, AlertChanged, CompanyChanged, Event, EventError, Origin, SOURCE,
    TicketChanged, VERSION,
};

use limits::{MAX_ENTRIES_PER_REQUEST, MAX_ENTRY_BYTES, REQUEST_LIMIT_BYTES};

/// Rounds of retrying transient per-entry failures.
const RETRY_ROUNDS: u32 = 3;

/// One entry as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEntry {
    pub detail_type: String,
    pub detail: String,
}

/// An entry that did not make it onto the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedEntry {
    /// Position in the list given to `publish`.
    pub index: usize,
    pub detail_type: String,
    pub code: String,
    pub message: String,
}

/// What a publish did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishReport {
    pub published: usize,
    pub failed: Vec<FailedEntry>,
}

impl PublishReport {
    pub fn all_published(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Where a service's events go: the bus, or a fake that keeps them
/// ([`crate::testing::FakeBus`]).
pub trait EventSink: Send + Sync {
    /// Puts `events` on the bus; says which could not be put.
    fn publish_events(
        &self,
        events: &[Event],
    ) -> impl std::future::Future<Output = PublishReport> + Send;
}

impl EventSink for EventBus {
    async fn publish_events(&self, events: &[Event]) -> PublishReport {
        self.publish(events).await
    }
}

/// The product's event bus.
#[derive(Debug, Clone)]
pub struct EventBus {
    client: Client,
    bus_name: String,
    retry_delay: Duration,
}

fn transient(code: &str) -> bool {
    matches!(
        code,
        "InternalFailure"
            | "InternalException"
            | "ThrottlingException"
            | "ServiceUnavailable"
            | "RequestFailed"
    )
}

impl EventBus {
    /// The bus's name.
    pub fn name(&self) -> &str {
        &self.bus_name
    }

    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
            retry_delay: Duration::from_millis(200),
        }
    }

    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    /// Publishes typed events.
    pub async fn publish(&self, events: &[Event]) -> PublishReport {
        let mut entries = Vec::with_capacity(events.len());
        let mut failed = Vec::new();
        for (index, e) in events.iter().enumerate() {
            match e.detail() {
                Ok(detail) => entries.push((
                    index,
                    RawEntry {
                        detail_type: e.detail_type(),
                        detail,
                    },
                )),
                Err(err) => failed.push(FailedEntry {
                    index,
                    detail_type: e.detail_type(),
                    code: "SerializationFailed".into(),
                    message: err.to_string(),
                }),
            }
        }
        let mut report = self.publish_indexed(entries).await;
        report.failed.extend(failed);
        report.failed.sort_by_key(|f| f.index);
        report
    }

    /// Publishes entries as given (their detail must be a JSON object).
    pub async fn publish_raw(&self, entries: Vec<RawEntry>) -> PublishReport {
        self.publish_indexed(entries.into_iter().enumerate().collect())
            .await
    }

    async fn publish_indexed(&self, entries: Vec<(usize, RawEntry)>) -> PublishReport {
        let mut report = PublishReport::default();
        let mut pending = Vec::new();
        for (index, entry) in entries {
            let size = limits::entry_size(SOURCE, &entry.detail_type, &entry.detail);
            if size > MAX_ENTRY_BYTES {
                report.failed.push(FailedEntry {
                    index,
                    detail_type: entry.detail_type,
                    code: "EntryTooLarge".into(),
                    message: format!("{size} bytes is over EventBridge's {MAX_ENTRY_BYTES}"),
                });
            } else {
                pending.push((index, entry));
            }
        }
        // Transient failures (throttling, internal errors) are sent again with backoff
        // (backon); what is still failing after the last round is reported with its error.
        use backon::Retryable as _;
        let state = std::sync::Mutex::new((pending, report, Vec::<FailedEntry>::new()));
        let lock = || {
            state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let round = || async {
            let pending = std::mem::take(&mut lock().0);
            let mut retry = Vec::new();
            let mut retry_errors = Vec::new();
            let sizes: Vec<usize> = pending
                .iter()
                .map(|(_, e)| limits::entry_size(SOURCE, &e.detail_type, &e.detail))
                .collect();
            let requests = limits::pack(&sizes, MAX_ENTRIES_PER_REQUEST, REQUEST_LIMIT_BYTES - 1);
            for range in requests {
                let batch = &pending[range];
                let outcomes = self.put_batch(batch).await;
                let (_, report, _) = &mut *lock();
                for (entry, outcome) in batch.iter().zip(outcomes) {
                    match outcome {
                        Ok(()) => report.published += 1,
                        Err((code, message)) => {
                            let failure = FailedEntry {
                                index: entry.0,
                                detail_type: entry.1.detail_type.clone(),
                                code,
                                message,
                            };
                            if transient(&failure.code) {
                                retry.push(entry.clone());
                                retry_errors.push(failure);
                            } else {
                                report.failed.push(failure);
                            }
                        }
                    }
                }
            }
            let done = retry.is_empty();
            let (pending, _, last_errors) = &mut *lock();
            *pending = retry;
            *last_errors = retry_errors;
            if done { Ok(()) } else { Err(()) }
        };
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(self.retry_delay)
            .with_max_delay(self.retry_delay * 2u32.pow(RETRY_ROUNDS))
            .with_max_times(RETRY_ROUNDS as usize);
        let finished = round.retry(backoff).sleep(tokio::time::sleep).await;
        let (_, mut report, last_errors) = state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if finished.is_err() {
            report.failed.extend(last_errors);
        }
        if !report.failed.is_empty() {
            tracing::warn!(
                failed = report.failed.len(),
                published = report.published,
                "some events were not published"
            );
        }
        report
    }

    /// One `PutEvents` call; one outcome per entry, in order.
    async fn put_batch(&self, batch: &[(usize, RawEntry)]) -> Vec<Result<(), (String, String)>> {
        let entries: Vec<PutEventsRequestEntry> = batch
            .iter()
            .map(|(_, e)| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(SOURCE)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .build()
            })
            .collect();
        match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => {
                let results = out.entries();
                (0..batch.len())
                    .map(|i| match results.get(i) {
                        Some(r) if r.error_code().is_none() && r.event_id().is_some() => Ok(()),
                        Some(r) => Err((
                            r.error_code().unwrap_or("Unknown").to_owned(),
                            r.error_message().unwrap_or("no message").to_owned(),
                        )),
                        None => Err((
                            "MissingResult".into(),
                            "EventBridge returned fewer results than entries".into(),
                        )),
                    })
                    .collect()
            }
            Err(e) => {
                // A request EventBridge refuses as invalid fails the same way again; anything
                // else (no answer, throttling, a 5xx) may not.
                use aws_sdk_eventbridge::error::ProvideErrorMetadata as _;
                let code = match e.code() {
                    Some(c @ ("ValidationException" | "AccessDeniedException")) => c.to_owned(),
                    _ => "RequestFailed".to_owned(),
                };
                let message = aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string();
                batch
                    .iter()
                    .map(|_| Err((code.clone(), message.clone())))
                    .collect()
            }
        }
    }
}

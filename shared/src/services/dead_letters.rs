//! `acw dlq list | replay`: the dead-letter queues read, and the replay plan
//! ([`crate::domain::dead_letters`]) carried out, through two narrow ports so each branch is
//! tested with fakes: [`Queues`] (the queues; SQS in `acw`) and [`Republish`] (the bus).
//!
//! Nothing is lost and nothing is doubled by a replay that stops half-way: a message is
//! deleted only after its event is on the bus again, so a replay run twice (or interrupted
//! and run again) republishes at most the events whose messages were not deleted yet, and
//! the consumers are idempotent on them (a company event re-derives the company; an alert
//! event is keyed by its alert key). A message that stays is made visible again at the end,
//! so the next `list` or `replay` sees it at once.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::bus::{EventBus, PublishReport, RawEntry};
use crate::domain::dead_letters::{self, Content, DeadLetter, Planned, Step};
use crate::functions::Function;
use crate::store::{Change, Failure, RunRecord};

/// How long a listing hides the messages it has read while it pages through the queue (each
/// is made visible again when the listing ends; after this, by SQS, if it never does).
pub const LIST_HIDE: Duration = Duration::from_secs(30);
/// How long a replay hides a message between reading it and deleting it.
pub const REPLAY_HIDE: Duration = Duration::from_secs(300);

/// A queue operation failed (the message is safe to print).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(pub String);

/// One message as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub message_id: String,
    /// What deletes it or makes it visible again (this receive's).
    pub receipt: String,
    pub body: String,
    /// Its string message attributes.
    pub attributes: BTreeMap<String, String>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Each function's dead-letter queue.
pub trait Queues: Send + Sync {
    /// Up to 10 visible messages, each hidden from other receives for `hide`; none when the
    /// queue has no visible message.
    fn receive(
        &self,
        function: Function,
        hide: Duration,
    ) -> impl Future<Output = Result<Vec<Received>, QueueError>> + Send;

    fn delete(
        &self,
        function: Function,
        receipt: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Makes a received message visible again at once.
    fn release(
        &self,
        function: Function,
        receipt: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// About how many messages wait (SQS's `ApproximateNumberOfMessages`).
    fn waiting(&self, function: Function) -> impl Future<Output = Result<u64, QueueError>> + Send;
}

/// Puts events back on the bus.
pub trait Republish: Send + Sync {
    fn republish(&self, entries: Vec<RawEntry>) -> impl Future<Output = PublishReport> + Send;
}

impl Republish for EventBus {
    async fn republish(&self, entries: Vec<RawEntry>) -> PublishReport {
        self.publish_raw(entries).await
    }
}

/// A queue that could not be read (the others were).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueProblem {
    #[serde(serialize_with = "name")]
    pub function: Function,
    pub error: String,
}

fn name<S: serde::Serializer>(f: &Function, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(f.name())
}

/// What `acw dlq list` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Listing {
    pub dead_letters: Vec<DeadLetter>,
    pub problems: Vec<QueueProblem>,
}

/// What became of one planned dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Done {
    /// On the bus again, and its message deleted.
    Republished,
    Deleted,
    /// Left in the queue, as planned.
    Left,
    /// Not done: the message stays (a later replay tries again). `republished`: the event is
    /// on the bus again but its message could not be deleted, so a later replay sends it once
    /// more (its consumer is idempotent).
    Failed {
        reason: String,
        republished: bool,
    },
}

/// One dead letter, its plan and, unless a dry run, what was done.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replayed {
    #[serde(flatten)]
    pub planned: Planned,
    pub done: Option<Done>,
}

/// What `acw dlq replay` did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    pub dry_run: bool,
    pub items: Vec<Replayed>,
    pub problems: Vec<QueueProblem>,
}

impl ReplayReport {
    /// Per outcome (a dry run: per planned step).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        let mut counts = BTreeMap::new();
        for r in &self.items {
            let k = match (&r.done, &r.planned.step) {
                (None, Step::Republish) => "to_republish",
                (None, Step::Delete { .. }) => "to_delete",
                (None, Step::Keep { .. }) => "to_leave",
                (Some(Done::Republished), _) => "republished",
                (Some(Done::Deleted), _) => "deleted",
                (Some(Done::Left), _) => "left",
                (Some(Done::Failed { .. }), _) => "failed",
            };
            *counts.entry(k).or_default() += 1;
        }
        counts
    }

    /// Whether something planned was not done, or a queue could not be read.
    pub fn has_failures(&self) -> bool {
        !self.problems.is_empty()
            || self
                .items
                .iter()
                .any(|r| matches!(r.done, Some(Done::Failed { .. })))
    }

    /// Writes what was done into `run`: each republished or deleted message a change, each
    /// failure and each unreadable message left a failure (a person must see to those),
    /// counts per outcome.
    pub fn record(&self, run: &mut RunRecord) {
        for (k, n) in self.counts() {
            run.count(&format!("dead_letters_{k}"), n);
        }
        for r in &self.items {
            let l = &r.planned.letter;
            let subject = format!("dead letter {} {}", l.function, l.message_id);
            let detail_type = l.content.detail_type().unwrap_or("-").to_owned();
            match &r.done {
                Some(Done::Republished) => run.changes.push(Change {
                    subject,
                    field: "republished".into(),
                    old: None,
                    new: json!(detail_type),
                    basis: Some(format!("{} ({})", l.content.about(), l.shape.describe())),
                }),
                Some(Done::Deleted) => run.changes.push(Change {
                    subject,
                    field: "deleted".into(),
                    old: None,
                    new: json!(detail_type),
                    basis: match &r.planned.step {
                        Step::Delete { reason } => Some(reason.clone()),
                        _ => None,
                    },
                }),
                Some(Done::Failed { reason, .. }) => run.failures.push(Failure {
                    subject,
                    reason: reason.clone(),
                    transient: true,
                }),
                Some(Done::Left) if matches!(l.content, Content::Unreadable { .. }) => {
                    run.failures.push(Failure {
                        subject,
                        reason: format!("left in the queue: {}", l.content.describe()),
                        transient: false,
                    });
                }
                Some(Done::Left) | None => {}
            }
        }
        for p in &self.problems {
            run.failures.push(Failure {
                subject: format!("dead letters of {}", p.function),
                reason: p.error.clone(),
                transient: true,
            });
        }
    }
}

fn read(function: Function, m: &Received) -> DeadLetter {
    dead_letters::read(function, &m.message_id, m.sent_at, &m.body, &m.attributes)
}

/// Every message of `function`'s queue, each with its latest receipt; all of them still
/// hidden (for `hide`) when this returns.
async fn read_all<Q: Queues>(
    queues: &Q,
    function: Function,
    hide: Duration,
) -> Result<Vec<(DeadLetter, String)>, (Vec<(DeadLetter, String)>, QueueError)> {
    let mut out: Vec<(DeadLetter, String)> = Vec::new();
    loop {
        let batch = match queues.receive(function, hide).await {
            Ok(b) => b,
            Err(e) => return Err((out, e)),
        };
        let mut fresh = 0;
        for m in batch {
            // A message seen before is back (its hiding ran out): keep its newest receipt.
            match out.iter_mut().find(|(l, _)| l.message_id == m.message_id) {
                Some((_, receipt)) => *receipt = m.receipt,
                None => {
                    fresh += 1;
                    out.push((read(function, &m), m.receipt));
                }
            }
        }
        if fresh == 0 {
            return Ok(out);
        }
    }
}

/// Makes each message visible again; what fails is visible again when its hiding ends.
async fn release_all<Q: Queues>(queues: &Q, function: Function, receipts: &[String]) {
    for r in receipts {
        if let Err(e) = queues.release(function, r).await {
            tracing::warn!(%function, error = %e, "a dead letter stays hidden until its visibility timeout");
        }
    }
}

/// The dead letters of `functions`, left in their queues.
pub async fn list<Q: Queues>(queues: &Q, functions: &[Function]) -> Listing {
    let each = functions.iter().map(|f| async move {
        let (read, problem) = match read_all(queues, *f, LIST_HIDE).await {
            Ok(r) => (r, None),
            Err((r, e)) => (r, Some(e)),
        };
        let receipts: Vec<String> = read.iter().map(|(_, r)| r.clone()).collect();
        release_all(queues, *f, &receipts).await;
        (*f, read, problem)
    });
    let mut listing = Listing::default();
    for (f, read, problem) in futures::future::join_all(each).await {
        listing
            .dead_letters
            .extend(read.into_iter().map(|(l, _)| l));
        if let Some(e) = problem {
            listing.problems.push(QueueProblem {
                function: f,
                error: e.0,
            });
        }
    }
    listing
}

/// How many dead letters wait in each function's queue.
pub async fn waiting<Q: Queues>(
    queues: &Q,
    functions: &[Function],
) -> Vec<(Function, Result<u64, QueueError>)> {
    let each = functions
        .iter()
        .map(|f| async move { (*f, queues.waiting(*f).await) });
    futures::future::join_all(each).await
}

/// Replays the dead letters of `functions` (the chosen one's, with `chosen`): a dry run
/// reads and plans, changing nothing; otherwise each step is carried out as it is planned.
pub async fn replay<Q: Queues, P: Republish>(
    queues: &Q,
    bus: &P,
    functions: &[Function],
    chosen: Option<Function>,
    dry_run: bool,
) -> ReplayReport {
    let mut report = ReplayReport {
        dry_run,
        ..ReplayReport::default()
    };
    if dry_run {
        let listing = list(queues, functions).await;
        report.items = dead_letters::plan(listing.dead_letters, chosen)
            .items
            .into_iter()
            .map(|planned| Replayed {
                planned,
                done: None,
            })
            .collect();
        report.problems = listing.problems;
        return report;
    }
    let each = functions
        .iter()
        .filter(|f| chosen.is_none_or(|c| c == **f))
        .map(|f| replay_queue(queues, bus, *f, chosen));
    for (f, items, problem) in futures::future::join_all(each).await {
        report.items.extend(items);
        if let Some(e) = problem {
            report.problems.push(QueueProblem {
                function: f,
                error: e.0,
            });
        }
    }
    report
}

/// One queue, a batch at a time: plan the batch, republish its events in one request,
/// delete what is on the bus and what is to be deleted; at the end, make what stays visible.
async fn replay_queue<Q: Queues, P: Republish>(
    queues: &Q,
    bus: &P,
    function: Function,
    chosen: Option<Function>,
) -> (Function, Vec<Replayed>, Option<QueueError>) {
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    // Message id → the newest receipt of each message that stays.
    let mut stays: BTreeMap<String, String> = BTreeMap::new();
    let mut problem = None;
    loop {
        let batch = match queues.receive(function, REPLAY_HIDE).await {
            Ok(b) => b,
            Err(e) => {
                problem = Some(e);
                break;
            }
        };
        let mut fresh = Vec::new();
        for m in batch {
            if seen.insert(m.message_id.clone()) {
                fresh.push(m);
            } else if let Some(r) = stays.get_mut(&m.message_id) {
                *r = m.receipt;
            }
        }
        if fresh.is_empty() {
            break;
        }
        let letters: Vec<DeadLetter> = fresh.iter().map(|m| read(function, m)).collect();
        let planned = dead_letters::plan(letters, chosen);
        let batch_items = carry_out(queues, bus, function, &fresh, planned.items, &mut stays).await;
        items.extend(batch_items);
    }
    let receipts: Vec<String> = stays.into_values().collect();
    release_all(queues, function, &receipts).await;
    (function, items, problem)
}

async fn carry_out<Q: Queues, P: Republish>(
    queues: &Q,
    bus: &P,
    function: Function,
    received: &[Received],
    planned: Vec<Planned>,
    stays: &mut BTreeMap<String, String>,
) -> Vec<Replayed> {
    // The events to republish, in one request (the bus packs and retries).
    let mut entries = Vec::new();
    let mut entry_of = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        if let (
            Step::Republish,
            Content::Bus {
                detail_type,
                detail,
                ..
            },
        ) = (&p.step, &p.letter.content)
        {
            entry_of.push(i);
            entries.push(RawEntry {
                detail_type: detail_type.clone(),
                detail: detail.to_string(),
            });
        }
    }
    let mut not_published: BTreeMap<usize, String> = BTreeMap::new();
    if !entries.is_empty() {
        let published = bus.republish(entries).await;
        for f in published.failed {
            not_published.insert(entry_of[f.index], format!("{}: {}", f.code, f.message));
        }
    }
    let mut out = Vec::with_capacity(planned.len());
    for (i, p) in planned.into_iter().enumerate() {
        let Some(m) = received
            .iter()
            .find(|m| m.message_id == p.letter.message_id)
        else {
            continue;
        };
        let done = match &p.step {
            Step::Republish => match not_published.remove(&i) {
                Some(why) => Done::Failed {
                    reason: format!("not put back on the bus ({why}); left in the queue"),
                    republished: false,
                },
                None => match queues.delete(function, &m.receipt).await {
                    Ok(()) => Done::Republished,
                    Err(e) => Done::Failed {
                        reason: format!(
                            "put back on the bus, but its message could not be deleted ({e}); \
                             a later replay sends it again (its consumer is idempotent)"
                        ),
                        republished: true,
                    },
                },
            },
            Step::Delete { .. } => match queues.delete(function, &m.receipt).await {
                Ok(()) => Done::Deleted,
                Err(e) => Done::Failed {
                    reason: format!("not deleted ({e})"),
                    republished: false,
                },
            },
            Step::Keep { .. } => Done::Left,
        };
        if !matches!(done, Done::Republished | Done::Deleted) {
            stays.insert(m.message_id.clone(), m.receipt.clone());
        }
        out.push(Replayed {
            planned: p,
            done: Some(done),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::bus::FailedEntry;
    use serde_json::{Value, json};

    const COMPANY_ADDED: &str = include_str!("../../../tests/golden/events/company.added.json");
    const ALERT_RAISED: &str = include_str!("../../../tests/golden/events/alert.raised.json");

    #[derive(Debug, Clone)]
    struct Message {
        id: String,
        body: String,
        /// Received and not yet visible again.
        hidden: bool,
        receipt: u32,
    }

    /// Queues in memory: a receive hides what it returns until released, deleted, or
    /// `expire` (the hiding running out) is called.
    #[derive(Debug, Default)]
    struct FakeQueues {
        queues: Mutex<BTreeMap<Function, Vec<Message>>>,
        receipts: Mutex<u32>,
        fail_delete: Mutex<HashSet<String>>,
        calls: Mutex<Vec<String>>,
        /// Every hiding runs out before the next receive.
        no_hiding: bool,
    }

    impl FakeQueues {
        fn send(&self, f: Function, id: &str, body: &str) {
            self.queues
                .lock()
                .unwrap()
                .entry(f)
                .or_default()
                .push(Message {
                    id: id.into(),
                    body: body.into(),
                    hidden: false,
                    receipt: 0,
                });
        }
        fn ids(&self, f: Function) -> Vec<String> {
            self.queues
                .lock()
                .unwrap()
                .get(&f)
                .into_iter()
                .flatten()
                .map(|m| m.id.clone())
                .collect()
        }
        fn visible(&self, f: Function) -> usize {
            self.queues
                .lock()
                .unwrap()
                .get(&f)
                .into_iter()
                .flatten()
                .filter(|m| !m.hidden)
                .count()
        }
        fn expire(&self) {
            for q in self.queues.lock().unwrap().values_mut() {
                for m in q {
                    m.hidden = false;
                }
            }
        }
        fn writes(&self) -> Vec<String> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c.starts_with("delete"))
                .cloned()
                .collect()
        }
    }

    impl Queues for FakeQueues {
        async fn receive(
            &self,
            function: Function,
            _hide: Duration,
        ) -> Result<Vec<Received>, QueueError> {
            let mut queues = self.queues.lock().unwrap();
            let mut out = Vec::new();
            for m in queues.entry(function).or_default().iter_mut() {
                if out.len() == 10 {
                    break;
                }
                if !m.hidden {
                    let mut n = self.receipts.lock().unwrap();
                    *n += 1;
                    m.hidden = !self.no_hiding;
                    m.receipt = *n;
                    out.push(Received {
                        message_id: m.id.clone(),
                        receipt: n.to_string(),
                        body: m.body.clone(),
                        attributes: BTreeMap::new(),
                        sent_at: None,
                    });
                }
            }
            Ok(out)
        }

        async fn delete(&self, function: Function, receipt: &str) -> Result<(), QueueError> {
            let mut queues = self.queues.lock().unwrap();
            let q = queues.entry(function).or_default();
            let Some(at) = q.iter().position(|m| m.receipt.to_string() == receipt) else {
                return Err(QueueError(format!("stale receipt {receipt}")));
            };
            if self.fail_delete.lock().unwrap().contains(&q[at].id) {
                return Err(QueueError("AccessDenied".into()));
            }
            self.calls
                .lock()
                .unwrap()
                .push(format!("delete {function} {}", q[at].id));
            q.remove(at);
            Ok(())
        }

        async fn release(&self, function: Function, receipt: &str) -> Result<(), QueueError> {
            let mut queues = self.queues.lock().unwrap();
            for m in queues.entry(function).or_default() {
                if m.receipt.to_string() == receipt {
                    m.hidden = false;
                }
            }
            Ok(())
        }

        async fn waiting(&self, function: Function) -> Result<u64, QueueError> {
            Ok(self.visible(function) as u64)
        }
    }

    /// A bus that keeps what it got, and refuses the detail-types in `refuse`.
    #[derive(Debug, Default)]
    struct FakeBus {
        got: Mutex<Vec<RawEntry>>,
        refuse: Vec<String>,
    }

    impl Republish for FakeBus {
        async fn republish(&self, entries: Vec<RawEntry>) -> PublishReport {
            let mut report = PublishReport::default();
            for (index, e) in entries.into_iter().enumerate() {
                if self.refuse.contains(&e.detail_type) {
                    report.failed.push(FailedEntry {
                        index,
                        detail_type: e.detail_type,
                        code: "ThrottlingException".into(),
                        message: "slow down".into(),
                    });
                } else {
                    report.published += 1;
                    self.got.lock().unwrap().push(e);
                }
            }
            report
        }
    }

    fn on_failure(event: &str) -> String {
        let event: Value = serde_json::from_str(event).unwrap();
        json!({
            "version": "1.0", "timestamp": "2026-11-02T10:20:00.000Z",
            "requestContext": {"requestId": "r-1", "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:f",
                               "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "RetryableError", "errorMessage": "ConnectWise 503"}
        })
        .to_string()
    }

    fn newer() -> String {
        let mut e: Value = serde_json::from_str(COMPANY_ADDED).unwrap();
        e["detail"]["version"] = json!(crate::bus::VERSION + 1);
        e.to_string()
    }

    fn tick() -> String {
        json!({"version": "0", "id": "t", "detail-type": "Scheduled Event", "source": "aws.events",
               "time": "2026-11-02T10:15:00Z", "detail": {}})
        .to_string()
    }

    const ALL: [Function; 3] = [
        Function::Provisioner,
        Function::TicketSync,
        Function::Reconciler,
    ];

    fn seeded() -> FakeQueues {
        let q = FakeQueues::default();
        q.send(Function::Provisioner, "rule", COMPANY_ADDED);
        q.send(Function::Provisioner, "lambda", &on_failure(COMPANY_ADDED));
        q.send(Function::Provisioner, "newer", &newer());
        q.send(Function::TicketSync, "alert", &on_failure(ALERT_RAISED));
        q.send(Function::Reconciler, "tick", &tick());
        q
    }

    fn outcome(r: &ReplayReport, id: &str) -> Done {
        r.items
            .iter()
            .find(|i| i.planned.letter.message_id == id)
            .and_then(|i| i.done.clone())
            .unwrap_or_else(|| panic!("{id}: {r:#?}"))
    }

    #[tokio::test]
    async fn list_and_a_dry_run_leave_every_message_visible() {
        let q = seeded();
        let bus = FakeBus::default();
        let listing = list(&q, &ALL).await;
        assert_eq!(listing.dead_letters.len(), 5);
        assert!(listing.problems.is_empty());
        let report = replay(&q, &bus, &ALL, None, true).await;
        assert_eq!(
            report.counts(),
            BTreeMap::from([("to_leave", 2), ("to_republish", 3)])
        );
        assert!(report.items.iter().all(|i| i.done.is_none()));
        assert!(bus.got.lock().unwrap().is_empty());
        assert!(q.writes().is_empty());
        for f in ALL {
            assert_eq!(q.visible(f), q.ids(f).len(), "{f}");
        }
    }

    #[tokio::test]
    async fn a_replay_republishes_what_it_reads_and_leaves_the_rest_visible() {
        let q = seeded();
        let bus = FakeBus::default();
        let report = replay(&q, &bus, &ALL, None, false).await;
        assert_eq!(outcome(&report, "rule"), Done::Republished);
        assert_eq!(outcome(&report, "lambda"), Done::Republished);
        assert_eq!(outcome(&report, "alert"), Done::Republished);
        assert_eq!(outcome(&report, "newer"), Done::Left);
        assert_eq!(outcome(&report, "tick"), Done::Left);
        let got: Vec<String> = bus
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.detail_type.clone())
            .collect();
        assert_eq!(got, ["company.added", "company.added", "alert.raised"]);
        // The detail as it was sent, whichever shape held it.
        let original: Value = serde_json::from_str(COMPANY_ADDED).unwrap();
        for e in bus.got.lock().unwrap().iter().take(2) {
            assert_eq!(
                serde_json::from_str::<Value>(&e.detail).unwrap(),
                original["detail"]
            );
        }
        assert_eq!(q.ids(Function::Provisioner), ["newer"]);
        assert_eq!(q.ids(Function::Reconciler), ["tick"]);
        assert_eq!(q.visible(Function::Provisioner), 1, "left visible at once");
        assert!(!report.has_failures());

        let mut run = RunRecord::start("acw");
        report.record(&mut run);
        assert_eq!(run.changes.len(), 3);
        assert_eq!(run.failures.len(), 1, "the unreadable one: {run:?}");
        assert!(!run.failures[0].transient);
        assert_eq!(run.counts["dead_letters_republished"], 3);
        assert_eq!(run.counts["dead_letters_left"], 2);

        // Again: nothing more is published or deleted.
        let again = replay(&q, &bus, &ALL, None, false).await;
        assert_eq!(bus.got.lock().unwrap().len(), 3);
        assert_eq!(again.counts(), BTreeMap::from([("left", 2)]));
    }

    #[tokio::test]
    async fn naming_a_scheduled_function_deletes_its_ticks_and_nothing_else() {
        let q = seeded();
        let bus = FakeBus::default();
        let report = replay(
            &q,
            &bus,
            &[Function::Reconciler],
            Some(Function::Reconciler),
            false,
        )
        .await;
        assert_eq!(outcome(&report, "tick"), Done::Deleted);
        assert_eq!(report.items.len(), 1);
        assert!(q.ids(Function::Reconciler).is_empty());
        assert_eq!(q.ids(Function::Provisioner).len(), 3);
        assert!(bus.got.lock().unwrap().is_empty());
        let mut run = RunRecord::start("acw");
        report.record(&mut run);
        assert_eq!(run.changes[0].field, "deleted");
        assert!(
            run.changes[0]
                .basis
                .as_deref()
                .unwrap()
                .contains("--function reconciler")
        );
    }

    #[tokio::test]
    async fn a_refused_publish_deletes_nothing_and_a_failed_delete_is_replayed_again() {
        let q = seeded();
        let bus = FakeBus {
            refuse: vec!["alert.raised".into()],
            ..FakeBus::default()
        };
        q.fail_delete.lock().unwrap().insert("lambda".into());
        let report = replay(&q, &bus, &ALL, None, false).await;
        assert!(matches!(
            outcome(&report, "alert"),
            Done::Failed {
                republished: false,
                ..
            }
        ));
        assert!(matches!(
            outcome(&report, "lambda"),
            Done::Failed {
                republished: true,
                ..
            }
        ));
        assert_eq!(outcome(&report, "rule"), Done::Republished);
        assert!(report.has_failures());
        assert_eq!(q.ids(Function::TicketSync), ["alert"]);
        assert_eq!(q.visible(Function::TicketSync), 1);
        assert_eq!(q.ids(Function::Provisioner), ["lambda", "newer"]);

        // Fixed, then again: only what is still queued goes out (the company event once more).
        q.fail_delete.lock().unwrap().clear();
        let bus2 = FakeBus::default();
        let again = replay(&q, &bus2, &ALL, None, false).await;
        assert_eq!(outcome(&again, "lambda"), Done::Republished);
        assert_eq!(outcome(&again, "alert"), Done::Republished);
        assert!(!again.has_failures());
        let got: Vec<String> = bus2
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.detail_type.clone())
            .collect();
        assert_eq!(got, ["company.added", "alert.raised"]);
    }

    #[tokio::test]
    async fn a_queue_larger_than_a_batch_is_read_whole_and_once() {
        let q = FakeQueues::default();
        for i in 0..25 {
            q.send(Function::Provisioner, &format!("m{i}"), COMPANY_ADDED);
        }
        for i in 0..12 {
            q.send(Function::Provisioner, &format!("n{i}"), &newer());
        }
        let listing = list(&q, &[Function::Provisioner]).await;
        assert_eq!(listing.dead_letters.len(), 37);
        let bus = FakeBus::default();
        let report = replay(&q, &bus, &[Function::Provisioner], None, false).await;
        assert_eq!(
            report.counts(),
            BTreeMap::from([("left", 12), ("republished", 25)])
        );
        assert_eq!(bus.got.lock().unwrap().len(), 25);
        assert_eq!(q.visible(Function::Provisioner), 12);
    }

    #[tokio::test]
    async fn a_message_seen_again_is_not_handled_twice() {
        // Received by a replay that died: hidden, then visible again.
        let q = FakeQueues::default();
        q.send(Function::Provisioner, "a", &newer());
        let _ = q.receive(Function::Provisioner, REPLAY_HIDE).await.unwrap();
        q.expire();
        assert_eq!(
            waiting(&q, &[Function::Provisioner]).await[0].1,
            Ok(1),
            "counted as waiting"
        );
        // And a queue whose hiding runs out at once: each message is still read once.
        let q = FakeQueues {
            no_hiding: true,
            ..FakeQueues::default()
        };
        q.send(Function::Provisioner, "a", &newer());
        q.send(Function::Provisioner, "b", COMPANY_ADDED);
        assert_eq!(
            list(&q, &[Function::Provisioner]).await.dead_letters.len(),
            2
        );
        let bus = FakeBus::default();
        let report = replay(&q, &bus, &[Function::Provisioner], None, false).await;
        assert_eq!(
            report.counts(),
            BTreeMap::from([("left", 1), ("republished", 1)])
        );
        assert_eq!(bus.got.lock().unwrap().len(), 1);
        assert_eq!(q.ids(Function::Provisioner), ["a"]);
    }
}

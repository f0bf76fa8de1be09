//! Dead letters, pure: what a message of a function's dead-letter queue holds, and what
//! `acw dlq replay` does with it (see `services::dead_letters` for the reads and
//! the writes).
//!
//! Each asynchronously invoked function has one queue, named
//! `<stack name>-<function name>-dead-letters` ([`queue_name`]; the template's `QueueName`).
//! A message comes in one of two shapes ([`Shape`]): what the function's rule could not
//! deliver (the body is the EventBridge event), or what the function failed on after its
//! retries (the body is Lambda's on-failure record, the event under `requestPayload`).
//!
//! The replay plan ([`plan`]): a bus event this version reads is put back on the bus as it
//! was (its detail verbatim, so fields a newer writer added survive) and its message deleted
//! once it is there; a schedule's tick is not re-run (the function's next scheduled run does
//! its work) and is deleted only when the operator names that function; anything this version
//! cannot read (a newer `VERSION`, another source, no event at all) stays, with the reason.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::bus::{Event, SOURCE};
use crate::functions::{Function, Trigger};

/// The last part of every dead-letter queue's name.
pub const QUEUE_SUFFIX: &str = "dead-letters";

/// The `source` and `detail-type` of an EventBridge schedule's event.
const SCHEDULE_SOURCE: &str = "aws.events";
const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";

/// The functions with a dead-letter queue: every one invoked asynchronously (all but the
/// webhook, which answers over HTTP).
pub fn functions() -> impl Iterator<Item = Function> {
    Function::ALL
        .into_iter()
        .filter(|f| f.trigger() != Trigger::Http)
}

/// Whether `function` has a dead-letter queue.
pub fn has_queue(function: Function) -> bool {
    function.trigger() != Trigger::Http
}

/// The queue's name in stack `stack` (`${AWS::StackName}-<function>-dead-letters`).
pub fn queue_name(stack: &str, function: Function) -> String {
    format!("{stack}-{}-{QUEUE_SUFFIX}", function.name())
}

/// How a dead letter came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// The rule could not deliver it: the body is the EventBridge event.
    Event,
    /// Lambda's on-failure record: the event under `requestPayload`.
    OnFailure,
    /// Neither (not JSON, or JSON holding no event).
    Unknown,
}

impl Shape {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Event => "rule's event",
            Self::OnFailure => "Lambda on-failure record",
            Self::Unknown => "unknown",
        }
    }
}

/// What the message says about the failure: Lambda's record (`requestContext`,
/// `responsePayload`), or the message attributes EventBridge adds to a rule's dead letter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Why {
    /// `RetriesExhausted` / `EventAgeExceeded` (Lambda), or the rule's
    /// `EXHAUSTED_RETRY_CONDITION` (`MaximumRetryAttempts`, `MaximumEventAgeInSeconds`).
    pub condition: Option<String>,
    /// The function's error (`errorType: errorMessage`), or the rule's
    /// `ERROR_CODE: ERROR_MESSAGE`.
    pub error: Option<String>,
    /// Invocations or deliveries tried.
    pub attempts: Option<u64>,
}

impl Why {
    /// One line, for a table.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.condition {
            parts.push(c.clone());
        }
        if let Some(n) = self.attempts {
            parts.push(format!("{n} attempt(s)"));
        }
        if let Some(e) = &self.error {
            parts.push(e.clone());
        }
        parts.join("; ")
    }
}

/// What a bus event is about: the key its consumer is idempotent on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// Re-derived by the provisioner from what ConnectWise says now.
    Company { company_id: i64 },
    Agreement {
        agreement_id: i64,
        company_id: Option<i64>,
    },
    /// One ticket per alert key.
    Alert { alert_key: String, company_id: i64 },
    /// A ConnectWise ticket a technician may have closed (re-read when handled).
    Ticket { ticket_id: i64 },
    UsageShard {
        run_id: String,
        shard: u32,
        shards: u32,
    },
}

impl Subject {
    pub fn of(event: &Event) -> Self {
        match event {
            Event::Company(c) => Self::Company {
                company_id: c.company_id,
            },
            Event::Agreement(a) => Self::Agreement {
                agreement_id: a.agreement_id,
                company_id: a.company_id,
            },
            Event::AlertRaised(a) | Event::AlertCleared(a) => Self::Alert {
                alert_key: a.alert_key.clone(),
                company_id: a.company_id,
            },
            Event::Ticket(t) => Self::Ticket {
                ticket_id: t.ticket_id,
            },
            Event::UsageShard(u) => Self::UsageShard {
                run_id: u.run_id.clone(),
                shard: u.shard,
                shards: u.shards,
            },
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Company { company_id } => write!(f, "company {company_id}"),
            Self::Agreement {
                agreement_id,
                company_id: Some(c),
            } => write!(f, "agreement {agreement_id} (company {c})"),
            Self::Agreement {
                agreement_id,
                company_id: None,
            } => write!(f, "agreement {agreement_id}"),
            Self::Alert {
                alert_key,
                company_id,
            } => write!(f, "alert {alert_key} (company {company_id})"),
            Self::Ticket { ticket_id } => write!(f, "ticket {ticket_id}"),
            Self::UsageShard {
                run_id,
                shard,
                shards,
            } => {
                write!(f, "usage shard {}/{shards} of run {run_id}", shard + 1)
            }
        }
    }
}

/// The event a dead letter holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    /// A bus event this version reads.
    Bus {
        detail_type: String,
        subject: Subject,
        /// As it was sent (put back on the bus as it is).
        detail: Value,
    },
    /// A schedule's tick (the reconciler, the alert poller, the usage push).
    Scheduled,
    /// What this version cannot replay.
    Unreadable {
        detail_type: Option<String>,
        reason: String,
        /// Written by a newer version (a rollback's leftovers): that version's `acw` replays
        /// it once the stack runs it again.
        newer: bool,
    },
}

impl Content {
    pub fn detail_type(&self) -> Option<&str> {
        match self {
            Self::Bus { detail_type, .. } => Some(detail_type),
            Self::Scheduled => Some(SCHEDULE_DETAIL_TYPE),
            Self::Unreadable { detail_type, .. } => detail_type.as_deref(),
        }
    }

    /// What it is about, for a table (why it cannot be read is the step's reason).
    pub fn about(&self) -> String {
        match self {
            Self::Bus { subject, .. } => subject.to_string(),
            Self::Scheduled => "a scheduled run".into(),
            Self::Unreadable { newer: true, .. } => "an event of a newer version".into(),
            Self::Unreadable { .. } => "unreadable".into(),
        }
    }

    /// [`Content::about`], with why it cannot be read.
    pub fn describe(&self) -> String {
        match self {
            Self::Unreadable { reason, .. } => format!("{}: {reason}", self.about()),
            _ => self.about(),
        }
    }
}

/// One message of a dead-letter queue, read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Whose queue it is in.
    #[serde(serialize_with = "function_name")]
    pub function: Function,
    /// The SQS message id.
    pub message_id: String,
    /// When it reached the queue.
    pub sent_at: Option<DateTime<Utc>>,
    pub shape: Shape,
    /// The EventBridge event's `id` and `time`.
    pub event_id: Option<String>,
    pub event_time: Option<String>,
    pub content: Content,
    pub why: Why,
}

fn function_name<S: serde::Serializer>(f: &Function, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(f.name())
}

/// What one message of `function`'s queue holds. `attributes` are its SQS message attributes
/// (EventBridge puts `ERROR_CODE`, `ERROR_MESSAGE`, `EXHAUSTED_RETRY_CONDITION` and
/// `RETRY_ATTEMPTS` on a rule's dead letter).
pub fn read(
    function: Function,
    message_id: &str,
    sent_at: Option<DateTime<Utc>>,
    body: &str,
    attributes: &BTreeMap<String, String>,
) -> DeadLetter {
    let letter = |shape, event: Option<&Value>, content, why| DeadLetter {
        function,
        message_id: message_id.to_owned(),
        sent_at,
        shape,
        event_id: event.and_then(|e| text(e, "id")),
        event_time: event.and_then(|e| text(e, "time")),
        content,
        why,
    };
    let unreadable = |reason: String| Content::Unreadable {
        detail_type: None,
        reason,
        newer: false,
    };
    let body: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => {
            return letter(
                Shape::Unknown,
                None,
                unreadable(format!("the body is not JSON ({e})")),
                Why::default(),
            );
        }
    };
    if body.get("requestContext").is_some() {
        let why = on_failure_why(&body);
        return match body.get("requestPayload").filter(|p| p.is_object()) {
            Some(event) => letter(Shape::OnFailure, Some(event), content(event), why),
            None => letter(
                Shape::OnFailure,
                None,
                unreadable("the on-failure record holds no event (no requestPayload)".into()),
                why,
            ),
        };
    }
    if body.get("detail-type").is_some() {
        return letter(
            Shape::Event,
            Some(&body),
            content(&body),
            rule_why(attributes),
        );
    }
    letter(
        Shape::Unknown,
        None,
        unreadable("neither an EventBridge event nor Lambda's on-failure record".into()),
        rule_why(attributes),
    )
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// What an EventBridge event (`{"source", "detail-type", "detail", …}`) is to this version.
fn content(event: &Value) -> Content {
    let detail_type = text(event, "detail-type");
    let source = text(event, "source");
    let unreadable = |reason: String, newer| Content::Unreadable {
        detail_type: detail_type.clone(),
        reason,
        newer,
    };
    if source.as_deref() == Some(SCHEDULE_SOURCE)
        && detail_type.as_deref() == Some(SCHEDULE_DETAIL_TYPE)
    {
        return Content::Scheduled;
    }
    if source.as_deref() != Some(SOURCE) {
        return unreadable(
            format!(
                "its source {} is not this product's ({SOURCE})",
                source.map_or_else(|| "(none)".to_owned(), |s| format!("{s:?}"))
            ),
            false,
        );
    }
    let Some(dt) = detail_type.as_deref() else {
        return unreadable("it has no detail-type".into(), false);
    };
    let detail = event.get("detail").cloned().unwrap_or(Value::Null);
    match Event::parse(dt, detail.clone()) {
        Ok(e) => Content::Bus {
            detail_type: dt.to_owned(),
            subject: Subject::of(&e),
            detail,
        },
        Err(e) if e.is_newer() => unreadable(
            format!(
                "{e}: written by a newer version; replay it with that version's acw once \
                     the stack runs it again"
            ),
            true,
        ),
        Err(e) => unreadable(e.to_string(), false),
    }
}

/// Lambda's on-failure record: `requestContext.condition` and `approximateInvokeCount`, the
/// error in `responsePayload`.
fn on_failure_why(record: &Value) -> Why {
    let ctx = &record["requestContext"];
    let response = &record["responsePayload"];
    let error = match (text(response, "errorType"), text(response, "errorMessage")) {
        (Some(t), Some(m)) => Some(format!("{t}: {m}")),
        (t, m) => m.or(t).or_else(|| {
            text(&record["responseContext"], "functionError").map(|e| format!("function error {e}"))
        }),
    };
    Why {
        condition: text(ctx, "condition"),
        error,
        attempts: ctx.get("approximateInvokeCount").and_then(Value::as_u64),
    }
}

/// The attributes EventBridge adds to a rule's dead letter.
fn rule_why(attributes: &BTreeMap<String, String>) -> Why {
    let get = |k: &str| attributes.get(k).cloned();
    let error = match (get("ERROR_CODE"), get("ERROR_MESSAGE")) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (c, m) => c.or(m),
    };
    Why {
        condition: get("EXHAUSTED_RETRY_CONDITION"),
        error,
        attempts: get("RETRY_ATTEMPTS").and_then(|n| n.parse().ok()),
    }
}

/// What a replay does with one dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Put the event back on the bus, then delete the message (only once it is there).
    Republish,
    /// Delete the message without replaying it.
    Delete { reason: String },
    /// Leave the message in the queue.
    Keep { reason: String },
}

impl Step {
    /// What it says, before (`would`) or after.
    pub fn describe(&self, would: bool) -> String {
        match (self, would) {
            (Self::Republish, true) => "would republish, then delete".into(),
            (Self::Republish, false) => "republish, then delete".into(),
            (Self::Delete { reason }, true) => format!("would delete: {reason}"),
            (Self::Delete { reason }, false) => format!("delete: {reason}"),
            (Self::Keep { reason }, _) => format!("leave: {reason}"),
        }
    }
}

/// The replay's step for `letter`; `chosen` is the function the operator named
/// (`--function`), if any.
pub fn step(letter: &DeadLetter, chosen: Option<Function>) -> Step {
    let f = letter.function;
    match &letter.content {
        Content::Bus { .. } => Step::Republish,
        Content::Scheduled if f.trigger() != Trigger::Schedule => Step::Keep {
            reason: format!("a schedule's event, but {f} is not a scheduled function"),
        },
        Content::Scheduled if chosen == Some(f) => Step::Delete {
            reason: format!(
                "a scheduled run of {f} is not re-run (its next scheduled run does its work); \
                 deleted as `--function {f}` asked"
            ),
        },
        Content::Scheduled => Step::Keep {
            reason: format!(
                "a scheduled run of {f}: not re-run (its next scheduled run does its work); \
                 `acw dlq replay --function {f}` deletes it"
            ),
        },
        Content::Unreadable { reason, .. } => Step::Keep {
            reason: reason.clone(),
        },
    }
}

/// One dead letter and its step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    #[serde(flatten)]
    pub letter: DeadLetter,
    #[serde(rename = "plan")]
    pub step: Step,
}

/// What a replay of these dead letters does, in their order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayPlan {
    pub items: Vec<Planned>,
}

impl ReplayPlan {
    /// How many of each step.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::from([("republish", 0), ("delete", 0), ("keep", 0)]);
        for p in &self.items {
            let k = match p.step {
                Step::Republish => "republish",
                Step::Delete { .. } => "delete",
                Step::Keep { .. } => "keep",
            };
            *counts.entry(k).or_default() += 1;
        }
        counts
    }
}

/// The replay plan of `letters`: those of the chosen function only, when one is.
pub fn plan(letters: Vec<DeadLetter>, chosen: Option<Function>) -> ReplayPlan {
    ReplayPlan {
        items: letters
            .into_iter()
            .filter(|l| chosen.is_none_or(|c| c == l.function))
            .map(|letter| Planned {
                step: step(&letter, chosen),
                letter,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::VERSION;
    use serde_json::json;

    const COMPANY_ADDED: &str = include_str!("../../../tests/golden/events/company.added.json");
    const ALERT_RAISED: &str = include_str!("../../../tests/golden/events/alert.raised.json");

    fn none() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Lambda's on-failure record around `event`.
    fn on_failure(event: &Value) -> String {
        json!({
            "version": "1.0",
            "timestamp": "2026-11-02T10:20:00.000Z",
            "requestContext": {
                "requestId": "c0ffee00-0000-4000-8000-000000000001",
                "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:acw-Provisioner-X:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "RetryableError", "errorMessage": "company 1042: ConnectWise 503"}
        })
        .to_string()
    }

    #[test]
    fn queue_names_follow_the_template() {
        assert_eq!(
            queue_name("acw", Function::UsageShardWorker),
            "acw-usage-shard-worker-dead-letters"
        );
        let with: Vec<_> = functions().collect();
        assert_eq!(with.len(), Function::ALL.len() - 1);
        assert!(!has_queue(Function::Webhook));
        assert!(with.iter().all(|f| has_queue(*f)));
    }

    #[test]
    fn both_shapes_hold_the_same_event() {
        let event: Value = serde_json::from_str(COMPANY_ADDED).unwrap();
        let rule = read(Function::Provisioner, "m-1", None, COMPANY_ADDED, &none());
        let lambda = read(
            Function::Provisioner,
            "m-2",
            None,
            &on_failure(&event),
            &none(),
        );
        assert_eq!(rule.shape, Shape::Event);
        assert_eq!(lambda.shape, Shape::OnFailure);
        assert_eq!(rule.content, lambda.content);
        assert_eq!(
            rule.content,
            Content::Bus {
                detail_type: "company.added".into(),
                subject: Subject::Company { company_id: 1042 },
                detail: event["detail"].clone(),
            }
        );
        assert_eq!(lambda.event_id, event["id"].as_str().map(str::to_owned));
        assert_eq!(lambda.event_time.as_deref(), Some("2026-11-02T10:15:03Z"));
        assert_eq!(
            lambda.why,
            Why {
                condition: Some("RetriesExhausted".into()),
                error: Some("RetryableError: company 1042: ConnectWise 503".into()),
                attempts: Some(3),
            }
        );
        assert_eq!(rule.content.about(), "company 1042");
    }

    #[test]
    fn an_alert_is_keyed_by_its_alert_key() {
        let l = read(Function::TicketSync, "m", None, ALERT_RAISED, &none());
        assert_eq!(
            l.content.detail_type(),
            Some("alert.raised"),
            "{:?}",
            l.content
        );
        let Content::Bus { subject, .. } = &l.content else {
            panic!("{:?}", l.content)
        };
        assert_eq!(
            subject,
            &Subject::Alert {
                alert_key: "acr:5a3e9c1d-2b7f-4e8a-9c6d-1f0e2d3c4b5a:BackupFailed:srv-fs01".into(),
                company_id: 1042,
            }
        );
    }

    #[test]
    fn a_rules_dead_letter_says_why_from_its_attributes() {
        let attributes = BTreeMap::from([
            ("ERROR_CODE".to_owned(), "SDK_CLIENT_ERROR".to_owned()),
            ("ERROR_MESSAGE".to_owned(), "Lambda throttled".to_owned()),
            (
                "EXHAUSTED_RETRY_CONDITION".to_owned(),
                "MaximumEventAgeInSeconds".to_owned(),
            ),
            ("RETRY_ATTEMPTS".to_owned(), "185".to_owned()),
        ]);
        let l = read(Function::Provisioner, "m", None, COMPANY_ADDED, &attributes);
        assert_eq!(
            l.why.summary(),
            "MaximumEventAgeInSeconds; 185 attempt(s); SDK_CLIENT_ERROR: Lambda throttled"
        );
    }

    #[test]
    fn what_this_version_cannot_read_says_why() {
        let mut newer: Value = serde_json::from_str(COMPANY_ADDED).unwrap();
        newer["detail"]["version"] = json!(VERSION + 1);
        let cases = [
            ("not json".to_owned(), Shape::Unknown, "not JSON", false),
            (
                json!({"hello": 1}).to_string(),
                Shape::Unknown,
                "neither",
                false,
            ),
            (
                json!({"version": "1.0", "requestContext": {"condition": "EventAgeExceeded"}})
                    .to_string(),
                Shape::OnFailure,
                "no requestPayload",
                false,
            ),
            (newer.to_string(), Shape::Event, "newer version", true),
            (on_failure(&newer), Shape::OnFailure, "newer version", true),
            (
                json!({"source": "elsewhere", "detail-type": "company.added", "detail": {}})
                    .to_string(),
                Shape::Event,
                "not this product's",
                false,
            ),
            (
                json!({"source": SOURCE, "detail-type": "contact.added", "detail": {"version": 1}})
                    .to_string(),
                Shape::Event,
                "unknown detail-type",
                false,
            ),
        ];
        for (body, shape, says, is_newer) in cases {
            let l = read(Function::Provisioner, "m", None, &body, &none());
            assert_eq!(l.shape, shape, "{body}");
            let Content::Unreadable { reason, newer, .. } = &l.content else {
                panic!("{body}: {:?}", l.content)
            };
            assert!(reason.contains(says), "{body}: {reason}");
            assert_eq!(*newer, is_newer, "{body}");
            assert!(matches!(step(&l, None), Step::Keep { .. }));
            assert!(
                matches!(step(&l, Some(Function::Provisioner)), Step::Keep { .. }),
                "naming the function never deletes what cannot be read"
            );
        }
    }

    #[test]
    fn a_schedules_tick_is_deleted_only_when_its_function_is_named() {
        let tick = json!({
            "version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-02T10:15:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/acw-ReconcilerSchedule"],
            "detail": {}
        });
        let letters = vec![
            read(Function::Reconciler, "a", None, &tick.to_string(), &none()),
            read(Function::Reconciler, "b", None, &on_failure(&tick), &none()),
            read(Function::Provisioner, "c", None, COMPANY_ADDED, &none()),
        ];
        assert!(
            letters
                .iter()
                .take(2)
                .all(|l| l.content == Content::Scheduled)
        );
        let all = plan(letters.clone(), None);
        assert_eq!(
            all.counts(),
            BTreeMap::from([("republish", 1), ("delete", 0), ("keep", 2)])
        );
        let other = plan(letters.clone(), Some(Function::Provisioner));
        assert_eq!(other.items.len(), 1, "only the named function's letters");
        assert_eq!(other.items[0].step, Step::Republish);
        let stray = read(Function::Provisioner, "d", None, &tick.to_string(), &none());
        assert!(matches!(
            step(&stray, Some(Function::Provisioner)),
            Step::Keep { .. }
        ));
        let named = plan(letters, Some(Function::Reconciler));
        assert_eq!(named.items.len(), 2);
        for p in &named.items {
            let Step::Delete { reason } = &p.step else {
                panic!("{:?}", p.step)
            };
            assert!(reason.contains("--function reconciler"), "{reason}");
        }
    }

    #[test]
    fn a_planned_letter_serializes_flat_with_its_plan() {
        let p = plan(
            vec![read(
                Function::Provisioner,
                "m",
                None,
                COMPANY_ADDED,
                &none(),
            )],
            None,
        );
        let v = serde_json::to_value(&p.items[0]).unwrap();
        assert_eq!(v["function"], "provisioner");
        assert_eq!(v["shape"], "event");
        assert_eq!(v["content"]["kind"], "bus");
        assert_eq!(v["content"]["subject"]["company_id"], 1042);
        assert_eq!(v["plan"]["step"], "republish");
    }
}

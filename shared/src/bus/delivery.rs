//! The events the functions are invoked with, typed: a bus consumer's EventBridge
//! delivery ([`Delivery`]) and a schedule's ([`Scheduled`]). Each is read from any JSON
//! (`serde(from = "Value")`), so that an envelope missing a field reaches the handler and is
//! recorded as unreadable by [`super::consumer::invoke`], rather than failed by the runtime
//! before any run record exists.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a bus consumer reads of an EventBridge delivery (`{"detail-type", "detail", …}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Value")]
pub struct Delivery {
    /// Empty when absent or not text (the event is then rejected, recorded).
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// `null` when absent.
    pub detail: Value,
}

impl From<&Value> for Delivery {
    fn from(payload: &Value) -> Self {
        Self {
            detail_type: payload
                .get("detail-type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            detail: payload.get("detail").cloned().unwrap_or(Value::Null),
        }
    }
}

impl From<Value> for Delivery {
    fn from(payload: Value) -> Self {
        Self::from(&payload)
    }
}

/// A scheduled invocation (EventBridge's `Scheduled Event`). The scheduled functions decide
/// from their cursors and the clock, never from this event (a late or repeated delivery
/// changes nothing); it is typed so that what they are invoked with is stated and read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Value")]
pub struct Scheduled {
    /// When the schedule fired, if the event says.
    pub time: Option<DateTime<Utc>>,
    /// The rule that fired it (`resources[0]`), if the event says.
    pub rule: Option<String>,
}

impl From<Value> for Scheduled {
    fn from(payload: Value) -> Self {
        Self {
            time: payload
                .get("time")
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok()),
            rule: payload
                .pointer("/resources/0")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_delivery_is_read_from_any_json_and_what_is_missing_is_empty() {
        let full: Delivery = serde_json::from_value(
            json!({"detail-type": "company.changed", "detail": {"a": 1}, "source": "acw"}),
        )
        .unwrap();
        assert_eq!(full.detail_type, "company.changed");
        assert_eq!(full.detail, json!({"a": 1}));
        for odd in [
            json!(null),
            json!("text"),
            json!({"detail-type": 7}),
            json!([]),
        ] {
            let d: Delivery = serde_json::from_value(odd.clone()).unwrap();
            assert_eq!(d, Delivery::default(), "{odd}");
        }
    }

    #[test]
    fn a_schedule_event_gives_its_time_and_rule_and_an_empty_one_nothing() {
        let s: Scheduled = serde_json::from_value(json!({
            "version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events",
            "time": "2026-03-02T10:15:00Z",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/acw-UsagePushSchedule"],
            "detail": {}
        }))
        .unwrap();
        assert_eq!(s.time.unwrap().to_rfc3339(), "2026-03-02T10:15:00+00:00");
        assert!(s.rule.unwrap().ends_with("rule/acw-UsagePushSchedule"));
        assert_eq!(
            serde_json::from_value::<Scheduled>(json!({})).unwrap(),
            Scheduled::default()
        );
    }
}

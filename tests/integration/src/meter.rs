//! Meters what AWS would bill the functions' own requests in, at the SDK: an interceptor on
//! the DynamoDB, EventBridge, SQS and Secrets Manager clients reads each request beside its
//! answer (DynamoDB request units from the items' sizes, `PutEvents` entries in 64 KB
//! chunks, SQS and Secrets Manager requests), and a log writer counts the bytes each
//! function logs. Work goes to the function named by [`Meter::set_function`]: the bench
//! runs one function's work at a time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::ReturnValue;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use serde_json::{Map, Value};

use crate::cost::units::{chunks_64k, event_entry_bytes, item_bytes, read_units, write_units};

/// The table's index key: a written item carrying it is written to the index too.
pub const INDEX_KEY: &str = "gsi1pk";

/// What DynamoDB adds to each item it stores ("Item sizes and formats").
pub const ITEM_OVERHEAD: u64 = 100;

/// What one function's requests come to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub read_units: f64,
    pub write_units: f64,
    pub dynamodb_requests: u64,
    pub events: f64,
    pub sqs_requests: f64,
    pub secret_calls: f64,
    pub log_bytes: u64,
    /// Run records written (with DynamoDB's 100 bytes of overhead each): kept
    /// `RunRetentionDays`, they are most of what the table stores.
    pub run_record_bytes: f64,
}

#[derive(Debug, Default)]
struct State {
    function: String,
    counts: BTreeMap<String, Counts>,
}

/// Shared by the clients' interceptors and the log writer.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Mutex<State>>);

impl Meter {
    /// From now on, work goes to `function`.
    pub fn set_function(&self, function: &str) {
        self.state().function = function.to_owned();
    }

    /// Every function's counts so far, and a fresh start.
    pub fn take(&self) -> BTreeMap<String, Counts> {
        std::mem::take(&mut self.state().counts)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, f: impl FnOnce(&mut Counts)) {
        let mut state = self.state();
        let function = state.function.clone();
        f(state.counts.entry(function).or_default());
    }

    pub fn dynamodb(&self, config: &SdkConfig) -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(Interceptor(self.clone()))
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    pub fn eventbridge(&self, config: &SdkConfig) -> aws_sdk_eventbridge::Client {
        let conf = aws_sdk_eventbridge::config::Builder::from(config)
            .interceptor(Interceptor(self.clone()))
            .build();
        aws_sdk_eventbridge::Client::from_conf(conf)
    }

    pub fn sqs(&self, config: &SdkConfig) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::config::Builder::from(config)
            .interceptor(Interceptor(self.clone()))
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }

    pub fn secrets(&self, config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::config::Builder::from(config)
            .interceptor(Interceptor(self.clone()))
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }

    /// One request (`target` is its `X-Amz-Target`) and its answer, both JSON.
    fn record(&self, target: &str, request: &Value, answer: &Value) {
        let Some((service, op)) = target.split_once('.') else {
            return;
        };
        match service {
            s if s.starts_with("DynamoDB") => {
                let (read, write) = dynamodb_units(op, request, answer);
                let item = &request["Item"];
                let run_record = op == "PutItem"
                    && item["pk"]["S"]
                        .as_str()
                        .is_some_and(|pk| pk.starts_with("RUN#"));
                let run_record_bytes = if run_record {
                    (item_bytes(&object(item)) + ITEM_OVERHEAD) as f64
                } else {
                    0.0
                };
                self.add(|c| {
                    c.run_record_bytes += run_record_bytes;
                    c.read_units += read;
                    c.write_units += write;
                    c.dynamodb_requests += 1;
                });
            }
            "AWSEvents" if op == "PutEvents" => {
                let chunks: f64 = array(request, "Entries")
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|e| chunks_64k(event_entry_bytes(e)))
                    .sum();
                self.add(|c| c.events += chunks);
            }
            "AmazonSQS" => self.add(|c| c.sqs_requests += 1.0),
            "secretsmanager" => self.add(|c| c.secret_calls += 1.0),
            _ => {}
        }
    }

    /// A writer for a tracing subscriber: each line's bytes go to the current function.
    pub fn log_writer(&self) -> LogWriter {
        LogWriter(self.clone())
    }
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// A written item's units: the table's, and the index's copy when it carries the index key.
fn written(item: &Map<String, Value>) -> f64 {
    let units = write_units(item_bytes(item));
    if item.contains_key(INDEX_KEY) {
        units * 2.0
    } else {
        units
    }
}

/// Read and write units of one DynamoDB request. Updates and deletes answer with their item
/// (the interceptor asks for it); a write that did not say its size counts one unit.
pub fn dynamodb_units(op: &str, request: &Value, answer: &Value) -> (f64, f64) {
    let consistent = |r: &Value| r.get("ConsistentRead").and_then(Value::as_bool) == Some(true);
    match op {
        "GetItem" => (
            read_units(item_bytes(&object(&answer["Item"])), consistent(request)),
            0.0,
        ),
        "Query" | "Scan" => {
            let bytes = array(answer, "Items")
                .iter()
                .map(|i| item_bytes(&object(i)))
                .sum();
            (read_units(bytes, consistent(request)), 0.0)
        }
        "BatchGetItem" => {
            let mut units = 0.0;
            for (table, items) in answer["Responses"].as_object().into_iter().flatten() {
                let c = consistent(&request["RequestItems"][table]);
                for i in items.as_array().into_iter().flatten() {
                    units += read_units(item_bytes(&object(i)), c);
                }
            }
            (units, 0.0)
        }
        "PutItem" => (0.0, written(&object(&request["Item"]))),
        "UpdateItem" | "DeleteItem" => match answer.get("Attributes") {
            Some(item) => (0.0, written(&object(item))),
            None => (0.0, 1.0),
        },
        "BatchWriteItem" => {
            let mut units = 0.0;
            for (_, writes) in request["RequestItems"].as_object().into_iter().flatten() {
                for w in writes.as_array().into_iter().flatten() {
                    units += match w.get("PutRequest") {
                        Some(p) => written(&object(&p["Item"])),
                        None => 1.0,
                    };
                }
            }
            (0.0, units)
        }
        // Transactions cost twice; an update or check in one does not say its size.
        "TransactWriteItems" => {
            let units: f64 = array(request, "TransactItems")
                .iter()
                .map(|t| match t.get("Put") {
                    Some(p) => 2.0 * written(&object(&p["Item"])),
                    None => 2.0,
                })
                .sum();
            (0.0, units)
        }
        "TransactGetItems" => {
            let units: f64 = array(answer, "Responses")
                .iter()
                .map(|r| 2.0 * read_units(item_bytes(&object(&r["Item"])), true))
                .sum();
            (units, 0.0)
        }
        _ => (0.0, 0.0),
    }
}

/// A request's target and body, kept from its sending to its answer.
#[derive(Debug, Clone)]
struct Sent {
    target: String,
    body: Vec<u8>,
}

impl Storable for Sent {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
struct Interceptor(Meter);

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Intercept for Interceptor {
    fn name(&self) -> &'static str {
        "cost meter"
    }

    /// Updates and deletes answer with their item, so that their size is known.
    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{delete_item, update_item};
        let silent = |r: &Option<ReturnValue>| matches!(r, None | Some(ReturnValue::None));
        let input = context.input_mut();
        if let Some(u) = input.downcast_mut::<update_item::UpdateItemInput>() {
            if silent(&u.return_values) {
                u.return_values = Some(ReturnValue::AllNew);
            }
        } else if let Some(d) = input.downcast_mut::<delete_item::DeleteItemInput>()
            && silent(&d.return_values)
        {
            d.return_values = Some(ReturnValue::AllOld);
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        let body = request.body().bytes().unwrap_or_default().to_vec();
        cfg.interceptor_state().store_put(Sent { target, body });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(sent) = cfg.load::<Sent>() else {
            return Ok(());
        };
        let parse = |b: &[u8]| serde_json::from_slice(b).unwrap_or(Value::Null);
        let answer = context
            .response()
            .and_then(|r| r.body().bytes())
            .map_or(Value::Null, parse);
        self.0.record(&sent.target, &parse(&sent.body), &answer);
        Ok(())
    }
}

/// Counts the bytes of what is logged (one JSON object a line, as Lambda ingests it).
#[derive(Debug, Clone)]
pub struct LogWriter(Meter);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len() as u64;
        self.0.add(|c| c.log_bytes += n);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Meter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.log_writer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dynamodb_requests_in_units() {
        let big = "x".repeat(5000);
        let cases = [
            (
                "GetItem",
                json!({}),
                json!({"Item": {"pk": {"S": "a"}}}),
                (0.5, 0.0),
            ),
            (
                "GetItem",
                json!({"ConsistentRead": true}),
                json!({"Item": {"pk": {"S": big}}}),
                (2.0, 0.0),
            ),
            (
                "Query",
                json!({}),
                json!({"Items": [{"pk": {"S": big}}, {"pk": {"S": big}}]}),
                (1.5, 0.0),
            ),
            (
                "PutItem",
                json!({"Item": {"pk": {"S": "a"}}}),
                json!({}),
                (0.0, 1.0),
            ),
            (
                "PutItem",
                json!({"Item": {"pk": {"S": big}, "gsi1pk": {"S": "g"}}}),
                json!({}),
                (0.0, 10.0),
            ),
            (
                "UpdateItem",
                json!({}),
                json!({"Attributes": {"pk": {"S": big}}}),
                (0.0, 5.0),
            ),
            (
                "UpdateItem",
                json!({}),
                json!({"__type": "ConditionalCheckFailedException"}),
                (0.0, 1.0),
            ),
            (
                "BatchWriteItem",
                json!({"RequestItems": {"t": [
                {"PutRequest": {"Item": {"pk": {"S": "a"}}}}, {"DeleteRequest": {"Key": {}}}]}}),
                json!({}),
                (0.0, 2.0),
            ),
            (
                "TransactWriteItems",
                json!({"TransactItems": [
                {"Put": {"Item": {"pk": {"S": "a"}}}}, {"ConditionCheck": {}}]}),
                json!({}),
                (0.0, 4.0),
            ),
            (
                "BatchGetItem",
                json!({"RequestItems": {"t": {"ConsistentRead": true}}}),
                json!({"Responses": {"t": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]}}),
                (2.0, 0.0),
            ),
        ];
        for (op, request, answer, want) in cases {
            assert_eq!(
                dynamodb_units(op, &request, &answer),
                want,
                "{op} {request}"
            );
        }
    }

    #[test]
    fn work_goes_to_the_function_named() {
        let meter = Meter::default();
        meter.set_function("a");
        meter.record(
            "AWSEvents.PutEvents",
            &json!({"Entries": [{"Detail": "{}"}, {"Detail": "{}"}]}),
            &json!({}),
        );
        meter.set_function("b");
        meter.record("AmazonSQS.ReceiveMessage", &json!({}), &json!({}));
        meter.record("secretsmanager.GetSecretValue", &json!({}), &json!({}));
        let counts = meter.take();
        assert_eq!(counts["a"].events, 2.0);
        assert_eq!(
            (counts["b"].sqs_requests, counts["b"].secret_calls),
            (1.0, 1.0)
        );
        assert!(meter.take().is_empty());
    }
}

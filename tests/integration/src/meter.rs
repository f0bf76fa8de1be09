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
use serde_json::Value;

use crate::cost::dynamodb::{ITEM_OVERHEAD, array, dynamodb_units, object};
use crate::cost::units::{chunks_64k, event_entry_bytes, item_bytes};

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

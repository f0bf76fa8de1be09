//! The local stack's resources on moto, created the way the template creates them in AWS,
//! and shared with the integration tests so both build them one way.
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod function_url;
pub mod invoke;
pub mod rule_delivery;
pub mod runtime_api;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use serde_json::{Value, json};
use shared::functions::{Function, Trigger};

/// A bus consumer: which events reach it. In AWS an EventBridge rule invokes the function;
/// locally the rule targets an SQS queue that the runner drains into the same handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub consumer: Function,
    pub pattern: Value,
}

/// The bus routes of the product (the template's rules say the same), one per bus-triggered
/// function.
pub fn routes() -> Vec<Route> {
    Function::ALL
        .into_iter()
        .filter(|f| f.trigger() == Trigger::Bus)
        .map(|consumer| {
            let detail_types = match consumer {
                Function::Provisioner => json!([{"prefix": "company."}, {"prefix": "agreement."}]),
                Function::TicketSync => {
                    json!(["alert.raised", "alert.cleared", {"prefix": "ticket."}])
                }
                Function::UsageShardWorker => json!([{"prefix": "usage."}]),
                Function::Webhook
                | Function::Reconciler
                | Function::AlertPoller
                | Function::UsagePush => Value::Null,
            };
            Route {
                consumer,
                pattern: json!({"source": [shared::bus::SOURCE], "detail-type": detail_types}),
            }
        })
        .collect()
}

/// The queue URL variable of a consumer's local queue (in `target/local/env`).
pub fn queue_var(consumer: Function) -> String {
    format!("{}_QUEUE_URL", env_name(consumer))
}

/// The variable holding `<key id>:<secret>` of the IAM user that `infra/local_iam.py` made
/// from the function's template role (in `target/local/env`).
pub fn keys_var(function: Function) -> String {
    format!("AWS_KEYS_{}", env_name(function))
}

fn env_name(function: Function) -> String {
    function.name().to_uppercase().replace('-', "_")
}

/// `base` signed with the keys in `keys` (`<key id>:<secret>`), so that moto judges each
/// request by the function's own permissions, as IAM judges its role in AWS.
pub fn as_function(base: &SdkConfig, function: Function, keys: &str) -> Result<SdkConfig> {
    let (id, secret) = keys
        .split_once(':')
        .with_context(|| format!("{} is not <key id>:<secret>", keys_var(function)))?;
    let credentials =
        aws_sdk_dynamodb::config::Credentials::new(id, secret, None, None, "local-function-role");
    Ok(base
        .to_builder()
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build())
}

/// Creates the table unless it exists.
pub async fn ensure_table(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    if ddb.describe_table().table_name(name).send().await.is_ok() {
        return Ok(());
    }
    shared::store::Store::create_table(ddb, name)
        .await
        .with_context(|| format!("creating table {name}"))
}

/// Creates a bus unless it exists.
pub async fn ensure_bus(eb: &aws_sdk_eventbridge::Client, name: &str) -> Result<()> {
    if eb.describe_event_bus().name(name).send().await.is_ok() {
        return Ok(());
    }
    eb.create_event_bus()
        .name(name)
        .send()
        .await
        .with_context(|| format!("creating bus {name}"))?;
    Ok(())
}

/// Routes events matching `pattern` on `bus` to a new SQS queue; returns the queue URL.
pub async fn route_to_queue(
    eb: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    rule: &str,
    pattern: &Value,
    queue: &str,
) -> Result<String> {
    let url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .with_context(|| format!("creating queue {queue}"))?
        .queue_url
        .context("create_queue returned no URL")?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .context("queue has no ARN")?;
    eb.put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .with_context(|| format!("creating rule {rule}"))?;
    eb.put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id(queue)
                .arn(arn)
                .build()
                .context("target")?,
        )
        .send()
        .await
        .with_context(|| format!("targeting {queue} from {rule}"))?;
    Ok(url)
}

/// The local stack's name (`STACK_NAME` in `target/local/env`), which names its dead-letter
/// queues as the template names them in AWS.
pub const STACK_NAME: &str = "local";

/// Creates each asynchronously invoked function's dead-letter queue, named as the template
/// names it (`<stack>-<function>-dead-letters`, `shared::domain::dead_letters::queue_name`),
/// unless it exists; returns their URLs.
pub async fn ensure_dead_letter_queues(
    sqs: &aws_sdk_sqs::Client,
    stack: &str,
) -> Result<Vec<(Function, String)>> {
    let mut urls = Vec::new();
    for f in shared::domain::dead_letters::functions() {
        let name = shared::domain::dead_letters::queue_name(stack, f);
        let url = sqs
            .create_queue()
            .queue_name(&name)
            // As the template keeps them: 14 days.
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod,
                "1209600",
            )
            .send()
            .await
            .with_context(|| format!("creating queue {name}"))?
            .queue_url
            .context("create_queue returned no URL")?;
        urls.push((f, url));
    }
    Ok(urls)
}

/// Creates or overwrites a secret's value.
pub async fn put_secret(
    sm: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<()> {
    if sm.describe_secret().secret_id(name).send().await.is_ok() {
        sm.put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await?;
    } else {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await?;
    }
    Ok(())
}

/// The second Acronis connection of the local stack (its second data centre).
pub const SECOND_CONNECTION: &str = "us";

/// The local stack's secret: [`simulator_secret`] plus the second data centre as connection
/// [`SECOND_CONNECTION`] (`acronis.us.*`, the client of
/// `AcronisSimConfig::second_data_centre`).
pub fn simulator_secret_two(cw_url: &str, acronis_url: &str, acronis2_url: &str) -> Value {
    let mut secret = simulator_secret(cw_url, acronis_url);
    for (field, value) in [
        ("datacenter_url", acronis2_url),
        ("client_id", "sim-client-us"),
        ("client_secret", "sim-secret-us"),
    ] {
        secret[format!("acronis.{SECOND_CONNECTION}.{field}")] = json!(value);
    }
    secret
}

/// The credentials secret pointing at the simulators (their default keys): one Acronis
/// connection, `default`, in the flat keys.
pub fn simulator_secret(cw_url: &str, acronis_url: &str) -> Value {
    json!({
        "cw_site": cw_url,
        "cw_company_id": "acme",
        "cw_public_key": "pub",
        "cw_private_key": "priv",
        "cw_client_id": "00000000-0000-0000-0000-000000000001",
        "acronis_datacenter_url": acronis_url,
        "acronis_client_id": "sim-client",
        "acronis_client_secret": "sim-secret"
    })
}

/// Receives one batch (up to 10 messages, waiting up to `wait_secs`) from a consumer's queue
/// and hands each EventBridge envelope to `handle`, as the Lambda service would invoke the
/// function asynchronously (`invoke::invoke_batch`: retried after Lambda's delays, then sent
/// to the target's on-failure destination). Returns how many were handled.
pub async fn consume_batch<F, Fut, E>(
    sqs: &aws_sdk_sqs::Client,
    target: &invoke::AsyncTarget,
    wait_secs: i32,
    handle: F,
) -> Result<usize>
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Value, E>>,
    E: std::fmt::Display,
{
    Ok(invoke::invoke_batch(sqs, target, wait_secs, handle)
        .await?
        .handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_secret_has_two_connections_and_the_test_one_has_one() {
        let names = |v: Value| -> Vec<String> {
            shared::secrets::Credentials::parse("s", &v.to_string())
                .expect("a valid secret")
                .acronis
                .keys()
                .map(|n| n.to_string())
                .collect()
        };
        let two = simulator_secret_two("http://cw", "http://eu", "http://us");
        assert_eq!(names(two.clone()), ["default", "us"]);
        assert_eq!(two["acronis.us.datacenter_url"], "http://us");
        assert_eq!(two["acronis.us.client_id"], "sim-client-us");
        assert_eq!(two["acronis_datacenter_url"], "http://eu");
        assert_eq!(
            names(simulator_secret("http://cw", "http://eu")),
            ["default"]
        );
    }
}

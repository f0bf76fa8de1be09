//! The `webhook` Lambda's entry point: wiring only (see the library).
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

use lambda_http::{Error, service_fn};
use shared::bus::EventBus;
use shared::settings::{HttpSettings, required};
use shared::store::Store;
use webhook::{HttpKeySource, KEY_FETCH_TIMEOUT, Webhook, WebhookConfig, lambda_handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = |name: &str| std::env::var(name).ok();
    let settings = (|| {
        Ok::<_, shared::settings::SettingsError>((
            WebhookConfig::from_env()?,
            required(&env, "TABLE_NAME")?,
            required(&env, "EVENT_BUS_NAME")?,
        ))
    })();
    let (config, table, bus) = match settings {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return Err(e.into());
        }
    };
    let aws = shared::aws::lambda_config()?;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), table);
    let bus = EventBus::new(aws_sdk_eventbridge::Client::new(&aws), bus);
    let http = shared::http::build_client(&HttpSettings {
        timeout: KEY_FETCH_TIMEOUT,
        ..HttpSettings::default()
    })?;
    let keys =
        HttpKeySource::from_config(http, &config, || aws_sdk_secretsmanager::Client::new(&aws));
    let webhook = Webhook::new(config, store, bus, keys);
    lambda_http::run(service_fn(|request| lambda_handler(&webhook, request))).await
}

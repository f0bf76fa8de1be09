// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]
use lambda_runtime::{LambdaEvent, service_fn};
use shared::bus::delivery::Scheduled;
use shared::functions::Function;
use shared::services::alerts::PollOptions;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // Until the secret is filled, each run records "not configured" and succeeds.
    let scheduled =
        shared::bootstrap::Scheduled::from_env(shared::functions::Function::AlertPoller).await?;
    let scheduled = &scheduled;
    let opts = &PollOptions::default();
    lambda_runtime::run(service_fn(|_: LambdaEvent<Scheduled>| async move {
        scheduled
            .run(Function::AlertPoller, async |deps| {
                alert_poller::handle(
                    &deps.connections,
                    &deps.store,
                    &deps.bus,
                    opts,
                    &deps.recorder(),
                )
                .await
                .map_err(lambda_runtime::Error::from)
            })
            .await
    }))
    .await
}

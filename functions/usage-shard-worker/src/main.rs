// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]
use lambda_runtime::{LambdaEvent, service_fn};
use shared::bus::delivery::Delivery;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps =
        shared::bootstrap::Deps::from_env(shared::functions::Function::UsageShardWorker).await?;
    let svc = deps.usage_push();
    let recorder = deps.recorder();
    let bus = deps.bus.clone();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Delivery>| {
        let (svc, recorder, bus) = (svc.clone(), recorder.clone(), bus.clone());
        async move {
            let deadline = usage_shard_worker::deadline(event.context.deadline);
            usage_shard_worker::handle_eventbridge(&svc, &bus, &recorder, event.payload, deadline)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]
// A company's sync (single flight, provisioning, needs-attention) nests deeper than the
// default layout depth.
#![recursion_limit = "256"]
use lambda_runtime::{LambdaEvent, service_fn};
use shared::bus::delivery::Delivery;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env(shared::functions::Function::Provisioner).await?;
    let service = deps.provisioning();
    let recorder = deps.recorder();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Delivery>| {
        // Stops a margin before Lambda's time limit, hands the company back and records why.
        let service = service.with_deadline(shared::deadline::consumer(event.context.deadline));
        let recorder = recorder.clone();
        async move {
            provisioner::handle_eventbridge(&service, &recorder, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

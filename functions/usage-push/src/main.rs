// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]
// The handler nests the scheduled wrapper, the usage cycle and the SDK futures.
#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use shared::bus::delivery::Scheduled;
use shared::functions::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // Until the secret is filled, each run records "not configured" and succeeds.
    let scheduled =
        shared::bootstrap::Scheduled::from_env(shared::functions::Function::UsagePush).await?;
    let scheduled = &scheduled;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Scheduled>| async move {
        let deadline = usage_push::deadline(event.context.deadline);
        scheduled
            .run(Function::UsagePush, async |deps| {
                let svc = deps.usage_push();
                usage_push::handle(&svc, Some(&deps.bus), &deps.recorder(), deadline)
                    .await
                    .map_err(lambda_runtime::Error::from)
            })
            .await
    }))
    .await
}

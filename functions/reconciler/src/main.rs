// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]
// The cycle, the redrive and the callbacks nest deeper than the default layout depth.
#![recursion_limit = "256"]
use lambda_runtime::{LambdaEvent, service_fn};
use shared::bus::delivery::Scheduled;
use shared::functions::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // Until the secret is filled, each run records "not configured" and succeeds.
    let scheduled =
        shared::bootstrap::Scheduled::from_env(shared::functions::Function::Reconciler).await?;
    let scheduled = &scheduled;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Scheduled>| async move {
        // Stops a margin before Lambda's limit with its run recorded.
        let deadline = reconciler::deadline(event.context.deadline);
        scheduled
            .run(Function::Reconciler, async |deps| {
                reconciler::handle_until(&deps, &deps.recorder(), deadline)
                    .await
                    .map_err(lambda_runtime::Error::from)
            })
            .await
    }))
    .await
}

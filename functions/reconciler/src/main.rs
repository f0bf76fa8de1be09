use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::functions::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    // Until the secret is filled, each run records "not configured" and succeeds.
    let scheduled =
        shared::bootstrap::Scheduled::from_env(shared::functions::Function::Reconciler).await?;
    let scheduled = &scheduled;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
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

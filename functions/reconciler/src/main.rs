use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env().await?;
    let retention = shared::bootstrap::run_retention();
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let deps = deps.clone();
        async move {
            reconciler::handle(&deps, retention)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

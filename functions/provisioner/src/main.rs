use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env().await?;
    let service = deps.provisioning();
    let retention = shared::bootstrap::run_retention();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let service = service.clone();
        async move {
            provisioner::handle_eventbridge(&service, &event.payload, retention)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

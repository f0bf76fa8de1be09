use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env().await?;
    let svc = deps.usage_push();
    let bus = deps.bus.clone();
    let retention = shared::bootstrap::run_retention();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let svc = svc.clone();
        let bus = bus.clone();
        async move {
            Ok::<Value, lambda_runtime::Error>(
                usage_push::handle(
                    &svc,
                    Some(&bus),
                    retention,
                    usage_push::deadline(event.context.deadline),
                )
                .await,
            )
        }
    }))
    .await
}

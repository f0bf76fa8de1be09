use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps =
        shared::bootstrap::Deps::from_env(shared::functions::Function::UsageShardWorker).await?;
    let svc = deps.usage_push();
    let recorder = deps.recorder();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (svc, recorder) = (svc.clone(), recorder.clone());
        async move {
            let deadline = usage_shard_worker::deadline(event.context.deadline);
            usage_shard_worker::handle_eventbridge(&svc, &recorder, &event.payload, deadline)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

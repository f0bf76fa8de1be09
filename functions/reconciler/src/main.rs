use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env().await?;
    let recorder = deps.recorder();
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let (deps, recorder) = (deps.clone(), recorder.clone());
        async move {
            reconciler::handle(&deps, &recorder)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

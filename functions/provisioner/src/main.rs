use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env().await?;
    let service = deps.provisioning();
    let recorder = deps.recorder();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (service, recorder) = (service.clone(), recorder.clone());
        async move {
            provisioner::handle_eventbridge(&service, &recorder, &event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

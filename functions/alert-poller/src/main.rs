use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::services::alerts::PollOptions;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env().await?;
    let recorder = deps.recorder();
    let opts = PollOptions::default();
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let (deps, recorder, opts) = (deps.clone(), recorder.clone(), opts.clone());
        async move {
            alert_poller::handle(&deps.acronis, &deps.store, &deps.bus, &opts, &recorder)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

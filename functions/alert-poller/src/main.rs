use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::services::alerts::PollOptions;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env().await?;
    let retention = shared::bootstrap::run_retention();
    let opts = PollOptions::default();
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let deps = deps.clone();
        let opts = opts.clone();
        async move {
            alert_poller::handle(&deps.acronis, &deps.store, &deps.bus, &opts, retention)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

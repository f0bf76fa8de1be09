use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::services::alerts::TicketSync;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env().await?;
    let service = TicketSync::new(deps.cw.clone(), deps.store.clone());
    let retention = shared::bootstrap::run_retention();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let service = service.clone();
        async move {
            ticket_sync::handle_eventbridge(&service, &event.payload, retention)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

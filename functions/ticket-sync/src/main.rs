// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]
use lambda_runtime::{LambdaEvent, service_fn};
use shared::bus::delivery::Delivery;
use shared::services::alerts::TicketSync;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let deps = shared::bootstrap::Deps::from_env(shared::functions::Function::TicketSync).await?;
    let service =
        TicketSync::new(deps.cw.clone(), deps.store.clone()).with_acronis(deps.connections.clone());
    let recorder = deps.recorder();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Delivery>| {
        // Stops a margin before Lambda's time limit and records why; the retry goes on.
        let service = service.with_deadline(shared::deadline::consumer(event.context.deadline));
        let recorder = recorder.clone();
        async move {
            ticket_sync::handle_eventbridge(&service, &recorder, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

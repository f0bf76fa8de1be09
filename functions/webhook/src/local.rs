//! The same core behind axum, for the local runner and the tests (feature `axum`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::handler::Webhook;
use crate::lambda::SIGNATURE_HEADER;
use crate::ports::{Dedupe, KeySource, Publish};

/// `POST /` (and `POST /{any path}`) → [`Webhook::handle`].
pub fn router<D, P, K>(webhook: Arc<Webhook<D, P, K>>) -> Router
where
    D: Dedupe + 'static,
    P: Publish + 'static,
    K: KeySource + 'static,
{
    // One byte over the limit reaches the core, which answers its own 413.
    let limit = webhook.config().max_body_bytes.saturating_add(1);
    Router::new()
        .route("/", post(callback::<D, P, K>))
        .route("/{*path}", post(callback::<D, P, K>))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(webhook)
}

/// Serves [`router`] on `listener` until the task is dropped.
pub async fn serve<D, P, K>(
    listener: tokio::net::TcpListener,
    webhook: Arc<Webhook<D, P, K>>,
) -> std::io::Result<()>
where
    D: Dedupe + 'static,
    P: Publish + 'static,
    K: KeySource + 'static,
{
    axum::serve(listener, router(webhook)).await
}

async fn callback<D, P, K>(
    State(webhook): State<Arc<Webhook<D, P, K>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response
where
    D: Dedupe + 'static,
    P: Publish + 'static,
    K: KeySource + 'static,
{
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let reply = webhook.handle(signature, &body).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        reply.body_bytes(),
    )
        .into_response()
}

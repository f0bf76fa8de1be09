//! The Lambda adapter: an API Gateway HTTP API / Function URL request to [`Webhook::handle`].

use lambda_http::http::{Method, header};
use lambda_http::{Body, Request, Response};

use crate::handler::{Reply, Webhook};
use crate::ports::{Dedupe, KeySource, Publish};

/// The header ConnectWise signs callbacks in.
pub const SIGNATURE_HEADER: &str = "x-content-signature";

/// Handles one Lambda HTTP invocation. The body is used byte for byte as received
/// (lambda_http has already decoded an `isBase64Encoded` body into [`Body::Binary`]);
/// header names are case-insensitive.
pub async fn lambda_handler<D: Dedupe, P: Publish, K: KeySource>(
    webhook: &Webhook<D, P, K>,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    if request.method() != Method::POST {
        let reply = Reply {
            status: 405,
            body: serde_json::json!({
                "error": "method_not_allowed",
                "message": "callbacks are delivered with POST"
            }),
        };
        return to_response(&reply);
    }
    let signature = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let body: &[u8] = match request.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    let reply = webhook.handle(signature, body).await;
    to_response(&reply)
}

fn to_response(reply: &Reply) -> Result<Response<Body>, lambda_http::Error> {
    Ok(Response::builder()
        .status(reply.status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(reply.body.to_string()))?)
}

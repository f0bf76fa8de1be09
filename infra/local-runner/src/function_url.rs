//! What a Lambda Function URL hands a function (payload format 2.0) for a ConnectWise
//! callback POST: lower-cased headers, the body as text or base64. The binaries' test and
//! `make bench-coldstart` hand the webhook's binary callbacks in this shape.

use chrono::Utc;
use serde_json::{Value, json};

/// A Function URL request (payload format 2.0) as the URL hands a ConnectWise callback POST
/// to the function: lower-cased headers, the body as text or base64.
pub fn request(region: &str, url_id: &str, body: &[u8], signature: &str, base64: bool) -> Value {
    let now = Utc::now();
    let host = format!("{url_id}.lambda-url.{region}.on.aws");
    let (body, encoded) = if base64 {
        (base64_encode(body), true)
    } else {
        (String::from_utf8_lossy(body).into_owned(), false)
    };
    let trace = format!(
        "Root=1-{:08x}-{}",
        now.timestamp(),
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    );
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "content-length": body.len().to_string(),
            "host": host,
            "user-agent": "ConnectWise-Callback",
            "x-amzn-tls-cipher-suite": "TLS_AES_128_GCM_SHA256",
            "x-amzn-tls-version": "TLSv1.3",
            "x-amzn-trace-id": trace,
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            "x-content-signature": signature,
            "accept-encoding": "gzip, deflate"
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": host,
            "domainPrefix": url_id,
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "ConnectWise-Callback"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "body": body,
        "isBase64Encoded": encoded
    })
}

/// Standard base64, padded (as Function URLs encode a binary body).
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

//! The `webhook` Lambda: ConnectWise callbacks in, company and agreement events out.
//!
//! 1. refuse a body over `MAX_BODY_BYTES` (413) or without `x-content-signature` (401);
//! 2. take `Metadata.key_url` from the JSON body; fetch it only when it is on the
//!    configured ConnectWise origin (`CW_SITE`) or a known alias of it (`na.` for
//!    `api-na.`), https, carrying no credentials; fetch without the API member's
//!    credentials, and with them (read from `SECRET_ID` on first need) only if the host
//!    refuses that;
//! 3. verify `base64(HMAC-SHA256(SHA256(signing_key), raw body))` in constant time (a key
//!    the host refuses with a 4xx: 401 `unknown_signing_key`; one it cannot serve now: 429);
//! 4. validate `Type`, `Action`, `ID`, `MessageId` (keys read case-insensitively);
//! 5. ignore types other than company and agreement (202);
//! 6. dedupe on `MessageId`, keeping what the callback was and how its key was had (for
//!    `acw doctor`) (200 duplicate), publish one event (200 accepted); a failure
//!    answers 429 and forgets the dedupe record, so ConnectWise's retry goes through
//!    (it retries only 404, 409, 419 and 429, twice, 2 s and 4 s later; never a 5xx).
//!
//! Any path and query reach the handler: ConnectWise adds the record id (and action) to
//! the registered URL.
//!
//! The core ([`Webhook::handle`]) knows nothing of Lambda: [`lambda_handler`] adapts
//! `lambda_http`, and the `axum` feature serves the same core for the local runner.
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

pub mod config;
pub mod handler;
pub mod lambda;
#[cfg(feature = "axum")]
pub mod local;
pub mod payload;
pub mod ports;
pub mod signature;
#[cfg(test)]
mod tests;

pub use config::WebhookConfig;
pub use handler::{DEDUPE_SCOPE, Reply, Webhook};
pub use lambda::{SIGNATURE_HEADER, lambda_handler};
pub use ports::{
    Dedupe, HttpKeySource, KEY_FETCH_TIMEOUT, KeyError, KeySource, MemberAuth, PortError, Publish,
};
pub use signature::SigningKey;

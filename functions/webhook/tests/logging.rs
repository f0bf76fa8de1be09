//! What a request logs: one line with `outcome=` and the ids, never the key, the signature,
//! the key URL or the body. (Its own test binary: it installs the global subscriber.)

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use shared::bus::Event;
use shared::store::{CallbackSeen, KeyFetch};
use url::Url;
use webhook::{
    Dedupe, KeyError, KeySource, PortError, Publish, SigningKey, Webhook, WebhookConfig,
};

const KEY_URL: &str =
    "https://api-na.myconnectwise.net/v2025_1/system/callbackkey/index.rails?id=k-secret-id";
const KEY: &str = "the-signing-key";

#[derive(Debug, Default)]
struct Seen(Mutex<HashSet<String>>);

impl Dedupe for Seen {
    async fn remember_once(
        &self,
        _: &str,
        id: &str,
        _: Duration,
        _: &CallbackSeen,
    ) -> Result<bool, PortError> {
        Ok(self.0.lock().unwrap().insert(id.to_owned()))
    }
    async fn forget(&self, _: &str, id: &str) -> Result<(), PortError> {
        self.0.lock().unwrap().remove(id);
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
struct Bus(Arc<AtomicBool>);

impl Publish for Bus {
    async fn publish(&self, _: Event) -> Result<(), PortError> {
        if self.0.load(Ordering::SeqCst) {
            Err(PortError("InternalFailure: try again".into()))
        } else {
            Ok(())
        }
    }
}

#[derive(Debug)]
struct Keys;

impl KeySource for Keys {
    async fn fetch(&self, _: &Url) -> Result<(SigningKey, KeyFetch), KeyError> {
        Ok((SigningKey::derive(KEY), KeyFetch::Anonymous))
    }
}

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn body(id: i64, message_id: &str) -> Vec<u8> {
    json!({
        "MessageId": message_id, "Action": "added", "Type": "company", "ID": id,
        "Metadata": {"key_url": KEY_URL},
        "Entity": json!({"id": id, "name": "Secret Customer Name"}).to_string(),
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn logs_one_outcome_line_per_request_with_ids_only() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .init();

    let bus = Bus::default();
    let webhook = Webhook::new(
        WebhookConfig::new(Url::parse("https://api-na.myconnectwise.net").unwrap()),
        Seen::default(),
        bus.clone(),
        Keys,
    );
    let first = body(4242, "m-log");
    let signature = SigningKey::derive(KEY).sign(&first);
    webhook.handle(Some(&signature), &first).await;
    webhook.handle(Some(&signature), &first).await;
    bus.0.store(true, Ordering::SeqCst);
    let second = body(1, "m-log2");
    webhook
        .handle(Some(&SigningKey::derive(KEY).sign(&second)), &second)
        .await;
    let forged = SigningKey::derive("forged").sign(&first);
    webhook.handle(Some(&forged), &first).await;
    webhook.handle(None, &first).await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<&str> = lines.iter().filter_map(|l| l["outcome"].as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "accepted",
            "duplicate",
            "unavailable",
            "bad_signature",
            "missing_signature"
        ],
        "{text}"
    );
    let accepted = lines.iter().find(|l| l["outcome"] == "accepted").unwrap();
    assert_eq!(accepted["message_id"], "m-log");
    assert_eq!(accepted["callback_type"], "company");
    assert_eq!(accepted["action"], "added");
    assert_eq!(accepted["record_id"], 4242);
    assert_eq!(accepted["status"], 200);
    for secret in [
        KEY,
        signature.as_str(),
        forged.as_str(),
        "Secret Customer Name",
        "k-secret-id",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked into {text}");
    }
}

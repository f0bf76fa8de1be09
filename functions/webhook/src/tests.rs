//! The core with in-memory fakes of its three ports.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use shared::bus::{Action, Event, Origin};
use shared::store::{CallbackSeen, KeyFetch};
use url::Url;

use crate::ports::{Dedupe, KeyError, KeySource, PortError, Publish};
use crate::{DEDUPE_SCOPE, Reply, SigningKey, Webhook, WebhookConfig};

const ORIGIN: &str = "https://api-na.myconnectwise.net";
const KEY_URL: &str =
    "https://api-na.myconnectwise.net/v2025_1/system/callbackkey/index.rails?id=k-1";
const KEY: &str = "the-signing-key";

#[derive(Debug, Default)]
struct DedupeState {
    seen: Mutex<HashSet<String>>,
    records: Mutex<Vec<CallbackSeen>>,
    forgotten: Mutex<Vec<String>>,
    fail: AtomicBool,
}

#[derive(Debug, Clone, Default)]
struct FakeDedupe(Arc<DedupeState>);

impl Dedupe for FakeDedupe {
    async fn remember_once(
        &self,
        scope: &str,
        id: &str,
        ttl: Duration,
        seen: &CallbackSeen,
    ) -> Result<bool, PortError> {
        assert_eq!(scope, DEDUPE_SCOPE);
        assert_eq!(ttl, Duration::from_secs(168 * 3600));
        if self.0.fail.load(Ordering::SeqCst) {
            return Err(PortError("DynamoDB: throttled".into()));
        }
        self.0.records.lock().unwrap().push(seen.clone());
        Ok(self.0.seen.lock().unwrap().insert(id.to_owned()))
    }

    async fn forget(&self, scope: &str, id: &str) -> Result<(), PortError> {
        assert_eq!(scope, DEDUPE_SCOPE);
        self.0.seen.lock().unwrap().remove(id);
        self.0.forgotten.lock().unwrap().push(id.to_owned());
        Ok(())
    }
}

#[derive(Debug, Default)]
struct BusState {
    events: Mutex<Vec<Event>>,
    fail: AtomicBool,
}

#[derive(Debug, Clone, Default)]
struct FakeBus(Arc<BusState>);

impl FakeBus {
    fn events(&self) -> Vec<Event> {
        self.0.events.lock().unwrap().clone()
    }
}

impl Publish for FakeBus {
    async fn publish(&self, event: Event) -> Result<(), PortError> {
        if self.0.fail.load(Ordering::SeqCst) {
            return Err(PortError("InternalFailure: try again".into()));
        }
        self.0.events.lock().unwrap().push(event);
        Ok(())
    }
}

#[derive(Debug, Default)]
struct KeyState {
    /// The key each URL serves now.
    keys: Mutex<HashMap<String, String>>,
    calls: AtomicUsize,
    fail: AtomicBool,
}

#[derive(Debug, Clone, Default)]
struct FakeKeys(Arc<KeyState>);

impl FakeKeys {
    fn serve(&self, url: &str, key: &str) {
        self.0
            .keys
            .lock()
            .unwrap()
            .insert(url.to_owned(), key.to_owned());
    }

    fn calls(&self) -> usize {
        self.0.calls.load(Ordering::SeqCst)
    }
}

impl KeySource for FakeKeys {
    async fn fetch(&self, key_url: &Url) -> Result<(SigningKey, KeyFetch), KeyError> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        if self.0.fail.load(Ordering::SeqCst) {
            return Err(PortError("signing key fetch: HTTP 502".into()).into());
        }
        let keys = self.0.keys.lock().unwrap();
        keys.get(key_url.as_str())
            .map(|k| (SigningKey::derive(k), KeyFetch::Anonymous))
            .ok_or(KeyError::Refused(404))
    }
}

struct Fixture {
    webhook: Webhook<FakeDedupe, FakeBus, FakeKeys>,
    dedupe: FakeDedupe,
    bus: FakeBus,
    keys: FakeKeys,
}

impl Fixture {
    fn new() -> Self {
        Self::with_config(WebhookConfig::new(Url::parse(ORIGIN).unwrap()))
    }

    fn with_config(config: WebhookConfig) -> Self {
        let (dedupe, bus, keys) = (
            FakeDedupe::default(),
            FakeBus::default(),
            FakeKeys::default(),
        );
        keys.serve(KEY_URL, KEY);
        Self {
            webhook: Webhook::new(config, dedupe.clone(), bus.clone(), keys.clone()),
            dedupe,
            bus,
            keys,
        }
    }

    /// Sends `body` signed with `key`.
    async fn send(&self, body: &[u8], key: &str) -> Reply {
        let signature = SigningKey::derive(key).sign(body);
        self.webhook.handle(Some(&signature), body).await
    }

    fn nothing_recorded(&self) {
        assert!(self.bus.events().is_empty(), "{:?}", self.bus.events());
        assert!(self.dedupe.0.seen.lock().unwrap().is_empty());
    }
}

/// A callback the way ConnectWise sends it (the simulator's shape).
fn callback(kind: &str, action: &str, id: i64, message_id: &str) -> Value {
    let entity = json!({"id": id, "name": "Acme", "company": {"id": 77, "identifier": "acme"}});
    json!({
        "MessageId": message_id,
        "FromUrl": "api-na.myconnectwise.net",
        "CompanyId": "acme",
        "MemberId": "api",
        "Action": action,
        "Type": kind,
        "ID": id,
        "ProductInstanceId": "p",
        "PartnerId": "acme",
        "CallbackObjectRecId": 1,
        "Metadata": {"key_url": KEY_URL},
        "Entity": entity.to_string(),
    })
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.body["error"], code, "{reply:?}");
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{reply:?}"
    );
}

#[tokio::test]
async fn accepts_a_signed_company_callback_and_publishes_one_event() {
    let f = Fixture::new();
    let reply = f
        .send(&bytes(&callback("company", "added", 42, "m-1")), KEY)
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({"status": "accepted", "event": "company.added"})
    );
    let events = f.bus.events();
    assert_eq!(events.len(), 1);
    let Event::Company(c) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(c.company_id, 42);
    assert_eq!(c.action, Action::Added);
    assert_eq!(c.version, shared::bus::VERSION);
    assert_eq!(
        c.origin,
        Origin::Callback {
            message_id: "m-1".into()
        }
    );
    assert!(f.dedupe.0.seen.lock().unwrap().contains("m-1"));
}

#[tokio::test]
async fn an_agreement_event_carries_the_entitys_company() {
    let f = Fixture::new();
    let reply = f
        .send(&bytes(&callback("Agreement", "UPDATED", 9, "m-2")), KEY)
        .await;
    assert_eq!(
        reply.body,
        json!({"status": "accepted", "event": "agreement.updated"})
    );
    let Event::Agreement(a) = &f.bus.events()[0] else {
        panic!()
    };
    assert_eq!((a.agreement_id, a.company_id), (9, Some(77)));

    // An Entity that is not JSON is only a missing hint.
    let mut body = callback("agreement", "deleted", 10, "m-3");
    body["Entity"] = json!("{not json");
    let reply = f.send(&bytes(&body), KEY).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let Event::Agreement(a) = &f.bus.events()[1] else {
        panic!()
    };
    assert_eq!(
        (a.agreement_id, a.company_id, a.action),
        (10, None, Action::Deleted)
    );
}

#[tokio::test]
async fn reads_keys_case_insensitively_and_id_as_a_string() {
    let f = Fixture::new();
    let body = json!({
        "messageID": "m-4", "type": "COMPANY", "ACTION": "Deleted", "id": "314",
        "metadata": {"Key_Url": KEY_URL}, "entity": "{}"
    });
    let reply = f.send(&bytes(&body), KEY).await;
    assert_eq!(
        reply.body,
        json!({"status": "accepted", "event": "company.deleted"})
    );
    let Event::Company(c) = &f.bus.events()[0] else {
        panic!()
    };
    assert_eq!(c.company_id, 314);
    assert_eq!(
        c.origin,
        Origin::Callback {
            message_id: "m-4".into()
        }
    );
}

#[tokio::test]
async fn refuses_a_body_over_the_limit_before_anything_else() {
    let mut config = WebhookConfig::new(Url::parse(ORIGIN).unwrap());
    config.max_body_bytes = 64;
    let f = Fixture::with_config(config);
    let reply = f.webhook.handle(None, &[b'x'; 65]).await;
    assert_error(&reply, 413, "payload_too_large");
    // Exactly at the limit it goes on (and fails later for its own reasons).
    assert_error(
        &f.webhook.handle(None, &[b'x'; 64]).await,
        401,
        "missing_signature",
    );
    assert_eq!(f.keys.calls(), 0);
}

#[tokio::test]
async fn refuses_a_missing_signature_then_malformed_json_then_a_missing_key_url() {
    let f = Fixture::new();
    let body = bytes(&callback("company", "added", 1, "m"));
    assert_error(
        &f.webhook.handle(None, &body).await,
        401,
        "missing_signature",
    );
    for bad in [&b"[1,2]"[..], b"\"text\"", b"{", b"", b"null"] {
        assert_error(
            &f.webhook.handle(Some("c2ln"), bad).await,
            400,
            "malformed_json",
        );
    }
    let mut no_url = callback("company", "added", 1, "m");
    no_url.as_object_mut().unwrap().remove("Metadata");
    assert_error(&f.send(&bytes(&no_url), KEY).await, 400, "missing_key_url");
    no_url["Metadata"] = json!({"key_url": 5});
    assert_error(&f.send(&bytes(&no_url), KEY).await, 400, "missing_key_url");
    assert_eq!(f.keys.calls(), 0);
    f.nothing_recorded();
}

#[tokio::test]
async fn never_fetches_an_untrusted_key_url() {
    let f = Fixture::new();
    for url in [
        "https://api-eu.myconnectwise.net/v2025_1/system/callbackkey/index.rails?id=k-1",
        "https://evil.example.com/k?id=k-1",
        "http://api-na.myconnectwise.net/v2025_1/system/callbackkey/index.rails?id=k-1",
        "https://user:pass@api-na.myconnectwise.net/v2025_1/system/callbackkey/index.rails?id=k-1",
        "https://api-na.myconnectwise.net:8443/v2025_1/system/callbackkey/index.rails?id=k-1",
        "https://api-na.myconnectwise.net.evil.com/k",
        "//api-na.myconnectwise.net/k",
        "not a url",
    ] {
        f.keys.serve(url, KEY);
        let mut body = callback("company", "added", 1, "m");
        body["Metadata"]["key_url"] = json!(url);
        assert_error(&f.send(&bytes(&body), KEY).await, 401, "untrusted_key_url");
        assert!(
            !f.send(&bytes(&body), KEY)
                .await
                .body
                .to_string()
                .contains("evil"),
            "the URL is not echoed"
        );
    }
    assert_eq!(f.keys.calls(), 0);
    f.nothing_recorded();
}

#[tokio::test]
async fn allows_http_only_for_a_loopback_origin() {
    let local = "http://127.0.0.1:4580/v2025_1/system/callbackkey/index.rails?id=k";
    let f = Fixture::with_config(WebhookConfig::new(
        Url::parse("http://127.0.0.1:4580").unwrap(),
    ));
    f.keys.serve(local, KEY);
    let mut body = callback("company", "added", 1, "m-local");
    body["Metadata"]["key_url"] = json!(local);
    assert_eq!(f.send(&bytes(&body), KEY).await.status, 200);
    body["Metadata"]["key_url"] = json!(local.replace("4580", "4581"));
    assert_error(&f.send(&bytes(&body), KEY).await, 401, "untrusted_key_url");
    assert_eq!(f.keys.calls(), 1);
}

#[tokio::test]
async fn refuses_a_tampered_body_a_wrong_key_and_a_garbled_header() {
    let f = Fixture::new();
    let body = bytes(&callback("company", "added", 42, "m-5"));
    let signature = SigningKey::derive(KEY).sign(&body);

    // One byte changed: the ID 42 becomes 43.
    let text = String::from_utf8(body.clone()).unwrap();
    let tampered = text.replacen("\"ID\":42", "\"ID\":43", 1).into_bytes();
    assert_eq!(tampered.len(), body.len());
    assert_ne!(tampered, body);
    assert_error(
        &f.webhook.handle(Some(&signature), &tampered).await,
        401,
        "bad_signature",
    );

    assert_error(&f.send(&body, "another-key").await, 401, "bad_signature");
    for garbled in [
        "",
        "!!!",
        "AAAA",
        "wDPQh4B4qlXadrGthLFQEE5si3i6qjcnC4BuQfBrL3A",
    ] {
        assert_error(
            &f.webhook.handle(Some(garbled), &body).await,
            401,
            "bad_signature",
        );
    }
    f.nothing_recorded();
    // The right signature still works afterwards.
    assert_eq!(f.webhook.handle(Some(&signature), &body).await.status, 200);
}

#[tokio::test]
async fn a_key_id_the_connectwise_host_does_not_know_is_refused_with_401() {
    let f = Fixture::new();
    // Signed, but the key URL (on the right host) names a key id the host does not serve.
    let mut forged = callback("company", "added", 1, "m-7");
    forged["Metadata"]["key_url"] = json!(format!("{KEY_URL}-forged"));
    let reply = f.send(&bytes(&forged), KEY).await;
    assert_error(&reply, 401, "unknown_signing_key");
    f.nothing_recorded();
}

#[tokio::test]
async fn answers_429_when_the_key_cannot_be_fetched_and_caches_no_failure() {
    let f = Fixture::new();
    f.keys.0.fail.store(true, Ordering::SeqCst);
    let body = bytes(&callback("company", "added", 1, "m-6"));
    assert_error(&f.send(&body, KEY).await, 429, "key_unavailable");
    assert_error(&f.send(&body, KEY).await, 429, "key_unavailable");
    assert_eq!(f.keys.calls(), 2);
    f.nothing_recorded();
    f.keys.0.fail.store(false, Ordering::SeqCst);
    assert_eq!(f.send(&body, KEY).await.status, 200);
    assert_eq!(f.keys.calls(), 3);
}

#[tokio::test]
async fn names_the_invalid_field() {
    let f = Fixture::new();
    for (field, value) in [
        ("Type", json!(null)),
        ("Action", json!("moved")),
        ("ID", json!("4x")),
        ("ID", json!(1.5)),
        ("MessageId", json!("")),
        ("MessageId", json!(12)),
    ] {
        let mut body = callback("company", "added", 1, "m-7");
        body[field] = value;
        let reply = f.send(&bytes(&body), KEY).await;
        assert_error(&reply, 400, "invalid_field");
        assert_eq!(reply.body["field"], field);
        assert!(
            reply.body["message"].as_str().unwrap().contains(field),
            "{reply:?}"
        );
    }
    let mut body = callback("company", "added", 1, "m-7");
    body.as_object_mut().unwrap().remove("MessageId");
    assert_error(&f.send(&bytes(&body), KEY).await, 400, "invalid_field");
    f.nothing_recorded();
}

#[tokio::test]
async fn ignores_other_types_without_storing_or_publishing() {
    let f = Fixture::new();
    let reply = f
        .send(&bytes(&callback("contact", "added", 1, "m-8")), KEY)
        .await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.body, json!({"status": "ignored"}));
    f.nothing_recorded();
}

#[tokio::test]
async fn a_ticket_callback_becomes_a_ticket_event_for_the_ticket_sync() {
    let f = Fixture::new();
    let reply = f
        .send(&bytes(&callback("ticket", "updated", 41, "m-t")), KEY)
        .await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (
            200,
            json!({"status": "accepted", "event": "ticket.updated"})
        )
    );
    let events = f.bus.events();
    assert_eq!(events.len(), 1);
    assert!(
        matches!(&events[0], shared::bus::Event::Ticket(t) if t.ticket_id == 41),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_redelivered_message_is_a_duplicate() {
    let f = Fixture::new();
    let body = bytes(&callback("company", "updated", 5, "m-9"));
    assert_eq!(f.send(&body, KEY).await.body["status"], "accepted");
    let reply = f.send(&body, KEY).await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (200, json!({"status": "duplicate"}))
    );
    assert_eq!(f.bus.events().len(), 1);
}

#[tokio::test]
async fn a_publish_failure_answers_429_and_forgets_the_message() {
    let f = Fixture::new();
    f.bus.0.fail.store(true, Ordering::SeqCst);
    let body = bytes(&callback("company", "added", 5, "m-10"));
    assert_error(&f.send(&body, KEY).await, 429, "unavailable");
    assert_eq!(
        *f.dedupe.0.forgotten.lock().unwrap(),
        vec!["m-10".to_owned()]
    );
    assert!(f.dedupe.0.seen.lock().unwrap().is_empty());
    // ConnectWise's retry goes through.
    f.bus.0.fail.store(false, Ordering::SeqCst);
    assert_eq!(f.send(&body, KEY).await.body["status"], "accepted");
    assert_eq!(f.bus.events().len(), 1);
}

#[tokio::test]
async fn a_dedupe_store_failure_answers_429_without_publishing() {
    let f = Fixture::new();
    f.dedupe.0.fail.store(true, Ordering::SeqCst);
    let body = bytes(&callback("company", "added", 5, "m-11"));
    assert_error(&f.send(&body, KEY).await, 429, "unavailable");
    assert!(f.bus.events().is_empty());
    assert_eq!(
        *f.dedupe.0.forgotten.lock().unwrap(),
        vec!["m-11".to_owned()]
    );
}

#[tokio::test]
async fn caches_the_key_per_url() {
    let f = Fixture::new();
    for i in 0..3 {
        let body = bytes(&callback("company", "added", 1, &format!("m-c{i}")));
        assert_eq!(f.send(&body, KEY).await.status, 200);
    }
    assert_eq!(f.keys.calls(), 1);
    // Another key URL on the same host is fetched on its own.
    let other = KEY_URL.replace("k-1", "k-2");
    f.keys.serve(&other, "second-key");
    let mut body = callback("company", "added", 1, "m-c9");
    body["Metadata"]["key_url"] = json!(other);
    assert_eq!(f.send(&bytes(&body), "second-key").await.status, 200);
    assert_eq!(f.keys.calls(), 2);
}

#[tokio::test]
async fn refetches_a_rotated_key_once() {
    let f = Fixture::new();
    let first = bytes(&callback("company", "added", 1, "m-r1"));
    assert_eq!(f.send(&first, KEY).await.status, 200);
    assert_eq!(f.keys.calls(), 1);

    // ConnectWise rotates the key: the cached one fails, the refetched one verifies.
    f.keys.serve(KEY_URL, "rotated-key");
    let second = bytes(&callback("company", "added", 1, "m-r2"));
    assert_eq!(f.send(&second, "rotated-key").await.status, 200);
    assert_eq!(f.keys.calls(), 2);
    // The new key is cached.
    let third = bytes(&callback("company", "added", 1, "m-r3"));
    assert_eq!(f.send(&third, "rotated-key").await.status, 200);
    assert_eq!(f.keys.calls(), 2);

    // A forged signature costs exactly one refetch, then is refused.
    let forged = bytes(&callback("company", "added", 1, "m-r4"));
    assert_error(&f.send(&forged, "forged-key").await, 401, "bad_signature");
    assert_eq!(f.keys.calls(), 3);
    assert_eq!(f.bus.events().len(), 3);
}

fn lambda_request(method: &str, body: lambda_http::Body) -> lambda_http::Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri("https://example.lambda-url.eu-west-1.on.aws/")
        .body(body)
        .unwrap()
}

#[tokio::test]
async fn the_lambda_adapter_reads_text_and_binary_bodies_and_any_header_case() {
    let f = Fixture::new();
    for (i, binary) in [false, true].into_iter().enumerate() {
        let body = bytes(&callback("company", "added", 8, &format!("m-l{i}")));
        let signature = SigningKey::derive(KEY).sign(&body);
        let lambda_body = if binary {
            lambda_http::Body::Binary(body.clone())
        } else {
            lambda_http::Body::Text(String::from_utf8(body.clone()).unwrap())
        };
        let mut request = lambda_request("POST", lambda_body);
        request
            .headers_mut()
            .insert("X-Content-Signature", signature.parse().unwrap());
        let response = crate::lambda_handler(&f.webhook, request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let lambda_http::Body::Text(text) = response.body() else {
            panic!("{:?}", response.body())
        };
        let reply: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            reply,
            json!({"status": "accepted", "event": "company.added"})
        );
    }
    let response =
        crate::lambda_handler(&f.webhook, lambda_request("POST", lambda_http::Body::Empty))
            .await
            .unwrap();
    assert_eq!(response.status(), 401);
    let response =
        crate::lambda_handler(&f.webhook, lambda_request("GET", lambda_http::Body::Empty))
            .await
            .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(f.bus.events().len(), 2);
}

/// A one-shot HTTP server: answers every connection with `response` and keeps the
/// request heads it read.
async fn canned_server(response: &'static str) -> (Url, Arc<Mutex<Vec<String>>>) {
    answering_server(move |_| response).await
}

/// An HTTP server answering each request with `respond(its head)`, keeping the heads.
async fn answering_server(
    respond: impl Fn(&str) -> &'static str + Send + 'static,
) -> (Url, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/k?id=1", listener.local_addr().unwrap())).unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let mut read = 0;
            while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf[read..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
            let head = String::from_utf8_lossy(&buf[..read]).into_owned();
            let response = respond(&head);
            seen.lock().unwrap().push(head);
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (url, heads)
}

fn key_client() -> reqwest::Client {
    shared::http::build_client(&shared::settings::HttpSettings::default()).unwrap()
}

#[tokio::test]
async fn the_http_key_source_sends_the_client_id_and_reads_the_key() {
    let (url, heads) = canned_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 31\r\nconnection: close\r\n\r\n{\"signing_key\":\"the-signing-k\"}",
    )
    .await;
    let source = crate::HttpKeySource::new(key_client(), Some("client-123".into()));
    let key = source.fetch(&url).await.unwrap();
    assert_eq!(
        key,
        (SigningKey::derive("the-signing-k"), KeyFetch::Anonymous)
    );
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("get /k?id=1 "), "{head}");
    assert!(head.contains("clientid: client-123"), "{head}");
}

#[tokio::test]
async fn the_http_key_source_follows_no_redirect_and_refuses_bad_answers() {
    for response in [
        "HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot json!",
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    ] {
        let (url, heads) = canned_server(response).await;
        let source = crate::HttpKeySource::new(key_client(), None);
        let err = source.fetch(&url).await.unwrap_err();
        assert_eq!(
            matches!(err, crate::ports::KeyError::Refused(404)),
            response.contains("404"),
            "{err}"
        );
        assert!(
            !err.to_string().contains("id=1"),
            "the URL is not in the error: {err}"
        );
        assert_eq!(heads.lock().unwrap().len(), 1, "exactly one request");
        assert!(
            !heads.lock().unwrap()[0]
                .to_ascii_lowercase()
                .contains("clientid")
        );
    }
}

/// A server that refuses a key request without `Authorization` (401) and serves the key to
/// one with it; it records every request head.
async fn members_only_server() -> (Url, Arc<Mutex<Vec<String>>>) {
    answering_server(|head| {
        if head.to_ascii_lowercase().contains("authorization: basic bwvtymvy") {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 31\r\nconnection: close\r\n\r\n{\"signing_key\":\"the-signing-k\"}"
        } else {
            "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        }
    })
    .await
}

#[tokio::test]
async fn a_host_that_serves_keys_only_to_the_api_member_gets_its_credentials_then_first() {
    let (url, heads) = members_only_server().await;
    // base64("member") = bWVtYmVy
    let auth = reqwest::header::HeaderValue::from_static("Basic bWVtYmVy");
    let source = crate::HttpKeySource::new(key_client(), Some("client-123".into()))
        .with_member_auth(crate::MemberAuth::Fixed(auth));
    let key = source.fetch(&url).await.unwrap();
    assert_eq!(
        key,
        (SigningKey::derive("the-signing-k"), KeyFetch::Authenticated)
    );
    assert_eq!(
        heads.lock().unwrap().len(),
        2,
        "anonymous, then with credentials"
    );
    assert!(
        !heads.lock().unwrap()[0]
            .to_ascii_lowercase()
            .contains("authorization")
    );
    source.fetch(&url).await.unwrap();
    assert_eq!(
        heads.lock().unwrap().len(),
        3,
        "once learned, the credentials go first"
    );
    assert!(
        heads.lock().unwrap()[2]
            .to_ascii_lowercase()
            .contains("authorization: basic")
    );

    // Without member credentials the refusal stands (and is a 401 to the caller).
    let plain = crate::HttpKeySource::new(key_client(), None);
    assert!(matches!(
        plain.fetch(&url).await.unwrap_err(),
        KeyError::Refused(401)
    ));
}

#[tokio::test]
async fn a_verified_callback_is_remembered_with_its_key_host_and_fetch() {
    let f = Fixture::new();
    let reply = f
        .send(&bytes(&callback("Agreement", "updated", 12, "m-seen")), KEY)
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let records = f.dedupe.0.records.lock().unwrap().clone();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].kind, "agreement");
    assert_eq!(records[0].record_id, 12);
    assert_eq!(records[0].key_host, "api-na.myconnectwise.net");
    assert_eq!(records[0].key_fetch, KeyFetch::Anonymous);
}

#[tokio::test]
async fn a_key_url_on_the_sites_alias_is_trusted() {
    let f = Fixture::new();
    let alias = "https://na.myconnectwise.net/v2025_1/system/callbackkey/index.rails?id=k-1";
    f.keys.serve(alias, KEY);
    let mut body = callback("Company", "updated", 7, "m-alias");
    body["Metadata"]["key_url"] = json!(alias);
    let reply = f.send(&bytes(&body), KEY).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        f.dedupe.0.records.lock().unwrap()[0].key_host,
        "na.myconnectwise.net"
    );
}

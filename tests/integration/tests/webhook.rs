//! The webhook against the ConnectWise simulator's signed callbacks, DynamoDB and
//! EventBridge → SQS (moto).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use integration_tests::{
    LocalStack, aws, aws_as, bus_as, bus_to_queue, drain_queue, fresh_secret, store_as, unique,
};
use serde_json::{Value, json};
use shared::functions::Function;
use shared::settings::HttpSettings;
use shared::store::KeyFetch;
use shared::store::Store;
use simulators::connectwise::{CwSim, CwSwitches, KeyFetchAuth, KeyUrlHost, OutboxEntry};
use webhook::{HttpKeySource, KEY_FETCH_TIMEOUT, SIGNATURE_HEADER, Webhook, WebhookConfig};

struct Fixture {
    sim: CwSim,
    /// Where the webhook listens: `http://127.0.0.1:PORT/`.
    webhook_url: String,
    store: Store,
    sqs: aws_sdk_sqs::Client,
    /// The provisioner's queue (company.* and agreement.* events).
    queue: String,
    http: reqwest::Client,
}

/// The simulator, a fresh table, a bus routed to a fresh provisioner queue, the webhook
/// served over HTTP, and an owner-level company and agreement callback pointing at it.
async fn fixture() -> Fixture {
    fixture_publishing_to(None).await
}

/// [`fixture`], with the webhook publishing to the bus named `bus` instead (if given).
async fn fixture_publishing_to(bus: Option<&str>) -> Fixture {
    fixture_with(CwSwitches::default(), bus).await
}

/// [`fixture`] with the simulator's `switches` set, the webhook configured as its main.rs
/// does (a credentials secret it may read), publishing to `bus` if given.
async fn fixture_with(switches: CwSwitches, bus: Option<&str>) -> Fixture {
    let LocalStack {
        config,
        cw_sim: sim,
        store,
        ..
    } = LocalStack::start().await.unwrap();
    sim.set_switches(switches);

    let (bus_to, sqs, queue) = bus_to_queue(&config, Function::Provisioner).await.unwrap();

    let mut webhook_config =
        WebhookConfig::new(shared::connectwise::client::site_origin(&sim.url()).unwrap());
    webhook_config.client_id = Some(sim.config().client_id.clone());
    webhook_config.secret_id = Some(fresh_secret(&config, &sim).await.unwrap());
    let own = aws_as(Function::Webhook).await.unwrap();
    let keys = HttpKeySource::from_config(
        shared::http::build_client(&HttpSettings {
            timeout: KEY_FETCH_TIMEOUT,
            ..HttpSettings::default()
        })
        .unwrap(),
        &webhook_config,
        || aws_sdk_secretsmanager::Client::new(&own),
    );
    // The webhook runs with its own role.
    let webhook = Arc::new(Webhook::new(
        webhook_config,
        store_as(&store, Function::Webhook).await.unwrap(),
        match bus {
            Some(name) => shared::bus::EventBus::new(aws_sdk_eventbridge::Client::new(&own), name),
            None => bus_as(&bus_to, Function::Webhook).await.unwrap(),
        },
        keys,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(webhook::local::serve(listener, webhook));

    let http = reqwest::Client::new();
    for kind in ["company", "agreement"] {
        let resp = http
            .post(format!("{}/system/callbacks", sim.api_base()))
            .header("authorization", sim.auth_header())
            .header("clientId", &sim.config().client_id)
            .json(&json!({"url": webhook_url, "objectId": 1, "type": kind, "level": "owner"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }
    Fixture {
        sim,
        webhook_url,
        store,
        sqs,
        queue,
        http,
    }
}

impl Fixture {
    /// Creates a record through the simulator's UI-like route (which fires callbacks).
    async fn create(&self, what: &str, record: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}/_sim/{what}", self.sim.url()))
            .json(&record)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json().await.unwrap()
    }

    /// The outbox entry about record `id` of `kind`, once its state is `state`.
    async fn outbox_entry(&self, kind: &str, id: i64, state: &str) -> OutboxEntry {
        for _ in 0..200 {
            if let Some(e) = self
                .sim
                .sent_callbacks()
                .into_iter()
                .find(|e| e.kind == kind && e.id == id && e.state == state)
            {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no {state} callback about {kind} {id}: {:?}",
            self.sim.sent_callbacks()
        );
    }

    /// Posts a body with a signature straight to the webhook.
    async fn deliver(&self, body: &[u8], signature: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(&self.webhook_url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// Asks the simulator to send an outbox entry again; returns the webhook's status.
    async fn redeliver(&self, message_id: &str) -> u16 {
        let resp: Value = self
            .http
            .post(format!(
                "{}/_sim/callbacks/sent/{message_id}/redeliver",
                self.sim.url()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        resp["status"].as_u64().unwrap() as u16
    }

    async fn events(&self, want: usize, within: Duration) -> Vec<Value> {
        drain_queue(&self.sqs, &self.queue, want, within)
            .await
            .unwrap()
    }

    /// How many times the signing key was fetched from the simulator.
    fn key_fetches(&self) -> usize {
        self.sim
            .control()
            .requests()
            .iter()
            .filter(|r| r.path.contains("callbackkey"))
            .count()
    }
}

#[tokio::test]
async fn a_signed_callback_becomes_one_event_and_a_redelivery_is_a_duplicate() {
    let f = fixture().await;
    let company = f
        .create("companies", json!({"identifier": "acme", "name": "Acme"}))
        .await;
    let company_id = company["id"].as_i64().unwrap();

    let sent = f.outbox_entry("company", company_id, "delivered").await;
    assert_eq!(sent.status, Some(200), "{sent:?}");
    let events = f.events(1, Duration::from_secs(10)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["source"], shared::bus::SOURCE);
    assert_eq!(events[0]["detail-type"], "company.added");
    assert_eq!(events[0]["detail"]["company_id"], company_id);
    assert_eq!(
        events[0]["detail"]["origin"],
        json!({"kind": "callback", "message_id": sent.message_id})
    );

    // The same message again, as ConnectWise would retry it: acknowledged, not republished.
    assert_eq!(f.redeliver(&sent.message_id).await, 200);
    let (status, reply) = f.deliver(sent.body.as_bytes(), &sent.signature).await;
    assert_eq!((status, reply), (200, json!({"status": "duplicate"})));
    assert!(f.events(1, Duration::from_secs(3)).await.is_empty());
    // The key was fetched once and then served from the cache.
    assert_eq!(f.key_fetches(), 1);

    // An agreement of that company: its event names the company from the Entity.
    let agreement = f
        .create(
            "agreements",
            json!({"name": "Backup", "company": {"id": company_id}}),
        )
        .await;
    let agreement_id = agreement["id"].as_i64().unwrap();
    let sent = f.outbox_entry("agreement", agreement_id, "delivered").await;
    assert_eq!(sent.status, Some(200), "{sent:?}");
    let events = f.events(1, Duration::from_secs(10)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "agreement.added");
    assert_eq!(events[0]["detail"]["agreement_id"], agreement_id);
    assert_eq!(events[0]["detail"]["company_id"], company_id);
}

/// Switch (b): wherever the key URL points (the site or its alias) and whatever fetching the
/// key needs (nothing or the member's credentials), a signed callback is verified and
/// published, and its record says how.
#[tokio::test]
async fn callbacks_verify_under_every_key_url_host_and_key_fetch_setting() {
    for key_url_host in [KeyUrlHost::Site, KeyUrlHost::Alias] {
        for key_fetch in [KeyFetchAuth::Anonymous, KeyFetchAuth::Authenticated] {
            let setting = format!("{key_url_host:?}/{key_fetch:?}");
            let f = fixture_with(
                CwSwitches {
                    key_url_host,
                    key_fetch,
                    ..CwSwitches::default()
                },
                None,
            )
            .await;
            let since = chrono::Utc::now() - chrono::Duration::seconds(1);
            let company = f
                .create("companies", json!({"identifier": "acme", "name": "Acme"}))
                .await;
            let company_id = company["id"].as_i64().unwrap();
            let sent = f.outbox_entry("company", company_id, "delivered").await;
            assert_eq!(sent.status, Some(200), "{setting}: {sent:?}");
            let events = f.events(1, Duration::from_secs(10)).await;
            assert_eq!(events.len(), 1, "{setting}: {events:?}");
            assert_eq!(events[0]["detail"]["company_id"], company_id);

            let seen = f.store.callbacks_since(since).await.unwrap();
            assert_eq!(seen.len(), 1, "{setting}: {seen:?}");
            assert_eq!(
                (seen[0].kind.as_str(), seen[0].record_id),
                ("company", company_id)
            );
            let port = f.sim.running.addr.port();
            let host = match key_url_host {
                KeyUrlHost::Site => format!("127.0.0.1:{port}"),
                KeyUrlHost::Alias => format!("localhost:{port}"),
            };
            assert_eq!(seen[0].key_host, host, "{setting}");
            let expected = match key_fetch {
                KeyFetchAuth::Anonymous => KeyFetch::Anonymous,
                KeyFetchAuth::Authenticated => KeyFetch::Authenticated,
            };
            assert_eq!(seen[0].key_fetch, expected, "{setting}");
            // Authenticated: one refused anonymous fetch, then one with credentials.
            let fetches = match key_fetch {
                KeyFetchAuth::Anonymous => 1,
                KeyFetchAuth::Authenticated => 2,
            };
            assert_eq!(f.key_fetches(), fetches, "{setting}");
        }
    }
}

#[tokio::test]
async fn concurrent_deliveries_of_one_message_publish_once() {
    let f = fixture().await;
    f.sim.set_delivery(false);
    let company = f
        .create("companies", json!({"identifier": "twice", "name": "Twice"}))
        .await;
    let id = company["id"].as_i64().unwrap();
    let sent = f.outbox_entry("company", id, "suppressed").await;

    let (a, b) = tokio::join!(
        f.deliver(sent.body.as_bytes(), &sent.signature),
        f.deliver(sent.body.as_bytes(), &sent.signature)
    );
    assert_eq!((a.0, b.0), (200, 200));
    let mut words = [a.1["status"].clone(), b.1["status"].clone()];
    words.sort_by_key(|w| w.to_string());
    assert_eq!(words, [json!("accepted"), json!("duplicate")]);

    // The simulator's own redeliveries, concurrently: both acknowledged as duplicates.
    let (x, y) = tokio::join!(f.redeliver(&sent.message_id), f.redeliver(&sent.message_id));
    assert_eq!((x, y), (200, 200));

    let events = f.events(2, Duration::from_secs(5)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["company_id"], id);
}

#[tokio::test]
async fn forged_or_tampered_callbacks_are_refused_and_nothing_is_recorded() {
    let f = fixture().await;
    f.sim.set_delivery(false);
    let company = f
        .create(
            "companies",
            json!({"identifier": "forged", "name": "Forged"}),
        )
        .await;
    let id = company["id"].as_i64().unwrap();
    let sent = f.outbox_entry("company", id, "suppressed").await;

    // One byte changed, the signature kept.
    let mut tampered = sent.body.clone().into_bytes();
    let at = sent.body.find("\"ID\":").unwrap() + 5;
    tampered[at] = if tampered[at] == b'9' {
        b'8'
    } else {
        tampered[at] + 1
    };
    let (status, reply) = f.deliver(&tampered, &sent.signature).await;
    assert_eq!(
        (status, reply["error"].clone()),
        (401, json!("bad_signature"))
    );

    // Signed with another key.
    let forged = simulators::connectwise::sign("not-the-key", sent.body.as_bytes());
    let (status, reply) = f.deliver(sent.body.as_bytes(), &forged).await;
    assert_eq!(
        (status, reply["error"].clone()),
        (401, json!("bad_signature"))
    );

    // No signature at all.
    let resp = f
        .http
        .post(&f.webhook_url)
        .body(sent.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    assert!(f.events(1, Duration::from_secs(3)).await.is_empty());
    // The message was not remembered: the genuine delivery still goes through.
    let (status, reply) = f.deliver(sent.body.as_bytes(), &sent.signature).await;
    assert_eq!(
        (status, reply),
        (200, json!({"status": "accepted", "event": "company.added"}))
    );
    assert_eq!(f.events(1, Duration::from_secs(10)).await.len(), 1);
    assert!(
        !f.store
            .remember_once("callback", &sent.message_id, Duration::from_secs(60))
            .await
            .unwrap(),
        "the accepted message is remembered"
    );
}

#[tokio::test]
async fn a_key_url_on_another_port_is_never_fetched() {
    let f = fixture().await;
    // A listener that counts every connection it gets.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while trap.accept().await.is_ok() {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });

    let body = json!({
        "MessageId": uuid::Uuid::new_v4().to_string(),
        "Action": "added",
        "Type": "company",
        "ID": 1,
        "Metadata": {"key_url": format!(
            "http://127.0.0.1:{trap_port}/v2025_1/system/callbackkey/index.rails?id=x"
        )},
        "Entity": "{}",
    })
    .to_string();
    let signature = simulators::connectwise::sign(&f.sim.config().signing_key, body.as_bytes());
    let (status, reply) = f.deliver(body.as_bytes(), &signature).await;
    assert_eq!(
        (status, reply["error"].clone()),
        (401, json!("untrusted_key_url"))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    assert_eq!(f.key_fetches(), 0);
    assert!(f.events(1, Duration::from_secs(2)).await.is_empty());
}

#[tokio::test]
async fn a_callback_not_published_answers_429_and_connectwises_own_retry_goes_through() {
    // The bus does not exist yet: publishing fails, the webhook answers 429 (a status
    // ConnectWise retries; a 5xx it would drop) and forgets the message id.
    let bus = unique("bus-later");
    let f = fixture_publishing_to(Some(&bus)).await;
    f.sim
        .set_callback_retry_delays([Duration::from_secs(3), Duration::from_secs(4)]);
    let company = f
        .create("companies", json!({"identifier": "later", "name": "Later"}))
        .await;
    let company_id = company["id"].as_i64().unwrap();
    let first = f.outbox_entry("company", company_id, "retrying").await;
    assert_eq!((first.status, first.attempts), (Some(429), 1), "{first:?}");

    // The bus is back before ConnectWise's retry: the same message is taken, not a
    // duplicate, with no one replaying anything.
    let config = aws().await.unwrap();
    let eb = aws_sdk_eventbridge::Client::new(&config);
    local_runner::ensure_bus(&eb, &bus).await.unwrap();
    let route = local_runner::routes()
        .into_iter()
        .find(|r| r.consumer == Function::Provisioner)
        .unwrap();
    let queue_name = unique("provisioner");
    let queue =
        local_runner::route_to_queue(&eb, &f.sqs, &bus, &queue_name, &route.pattern, &queue_name)
            .await
            .unwrap();
    let sent = f.outbox_entry("company", company_id, "delivered").await;
    assert_eq!(sent.status, Some(200), "{sent:?}");
    assert!(sent.attempts >= 2, "{sent:?}");
    let events = drain_queue(&f.sqs, &queue, 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["company_id"], company_id);
}

/// ConnectWise adds the record id (and action) to the registered URL in a form no source
/// confirms: the webhook takes the callback under each.
#[tokio::test]
async fn callbacks_reach_the_webhook_whatever_form_the_record_id_takes_in_the_url() {
    use simulators::connectwise::CallbackUrlForm;
    for form in [
        CallbackUrlForm::AsRegistered,
        CallbackUrlForm::IdAppended,
        CallbackUrlForm::IdAndActionParameters,
    ] {
        let f = fixture().await;
        f.sim.set_switches(CwSwitches {
            callback_url: form,
            ..CwSwitches::default()
        });
        let company = f
            .create(
                "companies",
                json!({"identifier": "url", "name": "Url form"}),
            )
            .await;
        let company_id = company["id"].as_i64().unwrap();
        let sent = f.outbox_entry("company", company_id, "delivered").await;
        assert_eq!(sent.status, Some(200), "{form:?}: {sent:?}");
        assert_ne!(
            sent.url == f.webhook_url,
            form != CallbackUrlForm::AsRegistered,
            "{form:?}: {}",
            sent.url
        );
    }
}

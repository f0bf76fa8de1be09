//! Signed callbacks ("webhooks") as ConnectWise sends them, with an outbox.
//!
//! Delivery as the Developer Guide states it (NOTES §8.5): any 2xx is a success; 404, 409,
//! 419 and 429 are retried twice, 2 s after the first attempt and 4 s after the first retry;
//! anything else (a 5xx included) and a request that times out after 5 s are failures, never
//! retried; after three consecutive days of failures the callback is disabled
//! (`inactiveFlag`). The record id (and action) are added to the registered URL as
//! [`super::CwSwitches::callback_url`] says (the form is unconfirmed).
//!
//! Body: PascalCase keys, `Entity` is the record serialized as a JSON string. Header
//! `x-content-signature: base64(HMAC-SHA256(key = SHA256(signing_key), msg = body))`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::App;
use super::state::{API_MEMBER, Db, as_id};

/// How long one delivery attempt may take.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// The answers ConnectWise retries.
pub const RETRIED_STATUSES: [u16; 4] = [404, 409, 419, 429];
/// The waits before the two retries.
pub const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(4)];
/// Consecutive days of failures after which a callback is disabled.
pub const DISABLED_AFTER_DAYS: i64 = 3;

/// How the record id and action are added to a callback's registered URL (unconfirmed:
/// "PSA appends the record id and action to the specified callback URL").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackUrlForm {
    /// The URL as registered.
    AsRegistered,
    /// The record id written after the URL (`…&recordId=` becomes `…&recordId=42`; a URL
    /// not ending so gets it on its path).
    #[default]
    IdAppended,
    /// `id` and `action` as query parameters.
    IdAndActionParameters,
}

impl CallbackUrlForm {
    pub fn url(self, registered: &str, id: i64, action: &str) -> String {
        match self {
            Self::AsRegistered => registered.to_owned(),
            Self::IdAppended => format!("{registered}{id}"),
            Self::IdAndActionParameters => {
                let sep = if registered.contains('?') { '&' } else { '?' };
                format!("{registered}{sep}id={id}&action={action}")
            }
        }
    }
}

/// `base64(HMAC-SHA256(key = SHA256(utf8(signing_key)), msg = body))`, standard alphabet, padded.
pub fn sign(signing_key: &str, body: &[u8]) -> String {
    let key = Sha256::digest(signing_key.as_bytes());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Who made a change: the API member (the integration) or a person in the ConnectWise UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Api,
    Ui,
}

/// One callback the simulator sent (or would have sent).
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub message_id: String,
    pub url: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub action: String,
    pub id: i64,
    pub callback_id: i64,
    /// The receiver's HTTP status of the last attempt; `null` if it failed, is pending or suppressed.
    pub status: Option<u16>,
    /// `pending`, `retrying` (answered with a status ConnectWise retries, retry due),
    /// `delivered` (a 2xx), `refused` (any other answer, after the retries), `failed` (no
    /// answer in time), `suppressed`, or `lost` (dropped on the way, see
    /// [`super::CwSim::lose_callbacks`]).
    pub state: String,
    pub suppressed: bool,
    pub error: Option<String>,
    pub attempts: u32,
    pub created_at: String,
    /// The exact body bytes that were signed.
    pub body: String,
    pub signature: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Payload<'a> {
    message_id: &'a str,
    from_url: &'a str,
    company_id: &'a str,
    member_id: &'a str,
    action: &'a str,
    #[serde(rename = "Type")]
    kind: &'a str,
    #[serde(rename = "ID")]
    id: i64,
    product_instance_id: &'a str,
    partner_id: &'a str,
    callback_object_rec_id: i64,
    metadata: Metadata<'a>,
    entity: String,
}

#[derive(Serialize)]
struct Metadata<'a> {
    key_url: &'a str,
}

/// A queued delivery.
#[derive(Debug)]
pub struct Job {
    message_id: String,
    /// Where it goes: the registered URL with the record id added.
    url: String,
    /// The registered URL (deliveries to one go out in order).
    registered: String,
    body: String,
    signature: String,
}

fn id_of(v: Option<&Value>) -> Option<i64> {
    as_id(v.and_then(|x| x.get("id")))
}

/// Whether a registered callback wants an event of `kind` about `record`.
fn wants(cb: &Value, kind: &str, record: &Value) -> bool {
    let s = |k: &str| {
        cb.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    if cb.get("inactiveFlag") == Some(&Value::Bool(true)) || s("type") != kind {
        return false;
    }
    let object_id = as_id(cb.get("objectId"));
    let level = s("level");
    match (kind, level.as_str()) {
        (_, "owner") => true,
        ("company", "company") => object_id == as_id(record.get("id")),
        ("company", "status") => object_id.is_some() && object_id == id_of(record.get("status")),
        ("company", "type") => record
            .get("types")
            .and_then(Value::as_array)
            .is_some_and(|ts| {
                ts.iter()
                    .any(|t| object_id.is_some() && as_id(t.get("id")) == object_id)
            }),
        ("agreement", "agreement") => object_id == as_id(record.get("id")),
        ("agreement", "company") => {
            object_id.is_some() && object_id == id_of(record.get("company"))
        }
        ("agreement", "type") => object_id.is_some() && object_id == id_of(record.get("type")),
        ("ticket", "ticket") => object_id == as_id(record.get("id")),
        ("ticket", "board") => object_id.is_some() && object_id == id_of(record.get("board")),
        ("ticket", "status") => object_id.is_some() && object_id == id_of(record.get("status")),
        _ => false,
    }
}

impl App {
    /// The URL receivers fetch the signing key from.
    pub fn key_url(&self) -> String {
        let site = self.url();
        let host = match self.switches().key_url_host {
            super::KeyUrlHost::Site => site,
            super::KeyUrlHost::Alias => site.replacen("127.0.0.1", "localhost", 1),
        };
        format!(
            "{}/{}system/callbackkey/index.rails?id={}",
            host, self.0.config.codebase, self.0.key_id
        )
    }

    /// Records and queues the callbacks a change of `record` triggers. Call with the lock held.
    pub fn fire(&self, db: &mut Db, kind: &str, action: &str, record: &Value, origin: Origin) {
        let record_id = as_id(record.get("id")).unwrap_or_default();
        let entity = serde_json::to_string(record).unwrap_or_default();
        let url = self.url();
        let from_url = url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_owned();
        let key_url = self.key_url();
        let cfg = &self.0.config;
        let matching: Vec<Value> = db
            .callbacks
            .rows
            .values()
            .filter(|cb| wants(cb, kind, record))
            .filter(|cb| {
                !(origin == Origin::Api
                    && cb.get("isSelfSuppressedFlag") == Some(&Value::Bool(true)))
            })
            .cloned()
            .collect();
        let url_form = self.switches().callback_url;
        for cb in matching {
            let message_id = uuid::Uuid::new_v4().to_string();
            let callback_id = as_id(cb.get("id")).unwrap_or_default();
            let registered = cb
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let target = url_form.url(&registered, record_id, action);
            let payload = Payload {
                message_id: &message_id,
                from_url: &from_url,
                company_id: &cfg.company_id,
                member_id: API_MEMBER,
                action,
                kind,
                id: record_id,
                product_instance_id: &self.0.product_instance_id,
                partner_id: &cfg.company_id,
                callback_object_rec_id: callback_id,
                metadata: Metadata { key_url: &key_url },
                entity: entity.clone(),
            };
            let body = serde_json::to_string(&payload).unwrap_or_default();
            let signature = sign(&cfg.signing_key, body.as_bytes());
            let suppressed = !db.delivery_enabled;
            db.fired += 1;
            let lost = !suppressed
                && db
                    .lose_one_in
                    .is_some_and(|n| n > 0 && (db.fired - 1).is_multiple_of(u64::from(n)));
            db.outbox.push(OutboxEntry {
                message_id: message_id.clone(),
                url: target.clone(),
                kind: kind.to_owned(),
                action: action.to_owned(),
                id: record_id,
                callback_id,
                status: None,
                state: if suppressed {
                    "suppressed"
                } else if lost {
                    "lost"
                } else {
                    "pending"
                }
                .to_owned(),
                suppressed,
                error: None,
                attempts: 0,
                created_at: super::state::now(),
                body: body.clone(),
                signature: signature.clone(),
            });
            if !suppressed && !lost {
                self.enqueue(Job {
                    message_id,
                    url: target,
                    registered,
                    body,
                    signature,
                });
            }
        }
    }

    /// Deliveries to one URL go out in order; different URLs don't wait for each other.
    fn enqueue(&self, job: Job) {
        let mut queues = self.0.queues.lock().unwrap_or_else(|e| e.into_inner());
        let tx = queues.entry(job.registered.clone()).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let app = self.clone();
            tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    app.deliver(&job).await;
                }
            });
            tx
        });
        if let Err(mpsc::error::SendError(job)) = tx.send(job) {
            // The worker is gone (runtime shutting down); record the failure.
            self.record_attempt(&job.message_id, Err("delivery worker stopped".into()), true);
        }
    }

    /// A delivery with ConnectWise's retries: again after 2 s and 4 s while the answer is
    /// one it retries.
    async fn deliver(&self, job: &Job) {
        let delays = self.db().retry_delays;
        for attempt in 0..=delays.len() {
            let result = self.send(&job.url, &job.body, &job.signature).await;
            let retried = matches!(result, Ok(s) if RETRIED_STATUSES.contains(&s));
            let last = !retried || attempt == delays.len();
            self.record_attempt(&job.message_id, result, last);
            if last {
                return;
            }
            tokio::time::sleep(delays[attempt]).await;
        }
    }

    /// One delivery attempt: the receiver's status, or why there was none.
    pub async fn send(&self, url: &str, body: &str, signature: &str) -> Result<u16, String> {
        self.0
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-content-signature", signature)
            .body(body.to_owned())
            .timeout(DELIVERY_TIMEOUT)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }

    /// Records an attempt; after the `last` one of a delivery, counts the callback's days
    /// of failures (a success starts them again) and disables it after three.
    pub fn record_attempt(&self, message_id: &str, result: Result<u16, String>, last: bool) {
        let mut db = self.db();
        let Some(e) = db.outbox.iter_mut().find(|e| e.message_id == message_id) else {
            return;
        };
        e.attempts += 1;
        let succeeded = matches!(result, Ok(s) if (200..300).contains(&s));
        match result {
            Ok(status) => {
                e.status = Some(status);
                e.state = match (succeeded, last) {
                    (true, _) => "delivered",
                    (false, false) => "retrying",
                    (false, true) => "refused",
                }
                .into();
                e.error = None;
            }
            Err(err) => {
                e.status = None;
                e.state = "failed".into();
                e.error = Some(err);
            }
        }
        let callback_id = e.callback_id;
        if !last {
            return;
        }
        if succeeded {
            db.failing_since.remove(&callback_id);
            return;
        }
        let now = crate::clock::now();
        let since = *db.failing_since.entry(callback_id).or_insert(now);
        if now - since >= chrono::Duration::days(DISABLED_AFTER_DAYS)
            && let Some(cb) = db.callbacks.rows.get_mut(&callback_id)
            && let Some(m) = cb.as_object_mut()
        {
            m.insert("inactiveFlag".into(), Value::Bool(true));
            db.failing_since.remove(&callback_id);
        }
    }

    /// Sends an outbox entry's identical body and signature again and waits for the answer.
    pub async fn redeliver(&self, message_id: &str) -> Option<Value> {
        let (url, body, signature) = {
            let db = self.db();
            let e = db.outbox.iter().find(|e| e.message_id == message_id)?;
            (e.url.clone(), e.body.clone(), e.signature.clone())
        };
        let result = self.send(&url, &body, &signature).await;
        self.record_attempt(message_id, result.clone(), true);
        Some(match result {
            Ok(status) => json!({"message_id": message_id, "status": status, "error": null}),
            Err(e) => json!({"message_id": message_id, "status": null, "error": e}),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signature_matches_hand_computed_vector() {
        // key = SHA256("sim-signing-key"); HMAC-SHA256(key, body); base64.
        let body = br#"{"MessageId":"m1","Action":"updated"}"#;
        let key = Sha256::digest(b"sim-signing-key");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
        mac.update(body);
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sign("sim-signing-key", body), expected);
        // A fixed vector (computed independently with Python's hmac/hashlib).
        assert_eq!(sign("sim-signing-key", body), FIXED_VECTOR);
        assert_eq!(expected.len(), 44);
        assert!(expected.ends_with('='));
        // The HMAC key is the digest, not the raw key string.
        let mut raw = Hmac::<Sha256>::new_from_slice(b"sim-signing-key").expect("key");
        raw.update(body);
        assert_ne!(STANDARD.encode(raw.finalize().into_bytes()), expected);
    }

    const FIXED_VECTOR: &str = "wDPQh4B4qlXadrGthLFQEE5si3i6qjcnC4BuQfBrL3A=";

    #[test]
    fn callback_matching_by_level() {
        let company = json!({"id": 7, "status": {"id": 1}, "types": [{"id": 4}]});
        let cb = |t: &str, l: &str, o: i64| json!({"type": t, "level": l, "objectId": o});
        assert!(wants(&cb("Company", "Owner", 1), "company", &company));
        assert!(wants(&cb("company", "company", 7), "company", &company));
        assert!(!wants(&cb("company", "company", 8), "company", &company));
        assert!(wants(&cb("company", "type", 4), "company", &company));
        assert!(wants(&cb("company", "status", 1), "company", &company));
        assert!(!wants(&cb("agreement", "owner", 1), "company", &company));
        let mut inactive = cb("company", "owner", 1);
        inactive["inactiveFlag"] = json!(true);
        assert!(!wants(&inactive, "company", &company));
        let agreement = json!({"id": 3, "company": {"id": 7}, "type": {"id": 2}});
        assert!(wants(
            &cb("agreement", "company", 7),
            "agreement",
            &agreement
        ));
        assert!(wants(
            &cb("agreement", "agreement", 3),
            "agreement",
            &agreement
        ));
        assert!(!wants(
            &cb("agreement", "agreement", 4),
            "agreement",
            &agreement
        ));
    }
}

//! A fake Lambda Runtime API on loopback, speaking the protocol a function's runtime speaks
//! to Lambda (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>), so that a
//! function's own built binary can be started with `AWS_LAMBDA_RUNTIME_API` pointing here and
//! handed the events its triggers send it on AWS:
//!
//! - `GET /2018-06-01/runtime/invocation/next` waits for the next pushed event and answers it
//!   as its body, with `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (epoch
//!   milliseconds: the hand-out time plus the invocation's timeout),
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` records the function's result and
//!   `POST /2018-06-01/runtime/invocation/{id}/error` its error (`errorType`,
//!   `errorMessage`), each answered `202`; an id not handed out, or already answered, is
//!   refused `400` (`InvalidRequestID`), and a response over Lambda's 6 MB `413`;
//! - `POST /2018-06-01/runtime/init/error` records a failed init: every invocation waiting,
//!   and every one pushed after, ends with that error, as Lambda answers the invoker.
//!
//! [`RuntimeApi::invoke`] pushes an event and waits for its outcome; [`RuntimeApi::polls`]
//! reports each `next` call (the end of a cold start, which `make bench-coldstart` measures).
//! As in Lambda, one API serves one execution environment (one process) at a time: a `next`
//! call waits holding the queue, so a process killed while waiting should not share its API
//! with one that is to be handed events.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

/// The API version in every path.
pub const VERSION: &str = "2018-06-01";
/// Lambda's limit on a synchronous invocation's response payload.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// The header a runtime names the kind of its error in.
pub const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// `arn:aws:lambda:<region>:<account>:function:<name>`, as Lambda names the invoked function.
pub fn function_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{name}")
}

/// One invocation to hand to the function.
#[derive(Debug, Clone)]
pub struct Invoke {
    /// The event, the body of the `next` answer.
    pub event: Value,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub function_arn: String,
    /// The function's timeout: the deadline is the hand-out time plus this.
    pub timeout: Duration,
}

impl Invoke {
    /// `event` for `function_arn`, with Lambda's default timeout of 3 seconds.
    pub fn new(function_arn: impl Into<String>, event: Value) -> Self {
        Self {
            event,
            function_arn: function_arn.into(),
            timeout: Duration::from_secs(3),
        }
    }

    /// With the function's configured timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The body the runtime posted to `/response` (JSON, or a string when it is not JSON).
    Response(Value),
    /// What the runtime posted to `/error`, or to `/init/error` before the invocation ran.
    Error(FunctionError),
}

impl Outcome {
    /// The response, or an error naming what the function answered instead.
    pub fn response(self) -> Result<Value> {
        match self {
            Outcome::Response(v) => Ok(v),
            Outcome::Error(e) => bail!(
                "the function answered an error: {} ({}): {}",
                e.error_type,
                e.header.as_deref().unwrap_or("no error-type header"),
                e.error_message
            ),
        }
    }

    /// The error, or an error showing the response the function answered instead.
    pub fn error(self) -> Result<FunctionError> {
        match self {
            Outcome::Error(e) => Ok(e),
            Outcome::Response(v) => bail!("the function answered a response, not an error: {v}"),
        }
    }
}

/// A function error as a runtime reports it (`{"errorType": ..., "errorMessage": ...}`).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionError {
    /// `errorType` (empty when the body has none).
    pub error_type: String,
    /// `errorMessage` (empty when the body has none).
    pub error_message: String,
    /// The `Lambda-Runtime-Function-Error-Type` header, when sent.
    pub header: Option<String>,
    /// The body as posted.
    pub body: Value,
    /// Reported to `/init/error`: the function never ran the invocation.
    pub during_init: bool,
}

impl FunctionError {
    fn read(headers: &HeaderMap, body: &[u8], during_init: bool) -> Self {
        let body = json_or_text(body);
        let field = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            error_type: field("errorType"),
            error_message: field("errorMessage"),
            header: headers
                .get(ERROR_TYPE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
            during_init,
        }
    }
}

/// An invocation pushed and not yet finished.
#[derive(Debug)]
pub struct Pending {
    request_id: String,
    outcome: oneshot::Receiver<Outcome>,
    init_error: watch::Receiver<Option<FunctionError>>,
}

impl Pending {
    /// `Lambda-Runtime-Aws-Request-Id` of the invocation.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Its outcome, waiting up to `within` (an init error ends it at once).
    pub async fn outcome(self, within: Duration) -> Result<Outcome> {
        let Pending {
            request_id,
            mut outcome,
            mut init_error,
        } = self;
        let failed_init = async {
            match init_error.wait_for(Option::is_some).await {
                Ok(e) => (*e).clone(),
                // The API is gone: only the outcome (or the wait) can end it.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            got = &mut outcome => got.context("the runtime API stopped"),
            Some(e) = failed_init => Ok(Outcome::Error(e)),
            () = tokio::time::sleep(within) => bail!(
                "invocation {request_id} had no outcome within {within:?}"
            ),
        }
    }
}

/// One invocation in the API's hands.
#[derive(Debug)]
struct Slot {
    outcome: oneshot::Sender<Outcome>,
    /// Handed out by `next`: only then may the runtime answer it.
    handed_out: bool,
}

#[derive(Debug)]
struct Inner {
    queue: mpsc::UnboundedSender<(String, Invoke)>,
    /// The queue's receiving end; a `next` call holds it while it waits (cancel-safe).
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Invoke)>>,
    slots: Mutex<HashMap<String, Slot>>,
    init_error: watch::Sender<Option<FunctionError>>,
    polls: Mutex<Vec<mpsc::UnboundedSender<Instant>>>,
}

impl Inner {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the handed-out invocation `id` with `outcome`; `false` if there is none.
    fn finish(&self, id: &str, outcome: Outcome) -> bool {
        let slot = {
            let mut slots = self.slots();
            match slots.get(id) {
                Some(s) if s.handed_out => slots.remove(id),
                _ => None,
            }
        };
        match slot {
            Some(slot) => {
                // The caller may have stopped waiting; the outcome is recorded all the same.
                let _ = slot.outcome.send(outcome);
                true
            }
            None => false,
        }
    }
}

/// The fake Runtime API. The server stops when this is dropped.
#[derive(Debug)]
pub struct RuntimeApi {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Serves on a free loopback port.
    pub async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the runtime API")?;
        let addr = listener.local_addr()?;
        let (queue, next) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            queue,
            next: tokio::sync::Mutex::new(next),
            slots: Mutex::new(HashMap::new()),
            init_error: watch::Sender::new(None),
            polls: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route(
                &format!("/{VERSION}/runtime/invocation/next"),
                get(next_event),
            )
            .route(
                &format!("/{VERSION}/runtime/invocation/{{id}}/response"),
                post(response),
            )
            .route(
                &format!("/{VERSION}/runtime/invocation/{{id}}/error"),
                post(invocation_error),
            )
            .route(&format!("/{VERSION}/runtime/init/error"), post(init_error))
            // Lambda's own limit is checked in the handler, so the runtime hears Lambda's answer.
            .layer(DefaultBodyLimit::disable())
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the fake runtime API stopped");
            }
        });
        Ok(Self {
            addr,
            inner,
            server,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues `invoke` for the next `next` call.
    pub fn push(&self, invoke: Invoke) -> Pending {
        let request_id = request_id();
        let (tx, rx) = oneshot::channel();
        self.inner.slots().insert(
            request_id.clone(),
            Slot {
                outcome: tx,
                handed_out: false,
            },
        );
        // The receiver lives in `inner` as long as the sender does.
        let _ = self.inner.queue.send((request_id.clone(), invoke));
        Pending {
            request_id,
            outcome: rx,
            init_error: self.inner.init_error.subscribe(),
        }
    }

    /// Pushes `invoke` and waits up to `within` for its outcome.
    pub async fn invoke(&self, invoke: Invoke, within: Duration) -> Result<Outcome> {
        self.push(invoke).outcome(within).await
    }

    /// What the runtime reported to `/init/error`, if anything.
    pub fn init_error(&self) -> Option<FunctionError> {
        self.inner.init_error.borrow().clone()
    }

    /// The moment of each `next` call from now on.
    pub fn polls(&self) -> mpsc::UnboundedReceiver<Instant> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner
            .polls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }
}

async fn next_event(State(inner): State<Arc<Inner>>) -> Response {
    let now = Instant::now();
    inner
        .polls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|tx| tx.send(now).is_ok());
    let (request_id, invoke) = {
        let mut queue = inner.next.lock().await;
        match queue.recv().await {
            Some(next) => next,
            None => return std::future::pending().await,
        }
    };
    if let Some(slot) = inner.slots().get_mut(&request_id) {
        slot.handed_out = true;
    }
    let deadline = SystemTime::now() + invoke.timeout;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", request_id);
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", invoke.function_arn);
    set("lambda-runtime-trace-id", trace_id());
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (StatusCode::OK, headers, invoke.event.to_string()).into_response()
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_RESPONSE_BYTES {
        let message = format!(
            "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
            body.len()
        );
        let error = FunctionError {
            error_type: "Function.ResponseSizeTooLarge".into(),
            error_message: message.clone(),
            header: None,
            body: json!({"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message}),
            during_init: false,
        };
        return if inner.finish(&id, Outcome::Error(error)) {
            refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &message,
            )
        } else {
            invalid_request_id(&id)
        };
    }
    if inner.finish(&id, Outcome::Response(json_or_text(&body))) {
        accepted()
    } else {
        invalid_request_id(&id)
    }
}

async fn invocation_error(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error = FunctionError::read(&headers, &body, false);
    if inner.finish(&id, Outcome::Error(error)) {
        accepted()
    } else {
        invalid_request_id(&id)
    }
}

async fn init_error(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let error = FunctionError::read(&headers, &body, true);
    tracing::warn!(error_type = %error.error_type, message = %error.error_message, "function init failed");
    inner.init_error.send_replace(Some(error));
    accepted()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn refusal(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorType": error_type, "errorMessage": message})),
    )
        .into_response()
}

fn invalid_request_id(id: &str) -> Response {
    refusal(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("Invalid request ID: {id:?} is not an invocation in progress"),
    )
}

fn json_or_text(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// `n` random bytes as lowercase hex (std's per-instance random hash keys; no crate needed
/// for ids that only have to be unique).
fn random_hex(n: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(n * 2 + 16);
    while out.len() < n * 2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(n * 2);
    out
}

/// A request id shaped as Lambda's (a version-4 UUID).
fn request_id() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// An X-Ray trace header as Lambda passes it: `Root=1-<epoch seconds>-<24 hex>;Parent=<16
/// hex>;Sampled=0`.
fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        random_hex(12),
        random_hex(8)
    )
}

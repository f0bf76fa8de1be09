//! The control plane both simulators share: a request log with per-route counts,
//! injectable faults, global latency, and the loopback server that hosts a router.
//!
//! Control routes (never logged, never faulted):
//! - `GET    /_sim/requests`        → `[RequestRecord]` in arrival order
//! - `DELETE /_sim/requests`        → clears the log and the counts
//! - `GET    /_sim/counts`          → `{"GET /company/companies": 3, ...}` keyed by method + route template
//! - `POST   /_sim/faults`          → adds a [`FaultRule`] (JSON body), returns `{id}`
//! - `DELETE /_sim/faults`          → removes every fault rule
//! - `PUT    /_sim/latency`         → `{"ms": 100}` added before every API response
//!
//! Each simulator adds its own seeding routes under `/_sim/` as well.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One API request as the simulator saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    pub seq: u64,
    pub method: String,
    /// The route template, e.g. `/company/companies/{id}`.
    pub route: String,
    /// The concrete path, e.g. `/company/companies/12`.
    pub path: String,
    pub query: Option<String>,
    /// Milliseconds since the simulator started, when the request arrived.
    pub at_ms: u64,
    pub status: u16,
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status (and optional `Retry-After` seconds and body) without handling.
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
        #[serde(default)]
        body: Option<Value>,
    },
    /// Wait this long, then handle normally.
    Latency { ms: u64 },
    /// Handle the request (its effects happen), then wait this long before answering,
    /// so that a client with a shorter timeout gives up on a request that did succeed.
    SlowAfterHandling { ms: u64 },
    /// Close the connection without answering (the request is not handled).
    Drop,
    /// Answer 200 with a body that is not valid JSON.
    MalformedBody,
    /// Answer 200 with an HTML page (what a proxy or a login portal puts in front of an API).
    HtmlPage,
}

/// A fault applied to requests whose method and path match.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultRule {
    /// `GET`, `POST`, ...; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Applies to paths containing this string (e.g. `/service/tickets`); with a `?` in it,
    /// to the path and its query as sent (`/api/2/tenants?uuids=` is a read by ids, not
    /// the other reads of `/api/2/tenants`); all paths when absent.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// How many matching requests it applies to; every one when absent.
    #[serde(default)]
    pub times: Option<u32>,
    #[serde(flatten)]
    pub fault: FaultKind,
}

/// A rule in force: applied to one in `one_in` matching requests (the `phase`th of each run
/// of `one_in`), so that several rules can share a rate deterministically.
#[derive(Debug)]
struct ActiveFault {
    rule: FaultRule,
    one_in: u32,
    phase: u32,
    matched: u64,
}

#[derive(Debug, Default)]
struct ControlState {
    log: Vec<RequestRecord>,
    faults: Vec<ActiveFault>,
    /// Requests answered by a fault so far.
    faults_applied: u64,
    latency_ms: u64,
}

/// Shared control state of one simulator instance.
#[derive(Debug, Clone)]
pub struct Control {
    inner: Arc<Mutex<ControlState>>,
    started: Instant,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            started: Instant::now(),
        }
    }
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, ControlState> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().log.clone()
    }

    /// Requests per `"METHOD /route/template"`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for r in &self.lock().log {
            *counts
                .entry(format!("{} {}", r.method, r.route))
                .or_default() += 1;
        }
        counts
    }

    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    pub fn add_fault(&self, rule: FaultRule) -> usize {
        self.add_fault_one_in(rule, 1, 0)
    }

    /// Applies `rule` to the `phase`th of every `one_in` requests it matches only.
    pub fn add_fault_one_in(&self, rule: FaultRule, one_in: u32, phase: u32) -> usize {
        let mut s = self.lock();
        s.faults.push(ActiveFault {
            rule,
            one_in: one_in.max(1),
            phase,
            matched: 0,
        });
        s.faults.len()
    }

    /// Requests answered by a fault since the simulator started.
    pub fn faults_applied(&self) -> u64 {
        self.lock().faults_applied
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    pub fn set_latency(&self, ms: u64) {
        self.lock().latency_ms = ms;
    }

    /// Takes the first fault matching this request (and, for a rule with `one_in`, whose
    /// turn it is), decrementing its `times`.
    fn take_fault(&self, method: &str, path: &str, query: Option<&str>) -> Option<FaultKind> {
        let with_query = format!("{path}?{}", query.unwrap_or_default());
        let mut s = self.lock();
        let mut chosen = None;
        for (i, f) in s.faults.iter_mut().enumerate() {
            let r = &f.rule;
            let matches = r
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && r.path_contains.as_deref().is_none_or(|p| {
                    if p.contains('?') {
                        with_query.contains(p)
                    } else {
                        path.contains(p)
                    }
                })
                && r.times != Some(0);
            if !matches {
                continue;
            }
            f.matched += 1;
            let turn = (f.matched - 1) % u64::from(f.one_in) == u64::from(f.phase);
            if turn && chosen.is_none() {
                chosen = Some(i);
            }
        }
        let chosen = chosen?;
        s.faults_applied += 1;
        let rule = &mut s.faults[chosen].rule;
        if let Some(t) = rule.times.as_mut() {
            *t -= 1;
        }
        Some(rule.fault.clone())
    }

    fn record(
        &self,
        method: &str,
        route: &str,
        path: &str,
        query: Option<&str>,
        at: Instant,
        status: u16,
    ) {
        let at_ms = at.duration_since(self.started).as_millis() as u64;
        let mut s = self.lock();
        let seq = s.log.len() as u64 + 1;
        s.log.push(RequestRecord {
            seq,
            method: method.to_owned(),
            route: route.to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            at_ms,
            status,
        });
    }

    /// The `/_sim` control routes, to be merged into a simulator's router.
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let c = self.clone();
        Router::new()
            .route(
                "/_sim/requests",
                get(|State(c): State<Control>| async move { Json(c.requests()) }).delete(
                    |State(c): State<Control>| async move {
                        c.clear_requests();
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .route(
                "/_sim/counts",
                get(|State(c): State<Control>| async move { Json(c.counts()) }),
            )
            .route(
                "/_sim/faults",
                post(
                    |State(c): State<Control>, Json(rule): Json<FaultRule>| async move {
                        Json(json!({ "id": c.add_fault(rule) }))
                    },
                )
                .delete(|State(c): State<Control>| async move {
                    c.clear_faults();
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/_sim/latency",
                put(
                    |State(c): State<Control>, Json(v): Json<Value>| async move {
                        c.set_latency(v.get("ms").and_then(Value::as_u64).unwrap_or(0));
                        StatusCode::NO_CONTENT
                    },
                ),
            )
            .with_state(c)
    }
}

/// Route middleware: logs the request and applies latency and faults. Install with
/// `Router::route_layer(axum::middleware::from_fn_with_state(control, control::observe))`
/// so that the matched route template is known.
pub async fn observe(State(control): State<Control>, req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| path.clone());

    let latency = control.lock().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let fault = control.take_fault(&method, &path, query.as_deref());
    let response = match fault {
        Some(FaultKind::Status {
            status,
            retry_after,
            body,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = body.unwrap_or_else(|| {
                json!({"code": "Simulated", "message": format!("simulated {}", status.as_u16())})
            });
            let mut resp = (status, Json(body)).into_response();
            if let Some(secs) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", HeaderValue::from(secs));
            }
            resp
        }
        Some(FaultKind::Latency { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(req).await
        }
        Some(FaultKind::SlowAfterHandling { ms }) => {
            let resp = next.run(req).await;
            control.record(
                &method,
                &route,
                &path,
                query.as_deref(),
                arrived,
                resp.status().as_u16(),
            );
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return resp;
        }
        Some(FaultKind::Drop) => {
            control.record(&method, &route, &path, query.as_deref(), arrived, 0);
            // Unwinding out of the connection task makes hyper close the socket unanswered;
            // resume_unwind skips the panic hook, so nothing is printed.
            std::panic::resume_unwind(Box::new("simulated dropped connection"));
        }
        Some(FaultKind::MalformedBody) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            "{\"truncated\": ",
        )
            .into_response(),
        Some(FaultKind::HtmlPage) => (
            StatusCode::OK,
            [("content-type", "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Maintenance</title></head>\
             <body><h1>We'll be back soon</h1></body></html>",
        )
            .into_response(),
        None => next.run(req).await,
    };
    control.record(
        &method,
        &route,
        &path,
        query.as_deref(),
        arrived,
        response.status().as_u16(),
    );
    response
}

/// A simulator listening on loopback; dropping it does not stop the server (it runs until
/// the process ends), which suits both tests and the standalone binary.
#[derive(Debug, Clone)]
pub struct Running {
    pub addr: SocketAddr,
    pub control: Control,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds `addr` (use port 0 for any free port) and serves `router` in the background.
pub async fn serve(router: Router, addr: SocketAddr, control: Control) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    Ok(Running { addr, control })
}

/// A JSON error answer in ConnectWise's shape `{code, message, errors[]}`.
pub fn cw_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message.into(), "errors": []})),
    )
        .into_response()
}

/// A JSON error answer in Acronis's shape `{error: {code, message, details, domain}}`.
pub fn acronis_error(status: StatusCode, code: i64, message: impl Into<String>) -> Response {
    let message = message.into();
    (
        status,
        Json(json!({"error": {
            "code": code,
            "message": message,
            "details": {"info": message},
            "context": {},
            "domain": "PlatformAccountServer"
        }})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_with_a_query_matches_the_query_too() {
        let c = Control::default();
        c.add_fault(FaultRule {
            method: None,
            path_contains: Some("/tenants?uuids=".into()),
            times: None,
            fault: FaultKind::HtmlPage,
        });
        assert!(
            c.take_fault("GET", "/api/2/tenants", Some("uuids=a&limit=100"))
                .is_some()
        );
        assert!(
            c.take_fault("GET", "/api/2/tenants", Some("parent_id=p"))
                .is_none()
        );
        assert!(c.take_fault("GET", "/api/2/tenants", None).is_none());
    }

    #[test]
    fn rules_sharing_a_rate_take_their_turns() {
        let c = Control::default();
        let rule = |status| FaultRule {
            method: None,
            path_contains: None,
            times: None,
            fault: FaultKind::Status {
                status,
                retry_after: None,
                body: None,
            },
        };
        c.add_fault_one_in(rule(500), 10, 0);
        c.add_fault_one_in(rule(429), 10, 5);
        let got: Vec<Option<u16>> = (0..20)
            .map(|_| match c.take_fault("GET", "/x", None) {
                Some(FaultKind::Status { status, .. }) => Some(status),
                _ => None,
            })
            .collect();
        let faulted: Vec<(usize, u16)> = got
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .collect();
        assert_eq!(faulted, vec![(0, 500), (5, 429), (10, 500), (15, 429)]);
    }
}

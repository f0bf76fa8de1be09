//! Each function's own built binary (`target/debug/<function>`, built by `make test` before
//! the tests) runs behind the fake Lambda Runtime API (`local_runner::runtime_api`) with the
//! environment its template entry gives it (the variable names read from the expanded
//! template, the values of this stack), its role's keys, and a credentials secret in moto
//! pointing at the stack's simulators. Each is handed the event JSON its trigger sends it on
//! AWS, and what it answered is checked against the table, the bus and the simulators:
//!
//! - the webhook: Function URL requests (payload format 2.0), with a plain and a base64 body;
//! - the reconciler, the alert poller and the usage push: EventBridge's scheduled event;
//! - the provisioner, the ticket sync and the usage shard worker: a bus event as a rule
//!   delivers it to a Lambda target (the golden fixtures of `tests/golden/events`).

#![allow(clippy::unwrap_used)] // test fixtures fail loudly by design

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::Utc;
use integration_tests::{LocalStack, drain_queue, local_var, unique};
use local_runner::runtime_api::{Invoke, Outcome, RuntimeApi, function_arn};
use serde_json::{Value, json};
use shared::bus::EventBus;
use shared::domain::alerts::{AlertSettings, TypeMapping};
use shared::functions::Function;
use simulators::acronis::RaiseAlert;
use simulators::connectwise::OutboxEntry;

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";
const STACK: &str = "acw-binaries";
/// The Function URL's id (`https://<id>.lambda-url.<region>.on.aws/`).
const URL_ID: &str = "abcdefghijklmnopqrstuvwxyz234567";
/// The company and tenant of the golden events (`tests/golden/events`), mapped here.
const COMPANY: i64 = 1042;
const TENANT: &str = "5a3e9c1d-2b7f-4e8a-9c6d-1f0e2d3c4b5a";
/// The golden usage shard's second company, not mapped.
const OTHER_COMPANY: i64 = 1057;
const OTHER_TENANT: &str = "7c2b9e4f-1a3d-4f6b-8e2c-5d9a0b1c2e3f";
const BOARD: i64 = 1;
/// How long one invocation may take here (each takes well under a second on the local stack).
const WAIT: Duration = Duration::from_secs(15);

/// `target/debug/<function>`: `CARGO_TARGET_DIR` when set (relative to the workspace, where
/// `make` runs cargo), else the workspace's `target`.
fn binary(function: Function) -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    target.join("debug").join(function.name())
}

fn function_url() -> String {
    format!("https://{URL_ID}.lambda-url.{REGION}.on.aws/")
}

/// The stack every binary runs against: a fresh table, a bus routed to a fresh provisioner
/// queue, a secret pointing at the simulators, and the golden events' company, tenant, alert
/// settings and board.
struct Fixture {
    stack: LocalStack,
    bus: EventBus,
    sqs: aws_sdk_sqs::Client,
    /// The provisioner's queue: what the webhook (and the reconciler) published.
    queue: String,
    secret: String,
    /// `template.yaml` after the SAM transform.
    template: Value,
    http: reqwest::Client,
}

impl Fixture {
    async fn start(template: Value) -> Result<Self> {
        let stack = LocalStack::start().await?;
        // The stack's dead-letter queues (the reconciler redrives the consumers').
        local_runner::ensure_dead_letter_queues(&aws_sdk_sqs::Client::new(&stack.config), STACK)
            .await?;
        stack.cw_sim.seed(json!({
            "companies": [
                {"id": COMPANY, "identifier": "Northwind", "name": "Northwind Traders"},
                {"id": OTHER_COMPANY, "identifier": "Contoso", "name": "Contoso"}
            ],
            "priorities": [{"name": "Priority 3 - Normal", "defaultFlag": true}],
            "boards": [{"id": BOARD, "name": "Acronis alerts",
                "statuses": [{"name": "New", "defaultFlag": true}, {"name": "Closed", "closedStatus": true}],
                "types": [{"name": "Backup"}],
                "subtypes": [{"name": "Failed", "typeAssociationIds": [1]}]}]
        }))?;
        for (id, name) in [(TENANT, "Northwind"), (OTHER_TENANT, "Contoso")] {
            stack
                .acronis_sim
                .seed_tenant(json!({"id": id, "name": name}))?;
        }
        stack.map(COMPANY, TENANT).await?;
        let mut settings = AlertSettings {
            board_id: Some(BOARD),
            ..AlertSettings::default()
        };
        settings.types.insert(
            "BackupFailed".into(),
            TypeMapping {
                status_id: 1,
                type_id: Some(1),
                subtype_id: Some(1),
                priority_id: None,
            },
        );
        shared::services::alerts::save_settings(&stack.cw, &stack.store, &settings).await?;
        // An alert for the alert poller to publish.
        stack.acronis_sim.raise_alert(RaiseAlert {
            id: None,
            tenant: TENANT.into(),
            kind: "BackupFailed".into(),
            category: None,
            severity: None,
            details: json!({"resourceId": "SRV-DB01", "resourceName": "srv-db01",
                            "resourceType": "machine", "planName": "Nightly"}),
        })?;

        let (bus, sqs, queue) = stack.bus_to_queue(Function::Provisioner).await?;
        let secret = unique("credentials");
        let value = local_runner::simulator_secret(&stack.cw_sim.url(), &stack.acronis_sim.url());
        local_runner::put_secret(
            &aws_sdk_secretsmanager::Client::new(&stack.config),
            &secret,
            &value.to_string(),
        )
        .await?;

        // ConnectWise sends company callbacks to the Function URL; here they wait in the
        // simulator's outbox, signed, to be handed to the binary as the URL would hand them.
        let http = reqwest::Client::new();
        let sim = &stack.cw_sim;
        let resp = http
            .post(format!("{}/system/callbacks", sim.api_base()))
            .header("authorization", sim.auth_header())
            .header("clientId", &sim.config().client_id)
            .json(
                &json!({"url": function_url(), "objectId": 1, "type": "company", "level": "owner"}),
            )
            .send()
            .await?;
        ensure!(resp.status() == 201, "callback: {}", resp.text().await?);
        sim.set_delivery(false);
        Ok(Self {
            stack,
            bus,
            sqs,
            queue,
            secret,
            template,
            http,
        })
    }

    /// This stack's value of a variable the template gives a function.
    fn template_value(&self, name: &str) -> Result<String> {
        Ok(match name {
            "RUST_LOG" => "info".into(),
            "TABLE_NAME" => self.stack.store.table().to_owned(),
            "EVENT_BUS_NAME" => self.bus.name().to_owned(),
            "STACK_NAME" => STACK.into(),
            "SECRET_ID" => self.secret.clone(),
            "CW_SITE" => self.stack.cw_sim.url(),
            "CW_CLIENT_ID" => self.stack.cw_sim.config().client_id.clone(),
            // The template's defaults.
            "CW_MAX_CONCURRENCY" => "2".into(),
            "CW_REQUESTS_PER_MINUTE" => "900".into(),
            "RUN_RETENTION_DAYS" => "30".into(),
            other => bail!("the template gives a function {other}; this test has no value for it"),
        })
    }

    /// A company created in ConnectWise: the signed callback it fired (not delivered).
    async fn callback(&self, name: &str) -> Result<OutboxEntry> {
        let resp = self
            .http
            .post(format!("{}/_sim/companies", self.stack.cw_sim.url()))
            .json(&json!({"identifier": name, "name": name}))
            .send()
            .await?;
        ensure!(resp.status() == 201, "creating {name}: {}", resp.status());
        let id = resp.json::<Value>().await?["id"]
            .as_i64()
            .context("company id")?;
        self.stack
            .cw_sim
            .sent_callbacks()
            .into_iter()
            .find(|e| e.kind == "company" && e.id == id && e.state == "suppressed")
            .with_context(|| format!("no callback about company {id}"))
    }
}

/// One execution environment: the function's binary and its own Runtime API.
struct Instance {
    function: Function,
    api: RuntimeApi,
    child: tokio::process::Child,
    /// Its stdout and stderr, line by line.
    log: Arc<Mutex<Vec<String>>>,
    arn: String,
    timeout: Duration,
}

impl Instance {
    /// Starts `function`'s binary with what Lambda and its template entry give it: Lambda's
    /// own variables, the template's (names from the template, values of this stack), its
    /// role's keys, and `AWS_ENDPOINT_URL` (moto). Nothing else from this process leaks in.
    async fn start(f: &Fixture, function: Function) -> Result<Self> {
        let props = &f.template["Resources"][function.logical_id()]["Properties"];
        let timeout = props["Timeout"].as_u64().context("template: Timeout")?;
        let memory = props["MemorySize"]
            .as_u64()
            .context("template: MemorySize")?;
        let variables = props["Environment"]["Variables"]
            .as_object()
            .context("template: Environment.Variables")?;
        let keys_var = local_runner::keys_var(function);
        let keys = local_var(&keys_var)
            .with_context(|| format!("{keys_var} is not set: run `make local-up`"))?;
        let (key_id, key_secret) = keys.split_once(':').context("keys are <id>:<secret>")?;
        let endpoint = local_var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL")?;
        let name = format!("{STACK}-{}", function.logical_id());
        let api = RuntimeApi::start().await?;

        let mut command = tokio::process::Command::new(binary(function));
        command.env_clear();
        for variable in variables.keys() {
            command.env(variable, f.template_value(variable)?);
        }
        if let Some(format) = props["LoggingConfig"]["LogFormat"].as_str() {
            command.env("AWS_LAMBDA_LOG_FORMAT", format);
        }
        let today = Utc::now().format("%Y/%m/%d");
        command
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.to_string())
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("{today}/[$LATEST]{}", &unique("s")[2..]),
            )
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("AWS_SECRET_ACCESS_KEY", key_secret)
            .env("_HANDLER", "bootstrap")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .env("LAMBDA_RUNTIME_DIR", "/var/runtime")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .env("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin")
            .env("AWS_ENDPOINT_URL", endpoint)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary(function).display()))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        // Read as it comes, so that a chatty function never blocks on a full pipe.
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(out, log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(err, log.clone()));
        }
        Ok(Self {
            function,
            arn: function_arn(REGION, ACCOUNT, &name),
            api,
            child,
            log,
            timeout: Duration::from_secs(timeout),
        })
    }

    /// Hands `event` to the function and waits for its outcome (or its exit).
    async fn invoke(&mut self, event: Value) -> Result<Outcome> {
        let pending = self
            .api
            .push(Invoke::new(&self.arn, event).timeout(self.timeout));
        tokio::select! {
            outcome = pending.outcome(WAIT) => outcome,
            status = self.child.wait() => bail!("{} exited ({status:?}) before answering", self.function),
        }
    }

    /// Kills the process; its log.
    async fn stop(mut self) -> String {
        self.child.kill().await.ok();
        // Let the readers take what was left in the pipes.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.log.lock().unwrap().join("\n")
    }
}

async fn collect(pipe: impl tokio::io::AsyncRead + Unpin, log: Arc<Mutex<Vec<String>>>) {
    use tokio::io::AsyncBufReadExt as _;
    let mut lines = tokio::io::BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log.lock().unwrap().push(line);
    }
}

/// A golden event envelope, as an EventBridge rule hands it to a Lambda target.
fn golden(detail_type: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../golden/events")
        .join(format!("{detail_type}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// An EventBridge rule's `Scheduled Event`, as the template's `Schedule` event (a rule named
/// `<stack>-<function>Schedule-<suffix>`) delivers it.
fn scheduled_event(function: Function) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": REGION,
        "resources": [format!(
            "arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-{}Schedule-1M2N3B4V5C6X",
            function.logical_id()
        )],
        "detail": {}
    })
}

/// A Function URL request of this stack's URL (see `local_runner::function_url`).
fn function_url_request(body: &[u8], signature: &str, base64: bool) -> Value {
    local_runner::function_url::request(REGION, URL_ID, body, signature, base64)
}

fn base64_encode(bytes: &[u8]) -> String {
    local_runner::function_url::base64_encode(bytes)
}

/// The HTTP status and JSON body of a Function URL response (`statusCode`, `body`).
fn http_answer(outcome: Outcome) -> Result<(u64, Value)> {
    let response = outcome.response()?;
    let status = response["statusCode"]
        .as_u64()
        .with_context(|| format!("no statusCode: {response}"))?;
    let body = response["body"]
        .as_str()
        .with_context(|| format!("no body: {response}"))?;
    Ok((status, serde_json::from_str(body)?))
}

/// Two signed callbacks, one with a plain body and one base64-encoded, are both verified
/// and published; the first one's body base64-encoded is a duplicate (it was decoded: the
/// same message), and that encoded text handed over undecoded is no callback at all.
async fn webhook(f: &Fixture, instance: &mut Instance) -> Result<()> {
    let plain = f.callback("Alpha").await?;
    let encoded = f.callback("Beta").await?;
    let accepted = json!({"status": "accepted", "event": "company.added"});

    let answer = instance
        .invoke(function_url_request(
            plain.body.as_bytes(),
            &plain.signature,
            false,
        ))
        .await?;
    ensure!(
        http_answer(answer)? == (200, accepted.clone()),
        "plain body"
    );
    let answer = instance
        .invoke(function_url_request(
            encoded.body.as_bytes(),
            &encoded.signature,
            true,
        ))
        .await?;
    ensure!(http_answer(answer)? == (200, accepted), "base64 body");
    let answer = instance
        .invoke(function_url_request(
            plain.body.as_bytes(),
            &plain.signature,
            true,
        ))
        .await?;
    ensure!(
        http_answer(answer)? == (200, json!({"status": "duplicate"})),
        "the plain callback again, base64-encoded"
    );
    // What the webhook would have read, had it not decoded the body.
    let undecoded = base64_encode(plain.body.as_bytes());
    let answer = instance
        .invoke(function_url_request(
            undecoded.as_bytes(),
            &plain.signature,
            false,
        ))
        .await?;
    let (status, body) = http_answer(answer)?;
    ensure!(
        (status, &body["error"]) == (400, &json!("malformed_json")),
        "an undecoded body: {status} {body}"
    );

    // Exactly the two callbacks reached the bus (the reconciler's events may be there too).
    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 && Instant::now() < until {
        for event in drain_queue(&f.sqs, &f.queue, 10, Duration::from_secs(1)).await? {
            if event["detail"]["origin"]["kind"] == "callback" {
                seen.push(event);
            }
        }
    }
    let mut ids: Vec<(&str, &str)> = seen
        .iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap_or_default(),
                e["detail"]["origin"]["message_id"]
                    .as_str()
                    .unwrap_or_default(),
            )
        })
        .collect();
    ids.sort_unstable();
    let mut want = vec![
        ("company.added", plain.message_id.as_str()),
        ("company.added", encoded.message_id.as_str()),
    ];
    want.sort_unstable();
    ensure!(ids == want, "published: {seen:?}");
    Ok(())
}

/// The scheduled event: the cycle's answer, and its run record in the table.
async fn scheduled(f: &Fixture, instance: &mut Instance) -> Result<()> {
    let function = instance.function;
    let reply = instance
        .invoke(scheduled_event(function))
        .await?
        .response()?;
    match function {
        Function::Reconciler => ensure!(
            reply["candidates"].is_u64() && reply["failed"] == 0,
            "{reply}"
        ),
        // The alert raised for the mapped tenant, of a mapped type.
        Function::AlertPoller => ensure!(reply["published"] == 1, "{reply}"),
        Function::UsagePush => ensure!(
            reply["outcome"] == "done" && reply["failures"] == 0,
            "{reply}"
        ),
        other => bail!("{other} is not scheduled"),
    }
    let runs = f.stack.store.latest_runs(function.name(), 5).await?;
    ensure!(runs.len() == 1, "one run record: {runs:?}");
    ensure!(
        runs[0].finished_at.is_some() && runs[0].failures.is_empty(),
        "{:?}",
        runs[0]
    );
    if function == Function::UsagePush {
        ensure!(reply["run_id"] == runs[0].run_id.as_str(), "{reply}");
    }
    Ok(())
}

/// The golden `company.updated` of the mapped company, which has no agreement: nothing to
/// do, read and recorded.
async fn provisioner(f: &Fixture, instance: &mut Instance) -> Result<()> {
    let reply = instance
        .invoke(golden("company.updated"))
        .await?
        .response()?;
    ensure!(
        reply == json!({"outcome": "nothing", "company_id": COMPANY}),
        "{reply}"
    );
    let runs = f
        .stack
        .store
        .latest_runs(Function::Provisioner.name(), 5)
        .await?;
    ensure!(runs.len() == 1, "one run record: {runs:?}");
    ensure!(
        runs[0].counts.get("companies") == Some(&1) && runs[0].failures.is_empty(),
        "{:?}",
        runs[0]
    );
    Ok(())
}

/// The golden `alert.raised` becomes a ticket on the board; the same event of the next
/// version is handed back as an error (`/error`), so that Lambda retries it.
async fn ticket_sync(f: &Fixture, instance: &mut Instance) -> Result<()> {
    let event = golden("alert.raised");
    let reply = instance.invoke(event.clone()).await?.response()?;
    ensure!(
        reply == json!({"outcome": "created", "alert_key": event["detail"]["alert_key"]}),
        "{reply}"
    );
    let tickets: Value = f
        .http
        .get(format!("{}/_sim/tickets", f.stack.cw_sim.url()))
        .send()
        .await?
        .json()
        .await?;
    let tickets = tickets.as_array().context("tickets")?;
    ensure!(
        tickets.len() == 1
            && tickets[0]["company"]["id"] == COMPANY
            && tickets[0]["board"]["id"] == BOARD,
        "{tickets:?}"
    );

    let mut newer = event;
    newer["detail"]["version"] = json!(u64::from(shared::bus::VERSION) + 1);
    let error = instance.invoke(newer).await?.error()?;
    ensure!(
        error.error_message.contains("has version 2")
            && !error.error_type.is_empty()
            && !error.during_init,
        "{error:?}"
    );
    let runs = f
        .stack
        .store
        .latest_runs(Function::TicketSync.name(), 5)
        .await?;
    ensure!(runs.len() == 2, "two run records: {runs:?}");
    ensure!(
        runs.iter()
            .any(|r| r.failures.len() == 1 && r.failures[0].transient),
        "{runs:?}"
    );
    Ok(())
}

/// The golden `usage.shard`: both companies pushed (no addition recorded, so no write).
async fn usage_shard_worker(f: &Fixture, instance: &mut Instance) -> Result<()> {
    let reply = instance.invoke(golden("usage.shard")).await?.response()?;
    ensure!(
        reply["outcome"] == "pushed" && reply["shard"] == 0 && reply["writes"] == 0,
        "{reply}"
    );
    let runs = f
        .stack
        .store
        .latest_runs(Function::UsageShardWorker.name(), 5)
        .await?;
    ensure!(runs.len() == 1, "one run record: {runs:?}");
    ensure!(runs[0].failures.is_empty(), "{:?}", runs[0]);
    Ok(())
}

/// Starts `function`'s binary, hands it its events, checks what it did, and kills it.
async fn exercise(f: &Fixture, function: Function) -> Result<Duration> {
    let started = Instant::now();
    let mut instance = Instance::start(f, function).await?;
    let result = match function {
        Function::Webhook => webhook(f, &mut instance).await,
        Function::Reconciler | Function::AlertPoller | Function::UsagePush => {
            scheduled(f, &mut instance).await
        }
        Function::Provisioner => provisioner(f, &mut instance).await,
        Function::TicketSync => ticket_sync(f, &mut instance).await,
        Function::UsageShardWorker => usage_shard_worker(f, &mut instance).await,
    };
    let init_error = instance.api.init_error();
    let log = instance.stop().await;
    result.with_context(|| format!("init error: {init_error:?}; its log:\n{log}"))?;
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_binary_handles_its_aws_event_behind_the_runtime_api() {
    let started = Instant::now();
    for function in Function::ALL {
        let path = binary(function);
        assert!(
            path.is_file(),
            "{} is missing: run `cargo build --workspace --bins` first",
            path.display()
        );
    }
    let template = tokio::task::spawn_blocking(integration_tests::expanded_template);
    let template = template.await.unwrap().unwrap();
    let f = Fixture::start(template).await.unwrap();
    let runs = Function::ALL.map(|function| {
        let f = &f;
        async move { (function, exercise(f, function).await) }
    });
    let mut failed = Vec::new();
    for (function, result) in futures::future::join_all(runs).await {
        match result {
            Ok(took) => eprintln!("binary {function}: handled in {} ms", took.as_millis()),
            Err(e) => failed.push(format!("{function}: {e:#}")),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    eprintln!(
        "binaries: all handled in {} ms",
        started.elapsed().as_millis()
    );
}

/// The fake Runtime API's protocol, as a runtime sees it: `next` hands out the event with
/// its headers, `/response` and `/error` end it, an unknown id is refused, and an init error
/// ends what waits.
#[tokio::test]
async fn the_runtime_api_speaks_lambdas_protocol() {
    let api = RuntimeApi::start().await.unwrap();
    let base = format!("http://{}/2018-06-01/runtime", api.address());
    let http = reqwest::Client::new();
    let arn = function_arn(REGION, ACCOUNT, "f");

    let before = Utc::now().timestamp_millis();
    let pending = api.push(Invoke::new(&arn, json!({"n": 1})).timeout(Duration::from_secs(30)));
    let next = http
        .get(format!("{base}/invocation/next"))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    let header = |name: &str| {
        next.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("lambda-runtime-aws-request-id");
    assert_eq!(id, pending.request_id());
    assert_eq!(header("lambda-runtime-invoked-function-arn"), arn);
    assert!(header("lambda-runtime-trace-id").starts_with("Root=1-"));
    let deadline: i64 = header("lambda-runtime-deadline-ms").parse().unwrap();
    assert!((before + 29_000..before + 31_000).contains(&deadline));
    assert_eq!(next.json::<Value>().await.unwrap(), json!({"n": 1}));
    let done = http
        .post(format!("{base}/invocation/{id}/response"))
        .body(r#"{"ok":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
    assert_eq!(
        pending.outcome(WAIT).await.unwrap(),
        Outcome::Response(json!({"ok": true}))
    );
    // Answered once only; an id never handed out is refused.
    for id in [id.as_str(), "not-an-invocation"] {
        let again = http
            .post(format!("{base}/invocation/{id}/response"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 400);
        assert_eq!(
            again.json::<Value>().await.unwrap()["errorType"],
            "InvalidRequestID"
        );
    }

    let pending = api.push(Invoke::new(&arn, json!({"n": 2})));
    let next = http
        .get(format!("{base}/invocation/next"))
        .send()
        .await
        .unwrap();
    let id = next.headers()["lambda-runtime-aws-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let failed = http
        .post(format!("{base}/invocation/{id}/error"))
        .header("lambda-runtime-function-error-type", "unhandled")
        .json(&json!({"errorType": "Oops", "errorMessage": "it broke"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 202);
    let error = pending.outcome(WAIT).await.unwrap().error().unwrap();
    assert_eq!(
        (
            error.error_type.as_str(),
            error.error_message.as_str(),
            error.header.as_deref()
        ),
        ("Oops", "it broke", Some("unhandled"))
    );

    let pending = api.push(Invoke::new(&arn, json!({"n": 3})));
    let init = http
        .post(format!("{base}/init/error"))
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .json(&json!({"errorType": "Config", "errorMessage": "TABLE_NAME is not set"}))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 202);
    let error = pending.outcome(WAIT).await.unwrap().error().unwrap();
    assert!(error.during_init, "{error:?}");
    assert_eq!(error.error_message, "TABLE_NAME is not set");
    assert_eq!(api.init_error(), Some(error));
}

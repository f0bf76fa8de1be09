//! Test harness for the local stack: AWS clients pointed at moto, per-test resources with
//! unique names (so tests run in parallel without sharing state), and simulators started
//! in-process on free ports.
//!
//! moto must be running (`make test` starts it); its endpoint comes from
//! `AWS_ENDPOINT_URL`, or from `target/local/env` written by `make local-up`.

pub mod cost;
pub mod meter;
pub mod month;
pub mod seed;
pub mod stack;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_config::SdkConfig;
use shared::bus::EventBus;
use shared::functions::Function;
use shared::http::{RetryPolicy, Transport};
use shared::settings::HttpSettings;
use shared::store::Store;

pub use stack::{LocalStack, StackOptions};

/// A variable of the local stack: the process environment first, then `target/local/env`.
pub fn local_var(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        return Some(v);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/local/env");
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// AWS configuration for moto.
pub async fn aws() -> Result<SdkConfig> {
    let endpoint = local_var("AWS_ENDPOINT_URL").context(
        "AWS_ENDPOINT_URL is not set and target/local/env is missing: run `make local-up`",
    )?;
    let ok = reqwest::get(format!("{endpoint}/moto-api/"))
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    if !ok {
        bail!("moto is not answering at {endpoint}: run `make local-up` (or `make test`)");
    }
    Ok(aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await)
}

/// The AWS configuration of `function`: moto, signed with the keys of the IAM user that
/// `make local-up` made from the function's template role, so a scenario run this way is
/// refused any action the role does not grant (AccessDeniedException naming the action).
pub async fn aws_as(function: Function) -> Result<SdkConfig> {
    let var = local_runner::keys_var(function);
    let keys = local_var(&var).with_context(|| {
        format!("{var} is not set and not in target/local/env: run `make local-up`")
    })?;
    local_runner::as_function(&aws().await?, function, &keys)
}

/// The table of `store`, as `function` may use it.
pub async fn store_as(store: &Store, function: Function) -> Result<Store> {
    let config = aws_as(function).await?;
    Ok(Store::new(
        aws_sdk_dynamodb::Client::new(&config),
        store.table(),
    ))
}

/// The bus of `bus`, as `function` may use it.
pub async fn bus_as(bus: &EventBus, function: Function) -> Result<EventBus> {
    let config = aws_as(function).await?;
    Ok(EventBus::new(
        aws_sdk_eventbridge::Client::new(&config),
        bus.name(),
    ))
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A fresh table with the product's schema.
pub async fn fresh_store(config: &SdkConfig) -> Result<shared::store::Store> {
    let ddb = aws_sdk_dynamodb::Client::new(config);
    let name = unique("t");
    shared::store::Store::create_table(&ddb, &name).await?;
    Ok(shared::store::Store::new(ddb, name))
}

/// A transport with short delays, for tests against the simulators.
pub fn fast_transport(max_attempts: u32, timeout: Duration) -> Transport {
    transport_with(max_attempts, timeout, 4)
}

/// [`fast_transport`] with `concurrency` requests in flight at most.
pub fn transport_with(max_attempts: u32, timeout: Duration, concurrency: usize) -> Transport {
    let settings = HttpSettings {
        timeout,
        max_attempts,
        ..HttpSettings::default()
    };
    let client = shared::http::build_client(&settings).expect("client");
    let mut policy = RetryPolicy::from_settings(&settings);
    policy.min_delay = Duration::from_millis(20);
    policy.max_delay = Duration::from_millis(200);
    Transport::new(client, policy, concurrency)
}

/// Receives up to `want` messages from a queue, waiting up to `within`.
pub async fn drain_queue(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    want: usize,
    within: Duration,
) -> Result<Vec<serde_json::Value>> {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < want && tokio::time::Instant::now() < deadline {
        let resp = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?;
        for m in resp.messages.unwrap_or_default() {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap_or("null"))?;
            out.push(body);
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
        }
    }
    Ok(out)
}

/// Clients of both in-process simulators, with their default credentials; requests to
/// ConnectWise time out after `cw_timeout`.
pub async fn sim_clients(
    cw_sim: &simulators::connectwise::CwSim,
    acronis_sim: &simulators::acronis::AcronisSim,
    cw_timeout: Duration,
) -> Result<(
    shared::connectwise::ConnectWiseClient,
    shared::acronis::AcronisClient,
)> {
    sim_clients_with(
        cw_sim,
        acronis_sim,
        fast_transport(3, cw_timeout),
        fast_transport(3, Duration::from_secs(5)),
    )
    .await
}

/// The ConnectWise simulator's default credentials (codebase left to discovery).
pub fn cw_credentials(
    cw_sim: &simulators::connectwise::CwSim,
) -> shared::secrets::ConnectWiseCredentials {
    let c = cw_sim.config();
    shared::secrets::ConnectWiseCredentials {
        site: cw_sim.url(),
        company_id: c.company_id.clone(),
        public_key: secrecy::SecretString::from(c.public_key.clone()),
        private_key: secrecy::SecretString::from(c.private_key.clone()),
        client_id: c.client_id.clone(),
        codebase: None,
    }
}

/// A fresh credentials secret holding the ConnectWise simulator's credentials (and
/// placeholder Acronis ones), as `acw setup` writes it: its name.
pub async fn fresh_secret(
    config: &SdkConfig,
    cw_sim: &simulators::connectwise::CwSim,
) -> Result<String> {
    let c = cw_sim.config();
    let name = unique("credentials");
    let value = serde_json::json!({
        "cw_site": cw_sim.url(),
        "cw_company_id": c.company_id,
        "cw_public_key": c.public_key,
        "cw_private_key": c.private_key,
        "cw_client_id": c.client_id,
        "acronis_datacenter_url": "http://127.0.0.1:9",
        "acronis_client_id": "unused",
        "acronis_client_secret": "unused",
    });
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(&name)
        .secret_string(value.to_string())
        .send()
        .await?;
    Ok(name)
}

/// [`sim_clients`] over the given transports (timeouts, attempts, requests in flight).
pub async fn sim_clients_with(
    cw_sim: &simulators::connectwise::CwSim,
    acronis_sim: &simulators::acronis::AcronisSim,
    cw_transport: Transport,
    acronis_transport: Transport,
) -> Result<(
    shared::connectwise::ConnectWiseClient,
    shared::acronis::AcronisClient,
)> {
    use secrecy::SecretString;
    let cw = shared::connectwise::ConnectWiseClient::connect(&cw_credentials(cw_sim), cw_transport)
        .await?;
    let acronis = shared::acronis::AcronisClient::new(
        &shared::secrets::AcronisCredentials {
            name: Default::default(),
            datacenter_url: acronis_sim.url(),
            client_id: "sim-client".into(),
            client_secret: SecretString::from("sim-secret".to_owned()),
        },
        acronis_transport,
    )?;
    Ok((cw, acronis))
}

/// A fresh bus with one consumer's rule (as in `local_runner::routes()`) targeting a fresh
/// queue: the bus, an SQS client and the queue URL.
pub async fn bus_to_queue(
    config: &SdkConfig,
    consumer: Function,
) -> Result<(shared::bus::EventBus, aws_sdk_sqs::Client, String)> {
    let eb = aws_sdk_eventbridge::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let bus_name = unique("bus");
    local_runner::ensure_bus(&eb, &bus_name).await?;
    let route = local_runner::routes()
        .into_iter()
        .find(|r| r.consumer == consumer)
        .with_context(|| format!("no route for {consumer}"))?;
    let queue_name = unique(consumer.name());
    let queue = local_runner::route_to_queue(
        &eb,
        &sqs,
        &bus_name,
        &queue_name,
        &route.pattern,
        &queue_name,
    )
    .await?;
    Ok((shared::bus::EventBus::new(eb, bus_name), sqs, queue))
}

/// `template.yaml` after the SAM transform, expanded offline by `infra/sam_expand.py` with the
/// project's Python tools (`make tools` installs them into `.venv`).
pub fn expanded_template() -> Result<serde_json::Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    let out = std::process::Command::new(&python)
        .arg(root.join("infra/sam_expand.py"))
        .arg(root.join("template.yaml"))
        .output()
        .with_context(|| format!("running {} (run `make tools`)", python.display()))?;
    if !out.status.success() {
        bail!(
            "sam_expand.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("sam_expand.py printed no JSON")
}

/// Whether `BENCH_CALLS` is set: the benches and the month then print their calls per route
/// ([`print_calls`]), to compare two versions' calls (`infra/call-counts.sh`).
pub fn calls_wanted() -> bool {
    std::env::var_os("BENCH_CALLS").is_some()
}

/// With `BENCH_CALLS` set: one line per route a simulator counted (`Control::counts`),
/// `calls <scenario> <simulator> <METHOD> <route template> <n>`, one stable, sortable format.
pub fn print_calls(
    scenario: &str,
    simulator: &str,
    counts: &std::collections::BTreeMap<String, u64>,
) {
    if calls_wanted() {
        for (route, n) in counts {
            println!("calls {scenario} {simulator} {route} {n}");
        }
    }
}

/// A benchmark's sizes: its numeric arguments, or `default` when none is given.
pub fn bench_sizes(default: i64) -> Vec<i64> {
    let sizes: Vec<i64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        vec![default]
    } else {
        sizes
    }
}

/// The tenant id benchmarks give company `company` (a valid UUID).
pub fn bench_tenant(company: i64) -> String {
    format!("00000000-0000-4000-8000-{company:012}")
}

/// The reconciler's cold start with its own role, its secret pointing at the stack's
/// simulators, and the stack's name when it has dead-letter queues.
pub async fn reconciler_deps(
    stack: &LocalStack,
    bus: &str,
    stack_name: Option<&str>,
) -> shared::bootstrap::Deps {
    let secret = unique("creds");
    local_runner::put_secret(
        &aws_sdk_secretsmanager::Client::new(&aws().await.expect("moto")),
        &secret,
        &local_runner::simulator_secret(&stack.cw_sim.url(), &stack.acronis_sim.url()).to_string(),
    )
    .await
    .expect("the secret");
    let settings = shared::settings::Settings::from_lookup(|k| match k {
        "TABLE_NAME" => Some(stack.store.table().to_owned()),
        "EVENT_BUS_NAME" => Some(bus.to_owned()),
        "SECRET_ID" => Some(secret.clone()),
        "STACK_NAME" => stack_name.map(str::to_owned),
        _ => None,
    })
    .expect("settings");
    shared::bootstrap::Deps::build(settings, &aws_as(Function::Reconciler).await.expect("moto"))
        .await
        .expect("the reconciler's dependencies")
}

/// The latest run record `function` stored.
pub async fn last_run(store: &Store, function: Function) -> shared::store::RunRecord {
    store
        .latest_runs(function.name(), 1)
        .await
        .expect("run records")
        .into_iter()
        .next()
        .expect("a run record")
}

/// A needs-attention board in the ConnectWise simulator (`board`, with its new status
/// `board*10+1` and its closed status `board*10+2`), chosen in the settings.
pub async fn choose_attention_board(
    cw_sim: &simulators::connectwise::CwSim,
    store: &Store,
    board: i64,
) {
    cw_sim
        .seed(
            serde_json::json!({"boards": [{"id": board, "name": "Integration problems",
            "statuses": [{"id": board * 10 + 1, "name": "New", "defaultFlag": true},
                         {"id": board * 10 + 2, "name": "Closed", "closedStatus": true}]}]}),
        )
        .expect("the board");
    store
        .save_section(&shared::domain::attention::AttentionSettings {
            board_id: Some(board),
            closing_status_id: Some(board * 10 + 2),
            ..Default::default()
        })
        .await
        .expect("the attention settings");
}

/// The simulator's tickets whose `externalXRef` is `xref`.
pub async fn tickets_with_xref(
    cw_sim: &simulators::connectwise::CwSim,
    xref: &str,
) -> Vec<serde_json::Value> {
    let all: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/_sim/tickets", cw_sim.url()))
        .send()
        .await
        .expect("the simulator's tickets")
        .json()
        .await
        .expect("tickets as JSON");
    all.as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["externalXRef"] == xref)
        .cloned()
        .collect()
}

/// A fault that answers the GETs of paths containing `path` with `body` and status 200, or
/// (`None`) with a body that is not JSON; `times` of them (`None`: every one).
pub fn answer_with(
    path: &str,
    body: Option<serde_json::Value>,
    times: Option<u32>,
) -> simulators::FaultRule {
    use simulators::FaultKind;
    simulators::FaultRule {
        method: Some("GET".into()),
        path_contains: Some(path.into()),
        times,
        fault: match body {
            Some(body) => FaultKind::Status {
                status: 200,
                retry_after: None,
                body: Some(body),
            },
            None => FaultKind::MalformedBody,
        },
    }
}

/// The additions in the ConnectWise simulator, as it stores them.
pub fn cw_additions(cw_sim: &simulators::connectwise::CwSim) -> Vec<serde_json::Value> {
    let state = cw_sim.state();
    let additions = &state["additions"];
    // The state dumps a table as `{rows: {id: record}}` or as a list.
    match additions.get("rows").unwrap_or(additions) {
        serde_json::Value::Object(m) => m.values().cloned().collect(),
        serde_json::Value::Array(v) => v.clone(),
        _ => Vec::new(),
    }
}

/// The notes of the simulator's ticket `id`.
pub async fn ticket_notes(
    cw_sim: &simulators::connectwise::CwSim,
    id: &serde_json::Value,
) -> Vec<serde_json::Value> {
    let notes: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/_sim/tickets/{id}/notes", cw_sim.url()))
        .send()
        .await
        .expect("the ticket's notes")
        .json()
        .await
        .expect("notes as JSON");
    notes.as_array().cloned().unwrap_or_default()
}

/// A fault that answers the GETs of paths containing `path` with an HTML page and status 200
/// (`times` of them; `None`: every one).
pub fn html_with(path: &str, times: Option<u32>) -> simulators::FaultRule {
    simulators::FaultRule {
        method: Some("GET".into()),
        path_contains: Some(path.into()),
        times,
        fault: simulators::FaultKind::HtmlPage,
    }
}

/// A rule that leaves the GETs of paths containing `path` answered as usual: added before a
/// fault on a shorter path (`/tenants/{id}`), it keeps that fault off the longer ones
/// (`/tenants/{id}/offering_items`), as the first matching rule applies.
pub fn untouched(path: &str) -> simulators::FaultRule {
    simulators::FaultRule {
        method: Some("GET".into()),
        path_contains: Some(path.into()),
        times: None,
        fault: simulators::FaultKind::Latency { ms: 0 },
    }
}

/// One DynamoDB item from its DynamoDB JSON (`{"pk": {"S": "…"}, …}`), as the golden
/// fixtures (`tests/golden/items`) hold them.
pub fn dynamodb_item(
    v: &serde_json::Value,
) -> Result<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    json_to_item(v)
}

/// The golden fixture `tests/golden/{rel}` (e.g. `items/company-mapping.json`).
pub fn golden_fixture(rel: &str) -> Result<serde_json::Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../golden")
        .join(rel);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn json_to_av(v: &serde_json::Value) -> Result<aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (tag, inner) = v
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
        .with_context(|| format!("not an attribute value: {v}"))?;
    let strings = |inner: &serde_json::Value| -> Result<Vec<String>> {
        inner
            .as_array()
            .context("a set")?
            .iter()
            .map(|s| s.as_str().map(str::to_owned).context("a set member"))
            .collect()
    };
    Ok(match tag.as_str() {
        "S" => AttributeValue::S(inner.as_str().context("S")?.to_owned()),
        "N" => AttributeValue::N(inner.as_str().context("N")?.to_owned()),
        "BOOL" => AttributeValue::Bool(inner.as_bool().context("BOOL")?),
        "NULL" => AttributeValue::Null(inner.as_bool().context("NULL")?),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .context("L")?
                .iter()
                .map(json_to_av)
                .collect::<Result<_>>()?,
        ),
        "M" => AttributeValue::M(json_to_item(inner)?),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        other => bail!("attribute type {other} not used by the product"),
    })
}

fn json_to_item(
    v: &serde_json::Value,
) -> Result<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    v.as_object()
        .context("an item")?
        .iter()
        .map(|(k, v)| Ok((k.clone(), json_to_av(v)?)))
        .collect()
}

/// Feeds every alert event queued on `queue` to the ticket sync (as Lambda would), until the
/// queue stays empty twice: how many were handled.
pub async fn pump_ticket_sync<D: shared::services::alerts::AlertDismiss>(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    sync: &shared::services::alerts::TicketSync<
        shared::connectwise::ConnectWiseClient,
        shared::store::Store,
        D,
    >,
    recorder: &shared::runs::Recorder,
) -> usize {
    let mut total = 0;
    let mut idle = 0;
    while idle < 2 {
        let handled =
            local_runner::consume_batch(
                sqs,
                &local_runner::invoke::AsyncTarget::unlimited(
                    Function::TicketSync,
                    queue.to_owned(),
                ),
                1,
                |envelope| async move {
                    ticket_sync::handle_eventbridge(sync, recorder, &envelope).await
                },
            )
            .await
            .expect("the ticket sync's queue");
        if handled == 0 {
            idle += 1;
        } else {
            idle = 0;
            total += handled;
        }
    }
    total
}

/// The ConnectWise simulator's tickets, as `/_sim/tickets` lists them.
pub async fn sim_tickets(cw_sim: &simulators::connectwise::CwSim) -> Vec<serde_json::Value> {
    let v: serde_json::Value = reqwest::get(format!("{}/_sim/tickets", cw_sim.url()))
        .await
        .expect("the simulator's tickets")
        .json()
        .await
        .expect("tickets as JSON");
    v.as_array().cloned().unwrap_or_default()
}

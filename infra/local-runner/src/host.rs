//! `local-runner run`: the handlers hosted as Lambda would run them. The webhook answers
//! over HTTP; each bus consumer is fed from the SQS queue its rule targets, one invocation
//! per message; scheduled functions run on a timer. Like Lambda, every invocation gets an
//! instance of its own (clients, token cache, concurrency caps), taken from a pool of
//! `instances` per function, and a message is deleted only when its handler succeeds.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use serde_json::Value;
use shared::bootstrap::Deps;
use shared::functions::Function;
use shared::settings::Settings;
use tokio::sync::Mutex;

/// A pool of instances of one function.
struct Pool<T> {
    free: Mutex<Vec<T>>,
    permits: tokio::sync::Semaphore,
}

impl<T> Pool<T> {
    fn new(items: Vec<T>) -> Arc<Self> {
        Arc::new(Self {
            permits: tokio::sync::Semaphore::new(items.len()),
            free: Mutex::new(items),
        })
    }

    /// Runs `f` on a free instance, waiting for one.
    async fn with<R, F, Fut>(&self, f: F) -> Option<R>
    where
        F: FnOnce(&T) -> Fut,
        Fut: Future<Output = R>,
    {
        let _permit = self.permits.acquire().await.ok()?;
        let item = self.free.lock().await.pop()?;
        let result = f(&item).await;
        self.free.lock().await.push(item);
        Some(result)
    }
}

/// Every function runs with the credentials of its own template role (see
/// `local_runner::as_function`), so a permission its role lacks fails here as in AWS.
async fn function_config(base: &SdkConfig, function: Function) -> Result<SdkConfig> {
    let var = local_runner::keys_var(function);
    let keys = std::env::var(&var)
        .with_context(|| format!("{var} is not set (run `make local-up`, which writes it)"))?;
    local_runner::as_function(base, function, &keys)
}

async fn deps_of(base: &SdkConfig, function: Function) -> Result<Deps> {
    let aws = function_config(base, function).await?;
    Deps::build(Settings::from_env()?.of(function), &aws).await
}

async fn instances(base: &SdkConfig, function: Function, n: usize) -> Result<Arc<Pool<Deps>>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        out.push(deps_of(base, function).await?);
    }
    Ok(Pool::new(out))
}

/// How long a receive waits for an event (SQS's longest): an event wakes it at once, and an
/// idle stack costs moto and the runner almost nothing (waiting 1 s, the 24 loops of three
/// consumers kept about 30% of a core busy with signed, IAM-checked receives).
const LONG_POLL_SECS: i32 = 20;

/// Invokes the function for each event its rule delivers, forever, as Lambda invokes it
/// asynchronously (`local_runner::invoke`: retries after Lambda's delays, then the
/// function's on-failure queue). One receiving loop per instance, so that as many events
/// run at once as the pool has instances.
fn consume<H, Fut>(
    target: local_runner::invoke::AsyncTarget,
    sqs: aws_sdk_sqs::Client,
    pool: Arc<Pool<Deps>>,
    loops: usize,
    handler: H,
) where
    H: Fn(Deps, Value) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = Result<Value, String>> + Send,
{
    let target = Arc::new(target);
    for _ in 0..loops.max(1) {
        let (target, sqs, pool) = (target.clone(), sqs.clone(), pool.clone());
        tokio::spawn(async move {
            loop {
                let outcome =
                    local_runner::invoke::invoke_batch(&sqs, &target, LONG_POLL_SECS, |envelope| {
                        let pool = pool.clone();
                        async move {
                            pool.with(|deps| handler(deps.clone(), envelope))
                                .await
                                .unwrap_or_else(|| Err("no instance".into()))
                        }
                    })
                    .await;
                if let Err(e) = outcome {
                    tracing::warn!(consumer = %target.function, error = %e, "queue unavailable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        });
    }
}

/// The consumer's target: its rule's queue and, when the stack has it, its on-failure queue
/// (`<STACK_NAME>-<function>-dead-letters`, as the template names it). Lambda's waits are
/// scaled by `RUNNER_TIME_SCALE` (1 unless set).
async fn target_of(
    sqs: &aws_sdk_sqs::Client,
    function: Function,
    queue_url: String,
) -> local_runner::invoke::AsyncTarget {
    let stack = std::env::var("STACK_NAME").unwrap_or_else(|_| "local".into());
    let name = shared::domain::dead_letters::queue_name(&stack, function);
    let dead_letters = match sqs.get_queue_url().queue_name(&name).send().await {
        Ok(out) => out.queue_url,
        Err(e) => {
            tracing::warn!(consumer = %function, queue = %name, error = %e, "no on-failure queue: failed events are retried without limit");
            None
        }
    };
    local_runner::invoke::AsyncTarget {
        function,
        queue_url,
        dead_letters,
        scale: std::env::var("RUNNER_TIME_SCALE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1.0),
        throttled: false,
    }
}

/// Runs `tick` every `every` seconds on an instance of its own.
fn schedule<F, Fut>(name: Function, every: u64, deps: Deps, tick: F)
where
    F: Fn(Deps) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Value, String>> + Send,
{
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(every));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = tick(deps.clone()).await {
                tracing::warn!(function = %name, error = %e, "scheduled run failed");
            }
        }
    });
}

/// The deadline Lambda would give an invocation starting now (the template's 300 s timeout
/// of the usage functions), in ms since the epoch.
fn lambda_deadline_ms() -> u64 {
    u64::try_from((chrono::Utc::now() + chrono::Duration::seconds(300)).timestamp_millis())
        .unwrap_or(0)
}

/// The deadline Lambda would give an alert poll starting now (the template's 55 s).
fn poller_deadline_ms() -> u64 {
    u64::try_from((chrono::Utc::now() + chrono::Duration::seconds(55)).timestamp_millis())
        .unwrap_or(0)
}

/// The webhook's router, as in its main.rs: the secret is read only if the host refuses an
/// anonymous signing key fetch.
async fn webhook_app(aws: &SdkConfig) -> Result<axum::Router> {
    let own = function_config(aws, Function::Webhook).await?;
    let settings = Settings::from_env()?;
    let store =
        shared::store::Store::new(aws_sdk_dynamodb::Client::new(&own), &settings.table_name);
    let bus = shared::bus::EventBus::new(
        aws_sdk_eventbridge::Client::new(&own),
        &settings.event_bus_name,
    );
    let config = webhook::WebhookConfig::from_env()?;
    let http = shared::http::build_client(&settings.http)?;
    let keys = webhook::HttpKeySource::from_config(http, &config, || {
        aws_sdk_secretsmanager::Client::new(&own)
    });
    let hook = Arc::new(webhook::Webhook::new(config, store, bus, keys));
    Ok(webhook::local::router(hook))
}

/// Hosts one of the bus's consumers: its queue read, `n` instances invoked as Lambda would.
async fn host_consumer(
    aws: &SdkConfig,
    sqs: &aws_sdk_sqs::Client,
    function: Function,
    n: usize,
) -> Result<()> {
    let var = local_runner::queue_var(function);
    let queue = std::env::var(&var).with_context(|| format!("{var} (run `local-runner setup`)"))?;
    let target = target_of(sqs, function, queue).await;
    let pool = instances(aws, function, n).await?;
    let sqs = sqs.clone();
    match function {
        Function::Provisioner => consume(target, sqs, pool, n, move |deps, envelope| async move {
            let recorder = deps.recorder();
            let svc = deps
                .provisioning()
                .with_deadline(shared::deadline::consumer(lambda_deadline_ms()));
            provisioner::handle_eventbridge(&svc, &recorder, &envelope)
                .await
                .map_err(|e| e.to_string())
        }),
        Function::TicketSync => consume(target, sqs, pool, n, move |deps, envelope| async move {
            let service =
                shared::services::alerts::TicketSync::new(deps.cw.clone(), deps.store.clone())
                    .with_acronis(deps.connections.clone())
                    .with_deadline(shared::deadline::consumer(lambda_deadline_ms()));
            ticket_sync::handle_eventbridge(&service, &deps.recorder(), &envelope)
                .await
                .map_err(|e| e.to_string())
        }),
        Function::UsageShardWorker => {
            consume(target, sqs, pool, n, move |deps, envelope| async move {
                let svc = deps.usage_push();
                let deadline = usage_shard_worker::deadline(lambda_deadline_ms());
                usage_shard_worker::handle_eventbridge(
                    &svc,
                    &deps.bus,
                    &deps.recorder(),
                    &envelope,
                    deadline,
                )
                .await
                .map_err(|e| e.to_string())
            });
        }
        other => anyhow::bail!("{} is not a consumer of the bus", other.name()),
    }
    Ok(())
}

pub async fn run(
    listen: SocketAddr,
    n: usize,
    alert_poll_secs: u64,
    reconcile_secs: u64,
    usage_secs: u64,
) -> Result<()> {
    // The runner itself plays the Lambda service (it reads the queues): operator keys.
    let aws = shared::aws::load_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let mut app = None;
    // Every function of the template, each hosted as Lambda would run it.
    for function in Function::ALL {
        match function {
            Function::Webhook => app = Some(webhook_app(&aws).await?),
            Function::Provisioner | Function::TicketSync | Function::UsageShardWorker => {
                host_consumer(&aws, &sqs, function, n).await?;
            }
            Function::UsagePush => schedule(
                function,
                usage_secs,
                deps_of(&aws, function).await?,
                move |deps| async move {
                    let deadline = usage_push::deadline(lambda_deadline_ms());
                    let svc = deps.usage_push();
                    usage_push::handle(&svc, Some(&deps.bus), &deps.recorder(), deadline)
                        .await
                        .map_err(|e| e.to_string())
                },
            ),
            Function::AlertPoller => schedule(
                function,
                alert_poll_secs,
                deps_of(&aws, function).await?,
                move |deps| async move {
                    let opts = shared::services::alerts::PollOptions {
                        deadline: alert_poller::deadline(poller_deadline_ms()),
                        ..shared::services::alerts::PollOptions::default()
                    };
                    alert_poller::handle(
                        &deps.connections,
                        &deps.store,
                        &deps.bus,
                        &opts,
                        &deps.recorder(),
                    )
                    .await
                    .map_err(|e| e.to_string())
                },
            ),
            Function::Reconciler => schedule(
                function,
                reconcile_secs,
                deps_of(&aws, function).await?,
                move |deps| async move {
                    reconciler::handle(&deps, &deps.recorder())
                        .await
                        .map_err(|e| e.to_string())
                },
            ),
        }
    }
    let app = app
        .context("the webhook is not hosted")?
        .route("/healthz", axum::routing::get(|| async { "ok" }));

    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, instances = n, "local runner listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

//! `make bench-coldstart`: how long each function takes from process start to its first
//! `GET /runtime/invocation/next`, the moment Lambda's init phase ends. Each function's
//! host-architecture release binary is started against the fake Lambda Runtime API on
//! loopback (`local_runner::runtime_api`), with the environment the template gives it and the
//! credentials of its own role (its init reads the credentials secret from moto). Prints, per
//! function, the median of several starts and the size of its arm64 package from
//! `make package`: `coldstart function=<f> init_ms=<n> zip_bytes=<n>`.
//!
//! ConnectWise gives a callback 5 seconds, cold start included, so the webhook is also
//! started cold with one signed callback waiting (the simulator's, as its Function URL would
//! hand it): `webhook cold_ms=<n>` is the median from process start to its answer.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use local_runner::runtime_api::RuntimeApi;
use shared::functions::Function;
use tokio::sync::mpsc;

/// One start of `binary`: milliseconds from spawn to its first `next` call.
async fn start_once(
    binary: &Path,
    function: Function,
    api: &str,
    reached: &mut mpsc::UnboundedReceiver<Instant>,
) -> Result<u128> {
    let var = local_runner::keys_var(function);
    let keys = std::env::var(&var).with_context(|| format!("{var} is not set (make local-up)"))?;
    let (key_id, secret) = keys.split_once(':').context("keys are <id>:<secret>")?;
    while reached.try_recv().is_ok() {}
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function.name())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("CW_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    // Read as it comes, so that a chatty init never blocks on a full pipe.
    let stderr = child.stderr.take().map(|mut e| {
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let mut text = String::new();
            e.read_to_string(&mut text).await.ok();
            text
        })
    });
    let outcome = tokio::select! {
        at = reached.recv() => Ok(at.context("runtime API stopped")?.duration_since(started).as_millis()),
        status = child.wait() => Err(status),
        () = tokio::time::sleep(Duration::from_secs(30)) => bail!("{function} did not reach its first invocation in 30 s"),
    };
    match outcome {
        Ok(ms) => {
            child.kill().await.ok();
            Ok(ms)
        }
        Err(status) => {
            let stderr = match stderr {
                Some(task) => task.await.unwrap_or_default(),
                None => String::new(),
            };
            bail!("{function} exited during init ({status:?}): {stderr}")
        }
    }
}

/// A company callback the ConnectWise simulator signed (its delivery turned off): body and
/// signature, as ConnectWise POSTs them.
async fn signed_callback(http: &reqwest::Client, cw_sim: &str) -> Result<(String, String)> {
    let name = format!(
        "Cold {}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    let created: serde_json::Value = http
        .post(format!("{cw_sim}/_sim/companies"))
        .json(&serde_json::json!({"identifier": name, "name": name}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_i64().context("company id")?;
    let sent: Vec<serde_json::Value> = http
        .get(format!("{cw_sim}/_sim/callbacks/sent"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let entry = sent
        .iter()
        .find(|e| e["type"] == "company" && e["id"] == id)
        .context("the simulator signed no callback for the company")?;
    Ok((
        entry["body"].as_str().context("body")?.to_owned(),
        entry["signature"].as_str().context("signature")?.to_owned(),
    ))
}

/// One cold start of the webhook with a callback waiting: milliseconds from spawn to its
/// answer, which must accept the callback.
async fn webhook_cold_once(
    binary: &Path,
    runtime: &RuntimeApi,
    reached: &mut mpsc::UnboundedReceiver<Instant>,
    callback: (String, String),
) -> Result<u128> {
    let var = local_runner::keys_var(Function::Webhook);
    let keys = std::env::var(&var).with_context(|| format!("{var} is not set (make local-up)"))?;
    let (key_id, secret) = keys.split_once(':').context("keys are <id>:<secret>")?;
    while reached.try_recv().is_ok() {}
    let event = local_runner::function_url::request(
        "eu-west-1",
        "abcdefghijklmnopqrstuvwxyz234567",
        callback.0.as_bytes(),
        &callback.1,
        false,
    );
    let started = Instant::now();
    let pending = runtime.push(
        local_runner::runtime_api::Invoke::new(
            local_runner::runtime_api::function_arn("eu-west-1", "123456789012", "webhook"),
            event,
        )
        .timeout(Duration::from_secs(10)),
    );
    let mut child = tokio::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", Function::Webhook.name())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let outcome = pending.outcome(Duration::from_secs(30)).await;
    let ms = started.elapsed().as_millis();
    child.kill().await.ok();
    let answer = outcome?.response()?;
    let status = answer["statusCode"].as_u64().unwrap_or(0);
    if status != 200 {
        bail!("the webhook answered the callback {status}: {answer}");
    }
    Ok(ms)
}

/// The webhook's cold start with one callback: `webhook cold_ms=<median>`.
async fn webhook_cold(bin_dir: &Path, starts: usize) -> Result<()> {
    let binary = bin_dir.join(Function::Webhook.name());
    let cw_sim = std::env::var("CW_SIM_URL").context("CW_SIM_URL (make local-up)")?;
    let webhook_url = std::env::var("WEBHOOK_URL").context("WEBHOOK_URL (make local-up)")?;
    // ConnectWise signs callbacks for a registration; they wait in its outbox, undelivered.
    let deps = shared::bootstrap::Deps::build(
        shared::settings::Settings::from_env()?,
        &shared::aws::lambda_config()?,
    )
    .await?;
    shared::services::callbacks::register(&deps.cw, &webhook_url, false).await?;
    let http = reqwest::Client::new();
    http.put(format!("{cw_sim}/_sim/callbacks/delivery"))
        .json(&serde_json::json!({"enabled": false}))
        .send()
        .await?
        .error_for_status()?;
    let runtime = RuntimeApi::start().await?;
    let mut reached = runtime.polls();
    let mut times = Vec::with_capacity(starts);
    // The first start warms the page cache, as a Lambda host has the package on disk.
    for i in 0..=starts.max(1) {
        let callback = signed_callback(&http, &cw_sim).await?;
        let ms = webhook_cold_once(&binary, &runtime, &mut reached, callback).await?;
        if i > 0 {
            times.push(ms);
        }
    }
    times.sort_unstable();
    println!("webhook cold_ms={}", times[times.len() / 2]);
    Ok(())
}

pub async fn run(bin_dir: &Path, zip_dir: &Path, starts: usize) -> Result<()> {
    // No event is ever pushed: each `next` call is reported, then waits until the process is
    // killed once its init is measured.
    let runtime = RuntimeApi::start().await?;
    let mut reached = runtime.polls();
    let api = runtime.address();
    for function in Function::ALL {
        let binary = bin_dir.join(function.name());
        if !binary.is_file() {
            bail!(
                "{} is missing: build the functions for this host in release first",
                binary.display()
            );
        }
        // The first start warms the page cache, as a Lambda host has the package on disk.
        start_once(&binary, function, &api, &mut reached).await?;
        let mut times = Vec::with_capacity(starts);
        for _ in 0..starts.max(1) {
            times.push(start_once(&binary, function, &api, &mut reached).await?);
        }
        times.sort_unstable();
        let zip = zip_dir.join(format!("{}.zip", function.name()));
        let zip_bytes = std::fs::metadata(&zip)
            .map(|m| m.len().to_string())
            .unwrap_or_else(|_| "unknown".into());
        println!(
            "coldstart function={} init_ms={} zip_bytes={zip_bytes}",
            function.name(),
            times[times.len() / 2]
        );
    }
    webhook_cold(bin_dir, starts).await
}

//! `make bench-coldstart`: how long each function takes from process start to its first
//! `GET /runtime/invocation/next`, the moment Lambda's init phase ends. Each function's
//! host-architecture release binary is started against the fake Lambda Runtime API on
//! loopback (`local_runner::runtime_api`), with the environment the template gives it and the
//! credentials of its own role (its init reads the credentials secret from moto). Prints, per
//! function, the median of several starts and the size of its arm64 package from
//! `make package`: `coldstart function=<f> init_ms=<n> zip_bytes=<n>`.

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
    Ok(())
}

//! `local-runner setup | run | demo | bench-*`: the local stack's resources, the process
//! that hosts the handlers, the end-to-end demo and the benchmarks on the local stack.
// Product code: no function a reader must scroll through (`clippy.toml` sets 120 lines);
// tests may read as tables.
#![warn(clippy::too_many_lines)]
#![cfg_attr(test, allow(clippy::too_many_lines))]

mod bench;
mod coldstart;
mod demo;
mod host;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Local stack runner of the Acronis ↔ ConnectWise integration")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the table, bus, rules → queues, dead-letter queues and secret on moto; write the
    /// env file.
    Setup {
        #[arg(long)]
        env_file: PathBuf,
        #[arg(long)]
        cw_url: String,
        #[arg(long)]
        acronis_url: String,
        /// The second Acronis data centre: the secret's connection `us` beside `default`.
        #[arg(long)]
        acronis2_url: Option<String>,
        #[arg(long)]
        webhook_url: String,
        #[arg(long, default_value = "acw-local")]
        prefix: String,
    },
    /// Host the handlers: the webhook over HTTP, bus consumers fed from their queues.
    Run {
        #[arg(long)]
        listen: SocketAddr,
        /// Concurrent invocations per function, like Lambda instances (each with its own clients).
        #[arg(long, default_value_t = 8)]
        instances: usize,
        /// Run the alert poller every this many seconds (0: only on demand).
        #[arg(long, default_value_t = 2)]
        alert_poll_secs: u64,
        /// Run the reconciler every this many seconds (0: only on demand).
        #[arg(long, default_value_t = 0)]
        reconcile_secs: u64,
        /// Run the usage push every this many seconds (0: only on demand, e.g. `acw sync usage`).
        #[arg(long, default_value_t = 0)]
        usage_secs: u64,
    },
    /// Run the demo scenario against the running local stack.
    Demo,
    /// Measure callback-to-ready-tenant latency on the running local stack.
    BenchProvisioning {
        #[arg(long, default_value_t = 50)]
        companies: usize,
        #[arg(long, default_value_t = 100)]
        latency_ms: u64,
        /// Milliseconds between two companies (0: all at once, a burst).
        #[arg(long, default_value_t = 0)]
        pace_ms: u64,
    },
    /// Time each function's init (process start to its first `next` call) against a fake
    /// Lambda Runtime API, with the sizes of its arm64 package.
    BenchColdstart {
        /// Where the host's release binaries are.
        #[arg(long, default_value = "target/release")]
        bin_dir: PathBuf,
        /// Where `make package` put the arm64 zips.
        #[arg(long, default_value = "target/lambda/arm64")]
        zip_dir: PathBuf,
        /// Measured starts per function (the median is printed).
        #[arg(long, default_value_t = 9)]
        starts: usize,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    shared::telemetry::init();
    match Cli::parse().command {
        Command::Setup {
            env_file,
            cw_url,
            acronis_url,
            acronis2_url,
            webhook_url,
            prefix,
        } => {
            let urls = SimUrls {
                cw: &cw_url,
                acronis: &acronis_url,
                acronis2: acronis2_url.as_deref(),
            };
            setup(env_file, urls, &webhook_url, &prefix).await
        }
        Command::Run {
            listen,
            instances,
            alert_poll_secs,
            reconcile_secs,
            usage_secs,
        } => {
            host::run(
                listen,
                instances,
                alert_poll_secs,
                reconcile_secs,
                usage_secs,
            )
            .await
        }
        Command::Demo => demo::run().await,
        Command::BenchProvisioning {
            companies,
            latency_ms,
            pace_ms,
        } => bench::run(companies, latency_ms, pace_ms).await,
        Command::BenchColdstart {
            bin_dir,
            zip_dir,
            starts,
        } => coldstart::run(&bin_dir, &zip_dir, starts).await,
    }
}

/// The simulators' URLs.
#[derive(Debug, Clone, Copy)]
struct SimUrls<'a> {
    cw: &'a str,
    acronis: &'a str,
    /// The second Acronis data centre, if the stack runs one.
    acronis2: Option<&'a str>,
}

async fn setup(
    env_file: PathBuf,
    urls: SimUrls<'_>,
    webhook_url: &str,
    prefix: &str,
) -> Result<()> {
    let SimUrls {
        cw: cw_url,
        acronis: acronis_url,
        acronis2: acronis2_url,
    } = urls;
    let config = shared::aws::load_config().await;
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").context("AWS_ENDPOINT_URL must point at moto")?;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let eb = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sm = aws_sdk_secretsmanager::Client::new(&config);

    let table = format!("{prefix}-table");
    let bus = format!("{prefix}-bus");
    let secret = format!("{prefix}/credentials");
    local_runner::ensure_table(&ddb, &table).await?;
    local_runner::ensure_bus(&eb, &bus).await?;
    let mut env = vec![
        ("AWS_ENDPOINT_URL".to_owned(), endpoint),
        (
            "AWS_REGION".to_owned(),
            config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "eu-west-1".into()),
        ),
        ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
        ("TABLE_NAME".to_owned(), table),
        ("EVENT_BUS_NAME".to_owned(), bus.clone()),
        ("SECRET_ID".to_owned(), secret.clone()),
        ("CW_SIM_URL".to_owned(), cw_url.to_owned()),
        ("ACRONIS_SIM_URL".to_owned(), acronis_url.to_owned()),
        ("WEBHOOK_URL".to_owned(), webhook_url.to_owned()),
        // The webhook trusts signing keys only from the ConnectWise host (the simulator here).
        ("CW_SITE".to_owned(), cw_url.to_owned()),
    ];
    if let Some(url) = acronis2_url {
        env.push(("ACRONIS2_SIM_URL".to_owned(), url.to_owned()));
    }
    for route in local_runner::routes() {
        let queue = format!("{prefix}-{}", route.consumer);
        let url =
            local_runner::route_to_queue(&eb, &sqs, &bus, &queue, &route.pattern, &queue).await?;
        env.push((local_runner::queue_var(route.consumer), url));
    }
    // The dead-letter queues, named after the stack as in AWS (`acw dlq`, `acw status`).
    local_runner::ensure_dead_letter_queues(&sqs, local_runner::STACK_NAME).await?;
    env.push(("STACK_NAME".to_owned(), local_runner::STACK_NAME.to_owned()));
    let secret_value = match acronis2_url {
        Some(us) => local_runner::simulator_secret_two(cw_url, acronis_url, us),
        None => local_runner::simulator_secret(cw_url, acronis_url),
    };
    local_runner::put_secret(&sm, &secret, &secret_value.to_string()).await?;

    let body: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    if let Some(dir) = env_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&env_file, body).with_context(|| format!("writing {}", env_file.display()))?;
    tracing::info!(env_file = %env_file.display(), "local resources ready");
    Ok(())
}

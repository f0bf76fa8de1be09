//! Runs both simulators on loopback until killed (the local stack starts it), and with
//! `--acronis2-port` a second Acronis data centre (another API client and partner tenant:
//! [`simulators::acronis::AcronisSimConfig::second_data_centre`]).

use std::net::{Ipv4Addr, SocketAddr};

use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "ConnectWise Manage and Acronis simulators on 127.0.0.1")]
struct Args {
    #[arg(long, default_value_t = 4580)]
    cw_port: u16,
    #[arg(long, default_value_t = 4581)]
    acronis_port: u16,
    /// A second Acronis data centre on this port (none unless given).
    #[arg(long)]
    acronis2_port: Option<u16>,
    /// Added before every API answer, in milliseconds (also settable with PUT /_sim/latency).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let cw = simulators::connectwise::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, args.cw_port)),
        simulators::connectwise::CwSimConfig::default(),
    )
    .await?;
    let acronis = simulators::acronis::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, args.acronis_port)),
        simulators::acronis::AcronisSimConfig::default(),
    )
    .await?;
    cw.control().set_latency(args.latency_ms);
    acronis.control().set_latency(args.latency_ms);
    let second = match args.acronis2_port {
        Some(port) => {
            let sim = simulators::acronis::start(
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                simulators::acronis::AcronisSimConfig::second_data_centre(),
            )
            .await?;
            sim.control().set_latency(args.latency_ms);
            Some(sim)
        }
        None => None,
    };
    tracing::info!(
        connectwise = %cw.url(),
        acronis = %acronis.url(),
        acronis2 = second.as_ref().map(|s| s.url()).unwrap_or_default(),
        "simulators listening"
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}

//! `acw console`: the admin page, served on 127.0.0.1 from this binary.
//!
//! The page runs `acw`'s own commands in process ([`backend::CliBackend`]): every tab shows
//! what a command prints with `--json`, every change is previewed by its command's
//! `--dry-run` and applied by the same command (audited as `acw console:<user>`), so no rule
//! lives twice. The router takes its ports ([`backend::Backend`], [`access::Access`]) the way
//! the webhook's does.

pub mod access;
pub mod actions;
pub mod backend;
pub mod command_line;
pub mod router;
pub mod views;

use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::Arc;

use anyhow::{Context, Result};

use self::access::LoopbackToken;
use self::backend::CliBackend;
use self::router::Console;

#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ConsoleArgs {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Print the URL without opening a browser.
    #[arg(long)]
    pub no_open: bool,
}

/// Serves the console on `127.0.0.1:port` (0: any free port) until Ctrl-C. The first line
/// printed is the URL with the token.
pub async fn serve(port: u16, open: bool) -> Result<()> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port} (choose another --port)"))?;
    let port = listener.local_addr()?.port();
    let gate = LoopbackToken::new(port)?;
    let url = gate.url();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{url}")?;
        out.flush()?;
    }
    eprintln!(
        "acw console: serving on 127.0.0.1:{port} (loopback only); the URL above carries its \
         token. Ctrl-C stops it."
    );
    if open && let Err(e) = open_browser(&url) {
        eprintln!("could not open a browser ({e}); open the URL above");
    }
    let console = Arc::new(Console {
        backend: CliBackend::default(),
        access: gate,
    });
    axum::serve(listener, router::router(console))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving the console")
}

fn open_browser(url: &str) -> std::io::Result<()> {
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(target_os = "windows") {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    command
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

//! `mss serve`: the web server and dashboard.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::serve;

/// `mss serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, env = "MSS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the built dashboard.
    #[arg(long, env = "MSS_STATIC_DIR", default_value = "frontend/dist")]
    pub static_dir: PathBuf,
}

/// Runs `mss serve` until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        tracing::info!("serving on http://{}", listener.local_addr()?);
        serve::run(
            listener,
            serve::router(&args.static_dir),
            serve::shutdown_signal(),
        )
        .await?;
        Ok(())
    })
}

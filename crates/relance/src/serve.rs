//! `relance serve`: one node on the embedded log, until SIGINT or SIGTERM.

use anyhow::{bail, Context as _, Result};
use relance_server::{serve, Node};
use tokio::net::TcpListener;

use crate::cli::ServeArgs;

pub async fn run(args: ServeArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {}: authentication is not available in this build, so relance only binds a loopback address",
            args.listen
        );
    }
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let node = Node::embedded(&args.data_dir)
        .await
        .with_context(|| format!("cannot open the data in {}", args.data_dir.display()))?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        data_dir = %args.data_dir.display(),
        backend = node.log.backend(),
        "relance listening (authentication off: loopback only)"
    );
    // A line a script (or a test) can wait for.
    println!("relance listening on {addr}");
    serve(listener, node.services(), shutdown_signal()).await?;
    tracing::info!("stopping: requests finished, flushing the projection");
    node.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

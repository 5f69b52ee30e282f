//! `--web`: the dashboard beside a node's gRPC services, on its own listener.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use relance_log::EventLog;
use relance_projection::Serving;
use relance_server::auth::AuthLayer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running dashboard: stop it with [`Dashboard::stop`].
pub struct Dashboard {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), relance_web::WebError>>,
    pub addr: SocketAddr,
}

impl Dashboard {
    /// Serves the dashboard on `addr` over `projection`, checked by `auth`'s authenticator and
    /// rate limit. Without an authenticator only a loopback address may be bound.
    pub async fn start(
        addr: SocketAddr,
        projection: Option<Serving>,
        log: Arc<dyn EventLog>,
        auth: &AuthLayer,
        behind_tls: bool,
    ) -> Result<Self> {
        let Some(projection) = projection else {
            bail!("--web needs a process that serves queries (--role all or projection)");
        };
        if auth.authenticator.is_none() && !addr.ip().is_loopback() {
            bail!(
                "refusing to serve the dashboard on {addr}: authentication is off (no --auth FILE), so relance only binds a loopback address"
            );
        }
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the dashboard"))?;
        let addr = listener.local_addr()?;
        let mut web = relance_web::Web::serving(projection);
        web.log = Some(log);
        web.authenticator = auth.authenticator.clone();
        web.limiter = auth.limiter.clone();
        web.secure_cookies = behind_tls;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(relance_web::serve(listener, web, async move {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, "dashboard listening");
        // A line a script (or a test) can wait for.
        println!("relance web on http://{addr}/");
        Ok(Self { stop, task, addr })
    }

    /// Stops serving; connections in flight finish first.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("dashboard task")??;
        Ok(())
    }
}

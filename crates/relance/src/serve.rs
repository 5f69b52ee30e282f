//! `relance serve`: one node on the embedded log, until SIGINT or SIGTERM.

use anyhow::{bail, Context as _, Result};
use relance_server::{serve, Node};
use tokio::net::TcpListener;

use std::sync::Arc;
use std::time::Duration;

use relance_server::auth::{AuthLayer, Authenticator, RateLimiter};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::cli::{Role, ServeArgs};

/// What [`security`] settled on.
struct Security {
    auth: AuthLayer,
    tls: Option<ServerTlsConfig>,
    /// Bearer tokens accepted in clear beyond loopback (`--insecure`).
    insecure_transport: bool,
}

/// The auth layer and TLS configuration `args` ask for; refuses to expose an unauthenticated
/// node beyond loopback, and tokens in clear beyond loopback unless `--insecure`.
fn security(args: &ServeArgs) -> Result<Security> {
    let s = &args.security;
    let authenticator = match &s.auth {
        Some(path) => Some(Arc::new(Authenticator::load(path)?)),
        None => {
            if !args.listen.ip().is_loopback() {
                bail!(
                    "refusing to listen on {}: authentication is off (no --auth FILE), so relance only binds a loopback address",
                    args.listen
                );
            }
            tracing::warn!("authentication is off (no --auth): callers name their organisation themselves; loopback only");
            None
        }
    };
    let limiter = (s.rate_limit > 0).then(|| Arc::new(RateLimiter::new(s.rate_limit)));
    let mut insecure_transport = false;
    let tls = match (&s.tls_cert, &s.tls_key) {
        (Some(cert), Some(key)) => {
            let read = |p: &std::path::Path| {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let mut tls =
                ServerTlsConfig::new().identity(Identity::from_pem(read(cert)?, read(key)?));
            if let Some(ca) = &s.tls_client_ca {
                tls = tls.client_ca_root(Certificate::from_pem(read(ca)?));
            }
            Some(tls)
        }
        _ => {
            if authenticator.is_some() && !args.listen.ip().is_loopback() {
                if !s.insecure {
                    bail!(
                        "refusing to serve bearer tokens in clear on {}: pass --tls-cert and --tls-key, \
                         or --insecure to accept plaintext knowingly (behind a TLS-terminating proxy)",
                        args.listen
                    );
                }
                tracing::warn!(
                    "--insecure: serving bearer tokens without TLS on {}; anyone on the path can read them",
                    args.listen
                );
                insecure_transport = true;
            }
            None
        }
    };
    Ok(Security {
        auth: AuthLayer {
            authenticator,
            limiter,
        },
        tls,
        insecure_transport,
    })
}

async fn open_node(args: &ServeArgs) -> Result<Node> {
    let projection = matches!(args.role, Role::All | Role::Projection);
    let commands = matches!(args.role, Role::All | Role::Command);
    if args.nats.nats.is_none() && args.role != Role::All {
        bail!(
            "--role {:?} needs --nats: the embedded log lives in one process",
            args.role
        );
    }
    let log = crate::log::open(&args.data_dir, &args.nats, None).await?;
    let projection_dir = args.data_dir.join("projection");
    if projection {
        std::fs::create_dir_all(&projection_dir)
            .with_context(|| format!("cannot create {}", projection_dir.display()))?;
    }
    Ok(Node::start(
        log,
        projection.then_some(projection_dir.as_path()),
        commands,
        None,
    )?)
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let security = security(&args)?;
    let node = open_node(&args).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let dashboard = match args.web.addr {
        Some(at) => Some(
            crate::web::Dashboard::start(
                at,
                node.projection.clone(),
                node.log.clone(),
                &security.auth,
                args.web.web_behind_tls,
            )
            .await?,
        ),
        None => None,
    };
    tracing::info!(
        %addr,
        data_dir = %args.data_dir.display(),
        backend = node.log.backend(),
        role = ?args.role,
        auth = args.security.auth.is_some(),
        tls = args.security.tls_cert.is_some(),
        "relance listening"
    );
    // A line a script (or a test) can wait for.
    println!("relance listening on {addr}");
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_task = match args.metrics {
        Some(at) => {
            let l = TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} for metrics"))?;
            tracing::info!(addr = %l.local_addr()?, "metrics on /metrics");
            Some(tokio::spawn(relance_server::metrics::serve_metrics(
                l,
                node.metrics.clone(),
                node.log.clone(),
                node.views.clone(),
                async move {
                    let _ = metrics_stopped.await;
                },
            )))
        }
        None => None,
    };
    node.metrics
        .set_insecure_transport(security.insecure_transport);
    let mut services = node.services();
    services.auth = security.auth;
    services.watch = services.watch.map(|w| {
        w.with_buffer(args.watch.watch_buffer)
            .with_stall(Duration::from_secs(args.watch.watch_stall))
    });
    services.tls = security.tls;
    services.status.insecure_transport = security.insecure_transport;
    // After SIGINT/SIGTERM, requests in flight get GRACE to finish; a client that never lets
    // its connection close cannot keep the node from flushing and exiting.
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let server = serve(listener, services, async move {
        shutdown_signal().await;
        tracing::info!("stopping: no new requests; finishing those in flight");
        signalled.notify_one();
    });
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result?,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(GRACE).await;
        } => tracing::warn!("connections still open {GRACE:?} after the signal: closing them"),
    }
    tracing::info!("stopping: requests finished, flushing the projection");
    let _ = metrics_stop.send(());
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    if let Some(d) = dashboard {
        d.stop().await?;
    }
    node.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// How long requests in flight may take once a shutdown signal arrived.
const GRACE: Duration = Duration::from_secs(20);

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

//! A relance node: an event log, optionally a projection following it, and the gRPC services
//! on a listener.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use relance_log::{EventLog, LogError};
use relance_projection::{ProjectionError, Serving};
use relance_proto::v1::audit_server::AuditServer;
use relance_proto::v1::cooperative_commands_server::CooperativeCommandsServer;
use relance_proto::v1::cooperative_queries_server::CooperativeQueriesServer;
use relance_proto::v1::subscriptions_server::SubscriptionsServer;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::views::Views;
use crate::{Clock, CommandHandler, QueryService};

/// Largest request accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("event log: {0}")]
    Log(#[from] LogError),
    #[error("projection: {0}")]
    Projection(#[from] ProjectionError),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("projection task: {0}")]
    Task(String),
}

/// The services one process serves, and how callers are checked.
#[derive(Clone)]
pub struct Services {
    pub commands: Option<Arc<CommandHandler>>,
    pub queries: Option<QueryService>,
    /// Export and digest for auditors.
    pub audit: Option<crate::audit::AuditService>,
    /// `Watch`: the log followed live, for clients without NATS.
    pub watch: Option<crate::watch::WatchService>,
    /// `relance status`.
    pub status: crate::node_status::NodeStatusService,
    /// Authentication, permissions and rate limit for every request.
    pub auth: crate::auth::AuthLayer,
    /// TLS (rustls); plaintext when `None`.
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    /// Why the projection stopped following the log (`None` while it follows): health turns
    /// NOT_SERVING for the queries and overall when it does.
    pub projection_stopped: Option<watch::Receiver<Option<String>>>,
}

/// A running node: its log, its views (if it has a projection) and the commands.
pub struct Node {
    pub log: Arc<dyn EventLog>,
    /// The projection served (switched after a rebuild).
    pub projection: Option<Serving>,
    /// The served views, their follower and their rebuild.
    pub views: Option<Arc<Views>>,
    pub commands: Option<Arc<CommandHandler>>,
    /// What this node reports on `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    started_at_unix_ms: i64,
}

impl Node {
    /// A node on `log`: with a projection in `projection_dir` when given (or in the rebuilt
    /// views beside it that its pointer file names: `Views::open`), and the command service
    /// when `commands` (reading `clock`, or the system clock when `None`).
    pub fn start(
        log: Arc<dyn EventLog>,
        projection_dir: Option<&Path>,
        commands: bool,
        clock: Option<Clock>,
    ) -> Result<Self, NodeError> {
        let views = projection_dir
            .map(|dir| Views::open(log.clone(), dir))
            .transpose()?;
        let projection = views.as_ref().map(|v| v.serving());
        let metrics = Arc::new(crate::metrics::Metrics::new());
        if let Some(p) = &projection {
            metrics.start_from(p.current().checkpoint());
        }
        let commands = commands.then(|| {
            Arc::new(
                match clock {
                    Some(clock) => CommandHandler::with_clock(log.clone(), clock),
                    None => CommandHandler::new(log.clone()),
                }
                .with_metrics(metrics.clone()),
            )
        });
        Ok(Self {
            log,
            projection,
            views,
            commands,
            metrics,
            started_at_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        })
    }

    /// The services this node offers.
    pub fn services(&self) -> Services {
        Services {
            commands: self.commands.clone(),
            queries: self
                .projection
                .clone()
                .map(|p| QueryService::new(p, Duration::from_secs(10))),
            audit: Some(crate::audit::AuditService::new(
                self.log.clone(),
                self.projection.clone(),
                Duration::from_secs(10),
            )),
            watch: Some(
                crate::watch::WatchService::new(self.log.clone(), crate::DEFAULT_WATCH_BUFFER)
                    .with_metrics(self.metrics.clone()),
            ),
            status: crate::node_status::NodeStatusService {
                log: self.log.clone(),
                views: self.views.clone(),
                commands: self.commands.is_some(),
                started_at_unix_ms: self.started_at_unix_ms,
                insecure_transport: false,
            },
            auth: crate::auth::AuthLayer::default(),
            tls: None,
            projection_stopped: self.views.as_ref().map(|v| v.stopped()),
        }
    }

    /// Waits until the projection has applied everything the log holds now.
    pub async fn caught_up(&self, timeout: Duration) -> Result<u64, NodeError> {
        let head = self.log.last_position().await?;
        match &self.projection {
            Some(p) => p.wait_for(head, timeout).await.map_err(|at| {
                NodeError::Task(format!(
                    "projection at {at} did not reach {head} in {timeout:?}"
                ))
            }),
            None => Ok(head),
        }
    }

    /// Stops following the log and flushes the views (see `Views::shutdown`).
    pub async fn shutdown(self) -> Result<(), NodeError> {
        match &self.views {
            Some(v) => v.shutdown().await,
            None => Ok(()),
        }
    }
}

/// Serves `services` on `listener` (plus health and reflection) until `shutdown` completes;
/// requests in flight are finished first.
pub async fn serve(
    listener: TcpListener,
    services: Services,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let names = served_services(&services);
    let (reflection_v1, reflection_v1alpha) = (
        reflection(&names).build_v1()?,
        reflection(&names).build_v1alpha()?,
    );
    let commands = services.commands.map(|c| {
        CooperativeCommandsServer::new(crate::commands::CommandService(c))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    });
    let queries = services
        .queries
        .map(|q| CooperativeQueriesServer::new(q).max_decoding_message_size(MAX_MESSAGE_BYTES));
    if commands.is_some() {
        health
            .set_serving::<CooperativeCommandsServer<crate::commands::CommandService>>()
            .await;
    }
    let audit = services.audit.map(AuditServer::new);
    if audit.is_some() {
        health
            .set_serving::<AuditServer<crate::audit::AuditService>>()
            .await;
    }
    // Watch streams never end on their own: the shutdown ends them (with the position to
    // resume from) so requests in flight can finish.
    let (closing, closing_rx) = watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let subscriptions = services
        .watch
        .map(|w| SubscriptionsServer::new(w.closing_on(closing_rx)));
    if subscriptions.is_some() {
        health
            .set_serving::<SubscriptionsServer<crate::watch::WatchService>>()
            .await;
    }
    if queries.is_some() {
        health
            .set_serving::<CooperativeQueriesServer<QueryService>>()
            .await;
    }
    let health_watch = services
        .projection_stopped
        .filter(|_| queries.is_some())
        .map(|stopped| tokio::spawn(not_serving_once_stopped(health.clone(), stopped)));
    // Keepalive finds dead peers, so a vanished client cannot hold a connection (and a
    // graceful shutdown) open forever.
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)));
    if let Some(tls) = services.tls {
        builder = builder.tls_config(tls)?;
    }
    builder
        .layer(services.auth)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(relance_proto::v1::node_server::NodeServer::new(
            services.status,
        ))
        .add_optional_service(commands)
        .add_optional_service(queries)
        .add_optional_service(audit)
        .add_optional_service(subscriptions)
        // Small answers go out at once: without TCP_NODELAY, Nagle's algorithm held a reply
        // back until the previous one was acknowledged (a health check took 1.3 ms alone).
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await?;
    if let Some(task) = health_watch {
        task.abort();
    }
    Ok(())
}

/// Health tells the truth: once the projection stops following the log, its queries would
/// only serve stale views, so they and the process as a whole (`""`) turn NOT_SERVING, until
/// rebuilt views that follow it are switched to.
async fn not_serving_once_stopped(
    health: tonic_health::server::HealthReporter,
    mut stopped: watch::Receiver<Option<String>>,
) {
    while stopped.wait_for(Option::is_some).await.is_ok() {
        health
            .set_not_serving::<CooperativeQueriesServer<QueryService>>()
            .await;
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        // Rebuilt views that follow the log serve again.
        if stopped.wait_for(Option::is_none).await.is_err() {
            return;
        }
        health
            .set_serving::<CooperativeQueriesServer<QueryService>>()
            .await;
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
    }
}

/// The fully-qualified names of the services `services` puts on the listener: what reflection
/// lists (a command process does not advertise queries it would answer UNIMPLEMENTED).
pub fn served_services(services: &Services) -> Vec<&'static str> {
    use tonic::server::NamedService as _;
    let mut names = vec![
        tonic_health::pb::health_server::HealthServer::<tonic_health::server::HealthService>::NAME,
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        relance_proto::v1::node_server::NodeServer::<crate::node_status::NodeStatusService>::NAME,
    ];
    if services.commands.is_some() {
        names.push(CooperativeCommandsServer::<crate::commands::CommandService>::NAME);
    }
    if services.queries.is_some() {
        names.push(CooperativeQueriesServer::<QueryService>::NAME);
    }
    if services.audit.is_some() {
        names.push(AuditServer::<crate::audit::AuditService>::NAME);
    }
    if services.watch.is_some() {
        names.push(SubscriptionsServer::<crate::watch::WatchService>::NAME);
    }
    names
}

/// A reflection service (either version: older clients such as grpcurl before 1.8.8 only speak
/// `v1alpha`) advertising exactly `names`, with every schema it may have to describe.
fn reflection<'b>(names: &[&'static str]) -> tonic_reflection::server::Builder<'b> {
    names.iter().fold(
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(relance_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            ),
        |builder, name| builder.with_service_name(*name),
    )
}

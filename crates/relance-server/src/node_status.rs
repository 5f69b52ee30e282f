//! The `Node` service: what this process serves and how far its projection lags.

use std::sync::Arc;

use relance_log::EventLog;
use relance_projection::Projection;
use relance_proto::v1;
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct NodeStatusService {
    pub log: Arc<dyn EventLog>,
    pub projection: Option<Arc<Projection>>,
    pub commands: bool,
    pub started_at_unix_ms: i64,
    /// Bearer tokens accepted in clear beyond loopback (`relance serve --insecure`).
    pub insecure_transport: bool,
    /// Why the projection stopped following the log (`None` while it follows).
    pub projection_stopped: tokio::sync::watch::Receiver<Option<String>>,
}

#[tonic::async_trait]
impl v1::node_server::Node for NodeStatusService {
    async fn status(
        &self,
        _: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusReply>, Status> {
        let head = self.log.last_position().await.map_err(|e| {
            crate::status::refuse(relance_domain::Rule::LogUnavailable, e.to_string())
        })?;
        let checkpoint = self.projection.as_ref().map_or(0, |p| p.checkpoint());
        Ok(Response::new(v1::StatusReply {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: self.log.backend().to_owned(),
            commands: self.commands,
            queries: self.projection.is_some(),
            log_head: head,
            checkpoint,
            lag_events: if self.projection.is_some() {
                head.saturating_sub(checkpoint)
            } else {
                0
            },
            started_at_unix_ms: self.started_at_unix_ms,
            insecure_transport: self.insecure_transport,
            poison_messages: self.projection.as_ref().map_or(0, |p| p.poison_count()),
            quarantined_cooperatives: match &self.projection {
                Some(p) => p.quarantined().map_err(crate::status::internal)?.len() as u64,
                None => 0,
            },
            projection_stopped: self.projection_stopped.borrow().clone().unwrap_or_default(),
            atomic_batch: match self.log.group_commit() {
                Some(true) => "supported".to_owned(),
                Some(false) => "not supported".to_owned(),
                None => String::new(),
            },
        }))
    }
}

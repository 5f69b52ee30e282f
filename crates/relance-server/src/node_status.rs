//! The `Node` service: what this process serves, how far its projection lags, and the rebuild
//! of its views while they serve.

use std::sync::Arc;

use relance_domain::Rule;
use relance_log::EventLog;
use relance_proto::v1;
use tonic::{Request, Response, Status};

use crate::status::refuse;
use crate::views::{RebuildError, RebuildProgress, RebuildState, Views};

#[derive(Clone)]
pub struct NodeStatusService {
    pub log: Arc<dyn EventLog>,
    /// The served views (`None` without a projection).
    pub views: Option<Arc<Views>>,
    pub commands: bool,
    pub started_at_unix_ms: i64,
    /// Bearer tokens accepted in clear beyond loopback (`relance serve --insecure`).
    pub insecure_transport: bool,
}

/// A rebuild's progress on the wire.
fn rebuild_status(p: &RebuildProgress) -> v1::RebuildStatus {
    v1::RebuildStatus {
        state: p.state.name().to_owned(),
        directory: p.directory.display().to_string(),
        position: p.position,
        target: p.target,
        events_per_second: p.events_per_second,
        seconds_left: p.seconds_left().unwrap_or(0),
        started_at_unix_ms: p.started_at_unix_ms,
        finished_at_unix_ms: p.finished_at_unix_ms,
        error: match &p.state {
            RebuildState::Failed(why) => why.clone(),
            _ => String::new(),
        },
    }
}

#[tonic::async_trait]
impl v1::node_server::Node for NodeStatusService {
    async fn status(
        &self,
        _: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusReply>, Status> {
        let head = self
            .log
            .last_position()
            .await
            .map_err(|e| refuse(Rule::LogUnavailable, e.to_string()))?;
        let projection = self.views.as_ref().map(|v| v.serving().current());
        let checkpoint = projection.as_ref().map_or(0, |p| p.checkpoint());
        Ok(Response::new(v1::StatusReply {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: self.log.backend().to_owned(),
            commands: self.commands,
            queries: projection.is_some(),
            log_head: head,
            checkpoint,
            lag_events: if projection.is_some() {
                head.saturating_sub(checkpoint)
            } else {
                0
            },
            started_at_unix_ms: self.started_at_unix_ms,
            insecure_transport: self.insecure_transport,
            poison_messages: projection.as_ref().map_or(0, |p| p.poison_count()),
            quarantined_cooperatives: match &projection {
                Some(p) => p.quarantined().map_err(crate::status::internal)?.len() as u64,
                None => 0,
            },
            projection_stopped: self
                .views
                .as_ref()
                .and_then(|v| v.stopped().borrow().clone())
                .unwrap_or_default(),
            atomic_batch: match self.log.group_commit() {
                Some(true) => "supported".to_owned(),
                Some(false) => "not supported".to_owned(),
                None => String::new(),
            },
            rebuild: self
                .views
                .as_ref()
                .and_then(|v| v.rebuild_progress())
                .map(|p| rebuild_status(&p)),
        }))
    }

    async fn rebuild(
        &self,
        _: Request<v1::RebuildRequest>,
    ) -> Result<Response<v1::RebuildReply>, Status> {
        let Some(views) = &self.views else {
            return Err(refuse(
                Rule::NotServedHere,
                "this node has no projection (--role command): ask a projection node",
            ));
        };
        let started = views.rebuild().map_err(|e| match e {
            RebuildError::Running(_) => refuse(Rule::RebuildRunning, e.to_string()),
            RebuildError::Stopping => refuse(Rule::NodeStopping, e.to_string()),
            RebuildError::Prepare { .. } => crate::status::internal(e),
        })?;
        Ok(Response::new(v1::RebuildReply {
            rebuild: Some(rebuild_status(&started)),
        }))
    }
}

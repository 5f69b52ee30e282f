//! The `Audit` service: the stored history as it is (Export) and the projection's digest at its
//! checkpoint (Digest), for `relance audit …`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use relance_domain::Rule;
use relance_log::EventLog;
use relance_projection::{Projection, Serving};
use relance_proto::v1;
use tonic::{Request, Response};

use crate::status::{internal, refuse, rejection_status};

/// Events read from the log per round trip of an export.
const EXPORT_CHUNK: usize = 512;

/// The `Audit` service over a log and, when the node has one, a projection.
#[derive(Clone)]
pub struct AuditService {
    log: Arc<dyn EventLog>,
    projection: Option<Serving>,
    wait: Duration,
}

impl AuditService {
    pub fn new(log: Arc<dyn EventLog>, projection: Option<Serving>, wait: Duration) -> Self {
        Self {
            log,
            projection,
            wait,
        }
    }
}

impl AuditService {
    /// The node's projection once it has applied `min` (0: now).
    pub(crate) async fn projection(&self, min: u64) -> Result<Arc<Projection>, tonic::Status> {
        let Some(projection) = &self.projection else {
            return Err(refuse(
                Rule::NotServedHere,
                "this node has no projection (--role command): ask a projection node",
            ));
        };
        if min == 0 {
            return Ok(projection.current());
        }
        projection.reach(min, self.wait).await.map_err(|at| {
            refuse(
                Rule::PositionNotReached,
                format!(
                "the projection is at position {at} and has not reached min_position {min}; retry"
            ),
            )
        })
    }
}

type ExportStream = Pin<Box<dyn Stream<Item = Result<v1::ExportRecord, tonic::Status>> + Send>>;

struct Cursor {
    log: Arc<dyn EventLog>,
    next: u64,
    head: u64,
    buffered: std::vec::IntoIter<relance_log::StoredEvent>,
}

fn unavailable(e: relance_log::LogError) -> tonic::Status {
    refuse(Rule::LogUnavailable, format!("event log: {e}"))
}

#[tonic::async_trait]
impl v1::audit_server::Audit for AuditService {
    type ExportStream = ExportStream;

    async fn export(
        &self,
        r: Request<v1::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, tonic::Status> {
        let r = r.into_inner();
        let (from, to) =
            relance_proto::export_range_from_wire(&r).map_err(|e| rejection_status(&e))?;
        let last = self.log.last_position().await.map_err(unavailable)?;
        let head = to.map_or(last, |to| to.min(last));
        let cursor = Cursor {
            log: self.log.clone(),
            next: from,
            head,
            buffered: Vec::new().into_iter(),
        };
        let stream = futures::stream::unfold(Some(cursor), |cursor| async move {
            let mut c = cursor?;
            loop {
                if let Some(e) = c.buffered.next() {
                    if e.position > c.head {
                        return None;
                    }
                    let record = relance_proto::export_record(&e.payload, e.position, c.head)
                        .map_err(|err| {
                            refuse(
                                Rule::CorruptEvent,
                                format!(
                                    "the event at position {} cannot be decoded: {err}",
                                    e.position
                                ),
                            )
                        });
                    let failed = record.is_err();
                    return Some((record, (!failed).then_some(c)));
                }
                if c.next > c.head {
                    return None;
                }
                match c.log.read_from(c.next, EXPORT_CHUNK).await {
                    Ok(events) if events.is_empty() => return None,
                    Ok(events) => {
                        c.next = events.last().map_or(c.head, |e| e.position) + 1;
                        c.buffered = events.into_iter();
                    }
                    Err(e) => return Some((Err(unavailable(e)), None)),
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn heads(
        &self,
        r: Request<v1::HeadsRequest>,
    ) -> Result<Response<v1::HeadsReply>, tonic::Status> {
        let projection = self.projection(r.into_inner().min_position).await?;
        let heads = tokio::task::spawn_blocking(move || projection.heads_at_checkpoint())
            .await
            .map_err(internal)?
            .map_err(internal)?;
        Ok(Response::new(relance_proto::heads_to_wire(
            heads.position,
            heads.chains,
        )))
    }

    async fn checkpoint(
        &self,
        r: Request<v1::TreeCheckpointRequest>,
    ) -> Result<Response<v1::TreeCheckpointReply>, tonic::Status> {
        self.tree_checkpoint(r.into_inner())
            .await
            .map(Response::new)
    }

    async fn inclusion_proof(
        &self,
        r: Request<v1::InclusionProofRequest>,
    ) -> Result<Response<v1::InclusionProofReply>, tonic::Status> {
        self.inclusion(r.into_inner()).await.map(Response::new)
    }

    async fn consistency_proof(
        &self,
        r: Request<v1::ConsistencyProofRequest>,
    ) -> Result<Response<v1::ConsistencyProofReply>, tonic::Status> {
        self.consistency(r.into_inner()).await.map(Response::new)
    }

    async fn digest(
        &self,
        r: Request<v1::DigestRequest>,
    ) -> Result<Response<v1::DigestReply>, tonic::Status> {
        let p = self.projection(r.into_inner().min_position).await?;
        let at = tokio::task::spawn_blocking(move || p.digest_at_checkpoint())
            .await
            .map_err(internal)?
            .map_err(internal)?;
        Ok(Response::new(v1::DigestReply {
            digest: at.digest,
            position: at.position,
        }))
    }
}

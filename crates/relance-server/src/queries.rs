//! The query side: answers from one projection's views, optionally after waiting (bounded)
//! until the projection has applied a position the caller already saw.

use std::sync::Arc;
use std::time::Duration;

use relance_domain::{CoopId, Rule};
use relance_projection::{Projection, ProjectionError, Serving};
use relance_proto::v1;
use tonic::{Request, Response};

use crate::status::{refuse, rejection_status};

/// The `CooperativeQueries` service over the projection a node serves. Each request answers
/// from one projection, taken once it has reached the request's `min_position`.
#[derive(Clone)]
pub struct QueryService {
    projection: Serving,
    wait: Duration,
}

fn internal(e: ProjectionError) -> tonic::Status {
    crate::status::internal(e)
}

fn parse_id(raw: &str) -> Result<CoopId, tonic::Status> {
    CoopId::parse(raw).map_err(|r| crate::rejection_status(&r))
}

impl QueryService {
    /// Refuses to answer about a cooperative whose hash chain broke: its views stopped at the
    /// last good event and must not be taken for the truth.
    fn not_quarantined(p: &Projection, id: &CoopId) -> Result<(), tonic::Status> {
        match p.quarantine(id.as_str()).map_err(internal)? {
            None => Ok(()),
            Some(q) => Err(refuse(
                Rule::CooperativeQuarantined,
                format!(
                    "cooperative {id} is quarantined: {}; its later events are not applied",
                    q.describe()
                ),
            )),
        }
    }

    /// `wait` bounds how long a query waits for its `min_position`.
    pub fn new(projection: Serving, wait: Duration) -> Self {
        Self { projection, wait }
    }

    /// The projection to answer from, once it has applied `min_position` (0: now).
    async fn reach(&self, min_position: u64) -> Result<Arc<Projection>, tonic::Status> {
        if min_position == 0 {
            return Ok(self.projection.current());
        }
        self.projection.reach(min_position, self.wait).await.map_err(|at| {
            refuse(Rule::PositionNotReached, format!(
                "the projection is at position {at} and has not reached min_position {min_position} within {:?}; retry",
                self.wait
            ))
        })
    }
}

#[tonic::async_trait]
impl v1::cooperative_queries_server::CooperativeQueries for QueryService {
    async fn state_at(
        &self,
        r: Request<v1::StateAtRequest>,
    ) -> Result<Response<v1::CooperativeView>, tonic::Status> {
        let r = r.into_inner();
        let id = parse_id(&r.cooperative_id)?;
        let as_of = relance_proto::as_of_from_wire(r.as_of).map_err(|e| rejection_status(&e))?;
        let p = self.reach(r.min_position).await?;
        Self::not_quarantined(&p, &id)?;
        let key = id.to_string();
        let state = tokio::task::spawn_blocking(move || p.state_at(&key, &as_of))
            .await
            .map_err(crate::status::internal)?
            .map_err(internal)?;
        match state {
            Some(s) => Ok(Response::new(relance_proto::coop_view_to_wire(&s))),
            None => Err(refuse(
                Rule::CooperativeNotRegistered,
                format!("cooperative {id} was not registered at that point"),
            )),
        }
    }

    async fn summary_at(
        &self,
        r: Request<v1::SummaryAtRequest>,
    ) -> Result<Response<v1::ProvinceSummary>, tonic::Status> {
        let r = r.into_inner();
        let as_of = relance_proto::as_of_from_wire(r.as_of).map_err(|e| rejection_status(&e))?;
        let p = self.reach(r.min_position).await?;
        let at = tokio::task::spawn_blocking(move || p.summary_at(&as_of))
            .await
            .map_err(crate::status::internal)?
            .map_err(internal)?;
        Ok(Response::new(relance_proto::summary_to_wire(
            &at.summary,
            at.position,
        )))
    }

    async fn get(
        &self,
        r: Request<v1::GetRequest>,
    ) -> Result<Response<v1::CooperativeView>, tonic::Status> {
        let r = r.into_inner();
        let id = parse_id(&r.cooperative_id)?;
        let p = self.reach(r.min_position).await?;
        Self::not_quarantined(&p, &id)?;
        match p.get(id.as_str()).map_err(internal)? {
            Some(s) => Ok(Response::new(relance_proto::coop_view_to_wire(&s))),
            None => Err(refuse(
                Rule::CooperativeNotRegistered,
                format!("cooperative {id} is not registered"),
            )),
        }
    }

    async fn list(
        &self,
        r: Request<v1::ListRequest>,
    ) -> Result<Response<v1::ListReply>, tonic::Status> {
        let r = r.into_inner();
        let query = relance_proto::list_query_from_wire(&r).map_err(|e| rejection_status(&e))?;
        let p = self.reach(r.min_position).await?;
        let page = p
            .list(
                &query.filter,
                query.page_size,
                query.after.as_ref().map(|a| a.as_str()),
            )
            .map_err(internal)?;
        Ok(Response::new(v1::ListReply {
            cooperatives: page
                .items
                .iter()
                .map(relance_proto::coop_view_to_wire)
                .collect(),
            next_page_token: page
                .next
                .map(|after| relance_proto::page_token(&query.filter, &after))
                .unwrap_or_default(),
            total: page.total,
        }))
    }

    async fn series(
        &self,
        r: Request<v1::SeriesRequest>,
    ) -> Result<Response<v1::SeriesReply>, tonic::Status> {
        let r = r.into_inner();
        let q = relance_proto::series_query_from_wire(&r)
            .map_err(|e| crate::status::rejection_status(&e))?;
        let p = self.reach(r.min_position).await?;
        let (points, position) = tokio::task::spawn_blocking(move || {
            let position = p.checkpoint();
            p.series(q.from, q.to, q.bucket).map(|s| (s, position))
        })
        .await
        .map_err(crate::status::internal)?
        .map_err(internal)?;
        Ok(Response::new(relance_proto::series_to_wire(
            &points, position,
        )))
    }

    async fn summary(
        &self,
        r: Request<v1::SummaryRequest>,
    ) -> Result<Response<v1::ProvinceSummary>, tonic::Status> {
        let p = self.reach(r.into_inner().min_position).await?;
        let position = p.checkpoint();
        Ok(Response::new(relance_proto::summary_to_wire(
            &p.summary(),
            position,
        )))
    }

    async fn history(
        &self,
        r: Request<v1::HistoryRequest>,
    ) -> Result<Response<v1::HistoryReply>, tonic::Status> {
        let r = r.into_inner();
        let id = parse_id(&r.cooperative_id)?;
        let p = self.reach(r.min_position).await?;
        Self::not_quarantined(&p, &id)?;
        let key = id.to_string();
        // The history is read from the log (histories are not copied into the views).
        let items = tokio::task::spawn_blocking(move || p.history(&key))
            .await
            .map_err(crate::status::internal)?
            .map_err(internal)?;
        if items.is_empty() {
            return Err(refuse(
                Rule::CooperativeNotRegistered,
                format!("cooperative {id} has no events"),
            ));
        }
        Ok(Response::new(relance_proto::history_to_wire(items)))
    }
}

//! The query side: answers from one projection's views, optionally after waiting (bounded)
//! until the projection has applied a position the caller already saw.

use std::sync::Arc;
use std::time::Duration;

use relance_domain::{CoopId, Date, Rule, Sector, Status};
use relance_projection::{AsOf, Filter, Projection, ProjectionError};
use relance_proto::v1;
use tonic::{Request, Response};

use crate::status::{refuse, refuse_field};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

/// The `CooperativeQueries` service over one projection.
#[derive(Clone)]
pub struct QueryService {
    projection: Arc<Projection>,
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
    fn not_quarantined(&self, id: &CoopId) -> Result<(), tonic::Status> {
        match self.projection.quarantine(id.as_str()).map_err(internal)? {
            None => Ok(()),
            Some(q) => Err(refuse(Rule::CooperativeQuarantined, format!(
                "cooperative {id} is quarantined: its hash chain breaks at version {} (position {}, event {}): {}; its later events are not applied",
                q.version, q.position, q.event_id, q.reason
            ))),
        }
    }

    /// `wait` bounds how long a query waits for its `min_position`.
    pub fn new(projection: Arc<Projection>, wait: Duration) -> Self {
        Self { projection, wait }
    }

    async fn reach(&self, min_position: u64) -> Result<(), tonic::Status> {
        if min_position == 0 {
            return Ok(());
        }
        self.projection.wait_for(min_position, self.wait).await.map(|_| ()).map_err(|at| {
            refuse(Rule::PositionNotReached, format!(
                "the projection is at position {at} and has not reached min_position {min_position} within {:?}; retry",
                self.wait
            ))
        })
    }
}

/// The request's past point; it must name a recorded time or a position.
fn as_of(raw: Option<v1::AsOf>) -> Result<AsOf, tonic::Status> {
    let raw = raw.ok_or_else(|| refuse_field("as_of", Rule::RequiredField, "is missing"))?;
    let mut as_of = AsOf::default();
    match raw.point {
        Some(v1::as_of::Point::RecordedAtUnixMs(ms)) => as_of.recorded_at_ms = Some(ms),
        Some(v1::as_of::Point::Position(p)) => as_of.position = Some(p),
        None => {
            return Err(refuse_field(
                "as_of.point",
                Rule::RequiredField,
                "must be a recorded time or a position",
            ))
        }
    }
    if !raw.business_date.is_empty() {
        as_of.business_date = Some(Date::parse(&raw.business_date).ok_or_else(|| {
            refuse_field(
                "as_of.business_date",
                Rule::InvalidDate,
                format!("{:?} is not a YYYY-MM-DD date", raw.business_date),
            )
        })?);
    }
    Ok(as_of)
}

#[tonic::async_trait]
impl v1::cooperative_queries_server::CooperativeQueries for QueryService {
    async fn state_at(
        &self,
        r: Request<v1::StateAtRequest>,
    ) -> Result<Response<v1::CooperativeView>, tonic::Status> {
        let r = r.into_inner();
        let id = parse_id(&r.cooperative_id)?;
        let as_of = as_of(r.as_of)?;
        self.reach(r.min_position).await?;
        self.not_quarantined(&id)?;
        let p = self.projection.clone();
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
        let as_of = as_of(r.as_of)?;
        self.reach(r.min_position).await?;
        let p = self.projection.clone();
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
        self.reach(r.min_position).await?;
        self.not_quarantined(&id)?;
        match self.projection.get(id.as_str()).map_err(internal)? {
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
        let sector = match r.sector.as_str() {
            "" => None,
            s => Some(Sector::parse(s).ok_or_else(|| {
                let known: Vec<&str> = Sector::ALL.iter().map(|s| s.as_str()).collect();
                refuse_field(
                    "sector",
                    Rule::InvalidEnum,
                    format!("{s:?} is not one of {}", known.join(", ")),
                )
            })?),
        };
        let status = match r.status.as_str() {
            "" => None,
            s => Some(Status::parse(s).ok_or_else(|| {
                refuse_field(
                    "status",
                    Rule::InvalidEnum,
                    format!("{s:?} is not one of active, halted, reoriented, resumed"),
                )
            })?),
        };
        let page_size = match r.page_size as usize {
            0 => DEFAULT_PAGE,
            n if n > MAX_PAGE => {
                return Err(refuse_field(
                    "page_size",
                    Rule::NumberTooLarge,
                    format!("is {n}, at most {MAX_PAGE}"),
                ))
            }
            n => n,
        };
        let after = if r.page_token.is_empty() {
            None
        } else {
            Some(parse_id(&r.page_token)?)
        };
        self.reach(r.min_position).await?;
        let filter = Filter {
            sector,
            status,
            commune: (!r.commune.is_empty()).then_some(r.commune),
        };
        let page = self
            .projection
            .list(&filter, page_size, after.as_ref().map(|a| a.as_str()))
            .map_err(internal)?;
        Ok(Response::new(v1::ListReply {
            cooperatives: page
                .items
                .iter()
                .map(relance_proto::coop_view_to_wire)
                .collect(),
            next_page_token: page.next.unwrap_or_default(),
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
        self.reach(r.min_position).await?;
        let p = self.projection.clone();
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
        self.reach(r.into_inner().min_position).await?;
        let position = self.projection.checkpoint();
        Ok(Response::new(relance_proto::summary_to_wire(
            &self.projection.summary(),
            position,
        )))
    }

    async fn history(
        &self,
        r: Request<v1::HistoryRequest>,
    ) -> Result<Response<v1::HistoryReply>, tonic::Status> {
        let r = r.into_inner();
        let id = parse_id(&r.cooperative_id)?;
        self.reach(r.min_position).await?;
        self.not_quarantined(&id)?;
        let items = self.projection.history(id.as_str()).map_err(internal)?;
        if items.is_empty() {
            return Err(refuse(
                Rule::CooperativeNotRegistered,
                format!("cooperative {id} has no events"),
            ));
        }
        Ok(Response::new(v1::HistoryReply {
            events: items
                .into_iter()
                .map(|item| {
                    let retraction = item.retracted_by.unwrap_or(relance_projection::Retraction {
                        event_id: String::new(),
                        reason: String::new(),
                        principal: String::new(),
                        recorded_at_ms: 0,
                    });
                    v1::HistoryEntry {
                        envelope: Some(relance_proto::envelope_to_wire(
                            &item.recorded.envelope,
                            item.recorded.position,
                        )),
                        retracted_by_event_id: retraction.event_id,
                        retraction_reason: retraction.reason,
                        retracted_by_principal: retraction.principal,
                        retracted_at_unix_ms: retraction.recorded_at_ms,
                    }
                })
                .collect(),
        }))
    }
}

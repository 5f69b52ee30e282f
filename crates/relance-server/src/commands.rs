//! The command side: load a cooperative, decide, append with the expected version, retry on
//! conflict, and answer a repeated request id with its first result.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash as _, Hasher};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use relance_domain::{
    chain_hash, decide, link_break, Actor, Aggregate, Command, Context, CoopId, Hash, Recorded,
    Rejection, Rule,
};
use relance_log::{AppendRequest, EventLog, LogError};
use relance_proto::{v1, CommandMeta, CommandRequest};
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};

use crate::command_error_status;

/// A command holds its cooperative's shard across the append, so commands on different
/// cooperatives that share a shard wait for each other: with 4,096 shards, 64 concurrent
/// commands on distinct cooperatives rarely meet (256 shards made one in five wait).
const SHARDS: usize = 4096;

/// The result of an accepted (or recognised) command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub event_id: String,
    pub version: u64,
    pub position: u64,
    pub duplicate: bool,
}

/// Why a command was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("cooperative {cooperative_id} kept changing: gave up after {attempts} attempts; retry the command")]
    Contended {
        cooperative_id: CoopId,
        attempts: usize,
    },
    #[error("{0}; the command may be retried with the same request_id")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A clock giving Unix milliseconds (the only clock the command path reads).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// Decides commands against the event log. Keeps no durable state: a bounded cache of
/// cooperative aggregates, dropped on any conflict or failure.
pub struct CommandHandler {
    log: Arc<dyn EventLog>,
    pub(crate) shards: Vec<Mutex<HashMap<CoopId, Aggregate>>>,
    pub(crate) clock: Clock,
    pub(crate) max_attempts: usize,
    pub(crate) cache_per_shard: usize,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

impl CommandHandler {
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self::with_clock(log, system_clock())
    }

    pub fn with_clock(log: Arc<dyn EventLog>, clock: Clock) -> Self {
        Self {
            log,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            clock,
            max_attempts: 8,
            cache_per_shard: 4,
            metrics: Arc::new(crate::metrics::Metrics::new()),
        }
    }

    /// Reports into `metrics` instead of a private registry.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    fn shard(&self, id: &CoopId) -> &Mutex<HashMap<CoopId, Aggregate>> {
        &self.shards[shard_index(id)]
    }

    /// Reads a cooperative's whole history from the log and checks its hash chain: the command
    /// side never builds on an event it cannot verify (a forged or damaged event quarantines the
    /// cooperative for commands as it does for the projection).
    pub async fn load(&self, id: &CoopId) -> Result<Aggregate, CommandError> {
        let stored = self.log.read_cooperative(id).await.map_err(log_error)?;
        let mut history: Vec<Recorded> = Vec::with_capacity(stored.len());
        for e in stored {
            let envelope = relance_proto::decode_envelope(&e.payload).map_err(|err| {
                quarantined(id, e.position, format!("its bytes do not decode: {err}"))
            })?;
            if envelope.cooperative_id != *id {
                return Err(quarantined(
                    id,
                    e.position,
                    format!(
                        "it is the envelope of cooperative {}",
                        envelope.cooperative_id
                    ),
                ));
            }
            let (version, head) = history
                .last()
                .map_or((0, Hash::ZERO), |r| (r.envelope.version, r.envelope.hash));
            if let Some(why) = link_break(version, head, &envelope, chain_hash(&envelope)) {
                return Err(quarantined(id, e.position, why));
            }
            history.push(Recorded {
                position: e.position,
                envelope,
            });
        }
        Ok(Aggregate::from_history(history))
    }

    /// Carries out one command on behalf of `actor`.
    pub async fn execute(
        &self,
        meta: CommandMeta,
        cmd: Command,
        actor: Actor,
    ) -> Result<Outcome, CommandError> {
        let id = meta.cooperative_id.clone();
        let mut cache = self.shard(&id).lock().await;
        for attempt in 0..self.max_attempts {
            let (agg, cached) = match cache.remove(&id) {
                Some(agg) if attempt == 0 => (agg, true),
                _ => (self.load(&id).await?, false),
            };
            let retry = agg.retry_of(&meta.request_id, &cmd, &actor);
            if let Some(first) = retry.as_ref().ok().copied().flatten() {
                let outcome = duplicate_of(first);
                remember(&mut cache, id.clone(), agg, self.cache_per_shard);
                return Ok(outcome);
            }
            if let Err(reused) = retry {
                remember(&mut cache, id.clone(), agg, self.cache_per_shard);
                return Err(reused.into());
            }
            let now = (self.clock)();
            let ctx = Context {
                cooperative_id: id.clone(),
                event_id: new_event_id(now),
                request_id: meta.request_id.clone(),
                correlation_id: meta.correlation_id.clone(),
                recorded_at_ms: now,
                actor: actor.clone(),
                expected_version: meta.expected_version,
            };
            let envelope = match decide(&agg, cmd.clone(), &ctx) {
                Ok(e) => e,
                // Another process may have changed the cooperative since it was cached: a
                // refusal is only given on the state the log holds now.
                Err(_) if cached => continue,
                Err(rejection) => {
                    remember(&mut cache, id.clone(), agg, self.cache_per_shard);
                    return Err(rejection.into());
                }
            };
            let request = AppendRequest {
                cooperative_id: id.clone(),
                expected_version: agg.version(),
                request_id: meta.request_id.clone(),
                event_id: envelope.event_id.clone(),
                event_type: envelope.event.type_name().to_owned(),
                schema_version: envelope.schema_version,
                payload: relance_proto::encode_envelope(&envelope),
            };
            let started = std::time::Instant::now();
            let appended = self.log.append(request).await;
            self.metrics
                .append_seconds
                .observe(started.elapsed().as_secs_f64());
            match appended {
                Ok(a) if !a.duplicate => {
                    let outcome = Outcome {
                        event_id: envelope.event_id.clone(),
                        version: a.version,
                        position: a.position,
                        duplicate: false,
                    };
                    let mut agg = agg;
                    agg.apply(Recorded {
                        position: a.position,
                        envelope,
                    });
                    remember(&mut cache, id.clone(), agg, self.cache_per_shard);
                    return Ok(outcome);
                }
                Ok(a) => {
                    // Written before, by an attempt whose answer was lost or by another process.
                    let fresh = self.load(&id).await?;
                    let outcome = match fresh.retry_of(&meta.request_id, &cmd, &actor)? {
                        // This very call's event, stored by a publish whose acknowledgement
                        // was lost and recognised on the log's retry: not a duplicate for the
                        // caller, who sent the request once.
                        Some(first) if first.envelope.event_id == envelope.event_id => Outcome {
                            duplicate: false,
                            ..duplicate_of(first)
                        },
                        Some(first) => duplicate_of(first),
                        None => Outcome {
                            event_id: String::new(),
                            version: a.version,
                            position: a.position,
                            duplicate: true,
                        },
                    };
                    remember(&mut cache, id.clone(), fresh, self.cache_per_shard);
                    return Ok(outcome);
                }
                Err(LogError::Conflict { .. }) => {
                    self.metrics.conflicts.inc();
                    tracing::debug!(cooperative = %id, attempt, "version conflict, deciding again on fresh state");
                    continue;
                }
                Err(e) => return Err(log_error(e)),
            }
        }
        Err(CommandError::Contended {
            cooperative_id: id,
            attempts: self.max_attempts,
        })
    }

    async fn handle<R: CommandRequest>(
        &self,
        request: Request<R>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        let actor = crate::actor_of(&request);
        let (meta, cmd) = request
            .into_inner()
            .into_command()
            .map_err(|r| crate::rejection_status(&r))?;
        let kind = cmd.event_type();
        let result = self.execute(meta, cmd, actor).await;
        let outcome = match &result {
            Ok(o) if o.duplicate => "duplicate".to_owned(),
            Ok(_) => "accepted".to_owned(),
            Err(e) => {
                if matches!(e, CommandError::Unavailable(_)) {
                    self.metrics.unavailable_retries.inc();
                }
                snake_case(&format!("{:?}", command_error_status(e).code()))
            }
        };
        self.metrics.command(kind, &outcome);
        match result {
            Ok(o) => Ok(Response::new(v1::CommandReply {
                event_id: o.event_id,
                version: o.version,
                position: o.position,
                duplicate: o.duplicate,
            })),
            Err(e) => {
                tracing::debug!(command = kind, error = %e, "command refused");
                Err(command_error_status(&e))
            }
        }
    }
}

/// The shard a cooperative's cached aggregate lives in.
pub(crate) fn shard_index(id: &CoopId) -> usize {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

/// `FailedPrecondition` → `failed_precondition`.
pub(crate) fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The refusal of a command on a cooperative whose stored history does not verify.
fn quarantined(id: &CoopId, position: u64, why: String) -> CommandError {
    CommandError::Rejected(Rejection::state(
        Rule::CooperativeQuarantined,
        format!(
            "cooperative {id} is quarantined: its event at position {position} does not verify ({why}); nothing is recorded on it"
        ),
    ))
}

pub(crate) fn duplicate_of(first: &Recorded) -> Outcome {
    Outcome {
        event_id: first.envelope.event_id.clone(),
        version: first.envelope.version,
        position: first.position,
        duplicate: true,
    }
}

pub(crate) fn remember(
    cache: &mut HashMap<CoopId, Aggregate>,
    id: CoopId,
    agg: Aggregate,
    cap: usize,
) {
    if cache.len() >= cap {
        if let Some(victim) = cache.keys().next().cloned() {
            cache.remove(&victim);
        }
    }
    cache.insert(id, agg);
}

/// A log failure as a command failure. A message under a cooperative's subject that is not a
/// relance event (read while loading it or while resolving a conflict) quarantines it.
pub(crate) fn log_error(e: LogError) -> CommandError {
    match e {
        LogError::Unavailable(m) => {
            CommandError::Unavailable(format!("event log unavailable: {m}"))
        }
        LogError::Unreadable {
            position,
            cooperative_id: Some(id),
            reason,
        } => quarantined(
            &id,
            position,
            format!("it is not a relance event: {reason}"),
        ),
        other => CommandError::Internal(other.to_string()),
    }
}

/// A UUIDv7 for an event recorded at `now_ms`.
pub(crate) fn new_event_id(now_ms: i64) -> String {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        (now_ms / 1000) as u64,
        ((now_ms % 1000) * 1_000_000) as u32,
    );
    uuid::Uuid::new_v7(ts).to_string()
}

/// The `CooperativeCommands` gRPC service over a [`CommandHandler`].
#[derive(Clone)]
pub struct CommandService(pub Arc<CommandHandler>);

#[tonic::async_trait]
impl v1::cooperative_commands_server::CooperativeCommands for CommandService {
    async fn register(
        &self,
        r: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        self.0.handle(r).await
    }
    async fn halt(
        &self,
        r: Request<v1::HaltRequest>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        self.0.handle(r).await
    }
    async fn reorient(
        &self,
        r: Request<v1::ReorientRequest>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        self.0.handle(r).await
    }
    async fn authorize(
        &self,
        r: Request<v1::AuthorizeRequest>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        self.0.handle(r).await
    }
    async fn grant_support(
        &self,
        r: Request<v1::GrantSupportRequest>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        self.0.handle(r).await
    }
    async fn open_sales_channel(
        &self,
        r: Request<v1::OpenSalesChannelRequest>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        self.0.handle(r).await
    }
    async fn resume(
        &self,
        r: Request<v1::ResumeRequest>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        self.0.handle(r).await
    }
    async fn report_headcount(
        &self,
        r: Request<v1::ReportHeadcountRequest>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        self.0.handle(r).await
    }
    async fn retract(
        &self,
        r: Request<v1::RetractRequest>,
    ) -> Result<Response<v1::CommandReply>, Status> {
        self.0.handle(r).await
    }
    async fn batch(
        &self,
        r: Request<v1::BatchRequest>,
    ) -> Result<Response<v1::BatchReply>, Status> {
        self.0.handle_batch(r).await
    }
}

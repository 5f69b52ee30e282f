//! Batches: many commands in one call, each checked and decided in order as its own RPC would
//! be, against its cooperative including the batch's earlier entries, then appended together
//! with one `EventLog::append_batch` per round (a round ends where a cooperative comes again:
//! its next entry needs the position the log gives the previous one).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use relance_domain::{
    decide, Actor, Aggregate, Command, Context, CoopId, Recorded, Rejection, Rule,
};
use relance_log::{AppendRequest, LogError};
use relance_proto::{v1, CommandMeta, CommandRequest};
use tokio::sync::MutexGuard;
use tonic::{Request, Response, Status};

use crate::auth::{Permission, Principal};
use crate::commands::{
    duplicate_of, log_error, new_event_id, remember, shard_index, snake_case, CommandError,
    CommandHandler, Outcome,
};
use crate::{command_error_status, refuse};

/// Most commands one `Batch` call may carry; more is refused with `batch_too_large`.
pub const MAX_BATCH: usize = 1000;

/// Cooperatives read from the log at once before a batch is decided.
const PREFETCH: usize = 32;

/// One entry's answer.
pub type EntryResult = Result<Outcome, CommandError>;

type Shard<'a> = MutexGuard<'a, HashMap<CoopId, Aggregate>>;

/// An entry waiting to be decided: its index in the batch, the command and its attempt.
struct Pending {
    index: usize,
    meta: CommandMeta,
    cmd: Command,
    attempt: usize,
}

/// An entry decided and waiting for the round's append.
struct Staged {
    pending: Pending,
    envelope: relance_domain::Envelope,
    request: AppendRequest,
}

/// A cooperative's aggregate as the batch sees it; `cached` while it comes from the cache
/// unchecked (a refusal is then only given after reading the log again).
struct Working {
    agg: Aggregate,
    cached: bool,
}

/// What one decision leads to.
enum Step {
    Answer(EntryResult),
    /// Decide again on the log's state.
    Reload,
    Stage(Box<relance_domain::Envelope>, AppendRequest),
}

/// The state of one batch run.
struct Run<'h> {
    handler: &'h CommandHandler,
    actor: Actor,
    dry_run: bool,
    guards: HashMap<usize, Shard<'h>>,
    aggs: HashMap<CoopId, Working>,
    results: Vec<Option<EntryResult>>,
    queue: VecDeque<Pending>,
    round: Vec<Staged>,
    /// The cooperatives of `round`.
    in_round: HashSet<CoopId>,
}

impl CommandHandler {
    /// Carries out a batch on behalf of `actor`: one answer per entry, in order. Entries
    /// already refused (bad shape, role) are given as `Err` and answered as such. With
    /// `dry_run`, every entry is decided against the log's current state (and the batch's
    /// earlier entries) and nothing is written.
    pub async fn execute_batch(
        &self,
        entries: Vec<Result<(CommandMeta, Command), CommandError>>,
        actor: Actor,
        dry_run: bool,
    ) -> Vec<EntryResult> {
        let mut results: Vec<Option<EntryResult>> = Vec::with_capacity(entries.len());
        let mut queue = VecDeque::new();
        for (index, entry) in entries.into_iter().enumerate() {
            match entry {
                Ok((meta, cmd)) => {
                    results.push(None);
                    queue.push_back(Pending {
                        index,
                        meta,
                        cmd,
                        attempt: 0,
                    });
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        // Shards locked in ascending order: two batches never wait for each other in a cycle,
        // and a single command holds one shard only.
        let shards: BTreeSet<usize> = queue
            .iter()
            .map(|p| shard_index(&p.meta.cooperative_id))
            .collect();
        let mut guards = HashMap::with_capacity(shards.len());
        for i in shards {
            guards.insert(i, self.shards[i].lock().await);
        }
        let mut run = Run {
            handler: self,
            actor,
            dry_run,
            guards,
            aggs: HashMap::new(),
            results,
            queue,
            round: Vec::new(),
            in_round: HashSet::new(),
        };
        run.prefetch().await;
        run.run().await;
        run.finish()
    }

    /// The `Batch` RPC.
    pub(crate) async fn handle_batch(
        &self,
        request: Request<v1::BatchRequest>,
    ) -> Result<Response<v1::BatchReply>, Status> {
        let actor = crate::actor_of(&request);
        let principal = request.extensions().get::<Arc<Principal>>().cloned();
        let batch = request.into_inner();
        if batch.commands.len() > MAX_BATCH {
            return Err(refuse(
                Rule::BatchTooLarge,
                format!(
                    "a batch carries at most {MAX_BATCH} commands, this one {}; split it",
                    batch.commands.len()
                ),
            ));
        }
        let mut kinds = Vec::with_capacity(batch.commands.len());
        let entries: Vec<_> = batch
            .commands
            .into_iter()
            .map(|c| {
                let entry = entry(c, principal.as_deref());
                kinds.push(entry.as_ref().map_or("invalid", |(_, c)| c.event_type()));
                entry
            })
            .collect();
        let results = self.execute_batch(entries, actor, batch.dry_run).await;
        let mut out = Vec::with_capacity(results.len());
        for (result, kind) in results.into_iter().zip(kinds) {
            let (outcome, result) = match result {
                Ok(o) => (
                    if o.duplicate { "duplicate" } else { "accepted" }.to_owned(),
                    v1::batch_result::Result::Reply(v1::CommandReply {
                        event_id: o.event_id,
                        version: o.version,
                        position: o.position,
                        duplicate: o.duplicate,
                    }),
                ),
                Err(e) => {
                    let status = command_error_status(&e);
                    let meta = |k: &str| {
                        status
                            .metadata()
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let refusal = v1::Refusal {
                        rule: meta("relance-rule"),
                        code: status.code() as i32,
                        message: status.message().to_owned(),
                        field: meta("relance-field"),
                    };
                    (
                        snake_case(&format!("{:?}", status.code())),
                        v1::batch_result::Result::Refusal(refusal),
                    )
                }
            };
            if !batch.dry_run {
                self.metrics.command(kind, &outcome);
            }
            out.push(v1::BatchResult {
                result: Some(result),
            });
        }
        Ok(Response::new(v1::BatchReply { results: out }))
    }
}

/// One entry as a command, checked against the caller's roles as its own RPC would be.
fn entry(
    c: v1::BatchCommand,
    principal: Option<&Principal>,
) -> Result<(CommandMeta, Command), CommandError> {
    use v1::batch_command::Command as C;
    let (permission, path, converted) = match c.command {
        None => {
            return Err(Rejection::invalid(
                "command",
                Rule::RequiredField,
                "a batch entry carries no command",
            )
            .into())
        }
        Some(C::Register(r)) => (Permission::Record, "Register", r.into_command()),
        Some(C::Halt(r)) => (Permission::Record, "Halt", r.into_command()),
        Some(C::Reorient(r)) => (Permission::Record, "Reorient", r.into_command()),
        Some(C::Authorize(r)) => (Permission::Record, "Authorize", r.into_command()),
        Some(C::GrantSupport(r)) => (Permission::Support, "GrantSupport", r.into_command()),
        Some(C::OpenSalesChannel(r)) => (Permission::Record, "OpenSalesChannel", r.into_command()),
        Some(C::Resume(r)) => (Permission::Record, "Resume", r.into_command()),
        Some(C::ReportHeadcount(r)) => (Permission::Record, "ReportHeadcount", r.into_command()),
        Some(C::Retract(r)) => (Permission::Record, "Retract", r.into_command()),
    };
    if let Some(p) = principal.filter(|p| !p.may(permission)) {
        let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
        return Err(Rejection::state(
            Rule::RoleNotAllowed,
            format!(
                "{} ({}) with role(s) {} may not call {path}, in a batch or not",
                p.id,
                p.organisation,
                roles.join(", ")
            ),
        )
        .into());
    }
    Ok(converted?)
}

impl Run<'_> {
    /// The aggregates of every cooperative in the batch: from the cache, or read from the log
    /// `PREFETCH` at a time (one after the other, a thousand new cooperatives on JetStream
    /// cost a thousand round trips before the first decision). A failed read is left for the
    /// entry to meet and answer.
    ///
    /// A cooperative whose first entry registers it is not read: it is taken to be new (an
    /// empty history, marked `cached` so that a refusal is only given after a real read), and
    /// its registration is appended expecting version 0. If it exists after all, the log
    /// refuses that append as a conflict and the entry is decided again on the history read
    /// then (the refusal or the duplicate answer of any other path). An import of a register
    /// so costs one round trip a row instead of two. Never in a dry run, which appends nothing
    /// and so must read.
    async fn prefetch(&mut self) {
        use futures::StreamExt as _;
        let mut missing = Vec::new();
        let mut seen = HashSet::new();
        for p in &self.queue {
            let id = &p.meta.cooperative_id;
            if self.aggs.contains_key(id) || !seen.insert(id.clone()) {
                continue;
            }
            let cached = if self.dry_run {
                None
            } else {
                self.guards
                    .get_mut(&shard_index(id))
                    .and_then(|cache| cache.remove(id))
            };
            match cached {
                Some(agg) => {
                    self.aggs.insert(id.clone(), Working { agg, cached: true });
                }
                None if !self.dry_run && matches!(p.cmd, Command::Register(_)) => {
                    let agg = Aggregate::new();
                    self.aggs.insert(id.clone(), Working { agg, cached: true });
                }
                None => missing.push(id.clone()),
            }
        }
        let handler = self.handler;
        let loaded: Vec<_> = futures::stream::iter(missing)
            .map(|id| async move {
                let agg = handler.load(&id).await;
                (id, agg)
            })
            .buffer_unordered(PREFETCH)
            .collect()
            .await;
        for (id, agg) in loaded {
            if let Ok(agg) = agg {
                self.aggs.insert(id, Working { agg, cached: false });
            }
        }
    }

    async fn run(&mut self) {
        while let Some(p) = self.queue.pop_front() {
            if self.in_round.contains(&p.meta.cooperative_id) {
                self.queue.push_front(p);
                self.flush().await;
                continue;
            }
            self.decide_one(p).await;
        }
        self.flush().await;
    }

    /// The answers, and the aggregates back in the cache (never after a dry run).
    fn finish(mut self) -> Vec<EntryResult> {
        if !self.dry_run {
            let cap = self.handler.cache_per_shard;
            for (id, w) in self.aggs.drain() {
                if let Some(cache) = self.guards.get_mut(&shard_index(&id)) {
                    remember(cache, id, w.agg, cap);
                }
            }
        }
        self.results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(CommandError::Internal(
                        "a batch entry was not answered".into(),
                    ))
                })
            })
            .collect()
    }

    fn answer(&mut self, index: usize, result: EntryResult) {
        self.results[index] = Some(result);
    }

    /// The cooperative's aggregate: the batch's, else the cache's, else the log's.
    async fn working(&mut self, id: &CoopId, fresh: bool) -> Result<&mut Working, CommandError> {
        if fresh || !self.aggs.contains_key(id) {
            let cached = if fresh || self.dry_run {
                None
            } else {
                self.guards
                    .get_mut(&shard_index(id))
                    .and_then(|cache| cache.remove(id))
            };
            let w = match cached {
                Some(agg) => Working { agg, cached: true },
                None => Working {
                    agg: self.handler.load(id).await?,
                    cached: false,
                },
            };
            self.aggs.insert(id.clone(), w);
        }
        self.aggs
            .get_mut(id)
            .ok_or_else(|| CommandError::Internal("aggregate vanished".into()))
    }

    /// Decides one entry: answered at once (duplicate, refusal, dry run) or staged.
    async fn decide_one(&mut self, p: Pending) {
        let id = p.meta.cooperative_id.clone();
        let mut fresh = false;
        loop {
            if let Err(e) = self.working(&id, fresh).await {
                self.aggs.remove(&id);
                return self.answer(p.index, Err(e));
            }
            let now = (self.handler.clock)();
            match self.step(&p, now) {
                Step::Answer(result) => return self.answer(p.index, result),
                Step::Reload => fresh = true,
                Step::Stage(envelope, request) => {
                    self.in_round.insert(id);
                    self.round.push(Staged {
                        pending: p,
                        envelope: *envelope,
                        request,
                    });
                    return;
                }
            }
        }
    }

    /// One decision on the cooperative's working aggregate (loaded by the caller).
    fn step(&mut self, p: &Pending, now: i64) -> Step {
        let id = &p.meta.cooperative_id;
        let Some(w) = self.aggs.get_mut(id) else {
            return Step::Answer(Err(CommandError::Internal("aggregate vanished".into())));
        };
        match w.agg.retry_of(&p.meta.request_id, &p.cmd, &self.actor) {
            Ok(Some(first)) => return Step::Answer(Ok(duplicate_of(first))),
            Err(reused) => return Step::Answer(Err(reused.into())),
            Ok(None) => {}
        }
        let ctx = Context {
            cooperative_id: id.clone(),
            event_id: new_event_id(now),
            request_id: p.meta.request_id.clone(),
            correlation_id: p.meta.correlation_id.clone(),
            recorded_at_ms: now,
            actor: self.actor.clone(),
            expected_version: p.meta.expected_version,
        };
        let envelope = match decide(&w.agg, p.cmd.clone(), &ctx) {
            Ok(e) => e,
            // The cache may be behind the log: a refusal is only given on the log's state.
            Err(_) if w.cached => return Step::Reload,
            Err(rejection) => return Step::Answer(Err(rejection.into())),
        };
        if self.dry_run {
            let outcome = Outcome {
                event_id: String::new(),
                version: envelope.version,
                position: 0,
                duplicate: false,
            };
            w.agg.apply(Recorded {
                position: 0,
                envelope,
            });
            return Step::Answer(Ok(outcome));
        }
        let request = AppendRequest {
            cooperative_id: id.clone(),
            expected_version: w.agg.version(),
            request_id: p.meta.request_id.clone(),
            event_id: envelope.event_id.clone(),
            event_type: envelope.event.type_name().to_owned(),
            schema_version: envelope.schema_version,
            payload: relance_proto::encode_envelope(&envelope),
        };
        Step::Stage(Box::new(envelope), request)
    }

    /// Appends the round; conflicts are decided again (first in the queue) on fresh state.
    async fn flush(&mut self) {
        if self.round.is_empty() {
            return;
        }
        let round = std::mem::take(&mut self.round);
        self.in_round.clear();
        let requests = round.iter().map(|s| s.request.clone()).collect();
        let started = std::time::Instant::now();
        let appended = self.handler.log().append_batch(requests).await;
        self.handler
            .metrics
            .append_seconds
            .observe(started.elapsed().as_secs_f64());
        let mut again = Vec::new();
        for (staged, result) in round.into_iter().zip(appended) {
            if let Some(retry) = self.settle(staged, result).await {
                again.push(retry);
            }
        }
        for p in again.into_iter().rev() {
            self.queue.push_front(p);
        }
    }

    /// One entry's append result: answered, or given back to be decided again.
    async fn settle(
        &mut self,
        staged: Staged,
        result: Result<relance_log::Appended, LogError>,
    ) -> Option<Pending> {
        let Staged {
            pending: p,
            envelope,
            ..
        } = staged;
        let id = p.meta.cooperative_id.clone();
        match result {
            Ok(a) if !a.duplicate => {
                let outcome = Outcome {
                    event_id: envelope.event_id.clone(),
                    version: a.version,
                    position: a.position,
                    duplicate: false,
                };
                if let Some(w) = self.aggs.get_mut(&id) {
                    w.agg.apply(Recorded {
                        position: a.position,
                        envelope,
                    });
                    w.cached = false;
                }
                self.answer(p.index, Ok(outcome));
                None
            }
            Ok(a) => {
                // Written before (a lost answer, another process): the first result.
                let actor = self.actor.clone();
                let outcome = match self.working(&id, true).await {
                    Ok(w) => match w.agg.retry_of(&p.meta.request_id, &p.cmd, &actor) {
                        Ok(Some(first)) => Ok(Outcome {
                            duplicate: first.envelope.event_id != envelope.event_id,
                            ..duplicate_of(first)
                        }),
                        Ok(None) => Ok(Outcome {
                            event_id: String::new(),
                            version: a.version,
                            position: a.position,
                            duplicate: true,
                        }),
                        Err(reused) => Err(reused.into()),
                    },
                    Err(e) => Err(e),
                };
                self.answer(p.index, outcome);
                None
            }
            Err(LogError::Conflict { .. }) => {
                self.handler.metrics.conflicts.inc();
                self.aggs.remove(&id);
                if p.attempt + 1 < self.handler.max_attempts {
                    return Some(Pending {
                        attempt: p.attempt + 1,
                        ..p
                    });
                }
                self.answer(
                    p.index,
                    Err(CommandError::Contended {
                        cooperative_id: id,
                        attempts: self.handler.max_attempts,
                    }),
                );
                None
            }
            Err(e) => {
                self.aggs.remove(&id);
                self.answer(p.index, Err(log_error(e)));
                None
            }
        }
    }
}

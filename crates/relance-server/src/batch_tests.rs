//! The batch path in process, on the embedded log: a conflict met by one entry (another writer
//! got there between decision and append) is decided again on fresh state without sinking the
//! others; a request id repeated inside one batch is answered with the first result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use relance_domain::{Actor, Command, CoopId};
use relance_log::{AppendRequest, Appended, EventLog, EventStream, LogError, StoredEvent};
use relance_log_sled::SledLog;
use relance_proto::{v1, CommandMeta, CommandRequest};

use crate::{CommandError, CommandHandler};

fn meta(coop: &str, request_id: &str) -> Option<v1::CommandMeta> {
    Some(v1::CommandMeta {
        request_id: request_id.into(),
        cooperative_id: coop.into(),
        expected_version: None,
        correlation_id: String::new(),
    })
}

fn register(coop: &str, request_id: &str) -> (CommandMeta, Command) {
    v1::RegisterRequest {
        meta: meta(coop, request_id),
        data: Some(v1::CooperativeRegistered {
            name: format!("Coopérative {coop}"),
            registry_court: "Benguérir".into(),
            registry_number: format!("RC-{coop}"),
            sector: v1::Sector::Agriculture as i32,
            activity: "apiculture".into(),
            commune: "Benguérir".into(),
            members: 10,
            employees: 2,
            registered_on: "2015-01-01".into(),
        }),
    }
    .into_command()
    .expect("valid registration")
}

fn halt(coop: &str, request_id: &str) -> (CommandMeta, Command) {
    v1::HaltRequest {
        meta: meta(coop, request_id),
        data: Some(v1::ActivityHalted {
            authority: "Autorités publiques".into(),
            decision_ref: String::new(),
            effective_on: "2020-03-20".into(),
            reason: "BTP".into(),
            scope: v1::HaltScope::Total as i32,
            workers_affected: 40,
        }),
        legal_basis: None,
    }
    .into_command()
    .expect("valid halt")
}

fn headcount(coop: &str, request_id: &str) -> (CommandMeta, Command) {
    v1::ReportHeadcountRequest {
        meta: meta(coop, request_id),
        data: Some(v1::HeadcountReported {
            members: 11,
            employees: 3,
            as_of: "2020-02-01".into(),
        }),
    }
    .into_command()
    .expect("valid headcount")
}

fn actor() -> Actor {
    Actor {
        principal: "test".into(),
        organisation: "prefecture".into(),
    }
}

/// The embedded log, with another writer recording a headcount on `coop` just before the
/// first batch append.
struct Racing {
    inner: Arc<SledLog>,
    other: CommandHandler,
    coop: &'static str,
    raced: AtomicBool,
}

#[async_trait]
impl EventLog for Racing {
    async fn append(&self, r: AppendRequest) -> Result<Appended, LogError> {
        self.inner.append(r).await
    }
    async fn append_batch(&self, r: Vec<AppendRequest>) -> Vec<Result<Appended, LogError>> {
        if !self.raced.swap(true, Ordering::SeqCst) {
            let (m, c) = headcount(self.coop, "other-writer");
            self.other
                .execute(m, c, actor())
                .await
                .expect("the other writer");
        }
        self.inner.append_batch(r).await
    }
    async fn read_cooperative(&self, id: &CoopId) -> Result<Vec<StoredEvent>, LogError> {
        self.inner.read_cooperative(id).await
    }
    async fn read_from(&self, from: u64, max: usize) -> Result<Vec<StoredEvent>, LogError> {
        self.inner.read_from(from, max).await
    }
    async fn last_position(&self) -> Result<u64, LogError> {
        self.inner.last_position().await
    }
    async fn follow(&self, from: u64) -> Result<EventStream, LogError> {
        self.inner.follow(from).await
    }
    fn backend(&self) -> &'static str {
        "racing"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_inside_a_batch_is_decided_again_and_sinks_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sled = Arc::new(SledLog::open(dir.path()).expect("open"));
    let log = Arc::new(Racing {
        inner: sled.clone(),
        other: CommandHandler::new(sled.clone()),
        coop: "REH-1",
        raced: AtomicBool::new(false),
    });
    let handler = CommandHandler::new(log);
    // Registered through this handler: its aggregate is cached at version 1.
    let (m, c) = register("REH-1", "reg-1");
    handler.execute(m, c, actor()).await.expect("registered");
    let results = handler
        .execute_batch(
            vec![
                Ok(halt("REH-1", "halt-1")),
                Ok(register("REH-2", "reg-2")),
                Err(CommandError::Internal("refused before".into())),
                Ok(register("REH-3", "reg-3")),
                // The same request id again, later in the batch: the first result.
                Ok(register("REH-3", "reg-3")),
            ],
            actor(),
            false,
        )
        .await;
    let ok = |i: usize| match &results[i] {
        Ok(o) => o.clone(),
        Err(e) => panic!("entry {i}: {e}"),
    };
    // The halt met the other writer's headcount, was decided again, and came after it.
    assert_eq!(ok(0).version, 3);
    assert_eq!(ok(1).version, 1);
    assert!(matches!(results[2], Err(CommandError::Internal(_))));
    assert_eq!(ok(3).version, 1);
    assert!(ok(4).duplicate && ok(4).position == ok(3).position);
    let all = sled.read_from(0, 100).await.expect("read");
    assert_eq!(
        all.len(),
        5,
        "registration, headcount, halt, two registrations"
    );
    let reh1: Vec<String> = sled
        .read_cooperative(&CoopId::parse("REH-1").expect("id"))
        .await
        .expect("read")
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        reh1,
        [
            "CooperativeRegistered",
            "HeadcountReported",
            "ActivityHalted"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sees_earlier_entries_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sled = Arc::new(SledLog::open(dir.path()).expect("open"));
    let handler = CommandHandler::new(sled.clone());
    let results = handler
        .execute_batch(
            vec![
                Ok(register("REH-1", "reg-1")),
                Ok(halt("REH-1", "halt-1")),
                Ok(halt("REH-1", "halt-2")),
            ],
            actor(),
            true,
        )
        .await;
    assert_eq!(results[0].as_ref().map(|o| o.version).ok(), Some(1));
    assert_eq!(results[1].as_ref().map(|o| o.version).ok(), Some(2));
    match &results[2] {
        Err(CommandError::Rejected(r)) => assert_eq!(r.rule().name(), "already_halted"),
        other => panic!("{other:?}"),
    }
    assert_eq!(sled.last_position().await.expect("head"), 0);
}

/// A registration in a batch is appended without reading the cooperative first (taken to be
/// new): when it exists after all, the answer is still the one a read would give — the first
/// result for its request id, `already_registered` for another — and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_registration_of_an_existing_cooperative_gets_the_answer_a_read_gives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sled = Arc::new(SledLog::open(dir.path()).expect("open"));
    let (m, c) = register("REH-1", "reg-1");
    let first = CommandHandler::new(sled.clone())
        .execute(m, c, actor())
        .await
        .expect("registered");
    // Another handler: nothing cached, as on another command process or after a restart.
    let handler = CommandHandler::new(sled.clone());
    for dry_run in [true, false] {
        let results = handler
            .execute_batch(
                vec![
                    Ok(register("REH-1", "reg-1")),
                    Ok(register("REH-1", "reg-other")),
                    Ok(register("REH-2", "reg-2")),
                ],
                actor(),
                dry_run,
            )
            .await;
        match &results[0] {
            Ok(o) => assert!(o.duplicate && o.position == first.position, "{o:?}"),
            Err(e) => panic!("the same request again: {e}"),
        }
        match &results[1] {
            Err(CommandError::Rejected(r)) => {
                assert_eq!(r.rule().name(), "already_registered", "dry run {dry_run}")
            }
            other => panic!("another request id, dry run {dry_run}: {other:?}"),
        }
        assert_eq!(results[2].as_ref().map(|o| o.version).ok(), Some(1));
    }
    assert_eq!(
        sled.last_position().await.expect("head"),
        2,
        "REH-1 once, REH-2 once"
    );
}

//! The served views and their rebuild, in process on the embedded log: one rebuild at a time,
//! a wait for a position follows the switch, and the rebuilt views serve what the old ones did.

use std::sync::Arc;
use std::time::Duration;

use relance_domain::Actor;
use relance_log::EventLog;
use relance_log_sled::SledLog;
use relance_proto::{v1, CommandRequest as _};

use crate::views::{RebuildError, RebuildProgress, RebuildState, Views};
use crate::CommandHandler;

fn actor() -> Actor {
    Actor {
        principal: "test".into(),
        organisation: "prefecture".into(),
    }
}

async fn register(handler: &CommandHandler, i: usize) -> u64 {
    let (m, c) = v1::RegisterRequest {
        meta: Some(v1::CommandMeta {
            request_id: format!("reg-{i}"),
            cooperative_id: format!("REH-{i}"),
            expected_version: None,
            correlation_id: String::new(),
        }),
        data: Some(v1::CooperativeRegistered {
            name: format!("Coopérative {i}"),
            registry_court: "Benguérir".into(),
            registry_number: format!("RC-{i}"),
            sector: v1::Sector::Agriculture as i32,
            activity: "apiculture".into(),
            commune: "Benguérir".into(),
            members: 10,
            employees: 2,
            registered_on: "2015-01-01".into(),
        }),
    }
    .into_command()
    .expect("valid registration");
    handler
        .execute(m, c, actor())
        .await
        .expect("registered")
        .position
}

async fn switched(views: &Views) -> RebuildProgress {
    for _ in 0..200 {
        match views.rebuild_progress() {
            Some(p) if p.state != RebuildState::Running => return p,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("the rebuild did not end: {:?}", views.rebuild_progress());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rebuild_at_a_time_and_a_wait_for_a_position_follows_the_switch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log: Arc<dyn EventLog> = Arc::new(SledLog::open(dir.path().join("log")).expect("log"));
    let handler = CommandHandler::new(log.clone());
    let mut last = 0;
    for i in 1..=20 {
        last = register(&handler, i).await;
    }
    let views = Views::open(log.clone(), &dir.path().join("projection")).expect("views");
    let serving = views.serving();
    serving
        .wait_for(last, Duration::from_secs(10))
        .await
        .expect("caught up");
    let before = serving.current();
    let digest = before.digest().expect("digest");

    let started = views.rebuild().expect("a rebuild starts");
    assert_eq!(started.state, RebuildState::Running);
    match views.rebuild() {
        Err(RebuildError::Running(dir)) => assert_eq!(dir, started.directory.display().to_string()),
        other => panic!("a second rebuild while one runs: {other:?}"),
    }
    // Asked before the switch, answered by the rebuilt views after it.
    let waiting = {
        let serving = serving.clone();
        tokio::spawn(async move { serving.wait_for(last + 1, Duration::from_secs(20)).await })
    };
    let done = switched(&views).await;
    assert_eq!(done.state, RebuildState::Switched, "{done:?}");
    assert_eq!(done.position, last);
    assert_eq!(done.seconds_left(), Some(0));
    let after = serving.current();
    assert!(
        !Arc::ptr_eq(&before, &after),
        "the rebuilt views are served"
    );
    assert_eq!(after.digest().expect("digest"), digest);
    // What is served is the compacted copy; the views it was copied from are gone.
    assert_ne!(done.directory, started.directory);
    assert!(done.directory.is_dir() && !started.directory.exists());
    drop(before);

    let next = register(&handler, 21).await;
    assert_eq!(next, last + 1);
    assert_eq!(waiting.await.expect("join"), Ok(next));
    assert!(after.get("REH-21").expect("get").is_some());
    views
        .rebuild()
        .expect("another rebuild once the first switched");
    assert_eq!(switched(&views).await.state, RebuildState::Switched);
    views.shutdown().await.expect("shutdown");
}

#[test]
fn time_left_comes_from_the_rate_and_is_unknown_without_one() {
    let mut p = RebuildProgress {
        state: RebuildState::Running,
        directory: "projection.1".into(),
        position: 1_000,
        target: 11_000,
        events_per_second: 2_000.0,
        started_at_unix_ms: 0,
        finished_at_unix_ms: 0,
    };
    assert_eq!(p.seconds_left(), Some(5));
    p.events_per_second = 0.0;
    assert_eq!(p.seconds_left(), None);
    p.state = RebuildState::Failed("stopped".into());
    assert_eq!(p.seconds_left(), None, "a failed rebuild has no time left");
}

//! The conformance suite: behaviour every [`EventLog`] backend must show, written once.
//!
//! A backend's test crate implements [`Harness`] (how to open its log and restart it on the
//! same storage) and expands [`conformance_tests!`](crate::conformance_tests) to get one
//! test per case.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use relance_domain::CoopId;

use crate::{AppendRequest, EventLog, LogError};

/// How a backend's tests open its log.
#[async_trait]
pub trait Harness: Send {
    type Log: EventLog;
    /// Opens the log on this harness's storage.
    async fn open(&mut self) -> Arc<Self::Log>;
    /// Closes `log` (the only handle left) and opens it again on the same storage.
    async fn restart(&mut self, log: Arc<Self::Log>) -> Arc<Self::Log>;
}

/// Expands to one `#[tokio::test]` per conformance case, each with a fresh harness.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            first_append_is_version_1_at_a_positive_position,
            read_cooperative_returns_only_its_events_in_version_order,
            read_from_returns_every_event_in_position_order,
            stale_expected_version_is_a_conflict_and_writes_nothing,
            repeated_request_id_answers_the_first_result_and_writes_nothing,
            request_ids_are_scoped_to_the_cooperative,
            duplicate_is_recognised_after_a_restart,
            acknowledged_events_survive_a_restart,
            follow_delivers_stored_then_live_events,
            concurrent_writers_on_one_cooperative_never_both_win,
            last_position_tracks_the_head,
            append_batch_answers_each_entry_in_order,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let mut harness = $make;
                $crate::conformance::$case(&mut harness).await;
            }
        )+
    };
}

fn coop(id: &str) -> CoopId {
    CoopId::parse(id).expect("test ids are valid")
}

/// A request for `coop` at `expected` with a distinct payload.
pub fn request(coop_id: &str, expected: u64, request_id: &str) -> AppendRequest {
    AppendRequest {
        cooperative_id: coop(coop_id),
        expected_version: expected,
        request_id: request_id.to_owned(),
        event_id: format!("evt-{coop_id}-{request_id}"),
        event_type: "HeadcountReported".to_owned(),
        schema_version: 1,
        payload: format!("payload {coop_id} {request_id}").into_bytes(),
    }
}

async fn append_ok<L: EventLog>(log: &L, coop_id: &str, request_id: &str) -> crate::Appended {
    let current = log.read_cooperative(&coop(coop_id)).await.expect("read");
    let v = current.last().map_or(0, |e| e.version);
    log.append(request(coop_id, v, request_id))
        .await
        .expect("append")
}

pub async fn first_append_is_version_1_at_a_positive_position<H: Harness>(h: &mut H) {
    let log = h.open().await;
    let a = log.append(request("REH-1", 0, "r1")).await.expect("append");
    assert_eq!(a.version, 1);
    assert!(a.position >= 1);
    assert!(!a.duplicate);
}

pub async fn read_cooperative_returns_only_its_events_in_version_order<H: Harness>(h: &mut H) {
    let log = h.open().await;
    for i in 0..3 {
        append_ok(&*log, "REH-1", &format!("a{i}")).await;
        append_ok(&*log, "REH-10", &format!("b{i}")).await;
    }
    let events = log.read_cooperative(&coop("REH-1")).await.expect("read");
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(events.iter().all(|e| e.cooperative_id.as_str() == "REH-1"));
    assert!(events.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(events[1].payload, b"payload REH-1 a1".to_vec());
    assert_eq!(events[1].request_id, "a1");
    assert_eq!(events[1].event_id, "evt-REH-1-a1");
    assert_eq!(events[1].event_type, "HeadcountReported");
    assert!(log
        .read_cooperative(&coop("REH-2"))
        .await
        .expect("read")
        .is_empty());
}

pub async fn read_from_returns_every_event_in_position_order<H: Harness>(h: &mut H) {
    let log = h.open().await;
    let mut positions = Vec::new();
    for i in 0..5 {
        positions.push(
            append_ok(&*log, &format!("C{}", i % 2), &format!("r{i}"))
                .await
                .position,
        );
    }
    let all = log.read_from(0, 100).await.expect("read");
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        positions
    );
    let tail = log.read_from(positions[2], 100).await.expect("read");
    assert_eq!(
        tail.iter().map(|e| e.position).collect::<Vec<_>>(),
        positions[2..].to_vec()
    );
    let two = log.read_from(positions[1], 2).await.expect("read");
    assert_eq!(two.len(), 2);
    assert!(log
        .read_from(positions[4] + 1, 10)
        .await
        .expect("read")
        .is_empty());
}

pub async fn stale_expected_version_is_a_conflict_and_writes_nothing<H: Harness>(h: &mut H) {
    let log = h.open().await;
    append_ok(&*log, "REH-1", "r1").await;
    append_ok(&*log, "REH-1", "r2").await;
    let err = log
        .append(request("REH-1", 1, "r3"))
        .await
        .expect_err("stale");
    assert!(
        matches!(
            err,
            LogError::Conflict {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let err = log
        .append(request("REH-9", 3, "r4"))
        .await
        .expect_err("ahead");
    assert!(
        matches!(
            err,
            LogError::Conflict {
                expected: 3,
                actual: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(log.read_from(0, 100).await.expect("read").len(), 2);
}

pub async fn repeated_request_id_answers_the_first_result_and_writes_nothing<H: Harness>(
    h: &mut H,
) {
    let log = h.open().await;
    let first = log
        .append(request("REH-1", 0, "same"))
        .await
        .expect("append");
    // A retry, as a client would send it: same request id, same expectation.
    let again = log
        .append(request("REH-1", 0, "same"))
        .await
        .expect("retry");
    assert_eq!(
        (again.position, again.version, again.duplicate),
        (first.position, first.version, true)
    );
    // Even when the cooperative moved on since, the answer is the first result, not a conflict.
    append_ok(&*log, "REH-1", "other").await;
    let late = log
        .append(request("REH-1", 0, "same"))
        .await
        .expect("late retry");
    assert_eq!(
        (late.position, late.version, late.duplicate),
        (first.position, 1, true)
    );
    assert_eq!(log.read_from(0, 100).await.expect("read").len(), 2);
}

pub async fn request_ids_are_scoped_to_the_cooperative<H: Harness>(h: &mut H) {
    let log = h.open().await;
    let a = log.append(request("REH-1", 0, "r")).await.expect("append");
    let b = log.append(request("REH-2", 0, "r")).await.expect("append");
    assert!(!a.duplicate && !b.duplicate);
    assert_ne!(a.position, b.position);
}

pub async fn duplicate_is_recognised_after_a_restart<H: Harness>(h: &mut H) {
    let log = h.open().await;
    let first = log.append(request("REH-1", 0, "r1")).await.expect("append");
    let log = h.restart(log).await;
    let again = log.append(request("REH-1", 0, "r1")).await.expect("retry");
    assert!(again.duplicate);
    assert_eq!(again.position, first.position);
    assert_eq!(log.read_from(0, 100).await.expect("read").len(), 1);
}

pub async fn acknowledged_events_survive_a_restart<H: Harness>(h: &mut H) {
    let log = h.open().await;
    let mut acked = Vec::new();
    for i in 0..20 {
        acked.push(
            append_ok(&*log, &format!("C{}", i % 3), &format!("r{i}"))
                .await
                .position,
        );
    }
    let log = h.restart(log).await;
    let all = log.read_from(0, 100).await.expect("read");
    assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), acked);
    assert_eq!(
        log.last_position().await.expect("head"),
        *acked.last().expect("some")
    );
    // Appends carry on after the restart, at the next version.
    let next = append_ok(&*log, "C0", "after").await;
    assert_eq!(next.version, 8);
    assert!(next.position > *acked.last().expect("some"));
}

pub async fn follow_delivers_stored_then_live_events<H: Harness>(h: &mut H) {
    let log = h.open().await;
    let p1 = append_ok(&*log, "REH-1", "r1").await.position;
    let p2 = append_ok(&*log, "REH-1", "r2").await.position;
    let mut stream = log.follow(p2).await.expect("follow");
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("in time");
    assert_eq!(first.expect("item").expect("ok").position, p2);
    let writer = log.clone();
    let live = tokio::spawn(async move { append_ok(&*writer, "REH-2", "r3").await.position });
    let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("in time");
    let p3 = live.await.expect("join");
    let next = next.expect("item").expect("ok");
    assert_eq!(next.position, p3);
    assert_eq!(next.cooperative_id.as_str(), "REH-2");
    assert!(p1 < p2 && p2 < p3);
}

pub async fn concurrent_writers_on_one_cooperative_never_both_win<H: Harness>(h: &mut H) {
    let log = h.open().await;
    append_ok(&*log, "REH-1", "reg").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append(request("REH-1", 1, &format!("w{i}"))).await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(a) => {
                assert_eq!(a.version, 2);
                wins += 1;
            }
            Err(LogError::Conflict { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(wins, 1, "exactly one writer at version 1 may win");
    let events = log.read_cooperative(&coop("REH-1")).await.expect("read");
    assert_eq!(
        events.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

pub async fn last_position_tracks_the_head<H: Harness>(h: &mut H) {
    let log = h.open().await;
    assert_eq!(log.last_position().await.expect("head"), 0);
    let a = append_ok(&*log, "REH-1", "r1").await;
    assert_eq!(log.last_position().await.expect("head"), a.position);
    let b = append_ok(&*log, "REH-2", "r1").await;
    assert_eq!(log.last_position().await.expect("head"), b.position);
}

/// A batch with good entries, a stale one and a repeated request id: each answered as its own
/// append would be, in order; the conflict sinks nothing else.
pub async fn append_batch_answers_each_entry_in_order<H: Harness>(h: &mut H) {
    let log = h.open().await;
    let reg = append_ok(&*log, "REH-1", "reg").await;
    append_ok(&*log, "REH-1", "second").await;
    let results = log
        .append_batch(vec![
            request("REH-2", 0, "a"),
            // Stale: REH-1 is at version 2.
            request("REH-1", 1, "stale"),
            request("REH-3", 0, "b"),
            // Already appended: the first result.
            request("REH-1", 0, "reg"),
            request("REH-4", 0, "c"),
        ])
        .await;
    assert_eq!(results.len(), 5);
    let ok = |i: usize| results[i].as_ref().expect("accepted").to_owned();
    assert_eq!((ok(0).version, ok(0).duplicate), (1, false));
    assert!(
        matches!(
            results[1],
            Err(LogError::Conflict {
                expected: 1,
                actual: 2,
                ..
            })
        ),
        "{:?}",
        results[1]
    );
    assert_eq!((ok(2).version, ok(2).duplicate), (1, false));
    assert_eq!(
        (ok(3).position, ok(3).version, ok(3).duplicate),
        (reg.position, 1, true)
    );
    assert_eq!((ok(4).version, ok(4).duplicate), (1, false));
    let positions = [ok(0).position, ok(2).position, ok(4).position];
    assert!(positions.iter().all(|p| *p > reg.position));
    // Durable and readable once answered: two events before, three from the batch.
    let all = log.read_from(0, 100).await.expect("read");
    assert_eq!(all.len(), 5);
    let mut written: Vec<u64> = all.iter().skip(2).map(|e| e.position).collect();
    written.sort_unstable();
    let mut expected = positions.to_vec();
    expected.sort_unstable();
    assert_eq!(written, expected);
    assert_eq!(
        log.read_cooperative(&coop("REH-1"))
            .await
            .expect("read")
            .len(),
        2
    );
    // An empty batch is answered with nothing.
    assert!(log.append_batch(Vec::new()).await.is_empty());
}

//! The views depend only on the events: not on batching, restarts, repeats, or on the views
//! that existed before.

use proptest::prelude::*;
use proptest::sample::Index;
use relance_domain::CoopState;
use relance_log::{EventLog, StoredEvent};
use relance_log_sled::SledLog;
use relance_projection::{Filter, Projection, MAX_BATCH};

use crate::stream::{op, random_history, realistic, Op, RANDOM_COOPS};
use crate::{
    append_to_log, expected_states, expected_summary, open, reopen, replay_from_log, wait_released,
    Views,
};

/// Splits `0..len` into consecutive ranges whose lengths cycle through `sizes`.
fn batches(len: usize, sizes: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < len {
        let end = (start + sizes[out.len() % sizes.len()]).min(len);
        out.push((start, end));
        start = end;
    }
    out
}

fn views_of(p: &Projection, id: &str) -> Option<CoopState> {
    p.get(id).expect("read a view")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Batches of arbitrary sizes, each overlapping already applied events, with the views
    /// reopened at an arbitrary point, end where one batch in a fresh directory ends; and
    /// applying again what is at or below the checkpoint never changes a byte.
    #[test]
    fn batched_application_with_a_restart_equals_one_batch_and_never_applies_an_event_twice(
        ops in prop::collection::vec(op(), 1..40),
        sizes in prop::collection::vec(1usize..8, 1..6),
        overlap in 0usize..4,
        restart in any::<Index>(),
    ) {
        let events = random_history(&ops).into_events();
        check_batched_equals_whole(&ops, &events, &sizes, overlap, restart)?;
    }
}

fn check_batched_equals_whole(
    ops: &[Op],
    events: &[StoredEvent],
    sizes: &[usize],
    overlap: usize,
    restart: Index,
) -> Result<(), TestCaseError> {
    prop_assert!(
        !events.is_empty(),
        "the first op registers a cooperative: {ops:?}"
    );
    let bounds = batches(events.len(), sizes);
    let restart_before = restart.index(bounds.len() + 1);

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("views");
    let mut batched = open(&path);
    for (i, &(start, end)) in bounds.iter().enumerate() {
        if i == restart_before {
            drop(batched);
            batched = reopen(&path);
            let applied = start.checked_sub(1).map_or(0, |last| events[last].position);
            prop_assert_eq!(
                batched.checkpoint(),
                applied,
                "checkpoint survives the restart"
            );
        }
        batched
            .apply(&events[start.saturating_sub(overlap)..end])
            .expect("apply a batch");
        let checkpoint = events[end - 1].position;
        prop_assert_eq!(batched.checkpoint(), checkpoint);

        // Everything at or below the checkpoint, again: skipped, byte for byte.
        let digest = batched.digest().expect("digest");
        let summary = batched.summary();
        batched
            .apply(&events[..end])
            .expect("re-apply the applied prefix");
        batched
            .apply(&events[end - 1..end])
            .expect("re-apply the last event");
        prop_assert_eq!(
            batched.digest().expect("digest"),
            digest,
            "re-applying changed the views"
        );
        prop_assert_eq!(batched.summary(), summary);
        prop_assert_eq!(batched.checkpoint(), checkpoint);
    }
    if restart_before == bounds.len() {
        drop(batched);
        batched = reopen(&path);
    }

    let whole = Views::replayed(events);
    prop_assert_eq!(
        batched.digest().expect("digest"),
        whole.digest().expect("digest")
    );
    prop_assert_eq!(batched.summary(), whole.summary());
    let states = expected_states(events);
    prop_assert_eq!(whole.summary(), expected_summary(&states));
    for id in RANDOM_COOPS {
        prop_assert_eq!(
            views_of(&batched, id),
            views_of(&whole, id),
            "view of {}",
            id
        );
        prop_assert_eq!(
            views_of(&whole, id),
            states.get(id).cloned(),
            "view of {} against fold",
            id
        );
        prop_assert_eq!(
            batched.history(id).expect("history"),
            whole.history(id).expect("history"),
            "history of {}",
            id
        );
    }
    let all = Filter::default();
    prop_assert_eq!(
        batched.list(&all, 100, None).expect("list"),
        whole.list(&all, 100, None).expect("list")
    );
    Ok(())
}

#[tokio::test]
async fn deleting_the_views_and_replaying_the_embedded_log_gives_the_same_digest() {
    let events = realistic().builder.into_events();
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = SledLog::open(dir.path().join("log")).expect("open the embedded log");
    append_to_log(&log, &events).await;
    let read_back = log.read_from(1, usize::MAX).await.expect("read the log");
    assert_eq!(read_back, events, "the log returns the events as generated");

    let path = dir.path().join("views");
    let projection = open(&path);
    let empty = projection.digest().expect("digest");
    replay_from_log(&projection, &log, 5).await;
    let digest = projection.digest().expect("digest");
    assert_ne!(digest, empty, "the history changed the views");
    assert_eq!(digest, Views::replayed(&events).digest().expect("digest"));

    drop(projection);
    wait_released(&path);
    std::fs::remove_dir_all(&path).expect("delete the views");
    let projection = open(&path);
    assert_eq!(
        projection.checkpoint(),
        0,
        "fresh views start from the beginning"
    );
    assert_eq!(projection.digest().expect("digest"), empty);
    replay_from_log(&projection, &log, MAX_BATCH).await;
    assert_eq!(
        projection.digest().expect("digest"),
        digest,
        "replay rebuilt the same bytes"
    );
    crate::assert_views_are_those_of(&projection, &events);
}

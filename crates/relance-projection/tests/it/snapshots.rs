//! Summary snapshots (`Projection::set_snapshot_every`): views over the log answer SummaryAt
//! from the latest snapshot that serves and the events after it, and the answer is the full
//! fold's at any position and any recording time, with recording times that do not grow with
//! the position, retractions of events before a snapshot, and views that kept no snapshot.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;
use relance_domain::{AsOf, CoopId, Recorded, SupportKind};
use relance_log::{AppendRequest, EventLog, StoredEvent};
use relance_log_sled::SledLog;
use relance_projection::{LogHistory, Projection, SummaryAt};

use crate::stream::{
    grant, op, partner, prefecture, random_history_from, realistic, register, retract,
    HistoryBuilder, BENGUERIR, INDH, SKHOUR,
};
use crate::{expected_states, expected_summary, Views};

/// An embedded log holding `events`, and the directory of views over it.
struct Node {
    runtime: tokio::runtime::Runtime,
    log: Arc<SledLog>,
    dir: tempfile::TempDir,
}

impl Node {
    fn new(events: &[StoredEvent]) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = Arc::new(SledLog::open(dir.path().join("log")).expect("open the embedded log"));
        runtime.block_on(append_all(log.as_ref(), events));
        Self { runtime, log, dir }
    }

    fn views_dir(&self) -> PathBuf {
        self.dir.path().join("views")
    }

    /// Opens the views over the log, writing a snapshot every `every` events.
    fn open(&self, every: u64) -> Arc<Projection> {
        self.open_at(&self.views_dir(), every)
    }

    /// Opens the views in `dir` over the log, writing a snapshot every `every` events.
    fn open_at(&self, dir: &std::path::Path, every: u64) -> Arc<Projection> {
        let history = {
            let _in_runtime = self.runtime.enter();
            Arc::new(LogHistory::new(self.log.clone()))
        };
        let projection = Projection::open_over_log(dir, history).expect("open views over the log");
        projection
            .set_snapshot_every(every)
            .expect("set the interval");
        projection
    }

    /// Applies the log's events `size` at a time, up to position `until`.
    fn follow(&self, projection: &Projection, size: usize, until: u64) {
        loop {
            let from = projection.checkpoint() + 1;
            let mut batch = self
                .runtime
                .block_on(self.log.read_from(from, size))
                .expect("read the log");
            batch.retain(|e| e.position <= until);
            if batch.is_empty() {
                return;
            }
            projection.apply(&batch).expect("apply a batch");
        }
    }

    /// Removes the snapshots of the views (closed), as views written before snapshots existed;
    /// returns how many snapshots there were.
    fn remove_snapshots(&self) -> usize {
        crate::wait_released(&self.views_dir());
        let db = relance_log_sled::open_db_with_cache(&self.views_dir(), 1 << 20)
            .expect("open the views' database");
        let tree = db.open_tree("views").expect("the views' tree");
        let mut marks = 0;
        for kv in tree.iter() {
            let (k, _) = kv.expect("read a key");
            if k.as_ref() == b"m:snapshots" || (k.len() == 9 && matches!(k[0], b's' | b'S')) {
                marks += usize::from(k[0] == b's');
                tree.remove(k).expect("remove a snapshot key");
            }
        }
        db.flush().expect("flush");
        marks
    }
}

/// Appends `events` to `log` in turn, each at its cooperative's next version (whatever its
/// payload says).
async fn append_all(log: &dyn EventLog, events: &[StoredEvent]) {
    let mut versions: HashMap<CoopId, u64> = HashMap::new();
    for e in events {
        let version = versions.entry(e.cooperative_id.clone()).or_default();
        log.append(AppendRequest {
            cooperative_id: e.cooperative_id.clone(),
            expected_version: *version,
            request_id: e.request_id.clone(),
            event_id: e.event_id.clone(),
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            payload: e.payload.clone(),
        })
        .await
        .expect("append to the log");
        *version += 1;
    }
}

/// A fixed history of `ops` commands over the four random cooperatives, every kind of command
/// in turn (retractions included), recorded by three clocks that disagree.
fn skewed_history(ops: u32) -> Vec<StoredEvent> {
    let ops: Vec<_> = (0..ops)
        .map(|i| crate::stream::Op {
            coop: (i % 4) as usize,
            kind: (i % 9) as u8,
            a: i.wrapping_mul(2_654_435_761),
            b: i.wrapping_mul(40_503),
        })
        .collect();
    random_history_from(HistoryBuilder::skewed(vec![0, 300_000, -300_000]), &ops).into_events()
}

/// What the full fold of `events` knows at `at`: the sum of each cooperative's state folded
/// from its events known then, and the last position known.
fn full_fold(events: &[StoredEvent], at: &AsOf) -> SummaryAt {
    let known: Vec<StoredEvent> = events
        .iter()
        .filter(|e| {
            let envelope = relance_proto::decode_envelope(&e.payload).expect("payloads decode");
            at.includes(&Recorded {
                position: e.position,
                envelope,
            })
        })
        .cloned()
        .collect();
    SummaryAt {
        summary: expected_summary(&expected_states(&known)),
        position: known.last().map_or(0, |e| e.position),
    }
}

/// The recording time of every event, sorted, with one before the first.
fn recording_times(events: &[StoredEvent]) -> Vec<i64> {
    let mut times: Vec<i64> = events
        .iter()
        .map(|e| {
            relance_proto::decode_envelope(&e.payload)
                .expect("payloads decode")
                .recorded_at_ms
        })
        .collect();
    times.sort_unstable();
    times.insert(0, times.first().map_or(0, |t| t - 1));
    times
}

/// SummaryAt of views over the log with snapshots equals the views keeping histories and the
/// full fold at every point of `points`.
fn assert_summaries(
    over: &Projection,
    kept: &Projection,
    events: &[StoredEvent],
    points: &[AsOf],
) -> Result<(), TestCaseError> {
    for at in points {
        let answer = over.summary_at(at).expect("summary from snapshots");
        prop_assert_eq!(
            &answer,
            &kept.summary_at(at).expect("summary kept"),
            "at {:?}",
            at
        );
        prop_assert_eq!(&answer, &full_fold(events, at), "full fold at {:?}", at);
    }
    Ok(())
}

/// Every point by position alone, by recording time alone, and by both, from the picks.
fn points(events: &[StoredEvent], picks: &[(Index, Index)]) -> Vec<AsOf> {
    let last = events.last().map_or(0, |e| e.position);
    let times = recording_times(events);
    picks
        .iter()
        .flat_map(|(p, t)| {
            let position = Some(p.index(last as usize + 2) as u64);
            let recorded_at_ms = Some(*t.get(&times));
            [
                AsOf {
                    position,
                    ..AsOf::default()
                },
                AsOf {
                    recorded_at_ms,
                    ..AsOf::default()
                },
                AsOf {
                    position,
                    recorded_at_ms,
                    ..AsOf::default()
                },
            ]
        })
        .chain([AsOf::default()])
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random histories of several cooperatives (retractions included) recorded by clocks that
    /// disagree, applied in batches of any size with a snapshot every few events: SummaryAt
    /// over the log is the full fold at random positions, random recording times and both.
    #[test]
    fn summary_at_from_snapshots_is_the_full_fold(
        ops in prop::collection::vec(op(), 1..60),
        skew in prop::collection::vec(-900_000i64..900_000, 1..6),
        size in 1usize..9,
        every in 3u64..8,
        picks in prop::collection::vec((any::<Index>(), any::<Index>()), 1..6),
    ) {
        let events = random_history_from(HistoryBuilder::skewed(skew), &ops).into_events();
        let kept = Views::replayed(&events);
        let node = Node::new(&events);
        let over = node.open(every);
        node.follow(&over, size, u64::MAX);
        assert_summaries(&over, &kept, &events, &points(&events, &picks))?;
        prop_assert_eq!(kept.digest().expect("digest kept"), over.digest().expect("digest over the log"));
    }
}

/// StateAt and SummaryAt at every position and every recording time of the realistic province,
/// with a snapshot every four events in batches of three, are those of views keeping histories.
#[test]
fn state_and_summary_at_across_snapshot_boundaries_are_unchanged() {
    let events = realistic().builder.into_events();
    let kept = Views::replayed(&events);
    let node = Node::new(&events);
    let over = node.open(4);
    node.follow(&over, 3, u64::MAX);
    let last = events.last().map_or(0, |e| e.position);
    let mut points: Vec<AsOf> = (0..=last + 1)
        .map(|p| AsOf {
            position: Some(p),
            ..AsOf::default()
        })
        .collect();
    points.extend(recording_times(&events).into_iter().map(|t| AsOf {
        recorded_at_ms: Some(t),
        ..AsOf::default()
    }));
    for at in &points {
        for id in ["REH-0001", "REH-0002", "REH-0003", "REH-0004", "NONE-1"] {
            assert_eq!(
                over.state_at(id, at).expect("state over the log"),
                kept.state_at(id, at).expect("state kept"),
                "state of {id} at {at:?}"
            );
        }
    }
    assert_summaries(&over, &kept, &events, &points).expect("the same summaries");
}

/// A grant recorded before a snapshot and retracted after it: the summary counts it up to the
/// retraction and not from then on, as the full fold does.
#[test]
fn a_retraction_after_a_snapshot_of_an_event_before_it_is_counted() {
    let mut b = HistoryBuilder::new();
    let pref = prefecture();
    let on = crate::stream::date("2020-04-01");
    let coop = |id: &str, commune: &str| {
        register(
            id,
            relance_domain::Sector::Artisanat,
            "couture",
            commune,
            10,
            2,
            crate::stream::date("2018-01-01"),
        )
    };
    b.record("COOP-A", &pref, coop("COOP-A", BENGUERIR));
    let grant_id = b.record(
        "COOP-A",
        &partner(INDH),
        grant(INDH, SupportKind::Financial, Some(2_000_000), on),
    );
    b.record("COOP-B", &pref, coop("COOP-B", SKHOUR));
    b.record("COOP-C", &pref, coop("COOP-C", SKHOUR));
    b.record("COOP-A", &pref, retract(&grant_id, "saisie en double"));
    b.record("COOP-D", &pref, coop("COOP-D", BENGUERIR));
    let events = b.into_events();
    let kept = Views::replayed(&events);
    let node = Node::new(&events);
    let over = node.open(3);
    node.follow(&over, 1, u64::MAX);
    let at = |p: u64| AsOf {
        position: Some(p),
        ..AsOf::default()
    };
    let before = over.summary_at(&at(4)).expect("before the retraction");
    let after = over.summary_at(&at(5)).expect("after the retraction");
    assert!(before.summary.support.contains_key(INDH), "{before:?}");
    assert!(!after.summary.support.contains_key(INDH), "{after:?}");
    let points: Vec<AsOf> = (0..=7).map(at).collect();
    assert_summaries(&over, &kept, &events, &points).expect("the same summaries");
}

/// Views that applied events before they kept snapshots (their snapshots removed) answer
/// SummaryAt by the full fold, write no snapshot when they go on, and still answer it exactly.
#[test]
fn views_without_snapshots_still_answer_and_write_none() {
    let events = skewed_history(48);
    let kept = Views::replayed(&events);
    let node = Node::new(&events);
    let half = events.len() as u64 / 2;
    {
        let over = node.open(3);
        node.follow(&over, 2, half);
    }
    assert!(node.remove_snapshots() > 0, "snapshots were written");
    let times = recording_times(&events);
    let picks: Vec<AsOf> = (0..=events.len() as u64 + 1)
        .zip(times.iter().cycle())
        .flat_map(|(p, &t)| {
            [
                AsOf {
                    position: Some(p),
                    ..AsOf::default()
                },
                AsOf {
                    recorded_at_ms: Some(t),
                    position: Some(p),
                    ..AsOf::default()
                },
            ]
        })
        .collect();
    {
        let over = node.open(3);
        node.follow(&over, 2, u64::MAX);
        assert_summaries(&over, &kept, &events, &picks).expect("the same summaries");
        assert_eq!(
            over.digest().expect("digest"),
            kept.digest().expect("digest")
        );
    }
    assert_eq!(node.remove_snapshots(), 0, "no snapshot written");
}

/// A log with poison (bytes that are no envelope under a cooperative, which quarantine it and
/// leave its later events unapplied; an envelope stored under another cooperative): SummaryAt
/// from snapshots is what views without snapshots answer by folding every history.
#[test]
fn poison_and_quarantine_after_snapshots_answer_as_the_full_fold() {
    let events = realistic().builder.into_events();
    let half = events.len() / 2;
    let mut log = events.clone();
    let poison = |coop: &str, n: u32, payload: Vec<u8>| StoredEvent {
        cooperative_id: CoopId::parse(coop).expect("valid id"),
        event_id: format!("poison-{n}"),
        request_id: format!("poison-request-{n}"),
        payload,
        ..events[0].clone()
    };
    log.insert(half, poison("REH-0002", 1, vec![0xff, 0xff, 0x01]));
    log.push(poison("ZZZ-8", 2, events[0].payload.clone()));
    let from_snapshots = Node::new(&log);
    let folded = Node::new(&log);
    let with = from_snapshots.open(3);
    from_snapshots.follow(&with, 2, u64::MAX);
    {
        let views = folded.open(3);
        folded.follow(&views, 2, u64::MAX);
    }
    assert!(folded.remove_snapshots() > 0, "snapshots were written");
    let without = folded.open(3);
    assert!(
        with.quarantine("REH-0002").expect("read").is_some(),
        "REH-0002 is quarantined"
    );
    let last = with.checkpoint();
    assert_eq!(last, log.len() as u64);
    let mut points: Vec<AsOf> = (0..=last + 1)
        .map(|p| AsOf {
            position: Some(p),
            ..AsOf::default()
        })
        .collect();
    points.extend(recording_times(&events).into_iter().map(|t| AsOf {
        recorded_at_ms: Some(t),
        ..AsOf::default()
    }));
    for at in &points {
        assert_eq!(
            with.summary_at(at).expect("summary from snapshots"),
            without.summary_at(at).expect("summary folded"),
            "at {at:?}"
        );
    }
    assert_eq!(
        with.digest().expect("digest"),
        without.digest().expect("digest")
    );
}

/// Views compacted into a fresh directory (how a rebuild ends, `Projection::compact_into`)
/// answer every query as the views they copy (digest, tree head, chain heads, views,
/// histories, StateAt and SummaryAt from the copied snapshots), then go on following the log
/// from their checkpoint to the same place; a copy into views that hold records is refused.
#[test]
fn compacted_views_answer_as_the_views_they_copy_and_go_on() {
    let events = skewed_history(90);
    let node = Node::new(&events);
    let half = events.len() as u64 / 2;
    let over = node.open(3);
    node.follow(&over, 2, half);
    let to = node.dir.path().join("compacted");
    let copy = over.compact_into(&to).expect("compact the views");
    assert_eq!(copy.position, half);
    assert!(copy.records > 0 && copy.bytes > 0, "{copy:?}");
    let refused = over
        .compact_into(&to)
        .expect_err("a copy into views that hold records");
    assert!(
        refused.to_string().contains("already holds views"),
        "{refused}"
    );
    let compacted = node.open_at(&to, 3);
    let ids: std::collections::BTreeSet<String> = events
        .iter()
        .map(|e| e.cooperative_id.to_string())
        .collect();
    let same = |a: &Projection, b: &Projection, last: u64| {
        assert_eq!(a.checkpoint(), b.checkpoint());
        assert_eq!(a.digest().expect("digest"), b.digest().expect("digest"));
        assert_eq!(a.tree_head().expect("tree"), b.tree_head().expect("tree"));
        assert_eq!(a.summary(), b.summary());
        assert_eq!(
            a.heads_at_checkpoint().expect("heads"),
            b.heads_at_checkpoint().expect("heads")
        );
        let times = recording_times(&events);
        for p in 0..=last + 1 {
            let at = AsOf {
                position: Some(p),
                ..AsOf::default()
            };
            let by_time = AsOf {
                recorded_at_ms: times.get(p as usize).copied(),
                ..AsOf::default()
            };
            for at in [&at, &by_time] {
                assert_eq!(
                    a.summary_at(at).expect("sum"),
                    b.summary_at(at).expect("sum")
                );
                for id in &ids {
                    assert_eq!(
                        a.state_at(id, at).expect("state"),
                        b.state_at(id, at).expect("state"),
                        "{id} at {at:?}"
                    );
                }
            }
        }
        for id in &ids {
            assert_eq!(a.get(id).expect("get"), b.get(id).expect("get"), "{id}");
            assert_eq!(
                a.history(id).expect("history"),
                b.history(id).expect("history")
            );
        }
    };
    same(&over, &compacted, half);
    node.follow(&over, 2, u64::MAX);
    node.follow(&compacted, 5, u64::MAX);
    let last = events.last().map_or(0, |e| e.position);
    assert_eq!(compacted.checkpoint(), last);
    same(&over, &compacted, last);
    assert_eq!(
        compacted.summary_at(&AsOf::default()).expect("now"),
        full_fold(&events, &AsOf::default())
    );
}

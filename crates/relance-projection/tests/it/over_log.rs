//! A node's views read histories from the log instead of keeping a copy
//! (`Projection::open_over_log`): History, StateAt, SummaryAt and the digest answer exactly what
//! views keeping the copy answer, whatever the batching, including retractions (whose refold
//! reads the log mid-batch) and past points between any two events.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;
use relance_domain::{AsOf, Date};
use relance_log::{EventLog, StoredEvent};
use relance_log_sled::SledLog;
use relance_projection::{LogHistory, Projection};

use crate::stream::{op, random_history, realistic, RANDOM_COOPS};
use crate::{append_to_log, expected_states, expected_summary, Views};

/// A multi-threaded runtime, an embedded log holding `events`, and fresh views over it.
struct OverLog {
    runtime: tokio::runtime::Runtime,
    log: Arc<SledLog>,
    projection: Arc<Projection>,
    _dir: tempfile::TempDir,
}

impl OverLog {
    fn new(events: &[StoredEvent]) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = Arc::new(SledLog::open(dir.path().join("log")).expect("open the embedded log"));
        runtime.block_on(append_to_log(log.as_ref(), events));
        let history = {
            let _in_runtime = runtime.enter();
            Arc::new(LogHistory::new(log.clone()))
        };
        let projection = Projection::open_over_log(dir.path().join("views"), history)
            .expect("open views over the log");
        // Summary snapshots every few events, so SummaryAt starts from them.
        projection
            .set_snapshot_every(5)
            .expect("set the snapshot interval");
        Self {
            runtime,
            log,
            projection,
            _dir: dir,
        }
    }

    /// Applies the log's events `size` at a time.
    fn follow_in_batches(&self, size: usize) {
        loop {
            let from = self.projection.checkpoint() + 1;
            let batch = self
                .runtime
                .block_on(self.log.read_from(from, size))
                .expect("read the log");
            if batch.is_empty() {
                return;
            }
            self.projection.apply(&batch).expect("apply a batch");
        }
    }
}

/// Every question both views answer, asked of both, at `positions` and at `dates`.
fn assert_same_answers(
    kept: &Projection,
    read: &Projection,
    events: &[StoredEvent],
    positions: &[u64],
    dates: &[Date],
) -> Result<(), TestCaseError> {
    let points: Vec<AsOf> = positions
        .iter()
        .map(|&p| AsOf {
            position: Some(p),
            ..AsOf::default()
        })
        .chain(dates.iter().map(|&d| AsOf {
            business_date: Some(d),
            ..AsOf::default()
        }))
        .collect();
    for id in RANDOM_COOPS
        .iter()
        .chain(["REH-0001", "REH-0002", "REH-0003", "NONE-1"].iter())
    {
        prop_assert_eq!(
            kept.history(id).expect("history kept"),
            read.history(id).expect("history read from the log"),
            "history of {}",
            id
        );
        for at in &points {
            prop_assert_eq!(
                kept.state_at(id, at).expect("state kept"),
                read.state_at(id, at).expect("state from the log"),
                "state of {} at {:?}",
                id,
                at
            );
        }
    }
    for &position in positions {
        let at = AsOf {
            position: Some(position),
            ..AsOf::default()
        };
        let summary = read.summary_at(&at).expect("summary from the log");
        prop_assert_eq!(&summary, &kept.summary_at(&at).expect("summary kept"));
        // The oracle: the domain's fold of every cooperative's events up to that position.
        let known: Vec<StoredEvent> = events
            .iter()
            .filter(|e| e.position <= position)
            .cloned()
            .collect();
        prop_assert_eq!(
            &summary.summary,
            &expected_summary(&expected_states(&known)),
            "summary at {}",
            position
        );
    }
    prop_assert_eq!(
        kept.digest().expect("digest kept"),
        read.digest()
            .expect("digest with histories read from the log")
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random histories (retractions included), applied in batches of any size: the views over
    /// the log answer History, StateAt (by position and by business date), SummaryAt (equal to
    /// a full fold) and the digest exactly as views keeping every history.
    #[test]
    fn views_reading_histories_from_the_log_answer_as_views_keeping_them(
        ops in prop::collection::vec(op(), 1..40),
        size in 1usize..9,
        at in prop::collection::vec(any::<Index>(), 1..5),
        days in prop::collection::vec(0i32..4000, 1..3),
    ) {
        let events = random_history(&ops).into_events();
        let kept = Views::replayed(&events);
        let over = OverLog::new(&events);
        over.follow_in_batches(size);
        let last = events.last().map_or(0, |e| e.position);
        let positions: Vec<u64> = at.iter().map(|i| i.index(last as usize + 1) as u64).collect();
        let dates: Vec<Date> = days.iter().map(|d| Date::from_unix_ms(0).add_days(14_000 + d)).collect();
        assert_same_answers(&kept, &over.projection, &events, &positions, &dates)?;
    }
}

/// The realistic province (halts, retractions, partners' support) in batches of three.
#[test]
fn the_realistic_province_over_the_log_answers_as_views_keeping_histories() {
    let events = realistic().builder.into_events();
    let kept = Views::replayed(&events);
    let over = OverLog::new(&events);
    over.follow_in_batches(3);
    let last = events.last().map_or(0, |e| e.position);
    let positions: Vec<u64> = (0..=last).step_by(5).chain([last]).collect();
    assert_same_answers(&kept, &over.projection, &events, &positions, &[])
        .expect("the same answers");
    assert!(
        !over
            .projection
            .history("REH-0002")
            .expect("history")
            .is_empty(),
        "the history is read from the log"
    );
}

/// Views written keeping histories are refused by a projection that reads them from the log,
/// and the other way round, with the way out.
#[test]
fn views_of_the_other_layout_are_refused_with_the_way_out() {
    let events = realistic().builder.into_events();
    let over = OverLog::new(&events);
    over.follow_in_batches(100);
    let kept_dir = tempfile::tempdir().expect("temporary directory");
    let kept_path = kept_dir.path().join("views");
    {
        let kept = crate::open(&kept_path);
        kept.apply(&events).expect("apply");
    }
    crate::wait_released(&kept_path);
    let history = {
        let _in_runtime = over.runtime.enter();
        Arc::new(LogHistory::new(over.log.clone()))
    };
    let refused = |r: Result<Arc<Projection>, relance_projection::ProjectionError>, dir: &Path| {
        let Err(err) = r else {
            panic!("views in {} were opened in the other layout", dir.display())
        };
        let text = err.to_string();
        assert!(
            text.contains("relance projection rebuild"),
            "the error names the way out: {text}"
        );
    };
    refused(Projection::open_over_log(&kept_path, history), &kept_path);
    let over_dir = over._dir.path().join("views");
    drop(over.projection);
    crate::wait_released(&over_dir);
    refused(Projection::open(&over_dir), &over_dir);
}

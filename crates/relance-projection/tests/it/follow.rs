//! The `run` task against the embedded log: catch up, follow live, stop, resume.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use relance_domain::CoopId;
use relance_log::{AppendRequest, Appended, EventLog, EventStream, LogError, StoredEvent};
use relance_log_sled::SledLog;
use relance_projection::{run, Projection};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::stream::realistic;
use crate::{append_to_log, assert_views_are_those_of, open, reopen, Views};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The embedded log, remembering where each `follow` started.
struct RecordingLog {
    inner: SledLog,
    follows: Mutex<Vec<u64>>,
}

impl RecordingLog {
    fn follows(&self) -> Vec<u64> {
        self.follows.lock().expect("follows lock").clone()
    }
}

#[async_trait]
impl EventLog for RecordingLog {
    async fn append(&self, request: AppendRequest) -> Result<Appended, LogError> {
        self.inner.append(request).await
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
        self.follows.lock().expect("follows lock").push(from);
        self.inner.follow(from).await
    }

    fn backend(&self) -> &'static str {
        "recording"
    }
}

/// A running projection task and the switch that stops it.
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), relance_projection::ProjectionError>>,
}

fn start(projection: &Arc<Projection>, log: &Arc<RecordingLog>) -> Running {
    let (stop, stopped) = watch::channel(false);
    let log: Arc<dyn EventLog> = log.clone();
    Running {
        stop,
        task: tokio::spawn(run(projection.clone(), log, stopped)),
    }
}

impl Running {
    async fn stop(self) {
        self.stop
            .send(true)
            .expect("the projection task is listening");
        self.task
            .await
            .expect("the projection task does not panic")
            .expect("run stops without error");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_follows_the_log_stops_on_shutdown_and_resumes_from_its_checkpoint() {
    let events = realistic().builder.into_events();
    let (first, rest) = events.split_at(14);
    let (while_stopped, live) = rest.split_at(6);
    let dir = tempfile::tempdir().expect("temporary directory");
    let inner = SledLog::open(dir.path().join("log")).expect("open the embedded log");
    let log = Arc::new(RecordingLog {
        inner,
        follows: Mutex::new(Vec::new()),
    });
    let views_dir = dir.path().join("views");

    // Catch up with what the log already holds.
    append_to_log(&*log, first).await;
    let first_end = first.last().expect("events").position;
    let projection = open(&views_dir);
    let running = start(&projection, &log);
    assert_eq!(projection.wait_for(first_end, TIMEOUT).await, Ok(first_end));
    assert_views_are_those_of(&projection, first);
    running.stop().await;
    // Stopped: nothing further arrives, and waiting beyond the checkpoint says where it is.
    assert_eq!(
        projection.wait_for(first_end + 1, Duration::ZERO).await,
        Err(first_end)
    );
    drop(projection);

    // Events appended while the projection is down, then a restart on the same directory.
    append_to_log(&*log, while_stopped).await;
    let projection = reopen(&views_dir);
    assert_eq!(
        projection.checkpoint(),
        first_end,
        "the checkpoint survived the restart"
    );
    let running = start(&projection, &log);

    // And events appended while it runs.
    append_to_log(&*log, live).await;
    let end = events.last().expect("events").position;
    assert_eq!(projection.wait_for(end, TIMEOUT).await, Ok(end));
    assert_eq!(
        log.follows(),
        [1, first_end + 1],
        "each run follows from its checkpoint"
    );
    assert_views_are_those_of(&projection, &events);
    assert_eq!(
        projection.digest().expect("digest"),
        Views::replayed(&events).digest().expect("digest"),
        "resumed views equal a fresh full replay"
    );
    running.stop().await;
}

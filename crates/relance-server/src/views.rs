//! The views a node serves, the task that keeps them following the log, and their rebuild
//! beside them while they serve (docs/design.md, "Rebuilding the views while serving").
//!
//! A rebuild opens fresh views in a sibling directory (`projection.<unix ms>` beside
//! `projection`) and follows the log into them from position 1 while the served views keep
//! answering. Once the fresh views have applied at least what the served ones have, the node
//! names them in the pointer file (`projection.current`, written atomically, so a restart
//! opens them), serves them, and retires the old views: their follower stops once the requests
//! still reading them are done, and their directory is removed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relance_log::EventLog;
use relance_projection::{LogHistory, Projection, ProjectionError, Serving};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::NodeError;

/// How often a rebuild's progress is sampled (and the switch looked for).
const SAMPLE: Duration = Duration::from_millis(250);
/// How long retired views wait for the requests still reading them before they are dropped.
const RETIRE_GRACE: Duration = Duration::from_secs(60);

/// A projection following the log, and how to stop it.
struct Follower {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), ProjectionError>>,
    /// Whether its projection is the one served: only then does its stop say the node's views
    /// stopped following the log.
    served: Arc<AtomicBool>,
}

impl Follower {
    /// Follows `log` into `p`; `ended(why)` is called when it stops without being asked to.
    fn start(
        p: Arc<Projection>,
        log: Arc<dyn EventLog>,
        served: Arc<AtomicBool>,
        ended: impl FnOnce(String) + Send + 'static,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let asked_to_stop = stop_rx.clone();
        let run = relance_projection::run(p, log, stop_rx);
        let is_served = served.clone();
        let task = tokio::spawn(async move {
            let result = run.await;
            let why = match &result {
                Err(e) => Some(e.to_string()),
                Ok(()) if !*asked_to_stop.borrow() => {
                    Some("the event log stopped delivering events".to_owned())
                }
                Ok(()) => None,
            };
            if let Some(why) = why {
                // Queries keep answering from the last checkpoint; say loudly why it no longer
                // moves: the log, health (NOT_SERVING) and `relance status`.
                if is_served.load(Ordering::SeqCst) {
                    tracing::error!(error = %why, "the projection stopped applying events");
                } else {
                    tracing::error!(error = %why, "the rebuilt views stopped applying events");
                }
                ended(why);
            }
            result
        });
        Self { stop, task, served }
    }

    /// Asks the follower to stop and waits for it.
    async fn stop(self) -> Result<Result<(), ProjectionError>, NodeError> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| NodeError::Task(e.to_string()))
    }
}

/// Where a rebuild is.
#[derive(Debug, Clone, PartialEq)]
pub enum RebuildState {
    /// Following the log into the fresh views.
    Running,
    /// The fresh views caught up and are served.
    Switched,
    /// The rebuild stopped (the message says why); the served views did not change.
    Failed(String),
}

impl RebuildState {
    /// `running`, `switched` or `failed`.
    pub fn name(&self) -> &'static str {
        match self {
            RebuildState::Running => "running",
            RebuildState::Switched => "switched",
            RebuildState::Failed(_) => "failed",
        }
    }
}

/// The progress of this node's latest rebuild.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildProgress {
    pub state: RebuildState,
    /// The fresh views' directory.
    pub directory: PathBuf,
    /// The last position the fresh views applied.
    pub position: u64,
    /// The log's head when last sampled.
    pub target: u64,
    /// Events applied per second since the rebuild started.
    pub events_per_second: f64,
    pub started_at_unix_ms: i64,
    /// 0 while running.
    pub finished_at_unix_ms: i64,
}

impl RebuildProgress {
    /// Seconds until the fresh views reach the head at the current rate (`None` when unknown).
    pub fn seconds_left(&self) -> Option<u64> {
        let left = self.target.saturating_sub(self.position);
        if self.state != RebuildState::Running || self.events_per_second <= 0.0 {
            return (left == 0).then_some(0);
        }
        Some((left as f64 / self.events_per_second).ceil() as u64)
    }
}

/// Why a rebuild cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("a rebuild is already running (into {0}): wait for it to switch or fail")]
    Running(String),
    #[error("the node is stopping")]
    Stopping,
    #[error("cannot prepare the fresh views in {path}: {detail}")]
    Prepare { path: String, detail: String },
}

/// The served views of a node with a projection, and their rebuild.
pub struct Views {
    log: Arc<dyn EventLog>,
    serving: Serving,
    /// The views directory as configured (`DIR/projection`); rebuilt views go beside it.
    configured: PathBuf,
    /// The directory served now.
    dir: Mutex<PathBuf>,
    /// The served views' follower (`None` once stopped).
    follower: Mutex<Option<Follower>>,
    /// Why the served views stopped following the log (`None` while they follow).
    stopped: Arc<watch::Sender<Option<String>>>,
    /// The latest rebuild, and its follower while it runs.
    rebuild: Arc<Mutex<Option<RebuildProgress>>>,
    rebuilding: Mutex<Option<Follower>>,
    closing: AtomicBool,
}

fn poisoned() -> NodeError {
    NodeError::Task("a lock of the views was poisoned by a panic".to_owned())
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Views {
    /// Opens the views `configured` names (or the rebuilt ones its pointer file names),
    /// removes rebuilt views left behind by an earlier process, and follows `log` into them.
    pub fn open(log: Arc<dyn EventLog>, configured: &Path) -> Result<Arc<Self>, NodeError> {
        let dir = crate::layout::served_dir(configured)?;
        crate::layout::remove_stale(configured, &dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| NodeError::Task(format!("cannot create {}: {e}", dir.display())))?;
        let history = Arc::new(LogHistory::new(log.clone()));
        let p = Projection::open_over_log(&dir, history)?;
        let (stopped, _) = watch::channel(None);
        let stopped = Arc::new(stopped);
        let (report, served) = (stopped.clone(), Arc::new(AtomicBool::new(true)));
        let follower = Follower::start(p.clone(), log.clone(), served.clone(), move |why| {
            if served.load(Ordering::SeqCst) {
                report.send_replace(Some(why));
            }
        });
        Ok(Arc::new(Self {
            log,
            serving: Serving::new(p),
            configured: configured.to_owned(),
            dir: Mutex::new(dir),
            follower: Mutex::new(Some(follower)),
            stopped,
            rebuild: Arc::new(Mutex::new(None)),
            rebuilding: Mutex::new(None),
            closing: AtomicBool::new(false),
        }))
    }

    /// The projection requests are answered from.
    pub fn serving(&self) -> Serving {
        self.serving.clone()
    }

    /// Why the served views stopped following the log (`None` while they follow).
    pub fn stopped(&self) -> watch::Receiver<Option<String>> {
        self.stopped.subscribe()
    }

    /// The latest rebuild's progress (`None` when this process ran none).
    pub fn rebuild_progress(&self) -> Option<RebuildProgress> {
        self.rebuild.lock().ok().and_then(|r| r.clone())
    }

    /// Starts rebuilding the views beside the served ones; they are switched to once caught up.
    pub fn rebuild(self: &Arc<Self>) -> Result<RebuildProgress, RebuildError> {
        let mut progress = self.rebuild.lock().map_err(|_| RebuildError::Stopping)?;
        if let Some(p) = progress
            .as_ref()
            .filter(|p| p.state == RebuildState::Running)
        {
            return Err(RebuildError::Running(p.directory.display().to_string()));
        }
        if self.closing.load(Ordering::SeqCst) {
            return Err(RebuildError::Stopping);
        }
        let started = unix_ms();
        let dir = crate::layout::rebuilt_dir(&self.configured, started);
        let prepare = |detail: String| RebuildError::Prepare {
            path: dir.display().to_string(),
            detail,
        };
        std::fs::create_dir_all(&dir).map_err(|e| prepare(e.to_string()))?;
        let history = Arc::new(LogHistory::new(self.log.clone()));
        let fresh = Projection::open_over_log(&dir, history).map_err(|e| prepare(e.to_string()))?;
        let follower = self.follow_fresh(fresh.clone());
        let now = RebuildProgress {
            state: RebuildState::Running,
            directory: dir.clone(),
            position: 0,
            target: 0,
            events_per_second: 0.0,
            started_at_unix_ms: started,
            finished_at_unix_ms: 0,
        };
        *progress = Some(now.clone());
        drop(progress);
        if let Ok(mut r) = self.rebuilding.lock() {
            *r = Some(follower);
        }
        tracing::info!(dir = %dir.display(), "rebuilding the views beside the served ones");
        tokio::spawn(self.clone().follow_rebuild(fresh, dir));
        Ok(now)
    }

    /// Follows the log into rebuilt views not served yet: a stop fails the rebuild (once
    /// they are served, it says the served views stopped).
    fn follow_fresh(&self, fresh: Arc<Projection>) -> Follower {
        let served = Arc::new(AtomicBool::new(false));
        let (stopped, rebuild) = (self.stopped.clone(), self.rebuild.clone());
        Follower::start(fresh, self.log.clone(), served.clone(), move |why| {
            if served.load(Ordering::SeqCst) {
                stopped.send_replace(Some(why));
            } else if let Ok(mut r) = rebuild.lock() {
                if let Some(r) = r.as_mut() {
                    r.state = RebuildState::Failed(why);
                    r.finished_at_unix_ms = unix_ms();
                }
            }
        })
    }

    /// Samples the rebuild's progress until its views catch up, compacts them, and switches
    /// once the compacted copy has caught up again; or stops when the rebuild fails.
    async fn follow_rebuild(self: Arc<Self>, mut fresh: Arc<Projection>, mut dir: PathBuf) {
        let began = Instant::now();
        let mut target = 0;
        let mut compacted = false;
        loop {
            tokio::time::sleep(SAMPLE).await;
            if self.closing.load(Ordering::SeqCst) {
                return;
            }
            let failed = self
                .rebuilding
                .lock()
                .map_or(true, |f| f.as_ref().is_none_or(|f| f.task.is_finished()));
            if failed {
                self.abandon(Some(fresh), &dir).await;
                return;
            }
            target = self.log.last_position().await.unwrap_or(target);
            let position = fresh.checkpoint();
            let secs = began.elapsed().as_secs_f64();
            self.update(|r| {
                r.position = position;
                r.target = target;
                r.events_per_second = if secs > 0.0 {
                    position as f64 / secs
                } else {
                    0.0
                };
            });
            if position >= self.serving.current().checkpoint() && !compacted {
                compacted = true;
                // The views copied are closed by the copy, before their directory is removed.
                match self.compact(fresh, &dir).await {
                    Ok((copy, to)) => {
                        (fresh, dir) = (copy, to);
                        let directory = dir.clone();
                        self.update(|r| r.directory = directory);
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not compact the rebuilt views");
                        self.update(|r| {
                            r.state = RebuildState::Failed(e.to_string());
                            r.finished_at_unix_ms = unix_ms();
                        });
                        self.abandon(None, &dir).await;
                        return;
                    }
                }
            }
            if position >= self.serving.current().checkpoint() {
                if let Err(e) = self.switch(fresh.clone(), &dir).await {
                    tracing::error!(error = %e, "could not switch to the rebuilt views");
                    self.update(|r| {
                        r.state = RebuildState::Failed(e.to_string());
                        r.finished_at_unix_ms = unix_ms();
                    });
                    self.abandon(Some(fresh), &dir).await;
                }
                return;
            }
        }
    }

    fn update(&self, change: impl FnOnce(&mut RebuildProgress)) {
        if let Ok(mut r) = self.rebuild.lock() {
            if let Some(r) = r.as_mut() {
                change(r);
            }
        }
    }

    /// Stops following the log into `fresh` (caught up), copies its views into a compact
    /// directory beside it (`Projection::compact_into`: a rebuild leaves sled holding several
    /// superseded versions of each view), removes `dir` and follows the log into the copy,
    /// which is returned with its directory.
    async fn compact(
        &self,
        fresh: Arc<Projection>,
        dir: &Path,
    ) -> Result<(Arc<Projection>, PathBuf), NodeError> {
        let follower = self.rebuilding.lock().map_err(|_| poisoned())?.take();
        if let Some(f) = follower {
            f.stop().await??;
        }
        let mut to = crate::layout::rebuilt_dir(&self.configured, unix_ms());
        if to == dir {
            to = crate::layout::rebuilt_dir(&self.configured, unix_ms() + 1);
        }
        let copy = {
            let (p, to) = (fresh.clone(), to.clone());
            tokio::task::spawn_blocking(move || p.compact_into(&to))
                .await
                .map_err(|e| NodeError::Task(e.to_string()))??
        };
        tracing::info!(from = %dir.display(), to = %to.display(), position = copy.position,
            records = copy.records, bytes = copy.bytes, on_disk = copy.size_on_disk,
            grown = fresh.size_on_disk(), "compacted the rebuilt views");
        drop(fresh);
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::warn!(error = %e, dir = %dir.display(), "could not remove the uncompacted views");
        }
        // Opening waits for sled's lock, which the copy's handle releases from background
        // threads: not on a runtime worker.
        let copied = {
            let (log, to) = (self.log.clone(), to.clone());
            tokio::task::spawn_blocking(move || {
                Projection::open_over_log(&to, Arc::new(LogHistory::new(log)))
            })
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??
        };
        let mut slot = self.rebuilding.lock().map_err(|_| poisoned())?;
        // A shutdown that began meanwhile found no follower to stop: start none.
        if self.closing.load(Ordering::SeqCst) {
            return Err(NodeError::Task("the node is stopping".to_owned()));
        }
        *slot = Some(self.follow_fresh(copied.clone()));
        Ok((copied, to))
    }

    /// Serves `fresh` (caught up): names it in the pointer file, swaps it in, retires the old.
    async fn switch(&self, fresh: Arc<Projection>, dir: &Path) -> Result<(), NodeError> {
        let configured = self.configured.clone();
        let named = dir.to_owned();
        tokio::task::spawn_blocking(move || crate::layout::name_served(&configured, &named))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
        let mut slot = self.follower.lock().map_err(|_| poisoned())?;
        if self.closing.load(Ordering::SeqCst) {
            // The pointer names the rebuilt views: the next start serves them.
            return Ok(());
        }
        let new_follower = self.rebuilding.lock().map_err(|_| poisoned())?.take();
        for (f, served) in [(&new_follower, true), (&*slot, false)] {
            if let Some(f) = f {
                f.served.store(served, Ordering::SeqCst);
            }
        }
        let old_follower = std::mem::replace(&mut *slot, new_follower);
        let old = self.serving.replace(fresh.clone());
        let old_dir = std::mem::replace(
            &mut *self.dir.lock().map_err(|_| poisoned())?,
            dir.to_owned(),
        );
        drop(slot);
        // The rebuilt views follow the log: a stop of the old ones no longer holds.
        self.stopped.send_if_modified(|why| why.take().is_some());
        let position = fresh.checkpoint();
        self.update(|r| {
            r.state = RebuildState::Switched;
            r.position = position;
            r.finished_at_unix_ms = unix_ms();
        });
        tracing::info!(dir = %dir.display(), position, "serving the rebuilt views");
        tokio::spawn(retire(old, old_follower, old_dir));
        Ok(())
    }

    /// Stops a failed rebuild's follower and removes its views.
    async fn abandon(&self, fresh: Option<Arc<Projection>>, dir: &Path) {
        let follower = self.rebuilding.lock().ok().and_then(|mut f| f.take());
        if let Some(f) = follower {
            let _ = f.stop().await;
        }
        drop(fresh);
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::warn!(error = %e, dir = %dir.display(), "could not remove abandoned views");
        }
    }

    /// Stops following the log (a running rebuild is dropped; its directory is removed at the
    /// next start) and flushes the served views. A projection that had already stopped on its
    /// own (reported then, by the log and health) does not fail the shutdown; a failure while
    /// stopping (the last flush) does.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.closing.store(true, Ordering::SeqCst);
        let rebuilding = self.rebuilding.lock().map_err(|_| poisoned())?.take();
        if let Some(f) = rebuilding {
            let _ = f.stop().await;
        }
        let follower = self.follower.lock().map_err(|_| poisoned())?.take();
        let Some(follower) = follower else {
            return Ok(());
        };
        let result = follower.stop().await;
        let earlier = self.stopped.borrow().clone();
        match (result, earlier) {
            (Ok(Ok(())), _) => Ok(()),
            (Ok(Err(_)) | Err(_), Some(why)) => {
                tracing::warn!(error = %why, "stopping a node whose projection had already stopped");
                if let Err(e) = self.serving.current().flush().await {
                    tracing::warn!(error = %e, "could not flush the views");
                }
                Ok(())
            }
            (Ok(Err(e)), None) => Err(e.into()),
            (Err(e), None) => Err(e),
        }
    }
}

/// Lets the requests still reading `old` finish, then stops its follower and removes its
/// directory (left for the next start when a request holds it longer than `RETIRE_GRACE`).
async fn retire(old: Arc<Projection>, follower: Option<Follower>, dir: PathBuf) {
    let deadline = Instant::now() + RETIRE_GRACE;
    // Held here and by the follower's task.
    let held_elsewhere = || Arc::strong_count(&old) > 1 + usize::from(follower.is_some());
    while held_elsewhere() && Instant::now() < deadline {
        tokio::time::sleep(SAMPLE).await;
    }
    let free = !held_elsewhere();
    if let Some(f) = follower {
        let _ = f.stop().await;
    }
    drop(old);
    if !free {
        tracing::warn!(dir = %dir.display(), "retired views still read: removed at the next start");
        return;
    }
    let removed =
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir).map_err(|e| (dir, e)))
            .await;
    if let Ok(Err((dir, e))) = removed {
        tracing::warn!(error = %e, dir = %dir.display(), "could not remove retired views");
    }
}

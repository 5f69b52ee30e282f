//! The views a node serves: one projection, which a rebuild beside it may replace while
//! requests keep arriving (`relance projection rebuild --live`, docs/design.md "Rebuilding the
//! views while serving").
//!
//! Every request asks for the [`Serving::current`] projection once and answers from it, so a
//! switch never mixes two sets of views in one answer; a request in flight finishes on the
//! views it started on.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::Projection;

/// How long one wait on a projection's checkpoint lasts before looking whether the views were
/// switched meanwhile.
const SWITCH_CHECK: Duration = Duration::from_millis(200);

/// A shared handle on the projection being served.
#[derive(Clone)]
pub struct Serving(Arc<RwLock<Arc<Projection>>>);

impl Serving {
    pub fn new(projection: Arc<Projection>) -> Self {
        Self(Arc::new(RwLock::new(projection)))
    }

    /// The projection answering now.
    pub fn current(&self) -> Arc<Projection> {
        // The lock only guards a pointer swap, which cannot panic half-way: a poisoned lock
        // still holds a whole `Arc`.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Serves `projection` from now on; returns the one it replaces.
    pub fn replace(&self, projection: Arc<Projection>) -> Arc<Projection> {
        let mut current = self.0.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *current, projection)
    }

    /// Waits (at most `timeout`) until the projection served has applied `position`, following
    /// a switch that happens meanwhile; `Err` holds the checkpoint reached.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, u64> {
        self.reach(position, timeout).await.map(|p| p.checkpoint())
    }

    /// Waits (at most `timeout`) until the projection served has applied `position`, and
    /// returns it: the views to answer from. Views switched away from while the wait ran do
    /// not count, though their follower may still move them on until they are retired: a
    /// request that asked for `position` must be answered by views that hold it. `Err` holds
    /// the checkpoint reached.
    pub async fn reach(&self, position: u64, timeout: Duration) -> Result<Arc<Projection>, u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let p = self.current();
            let left = deadline.saturating_duration_since(Instant::now());
            let reached = p.wait_for(position, left.min(SWITCH_CHECK)).await;
            let now = self.current();
            if Arc::ptr_eq(&p, &now) {
                match reached {
                    Ok(_) => return Ok(p),
                    Err(at) if left <= SWITCH_CHECK => return Err(at),
                    Err(_) => {}
                }
            } else if left <= SWITCH_CHECK {
                // Switched as time ran out: the views served now answer, or say where they are.
                let at = now.checkpoint();
                return if at >= position { Ok(now) } else { Err(at) };
            }
        }
    }
}

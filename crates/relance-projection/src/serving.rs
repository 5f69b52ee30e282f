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
        let deadline = Instant::now() + timeout;
        loop {
            let p = self.current();
            let left = deadline.saturating_duration_since(Instant::now());
            match p.wait_for(position, left.min(SWITCH_CHECK)).await {
                Ok(at) => return Ok(at),
                Err(at) if left <= SWITCH_CHECK => return Err(at),
                Err(_) => {}
            }
        }
    }
}

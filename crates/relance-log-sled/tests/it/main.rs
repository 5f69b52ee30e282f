//! The embedded (sled) log against the conformance suite.

use std::sync::Arc;

use async_trait::async_trait;
use relance_log::conformance::Harness;
use relance_log_sled::SledLog;

struct SledHarness {
    dir: tempfile::TempDir,
}

impl SledHarness {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
}

#[async_trait]
impl Harness for SledHarness {
    type Log = SledLog;

    async fn open(&mut self) -> Arc<SledLog> {
        Arc::new(SledLog::open(self.dir.path()).expect("open"))
    }

    async fn restart(&mut self, log: Arc<SledLog>) -> Arc<SledLog> {
        drop(log);
        self.open().await
    }
}

relance_log::conformance_tests!(SledHarness::new());

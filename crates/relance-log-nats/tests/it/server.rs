//! The conformance harness on a real nats-server (started by `relance_tests::nats`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use relance_log::conformance::Harness;
use relance_log_nats::{JetStreamConfig, JetStreamLog};
pub use relance_tests::nats::{current_binary, legacy_binary, NatsServer, LEGACY_MISSING};

/// The conformance harness: a server of its own, a [`JetStreamLog`] with the default config
/// adjusted by `tune`.
pub struct NatsHarness {
    binary: PathBuf,
    tune: fn(&mut JetStreamConfig),
    server: Option<NatsServer>,
}

impl NatsHarness {
    pub fn new(binary: &Path, tune: fn(&mut JetStreamConfig)) -> Self {
        Self {
            binary: binary.to_owned(),
            tune,
            server: None,
        }
    }

    async fn server(&mut self) -> &mut NatsServer {
        if self.server.is_none() {
            self.server = Some(NatsServer::start(&self.binary).await);
        }
        self.server.as_mut().expect("just started")
    }
}

#[async_trait]
impl Harness for NatsHarness {
    type Log = JetStreamLog;

    async fn open(&mut self) -> Arc<JetStreamLog> {
        let tune = self.tune;
        let mut config = JetStreamConfig::new(self.server().await.url());
        tune(&mut config);
        Arc::new(
            JetStreamLog::connect(config)
                .await
                .expect("connect to the test server"),
        )
    }

    async fn restart(&mut self, log: Arc<JetStreamLog>) -> Arc<JetStreamLog> {
        drop(log);
        self.server().await.restart().await;
        self.open().await
    }
}

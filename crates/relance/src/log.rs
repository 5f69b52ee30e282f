//! The one place the binary opens an event log: JetStream when a NATS URL is given, else the
//! embedded sled log in `DATA_DIR/log`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use relance_log::retry::{retry_notify, Backoff};
use relance_log::EventLog;
use relance_log_nats::{ConnectError, JetStreamConfig, JetStreamLog};

use crate::cli::NatsArgs;

/// While JetStream does not answer yet (a cluster and its services often start together: no
/// meta leader, no server up): 200 ms doubled up to 5 s, for at most 60 s.
const JETSTREAM_WAIT: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5))
    .with_deadline(Duration::from_secs(60));

/// The event log `nats` names, or the embedded one under `data_dir`. `subject_prefix`
/// overrides the JetStream subjects (the demo keeps its own).
pub async fn open(
    data_dir: &Path,
    nats: &NatsArgs,
    subject_prefix: Option<&str>,
) -> Result<Arc<dyn EventLog>> {
    match &nats.nats {
        Some(url) => jetstream(url, nats, subject_prefix).await,
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let log = relance_log_sled::SledLog::open(data_dir.join("log")).with_context(|| {
                format!(
                    "cannot open the event log in {} (is a node still running on it?)",
                    data_dir.display()
                )
            })?;
            Ok(Arc::new(log))
        }
    }
}

/// Connects to the JetStream log described by `args` (creating the stream when missing).
async fn jetstream(
    url: &str,
    args: &NatsArgs,
    subject_prefix: Option<&str>,
) -> Result<Arc<dyn EventLog>> {
    let mut config = JetStreamConfig::new(url);
    config.stream = args.stream.clone();
    config.replicas = args.replicas;
    config.duplicate_window = Duration::from_secs(args.duplicate_window_secs);
    config.group_commit = match args.group_commit {
        crate::cli::GroupCommitArg::Off => relance_log_nats::GroupCommit::Off,
        crate::cli::GroupCommitArg::Auto => relance_log_nats::GroupCommit::Auto,
        crate::cli::GroupCommitArg::Always => relance_log_nats::GroupCommit::Always,
    };
    let link = &args.link;
    config.tls = relance_log_nats::NatsTls {
        required: link.nats_tls,
        ca: link.nats_ca.clone(),
        client_cert: link.nats_cert.clone().zip(link.nats_key.clone()),
    };
    config.credentials = match (&link.nats_creds, &link.nats_nkey) {
        (Some(creds), _) => Some(relance_log_nats::NatsCredentials::CredsFile(creds.clone())),
        (None, Some(seed)) => Some(relance_log_nats::NatsCredentials::NkeySeedFile(
            seed.clone(),
        )),
        (None, None) => None,
    };
    if let Some(prefix) = subject_prefix {
        config.subject_prefix = prefix.to_owned();
    }
    let log = retry_notify(
        &JETSTREAM_WAIT,
        || JetStreamLog::connect(config.clone()),
        |e| matches!(e, ConnectError::Unavailable(_)),
        |e, _| {
            if let ConnectError::Unavailable(why) = e {
                tracing::warn!(error = %why, "JetStream not available yet, retrying");
            }
        },
    )
    .await
    .with_context(|| {
        format!(
            "cannot use the JetStream event log at {}",
            relance_log_nats::redact_url(url)
        )
    })?;
    tracing::info!(server_version = log.server_version(), stream = %args.stream, "connected to NATS JetStream");
    Ok(Arc::new(log))
}

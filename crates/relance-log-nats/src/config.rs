//! The backend's settings ([`JetStreamConfig`]: the stream, TLS to NATS and credentials),
//! their checks, and URLs safe to print.

use std::path::PathBuf;
use std::time::Duration;

use relance_log::retry::Backoff;

use crate::ConnectError;

/// Longest pause between two publish retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How to reach JetStream and what the stream looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JetStreamConfig {
    /// Server URL, or several separated by commas (`nats://a:4222,nats://b:4222`).
    pub url: String,
    /// Stream name (default `RELANCE_EVENTS`).
    pub stream: String,
    /// Subject prefix; a cooperative's events go to `<prefix>.<coop_id>` (default `relance.v1.coop`).
    pub subject_prefix: String,
    /// Replicas of a stream created by relance (default 1; > 1 needs nats-server 2.11+).
    pub replicas: usize,
    /// Duplicate window of a stream created by relance (default 10 minutes).
    pub duplicate_window: Duration,
    /// How long a publish waits for its acknowledgement; also bounds JetStream API requests
    /// (default 5 s).
    pub publish_timeout: Duration,
    /// Retries of a publish after a timeout or "no responders" (default 5).
    pub publish_retries: u32,
    /// Pause before the first retry, doubled after each one up to 2 s (default 100 ms).
    pub retry_backoff: Duration,
    /// Reads expected to return at most this many events fetch them one by one from the
    /// stream leader; longer reads use an ordered consumer (default 32).
    pub direct_read_limit: usize,
    /// Whether a cooperative's events are read with batch direct gets (one request for up to
    /// 1,024 of them) on servers that have them (nats-server 2.11+); default true. Off, reads
    /// follow `direct_read_limit`.
    pub batch_get: bool,
    /// Whether appends that wait at the same time may leave as one atomic batch (one server
    /// write), on servers that have them (nats-server 2.12+; relance turns the stream's
    /// `allow_atomic` on). Default [`GroupCommit::Off`]: on one replica it did not pay in the
    /// measurements (docs/performance.md).
    pub group_commit: GroupCommit,
    /// TLS to the NATS servers (off unless required, a CA or a client certificate is given,
    /// or a URL says `tls://`).
    pub tls: NatsTls,
    /// How relance proves who it is to NATS, besides a `user:password` in the URL.
    pub credentials: Option<NatsCredentials>,
}

/// When appends waiting together leave as one atomic batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GroupCommit {
    /// One publish per append, as on servers without atomic batches.
    #[default]
    Off,
    /// A group leaves as a batch when batches have lately cost less than its appends one by
    /// one (they do with `sync_interval: always`, they do not with lazy fsync on one replica).
    Auto,
    /// Every group of two or more leaves as a batch.
    Always,
}

/// TLS to the NATS servers. Only paths are kept: the files are read when connecting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// Refuse a server that does not speak TLS (implied by `ca` and `client_cert`).
    pub required: bool,
    /// CA certificate(s) (PEM) to trust for the servers' certificates, besides the system's.
    pub ca: Option<PathBuf>,
    /// Client certificate chain and private key (PEM), for servers that verify clients
    /// (mutual TLS).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl NatsTls {
    /// Whether TLS is asked for at all.
    pub fn enabled(&self) -> bool {
        self.required || self.ca.is_some() || self.client_cert.is_some()
    }
}

/// NATS credentials read from a file (never from the command line, where `ps` shows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsCredentials {
    /// A `.creds` file: a user JWT and its nkey seed (decentralised auth, `nsc`).
    CredsFile(PathBuf),
    /// A file holding an nkey seed (`SU…`) of an nkey user of the server's configuration.
    NkeySeedFile(PathBuf),
}

impl JetStreamConfig {
    /// The defaults of the design, for the server(s) at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: "RELANCE_EVENTS".to_owned(),
            subject_prefix: "relance.v1.coop".to_owned(),
            replicas: 1,
            duplicate_window: Duration::from_secs(10 * 60),
            publish_timeout: Duration::from_secs(5),
            publish_retries: 5,
            retry_backoff: Duration::from_millis(100),
            direct_read_limit: 32,
            batch_get: true,
            group_commit: GroupCommit::Off,
            tls: NatsTls::default(),
            credentials: None,
        }
    }

    /// How reads and publishes are retried while the log is unavailable: `retry_backoff`,
    /// doubled after each retry up to 2 s, `publish_retries` times.
    pub(crate) fn retry_policy(&self) -> Backoff {
        Backoff::new(self.retry_backoff, MAX_BACKOFF).with_max_retries(self.publish_retries)
    }

    pub(crate) fn validate(&self) -> Result<(), ConnectError> {
        let bad = |what: String| Err(ConnectError::InvalidConfig(what));
        if self.url.split(',').all(|u| u.trim().is_empty()) {
            return bad("no server URL".into());
        }
        if self.stream.is_empty()
            || self
                .stream
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c))
        {
            return bad(format!(
                "stream name {:?} must be non-empty, without spaces, '.', '*', '>' or slashes",
                self.stream
            ));
        }
        if self.subject_prefix.split('.').any(|t| {
            t.is_empty()
                || t == "*"
                || t == ">"
                || t.chars().any(|c| c.is_whitespace() || c.is_control())
        }) {
            return bad(format!(
                "subject prefix {:?} must be dot-separated literal tokens",
                self.subject_prefix
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return bad(format!("replicas must be 1 to 5, not {}", self.replicas));
        }
        if self.publish_timeout.is_zero() {
            return bad("the publish timeout must be positive".into());
        }
        Ok(())
    }
}

/// `url` (comma-separated addresses) with any password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let user = u[scheme + 3..at].split(':').next().unwrap_or("");
                format!("{}{user}:***{}", &u[..scheme + 3], &u[at..])
            }
            _ => u.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            super::redact_url("nats://command:s3cret@10.0.0.1:4222,nats://h2:4222"),
            "nats://command:***@10.0.0.1:4222,nats://h2:4222"
        );
        assert_eq!(
            super::redact_url("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
    }
}

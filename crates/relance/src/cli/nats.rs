//! Where the event log lives and how relance reaches NATS: the flags every command taking a
//! NATS URL shares.

use std::path::PathBuf;

use clap::Args;

/// Where the event log lives: NATS JetStream when --nats is given, else embedded.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS server URL(s), comma-separated; without it the log is embedded in --data-dir.
    #[arg(long, env = "RELANCE_NATS")]
    pub nats: Option<String>,
    /// JetStream stream holding the events.
    #[arg(long, env = "RELANCE_STREAM", default_value = "RELANCE_EVENTS")]
    pub stream: String,
    /// Replicas of the stream when relance creates it (3 on a cluster; needs nats-server ≥ 2.11).
    #[arg(long, env = "RELANCE_REPLICAS", default_value_t = 1)]
    pub replicas: usize,
    /// How long JetStream remembers a message id to drop a retried publish, in seconds.
    #[arg(long, env = "RELANCE_DUPLICATE_WINDOW_SECS", default_value_t = 600)]
    pub duplicate_window_secs: u64,
    /// Appends waiting together leave as one atomic batch (nats-server 2.12+): `auto` when
    /// batches have lately cost less than publishes one by one, `always`, or `off` (one
    /// publish per append; the default: on one replica batches did not pay in the
    /// measurements, docs/performance.md).
    #[arg(long, env = "RELANCE_GROUP_COMMIT", value_enum, default_value_t = GroupCommitArg::Off)]
    pub group_commit: GroupCommitArg,
    #[command(flatten)]
    pub link: NatsLinkArgs,
}

/// `--group-commit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupCommitArg {
    #[default]
    Off,
    Auto,
    Always,
}

/// How relance reaches NATS safely: TLS (a CA to trust, a client certificate for mutual TLS)
/// and credentials, always read from files (never the command line, where `ps` shows them).
#[derive(Debug, Clone, Default, Args)]
pub struct NatsLinkArgs {
    /// Require TLS to NATS (implied by --nats-ca, --nats-cert and tls:// URLs).
    #[arg(long, env = "RELANCE_NATS_TLS")]
    pub nats_tls: bool,
    /// CA certificate (PEM) to trust for the NATS servers' certificates.
    #[arg(long, env = "RELANCE_NATS_CA")]
    pub nats_ca: Option<PathBuf>,
    /// Client certificate (PEM) for NATS servers that verify clients (mutual TLS).
    #[arg(long, env = "RELANCE_NATS_CERT", requires = "nats_key")]
    pub nats_cert: Option<PathBuf>,
    /// Private key (PEM) of --nats-cert.
    #[arg(long, env = "RELANCE_NATS_KEY", requires = "nats_cert")]
    pub nats_key: Option<PathBuf>,
    /// NATS credentials file (`.creds`: a user JWT and its nkey seed).
    #[arg(long, env = "RELANCE_NATS_CREDS", conflicts_with = "nats_nkey")]
    pub nats_creds: Option<PathBuf>,
    /// File holding the nkey seed (`SU…`) of a NATS nkey user.
    #[arg(long, env = "RELANCE_NATS_NKEY")]
    pub nats_nkey: Option<PathBuf>,
}

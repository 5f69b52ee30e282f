//! The command line, as one clap tree.

use std::net::SocketAddr;
use std::path::PathBuf;

mod import;
mod nats;
mod tlog;
mod watch;
pub use import::{ImportArgs, ImportCommand};
pub use nats::{GroupCommitArg, NatsArgs, NatsLinkArgs};
pub use tlog::{CheckProofArgs, OriginArg, ProveArgs, WitnessArgs};
pub use watch::{WatchArgs, WatchServeArgs};

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "relance",
    version,
    about = "The verifiable history of how the cooperatives of a province recover after an economic shock."
)]
pub struct Cli {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Log lines as text or as JSON objects (one per line), on stderr.
    #[arg(long, global = true, env = "RELANCE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// gRPC address of the node to talk to.
    #[arg(
        long,
        global = true,
        env = "RELANCE_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// gRPC address for queries when they go to another process (a projection); defaults to
    /// --server.
    #[arg(long, global = true, env = "RELANCE_QUERY_SERVER")]
    pub query_server: Option<String>,
    /// How to print answers.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Principal to act as when the server runs without authentication.
    #[arg(
        long = "as",
        global = true,
        env = "RELANCE_PRINCIPAL",
        default_value = "cli"
    )]
    pub principal: String,
    /// Organisation to act for when the server runs without authentication
    /// (a partner records support in its own name: `--org OCP`).
    #[arg(long, global = true, env = "RELANCE_ORG", default_value = "prefecture")]
    pub org: String,
    /// Bearer token for a server started with --auth (see `relance token new`).
    #[arg(long, global = true, env = "RELANCE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to trust for an https:// server.
    #[arg(long, global = true, env = "RELANCE_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), for a server that requires mutual TLS.
    #[arg(long, global = true, env = "RELANCE_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) for --cert.
    #[arg(long, global = true, env = "RELANCE_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    /// For spreadsheets: UTF-8 with a BOM, `;`-separated, formula-like cells neutralised
    /// (`coop list`, `coop history`, `summary`; other commands print a table).
    Csv,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node: event log, projection and gRPC services in one process.
    Serve(ServeArgs),
    /// Replay the article on a fresh embedded node and print the province and Ibdaat Rehamna.
    Demo(DemoArgs),
    /// Record facts about a cooperative, or read one.
    #[command(subcommand)]
    Coop(CoopCommand),
    /// Load a register kept in a spreadsheet (CSV, XLSX, ODS) through the batch RPC.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print the province summary (now, or as known at a past point with --as-of/--position),
    /// or with --series its counts per day, week or month between --from and --to.
    Summary(SummaryArgs),
    /// Export, verify and replay the history; compare digests.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print events as they are recorded (from --from, or from now), then follow live.
    Watch(WatchArgs),
    /// Health, role, positions and lag of the running node(s) at --server (and --query-server).
    Status,
    /// Maintenance of a stopped node's projection.
    #[command(subcommand)]
    Projection(ProjectionCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the embedded event log and the projection keep their data.
    #[arg(long, env = "RELANCE_DATA_DIR", default_value = "./relance-data")]
    pub data_dir: PathBuf,
    /// Address to listen on for gRPC.
    #[arg(long, env = "RELANCE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// What this process does: `all` (commands and a projection), `command` (stateless
    /// command service) or `projection` (views in --data-dir and the query service).
    #[arg(long, env = "RELANCE_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    #[command(flatten)]
    pub security: SecurityArgs,
    /// Serve Prometheus metrics on http://HOST:PORT/metrics.
    #[arg(long, env = "RELANCE_METRICS")]
    pub metrics: Option<SocketAddr>,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub watch: WatchServeArgs,
}

/// The read-only dashboard.
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Serve the dashboard on http://HOST:PORT/ (a process that serves queries; loopback only
    /// without --auth).
    #[arg(long = "web", env = "RELANCE_WEB")]
    pub addr: Option<SocketAddr>,
    /// The dashboard is reached through TLS (a reverse proxy): mark its session cookie Secure.
    #[arg(long, env = "RELANCE_WEB_BEHIND_TLS")]
    pub web_behind_tls: bool,
}

/// Who may call, and over what.
#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// Auth file: principals (id, organisation, roles, SHA-256 of their token). Without it,
    /// authentication is off and only loopback addresses may be bound.
    #[arg(long, env = "RELANCE_AUTH")]
    pub auth: Option<PathBuf>,
    /// Server certificate chain (PEM) to serve TLS.
    #[arg(long, env = "RELANCE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, env = "RELANCE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) whose client certificates are required (mutual TLS).
    #[arg(long, env = "RELANCE_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Requests a second each principal may send (bursts of twice that); 0 turns the limit off.
    #[arg(long, env = "RELANCE_RATE_LIMIT", default_value_t = 2000)]
    pub rate_limit: u32,
    /// Accept bearer tokens in clear: --auth on a non-loopback address without --tls-cert is
    /// refused unless this is given (behind a TLS-terminating proxy, or on a trusted network).
    /// `relance status` and the `relance_insecure_transport` metric show it.
    #[arg(long, env = "RELANCE_INSECURE")]
    pub insecure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    All,
    Command,
    Projection,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's data in this directory (default: a temporary directory, removed after).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Run the demo on NATS JetStream at this URL (stream RELANCE_DEMO, subjects
    /// relance-demo.v1.coop.*, so it never mixes with real events; a rerun is idempotent).
    #[arg(long, env = "RELANCE_NATS")]
    pub nats: Option<String>,
    #[command(flatten)]
    pub link: NatsLinkArgs,
    /// Keep the demo's node running with the dashboard on http://HOST:PORT/ (loopback) until
    /// Ctrl-C.
    #[arg(long = "web")]
    pub web: Option<SocketAddr>,
    /// Write the sample register of the demo's province (an illustrative CSV) to this file
    /// and exit: `relance import cooperatives FILE` loads it.
    #[arg(long, value_name = "FILE")]
    pub write_register: Option<PathBuf>,
}

/// Options every write takes.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// Idempotency key: a retry with the same id is answered with the first result.
    /// Generated when absent.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Refuse unless the cooperative is at this version.
    #[arg(long)]
    pub expected_version: Option<u64>,
    /// Correlation id to group related commands.
    #[arg(long, default_value = "")]
    pub correlation_id: String,
}

#[derive(Debug, Subcommand)]
pub enum CoopCommand {
    /// Register a cooperative (CooperativeRegistered).
    Register {
        id: String,
        #[arg(long)]
        name: String,
        /// Court of first instance keeping the local register.
        #[arg(long)]
        court: String,
        /// Number in the court's local register.
        #[arg(long)]
        number: String,
        /// agriculture, artisanat, habitat, denrees_alimentaires, argane, peche, alphabetisation,
        /// plantes_medicinales, foret, transport, tourisme, conseil_gestion, carrieres, commerce_services
        #[arg(long)]
        sector: String,
        #[arg(long)]
        activity: String,
        #[arg(long)]
        commune: String,
        #[arg(long, default_value_t = 0)]
        members: u32,
        #[arg(long, default_value_t = 0)]
        employees: u32,
        /// YYYY-MM-DD
        #[arg(long)]
        registered_on: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Record an authority's halt (ActivityHalted).
    Halt {
        id: String,
        #[arg(long)]
        authority: String,
        /// The decision's reference (its legal basis).
        #[arg(long, default_value = "")]
        decision_ref: String,
        /// Makes --decision-ref a structured legal basis: dahir, decree, order, circular, decision.
        #[arg(long)]
        legal_instrument: Option<String>,
        /// When the legal instrument was issued (YYYY-MM-DD), for a structured legal basis.
        #[arg(long)]
        legal_issued_on: Option<String>,
        #[arg(long)]
        effective_on: String,
        #[arg(long)]
        reason: String,
        /// total or partial
        #[arg(long, default_value = "total")]
        scope: String,
        #[arg(long, default_value_t = 0)]
        workers: u32,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Record a reorientation (ReorientationDeclared).
    Reorient {
        id: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        product: String,
        #[arg(long, default_value_t = 0)]
        capacity_min: u64,
        #[arg(long, default_value_t = 0)]
        capacity_max: u64,
        #[arg(long, default_value = "")]
        notes: String,
        #[arg(long)]
        effective_on: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Record an authorisation or certification (AuthorizationObtained).
    Authorize {
        id: String,
        /// e.g. IMANOR
        #[arg(long)]
        body: String,
        #[arg(long)]
        reference: String,
        #[arg(long, default_value = "")]
        product: String,
        #[arg(long)]
        obtained_on: String,
        #[arg(long, default_value = "")]
        valid_until: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Record support granted by a partner, in the caller's organisation's name (SupportGranted).
    Support {
        id: String,
        /// The partner; must be the caller's organisation (see --org).
        #[arg(long)]
        partner: String,
        /// financial, commercialisation, technical, training, equipment, in_kind
        #[arg(long)]
        kind: String,
        /// Amount in MAD centimes.
        #[arg(long, allow_hyphen_values = true)]
        amount_centimes: Option<i64>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        granted_on: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Record a sales channel (SalesChannelOpened).
    SalesChannel {
        id: String,
        /// groceries, pharmacies, parapharmacies, ecommerce, wholesale, market, shop, other
        #[arg(long)]
        channel: String,
        #[arg(long)]
        city: String,
        /// established or trial
        #[arg(long, default_value = "established")]
        standing: String,
        #[arg(long)]
        opened_on: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Record a resumption (ActivityResumed).
    Resume {
        id: String,
        #[arg(long, default_value = "")]
        authority: String,
        #[arg(long, default_value = "")]
        decision_ref: String,
        #[arg(long)]
        effective_on: String,
        #[arg(long, default_value_t = 0)]
        workers_back: u32,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Record a headcount (HeadcountReported).
    Headcount {
        id: String,
        #[arg(long)]
        members: u32,
        #[arg(long)]
        employees: u32,
        #[arg(long)]
        as_of: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Retract an event recorded by mistake (EventRetracted); history is never edited.
    Retract {
        id: String,
        /// Id of the event to retract (see `relance coop history`).
        #[arg(long)]
        event: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Show one cooperative's current state.
    Show {
        id: String,
        /// Wait until the node has applied this position (from a command's reply).
        #[arg(long, default_value_t = 0)]
        min_position: u64,
        #[command(flatten)]
        at: AtArgs,
    },
    /// List cooperatives.
    List {
        #[arg(long, default_value = "")]
        sector: String,
        /// active, halted, reoriented, resumed
        #[arg(long, default_value = "")]
        status: String,
        #[arg(long, default_value = "")]
        commune: String,
        /// Cooperatives per page (the CLI fetches every page).
        #[arg(long, default_value_t = 200)]
        page_size: u32,
    },
    /// Show one cooperative's events, retractions marked.
    History { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new token: prints it once, and the line to add to the --auth file.
    New {
        /// Principal id, e.g. `m.najah` or `ocp-act4community`.
        #[arg(long)]
        id: String,
        /// Organisation, e.g. `prefecture`, `OCP`, `INDH`.
        #[arg(long)]
        org: String,
        /// prefecture, partner, auditor or reader (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
}

/// A past point for time travel. `--as-of T` alone: what was recorded up to T (a date means
/// the end of that day, UTC). With `--known-at R` (or `--position N`), `--as-of` is the business
/// date instead: what was known at R about the situation on that date.
#[derive(Debug, Clone, Default, Args)]
pub struct AtArgs {
    /// YYYY-MM-DD, RFC 3339 time (2020-05-01T12:00:00Z) or Unix milliseconds.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Recorded time the knowledge is taken at (bitemporal); needs --as-of.
    #[arg(long, requires = "as_of", conflicts_with = "position")]
    pub known_at: Option<String>,
    /// Stream position the knowledge is taken at (instead of a recorded time).
    #[arg(long)]
    pub position: Option<u64>,
}

/// `relance summary`: the summary, or a time series.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub at: AtArgs,
    /// Print counts per bucket instead: halts, resumptions, reorientations, workers idled,
    /// support granted.
    #[arg(long, value_enum, conflicts_with_all = ["as_of", "position"], requires_all = ["from", "to"])]
    pub series: Option<SeriesBucket>,
    /// First business day of the series (YYYY-MM-DD).
    #[arg(long, requires = "series")]
    pub from: Option<String>,
    /// Last business day of the series (YYYY-MM-DD).
    #[arg(long, requires = "series")]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeriesBucket {
    Day,
    Week,
    Month,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Append an export's events, unchanged, to an EMPTY event log (a restore, or a copy to a
    /// new stream); the export is verified first. Run with the node stopped.
    Import {
        /// The export (JSON Lines).
        file: PathBuf,
        /// Data directory of the embedded log (ignored with --nats).
        #[arg(long, env = "RELANCE_DATA_DIR", default_value = "./relance-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        nats: NatsArgs,
    },
    /// Write the history as JSON Lines (one event a line, then a checkpoint), progress on stderr.
    Export {
        /// First stream position.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Last stream position (default: the log's head when the export starts).
        #[arg(long)]
        to: Option<u64>,
        /// File to write (default: standard output). (`--output` is the global table|json.)
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        /// Sign the closing checkpoints with this Ed25519 key file (see `relance audit keygen`).
        #[arg(long, env = "RELANCE_AUDIT_KEY")]
        sign_key: Option<PathBuf>,
        #[command(flatten)]
        origin: OriginArg,
    },
    /// Check an export (or the live history with --live): every chain, order and checkpoint.
    /// Exits non-zero naming the first bad event.
    Verify {
        /// The export to check.
        #[arg(required_unless_present = "live", conflicts_with = "live")]
        file: Option<PathBuf>,
        /// Export from the node and check that, in memory.
        #[arg(long)]
        live: bool,
        /// Also check against this checkpoint (a `kind: checkpoint` line kept from an earlier
        /// export); repeatable.
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// Ed25519 public key (64 hex characters) every checkpoint must be signed with; the
        /// export's last position must then be covered by a checkpoint signed with it.
        #[arg(long, env = "RELANCE_AUDIT_PUBLIC_KEY")]
        public_key: Option<String>,
        /// With --public-key, accept events past the last signed checkpoint (reported as not
        /// proven complete) instead of failing with `unsigned_tail`.
        #[arg(long, requires = "public_key")]
        allow_unsigned_tail: bool,
        /// Require a cosignature from this witness (its vkey) on a tree checkpoint matching the
        /// export (pass the cosigned checkpoint with --checkpoint); repeatable.
        #[arg(long = "witness-key")]
        witness_keys: Vec<String>,
    },
    /// Print an inclusion proof (or a consistency proof) under a tree checkpoint, as one JSON
    /// line carrying that checkpoint.
    Prove(ProveArgs),
    /// Check proofs offline, and that their checkpoint is signed with the log's key.
    CheckProof(CheckProofArgs),
    /// Cosign a tree checkpoint if it extends the one this witness accepted last.
    Witness(WitnessArgs),
    /// Rebuild the projection offline from an export alone; print the summary and the digest.
    Replay {
        file: PathBuf,
        /// Only events recorded up to this time (YYYY-MM-DD = end of day UTC, RFC 3339, Unix ms).
        #[arg(long, conflicts_with = "position")]
        as_of: Option<String>,
        /// Only events up to this stream position.
        #[arg(long)]
        position: Option<u64>,
    },
    /// Record a signed checkpoint of the live node (every chain's head, no full export) as one
    /// line, appended to --out; with --every, one each period until interrupted.
    Checkpoint {
        /// The Ed25519 key file to sign with (see `relance audit keygen`).
        #[arg(long, env = "RELANCE_AUDIT_KEY")]
        sign_key: PathBuf,
        /// File to append the checkpoint lines to (default: standard output).
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        /// Seconds between checkpoints; without it, one checkpoint and exit.
        #[arg(long)]
        every: Option<u64>,
        /// Wait until the node has applied this position.
        #[arg(long, default_value_t = 0)]
        min_position: u64,
        #[command(flatten)]
        origin: OriginArg,
    },
    /// The live projection's digest and the position it was taken at.
    Digest {
        /// Wait until the node has applied this position.
        #[arg(long, default_value_t = 0)]
        min_position: u64,
    },
    /// Make an Ed25519 signing key for checkpoints: writes the secret seed to FILE and prints
    /// the public key to give auditors.
    Keygen {
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectionCommand {
    /// Throw the views away and replay the whole event log, with progress; prints the digest.
    /// Run with the node stopped, or with --live against a running node.
    Rebuild {
        /// Ask the running node at --server to rebuild its views beside the served ones and
        /// switch to them once caught up, without stopping; shows its progress until then.
        #[arg(long)]
        live: bool,
        /// With --live: return once the rebuild has started (`relance status` shows it).
        #[arg(long, requires = "live")]
        detach: bool,
        /// The node's data directory (views in DIR/projection; embedded log in DIR/log).
        #[arg(long, env = "RELANCE_DATA_DIR", default_value = "./relance-data")]
        data_dir: PathBuf,
        #[command(flatten)]
        nats: NatsArgs,
    },
}

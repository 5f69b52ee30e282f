//! The flags of `relance audit prove`, `check-proof` and `witness`, and the log's origin.

use std::path::PathBuf;

use clap::Args;

/// The log's origin, the first line of its tree checkpoints and the name of its key.
#[derive(Debug, Clone, Args)]
pub struct OriginArg {
    /// The log's origin (e.g. relance.prefecture-rehamna.ma/RELANCE_EVENTS).
    #[arg(long, env = "RELANCE_AUDIT_ORIGIN", default_value = relance_audit::DEFAULT_ORIGIN)]
    pub origin: String,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Prove the event at this stream position.
    #[arg(long, required_unless_present_any = ["event_id", "consistency_from"])]
    pub position: Option<u64>,
    /// Prove the event with this id.
    #[arg(long, conflicts_with = "position")]
    pub event_id: Option<String>,
    /// Instead, prove that the tree of this size is a prefix of the checkpoint's tree.
    #[arg(long, conflicts_with_all = ["position", "event_id"])]
    pub consistency_from: Option<u64>,
    /// The tree checkpoint to prove under (a signed note, or an export or file holding
    /// `tlog_checkpoint` lines: the last one); default: the latest, signed with --sign-key.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Build the tree from this export instead of asking the node (its projection keeps it).
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Sign the latest checkpoint with this key file (without --checkpoint).
    #[arg(long, env = "RELANCE_AUDIT_KEY")]
    pub sign_key: Option<PathBuf>,
    #[command(flatten)]
    pub origin: OriginArg,
}

#[derive(Debug, Args)]
pub struct CheckProofArgs {
    /// Proofs, one JSON line each (`relance audit prove`).
    pub file: PathBuf,
    /// The log's Ed25519 public key (hex): each proof's checkpoint must be signed with it.
    #[arg(long, env = "RELANCE_AUDIT_PUBLIC_KEY")]
    pub public_key: String,
}

#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// Where the witness keeps, per origin, the last checkpoint it accepted.
    #[arg(long)]
    pub state_dir: PathBuf,
    /// The log's Ed25519 public key (hex).
    #[arg(long)]
    pub log_key: String,
    /// The witness's Ed25519 key file (`relance audit keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// The witness's key name (in its cosignature lines and vkey).
    #[arg(long, default_value = "relance-witness")]
    pub name: String,
    /// The signed tree checkpoint to cosign (a note, or an export: its `tlog_checkpoint`).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The export the consistency proof is computed from (default: asked of the node).
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Write the cosigned checkpoint here (default: standard output).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub origin: OriginArg,
}

//! `relance audit prove`, `check-proof` and `witness`: the transparency log (the Merkle tree of
//! every event, relance-tlog) as an auditor and a witness use it, offline from an export or
//! from the node's history.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use relance_audit::relance_tlog::{CosignatureSigner, CosignatureVerifier, Witness, WitnessState};
use relance_audit::{Checkpoint, EventTree, Line, TreeCheckpoint};

use crate::cli::ClientArgs;

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
    position: Option<u64>,
    /// Prove the event with this id.
    #[arg(long, conflicts_with = "position")]
    event_id: Option<String>,
    /// Instead, prove that the tree of this size is a prefix of the checkpoint's tree.
    #[arg(long, conflicts_with_all = ["position", "event_id"])]
    consistency_from: Option<u64>,
    /// The tree checkpoint to prove under (a signed note, or an export or file holding
    /// `tlog_checkpoint` lines: the last one); default: the latest, signed with --sign-key.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Build the tree from this export instead of the node's history.
    #[arg(long)]
    export: Option<PathBuf>,
    /// Sign the latest checkpoint with this key file (without --checkpoint).
    #[arg(long, env = "RELANCE_AUDIT_KEY")]
    sign_key: Option<PathBuf>,
    #[command(flatten)]
    origin: OriginArg,
}

#[derive(Debug, Args)]
pub struct CheckProofArgs {
    /// Proofs, one JSON line each (`relance audit prove`).
    file: PathBuf,
    /// The log's Ed25519 public key (hex): each proof's checkpoint must be signed with it.
    #[arg(long, env = "RELANCE_AUDIT_PUBLIC_KEY")]
    public_key: String,
}

#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// Where the witness keeps, per origin, the last checkpoint it accepted.
    #[arg(long)]
    state_dir: PathBuf,
    /// The log's Ed25519 public key (hex).
    #[arg(long)]
    log_key: String,
    /// The witness's Ed25519 key file (`relance audit keygen`).
    #[arg(long)]
    key: PathBuf,
    /// The witness's key name (in its cosignature lines and vkey).
    #[arg(long, default_value = "relance-witness")]
    name: String,
    /// The signed tree checkpoint to cosign (a note, or an export: its `tlog_checkpoint`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The export the consistency proof is computed from (default: the node's history).
    #[arg(long)]
    export: Option<PathBuf>,
    /// Write the cosigned checkpoint here (default: standard output).
    #[arg(long, short = 'o')]
    out: Option<PathBuf>,
    #[command(flatten)]
    origin: OriginArg,
}

/// Every per-chain and tree checkpoint of the files (exports, `audit checkpoint` output, or a
/// signed note on its own).
pub fn read_checkpoints(paths: &[PathBuf]) -> Result<(Vec<Checkpoint>, Vec<String>)> {
    let (mut chains, mut trees) = (Vec::new(), Vec::new());
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let before = chains.len() + trees.len();
        if !text.trim_start().starts_with('{') {
            trees.push(text);
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            if !line.contains("checkpoint\"") {
                continue;
            }
            match relance_audit::parse_line(i + 1, line)
                .with_context(|| path.display().to_string())?
            {
                Line::Checkpoint(cp) => chains.push(cp),
                Line::TlogCheckpoint { note } => trees.push(note),
                _ => {}
            }
        }
        if chains.len() + trees.len() == before {
            bail!("{} holds no checkpoint line", path.display());
        }
    }
    Ok((chains, trees))
}

/// The tree of an export file, or of the node's whole history.
async fn tree(args: &ClientArgs, export: Option<&Path>) -> Result<EventTree> {
    let bytes = match export {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => {
            let mut buf = Vec::new();
            crate::audit::export_into(args, &mut buf).await?;
            buf
        }
    };
    let mut tree = EventTree::new();
    for (i, line) in std::io::BufRead::lines(BufReader::new(&bytes[..])).enumerate() {
        let line = line?;
        if !line.contains("\"event\"") {
            continue;
        }
        if let Line::Event { position, envelope } = relance_audit::parse_line(i + 1, &line)? {
            tree.push(position, &envelope.event_id, envelope.hash.0)?;
        }
    }
    Ok(tree)
}

fn last_tree_checkpoint(path: &Path) -> Result<String> {
    read_checkpoints(&[path.to_owned()])?
        .1
        .pop()
        .ok_or_else(|| anyhow!("{} holds no tree checkpoint", path.display()))
}

pub async fn prove(args: &ClientArgs, a: ProveArgs) -> Result<()> {
    let tree = tree(args, a.export.as_deref()).await?;
    let note = match (&a.checkpoint, &a.sign_key) {
        (Some(path), _) => last_tree_checkpoint(path)?,
        (None, key) => {
            let key = key
                .as_deref()
                .map(relance_audit::read_signing_key)
                .transpose()?;
            tree.checkpoint(&a.origin.origin, key.as_ref())?
        }
    };
    let size = TreeCheckpoint::parse(&note)?.head.size;
    let line = match (a.consistency_from, a.position, &a.event_id) {
        (Some(old), _, _) => tree.consistency_json(old, size, Some(&note))?,
        (None, Some(p), _) => tree.inclusion_json(p, size, Some(&note))?,
        (None, None, Some(id)) => tree.inclusion_json(tree.position_of(id)?, size, Some(&note))?,
        (None, None, None) => bail!("--position, --event-id or --consistency-from"),
    };
    println!("{line}");
    Ok(())
}

pub fn check_proof(a: CheckProofArgs) -> Result<()> {
    let key = relance_audit::parse_public_key(&a.public_key)?;
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let mut failed = 0;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match relance_audit::check_proof_line(line, Some(&key)) {
            Ok(p) if p.kind == "inclusion" => println!(
                "line {}: ok: the event at position {} is in the tree of {} events signed as {}",
                n + 1,
                p.at,
                p.size,
                p.origin.unwrap_or_default()
            ),
            Ok(p) => println!(
                "line {}: ok: the tree of {} events is a prefix of the tree of {} signed as {}",
                n + 1,
                p.at,
                p.size,
                p.origin.unwrap_or_default()
            ),
            Err(e) => {
                println!("line {}: FAILED: {e}", n + 1);
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} proof(s) failed");
    }
    Ok(())
}

pub async fn witness(args: &ClientArgs, a: WitnessArgs) -> Result<()> {
    let origin = &a.origin.origin;
    let log_key = relance_audit::parse_public_key(&a.log_key)?;
    let seed = relance_audit::read_signing_key(&a.key)?.to_bytes();
    let cosigner = CosignatureSigner::from_seed(&a.name, &seed)
        .map_err(|e| anyhow!("witness key name {:?}: {e}", a.name))?;
    eprintln!("witness key: {}", cosigner.verifier().to_vkey());
    let witness = Witness::new(
        origin.clone(),
        relance_audit::log_verifier(origin, &log_key)?,
        cosigner,
    );
    std::fs::create_dir_all(&a.state_dir)
        .with_context(|| format!("cannot create {}", a.state_dir.display()))?;
    let state_path = a
        .state_dir
        .join(format!("{}.checkpoint", origin.replace('/', "_")));
    let state = match std::fs::read_to_string(&state_path) {
        Ok(text) => Some(
            WitnessState::from_text(&text).map_err(|e| anyhow!("{}: {e}", state_path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context(state_path.display().to_string()),
    };
    let note = last_tree_checkpoint(&a.checkpoint)?;
    let offered = TreeCheckpoint::parse(&note)?.head;
    let held = state.as_ref().map_or(0, |s| s.checkpoint.size);
    let tree = tree(args, a.export.as_deref()).await?;
    // The proof from the size held to the size offered; a log that cannot give one (shorter
    // than either) gets an empty proof, which the witness refuses unless nothing is held.
    let proof = if offered.size <= tree.size() && held <= offered.size {
        tree.consistency_path(held, offered.size)?
    } else {
        Vec::new()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let accepted = witness
        .process(state.as_ref(), &note, &proof, now)
        .map_err(|e| anyhow!("refused: {e}"))?;
    let tmp = state_path.with_extension("tmp");
    std::fs::write(&tmp, accepted.state.to_text())?;
    std::fs::rename(&tmp, &state_path)?;
    match &a.out {
        Some(path) => std::fs::write(path, accepted.cosigned.to_text())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{}", accepted.cosigned.to_text()),
    }
    eprintln!(
        "cosigned {origin} at size {} (held before: size {held})",
        accepted.checkpoint.size
    );
    Ok(())
}

/// The witnesses `verify --witness-key` requires.
pub fn witness_keys(vkeys: &[String]) -> Result<Vec<CosignatureVerifier>> {
    vkeys
        .iter()
        .map(|v| CosignatureVerifier::from_vkey(v).map_err(|e| anyhow!("--witness-key {v:?}: {e}")))
        .collect()
}

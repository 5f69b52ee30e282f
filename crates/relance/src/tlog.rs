//! `relance audit prove`, `check-proof` and `witness`: the transparency log (the Merkle tree of
//! every event, relance-tlog) as an auditor and a witness use it: proofs from the node's
//! projection (the Audit service's Checkpoint, InclusionProof and ConsistencyProof) or offline
//! from an export, checked offline.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use futures::StreamExt;
use relance_audit::relance_tlog::{
    Checkpoint as TreeHead, ConsistencyProof, CosignatureSigner, CosignatureVerifier,
    InclusionProof, Witness, WitnessState,
};
use relance_audit::{Checkpoint, EventTree, Line, TreeCheckpoint};
use relance_proto::v1;

use crate::cli::{CheckProofArgs, ClientArgs, ProveArgs, WitnessArgs};
use crate::client::{status_error, Client};

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

/// The tree of an export file.
fn tree(path: &Path) -> Result<EventTree> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
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

fn hash32(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| anyhow!("the node sent a {what} that is not 32 bytes"))
}

/// The node's tree head at its projection's checkpoint as a C2SP checkpoint: signed with `key`
/// (named by `origin`), or its body alone. Also returns the size.
pub async fn node_checkpoint(
    c: &mut Client,
    key: Option<&relance_audit::SigningKey>,
    origin: &str,
    min: u64,
) -> Result<(Line, u64)> {
    let reply = c
        .audit
        .checkpoint(c.request(v1::TreeCheckpointRequest { min_position: min })?)
        .await
        .map_err(status_error)?
        .into_inner();
    let head = reply
        .tree
        .ok_or_else(|| anyhow!("the node sent no tree head"))?;
    let cp = TreeHead::new(origin, head.size, hash32(&head.root, "tree root")?);
    let note = match key {
        Some(key) => cp
            .sign(&relance_audit::log_signer(origin, key)?)
            .map_err(|e| anyhow!("signing the tree checkpoint: {e}"))?
            .to_text(),
        None => cp.to_body(),
    };
    Ok((Line::TlogCheckpoint { note }, head.size))
}

/// The event (position, hash) the proof is about: by position (one event exported), or by id
/// (the history streamed until it is found).
async fn event_at(args: &ClientArgs, c: &mut Client, a: &ProveArgs) -> Result<(u64, [u8; 32])> {
    if let Some(id) = &a.event_id {
        let mut buf = Vec::new();
        crate::export::export_into(args, &mut buf).await?;
        for (i, line) in std::io::BufRead::lines(BufReader::new(&buf[..])).enumerate() {
            if let Line::Event { position, envelope } = relance_audit::parse_line(i + 1, &line?)? {
                if envelope.event_id == *id {
                    return Ok((position, envelope.hash.0));
                }
            }
        }
        bail!("the node's history has no event {id}");
    }
    let position = a.position.context("--position or --event-id")?;
    let mut stream = c
        .audit
        .export(c.request(v1::ExportRequest {
            from: position,
            to: position,
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    while let Some(record) = stream.next().await {
        let wire = record.map_err(status_error)?.envelope;
        if let Some(w) = wire.filter(|w| w.position == position) {
            return Ok((position, hash32(&w.hash, "event hash")?));
        }
    }
    bail!("position {position} is past the tree: the node's log has no event there")
}

/// `prove` against the node: its projection's tree, under `note` (of size `size`).
async fn prove_on_node(args: &ClientArgs, a: &ProveArgs, note: &str, size: u64) -> Result<String> {
    let mut c = Client::open(args).await?;
    let root = TreeCheckpoint::parse(note)?.head.root;
    if let Some(old) = a.consistency_from {
        let r = c
            .audit
            .consistency_proof(c.request(v1::ConsistencyProofRequest {
                old_size: old,
                new_size: size,
            })?)
            .await
            .map_err(status_error)?
            .into_inner();
        let path = r
            .path
            .iter()
            .map(|h| hash32(h, "proof hash"))
            .collect::<Result<_>>()?;
        let old_root = hash32(&r.old.unwrap_or_default().root, "old root")?;
        let proof = ConsistencyProof {
            old_size: old,
            new_size: size,
            path,
        };
        return Ok(relance_audit::with_checkpoint(
            proof.to_json(&old_root, &root),
            Some(note),
        ));
    }
    let (position, event_hash) = event_at(args, &mut c, a).await?;
    let r = c
        .audit
        .inclusion_proof(c.request(v1::InclusionProofRequest {
            position,
            tree_size: size,
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    if r.leaf_hash != relance_audit::relance_tlog::leaf_hash(&event_hash) {
        bail!("the node's tree holds another leaf at position {position} than its event");
    }
    let path = r
        .path
        .iter()
        .map(|h| hash32(h, "proof hash"))
        .collect::<Result<_>>()?;
    let proof = InclusionProof {
        index: position - 1,
        size,
        path,
    };
    Ok(relance_audit::with_checkpoint(
        proof.to_json(&event_hash, &root),
        Some(note),
    ))
}

fn last_tree_checkpoint(path: &Path) -> Result<String> {
    read_checkpoints(&[path.to_owned()])?
        .1
        .pop()
        .ok_or_else(|| anyhow!("{} holds no tree checkpoint", path.display()))
}

pub async fn prove(args: &ClientArgs, a: ProveArgs) -> Result<()> {
    let key = a
        .sign_key
        .as_deref()
        .map(relance_audit::read_signing_key)
        .transpose()?;
    let origin = &a.origin.origin;
    let line = if let Some(export) = &a.export {
        let tree = tree(export)?;
        let note = match &a.checkpoint {
            Some(path) => last_tree_checkpoint(path)?,
            None => tree.checkpoint(origin, key.as_ref())?,
        };
        let size = TreeCheckpoint::parse(&note)?.head.size;
        match (a.consistency_from, a.position, &a.event_id) {
            (Some(old), _, _) => tree.consistency_json(old, size, Some(&note))?,
            (None, Some(p), _) => tree.inclusion_json(p, size, Some(&note))?,
            (None, None, Some(id)) => {
                tree.inclusion_json(tree.position_of(id)?, size, Some(&note))?
            }
            (None, None, None) => bail!("--position, --event-id or --consistency-from"),
        }
    } else {
        let note = match &a.checkpoint {
            Some(path) => last_tree_checkpoint(path)?,
            None => {
                let mut c = Client::open(args).await?;
                match node_checkpoint(&mut c, key.as_ref(), origin, 0).await?.0 {
                    Line::TlogCheckpoint { note } => note,
                    _ => bail!("not a tree checkpoint"),
                }
            }
        };
        let size = TreeCheckpoint::parse(&note)?.head.size;
        prove_on_node(args, &a, &note, size).await?
    };
    // Checked before it is handed out: a node that answers with another tree is caught here.
    relance_audit::check_proof_line(&line, None)
        .map_err(|e| anyhow!("the proof does not verify against its checkpoint: {e}"))?;
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
    // The proof from the size held to the size offered; a log that cannot give one (shorter
    // than either) gets an empty proof, which the witness refuses unless nothing is held.
    let proof = match &a.export {
        _ if held > offered.size => Vec::new(),
        Some(export) => {
            let tree = tree(export)?;
            if offered.size <= tree.size() {
                tree.consistency_path(held, offered.size)?
            } else {
                Vec::new()
            }
        }
        None => {
            let mut c = Client::open(args).await?;
            let r = c
                .audit
                .consistency_proof(c.request(v1::ConsistencyProofRequest {
                    old_size: held,
                    new_size: offered.size,
                })?)
                .await
                .map_err(status_error)?
                .into_inner();
            r.path
                .iter()
                .map(|h| hash32(h, "proof hash"))
                .collect::<Result<_>>()?
        }
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

/// `verify --live`: the node's own tree (its projection's) must extend every tree checkpoint
/// given, by a consistency proof the node gives and this checks.
pub async fn live_consistency(args: &ClientArgs, trees: &[String]) -> Result<()> {
    if trees.is_empty() {
        return Ok(());
    }
    let mut c = Client::open(args).await?;
    let now = c
        .audit
        .checkpoint(c.request(v1::TreeCheckpointRequest { min_position: 0 })?)
        .await
        .map_err(status_error)?
        .into_inner()
        .tree
        .ok_or_else(|| anyhow!("the node sent no tree head"))?;
    let root = hash32(&now.root, "tree root")?;
    for text in trees {
        let old = TreeCheckpoint::parse(text)?.head;
        if old.size > now.size {
            bail!(
                "tree_mismatch: the node's tree holds {} events, fewer than the tree checkpoint of size {}",
                now.size,
                old.size
            );
        }
        let r = c
            .audit
            .consistency_proof(c.request(v1::ConsistencyProofRequest {
                old_size: old.size,
                new_size: now.size,
            })?)
            .await
            .map_err(status_error)?
            .into_inner();
        let path: Vec<[u8; 32]> = r
            .path
            .iter()
            .map(|h| hash32(h, "proof hash"))
            .collect::<Result<_>>()?;
        relance_audit::relance_tlog::verify_consistency(old.size, now.size, &old.root, &root, &path)
            .map_err(|e| {
                anyhow!(
                    "tree_mismatch: the node's tree of {} events does not extend the tree checkpoint of size {}: {e}",
                    now.size,
                    old.size
                )
            })?;
        eprintln!(
            "consistency: the node's tree of {} events extends the tree checkpoint of size {} (proof checked)",
            now.size, old.size
        );
    }
    Ok(())
}

/// The witnesses `verify --witness-key` requires.
pub fn witness_keys(vkeys: &[String]) -> Result<Vec<CosignatureVerifier>> {
    vkeys
        .iter()
        .map(|v| CosignatureVerifier::from_vkey(v).map_err(|e| anyhow!("--witness-key {v:?}: {e}")))
        .collect()
}

//! The transparency log over an export: the RFC 9162 Merkle tree of every event's hash in
//! position order (leaf `i` = the event at position `i + 1`, `relance-tlog`), its C2SP
//! checkpoints signed with the audit key (the key name is the log's origin), and inclusion and
//! consistency proofs written as the JSON lines of `docs/audit-format.md`.

use std::collections::HashMap;

use ed25519_dalek::{SigningKey, VerifyingKey};
use relance_tlog::{
    prove_consistency, prove_inclusion, subtree_hash, Checkpoint as TreeHead, CosignatureVerifier,
    Ed25519Signer, Ed25519Verifier, MemoryStore, Note,
};
use serde_json::Value;

/// The origin used when none is configured.
pub const DEFAULT_ORIGIN: &str = "relance.local/RELANCE_EVENTS";

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error(
        "the tree needs every position from 1: position {got} comes where {expected} was expected"
    )]
    Gap { expected: u64, got: u64 },
    #[error("position {position} is past the tree of {size} events")]
    PastTheTree { position: u64, size: u64 },
    #[error("no event {0} in the export")]
    UnknownEvent(String),
    #[error("tree size {size} is past the tree of {have} events")]
    SizeTooLarge { size: u64, have: u64 },
    #[error("{0:?} is not a usable origin (a key name: no spaces, no '+')")]
    BadOrigin(String),
    #[error("bad checkpoint: {0}")]
    Checkpoint(String),
    #[error("bad proof: {0}")]
    Proof(String),
}

/// The tree of an export's events, with what proofs need (every leaf is kept: proofs read
/// them through [`MemoryStore`]).
#[derive(Debug, Default)]
pub struct EventTree {
    store: MemoryStore,
    hashes: Vec<[u8; 32]>,
    ids: HashMap<String, u64>,
}

impl EventTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the event at `position`, which must be the next one.
    pub fn push(&mut self, position: u64, event_id: &str, hash: [u8; 32]) -> Result<(), TreeError> {
        let expected = self.size() + 1;
        if position != expected {
            return Err(TreeError::Gap {
                expected,
                got: position,
            });
        }
        self.store.push(relance_tlog::leaf_hash(&hash));
        self.hashes.push(hash);
        self.ids.insert(event_id.to_owned(), position);
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.hashes.len() as u64
    }

    /// The root of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<[u8; 32], TreeError> {
        if size > self.size() {
            return Err(TreeError::SizeTooLarge {
                size,
                have: self.size(),
            });
        }
        subtree_hash(&self.store, 0, size).map_err(|e| TreeError::Proof(e.to_string()))
    }

    /// The position of an event, by id.
    pub fn position_of(&self, event_id: &str) -> Result<u64, TreeError> {
        self.ids
            .get(event_id)
            .copied()
            .ok_or_else(|| TreeError::UnknownEvent(event_id.to_owned()))
    }

    /// The inclusion proof of the event at `position` in the tree of `size` leaves, as a JSON
    /// line, carrying `checkpoint` (the signed note of that tree) when given.
    pub fn inclusion_json(
        &self,
        position: u64,
        size: u64,
        checkpoint: Option<&str>,
    ) -> Result<String, TreeError> {
        if position == 0 || position > size || size > self.size() {
            return Err(TreeError::PastTheTree {
                position,
                size: size.min(self.size()),
            });
        }
        let proof = prove_inclusion(&self.store, position - 1, size)
            .map_err(|e| TreeError::Proof(e.to_string()))?;
        let json = proof.to_json(&self.hashes[position as usize - 1], &self.root_at(size)?);
        Ok(with_checkpoint(json, checkpoint))
    }

    /// The consistency proof from the tree of `old_size` leaves to the tree of `new_size`.
    pub fn consistency_json(
        &self,
        old_size: u64,
        new_size: u64,
        checkpoint: Option<&str>,
    ) -> Result<String, TreeError> {
        if new_size > self.size() {
            return Err(TreeError::SizeTooLarge {
                size: new_size,
                have: self.size(),
            });
        }
        let proof = prove_consistency(&self.store, old_size, new_size)
            .map_err(|e| TreeError::Proof(e.to_string()))?;
        let json = proof.to_json(&self.root_at(old_size)?, &self.root_at(new_size)?);
        Ok(with_checkpoint(json, checkpoint))
    }

    /// The raw consistency proof hashes (for a witness).
    pub fn consistency_path(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<[u8; 32]>, TreeError> {
        prove_consistency(&self.store, old_size, new_size)
            .map(|p| p.path)
            .map_err(|e| TreeError::Proof(e.to_string()))
    }

    /// The C2SP checkpoint of the whole tree, signed with `key` when given (else its body
    /// alone).
    pub fn checkpoint(&self, origin: &str, key: Option<&SigningKey>) -> Result<String, TreeError> {
        let head = TreeHead::new(origin, self.size(), self.root_at(self.size())?);
        match key {
            None => Ok(head.to_body()),
            Some(key) => Ok(head
                .sign(&log_signer(origin, key)?)
                .map_err(|e| TreeError::Checkpoint(e.to_string()))?
                .to_text()),
        }
    }
}

/// A proof's JSON line with `checkpoint` (the signed note of its tree) added.
pub fn with_checkpoint(json: String, checkpoint: Option<&str>) -> String {
    let Some(cp) = checkpoint else { return json };
    let mut v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("checkpoint".into(), Value::String(cp.to_owned()));
        return v.to_string();
    }
    json
}

/// The log's note signer: the audit key, named by the origin.
pub fn log_signer(origin: &str, key: &SigningKey) -> Result<Ed25519Signer, TreeError> {
    Ed25519Signer::from_seed(origin, &key.to_bytes())
        .map_err(|_| TreeError::BadOrigin(origin.into()))
}

/// The log's note verifier: the audit public key, named by the origin.
pub fn log_verifier(origin: &str, key: &VerifyingKey) -> Result<Ed25519Verifier, TreeError> {
    Ed25519Verifier::new(origin, &key.to_bytes()).map_err(|_| TreeError::BadOrigin(origin.into()))
}

/// A C2SP checkpoint read from text: a signed note, or a bare body (unsigned).
#[derive(Debug, Clone)]
pub struct TreeCheckpoint {
    pub head: TreeHead,
    /// The note (None when the text had no signature lines).
    pub note: Option<Note>,
}

impl TreeCheckpoint {
    pub fn parse(text: &str) -> Result<Self, TreeError> {
        let bad = |e: &dyn std::fmt::Display| TreeError::Checkpoint(e.to_string());
        if !text.contains("\n\n") {
            let head = TreeHead::parse_body(text).map_err(|e| bad(&e))?;
            return Ok(Self { head, note: None });
        }
        let note = Note::parse(text).map_err(|e| bad(&e))?;
        let head = TreeHead::parse_body(note.text()).map_err(|e| bad(&e))?;
        Ok(Self {
            head,
            note: Some(note),
        })
    }

    /// Is it signed by the log key `key` (named by its origin)?
    pub fn check_log_signature(&self, key: &VerifyingKey) -> Result<(), String> {
        let Some(note) = &self.note else {
            return Err("the tree checkpoint is not signed".into());
        };
        let verifier = log_verifier(&self.head.origin, key).map_err(|e| e.to_string())?;
        note.verify(&[&verifier])
            .map(|_| ())
            .map_err(|e| format!("not signed by the trusted key as {}: {e}", self.head.origin))
    }

    /// Is it cosigned by this witness?
    pub fn check_cosignature(&self, witness: &CosignatureVerifier) -> Result<(), String> {
        let Some(note) = &self.note else {
            return Err("the tree checkpoint is not signed".into());
        };
        note.verify(&[witness])
            .map(|_| ())
            .map_err(|e| format!("no valid cosignature by {}: {e}", witness.to_vkey()))
    }
}

/// What a checked proof line proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofChecked {
    pub kind: String,
    /// Inclusion: the position; consistency: the old size.
    pub at: u64,
    /// The tree size the proof leads to.
    pub size: u64,
    /// The origin of the checkpoint the proof came with.
    pub origin: Option<String>,
}

/// Checks one proof line: the proof itself and, when it carries a `checkpoint`, that the
/// checkpoint is signed by `log_key` and names the proof's size and root. Without a checkpoint
/// and with a key, the proof proves nothing and is refused.
pub fn check_proof_line(
    line: &str,
    log_key: Option<&VerifyingKey>,
) -> Result<ProofChecked, TreeError> {
    let bad = |what: &str| TreeError::Proof(what.to_owned());
    let v: Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
    let num = |k: &str| v[k].as_u64().ok_or_else(|| bad(&format!("no {k}")));
    let b64 = |k: &str| -> Result<[u8; 32], TreeError> {
        use base64::Engine as _;
        v[k].as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad(&format!("{k} is not a base64 hash")))
    };
    let path: Vec<[u8; 32]> = v["path"]
        .as_array()
        .ok_or_else(|| bad("no path"))?
        .iter()
        .map(|h| {
            use base64::Engine as _;
            h.as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("a path hash is not base64"))
        })
        .collect::<Result<_, _>>()?;
    let kind = v["type"].as_str().unwrap_or_default().to_owned();
    let (at, size, root) = match kind.as_str() {
        "inclusion" => {
            let (index, size, root) = (num("index")?, num("size")?, b64("root")?);
            let mut event = [0u8; 32];
            hex::decode_to_slice(v["event_hash"].as_str().unwrap_or_default(), &mut event)
                .map_err(|_| bad("event_hash is not 64 hex characters"))?;
            relance_tlog::verify_inclusion(
                index,
                size,
                &relance_tlog::leaf_hash(&event),
                &path,
                &root,
            )
            .map_err(|e| bad(&e.to_string()))?;
            (index + 1, size, root)
        }
        "consistency" => {
            let (old, new) = (num("old_size")?, num("new_size")?);
            let (old_root, new_root) = (b64("old_root")?, b64("new_root")?);
            relance_tlog::verify_consistency(old, new, &old_root, &new_root, &path)
                .map_err(|e| bad(&e.to_string()))?;
            (old, new, new_root)
        }
        other => return Err(bad(&format!("unknown proof type {other:?}"))),
    };
    let origin = match (v["checkpoint"].as_str(), log_key) {
        (None, None) => None,
        (None, Some(_)) => return Err(bad("it carries no checkpoint to check against the key")),
        (Some(text), key) => {
            let cp = TreeCheckpoint::parse(text)?;
            if let Some(key) = key {
                cp.check_log_signature(key).map_err(TreeError::Checkpoint)?;
            }
            if cp.head.size != size || cp.head.root != root {
                return Err(bad("its checkpoint names another tree size or root"));
            }
            Some(cp.head.origin)
        }
    };
    Ok(ProofChecked {
        kind,
        at,
        size,
        origin,
    })
}

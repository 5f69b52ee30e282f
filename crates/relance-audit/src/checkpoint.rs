//! Checkpoints: the head of every cooperative chain at a stream position, folded into one root
//! and signed with Ed25519, so that a removed tail (which leaves every chain well linked) is
//! caught.

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use relance_domain::{canonical_json, Envelope, Hash};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A cooperative chain's last event at the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub version: u64,
    pub position: u64,
    pub hash: Hash,
}

/// The heads of every chain at `position`, their root and (optionally) a signature of the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Every event at or below this stream position is covered.
    pub position: u64,
    /// Events covered.
    pub count: u64,
    /// Cooperative id → head.
    pub heads: BTreeMap<String, Head>,
    /// SHA-256 of the canonical JSON of `{"count", "heads", "position"}`.
    pub root: Hash,
    /// Ed25519 public key (hex) of the signer, when signed.
    pub public_key: Option<String>,
    /// Ed25519 signature (hex) of the 32 root bytes, when signed.
    pub signature: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    position: u64,
    count: u64,
    heads: &'a BTreeMap<String, Head>,
}

impl Checkpoint {
    /// An unsigned checkpoint of these heads, its root computed.
    pub fn new(position: u64, count: u64, heads: BTreeMap<String, Head>) -> Self {
        let mut cp = Checkpoint {
            position,
            count,
            heads,
            root: Hash::ZERO,
            public_key: None,
            signature: None,
        };
        cp.root = cp.compute_root();
        cp
    }

    /// The root these fields hash to.
    pub fn compute_root(&self) -> Hash {
        let body = Body {
            position: self.position,
            count: self.count,
            heads: &self.heads,
        };
        Hash(Sha256::digest(canonical_json(&body)).into())
    }

    /// Signs the root with `key`.
    pub fn sign(&mut self, key: &SigningKey) {
        self.public_key = Some(hex::encode(key.verifying_key().to_bytes()));
        self.signature = Some(hex::encode(key.sign(&self.root.0).to_bytes()));
    }

    /// Checks the signature against the key named in the checkpoint, or against `trusted`
    /// (which must then be that key). `Err` says what is wrong.
    pub fn check_signature(&self, trusted: Option<&VerifyingKey>) -> Result<(), String> {
        let (Some(public), Some(signature)) = (&self.public_key, &self.signature) else {
            return match trusted {
                Some(_) => Err("the checkpoint is not signed".into()),
                None => Ok(()),
            };
        };
        let key = parse_public_key(public).map_err(|e| e.to_string())?;
        if let Some(trusted) = trusted {
            if trusted != &key {
                return Err(format!(
                    "signed by key {public}, not by the trusted key {}",
                    hex::encode(trusted.to_bytes())
                ));
            }
        }
        let raw: [u8; 64] = hex::decode(signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("the signature is not 64 hex bytes")?;
        key.verify(&self.root.0, &Signature::from_bytes(&raw))
            .map_err(|_| "the signature does not match the root".to_string())
    }
}

/// Builds a checkpoint from events given in position order.
#[derive(Debug, Default)]
pub struct CheckpointBuilder {
    position: u64,
    count: u64,
    heads: BTreeMap<String, Head>,
}

impl CheckpointBuilder {
    pub fn add(&mut self, position: u64, envelope: &Envelope) {
        self.position = self.position.max(position);
        self.count += 1;
        self.heads.insert(
            envelope.cooperative_id.to_string(),
            Head {
                version: envelope.version,
                position,
                hash: envelope.hash,
            },
        );
    }

    pub fn finish(self) -> Checkpoint {
        Checkpoint::new(self.position, self.count, self.heads)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Format(String),
}

fn hex32(raw: &str, what: &str) -> Result<[u8; 32], KeyError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(raw.trim(), &mut out)
        .map_err(|_| KeyError::Format(format!("{what} must be 64 hex characters")))?;
    Ok(out)
}

/// Reads a signing key: a file holding the 32-byte Ed25519 seed as 64 hex characters.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let raw = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(SigningKey::from_bytes(&hex32(
        &raw,
        "the signing key file",
    )?))
}

/// Parses a public key: 64 hex characters.
pub fn parse_public_key(raw: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_bytes(&hex32(raw, "a public key")?)
        .map_err(|e| KeyError::Format(format!("not an Ed25519 public key: {e}")))
}

/// A new signing key from the operating system's random source: (seed hex, public key hex).
pub fn generate_key() -> Result<(String, String), KeyError> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|source| KeyError::Read {
            path: "/dev/urandom".into(),
            source,
        })?;
    let key = SigningKey::from_bytes(&seed);
    Ok((
        hex::encode(seed),
        hex::encode(key.verifying_key().to_bytes()),
    ))
}

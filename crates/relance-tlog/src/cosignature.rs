//! C2SP `tlog-cosignature` v1 (Ed25519, signature type 0x04): a witness's timestamped
//! signature line on a checkpoint.
//!
//! Key ID = `SHA-256(name ‖ "\n" ‖ 0x04 ‖ 32-byte public key)[:4]`. The signed message is
//! `cosignature/v1\ntime <unix seconds>\n` followed by the whole checkpoint body (final newline
//! included, no signature line). The signature line's payload is key ID ‖ 8-byte big-endian
//! timestamp ‖ 64-byte Ed25519 signature. A cosignature states that, at that time, this was the
//! largest consistent tree the witness had seen for the origin.

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use thiserror::Error;

use crate::note::{
    format_key_text, is_valid_name, key_id, parse_key_text, verifying_key, KeyError,
    NamedSigningKey, NoteVerifier, SignatureLine,
};

/// The signature type byte of Ed25519 cosignatures.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The largest timestamp the spec allows (2^63 − 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Why a cosignature cannot be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CosignatureError {
    /// The timestamp is above 2^63 − 1.
    #[error("timestamp {0} is above 2^63 - 1")]
    TimestampTooLarge(u64),
    /// The signature line is not by this key (name or key ID differ).
    #[error("the signature line is by {name}+{key_id:08x}, not this cosigner")]
    OtherKey {
        /// The line's key name.
        name: String,
        /// The line's key ID.
        key_id: u32,
    },
    /// The payload is not 8 + 64 bytes.
    #[error("a cosignature payload is 72 bytes, not {0}")]
    BadLength(usize),
    /// The Ed25519 signature does not verify.
    #[error("the cosignature does not verify")]
    BadSignature,
}

/// The message a v1 cosignature signs: `cosignature/v1\ntime <t>\n` ‖ checkpoint body.
pub fn signed_message(checkpoint_body: &str, timestamp: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(checkpoint_body.as_bytes());
    m
}

/// A decoded v1 cosignature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The cosigner's key name.
    pub name: String,
    /// The cosigner's key ID.
    pub key_id: u32,
    /// When it was made, Unix seconds.
    pub timestamp: u64,
    /// The Ed25519 signature of [`signed_message`].
    pub signature: [u8; 64],
}

impl Cosignature {
    /// The note signature line carrying it.
    pub fn to_signature_line(&self) -> SignatureLine {
        let mut payload = self.timestamp.to_be_bytes().to_vec();
        payload.extend_from_slice(&self.signature);
        SignatureLine {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: payload,
        }
    }

    /// Decodes a signature line's payload (without checking the signature).
    pub fn from_signature_line(line: &SignatureLine) -> Result<Self, CosignatureError> {
        let bad = || CosignatureError::BadLength(line.signature.len());
        if line.signature.len() != 72 {
            return Err(bad());
        }
        let (ts, sig) = line.signature.split_at(8);
        Ok(Self {
            name: line.name.clone(),
            key_id: line.key_id,
            timestamp: u64::from_be_bytes(ts.try_into().map_err(|_| bad())?),
            signature: sig.try_into().map_err(|_| bad())?,
        })
    }
}

/// A witness's cosigning key.
#[derive(Clone)]
pub struct CosignatureSigner(NamedSigningKey);

impl std::fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CosignatureSigner({:?})", self.0)
    }
}

impl CosignatureSigner {
    /// The cosigner `name` with this 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        NamedSigningKey::from_seed(name, seed, ALG_COSIGNATURE_V1).map(Self)
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 ‖ seed)>` (the note signer key
    /// format with the cosignature type byte; a relance convention, not part of the spec).
    pub fn from_skey(skey: &str) -> Result<Self, KeyError> {
        NamedSigningKey::from_skey(skey, ALG_COSIGNATURE_V1).map(Self)
    }

    /// The signer key text (secret).
    pub fn to_skey(&self) -> String {
        self.0.to_skey()
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.0.name.clone(),
            key_id: self.0.key_id,
            key: self.0.key.verifying_key(),
        }
    }

    /// Cosigns a checkpoint body at `timestamp` (Unix seconds, from the caller's clock).
    pub fn cosign(
        &self,
        checkpoint_body: &str,
        timestamp: u64,
    ) -> Result<Cosignature, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge(timestamp));
        }
        let sig = self.0.key.sign(&signed_message(checkpoint_body, timestamp));
        Ok(Cosignature {
            name: self.0.name.clone(),
            key_id: self.0.key_id,
            timestamp,
            signature: sig.to_bytes(),
        })
    }
}

/// A witness's public cosigning key (vkey type 0x04). As a [`NoteVerifier`] it checks
/// cosignature lines of a checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// The cosigner `name` with this 32-byte public key.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Self, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::BadName);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, ALG_COSIGNATURE_V1, public_key),
            key: verifying_key(public_key)?,
        })
    }

    /// Parses `<name>+<hex key ID>+<base64(0x04 ‖ public key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Self, KeyError> {
        let (name, key_id, key) = parse_key_text(vkey, ALG_COSIGNATURE_V1, |k| Ok(*k))?;
        Ok(Self {
            name,
            key_id,
            key: verifying_key(&key)?,
        })
    }

    /// The vkey text.
    pub fn to_vkey(&self) -> String {
        format_key_text(
            &self.name,
            self.key_id,
            ALG_COSIGNATURE_V1,
            self.key.as_bytes(),
        )
    }

    /// Checks a cosignature line on `checkpoint_body`; returns its timestamp.
    pub fn verify_line(
        &self,
        checkpoint_body: &str,
        line: &SignatureLine,
    ) -> Result<u64, CosignatureError> {
        if line.name != self.name || line.key_id != self.key_id {
            return Err(CosignatureError::OtherKey {
                name: line.name.clone(),
                key_id: line.key_id,
            });
        }
        let c = Cosignature::from_signature_line(line)?;
        if c.timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge(c.timestamp));
        }
        let msg = signed_message(checkpoint_body, c.timestamp);
        self.key
            .verify_strict(&msg, &Signature::from_bytes(&c.signature))
            .map_err(|_| CosignatureError::BadSignature)?;
        Ok(c.timestamp)
    }
}

impl NoteVerifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(body) = std::str::from_utf8(text) else {
            return false;
        };
        let line = SignatureLine {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: signature.to_vec(),
        };
        self.verify_line(body, &line).is_ok()
    }
}

//! The hash chain: `hash = SHA-256(prev_hash ‖ canonical bytes of the envelope without hash)`.
//!
//! Canonical bytes are the envelope as JSON with `hash` removed, object keys sorted by their
//! UTF-8 bytes, no insignificant whitespace, non-ASCII characters written as themselves, and
//! integers only. Python's `json.dumps(obj, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False).encode()` produces the same bytes, so auditors can re-hash an export
//! without relance.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::Envelope;

/// A SHA-256 digest, written (and serialized) as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Serialize for Hash {
    /// The hex text, written into a buffer on the stack: hashes are serialized for every event
    /// hashed and every view written, a catch-up's hot path.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = [0u8; 64];
        hex::encode_to_slice(self.0, &mut text).map_err(serde::ser::Error::custom)?;
        let text = std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for Hash {
    /// Reads the hex text from borrowed text where the format allows it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::text::from_text(deserializer, "64 hex characters", Hash::from_text)
    }
}

impl Hash {
    /// The `prev_hash` of a cooperative's first event.
    pub const ZERO: Hash = Hash([0; 32]);

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(raw: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(raw, &mut out).ok()?;
        Some(Self(out))
    }

    /// [`from_hex`](Self::from_hex), with an error naming the text and the format.
    fn from_text(raw: &str) -> Result<Self, String> {
        Self::from_hex(raw).ok_or_else(|| format!("{raw:?} is not 64 hex characters"))
    }

    pub fn from_slice(raw: &[u8]) -> Option<Self> {
        Some(Self(raw.try_into().ok()?))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl TryFrom<String> for Hash {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::from_text(&value)
    }
}

impl From<Hash> for String {
    fn from(value: Hash) -> Self {
        value.to_hex()
    }
}

/// Canonical JSON of any value (sorted keys, compact): see [`crate::canonical`].
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    // Values with string keys (every type relance hashes) always have a canonical form.
    let _ = crate::canonical::write_canonical(value, &mut out, None);
    out
}

/// The bytes the hash covers: the envelope as canonical JSON without its `hash` field.
pub fn canonical_bytes(envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let _ = crate::canonical::write_canonical(envelope, &mut out, Some("hash"));
    out
}

/// `SHA-256(prev_hash ‖ canonical_bytes(envelope))`.
pub fn chain_hash(envelope: &Envelope) -> Hash {
    let mut h = Sha256::new();
    h.update(envelope.prev_hash.0);
    h.update(canonical_bytes(envelope));
    Hash(h.finalize().into())
}

/// Why `env` (whose bytes hash to `computed`) is not the next link of a chain whose head is
/// version `head_version` with hash `head_hash` (0 and [`Hash::ZERO`] before the first event):
/// `None` when it is. The projection and the command side both judge chains with this.
pub fn link_break(
    head_version: u64,
    head_hash: Hash,
    env: &Envelope,
    computed: Hash,
) -> Option<String> {
    if computed != env.hash {
        return Some(format!(
            "the event hashes to {computed}, not to its recorded hash {}",
            env.hash
        ));
    }
    if env.version != head_version + 1 || env.prev_hash != head_hash {
        return Some(format!(
            "version {} with prev_hash {} does not follow version {head_version} (hash {head_hash})",
            env.version, env.prev_hash
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash serializes as its lowercase hex text and reads back; other text is refused,
    /// named.
    #[test]
    fn a_hash_serializes_as_its_hex_text_and_reads_back() {
        let h = Hash(std::array::from_fn(|i| (i * 37 + 5) as u8));
        let json = serde_json::to_string(&h).expect("serialize");
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(serde_json::from_str::<Hash>(&json).expect("read"), h);
        let refused = serde_json::from_str::<Hash>("\"abc\"").expect_err("too short");
        assert!(
            refused
                .to_string()
                .starts_with("\"abc\" is not 64 hex characters"),
            "{refused}"
        );
    }

    #[test]
    fn canonical_json_sorts_keys_and_keeps_unicode() {
        let v = serde_json::json!({"b": 1, "a": {"z": "Benguérir", "y": [1, null, "x\"y"]}});
        assert_eq!(
            String::from_utf8(canonical_json(&v)).expect("utf8"),
            r#"{"a":{"y":[1,null,"x\"y"],"z":"Benguérir"},"b":1}"#
        );
    }

    #[test]
    fn hash_hex_round_trips() {
        let h = Hash([7; 32]);
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
    }
}

//! The hash chain: `hash = SHA-256(prev_hash ‖ canonical bytes of the envelope without hash)`.
//!
//! Canonical bytes are the envelope as JSON with `hash` removed, object keys sorted by their
//! UTF-8 bytes, no insignificant whitespace, non-ASCII characters written as themselves, and
//! integers only. Python's `json.dumps(obj, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False).encode()` produces the same bytes, so auditors can re-hash an export
//! without relance.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Envelope;

/// A SHA-256 digest, written as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hash(pub [u8; 32]);

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
        Self::from_hex(&value).ok_or_else(|| format!("{value:?} is not 64 hex characters"))
    }
}

impl From<Hash> for String {
    fn from(value: Hash) -> Self {
        value.to_hex()
    }
}

/// Canonical JSON of any value (sorted keys, compact).
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes exactly like Python's json module with ensure_ascii=False.
    out.extend_from_slice(Value::String(s.to_owned()).to_string().as_bytes());
}

/// The bytes the hash covers: the envelope as canonical JSON without its `hash` field.
pub fn canonical_bytes(envelope: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    // Plain structs with string keys always have a canonical form.
    let _ = crate::canonical::write_canonical(envelope, &mut out, Some("hash"));
    out
}

/// The same bytes through a `serde_json::Value` tree: the reference [`canonical_bytes`] is
/// checked against (slower: it allocates every key and value).
pub fn canonical_bytes_via_value(envelope: &Envelope) -> Vec<u8> {
    let mut value = match serde_json::to_value(envelope) {
        Ok(v) => v,
        // Serialising plain structs with string keys cannot fail.
        Err(_) => Value::Null,
    };
    if let Value::Object(map) = &mut value {
        map.remove("hash");
    }
    canonical_json(&value)
}

/// `SHA-256(prev_hash ‖ canonical_bytes(envelope))`.
pub fn chain_hash(envelope: &Envelope) -> Hash {
    let mut h = Sha256::new();
    h.update(envelope.prev_hash.0);
    h.update(canonical_bytes(envelope));
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_keeps_unicode() {
        let v: Value = serde_json::json!({"b": 1, "a": {"z": "Benguérir", "y": [1, null, "x\"y"]}});
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

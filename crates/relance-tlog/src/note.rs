//! C2SP `signed-note` (c2sp.org/signed-note): parse, format, sign and verify notes, and the
//! Ed25519 verifier (`vkey`) and signer key texts of golang.org/x/mod/sumdb/note.
//!
//! A note is a text ending in a newline, a blank line, then one or more signature lines
//! `— <key name> <base64(4-byte key ID ‖ signature)>` (U+2014 em dash, space). The key ID of an
//! Ed25519 key is `SHA-256(name ‖ "\n" ‖ 0x01 ‖ 32-byte public key)[:4]`, big-endian.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The signature type byte of plain Ed25519 note signatures.
pub const ALG_ED25519: u8 = 0x01;
/// Notes with more signature lines than this are refused (the spec asks for at least 16;
/// Go's implementation allows 100).
pub const MAX_SIGNATURES: usize = 100;
/// What starts a signature line: em dash, space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note does not parse or verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    /// The note holds an ASCII control character other than newline.
    #[error("malformed note: a control character other than newline")]
    ControlCharacter,
    /// No blank line followed by signature lines ending in a newline.
    #[error("malformed note: no blank line followed by signature lines")]
    NoSignatureBlock,
    /// The text to sign is empty or does not end in a newline.
    #[error("malformed note: the text must end with a newline")]
    TextWithoutFinalNewline,
    /// A signature line is not `— <name> <base64>` with a valid name and at least 5 bytes.
    #[error("malformed note: bad signature line {0}")]
    BadSignatureLine(usize),
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("malformed note: more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A known key's signature does not verify: the whole note is refused.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// No signature by any of the given keys.
    #[error("the note has no verifiable signature by the given keys")]
    NoVerifiedSignature,
}

/// Why a key text (`vkey` or signer key) does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// Not `<name>+<8 hex>+<base64>` (or `PRIVATE+KEY+` and that).
    #[error("malformed key text")]
    Malformed,
    /// The name is empty or holds a space or a plus.
    #[error("invalid key name")]
    BadName,
    /// The key ID is not the hash of the name and key.
    #[error("the key ID does not match the name and key")]
    KeyIdMismatch,
    /// The signature type byte is not the one expected.
    #[error("unexpected signature type {0:#04x}")]
    WrongAlgorithm(u8),
    /// The key material is not 32 bytes, or not a valid Ed25519 public key.
    #[error("invalid key material")]
    BadKey,
}

/// Whether `name` may be a key name: non-empty, no Unicode space, no `+`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// `SHA-256(name ‖ "\n" ‖ alg ‖ public key)[:4]` as a big-endian integer.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    /// The key name.
    pub name: String,
    /// The key ID (first 4 bytes of the decoded base64).
    pub key_id: u32,
    /// The rest of the decoded base64: the signature proper.
    pub signature: Vec<u8>,
}

impl SignatureLine {
    /// `— <name> <base64(key ID ‖ signature)>\n`.
    pub fn to_line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }

    fn parse(line: &str, number: usize) -> Result<Self, NoteError> {
        let bad = NoteError::BadSignatureLine(number);
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(bad.clone())?;
        let (name, b64) = rest.split_once(' ').ok_or(bad.clone())?;
        let raw = B64.decode(b64).map_err(|_| bad.clone())?;
        if !is_valid_name(name) || raw.len() < 5 {
            return Err(bad);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        })
    }
}

/// A key that checks note signatures. `verify` gets the note text (with its final newline) and
/// the signature bytes after the key ID.
pub trait NoteVerifier {
    /// The key name.
    fn name(&self) -> &str;
    /// The key ID.
    fn key_id(&self) -> u32;
    /// Whether `signature` signs `text`.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

/// A key that signs note texts.
pub trait NoteSigner {
    /// The key name.
    fn name(&self) -> &str;
    /// The key ID.
    fn key_id(&self) -> u32;
    /// The signature of `text` (the bytes after the key ID).
    fn sign(&self, text: &[u8]) -> Vec<u8>;
}

/// A signed note: its text and its signature lines, verified or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<SignatureLine>,
}

fn check_characters(s: &str) -> Result<(), NoteError> {
    if s.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

impl Note {
    /// An unsigned note with this text (which must end in a newline).
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_characters(&text)?;
        if !text.ends_with('\n') {
            return Err(NoteError::TextWithoutFinalNewline);
        }
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note without verifying it (see [`Note::verify`]). The text is what
    /// precedes the last blank line.
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        check_characters(note)?;
        let split = note.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::NoSignatureBlock);
        }
        let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let signatures = lines
            .iter()
            .enumerate()
            .map(|(i, line)| SignatureLine::parse(line, i + 1))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, final newline included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every signature line, verified or not, in order.
    pub fn signatures(&self) -> &[SignatureLine] {
        &self.signatures
    }

    /// Adds a signature line, replacing one with the same key name and ID.
    pub fn add_signature(&mut self, line: SignatureLine) {
        match self
            .signatures
            .iter_mut()
            .find(|s| s.name == line.name && s.key_id == line.key_id)
        {
            Some(old) => *old = line,
            None => self.signatures.push(line),
        }
    }

    /// Signs the text with `signer` (replacing its earlier signature, if any).
    pub fn sign(&mut self, signer: &dyn NoteSigner) {
        let signature = signer.sign(self.text.as_bytes());
        self.add_signature(SignatureLine {
            name: signer.name().to_owned(),
            key_id: signer.key_id(),
            signature,
        });
    }

    /// The note as text: the text, a blank line, the signature lines.
    pub fn to_text(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out
    }

    /// Verifies the note against known keys, as c2sp.org/signed-note asks: lines whose name and
    /// key ID match no known key are ignored; a known key's line that fails to verify refuses
    /// the whole note; at least one known key's line must verify. Returns the verified lines.
    pub fn verify(&self, known: &[&dyn NoteVerifier]) -> Result<Vec<&SignatureLine>, NoteError> {
        let mut verified: Vec<&SignatureLine> = Vec::new();
        for line in &self.signatures {
            let Some(key) = known
                .iter()
                .find(|k| k.name() == line.name && k.key_id() == line.key_id)
            else {
                continue;
            };
            if !key.verify(self.text.as_bytes(), &line.signature) {
                return Err(NoteError::InvalidSignature {
                    name: line.name.clone(),
                    key_id: line.key_id,
                });
            }
            if !verified
                .iter()
                .any(|v| v.name == line.name && v.key_id == line.key_id)
            {
                verified.push(line);
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(verified)
    }
}

/// Splits `<name>+<8 hex>+<base64>`, checks the name and the key ID against `alg ‖ key`, and
/// returns (name, key ID, key material after the type byte). `public_of` turns the key
/// material into the public key the ID hashes (identity for vkeys, derivation for seeds).
pub(crate) fn parse_key_text(
    text: &str,
    alg: u8,
    public_of: impl Fn(&[u8; 32]) -> Result<[u8; 32], KeyError>,
) -> Result<(String, u32, [u8; 32]), KeyError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(KeyError::Malformed);
    };
    if !is_valid_name(name) {
        return Err(KeyError::BadName);
    }
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::Malformed);
    }
    let id = u32::from_str_radix(id_hex, 16).map_err(|_| KeyError::Malformed)?;
    let raw = B64.decode(b64).map_err(|_| KeyError::Malformed)?;
    let (&type_byte, material) = raw.split_first().ok_or(KeyError::Malformed)?;
    if type_byte != alg {
        return Err(KeyError::WrongAlgorithm(type_byte));
    }
    let material: [u8; 32] = material.try_into().map_err(|_| KeyError::BadKey)?;
    let public = public_of(&material)?;
    if key_id(name, alg, &public) != id {
        return Err(KeyError::KeyIdMismatch);
    }
    Ok((name.to_owned(), id, material))
}

/// `<name>+<hex id>+<base64(alg ‖ key)>`.
pub(crate) fn format_key_text(name: &str, id: u32, alg: u8, key: &[u8; 32]) -> String {
    let mut raw = vec![alg];
    raw.extend_from_slice(key);
    format!("{name}+{id:08x}+{}", B64.encode(raw))
}

pub(crate) fn verifying_key(bytes: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::BadKey)
}

/// An Ed25519 note verifier key (signature type 0x01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Ed25519Verifier {
    /// The verifier of `name` with this 32-byte public key.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Self, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::BadName);
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, ALG_ED25519, public_key),
            key: verifying_key(public_key)?,
        })
    }

    /// Parses a vkey: `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Self, KeyError> {
        let (name, key_id, key) = parse_key_text(vkey, ALG_ED25519, |k| Ok(*k))?;
        Ok(Self {
            name,
            key_id,
            key: verifying_key(&key)?,
        })
    }

    /// The vkey text.
    pub fn to_vkey(&self) -> String {
        format_key_text(&self.name, self.key_id, ALG_ED25519, self.key.as_bytes())
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl NoteVerifier for Ed25519Verifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.key_id
    }
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature).is_ok_and(|s| self.key.verify_strict(text, &s).is_ok())
    }
}

/// A named Ed25519 signing key and its key ID under one signature type (0x01 for notes, 0x04
/// for cosignatures): what [`Ed25519Signer`] and the cosigner share.
#[derive(Clone)]
pub(crate) struct NamedSigningKey {
    pub(crate) name: String,
    pub(crate) key_id: u32,
    pub(crate) key: SigningKey,
    alg: u8,
}

impl std::fmt::Debug for NamedSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{:08x}", self.name, self.key_id)
    }
}

impl NamedSigningKey {
    /// The key of `name` with this 32-byte Ed25519 seed (RFC 8032 private key).
    pub(crate) fn from_seed(name: &str, seed: &[u8; 32], alg: u8) -> Result<Self, KeyError> {
        if !is_valid_name(name) {
            return Err(KeyError::BadName);
        }
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, alg, key.verifying_key().as_bytes()),
            key,
            alg,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key ID>+<base64(alg ‖ seed)>`.
    pub(crate) fn from_skey(skey: &str, alg: u8) -> Result<Self, KeyError> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyError::Malformed)?;
        let (name, key_id, seed) = parse_key_text(rest, alg, |s| {
            Ok(SigningKey::from_bytes(s).verifying_key().to_bytes())
        })?;
        Ok(Self {
            name,
            key_id,
            key: SigningKey::from_bytes(&seed),
            alg,
        })
    }

    /// The signer key text (secret).
    pub(crate) fn to_skey(&self) -> String {
        let text = format_key_text(&self.name, self.key_id, self.alg, self.key.as_bytes());
        format!("PRIVATE+KEY+{text}")
    }
}

/// An Ed25519 note signer (signature type 0x01).
#[derive(Clone)]
pub struct Ed25519Signer(NamedSigningKey);

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519Signer({:?})", self.0)
    }
}

impl Ed25519Signer {
    /// The signer of `name` with this 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        NamedSigningKey::from_seed(name, seed, ALG_ED25519).map(Self)
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>`.
    pub fn from_skey(skey: &str) -> Result<Self, KeyError> {
        NamedSigningKey::from_skey(skey, ALG_ED25519).map(Self)
    }

    /// The signer key text (secret).
    pub fn to_skey(&self) -> String {
        self.0.to_skey()
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Ed25519Verifier {
        Ed25519Verifier {
            name: self.0.name.clone(),
            key_id: self.0.key_id,
            key: self.0.key.verifying_key(),
        }
    }
}

impl NoteSigner for Ed25519Signer {
    fn name(&self) -> &str {
        &self.0.name
    }
    fn key_id(&self) -> u32 {
        self.0.key_id
    }
    fn sign(&self, text: &[u8]) -> Vec<u8> {
        self.0.key.sign(text).to_bytes().to_vec()
    }
}

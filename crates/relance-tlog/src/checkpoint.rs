//! C2SP `tlog-checkpoint`: the signed tree head of the log, as a signed note whose text is the
//! origin line, the decimal tree size, the base64 root hash and optional extension lines.
//!
//! ```text
//! relance.prefecture-rehamna.ma/RELANCE_EVENTS
//! 458
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//!
//! — relance.prefecture-rehamna.ma/RELANCE_EVENTS Az3grlgt…
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use thiserror::Error;

use crate::merkle::Hash;
use crate::note::{Note, NoteError, NoteSigner, NoteVerifier};

/// Why a checkpoint does not parse or verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// The note itself is malformed or its signature fails.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The body has fewer than three lines, does not end in a newline, or has an empty line.
    #[error("checkpoint: need origin, size and root lines, each non-empty and newline-ended")]
    BadLines,
    /// The origin is empty.
    #[error("checkpoint: empty origin")]
    EmptyOrigin,
    /// The size line is not a decimal without leading zeros that fits 64 bits.
    #[error("checkpoint: bad tree size line {0:?}")]
    BadSize(String),
    /// The root line is not the base64 of 32 bytes.
    #[error("checkpoint: bad root hash line {0:?}")]
    BadRoot(String),
    /// The origin is not the expected one.
    #[error("checkpoint: origin {got:?}, expected {expected:?}")]
    WrongOrigin {
        /// The expected origin.
        expected: String,
        /// The checkpoint's origin.
        got: String,
    },
}

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `relance.prefecture-rehamna.ma/RELANCE_EVENTS`.
    pub origin: String,
    /// The tree size (number of events).
    pub size: u64,
    /// The RFC 9162 root hash of the first `size` leaves.
    pub root: Hash,
    /// Extension lines, opaque, each non-empty (not recommended by the spec).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: origin, size, base64 root, extensions, each ending in a newline.
    pub fn to_body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Parses a note text (body) as a checkpoint.
    pub fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let lines: Vec<&str> = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::BadLines)?
            .split('\n')
            .collect();
        if lines.len() < 3 || lines.iter().any(|l| l.is_empty()) {
            return Err(if lines.first().is_some_and(|l| l.is_empty()) {
                CheckpointError::EmptyOrigin
            } else {
                CheckpointError::BadLines
            });
        }
        let size_line = lines[1];
        let canonical = size_line == "0" || !size_line.starts_with('0');
        let size = size_line
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| size_line.parse::<u64>().ok())
            .flatten()
            .filter(|_| canonical)
            .ok_or_else(|| CheckpointError::BadSize(size_line.to_owned()))?;
        let root: Hash = B64
            .decode(lines[2])
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| CheckpointError::BadRoot(lines[2].to_owned()))?;
        Ok(Self {
            origin: lines[0].to_owned(),
            size,
            root,
            extensions: lines[3..].iter().map(|l| (*l).to_owned()).collect(),
        })
    }

    /// The checkpoint as a note signed by the log's key (the key name should be the origin).
    pub fn sign(&self, log_key: &dyn NoteSigner) -> Result<Note, CheckpointError> {
        let mut note = Note::new(self.to_body())?;
        note.sign(log_key);
        Ok(note)
    }

    /// Parses a signed checkpoint and requires a valid signature by `log_key` (other signature
    /// lines, e.g. cosignatures, are kept in the returned note but not checked).
    pub fn open(signed: &str, log_key: &dyn NoteVerifier) -> Result<(Self, Note), CheckpointError> {
        let note = Note::parse(signed)?;
        note.verify(&[log_key])?;
        let checkpoint = Self::parse_body(note.text())?;
        Ok((checkpoint, note))
    }

    /// [`Checkpoint::open`], and the origin must be `origin`.
    pub fn open_for(
        signed: &str,
        origin: &str,
        log_key: &dyn NoteVerifier,
    ) -> Result<(Self, Note), CheckpointError> {
        let (checkpoint, note) = Self::open(signed, log_key)?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::WrongOrigin {
                expected: origin.to_owned(),
                got: checkpoint.origin,
            });
        }
        Ok((checkpoint, note))
    }
}

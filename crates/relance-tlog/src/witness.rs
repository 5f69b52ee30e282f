//! Pure witness logic: accept a new checkpoint of a log only if it is signed by the log's key,
//! has the log's origin and is consistent with the last checkpoint accepted; then cosign it.
//!
//! The witness keeps one [`WitnessState`] per origin (the last accepted checkpoint body, as
//! text, so a CLI can keep it in a file). The caller supplies the current time.

use thiserror::Error;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::cosignature::{Cosignature, CosignatureError, CosignatureSigner};
use crate::merkle::{empty_root, Hash};
use crate::note::{Ed25519Verifier, Note, NoteError};
use crate::proof::{verify_consistency, VerifyError};

/// Why the witness refuses a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The note is malformed, or not validly signed by the log's key.
    #[error("bad log signature: {0}")]
    BadLogSignature(NoteError),
    /// The note is signed but its text is not a checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(CheckpointError),
    /// The checkpoint's origin is not this log's.
    #[error("wrong origin {got:?}, this witness follows {expected:?}")]
    WrongOrigin {
        /// This log's origin.
        expected: String,
        /// The checkpoint's origin.
        got: String,
    },
    /// The stored state is of another origin.
    #[error("the state is for origin {got:?}, not {expected:?}")]
    StateOfAnotherOrigin {
        /// This log's origin.
        expected: String,
        /// The state's origin.
        got: String,
    },
    /// The new tree is smaller than the one already accepted: the log shrank.
    #[error("the log shrank from size {accepted} to {offered}")]
    SmallerSize {
        /// The size accepted before.
        accepted: u64,
        /// The size offered.
        offered: u64,
    },
    /// Same size, another root: two views of the log (a fork).
    #[error("fork: size {size} already accepted with another root")]
    Fork {
        /// The size.
        size: u64,
    },
    /// The consistency proof does not prove the new tree extends the accepted one.
    #[error("inconsistent with the accepted checkpoint: {0}")]
    InconsistentProof(VerifyError),
    /// The cosignature could not be made (timestamp above 2^63 − 1).
    #[error("cannot cosign: {0}")]
    Cosign(CosignatureError),
}

/// The last checkpoint a witness accepted for an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessState {
    /// The accepted checkpoint.
    pub checkpoint: Checkpoint,
}

impl WitnessState {
    /// The state as text: the accepted checkpoint's body (origin, size, root, extensions).
    pub fn to_text(&self) -> String {
        self.checkpoint.to_body()
    }

    /// Reads [`WitnessState::to_text`].
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        Ok(Self {
            checkpoint: Checkpoint::parse_body(text)?,
        })
    }
}

/// What the witness returns on acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The accepted checkpoint.
    pub checkpoint: Checkpoint,
    /// The witness's cosignature of it.
    pub cosignature: Cosignature,
    /// The signed checkpoint with the cosignature line added (the other lines kept).
    pub cosigned: Note,
    /// The new state to store (replacing the old one).
    pub state: WitnessState,
}

/// A witness of one log: its origin, the log's public key and the witness's cosigning key.
#[derive(Debug, Clone)]
pub struct Witness {
    origin: String,
    log_key: Ed25519Verifier,
    cosigner: CosignatureSigner,
}

impl Witness {
    /// A witness of the log `origin` signed by `log_key`, cosigning with `cosigner`.
    pub fn new(
        origin: impl Into<String>,
        log_key: Ed25519Verifier,
        cosigner: CosignatureSigner,
    ) -> Self {
        Self {
            origin: origin.into(),
            log_key,
            cosigner,
        }
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Decides on `signed_checkpoint` given the last accepted `state` (none: trust on first
    /// use, from the empty tree) and a consistency proof from the accepted size to the new one
    /// (empty for the first checkpoint or the same size). On acceptance, cosigns at `now`
    /// (Unix seconds).
    pub fn process(
        &self,
        state: Option<&WitnessState>,
        signed_checkpoint: &str,
        proof: &[Hash],
        now: u64,
    ) -> Result<Accepted, Refusal> {
        let mut note = Note::parse(signed_checkpoint).map_err(Refusal::BadLogSignature)?;
        note.verify(&[&self.log_key])
            .map_err(Refusal::BadLogSignature)?;
        let checkpoint =
            Checkpoint::parse_body(note.text()).map_err(Refusal::MalformedCheckpoint)?;
        if checkpoint.origin != self.origin {
            return Err(Refusal::WrongOrigin {
                expected: self.origin.clone(),
                got: checkpoint.origin,
            });
        }
        let (old_size, old_root) = match state {
            Some(s) if s.checkpoint.origin != self.origin => {
                return Err(Refusal::StateOfAnotherOrigin {
                    expected: self.origin.clone(),
                    got: s.checkpoint.origin.clone(),
                })
            }
            Some(s) => (s.checkpoint.size, s.checkpoint.root),
            None => (0, empty_root()),
        };
        if checkpoint.size < old_size {
            return Err(Refusal::SmallerSize {
                accepted: old_size,
                offered: checkpoint.size,
            });
        }
        if checkpoint.size == old_size && checkpoint.root != old_root {
            return Err(Refusal::Fork { size: old_size });
        }
        verify_consistency(
            old_size,
            checkpoint.size,
            &old_root,
            &checkpoint.root,
            proof,
        )
        .map_err(Refusal::InconsistentProof)?;
        let cosignature = self
            .cosigner
            .cosign(note.text(), now)
            .map_err(Refusal::Cosign)?;
        note.add_signature(cosignature.to_signature_line());
        Ok(Accepted {
            state: WitnessState {
                checkpoint: checkpoint.clone(),
            },
            checkpoint,
            cosignature,
            cosigned: note,
        })
    }
}

//! Which JetStream failures a retry may get past, and what each one means for the log.

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::stream::{
    ConsumerError, ConsumerErrorKind, LastRawMessageErrorKind, RawMessageError,
};
use async_nats::jetstream::{self, ErrorCode};
use relance_log::LogError;

/// Server answers that a retry may get past (leader elections, overload).
fn transient_code(code: ErrorCode) -> bool {
    [
        ErrorCode::CLUSTER_NOT_AVAILABLE,
        ErrorCode::CLUSTER_NOT_LEADER,
        ErrorCode::STREAM_OFFLINE,
        ErrorCode::STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_NOT_READY,
        ErrorCode::STREAM_TOO_MANY_REQUESTS,
    ]
    .contains(&code)
}

/// The JetStream error code somewhere in `e`'s source chain. A consumer the server would not
/// create carries its refusal (a stream that no longer exists, say) in the error's kind, not
/// in its source chain.
fn jetstream_code(e: &(dyn std::error::Error + 'static)) -> Option<ErrorCode> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(j) = err.downcast_ref::<jetstream::Error>() {
            return Some(j.error_code());
        }
        if let Some(c) = err.downcast_ref::<ConsumerError>() {
            if let ConsumerErrorKind::JetStream(j) = c.kind() {
                return Some(j.error_code());
            }
        }
        current = err.source();
    }
    None
}

/// A server refusal is a storage error unless it is transient; anything else (timeouts, no
/// responders, connection trouble) means the log is unavailable for now.
pub(crate) fn request_failure(what: &str, e: &(dyn std::error::Error + 'static)) -> LogError {
    match jetstream_code(e) {
        Some(code) if !transient_code(code) => LogError::Storage(format!("{what}: {e}")),
        _ => LogError::Unavailable(format!("{what}: {e}")),
    }
}

pub(crate) fn raw_failure(what: &str, e: RawMessageError) -> LogError {
    match e.kind() {
        LastRawMessageErrorKind::JetStream(j) if !transient_code(j.error_code()) => {
            LogError::Storage(format!("{what}: {e}"))
        }
        LastRawMessageErrorKind::InvalidSubject => LogError::Storage(format!("{what}: {e}")),
        _ => LogError::Unavailable(format!("{what}: {e}")),
    }
}

pub(crate) enum PublishOutcome {
    WrongSequence,
    Transient,
    Permanent,
}

pub(crate) fn classify(e: &PublishError) -> PublishOutcome {
    match e.kind() {
        PublishErrorKind::WrongLastSequence => PublishOutcome::WrongSequence,
        // No responders (a stream leader election takes seconds), lost or late acknowledgements:
        // the event may be stored, the retry carries the same message id.
        PublishErrorKind::TimedOut
        | PublishErrorKind::StreamNotFound
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::MaxAckPending => PublishOutcome::Transient,
        PublishErrorKind::WrongLastMessageId | PublishErrorKind::MaxPayloadExceeded => {
            PublishOutcome::Permanent
        }
        PublishErrorKind::Other => match jetstream_code(e) {
            Some(code) if code == ErrorCode::STREAM_WRONG_LAST_SEQUENCE => {
                PublishOutcome::WrongSequence
            }
            Some(code) if !transient_code(code) => PublishOutcome::Permanent,
            _ => PublishOutcome::Transient,
        },
    }
}

/// The JetStream error code of a refused publish, if the server sent one.
pub(crate) fn code_of(e: &PublishError) -> Option<ErrorCode> {
    jetstream_code(e)
}

//! The one table that maps domain refusals and log failures to gRPC status codes.

use relance_domain::{Rejection, RejectionKind};
use tonic::{Code, Status};

use crate::CommandError;

/// Status code for each kind of domain refusal.
fn code(kind: RejectionKind) -> Code {
    match kind {
        RejectionKind::InvalidArgument => Code::InvalidArgument,
        RejectionKind::NotFound => Code::NotFound,
        RejectionKind::FailedPrecondition => Code::FailedPrecondition,
        RejectionKind::Conflict => Code::Aborted,
        RejectionKind::PermissionDenied => Code::PermissionDenied,
    }
}

/// A refusal as a gRPC status: the message names the rule (and field); the metadata keys
/// `relance-rule` and `relance-field` carry them for programs.
pub fn rejection_status(r: &Rejection) -> Status {
    let mut status = Status::new(code(r.kind()), r.to_string());
    if let Ok(v) = r.rule().name().parse() {
        status.metadata_mut().insert("relance-rule", v);
    }
    if let Some(Ok(v)) = r.field().map(str::parse) {
        status.metadata_mut().insert("relance-field", v);
    }
    status
}

/// A command failure as a gRPC status.
pub fn command_error_status(e: &CommandError) -> Status {
    match e {
        CommandError::Rejected(r) => rejection_status(r),
        CommandError::Contended { .. } => Status::aborted(e.to_string()),
        CommandError::Unavailable(_) => Status::unavailable(e.to_string()),
        CommandError::Internal(_) => Status::internal(e.to_string()),
    }
}

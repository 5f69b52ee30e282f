//! The one refusal table: every refusal of every service (commands, queries, audit, node
//! status, the auth layer, the rate limiter, malformed bytes) becomes a gRPC status here, with
//! the rule's name in the `relance-rule` metadata key and the field, when one is at fault, in
//! `relance-field`. The rules themselves are `relance_domain::Rule` (docs/design.md lists them).

use relance_domain::{Rejection, RejectionKind, Rule};
use tonic::{Code, Status};

use crate::CommandError;

/// The status code of each class of refusal.
pub fn code(kind: RejectionKind) -> Code {
    match kind {
        RejectionKind::InvalidArgument => Code::InvalidArgument,
        RejectionKind::NotFound => Code::NotFound,
        RejectionKind::FailedPrecondition => Code::FailedPrecondition,
        RejectionKind::Conflict => Code::Aborted,
        RejectionKind::AlreadyExists => Code::AlreadyExists,
        RejectionKind::PermissionDenied => Code::PermissionDenied,
        RejectionKind::Unauthenticated => Code::Unauthenticated,
        RejectionKind::ResourceExhausted => Code::ResourceExhausted,
        RejectionKind::Unavailable => Code::Unavailable,
        RejectionKind::DataLoss => Code::DataLoss,
        RejectionKind::Internal => Code::Internal,
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

/// A refusal under `rule` that concerns no field.
pub fn refuse(rule: Rule, detail: impl Into<String>) -> Status {
    rejection_status(&Rejection::state(rule, detail))
}

/// A refusal under `rule` about the request's `field`.
pub fn refuse_field(field: &'static str, rule: Rule, detail: impl Into<String>) -> Status {
    rejection_status(&Rejection::invalid(field, rule, detail))
}

/// A fault of the node (a failed task, a storage error), under the rule `internal`.
pub fn internal(e: impl std::fmt::Display) -> Status {
    refuse(Rule::Internal, e.to_string())
}

/// A command failure as a gRPC status.
pub fn command_error_status(e: &CommandError) -> Status {
    match e {
        CommandError::Rejected(r) => rejection_status(r),
        CommandError::Contended { .. } => refuse(Rule::Contended, e.to_string()),
        CommandError::Unavailable(_) => refuse(Rule::LogUnavailable, e.to_string()),
        CommandError::Internal(_) => refuse(Rule::Internal, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table, written out once more: a rule added without a deliberate code fails here.
    fn expected(rule: Rule) -> Code {
        use Rule::*;
        match rule {
            CooperativeIdFormat | RequiredField | TextTooLong | ControlCharacter | InvalidDate
            | InvalidEnum | AmountNegative | AmountTooLarge | NumberTooLarge | CapacityRange
            | ValidityRange | MalformedRequest | PageTokenInvalid | RangeReversed => {
                Code::InvalidArgument
            }
            CooperativeNotRegistered | RetractUnknownEvent | PositionPastTree => Code::NotFound,
            AlreadyRegistered
            | AlreadyHalted
            | NotHalted
            | DateBeforeRegistration
            | DateInFuture
            | ResumeBeforeHalt
            | RetractAlreadyRetracted
            | RetractRetraction
            | RetractRegistration
            | CooperativeQuarantined
            | NotServedHere
            | RebuildRunning => Code::FailedPrecondition,
            ExpectedVersionMismatch | Contended => Code::Aborted,
            RequestIdReused => Code::AlreadyExists,
            SupportNotInOwnName | RoleNotAllowed => Code::PermissionDenied,
            MissingToken | MalformedToken | UnknownToken => Code::Unauthenticated,
            RateLimited | RequestTooLarge | BatchTooLarge | WatchClientTooSlow => {
                Code::ResourceExhausted
            }
            PositionNotReached | LogUnavailable | NodeStopping => Code::Unavailable,
            CorruptEvent => Code::DataLoss,
            Internal => Code::Internal,
        }
    }

    #[test]
    fn every_rule_maps_to_its_code_and_carries_its_name_in_metadata() {
        for &rule in Rule::ALL {
            for status in [
                refuse(rule, "detail"),
                refuse_field("some.field", rule, "detail"),
            ] {
                assert_eq!(status.code(), expected(rule), "{rule}");
                let meta = status.metadata();
                assert_eq!(
                    meta.get("relance-rule").and_then(|v| v.to_str().ok()),
                    Some(rule.name()),
                    "{rule}"
                );
                assert!(status.message().contains(rule.name()), "{rule}: {status:?}");
            }
            assert_eq!(
                refuse_field("some.field", rule, "d")
                    .metadata()
                    .get("relance-field")
                    .and_then(|v| v.to_str().ok()),
                Some("some.field")
            );
            assert!(refuse(rule, "d").metadata().get("relance-field").is_none());
        }
    }

    #[test]
    fn docs_design_lists_every_rule_with_its_code() {
        let doc = include_str!("../../../docs/design.md");
        for &rule in Rule::ALL {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", rule.name())))
                .unwrap_or_else(|| panic!("docs/design.md does not list {rule}"));
            let code = format!("{:?}", expected(rule));
            let screaming: String = code
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                    sep.into_iter()
                        .chain(std::iter::once(c.to_ascii_uppercase()))
                })
                .collect();
            assert!(
                row.contains(&screaming),
                "{rule}: {row} (expected {screaming})"
            );
        }
    }

    #[test]
    fn rule_names_are_unique_and_parse_back() {
        let mut names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rule::ALL.len());
        for &rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.name()), Some(rule));
        }
    }

    #[test]
    fn command_failures_go_through_the_table() {
        let id = relance_domain::CoopId::parse("REH-1").expect("valid id");
        let cases = [
            (
                CommandError::Contended {
                    cooperative_id: id,
                    attempts: 8,
                },
                Rule::Contended,
            ),
            (
                CommandError::Unavailable("down".into()),
                Rule::LogUnavailable,
            ),
            (CommandError::Internal("boom".into()), Rule::Internal),
        ];
        for (error, rule) in cases {
            let status = command_error_status(&error);
            assert_eq!(status.code(), code(rule.kind()));
            assert_eq!(
                status
                    .metadata()
                    .get("relance-rule")
                    .and_then(|v| v.to_str().ok()),
                Some(rule.name())
            );
        }
    }
}

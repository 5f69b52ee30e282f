//! Why a command was refused: one named rule, and the field it concerns when there is one.

use std::fmt;

/// Every rule the domain enforces, by name. The name is part of the API: clients match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    // Input shape (INVALID_ARGUMENT).
    CooperativeIdFormat,
    RequiredField,
    TextTooLong,
    ControlCharacter,
    InvalidDate,
    InvalidEnum,
    AmountNegative,
    AmountTooLarge,
    NumberTooLarge,
    CapacityRange,
    ValidityRange,
    // State (FAILED_PRECONDITION / NOT_FOUND / ABORTED).
    CooperativeNotRegistered,
    AlreadyRegistered,
    AlreadyHalted,
    NotHalted,
    DateBeforeRegistration,
    DateInFuture,
    ResumeBeforeHalt,
    SupportNotInOwnName,
    RetractUnknownEvent,
    RetractAlreadyRetracted,
    RetractRetraction,
    RetractRegistration,
    ExpectedVersionMismatch,
}

impl Rule {
    /// The stable snake_case name clients see.
    pub fn name(self) -> &'static str {
        match self {
            Rule::CooperativeIdFormat => "cooperative_id_format",
            Rule::RequiredField => "required_field",
            Rule::TextTooLong => "text_too_long",
            Rule::ControlCharacter => "control_character",
            Rule::InvalidDate => "invalid_date",
            Rule::InvalidEnum => "invalid_enum",
            Rule::AmountNegative => "amount_negative",
            Rule::AmountTooLarge => "amount_too_large",
            Rule::NumberTooLarge => "number_too_large",
            Rule::CapacityRange => "capacity_range",
            Rule::ValidityRange => "validity_range",
            Rule::CooperativeNotRegistered => "cooperative_not_registered",
            Rule::AlreadyRegistered => "already_registered",
            Rule::AlreadyHalted => "already_halted",
            Rule::NotHalted => "not_halted",
            Rule::DateBeforeRegistration => "date_before_registration",
            Rule::DateInFuture => "date_in_future",
            Rule::ResumeBeforeHalt => "resume_before_halt",
            Rule::SupportNotInOwnName => "support_not_in_own_name",
            Rule::RetractUnknownEvent => "retract_unknown_event",
            Rule::RetractAlreadyRetracted => "retract_already_retracted",
            Rule::RetractRetraction => "retract_retraction",
            Rule::RetractRegistration => "retract_registration",
            Rule::ExpectedVersionMismatch => "expected_version_mismatch",
        }
    }

    /// The class of refusal, which adapters map to their own status codes.
    pub fn kind(self) -> RejectionKind {
        match self {
            Rule::CooperativeIdFormat
            | Rule::RequiredField
            | Rule::TextTooLong
            | Rule::ControlCharacter
            | Rule::InvalidDate
            | Rule::InvalidEnum
            | Rule::AmountNegative
            | Rule::AmountTooLarge
            | Rule::NumberTooLarge
            | Rule::CapacityRange
            | Rule::ValidityRange => RejectionKind::InvalidArgument,
            Rule::CooperativeNotRegistered | Rule::RetractUnknownEvent => RejectionKind::NotFound,
            Rule::ExpectedVersionMismatch => RejectionKind::Conflict,
            Rule::AlreadyRegistered
            | Rule::AlreadyHalted
            | Rule::NotHalted
            | Rule::DateBeforeRegistration
            | Rule::DateInFuture
            | Rule::ResumeBeforeHalt
            | Rule::RetractAlreadyRetracted
            | Rule::RetractRetraction
            | Rule::RetractRegistration => RejectionKind::FailedPrecondition,
            Rule::SupportNotInOwnName => RejectionKind::PermissionDenied,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Classes of refusal (an adapter maps each to a transport code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// The input is malformed whatever the state.
    InvalidArgument,
    /// The cooperative or the event named does not exist.
    NotFound,
    /// The state forbids the command.
    FailedPrecondition,
    /// The caller's view of the version is stale.
    Conflict,
    /// The actor may not act in that name.
    PermissionDenied,
}

/// A refused command: the rule, the field when the rule is about one, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct Rejection {
    rule: Rule,
    field: Option<&'static str>,
    detail: String,
}

impl Rejection {
    /// A refusal about one field of the input.
    pub fn invalid(field: &'static str, rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            rule,
            field: Some(field),
            detail: detail.into(),
        }
    }

    /// A refusal about the state of the cooperative.
    pub fn state(rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            rule,
            field: None,
            detail: detail.into(),
        }
    }

    /// A state refusal that still concerns one field (e.g. a date before registration).
    pub fn state_field(field: &'static str, rule: Rule, detail: impl Into<String>) -> Self {
        Self {
            rule,
            field: Some(field),
            detail: detail.into(),
        }
    }

    pub fn rule(&self) -> Rule {
        self.rule
    }

    pub fn field(&self) -> Option<&'static str> {
        self.field
    }

    pub fn kind(&self) -> RejectionKind {
        self.rule.kind()
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    fn render(&self) -> String {
        match self.field {
            Some(field) => format!("rule {}: field `{}` {}", self.rule, field, self.detail),
            None => format!("rule {}: {}", self.rule, self.detail),
        }
    }
}

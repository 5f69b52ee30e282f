//! Why a command was refused: one named rule, and the field it concerns when there is one.

use std::fmt;

/// Defines [`Rule`] from one list: each variant with its stable name and its class, so the
/// enum, [`Rule::ALL`], [`Rule::name`] and [`Rule::kind`] cannot disagree.
macro_rules! rules {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal => $kind:ident, )+) => {
        /// Every rule by which relance refuses a request, by name: the domain's rules and the
        /// adapters' (authentication, rate limit, malformed bytes, queries, audit). The name is
        /// part of the API: clients match on it (`relance-rule` metadata); docs/design.md lists
        /// them all.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rule {
            $( $(#[$doc])* $variant, )+
        }

        impl Rule {
            /// Every rule, in declaration order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)+];

            /// The stable snake_case name clients see.
            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$variant => $name,)+
                }
            }

            /// The class of refusal, which adapters map to their own status codes.
            pub fn kind(self) -> RejectionKind {
                match self {
                    $(Rule::$variant => RejectionKind::$kind,)+
                }
            }
        }
    };
}

rules! {
    // Input shape, whatever the state.
    CooperativeIdFormat = "cooperative_id_format" => InvalidArgument,
    RequiredField = "required_field" => InvalidArgument,
    TextTooLong = "text_too_long" => InvalidArgument,
    ControlCharacter = "control_character" => InvalidArgument,
    InvalidDate = "invalid_date" => InvalidArgument,
    InvalidEnum = "invalid_enum" => InvalidArgument,
    AmountNegative = "amount_negative" => InvalidArgument,
    AmountTooLarge = "amount_too_large" => InvalidArgument,
    NumberTooLarge = "number_too_large" => InvalidArgument,
    CapacityRange = "capacity_range" => InvalidArgument,
    ValidityRange = "validity_range" => InvalidArgument,
    /// The request's bytes are not a valid protobuf message of its type.
    MalformedRequest = "malformed_request" => InvalidArgument,
    /// A `page_token` this node never issued.
    PageTokenInvalid = "page_token_invalid" => InvalidArgument,
    /// A range whose start is after its end.
    RangeReversed = "range_reversed" => InvalidArgument,
    // The state of a cooperative.
    CooperativeNotRegistered = "cooperative_not_registered" => NotFound,
    RetractUnknownEvent = "retract_unknown_event" => NotFound,
    /// A position or tree size past the Merkle tree the projection holds (audit proofs).
    PositionPastTree = "position_past_tree" => NotFound,
    AlreadyRegistered = "already_registered" => FailedPrecondition,
    AlreadyHalted = "already_halted" => FailedPrecondition,
    NotHalted = "not_halted" => FailedPrecondition,
    DateBeforeRegistration = "date_before_registration" => FailedPrecondition,
    DateInFuture = "date_in_future" => FailedPrecondition,
    ResumeBeforeHalt = "resume_before_halt" => FailedPrecondition,
    RetractAlreadyRetracted = "retract_already_retracted" => FailedPrecondition,
    RetractRetraction = "retract_retraction" => FailedPrecondition,
    RetractRegistration = "retract_registration" => FailedPrecondition,
    /// The cooperative's hash chain does not verify: nothing is built on it or answered from it.
    CooperativeQuarantined = "cooperative_quarantined" => FailedPrecondition,
    /// A request id already used on the cooperative by another caller or for another command:
    /// only the same caller repeating the same command gets the first result.
    RequestIdReused = "request_id_reused" => AlreadyExists,
    ExpectedVersionMismatch = "expected_version_mismatch" => Conflict,
    /// The cooperative kept changing under the command: every bounded attempt met a conflict.
    Contended = "contended" => Conflict,
    SupportNotInOwnName = "support_not_in_own_name" => PermissionDenied,
    // Who is calling.
    /// No `authorization` metadata.
    MissingToken = "missing_token" => Unauthenticated,
    /// `authorization` metadata that is not `Bearer <token>`.
    MalformedToken = "malformed_token" => Unauthenticated,
    /// A bearer token the node does not know.
    UnknownToken = "unknown_token" => Unauthenticated,
    /// The caller's roles do not grant the method's permission.
    RoleNotAllowed = "role_not_allowed" => PermissionDenied,
    /// The caller sent more requests a second than its rate limit.
    RateLimited = "rate_limited" => ResourceExhausted,
    /// A request over the node's message size limit.
    RequestTooLarge = "request_too_large" => ResourceExhausted,
    /// A batch of more commands than one call may carry (`relance_server::MAX_BATCH`).
    BatchTooLarge = "batch_too_large" => ResourceExhausted,
    /// A `Watch` client read more slowly than events came: its buffer filled, so the stream
    /// ended (with the position to resume from) rather than hold the node back.
    WatchClientTooSlow = "watch_client_too_slow" => ResourceExhausted,
    // What this node can do now.
    /// The node does not serve this (e.g. queries on a `--role command` process).
    NotServedHere = "not_served_here" => FailedPrecondition,
    /// A rebuild of the node's views is already running: one at a time.
    RebuildRunning = "rebuild_running" => FailedPrecondition,
    /// The projection did not reach the caller's `min_position` in time.
    PositionNotReached = "position_not_reached" => Unavailable,
    /// The event log cannot be reached now; the same request may be retried.
    LogUnavailable = "log_unavailable" => Unavailable,
    /// The node is stopping: a long call (a `Watch`) ends; resume on another node or later.
    NodeStopping = "node_stopping" => Unavailable,
    /// Stored bytes that do not read back.
    CorruptEvent = "corrupt_event" => DataLoss,
    /// A fault of the node itself (a failed task, a poisoned lock, a storage error).
    Internal = "internal" => Internal,
}

impl Rule {
    /// The rule of this name, if any.
    pub fn parse(name: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.name() == name)
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
    /// What the request would create exists already (a request id used for something else).
    AlreadyExists,
    /// The actor may not act in that name.
    PermissionDenied,
    /// The caller is not identified.
    Unauthenticated,
    /// The caller is over its quota.
    ResourceExhausted,
    /// Retry later: a dependency is unreachable or behind.
    Unavailable,
    /// Stored data does not read back.
    DataLoss,
    /// The node failed.
    Internal,
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

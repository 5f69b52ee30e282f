//! Commands and the rules: `decide(aggregate, command, context)` yields one event or a rejection.

use std::collections::HashMap;

use crate::event::*;
use crate::limits::*;
use crate::state::{evolve, fold, Step};
use crate::{chain_hash, CoopId, CoopState, Date, Hash, Rejection, Rule};

/// What a caller asks for. Each command carries the data of the event it would record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Register(CooperativeRegistered),
    Halt(ActivityHalted),
    Reorient(ReorientationDeclared),
    Authorize(AuthorizationObtained),
    GrantSupport(SupportGranted),
    OpenSalesChannel(SalesChannelOpened),
    Resume(ActivityResumed),
    ReportHeadcount(HeadcountReported),
    Retract(EventRetracted),
}

impl Command {
    /// The type name of the event this command records.
    pub fn event_type(&self) -> &'static str {
        self.clone().into_event().type_name()
    }

    fn into_event(self) -> Event {
        match self {
            Command::Register(e) => Event::CooperativeRegistered(e),
            Command::Halt(e) => Event::ActivityHalted(e),
            Command::Reorient(e) => Event::ReorientationDeclared(e),
            Command::Authorize(e) => Event::AuthorizationObtained(e),
            Command::GrantSupport(e) => Event::SupportGranted(e),
            Command::OpenSalesChannel(e) => Event::SalesChannelOpened(e),
            Command::Resume(e) => Event::ActivityResumed(e),
            Command::ReportHeadcount(e) => Event::HeadcountReported(e),
            Command::Retract(e) => Event::EventRetracted(e),
        }
    }
}

/// What comes with a command from outside the domain: ids, time and the actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub cooperative_id: CoopId,
    /// Id for the event, chosen by the adapter (UUIDv7).
    pub event_id: String,
    pub request_id: String,
    pub correlation_id: String,
    /// Now, as the adapter's clock says, Unix milliseconds.
    pub recorded_at_ms: i64,
    pub actor: Actor,
    /// When set, the command applies only if the cooperative is at this version.
    pub expected_version: Option<u64>,
}

/// One cooperative's history and the state it folds to: what `decide` needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    history: Vec<Recorded>,
    state: Option<CoopState>,
    /// Request id → index in `history` of the first event it produced: every command looks
    /// its request id up, and a scan grew with the history.
    requests: HashMap<String, usize>,
}

impl Aggregate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the aggregate from a cooperative's events in version order.
    pub fn from_history(history: Vec<Recorded>) -> Self {
        let state = fold(&history);
        let mut requests = HashMap::with_capacity(history.len());
        for (i, r) in history.iter().enumerate() {
            requests.entry(r.envelope.request_id.clone()).or_insert(i);
        }
        Self {
            history,
            state,
            requests,
        }
    }

    /// Appends one recorded event (the next version).
    pub fn apply(&mut self, rec: Recorded) {
        self.requests
            .entry(rec.envelope.request_id.clone())
            .or_insert(self.history.len());
        self.history.push(rec);
        let last = self.history.last().expect("just pushed");
        self.state = match evolve(self.state.take(), last) {
            Step::Next(s) => s,
            Step::Refold => fold(&self.history),
        };
    }

    pub fn state(&self) -> Option<&CoopState> {
        self.state.as_ref()
    }

    pub fn history(&self) -> &[Recorded] {
        &self.history
    }

    /// Number of events recorded for this cooperative.
    pub fn version(&self) -> u64 {
        self.history.last().map_or(0, |r| r.envelope.version)
    }

    pub fn last_hash(&self) -> Hash {
        self.history.last().map_or(Hash::ZERO, |r| r.envelope.hash)
    }

    /// The event an earlier command with this request id produced, if any.
    pub fn find_request(&self, request_id: &str) -> Option<&Recorded> {
        self.requests
            .get(request_id)
            .and_then(|&i| self.history.get(i))
    }

    /// The event an earlier command with `request_id` produced, when `cmd` from `actor` is a
    /// retry of it: the same caller sending the same command with the same content (the event
    /// it would record is the one recorded). Anything else under a used request id is refused
    /// with `request_id_reused`, and the refusal names neither the other caller nor its event.
    pub fn retry_of(
        &self,
        request_id: &str,
        cmd: &Command,
        actor: &Actor,
    ) -> Result<Option<&Recorded>, Rejection> {
        let Some(first) = self.find_request(request_id) else {
            return Ok(None);
        };
        let reused = |what: &str| {
            Err(Rejection::state_field(
                "request_id",
                Rule::RequestIdReused,
                format!(
                    "{request_id:?} was already used on this cooperative {what}; a retry repeats the same command, anything else needs a new request_id"
                ),
            ))
        };
        if first.envelope.actor != *actor {
            return reused("by another caller");
        }
        let asked = cmd.clone().into_event();
        if first.envelope.event != asked {
            return reused(&if first.envelope.event.type_name() == asked.type_name() {
                "with other content".to_owned()
            } else {
                format!(
                    "for another command (a {})",
                    first.envelope.event.type_name()
                )
            });
        }
        Ok(Some(first))
    }
}

/// Decides a command against a cooperative's history: the event to record, or why not.
pub fn decide(agg: &Aggregate, cmd: Command, ctx: &Context) -> Result<Envelope, Rejection> {
    validate_context(ctx)?;
    validate_shape(&cmd)?;
    let today = Date::from_unix_ms(ctx.recorded_at_ms);
    if let Some(expected) = ctx.expected_version {
        if expected != agg.version() {
            return Err(Rejection::state_field(
                "expected_version",
                Rule::ExpectedVersionMismatch,
                format!(
                    "is {expected} but cooperative {} is at version {}",
                    ctx.cooperative_id,
                    agg.version()
                ),
            ));
        }
    }
    let occurred_on = match cmd.clone().into_event().business_date() {
        Some(d) => d,
        None => today,
    };
    let date_field = date_field_of(&cmd);
    if occurred_on > today {
        return Err(Rejection::state_field(
            date_field,
            Rule::DateInFuture,
            format!("{occurred_on} is after today ({today})"),
        ));
    }
    match (agg.state(), &cmd) {
        (Some(s), Command::Register(_)) => {
            return Err(Rejection::state(
                Rule::AlreadyRegistered,
                format!(
                    "cooperative {} is already registered (on {})",
                    s.id, s.registered_on
                ),
            ))
        }
        (None, Command::Register(_)) => {}
        (None, _) => {
            return Err(Rejection::state(
                Rule::CooperativeNotRegistered,
                format!("cooperative {} is not registered", ctx.cooperative_id),
            ))
        }
        (Some(s), _) => check_state(agg, s, &cmd, ctx, occurred_on, date_field)?,
    }
    let event = cmd.into_event();
    let mut envelope = Envelope {
        event_id: ctx.event_id.clone(),
        cooperative_id: ctx.cooperative_id.clone(),
        version: agg.version() + 1,
        recorded_at_ms: ctx.recorded_at_ms,
        occurred_on,
        actor: ctx.actor.clone(),
        request_id: ctx.request_id.clone(),
        correlation_id: ctx.correlation_id.clone(),
        schema_version: event.schema_version(),
        prev_hash: agg.last_hash(),
        hash: Hash::ZERO,
        event,
    };
    envelope.hash = chain_hash(&envelope);
    Ok(envelope)
}

fn check_state(
    agg: &Aggregate,
    s: &CoopState,
    cmd: &Command,
    ctx: &Context,
    occurred_on: Date,
    date_field: &'static str,
) -> Result<(), Rejection> {
    if occurred_on < s.registered_on && !matches!(cmd, Command::Retract(_)) {
        return Err(Rejection::state_field(
            date_field,
            Rule::DateBeforeRegistration,
            format!(
                "{occurred_on} is before the registration of {} on {}",
                s.id, s.registered_on
            ),
        ));
    }
    match cmd {
        Command::Halt(_) => {
            if let Some(h) = &s.open_halt {
                return Err(Rejection::state(
                    Rule::AlreadyHalted,
                    format!(
                        "cooperative {} is already halted since {} by {}",
                        s.id, h.since, h.authority
                    ),
                ));
            }
        }
        Command::Resume(e) => match &s.open_halt {
            None => {
                return Err(Rejection::state(
                    Rule::NotHalted,
                    format!("cooperative {} is not halted", s.id),
                ));
            }
            Some(h) if e.effective_on < h.since => {
                return Err(Rejection::state_field(
                    "effective_on",
                    Rule::ResumeBeforeHalt,
                    format!(
                        "{} is before the halt it ends ({})",
                        e.effective_on, h.since
                    ),
                ));
            }
            Some(_) => {}
        },
        Command::GrantSupport(e) => {
            if e.partner != ctx.actor.organisation {
                return Err(Rejection::state_field(
                    "partner",
                    Rule::SupportNotInOwnName,
                    format!(
                        "is {:?} but the actor belongs to {:?}: a partner records support only in its own name",
                        e.partner, ctx.actor.organisation
                    ),
                ));
            }
        }
        Command::Retract(e) => {
            let Some(target) = agg
                .history()
                .iter()
                .find(|r| r.envelope.event_id == e.retracted_event_id)
            else {
                return Err(Rejection::state_field(
                    "retracted_event_id",
                    Rule::RetractUnknownEvent,
                    format!(
                        "{} is not an event of cooperative {}",
                        e.retracted_event_id, s.id
                    ),
                ));
            };
            match target.envelope.event {
                Event::EventRetracted(_) => {
                    return Err(Rejection::state_field(
                        "retracted_event_id",
                        Rule::RetractRetraction,
                        "names a retraction: record the fact again instead",
                    ))
                }
                Event::CooperativeRegistered(_) => {
                    return Err(Rejection::state_field(
                        "retracted_event_id",
                        Rule::RetractRegistration,
                        "names the registration, which cannot be retracted",
                    ))
                }
                _ => {}
            }
            if s.retracted.contains(&e.retracted_event_id) {
                return Err(Rejection::state_field(
                    "retracted_event_id",
                    Rule::RetractAlreadyRetracted,
                    format!("{} is already retracted", e.retracted_event_id),
                ));
            }
        }
        Command::Register(_)
        | Command::Reorient(_)
        | Command::Authorize(_)
        | Command::OpenSalesChannel(_)
        | Command::ReportHeadcount(_) => {}
    }
    Ok(())
}

fn date_field_of(cmd: &Command) -> &'static str {
    match cmd {
        Command::Register(_) => "registered_on",
        Command::Halt(_) | Command::Reorient(_) | Command::Resume(_) => "effective_on",
        Command::Authorize(_) => "obtained_on",
        Command::GrantSupport(_) => "granted_on",
        Command::OpenSalesChannel(_) => "opened_on",
        Command::ReportHeadcount(_) => "as_of",
        Command::Retract(_) => "recorded_at",
    }
}

/// Checks a free-text field: bounded, free of control characters, present when required.
pub(crate) fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), Rejection> {
    if required && value.trim().is_empty() {
        return Err(Rejection::invalid(
            field,
            Rule::RequiredField,
            "must not be empty",
        ));
    }
    let len = value.chars().count();
    if len > max {
        return Err(Rejection::invalid(
            field,
            Rule::TextTooLong,
            format!("has {len} characters, at most {max} are allowed"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Rejection::invalid(
            field,
            Rule::ControlCharacter,
            format!("contains the control character U+{:04X}", u32::from(c)),
        ));
    }
    Ok(())
}

fn check_people(field: &'static str, value: u32) -> Result<(), Rejection> {
    if value > MAX_PEOPLE {
        return Err(Rejection::invalid(
            field,
            Rule::NumberTooLarge,
            format!("is {value}, at most {MAX_PEOPLE}"),
        ));
    }
    Ok(())
}

fn validate_context(ctx: &Context) -> Result<(), Rejection> {
    check_text("request_id", &ctx.request_id, REQUEST_ID, true)?;
    check_text("correlation_id", &ctx.correlation_id, REQUEST_ID, false)?;
    check_text("actor.principal", &ctx.actor.principal, SHORT_TEXT, true)?;
    check_text(
        "actor.organisation",
        &ctx.actor.organisation,
        SHORT_TEXT,
        true,
    )?;
    Ok(())
}

fn validate_shape(cmd: &Command) -> Result<(), Rejection> {
    match cmd {
        Command::Register(e) => {
            check_text("name", &e.name, SHORT_TEXT, true)?;
            check_text("registry_court", &e.registry_court, SHORT_TEXT, true)?;
            check_text("registry_number", &e.registry_number, SHORT_TEXT, true)?;
            check_text("activity", &e.activity, SHORT_TEXT, true)?;
            check_text("commune", &e.commune, SHORT_TEXT, true)?;
            check_people("members", e.members)?;
            check_people("employees", e.employees)?;
        }
        Command::Halt(e) => {
            check_text("authority", &e.authority, SHORT_TEXT, true)?;
            if let Some(basis) = &e.legal_basis {
                check_text("legal_basis.reference", &basis.reference, SHORT_TEXT, true)?;
            }
            check_text("reason", &e.reason, LONG_TEXT, true)?;
            check_people("workers_affected", e.workers_affected)?;
        }
        Command::Reorient(e) => {
            check_text("from_activity", &e.from_activity, SHORT_TEXT, true)?;
            check_text("to_activity", &e.to_activity, SHORT_TEXT, true)?;
            check_text("product", &e.product, SHORT_TEXT, false)?;
            check_text("notes", &e.notes, LONG_TEXT, false)?;
            for (field, v) in [
                ("capacity_min_per_day", e.capacity_min_per_day),
                ("capacity_max_per_day", e.capacity_max_per_day),
            ] {
                if v > MAX_CAPACITY {
                    return Err(Rejection::invalid(
                        field,
                        Rule::NumberTooLarge,
                        format!("is {v}, at most {MAX_CAPACITY}"),
                    ));
                }
            }
            if e.capacity_min_per_day > e.capacity_max_per_day {
                return Err(Rejection::invalid(
                    "capacity_min_per_day",
                    Rule::CapacityRange,
                    format!(
                        "({}) is above capacity_max_per_day ({})",
                        e.capacity_min_per_day, e.capacity_max_per_day
                    ),
                ));
            }
        }
        Command::Authorize(e) => {
            check_text("issuing_body", &e.issuing_body, SHORT_TEXT, true)?;
            check_text("reference", &e.reference, SHORT_TEXT, true)?;
            check_text("product", &e.product, SHORT_TEXT, false)?;
            if let Some(until) = e.valid_until {
                if until < e.obtained_on {
                    return Err(Rejection::invalid(
                        "valid_until",
                        Rule::ValidityRange,
                        format!("({until}) is before obtained_on ({})", e.obtained_on),
                    ));
                }
            }
        }
        Command::GrantSupport(e) => {
            check_text("partner", &e.partner, SHORT_TEXT, true)?;
            check_text("description", &e.description, LONG_TEXT, false)?;
            if let Some(amount) = e.amount_centimes {
                if amount < 0 {
                    return Err(Rejection::invalid(
                        "amount_centimes",
                        Rule::AmountNegative,
                        format!("is {amount}"),
                    ));
                }
                if amount > MAX_AMOUNT_CENTIMES {
                    return Err(Rejection::invalid(
                        "amount_centimes",
                        Rule::AmountTooLarge,
                        format!("is {amount}, at most {MAX_AMOUNT_CENTIMES}"),
                    ));
                }
            }
        }
        Command::OpenSalesChannel(e) => check_text("city", &e.city, SHORT_TEXT, true)?,
        Command::Resume(e) => {
            check_text("authority", &e.authority, SHORT_TEXT, false)?;
            check_text("decision_ref", &e.decision_ref, SHORT_TEXT, false)?;
            check_people("workers_back", e.workers_back)?;
        }
        Command::ReportHeadcount(e) => {
            check_people("members", e.members)?;
            check_people("employees", e.employees)?;
        }
        Command::Retract(e) => {
            check_text(
                "retracted_event_id",
                &e.retracted_event_id,
                REQUEST_ID,
                true,
            )?;
            check_text("reason", &e.reason, LONG_TEXT, true)?;
        }
    }
    Ok(())
}

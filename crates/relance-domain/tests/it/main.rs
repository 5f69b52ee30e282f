//! Integration tests of the relance domain, written as given / when / then.
//!
//! `given([commands…])` decides each command against a fresh context (event ids `evt-1`,
//! `evt-2`…, positions 1..n, recorded on 2020-06-01) and applies the events; `when(command)`
//! decides one more command; `then_…` asserts the event or the rejection.

mod envelope;
mod props;
mod requests;
mod retraction;
mod rules;
mod subscription;
mod summary;
mod upcast;

use relance_domain::{
    decide, ActivityHalted, ActivityResumed, Actor, Aggregate, AuthorizationObtained, ChannelKind,
    Command, Context, CoopId, CoopState, CooperativeRegistered, Date, Envelope, Event,
    EventRetracted, HaltScope, HeadcountReported, LegalBasis, LegalInstrument, Recorded, Rejection,
    ReorientationDeclared, Rule, SalesChannelOpened, Sector, Standing, SupportGranted, SupportKind,
};

/// 2020-06-01 10:00:00 UTC: when the first given command is recorded. Every command of a
/// scenario is recorded one second after the previous one, so "today" is 2020-06-01.
pub const NOW_MS: i64 = 1_591_005_600_000;

/// The cooperative of most scenarios.
pub const COOP: &str = "REH-0001";

/// A date written `YYYY-MM-DD`.
pub fn date(raw: &str) -> Date {
    Date::parse(raw).unwrap_or_else(|| panic!("{raw:?} is not a date"))
}

pub fn coop_id(raw: &str) -> CoopId {
    CoopId::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
}

/// An actor of organisation `org`, principal `p`.
pub fn actor(org: &str) -> Actor {
    Actor {
        principal: "p".to_owned(),
        organisation: org.to_owned(),
    }
}

/// Anything a scenario accepts as a command: a [`Command`] or the payload of one.
pub trait IntoCommand {
    fn into_command(self) -> Command;
}

impl IntoCommand for Command {
    fn into_command(self) -> Command {
        self
    }
}

macro_rules! payload_commands {
    ($($payload:ident => $variant:ident),+ $(,)?) => {
        $(impl IntoCommand for $payload {
            fn into_command(self) -> Command {
                Command::$variant(self)
            }
        })+
    };
}

payload_commands!(
    CooperativeRegistered => Register,
    ActivityHalted => Halt,
    ReorientationDeclared => Reorient,
    AuthorizationObtained => Authorize,
    SupportGranted => GrantSupport,
    SalesChannelOpened => OpenSalesChannel,
    ActivityResumed => Resume,
    HeadcountReported => ReportHeadcount,
    EventRetracted => Retract,
);

/// The event a command records, written independently of the crate.
pub fn event_of(cmd: &Command) -> Event {
    match cmd.clone() {
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

// ---- Fixtures: Ibdaat Rehamna's spring of 2020. Override fields with `..fixture()`. ----

pub fn registration() -> CooperativeRegistered {
    CooperativeRegistered {
        name: "Ibdaat Rehamna".to_owned(),
        registry_court: "Tribunal de première instance de Benguérir".to_owned(),
        registry_number: "1234".to_owned(),
        sector: Sector::Artisanat,
        activity: "couture et broderie".to_owned(),
        commune: "Benguérir".to_owned(),
        members: 12,
        employees: 3,
        registered_on: date("2019-11-04"),
    }
}

pub fn halt() -> ActivityHalted {
    ActivityHalted {
        authority: "Autorités locales".to_owned(),
        legal_basis: Some(LegalBasis {
            instrument: Some(LegalInstrument::Order),
            reference: "Arrêté gubernatorial n° 12/2020".to_owned(),
            issued_on: Some(date("2020-03-19")),
        }),
        effective_on: date("2020-03-20"),
        reason: "état d'urgence sanitaire".to_owned(),
        scope: HaltScope::Total,
        workers_affected: 40,
    }
}

pub fn reorientation() -> ReorientationDeclared {
    ReorientationDeclared {
        from_activity: "couture et broderie".to_owned(),
        to_activity: "masques de protection".to_owned(),
        product: "masques en tissu".to_owned(),
        capacity_min_per_day: 2_000,
        capacity_max_per_day: 3_000,
        notes: "lavables jusqu'à 5 fois".to_owned(),
        effective_on: date("2020-04-07"),
    }
}

pub fn authorization() -> AuthorizationObtained {
    AuthorizationObtained {
        issuing_body: "IMANOR".to_owned(),
        reference: "NM/ST 21.5.201".to_owned(),
        product: "masques barrières".to_owned(),
        obtained_on: date("2020-04-10"),
        valid_until: Some(date("2020-05-10")),
    }
}

/// Granted by OCP: the scenario records it with an OCP actor.
pub fn support() -> SupportGranted {
    SupportGranted {
        partner: "OCP".to_owned(),
        kind: SupportKind::Commercialisation,
        amount_centimes: Some(5_000_000),
        description: "Act4Community: achat de masques".to_owned(),
        granted_on: date("2020-04-15"),
    }
}

pub fn channel() -> SalesChannelOpened {
    SalesChannelOpened {
        channel: ChannelKind::Pharmacies,
        city: "Benguérir".to_owned(),
        standing: Standing::Established,
        opened_on: date("2020-04-20"),
    }
}

pub fn resume() -> ActivityResumed {
    ActivityResumed {
        authority: "Autorités locales".to_owned(),
        decision_ref: "DEC-2020-05".to_owned(),
        effective_on: date("2020-05-15"),
        workers_back: 35,
    }
}

pub fn headcount() -> HeadcountReported {
    HeadcountReported {
        members: 14,
        employees: 20,
        as_of: date("2020-05-31"),
    }
}

pub fn retraction(event_id: &str) -> EventRetracted {
    EventRetracted {
        retracted_event_id: event_id.to_owned(),
        reason: "saisie erronée".to_owned(),
    }
}

// ---- given / when / then ----

/// One cooperative's history, built by deciding and applying commands.
#[derive(Debug, Clone)]
pub struct Scenario {
    coop: CoopId,
    id_prefix: String,
    agg: Aggregate,
}

/// Nothing recorded yet for [`COOP`].
pub fn unregistered() -> Scenario {
    Scenario::for_coop(COOP)
}

/// [`COOP`] after these commands, each of which must be accepted.
pub fn given<I>(commands: I) -> Scenario
where
    I: IntoIterator,
    I::Item: IntoCommand,
{
    commands.into_iter().fold(unregistered(), Scenario::and)
}

/// [`COOP`] registered with [`registration`].
pub fn registered() -> Scenario {
    given([registration()])
}

impl Scenario {
    /// An empty history for another cooperative; its event ids are prefixed with its id.
    pub fn for_coop(raw: &str) -> Self {
        let id_prefix = if raw == COOP {
            "evt-".to_owned()
        } else {
            format!("{raw}-evt-")
        };
        Self {
            coop: coop_id(raw),
            id_prefix,
            agg: Aggregate::new(),
        }
    }

    /// Records one more command, which must be accepted.
    pub fn and(mut self, command: impl IntoCommand) -> Self {
        let cmd = command.into_command();
        let ctx = self.context_for(&cmd);
        let envelope = decide(&self.agg, cmd.clone(), &ctx)
            .unwrap_or_else(|e| panic!("given command {cmd:?} was refused: {e}"));
        self.record(envelope);
        self
    }

    /// Applies an accepted envelope at the next position.
    pub fn record(&mut self, envelope: Envelope) {
        let position = self.agg.history().last().map_or(0, |r| r.position) + 1;
        self.agg.apply(Recorded { position, envelope });
    }

    /// The id the event at `version` was given.
    pub fn event_id(&self, version: u64) -> String {
        format!("{}{version}", self.id_prefix)
    }

    /// The context of the next command: ids from the next version, recorded one second
    /// after the previous command, by the prefecture (by the partner for support).
    pub fn context_for(&self, cmd: &Command) -> Context {
        let n = self.agg.version() + 1;
        let organisation = match cmd {
            Command::GrantSupport(e) => e.partner.as_str(),
            _ => "prefecture",
        };
        Context {
            cooperative_id: self.coop.clone(),
            event_id: self.event_id(n),
            request_id: format!("req-{n}"),
            correlation_id: format!("corr-{n}"),
            recorded_at_ms: NOW_MS + 1_000 * i64::try_from(n).expect("small version"),
            actor: actor(organisation),
            expected_version: None,
        }
    }

    pub fn when(&self, command: impl IntoCommand) -> Outcome {
        self.when_with(command, |_| {})
    }

    /// Decides `command` as recorded by an actor of organisation `org`.
    pub fn when_by(&self, command: impl IntoCommand, org: &str) -> Outcome {
        self.when_with(command, |ctx| ctx.actor = actor(org))
    }

    /// Decides `command` with a context adjusted by `tweak`.
    pub fn when_with(
        &self,
        command: impl IntoCommand,
        tweak: impl FnOnce(&mut Context),
    ) -> Outcome {
        let cmd = command.into_command();
        let mut ctx = self.context_for(&cmd);
        tweak(&mut ctx);
        let result = decide(&self.agg, cmd.clone(), &ctx);
        Outcome { cmd, ctx, result }
    }

    pub fn aggregate(&self) -> &Aggregate {
        &self.agg
    }

    pub fn state(&self) -> &CoopState {
        self.agg.state().expect("the cooperative is registered")
    }
}

/// What `decide` made of the command under test.
#[derive(Debug)]
pub struct Outcome {
    pub cmd: Command,
    pub ctx: Context,
    pub result: Result<Envelope, Rejection>,
}

impl Outcome {
    pub fn then_accepted(self) -> Envelope {
        match self.result {
            Ok(envelope) => envelope,
            Err(rejection) => panic!("{:?} was refused: {rejection}", self.cmd),
        }
    }

    /// Accepted, and the envelope holds exactly `expected`.
    pub fn then_event(self, expected: Event) -> Envelope {
        let envelope = self.then_accepted();
        assert_eq!(envelope.event, expected);
        envelope
    }

    /// Refused by `rule`.
    pub fn then_rejected(self, rule: Rule) -> Rejection {
        match self.result {
            Ok(envelope) => panic!(
                "expected rule {rule}, but {:?} was accepted",
                envelope.event
            ),
            Err(rejection) => {
                assert_eq!(rejection.rule(), rule, "{rejection}");
                assert_eq!(rejection.kind(), rule.kind());
                rejection
            }
        }
    }

    /// Refused by `rule`, about `field`.
    pub fn then_rejected_on(self, rule: Rule, field: &str) -> Rejection {
        let rejection = self.then_rejected(rule);
        assert_eq!(rejection.field(), Some(field), "{rejection}");
        rejection
    }

    /// Refused by a rule about the state as a whole, not about one field.
    pub fn then_rejected_state(self, rule: Rule) -> Rejection {
        let rejection = self.then_rejected(rule);
        assert_eq!(rejection.field(), None, "{rejection}");
        rejection
    }
}

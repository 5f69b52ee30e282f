//! Event streams built the way the command service builds them: each command is decided with
//! `relance_domain::decide` against its cooperative's aggregate, and the envelope is encoded
//! with `relance_proto::encode_envelope` into the [`StoredEvent`] the log hands back.

use std::collections::BTreeMap;

use proptest::prelude::*;
use relance_domain::{
    decide, ActivityHalted, ActivityResumed, Actor, Aggregate, AuthorizationObtained, ChannelKind,
    Command, Context, CoopId, CoopState, CooperativeRegistered, Date, EventRetracted, HaltScope,
    HeadcountReported, Recorded, Rejection, ReorientationDeclared, SalesChannelOpened, Sector,
    Standing, SupportGranted, SupportKind,
};
use relance_log::StoredEvent;

/// 2020-09-01 08:00 UTC: the first event is recorded then and each next one a minute later,
/// so every business date of the spring and summer of 2020 is in the past.
pub const RECORDED_FROM_MS: i64 = 1_598_947_200_000;

pub const BENGUERIR: &str = "Benguérir";
pub const SKHOUR: &str = "Skhour Rehamna";
pub const SIDI_BOU_OTHMANE: &str = "Sidi Bou Othmane";

pub const INDH: &str = "INDH";
pub const ODCO: &str = "ODCo";
pub const OCP: &str = "Fondation OCP";

/// A date written `YYYY-MM-DD`.
pub fn date(raw: &str) -> Date {
    Date::parse(raw).unwrap_or_else(|| panic!("{raw:?} is not a date"))
}

pub fn actor(principal: &str, organisation: &str) -> Actor {
    Actor {
        principal: principal.to_owned(),
        organisation: organisation.to_owned(),
    }
}

/// The prefecture's agent, who records registrations, halts, resumptions and the like.
pub fn prefecture() -> Actor {
    actor("k.benali", "prefecture")
}

/// A partner's agent: support is recorded in the partner's own name.
pub fn partner(org: &str) -> Actor {
    actor(
        &format!("agent.{}", org.to_lowercase().replace(' ', "-")),
        org,
    )
}

/// A stream of accepted events and the aggregates they fold to.
#[derive(Debug, Default)]
pub struct HistoryBuilder {
    aggregates: BTreeMap<String, Aggregate>,
    events: Vec<StoredEvent>,
    /// Added in turn to the recording times, which then no longer grow with the position
    /// (the clocks of command processes differ).
    skew_ms: Vec<i64>,
}

impl HistoryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder whose event at position `p` is recorded `skew_ms[p % len]` off the minute.
    pub fn skewed(skew_ms: Vec<i64>) -> Self {
        Self {
            skew_ms,
            ..Self::default()
        }
    }

    /// Decides `cmd` for `coop` as `actor`. When accepted, the event becomes the next one of
    /// the stream (positions from 1, event ids `evt-00001`…) and its id is returned.
    pub fn try_record(
        &mut self,
        coop: &str,
        actor: &Actor,
        cmd: Command,
    ) -> Result<String, Rejection> {
        let position = self.events.len() as u64 + 1;
        let cooperative_id = CoopId::parse(coop).expect("test cooperative ids are valid");
        let aggregate = self.aggregates.entry(coop.to_owned()).or_default();
        let ctx = Context {
            cooperative_id: cooperative_id.clone(),
            event_id: format!("evt-{position:05}"),
            request_id: format!("req-{position:05}"),
            correlation_id: format!("corr-{coop}"),
            recorded_at_ms: RECORDED_FROM_MS
                + position as i64 * 60_000
                + self
                    .skew_ms
                    .get(position as usize % self.skew_ms.len().max(1))
                    .copied()
                    .unwrap_or(0),
            actor: actor.clone(),
            expected_version: Some(aggregate.version()),
        };
        let envelope = decide(aggregate, cmd, &ctx)?;
        self.events.push(StoredEvent {
            position,
            cooperative_id,
            version: envelope.version,
            event_id: envelope.event_id.clone(),
            event_type: envelope.event.type_name().to_owned(),
            schema_version: envelope.schema_version,
            request_id: envelope.request_id.clone(),
            payload: relance_proto::encode_envelope(&envelope),
        });
        aggregate.apply(Recorded { position, envelope });
        Ok(ctx.event_id)
    }

    /// Like [`Self::try_record`], for commands the scenario expects to be accepted.
    pub fn record(&mut self, coop: &str, actor: &Actor, cmd: Command) -> String {
        self.try_record(coop, actor, cmd)
            .unwrap_or_else(|r| panic!("{coop}: command refused: {r}"))
    }

    pub fn events(&self) -> &[StoredEvent] {
        &self.events
    }

    pub fn into_events(self) -> Vec<StoredEvent> {
        self.events
    }

    pub fn state(&self, coop: &str) -> Option<&CoopState> {
        self.aggregates.get(coop).and_then(Aggregate::state)
    }

    /// Position of the event with this id.
    pub fn position_of(&self, event_id: &str) -> u64 {
        self.events
            .iter()
            .find(|e| e.event_id == event_id)
            .map(|e| e.position)
            .unwrap_or_else(|| panic!("no event {event_id}"))
    }
}

// ---- Commands, written compactly. ----

pub fn register(
    name: &str,
    sector: Sector,
    activity: &str,
    commune: &str,
    members: u32,
    employees: u32,
    on: Date,
) -> Command {
    Command::Register(CooperativeRegistered {
        name: name.to_owned(),
        registry_court: "Tribunal de première instance de Benguérir".to_owned(),
        registry_number: format!("RC-{}", name.len() * 97 + members as usize),
        sector,
        activity: activity.to_owned(),
        commune: commune.to_owned(),
        members,
        employees,
        registered_on: on,
    })
}

pub fn halt(on: Date, workers_affected: u32, scope: HaltScope) -> Command {
    Command::Halt(ActivityHalted {
        authority: "Autorités locales de Rehamna".to_owned(),
        legal_basis: Some(relance_domain::LegalBasis {
            instrument: Some(relance_domain::LegalInstrument::Order),
            reference: format!("DEC-{on}"),
            issued_on: None,
        }),
        effective_on: on,
        reason: "état d'urgence sanitaire".to_owned(),
        scope,
        workers_affected,
    })
}

pub fn resume(on: Date, workers_back: u32) -> Command {
    Command::Resume(ActivityResumed {
        authority: "Autorités locales de Rehamna".to_owned(),
        decision_ref: format!("REP-{on}"),
        effective_on: on,
        workers_back,
    })
}

pub fn reorient(from: &str, to: &str, product: &str, min: u64, max: u64, on: Date) -> Command {
    Command::Reorient(ReorientationDeclared {
        from_activity: from.to_owned(),
        to_activity: to.to_owned(),
        product: product.to_owned(),
        capacity_min_per_day: min,
        capacity_max_per_day: max,
        notes: String::new(),
        effective_on: on,
    })
}

pub fn authorize(reference: &str, product: &str, on: Date, until: Option<Date>) -> Command {
    Command::Authorize(AuthorizationObtained {
        issuing_body: "IMANOR".to_owned(),
        reference: reference.to_owned(),
        product: product.to_owned(),
        obtained_on: on,
        valid_until: until,
    })
}

pub fn grant(partner: &str, kind: SupportKind, amount_centimes: Option<i64>, on: Date) -> Command {
    Command::GrantSupport(SupportGranted {
        partner: partner.to_owned(),
        kind,
        amount_centimes,
        description: format!("{} de {partner}", kind.label()),
        granted_on: on,
    })
}

pub fn open_channel(channel: ChannelKind, city: &str, standing: Standing, on: Date) -> Command {
    Command::OpenSalesChannel(SalesChannelOpened {
        channel,
        city: city.to_owned(),
        standing,
        opened_on: on,
    })
}

pub fn headcount(members: u32, employees: u32, on: Date) -> Command {
    Command::ReportHeadcount(HeadcountReported {
        members,
        employees,
        as_of: on,
    })
}

pub fn retract(event_id: &str, reason: &str) -> Command {
    Command::Retract(EventRetracted {
        retracted_event_id: event_id.to_owned(),
        reason: reason.to_owned(),
    })
}

// ---- A known history: six cooperatives of Rehamna in 2020. ----

/// The known history and the ids of the events the tests name.
pub struct Realistic {
    pub builder: HistoryBuilder,
    /// REH-0003's halt, recorded on the wrong cooperative and retracted by the prefecture.
    pub wrong_halt: String,
    pub wrong_halt_retraction: String,
    /// REH-0002's second INDH tranche, entered by mistake and retracted by INDH.
    pub mistaken_grant: String,
    pub mistaken_grant_retraction: String,
    /// REH-0005's second halt, still open at the end of the history.
    pub second_halt: String,
}

pub const WRONG_HALT_REASON: &str = "décision visant une autre coopérative";
pub const MISTAKEN_GRANT_REASON: &str = "deuxième tranche saisie par erreur";

/// The principal who retracts INDH's mistaken grant.
pub fn indh_controller() -> Actor {
    actor("controle.indh", INDH)
}

/// At the end of this history (hand-computed, asserted in `summary.rs` and `listing.rs`):
///
/// | id       | sector      | commune          | status     | idled | members/employees |
/// |----------|-------------|------------------|------------|-------|-------------------|
/// | REH-0001 | artisanat   | Benguérir        | reoriented | 0     | 14 / 5            |
/// | REH-0002 | agriculture | Skhour Rehamna   | resumed    | 0     | 25 / 0            |
/// | REH-0003 | agriculture | Benguérir        | active     | 0     | 8 / 1             |
/// | REH-0004 | artisanat   | Sidi Bou Othmane | halted     | 20    | 15 / 2            |
/// | REH-0005 | argane      | Skhour Rehamna   | halted     | 12    | 32 / 4            |
/// | REH-0006 | agriculture | Sidi Bou Othmane | active     | 0     | 10 / 0            |
pub fn realistic() -> Realistic {
    let mut b = HistoryBuilder::new();
    let pref = prefecture();
    let d = date;
    use HaltScope::{Partial, Total};

    let registrations = [
        (
            "REH-0001",
            "Ibdaat Rehamna",
            Sector::Artisanat,
            "couture et broderie",
            BENGUERIR,
            12,
            3,
            "2019-11-04",
        ),
        (
            "REH-0002",
            "Al Baraka",
            Sector::Agriculture,
            "élevage ovin",
            SKHOUR,
            25,
            0,
            "2015-06-01",
        ),
        (
            "REH-0003",
            "Nour",
            Sector::Agriculture,
            "apiculture",
            BENGUERIR,
            8,
            1,
            "2018-02-10",
        ),
        (
            "REH-0004",
            "Tifaout",
            Sector::Artisanat,
            "tissage",
            SIDI_BOU_OTHMANE,
            15,
            2,
            "2017-09-09",
        ),
        (
            "REH-0005",
            "Argan Rehamna",
            Sector::Argane,
            "huile d'argan",
            SKHOUR,
            30,
            4,
            "2016-03-03",
        ),
        (
            "REH-0006",
            "Al Khir",
            Sector::Agriculture,
            "maraîchage",
            SIDI_BOU_OTHMANE,
            10,
            0,
            "2019-01-15",
        ),
    ];
    for (id, name, sector, activity, commune, members, employees, on) in registrations {
        b.record(
            id,
            &pref,
            register(name, sector, activity, commune, members, employees, d(on)),
        );
    }

    b.record("REH-0005", &pref, halt(d("2020-03-19"), 30, Total));
    b.record("REH-0001", &pref, halt(d("2020-03-20"), 40, Total));
    b.record("REH-0004", &pref, halt(d("2020-03-20"), 20, Total));
    let wrong_halt = b.record("REH-0003", &pref, halt(d("2020-03-21"), 6, Total));
    b.record("REH-0002", &pref, halt(d("2020-03-23"), 10, Partial));
    let wrong_halt_retraction =
        b.record("REH-0003", &pref, retract(&wrong_halt, WRONG_HALT_REASON));

    let masks = reorient(
        "couture et broderie",
        "masques de protection",
        "masques en tissu",
        800,
        1200,
        d("2020-03-25"),
    );
    b.record("REH-0001", &pref, masks);
    let imanor = authorize(
        "IMANOR-2020-0412",
        "masques barrières",
        d("2020-04-02"),
        Some(d("2020-05-02")),
    );
    b.record("REH-0001", &pref, imanor);
    b.record(
        "REH-0004",
        &pref,
        reorient(
            "tissage",
            "blouses médicales",
            "blouses",
            50,
            120,
            d("2020-04-06"),
        ),
    );
    let odco_grant = grant(
        ODCO,
        SupportKind::Financial,
        Some(5_000_000),
        d("2020-04-10"),
    );
    b.record("REH-0001", &partner(ODCO), odco_grant);
    b.record(
        "REH-0001",
        &partner(OCP),
        grant(OCP, SupportKind::Equipment, None, d("2020-04-12")),
    );
    let pharmacies = open_channel(
        ChannelKind::Pharmacies,
        BENGUERIR,
        Standing::Established,
        d("2020-04-15"),
    );
    b.record("REH-0001", &pref, pharmacies);
    let first_tranche = grant(
        INDH,
        SupportKind::Financial,
        Some(2_000_000),
        d("2020-04-20"),
    );
    b.record("REH-0002", &partner(INDH), first_tranche);
    let sales_help = grant(
        OCP,
        SupportKind::Commercialisation,
        Some(1_500_000),
        d("2020-04-25"),
    );
    b.record("REH-0004", &partner(OCP), sales_help);
    b.record("REH-0002", &pref, resume(d("2020-04-28"), 10));
    let second_tranche = grant(
        INDH,
        SupportKind::Financial,
        Some(3_000_000),
        d("2020-05-05"),
    );
    let mistaken_grant = b.record("REH-0002", &partner(INDH), second_tranche);
    let mistaken_grant_retraction = b.record(
        "REH-0002",
        &indh_controller(),
        retract(&mistaken_grant, MISTAKEN_GRANT_REASON),
    );

    b.record(
        "REH-0003",
        &pref,
        open_channel(
            ChannelKind::Market,
            BENGUERIR,
            Standing::Trial,
            d("2020-05-10"),
        ),
    );
    b.record(
        "REH-0003",
        &partner(ODCO),
        grant(ODCO, SupportKind::Training, None, d("2020-05-12")),
    );
    b.record("REH-0001", &pref, resume(d("2020-05-18"), 35));
    b.record(
        "REH-0006",
        &partner(INDH),
        grant(INDH, SupportKind::Equipment, Some(800_000), d("2020-05-20")),
    );
    let online = open_channel(
        ChannelKind::Ecommerce,
        "Marrakech",
        Standing::Trial,
        d("2020-05-22"),
    );
    b.record("REH-0006", &pref, online);
    b.record("REH-0005", &pref, resume(d("2020-06-02"), 28));
    b.record("REH-0001", &pref, headcount(14, 5, d("2020-06-15")));
    let second_halt = b.record("REH-0005", &pref, halt(d("2020-06-20"), 12, Partial));
    b.record("REH-0005", &pref, headcount(32, 4, d("2020-06-30")));

    Realistic {
        builder: b,
        wrong_halt,
        wrong_halt_retraction,
        mistaken_grant,
        mistaken_grant_retraction,
        second_halt,
    }
}

// ---- Random histories for property tests. ----

/// The cooperatives random histories are about.
pub const RANDOM_COOPS: [&str; 4] = ["COOP-A", "COOP-B", "COOP-C", "COOP-D"];

/// One random command: which cooperative, what kind, and two numbers its fields come from.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub coop: usize,
    pub kind: u8,
    pub a: u32,
    pub b: u32,
}

pub fn op() -> impl Strategy<Value = Op> {
    (0..RANDOM_COOPS.len(), 0u8..9, any::<u32>(), any::<u32>()).prop_map(|(coop, kind, a, b)| Op {
        coop,
        kind,
        a,
        b,
    })
}

/// Decides every op in turn; rejected commands are skipped, as the command service would.
/// A cooperative's first op registers it.
pub fn random_history(ops: &[Op]) -> HistoryBuilder {
    random_history_from(HistoryBuilder::new(), ops)
}

/// Like [`random_history`], recorded by `builder` (a [skewed](HistoryBuilder::skewed) one).
pub fn random_history_from(mut builder: HistoryBuilder, ops: &[Op]) -> HistoryBuilder {
    for op in ops {
        let coop = RANDOM_COOPS[op.coop];
        let (actor, cmd) = random_command(&builder, coop, *op);
        // A refusal records nothing: the stream goes on with the next command.
        let _refused = builder.try_record(coop, &actor, cmd);
    }
    builder
}

fn pick<T: Copy>(all: &[T], n: u32) -> T {
    all[n as usize % all.len()]
}

fn random_command(builder: &HistoryBuilder, coop: &str, op: Op) -> (Actor, Command) {
    let Op { a, b, .. } = op;
    // Business dates from 2020-03-01 over five months; registrations in 2015–2019.
    let day = |n: u32| date("2020-03-01").add_days((n % 150) as i32);
    let communes = [BENGUERIR, SKHOUR, SIDI_BOU_OTHMANE];
    let partners = [INDH, ODCO, OCP];
    let Some(state) = builder.state(coop) else {
        let registered_on = date("2015-01-01").add_days((a % 1800) as i32);
        let cmd = register(
            coop,
            pick(Sector::ALL, a),
            "activité",
            pick(&communes, b),
            a % 50,
            b % 10,
            registered_on,
        );
        return (prefecture(), cmd);
    };
    let cmd = match op.kind {
        0 => register(
            coop,
            pick(Sector::ALL, a),
            "activité",
            pick(&communes, b),
            1,
            1,
            date("2019-01-01"),
        ),
        1 => halt(day(b), a % 60, pick(HaltScope::ALL, a)),
        2 => {
            // Mostly after the open halt; when there is none, refused as not halted.
            let on = state
                .open_halt
                .as_ref()
                .map_or(day(b), |h| h.since.add_days((b % 40) as i32));
            resume(on, a % 60)
        }
        3 => {
            let min = u64::from(a % 500);
            reorient(
                &state.current_activity,
                &format!("produit {}", a % 5),
                "",
                min,
                min + u64::from(b % 500),
                day(b),
            )
        }
        4 => authorize(&format!("IMANOR-{a}"), "masques", day(b), None),
        5 => {
            let org = pick(&partners, a);
            let amount = (b % 3 != 0).then_some(i64::from(a % 1000) * 10_000);
            let cmd = grant(org, pick(SupportKind::ALL, b), amount, day(b));
            // Now and then the prefecture tries to record a partner's support: refused.
            let who = if b % 7 == 0 {
                prefecture()
            } else {
                partner(org)
            };
            return (who, cmd);
        }
        6 => open_channel(
            pick(ChannelKind::ALL, a),
            pick(&communes, b),
            pick(Standing::ALL, b),
            day(b),
        ),
        7 => headcount(a % 80, b % 20, day(b)),
        _ => {
            // Any earlier event; registrations, retractions and repeats are refused.
            let history = builder
                .aggregates
                .get(coop)
                .map(Aggregate::history)
                .unwrap_or_default();
            let target = history
                .get(a as usize % history.len().max(1))
                .map_or("none", |r| r.envelope.event_id.as_str());
            retract(target, "erreur de saisie")
        }
    };
    (prefecture(), cmd)
}

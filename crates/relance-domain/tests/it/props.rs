//! Property tests: random command sequences over a few cooperatives, run through `decide`
//! and checked against an oracle written here, independently of the crate's rule code.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};
use relance_domain::limits::SHORT_TEXT;
use relance_domain::{
    canonical_bytes, chain_hash, decide, fold, Aggregate, Context, CoopState, Envelope, Status,
    Summary, SupportKind, Totals,
};

use crate::*;

const COOPS: [&str; 3] = ["REH-0001", "REH-0002", "REH-0003"];
const PARTNERS: [&str; 3] = ["OCP", "INDH", "AFD"];
/// Organisations an actor may belong to when it records support.
const ORGS: [&str; 3] = ["OCP", "INDH", "prefecture"];
const HOURS_MS: i64 = 3_600_000;

// ---- Generated input ----

/// Which event a retraction names.
#[derive(Debug, Clone)]
enum Target {
    /// The id given to an earlier step, accepted or not, of any cooperative.
    Attempted(Index),
    /// An event recorded for this cooperative.
    Recorded(Index),
    /// An id no step was given.
    Bogus,
}

#[derive(Debug, Clone)]
enum Op {
    Register {
        day: u16,
        members: u32,
    },
    Halt {
        day: u16,
        workers: u32,
        blank_reason: bool,
    },
    Reorient {
        day: u16,
        min: u64,
        max: u64,
    },
    Authorize {
        day: u16,
        valid_for_days: Option<i32>,
    },
    Support {
        day: u16,
        partner: usize,
        kind: Index,
        amount: Option<i64>,
        actor: Option<usize>,
    },
    Channel {
        day: u16,
    },
    Resume {
        day: u16,
        workers: u32,
    },
    Headcount {
        day: u16,
        members: u32,
        employees: u32,
    },
    Retract {
        target: Target,
    },
}

#[derive(Debug, Clone)]
struct Step {
    coop: usize,
    op: Op,
    expected_version: Option<u64>,
}

/// Days after 2020-01-01: mostly before "today" (2020-06-01 = day 152), sometimes after.
fn day() -> impl Strategy<Value = u16> {
    prop_oneof![3 => 0u16..130, 1 => 0u16..220]
}

/// The actor's organisation for support: mostly the partner itself (`None`).
fn actor_org() -> impl Strategy<Value = Option<usize>> {
    prop::option::weighted(0.3, 0..ORGS.len())
}

fn op() -> impl Strategy<Value = Op> {
    let register_day = prop_oneof![4 => 0u16..40, 1 => 0u16..220];
    let amount = prop_oneof![
        1 => Just(None),
        1 => (-1_000i64..0).prop_map(Some),
        6 => (0i64..1_000_000).prop_map(Some),
    ];
    let support = (
        day(),
        0..PARTNERS.len(),
        any::<Index>(),
        amount,
        actor_org(),
    )
        .prop_map(|(day, partner, kind, amount, actor)| Op::Support {
            day,
            partner,
            kind,
            amount,
            actor,
        });
    let target = prop_oneof![
        2 => any::<Index>().prop_map(Target::Attempted),
        3 => any::<Index>().prop_map(Target::Recorded),
        1 => Just(Target::Bogus),
    ];
    prop_oneof![
        3 => (register_day, 0u32..50).prop_map(|(day, members)| Op::Register { day, members }),
        3 => (day(), 0u32..50, prop::bool::weighted(0.1))
            .prop_map(|(day, workers, blank_reason)| Op::Halt { day, workers, blank_reason }),
        2 => (day(), 0u64..10, 0u64..10).prop_map(|(day, min, max)| Op::Reorient { day, min, max }),
        2 => (day(), prop::option::of(-5i32..40))
            .prop_map(|(day, valid_for_days)| Op::Authorize { day, valid_for_days }),
        3 => support,
        1 => day().prop_map(|day| Op::Channel { day }),
        3 => (day(), 0u32..50).prop_map(|(day, workers)| Op::Resume { day, workers }),
        1 => (day(), 0u32..50, 0u32..50)
            .prop_map(|(day, members, employees)| Op::Headcount { day, members, employees }),
        4 => target.prop_map(|target| Op::Retract { target }),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let expected_version = prop_oneof![5 => Just(None), 1 => (0u64..8).prop_map(Some)];
    let step =
        (0..COOPS.len(), op(), expected_version).prop_map(|(coop, op, expected_version)| Step {
            coop,
            op,
            expected_version,
        });
    prop::collection::vec(step, 1..40)
}

fn on(day: u16) -> Date {
    date("2020-01-01").add_days(i32::from(day))
}

/// The command of step `i` and the organisation of its actor.
fn command(step: &Step, i: usize, agg: &Aggregate) -> (Command, String) {
    let prefecture = "prefecture".to_owned();
    let cmd = match &step.op {
        Op::Register { day, members } => CooperativeRegistered {
            name: format!("Coopérative {}", COOPS[step.coop]),
            sector: Sector::ALL[*members as usize % Sector::ALL.len()],
            members: *members,
            registered_on: on(*day),
            ..registration()
        }
        .into_command(),
        Op::Halt {
            day,
            workers,
            blank_reason,
        } => ActivityHalted {
            effective_on: on(*day),
            workers_affected: *workers,
            reason: if *blank_reason {
                " ".to_owned()
            } else {
                halt().reason
            },
            ..halt()
        }
        .into_command(),
        Op::Reorient { day, min, max } => ReorientationDeclared {
            to_activity: format!("produit {min}-{max}"),
            capacity_min_per_day: *min,
            capacity_max_per_day: *max,
            effective_on: on(*day),
            ..reorientation()
        }
        .into_command(),
        Op::Authorize {
            day,
            valid_for_days,
        } => AuthorizationObtained {
            obtained_on: on(*day),
            valid_until: valid_for_days.map(|n| on(*day).add_days(n)),
            ..authorization()
        }
        .into_command(),
        Op::Support {
            day,
            partner,
            kind,
            amount,
            actor,
        } => {
            let partner = PARTNERS[*partner];
            let org = actor.map_or(partner, |a| ORGS[a]).to_owned();
            let grant = SupportGranted {
                partner: partner.to_owned(),
                kind: *kind.get(SupportKind::ALL),
                amount_centimes: *amount,
                granted_on: on(*day),
                ..support()
            };
            return (grant.into_command(), org);
        }
        Op::Channel { day } => SalesChannelOpened {
            opened_on: on(*day),
            ..channel()
        }
        .into_command(),
        Op::Resume { day, workers } => ActivityResumed {
            effective_on: on(*day),
            workers_back: *workers,
            ..resume()
        }
        .into_command(),
        Op::Headcount {
            day,
            members,
            employees,
        } => HeadcountReported {
            members: *members,
            employees: *employees,
            as_of: on(*day),
        }
        .into_command(),
        Op::Retract { target } => {
            let id = match target {
                Target::Attempted(_) if i == 0 => "evt-0".to_owned(),
                Target::Attempted(index) => event_id(index.index(i)),
                Target::Recorded(_) if agg.history().is_empty() => "evt-0".to_owned(),
                Target::Recorded(index) => index.get(agg.history()).envelope.event_id.clone(),
                Target::Bogus => "bogus".to_owned(),
            };
            retraction(&id).into_command()
        }
    };
    (cmd, prefecture)
}

/// Step `i` is given the event id `evt-{i+1}`, whether accepted or not.
fn event_id(i: usize) -> String {
    format!("evt-{}", i + 1)
}

fn context(step: &Step, i: usize, org: String) -> Context {
    let i64_i = i64::try_from(i).expect("few steps");
    Context {
        cooperative_id: coop_id(COOPS[step.coop]),
        event_id: event_id(i),
        request_id: format!("req-{}", i + 1),
        correlation_id: String::new(),
        recorded_at_ms: NOW_MS + 3 * HOURS_MS * i64_i,
        actor: Actor {
            principal: "p".to_owned(),
            organisation: org,
        },
        expected_version: step.expected_version,
    }
}

// ---- The oracle ----

/// An accepted command as the oracle remembers it.
#[derive(Debug, Clone)]
struct Fact {
    id: String,
    cmd: Command,
    retracted: bool,
}

/// One cooperative as the oracle sees it: its accepted commands, in order.
#[derive(Debug, Clone, Default)]
struct Model {
    facts: Vec<Fact>,
}

impl Model {
    fn version(&self) -> u64 {
        self.facts.len() as u64
    }

    fn registration(&self) -> Option<&CooperativeRegistered> {
        self.facts.iter().find_map(|f| match &f.cmd {
            Command::Register(r) => Some(r),
            _ => None,
        })
    }

    /// Commands that still count: neither retracted nor retractions.
    fn live(&self) -> impl Iterator<Item = &Command> {
        self.facts
            .iter()
            .filter(|f| !f.retracted && !matches!(f.cmd, Command::Retract(_)))
            .map(|f| &f.cmd)
    }

    /// The halt in force: the last live halt or resumption, when it is a halt.
    fn open_halt(&self) -> Option<&ActivityHalted> {
        let mut open = None;
        for cmd in self.live() {
            match cmd {
                Command::Halt(h) => open = Some(h),
                Command::Resume(_) => open = None,
                _ => {}
            }
        }
        open
    }

    fn status(&self) -> Status {
        let any = |pred: fn(&Command) -> bool| self.live().any(pred);
        if self.open_halt().is_some() {
            Status::Halted
        } else if any(|c| matches!(c, Command::Reorient(_))) {
            Status::Reoriented
        } else if any(|c| matches!(c, Command::Resume(_))) {
            Status::Resumed
        } else {
            Status::Active
        }
    }

    /// The dates of the live halts, in recording order.
    fn halt_dates(&self) -> Vec<Date> {
        let halts = self.live().filter_map(|c| match c {
            Command::Halt(h) => Some(h.effective_on),
            _ => None,
        });
        halts.collect()
    }

    fn support_totals(&self) -> BTreeMap<String, BTreeMap<SupportKind, Totals>> {
        let mut out: BTreeMap<String, BTreeMap<SupportKind, Totals>> = BTreeMap::new();
        for cmd in self.live() {
            if let Command::GrantSupport(g) = cmd {
                let t = out
                    .entry(g.partner.clone())
                    .or_default()
                    .entry(g.kind)
                    .or_default();
                t.count += 1;
                t.amount_centimes += g.amount_centimes.unwrap_or(0);
            }
        }
        out
    }

    /// Members, employees and their date: the last live report, else the registration's.
    fn headcount(&self) -> Option<(u32, u32, Date)> {
        let r = self.registration()?;
        let mut out = (r.members, r.employees, r.registered_on);
        for cmd in self.live() {
            if let Command::ReportHeadcount(h) = cmd {
                out = (h.members, h.employees, h.as_of);
            }
        }
        Some(out)
    }

    fn current_activity(&self) -> Option<String> {
        let mut out = self.registration()?.activity.clone();
        for cmd in self.live() {
            if let Command::Reorient(r) = cmd {
                out = r.to_activity.clone();
            }
        }
        Some(out)
    }

    fn retracted_ids(&self) -> BTreeSet<String> {
        self.facts
            .iter()
            .filter(|f| f.retracted)
            .map(|f| f.id.clone())
            .collect()
    }

    fn record(&mut self, id: String, cmd: Command) {
        if let Command::Retract(r) = &cmd {
            if let Some(target) = self.facts.iter_mut().find(|f| f.id == r.retracted_event_id) {
                target.retracted = true;
            }
        }
        self.facts.push(Fact {
            id,
            cmd,
            retracted: false,
        });
    }
}

/// The business date a command is about; `None` for a retraction.
fn business_date(cmd: &Command) -> Option<Date> {
    match cmd {
        Command::Register(e) => Some(e.registered_on),
        Command::Halt(e) => Some(e.effective_on),
        Command::Reorient(e) => Some(e.effective_on),
        Command::Authorize(e) => Some(e.obtained_on),
        Command::GrantSupport(e) => Some(e.granted_on),
        Command::OpenSalesChannel(e) => Some(e.opened_on),
        Command::Resume(e) => Some(e.effective_on),
        Command::ReportHeadcount(e) => Some(e.as_of),
        Command::Retract(_) => None,
    }
}

/// Every rule the command breaks, by the oracle's reading of docs/design.md.
fn broken_rules(model: &Model, cmd: &Command, ctx: &Context) -> Vec<Rule> {
    let today = Date::from_unix_ms(ctx.recorded_at_ms);
    let mut broken = Vec::new();
    if ctx.expected_version.is_some_and(|v| v != model.version()) {
        broken.push(Rule::ExpectedVersionMismatch);
    }
    // The only malformed inputs the generator produces.
    match cmd {
        Command::Halt(h) if h.reason.trim().is_empty() => broken.push(Rule::RequiredField),
        Command::Reorient(r) if r.capacity_min_per_day > r.capacity_max_per_day => {
            broken.push(Rule::CapacityRange)
        }
        Command::Authorize(a) if a.valid_until.is_some_and(|u| u < a.obtained_on) => {
            broken.push(Rule::ValidityRange)
        }
        Command::GrantSupport(g) if g.amount_centimes.is_some_and(|a| a < 0) => {
            broken.push(Rule::AmountNegative)
        }
        _ => {}
    }
    let date = business_date(cmd);
    if date.is_some_and(|d| d > today) {
        broken.push(Rule::DateInFuture);
    }
    let registration = model.registration();
    match (registration, cmd) {
        (Some(_), Command::Register(_)) => broken.push(Rule::AlreadyRegistered),
        (None, Command::Register(_)) => {}
        (None, _) => broken.push(Rule::CooperativeNotRegistered),
        (Some(reg), _) => {
            if date.is_some_and(|d| d < reg.registered_on) {
                broken.push(Rule::DateBeforeRegistration);
            }
            match cmd {
                Command::Halt(_) if model.open_halt().is_some() => broken.push(Rule::AlreadyHalted),
                Command::Resume(r) => match model.open_halt() {
                    None => broken.push(Rule::NotHalted),
                    Some(h) if r.effective_on < h.effective_on => {
                        broken.push(Rule::ResumeBeforeHalt)
                    }
                    Some(_) => {}
                },
                Command::GrantSupport(g) if g.partner != ctx.actor.organisation => {
                    broken.push(Rule::SupportNotInOwnName)
                }
                Command::Retract(r) => {
                    match model.facts.iter().find(|f| f.id == r.retracted_event_id) {
                        None => broken.push(Rule::RetractUnknownEvent),
                        Some(f) if matches!(f.cmd, Command::Retract(_)) => {
                            broken.push(Rule::RetractRetraction)
                        }
                        Some(f) if matches!(f.cmd, Command::Register(_)) => {
                            broken.push(Rule::RetractRegistration)
                        }
                        Some(f) if f.retracted => broken.push(Rule::RetractAlreadyRetracted),
                        Some(_) => {}
                    }
                }
                _ => {}
            }
        }
    }
    broken
}

// ---- Running a sequence ----

/// What a run exercised: event types accepted and rules that refused something.
#[derive(Debug, Default)]
struct Tally {
    accepted: BTreeSet<&'static str>,
    refused: BTreeSet<&'static str>,
}

/// Runs `steps`, asserting after each one that `decide` obeyed the oracle and that the
/// states agree with their histories.
fn simulate(steps: &[Step]) -> Result<Tally, TestCaseError> {
    let mut aggs = vec![Aggregate::new(); COOPS.len()];
    let mut models = vec![Model::default(); COOPS.len()];
    let mut summary = Summary::default();
    let mut position = 0;
    let mut tally = Tally::default();
    for (i, step) in steps.iter().enumerate() {
        let (agg, model) = (&mut aggs[step.coop], &mut models[step.coop]);
        let (cmd, org) = command(step, i, agg);
        let ctx = context(step, i, org);
        let broken = broken_rules(model, &cmd, &ctx);
        match decide(agg, cmd.clone(), &ctx) {
            Err(rejection) => {
                prop_assert!(
                    broken.contains(&rejection.rule()),
                    "step {i}: {cmd:?} refused by {rejection}, but the oracle sees only {broken:?}"
                );
                tally.refused.insert(rejection.rule().name());
            }
            Ok(envelope) => {
                prop_assert!(
                    broken.is_empty(),
                    "step {i}: {cmd:?} accepted, but it breaks {broken:?}"
                );
                check_accepted(&envelope, &cmd, &ctx, agg, model)?;
                tally.accepted.insert(envelope.event.type_name());
                position += 1;
                let before = agg.state().cloned();
                agg.apply(Recorded { position, envelope });
                summary.replace(before.as_ref(), agg.state());
                model.record(ctx.event_id.clone(), cmd);
                check_state(agg, model)?;
                prop_assert_eq!(agg.history().last().map(|r| r.position), Some(position));
            }
        }
    }
    let states: Vec<&CoopState> = aggs.iter().filter_map(Aggregate::state).collect();
    let mut fresh = Summary::default();
    for s in &states {
        fresh.add(s);
    }
    prop_assert_eq!(&summary, &fresh);
    for s in states {
        summary.remove(s);
    }
    prop_assert_eq!(summary, Summary::default());
    Ok(tally)
}

/// What an accepted command must satisfy, spelt out, and the envelope it must yield.
fn check_accepted(
    envelope: &Envelope,
    cmd: &Command,
    ctx: &Context,
    agg: &Aggregate,
    model: &Model,
) -> Result<(), TestCaseError> {
    let today = Date::from_unix_ms(ctx.recorded_at_ms);
    prop_assert!(envelope.occurred_on <= today, "accepted a date after today");
    if let Some(reg) = model.registration() {
        prop_assert!(
            !matches!(cmd, Command::Register(_)),
            "accepted a second registration"
        );
        prop_assert!(
            envelope.occurred_on >= reg.registered_on,
            "accepted a date before registration"
        );
    } else {
        prop_assert!(
            matches!(cmd, Command::Register(_)),
            "accepted an event for no cooperative"
        );
    }
    match cmd {
        Command::Halt(_) => prop_assert!(model.open_halt().is_none(), "halted while halted"),
        Command::Resume(r) => {
            let open = model.open_halt();
            prop_assert!(
                open.is_some_and(|h| h.effective_on <= r.effective_on),
                "bad resume"
            );
        }
        Command::GrantSupport(g) => {
            prop_assert_eq!(&g.partner, &ctx.actor.organisation);
            prop_assert!(g.amount_centimes.unwrap_or(0) >= 0);
        }
        Command::Retract(r) => {
            let target = model.facts.iter().find(|f| f.id == r.retracted_event_id);
            prop_assert!(target.is_some(), "retracted an event of no history");
            let target = target.expect("checked");
            prop_assert!(!target.retracted, "retracted twice");
            prop_assert!(!matches!(
                target.cmd,
                Command::Retract(_) | Command::Register(_)
            ));
            prop_assert_eq!(envelope.occurred_on, today);
        }
        _ => {}
    }
    prop_assert_eq!(&envelope.event, &event_of(cmd));
    prop_assert_eq!(&envelope.event_id, &ctx.event_id);
    prop_assert_eq!(&envelope.cooperative_id, &ctx.cooperative_id);
    prop_assert_eq!(envelope.version, model.version() + 1);
    prop_assert_eq!(envelope.prev_hash, agg.last_hash());
    prop_assert_eq!(envelope.hash, chain_hash(envelope));
    prop_assert_eq!(
        canonical_bytes(envelope),
        canonical_via_value_tree(envelope),
        "the direct canonical writer and the value tree disagree"
    );
    Ok(())
}

/// The canonical bytes the slow way: serde_json's value tree (its maps are sorted by key while
/// serde_json's `preserve_order` feature is off) without `hash`, written compactly.
fn canonical_via_value_tree(envelope: &Envelope) -> Vec<u8> {
    let mut value = serde_json::to_value(envelope).expect("an envelope is JSON");
    if let Some(map) = value.as_object_mut() {
        map.remove("hash");
    }
    serde_json::to_vec(&value).expect("a value is JSON")
}

/// The state agrees with its history and with the oracle's model.
fn check_state(agg: &Aggregate, model: &Model) -> Result<(), TestCaseError> {
    let history = agg.history();
    let folded = fold(history);
    prop_assert_eq!(
        agg.state(),
        folded.as_ref(),
        "incremental state differs from fold"
    );
    prop_assert_eq!(agg, &Aggregate::from_history(history.to_vec()));

    // Retractions: the facts are those of the history without the retracted events.
    let retracted: BTreeSet<&str> = history
        .iter()
        .filter_map(|r| match &r.envelope.event {
            Event::EventRetracted(e) => Some(e.retracted_event_id.as_str()),
            _ => None,
        })
        .collect();
    let kept: Vec<&Recorded> = history
        .iter()
        .filter(|r| !retracted.contains(r.envelope.event_id.as_str()))
        .filter(|r| !matches!(r.envelope.event, Event::EventRetracted(_)))
        .collect();
    let state = agg.state().expect("registered once something was accepted");
    let without = fold(kept.iter().copied()).expect("the registration is never retracted");
    prop_assert_eq!(state.facts(), without.facts());

    // The oracle's reading of the same history.
    prop_assert_eq!(state.version, model.version());
    prop_assert_eq!(state.version, history.len() as u64);
    prop_assert_eq!(
        Some(state.registered_on),
        model.registration().map(|r| r.registered_on)
    );
    let open = state
        .open_halt
        .as_ref()
        .map(|h| (h.since, h.workers_affected));
    let expected_open = model
        .open_halt()
        .map(|h| (h.effective_on, h.workers_affected));
    prop_assert_eq!(open, expected_open);
    prop_assert_eq!(state.workers_idled(), expected_open.map_or(0, |(_, w)| w));
    prop_assert_eq!(state.status, model.status());
    let halts = state
        .past_halts
        .iter()
        .chain(&state.open_halt)
        .map(|h| h.since)
        .collect::<Vec<_>>();
    prop_assert_eq!(
        halts,
        model.halt_dates(),
        "every live halt is kept, past or open"
    );
    prop_assert_eq!(&state.support_totals, &model.support_totals());
    let retracted_ids: BTreeSet<String> = state.retracted.iter().cloned().collect();
    prop_assert_eq!(retracted_ids, model.retracted_ids());
    prop_assert_eq!(
        Some((state.members, state.employees, state.headcount_as_of)),
        model.headcount()
    );
    prop_assert_eq!(
        Some(state.current_activity.clone()),
        model.current_activity()
    );
    Ok(())
}

fn id_char() -> impl Strategy<Value = char> {
    prop::sample::select(vec!['A', 'z', '0', '-', '_', '.', '*', '>', ' ', 'é'])
}

/// Text near empty or near [`SHORT_TEXT`], now and then with a control character.
fn short_or_long_text() -> impl Strategy<Value = Vec<char>> {
    prop_oneof![0usize..4, 196usize..206].prop_flat_map(|n| {
        let printable = prop::sample::select(vec!['a', 'é', ' ', 'ب', '-']);
        let control = prop::sample::select(vec!['\n', '\t', '\u{0}', '\u{7f}', '\u{9f}']);
        prop::collection::vec(prop_oneof![400 => printable, 1 => control], n)
    })
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise.
    #[test]
    fn decide_obeys_the_oracle_and_states_agree_with_histories(steps in steps()) {
        simulate(&steps)?;
    }

    #[test]
    fn cooperative_ids_are_1_to_64_token_safe_characters(
        raw in prop::collection::vec(id_char(), 0..70)
    ) {
        let raw: String = raw.into_iter().collect();
        let valid = (1..=64).contains(&raw.chars().count())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        match CoopId::parse(&raw) {
            Ok(id) => prop_assert!(valid && id.as_str() == raw, "accepted {raw:?}"),
            Err(e) => {
                prop_assert!(!valid, "refused {raw:?}: {e}");
                prop_assert_eq!(e.rule(), Rule::CooperativeIdFormat);
            }
        }
    }

    #[test]
    fn text_fields_are_bounded_printable_and_present(
        text in short_or_long_text()
    ) {
        let name: String = text.into_iter().collect();
        let mut broken = Vec::new();
        if name.trim().is_empty() {
            broken.push(Rule::RequiredField);
        }
        if name.chars().count() > SHORT_TEXT {
            broken.push(Rule::TextTooLong);
        }
        if name.chars().any(char::is_control) {
            broken.push(Rule::ControlCharacter);
        }
        let named = CooperativeRegistered { name: name.clone(), ..registration() };
        match unregistered().when(named).result {
            Ok(_) => prop_assert!(broken.is_empty(), "accepted {name:?}"),
            Err(e) => {
                prop_assert!(broken.contains(&e.rule()), "{e} but expected {broken:?}");
                prop_assert_eq!(e.field(), Some("name"));
            }
        }
    }

    #[test]
    fn dates_print_parse_and_map_to_unix_time(days in -25_567i32..376_000) {
        let d = date("1970-01-01").add_days(days);
        prop_assert_eq!(Date::parse(&d.to_string()), Some(d));
        prop_assert_eq!(Date::from_unix_ms(d.start_unix_ms()), d);
        prop_assert_eq!(Date::from_unix_ms(d.start_unix_ms() + 86_399_999), d);
        prop_assert!(d.add_days(1) > d);
        let (y, m, day) = d.ymd();
        prop_assert_eq!(Date::from_ymd(y, m, day), Some(d));
    }
}

/// The generator is not vacuous: over a fixed set of runs, every event type is accepted and
/// every rule the oracle models refuses something.
#[test]
fn the_generator_reaches_every_event_and_every_modelled_rule() {
    let mut runner = TestRunner::deterministic();
    let strategy = steps();
    let mut accepted = BTreeSet::new();
    let mut refused = BTreeSet::new();
    for _ in 0..300 {
        let steps = strategy.new_tree(&mut runner).expect("generate").current();
        let tally = simulate(&steps).unwrap_or_else(|e| panic!("{e}\n{steps:#?}"));
        accepted.extend(tally.accepted);
        refused.extend(tally.refused);
    }
    assert_eq!(accepted.len(), 9, "accepted only {accepted:?}");
    let modelled = [
        Rule::ExpectedVersionMismatch,
        Rule::RequiredField,
        Rule::CapacityRange,
        Rule::ValidityRange,
        Rule::AmountNegative,
        Rule::DateInFuture,
        Rule::AlreadyRegistered,
        Rule::CooperativeNotRegistered,
        Rule::DateBeforeRegistration,
        Rule::AlreadyHalted,
        Rule::NotHalted,
        Rule::ResumeBeforeHalt,
        Rule::SupportNotInOwnName,
        Rule::RetractUnknownEvent,
        Rule::RetractAlreadyRetracted,
        Rule::RetractRetraction,
        Rule::RetractRegistration,
    ];
    for rule in modelled {
        assert!(
            refused.contains(rule.name()),
            "{rule} never refused anything: {refused:?}"
        );
    }
}

//! One test per `Rule`: the exact rule (and field) of the rejection, and the accepted
//! counterpart at the boundary.

use relance_domain::limits::{
    LONG_TEXT, MAX_AMOUNT_CENTIMES, MAX_CAPACITY, MAX_PEOPLE, REQUEST_ID, SHORT_TEXT,
};
use relance_domain::{
    ActivityHalted, ActivityResumed, AuthorizationObtained, Command, CoopId, CooperativeRegistered,
    Date, Event, HeadcountReported, Rejection, RejectionKind, ReorientationDeclared, Rule,
    SalesChannelOpened, Sector, SupportGranted, MAX_COOP_ID_LEN,
};

use crate::*;

/// The class of every rule, written out once more: a new variant fails to compile until it
/// is classified here, and a changed class fails `rule_names_are_unique_snake_case_and_classified`.
fn exhaustive(rule: Rule) -> RejectionKind {
    use RejectionKind::*;
    use Rule::*;
    match rule {
        CooperativeIdFormat | RequiredField | TextTooLong | ControlCharacter | InvalidDate
        | InvalidEnum | AmountNegative | AmountTooLarge | NumberTooLarge | CapacityRange
        | ValidityRange | MalformedRequest | PageTokenInvalid | RangeReversed => InvalidArgument,
        CooperativeNotRegistered | RetractUnknownEvent | PositionPastTree => NotFound,
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
        | RebuildRunning => FailedPrecondition,
        SupportNotInOwnName | RoleNotAllowed => PermissionDenied,
        ExpectedVersionMismatch | Contended => Conflict,
        RequestIdReused => AlreadyExists,
        MissingToken | MalformedToken | UnknownToken => Unauthenticated,
        RateLimited | RequestTooLarge | BatchTooLarge | WatchClientTooSlow => ResourceExhausted,
        PositionNotReached | LogUnavailable | NodeStopping => Unavailable,
        CorruptEvent => DataLoss,
        Rule::Internal => RejectionKind::Internal,
    }
}

/// A registration with one text field set to `value`.
fn registration_with(field: &str, value: &str) -> CooperativeRegistered {
    let mut r = registration();
    let slot = match field {
        "name" => &mut r.name,
        "registry_court" => &mut r.registry_court,
        "registry_number" => &mut r.registry_number,
        "activity" => &mut r.activity,
        "commune" => &mut r.commune,
        other => panic!("no text field {other}"),
    };
    *slot = value.to_owned();
    r
}

const REGISTRATION_TEXT: [&str; 5] = [
    "name",
    "registry_court",
    "registry_number",
    "activity",
    "commune",
];

#[test]
fn rule_names_are_unique_snake_case_and_classified() {
    let mut names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
    for (rule, name) in Rule::ALL.iter().zip(&names) {
        assert_eq!(rule.to_string(), *name);
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{name}"
        );
        assert_eq!(rule.kind(), exhaustive(*rule), "{name}");
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Rule::ALL.len());
    assert_eq!(Rule::SupportNotInOwnName.name(), "support_not_in_own_name");
    assert_eq!(
        Rule::ExpectedVersionMismatch.name(),
        "expected_version_mismatch"
    );
}

#[test]
fn rejection_renders_rule_field_and_detail() {
    let r = Rejection::invalid("members", Rule::NumberTooLarge, "is 11000000");
    assert_eq!(
        r.to_string(),
        "rule number_too_large: field `members` is 11000000"
    );
    let r = Rejection::state(Rule::NotHalted, "cooperative REH-0001 is not halted");
    assert_eq!(
        r.to_string(),
        "rule not_halted: cooperative REH-0001 is not halted"
    );
    assert_eq!(r.field(), None);
    assert_eq!(r.kind(), RejectionKind::FailedPrecondition);
}

// ---- Input shape ----

#[test]
fn cooperative_id_format() {
    let too_long = "R".repeat(MAX_COOP_ID_LEN + 1);
    for bad in [
        "",
        "REH.0001",
        "REH 0001",
        "REH-*",
        "REH->",
        "Rhamna-é",
        "a/b",
        &too_long,
    ] {
        let err = CoopId::parse(bad).expect_err(bad);
        assert_eq!(err.rule(), Rule::CooperativeIdFormat, "{bad:?}");
        assert_eq!(err.field(), Some("cooperative_id"), "{bad:?}");
        assert_eq!(err.kind(), RejectionKind::InvalidArgument);
    }
    let longest = "R".repeat(MAX_COOP_ID_LEN);
    for good in [
        "REH-0001",
        "reh_0001",
        "01J9Z3K6Q5W8X2Y4Z6A8B0C2D4",
        &longest,
    ] {
        assert_eq!(CoopId::parse(good).expect(good).as_str(), good);
    }
}

#[test]
fn cooperative_id_format_holds_when_deserialising() {
    assert!(serde_json::from_str::<CoopId>("\"REH.0001\"").is_err());
    assert!(serde_json::from_str::<CoopId>("\"\"").is_err());
    let id: CoopId = serde_json::from_str("\"REH-0001\"").expect("valid id");
    assert_eq!(id, coop_id(COOP));
}

#[test]
fn required_field() {
    for field in REGISTRATION_TEXT {
        for blank in ["", "   "] {
            unregistered()
                .when(registration_with(field, blank))
                .then_rejected_on(Rule::RequiredField, field);
        }
    }
    registered()
        .when(ActivityHalted {
            reason: " ".to_owned(),
            ..halt()
        })
        .then_rejected_on(Rule::RequiredField, "reason");
    registered()
        .when_by(
            SupportGranted {
                partner: String::new(),
                ..support()
            },
            "OCP",
        )
        .then_rejected_on(Rule::RequiredField, "partner");
    registered()
        .when(retraction(""))
        .then_rejected_on(Rule::RequiredField, "retracted_event_id");
    registered()
        .when_with(halt(), |ctx| ctx.request_id.clear())
        .then_rejected_on(Rule::RequiredField, "request_id");
    registered()
        .when_with(halt(), |ctx| ctx.actor.principal.clear())
        .then_rejected_on(Rule::RequiredField, "actor.principal");
    registered()
        .when_with(halt(), |ctx| ctx.actor.organisation = " ".to_owned())
        .then_rejected_on(Rule::RequiredField, "actor.organisation");
}

#[test]
fn optional_fields_may_be_empty() {
    registered()
        .when(ActivityHalted {
            legal_basis: None,
            ..halt()
        })
        .then_accepted();
    registered()
        .and(halt())
        .when(ActivityResumed {
            authority: String::new(),
            decision_ref: String::new(),
            ..resume()
        })
        .then_accepted();
    registered()
        .when(ReorientationDeclared {
            product: String::new(),
            notes: String::new(),
            ..reorientation()
        })
        .then_accepted();
    registered()
        .when(SupportGranted {
            amount_centimes: None,
            description: String::new(),
            ..support()
        })
        .then_accepted();
    registered()
        .when_with(halt(), |ctx| ctx.correlation_id.clear())
        .then_accepted();
}

#[test]
fn text_too_long() {
    let long = "é".repeat(SHORT_TEXT + 1);
    for field in REGISTRATION_TEXT {
        unregistered()
            .when(registration_with(field, &long))
            .then_rejected_on(Rule::TextTooLong, field);
    }
    registered()
        .when(ActivityHalted {
            reason: "x".repeat(LONG_TEXT + 1),
            ..halt()
        })
        .then_rejected_on(Rule::TextTooLong, "reason");
    registered()
        .when(SupportGranted {
            description: "x".repeat(LONG_TEXT + 1),
            ..support()
        })
        .then_rejected_on(Rule::TextTooLong, "description");
    registered()
        .when_with(halt(), |ctx| ctx.request_id = "r".repeat(REQUEST_ID + 1))
        .then_rejected_on(Rule::TextTooLong, "request_id");
}

#[test]
fn text_at_its_bound_is_accepted_and_counted_in_characters() {
    // 200 two-byte characters: 400 bytes, but within the bound of 200 characters.
    let name = "é".repeat(SHORT_TEXT);
    unregistered()
        .when(registration_with("name", &name))
        .then_accepted();
    registered()
        .when(ActivityHalted {
            reason: "x".repeat(LONG_TEXT),
            ..halt()
        })
        .then_accepted();
    registered()
        .when_with(halt(), |ctx| ctx.request_id = "r".repeat(REQUEST_ID))
        .then_accepted();
}

#[test]
fn control_character() {
    for c in ['\n', '\r', '\t', '\u{0}', '\u{1b}', '\u{7f}', '\u{85}'] {
        let name = format!("Ibdaat{c}Rehamna");
        unregistered()
            .when(registration_with("name", &name))
            .then_rejected_on(Rule::ControlCharacter, "name");
    }
    registered()
        .when(SupportGranted {
            description: "achat\r\nde masques".to_owned(),
            ..support()
        })
        .then_rejected_on(Rule::ControlCharacter, "description");
    registered()
        .when(ActivityHalted {
            reason: "arrêt\u{0}".to_owned(),
            ..halt()
        })
        .then_rejected_on(Rule::ControlCharacter, "reason");
    registered()
        .when_with(halt(), |ctx| ctx.correlation_id = "c\n1".to_owned())
        .then_rejected_on(Rule::ControlCharacter, "correlation_id");
}

#[test]
fn printable_unicode_is_not_a_control_character() {
    unregistered()
        .when(registration_with(
            "name",
            "تعاونية إبداع الرحامنة — Ibdaat « Rehamna »",
        ))
        .then_accepted();
}

/// The domain never parses wire strings, so it never emits `invalid_date` itself: adapters
/// do, when `Date::parse` (or deserialisation) refuses a string.
#[test]
fn invalid_date() {
    assert_eq!(Rule::InvalidDate.name(), "invalid_date");
    assert_eq!(Rule::InvalidDate.kind(), RejectionKind::InvalidArgument);
    for raw in [
        "2020-02-30",
        "2019-02-29",
        "2020-13-01",
        "2020-04-31",
        "20-03-2020",
        "",
    ] {
        assert_eq!(Date::parse(raw), None, "{raw}");
        assert!(
            serde_json::from_str::<Date>(&format!("{raw:?}")).is_err(),
            "{raw}"
        );
    }
    assert_eq!(Date::parse("2020-02-29"), Date::from_ymd(2020, 2, 29));
    let err = Rejection::invalid(
        "effective_on",
        Rule::InvalidDate,
        "\"2020-02-30\" is not a date",
    );
    assert_eq!(err.rule(), Rule::InvalidDate);
    assert_eq!(err.field(), Some("effective_on"));
}

/// Like `invalid_date`, `invalid_enum` is emitted by adapters when a label does not parse.
#[test]
fn invalid_enum() {
    assert_eq!(Rule::InvalidEnum.name(), "invalid_enum");
    assert_eq!(Rule::InvalidEnum.kind(), RejectionKind::InvalidArgument);
    assert_eq!(Sector::parse("mines"), None);
    assert_eq!(Sector::parse("Agriculture"), None);
    for sector in Sector::ALL {
        assert_eq!(Sector::parse(sector.as_str()), Some(*sector));
    }
    assert!(serde_json::from_str::<Sector>("\"mines\"").is_err());
    let err = Rejection::invalid("sector", Rule::InvalidEnum, "\"mines\" is not a sector");
    assert_eq!(
        (err.rule(), err.field()),
        (Rule::InvalidEnum, Some("sector"))
    );
}

#[test]
fn amount_negative() {
    registered()
        .when(SupportGranted {
            amount_centimes: Some(-1),
            ..support()
        })
        .then_rejected_on(Rule::AmountNegative, "amount_centimes");
    registered()
        .when(SupportGranted {
            amount_centimes: Some(i64::MIN),
            ..support()
        })
        .then_rejected_on(Rule::AmountNegative, "amount_centimes");
    for amount in [Some(0), None] {
        registered()
            .when(SupportGranted {
                amount_centimes: amount,
                ..support()
            })
            .then_accepted();
    }
}

#[test]
fn amount_too_large() {
    for amount in [MAX_AMOUNT_CENTIMES + 1, i64::MAX] {
        registered()
            .when(SupportGranted {
                amount_centimes: Some(amount),
                ..support()
            })
            .then_rejected_on(Rule::AmountTooLarge, "amount_centimes");
    }
    registered()
        .when(SupportGranted {
            amount_centimes: Some(MAX_AMOUNT_CENTIMES),
            ..support()
        })
        .then_accepted();
}

#[test]
fn number_too_large() {
    let over = MAX_PEOPLE + 1;
    unregistered()
        .when(CooperativeRegistered {
            members: over,
            ..registration()
        })
        .then_rejected_on(Rule::NumberTooLarge, "members");
    unregistered()
        .when(CooperativeRegistered {
            employees: over,
            ..registration()
        })
        .then_rejected_on(Rule::NumberTooLarge, "employees");
    registered()
        .when(ActivityHalted {
            workers_affected: over,
            ..halt()
        })
        .then_rejected_on(Rule::NumberTooLarge, "workers_affected");
    given([registration().into_command(), halt().into_command()])
        .when(ActivityResumed {
            workers_back: u32::MAX,
            ..resume()
        })
        .then_rejected_on(Rule::NumberTooLarge, "workers_back");
    registered()
        .when(HeadcountReported {
            members: over,
            ..headcount()
        })
        .then_rejected_on(Rule::NumberTooLarge, "members");
    registered()
        .when(HeadcountReported {
            employees: over,
            ..headcount()
        })
        .then_rejected_on(Rule::NumberTooLarge, "employees");
    registered()
        .when(ReorientationDeclared {
            capacity_min_per_day: 0,
            capacity_max_per_day: MAX_CAPACITY + 1,
            ..reorientation()
        })
        .then_rejected_on(Rule::NumberTooLarge, "capacity_max_per_day");
    registered()
        .when(ReorientationDeclared {
            capacity_min_per_day: MAX_CAPACITY + 1,
            capacity_max_per_day: MAX_CAPACITY + 1,
            ..reorientation()
        })
        .then_rejected_on(Rule::NumberTooLarge, "capacity_min_per_day");
}

#[test]
fn numbers_at_their_bound_are_accepted() {
    let max = MAX_PEOPLE;
    unregistered()
        .when(CooperativeRegistered {
            members: max,
            employees: max,
            ..registration()
        })
        .then_accepted();
    registered()
        .when(ActivityHalted {
            workers_affected: max,
            ..halt()
        })
        .then_accepted();
    registered()
        .when(HeadcountReported {
            members: max,
            employees: max,
            ..headcount()
        })
        .then_accepted();
    registered()
        .when(ReorientationDeclared {
            capacity_min_per_day: MAX_CAPACITY,
            capacity_max_per_day: MAX_CAPACITY,
            ..reorientation()
        })
        .then_accepted();
}

#[test]
fn capacity_range() {
    registered()
        .when(ReorientationDeclared {
            capacity_min_per_day: 3_000,
            capacity_max_per_day: 2_000,
            ..reorientation()
        })
        .then_rejected_on(Rule::CapacityRange, "capacity_min_per_day");
    registered()
        .when(ReorientationDeclared {
            capacity_min_per_day: 2_001,
            capacity_max_per_day: 2_000,
            ..reorientation()
        })
        .then_rejected_on(Rule::CapacityRange, "capacity_min_per_day");
    registered()
        .when(ReorientationDeclared {
            capacity_min_per_day: 2_500,
            capacity_max_per_day: 2_500,
            ..reorientation()
        })
        .then_accepted();
}

#[test]
fn validity_range() {
    registered()
        .when(AuthorizationObtained {
            valid_until: Some(date("2020-04-09")),
            ..authorization()
        })
        .then_rejected_on(Rule::ValidityRange, "valid_until");
    for valid_until in [Some(date("2020-04-10")), Some(date("2020-05-10")), None] {
        registered()
            .when(AuthorizationObtained {
                valid_until,
                ..authorization()
            })
            .then_accepted();
    }
    // The end of validity may lie in the future: only the date obtained may not.
    registered()
        .when(AuthorizationObtained {
            valid_until: Some(date("2020-07-10")),
            ..authorization()
        })
        .then_accepted();
}

// ---- State ----

/// One command of each kind but the registration, dated after the registration.
fn every_non_registration() -> Vec<Command> {
    vec![
        halt().into_command(),
        reorientation().into_command(),
        authorization().into_command(),
        support().into_command(),
        channel().into_command(),
        resume().into_command(),
        headcount().into_command(),
        retraction("evt-1").into_command(),
    ]
}

#[test]
fn cooperative_not_registered() {
    for cmd in every_non_registration() {
        let err = unregistered()
            .when(cmd)
            .then_rejected_state(Rule::CooperativeNotRegistered);
        assert_eq!(err.kind(), RejectionKind::NotFound);
    }
}

#[test]
fn already_registered() {
    registered()
        .when(registration())
        .then_rejected_state(Rule::AlreadyRegistered);
    registered()
        .when(CooperativeRegistered {
            name: "Annour".to_owned(),
            ..registration()
        })
        .then_rejected_state(Rule::AlreadyRegistered);
    Scenario::for_coop("REH-0002")
        .when(registration())
        .then_event(Event::CooperativeRegistered(registration()));
}

#[test]
fn already_halted() {
    let halted = registered().and(halt());
    halted
        .when(ActivityHalted {
            effective_on: date("2020-04-01"),
            ..halt()
        })
        .then_rejected_state(Rule::AlreadyHalted);
    halted.when(halt()).then_rejected_state(Rule::AlreadyHalted);
    // A halt after the resumption is a new halt.
    halted
        .clone()
        .and(resume())
        .when(ActivityHalted {
            effective_on: date("2020-05-25"),
            ..halt()
        })
        .then_accepted();
}

#[test]
fn not_halted() {
    registered()
        .when(resume())
        .then_rejected_state(Rule::NotHalted);
    registered()
        .and(halt())
        .and(resume())
        .when(ActivityResumed {
            effective_on: date("2020-05-20"),
            ..resume()
        })
        .then_rejected_state(Rule::NotHalted);
    registered()
        .and(halt())
        .when(resume())
        .then_event(Event::ActivityResumed(resume()));
}

#[test]
fn resume_before_halt() {
    let halted = registered().and(halt());
    halted
        .when(ActivityResumed {
            effective_on: date("2020-03-19"),
            ..resume()
        })
        .then_rejected_on(Rule::ResumeBeforeHalt, "effective_on");
    halted
        .when(ActivityResumed {
            effective_on: date("2020-03-20"),
            ..resume()
        })
        .then_accepted();
}

/// Each dated command, with its date field set to `on`, and the field's name.
fn dated_commands(on: Date) -> Vec<(Command, &'static str)> {
    vec![
        (
            ActivityHalted {
                effective_on: on,
                ..halt()
            }
            .into_command(),
            "effective_on",
        ),
        (
            ReorientationDeclared {
                effective_on: on,
                ..reorientation()
            }
            .into_command(),
            "effective_on",
        ),
        (
            AuthorizationObtained {
                obtained_on: on,
                valid_until: Some(on),
                ..authorization()
            }
            .into_command(),
            "obtained_on",
        ),
        (
            SupportGranted {
                granted_on: on,
                ..support()
            }
            .into_command(),
            "granted_on",
        ),
        (
            SalesChannelOpened {
                opened_on: on,
                ..channel()
            }
            .into_command(),
            "opened_on",
        ),
        (
            HeadcountReported {
                as_of: on,
                ..headcount()
            }
            .into_command(),
            "as_of",
        ),
    ]
}

#[test]
fn date_before_registration() {
    let day_before = date("2019-11-03");
    for (cmd, field) in dated_commands(day_before) {
        registered()
            .when(cmd)
            .then_rejected_on(Rule::DateBeforeRegistration, field);
    }
    // Checked before the halt it would end.
    given([registration().into_command(), halt().into_command()])
        .when(ActivityResumed {
            effective_on: day_before,
            ..resume()
        })
        .then_rejected_on(Rule::DateBeforeRegistration, "effective_on");
}

#[test]
fn dates_on_the_registration_day_are_accepted() {
    let registered_on = registration().registered_on;
    for (cmd, _) in dated_commands(registered_on) {
        registered().when(cmd).then_accepted();
    }
    registered()
        .and(ActivityHalted {
            effective_on: registered_on,
            ..halt()
        })
        .when(ActivityResumed {
            effective_on: registered_on,
            ..resume()
        })
        .then_accepted();
}

#[test]
fn today_is_the_utc_day_of_recorded_at() {
    assert_eq!(Date::from_unix_ms(NOW_MS), date("2020-06-01"));
    let ctx = registered().context_for(&halt().into_command());
    assert_eq!(Date::from_unix_ms(ctx.recorded_at_ms), date("2020-06-01"));
}

#[test]
fn date_in_future() {
    let tomorrow = date("2020-06-02");
    unregistered()
        .when(CooperativeRegistered {
            registered_on: tomorrow,
            ..registration()
        })
        .then_rejected_on(Rule::DateInFuture, "registered_on");
    for (cmd, field) in dated_commands(tomorrow) {
        registered()
            .when(cmd)
            .then_rejected_on(Rule::DateInFuture, field);
    }
    given([registration().into_command(), halt().into_command()])
        .when(ActivityResumed {
            effective_on: tomorrow,
            ..resume()
        })
        .then_rejected_on(Rule::DateInFuture, "effective_on");
}

#[test]
fn dates_up_to_today_are_accepted() {
    let today = date("2020-06-01");
    unregistered()
        .when(CooperativeRegistered {
            registered_on: today,
            ..registration()
        })
        .then_accepted();
    for (cmd, _) in dated_commands(today) {
        registered().when(cmd).then_accepted();
    }
}

#[test]
fn today_moves_with_the_recording_time() {
    let tomorrow = date("2020-06-02");
    let halt_tomorrow = ActivityHalted {
        effective_on: tomorrow,
        ..halt()
    };
    let midnight = tomorrow.start_unix_ms();
    registered()
        .when_with(halt_tomorrow.clone(), |ctx| ctx.recorded_at_ms = midnight)
        .then_accepted();
    registered()
        .when_with(halt_tomorrow, |ctx| ctx.recorded_at_ms = midnight - 1)
        .then_rejected_on(Rule::DateInFuture, "effective_on");
}

#[test]
fn support_not_in_own_name() {
    for org in ["INDH", "prefecture", "ocp", "OCP "] {
        let err = registered()
            .when_by(support(), org)
            .then_rejected_on(Rule::SupportNotInOwnName, "partner");
        assert_eq!(err.kind(), RejectionKind::PermissionDenied);
    }
    registered()
        .when_by(support(), "OCP")
        .then_event(Event::SupportGranted(support()));
    let indh = SupportGranted {
        partner: "INDH".to_owned(),
        ..support()
    };
    registered().when_by(indh, "INDH").then_accepted();
}

#[test]
fn retract_unknown_event() {
    let halted = registered().and(halt());
    for unknown in ["evt-3", "evt-99", "EVT-2", "nope"] {
        let err = halted
            .when(retraction(unknown))
            .then_rejected_on(Rule::RetractUnknownEvent, "retracted_event_id");
        assert_eq!(err.kind(), RejectionKind::NotFound);
    }
    // An event of another cooperative is unknown here.
    let other = Scenario::for_coop("REH-0002")
        .and(registration())
        .and(halt());
    let elsewhere = other.event_id(2);
    other.when(retraction(&elsewhere)).then_accepted();
    halted
        .when(retraction(&elsewhere))
        .then_rejected_on(Rule::RetractUnknownEvent, "retracted_event_id");
    halted
        .when(retraction("evt-2"))
        .then_event(Event::EventRetracted(retraction("evt-2")));
}

#[test]
fn retract_already_retracted() {
    registered()
        .and(halt())
        .and(retraction("evt-2"))
        .when(retraction("evt-2"))
        .then_rejected_on(Rule::RetractAlreadyRetracted, "retracted_event_id");
}

#[test]
fn retract_retraction() {
    registered()
        .and(halt())
        .and(retraction("evt-2"))
        .when(retraction("evt-3"))
        .then_rejected_on(Rule::RetractRetraction, "retracted_event_id");
}

#[test]
fn retract_registration() {
    registered()
        .when(retraction("evt-1"))
        .then_rejected_on(Rule::RetractRegistration, "retracted_event_id");
    registered()
        .and(halt())
        .when(retraction("evt-1"))
        .then_rejected_on(Rule::RetractRegistration, "retracted_event_id");
}

#[test]
fn every_other_kind_of_event_can_be_retracted() {
    let history = given([
        registration().into_command(),
        halt().into_command(),
        reorientation().into_command(),
        authorization().into_command(),
        support().into_command(),
        channel().into_command(),
        resume().into_command(),
        headcount().into_command(),
    ]);
    for version in 2..=8 {
        history
            .when(retraction(&history.event_id(version)))
            .then_accepted();
    }
}

#[test]
fn expected_version_mismatch() {
    let halted = registered().and(halt());
    for stale in [0, 1, 3] {
        let err = halted
            .when_with(channel(), |ctx| ctx.expected_version = Some(stale))
            .then_rejected_on(Rule::ExpectedVersionMismatch, "expected_version");
        assert_eq!(err.kind(), RejectionKind::Conflict);
    }
    for expected in [Some(2), None] {
        halted
            .when_with(channel(), |ctx| ctx.expected_version = expected)
            .then_accepted();
    }
    // A new cooperative is at version 0.
    unregistered()
        .when_with(registration(), |ctx| ctx.expected_version = Some(0))
        .then_accepted();
    unregistered()
        .when_with(registration(), |ctx| ctx.expected_version = Some(1))
        .then_rejected_on(Rule::ExpectedVersionMismatch, "expected_version");
}

//! Request ids: only the same caller repeating the same command is a retry; anything else under
//! a used request id is refused with `request_id_reused`.

use relance_domain::{Command, HeadcountReported, RejectionKind, Rule, SupportGranted};

use crate::*;

fn ocp_grant() -> Command {
    Command::GrantSupport(support())
}

/// Registered, then OCP's grant recorded as version 2 under request id `req-2`.
fn granted() -> Scenario {
    registered().and(ocp_grant())
}

#[test]
fn the_same_caller_repeating_the_same_command_gets_the_first_event() {
    let s = granted();
    let first = s
        .aggregate()
        .retry_of("req-2", &ocp_grant(), &actor("OCP"))
        .expect("a retry")
        .expect("the first event");
    assert_eq!(first.envelope.version, 2);
}

#[test]
fn an_unused_request_id_is_no_retry() {
    let s = granted();
    let found = s
        .aggregate()
        .retry_of("req-9", &ocp_grant(), &actor("OCP"))
        .expect("not refused");
    assert!(found.is_none());
}

#[test]
fn another_caller_reusing_a_request_id_is_refused_without_seeing_the_first_event() {
    let s = granted();
    let indh = Command::GrantSupport(SupportGranted {
        partner: "INDH".to_owned(),
        ..support()
    });
    let err = s
        .aggregate()
        .retry_of("req-2", &indh, &actor("INDH"))
        .expect_err("another caller");
    assert_eq!(err.rule(), Rule::RequestIdReused);
    assert_eq!(err.field(), Some("request_id"));
    assert_eq!(err.kind(), RejectionKind::AlreadyExists);
    assert!(err.to_string().contains("another caller"), "{err}");
    assert!(
        !err.to_string().contains("OCP"),
        "names the other caller: {err}"
    );
}

#[test]
fn another_command_under_a_used_request_id_is_refused() {
    let s = granted();
    let headcount = Command::ReportHeadcount(HeadcountReported { ..headcount() });
    let err = s
        .aggregate()
        .retry_of("req-2", &headcount, &actor("OCP"))
        .expect_err("another command");
    assert_eq!(err.rule(), Rule::RequestIdReused);
    assert!(err.to_string().contains("another command"), "{err}");
}

#[test]
fn the_same_command_with_other_content_is_refused() {
    let s = granted();
    let bigger = Command::GrantSupport(SupportGranted {
        amount_centimes: Some(9_000_000),
        ..support()
    });
    let err = s
        .aggregate()
        .retry_of("req-2", &bigger, &actor("OCP"))
        .expect_err("other content");
    assert_eq!(err.rule(), Rule::RequestIdReused);
    assert!(err.to_string().contains("other content"), "{err}");
}

//! Every refusal, one test per gRPC code: the code, the rule named in the message and in
//! `relance-rule`, the field in `relance-field`, and — after each group — that nothing was
//! written (views and histories unchanged, the next accepted command at the very next
//! position).

use relance_proto::v1;
use relance_tests::requests::{self, prefecture as req, Overrides as _};
use relance_tests::RelanceProcess;
use tonic::Code::{Aborted, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied};

use super::{assert_refused, get, history, ok, serve, summary, Commands, Queries};

/// Registered, then halted.
const A: &str = "REJ-A";
/// Registered, then a sales channel opened and retracted: at version 3.
const B: &str = "REJ-B";

/// A node holding A and B, and what its queries answered before any refused command.
struct Fixture {
    c: Commands,
    q: Queries,
    b_reg: v1::CommandReply,
    b_channel: v1::CommandReply,
    b_retract: v1::CommandReply,
    /// The last position written by the fixture.
    before: u64,
    summary_before: v1::ProvinceSummary,
    views_before: (v1::CooperativeView, v1::CooperativeView),
    histories_before: (Vec<v1::HistoryEntry>, Vec<v1::HistoryEntry>),
    _node: RelanceProcess,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let node = serve(dir.path()).await;
        let mut c = node.commands().await;
        let mut q = node.queries().await;
        ok(
            c.register(req(requests::register(A, "a-reg"))).await,
            "register A",
        );
        ok(
            c.halt(req(
                requests::halt(A, "a-halt").with(|d| d.workers_affected = 10)
            ))
            .await,
            "halt A",
        );
        let b_reg = ok(
            c.register(req(requests::register(B, "b-reg"))).await,
            "register B",
        );
        let b_channel = ok(
            c.open_sales_channel(req(requests::sales_channel(B, "b-channel").with(|d| {
                d.channel = v1::ChannelKind::Market as i32;
                d.standing = v1::Standing::Trial as i32;
                d.opened_on = "2020-05-01".into();
            })))
            .await,
            "channel on B",
        );
        let b_retract = ok(
            c.retract(req(requests::retract(B, "b-retract", &b_channel.event_id)))
                .await,
            "retract B's channel",
        );
        assert_eq!(b_retract.version, 3);
        let before = b_retract.position;
        let summary_before = summary(&mut q, before).await;
        let views_before = (get(&mut q, A, before).await, get(&mut q, B, before).await);
        let histories_before = (
            history(&mut q, A, before).await,
            history(&mut q, B, before).await,
        );
        Self {
            c,
            q,
            b_reg,
            b_channel,
            b_retract,
            before,
            summary_before,
            views_before,
            histories_before,
            _node: node,
            _dir: dir,
        }
    }

    /// Nothing was written: views and histories unchanged, and the next accepted command
    /// takes the very next stream position.
    async fn assert_nothing_written(mut self) {
        let (q, before) = (&mut self.q, self.before);
        assert_eq!(summary(q, before).await, self.summary_before);
        assert_eq!(
            (get(q, A, before).await, get(q, B, before).await),
            self.views_before
        );
        assert_eq!(
            (history(q, A, before).await, history(q, B, before).await),
            self.histories_before
        );
        let current = good_channel(B, "current").expected_version(3);
        let next = ok(
            self.c.open_sales_channel(req(current)).await,
            "channel at version 3",
        );
        assert_eq!(
            next.position,
            before + 1,
            "a refused command moved the stream"
        );
        assert_eq!(next.version, 4);
        assert_eq!(history(q, B, next.position).await.len(), 4);
    }
}

/// A sales channel valid on any registered cooperative.
fn good_channel(coop: &str, request_id: &str) -> v1::OpenSalesChannelRequest {
    requests::sales_channel(coop, request_id).with(|d| d.opened_on = "2020-05-02".into())
}

#[tokio::test]
async fn malformed_input_is_invalid_argument_naming_the_field_and_writes_nothing() {
    let mut f = Fixture::start().await;
    let c = &mut f.c;
    for bad_id in [
        "a.>".to_owned(),
        "a b".to_owned(),
        "x".repeat(65),
        String::new(),
    ] {
        assert_refused(
            c.open_sales_channel(req(good_channel(&bad_id, "bad-id")))
                .await,
            InvalidArgument,
            "cooperative_id_format",
            Some("cooperative_id"),
        );
    }
    let bad_date = good_channel(B, "bad-date").with(|d| d.opened_on = "2020-02-30".into());
    assert_refused(
        c.open_sales_channel(req(bad_date)).await,
        InvalidArgument,
        "invalid_date",
        Some("opened_on"),
    );
    let bad_sector = requests::register("REJ-C", "bad-sector").with(|d| d.sector = 99);
    assert_refused(
        c.register(req(bad_sector)).await,
        InvalidArgument,
        "invalid_enum",
        Some("sector"),
    );
    let bad_channel =
        good_channel(B, "bad-channel").with(|d| d.channel = v1::ChannelKind::Unspecified as i32);
    assert_refused(
        c.open_sales_channel(req(bad_channel)).await,
        InvalidArgument,
        "invalid_enum",
        Some("channel"),
    );
    let negative =
        requests::support(B, "negative", "prefecture").with(|d| d.amount_centimes = Some(-1));
    assert_refused(
        c.grant_support(req(negative)).await,
        InvalidArgument,
        "amount_negative",
        Some("amount_centimes"),
    );
    let long_name = requests::register("REJ-C", "long-name").with(|d| d.name = "x".repeat(201));
    assert_refused(
        c.register(req(long_name)).await,
        InvalidArgument,
        "text_too_long",
        Some("name"),
    );
    let halt = |request_id: &str| {
        requests::halt(B, request_id).with(|d| {
            d.effective_on = "2020-03-20".into();
            d.workers_affected = 1;
        })
    };
    let bell = halt("bell").with(|d| d.reason = "arrêt\u{7} des chantiers".into());
    assert_refused(
        c.halt(req(bell)).await,
        InvalidArgument,
        "control_character",
        Some("reason"),
    );
    assert_refused(
        c.halt(req(halt("no-meta").without_meta())).await,
        InvalidArgument,
        "required_field",
        Some("meta"),
    );
    assert_refused(
        c.halt(req(halt("no-data").without_data())).await,
        InvalidArgument,
        "required_field",
        Some("data"),
    );
    assert_refused(
        c.open_sales_channel(req(good_channel(B, ""))).await,
        InvalidArgument,
        "required_field",
        Some("request_id"),
    );
    let capacity = requests::reorient(B, "capacity").with(|d| {
        d.capacity_min_per_day = 3000;
        d.capacity_max_per_day = 2000;
    });
    assert_refused(
        c.reorient(req(capacity)).await,
        InvalidArgument,
        "capacity_range",
        Some("capacity_min_per_day"),
    );
    // The query side checks the cooperative id too.
    let bad_get =
        f.q.get(req(v1::GetRequest {
            cooperative_id: "a.>".into(),
            min_position: 0,
        }))
        .await;
    assert_refused(
        bad_get,
        InvalidArgument,
        "cooperative_id_format",
        Some("cooperative_id"),
    );
    f.assert_nothing_written().await;
}

#[tokio::test]
async fn an_unknown_cooperative_or_event_is_not_found_and_writes_nothing() {
    let mut f = Fixture::start().await;
    assert_refused(
        f.c.open_sales_channel(req(good_channel("REJ-NOPE", "nope")))
            .await,
        NotFound,
        "cooperative_not_registered",
        None,
    );
    let unknown_event =
        requests::retract(B, "unknown-event", "0190c1d2-0000-7000-8000-000000000000");
    assert_refused(
        f.c.retract(req(unknown_event)).await,
        NotFound,
        "retract_unknown_event",
        Some("retracted_event_id"),
    );
    // The query side names the rule in the message only (no relance-rule metadata there).
    for status in [
        f.q.get(req(v1::GetRequest {
            cooperative_id: "REJ-NOPE".into(),
            min_position: 0,
        }))
        .await
        .map(|_| ())
        .expect_err("Get of an unknown cooperative"),
        f.q.history(req(v1::HistoryRequest {
            cooperative_id: "REJ-NOPE".into(),
            min_position: 0,
        }))
        .await
        .map(|_| ())
        .expect_err("History of an unknown cooperative"),
    ] {
        assert_eq!(status.code(), NotFound, "{status:?}");
        assert!(
            status.message().contains("rule cooperative_not_registered"),
            "{status:?}"
        );
    }
    f.assert_nothing_written().await;
}

#[tokio::test]
async fn a_state_that_forbids_the_command_is_failed_precondition_and_writes_nothing() {
    let mut f = Fixture::start().await;
    let c = &mut f.c;
    assert_refused(
        c.register(req(requests::register(A, "a-reg-again"))).await,
        FailedPrecondition,
        "already_registered",
        None,
    );
    let halt = |coop: &str, request_id: &str, on: &str, workers: u32| {
        requests::halt(coop, request_id).with(|d| {
            on.clone_into(&mut d.effective_on);
            d.workers_affected = workers.into();
        })
    };
    assert_refused(
        c.halt(req(halt(A, "a-halt-again", "2020-03-21", 10))).await,
        FailedPrecondition,
        "already_halted",
        None,
    );
    let resume = |coop: &str, request_id: &str, on: &str| {
        requests::resume(coop, request_id).with(|d| {
            d.authority.clear();
            d.decision_ref.clear();
            on.clone_into(&mut d.effective_on);
            d.workers_back = 1;
        })
    };
    assert_refused(
        c.resume(req(resume(B, "b-resume", "2020-06-01"))).await,
        FailedPrecondition,
        "not_halted",
        None,
    );
    assert_refused(
        c.resume(req(resume(A, "a-resume-early", "2020-03-01")))
            .await,
        FailedPrecondition,
        "resume_before_halt",
        Some("effective_on"),
    );
    assert_refused(
        c.halt(req(halt(B, "b-halt-2010", "2010-01-01", 1))).await,
        FailedPrecondition,
        "date_before_registration",
        Some("effective_on"),
    );
    assert_refused(
        c.halt(req(halt(B, "b-halt-future", "2999-01-01", 1))).await,
        FailedPrecondition,
        "date_in_future",
        Some("effective_on"),
    );
    let retract = |request_id: &str, event: &v1::CommandReply| {
        requests::retract(B, request_id, &event.event_id)
    };
    assert_refused(
        c.retract(req(retract("retract-retraction", &f.b_retract)))
            .await,
        FailedPrecondition,
        "retract_retraction",
        Some("retracted_event_id"),
    );
    assert_refused(
        c.retract(req(retract("retract-again", &f.b_channel))).await,
        FailedPrecondition,
        "retract_already_retracted",
        Some("retracted_event_id"),
    );
    assert_refused(
        c.retract(req(retract("retract-registration", &f.b_reg)))
            .await,
        FailedPrecondition,
        "retract_registration",
        Some("retracted_event_id"),
    );
    f.assert_nothing_written().await;
}

#[tokio::test]
async fn support_in_another_organisations_name_is_permission_denied_and_writes_nothing() {
    let mut f = Fixture::start().await;
    // INDH recording support in OCP's name.
    let as_ocp = requests::support(B, "indh-as-ocp", "OCP").with(|d| d.amount_centimes = Some(100));
    assert_refused(
        f.c.grant_support(requests::as_principal(as_ocp, "indh", "INDH"))
            .await,
        PermissionDenied,
        "support_not_in_own_name",
        Some("partner"),
    );
    f.assert_nothing_written().await;
}

#[tokio::test]
async fn a_stale_expected_version_is_aborted_and_writes_nothing() {
    let mut f = Fixture::start().await;
    // The caller's view of the version is stale (B is at 3).
    let stale = good_channel(B, "stale").expected_version(2);
    assert_refused(
        f.c.open_sales_channel(req(stale)).await,
        Aborted,
        "expected_version_mismatch",
        Some("expected_version"),
    );
    f.assert_nothing_written().await;
}

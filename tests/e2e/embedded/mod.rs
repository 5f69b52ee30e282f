//! `relance serve` on the embedded (sled) log, driven as its users drive it: over gRPC with
//! tonic clients, and through the `relance` CLI. Every test starts its own process on a free
//! port with its own temporary data directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use relance_proto::v1;
use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;
use relance_proto::v1::cooperative_queries_client::CooperativeQueriesClient;
use relance_proto::v1::envelope::Event as E;
use relance_tests::{cli, RelanceProcess};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

type Commands = CooperativeCommandsClient<Channel>;
type Queries = CooperativeQueriesClient<Channel>;

const IBDAAT: &str = "REH-0001";
const ANNOUR: &str = "REH-0002";
const BENGUERIR: &str = "Benguérir";
const COURT: &str = "Tribunal de première instance de Benguérir";
const MASKS: &str = "fabrication de masques de protection";
const MASK_NOTES: &str = "haute qualité, lavables cinq fois au maximum";

// ------------------------------------------------------------------ helpers

async fn serve(dir: &Path) -> RelanceProcess {
    RelanceProcess::serve(&["--data-dir", dir.to_str().expect("utf-8 temp path")]).await
}

/// SIGTERM and wait, off the async runtime: `terminate` blocks its thread, and the server's
/// graceful shutdown needs this process's client connections to answer its GOAWAY/PING.
async fn terminate(mut node: RelanceProcess) -> std::process::ExitStatus {
    let (status, log) = tokio::task::spawn_blocking(move || (node.terminate(), node.log_text()))
        .await
        .unwrap();
    let status = status.expect("relance was running");
    assert!(
        status.success(),
        "SIGTERM should stop relance cleanly: {status:?}\n{log}"
    );
    status
}

/// A request sent by `principal` of organisation `org` (the metadata the server reads when
/// authentication is off).
fn req_as<T>(msg: T, principal: &str, org: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("x-relance-principal", principal.parse().unwrap());
    r.metadata_mut()
        .insert("x-relance-org", org.parse().unwrap());
    r
}

/// A request from the prefecture's staff.
fn req<T>(msg: T) -> Request<T> {
    req_as(msg, "m.najah", "prefecture")
}

fn meta(coop: &str, request_id: &str) -> Option<v1::CommandMeta> {
    Some(v1::CommandMeta {
        request_id: request_id.to_owned(),
        cooperative_id: coop.to_owned(),
        expected_version: None,
        correlation_id: "e2e".to_owned(),
    })
}

fn ok(r: Result<Response<v1::CommandReply>, Status>, what: &str) -> v1::CommandReply {
    match r {
        Ok(r) => r.into_inner(),
        Err(s) => panic!("{what} was refused: {s:?}"),
    }
}

/// Asserts a command was refused with `code`, the rule named in the message and in the
/// `relance-rule` metadata, and (when given) the field in `relance-field`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(
    r: Result<Response<T>, Status>,
    code: Code,
    rule: &str,
    field: Option<&str>,
) {
    let status = match r {
        Ok(r) => panic!(
            "expected {code:?} (rule {rule}), the command was accepted: {:?}",
            r.into_inner()
        ),
        Err(s) => s,
    };
    assert_eq!(status.code(), code, "rule {rule}: {status:?}");
    assert!(
        status.message().contains(&format!("rule {rule}")),
        "the message should name rule {rule}: {:?}",
        status.message()
    );
    let md = |k: &str| {
        status
            .metadata()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(md("relance-rule").as_deref(), Some(rule), "{status:?}");
    if let Some(field) = field {
        assert_eq!(md("relance-field").as_deref(), Some(field), "{status:?}");
    }
}

fn register_data(
    name: &str,
    sector: v1::Sector,
    activity: &str,
    members: u32,
    employees: u32,
    registered_on: &str,
) -> v1::CooperativeRegistered {
    v1::CooperativeRegistered {
        name: name.to_owned(),
        registry_court: COURT.to_owned(),
        registry_number: format!("{}/2012", name.len()),
        sector: sector as i32,
        activity: activity.to_owned(),
        commune: BENGUERIR.to_owned(),
        members,
        employees,
        registered_on: registered_on.to_owned(),
    }
}

fn register_req(
    coop: &str,
    request_id: &str,
    data: v1::CooperativeRegistered,
) -> v1::RegisterRequest {
    v1::RegisterRequest {
        meta: meta(coop, request_id),
        data: Some(data),
    }
}

fn simple_register(coop: &str, request_id: &str) -> v1::RegisterRequest {
    register_req(
        coop,
        request_id,
        register_data(
            &format!("Coopérative {coop}"),
            v1::Sector::Agriculture,
            "apiculture",
            10,
            2,
            "2015-01-01",
        ),
    )
}

fn halt_data(effective_on: &str, workers: u32) -> v1::ActivityHalted {
    v1::ActivityHalted {
        authority: "Autorités publiques (Province de Rehamna)".to_owned(),
        decision_ref: "Arrêt des chantiers du BTP, état d'urgence sanitaire".to_owned(),
        effective_on: effective_on.to_owned(),
        reason: "Arrêt total des activités du BTP suite à une décision des autorités publiques"
            .to_owned(),
        scope: v1::HaltScope::Total as i32,
        workers_affected: workers,
    }
}

fn halt_req(coop: &str, request_id: &str, data: v1::ActivityHalted) -> v1::HaltRequest {
    v1::HaltRequest {
        meta: meta(coop, request_id),
        data: Some(data),
    }
}

fn channel_req(
    coop: &str,
    request_id: &str,
    channel: v1::ChannelKind,
    city: &str,
    standing: v1::Standing,
    opened_on: &str,
) -> v1::OpenSalesChannelRequest {
    v1::OpenSalesChannelRequest {
        meta: meta(coop, request_id),
        data: Some(v1::SalesChannelOpened {
            channel: channel as i32,
            city: city.to_owned(),
            standing: standing as i32,
            opened_on: opened_on.to_owned(),
        }),
    }
}

fn support_req(
    coop: &str,
    request_id: &str,
    partner: &str,
    amount: Option<i64>,
) -> v1::GrantSupportRequest {
    v1::GrantSupportRequest {
        meta: meta(coop, request_id),
        data: Some(v1::SupportGranted {
            partner: partner.to_owned(),
            kind: v1::SupportKind::Commercialisation as i32,
            amount_centimes: amount,
            description: "Act4Community : accompagnement à la commercialisation des masques"
                .to_owned(),
            granted_on: "2020-04-15".to_owned(),
        }),
    }
}

fn reorient_req(
    coop: &str,
    request_id: &str,
    min: u64,
    max: u64,
    effective_on: &str,
) -> v1::ReorientRequest {
    v1::ReorientRequest {
        meta: meta(coop, request_id),
        data: Some(v1::ReorientationDeclared {
            from_activity: "couture et broderie".to_owned(),
            to_activity: MASKS.to_owned(),
            product: "masques de protection en tissu".to_owned(),
            capacity_min_per_day: min,
            capacity_max_per_day: max,
            notes: MASK_NOTES.to_owned(),
            effective_on: effective_on.to_owned(),
        }),
    }
}

fn retract_req(coop: &str, request_id: &str, event_id: &str) -> v1::RetractRequest {
    v1::RetractRequest {
        meta: meta(coop, request_id),
        data: Some(v1::EventRetracted {
            retracted_event_id: event_id.to_owned(),
            reason: "saisi par erreur".to_owned(),
        }),
    }
}

fn event_type(e: &v1::Envelope) -> &'static str {
    match e.event {
        Some(E::CooperativeRegistered(_)) => "CooperativeRegistered",
        Some(E::ActivityHalted(_)) => "ActivityHalted",
        Some(E::ReorientationDeclared(_)) => "ReorientationDeclared",
        Some(E::AuthorizationObtained(_)) => "AuthorizationObtained",
        Some(E::SupportGranted(_)) => "SupportGranted",
        Some(E::SalesChannelOpened(_)) => "SalesChannelOpened",
        Some(E::ActivityResumed(_)) => "ActivityResumed",
        Some(E::HeadcountReported(_)) => "HeadcountReported",
        Some(E::EventRetracted(_)) => "EventRetracted",
        None => "(none)",
    }
}

fn count(counts: &[v1::Count], key: &str) -> u64 {
    counts.iter().find(|c| c.key == key).map_or(0, |c| c.count)
}

async fn get(q: &mut Queries, coop: &str, min_position: u64) -> v1::CooperativeView {
    q.get(req(v1::GetRequest {
        cooperative_id: coop.to_owned(),
        min_position,
    }))
    .await
    .unwrap_or_else(|s| panic!("Get {coop}: {s:?}"))
    .into_inner()
}

async fn history(q: &mut Queries, coop: &str, min_position: u64) -> Vec<v1::HistoryEntry> {
    q.history(req(v1::HistoryRequest {
        cooperative_id: coop.to_owned(),
        min_position,
    }))
    .await
    .unwrap_or_else(|s| panic!("History {coop}: {s:?}"))
    .into_inner()
    .events
}

async fn summary(q: &mut Queries, min_position: u64) -> v1::ProvinceSummary {
    q.summary(req(v1::SummaryRequest { min_position }))
        .await
        .expect("Summary")
        .into_inner()
}

async fn list(q: &mut Queries, sector: &str, status: &str, min_position: u64) -> v1::ListReply {
    q.list(req(v1::ListRequest {
        sector: sector.to_owned(),
        status: status.to_owned(),
        commune: String::new(),
        page_size: 0,
        page_token: String::new(),
        min_position,
    }))
    .await
    .expect("List")
    .into_inner()
}

fn ids(reply: &v1::ListReply) -> Vec<&str> {
    reply
        .cooperatives
        .iter()
        .map(|v| v.cooperative_id.as_str())
        .collect()
}

/// What recording the article returned.
struct Article {
    ibdaat: Vec<v1::CommandReply>,
    annour: Vec<v1::CommandReply>,
}

impl Article {
    fn last_position(&self) -> u64 {
        self.ibdaat
            .iter()
            .chain(&self.annour)
            .map(|r| r.position)
            .max()
            .unwrap_or(0)
    }
}

/// Records the article's story: Ibdaat Rehamna's reorientation to masks, and Annour's halt.
async fn record_article(c: &mut Commands) -> Article {
    use v1::{ChannelKind as C, Standing as S};
    let mut ibdaat = Vec::new();
    let mut annour = Vec::new();
    ibdaat.push(ok(
        c.register(req(register_req(
            IBDAAT,
            "ibdaat-register",
            register_data(
                "Ibdaat Rehamna",
                v1::Sector::Artisanat,
                "couture et broderie",
                12,
                20,
                "2012-02-21",
            ),
        )))
        .await,
        "registering Ibdaat Rehamna",
    ));
    annour.push(ok(
        c.register(req(register_req(
            ANNOUR,
            "annour-register",
            register_data(
                "Annour",
                v1::Sector::CommerceServices,
                "électricité du bâtiment (chantiers et complexes résidentiels)",
                40,
                0,
                "2011-03-29",
            ),
        )))
        .await,
        "registering Annour",
    ));
    annour.push(ok(
        c.halt(req(halt_req(
            ANNOUR,
            "annour-halt",
            halt_data("2020-03-20", 40),
        )))
        .await,
        "halting Annour",
    ));
    ibdaat.push(ok(
        c.reorient(req(reorient_req(
            IBDAAT,
            "ibdaat-reorient",
            2000,
            3000,
            "2020-04-08",
        )))
        .await,
        "reorienting Ibdaat",
    ));
    ibdaat.push(ok(
        c.authorize(req(v1::AuthorizeRequest {
            meta: meta(IBDAAT, "ibdaat-imanor"),
            data: Some(v1::AuthorizationObtained {
                issuing_body: "IMANOR".to_owned(),
                reference: "NM/ST 21.5.201".to_owned(),
                product: "masques de protection en tissu".to_owned(),
                obtained_on: "2020-04-07".to_owned(),
                valid_until: "2020-05-07".to_owned(),
            }),
        }))
        .await,
        "IMANOR's authorisation",
    ));
    ibdaat.push(ok(
        c.grant_support(req_as(
            support_req(IBDAAT, "ibdaat-ocp", "OCP", None),
            "act4community",
            "OCP",
        ))
        .await,
        "OCP's support in its own name",
    ));
    for (n, (channel, city, standing, on)) in [
        (C::Groceries, BENGUERIR, S::Established, "2020-04-16"),
        (C::Pharmacies, BENGUERIR, S::Established, "2020-04-16"),
        (C::Parapharmacies, BENGUERIR, S::Established, "2020-04-18"),
        (C::Other, "Marrakech", S::Trial, "2020-04-25"),
        (C::Other, "Casablanca", S::Trial, "2020-04-27"),
    ]
    .into_iter()
    .enumerate()
    {
        ibdaat.push(ok(
            c.open_sales_channel(req(channel_req(
                IBDAAT,
                &format!("ibdaat-channel-{n}"),
                channel,
                city,
                standing,
                on,
            )))
            .await,
            "opening a sales channel",
        ));
    }
    Article { ibdaat, annour }
}

// ------------------------------------------------------------------ 1. the article

#[tokio::test]
async fn the_articles_story_is_recorded_and_read_back_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;

    let article = record_article(&mut c).await;
    // Each accepted command is the cooperative's next version at a new stream position.
    for (n, r) in article.ibdaat.iter().enumerate() {
        assert_eq!(r.version, n as u64 + 1, "{r:?}");
        assert!(!r.duplicate);
    }
    let positions: BTreeSet<u64> = article
        .ibdaat
        .iter()
        .chain(&article.annour)
        .map(|r| r.position)
        .collect();
    assert_eq!(
        positions,
        (1..=11).collect(),
        "positions are 1..=11, each once"
    );
    let last = article.last_position();

    // Ibdaat Rehamna: reoriented to masks, authorised, supported by OCP, five channels.
    let ibdaat = get(&mut q, IBDAAT, article.ibdaat.last().unwrap().position).await;
    assert_eq!(ibdaat.name, "Ibdaat Rehamna");
    assert_eq!(ibdaat.sector, v1::Sector::Artisanat as i32);
    assert_eq!(ibdaat.commune, BENGUERIR);
    assert_eq!(ibdaat.employees, 20);
    assert_eq!(ibdaat.status, "reoriented");
    assert_eq!(ibdaat.original_activity, "couture et broderie");
    assert_eq!(ibdaat.current_activity, MASKS);
    assert!(ibdaat.open_halt.is_none());
    assert_eq!(ibdaat.reorientations.len(), 1);
    let r = &ibdaat.reorientations[0];
    assert_eq!(
        (r.capacity_min_per_day, r.capacity_max_per_day),
        (2000, 3000)
    );
    assert_eq!(r.notes, MASK_NOTES);
    assert_eq!(ibdaat.authorizations.len(), 1);
    assert_eq!(ibdaat.authorizations[0].issuing_body, "IMANOR");
    assert_eq!(ibdaat.authorizations[0].valid_until, "2020-05-07");
    assert_eq!(ibdaat.support.len(), 1);
    assert_eq!(ibdaat.support[0].partner, "OCP");
    assert_eq!(
        ibdaat.support[0].kind,
        v1::SupportKind::Commercialisation as i32
    );
    assert_eq!(ibdaat.support[0].event_id, article.ibdaat[3].event_id);
    let channels: Vec<(&str, i32)> = ibdaat
        .sales_channels
        .iter()
        .map(|c| (c.city.as_str(), c.standing))
        .collect();
    let established = v1::Standing::Established as i32;
    let trial = v1::Standing::Trial as i32;
    assert_eq!(
        channels,
        [
            (BENGUERIR, established),
            (BENGUERIR, established),
            (BENGUERIR, established),
            ("Marrakech", trial),
            ("Casablanca", trial),
        ]
    );
    assert_eq!(ibdaat.version, 9);
    assert_eq!(
        ibdaat.last_position,
        article.ibdaat.last().unwrap().position
    );

    // Annour: halted by the public authorities with the BTP, 40 workers idled.
    let annour = get(&mut q, ANNOUR, last).await;
    assert_eq!(annour.status, "halted");
    let halt = annour.open_halt.as_ref().expect("Annour's open halt");
    assert_eq!(halt.workers_affected, 40);
    assert_eq!(halt.since, "2020-03-20");
    assert!(halt.reason.contains("BTP"), "{halt:?}");
    assert_eq!(halt.event_id, article.annour[1].event_id);

    // List filters.
    let halted = list(&mut q, "", "halted", last).await;
    assert_eq!((ids(&halted), halted.total), (vec![ANNOUR], 1));
    let reoriented = list(&mut q, "", "reoriented", last).await;
    assert_eq!(ids(&reoriented), [IBDAAT]);
    let artisanat = list(&mut q, "artisanat", "", last).await;
    assert_eq!(ids(&artisanat), [IBDAAT]);
    let all = list(&mut q, "", "", last).await;
    assert_eq!((ids(&all), all.total), (vec![IBDAAT, ANNOUR], 2));

    // The province summary.
    let s = summary(&mut q, last).await;
    assert_eq!(s.cooperatives, 2);
    assert_eq!(s.workers_idled, 40);
    assert_eq!(s.members, 52);
    assert_eq!(s.employees, 20);
    assert_eq!(count(&s.by_sector, "artisanat"), 1);
    assert_eq!(count(&s.by_sector, "commerce_services"), 1);
    assert_eq!(count(&s.by_status, "halted"), 1);
    assert_eq!(count(&s.by_status, "reoriented"), 1);
    assert_eq!(s.reoriented, 1);
    assert_eq!(
        (
            s.reoriented_capacity_min_per_day,
            s.reoriented_capacity_max_per_day
        ),
        (2000, 3000)
    );
    let ocp: Vec<_> = s.support.iter().filter(|t| t.partner == "OCP").collect();
    assert_eq!(ocp.len(), 1, "{:?}", s.support);
    assert_eq!(ocp[0].kind, v1::SupportKind::Commercialisation as i32);
    assert_eq!(ocp[0].count, 1);
    assert!(s.position >= last);

    // Ibdaat's history: version order, event types, the acting organisation, the hash chain.
    let h = history(&mut q, IBDAAT, last).await;
    let envelopes: Vec<&v1::Envelope> = h.iter().map(|e| e.envelope.as_ref().unwrap()).collect();
    let types: Vec<&str> = envelopes.iter().map(|e| event_type(e)).collect();
    assert_eq!(
        types,
        [
            "CooperativeRegistered",
            "ReorientationDeclared",
            "AuthorizationObtained",
            "SupportGranted",
            "SalesChannelOpened",
            "SalesChannelOpened",
            "SalesChannelOpened",
            "SalesChannelOpened",
            "SalesChannelOpened",
        ]
    );
    for (n, (e, reply)) in envelopes.iter().zip(&article.ibdaat).enumerate() {
        assert_eq!(e.version, n as u64 + 1);
        assert_eq!(e.event_id, reply.event_id);
        assert_eq!(e.position, reply.position);
        assert_eq!(e.cooperative_id, IBDAAT);
        let org = &e.actor.as_ref().unwrap().organisation;
        assert_eq!(org, if n == 3 { "OCP" } else { "prefecture" });
        let prev = if n == 0 {
            vec![0; 32]
        } else {
            envelopes[n - 1].hash.clone()
        };
        assert_eq!(
            e.prev_hash, prev,
            "hash chain broken at version {}",
            e.version
        );
        assert_eq!(e.hash.len(), 32);
    }
    assert_eq!(envelopes[1].occurred_on, "2020-04-08");
}

// ------------------------------------------------------------------ 2. rejections

#[tokio::test]
async fn every_rejection_has_its_code_and_rule_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;

    // A: registered, halted. B: registered, a channel opened and retracted.
    const A: &str = "REJ-A";
    const B: &str = "REJ-B";
    ok(
        c.register(req(simple_register(A, "a-reg"))).await,
        "register A",
    );
    ok(
        c.halt(req(halt_req(A, "a-halt", halt_data("2020-03-20", 10))))
            .await,
        "halt A",
    );
    let b_reg = ok(
        c.register(req(simple_register(B, "b-reg"))).await,
        "register B",
    );
    let b_channel = ok(
        c.open_sales_channel(req(channel_req(
            B,
            "b-channel",
            v1::ChannelKind::Market,
            BENGUERIR,
            v1::Standing::Trial,
            "2020-05-01",
        )))
        .await,
        "channel on B",
    );
    let b_retract = ok(
        c.retract(req(retract_req(B, "b-retract", &b_channel.event_id)))
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

    use Code::{Aborted, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied};
    let good_channel = |coop: &str, rid: &str| {
        channel_req(
            coop,
            rid,
            v1::ChannelKind::Groceries,
            BENGUERIR,
            v1::Standing::Established,
            "2020-05-02",
        )
    };

    // INVALID_ARGUMENT: the input is malformed whatever the state.
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
    let mut bad_date = good_channel(B, "bad-date");
    bad_date.data.as_mut().unwrap().opened_on = "2020-02-30".into();
    assert_refused(
        c.open_sales_channel(req(bad_date)).await,
        InvalidArgument,
        "invalid_date",
        Some("opened_on"),
    );
    let mut bad_sector = simple_register("REJ-C", "bad-sector");
    bad_sector.data.as_mut().unwrap().sector = 99;
    assert_refused(
        c.register(req(bad_sector)).await,
        InvalidArgument,
        "invalid_enum",
        Some("sector"),
    );
    let mut bad_channel = good_channel(B, "bad-channel");
    bad_channel.data.as_mut().unwrap().channel = v1::ChannelKind::Unspecified as i32;
    assert_refused(
        c.open_sales_channel(req(bad_channel)).await,
        InvalidArgument,
        "invalid_enum",
        Some("channel"),
    );
    assert_refused(
        c.grant_support(req(support_req(B, "negative", "prefecture", Some(-1))))
            .await,
        InvalidArgument,
        "amount_negative",
        Some("amount_centimes"),
    );
    let mut long_name = simple_register("REJ-C", "long-name");
    long_name.data.as_mut().unwrap().name = "x".repeat(201);
    assert_refused(
        c.register(req(long_name)).await,
        InvalidArgument,
        "text_too_long",
        Some("name"),
    );
    let mut bell = halt_req(B, "bell", halt_data("2020-03-20", 1));
    bell.data.as_mut().unwrap().reason = "arrêt\u{7} des chantiers".into();
    assert_refused(
        c.halt(req(bell)).await,
        InvalidArgument,
        "control_character",
        Some("reason"),
    );
    assert_refused(
        c.halt(req(v1::HaltRequest {
            meta: None,
            data: Some(halt_data("2020-03-20", 1)),
        }))
        .await,
        InvalidArgument,
        "required_field",
        Some("meta"),
    );
    assert_refused(
        c.halt(req(v1::HaltRequest {
            meta: meta(B, "no-data"),
            data: None,
        }))
        .await,
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
    assert_refused(
        c.reorient(req(reorient_req(B, "capacity", 3000, 2000, "2020-04-08")))
            .await,
        InvalidArgument,
        "capacity_range",
        Some("capacity_min_per_day"),
    );

    // NOT_FOUND: the cooperative or the event named does not exist.
    assert_refused(
        c.open_sales_channel(req(good_channel("REJ-NOPE", "nope")))
            .await,
        NotFound,
        "cooperative_not_registered",
        None,
    );
    assert_refused(
        c.retract(req(retract_req(
            B,
            "unknown-event",
            "0190c1d2-0000-7000-8000-000000000000",
        )))
        .await,
        NotFound,
        "retract_unknown_event",
        Some("retracted_event_id"),
    );
    // The query side names the rule in the message only (no relance-rule metadata there).
    for status in [
        q.get(req(v1::GetRequest {
            cooperative_id: "REJ-NOPE".into(),
            min_position: 0,
        }))
        .await
        .map(|_| ())
        .expect_err("Get of an unknown cooperative"),
        q.history(req(v1::HistoryRequest {
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
    let bad_get = q
        .get(req(v1::GetRequest {
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

    // FAILED_PRECONDITION: the state forbids the command.
    assert_refused(
        c.register(req(simple_register(A, "a-reg-again"))).await,
        FailedPrecondition,
        "already_registered",
        None,
    );
    assert_refused(
        c.halt(req(halt_req(
            A,
            "a-halt-again",
            halt_data("2020-03-21", 10),
        )))
        .await,
        FailedPrecondition,
        "already_halted",
        None,
    );
    let resume = |coop: &str, rid: &str, on: &str| v1::ResumeRequest {
        meta: meta(coop, rid),
        data: Some(v1::ActivityResumed {
            authority: String::new(),
            decision_ref: String::new(),
            effective_on: on.to_owned(),
            workers_back: 1,
        }),
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
        c.halt(req(halt_req(B, "b-halt-2010", halt_data("2010-01-01", 1))))
            .await,
        FailedPrecondition,
        "date_before_registration",
        Some("effective_on"),
    );
    assert_refused(
        c.halt(req(halt_req(
            B,
            "b-halt-future",
            halt_data("2999-01-01", 1),
        )))
        .await,
        FailedPrecondition,
        "date_in_future",
        Some("effective_on"),
    );
    assert_refused(
        c.retract(req(retract_req(
            B,
            "retract-retraction",
            &b_retract.event_id,
        )))
        .await,
        FailedPrecondition,
        "retract_retraction",
        Some("retracted_event_id"),
    );
    assert_refused(
        c.retract(req(retract_req(B, "retract-again", &b_channel.event_id)))
            .await,
        FailedPrecondition,
        "retract_already_retracted",
        Some("retracted_event_id"),
    );
    assert_refused(
        c.retract(req(retract_req(B, "retract-registration", &b_reg.event_id)))
            .await,
        FailedPrecondition,
        "retract_registration",
        Some("retracted_event_id"),
    );

    // PERMISSION_DENIED: INDH recording support in OCP's name.
    assert_refused(
        c.grant_support(req_as(
            support_req(B, "indh-as-ocp", "OCP", Some(100)),
            "indh",
            "INDH",
        ))
        .await,
        PermissionDenied,
        "support_not_in_own_name",
        Some("partner"),
    );

    // ABORTED: the caller's view of the version is stale (B is at 3).
    let mut stale = good_channel(B, "stale");
    stale.meta.as_mut().unwrap().expected_version = Some(2);
    assert_refused(
        c.open_sales_channel(req(stale)).await,
        Aborted,
        "expected_version_mismatch",
        Some("expected_version"),
    );

    // Nothing was written: views and histories unchanged, and the next accepted command
    // takes the very next stream position.
    assert_eq!(summary(&mut q, before).await, summary_before);
    assert_eq!(
        (get(&mut q, A, before).await, get(&mut q, B, before).await),
        views_before
    );
    assert_eq!(
        (
            history(&mut q, A, before).await,
            history(&mut q, B, before).await
        ),
        histories_before
    );
    let mut current = good_channel(B, "current");
    current.meta.as_mut().unwrap().expected_version = Some(3);
    let next = ok(
        c.open_sales_channel(req(current)).await,
        "channel at version 3",
    );
    assert_eq!(
        next.position,
        before + 1,
        "a refused command moved the stream"
    );
    assert_eq!(next.version, 4);
    assert_eq!(history(&mut q, B, next.position).await.len(), 4);
}

// ------------------------------------------------------------------ 3. idempotency

#[tokio::test]
async fn a_repeated_request_id_is_answered_with_the_first_result_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;
    const ID: &str = "IDEM-1";

    let reg = ok(
        c.register(req(simple_register(ID, "idem-reg"))).await,
        "register",
    );
    let halt = || halt_req(ID, "idem-halt", halt_data("2020-03-20", 5));
    let first = ok(c.halt(req(halt())).await, "halt");
    assert!(!first.duplicate);
    assert_eq!(first.version, 2);

    // The retry is recognised: same event, version and position, nothing written. A retried
    // halt is not refused as already_halted, a retried registration not as already_registered.
    let second = ok(c.halt(req(halt())).await, "retried halt");
    assert!(second.duplicate, "{second:?}");
    assert_eq!(
        (&second.event_id, second.version, second.position),
        (&first.event_id, first.version, first.position)
    );
    let reg_again = ok(
        c.register(req(simple_register(ID, "idem-reg"))).await,
        "retried register",
    );
    assert!(reg_again.duplicate);
    assert_eq!(
        (reg_again.event_id, reg_again.position),
        (reg.event_id.clone(), reg.position)
    );

    let h = history(&mut q, ID, first.position).await;
    assert_eq!(h.len(), 2, "one event per request id");
    let halts = h
        .iter()
        .filter(|e| e.envelope.as_ref().unwrap().event_id == first.event_id)
        .count();
    assert_eq!(halts, 1);

    // After a restart on the same data, the retry is still recognised.
    terminate(node).await;
    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;
    let third = ok(c.halt(req(halt())).await, "halt retried after restart");
    assert!(third.duplicate, "{third:?}");
    assert_eq!(
        (&third.event_id, third.version, third.position),
        (&first.event_id, first.version, first.position)
    );
    assert_eq!(history(&mut q, ID, first.position).await, h);
    // And the log goes on from where it was.
    let next = ok(
        c.report_headcount(req(v1::ReportHeadcountRequest {
            meta: meta(ID, "idem-headcount"),
            data: Some(v1::HeadcountReported {
                members: 11,
                employees: 3,
                as_of: "2020-09-01".into(),
            }),
        }))
        .await,
        "headcount after restart",
    );
    assert_eq!((next.version, next.position), (3, first.position + 1));
}

// ------------------------------------------------------------------ 4. graceful restart

#[tokio::test]
async fn a_server_restarted_after_sigterm_keeps_every_event_and_the_same_views() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;
    let article = record_article(&mut c).await;
    let last = article.last_position();

    let before = (
        get(&mut q, IBDAAT, last).await,
        get(&mut q, ANNOUR, last).await,
        summary(&mut q, last).await,
        history(&mut q, IBDAAT, last).await,
        history(&mut q, ANNOUR, last).await,
        list(&mut q, "", "", last).await,
    );
    terminate(node).await;

    let node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let mut q = node.queries().await;
    let after = (
        get(&mut q, IBDAAT, last).await,
        get(&mut q, ANNOUR, last).await,
        summary(&mut q, last).await,
        history(&mut q, IBDAAT, last).await,
        history(&mut q, ANNOUR, last).await,
        list(&mut q, "", "", last).await,
    );
    assert_eq!(after, before);
    assert_eq!(after.3.len(), 9);
    assert_eq!(after.4.len(), 2);

    // The restarted node goes on: the next event is the next position and version.
    let resumed = ok(
        c.resume(req(v1::ResumeRequest {
            meta: meta(ANNOUR, "annour-resume"),
            data: Some(v1::ActivityResumed {
                authority: "Autorités publiques (Province de Rehamna)".into(),
                decision_ref: "Levée progressive du confinement".into(),
                effective_on: "2020-06-11".into(),
                workers_back: 40,
            }),
        }))
        .await,
        "resume Annour after restart",
    );
    assert_eq!((resumed.version, resumed.position), (3, last + 1));
    let annour = get(&mut q, ANNOUR, resumed.position).await;
    assert_eq!(annour.status, "resumed");
    assert_eq!(summary(&mut q, resumed.position).await.workers_idled, 0);
}

// ------------------------------------------------------------------ 5. SIGKILL

#[tokio::test]
async fn a_server_killed_right_after_acknowledging_loses_no_event() {
    const COOPS: usize = 5;
    const COMMANDS: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let mut node = serve(dir.path()).await;
    let mut c = node.commands().await;
    let coops: Vec<String> = (1..=COOPS).map(|i| format!("KILL-{i}")).collect();
    let mut acked: Vec<(String, String, v1::CommandReply)> = Vec::new();
    for coop in &coops {
        let r = ok(
            c.register(req(simple_register(coop, &format!("{coop}-reg"))))
                .await,
            "register",
        );
        acked.push((coop.clone(), String::new(), r));
    }

    // 50 commands at once, ten per cooperative, over one HTTP/2 connection.
    let sends = (0..COMMANDS).map(|i| {
        let mut c = c.clone();
        let coop = coops[i % COOPS].clone();
        async move {
            let city = format!("Ville {i}");
            let r = c
                .open_sales_channel(req(channel_req(
                    &coop,
                    &format!("kill-{i}"),
                    v1::ChannelKind::Market,
                    &city,
                    v1::Standing::Trial,
                    "2020-06-01",
                )))
                .await;
            (coop, city, r)
        }
    });
    let replies = futures::future::join_all(sends).await;
    node.kill();
    for (coop, city, r) in replies {
        acked.push((coop, city, ok(r, "concurrent sales channel")));
    }
    let max = acked.iter().map(|(_, _, r)| r.position).max().unwrap();
    let positions: BTreeSet<u64> = acked.iter().map(|(_, _, r)| r.position).collect();
    assert_eq!(
        positions.len(),
        COOPS + COMMANDS,
        "each ack has its own position"
    );

    let node = serve(dir.path()).await;
    let mut q = node.queries().await;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for coop in &coops {
        let h = history(&mut q, coop, max).await;
        let versions: Vec<u64> = h
            .iter()
            .map(|e| e.envelope.as_ref().unwrap().version)
            .collect();
        assert_eq!(
            versions,
            (1..=(1 + COMMANDS / COOPS) as u64).collect::<Vec<_>>()
        );
        for e in &h {
            *seen
                .entry(e.envelope.as_ref().unwrap().event_id.clone())
                .or_default() += 1;
        }
        let view = get(&mut q, coop, max).await;
        assert_eq!(view.version, 1 + (COMMANDS / COOPS) as u64);
        let mut cities: Vec<&str> = view
            .sales_channels
            .iter()
            .map(|s| s.city.as_str())
            .collect();
        let mut sent: Vec<&str> = acked
            .iter()
            .filter(|(c, city, _)| c == coop && !city.is_empty())
            .map(|(_, city, _)| city.as_str())
            .collect();
        cities.sort_unstable();
        sent.sort_unstable();
        assert_eq!(cities, sent, "{coop}'s sales channels");
    }
    for (coop, _, r) in &acked {
        assert_eq!(
            seen.get(&r.event_id),
            Some(&1),
            "acknowledged event {} of {coop} (position {}) must be in the history exactly once",
            r.event_id,
            r.position
        );
    }
    assert_eq!(seen.len(), acked.len());
    let s = summary(&mut q, max).await;
    assert_eq!(s.cooperatives, COOPS as u64);
    assert_eq!(
        s.position, max,
        "the projection holds exactly the acknowledged events"
    );
}

// ------------------------------------------------------------------ 6. the CLI

#[tokio::test]
async fn the_cli_walkthrough_registers_halts_refuses_and_shows_the_same_after_a_restart() {
    const ID: &str = "REH-0042";
    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let url = node.url();
    let env = [("RELANCE_SERVER", url.as_str())];
    let run = |args: &[&str]| cli(args, &env);

    let (success, out, err) = run(&[
        "coop",
        "register",
        ID,
        "--name",
        "Annour",
        "--court",
        COURT,
        "--number",
        "102/2011",
        "--sector",
        "commerce_services",
        "--activity",
        "électricité du bâtiment",
        "--commune",
        BENGUERIR,
        "--members",
        "40",
        "--registered-on",
        "2011-03-29",
    ]);
    assert!(success, "register failed:\n{out}\n{err}");
    assert!(out.contains("recorded event"), "{out}");

    let halt = [
        "coop",
        "halt",
        ID,
        "--authority",
        "Autorités publiques (Province de Rehamna)",
        "--decision-ref",
        "Arrêt des chantiers du BTP",
        "--effective-on",
        "2020-03-20",
        "--reason",
        "Arrêt total des activités du BTP",
        "--scope",
        "total",
        "--workers",
        "40",
    ];
    let (success, out, err) = run(&halt);
    assert!(success, "halt failed:\n{out}\n{err}");
    let position: String = out
        .rsplit("position ")
        .next()
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(position, "2", "halt reply: {out}");

    let (success, out, err) = run(&halt);
    assert!(!success, "a second halt must fail:\n{out}");
    assert!(
        err.contains("already_halted"),
        "stderr should name the rule: {err}"
    );

    let show = [
        "coop",
        "show",
        ID,
        "--output",
        "json",
        "--min-position",
        &position,
    ];
    let (success, out, err) = run(&show);
    assert!(success, "show failed:\n{err}");
    let before: serde_json::Value = serde_json::from_str(&out).expect("show --output json is JSON");
    assert_eq!(before["status"], "halted", "{before}");
    assert_eq!(before["open_halt"]["workers_affected"], 40, "{before}");
    assert_eq!(before["open_halt"]["scope"], "total", "{before}");
    assert_eq!(before["version"], 2, "{before}");

    let (success, out, err) = run(&["coop", "list", "--status", "halted"]);
    assert!(success, "list failed:\n{err}");
    assert!(
        out.contains(ID) && out.contains("1 cooperative(s)"),
        "{out}"
    );
    let (success, out, err) = run(&["summary"]);
    assert!(success, "summary failed:\n{err}");
    assert!(out.contains("workers idled by open halts   40"), "{out}");
    let (success, out, err) = run(&["coop", "history", ID]);
    assert!(success, "history failed:\n{err}");
    let events: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(events.len(), 2, "{out}");
    assert!(events[0].contains("registered: Annour"), "{out}");
    assert!(events[1].contains("halted by Autorités publiques"), "{out}");

    terminate(node).await;
    let node = serve(dir.path()).await;
    let url = node.url();
    let (success, out, err) = cli(&show, &[("RELANCE_SERVER", url.as_str())]);
    assert!(success, "show after restart failed:\n{err}");
    let after: serde_json::Value = serde_json::from_str(&out).expect("JSON after restart");
    assert_eq!(after, before);
}

// ------------------------------------------------------------------ 7. the demo

#[tokio::test]
async fn the_demo_replays_the_article_and_prints_the_province_and_ibdaat() {
    let (success, out, err) = tokio::task::spawn_blocking(|| cli(&["demo"], &[]))
        .await
        .unwrap();
    assert!(success, "relance demo failed:\n{out}\n{err}");
    let has_line = |words: &[&str]| {
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == words)
    };
    assert!(out.contains("cooperatives      256"), "{out}");
    assert!(has_line(&["agriculture", "200", "78.1%"]), "{out}");
    assert!(has_line(&["artisanat", "54", "21.1%"]), "{out}");
    let timeline: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("Ibdaat Rehamna (REH-0001)"))
        .collect();
    let has = |needle: &str| timeline.iter().any(|l| l.contains(needle));
    assert!(has("authorised by IMANOR"), "{out}");
    assert!(has("support from OCP"), "{out}");
    assert!(has("in Marrakech (trial)"), "{out}");
    assert!(has("2000–3000 a day"), "{out}");
}

// ------------------------------------------------------------------ 8. health and reflection

#[tokio::test]
async fn standard_health_and_reflection_answer() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let dir = tempfile::tempdir().unwrap();
    let node = serve(dir.path()).await;
    let channel = node.channel().await;

    let mut health = HealthClient::new(channel.clone());
    for service in [
        "",
        "relance.v1.CooperativeCommands",
        "relance.v1.CooperativeQueries",
    ] {
        let r = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|s| panic!("health check {service:?}: {s:?}"))
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "relance.v1.Nope".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(unknown.code(), Code::NotFound);

    let mut reflection = ServerReflectionClient::new(channel);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter([ask]))
        .await
        .expect("reflection")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("reflection answer")
        .expect("one answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list: {answer:?}");
    };
    let names: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "relance.v1.CooperativeCommands",
        "relance.v1.CooperativeQueries",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
}

//! `relance serve` on the embedded (sled) log, driven as its users drive it: over gRPC with
//! tonic clients, and through the `relance` CLI. Every test starts its own process on a free
//! port with its own temporary data directory.
//!
//! - `article`: the article's story recorded and read back;
//! - `rejections`: every refusal's code, rule and field, and that it writes nothing;
//! - `restarts`: idempotency across a restart, SIGTERM, SIGKILL right after acknowledging;
//! - `cli`: the CLI walkthrough, the demo, health and reflection.
//!
//! This file holds what they share: starting and stopping a node, reading replies and
//! refusals, the queries, and recording the article.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod article;
mod cli;
mod rejections;
mod restarts;

use std::path::Path;

use relance_proto::v1;
use relance_proto::v1::cooperative_commands_client::CooperativeCommandsClient;
use relance_proto::v1::cooperative_queries_client::CooperativeQueriesClient;
use relance_proto::v1::envelope::Event as E;
use relance_tests::requests::{self, prefecture as req, Overrides as _, COMMUNE as BENGUERIR};
use relance_tests::RelanceProcess;
use tonic::transport::Channel;
use tonic::{Code, Response, Status};

type Commands = CooperativeCommandsClient<Channel>;
type Queries = CooperativeQueriesClient<Channel>;

const IBDAAT: &str = "REH-0001";
const ANNOUR: &str = "REH-0002";

// ------------------------------------------------------------------ the node

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

// ------------------------------------------------------------------ replies and refusals

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

fn event_type(e: &v1::Envelope) -> &'static str {
    match e.event {
        Some(E::CooperativeRegistered(_)) => "CooperativeRegistered",
        Some(E::ActivityHalted(_) | E::ActivityHaltedV2(_)) => "ActivityHalted",
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

// ------------------------------------------------------------------ queries

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

// ------------------------------------------------------------------ the article

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
    let ibdaat_registration = requests::register(IBDAAT, "ibdaat-register").with(|d| {
        d.name = "Ibdaat Rehamna".into();
        d.registry_number = "14/2012".into();
        d.sector = v1::Sector::Artisanat as i32;
        d.activity = "couture et broderie".into();
        d.members = 12;
        d.employees = 20;
        d.registered_on = "2012-02-21".into();
    });
    ibdaat.push(ok(
        c.register(req(ibdaat_registration)).await,
        "registering Ibdaat Rehamna",
    ));
    let annour_registration = requests::register(ANNOUR, "annour-register").with(|d| {
        d.name = "Annour".into();
        d.registry_number = "6/2012".into();
        d.sector = v1::Sector::CommerceServices as i32;
        d.activity = "électricité du bâtiment (chantiers et complexes résidentiels)".into();
        d.members = 40;
        d.employees = 0;
        d.registered_on = "2011-03-29".into();
    });
    annour.push(ok(
        c.register(req(annour_registration)).await,
        "registering Annour",
    ));
    annour.push(ok(
        c.halt(req(requests::halt(ANNOUR, "annour-halt"))).await,
        "halting Annour",
    ));
    ibdaat.push(ok(
        c.reorient(req(requests::reorient(IBDAAT, "ibdaat-reorient")))
            .await,
        "reorienting Ibdaat",
    ));
    ibdaat.push(ok(
        c.authorize(req(requests::authorize(IBDAAT, "ibdaat-imanor")))
            .await,
        "IMANOR's authorisation",
    ));
    ibdaat.push(ok(
        c.grant_support(requests::as_principal(
            requests::support(IBDAAT, "ibdaat-ocp", "OCP"),
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
        let open = requests::sales_channel(IBDAAT, &format!("ibdaat-channel-{n}")).with(|d| {
            d.channel = channel as i32;
            city.clone_into(&mut d.city);
            d.standing = standing as i32;
            on.clone_into(&mut d.opened_on);
        });
        ibdaat.push(ok(
            c.open_sales_channel(req(open)).await,
            "opening a sales channel",
        ));
    }
    Article { ibdaat, annour }
}

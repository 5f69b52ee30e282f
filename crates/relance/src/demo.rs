//! `relance demo`: replays the article on a fresh embedded node, through the gRPC API.
//!
//! The article (seed/): Ibdaat Rehamna, couture et broderie in Benguérir, about twenty
//! employees, reoriented to washable protective masks (2,000–3,000 a day, washable up to five
//! times) once IMANOR authorised it, helped by OCP to sell them in groceries, pharmacies and
//! parapharmacies of Benguérir with modest trials in Marrakech and Casablanca; Annour, 40
//! electricians of Benguérir, halted with the whole BTP sector by a decision of the public
//! authorities; a province of more than 256 cooperatives, 78% agricultural and 21% artisanal.
//! Everything the article does not say (registry numbers, dates of registration, the other
//! 254 cooperatives and their spring and summer 2020) is illustrative and deterministic.
//! Each fact is recorded at a 2020 recording date (the node's clock is set for the demo), so
//! "what was known when" has meaning.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use futures::StreamExt;
use relance_domain::Date;
use relance_log_sled::SledLog;
use relance_proto::v1;
use relance_proto::v1::envelope::Event as E;
use relance_server::{serve, Node};
use tokio::net::TcpListener;

use crate::cli::{DemoArgs, Output};
use crate::client::{status_error, Client};
use crate::output;

pub const IBDAAT: &str = "REH-0001";
pub const ANNOUR: &str = "REH-0002";

const COMMUNES: &[&str] = &[
    "Benguérir",
    "Sidi Bou Othmane",
    "Skhour Rhamna",
    "Ras Ain Rhamna",
    "Jaafra",
    "Bouchane",
    "Labrikiyne",
    "Nzalat Laadam",
    "Jbilet",
    "Lamharra",
    "Sidi Mansour",
    "Sidi Ghanem",
    "Ait Taleb",
    "Akarma",
    "Oulad Hassoune Hamri",
    "Znada",
];
const NAMES: &[&str] = &[
    "Al Amal",
    "Al Khair",
    "Annahda",
    "Al Wifaq",
    "Tadamoun",
    "Al Fath",
    "Assalam",
    "Al Inbiaat",
    "Nour Rhamna",
    "Al Massira",
    "Al Baraka",
    "Tawasol",
];
const AGRI: &[&str] = &[
    "élevage ovin",
    "apiculture",
    "céréaliculture",
    "oléiculture",
    "production laitière",
    "cactus et figue de barbarie",
    "plantes aromatiques",
    "aviculture",
];
const CRAFT: &[&str] = &[
    "couture et broderie",
    "tissage de tapis",
    "poterie",
    "maroquinerie",
    "vannerie",
];

/// One fact to record: when it was recorded, by whom, about which cooperative.
#[derive(Debug, Clone)]
pub struct Step {
    pub recorded_on: Date,
    pub coop: String,
    pub principal: &'static str,
    pub org: &'static str,
    pub event: E,
}

fn date(s: &str) -> Date {
    // The scenario's dates are literals checked by the demo's test.
    Date::parse(s).unwrap_or_else(|| panic!("demo date {s:?} is not a date"))
}

fn day(base: &str, offset: u64) -> String {
    date(base).add_days(offset as i32).to_string()
}

fn coop_id(i: u64) -> String {
    format!("REH-{i:04}")
}

fn prefecture(recorded_on: &str, coop: &str, event: E) -> Step {
    Step {
        recorded_on: date(recorded_on),
        coop: coop.to_owned(),
        principal: "m.najah",
        org: "prefecture",
        event,
    }
}

fn partner(org: &'static str, recorded_on: &str, coop: &str, event: E) -> Step {
    Step {
        recorded_on: date(recorded_on),
        coop: coop.to_owned(),
        principal: org,
        org,
        event,
    }
}

fn register(
    i: u64,
    name: &str,
    sector: relance_domain::Sector,
    activity: &str,
    commune: &str,
    members: u32,
    employees: u32,
) -> Step {
    prefecture(
        "2020-03-02",
        &coop_id(i),
        E::CooperativeRegistered(v1::CooperativeRegistered {
            name: name.to_owned(),
            registry_court: "Tribunal de première instance de Benguérir".into(),
            registry_number: format!("{}/{}", 100 + i, 2008 + (i * 7) % 11),
            sector: relance_proto::sector_to_wire(sector) as i32,
            activity: activity.to_owned(),
            commune: commune.to_owned(),
            members,
            employees,
            registered_on: day("2008-01-15", (i * 37) % 3900),
        }),
    )
}

fn support(
    kind: relance_domain::SupportKind,
    amount_mad: Option<i64>,
    description: &str,
    granted_on: &str,
    partner: &str,
) -> E {
    E::SupportGranted(v1::SupportGranted {
        partner: partner.to_owned(),
        kind: relance_proto::support_kind_to_wire(kind) as i32,
        amount_centimes: amount_mad.map(|m| m * 100),
        description: description.to_owned(),
        granted_on: granted_on.to_owned(),
    })
}

fn channel(
    kind: relance_domain::ChannelKind,
    city: &str,
    standing: relance_domain::Standing,
    opened_on: &str,
) -> E {
    E::SalesChannelOpened(v1::SalesChannelOpened {
        channel: relance_proto::channel_to_wire(kind) as i32,
        city: city.to_owned(),
        standing: relance_proto::standing_to_wire(standing) as i32,
        opened_on: opened_on.to_owned(),
    })
}

/// The article's two cooperatives, as the article tells them.
fn article() -> Vec<Step> {
    use relance_domain::{ChannelKind as C, Sector, Standing as S, SupportKind as K};
    vec![
        register(1, "Ibdaat Rehamna", Sector::Artisanat, "couture et broderie", "Benguérir", 12, 20),
        register(2, "Annour", Sector::CommerceServices, "électricité du bâtiment (chantiers et complexes résidentiels)", "Benguérir", 40, 0),
        prefecture(
            "2020-03-24",
            ANNOUR,
            E::ActivityHalted(v1::ActivityHalted {
                authority: "Autorités publiques (Province de Rehamna)".into(),
                decision_ref: "Arrêt des chantiers du BTP, état d'urgence sanitaire".into(),
                effective_on: "2020-03-20".into(),
                reason: "Arrêt total des activités du Bâtiment et des Travaux publics (BTP) suite à une décision des autorités publiques".into(),
                scope: relance_proto::scope_to_wire(relance_domain::HaltScope::Total) as i32,
                workers_affected: 40,
            }),
        ),
        prefecture(
            "2020-04-09",
            IBDAAT,
            E::AuthorizationObtained(v1::AuthorizationObtained {
                issuing_body: "IMANOR".into(),
                reference: "NM/ST 21.5.201".into(),
                product: "masques de protection en tissu".into(),
                obtained_on: "2020-04-07".into(),
                valid_until: "2020-05-07".into(),
            }),
        ),
        prefecture(
            "2020-04-09",
            IBDAAT,
            E::ReorientationDeclared(v1::ReorientationDeclared {
                from_activity: "couture et broderie".into(),
                to_activity: "fabrication de masques de protection".into(),
                product: "masques de protection en tissu".into(),
                capacity_min_per_day: 2000,
                capacity_max_per_day: 3000,
                notes: "haute qualité, lavables cinq fois au maximum".into(),
                effective_on: "2020-04-08".into(),
            }),
        ),
        partner(
            "OCP",
            "2020-04-20",
            IBDAAT,
            support(K::Commercialisation, None, "Act4Community : accompagnement à la commercialisation des masques", "2020-04-15", "OCP"),
        ),
        prefecture("2020-04-30", IBDAAT, channel(C::Groceries, "Benguérir", S::Established, "2020-04-16")),
        prefecture("2020-04-30", IBDAAT, channel(C::Pharmacies, "Benguérir", S::Established, "2020-04-16")),
        prefecture("2020-04-30", IBDAAT, channel(C::Parapharmacies, "Benguérir", S::Established, "2020-04-18")),
        prefecture("2020-04-30", IBDAAT, channel(C::Other, "Marrakech", S::Trial, "2020-04-25")),
        prefecture("2020-04-30", IBDAAT, channel(C::Other, "Casablanca", S::Trial, "2020-04-27")),
        prefecture(
            "2020-05-18",
            IBDAAT,
            E::HeadcountReported(v1::HeadcountReported { members: 12, employees: 20, as_of: "2020-05-15".into() }),
        ),
    ]
}

/// The rest of the province: 254 cooperatives so that, with the article's two, 256 split
/// 78% agriculture, 21% artisanat, 1% other, with halts, reorientations, support and
/// resumptions through spring and summer 2020.
fn province() -> Vec<Step> {
    use relance_domain::{HaltScope, Sector, SupportKind as K};
    let mut steps = Vec::new();
    for i in 3..=256u64 {
        let (sector, activity) = match i {
            3..=202 => (Sector::Agriculture, AGRI[(i as usize) % AGRI.len()]),
            203..=255 => (Sector::Artisanat, CRAFT[(i as usize) % CRAFT.len()]),
            _ => (Sector::DenreesAlimentaires, "couscous et pâtes artisanales"),
        };
        let commune = COMMUNES[((i * 7) as usize) % COMMUNES.len()];
        let members = 7 + (i * 13 % 40) as u32;
        let employees = (i * 5 % 9) as u32;
        let name = format!("Coopérative {} {}", NAMES[(i as usize) % NAMES.len()], i);
        steps.push(register(
            i, &name, sector, activity, commune, members, employees,
        ));
        let id = coop_id(i);
        let craft = sector == Sector::Artisanat;
        let halted = (craft && i % 2 == 0) || (!craft && i % 8 == 0);
        if halted {
            let (scope, workers) = if craft {
                (HaltScope::Total, members)
            } else {
                (HaltScope::Partial, members / 2)
            };
            steps.push(prefecture(
                &day("2020-03-24", i % 12),
                &id,
                E::ActivityHalted(v1::ActivityHalted {
                    authority: "Autorités publiques (Province de Rehamna)".into(),
                    decision_ref: "État d'urgence sanitaire, décret n° 2.20.293".into(),
                    effective_on: day("2020-03-20", i % 4),
                    reason: if craft {
                        "Fermeture des ateliers pendant le confinement sanitaire".into()
                    } else {
                        "Fermeture des souks hebdomadaires".into()
                    },
                    scope: relance_proto::scope_to_wire(scope) as i32,
                    workers_affected: workers,
                }),
            ));
            if i % 3 != 0 {
                let resumed = day("2020-06-11", (i * 11) % 80);
                steps.push(prefecture(
                    &day(&resumed, 3),
                    &id,
                    E::ActivityResumed(v1::ActivityResumed {
                        authority: "Autorités publiques (Province de Rehamna)".into(),
                        decision_ref: "Levée progressive du confinement".into(),
                        effective_on: resumed,
                        workers_back: workers,
                    }),
                ));
            }
        } else if craft && i % 9 == 0 {
            steps.push(prefecture(
                "2020-04-16",
                &id,
                E::AuthorizationObtained(v1::AuthorizationObtained {
                    issuing_body: "IMANOR".into(),
                    reference: "NM/ST 21.5.201".into(),
                    product: "masques de protection en tissu".into(),
                    obtained_on: "2020-04-14".into(),
                    valid_until: "2020-05-14".into(),
                }),
            ));
            steps.push(prefecture(
                "2020-04-16",
                &id,
                E::ReorientationDeclared(v1::ReorientationDeclared {
                    from_activity: activity.into(),
                    to_activity: "fabrication de masques de protection".into(),
                    product: "masques de protection en tissu".into(),
                    capacity_min_per_day: 300,
                    capacity_max_per_day: 600,
                    notes: "lavables".into(),
                    effective_on: "2020-04-15".into(),
                }),
            ));
            steps.push(partner(
                "OCP",
                "2020-04-28",
                &id,
                support(
                    K::Commercialisation,
                    None,
                    "Act4Community : achat de masques en gros",
                    "2020-04-27",
                    "OCP",
                ),
            ));
        }
        if i % 8 == 1 {
            let amount = 25_000 + (i as i64 * 1_750) % 50_000;
            steps.push(partner(
                "INDH",
                "2020-05-22",
                &id,
                support(
                    K::Financial,
                    Some(amount),
                    "Comité provincial INDH : première tranche",
                    "2020-05-20",
                    "INDH",
                ),
            ));
            if i % 16 == 1 {
                steps.push(partner(
                    "INDH",
                    "2020-07-24",
                    &id,
                    support(
                        K::Financial,
                        Some(amount / 2),
                        "Comité provincial INDH : deuxième tranche",
                        "2020-07-22",
                        "INDH",
                    ),
                ));
            }
        }
        if i % 25 == 0 {
            steps.push(partner(
                "AFD",
                "2020-07-03",
                &id,
                support(
                    K::Financial,
                    Some(100_000),
                    "Subvention à l'économie sociale et solidaire de Rehamna",
                    "2020-07-01",
                    "AFD",
                ),
            ));
        }
        if i % 31 == 0 {
            steps.push(partner(
                "Intelaka",
                "2020-08-05",
                &id,
                support(
                    K::Financial,
                    Some(50_000 + (i as i64 % 5) * 10_000),
                    "Prêt Intelaka",
                    "2020-08-03",
                    "Intelaka",
                ),
            ));
        }
        if i % 13 == 0 {
            steps.push(partner(
                "ODCo",
                "2020-06-30",
                &id,
                support(
                    K::Training,
                    None,
                    "Plan de relance ODCo : formation à la commercialisation en ligne",
                    "2020-06-29",
                    "ODCo",
                ),
            ));
        }
        if i % 20 == 7 {
            steps.push(prefecture(
                "2020-09-10",
                &id,
                E::HeadcountReported(v1::HeadcountReported {
                    members: members + 2,
                    employees: employees + 1,
                    as_of: "2020-09-01".into(),
                }),
            ));
        }
    }
    steps
}

/// Every step of the demo, in recording order.
pub fn scenario() -> Vec<Step> {
    let mut steps = article();
    steps.extend(province());
    steps.sort_by_key(|s| s.recorded_on);
    steps
}

/// Sends one step through the command API; returns the reply.
pub async fn send(client: &Client, step: &Step, request_id: String) -> Result<v1::CommandReply> {
    let meta = v1::CommandMeta {
        request_id,
        cooperative_id: step.coop.clone(),
        expected_version: None,
        correlation_id: "demo".into(),
    };
    client
        .record_as(meta, step.event.clone(), step.principal, step.org)
        .await
}

/// Records the whole scenario through `client`, setting `clock` to each recording date.
/// Returns the highest position written.
pub async fn record(client: &Client, clock: Option<&AtomicI64>, progress: bool) -> Result<u64> {
    let steps = scenario();
    let total = steps.len();
    let mut by_date: BTreeMap<Date, Vec<(usize, Step)>> = BTreeMap::new();
    for (n, s) in steps.into_iter().enumerate() {
        by_date.entry(s.recorded_on).or_default().push((n, s));
    }
    let mut done = 0usize;
    let mut last = 0u64;
    for (recorded_on, group) in by_date {
        if let Some(clock) = clock {
            clock.store(
                recorded_on.start_unix_ms() + 12 * 3_600_000,
                Ordering::SeqCst,
            );
        }
        // Per cooperative in order; cooperatives in parallel.
        let mut per_coop: BTreeMap<String, Vec<(usize, Step)>> = BTreeMap::new();
        for (n, s) in group {
            per_coop.entry(s.coop.clone()).or_default().push((n, s));
        }
        let results: Vec<Result<(usize, u64)>> = futures::stream::iter(per_coop.into_values())
            .map(|steps| async move {
                let mut max = 0;
                let count = steps.len();
                for (n, s) in steps {
                    let r = send(client, &s, format!("demo-{n}"))
                        .await
                        .with_context(|| {
                            format!("demo step {n} ({} on {})", s.coop, s.recorded_on)
                        })?;
                    max = max.max(r.position);
                }
                Ok((count, max))
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for r in results {
            let (count, max) = r?;
            done += count;
            last = last.max(max);
        }
        if progress {
            eprint!("\rrecording the article and the province: {done}/{total} facts (recorded {recorded_on})   ");
        }
    }
    if progress {
        eprintln!();
    } else {
        eprintln!("recorded the article and the province: {done}/{total} facts");
    }
    Ok(last)
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    let temp;
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let clock = Arc::new(AtomicI64::new(0));
    let log: Arc<dyn relance_log::EventLog> = match &args.nats {
        Some(url) => {
            let nats = crate::cli::NatsArgs {
                nats: Some(url.clone()),
                stream: "RELANCE_DEMO".into(),
                replicas: 1,
                duplicate_window_secs: 600,
                link: args.link.clone(),
            };
            crate::serve::jetstream(url, &nats, Some("relance-demo.v1.coop")).await?
        }
        None => Arc::new(SledLog::open(dir.join("log")).context("cannot open the embedded log")?),
    };
    let c = clock.clone();
    let node = Node::start(
        log,
        Some(&dir.join("projection")),
        true,
        Some(Arc::new(move || c.load(Ordering::SeqCst))),
    )?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, node.services(), async move {
        let _ = stopped.await;
    }));
    eprintln!(
        "demo node on {addr} ({} event log), data in {}",
        node.log.backend(),
        dir.display()
    );
    let url = format!("http://{addr}");
    let client = Client::connect(&url, &url, "demo", "prefecture").await?;
    let last = record(
        &client,
        Some(&clock),
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    )
    .await?;
    let mut q = client.queries.clone();
    let summary = q
        .summary(client.request(v1::SummaryRequest { min_position: last })?)
        .await
        .map_err(status_error)?
        .into_inner();
    println!();
    output::summary(Output::Table, &summary)?;
    println!();
    println!("Ibdaat Rehamna ({IBDAAT}) — timeline");
    let history = q
        .history(client.request(v1::HistoryRequest {
            cooperative_id: IBDAAT.into(),
            min_position: last,
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    output::history(Output::Table, &history)?;
    println!();
    let annour = q
        .get(client.request(v1::GetRequest {
            cooperative_id: ANNOUR.into(),
            min_position: last,
        })?)
        .await
        .map_err(status_error)?
        .into_inner();
    output::view(Output::Table, &annour)?;
    let _ = stop.send(());
    server.await.context("demo server task")??;
    node.shutdown().await?;
    eprintln!("demo done in {:.1?} ({last} events)", started.elapsed());
    Ok(())
}

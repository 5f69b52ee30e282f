//! The demo's story: the article's two cooperatives and the illustrative province around
//! them, as steps (who records what, on which 2020 day).

use relance_domain::Date;
use relance_proto::v1;
use relance_proto::v1::envelope::Event as E;

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
            members: members.into(),
            employees: employees.into(),
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
    let mut steps = Vec::new();
    for i in 3..=256u64 {
        province_coop(i, &mut steps);
    }
    steps
}

/// Cooperative `i` of the province: its registration, then what happened to it.
fn province_coop(i: u64, steps: &mut Vec<Step>) {
    use relance_domain::Sector;
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
    let halted = (craft && i.is_multiple_of(2)) || (!craft && i.is_multiple_of(8));
    if halted {
        halt_and_resume(i, &id, craft, members, steps);
    } else if craft && i.is_multiple_of(9) {
        masks(&id, activity, steps);
    }
    grants(i, &id, steps);
    if i % 20 == 7 {
        steps.push(prefecture(
            "2020-09-10",
            &id,
            E::HeadcountReported(v1::HeadcountReported {
                members: u64::from(members + 2),
                employees: u64::from(employees + 1),
                as_of: "2020-09-01".into(),
            }),
        ));
    }
}

/// The lockdown's halt of cooperative `i` and, for two in three, its resumption in summer.
fn halt_and_resume(i: u64, id: &str, craft: bool, members: u32, steps: &mut Vec<Step>) {
    use relance_domain::HaltScope;
    let (scope, workers) = if craft {
        (HaltScope::Total, members)
    } else {
        (HaltScope::Partial, members / 2)
    };
    steps.push(prefecture(
        &day("2020-03-24", i % 12),
        id,
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
            workers_affected: workers.into(),
        }),
    ));
    if !i.is_multiple_of(3) {
        let resumed = day("2020-06-11", (i * 11) % 80);
        steps.push(prefecture(
            &day(&resumed, 3),
            id,
            E::ActivityResumed(v1::ActivityResumed {
                authority: "Autorités publiques (Province de Rehamna)".into(),
                decision_ref: "Levée progressive du confinement".into(),
                effective_on: resumed,
                workers_back: workers.into(),
            }),
        ));
    }
}

/// A craft cooperative licensed by IMANOR that turns to masks, which OCP buys.
fn masks(id: &str, activity: &str, steps: &mut Vec<Step>) {
    use relance_domain::SupportKind as K;
    steps.push(prefecture(
        "2020-04-16",
        id,
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
        id,
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
        id,
        support(
            K::Commercialisation,
            None,
            "Act4Community : achat de masques en gros",
            "2020-04-27",
            "OCP",
        ),
    ));
}

/// The partners' grants to cooperative `i`: INDH tranches, AFD, Intelaka, ODCo training.
fn grants(i: u64, id: &str, steps: &mut Vec<Step>) {
    use relance_domain::SupportKind as K;
    if i % 8 == 1 {
        let amount = 25_000 + (i as i64 * 1_750) % 50_000;
        steps.push(partner(
            "INDH",
            "2020-05-22",
            id,
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
                id,
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
    if i.is_multiple_of(25) {
        steps.push(partner(
            "AFD",
            "2020-07-03",
            id,
            support(
                K::Financial,
                Some(100_000),
                "Subvention à l'économie sociale et solidaire de Rehamna",
                "2020-07-01",
                "AFD",
            ),
        ));
    }
    if i.is_multiple_of(31) {
        steps.push(partner(
            "Intelaka",
            "2020-08-05",
            id,
            support(
                K::Financial,
                Some(50_000 + (i as i64 % 5) * 10_000),
                "Prêt Intelaka",
                "2020-08-03",
                "Intelaka",
            ),
        ));
    }
    if i.is_multiple_of(13) {
        steps.push(partner(
            "ODCo",
            "2020-06-30",
            id,
            support(
                K::Training,
                None,
                "Plan de relance ODCo : formation à la commercialisation en ligne",
                "2020-06-29",
                "ODCo",
            ),
        ));
    }
}

/// Every step of the demo, in recording order.
pub fn scenario() -> Vec<Step> {
    let mut steps = article();
    steps.extend(province());
    steps.sort_by_key(|s| s.recorded_on);
    steps
}

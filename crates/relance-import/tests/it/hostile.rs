//! Hostile and broken input: every kind of bad row refused with its rule and location while
//! good rows are kept; whole files refused before anything is half-read.

use std::io::Write;

use relance_import::{read_bytes, read_file, FileKind, ImportError, Location, Options};

use crate::support::*;

fn good(id: &str, name: &str, number: &str) -> String {
    format!("{id};{name};Benguérir;{number};05/03/2015;Artisanat;couture;Benguérir;12;1")
}

/// (row index among data rows, line, rule, column)
const EXPECTED: &[(usize, u64, &str, Option<&str>)] = &[
    (1, 5, "duplicate_row", None),
    (2, 6, "duplicate_cooperative", None),
    (4, 8, "amount_negative", Some("Nombre d'adhérents")),
    (5, 9, "text_too_long", Some("Raison sociale")),
    (6, 10, "control_character", Some("Raison sociale")),
    (7, 12, "invalid_date", Some("Date de constitution")),
    (8, 13, "invalid_enum", Some("Secteur")),
    (9, 14, "cooperative_id_format", Some("Identifiant")),
    (10, 15, "required_field", Some("Raison sociale")),
    (11, 16, "invalid_number", Some("Nombre d'adhérents")),
    (12, 17, "duplicate_cooperative", None),
];

pub fn hostile_file() -> String {
    let lines = [
        COOP_HEADERS.to_owned(),
        good("", "Coopérative Al Amal", "12/2015"),
        String::new(),
        ";;;;;;;;;".to_owned(),
        good("", "Coopérative Al Amal", "12/2015"),
        good("", "Coopérative Al Amal bis", "12 / 2015"),
        good("", "=HYPERLINK(\"http://x\")", "13"),
        good("", "Coopérative Négative", "14").replace(";12;1", ";-5;1"),
        good("", &"L".repeat(250), "15"),
        good("", "\"Deux\nlignes\"", "16"),
        good("", "Coopérative Février", "17").replace("05/03/2015", "31/02/2015"),
        good("", "Coopérative Étoile", "18").replace("Artisanat", "Astronautique"),
        good("a.b", "Coopérative Point", "19"),
        good("", "", "20"),
        good("", "Coopérative Douze", "21").replace(";12;1", ";douze;1"),
        good("BENGUERIR-12-2015", "Coopérative Même Id", "22"),
        good("", "Coopérative Bonne", "23"),
    ];
    lines.join("\n") + "\n"
}

#[test]
fn every_bad_row_is_refused_with_its_rule_and_location_and_good_rows_kept() {
    let import = read(hostile_file().as_bytes(), FileKind::Cooperatives);
    assert_eq!(import.rows.len(), 14, "blank lines skipped");
    for &(i, line, rule, column) in EXPECTED {
        let err = error_of(&import, i);
        assert_eq!(err.rule.name(), rule, "row {i}: {err}");
        assert_eq!(err.location, Location::Line { line }, "row {i}: {err}");
        assert_eq!(err.column.as_deref(), column, "row {i}: {err}");
    }
    let sector = error_of(&import, 8);
    assert!(
        sector.message.contains("pêche"),
        "accepted values listed: {}",
        sector.message
    );
    assert_eq!(sector.value, "Astronautique");
    let kept: Vec<&str> = import
        .requests()
        .map(|r| registration(r).name.as_str())
        .collect();
    assert_eq!(
        kept,
        [
            "Coopérative Al Amal",
            "=HYPERLINK(\"http://x\")",
            "Coopérative Bonne"
        ],
        "a formula-like name is plain text, stored as it is"
    );
    assert_eq!(import.errors().count(), EXPECTED.len());
}

#[test]
fn bad_facts_are_refused_with_the_api_rules() {
    let text = "Type;Identifiant;Date;Partenaire;Type d'appui;Montant;Ancienne activité;Nouvelle activité;Capacité min;Capacité max\n\
        appui;REH-1;2020-04-10;OCP;formation;-100;;;;\n\
        réorientation;REH-1;2020-04-01;;;;couture;masques;500;100\n\
        inondation;REH-1;2020-04-01;;;;;;;\n\
        appui;REH-1;2020-04-10;OCP;formation;1 000,00;;;;\n\
        appui;REH-1;2020-04-10;OCP;formation;2 000,00;;;;\n\
        réorientation;REH-1;2031-01-01;;;;couture;masques;100;500\n";
    let opts = Options {
        today: relance_domain::Date::parse("2026-01-01"),
        ..Options::default()
    };
    let import = read_with(text.as_bytes(), FileKind::Facts, &opts);
    let rules: Vec<&str> = import.errors().map(|e| e.rule.name()).collect();
    assert_eq!(
        rules,
        [
            "amount_negative",
            "capacity_range",
            "invalid_enum",
            "duplicate_fact",
            "date_in_future"
        ]
    );
    let kind = error_of(&import, 2);
    assert!(
        kind.message.contains("resume / reprise") && kind.message.contains("canal de vente"),
        "{}",
        kind.message
    );
    assert_eq!(error_of(&import, 0).column.as_deref(), Some("Montant"));
    assert_eq!(error_of(&import, 1).column.as_deref(), Some("Capacité min"));
    assert_eq!(import.requests().count(), 1);
}

#[test]
fn files_that_are_not_spreadsheets_are_refused_whole() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
    let err = read_bytes(png, FileKind::Cooperatives, &Options::default()).expect_err("png");
    assert!(matches!(err, ImportError::NotASpreadsheet { .. }));
    assert!(err.to_string().contains("PNG"), "{err}");
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let err = read_bytes(&junk, FileKind::Cooperatives, &Options::default()).expect_err("junk");
    assert!(matches!(err, ImportError::NotASpreadsheet { .. }), "{err}");
    let zip = b"PK\x03\x04not really a zip";
    let err = read_bytes(zip, FileKind::Cooperatives, &Options::default()).expect_err("zip");
    assert!(matches!(err, ImportError::NotASpreadsheet { .. }), "{err}");
}

#[test]
fn missing_columns_are_one_clear_error() {
    let err = read_bytes(
        b"Nom;Ville;Secteur\nA;B;C\n",
        FileKind::Cooperatives,
        &Options::default(),
    )
    .expect_err("missing");
    let msg = err.to_string();
    for needed in [
        "Tribunal",
        "N° d'immatriculation",
        "Date de constitution",
        "Commune",
    ] {
        assert!(msg.contains(needed), "{msg}");
    }
    assert!(msg.contains("Nom | Ville | Secteur"), "{msg}");
    let err = read_bytes(
        b"Type;Date\nappui;2020-01-01\n",
        FileKind::Facts,
        &Options::default(),
    )
    .expect_err("no cooperative column");
    assert!(
        err.to_string()
            .contains("Identifiant (cooperative_id), or Tribunal"),
        "{err}"
    );
}

#[test]
fn a_file_over_the_size_bound_is_refused_before_reading() {
    let mut file = tempfile::NamedTempFile::new().expect("tmp");
    file.write_all(hostile_file().as_bytes()).expect("write");
    let opts = Options {
        max_bytes: 100,
        ..Options::default()
    };
    let err = read_file(file.path(), FileKind::Cooperatives, &opts).expect_err("too large");
    assert!(
        matches!(err, ImportError::TooLarge { limit: 100, .. }),
        "{err}"
    );
    let import = read_file(file.path(), FileKind::Cooperatives, &Options::default()).expect("read");
    assert_eq!(import.requests().count(), 3);
    assert!(matches!(
        read_file(
            "/nonexistent/registre.csv".as_ref(),
            FileKind::Facts,
            &Options::default()
        ),
        Err(ImportError::Io { .. })
    ));
}

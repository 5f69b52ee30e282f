//! The rejects file fixed and imported again, stable request ids, the partner-restricted
//! mode, the summary and the export.

use relance_import::{
    read_bytes, CsvExport, FileKind, Options, Outcome, Rejects, Separator, Summary, REJECT_COLUMN,
};

use crate::hostile::hostile_file;
use crate::support::*;

fn rejects_csv(import: &relance_import::Import) -> String {
    let bytes = Rejects::from_import(import)
        .write_csv(Vec::new(), Separator::Semicolon)
        .expect("rejects");
    assert!(bytes.starts_with(b"\xef\xbb\xbf"), "BOM for Excel");
    String::from_utf8(bytes).expect("utf8")
}

#[test]
fn the_rejects_file_fixed_in_a_spreadsheet_imports_again() {
    let first = read(hostile_file().as_bytes(), FileKind::Cooperatives);
    let rejects = rejects_csv(&first);
    let header = rejects.lines().next().expect("header");
    assert!(header.ends_with(&format!(";{REJECT_COLUMN}")), "{header}");
    assert!(rejects.contains("invalid_date: "), "{rejects}");
    // The user fixes the impossible date and the unknown sector, leaves the rest.
    let fixed = rejects
        .replace("31/02/2015", "28/02/2015")
        .replace("Astronautique", "Agriculture");
    let second = read(fixed.as_bytes(), FileKind::Cooperatives);
    assert!(
        second.ignored_columns.is_empty(),
        "{:?}",
        second.ignored_columns
    );
    let names: Vec<&str> = second
        .requests()
        .map(|r| registration(r).name.as_str())
        .collect();
    // The exact duplicate is alone now: it is read again with the id of the row it copied,
    // which the server answers as already there.
    assert_eq!(
        names,
        [
            "Coopérative Al Amal",
            "Coopérative Février",
            "Coopérative Étoile"
        ]
    );
    assert_eq!(
        second.requests().next().map(|r| r.request_id()),
        first.requests().next().map(|r| r.request_id())
    );
    // The still-wrong rows are refused again; their reason is replaced, not appended.
    let again = rejects_csv(&second);
    let header2 = again.lines().next().expect("header");
    assert_eq!(header2, header);
    // Records end in CRLF; the cell with an embedded line break holds a bare LF.
    assert_eq!(again.matches("\r\n").count(), 1 + second.errors().count());
}

#[test]
fn the_same_file_twice_gives_the_same_ids_and_a_changed_row_keeps_its_id() {
    let text =
        "Type;Identifiant;Date;Partenaire;Type d'appui;Montant;Canal;Ville;Statut du canal\n\
        appui;REH-1;10/04/2020;OCP;commercialisation;1 953 875,00;;;\n\
        canal de vente;REH-1;2020-05-01;;;;pharmacies;Marrakech;essai\n\
        appui;REH-2;10/04/2020;INDH;financier;50 000;;;\n";
    let once = read(text.as_bytes(), FileKind::Facts);
    let twice = read(text.as_bytes(), FileKind::Facts);
    assert_eq!(request_ids(&once).len(), 3);
    assert_eq!(request_ids(&once), request_ids(&twice));
    assert_eq!(
        request_ids(&once)[1],
        "import:sales_channel:REH-1:2020-05-01:pharmacies:marrakech"
    );
    let changed = text.replace("1 953 875,00", "1 953 875,50");
    let after = read(changed.as_bytes(), FileKind::Facts);
    assert_eq!(request_ids(&after), request_ids(&once));
    let (a, b) = (once.requests().next(), after.requests().next());
    assert_ne!(
        a, b,
        "same id, other content: the server refuses it as request_id_reused"
    );
    let coops = hostile_file();
    let renamed = coops.replace("Coopérative Bonne", "Coopérative Bonne Renommée");
    let (x, y) = (
        read(coops.as_bytes(), FileKind::Cooperatives),
        read(renamed.as_bytes(), FileKind::Cooperatives),
    );
    assert_eq!(request_ids(&x), request_ids(&y));
}

#[test]
fn a_partner_imports_only_support_in_its_own_name() {
    let text = "Type;Identifiant;Date;Partenaire;Type d'appui;Montant\n\
        appui;REH-1;10/04/2020;OCP;commercialisation;1 000\n\
        appui;REH-1;11/04/2020;INDH;financier;2 000\n\
        appui;REH-2;12/04/2020;;formation;\n\
        effectif;REH-2;12/04/2020;;;\n";
    let opts = Options {
        importing_org: Some("OCP".into()),
        ..Options::default()
    };
    let import = read_with(text.as_bytes(), FileKind::Facts, &opts);
    let err = error_of(&import, 1);
    assert_eq!(err.rule.name(), "support_not_in_own_name");
    assert_eq!(err.column.as_deref(), Some("Partenaire"));
    assert_eq!(err.value, "INDH");
    assert_eq!(err.location.to_string(), "line 3");
    let partners: Vec<&str> = import
        .requests()
        .filter(|r| matches!(r, relance_import::Request::GrantSupport(_)))
        .map(|r| support(r).partner.as_str())
        .collect();
    assert_eq!(
        partners,
        ["OCP", "OCP"],
        "an empty partner is the importing one"
    );
    assert_eq!(import.requests().count(), 3);
    // Without the restriction other partners' rows are left to the server; an empty partner
    // is then missing.
    let open = read(text.as_bytes(), FileKind::Facts);
    assert_eq!(open.requests().count(), 3);
    assert_eq!(error_of(&open, 2).rule.name(), "required_field");
}

#[test]
fn the_summary_counts_rows_and_server_answers_as_a_table_and_json() {
    let import = read(hostile_file().as_bytes(), FileKind::Cooperatives);
    let mut summary = Summary::from_import(&import);
    assert_eq!((summary.rows, summary.ready, summary.rejected), (14, 3, 11));
    assert_eq!(
        summary.rejected_by_rule.get("duplicate_cooperative"),
        Some(&2)
    );
    summary.record(&Outcome::from_reply(false));
    summary.record(&Outcome::from_reply(true));
    summary.record(&Outcome::from_rule("request_id_reused"));
    assert_eq!(
        (summary.accepted, summary.already_there, summary.conflicts),
        (1, 1, 1)
    );
    let json = serde_json::to_value(&summary).expect("json");
    assert_eq!(json["conflicts"], 1);
    assert_eq!(json["rejected_by_rule"]["invalid_date"], 1);
    let table = summary.to_string();
    assert!(table.contains("already there"), "{table}");
    assert!(table.contains("  invalid_enum"), "{table}");
    let errors = serde_json::to_value(import.errors().next().expect("error")).expect("json");
    assert_eq!(errors["rule"], "duplicate_row");
    assert_eq!(errors["location"]["line"], 5);
}

#[test]
fn an_export_opens_in_excel_and_reads_back_unchanged() {
    let mut out = CsvExport::new(Vec::new(), Separator::Comma).expect("export");
    out.write_row(COOP_HEADERS.split(';')).expect("header");
    out.write_row([
        "REH-9",
        "=CMD|' /C calc'!A0",
        "Marrakech",
        "9",
        "2012-06-30",
        "Argane",
        "زيت",
        "Safi",
        "-3",
        "1",
    ])
    .expect("row");
    out.write_row([
        "REH-10",
        "تعاونيّة النـور",
        "Marrakech",
        "10",
        "2012-06-30",
        "Argane",
        "@x",
        "Safi",
        "4",
        "1",
    ])
    .expect("row");
    let bytes = out.finish().expect("bytes");
    let text = String::from_utf8(bytes.clone()).expect("utf8");
    assert!(text.contains("'=CMD|"), "{text}");
    assert!(text.contains(",'@x,"), "{text}");
    assert!(
        text.contains(",-3,"),
        "a plain negative number is not neutralised"
    );
    let back = read_bytes(&bytes, FileKind::Cooperatives, &Options::default()).expect("read");
    assert_eq!(error_of(&back, 0).rule.name(), "amount_negative");
    let req = back.requests().next().expect("second row");
    assert_eq!(registration(req).name, "تعاونيّة النـور");
    assert_eq!(registration(req).activity, "@x");
}

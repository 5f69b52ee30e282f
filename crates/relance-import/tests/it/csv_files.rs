//! CSV in the encodings registers come in: Windows-1252 with `;`, UTF-8 with a BOM and Arabic
//! names, Excel's UTF-16 "Unicode text".

use relance_import::{Encoding, FileKind, Format, Options, Request};
use relance_proto::v1;

use crate::support::*;

#[test]
fn semicolon_windows_1252_with_day_first_dates_and_accents() {
    let text = format!(
        "{COOP_HEADERS}\r\n\
         ;Coopérative Tissage Al Amal;Benguérir;12/2015;05/03/2015;Artisanat;couture et broderie;Benguérir;1 200;3\r\n\
         ;Coopérative Argane Tafraout;Marrakech;7;1/2/2010;ARGANE;huile d'argane;Sidi Bou Othmane;25;\r\n"
    );
    let (bytes, _, lossy) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!lossy);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "really 1252, not UTF-8"
    );
    let import = read(&bytes, FileKind::Cooperatives);
    assert_eq!(import.source.format, Format::Csv);
    assert_eq!(import.source.encoding, Some(Encoding::Windows1252));
    assert_eq!(import.source.separator, Some(';'));
    assert_eq!(
        import.errors().count(),
        0,
        "{:?}",
        import.errors().collect::<Vec<_>>()
    );
    let reqs: Vec<&Request> = import.requests().collect();
    let first = registration(reqs[0]);
    assert_eq!(first.name, "Coopérative Tissage Al Amal");
    assert_eq!(first.registry_court, "Benguérir");
    assert_eq!(first.registered_on, "2015-03-05");
    assert_eq!(first.members, 1200);
    assert_eq!(first.sector, v1::Sector::Artisanat as i32);
    assert_eq!(reqs[0].cooperative_id(), "BENGUERIR-12-2015");
    assert_eq!(reqs[0].request_id(), "import:coop:BENGUERIR-12-2015");
    let second = registration(reqs[1]);
    assert_eq!(second.registered_on, "2010-02-01");
    assert_eq!(second.sector, v1::Sector::Argane as i32);
    assert_eq!(second.employees, 0);
    assert_eq!(reqs[1].cooperative_id(), "MARRAKECH-7");
}

#[test]
fn utf8_with_bom_keeps_arabic_names_byte_for_byte() {
    // Shadda and a tatweel: any Unicode normalisation would change these bytes.
    let name = "تعاونيّة النـور للأركان";
    let commune = "ابن جرير";
    let text = format!(
        "\u{feff}ID,Nom,Tribunal,Numéro,Date d'immatriculation,Secteur,Activité,Commune,Adhérents,Salariés\n\
         REH-0001,{name},Marrakech,221,2012-06-30,Argane,زيت الأركان,{commune},\"1 200\",4\n"
    );
    let import = read(text.as_bytes(), FileKind::Cooperatives);
    assert_eq!(import.source.encoding, Some(Encoding::Utf8));
    assert_eq!(import.source.separator, Some(','));
    let req = import.requests().next().expect("one request");
    let data = registration(req);
    assert_eq!(data.name.as_bytes(), name.as_bytes());
    assert_eq!(data.commune.as_bytes(), commune.as_bytes());
    assert_eq!(data.activity, "زيت الأركان");
    assert_eq!(req.cooperative_id(), "REH-0001");
    assert_eq!(req.request_id(), "import:coop:REH-0001");
    assert_eq!(data.members, 1200);
}

#[test]
fn utf16le_tab_separated_facts_as_excel_writes_unicode_text() {
    let text = "Type\tIdentifiant\tDate\tPartenaire\tType d'appui\tMontant (MAD)\tDescription\r\n\
                Appui\tREH-0001\t10/04/2020\tOCP\tCommercialisation\t1 953 875,00\tAct4Community — تسويق\r\n\
                Arrêt\tREH-0001\t20/03/2020\t\t\t\t\r\n";
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let import = read(&bytes, FileKind::Facts);
    assert_eq!(import.source.encoding, Some(Encoding::Utf16Le));
    assert_eq!(import.source.separator, Some('\t'));
    let req = import.rows[0].result.as_ref().expect("support row");
    let data = support(req);
    assert_eq!(data.amount_centimes, Some(195_387_500));
    assert_eq!(data.partner, "OCP");
    assert_eq!(data.description, "Act4Community — تسويق");
    assert_eq!(data.granted_on, "2020-04-10");
    assert_eq!(
        req.request_id(),
        "import:support:REH-0001:2020-04-10:ocp:commercialisation"
    );
    // The halt row has no authority, reason or scope column: the domain's rules say which.
    let err = error_of(&import, 1);
    assert_eq!(err.rule.name(), "required_field");
    assert_eq!(err.location.to_string(), "line 3");
}

#[test]
fn a_forced_encoding_and_separator_win() {
    let (bytes, _, _) = encoding_rs::WINDOWS_1256.encode(
        "Type|Identifiant|Date|Nombre d'adhérents|Effectif\nEffectif|REH-0001|2020-12-31|45|3\n",
    );
    let opts = Options {
        encoding: Some("cp1256".parse().expect("encoding")),
        separator: Some(b'|'),
        ..Options::default()
    };
    let import = read_with(&bytes, FileKind::Facts, &opts);
    assert_eq!(import.source.encoding, Some(Encoding::Windows1256));
    match import.requests().next().expect("headcount") {
        Request::ReportHeadcount(r) => {
            let d = r.data.as_ref().expect("data");
            assert_eq!(
                (d.members, d.employees, d.as_of.as_str()),
                (45, 3, "2020-12-31")
            );
            assert_eq!(
                r.meta.as_ref().expect("meta").request_id,
                "import:headcount:REH-0001:2020-12-31"
            );
        }
        other => panic!("{other:?}"),
    };
}

#[test]
fn line_numbers_count_crlf_and_blank_lines() {
    let text = "Type;Identifiant;Date\r\nArrêt;REH-0001;20/03/2020\r\nArrêt;REH-0001;21/03/2020\n\nArrêt;REH-0001;22/03/2020\n";
    let import = read(text.as_bytes(), FileKind::Facts);
    let locs: Vec<String> = import.rows.iter().map(|r| r.location.to_string()).collect();
    assert_eq!(locs, vec!["line 2", "line 3", "line 5"]);
}

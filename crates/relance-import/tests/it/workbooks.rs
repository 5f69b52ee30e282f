//! Workbooks: an XLSX written by rust_xlsxwriter (a real date cell, a formula), an ODS
//! written by spreadsheet-ods.

use relance_import::{FileKind, Format, ImportError, Location, Options};
use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};

use crate::support::*;

const HEADERS: [&str; 9] = [
    "Raison sociale",
    "Tribunal",
    "N° d'immatriculation",
    "Date de constitution",
    "Secteur",
    "Branche d'activité",
    "Commune",
    "Nombre d'adhérents",
    "Effectif",
];

/// Name, court, number, registration date, sector.
type RegisterRow = (
    &'static str,
    &'static str,
    &'static str,
    (u16, u8, u8),
    &'static str,
);

fn xlsx() -> Vec<u8> {
    let mut wb = Workbook::new();
    let date_format = XFormat::new().set_num_format("dd/mm/yyyy");
    let ws = wb.add_worksheet();
    ws.set_name("Feuil1").expect("name");
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("header");
    }
    let rows: [RegisterRow; 2] = [
        (
            "Coopérative Al Amal",
            "Benguérir",
            "12/2015",
            (2015, 3, 5),
            "Artisanat",
        ),
        ("تعاونية النور", "Marrakech", "221", (2012, 6, 30), "Pêche"),
    ];
    for (i, (name, court, number, (y, m, d), sector)) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        ws.write_string(r, 0, *name).expect("name");
        ws.write_string(r, 1, *court).expect("court");
        ws.write_string(r, 2, *number).expect("number");
        let date = ExcelDateTime::from_ymd(*y, *m, *d).expect("date");
        ws.write_datetime_with_format(r, 3, &date, &date_format)
            .expect("date cell");
        ws.write_string(r, 4, *sector).expect("sector");
        ws.write_string(r, 5, "couture").expect("activity");
        ws.write_string(r, 6, "Benguérir").expect("commune");
        ws.write_number(r, 7, 1200.0).expect("members");
        ws.write_number(r, 8, 3.0).expect("employees");
    }
    // Row 4: a formula in the members column is refused, never evaluated.
    for (c, v) in [
        "Coopérative Formule",
        "Safi",
        "9",
        "2019-01-01",
        "Agriculture",
        "x",
        "Safi",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(3, c as u16, *v).expect("cell");
    }
    ws.write_formula(3, 7, "=2+2").expect("formula");
    let other = wb.add_worksheet();
    other.set_name("Autre").expect("name");
    other.write_string(0, 0, "rien").expect("cell");
    wb.save_to_buffer().expect("xlsx")
}

#[test]
fn xlsx_with_a_real_date_cell_and_a_formula_cell() {
    let import = read(&xlsx(), FileKind::Cooperatives);
    assert_eq!(import.source.format, Format::Xlsx);
    assert_eq!(import.source.sheet.as_deref(), Some("Feuil1"));
    let reqs: Vec<_> = import.requests().collect();
    assert_eq!(reqs.len(), 2, "{:?}", import.errors().collect::<Vec<_>>());
    assert_eq!(registration(reqs[0]).registered_on, "2015-03-05");
    assert_eq!(registration(reqs[0]).members, 1200);
    assert_eq!(registration(reqs[1]).name, "تعاونية النور");
    assert_eq!(registration(reqs[1]).registered_on, "2012-06-30");
    let err = error_of(&import, 2);
    assert_eq!(err.rule.name(), "formula_cell");
    assert_eq!(
        err.location,
        Location::Cell {
            sheet: "Feuil1".into(),
            cell: "H4".into()
        }
    );
    assert_eq!(err.location.to_string(), "Feuil1!H4");
    assert_eq!(err.column.as_deref(), Some("Nombre d'adhérents"));
}

#[test]
fn a_named_sheet_is_read_and_a_missing_one_named() {
    let opts = Options {
        sheet: Some("autre".into()),
        ..Options::default()
    };
    let err = relance_import::read_bytes(&xlsx(), FileKind::Cooperatives, &opts)
        .expect_err("the sheet has no register columns");
    assert!(matches!(err, ImportError::MissingColumns { .. }), "{err}");
    let opts = Options {
        sheet: Some("Feuil9".into()),
        ..Options::default()
    };
    let err = relance_import::read_bytes(&xlsx(), FileKind::Cooperatives, &opts)
        .expect_err("no such sheet");
    assert!(err.to_string().contains("Feuil1, Autre"), "{err}");
}

#[test]
fn ods_written_by_spreadsheet_ods() {
    use spreadsheet_ods::{Sheet, WorkBook};
    let mut wb = WorkBook::new_empty();
    let mut sheet = Sheet::new("Registre");
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.set_value(0, c as u32, *h);
    }
    sheet.set_value(1, 0, "تعاونية الأمل");
    sheet.set_value(1, 1, "Benguérir");
    sheet.set_value(1, 2, "31");
    let date = chrono::NaiveDate::from_ymd_opt(2018, 11, 2).expect("date");
    sheet.set_value(1, 3, date);
    sheet.set_value(1, 4, "plantes médicinales et aromatiques");
    sheet.set_value(1, 5, "distillation");
    sheet.set_value(1, 6, "Skhour Rhamna");
    sheet.set_value(1, 7, 40.0);
    sheet.set_value(1, 8, "2");
    wb.push_sheet(sheet);
    let bytes = spreadsheet_ods::write_ods_buf(&mut wb, Vec::new()).expect("ods");
    let import = read(&bytes, FileKind::Cooperatives);
    assert_eq!(import.source.format, Format::Ods);
    assert_eq!(import.source.sheet.as_deref(), Some("Registre"));
    let req = import
        .requests()
        .next()
        .unwrap_or_else(|| panic!("{:?}", import.errors().collect::<Vec<_>>()));
    let data = registration(req);
    assert_eq!(data.name, "تعاونية الأمل");
    assert_eq!(data.registered_on, "2018-11-02");
    assert_eq!(data.members, 40);
    assert_eq!(data.employees, 2);
    assert_eq!(req.cooperative_id(), "BENGUERIR-31");
}

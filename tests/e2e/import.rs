//! `relance import` and the `Batch` RPC end to end, on the embedded log and on JetStream, with
//! files the tests write: a `;` CSV in Windows-1252 with DD/MM/YYYY dates, a UTF-8 CSV with a
//! BOM and Arabic names, an XLSX and an ODS workbook, a file with bad rows; what was written
//! (read back with Get), what was refused with which rule, the rejects file, a second import
//! writing nothing, a changed row reported as a conflict, a partner's import refused row by
//! row, `--output csv` exports, and the demo's sample register loaded into a fresh node.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use relance_proto::v1;
use relance_server::auth::token_hash;
use relance_tests::nats::current_binary;
use relance_tests::requests::{self, prefecture};
use relance_tests::{cli, eventually, NatsServer, RelanceProcess};
use serde_json::Value;

#[derive(Debug, Clone, Copy)]
enum Backend {
    Embedded,
    JetStream,
}

/// A node (`relance serve`, all roles) on `backend`, with its data and NATS server.
struct Node {
    process: RelanceProcess,
    _nats: Option<NatsServer>,
    dir: tempfile::TempDir,
}

impl Node {
    async fn start(backend: Backend, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let data = data.to_str().expect("utf8").to_owned();
        let nats = match backend {
            Backend::Embedded => None,
            Backend::JetStream => Some(NatsServer::start(current_binary()).await),
        };
        let url = nats.as_ref().map(NatsServer::url);
        let mut args = vec!["--data-dir", data.as_str(), "--rate-limit", "0"];
        if let Some(url) = &url {
            args.extend(["--nats", url.as_str()]);
        }
        args.extend_from_slice(extra);
        let process = RelanceProcess::serve(&args).await;
        Self {
            process,
            _nats: nats,
            dir,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir
            .path()
            .join(name)
            .to_str()
            .expect("utf8")
            .to_owned()
    }

    /// `relance import KIND FILE --output json ARGS…`: (success, the JSON report, stderr).
    fn import(&self, kind: &str, file: &str, args: &[&str]) -> (bool, Value, String) {
        let url = self.process.url();
        let mut all = vec!["import", kind, file, "--output", "json", "--server", &url];
        all.extend_from_slice(args);
        let (ok, out, err) = cli(&all, &[]);
        let json = serde_json::from_str(&out).unwrap_or(Value::Null);
        (ok, json, err)
    }

    /// `relance ARGS… --server URL`: stdout, asserting success.
    fn run(&self, args: &[&str]) -> String {
        let url = self.process.url();
        let mut all = args.to_vec();
        all.extend(["--server", &url]);
        let (ok, out, err) = cli(&all, &[]);
        assert!(ok, "relance {args:?} failed: {err}");
        out
    }

    /// The cooperative as the projection shows it, once it is there.
    async fn get(&self, id: &str) -> v1::CooperativeView {
        let q = self.process.queries().await;
        eventually(Duration::from_secs(30), || {
            let mut q = q.clone();
            let id = id.to_owned();
            async move {
                q.get(v1::GetRequest {
                    cooperative_id: id,
                    min_position: 0,
                })
                .await
                .map(tonic::Response::into_inner)
            }
        })
        .await
    }

    /// Registers a fresh cooperative: the position it gets tells what was written before.
    async fn fence(&self, id: &str) -> u64 {
        let mut c = self.process.commands().await;
        c.register(prefecture(requests::register(id, &format!("fence-{id}"))))
            .await
            .expect("fence registration")
            .into_inner()
            .position
    }
}

fn count(report: &Value, key: &str) -> u64 {
    report["summary"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {report}"))
}

fn by_rule(report: &Value, rule: &str) -> u64 {
    report["summary"]["rejected_by_rule"][rule]
        .as_u64()
        .unwrap_or(0)
}

const COOP_HEADER: &str = "Raison sociale;Tribunal;N° d'immatriculation;Date de constitution;Secteur;Branche d'activité;Commune;Nombre d'adhérents;Effectif";

// ------------------------------------------------------------------ the cases, per backend

/// A French Excel CSV (`;`, Windows-1252, DD/MM/YYYY): loaded; loaded again, nothing new; a
/// changed row is a conflict; the list exported as CSV for a spreadsheet.
async fn windows_1252_register(backend: Backend) {
    let node = Node::start(backend, &[]).await;
    let text = format!(
        "{COOP_HEADER}\r\n\
         Coopérative Ibdaâ;Benguérir;101/2015;05/03/2015;Artisanat;couture et broderie;Benguérir;12;20\r\n\
         Coopérative Élevage Rhamna;Benguérir;102/2016;30/06/2016;Agriculture;élevage ovin;Skhour Rhamna;35;2\r\n\
         =SOMME(A1);Benguérir;103/2017;01/02/2017;Agriculture;apiculture;Jbilet;8;0\r\n"
    );
    let (bytes, _, lossy) = encoding_rs::WINDOWS_1252.encode(&text);
    assert!(!lossy);
    let file = node.path("registre.csv");
    std::fs::write(&file, &bytes).expect("write");
    let (ok, report, err) = node.import("cooperatives", &file, &[]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "accepted"), 3, "{report}");
    assert_eq!(count(&report, "rejected"), 0, "{report}");
    let view = node.get("BENGUERIR-101-2015").await;
    assert_eq!(view.name, "Coopérative Ibdaâ");
    assert_eq!(view.registered_on, "2015-03-05");
    assert_eq!(
        node.get("BENGUERIR-102-2016").await.commune,
        "Skhour Rhamna"
    );
    assert_eq!(node.get("BENGUERIR-103-2017").await.name, "=SOMME(A1)");

    // Again: every row already there, nothing written.
    let (ok, report, err) = node.import("cooperatives", &file, &[]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "already_there"), 3, "{report}");
    assert_eq!(count(&report, "accepted"), 0, "{report}");
    assert_eq!(
        node.fence("FENCE-1").await,
        4,
        "the second import wrote something"
    );

    // A changed row reuses its request id with other content: a conflict, nothing written.
    let changed = text.replace("élevage ovin", "élevage caprin");
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&changed);
    std::fs::write(&file, &bytes).expect("write");
    let rejects = node.path("rejets.csv");
    let (ok, report, err) = node.import("cooperatives", &file, &["--rejects", &rejects]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "conflicts"), 1, "{report}");
    assert_eq!(count(&report, "already_there"), 2, "{report}");
    let rejected = std::fs::read_to_string(&rejects).expect("rejects file");
    assert!(rejected.starts_with('\u{feff}'), "{rejected}");
    assert!(
        rejected.contains("élevage caprin") && rejected.contains("request_id_reused"),
        "{rejected}"
    );
    assert_eq!(
        node.fence("FENCE-2").await,
        5,
        "the conflicting row was written"
    );
    assert_eq!(
        node.get("BENGUERIR-102-2016").await.original_activity,
        "élevage ovin"
    );

    // The list for a spreadsheet: BOM, `;`, the formula neutralised, Arabic and accents kept.
    let csv = node.run(&["coop", "list", "--output", "csv"]);
    assert!(
        csv.starts_with("\u{feff}Identifiant;Raison sociale;"),
        "{csv}"
    );
    assert!(csv.contains(";'=SOMME(A1);"), "{csv}");
    assert!(csv.contains("Coopérative Ibdaâ"), "{csv}");
    // What is exported reads back: the imported rows are already there; the two registered
    // through the API (other request ids) are refused as already registered, not written.
    let exported = node.path("export.csv");
    std::fs::write(&exported, csv.as_bytes()).expect("write");
    let (ok, report, err) = node.import("cooperatives", &exported, &[]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "rows"), 5, "{report}");
    assert_eq!(count(&report, "already_there"), 3, "{report}");
    assert_eq!(by_rule(&report, "already_registered"), 2, "{report}");
    assert_eq!(count(&report, "accepted"), 0, "{report}");
}

/// UTF-8 with a BOM and Arabic names: kept byte for byte.
async fn arabic_names_byte_for_byte(backend: Backend) {
    let node = Node::start(backend, &[]).await;
    let names = ["تعاونية النور للخياطة", "تعاونية الأمل – Al Amal"];
    let mut text = format!("\u{feff}Identifiant,{}\n", COOP_HEADER.replace(';', ","));
    for (i, name) in names.iter().enumerate() {
        text.push_str(&format!(
            "REH-AR-{i},{name},Benguérir,{i}/2019,2019-04-0{},Artisanat,تطريز,Benguérir,7,1\n",
            i + 1
        ));
    }
    let file = node.path("arabe.csv");
    std::fs::write(&file, text.as_bytes()).expect("write");
    let (ok, report, err) = node.import("cooperatives", &file, &[]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "accepted"), 2, "{report}");
    for (i, name) in names.iter().enumerate() {
        let view = node.get(&format!("REH-AR-{i}")).await;
        assert_eq!(view.name.as_bytes(), name.as_bytes());
        assert_eq!(view.original_activity, "تطريز");
    }
    let history = node.run(&["coop", "history", "REH-AR-0", "--output", "csv"]);
    assert!(history.starts_with('\u{feff}'), "{history}");
    assert!(history.contains(names[0]), "{history}");
}

/// An XLSX (rust_xlsxwriter) and an ODS (spreadsheet-ods) workbook, the sheet named.
async fn workbooks(backend: Backend) {
    let node = Node::start(backend, &[]).await;
    let headers: Vec<&str> = COOP_HEADER.split(';').collect();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Registre").expect("name");
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("header");
    }
    let row = [
        "Coop XLSX",
        "Benguérir",
        "201",
        "12/05/2012",
        "Agriculture",
        "apiculture",
        "Jbilet",
    ];
    for (c, v) in row.iter().enumerate() {
        ws.write_string(1, c as u16, *v).expect("cell");
    }
    ws.write_number(1, 7, 15.0).expect("members");
    ws.write_number(1, 8, 1.0).expect("employees");
    let xlsx = node.path("registre.xlsx");
    wb.save(&xlsx).expect("save xlsx");

    let mut ods = spreadsheet_ods::WorkBook::new_empty();
    let mut sheet = spreadsheet_ods::Sheet::new("Feuille ODS");
    for (c, h) in headers.iter().enumerate() {
        sheet.set_value(0, c as u32, *h);
    }
    let row = [
        "Coop ODS",
        "Benguérir",
        "202",
        "13/05/2013",
        "Artisanat",
        "poterie",
        "Jaafra",
    ];
    for (c, v) in row.iter().enumerate() {
        sheet.set_value(1, c as u32, *v);
    }
    sheet.set_value(1, 7, 9.0);
    sheet.set_value(1, 8, 0.0);
    ods.push_sheet(sheet);
    let ods_file = node.path("registre.ods");
    spreadsheet_ods::write_ods(&mut ods, &ods_file).expect("save ods");

    let (ok, report, err) = node.import("cooperatives", &xlsx, &["--sheet", "Registre"]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "accepted"), 1, "{report}");
    let (ok, report, err) = node.import("cooperatives", &ods_file, &[]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "accepted"), 1, "{report}");
    let v = node.get("BENGUERIR-201").await;
    assert_eq!(
        (v.name.as_str(), v.registered_on.as_str(), v.members),
        ("Coop XLSX", "2012-05-12", 15)
    );
    let v = node.get("BENGUERIR-202").await;
    assert_eq!(
        (v.name.as_str(), v.commune.as_str()),
        ("Coop ODS", "Jaafra")
    );
}

/// Bad rows: refused by the importer or by the node, each with its rule, in the rejects file;
/// `--dry-run` and `--all-or-nothing` write nothing.
async fn bad_rows(backend: Backend) {
    let node = Node::start(backend, &[]).await;
    let file = node.path("mauvais.csv");
    let text = format!(
        "{COOP_HEADER}\n\
         Bonne;Benguérir;1/2020;02/01/2020;Agriculture;apiculture;Jbilet;5;0\n\
         Date fausse;Benguérir;2/2020;31/02/2020;Agriculture;apiculture;Jbilet;5;0\n\
         Bonne;Benguérir;1/2020;02/01/2020;Agriculture;apiculture;Jbilet;5;0\n\
         Future;Benguérir;3/2020;02/01/2999;Agriculture;apiculture;Jbilet;5;0\n\
         Sans secteur;Benguérir;4/2020;02/01/2020;;apiculture;Jbilet;5;0\n"
    );
    std::fs::write(&file, &text).expect("write");
    // A dry run checks against the node and writes nothing.
    let (ok, report, err) = node.import("cooperatives", &file, &["--dry-run"]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "accepted"), 1, "{report}");
    assert_eq!(by_rule(&report, "date_in_future"), 1, "{report}");
    assert_eq!(report["written"], Value::Bool(false));
    // All or nothing: a rejected row, nothing written, a failure.
    let (ok, report, _) = node.import("cooperatives", &file, &["--all-or-nothing"]);
    assert!(!ok, "{report}");
    assert_eq!(report["written"], Value::Bool(false), "{report}");
    assert_eq!(
        node.fence("FENCE-1").await,
        1,
        "a dry run or all-or-nothing wrote"
    );

    let rejects = node.path("rejets.csv");
    let (ok, report, err) = node.import("cooperatives", &file, &["--rejects", &rejects]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "rows"), 5, "{report}");
    assert_eq!(count(&report, "accepted"), 1, "{report}");
    assert_eq!(count(&report, "rejected"), 4, "{report}");
    assert_eq!(by_rule(&report, "invalid_date"), 1, "{report}");
    assert_eq!(by_rule(&report, "duplicate_row"), 1, "{report}");
    assert_eq!(by_rule(&report, "date_in_future"), 1, "{report}");
    assert_eq!(by_rule(&report, "required_field"), 1, "{report}");
    let rejected = std::fs::read_to_string(&rejects).expect("rejects file");
    let lines: Vec<&str> = rejected.lines().collect();
    assert_eq!(lines.len(), 5, "{rejected}");
    assert!(
        lines[0].starts_with("\u{feff}Raison sociale;") && lines[0].ends_with(";Motif du rejet")
    );
    assert!(lines[1].starts_with("Date fausse;") && lines[1].contains("invalid_date"));
    assert!(lines[2].starts_with("Bonne;") && lines[2].contains("duplicate_row"));
    assert!(lines[3].starts_with("Future;") && lines[3].contains("date_in_future"));
    assert!(lines[4].starts_with("Sans secteur;") && lines[4].contains("required_field"));
    assert_eq!(node.get("BENGUERIR-1-2020").await.name, "Bonne");

    // Facts on a cooperative the node does not know are refused by the node.
    let facts = node.path("faits.csv");
    std::fs::write(
        &facts,
        "Identifiant;Type;Date;Autorité;Motif;Portée;Nombre d'adhérents;Effectif\n\
         BENGUERIR-1-2020;effectif;01/06/2020;;;;6;1\n\
         INCONNUE-1;arrêt;20/03/2020;Autorités publiques;BTP;totale;;\n",
    )
    .expect("write");
    let (ok, report, err) = node.import("facts", &facts, &[]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "accepted"), 1, "{report}");
    assert_eq!(
        by_rule(&report, "cooperative_not_registered"),
        1,
        "{report}"
    );
    assert_eq!(node.get("BENGUERIR-1-2020").await.members, 6);
}

/// A partner's token: its own support is written, another organisation's support and a
/// prefecture fact are refused row by row.
async fn partner_import(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = dir.path().join("auth.json");
    let people = [
        ("m.najah", "prefecture", "prefecture"),
        ("ocp-1", "OCP", "partner"),
    ];
    let entries: Vec<Value> = people
        .iter()
        .map(|(id, org, role)| {
            serde_json::json!({"id": id, "organisation": org, "roles": [role],
                "token_sha256": hex::encode(token_hash(&format!("rlc_{id}")))})
        })
        .collect();
    std::fs::write(
        &auth,
        serde_json::json!({ "principals": entries }).to_string(),
    )
    .expect("auth");
    let node = Node::start(backend, &["--auth", auth.to_str().expect("utf8")]).await;
    let coops = node.path("coops.csv");
    std::fs::write(
        &coops,
        format!("Identifiant;{COOP_HEADER}\nREH-P1;Coop P;Benguérir;9/2010;01/01/2010;Artisanat;couture;Benguérir;4;0\n"),
    )
    .expect("write");
    let (ok, report, err) = node.import("cooperatives", &coops, &["--token", "rlc_m.najah"]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "accepted"), 1, "{report}");
    let facts = node.path("appuis.csv");
    std::fs::write(
        &facts,
        "Identifiant;Type;Date;Partenaire;Type d'appui;Montant;Description;Autorité;Motif;Portée\n\
         REH-P1;appui;15/04/2020;OCP;commercialisation;10 000,00;masques;;;\n\
         REH-P1;appui;16/04/2020;INDH;financier;5 000;fonds;;;\n\
         REH-P1;arrêt;20/03/2020;;;;;Autorités publiques;BTP;totale\n",
    )
    .expect("write");
    let (ok, report, err) = node.import("facts", &facts, &["--token", "rlc_ocp-1"]);
    assert!(ok, "{err}");
    assert_eq!(count(&report, "accepted"), 1, "{report}");
    assert_eq!(by_rule(&report, "support_not_in_own_name"), 1, "{report}");
    assert_eq!(by_rule(&report, "role_not_allowed"), 1, "{report}");
}

/// The RPC from a plain client: a refused entry among acknowledged ones; entries on one
/// cooperative see each other; a dry run writes nothing; over the bound is refused.
async fn batch_from_a_plain_client(backend: Backend) {
    use v1::batch_command::Command as C;
    let node = Node::start(backend, &[]).await;
    let mut c = node.process.commands().await;
    let entry = |c: C| v1::BatchCommand { command: Some(c) };
    let batch = |dry_run: bool| v1::BatchRequest {
        commands: vec![
            entry(C::Register(requests::register("REH-B1", "b1"))),
            entry(C::Halt(requests::halt("REH-NONE", "b2"))),
            entry(C::Register(requests::register("REH-B2", "b3"))),
            // Sees REH-B1's registration, earlier in the same batch.
            entry(C::Halt(requests::halt("REH-B1", "b4"))),
            entry(C::Register(requests::register("REH-B1", "b5"))),
        ],
        dry_run,
    };
    let dry = c
        .batch(prefecture(batch(true)))
        .await
        .expect("dry run")
        .into_inner();
    assert_eq!(dry.results.len(), 5);
    let reply = c
        .batch(prefecture(batch(false)))
        .await
        .expect("batch")
        .into_inner();
    let results: Vec<_> = reply
        .results
        .into_iter()
        .map(|r| r.result.expect("answered"))
        .collect();
    use v1::batch_result::Result as R;
    let ok = |r: &R| match r {
        R::Reply(reply) => reply.clone(),
        R::Refusal(f) => panic!("refused: {f:?}"),
    };
    let refused = |r: &R| match r {
        R::Refusal(f) => f.clone(),
        R::Reply(reply) => panic!("accepted: {reply:?}"),
    };
    assert_eq!(ok(&results[0]).version, 1);
    let none = refused(&results[1]);
    assert_eq!(none.rule, "cooperative_not_registered");
    assert_eq!(none.code, tonic::Code::NotFound as i32);
    assert_eq!(ok(&results[2]).version, 1);
    assert_eq!(ok(&results[3]).version, 2);
    assert_eq!(refused(&results[4]).rule, "already_registered");
    // The dry run wrote nothing: the batch's first event is at position 1.
    let positions = [
        ok(&results[0]).position,
        ok(&results[2]).position,
        ok(&results[3]).position,
    ];
    assert_eq!(positions.iter().min(), Some(&1), "{positions:?}");
    assert_eq!(node.fence("FENCE-1").await, 4);
    // Sent again: the same answers, duplicates, nothing written.
    let again = c
        .batch(prefecture(batch(false)))
        .await
        .expect("again")
        .into_inner();
    let dup = again.results[0].result.as_ref().map(ok).expect("answered");
    assert!(dup.duplicate && dup.position == ok(&results[0]).position);
    assert_eq!(node.get("REH-B1").await.status, "halted");
    // Over the bound.
    let many = v1::BatchRequest {
        commands: (0..1001)
            .map(|i| entry(C::Register(requests::register(&format!("REH-M{i}"), "m"))))
            .collect(),
        dry_run: false,
    };
    let status = c.batch(prefecture(many)).await.expect_err("too large");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(
        status
            .metadata()
            .get("relance-rule")
            .and_then(|v| v.to_str().ok()),
        Some("batch_too_large")
    );
}

macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::Embedded).await;
                }
            )+
        }
        mod jetstream {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::JetStream).await;
                }
            )+
        }
    };
}

on_both_backends!(
    windows_1252_register,
    arabic_names_byte_for_byte,
    workbooks,
    bad_rows,
    partner_import,
    batch_from_a_plain_client,
);

/// The demo's sample register loads into a fresh node, every row accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_register_loads_into_a_fresh_node() {
    let node = Node::start(Backend::Embedded, &[]).await;
    let file = node.path("rehamna.csv");
    let (ok, _, err) = cli(&["demo", "--write-register", &file], &[]);
    assert!(ok, "{err}");
    let (ok, report, err) = node.import("cooperatives", &file, &[]);
    assert!(ok, "{err}");
    let rows = count(&report, "rows");
    assert!(rows > 250, "{report}");
    assert_eq!(count(&report, "accepted"), rows, "{report}");
    let summary = node.run(&["summary", "--output", "csv"]);
    assert!(summary.starts_with('\u{feff}'), "{summary}");
}

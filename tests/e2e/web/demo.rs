//! `relance demo --web`: the article's province in a real browser.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use relance_tests::relance::relance_bin;

use super::{http, spaces, workspace, Browser};

/// `relance demo --web 127.0.0.1:0`, stopped (SIGINT, then SIGKILL) on drop.
struct Demo {
    child: Child,
    web: SocketAddr,
}

impl Demo {
    fn start() -> Self {
        let mut child = Command::new(relance_bin())
            .args(["demo", "--web", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start relance demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("relance web on http://") {
                    let _ = tx.send(a.trim().trim_end_matches('/').to_owned());
                }
            }
        });
        let web = rx
            .recv_timeout(Duration::from_secs(240))
            .expect("relance demo printed the dashboard's address")
            .parse()
            .expect("an address");
        Self { child, web }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.web)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .ok();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The event column of Ibdaat Rehamna's timeline, in French.
const IBDAAT_FACTS: [&str; 10] = [
    "Immatriculation",
    "Autorisation obtenue",
    "Reconversion",
    "Soutien accordé",
    "Canal de vente ouvert",
    "Canal de vente ouvert",
    "Canal de vente ouvert",
    "Canal de vente ouvert",
    "Canal de vente ouvert",
    "Effectifs déclarés",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_demo_province_ibdaat_time_travel_and_arabic_in_a_browser() {
    let demo = tokio::task::spawn_blocking(Demo::start)
        .await
        .expect("demo started");
    let b = Browser::start().await;

    // The overview: the article's figures.
    let html = b.open(&demo.url("/")).await;
    assert_eq!(b.attr("html", "lang").await.as_deref(), Some("fr"));
    assert!(html.len() < 300_000, "overview weighs {} bytes", html.len());
    let figures = spaces(&b.text("#figures").await);
    assert!(figures.contains("Coopératives 256"), "{figures}");
    let sectors = spaces(&b.text("#sectors").await);
    assert!(sectors.contains("agriculture 200 78,1 %"), "{sectors}");
    assert!(sectors.contains("artisanat 54 21,1 %"), "{sectors}");
    let support = spaces(&b.text("#support").await);
    assert!(support.contains("OCP commercialisation"), "{support}");
    assert!(support.contains("1 953 875,00 MAD"), "{support}");
    assert_eq!(b.texts("figure.chart svg").await.len(), 3, "three charts");
    let events = b.texts("#events tbody tr").await;
    assert!(
        events.iter().any(|r| r.starts_with("mars 2020")),
        "{events:?}"
    );
    let shot = b.screenshot("overview").await;
    std::fs::copy(&shot, workspace().join("docs").join("dashboard.png"))
        .expect("docs/dashboard.png");

    // Ibdaat Rehamna: its ten facts, in order.
    b.open(&demo.url("/coops?q=ibdaat")).await;
    b.click("#coops tbody a").await;
    b.wait_for_path("/coop/REH-0001").await;
    assert_eq!(b.text("h1").await, "Ibdaat Rehamna");
    let kinds = b.texts("#timeline tbody tr td:nth-child(3)").await;
    assert_eq!(kinds, IBDAAT_FACTS, "timeline");
    let timeline = b.text("#timeline").await;
    assert!(timeline.contains("IMANOR"), "{timeline}");
    assert!(timeline.contains("Marrakech"), "{timeline}");
    assert!(
        spaces(&timeline).contains("2 000–3 000 par jour"),
        "{timeline}"
    );
    b.screenshot("ibdaat").await;

    // Time travel: what was known on 20 April, and the state on 7 April.
    b.open(&demo.url("/coop/REH-0001?known_at=2020-04-20"))
        .await;
    assert_eq!(b.texts("#timeline tbody tr").await.len(), 4);
    assert!(!b.text("#support").await.contains("Marrakech"));
    b.open(&demo.url("/coop/REH-0001?as_of=2020-04-07")).await;
    let facts = b.text("#facts").await;
    assert!(facts.contains("en activité"), "{facts}");
    assert!(facts.contains("couture et broderie"), "{facts}");
    b.open(&demo.url("/coop/REH-0001")).await;
    assert!(b.text("#facts").await.contains("reconvertie"));

    // Arabic: right to left, remembered in a cookie; back to French through the switch.
    b.open(&demo.url("/coop/REH-0001?lang=ar")).await;
    assert_eq!(b.attr("html", "dir").await.as_deref(), Some("rtl"));
    b.open(&demo.url("/")).await;
    assert_eq!(b.attr("html", "lang").await.as_deref(), Some("ar"));
    assert_eq!(b.attr("html", "dir").await.as_deref(), Some("rtl"));
    b.screenshot("overview-ar").await;
    b.click(".langs a[lang=fr]").await;
    assert_eq!(b.attr("html", "dir").await.as_deref(), Some("ltr"));

    // Every page in every language: no missing label.
    for lang in ["fr", "ar", "en"] {
        for path in [
            "/",
            "/?period=week",
            "/coops",
            "/coops?sector=artisanat&status=reoriented&sort=name",
            "/coop/REH-0001",
            "/coop/REH-0002",
            "/partner?name=INDH",
            "/partner",
            "/audit",
        ] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let html = b.open(&demo.url(&format!("{path}{sep}lang={lang}"))).await;
            assert!(!html.contains("⟦"), "a missing label on {path} in {lang}");
        }
    }
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // Downloads: a table as CSV with a BOM, the audit export as JSON Lines.
    let (status, headers, body) =
        http(demo.web, "GET", "/partner?name=INDH&csv=grants", &[], "").await;
    assert_eq!(status, 200);
    assert_eq!(
        super::header(&headers, "content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert!(body.starts_with('\u{feff}'), "{body}");
    assert_eq!(body.lines().count(), 1 + 46, "INDH's 46 grants: {body}");
    let (status, _, export) = http(demo.web, "GET", "/audit/export.jsonl", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        export.starts_with("{\"kind\":\"export\""),
        "{}",
        &export[..export.len().min(200)]
    );
    assert_eq!(export.lines().count(), 1 + 458, "header and every event");
}

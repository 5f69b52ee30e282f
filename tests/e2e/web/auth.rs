//! `relance serve --auth --web`: login with a token, roles as on gRPC, logout, hostile names
//! shown as text, security headers, the login rate limit, loopback only without `--auth`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use relance_server::auth::{token_hash, Role};
use relance_tests::relance::{relance_bin, RelanceProcess};
use relance_tests::requests::{self, Overrides as _};

use super::{header, http, Browser};

const HOSTILE: &str = "<script>alert(1)</script>";

/// An auth file with one principal per role; returns the tokens by role.
fn principals(dir: &Path) -> (std::path::PathBuf, Vec<(Role, String)>) {
    let mut entries = Vec::new();
    let mut tokens = Vec::new();
    for (role, id, org) in [
        (Role::Prefecture, "m.najah", "prefecture"),
        (Role::Auditor, "auditor-1", "cour-des-comptes"),
        (Role::Reader, "reader-1", "ODCo"),
    ] {
        let token = format!("rlc_web_{id}");
        entries.push(serde_json::json!({
            "id": id, "organisation": org, "roles": [role.as_str()],
            "token_sha256": hex::encode(token_hash(&token)),
        }));
        tokens.push((role, token));
    }
    let file = dir.join("auth.json");
    std::fs::write(
        &file,
        serde_json::json!({ "principals": entries }).to_string(),
    )
    .expect("write the auth file");
    (file, tokens)
}

async fn login(b: &Browser, base: &str, token: &str) {
    b.open(&format!("{base}/login")).await;
    b.client
        .find(fantoccini::Locator::Css("#token"))
        .await
        .expect("token field")
        .send_keys(token)
        .await
        .expect("type the token");
    b.click("form.login button").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_the_dashboard_needs_a_login_gives_audit_to_auditors_only_and_escapes_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (file, tokens) = principals(dir.path());
    let token = |r: Role| {
        tokens
            .iter()
            .find(|(x, _)| *x == r)
            .map(|(_, t)| t.clone())
            .expect("token")
    };
    let data = dir.path().join("data");
    let node = RelanceProcess::serve(&[
        "--data-dir",
        data.to_str().expect("utf8"),
        "--auth",
        file.to_str().expect("utf8"),
        "--web",
        "127.0.0.1:0",
        "--rate-limit",
        "5",
    ])
    .await;
    let web = node.web.expect("the dashboard's address");
    let base = format!("http://{web}");
    let mut commands = node.commands().await;
    let hostile =
        requests::register("REH-0666", "hostile-1").with(|d| HOSTILE.clone_into(&mut d.name));
    commands
        .register(requests::with_token(hostile, &token(Role::Prefecture)))
        .await
        .expect("register the hostile name");

    // Headers of every answer; without a session, the login page.
    let (status, headers, _) = http(web, "GET", "/", &[], "").await;
    assert_eq!(status, 303, "anonymous is sent to the login page");
    assert_eq!(header(&headers, "location"), Some("/login"));
    let csp = header(&headers, "content-security-policy")
        .expect("CSP")
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));

    // A reader: pages, the hostile name as text, no audit.
    let b = Browser::start().await;
    b.open(&format!("{base}/")).await;
    assert_eq!(b.path().await, "/login");
    login(&b, &base, "not-a-token").await;
    assert!(
        b.text("p.error").await.len() > 3,
        "an unknown token is refused"
    );
    login(&b, &base, &token(Role::Reader)).await;
    b.wait_for_path("/").await;
    let cookie = b
        .client
        .get_named_cookie("relance_session")
        .await
        .expect("session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie.same_site().map(|s| format!("{s:?}")).as_deref(),
        Some("Strict")
    );
    let html = b.open(&format!("{base}/coops")).await;
    assert_eq!(
        b.text("#coops tbody a").await,
        HOSTILE,
        "the name shows as text"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped in the page"
    );
    b.click("#coops tbody a").await;
    assert_eq!(b.text("h1").await, HOSTILE);
    b.open(&format!("{base}/audit")).await;
    assert!(
        b.text("main").await.contains("Accès refusé"),
        "a reader has no audit page"
    );
    assert!(
        b.texts("header nav a[href='/audit']").await.is_empty(),
        "no audit link for a reader"
    );
    let session = format!("relance_session={}", cookie.value());
    let (status, _, _) = http(
        web,
        "GET",
        "/audit/export.jsonl",
        &[("cookie", &session)],
        "",
    )
    .await;
    assert_eq!(status, 403, "nor the export");
    b.click("form.logout button").await;
    b.wait_for_path("/login").await;
    let (status, _, _) = http(web, "GET", "/coops", &[("cookie", &session)], "").await;
    assert_eq!(status, 303, "the session ended with the logout");

    // The refusals above were logged by the browser as failed loads: expected, drained here.
    let refused = b.console_errors().await;
    assert!(
        refused
            .iter()
            .all(|e| e.contains("401") || e.contains("403")),
        "{refused:?}"
    );

    // An auditor: the audit page and the export.
    login(&b, &base, &token(Role::Auditor)).await;
    b.wait_for_path("/").await;
    b.open(&format!("{base}/audit")).await;
    let integrity = b.text("#integrity").await;
    assert!(
        integrity
            .split_whitespace()
            .any(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit())),
        "{integrity}"
    );
    b.screenshot("audit").await;
    let cookie = b
        .client
        .get_named_cookie("relance_session")
        .await
        .expect("session cookie");
    let session = format!("relance_session={}", cookie.value());
    let (status, _, export) = http(
        web,
        "GET",
        "/audit/export.jsonl",
        &[("cookie", &session)],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        export.lines().count(),
        2,
        "header and the one event: {export}"
    );
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // Logins are rate-limited like gRPC calls (5 a second, bursts of 10).
    let mut limited = false;
    for _ in 0..30 {
        let (status, _, _) = http(
            web,
            "POST",
            "/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            "token=guess",
        )
        .await;
        limited |= status == 429;
    }
    assert!(limited, "a flood of logins is answered 429");
}

#[test]
fn without_auth_the_dashboard_binds_loopback_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(relance_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--web",
            "0.0.0.0:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start relance");
    for _ in 0..300 {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).ok();
            assert!(!status.success());
            assert!(err.contains("loopback"), "{err}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().ok();
    child.wait().ok();
    panic!("relance serve --web 0.0.0.0:0 without --auth kept running");
}

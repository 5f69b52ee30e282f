//! The router in process, on empty views: headers, login and roles, CSV, languages.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use relance_projection::Projection;
use relance_server::auth::{token_hash, Authenticator, RateLimiter};
use tower::ServiceExt as _;

use crate::{router, Web};

fn web(dir: &std::path::Path, auth: bool) -> Web {
    let mut web = Web::new(Projection::open(dir).expect("open the views"));
    if auth {
        let entry = |id: &str, role: &str| {
            format!(
                r#"{{"id":"{id}","organisation":"o","roles":["{role}"],"token_sha256":"{}"}}"#,
                hex::encode(token_hash(&format!("tok-{id}")))
            )
        };
        let file = format!(
            r#"{{"principals":[{},{}]}}"#,
            entry("reader", "reader"),
            entry("auditor", "auditor")
        );
        web.authenticator = Some(Arc::new(Authenticator::parse(&file).expect("auth file")));
        web.limiter = Some(Arc::new(RateLimiter::new(1)));
    }
    web
}

async fn get(web: &Web, path: &str, cookie: Option<&str>) -> axum::response::Response {
    let mut r = Request::get(path);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    router(web.clone())
        .oneshot(r.body(Body::empty()).expect("request"))
        .await
        .expect("answer")
}

async fn login(web: &Web, token: &str) -> axum::response::Response {
    let r = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))
        .expect("request");
    router(web.clone()).oneshot(r).await.expect("answer")
}

fn set_cookie(r: &axum::response::Response) -> String {
    r.headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn body(r: axum::response::Response) -> String {
    let b = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8_lossy(&b).into_owned()
}

#[tokio::test]
async fn every_page_answers_with_the_security_headers_in_every_language() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = web(dir.path(), false);
    for lang in ["fr", "ar", "en"] {
        for path in ["/", "/coops", "/partner", "/audit", "/login"] {
            let r = get(&web, &format!("{path}?lang={lang}"), None).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let h = r.headers();
            let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
            assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
            assert!(set_cookie(&r).starts_with(&format!("relance_lang={lang}")));
            let html = body(r).await;
            assert!(html.contains(&format!("lang=\"{lang}\"")), "{path}");
            assert!(
                !html.contains(crate::i18n::MISSING),
                "a missing label on {path} in {lang}"
            );
            assert!(
                !html.contains("style=") && !html.contains("<script"),
                "{path}"
            );
        }
    }
    let r = get(&web, "/coop/REH-9999", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = get(&web, "/?csv=figures", None).await;
    assert!(body(r).await.starts_with("\u{feff}\"Indicateur\""));
    let r = get(&web, "/?from=2020-13-01", None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn with_auth_a_session_cookie_opens_pages_by_role_and_logins_are_rate_limited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let web = web(dir.path(), true);
    let r = get(&web, "/", None).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = login(&web, "tok-reader").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&r);
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Max-Age=")
    );
    assert!(!cookie.contains("Secure"), "no Secure flag without TLS");
    let session = cookie.split(';').next().expect("name=value").to_owned();
    assert_eq!(
        get(&web, "/", Some(&session)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&web, "/audit", Some(&session)).await.status(),
        StatusCode::FORBIDDEN
    );
    let r = login(&web, "tok-auditor").await;
    let auditor = set_cookie(&r)
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    assert_eq!(
        get(&web, "/audit", Some(&auditor)).await.status(),
        StatusCode::OK
    );
    // One login a second, bursts of two: the third at once is refused.
    assert_eq!(
        login(&web, "wrong").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

//! The dashboard in a real headless Chromium, driven through chromedriver (WebDriver).
//!
//! - `demo`: `relance demo --web` — the province's figures, Ibdaat Rehamna's ten facts, time
//!   travel, Arabic right to left, CSV downloads, no console error; screenshots under
//!   `target/web-screenshots/` and `docs/dashboard.png`.
//! - `auth`: `relance serve --auth --web` — login, roles (audit for auditors only), logout,
//!   a hostile name shown as text, the security headers, the login rate limit.
//!
//! Chromium and chromedriver come from Debian (`apt-get install chromium chromium-driver`;
//! scripts/test.sh installs them when missing). Without them these tests fail: they never skip.

mod auth;
mod demo;

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};

/// How long a page may take to show an element or reach a path after a click.
const FIND_WITHIN: Duration = Duration::from_secs(10);

/// Where Debian puts them; `RELANCE_CHROMEDRIVER` / `RELANCE_CHROMIUM` override.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn tool(var: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        p.is_file(),
        "{} is missing: the dashboard's browser tests need Chromium and chromedriver \
         (as root: apt-get update && apt-get install -y chromium chromium-driver; \
         scripts/test.sh does it), or set {var}",
        p.display()
    );
    p
}

/// A chromedriver process and one headless Chromium session, both ended on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        let driver_bin = tool("RELANCE_CHROMEDRIVER", CHROMEDRIVER);
        let chromium = tool("RELANCE_CHROMIUM", CHROMIUM);
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // In its own process group, so Chromium ends with it (see Drop).
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile directory");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,2400",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        caps.insert(
            "goog:loggingPrefs".into(),
            serde_json::json!({ "browser": "ALL" }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        driver,
                        _profile: profile,
                    }
                }
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no Chromium session through chromedriver on {url}: {last:?}");
    }

    /// Opens `url` and returns the page's HTML.
    pub async fn open(&self, url: &str) -> String {
        self.client.goto(url).await.expect("navigate");
        self.client.source().await.expect("page source")
    }

    /// The element matching `css`, waited for at most `FIND_WITHIN`.
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(FIND_WITHIN)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// The text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.element(css).await.text().await.expect("element text")
    }

    /// The value of attribute `name` of the element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.element(css).await.attr(name).await.expect("attribute")
    }

    /// The texts of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find elements")
        {
            out.push(e.text().await.expect("element text"));
        }
        out
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.element(css).await.click().await.expect("click");
    }

    /// Waits (bounded) until the current URL's path is `expected`: a click that navigates
    /// returns before the next page is there.
    pub async fn wait_for_path(&self, expected: &str) {
        let mut seen = String::new();
        let deadline = std::time::Instant::now() + FIND_WITHIN;
        while std::time::Instant::now() < deadline {
            seen = self.path().await;
            if seen == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the browser is at {seen}, not {expected}");
    }

    /// The path of the current URL.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current URL")
            .path()
            .to_owned()
    }

    /// Saves a screenshot of the viewport as `target/web-screenshots/NAME.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = workspace().join("target").join("web-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The browser's console messages at SEVERE level since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let v = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("read the browser log");
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].to_string())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started: the process group this test created.
        let group = -(self.driver.id() as i32);
        Command::new("kill")
            .args(["-KILL", "--", &group.to_string()])
            .status()
            .ok();
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// chromedriver's log endpoint (not part of W3C WebDriver).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// A plain HTTP/1.1 request on loopback: status, headers (lower-case names), body.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, headers, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The value of header `name` in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Spaces of every kind (French thousands separators are narrow no-break spaces) as one.
pub fn spaces(s: &str) -> String {
    s.replace(['\u{202f}', '\u{a0}'], " ")
}

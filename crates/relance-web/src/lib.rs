//! The read-only dashboard: server-rendered pages over a projection's views.
//!
//! [`router`] serves, from an `Arc<Projection>` in the same process: the province overview
//! (`/`), the cooperatives (`/coops`), one cooperative with time travel (`/coop/{id}`), one
//! partner (`/partner?name=`), the audit page and export for auditors (`/audit`,
//! `/audit/export.jsonl`), login and logout. Every page is HTML rendered by `maud` (escaped by
//! construction), charts are SVG drawn by `plotters`, every table downloads as CSV
//! (`?csv=TABLE`), and no page needs JavaScript or anything outside the binary (`/static/`).
//!
//! Modules: `i18n` (catalogues and formats), `table` (tables as HTML and CSV), `chart`,
//! `layout` (the page shell), `session` (login, cookies, who is asking), `pages`.

use std::future::Future;
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use relance_log::EventLog;
use relance_projection::{Projection, ProjectionError, Serving};
use relance_server::auth::{Authenticator, RateLimiter};
use tokio::net::TcpListener;

mod chart;
pub mod i18n;
mod layout;
mod pages;
mod session;
mod table;
#[cfg(test)]
mod tests;

pub use session::Sessions;

/// What the pages read, and how callers are checked.
#[derive(Clone)]
pub struct Web {
    /// The views the pages read (switched after a rebuild): each page reads one.
    pub projection: Serving,
    /// The event log, for the audit page's head and export; `None` hides them.
    pub log: Option<Arc<dyn EventLog>>,
    /// `None`: authentication off (loopback only), every page open.
    pub authenticator: Option<Arc<Authenticator>>,
    /// Login attempts per client address, as gRPC calls per principal.
    pub limiter: Option<Arc<RateLimiter>>,
    /// Mark the session cookie `Secure` (the site is served behind TLS).
    pub secure_cookies: bool,
    pub sessions: Arc<Sessions>,
}

impl Web {
    /// Pages over `projection`, authentication off.
    pub fn new(projection: Arc<Projection>) -> Self {
        Self::serving(Serving::new(projection))
    }

    /// Pages over the projection a node serves, authentication off.
    pub fn serving(projection: Serving) -> Self {
        Self {
            projection,
            log: None,
            authenticator: None,
            limiter: None,
            secure_cookies: false,
            sessions: Arc::new(Sessions::default()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("projection: {0}")]
    Projection(#[from] ProjectionError),
    #[error("event log: {0}")]
    Log(#[from] relance_log::LogError),
    #[error("web server: {0}")]
    Io(#[from] std::io::Error),
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let code = match &self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Forbidden => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => {
                tracing::error!(error = %self, "web page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let text = match &self {
            WebError::BadRequest(m) => format!("{}: {m}", code.as_str()),
            _ => code.to_string(),
        };
        (code, text).into_response()
    }
}

/// The dashboard's routes, with the security headers on every answer.
pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/coops", get(pages::coops::page))
        .route("/coop/{id}", get(pages::coop::page))
        .route("/partner", get(pages::partner::page))
        .route("/audit", get(pages::audit::page))
        .route("/audit/export.jsonl", get(pages::audit::export))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/lang", get(session::set_lang))
        .route("/static/style.css", get(style))
        .route("/favicon.ico", get(favicon))
        .fallback(|| async { WebError::NotFound })
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

/// The one style sheet, in the binary.
async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../assets/style.css"),
    )
        .into_response()
}

/// The site's icon (SVG), so browsers find one where they look.
async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("../assets/favicon.svg"),
    )
        .into_response()
}

/// No script at all, styles from the site only, no framing, no sniffing.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// Serves the dashboard on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    web: Web,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    axum::serve(
        listener,
        router(web).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

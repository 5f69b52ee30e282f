//! Who is asking, and in which language: sessions opened by a login with a bearer token
//! (checked by the same [`Authenticator`](relance_server::auth::Authenticator) as gRPC), the
//! session and language cookies, login, logout and the language switch.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use relance_server::auth::{Permission, Principal};
use serde::Deserialize;

use crate::i18n::Lang;
use crate::{layout, Web};

/// How long a session lasts after login.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
const SESSION_COOKIE: &str = "relance_session";
const LANG_COOKIE: &str = "relance_lang";
/// Most sessions kept at once; the oldest are dropped first.
const MAX_SESSIONS: usize = 10_000;

/// Open sessions: random id → principal and expiry.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, (Arc<Principal>, Instant)>>);

impl Sessions {
    fn open(&self, p: Arc<Principal>) -> Option<String> {
        let mut id = [0u8; 32];
        getrandom::getrandom(&mut id).ok()?;
        let id = hex::encode(id);
        let mut map = self.0.lock().ok()?;
        let now = Instant::now();
        map.retain(|_, (_, exp)| *exp > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, e))| *e)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), (p, now + SESSION_TTL));
        Some(id)
    }

    fn get(&self, id: &str) -> Option<Arc<Principal>> {
        let map = self.0.lock().ok()?;
        map.get(id)
            .filter(|(_, exp)| *exp > Instant::now())
            .map(|(p, _)| p.clone())
    }

    fn close(&self, id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(id);
        }
    }
}

/// Who is asking.
#[derive(Clone)]
pub enum Who {
    /// Authentication is off (loopback only): every page is open.
    Open,
    Anonymous,
    User(Arc<Principal>),
}

/// The request's language, caller and address, for every page.
pub struct Ctx {
    pub lang: Lang,
    pub who: Who,
    pub uri: Uri,
    /// Set when `?lang=` chose the language: the answer remembers it in a cookie.
    pub chosen_lang: Option<Lang>,
}

impl Ctx {
    pub fn may(&self, p: Permission) -> bool {
        match &self.who {
            Who::Open => true,
            Who::Anonymous => false,
            Who::User(u) => u.may(p),
        }
    }

    /// `None` when the caller may `p`; else the answer instead of the page: the login page
    /// (anonymous) or a refusal.
    pub fn refusal(&self, p: Permission) -> Option<Response> {
        if self.may(p) {
            return None;
        }
        Some(match self.who {
            Who::Anonymous => Redirect::to("/login").into_response(),
            _ => {
                let mut r = layout::page(
                    self,
                    self.lang.t("forbidden.title"),
                    html! { p.notice { (self.lang.t("forbidden.text")) } },
                );
                *r.status_mut() = StatusCode::FORBIDDEN;
                r
            }
        })
    }

    /// The current URL with `key=value` set (others kept), for links such as the CSV's.
    pub fn with_param(&self, key: &str, value: &str) -> String {
        let mut pairs: Vec<(String, String)> = self
            .uri
            .query()
            .map(|q| {
                q.split('&')
                    .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                    .filter(|(k, _)| *k != key && *k != "lang" && !k.is_empty())
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        pairs.push((key.to_owned(), encode(value)));
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", self.uri.path(), q.join("&"))
    }
}

/// What a path segment or a query value keeps unencoded (RFC 3986's unreserved characters).
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path segment or a query value.
pub fn encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, COMPONENT).to_string()
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn query_lang(uri: &Uri) -> Option<Lang> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.strip_prefix("lang="))
        .find_map(Lang::parse)
}

impl FromRequestParts<Web> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let chosen_lang = query_lang(&parts.uri);
        let lang = chosen_lang
            .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(Lang::parse))
            .unwrap_or(Lang::Fr);
        let who = match &web.authenticator {
            None => Who::Open,
            Some(_) => cookie(&parts.headers, SESSION_COOKIE)
                .and_then(|id| web.sessions.get(id))
                .map_or(Who::Anonymous, Who::User),
        };
        Ok(Ctx {
            lang,
            who,
            uri: parts.uri.clone(),
            chosen_lang,
        })
    }
}

/// The language cookie's header value.
pub fn lang_cookie(lang: Lang) -> String {
    format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    )
}

#[derive(Deserialize)]
pub struct SetLang {
    set: String,
    #[serde(default)]
    back: String,
}

/// `/lang?set=ar&back=/coops`: remembers the language, goes back (to a path of this site).
pub async fn set_lang(Query(q): Query<SetLang>) -> Response {
    let Some(lang) = Lang::parse(&q.set) else {
        return crate::WebError::BadRequest("unknown language".into()).into_response();
    };
    let back = if q.back.starts_with('/') && !q.back.starts_with("//") && !q.back.contains('\\') {
        q.back
    } else {
        "/".to_owned()
    };
    (
        [(header::SET_COOKIE, lang_cookie(lang))],
        Redirect::to(&back),
    )
        .into_response()
}

/// The login page.
pub async fn login_form(ctx: Ctx) -> Response {
    login_page(&ctx, None, StatusCode::OK)
}

fn login_page(ctx: &Ctx, error: Option<&str>, code: StatusCode) -> Response {
    let l = ctx.lang;
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.login method="post" action="/login" {
            label for="token" { (l.t("login.token")) }
            input #token type="password" name="token" autocomplete="off" required;
            button type="submit" { (l.t("login.submit")) }
        }
    };
    let mut r = layout::page(ctx, l.t("login.title"), body);
    *r.status_mut() = code;
    r
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// The caller's address, when the server knows it.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Checks the token, rate-limited per client address; opens a session.
pub async fn login(
    State(web): State<Web>,
    ClientAddr(addr): ClientAddr,
    ctx: Ctx,
    Form(form): Form<LoginForm>,
) -> Response {
    let l = ctx.lang;
    let Some(auth) = &web.authenticator else {
        return Redirect::to("/").into_response();
    };
    let who = addr.map_or_else(|| "web-login".to_owned(), |a| format!("web-login {a}"));
    if web.limiter.as_ref().is_some_and(|lim| !lim.allow(&who)) {
        return login_page(
            &ctx,
            Some(l.t("login.too_many")),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let bearer = format!("Bearer {}", form.token.trim());
    let Ok(principal) = auth.authenticate(Some(&bearer)) else {
        return login_page(&ctx, Some(l.t("login.unknown")), StatusCode::UNAUTHORIZED);
    };
    tracing::info!(principal = %principal.id, "web login");
    let Some(id) = web.sessions.open(principal) else {
        return crate::WebError::Internal("no session could be opened".into()).into_response();
    };
    let secure = if web.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// Ends the session.
pub async fn logout(State(web): State<Web>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        web.sessions.close(id);
    }
    let secure = if web.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

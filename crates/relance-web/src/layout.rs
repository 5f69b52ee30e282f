//! The page shell: language and direction, navigation, language switch, login state.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use relance_server::auth::Permission;

use crate::i18n::Lang;
use crate::session::{encode, lang_cookie, Ctx, Who};

/// A whole page: `title`, then `body` inside `<main>`.
pub fn page(ctx: &Ctx, title: &str, body: Markup) -> Response {
    let l = ctx.lang;
    let here = ctx
        .uri
        .path_and_query()
        .map_or("/".to_owned(), |pq| pq.as_str().to_owned());
    let markup = html! {
        (DOCTYPE)
        html lang=(l.code()) dir=(l.dir()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (l.t("site.name")) }
                link rel="stylesheet" href="/static/style.css";
                link rel="icon" type="image/svg+xml" href="/favicon.ico";
            }
            body {
                header.top {
                    a.brand href="/" { (l.t("site.name")) }
                    nav aria-label=(l.t("nav.label")) {
                        a href="/" { (l.t("nav.overview")) }
                        a href="/coops" { (l.t("nav.coops")) }
                        @if ctx.may(Permission::Audit) {
                            a href="/audit" { (l.t("nav.audit")) }
                        }
                    }
                    div.langs {
                        @for other in Lang::ALL {
                            @if other == l {
                                span.current lang=(other.code()) { (other.t("lang.name")) }
                            } @else {
                                a lang=(other.code()) hreflang=(other.code())
                                    href={ "/lang?set=" (other.code()) "&back=" (encode(&here)) } { (other.t("lang.name")) }
                            }
                        }
                    }
                    @match &ctx.who {
                        Who::User(u) => form.logout method="post" action="/logout" {
                            span.who { (u.id) " (" (u.organisation) ")" }
                            button type="submit" { (l.t("nav.logout")) }
                        },
                        Who::Anonymous => a href="/login" { (l.t("nav.login")) },
                        Who::Open => {},
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer { (l.t("site.footer")) }
            }
        }
    };
    let mut r = Html(markup.into_string()).into_response();
    if let Some(chosen) = ctx.chosen_lang {
        if let Ok(v) = lang_cookie(chosen).parse() {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    r
}

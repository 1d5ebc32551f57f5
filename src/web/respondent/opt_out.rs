//! `/opt-out/{token}`: the link in every invitation and reminder. Opening
//! it shows one button (mail systems open links to scan them, so a GET
//! never changes anything); pressing it opts out. Mail programs' own
//! "unsubscribe" button posts `List-Unsubscribe=One-Click` (RFC 8058) with
//! no cookies: that is accepted without a CSRF token, because the token in
//! the address is already a secret only the recipient has.

use actix_web::{HttpRequest, HttpResponse, web};

use super::views::{Frame, OptOut, Page};
use crate::invitations::opt_out;
use crate::journey::{Wording, view};
use crate::web::AppState;
use crate::web::csrf;
use crate::web::errors::WebError;

type Data = web::Data<AppState>;

fn page(
    state: &AppState,
    req: &HttpRequest,
    survey_id: &str,
    language: Option<&str>,
    token: &str,
    done: bool,
) -> Result<HttpResponse, WebError> {
    let survey = state.surveys.latest(survey_id).ok_or(WebError::NotFound)?;
    let d = &survey.definition;
    let language = crate::journey::wording::choose_language(d, language);
    let wording = Wording::new(d, language, None);
    let title = wording.text(&d.title).to_string();
    let heading = wording.ui(if done { "opt_out_done_title" } else { "opt_out_title" }, &[]);
    let csrf = csrf::token(req, state.secret.expose());
    let frame = Frame::new(language, format!("{heading} - {title}"), &title, "/".into(), csrf, view::ui(&wording));
    let body = OptOut {
        body: wording.ui(if done { "opt_out_done_body" } else { "opt_out_body" }, &[("survey", &title)]),
        heading,
        button: wording.ui("opt_out_button", &[]),
        done,
        action: format!("/opt-out/{token}"),
    };
    super::render(state, "respondent/opt_out", Page { frame, body })
}

/// Tokens are 40 hex characters; anything else is not looked up.
fn plausible(token: &str) -> bool {
    token.len() == 40 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `GET /opt-out/{token}`.
pub async fn opt_out_page(state: Data, req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let token = path.into_inner();
    if !plausible(&token) {
        return Err(WebError::NotFound);
    }
    let key = token.clone();
    let now = state.clock.now();
    let found = state.db.run(move |conn| opt_out::find(conn, &key, now)).await?;
    let (invitee, invitation) = found.ok_or(WebError::NotFound)?;
    page(&state, &req, &invitation.survey_id, invitation.language.as_deref(), &token, invitee.opted_out_at.is_some())
}

/// `POST /opt-out/{token}`: the button on the page (with its CSRF token),
/// or a mail program's one-click request.
pub async fn opt_out(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let token = path.into_inner();
    let mut fields = csrf::parse_urlencoded(&body);
    let one_click =
        fields.len() == 1 && fields.get("List-Unsubscribe").is_some_and(|v| v.len() == 1 && v[0] == "One-Click");
    if !one_click {
        csrf::check_fields(&req, &mut fields).await?;
    }
    if !plausible(&token) {
        return Err(WebError::NotFound);
    }
    let key = token.clone();
    let at = state.clock.now();
    let done = state
        .db
        .write(move |conn| {
            let Some(_) = opt_out::opt_out(conn, &key, at)? else { return Ok(None) };
            Ok(opt_out::find(conn, &key, at)?.map(|(_, invitation)| invitation))
        })
        .await?;
    let invitation = done.ok_or(WebError::NotFound)?;
    if one_click {
        return Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("Unsubscribed from this survey's emails.\n"));
    }
    page(&state, &req, &invitation.survey_id, invitation.language.as_deref(), &token, true)
}

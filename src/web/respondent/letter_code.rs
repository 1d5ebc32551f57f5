//! `/s`: the way in from a letter or a paper questionnaire, by typing the
//! short code printed on it. The code leads to the same invitation as the
//! printed link (`/s/{token}`); attempts are limited per address like
//! resume codes, and a code says nothing about why it failed.

use actix_web::{HttpRequest, HttpResponse};

use super::views::{ErrorLink, Frame, LetterCode, Page};
use super::{Data, render};
use crate::address_limits::{self, AddressLimit};
use crate::storage::samples;
use crate::tokens;
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;

/// The page to type a letter's code on, with the mistake if there was one.
fn code_form(state: &AppState, req: &HttpRequest, code: &str, error: bool) -> Result<HttpResponse, WebError> {
    let mut frame = Frame::outside_survey(state, req, "en", "");
    let word = |key: &str| frame.ui[key].as_str().unwrap_or_default().to_string();
    let (title, error) = (word("letter_code_title"), error.then(|| word("error_letter_code")));
    frame.title = format!("{title} - joinedup");
    frame.errors = error.iter().map(|m| ErrorLink { href: "#code".into(), message: m.clone() }).collect();
    render(state, "respondent/letter_code", Page { frame, body: LetterCode { error, code: code.to_string() } })
}

/// `GET /s`: the form.
pub async fn letter_code_page(state: Data, req: HttpRequest) -> Result<HttpResponse, WebError> {
    code_form(&state, &req, "", false)
}

/// `POST /s`: a typed code, on to the invitation it names.
pub async fn letter_code(state: Data, req: HttpRequest, CsrfForm(fields): CsrfForm) -> Result<HttpResponse, WebError> {
    if let Some(ip) = req.peer_addr().map(|a| a.ip())
        && !address_limits::allow(&state.db, state.secret.expose(), AddressLimit::letter_code(), ip).await?
    {
        return Err(WebError::TooManyRequests);
    }
    let typed = fields.get("code").and_then(|v| v.first()).cloned().unwrap_or_default();
    if typed.len() > 40 {
        return Err(WebError::BadRequest("the code is too long".into()));
    }
    let hash = tokens::short_code_hash(&typed);
    let found = state.db.run(move |conn| samples::by_short_code_hash(conn, &hash)).await?;
    // The seed goes once the person has answered or opted out: the code
    // then leads nowhere, like a wrong one.
    match found.and_then(|invitee| invitee.link_nonce) {
        Some(seed) => {
            let token = tokens::link_token(state.secret.expose(), &seed);
            Err(WebError::SeeOther(format!("/s/{token}")))
        }
        None => code_form(&state, &req, &typed, true),
    }
}

//! Save and come back later: a resume link and code issued on request,
//! and the ways back in (the link, or the code typed at `/resume`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde::Deserialize;

use super::current::{Current, Finishing, Stored};
use super::views::{ErrorLink, Frame, Page, Resume, Save};
use super::{AppState, Data, cookie, done_path, render, render_html, survey_path};
use crate::address_limits::{self, AddressLimit};
use crate::journey::form::answers_from_stored;
use crate::journey::{Route, Wording};
use crate::storage::responses::{self, Response};
use crate::tokens;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;

fn save_path(survey_id: &str) -> String {
    format!("{}/save", survey_path(survey_id))
}

fn saved_intro(state: &AppState, wording: &Wording<'_>) -> String {
    wording.ui("saved_intro", &[("days", &state.settings.in_progress_days.to_string())])
}

/// `GET /surveys/{survey_id}/save`: offers a link and code to come back with.
pub async fn save_page(
    state: Data,
    req: HttpRequest,
    Stored { 0: current, .. }: Stored,
) -> Result<HttpResponse, WebError> {
    let survey_id = current.survey_id();
    let wording = current.wording();
    let title = wording.ui("save_later", &[]);
    let frame = Frame::for_survey(&state, &req, &current.survey, &wording, &title, &save_path(survey_id))
        .back(current.resume_location());
    let body = Save {
        saved_intro: saved_intro(&state, &wording),
        action: Some(save_path(survey_id)),
        link: None,
        code: None,
        continue_href: None,
    };
    render(&state, "respondent/save", Page { frame, body })
}

/// `POST /surveys/{survey_id}/save`: issues a fresh resume link and code
/// (older ones stop working) and shows them once; only their hashes are
/// stored.
pub async fn save(state: Data, req: HttpRequest, _form: CsrfForm) -> Result<HttpResponse, WebError> {
    let current = Finishing::of(&req).await?;
    let survey_id = current.survey_id();
    let (link_token, code) = (tokens::new_token(), tokens::new_resume_code());
    let (token_hash, code_hash) = (tokens::hash(&link_token), tokens::hash(&tokens::normalise_code(&code)));
    let expires = state.clock.now() + Duration::days(i64::from(state.settings.in_progress_days));
    let id = current.response.id;
    let stored = state.db.write(move |conn| responses::set_resume(conn, id, &token_hash, &code_hash, expires)).await?;
    state.responses.forget(id);
    if !stored {
        // Submitted or deleted since it was read: the confirmation page
        // shows which (or sends the respondent to the start).
        return Err(WebError::SeeOther(done_path(survey_id)));
    }
    let wording = current.wording();
    let title = wording.ui("saved_title", &[]);
    let frame = Frame::for_survey(&state, &req, &current.survey, &wording, &title, &save_path(survey_id));
    let body = Save {
        saved_intro: saved_intro(&state, &wording),
        action: None,
        link: Some(format!("{}/resume/{link_token}", state.settings.base_url)),
        code: Some(code),
        continue_href: Some(current.resume_location()),
    };
    let html = render_html(&state, "respondent/save", Page { frame, body })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// Sets this browser's cookie to `response` and sends the respondent to
/// where they left off.
pub(super) async fn resume_response(state: &Data, response: Response) -> Result<HttpResponse, WebError> {
    let Some(survey) = state.surveys.get_or_reload(&state.db, response.survey_version_id).await? else {
        return Err(WebError::NotFound);
    };
    let survey_id = survey.definition.id.clone();
    let cookie = cookie::for_response(state, &survey_id, response.id, response.revision);
    let id = response.id;
    let rows = state.db.run(move |conn| responses::answer_values(conn, id)).await?;
    let answers = answers_from_stored(&survey.definition, rows.iter().map(|(q, v)| (q.as_str(), v.as_str())));
    let route = Route::compute(&survey.definition, Current::presets(&response), &answers);
    state.responses.keep(response.clone(), answers.clone(), route.clone());
    let current = Current { survey, response, answers, route };
    Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, current.resume_location())).finish())
}

/// `GET /resume/{token}`: the saved link.
pub async fn resume_link(state: Data, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let hash = tokens::hash(&path.into_inner());
    let now = state.clock.now();
    let found = state.db.run(move |conn| responses::by_resume_hash(conn, &hash, now)).await?;
    match found {
        Some(response) => resume_response(&state, response).await,
        None => Err(WebError::NotFound),
    }
}

#[derive(Deserialize)]
pub struct ResumeQuery {
    survey: Option<String>,
    lang: Option<String>,
}

/// The page to type a resume code on, with the mistake if there was one.
fn resume_form(
    state: &AppState,
    req: &HttpRequest,
    language: &str,
    code: &str,
    error: bool,
) -> Result<HttpResponse, WebError> {
    let mut frame = Frame::outside_survey(state, req, language, "");
    let word = |key: &str| frame.ui[key].as_str().unwrap_or_default().to_string();
    let (title, error) = (word("resume_title"), error.then(|| word("error_resume_code")));
    frame.title = format!("{title} - joinedup");
    frame.errors = error.iter().map(|m| ErrorLink { href: "#code".into(), message: m.clone() }).collect();
    let body = Resume { error, code: code.to_string(), language: language.to_string() };
    render(state, "respondent/resume", Page { frame, body })
}

/// `GET /resume`: the form for a typed code.
pub async fn resume_code_page(
    state: Data,
    req: HttpRequest,
    query: web::Query<ResumeQuery>,
) -> Result<HttpResponse, WebError> {
    let language = match (&query.survey, &query.lang) {
        (Some(s), lang) => state
            .surveys
            .latest(s)
            .map(|p| crate::journey::wording::choose_language(&p.definition, lang.as_deref()).to_string()),
        _ => None,
    }
    .unwrap_or_else(|| "en".into());
    resume_form(&state, &req, &language, "", false)
}

/// `POST /resume`: a typed code; attempts are rate limited per address.
pub async fn resume_code(state: Data, req: HttpRequest, CsrfForm(fields): CsrfForm) -> Result<HttpResponse, WebError> {
    if let Some(ip) = req.peer_addr().map(|a| a.ip())
        && !address_limits::allow(&state.db, state.secret.expose(), AddressLimit::resume(), ip).await?
    {
        return Err(WebError::TooManyRequests);
    }
    let typed = fields.get("code").and_then(|v| v.first()).cloned().unwrap_or_default();
    // The page's language, if joinedup has interface wording for it.
    let language = fields
        .get("language")
        .and_then(|v| v.first())
        .filter(|l| crate::definitions::messages::catalogue(l).is_some())
        .cloned()
        .unwrap_or_else(|| "en".into());
    if typed.len() > 40 {
        return Err(WebError::BadRequest("the code is too long".into()));
    }
    let hash = tokens::hash(&tokens::normalise_code(&typed));
    let now = state.clock.now();
    let found = state.db.run(move |conn| responses::by_resume_hash(conn, &hash, now)).await?;
    match found {
        Some(response) => resume_response(&state, response).await,
        None => resume_form(&state, &req, &language, &typed, true),
    }
}

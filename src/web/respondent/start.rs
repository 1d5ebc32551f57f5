//! A survey's start page, and starting an open-link response.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::current::{Source, load_current};
use super::views::{About, Frame, Page, Start};
use super::{Data, LangQuery, cookie, page_path, render, see_other, survey_path};
use crate::address_limits::{self, AddressLimit};
use crate::definitions::Answers;
use crate::journey::{Presets, Route, Wording};
use crate::storage::responses::{self, Channel, NewResponse};
use crate::tokens;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;

/// `GET /surveys/{survey_id}`: who runs the survey, why, how long, privacy.
pub async fn start_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LangQuery>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let survey = state.surveys.current(&survey_id, state.clock.today()).ok_or(WebError::NotFound)?;
    let d = &survey.definition;
    let language = crate::journey::wording::choose_language(d, query.lang.as_deref());
    let wording = Wording::new(d, language, None);
    let title = wording.text(&d.title);
    let frame = Frame::for_survey(&state, &req, &survey, &wording, title, &survey_path(&survey_id));
    let body = Start {
        about: About::of(&wording),
        survey_title: title.to_string(),
        action: format!("{}/start?lang={language}", survey_path(&survey_id)),
        resume_href: Some(format!("/resume?survey={survey_id}&lang={language}")),
    };
    render(&state, "respondent/start", Page { frame, body })
}

/// `POST /surveys/{survey_id}/start`: begins an open-link response, or
/// continues the one this browser already has.
pub async fn start(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LangQuery>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    if let Some(current) = load_current(&state, &req, &survey_id, Source::Kept).await?
        && !current.response.is_submitted()
    {
        return Ok(see_other(&current.resume_location()));
    }
    if let Some(ip) = req.peer_addr().map(|a| a.ip())
        && !address_limits::allow(&state.db, state.secret.expose(), AddressLimit::start(state.settings.start_rate), ip)
            .await?
    {
        return Err(WebError::TooManyRequests);
    }
    let survey = state.surveys.current(&survey_id, state.clock.today()).ok_or(WebError::NotFound)?;
    let language = crate::journey::wording::choose_language(&survey.definition, query.lang.as_deref()).to_string();
    let version_id = survey.version.id;
    let at = state.clock.now();
    let response = state
        .db
        .write(move |conn| {
            let reference = tokens::new_reference();
            responses::create(conn, &NewResponse::begun(version_id, Channel::OpenLink, &language, &reference, at))
        })
        .await?;
    let route = Route::compute(&survey.definition, Presets::default(), &Answers::new());
    let first = route.visible.first().copied().unwrap_or(0);
    state.responses.keep(response.clone(), Answers::new(), route);
    let location = page_path(&survey_id, &survey.definition.pages[first].id);
    Ok(HttpResponse::SeeOther()
        .cookie(cookie::for_response(&state, &survey_id, response.id, response.revision))
        .insert_header((header::LOCATION, location))
        .finish())
}

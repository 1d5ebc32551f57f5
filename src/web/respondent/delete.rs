//! Deleting an in-progress response: the respondent changes their mind.

use actix_web::{HttpRequest, HttpResponse};

use super::current::Finishing;
use super::views::{Delete, Frame, Page};
use super::{Data, cookie, done_path, render, render_html, see_other, survey_path};
use crate::storage::responses;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;

fn delete_path(survey_id: &str) -> String {
    format!("{}/delete", survey_path(survey_id))
}

/// `GET /surveys/{survey_id}/delete`: asks to be sure.
pub async fn delete_page(
    state: Data,
    req: HttpRequest,
    Finishing { 0: current, .. }: Finishing,
) -> Result<HttpResponse, WebError> {
    let survey_id = current.survey_id();
    let wording = current.wording();
    let title = wording.ui("delete_title", &[]);
    let frame = Frame::for_survey(&state, &req, &current.survey, &wording, &title, &delete_path(survey_id))
        .back(current.resume_location());
    let body = Delete { action: Some(delete_path(survey_id)), deleted: false };
    render(&state, "respondent/delete", Page { frame, body })
}

/// `POST /surveys/{survey_id}/delete`: deletes the browser's in-progress
/// response and forgets it.
pub async fn delete(state: Data, req: HttpRequest, _form: CsrfForm) -> Result<HttpResponse, WebError> {
    let current = Finishing::of(&req).await?;
    let survey_id = current.survey_id();
    let id = current.response.id;
    let deleted = state.db.write(move |conn| responses::delete_in_progress(conn, id)).await?;
    state.responses.forget(id);
    if !deleted {
        // Submitted since it was read (another tab): it stays, and counts.
        return Ok(see_other(&done_path(survey_id)));
    }
    let wording = current.wording();
    let title = wording.ui("deleted_title", &[]);
    let frame = Frame::for_survey(&state, &req, &current.survey, &wording, &title, &survey_path(survey_id));
    let body = render_html(&state, "respondent/delete", Page { frame, body: Delete { action: None, deleted: true } })?;
    Ok(HttpResponse::Ok().cookie(cookie::removal(survey_id)).content_type("text/html; charset=utf-8").body(body))
}

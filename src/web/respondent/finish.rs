//! The end of a response: check answers, submit (exactly once), and the
//! confirmation.

use actix_web::{HttpRequest, HttpResponse, web};

use super::current::{Finishing, Stored};
use super::questions::switch_language;
use super::reasked::Reasked;
use super::views::{Check, Done, Frame, Page};
use super::{Data, LangQuery, check_path, done_path, ics_choices, page_path, render, see_other, survey_path};
use crate::journey::view;
use crate::storage;
use crate::storage::results::{self, ResultRow};
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;

/// `GET /surveys/{survey_id}/check`: every answer given, each with a link
/// to change it; a response missing a required answer goes to that page.
pub async fn check_answers(
    state: Data,
    req: HttpRequest,
    query: web::Query<LangQuery>,
    Finishing { 0: mut current, .. }: Finishing,
) -> Result<HttpResponse, WebError> {
    let survey_id = current.survey_id().to_string();
    let d = &current.survey.definition;
    if let Some(&missing) = current.route.missing_required(d, &current.answers).first() {
        return Ok(see_other(&page_path(&survey_id, &d.pages[missing].id)));
    }
    switch_language(&state, &mut current, query.lang.as_deref()).await?;
    let wording = current.wording();
    let d = &current.survey.definition;
    let change = |page: &str| format!("{}?change=1", page_path(&survey_id, page));
    let rows = view::check_rows(&wording, d, &current.route, &current.answers, &ics_choices(&state), &change);
    let title = wording.ui("check_answers_title", &[]);
    let mut frame = Frame::for_survey(&state, &req, &current.survey, &wording, &title, &check_path(&survey_id));
    frame.back_href = current.route.visible.last().map(|&p| page_path(&survey_id, &d.pages[p].id));
    let body = Check {
        rows,
        action: format!("{}/submit", survey_path(&survey_id)),
        reasked: Reasked::parse(d, query.because.as_deref(), query.cleared.as_deref()).map(|r| r.summary(&wording)),
    };
    render(&state, "respondent/check", Page { frame, body })
}

/// `POST /surveys/{survey_id}/submit`: exactly once. A second submit (double
/// click, refresh, another tab) finds nothing to change and lands on the
/// same confirmation.
pub async fn submit(state: Data, req: HttpRequest, _form: CsrfForm) -> Result<HttpResponse, WebError> {
    let current = Finishing::of(&req).await?;
    // Read afresh (`Finishing`): the result row is worked out from what is stored.
    let survey_id = current.survey_id();
    let d = &current.survey.definition;
    if let Some(&missing) = current.route.missing_required(d, &current.answers).first() {
        return Ok(see_other(&page_path(survey_id, &d.pages[missing].id)));
    }
    // The result row (groups and scores) is stored with the submission.
    let scoring = crate::index::scoring::Scoring::new(d);
    let r = &current.response;
    let at = state.clock.now();
    let row = ResultRow::score_response(d, &scoring, r, current.route.voice, &current.answers, at.date(), (None, 1.0));
    let (id, revision, invitation) = (r.id, r.revision, r.invitation_id);
    // Refused if another tab submitted or saved since the read: the
    // confirmation page, reading afresh, shows the submission or sends
    // the respondent back to check their answers.
    state
        .db
        .write(move |conn| {
            let submitted = results::submit_with_result(conn, id, revision, at, |conn| {
                let (imd_quintile, base_weight) = results::invitation_strata(conn, invitation)?;
                Ok(ResultRow { imd_quintile, base_weight, ..row })
            })?;
            // An invitee who has answered needs no more email: their address
            // goes with the submission.
            if let (true, Some(invitation)) = (submitted, invitation) {
                storage::samples::erase_invitee_address(conn, invitation, at)?;
            }
            Ok(submitted)
        })
        .await?;
    state.responses.forget(id);
    Ok(see_other(&done_path(survey_id)))
}

/// `GET /surveys/{survey_id}/done`: the confirmation, with the response's
/// reference; a response not yet sent goes back to check answers.
pub async fn confirmation(
    state: Data,
    req: HttpRequest,
    Stored { 0: current, .. }: Stored,
) -> Result<HttpResponse, WebError> {
    let survey_id = current.survey_id();
    if !current.response.is_submitted() {
        return Ok(see_other(&check_path(survey_id)));
    }
    let wording = current.wording();
    let title = wording.ui("confirmation_title", &[]);
    let frame = Frame::for_survey(&state, &req, &current.survey, &wording, &title, &done_path(survey_id));
    let body = Done {
        reference: current.response.reference.clone(),
        withdraw: match &state.settings.controller.contact {
            Some(contact) => wording.ui("confirmation_withdraw_contact", &[("contact", contact)]),
            None => wording.ui("confirmation_withdraw", &[]),
        },
    };
    render(&state, "respondent/done", Page { frame, body })
}

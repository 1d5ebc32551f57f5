//! The question pages: one question a page, shown, then checked and saved
//! by the journey's step, which also says where the respondent goes next.

use std::collections::BTreeSet;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::current::{Answering, Current, Source, load_response};
use super::reasked::Reasked;
use super::views::{Frame, Page, Question};
use super::{AppState, Data, LangQuery, check_path, cookie, done_path, ics_choices, page_path, render, see_other};
use super::{survey_path, with_query};
use crate::definitions::{AnswerValue, QuestionKind};
use crate::journey::form::fields_from_answers;
use crate::journey::view;
use crate::journey::{self, Context, Fields, Next, Outcome, Step};
use crate::storage::responses::{self, PageSave};
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;

fn page_index(current: &Current, page_id: &str) -> Option<usize> {
    current.survey.definition.pages.iter().position(|p| p.id == page_id)
}

/// Changes the response's language when the address asks for another one
/// the survey has.
pub(super) async fn switch_language(
    state: &Data,
    current: &mut Current,
    requested: Option<&str>,
) -> Result<(), WebError> {
    let Some(lang) = requested else { return Ok(()) };
    let chosen = crate::journey::wording::choose_language(&current.survey.definition, Some(lang)).to_string();
    if chosen != current.response.language {
        let id = current.response.id;
        let value = chosen.clone();
        state.db.write(move |conn| responses::set_language(conn, id, &value)).await?;
        current.response.language = chosen;
        // The next page reads the response afresh.
        state.responses.forget(id);
    }
    Ok(())
}

/// What a question page says above the question, if anything.
enum PageNotice<'a> {
    None,
    /// Asked again: an earlier answer this one depended on changed.
    Reasked(&'a Reasked),
    /// The save was overtaken by another window; these are the answers as saved.
    Overtaken,
}

impl<'a> PageNotice<'a> {
    fn reasked(reasked: Option<&'a Reasked>) -> Self {
        reasked.map_or(PageNotice::None, PageNotice::Reasked)
    }
}

/// A question page as the respondent sees it: `fields` as given (or as
/// saved), with `errors` beside the fields they concern.
#[allow(clippy::too_many_arguments)]
fn question_page(
    state: &AppState,
    req: &HttpRequest,
    current: &Current,
    index: usize,
    fields: &Fields,
    errors: &[crate::journey::FieldError],
    returning: bool,
    notice: PageNotice<'_>,
) -> Result<HttpResponse, WebError> {
    let d = &current.survey.definition;
    let page = &d.pages[index];
    let wording = current.wording();
    let id = current.survey_id();
    let path = page_path(id, &page.id);
    // The ICS list is only shown on its own page.
    let asks_ics = matches!(page.question.kind, QuestionKind::IcsSelect);
    let choices = if asks_ics { ics_choices(state) } else { Vec::new() };
    let question = view::question(&wording, page, fields, errors, &choices);
    let heading = question["heading"].as_str().unwrap_or_default().to_string();
    let back = if returning {
        check_path(id)
    } else {
        match current.route.previous(index) {
            Some(p) => page_path(id, &d.pages[p].id),
            None => survey_path(id),
        }
    };
    let mut frame = Frame::for_survey(state, req, &current.survey, &wording, &heading, &path).back(back);
    frame.errors = view::error_summary(errors);
    let reasked = match &notice {
        PageNotice::Reasked(r) => Some(*r),
        _ => None,
    };
    let body = Question {
        question,
        progress: view::progress(&wording, &current.route, index),
        action: path,
        return_to: returning.then_some("check"),
        notice: match &notice {
            PageNotice::Reasked(r) if r.pages.contains(&index) => Some(r.page_notice(&wording)),
            PageNotice::Overtaken => Some(wording.ui("save_overtaken", &[])),
            _ => None,
        },
        because: reasked.map(|r| r.because_id(d).to_string()),
        cleared: reasked.map(|r| r.cleared_ids(d)),
        save_href: Some(format!("{}/save", survey_path(id))),
        delete_href: Some(format!("{}/delete", survey_path(id))),
    };
    // A page with mistakes is still 200: it is the page, re-rendered.
    render(state, "respondent/question", Page { frame, body })
}

/// `GET /surveys/{survey_id}/q/{page_id}`.
pub async fn show_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<LangQuery>,
    Answering { 0: mut current, .. }: Answering,
) -> Result<HttpResponse, WebError> {
    let (_, page_id) = path.into_inner();
    let index = page_index(&current, &page_id).ok_or(WebError::NotFound)?;
    if !current.route.contains(index) {
        return Ok(see_other(&current.resume_location()));
    }
    switch_language(&state, &mut current, query.lang.as_deref()).await?;
    let d = &current.survey.definition;
    let fields = fields_from_answers(&d.pages[index], &current.answers);
    let reasked = Reasked::parse(d, query.because.as_deref(), query.cleared.as_deref());
    question_page(
        &state,
        &req,
        &current,
        index,
        &fields,
        &[],
        query.change.is_some(),
        PageNotice::reasked(reasked.as_ref()),
    )
}

/// `POST /surveys/{survey_id}/q/{page_id}`: checks the page, saves it
/// durably with any answers its change has hidden removed, then moves on.
pub async fn answer_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    CsrfForm(mut fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let mut current = Answering::of(&req).await?;
    let (survey_id, page_id) = path.into_inner();
    let returning = fields.remove("return_to").is_some_and(|v| v.iter().any(|x| x == "check"));
    let reasked = Reasked::from_fields(&current.survey.definition, &mut fields);
    // A kept copy found out of date is read afresh and the page worked out
    // again from it; out of date again means another tab is saving now.
    for _ in 0..3 {
        match save_answers(&state, &req, &current, &page_id, &fields, returning, reasked.as_ref()).await? {
            Saved::Reply(reply) => return Ok(reply),
            Saved::OutOfDate => {
                let id = current.response.id;
                current = load_response(&state, id, &survey_id, Source::Database, 0)
                    .await?
                    .ok_or_else(|| WebError::SeeOther(survey_path(&survey_id)))?;
            }
        }
    }
    // Still overtaken: nothing of this page was saved. Say so, and show
    // the page with the answers as they are now saved.
    let Some(index) = page_index(&current, &page_id).filter(|&i| current.route.contains(i)) else {
        return Ok(see_other(&current.resume_location()));
    };
    let fields = fields_from_answers(&current.survey.definition.pages[index], &current.answers);
    question_page(&state, &req, &current, index, &fields, &[], returning, PageNotice::Overtaken)
}

enum Saved {
    Reply(HttpResponse),
    /// Nothing saved: the response was written since it was read.
    OutOfDate,
}

/// One attempt at saving a page: the journey's step decides; this stores
/// what it decided, unless the response changed since it was read.
async fn save_answers(
    state: &Data,
    req: &HttpRequest,
    current: &Current,
    page_id: &str,
    fields: &Fields,
    returning: bool,
    reasked: Option<&Reasked>,
) -> Result<Saved, WebError> {
    let survey_id = current.survey_id();
    if current.response.is_submitted() {
        return Ok(Saved::Reply(see_other(&done_path(survey_id))));
    }
    let index = page_index(current, page_id).ok_or(WebError::NotFound)?;
    if !current.route.contains(index) {
        return Ok(Saved::Reply(see_other(&current.resume_location())));
    }
    let d = &current.survey.definition;
    let page = &d.pages[index];
    let ics_codes: BTreeSet<String> = match page.question.kind {
        QuestionKind::IcsSelect => ics_choices(state).into_iter().map(|c| c.code).collect(),
        _ => BTreeSet::new(),
    };
    let wording = current.wording();
    let ctx = Context { wording, ics_codes: &ics_codes, today: state.clock.today() };
    let presets = Current::presets(&current.response);
    let outcome = journey::step(&ctx, presets, &current.answers, index, fields, returning)
        .map_err(|e| WebError::BadRequest(e.0))?;
    let step = match outcome {
        Outcome::Moved(step) => step,
        Outcome::Invalid(errors) => {
            let notice = PageNotice::reasked(reasked);
            return question_page(state, req, current, index, fields, &errors, returning, notice).map(Saved::Reply);
        }
    };
    let Step { answers, given, removed, route, clearing, next } = step;
    let q = &page.question;
    let chosen_code = |id: &str| match answers.get(id) {
        Some(AnswerValue::Choice(c)) => Some(c.clone()),
        _ => None,
    };
    let save = PageSave {
        given: given.iter().map(|(id, v)| (id.clone(), v.to_stored())).collect(),
        removed,
        voice: q.sets_voice.then(|| route.voice.map(|v| v.code().to_string())),
        ics_code: matches!(q.kind, QuestionKind::IcsSelect).then(|| chosen_code(&q.id)),
        revision: Some(current.response.revision),
    };
    // The response as the save leaves it, kept for the next page.
    let mut saved_response = current.response.clone();
    let at = state.clock.now();
    saved_response.revision += 1;
    saved_response.updated_at = at;
    if let Some(voice) = &save.voice {
        saved_response.voice.clone_from(voice);
    }
    if let Some(ics_code) = &save.ics_code {
        saved_response.ics_code.clone_from(ics_code);
    }
    let response_id = current.response.id;
    if !state.db.write(move |conn| responses::apply_page(conn, response_id, &save, at)).await? {
        return Ok(Saved::OutOfDate);
    }
    let location = match next {
        Next::Page { index, change: true } => format!("{}?change=1", page_path(survey_id, &d.pages[index].id)),
        Next::Page { index, change: false } => page_path(survey_id, &d.pages[index].id),
        Next::Check => check_path(survey_id),
    };
    // What was cleared now, or earlier in this change, travels with the
    // respondent to check answers; only pages still shown are named.
    let reasked = match clearing {
        Some(c) => Some(Reasked { because: c.because, pages: c.pages }),
        None => reasked.cloned(),
    }
    .map(|mut r| {
        r.pages.retain(|p| route.contains(*p));
        r
    })
    .filter(|r| !r.pages.is_empty());
    let location = with_query(location, &reasked.map(|r| r.query(d)).unwrap_or_default());
    let cookie = cookie::for_response(state, survey_id, saved_response.id, saved_response.revision);
    state.responses.keep(saved_response, answers, route);
    Ok(Saved::Reply(HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, location)).finish()))
}

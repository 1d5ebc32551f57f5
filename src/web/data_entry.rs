//! The data entry area (`data_entry` role): find a returned questionnaire
//! by its serial, key every printed question on one page in printed order
//! (tab order is printed order; no mouse needed), confirm answers the
//! respondent's route skips, and save. Each handler translates HTTP to one
//! `crate::data_entry` call.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::accounts::Principal;
use crate::data_entry::{self, Form, Keying};
use crate::definitions::Voice;
use crate::journey::form::FieldError;
use crate::journey::view;
use crate::journey::{Fields, Wording};
use crate::paper::booklet::printed_pages;
use crate::storage::keying::Saved;
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::staff::{self, ErrorLink, StaffFrame, error, field, see_other, time};

type Data = web::Data<AppState>;

#[derive(Debug, Deserialize)]
pub struct HomeQuery {
    /// What the last save did: `counted` or `duplicate`.
    done: Option<String>,
}

/// `data_entry/home`.
#[derive(Serialize)]
struct HomeView {
    typed: String,
    done: Option<&'static str>,
}

fn home_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    typed: &str,
    errors: Vec<ErrorLink>,
    done: Option<&'static str>,
) -> Result<HttpResponse, WebError> {
    let data = StaffFrame::new(state, req, Some(principal), "Key a returned questionnaire")
        .with_errors(errors)
        .page(HomeView { typed: typed.to_string(), done });
    staff::render(state, "data_entry/home", &data)
}

/// `GET /data-entry`.
pub async fn home(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<HomeQuery>,
) -> Result<HttpResponse, WebError> {
    let done = match query.done.as_deref() {
        Some("counted") => Some("Saved: the questionnaire is counted as a paper response."),
        Some("duplicate") => Some(
            "Saved as a duplicate: this person had already answered online, so this questionnaire is kept but not counted.",
        ),
        _ => None,
    };
    home_page(&state, &req, &principal, "", Vec::new(), done)
}

/// `POST /data-entry/find`: a typed serial, on to its form.
pub async fn find(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let typed = field(&fields, "serial");
    let problem = |message: String| home_page(&state, &req, &principal, &typed, vec![error("serial", message)], None);
    if typed.trim().is_empty() {
        return problem("Enter the serial printed on the questionnaire, like ABCD-EFGH-JKM".into());
    }
    if typed.len() > 40 {
        return problem("A serial has 11 letters and digits, like ABCD-EFGH-JKM".into());
    }
    let Some(form) = data_entry::find(&state.db, &state.surveys, &typed).await? else {
        return problem(format!(
            "No questionnaire has the serial {}: check it against the form (a serial has 11 letters and digits, \
             like ABCD-EFGH-JKM)",
            typed.trim()
        ));
    };
    if let Some(keyed) = form.found.counted.as_ref().filter(|r| r.mode == crate::storage::responses::Mode::Paper) {
        let when = keyed.submitted_at.map(time).unwrap_or_default();
        return problem(format!(
            "The questionnaire with serial {} was keyed on {when}: a questionnaire is keyed once",
            typed.trim()
        ));
    }
    Ok(see_other(&format!("/data-entry/forms/{}", form.found.invitee.id)))
}

#[derive(Debug, Deserialize)]
pub struct FormQuery {
    voice: Option<String>,
}

/// A voice to choose when the sample did not say.
#[derive(Serialize)]
struct VoiceOption {
    code: &'static str,
    label: &'static str,
}

/// `data_entry/form`.
#[derive(Serialize)]
struct FormView {
    survey_title: String,
    survey_id: String,
    sample_line: i32,
    language: String,
    /// Set once the voice is known; the voice choice shows until then.
    voice: Option<&'static str>,
    voices: Vec<VoiceOption>,
    /// When the person already answered online.
    answered_online: Option<String>,
    /// Questions answered though the route skips them, by printed number.
    off_route: Vec<u32>,
    questions: Vec<Value>,
    action: String,
}

fn voice_label(voice: Voice) -> &'static str {
    match voice {
        Voice::Patient => "Patient (about their own care)",
        Voice::CarerSelf => "Carer (about being a carer)",
        Voice::CarerOnBehalf => "Carer, on behalf of the person they look after",
    }
}

/// The whole form, with what was keyed, its mistakes and warnings.
fn form_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    form: &Form,
    (fields, errors, off_route): (&Fields, &[FieldError], Vec<u32>),
) -> Result<HttpResponse, WebError> {
    let d = &form.survey.definition;
    let wording = Wording::new(d, &form.language, form.voice);
    let ics = crate::web::respondent::ics_choices(state);
    let questions = match form.voice {
        None => Vec::new(),
        Some(voice) => printed_pages(d, voice, form.ics_preset())
            .into_iter()
            .enumerate()
            .map(|(n, index)| {
                let mut q = view::question(&wording, &d.pages[index], fields, errors, &ics);
                q["printed_number"] = Value::from(n + 1);
                q["optional"] = Value::Bool(false);
                q
            })
            .collect(),
    };
    let invitee = &form.found.invitee;
    let answered_online = form
        .found
        .counted
        .as_ref()
        .filter(|r| r.status == crate::storage::responses::ResponseStatus::Submitted)
        .map(|r| r.submitted_at.map(time).unwrap_or_default());
    let body = FormView {
        survey_title: wording.text(&d.title).to_string(),
        survey_id: d.id.clone(),
        sample_line: invitee.line,
        language: form.language.clone(),
        voice: form.voice.map(|v| v.code()),
        voices: d.voices.iter().map(|v| VoiceOption { code: v.code(), label: voice_label(*v) }).collect(),
        answered_online,
        off_route,
        questions,
        action: format!("/data-entry/forms/{}", invitee.id),
    };
    let summary: Vec<ErrorLink> = view::error_summary(errors)
        .into_iter()
        .map(|e| ErrorLink {
            field: Some(e.href.trim_start_matches('#').to_string()),
            href: e.href,
            message: e.message,
        })
        .collect();
    let mut frame = StaffFrame::new(state, req, Some(principal), "Key a questionnaire").back("/data-entry");
    // The question fields speak the survey's language, as the form does.
    frame.ui = view::ui(&wording);
    let data = frame.with_errors(summary).page(body);
    staff::render(state, "data_entry/form", &data)
}

async fn load(state: &AppState, invitee_id: i64, voice: Option<&str>) -> Result<Form, WebError> {
    let voice = voice.and_then(Voice::from_code);
    data_entry::by_invitee(&state.db, &state.surveys, invitee_id, voice).await?.ok_or(WebError::NotFound)
}

/// `GET /data-entry/forms/{invitee_id}[?voice=…]`.
pub async fn form(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    query: web::Query<FormQuery>,
) -> Result<HttpResponse, WebError> {
    let form = load(&state, path.into_inner(), query.voice.as_deref()).await?;
    form_page(&state, &req, &principal, &form, (&Fields::new(), &[], Vec::new()))
}

/// `POST /data-entry/forms/{invitee_id}`: the keyed answers.
pub async fn key(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    CsrfForm(mut fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    fields.remove("csrf_token");
    let form = load(&state, path.into_inner(), Some(&field(&fields, "voice"))).await?;
    let Some(voice) = form.voice else {
        return Err(WebError::BadRequest("choose the questionnaire's voice first".into()));
    };
    let confirmed = field(&fields, "confirm") == "yes";
    let ics_codes = state.icss.iter().map(|i| i.ons_code.clone()).collect();
    let context = (&ics_codes, state.clock.now());
    let outcome = data_entry::key(&state.db, &form, voice, &fields, confirmed, principal.user_id, context)
        .await?
        .map_err(|t| WebError::BadRequest(t.to_string()))?;
    match outcome {
        Keying::Invalid(errors) => form_page(&state, &req, &principal, &form, (&fields, &errors, Vec::new())),
        Keying::Confirm(numbers) => form_page(&state, &req, &principal, &form, (&fields, &[], numbers)),
        Keying::Saved(Saved::Counted { .. }) => Ok(see_other("/data-entry?done=counted")),
        Keying::Saved(Saved::Duplicate { .. }) => Ok(see_other("/data-entry?done=duplicate")),
        Keying::Saved(Saved::AlreadyKeyed { at }) => {
            let message = format!(
                "This questionnaire was keyed on {} while this page was open: a questionnaire is keyed once",
                at.map(time).unwrap_or_default()
            );
            home_page(&state, &req, &principal, "", vec![error("serial", message)], None)
        }
    }
}

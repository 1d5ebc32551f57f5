//! The data entry area (`data_entry` role): find a returned questionnaire
//! by its serial, key every printed question on one page in printed order
//! (tab order is printed order; no mouse needed), confirm answers the
//! respondent's route skips, and save. With double entry the second keying
//! is blind, and differences are resolved on a comparison page that shows
//! both keyings beside the questions they differ on. Each handler
//! translates HTTP to one `crate::data_entry` call.

pub mod opt_outs;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::accounts::Principal;
use crate::data_entry::{self, Form, Keying, Stage};
use crate::definitions::Voice;
use crate::journey::form::FieldError;
use crate::journey::form::fields_from_answers;
use crate::journey::view;
use crate::journey::{Fields, Wording};
use crate::paper::booklet::printed_pages;
use crate::paper::double_entry::error_rate;
use crate::paper::keying::field_ids;
use crate::storage::keying::Saved;
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::staff::{self, ErrorLink, StaffFrame, error, field, see_other, time};

type Data = web::Data<AppState>;

#[derive(Debug, Deserialize)]
pub struct HomeQuery {
    /// What the last save did: `counted`, `duplicate` or `first`.
    done: Option<String>,
}

/// One keyer's row in the accuracy table.
#[derive(Serialize)]
struct AccuracyRow {
    keyer: String,
    keyings: i64,
    compared: i64,
    wrong: i64,
    /// Percent of fields keyed wrong, or a dash when none were compared.
    rate: String,
}

/// A form waiting for its differences to be resolved.
#[derive(Serialize)]
struct WaitingRow {
    survey_id: String,
    line: i32,
    keyed: String,
    href: String,
}

/// `data_entry/home`.
#[derive(Serialize)]
struct HomeView {
    typed: String,
    done: Option<&'static str>,
    accuracy: Vec<AccuracyRow>,
    waiting: Vec<WaitingRow>,
}

async fn home_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    typed: &str,
    errors: Vec<ErrorLink>,
    done: Option<&'static str>,
) -> Result<HttpResponse, WebError> {
    let overview = data_entry::overview(&state.db).await?;
    let accuracy = overview
        .accuracy
        .into_iter()
        .map(|a| AccuracyRow {
            rate: error_rate(a.compared, a.wrong).map_or_else(|| "–".into(), |r| format!("{:.2}%", r * 100.0)),
            keyer: a.email,
            keyings: a.keyings,
            compared: a.compared,
            wrong: a.wrong,
        })
        .collect();
    let waiting = overview
        .waiting
        .into_iter()
        .map(|w| WaitingRow {
            href: format!("/data-entry/forms/{}/compare", w.invitee_id),
            survey_id: w.survey_id,
            line: w.line,
            keyed: time(w.keyed_at),
        })
        .collect();
    let data = StaffFrame::new(state, req, Some(principal), "Key a returned questionnaire")
        .with_errors(errors)
        .page(HomeView { typed: typed.to_string(), done, accuracy, waiting });
    staff::render(state, "data_entry/home", &data)
}

/// The home page with one message against the serial field.
async fn refused(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    message: String,
) -> Result<HttpResponse, WebError> {
    home_page(state, req, principal, "", vec![error("serial", message)], None).await
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
        Some("blank") => {
            Some("Recorded as returned blank: a refusal. It is not a response, and no reminder goes to this person.")
        }
        Some("first") => Some(
            "First keying saved. This sample uses double entry: a different keyer now keys the questionnaire again.",
        ),
        _ => None,
    };
    home_page(&state, &req, &principal, "", Vec::new(), done).await
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
        return problem("Enter the serial printed on the questionnaire, like ABCD-EFGH-JKM".into()).await;
    }
    if typed.len() > 40 {
        return problem("A serial has 11 letters and digits, like ABCD-EFGH-JKM".into()).await;
    }
    let Some(form) = data_entry::find(&state.db, &state.surveys, &typed).await? else {
        return problem(format!(
            "No questionnaire has the serial {}: check it against the form (a serial has 11 letters and digits, \
             like ABCD-EFGH-JKM)",
            typed.trim()
        ))
        .await;
    };
    if let Some(reason) = data_entry::refusal(&form, principal.user_id) {
        return problem(format!("Serial {}: {reason}", typed.trim())).await;
    }
    Ok(see_other(&next_step(&form)))
}

/// Where keying a form goes on: its comparison page once it is keyed
/// twice with differences, otherwise its form.
fn next_step(form: &Form) -> String {
    let id = form.found.invitee.id;
    match form.stage() {
        Stage::Resolve { .. } => format!("/data-entry/forms/{id}/compare"),
        _ => format!("/data-entry/forms/{id}"),
    }
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
    /// Nothing was keyed: the keyer confirms the form came back blank.
    blank: bool,
    /// With double entry, which keying this is.
    keying: Option<&'static str>,
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

/// What the keyer is asked to look at again before saving.
enum Warning {
    None,
    /// Questions answered though the route skips them, by printed number.
    OffRoute(Vec<u32>),
    /// Nothing was keyed.
    Blank,
}

/// The whole form, with what was keyed, its mistakes and warnings.
fn form_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    form: &Form,
    (fields, errors, warning): (&Fields, &[FieldError], Warning),
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
        off_route: match &warning {
            Warning::OffRoute(numbers) => numbers.clone(),
            _ => Vec::new(),
        },
        blank: matches!(warning, Warning::Blank),
        keying: match form.stage() {
            Stage::First => Some("first"),
            Stage::Second { .. } => Some("second"),
            _ => None,
        },
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
    if let Some(reason) = data_entry::refusal(&form, principal.user_id) {
        return refused(&state, &req, &principal, reason).await;
    }
    if matches!(form.stage(), Stage::Resolve { .. }) {
        return Ok(see_other(&next_step(&form)));
    }
    form_page(&state, &req, &principal, &form, (&Fields::new(), &[], Warning::None))
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
    let confirmed = data_entry::Confirmed {
        off_route: field(&fields, "confirm") == "yes",
        blank: field(&fields, "blank") == "yes",
    };
    let ics_codes = state.icss.iter().map(|i| i.ons_code.clone()).collect();
    let context = (&ics_codes, state.clock.now());
    let outcome = data_entry::key(
        &state.db,
        &form,
        voice,
        &fields,
        confirmed,
        (&principal.actor(), principal.client_ip.as_deref()),
        context,
    )
    .await?
    .map_err(|t| WebError::BadRequest(t.to_string()))?;
    match outcome {
        Keying::Invalid(errors) => form_page(&state, &req, &principal, &form, (&fields, &errors, Warning::None)),
        Keying::Confirm(numbers) => {
            form_page(&state, &req, &principal, &form, (&fields, &[], Warning::OffRoute(numbers)))
        }
        Keying::ConfirmBlank => form_page(&state, &req, &principal, &form, (&fields, &[], Warning::Blank)),
        other => finished(&state, &req, &principal, &form, other).await,
    }
}

/// Where a keying that went through sends the keyer.
async fn finished(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    form: &Form,
    outcome: Keying,
) -> Result<HttpResponse, WebError> {
    let message = match outcome {
        Keying::Saved(Saved::Counted { .. }) => return Ok(see_other("/data-entry?done=counted")),
        Keying::Saved(Saved::Duplicate { .. }) => return Ok(see_other("/data-entry?done=duplicate")),
        Keying::FirstKept => return Ok(see_other("/data-entry?done=first")),
        Keying::ReturnedBlank => return Ok(see_other("/data-entry?done=blank")),
        Keying::Differences => return Ok(see_other(&format!("/data-entry/forms/{}/compare", form.found.invitee.id))),
        Keying::Saved(Saved::AlreadyKeyed { at }) => format!(
            "This questionnaire was keyed on {} while this page was open: a questionnaire is keyed once",
            at.map(time).unwrap_or_default()
        ),
        Keying::SameKeyer => "You keyed this questionnaire the first time: with double entry a different keyer keys \
                              it the second time"
            .to_string(),
        Keying::Overtaken | Keying::Saved(Saved::Overtaken) => {
            "Someone else saved a keying of this questionnaire while this page was open: find it again by its serial \
             to see where it is"
                .to_string()
        }
        // Pages with mistakes are shown by the callers; this is a fallback.
        Keying::Invalid(_) | Keying::Confirm(_) | Keying::ConfirmBlank => {
            "The questionnaire was not saved: find it again by its serial".into()
        }
    };
    refused(state, req, principal, message).await
}

/// What each keying has for one differing answer.
#[derive(Serialize)]
struct KeyingLine {
    /// The grid row it is, for a Likert grid; empty otherwise.
    item: String,
    first: String,
    second: String,
}

/// `data_entry/compare`.
#[derive(Serialize)]
struct CompareView {
    survey_title: String,
    sample_line: i32,
    /// The differing questions, each with its keyings and its fields.
    questions: Vec<Value>,
    action: String,
}

/// The comparison page: each question the keyings differ on, with what
/// each keying has, and its fields holding what both agree on.
fn compare_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    form: &Form,
    comparison: &data_entry::Comparison,
    (posted, errors): (Option<&Fields>, &[FieldError]),
) -> Result<HttpResponse, WebError> {
    let d = &form.survey.definition;
    let voice = form.voice.ok_or(WebError::NotFound)?;
    let wording = Wording::new(d, &form.language, Some(voice));
    let ics = crate::web::respondent::ics_choices(state);
    let printed = printed_pages(d, voice, form.ics_preset());
    let mut agreed = comparison.first.clone();
    for id in &comparison.differing {
        agreed.remove(id);
    }
    let shown = |keying: &crate::definitions::Answers, page: &crate::definitions::Page, id: &str| {
        let mut one = crate::definitions::Answers::new();
        if let Some(v) = keying.get(id) {
            one.insert(id, v.clone());
        }
        let lines = view::answer_lines(&wording, page, &one);
        // A grid's line starts with its row, which the page shows apart.
        let grid = matches!(page.question.kind, crate::definitions::QuestionKind::LikertGroup { .. });
        let row = format!("{}: ", grid_row(&wording, page, id));
        let lines: Vec<String> =
            lines.into_iter().map(|l| if grid { l.strip_prefix(&row).unwrap_or(&l).to_string() } else { l }).collect();
        if lines.is_empty() { "left blank".to_string() } else { lines.join(", ") }
    };
    let questions = comparison
        .pages
        .iter()
        .map(|&index| {
            let page = &d.pages[index];
            let fields = posted.cloned().unwrap_or_else(|| fields_from_answers(page, &agreed));
            let mut q = view::question(&wording, page, &fields, errors, &ics);
            q["printed_number"] = Value::from(printed.iter().position(|&p| p == index).map_or(0, |n| n + 1));
            q["optional"] = Value::Bool(false);
            let lines: Vec<KeyingLine> = field_ids(d, index)
                .into_iter()
                .filter(|id| comparison.differing.contains(id))
                .map(|id| KeyingLine {
                    item: grid_row(&wording, page, &id),
                    first: shown(&comparison.first, page, &id),
                    second: shown(&comparison.second, page, &id),
                })
                .collect();
            q["keyings"] = serde_json::to_value(lines).unwrap_or_default();
            q
        })
        .collect();
    let body = CompareView {
        survey_title: wording.text(&d.title).to_string(),
        sample_line: form.found.invitee.line,
        questions,
        action: format!("/data-entry/forms/{}/compare", form.found.invitee.id),
    };
    let summary: Vec<ErrorLink> = view::error_summary(errors)
        .into_iter()
        .map(|e| ErrorLink {
            field: Some(e.href.trim_start_matches('#').to_string()),
            href: e.href,
            message: e.message,
        })
        .collect();
    let mut frame = StaffFrame::new(state, req, Some(principal), "Resolve the differences").back("/data-entry");
    frame.ui = view::ui(&wording);
    staff::render(state, "data_entry/compare", &frame.with_errors(summary).page(body))
}

/// A Likert grid row's words, for an item id; empty for a question.
fn grid_row(wording: &Wording<'_>, page: &crate::definitions::Page, id: &str) -> String {
    match &page.question.kind {
        crate::definitions::QuestionKind::LikertGroup { items, .. } => {
            items.iter().find(|i| i.id == id).map(|i| wording.text(&i.text).to_string()).unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// `GET /data-entry/forms/{invitee_id}/compare`.
pub async fn compare(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let form = load(&state, path.into_inner(), None).await?;
    if let Some(reason) = data_entry::refusal(&form, principal.user_id) {
        return refused(&state, &req, &principal, reason).await;
    }
    let Some(comparison) = data_entry::comparison(&form) else { return Ok(see_other(&next_step(&form))) };
    compare_page(&state, &req, &principal, &form, &comparison, (None, &[]))
}

/// `POST /data-entry/forms/{invitee_id}/compare`: the differing questions
/// keyed again from the form.
pub async fn resolve(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    CsrfForm(mut fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    fields.remove("csrf_token");
    let form = load(&state, path.into_inner(), None).await?;
    let ics_codes = state.icss.iter().map(|i| i.ons_code.clone()).collect();
    let context = (&ics_codes, state.clock.now());
    let outcome = data_entry::resolve(&state.db, &form, &fields, principal.user_id, context)
        .await?
        .map_err(|t| WebError::BadRequest(t.to_string()))?;
    match (outcome, data_entry::comparison(&form)) {
        (Keying::Invalid(errors), Some(comparison)) => {
            compare_page(&state, &req, &principal, &form, &comparison, (Some(&fields), &errors))
        }
        (other, _) => finished(&state, &req, &principal, &form, other).await,
    }
}

//! Opt-outs that arrive by post or phone, keyed by data entry staff
//! against the serial on the letter or questionnaire, or against the
//! person (their email address, or first address line and postcode,
//! within a survey). A confirmation page shows which sample line was
//! found before anything is recorded; recording stops every channel.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::invitations::opt_out::{self, Heard, Named};
use crate::invitations::sample::postcode;
use crate::storage::samples::{Contact, Invitee};
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::staff::{self, ErrorLink, StaffFrame, error, field, see_other, time};

type Data = web::Data<AppState>;

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    /// `new`, or `before` when they had opted out already.
    done: Option<String>,
}

/// A survey to choose from.
#[derive(Serialize)]
struct SurveyChoice {
    id: String,
    title: String,
    selected: bool,
}

/// `data_entry/opt_out`: the form naming the person.
#[derive(Serialize)]
struct FindView {
    done: Option<&'static str>,
    surveys: Vec<SurveyChoice>,
    serial: String,
    email: String,
    first_line: String,
    postcode: String,
    heard: String,
}

/// `data_entry/opt_out_confirm`: who was found, before recording.
#[derive(Serialize)]
struct ConfirmView {
    survey_title: String,
    survey_id: String,
    sample_line: i32,
    contact: &'static str,
    heard: String,
    heard_words: &'static str,
    /// When they opted out before, if they did.
    opted_out: Option<String>,
    action: String,
}

fn survey_title(state: &AppState, survey_id: &str) -> String {
    let survey = state.surveys.latest(survey_id);
    survey.map_or_else(
        || survey_id.to_string(),
        |s| s.definition.title.get(s.definition.default_language(), None).to_string(),
    )
}

fn find_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    (typed, survey_id): (&crate::journey::Fields, &str),
    errors: Vec<ErrorLink>,
    done: Option<&'static str>,
) -> Result<HttpResponse, WebError> {
    let ids: std::collections::BTreeSet<String> = state.surveys.all().map(|s| s.definition.id.clone()).collect();
    let surveys = ids
        .into_iter()
        .map(|id| SurveyChoice { title: survey_title(state, &id), selected: id == survey_id, id })
        .collect();
    let body = FindView {
        done,
        surveys,
        serial: field(typed, "serial"),
        email: field(typed, "email"),
        first_line: field(typed, "first_line"),
        postcode: field(typed, "postcode"),
        heard: field(typed, "heard"),
    };
    let data = StaffFrame::new(state, req, Some(principal), "Record an opt-out by post or phone")
        .back("/data-entry")
        .with_errors(errors)
        .page(body);
    staff::render(state, "data_entry/opt_out", &data)
}

/// `GET /data-entry/opt-outs`.
pub async fn page(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, WebError> {
    let done = match query.done.as_deref() {
        Some("new") => {
            Some("Recorded. No more emails, letters, reminders or questionnaires go to this person about this survey.")
        }
        Some("before") => Some("This person had already opted out: nothing more is sent to them about this survey."),
        _ => None,
    };
    find_page(&state, &req, &principal, (&Default::default(), ""), Vec::new(), done)
}

/// What the form names, or the mistakes to show.
fn named(fields: &crate::journey::Fields) -> Result<(Named, Heard), Vec<ErrorLink>> {
    let (serial, survey_id) = (field(fields, "serial"), field(fields, "survey_id"));
    let (email, first_line, typed_postcode) =
        (field(fields, "email"), field(fields, "first_line"), field(fields, "postcode"));
    let mut errors = Vec::new();
    let heard = field(fields, "heard").parse::<Heard>().ok();
    let named = if !serial.trim().is_empty() {
        Some(Named::Serial(serial))
    } else if survey_id.is_empty() {
        errors.push(error(
            "serial",
            "Enter the serial from their letter or questionnaire, or choose the survey and say who they are",
        ));
        None
    } else if !email.trim().is_empty() {
        Some(Named::Email { survey_id, email: email.trim().to_string() })
    } else if first_line.trim().is_empty() {
        errors.push(error("email", "Enter their email address, or the first line of their address and their postcode"));
        None
    } else {
        match postcode(&typed_postcode) {
            Some(tidy) => Some(Named::Postal { survey_id, first_line, postcode: tidy }),
            None => {
                errors.push(error("postcode", "Enter their postcode, like LS1 4AP"));
                None
            }
        }
    };
    if heard.is_none() {
        errors.push(error("heard-post", "Choose how they asked"));
    }
    match (named, heard) {
        (Some(n), Some(h)) if errors.is_empty() => Ok((n, h)),
        _ => Err(errors),
    }
}

/// `POST /data-entry/opt-outs/find`: the person found, to confirm.
pub async fn find(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = field(&fields, "survey_id");
    let (named, heard) = match named(&fields) {
        Ok(found) => found,
        Err(errors) => return find_page(&state, &req, &principal, (&fields, &survey_id), errors, None),
    };
    let looked_for = named.clone();
    let Some(invitee) = state.db.run(move |conn| opt_out::find_named(conn, &looked_for)).await? else {
        let message = match named {
            Named::Serial(typed) => error(
                "serial",
                format!(
                    "No letter or questionnaire has the serial {}: check it (11 letters and digits, like ABCD-EFGH-JKM)",
                    typed.trim()
                ),
            ),
            Named::Email { .. } => error("email", "No one in this survey's samples has that email address"),
            Named::Postal { .. } => {
                error("first_line", "No one in this survey's samples has that first address line and postcode")
            }
        };
        return find_page(&state, &req, &principal, (&fields, &survey_id), vec![message], None);
    };
    confirm_page(&state, &req, &principal, &invitee, heard)
}

fn confirm_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    invitee: &Invitee,
    heard: Heard,
) -> Result<HttpResponse, WebError> {
    let heard_code: &'static str = heard.into();
    let body = ConfirmView {
        survey_title: survey_title(state, &invitee.survey_id),
        survey_id: invitee.survey_id.clone(),
        sample_line: invitee.line,
        contact: match invitee.preferred_channel {
            Contact::Email => "email",
            Contact::Letter => "letter",
        },
        heard: heard_code.to_string(),
        heard_words: heard.words(),
        opted_out: invitee.opted_out_at.map(time),
        action: format!("/data-entry/opt-outs/{}", invitee.id),
    };
    let data =
        StaffFrame::new(state, req, Some(principal), "Check the opt-out").back("/data-entry/opt-outs").page(body);
    staff::render(state, "data_entry/opt_out_confirm", &data)
}

/// `POST /data-entry/opt-outs/{invitee_id}`: recorded.
pub async fn record(
    state: Data,
    principal: Principal,
    path: web::Path<i64>,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let heard =
        field(&fields, "heard").parse::<Heard>().map_err(|_| WebError::BadRequest("say how they asked".into()))?;
    let invitee_id = path.into_inner();
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    let now = state.clock.now();
    let recorded = state
        .db
        .write(move |conn| opt_out::record_for_staff(conn, invitee_id, heard, (&actor, ip.as_deref()), now))
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(see_other(if recorded { "/data-entry/opt-outs?done=new" } else { "/data-entry/opt-outs?done=before" }))
}

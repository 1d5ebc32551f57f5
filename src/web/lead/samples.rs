//! A survey lead's samples and emails: upload a sample (checked line by
//! line; imported whole, or with "import the valid rows" the rest listed),
//! send the invitations, remind the non-responders, and decide about
//! messages whose delivery is uncertain. Sending runs in the background
//! through the outbox; the survey page shows its progress.

use super::surveys::survey_page;
use super::views;
use crate::accounts::Principal;
use crate::invitations::background;
use crate::invitations::import::{self, Outcome, Request};
use crate::invitations::queue;
use crate::invitations::sample::LineProblem;
use crate::storage::{self, icss};
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::staff::{self, ErrorLink, StaffFrame, error, field, see_other, time};
use crate::web::upload::UploadForm;
use actix_web::{HttpRequest, HttpResponse, web};

type Data = web::Data<AppState>;

/// Problems listed on the page; the rest are counted.
const SHOWN_PROBLEMS: usize = 200;

/// What a refused file had besides its problems.
#[derive(Clone, Copy)]
struct Refused {
    /// Lines with no problem.
    valid: usize,
    /// Addresses that opted out of the survey.
    opted_out: usize,
}

fn form_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    survey_id: &str,
    errors: Vec<ErrorLink>,
    problems: &[LineProblem],
    refused: Option<Refused>,
) -> Result<HttpResponse, WebError> {
    let survey = state.surveys.latest(survey_id).ok_or(WebError::NotFound)?;
    let d = &survey.definition;
    let data = StaffFrame::new(state, req, Some(principal), "Upload a sample")
        .back(format!("/lead/surveys/{survey_id}"))
        .with_errors(errors)
        .page(views::NewSample {
            survey_id: survey_id.to_string(),
            title: d.title.get(d.default_language(), None).to_string(),
            problems: problems.iter().take(SHOWN_PROBLEMS).map(views::LineProblem::from).collect(),
            more_problems: problems.len().saturating_sub(SHOWN_PROBLEMS),
            valid: refused.map(|r| r.valid),
            opted_out: refused.map(|r| r.opted_out),
            survey_languages: d.languages.iter().map(|l| l.code.as_str()).collect::<Vec<_>>().join(", "),
            voices: d.voices.iter().map(|v| v.code()).collect::<Vec<_>>().join(", "),
            action: format!("/lead/surveys/{survey_id}/samples"),
        });
    staff::render(state, "lead/sample_new", &data)
}

/// `GET /lead/surveys/{survey_id}/samples/new`.
pub async fn new_page(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    form_page(&state, &req, &principal, &path.into_inner(), Vec::new(), &[], None)
}

/// `POST /lead/surveys/{survey_id}/samples`.
pub async fn upload(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    form: UploadForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let survey = state.surveys.latest(&survey_id).ok_or(WebError::NotFound)?;
    let Some(file) = form.files.get("file").cloned() else {
        let errors = vec![error("file", "Choose the sample file (a CSV) to upload")];
        return form_page(&state, &req, &principal, &survey_id, errors, &[], None);
    };
    let skip_invalid = field(&form.fields, "skip_invalid") == "yes";
    let double_entry = field(&form.fields, "double_entry") == "yes";
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    let secret = state.secret.expose().to_string();
    // Checked and worked out off the writer; written in batches through it.
    let planned = {
        let actor = actor.clone();
        let (today, now) = (state.clock.today(), state.clock.now());
        state
            .db
            .run(move |conn| {
                let icss = icss::valid_on(conn, today)?;
                import::plan(
                    conn,
                    &Request {
                        survey: &survey.definition,
                        icss: &icss,
                        file_name: &file.filename,
                        bytes: &file.bytes,
                        skip_invalid,
                        double_entry,
                        secret: &secret,
                        actor: &actor,
                        client_ip: ip.as_deref(),
                        at: now,
                    },
                )
            })
            .await?
    };
    let outcome = match planned {
        Ok(plan) => import::write(&state.db, plan, actor, principal.client_ip.clone()).await?,
        Err(outcome) => outcome,
    };
    match outcome {
        Outcome::Refused { problems, valid, opted_out } => {
            let message = if valid > 0 {
                format!(
                    "{} line(s) of the file have problems, so nothing was imported. Fix the file and upload it again, or tick \"Import the valid rows\" to import the {valid} valid line(s) and skip the others.",
                    import::lines_with_problems(&problems)
                )
            } else {
                format!("{} problem(s) in the file, and no line could be imported.", problems.len())
            };
            let errors = vec![error("file", message)];
            form_page(&state, &req, &principal, &survey_id, errors, &problems, Some(Refused { valid, opted_out }))
        }
        Outcome::AlreadyImported(sample) => {
            let message = format!(
                "This file was imported already (sample {}, {}). To invite more people, upload a file with only the new people.",
                sample.id,
                time(sample.created_at)
            );
            form_page(&state, &req, &principal, &survey_id, vec![error("file", message)], &[], None)
        }
        Outcome::Imported { sample, skipped, opted_out } => {
            let uninvited = {
                let id = survey_id.clone();
                state.db.run(move |conn| storage::outbox::uninvited(conn, &id)).await?.len()
            };
            let data = StaffFrame::new(&state, &req, Some(&principal), "Sample imported").page(views::SampleDone {
                name: sample.source_name,
                imported: sample.rows_imported,
                skipped: skipped.iter().take(SHOWN_PROBLEMS).map(views::LineProblem::from).collect(),
                skipped_count: import::lines_with_problems(&skipped),
                more_skipped: skipped.len().saturating_sub(SHOWN_PROBLEMS),
                opted_out,
                uninvited,
                email_ready: state.mailer.is_some(),
                open_now: state.surveys.current(&survey_id, state.clock.today()).is_some(),
                send_action: format!("/lead/surveys/{survey_id}/invitations/send"),
                survey_href: format!("/lead/surveys/{survey_id}"),
            });
            staff::render(&state, "lead/sample_done", &data)
        }
    }
}

/// Why nothing can be sent for this survey now, if so.
fn cannot_send(state: &AppState, survey_id: &str) -> Option<String> {
    if let Err(why) = state.settings.invitations.email() {
        return Some(format!("Nothing can be sent: {why}."));
    }
    if state.surveys.current(survey_id, state.clock.today()).is_none() {
        return Some("The survey is not open today, so nothing is sent: open it (or set its dates) first.".into());
    }
    None
}

/// Starts sending in the background once the mail server answers; if it
/// does not, says so and leaves everything queued.
async fn send_or_explain(
    state: &Data,
    req: &HttpRequest,
    principal: &Principal,
    survey_id: &str,
    queued: usize,
    done: &str,
) -> Result<HttpResponse, WebError> {
    let Some(mailer) = &state.mailer else {
        return survey_page(state, req, principal, survey_id, None, vec![error("send", "Email is not set up")]).await;
    };
    if let Err(reason) = mailer.reachable().await {
        let message = format!(
            "Cannot reach the mail server at {}: {reason}. Nothing was sent; {queued} message(s) are queued and will be sent when it can be reached (joinedup tries again every minute).",
            mailer.server
        );
        return survey_page(state, req, principal, survey_id, None, vec![error("send", message)]).await;
    }
    background::send_soon(state.background(), principal.actor());
    Ok(see_other(&format!("/lead/surveys/{survey_id}?done={done}")))
}

/// `POST /lead/surveys/{survey_id}/invitations/send`: queues an invitation
/// for everyone imported and not yet invited, and starts sending.
pub async fn send_invitations(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    state.surveys.latest(&survey_id).ok_or(WebError::NotFound)?;
    if let Some(why) = cannot_send(&state, &survey_id) {
        return survey_page(&state, &req, &principal, &survey_id, None, vec![error("send", why)]).await;
    }
    let (actor, ip, id) = (principal.actor(), principal.client_ip.clone(), survey_id.clone());
    let queued = queue::invitations_through(&state.db, &id, &actor, ip.as_deref(), state.clock.now()).await?;
    let waiting = {
        let id = survey_id.clone();
        state.db.run(move |conn| storage::outbox::has_queued(conn, Some(&id))).await?
    };
    if queued == 0 && !waiting {
        let notice = "Everyone imported has been invited already: upload a sample with new people to invite them.";
        return survey_page(&state, &req, &principal, &survey_id, Some(notice.into()), Vec::new()).await;
    }
    send_or_explain(&state, &req, &principal, &survey_id, queued, "queued").await
}

/// `POST /lead/surveys/{survey_id}/reminders`: queues a reminder for each
/// invitee who has neither answered nor opted out, once the delay has passed.
pub async fn send_reminders(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    state.surveys.latest(&survey_id).ok_or(WebError::NotFound)?;
    if let Some(why) = cannot_send(&state, &survey_id) {
        return survey_page(&state, &req, &principal, &survey_id, None, vec![error("send", why)]).await;
    }
    let (actor, ip, id) = (principal.actor(), principal.client_ip.clone(), survey_id.clone());
    let delay = state.settings.invitations.reminder_delay_days;
    let tally = queue::reminders_through(&state.db, &id, delay, &actor, ip.as_deref(), state.clock.now()).await?;
    if tally.queued == 0 {
        let notice = format!("No reminders are due: {}.", tally.summary());
        return survey_page(&state, &req, &principal, &survey_id, Some(notice), Vec::new()).await;
    }
    send_or_explain(&state, &req, &principal, &survey_id, tally.queued, "reminded").await
}

/// `POST /lead/surveys/{survey_id}/uncertain/resend`: the lead decides that
/// messages which may or may not have arrived go again.
pub async fn resend_uncertain(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    state.surveys.latest(&survey_id).ok_or(WebError::NotFound)?;
    if let Some(why) = cannot_send(&state, &survey_id) {
        return survey_page(&state, &req, &principal, &survey_id, None, vec![error("send", why)]).await;
    }
    let (actor, ip, id) = (principal.actor(), principal.client_ip.clone(), survey_id.clone());
    let now = state.clock.now();
    let n = state.db.write(move |conn| queue::uncertain_again(conn, &id, &actor, ip.as_deref(), now)).await?;
    if n == 0 {
        return Ok(see_other(&format!("/lead/surveys/{survey_id}")));
    }
    send_or_explain(&state, &req, &principal, &survey_id, n, "resent").await
}

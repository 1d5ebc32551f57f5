//! Survey leads' pages: their surveys with versions, dates and response
//! counts (by ICS, with response rates where a sample was invited), and a
//! version's dates, closing and reopening. The guard has checked the
//! survey lead role; the rules live in `publishing` and `invitations`.
//! Counts only: no page here shows who answered, or what.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;

use super::views;
use crate::accounts::Principal;
use crate::invitations::queue;
use crate::publishing::lifecycle::{self, By, LifecycleError};
use crate::storage::outbox::{self, Failure, Kind, Status};
use crate::storage::samples::Contact;
use crate::storage::samples::{self, Sample};
use crate::storage::survey_stats::{self, IcsCounts, VersionCounts};
use crate::storage::surveys::{self, SurveyVersion, VersionStatus};
use crate::storage::{self, drafts};
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::staff::{self, ErrorLink, StaffFrame, error, field, see_other, time};

type Data = web::Data<AppState>;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The confirmation after a change: fixed wording per key, so nothing from
/// the URL is echoed.
fn done_message(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "published" => {
            "The new version is published. New respondents get it from now on (if it is open); responses already started keep the version they began."
        }
        "dates" => "The dates have been changed.",
        "closed" => "The version is closed: no new responses can start on it.",
        "reopened" => "The version is open again.",
        "queued" => "The invitations are queued and are being sent. Refresh this page to follow their progress.",
        "reminded" => "The reminders are queued and are being sent. Refresh this page to follow their progress.",
        "resent" => "The uncertain messages are queued again and are being sent.",
        "deleted" => "The draft has been deleted.",
        _ => return None,
    })
}

/// A version's state as a lead reads it.
fn status_label(v: &SurveyVersion, today: NaiveDate) -> String {
    if v.is_open_on(today) {
        return "Open".into();
    }
    if v.status == VersionStatus::Closed {
        return "Closed".into();
    }
    match (v.opens_on, v.closes_on) {
        (Some(o), _) if o > today => format!("Opens {}", o.format("%-d %b %Y")),
        (_, Some(c)) if c < today => format!("Closed on {}", c.format("%-d %b %Y")),
        _ => "Not open".into(),
    }
}

fn date(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%-d %b %Y").to_string())
}

/// `GET /lead`: every survey and every draft.
pub async fn home(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let today = state.clock.today();
    let mut by_survey: BTreeMap<String, Vec<std::sync::Arc<crate::surveys::PublishedSurvey>>> = BTreeMap::new();
    for s in state.surveys.all() {
        by_survey.entry(s.definition.id.clone()).or_default().push(s);
    }
    let ids: Vec<String> = by_survey.keys().cloned().collect();
    let (counts, draft_rows) = state
        .db
        .run(move |conn| {
            let mut counts = BTreeMap::new();
            for id in &ids {
                let per_version = survey_stats::by_version(conn, id)?;
                counts.insert(id.clone(), per_version.values().map(|c| c.submitted).sum::<i64>());
            }
            Ok((counts, drafts::list(conn)?))
        })
        .await?;
    let surveys = by_survey
        .iter()
        .filter_map(|(id, versions)| {
            // Every survey has a version: it is listed because of one.
            let newest = versions.iter().max_by_key(|s| s.version.id)?;
            let d = &newest.definition;
            let open = state.surveys.current(id, today);
            Some(views::SurveyRow {
                id: id.clone(),
                title: d.title.get(d.default_language(), None).to_string(),
                href: format!("/lead/surveys/{id}"),
                versions: versions.len(),
                status: match &open {
                    Some(s) => format!("Open (version {})", s.version.version_label),
                    None => status_label(&newest.version, today),
                },
                responses: counts.get(id).copied().unwrap_or(0),
            })
        })
        .collect();
    let drafts = draft_rows
        .iter()
        .map(|d| views::DraftRow {
            name: crate::publishing::drafts::display_name(&d.source_name, d.id),
            href: format!("/lead/drafts/{}", d.id),
            survey: d.survey_id.clone(),
            version: d.version_label.clone(),
            updated: time(d.updated_at),
        })
        .collect();
    let data = StaffFrame::new(&state, &req, Some(&principal), "Survey lead").wide().page(views::Home {
        surveys,
        drafts,
        notice: done_message(query.done.as_deref()),
    });
    staff::render(&state, "lead/home", &data)
}

/// Everything the survey page shows, read in one go.
struct SurveyFacts {
    versions: Vec<SurveyVersion>,
    counts: BTreeMap<i64, VersionCounts>,
    by_ics: BTreeMap<Option<String>, IcsCounts>,
    samples: Vec<Sample>,
    messages: BTreeMap<(Kind, Status), i64>,
    failures: Vec<Failure>,
    uninvited: usize,
    opted_out: i64,
    reminder_tally: queue::ReminderTally,
    by_contact: BTreeMap<crate::storage::samples::Contact, survey_stats::ContactCounts>,
    open_link: i64,
    paper: (i64, i64),
}

async fn survey_facts(state: &AppState, survey_id: &str) -> Result<SurveyFacts, WebError> {
    let id = survey_id.to_string();
    let delay = chrono::Duration::days(i64::from(state.settings.invitations.reminder_delay_days));
    let now = state.clock.now();
    Ok(state
        .db
        .run(move |conn| {
            let facts = outbox::reminder_facts(conn, &id)?;
            let (_, reminder_tally) = queue::due_reminders(&facts, now, delay);
            let contact = survey_stats::by_contact(conn, &id)?;
            Ok(SurveyFacts {
                versions: surveys::versions_of(conn, &id)?,
                counts: survey_stats::by_version(conn, &id)?,
                by_ics: survey_stats::by_ics(conn, &id)?,
                samples: samples::samples_of(conn, &id)?,
                messages: outbox::counts(conn, &id)?,
                failures: outbox::failures(conn, &id)?,
                uninvited: outbox::uninvited(conn, &id)?.len(),
                opted_out: facts.iter().filter(|f| f.opted_out).count() as i64,
                reminder_tally,
                by_contact: contact.0,
                open_link: contact.1,
                paper: crate::storage::keying::counts(conn, &id)?,
            })
        })
        .await?)
}

fn version_view(
    survey_id: &str,
    v: &SurveyVersion,
    counts: VersionCounts,
    current: Option<i64>,
    today: NaiveDate,
) -> views::Version {
    let base = format!("/lead/surveys/{survey_id}/versions/{}", v.id);
    views::Version {
        id: v.id,
        label: v.version_label.clone(),
        status: status_label(v, today),
        open: v.is_open_on(today),
        current: current == Some(v.id),
        published: v.status == VersionStatus::Published,
        closed: v.status == VersionStatus::Closed,
        opens_on: date(v.opens_on),
        closes_on: date(v.closes_on),
        opens_value: v.opens_on.map(|d| d.to_string()).unwrap_or_default(),
        closes_value: v.closes_on.map(|d| d.to_string()).unwrap_or_default(),
        published_at: v.published_at.map(time).unwrap_or_default(),
        closed_at: v.closed_at.map(time),
        content_hash: v.content_hash.clone(),
        source_name: v.source_name.clone(),
        submitted: counts.submitted,
        in_progress: counts.in_progress,
        dates_action: format!("{base}/dates"),
        close_action: format!("{base}/close"),
        reopen_action: format!("{base}/reopen"),
        draft_action: format!("{base}/draft"),
    }
}

/// A blank questionnaire per voice and language of the latest version,
/// standard and large print.
fn paper_links(state: &AppState, survey_id: &str) -> Vec<views::PaperLink> {
    let Some(survey) = state.surveys.latest(survey_id) else { return Vec::new() };
    let d = &survey.definition;
    let mut links = Vec::new();
    for language in &d.languages {
        for voice in &d.voices {
            for (large, print) in [(false, "standard print"), (true, "large print")] {
                links.push(views::PaperLink {
                    label: format!("{} ({}), {}, {print}", voice_name(*voice), language.name, language.code),
                    href: format!(
                        "/lead/surveys/{survey_id}/paper?voice={}&lang={}{}",
                        voice.code(),
                        language.code,
                        if large { "&large=1" } else { "" }
                    ),
                });
            }
        }
    }
    links
}

fn voice_name(voice: crate::definitions::Voice) -> &'static str {
    match voice {
        crate::definitions::Voice::Patient => "Patient",
        crate::definitions::Voice::CarerSelf => "Carer",
        crate::definitions::Voice::CarerOnBehalf => "Carer on behalf",
    }
}

fn percent(rate: Option<f64>) -> Option<String> {
    rate.map(|r| format!("{:.1}%", r * 100.0))
}

fn figures(c: &IcsCounts) -> views::IcsFigures {
    views::IcsFigures {
        submitted: c.submitted,
        invited: c.invited,
        answered: c.invited_answered,
        rate: percent(c.response_rate()),
    }
}

/// The survey page, with a notice or form errors.
pub(super) async fn survey_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    survey_id: &str,
    notice: Option<String>,
    errors: Vec<ErrorLink>,
) -> Result<HttpResponse, WebError> {
    let latest = state.surveys.latest(survey_id).ok_or(WebError::NotFound)?;
    let facts = survey_facts(state, survey_id).await?;
    let today = state.clock.today();
    let d = &latest.definition;
    let current = state.surveys.current(survey_id, today).map(|s| s.version.id);
    let versions = facts
        .versions
        .iter()
        .map(|v| version_view(survey_id, v, facts.counts.get(&v.id).copied().unwrap_or_default(), current, today))
        .collect();
    let ics_name = |code: &Option<String>| match code {
        Some(c) => state.icss.iter().find(|i| &i.ons_code == c).map_or_else(|| c.clone(), |i| i.name.clone()),
        None => "Not answered yet".to_string(),
    };
    let mut totals = IcsCounts::default();
    let mut ics_rows: Vec<views::IcsRow> = facts
        .by_ics
        .iter()
        .map(|(code, c)| {
            totals.submitted += c.submitted;
            totals.invited += c.invited;
            totals.invited_answered += c.invited_answered;
            views::IcsRow { name: ics_name(code), code: code.clone(), figures: figures(c) }
        })
        .collect();
    ics_rows.sort_by(|a, b| a.name.cmp(&b.name));
    let count = |kind: Kind, status: Status| facts.messages.get(&(kind, status)).copied().unwrap_or(0);
    let messages: Vec<views::MessageCounts> = [(Kind::Invitation, "Invitations"), (Kind::Reminder, "Reminders")]
        .into_iter()
        .map(|(kind, label)| views::MessageCounts {
            label,
            queued: count(kind, Status::Queued) + count(kind, Status::Sending),
            sent: count(kind, Status::Sent),
            uncertain: count(kind, Status::Uncertain),
            failed: count(kind, Status::Failed),
            cancelled: count(kind, Status::Cancelled),
        })
        .collect();
    let uncertain = count(Kind::Invitation, Status::Uncertain) + count(Kind::Reminder, Status::Uncertain);
    let queued = messages.iter().map(|m| m.queued).sum::<i64>();
    let failures = facts
        .failures
        .iter()
        .map(|f| views::FailureRow {
            email: f.email.as_deref().unwrap_or("(erased)").to_string(),
            line: f.line,
            what: if f.kind == Kind::Reminder { format!("Reminder {}", f.round) } else { "Invitation".into() },
            status: if f.status == Status::Uncertain { "Uncertain" } else { "Failed" },
            error: f.error.clone().unwrap_or_default(),
        })
        .collect();
    let samples = facts
        .samples
        .iter()
        .map(|s| views::SampleRow {
            id: s.id,
            name: s.source_name.clone(),
            imported: s.rows_imported,
            skipped: s.rows_skipped,
            by: s.created_by.clone(),
            at: time(s.created_at),
            erased: s.emails_erased_at.map(time),
        })
        .collect();
    let email = match state.settings.invitations.email() {
        Ok((server, from)) => views::EmailSetup {
            ready: true,
            server: Some(server.to_string()),
            from: Some(from.to_string()),
            problem: None,
        },
        Err(why) => views::EmailSetup { ready: false, server: None, from: None, problem: Some(why) },
    };
    let base = format!("/lead/surveys/{survey_id}");
    let title = d.title.get(d.default_language(), None);
    let data = StaffFrame::new(state, req, Some(principal), &format!("{title} - Survey lead"))
        .wide()
        .back("/lead")
        .with_errors(errors)
        .page(views::Survey {
            survey_id: survey_id.to_string(),
            title: title.to_string(),
            by_contact: [(Contact::Email, "Email"), (Contact::Letter, "Letter")]
                .into_iter()
                .map(|(channel, label)| {
                    let c = facts.by_contact.get(&channel).copied().unwrap_or_default();
                    views::ContactRow {
                        label,
                        contacted: c.contacted,
                        online: c.online,
                        paper: c.paper,
                        rate: percent(c.response_rate()),
                    }
                })
                .collect(),
            open_link: facts.open_link,
            paper_counted: facts.paper.0,
            paper_duplicates: facts.paper.1,
            paper_links: paper_links(state, survey_id),
            notice,
            open_now: current.is_some(),
            versions,
            ics_rows,
            ics_totals: views::IcsFigures {
                submitted: totals.submitted,
                invited: totals.invited,
                answered: totals.invited_answered,
                rate: percent(totals.response_rate()),
            },
            email,
            samples,
            messages,
            queued,
            uncertain,
            failures,
            uninvited: facts.uninvited,
            opted_out: facts.opted_out,
            reminders_due: facts.reminder_tally.queued,
            reminder_tally: views::ReminderCounts {
                answered: facts.reminder_tally.answered,
                too_soon: facts.reminder_tally.too_soon,
                pending: facts.reminder_tally.pending,
            },
            reminder_delay_days: state.settings.invitations.reminder_delay_days,
            retention_days: state.settings.invitations.email_retention_days,
            sample_href: format!("{base}/samples/new"),
            send_action: format!("{base}/invitations/send"),
            remind_action: format!("{base}/reminders"),
            resend_action: format!("{base}/uncertain/resend"),
        });
    staff::render(state, "lead/survey", &data)
}

/// `GET /lead/surveys/{survey_id}`.
pub async fn survey(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let notice = done_message(query.done.as_deref()).map(str::to_string);
    survey_page(&state, &req, &principal, &survey_id, notice, Vec::new()).await
}

/// The version a `/lead/surveys/{survey_id}/versions/{version_id}/...`
/// path names, if it is one of that survey's.
async fn version_of(state: &AppState, survey_id: &str, version_id: i64) -> Result<SurveyVersion, WebError> {
    let found = state.db.run(move |conn| surveys::by_id(conn, version_id)).await?;
    found.filter(|v| v.survey_id == survey_id && v.status != VersionStatus::Draft).ok_or(WebError::NotFound)
}

/// Runs a lifecycle change as `principal`, then reloads the surveys here
/// (other instances follow within seconds).
async fn change<F>(
    state: &AppState,
    principal: &Principal,
    work: F,
) -> Result<Result<SurveyVersion, LifecycleError>, WebError>
where
    F: FnOnce(&mut storage::DbConn, &By<'_>) -> Result<SurveyVersion, LifecycleError> + Send + 'static,
{
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    let outcome = state.db.write(move |conn| Ok(work(conn, &By { actor: &actor, client_ip: ip.as_deref() }))).await?;
    if let Err(LifecycleError::Storage(e)) = outcome {
        return Err(WebError::Storage(e));
    }
    state.surveys.refresh_from(&state.db).await?;
    Ok(outcome)
}

fn parse_date(
    fields: &crate::journey::Fields,
    name: &str,
    label: &str,
    errors: &mut Vec<ErrorLink>,
) -> Option<NaiveDate> {
    // Errors link to the versions section: each version has its own form.
    let raw = field(fields, name);
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(error("versions", format!("Enter the {label} as a date like 2026-12-31, or leave it empty")));
            None
        }
    }
}

/// `POST /lead/surveys/{survey_id}/versions/{version_id}/dates`.
pub async fn set_dates(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, i64)>,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let (survey_id, version_id) = path.into_inner();
    let version = version_of(&state, &survey_id, version_id).await?;
    let mut errors = Vec::new();
    let opens = parse_date(&fields, "opens_on", "opening date", &mut errors);
    let closes = parse_date(&fields, "closes_on", "closing date", &mut errors);
    if !errors.is_empty() {
        return survey_page(&state, &req, &principal, &survey_id, None, errors).await;
    }
    match change(&state, &principal, move |conn, by| lifecycle::set_dates(conn, by, version.id, opens, closes)).await? {
        Ok(_) => Ok(see_other(&format!("/lead/surveys/{survey_id}?done=dates"))),
        Err(e) => survey_page(&state, &req, &principal, &survey_id, None, vec![error("versions", e)]).await,
    }
}

/// `POST /lead/surveys/{survey_id}/versions/{version_id}/close`.
pub async fn close(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, i64)>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let (survey_id, version_id) = path.into_inner();
    let version = version_of(&state, &survey_id, version_id).await?;
    match change(&state, &principal, move |conn, by| lifecycle::close(conn, by, version.id)).await? {
        Ok(_) => Ok(see_other(&format!("/lead/surveys/{survey_id}?done=closed"))),
        Err(e) => survey_page(&state, &req, &principal, &survey_id, None, vec![error("versions", e)]).await,
    }
}

/// `POST /lead/surveys/{survey_id}/versions/{version_id}/reopen`.
pub async fn reopen(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, i64)>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let (survey_id, version_id) = path.into_inner();
    let version = version_of(&state, &survey_id, version_id).await?;
    let today = state.clock.today();
    match change(&state, &principal, move |conn, by| lifecycle::reopen(conn, by, version.id, today)).await? {
        Ok(_) => Ok(see_other(&format!("/lead/surveys/{survey_id}?done=reopened"))),
        Err(e) => survey_page(&state, &req, &principal, &survey_id, None, vec![error("versions", e)]).await,
    }
}

/// `POST /lead/surveys/{survey_id}/versions/{version_id}/draft`: a new
/// draft holding this version's text, to change and publish as a new
/// version (a published version itself never changes).
pub async fn draft_from_version(
    state: Data,
    principal: Principal,
    path: web::Path<(String, i64)>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let (survey_id, version_id) = path.into_inner();
    let version = version_of(&state, &survey_id, version_id).await?;
    let draft = crate::publishing::drafts::save_text(
        &state.db,
        None,
        version.source_name.clone(),
        version.source_text.clone(),
        Some(principal.user_id),
    )
    .await?
    .map_err(|e| match e {
        crate::publishing::drafts::DraftError::Storage(e) => WebError::Storage(e),
        other => WebError::Storage(storage::StorageError::Pool(other.to_string())),
    })?;
    Ok(see_other(&format!("/lead/drafts/{}?from=version", draft.id)))
}

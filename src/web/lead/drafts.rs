//! Drafts in the browser: upload a definition file or type one in, see
//! every problem with its line (listed at the top and shown beside the
//! lines it is about), fix it, review the changes against the version
//! before, and publish. The checks are `joinedup check`'s own.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::views;
use crate::accounts::Principal;
use crate::definitions::{self, Diagnostic};
use crate::publishing::diff;
use crate::publishing::drafts::{self as draft_rules, Checked, DraftError};
use crate::publishing::lifecycle::{self, LifecycleError};
use crate::storage::drafts::{self, Draft};
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::staff::{self, ErrorLink, Page, StaffFrame, error, field, see_other, time};
use crate::web::upload::UploadForm;

type Data = web::Data<AppState>;

/// Lines of context shown around a problem.
const CONTEXT: usize = 2;

/// Problems shown on the page; the rest are in the download. A file of
/// 150,000 bad lines once made a 194 MB page; this keeps it small.
const SHOWN_PROBLEMS: usize = 50;

/// Characters of a line shown beside a problem (a line may be 2 MB long).
const LINE_CHARS: usize = 200;

fn clipped(line: &str) -> String {
    match line.char_indices().nth(LINE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

fn draft_error(e: DraftError) -> Result<String, WebError> {
    match e {
        DraftError::Storage(e) => Err(WebError::Storage(e)),
        DraftError::NotFound => Err(WebError::NotFound),
        other => Ok(other.to_string()),
    }
}

/// The text a form sends: an uploaded file wins over the textarea.
fn text_from(form: &UploadForm) -> Result<(Option<String>, String), String> {
    match form.files.get("file") {
        Some(upload) => match String::from_utf8(upload.bytes.to_vec()) {
            Ok(text) => Ok((Some(upload.filename.clone()), text)),
            Err(e) => Err(format!(
                "The file {} is not UTF-8 text (invalid bytes at offset {}): save it as UTF-8 and upload it again",
                upload.filename,
                e.utf8_error().valid_up_to()
            )),
        },
        None => Ok((None, field(&form.fields, "source"))),
    }
}

fn new_form(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    source: &str,
    errors: Vec<ErrorLink>,
) -> Page<views::NewDraft> {
    StaffFrame::new(state, req, Some(principal), "New draft")
        .back("/lead")
        .with_errors(errors)
        .page(views::NewDraft { source: source.to_string(), action: "/lead/drafts" })
}

/// `GET /lead/drafts/new`.
pub async fn new_page(state: Data, req: HttpRequest, principal: Principal) -> Result<HttpResponse, WebError> {
    staff::render(&state, "lead/draft_new", &new_form(&state, &req, &principal, "", Vec::new()))
}

/// `POST /lead/drafts`: saves the text as a draft, valid or not, and shows
/// it with its problems. Only an empty or oversized text is refused.
pub async fn create(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    form: UploadForm,
) -> Result<HttpResponse, WebError> {
    let (file, text) = match text_from(&form) {
        Ok(t) => t,
        Err(message) => {
            let page = new_form(&state, &req, &principal, &field(&form.fields, "source"), vec![error("file", message)]);
            return staff::render(&state, "lead/draft_new", &page);
        }
    };
    let name = file.unwrap_or_default();
    let saved = draft_rules::save_text(&state.db, None, name, text.clone(), Some(principal.user_id)).await?;
    match saved {
        Ok(draft) => Ok(see_other(&format!("/lead/drafts/{}", draft.id))),
        Err(e) => {
            let message = draft_error(e)?;
            staff::render(
                &state,
                "lead/draft_new",
                &new_form(&state, &req, &principal, &text, vec![error("source", message)]),
            )
        }
    }
}

/// A draft with the result of checking it now.
async fn load(state: &AppState, id: i64) -> Result<(Draft, Checked), WebError> {
    draft_rules::load_checked(&state.db, id).await?.ok_or(WebError::NotFound)
}

/// Each problem with the lines around it, the problem line marked and the
/// message beside it.
fn problem_views(source: &str, problems: &[Diagnostic]) -> Vec<views::Problem> {
    let lines: Vec<&str> = source.lines().collect();
    problems
        .iter()
        .take(SHOWN_PROBLEMS)
        .enumerate()
        .map(|(n, p)| {
            let line = p.at.line.max(1);
            let first = line.saturating_sub(CONTEXT).max(1);
            let last = (line + CONTEXT).min(lines.len().max(1));
            let excerpt = (first..=last)
                .map(|i| views::ExcerptLine {
                    number: i,
                    text: clipped(lines.get(i - 1).copied().unwrap_or("")),
                    problem: i == line,
                })
                .collect();
            views::Problem {
                anchor: format!("problem-{}", n + 1),
                line,
                column: p.at.column,
                path: (!p.path.is_empty()).then(|| p.path.clone()),
                message: p.message.clone(),
                hint: p.hint.clone(),
                excerpt,
            }
        })
        .collect()
}

/// The error summary: a link to each problem shown, which is about a line
/// rather than a field.
fn summary_errors(problems: &[Diagnostic]) -> Vec<ErrorLink> {
    problems
        .iter()
        .take(SHOWN_PROBLEMS)
        .enumerate()
        .map(|(n, p)| ErrorLink {
            href: format!("#problem-{}", n + 1),
            message: format!("Line {}: {}", p.at.line, p.message),
            field: None,
        })
        .collect()
}

#[derive(Deserialize)]
pub struct DraftQuery {
    from: Option<String>,
}

/// What the draft page shows besides the stored draft.
struct Shown<'a> {
    checked: &'a Checked,
    /// The text in the textarea: the draft's, or what was typed if it could not be saved.
    source: &'a str,
    form_errors: Vec<ErrorLink>,
    notice: Option<&'static str>,
}

fn draft_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    draft: &Draft,
    shown: Shown<'_>,
) -> Result<HttpResponse, WebError> {
    let Shown { checked, source, form_errors, notice } = shown;
    let name = draft_rules::display_name(&draft.source_name, draft.id);
    let mut errors = summary_errors(&checked.problems);
    errors.extend(form_errors);
    let base = format!("/lead/drafts/{}", draft.id);
    let data = StaffFrame::new(state, req, Some(principal), &format!("Draft {name}"))
        .wide()
        .back("/lead")
        .with_errors(errors)
        .page(views::Draft {
            name,
            source: source.to_string(),
            problems: problem_views(source, &checked.problems),
            problem_count: checked.problems.len(),
            more_problems: checked.problems.len().saturating_sub(SHOWN_PROBLEMS),
            shown_problems: SHOWN_PROBLEMS,
            problems_href: format!("{base}/problems"),
            valid: checked.definition.is_some(),
            publishable: checked.publishable().is_some(),
            summary: checked.definition.as_ref().map(definitions::summary).unwrap_or_default(),
            survey_id: draft.survey_id.clone(),
            version: draft.version_label.clone(),
            updated: time(draft.updated_at),
            notice,
            preview_href: format!("{base}/preview"),
            publish_href: format!("{base}/publish"),
            delete_action: format!("{base}/delete"),
            action: base,
        });
    staff::render(state, "lead/draft", &data)
}

/// `GET /lead/drafts/{draft_id}`.
pub async fn show(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    query: web::Query<DraftQuery>,
) -> Result<HttpResponse, WebError> {
    let (draft, checked) = load(&state, path.into_inner()).await?;
    let notice = (query.from.as_deref() == Some("version")).then_some(
        "This draft is a copy of a published version. Change what you need, give it a new version label, and publish it as a new version.",
    );
    let shown = Shown { checked: &checked, source: &draft.source_text, form_errors: Vec::new(), notice };
    draft_page(&state, &req, &principal, &draft, shown)
}

/// `POST /lead/drafts/{draft_id}`: saves the edited text (or a new file)
/// and shows the draft checked again.
pub async fn save(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    form: UploadForm,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let (draft, _) = load(&state, id).await?;
    let (file, text) = match text_from(&form) {
        Ok(t) => t,
        Err(message) => {
            let (draft, checked) = load(&state, id).await?;
            let typed = field(&form.fields, "source");
            let shown =
                Shown { checked: &checked, source: &typed, form_errors: vec![error("file", message)], notice: None };
            return draft_page(&state, &req, &principal, &draft, shown);
        }
    };
    let name = file.unwrap_or(draft.source_name);
    let saved = draft_rules::save_text(&state.db, Some(id), name, text.clone(), None).await?;
    match saved {
        Ok(_) => {
            let (draft, checked) = load(&state, id).await?;
            let notice = if checked.problems.is_empty() { Some("Saved. No problems found.") } else { Some("Saved.") };
            let shown = Shown { checked: &checked, source: &draft.source_text, form_errors: Vec::new(), notice };
            draft_page(&state, &req, &principal, &draft, shown)
        }
        Err(e) => {
            let message = draft_error(e)?;
            let (draft, checked) = load(&state, id).await?;
            let shown =
                Shown { checked: &checked, source: &text, form_errors: vec![error("source", message)], notice: None };
            draft_page(&state, &req, &principal, &draft, shown)
        }
    }
}

/// `GET /lead/drafts/{draft_id}/problems`: every problem as text, in the
/// form `joinedup check` prints, for a draft with more than the page shows.
pub async fn problems(state: Data, path: web::Path<i64>) -> Result<HttpResponse, WebError> {
    let (draft, checked) = load(&state, path.into_inner()).await?;
    let mut text = String::new();
    for problem in &checked.problems {
        text.push_str(&problem.to_string());
        text.push('\n');
    }
    let file = format!("draft-{}-problems.txt", draft.id);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .body(text))
}

/// `POST /lead/drafts/{draft_id}/delete`.
pub async fn delete(state: Data, path: web::Path<i64>, _form: CsrfForm) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    if !state.db.write(move |conn| drafts::delete(conn, id)).await? {
        return Err(WebError::NotFound);
    }
    Ok(see_other("/lead?done=deleted"))
}

/// `GET /lead/drafts/{draft_id}/publish`: what publishing would do, with
/// the changes from the survey's latest version, line by line.
pub async fn review(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let (draft, checked) = load(&state, path.into_inner()).await?;
    review_page(&state, &req, &principal, &draft, &checked, Vec::new())
}

fn review_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    draft: &Draft,
    checked: &Checked,
    errors: Vec<ErrorLink>,
) -> Result<HttpResponse, WebError> {
    let name = draft_rules::display_name(&draft.source_name, draft.id);
    let base = format!("/lead/drafts/{}", draft.id);
    let definition = checked.definition.as_ref();
    let previous = definition.and_then(|d| state.surveys.latest(&d.id));
    let changes = match (definition, &previous) {
        (Some(_), Some(p)) => Some(diff::lines(&p.version.source_text, &draft.source_text)),
        _ => None,
    };
    let d = definition;
    let data = StaffFrame::new(state, req, Some(principal), &format!("Publish {name}"))
        .wide()
        .back(base.clone())
        .with_errors(errors)
        .page(views::Publish {
            name,
            problems: checked.problems.iter().map(|p| format!("Line {}: {}", p.at.line, p.message)).collect(),
            publishable: checked.publishable().is_some(),
            survey_id: d.map(|d| d.id.clone()),
            title: d.map(|d| d.title.get(d.default_language(), None).to_string()),
            version: d.map(|d| d.version.clone()),
            content_hash: d.map(|d| d.content_hash.clone()),
            summary: d.map(definitions::summary),
            opens: d.and_then(|d| d.opens).map(|o| o.to_string()),
            closes: d.and_then(|d| d.closes).map(|c| c.to_string()),
            previous: previous.as_ref().map(|p| views::Previous {
                version: p.version.version_label.clone(),
                published_at: p.version.published_at.map(time),
                content_hash: p.version.content_hash.clone(),
            }),
            diff: changes,
            action: format!("{base}/publish"),
        });
    staff::render(state, "lead/publish", &data)
}

/// `POST /lead/drafts/{draft_id}/publish`: publishes the text reviewed
/// (its hash comes with the form), as a new immutable version.
pub async fn publish(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let reviewed = field(&fields, "content_hash");
    let outcome =
        lifecycle::publish_draft(&state.db, principal.actor(), principal.client_ip.clone(), id, &reviewed).await;
    match outcome {
        Ok(version) => {
            state.surveys.refresh_from(&state.db).await?;
            Ok(see_other(&format!("/lead/surveys/{}?done=published", version.survey_id)))
        }
        Err(LifecycleError::NoDraft) => Err(WebError::NotFound),
        Err(LifecycleError::Storage(e)) => Err(WebError::Storage(e)),
        Err(e) => {
            let (draft, checked) = load(&state, id).await?;
            review_page(&state, &req, &principal, &draft, &checked, vec![error("publish", e)])
        }
    }
}

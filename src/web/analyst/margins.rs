//! An analyst's population margins: the versions uploaded for people and
//! carers (which one is in use), an upload form checked line by line, and
//! retiring a version. The checks and storage live in
//! `population_margins`; this only turns them into pages.

use actix_web::{HttpRequest, HttpResponse, web};

use super::views::{self, MarginsForm};
use crate::accounts::Principal;
use crate::index::frame::Group;
use crate::index::margins::{LineProblem, allowed_dimensions};
use crate::results::population_margins::{self, Outcome, Upload};
use crate::storage::margins;
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::staff::{self, ErrorLink, StaffFrame, error, field, see_other, time};
use crate::web::upload::UploadForm;

type Data = web::Data<AppState>;

/// Problems listed on the page; the rest are counted.
const SHOWN_PROBLEMS: usize = 200;

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn page(
    state: &Data,
    req: &HttpRequest,
    principal: &Principal,
    errors: Vec<ErrorLink>,
    problems: &[LineProblem],
    notice: Option<String>,
    form: MarginsForm,
) -> Result<HttpResponse, WebError> {
    let (rows, in_use) = state.db.run(|conn| Ok((margins::all(conn)?, margins::in_use_ids(conn)?))).await?;
    let versions = rows
        .iter()
        .map(|r| views::MarginVersion {
            id: r.id,
            group: r.population_group.clone(),
            version: r.version,
            dimensions: r.dimensions.clone(),
            source: r.source.clone(),
            file_name: r.file_name.clone(),
            hash: r.content_hash.clone(),
            uploaded_by: r.uploaded_by.clone(),
            uploaded_at: time(r.uploaded_at),
            retired_at: r.retired_at.map(time),
            in_use: in_use.contains(&r.id),
        })
        .collect();
    let allowed = |g: Group| {
        allowed_dimensions(g).iter().map(|(d, c)| format!("{d} ({})", c.join(", "))).collect::<Vec<_>>().join("; ")
    };
    let data =
        StaffFrame::new(state, req, Some(principal), "Population margins").with_errors(errors).page(views::Margins {
            notice,
            versions,
            problems: problems
                .iter()
                .take(SHOWN_PROBLEMS)
                .map(|p| views::LineProblem { line: p.line, message: p.message.clone() })
                .collect(),
            more_problems: problems.len().saturating_sub(SHOWN_PROBLEMS),
            people_dimensions: allowed(Group::People),
            carer_dimensions: allowed(Group::Carers),
            form,
        });
    staff::render(state, "analyst/margins", &data)
}

/// The form as first shown: for people, no source typed.
fn fresh_form() -> MarginsForm {
    MarginsForm { group: "people".into(), source: String::new() }
}

/// `GET /analyst/margins`.
pub async fn list(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let notice = match query.done.as_deref() {
        Some("uploaded") => Some("The margins were uploaded and are now used for weighting.".to_string()),
        Some("retired") => Some("That version is no longer used for weighting.".to_string()),
        _ => None,
    };
    page(&state, &req, &principal, Vec::new(), &[], notice, fresh_form()).await
}

/// `POST /analyst/margins`: checks the file; stores it as a new version
/// only if every line passes.
pub async fn upload(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    form: UploadForm,
) -> Result<HttpResponse, WebError> {
    let group = field(&form.fields, "group");
    let source = field(&form.fields, "source");
    let kept = MarginsForm { group: group.clone(), source: source.clone() };
    let Some(file) = form.files.get("file").cloned() else {
        let errors = vec![error("file", "Choose the margins file (a CSV) to upload")];
        return page(&state, &req, &principal, errors, &[], None, kept).await;
    };
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    let (g, s) = (group.clone(), source.clone());
    let outcome = state
        .db
        .write(move |conn| {
            population_margins::upload(
                conn,
                &Upload { group: &g, source: &s, file_name: &file.filename, bytes: &file.bytes },
                &actor,
                ip.as_deref(),
            )
        })
        .await?;
    match outcome {
        Outcome::Stored { .. } => {
            // Tried at once on the respondents there are: ICSs whose
            // margins cannot be met yet (early in fieldwork, say) are named.
            let (registry, today) = (state.clone(), state.clock.today());
            let unmet = state
                .db
                .run_with_pool(move |db| crate::results::reports::margins_not_met(db, &registry.surveys, today))
                .await?
                .map_err(|e| WebError::BadRequest(e.to_string()))?;
            if unmet.is_empty() {
                return Ok(see_other("/analyst/margins?done=uploaded"));
            }
            let notice = format!(
                "The margins were uploaded and are now used for weighting. The respondents in some ICSs cannot meet them yet, so those ICSs' figures are shown as not estimable until they can (England counts their people at their population total); every other result is weighted to the new margins. {}",
                unmet.join("; ")
            );
            page(&state, &req, &principal, Vec::new(), &[], Some(notice), fresh_form()).await
        }
        Outcome::Refused(problems) => {
            let (form_problems, line_problems): (Vec<LineProblem>, Vec<LineProblem>) =
                problems.into_iter().partition(|p| p.line == 0);
            let mut errors: Vec<ErrorLink> = form_problems
                .iter()
                .map(|p| {
                    let id = if p.message.starts_with("Choose whose") {
                        "group"
                    } else if p.message.starts_with("Say where") {
                        "source"
                    } else {
                        "file"
                    };
                    error(id, &p.message)
                })
                .collect();
            if !line_problems.is_empty() {
                errors.push(error(
                    "file",
                    format!(
                        "{} problem(s) in the file, so nothing was uploaded; they are listed by line below",
                        line_problems.len()
                    ),
                ));
            }
            page(&state, &req, &principal, errors, &line_problems, None, kept).await
        }
    }
}

/// `POST /analyst/margins/{id}/retire`.
pub async fn retire(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    let retired = state.db.write(move |conn| population_margins::retire(conn, id, &actor, ip.as_deref())).await?;
    match retired {
        Some(_) => Ok(see_other("/analyst/margins?done=retired")),
        None => {
            let errors = vec![error("versions", "That version does not exist or is no longer in use")];
            page(&state, &req, &principal, errors, &[], None, fresh_form()).await
        }
    }
}

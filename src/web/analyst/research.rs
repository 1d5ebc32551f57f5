//! The researcher's area: respondent-level microdata, one release and one
//! sample at a time. Only the `researcher` role, which an admin grants
//! apart from `analyst`, reaches it, and every download is audited.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::views;
use crate::accounts::Principal;
use crate::audit::{self, Action, Actor, Event};
use crate::index::disclosure::published_count;
use crate::index::release::Period;
use crate::index::sample::Sample;
use crate::results::microdata::Plan;
use crate::results::reports::{self, ReleaseOptions, Request, Window};
use crate::web::AppState;
use crate::web::errors::WebError;
use crate::web::staff::{self, StaffFrame};

type Data = web::Data<AppState>;

/// `GET /research`: each survey's closed releases, with their samples.
pub async fn home(state: Data, req: HttpRequest, principal: Principal) -> Result<HttpResponse, WebError> {
    let mut surveys = Vec::new();
    let today = state.clock.today();
    let mut ids: Vec<String> = state.surveys.all().map(|s| s.definition.id.clone()).collect();
    ids.sort();
    ids.dedup();
    for survey_id in ids {
        let Some(latest) = state.surveys.latest(&survey_id) else { continue };
        let id = survey_id.clone();
        let periods = state.db.run(move |conn| reports::periods(conn, &id)).await?;
        let releases = periods
            .iter()
            .rev()
            .filter(|(p, _)| p.is_closed(today))
            .map(|(p, n)| views::ResearchRelease {
                label: format!("{} ({} responses)", p.first_day().format("%B %Y"), published_count(*n)),
                samples: Sample::SEPARATE
                    .iter()
                    .map(|s| views::Link {
                        label: s.label(),
                        href: format!("/research/surveys/{survey_id}/microdata?release={p}&sample={}", s.code()),
                    })
                    .collect(),
            })
            .collect();
        surveys.push(views::ResearchSurvey {
            title: latest.definition.title.get(latest.definition.default_language(), None).to_string(),
            survey_id,
            releases,
        });
    }
    let data = StaffFrame::new(&state, &req, Some(&principal), "Microdata").page(views::Research { surveys });
    staff::render(&state, "research/home", &data)
}

#[derive(Debug, Deserialize)]
pub struct MicrodataQuery {
    release: Option<String>,
    sample: Option<String>,
}

/// `GET /research/surveys/{survey_id}/microdata?release=YYYY-MM&sample=…`:
/// one row per respondent, streamed ICS by ICS.
pub async fn microdata(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<MicrodataQuery>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let plan = Plan::new(&state.surveys, &survey_id).ok_or(WebError::NotFound)?;
    let window = match query.release.as_deref().filter(|r| !r.is_empty()) {
        Some(p) => Window::Period(
            Period::parse(p).ok_or_else(|| WebError::BadRequest(format!("release `{p}` must be a month, YYYY-MM")))?,
        ),
        None => Window::Latest,
    };
    let request =
        Request { survey_id: survey_id.clone(), window, options: ReleaseOptions::new(state.settings.suppress_below) };
    let (st, today) = (state.clone(), state.clock.today());
    let report = state
        .db
        .for_analysts()
        .run_with_pool(move |db| st.releases.releases(db, &st.surveys, &request, today))
        .await?
        .map_err(|e| match e {
            reports::ReportError::UnknownSurvey(_) => WebError::NotFound,
            e => WebError::BadRequest(e.to_string()),
        })?
        .pop()
        .ok_or(WebError::NotFound)?;
    let sample = match query.sample.as_deref().filter(|s| !s.is_empty()) {
        None => report.results.headline.unwrap_or(Sample::Invitation),
        Some(code) => Sample::parse(code)
            .filter(|s| *s != Sample::Pooled)
            .ok_or_else(|| WebError::BadRequest(format!("unknown sample `{code}` (invitation or open_link)")))?,
    };
    let actor = Actor::user(principal.user_id, &principal.email);
    let event = Event::new(Action::ResultsDownloaded).target(survey_id.clone()).detail(format!(
        "microdata csv of release {} ({})",
        report.period,
        sample.code()
    ));
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    state.db.write(move |conn| audit::record(conn, &actor, &event, ip.as_deref())).await?;
    let file = format!("{survey_id}-microdata-{}-{}.csv", report.period, sample.code());
    let stream = crate::results::microdata::stream(state.db.for_analysts(), plan, report, sample);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")))
        .streaming(stream))
}

//! The analyst's results pages and downloads. Every figure comes from a
//! stored release (a closed month, computed once), the same as the CLI and
//! the API give; every download is audited.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::charts::{self, Point};
use super::views::{self, Cell, Choice, ProvenanceView};
use crate::accounts::{Principal, Role};
use crate::audit::{self, Action, Actor, Event};
use crate::index::cells::{ALL, ENGLAND};
use crate::index::disclosure::published_count;
use crate::index::frame::DIMENSIONS;
use crate::index::release::Period;
use crate::index::results::Published;
use crate::index::sample::Sample;
use crate::results::outputs::Format;
use crate::results::reports::{self, ReleaseOptions, Report, ReportError, Request, Window};
use crate::web::AppState;
use crate::web::errors::WebError;
use crate::web::staff::{self, StaffFrame};

type Data = web::Data<AppState>;

#[derive(Debug, Deserialize, Default)]
pub struct Filters {
    group: Option<String>,
    measure: Option<String>,
    dimension: Option<String>,
    area: Option<String>,
    release: Option<String>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    sample: Option<String>,
    /// The old name of `sample`: `open_link` or `invitation` (`all`: every sample).
    channel: Option<String>,
    trim: Option<String>,
    sort: Option<String>,
    format: Option<String>,
}

impl Filters {
    /// The sample asked for, if one was.
    fn sample(&self) -> Result<Option<Sample>, WebError> {
        let text = self.sample.as_deref().or(self.channel.as_deref()).filter(|s| !s.is_empty() && *s != "all");
        match text {
            None | Some("headline") => Ok(None),
            Some(code) => Sample::parse(code).map(Some).ok_or_else(|| {
                WebError::BadRequest(format!("unknown sample `{code}` (invitation, open_link or pooled)"))
            }),
        }
    }

    fn request(&self, state: &AppState, survey_id: &str) -> Result<Request, WebError> {
        let mut options = ReleaseOptions::new(state.settings.suppress_below);
        if let Some(trim) = self.trim.as_deref().filter(|t| !t.is_empty()) {
            options.trim = ReleaseOptions::parse_trim(trim).map_err(WebError::BadRequest)?;
        }
        options.pooled = self.sample()? == Some(Sample::Pooled);
        let window = match (self.release.as_deref().filter(|r| !r.is_empty()), self.from, self.to) {
            (Some(p), _, _) => Window::Period(
                Period::parse(p)
                    .ok_or_else(|| WebError::BadRequest(format!("release `{p}` must be a month, YYYY-MM")))?,
            ),
            (None, None, None) => Window::Latest,
            (None, from, to) => Window::Dates(from, to),
        };
        Ok(Request { survey_id: survey_id.to_string(), window, options })
    }

    fn query(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("group", &self.group),
            ("measure", &self.measure),
            ("dimension", &self.dimension),
            ("area", &self.area),
            ("release", &self.release),
            ("sample", &self.sample),
            ("channel", &self.channel),
            ("trim", &self.trim),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{k}={}", form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()));
            }
        }
        for (k, v) in [("from", self.from), ("to", self.to)] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        parts.join("&")
    }
}

/// The releases a request asks for, read or computed off the async workers.
async fn releases(state: &Data, request: Request) -> Result<Vec<Arc<Report>>, ReportError> {
    let (st, today) = (state.clone(), state.clock.today());
    // Analysts' reads go to the replica when there is one.
    state
        .db
        .for_analysts()
        .run_with_pool(move |db| st.releases.releases(db, &st.surveys, &request, today))
        .await
        .map_err(ReportError::Storage)?
}

fn web_error(e: ReportError) -> WebError {
    match e {
        ReportError::UnknownSurvey(_) => WebError::NotFound,
        ReportError::Storage(e) => WebError::Storage(e),
        e @ (ReportError::NoRelease(_)
        | ReportError::NotReleased(..)
        | ReportError::Weighting(_)
        | ReportError::Margins(_)) => WebError::BadRequest(e.to_string()),
        ReportError::Stored(e) => {
            tracing::error!(error = %e, "a stored release cannot be read");
            WebError::Internal
        }
    }
}

/// The closed releases of a survey, newest first, for choosing one.
async fn release_options(state: &Data, survey_id: &str, chosen: Option<Period>) -> Result<Vec<Choice>, WebError> {
    let survey = survey_id.to_string();
    let periods = state.db.run(move |conn| reports::periods(conn, &survey)).await?;
    let today = state.clock.today();
    Ok(periods
        .iter()
        .rev()
        .filter(|(p, _)| p.is_closed(today))
        .map(|(p, n)| Choice {
            value: p.to_string(),
            label: format!("{} ({} responses)", p.first_day().format("%B %Y"), published_count(*n)),
            selected: Some(*p) == chosen,
        })
        .collect())
}

/// `GET /analyst/surveys/{survey_id}`: one release's ICS table, charts and filters.
pub async fn results(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let Some(latest) = state.surveys.latest(&survey_id) else { return Err(WebError::NotFound) };
    let title = latest.definition.title.get(latest.definition.default_language(), None).to_string();
    let request = filters.request(&state, &survey_id)?;
    let chosen = filters.sample()?;
    let report = match releases(&state, request).await {
        Ok(mut list) => list.pop(),
        Err(ReportError::NoRelease(_)) => None,
        Err(e) => return Err(web_error(e)),
    };
    let release_list = release_options(&state, &survey_id, report.as_ref().map(|r| r.period)).await?;
    let frame = StaffFrame::new(&state, &req, Some(&principal), &format!("Results: {title}")).wide();
    let Some(report) = report else {
        let data = frame.page(views::Results {
            survey_id,
            survey_title: title,
            empty: true,
            release_options: release_list,
            release: views::ResultsRelease::default(),
        });
        return staff::render(&state, "analyst/results", &data);
    };
    let sample = chosen.or(report.results.headline).unwrap_or(Sample::Invitation);
    let group = filters.group.clone().unwrap_or_else(|| "people".into());
    let measure = filters.measure.clone().unwrap_or_else(|| "index".into());
    let dimension = filters.dimension.clone().unwrap_or_else(|| ALL.into());
    let area = filters.area.clone().unwrap_or_else(|| ENGLAND.into());
    let cells = &report.results.cells;
    let chosen_cell = |c: &&Published| c.sample == sample && c.group == group && c.measure == measure;
    let england = cells.iter().filter(chosen_cell).find(|c| c.area == ENGLAND && c.dimension == ALL);
    let mut icss: Vec<&Published> =
        cells.iter().filter(chosen_cell).filter(|c| c.area != ENGLAND && c.dimension == ALL).collect();
    match filters.sort.as_deref() {
        Some("name") => icss.sort_by(|a, b| a.area_name.cmp(&b.area_name)),
        Some("vs_england") => {
            icss.sort_by(|a, b| b.vs_england.unwrap_or(f64::MIN).total_cmp(&a.vs_england.unwrap_or(f64::MIN)))
        }
        _ => icss.sort_by(|a, b| b.estimate.unwrap_or(-1.0).total_cmp(&a.estimate.unwrap_or(-1.0))),
    }
    let label =
        cells.iter().find(|c| c.measure == measure).map(|c| c.measure_label.clone()).unwrap_or_else(|| measure.clone());
    let points: Vec<Point> = icss
        .iter()
        .filter_map(|c| {
            Some(Point {
                label: c.area_name.clone(),
                estimate: c.estimate?,
                low: c.ci_low?,
                high: c.ci_high?,
                flagged: c.vs_england_significant.is_some_and(|s| s != 0),
            })
        })
        .collect();
    let dot = charts::dot_plot(
        "ics-chart",
        &format!("{label} by ICS, with 95% confidence intervals"),
        &points,
        england.and_then(|e| e.estimate).map(|v| (v, "England")),
    );
    let funnel = match (report.results.sample(sample).and_then(|s| s.funnel), group.as_str(), measure.as_str()) {
        (Some(f), "people", "index") => {
            let pts: Vec<(String, f64, f64, i8)> = icss
                .iter()
                .filter_map(|c| Some((c.area_name.clone(), c.estimate?, c.se?, c.funnel.unwrap_or(0))))
                .filter(|p| p.2 > 0.0)
                .collect();
            Some(charts::funnel_plot("funnel-chart", "Funnel plot: people's integration index by ICS", &f, &pts))
        }
        _ => None,
    };
    // One area by the chosen dimension.
    let breakdown: Vec<&Published> = if dimension == ALL {
        Vec::new()
    } else {
        cells.iter().filter(chosen_cell).filter(|c| c.area == area && c.dimension == dimension).collect()
    };
    let breakdown_chart = (!breakdown.is_empty()).then(|| {
        let pts: Vec<Point> = breakdown
            .iter()
            .filter_map(|c| {
                Some(Point {
                    label: c.category.clone(),
                    estimate: c.estimate?,
                    low: c.ci_low?,
                    high: c.ci_high?,
                    flagged: false,
                })
            })
            .collect();
        charts::dot_plot(
            "group-chart",
            &format!("{label} by {dimension}, {}", if area == ENGLAND { "England".to_string() } else { area.clone() }),
            &pts,
            None,
        )
    });
    let measures: Vec<(String, String)> = {
        let mut seen = Vec::<(String, String)>::new();
        for c in cells.iter().filter(|c| c.group == group && !c.measure.contains('=')) {
            if !seen.iter().any(|(m, _)| *m == c.measure) {
                seen.push((c.measure.clone(), c.measure_label.clone()));
            }
        }
        seen
    };
    let groups: Vec<(String, String)> = [
        ("people", "People's index (patients and on behalf of adults)"),
        ("carers", "Carers' index (carers' own experience)"),
        ("children", "On behalf of children"),
    ]
    .iter()
    .filter(|(g, _)| cells.iter().any(|c| c.group == *g))
    .map(|(g, l)| (g.to_string(), l.to_string()))
    .collect();
    let dimensions: Vec<(String, String)> = std::iter::once((ALL.to_string(), "None".to_string()))
        .chain(DIMENSIONS.iter().map(|d| (d.to_string(), d.replace('_', " "))))
        .collect();
    let mut areas: Vec<(String, String)> = vec![(ENGLAND.into(), ENGLAND.into())];
    areas.extend(icss.iter().map(|c| (c.area.clone(), c.area_name.clone())));
    areas[1..].sort_by(|a, b| a.1.cmp(&b.1));
    let mut samples: Vec<(String, String)> = report
        .results
        .samples
        .iter()
        .map(|s| {
            let headline = if Some(s.sample) == report.results.headline { " (headline)" } else { "" };
            (s.sample.code().to_string(), format!("{}{headline}", s.sample.label()))
        })
        .collect();
    if report.results.samples.len() >= 2 && !samples.iter().any(|(c, _)| c == "pooled") {
        samples.push(("pooled".into(), Sample::Pooled.label().into()));
    }
    let trims: Vec<(String, String)> =
        std::iter::once(("5".to_string(), "5 × the ICS mean weight (default)".to_string()))
            .chain(
                reports::TRIM_CHOICES
                    .iter()
                    .filter(|k| **k != 5.0)
                    .map(|k| (k.to_string(), format!("{k} × the ICS mean weight"))),
            )
            .chain(std::iter::once(("off".to_string(), "No trimming".to_string())))
            .collect();
    let trim_selected = report.options.trim.map_or("off".to_string(), |k| k.to_string());
    let p = &report.provenance;
    let base_query = filters.query();
    let release_query = format!("{base_query}&release={}", report.period);
    let sort_links = ["estimate", "name", "vs_england"]
        .into_iter()
        .map(|key| views::SortLink { key, href: format!("/analyst/surveys/{survey_id}?{release_query}&sort={key}") })
        .collect();
    let downloads = ["csv", "xlsx", "json"]
        .into_iter()
        .map(|format| views::Download {
            format,
            href: format!("/analyst/surveys/{survey_id}/download?{release_query}&format={format}"),
        })
        .collect();
    let researcher = principal.roles.contains(&Role::Researcher);
    let data = frame.page(views::Results {
        empty: cells.is_empty(),
        survey_title: p.survey_title.clone(),
        release_options: release_list,
        release: views::ResultsRelease {
            release: report.period.to_string(),
            release_label: report.period.first_day().format("%B %Y").to_string(),
            sample_label: sample.label().to_string(),
            indicative: sample == Sample::OpenLink,
            open_link_only: report.results.headline == Some(Sample::OpenLink),
            measure_label: label,
            england: england.map(Cell::from),
            icss: icss.iter().map(|c| Cell::from(*c)).collect(),
            chart: dot,
            funnel_chart: funnel,
            comparisons: reports::COMPARISONS,
            breakdown: breakdown.iter().map(|c| Cell::from(*c)).collect(),
            breakdown_chart,
            breakdown_note: (dimension == "mode").then_some(BY_MODE),
            sample_options: Choice::list(&samples, sample.code()),
            trim_options: Choice::list(&trims, &trim_selected),
            group_options: Choice::list(&groups, &group),
            measure_options: Choice::list(&measures, &measure),
            dimension_options: Choice::list(&dimensions, &dimension),
            area_options: Choice::list(&areas, &area),
            dimension,
            sort_links,
            downloads,
            microdata_href: researcher.then(|| {
                format!("/research/surveys/{survey_id}/microdata?release={}&sample={}", report.period, sample.code())
            }),
            questions_href: format!("/analyst/surveys/{survey_id}/questions?{release_query}"),
            provenance: ProvenanceView::from(&report),
        },
        survey_id,
    });
    staff::render(&state, "analyst/results", &data)
}

/// Beside results by mode (methodology §5.1).
const BY_MODE: &str = "Results by mode are for monitoring differences between online and paper answers. They are not adjusted for mode effects: people answer some questions differently on paper, and those who answer on paper differ from those who answer online, so a difference between the modes mixes the two.";

/// `GET /analyst/surveys/{survey_id}/questions`: question-level tables.
pub async fn questions(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let request = filters.request(&state, &survey_id)?;
    let report = match releases(&state, request).await {
        Ok(mut list) => list.pop().ok_or(WebError::NotFound)?,
        Err(ReportError::NoRelease(_)) => {
            let Some(latest) = state.surveys.latest(&survey_id) else { return Err(WebError::NotFound) };
            let title = latest.definition.title.get(latest.definition.default_language(), None).to_string();
            let data = StaffFrame::new(&state, &req, Some(&principal), &format!("Question results: {title}"))
                .wide()
                .page(views::Questions {
                    results_href: format!("/analyst/surveys/{survey_id}"),
                    survey_id,
                    survey_title: title,
                    empty: true,
                    release: views::QuestionsRelease::default(),
                });
            return staff::render(&state, "analyst/questions", &data);
        }
        Err(e) => return Err(web_error(e)),
    };
    let sample = filters.sample()?.or(report.results.headline).unwrap_or(Sample::Invitation);
    let group = filters.group.clone().unwrap_or_else(|| "people".into());
    let area = filters.area.clone().unwrap_or_else(|| ENGLAND.into());
    let mut by_question: BTreeMap<String, (String, Vec<views::AnswerRow>)> = BTreeMap::new();
    let mut order = Vec::new();
    for c in report.results.cells.iter().filter(|c| {
        c.sample == sample && c.group == group && c.area == area && c.dimension == ALL && c.measure.contains('=')
    }) {
        let (question, answer) = c.measure.split_once('=').unwrap_or_default();
        let (question_text, answer_label) = c.measure_label.rsplit_once(": ").unwrap_or((&c.measure_label, answer));
        let entry = by_question.entry(question.to_string()).or_insert_with(|| {
            order.push(question.to_string());
            (question_text.to_string(), Vec::new())
        });
        entry.1.push(views::AnswerRow {
            answer: answer_label.to_string(),
            n: c.n.clone(),
            percent: c.estimate,
            ci_low: c.ci_low,
            ci_high: c.ci_high,
            suppressed: c.suppressed.clone(),
            not_estimable: c.not_estimable.clone(),
        });
    }
    let tables = order
        .iter()
        .filter_map(|q| {
            let (text, rows) = by_question.remove(q)?;
            Some(views::QuestionTable { id: q.clone(), text, rows })
        })
        .collect();
    let areas: Vec<(String, String)> = std::iter::once((ENGLAND.to_string(), ENGLAND.to_string()))
        .chain(
            report
                .results
                .cells
                .iter()
                .filter(|c| {
                    c.sample == sample
                        && c.measure == "index"
                        && c.group == group
                        && c.dimension == ALL
                        && c.area != ENGLAND
                })
                .map(|c| (c.area.clone(), c.area_name.clone())),
        )
        .collect();
    let title = &report.provenance.survey_title;
    let data = StaffFrame::new(&state, &req, Some(&principal), &format!("Question results: {title}")).wide().page(
        views::Questions {
            results_href: format!("/analyst/surveys/{survey_id}?{}&release={}", filters.query(), report.period),
            survey_id,
            survey_title: title.clone(),
            empty: false,
            release: views::QuestionsRelease {
                release: report.period.to_string(),
                release_label: report.period.first_day().format("%B %Y").to_string(),
                sample: sample.code().to_string(),
                sample_label: sample.label().to_string(),
                indicative: sample == Sample::OpenLink,
                trim: filters.trim.clone(),
                area_options: Choice::list(&areas, &area),
                group,
                tables,
                provenance: ProvenanceView::from(&report),
            },
        },
    );
    staff::render(&state, "analyst/questions", &data)
}

async fn record_download(
    state: &Data,
    req: &HttpRequest,
    principal: &Principal,
    survey_id: &str,
    what: String,
) -> Result<(), WebError> {
    let actor = Actor::user(principal.user_id, &principal.email);
    let event = Event::new(Action::ResultsDownloaded).target(survey_id.to_string()).detail(what);
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    state.db.write(move |conn| audit::record(conn, &actor, &event, ip.as_deref())).await?;
    Ok(())
}

fn download_response(
    reports: &[Arc<Report>],
    sample: Option<Sample>,
    format: Format,
    survey_id: &str,
) -> Result<HttpResponse, WebError> {
    let mut bytes = Vec::new();
    crate::results::outputs::write(reports, sample, format, &mut bytes)
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let releases: Vec<String> = reports.iter().map(|r| r.period.to_string()).collect();
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{survey_id}-results-{}.{}\"", releases.join("_"), format.extension()),
        ))
        .body(bytes))
}

/// `GET /analyst/surveys/{survey_id}/download?format=csv|xlsx|json`.
pub async fn download(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, WebError> {
    download_as(state, req, principal, path.into_inner(), filters.into_inner(), "csv", "on the analyst pages").await
}

/// A survey's weighted results
///
/// Index, domain and question scores for every ICS and patient group, with
/// 95% confidence intervals, effective sample sizes and disclosure control
/// applied: the analyst pages' download. By default the latest closed
/// release; `release`, or `from` and `to`, choose others (a trend).
#[utoipa::path(
    get,
    path = "/api/v1/analyst/surveys/{survey_id}/results",
    tag = "results",
    params(
        ("survey_id" = String, Path, description = "The survey's id, as `GET /api/v1/surveys` lists it"),
        ("format" = Option<crate::web::openapi::ResultsFormat>, Query, description = "`json` (the default), `csv` or `xlsx`"),
        ("release" = Option<String>, Query, pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])$", description = "One release, by its month `YYYY-MM`"),
        ("from" = Option<chrono::NaiveDate>, Query, description = "Releases ending on or after this day"),
        ("to" = Option<chrono::NaiveDate>, Query, description = "Releases ending on or before this day"),
        ("sample" = Option<crate::web::openapi::SampleChoice>, Query, description = "One sample's cells, or `all` (the default)"),
        ("channel" = Option<crate::web::openapi::SampleChoice>, Query, deprecated, description = "The old name of `sample`"),
        ("trim" = Option<crate::web::openapi::TrimChoice>, Query, description = "Cap weights at this multiple of the mean (the release's own cap by default), or `off`"),
    ),
    security(("api_token" = ["analyst"]), ("session" = ["analyst"])),
    responses(
        (status = 200, description = "The results", content(
            (crate::web::openapi::Results = "application/json"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 400, description = "A parameter cannot be used; or the release asked for is still in fieldwork, has no responses, or cannot be weighted (the detail says which)", body = crate::web::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token or session", body = crate::web::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an analyst", body = crate::web::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such survey, or no such release of it", body = crate::web::openapi::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_results(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, WebError> {
    download_as(state, req, principal, path.into_inner(), filters.into_inner(), "json", "through the API").await
}

async fn download_as(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    survey_id: String,
    filters: Filters,
    default_format: &str,
    place: &str,
) -> Result<HttpResponse, WebError> {
    let format = Format::parse(filters.format.as_deref().filter(|f| !f.is_empty()).unwrap_or(default_format))
        .ok_or_else(|| WebError::BadRequest("format must be csv, xlsx or json".into()))?;
    let request = filters.request(&state, &survey_id)?;
    let sample = filters.sample()?;
    let reports = releases(&state, request).await.map_err(web_error)?;
    let releases: Vec<String> = reports.iter().map(|r| r.period.to_string()).collect();
    record_download(
        &state,
        &req,
        &principal,
        &survey_id,
        format!("results {} of release {} {place}", format.extension(), releases.join(", ")),
    )
    .await?;
    download_response(&reports, sample, format, &survey_id)
}

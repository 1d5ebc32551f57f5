//! The analyst's results pages and downloads. Every figure comes from the
//! same published report as the CLI and the API, disclosure control applied;
//! every download is audited.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::charts::{self, Point};
use super::errors::WebError;
use super::staff::{self, extend};
use crate::accounts::Principal;
use crate::accounts::audit::{self, Action, Actor, Event};
use crate::app::AppState;
use crate::index::cells::{ALL, ENGLAND};
use crate::index::frame::DIMENSIONS;
use crate::index::results::Published;
use crate::outputs::Format;
use crate::reports::{Report, ReportError, Request};

type Data = web::Data<AppState>;

#[derive(Debug, Deserialize, Default)]
pub struct Filters {
    group: Option<String>,
    measure: Option<String>,
    dimension: Option<String>,
    area: Option<String>,
    channel: Option<String>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    sort: Option<String>,
    format: Option<String>,
}

impl Filters {
    fn request(&self, state: &AppState, survey_id: &str) -> Result<Request, WebError> {
        let channel = match self.channel.as_deref() {
            None | Some("") | Some("all") => None,
            Some(c @ ("open_link" | "invitation")) => Some(c.to_string()),
            Some(other) => return Err(WebError::BadRequest(format!("unknown channel `{other}`"))),
        };
        Ok(Request {
            survey_id: survey_id.to_string(),
            from: self.from,
            to: self.to,
            channel,
            threshold: state.settings.suppress_below,
        })
    }

    fn query(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("group", &self.group),
            ("measure", &self.measure),
            ("dimension", &self.dimension),
            ("area", &self.area),
            ("channel", &self.channel),
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

async fn report(state: &Data, survey_id: &str, filters: &Filters) -> Result<std::sync::Arc<Report>, WebError> {
    let request = filters.request(state, survey_id)?;
    match state.reports.get(state, request).await {
        Ok(r) => Ok(r),
        Err(ReportError::UnknownSurvey(_)) => Err(WebError::NotFound),
        Err(ReportError::NoResponses(s)) => {
            Err(WebError::BadRequest(format!("survey `{s}` has no submitted responses in that window")))
        }
        Err(e @ (ReportError::Weighting(_) | ReportError::Margins(_))) => Err(WebError::BadRequest(e.to_string())),
        Err(ReportError::Storage(e)) => Err(WebError::Storage(e)),
    }
}

fn cell_view(c: &Published) -> Value {
    json!({
        "area": c.area, "area_name": c.area_name, "category": c.category, "n": c.n,
        "estimate": c.estimate, "ci_low": c.ci_low, "ci_high": c.ci_high, "n_eff": c.n_eff,
        "suppressed": c.suppressed,
        "vs_england": c.vs_england, "significant": c.vs_england_significant.map(|s| match s { 1 => "higher", -1 => "lower", _ => "no difference" }),
        "peer_mean": c.peer_mean, "vs_peers": c.vs_peers,
        "peer_significant": c.vs_peers_significant.map(|s| match s { 1 => "higher", -1 => "lower", _ => "no difference" }),
        "funnel": c.funnel.map(|f| match f { 2 => "above 99.8% limit", 1 => "above 95% limit", -1 => "below 95% limit", -2 => "below 99.8% limit", _ => "within limits" }),
        "standardised": c.standardised,
    })
}

fn options(list: &[(String, String)], selected: &str) -> Vec<Value> {
    list.iter().map(|(v, l)| json!({ "value": v, "label": l, "selected": v == selected })).collect()
}

/// `GET /analyst/surveys/{survey_id}`: the ICS table, charts and filters.
pub async fn results(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let report = report(&state, &survey_id, &filters).await?;
    let group = filters.group.clone().unwrap_or_else(|| "people".into());
    let measure = filters.measure.clone().unwrap_or_else(|| "index".into());
    let dimension = filters.dimension.clone().unwrap_or_else(|| ALL.into());
    let area = filters.area.clone().unwrap_or_else(|| ENGLAND.into());
    let cells = &report.results.cells;
    let chosen = |c: &&Published| c.group == group && c.measure == measure;
    let england = cells.iter().filter(chosen).find(|c| c.area == ENGLAND && c.dimension == ALL);
    let mut icss: Vec<&Published> =
        cells.iter().filter(chosen).filter(|c| c.area != ENGLAND && c.dimension == ALL).collect();
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
    let funnel = match (&report.results.funnel, group.as_str(), measure.as_str()) {
        (Some(f), "people", "index") => {
            let pts: Vec<(String, f64, f64, i8)> = icss
                .iter()
                .filter_map(|c| Some((c.area_name.clone(), c.estimate?, c.n_eff?, c.funnel.unwrap_or(0))))
                .collect();
            Some(charts::funnel_plot("funnel-chart", "Funnel plot: people's integration index by ICS", f, &pts))
        }
        _ => None,
    };
    // One area by the chosen dimension.
    let breakdown: Vec<&Published> = if dimension == ALL {
        Vec::new()
    } else {
        cells.iter().filter(chosen).filter(|c| c.area == area && c.dimension == dimension).collect()
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
    let channels: Vec<(String, String)> =
        [("all", "Open link and invitation"), ("open_link", "Open link only"), ("invitation", "Invitation only")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    let p = &report.provenance;
    let base_query = filters.query();
    let sort_links: Vec<Value> = ["estimate", "name", "vs_england"]
        .iter()
        .map(|s| json!({ "key": s, "href": format!("/analyst/surveys/{survey_id}?{base_query}&sort={s}") }))
        .collect();
    let downloads: Vec<Value> = ["csv", "xlsx", "json"]
        .iter()
        .map(|f| json!({ "format": f, "href": format!("/analyst/surveys/{survey_id}/download?{base_query}&format={f}") }))
        .collect();
    let data = extend(
        staff::page(&state, &req, Some(&principal), &format!("Results: {}", p.survey_title)),
        json!({
            "wide": true,
            "empty": cells.is_empty(),
            "survey_id": survey_id,
            "survey_title": p.survey_title,
            "measure_label": label,
            "england": england.map(cell_view),
            "icss": icss.iter().map(|c| cell_view(c)).collect::<Vec<_>>(),
            "chart": dot,
            "funnel_chart": funnel,
            "breakdown": breakdown.iter().map(|c| cell_view(c)).collect::<Vec<_>>(),
            "breakdown_chart": breakdown_chart,
            "dimension": dimension,
            "group_options": options(&groups, &group),
            "measure_options": options(&measures, &measure),
            "dimension_options": options(&dimensions, &dimension),
            "area_options": options(&areas, &area),
            "channel_options": options(&channels, filters.channel.as_deref().unwrap_or("all")),
            "sort_links": sort_links,
            "downloads": downloads,
            "microdata_href": format!("/analyst/surveys/{survey_id}/microdata?{base_query}"),
            "questions_href": format!("/analyst/surveys/{survey_id}/questions?{base_query}"),
            "provenance": provenance_view(&report),
        }),
    );
    staff::render(&state, "analyst/results", &data)
}

fn provenance_view(report: &Report) -> Value {
    let p = &report.provenance;
    json!({
        "versions": p.versions.iter().map(|(v, h)| format!("{v} ({})", &h[..12.min(h.len())])).collect::<Vec<_>>().join(", "),
        "not_pooled": p.versions_not_pooled.join(", "),
        "window": format!("{} to {}", p.first_response.map(|d| d.to_string()).unwrap_or_default(), p.last_response.map(|d| d.to_string()).unwrap_or_default()),
        "channels": p.channel_mix.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "),
        "channel_filter": p.channel_filter,
        "weighting": p.weighting,
        "population": p.population_source,
        "deprivation": p.deprivation_source,
        "suppression": p.suppression,
        "generated_at": p.generated_at,
    })
}

/// `GET /analyst/surveys/{survey_id}/questions`: question-level tables.
pub async fn questions(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let report = report(&state, &survey_id, &filters).await?;
    let group = filters.group.clone().unwrap_or_else(|| "people".into());
    let area = filters.area.clone().unwrap_or_else(|| ENGLAND.into());
    let mut by_question: BTreeMap<String, (String, Vec<Value>)> = BTreeMap::new();
    let mut order = Vec::new();
    for c in report
        .results
        .cells
        .iter()
        .filter(|c| c.group == group && c.area == area && c.dimension == ALL && c.measure.contains('='))
    {
        let (question, answer) = c.measure.split_once('=').unwrap_or_default();
        let (question_text, answer_label) = c.measure_label.rsplit_once(": ").unwrap_or((&c.measure_label, answer));
        let entry = by_question.entry(question.to_string()).or_insert_with(|| {
            order.push(question.to_string());
            (question_text.to_string(), Vec::new())
        });
        entry.1.push(json!({ "answer": answer_label, "n": c.n, "percent": c.estimate, "suppressed": c.suppressed }));
    }
    let tables: Vec<Value> =
        order.iter().map(|q| json!({ "id": q, "text": by_question[q].0, "rows": by_question[q].1 })).collect();
    let areas: Vec<(String, String)> = std::iter::once((ENGLAND.to_string(), ENGLAND.to_string()))
        .chain(
            report
                .results
                .cells
                .iter()
                .filter(|c| c.measure == "index" && c.group == group && c.dimension == ALL && c.area != ENGLAND)
                .map(|c| (c.area.clone(), c.area_name.clone())),
        )
        .collect();
    let data = extend(
        staff::page(&state, &req, Some(&principal), &format!("Question results: {}", report.provenance.survey_title)),
        json!({
            "wide": true,
            "survey_id": survey_id,
            "survey_title": report.provenance.survey_title,
            "area_options": options(&areas, &area),
            "group": group,
            "tables": tables,
            "results_href": format!("/analyst/surveys/{survey_id}?{}", filters.query()),
            "provenance": provenance_view(&report),
        }),
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

fn download_response(report: &Report, format: Format, survey_id: &str) -> Result<HttpResponse, WebError> {
    let mut bytes = Vec::new();
    crate::outputs::write(report, format, &mut bytes).map_err(|e| WebError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{survey_id}-results.{}\"", format.extension()),
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
    let survey_id = path.into_inner();
    let format = Format::parse(filters.format.as_deref().unwrap_or("csv"))
        .ok_or_else(|| WebError::BadRequest("format must be csv, xlsx or json".into()))?;
    let report = report(&state, &survey_id, &filters).await?;
    record_download(
        &state,
        &req,
        &principal,
        &survey_id,
        format!("results {} on the analyst pages", format.extension()),
    )
    .await?;
    download_response(&report, format, &survey_id)
}

/// `GET /api/v1/analyst/surveys/{survey_id}/results?format=json|csv|xlsx`.
pub async fn api_results(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let format = Format::parse(filters.format.as_deref().unwrap_or("json"))
        .ok_or_else(|| WebError::BadRequest("format must be csv, xlsx or json".into()))?;
    let report = report(&state, &survey_id, &filters).await?;
    record_download(&state, &req, &principal, &survey_id, format!("results {} through the API", format.extension()))
        .await?;
    download_response(&report, format, &survey_id)
}

/// `GET /analyst/surveys/{survey_id}/microdata`: one row per respondent for
/// analysts' own modelling, streamed ICS by ICS.
pub async fn microdata(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let request = filters.request(&state, &survey_id)?;
    if state.surveys.latest(&survey_id).is_none() {
        return Err(WebError::NotFound);
    }
    record_download(&state, &req, &principal, &survey_id, "microdata csv on the analyst pages".into()).await?;
    let stream = crate::microdata::stream(state.into_inner(), request);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{survey_id}-microdata.csv\"")))
        .streaming(stream))
}

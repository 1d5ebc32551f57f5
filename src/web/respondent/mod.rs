//! Respondent pages: start, one question a page, check answers, submit,
//! save and resume, delete. Handlers parse, call the journey and storage,
//! and render; the rules live in `journey`.

pub mod opt_out;
pub mod response_cache;

use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::cookie::{Cookie, CookieJar, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::address_limits::{self, AddressLimit};
use crate::definitions::{AnswerValue, Answers, QuestionKind, Voice};
use crate::journey::form::{answers_from_stored, fields_from_answers};
use crate::journey::view::{self, IcsChoice};
use crate::journey::{self, Next, Outcome, Step};
use crate::journey::{Context, Fields, Presets, Route, Wording};
use crate::storage::invitations::Invitation;
use crate::storage::responses::{self, Channel, NewResponse, PageSave, Response};
use crate::storage::results::{self, ResultRow};
use crate::storage::{self, invitations};
use crate::surveys::PublishedSurvey;
use crate::tokens;
use crate::web::AppState;
use crate::web::csrf::{self, CsrfForm};
use crate::web::errors::WebError;
use response_cache::Kept;

type Data = web::Data<AppState>;

#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
    change: Option<String>,
    /// With `cleared`: the page whose changed answer cleared others.
    because: Option<String>,
    cleared: Option<String>,
}

/// Answers cleared because an earlier one changed, told to the respondent
/// on each page asked again and on check answers. Carried in the address
/// and the form as page ids only, and only ids of this survey are used.
#[derive(Debug, Clone, Default, PartialEq)]
struct Reasked {
    because: usize,
    pages: Vec<usize>,
}

impl Reasked {
    fn parse(
        definition: &crate::definitions::SurveyDefinition,
        because: Option<&str>,
        cleared: Option<&str>,
    ) -> Option<Self> {
        let index = |id: &str| definition.pages.iter().position(|p| p.id == id);
        let because = index(because?)?;
        let pages: Vec<usize> = cleared?.split(',').filter_map(index).collect();
        (!pages.is_empty()).then_some(Reasked { because, pages })
    }

    fn from_fields(definition: &crate::definitions::SurveyDefinition, fields: &mut Fields) -> Option<Self> {
        let mut take = |name: &str| fields.remove(name).and_then(|v| v.into_iter().next());
        let (because, cleared) = (take("because"), take("cleared"));
        Self::parse(definition, because.as_deref(), cleared.as_deref())
    }

    /// `because=…&cleared=…`, to add to an address.
    fn query(&self, definition: &crate::definitions::SurveyDefinition) -> String {
        let ids: Vec<&str> = self.pages.iter().map(|&p| definition.pages[p].id.as_str()).collect();
        format!("because={}&cleared={}", definition.pages[self.because].id, ids.join(","))
    }

    /// The sentence shown on a page asked again.
    fn page_notice(&self, wording: &Wording<'_>) -> String {
        let because = &wording.definition.pages[self.because];
        if because.question.sets_voice {
            wording.ui("answers_cleared_voice_page", &[])
        } else {
            wording.ui("answers_cleared_page", &[("question", wording.text(&because.question.text))])
        }
    }

    /// What check answers says: why, and which questions were asked again.
    fn summary(&self, wording: &Wording<'_>) -> Value {
        let d = wording.definition;
        let because = &d.pages[self.because];
        let intro = if because.question.sets_voice {
            wording.ui("answers_cleared_voice", &[])
        } else {
            wording.ui("answers_cleared_check", &[("question", wording.text(&because.question.text))])
        };
        let questions: Vec<&str> = self.pages.iter().map(|&p| wording.text(&d.pages[p].question.text)).collect();
        json!({ "title": wording.ui("answers_cleared_title", &[]), "intro": intro, "questions": questions })
    }
}

/// Adds `extra` (a query without `?`) to a path.
fn with_query(path: String, extra: &str) -> String {
    if extra.is_empty() {
        path
    } else if path.contains('?') {
        format!("{path}&{extra}")
    } else {
        format!("{path}?{extra}")
    }
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location.to_string())).finish()
}

fn render(state: &AppState, template: &str, data: Value) -> Result<HttpResponse, WebError> {
    Ok(html(crate::web::templates::render_owned(&state.templates, template, data)?))
}

fn survey_path(survey_id: &str) -> String {
    format!("/surveys/{survey_id}")
}

fn page_path(survey_id: &str, page: &str) -> String {
    format!("/surveys/{survey_id}/q/{page}")
}

// ---- the response cookie --------------------------------------------------

fn cookie_name(survey_id: &str) -> String {
    format!("joinedup_r_{survey_id}")
}

/// The response a browser is answering for this survey, and the newest
/// revision of it the browser has seen, from its signed cookie. Another
/// instance's kept copy older than that revision is stale and is not used.
fn cookie_response(state: &AppState, req: &HttpRequest, survey_id: &str) -> Option<(i64, i64)> {
    let name = cookie_name(survey_id);
    let cookie = req.cookie(&name)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let value = jar.signed(&state.cookie_key).get(&name)?.value().to_string();
    let (id, revision) = value.split_once('.').unwrap_or((&value, "0"));
    Some((id.parse().ok()?, revision.parse().ok()?))
}

fn response_cookie(state: &AppState, survey_id: &str, response_id: i64, revision: i64) -> Cookie<'static> {
    let name = cookie_name(survey_id);
    let mut jar = CookieJar::new();
    let cookie = Cookie::build(name.clone(), format!("{response_id}.{revision}"))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.base_url.starts_with("https://"))
        .finish();
    jar.signed_mut(&state.cookie_key).add(cookie);
    jar.get(&name).cloned().expect("just added")
}

fn removal_cookie(survey_id: &str) -> Cookie<'static> {
    let mut cookie = Cookie::build(cookie_name(survey_id), "").path("/").finish();
    cookie.make_removal();
    cookie
}

// ---- shared page data -----------------------------------------------------

/// The response being answered, with everything a page needs.
struct Current {
    survey: Arc<PublishedSurvey>,
    response: Response,
    answers: Answers,
    route: Route,
}

impl Current {
    fn presets(response: &Response) -> Presets {
        Presets {
            voice: if response.voice_preset { response.voice.as_deref().and_then(Voice::from_code) } else { None },
            ics: response.ics_preset,
        }
    }

    fn wording(&self) -> Wording<'_> {
        let language = crate::journey::wording::choose_language(&self.survey.definition, Some(&self.response.language));
        Wording::new(&self.survey.definition, language, self.route.voice)
    }

    fn survey_id(&self) -> &str {
        &self.survey.definition.id
    }
}

async fn load_current(
    state: &Data,
    req: &HttpRequest,
    survey_id: &str,
    source: Source,
) -> Result<Option<Current>, WebError> {
    let Some((id, seen)) = cookie_response(state, req, survey_id) else { return Ok(None) };
    load_response(state, id, survey_id, source, seen).await
}

/// Where a response is read from.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    /// The copy kept between pages, if there is one: the question pages.
    Kept,
    /// The database: a save found the kept copy out of date, or the step
    /// is one a respondent takes once (check answers, submit, confirmation,
    /// save, delete), where what another process changed matters more than
    /// a read.
    Database,
}

/// `seen` is the newest revision the browser has seen: a kept copy older
/// than it was left behind by a save another instance served.
async fn load_response(
    state: &Data,
    id: i64,
    survey_id: &str,
    source: Source,
    seen: i64,
) -> Result<Option<Current>, WebError> {
    let kept = if source == Source::Kept { state.responses.get(id) } else { None };
    let kept = kept.filter(|k| k.response.revision >= seen);
    let (response, answers, route, survey) = match kept {
        Some(kept) => {
            let Some(survey) = state.surveys.get_or_reload(&state.db, kept.response.survey_version_id).await? else {
                return Ok(None);
            };
            let Kept { response, answers, route } = Kept::clone(&kept);
            (response, answers, route, survey)
        }
        None => {
            let loaded = state.db.read_small(move |conn| responses::with_answers(conn, id)).await?;
            let Some((response, rows)) = loaded else {
                state.responses.forget(id);
                return Ok(None);
            };
            let Some(survey) = state.surveys.get_or_reload(&state.db, response.survey_version_id).await? else {
                return Ok(None);
            };
            let d = &survey.definition;
            let answers = answers_from_stored(d, rows.iter().map(|(q, v)| (q.as_str(), v.as_str())));
            let route = Route::compute(d, Current::presets(&response), &answers);
            state.responses.keep(response.clone(), answers.clone(), route.clone());
            (response, answers, route, survey)
        }
    };
    if survey.definition.id != survey_id {
        return Ok(None);
    }
    Ok(Some(Current { survey, response, answers, route }))
}

/// The current response, or a redirect to the start page when there is none.
async fn require_current(
    state: &Data,
    req: &HttpRequest,
    survey_id: &str,
    source: Source,
) -> Result<Result<Current, HttpResponse>, WebError> {
    Ok(match load_current(state, req, survey_id, source).await? {
        Some(current) => Ok(current),
        None => Err(see_other(&survey_path(survey_id))),
    })
}

fn ics_choices(state: &AppState) -> Vec<IcsChoice> {
    let today = state.clock.today();
    let mut list: Vec<IcsChoice> = state
        .icss
        .iter()
        .filter(|i| i.is_valid_on(today))
        .map(|i| IcsChoice { code: i.ons_code.clone(), name: i.name.clone(), region: i.nhs_region.clone() })
        .collect();
    list.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
    list
}

/// A link within a survey that keeps the respondent's language when the
/// survey has more than one.
fn in_language(wording: &Wording<'_>, path: &str) -> String {
    if wording.definition.languages.len() > 1 { format!("{path}?lang={}", wording.language) } else { path.to_string() }
}

/// What every respondent page carries: language, wording, links, CSRF token.
fn base(
    state: &AppState,
    req: &HttpRequest,
    survey: &PublishedSurvey,
    wording: &Wording<'_>,
    title: &str,
    path: &str,
) -> Value {
    let d = wording.definition;
    let survey_title = wording.text(&d.title);
    let mut page = json!({
        "lang": wording.language,
        "title": if title == survey_title { title.to_string() } else { format!("{title} - {survey_title}") },
        "service_name": survey_title,
        "home_href": in_language(wording, &survey_path(&d.id)),
        "privacy_href": in_language(wording, &format!("{}/privacy", survey_path(&d.id))),
        "languages": view::language_links(d, wording.language, path),
        "csrf": csrf::token(req, state.secret.expose()),
    });
    // Moved in: `json!` would serialise a second copy.
    page["ui"] = survey.ui(wording);
    page
}

fn extend(mut value: Value, more: Value) -> Value {
    if let (Some(target), Value::Object(extra)) = (value.as_object_mut(), more) {
        target.extend(extra);
    }
    value
}

// ---- home and start -------------------------------------------------------

pub async fn home(state: Data, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let today = state.clock.today();
    let mut seen = BTreeSet::new();
    let surveys: Vec<Value> = state
        .surveys
        .open_on(today)
        .into_iter()
        .filter(|s| seen.insert(s.definition.id.clone()))
        .map(|s| {
            let d = &s.definition;
            json!({ "title": d.title.get(d.default_language(), None), "href": survey_path(&d.id) })
        })
        .collect();
    let data = json!({
        "lang": "en",
        "title": "Surveys - joinedup",
        "service_name": "joinedup",
        "home_href": "/",
        "ui": view::catalogue_ui("en"),
        "csrf": csrf::token(&req, state.secret.expose()),
        "surveys": surveys,
    });
    render(&state, "respondent/home", data)
}

fn about_view(wording: &Wording<'_>) -> Value {
    let about = &wording.definition.about;
    let text = |t: &Option<crate::definitions::Text>| t.as_ref().map(|t| wording.text(t).to_string());
    let privacy = text(&about.privacy);
    json!({
        "organisation": text(&about.organisation),
        "purpose": text(&about.purpose),
        "minutes": about.minutes.map(|m| wording.ui("start_minutes", &[("minutes", &m.to_string())])),
        "privacy": privacy,
        "privacy_paragraphs": privacy.as_deref().map(|p| p.split("\n\n").map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>()),
        "contact": text(&about.contact),
    })
}

/// `GET /surveys/{survey_id}`: who runs the survey, why, how long, privacy.
pub async fn start_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LangQuery>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let survey = state.surveys.current(&survey_id, state.clock.today()).ok_or(WebError::NotFound)?;
    let d = &survey.definition;
    let language = crate::journey::wording::choose_language(d, query.lang.as_deref());
    let wording = Wording::new(d, language, None);
    let page = extend(
        base(&state, &req, &survey, &wording, wording.text(&d.title), &survey_path(&survey_id)),
        json!({
            "about": about_view(&wording),
            "action": format!("{}/start?lang={language}", survey_path(&survey_id)),
            "resume_href": format!("/resume?survey={survey_id}&lang={language}"),
        }),
    );
    render(&state, "respondent/start", page)
}

/// `POST /surveys/{survey_id}/start`: begins an open-link response, or
/// continues the one this browser already has.
pub async fn start(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LangQuery>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    if let Some(current) = load_current(&state, &req, &survey_id, Source::Kept).await?
        && !current.response.is_submitted()
    {
        return Ok(see_other(&resume_location(&current)));
    }
    if let Some(ip) = req.peer_addr().map(|a| a.ip())
        && !address_limits::allow(&state.db, state.secret.expose(), AddressLimit::start(state.settings.start_rate), ip)
            .await?
    {
        return Err(WebError::TooManyRequests);
    }
    let survey = state.surveys.current(&survey_id, state.clock.today()).ok_or(WebError::NotFound)?;
    let language = crate::journey::wording::choose_language(&survey.definition, query.lang.as_deref()).to_string();
    let version_id = survey.version.id;
    let at = state.clock.now();
    let response = state
        .db
        .write(move |conn| {
            let reference = tokens::new_reference();
            responses::create(
                conn,
                &NewResponse {
                    survey_version_id: version_id,
                    channel: Channel::OpenLink.as_str(),
                    status: responses::IN_PROGRESS,
                    voice: None,
                    language: &language,
                    ics_code: None,
                    created_at: at,
                    updated_at: at,
                    invitation_id: None,
                    reference: Some(&reference),
                    voice_preset: false,
                    ics_preset: false,
                },
            )
        })
        .await?;
    let route = Route::compute(&survey.definition, Presets::default(), &Answers::new());
    let first = route.visible.first().copied().unwrap_or(0);
    state.responses.keep(response.clone(), Answers::new(), route);
    let location = page_path(&survey_id, &survey.definition.pages[first].id);
    Ok(HttpResponse::SeeOther()
        .cookie(response_cookie(&state, &survey_id, response.id, response.revision))
        .insert_header((header::LOCATION, location))
        .finish())
}

/// Where a returning respondent picks up: the first unanswered page, or
/// check answers, or the confirmation if already sent.
fn resume_location(current: &Current) -> String {
    let id = current.survey_id();
    if current.response.is_submitted() {
        return format!("{}/done", survey_path(id));
    }
    match current.route.resume_point(&current.survey.definition, &current.answers) {
        Some(p) => page_path(id, &current.survey.definition.pages[p].id),
        None => format!("{}/check", survey_path(id)),
    }
}

pub async fn privacy(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LangQuery>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let survey = state.surveys.latest(&survey_id).ok_or(WebError::NotFound)?;
    let d = &survey.definition;
    let language = crate::journey::wording::choose_language(d, query.lang.as_deref());
    let wording = Wording::new(d, language, None);
    let title = wording.ui("privacy_title", &[]);
    let page = extend(
        base(&state, &req, &survey, &wording, &title, &format!("{}/privacy", survey_path(&survey_id))),
        json!({
            "survey_title": wording.text(&d.title),
            "about": about_view(&wording),
            "retention": retention_sentence(&wording, d.retention_months),
            "controller": controller_sentences(&wording, &state.settings.controller),
            "back_href": in_language(&wording, &survey_path(&survey_id)),
        }),
    );
    render(&state, "respondent/privacy", page)
}

/// The privacy notice's retention sentence, from the definition's
/// `retention_months`, which the daily retention job enforces.
fn retention_sentence(wording: &Wording<'_>, months: u32) -> String {
    let (years, months_text) = ((months / 12).to_string(), months.to_string());
    let params = [("years", years.as_str()), ("months", months_text.as_str())];
    let period = match months {
        1 => wording.ui("period_one_month", &params),
        12 => wording.ui("period_one_year", &params),
        m if m % 12 == 0 => wording.ui("period_years", &params),
        _ => wording.ui("period_months", &params),
    };
    wording.ui("privacy_retention", &[("period", &period)])
}

/// Who is responsible for the answers and how to reach them, from settings.
fn controller_sentences(wording: &Wording<'_>, controller: &crate::settings::Controller) -> Vec<String> {
    let (Some(name), Some(contact)) = (&controller.name, &controller.contact) else {
        return vec![wording.ui("privacy_no_controller", &[])];
    };
    let mut out = vec![wording.ui("privacy_controller", &[("name", name), ("contact", contact)])];
    if let Some(dpo) = &controller.dpo_contact {
        out.push(wording.ui("privacy_dpo", &[("dpo", dpo)]));
    }
    out.push(wording.ui("privacy_withdraw", &[]));
    out
}

pub async fn accessibility(state: Data, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let data = json!({
        "lang": "en",
        "title": "Accessibility statement - joinedup",
        "service_name": "joinedup",
        "home_href": "/",
        "ui": view::catalogue_ui("en"),
        "csrf": csrf::token(&req, state.secret.expose()),
    });
    render(&state, "respondent/accessibility", data)
}

// ---- question pages -------------------------------------------------------

fn page_index(current: &Current, page_id: &str) -> Option<usize> {
    current.survey.definition.pages.iter().position(|p| p.id == page_id)
}

async fn switch_language(state: &Data, current: &mut Current, requested: Option<&str>) -> Result<(), WebError> {
    let Some(lang) = requested else { return Ok(()) };
    let chosen = crate::journey::wording::choose_language(&current.survey.definition, Some(lang)).to_string();
    if chosen != current.response.language {
        let id = current.response.id;
        let value = chosen.clone();
        state.db.write(move |conn| responses::set_language(conn, id, &value)).await?;
        current.response.language = chosen;
        // The next page reads the response afresh.
        state.responses.forget(id);
    }
    Ok(())
}

/// What a question page says above the question, if anything.
enum PageNotice<'a> {
    None,
    /// Asked again: an earlier answer this one depended on changed.
    Reasked(&'a Reasked),
    /// The save was overtaken by another window; these are the answers as saved.
    Overtaken,
}

#[allow(clippy::too_many_arguments)]
fn question_page(
    state: &AppState,
    req: &HttpRequest,
    current: &Current,
    index: usize,
    fields: &Fields,
    errors: &[crate::journey::FieldError],
    returning: bool,
    notice: PageNotice<'_>,
) -> Result<HttpResponse, WebError> {
    let d = &current.survey.definition;
    let page = &d.pages[index];
    let wording = current.wording();
    let id = current.survey_id();
    let path = page_path(id, &page.id);
    // The ICS list is only shown on its own page.
    let asks_ics = matches!(page.question.kind, QuestionKind::IcsSelect);
    let choices = if asks_ics { ics_choices(state) } else { Vec::new() };
    let question = view::question(&wording, page, fields, errors, &choices);
    let heading = question["heading"].as_str().unwrap_or_default().to_string();
    let back = if returning {
        format!("{}/check", survey_path(id))
    } else {
        match current.route.previous(index) {
            Some(p) => page_path(id, &d.pages[p].id),
            None => survey_path(id),
        }
    };
    let mut data = extend(
        base(state, req, &current.survey, &wording, &heading, &path),
        json!({
            "errors": view::error_summary(errors),
            "progress": view::progress(&wording, &current.route, index),
            "action": path,
            "return_to": if returning { Some("check") } else { None },
            "notice": match &notice {
                PageNotice::Reasked(r) if r.pages.contains(&index) => Some(r.page_notice(&wording)),
                PageNotice::Overtaken => Some(wording.ui("save_overtaken", &[])),
                _ => None,
            },
            "because": match &notice { PageNotice::Reasked(r) => Some(d.pages[r.because].id.clone()), _ => None },
            "cleared": match &notice {
                PageNotice::Reasked(r) => Some(r.pages.iter().map(|&p| d.pages[p].id.as_str()).collect::<Vec<_>>().join(",")),
                _ => None,
            },
            "back_href": back,
            "save_href": format!("{}/save", survey_path(id)),
            "delete_href": format!("{}/delete", survey_path(id)),
        }),
    );
    data["question"] = question;
    // A page with mistakes is still 200: it is the page, re-rendered.
    render(state, "respondent/question", data)
}

/// `GET /surveys/{survey_id}/q/{page_id}`.
pub async fn show_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<LangQuery>,
) -> Result<HttpResponse, WebError> {
    let (survey_id, page_id) = path.into_inner();
    let mut current = match require_current(&state, &req, &survey_id, Source::Kept).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    if current.response.is_submitted() {
        return Ok(see_other(&format!("{}/done", survey_path(&survey_id))));
    }
    let index = page_index(&current, &page_id).ok_or(WebError::NotFound)?;
    if !current.route.contains(index) {
        return Ok(see_other(&resume_location(&current)));
    }
    switch_language(&state, &mut current, query.lang.as_deref()).await?;
    let d = &current.survey.definition;
    let fields = fields_from_answers(&d.pages[index], &current.answers);
    let reasked = Reasked::parse(d, query.because.as_deref(), query.cleared.as_deref());
    let notice = reasked.as_ref().map_or(PageNotice::None, PageNotice::Reasked);
    question_page(&state, &req, &current, index, &fields, &[], query.change.is_some(), notice)
}

/// `POST /surveys/{survey_id}/q/{page_id}`: checks the page, saves it
/// durably with any answers its change has hidden removed, then moves on.
pub async fn answer_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    CsrfForm(mut fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let (survey_id, page_id) = path.into_inner();
    let returning = fields.remove("return_to").is_some_and(|v| v.iter().any(|x| x == "check"));
    let mut current = match require_current(&state, &req, &survey_id, Source::Kept).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let reasked = Reasked::from_fields(&current.survey.definition, &mut fields);
    // A kept copy found out of date is read afresh and the page worked out
    // again from it; out of date again means another tab is saving now.
    for _ in 0..3 {
        match save_answers(&state, &req, &current, &page_id, &fields, returning, reasked.as_ref()).await? {
            Saved::Reply(reply) => return Ok(reply),
            Saved::OutOfDate => {
                let id = current.response.id;
                current = match load_response(&state, id, &survey_id, Source::Database, 0).await? {
                    Some(c) => c,
                    None => return Ok(see_other(&survey_path(&survey_id))),
                };
            }
        }
    }
    // Still overtaken: nothing of this page was saved. Say so, and show
    // the page with the answers as they are now saved.
    let Some(index) = page_index(&current, &page_id).filter(|&i| current.route.contains(i)) else {
        return Ok(see_other(&resume_location(&current)));
    };
    let fields = fields_from_answers(&current.survey.definition.pages[index], &current.answers);
    question_page(&state, &req, &current, index, &fields, &[], returning, PageNotice::Overtaken)
}

enum Saved {
    Reply(HttpResponse),
    /// Nothing saved: the response was written since it was read.
    OutOfDate,
}

async fn save_answers(
    state: &Data,
    req: &HttpRequest,
    current: &Current,
    page_id: &str,
    fields: &Fields,
    returning: bool,
    reasked: Option<&Reasked>,
) -> Result<Saved, WebError> {
    let survey_id = current.survey_id();
    if current.response.is_submitted() {
        return Ok(Saved::Reply(see_other(&format!("{}/done", survey_path(survey_id)))));
    }
    let index = page_index(current, page_id).ok_or(WebError::NotFound)?;
    if !current.route.contains(index) {
        return Ok(Saved::Reply(see_other(&resume_location(current))));
    }
    let d = &current.survey.definition;
    let page = &d.pages[index];
    let ics_codes: BTreeSet<String> = match page.question.kind {
        QuestionKind::IcsSelect => ics_choices(state).into_iter().map(|c| c.code).collect(),
        _ => BTreeSet::new(),
    };
    let wording = current.wording();
    let ctx = Context { wording, ics_codes: &ics_codes, today: state.clock.today() };
    let presets = Current::presets(&current.response);
    let outcome = journey::step(&ctx, presets, &current.answers, index, fields, returning)
        .map_err(|e| WebError::BadRequest(e.0))?;
    let step = match outcome {
        Outcome::Moved(step) => step,
        Outcome::Invalid(errors) => {
            let notice = reasked.map_or(PageNotice::None, PageNotice::Reasked);
            return question_page(state, req, current, index, fields, &errors, returning, notice).map(Saved::Reply);
        }
    };
    let Step { answers, given, removed, route, clearing, next } = step;
    let q = &page.question;
    let chosen_code = |id: &str| match answers.get(id) {
        Some(AnswerValue::Choice(c)) => Some(c.clone()),
        _ => None,
    };
    let save = PageSave {
        given: given.iter().map(|(id, v)| (id.clone(), v.to_stored())).collect(),
        removed,
        voice: q.sets_voice.then(|| route.voice.map(|v| v.code().to_string())),
        ics_code: matches!(q.kind, QuestionKind::IcsSelect).then(|| chosen_code(&q.id)),
        revision: Some(current.response.revision),
    };
    // The response as the save leaves it, kept for the next page.
    let mut saved_response = current.response.clone();
    let at = state.clock.now();
    saved_response.revision += 1;
    saved_response.updated_at = at;
    if let Some(voice) = &save.voice {
        saved_response.voice.clone_from(voice);
    }
    if let Some(ics_code) = &save.ics_code {
        saved_response.ics_code.clone_from(ics_code);
    }
    let response_id = current.response.id;
    if !state.db.write(move |conn| responses::apply_page(conn, response_id, &save, at)).await? {
        return Ok(Saved::OutOfDate);
    }
    let location = match next {
        Next::Page { index, change: true } => format!("{}?change=1", page_path(survey_id, &d.pages[index].id)),
        Next::Page { index, change: false } => page_path(survey_id, &d.pages[index].id),
        Next::Check => format!("{}/check", survey_path(survey_id)),
    };
    // What was cleared now, or earlier in this change, travels with the
    // respondent to check answers; only pages still shown are named.
    let reasked = match clearing {
        Some(c) => Some(Reasked { because: c.because, pages: c.pages }),
        None => reasked.cloned(),
    }
    .map(|mut r| {
        r.pages.retain(|p| route.contains(*p));
        r
    })
    .filter(|r| !r.pages.is_empty());
    let location = with_query(location, &reasked.map(|r| r.query(d)).unwrap_or_default());
    let cookie = response_cookie(state, survey_id, saved_response.id, saved_response.revision);
    state.responses.keep(saved_response, answers, route);
    Ok(Saved::Reply(HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, location)).finish()))
}

// ---- check answers, submit, confirmation ----------------------------------

pub async fn check_answers(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LangQuery>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let mut current = match require_current(&state, &req, &survey_id, Source::Database).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    if current.response.is_submitted() {
        return Ok(see_other(&format!("{}/done", survey_path(&survey_id))));
    }
    let d = &current.survey.definition;
    if let Some(&missing) = current.route.missing_required(d, &current.answers).first() {
        return Ok(see_other(&page_path(&survey_id, &d.pages[missing].id)));
    }
    switch_language(&state, &mut current, query.lang.as_deref()).await?;
    let wording = current.wording();
    let d = &current.survey.definition;
    let change = |page: &str| format!("{}?change=1", page_path(&survey_id, page));
    let rows = view::check_rows(&wording, d, &current.route, &current.answers, &ics_choices(&state), &change);
    let title = wording.ui("check_answers_title", &[]);
    let back = current.route.visible.last().map(|&p| page_path(&survey_id, &d.pages[p].id));
    let data = extend(
        base(&state, &req, &current.survey, &wording, &title, &format!("{}/check", survey_path(&survey_id))),
        json!({
            "rows": rows,
            "action": format!("{}/submit", survey_path(&survey_id)),
            "back_href": back,
            "reasked": Reasked::parse(d, query.because.as_deref(), query.cleared.as_deref()).map(|r| r.summary(&wording)),
        }),
    );
    render(&state, "respondent/check", data)
}

/// `POST /surveys/{survey_id}/submit`: exactly once. A second submit (double
/// click, refresh, another tab) finds nothing to change and lands on the
/// same confirmation.
pub async fn submit(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    // Read afresh: the result row is worked out from what is stored.
    let current = match require_current(&state, &req, &survey_id, Source::Database).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let done = format!("{}/done", survey_path(&survey_id));
    if current.response.is_submitted() {
        return Ok(see_other(&done));
    }
    let d = &current.survey.definition;
    if let Some(&missing) = current.route.missing_required(d, &current.answers).first() {
        return Ok(see_other(&page_path(&survey_id, &d.pages[missing].id)));
    }
    // The result row (groups and scores) is stored with the submission.
    let scoring = crate::index::scoring::Scoring::new(d);
    let r = &current.response;
    let at = state.clock.now();
    let row = ResultRow::score_response(d, &scoring, r, current.route.voice, &current.answers, at.date(), (None, 1.0));
    let (id, revision, invitation) = (r.id, r.revision, r.invitation_id);
    // Refused if another tab submitted or saved since the read: the
    // confirmation page, reading afresh, shows the submission or sends
    // the respondent back to check their answers.
    state
        .db
        .write(move |conn| {
            let submitted = results::submit_with_result(conn, id, revision, at, |conn| {
                let (imd_quintile, base_weight) = results::invitation_strata(conn, invitation)?;
                Ok(ResultRow { imd_quintile, base_weight, ..row })
            })?;
            // An invitee who has answered needs no more email: their address
            // goes with the submission.
            if let (true, Some(invitation)) = (submitted, invitation) {
                storage::samples::erase_invitee_address(conn, invitation, at)?;
            }
            Ok(submitted)
        })
        .await?;
    state.responses.forget(id);
    Ok(see_other(&done))
}

pub async fn confirmation(state: Data, req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let current = match require_current(&state, &req, &survey_id, Source::Database).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    if !current.response.is_submitted() {
        return Ok(see_other(&format!("{}/check", survey_path(&survey_id))));
    }
    let wording = current.wording();
    let title = wording.ui("confirmation_title", &[]);
    let data = extend(
        base(&state, &req, &current.survey, &wording, &title, &format!("{}/done", survey_path(&survey_id))),
        json!({
            "reference": current.response.reference,
            "withdraw": match &state.settings.controller.contact {
                Some(contact) => current.wording().ui("confirmation_withdraw_contact", &[("contact", contact)]),
                None => current.wording().ui("confirmation_withdraw", &[]),
            },
        }),
    );
    render(&state, "respondent/done", data)
}

// ---- save and resume, delete ----------------------------------------------

fn saved_intro(state: &AppState, wording: &Wording<'_>) -> String {
    wording.ui("saved_intro", &[("days", &state.settings.in_progress_days.to_string())])
}

pub async fn save_page(state: Data, req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let current = match require_current(&state, &req, &survey_id, Source::Database).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    let wording = current.wording();
    let title = wording.ui("save_later", &[]);
    let back = resume_location(&current);
    let data = extend(
        base(&state, &req, &current.survey, &wording, &title, &format!("{}/save", survey_path(&survey_id))),
        json!({ "saved_intro": saved_intro(&state, &wording), "action": format!("{}/save", survey_path(&survey_id)), "back_href": back }),
    );
    render(&state, "respondent/save", data)
}

/// Issues a fresh resume link and code (older ones stop working) and shows
/// them once; only their hashes are stored.
pub async fn save(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let current = match require_current(&state, &req, &survey_id, Source::Database).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    if current.response.is_submitted() {
        return Ok(see_other(&format!("{}/done", survey_path(&survey_id))));
    }
    let (link_token, code) = (tokens::new_token(), tokens::new_resume_code());
    let (token_hash, code_hash) = (tokens::hash(&link_token), tokens::hash(&tokens::normalise_code(&code)));
    let expires = state.clock.now() + Duration::days(i64::from(state.settings.in_progress_days));
    let id = current.response.id;
    let stored = state.db.write(move |conn| responses::set_resume(conn, id, &token_hash, &code_hash, expires)).await?;
    state.responses.forget(id);
    if !stored {
        // Submitted or deleted since it was read: the confirmation page
        // shows which (or sends the respondent to the start).
        return Ok(see_other(&format!("{}/done", survey_path(&survey_id))));
    }
    let wording = current.wording();
    let title = wording.ui("saved_title", &[]);
    let data = extend(
        base(&state, &req, &current.survey, &wording, &title, &format!("{}/save", survey_path(&survey_id))),
        json!({
            "saved_intro": saved_intro(&state, &wording),
            "link": format!("{}/resume/{link_token}", state.settings.base_url),
            "code": code,
            "continue_href": resume_location(&current),
        }),
    );
    let mut response = render(&state, "respondent/save", data)?;
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn resume_response(state: &Data, response: Response) -> Result<HttpResponse, WebError> {
    let Some(survey) = state.surveys.get_or_reload(&state.db, response.survey_version_id).await? else {
        return Err(WebError::NotFound);
    };
    let survey_id = survey.definition.id.clone();
    let cookie = response_cookie(state, &survey_id, response.id, response.revision);
    let id = response.id;
    let rows = state.db.run(move |conn| responses::answer_values(conn, id)).await?;
    let answers = answers_from_stored(&survey.definition, rows.iter().map(|(q, v)| (q.as_str(), v.as_str())));
    let route = Route::compute(&survey.definition, Current::presets(&response), &answers);
    state.responses.keep(response.clone(), answers.clone(), route.clone());
    let current = Current { survey, response, answers, route };
    Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, resume_location(&current))).finish())
}

/// `GET /resume/{token}`: the saved link.
pub async fn resume_link(state: Data, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let hash = tokens::hash(&path.into_inner());
    let now = state.clock.now();
    let found = state.db.run(move |conn| responses::by_resume_hash(conn, &hash, now)).await?;
    match found {
        Some(response) => resume_response(&state, response).await,
        None => Err(WebError::NotFound),
    }
}

#[derive(Deserialize)]
pub struct ResumeQuery {
    survey: Option<String>,
    lang: Option<String>,
}

fn resume_form(
    state: &AppState,
    req: &HttpRequest,
    language: &str,
    code: &str,
    error: bool,
) -> Result<HttpResponse, WebError> {
    let ui = view::catalogue_ui(language);
    let error = error.then(|| ui["error_resume_code"].as_str().unwrap_or_default().to_string());
    let title = ui["resume_title"].as_str().unwrap_or_default().to_string();
    let errors = error.iter().map(|m| json!({ "href": "#code", "message": m })).collect::<Vec<_>>();
    let data = json!({
        "lang": language,
        "title": format!("{title} - joinedup"),
        "service_name": "joinedup",
        "home_href": "/",
        "ui": ui,
        "csrf": csrf::token(req, state.secret.expose()),
        "errors": errors,
        "error": error,
        "code": code,
        "language": language,
    });
    render(state, "respondent/resume", data)
}

pub async fn resume_code_page(
    state: Data,
    req: HttpRequest,
    query: web::Query<ResumeQuery>,
) -> Result<HttpResponse, WebError> {
    let language = match (&query.survey, &query.lang) {
        (Some(s), lang) => state
            .surveys
            .latest(s)
            .map(|p| crate::journey::wording::choose_language(&p.definition, lang.as_deref()).to_string()),
        _ => None,
    }
    .unwrap_or_else(|| "en".into());
    resume_form(&state, &req, &language, "", false)
}

/// `POST /resume`: a typed code; attempts are rate limited per address.
pub async fn resume_code(state: Data, req: HttpRequest, CsrfForm(fields): CsrfForm) -> Result<HttpResponse, WebError> {
    if let Some(ip) = req.peer_addr().map(|a| a.ip())
        && !address_limits::allow(&state.db, state.secret.expose(), AddressLimit::resume(), ip).await?
    {
        return Err(WebError::TooManyRequests);
    }
    let typed = fields.get("code").and_then(|v| v.first()).cloned().unwrap_or_default();
    // The page's language, if joinedup has interface wording for it.
    let language = fields
        .get("language")
        .and_then(|v| v.first())
        .filter(|l| crate::definitions::messages::catalogue(l).is_some())
        .cloned()
        .unwrap_or_else(|| "en".into());
    if typed.len() > 40 {
        return Err(WebError::BadRequest("the code is too long".into()));
    }
    let hash = tokens::hash(&tokens::normalise_code(&typed));
    let now = state.clock.now();
    let found = state.db.run(move |conn| responses::by_resume_hash(conn, &hash, now)).await?;
    match found {
        Some(response) => resume_response(&state, response).await,
        None => resume_form(&state, &req, &language, &typed, true),
    }
}

pub async fn delete_page(state: Data, req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let current = match require_current(&state, &req, &survey_id, Source::Database).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    if current.response.is_submitted() {
        return Ok(see_other(&format!("{}/done", survey_path(&survey_id))));
    }
    let wording = current.wording();
    let title = wording.ui("delete_title", &[]);
    let data = extend(
        base(&state, &req, &current.survey, &wording, &title, &format!("{}/delete", survey_path(&survey_id))),
        json!({ "action": format!("{}/delete", survey_path(&survey_id)), "back_href": resume_location(&current) }),
    );
    render(&state, "respondent/delete", data)
}

/// Deletes the browser's in-progress response and forgets it.
pub async fn delete(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let current = match require_current(&state, &req, &survey_id, Source::Database).await? {
        Ok(c) => c,
        Err(redirect) => return Ok(redirect),
    };
    if current.response.is_submitted() {
        return Ok(see_other(&format!("{}/done", survey_path(&survey_id))));
    }
    let id = current.response.id;
    let deleted = state.db.write(move |conn| responses::delete_in_progress(conn, id)).await?;
    state.responses.forget(id);
    if !deleted {
        // Submitted since it was read (another tab): it stays, and counts.
        return Ok(see_other(&format!("{}/done", survey_path(&survey_id))));
    }
    let wording = current.wording();
    let title = wording.ui("deleted_title", &[]);
    let data = extend(
        base(&state, &req, &current.survey, &wording, &title, &survey_path(&survey_id)),
        json!({ "deleted": true }),
    );
    let body = state.templates.render("respondent/delete", &data)?;
    Ok(HttpResponse::Ok().cookie(removal_cookie(&survey_id)).content_type("text/html; charset=utf-8").body(body))
}

// ---- invitations ----------------------------------------------------------

async fn invitation(state: &Data, token: String) -> Result<(Invitation, Option<Response>), WebError> {
    let hash = tokens::hash(&token);
    let now = state.clock.now();
    let found = state
        .db
        .run(move |conn| {
            let Some(invitation) = invitations::by_hash(conn, &hash, now)? else { return Ok(None) };
            let response = responses::by_invitation(conn, invitation.id)?;
            Ok(Some((invitation, response)))
        })
        .await?;
    found.ok_or(WebError::NotFound)
}

/// `GET /s/{token}`: an invited respondent's start page, or where they left off.
pub async fn invited_start_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let token = path.into_inner();
    let (invitation, response) = invitation(&state, token.clone()).await?;
    if let Some(response) = response {
        return resume_response(&state, response).await;
    }
    let survey = state.surveys.current(&invitation.survey_id, state.clock.today()).ok_or(WebError::NotFound)?;
    let d = &survey.definition;
    let language = crate::journey::wording::choose_language(d, invitation.language.as_deref());
    let wording = Wording::new(d, language, invitation.voice.as_deref().and_then(Voice::from_code));
    let page = extend(
        base(&state, &req, &survey, &wording, wording.text(&d.title), &format!("/s/{token}")),
        json!({ "about": about_view(&wording), "action": format!("/s/{token}") }),
    );
    let mut page = page;
    page["languages"] = json!([]);
    render(&state, "respondent/start", page)
}

/// `POST /s/{token}`: starts the invitation's one response (two tabs
/// starting at once still make one).
pub async fn invited_start(state: Data, path: web::Path<String>, _form: CsrfForm) -> Result<HttpResponse, WebError> {
    let token = path.into_inner();
    let (invitation, existing) = invitation(&state, token).await?;
    if let Some(response) = existing {
        return resume_response(&state, response).await;
    }
    let survey = state.surveys.current(&invitation.survey_id, state.clock.today()).ok_or(WebError::NotFound)?;
    let version_id = survey.version.id;
    let language =
        crate::journey::wording::choose_language(&survey.definition, invitation.language.as_deref()).to_string();
    let invitation_id = invitation.id;
    let at = state.clock.now();
    let response = state
        .db
        .write(move |conn| {
            let reference = tokens::new_reference();
            let created = responses::create(
                conn,
                &NewResponse {
                    survey_version_id: version_id,
                    channel: Channel::Invitation.as_str(),
                    status: responses::IN_PROGRESS,
                    voice: invitation.voice.as_deref(),
                    language: &language,
                    ics_code: invitation.ics_code.as_deref(),
                    created_at: at,
                    updated_at: at,
                    invitation_id: Some(invitation_id),
                    reference: Some(&reference),
                    voice_preset: invitation.voice.is_some(),
                    ics_preset: invitation.ics_code.is_some(),
                },
            );
            match created {
                Ok(r) => Ok(r),
                // Another tab won the race: use its response.
                Err(_) => responses::by_invitation(conn, invitation_id)?
                    .ok_or(storage::StorageError::Pool("the invitation's response vanished".into())),
            }
        })
        .await?;
    resume_response(&state, response).await
}

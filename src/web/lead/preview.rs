//! A survey lead's preview of a draft: the real question pages, routing and
//! checks (`journey`), as any voice and in any language, without a response
//! ever being written. The preview's answers live in a signed cookie
//! scoped to the draft's preview pages, and vanish with it.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::cookie::{Cookie, CookieJar, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::definitions::{AnswerValue, Answers, QuestionKind, SurveyDefinition, Voice};
use crate::journey::form::{answers_from_stored, fields_from_answers};
use crate::journey::view;
use crate::journey::{self, Context, FieldError, Fields, Next, Outcome, Presets, Route, Wording};
use crate::publishing::drafts as draft_rules;
use crate::storage::drafts::Draft;
use crate::web::AppState;
use crate::web::csrf::{self, CsrfForm};
use crate::web::errors::WebError;
use crate::web::respondent::{
    self, ics_choices,
    views::{Check, Frame, Page, PreviewBanner, Question},
};
use crate::web::staff::{self, StaffFrame, field, see_other};

type Data = web::Data<AppState>;

const COOKIE: &str = "joinedup_preview";
/// Written answers are cut to this length in the preview (a cookie holds
/// about 4 KB); the page says so.
const TEXT_KEPT: usize = 200;

/// What the preview remembers between pages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PreviewState {
    /// The draft it belongs to.
    d: i64,
    /// The preset voice; none: the respondent answers the voice question.
    v: Option<String>,
    /// The language.
    l: String,
    /// Answers by question id, as they would be stored.
    a: BTreeMap<String, String>,
}

fn base_path(draft_id: i64) -> String {
    format!("/lead/drafts/{draft_id}/preview")
}

fn read_state(state: &AppState, req: &HttpRequest, draft_id: i64) -> Option<PreviewState> {
    let cookie = req.cookie(COOKIE)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let value = jar.signed(&state.cookie_key).get(COOKIE)?.value().to_string();
    let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
    serde_json::from_slice::<PreviewState>(&bytes).ok().filter(|s| s.d == draft_id)
}

fn state_cookie(state: &AppState, preview: &PreviewState) -> Cookie<'static> {
    let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(preview).expect("serialisable"));
    let mut jar = CookieJar::new();
    let cookie = Cookie::build(COOKIE, value)
        .path(base_path(preview.d))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.base_url.starts_with("https://"))
        .finish();
    jar.signed_mut(&state.cookie_key).add(cookie);
    jar.get(COOKIE).cloned().expect("just added")
}

fn removal_cookie(draft_id: i64) -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE, "").path(base_path(draft_id)).finish();
    cookie.make_removal();
    cookie
}

/// The draft, if it is a valid definition (a preview needs one).
async fn valid_draft(state: &AppState, id: i64) -> Result<(Draft, Option<SurveyDefinition>), WebError> {
    let (draft, checked) = draft_rules::load_checked(&state.db, id).await?.ok_or(WebError::NotFound)?;
    Ok((draft, checked.definition))
}

fn voice_label(voice: Option<Voice>) -> &'static str {
    match voice {
        Some(Voice::Patient) => "a patient",
        Some(Voice::CarerSelf) => "a carer answering about their own experience",
        Some(Voice::CarerOnBehalf) => "a carer answering for the person they look after",
        None => "someone who answers the voice question",
    }
}

/// `GET /lead/drafts/{draft_id}/preview`: choose a voice and a language.
pub async fn choose(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let (draft, definition) = valid_draft(&state, id).await?;
    let name = draft_rules::display_name(&draft.source_name, draft.id);
    let (languages, per_voice) = match &definition {
        Some(d) => {
            let mut voices: Vec<Option<Voice>> = d.voices.iter().copied().map(Some).collect();
            voices.push(None);
            let languages = d
                .languages
                .iter()
                .map(|l| PreviewLanguage {
                    code: l.code.clone(),
                    name: l.name.clone(),
                    choices: voices
                        .iter()
                        .map(|v| VoiceChoice {
                            voice: v.map(|v| v.code()).unwrap_or(""),
                            label: format!("Preview as {} ({})", voice_label(*v), l.name),
                        })
                        .collect(),
                })
                .collect();
            let per_voice = d
                .pages_per_voice()
                .into_iter()
                .map(|(v, pages)| VoicePages { voice: voice_label(Some(v)), pages })
                .collect();
            (languages, per_voice)
        }
        None => (Vec::new(), Vec::new()),
    };
    let body = Choose {
        valid: definition.is_some(),
        survey_title: definition.as_ref().map(|d| d.title.get(d.default_language(), None).to_string()),
        preview_languages: languages,
        pages_per_voice: per_voice,
        action: format!("{}/start", base_path(id)),
        name,
    };
    let page = StaffFrame::new(&state, &req, Some(&principal), &format!("Preview {}", body.name))
        .back(format!("/lead/drafts/{id}"))
        .page(body);
    staff::render(&state, "lead/preview", &page)
}

/// The preview's first page: which voice and language to preview in.
#[derive(Serialize)]
struct Choose {
    name: String,
    /// Whether the draft can be previewed (it has no problems).
    valid: bool,
    survey_title: Option<String>,
    preview_languages: Vec<PreviewLanguage>,
    pages_per_voice: Vec<VoicePages>,
    action: String,
}

#[derive(Serialize)]
struct PreviewLanguage {
    code: String,
    name: String,
    choices: Vec<VoiceChoice>,
}

/// A button starting the preview as `voice` (empty: the respondent
/// answers the voice question).
#[derive(Serialize)]
struct VoiceChoice {
    voice: &'static str,
    label: String,
}

#[derive(Serialize)]
struct VoicePages {
    voice: &'static str,
    pages: usize,
}

/// The end of a preview: what was answered, and what a respondent would
/// still have been asked.
#[derive(Serialize)]
struct Finished {
    name: String,
    voice: &'static str,
    answered: usize,
    pages: usize,
    missing: Vec<String>,
    ics_answered: bool,
    again_href: String,
    draft_href: String,
}

/// `POST /lead/drafts/{draft_id}/preview/start`: a fresh preview.
pub async fn start(state: Data, path: web::Path<i64>, CsrfForm(fields): CsrfForm) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let (_, definition) = valid_draft(&state, id).await?;
    let Some(d) = definition else { return Ok(see_other(&base_path(id))) };
    let voice = field(&fields, "voice");
    let voice = match voice.as_str() {
        "" => None,
        code => Some(
            Voice::from_code(code)
                .filter(|v| d.voices.contains(v))
                .ok_or_else(|| WebError::BadRequest(format!("`{code}` is not a voice of this survey")))?,
        ),
    };
    let language = field(&fields, "lang");
    if !d.languages.iter().any(|l| l.code == language) {
        return Err(WebError::BadRequest(format!("the survey is not in `{language}`")));
    }
    let preview = PreviewState { d: id, v: voice.map(|v| v.code().to_string()), l: language, a: BTreeMap::new() };
    let route = Route::compute(&d, presets(&preview), &Answers::new());
    let first =
        route.visible.first().map_or_else(|| format!("{}/check", base_path(id)), |&p| page_path(id, &d.pages[p].id));
    Ok(HttpResponse::SeeOther()
        .cookie(state_cookie(&state, &preview))
        .insert_header((header::LOCATION, first))
        .finish())
}

fn presets(preview: &PreviewState) -> Presets {
    Presets { voice: preview.v.as_deref().and_then(Voice::from_code), ics: false }
}

fn page_path(draft_id: i64, page: &str) -> String {
    format!("{}/q/{page}", base_path(draft_id))
}

/// The preview under way for a valid draft: its definition, state and answers.
struct Walk {
    draft: Draft,
    definition: SurveyDefinition,
    preview: PreviewState,
    answers: Answers,
    route: Route,
}

impl Walk {
    fn wording(&self) -> Wording<'_> {
        let language = crate::journey::wording::choose_language(&self.definition, Some(&self.preview.l));
        Wording::new(&self.definition, language, self.route.voice)
    }

    fn banner(&self) -> PreviewBanner {
        let language = self.definition.languages.iter().find(|l| l.code == self.wording().language);
        PreviewBanner {
            name: draft_rules::display_name(&self.draft.source_name, self.draft.id),
            voice: voice_label(presets(&self.preview).voice),
            language: language.map_or(self.preview.l.as_str(), |l| l.name.as_str()).to_string(),
            exit_href: base_path(self.draft.id),
            missing: None,
        }
    }
}

async fn walk(state: &AppState, req: &HttpRequest, id: i64) -> Result<Result<Walk, HttpResponse>, WebError> {
    let (draft, definition) = valid_draft(state, id).await?;
    let Some(definition) = definition else { return Ok(Err(see_other(&base_path(id)))) };
    let preview = read_state(state, req, id).unwrap_or_else(|| PreviewState {
        d: id,
        v: None,
        l: definition.default_language().to_string(),
        a: BTreeMap::new(),
    });
    let answers = answers_from_stored(&definition, preview.a.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let route = Route::compute(&definition, presets(&preview), &answers);
    Ok(Ok(Walk { draft, definition, preview, answers, route }))
}

/// The respondent's frame, as the preview shows it: the survey's wording,
/// the preview banner, and no links out of the preview.
fn frame(state: &AppState, req: &HttpRequest, walk: &Walk, title: &str) -> Frame {
    let wording = walk.wording();
    let survey_title = wording.text(&walk.definition.title);
    let csrf = csrf::token(req, state.secret.expose());
    let title = format!("{title} - {survey_title} (preview)");
    let home = base_path(walk.draft.id);
    Frame {
        preview: Some(walk.banner()),
        ..Frame::new(wording.language, title, survey_title, home, csrf, view::ui(&wording))
    }
}

fn question_page(
    state: &AppState,
    req: &HttpRequest,
    walk: &Walk,
    index: usize,
    fields: &Fields,
    errors: &[FieldError],
    returning: bool,
) -> Result<HttpResponse, WebError> {
    let d = &walk.definition;
    let page = &d.pages[index];
    let wording = walk.wording();
    let id = walk.draft.id;
    let question = view::question(&wording, page, fields, errors, &ics_choices(state));
    let heading = question["heading"].as_str().unwrap_or_default().to_string();
    let back = if returning {
        format!("{}/check", base_path(id))
    } else {
        walk.route.previous(index).map_or_else(|| base_path(id), |p| page_path(id, &d.pages[p].id))
    };
    let mut frame = frame(state, req, walk, &heading);
    frame.back_href = Some(back);
    frame.errors = view::error_summary(errors);
    let body = Question {
        question,
        progress: view::progress(&wording, &walk.route, index),
        action: page_path(id, &page.id),
        return_to: returning.then_some("check"),
        notice: None,
        because: None,
        cleared: None,
        save_href: None,
        delete_href: None,
    };
    respondent::render(state, "respondent/question", Page { frame, body })
}

#[derive(Deserialize)]
pub struct ChangeQuery {
    change: Option<String>,
}

fn where_to_resume(walk: &Walk) -> String {
    let id = walk.draft.id;
    match walk.route.resume_point(&walk.definition, &walk.answers) {
        Some(p) => page_path(id, &walk.definition.pages[p].id),
        None => format!("{}/check", base_path(id)),
    }
}

/// `GET /lead/drafts/{draft_id}/preview/q/{page_id}`.
pub async fn show_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    query: web::Query<ChangeQuery>,
) -> Result<HttpResponse, WebError> {
    let (id, page_id) = path.into_inner();
    let walk = match walk(&state, &req, id).await? {
        Ok(w) => w,
        Err(redirect) => return Ok(redirect),
    };
    let index = walk.definition.pages.iter().position(|p| p.id == page_id).ok_or(WebError::NotFound)?;
    if !walk.route.contains(index) {
        return Ok(see_other(&where_to_resume(&walk)));
    }
    let fields = fields_from_answers(&walk.definition.pages[index], &walk.answers);
    question_page(&state, &req, &walk, index, &fields, &[], query.change.is_some())
}

/// `POST /lead/drafts/{draft_id}/preview/q/{page_id}`: checked exactly as a
/// respondent's page is; the answers go into the preview cookie only.
pub async fn answer_page(
    state: Data,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    CsrfForm(mut fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let (id, page_id) = path.into_inner();
    let walk = match walk(&state, &req, id).await? {
        Ok(w) => w,
        Err(redirect) => return Ok(redirect),
    };
    let d = &walk.definition;
    let index = d.pages.iter().position(|p| p.id == page_id).ok_or(WebError::NotFound)?;
    if !walk.route.contains(index) {
        return Ok(see_other(&where_to_resume(&walk)));
    }
    let returning = fields.remove("return_to").is_some_and(|v| v.iter().any(|x| x == "check"));
    let ics_codes: BTreeSet<String> = ics_choices(&state).into_iter().map(|c| c.code).collect();
    let ctx = Context { wording: walk.wording(), ics_codes: &ics_codes, today: state.clock.today() };
    let step = match journey::step(&ctx, presets(&walk.preview), &walk.answers, index, &fields, returning)
        .map_err(|e| WebError::BadRequest(e.0))?
    {
        Outcome::Moved(step) => step,
        Outcome::Invalid(errors) => return question_page(&state, &req, &walk, index, &fields, &errors, returning),
    };
    let mut preview = walk.preview.clone();
    preview.a = stored(d, &step.answers);
    let location = match step.next {
        Next::Page { index, change: true } => format!("{}?change=1", page_path(id, &d.pages[index].id)),
        Next::Page { index, change: false } => page_path(id, &d.pages[index].id),
        Next::Check => format!("{}/check", base_path(id)),
    };
    Ok(HttpResponse::SeeOther()
        .cookie(state_cookie(&state, &preview))
        .insert_header((header::LOCATION, location))
        .finish())
}

/// The answers as stored values, for the cookie, written answers cut to
/// [`TEXT_KEPT`] characters.
fn stored(d: &SurveyDefinition, answers: &Answers) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (index, _) in d.pages.iter().enumerate() {
        for qid in crate::journey::routing::answer_ids(d, index) {
            let value = match answers.get(qid) {
                Some(AnswerValue::Text(t)) if t.chars().count() > TEXT_KEPT => t.chars().take(TEXT_KEPT).collect(),
                Some(v) => v.to_stored(),
                None => continue,
            };
            out.insert(qid.to_string(), value);
        }
    }
    out
}

/// `GET /lead/drafts/{draft_id}/preview/check`: the real check-answers page.
/// Unlike a respondent's, it shows even with required questions unanswered
/// (and says so), so a lead can see it at any point.
pub async fn check_answers(state: Data, req: HttpRequest, path: web::Path<i64>) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let walk = match walk(&state, &req, id).await? {
        Ok(w) => w,
        Err(redirect) => return Ok(redirect),
    };
    let wording = walk.wording();
    let d = &walk.definition;
    let change = |page: &str| format!("{}?change=1", page_path(id, page));
    let rows = view::check_rows(&wording, d, &walk.route, &walk.answers, &ics_choices(&state), &change);
    let missing = walk.route.missing_required(d, &walk.answers).len();
    let title = wording.ui("check_answers_title", &[]);
    let back = walk.route.visible.last().map(|&p| page_path(id, &d.pages[p].id));
    let mut frame = frame(&state, &req, &walk, &title);
    frame.back_href = back;
    if let Some(banner) = frame.preview.as_mut() {
        banner.missing = (missing > 0).then_some(missing);
    }
    let body = Check { rows, action: format!("{}/submit", base_path(id)), reasked: None };
    respondent::render(&state, "respondent/check", Page { frame, body })
}

/// `POST /lead/drafts/{draft_id}/preview/submit`: the end of the preview.
/// Nothing is sent or saved; the preview's cookie is removed.
pub async fn submit(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let walk = match walk(&state, &req, id).await? {
        Ok(w) => w,
        Err(redirect) => return Ok(redirect),
    };
    let d = &walk.definition;
    let missing: Vec<String> = walk
        .route
        .missing_required(d, &walk.answers)
        .iter()
        .map(|&p| walk.wording().text(&d.pages[p].question.text).to_string())
        .collect();
    let answered = walk.answers.len();
    let ics_answered = d
        .pages
        .iter()
        .any(|p| matches!(p.question.kind, QuestionKind::IcsSelect) && walk.answers.get(&p.question.id).is_some());
    let page = StaffFrame::new(&state, &req, Some(&principal), "Preview finished").page(Finished {
        name: draft_rules::display_name(&walk.draft.source_name, id),
        voice: voice_label(walk.route.voice),
        answered,
        pages: walk.route.visible.len(),
        missing,
        ics_answered,
        again_href: base_path(id),
        draft_href: format!("/lead/drafts/{id}"),
    });
    let body = state.templates.render("lead/preview_done", &page)?;
    Ok(HttpResponse::Ok().cookie(removal_cookie(id)).content_type("text/html; charset=utf-8").body(body))
}

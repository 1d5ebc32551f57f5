//! Respondent pages: start, one question a page, check answers, submit,
//! save and resume, delete, and the invited respondent's start. Handlers
//! take the response from the `ResponseOf` extractor, call the journey and
//! storage, and render a typed view; the rules live in `journey`.

mod cookie;
mod current;
mod delete;
mod finish;
mod invited;
mod letter_code;
mod pages;
mod questions;
mod reasked;
mod resume;
mod start;
pub mod views;

pub mod opt_out;
pub mod response_cache;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde::Serialize;

use crate::journey::Wording;
use crate::journey::view::{self, IcsChoice};
use crate::surveys::PublishedSurvey;
use crate::web::AppState;
use crate::web::csrf;
use crate::web::errors::WebError;
use views::{About, Frame, Page};

pub use delete::{delete, delete_page};
pub use finish::{check_answers, confirmation, submit};
pub use invited::{invited_start, invited_start_page};
pub use letter_code::{letter_code, letter_code_page};
pub use pages::{accessibility, home, privacy};
pub use questions::{answer_page, show_page};
pub use resume::{resume_code, resume_code_page, resume_link, save, save_page};
pub use start::{start, start_page};

type Data = actix_web::web::Data<AppState>;

/// What a survey page's address may carry.
#[derive(Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
    change: Option<String>,
    /// With `cleared`: the page whose changed answer cleared others.
    because: Option<String>,
    cleared: Option<String>,
}

fn survey_path(survey_id: &str) -> String {
    format!("/surveys/{survey_id}")
}

fn page_path(survey_id: &str, page: &str) -> String {
    format!("/surveys/{survey_id}/q/{page}")
}

fn done_path(survey_id: &str) -> String {
    format!("/surveys/{survey_id}/done")
}

fn check_path(survey_id: &str) -> String {
    format!("/surveys/{survey_id}/check")
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

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location.to_string())).finish()
}

/// Renders a page. The interface wording (a few hundred strings) is moved
/// into the context after the rest is serialised, so it is not copied twice.
fn render_html<T: Serialize>(state: &AppState, template: &str, mut page: Page<T>) -> Result<String, WebError> {
    let ui = std::mem::take(&mut page.frame.ui);
    let mut data = serde_json::to_value(&page).map_err(|_| WebError::Internal)?;
    data["ui"] = ui;
    Ok(crate::web::templates::render_owned(&state.templates, template, data)?)
}

pub(in crate::web) fn render<T: Serialize>(
    state: &AppState,
    template: &str,
    page: Page<T>,
) -> Result<HttpResponse, WebError> {
    let body = render_html(state, template, page)?;
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body))
}

/// The ICSs a respondent may choose today, by region (also the preview's).
pub(in crate::web) fn ics_choices(state: &AppState) -> Vec<IcsChoice> {
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

impl Frame {
    /// The frame of a page in a survey: its language, wording, links and
    /// CSRF token. `path` is the page's own, for the language links.
    fn for_survey(
        state: &AppState,
        req: &HttpRequest,
        survey: &PublishedSurvey,
        wording: &Wording<'_>,
        title: &str,
        path: &str,
    ) -> Frame {
        let d = wording.definition;
        let survey_title = wording.text(&d.title);
        let title = if title == survey_title { title.to_string() } else { format!("{title} - {survey_title}") };
        let home = in_language(wording, &survey_path(&d.id));
        Frame {
            privacy_href: Some(in_language(wording, &format!("{}/privacy", survey_path(&d.id)))),
            languages: view::language_links(d, wording.language, path),
            ..Frame::new(
                wording.language,
                title,
                survey_title,
                home,
                csrf::token(req, state.secret.expose()),
                survey.ui(wording),
            )
        }
    }

    /// The frame of a page outside any survey, in joinedup's own wording.
    fn outside_survey(state: &AppState, req: &HttpRequest, language: &str, title: &str) -> Frame {
        let csrf = csrf::token(req, state.secret.expose());
        Frame::new(language, format!("{title} - joinedup"), "joinedup", "/".into(), csrf, view::catalogue_ui(language))
    }

    fn back(mut self, href: impl Into<String>) -> Frame {
        self.back_href = Some(href.into());
        self
    }
}

impl About {
    /// Who runs the survey and why, in the page's language.
    fn of(wording: &Wording<'_>) -> About {
        let about = &wording.definition.about;
        let text = |t: &Option<crate::definitions::Text>| t.as_ref().map(|t| wording.text(t).to_string());
        let privacy = text(&about.privacy);
        About {
            organisation: text(&about.organisation),
            purpose: text(&about.purpose),
            minutes: about.minutes.map(|m| wording.ui("start_minutes", &[("minutes", &m.to_string())])),
            privacy_paragraphs: privacy
                .as_deref()
                .map(|p| p.split("\n\n").map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()),
            privacy,
            contact: text(&about.contact),
        }
    }
}

//! The data each respondent page renders, as types: a misspelt or missing
//! key is a compile error here, not a blank on the page (and handlebars
//! strict mode refuses what slips through). Every field is always present;
//! `None` renders as nothing.

use serde::Serialize;
use serde_json::Value;

pub use crate::journey::view::{ErrorLink, LanguageLink};

/// What the layout reads on every respondent page (and a lead's preview
/// of one).
#[derive(Serialize)]
pub struct Frame {
    pub lang: String,
    pub title: String,
    pub service_name: String,
    pub home_href: String,
    pub privacy_href: Option<String>,
    /// Links to the page in the survey's other languages.
    pub languages: Vec<LanguageLink>,
    pub csrf: String,
    /// Interface wording in the page's language and voice: moved into the
    /// page's data after the rest is serialised (see `render_html`).
    #[serde(skip)]
    pub ui: Value,
    pub back_href: Option<String>,
    /// The error summary, one line per mistake.
    pub errors: Vec<ErrorLink>,
    /// A staff user's menu; respondents have none.
    pub account: Option<()>,
    /// The banner on a lead's preview.
    pub preview: Option<PreviewBanner>,
    pub wide: bool,
}

impl Frame {
    /// A frame with no back link, mistakes, language links or banners.
    pub fn new(lang: &str, title: String, service_name: &str, home_href: String, csrf: String, ui: Value) -> Frame {
        Frame {
            lang: lang.to_string(),
            title,
            service_name: service_name.to_string(),
            home_href,
            privacy_href: None,
            languages: Vec::new(),
            csrf,
            ui,
            back_href: None,
            errors: Vec::new(),
            account: None,
            preview: None,
            wide: false,
        }
    }
}

/// Says a page is a lead's preview, of what and as whom.
#[derive(Serialize)]
pub struct PreviewBanner {
    pub name: String,
    pub voice: &'static str,
    pub language: String,
    pub exit_href: String,
    /// Required questions still unanswered (check answers only).
    pub missing: Option<usize>,
}

/// A page: the layout's frame and the page's own fields, side by side.
#[derive(Serialize)]
pub struct Page<T: Serialize> {
    #[serde(flatten)]
    pub frame: Frame,
    #[serde(flatten)]
    pub body: T,
}

/// A link to a survey on the home page.
#[derive(Serialize)]
pub struct SurveyLink {
    pub title: String,
    pub href: String,
}

#[derive(Serialize)]
pub struct Home {
    pub surveys: Vec<SurveyLink>,
}

/// Who runs the survey and why, from its definition.
#[derive(Serialize)]
pub struct About {
    pub organisation: Option<String>,
    pub purpose: Option<String>,
    pub minutes: Option<String>,
    pub privacy: Option<String>,
    pub privacy_paragraphs: Option<Vec<String>>,
    pub contact: Option<String>,
}

#[derive(Serialize)]
pub struct Start {
    pub about: About,
    pub survey_title: String,
    pub action: String,
    pub resume_href: Option<String>,
}

#[derive(Serialize)]
pub struct Privacy {
    pub survey_title: String,
    pub about: About,
    pub retention: String,
    pub controller: Vec<String>,
}

/// Nothing besides the frame (the accessibility statement).
#[derive(Serialize)]
pub struct Empty {}

#[derive(Serialize)]
pub struct Question {
    /// From `journey::view::question`: the question's fields and options.
    pub question: Value,
    pub progress: String,
    pub action: String,
    pub return_to: Option<&'static str>,
    pub notice: Option<String>,
    /// With `cleared`: why answers were cleared, carried to the next page.
    pub because: Option<String>,
    pub cleared: Option<String>,
    pub save_href: Option<String>,
    pub delete_href: Option<String>,
}

/// Why answers were cleared, on check answers.
#[derive(Serialize)]
pub struct ReaskedSummary {
    pub title: String,
    pub intro: String,
    pub questions: Vec<String>,
}

#[derive(Serialize)]
pub struct Check {
    pub rows: Vec<Value>,
    pub action: String,
    pub reasked: Option<ReaskedSummary>,
}

#[derive(Serialize)]
pub struct Done {
    pub reference: Option<String>,
    pub withdraw: String,
}

/// "Save and come back later": the offer, then the link and code.
#[derive(Serialize)]
pub struct Save {
    pub saved_intro: String,
    pub action: Option<String>,
    pub link: Option<String>,
    pub code: Option<String>,
    pub continue_href: Option<String>,
}

#[derive(Serialize)]
pub struct Resume {
    pub error: Option<String>,
    pub code: String,
    pub language: String,
}

/// `/s`: typing the code from a letter.
#[derive(Serialize)]
pub struct LetterCode {
    pub error: Option<String>,
    pub code: String,
}

#[derive(Serialize)]
pub struct Delete {
    pub action: Option<String>,
    pub deleted: bool,
}

/// The opt-out page: the button, then what pressing it did.
#[derive(Serialize)]
pub struct OptOut {
    pub heading: String,
    pub body: String,
    pub button: String,
    pub done: bool,
    pub action: String,
}

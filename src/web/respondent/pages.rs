//! The pages around the surveys: the list of open surveys, a survey's
//! privacy notice, and the accessibility statement.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, web};

use super::views::{About, Empty, Frame, Home, Page, Privacy, SurveyLink};
use super::{Data, LangQuery, in_language, render, survey_path};
use crate::journey::Wording;
use crate::web::errors::WebError;

/// `GET /`: the surveys open today.
pub async fn home(state: Data, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let today = state.clock.today();
    let mut seen = BTreeSet::new();
    let surveys = state
        .surveys
        .open_on(today)
        .into_iter()
        .filter(|s| seen.insert(s.definition.id.clone()))
        .map(|s| {
            let d = &s.definition;
            SurveyLink { title: d.title.get(d.default_language(), None).to_string(), href: survey_path(&d.id) }
        })
        .collect();
    let frame = Frame::outside_survey(&state, &req, "en", "Surveys");
    render(&state, "respondent/home", Page { frame, body: Home { surveys } })
}

/// `GET /surveys/{survey_id}/privacy`: the privacy notice.
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
    let path = format!("{}/privacy", survey_path(&survey_id));
    let frame = Frame::for_survey(&state, &req, &survey, &wording, &title, &path)
        .back(in_language(&wording, &survey_path(&survey_id)));
    let body = Privacy {
        survey_title: wording.text(&d.title).to_string(),
        about: About::of(&wording),
        retention: retention_sentence(&wording, d.retention_months),
        controller: controller_sentences(&wording, &state.settings.controller),
    };
    render(&state, "respondent/privacy", Page { frame, body })
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

/// `GET /accessibility`: the accessibility statement.
pub async fn accessibility(state: Data, req: HttpRequest) -> Result<HttpResponse, WebError> {
    let frame = Frame::outside_survey(&state, &req, "en", "Accessibility statement");
    render(&state, "respondent/accessibility", Page { frame, body: Empty {} })
}

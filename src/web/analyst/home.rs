//! The landing page of the analyst area (the survey lead's pages are in
//! `lead`). The guard has checked the role; the page lists the released
//! survey versions, the starting point of the results pages.

use actix_web::{HttpRequest, HttpResponse, web};

use super::views::{self, SurveyVersion};
use crate::accounts::Principal;
use crate::web::AppState;
use crate::web::errors::WebError;
use crate::web::staff::{self, StaffFrame, time};

type Data = web::Data<AppState>;

/// The released survey versions, newest first within each survey.
pub fn survey_versions(state: &AppState) -> Vec<SurveyVersion> {
    let today = state.clock.today();
    let mut all: Vec<_> = state.surveys.all().collect();
    all.sort_by(|a, b| (&a.definition.id, b.version.id).cmp(&(&b.definition.id, a.version.id)));
    all.into_iter()
        .map(|s| {
            let d = &s.definition;
            SurveyVersion {
                survey_id: d.id.clone(),
                version: s.version.version_label.clone(),
                title: d.title.get(d.default_language(), None).to_string(),
                status: s.version.status,
                open_now: s.version.is_open_on(today),
                opens_on: s.version.opens_on,
                closes_on: s.version.closes_on,
                published_at: s.version.published_at.map(time),
                content_hash: s.version.content_hash.clone(),
            }
        })
        .collect()
}

/// `GET /analyst`.
pub async fn analyst_home(state: Data, req: HttpRequest, principal: Principal) -> Result<HttpResponse, WebError> {
    let data = StaffFrame::new(&state, &req, Some(&principal), "Analyst")
        .page(views::Home { surveys: survey_versions(&state) });
    staff::render(&state, "analyst/home", &data)
}

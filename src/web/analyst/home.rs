//! The landing page of the analyst area (the survey lead's pages are in
//! `lead`). The guard has checked the role; the page lists the released
//! survey versions, the starting point of the results pages.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::accounts::Principal;
use crate::web::AppState;
use crate::web::errors::WebError;
use crate::web::staff::{self, extend, time};

type Data = web::Data<AppState>;

/// The released survey versions, newest first within each survey.
pub fn survey_versions(state: &AppState) -> Vec<Value> {
    let today = state.clock.today();
    let mut all: Vec<_> = state.surveys.all().collect();
    all.sort_by(|a, b| (&a.definition.id, b.version.id).cmp(&(&b.definition.id, a.version.id)));
    all.into_iter()
        .map(|s| {
            let d = &s.definition;
            json!({
                "survey_id": d.id,
                "version": s.version.version_label,
                "title": d.title.get(d.default_language(), None),
                "status": s.version.status,
                "open_now": s.version.is_open_on(today),
                "opens_on": s.version.opens_on,
                "closes_on": s.version.closes_on,
                "published_at": s.version.published_at.map(time),
                "content_hash": s.version.content_hash,
            })
        })
        .collect()
}

/// `GET /analyst`.
pub async fn analyst_home(state: Data, req: HttpRequest, principal: Principal) -> Result<HttpResponse, WebError> {
    let data =
        extend(staff::page(&state, &req, Some(&principal), "Analyst"), json!({ "surveys": survey_versions(&state) }));
    staff::render(&state, "analyst/home", &data)
}

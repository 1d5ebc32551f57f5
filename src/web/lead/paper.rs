//! `GET /lead/surveys/{survey_id}/paper`: a blank paper questionnaire of
//! the survey's latest version as a PDF, for a voice and language, in
//! standard or large print (what `joinedup print questionnaire` writes).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::definitions::Voice;
use crate::paper::{self, Copy, PrintOptions};
use crate::web::AppState;
use crate::web::errors::WebError;

#[derive(Debug, Deserialize)]
pub struct PaperQuery {
    /// The survey's first voice if not given.
    voice: Option<String>,
    lang: Option<String>,
    large: Option<String>,
}

pub async fn questionnaire(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PaperQuery>,
) -> Result<HttpResponse, WebError> {
    let survey_id = path.into_inner();
    let survey = state.surveys.latest(&survey_id).ok_or(WebError::NotFound)?;
    let d = &survey.definition;
    let voice = match &query.voice {
        None => d.voices.first().copied().unwrap_or(Voice::Patient),
        Some(code) => {
            Voice::from_code(code).ok_or_else(|| WebError::BadRequest(format!("there is no voice `{code}`")))?
        }
    };
    let options = PrintOptions {
        voice,
        language: query.lang.clone().unwrap_or_else(|| d.default_language().to_string()),
        large_print: query.large.as_deref() == Some("1"),
    };
    let icss = crate::web::respondent::ics_choices(&state);
    let link = format!("{}/surveys/{}", state.settings.base_url.trim_end_matches('/'), d.id);
    let booklet =
        paper::booklet(d, &options, &Copy::default(), &icss, &link).map_err(|e| WebError::BadRequest(e.to_string()))?;
    // Laying out and drawing takes a few milliseconds of CPU: off the
    // async threads.
    let pdf = web::block(move || paper::pdf::render(std::slice::from_ref(&booklet)))
        .await
        .map_err(|_| WebError::Internal)?
        .map_err(|_| WebError::Internal)?;
    let name = format!(
        "{}-{}-{}-{}{}.pdf",
        d.id,
        d.version,
        voice.code(),
        options.language,
        if options.large_print { "-large" } else { "" }
    );
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")))
        .body(pdf))
}

//! Errors as friendly HTML pages with the right status; details go to the
//! log, never to the page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the page was not found")]
    NotFound,
    #[error("the form's security token is missing or wrong")]
    Csrf,
    #[error("too many requests")]
    TooManyRequests,
    #[error("the signed-in user lacks the role this page needs")]
    Forbidden,
    #[error("internal error")]
    Internal,
    #[error("database: {0}")]
    Storage(#[from] StorageError),
    #[error("template: {0}")]
    Render(#[from] handlebars::RenderError),
}

impl WebError {
    fn heading_and_message(&self) -> (&'static str, String) {
        match self {
            WebError::BadRequest(detail) => {
                ("There is a problem with the form", format!("The form sent could not be used: {detail}. Go back and try again."))
            }
            WebError::NotFound => (
                "Page not found",
                "If you typed the web address, check it is correct. If you followed a link to a survey, the survey may have closed.".into(),
            ),
            WebError::Csrf => (
                "Sorry, we could not accept that form",
                "This can happen if the page was open for a long time or cookies are switched off. Go back, reload the page and try again. Nothing was changed.".into(),
            ),
            WebError::TooManyRequests => {
                ("Too many attempts", "There have been too many attempts from your connection. Wait a minute and try again.".into())
            }
            WebError::Forbidden => (
                "You do not have permission to see this page",
                "Your account does not have the role this page needs. Nothing was changed. If you need it, ask an administrator.".into(),
            ),
            WebError::Internal | WebError::Storage(_) | WebError::Render(_) => (
                "Sorry, there is a problem with the service",
                "Try again later. Answers you have already continued past are saved.".into(),
            ),
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Csrf | WebError::Forbidden => StatusCode::FORBIDDEN,
            WebError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            WebError::Internal | WebError::Storage(_) | WebError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.status_code().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (heading, message) = self.heading_and_message();
        let html = render_error_page(heading, &message);
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, WebError::TooManyRequests) {
            response.insert_header(("Retry-After", "60"));
        }
        response.content_type("text/html; charset=utf-8").body(html)
    }
}

/// Error pages are rendered without app state, with an English template
/// embedded here so that they work even when everything else fails.
fn render_error_page(heading: &str, message: &str) -> String {
    thread_local! {
        static REGISTRY: handlebars::Handlebars<'static> = super::templates::registry().expect("templates compile");
    }
    let ui = crate::journey::view::catalogue_ui("en");
    let data = json!({ "lang": "en", "title": format!("{heading} - joinedup"), "service_name": "joinedup", "home_href": "/", "ui": ui, "heading": heading, "message": message });
    REGISTRY
        .with(|r| r.render("error", &data))
        .unwrap_or_else(|_| format!("<!DOCTYPE html><title>{heading}</title><h1>{heading}</h1>"))
}

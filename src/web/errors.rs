//! Errors as friendly HTML pages with the right status; details go to the
//! log, never to the page. Under `/api/` the same errors are RFC 9457
//! problem details (`application/problem+json`), with the same status.

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
    /// Not a failure: the page is elsewhere for this visitor (a respondent
    /// with no response goes to the start page). An extractor's way to
    /// redirect; answered as `303 See Other`.
    #[error("see {0}")]
    SeeOther(String),
    #[error("database: {0}")]
    Storage(#[from] StorageError),
    #[error("template: {0}")]
    Render(#[from] handlebars::RenderError),
}

impl WebError {
    /// A short name for programs (the problem's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            WebError::BadRequest(_) => "bad_request",
            WebError::NotFound => "not_found",
            WebError::Csrf => "csrf",
            WebError::TooManyRequests => "too_many_requests",
            WebError::Forbidden => "forbidden",
            WebError::SeeOther(_) => "see_other",
            WebError::Internal | WebError::Storage(_) | WebError::Render(_) => "internal",
        }
    }

    /// What an API client is told: the same sentence a page would show.
    pub fn public_detail(&self) -> String {
        match self {
            WebError::BadRequest(detail) => detail.clone(),
            other => other.heading_and_message().1,
        }
    }

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
            WebError::SeeOther(location) => ("See other", format!("This page has moved to {location}.")),
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
            WebError::SeeOther(_) => StatusCode::SEE_OTHER,
            WebError::Internal | WebError::Storage(_) | WebError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::SeeOther(location) = self {
            return HttpResponse::SeeOther()
                .insert_header((actix_web::http::header::LOCATION, location.clone()))
                .finish();
        }
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

/// An RFC 9457 problem-details response: `type` is `about:blank`, so
/// `title` is the status's own phrase; `detail` says what to do, and the
/// extension member `code` names the problem for programs.
pub fn problem(status: StatusCode, code: &str, detail: &str) -> HttpResponse {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    HttpResponse::build(status).content_type("application/problem+json").body(body.to_string())
}

/// Middleware: every error answered under `/api/` becomes problem details,
/// whichever layer produced it (a handler, an extractor, the 404 default),
/// keeping the status and the headers that matter to a client.
pub async fn api_problems(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if !req.path().starts_with("/api/") {
        return next.call(req).await;
    }
    let res = match next.call(req).await {
        Ok(res) => res,
        // A layer that failed outright (not a handler: their errors come
        // back as responses): answered as problem details all the same.
        Err(e) => {
            let status = e.as_response_error().status_code();
            let (code, detail) = described(e.as_error::<WebError>(), status);
            return Err(
                actix_web::error::InternalError::from_response(e.to_string(), problem(status, code, &detail)).into()
            );
        }
    };
    let status = res.status();
    let is_problem = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return Ok(res);
    }
    let (code, detail) = described(res.response().error().and_then(|e| e.as_error::<WebError>()), status);
    let mut replacement = problem(status, code, &detail);
    for name in [
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::WWW_AUTHENTICATE,
        actix_web::http::header::ALLOW,
    ] {
        if let Some(value) = res.headers().get(&name) {
            replacement.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(res.into_response(replacement))
}

/// The code and sentence for an error, from the `WebError` when there is one.
fn described(error: Option<&WebError>, status: StatusCode) -> (&'static str, String) {
    match error {
        Some(e) => (e.code(), e.public_detail()),
        None => {
            let code = match status {
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                s if s.is_server_error() => "internal",
                _ => "bad_request",
            };
            (code, status.canonical_reason().unwrap_or("Error").to_string())
        }
    }
}

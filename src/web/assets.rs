//! Stylesheets embedded in the binary and served with long cache lifetimes
//! (the NHS.UK one carries its version in its name).

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::errors::WebError;

const NHSUK_CSS: &str = include_str!("../../static/nhsuk-frontend-10.6.1.css");
const JOINEDUP_CSS: &str = include_str!("../../static/joinedup.css");

pub async fn asset(name: web::Path<String>) -> Result<HttpResponse, WebError> {
    let (body, cache) = match name.as_str() {
        "nhsuk-frontend-10.6.1.css" => (NHSUK_CSS, "public, max-age=31536000, immutable"),
        "joinedup.css" => (JOINEDUP_CSS, "public, max-age=3600"),
        _ => return Err(WebError::NotFound),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, cache))
        .body(body))
}

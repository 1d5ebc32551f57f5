//! HTTP: thin actix-web handlers that parse, call one domain function and
//! render. No business rules live here.

mod access_log;
mod assets;
pub mod csrf;
pub mod errors;
mod health;
mod registry;
mod respondent;
pub mod templates;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{self, DefaultHeaders};
use actix_web::{App, HttpServer, web};

pub use registry::{PublishedSurvey, SurveyRegistry};

use crate::app::AppState;

/// No script runs on any page, no page may be framed, and tokens in URLs
/// never leak through the Referer header.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=()"))
        .add(("Cache-Control", "no-store"))
}

/// Builds the server on an already bound listener.
pub fn server(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PathConfig::default().error_handler(|_, _| errors::WebError::NotFound.into()))
            .app_data(
                web::QueryConfig::default().error_handler(|e, _| errors::WebError::BadRequest(e.to_string()).into()),
            )
            .wrap(middleware::from_fn(csrf::ensure_cookie))
            .wrap(security_headers())
            .wrap(middleware::Compress::default())
            .wrap(middleware::from_fn(access_log::log_request))
            .route("/healthz", web::get().to(health::healthz))
            .route("/assets/{name}", web::get().to(assets::asset))
            .route("/", web::get().to(respondent::home))
            .route("/accessibility", web::get().to(respondent::accessibility))
            .route("/resume", web::get().to(respondent::resume_code_page))
            .route("/resume", web::post().to(respondent::resume_code))
            .route("/resume/{token}", web::get().to(respondent::resume_link))
            .route("/s/{token}", web::get().to(respondent::invited_start_page))
            .route("/s/{token}", web::post().to(respondent::invited_start))
            .route("/surveys/{survey_id}", web::get().to(respondent::start_page))
            .route("/surveys/{survey_id}/start", web::post().to(respondent::start))
            .route("/surveys/{survey_id}/privacy", web::get().to(respondent::privacy))
            .route("/surveys/{survey_id}/q/{page_id}", web::get().to(respondent::show_page))
            .route("/surveys/{survey_id}/q/{page_id}", web::post().to(respondent::answer_page))
            .route("/surveys/{survey_id}/check", web::get().to(respondent::check_answers))
            .route("/surveys/{survey_id}/submit", web::post().to(respondent::submit))
            .route("/surveys/{survey_id}/done", web::get().to(respondent::confirmation))
            .route("/surveys/{survey_id}/save", web::get().to(respondent::save_page))
            .route("/surveys/{survey_id}/save", web::post().to(respondent::save))
            .route("/surveys/{survey_id}/delete", web::get().to(respondent::delete_page))
            .route("/surveys/{survey_id}/delete", web::post().to(respondent::delete))
            .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(errors::WebError::NotFound) }))
    })
    .listen(listener)?
    .run();
    Ok(server)
}

//! HTTP: thin actix-web handlers that parse, call one domain function and
//! render. No business rules live here.

mod account;
mod admin;
mod analyst;
mod api;
mod assets;
mod data_entry;
pub mod errors;
mod health;
mod lead;
pub mod metrics;
pub mod middleware;
mod openapi;
mod respondent;
pub mod routes;
mod staff;
mod state;
pub mod templates;
mod upload;

pub use middleware::{csrf, guard};

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};

pub use respondent::response_cache::ResponseCache;
pub use state::AppState;

/// No script runs on any page, no page may be framed, and tokens in URLs
/// never leak through the Referer header. Served over https, browsers are
/// told to use nothing else for a year (HSTS), so a first plain-http
/// request cannot be intercepted on later visits.
fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = if hsts {
        DefaultHeaders::new().add(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    } else {
        DefaultHeaders::new()
    };
    headers
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

/// One path's resource: a route per table entry, all behind the guard,
/// which applies the entry for the request's method.
fn resource(
    path: &'static str,
    entries: Vec<&'static routes::Entry>,
) -> actix_web::Resource<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let rules: Vec<(actix_web::http::Method, routes::Method, routes::Access)> =
        entries.iter().map(|e| (e.method.http(), e.method, e.access)).collect();
    let mut resource = web::resource(path);
    for entry in entries {
        resource = resource.route((entry.handler)(web::method(entry.method.http())));
        // HEAD is a GET without its body (the server drops the body), under
        // the same rule: link checkers and monitors ask for it.
        if entry.method == routes::Method::Get {
            resource = resource.route((entry.handler)(web::method(actix_web::http::Method::HEAD)));
        }
    }
    resource.wrap(from_fn(
        move |req: actix_web::dev::ServiceRequest, next: actix_web::middleware::Next<actix_web::body::BoxBody>| {
            let asked = if req.method() == actix_web::http::Method::HEAD {
                actix_web::http::Method::GET
            } else {
                req.method().clone()
            };
            let rule = rules.iter().find(|(m, _, _)| *m == asked);
            guard::authorise(rule.map(|r| r.2), rule.map(|r| r.1), req, next)
        },
    ))
}

/// Builds the server on an already bound listener.
pub fn server(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<Server> {
    let hsts = state.settings.sends_hsts();
    let measured = state.metrics.is_some();
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(data.clone())
            .app_data(web::PathConfig::default().error_handler(|_, _| errors::WebError::NotFound.into()))
            .app_data(
                web::QueryConfig::default().error_handler(|e, _| errors::WebError::BadRequest(e.to_string()).into()),
            )
            .wrap(from_fn(errors::api_problems))
            .wrap(from_fn(csrf::ensure_cookie))
            .wrap(security_headers(hsts))
            .wrap(from_fn(middleware::compress::small_inline))
            .wrap(actix_web::middleware::Compress::default())
            .wrap(from_fn(middleware::access_log::log_request))
            .wrap(actix_web::middleware::Condition::new(measured, from_fn(metrics::measure)))
            .wrap(from_fn(middleware::request_id::tag_request));
        for (path, entries) in routes::by_path(routes::ROUTES) {
            app = app.service(resource(path, entries));
        }
        app.default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(errors::WebError::NotFound) }))
    })
    .listen(listener)?
    .run();
    Ok(server)
}

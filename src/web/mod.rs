//! HTTP: thin actix-web handlers that parse, call one domain function and
//! render. No business rules live here.

mod access_log;
mod health;
mod registry;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};

pub use registry::{PublishedSurvey, SurveyRegistry};

use crate::app::AppState;

/// Builds the server on an already bound listener.
pub fn server(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(middleware::from_fn(access_log::log_request))
            .route("/healthz", web::get().to(health::healthz))
    })
    .listen(listener)?
    .run();
    Ok(server)
}

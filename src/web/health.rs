//! `GET /healthz`: is the database reachable, at which migration, with how
//! many survey versions loaded; `loading` (503) while `serve --demo` is
//! still putting its demo responses in.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::storage::migrations;
use crate::web::AppState;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    database: &'static str,
    migration: Option<String>,
    surveys: usize,
}

pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let version = state.db.run(migrations::current_version).await;
    let database = state.db.backend().name();
    // Not ready for traffic yet: scripts and load balancers wait for 200.
    if state.loading.load(std::sync::atomic::Ordering::Acquire) {
        return HttpResponse::ServiceUnavailable().json(Health {
            status: "loading",
            database,
            migration: version.ok().flatten(),
            surveys: state.surveys.len(),
        });
    }
    match version {
        Ok(migration) => {
            HttpResponse::Ok().json(Health { status: "ok", database, migration, surveys: state.surveys.len() })
        }
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(Health {
                status: "database unavailable",
                database,
                migration: None,
                surveys: state.surveys.len(),
            })
        }
    }
}

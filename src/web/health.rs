//! `GET /healthz`: is the database reachable, at which migration, with how
//! many survey versions loaded.

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

//! The JSON API under `/api/v1/`. The guard has authenticated the caller
//! (session cookie or `Authorization: Bearer` personal API token), checked
//! the role, and for cookie calls that change something, the
//! `X-CSRF-Token` header.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::admin::AuditQuery;
use super::analyst::home::survey_versions;
use super::analyst::views::SurveyVersion;
use super::csrf;
use super::errors::{WebError, problem};
use super::openapi::Problem;
use crate::accounts::tokens::{self, TokenError};
use crate::accounts::{Credential, Principal, Role};
use crate::storage::audit as audit_rows;
use crate::web::AppState;

type Data = web::Data<AppState>;

/// `GET /api/v1/me`.
#[derive(Serialize, ToSchema)]
struct Me<'a> {
    email: &'a str,
    /// `admin`, `survey_lead`, `analyst`, `researcher`, `data_protection`,
    /// `data_entry`.
    #[schema(value_type = Vec<String>)]
    roles: &'a [Role],
    /// `session` or `api_token`.
    via: &'static str,
    /// The token to send as `X-CSRF-Token`, for a session.
    csrf_token: Option<String>,
}

/// `GET /api/v1/surveys`.
#[derive(Serialize, ToSchema)]
struct Surveys {
    surveys: Vec<SurveyVersion>,
}

/// `GET /api/v1/admin/audit`.
#[derive(Serialize, ToSchema)]
struct Audit {
    entries: Vec<AuditEntry>,
}

/// An audit entry as stored, its time in RFC 3339.
#[derive(Serialize, ToSchema)]
struct AuditEntry {
    id: i64,
    at: String,
    actor: String,
    actor_user_id: Option<i64>,
    action: String,
    target: Option<String>,
    detail: Option<String>,
    client_ip: Option<String>,
}

/// Who the caller is
///
/// With a session cookie it also gives the CSRF token to send as
/// `X-CSRF-Token` on calls that change something.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "account",
    security(("api_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid token or session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(state: Data, principal: Principal) -> HttpResponse {
    let (via, csrf_token) = match &principal.credential {
        Credential::Session(id) => ("session", Some(csrf::token_for_session(state.secret.expose(), id))),
        Credential::ApiToken { .. } => ("api_token", None),
    };
    HttpResponse::Ok().json(Me { email: &principal.email, roles: &principal.roles, via, csrf_token })
}

/// The released survey versions
///
/// Published and closed versions, newest first within each survey.
#[utoipa::path(
    get,
    path = "/api/v1/surveys",
    tag = "surveys",
    security(("api_token" = ["survey_lead", "analyst"]), ("session" = ["survey_lead", "analyst"])),
    responses(
        (status = 200, description = "Every released version", body = Surveys),
        (status = 401, description = "No valid token or session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is neither a survey lead nor an analyst", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn surveys(state: Data) -> HttpResponse {
    HttpResponse::Ok().json(Surveys { surveys: survey_versions(&state) })
}

/// Revoke one of the caller's own API tokens
///
/// A script can retire its token when done. Anyone else's token, or one
/// already revoked, is 404.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "account",
    params(("id" = i64, Path, description = "The token's id, as the admin pages list it")),
    security(("api_token" = []), ("session" = [])),
    responses(
        (status = 204, description = "Revoked; it stops working at once"),
        (status = 401, description = "No valid token or session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A session call without its X-CSRF-Token header", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The caller has no unrevoked token with that id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_own_token(
    state: Data,
    principal: Principal,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    let owner = principal.user_id;
    match state.db.write(move |conn| Ok(tokens::revoke(conn, &actor, ip.as_deref(), id, Some(owner)))).await? {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(TokenError::NotFound) => {
            Ok(problem(StatusCode::NOT_FOUND, "not_found", "You have no unrevoked token with that id."))
        }
        Err(e) => Err(e.into()),
    }
}

/// The audit log
///
/// Newest first, 200 entries a call, with the admin page's filters. For
/// the next page, pass the last entry's id as `before`.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    tag = "admin",
    params(
        ("action" = Option<String>, Query, description = "Only this action, like `sign_in`"),
        ("actor" = Option<String>, Query, description = "Only entries whose actor contains this"),
        ("from" = Option<chrono::NaiveDate>, Query, description = "From this day, inclusive"),
        ("to" = Option<chrono::NaiveDate>, Query, description = "To this day, inclusive"),
        ("before" = Option<i64>, Query, description = "Only entries with a smaller id"),
    ),
    security(("api_token" = ["admin"]), ("session" = ["admin"])),
    responses(
        (status = 200, description = "Up to 200 entries", body = Audit),
        (status = 400, description = "A filter cannot be read (a date, say)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token or session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn audit(state: Data, query: web::Query<AuditQuery>) -> Result<HttpResponse, WebError> {
    // A form sends an empty box as `from=`; a program that does means a
    // date it failed to fill in, and is told so rather than given it all.
    for (field, value) in [("from", &query.from), ("to", &query.to)] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            let detail = format!("{field}: give a date as year-month-day, like 2026-11-25, or leave {field} out");
            return Ok(problem(StatusCode::BAD_REQUEST, "bad_request", &detail));
        }
    }
    let filter = match query.filter() {
        Ok(f) => f,
        Err((field, message)) => {
            return Ok(problem(StatusCode::BAD_REQUEST, "bad_request", &format!("{field}: {message}")));
        }
    };
    let entries = state.db.run(move |conn| audit_rows::search(conn, &filter, 200)).await?;
    let entries = entries
        .into_iter()
        .map(|e| AuditEntry {
            id: e.id,
            at: e.at.and_utc().to_rfc3339(),
            actor: e.actor,
            actor_user_id: e.actor_user_id,
            action: e.action,
            target: e.target,
            detail: e.detail,
            client_ip: e.client_ip,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Audit { entries }))
}

//! The JSON API under `/api/v1/`. The guard has authenticated the caller
//! (session cookie or `Authorization: Bearer` personal API token), checked
//! the role, and for cookie calls that change something, the
//! `X-CSRF-Token` header.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use super::admin::AuditQuery;
use super::analyst::home::survey_versions;
use super::analyst::views::SurveyVersion;
use super::csrf;
use super::errors::WebError;
use crate::accounts::tokens::{self, TokenError};
use crate::accounts::{Credential, Principal, Role};
use crate::storage::audit as audit_rows;
use crate::web::AppState;

type Data = web::Data<AppState>;

/// `GET /api/v1/me`.
#[derive(Serialize)]
struct Me<'a> {
    email: &'a str,
    roles: &'a [Role],
    /// `session` or `api_token`.
    via: &'static str,
    /// The token to send as `X-CSRF-Token`, for a session.
    csrf_token: Option<String>,
}

/// `GET /api/v1/surveys`.
#[derive(Serialize)]
struct Surveys {
    surveys: Vec<SurveyVersion>,
}

/// `GET /api/v1/admin/audit`.
#[derive(Serialize)]
struct Audit {
    entries: Vec<AuditEntry>,
}

/// An audit entry as stored, its time in RFC 3339.
#[derive(Serialize)]
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

fn not_found(message: &str) -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "error": "not_found", "message": message }))
}

/// `GET /api/v1/me`: who the caller is. With a session cookie it also
/// gives the CSRF token to send as `X-CSRF-Token` on calls that change
/// something.
pub async fn me(state: Data, principal: Principal) -> HttpResponse {
    let (via, csrf_token) = match &principal.credential {
        Credential::Session(id) => ("session", Some(csrf::token_for_session(state.secret.expose(), id))),
        Credential::ApiToken { .. } => ("api_token", None),
    };
    HttpResponse::Ok().json(Me { email: &principal.email, roles: &principal.roles, via, csrf_token })
}

/// `GET /api/v1/surveys`: the released survey versions.
pub async fn surveys(state: Data) -> HttpResponse {
    HttpResponse::Ok().json(Surveys { surveys: survey_versions(&state) })
}

/// `DELETE /api/v1/tokens/{id}`: revokes one of the caller's own tokens
/// (a script can retire its token when done). Anyone else's is 404.
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
        Err(TokenError::NotFound) => Ok(not_found("you have no unrevoked token with that id")),
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/v1/admin/audit`: the audit log as JSON, with the admin page's
/// filters (`action`, `actor`, `from`, `to`, `before`), 200 entries a call.
pub async fn audit(state: Data, query: web::Query<AuditQuery>) -> Result<HttpResponse, WebError> {
    let filter = match query.filter() {
        Ok(f) => f,
        Err((field, message)) => {
            return Ok(
                HttpResponse::BadRequest().json(json!({ "error": "bad_request", "field": field, "message": message }))
            );
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

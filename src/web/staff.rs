//! What every staff page (sign-in, account, lead, analyst, admin) shares:
//! the layout's data with the signed-in user and their CSRF token, and a
//! few rendering helpers.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::csrf;
use super::errors::WebError;
use crate::accounts::Principal;
use crate::journey::view;
use crate::web::AppState;

/// The layout's data for a staff page titled `title`.
pub fn page(state: &AppState, req: &HttpRequest, principal: Option<&Principal>, title: &str) -> Value {
    json!({
        "lang": "en",
        "title": format!("{title} - joinedup"),
        "service_name": "joinedup",
        "home_href": if principal.is_some() { "/account" } else { "/" },
        "ui": view::catalogue_ui("en"),
        "csrf": csrf::token(req, state.secret.expose()),
        "account": principal.map(|p| json!({
            "email": p.email,
            "areas": p.roles.iter().map(|r| json!({ "label": r.label(), "href": r.home() })).collect::<Vec<_>>(),
        })),
    })
}

/// `value` with the fields of `more` added.
pub fn extend(mut value: Value, more: Value) -> Value {
    if let (Some(target), Value::Object(extra)) = (value.as_object_mut(), more) {
        target.extend(extra);
    }
    value
}

pub fn render(state: &AppState, template: &str, data: &Value) -> Result<HttpResponse, WebError> {
    render_status(state, actix_web::http::StatusCode::OK, template, data)
}

/// Like `render`, with another status (a refused sign-in is 401).
pub fn render_status(
    state: &AppState,
    status: actix_web::http::StatusCode,
    template: &str,
    data: &Value,
) -> Result<HttpResponse, WebError> {
    let data = with_field_errors(data.clone());
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(super::templates::render_owned(
        &state.templates,
        template,
        data,
    )?))
}

/// Adds `field_errors` (field id to message) from the `errors` list, so a
/// template can show each message by its field as well as in the summary.
fn with_field_errors(mut data: Value) -> Value {
    let by_field: serde_json::Map<String, Value> = data["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["field"].as_str()?.to_string(), e["message"].clone())))
        .collect();
    if let Some(object) = data.as_object_mut() {
        object.insert("field_errors".into(), Value::Object(by_field));
    }
    data
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location.to_string())).finish()
}

/// An error summary entry linking to the field `id`.
pub fn error(id: &str, message: impl std::fmt::Display) -> Value {
    json!({ "href": format!("#{id}"), "message": message.to_string(), "field": id })
}

/// Times as staff read them; every stored time is UTC.
pub fn time(at: NaiveDateTime) -> String {
    at.format("%-d %b %Y %H:%M UTC").to_string()
}

/// The one value of a form field, or empty.
pub fn field(fields: &crate::journey::Fields, name: &str) -> String {
    fields.get(name).and_then(|v| v.first()).cloned().unwrap_or_default()
}

/// Account rule failures that reach a handler unexpected; those a form can
/// show are matched before this.
impl From<crate::accounts::users::AccountError> for WebError {
    fn from(e: crate::accounts::users::AccountError) -> Self {
        match e {
            crate::accounts::users::AccountError::Storage(e) => WebError::Storage(e),
            crate::accounts::users::AccountError::NoSuchUser => WebError::NotFound,
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

impl From<crate::accounts::tokens::TokenError> for WebError {
    fn from(e: crate::accounts::tokens::TokenError) -> Self {
        match e {
            crate::accounts::tokens::TokenError::Account(e) => e.into(),
            crate::accounts::tokens::TokenError::NotFound => WebError::NotFound,
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

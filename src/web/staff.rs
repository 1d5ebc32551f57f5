//! What every staff page (sign-in, account, lead, analyst, admin) shares:
//! the layout's data with the signed-in user and their CSRF token, and a
//! few rendering helpers.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;

use super::csrf;
use super::errors::WebError;
use crate::accounts::Principal;
use crate::journey::view;
use crate::web::AppState;

/// What the layout reads on every staff page. Every field is always
/// present, so handlebars strict mode can refuse a misspelt key.
#[derive(Debug, Serialize)]
pub struct StaffFrame {
    pub lang: &'static str,
    /// The browser tab's title: the page's own, then the service's.
    pub title: String,
    pub service_name: &'static str,
    /// Where the service name links: the account page once signed in.
    pub home_href: &'static str,
    /// The interface wording (the English catalogue), by message id.
    pub ui: Value,
    /// This browser's CSRF token, for the hidden field of every form.
    pub csrf: String,
    /// The signed-in user's menu; `None` on the sign-in page.
    pub account: Option<Account>,
    /// The back link above the page, if it has one.
    pub back_href: Option<String>,
    /// The full width of the screen rather than two thirds.
    pub wide: bool,
    /// The error summary at the top, one link per mistake.
    pub errors: Vec<ErrorLink>,
    /// The same messages by field id, shown beside their fields.
    pub field_errors: BTreeMap<String, String>,
}

/// The signed-in user in the header: who, and the areas their roles open.
#[derive(Debug, Serialize)]
pub struct Account {
    pub email: String,
    pub areas: Vec<Area>,
}

/// A link to a role's area.
#[derive(Debug, Serialize)]
pub struct Area {
    pub label: &'static str,
    pub href: &'static str,
}

/// An error summary entry: its message, linking to where the mistake is.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorLink {
    /// `#` and the id of the element the message is about.
    pub href: String,
    pub message: String,
    /// The form field the message belongs to, if it is about one (a
    /// draft's problems are about lines, not fields).
    pub field: Option<String>,
}

/// A staff page's data: the layout's frame and the page's own fields,
/// side by side at the top level, where the templates read them.
#[derive(Debug, Serialize)]
pub struct Page<T: Serialize> {
    #[serde(flatten)]
    pub frame: StaffFrame,
    #[serde(flatten)]
    pub body: T,
}

impl StaffFrame {
    /// The frame of a staff page titled `title`, with no back link or
    /// errors, two thirds wide.
    pub fn new(state: &AppState, req: &HttpRequest, principal: Option<&Principal>, title: &str) -> Self {
        StaffFrame {
            lang: "en",
            title: format!("{title} - joinedup"),
            service_name: "joinedup",
            home_href: if principal.is_some() { "/account" } else { "/" },
            ui: view::catalogue_ui("en"),
            csrf: csrf::token(req, state.secret.expose()),
            account: principal.map(|p| Account {
                email: p.email.clone(),
                areas: p.roles.iter().map(|r| Area { label: r.label(), href: r.home() }).collect(),
            }),
            back_href: None,
            wide: false,
            errors: Vec::new(),
            field_errors: BTreeMap::new(),
        }
    }

    pub fn back(mut self, href: impl Into<String>) -> Self {
        self.back_href = Some(href.into());
        self
    }

    pub fn wide(mut self) -> Self {
        self.wide = true;
        self
    }

    /// Sets the error summary, and each field's message from it.
    pub fn with_errors(mut self, errors: Vec<ErrorLink>) -> Self {
        self.field_errors =
            errors.iter().filter_map(|e| Some((e.field.clone()?, e.message.clone()))).collect::<BTreeMap<_, _>>();
        self.errors = errors;
        self
    }

    /// This frame around a page's own data.
    pub fn page<T: Serialize>(self, body: T) -> Page<T> {
        Page { frame: self, body }
    }
}

pub fn render<T: Serialize + ?Sized>(state: &AppState, template: &str, data: &T) -> Result<HttpResponse, WebError> {
    render_status(state, actix_web::http::StatusCode::OK, template, data)
}

/// Like `render`, with another status (a refused sign-in is 401).
pub fn render_status<T: Serialize + ?Sized>(
    state: &AppState,
    status: actix_web::http::StatusCode,
    template: &str,
    data: &T,
) -> Result<HttpResponse, WebError> {
    let data = serde_json::to_value(data)
        .map_err(|e| WebError::Render(handlebars::RenderErrorReason::SerdeError(e).into()))?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(super::templates::render_owned(
        &state.templates,
        template,
        data,
    )?))
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location.to_string())).finish()
}

/// An error summary entry linking to the field `id`.
pub fn error(id: &str, message: impl std::fmt::Display) -> ErrorLink {
    ErrorLink { href: format!("#{id}"), message: message.to_string(), field: Some(id.to_string()) }
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

//! Admin pages: users and their roles, API tokens, the audit log. The
//! guard has already checked the admin role; each change goes through
//! `accounts`, which writes it with its audit entry.

pub mod data_protection;
mod views;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::accounts::tokens::{self, TokenError};
use crate::accounts::users::{self, AccountError};
use crate::accounts::{Principal, Role, password, roles};
use crate::audit::Action;
use crate::journey::Fields;
use crate::storage::accounts::{self as rows, UserRoles};
use crate::storage::audit::{self as audit_rows, AuditFilter};
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::staff::{self, ErrorLink, StaffFrame, error, field, time};

type Data = web::Data<AppState>;

/// Audit entries shown per page.
const AUDIT_PAGE: i64 = 50;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The confirmation shown after a change; fixed wording per key, so
/// nothing from the URL is echoed.
fn done_message(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "created" => "The account has been created.",
        "roles" => "The roles have been changed.",
        "disabled" => "The account has been disabled and its sessions have ended.",
        "enabled" => "The account has been enabled.",
        "password" => "The password has been reset and the account's sessions have ended.",
        "revoked" => "The token has been revoked.",
        _ => return None,
    })
}

fn roles_from(fields: &Fields) -> Vec<Role> {
    roles::parse_all(fields.get("roles").into_iter().flatten().map(String::as_str))
}

/// `GET /admin`.
pub async fn home(state: Data, req: HttpRequest, principal: Principal) -> Result<HttpResponse, WebError> {
    let users = state.db.run(rows::count_users).await?;
    let data = StaffFrame::new(&state, &req, Some(&principal), "Admin").page(views::Home { user_count: users });
    staff::render(&state, "admin/home", &data)
}

/// `GET /admin/users`.
pub async fn users(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let all = state.db.run(rows::list_users).await?;
    let data = StaffFrame::new(&state, &req, Some(&principal), "Users").back("/admin").page(views::Users {
        users: all.iter().map(views::User::from).collect(),
        notice: done_message(query.done.as_deref()),
    });
    staff::render(&state, "admin/users", &data)
}

fn new_user_form(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    email: &str,
    held: &[Role],
    errors: Vec<ErrorLink>,
) -> staff::Page<views::NewUser> {
    StaffFrame::new(state, req, Some(principal), "Add a user").back("/admin/users").with_errors(errors).page(
        views::NewUser {
            email: email.to_string(),
            roles: views::RoleChoice::all(held),
            min_length: password::MIN_LENGTH,
        },
    )
}

/// `GET /admin/users/new`.
pub async fn new_user_page(state: Data, req: HttpRequest, principal: Principal) -> Result<HttpResponse, WebError> {
    staff::render(&state, "admin/user_new", &new_user_form(&state, &req, &principal, "", &[], Vec::new()))
}

/// Where an account error belongs on a form, or `None` for one no form shows.
fn field_for(e: &AccountError) -> Option<&'static str> {
    match e {
        AccountError::BadEmail | AccountError::Exists => Some("email"),
        AccountError::Policy(_) => Some("password"),
        AccountError::NoRoles | AccountError::OwnAccess => Some("roles"),
        _ => None,
    }
}

/// `POST /admin/users`.
pub async fn create_user(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let email = users::normalise_email(&field(&fields, "email"));
    let password = field(&fields, "password");
    let held = roles_from(&fields);
    let mut errors = Vec::new();
    if let Err(e) = users::check_email(&email) {
        errors.push(error("email", e));
    }
    if held.is_empty() {
        errors.push(error("roles", AccountError::NoRoles));
    }
    if let Err(e) = password::check(&password, &email) {
        errors.push(error("password", e));
    }
    let lookup = email.clone();
    if errors.is_empty() && state.db.run(move |conn| rows::by_email(conn, &lookup)).await?.is_some() {
        errors.push(error("email", AccountError::Exists));
    }
    if !errors.is_empty() {
        return staff::render(
            &state,
            "admin/user_new",
            &new_user_form(&state, &req, &principal, &email, &held, errors),
        );
    }
    let for_hash = email.clone();
    let hash =
        web::block(move || users::password_hash(&for_hash, &password)).await.map_err(|_| WebError::Internal)??;
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    let roles = held.clone();
    let email_for_write = email.clone();
    let created = state
        .db
        .write(move |conn| Ok(users::create(conn, &actor, ip.as_deref(), &email_for_write, &hash, &roles)))
        .await?;
    match created {
        Ok(user) => Ok(staff::see_other(&format!("/admin/users/{}?done=created", user.id))),
        Err(e) => match field_for(&e) {
            Some(id) => {
                let data = new_user_form(&state, &req, &principal, &email, &held, vec![error(id, e)]);
                staff::render(&state, "admin/user_new", &data)
            }
            None => Err(e.into()),
        },
    }
}

async fn load_user(state: &AppState, id: i64) -> Result<UserRoles, WebError> {
    Ok(state.db.run(move |conn| Ok(users::find_by_id(conn, id))).await??)
}

fn user_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    entry: &UserRoles,
    notice: Option<&'static str>,
    errors: Vec<ErrorLink>,
) -> staff::Page<views::UserPage> {
    let held = roles::parse_all(entry.roles.iter().map(String::as_str));
    StaffFrame::new(state, req, Some(principal), &entry.user.email).back("/admin/users").with_errors(errors).page(
        views::UserPage {
            user: views::User::from(entry),
            roles: views::RoleChoice::all(&held),
            is_self: entry.user.id == principal.user_id,
            notice,
            min_length: password::MIN_LENGTH,
        },
    )
}

/// `GET /admin/users/{id}`.
pub async fn user(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    query: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let entry = load_user(&state, path.into_inner()).await?;
    let data = user_page(&state, &req, &principal, &entry, done_message(query.done.as_deref()), Vec::new());
    staff::render(&state, "admin/user", &data)
}

/// Runs an account change; on success 303 back to the user's page with
/// `done`, on a rule the form shows, the page again with the error.
async fn change(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    id: i64,
    done: &str,
    work: impl FnOnce(&mut crate::storage::DbConn) -> Result<(), AccountError> + Send + 'static,
) -> Result<HttpResponse, WebError> {
    match state.db.write(move |conn| Ok(work(conn))).await? {
        Ok(()) => Ok(staff::see_other(&format!("/admin/users/{id}?done={done}"))),
        Err(e) => match field_for(&e) {
            Some(field) => {
                let entry = load_user(state, id).await?;
                let data = user_page(state, req, principal, &entry, None, vec![error(field, e)]);
                staff::render(state, "admin/user", &data)
            }
            None => Err(e.into()),
        },
    }
}

/// `POST /admin/users/{id}/roles`.
pub async fn set_roles(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let held = roles_from(&fields);
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    change(&state, &req, &principal, id, "roles", move |conn| users::set_roles(conn, &actor, ip.as_deref(), id, &held))
        .await
}

async fn set_disabled(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    id: i64,
    disabled: bool,
) -> Result<HttpResponse, WebError> {
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    let done = if disabled { "disabled" } else { "enabled" };
    change(&state, &req, &principal, id, done, move |conn| {
        users::set_disabled(conn, &actor, ip.as_deref(), id, disabled).map(|_| ())
    })
    .await
}

/// `POST /admin/users/{id}/disable`.
pub async fn disable(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    set_disabled(state, req, principal, path.into_inner(), true).await
}

/// `POST /admin/users/{id}/enable`.
pub async fn enable(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    set_disabled(state, req, principal, path.into_inner(), false).await
}

/// `POST /admin/users/{id}/password`: the admin types the new password
/// (to pass on by a safe route); the account's sessions end.
pub async fn reset_password(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<i64>,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let entry = load_user(&state, id).await?;
    let password = field(&fields, "password");
    let email = entry.user.email.clone();
    let hashed = web::block(move || users::password_hash(&email, &password)).await.map_err(|_| WebError::Internal)?;
    let hash = match hashed {
        Ok(hash) => hash,
        Err(e) => {
            let data = user_page(&state, &req, &principal, &entry, None, vec![error("password", e)]);
            return staff::render(&state, "admin/user", &data);
        }
    };
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    change(&state, &req, &principal, id, "password", move |conn| {
        users::set_password(conn, &actor, ip.as_deref(), id, &hash, false)
    })
    .await
}

fn tokens_page(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    all: &[(rows::ApiToken, String)],
    users: &[UserRoles],
    notice: Option<&'static str>,
    errors: Vec<ErrorLink>,
) -> staff::Page<views::Tokens> {
    let tokens = all.iter().map(|(t, email)| views::Token::from(t, email)).collect();
    let users = users
        .iter()
        .filter(|u| !u.user.disabled)
        .map(|u| views::TokenOwner { id: u.user.id, email: u.user.email.clone() })
        .collect();
    StaffFrame::new(state, req, Some(principal), "API tokens").back("/admin").with_errors(errors).page(views::Tokens {
        tokens,
        users,
        notice,
    })
}

/// `GET /admin/tokens`.
pub async fn tokens(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<Done>,
) -> Result<HttpResponse, WebError> {
    let (all, users) = state.db.run(|conn| Ok((rows::list_tokens(conn)?, rows::list_users(conn)?))).await?;
    let data = tokens_page(&state, &req, &principal, &all, &users, done_message(query.done.as_deref()), Vec::new());
    staff::render(&state, "admin/tokens", &data)
}

/// `POST /admin/tokens`: issues a token and shows it once.
pub async fn issue_token(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let user_id: Option<i64> = field(&fields, "user").parse().ok();
    let name = field(&fields, "name");
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    let issued = match user_id {
        Some(id) => state.db.write(move |conn| Ok(tokens::issue(conn, &actor, ip.as_deref(), id, &name))).await?,
        None => Err(TokenError::Account(AccountError::NoSuchUser)),
    };
    match issued {
        Ok((row, token)) => {
            let owner = load_user(&state, row.user_id).await?;
            let data = StaffFrame::new(&state, &req, Some(&principal), "API token issued")
                .back("/admin/tokens")
                .page(views::TokenIssued { token, name: row.name, email: owner.user.email });
            staff::render(&state, "admin/token_issued", &data)
        }
        Err(e) => {
            let id = match &e {
                TokenError::NoName | TokenError::LongName => "name",
                TokenError::Account(AccountError::NoSuchUser) => "user",
                _ => return Err(e.into()),
            };
            let (all, users) = state.db.run(|conn| Ok((rows::list_tokens(conn)?, rows::list_users(conn)?))).await?;
            let data = tokens_page(&state, &req, &principal, &all, &users, None, vec![error(id, e)]);
            staff::render(&state, "admin/tokens", &data)
        }
    }
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_token(
    state: Data,
    principal: Principal,
    path: web::Path<i64>,
    _form: CsrfForm,
) -> Result<HttpResponse, WebError> {
    let id = path.into_inner();
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    state.db.write(move |conn| Ok(tokens::revoke(conn, &actor, ip.as_deref(), id, None))).await??;
    Ok(staff::see_other("/admin/tokens?done=revoked"))
}

/// The audit page's filters, as typed in its form.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    pub to: Option<String>,
    pub before: Option<i64>,
}

impl AuditQuery {
    /// The storage filter, or the field whose date cannot be read.
    pub fn filter(&self) -> Result<AuditFilter, (&'static str, String)> {
        let date = |id: &'static str, value: &Option<String>| -> Result<Option<NaiveDate>, (&'static str, String)> {
            match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| (id, format!("Enter the date as year-month-day, like 2026-11-25, not `{v}`"))),
            }
        };
        let from = date("from", &self.from)?;
        let to = date("to", &self.to)?;
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        Ok(AuditFilter {
            action: text(&self.action),
            actor: text(&self.actor).map(|a| a.to_lowercase()),
            since: from.map(|d| d.and_hms_opt(0, 0, 0).expect("midnight")),
            until: to.and_then(|d| d.succ_opt()).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight")),
            before_id: self.before,
        })
    }
}

/// `GET /admin/audit`: newest first, filtered by action, actor and dates.
pub async fn audit(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let (filter, errors) = match query.filter() {
        Ok(f) => (f, Vec::new()),
        Err((id, message)) => (AuditFilter::default(), vec![error(id, message)]),
    };
    let search = filter.clone();
    let entries = state.db.run(move |conn| audit_rows::search(conn, &search, AUDIT_PAGE + 1)).await?;
    let more = entries.len() as i64 > AUDIT_PAGE;
    let shown = &entries[..entries.len().min(AUDIT_PAGE as usize)];
    let older = match (more, shown.last()) {
        (true, Some(last)) => {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (name, value) in
                [("action", &query.action), ("actor", &query.actor), ("from", &query.from), ("to", &query.to)]
            {
                if let Some(v) = value {
                    q.append_pair(name, v);
                }
            }
            q.append_pair("before", &last.id.to_string());
            Some(format!("/admin/audit?{}", q.finish()))
        }
        _ => None,
    };
    let entries = shown
        .iter()
        .map(|e| views::AuditEntry {
            at: time(e.at),
            actor: e.actor.clone(),
            action: Action::parse(&e.action).map_or_else(|| e.action.clone(), |a| a.label().to_string()),
            target: e.target.clone().unwrap_or_default(),
            detail: e.detail.clone().unwrap_or_default(),
            client_ip: e.client_ip.clone().unwrap_or_default(),
        })
        .collect();
    let actions = Action::ALL
        .iter()
        .map(|a| views::ActionChoice {
            value: a.as_str(),
            label: a.label(),
            selected: query.action.as_deref() == Some(a.as_str()),
        })
        .collect();
    let data = StaffFrame::new(&state, &req, Some(&principal), "Audit log").back("/admin").with_errors(errors).page(
        views::Audit {
            entries,
            actions,
            actor: query.actor.clone().unwrap_or_default(),
            from: query.from.clone().unwrap_or_default(),
            to: query.to.clone().unwrap_or_default(),
            older_href: older,
        },
    );
    staff::render(&state, "admin/audit", &data)
}

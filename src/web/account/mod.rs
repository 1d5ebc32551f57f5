//! Signing in and out, and a signed-in user's own account page and
//! password. Thin: the rules are in `accounts`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::accounts::sign_in::{self, Attempt, Outcome};
use crate::accounts::users;
use crate::accounts::{Principal, Role, password};
use crate::web::AppState;
use crate::web::csrf::CsrfForm;
use crate::web::errors::WebError;
use crate::web::guard;
use crate::web::staff::{self, ErrorLink, Page, StaffFrame, error, field};

type Data = web::Data<AppState>;

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    ended: Option<String>,
    signed_out: Option<String>,
    changed: Option<String>,
}

/// A return path is only ever a path on this site: `/x`, never `//host`
/// or `/\host` (which browsers treat as another site).
fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?;
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2000
        && !next.chars().any(char::is_control);
    ok.then(|| next.to_string())
}

/// Where a user goes after signing in without a return path: their area if
/// they have one role, else their account page.
fn landing(roles: &[Role]) -> &'static str {
    match roles {
        [only] => only.home(),
        _ => "/account",
    }
}

/// `account/sign_in`.
#[derive(Serialize)]
struct SignIn {
    /// What was typed, kept in the field.
    email: String,
    /// Where to go once signed in (a path on this site), sent on with the form.
    next: Option<String>,
    /// Why the user is here: signed out, or their session ended.
    notice: Option<&'static str>,
}

/// `account/home`.
#[derive(Serialize)]
struct Home {
    /// The labels of the user's roles.
    roles: Vec<&'static str>,
}

/// `account/password`.
#[derive(Serialize)]
struct Password {
    /// The password policy's minimum length, for the hint.
    min_length: usize,
}

fn sign_in_form(
    state: &AppState,
    req: &HttpRequest,
    email: &str,
    next: Option<String>,
    notice: Option<&'static str>,
    errors: Vec<ErrorLink>,
) -> Page<SignIn> {
    StaffFrame::new(state, req, None, "Sign in").with_errors(errors).page(SignIn {
        email: email.to_string(),
        next,
        notice,
    })
}

/// `GET /sign-in`.
pub async fn sign_in_page(
    state: Data,
    req: HttpRequest,
    query: web::Query<SignInQuery>,
) -> Result<HttpResponse, WebError> {
    let next = safe_next(query.next.as_deref());
    let notice = if query.ended.is_some() {
        Some("Your session has ended. Sign in again to continue.")
    } else if query.signed_out.is_some() {
        Some("You have signed out.")
    } else if query.changed.is_some() {
        Some("Your password has been changed. Sign in with your new password.")
    } else {
        None
    };
    let data = sign_in_form(&state, &req, "", next, notice, Vec::new());
    staff::render(&state, "account/sign_in", &data)
}

/// `POST /sign-in`: 303 onwards with a new session, or the form again with
/// one message for every kind of failure (401), or 429 past the limit.
pub async fn sign_in(state: Data, req: HttpRequest, CsrfForm(fields): CsrfForm) -> Result<HttpResponse, WebError> {
    let email = field(&fields, "email");
    let password = field(&fields, "password");
    let next = safe_next(Some(&field(&fields, "next")));
    let mut errors = Vec::new();
    if email.trim().is_empty() {
        errors.push(error("email", "Enter your email address"));
    }
    if password.is_empty() {
        errors.push(error("password", "Enter your password"));
    }
    if !errors.is_empty() {
        return staff::render(&state, "account/sign_in", &sign_in_form(&state, &req, &email, next, None, errors));
    }
    let attempt = Attempt {
        email: email.clone(),
        password,
        client_ip: guard::client_ip(&req),
        previous: guard::session_from(&req),
    };
    match sign_in::sign_in(&state.db, state.secret.expose(), &state.settings.accounts, attempt).await? {
        Outcome::SignedIn { session, roles } => {
            let location = next.unwrap_or_else(|| landing(&roles).to_string());
            Ok(HttpResponse::SeeOther()
                .cookie(guard::session_cookie(&state, &session))
                .insert_header((actix_web::http::header::LOCATION, location))
                .finish())
        }
        Outcome::Refused => {
            let errors = vec![error(
                "email",
                "Enter a correct email address and password. If you have forgotten your password, ask an administrator.",
            )];
            let data = sign_in_form(&state, &req, &email, next, None, errors);
            staff::render_status(&state, StatusCode::UNAUTHORIZED, "account/sign_in", &data)
        }
        Outcome::Blocked => {
            let minutes = state.settings.accounts.limits.window.num_minutes();
            let errors = vec![error(
                "email",
                format!(
                    "There have been too many failed attempts to sign in. Wait {minutes} minutes and try again, or ask an administrator."
                ),
            )];
            let data = sign_in_form(&state, &req, &email, next, None, errors);
            let mut response = staff::render_status(&state, StatusCode::TOO_MANY_REQUESTS, "account/sign_in", &data)?;
            let retry = (minutes * 60).to_string();
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_str(&retry).expect("digits"),
            );
            Ok(response)
        }
    }
}

/// `POST /sign-out`: the session ends in the database, at once.
pub async fn sign_out(state: Data, principal: Principal, _form: CsrfForm) -> Result<HttpResponse, WebError> {
    sign_in::sign_out(&state.db, &principal).await?;
    Ok(HttpResponse::SeeOther()
        .cookie(guard::removal_cookie())
        .insert_header((actix_web::http::header::LOCATION, "/sign-in?signed_out=1"))
        .finish())
}

/// `GET /account`: who you are signed in as, and your areas.
pub async fn home(state: Data, req: HttpRequest, principal: Principal) -> Result<HttpResponse, WebError> {
    let roles = principal.roles.iter().map(|r| r.label()).collect();
    let data = StaffFrame::new(&state, &req, Some(&principal), "Your account").page(Home { roles });
    staff::render(&state, "account/home", &data)
}

fn password_form(state: &AppState, req: &HttpRequest, principal: &Principal, errors: Vec<ErrorLink>) -> Page<Password> {
    StaffFrame::new(state, req, Some(principal), "Change your password")
        .back("/account")
        .with_errors(errors)
        .page(Password { min_length: password::MIN_LENGTH })
}

/// `GET /account/password`.
pub async fn password_page(state: Data, req: HttpRequest, principal: Principal) -> Result<HttpResponse, WebError> {
    staff::render(&state, "account/password", &password_form(&state, &req, &principal, Vec::new()))
}

/// `POST /account/password`: the current password, then a new one that
/// meets the policy. Every session of the user ends, this one too.
pub async fn change_password(
    state: Data,
    req: HttpRequest,
    principal: Principal,
    CsrfForm(fields): CsrfForm,
) -> Result<HttpResponse, WebError> {
    let current = field(&fields, "current_password");
    let new = field(&fields, "new_password");
    let user_id = principal.user_id;
    let email = principal.email.clone();
    let stored = state.db.run(move |conn| crate::storage::accounts::by_id(conn, user_id)).await?;
    let Some(stored) = stored else { return Err(WebError::Internal) };
    let checked = web::block(move || {
        if !password::verify(&current, &stored.password_hash) {
            return Err(("current_password", "Your current password is not correct".to_string()));
        }
        users::password_hash(&email, &new).map_err(|e| ("new_password", e.to_string()))
    })
    .await
    .map_err(|_| WebError::Internal)?;
    let hash = match checked {
        Ok(hash) => hash,
        Err((id, message)) => {
            let data = password_form(&state, &req, &principal, vec![error(id, message)]);
            return staff::render(&state, "account/password", &data);
        }
    };
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    state.db.write(move |conn| Ok(users::set_password(conn, &actor, ip.as_deref(), user_id, &hash, true))).await??;
    Ok(HttpResponse::SeeOther()
        .cookie(guard::removal_cookie())
        .insert_header((actix_web::http::header::LOCATION, "/sign-in?changed=1"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn return_paths_stay_on_the_site() {
        assert_eq!(safe_next(Some("/admin/users?x=1")).as_deref(), Some("/admin/users?x=1"));
        for bad in ["//evil.example/", "/\\evil.example", "https://evil.example/", "admin", "/a\nb"] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }
}

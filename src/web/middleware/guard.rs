//! The authorisation guard: one middleware, built per path from the route
//! table, that every request to a listed route passes through. It finds
//! who is asking (session cookie, or for the API a bearer token), applies
//! the entry's `Access`, and either refuses (303 to sign-in, 401, 403) or
//! hands the `Principal` to the handler. Handlers never check roles.

use std::future::{Ready, ready};

use actix_web::body::BoxBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};

use crate::accounts::principal::{self, Lookup};
use crate::accounts::{Principal, SessionId};
use crate::audit::{self, Action, Event};
use crate::web::AppState;
use crate::web::csrf;
use crate::web::errors::WebError;
use crate::web::routes::{Access, Method, Verdict};

/// The cookie holding the session id: nothing else about the user.
pub const SESSION_COOKIE: &str = "joinedup_session";
/// The header an API call made with a session cookie carries its CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The session cookie: `HttpOnly` (no script may read it, and none runs),
/// `SameSite=Lax` (not sent on cross-site form posts), `Secure` when the
/// site is served over https. No `Max-Age`: it goes when the browser
/// closes, and the server ends it sooner (idle and absolute lifetimes).
pub fn session_cookie(state: &AppState, id: &SessionId) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, id.expose().to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.base_url.starts_with("https://"))
        .finish()
}

pub fn removal_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    cookie.make_removal();
    cookie
}

/// The session id the browser sent, if it is shaped like one.
pub fn session_from(req: &HttpRequest) -> Option<SessionId> {
    req.cookie(SESSION_COOKIE).and_then(|c| SessionId::from_cookie(c.value()))
}

pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// Where a page asked without a session sends the browser: sign-in, with
/// the page to come back to.
fn sign_in_location(req: &HttpRequest, ended: bool) -> String {
    let back = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    };
    let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
    if ended { format!("/sign-in?next={next}&ended=1") } else { format!("/sign-in?next={next}") }
}

fn api_error(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    let mut response = crate::web::errors::problem(status, code, message);
    if status == actix_web::http::StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"joinedup\""));
    }
    response
}

/// Applies `access` (the table entry for this path and method; `None` when
/// the method is not listed, which the resource answers with 405).
pub async fn authorise(
    access: Option<Access>,
    method: Option<Method>,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let (Some(access), Some(method)) = (access, method) else { return next.call(req).await };
    if access == Access::Anonymous {
        return next.call(req).await;
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.into_response(WebError::Internal.error_response()));
    };
    let ip = client_ip(req.request());
    let token = if access.is_api() { bearer(req.request()) } else { None };
    let cookie = session_from(req.request());
    let had_cookie = req.cookie(SESSION_COOKIE).is_some();
    let lookup = match (&token, cookie) {
        (Some(token), _) => match principal::from_api_token(&state.db, token, ip.clone()).await {
            Ok(Some(p)) => Lookup::Found(p),
            Ok(None) => Lookup::Unknown,
            Err(e) => return Ok(req.into_response(WebError::from(e).error_response())),
        },
        (None, Some(id)) => match principal::from_session(&state.db, id, state.settings.accounts.lifetimes, ip).await {
            Ok(lookup) => lookup,
            Err(e) => return Ok(req.into_response(WebError::from(e).error_response())),
        },
        (None, None) => Lookup::Unknown,
    };
    let principal = match lookup {
        Lookup::Found(p) => Some(p),
        Lookup::Expired | Lookup::Unknown => None,
    };
    match access.verdict(principal.as_ref().map(|p| p.roles.as_slice())) {
        Verdict::Allow => {}
        Verdict::SignIn if access.is_api() => {
            let message = if token.is_some() {
                "the API token is not valid (revoked, or its user is disabled)"
            } else {
                "sign in, or send a personal API token as `Authorization: Bearer TOKEN`"
            };
            return Ok(req.into_response(api_error(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "unauthorised",
                message,
            )));
        }
        Verdict::SignIn => {
            let location = sign_in_location(req.request(), had_cookie);
            let mut response = HttpResponse::SeeOther();
            response.insert_header((header::LOCATION, location));
            if had_cookie {
                response.cookie(removal_cookie());
            }
            return Ok(req.into_response(response.finish()));
        }
        Verdict::Forbidden => {
            let principal = principal.expect("forbidden only when signed in");
            let event = Event::new(Action::AccessDenied).target(format!("{} {}", req.method(), req.path()));
            record(&state, &principal, event).await;
            let response = if access.is_api() {
                api_error(
                    actix_web::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "your account does not have the role this needs",
                )
            } else {
                WebError::Forbidden.error_response()
            };
            return Ok(req.into_response(response));
        }
    }
    let principal = principal.expect("allowed routes past Anonymous need a principal");
    if access.is_api() && method.changes_state() && principal.session().is_some() {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let session = principal.session().expect("checked");
        if !csrf::verify_for_session(state.secret.expose(), session, sent) {
            let event = Event::new(Action::CsrfRejected).target(format!("{} {}", req.method(), req.path()));
            record(&state, &principal, event).await;
            let message = "an API call made with a session cookie needs the X-CSRF-Token header (see /api/v1/me)";
            return Ok(req.into_response(api_error(actix_web::http::StatusCode::FORBIDDEN, "csrf", message)));
        }
    }
    req.extensions_mut().insert(principal);
    next.call(req).await
}

/// Writes an audit entry for a refusal; a failure to write is logged, and
/// the refusal stands either way.
pub async fn record(state: &AppState, principal: &Principal, event: Event) {
    let actor = principal.actor();
    let ip = principal.client_ip.clone();
    if let Err(e) = state.db.write(move |conn| audit::record(conn, &actor, &event, ip.as_deref())).await {
        tracing::error!(error = %e, "could not write an audit entry");
    }
}

/// Handlers of signed-in routes take the `Principal` the guard found. On a
/// route without sign-in there is none: a programming error, answered 500.
impl FromRequest for Principal {
    type Error = WebError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(req.extensions().get::<Principal>().cloned().ok_or_else(|| {
            tracing::error!(path = req.path(), "a handler asked for the signed-in user on a route without sign-in");
            WebError::Internal
        }))
    }
}

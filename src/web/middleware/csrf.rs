//! CSRF protection for every form: a random per-browser cookie, and in each
//! form an HMAC of it under the app's secret (the signed double-submit
//! pattern). A POST without a matching token changes nothing.
//!
//! On routes that need sign-in the token is bound to the session instead:
//! an HMAC of the session id. The double-submit cookie can be planted by
//! anyone who can set a cookie for the site (a sibling subdomain, a
//! plain-http response); the session id cannot, and it changes at every
//! sign-in, so a token from before sign-in, from another user's session or
//! from a session that has ended is refused. The same token goes in the
//! `X-CSRF-Token` header of API calls made with a session cookie.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::accounts::{Principal, SessionId};
use crate::audit::{Action, Event};
use crate::journey::Fields;
use crate::web::AppState;
use crate::web::errors::WebError;

pub const COOKIE: &str = "joinedup_csrf";
/// Largest form body accepted anywhere.
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// The cookie value this request carries or is about to be given.
#[derive(Clone)]
struct Seed(String);

/// Gives every browser a CSRF cookie on its first request.
pub async fn ensure_cookie(
    req: ServiceRequest,
    next: Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let existing = req.cookie(COOKIE).map(|c| c.value().to_string()).filter(|v| v.len() == 64);
    let fresh = existing.is_none();
    let seed = existing.unwrap_or_else(|| {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    });
    let secure = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.settings.base_url.starts_with("https://"));
    req.extensions_mut().insert(Seed(seed.clone()));
    let mut response = next.call(req).await?;
    if fresh {
        let cookie =
            Cookie::build(COOKIE, seed).path("/").http_only(true).same_site(SameSite::Lax).secure(secure).finish();
        response.response_mut().add_cookie(&cookie)?;
    }
    Ok(response)
}

/// `domain` keeps the two kinds of token apart: a cookie value can never
/// pass as a session id.
fn mac(secret: &str, domain: &[u8], value: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(domain);
    mac.update(value.as_bytes());
    mac
}

const COOKIE_DOMAIN: &[u8] = b"csrf:";
const SESSION_DOMAIN: &[u8] = b"csrf-session:";

/// The session the guard found for this request, on routes that need one.
fn session(req: &HttpRequest) -> Option<SessionId> {
    req.extensions().get::<Principal>().and_then(|p| p.session().cloned())
}

/// The token for a signed-in session (in its forms, and for the API header).
pub fn token_for_session(secret: &str, session: &SessionId) -> String {
    hex::encode(mac(secret, SESSION_DOMAIN, session.expose()).finalize().into_bytes())
}

pub fn verify_for_session(secret: &str, session: &SessionId, submitted: &str) -> bool {
    let Ok(bytes) = hex::decode(submitted) else { return false };
    mac(secret, SESSION_DOMAIN, session.expose()).verify_slice(&bytes).is_ok()
}

/// The token to put in this request's forms.
pub fn token(req: &HttpRequest, secret: &str) -> String {
    if let Some(session) = session(req) {
        return token_for_session(secret, &session);
    }
    let seed = req.extensions().get::<Seed>().map(|s| s.0.clone()).unwrap_or_default();
    hex::encode(mac(secret, COOKIE_DOMAIN, &seed).finalize().into_bytes())
}

fn verify(req: &HttpRequest, secret: &str, submitted: &str) -> bool {
    if let Some(session) = session(req) {
        return verify_for_session(secret, &session, submitted);
    }
    let Some(cookie) = req.cookie(COOKIE) else { return false };
    let Ok(bytes) = hex::decode(submitted) else { return false };
    mac(secret, COOKIE_DOMAIN, cookie.value()).verify_slice(&bytes).is_ok()
}

/// A urlencoded form whose CSRF token has been checked; the token itself is
/// removed from the fields.
pub struct CsrfForm(pub Fields);

impl FromRequest for CsrfForm {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|_| WebError::BadRequest("the form could not be read".into()))?;
            if bytes.len() > MAX_FORM_BYTES {
                return Err(WebError::BadRequest("the form is too large".into()));
            }
            let mut fields = parse_urlencoded(&bytes);
            check_fields(&req, &mut fields).await?;
            Ok(CsrfForm(fields))
        })
    }
}

/// A urlencoded body as fields; repeated names keep every value.
pub fn parse_urlencoded(bytes: &[u8]) -> Fields {
    let mut fields = Fields::new();
    for (name, value) in form_urlencoded::parse(bytes) {
        fields.entry(name.into_owned()).or_default().push(value.into_owned());
    }
    fields
}

/// Checks a form's CSRF token and removes it from the fields. A refusal of
/// a signed-in user is written to the audit log. For extractors other than
/// `CsrfForm` (file uploads, the one-click opt-out).
pub async fn check_fields(req: &HttpRequest, fields: &mut Fields) -> Result<(), WebError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or(WebError::Internal)?;
    let submitted = fields.remove("csrf_token").and_then(|mut v| v.pop()).unwrap_or_default();
    if verify(req, state.secret.expose(), &submitted) {
        return Ok(());
    }
    let principal = req.extensions().get::<Principal>().cloned();
    if let Some(principal) = principal {
        let event = Event::new(Action::CsrfRejected).target(format!("{} {}", req.method(), req.path()));
        super::guard::record(state, &principal, event).await;
    }
    Err(WebError::Csrf)
}

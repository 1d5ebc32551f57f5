//! The respondent's response cookie: which response this browser is
//! answering for a survey, and the newest revision of it the browser has
//! seen. Signed, so it cannot be forged or pointed at another response.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, SameSite};

use crate::web::AppState;

fn cookie_name(survey_id: &str) -> String {
    format!("joinedup_r_{survey_id}")
}

/// The response id and revision from the browser's cookie for this survey.
/// Another instance's kept copy older than that revision is stale.
pub(super) fn read(state: &AppState, req: &HttpRequest, survey_id: &str) -> Option<(i64, i64)> {
    let name = cookie_name(survey_id);
    let cookie = req.cookie(&name)?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let value = jar.signed(&state.cookie_key).get(&name)?.value().to_string();
    let (id, revision) = value.split_once('.').unwrap_or((&value, "0"));
    Some((id.parse().ok()?, revision.parse().ok()?))
}

/// The signed cookie naming `response_id` at `revision`.
pub(super) fn for_response(state: &AppState, survey_id: &str, response_id: i64, revision: i64) -> Cookie<'static> {
    let name = cookie_name(survey_id);
    let mut jar = CookieJar::new();
    let cookie = Cookie::build(name.clone(), format!("{response_id}.{revision}"))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.base_url.starts_with("https://"))
        .finish();
    jar.signed_mut(&state.cookie_key).add(cookie);
    jar.get(&name).cloned().expect("just added")
}

/// Tells the browser to forget the survey's response.
pub(super) fn removal(survey_id: &str) -> Cookie<'static> {
    let mut cookie = Cookie::build(cookie_name(survey_id), "").path("/").finish();
    cookie.make_removal();
    cookie
}

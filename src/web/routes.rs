//! The route table: the only way a route is added to the app. Each entry
//! says who may use it; `server()` registers every entry behind the one
//! authorisation guard (`guard.rs`), and `tests/it/accounts.rs` walks every
//! entry as anonymous and as each role, so a route cannot be added without
//! a rule, nor with a rule the guard does not enforce.

use actix_web::Route;

use super::admin::{self, data_protection};
use super::analyst::{self, home as areas, margins as analyst_margins, research};
use super::data_entry;
use super::lead::{self, drafts as lead_drafts, preview, samples as lead_samples};
use super::respondent::{self, opt_out};
use super::{account, api, assets, health, openapi};
use crate::accounts::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn http(self) -> actix_web::http::Method {
        match self {
            Method::Get => actix_web::http::Method::GET,
            Method::Post => actix_web::http::Method::POST,
            Method::Delete => actix_web::http::Method::DELETE,
        }
    }

    /// Whether a request may change something, and so needs a CSRF token
    /// when it comes with a session cookie.
    pub fn changes_state(self) -> bool {
        !matches!(self, Method::Get)
    }
}

/// Who a signed-in user must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any signed-in user, whatever their roles.
    SignedIn,
    Role(Role),
    /// Any one of these roles.
    AnyOf(&'static [Role]),
}

impl Need {
    pub fn allows(self, roles: &[Role]) -> bool {
        match self {
            Need::SignedIn => true,
            Need::Role(role) => roles.contains(&role),
            Need::AnyOf(any) => any.iter().any(|r| roles.contains(r)),
        }
    }
}

/// Who may use a route, and how a refusal looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not: respondents never sign in.
    Anonymous,
    /// An HTML page: asked without a session it redirects (303) to
    /// sign-in with a return path; asked by a user without the role, 403.
    Page(Need),
    /// The JSON API: a session cookie or `Authorization: Bearer` API token;
    /// without either 401, without the role 403.
    Api(Need),
}

/// What the guard does with a request, given who is asking (`None`: nobody
/// signed in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// 303 to `/sign-in?next=…` for a page, 401 for the API.
    SignIn,
    /// 403.
    Forbidden,
}

impl Access {
    pub fn verdict(self, roles: Option<&[Role]>) -> Verdict {
        let need = match self {
            Access::Anonymous => return Verdict::Allow,
            Access::Page(need) | Access::Api(need) => need,
        };
        match roles {
            None => Verdict::SignIn,
            Some(roles) if need.allows(roles) => Verdict::Allow,
            Some(_) => Verdict::Forbidden,
        }
    }

    pub fn is_api(self) -> bool {
        matches!(self, Access::Api(_))
    }
}

pub struct Entry {
    pub method: Method,
    /// An actix path pattern, like `/surveys/{survey_id}`.
    pub path: &'static str,
    pub access: Access,
    /// Attaches the handler to a route of the entry's method.
    pub handler: fn(Route) -> Route,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {} ({:?})", self.method, self.path, self.access)
    }
}

macro_rules! entry {
    ($method:ident $path:literal, $access:expr, $handler:path) => {
        Entry { method: Method::$method, path: $path, access: $access, handler: |r| r.to($handler) }
    };
}

use Access::{Anonymous, Api, Page};
use Need::{AnyOf, SignedIn};

const LEAD: Need = Need::Role(Role::SurveyLead);
const ANALYST: Need = Need::Role(Role::Analyst);
const ADMIN: Need = Need::Role(Role::Admin);
const RESEARCHER: Need = Need::Role(Role::Researcher);
const DATA_PROTECTION: Need = Need::Role(Role::DataProtection);
const DATA_ENTRY: Need = Need::Role(Role::DataEntry);
const LEAD_OR_ANALYST: Need = AnyOf(&[Role::SurveyLead, Role::Analyst]);

pub static ROUTES: &[Entry] = &[
    // First, since paths are tried in order and this one takes nearly
    // every request: a question page, shown and answered.
    entry!(Get "/surveys/{survey_id}/q/{page_id}", Anonymous, respondent::show_page),
    entry!(Post "/surveys/{survey_id}/q/{page_id}", Anonymous, respondent::answer_page),
    // Service
    entry!(Get "/healthz", Anonymous, health::healthz),
    entry!(Get "/assets/{name}", Anonymous, assets::asset),
    // Respondents: anonymous, always
    entry!(Get "/", Anonymous, respondent::home),
    entry!(Get "/accessibility", Anonymous, respondent::accessibility),
    entry!(Get "/resume", Anonymous, respondent::resume_code_page),
    entry!(Post "/resume", Anonymous, respondent::resume_code),
    entry!(Get "/resume/{token}", Anonymous, respondent::resume_link),
    entry!(Get "/s", Anonymous, respondent::letter_code_page),
    entry!(Post "/s", Anonymous, respondent::letter_code),
    entry!(Get "/s/{token}", Anonymous, respondent::invited_start_page),
    entry!(Post "/s/{token}", Anonymous, respondent::invited_start),
    entry!(Get "/surveys/{survey_id}", Anonymous, respondent::start_page),
    entry!(Post "/surveys/{survey_id}/start", Anonymous, respondent::start),
    entry!(Get "/surveys/{survey_id}/privacy", Anonymous, respondent::privacy),
    entry!(Get "/surveys/{survey_id}/check", Anonymous, respondent::check_answers),
    entry!(Post "/surveys/{survey_id}/submit", Anonymous, respondent::submit),
    entry!(Get "/surveys/{survey_id}/done", Anonymous, respondent::confirmation),
    entry!(Get "/surveys/{survey_id}/save", Anonymous, respondent::save_page),
    entry!(Post "/surveys/{survey_id}/save", Anonymous, respondent::save),
    entry!(Get "/surveys/{survey_id}/delete", Anonymous, respondent::delete_page),
    entry!(Post "/surveys/{survey_id}/delete", Anonymous, respondent::delete),
    entry!(Get "/opt-out/{token}", Anonymous, opt_out::opt_out_page),
    entry!(Post "/opt-out/{token}", Anonymous, opt_out::opt_out),
    // Signing in and out, and one's own account
    entry!(Get "/sign-in", Anonymous, account::sign_in_page),
    entry!(Post "/sign-in", Anonymous, account::sign_in),
    entry!(Post "/sign-out", Page(SignedIn), account::sign_out),
    entry!(Get "/account", Page(SignedIn), account::home),
    entry!(Get "/account/password", Page(SignedIn), account::password_page),
    entry!(Post "/account/password", Page(SignedIn), account::change_password),
    // Survey leads
    entry!(Get "/lead", Page(LEAD), lead::home),
    entry!(Get "/lead/surveys/{survey_id}", Page(LEAD), lead::survey),
    entry!(Post "/lead/surveys/{survey_id}/versions/{version_id}/dates", Page(LEAD), lead::set_dates),
    entry!(Post "/lead/surveys/{survey_id}/versions/{version_id}/close", Page(LEAD), lead::close),
    entry!(Post "/lead/surveys/{survey_id}/versions/{version_id}/reopen", Page(LEAD), lead::reopen),
    entry!(Post "/lead/surveys/{survey_id}/versions/{version_id}/draft", Page(LEAD), lead::draft_from_version),
    entry!(Get "/lead/surveys/{survey_id}/samples/new", Page(LEAD), lead_samples::new_page),
    entry!(Get "/lead/surveys/{survey_id}/paper", Page(LEAD), lead::paper::questionnaire),
    entry!(Post "/lead/surveys/{survey_id}/samples", Page(LEAD), lead_samples::upload),
    entry!(Post "/lead/surveys/{survey_id}/invitations/send", Page(LEAD), lead_samples::send_invitations),
    entry!(Post "/lead/surveys/{survey_id}/reminders", Page(LEAD), lead_samples::send_reminders),
    entry!(Post "/lead/surveys/{survey_id}/uncertain/resend", Page(LEAD), lead_samples::resend_uncertain),
    entry!(Get "/lead/drafts/new", Page(LEAD), lead_drafts::new_page),
    entry!(Post "/lead/drafts", Page(LEAD), lead_drafts::create),
    entry!(Get "/lead/drafts/{draft_id}", Page(LEAD), lead_drafts::show),
    entry!(Post "/lead/drafts/{draft_id}", Page(LEAD), lead_drafts::save),
    entry!(Get "/lead/drafts/{draft_id}/problems", Page(LEAD), lead_drafts::problems),
    entry!(Post "/lead/drafts/{draft_id}/delete", Page(LEAD), lead_drafts::delete),
    entry!(Get "/lead/drafts/{draft_id}/publish", Page(LEAD), lead_drafts::review),
    entry!(Post "/lead/drafts/{draft_id}/publish", Page(LEAD), lead_drafts::publish),
    entry!(Get "/lead/drafts/{draft_id}/preview", Page(LEAD), preview::choose),
    entry!(Post "/lead/drafts/{draft_id}/preview/start", Page(LEAD), preview::start),
    entry!(Get "/lead/drafts/{draft_id}/preview/q/{page_id}", Page(LEAD), preview::show_page),
    entry!(Post "/lead/drafts/{draft_id}/preview/q/{page_id}", Page(LEAD), preview::answer_page),
    entry!(Get "/lead/drafts/{draft_id}/preview/check", Page(LEAD), preview::check_answers),
    entry!(Post "/lead/drafts/{draft_id}/preview/submit", Page(LEAD), preview::submit),
    // Analysts
    entry!(Get "/analyst", Page(ANALYST), areas::analyst_home),
    entry!(Get "/analyst/surveys/{survey_id}", Page(ANALYST), analyst::results),
    entry!(Get "/analyst/surveys/{survey_id}/questions", Page(ANALYST), analyst::questions),
    entry!(Get "/analyst/surveys/{survey_id}/download", Page(ANALYST), analyst::download),
    entry!(Get "/analyst/margins", Page(ANALYST), analyst_margins::list),
    entry!(Post "/analyst/margins", Page(ANALYST), analyst_margins::upload),
    entry!(Post "/analyst/margins/{id}/retire", Page(ANALYST), analyst_margins::retire),
    // Data protection: a response found and withdrawn by its reference
    // Data entry: returned paper questionnaires keyed by their serial.
    entry!(Get "/data-entry", Page(DATA_ENTRY), data_entry::home),
    entry!(Post "/data-entry/find", Page(DATA_ENTRY), data_entry::find),
    entry!(Get "/data-entry/forms/{invitee_id}", Page(DATA_ENTRY), data_entry::form),
    entry!(Post "/data-entry/forms/{invitee_id}", Page(DATA_ENTRY), data_entry::key),
    entry!(Get "/data-entry/forms/{invitee_id}/compare", Page(DATA_ENTRY), data_entry::compare),
    entry!(Get "/data-entry/opt-outs", Page(DATA_ENTRY), data_entry::opt_outs::page),
    entry!(Post "/data-entry/opt-outs/find", Page(DATA_ENTRY), data_entry::opt_outs::find),
    entry!(Post "/data-entry/opt-outs/{invitee_id}", Page(DATA_ENTRY), data_entry::opt_outs::record),
    entry!(Post "/data-entry/forms/{invitee_id}/compare", Page(DATA_ENTRY), data_entry::resolve),
    entry!(Get "/data-protection", Page(DATA_PROTECTION), data_protection::home),
    entry!(Post "/data-protection/withdraw", Page(DATA_PROTECTION), data_protection::withdraw),
    // Researchers: respondent-level microdata
    entry!(Get "/research", Page(RESEARCHER), research::home),
    entry!(Get "/research/surveys/{survey_id}/microdata", Page(RESEARCHER), research::microdata),
    // Admins
    entry!(Get "/admin", Page(ADMIN), admin::home),
    entry!(Get "/admin/users", Page(ADMIN), admin::users),
    entry!(Get "/admin/users/new", Page(ADMIN), admin::new_user_page),
    entry!(Post "/admin/users", Page(ADMIN), admin::create_user),
    entry!(Get "/admin/users/{id}", Page(ADMIN), admin::user),
    entry!(Post "/admin/users/{id}/roles", Page(ADMIN), admin::set_roles),
    entry!(Post "/admin/users/{id}/disable", Page(ADMIN), admin::disable),
    entry!(Post "/admin/users/{id}/enable", Page(ADMIN), admin::enable),
    entry!(Post "/admin/users/{id}/password", Page(ADMIN), admin::reset_password),
    entry!(Get "/admin/tokens", Page(ADMIN), admin::tokens),
    entry!(Post "/admin/tokens", Page(ADMIN), admin::issue_token),
    entry!(Post "/admin/tokens/{id}/revoke", Page(ADMIN), admin::revoke_token),
    entry!(Get "/admin/audit", Page(ADMIN), admin::audit),
    // The JSON API
    entry!(Get "/api/v1/me", Api(SignedIn), api::me),
    entry!(Get "/metrics", Api(ADMIN), super::metrics::scrape),
    entry!(Delete "/api/v1/tokens/{id}", Api(SignedIn), api::revoke_own_token),
    entry!(Get "/api/v1/surveys", Api(LEAD_OR_ANALYST), api::surveys),
    entry!(Get "/api/v1/admin/audit", Api(ADMIN), api::audit),
    entry!(Get "/api/v1/analyst/surveys/{survey_id}/results", Api(ANALYST), analyst::api_results),
    entry!(Get "/api/v1/openapi.json", Api(SignedIn), openapi::document),
];

/// The table grouped by path, in first-listed order: one actix resource
/// per path, so methods of one path share it (and others get 405).
pub fn by_path(table: &'static [Entry]) -> Vec<(&'static str, Vec<&'static Entry>)> {
    let mut grouped: Vec<(&'static str, Vec<&'static Entry>)> = Vec::new();
    for entry in table {
        match grouped.iter_mut().find(|(path, _)| *path == entry.path) {
            Some((_, entries)) => entries.push(entry),
            None => grouped.push((entry.path, vec![entry])),
        }
    }
    grouped
}

/// The areas and the access their paths must declare: a `/lead/...` page
/// open to anyone is a mistake this catches before the guard ever runs.
const AREAS: &[(&str, Access)] = &[
    ("/lead", Page(LEAD)),
    ("/analyst", Page(ANALYST)),
    ("/admin", Page(ADMIN)),
    ("/research", Page(RESEARCHER)),
    ("/data-protection", Page(DATA_PROTECTION)),
    ("/data-entry", Page(DATA_ENTRY)),
    ("/metrics", Api(ADMIN)),
    ("/api/v1/lead", Api(LEAD)),
    ("/api/v1/analyst", Api(ANALYST)),
    ("/api/v1/admin", Api(ADMIN)),
];

/// Machine endpoints outside `/api` that answer as the API does (a token,
/// no redirects): Prometheus scrapes `/metrics` by convention.
const MACHINE_PATHS: &[&str] = &["/metrics"];

fn in_area(path: &str, area: &str) -> bool {
    path == area || path.strip_prefix(area).is_some_and(|rest| rest.starts_with('/'))
}

/// Entries that break the table's rules: an area path with the wrong
/// access, an API path that is not `Api`, a page route that is, or the same
/// method and path twice. Empty when the table is sound.
pub fn problems(table: &[Entry]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, e) in table.iter().enumerate() {
        if let Some((area, access)) = AREAS.iter().filter(|(a, _)| in_area(e.path, a)).max_by_key(|(a, _)| a.len())
            && e.access != *access
        {
            problems.push(format!("{e:?}: paths under {area} must be {access:?}"));
        }
        let api_path = in_area(e.path, "/api") || MACHINE_PATHS.contains(&e.path);
        if api_path != e.access.is_api() {
            problems.push(format!("{e:?}: paths under /api (and /metrics), and only those, are Api routes"));
        }
        if table[..i].iter().any(|o| o.method == e.method && o.path == e.path) {
            problems.push(format!("{e:?}: listed twice"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_keeps_its_rules() {
        assert_eq!(problems(ROUTES), Vec::<String>::new());
    }

    #[test]
    fn a_misfiled_route_is_caught() {
        let bad = [
            entry!(Get "/lead/surveys", Anonymous, lead::home),
            entry!(Get "/admin/x", Page(LEAD), lead::home),
            entry!(Get "/api/v1/x", Page(SignedIn), lead::home),
            entry!(Get "/x", Api(SignedIn), lead::home),
        ];
        assert_eq!(problems(&bad).len(), 4, "{:?}", problems(&bad));
    }

    #[test]
    fn verdicts() {
        let lead = [Role::SurveyLead];
        assert_eq!(Anonymous.verdict(None), Verdict::Allow);
        assert_eq!(Page(LEAD).verdict(None), Verdict::SignIn);
        assert_eq!(Page(LEAD).verdict(Some(&lead)), Verdict::Allow);
        assert_eq!(Page(ADMIN).verdict(Some(&lead)), Verdict::Forbidden);
        assert_eq!(Api(LEAD_OR_ANALYST).verdict(Some(&[Role::Analyst])), Verdict::Allow);
        assert_eq!(Api(LEAD_OR_ANALYST).verdict(Some(&[Role::Admin])), Verdict::Forbidden);
        assert_eq!(Api(SignedIn).verdict(Some(&[])), Verdict::Allow);
    }
}

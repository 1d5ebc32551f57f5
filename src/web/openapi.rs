//! The OpenAPI 3.1 description of `/api/v1`, generated from the handlers'
//! own annotations (utoipa) and served at `/api/v1/openapi.json`. Unit tests
//! hold it to the route table: every `/api/v1` route is described, with the
//! roles its table entry demands and the problem-details errors the guard
//! and the handler can answer.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{Modify, OpenApi, ToSchema};

use super::api;
use super::middleware::guard::SESSION_COOKIE;

/// An error, as RFC 9457 problem details (`application/problem+json`):
/// every 4xx and 5xx under `/api/` has this shape.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // describes what `errors::problem` writes
pub struct Problem {
    /// Always `about:blank`: `title` is then the status's own phrase.
    #[schema(examples("about:blank"))]
    r#type: String,
    #[schema(examples("Forbidden"))]
    title: String,
    #[schema(minimum = 400, maximum = 599, examples(403))]
    status: u16,
    /// What happened and what to do, in plain words.
    detail: String,
    /// The problem for programs: `bad_request`, `not_found`, `csrf`,
    /// `forbidden`, `unauthorized`, `too_many_requests`, `internal`…
    #[schema(examples("forbidden"))]
    code: String,
}

/// `GET /api/v1/analyst/surveys/{survey_id}/results` as JSON: one entry
/// per release asked for, each with the published cells (disclosure
/// control applied) and the provenance an ICS board would ask for.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // describes what `results::outputs::write` writes
pub struct Results {
    releases: Vec<Release>,
}

/// One release of a survey's results.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Release {
    /// The release's month, `YYYY-MM`.
    #[schema(examples("2026-09"))]
    release: String,
    /// How the figures were made: data, weighting, disclosure, software.
    provenance: BTreeMap<String, serde_json::Value>,
    /// The headline figures, or null when England has too few respondents.
    headline: serde_json::Value,
    /// Per sample (invitation, open link, pooled): respondents, funnel,
    /// and how the weighting went.
    samples: Vec<serde_json::Value>,
    /// What disclosure control hid and why, and the information lost.
    disclosure: serde_json::Value,
    peers: serde_json::Value,
    /// Notes a reader needs for some dimensions (mode is not adjusted).
    dimension_notes: BTreeMap<String, String>,
    /// The published cells: one per sample × group × measure × area ×
    /// dimension × category, suppressed values null with the reason.
    cells: Vec<BTreeMap<String, serde_json::Value>>,
}

/// `format` of the results.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // a schema only: the handler reads the text
pub enum ResultsFormat {
    Json,
    Csv,
    Xlsx,
}

/// `sample` of the results: one sample's cells, or every sample's (`all`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum SampleChoice {
    Invitation,
    OpenLink,
    Pooled,
    All,
}

/// `trim`: cap weights at this multiple of the mean, or do not (`off`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum TrimChoice {
    #[schema(rename = "off")]
    Off,
    #[schema(rename = "none")]
    No,
    #[schema(rename = "2")]
    Two,
    #[schema(rename = "3")]
    Three,
    #[schema(rename = "4")]
    Four,
    #[schema(rename = "5")]
    Five,
    #[schema(rename = "6")]
    Six,
    #[schema(rename = "7")]
    Seven,
    #[schema(rename = "8")]
    Eight,
    #[schema(rename = "9")]
    Nine,
    #[schema(rename = "10")]
    Ten,
}

/// The security schemes: a personal API token as a bearer token, or the
/// staff session cookie (which also needs `X-CSRF-Token` on calls that
/// change something; `GET /api/v1/me` gives the token). An operation's
/// listed roles are alternatives: any one of them suffices.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A personal API token, issued on the admin pages or with `joinedup user token`. \
                         Acts with its owner's roles.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "A signed-in staff session. Calls that change something also need the \
                 `X-CSRF-Token` header that `GET /api/v1/me` gives.",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "joinedup API",
        version = "1",
        description = "Read-only access to released survey versions and weighted results, \
            and token housekeeping, for scripts. Every error is RFC 9457 problem details."
    ),
    paths(
        api::me,
        api::surveys,
        api::revoke_own_token,
        api::audit,
        super::analyst::results::api_results,
        document,
    ),
    components(schemas(Problem, Results, Release, ResultsFormat, SampleChoice, TrimChoice)),
    modifiers(&Security),
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    security(("api_token" = []), ("session" = [])),
    responses(
        (status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object),
        (status = 401, description = "No valid token or session", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn document(state: actix_web::web::Data<crate::web::AppState>) -> HttpResponse {
    let mut doc = ApiDoc::openapi();
    // A real survey id as the example, so a reader (or a fuzzer) can try
    // the results call on this installation.
    let surveys = super::analyst::home::survey_versions(&state);
    if let Some(survey) = surveys.first() {
        let example = serde_json::Value::String(survey.survey_id.clone());
        for item in doc.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post, &mut item.delete].into_iter().flatten() {
                for p in op.parameters.iter_mut().flatten().filter(|p| p.name == "survey_id") {
                    let schema = ObjectBuilder::new().schema_type(Type::String).examples([example.clone()]).build();
                    p.schema = Some(RefOr::T(Schema::Object(schema)));
                }
            }
        }
    }
    HttpResponse::Ok().json(doc)
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::Required;

    use super::*;
    use crate::web::routes::{Access, Method, Need, ROUTES};

    fn operation<'a>(
        doc: &'a utoipa::openapi::OpenApi,
        method: Method,
        path: &str,
    ) -> Option<&'a utoipa::openapi::path::Operation> {
        let item = doc.paths.paths.get(path)?;
        match method {
            Method::Get => item.get.as_ref(),
            Method::Post => item.post.as_ref(),
            Method::Delete => item.delete.as_ref(),
        }
    }

    fn roles(need: Need) -> Vec<String> {
        match need {
            Need::SignedIn => Vec::new(),
            Need::Role(r) => vec![r.as_str().to_string()],
            Need::AnyOf(rs) => rs.iter().map(|r| r.as_str().to_string()).collect(),
        }
    }

    fn api_routes() -> impl Iterator<Item = &'static crate::web::routes::Entry> {
        ROUTES.iter().filter(|e| e.path.starts_with("/api/v1/"))
    }

    #[test]
    fn every_api_route_is_described_with_its_roles_and_errors() {
        let doc = ApiDoc::openapi();
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        for entry in api_routes() {
            let Access::Api(need) = entry.access else { panic!("{entry:?} is not an Api route") };
            let op = operation(&doc, entry.method, entry.path)
                .unwrap_or_else(|| panic!("{:?} {} is not in openapi.json", entry.method, entry.path));
            // Who may call it: both schemes, each with the table's roles.
            let security = serde_json::to_value(op.security.as_ref().expect("security")).unwrap();
            let expected = serde_json::json!([{ "api_token": roles(need) }, { "session": roles(need) }]);
            assert_eq!(security, expected, "{} {}", entry.method.http(), entry.path);
            // How a refusal looks: 401 always, 403 when a role is needed or
            // a session call needs a CSRF token; problem details every time.
            let mut errors = vec!["401"];
            if need != Need::SignedIn || entry.method.changes_state() {
                errors.push("403");
            }
            for status in errors {
                let response =
                    op.responses.responses.get(status).unwrap_or_else(|| {
                        panic!("{} {} does not describe its {status}", entry.method.http(), entry.path)
                    });
                let RefOr::T(response) = response else { panic!("inline responses") };
                let content = response.content.get("application/problem+json").unwrap_or_else(|| {
                    panic!("{} {}: {status} is not problem details", entry.method.http(), entry.path)
                });
                let schema = serde_json::to_value(content.schema.as_ref().unwrap()).unwrap();
                assert_eq!(schema["$ref"], "#/components/schemas/Problem", "{} {status}", entry.path);
            }
            // Every path parameter of the route is declared, and required.
            for name in entry.path.split('{').skip(1).filter_map(|s| s.split_once('}')).map(|(n, _)| n) {
                let declared = op.parameters.iter().flatten().find(|p| p.name == name);
                let declared = declared.unwrap_or_else(|| panic!("{}: `{name}` is not declared", entry.path));
                assert!(declared.required == Required::True, "{}: `{name}` must be required", entry.path);
            }
        }
    }

    #[test]
    fn the_document_describes_nothing_the_table_lacks() {
        let doc = ApiDoc::openapi();
        for (path, item) in &doc.paths.paths {
            for (method, present) in [
                (Method::Get, item.get.is_some()),
                (Method::Post, item.post.is_some()),
                (Method::Delete, item.delete.is_some()),
            ] {
                if present {
                    assert!(
                        api_routes().any(|e| e.path == path && e.method == method),
                        "{path} {method:?} is described but not routed"
                    );
                }
            }
            assert!(item.put.is_none() && item.patch.is_none(), "{path}: no PUT or PATCH routes exist");
        }
    }
}

//! `/metrics`: only an admin (API token, or signed in) reads it; requests are counted by
//! route template, never by raw path (which would hold tokens); a
//! respondent's pages and submission, the database pools, the outbox and
//! the release cache all show.

use crate::common;
use crate::common::harness::Services;
use common::accounts::{Browser, create_user, password_for};
use common::{TestApp, TestDb};
use joinedup::accounts::Role;
use joinedup::definitions::Voice;
use joinedup::journey::simulate::Persona;
use libtest_mimic::Trial;

/// An API token for a new account with `role`.
async fn token(app: &TestApp, admin: &Browser<'_>, email: &str, role: Role) -> String {
    let id = create_user(app, email, &password_for(email), &[role]).await;
    let issued =
        admin.submit("/admin/tokens", "/admin/tokens", &[("user", &id.to_string()), ("name", "scraper")]).await;
    let start = issued.body.find("joinedup_").expect("a token on the page");
    issued.body[start..start + "joinedup_".len() + 64].to_string()
}

async fn metrics_count_by_route_template_for_admin_tokens_only(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    create_user(&app, "admin@example.org", &password_for("admin"), &[Role::Admin]).await;
    let admin = Browser::signed_in(&app, "admin@example.org", &password_for("admin")).await;
    let scraper = token(&app, &admin, "scraper@example.org", Role::Admin).await;
    let analyst = token(&app, &admin, "analyst@example.org", Role::Analyst).await;

    let mut walker = common::Walker::new(&app, "format_example");
    let pages = walker.answer_all(&Persona::new(Voice::Patient), 5).await;
    walker.submit().await;
    // A link with a token in it (unknown, so 404, but routed as a link).
    let invited = "/s/XyZtokenThatMustNotAppear123";
    reqwest::get(app.url(invited)).await.unwrap();

    let client = reqwest::Client::new();
    let get = |bearer: Option<&str>| {
        let mut request = client.get(app.url("/metrics"));
        if let Some(t) = bearer {
            request = request.bearer_auth(t);
        }
        async move { request.send().await.unwrap() }
    };
    assert_eq!(get(None).await.status(), 401, "no token");
    assert_eq!(get(Some(&analyst)).await.status(), 403, "not an admin");
    assert_eq!(admin.get("/metrics").await.status, 200, "as every API route, an admin's session too");
    let reply = get(Some(&scraper)).await;
    assert_eq!(reply.status(), 200);
    assert!(reply.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = reply.text().await.unwrap();
    let value = |series: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let saved = value("joinedup_page_submits_total{outcome=\"saved\"}");
    assert!(saved >= 3.0, "{pages}: {saved}");
    assert_eq!(
        value(
            "joinedup_http_requests_total{route=\"/surveys/{survey_id}/q/{page_id}\",method=\"POST\",status=\"303\"}"
        ),
        saved
    );
    assert_eq!(value("joinedup_submissions_total"), 1.0);
    assert!(
        value("joinedup_http_request_duration_seconds_count{route=\"/surveys/{survey_id}/submit\",method=\"POST\"}")
            >= 1.0
    );
    assert!(value("joinedup_db_pool_connections_max{pool=\"read\"}") >= 1.0);
    assert!(value("joinedup_db_pool_wait_seconds_count") >= 1.0);
    assert!(text.contains("joinedup_report_cache_hits_total"), "{text}");
    // The invitation link was counted under its template, its token nowhere.
    let token_part = invited.trim_start_matches("/s/");
    assert!(text.contains("route=\"/s/{token}\""), "{text}");
    assert!(!text.contains(token_part), "a token reached the metrics");
    assert!(!text.contains("route=\"/surveys/format_example"), "a raw path is a label: {text}");
}

pub fn trials(services: &Services) -> Vec<Trial> {
    on_each_backend_async![services; metrics_count_by_route_template_for_admin_tokens_only]
}

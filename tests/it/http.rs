//! The real app, started on a random port, answering over real HTTP.

use crate::common;
use crate::common::harness::Services;
use common::{TestApp, TestDb};
use libtest_mimic::Trial;

async fn healthz_names_backend_migration_and_surveys(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let backend = match db.url.backend() {
        joinedup::storage::Backend::Sqlite => "sqlite",
        joinedup::storage::Backend::Postgres => "postgres",
    };
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], backend);
    assert!(body["migration"].as_str().is_some_and(|m| m.starts_with("2026")), "{body}");
    let files = joinedup::definitions::definition_files(&common::project_path("survey-definitions")).unwrap();
    assert_eq!(body["surveys"], files.len(), "{body}");

    // While `serve --demo` loads its responses, pages answer but the
    // health check says `loading`, so whatever waits for 200 waits.
    app.state.loading.store(true, std::sync::atomic::Ordering::Release);
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "loading", "{body}");
    assert_eq!(app.client.get(app.url("/")).send().await.unwrap().status(), 200);
    app.state.loading.store(false, std::sync::atomic::Ordering::Release);
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

/// HEAD answers as GET does, without a body, under the same access rule.
async fn head_is_a_get_without_its_body(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let home = client.head(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(home.text().await.unwrap().is_empty());
    let staff = client.head(app.url("/analyst")).send().await.unwrap();
    assert_eq!(staff.status(), 303, "a staff page still asks for a sign-in");
    let posted_only = client.head(app.url("/sign-out")).send().await.unwrap();
    assert_ne!(posted_only.status(), 200, "HEAD is only where GET is");
}

/// The open-link start limit is counted in the database: two instances
/// together allow what one does, even when the starts arrive at once.
async fn the_start_limit_holds_across_instances(db: TestDb) {
    let mut settings = common::settings(&db, &common::project_path("survey-definitions"));
    settings.start_rate = 3;
    let one = TestApp::spawn_with(settings.clone()).await;
    let two = TestApp::spawn_with(settings).await;
    let walkers: Vec<common::Walker> =
        (0..8).map(|i| common::Walker::new(if i % 2 == 0 { &one } else { &two }, "integration_index")).collect();
    let pages = futures::future::join_all(walkers.iter().map(|w| w.get("/surveys/integration_index"))).await;
    let starts = walkers.iter().zip(&pages).map(|(w, page)| async move {
        w.post("/surveys/integration_index/start", &common::Walker::pairs(&page.csrf(), &Default::default())).await.0
    });
    let mut statuses = futures::future::join_all(starts).await;
    statuses.sort();
    assert_eq!(statuses, vec![303, 303, 303, 429, 429, 429, 429, 429]);
}

pub fn trials(services: &Services) -> Vec<Trial> {
    on_each_backend_async!(
        services;
        healthz_names_backend_migration_and_surveys,
        head_is_a_get_without_its_body,
        the_start_limit_holds_across_instances,
    )
}

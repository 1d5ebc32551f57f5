//! The real app, started on a random port, answering over real HTTP.

mod common;

use common::{TestApp, TestDb};

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
}

on_each_backend_async!(healthz_names_backend_migration_and_surveys);

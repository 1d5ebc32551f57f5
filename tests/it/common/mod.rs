//! Shared test helpers: the harness, a fresh database per test on each
//! backend, and the real app started on a random port.
#![allow(dead_code)]

#[macro_use]
pub mod harness;

pub mod accounts;
pub mod lead;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use diesel::{Connection, RunQueryDsl};
use joinedup::app::{self, AppState, SecretKey, Settings};
use joinedup::storage::{DatabaseUrl, Db};
use rand::Rng;

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub url: DatabaseUrl,
    /// Keeps the SQLite file's folder alive.
    _dir: Option<tempfile::TempDir>,
    /// For PostgreSQL: the server URL to drop the database through.
    admin: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::Sqlite(dir.path().join("test.sqlite3"));
        TestDb { url, _dir: Some(dir), admin: None }
    }

    /// A fresh database on the PostgreSQL server at `admin_url` (the
    /// harness checked `TEST_POSTGRES_URL` once, before any test).
    pub fn postgres(admin_url: &str) -> TestDb {
        let mut admin = diesel::PgConnection::establish(admin_url).expect("connect to TEST_POSTGRES_URL");
        let name = format!("joinedup_test_{:016x}", rand::rng().random::<u64>());
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create test database");
        let url = with_database(admin_url, &name);
        TestDb { url: DatabaseUrl::Postgres(url), _dir: None, admin: Some((admin_url.to_string(), name)) }
    }

    /// This PostgreSQL database as another server of the same cluster
    /// holds it (a streaming replica at `server_url`).
    pub fn on_server(&self, server_url: &str) -> DatabaseUrl {
        let (_, name) = self.admin.as_ref().expect("a PostgreSQL test database");
        DatabaseUrl::Postgres(with_database(server_url, name))
    }

    pub fn connect(&self) -> Db {
        Db::connect(&self.url).expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.admin
            && let Ok(mut admin) = diesel::PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

pub fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// proptest's settings for a property with `cases` cases. A failing case is
/// saved beside the test's file (`tests/it/<module>.proptest-regressions`)
/// and tried first on every later run.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence};
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..Config::default()
    }
}

/// A postal sample for `joinedup invite`: one person by email, two by
/// letter (one address with a comma, one over two lines).
pub const POSTAL_SAMPLE: &str = "ics,email,address,postcode,channel,voice,language\n\
     E54000008,ann@example.org,,,,patient,en\n\
     E54000008,,\"1 High Street, Leeds\",ls14ap,,carer_self,pl\n\
     E54000008,bob@example.org,\"2 Low Road\nYork\",YO1 7HH,letter,,\n";

pub fn settings(db: &TestDb, definitions: &Path) -> Settings {
    Settings {
        database: db.url.clone(),
        database_read: None,
        bind: "127.0.0.1:0".into(),
        definitions: definitions.to_path_buf(),
        base_url: "http://127.0.0.1".into(),
        hsts: true,
        metrics: true,
        secret_key: Some(SecretKey::new("test-secret-key-that-is-long-enough-0123456789".into()).unwrap()),
        in_progress_days: 30,
        suppress_below: 30,
        start_rate: 10_000,
        accounts: Default::default(),
        invitations: Default::default(),
        controller: joinedup::app::Controller {
            name: Some("Test Integrated Care Board".into()),
            contact: Some("surveys@test-icb.example".into()),
            dpo_contact: Some("dpo@test-icb.example".into()),
        },
    }
}

/// The real app on a random port, with its state for direct checks.
pub struct TestApp {
    pub address: String,
    pub state: Arc<AppState>,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> TestApp {
        Self::spawn_with(settings(db, &project_path("survey-definitions"))).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        Self::serve(app::prepare(&settings, true).await.expect("start-up"))
    }

    /// The app with email set up but kept in memory (`sent_mail`): what is
    /// sent, and to whom, checked in-process without an SMTP server.
    pub async fn spawn_with_memory_mail(settings: Settings) -> TestApp {
        let state = app::prepare(&settings, true).await.expect("start-up");
        let mut state = Arc::try_unwrap(state).unwrap_or_else(|_| panic!("the state is shared before the server runs"));
        let templates = joinedup::invitations::email::Templates::new().expect("email templates");
        let mailer = joinedup::invitations::send::Mailer::in_memory(
            &settings.invitations,
            &settings.base_url,
            state.secret.expose(),
            Arc::new(templates),
        )
        .expect("an in-memory mailer");
        state.mailer = Some(Arc::new(mailer));
        Self::serve(Arc::new(state))
    }

    fn serve(state: Arc<AppState>) -> TestApp {
        let listener = app::listen("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let server = app::run(listener, state.clone()).expect("server");
        tokio::spawn(server);
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
        TestApp { address: format!("http://127.0.0.1:{port}"), state, client }
    }

    /// Every message the in-memory mailer was given, as the SMTP tests see
    /// them (recipient and raw text).
    pub async fn sent_mail(&self) -> Vec<smtp::Mail> {
        let Some(mailer) = &self.state.mailer else { return Vec::new() };
        let mut out = Vec::new();
        for (envelope, raw) in mailer.transport.sent().await {
            for to in envelope.to() {
                out.push(smtp::Mail { to: to.to_string(), raw: raw.clone().into_bytes() });
            }
        }
        out
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }
}

/// A browser-like respondent over real HTTP: keeps cookies, reads the CSRF
/// token from each form, and answers pages with the simulator.
pub struct Walker<'a> {
    pub app: &'a TestApp,
    pub client: reqwest::Client,
    pub survey_id: String,
    /// Every field posted, by page, to compare with what was stored.
    pub posted: Vec<(String, joinedup::journey::Fields)>,
    pub pages_seen: Vec<String>,
}

pub struct Page {
    pub status: u16,
    pub url: String,
    pub body: String,
}

impl Page {
    /// The value of a hidden input named `name`, if the page has one.
    pub fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("type=\"hidden\" name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        Some(self.body[start..].chars().take_while(|c| *c != '"').collect())
    }

    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start =
            self.body.find(marker).unwrap_or_else(|| panic!("no form on {}:\n{}", self.url, self.body)) + marker.len();
        self.body[start..start + 64].to_string()
    }
}

impl<'a> Walker<'a> {
    pub fn new(app: &'a TestApp, survey_id: &str) -> Self {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
        Walker { app, client, survey_id: survey_id.to_string(), posted: Vec::new(), pages_seen: Vec::new() }
    }

    pub async fn get(&self, path: &str) -> Page {
        let url = if path.starts_with("http") { path.to_string() } else { self.app.url(path) };
        let r = self.client.get(&url).send().await.unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        if status == 303 {
            return Box::pin(self.get(&location.unwrap())).await;
        }
        Page { status, url, body: r.text().await.unwrap() }
    }

    /// Posts a form; returns the status and the redirect target if any.
    pub async fn post(&self, path: &str, fields: &[(String, String)]) -> (u16, Option<String>, String) {
        let r = self.client.post(self.app.url(path)).form(fields).send().await.unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        (status, location, r.text().await.unwrap())
    }

    pub fn pairs(csrf: &str, fields: &joinedup::journey::Fields) -> Vec<(String, String)> {
        let mut pairs = vec![("csrf_token".to_string(), csrf.to_string())];
        for (name, values) in fields {
            for v in values {
                pairs.push((name.clone(), v.clone()));
            }
        }
        pairs
    }

    /// Starts the survey and answers every page as `persona` until the
    /// check-answers page; returns that page's path.
    pub async fn answer_all(&mut self, persona: &joinedup::journey::simulate::Persona, seed: u64) -> String {
        let start = self.get(&format!("/surveys/{}", self.survey_id)).await;
        assert_eq!(start.status, 200, "{}", start.body);
        let (status, location, body) = self
            .post(&format!("/surveys/{}/start", self.survey_id), &Self::pairs(&start.csrf(), &Default::default()))
            .await;
        assert_eq!(status, 303, "{body}");
        self.answer_from(persona, seed, location.expect("a redirect")).await
    }

    /// Answers every page as `persona` from `location` until the
    /// check-answers page; returns that page's path (with its query).
    pub async fn answer_from(
        &mut self,
        persona: &joinedup::journey::simulate::Persona,
        seed: u64,
        location: String,
    ) -> String {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut location = Some(location);
        let definition = self.definition();
        let ics: Vec<String> = joinedup::reference::icss().unwrap().into_iter().map(|i| i.ons_code).collect();
        let today = chrono::Utc::now().date_naive();
        loop {
            let path = location.take().expect("a redirect");
            let bare = path.split('?').next().unwrap();
            if bare.ends_with("/check") {
                return path;
            }
            let page_id = bare.rsplit('/').next().unwrap().to_string();
            let page = self.get(&path).await;
            assert_eq!(page.status, 200, "{path}: {}", page.body);
            self.pages_seen.push(page_id.clone());
            let def_page = definition.page(&page_id).unwrap_or_else(|| panic!("unknown page {page_id}"));
            let mut fields = joinedup::journey::simulate::answer(persona, def_page, &ics, today, &mut rng);
            // What the page's form carries besides the answers.
            for hidden in ["return_to", "because", "cleared"] {
                if let Some(value) = page.hidden(hidden) {
                    fields.insert(hidden.to_string(), vec![value]);
                }
            }
            let (status, next, body) = self.post(bare, &Self::pairs(&page.csrf(), &fields)).await;
            assert_eq!(status, 303, "{path} with {fields:?}: {body}");
            self.posted.push((page_id, fields));
            location = next;
        }
    }

    pub fn definition(&self) -> joinedup::definitions::SurveyDefinition {
        self.app
            .state
            .surveys
            .current(&self.survey_id, chrono::Utc::now().date_naive())
            .expect("survey open")
            .definition
            .clone()
    }

    /// Submits from the check page; returns the confirmation page.
    pub async fn submit(&self) -> Page {
        let check = self.get(&format!("/surveys/{}/check", self.survey_id)).await;
        assert_eq!(check.status, 200, "{}", check.body);
        let (status, location, body) = self
            .post(&format!("/surveys/{}/submit", self.survey_id), &Self::pairs(&check.csrf(), &Default::default()))
            .await;
        assert_eq!(status, 303, "{body}");
        self.get(&location.unwrap()).await
    }
}

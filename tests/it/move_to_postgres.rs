//! `joinedup move`: a SQLite installation copied whole into PostgreSQL.
//! The demo, with rows in every table the app has, moves, and an app on
//! either database serves the same results; the test counts every table
//! on both sides itself rather than trusting the move's report. A target
//! with rows, a source that is not a current SQLite installation, and a
//! copy that comes out different are refused, and leave the target as it
//! was.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use joinedup::accounts::Role;
use joinedup::audit::Actor;
use joinedup::index::release::Period;
use joinedup::storage::{self, DatabaseUrl, StorageError};
use libtest_mimic::Trial;

use crate::common::accounts::{Browser, create_user, password_for};
use crate::common::harness::{Services, block_on};
use crate::common::{self, TestApp, TestDb};

/// The key `TestApp` runs with (`common::settings`).
const SECRET: &str = "test-secret-key-that-is-long-enough-0123456789";
const ANALYST: &str = "analyst@example.org";

/// Tables the installation built here leaves empty, each with the reason.
/// Empty now: every table has a row. A table a new migration adds fails
/// the move test until it is given a row below or a line here.
const LEFT_EMPTY: &[(&str, &str)] = &[];

fn url_of(db: &TestDb) -> String {
    match &db.url {
        DatabaseUrl::Sqlite(path) => path.display().to_string(),
        DatabaseUrl::Postgres(url) => url.clone(),
    }
}

fn joinedup(database: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_joinedup"))
        .args(args)
        .env("DATABASE_URL", database)
        .env("JOINEDUP_DEFINITIONS", common::project_path("survey-definitions"))
        .env("JOINEDUP_SECRET_KEY", SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run joinedup");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Every table of the schema, as SQLite lists them.
fn sqlite_tables(path: &Path) -> Vec<String> {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '__diesel_schema_migrations' ORDER BY name",
    )
    .load::<Name>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|n| n.name)
    .collect()
}

/// The rows in each of `tables`, counted by the database itself.
fn counts(url: &DatabaseUrl, tables: &[String]) -> BTreeMap<String, i64> {
    let count = |table: &String| diesel::sql_query(format!("SELECT COUNT(*) AS n FROM \"{table}\""));
    match url {
        DatabaseUrl::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
            tables.iter().map(|t| (t.clone(), count(t).get_result::<Count>(&mut conn).unwrap().n)).collect()
        }
        DatabaseUrl::Postgres(server) => {
            let mut conn = PgConnection::establish(server).unwrap();
            tables.iter().map(|t| (t.clone(), count(t).get_result::<Count>(&mut conn).unwrap().n)).collect()
        }
    }
}

/// The move's printed table: rows on each side and whether it agreed.
fn report(stdout: &str) -> BTreeMap<String, (i64, i64, bool)> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("table "))
        .skip(1)
        .take_while(|l| !l.starts_with("moved "))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[0].to_string(), (cells[1].parse().unwrap(), cells[2].parse().unwrap(), cells[4] == "yes"))
        })
        .collect()
}

/// A download without the moment it was computed.
fn without_computed_at(body: &str) -> String {
    if body.starts_with('{') {
        fn strip(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(map) => {
                    map.remove("computed_at");
                    map.values_mut().for_each(strip);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut json: serde_json::Value = serde_json::from_str(body).unwrap();
        strip(&mut json);
        return json.to_string();
    }
    body.lines().filter(|l| !l.starts_with("# computed at:")).collect::<Vec<_>>().join("\n")
}

/// The demo, and a row in each table the demo leaves empty, made by the
/// app's own code: an analyst signed in (and someone's failed sign-in), a
/// stored release, an API token, a draft, a retired margin upload, a rate
/// limit hit, a rescoring, a postal sample with letters printed, a first
/// keying and an opt-out. Returns the latest release's CSV.
async fn installation(db: &TestDb, dir: &Path) -> String {
    use joinedup::storage::drafts::{self, DraftText};
    use joinedup::storage::margins::{self, NewMarginSet};
    use joinedup::storage::{keying, letters, rate_limits, samples};

    let app = TestApp::spawn(db).await;
    let made =
        joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, app.state.clock.today(), 0.25).await.unwrap();
    assert!(made > 4000, "demo responses: {made}");
    let analyst = create_user(&app, ANALYST, &password_for("analyst"), &[Role::Analyst]).await;
    // Kept: a successful sign-in would clear a failure of the same address.
    Browser::new(&app).sign_in("someone@example.org", "a guess at a password").await;
    let browser = Browser::signed_in(&app, ANALYST, &password_for("analyst")).await;
    let latest = browser.get("/analyst/surveys/integration_index/download?format=csv").await;
    assert_eq!(latest.status, 200, "{}", latest.body);

    let versions = app.state.surveys.versions_of("integration_index");
    app.state
        .db
        .write(move |conn| {
            let at = storage::now();
            joinedup::accounts::tokens::issue(conn, &Actor::command_line(), None, analyst, "reports")
                .map_err(|e| StorageError::Conflict(e.to_string()))?;
            let draft = DraftText {
                source_text: "id: after_a_fall\n",
                source_name: "after-a-fall.yaml",
                survey_id: Some("after_a_fall"),
                version_label: None,
            };
            drafts::create(conn, &draft, Some(analyst), at)?;
            let hash = "0".repeat(64);
            let margins = NewMarginSet {
                population_group: "people",
                source: "a test upload",
                file_name: "margins.csv",
                content_hash: &hash,
                csv_text: "ics,dimension,category,population\n",
                dimensions: "ethnicity",
                uploaded_by: ANALYST,
                uploaded_at: at,
            };
            margins::insert(conn, &margins)?;
            let uploaded = margins::all(conn)?[0].id;
            margins::retire(conn, uploaded, at)?;
            rate_limits::reserve(conn, "start", "a keyed hash", 10, at - chrono::Duration::minutes(1), at)?;
            joinedup::results::rescore::rescore(conn, "integration_index", &versions)?;
            Ok(())
        })
        .await
        .unwrap();

    // A postal sample (one by email, two by letter), keyed twice over.
    let source = url_of(db);
    let sample = dir.join("sample.csv");
    std::fs::write(&sample, common::POSTAL_SAMPLE).unwrap();
    let invite = ["invite", "--survey", "format_example", "--no-send", "--double-entry", "--sample"];
    let (ok, stdout, stderr) = joinedup(&source, &[&invite[..], &[sample.to_str().unwrap()]].concat());
    assert!(ok && stdout.contains("imported 3 people"), "{stdout}{stderr}");
    let printed = dir.join("letters.csv");
    let (ok, stdout, stderr) =
        joinedup(&source, &["print", "letters", "--sample", "1", "--out", printed.to_str().unwrap()]);
    assert!(ok, "{stdout}{stderr}");
    app.state
        .db
        .write(move |conn| {
            let at = storage::now();
            let people = letters::sample_people(conn, 1)?;
            let postcode = |p: &str| people.iter().find(|a| a.postcode.as_deref() == Some(p)).unwrap();
            let carer = postcode("LS1 4AP");
            let pass = keying::Pass {
                pass: 1,
                keyed_by: analyst,
                voice: "carer_self".into(),
                answers: r#"{"told_once":"agree"}"#.into(),
                keyed_at: at,
            };
            keying::keep_pass(conn, (carer.invitee_id, carer.invitation_id), &pass)?;
            let bob = samples::by_id(conn, postcode("YO1 7HH").invitee_id)?.unwrap();
            samples::opt_out(conn, &bob, at)?;
            Ok(())
        })
        .await
        .unwrap();
    latest.body
}

/// The whole installation moves: every table of the schema is in the
/// report with the rows both databases count, none is left empty unless
/// listed, and an app on the moved database signs the same analyst in and
/// serves the same results, stored and computed afresh.
fn a_demo_installation_moves_whole_and_serves_the_same_results(server: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, pg) = (TestDb::sqlite(), TestDb::postgres(server));
    let mut latest = String::new();
    // The server stops (its runtime ends) before the move, as it must.
    block_on(async { latest = installation(&sqlite, dir.path()).await });

    let started = Instant::now();
    let (ok, stdout, stderr) = joinedup(&url_of(&sqlite), &["move", "--to", &url_of(&pg)]);
    assert!(ok, "{stdout}{stderr}");
    eprintln!("moved the demo installation in {:.1} s:\n{stdout}", started.elapsed().as_secs_f64());
    assert!(stderr.contains("copied answers: "), "progress goes to stderr: {stderr}");

    let DatabaseUrl::Sqlite(path) = &sqlite.url else { unreachable!() };
    let tables = sqlite_tables(path);
    assert!(tables.len() >= 24, "{tables:?}");
    let printed = report(&stdout);
    let (in_sqlite, in_pg) = (counts(&sqlite.url, &tables), counts(&pg.url, &tables));
    for table in &tables {
        let &(source, target, ok) =
            printed.get(table).unwrap_or_else(|| panic!("{table} is not in the move's report:\n{stdout}"));
        assert_eq!(in_sqlite[table], in_pg[table], "{table}: rows in SQLite and in PostgreSQL");
        assert_eq!((source, target, ok), (in_sqlite[table], in_pg[table], true), "{table} as reported");
    }
    assert_eq!(printed.len(), tables.len(), "the report names no other table: {stdout}");
    let empty: Vec<&str> = tables.iter().filter(|t| in_sqlite[*t] == 0).map(String::as_str).collect();
    let listed: Vec<&str> = LEFT_EMPTY.iter().map(|(t, _)| *t).collect();
    assert_eq!(empty, listed, "give each empty table a row in `installation`, or say why in LEFT_EMPTY");

    block_on(async {
        let (on_sqlite, on_pg) = (TestApp::spawn(&sqlite).await, TestApp::spawn(&pg).await);
        assert_eq!(on_pg.state.db.backend(), storage::Backend::Postgres);
        // Signing in writes a session and an audit entry: ids the copied
        // ones must not have taken (the sequences were moved on).
        let password = password_for("analyst");
        let (before, after) = (
            Browser::signed_in(&on_sqlite, ANALYST, &password).await,
            Browser::signed_in(&on_pg, ANALYST, &password).await,
        );
        let page = after.get("/analyst/surveys/integration_index").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.body.matches("<th scope=\"row\">").count(), 43, "England and 42 ICS rows");
        // The release stored before the move, as it was.
        let stored = after.get("/analyst/surveys/integration_index/download?format=csv").await;
        assert_eq!(stored.body, latest, "the stored release moved unchanged");
        // A release neither side has stored: each computes it from its rows.
        let earlier = Period::latest_closed(joinedup::clock::Clock::system().today()).previous();
        for format in ["csv", "json"] {
            let path = format!("/analyst/surveys/integration_index/download?format={format}&release={earlier}");
            let (a, b) = (before.get(&path).await, after.get(&path).await);
            assert_eq!((a.status, b.status), (200, 200), "{path}: {}", b.body);
            assert!(a.body.len() > 10_000, "{path}: {}", a.body);
            assert_eq!(without_computed_at(&a.body), without_computed_at(&b.body), "{path}");
        }
    });
}

/// The migrated, empty database of `url` with one audit entry in it.
fn occupied(url: &DatabaseUrl) {
    use joinedup::audit::{Action, Event};
    let db = storage::Db::connect(url).unwrap();
    let mut conn = db.get_writer().unwrap();
    storage::migrations::run_pending(&mut conn).unwrap();
    joinedup::audit::record(&mut conn, &Actor::command_line(), &Event::new(Action::SampleImported), None).unwrap();
}

/// A PostgreSQL database with a row is refused, the table named, and not
/// changed.
fn a_target_with_rows_is_refused_and_left_as_it_was(server: &str) {
    let (sqlite, pg) = (TestDb::sqlite(), TestDb::postgres(server));
    block_on(async {
        TestApp::spawn(&sqlite).await;
    });
    occupied(&pg.url);
    let DatabaseUrl::Sqlite(path) = &sqlite.url else { unreachable!() };
    let tables = sqlite_tables(path);
    let before = counts(&pg.url, &tables);
    assert_eq!(before["audit_log"], 1);
    let (ok, stdout, stderr) = joinedup(&url_of(&sqlite), &["move", "--to", &url_of(&pg)]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("not empty: audit_log already hold"), "{stderr}");
    assert_eq!(counts(&pg.url, &tables), before, "the target is as it was");
}

/// A copy that does not come out as the source (here a trigger on the
/// target changes a value) is named, and nothing of it is committed.
fn a_copy_that_differs_is_named_and_rolled_back(server: &str) {
    let (sqlite, pg) = (TestDb::sqlite(), TestDb::postgres(server));
    block_on(async {
        TestApp::spawn(&sqlite).await;
    });
    let (ok, _, stderr) = joinedup(&url_of(&pg), &["migrate"]);
    assert!(ok, "{stderr}");
    let mut conn = PgConnection::establish(&url_of(&pg)).unwrap();
    diesel::sql_query(
        "CREATE FUNCTION rename_ics() RETURNS trigger AS $$ BEGIN NEW.name := NEW.name || '!'; RETURN NEW; END $$ \
         LANGUAGE plpgsql",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("CREATE TRIGGER rename_ics BEFORE INSERT ON icss FOR EACH ROW EXECUTE FUNCTION rename_ics()")
        .execute(&mut conn)
        .unwrap();
    let (ok, stdout, stderr) = joinedup(&url_of(&sqlite), &["move", "--to", &url_of(&pg)]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("differs from the SQLite database in icss:"), "{stderr}");
    let row = stdout.lines().find(|l| l.starts_with("icss ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains(" NO (sqlite "), "{row}");
    let DatabaseUrl::Sqlite(path) = &sqlite.url else { unreachable!() };
    let tables = sqlite_tables(path);
    let copied: Vec<(String, i64)> = counts(&pg.url, &tables).into_iter().filter(|(_, n)| *n > 0).collect();
    assert!(copied.is_empty(), "rolled back: {copied:?}");
    assert!(counts(&sqlite.url, &tables)["icss"] >= 42, "the source had rows to copy");
}

/// Only a current SQLite installation is moved, and only into
/// PostgreSQL; a mistaken path is not made into a new SQLite file.
fn only_a_current_sqlite_installation_moves_into_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let to = "postgres://nobody@127.0.0.1:1/nothing";
    let (ok, _, stderr) = joinedup(to, &["move", "--to", to]);
    assert!(!ok && stderr.contains("copies a SQLite installation"), "{stderr}");
    let missing = dir.path().join("missing.sqlite3");
    let (ok, _, stderr) = joinedup(missing.to_str().unwrap(), &["move", "--to", to]);
    assert!(!ok && stderr.contains("does not exist"), "{stderr}");
    assert!(!missing.exists(), "no database was made");
    let file = dir.path().join("old.sqlite3");
    let (ok, _, stderr) = joinedup(file.to_str().unwrap(), &["migrate"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) =
        joinedup(file.to_str().unwrap(), &["move", "--to", dir.path().join("b.sqlite3").to_str().unwrap()]);
    assert!(!ok && stderr.contains("--to must be a postgres:// URL"), "{stderr}");
    let mut conn = SqliteConnection::establish(file.to_str().unwrap()).unwrap();
    diesel::sql_query(
        "DELETE FROM __diesel_schema_migrations WHERE version = (SELECT MAX(version) FROM __diesel_schema_migrations)",
    )
    .execute(&mut conn)
    .unwrap();
    let (ok, _, stderr) = joinedup(file.to_str().unwrap(), &["move", "--to", to]);
    assert!(!ok && stderr.contains("run `joinedup migrate` on it first"), "{stderr}");
}

pub fn trials(services: &Services) -> Vec<Trial> {
    let mut trials = plain_trials![only_a_current_sqlite_installation_moves_into_postgres];
    for (name, test) in [
        (
            "a_demo_installation_moves_whole_and_serves_the_same_results",
            a_demo_installation_moves_whole_and_serves_the_same_results as fn(&str),
        ),
        ("a_target_with_rows_is_refused_and_left_as_it_was", a_target_with_rows_is_refused_and_left_as_it_was),
        ("a_copy_that_differs_is_named_and_rolled_back", a_copy_that_differs_is_named_and_rolled_back),
    ] {
        trials.push(services.with_postgres(module_path!(), name, test));
    }
    trials
}

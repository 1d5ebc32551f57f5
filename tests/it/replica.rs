//! Analysts' reads on a PostgreSQL streaming replica
//! (`JOINEDUP_DATABASE_READ_URL`): a release is computed from the replica,
//! says how far behind it was, and includes a change once replication has
//! caught up; respondents keep working on the primary while the replica
//! stands still. Needs `scripts/pg-standby.sh start` (`.ci/run` runs it).

use std::time::{Duration, Instant};

use diesel::prelude::*;
use libtest_mimic::Trial;

use crate::common::accounts::{Browser, create_user, password_for};
use crate::common::harness::{Services, block_on, with_replica};
use crate::common::{TestApp, TestDb, settings};
use joinedup::accounts::Role;
use joinedup::index::release::Period;
use joinedup::results::reports::{self, ReleaseOptions, Report};
use joinedup::storage::{DatabaseUrl, Db};

const SURVEY: &str = "integration_index";

fn period() -> Period {
    Period::latest_closed(joinedup::clock::Clock::system().today())
}

/// The latest release computed (not stored) through `db`'s reads.
async fn computed(db: Db, app: &TestApp) -> Report {
    let surveys = app.state.surveys.clone();
    db.clone()
        .run_with_pool(move |db| reports::compute(db, &surveys, SURVEY, period(), ReleaseOptions::new(30)))
        .await
        .unwrap()
        .unwrap()
}

/// Waits until the replica has replayed everything the primary had
/// written when asked.
async fn caught_up(db: &Db) {
    let started = Instant::now();
    loop {
        let lag = db.replica_lag().unwrap().expect("the analysts' handle reads the replica");
        if lag.bytes == 0.0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the replica did not catch up: {lag:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pg(url: &DatabaseUrl) -> PgConnection {
    let DatabaseUrl::Postgres(url) = url else { panic!("PostgreSQL") };
    PgConnection::establish(url).expect("connect")
}

/// Replay paused on the replica until dropped, even if the test fails.
struct Paused(DatabaseUrl);

impl Paused {
    fn new(replica: &DatabaseUrl) -> Paused {
        diesel::sql_query("SELECT pg_wal_replay_pause()").execute(&mut pg(replica)).unwrap();
        Paused(replica.clone())
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        diesel::sql_query("SELECT pg_wal_replay_resume()").execute(&mut pg(&self.0)).ok();
    }
}

fn analysts_read_the_replica_and_respondents_the_primary(primary: String, replica: String) {
    block_on(async move {
        let db = TestDb::postgres(&primary);
        let replica_url = db.on_server(&replica);
        // The new database reaches the replica like any other write.
        let started = Instant::now();
        while PgConnection::establish(match &replica_url {
            DatabaseUrl::Postgres(u) => u,
            _ => unreachable!(),
        })
        .is_err()
        {
            assert!(started.elapsed() < Duration::from_secs(60), "the test database never reached the replica");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut with_replica = settings(&db, &crate::common::project_path("survey-definitions"));
        with_replica.database_read = Some(replica_url.clone());
        let app = TestApp::spawn_with(with_replica).await;
        joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, app.state.clock.today(), 0.1).await.unwrap();
        let analysts = app.state.db.for_analysts();
        caught_up(&analysts).await;

        // Caught up: the replica gives the primary's release, and says so.
        let on_primary = computed(app.state.db.clone(), &app).await;
        assert_eq!(on_primary.provenance.read_from, None, "the primary handle reads the primary");
        let on_replica = computed(analysts.clone(), &app).await;
        assert_eq!(on_replica.results.cells, on_primary.results.cells);
        let said = on_replica.provenance.read_from.clone().unwrap();
        assert!(said.contains("caught up with the primary (0 bytes behind)"), "{said}");

        // The replica stands still; 40 responses are withdrawn on the primary.
        let paused = Paused::new(&replica_url);
        let removed = diesel::sql_query(
            "DELETE FROM responses WHERE id IN \
             (SELECT id FROM responses WHERE status = 'submitted' ORDER BY id LIMIT 40)",
        )
        .execute(&mut pg(&db.url))
        .unwrap();
        assert_eq!(removed, 40);
        // Respondents do not need the replica: the start page and the
        // primary's reads answer as ever.
        let start = app.client.get(app.url(&format!("/surveys/{SURVEY}"))).send().await.unwrap();
        assert_eq!(start.status(), 200);
        let behind = computed(analysts.clone(), &app).await;
        assert_eq!(behind.results.cells, on_primary.results.cells, "read from the replica, before the withdrawal");
        let said = behind.provenance.read_from.clone().unwrap();
        assert!(said.contains("bytes (about") && said.contains("behind the primary"), "{said}");
        // Microdata must never show a withdrawn person: a replica still
        // behind after the wait hands its reads to the primary.
        let microdata_db = tokio::task::spawn_blocking({
            let analysts = analysts.clone();
            move || analysts.caught_up_or_primary().unwrap()
        })
        .await
        .unwrap();
        assert_eq!(microdata_db.replica_lag().unwrap(), None, "microdata reads the primary while the replica lags");
        let after = computed(app.state.db.clone(), &app).await;
        assert_ne!(after.results.cells, on_primary.results.cells, "the primary has the withdrawal");

        // Replication resumes and catches up: the release includes it.
        drop(paused);
        caught_up(&analysts).await;
        let now = computed(analysts.clone(), &app).await;
        assert_eq!(now.results.cells, after.results.cells);

        // The analyst's download goes the same way, and its provenance
        // names the replica.
        let email = "analyst@example.org";
        create_user(&app, email, &password_for("analyst"), &[Role::Analyst]).await;
        let browser = Browser::signed_in(&app, email, &password_for("analyst")).await;
        let csv = browser.get(&format!("/analyst/surveys/{SURVEY}/download?format=csv")).await;
        assert_eq!(csv.status, 200, "{}", csv.body);
        assert!(
            csv.body.contains("# read from: a streaming replica, caught up"),
            "{}",
            &csv.body[..2000.min(csv.body.len())]
        );
    });
}

pub fn trials(services: &Services) -> Vec<Trial> {
    vec![with_replica(
        services,
        module_path!(),
        "analysts_read_the_replica_and_respondents_the_primary",
        analysts_read_the_replica_and_respondents_the_primary,
    )]
}

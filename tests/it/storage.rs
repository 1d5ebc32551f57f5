//! The same storage suite on SQLite and PostgreSQL, each test in a fresh
//! database.

use std::path::PathBuf;

use crate::common;
use crate::common::harness::Services;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use common::TestDb;
use joinedup::definitions::{self, LoadedFile};
use joinedup::storage::responses::{self, Channel, NewResponse};
use joinedup::storage::{self, Db, DbConn, StorageError, icss, migrations, surveys};
use libtest_mimic::Trial;

fn migrated(db: &TestDb) -> Db {
    let db = db.connect();
    migrations::run_pending(&mut db.get().unwrap()).unwrap();
    db
}

fn example() -> LoadedFile {
    definitions::load_file(&common::project_path("survey-definitions/format-example.yaml")).unwrap()
}

fn published_example(conn: &mut DbConn) -> i64 {
    surveys::publish_files(conn, &[example()]).unwrap();
    surveys::find(conn, "format_example", "1.1").unwrap().unwrap().id
}

fn new_response(conn: &mut DbConn, version: i64) -> i64 {
    let at = storage::now();
    response_started(conn, version, at, at)
}

fn response_started(conn: &mut DbConn, version: i64, created_at: NaiveDateTime, updated_at: NaiveDateTime) -> i64 {
    responses::create(
        conn,
        &NewResponse {
            survey_version_id: version,
            channel: Channel::OpenLink,
            status: responses::ResponseStatus::InProgress,
            voice: Some("patient"),
            language: "en",
            ics_code: None,
            created_at,
            updated_at,
            invitation_id: None,
            reference: None,
            voice_preset: false,
            ics_preset: false,
            duplicate_of: None,
        },
    )
    .unwrap()
    .id
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(q, v)| (q.to_string(), v.to_string())).collect()
}

fn migrations_apply_once(db: TestDb) {
    let db = db.connect();
    let mut conn = db.get().unwrap();
    let embedded = migrations::pending_count(&mut conn).unwrap();
    assert!(embedded >= 2);
    let applied = migrations::run_pending(&mut conn).unwrap();
    assert_eq!(applied.len(), embedded);
    assert!(migrations::run_pending(&mut conn).unwrap().is_empty(), "a second run applies nothing");
    assert_eq!(migrations::current_version(&mut conn).unwrap(), applied.into_iter().max());
}

fn reference_icss_load_and_resolve_either_code(db: TestDb) {
    let db = migrated(&db);
    let mut conn = db.get().unwrap();
    let list = joinedup::reference::icss().unwrap();
    assert_eq!(icss::sync(&mut conn, &list).unwrap(), 42);
    assert_eq!(icss::sync(&mut conn, &list).unwrap(), 0, "syncing again writes nothing");
    let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    assert_eq!(icss::valid_on(&mut conn, today).unwrap().len(), 42);
    let by_ons = icss::find(&mut conn, "E54000008", today).unwrap().unwrap();
    let by_ods = icss::find(&mut conn, "qyg", today).unwrap().unwrap();
    assert_eq!(by_ons, by_ods);
    assert_eq!(by_ons.name, "Cheshire and Merseyside");
    let before = NaiveDate::from_ymd_opt(2022, 6, 30).unwrap();
    assert!(icss::find(&mut conn, "E54000008", before).unwrap().is_none(), "ICSs did not exist before July 2022");
    assert!(icss::find(&mut conn, "E99999999", today).unwrap().is_none());
}

fn secret_key_is_generated_once(db: TestDb) {
    let db = migrated(&db);
    let first = storage::app_settings::secret_key(&mut db.get().unwrap()).unwrap();
    let second = storage::app_settings::secret_key(&mut db.get().unwrap()).unwrap();
    assert_eq!(first, second);
    assert_eq!(first.len(), 128);
}

fn published_versions_never_change(db: TestDb) {
    let db = migrated(&db);
    let mut conn = db.get().unwrap();
    let file = example();
    let report = surveys::publish_files(&mut conn, std::slice::from_ref(&file)).unwrap();
    assert_eq!(report.published, vec!["format_example 1.1".to_string()]);
    let again = surveys::publish_files(&mut conn, std::slice::from_ref(&file)).unwrap();
    assert_eq!((again.published.len(), again.unchanged), (0, 1));

    let stored = surveys::find(&mut conn, "format_example", "1.1").unwrap().unwrap();
    assert_eq!(stored.status, joinedup::storage::surveys::VersionStatus::Published);
    assert_eq!(stored.source_text, file.source);
    assert_eq!(stored.content_hash, file.definition.content_hash);

    // The same version with different content stops start-up.
    let edited_source = file.source.replace("Format example survey", "Format example survey (edited)");
    let mut edited = file.clone();
    edited.definition = definitions::parse("edited.yaml", &edited_source).unwrap();
    edited.source = edited_source;
    let err = surveys::publish_files(&mut conn, std::slice::from_ref(&edited)).unwrap_err();
    assert!(matches!(err, StorageError::ChangedVersion { .. }), "{err}");
    assert!(err.to_string().contains("give the edited file a new `version`"), "{err}");

    // A new version label is published beside the old one.
    let bumped_source = edited.source.replacen("version: \"1.1\"", "version: \"1.2\"", 1);
    let mut bumped = edited.clone();
    bumped.definition = definitions::parse("bumped.yaml", &bumped_source).unwrap();
    bumped.source = bumped_source;
    let report = surveys::publish_files(&mut conn, &[bumped]).unwrap();
    assert_eq!(report.published, vec!["format_example 1.2".to_string()]);
    assert_eq!(surveys::released(&mut conn).unwrap().len(), 2);
}

fn pages_save_and_submit_exactly_once(db: TestDb) {
    let db = migrated(&db);
    let mut conn = db.get().unwrap();
    let version = published_example(&mut conn);
    let id = new_response(&mut conn, version);
    let at = storage::now();
    assert!(
        responses::save_page(&mut conn, id, &pairs(&[("voice", "self"), ("told_once", "agree")]), &[], at).unwrap()
    );
    // A changed answer overwrites; a hidden page's answer is removed.
    assert!(
        responses::save_page(&mut conn, id, &pairs(&[("told_once", "disagree")]), &["voice".to_string()], at).unwrap()
    );
    let answers: Vec<(String, String)> =
        responses::answers_of(&mut conn, id).unwrap().into_iter().map(|a| (a.question_id, a.value)).collect();
    assert_eq!(answers, pairs(&[("told_once", "disagree")]));

    assert!(responses::submit(&mut conn, id, None, at).unwrap(), "the first submit counts");
    assert!(!responses::submit(&mut conn, id, None, at).unwrap(), "a second submit changes nothing");
    assert!(!responses::save_page(&mut conn, id, &pairs(&[("told_once", "agree")]), &[], at).unwrap());
    let answers = responses::answers_of(&mut conn, id).unwrap();
    assert_eq!(answers[0].value, "disagree", "a submitted response can no longer change");
}

fn submitted_responses_scan_in_order(db: TestDb) {
    let db = migrated(&db);
    let mut conn = db.get().unwrap();
    let version = published_example(&mut conn);
    let at = storage::now();
    let mut submitted = Vec::new();
    for n in 0..5 {
        let id = new_response(&mut conn, version);
        let given = pairs(&[
            ("voice", "self"),
            ("told_once", if n % 2 == 0 { "agree" } else { "disagree" }),
            ("ics", "E54000008"),
        ]);
        responses::save_page(&mut conn, id, &given, &[], at).unwrap();
        if n != 2 {
            responses::submit(&mut conn, id, None, at).unwrap();
            submitted.push(id);
        }
    }
    let rows = responses::submitted_with_answers(&mut conn, version).unwrap();
    let ids: Vec<i64> = rows.iter().map(|(r, _)| r.id).collect();
    assert_eq!(ids, submitted, "only submitted responses, in id order");
    for (response, answers) in &rows {
        assert!(answers.iter().all(|a| a.response_id == response.id));
        let questions: Vec<&str> = answers.iter().map(|a| a.question_id.as_str()).collect();
        assert_eq!(questions, vec!["ics", "told_once", "voice"]);
    }
}

/// A page worked out from an older copy of the response (another tab,
/// another server process) is not saved over a newer one.
fn saves_name_the_revision_they_were_worked_out_from(db: TestDb) {
    let db = migrated(&db);
    let mut conn = db.get().unwrap();
    let version = published_example(&mut conn);
    let id = new_response(&mut conn, version);
    let at = storage::now();
    // A page that also sets the voice and ICS is still one revision.
    let save = |revision, value: &str| responses::PageSave {
        given: pairs(&[("told_once", value)]),
        voice: Some(Some("carer_self".to_string())),
        ics_code: Some(Some("E54000008".to_string())),
        revision: Some(revision),
        ..Default::default()
    };
    assert!(responses::apply_page(&mut conn, id, &save(0, "agree"), at).unwrap());
    assert!(!responses::apply_page(&mut conn, id, &save(0, "disagree"), at).unwrap(), "revision 0 is gone");
    assert_eq!(responses::by_id(&mut conn, id).unwrap().unwrap().revision, 1);
    assert_eq!(responses::answers_of(&mut conn, id).unwrap()[0].value, "agree");
    assert!(!responses::submit(&mut conn, id, Some(0), at).unwrap(), "nor is a submit from revision 0");
    // An update that does not bump the revision itself (an older server in
    // a rolling deploy, a hand-run fix) still counts.
    let update = diesel::sql_query(format!("UPDATE responses SET language = 'cy' WHERE id = {id}"));
    diesel::RunQueryDsl::execute(update, &mut **conn).unwrap();
    assert_eq!(responses::by_id(&mut conn, id).unwrap().unwrap().revision, 2);
    assert!(!responses::submit(&mut conn, id, Some(1), at).unwrap());
    assert!(responses::submit(&mut conn, id, Some(2), at).unwrap());
    assert_eq!(responses::by_id(&mut conn, id).unwrap().unwrap().revision, 3);
}

/// In-progress responses untouched for the keeping period go, answers and
/// all; one started long ago but answered since stays, and so does every
/// submitted response.
fn stale_in_progress_responses_are_purged(db: TestDb) {
    let db = migrated(&db);
    let mut conn = db.get().unwrap();
    let version = published_example(&mut conn);
    let now = storage::now();
    let (long_ago, yesterday) = (now - Duration::days(40), now - Duration::days(1));
    let stale = response_started(&mut conn, version, long_ago, long_ago);
    let answered_since = response_started(&mut conn, version, long_ago, long_ago);
    let submitted = response_started(&mut conn, version, long_ago, long_ago);
    let fresh = new_response(&mut conn, version);
    for id in [stale, answered_since, submitted] {
        assert!(responses::save_page(&mut conn, id, &pairs(&[("told_once", "agree")]), &[], long_ago).unwrap());
    }
    assert!(responses::save_page(&mut conn, answered_since, &pairs(&[("voice", "self")]), &[], yesterday).unwrap());
    assert!(responses::submit(&mut conn, submitted, None, long_ago).unwrap());

    assert_eq!(responses::purge_in_progress(&mut conn, now - Duration::days(30)).unwrap(), 1);
    assert!(responses::by_id(&mut conn, stale).unwrap().is_none());
    assert!(responses::answers_of(&mut conn, stale).unwrap().is_empty(), "its answers go with it");
    for kept in [answered_since, submitted, fresh] {
        assert!(responses::by_id(&mut conn, kept).unwrap().is_some(), "response {kept} is kept");
    }
    assert_eq!(responses::answers_of(&mut conn, answered_since).unwrap().len(), 2);
    assert_eq!(responses::purge_in_progress(&mut conn, now - Duration::days(30)).unwrap(), 0);
}

fn concurrent_submits_count_once(db: TestDb) {
    let db = migrated(&db);
    let id = {
        let mut conn = db.get().unwrap();
        let version = published_example(&mut conn);
        new_response(&mut conn, version)
    };
    let winners: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                scope.spawn(move || {
                    responses::submit(&mut db.get().unwrap(), id, Some(0), storage::now()).unwrap() as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(winners, 1);
}

fn foreign_keys_are_enforced(db: TestDb) {
    let db = migrated(&db);
    let mut conn = db.get().unwrap();
    let err = responses::save_page(&mut conn, 987_654, &pairs(&[("q", "v")]), &[], storage::now());
    assert!(!err.unwrap(), "no response row, nothing saved");
    use diesel::RunQueryDsl;
    let orphan = diesel::sql_query(
        "INSERT INTO answers (response_id, question_id, value, answered_at) VALUES (987654, 'q', 'v', '2026-01-01 00:00:00')",
    )
    .execute(&mut **conn);
    assert!(orphan.is_err(), "an answer without a response is refused");
}

fn instances_start_together(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(common::project_path("survey-definitions/format-example.yaml"), dir.path().join("a.yaml")).unwrap();
    let settings = common::settings(&db, dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let (a, b) = tokio::join!(joinedup::app::prepare(&settings, true), joinedup::app::prepare(&settings, true));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.surveys.len(), 1);
        assert_eq!(b.surveys.len(), 1);
    });
}

fn start_up_refuses_an_edited_published_file(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("example.yaml");
    let source = std::fs::read_to_string(common::project_path("survey-definitions/format-example.yaml")).unwrap();
    std::fs::write(&path, &source).unwrap();
    let settings = common::settings(&db, dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        joinedup::app::prepare(&settings, true).await.unwrap();
        std::fs::write(&path, source.replace("minutes: 3", "minutes: 4")).unwrap();
        let err = joinedup::app::prepare(&settings, true).await.err().expect("start-up must refuse");
        let message = format!("{err:#}");
        assert!(message.contains("survey `format_example` version `1.1`"), "{message}");
        assert!(message.contains("new `version`"), "{message}");
    });
}

pub fn trials(services: &Services) -> Vec<Trial> {
    on_each_backend!(
        services;
        migrations_apply_once,
        reference_icss_load_and_resolve_either_code,
        secret_key_is_generated_once,
        published_versions_never_change,
        pages_save_and_submit_exactly_once,
        submitted_responses_scan_in_order,
        saves_name_the_revision_they_were_worked_out_from,
        stale_in_progress_responses_are_purged,
        concurrent_submits_count_once,
        foreign_keys_are_enforced,
        instances_start_together,
        start_up_refuses_an_edited_published_file,
    )
}

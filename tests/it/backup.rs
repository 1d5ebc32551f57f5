//! `joinedup backup` under write load, then `joinedup restore`: every
//! write acknowledged before the backup finished is in the restored copy,
//! and a restore refuses a file that is not a joinedup database.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use diesel::prelude::*;
use joinedup::audit::{Action, Actor, Event};
use joinedup::storage::{DatabaseUrl, Db, schema::audit_log};
use libtest_mimic::Trial;

/// Each write's label and when it was acknowledged.
type Acknowledged = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

fn joinedup(database: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_joinedup"))
        .args(args)
        .env("DATABASE_URL", database)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn a_backup_under_write_load_holds_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.sqlite3");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let db = Db::connect(&DatabaseUrl::Sqlite(live.clone())).unwrap();
    joinedup::storage::migrations::run_pending(&mut db.get_writer().unwrap()).unwrap();

    // Four writers record numbered audit entries, noting when each was
    // acknowledged, until told to stop.
    let acknowledged: Acknowledged = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (db, acknowledged, stop) = (db.clone(), acknowledged.clone(), stop.clone());
            runtime.spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let label = format!("write {w}-{n}");
                    let event = Event::new(Action::SampleImported).detail(label.clone());
                    let written =
                        db.write(move |conn| joinedup::audit::record(conn, &Actor::command_line(), &event, None)).await;
                    if written.is_ok() {
                        acknowledged.lock().unwrap().push((label, Utc::now()));
                    }
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let copy = dir.path().join("backup.sqlite3");
    let (ok, out) = joinedup(&live, &["backup", "--out", copy.to_str().unwrap()]);
    assert!(ok, "{out}");
    let finished: DateTime<Utc> =
        out.split("consistent as of ").nth(1).and_then(|t| t.lines().next()).unwrap().parse().unwrap();
    assert!(out.contains("integrity check passes"), "{out}");
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for w in writers {
            w.await.unwrap();
        }
    });
    // A backup never overwrites.
    let (ok, out) = joinedup(&live, &["backup", "--out", copy.to_str().unwrap()]);
    assert!(!ok && out.contains("exists already"), "{out}");

    // Restored in place of another database, the old one kept aside.
    let restored = dir.path().join("restored.sqlite3");
    std::fs::write(&restored, b"an older database").unwrap();
    let (ok, out) = joinedup(&restored, &["restore", "--from", copy.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("kept as"), "{out}");
    let kept: Vec<String> = {
        let check = Db::connect(&DatabaseUrl::Sqlite(restored.clone())).unwrap();
        let mut conn = check.get().unwrap();
        audit_log::table
            .select(audit_log::detail)
            .load::<Option<String>>(&mut **conn)
            .unwrap()
            .into_iter()
            .flatten()
            .collect()
    };
    let acknowledged = acknowledged.lock().unwrap();
    let before: Vec<&String> = acknowledged.iter().filter(|(_, at)| *at < finished).map(|(l, _)| l).collect();
    let after = acknowledged.len() - before.len();
    assert!(before.len() > 20 && after > 0, "writes went on before and after: {} and {after}", before.len());
    let missing: Vec<&&String> = before.iter().filter(|l| !kept.contains(l)).collect();
    assert!(missing.is_empty(), "acknowledged before the backup finished but not in it: {missing:?}");

    // Not a joinedup database: refused, nothing replaced.
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, b"not a database").unwrap();
    let (ok, out) = joinedup(&restored, &["restore", "--from", junk.to_str().unwrap()]);
    assert!(!ok, "{out}");
    let still = Db::connect(&DatabaseUrl::Sqlite(restored)).unwrap();
    let n: i64 = audit_log::table.count().get_result(&mut **still.get().unwrap()).unwrap();
    assert_eq!(n as usize, kept.len(), "the restored database is untouched");
}

pub fn trials() -> Vec<Trial> {
    plain_trials![a_backup_under_write_load_holds_every_acknowledged_write]
}

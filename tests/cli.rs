//! The `joinedup` binary: bad input gives one clear sentence and a non-zero
//! exit, never a panic.

mod common;

use std::process::{Command, Output};

fn joinedup(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_joinedup"));
    command.current_dir(dir.path()).args(args).env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    command.env("JOINEDUP_DEFINITIONS", common::project_path("survey-definitions"));
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_clean_failure(output: &Output, expected: &str) {
    let err = stderr(output);
    assert!(!output.status.success(), "should fail: {err}");
    assert!(err.contains(expected), "expected `{expected}` in:\n{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "no panic for the user:\n{err}");
}

#[test]
fn check_passes_the_shipped_surveys_with_a_summary_each() {
    let out = joinedup(&["check", common::project_path("survey-definitions").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let files = joinedup::definitions::definition_files(&common::project_path("survey-definitions")).unwrap();
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    assert!(stdout.contains("format_example 1.0: 14 pages"), "{stdout}");
}

#[test]
fn check_reports_located_errors_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    let source = std::fs::read_to_string(common::project_path("survey-definitions/format-example.yaml")).unwrap();
    std::fs::write(&path, source.replace("    show_if: voice == 'carer_self'", "    show_iff: voice == 'carer_self'"))
        .unwrap();
    let out = joinedup(&["check", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("typo.yaml:") && err.contains(": error: pages[break_from_caring]: unknown key `show_iff`"),
        "{err}"
    );
    assert!(err.contains("hint: did you mean `show_if`?"), "{err}");
}

#[test]
fn unknown_database_scheme_is_one_clear_sentence() {
    let out = joinedup(&["migrate"], &[("DATABASE_URL", "mysql://root@localhost/joinedup")]);
    assert_clean_failure(&out, "error: unknown database URL scheme `mysql://`");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn unreachable_database_is_one_clear_sentence() {
    let out = joinedup(&["migrate"], &[("DATABASE_URL", "postgres://postgres:secret@127.0.0.1:1/joinedup")]);
    assert_clean_failure(&out, "error: cannot connect to the database at postgres://postgres:***@127.0.0.1:1/joinedup");
    assert!(!stderr(&out).contains("secret"), "the password never shows");
}

#[test]
fn a_port_in_use_is_one_clear_sentence() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let out = joinedup(&["serve", "--bind", &bind], &[]);
    assert_clean_failure(&out, &format!("error: cannot listen on {bind}"));
}

#[test]
fn a_broken_definition_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "id: x\nversion: '1'\ntitle: X\npages: []\n").unwrap();
    let out = joinedup(&["serve", "--bind", "127.0.0.1:0"], &[("JOINEDUP_DEFINITIONS", dir.path().to_str().unwrap())]);
    assert_clean_failure(&out, "problem(s) in the survey definitions");
    assert!(stderr(&out).contains("bad.yaml:4:8: error: pages: the survey has no pages"), "{}", stderr(&out));
}

#[test]
fn a_short_secret_key_is_refused() {
    let out = joinedup(&["migrate"], &[("JOINEDUP_SECRET_KEY", "short")]);
    assert_clean_failure(&out, "JOINEDUP_SECRET_KEY must be at least 32 characters");
}

//! The `joinedup` binary: bad input gives one clear sentence and a non-zero
//! exit, never a panic.

use std::process::{Command, Output};

use crate::common;
use libtest_mimic::Trial;

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

fn check_passes_the_shipped_surveys_with_a_summary_each() {
    let out = joinedup(&["check", common::project_path("survey-definitions").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let files = joinedup::definitions::definition_files(&common::project_path("survey-definitions")).unwrap();
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
    assert!(stdout.contains("format_example 1.1: 14 pages"), "{stdout}");
}

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

fn unknown_database_scheme_is_one_clear_sentence() {
    let out = joinedup(&["migrate"], &[("DATABASE_URL", "mysql://root@localhost/joinedup")]);
    assert_clean_failure(&out, "error: unknown database URL scheme `mysql://`");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

fn unreachable_database_is_one_clear_sentence() {
    let out = joinedup(&["migrate"], &[("DATABASE_URL", "postgres://postgres:secret@127.0.0.1:1/joinedup")]);
    assert_clean_failure(&out, "error: cannot connect to the database at postgres://postgres:***@127.0.0.1:1/joinedup");
    assert!(!stderr(&out).contains("secret"), "the password never shows");
}

fn a_port_in_use_is_one_clear_sentence() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let out = joinedup(&["serve", "--bind", &bind], &[]);
    assert_clean_failure(&out, &format!("error: cannot listen on {bind}"));
}

fn a_broken_definition_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "id: x\nversion: '1'\ntitle: X\npages: []\n").unwrap();
    let out = joinedup(&["serve", "--bind", "127.0.0.1:0"], &[("JOINEDUP_DEFINITIONS", dir.path().to_str().unwrap())]);
    assert_clean_failure(&out, "problem(s) in the survey definitions");
    assert!(stderr(&out).contains("bad.yaml:4:8: error: pages: the survey has no pages"), "{}", stderr(&out));
}

fn a_short_secret_key_is_refused() {
    let out = joinedup(&["migrate"], &[("JOINEDUP_SECRET_KEY", "short")]);
    assert_clean_failure(&out, "JOINEDUP_SECRET_KEY must be at least 32 characters");
}

/// `joinedup doctor` on one database: migrations pending, then current;
/// what serving off loopback needs; email that does not answer.
fn doctor_names_what_is_wrong_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("doctor.sqlite3");
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_joinedup"));
        command.args(args).env("DATABASE_URL", &database).env("RUST_LOG", "warn");
        for var in ["JOINEDUP_SECRET_KEY", "JOINEDUP_SMTP_URL", "JOINEDUP_MAIL_FROM", "JOINEDUP_BIND"] {
            command.env_remove(var);
        }
        command.envs(envs.iter().copied());
        command.output().unwrap()
    };
    let out = run(&[], &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("ok    database") && text.contains("FAIL  migrations"), "{text}");
    assert!(text.contains("pending: run `joinedup migrate`"), "{text}");
    assert!(text.contains("warn  secret key") && text.contains("warn  email"), "{text}");
    assert!(text.contains("GB free beside"), "{text}");
    // Doctor changed nothing: the migrations are still pending.
    assert!(String::from_utf8_lossy(&run(&[], &["doctor"]).stdout).contains("FAIL  migrations"));

    assert!(run(&[], &["migrate"]).status.success());
    let out = run(&[], &["doctor"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let off_loopback = [("JOINEDUP_BIND", "0.0.0.0:8080")];
    let text = String::from_utf8_lossy(&run(&off_loopback, &["doctor"]).stdout).into_owned();
    assert!(text.contains("FAIL  secret key") && text.contains("FAIL  data controller"), "{text}");
    let unanswered =
        [("JOINEDUP_SMTP_URL", "smtp://127.0.0.1:9"), ("JOINEDUP_MAIL_FROM", "Survey team <surveys@example.org>")];
    let out = run(&unanswered, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success() && text.contains("FAIL  email") && text.contains("does not answer"), "{text}");
}

mod weight {
    use super::*;

    fn fixture(case: &str, file: &str) -> String {
        common::project_path(&format!("tests/fixtures/weighting/{case}/{file}")).display().to_string()
    }

    /// `joinedup weight` on a respondents and margins file, estimating the
    /// `score` column: its output, and the weights and estimates files.
    fn weight_with_estimates(
        dir: &std::path::Path,
        respondents: &str,
        margins: &str,
    ) -> (std::process::Output, std::path::PathBuf, std::path::PathBuf) {
        let (out, est) = (dir.join("w.csv"), dir.join("e.csv"));
        let output = joinedup(
            &[
                "weight",
                "--respondents",
                respondents,
                "--margins",
                margins,
                "--out",
                out.to_str().unwrap(),
                "--estimate",
                "score",
                "--estimates-out",
                est.to_str().unwrap(),
            ],
            &[],
        );
        (output, out, est)
    }

    fn weights_and_estimates_equal_r() {
        let dir = tempfile::tempdir().unwrap();
        let (output, out, est) = weight_with_estimates(
            dir.path(),
            &fixture("estimates", "respondents.csv"),
            &fixture("estimates", "margins.csv"),
        );
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(stderr(&output).contains("weighted 775 respondents"), "diagnostics: {}", stderr(&output));
        let reference: std::collections::BTreeMap<String, f64> =
            csv::Reader::from_path(fixture("estimates", "weights.csv"))
                .unwrap()
                .records()
                .map(|r| {
                    let r = r.unwrap();
                    (r[0].to_string(), r[4].parse().unwrap())
                })
                .collect();
        let mut rows = 0;
        for r in csv::Reader::from_path(&out).unwrap().records() {
            let r = r.unwrap();
            let ours: f64 = r[1].parse().unwrap();
            assert!((ours - reference[&r[0]]).abs() / reference[&r[0]] < 1e-8, "id {}", &r[0]);
            rows += 1;
        }
        assert_eq!(rows, reference.len());
        let estimates = std::fs::read_to_string(&est).unwrap();
        assert!(
            estimates.starts_with("ics,n,sum_w,n_eff,estimate,se,ci_low,ci_high,deff,n_eff_design\n"),
            "{estimates}"
        );
        let r_rows: Vec<csv::StringRecord> = csv::Reader::from_path(fixture("estimates", "estimates_ics.csv"))
            .unwrap()
            .records()
            .map(|r| r.unwrap())
            .filter(|r| &r[0] == "raked")
            .collect();
        for (line, r) in estimates.lines().skip(1).zip(&r_rows) {
            let ours: Vec<&str> = line.split(',').collect();
            assert_eq!(ours[0], &r[1]);
            let se: f64 = ours[5].parse().unwrap();
            let r_se: f64 = r[5].parse().unwrap();
            assert!((se - r_se).abs() / r_se < 1e-6, "{line} vs {r:?}");
        }
    }

    /// An ICS of one respondent no longer stops the run: its stratum is
    /// centred at the grand mean, as R's `lonely.psu = "adjust"`, and every
    /// row, `(all)` included, equals R (tests/fixtures/edges).
    fn a_one_respondent_ics_is_estimated_as_r_adjusts() {
        let edges = |file: &str| common::project_path(&format!("tests/fixtures/edges/{file}")).display().to_string();
        let dir = tempfile::tempdir().unwrap();
        let (output, _, est) = weight_with_estimates(dir.path(), &edges("respondents.csv"), &edges("margins.csv"));
        assert!(output.status.success(), "{}", stderr(&output));
        let reference: Vec<csv::StringRecord> = csv::Reader::from_path(edges("estimates.csv"))
            .unwrap()
            .records()
            .map(|r| r.unwrap())
            .filter(|r| &r[0] == "raked" && (&r[1] == "ics" || &r[1] == "all"))
            .collect();
        let ours: Vec<csv::StringRecord> =
            csv::Reader::from_path(&est).unwrap().records().map(|r| r.unwrap()).collect();
        assert_eq!(ours.len(), reference.len(), "one row per ICS and one for all");
        for r in &reference {
            let ics = if &r[1] == "all" { "(all)" } else { &r[2] };
            let row = ours.iter().find(|o| &o[0] == ics).unwrap_or_else(|| panic!("no row for {ics}"));
            for (col, r_col) in [(4, 6), (5, 7)] {
                let (a, b): (f64, f64) = (row[col].parse().unwrap(), r[r_col].parse().unwrap());
                assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-9), "{ics} column {col}: {a} vs {b}");
            }
            match r[8].parse::<f64>() {
                Ok(deff) if deff.is_finite() => {
                    let ours: f64 = row[8].parse().unwrap();
                    assert!((ours - deff).abs() < 1e-6 * deff, "{ics} deff {ours} vs {deff}");
                }
                _ => assert_eq!(&row[8], "", "{ics}: no design effect from one respondent"),
            }
        }
    }

    /// Each bad file: an error naming the row, and nothing written.
    fn bad_rows_are_named_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let margins = "ics,dimension,category,population\nA,sex,female,600\nA,sex,male,400\n";
        let cases = [
            (
                "id,ics,sex\n1,A,female\n2,A,male\n",
                "ics,dimension,category,population\nA,sex,female,-600\nA,sex,male,400\n",
                "margins.csv line 2: population `-600` must be a positive number",
            ),
            (
                "id,ics,sex\n1,A,female\n2,A,other\n",
                margins,
                "respondents.csv line 3: `sex` = `other` is not a category in the margins (known: female, male)",
            ),
            ("id,ics,sex\n1,A,female\n2,B,male\n", margins, "respondents.csv line 3: ICS `B` has no margins"),
            (
                "id,ics,sex,base_weight\n1,A,female,1.5\n2,A,male,heavy\n",
                margins,
                "respondents.csv line 3: base_weight `heavy` must be a positive number",
            ),
            ("id,ics,sex\n1,A,female\n1,A,male\n", margins, "respondents.csv line 3: id `1` is already used on line 2"),
            (
                "id,ics,sex\n1,A,female\n2,A,female\n",
                margins,
                "ICS A: `sex` = `male` has a population but no respondents",
            ),
        ];
        for (respondents, margins, expected) in cases {
            let (r, m, out) =
                (dir.path().join("respondents.csv"), dir.path().join("margins.csv"), dir.path().join("weights.csv"));
            std::fs::write(&r, respondents).unwrap();
            std::fs::write(&m, margins).unwrap();
            let _ = std::fs::remove_file(&out);
            let output = joinedup(
                &[
                    "weight",
                    "--respondents",
                    r.to_str().unwrap(),
                    "--margins",
                    m.to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                    "--min-respondents",
                    "1",
                ],
                &[],
            );
            assert_clean_failure(&output, expected);
            assert!(!out.exists(), "nothing is written after: {expected}");
            assert!(!stderr(&output).contains("NaN"));
        }
    }

    pub fn trials() -> Vec<Trial> {
        plain_trials![
            weights_and_estimates_equal_r,
            a_one_respondent_ics_is_estimated_as_r_adjusts,
            bad_rows_are_named_and_nothing_is_written,
        ]
    }
}

pub fn trials() -> Vec<Trial> {
    plain_trials![
        check_passes_the_shipped_surveys_with_a_summary_each,
        check_reports_located_errors_and_exits_1,
        unknown_database_scheme_is_one_clear_sentence,
        unreachable_database_is_one_clear_sentence,
        a_port_in_use_is_one_clear_sentence,
        a_broken_definition_stops_start_up,
        a_short_secret_key_is_refused,
        doctor_names_what_is_wrong_and_changes_nothing,
    ]
    .into_iter()
    .chain(weight::trials())
    .collect()
}

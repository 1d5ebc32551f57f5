//! `joinedup user ...` and `serve --demo` through the real binary: the
//! password comes from standard input, never the arguments.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use crate::common;
use libtest_mimic::Trial;

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        let cli = Cli { dir: tempfile::tempdir().unwrap() };
        let out = cli.run(&["migrate"], None);
        assert!(out.status.success(), "{}", stderr(&out));
        cli
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_joinedup"));
        command
            .current_dir(self.dir.path())
            .args(args)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "debug")
            .env("JOINEDUP_DEFINITIONS", common::project_path("survey-definitions"));
        command
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            // A command that fails before reading (a bad flag) closes the pipe first.
            let _ = input.write_all(text.as_bytes());
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn db(&self) -> joinedup::storage::Db {
        let url = joinedup::storage::DatabaseUrl::Sqlite(self.dir.path().join("joinedup.sqlite3"));
        joinedup::storage::Db::connect(&url).unwrap()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const PASSWORD: &str = "correct horse battery staple";

fn user_add_reads_the_password_from_stdin_and_list_shows_roles() {
    let cli = Cli::new();
    let out = cli.run(
        &["user", "add", "--email", "Ada@Example.org", "--role", "admin", "--role", "analyst"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("created ada@example.org with role(s) admin, analyst"), "{}", stdout(&out));
    for output in [stdout(&out), stderr(&out)] {
        assert!(!output.contains(PASSWORD), "the password is never printed or logged: {output}");
    }
    let user = joinedup::storage::accounts::by_email(&mut cli.db().get().unwrap(), "ada@example.org").unwrap().unwrap();
    assert!(joinedup::accounts::password::verify(PASSWORD, &user.password_hash));
    assert!(!user.password_hash.contains(PASSWORD));

    let list = cli.run(&["user", "list"], None);
    assert!(stdout(&list).contains("ada@example.org\tadmin,analyst\tactive"), "{}", stdout(&list));

    // Roles may also come comma-separated; the same email twice is refused.
    let out = cli.run(&["user", "add", "--email", "lead@example.org", "--role", "survey_lead,analyst"], Some(PASSWORD));
    assert!(out.status.success(), "{}", stderr(&out));
    let again = cli.run(&["user", "add", "--email", "ada@example.org", "--role", "admin"], Some(PASSWORD));
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already exists"));
}

fn user_add_refuses_weak_passwords_and_password_arguments() {
    let cli = Cli::new();
    for (password, message) in
        [("short", "12 characters or more"), ("1qaz2wsx3edc", "too common"), ("", "no password on standard input")]
    {
        let out = cli.run(&["user", "add", "--email", "a@example.org", "--role", "admin"], Some(password));
        assert!(!out.status.success());
        assert!(stderr(&out).contains(message), "{password}: {}", stderr(&out));
    }
    let out = cli.run(&["user", "add", "--email", "a@example.org", "--role", "admin", "--password", PASSWORD], None);
    assert!(!out.status.success(), "there is no --password flag");
    let out = cli.run(&["user", "add", "--email", "a@example.org", "--role", "superuser"], Some(PASSWORD));
    assert!(!out.status.success() && stderr(&out).contains("invalid value 'superuser'"), "{}", stderr(&out));
    assert!(stdout(&cli.run(&["user", "list"], None)).contains("no accounts yet"));
}

fn user_disable_and_reset_password_are_audited() {
    let cli = Cli::new();
    cli.run(&["user", "add", "--email", "a@example.org", "--role", "analyst"], Some(PASSWORD));
    let out = cli.run(&["user", "disable", "a@example.org"], None);
    assert!(out.status.success() && stdout(&out).contains("a@example.org is now disabled"), "{}", stderr(&out));
    assert!(stdout(&cli.run(&["user", "list"], None)).contains("analyst\tdisabled"));
    let new = "a completely new passphrase";
    let out = cli.run(&["user", "reset-password", "A@example.org"], Some(new));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli.run(&["user", "enable", "a@example.org"], None);
    assert!(out.status.success());
    let missing = cli.run(&["user", "disable", "nobody@example.org"], None);
    assert!(!missing.status.success() && stderr(&missing).contains("There is no account with that email address"));

    let mut conn = cli.db().get().unwrap();
    let user = joinedup::storage::accounts::by_email(&mut conn, "a@example.org").unwrap().unwrap();
    assert!(joinedup::accounts::password::verify(new, &user.password_hash));
    let entries = joinedup::storage::audit::search(&mut conn, &Default::default(), 100).unwrap();
    let actions: Vec<&str> = entries.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["user_created", "user_disabled", "password_reset", "user_enabled"]);
    assert!(entries.iter().all(|e| e.actor == "command line"));
}

fn serve_demo_refuses_a_non_loopback_address() {
    let cli = Cli::new();
    let out = cli.run(&["serve", "--demo", "--bind", "0.0.0.0:0"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--demo creates accounts with printed passwords, so it only runs on a loopback address"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&cli.run(&["user", "list"], None)).contains("no accounts yet"));
}

fn serve_demo_prints_one_time_passwords_once() {
    let cli = Cli::new();
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut child = cli
            .command(&["serve", "--demo", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut printed = String::new();
        // The accounts are printed before the server starts listening; the first line says which case it is.
        reader.read_line(&mut printed).unwrap();
        if printed.starts_with("Demo accounts") {
            for _ in 0..3 {
                reader.read_line(&mut printed).unwrap();
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        lines.push(printed);
    }
    assert!(lines[0].starts_with("Demo accounts"), "{}", lines[0]);
    for (email, _) in joinedup::accounts::demo::ACCOUNTS {
        assert!(lines[0].contains(email), "{}", lines[0]);
    }
    assert!(lines[1].contains("accounts already exist"), "printed once only: {}", lines[1]);
    let list = stdout(&cli.run(&["user", "list"], None));
    assert_eq!(list.lines().count(), 3, "{list}");
}

/// While `serve --demo` loads (the `demo_loading` mark is set), a command
/// that reads responses waits and says so, and goes on once the mark goes.
fn commands_wait_for_a_demo_load_under_way() {
    let cli = Cli::new();
    let db = cli.db();
    let began = chrono::Utc::now().naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string();
    joinedup::storage::app_settings::set(&mut db.get().unwrap(), joinedup::demo::LOADING, &began).unwrap();
    let mut child = cli
        .command(&["response", "find", "--reference", "NOPE-NOPE"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A second later the command is still waiting: the mark is there.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(child.try_wait().unwrap().is_none(), "the command did not wait for the demo load");
    joinedup::storage::app_settings::delete(&mut db.get().unwrap(), joinedup::demo::LOADING).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("still loading its demo responses"), "{err}");
    assert!(err.contains(" done"), "{err}");
    assert!(!err.contains("did not finish"), "{err}");
}

/// A mark left by a load that was killed part-way does not stall commands.
fn an_abandoned_demo_load_is_reported_and_passed_over() {
    let cli = Cli::new();
    let db = cli.db();
    let began =
        (chrono::Utc::now().naive_utc() - joinedup::demo::LOADING_ABANDONED_AFTER - chrono::Duration::seconds(5))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
    joinedup::storage::app_settings::set(&mut db.get().unwrap(), joinedup::demo::LOADING, &began).unwrap();
    let started = std::time::Instant::now();
    let out = cli.run(&["response", "find", "--reference", "NOPE-NOPE"], None);
    let err = stderr(&out);
    assert!(err.contains("did not finish"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "it waited");
}

pub fn trials() -> Vec<Trial> {
    plain_trials![
        commands_wait_for_a_demo_load_under_way,
        an_abandoned_demo_load_is_reported_and_passed_over,
        user_add_reads_the_password_from_stdin_and_list_shows_roles,
        user_add_refuses_weak_passwords_and_password_arguments,
        user_disable_and_reset_password_are_audited,
        serve_demo_refuses_a_non_loopback_address,
        serve_demo_prints_one_time_passwords_once,
    ]
}

//! Structured logs: with `JOINEDUP_LOG_FORMAT=json` a running server writes
//! one JSON object per line, every request's lines carry its request id,
//! and the same id comes back in the `X-Request-Id` header: the proxy's
//! id when it sent a plain one, a fresh one otherwise (and on errors).

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common;
use libtest_mimic::Trial;

/// The JSON lines a server wrote, collected as they come.
type Lines = Arc<Mutex<Vec<String>>>;

fn json_logs_carry_each_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_joinedup"))
        .arg("serve")
        .current_dir(dir.path())
        .env("DATABASE_URL", dir.path().join("logs.sqlite3"))
        .env("JOINEDUP_BIND", "127.0.0.1:0")
        .env("JOINEDUP_DEFINITIONS", common::project_path("survey-definitions"))
        .env("JOINEDUP_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start joinedup");
    let lines: Lines = Arc::default();
    let reader = std::io::BufReader::new(child.stderr.take().unwrap());
    let sink = lines.clone();
    std::thread::spawn(move || reader.lines().map_while(Result::ok).for_each(|l| sink.lock().unwrap().push(l)));
    let parsed = |lines: &Lines| -> Vec<serde_json::Value> {
        let lines = lines.lock().unwrap();
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}")))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let address = loop {
        let found = parsed(&lines).into_iter().find_map(|l| {
            (l["message"] == "joinedup is listening").then(|| l["address"].as_str().unwrap().to_string())
        });
        if let Some(address) = found {
            break address;
        }
        assert!(Instant::now() < deadline, "no listening line: {:?}", lines.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    };
    let client = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = |path: &str| format!("http://{address}{path}");
    let given = "proxy-7f3c9a21";
    let reply = client.get(url("/healthz")).header("x-request-id", given).send().unwrap();
    assert_eq!(reply.headers()["x-request-id"], given, "the proxy's id is kept");
    let made = client.get(url("/surveys/format_example")).send().unwrap();
    let made_id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(made_id.len(), 32, "a fresh 128-bit id");
    let forged = client.get(url("/healthz")).header("x-request-id", "forged line\" level=error").send().unwrap();
    assert_eq!(forged.headers()["x-request-id"].len(), 32, "an id that is not plain is replaced");
    // An error answers with its id too (a POST without its CSRF token).
    let refused = client.post(url("/surveys/format_example/start")).send().unwrap();
    assert!(refused.status().is_client_error());
    let refused_id = refused.headers()["x-request-id"].to_str().unwrap().to_string();

    let _ = child.kill();
    let _ = child.wait();
    let logs = parsed(&lines);
    let access = |id: &str| {
        logs.iter()
            .filter(|l| l["target"] == "joinedup::access" && l["span"]["request_id"] == id)
            .map(|l| l["path"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(access(given), ["/healthz"], "{logs:?}");
    assert_eq!(access(&made_id), ["/surveys/format_example"]);
    assert_eq!(access(&refused_id), ["/surveys/format_example/start"]);
}

pub fn trials() -> Vec<Trial> {
    plain_trials![json_logs_carry_each_request_id]
}

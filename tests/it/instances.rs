//! Two joinedup server processes on one database behind a round-robin
//! proxy with no session affinity: every request may reach the other
//! process. Respondents walk in all three voices, go back through "Change"
//! on check answers (voice included), and submit; what is stored must be
//! what they last chose, with no answer to a page routing skips, and no
//! 5xx. Both processes' invitation senders run against a real SMTP server
//! on loopback (aiosmtpd; without it the test is ignored, saying so), and
//! each invitation goes exactly once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::harness::Services;
use common::smtp::SmtpServer;
use common::{TestApp, TestDb, Walker};
use joinedup::definitions::Voice;
use joinedup::journey::simulate::Persona;
use joinedup::storage::DatabaseUrl;
use libtest_mimic::Trial;

const SECRET: &str = "test-secret-key-that-is-long-enough-0123456789";

/// One `joinedup serve` process; killed when dropped.
struct Instance {
    child: Child,
    address: SocketAddr,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address a starting `joinedup serve --bind 127.0.0.1:0` logs it is
/// listening on: the port is the server's own, so no other process can
/// take it first. The rest of the log is drained so the server never
/// blocks on a full pipe.
fn listening_address(stderr: std::process::ChildStderr) -> SocketAddr {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(stderr).lines();
    let address = loop {
        let line = lines.next().expect("joinedup ended before listening").expect("read its log");
        if line.contains("joinedup is listening")
            && let Some(at) = line.find("127.0.0.1:")
        {
            let port: String = line[at + 10..].chars().take_while(char::is_ascii_digit).collect();
            break format!("127.0.0.1:{port}").parse().expect("an address");
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    address
}

fn database(db: &TestDb) -> String {
    match &db.url {
        DatabaseUrl::Sqlite(path) => path.display().to_string(),
        DatabaseUrl::Postgres(url) => url.clone(),
    }
}

async fn spawn_instance(db: &TestDb, smtp: &str) -> Instance {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_joinedup"));
    cmd.arg("serve")
        .env("DATABASE_URL", database(db))
        .env("JOINEDUP_BIND", "127.0.0.1:0")
        .env("JOINEDUP_DEFINITIONS", common::project_path("survey-definitions"))
        .env("JOINEDUP_SECRET_KEY", SECRET)
        .env("JOINEDUP_BASE_URL", "http://127.0.0.1")
        .env("JOINEDUP_START_RATE", "100000")
        .env("RUST_LOG", "warn,joinedup::cli=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("JOINEDUP_SMTP_URL", smtp)
        .env("JOINEDUP_MAIL_FROM", "Survey team <surveys@example.org>")
        .env("JOINEDUP_SEND_RATE", "6000");
    let mut child = cmd.spawn().expect("start joinedup");
    let stderr = child.stderr.take().expect("piped");
    let address = tokio::task::block_in_place(|| listening_address(stderr));
    let instance = Instance { child, address };
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = format!("http://{address}/healthz");
    while reqwest::get(&health).await.map(|r| r.status().as_u16()).ok() != Some(200) {
        assert!(Instant::now() < deadline, "joinedup did not start on {address}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    instance
}

/// A TCP proxy sending each new connection to the next upstream in turn.
async fn round_robin(upstreams: Vec<SocketAddr>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstreams[next.fetch_add(1, Ordering::Relaxed) % upstreams.len()];
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    address
}

/// What the respondent last chose for each answer id, worked out from the
/// forms posted in order (a later post, or a page cleared, overrides).
fn last_chosen(walker: &Walker<'_>) -> BTreeMap<String, String> {
    let d = walker.definition();
    let ics = joinedup::reference::icss().unwrap().into_iter().map(|i| i.ons_code).collect();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut voice = None;
    for (page_id, fields) in &walker.posted {
        let page = d.page(page_id).unwrap();
        let mut fields = fields.clone();
        for hidden in ["return_to", "because", "cleared"] {
            fields.remove(hidden);
        }
        let wording = joinedup::journey::Wording::new(&d, "en", voice);
        let ctx = joinedup::journey::Context { wording, ics_codes: &ics, today: chrono::Utc::now().date_naive() };
        let input = joinedup::journey::form::read_page(&ctx, page, &fields).unwrap().unwrap();
        for id in input.cleared {
            out.remove(&id);
        }
        for (id, value) in input.given {
            out.insert(id, value.to_stored());
        }
        if page.question.sets_voice {
            let answers =
                joinedup::journey::form::answers_from_stored(&d, out.iter().map(|(q, v)| (q.as_str(), v.as_str())));
            voice = joinedup::journey::routing::voice_from_answers(&d, &answers);
        }
    }
    out
}

async fn two_instances_behind_a_round_robin_proxy(db: TestDb) {
    let smtp = SmtpServer::start();
    let one = spawn_instance(&db, &smtp.url()).await;
    let two = spawn_instance(&db, &smtp.url()).await;
    let front = round_robin(vec![one.address, two.address]).await;
    // The walkers' view of the survey and of the stored rows, in process;
    // every request goes through the proxy.
    let settings = common::settings(&db, &common::project_path("survey-definitions"));
    let state = joinedup::app::prepare(&settings, false).await.expect("the database is ready");
    let app = TestApp { address: format!("http://{front}"), state, client: reqwest::Client::new() };
    // No kept-alive connections: each request is a new connection, so
    // consecutive requests land on different processes.
    let no_affinity = || {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    for (n, voice) in Voice::ALL.into_iter().enumerate() {
        let mut walker = Walker { client: no_affinity(), ..Walker::new(&app, "integration_index") };
        let check = walker.answer_all(&Persona::new(voice), 40 + n as u64).await;
        // Back through "Change": the voice (to the next voice), then the
        // first two other questions listed, each answered afresh.
        let page = walker.get(&check).await;
        // Handlebars escapes `=` in attributes as `&#x3D;`.
        let marker = "?change&#x3D;1\"";
        let changes: Vec<String> = page
            .body
            .match_indices(marker)
            .map(|(end, _)| {
                let start = page.body[..end].rfind("href=\"").unwrap() + 6;
                format!("{}?change=1", &page.body[start..end])
            })
            .collect();
        assert!(changes.len() >= 3, "{}", page.body);
        let other = Voice::ALL[(n + 1) % 3];
        let voice_change = changes.iter().find(|c| c.contains("/q/voice?")).expect("a change link for the voice");
        walker.answer_from(&Persona::new(other), 50 + n as u64, voice_change.clone()).await;
        for (k, change) in changes.iter().filter(|c| !c.contains("/q/voice?")).take(2).enumerate() {
            let page_id = change.split("/q/").nth(1).unwrap().split('?').next().unwrap();
            if walker.definition().page(page_id).is_some() {
                let check = walker.answer_from(&Persona::new(other), 60 + k as u64, change.clone()).await;
                assert!(check.contains("/check"));
            }
        }
        let done = walker.submit().await;
        assert_eq!(done.status, 200, "{}", done.body);
        let at = done.body.find("JU-").expect("a reference");
        let reference = done.body[at..at + 12].to_string();
        let (response, stored) = app
            .state
            .db
            .run(move |conn| {
                let response = joinedup::storage::responses::by_reference(conn, &reference)?.expect("stored");
                let rows = joinedup::storage::responses::answers_of(conn, response.id)?;
                Ok((response, rows.into_iter().map(|a| (a.question_id, a.value)).collect::<BTreeMap<_, _>>()))
            })
            .await
            .unwrap();
        assert_eq!(response.voice.as_deref(), Some(other.code()));
        // Every stored answer is the respondent's last choice for it ...
        let chosen = last_chosen(&walker);
        for (id, value) in &stored {
            assert_eq!(chosen.get(id), Some(value), "{id} as stored is not what was last chosen");
        }
        // ... and belongs to a page the final answers route to.
        let d = walker.definition();
        let answers =
            joinedup::journey::form::answers_from_stored(&d, stored.iter().map(|(q, v)| (q.as_str(), v.as_str())));
        let route = joinedup::journey::Route::compute(&d, Default::default(), &answers);
        assert!(route.stale_answers(&d, &answers).is_empty(), "answers to pages routing skips were kept");
    }

    // Both processes run the invitation sender: each message goes once.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sample.csv");
    let ics = &joinedup::reference::icss().unwrap()[0].ons_code;
    let mut csv = String::from("email,ics\n");
    for i in 0..40 {
        csv.push_str(&format!("person{i}@example.org,{ics}\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_joinedup"))
        .args(["invite", "--survey", "integration_index", "--sample"])
        .arg(&file)
        .arg("--no-send")
        .env("DATABASE_URL", database(&db))
        .env("JOINEDUP_SECRET_KEY", SECRET)
        .env("JOINEDUP_BASE_URL", "http://127.0.0.1")
        .env("JOINEDUP_DEFINITIONS", common::project_path("survey-definitions"))
        .env("JOINEDUP_SMTP_URL", smtp.url())
        .env("JOINEDUP_MAIL_FROM", "Survey team <surveys@example.org>")
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());
    // All 40, then a quiet second in which a duplicate would show.
    let mails =
        tokio::task::block_in_place(|| smtp.wait_for_quiet(40, Duration::from_secs(1), Duration::from_secs(60)));
    let mut to: Vec<String> = mails.iter().map(|m| m.to.clone()).collect();
    to.sort();
    let before = to.len();
    to.dedup();
    assert_eq!((before, to.len()), (40, 40), "each invitation goes exactly once");
}

pub fn trials(services: &Services) -> Vec<Trial> {
    on_each_backend_async!(
        services, needs [Smtp];
        two_instances_behind_a_round_robin_proxy,
    )
}

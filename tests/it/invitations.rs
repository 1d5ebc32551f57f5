//! Invitations by email against a real SMTP server on loopback (aiosmtpd,
//! started here, writing to a Maildir), on SQLite and PostgreSQL: who gets
//! what, the headers and both bodies, the link followed into the real
//! survey, opt-out (page and one-click), reminders to exactly the
//! non-responders, an unreachable server, a refused address, the rate
//! limit, a SIGKILL of the real `joinedup invite` mid-batch resumed without
//! a duplicate, erasure after the survey closes, and the survey lead's
//! whole path with a sample of 1,000.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::harness::Services;
use common::accounts::{audit, csrf_in};
use common::lead::{
    answer_invitation, definition_with_typo, draft_id, example_definition, html, lead, path_of, upload, walk_preview,
};
use common::smtp::{Mail, SmtpServer};
use common::{TestApp, TestDb};
use diesel::prelude::*;
use joinedup::app::Settings;
use joinedup::definitions::Voice;
use joinedup::invitations::InvitationSettings;
use joinedup::storage::DatabaseUrl;
use joinedup::storage::schema::{invitation_tokens, invitees, opt_outs, outbox, responses};
use libtest_mimic::Trial;

const FROM: &str = "Survey team <surveys@example.org>";
const SECRET: &str = "test-secret-key-that-is-long-enough-0123456789";

fn settings(db: &TestDb, smtp_url: &str, rate: u32) -> Settings {
    let mut s = common::settings(db, &common::project_path("survey-definitions"));
    s.invitations = InvitationSettings::new(Some(smtp_url), Some(FROM), 1, rate, 30).unwrap();
    s
}

/// The real `joinedup` binary with the test's database and mail settings.
fn joinedup(db: &TestDb, smtp_url: &str, rate: u32) -> Command {
    let database = match &db.url {
        DatabaseUrl::Sqlite(path) => path.display().to_string(),
        DatabaseUrl::Postgres(url) => url.clone(),
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_joinedup"));
    cmd.env("DATABASE_URL", database)
        .env("JOINEDUP_SECRET_KEY", SECRET)
        .env("JOINEDUP_BASE_URL", "http://127.0.0.1")
        .env("JOINEDUP_SMTP_URL", smtp_url)
        .env("JOINEDUP_MAIL_FROM", FROM)
        .env("JOINEDUP_SEND_RATE", rate.to_string())
        .env("JOINEDUP_REMINDER_DELAY_DAYS", "1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> (bool, String, String) {
    let out = cmd.output().expect("run joinedup");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn ics_codes() -> Vec<String> {
    joinedup::reference::icss().unwrap().into_iter().map(|i| i.ons_code).collect()
}

/// A sample CSV of `emails`, each in an ICS, with strata.
fn sample(emails: &[String]) -> Vec<u8> {
    let ics = ics_codes();
    let bands = ["18-34", "35-54", "55-64", "65-74", "75-84"];
    let mut text = String::from("email,ics,age_band,sex,imd_quintile,selection_probability\n");
    for (i, e) in emails.iter().enumerate() {
        let sex = if i % 2 == 0 { "female" } else { "male" };
        text.push_str(&format!(
            "{e},{},{},{sex},{},0.{:02}\n",
            ics[i % ics.len()],
            bands[i % 5],
            i % 5 + 1,
            10 + i % 80
        ));
    }
    text.into_bytes()
}

/// Outbox rows of a kind by status.
async fn statuses(app: &TestApp, kind: &'static str) -> BTreeMap<String, i64> {
    app.state
        .db
        .run(move |conn| {
            let rows: Vec<(String, i64)> = outbox::table
                .filter(outbox::kind.eq(kind))
                .group_by(outbox::status)
                .select((outbox::status, diesel::dsl::count_star()))
                .load(conn)?;
            Ok(rows.into_iter().collect())
        })
        .await
        .unwrap()
}

/// Waits until no message of `kind` is queued or sending (the background run finished).
async fn settled(app: &TestApp, kind: &'static str, timeout: Duration) -> BTreeMap<String, i64> {
    let deadline = Instant::now() + timeout;
    loop {
        let now = statuses(app, kind).await;
        let busy = now.get("queued").copied().unwrap_or(0) + now.get("sending").copied().unwrap_or(0);
        if busy == 0 || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn recipients(mails: &[Mail]) -> Vec<String> {
    mails.iter().map(|m| m.to.clone()).collect()
}

/// Waits (off the async threads) for `n` messages.
async fn delivered(smtp: &SmtpServer, n: usize, timeout: Duration) -> Vec<Mail> {
    tokio::task::block_in_place(|| smtp.wait_for(n, timeout))
}

/// What is sent and to whom, with email kept in memory: the headers and
/// both bodies in each invitee's language, and a personal link each. Needs
/// no SMTP server; SMTP's own replies are the aiosmtpd tests' business.
async fn invitations_say_the_right_things_to_the_right_people(db: TestDb) {
    let app = TestApp::spawn_with_memory_mail(settings(&db, "smtp://127.0.0.1:9", 6000)).await;
    let browser = lead(&app).await;
    let ics = ics_codes();
    let csv = format!(
        "email,ics,language,voice,imd_quintile,selection_probability\n\
         ann@example.org,{},pl,carer_self,1,0.2\n\
         bob@example.org,{},,,,\n",
        ics[0], ics[1]
    );
    let imported = upload(
        &browser,
        "/lead/surveys/format_example/samples/new",
        "/lead/surveys/format_example/samples",
        Some(("s.csv", csv.into_bytes())),
        &[],
    )
    .await;
    assert!(imported.body.contains("2 people imported"), "{}", imported.body);
    browser.submit("/lead/surveys/format_example", "/lead/surveys/format_example/invitations/send", &[]).await;
    let after = settled(&app, "invitation", Duration::from_secs(20)).await;
    assert_eq!(after.get("sent"), Some(&2), "{after:?}");
    let mails = app.sent_mail().await;
    assert_eq!(
        BTreeSet::from_iter(recipients(&mails)),
        BTreeSet::from(["ann@example.org".to_string(), "bob@example.org".to_string()]),
        "each invitee once"
    );
    assert_eq!(mails.len(), 2);

    // Headers and both bodies, in the invitee's language.
    let ann = mails.iter().find(|m| m.to == "ann@example.org").unwrap();
    assert_eq!(ann.header("To").as_deref(), Some("ann@example.org"));
    assert_eq!(ann.header("From").as_deref(), Some("\"Survey team\" <surveys@example.org>"));
    assert_eq!(ann.header("Subject").as_deref(), Some("Przykładowa ankieta: prosimy o opinię o opiece"));
    let link = ann.survey_link();
    let opt_out = ann.opt_out_link();
    assert!(
        link.starts_with("http://127.0.0.1/s/") && opt_out.starts_with("http://127.0.0.1/opt-out/"),
        "{link} {opt_out}"
    );
    assert_eq!(ann.header("List-Unsubscribe"), Some(format!("<{opt_out}>")));
    assert_eq!(ann.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    assert!(ann.header("Message-ID").unwrap().ends_with("@example.org>"));
    let (text, html) = (ann.body("text/plain"), ann.body("text/html"));
    assert!(
        text.contains("Dzień dobry") && text.contains("Zapraszamy do udziału w ankiecie: Przykładowa ankieta."),
        "{text}"
    );
    assert!(html.contains(&format!("href=\"{link}\"")) && html.contains(&format!("href=\"{opt_out}\"")), "{html}");
    assert!(html.contains("<html lang=\"pl\">"));
    let bob = mails.iter().find(|m| m.to == "bob@example.org").unwrap();
    assert_eq!(bob.header("Subject").as_deref(), Some("Format example survey: please tell us about your care"));
    assert_ne!(bob.survey_link(), link, "a personal link each");
    let bob_text = bob.body("text/plain");
    assert!(bob_text.contains("It takes about 3 minutes."), "{bob_text}");
}

async fn invitations_reach_a_real_smtp_server(db: TestDb) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(settings(&db, &smtp.url(), 6000)).await;
    let browser = lead(&app).await;
    let ics = ics_codes();
    let csv = format!(
        "email,ics,language,voice,imd_quintile,selection_probability\n\
         ann@example.org,{},pl,carer_self,1,0.2\n\
         bob@example.org,{},,,,\n\
         refuse@example.org,{},,,,\n\
         later@example.org,{},,,,\n",
        ics[0], ics[1], ics[2], ics[3]
    );
    let imported = upload(
        &browser,
        "/lead/surveys/format_example/samples/new",
        "/lead/surveys/format_example/samples",
        Some(("s.csv", csv.into_bytes())),
        &[],
    )
    .await;
    assert!(imported.body.contains("4 people imported"), "{}", imported.body);
    let sent =
        browser.submit("/lead/surveys/format_example", "/lead/surveys/format_example/invitations/send", &[]).await;
    assert_eq!(sent.location.as_deref(), Some("/lead/surveys/format_example?done=queued"), "{}", sent.body);
    let mails = delivered(&smtp, 2, Duration::from_secs(20)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let now = statuses(&app, "invitation").await;
        if (now.get("sent"), now.get("failed")) == (Some(&2), Some(&1)) || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(after.get("sent"), Some(&2), "{after:?}");
    assert_eq!(after.get("failed"), Some(&1), "the refused address: {after:?}");
    assert_eq!(after.get("queued"), Some(&1), "the 451 waits to be tried again: {after:?}");
    let later: (String, i32, Option<String>) = app
        .state
        .db
        .run(|conn| {
            Ok(outbox::table
                .inner_join(invitees::table)
                .filter(invitees::email.eq("later@example.org"))
                .select((outbox::status, outbox::attempts, outbox::error))
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!((later.0.as_str(), later.1), ("queued", 1), "a 451 is retried later: {later:?}");
    assert!(later.2.unwrap().contains("451"));
    // Sent is recorded only after the server accepted (and stored) the
    // message, so once the statuses above settled the mailbox is complete.
    let mails = if mails.len() > 2 { mails } else { smtp.messages() };
    assert_eq!(
        BTreeSet::from_iter(recipients(&mails)),
        BTreeSet::from(["ann@example.org".to_string(), "bob@example.org".to_string()])
    );

    // The messages' content is checked in-process (the in-memory test).
    let ann = mails.iter().find(|m| m.to == "ann@example.org").unwrap();
    let link = ann.survey_link();
    let opt_out = ann.opt_out_link();
    let bob = mails.iter().find(|m| m.to == "bob@example.org").unwrap();

    // Ann follows her link into the real survey: in Polish, as a carer, her ICS preset.
    let walker = answer_invitation(&app, "format_example", &link, Voice::CarerSelf, 1, true).await;
    drop(walker);
    let (channel, voice, area, language): (String, Option<String>, Option<String>, String) = app
        .state
        .db
        .run(|conn| {
            Ok(responses::table
                .select((responses::channel, responses::voice, responses::ics_code, responses::language))
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(
        (channel.as_str(), voice.as_deref(), area.as_deref(), language.as_str()),
        ("invitation", Some("carer_self"), Some(ics[0].as_str()), "pl")
    );

    // Bob opts out from the page his link opens: one button, and a GET changes nothing.
    let page = browser.client.get(app.url(&path_of(&bob.opt_out_link()))).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Stop emails about this survey")
            && page.contains("We will not email you about Format example survey again"),
        "{page}"
    );
    let opted = |app: &TestApp| {
        let db = app.state.db.clone();
        async move { db.run(|conn| Ok(opt_outs::table.count().get_result::<i64>(conn)?)).await.unwrap() }
    };
    assert_eq!(opted(&app).await, 0);
    let visitor = common::Walker::new(&app, "format_example");
    let form = visitor.get(&path_of(&bob.opt_out_link())).await;
    let (status, _, body) = visitor.post(&path_of(&bob.opt_out_link()), &[("csrf_token".into(), form.csrf())]).await;
    assert_eq!(status, 200);
    assert!(body.contains("You will not get any more emails about this survey"), "{body}");
    assert_eq!(opted(&app).await, 1);
    // Without the form's token, nothing but a mail program's one-click request is accepted.
    let forged = reqwest::Client::new().post(app.url(&path_of(&opt_out))).form(&[("x", "1")]).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let one_click = reqwest::Client::new()
        .post(app.url(&path_of(&opt_out)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200);
    assert_eq!(opted(&app).await, 2);
    let keys: Vec<String> =
        app.state.db.run(|conn| Ok(opt_outs::table.select(opt_outs::email_key).load(conn)?)).await.unwrap();
    assert!(keys.iter().all(|k| k.len() == 64 && !k.contains('@')), "only keyed hashes are kept: {keys:?}");

    // The lead sees counts and the refused address, never who answered.
    let survey = browser.get("/lead/surveys/format_example").await;
    assert!(survey.body.contains("refuse@example.org (line 4)") && survey.body.contains("550"), "{}", survey.body);
    assert!(!survey.body.contains("ann@example.org"), "no list of who answered");
    assert!(survey.body.contains("2 invited people have asked for no more emails"), "{}", survey.body);
    assert_eq!(audit(&app, "invitations_queued").await.len(), 1);
    let runs = audit(&app, "invitations_sent").await;
    assert!(
        runs.iter().any(|r| r
            .detail
            .as_deref()
            .unwrap()
            .starts_with("2 invitation(s) and 0 reminder(s) sent, 1 failed")),
        "{runs:?}"
    );
}

/// Invites six; two answer, one opts out, one starts; after the delay a
/// reminder goes to exactly the three who have neither answered nor opted
/// out (the one who started included), through `joinedup remind`.
async fn reminders_go_only_to_non_responders(db: TestDb) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(settings(&db, &smtp.url(), 6000)).await;
    let browser = lead(&app).await;
    let people: Vec<String> = (1..=6).map(|i| format!("p{i}@example.org")).collect();
    upload(
        &browser,
        "/lead/surveys/format_example/samples/new",
        "/lead/surveys/format_example/samples",
        Some(("six.csv", sample(&people))),
        &[],
    )
    .await;
    browser.submit("/lead/surveys/format_example", "/lead/surveys/format_example/invitations/send", &[]).await;
    let mails = delivered(&smtp, 6, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 6);
    settled(&app, "invitation", Duration::from_secs(10)).await;
    let link = |who: &str| mails.iter().find(|m| m.to == who).unwrap().clone();
    answer_invitation(&app, "format_example", &link("p1@example.org").survey_link(), Voice::Patient, 1, true).await;
    answer_invitation(&app, "format_example", &link("p2@example.org").survey_link(), Voice::CarerOnBehalf, 2, true)
        .await;
    let base = app.address.clone();
    let one_click = |url: String| async move {
        reqwest::Client::new()
            .post(format!("{base}{}", path_of(&url)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(one_click(link("p3@example.org").opt_out_link()).await, 200);
    let started =
        answer_invitation(&app, "format_example", &link("p4@example.org").survey_link(), Voice::Patient, 4, false)
            .await;
    drop(started);

    // Too soon: the reminder delay (1 day) has not passed.
    let early = browser.submit("/lead/surveys/format_example", "/lead/surveys/format_example/reminders", &[]).await;
    assert!(early.body.contains("No reminders are due: 0 reminder(s) queued"), "{}", early.body);
    assert!(early.body.contains("2 answered, 1 opted out, 3 contacted less than the delay ago"), "{}", early.body);
    // Two days pass.
    app.state
        .db
        .write(|conn| {
            let two_days_ago = joinedup::storage::now() - chrono::Duration::days(2);
            Ok(diesel::update(outbox::table).set(outbox::finished_at.eq(two_days_ago)).execute(conn)?)
        })
        .await
        .unwrap();
    let page = browser.get("/lead/surveys/format_example").await;
    assert!(page.body.contains("Send reminders (3 due now)"), "{}", page.body);

    let (ok, stdout, stderr) = run({
        let mut cmd = joinedup(&db, &smtp.url(), 6000);
        cmd.args(["remind", "--survey", "format_example"]);
        cmd
    });
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("3 reminder(s) queued; not reminded: 2 answered, 1 opted out"), "{stdout}");
    // (The server's own background run may send them first; either way, once.)
    let all = delivered(&smtp, 9, Duration::from_secs(10)).await;
    let reminded: BTreeSet<String> =
        all.iter().filter(|m| m.header("Subject").unwrap().starts_with("Reminder:")).map(|m| m.to.clone()).collect();
    assert_eq!(reminded, BTreeSet::from(["p4@example.org", "p5@example.org", "p6@example.org"].map(String::from)));
    assert_eq!(all.len(), 9, "nothing else was sent");
    // The reminder's link is the invitation's: p4 goes back to where they left off.
    let p4 =
        all.iter().find(|m| m.to == "p4@example.org" && m.header("Subject").unwrap().starts_with("Reminder")).unwrap();
    assert_eq!(p4.survey_link(), link("p4@example.org").survey_link());
    let resumed = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = resumed.get(app.url(&path_of(&p4.survey_link()))).send().await.unwrap();
    assert_eq!(r.status(), 303, "an invitation already started resumes");
    // Straight away again: nothing is due.
    let again = browser.submit("/lead/surveys/format_example", "/lead/surveys/format_example/reminders", &[]).await;
    assert!(again.body.contains("No reminders are due"), "{}", again.body);
    assert_eq!(audit(&app, "reminders_queued").await.len(), 3);
}

/// An unreachable mail server: a clear message in the browser and on the
/// command line, nothing marked sent or lost, and a resume that sends
/// every invitation exactly once.
async fn an_unreachable_server_leaves_everything_queued(db: TestDb) {
    let smtp = SmtpServer::start();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = format!("smtp://127.0.0.1:{closed_port}");
    let app = TestApp::spawn_with(settings(&db, &nowhere, 6000)).await;
    let browser = lead(&app).await;
    let people: Vec<String> = (1..=3).map(|i| format!("q{i}@example.org")).collect();
    upload(
        &browser,
        "/lead/surveys/format_example/samples/new",
        "/lead/surveys/format_example/samples",
        Some(("q.csv", sample(&people))),
        &[],
    )
    .await;
    let refused =
        browser.submit("/lead/surveys/format_example", "/lead/surveys/format_example/invitations/send", &[]).await;
    assert_eq!(refused.status, 200);
    assert!(
        refused
            .body
            .contains(&format!("Cannot reach the mail server at smtp://127.0.0.1:{closed_port} (no encryption)")),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("Nothing was sent; 3 message(s) are queued"), "{}", refused.body);
    assert_eq!(statuses(&app, "invitation").await, BTreeMap::from([("queued".to_string(), 3)]));

    let (ok, stdout, stderr) = run({
        let mut cmd = joinedup(&db, &nowhere, 6000);
        cmd.args(["invite", "--survey", "format_example"]);
        cmd
    });
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("cannot reach the mail server at smtp://127.0.0.1") && stderr.contains("Nothing was sent"),
        "{stderr}"
    );
    assert_eq!(statuses(&app, "invitation").await, BTreeMap::from([("queued".to_string(), 3)]), "still all queued");
    let attempts: Vec<i32> =
        app.state.db.run(|conn| Ok(outbox::table.select(outbox::attempts).load(conn)?)).await.unwrap();
    assert_eq!(attempts, vec![0, 0, 0], "no attempt counted");

    let (ok, stdout, stderr) = run({
        let mut cmd = joinedup(&db, &smtp.url(), 6000);
        cmd.args(["invite", "--survey", "format_example"]);
        cmd
    });
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("3 invitation(s) and 0 reminder(s) sent"), "{stdout}");
    let mails = delivered(&smtp, 3, Duration::from_secs(10)).await;
    assert_eq!(BTreeSet::from_iter(recipients(&mails)), BTreeSet::from_iter(people));
}

/// The real `joinedup invite`, killed with SIGKILL while the mail server
/// holds a message, then run again: what was in the server's hands is
/// reported uncertain and not resent, the rest go, and nobody gets
/// anything twice.
async fn a_killed_sender_resumes_without_duplicates(db: TestDb) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn(&db).await;
    let n = 100;
    let people: Vec<String> =
        (1..=n).map(|i| if i == 40 { format!("slow{i}@example.org") } else { format!("k{i}@example.org") }).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sample.csv");
    std::fs::write(&file, sample(&people)).unwrap();

    // Ten a second, so that most are still queued when the slow one is reached.
    let mut child = joinedup(&db, &smtp.url(), 600)
        .args(["invite", "--survey", "format_example", "--sample"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let slow_status = || {
        let db = app.state.db.clone();
        async move {
            db.run(|conn| {
                Ok(outbox::table
                    .inner_join(invitees::table)
                    .filter(invitees::email.eq("slow40@example.org"))
                    .select(outbox::status)
                    .get_result::<String>(conn)
                    .optional()?)
            })
            .await
            .unwrap()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while slow_status().await.as_deref() != Some("sending") {
        assert!(Instant::now() < deadline, "the sender never reached the slow message");
        assert!(child.try_wait().unwrap().is_none(), "the sender ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let delivered_at_kill = smtp.messages().len();
    let at_kill = statuses(&app, "invitation").await;
    let queued_at_kill = at_kill.get("queued").copied().unwrap_or(0);
    let sending_at_kill = at_kill.get("sending").copied().unwrap_or(0);
    // Mid-batch: how far the sender got past the slow message before this
    // test saw it depends on how busy the machine is (70 of 100 sent was
    // seen under the full suite), so ask only that a good part is left.
    assert!(queued_at_kill >= 10, "killed mid-batch: {at_kill:?}");

    let (ok, stdout, stderr) = run({
        let mut cmd = joinedup(&db, &smtp.url(), 6000);
        cmd.args(["invite", "--survey", "format_example", "--sample"]).arg(&file);
        cmd
    });
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("was imported already"), "the same file is recognised: {stdout}");
    assert!(stdout.contains(&format!("{queued_at_kill} invitation(s) and 0 reminder(s) sent")), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{sending_at_kill} message(s) were being handed to the mail server when an earlier run stopped"
        )),
        "{stdout}"
    );
    let after = statuses(&app, "invitation").await;
    assert_eq!(after.get("uncertain"), Some(&sending_at_kill), "{after:?}");
    assert_eq!(after.get("sent").copied().unwrap_or(0) + sending_at_kill, n as i64, "{after:?}");
    let rows: Vec<(String, String)> = app
        .state
        .db
        .run(|conn| {
            Ok(outbox::table
                .inner_join(invitees::table)
                .select((invitees::email.assume_not_null(), outbox::status))
                .load(conn)?)
        })
        .await
        .unwrap();
    let uncertain: BTreeSet<String> = rows.iter().filter(|(_, s)| s == "uncertain").map(|(e, _)| e.clone()).collect();
    assert!(uncertain.contains("slow40@example.org"), "{uncertain:?}");
    // Every message marked sent is in the mailbox; the slow one may still
    // arrive (the server had it): wait for the sent ones, then a quiet spell.
    let sent_rows = rows.iter().filter(|(_, s)| s == "sent").count();
    let mails = tokio::task::block_in_place(|| {
        smtp.wait_for_quiet(sent_rows, Duration::from_millis(500), Duration::from_secs(30))
    });
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in &mails {
        *counts.entry(m.to.clone()).or_default() += 1;
    }
    assert!(counts.values().all(|&c| c == 1), "nobody got anything twice: {counts:?}");
    for (email, status) in &rows {
        if status == "sent" {
            assert_eq!(counts.get(email), Some(&1), "{email} was recorded sent, so it arrived");
        }
    }
    let missing: Vec<&String> = people.iter().filter(|p| !counts.contains_key(*p)).collect();
    assert!(missing.iter().all(|p| uncertain.contains(*p)), "only uncertain messages may be missing: {missing:?}");
    println!(
        "SIGKILL figures ({}): killed with {delivered_at_kill} delivered and the outbox at {at_kill:?}; the resume sent \
         {queued_at_kill} and reported {sending_at_kill} uncertain (not resent); {} of {n} addresses have their message, \
         each exactly once; missing: {missing:?}",
        db.url.backend().name(),
        counts.len(),
    );
}

/// The rate limit spaces messages out; checked through the command line.
async fn the_rate_limit_spaces_messages(db: TestDb) {
    let smtp = SmtpServer::start();
    let _app = TestApp::spawn(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("three.csv");
    std::fs::write(&file, sample(&["r1@example.org".into(), "r2@example.org".into(), "r3@example.org".into()]))
        .unwrap();
    let started = Instant::now();
    let (ok, stdout, stderr) = run({
        let mut cmd = joinedup(&db, &smtp.url(), 60);
        cmd.args(["invite", "--survey", "format_example", "--sample"]).arg(&file);
        cmd
    });
    let took = started.elapsed();
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("imported 3 people") && stdout.contains("3 invitation(s)"), "{stdout}");
    assert!(took >= Duration::from_millis(1900), "60 a minute: the third goes two seconds after the first ({took:?})");
    assert_eq!(smtp.messages().len(), 3);
}

/// After the survey closes and the retention period passes, addresses go;
/// the strata weighting needs and the opt-out list stay, and an opted-out
/// address in a later sample is still left out.
async fn emails_are_erased_after_the_survey_closes(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let browser = lead(&app).await;
    let people: Vec<String> = (1..=3).map(|i| format!("e{i}@example.org")).collect();
    upload(
        &browser,
        "/lead/surveys/format_example/samples/new",
        "/lead/surveys/format_example/samples",
        Some(("e.csv", sample(&people))),
        &[],
    )
    .await;
    // e1 opts out through their link (rebuilt here from the seed, as the sender does).
    let seed: String = app
        .state
        .db
        .run(|conn| {
            Ok(invitees::table
                .filter(invitees::email.eq("e1@example.org"))
                .select(invitees::link_nonce.assume_not_null())
                .get_result(conn)?)
        })
        .await
        .unwrap();
    let token = joinedup::tokens::link_token(SECRET, &seed);
    let one_click = reqwest::Client::new()
        .post(app.url(&format!("/opt-out/{token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200);
    let version = app.state.surveys.latest("format_example").unwrap().version.id;
    browser
        .submit("/lead/surveys/format_example", &format!("/lead/surveys/format_example/versions/{version}/close"), &[])
        .await;

    let erase = |days_later: i64| {
        let db = app.state.db.clone();
        async move {
            joinedup::invitations::retention::erase_due(
                &db,
                30,
                joinedup::storage::now() + chrono::Duration::days(days_later),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(erase(29).await, vec![], "not yet: 30 days after closing");
    assert_eq!(erase(31).await, vec![("format_example".to_string(), 3)]);
    let left: Vec<(Option<String>, Option<String>, Option<String>)> = app
        .state
        .db
        .run(|conn| {
            Ok(invitees::table.select((invitees::email, invitees::email_key, invitees::link_nonce)).load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(left, vec![(None, None, None); 3]);
    let strata: Vec<(Option<String>, Option<i32>, Option<f64>)> = app
        .state
        .db
        .run(|conn| {
            Ok(invitation_tokens::table
                .order(invitation_tokens::id)
                .select((
                    invitation_tokens::age_band,
                    invitation_tokens::imd_quintile,
                    invitation_tokens::selection_probability,
                ))
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(
        strata,
        vec![
            (Some("18-34".into()), Some(1), Some(0.10)),
            (Some("35-54".into()), Some(2), Some(0.11)),
            (Some("55-64".into()), Some(3), Some(0.12))
        ]
    );
    assert_eq!(audit(&app, "emails_erased").await.len(), 1);
    let page = browser.get("/lead/surveys/format_example").await;
    assert!(page.body.contains("Erased"), "{}", page.body);

    // Reopened later with a new sample holding e1 again: still left out.
    browser
        .submit("/lead/surveys/format_example", &format!("/lead/surveys/format_example/versions/{version}/reopen"), &[])
        .await;
    let again = upload(
        &browser,
        "/lead/surveys/format_example/samples/new",
        "/lead/surveys/format_example/samples",
        Some(("again.csv", sample(&["E1@example.org".into(), "new@example.org".into()]))),
        &[],
    )
    .await;
    assert!(
        again.body.contains("1 people imported")
            && again.body.contains("1 address(es) in the file asked for no more emails"),
        "{}",
        again.body
    );
}

/// What the walkthrough shows: a lead, as a new user would, uploads
/// a definition with a typo, sees it on its line, fixes it, previews each
/// voice, publishes, invites a sample of 1,000 to the loopback SMTP server,
/// and sends reminders to exactly the non-responders.
async fn a_lead_invites_a_thousand_and_reminds_the_non_responders(db: TestDb) {
    let smtp = SmtpServer::start();
    let app = TestApp::spawn_with(settings(&db, &smtp.url(), 60_000)).await;
    let browser = lead(&app).await;
    let (bad, typo_line) = definition_with_typo();
    let created =
        upload(&browser, "/lead/drafts/new", "/lead/drafts", Some(("after-a-fall.yaml", bad.into_bytes())), &[]).await;
    let draft = created.location.unwrap();
    let page = browser.get(&draft).await;
    assert!(page.body.contains(&html(&format!("Line {typo_line}: unknown domain `informaton`"))));
    let fixed = upload(&browser, &draft, &draft, None, &[("source", &example_definition())]).await;
    assert!(fixed.body.contains("No problems found"));
    let id = draft_id(&draft);
    for voice in [Some(Voice::Patient), Some(Voice::CarerSelf), Some(Voice::CarerOnBehalf), None] {
        walk_preview(&browser, id, voice, "en", 7).await;
    }
    let review = browser.get(&format!("{draft}/publish")).await;
    let hash = joinedup::definitions::content_hash(example_definition().as_bytes());
    let published = browser
        .post(&format!("{draft}/publish"), &[("csrf_token", &csrf_in(&review.body)), ("content_hash", &hash)])
        .await;
    assert_eq!(published.location.as_deref(), Some("/lead/surveys/after_a_fall?done=published"));

    let people: Vec<String> = (0..1000).map(|i| format!("person{i:04}@example.org")).collect();
    let imported = upload(
        &browser,
        "/lead/surveys/after_a_fall/samples/new",
        "/lead/surveys/after_a_fall/samples",
        Some(("sample-1000.csv", sample(&people))),
        &[],
    )
    .await;
    assert!(imported.body.contains("1000 people imported"), "{}", imported.body);
    let started = Instant::now();
    let sent = browser.submit("/lead/surveys/after_a_fall", "/lead/surveys/after_a_fall/invitations/send", &[]).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let mails = delivered(&smtp, 1000, Duration::from_secs(300)).await;
    let invitations = settled(&app, "invitation", Duration::from_secs(30)).await;
    let took = started.elapsed();
    assert_eq!(invitations, BTreeMap::from([("sent".to_string(), 1000)]));
    assert_eq!(BTreeSet::from_iter(recipients(&mails)), BTreeSet::from_iter(people.iter().cloned()));

    // 40 answer from their email, 10 more stop the emails, 10 start and stop.
    let by_person: BTreeMap<String, Mail> = mails.into_iter().map(|m| (m.to.clone(), m)).collect();
    let mut answered = BTreeSet::new();
    for (i, person) in people.iter().enumerate().take(40) {
        answer_invitation(&app, "after_a_fall", &by_person[person].survey_link(), Voice::ALL[i % 3], i as u64, true)
            .await;
        answered.insert(person.clone());
    }
    let mut opted = BTreeSet::new();
    for person in people.iter().skip(40).take(10) {
        let r = reqwest::Client::new()
            .post(app.url(&path_of(&by_person[person].opt_out_link())))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        opted.insert(person.clone());
    }
    for (i, person) in people.iter().enumerate().skip(50).take(10) {
        answer_invitation(&app, "after_a_fall", &by_person[person].survey_link(), Voice::Patient, i as u64, false)
            .await;
    }
    let survey = browser.get("/lead/surveys/after_a_fall").await;
    assert!(
        survey.body.contains("<td class=\"nhsuk-table__cell nhsuk-table__cell--numeric\">4.0%</td>"),
        "40 of 1000 answered: {}",
        survey.body
    );

    // The reminder delay passes (one day, here two), and the lead sends reminders.
    app.state
        .db
        .write(|conn| {
            let past = joinedup::storage::now() - chrono::Duration::days(2);
            Ok(diesel::update(outbox::table).set(outbox::finished_at.eq(past)).execute(conn)?)
        })
        .await
        .unwrap();
    let page = browser.get("/lead/surveys/after_a_fall").await;
    assert!(page.body.contains("Send reminders (950 due now)"), "{}", page.body);
    let reminding = Instant::now();
    let reminded = browser.submit("/lead/surveys/after_a_fall", "/lead/surveys/after_a_fall/reminders", &[]).await;
    assert_eq!(reminded.location.as_deref(), Some("/lead/surveys/after_a_fall?done=reminded"), "{}", reminded.body);
    let all = delivered(&smtp, 1950, Duration::from_secs(300)).await;
    let reminders = settled(&app, "reminder", Duration::from_secs(30)).await;
    let reminder_took = reminding.elapsed();
    assert_eq!(reminders, BTreeMap::from([("sent".to_string(), 950)]));
    let got: BTreeSet<String> =
        all.iter().filter(|m| m.header("Subject").unwrap().starts_with("Reminder:")).map(|m| m.to.clone()).collect();
    let expected: BTreeSet<String> =
        people.iter().filter(|p| !answered.contains(*p) && !opted.contains(*p)).cloned().collect();
    assert_eq!(got.len(), 950);
    assert_eq!(got, expected, "reminders went to exactly the non-responders");
    assert_eq!(all.len(), 1950, "and nothing else");
    println!(
        "walkthrough ({}): 1000 invitations sent in {:.1} s; 40 answered, 10 opted out, 10 started; \
         {} reminders sent in {:.1} s to exactly the non-responders",
        db.url.backend().name(),
        took.as_secs_f64(),
        got.len(),
        reminder_took.as_secs_f64()
    );
}

/// The links and addresses of a survey's invitees, by address.
async fn seeds(app: &TestApp) -> BTreeMap<String, (Option<String>, String)> {
    app.state
        .db
        .run(|conn| {
            let rows: Vec<(Option<String>, Option<String>, String)> = invitees::table
                .inner_join(invitation_tokens::table)
                .select((invitees::email, invitees::link_nonce, invitation_tokens::token_hash))
                .load(conn)?;
            Ok(rows.into_iter().filter_map(|(email, seed, hash)| Some((email?, (seed, hash)))).collect())
        })
        .await
        .unwrap()
}

/// Rotating both keys: the links already sent keep working until retired,
/// every kept seed gets a link under the new key (what reminders send), and
/// an address erased after its opt-out is still recognised under the new
/// email key, as is one invited before the rotation.
async fn rotated_keys_keep_links_and_opt_outs(db: TestDb) {
    const NEW: &str = "a-new-secret-key-after-rotation-0123456789abcdef";
    let app = TestApp::spawn_with(common::settings(&db, &common::project_path("survey-definitions"))).await;
    let browser = lead(&app).await;
    let (form, action) = ("/lead/surveys/format_example/samples/new", "/lead/surveys/format_example/samples");
    let people: Vec<String> = (1..=3).map(|i| format!("k{i}@example.org")).collect();
    let imported = upload(&browser, form, action, Some(("three.csv", sample(&people))), &[]).await;
    assert!(imported.body.contains("3 people imported"), "{}", imported.body);
    let before = seeds(&app).await;
    let old_link = |who: &str| {
        let seed = before[who].0.clone().unwrap();
        format!("/s/{}", joinedup::tokens::link_token(SECRET, &seed))
    };
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let status = |path: String| {
        let client = client.clone();
        let url = app.url(&path);
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(old_link("k2@example.org")).await, 200);
    // k1 opts out: the address is erased, its hash kept (under the old key).
    let opt_out = old_link("k1@example.org").replace("/s/", "/opt-out/");
    let opted = reqwest::Client::new()
        .post(app.url(&opt_out))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(opted.status(), 200);

    let keys = |args: &[&str], secret: &str, previous: Option<&str>| {
        let mut cmd = joinedup(&db, "smtp://127.0.0.1:1", 60);
        cmd.env("JOINEDUP_SECRET_KEY", secret).arg("keys").args(args);
        if let Some(previous) = previous {
            cmd.env("JOINEDUP_PREVIOUS_SECRET_KEY", previous);
        }
        run(cmd)
    };
    let (ok, out, err) = keys(&["rotate-email-key"], SECRET, None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("2 kept address(es) re-hashed; 1 retired key(s)"), "{out}");
    let (ok, out, err) = keys(&["rekey-links"], NEW, None);
    assert!(!ok && err.contains("JOINEDUP_PREVIOUS_SECRET_KEY"), "no previous key given: {out}{err}");
    let (ok, out, err) = keys(&["rekey-links"], NEW, Some(SECRET));
    assert!(ok, "{out}{err}");
    assert!(out.contains("2 invitation link(s) re-keyed"), "{out}");
    let (ok, out, _) = keys(&["rekey-links"], NEW, Some(SECRET));
    assert!(
        ok && out.contains("0 invitation link(s) re-keyed") && out.contains("2 already under the new key"),
        "{out}"
    );

    // What a reminder sends now is the link under the new key, and it works;
    // so does the link sent before.
    let after = seeds(&app).await;
    let k2 = &after["k2@example.org"];
    let new_token = joinedup::tokens::link_token(NEW, k2.0.as_deref().unwrap());
    assert_eq!(joinedup::tokens::hash(&new_token), k2.1, "the sender can rebuild the link");
    assert_eq!(status(format!("/s/{new_token}")).await, 200);
    assert_eq!(status(old_link("k3@example.org")).await, 200, "a link already sent still works");
    // So does the code printed on a letter before, beside the new one.
    let k3_seed = before["k3@example.org"].0.clone().unwrap();
    let (old_code, new_code) =
        (joinedup::tokens::short_code(SECRET, &k3_seed), joinedup::tokens::short_code(NEW, &k3_seed));
    let code_works = |code: String| {
        let db = app.state.db.clone();
        async move {
            let hash = joinedup::tokens::short_code_hash(&code);
            db.run(move |conn| joinedup::storage::samples::by_short_code_hash(conn, &hash)).await.unwrap().is_some()
        }
    };
    assert!(code_works(old_code.clone()).await && code_works(new_code.clone()).await);

    // The same people again, under the new email key: k1's opt-out and
    // k2's earlier invitation are recognised; k4 is new.
    let again: Vec<String> = ["k1@example.org", "k2@example.org", "k4@example.org"].map(String::from).to_vec();
    let refused = upload(&browser, form, action, Some(("again.csv", sample(&again))), &[]).await;
    assert!(refused.body.contains("already invited to this survey"), "{}", refused.body);
    assert!(refused.body.contains("1 address(es) in the file asked for no more emails"), "{}", refused.body);

    let (ok, out, err) = keys(&["retire-old-links"], NEW, None);
    assert!(ok && out.contains("2 link(s) sent before the last rotation no longer work"), "{out}{err}");
    assert_eq!(status(old_link("k3@example.org")).await, 404, "retired");
    assert!(!code_works(old_code).await && code_works(new_code).await, "the old code retires with the old link");
    assert_eq!(status(format!("/s/{new_token}")).await, 200);
    assert_eq!(audit(&app, "keys_rotated").await.len(), 4);
}

pub fn trials(services: &Services) -> Vec<Trial> {
    let mut trials = on_each_backend_async!(
        services, needs [Smtp];
        invitations_reach_a_real_smtp_server,
        reminders_go_only_to_non_responders,
        an_unreachable_server_leaves_everything_queued,
        a_killed_sender_resumes_without_duplicates,
        the_rate_limit_spaces_messages,
        a_lead_invites_a_thousand_and_reminds_the_non_responders,
    );
    trials.extend(on_each_backend_async!(
        services;
        invitations_say_the_right_things_to_the_right_people,
        emails_are_erased_after_the_survey_closes,
        rotated_keys_keep_links_and_opt_outs,
    ));
    trials
}

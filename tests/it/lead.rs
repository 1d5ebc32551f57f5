//! Survey leads over real HTTP on SQLite and PostgreSQL: drafts with their
//! problems on their lines, previews as every voice and language that
//! write nothing, publishing (new labels only, a diff, the content hash),
//! new versions live at once on this instance and within seconds on
//! another, immutable versions superseded while old responses keep theirs,
//! dates, closing and reopening (audited), and samples checked line by line.

use crate::common;
use crate::common::harness::Services;
use common::accounts::{Browser, audit, csrf_in};
use common::lead::{definition_with_typo, draft_id, example_definition, html, lead, upload, walk_preview};
use common::{TestApp, TestDb, Walker};
use diesel::prelude::*;
use joinedup::definitions::Voice;
use joinedup::journey::simulate::Persona;
use joinedup::storage::schema::{answers, invitation_tokens, invitees, responses, samples};
use libtest_mimic::Trial;

/// ICS, age band, sex, IMD quintile, selection probability and language of a token.
type TokenStrata = (Option<String>, Option<String>, Option<String>, Option<i32>, Option<f64>, Option<String>);

async fn count(app: &TestApp, table: &'static str) -> i64 {
    app.state
        .db
        .run(move |conn| {
            Ok(match table {
                "responses" => responses::table.count().get_result(conn)?,
                "answers" => answers::table.count().get_result(conn)?,
                "samples" => samples::table.count().get_result(conn)?,
                "invitees" => invitees::table.count().get_result(conn)?,
                "invitation_tokens" => invitation_tokens::table.count().get_result(conn)?,
                other => panic!("no table {other}"),
            })
        })
        .await
        .unwrap()
}

/// The lead's whole path for a new survey: a typo shown on its line, fixed,
/// previewed as each voice in each language (nothing written), reviewed and
/// published, and live at once here and within seconds on a second instance.
async fn a_lead_fixes_a_typo_previews_and_publishes(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let other_instance = TestApp::spawn(&db).await;
    let browser = lead(&app).await;
    let home = browser.get("/lead").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Start a new draft") && home.body.contains("format_example"), "{}", home.body);

    // Upload a definition with a typo.
    let (bad, typo_line) = definition_with_typo();
    let created =
        upload(&browser, "/lead/drafts/new", "/lead/drafts", Some(("after-a-fall.yaml", bad.into_bytes())), &[]).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let draft = created.location.unwrap();
    let id = draft_id(&draft);
    let page = browser.get(&draft).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("There is a problem"), "an error summary");
    assert!(page.body.contains(&html(&format!("Line {typo_line}: unknown domain `informaton`"))), "{}", page.body);
    assert!(page.body.contains(&html("did you mean `information`?")));
    let marked = format!("<tr class=\"joinedup-problem-line\">\n        <th scope=\"row\">{typo_line}</th>");
    assert!(page.body.contains(&marked), "the message is shown beside line {typo_line}:\n{}", page.body);
    assert!(page.body.contains("domain: informaton"), "the text is kept, typo and all");
    assert!(!page.body.contains("Review and publish"), "a broken draft offers no publishing");

    // A broken draft never reaches published, even when asked directly.
    let review = browser.get(&format!("{draft}/publish")).await;
    assert!(review.body.contains("cannot be published yet"), "{}", review.body);
    let forced = browser
        .post(&format!("{draft}/publish"), &[("csrf_token", &csrf_in(&review.body)), ("content_hash", "x")])
        .await;
    assert_eq!(forced.status, 200);
    assert!(forced.body.contains("problem(s); fix them before publishing"), "{}", forced.body);
    assert!(app.state.surveys.latest("after_a_fall").is_none());

    // Fix it in the browser.
    let fixed =
        upload(&browser, &draft, &draft, None, &[("source", &example_definition().replace('\n', "\r\n"))]).await;
    assert_eq!(fixed.status, 200, "{}", fixed.body);
    assert!(fixed.body.contains("No problems found") && fixed.body.contains("Review and publish"), "{}", fixed.body);

    // Preview as every voice, and answering the voice question, in both languages.
    for (n, voice) in
        [Some(Voice::Patient), Some(Voice::CarerSelf), Some(Voice::CarerOnBehalf), None].into_iter().enumerate()
    {
        for lang in ["en", "pl"] {
            let seen = walk_preview(&browser, id, voice, lang, n as u64).await;
            assert_eq!(seen.first().map(String::as_str) == Some("voice"), voice.is_none(), "{voice:?}: {seen:?}");
        }
    }
    let one_page = browser.get(&format!("/lead/drafts/{id}/preview/q/told_once")).await;
    assert!(one_page.body.contains("I only have to tell my story once"));
    assert_eq!((count(&app, "responses").await, count(&app, "answers").await), (0, 0), "a preview writes nothing");

    // A mistake on a preview page is shown as a respondent would see it.
    let start = browser.get(&format!("/lead/drafts/{id}/preview")).await;
    browser
        .post(
            &format!("/lead/drafts/{id}/preview/start"),
            &[("csrf_token", &csrf_in(&start.body)), ("voice", ""), ("lang", "en")],
        )
        .await;
    let voice_page = browser.get(&format!("/lead/drafts/{id}/preview/q/voice")).await;
    let empty = browser
        .post(&format!("/lead/drafts/{id}/preview/q/voice"), &[("csrf_token", &csrf_in(&voice_page.body))])
        .await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("There is a problem") && empty.body.contains("href=\"#voice\""), "{}", empty.body);
    let tampered = browser
        .post(
            &format!("/lead/drafts/{id}/preview/q/voice"),
            &[("csrf_token", &csrf_in(&voice_page.body)), ("voice", "astronaut")],
        )
        .await;
    assert_eq!(tampered.status, 400);

    // Review: the first version, its hash; publish.
    let review = browser.get(&format!("{draft}/publish")).await;
    assert!(review.body.contains("This is the first version of survey after_a_fall"), "{}", review.body);
    let hash = joinedup::definitions::content_hash(example_definition().as_bytes());
    assert!(review.body.contains(&hash), "the content hash is shown");
    let published = browser
        .post(&format!("{draft}/publish"), &[("csrf_token", &csrf_in(&review.body)), ("content_hash", &hash)])
        .await;
    assert_eq!(published.status, 303, "{}", published.body);
    assert_eq!(published.location.as_deref(), Some("/lead/surveys/after_a_fall?done=published"));
    assert_eq!(browser.get(&draft).await.status, 404, "the draft became the version");

    // Live at once here, without a restart; respondents can start it.
    let start = app.client.get(app.url("/surveys/after_a_fall")).send().await.unwrap();
    assert_eq!(start.status(), 200);
    let survey = browser.get("/lead/surveys/after_a_fall?done=published").await;
    assert!(survey.body.contains(&hash) && survey.body.contains("The new version is published"), "{}", survey.body);
    let entries = audit(&app, "survey_published").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].target.as_deref(), Some("after_a_fall 1.1"));
    assert!(entries[0].detail.as_deref().unwrap().contains(&hash));
    assert_eq!(entries[0].actor, common::lead::LEAD);

    // And on the other instance, which polls the change stamp.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let there = other_instance.client.get(other_instance.url("/surveys/after_a_fall")).send().await.unwrap();
        if there.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the other instance never saw the new survey");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A published version is never edited: a draft from it must take a new
/// label, the review shows the changed lines, and responses keep the
/// version they began on.
async fn versions_are_superseded_never_edited(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let browser = lead(&app).await;
    // A respondent starts on version 1.0 and stops half way.
    let early = Walker::new(&app, "format_example");
    let start = early.get("/surveys/format_example").await;
    early.post("/surveys/format_example/start", &Walker::pairs(&start.csrf(), &Default::default())).await;
    let mut fields = joinedup::journey::Fields::new();
    fields.insert("voice".into(), vec!["self".into()]);
    let voice = early.get("/surveys/format_example/q/voice").await;
    early.post("/surveys/format_example/q/voice", &Walker::pairs(&voice.csrf(), &fields)).await;
    let v1 = app.state.surveys.latest("format_example").unwrap();

    // Start a new version from 1.1: same label, so it cannot be published.
    let survey = browser.get("/lead/surveys/format_example").await;
    let action = format!("/lead/surveys/format_example/versions/{}/draft", v1.version.id);
    let copied = browser.post(&action, &[("csrf_token", &csrf_in(&survey.body))]).await;
    assert_eq!(copied.status, 303);
    let location = copied.location.unwrap();
    let draft = location.split('?').next().unwrap().to_string();
    let page = browser.get(&location).await;
    assert!(
        page.body.contains(&html("Line 4: survey `format_example` already has a published version `1.1`")),
        "{}",
        page.body
    );
    assert!(page.body.contains("a copy of a published version"), "{}", page.body);

    // New label and new wording.
    let text = v1
        .version
        .source_text
        .replace("version: \"1.1\"", "version: \"1.2\"")
        .replace("default: I only have to tell my story once.", "default: I only had to tell my story once.");
    let saved = upload(&browser, &draft, &draft, None, &[("source", &text)]).await;
    assert!(saved.body.contains("No problems found"), "{}", saved.body);
    let review = browser.get(&format!("{draft}/publish")).await;
    assert!(review.body.contains("Changes from version 1.1"), "{}", review.body);
    assert!(review.body.contains("adds 2 line(s) and removes 2"), "{}", review.body);
    assert!(review.body.contains("default: I only had to tell my story once."));
    assert!(review.body.contains("<tr class=\"joinedup-diff-removed\">"));
    // The text changed after review: refused, nothing published.
    let hash = joinedup::definitions::content_hash(text.as_bytes());
    upload(&browser, &draft, &draft, None, &[("source", &format!("{text}\n# one more line\n"))]).await;
    let stale = browser
        .post(&format!("{draft}/publish"), &[("csrf_token", &csrf_in(&review.body)), ("content_hash", &hash)])
        .await;
    assert!(stale.body.contains("changed since you reviewed it"), "{}", stale.body);
    let review = browser.get(&format!("{draft}/publish")).await;
    let hash = joinedup::definitions::content_hash(format!("{text}\n# one more line\n").as_bytes());
    let published = browser
        .post(&format!("{draft}/publish"), &[("csrf_token", &csrf_in(&review.body)), ("content_hash", &hash)])
        .await;
    assert_eq!(published.status, 303, "{}", published.body);

    // The early respondent carries on with 1.1's wording and submits on 1.1.
    let next = early.get("/surveys/format_example/q/told_once").await;
    assert!(next.body.contains("I only have to tell my story once."), "old wording kept");
    let mut walker = Walker::new(&app, "format_example");
    walker.answer_all(&Persona::new(Voice::Patient), 3).await;
    let newer = walker.get("/surveys/format_example/q/told_once").await;
    assert!(newer.body.contains("I only had to tell my story once."), "new respondents get 1.2");
    walker.submit().await;
    let versions: Vec<i64> = app
        .state
        .db
        .run(|conn| Ok(responses::table.order(responses::id).select(responses::survey_version_id).load(conn)?))
        .await
        .unwrap();
    let v11 = app.state.surveys.latest("format_example").unwrap();
    assert_eq!(versions, vec![v1.version.id, v11.version.id]);
    assert_eq!(v11.version.version_label, "1.2");
    let v1_id = v1.version.id;
    let stored = app.state.db.run(move |conn| joinedup::storage::surveys::by_id(conn, v1_id)).await.unwrap().unwrap();
    assert_eq!(stored.source_text, v1.version.source_text, "1.1 is unchanged");
    let page = browser.get("/lead/surveys/format_example").await;
    assert!(page.body.contains("Version 1.2") && page.body.contains("Version 1.1"));
    assert!(page.body.contains("0 sent, 1 started and not sent yet"), "1.1's in-progress response: {}", page.body);
}

/// Dates, closing and reopening, each audited; a closed survey turns new
/// respondents away; a bad date is a message, not a change.
async fn dates_close_and_reopen(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let browser = lead(&app).await;
    let version = app.state.surveys.latest("format_example").unwrap().version.id;
    let base = format!("/lead/surveys/format_example/versions/{version}");
    let survey = "/lead/surveys/format_example";

    let closed = browser.submit(survey, &format!("{base}/close"), &[]).await;
    assert_eq!(closed.location.as_deref(), Some("/lead/surveys/format_example?done=closed"));
    assert_eq!(app.client.get(app.url("/surveys/format_example")).send().await.unwrap().status(), 404);
    let reopened = browser.submit(survey, &format!("{base}/reopen"), &[]).await;
    assert_eq!(reopened.status, 303);
    assert_eq!(app.client.get(app.url("/surveys/format_example")).send().await.unwrap().status(), 200);

    let bad = browser.submit(survey, &format!("{base}/dates"), &[("opens_on", "1 March"), ("closes_on", "")]).await;
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("Enter the opening date as a date like 2026-12-31"), "{}", bad.body);
    let backwards = browser
        .submit(survey, &format!("{base}/dates"), &[("opens_on", "2026-03-01"), ("closes_on", "2026-02-01")])
        .await;
    assert!(backwards.body.contains("closing date must be on or after the opening date"), "{}", backwards.body);
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    let past = browser
        .submit(survey, &format!("{base}/dates"), &[("opens_on", "2026-01-01"), ("closes_on", &yesterday)])
        .await;
    assert_eq!(past.status, 303);
    assert_eq!(
        app.client.get(app.url("/surveys/format_example")).send().await.unwrap().status(),
        404,
        "past its closing date"
    );
    browser.submit(survey, &format!("{base}/close"), &[]).await;
    let refused = browser.submit(survey, &format!("{base}/reopen"), &[]).await;
    assert!(refused.body.contains("has passed: set a later closing date"), "{}", refused.body);

    assert_eq!(audit(&app, "survey_closed").await.len(), 2);
    assert_eq!(audit(&app, "survey_reopened").await.len(), 1);
    let dates = audit(&app, "survey_dates_changed").await;
    assert_eq!(dates.len(), 1);
    assert!(dates[0].detail.as_deref().unwrap().contains(&format!("closes {yesterday} (was 2030-12-31)")), "{dates:?}");
}

fn sample_csv(lines: &[&str]) -> Vec<u8> {
    let mut text = String::from("email,ics,age_band,sex,imd_quintile,selection_probability,language\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text.into_bytes()
}

/// Samples: every bad line named, nothing imported unless all pass or the
/// lead asks for the valid rows (the rest listed), the same file or the
/// same person twice refused, and each person's strata on their token.
async fn samples_are_checked_line_by_line(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let browser = lead(&app).await;
    let icss = joinedup::reference::icss().unwrap();
    let (ons, ods) = (&icss[0].ons_code, &icss[1].ods_code);
    let form = "/lead/surveys/format_example/samples/new";
    let action = "/lead/surveys/format_example/samples";
    let good1 = format!("ann@example.org,{ons},65-74,female,2,0.25,pl");
    let good2 = format!("bob@example.org,{ods},18-34,male,5,0.5,");
    let bad = sample_csv(&[&good1, "not-an-address,E54000008,,,,,", &good2, &format!("ANN@example.org,{ons},,,9,,")]);

    let refused = upload(&browser, form, action, Some(("sample.csv", bad.clone())), &[]).await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("nothing was imported"), "{}", refused.body);
    for (line, what) in [(3, "is not an email address"), (5, "imd_quintile"), (5, "same email address as line 2")] {
        assert!(
            refused.body.contains(&format!("<td class=\"nhsuk-table__cell nhsuk-table__cell--numeric\">{line}</td>")),
            "line {line}"
        );
        assert!(refused.body.contains(what), "{what}: {}", refused.body);
    }
    assert!(refused.body.contains("2 line(s) have no problems"));
    assert_eq!((count(&app, "samples").await, count(&app, "invitation_tokens").await), (0, 0), "nothing imported");

    let imported = upload(&browser, form, action, Some(("sample.csv", bad.clone())), &[("skip_invalid", "yes")]).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    assert!(
        imported.body.contains("2 people imported") && imported.body.contains("2 line(s) skipped"),
        "{}",
        imported.body
    );
    assert_eq!((count(&app, "invitees").await, count(&app, "invitation_tokens").await), (2, 2));
    let again = upload(&browser, form, action, Some(("sample.csv", bad)), &[("skip_invalid", "yes")]).await;
    assert!(again.body.contains("This file was imported already"), "{}", again.body);
    let twice = upload(&browser, form, action, Some(("more.csv", sample_csv(&[&good2]))), &[]).await;
    assert!(twice.body.contains("already invited to this survey"), "{}", twice.body);
    let empty = upload(&browser, form, action, None, &[]).await;
    assert!(empty.body.contains("Choose the sample file"), "{}", empty.body);
    let header = upload(&browser, form, action, Some(("x.csv", b"mail,ics\na@b.org,E54000008\n".to_vec())), &[]).await;
    assert!(header.body.contains(&html("unknown column `mail`")), "{}", header.body);

    let rows: Vec<TokenStrata> = app
        .state
        .db
        .run(|conn| {
            Ok(invitation_tokens::table
                .order(invitation_tokens::id)
                .select((
                    invitation_tokens::ics_code,
                    invitation_tokens::age_band,
                    invitation_tokens::sex,
                    invitation_tokens::imd_quintile,
                    invitation_tokens::selection_probability,
                    invitation_tokens::language,
                ))
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (Some(ons.clone()), Some("65-74".into()), Some("female".into()), Some(2), Some(0.25), Some("pl".into())),
            (
                Some(icss[1].ons_code.clone()),
                Some("18-34".into()),
                Some("male".into()),
                Some(5),
                Some(0.5),
                Some("en".into())
            ),
        ],
        "strata on the tokens; the ODS code stored as the ONS code"
    );
    let page = browser.get("/lead/surveys/format_example").await;
    assert!(page.body.contains("1: sample.csv") && page.body.contains("Send invitations to 2 people"), "{}", page.body);
    let imported = audit(&app, "sample_imported").await;
    assert_eq!(imported.len(), 1);
    assert!(imported[0].detail.as_deref().unwrap().contains("2 people imported, 2 lines skipped"));
}

/// The lead pages are for survey leads only: the guard sends others away
/// (walked for every route in tests/accounts.rs); here, an analyst.
async fn only_leads_reach_lead_pages(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    common::accounts::create_user(
        &app,
        "analyst@example.org",
        &common::accounts::password_for("a"),
        &[joinedup::accounts::Role::Analyst],
    )
    .await;
    let analyst = Browser::signed_in(&app, "analyst@example.org", &common::accounts::password_for("a")).await;
    assert_eq!(analyst.get("/lead/surveys/format_example").await.status, 403);
    assert_eq!(Browser::new(&app).get("/lead/drafts/new").await.status, 303);
}

/// What once crashed or froze the server, uploaded as drafts: each ends in
/// one clear sentence, and respondents are served throughout.
async fn hostile_definitions_get_a_sentence_and_the_server_keeps_serving(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let browser = lead(&app).await;
    let respondent = common::Walker::new(&app, "integration_index");
    let new_draft = |bytes: Vec<u8>| upload(&browser, "/lead/drafts/new", "/lead/drafts", Some(("x.yaml", bytes)), &[]);

    // 80 KB of nested list markers overflowed the writer thread's stack.
    let deep = format!("{}x\n", "- ".repeat(40_000)).into_bytes();
    let saved = new_draft(deep).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let page = browser.get(&saved.location.unwrap()).await;
    assert!(page.body.contains("nest more than 32 levels deep here; definitions are limited to 32"), "{}", page.body);
    assert_eq!(respondent.get("/surveys/integration_index").await.status, 200);

    // 150,000 short keys took minutes to check on the writer thread.
    let long: String = (0..150_000).map(|n| format!("k{n}: 1\n")).collect();
    let refused = new_draft(long.into_bytes()).await;
    assert_eq!(refused.status, 200);
    assert!(
        refused.body.contains("the file has 150000 lines; definitions are limited to 20000 lines"),
        "{}",
        refused.body
    );

    // A file with hundreds of problems: the page shows the first 50 and
    // offers every one as a download.
    let mut many = String::from("id: many_problems\nversion: \"1\"\n");
    for n in 0..300 {
        many.push_str(&format!("unknown_key_{n}: 1\n"));
    }
    let saved = new_draft(many.into_bytes()).await;
    let draft = saved.location.unwrap();
    let page = browser.get(&draft).await;
    assert!(page.body.contains("The first 50 of"), "{}", page.body);
    assert_eq!(page.body.matches("class=\"nhsuk-form-group nhsuk-form-group--error\" id=\"problem-").count(), 50);
    let all = browser.get(&format!("{draft}/problems")).await;
    assert_eq!(all.status, 200);
    assert!(all.body.lines().filter(|l| l.contains("unknown_key_")).count() >= 300, "{}", all.body);

    // Hundreds of empty parts: refused before they are read.
    let page = browser.get("/lead/drafts/new").await;
    let mut form = reqwest::multipart::Form::new().text("csrf_token", csrf_in(&page.body));
    for n in 0..400 {
        form = form.text(format!("p{n}"), "");
    }
    let parts = browser.send(browser.client.post(app.url("/lead/drafts")).multipart(form)).await;
    assert_eq!(parts.status, 400);
    assert!(parts.body.contains("more than 64 parts"), "{}", parts.body);
    assert_eq!(respondent.get("/surveys/integration_index").await.status, 200);
}

/// A large sample is written in batches: respondents' pages save while it
/// imports, and its people are counted once it is complete.
async fn respondents_save_while_a_large_sample_imports(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let browser = lead(&app).await;
    let ons = joinedup::reference::icss().unwrap()[0].ons_code.clone();
    let lines: Vec<String> = (0..20_000).map(|n| format!("person{n}@example.org,{ons},65-74,female,2,0.25,")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let csv = sample_csv(&refs);
    let form = "/lead/surveys/format_example/samples/new";
    let action = "/lead/surveys/format_example/samples";
    let importing = upload(&browser, form, action, Some(("big.csv", csv)), &[]);
    let answering = async {
        let mut walker = Walker::new(&app, "format_example");
        walker.answer_all(&Persona::new(Voice::Patient), 21).await;
        walker.submit().await
    };
    let (imported, done) = futures::future::join(importing, answering).await;
    assert_eq!(imported.status, 200, "{}", imported.body);
    assert!(imported.body.contains("20000"), "{}", imported.body);
    assert!(done.body.contains("Your answers have been sent"), "{}", done.body);
    assert_eq!(count(&app, "invitees").await, 20_000);
    let complete: Vec<bool> =
        app.state.db.run(|conn| Ok(samples::table.select(samples::complete).load(conn)?)).await.unwrap();
    assert_eq!(complete, vec![true]);
}

pub fn trials(services: &Services) -> Vec<Trial> {
    on_each_backend_async!(
        services;
        respondents_save_while_a_large_sample_imports,
        hostile_definitions_get_a_sentence_and_the_server_keeps_serving,
        a_lead_fixes_a_typo_previews_and_publishes,
        versions_are_superseded_never_edited,
        dates_close_and_reopen,
        samples_are_checked_line_by_line,
        only_leads_reach_lead_pages,
    )
}

//! The respondent journey over real HTTP, on SQLite and PostgreSQL: every
//! shipped survey in every voice, validation, routing both ways, save and
//! resume, exactly-once submit, invitations and tampering.

use std::collections::BTreeMap;

use crate::common;
use crate::common::harness::Services;
use common::{TestApp, TestDb, Walker};
use joinedup::definitions::Voice;
use joinedup::journey::simulate::Persona;
use joinedup::storage::responses;
use libtest_mimic::Trial;

/// The reference on a confirmation page.
fn reference(body: &str) -> String {
    let start = body.find("JU-").expect("a reference on the confirmation page");
    body[start..start + 12].to_string()
}

/// The rows stored for the response with `reference`.
async fn stored(app: &TestApp, reference: &str) -> (responses::Response, BTreeMap<String, String>) {
    let reference = reference.to_string();
    app.state
        .db
        .run(move |conn| {
            let response = responses::by_reference(conn, &reference)?.expect("stored response");
            let answers =
                responses::answers_of(conn, response.id)?.into_iter().map(|a| (a.question_id, a.value)).collect();
            Ok((response, answers))
        })
        .await
        .unwrap()
}

/// What the posted forms should have become in the answers table.
fn expected(walker: &Walker<'_>) -> BTreeMap<String, String> {
    let definition = walker.definition();
    let ics: std::collections::BTreeSet<String> =
        joinedup::reference::icss().unwrap().into_iter().map(|i| i.ons_code).collect();
    let mut out = BTreeMap::new();
    let mut voice = None;
    for (page_id, fields) in &walker.posted {
        let page = definition.page(page_id).unwrap();
        let wording = joinedup::journey::Wording::new(&definition, "en", voice);
        let ctx = joinedup::journey::Context { wording, ics_codes: &ics, today: chrono::Utc::now().date_naive() };
        let input = joinedup::journey::form::read_page(&ctx, page, fields).unwrap().unwrap();
        for (id, value) in input.given {
            out.insert(id, value.to_stored());
        }
        if page.question.sets_voice {
            let mut answers = joinedup::definitions::Answers::new();
            for (id, v) in &out {
                answers.insert(id.clone(), joinedup::definitions::AnswerValue::Choice(v.clone()));
            }
            voice = joinedup::journey::routing::voice_from_answers(&definition, &answers);
        }
    }
    out
}

async fn every_survey_completes_in_every_voice(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    for survey in ["integration_index", "leaving_hospital", "format_example"] {
        for (n, voice) in Voice::ALL.into_iter().enumerate() {
            let mut walker = Walker::new(&app, survey);
            walker.answer_all(&Persona::new(voice), 11 + n as u64).await;
            let done = walker.submit().await;
            assert_eq!(done.status, 200);
            assert!(done.body.contains("Your answers have been sent"), "{}", done.body);
            let (response, answers) = stored(&app, &reference(&done.body)).await;
            assert_eq!(response.status, joinedup::storage::responses::ResponseStatus::Submitted);
            assert_eq!(response.voice.as_deref(), Some(voice.code()), "{survey}");
            assert_eq!(answers, expected(&walker), "{survey} as {voice}: stored rows equal what was answered");
            if let Some(ics) = answers.get("ics").or(answers.get("area")) {
                assert_eq!(response.ics_code.as_deref(), Some(ics.as_str()));
            }
        }
    }
}

async fn errors_re_render_with_a_summary_and_keep_answers(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let mut walker = Walker::new(&app, "format_example");
    let start = walker.get("/surveys/format_example").await;
    let (_, location, _) =
        walker.post("/surveys/format_example/start", &Walker::pairs(&start.csrf(), &Default::default())).await;
    let first = location.unwrap();
    let page = walker.get(&first).await;
    // Nothing chosen on a required question.
    let (status, _, body) = walker.post(&first, &Walker::pairs(&page.csrf(), &Default::default())).await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>Error: "), "the title says there is an error");
    assert!(body.contains("There is a problem"));
    assert!(body.contains("href=\"#voice\""), "the summary links to the field");
    assert!(body.contains("autofocus"), "the summary takes focus without script");
    assert!(body.contains("nhsuk-error-message"));

    // Answer the voice page, then make a range error on a later number page.
    let mut fields = joinedup::journey::Fields::new();
    fields.insert("voice".into(), vec!["carer".into()]);
    let (_, next, _) = walker.post(&first, &Walker::pairs(&page.csrf(), &fields)).await;
    walker.posted.push(("voice".into(), fields));
    assert_eq!(next.as_deref(), Some("/surveys/format_example/q/told_once"));
    let told = walker.get("/surveys/format_example/q/told_once").await;
    let mut f = joinedup::journey::Fields::new();
    f.insert("told_once".into(), vec!["disagree".into()]);
    walker.post("/surveys/format_example/q/told_once", &Walker::pairs(&told.csrf(), &f)).await;
    let services = walker.get("/surveys/format_example/q/services").await;
    let mut f = joinedup::journey::Fields::new();
    f.insert("services".into(), vec!["gp".into(), "none".into()]);
    let (status, _, body) =
        walker.post("/surveys/format_example/q/services", &Walker::pairs(&services.csrf(), &f)).await;
    assert_eq!(status, 200);
    assert!(body.contains("None of these"), "{body}");
    assert!(body.contains("on its own"), "exclusive options are checked on the server: {body}");
    assert!(body.contains("value=\"gp\" checked"), "what was entered is kept");

    // Going back shows the earlier answer, saved.
    let back = walker.get("/surveys/format_example/q/told_once").await;
    assert!(back.body.contains("value=\"disagree\" checked"));
}

async fn tampered_forms_are_refused(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let walker = Walker::new(&app, "format_example");
    let start = walker.get("/surveys/format_example").await;
    let (status, _, _) = walker.post("/surveys/format_example/start", &[]).await;
    assert_eq!(status, 403, "no CSRF token, no response started");
    let (_, location, _) =
        walker.post("/surveys/format_example/start", &Walker::pairs(&start.csrf(), &Default::default())).await;
    let first = location.unwrap();
    let page = walker.get(&first).await;
    let csrf = page.csrf();
    let post = |pairs: Vec<(&str, &str)>| {
        let mut all = vec![("csrf_token".to_string(), csrf.clone())];
        all.extend(pairs.into_iter().map(|(a, b)| (a.to_string(), b.to_string())));
        all
    };
    let (status, _, body) = walker.post(&first, &post(vec![("voice", "astronaut")])).await;
    assert_eq!(status, 400, "an unknown option: {body}");
    assert!(body.contains("There is a problem with the form"));
    let (status, _, _) = walker.post(&first, &post(vec![("voice", "self"), ("is_admin", "1")])).await;
    assert_eq!(status, 400, "an unknown field");
    let (status, _, _) = walker.post(&first, &post(vec![("voice", "self"), ("voice", "carer")])).await;
    assert_eq!(status, 400, "one answer sent twice");
    let long = "x".repeat(20_000);
    let (status, _, _) = walker.post(&first, &post(vec![("voice", &long)])).await;
    assert_eq!(status, 400, "an over-long value");
    let mut wrong = post(vec![("voice", "self")]);
    wrong[0].1 = "0".repeat(64);
    let (status, _, _) = walker.post(&first, &wrong).await;
    assert_eq!(status, 403, "a wrong CSRF token");
    let missing = walker.get("/surveys/no_such_survey").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("Page not found"));
}

/// Shows a page of the format example, answers it, and returns where the
/// answer leads.
async fn answer_example_page(walker: &Walker<'_>, page: &str, pairs: Vec<(&str, &str)>) -> String {
    let path = format!("/surveys/format_example/q/{page}");
    let got = walker.get(&path).await;
    assert_eq!(got.status, 200, "{page}: {}", got.body);
    let mut all = vec![("csrf_token".to_string(), got.csrf())];
    all.extend(pairs.into_iter().map(|(a, b)| (a.to_string(), b.to_string())));
    let (status, location, body) = walker.post(&path, &all).await;
    assert_eq!(status, 303, "{page}: {body}");
    location.unwrap()
}

async fn changing_an_answer_discards_hidden_answers(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let walker = Walker::new(&app, "format_example");
    let start = walker.get("/surveys/format_example").await;
    walker.post("/surveys/format_example/start", &Walker::pairs(&start.csrf(), &Default::default())).await;
    let answer = |page, pairs| answer_example_page(&walker, page, pairs);
    answer("voice", vec![("voice", "self")]).await;
    answer("told_once", vec![("told_once", "agree")]).await;
    answer("records_shared", vec![("records_shared", "agree")]).await;
    let next = answer("services", vec![("services", "gp"), ("services", "hospital")]).await;
    assert_eq!(next, "/surveys/format_example/q/working_together", "routing forward");
    answer("working_together", vec![("services_talk", "agree"), ("one_plan", "neither")]).await;
    // Back to the first answer: `records_shared` shows only after agreeing.
    let after_change = answer("told_once", vec![("told_once", "disagree")]).await;
    assert_eq!(after_change, "/surveys/format_example/q/services", "the hidden page is skipped");
    let back = walker.get("/surveys/format_example/q/services").await;
    assert!(back.body.contains("href=\"/surveys/format_example/q/told_once\""), "the back link skips the hidden page");
    answer("services", vec![("services", "none")]).await;
    let id = {
        let check = walker.get("/surveys/format_example/check").await;
        assert!(!check.body.contains("Staff had my records"), "hidden pages are not on the check page");
        check
    };
    let _ = id;
    let rows: Vec<String> = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use joinedup::storage::schema::answers;
            Ok(answers::table.select(answers::question_id).load::<String>(conn)?)
        })
        .await
        .unwrap();
    for gone in ["records_shared", "services_talk", "one_plan"] {
        assert!(!rows.contains(&gone.to_string()), "{gone} should be discarded: {rows:?}");
    }
    assert!(rows.contains(&"told_once".to_string()));
}

/// Two server processes on one database, one browser moving between them:
/// a page worked out from one process's kept copy of the response, after
/// the other process changed it, is worked out again from the database,
/// so an answer routing now hides is never saved.
async fn a_page_from_an_out_of_date_copy_is_worked_out_again(db: TestDb) {
    let (app_a, app_b) = (TestApp::spawn(&db).await, TestApp::spawn(&db).await);
    let on_a = Walker::new(&app_a, "format_example");
    // The same browser (cookie jar) on the other process.
    let on_b = Walker { app: &app_b, client: on_a.client.clone(), ..Walker::new(&app_b, "format_example") };
    let answer = |on: &str, page, pairs| answer_example_page(if on == "a" { &on_a } else { &on_b }, page, pairs);
    let start = on_a.get("/surveys/format_example").await;
    on_a.post("/surveys/format_example/start", &Walker::pairs(&start.csrf(), &Default::default())).await;
    answer("a", "voice", vec![("voice", "self")]).await;
    let next = answer("a", "told_once", vec![("told_once", "agree")]).await;
    assert_eq!(next, "/surveys/format_example/q/records_shared");
    // Changed on B: `records_shared` is no longer asked.
    let next = answer("b", "told_once", vec![("told_once", "disagree")]).await;
    assert_eq!(next, "/surveys/format_example/q/services");
    // A's kept copy is older than the browser's cookie says it has seen, so
    // A reads the response afresh and never shows the page now skipped.
    let shown = on_a.get("/surveys/format_example/q/records_shared").await;
    assert!(shown.url.ends_with("/q/services"), "{}", shown.url);
    // A form for that page posted anyway saves nothing hidden.
    let posted = on_a.get("/surveys/format_example/q/services").await;
    let (_, next, _) = on_a
        .post(
            "/surveys/format_example/q/records_shared",
            &[("csrf_token".into(), posted.csrf()), ("records_shared".into(), "agree".into())],
        )
        .await;
    let next = next.unwrap();
    assert_eq!(next, "/surveys/format_example/q/services", "back on the route the database holds");
    let stored: Vec<(String, String)> = app_a
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use joinedup::storage::schema::answers;
            Ok(answers::table.select((answers::question_id, answers::value)).order(answers::question_id).load(conn)?)
        })
        .await
        .unwrap();
    let stored: Vec<(&str, &str)> = stored.iter().map(|(q, v)| (q.as_str(), v.as_str())).collect();
    assert_eq!(stored, vec![("told_once", "disagree"), ("voice", "self")]);
    // And A's next page is worked out from the database too.
    let next = answer("a", "services", vec![("services", "none")]).await;
    assert_eq!(next, "/surveys/format_example/q/anything_else");
}

/// The stored answers of the only response.
async fn stored_ids(app: &TestApp) -> Vec<String> {
    app.state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use joinedup::storage::schema::answers;
            Ok(answers::table.select(answers::question_id).order(answers::question_id).load::<String>(conn)?)
        })
        .await
        .unwrap()
}

/// A patient changes their answer to who they are answering about: their
/// own age, sex and experience are not the cared-for person's, so those
/// answers are cleared, each page asked again says why, and check answers
/// lists what was asked again.
async fn changing_the_voice_clears_answers_about_the_other_person(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let mut walker = Walker::new(&app, "format_example");
    walker.answer_all(&Persona::new(Voice::Patient), 3).await;
    assert!(stored_ids(&app).await.contains(&"age_band".to_string()));
    let voice = walker.get("/surveys/format_example/q/voice?change=1").await;
    let mut fields = joinedup::journey::Fields::new();
    fields.insert("voice".into(), vec!["on_behalf".into()]);
    fields.insert("return_to".into(), vec!["check".into()]);
    let (status, location, body) =
        walker.post("/surveys/format_example/q/voice", &Walker::pairs(&voice.csrf(), &fields)).await;
    assert_eq!(status, 303, "{body}");
    let location = location.unwrap();
    assert!(location.contains("because=voice&cleared="), "{location}");
    let stored = stored_ids(&app).await;
    for gone in ["told_once", "age_band", "sex"] {
        assert!(!stored.contains(&gone.to_string()), "{gone} was about the patient: {stored:?}");
    }
    let asked = walker.get(&location).await;
    assert!(
        asked.body.contains("You changed who you are answering about, so we need to ask this again."),
        "{}",
        asked.body
    );
    let check = walker.answer_from(&Persona::new(Voice::CarerOnBehalf), 4, location).await;
    let check = walker.get(&check).await;
    assert!(check.body.contains("Some answers were asked again"), "{}", check.body);
    assert!(check.body.contains("How old is the person you look after?"), "{}", check.body);
    let done = walker.submit().await;
    assert_eq!(done.status, 200);
}

async fn double_submits_make_one_submission(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let mut walker = Walker::new(&app, "leaving_hospital");
    walker.answer_all(&Persona::new(Voice::Patient), 7).await;
    let check = walker.get("/surveys/leaving_hospital/check").await;
    let pairs = Walker::pairs(&check.csrf(), &Default::default());
    // Ten clicks at once, from the same browser.
    let posts = (0..10).map(|_| walker.post("/surveys/leaving_hospital/submit", &pairs));
    let results = futures::future::join_all(posts).await;
    for (status, location, _) in &results {
        assert_eq!(*status, 303);
        assert_eq!(location.as_deref(), Some("/surveys/leaving_hospital/done"));
    }
    // Refresh and back-button resubmits land on the same confirmation.
    let again = walker.post("/surveys/leaving_hospital/submit", &pairs).await;
    assert_eq!(again.1.as_deref(), Some("/surveys/leaving_hospital/done"));
    let (page_id, fields) = walker.posted[1].clone();
    let resubmit =
        walker.post(&format!("/surveys/leaving_hospital/q/{page_id}"), &Walker::pairs(&check.csrf(), &fields)).await;
    assert_eq!(resubmit.1.as_deref(), Some("/surveys/leaving_hospital/done"), "a submitted response cannot change");
    let done = walker.get("/surveys/leaving_hospital/done").await;
    assert!(done.body.contains("Your answers have been sent"));
    let submitted =
        app.state.db.run(|conn| responses::count(conn, responses::ResponseStatus::Submitted)).await.unwrap();
    assert_eq!(submitted, 1);
}

async fn save_resume_and_delete(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let walker = Walker::new(&app, "format_example");
    let start = walker.get("/surveys/format_example").await;
    walker.post("/surveys/format_example/start", &Walker::pairs(&start.csrf(), &Default::default())).await;
    let page = walker.get("/surveys/format_example/q/voice").await;
    let mut f = joinedup::journey::Fields::new();
    f.insert("voice".into(), vec!["on_behalf".into()]);
    walker.post("/surveys/format_example/q/voice", &Walker::pairs(&page.csrf(), &f)).await;
    let save = walker.get("/surveys/format_example/save").await;
    let (status, _, body) =
        walker.post("/surveys/format_example/save", &Walker::pairs(&save.csrf(), &Default::default())).await;
    assert_eq!(status, 200);
    let code_start = body.find("joinedup-resume-code\">").unwrap() + "joinedup-resume-code\">".len();
    let code = body[code_start..code_start + 11].to_string();
    let link_start = body.find("/resume/").unwrap();
    let link: String = body[link_start..].chars().take_while(|c| *c != '"').collect();

    // Another browser, with the code typed in lower case and spaces.
    let other = Walker::new(&app, "format_example");
    let form = other.get("/resume").await;
    let typed = code.to_lowercase().replace('-', " ");
    let (status, location, _) =
        other.post("/resume", &[("csrf_token".into(), form.csrf()), ("code".into(), typed)]).await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("/surveys/format_example/q/told_once"), "resumes at the next unanswered page");
    let resumed = other.get(location.as_deref().unwrap()).await;
    assert!(resumed.body.contains("The person I look after only has to tell their story once"), "in the saved voice");

    // A third browser, through the link.
    let third = Walker::new(&app, "format_example");
    let via_link = third.get(&link).await;
    assert!(via_link.url.ends_with("/q/told_once"), "{}", via_link.url);

    let wrong =
        other.post("/resume", &[("csrf_token".into(), form.csrf()), ("code".into(), "AAAAA-BBBBB".into())]).await;
    assert_eq!(wrong.0, 200);
    assert!(wrong.2.contains("There is a problem"));

    // Delete it; the code then no longer works.
    let confirm = walker.get("/surveys/format_example/delete").await;
    let (status, _, body) =
        walker.post("/surveys/format_example/delete", &Walker::pairs(&confirm.csrf(), &Default::default())).await;
    assert_eq!(status, 200);
    assert!(body.contains("Your answers have been deleted"));
    let count = app.state.db.run(|conn| responses::count(conn, responses::ResponseStatus::InProgress)).await.unwrap();
    assert_eq!(count, 0);
    let gone = other.post("/resume", &[("csrf_token".into(), form.csrf()), ("code".into(), code)]).await;
    assert!(gone.2.contains("There is a problem"));
}

async fn invitations_preset_voice_and_area(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let token = joinedup::tokens::new_token();
    let hash = joinedup::tokens::hash(&token);
    app.state
        .db
        .run(move |conn| {
            joinedup::storage::invitations::insert(
                conn,
                &[joinedup::storage::invitations::NewInvitation {
                    token_hash: hash,
                    survey_id: "integration_index".into(),
                    ics_code: Some("E54000008".into()),
                    voice: Some("carer_on_behalf".into()),
                    created_at: joinedup::storage::now(),
                    ..Default::default()
                }],
            )
        })
        .await
        .unwrap();
    let walker = Walker::new(&app, "integration_index");
    let start = walker.get(&format!("/s/{token}")).await;
    assert_eq!(start.status, 200);
    let pairs = Walker::pairs(&start.csrf(), &Default::default());
    let link = format!("/s/{token}");
    let (a, b) = tokio::join!(walker.post(&link, &pairs), walker.post(&link, &pairs));
    assert_eq!(a.0, 303);
    assert_eq!(b.0, 303);
    let first = walker.get(a.1.as_deref().unwrap()).await;
    let definition = walker.definition();
    let voice_page = &definition.voice_question().unwrap().id;
    assert!(!first.url.ends_with(&format!("/q/{voice_page}")), "the voice question is skipped: {}", first.url);
    assert!(
        first.body.contains("the person you look after") || first.body.contains("The person you look after"),
        "on-behalf wording"
    );
    let all = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use joinedup::storage::schema::responses;
            Ok(responses::table.select((responses::channel, responses::voice, responses::ics_code)).load::<(
                String,
                Option<String>,
                Option<String>,
            )>(
                conn
            )?)
        })
        .await
        .unwrap();
    assert_eq!(
        all,
        vec![("invitation".to_string(), Some("carer_on_behalf".to_string()), Some("E54000008".to_string()))],
        "one response per invitation"
    );
}

async fn pages_carry_security_headers(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let r = app.client.get(app.url("/surveys/integration_index")).send().await.unwrap();
    let h = r.headers();
    assert!(h["content-security-policy"].to_str().unwrap().contains("script-src 'none'"));
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let css = app.client.get(app.url("/assets/nhsuk-frontend-10.6.1.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(!css.text().await.unwrap().contains("assets.nhs.uk"), "no external fonts");
}

pub fn trials(services: &Services) -> Vec<Trial> {
    on_each_backend_async!(
        services;
        every_survey_completes_in_every_voice,
        errors_re_render_with_a_summary_and_keep_answers,
        tampered_forms_are_refused,
        changing_an_answer_discards_hidden_answers,
        a_page_from_an_out_of_date_copy_is_worked_out_again,
        changing_the_voice_clears_answers_about_the_other_person,
        double_submits_make_one_submission,
        save_resume_and_delete,
        invitations_preset_voice_and_area,
        pages_carry_security_headers,
    )
}

//! `joinedup print questionnaire` through the real binary on a database
//! that has only been migrated, read back with poppler as a reader's
//! software reads it: tagged, fonts embedded, every question's wording in
//! its voice and language, the routing in words, large print at 16 pt.

use std::path::Path;
use std::process::Command;

use joinedup::definitions::{QuestionKind, SurveyDefinition, Voice};
use joinedup::storage::DatabaseUrl;
use libtest_mimic::Trial;

use crate::common::{self, TestDb};

/// The key `TestApp` runs with (`common::settings`), so a code printed by
/// the command opens the app's invitation.
const SECRET: &str = "test-secret-key-that-is-long-enough-0123456789";

fn joinedup(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let database = match &db.url {
        DatabaseUrl::Sqlite(path) => path.display().to_string(),
        DatabaseUrl::Postgres(url) => url.clone(),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_joinedup"))
        .args(args)
        .env("DATABASE_URL", database)
        .env("JOINEDUP_DEFINITIONS", common::project_path("survey-definitions"))
        .env("JOINEDUP_BASE_URL", "https://survey.example.nhs.uk")
        .env("JOINEDUP_SECRET_KEY", SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run joinedup");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// A poppler tool's standard output; poppler 22's complaint about krilla's
/// `/Suspects false` on standard error is not the PDF's fault.
fn poppler(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().expect("poppler-utils");
    assert!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Text with every run of white space made one space: lines wrapped on
/// the page read as the sentence they are.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn definition() -> SurveyDefinition {
    let path = common::project_path("survey-definitions").join("format-example.yaml");
    joinedup::definitions::load_file(&path).expect("loads").definition
}

/// Prints one copy and checks what every copy must be.
fn print(db: &TestDb, dir: &Path, voice: Voice, language: &str, large: bool) -> (String, std::path::PathBuf) {
    let out = dir.join(format!("{voice}-{language}-{large}.pdf"));
    let mut args =
        vec!["print", "questionnaire", "--survey", "format_example", "--voice", voice.code(), "--lang", language];
    args.extend(["--out", out.to_str().unwrap()]);
    if large {
        args.push("--large-print");
    }
    let (ok, stdout, stderr) = joinedup(db, &args);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("wrote"), "{stdout}");
    let file = out.to_str().unwrap();
    let info = poppler("pdfinfo", &[file]);
    assert!(info.lines().any(|l| l.starts_with("Tagged:") && l.ends_with("yes")), "{info}");
    assert!(info.contains("595.28 x 841.89 pts (A4)"), "{info}");
    let fonts = poppler("pdffonts", &[file]);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{fonts}");
    for row in rows {
        // name type encoding emb sub uni ...: the name has no spaces, the type may.
        let columns: Vec<&str> = row.split_whitespace().collect();
        let emb = columns[columns.len() - 5];
        assert_eq!(emb, "yes", "a font is not embedded: {row}");
        assert!(row.contains("Lato"), "{row}");
    }
    (poppler("pdftotext", &["-layout", file, "-"]), out)
}

fn every_question_is_printed_in_its_voice_and_language(db: TestDb) {
    let (ok, _, stderr) = joinedup(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let d = definition();
    for language in ["en", "pl"] {
        for voice in d.voices.clone() {
            let (text, _) = print(&db, dir.path(), voice, language, false);
            let text = flat(&text);
            let mut number = 0;
            for page in &d.pages {
                let q = &page.question;
                let wording = flat(q.text.get(language, Some(voice)));
                let printed = text.contains(&wording);
                let for_this_voice = match page.show_if.as_ref().map(|c| c.source.as_str()) {
                    Some("voice in ['carer_self', 'carer_on_behalf']") => voice != Voice::Patient,
                    Some(s) if s.starts_with("voice == 'carer_self'") => voice == Voice::CarerSelf,
                    _ => true,
                };
                if q.sets_voice || !for_this_voice {
                    assert!(!printed, "{voice} {language}: `{}` is not theirs but is printed", q.id);
                    continue;
                }
                number += 1;
                assert!(
                    text.contains(&format!("{number}. {wording}")),
                    "{voice} {language}: question {number} should be `{}`: {wording}",
                    q.id
                );
                if let QuestionKind::LikertGroup { items, .. } = &q.kind {
                    for item in items {
                        assert!(text.contains(&flat(item.text.get(language, Some(voice)))), "{}", item.id);
                    }
                }
                for option in q.kind.options().iter().filter(|o| o.shown_to(Some(voice))) {
                    assert!(text.contains(&flat(option.label.get(language, Some(voice)))), "{}", option.code);
                }
            }
            // The routing in words, in the copy's language.
            let (go_to, only_if) =
                if language == "en" { ("Go to question", "only if") } else { ("przejść do pytania", "tylko wtedy") };
            assert!(text.contains(go_to), "{voice} {language}: no `go to`");
            assert!(text.contains(only_if), "{voice} {language}: no `only if`");
        }
    }
}

/// The routing of the patient's English copy, said exactly: question 1
/// (`told_once`) filters question 2, and question 3 (`services`) decides
/// question 4 with two conditions.
fn the_routing_is_said_as_the_definition_routes(db: TestDb) {
    let (ok, _, stderr) = joinedup(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let (text, _) = print(&db, dir.path(), Voice::Patient, "en", false);
    let text = flat(&text);
    // show_if: told_once in ['agree', 'neither']
    assert!(text.contains("Disagree Go to question 3"), "{text}");
    assert!(text.contains("Don't know Go to question 3"), "{text}");
    assert!(!text.contains("Agree Go to"), "{text}");
    // show_if: services contains 'gp' and (services contains 'hospital' or services contains 'social_care')
    assert!(
        text.contains(
            "Answer question 4 only if you ticked \"GP practice\" at question 3 and (you ticked \"Hospital\" at \
             question 3 or you ticked \"Social care\" at question 3)."
        ),
        "{text}"
    );
    // `services` may have several answers, so only its exclusive option jumps.
    assert!(text.contains("None of these Go to question 6"), "{text}");
    // show_if: answered(told_once) and told_once != 'agree'
    assert!(
        text.contains(
            "Answer question 6 only if you answered question 1 and you did not tick \"Agree\" at question 1."
        ),
        "{text}"
    );
    // The voice test of a carers' question is settled: a patient never sees it.
    assert!(!text.contains("carer"), "{text}");
}

/// Large print: every word (footer included) at 16 pt or more, read from
/// poppler's word boxes; standard print has smaller words, so the measure
/// can tell them apart.
fn large_print_is_sixteen_point_or_more(db: TestDb) {
    let (ok, _, stderr) = joinedup(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let smallest = |path: &Path| {
        let html = poppler("pdftotext", &["-bbox", path.to_str().unwrap(), "-"]);
        let heights: Vec<f64> = html
            .lines()
            .filter(|l| l.trim_start().starts_with("<word"))
            .map(|l| {
                let attr = |name: &str| -> f64 {
                    let start = l.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                    l[start..].split('"').next().unwrap().parse().unwrap()
                };
                attr("yMax") - attr("yMin")
            })
            .collect();
        assert!(heights.len() > 100, "{html}");
        heights.into_iter().fold(f64::INFINITY, f64::min)
    };
    let (_, large) = print(&db, dir.path(), Voice::CarerSelf, "pl", true);
    let (_, standard) = print(&db, dir.path(), Voice::CarerSelf, "pl", false);
    // poppler's word box is as high as the font size.
    let (large, standard) = (smallest(&large), smallest(&standard));
    assert!(large >= 15.99, "the smallest large-print word is {large:.2} pt");
    assert!(standard < 15.0, "standard print measured {standard:.1} pt");
}

fn a_voice_language_or_version_the_survey_lacks_is_named(db: TestDb) {
    let (ok, _, stderr) = joinedup(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.pdf");
    let out = out.to_str().unwrap();
    let base = ["print", "questionnaire", "--out", out];
    let example = "format_example";
    let cases: [(&[&str], &str); 4] = [
        (
            &["--survey", example, "--voice", "patient", "--lang", "cy"],
            "survey `format_example` has no language `cy`; it has: en, pl",
        ),
        (
            &["--survey", example, "--voice", "visitor"],
            "there is no voice `visitor`; the voices are patient, carer_self, carer_on_behalf",
        ),
        (
            &["--survey", example, "--voice", "patient", "--version", "9.9"],
            "survey `format_example` has no published version `9.9`; it has 1.1",
        ),
        (&["--voice", "patient", "--survey", "nope"], "no published survey has the id `nope`"),
    ];
    for (extra, message) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let (ok, _, stderr) = joinedup(&db, &args);
        assert!(!ok, "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!Path::new(out).exists(), "nothing is written on a refusal");
    }
}

/// Migrates, publishes the shipped surveys (printing does) and imports a
/// sample of three: one by email, two by letter (one in Polish, one who
/// also has an email address but asked for letters).
fn postal_sample(db: &TestDb, dir: &Path) {
    postal_sample_with(db, dir, &[]);
}

/// The same, with more options for `invite` (`--double-entry`).
fn postal_sample_with(db: &TestDb, dir: &Path, options: &[&str]) {
    let (ok, _, stderr) = joinedup(db, &["migrate"]);
    assert!(ok, "{stderr}");
    let blank = dir.join("blank.pdf");
    let args = ["print", "questionnaire", "--survey", "format_example", "--voice", "patient"];
    let (ok, _, stderr) = joinedup(db, &[&args[..], &["--out", blank.to_str().unwrap()]].concat());
    assert!(ok, "{stderr}");
    let sample = dir.join("sample.csv");
    std::fs::write(&sample, common::POSTAL_SAMPLE).unwrap();
    let invite = ["invite", "--survey", "format_example", "--no-send", "--sample", sample.to_str().unwrap()];
    let (ok, stdout, stderr) = joinedup(db, &[&invite[..], options].concat());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("imported 3 people"), "{stdout}");
    // Only the one to be emailed is queued for email.
    assert!(stdout.contains("queued 1 invitation(s)"), "{stdout}");
}

/// The code printed after "your code:" on a letter.
fn codes_in(text: &str) -> Vec<String> {
    let flat = flat(text);
    flat.replace("kod: ", "code: ")
        .split("code: ")
        .skip(1)
        .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        .collect()
}

async fn letters_carry_a_link_and_a_code_that_open_the_invitation(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    postal_sample(&db, dir.path());
    let pdf = dir.path().join("letters.pdf");
    let args = ["print", "letters", "--sample", "1", "--out", pdf.to_str().unwrap()];
    let (ok, stdout, stderr) = joinedup(&db, &args);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("2 invitation letters"), "{stdout}");
    let info = poppler("pdfinfo", &[pdf.to_str().unwrap()]);
    assert!(info.contains("Tagged:          yes") && info.contains("Pages:           2"), "{info}");
    let text = poppler("pdftotext", &["-layout", pdf.to_str().unwrap(), "-"]);
    for expected in ["LS1 4AP", "1 High Street", "Szanowni Państwo", "YO1 7HH", "York", "Dear resident"] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    assert!(!text.contains("ann@example.org") && !text.contains("bob@example.org"), "{text}");
    let codes = codes_in(&text);
    assert_eq!(codes.len(), 2, "{text}");
    // Printing again prints nothing new: each person has had their letter.
    let (ok, stdout, _) = joinedup(&db, &args);
    assert!(ok && stdout.contains("no letters to print"), "{stdout}");

    // Each code, typed at /s in any case and spacing, opens that person's
    // invitation, in the language the sample gave them.
    let app = common::TestApp::spawn(&db).await;
    let walker = common::Walker::new(&app, "format_example");
    let form = walker.get("/s").await;
    assert_eq!(form.status, 200, "{}", form.body);
    for (code, words) in codes.iter().zip(["Przykładowa ankieta", "Format example survey"]) {
        let typed = code.to_lowercase().replace('-', " ");
        let (status, location, body) =
            walker.post("/s", &[("csrf_token".into(), form.csrf()), ("code".into(), typed)]).await;
        assert_eq!(status, 303, "{body}");
        let location = location.unwrap();
        assert!(location.starts_with("/s/"), "{location}");
        let start = walker.get(&location).await;
        assert_eq!(start.status, 200);
        assert!(start.body.contains(words), "{code}: {}", start.body);
    }
    // A wrong code says so on the form, keeping what was typed.
    let (status, _, body) =
        walker.post("/s", &[("csrf_token".into(), form.csrf()), ("code".into(), "ABCD-EFGH-JKM".into())]).await;
    assert_eq!(status, 200);
    assert!(body.contains("Enter the code exactly as it is printed on your letter"), "{body}");
    assert!(body.contains("value=\"ABCD-EFGH-JKM\""), "{body}");
}

/// Reminder letters follow the reminder emails' rules: not before the
/// delay, never to someone who opted out, and a mail-merge CSV has one
/// line per letter with the address split into columns.
async fn reminder_letters_go_only_to_those_still_due(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    postal_sample(&db, dir.path());
    let pdf = dir.path().join("letters.pdf");
    let (ok, _, stderr) = joinedup(&db, &["print", "letters", "--sample", "1", "--out", pdf.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let csv = dir.path().join("reminders.csv");
    let reminders = ["print", "letters", "--sample", "1", "--reminder", "--out", csv.to_str().unwrap()];
    let (ok, stdout, stderr) = joinedup(&db, &reminders);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("0 due") && stdout.contains("2 too soon"), "{stdout}");

    // Eight days on (the delay is seven), and one of the two has opted out.
    let store = joinedup::storage::Db::connect(&db.url).unwrap();
    let mut conn = store.get().unwrap();
    let week_ago = chrono::Utc::now().naive_utc() - chrono::Duration::days(8);
    {
        use diesel::prelude::*;
        use joinedup::storage::schema::letters;
        diesel::update(letters::table).set(letters::printed_at.eq(week_ago)).execute(&mut **conn).unwrap();
    }
    let people = joinedup::storage::letters::sample_people(&mut conn, 1).unwrap();
    let york = people.iter().find(|p| p.postcode.as_deref() == Some("YO1 7HH")).unwrap();
    let invitee = joinedup::storage::samples::by_invitation(&mut conn, york.invitation_id).unwrap().unwrap();
    joinedup::storage::samples::opt_out(&mut conn, &invitee, chrono::Utc::now().naive_utc()).unwrap();
    drop(conn);

    let (ok, stdout, stderr) = joinedup(&db, &reminders);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 due") && stdout.contains("1 opted out"), "{stdout}");
    let merged = std::fs::read_to_string(&csv).unwrap();
    let mut lines = merged.lines();
    assert_eq!(
        lines.next(),
        Some("code,kind,round,language,address_1,address_2,address_3,address_4,address_5,address_6,postcode,link,date")
    );
    let row: Vec<&str> = lines.next().expect("one reminder").split(',').collect();
    assert_eq!(&row[1..6], ["reminder", "1", "pl", "1 High Street", "Leeds"]);
    assert_eq!(row[10], "LS1 4AP");
    assert!(row[11].starts_with("https://survey.example.nhs.uk/s/"), "{merged}");
    assert_eq!(lines.next(), None);
    // Printed once: asking again prints nothing.
    let (ok, stdout, _) = joinedup(&db, &reminders);
    assert!(ok && stdout.contains("0 due"), "{stdout}");
}

/// With --sample: one numbered copy per person still to answer, each with
/// their code, voice and language; the ICS the sample gave is not asked.
fn sample_copies_are_numbered_and_worded_for_each_person(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    postal_sample(&db, dir.path());
    let out = dir.path().join("copies.pdf");
    let args = ["print", "questionnaire", "--survey", "format_example", "--voice", "patient", "--sample", "1"];
    let (ok, stdout, stderr) = joinedup(&db, &[&args[..], &["--out", out.to_str().unwrap()]].concat());
    assert!(ok, "{stderr}");
    assert!(stdout.contains("3 numbered copies"), "{stdout}");
    let text = poppler("pdftotext", &["-layout", out.to_str().unwrap(), "-"]);
    let serials: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.split(" Serial ").nth(1).or_else(|| l.split(" Numer ").nth(1)))
        .filter_map(|rest| rest.split_whitespace().next().map(str::to_string))
        .collect();
    assert_eq!(serials.len(), 3, "{text}");
    assert!(text.contains("Przykładowa ankieta"), "the Polish copy: {text}");
    assert!(!text.contains("Which area do you live in?"), "the sample gave the ICS: {text}");
    // Page numbers start again with each copy.
    let flat = flat(&text);
    for serial in &serials {
        assert!(flat.contains(&format!("{serial} 1 ")), "{serial}: {flat}");
    }
}

/// The serial printed on a sampled person's copy, worked out as printing
/// does, from their seed and the app's key.
fn serial_of(db: &TestDb, postcode: Option<&str>) -> (String, i64, i64) {
    let store = joinedup::storage::Db::connect(&db.url).unwrap();
    let mut conn = store.get().unwrap();
    let people = joinedup::storage::letters::sample_people(&mut conn, 1).unwrap();
    let person = people.iter().find(|p| p.postcode.as_deref() == postcode).unwrap();
    (joinedup::tokens::short_code(SECRET, person.seed.as_ref().unwrap()), person.invitee_id, person.invitation_id)
}

/// A returned form keyed by serial: validation as on paper, a skipped
/// question's answer kept, flagged and not scored once confirmed, the
/// response counted under mode paper with its invitation's base weight;
/// the same serial refused the second time; and a form from someone who
/// answered online kept as a duplicate, not counted.
async fn a_keyed_paper_form_counts_under_mode_paper(db: TestDb) {
    use joinedup::accounts::Role;
    use joinedup::storage::responses::{self, Mode};
    let dir = tempfile::tempdir().unwrap();
    postal_sample(&db, dir.path());
    let (serial, invitee_id, invitation_id) = serial_of(&db, Some("LS1 4AP"));
    let letters = dir.path().join("letters.csv");
    let (ok, _, stderr) = joinedup(&db, &["print", "letters", "--sample", "1", "--out", letters.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let app = common::TestApp::spawn(&db).await;
    let password = common::accounts::password_for("keyer");
    let keyer = common::accounts::create_user(&app, "keyer@example.org", &password, &[Role::DataEntry]).await;
    let browser = common::accounts::Browser::signed_in(&app, "keyer@example.org", &password).await;
    // Others may not key: the role guards every data entry route.
    let lead_password = common::accounts::password_for("lead");
    common::accounts::create_user(&app, "lead@example.org", &lead_password, &[Role::SurveyLead]).await;
    let lead = common::accounts::Browser::signed_in(&app, "lead@example.org", &lead_password).await;
    assert_eq!(lead.get("/data-entry").await.status, 403);

    // An unknown serial is named.
    let reply = browser.submit("/data-entry", "/data-entry/find", &[("serial", "ZZZZ-ZZZZ-ZZZ")]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("No questionnaire has the serial ZZZZ-ZZZZ-ZZZ"), "{}", reply.body);
    // The serial as a keyer may type it.
    let typed = serial.to_lowercase().replace('-', " ");
    let reply = browser.submit("/data-entry", "/data-entry/find", &[("serial", &typed)]).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    let form_path = reply.location.unwrap();
    assert_eq!(form_path, format!("/data-entry/forms/{invitee_id}"));
    let form = browser.get(&form_path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    // The carer's Polish copy: every printed question, numbered, on one page.
    assert!(form.body.contains("1. Swoją historię muszę opowiedzieć tylko raz."), "{}", form.body);
    assert!(form.body.contains("Ile mniej więcej godzin"), "{}", form.body);
    assert!(!form.body.contains("name=\"ics\""), "the sample gave the ICS");
    let csrf = common::accounts::csrf_in(&form.body);

    // A number out of range re-renders with the summary and keeps the rest.
    let mut fields = vec![
        ("csrf_token", csrf.as_str()),
        ("voice", "carer_self"),
        ("told_once", "disagree"),
        ("records_shared", "agree"),
        ("caring_hours", "900"),
    ];
    let reply = browser.post(&form_path, &fields).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("nhsuk-error-summary"), "{}", reply.body);
    assert!(reply.body.contains("value=\"disagree\" checked"), "kept: {}", reply.body);
    // In range: the routing warning, not a block.
    fields[4] = ("caring_hours", "30");
    let reply = browser.post(&form_path, &fields).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("Answers the routing skips"), "{}", reply.body);
    assert!(
        reply.body.contains("answered question 2,") || reply.body.contains("answered question 2 "),
        "{}",
        reply.body
    );
    fields.push(("confirm", "yes"));
    let reply = browser.post(&form_path, &fields).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(reply.location.as_deref(), Some("/data-entry?done=counted"));

    let (response, answers, rows) = app
        .state
        .db
        .run(move |conn| {
            let r = responses::by_invitation(conn, invitation_id)?.unwrap();
            let a = responses::answers_of(conn, r.id)?;
            let rows = joinedup::storage::results::for_survey(conn, "format_example", None, None)?;
            Ok((r, a, rows))
        })
        .await
        .unwrap();
    assert_eq!(
        (response.mode, response.keyed_by, response.voice.as_deref()),
        (Mode::Paper, Some(keyer), Some("carer_self"))
    );
    assert_eq!(response.language, "pl");
    assert_eq!(answers.len(), 3, "every keyed answer is kept: {answers:?}");
    let row = rows.iter().find(|r| r.response_id == response.id).expect("counted");
    assert_eq!((row.mode, row.base_weight), (Mode::Paper, 1.0));
    assert!(!row.choices.contains("records_shared"), "an off-route answer is not scored: {}", row.choices);
    let flagged = app
        .state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use joinedup::storage::schema::answers;
            Ok(answers::table
                .filter(answers::response_id.eq(response.id))
                .filter(answers::off_route.eq(true))
                .select(answers::question_id)
                .load::<String>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(flagged, ["records_shared"]);

    // The same serial again is refused, naming when it was keyed.
    let reply = browser.submit("/data-entry", "/data-entry/find", &[("serial", &serial)]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("was keyed on"), "{}", reply.body);

    // Ann answered online first; her paper form is kept but not counted.
    let (ann_serial, _, ann_invitation) = serial_of(&db, None);
    let version = app.state.surveys.latest("format_example").unwrap().version.id;
    let online = app
        .state
        .db
        .write(move |conn| {
            let now = joinedup::storage::now();
            let new = responses::NewResponse::begun(version, responses::Channel::Invitation, "en", "JU-TEST-ONLN", now)
                .invited(ann_invitation, Some("patient"), Some("E54000008"));
            let r = responses::create(conn, &new)?;
            responses::submit(conn, r.id, None, now)?;
            Ok(r.id)
        })
        .await
        .unwrap();
    let reply = browser.submit("/data-entry", "/data-entry/find", &[("serial", &ann_serial)]).await;
    let ann_form = reply.location.unwrap();
    let page = browser.get(&ann_form).await;
    assert!(page.body.contains("Already answered online"), "{}", page.body);
    let csrf = common::accounts::csrf_in(&page.body);
    let reply =
        browser.post(&ann_form, &[("csrf_token", csrf.as_str()), ("voice", "patient"), ("told_once", "agree")]).await;
    assert_eq!(reply.location.as_deref(), Some("/data-entry?done=duplicate"), "{}", reply.body);
    let (counted, duplicates) =
        app.state.db.run(|conn| joinedup::storage::keying::counts(conn, "format_example")).await.unwrap();
    assert_eq!((counted, duplicates), (1, 1));
    let still = app.state.db.run(move |conn| responses::by_invitation(conn, ann_invitation)).await.unwrap().unwrap();
    assert_eq!(still.id, online, "the online answer still counts");

    // The lead sees the rates by channel and mode, and downloads the
    // blank questionnaire. Two were written to by letter, one answered on
    // paper; Ann was never emailed (--no-send), so the email row is empty.
    let page = lead.get("/lead/surveys/format_example").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let flat_page = flat(&page.body);
    assert!(flat_page.contains("Response rates by channel and mode"), "{flat_page}");
    let letter_row = flat_page.split("scope=\"row\">Letter</th>").nth(1).unwrap();
    let cells: Vec<&str> = letter_row
        .split("nhsuk-table__cell--numeric\">")
        .skip(1)
        .take(4)
        .map(|c| c.split('<').next().unwrap())
        .collect();
    assert_eq!(cells, ["2", "0", "1", "50.0%"], "{letter_row}");
    assert!(flat_page.contains("1 paper questionnaire(s) keyed and counted; 1 kept as duplicates"), "{flat_page}");
    let pdf = lead
        .send(lead.client.get(app.url("/lead/surveys/format_example/paper?voice=carer_self&lang=pl&large=1")))
        .await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert!(
        pdf.headers["content-disposition"].to_str().unwrap().contains("format_example-1.1-carer_self-pl-large.pdf")
    );
}

/// Opens a form page and posts `answers` with its CSRF token: the page
/// and the reply.
async fn key_form(
    browser: &common::accounts::Browser<'_>,
    path: String,
    answers: Vec<(&str, &str)>,
) -> (String, common::accounts::Reply) {
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = common::accounts::csrf_in(&page.body);
    let mut fields = vec![("csrf_token", csrf.as_str())];
    fields.extend(answers.iter().copied());
    let reply = browser.post(&path, &fields).await;
    (page.body, reply)
}

/// Double entry: the first keying is kept, not counted; its keyer may not
/// key the second; the second keyer sees a blank form; forms whose two
/// keyings agree count at once; differing ones wait on the comparison
/// page, where a mistake re-renders and the settled form counts with each
/// keyer's errors measured against it.
async fn double_entry_settles_differences_and_measures_each_keyer(db: TestDb) {
    use joinedup::accounts::Role;
    use joinedup::storage::responses;
    let dir = tempfile::tempdir().unwrap();
    postal_sample_with(&db, dir.path(), &["--double-entry"]);
    let (serial, invitee_id, invitation_id) = serial_of(&db, Some("LS1 4AP"));
    let (ann_serial, _, ann_invitation) = serial_of(&db, None);
    let app = common::TestApp::spawn(&db).await;
    let mut keyers = Vec::new();
    for name in ["first", "second"] {
        let email = format!("{name}@example.org");
        let password = common::accounts::password_for(name);
        let id = common::accounts::create_user(&app, &email, &password, &[Role::DataEntry]).await;
        keyers.push((id, common::accounts::Browser::signed_in(&app, &email, &password).await));
    }
    let (first_id, first) = &keyers[0];
    let (_, second) = &keyers[1];
    let form_path = format!("/data-entry/forms/{invitee_id}");
    let counted = |invitation: i64| {
        let db = app.state.db.clone();
        async move { db.run(move |conn| responses::by_invitation(conn, invitation)).await.unwrap() }
    };

    // The first keying: kept, not counted.
    let carer =
        vec![("voice", "carer_self"), ("told_once", "agree"), ("records_shared", "agree"), ("caring_hours", "30")];
    let (page, reply) = key_form(first, form_path.clone(), carer).await;
    assert!(page.contains("this is the first keying"), "{page}");
    assert_eq!(reply.location.as_deref(), Some("/data-entry?done=first"), "{}", reply.body);
    assert!(counted(invitation_id).await.is_none(), "a first keying does not count");
    // Its keyer may not key it again.
    let reply = first.submit("/data-entry", "/data-entry/find", &[("serial", &serial)]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("You keyed this questionnaire the first time"), "{}", reply.body);
    assert_eq!(first.get(&form_path).await.status, 200, "the home page with the refusal");

    // The second keyer finds it blank, and keys two answers otherwise.
    let reply = second.submit("/data-entry", "/data-entry/find", &[("serial", &serial)]).await;
    assert_eq!(reply.location.as_deref(), Some(form_path.as_str()), "{}", reply.body);
    let differing =
        vec![("voice", "carer_self"), ("told_once", "agree"), ("records_shared", "disagree"), ("caring_hours", "3")];
    let (page, reply) = key_form(second, form_path.clone(), differing).await;
    assert!(page.contains("this is the second keying"), "{page}");
    assert!(!page.contains(" checked"), "the second keying is blind: {page}");
    assert!(!page.contains("value=\"30\""), "the second keying is blind");
    let compare_path = format!("{form_path}/compare");
    assert_eq!(reply.location.as_deref(), Some(compare_path.as_str()), "{}", reply.body);
    assert!(counted(invitation_id).await.is_none(), "differing keyings do not count");

    // Waiting on the home page; the comparison shows only what differs.
    let home = first.get("/data-entry").await;
    assert!(home.body.contains("Keyed twice, waiting to be resolved"), "{}", home.body);
    assert!(home.body.contains(&compare_path), "{}", home.body);
    let page = first.get(&compare_path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("name=\"records_shared\""), "{}", page.body);
    assert!(page.body.contains("name=\"caring_hours\""), "{}", page.body);
    assert!(!page.body.contains("name=\"told_once\""), "agreed answers are not keyed again: {}", page.body);
    let flat_page = flat(&page.body);
    assert!(flat_page.contains("First keying</dt> <dd class=\"nhsuk-summary-list__value\">30"), "{flat_page}");
    assert!(flat_page.contains("Second keying</dt> <dd class=\"nhsuk-summary-list__value\">3"), "{flat_page}");
    // A mistake re-renders with the summary, keeping what was keyed.
    let csrf = common::accounts::csrf_in(&page.body);
    let reply = first
        .post(&compare_path, &[("csrf_token", csrf.as_str()), ("records_shared", "agree"), ("caring_hours", "900")])
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("nhsuk-error-summary"), "{}", reply.body);
    assert!(reply.body.contains("value=\"agree\" checked"), "{}", reply.body);
    // A field of an agreed question is tampering.
    let reply = first.post(&compare_path, &[("csrf_token", csrf.as_str()), ("told_once", "disagree")]).await;
    assert_eq!(reply.status, 400);
    // Resolved as the form says (the first keyer was right).
    let reply = first
        .post(&compare_path, &[("csrf_token", csrf.as_str()), ("records_shared", "agree"), ("caring_hours", "30")])
        .await;
    assert_eq!(reply.location.as_deref(), Some("/data-entry?done=counted"), "{}", reply.body);
    let response = counted(invitation_id).await.expect("the settled form counts");
    let answers = app.state.db.run(move |conn| responses::answers_of(conn, response.id)).await.unwrap();
    let values: Vec<(String, String)> = answers.into_iter().map(|a| (a.question_id, a.value)).collect();
    assert_eq!(
        values,
        [
            ("caring_hours".into(), "30".into()),
            ("records_shared".into(), "agree".into()),
            ("told_once".into(), "agree".into())
        ]
    );
    assert_eq!(response.keyed_by, Some(*first_id), "the resolver saved it");
    assert_eq!(first.get(&compare_path).await.status, 200, "a settled form is refused, not compared");
    assert!(first.get(&compare_path).await.body.contains("a questionnaire is keyed once"));

    // Ann's form: both keyings agree, so the second one counts it.
    let ann = format!("/data-entry/forms/{}", serial_of(&db, None).1);
    let reply = first.submit("/data-entry", "/data-entry/find", &[("serial", &ann_serial)]).await;
    assert_eq!(reply.location.as_deref(), Some(ann.as_str()));
    let patient = vec![("voice", "patient"), ("told_once", "agree")];
    let (_, reply) = key_form(first, ann.clone(), patient.clone()).await;
    assert_eq!(reply.location.as_deref(), Some("/data-entry?done=first"), "{}", reply.body);
    let (_, reply) = key_form(second, ann, patient).await;
    assert_eq!(reply.location.as_deref(), Some("/data-entry?done=counted"), "{}", reply.body);
    assert!(counted(ann_invitation).await.is_some());

    // Each keyer's error rate: two forms each; the second keyer had two
    // fields wrong on one form, the first none.
    let accuracy = app.state.db.run(joinedup::storage::keying::keyer_accuracy).await.unwrap();
    let compared = accuracy[0].compared;
    assert!(compared > 4, "every printed field of both copies: {accuracy:?}");
    let by: Vec<(&str, i64, i64)> = accuracy.iter().map(|a| (a.email.as_str(), a.keyings, a.wrong)).collect();
    assert_eq!(by, [("first@example.org", 2, 0), ("second@example.org", 2, 2)]);
    assert_eq!(accuracy[1].compared, compared);
    let home = second.get("/data-entry").await;
    let rate = format!("{:.2}%", 200.0 / compared as f64);
    assert!(home.body.contains(&rate), "{rate}: {}", home.body);
    assert!(!home.body.contains("waiting to be resolved"), "{}", home.body);
    // The keyings' answers are cleared once settled: the response holds them.
    let kept = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use joinedup::storage::schema::keying_passes;
            Ok(keying_passes::table.select(keying_passes::answers).load::<String>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(kept, ["{}"; 4]);
}

/// An opt-out by post or phone, keyed by staff against the serial or the
/// person, stops every channel: no letter is printed for them, queued
/// emails are cancelled, and the audit log names who keyed it and how it
/// came, without the person's details.
async fn an_opt_out_keyed_by_staff_stops_every_channel(db: TestDb) {
    use joinedup::accounts::Role;
    let dir = tempfile::tempdir().unwrap();
    postal_sample(&db, dir.path());
    let (serial, _, _) = serial_of(&db, Some("LS1 4AP"));
    let app = common::TestApp::spawn(&db).await;
    let password = common::accounts::password_for("keyer");
    common::accounts::create_user(&app, "keyer@example.org", &password, &[Role::DataEntry]).await;
    let browser = common::accounts::Browser::signed_in(&app, "keyer@example.org", &password).await;
    let page = "/data-entry/opt-outs";
    let find = "/data-entry/opt-outs/find";

    // Mistakes are named on the form, keeping what was typed.
    let reply = browser.submit(page, find, &[("first_line", "1 High Street")]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("Enter the serial from their letter"), "{}", reply.body);
    assert!(reply.body.contains("Choose how they asked"), "{}", reply.body);
    assert!(reply.body.contains("value=\"1 High Street\""), "{}", reply.body);
    let reply = browser
        .submit(
            page,
            find,
            &[
                ("survey_id", "format_example"),
                ("first_line", "1 High Street"),
                ("postcode", "nope"),
                ("heard", "post"),
            ],
        )
        .await;
    assert!(reply.body.contains("Enter their postcode"), "{}", reply.body);
    let reply = browser.submit(page, find, &[("serial", "ZZZZ-ZZZZ-ZZZ"), ("heard", "post")]).await;
    assert!(reply.body.contains("No letter or questionnaire has the serial ZZZZ-ZZZZ-ZZZ"), "{}", reply.body);

    // By serial, from a letter sent back: confirmed, then recorded.
    let reply = browser.submit(page, find, &[("serial", &serial.to_lowercase()), ("heard", "post")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let flat_page = flat(&reply.body);
    assert!(flat_page.contains("Sample line</dt> <dd class=\"nhsuk-summary-list__value\">3</dd>"), "{flat_page}");
    assert!(flat_page.contains("by post"), "{flat_page}");
    let action = reply.body.split("action=\"/data-entry/opt-outs/").nth(1).unwrap().split('"').next().unwrap();
    let record = format!("/data-entry/opt-outs/{action}");
    let csrf = common::accounts::csrf_in(&reply.body);
    let done = browser.post(&record, &[("csrf_token", csrf.as_str()), ("heard", "post")]).await;
    assert_eq!(done.location.as_deref(), Some("/data-entry/opt-outs?done=new"), "{}", done.body);
    let again = browser.post(&record, &[("csrf_token", csrf.as_str()), ("heard", "post")]).await;
    assert_eq!(again.location.as_deref(), Some("/data-entry/opt-outs?done=before"));
    // By the person: the same one found by address says so.
    let reply = browser
        .submit(
            page,
            find,
            &[
                ("survey_id", "format_example"),
                ("first_line", "1 high  street"),
                ("postcode", "ls14ap"),
                ("heard", "phone"),
            ],
        )
        .await;
    assert!(reply.body.contains("already opted out"), "{}", reply.body);
    // Ann, by phone, by her email address: her queued invitation is cancelled.
    let reply = browser
        .submit(page, find, &[("survey_id", "format_example"), ("email", "ANN@example.org"), ("heard", "phone")])
        .await;
    assert!(
        flat(&reply.body).contains("Sample line</dt> <dd class=\"nhsuk-summary-list__value\">2</dd>"),
        "{}",
        reply.body
    );
    let action = reply.body.split("action=\"/data-entry/opt-outs/").nth(1).unwrap().split('"').next().unwrap();
    let csrf = common::accounts::csrf_in(&reply.body);
    let done = browser
        .post(&format!("/data-entry/opt-outs/{action}"), &[("csrf_token", csrf.as_str()), ("heard", "phone")])
        .await;
    assert_eq!(done.location.as_deref(), Some("/data-entry/opt-outs?done=new"));
    let queued = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use joinedup::storage::outbox::Status;
            use joinedup::storage::schema::outbox;
            Ok(outbox::table.filter(outbox::status.eq(Status::Queued)).count().get_result::<i64>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(queued, 0, "Ann's queued invitation is cancelled");

    // Letters: only Bob's is printed.
    let pdf = dir.path().join("letters.pdf");
    let (ok, stdout, stderr) = joinedup(&db, &["print", "letters", "--sample", "1", "--out", pdf.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 invitation letter"), "{stdout}");
    let text = poppler("pdftotext", &["-layout", pdf.to_str().unwrap(), "-"]);
    assert!(text.contains("YO1 7HH") && !text.contains("LS1 4AP"), "{text}");

    // Bob's questionnaire comes back blank: the keyer is asked to confirm,
    // and it is recorded as a refusal, not a response.
    let (_, bob_invitee, bob_invitation) = serial_of(&db, Some("YO1 7HH"));
    let bob = format!("/data-entry/forms/{bob_invitee}?voice=patient");
    let (_, reply) = key_form(&browser, bob.clone(), vec![("voice", "patient")]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("Nothing keyed"), "{}", reply.body);
    let (_, reply) = key_form(&browser, bob, vec![("voice", "patient"), ("blank", "yes")]).await;
    assert_eq!(reply.location.as_deref(), Some("/data-entry?done=blank"), "{}", reply.body);
    let response =
        app.state.db.run(move |conn| joinedup::storage::responses::by_invitation(conn, bob_invitation)).await.unwrap();
    assert!(response.is_none(), "a blank form is not a response");

    // The audit log says who keyed each and how it came, and nothing of the person.
    let entries = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use joinedup::storage::schema::audit_log;
            Ok(audit_log::table
                .filter(audit_log::action.eq("opt_out_keyed"))
                .select((audit_log::actor, audit_log::detail))
                .order(audit_log::id)
                .load::<(String, Option<String>)>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries[0].0.contains("keyer@example.org"), "{entries:?}");
    assert_eq!(entries[0].1.as_deref(), Some("sample 1 line 3, asked by post"));
    assert_eq!(entries[1].1.as_deref(), Some("sample 1 line 2, asked by phone"));
    assert_eq!(entries[2].1.as_deref(), Some("sample 1 line 4, asked by returning a blank questionnaire"));
    let all = format!("{entries:?}");
    assert!(!all.contains("ann") && !all.contains("High Street") && !all.contains("LS1"), "{all}");
}

pub fn trials(services: &common::harness::Services) -> Vec<Trial> {
    let mut trials = on_each_backend![services, needs [Poppler];
        every_question_is_printed_in_its_voice_and_language,
        the_routing_is_said_as_the_definition_routes,
        large_print_is_sixteen_point_or_more,
        a_voice_language_or_version_the_survey_lacks_is_named,
        sample_copies_are_numbered_and_worded_for_each_person,
    ];
    trials.extend(on_each_backend_async![services, needs [Poppler];
        letters_carry_a_link_and_a_code_that_open_the_invitation,
        reminder_letters_go_only_to_those_still_due,
        a_keyed_paper_form_counts_under_mode_paper,
        double_entry_settles_differences_and_measures_each_keyer,
        an_opt_out_keyed_by_staff_stops_every_channel,
    ]);
    trials
}

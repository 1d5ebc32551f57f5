//! Helpers for the survey lead tests: a signed-in lead's browser that can
//! upload files, a preview walker, and definitions with known mistakes.

use joinedup::accounts::Role;
use joinedup::definitions::Voice;
use joinedup::journey::simulate::Persona;
use rand::SeedableRng;

use super::TestApp;
use super::accounts::{Browser, Reply, create_user, csrf_in, password_for};

pub const LEAD: &str = "lead@example.org";

/// A survey lead account, signed in.
pub async fn lead(app: &TestApp) -> Browser<'_> {
    create_user(app, LEAD, &password_for("lead"), &[Role::SurveyLead]).await;
    Browser::signed_in(app, LEAD, &password_for("lead")).await
}

/// Posts a multipart form (as a browser does for a file input) with the
/// CSRF token read from `form_page`.
pub async fn upload(
    browser: &Browser<'_>,
    form_page: &str,
    action: &str,
    file: Option<(&str, Vec<u8>)>,
    fields: &[(&str, &str)],
) -> Reply {
    let page = browser.get(form_page).await;
    assert_eq!(page.status, 200, "{form_page}: {}", page.body);
    let mut form = reqwest::multipart::Form::new().text("csrf_token", csrf_in(&page.body));
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    form = match file {
        Some((name, bytes)) => form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(name.to_string())),
        // A file input left empty: a part with no name and no bytes.
        None => form.part("file", reqwest::multipart::Part::bytes(Vec::new()).file_name("")),
    };
    browser.send(browser.client.post(browser.app.url(action)).multipart(form)).await
}

/// The shipped format example, as another survey (`after_a_fall`).
pub fn example_definition() -> String {
    std::fs::read_to_string(super::project_path("survey-definitions/format-example.yaml"))
        .unwrap()
        .replace("id: format_example", "id: after_a_fall")
}

/// The example with one typo: a domain name misspelt. Returns the text and
/// the typo's line.
pub fn definition_with_typo() -> (String, usize) {
    let good = example_definition();
    let line = good.lines().position(|l| l.trim() == "domain: information").expect("a domain line") + 1;
    let bad = good.replacen("domain: information", "domain: informaton", 1);
    (bad, line)
}

/// The draft id a `/lead/drafts/{id}` location names.
pub fn draft_id(location: &str) -> i64 {
    location.trim_start_matches("/lead/drafts/").split(['?', '/']).next().unwrap().parse().unwrap()
}

/// Walks a preview of draft `id` as `voice` (none: answering the voice
/// question as a patient) in `lang`, through the real pages to the end.
/// Returns the pages seen.
pub async fn walk_preview(browser: &Browser<'_>, id: i64, voice: Option<Voice>, lang: &str, seed: u64) -> Vec<String> {
    let base = format!("/lead/drafts/{id}/preview");
    let choose = browser.get(&base).await;
    assert_eq!(choose.status, 200, "{}", choose.body);
    let code = voice.map_or("", |v| v.code());
    let started = browser
        .post(&format!("{base}/start"), &[("csrf_token", &csrf_in(&choose.body)), ("voice", code), ("lang", lang)])
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let persona = Persona::new(voice.unwrap_or(Voice::Patient));
    let ics: Vec<String> = joinedup::reference::icss().unwrap().into_iter().map(|i| i.ons_code).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let today = chrono::Utc::now().date_naive();
    let mut location = started.location.unwrap();
    let mut seen = Vec::new();
    let definition = {
        let text = browser
            .app
            .state
            .db
            .run(move |conn| Ok(joinedup::storage::drafts::by_id(conn, id)?.unwrap()))
            .await
            .unwrap();
        joinedup::definitions::parse("draft", &text.source_text).unwrap()
    };
    while !location.ends_with("/check") {
        let page = browser.get(&location).await;
        assert_eq!(page.status, 200, "{location}: {}", page.body);
        assert!(page.body.contains("Nothing you enter is saved"), "the preview banner on {location}");
        assert!(page.body.contains(&format!("lang=\"{lang}\"")), "the page is in {lang}");
        let page_id = location.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
        let fields =
            joinedup::journey::simulate::answer(&persona, definition.page(&page_id).unwrap(), &ics, today, &mut rng);
        let mut pairs = vec![("csrf_token".to_string(), csrf_in(&page.body))];
        for (name, values) in &fields {
            for v in values {
                pairs.push((name.clone(), v.clone()));
            }
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let posted = browser.post(&location, &pairs).await;
        assert_eq!(posted.status, 303, "{location} with {fields:?}: {}", posted.body);
        seen.push(page_id);
        location = posted.location.unwrap();
    }
    let check = browser.get(&location).await;
    assert_eq!(check.status, 200, "{}", check.body);
    let done = browser.post(&format!("{base}/submit"), &[("csrf_token", &csrf_in(&check.body))]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("nothing was sent or saved"), "{}", done.body);
    seen
}

/// The path part of a link in an email (`http://host/s/...` → `/s/...`).
pub fn path_of(link: &str) -> String {
    let url = url::Url::parse(link).expect("a link");
    url.path().to_string()
}

/// Follows an emailed survey link into the real survey as a new browser,
/// answers every page as `voice` would, and submits if asked. Returns the
/// browser (its cookies hold the response).
pub async fn answer_invitation<'a>(
    app: &'a TestApp,
    survey_id: &str,
    link: &str,
    voice: Voice,
    seed: u64,
    submit: bool,
) -> super::Walker<'a> {
    let walker = super::Walker::new(app, survey_id);
    let path = path_of(link);
    let start = walker.get(&path).await;
    assert_eq!(start.status, 200, "{path}: {}", start.body);
    let (status, location, body) = walker.post(&path, &super::Walker::pairs(&start.csrf(), &Default::default())).await;
    assert_eq!(status, 303, "{body}");
    let definition = walker.definition();
    let persona = Persona::new(voice);
    let ics: Vec<String> = joinedup::reference::icss().unwrap().into_iter().map(|i| i.ons_code).collect();
    let today = chrono::Utc::now().date_naive();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut location = location.expect("a redirect");
    while !location.ends_with("/check") {
        let page = walker.get(&location).await;
        assert_eq!(page.status, 200, "{location}: {}", page.body);
        let page_id = location.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
        let fields =
            joinedup::journey::simulate::answer(&persona, definition.page(&page_id).unwrap(), &ics, today, &mut rng);
        let (status, next, body) = walker.post(&location, &super::Walker::pairs(&page.csrf(), &fields)).await;
        assert_eq!(status, 303, "{location}: {body}");
        location = next.expect("a redirect");
        if !submit && rand::Rng::random_bool(&mut rng, 0.5) {
            break;
        }
    }
    if submit {
        let done = walker.submit().await;
        assert!(done.body.contains("JU-"), "a confirmation: {}", done.body);
    }
    walker
}

/// Text as handlebars writes it into a page (it escapes `` ` `` and `=` too).
pub fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('`', "&#x60;")
        .replace('=', "&#x3D;")
}

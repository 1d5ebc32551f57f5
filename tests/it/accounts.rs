//! Staff accounts over real HTTP on SQLite and PostgreSQL: every route of
//! the route table as anonymous and as each role, signing in and out,
//! session expiry, disabled users, the sign-in rate limit, CSRF, API tokens,
//! the audit log, and no secret in the logs or any table.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use crate::common;
use crate::common::harness::Services;
use common::accounts::{Browser, Reply, audit, create_user, csrf_in, password_for};
use common::{TestApp, TestDb};
use diesel::RunQueryDsl;
use joinedup::accounts::Role;
use joinedup::storage::DbConn;
use joinedup::web::routes::{self, Access, Method, ROUTES, Verdict};
use libtest_mimic::Trial;

const ADMIN: &str = "admin@example.org";
const LEAD: &str = "lead@example.org";
const ANALYST: &str = "analyst@example.org";
const RESEARCHER: &str = "researcher@example.org";

/// The four staff accounts, one role each; returns the admin's id.
async fn staff(app: &TestApp) -> i64 {
    let admin = create_user(app, ADMIN, &password_for("admin"), &[Role::Admin]).await;
    create_user(app, LEAD, &password_for("lead"), &[Role::SurveyLead]).await;
    create_user(app, ANALYST, &password_for("analyst"), &[Role::Analyst]).await;
    create_user(app, RESEARCHER, &password_for("researcher"), &[Role::Researcher]).await;
    admin
}

/// Ids that route patterns name, of rows that exist.
struct SampleIds {
    user: i64,
    /// A draft holding the format example, and that survey's published version.
    draft: i64,
    version: i64,
}

/// A draft to preview and the published version of `format_example`.
async fn sample_rows(app: &TestApp, user: i64) -> SampleIds {
    let text = std::fs::read_to_string(common::project_path("survey-definitions/format-example.yaml")).unwrap();
    let text = joinedup::publishing::drafts::prepare(&text).unwrap();
    let today = app.state.clock.today();
    app.state
        .db
        .write(move |conn| {
            let draft =
                joinedup::publishing::drafts::save(conn, None, "example.yaml", &text, None, joinedup::storage::now())
                    .unwrap();
            let version = joinedup::storage::surveys::find(conn, "format_example", "1.1")?.expect("published");
            // One response submitted last month, so the survey has a closed
            // release for the results routes to serve.
            let day = joinedup::index::release::Period::latest_closed(today).first_day();
            let at = day.and_hms_opt(12, 0, 0).unwrap();
            let response = joinedup::storage::responses::create(
                conn,
                &joinedup::storage::responses::NewResponse {
                    survey_version_id: version.id,
                    channel: joinedup::storage::responses::Channel::OpenLink,
                    status: joinedup::storage::responses::ResponseStatus::Submitted,
                    voice: Some("patient"),
                    language: "en",
                    ics_code: Some("E54000008"),
                    created_at: at,
                    updated_at: at,
                    invitation_id: None,
                    reference: None,
                    voice_preset: false,
                    ics_preset: false,
                    duplicate_of: None,
                },
            )?;
            joinedup::storage::results::insert(
                conn,
                &joinedup::storage::results::ResultRow {
                    response_id: response.id,
                    survey_version_id: version.id,
                    survey_id: "format_example".into(),
                    scoring_signature: String::new(),
                    submitted_on: day,
                    channel: joinedup::storage::responses::Channel::OpenLink,
                    voice: Some("patient".into()),
                    ics_code: Some("E54000008".into()),
                    age_band: Some("65-74".into()),
                    sex: Some("female".into()),
                    ethnicity: None,
                    long_term_condition: None,
                    imd_quintile: None,
                    base_weight: 1.0,
                    index_score: Some(50.0),
                    domain_scores: String::new(),
                    choices: String::new(),
                    mode: joinedup::storage::responses::Mode::Online,
                },
            )?;
            Ok(SampleIds { user, draft: draft.id, version: version.id })
        })
        .await
        .unwrap()
}

/// A concrete path for a route pattern.
fn sample_path(pattern: &str, ids: &SampleIds) -> String {
    pattern
        .replace("{name}", "joinedup.css")
        .replace("{token}", "0123456789abcdef")
        .replace("{survey_id}", "format_example")
        .replace("{page_id}", "voice")
        .replace("{draft_id}", &ids.draft.to_string())
        .replace("{version_id}", &ids.version.to_string())
        .replace("{id}", &ids.user.to_string())
        .replace("{invitee_id}", "1")
}

fn request(browser: &Browser<'_>, method: Method, path: &str) -> reqwest::RequestBuilder {
    let url = browser.app.url(path);
    match method {
        Method::Get => browser.client.get(url),
        // No CSRF token: an allowed state-changing request must be refused by CSRF, changing nothing.
        Method::Post => browser.client.post(url).form(&[("probe", "1")]),
        Method::Delete => browser.client.delete(url),
    }
}

const FORBIDDEN_PAGE: &str = "You do not have permission to see this page";
const CSRF_PAGE: &str = "Sorry, we could not accept that form";

/// Walks every entry of the route table as anonymous, admin, survey lead,
/// analyst and researcher, and checks the answer is what the entry's access says:
/// page without a session 303 to sign-in with the return path, API 401,
/// signed in without the role 403, allowed GET pages 200, and every allowed
/// state-changing request refused for want of a CSRF token. A new route
/// without a rule cannot exist (the table is the only way to add one), and
/// one whose rule the guard ignores fails here.
async fn every_route_answers_each_role_as_the_table_says(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    assert_eq!(routes::problems(ROUTES), Vec::<String>::new());
    let admin_id = staff(&app).await;
    let ids = sample_rows(&app, admin_id).await;
    let visitors: Vec<(&str, Option<Vec<Role>>, Browser<'_>)> = vec![
        ("anonymous", None, Browser::new(&app)),
        ("admin", Some(vec![Role::Admin]), Browser::signed_in(&app, ADMIN, &password_for("admin")).await),
        ("survey_lead", Some(vec![Role::SurveyLead]), Browser::signed_in(&app, LEAD, &password_for("lead")).await),
        ("analyst", Some(vec![Role::Analyst]), Browser::signed_in(&app, ANALYST, &password_for("analyst")).await),
        (
            "researcher",
            Some(vec![Role::Researcher]),
            Browser::signed_in(&app, RESEARCHER, &password_for("researcher")).await,
        ),
    ];
    let (mut forbidden, mut csrf_refused) = (0, 0);
    let mut matrix = String::new();
    for entry in ROUTES {
        let path = sample_path(entry.path, &ids);
        let mut row = format!("{:<6} {:<36}", format!("{:?}", entry.method).to_uppercase(), entry.path);
        for (who, roles, browser) in &visitors {
            let reply = browser.send(request(browser, entry.method, &path)).await;
            let what =
                format!("{who} {:?} {path}: {} {:?}\n{}", entry.method, reply.status, reply.location, reply.body);
            assert!(reply.headers.contains_key("content-security-policy"), "security headers on {what}");
            assert_eq!(reply.headers["x-frame-options"], "DENY", "{what}");
            let verdict = entry.access.verdict(roles.as_deref());
            match verdict {
                Verdict::SignIn if entry.access.is_api() => {
                    assert_eq!(reply.status, 401, "{what}");
                    assert!(reply.headers.contains_key("www-authenticate"), "{what}");
                }
                Verdict::SignIn => {
                    assert_eq!(reply.status, 303, "{what}");
                    let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
                    assert_eq!(reply.location.as_deref(), Some(format!("/sign-in?next={next}").as_str()), "{what}");
                }
                Verdict::Forbidden => {
                    forbidden += 1;
                    assert_eq!(reply.status, 403, "{what}");
                    if entry.access.is_api() {
                        assert!(reply.body.contains("\"code\":\"forbidden\""), "{what}");
                    } else {
                        assert!(reply.body.contains(FORBIDDEN_PAGE), "{what}");
                    }
                }
                Verdict::Allow if entry.method.changes_state() => {
                    assert_eq!(reply.status, 403, "state changes need a CSRF token: {what}");
                    if entry.access.is_api() {
                        assert!(reply.body.contains("\"code\":\"csrf\""), "{what}");
                    } else {
                        assert!(reply.body.contains(CSRF_PAGE), "{what}");
                    }
                    if roles.is_some() && entry.access != Access::Anonymous {
                        csrf_refused += 1;
                    }
                }
                Verdict::Allow if entry.access == Access::Anonymous => {
                    // Respondent pages answer as they do for anyone: a page, or a redirect within the survey,
                    // or 404 for the made-up token; never a sign-in demand.
                    assert!([200, 303, 404].contains(&reply.status), "{what}");
                    assert!(!reply.location.as_deref().unwrap_or("").starts_with("/sign-in"), "{what}");
                }
                Verdict::Allow => assert_eq!(reply.status, 200, "{what}"),
            }
            row.push_str(&format!(" {who}={}", reply.status));
        }
        matrix.push_str(&row);
        matrix.push('\n');
    }
    println!("{matrix}");
    // Every refusal of a signed-in user is in the audit log, and nothing else changed.
    assert_eq!(audit(&app, "access_denied").await.len(), forbidden);
    assert_eq!(audit(&app, "csrf_rejected").await.len(), csrf_refused);
    let users = app.state.db.run(joinedup::storage::accounts::list_users).await.unwrap();
    assert_eq!(users.len(), 4);
    assert!(users.iter().all(|u| !u.user.disabled && u.roles.len() == 1));
}

fn set_cookie(reply: &Reply) -> String {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("joinedup_session="))
        .unwrap_or_else(|| panic!("no session cookie set: {:?}", reply.headers))
        .to_string()
}

/// A second browser holding the same session cookie, as a stolen copy would.
fn copy_of(app: &TestApp, session: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("cookie", format!("joinedup_session={session}").parse().unwrap());
    let _ = app;
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).default_headers(headers).build().unwrap()
}

async fn sign_in_rotates_the_session_and_sign_out_ends_it(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    staff(&app).await;
    let browser = Browser::new(&app);
    let asked = browser.get("/lead?tab=mine").await;
    assert_eq!(asked.status, 303);
    assert_eq!(asked.location.as_deref(), Some("/sign-in?next=%2Flead%3Ftab%3Dmine"));
    let form = browser.get("/sign-in?next=%2Flead%3Ftab%3Dmine").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"next\" value=\"/lead?tab&#x3D;mine\""), "{}", form.body);
    let token = csrf_in(&form.body);
    let fields = [
        ("csrf_token", token.as_str()),
        ("email", " Lead@Example.org "),
        ("password", &password_for("lead")),
        ("next", "/lead?tab=mine"),
    ];
    let signed_in = browser.post("/sign-in", &fields).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location.as_deref(), Some("/lead?tab=mine"), "back where they were going");
    let cookie = set_cookie(&signed_in);
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "no Secure flag on an http base URL: {cookie}");
    let first = browser.session().unwrap();
    assert_eq!(first.len(), 64);
    let page = browser.get("/lead").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(LEAD) && page.body.contains("Sign out"), "{}", page.body);

    // Signing in again rotates the id; the old one stops working at once.
    let again = browser.sign_in(LEAD, &password_for("lead")).await;
    assert_eq!(again.status, 303);
    assert_eq!(again.location.as_deref(), Some("/lead"), "one role: straight to its area");
    let second = browser.session().unwrap();
    assert_ne!(first, second);
    let old = copy_of(&app, &first).get(app.url("/lead")).send().await.unwrap();
    assert_eq!(old.status(), 303);
    assert!(old.headers()["location"].to_str().unwrap().starts_with("/sign-in?next=%2Flead&ended=1"));

    // Sign out: the session ends in the database, so a copy of the cookie is useless too.
    let copy = copy_of(&app, &second);
    assert_eq!(copy.get(app.url("/lead")).send().await.unwrap().status(), 200);
    let out = browser.submit("/lead", "/sign-out", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/sign-in?signed_out=1"));
    assert!(set_cookie(&out).contains("Max-Age=0"), "the cookie is removed");
    assert_eq!(copy.get(app.url("/lead")).send().await.unwrap().status(), 303);
    let signed_out = browser.get("/sign-in?signed_out=1").await;
    assert!(signed_out.body.contains("You have signed out."));

    assert_eq!(audit(&app, "sign_in").await.len(), 2);
    let outs = audit(&app, "sign_out").await;
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].actor, LEAD);
    assert_eq!(outs[0].client_ip.as_deref(), Some("127.0.0.1"));
}

async fn the_session_cookie_is_secure_on_https(db: TestDb) {
    let mut settings = common::settings(&db, &common::project_path("survey-definitions"));
    settings.base_url = "https://joinedup.example".into();
    let app = TestApp::spawn_with(settings).await;
    create_user(&app, LEAD, &password_for("lead"), &[Role::SurveyLead]).await;
    let browser = Browser::new(&app);
    let reply = browser.sign_in(LEAD, &password_for("lead")).await;
    assert_eq!(reply.status, 303);
    let cookie = set_cookie(&reply);
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
    // Served over https, browsers are told to keep to https (HSTS); not
    // over plain http, and not when the proxy is left to send it.
    assert_eq!(reply.headers["strict-transport-security"], "max-age=31536000; includeSubDomains");
    let plain = Browser::new(&TestApp::spawn(&db).await).get("/sign-in").await;
    assert!(!plain.headers.contains_key("strict-transport-security"));
    let mut settings = common::settings(&db, &common::project_path("survey-definitions"));
    settings.base_url = "https://joinedup.example".into();
    settings.hsts = false;
    let proxied = Browser::new(&TestApp::spawn_with(settings).await).get("/sign-in").await;
    assert!(!proxied.headers.contains_key("strict-transport-security"));
}

/// Parallel wrong passwords on two instances: each attempt is counted
/// before its password is checked, so no more than the limit get checked.
async fn parallel_guesses_cannot_overrun_the_sign_in_limit(db: TestDb) {
    let mut settings = common::settings(&db, &common::project_path("survey-definitions"));
    settings.accounts.limits.per_account = 5;
    settings.accounts.limits.per_address = 1000;
    let app = TestApp::spawn_with(settings.clone()).await;
    let other_instance = TestApp::spawn_with(settings).await;
    staff(&app).await;
    let browsers: Vec<Browser> =
        (0..40).map(|i| Browser::new(if i % 2 == 0 { &app } else { &other_instance })).collect();
    let tokens = futures::future::join_all(browsers.iter().map(|b| b.get("/sign-in"))).await;
    let guesses = browsers.iter().zip(&tokens).map(|(b, page)| {
        let token = csrf_in(&page.body);
        async move {
            b.post("/sign-in", &[("csrf_token", token.as_str()), ("email", LEAD), ("password", "a wrong guess")])
                .await
                .status
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
}

const REFUSED: &str = "Enter a correct email address and password";

async fn wrong_password_unknown_email_and_disabled_user_get_one_answer(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    staff(&app).await;
    let disabled = create_user(&app, "gone@example.org", &password_for("gone"), &[Role::Analyst]).await;
    app.state
        .db
        .write(move |conn| {
            Ok(joinedup::accounts::users::set_disabled(
                conn,
                &joinedup::audit::Actor::command_line(),
                None,
                disabled,
                true,
            )
            .unwrap())
        })
        .await
        .unwrap();
    let cases = [
        (LEAD, "the wrong password entirely".to_string(), "wrong password"),
        ("nobody@example.org", password_for("nobody"), "no account has the email typed"),
        ("gone@example.org", password_for("gone"), "the account is disabled"),
    ];
    let mut bodies = Vec::new();
    for (email, password, detail) in &cases {
        let browser = Browser::new(&app);
        let reply = browser.sign_in(email, password).await;
        assert_eq!(reply.status, 401, "{email}: {}", reply.body);
        assert!(reply.body.contains("There is a problem") && reply.body.contains(REFUSED), "{}", reply.body);
        assert!(reply.body.contains("<title>Error: "), "the title says there is an error");
        assert!(!reply.body.contains(password.as_str()), "the password is never shown back");
        assert!(browser.session().is_none(), "no session for {email}");
        let entries = audit(&app, "sign_in_failed").await;
        assert_eq!(entries[0].detail.as_deref(), Some(*detail));
        // The page differs only in the email typed back into the form.
        bodies.push(reply.body.replace(email, "EMAIL").replace(&csrf_in(&reply.body), "TOKEN"));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "one answer whether or not the account exists");
    let failed = audit(&app, "sign_in_failed").await;
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[1].actor, "anonymous", "an email with no account is not recorded");
    assert!(failed.iter().all(|e| e.detail.as_deref() != Some("nobody@example.org")));
    assert_eq!(audit(&app, "sign_in").await.len(), 0);

    // Empty fields: asked for, no attempt counted.
    let browser = Browser::new(&app);
    let reply = browser.sign_in("", "").await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("Enter your email address") && reply.body.contains("Enter your password"));
    assert_eq!(audit(&app, "sign_in_failed").await.len(), 3);
}

async fn disabling_a_user_ends_their_session_and_tokens_at_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    staff(&app).await;
    let admin = Browser::signed_in(&app, ADMIN, &password_for("admin")).await;
    let lead = Browser::signed_in(&app, LEAD, &password_for("lead")).await;
    assert_eq!(lead.get("/lead").await.status, 200);
    let lead_id = app.state.db.run(|c| joinedup::storage::accounts::by_email(c, LEAD)).await.unwrap().unwrap().id;
    let issued =
        admin.submit("/admin/tokens", "/admin/tokens", &[("user", &lead_id.to_string()), ("name", "export")]).await;
    assert_eq!(issued.status, 200);
    let token = token_in(&issued.body);
    let api = |token: String| app.client.get(app.url("/api/v1/surveys")).bearer_auth(token);
    assert_eq!(api(token.clone()).send().await.unwrap().status(), 200);

    let page = format!("/admin/users/{lead_id}");
    let disabled = admin.submit(&page, &format!("{page}/disable"), &[]).await;
    assert_eq!(disabled.status, 303);
    assert_eq!(disabled.location.as_deref(), Some(format!("{page}?done=disabled").as_str()));
    let lead_page = lead.get("/lead").await;
    assert_eq!(lead_page.status, 303, "the next request is refused");
    assert!(lead_page.location.unwrap().starts_with("/sign-in?next=%2Flead&ended=1"));
    assert_eq!(api(token.clone()).send().await.unwrap().status(), 401, "the token stops working too");
    assert_eq!(lead.sign_in(LEAD, &password_for("lead")).await.status, 401, "and signing in again fails");
    let entries = audit(&app, "user_disabled").await;
    assert_eq!((entries[0].actor.as_str(), entries[0].target.as_deref()), (ADMIN, Some(LEAD)));

    // An admin cannot disable themselves.
    let admin_id = app.state.db.run(|c| joinedup::storage::accounts::by_email(c, ADMIN)).await.unwrap().unwrap().id;
    let own = format!("/admin/users/{admin_id}");
    let page = admin.get(&own).await;
    assert!(!page.body.contains("Disable account"));
    let token = csrf_in(&page.body);
    let refused = admin.post(&format!("{own}/disable"), &[("csrf_token", &token)]).await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("You cannot disable your own account"), "{}", refused.body);

    // Enabled again, the lead can sign in (the old token stays unusable only if revoked; it works again).
    let enabled =
        admin.submit(&format!("/admin/users/{lead_id}"), &format!("/admin/users/{lead_id}/enable"), &[]).await;
    assert_eq!(enabled.status, 303);
    assert_eq!(lead.sign_in(LEAD, &password_for("lead")).await.status, 303);
}

fn token_in(body: &str) -> String {
    let start = body.find("joinedup_").expect("a token on the page");
    body[start..start + "joinedup_".len() + 64].to_string()
}

async fn sessions_end_when_idle_and_after_the_absolute_lifetime(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    staff(&app).await;
    let lifetimes = app.state.settings.accounts.lifetimes;
    for (column, age) in [("last_seen_at", lifetimes.idle), ("created_at", lifetimes.absolute)] {
        let browser = Browser::signed_in(&app, ANALYST, &password_for("analyst")).await;
        assert_eq!(browser.get("/analyst").await.status, 200);
        let hash = joinedup::accounts::session::hash(&browser.session().unwrap());
        let when = joinedup::storage::now() - age - chrono::Duration::seconds(1);
        app.state
            .db
            .write(move |conn| {
                let sql = format!("UPDATE sessions SET {column} = {} WHERE id_hash = '{hash}'", timestamp(conn, when));
                diesel::sql_query(sql).execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
        let reply = browser.get("/analyst").await;
        assert_eq!(reply.status, 303, "{column}");
        assert_eq!(reply.location.as_deref(), Some("/sign-in?next=%2Fanalyst&ended=1"));
        let page = browser.get("/sign-in?next=%2Fanalyst&ended=1").await;
        assert!(page.body.contains("Your session has ended"));
        let api = browser.get("/api/v1/me").await;
        assert_eq!(api.status, 401, "the ended session is gone from the database");
    }
    let rows: i64 = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            Ok(joinedup::storage::schema::sessions::table.count().get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(rows, 0, "expired sessions are deleted when met");
}

/// A timestamp literal both databases read.
fn timestamp(_conn: &DbConn, at: chrono::NaiveDateTime) -> String {
    format!("'{}'", at.format("%Y-%m-%d %H:%M:%S%.6f"))
}

async fn sign_in_is_rate_limited_per_account_and_address_across_instances(db: TestDb) {
    let mut settings = common::settings(&db, &common::project_path("survey-definitions"));
    settings.accounts.limits.per_account = 3;
    settings.accounts.limits.per_address = 7;
    let app = TestApp::spawn_with(settings.clone()).await;
    let other_instance = TestApp::spawn_with(settings).await;
    staff(&app).await;
    let browser = Browser::new(&app);
    for _ in 0..3 {
        assert_eq!(browser.sign_in(LEAD, "not the right password at all").await.status, 401);
    }
    // The right password no longer helps, on either instance, and the answer
    // is the same for an email with no account.
    let blocked = browser.sign_in(LEAD, &password_for("lead")).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    assert!(blocked.body.contains("too many failed attempts"), "{}", blocked.body);
    assert_eq!(blocked.headers["retry-after"], "900");
    assert!(Browser::new(&other_instance).sign_in(LEAD, &password_for("lead")).await.status == 429);
    for _ in 0..3 {
        assert_eq!(browser.sign_in("nobody@example.org", "not the right password").await.status, 401);
    }
    let nobody = browser.sign_in("nobody@example.org", "not the right password").await;
    assert_eq!(nobody.status, 429);
    let strip = |r: &Reply, email: &str| r.body.replace(email, "EMAIL").replace(&csrf_in(&r.body), "TOKEN");
    assert_eq!(strip(&blocked, LEAD), strip(&nobody, "nobody@example.org"), "no hint the account exists");
    // Six failures from this address so far; one more reaches its limit for every account.
    assert_eq!(browser.sign_in(ANALYST, "not the right password either").await.status, 401);
    assert_eq!(browser.sign_in(ADMIN, &password_for("admin")).await.status, 429, "per address");
    assert_eq!(audit(&app, "sign_in").await.len(), 0);
    assert!(audit(&app, "sign_in_blocked").await.len() >= 4);
}

async fn csrf_tokens_are_required_and_bound_to_the_session(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    staff(&app).await;
    let admin = Browser::new(&app);
    let before = csrf_in(&admin.get("/sign-in").await.body);
    assert_eq!(admin.sign_in(ADMIN, &password_for("admin")).await.status, 303);
    let other = Browser::signed_in(&app, ADMIN, &password_for("admin")).await;
    let others = csrf_in(&other.get("/admin/users/new").await.body);
    let fields = |token: &str| {
        vec![
            ("csrf_token".to_string(), token.to_string()),
            ("email".to_string(), "new@example.org".to_string()),
            ("roles".to_string(), "analyst".to_string()),
            ("password".to_string(), password_for("new")),
        ]
    };
    for (what, token) in [("missing", ""), ("from before sign-in", &before), ("another session's", &others)] {
        let reply = admin.send(admin.client.post(app.url("/admin/users")).form(&fields(token))).await;
        assert_eq!(reply.status, 403, "{what}");
        assert!(reply.body.contains(CSRF_PAGE) && reply.body.contains("Nothing was changed"), "{what}");
    }
    assert_eq!(audit(&app, "csrf_rejected").await.len(), 3);
    assert!(app.state.db.run(|c| joinedup::storage::accounts::by_email(c, "new@example.org")).await.unwrap().is_none());
    let good = csrf_in(&admin.get("/admin/users/new").await.body);
    let reply = admin.send(admin.client.post(app.url("/admin/users")).form(&fields(&good))).await;
    assert_eq!(reply.status, 303, "{}", reply.body);

    // The API with a session cookie needs the header; with a bearer token it does not.
    let admin_id = app.state.db.run(|c| joinedup::storage::accounts::by_email(c, ADMIN)).await.unwrap().unwrap().id;
    let mut tokens = Vec::new();
    for name in ["one", "two"] {
        let issued =
            admin.submit("/admin/tokens", "/admin/tokens", &[("user", &admin_id.to_string()), ("name", name)]).await;
        tokens.push(token_in(&issued.body));
    }
    let ids: Vec<i64> = app
        .state
        .db
        .run(|c| Ok(joinedup::storage::accounts::list_tokens(c)?.into_iter().map(|(t, _)| t.id).collect()))
        .await
        .unwrap();
    let (second, first) = (ids[0], ids[1]);
    let delete = |id: i64| admin.client.delete(app.url(&format!("/api/v1/tokens/{id}")));
    let no_header = admin.send(delete(first)).await;
    assert_eq!(no_header.status, 403);
    assert!(no_header.body.contains("\"code\":\"csrf\""));
    let me: serde_json::Value = admin.client.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["via"], "session");
    let header = me["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(header, csrf_in(&admin.get("/admin").await.body), "the page token and the API token are one");
    assert_eq!(admin.send(delete(first).header("X-CSRF-Token", "0".repeat(64))).await.status, 403);
    assert_eq!(admin.send(delete(first).header("X-CSRF-Token", &header)).await.status, 204);
    let bearer = reqwest::Client::new();
    let by_token = bearer.delete(app.url(&format!("/api/v1/tokens/{second}"))).bearer_auth(&tokens[1]).send().await;
    assert_eq!(by_token.unwrap().status(), 204, "no CSRF header with a bearer token");
    assert_eq!(audit(&app, "api_token_revoked").await.len(), 2);
    assert_eq!(audit(&app, "csrf_rejected").await.len(), 5);
}

async fn admins_manage_users_roles_passwords_and_tokens(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    staff(&app).await;
    let admin = Browser::signed_in(&app, ADMIN, &password_for("admin")).await;
    // Bad input: each problem listed, nothing created.
    let reply = admin
        .submit("/admin/users/new", "/admin/users", &[("email", "not an email"), ("password", "password123")])
        .await;
    assert_eq!(reply.status, 200);
    for message in [
        "There is a problem",
        "Enter an email address in the correct format",
        "Select at least one role",
        "12 characters or more",
    ] {
        assert!(reply.body.contains(message), "{message}: {}", reply.body);
    }
    let common = admin
        .submit(
            "/admin/users/new",
            "/admin/users",
            &[("email", "new@example.org"), ("roles", "analyst"), ("password", "qazwsxedcrfv")],
        )
        .await;
    assert!(common.body.contains("Password is too common"), "{}", common.body);
    let taken = admin
        .submit(
            "/admin/users/new",
            "/admin/users",
            &[("email", LEAD), ("roles", "analyst"), ("password", &password_for("x"))],
        )
        .await;
    assert!(taken.body.contains("already exists"), "{}", taken.body);
    assert_eq!(audit(&app, "user_created").await.len(), 4, "only the four made by the test helper");

    let created = admin
        .submit(
            "/admin/users/new",
            "/admin/users",
            &[
                ("email", "New@Example.org"),
                ("roles", "analyst"),
                ("roles", "survey_lead"),
                ("password", &password_for("new")),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let page = created.location.unwrap();
    assert!(admin.get(&page).await.body.contains("The account has been created."));
    let new = Browser::signed_in(&app, "new@example.org", &password_for("new")).await;
    assert_eq!(new.get("/lead").await.status, 200);
    assert_eq!(new.get("/analyst").await.status, 200);
    assert_eq!(new.get("/admin").await.status, 403);

    // Roles change, and take effect on the next request of the signed-in user.
    let base = page.split('?').next().unwrap().to_string();
    let changed = admin.submit(&base, &format!("{base}/roles"), &[("roles", "admin")]).await;
    assert_eq!(changed.status, 303);
    assert_eq!(new.get("/admin").await.status, 200);
    assert_eq!(new.get("/lead").await.status, 403);
    let roles = audit(&app, "roles_changed").await;
    assert_eq!(roles[0].detail.as_deref(), Some("from analyst, survey_lead to admin"));

    // A password reset ends the user's sessions; the old password stops working.
    let weak = admin.submit(&base, &format!("{base}/password"), &[("password", "short")]).await;
    assert!(weak.body.contains("12 characters or more"));
    let reset = admin.submit(&base, &format!("{base}/password"), &[("password", &password_for("reset"))]).await;
    assert_eq!(reset.status, 303);
    assert_eq!(new.get("/admin").await.status, 303);
    assert_eq!(Browser::new(&app).sign_in("new@example.org", &password_for("new")).await.status, 401);
    let again = Browser::signed_in(&app, "new@example.org", &password_for("reset")).await;

    // Changing one's own password: the current one is checked, the policy applies.
    let wrong = again
        .submit(
            "/account/password",
            "/account/password",
            &[("current_password", "nope"), ("new_password", &password_for("mine"))],
        )
        .await;
    assert!(wrong.body.contains("Your current password is not correct"));
    let done = again
        .submit(
            "/account/password",
            "/account/password",
            &[("current_password", &password_for("reset")), ("new_password", &password_for("mine"))],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("/sign-in?changed=1"));
    assert_eq!(again.get("/account").await.status, 303);
    Browser::signed_in(&app, "new@example.org", &password_for("mine")).await;
    assert_eq!(audit(&app, "password_reset").await.len(), 1);
    assert_eq!(audit(&app, "password_changed").await.len(), 1);

    // API tokens: shown once, act with the user's roles, stop when revoked.
    let analyst_id = app.state.db.run(|c| joinedup::storage::accounts::by_email(c, ANALYST)).await.unwrap().unwrap().id;
    let no_name =
        admin.submit("/admin/tokens", "/admin/tokens", &[("user", &analyst_id.to_string()), ("name", " ")]).await;
    assert!(no_name.body.contains("Enter a name for the token"));
    let issued = admin
        .submit("/admin/tokens", "/admin/tokens", &[("user", &analyst_id.to_string()), ("name", "nightly export")])
        .await;
    let token = token_in(&issued.body);
    let list = admin.get("/admin/tokens").await;
    assert!(list.body.contains("nightly export") && !list.body.contains(&token), "shown once only");
    let client = reqwest::Client::new();
    let me: serde_json::Value =
        client.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!((me["email"].as_str(), me["via"].as_str()), (Some(ANALYST), Some("api_token")));
    assert!(me["csrf_token"].is_null());
    let surveys = client.get(app.url("/api/v1/surveys")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(surveys.status(), 200);
    let surveys: serde_json::Value = surveys.json().await.unwrap();
    assert!(surveys["surveys"].as_array().unwrap().iter().any(|s| s["survey_id"] == "format_example"));
    let audit_api = client.get(app.url("/api/v1/admin/audit")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(audit_api.status(), 403, "an analyst's token is not an admin's");
    // The API describes itself to any token holder, with this
    // installation's survey ids as examples.
    let doc = client.get(app.url("/api/v1/openapi.json")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(doc.status(), 200);
    let doc: serde_json::Value = doc.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let results = &doc["paths"]["/api/v1/analyst/surveys/{survey_id}/results"]["get"];
    assert_eq!(results["security"][0]["api_token"], serde_json::json!(["analyst"]));
    let example = &results["parameters"][0]["schema"]["examples"][0];
    assert!(example.is_string(), "{results}");
    let anonymous = client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // A handler's own refusal is problem details with its own words.
    let other = client.delete(app.url("/api/v1/tokens/999999")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(other.status(), 404);
    assert_eq!(other.headers()["content-type"], "application/problem+json");
    let other: serde_json::Value = other.json().await.unwrap();
    assert_eq!(
        (other["code"].as_str(), other["detail"].as_str()),
        (Some("not_found"), Some("You have no unrevoked token with that id."))
    );
    let token_id = app.state.db.run(joinedup::storage::accounts::list_tokens).await.unwrap()[0].0.id;
    let revoked = admin.submit("/admin/tokens", &format!("/admin/tokens/{token_id}/revoke"), &[]).await;
    assert_eq!(revoked.location.as_deref(), Some("/admin/tokens?done=revoked"));
    assert_eq!(client.get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().status(), 401);
    let issued = audit(&app, "api_token_issued").await;
    assert_eq!(issued[0].target.as_deref(), Some(ANALYST));
    assert!(issued[0].detail.as_deref().unwrap().contains("nightly export"));

    // The audit page filters by action, actor and dates.
    let filtered = admin.get("/admin/audit?action=roles_changed").await;
    let cell = |label: &str| format!("<td class=\"nhsuk-table__cell\">{label}</td>");
    assert!(filtered.body.contains(&cell("Roles changed")) && !filtered.body.contains(&cell("User created")));
    let by_actor = admin.get(&format!("/admin/audit?actor={}", "new%40example.org")).await;
    assert!(
        by_actor.body.contains(&cell("Own password changed")) && !by_actor.body.contains(&cell("API token issued"))
    );
    let today = chrono::Utc::now().date_naive();
    let future = admin.get(&format!("/admin/audit?from={}", today.succ_opt().unwrap())).await;
    assert!(future.body.contains("No entries match."));
    let bad = admin.get("/admin/audit?from=yesterday").await;
    assert!(bad.body.contains("Enter the date as year-month-day"));
    let json: serde_json::Value =
        admin.client.get(app.url("/api/v1/admin/audit?action=sign_in")).send().await.unwrap().json().await.unwrap();
    assert!(json["entries"].as_array().unwrap().len() >= 4);
}

/// Everything the app logs, at debug level, from every test in this binary.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the first subscriber of this test binary");
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct Cell {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    value: Option<String>,
}

/// Every value in every table, as text.
fn dump(conn: &mut DbConn) -> Result<String, joinedup::storage::StorageError> {
    let sqlite = matches!(conn, DbConn::Sqlite(_));
    let tables = if sqlite {
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    } else {
        "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public'"
    };
    let mut out = String::new();
    for table in diesel::sql_query(tables).load::<Name>(conn)? {
        let columns = if sqlite {
            format!("SELECT name FROM pragma_table_info('{}')", table.name)
        } else {
            format!(
                "SELECT column_name::text AS name FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{}'",
                table.name
            )
        };
        for column in diesel::sql_query(columns).load::<Name>(conn)? {
            let sql = format!("SELECT CAST(\"{}\" AS TEXT) AS value FROM \"{}\"", column.name, table.name);
            for cell in diesel::sql_query(sql).load::<Cell>(conn)? {
                out.push_str(&format!("{}.{}={}\n", table.name, column.name, cell.value.unwrap_or_default()));
            }
        }
    }
    Ok(out)
}

async fn no_password_or_token_reaches_the_logs_or_any_table(db: TestDb) {
    let logs = captured_logs();
    let app = TestApp::spawn(&db).await;
    staff(&app).await;
    let mut secrets = vec![password_for("admin"), password_for("lead"), password_for("analyst")];
    let admin = Browser::signed_in(&app, ADMIN, &password_for("admin")).await;
    secrets.push(admin.session().unwrap());
    // A failed attempt, a password typed into the email box, a new user, a reset, a token.
    let typo = "my secret password typed as email";
    Browser::new(&app).sign_in(typo, "whatever password this is").await;
    secrets.extend([typo.to_string(), "whatever password this is".to_string()]);
    admin
        .submit(
            "/admin/users/new",
            "/admin/users",
            &[("email", "x@example.org"), ("roles", "analyst"), ("password", &password_for("x"))],
        )
        .await;
    secrets.push(password_for("x"));
    let x_id =
        app.state.db.run(|c| joinedup::storage::accounts::by_email(c, "x@example.org")).await.unwrap().unwrap().id;
    let x = format!("/admin/users/{x_id}");
    admin.submit(&x, &format!("{x}/password"), &[("password", &password_for("x reset"))]).await;
    secrets.push(password_for("x reset"));
    let issued =
        admin.submit("/admin/tokens", "/admin/tokens", &[("user", &x_id.to_string()), ("name", "script")]).await;
    let token = token_in(&issued.body);
    reqwest::Client::new().get(app.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    secrets.push(token);
    let lead = Browser::signed_in(&app, LEAD, &password_for("lead")).await;
    secrets.push(lead.session().unwrap());
    lead.submit("/lead", "/sign-out", &[]).await;
    // A respondent's answers (a written one among them) and reference.
    let mut walker = common::Walker::new(&app, "format_example");
    walker.answer_all(&joinedup::journey::simulate::Persona::new(joinedup::definitions::Voice::Patient), 3).await;
    let done = walker.submit().await;
    let at = done.body.find("JU-").expect("a reference");
    // Stored (it finds the response for a withdrawal), never logged.
    let reference = done.body[at..at + 12].to_string();
    let written = "Everyone knew what was happening & nobody asked me the same thing twice.";

    let tables = app.state.db.run(dump).await.unwrap();
    assert!(tables.contains(written), "the written answer is stored, so its absence from the logs means something");
    assert!(tables.contains("users.password_hash=$argon2id$"), "the dump reads the tables");
    assert!(tables.contains("audit_log.action=sign_in"));
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logs.contains("joinedup::access"), "the capture holds the app's logs");
    assert!(logs.contains("request{request_id="), "each request's lines carry its id");
    for secret in &secrets {
        assert!(!tables.contains(secret.as_str()), "`{secret}` is stored in clear");
        assert!(!logs.contains(secret.as_str()), "`{secret}` is in the logs");
    }
    for stored in [&reference, written] {
        assert!(!logs.contains(stored), "`{stored}`, a respondent's, is in the logs");
    }
}

/// A respondent quotes the reference from their confirmation page; staff
/// with the data protection role find the response and withdraw it.
/// Afterwards no table holds the reference, the response, its answers or
/// its scores, and the audit log says a response was withdrawn without
/// saying which.
async fn a_response_is_withdrawn_by_its_reference(db: TestDb) {
    use joinedup::definitions::Voice;
    use joinedup::journey::simulate::Persona;
    let app = TestApp::spawn(&db).await;
    let mut walker = common::Walker::new(&app, "format_example");
    walker.answer_all(&Persona::new(Voice::Patient), 9).await;
    let done = walker.submit().await;
    let at = done.body.find("JU-").expect("a reference");
    let reference = done.body[at..at + 12].to_string();
    assert!(done.body.contains("contact surveys@test-icb.example and quote your reference"), "{}", done.body);
    let key = reference.clone();
    let id = app
        .state
        .db
        .run(move |c| joinedup::storage::responses::by_reference(c, &key))
        .await
        .unwrap()
        .expect("stored")
        .id;
    let before = app.state.db.run(dump).await.unwrap();
    assert!(before.contains(&format!("answers.response_id={id}\n")) && before.contains(&reference));

    create_user(&app, "dp@example.org", &password_for("dp"), &[Role::DataProtection]).await;
    staff(&app).await;
    let analyst = Browser::signed_in(&app, ANALYST, &password_for("analyst")).await;
    assert_eq!(analyst.get("/data-protection").await.status, 403, "only the data protection role");
    let dp = Browser::signed_in(&app, "dp@example.org", &password_for("dp")).await;
    // Typed as people read it out: lower case, spaces for dashes.
    let typed = reference.to_lowercase().replace('-', " ");
    let found_page = format!("/data-protection?reference={}", typed.replace(' ', "+"));
    let found = dp.get(&found_page).await;
    assert_eq!(found.status, 200);
    assert!(found.body.contains(&reference) && found.body.contains("format_example"), "{}", found.body);
    let unconfirmed = dp.submit(&found_page, "/data-protection/withdraw", &[("reference", &reference)]).await;
    assert!(unconfirmed.body.contains("Tick the box to confirm"), "{}", unconfirmed.body);
    let withdrawn =
        dp.submit(&found_page, "/data-protection/withdraw", &[("reference", &reference), ("confirm", "yes")]).await;
    assert!(withdrawn.body.contains("is withdrawn"), "{}", withdrawn.body);

    let after = app.state.db.run(dump).await.unwrap();
    assert!(!after.contains(&reference), "the reference is gone from every table");
    for row in [
        format!("answers.response_id={id}\n"),
        format!("response_results.response_id={id}\n"),
        format!("responses.id={id}\n"),
    ] {
        assert!(!after.contains(&row), "{row} is still stored");
    }
    let entries = audit(&app, "response_withdrawn").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].target.as_deref(), Some("a response to format_example 1.1"));
    let again = dp.get(&found_page).await;
    assert!(again.body.contains("No response has the reference"), "{}", again.body);
}

/// `serve --demo`'s accounts: made once on an empty database, each with a
/// one-time password that signs in to its area.
async fn demo_accounts_are_made_once_and_sign_in(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let mut printed = Vec::new();
    assert!(joinedup::accounts::demo::create_if_empty(&app.state.db, &mut printed).await.unwrap());
    let printed = String::from_utf8(printed).unwrap();
    for (email, roles) in joinedup::accounts::demo::ACCOUNTS {
        let role = roles[0];
        let line = printed.lines().find(|l| l.contains(email)).unwrap_or_else(|| panic!("{printed}"));
        let password = line.split_whitespace().last().unwrap();
        let browser = Browser::new(&app);
        let reply = browser.sign_in(email, password).await;
        let landing = if roles.len() == 1 { role.home() } else { "/account" };
        assert_eq!(reply.location.as_deref(), Some(landing), "{printed}");
        for role in roles {
            assert_eq!(browser.get(role.home()).await.status, 200, "{email} {role}");
        }
    }
    let mut again = Vec::new();
    assert!(!joinedup::accounts::demo::create_if_empty(&app.state.db, &mut again).await.unwrap());
    assert!(String::from_utf8(again).unwrap().contains("accounts already exist"));
    assert_eq!(audit(&app, "demo_accounts_created").await.len(), 1);
}

pub fn trials(services: &Services) -> Vec<Trial> {
    on_each_backend_async!(
        services;
        every_route_answers_each_role_as_the_table_says,
        sign_in_rotates_the_session_and_sign_out_ends_it,
        the_session_cookie_is_secure_on_https,
        wrong_password_unknown_email_and_disabled_user_get_one_answer,
        disabling_a_user_ends_their_session_and_tokens_at_once,
        sessions_end_when_idle_and_after_the_absolute_lifetime,
        sign_in_is_rate_limited_per_account_and_address_across_instances,
        parallel_guesses_cannot_overrun_the_sign_in_limit,
        csrf_tokens_are_required_and_bound_to_the_session,
        admins_manage_users_roles_passwords_and_tokens,
        no_password_or_token_reaches_the_logs_or_any_table,
        demo_accounts_are_made_once_and_sign_in,
        a_response_is_withdrawn_by_its_reference,
    )
}

//! Load driver for joinedup: concurrent simulated respondents complete the
//! real survey pages (cookies, CSRF tokens, redirects and all) with goose,
//! then the database is checked against what the server acknowledged.
//!
//! ```text
//! cargo run --release -p joinedup-loadtest -- --host http://127.0.0.1:8080 \
//!     --users 64 --increase-rate 64 --run-time 30s --no-reset-metrics --quiet
//! ```
//!
//! Settings beyond goose's own flags come from the environment:
//! `JOINEDUP_LOAD_SURVEY` (default `integration_index`), `JOINEDUP_DEFINITIONS`
//! (default `survey-definitions`), and `DATABASE_URL`, which, when set, makes
//! the driver compare the database with the acknowledged submissions.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use goose::prelude::*;
use joinedup::definitions::{SurveyDefinition, Voice};
use joinedup::journey::Fields;
use joinedup::journey::simulate::{self, Persona};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

/// What every simulated respondent shares, read once before the attack.
struct Shared {
    definition: SurveyDefinition,
    ics: Vec<String>,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// The driver shares the machine with the server; a leaner allocator
/// leaves more of it to the server being measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What the server acknowledged: a page counts once its POST was answered
/// with the next page; a submission once the confirmation came back.
static PAGES: AtomicU64 = AtomicU64::new(0);
static ANSWERS: AtomicU64 = AtomicU64::new(0);
static SUBMISSIONS: AtomicU64 = AtomicU64::new(0);
static RETRIES: AtomicU64 = AtomicU64::new(0);

/// How long a respondent keeps retrying while the server is down.
const RETRY_FOR: Duration = Duration::from_secs(30);

fn csrf(body: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker)? + marker.len();
    body.get(start..start + 64).map(str::to_string)
}

fn pairs(csrf: &str, fields: &Fields) -> Vec<(String, String)> {
    let mut out = vec![("csrf_token".to_string(), csrf.to_string())];
    for (name, values) in fields {
        out.extend(values.iter().map(|v| (name.clone(), v.clone())));
    }
    out
}

/// The answer rows a page's fields become (date parts make one answer).
fn answer_count(fields: &Fields) -> u64 {
    let ids: BTreeSet<&str> = fields
        .keys()
        .map(|k| k.strip_suffix("-day").or(k.strip_suffix("-month")).or(k.strip_suffix("-year")).unwrap_or(k))
        .collect();
    ids.len() as u64
}

/// Sends a request, following redirects, retrying while the server is
/// unreachable or failing (it may be restarting); returns the final path
/// and body.
async fn send(
    user: &mut GooseUser,
    name: &str,
    path: &str,
    form: Option<&[(String, String)]>,
) -> Result<(String, String), Box<TransactionError>> {
    let started = std::time::Instant::now();
    loop {
        let method = if form.is_some() { GooseMethod::Post } else { GooseMethod::Get };
        let mut builder = user.get_request_builder(&method, path)?;
        if let Some(form) = form {
            builder = builder.form(form);
        }
        let request = GooseRequest::builder().method(method).path(path).name(name).set_request_builder(builder).build();
        let mut goose = user.request(request).await?;
        let outcome = match goose.response {
            Ok(response) if response.status().is_success() => {
                let final_path = response.url().path().to_string();
                match response.text().await {
                    Ok(body) => Ok((final_path, body)),
                    Err(e) => Err(e.to_string()),
                }
            }
            Ok(response) => Err(format!("status {}", response.status())),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(done) => return Ok(done),
            Err(reason) if started.elapsed() < RETRY_FOR => {
                RETRIES.fetch_add(1, Ordering::Relaxed);
                let _ = user.set_failure(&reason, &mut goose.request, None, None);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(reason) => {
                user.set_failure(&reason, &mut goose.request, None, None)?;
                return Err(Box::new(TransactionError::RequestFailed { raw_request: Box::new(goose.request) }));
            }
        }
    }
}

/// One respondent, start to confirmation, in a random voice.
async fn complete_survey(user: &mut GooseUser) -> TransactionResult {
    let shared = SHARED.get().expect("set before the attack");
    let d = &shared.definition;
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let voice = *d.voices.choose(&mut rng).unwrap_or(&Voice::Patient);
    let persona = Persona::new(voice);
    let today = chrono::Utc::now().date_naive();

    let start = format!("/surveys/{}", d.id);
    let (_, body) = send(user, "start page", &start, None).await?;
    let token = csrf(&body).unwrap_or_default();
    let (mut path, mut body) =
        send(user, "start", &format!("{start}/start"), Some(&pairs(&token, &Fields::new()))).await?;
    while let Some(page_id) = path.strip_prefix(&format!("{start}/q/")).map(str::to_string) {
        let Some(page) = d.page(&page_id) else { break };
        let fields = simulate::answer(&persona, page, &shared.ics, today, &mut rng);
        let token = csrf(&body).unwrap_or_default();
        let (next, next_body) = send(user, "page submit", &path, Some(&pairs(&token, &fields))).await?;
        PAGES.fetch_add(1, Ordering::Relaxed);
        ANSWERS.fetch_add(answer_count(&fields), Ordering::Relaxed);
        (path, body) = (next, next_body);
    }
    if path == format!("{start}/check") {
        let token = csrf(&body).unwrap_or_default();
        let (done, body) =
            send(user, "submit", &format!("{start}/submit"), Some(&pairs(&token, &Fields::new()))).await?;
        if done.ends_with("/done") && body.contains("JU-") {
            SUBMISSIONS.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn load_shared() -> Result<Shared, String> {
    let survey = std::env::var("JOINEDUP_LOAD_SURVEY").unwrap_or_else(|_| "integration_index".into());
    let dir = std::env::var("JOINEDUP_DEFINITIONS").unwrap_or_else(|_| "survey-definitions".into());
    let files = joinedup::definitions::load_paths(&[dir.clone().into()])
        .map_err(|p| format!("{} problem(s) in {dir}: {}", p.len(), p[0]))?;
    let definition = files
        .into_iter()
        .map(|f| f.definition)
        .find(|d| d.id == survey)
        .ok_or_else(|| format!("no survey `{survey}` in {dir}"))?;
    let ics = joinedup::reference::icss().map_err(|e| e.to_string())?.into_iter().map(|i| i.ons_code).collect();
    Ok(Shared { definition, ics })
}

/// Compares the database with what was acknowledged.
fn check_database(url: &str) -> Result<(), String> {
    use joinedup::storage::{DatabaseUrl, Db, responses};
    let db = Db::connect(&DatabaseUrl::parse(url).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let mut conn = db.get().map_err(|e| e.to_string())?;
    let submitted =
        responses::count(&mut conn, responses::ResponseStatus::Submitted).map_err(|e| e.to_string())? as u64;
    let answers = responses::answer_count(&mut conn).map_err(|e| e.to_string())? as u64;
    let (acked_submissions, acked_answers) = (SUBMISSIONS.load(Ordering::Relaxed), ANSWERS.load(Ordering::Relaxed));
    println!(
        "database: {submitted} submitted responses (acknowledged {acked_submissions}), {answers} answers (acknowledged {acked_answers})"
    );
    if submitted != acked_submissions || answers != acked_answers {
        return Err("the database does not hold exactly what was acknowledged".into());
    }
    println!("database check: OK, exactly the acknowledged submissions and answers");
    Ok(())
}

fn report(metrics: &GooseMetrics) {
    let seconds = metrics.duration.max(1) as f64;
    let pages = PAGES.load(Ordering::Relaxed);
    let submissions = SUBMISSIONS.load(Ordering::Relaxed);
    println!("\n== joinedup load figures ==");
    println!(
        "users: {}   run time: {} s   retries while the server was away: {}",
        metrics.maximum_users,
        metrics.duration,
        RETRIES.load(Ordering::Relaxed)
    );
    println!("completions: {submissions} ({:.1}/s)", submissions as f64 / seconds);
    println!("page submits (POST + redirected GET): {pages} ({:.1}/s)", pages as f64 / seconds);
    if let Some(agg) = metrics.requests.iter().find(|(k, _)| k.ends_with("page submit")).map(|(_, v)| v) {
        let data = &agg.raw_data;
        println!(
            "page submit latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            data.percentile_us(0.5) as f64 / 1000.0,
            data.percentile_us(0.99) as f64 / 1000.0,
            data.maximum_time_us as f64 / 1000.0
        );
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match load_shared() {
        Ok(shared) => {
            let _ = SHARED.set(shared);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let attack = match GooseAttack::initialize() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = attack
        .register_scenario(scenario!("respondent").register_transaction(transaction!(complete_survey)))
        .set_default(GooseDefault::Host, "http://127.0.0.1:8080")
        .and_then(|a| a.set_default(GooseDefault::NoResetMetrics, true))
        .map(|a| a.execute());
    let metrics = match result {
        Ok(run) => match run.await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    report(&metrics);
    if let Ok(url) = std::env::var("DATABASE_URL")
        && let Err(e) = check_database(&url)
    {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

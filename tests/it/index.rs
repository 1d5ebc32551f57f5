//! The integration index end to end, on SQLite and PostgreSQL: demo
//! responses through the real routing, weighted release by release for
//! every ICS, disclosure control that holds in every format and against
//! differencing, the analyst pages and downloads, and the researcher's
//! microdata (coarsened, unlinkable, and enough to reproduce the release).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common;
use crate::common::harness::Services;
use common::accounts::{Browser, create_user, password_for};
use common::{TestApp, TestDb, Walker};
use joinedup::accounts::Role;
use joinedup::index::cells::{ALL, ENGLAND};
use joinedup::index::release::Period;
use joinedup::index::results::Published;
use joinedup::index::sample::Sample;
use joinedup::results::outputs::{self, Format};
use joinedup::results::reports::{self, ReleaseOptions, Report, Request, Window};
use libtest_mimic::Trial;

async fn demo_app(db: &TestDb) -> TestApp {
    let app = TestApp::spawn(db).await;
    let made =
        joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, app.state.clock.today(), 0.25).await.unwrap();
    assert!(made > 4000, "demo responses: {made}");
    app
}

/// The release the demo fills most: last month.
fn last_month() -> Period {
    Period::latest_closed(joinedup::clock::Clock::system().today())
}

async fn releases_for(app: &TestApp, survey: &str, window: Window, options: ReleaseOptions) -> Vec<Arc<Report>> {
    let state = app.state.clone();
    let request = Request { survey_id: survey.into(), window, options };
    app.state
        .db
        .run_with_pool(move |db| state.releases.releases(db, &state.surveys, &request, state.clock.today()))
        .await
        .unwrap()
        .unwrap()
}

async fn report_for(app: &TestApp, threshold: usize) -> Arc<Report> {
    releases_for(app, "integration_index", Window::Latest, ReleaseOptions::new(threshold)).await.remove(0)
}

/// The release as it would be computed now (not stored).
async fn computed_now(app: &TestApp) -> Report {
    let state = app.state.clone();
    app.state
        .db
        .run_with_pool(move |db| {
            reports::compute(db, &state.surveys, "integration_index", last_month(), ReleaseOptions::new(30))
        })
        .await
        .unwrap()
        .unwrap()
}

/// (family name, sample, group, measure, area, dimension, category) of a parent.
type FamilyKey = (String, Sample, String, String, String, String, String);

/// The additive families of one sample's table: a parent's key and its members.
fn families(cells: &[Published]) -> BTreeMap<FamilyKey, Vec<&Published>> {
    let mut out: BTreeMap<_, Vec<&Published>> = BTreeMap::new();
    for c in cells {
        if c.area != ENGLAND {
            out.entry((
                "icss".to_string(),
                c.sample,
                c.group.clone(),
                c.measure.clone(),
                ENGLAND.to_string(),
                c.dimension.clone(),
                c.category.clone(),
            ))
            .or_default()
            .push(c);
        }
        if c.dimension != ALL {
            out.entry((
                c.dimension.clone(),
                c.sample,
                c.group.clone(),
                c.measure.clone(),
                c.area.clone(),
                ALL.to_string(),
                ALL.to_string(),
            ))
            .or_default()
            .push(c);
        }
    }
    out
}

/// What disclosure control promises, checked from the published cells as an
/// attacker would see them: small cells carry no figure, and no hidden
/// group of fewer than `threshold` people follows within ±2 points from a
/// published parent less its published siblings.
fn check_disclosure(cells: &[Published], threshold: usize) {
    let by_key: BTreeMap<(Sample, String, String, String, String, String), &Published> = cells
        .iter()
        .map(|c| {
            ((c.sample, c.group.clone(), c.measure.clone(), c.area.clone(), c.dimension.clone(), c.category.clone()), c)
        })
        .collect();
    for c in cells {
        if c.n_exact < threshold {
            assert!(
                c.suppressed.is_some() && c.estimate.is_none() && c.sum_w.is_none(),
                "a small cell is published: {c:?}"
            );
        }
        if c.suppressed.is_some() {
            assert!(
                c.estimate.is_none()
                    && c.se.is_none()
                    && c.sum_w.is_none()
                    && c.n_eff_kish.is_none()
                    && c.deff.is_none(),
                "{c:?}"
            );
        }
        if (1..=7).contains(&c.n_exact) {
            assert_eq!(c.n, "*");
        }
        for v in [
            c.sum_w,
            c.n_eff_kish,
            c.deff,
            c.n_eff_design,
            c.estimate,
            c.se,
            c.ci_low,
            c.ci_high,
            c.vs_england,
            c.vs_england_se,
        ] {
            assert!(v.is_none_or(f64::is_finite), "a figure that is not a number: {c:?}");
        }
    }
    let mut checked = 0;
    for ((_, sample, group, measure, area, dimension, category), members) in families(cells) {
        let Some(parent) = by_key.get(&(sample, group, measure, area, dimension, category)) else { continue };
        let (Some(w_parent), Some(_)) = (parent.sum_w, parent.estimate) else { continue };
        let listed: usize = members.iter().filter(|m| m.suppressed.is_none()).map(|m| m.n_exact).sum();
        let rest = parent.n_exact - listed;
        if rest == 0 || rest >= threshold {
            continue;
        }
        let published: f64 = members.iter().filter_map(|m| m.sum_w).sum();
        let weight = w_parent - published;
        // The attacker's error: each published estimate is off by up to half
        // its last digit, 0.05, or 0.5 when shown to whole points.
        let rounding = |c: &Published| if c.coarsened { 0.5 } else { 0.05 };
        let error = (rounding(parent) * w_parent
            + members.iter().filter_map(|m| Some(rounding(m) * m.sum_w?)).sum::<f64>())
            / weight;
        assert!(
            weight <= 0.0 || error > 2.0,
            "{rest} people of {parent:?} follow within ±{error:.2} points from its published members"
        );
        checked += 1;
    }
    assert!(checked > 0, "some families hide a small group");
}

async fn demo_results_cover_every_ics(db: TestDb) {
    let app = demo_app(&db).await;
    let report = report_for(&app, 30).await;
    assert_eq!(report.period, last_month());
    assert_eq!(report.results.headline, Some(Sample::Invitation), "the invited people are the headline");
    let cells = &report.results.cells;
    let icss: Vec<&Published> = cells
        .iter()
        .filter(|c| {
            c.sample == Sample::Invitation
                && c.group == "people"
                && c.measure == "index"
                && c.dimension == ALL
                && c.area != ENGLAND
        })
        .collect();
    assert_eq!(icss.len(), 42, "one people's index row per ICS");
    let england = cells
        .iter()
        .find(|c| {
            c.sample == Sample::Invitation
                && c.group == "people"
                && c.measure == "index"
                && c.area == ENGLAND
                && c.dimension == ALL
        })
        .unwrap();
    let (lo, hi) = (england.ci_low.unwrap(), england.ci_high.unwrap());
    assert!(lo < england.estimate.unwrap() && england.estimate.unwrap() < hi && hi - lo < 5.0, "{england:?}");
    assert!(england.deff.unwrap() > 0.0 && england.n_eff_design.unwrap() > 0.0 && england.n_eff_kish.unwrap() > 0.0);
    let published = icss.iter().filter(|c| c.estimate.is_some()).count();
    assert!(published >= 20, "most ICSs have enough respondents at a quarter of the demo: {published}");
    assert!(icss.iter().filter(|c| c.vs_peers.is_some()).count() >= 15, "peers where peers are published");
    for c in icss.iter().filter(|c| c.estimate.is_some()) {
        assert!(c.vs_england.is_some() && c.funnel.is_some() && c.standardised.is_some(), "{c:?}");
    }
    // Groups, domains and questions (with intervals) are all there, in both samples.
    for dimension in ["age_band", "sex", "ethnicity", "imd_quintile", "long_term_condition", "voice", "mode"] {
        assert!(cells.iter().any(|c| c.dimension == dimension && c.estimate.is_some()), "{dimension}");
    }
    assert!(cells.iter().any(|c| c.group == "carers" && c.measure == "index"));
    assert!(cells.iter().any(|c| c.sample == Sample::OpenLink && c.estimate.is_some()), "open link on its own");
    let question = cells
        .iter()
        .find(|c| c.measure.ends_with("=positive") && c.area == ENGLAND && c.dimension == ALL && c.estimate.is_some())
        .unwrap();
    assert!(question.se.is_some() && question.ci_low.unwrap() < question.estimate.unwrap(), "{question:?}");
    // A lone child respondent in an ICS no longer leaves England without an SE.
    let children = cells.iter().find(|c| {
        c.sample == Sample::Invitation
            && c.group == "children"
            && c.measure == "index"
            && c.area == ENGLAND
            && c.dimension == ALL
    });
    if let Some(c) = children.filter(|c| c.estimate.is_some()) {
        assert!(c.se.is_some_and(|se| se > 0.0), "{c:?}");
    }
    assert!(report.provenance.versions[0].1.len() == 64);
    assert!(
        report.provenance.trimming.starts_with("weights capped at 5 x the mean weight"),
        "{}",
        report.provenance.trimming
    );
    assert!(report.provenance.information_loss.contains("information loss"), "{}", report.provenance.information_loss);
    // A quarter of the demo: a sparser table than the full demo's (whose
    // figure the note gives), so a looser bound.
    assert!(report.results.disclosure.information_loss() <= 0.05, "{}", report.results.disclosure.describe());
    check_disclosure(cells, 30);
    // A stricter threshold hides more, and still holds.
    let strict = report_for(&app, 60).await;
    check_disclosure(&strict.results.cells, 60);
    let hidden = |r: &Report| r.results.cells.iter().filter(|c| c.suppressed.is_some()).count();
    assert!(hidden(&strict) > hidden(&report));
    // No ICS headline row with twice the threshold is hidden, for any measure.
    for c in cells.iter().filter(|c| c.area != ENGLAND && c.dimension == ALL && c.n_exact >= 60) {
        assert!(c.suppressed.is_none(), "{c:?}");
    }
}

/// Trimming is on by default; off on request reproduces the untrimmed
/// weights, and each variant is its own stored release.
async fn trimming_is_the_default_and_can_be_turned_off(db: TestDb) {
    let app = demo_app(&db).await;
    let trimmed = report_for(&app, 30).await;
    let mut options = ReleaseOptions::new(30);
    options.trim = None;
    let untrimmed = releases_for(&app, "integration_index", Window::Latest, options).await.remove(0);
    assert!(untrimmed.provenance.trimming.starts_with("none"), "{}", untrimmed.provenance.trimming);
    let count = |r: &Report| r.results.cells.len();
    assert_eq!(count(&trimmed), count(&untrimmed), "the same cells");
    // The variant keeps every mark of the default, so the two together
    // show nothing either hides.
    assert_eq!((&untrimmed.margin_ids, &untrimmed.pooled_versions), (&trimmed.margin_ids, &trimmed.pooled_versions));
    let mut kept = 0;
    for (d, v) in trimmed.results.cells.iter().zip(&untrimmed.results.cells) {
        assert_eq!((&d.measure, &d.area, &d.category), (&v.measure, &v.area, &v.category));
        if d.suppressed.is_some() {
            assert!(v.suppressed.is_some(), "hidden by default, shown untrimmed: {v:?}");
            kept += 1;
        }
        if d.coarsened {
            assert!(v.coarsened || v.suppressed.is_some(), "coarse by default, finer untrimmed: {v:?}");
        }
    }
    assert!(kept > 0);
    options.pooled = true;
    let pooled = releases_for(&app, "integration_index", Window::Latest, options).await.remove(0);
    assert!(pooled.results.cells.iter().any(|c| c.sample == Sample::Pooled && c.estimate.is_some()));
    assert!(pooled.provenance.weighting.contains("composite"), "{}", pooled.provenance.weighting);
    check_disclosure(&pooled.results.cells, 30);
}

/// Every format carries the same published cells: nothing hidden leaks.
async fn every_format_publishes_the_same_cells(db: TestDb) {
    let app = demo_app(&db).await;
    let report = report_for(&app, 30).await;
    let reports = vec![report.clone()];
    let mut csv_bytes = Vec::new();
    outputs::write(&reports, None, Format::Csv, &mut csv_bytes).unwrap();
    let text = String::from_utf8(csv_bytes).unwrap();
    assert!(text.starts_with("# survey: integration_index"), "provenance first");
    assert!(text.contains("# versions: 1.1 (sha256 "));
    assert!(text.contains("# disclosure control: estimates from fewer than 30"));
    assert!(text.contains("# information loss: "));
    let body: String = text.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), report.results.cells.len());
    for (row, cell) in rows.iter().zip(&report.results.cells) {
        assert_eq!(&row[col("release")], report.period.to_string());
        assert_eq!(&row[col("n")], cell.n.as_str());
        if cell.suppressed.is_some() {
            assert!(
                row[col("sum_w")].is_empty() && row[col("estimate")].is_empty() && row[col("se")].is_empty(),
                "hidden figures leak in csv: {row:?}"
            );
        } else {
            assert_eq!(row[col("estimate")].parse::<f64>().ok(), cell.estimate);
        }
    }
    let mut json_bytes = Vec::new();
    outputs::write(&reports, None, Format::Json, &mut json_bytes).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json_bytes).unwrap();
    let release = &json["releases"][0];
    assert_eq!(release["provenance"]["survey_id"], "integration_index");
    assert_eq!(release["headline"], "invitation");
    let json_cells = release["cells"].as_array().unwrap();
    assert_eq!(json_cells.len(), report.results.cells.len());
    for (j, cell) in json_cells.iter().zip(&report.results.cells) {
        if cell.suppressed.is_some() {
            assert!(j.get("estimate").is_none() && j.get("sum_w").is_none() && j.get("n_exact").is_none(), "{j}");
        }
    }
    let mut xlsx = Vec::new();
    outputs::write(&reports, None, Format::Xlsx, &mut xlsx).unwrap();
    assert!(xlsx.starts_with(b"PK"), "an xlsx (zip) file");
    let mut only_open = Vec::new();
    outputs::write(&reports, Some(Sample::OpenLink), Format::Csv, &mut only_open).unwrap();
    let only_open = String::from_utf8(only_open).unwrap();
    assert!(only_open.lines().filter(|l| !l.starts_with('#')).skip(1).all(|l| l.contains(",open_link,")));
}

async fn analyst_pages_and_downloads(db: TestDb) {
    let app = demo_app(&db).await;
    let email = "analyst@example.org";
    create_user(&app, email, &password_for("analyst"), &[Role::Analyst]).await;
    let browser = Browser::signed_in(&app, email, &password_for("analyst")).await;
    let page = browser.get("/analyst/surveys/integration_index").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let html = page.body;
    assert!(html.contains("<svg") && html.contains("role=\"img\""), "server-side charts");
    assert!(html.contains("Funnel plot"));
    assert!(html.contains(&last_month().first_day().format("%B %Y").to_string()), "the release is named");
    assert_eq!(html.matches("<th scope=\"row\">").count(), 43, "England and 42 ICS rows");
    assert!(!html.contains("microdata"), "microdata is for researchers");
    let open = browser.get("/analyst/surveys/integration_index?sample=open_link").await;
    assert!(open.body.contains("indicative only"), "open-link figures are labelled");
    let split = browser.get("/analyst/surveys/integration_index?dimension=age_band&area=England").await;
    assert!(split.body.contains("By age_band"));
    let questions = browser.get("/analyst/surveys/integration_index/questions").await;
    assert!(questions.body.contains("Weighted %") && questions.body.contains("95% CI"));
    let still_open =
        browser.get(&format!("/analyst/surveys/integration_index/download?release={}", last_month().next())).await;
    assert_eq!(still_open.status, 400, "the month in fieldwork is not released");
    assert!(still_open.body.contains("still open"), "{}", still_open.body);
    for format in ["csv", "json", "xlsx"] {
        let r = browser
            .client
            .get(app.url(&format!("/analyst/surveys/integration_index/download?format={format}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{format}");
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(&format!("integration_index-results-{}.{format}", last_month()))
        );
    }
    // Windows snap to whole releases: two months give both, in a column.
    let trend = browser
        .get(&format!(
            "/analyst/surveys/integration_index/download?format=csv&from={}",
            last_month().previous().first_day()
        ))
        .await;
    assert!(
        trend.body.contains(&format!("\n{},", last_month().previous()))
            && trend.body.contains(&format!("\n{},", last_month()))
    );
    let micro = browser.get("/research/surveys/integration_index/microdata").await;
    assert_eq!(micro.status, 403, "an analyst is not a researcher");
    // Bad choices get one sentence each, never a partial file.
    for (query, says) in [
        ("release=2026-13", "must be a month"),
        ("release=1999-01", "no responses were submitted in it"),
        ("sample=everyone", "unknown sample"),
        ("trim=7.5", "trim must be"),
        ("channel=fax", "unknown sample"),
    ] {
        let r = browser.get(&format!("/analyst/surveys/integration_index/download?{query}")).await;
        assert_eq!(r.status, 400, "{query}");
        assert!(r.body.contains(says), "{query}: {}", r.body);
    }
    let audited = common::accounts::audit(&app, "results_downloaded").await.len();
    assert_eq!(audited, 4, "every download is audited");
    // The API gives the same, with an analyst's session.
    let api = browser.get("/api/v1/analyst/surveys/integration_index/results").await;
    assert_eq!(api.status, 200);
    let unknown = browser.get("/analyst/surveys/no_such/download?format=csv").await;
    assert_eq!(unknown.status, 404);
    // API errors are RFC 9457 problem details with the same status codes.
    for (path, status, code) in [
        ("/api/v1/analyst/surveys/no_such/results", 404, "not_found"),
        ("/api/v1/analyst/surveys/integration_index/results?release=2026-13", 400, "bad_request"),
        ("/api/v1/analyst/surveys/integration_index/results?format=pdf", 400, "bad_request"),
        ("/api/v1/no/such/route", 404, "not_found"),
    ] {
        let r = browser.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json", "{path}");
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!((problem["status"].as_u64(), problem["code"].as_str()), (Some(status as u64), Some(code)), "{path}");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty() && !d.contains('<')), "{path}: {problem}");
    }
}

async fn a_survey_with_no_release_is_a_clear_error(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let state = app.state.clone();
    let request =
        Request { survey_id: "leaving_hospital".into(), window: Window::Latest, options: ReleaseOptions::new(30) };
    let err = app
        .state
        .db
        .run_with_pool(move |db| state.releases.releases(db, &state.surveys, &request, state.clock.today()))
        .await
        .unwrap()
        .err()
        .unwrap();
    assert!(err.to_string().starts_with("survey `leaving_hospital` has no closed release"), "{err}");
}

/// Keys `counts[k]` paper questionnaires in ICS `k` (each from a person of
/// a postal sample, as patients, answering every printed question the
/// simulated way), dated the middle of last month, through data entry's
/// own reading and saving. Returns the ICS codes.
async fn key_paper_forms(app: &TestApp, counts: &[usize]) -> Vec<String> {
    use joinedup::definitions::Voice;
    use joinedup::invitations::import;
    use joinedup::journey::simulate::{self, Persona};
    use rand::SeedableRng;

    let keyer_id = create_user(app, "keyer@example.org", &password_for("keyer"), &[Role::DataEntry]).await;
    let keyer = joinedup::audit::Actor::user(keyer_id, "keyer@example.org");
    let survey = app.state.surveys.latest("integration_index").unwrap();
    let (secret, today) = (app.state.secret.expose().to_string(), app.state.clock.today());
    let (icss, people) = app
        .state
        .db
        .write({
            let (survey, counts) = (survey.clone(), counts.to_vec());
            move |conn| {
                let icss = joinedup::storage::icss::valid_on(conn, today)?;
                let codes: Vec<String> = icss.iter().take(counts.len()).map(|i| i.ons_code.clone()).collect();
                let mut csv = String::from("ics,address,postcode,channel,voice\n");
                for (h, (code, n)) in codes.iter().zip(&counts).enumerate() {
                    for k in 0..*n {
                        csv.push_str(&format!("{code},\"{k} Paper Street {h}\",LS1 4AP,letter,patient\n"));
                    }
                }
                let outcome = import::import(
                    conn,
                    &import::Request {
                        survey: &survey.definition,
                        icss: &icss,
                        file_name: "paper.csv",
                        bytes: csv.as_bytes(),
                        skip_invalid: false,
                        double_entry: false,
                        secret: &secret,
                        actor: &joinedup::audit::Actor::command_line(),
                        client_ip: None,
                        at: joinedup::storage::now(),
                    },
                )?;
                let import::Outcome::Imported { sample, .. } = outcome else { panic!("not imported: {outcome:?}") };
                let people = joinedup::storage::letters::sample_people(conn, sample.id)?;
                Ok((codes, people.into_iter().map(|p| p.invitee_id).collect::<Vec<_>>()))
            }
        })
        .await
        .unwrap();
    assert_eq!(people.len(), counts.iter().sum::<usize>());
    let d = &survey.definition;
    // The ICS question is not printed (the sample gave the ICS).
    let ics_set: std::collections::BTreeSet<String> = icss.iter().cloned().collect();
    // Last month, as a release holds it: results are published a closed
    // month at a time.
    let keyed_at = (last_month().first_day() + chrono::Days::new(14)).and_hms_opt(11, 0, 0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    for (k, invitee) in people.into_iter().enumerate() {
        let form = joinedup::data_entry::by_invitee(&app.state.db, &app.state.surveys, invitee, None)
            .await
            .unwrap()
            .expect("the person's form");
        assert_eq!(form.voice, Some(Voice::Patient));
        let persona = Persona { lean: if k % 2 == 0 { 0.5 } else { -0.5 }, ..Persona::new(Voice::Patient) };
        let mut fields = joinedup::journey::Fields::new();
        for page in joinedup::paper::booklet::printed_pages(d, Voice::Patient, true) {
            fields.extend(simulate::answer(&persona, &d.pages[page], &icss, keyed_at.date(), &mut rng));
        }
        let confirmed = joinedup::data_entry::Confirmed { off_route: true, blank: false };
        let keyed_by = (&keyer, None);
        let keyed = joinedup::data_entry::key(
            &app.state.db,
            &form,
            Voice::Patient,
            &fields,
            confirmed,
            keyed_by,
            (&ics_set, keyed_at),
        )
        .await
        .unwrap()
        .expect("not tampered");
        assert!(
            matches!(keyed, joinedup::data_entry::Keying::Saved(joinedup::storage::keying::Saved::Counted { .. })),
            "{keyed:?}"
        );
    }
    icss
}

/// Mode is a dimension of every output: paper questionnaires keyed for
/// last month are published under `mode` = `paper` in the CSV and JSON
/// downloads (with their own counts, suppressed where too few, the online
/// row protecting them) and on the results page, beside the online rows.
async fn keyed_paper_forms_are_published_by_mode(db: TestDb) {
    let app = demo_app(&db).await;
    // Enough on paper in one ICS to publish; too few in another.
    let icss = key_paper_forms(&app, &[40, 4]).await;
    let (many, few) = (&icss[0], &icss[1]);
    // What the published counts must be: paper result rows with an index.
    let rows = app
        .state
        .db
        .run(|conn| joinedup::storage::results::for_survey(conn, "integration_index", None, None))
        .await
        .unwrap();
    let period = last_month();
    let paper_with_index = |ics: Option<&str>| {
        rows.iter()
            .filter(|r| r.mode == joinedup::storage::responses::Mode::Paper && r.index_score.is_some())
            .filter(|r| r.submitted_on >= period.first_day() && r.submitted_on <= period.last_day())
            .filter(|r| ics.is_none_or(|code| r.ics_code.as_deref() == Some(code)))
            .count()
    };
    assert!(paper_with_index(Some(many)) >= 30, "{}", paper_with_index(Some(many)));
    assert!((1..=4).contains(&paper_with_index(Some(few))), "{}", paper_with_index(Some(few)));

    let email = "analyst@example.org";
    create_user(&app, email, &password_for("analyst"), &[Role::Analyst]).await;
    let browser = Browser::signed_in(&app, email, &password_for("analyst")).await;
    let csv = browser.get("/analyst/surveys/integration_index/download?format=csv").await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.body.contains("; by mode: online "), "the provenance counts each mode");
    assert!(csv.body.contains(", paper "), "the provenance counts each mode");
    let body: String = csv.body.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let index_row = |area: &str, category: &str| {
        records
            .iter()
            .find(|r| {
                &r[col("sample")] == "invitation"
                    && &r[col("group")] == "people"
                    && &r[col("measure")] == "index"
                    && &r[col("area")] == area
                    && &r[col("dimension")] == "mode"
                    && &r[col("category")] == category
            })
            .unwrap_or_else(|| panic!("no {area} mode={category} row"))
    };
    let count = |n: usize| joinedup::index::disclosure::published_count(n);
    let england = index_row(ENGLAND, "paper");
    assert_eq!(&england[col("n")], count(paper_with_index(None)));
    assert!(!england[col("estimate")].is_empty(), "England's paper row is published: {england:?}");
    assert!(england[col("note")].contains("not adjusted for mode effects"), "{england:?}");
    let big = index_row(many, "paper");
    assert_eq!(&big[col("n")], count(paper_with_index(Some(many))));
    let small = index_row(few, "paper");
    assert_eq!((&small[col("n")], &small[col("suppressed")]), ("*", "too few respondents"));
    assert!(small[col("estimate")].is_empty());
    assert!(index_row(few, "online")[col("note")].contains("not adjusted for mode effects"));
    assert!(records.iter().any(|r| &r[col("dimension")] == "mode" && r[col("measure")].ends_with("=positive")));

    let json = browser.get("/api/v1/analyst/surveys/integration_index/results").await;
    assert_eq!(json.status, 200);
    let json: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    let release = &json["releases"][0];
    assert!(release["provenance"]["mode_mix"]["paper"].is_string(), "{}", release["provenance"]);
    let says = release["dimension_notes"]["mode"].as_str().unwrap();
    assert!(says.contains("not adjusted for mode effects"), "{says}");
    let cells = release["cells"].as_array().unwrap();
    let paper: Vec<&serde_json::Value> = cells
        .iter()
        .filter(|c| {
            c["sample"] == "invitation"
                && c["group"] == "people"
                && c["measure"] == "index"
                && c["dimension"] == "mode"
                && c["category"] == "paper"
        })
        .collect();
    let at = |area: &str| paper.iter().find(|c| c["area"] == area).copied().unwrap();
    assert_eq!(at(ENGLAND)["n"], count(paper_with_index(None)));
    assert_eq!(at(ENGLAND)["estimate"].as_f64(), england[col("estimate")].parse::<f64>().ok());
    assert_eq!(at(few)["suppressed"], "too few respondents");
    assert!(at(few).get("estimate").is_none());

    // The page splits by mode, saying what the split is for.
    let page = browser.get(&format!("/analyst/surveys/integration_index?dimension=mode&area={many}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("By mode"), "{}", page.body);
    assert!(page.body.contains("not adjusted for mode effects"));
    assert!(page.body.contains("<th scope=\"row\">paper</th>") && page.body.contains("<th scope=\"row\">online</th>"));
    // Nothing hidden follows from its family, by mode as by any dimension.
    check_disclosure(&report_for(&app, 30).await.results.cells, 30);
}

/// The differencing attack: an analyst and a researcher download
/// everything, one respondent submits, and they download again. Every
/// results format, the API and the page are byte for byte the same; the
/// microdata holds the same rows (as a multiset of every column but the
/// id) with fresh ids in a new order. Nothing moves, so nothing can be
/// subtracted.
async fn one_new_respondent_changes_nothing_an_analyst_can_see(db: TestDb) {
    let app = demo_app(&db).await;
    let email = "analyst@example.org";
    create_user(&app, email, &password_for("analyst"), &[Role::Analyst, Role::Researcher]).await;
    let browser = Browser::signed_in(&app, email, &password_for("analyst")).await;
    let paths = [
        "/analyst/surveys/integration_index/download?format=csv",
        "/analyst/surveys/integration_index/download?format=json",
        "/analyst/surveys/integration_index/download?format=xlsx",
        "/analyst/surveys/integration_index/download?format=csv&sample=open_link",
        "/analyst/surveys/integration_index/download?format=csv&from=2000-01-01",
        "/api/v1/analyst/surveys/integration_index/results",
        "/analyst/surveys/integration_index/questions",
    ];
    let fetch = |path: &'static str| {
        let browser = &browser;
        async move {
            // A kept-alive connection the server closed while a slow release
            // was computed is reset once; the request is then sent anew.
            let r = match browser.client.get(browser.app.url(path)).send().await {
                Ok(r) => r,
                Err(e) if e.is_request() => browser.client.get(browser.app.url(path)).send().await.unwrap(),
                Err(e) => panic!("{path}: {e}"),
            };
            assert_eq!(r.status(), 200, "{path}");
            r.bytes().await.unwrap()
        }
    };
    let mut before = Vec::new();
    for path in paths {
        before.push(fetch(path).await);
    }
    let page_before = browser.get("/analyst/surveys/integration_index?sample=open_link").await.body;
    let micro_before = browser.get("/research/surveys/integration_index/microdata").await.body;
    // One open-link respondent answers and submits.
    let mut walker = Walker::new(&app, "integration_index");
    walker.answer_all(&joinedup::journey::simulate::Persona::new(joinedup::definitions::Voice::CarerSelf), 7).await;
    let done = walker.submit().await;
    assert_eq!(done.status, 200, "{}", done.body);
    for (path, earlier) in paths.iter().zip(&before) {
        assert!(fetch(path).await == *earlier, "{path} moved after one submission");
    }
    let tables = |html: &str| {
        html.split("<tbody")
            .skip(1)
            .map(|t| t.split("</tbody>").next().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tables(&browser.get("/analyst/surveys/integration_index?sample=open_link").await.body),
        tables(&page_before)
    );
    let micro_after = browser.get("/research/surveys/integration_index/microdata").await.body;
    let rows = |text: &str| -> (Vec<String>, Vec<String>) {
        let mut ids = Vec::new();
        let mut rest: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .skip(1)
            .map(|l| {
                let (id, rest) = l.split_once(',').unwrap();
                ids.push(id.to_string());
                rest.to_string()
            })
            .collect();
        let order = rest.clone();
        rest.sort();
        (ids, [rest, order].concat())
    };
    let (ids_before, rows_before) = rows(&micro_before);
    let (ids_after, rows_after) = rows(&micro_after);
    let n = ids_before.len();
    assert!(n > 1000, "{n} rows");
    assert_eq!(rows_before[..n], rows_after[..n], "the same rows, as a multiset");
    assert_ne!(rows_before[n..], rows_after[n..], "in a new order");
    let common: Vec<&String> = ids_before.iter().filter(|id| ids_after.contains(id)).collect();
    assert!(common.is_empty(), "no id links the two downloads: {common:?}");
    // Across releases: each file's shown details are shared by at least ten,
    // and the two months hold different people (no row in both).
    let earlier = browser
        .get(&format!("/research/surveys/integration_index/microdata?release={}", last_month().previous()))
        .await
        .body;
    for text in [&micro_after, &earlier] {
        let mut combos: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            *combos.entry(fields[3..=11].iter().map(|f| f.to_string()).collect()).or_default() += 1;
        }
        assert!(combos.values().all(|&n| n >= 10), "a shown combination under 10");
    }
}

/// The researcher's microdata: no combination of details shown is held by
/// fewer than 10, and the file alone reproduces the release's published
/// ICS index and domain estimates: exactly (within 0.1 points, SEs within
/// 10%) where the rows keep their raking details, within three standard
/// errors where some are blanked (their weights then carry their shown
/// combination's adjustment, not their own).
async fn microdata_is_coarsened_and_reproduces_the_release(db: TestDb) {
    let app = demo_app(&db).await;
    let (_, close) = check_microdata(&app).await;
    assert!(close > 20, "a quarter of the demo is sparse: most ICSs have blanked details ({close})");
}

/// With each of last month's demo people ten times over, every full
/// combination of details is held by at least ten rows, nothing is
/// blanked, every row carries its own weight, and the file gives the
/// release's ICS figures to 0.1 points (SEs to 10%).
async fn microdata_of_a_fuller_release_reproduces_it_exactly(db: TestDb) {
    let app = demo_app(&db).await;
    let period = last_month();
    let (from, to) = (period.first_day(), period.last_day());
    app.state
        .db
        .write(move |conn| {
            use diesel::RunQueryDsl;
            use diesel::sql_types::{BigInt, Date};
            let offset: i64 = diesel::sql_query("SELECT MAX(id) AS n FROM responses")
                .get_result::<Count>(conn)?
                .n;
            for k in 1..=9i64 {
                let shift = k * offset;
                diesel::sql_query(
                    "INSERT INTO responses (id, survey_version_id, channel, status, voice, language, ics_code, created_at, updated_at, submitted_at, voice_preset, ics_preset, mode) \
                     SELECT r.id + $1, r.survey_version_id, r.channel, r.status, r.voice, r.language, r.ics_code, r.created_at, r.updated_at, r.submitted_at, r.voice_preset, r.ics_preset, r.mode \
                     FROM responses r JOIN response_results rr ON rr.response_id = r.id \
                     WHERE rr.survey_id = 'integration_index' AND rr.submitted_on BETWEEN $2 AND $3 AND r.id <= $4",
                )
                .bind::<BigInt, _>(shift)
                .bind::<Date, _>(from)
                .bind::<Date, _>(to)
                .bind::<BigInt, _>(offset)
                .execute(conn)?;
                diesel::sql_query(
                    "INSERT INTO response_results (response_id, survey_version_id, survey_id, scoring_signature, submitted_on, channel, voice, ics_code, age_band, sex, ethnicity, long_term_condition, imd_quintile, base_weight, index_score, domain_scores, choices, mode) \
                     SELECT response_id + $1, survey_version_id, survey_id, scoring_signature, submitted_on, channel, voice, ics_code, age_band, sex, ethnicity, long_term_condition, imd_quintile, base_weight, index_score, domain_scores, choices, mode \
                     FROM response_results WHERE survey_id = 'integration_index' AND submitted_on BETWEEN $2 AND $3 AND response_id <= $4",
                )
                .bind::<BigInt, _>(shift)
                .bind::<Date, _>(from)
                .bind::<Date, _>(to)
                .bind::<BigInt, _>(offset)
                .execute(conn)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let (exact, close) = check_microdata(&app).await;
    assert!(exact > 200 && close == 0, "{exact} ICS cells reproduced to 0.1 points, {close} not");
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Downloads the microdata as a researcher and reproduces the release's ICS
/// figures from it: (cells reproduced to 0.1, cells with blanked details).
async fn check_microdata(app: &TestApp) -> (usize, usize) {
    let email = "researcher@example.org";
    create_user(app, email, &password_for("researcher"), &[Role::Researcher]).await;
    let browser = Browser::signed_in(app, email, &password_for("researcher")).await;
    let home = browser.get("/research").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("microdata?release&#x3D;"), "{}", home.body);
    let micro = browser.get("/research/surveys/integration_index/microdata").await;
    assert_eq!(micro.status, 200, "{}", micro.body.split("<main").nth(1).unwrap_or_default());
    let text = micro.body;
    assert!(text.starts_with("# survey: integration_index"), "provenance first");
    assert!(text.contains("\n# sample: invitation"), "{}", &text[..800]);
    let body: String = text.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert!(
        !headers
            .iter()
            .any(|h| h.contains("email") || h.contains("token") || h.contains("month") || h.contains("channel"))
    );
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert!(records.len() > 1000, "{}", records.len());
    // ics, population_group, voice, mode, age_band, sex, ethnicity,
    // long_term_condition, imd_quintile.
    let combo =
        |r: &csv::StringRecord| (col("ics")..=col("imd_quintile")).map(|k| r[k].to_string()).collect::<Vec<_>>();
    let mut combos: BTreeMap<Vec<String>, (usize, Vec<String>)> = BTreeMap::new();
    for r in &records {
        let e = combos.entry(combo(r)).or_default();
        e.0 += 1;
        e.1.push(r[col("weight")].to_string());
    }
    for (c, (n, weights)) in &combos {
        assert!(*n >= 10, "a combination under 10: {c:?}");
        // The lead sets selection probabilities: none may mark a row.
        let mut held: BTreeMap<&str, usize> = BTreeMap::new();
        for w in weights {
            *held.entry(w.as_str()).or_default() += 1;
        }
        assert!(held.values().all(|&k| k >= 10), "a weight held by fewer than 10 rows in {c:?}: {held:?}");
    }
    // Reproduce the published ICS figures from the file alone. Where every
    // row of an ICS and group still shows its age band and sex (its raking
    // cells), each row's weight is its own (its base weight banded with
    // nine others') and the figures are the release's; where some are
    // blanked, their weights are their shown combination's, and the
    // figures stay close.
    let report = report_for(app, 30).await;
    let mut measures = vec!["index".to_string()];
    measures.extend(headers.iter().filter_map(|h| h.strip_prefix("domain_")).map(str::to_string));
    let (mut exact, mut close, mut worst) = (0, 0, 0.0f64);
    for cell in report.results.cells.iter().filter(|c| {
        c.sample == Sample::Invitation
            && c.area != ENGLAND
            && c.dimension == ALL
            && measures.contains(&c.measure)
            && c.estimate.is_some()
    }) {
        let column = if cell.measure == "index" { col("index") } else { col(&format!("domain_{}", cell.measure)) };
        let rows: Vec<&csv::StringRecord> =
            records.iter().filter(|r| r[col("ics")] == cell.area && r[col("population_group")] == cell.group).collect();
        let full_bands = ["0-17", "18-34", "35-54", "55-64", "65-74", "75-84", "85+"];
        let blanked = rows.iter().any(|r| !full_bands.contains(&&r[col("age_band")]) || r[col("sex")].is_empty());
        // Every row of the ICS and group is the stratum; the domain is those
        // with a value. As a researcher would in R: svydesign(ids = ~1,
        // strata = ~ics, weights = ~weight), raked (a no-op on these weights)
        // to the public ONS age band and sex margins, which gives the
        // variance its raking residuals: ten sweeps over the two margins.
        let weights: Vec<f64> = rows.iter().map(|r| r[col("weight")].parse::<f64>().unwrap()).collect();
        let values: Vec<Option<f64>> = rows.iter().map(|r| r[column].parse::<f64>().ok()).collect();
        let total: f64 = weights.iter().zip(&values).filter(|(_, v)| v.is_some()).map(|(w, _)| w).sum();
        let mean = weights.iter().zip(&values).filter_map(|(w, v)| v.map(|y| w * y)).sum::<f64>() / total;
        let mut z: Vec<f64> =
            weights.iter().zip(&values).map(|(w, v)| v.map_or(0.0, |y| w * (y - mean) / total)).collect();
        let raked = report.results.sample(Sample::Invitation).is_some_and(|s| {
            s.weighting.iter().any(|w| w.group == cell.group && w.raked && !w.margins_not_met.contains(&cell.area))
        });
        if raked && !blanked {
            for _ in 0..10 {
                for margin in ["age_band", "sex"] {
                    let mut cells: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
                    for (k, r) in rows.iter().enumerate() {
                        let e = cells.entry(&r[col(margin)]).or_default();
                        e.0 += z[k] / weights[k];
                        e.1 += 1.0;
                    }
                    for (k, r) in rows.iter().enumerate() {
                        let (sum, count) = cells[&r[col(margin)]];
                        z[k] -= weights[k] * sum / count;
                    }
                }
            }
        }
        let n = z.len() as f64;
        let zbar = z.iter().sum::<f64>() / n;
        let se = (n / (n - 1.0) * z.iter().map(|v| (v - zbar).powi(2)).sum::<f64>()).sqrt();
        let (published, published_se) = (cell.estimate.unwrap(), cell.se.unwrap());
        let what = format!(
            "{} {} {}: {mean:.3} (se {se:.3}) vs {published} ({published_se})",
            cell.group, cell.measure, cell.area
        );
        if blanked {
            worst = worst.max((mean - published).abs());
            // Blanked raking cells share their combination's adjustment:
            // within-combination differences by age and sex are lost.
            assert!((mean - published).abs() <= 3.0 * published_se, "{what}");
            close += 1;
        } else {
            // A cell shown to whole points (disclosure control) is off by up to 0.5.
            let rounding = if cell.coarsened { 0.5 } else { 0.05 };
            assert!((mean - published).abs() <= rounding + 0.05, "{what}");
            assert!((se - published_se).abs() <= 0.1 * published_se + 0.005, "{what}");
            exact += 1;
        }
    }
    eprintln!(
        "microdata: {exact} ICS cells reproduced within 0.1; {close} with blanked raking details, worst {worst:.2} points"
    );
    assert_eq!(common::accounts::audit(app, "results_downloaded").await.len(), 1, "microdata downloads are audited");
    (exact, close)
}

/// A corrected scoring reaches the stored rows through `rescore`: rows
/// changed behind its back (or missing) are rebuilt from the answers, the
/// rest are left alone, and the run is recorded.
async fn rescoring_rebuilds_stored_scores_from_answers(db: TestDb) {
    use diesel::prelude::*;
    use joinedup::storage::results::{self, ResultRow};
    use joinedup::storage::schema::response_results;

    let app = TestApp::spawn(&db).await;
    let made =
        joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, app.state.clock.today(), 0.02).await.unwrap();
    assert!(made > 100, "demo responses: {made}");
    let db = app.state.db.clone();
    let load = move || {
        let db = db.clone();
        async move { db.run(|conn| results::for_survey(conn, "integration_index", None, None)).await }
    };
    let before: Vec<ResultRow> = load().await.unwrap();
    let (first, second) = (before[0].response_id, before[1].response_id);
    app.state
        .db
        .write(move |conn| {
            diesel::update(response_results::table.find(first))
                .set(response_results::index_score.eq(Some(1.0)))
                .execute(conn)?;
            diesel::delete(response_results::table.find(second)).execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let versions = app.state.surveys.versions_of("integration_index");
    let v = versions.clone();
    let outcome = app
        .state
        .db
        .write(move |conn| joinedup::results::rescore::rescore(conn, "integration_index", &v))
        .await
        .unwrap();
    assert_eq!((outcome.responses, outcome.changed), (before.len(), 2));
    assert_eq!(load().await.unwrap(), before, "every row as it was stored at submission");
    let again = app
        .state
        .db
        .write(move |conn| joinedup::results::rescore::rescore(conn, "integration_index", &versions))
        .await
        .unwrap();
    assert_eq!(again.changed, 0);
    let runs = app.state.db.run(|conn| results::runs(conn, "integration_index")).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].0 as usize, before.len());
    assert!(runs[0].1.contains('='), "{}", runs[0].1);
}

/// Result rows read in batches (as reports and the microdata read them)
/// are every row once, in response order, for the survey or one ICS, and
/// a reader can stop early.
async fn result_rows_are_read_in_batches_once_each_in_order(db: TestDb) {
    use std::ops::ControlFlow;

    use joinedup::storage::results;

    let app = TestApp::spawn(&db).await;
    let made =
        joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, app.state.clock.today(), 0.02).await.unwrap();
    assert!(made > 100, "demo responses: {made}");
    // One result row answered on paper: the joined text columns carry its mode.
    let paper = app
        .state
        .db
        .write(|conn| {
            use diesel::prelude::*;
            use joinedup::storage::responses::Mode;
            use joinedup::storage::schema::response_results;
            let (first, _) = results::id_range(conn, "integration_index", None, None)?.expect("rows");
            diesel::update(response_results::table.find(first))
                .set(response_results::mode.eq(Mode::Paper))
                .execute(conn)?;
            Ok::<_, joinedup::storage::StorageError>(first)
        })
        .await
        .unwrap();
    let read = app
        .state
        .db
        .run(|conn| {
            let stored = results::for_survey(conn, "integration_index", None, None)?;
            let (first, last) = results::id_range(conn, "integration_index", None, None)?.expect("rows");
            let window = (None, None);
            let mut all = Vec::new();
            results::each_in_batches(conn, "integration_index", window, first..=last, None, 7, |id, r| {
                all.push((id, r));
                ControlFlow::Continue(())
            })?;
            // The ICS with the most rows, so its read takes several batches.
            let mut per_ics: BTreeMap<String, usize> = BTreeMap::new();
            for code in stored.iter().filter_map(|r| r.ics_code.clone()) {
                *per_ics.entry(code).or_default() += 1;
            }
            let ics = per_ics.into_iter().max_by_key(|(_, n)| *n).map(|(code, _)| code).expect("an ICS");
            let mut one_ics = Vec::new();
            results::each_in_batches(conn, "integration_index", window, first..=last, Some(&ics), 3, |id, _| {
                one_ics.push(id);
                ControlFlow::Continue(())
            })?;
            let mut stopped = Vec::new();
            results::each_in_batches(conn, "integration_index", window, first..=last, None, 4, |id, _| {
                stopped.push(id);
                if stopped.len() == 10 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })?;
            Ok::<_, joinedup::storage::StorageError>((stored, ics, all, one_ics, stopped))
        })
        .await
        .unwrap();
    let (stored, ics, all, one_ics, stopped) = read;
    // Every row once, in order, its columns as the database joins them
    // equal to the same row joined in Rust.
    let mut expected: Vec<(i64, results::ReportRow)> =
        stored.iter().map(|r| (r.response_id, r.report_columns())).collect();
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(all, expected);
    let modes: Vec<&str> = all.iter().map(|(_, r)| r.texts().mode).collect();
    assert_eq!(modes[0], "paper", "{:?}", all[0].1.texts());
    assert!(modes[1..].iter().all(|m| *m == "online"));
    assert_eq!(all[0].0, paper);
    let mut in_ics: Vec<i64> =
        stored.iter().filter(|r| r.ics_code.as_deref() == Some(&ics)).map(|r| r.response_id).collect();
    in_ics.sort_unstable();
    assert!(in_ics.len() > 3, "more than one batch: {}", in_ics.len());
    assert_eq!(one_ics, in_ics);
    assert_eq!(stopped, expected[..10].iter().map(|(id, _)| *id).collect::<Vec<_>>());
}

/// An analyst uploads ethnicity margins: a bad line is named and nothing is
/// stored; a good file becomes version 1, changes the weights, is named in
/// every output's provenance and audited; retiring it goes back to ONS
/// age band × sex alone.
async fn analysts_upload_margins_that_weighting_uses(db: TestDb) {
    use common::lead::upload;
    use joinedup::storage::{icss, margins};

    let app = TestApp::spawn(&db).await;
    joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, app.state.clock.today(), 0.1).await.unwrap();
    let email = "analyst@example.org";
    create_user(&app, email, &password_for("analyst"), &[Role::Analyst]).await;
    let browser = Browser::signed_in(&app, email, &password_for("analyst")).await;
    let before = computed_now(&app).await;
    assert!(!before.provenance.weighting.contains("margins v"), "{}", before.provenance.weighting);
    let published = releases_for(&app, "integration_index", Window::Latest, ReleaseOptions::new(30)).await.remove(0);

    let codes: Vec<String> = app.state.db.run(icss::all).await.unwrap().into_iter().map(|i| i.ons_code).collect();
    let mut lines = vec!["ics,dimension,category,population".to_string()];
    for (k, code) in codes.iter().enumerate() {
        for (category, share) in [("asian", 20), ("black", 10), ("mixed", 5), ("white", 60), ("other", 5)] {
            lines.push(format!("{code},ethnicity,{category},{}", share * 1000 + k));
        }
        // Deprivation far from the ICS's own spread, so the weights move
        // visibly even where ethnicity's small categories merge away.
        for (quintile, share) in [("1", 40), ("2", 30), ("3", 15), ("4", 10), ("5", 5)] {
            lines.push(format!("{code},imd_quintile,{quintile},{}", share * 1000 + k));
        }
    }
    let good = lines.join("\n").into_bytes();
    let mut bad = lines.clone();
    bad[3] = format!("{},ethnicity,mixd,3000", codes[0]);
    let source = ("source", "ONS Census 2021 TS021 (test)");
    let form = "/analyst/margins";
    let refused = upload(
        &browser,
        form,
        form,
        Some(("ethnicity.csv", bad.join("\n").into_bytes())),
        &[("group", "people"), source],
    )
    .await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("category &#x60;mixd&#x60; is not a category of ethnicity"), "{}", refused.body);
    assert!(refused.body.contains("nhsuk-table__cell--numeric\">4</td>"), "the line is named");
    assert!(refused.body.contains("ONS Census 2021 TS021 (test)"), "the form keeps what was typed");
    let unsourced = upload(&browser, form, form, Some(("ethnicity.csv", good.clone())), &[("group", "people")]).await;
    assert!(unsourced.body.contains("Say where the figures come from"), "{}", unsourced.body);
    assert!(app.state.db.run(margins::all).await.unwrap().is_empty(), "nothing stored from a refused upload");

    let stored = upload(&browser, form, form, Some(("ethnicity.csv", good)), &[("group", "people"), source]).await;
    // Stored either way; a small ICS whose respondents cannot meet the new
    // shares is named on the page instead of a plain redirect.
    assert!(
        stored.location.as_deref() == Some("/analyst/margins?done=uploaded")
            || (stored.status == 200 && stored.body.contains("The margins were uploaded and are now used")),
        "{}",
        stored.body
    );
    let listed = browser.get("/analyst/margins").await;
    assert!(listed.body.contains("people v1") && listed.body.contains("In use"), "{}", listed.body);
    let after = computed_now(&app).await;
    assert!(
        after
            .provenance
            .weighting
            .contains("people margins v1 (ethnicity, imd_quintile: ONS Census 2021 TS021 (test); sha256 "),
        "{}",
        after.provenance.weighting
    );
    // The people's weights move towards the uploaded shares wherever an ICS
    // has enough respondents in two or more ethnicity categories to keep
    // them apart (sparse categories merge, see merge_sparse); in this small
    // demo that is a few ICSs, too few to publish alone, so the change
    // shows in England's people's figures (estimates, design effects,
    // effective sizes), not in every rounded total.
    let people = |r: &Report| {
        r.results
            .cells
            .iter()
            .filter(|c| c.sample == Sample::Invitation && c.group == "people" && c.area == ENGLAND)
            .map(|c| {
                let key = (c.measure.clone(), c.dimension.clone(), c.category.clone());
                (key, [c.sum_w, c.estimate, c.se, c.deff, c.n_eff_kish, c.n_eff_design])
            })
            .collect::<Vec<_>>()
    };
    let (was, now) = (people(&before), people(&after));
    assert_eq!(was.len(), now.len());
    let moved = was.iter().zip(&now).filter(|(a, b)| a != b).count();
    assert!(moved > 0, "the weights changed: {was:?}");
    // A variant of the release published before the upload keeps its
    // margins: the two differ only in trimming.
    let variant = ReleaseOptions { trim: None, ..ReleaseOptions::new(30) };
    let untrimmed = releases_for(&app, "integration_index", Window::Latest, variant).await.remove(0);
    assert_eq!(untrimmed.margin_ids, published.margin_ids);
    assert!(!untrimmed.provenance.weighting.contains("margins v"), "{}", untrimmed.provenance.weighting);
    let csv = browser.get("/analyst/surveys/integration_index/download?format=csv").await;
    assert!(!csv.body.contains("margins v"), "the release published before the upload never changes");
    let mut written = Vec::new();
    outputs::write(&[Arc::new(after.clone())], None, Format::Csv, &mut written).unwrap();
    assert!(String::from_utf8(written).unwrap().contains("people margins v1"), "downloads name the margins");
    assert_eq!(common::accounts::audit(&app, "margins_uploaded").await.len(), 1);

    let id = app.state.db.run(margins::all).await.unwrap()[0].id;
    let retired = browser.submit(form, &format!("/analyst/margins/{id}/retire"), &[]).await;
    assert_eq!(retired.status, 303);
    let reverted = computed_now(&app).await;
    assert!(!reverted.provenance.weighting.contains("margins v"));
    assert_eq!(people(&reverted), was, "retired: age band × sex alone again");
    assert_eq!(common::accounts::audit(&app, "margins_retired").await.len(), 1);
    let again = browser.submit(form, &format!("/analyst/margins/{id}/retire"), &[]).await;
    assert!(again.body.contains("no longer in use"), "{}", again.body);

    // Margins the respondents cannot meet (no population where people
    // answered) are accepted with the ICSs named; results still work.
    let mut unmet = vec!["ics,dimension,category,population".to_string()];
    for code in &codes {
        for (category, count) in [("asian", 0), ("black", 0), ("mixed", 0), ("white", 0), ("other", 1000)] {
            unmet.push(format!("{code},ethnicity,{category},{count}"));
        }
    }
    let stored = upload(
        &browser,
        form,
        form,
        Some(("unmet.csv", unmet.join("\n").into_bytes())),
        &[("group", "people"), source],
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert!(stored.body.contains("cannot meet them yet"), "{}", stored.body);
    let latest = computed_now(&app).await;
    assert!(latest.provenance.weighting.contains("could not be met"), "{}", latest.provenance.weighting);
    // Those ICSs' own figures are not estimable, with the reason; England
    // still counts their people and every other group is untouched.
    let unmet_icss: Vec<String> = latest
        .results
        .sample(Sample::Invitation)
        .iter()
        .flat_map(|s| s.weighting.iter().filter(|w| w.group == "people"))
        .flat_map(|w| w.margins_not_met.clone())
        .collect();
    assert!(!unmet_icss.is_empty(), "{:?}", latest.results.samples);
    let people = |c: &&Published| c.sample == Sample::Invitation && c.group == "people";
    for cell in latest.results.cells.iter().filter(people).filter(|c| unmet_icss.contains(&c.area)) {
        if cell.suppressed.is_none() {
            assert!(cell.estimate.is_none() && cell.se.is_none() && cell.funnel.is_none(), "{cell:?}");
            assert_eq!(cell.not_estimable.as_deref(), Some(joinedup::index::results::MARGINS_NOT_MET));
        }
    }
    let england_index = latest
        .results
        .cells
        .iter()
        .filter(people)
        .find(|c| c.area == ENGLAND && c.measure == "index" && c.dimension == ALL)
        .unwrap();
    assert!(england_index.estimate.is_some(), "{england_index:?}");
    let api = browser.get("/api/v1/analyst/surveys/integration_index/results").await;
    assert_eq!(api.status, 200, "results still answer");
}

pub fn trials(services: &Services) -> Vec<Trial> {
    on_each_backend_async!(
        services;
        demo_results_cover_every_ics,
        every_format_publishes_the_same_cells,
        analyst_pages_and_downloads,
        a_survey_with_no_release_is_a_clear_error,
        trimming_is_the_default_and_can_be_turned_off,
        one_new_respondent_changes_nothing_an_analyst_can_see,
        microdata_is_coarsened_and_reproduces_the_release,
        microdata_of_a_fuller_release_reproduces_it_exactly,
        rescoring_rebuilds_stored_scores_from_answers,
        analysts_upload_margins_that_weighting_uses,
        result_rows_are_read_in_batches_once_each_in_order,
        keyed_paper_forms_are_published_by_mode,
    )
}

//! The integration index end to end, on SQLite and PostgreSQL: demo
//! responses through the real routing, weighted results for every ICS,
//! disclosure control that holds in every format, the analyst pages and
//! downloads, and the microdata's coarsening.

mod common;

use std::collections::BTreeMap;

use common::accounts::{Browser, create_user, password_for};
use common::{TestApp, TestDb};
use joinedup::accounts::Role;
use joinedup::index::cells::{ALL, ENGLAND};
use joinedup::index::results::Published;
use joinedup::outputs::{self, Format};
use joinedup::reports::{self, Report, Request};

async fn demo_app(db: &TestDb) -> TestApp {
    let app = TestApp::spawn(db).await;
    let made = joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, 0.25).await.unwrap();
    assert!(made > 4000, "demo responses: {made}");
    app
}

async fn report_for(app: &TestApp, threshold: usize) -> Report {
    let state = app.state.clone();
    app.state
        .db
        .run_with_pool(move |db| {
            reports::build(
                db,
                &state.surveys,
                &Request { survey_id: "integration_index".into(), threshold, ..Request::default() },
            )
        })
        .await
        .unwrap()
        .unwrap()
}

/// (group, measure, area, dimension, category, family name) of a parent.
type FamilyKey = (String, String, String, String, String, String);

/// The additive families: a parent's key and its members.
fn families(cells: &[Published]) -> BTreeMap<FamilyKey, Vec<&Published>> {
    let mut out: BTreeMap<_, Vec<&Published>> = BTreeMap::new();
    for c in cells {
        if c.area != ENGLAND {
            out.entry((
                c.group.into(),
                c.measure.clone(),
                ENGLAND.into(),
                c.dimension.clone(),
                c.category.clone(),
                "icss".into(),
            ))
            .or_default()
            .push(c);
        }
        if c.dimension != ALL {
            out.entry((c.group.into(), c.measure.clone(), c.area.clone(), ALL.into(), ALL.into(), c.dimension.clone()))
                .or_default()
                .push(c);
        }
    }
    out
}

fn check_disclosure(cells: &[Published], threshold: usize) {
    let by_key: BTreeMap<(String, String, String, String, String), &Published> = cells
        .iter()
        .map(|c| ((c.group.to_string(), c.measure.clone(), c.area.clone(), c.dimension.clone(), c.category.clone()), c))
        .collect();
    for c in cells {
        if c.n_exact < threshold {
            assert!(
                c.suppressed.is_some() && c.estimate.is_none() && c.sum_w.is_none(),
                "a small cell is published: {c:?}"
            );
        }
        if c.suppressed.is_some() {
            assert!(c.estimate.is_none() && c.se.is_none() && c.sum_w.is_none() && c.n_eff.is_none(), "{c:?}");
        }
        if (1..=7).contains(&c.n_exact) {
            assert_eq!(c.n, "*");
        }
    }
    // The subtraction attack: a parent minus its published members.
    for ((group, measure, area, dimension, category, _), members) in families(cells) {
        let Some(parent) = by_key.get(&(group, measure, area, dimension, category)) else { continue };
        if parent.suppressed.is_some() {
            continue;
        }
        let hidden = members.iter().filter(|m| m.suppressed.is_some()).count();
        let listed: usize = members.iter().map(|m| m.n_exact).sum();
        let unstated = parent.n_exact - listed;
        let exposed = hidden + usize::from((1..threshold).contains(&unstated));
        assert_ne!(exposed, 1, "one hidden member of {parent:?} could be derived by subtraction");
    }
}

async fn demo_results_cover_every_ics(db: TestDb) {
    let app = demo_app(&db).await;
    let report = report_for(&app, 30).await;
    let cells = &report.results.cells;
    let icss: Vec<&Published> = cells
        .iter()
        .filter(|c| c.group == "people" && c.measure == "index" && c.dimension == ALL && c.area != ENGLAND)
        .collect();
    assert_eq!(icss.len(), 42, "one people's index row per ICS");
    let england = cells
        .iter()
        .find(|c| c.group == "people" && c.measure == "index" && c.area == ENGLAND && c.dimension == ALL)
        .unwrap();
    let (lo, hi) = (england.ci_low.unwrap(), england.ci_high.unwrap());
    assert!(lo < england.estimate.unwrap() && england.estimate.unwrap() < hi && hi - lo < 5.0, "{england:?}");
    let published = icss.iter().filter(|c| c.estimate.is_some()).count();
    assert!(published >= 30, "most ICSs have enough respondents: {published}");
    for c in icss.iter().filter(|c| c.estimate.is_some()) {
        assert!(
            c.vs_england.is_some() && c.vs_peers.is_some() && c.funnel.is_some() && c.standardised.is_some(),
            "{c:?}"
        );
    }
    // Groups, domains and questions are all there.
    for dimension in ["age_band", "sex", "ethnicity", "imd_quintile", "long_term_condition", "voice"] {
        assert!(cells.iter().any(|c| c.dimension == dimension && c.estimate.is_some()), "{dimension}");
    }
    assert!(cells.iter().any(|c| c.group == "carers" && c.measure == "index"));
    assert!(cells.iter().any(|c| c.measure.ends_with("=positive") && c.estimate.is_some()));
    assert!(report.provenance.versions[0].1.len() == 64);
    check_disclosure(cells, 30);
    // A stricter threshold hides more, and still holds.
    let strict = report_for(&app, 60).await;
    check_disclosure(&strict.results.cells, 60);
    let hidden = |r: &Report| r.results.cells.iter().filter(|c| c.suppressed.is_some()).count();
    assert!(hidden(&strict) > hidden(&report));
}

/// Every format carries the same published cells: nothing hidden leaks.
async fn every_format_publishes_the_same_cells(db: TestDb) {
    let app = demo_app(&db).await;
    let report = report_for(&app, 30).await;
    let mut csv_bytes = Vec::new();
    outputs::write(&report, Format::Csv, &mut csv_bytes).unwrap();
    let text = String::from_utf8(csv_bytes).unwrap();
    assert!(text.starts_with("# survey: integration_index"), "provenance first");
    assert!(text.contains("# versions: 1.0 (sha256 "));
    assert!(text.contains("# disclosure control: estimates from fewer than 30"));
    let body: String = text.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), report.results.cells.len());
    for (row, cell) in rows.iter().zip(&report.results.cells) {
        assert_eq!(&row[7], cell.n.as_str());
        if cell.suppressed.is_some() {
            assert!(
                row[8].is_empty() && row[10].is_empty() && row[11].is_empty(),
                "hidden figures leak in csv: {row:?}"
            );
        } else {
            assert_eq!(row[10].parse::<f64>().ok(), cell.estimate);
        }
    }
    let mut json_bytes = Vec::new();
    outputs::write(&report, Format::Json, &mut json_bytes).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json_bytes).unwrap();
    assert_eq!(json["provenance"]["survey_id"], "integration_index");
    let json_cells = json["cells"].as_array().unwrap();
    assert_eq!(json_cells.len(), report.results.cells.len());
    for (j, cell) in json_cells.iter().zip(&report.results.cells) {
        if cell.suppressed.is_some() {
            assert!(j.get("estimate").is_none() && j.get("sum_w").is_none() && j.get("n_exact").is_none(), "{j}");
        }
    }
    let mut xlsx = Vec::new();
    outputs::write(&report, Format::Xlsx, &mut xlsx).unwrap();
    assert!(xlsx.starts_with(b"PK"), "an xlsx (zip) file");
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
    assert_eq!(html.matches("<th scope=\"row\">").count(), 43, "England and 42 ICS rows");
    let split = browser.get("/analyst/surveys/integration_index?dimension=age_band&area=England").await;
    assert!(split.body.contains("By age_band"));
    let questions = browser.get("/analyst/surveys/integration_index/questions").await;
    assert!(questions.body.contains("Weighted %"));
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
                .contains(&format!("integration_index-results.{format}"))
        );
    }
    // The microdata: every grouping combination shown is held by 10 or more.
    let micro = browser.get("/analyst/surveys/integration_index/microdata").await;
    assert_eq!(micro.status, 200);
    let text = micro.body;
    assert!(text.starts_with("# survey: integration_index\n"), "provenance first");
    assert!(text.contains("\n# weighting: people's index"), "{}", &text[..600]);
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert!(!headers.iter().any(|h| h.contains("email") || h.contains("token") || h.contains("text")));
    let mut combos: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut rows = 0;
    for r in reader.records() {
        let r = r.unwrap();
        // Every published detail, channel and month included.
        combos.entry((1..=10).map(|k| r[k].to_string()).collect()).and_modify(|n| *n += 1).or_insert(1);
        assert!(r[10].len() == 7 || r[10].is_empty(), "months, not days");
        rows += 1;
    }
    assert!(rows > 3000, "{rows}");
    let small: Vec<_> = combos.iter().filter(|(_, n)| **n < 10).collect();
    // Rows of one group can land in a coarser group, so check per shown combination.
    assert!(small.is_empty(), "combinations under 10: {small:?}");
    let audited = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use joinedup::storage::schema::audit_log;
            Ok(audit_log::table.filter(audit_log::action.eq("results_downloaded")).count().get_result::<i64>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(audited, 4, "every download is audited");
    // The API gives the same, with an analyst's session.
    let api = browser.get("/api/v1/analyst/surveys/integration_index/results").await;
    assert_eq!(api.status, 200);
    let unknown = browser.get("/analyst/surveys/no_such/download?format=csv").await;
    assert_eq!(unknown.status, 404);
}

async fn a_survey_with_no_responses_is_a_clear_error(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let state = app.state.clone();
    let err = app
        .state
        .db
        .run_with_pool(move |db| {
            reports::build(
                db,
                &state.surveys,
                &Request { survey_id: "leaving_hospital".into(), threshold: 30, ..Request::default() },
            )
        })
        .await
        .unwrap()
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "survey `leaving_hospital` has no submitted responses in that window");
}

/// A corrected scoring reaches the stored rows through `rescore`: rows
/// changed behind its back (or missing) are rebuilt from the answers, the
/// rest are left alone, and the run is recorded.
async fn rescoring_rebuilds_stored_scores_from_answers(db: TestDb) {
    use diesel::prelude::*;
    use joinedup::storage::results::{self, ResultRow};
    use joinedup::storage::schema::response_results;

    let app = TestApp::spawn(&db).await;
    let made = joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, 0.02).await.unwrap();
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
    let outcome =
        app.state.db.write(move |conn| joinedup::rescore::rescore(conn, "integration_index", &v)).await.unwrap();
    assert_eq!((outcome.responses, outcome.changed), (before.len(), 2));
    assert_eq!(load().await.unwrap(), before, "every row as it was stored at submission");
    let again =
        app.state.db.write(move |conn| joinedup::rescore::rescore(conn, "integration_index", &versions)).await.unwrap();
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
    let made = joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, 0.02).await.unwrap();
    assert!(made > 100, "demo responses: {made}");
    let read = app
        .state
        .db
        .run(|conn| {
            let stored = results::for_survey(conn, "integration_index", None, None)?;
            let (first, last) = results::id_range(conn, "integration_index", None, None)?.expect("rows");
            let window = (None, None);
            let mut all = Vec::new();
            results::each_in_batches(conn, "integration_index", window, first..=last, None, 7, |id, r| {
                all.push((id, r.index_score));
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
    let mut expected: Vec<(i64, Option<f64>)> = stored.iter().map(|r| (r.response_id, r.index_score)).collect();
    expected.sort_by_key(|(id, _)| *id);
    assert_eq!(all, expected);
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
    joinedup::demo::load_if_empty(&app.state.db, &app.state.surveys, 0.1).await.unwrap();
    let email = "analyst@example.org";
    create_user(&app, email, &password_for("analyst"), &[Role::Analyst]).await;
    let browser = Browser::signed_in(&app, email, &password_for("analyst")).await;
    let before = report_for(&app, 30).await;
    assert!(!before.provenance.weighting.contains("margins v"), "{}", before.provenance.weighting);

    let codes: Vec<String> = app.state.db.run(icss::all).await.unwrap().into_iter().map(|i| i.ons_code).collect();
    let mut lines = vec!["ics,dimension,category,population".to_string()];
    for (k, code) in codes.iter().enumerate() {
        for (category, share) in [("asian", 10), ("black", 5), ("mixed", 3), ("white", 78), ("other", 4)] {
            lines.push(format!("{code},ethnicity,{category},{}", share * 1000 + k));
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
    assert_eq!((stored.status, stored.location.as_deref()), (303, Some("/analyst/margins?done=uploaded")));
    let listed = browser.get("/analyst/margins").await;
    assert!(listed.body.contains("people v1") && listed.body.contains("In use"), "{}", listed.body);
    let after = report_for(&app, 30).await;
    assert!(
        after.provenance.weighting.contains("people margins v1 (ethnicity: ONS Census 2021 TS021 (test); sha256 "),
        "{}",
        after.provenance.weighting
    );
    let england = |r: &Report| {
        r.results
            .cells
            .iter()
            .find(|c| c.group == "people" && c.measure == "index" && c.area == ENGLAND && c.dimension == ALL)
            .map(|c| (c.estimate, c.se, c.n_eff))
            .unwrap()
    };
    assert_ne!(england(&before), england(&after), "the weights changed");
    let csv = browser.get("/analyst/surveys/integration_index/download?format=csv").await;
    assert!(csv.body.contains("people margins v1"), "downloads name the margins");
    assert_eq!(common::accounts::audit(&app, "margins_uploaded").await.len(), 1);

    let id = app.state.db.run(margins::all).await.unwrap()[0].id;
    let retired = browser.submit(form, &format!("/analyst/margins/{id}/retire"), &[]).await;
    assert_eq!(retired.status, 303);
    let reverted = report_for(&app, 30).await;
    assert!(!reverted.provenance.weighting.contains("margins v"));
    assert_eq!(england(&reverted), england(&before));
    assert_eq!(common::accounts::audit(&app, "margins_retired").await.len(), 1);
    let again = browser.submit(form, &format!("/analyst/margins/{id}/retire"), &[]).await;
    assert!(again.body.contains("no longer in use"), "{}", again.body);
}

on_each_backend_async!(
    demo_results_cover_every_ics,
    every_format_publishes_the_same_cells,
    analyst_pages_and_downloads,
    a_survey_with_no_responses_is_a_clear_error,
    rescoring_rebuilds_stored_scores_from_answers,
    analysts_upload_margins_that_weighting_uses,
    result_rows_are_read_in_batches_once_each_in_order,
);

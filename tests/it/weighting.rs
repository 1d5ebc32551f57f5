//! The weighting engine against R's `survey` package, on the fixtures under
//! tests/fixtures/weighting (written by make_references.R; no R needed here):
//! weights within 1e-8 relative, estimates within 1e-10, standard errors
//! within 1e-6 relative, interval bounds within 1e-6.

use std::collections::{BTreeMap, BTreeSet};

use crate::common;
use joinedup::weighting::{self, Design, DimensionMargins, Population, Respondents, TrimControl, WeightingSpec};
use libtest_mimic::Trial;

type Row = BTreeMap<String, String>;

fn read(case: &str, file: &str) -> Vec<Row> {
    let path = common::project_path(&format!("tests/fixtures/weighting/{case}/{file}"));
    let mut reader = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader.deserialize().map(|r| r.unwrap()).collect()
}

fn num(row: &Row, key: &str) -> f64 {
    row[key].parse().unwrap_or_else(|_| panic!("{key} = {:?}", row[key]))
}

struct Case {
    respondents: Respondents,
    population: Population,
    ids: Vec<String>,
    score: Vec<f64>,
    flag: Vec<f64>,
    /// Raw rows, for grouping.
    rows: Vec<Row>,
    trim_cap: Option<f64>,
}

fn load(case: &str) -> Case {
    let settings: BTreeMap<String, String> =
        read(case, "settings.csv").into_iter().map(|r| (r["key"].clone(), r["value"].clone())).collect();
    let dims: Vec<String> = settings["dimensions"].split(';').map(str::to_string).collect();
    let rows = read(case, "respondents.csv");
    let (respondents, population) = design(&rows, &read(case, "margins.csv"), &dims);
    Case {
        ids: rows.iter().map(|r| r["id"].clone()).collect(),
        score: rows.iter().map(|r| num(r, "score")).collect(),
        flag: rows.iter().map(|r| num(r, "flag")).collect(),
        trim_cap: settings.get("trim_cap").filter(|v| !v.is_empty()).map(|v| v.parse().unwrap()),
        respondents,
        population,
        rows,
    }
}

/// The respondents and margins of a fixture as the engine takes them:
/// strata are the ICSs of the margins; a dimension's categories are those
/// of its margins and of the respondents; `collapse_into` is optional.
fn design(rows: &[Row], margins: &[Row], dims: &[String]) -> (Respondents, Population) {
    let strata: Vec<String> = margins.iter().map(|m| m["ics"].clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let stratum_of = |code: &str| strata.iter().position(|s| s == code).unwrap() as u32;
    let mut dimensions = Vec::new();
    for d in dims {
        let categories: Vec<String> = margins
            .iter()
            .filter(|m| &m["dimension"] == d)
            .map(|m| m["category"].clone())
            .chain(rows.iter().map(|r| r[d].clone()).filter(|c| !c.is_empty()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index = |c: &str| categories.iter().position(|x| x == c).unwrap() as u32;
        let mut population = vec![vec![None; categories.len()]; strata.len()];
        let mut collapse_into = vec![vec![None; categories.len()]; strata.len()];
        for m in margins.iter().filter(|m| &m["dimension"] == d) {
            let (h, c) = (stratum_of(&m["ics"]) as usize, index(&m["category"]) as usize);
            population[h][c] = Some(num(m, "population"));
            if let Some(into) = m.get("collapse_into").filter(|v| !v.is_empty()) {
                collapse_into[h][c] = Some(index(into));
            }
        }
        dimensions.push(DimensionMargins { name: d.clone(), categories, population, collapse_into });
    }
    let respondents = Respondents {
        stratum: rows.iter().map(|r| stratum_of(&r["ics"])).collect(),
        base_weight: rows.iter().map(|r| num(r, "base_weight")).collect(),
        categories: dims
            .iter()
            .enumerate()
            .map(|(k, d)| {
                rows.iter()
                    .map(|r| {
                        (!r[d].is_empty())
                            .then(|| dimensions[k].categories.iter().position(|c| c == &r[d]).unwrap() as u32)
                    })
                    .collect()
            })
            .collect(),
    };
    (respondents, Population { strata, dimensions })
}

fn spec(trim_cap: Option<f64>) -> WeightingSpec {
    WeightingSpec {
        trim: trim_cap.map(|cap| TrimControl { cap, ..TrimControl::default() }),
        min_respondents: 2,
        ..WeightingSpec::default()
    }
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b || (a.is_nan() && b.is_nan()) { 0.0 } else { (a - b).abs() / b.abs().max(1e-300) }
}

fn check_weights(case: &str) -> (Case, weighting::Weighted) {
    let c = load(case);
    let weighted = weighting::weight(&c.respondents, &c.population, &spec(c.trim_cap)).unwrap();
    let reference: BTreeMap<String, (f64, f64)> = read(case, "weights.csv")
        .into_iter()
        .map(|r| (r["id"].clone(), (num(&r, "weight_rake1"), num(&r, "weight"))))
        .collect();
    let mut worst = 0.0f64;
    for (id, w) in c.ids.iter().zip(&weighted.weights) {
        worst = worst.max(rel(*w, reference[id].1));
    }
    assert!(worst < 1e-8, "{case}: weights differ from R by {worst:e} (relative)");
    if c.trim_cap.is_some() {
        // Without trimming the weights are R's first rake.
        let untrimmed = weighting::weight(&c.respondents, &c.population, &spec(None)).unwrap();
        let worst = c.ids.iter().zip(&untrimmed.weights).map(|(id, w)| rel(*w, reference[id].0)).fold(0.0, f64::max);
        assert!(worst < 1e-8, "{case}: first-rake weights differ from R by {worst:e}");
    }
    for s in &weighted.strata {
        assert!(s.max_margin_error < 1e-9, "{case} {}: margins off by {:e}", s.ics, s.max_margin_error);
    }
    (c, weighted)
}

fn check_targets(case: &str, c: &Case, weighted: &weighting::Weighted) {
    for r in read(case, "targets.csv") {
        let report = weighted
            .strata
            .iter()
            .find(|s| s.ics == r["ics"])
            .and_then(|s| s.targets.iter().find(|t| t.dimension == r["dimension"] && t.category == r["category"]))
            .unwrap_or_else(|| panic!("{case}: no target for {r:?}"));
        assert!(
            rel(report.target, num(&r, "target")) < 1e-12 || num(&r, "target") == 0.0,
            "{case} {r:?} vs {report:?}"
        );
        assert_eq!(report.respondents, r["n"].parse::<usize>().unwrap(), "{case} {r:?}");
        let rule = match &report.rule {
            weighting::TargetRule::Kept => "kept".to_string(),
            weighting::TargetRule::Missing => "missing".to_string(),
            weighting::TargetRule::CollapsedInto(c) => format!("collapsed_into:{c}"),
            weighting::TargetRule::Empty => "empty".to_string(),
        };
        assert_eq!(rule, r["rule"], "{case} {r:?}");
    }
    let _ = c;
}

/// The group each respondent is in for an estimates file, by its columns.
fn groups(c: &Case, columns: &[&str]) -> (Vec<Option<u32>>, Vec<Vec<String>>) {
    let mut keys: Vec<Vec<String>> = Vec::new();
    let mut group = Vec::new();
    for row in &c.rows {
        let key: Vec<String> = columns.iter().map(|col| row[*col].clone()).collect();
        if key.iter().any(String::is_empty) {
            group.push(None);
            continue;
        }
        let g = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
            keys.push(key.clone());
            keys.len() - 1
        });
        group.push(Some(g as u32));
    }
    (group, keys)
}

fn check_estimates(case: &str, c: &Case, weighted: &weighting::Weighted) {
    let raked = weighted.design(&c.respondents);
    let base = Design::new(&c.respondents.stratum, &c.respondents.base_weight, c.population.strata.len(), None);
    for (file, columns) in [
        ("estimates_overall.csv", vec![]),
        ("estimates_ics.csv", vec!["ics"]),
        ("estimates_ics_age_band.csv", vec!["ics", "age_band"]),
        ("estimates_ics_ltc.csv", vec!["ics", "ltc"]),
    ] {
        let (group, keys) = groups(c, &columns);
        let ours_raked = raked.means_by(&c.score, &group, keys.len());
        let ours_base = base.means_by(&c.score, &group, keys.len());
        for r in read(case, file) {
            let key: Vec<String> = columns.iter().map(|col| r[*col].clone()).collect();
            let g = keys.iter().position(|k| *k == key).unwrap_or_else(|| panic!("{case} {file}: no group {key:?}"));
            let e = if r["design"] == "raked" { ours_raked[g] } else { ours_base[g] };
            let what = format!("{case} {file} {} {key:?}", r["design"]);
            assert_eq!(e.n, r["n"].parse::<usize>().unwrap(), "{what}: n");
            assert!(rel(e.sum_w, num(&r, "sum_w")) < 1e-8, "{what}: sum_w {} vs {}", e.sum_w, r["sum_w"]);
            assert!(
                rel(e.estimate, num(&r, "estimate")) < 1e-8,
                "{what}: estimate {} vs {}",
                e.estimate,
                r["estimate"]
            );
            let se = num(&r, "se");
            let tolerance = if se < 1e-9 { 1e-9 } else { 1e-6 };
            assert!(rel(e.se, se) < tolerance || (se.abs() < 1e-9 && e.se.abs() < 1e-9), "{what}: se {} vs {se}", e.se);
            assert!(rel(e.n_eff, num(&r, "n_eff")) < 1e-8, "{what}: n_eff");
            assert!(rel(e.deff_w, num(&r, "deff_w")) < 1e-8, "{what}: deff_w");
            let deff = num(&r, "deff");
            if deff.is_finite() && se > 1e-9 {
                assert!(rel(e.deff, deff) < 1e-5, "{what}: deff {} vs {deff}", e.deff);
            }
        }
    }
}

fn check_proportions(case: &str, c: &Case, weighted: &weighting::Weighted) {
    let raked = weighted.design(&c.respondents);
    let base = Design::new(&c.respondents.stratum, &c.respondents.base_weight, c.population.strata.len(), None);
    for r in read(case, "proportions.csv") {
        let design = if r["design"] == "raked" { &raked } else { &base };
        let (ics, band) = (r["ics"].clone(), r["age_band"].clone());
        let member = |i: usize| {
            let row = &c.rows[i];
            (ics.is_empty() || row["ics"] == ics) && (band.is_empty() || row["age_band"] == band)
        };
        let p = design.proportion(&c.flag, &member);
        let what = format!("{case} proportions {} {ics} {band}", r["design"]);
        assert!(rel(p.estimate.estimate, num(&r, "estimate")) < 1e-9, "{what}: estimate");
        let se = num(&r, "se");
        assert!(rel(p.estimate.se, se) < 1e-6 || se < 1e-12, "{what}: se {} vs {se}", p.estimate.se);
        assert_eq!(p.df, num(&r, "df"), "{what}: df");
        match r["status"].as_str() {
            "ok" | "glm_diverged" => {
                let (lo, hi) = p.ci.unwrap_or_else(|| panic!("{what}: a CI is expected"));
                assert!((lo - num(&r, "ci_low")).abs() < 1e-6, "{what}: ci_low {lo} vs {}", r["ci_low"]);
                assert!((hi - num(&r, "ci_high")).abs() < 1e-6, "{what}: ci_high {hi} vs {}", r["ci_high"]);
            }
            _ => assert!(p.ci.is_none(), "{what}: no logit CI is defined ({})", r["status"]),
        }
    }
}

fn whole_case(case: &str) {
    let (c, weighted) = check_weights(case);
    check_targets(case, &c, &weighted);
    check_estimates(case, &c, &weighted);
    check_proportions(case, &c, &weighted);
}

fn small_case_matches_r() {
    whole_case("small");
}

fn realistic_case_matches_r() {
    whole_case("realistic");
}

fn missing_categories_match_r() {
    whole_case("missing");
}

fn collapsed_categories_match_r() {
    whole_case("collapse");
}

fn trimming_matches_r() {
    let (c, weighted) = check_weights("trimming");
    check_estimates("trimming", &c, &weighted);
    for s in &weighted.strata {
        assert_eq!(s.status, weighting::StratumStatus::Trimmed, "{}", s.ics);
        assert_eq!(s.trim_iterations, 19, "as many trim and re-rake rounds as R");
    }
    let last: BTreeMap<String, f64> =
        read("trimming", "trimming.csv").into_iter().map(|r| (r["ics"].clone(), num(&r, "ratio_after_rake"))).collect();
    for s in &weighted.strata {
        let mean = c
            .respondents
            .stratum
            .iter()
            .zip(&weighted.weights)
            .filter(|(h, _)| c.population.strata[**h as usize] == s.ics)
            .map(|(_, w)| *w)
            .sum::<f64>()
            / s.respondents as f64;
        assert!(s.max_weight / mean <= 5.0 * (1.0 + 1e-6), "{}: cap holds", s.ics);
        assert!(last[&s.ics] <= 5.0 * (1.0 + 1e-6));
    }
}

fn domain_estimates_and_proportions_match_r() {
    whole_case("estimates");
}

/// The edges fixture (tests/fixtures/edges, written by make_edges.R under
/// `options(survey.lonely.psu = "adjust")`): an ICS of one respondent and one
/// of two, base-weighted, trimmed within each ICS by R's `trimWeights`, and
/// raked with the small ICSs only scaled to their population.
mod edges {
    use super::*;
    use joinedup::weighting::{Estimate, proportion_of, trim_to_cap};

    fn read(file: &str) -> Vec<Row> {
        let path = common::project_path(&format!("tests/fixtures/edges/{file}"));
        csv::Reader::from_path(&path).unwrap().deserialize().map(|r| r.unwrap()).collect()
    }

    struct Edges {
        rows: Vec<Row>,
        respondents: Respondents,
        population: Population,
        score: Vec<f64>,
        flag: Vec<f64>,
    }

    fn load() -> Edges {
        let rows = read("respondents.csv");
        let dims = ["age_band".to_string(), "sex".to_string()];
        let (respondents, population) = super::design(&rows, &read("margins.csv"), &dims);
        Edges {
            score: rows.iter().map(|r| num(r, "score")).collect(),
            flag: rows.iter().map(|r| num(r, "flag")).collect(),
            rows,
            respondents,
            population,
        }
    }

    /// Each respondent's group for an R domain (`all`, `ics`, `ics_grp`, `grp`), with the keys.
    fn domain(e: &Edges, domain: &str) -> (Vec<Option<u32>>, Vec<(String, String)>) {
        let mut keys: Vec<(String, String)> = Vec::new();
        let group = e
            .rows
            .iter()
            .map(|r| {
                let key = match domain {
                    "all" => (String::new(), String::new()),
                    "ics" => (r["ics"].clone(), String::new()),
                    "ics_grp" => (r["ics"].clone(), r["grp"].clone()),
                    _ => (String::new(), r["grp"].clone()),
                };
                let g = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                    keys.push(key.clone());
                    keys.len() - 1
                });
                Some(g as u32)
            })
            .collect();
        (group, keys)
    }

    fn trimmed_weights(e: &Edges) -> Vec<f64> {
        let mut weights = e.respondents.base_weight.clone();
        for h in 0..e.population.strata.len() as u32 {
            let members: Vec<usize> = (0..weights.len()).filter(|&i| e.respondents.stratum[i] == h).collect();
            let mut w: Vec<f64> = members.iter().map(|&i| weights[i]).collect();
            let cap = 5.0 * w.iter().sum::<f64>() / w.len() as f64;
            trim_to_cap(&mut w, cap);
            for (k, &i) in members.iter().enumerate() {
                weights[i] = w[k];
            }
        }
        weights
    }

    fn check(what: &str, ours: &Estimate, r: &Row) {
        assert_eq!(ours.n, r["n"].parse::<usize>().unwrap(), "{what}: n");
        assert!(rel(ours.sum_w, num(r, "sum_w")) < 1e-9, "{what}: sum_w {} vs {}", ours.sum_w, r["sum_w"]);
        assert!(rel(ours.estimate, num(r, "estimate")) < 1e-10, "{what}: estimate");
        let se = num(r, "se");
        assert!(ours.se.is_finite(), "{what}: a lone ICS leaves the SE finite");
        assert!(rel(ours.se, se) < 1e-6 || (se < 1e-9 && ours.se < 1e-9), "{what}: se {} vs {se}", ours.se);
        let deff = num(r, "deff");
        if deff.is_finite() {
            assert!(rel(ours.deff, deff) < 1e-6, "{what}: deff {} vs {deff}", ours.deff);
        } else {
            assert!(!ours.deff.is_finite(), "{what}: R has no design effect here");
        }
    }

    fn a_lone_ics_is_centred_at_the_grand_mean_as_r_adjusts() {
        let e = load();
        let trimmed = trimmed_weights(&e);
        let reference: BTreeMap<String, (f64, f64)> = read("weights.csv")
            .into_iter()
            .map(|r| (r["id"].clone(), (num(&r, "trimmed"), num(&r, "raked"))))
            .collect();
        for (row, w) in e.rows.iter().zip(&trimmed) {
            assert!(rel(*w, reference[&row["id"]].0) < 1e-12, "trimmed weight of {}: {w}", row["id"]);
        }
        let spec = WeightingSpec { min_respondents: 10, ..WeightingSpec::default() };
        let raked = weighting::weight(&e.respondents, &e.population, &spec).unwrap();
        for (row, w) in e.rows.iter().zip(&raked.weights) {
            assert!(rel(*w, reference[&row["id"]].1) < 1e-8, "raked weight of {}: {w}", row["id"]);
        }
        let n = e.population.strata.len();
        let base = Design::new(&e.respondents.stratum, &e.respondents.base_weight, n, None);
        let trim = Design::new(&e.respondents.stratum, &trimmed, n, None);
        let rake = raked.design(&e.respondents);
        let mut seen = 0;
        for r in read("estimates.csv") {
            let design = match r["design"].as_str() {
                "base" => &base,
                "trimmed" => &trim,
                _ => &rake,
            };
            let (group, keys) = domain(&e, &r["domain"]);
            let k = keys.iter().position(|k| k.0 == r["ics"] && k.1 == r["grp"]).unwrap();
            let ours = design.means_by(&e.score, &group, keys.len())[k];
            check(&format!("{} {} {} {}", r["design"], r["domain"], r["ics"], r["grp"]), &ours, &r);
            seen += 1;
        }
        assert_eq!(seen, 48);
        for r in read("proportions.csv") {
            let design = if r["design"] == "base" { &base } else { &trim };
            let (group, keys) = domain(&e, &r["domain"]);
            let k = keys.iter().position(|k| k.0 == r["ics"] && k.1 == r["grp"]).unwrap();
            let p = proportion_of(design.means_by(&e.flag, &group, keys.len())[k]);
            let what = format!("proportion {} {} {} {}", r["design"], r["domain"], r["ics"], r["grp"]);
            assert!(rel(p.estimate.estimate, num(&r, "estimate")) < 1e-10, "{what}");
            assert!(rel(p.estimate.se, num(&r, "se")) < 1e-6, "{what}: se");
            assert_eq!(p.df, num(&r, "df"), "{what}: df");
            let (lo, hi) = p.ci.unwrap();
            assert!((lo - num(&r, "ci_low")).abs() < 1e-6 && (hi - num(&r, "ci_high")).abs() < 1e-6, "{what}: ci");
        }
    }

    pub fn trials() -> Vec<Trial> {
        plain_trials![a_lone_ics_is_centred_at_the_grand_mean_as_r_adjusts,]
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A random sample: 2 ICSs, two dimensions (3 and 2 categories), every
    /// category present in every ICS, positive base weights. The margins are
    /// totals of hidden "true" weights over the same people, so a solution
    /// always exists.
    type Person = (u32, u32, u32, f64, f64);

    fn sample() -> impl Strategy<Value = (Respondents, Population)> {
        // (ICS, age, sex, base weight, hidden true weight)
        let person = (0u32..2, 0u32..3, 0u32..2, 0.2f64..5.0, 1.0f64..50.0);
        prop::collection::vec(person, 30..120).prop_filter_map("every category needs a respondent", |people| {
            for h in 0..2 {
                for a in 0..3 {
                    if !people.iter().any(|p| p.0 == h && p.1 == a) {
                        return None;
                    }
                }
                for b in 0..2 {
                    if !people.iter().any(|p| p.0 == h && p.2 == b) {
                        return None;
                    }
                }
            }
            let respondents = Respondents {
                stratum: people.iter().map(|p| p.0).collect(),
                base_weight: people.iter().map(|p| p.3).collect(),
                categories: vec![
                    people.iter().map(|p| Some(p.1)).collect(),
                    people.iter().map(|p| Some(p.2)).collect(),
                ],
            };
            let total = |h: u32, pick: &dyn Fn(&Person) -> bool| {
                Some(people.iter().filter(|p| p.0 == h && pick(p)).map(|p| p.4 * 100.0).sum::<f64>())
            };
            let age = |h: u32| (0..3).map(|a| total(h, &|p| p.1 == a)).collect::<Vec<_>>();
            let sex = |h: u32| (0..2).map(|b| total(h, &|p| p.2 == b)).collect::<Vec<_>>();
            let population = Population {
                strata: vec!["A".into(), "B".into()],
                dimensions: vec![
                    DimensionMargins {
                        name: "age".into(),
                        categories: vec!["a1".into(), "a2".into(), "a3".into()],
                        population: vec![age(0), age(1)],
                        collapse_into: vec![vec![None; 3]; 2],
                    },
                    DimensionMargins {
                        name: "sex".into(),
                        categories: vec!["f".into(), "m".into()],
                        population: vec![sex(0), sex(1)],
                        collapse_into: vec![vec![None; 2]; 2],
                    },
                ],
            };
            Some((respondents, population))
        })
    }

    fn raked(r: &Respondents, p: &Population) -> Vec<f64> {
        weighting::weight(r, p, &WeightingSpec { min_respondents: 2, ..WeightingSpec::default() }).unwrap().weights
    }

    proptest! {
        #![proptest_config(common::proptest_config(64))]

        fn margins_are_met_and_weights_positive((r, p) in sample()) {
            let w = raked(&r, &p);
            prop_assert!(w.iter().all(|w| w.is_finite() && *w > 0.0));
            for (d, dim) in p.dimensions.iter().enumerate() {
                for h in 0..2u32 {
                    for c in 0..dim.categories.len() {
                        let total: f64 = (0..r.len()).filter(|&i| r.stratum[i] == h && r.categories[d][i] == Some(c as u32)).map(|i| w[i]).sum();
                        let target = dim.population[h as usize][c].unwrap();
                        prop_assert!((total - target).abs() / target < 1e-9, "{} {h} {c}: {total} vs {target}", dim.name);
                    }
                }
            }
        }

        fn order_of_respondents_does_not_matter((r, p) in sample(), seed in any::<u64>()) {
            use rand::seq::SliceRandom;
            use rand::SeedableRng;
            let mut order: Vec<usize> = (0..r.len()).collect();
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let shuffled = Respondents {
                stratum: order.iter().map(|&i| r.stratum[i]).collect(),
                base_weight: order.iter().map(|&i| r.base_weight[i]).collect(),
                categories: r.categories.iter().map(|col| order.iter().map(|&i| col[i]).collect()).collect(),
            };
            let (a, b) = (raked(&r, &p), raked(&shuffled, &p));
            for (k, &i) in order.iter().enumerate() {
                prop_assert!((a[i] - b[k]).abs() / a[i] < 1e-9);
            }
        }

        fn scaling_base_weights_changes_nothing((r, p) in sample(), factor in 0.01f64..100.0) {
            let scaled = Respondents { base_weight: r.base_weight.iter().map(|w| w * factor).collect(), ..r.clone() };
            let (a, b) = (raked(&r, &p), raked(&scaled, &p));
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() / x < 1e-8);
            }
        }
    }

    pub fn trials() -> Vec<Trial> {
        plain_trials![
            margins_are_met_and_weights_positive,
            order_of_respondents_does_not_matter,
            scaling_base_weights_changes_nothing,
        ]
    }
}

/// The documented rules for awkward data, one by one.
mod awkward {
    use super::*;
    use joinedup::weighting::{StratumStatus, WeightingError};

    /// One ICS, one dimension with categories young/old; `people` gives
    /// (category or None, base weight).
    fn case(
        people: &[(Option<u32>, f64)],
        pops: [Option<f64>; 2],
        collapse: [Option<u32>; 2],
    ) -> (Respondents, Population) {
        let r = Respondents {
            stratum: vec![0; people.len()],
            base_weight: people.iter().map(|p| p.1).collect(),
            categories: vec![people.iter().map(|p| p.0).collect()],
        };
        let p = Population {
            strata: vec!["E54000008".into()],
            dimensions: vec![DimensionMargins {
                name: "age_band".into(),
                categories: vec!["young".into(), "old".into()],
                population: vec![pops.to_vec()],
                collapse_into: vec![collapse.to_vec()],
            }],
        };
        (r, p)
    }

    fn spec() -> WeightingSpec {
        WeightingSpec { min_respondents: 2, ..WeightingSpec::default() }
    }

    fn an_empty_category_collapses_into_its_neighbour() {
        let (r, p) = case(&[(Some(1), 1.0), (Some(1), 1.0)], [Some(300.0), Some(700.0)], [Some(1), None]);
        let w = weighting::weight(&r, &p, &spec()).unwrap();
        assert_eq!(w.weights, vec![500.0, 500.0], "old takes young's 300");
        let young = &w.strata[0].targets[0];
        assert_eq!(young.rule, weighting::TargetRule::CollapsedInto("old".into()));
    }

    fn an_empty_category_without_a_neighbour_is_an_error_naming_it() {
        let (r, p) = case(&[(Some(1), 1.0), (Some(1), 1.0)], [Some(300.0), Some(700.0)], [None, None]);
        let err = weighting::weight(&r, &p, &spec()).unwrap_err();
        assert_eq!(
            err,
            WeightingError::EmptyCategory {
                ics: "E54000008".into(),
                dimension: "age_band".into(),
                category: "young".into()
            }
        );
        assert!(err.to_string().contains("ICS E54000008: `age_band` = `young` has a population but no respondents"));
    }

    fn missing_answers_keep_their_base_weighted_share() {
        let people = [(Some(0), 1.0), (Some(1), 1.0), (None, 2.0)];
        let (r, p) = case(&people, [Some(400.0), Some(600.0)], [None, None]);
        let w = weighting::weight(&r, &p, &spec()).unwrap();
        // s = 2/4: the missing respondent carries half of the 1000.
        assert!((w.weights[2] - 500.0).abs() < 1e-9);
        assert!((w.weights[0] - 200.0).abs() < 1e-9 && (w.weights[1] - 300.0).abs() < 1e-9);
    }

    fn an_ics_below_the_minimum_is_scaled_to_its_total_and_reported() {
        let (r, p) = case(&[(Some(0), 1.0), (Some(1), 3.0)], [Some(400.0), Some(600.0)], [None, None]);
        let w = weighting::weight(&r, &p, &WeightingSpec { min_respondents: 10, ..WeightingSpec::default() }).unwrap();
        assert_eq!(w.strata[0].status, StratumStatus::TooFewRespondents);
        assert_eq!(w.weights, vec![250.0, 750.0]);
    }

    fn respondents_in_a_category_without_population_are_an_error() {
        let (r, p) = case(&[(Some(0), 1.0), (Some(1), 1.0)], [Some(400.0), None], [None, None]);
        let err = weighting::weight(&r, &p, &spec()).unwrap_err();
        assert!(matches!(err, WeightingError::NoPopulation { ref category, .. } if category == "old"), "{err}");
    }

    fn bad_base_weights_are_refused() {
        let (r, p) = case(&[(Some(0), 1.0), (Some(1), 0.0)], [Some(400.0), Some(600.0)], [None, None]);
        assert_eq!(weighting::weight(&r, &p, &spec()).unwrap_err(), WeightingError::BadWeight { row: 1, weight: 0.0 });
    }

    fn unreachable_margins_are_an_error_naming_ics_and_margin() {
        // Everyone young is female and everyone old is male, but the
        // margins want a different mix: raking cannot meet both.
        let r = Respondents {
            stratum: vec![0; 4],
            base_weight: vec![1.0; 4],
            categories: vec![vec![Some(0), Some(0), Some(1), Some(1)], vec![Some(0), Some(0), Some(1), Some(1)]],
        };
        let dim = |name: &str, cats: [&str; 2], pops: [f64; 2]| DimensionMargins {
            name: name.into(),
            categories: cats.iter().map(|c| c.to_string()).collect(),
            population: vec![pops.iter().map(|p| Some(*p)).collect()],
            collapse_into: vec![vec![None, None]],
        };
        let p = Population {
            strata: vec!["E54000008".into()],
            dimensions: vec![
                dim("age_band", ["young", "old"], [300.0, 700.0]),
                dim("sex", ["female", "male"], [600.0, 400.0]),
            ],
        };
        let err = weighting::weight(&r, &p, &spec()).unwrap_err();
        assert!(matches!(err, WeightingError::NotConverged { ref ics, .. } if ics == "E54000008"), "{err}");
        assert!(err.to_string().contains("raking did not converge"), "{err}");
    }

    pub fn trials() -> Vec<Trial> {
        plain_trials![
            an_empty_category_collapses_into_its_neighbour,
            an_empty_category_without_a_neighbour_is_an_error_naming_it,
            missing_answers_keep_their_base_weighted_share,
            an_ics_below_the_minimum_is_scaled_to_its_total_and_reported,
            respondents_in_a_category_without_population_are_an_error,
            bad_base_weights_are_refused,
            unreachable_margins_are_an_error_naming_ics_and_margin,
        ]
    }
}

/// The cell-space variance equals R's literal ten sweeps over every respondent.
fn fast_variance_equals_the_literal_sweeps() {
    for case in ["small", "realistic", "missing", "collapse", "estimates"] {
        let c = load(case);
        let weighted = weighting::weight(&c.respondents, &c.population, &spec(c.trim_cap)).unwrap();
        let design = weighted.design(&c.respondents);
        let (group, keys) = groups(&c, &["ics", "age_band"]);
        let fast = design.means_by(&c.score, &group, keys.len());
        for (g, e) in fast.iter().enumerate().take(60) {
            let direct = design.direct_variance(&c.score, &|i| group[i] == Some(g as u32));
            let v = e.se * e.se;
            assert!((v - direct).abs() <= 1e-9 * direct.max(1e-12), "{case} {:?}: {v} vs {direct}", keys[g]);
        }
    }
}

/// Estimates from profiles (respondents alike in ICS, raking cells and
/// group, summed) equal those from respondents, on every fixture, raked and
/// with base weights only.
fn estimates_from_profiles_equal_estimates_from_respondents() {
    use joinedup::weighting::MomentSums;
    for case in ["small", "realistic", "missing", "collapse", "estimates"] {
        let c = load(case);
        let weighted = weighting::weight(&c.respondents, &c.population, &spec(c.trim_cap)).unwrap();
        let raked = weighted.design(&c.respondents);
        let base = Design::new(&c.respondents.stratum, &c.respondents.base_weight, c.population.strata.len(), None);
        let (group, keys) = groups(&c, &["ics", "age_band"]);
        for (design, weights) in [(&raked, &weighted.weights), (&base, &c.respondents.base_weight)] {
            let by_respondent = design.means_by(&c.score, &group, keys.len());
            // Profiles: respondents sharing ICS, raking cells and group.
            let mut profiles: BTreeMap<(u32, Vec<u32>, Option<u32>), Vec<usize>> = BTreeMap::new();
            for (i, g) in group.iter().enumerate() {
                let key = (c.respondents.stratum[i], design.local_cells(i).collect(), *g);
                profiles.entry(key).or_default().push(i);
            }
            assert!(profiles.len() < c.score.len(), "{case}: some respondents share a profile");
            let representative: Vec<usize> = profiles.values().map(|members| members[0]).collect();
            let profile_group: Vec<Option<u32>> = profiles.keys().map(|k| k.2).collect();
            let sums: Vec<MomentSums> = profiles
                .values()
                .map(|members| {
                    let mut s = MomentSums::default();
                    for &i in members {
                        s.add(weights[i], c.score[i]);
                    }
                    s
                })
                .collect();
            let places = design.profile_places(&representative);
            let by_profile = design.means_by_profile(&places, &sums, &profile_group, keys.len());
            for (g, (a, b)) in by_respondent.iter().zip(&by_profile).enumerate() {
                let close = |x: f64, y: f64| (x.is_nan() && y.is_nan()) || (x - y).abs() <= (1e-9 * x.abs()).max(1e-12);
                assert_eq!((a.n, a.strata), (b.n, b.strata), "{case} {:?}", keys[g]);
                for (what, x, y) in [
                    ("estimate", a.estimate, b.estimate),
                    ("se", a.se, b.se),
                    ("sum_w", a.sum_w, b.sum_w),
                    ("n_eff", a.n_eff, b.n_eff),
                    ("deff", a.deff, b.deff),
                ] {
                    assert!(close(x, y), "{case} {:?} {what}: {x} vs {y}", keys[g]);
                }
            }
        }
    }
}

pub fn trials() -> Vec<Trial> {
    plain_trials![
        small_case_matches_r,
        realistic_case_matches_r,
        missing_categories_match_r,
        collapsed_categories_match_r,
        trimming_matches_r,
        domain_estimates_and_proportions_match_r,
        fast_variance_equals_the_literal_sweeps,
        estimates_from_profiles_equal_estimates_from_respondents,
    ]
    .into_iter()
    .chain(awkward::trials())
    .chain(edges::trials())
    .chain(properties::trials())
    .collect()
}

//! Temporary: where the time of one 1M-row report goes (not committed).
use std::collections::BTreeMap;
use std::time::Instant;

use compact_str::CompactString;
use joinedup::definitions;
use joinedup::index::cells::{self, Patterns};
use joinedup::index::columns::Frame;
use joinedup::index::frame::{self, Row};
use joinedup::index::record::question_items;
use joinedup::index::results::{self, Inputs};
use joinedup::index::scoring::Scoring;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn pick(rng: &mut StdRng, list: &[&str]) -> Option<CompactString> {
    Some(list[rng.random_range(0..list.len())].into())
}

fn main() {
    let n: usize = std::env::args().nth(1).map(|a| a.parse().unwrap()).unwrap_or(1_000_000);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/survey-definitions/integration-index.yaml");
    let source = std::fs::read_to_string(path).unwrap();
    let definition = definitions::parse(path, &source).unwrap();
    let scoring = Scoring::new(&definition);
    let items = question_items(&definition);
    let options: Vec<usize> = items.iter().map(|i| i.options.len()).collect();
    let (population, profiles) = joinedup::reports::reference_tables();
    let icss: Vec<String> = profiles.iter().map(|p| p.code.clone()).collect();
    let ics_names: BTreeMap<String, String> = icss.iter().map(|c| (c.clone(), c.clone())).collect();
    let mut rng = StdRng::seed_from_u64(11);
    let mut frame = Frame::new(scoring.domain_count(), options.len());
    for _ in 0..n {
        let ics = rng.random_range(0..icss.len());
        let lean = ics as f64 / icss.len() as f64 * 20.0;
        let row = Row {
            version: 1,
            channel: if rng.random_bool(0.5) { "invitation" } else { "open_link" }.into(),
            voice: pick(&mut rng, &["patient", "patient", "patient", "carer_self", "carer_on_behalf"]),
            ics: Some(icss[ics].as_str().into()),
            age_band: pick(&mut rng, &["18-34", "35-54", "55-64", "65-74", "75-84", "85+"]),
            sex: pick(&mut rng, &["female", "male"]),
            ethnicity: pick(&mut rng, &["asian", "black", "mixed", "white", "white", "white", "other"]),
            long_term_condition: pick(&mut rng, &["none", "one", "two_or_more"]),
            imd_quintile: Some(rng.random_range(1..=5)),
            base_weight: rng.random_range(1.0..2.5),
            index: Some(rng.random_range(30.0..70.0) + lean),
            domains: (0..scoring.domain_count()).map(|_| Some(rng.random_range(20.0..80.0) + lean)).collect(),
            choices: options
                .iter()
                .map(|&k| if rng.random_bool(0.85) { 1u64 << rng.random_range(0..k.min(64)) } else { 0 })
                .collect(),
        };
        frame.push(&row);
    }
    println!("items {} slots {}", items.len(), options.iter().sum::<usize>() + items.len());
    for _ in 0..2 {
        let t = Instant::now();
        let weighed = frame::weigh(&frame, &population, 10).unwrap();
        let t_weigh = t.elapsed().as_secs_f64();
        let domain_ids: Vec<String> = definition.domains.iter().map(|x| x.id.clone()).collect();
        let (mut t_group, mut t_score, mut t_q) = (0.0, 0.0, 0.0);
        let mut patterns = Patterns::new();
        let mut ncells = 0;
        for w in &weighed {
            let t = Instant::now();
            let groupings = cells::groupings(&frame, w);
            t_group += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let (scores, profiles) = cells::score_cells(&frame, w, &groupings, &domain_ids, &mut patterns);
            t_score += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let q = cells::question_cells(&frame, w, &groupings, &profiles, &items);
            t_q += t.elapsed().as_secs_f64();
            ncells += scores.len() + q.len();
        }
        let t = Instant::now();
        let r = results::compute(&Inputs {
            definition: &definition,
            frame: &frame,
            population: &population,
            profiles: &profiles,
            ics_names: &ics_names,
            threshold: 30,
            min_respondents: 10,
        })
        .unwrap();
        let t_all = t.elapsed().as_secs_f64();
        println!(
            "weigh {t_weigh:.3} groupings {t_group:.3} scores {t_score:.3} questions {t_q:.3} cells {ncells}; compute() {t_all:.3} ({} cells)",
            r.cells.len()
        );
    }
}

//! The integration index in memory: every cell (index, domains, questions;
//! England, ICSs, every group dimension), comparisons and disclosure
//! control, from result rows already read from the database, for synthetic
//! samples of the shipped questionnaire over the 42 ICSs.

use std::collections::BTreeMap;

use compact_str::CompactString;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use joinedup::definitions;
use joinedup::index::columns::Frame;
use joinedup::index::frame::Row;
use joinedup::index::record::question_items;
use joinedup::index::results::{self, Inputs};
use joinedup::index::scoring::Scoring;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn pick(rng: &mut StdRng, list: &[&str]) -> Option<CompactString> {
    Some(list[rng.random_range(0..list.len())].into())
}

/// Respondents spread over the ICSs, with every grouping category (a sixth
/// of the invited on paper), scores that vary by ICS, and an answer to
/// every question.
fn rows(n: usize, icss: &[String], domains: usize, options: &[usize]) -> Vec<Row> {
    let mut rng = StdRng::seed_from_u64(11);
    // Modes from a generator of their own: the other columns stay as they
    // were before results were split by mode.
    let mut modes = StdRng::seed_from_u64(12);
    (0..n)
        .map(|_| {
            let ics = rng.random_range(0..icss.len());
            let voice = pick(&mut rng, &["patient", "patient", "patient", "carer_self", "carer_on_behalf"]);
            let lean = ics as f64 / icss.len() as f64 * 20.0;
            let invited = rng.random_bool(0.5);
            Row {
                version: 1,
                channel: if invited { "invitation" } else { "open_link" }.into(),
                // A sixth of the invited answer on paper (paper forms come
                // only from invitations).
                mode: Some(if invited && modes.random_bool(1.0 / 6.0) { "paper" } else { "online" }.into()),
                voice,
                ics: Some(icss[ics].as_str().into()),
                age_band: pick(&mut rng, &["18-34", "35-54", "55-64", "65-74", "75-84", "85+"]),
                sex: pick(&mut rng, &["female", "male"]),
                ethnicity: pick(&mut rng, &["asian", "black", "mixed", "white", "white", "white", "other"]),
                long_term_condition: pick(&mut rng, &["none", "one", "two_or_more"]),
                imd_quintile: Some(rng.random_range(1..=5)),
                base_weight: rng.random_range(1.0..2.5),
                index: Some(rng.random_range(30.0..70.0) + lean),
                domains: (0..domains).map(|_| Some(rng.random_range(20.0..80.0) + lean)).collect(),
                choices: options.iter().map(|&k| 1u64 << rng.random_range(0..k.min(64))).collect(),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/survey-definitions/integration-index.yaml");
    let source = std::fs::read_to_string(path).expect("the shipped questionnaire");
    let definition = definitions::parse(path, &source).expect("a valid definition");
    let scoring = Scoring::new(&definition);
    let options: Vec<usize> = question_items(&definition).iter().map(|i| i.options.len()).collect();
    let (population, profiles) = joinedup::results::reports::reference_tables();
    let icss: Vec<String> = profiles.iter().map(|p| p.code.clone()).collect();
    let ics_names: BTreeMap<String, String> = icss.iter().map(|c| (c.clone(), format!("ICS {c}"))).collect();
    let mut group = c.benchmark_group("index");
    group.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let rows = rows(n, &icss, scoring.domain_count(), &options);
        let frame = Frame::from_rows(&rows, scoring.domain_count(), options.len());
        drop(rows);
        let inputs = Inputs {
            definition: &definition,
            frame: &frame,
            population: &population,
            profiles: &profiles,
            ics_names: &ics_names,
            threshold: 30,
            weighing: joinedup::index::frame::WeighOptions::default(),
            pooled: false,
            forced: &joinedup::index::disclosure::Marks::new(),
        };
        group.bench_with_input(BenchmarkId::new("all_cells", n), &n, |b, _| {
            b.iter(|| results::compute(&inputs).expect("results"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

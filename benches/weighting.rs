//! The weighting engine in memory: raking and estimates for synthetic
//! samples over 42 ICSs with 4 margins (age band, sex, ethnicity, IMD).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use joinedup::weighting::{self, DimensionMargins, Population, Respondents, WeightingSpec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIMENSIONS: [(&str, usize); 4] = [("age_band", 6), ("sex", 2), ("ethnicity", 5), ("imd_quintile", 5)];

/// A sample with uneven response: lower categories answer more often.
fn sample(n: usize) -> (Respondents, Population) {
    let mut rng = StdRng::seed_from_u64(7);
    let strata = 42;
    let mut respondents =
        Respondents { categories: vec![Vec::with_capacity(n); DIMENSIONS.len()], ..Respondents::default() };
    for _ in 0..n {
        respondents.stratum.push(rng.random_range(0..strata as u32));
        respondents.base_weight.push(rng.random_range(1.0..3.0));
        for (d, (_, k)) in DIMENSIONS.iter().enumerate() {
            let skewed = (rng.random::<f64>().powi(2) * *k as f64) as u32;
            respondents.categories[d].push(Some(skewed.min(*k as u32 - 1)));
        }
    }
    let population = Population {
        strata: (0..strata).map(|h| format!("ICS{h:02}")).collect(),
        dimensions: DIMENSIONS
            .iter()
            .map(|(name, k)| DimensionMargins {
                name: name.to_string(),
                categories: (0..*k).map(|c| format!("c{c}")).collect(),
                // Equal shares: every dimension sums to 1,000,000 per ICS.
                population: vec![vec![Some(1_000_000.0 / *k as f64); *k]; strata],
                collapse_into: vec![vec![None; *k]; strata],
            })
            .collect(),
    };
    (respondents, population)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("weighting");
    group.sample_size(10);
    for n in [10_000usize, 100_000, 1_000_000] {
        let (respondents, population) = sample(n);
        let spec = WeightingSpec::default();
        group.bench_with_input(BenchmarkId::new("rake", n), &n, |b, _| {
            b.iter(|| weighting::weight(&respondents, &population, &spec).unwrap())
        });
        let weighted = weighting::weight(&respondents, &population, &spec).unwrap();
        let score: Vec<f64> = (0..n).map(|i| (i % 101) as f64).collect();
        let by_ics: Vec<Option<u32>> = respondents.stratum.iter().map(|h| Some(*h)).collect();
        group.bench_with_input(BenchmarkId::new("mean_by_ics_raked_se", n), &n, |b, _| {
            b.iter(|| weighted.design(&respondents).means_by(&score, &by_ics, 42))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

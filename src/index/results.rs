//! From result rows to published cells: each sample weighted on its own
//! (trimmed by default), estimates with their precision, comparisons and
//! disclosure control, in one pure function every output format shares.
//! No figure leaves here as NaN or infinity: what cannot be estimated is
//! left empty and `not_estimable` says why.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::cells::{self, ALL, Cell, CellKey, ENGLAND};
use super::columns::Frame;
use super::compare::{self, Funnel, IcsProfile, VsEngland, VsPeers};
use super::disclosure::{self, DisclosureSummary, Suppression};
use super::frame::{self, ADULT_BANDS, Group, PopulationTable, TrimSummary, WeighOptions, Weighed};
use super::record::QuestionItem;
use super::sample::Sample;
use crate::definitions::SurveyDefinition;
use crate::weighting::{self, WeightingError, Z95};

/// Everything one results run needs.
pub struct Inputs<'a> {
    pub definition: &'a SurveyDefinition,
    pub frame: &'a Frame,
    pub population: &'a PopulationTable,
    pub profiles: &'a [IcsProfile],
    pub ics_names: &'a BTreeMap<String, String>,
    pub threshold: usize,
    pub weighing: WeighOptions,
    /// Also publish the two samples combined (on an analyst's request).
    pub pooled: bool,
    /// The marks of the default release of the same respondents, which a
    /// variant keeps (empty for the default itself).
    pub forced: &'a disclosure::Marks,
}

/// The marks a published table carries, for a variant of it to keep
/// (disclosure rule 4).
pub fn marks(cells: &[Published]) -> disclosure::Marks {
    cells
        .iter()
        .filter_map(|p| {
            let mark = match (p.suppressed.is_some(), p.coarsened) {
                (true, _) => disclosure::Mark::Hidden,
                (false, true) => disclosure::Mark::Coarse,
                (false, false) => return None,
            };
            let key = CellKey {
                sample: p.sample,
                group: Group::parse(&p.group)?,
                measure: p.measure.clone(),
                area: p.area.clone(),
                dimension: p.dimension.clone(),
                category: p.category.clone(),
            };
            Some((key, mark))
        })
        .collect()
}

/// One published cell. Hidden cells keep their place and their rounded
/// count, with every figure left empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub sample: Sample,
    pub group: String,
    pub measure: String,
    pub measure_label: String,
    pub area: String,
    pub area_name: String,
    pub dimension: String,
    pub category: String,
    pub n: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sum_w: Option<f64>,
    /// Kish's effective sample size, (Σw)²/Σw²: what the weighting alone
    /// costs, rounded to 5.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n_eff_kish: Option<f64>,
    /// The design effect, R's `svymean(deff = TRUE)`: the estimate's
    /// variance over that of a simple random sample of the same size.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub deff: Option<f64>,
    /// The design-based effective sample size, n / deff, rounded to 5: the
    /// precision the estimate actually has.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n_eff_design: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub estimate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub se: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ci_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ci_high: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suppressed: Option<String>,
    /// Figures of a shown cell that cannot be estimated, and why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub not_estimable: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vs_england: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vs_england_se: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vs_england_significant: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub peer_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vs_peers: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vs_peers_significant: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub funnel: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub standardised: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub standardised_se: Option<f64>,
    /// Shown to whole points (the estimate, its interval and differences)
    /// so that a hidden neighbour cannot be worked out.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub coarsened: bool,
    /// Exact respondents, never written out: kept with a stored release for
    /// ordering and checks.
    #[serde(skip)]
    pub n_exact: usize,
}

/// How one population of one sample was weighted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightingSummary {
    pub group: String,
    pub raked: bool,
    pub respondents: usize,
    pub icss: usize,
    pub icss_scaled_not_raked: usize,
    pub max_margin_error: f64,
    /// ICSs whose margins could not be met: only scaled to their total.
    pub margins_not_met: Vec<String>,
    pub trimmed: TrimSummary,
}

/// One sample's table: who was in it and how it was weighted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleSummary {
    pub sample: Sample,
    /// Respondents placed in a group and an ICS.
    pub respondents: usize,
    pub weighting: Vec<WeightingSummary>,
    /// The people's index funnel (when England's is published).
    pub funnel: Option<Funnel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub cells: Vec<Published>,
    pub samples: Vec<SampleSummary>,
    /// The sample whose figures are the headline: the invited people when
    /// there are any, else the open link's (then only indicative).
    pub headline: Option<Sample>,
    pub peers: BTreeMap<String, Vec<String>>,
    /// Respondents left out because their ICS is unknown.
    pub without_ics: usize,
    pub disclosure: DisclosureSummary,
}

impl Results {
    pub fn empty(threshold: usize) -> Results {
        Results {
            cells: Vec::new(),
            samples: Vec::new(),
            headline: None,
            peers: BTreeMap::new(),
            without_ics: 0,
            disclosure: DisclosureSummary { threshold, ..DisclosureSummary::default() },
        }
    }

    /// Everything but the cells (for storing the cells apart).
    pub fn clone_without_cells(&self) -> Results {
        Results {
            cells: Vec::new(),
            samples: self.samples.clone(),
            headline: self.headline,
            peers: self.peers.clone(),
            without_ics: self.without_ics,
            disclosure: self.disclosure,
        }
    }

    pub fn sample(&self, sample: Sample) -> Option<&SampleSummary> {
        self.samples.iter().find(|s| s.sample == sample)
    }
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// A design effect below this is a figure the weighting fixes (a raked
/// margin), its variance rounding noise.
const CALIBRATED: f64 = 1e-6;

/// A figure as published: rounded, and only if it is a number.
fn figure(v: f64, places: i32) -> Option<f64> {
    v.is_finite().then(|| round(v, places))
}

/// (sample, group, measure) → ICS → (estimate, SE) of the published ICS
/// headline rows: what England, peer and funnel comparisons use.
type HeadlineRows<'a> = BTreeMap<(Sample, Group, &'a str), BTreeMap<String, (f64, f64)>>;

/// Runs the whole chain.
pub fn compute(inputs: &Inputs<'_>) -> Result<Results, WeightingError> {
    let d = inputs.definition;
    let data = inputs.frame;
    let sample_of_code: Vec<Sample> = (0..data.channel.code_count())
        .map(|code| Sample::of_channel(data.channel.name(code as u16).unwrap_or("open_link")))
        .collect();
    let sample_of = |i: usize| sample_of_code[data.channel.codes[i] as usize];
    let mut tables: Vec<(Sample, Vec<Weighed>)> = Vec::new();
    for sample in Sample::SEPARATE {
        let weighed = frame::weigh(data, inputs.population, &inputs.weighing, &|i| sample_of(i) == sample)?;
        if !weighed.is_empty() {
            tables.push((sample, weighed));
        }
    }
    if inputs.pooled && tables.len() == 2 {
        let mut pooled = Vec::new();
        for group in Group::ALL {
            let find = |t: &[Weighed]| t.iter().find(|w| w.group == group).cloned();
            match (find(&tables[0].1), find(&tables[1].1)) {
                (Some(a), Some(b)) => pooled.push(frame::composite(&a, &b)),
                (Some(one), None) | (None, Some(one)) => pooled.push(one),
                (None, None) => {}
            }
        }
        tables.push((Sample::Pooled, pooled));
    }
    let headline = tables.first().map(|(s, _)| *s);
    let domain_ids: Vec<String> = d.domains.iter().map(|x| x.id.clone()).collect();
    let items = super::record::question_items(d);
    let mut all: Vec<Cell> = Vec::new();
    for (sample, weighed) in &tables {
        for w in weighed {
            let groupings = cells::groupings(data, w);
            let (scores, profiles) = cells::score_cells(data, w, *sample, &groupings, &domain_ids);
            all.extend(scores);
            all.extend(cells::question_cells(data, w, *sample, &groupings, &profiles, &items));
        }
    }
    let disclosure::Protection { hidden, coarse, summary: disclosure } =
        disclosure::suppress(&all, inputs.threshold, inputs.forced);
    // An ICS whose respondents cannot meet its margins is only scaled to its
    // population total: its own figures would not be comparable with raked
    // ICSs, so they are not estimable and take no part in comparisons.
    // (England still counts its people, at their population total.)
    let unmet: HashSet<(Sample, Group, &str)> = tables
        .iter()
        .flat_map(|(sample, weighed)| {
            weighed.iter().flat_map(move |w| w.margins_not_met.iter().map(move |ics| (*sample, w.group, ics.as_str())))
        })
        .collect();
    let margins_unmet = |c: &Cell| unmet.contains(&(c.key.sample, c.key.group, c.key.area.as_str()));

    // Comparisons use published figures only, as published: a difference
    // or a peer mean is worked out from the rounded estimates (whole points
    // for a coarse cell), so it gives nothing finer away.
    let shown = |k: usize| -> f64 { round(all[k].estimate.estimate, if coarse[k] { 0 } else { 1 }) };
    let england: HashMap<CellKey, (&Cell, f64)> = all
        .iter()
        .enumerate()
        .filter(|(k, c)| c.key.area == ENGLAND && hidden[*k].is_none() && !c.proportion)
        .map(|(k, c)| (c.key.clone(), (c, shown(k))))
        .collect();
    let peers = compare::peer_groups(inputs.profiles, 5);
    let group_population = group_populations(inputs.population);
    let mut headline_rows: HeadlineRows<'_> = BTreeMap::new();
    for (k, c) in all.iter().enumerate() {
        if hidden[k].is_none() && !c.proportion && c.key.area != ENGLAND && c.key.dimension == ALL && !margins_unmet(c)
        {
            headline_rows
                .entry((c.key.sample, c.key.group, c.key.measure.as_str()))
                .or_default()
                .insert(c.key.area.clone(), (shown(k), c.estimate.se));
        }
    }
    let mut funnels: BTreeMap<Sample, Funnel> = BTreeMap::new();
    let mut standardised: BTreeMap<Sample, BTreeMap<String, compare::Standardised>> = BTreeMap::new();
    for (sample, weighed) in &tables {
        let target = england
            .get(&CellKey {
                sample: *sample,
                group: Group::People,
                measure: "index".into(),
                area: ENGLAND.into(),
                dimension: ALL.into(),
                category: ALL.into(),
            })
            .map(|e| e.1);
        let points: Vec<(f64, f64)> = headline_rows
            .get(&(*sample, Group::People, "index"))
            .map(|m| m.values().copied().collect())
            .unwrap_or_default();
        if let Some(f) = target.and_then(|t| compare::funnel(t, &points)) {
            funnels.insert(*sample, f);
        }
        if let Some(people) = weighed.iter().find(|w| w.group == Group::People) {
            standardised.insert(*sample, compare::standardise(data, people, inputs.population));
        }
    }

    let labels = measure_labels(d, &items);
    let mut quantiles: HashMap<u64, Option<f64>> = HashMap::new();
    let mut quantile = |df: f64| *quantiles.entry(df.to_bits()).or_insert_with(|| weighting::t_quantile(df));
    let mut published = Vec::with_capacity(all.len());
    for ((cell, hidden), &coarse) in all.iter().zip(&hidden).zip(&coarse) {
        // A coarse cell's estimate, and what is derived from it, to whole
        // points (disclosure control).
        let places = if coarse { 0 } else { 1 };
        let unmet = margins_unmet(cell);
        let mut p = publish(cell, *hidden, coarse, unmet, &labels, inputs.ics_names, &mut quantile);
        if hidden.is_none() && !unmet {
            let k = &cell.key;
            let mut reasons: Vec<String> = p.not_estimable.take().into_iter().collect();
            if !cell.proportion && k.area != ENGLAND {
                let eng = compare::england_of(cell, &england);
                match eng.map(|(eng, _)| compare::vs_england(cell, eng)) {
                    Some(Ok(VsEngland { se, significant, .. })) => {
                        // The difference of the two figures as published.
                        let difference = p.estimate.zip(eng.map(|e| e.1)).map(|(a, b)| a - b);
                        p.vs_england = difference.and_then(|d| figure(d, 1));
                        p.vs_england_se = figure(se, 2);
                        p.vs_england_significant = Some(significant);
                    }
                    Some(Err(reason)) => reasons.push(format!("comparison with England: {reason}")),
                    None => {}
                }
            }
            let headline_ics = !cell.proportion && k.dimension == ALL && k.area != ENGLAND;
            if headline_ics
                && let Some(estimates) = headline_rows.get(&(k.sample, k.group, k.measure.as_str()))
                && let Some(population) = group_population.get(&k.group)
            {
                let peer_list = peers.get(&k.area).cloned().unwrap_or_default();
                if let Some(VsPeers { peer_mean, significant, .. }) =
                    compare::vs_peers(&k.area, &peer_list, estimates, population)
                {
                    p.peer_mean = figure(peer_mean, 1);
                    p.vs_peers = p.estimate.zip(p.peer_mean).and_then(|(a, b)| figure(a - b, 1));
                    p.vs_peers_significant = Some(significant);
                }
            }
            if headline_ics && k.group == Group::People && k.measure == "index" {
                if let Some(f) = funnels.get(&k.sample)
                    && cell.estimate.se.is_finite()
                    && cell.estimate.se > 0.0
                {
                    p.funnel = Some(f.flag(cell.estimate.estimate, cell.estimate.se));
                }
                if let Some(s) = standardised.get(&k.sample).and_then(|m| m.get(&k.area)) {
                    p.standardised = figure(s.estimate, places);
                    p.standardised_se = figure(s.se, 2);
                }
            }
            if !reasons.is_empty() {
                p.not_estimable = Some(reasons.join("; "));
            }
        }
        published.push(p);
    }
    let samples = tables
        .iter()
        .map(|(sample, weighed)| SampleSummary {
            sample: *sample,
            respondents: weighed.iter().map(|w| w.rows.len()).sum(),
            weighting: weighed.iter().map(summarise).collect(),
            funnel: funnels.get(sample).copied(),
        })
        .collect();
    let without_ics = data
        .groups()
        .iter()
        .zip(&data.ics.codes)
        .enumerate()
        .filter(|(i, (group, ics))| **ics == 0 && group.is_some() && sample_of(*i) != Sample::Pooled)
        .count();
    Ok(Results { cells: published, samples, headline, peers, without_ics, disclosure })
}

/// A cell's own figures, rounded as published, with the reasons any of a
/// shown cell's figures could not be estimated.
fn publish(
    cell: &Cell,
    hidden: Option<Suppression>,
    coarse: bool,
    margins_unmet: bool,
    labels: &BTreeMap<String, String>,
    ics_names: &BTreeMap<String, String>,
    quantile: &mut dyn FnMut(f64) -> Option<f64>,
) -> Published {
    let e = &cell.estimate;
    let k = &cell.key;
    let area_name =
        if k.area == ENGLAND { ENGLAND.to_string() } else { ics_names.get(&k.area).cloned().unwrap_or_default() };
    let mut p = Published {
        sample: k.sample,
        group: k.group.code().to_string(),
        measure: k.measure.clone(),
        measure_label: labels.get(&k.measure).cloned().unwrap_or_else(|| k.measure.clone()),
        area: k.area.clone(),
        area_name,
        dimension: k.dimension.clone(),
        category: k.category.clone(),
        n: disclosure::published_count(e.n),
        sum_w: None,
        n_eff_kish: None,
        deff: None,
        n_eff_design: None,
        estimate: None,
        se: None,
        ci_low: None,
        ci_high: None,
        suppressed: hidden.map(|h| h.code().to_string()),
        not_estimable: None,
        vs_england: None,
        vs_england_se: None,
        vs_england_significant: None,
        peer_mean: None,
        vs_peers: None,
        vs_peers_significant: None,
        funnel: None,
        standardised: None,
        standardised_se: None,
        coarsened: coarse,
        n_exact: e.n,
    };
    if hidden.is_some() {
        return p;
    }
    if margins_unmet {
        p.not_estimable = Some(MARGINS_NOT_MET.to_string());
        return p;
    }
    let places = if coarse { 0 } else { 1 };
    let mut reasons = Vec::new();
    let Some(estimate) = figure(e.estimate, places) else {
        p.not_estimable = Some("estimate: no weight in this cell".into());
        return p;
    };
    p.estimate = Some(estimate);
    p.sum_w = e.sum_w.is_finite().then(|| disclosure::published_total(e.sum_w));
    p.n_eff_kish = e.n_eff.is_finite().then(|| disclosure::published_effective(e.n_eff));
    match (e.deff.is_finite() && e.deff >= 0.0, e.n) {
        // The weighting fixes this figure (raked to it): it has no
        // sampling variance, so no effective sample size.
        (true, _) if e.deff < CALIBRATED => {
            p.deff = Some(0.0);
            reasons
                .push("effective sample size: the weighting fixes this figure, so it has no sampling variance".into());
        }
        (true, _) => {
            // One decimal: with the SE, a finer design effect would give the
            // exact count back (n − 1 = deff·s²/se² for a proportion).
            p.deff = figure(e.deff, 1);
            p.n_eff_design = Some(disclosure::published_effective(e.n as f64 / e.deff));
        }
        (false, 1) => reasons.push("design effect: one respondent".to_string()),
        (false, _) if e.sum_w <= e.n as f64 => {
            reasons.push("design effect: the weights add up to no more than the respondents".to_string())
        }
        (false, _) => reasons.push("design effect: the answers do not vary".to_string()),
    }
    if !e.se.is_finite() {
        reasons.push("standard error: not a number (check the weights)".to_string());
    } else if cell.proportion {
        p.se = figure(e.se, 2);
        // A coarse cell's interval comes from its rounded estimate, so the
        // interval gives back nothing finer.
        let centre = if coarse { estimate } else { e.estimate };
        let share = weighting::Estimate { estimate: centre / 100.0, se: e.se / 100.0, ..*e };
        match weighting::proportion_with(share, quantile).ci {
            Some((lo, hi)) => {
                p.ci_low = figure(100.0 * lo, places);
                p.ci_high = figure(100.0 * hi, places);
            }
            None if e.estimate <= 0.0 || e.estimate >= 100.0 => {
                reasons.push("interval: the logit interval is undefined at 0% or 100%".to_string())
            }
            None => reasons.push("interval: too few respondents for a t interval (df ≤ 1)".to_string()),
        }
    } else {
        p.se = figure(e.se, 2);
        let centre = if coarse { estimate } else { e.estimate };
        p.ci_low = figure((centre - Z95 * e.se).clamp(0.0, 100.0), places);
        p.ci_high = figure((centre + Z95 * e.se).clamp(0.0, 100.0), places);
    }
    if !reasons.is_empty() {
        p.not_estimable = Some(reasons.join("; "));
    }
    p
}

/// Why an ICS's figures are missing when its margins cannot be met.
pub const MARGINS_NOT_MET: &str = "the margins could not be met for this ICS (its respondents were only scaled to its population total, so its figures would not be comparable)";

fn summarise(w: &Weighed) -> WeightingSummary {
    WeightingSummary {
        group: w.group.code().to_string(),
        raked: w.raked,
        respondents: w.rows.len(),
        icss: w.strata.len(),
        icss_scaled_not_raked: w
            .weighted
            .strata
            .iter()
            .filter(|s| s.status == weighting::StratumStatus::TooFewRespondents)
            .count(),
        max_margin_error: w
            .weighted
            .strata
            .iter()
            .map(|s| s.max_margin_error)
            .filter(|e| e.is_finite())
            .fold(0.0, f64::max),
        margins_not_met: w.margins_not_met.clone(),
        trimmed: w.trimmed,
    }
}

/// The people each ICS stands for in each group (adults; children for
/// on-behalf answers about children), for population-weighted aggregates.
fn group_populations(population: &PopulationTable) -> BTreeMap<Group, BTreeMap<String, f64>> {
    let mut adults: BTreeMap<String, f64> = BTreeMap::new();
    let mut children: BTreeMap<String, f64> = BTreeMap::new();
    for ((ics, band, _), n) in &population.counts {
        if ADULT_BANDS.contains(&band.as_str()) {
            *adults.entry(ics.clone()).or_default() += n;
        } else if band == "0-17" {
            *children.entry(ics.clone()).or_default() += n;
        }
    }
    [(Group::People, adults.clone()), (Group::Carers, adults), (Group::Children, children)].into_iter().collect()
}

/// Human names of the measures: index, domain labels, question wording.
fn measure_labels(d: &SurveyDefinition, items: &[QuestionItem]) -> BTreeMap<String, String> {
    let language = d.default_language();
    let mut labels = BTreeMap::new();
    labels.insert("index".to_string(), "Integration index".to_string());
    for domain in &d.domains {
        labels.insert(domain.id.clone(), domain.label.get(language, None).to_string());
    }
    for item in items {
        for (code, label, _) in &item.options {
            labels.insert(format!("{}={code}", item.id), format!("{}: {label}", item.text));
        }
        labels.insert(format!("{}=positive", item.id), format!("{}: positive answers", item.text));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::frame::Row;
    use proptest::prelude::*;

    const ICSS: [&str; 3] = ["E54000008", "E54000010", "E54000011"];
    const BANDS: [&str; 7] = ["0-17", "18-34", "35-54", "55-64", "65-74", "75-84", "85+"];

    /// A made-up population for the three ICSs: a different size and age
    /// mix in each, every band and sex present (the unit under test is the
    /// output, not the reference data, which `tests/it/index.rs` uses).
    fn populations() -> (PopulationTable, Vec<IcsProfile>) {
        let mut counts = BTreeMap::new();
        for (h, ics) in ICSS.iter().enumerate() {
            for (b, band) in BANDS.iter().enumerate() {
                for sex in ["female", "male"] {
                    let people = 20_000.0 * (h + 1) as f64 + 3_000.0 * b as f64;
                    counts.insert((ics.to_string(), band.to_string(), sex.to_string()), people);
                }
            }
        }
        let profiles = ICSS
            .iter()
            .enumerate()
            .map(|(h, ics)| IcsProfile { code: ics.to_string(), deprivation: 0.1 * (h + 1) as f64, older: 0.2 })
            .collect();
        (PopulationTable { counts, source: "made up for tests".into(), uploaded: BTreeMap::new() }, profiles)
    }

    fn definition() -> SurveyDefinition {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/survey-definitions/integration-index.yaml");
        let source = std::fs::read_to_string(path).expect("the shipped questionnaire");
        crate::definitions::parse(path, &source).expect("valid")
    }

    /// One respondent from a handful of choices: missing details, lone
    /// ICSs, constant scores (no variance), extreme base weights.
    fn row(domains: usize, items: usize) -> impl Strategy<Value = Row> {
        (
            (0usize..3, 0usize..5, 0usize..8, 0usize..3, prop::bool::ANY),
            (prop::sample::select(vec![1.0, 1.0, 2.0, 0.01, 250.0, 40_000.0]), 0usize..4),
            prop::collection::vec(prop::option::of(prop::sample::select(vec![0.0, 50.0, 100.0, 66.7])), domains),
            prop::collection::vec(0u64..8, items),
        )
            .prop_map(move |((ics, voice, band, sex, invited), (weight, score), domains, choices)| Row {
                version: 1,
                channel: if invited { "invitation" } else { "open_link" }.into(),
                // Paper forms come from invitations; a few of them.
                mode: Some(if invited && score == 2 { "paper" } else { "online" }.into()),
                voice: ["patient", "patient", "carer_self", "carer_on_behalf"].get(voice).map(|v| (*v).into()),
                ics: Some(ICSS[ics].into()),
                age_band: BANDS.get(band).map(|b| (*b).into()),
                sex: ["female", "male"].get(sex).map(|s| (*s).into()),
                ethnicity: Some("white".into()),
                long_term_condition: None,
                imd_quintile: invited.then_some(1 + (score as i32 % 5)),
                base_weight: weight,
                index: [None, Some(50.0), Some(50.0), Some(80.0)][score],
                domains,
                choices,
            })
    }

    /// 1 to 70 respondents of the shipped questionnaire.
    fn rows() -> impl Strategy<Value = Vec<Row>> {
        let d = definition();
        let domains = crate::index::scoring::Scoring::new(&d).domain_count();
        let items = crate::index::record::question_items(&d).len();
        prop::collection::vec(row(domains, items), 1..70)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        /// Small, degenerate and single-respondent designs through every
        /// output: every number published is finite, and a shown cell
        /// missing a figure says why.
        #[test]
        fn no_output_holds_a_number_that_is_not_one(rows in rows(), trim in prop::bool::ANY, pooled in prop::bool::ANY) {
            let d = definition();
            let scoring = crate::index::scoring::Scoring::new(&d);
            let items = crate::index::record::question_items(&d);
            let frame = Frame::from_rows(&rows, scoring.domain_count(), items.len());
            let (population, profiles) = populations();
            let names = BTreeMap::new();
            let results = compute(&Inputs {
                definition: &d,
                frame: &frame,
                population: &population,
                profiles: &profiles,
                ics_names: &names,
                threshold: 10,
                weighing: WeighOptions { min_respondents: 10, trim: trim.then_some(5.0) },
                pooled,
                forced: &disclosure::Marks::new(),
            })
            .expect("results from any positive weights");
            for c in &results.cells {
                let figures = [
                    c.sum_w, c.n_eff_kish, c.deff, c.n_eff_design, c.estimate, c.se, c.ci_low, c.ci_high,
                    c.vs_england, c.vs_england_se, c.peer_mean, c.vs_peers, c.standardised, c.standardised_se,
                ];
                prop_assert!(figures.iter().all(|v| v.is_none_or(f64::is_finite)), "{c:?}");
                if c.suppressed.is_none() {
                    prop_assert!(c.estimate.is_some() || c.not_estimable.is_some(), "{c:?}");
                    if c.estimate.is_some() && (c.se.is_none() || c.ci_low.is_none() || c.deff.is_none()) {
                        prop_assert!(c.not_estimable.is_some(), "a missing figure without a reason: {c:?}");
                    }
                } else {
                    prop_assert!(c.estimate.is_none() && c.se.is_none() && c.sum_w.is_none(), "{c:?}");
                }
            }
            for s in &results.samples {
                if let Some(f) = s.funnel {
                    prop_assert!(f.target.is_finite() && f.tau2.is_finite() && f.phi.is_finite(), "{f:?}");
                }
                for w in &s.weighting {
                    prop_assert!(w.max_margin_error.is_finite() && w.trimmed.trimmed_share.is_finite(), "{w:?}");
                }
            }
            prop_assert!(results.disclosure.information_loss().is_finite());
            let json = serde_json::to_string(&results.cells).unwrap();
            prop_assert!(!json.contains(":null"), "a number JSON cannot hold");
        }
    }
}

//! The results of one survey in columns, ready for weighting and cells:
//! who is counted where, and the weights each population gets.
//!
//! * **People's index**: `patient` and `carer_on_behalf` about adults,
//!   raked within each ICS to the ICS adult population by age band and sex,
//!   and by ethnicity and deprivation when an analyst uploaded margins.
//! * **Carers' index**: `carer_self`, base weights, or raked to the carer
//!   margins an analyst uploaded.
//! * **Children**: `carer_on_behalf` about under-18s, base weights.

use std::collections::BTreeMap;

use compact_str::CompactString;

use super::columns::Frame;
use super::margins::{MarginSet, collapse_rule};
use crate::weighting::{self, DimensionMargins, Population, Respondents, Weighted, WeightingError, WeightingSpec};

/// One submitted response, as the index reads it: the record a `Frame`
/// is built from. Categories are short strings kept inline (no heap
/// allocation per field: results read a million of these).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    pub version: i64,
    pub channel: CompactString,
    /// How the answers were given: `online`, or `paper` keyed by staff
    /// (always set on a stored result).
    pub mode: Option<CompactString>,
    pub voice: Option<CompactString>,
    pub ics: Option<CompactString>,
    pub age_band: Option<CompactString>,
    pub sex: Option<CompactString>,
    pub ethnicity: Option<CompactString>,
    pub long_term_condition: Option<CompactString>,
    pub imd_quintile: Option<i32>,
    pub base_weight: f64,
    pub index: Option<f64>,
    pub domains: Vec<Option<f64>>,
    /// Per question item, the chosen options as a bit set (0 = no answer).
    pub choices: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    People,
    Carers,
    Children,
}

impl Group {
    pub const ALL: [Group; 3] = [Group::People, Group::Carers, Group::Children];

    pub fn code(self) -> &'static str {
        match self {
            Group::People => "people",
            Group::Carers => "carers",
            Group::Children => "children",
        }
    }

    /// The group a code names, as outputs write it.
    pub fn parse(code: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.code() == code)
    }

    pub fn of(row: &Row) -> Option<Group> {
        Group::of_categories(row.voice.as_deref(), row.age_band.as_deref())
    }

    /// The population of a response with this voice and age band.
    pub fn of_categories(voice: Option<&str>, age_band: Option<&str>) -> Option<Group> {
        match (voice, age_band) {
            (Some("carer_self"), _) => Some(Group::Carers),
            (Some("carer_on_behalf"), Some("0-17")) => Some(Group::Children),
            (Some("patient" | "carer_on_behalf"), _) => Some(Group::People),
            _ => None,
        }
    }
}

/// The grouping dimensions of every output, in output order. `mode` (how
/// the answers were given: online or on paper) is for monitoring mode
/// differences: no estimate is adjusted for mode (methodology §5.1).
pub const DIMENSIONS: [&str; 7] =
    ["age_band", "sex", "ethnicity", "imd_quintile", "long_term_condition", "voice", "mode"];

/// What every output says beside results by mode.
pub const MODE_NOTE: &str = "for monitoring mode differences: not adjusted for mode effects";

/// Deprivation quintiles as category names.
pub const QUINTILES: [&str; 5] = ["1", "2", "3", "4", "5"];

/// Adult population counts per ICS, age band and sex.
#[derive(Debug, Clone, Default)]
pub struct PopulationTable {
    /// (ICS code, age band, sex) → people.
    pub counts: BTreeMap<(String, String, String), f64>,
    /// Where the figures come from, for provenance.
    pub source: String,
    /// Margins analysts uploaded, by group (validated when uploaded).
    pub uploaded: BTreeMap<Group, MarginSet>,
}

pub const ADULT_BANDS: [&str; 6] = ["18-34", "35-54", "55-64", "65-74", "75-84", "85+"];

/// One population's rows, weighted.
#[derive(Debug, Clone)]
pub struct Weighed {
    pub group: Group,
    /// Indices into the frame's rows.
    pub rows: Vec<usize>,
    /// ICS index per row (into `strata`).
    pub respondents: Respondents,
    pub strata: Vec<String>,
    pub weighted: Weighted,
    /// Whether the weights were raked to population margins.
    pub raked: bool,
    /// ICSs whose respondents could not meet the margins (raking did not
    /// converge even with sparse categories merged): their weights are only
    /// scaled to the ICS population.
    pub margins_not_met: Vec<String>,
    pub trimmed: TrimSummary,
}

/// Fewest respondents a margin's category needs within an ICS; sparser
/// categories are merged into their neighbour there, since a handful of
/// people cannot carry a whole population group.
pub const MIN_CATEGORY_RESPONDENTS: usize = 10;

/// How the published results weight a population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeighOptions {
    /// An ICS with fewer respondents is scaled to its population, not raked.
    pub min_respondents: usize,
    /// Weights are capped at this many times the ICS's mean weight (raked
    /// groups are then raked again, until cap and margins both hold);
    /// `None`: not trimmed.
    pub trim: Option<f64>,
}

/// The trim cap published results use unless an analyst asks otherwise.
pub const DEFAULT_TRIM: f64 = 5.0;

impl Default for WeighOptions {
    fn default() -> Self {
        WeighOptions { min_respondents: 10, trim: Some(DEFAULT_TRIM) }
    }
}

/// What trimming did to one population.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct TrimSummary {
    /// Weights that were above the cap (at any round of trim and re-rake).
    pub capped: usize,
    /// The weight the first trim took off them, as a share of the total.
    pub trimmed_share: f64,
    /// ICSs where the cap and the margins could not both be met in the
    /// rounds allowed (their weights meet the margins).
    pub limit_reached: usize,
}

/// Which ICS population each group's weights add up to, so England (and
/// peer groups) weigh each ICS by its people, not by its respondents.
fn population_totals(group: Group, population: &PopulationTable, strata: &[String]) -> Vec<Option<f64>> {
    let bands: &[&str] = match group {
        // No ICS figure for carers exists in the reference data: the adult
        // population stands in for them (documented in methodology §3).
        Group::People | Group::Carers => &ADULT_BANDS,
        Group::Children => &["0-17"],
    };
    strata
        .iter()
        .map(|h| {
            let mut total = 0.0;
            for band in bands {
                for sex in ["female", "male"] {
                    total += population.counts.get(&(h.clone(), band.to_string(), sex.to_string())).copied()?;
                }
            }
            Some(total)
        })
        .collect()
}

/// Splits the rows into the three populations and weights each: the
/// people's rows raked to age band × sex margins (plus any uploaded), the
/// carers' raked to uploaded carer margins if there are any, the rest
/// base-weighted. Rows without an ICS cannot be placed and are left out
/// (and counted).
pub fn weigh(
    frame: &Frame,
    population: &PopulationTable,
    options: &WeighOptions,
    keep: &dyn Fn(usize) -> bool,
) -> Result<Vec<Weighed>, WeightingError> {
    let groups = frame.groups();
    let ics_rank = frame.ics.sorted_ranks();
    let mut out = Vec::new();
    for group in Group::ALL {
        // Each ICS's rows side by side, ICSs in code order: every estimate
        // then walks an ICS's respondents through contiguous memory.
        let mut by_ics: Vec<Vec<usize>> = vec![Vec::new(); frame.ics.code_count()];
        for (i, (g, &code)) in groups.iter().zip(&frame.ics.codes).enumerate() {
            if *g == Some(group)
                && let Some(rank) = ics_rank[code as usize]
                && keep(i)
            {
                by_ics[rank as usize].push(i);
            }
        }
        let strata: Vec<String> = by_ics
            .iter()
            .filter(|rows| !rows.is_empty())
            .filter_map(|rows| frame.ics.get(rows[0]).map(str::to_string))
            .collect();
        if strata.is_empty() {
            continue;
        }
        let mut members = Vec::new();
        let mut stratum = Vec::new();
        for (h, rows) in by_ics.iter().filter(|rows| !rows.is_empty()).enumerate() {
            members.extend_from_slice(rows);
            stratum.extend(std::iter::repeat_n(h as u32, rows.len()));
        }
        let base: Vec<f64> = members.iter().map(|&i| frame.base_weight[i]).collect();
        let mut dimensions = match group {
            Group::People => ons_margins(population, &strata),
            _ => Vec::new(),
        };
        if let Some(set) = population.uploaded.get(&group) {
            dimensions.extend(uploaded_margins(set, &strata, dimensions.first()));
        }
        let raked = !dimensions.is_empty();
        let categories: Vec<Vec<Option<u32>>> = dimensions
            .iter()
            .map(|d| {
                // Each code's margin category, looked up once per code.
                let Some(column) = frame.dimension(&d.name) else { return vec![None; members.len()] };
                let category: Vec<Option<u32>> = (0..column.code_count())
                    .map(|code| {
                        let name = column.name(code as u16)?;
                        d.categories.iter().position(|c| c == name).map(|p| p as u32)
                    })
                    .collect();
                members.iter().map(|&i| category[column.codes[i] as usize]).collect()
            })
            .collect();
        let mut respondents = Respondents { stratum, base_weight: base, categories };
        let trim = options.trim.map(|cap| weighting::TrimControl { cap, ..weighting::TrimControl::default() });
        let mut spec = WeightingSpec { min_respondents: options.min_respondents, trim, ..WeightingSpec::default() };
        let weighted = if raked {
            for (d, categories) in dimensions.iter_mut().zip(respondents.categories.iter_mut()) {
                merge_sparse(d, categories, &respondents.stratum);
            }
            let margins = Population { strata: strata.clone(), dimensions };
            loop {
                match weighting::weight(&respondents, &margins, &spec) {
                    Ok(w) => break w,
                    Err(e) => {
                        // An ICS whose margins cannot be met, even with
                        // sparse categories merged, is scaled to its
                        // population total instead, and says so.
                        // Any problem of one ICS's margins (an uploaded
                        // file giving 0 where there are respondents, say)
                        // costs that ICS its raking, never every result.
                        let retry = e
                            .ics()
                            .and_then(|ics| strata.iter().position(|h| h == ics))
                            .filter(|&h| !spec.scale_only.contains(&(h as u32)));
                        match retry {
                            Some(h) => spec.scale_only.push(h as u32),
                            None => return Err(e),
                        }
                    }
                }
            }
        } else {
            let totals = population_totals(group, population, &strata);
            scaled(&respondents, &strata, &totals, options.trim)
        };
        let margins_not_met = spec.scale_only.iter().map(|&h| strata[h as usize].clone()).collect();
        let mut ics_totals = vec![0.0; strata.len()];
        for (&h, &w) in respondents.stratum.iter().zip(&weighted.weights) {
            ics_totals[h as usize] += w;
        }
        let total: f64 = ics_totals.iter().sum();
        let moved: f64 = weighted.strata.iter().zip(&ics_totals).map(|(s, t)| s.trimmed_share * t).sum();
        let trimmed = TrimSummary {
            capped: weighted.strata.iter().map(|s| s.capped).sum(),
            trimmed_share: if total > 0.0 { moved / total } else { 0.0 },
            limit_reached: weighted
                .strata
                .iter()
                .filter(|s| s.status == weighting::StratumStatus::TrimLimitReached)
                .count(),
        };
        out.push(Weighed { group, rows: members, respondents, strata, weighted, raked, margins_not_met, trimmed });
    }
    Ok(out)
}

/// Prepares a margin within each ICS: a category with fewer than
/// `MIN_CATEGORY_RESPONDENTS` respondents, or with population but nobody in
/// it, hands its population (and its respondents) to a neighbour that has
/// respondents. In an ICS where nobody gave this category at all,
/// everything is merged into one, so the margin asks nothing beyond the
/// ICS total.
fn merge_sparse(d: &mut DimensionMargins, categories: &mut [Option<u32>], stratum: &[u32]) {
    let k = d.categories.len();
    for h in 0..d.population.len() {
        let mut count = vec![0usize; k];
        for (c, s) in categories.iter().zip(stratum) {
            if let (Some(c), true) = (c, *s as usize == h) {
                count[*c as usize] += 1;
            }
        }
        let pops = &mut d.population[h];
        if count.iter().all(|&n| n == 0) {
            let total: f64 = pops.iter().map(|p| p.unwrap_or(0.0)).sum();
            *pops = (0..k).map(|c| Some(if c == 0 { total } else { 0.0 })).collect();
            for (c, s) in categories.iter_mut().zip(stratum) {
                if *s as usize == h {
                    *c = Some(0);
                }
            }
            continue;
        }
        let mut into: Vec<usize> = (0..k).collect();
        loop {
            let live = count.iter().filter(|&&n| n > 0).count();
            let sparse = (0..k)
                .filter(|&c| {
                    (count[c] == 0 && pops[c].unwrap_or(0.0) > 0.0)
                        || (count[c] > 0 && count[c] < MIN_CATEGORY_RESPONDENTS && live > 1)
                })
                .min_by_key(|&c| count[c]);
            let Some(c) = sparse else { break };
            // The declared neighbour chain to a category with people, else
            // the category with the most people.
            let mut next = d.collapse_into[h][c].map(|x| x as usize);
            let mut steps = 0;
            while let Some(x) = next {
                if x != c && count[x] > 0 || steps > k {
                    break;
                }
                next = d.collapse_into[h][x].map(|y| y as usize);
                steps += 1;
            }
            let dest = next
                .filter(|&x| x != c && count[x] > 0)
                .unwrap_or_else(|| (0..k).filter(|&x| x != c).max_by_key(|&x| count[x]).unwrap_or(c));
            let moved = pops[c].unwrap_or(0.0);
            pops[dest] = Some(pops[dest].unwrap_or(0.0) + moved);
            pops[c] = Some(0.0);
            count[dest] += count[c];
            count[c] = 0;
            for x in into.iter_mut().filter(|x| **x == c) {
                *x = dest;
            }
        }
        for (c, s) in categories.iter_mut().zip(stratum) {
            if let (Some(c), true) = (c.as_mut(), *s as usize == h) {
                *c = into[*c as usize] as u32;
            }
        }
    }
}

/// The bundled ONS adult margins: age band and sex per ICS. An empty age
/// band hands its people to the next band down (85+ to 75-84 …).
fn ons_margins(population: &PopulationTable, strata: &[String]) -> Vec<DimensionMargins> {
    let bands: Vec<String> = ADULT_BANDS.iter().map(|s| s.to_string()).collect();
    let sexes = vec!["female".to_string(), "male".to_string()];
    let cell =
        |ics: &str, band: &str, sex: &str| population.counts.get(&(ics.into(), band.into(), sex.into())).copied();
    let age_margin: Vec<Vec<Option<f64>>> = strata
        .iter()
        .map(|h| bands.iter().map(|b| Some(cell(h, b, "female")? + cell(h, b, "male")?)).collect())
        .collect();
    let sex_margin = strata
        .iter()
        .map(|h| sexes.iter().map(|s| ADULT_BANDS.iter().map(|b| cell(h, b, s)).sum::<Option<f64>>()).collect())
        .collect();
    let age_collapse = collapse_rule("age_band", &vec![0.0; bands.len()]);
    vec![
        DimensionMargins {
            name: "age_band".into(),
            categories: bands,
            population: age_margin,
            collapse_into: vec![age_collapse; strata.len()],
        },
        DimensionMargins {
            name: "sex".into(),
            categories: sexes,
            population: sex_margin,
            collapse_into: vec![collapse_rule("sex", &[0.0, 0.0]); strata.len()],
        },
    ]
}

/// An uploaded set's margins for these ICSs, each scaled to the ICS total
/// of `first` (the first margin raked to; without one, the set's own first
/// dimension), since every margin of an ICS must add up to the same people.
fn uploaded_margins(set: &MarginSet, strata: &[String], first: Option<&DimensionMargins>) -> Vec<DimensionMargins> {
    let own_total = |h: &str| set.dimensions.first().and_then(|d| d.counts.get(h)).map(|v| v.iter().sum::<f64>());
    set.dimensions
        .iter()
        .map(|d| {
            let mut population = Vec::with_capacity(strata.len());
            let mut collapse_into = Vec::with_capacity(strata.len());
            for (k, h) in strata.iter().enumerate() {
                let total = match first {
                    Some(f) => f.population[k].iter().copied().sum::<Option<f64>>(),
                    None => own_total(h),
                };
                match (d.counts.get(h), total) {
                    (Some(counts), Some(total)) => {
                        let sum: f64 = counts.iter().sum();
                        population.push(counts.iter().map(|c| Some(c * total / sum)).collect());
                        collapse_into.push(collapse_rule(&d.name, counts));
                    }
                    _ => {
                        population.push(vec![None; d.categories.len()]);
                        collapse_into.push(vec![None; d.categories.len()]);
                    }
                }
            }
            DimensionMargins { name: d.name.clone(), categories: d.categories.clone(), population, collapse_into }
        })
        .collect()
}

/// A population that is not raked (carers without uploaded margins, and
/// children): base weights scaled within each ICS to the ICS's population
/// (`totals`; an ICS without a figure keeps its base weights), then trimmed
/// at `trim` × the ICS mean weight as R's `trimWeights(strict = TRUE)`
/// does (the total is kept, so no re-scaling is needed).
fn scaled(respondents: &Respondents, strata: &[String], totals: &[Option<f64>], trim: Option<f64>) -> Weighted {
    let mut weights = respondents.base_weight.clone();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); strata.len()];
    for (i, &h) in respondents.stratum.iter().enumerate() {
        members[h as usize].push(i);
    }
    let mut reports = Vec::with_capacity(strata.len());
    for (h, rows) in members.iter().enumerate() {
        let mut w: Vec<f64> = rows.iter().map(|&i| weights[i]).collect();
        let sum: f64 = w.iter().sum();
        if let Some(total) = totals[h].filter(|t| *t > 0.0 && sum > 0.0) {
            w.iter_mut().for_each(|x| *x *= total / sum);
        }
        let (mut capped, mut trimmed_share) = (0, 0.0);
        if let Some(k) = trim
            && w.len() > 1
        {
            let total: f64 = w.iter().sum();
            let cap = k * total / w.len() as f64;
            capped = w.iter().filter(|&&x| x > cap).count();
            trimmed_share = w.iter().filter(|&&x| x > cap).map(|x| x - cap).sum::<f64>() / total;
            weighting::trim_to_cap(&mut w, cap);
        }
        for (&i, &x) in rows.iter().zip(&w) {
            weights[i] = x;
        }
        let sum: f64 = w.iter().sum();
        let sum2: f64 = w.iter().map(|x| x * x).sum();
        reports.push(weighting::StratumReport {
            ics: strata[h].clone(),
            respondents: w.len(),
            status: if capped > 0 { weighting::StratumStatus::Trimmed } else { weighting::StratumStatus::Raked },
            cycles: 0,
            trim_iterations: usize::from(capped > 0),
            max_margin_error: 0.0,
            min_weight: w.iter().copied().fold(f64::INFINITY, f64::min),
            max_weight: w.iter().copied().fold(0.0, f64::max),
            n_eff: sum * sum / sum2,
            design_effect: w.len() as f64 * sum2 / (sum * sum),
            targets: Vec::new(),
            capped,
            trimmed_share,
        });
    }
    Weighted { weights, strata: reports, cells: weighting::RakingCells::default() }
}

/// The pooled sample of one group: both samples weighted on their own (each
/// adding up to the ICS population), then combined within each ICS with
/// shares proportional to their Kish effective sizes, λ = n_eff,inv /
/// (n_eff,inv + n_eff,open) (a composite estimator, as dual-frame surveys
/// combine two samples of one population). An ICS in one sample only keeps
/// that sample's weights. The result is a fixed-weight design: its raking
/// cells differ between the samples, so its standard errors leave out the
/// raking residuals and are a little conservative.
pub fn composite(invitation: &Weighed, open_link: &Weighed) -> Weighed {
    let mut strata: Vec<String> = invitation.strata.iter().chain(&open_link.strata).cloned().collect();
    strata.sort();
    strata.dedup();
    let kish = |w: &Weighed, code: &str| -> f64 {
        let Some(h) = w.strata.iter().position(|s| s == code) else { return 0.0 };
        let (mut s1, mut s2) = (0.0, 0.0);
        for (&stratum, &x) in w.respondents.stratum.iter().zip(&w.weighted.weights) {
            if stratum as usize == h {
                s1 += x;
                s2 += x * x;
            }
        }
        if s2 > 0.0 { s1 * s1 / s2 } else { 0.0 }
    };
    let (mut rows, mut stratum, mut weights, mut base) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut reports = Vec::with_capacity(strata.len());
    for (h, code) in strata.iter().enumerate() {
        let (a, b) = (kish(invitation, code), kish(open_link, code));
        let share_invitation = if a + b > 0.0 { a / (a + b) } else { 0.0 };
        let mut ws = Vec::new();
        for (sample, share) in [(invitation, share_invitation), (open_link, 1.0 - share_invitation)] {
            let Some(k) = sample.strata.iter().position(|s| s == code) else { continue };
            for (r, &s) in sample.respondents.stratum.iter().enumerate() {
                if s as usize == k {
                    rows.push(sample.rows[r]);
                    stratum.push(h as u32);
                    weights.push(share * sample.weighted.weights[r]);
                    base.push(sample.respondents.base_weight[r]);
                    ws.push(share * sample.weighted.weights[r]);
                }
            }
        }
        let (s1, s2) = (ws.iter().sum::<f64>(), ws.iter().map(|x| x * x).sum::<f64>());
        reports.push(weighting::StratumReport {
            ics: code.clone(),
            respondents: ws.len(),
            status: weighting::StratumStatus::Raked,
            cycles: 0,
            trim_iterations: 0,
            max_margin_error: 0.0,
            min_weight: ws.iter().copied().fold(f64::INFINITY, f64::min),
            max_weight: ws.iter().copied().fold(0.0, f64::max),
            n_eff: s1 * s1 / s2,
            design_effect: ws.len() as f64 * s2 / (s1 * s1),
            targets: Vec::new(),
            capped: 0,
            trimmed_share: 0.0,
        });
    }
    let mut margins_not_met: Vec<String> =
        invitation.margins_not_met.iter().chain(&open_link.margins_not_met).cloned().collect();
    margins_not_met.sort();
    margins_not_met.dedup();
    let trimmed = TrimSummary {
        capped: invitation.trimmed.capped + open_link.trimmed.capped,
        trimmed_share: 0.0,
        limit_reached: invitation.trimmed.limit_reached + open_link.trimmed.limit_reached,
    };
    Weighed {
        group: invitation.group,
        rows,
        respondents: Respondents { stratum, base_weight: base, categories: Vec::new() },
        strata,
        weighted: Weighted { weights, strata: reports, cells: weighting::RakingCells::default() },
        raked: false,
        margins_not_met,
        trimmed,
    }
}

impl Weighed {
    /// The design for estimates: raked designs carry their cells.
    pub fn design(&self) -> weighting::Design<'_> {
        if self.raked {
            self.weighted.design(&self.respondents)
        } else {
            weighting::Design::new(&self.respondents.stratum, &self.weighted.weights, self.strata.len(), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::margins::DimensionCounts;

    const ICS: &str = "E54000008";
    const UNTRIMMED: WeighOptions = WeighOptions { min_respondents: 10, trim: None };
    const ETHNICITY: [&str; 5] = ["asian", "black", "mixed", "white", "other"];

    fn rows() -> Vec<Row> {
        // 600 people: every band and sex, skewed to white and older ages,
        // a few with no ethnicity given.
        (0..600)
            .map(|i| Row {
                version: 1,
                channel: "open_link".into(),
                mode: Some("online".into()),
                voice: Some("patient".into()),
                ics: Some(ICS.into()),
                age_band: Some(ADULT_BANDS[(i * 7 / 3) % 6].into()),
                sex: Some(if i % 3 == 0 { "male" } else { "female" }.into()),
                ethnicity: if i % 50 == 0 { None } else { Some(ETHNICITY[[3, 3, 3, 0, 1, 2, 4, 3][i % 8]].into()) },
                long_term_condition: None,
                imd_quintile: None,
                base_weight: 1.0,
                index: Some(50.0),
                domains: Vec::new(),
                choices: Vec::new(),
            })
            .collect()
    }

    fn population(uploaded: bool) -> PopulationTable {
        let mut counts = BTreeMap::new();
        for (k, band) in ADULT_BANDS.iter().enumerate() {
            counts.insert((ICS.into(), band.to_string(), "female".into()), 10_000.0 + 500.0 * k as f64);
            counts.insert((ICS.into(), band.to_string(), "male".into()), 9_500.0 + 400.0 * k as f64);
        }
        let mut sets = BTreeMap::new();
        if uploaded {
            sets.insert(
                Group::People,
                MarginSet {
                    group: Group::People,
                    dimensions: vec![DimensionCounts {
                        name: "ethnicity".into(),
                        categories: ETHNICITY.iter().map(|s| s.to_string()).collect(),
                        // Percentages: scaled to the ICS's adult population.
                        counts: [(ICS.to_string(), vec![12.0, 6.0, 3.0, 75.0, 4.0])].into_iter().collect(),
                    }],
                },
            );
        }
        PopulationTable { counts, source: "test".into(), uploaded: sets }
    }

    fn weighted_share(rows: &[Row], w: &Weighed, pick: impl Fn(&Row) -> bool) -> f64 {
        let total: f64 = w.weighted.weights.iter().sum();
        w.rows.iter().zip(&w.weighted.weights).filter(|(i, _)| pick(&rows[**i])).map(|(_, x)| x).sum::<f64>() / total
    }

    #[test]
    fn uploaded_ethnicity_margins_are_met_beside_age_and_sex() {
        let rows = rows();
        let population = population(true);
        let people = weigh(&Frame::from_rows(&rows, 0, 0), &population, &UNTRIMMED, &|_| true).unwrap().remove(0);
        assert!(people.raked);
        let total: f64 = people.weighted.weights.iter().sum();
        let adults: f64 = population.counts.values().sum();
        assert!((total - adults).abs() < 1e-6 * adults, "weights add up to the ICS adult population");
        // Age band and sex still match the ONS figures.
        let female: f64 =
            ADULT_BANDS.iter().map(|b| population.counts[&(ICS.into(), b.to_string(), "female".into())]).sum();
        let got = weighted_share(&rows, &people, |r| r.sex.as_deref() == Some("female"));
        assert!((got - female / adults).abs() < 1e-9, "{got} vs {}", female / adults);
        // Those who gave an ethnicity are spread in the uploaded shares; the
        // 2% who did not keep their own base-weighted share.
        let missing = weighted_share(&rows, &people, |r| r.ethnicity.is_none());
        assert!((missing - 12.0 / 600.0).abs() < 1e-9, "{missing}");
        for (k, share) in [0.12, 0.06, 0.03, 0.75, 0.04].iter().enumerate() {
            let got = weighted_share(&rows, &people, |r| r.ethnicity.as_deref() == Some(ETHNICITY[k]));
            assert!((got - share * (1.0 - missing)).abs() < 1e-9, "{}: {got}", ETHNICITY[k]);
        }
    }

    #[test]
    fn a_sparse_category_is_merged_into_its_neighbour() {
        let mut rows = rows();
        // Only three people say `other`: too few to carry 4% of the ICS.
        for (k, r) in rows.iter_mut().filter(|r| r.ethnicity.as_deref() == Some("other")).enumerate() {
            if k >= 3 {
                r.ethnicity = Some("white".into());
            }
        }
        let people = weigh(&Frame::from_rows(&rows, 0, 0), &population(true), &UNTRIMMED, &|_| true).unwrap().remove(0);
        let missing = weighted_share(&rows, &people, |r| r.ethnicity.is_none());
        let white_or_other =
            weighted_share(&rows, &people, |r| matches!(r.ethnicity.as_deref(), Some("white" | "other")));
        assert!((white_or_other - 0.79 * (1.0 - missing)).abs() < 1e-9, "{white_or_other}");
        assert!(people.margins_not_met.is_empty());
    }

    #[test]
    fn without_uploads_ethnicity_is_left_as_it_came() {
        let rows = rows();
        let people =
            weigh(&Frame::from_rows(&rows, 0, 0), &population(false), &UNTRIMMED, &|_| true).unwrap().remove(0);
        let white = weighted_share(&rows, &people, |r| r.ethnicity.as_deref() == Some("white"));
        // Half the sample is white (less the 2% who did not say), far from
        // the 75% the upload would ask for; age and sex raking keeps it so.
        assert!((white - 0.49).abs() < 0.03, "{white}");
    }

    #[test]
    fn carers_are_raked_only_when_margins_are_uploaded() {
        let mut rows = rows();
        for r in &mut rows {
            r.voice = Some("carer_self".into());
        }
        let base = weigh(&Frame::from_rows(&rows, 0, 0), &population(false), &UNTRIMMED, &|_| true).unwrap().remove(0);
        assert_eq!((base.group, base.raked), (Group::Carers, false));
        // Base weights (all 1) scaled to the ICS's adult population, which
        // stands in for its carers: England then weighs ICSs by population.
        let adults: f64 = population(false).counts.values().sum();
        assert!(base.weighted.weights.iter().all(|w| (*w - adults / 600.0).abs() < 1e-9));
        let mut population = population(false);
        let mut set = self::population(true).uploaded.remove(&Group::People).unwrap();
        set.group = Group::Carers;
        population.uploaded.insert(Group::Carers, set);
        let carers = weigh(&Frame::from_rows(&rows, 0, 0), &population, &UNTRIMMED, &|_| true).unwrap().remove(0);
        assert!(carers.raked);
        let total: f64 = carers.weighted.weights.iter().sum();
        assert!((total - 100.0).abs() < 1e-9, "the uploaded margins' own total: {total}");
        let white = weighted_share(&rows, &carers, |r| r.ethnicity.as_deref() == Some("white"));
        assert!((white - 0.75 * (1.0 - 12.0 / 600.0)).abs() < 1e-9, "{white}");
    }

    #[test]
    fn children_are_scaled_to_the_icss_children_and_trimmed() {
        let mut rows = rows();
        for (k, r) in rows.iter_mut().enumerate() {
            r.voice = Some("carer_on_behalf".into());
            r.age_band = Some("0-17".into());
            r.base_weight = if k == 0 { 400.0 } else { 1.0 };
        }
        let mut population = population(false);
        population.counts.insert((ICS.into(), "0-17".into(), "female".into()), 3000.0);
        population.counts.insert((ICS.into(), "0-17".into(), "male".into()), 3300.0);
        let trim = WeighOptions { min_respondents: 10, trim: Some(5.0) };
        let children = weigh(&Frame::from_rows(&rows, 0, 0), &population, &trim, &|_| true).unwrap().remove(0);
        assert_eq!(children.group, Group::Children);
        let total: f64 = children.weighted.weights.iter().sum();
        assert!((total - 6300.0).abs() < 1e-6, "the ICS's 0-17 population: {total}");
        let cap = 5.0 * 6300.0 / 600.0;
        assert!(children.weighted.weights.iter().all(|w| *w <= cap * (1.0 + 1e-12)), "capped at 5 × the mean");
        assert_eq!(children.trimmed.capped, 1);
        assert!(children.trimmed.trimmed_share > 0.3, "{:?}", children.trimmed);
    }

    #[test]
    fn a_pooled_sample_keeps_the_population_and_leans_on_the_bigger_sample() {
        let rows: Vec<Row> = rows()
            .into_iter()
            .enumerate()
            .map(|(k, r)| Row { channel: if k % 4 == 0 { "open_link" } else { "invitation" }.into(), ..r })
            .collect();
        let frame = Frame::from_rows(&rows, 0, 0);
        let population = population(false);
        let channel = &frame.channel;
        let invited =
            weigh(&frame, &population, &UNTRIMMED, &|i| channel.get(i) == Some("invitation")).unwrap().remove(0);
        let open = weigh(&frame, &population, &UNTRIMMED, &|i| channel.get(i) == Some("open_link")).unwrap().remove(0);
        let pooled = composite(&invited, &open);
        let adults: f64 = population.counts.values().sum();
        let total: f64 = pooled.weighted.weights.iter().sum();
        assert!((total - adults).abs() < 1e-6 * adults, "{total} vs {adults}");
        assert_eq!(pooled.rows.len(), 600);
        let invited_share: f64 = pooled
            .rows
            .iter()
            .zip(&pooled.weighted.weights)
            .filter(|(i, _)| frame.channel.get(**i) == Some("invitation"))
            .map(|(_, w)| w)
            .sum::<f64>()
            / total;
        assert!((0.7..0.8).contains(&invited_share), "three quarters of the effective size: {invited_share}");
    }
}

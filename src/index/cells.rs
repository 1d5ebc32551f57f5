//! Estimates for every cell: the index and each domain, for England, each
//! ICS, each ICS × group category and England × group category; and the
//! question-level percentages.

use std::collections::BTreeMap;

use super::frame::{DIMENSIONS, Group, Row, Weighed, category_field};
use super::record::QuestionItem;
use crate::weighting::{Design, Estimate};

/// Where a cell is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub group: Group,
    /// `index`, a domain id, or `question_id=option_code` / `question_id=positive`.
    pub measure: String,
    /// `England` or an ICS code.
    pub area: String,
    /// `all` or a dimension.
    pub dimension: String,
    /// `all` or a category of the dimension.
    pub category: String,
}

/// One estimate before disclosure control.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub key: CellKey,
    pub estimate: Estimate,
    /// Percentages from question counts carry no standard error.
    pub has_se: bool,
}

pub const ENGLAND: &str = "England";
pub const ALL: &str = "all";

/// A grouping of one population's rows: each row's group index and the
/// (area, dimension, category) each index stands for.
pub struct Grouping {
    group: Vec<Option<u32>>,
    labels: Vec<(String, String, String)>,
}

/// Every grouping of one population: England, the ICSs, and England and
/// each ICS by each dimension's categories. Built once and shared by the
/// score and question cells.
pub fn groupings(rows: &[Row], w: &Weighed) -> Vec<Grouping> {
    let mut out = Vec::new();
    // England, and each ICS.
    out.push(Grouping { group: vec![Some(0); w.rows.len()], labels: vec![(ENGLAND.into(), ALL.into(), ALL.into())] });
    out.push(Grouping {
        group: w.respondents.stratum.iter().map(|h| Some(*h)).collect(),
        labels: w.strata.iter().map(|s| (s.clone(), ALL.into(), ALL.into())).collect(),
    });
    for dimension in DIMENSIONS {
        let Some(field) = category_field(dimension) else { continue };
        let values: Vec<Option<&str>> = w.rows.iter().map(|&i| field(&rows[i])).collect();
        let mut categories: Vec<&str> = values.iter().flatten().copied().collect();
        categories.sort_unstable();
        categories.dedup();
        if categories.is_empty() {
            continue;
        }
        // A handful of categories: a linear search beats a map.
        let codes: Vec<Option<u32>> =
            values.iter().map(|v| v.and_then(|v| categories.iter().position(|c| *c == v)).map(|c| c as u32)).collect();
        let k = categories.len() as u32;
        out.push(Grouping {
            group: codes.clone(),
            labels: categories.iter().map(|c| (ENGLAND.into(), dimension.into(), c.to_string())).collect(),
        });
        out.push(Grouping {
            group: codes.iter().zip(&w.respondents.stratum).map(|(c, h)| c.map(|c| h * k + c)).collect(),
            labels: (0..w.strata.len())
                .flat_map(|h| categories.iter().map(move |c| (h, *c)))
                .map(|(h, c)| (w.strata[h].clone(), dimension.into(), c.to_string()))
                .collect(),
        });
    }
    out
}

/// Who answered which score measures in a cell: respondents per pattern of
/// answered measures (bit m set = measure m has a value), so disclosure
/// control can see when two measures differ by a handful of people.
pub type Patterns = BTreeMap<(Group, String, String, String), BTreeMap<u32, usize>>;

/// Index and domain estimates for every cell of one population, with the
/// answered-measure patterns of each cell. The estimates of each grouping
/// and measure are independent passes, run in parallel.
pub fn score_cells(
    rows: &[Row],
    w: &Weighed,
    groupings: &[Grouping],
    domain_ids: &[String],
    patterns: &mut Patterns,
) -> Vec<Cell> {
    use rayon::prelude::*;
    let design: Design<'_> = w.design();
    // Every measure's column in one pass over the rows (a pass per measure
    // would fetch each row's scores again).
    let mut measures: Vec<(String, Vec<Option<f64>>)> = std::iter::once("index".to_string())
        .chain(domain_ids.iter().cloned())
        .map(|id| (id, Vec::with_capacity(w.rows.len())))
        .collect();
    for &i in &w.rows {
        let row = &rows[i];
        measures[0].1.push(row.index);
        for (d, (_, column)) in measures.iter_mut().skip(1).enumerate() {
            column.push(row.domains.get(d).copied().flatten());
        }
    }
    let masks: Vec<u32> = (0..w.rows.len())
        .map(|r| measures.iter().enumerate().fold(0u32, |m, (k, (_, v))| if v[r].is_some() { m | 1 << k } else { m }))
        .collect();
    for grouping in groupings {
        let mut by_group: Vec<BTreeMap<u32, usize>> = vec![BTreeMap::new(); grouping.labels.len()];
        for (g, mask) in grouping.group.iter().zip(&masks) {
            if let Some(g) = g {
                *by_group[*g as usize].entry(*mask).or_default() += 1;
            }
        }
        for (counts, (area, dimension, category)) in by_group.into_iter().zip(&grouping.labels) {
            if !counts.is_empty() {
                patterns.insert((w.group, area.clone(), dimension.clone(), category.clone()), counts);
            }
        }
    }
    let ys: Vec<Vec<f64>> = measures.iter().map(|(_, v)| v.iter().map(|v| v.unwrap_or(0.0)).collect()).collect();
    let jobs: Vec<(usize, usize)> =
        (0..groupings.len()).flat_map(|g| (0..measures.len()).map(move |m| (g, m))).collect();
    let estimates: Vec<Vec<Estimate>> = jobs
        .par_iter()
        .map(|&(g, m)| {
            let grouping = &groupings[g];
            let group: Vec<Option<u32>> = grouping.group.iter().zip(&measures[m].1).map(|(g, v)| v.and(*g)).collect();
            design.means_by(&ys[m], &group, grouping.labels.len())
        })
        .collect();
    let mut cells = Vec::new();
    for (&(g, m), estimates) in jobs.iter().zip(estimates) {
        for (e, (area, dimension, category)) in estimates.into_iter().zip(&groupings[g].labels) {
            if e.n == 0 {
                continue;
            }
            let key = CellKey {
                group: w.group,
                measure: measures[m].0.clone(),
                area: area.clone(),
                dimension: dimension.clone(),
                category: category.clone(),
            };
            cells.push(Cell { key, estimate: e, has_se: true });
        }
    }
    cells
}

/// Question-level percentages (weighted % choosing each option, and %
/// positive) for England, each ICS, and England by each group category.
/// Point estimates only. (ICS × group by question would be thousands of
/// cells too small to publish.)
pub fn question_cells(rows: &[Row], w: &Weighed, groupings: &[Grouping], items: &[QuestionItem]) -> Vec<Cell> {
    // Each item's answers as one column, read once: the passes below then
    // run over flat arrays.
    let mut columns: Vec<Vec<u64>> = vec![Vec::with_capacity(w.rows.len()); items.len()];
    for &i in &w.rows {
        let choices = &rows[i].choices;
        for (q, column) in columns.iter_mut().enumerate() {
            column.push(choices.get(q).copied().unwrap_or(0));
        }
    }
    let mut cells = Vec::new();
    for grouping in groupings {
        if grouping.labels.first().is_some_and(|(area, dimension, _)| area != ENGLAND && dimension != ALL) {
            continue;
        }
        let n_groups = grouping.labels.len();
        for (q, item) in items.iter().enumerate() {
            let k = item.options.len();
            let valid: u64 = if k >= 64 { u64::MAX } else { (1u64 << k) - 1 };
            let positive: u64 =
                if item.multiple { 0 } else { (0..k.min(64)).filter(|&o| item.positive(o)).fold(0, |m, o| m | 1 << o) };
            // Per group: respondents and weight answering, and weight per option.
            let mut answered = vec![(0usize, 0.0f64, 0.0f64); n_groups];
            let mut chosen = vec![0.0f64; n_groups * (k + 1)];
            for ((g, &picks), &weight) in grouping.group.iter().zip(&columns[q]).zip(&w.weighted.weights) {
                let Some(g) = g else { continue };
                if picks == 0 {
                    continue;
                }
                let g = *g as usize;
                let a = &mut answered[g];
                a.0 += 1;
                a.1 += weight;
                a.2 += weight * weight;
                let mut bits = picks & valid;
                while bits != 0 {
                    let o = bits.trailing_zeros() as usize;
                    chosen[g * (k + 1) + o] += weight;
                    bits &= bits - 1;
                }
                if picks & positive != 0 {
                    chosen[g * (k + 1) + k] += weight;
                }
            }
            for (g, (area, dimension, category)) in grouping.labels.iter().enumerate() {
                let (n, sum_w, sum_w2) = answered[g];
                if n == 0 {
                    continue;
                }
                let outcomes = item
                    .options
                    .iter()
                    .enumerate()
                    .map(|(o, (code, _, _))| (format!("{}={code}", item.id), o))
                    .chain(item.is_scored().then(|| (format!("{}=positive", item.id), k)));
                for (measure, o) in outcomes {
                    let estimate = Estimate {
                        n,
                        sum_w,
                        estimate: 100.0 * chosen[g * (k + 1) + o] / sum_w,
                        se: f64::NAN,
                        n_eff: sum_w * sum_w / sum_w2,
                        deff_w: n as f64 * sum_w2 / (sum_w * sum_w),
                        deff: f64::NAN,
                        strata: 0,
                    };
                    let key = CellKey {
                        group: w.group,
                        measure,
                        area: area.clone(),
                        dimension: dimension.clone(),
                        category: category.clone(),
                    };
                    cells.push(Cell { key, estimate, has_se: false });
                }
            }
        }
    }
    cells
}

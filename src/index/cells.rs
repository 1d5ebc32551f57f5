//! Estimates for every cell: the index and each domain, for England, each
//! ICS, each ICS × group category and England × group category; and the
//! question-level percentages.

use std::collections::BTreeMap;

use super::frame::{DIMENSIONS, Group, Row, Weighed};
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
struct Grouping {
    group: Vec<Option<u32>>,
    labels: Vec<(String, String, String)>,
}

fn groupings(rows: &[Row], w: &Weighed) -> Vec<Grouping> {
    let mut out = Vec::new();
    // England, and each ICS.
    out.push(Grouping { group: vec![Some(0); w.rows.len()], labels: vec![(ENGLAND.into(), ALL.into(), ALL.into())] });
    out.push(Grouping {
        group: w.respondents.stratum.iter().map(|h| Some(*h)).collect(),
        labels: w.strata.iter().map(|s| (s.clone(), ALL.into(), ALL.into())).collect(),
    });
    for dimension in DIMENSIONS {
        let mut categories: Vec<String> = w.rows.iter().filter_map(|&i| rows[i].category(dimension)).collect();
        categories.sort();
        categories.dedup();
        if categories.is_empty() {
            continue;
        }
        let index: BTreeMap<&str, u32> = categories.iter().enumerate().map(|(k, c)| (c.as_str(), k as u32)).collect();
        let of = |k: usize| rows[w.rows[k]].category(dimension).map(|c| index[c.as_str()]);
        let k = categories.len() as u32;
        out.push(Grouping {
            group: (0..w.rows.len()).map(of).collect(),
            labels: categories.iter().map(|c| (ENGLAND.into(), dimension.into(), c.clone())).collect(),
        });
        out.push(Grouping {
            group: (0..w.rows.len()).map(|r| of(r).map(|c| w.respondents.stratum[r] * k + c)).collect(),
            labels: (0..w.strata.len())
                .flat_map(|h| categories.iter().map(move |c| (h, c.clone())))
                .map(|(h, c)| (w.strata[h].clone(), dimension.into(), c))
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
/// answered-measure patterns of each cell.
pub fn score_cells(rows: &[Row], w: &Weighed, domain_ids: &[String], patterns: &mut Patterns) -> Vec<Cell> {
    let design: Design<'_> = w.design();
    let mut measures: Vec<(String, Vec<Option<f64>>)> =
        vec![("index".into(), w.rows.iter().map(|&i| rows[i].index).collect())];
    for (d, id) in domain_ids.iter().enumerate() {
        measures.push((id.clone(), w.rows.iter().map(|&i| rows[i].domains.get(d).copied().flatten()).collect()));
    }
    let mut cells = Vec::new();
    for grouping in groupings(rows, w) {
        for (r, g) in grouping.group.iter().enumerate() {
            let Some(g) = g else { continue };
            let mask =
                measures.iter().enumerate().fold(0u32, |m, (k, (_, v))| if v[r].is_some() { m | 1 << k } else { m });
            let (area, dimension, category) = grouping.labels[*g as usize].clone();
            *patterns.entry((w.group, area, dimension, category)).or_default().entry(mask).or_default() += 1;
        }
        for (measure, values) in &measures {
            let y: Vec<f64> = values.iter().map(|v| v.unwrap_or(0.0)).collect();
            let group: Vec<Option<u32>> = grouping.group.iter().zip(values).map(|(g, v)| v.and(*g)).collect();
            let estimates = design.means_by(&y, &group, grouping.labels.len());
            for (e, (area, dimension, category)) in estimates.into_iter().zip(&grouping.labels) {
                if e.n == 0 {
                    continue;
                }
                let key = CellKey {
                    group: w.group,
                    measure: measure.clone(),
                    area: area.clone(),
                    dimension: dimension.clone(),
                    category: category.clone(),
                };
                cells.push(Cell { key, estimate: e, has_se: true });
            }
        }
    }
    cells
}

/// Question-level percentages (weighted % choosing each option, and %
/// positive) for England, each ICS, and England by each group category.
/// Point estimates only. (ICS × group by question would be thousands of
/// cells too small to publish.)
pub fn question_cells(rows: &[Row], w: &Weighed, items: &[QuestionItem]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for grouping in groupings(rows, w) {
        if grouping.labels.first().is_some_and(|(area, dimension, _)| area != ENGLAND && dimension != ALL) {
            continue;
        }
        let n_groups = grouping.labels.len();
        for (q, item) in items.iter().enumerate() {
            let k = item.options.len();
            // Per group: respondents and weight answering, and weight per option.
            let mut answered = vec![(0usize, 0.0f64, 0.0f64); n_groups];
            let mut chosen = vec![0.0f64; n_groups * (k + 1)];
            for (r, g) in grouping.group.iter().enumerate() {
                let Some(g) = g else { continue };
                let picks = &rows[w.rows[r]].choices[q];
                if picks.is_empty() {
                    continue;
                }
                let weight = w.weighted.weights[r];
                let a = &mut answered[*g as usize];
                a.0 += 1;
                a.1 += weight;
                a.2 += weight * weight;
                for &o in picks {
                    if (o as usize) < k {
                        chosen[*g as usize * (k + 1) + o as usize] += weight;
                    }
                }
                if !item.multiple && picks.iter().any(|&o| (o as usize) < k && item.positive(o as usize)) {
                    chosen[*g as usize * (k + 1) + k] += weight;
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

//! The results of one survey in columns, ready for weighting and cells:
//! who is counted where, and the weights each population gets.
//!
//! * **People's index**: `patient` and `carer_on_behalf` about adults,
//!   raked within each ICS to the ICS adult population by age band and sex.
//! * **Carers' index**: `carer_self`, base weights.
//! * **Children**: `carer_on_behalf` about under-18s, base weights.

use std::collections::BTreeMap;

use crate::weighting::{self, DimensionMargins, Population, Respondents, Weighted, WeightingError, WeightingSpec};

/// One submitted response, as the index reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub version: i64,
    pub channel: String,
    pub voice: Option<String>,
    pub ics: Option<String>,
    pub age_band: Option<String>,
    pub sex: Option<String>,
    pub ethnicity: Option<String>,
    pub long_term_condition: Option<String>,
    pub imd_quintile: Option<i32>,
    pub base_weight: f64,
    pub index: Option<f64>,
    pub domains: Vec<Option<f64>>,
    pub choices: Vec<Vec<u16>>,
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

    pub fn of(row: &Row) -> Option<Group> {
        match (row.voice.as_deref(), row.age_band.as_deref()) {
            (Some("carer_self"), _) => Some(Group::Carers),
            (Some("carer_on_behalf"), Some("0-17")) => Some(Group::Children),
            (Some("patient" | "carer_on_behalf"), _) => Some(Group::People),
            _ => None,
        }
    }
}

/// The grouping dimensions of every output, in output order.
pub const DIMENSIONS: [&str; 6] = ["age_band", "sex", "ethnicity", "imd_quintile", "long_term_condition", "voice"];

impl Row {
    pub fn category(&self, dimension: &str) -> Option<String> {
        match dimension {
            "age_band" => self.age_band.clone(),
            "sex" => self.sex.clone(),
            "ethnicity" => self.ethnicity.clone(),
            "imd_quintile" => self.imd_quintile.map(|q| q.to_string()),
            "long_term_condition" => self.long_term_condition.clone(),
            "voice" => self.voice.clone(),
            _ => None,
        }
    }
}

/// Adult population counts per ICS, age band and sex.
#[derive(Debug, Clone, Default)]
pub struct PopulationTable {
    /// (ICS code, age band, sex) → people.
    pub counts: BTreeMap<(String, String, String), f64>,
    /// Where the figures come from, for provenance.
    pub source: String,
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
}

/// Splits the rows into the three populations and weights each: the
/// people's rows raked to age band × sex margins, the others base-weighted.
/// Rows without an ICS cannot be placed and are left out (and counted).
pub fn weigh(
    rows: &[Row],
    population: &PopulationTable,
    min_respondents: usize,
) -> Result<Vec<Weighed>, WeightingError> {
    let mut out = Vec::new();
    for group in Group::ALL {
        let members: Vec<usize> =
            (0..rows.len()).filter(|&i| Group::of(&rows[i]) == Some(group) && rows[i].ics.is_some()).collect();
        if members.is_empty() {
            continue;
        }
        let mut strata: Vec<String> = members.iter().filter_map(|&i| rows[i].ics.clone()).collect();
        strata.sort();
        strata.dedup();
        let stratum_of: BTreeMap<&str, u32> = strata.iter().enumerate().map(|(k, s)| (s.as_str(), k as u32)).collect();
        let stratum: Vec<u32> =
            members.iter().map(|&i| stratum_of[rows[i].ics.as_deref().unwrap_or_default()]).collect();
        let base: Vec<f64> = members.iter().map(|&i| rows[i].base_weight).collect();
        let raked = group == Group::People;
        let (respondents, margins) = if raked {
            let bands: Vec<String> = ADULT_BANDS.iter().map(|s| s.to_string()).collect();
            let sexes = vec!["female".to_string(), "male".to_string()];
            let category = |value: &Option<String>, list: &[String]| {
                value.as_ref().and_then(|v| list.iter().position(|x| x == v)).map(|p| p as u32)
            };
            let respondents = Respondents {
                stratum: stratum.clone(),
                base_weight: base.clone(),
                categories: vec![
                    members.iter().map(|&i| category(&rows[i].age_band, &bands)).collect(),
                    members.iter().map(|&i| category(&rows[i].sex, &sexes)).collect(),
                ],
            };
            let cell = |ics: &str, band: &str, sex: &str| {
                population.counts.get(&(ics.into(), band.into(), sex.into())).copied()
            };
            let age_margin = strata
                .iter()
                .map(|h| bands.iter().map(|b| Some(cell(h, b, "female")? + cell(h, b, "male")?)).collect())
                .collect();
            let sex_margin = strata
                .iter()
                .map(|h| sexes.iter().map(|s| ADULT_BANDS.iter().map(|b| cell(h, b, s)).sum::<Option<f64>>()).collect())
                .collect();
            // An empty age band hands its people to the next band down (85+ to 75-84 …).
            let collapse = |k: usize| {
                (0..k).map(|c| if c == 0 { Some(1) } else { Some(c as u32 - 1) }).collect::<Vec<Option<u32>>>()
            };
            let margins = Population {
                strata: strata.clone(),
                dimensions: vec![
                    DimensionMargins {
                        name: "age_band".into(),
                        categories: bands.clone(),
                        population: age_margin,
                        collapse_into: vec![collapse(bands.len()); strata.len()],
                    },
                    DimensionMargins {
                        name: "sex".into(),
                        categories: sexes.clone(),
                        population: sex_margin,
                        collapse_into: vec![vec![Some(1), Some(0)]; strata.len()],
                    },
                ],
            };
            (respondents, margins)
        } else {
            // Base weights only: one margin holding each ICS's own total, so
            // the engine returns the base weights unchanged.
            let respondents = Respondents { stratum: stratum.clone(), base_weight: base.clone(), categories: vec![] };
            (respondents, Population { strata: strata.clone(), dimensions: vec![] })
        };
        let weighted = if raked {
            weighting::weight(&respondents, &margins, &WeightingSpec { min_respondents, ..WeightingSpec::default() })?
        } else {
            base_weighted(&respondents, strata.len())
        };
        out.push(Weighed { group, rows: members, respondents, strata, weighted, raked });
    }
    Ok(out)
}

fn base_weighted(respondents: &Respondents, n_strata: usize) -> Weighted {
    let mut reports = Vec::with_capacity(n_strata);
    for h in 0..n_strata {
        let w: Vec<f64> = respondents
            .stratum
            .iter()
            .zip(&respondents.base_weight)
            .filter(|(s, _)| **s as usize == h)
            .map(|(_, w)| *w)
            .collect();
        let sum: f64 = w.iter().sum();
        let sum2: f64 = w.iter().map(|x| x * x).sum();
        reports.push(weighting::StratumReport {
            ics: String::new(),
            respondents: w.len(),
            status: weighting::StratumStatus::Raked,
            cycles: 0,
            trim_iterations: 0,
            max_margin_error: 0.0,
            min_weight: w.iter().copied().fold(f64::INFINITY, f64::min),
            max_weight: w.iter().copied().fold(0.0, f64::max),
            n_eff: sum * sum / sum2,
            design_effect: w.len() as f64 * sum2 / (sum * sum),
            targets: Vec::new(),
        });
    }
    Weighted { weights: respondents.base_weight.clone(), strata: reports, cells: weighting::RakingCells::default() }
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

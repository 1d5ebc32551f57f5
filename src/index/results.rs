//! From result rows to published cells: weights, estimates, comparisons and
//! disclosure control, in one pure function every output format shares.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cells::{self, ALL, Cell, ENGLAND, Patterns};
use super::columns::Frame;
use super::compare::{self, Funnel, IcsProfile, VsEngland, VsPeers};
use super::disclosure::{self, Suppression};
use super::frame::{self, Group, PopulationTable};
use super::record::QuestionItem;
use crate::definitions::SurveyDefinition;
use crate::weighting::{WeightingError, Z95};

/// Everything one results run needs.
pub struct Inputs<'a> {
    pub definition: &'a SurveyDefinition,
    pub frame: &'a Frame,
    pub population: &'a PopulationTable,
    pub profiles: &'a [IcsProfile],
    pub ics_names: &'a BTreeMap<String, String>,
    pub threshold: usize,
    pub min_respondents: usize,
}

/// One published cell. Hidden cells keep their place and their rounded
/// count, with every figure left empty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Published {
    pub group: &'static str,
    pub measure: String,
    pub measure_label: String,
    pub area: String,
    pub area_name: String,
    pub dimension: String,
    pub category: String,
    pub n: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum_w: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_eff: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub se: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_england: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_england_se: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_england_significant: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_mean: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_peers: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_peers_significant: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funnel: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standardised: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standardised_se: Option<f64>,
    /// Exact respondents, never written out: used by charts' ordering and tests.
    #[serde(skip)]
    pub n_exact: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightingSummary {
    pub group: &'static str,
    pub raked: bool,
    pub respondents: usize,
    pub icss: usize,
    pub icss_scaled_not_raked: usize,
    pub max_margin_error: f64,
    /// ICSs whose margins could not be met: only scaled to their total.
    pub margins_not_met: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    pub cells: Vec<Published>,
    pub funnel: Option<Funnel>,
    pub peers: BTreeMap<String, Vec<String>>,
    pub weighting: Vec<WeightingSummary>,
    /// Respondents left out because their ICS is unknown.
    pub without_ics: usize,
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// Runs the whole chain.
pub fn compute(inputs: &Inputs<'_>) -> Result<Results, WeightingError> {
    let d = inputs.definition;
    let data = inputs.frame;
    let weighed = frame::weigh(data, inputs.population, inputs.min_respondents)?;
    let domain_ids: Vec<String> = d.domains.iter().map(|x| x.id.clone()).collect();
    let items = super::record::question_items(d);
    let mut all: Vec<Cell> = Vec::new();
    let mut patterns = Patterns::new();
    for w in &weighed {
        let groupings = cells::groupings(data, w);
        let (scores, profiles) = cells::score_cells(data, w, &groupings, &domain_ids, &mut patterns);
        all.extend(scores);
        all.extend(cells::question_cells(data, w, &groupings, &profiles, &items));
    }
    let score_measures: Vec<String> = std::iter::once("index".to_string()).chain(domain_ids.iter().cloned()).collect();
    let hidden = disclosure::suppress(&all, &patterns, &score_measures, inputs.threshold);

    // Comparisons use published figures only.
    let england: BTreeMap<(String, String, String, String), &Cell> = all
        .iter()
        .zip(&hidden)
        .filter(|(c, h)| c.key.area == ENGLAND && h.is_none())
        .map(|(c, _)| {
            (
                (
                    c.key.group.code().to_string(),
                    c.key.measure.clone(),
                    c.key.dimension.clone(),
                    c.key.category.clone(),
                ),
                c,
            )
        })
        .collect();
    let people = weighed.iter().find(|w| w.group == Group::People);
    let headline = |measure: &str| -> BTreeMap<String, (f64, f64, f64)> {
        all.iter()
            .zip(&hidden)
            .filter(|(c, h)| {
                h.is_none()
                    && c.key.group == Group::People
                    && c.key.measure == measure
                    && c.key.area != ENGLAND
                    && c.key.dimension == ALL
            })
            .map(|(c, _)| (c.key.area.clone(), (c.estimate.estimate, c.estimate.se, c.estimate.n_eff)))
            .collect()
    };
    let index_by_ics = headline("index");
    let funnel = england
        .get(&("people".to_string(), "index".to_string(), ALL.to_string(), ALL.to_string()))
        .map(|e| compare::funnel(e, &index_by_ics.values().map(|v| (v.0, v.2)).collect::<Vec<_>>()));
    let peers = compare::peer_groups(inputs.profiles, 5);
    let standardised = people.map(|w| compare::standardise(data, w, inputs.population)).unwrap_or_default();
    let mut peer_estimates: BTreeMap<String, BTreeMap<String, (f64, f64)>> = BTreeMap::new();
    for measure in &score_measures {
        peer_estimates.insert(measure.clone(), headline(measure).into_iter().map(|(k, v)| (k, (v.0, v.1))).collect());
    }

    let labels = measure_labels(d, &items);
    let mut published = Vec::with_capacity(all.len());
    for (cell, hidden) in all.iter().zip(&hidden) {
        let e = &cell.estimate;
        let k = &cell.key;
        let area_name = if k.area == ENGLAND {
            ENGLAND.to_string()
        } else {
            inputs.ics_names.get(&k.area).cloned().unwrap_or_default()
        };
        let mut p = Published {
            group: k.group.code(),
            measure: k.measure.clone(),
            measure_label: labels.get(&k.measure).cloned().unwrap_or_else(|| k.measure.clone()),
            area: k.area.clone(),
            area_name,
            dimension: k.dimension.clone(),
            category: k.category.clone(),
            n: disclosure::published_count(e.n),
            sum_w: None,
            n_eff: None,
            estimate: None,
            se: None,
            ci_low: None,
            ci_high: None,
            suppressed: hidden.map(Suppression::code),
            vs_england: None,
            vs_england_se: None,
            vs_england_significant: None,
            peer_mean: None,
            vs_peers: None,
            vs_peers_significant: None,
            funnel: None,
            standardised: None,
            standardised_se: None,
            n_exact: e.n,
        };
        if hidden.is_none() {
            p.sum_w = Some(disclosure::published_total(e.sum_w));
            p.n_eff = Some(round(e.n_eff, 0));
            p.estimate = Some(round(e.estimate, 1));
            if cell.has_se && e.se.is_finite() {
                p.se = Some(round(e.se, 2));
                p.ci_low = Some(round((e.estimate - Z95 * e.se).max(0.0), 1));
                p.ci_high = Some(round((e.estimate + Z95 * e.se).min(100.0), 1));
            }
            if let Some(VsEngland { difference, se, significant }) =
                compare::england_of(cell, &england).and_then(|eng| compare::vs_england(cell, eng))
            {
                p.vs_england = Some(round(difference, 1));
                p.vs_england_se = Some(round(se, 2));
                p.vs_england_significant = Some(significant);
            }
            let headline_people = k.group == Group::People && k.dimension == ALL && k.area != ENGLAND;
            if headline_people && let Some(estimates) = peer_estimates.get(&k.measure) {
                let peer_list = peers.get(&k.area).cloned().unwrap_or_default();
                if let Some(VsPeers { peer_mean, difference, significant, .. }) =
                    compare::vs_peers(&k.area, &peer_list, estimates)
                {
                    p.peer_mean = Some(round(peer_mean, 1));
                    p.vs_peers = Some(round(difference, 1));
                    p.vs_peers_significant = Some(significant);
                }
            }
            if headline_people && k.measure == "index" {
                p.funnel = funnel.map(|f| f.flag(e.estimate, e.n_eff));
                if let Some(s) = standardised.get(&k.area) {
                    p.standardised = Some(round(s.estimate, 1));
                    p.standardised_se = Some(round(s.se, 2));
                }
            }
        }
        published.push(p);
    }
    let weighting = weighed
        .iter()
        .map(|w| WeightingSummary {
            group: w.group.code(),
            raked: w.raked,
            respondents: w.rows.len(),
            icss: w.strata.len(),
            icss_scaled_not_raked: w
                .weighted
                .strata
                .iter()
                .filter(|s| s.status == crate::weighting::StratumStatus::TooFewRespondents)
                .count(),
            max_margin_error: w.weighted.strata.iter().map(|s| s.max_margin_error).fold(0.0, f64::max),
            margins_not_met: w.margins_not_met.clone(),
        })
        .collect();
    let without_ics =
        data.groups().iter().zip(&data.ics.codes).filter(|(group, ics)| **ics == 0 && group.is_some()).count();
    Ok(Results { cells: published, funnel, peers, weighting, without_ics })
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

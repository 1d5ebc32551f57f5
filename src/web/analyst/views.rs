//! The data each analyst and researcher page renders, as types: a misspelt
//! key is a compile error here rather than a blank on the page. Every
//! field is always present; `None` renders as nothing.

use chrono::NaiveDate;
use serde::Serialize;

use crate::index::results::Published;
use crate::results::reports::Report;
use crate::storage::surveys::VersionStatus;

/// A released survey version, on the analyst's home page and from
/// `GET /api/v1/surveys`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SurveyVersion {
    pub survey_id: String,
    /// The version's label.
    pub version: String,
    pub title: String,
    /// The stored status: `published` or `closed`.
    #[schema(value_type = String)]
    pub status: VersionStatus,
    pub open_now: bool,
    pub opens_on: Option<NaiveDate>,
    pub closes_on: Option<NaiveDate>,
    pub published_at: Option<String>,
    pub content_hash: String,
}

/// `analyst/home`.
#[derive(Serialize)]
pub struct Home {
    pub surveys: Vec<SurveyVersion>,
}

/// `research/home`: each survey's closed releases.
#[derive(Serialize)]
pub struct Research {
    pub surveys: Vec<ResearchSurvey>,
}

#[derive(Serialize)]
pub struct ResearchSurvey {
    pub survey_id: String,
    pub title: String,
    /// Newest first.
    pub releases: Vec<ResearchRelease>,
}

/// A closed month, with a microdata link per sample.
#[derive(Serialize)]
pub struct ResearchRelease {
    pub label: String,
    pub samples: Vec<Link>,
}

#[derive(Serialize)]
pub struct Link {
    pub label: &'static str,
    pub href: String,
}

/// An option of a select list.
#[derive(Serialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    /// `(value, label)` pairs as options, `selected` chosen.
    pub fn list(pairs: &[(String, String)], selected: &str) -> Vec<Choice> {
        pairs.iter().map(|(v, l)| Choice { value: v.clone(), label: l.clone(), selected: v == selected }).collect()
    }
}

/// `analyst/results`: a survey's title and releases, and when there is
/// one, the chosen release's figures.
#[derive(Serialize)]
pub struct Results {
    pub survey_id: String,
    pub survey_title: String,
    /// No release, or a release without cells: the page says so and shows
    /// nothing of `release`.
    pub empty: bool,
    pub release_options: Vec<Choice>,
    #[serde(flatten)]
    pub release: ResultsRelease,
}

/// The figures of one release, sample, group and measure.
#[derive(Serialize, Default)]
pub struct ResultsRelease {
    /// `YYYY-MM`.
    pub release: String,
    /// The month in words.
    pub release_label: String,
    pub sample_label: String,
    /// Open-link respondents: self-selected, indicative only.
    pub indicative: bool,
    /// The release has no invited respondents.
    pub open_link_only: bool,
    pub measure_label: String,
    pub england: Option<Cell>,
    pub icss: Vec<Cell>,
    /// The ICS dot plot, as SVG.
    pub chart: String,
    /// The funnel plot (SVG), for the people's index.
    pub funnel_chart: Option<String>,
    /// Why the comparison columns can disagree.
    pub comparisons: &'static str,
    /// One area split by `dimension`, when a split is chosen.
    pub breakdown: Vec<Cell>,
    pub breakdown_chart: Option<String>,
    /// What to keep in mind reading this split (results by mode).
    pub breakdown_note: Option<&'static str>,
    pub dimension: String,
    pub sample_options: Vec<Choice>,
    pub trim_options: Vec<Choice>,
    pub group_options: Vec<Choice>,
    pub measure_options: Vec<Choice>,
    pub dimension_options: Vec<Choice>,
    pub area_options: Vec<Choice>,
    /// The table's sort orders.
    pub sort_links: Vec<SortLink>,
    pub downloads: Vec<Download>,
    /// This release and sample's microdata, for a researcher.
    pub microdata_href: Option<String>,
    pub questions_href: String,
    pub provenance: ProvenanceView,
}

/// One published cell as the tables show it.
#[derive(Serialize)]
pub struct Cell {
    pub area: String,
    pub area_name: String,
    pub category: String,
    /// Respondents, rounded as published.
    pub n: String,
    pub estimate: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub deff: Option<f64>,
    pub n_eff_design: Option<f64>,
    pub n_eff_kish: Option<f64>,
    /// Why the figures are hidden.
    pub suppressed: Option<String>,
    pub not_estimable: Option<String>,
    pub vs_england: Option<f64>,
    /// `higher`, `lower` or `no difference` than England.
    pub significant: Option<&'static str>,
    pub peer_mean: Option<f64>,
    pub vs_peers: Option<f64>,
    pub peer_significant: Option<&'static str>,
    /// Where the ICS falls on the funnel plot, in words.
    pub funnel: Option<&'static str>,
    pub standardised: Option<f64>,
}

fn significance(s: Option<i8>) -> Option<&'static str> {
    s.map(|s| match s {
        1 => "higher",
        -1 => "lower",
        _ => "no difference",
    })
}

impl From<&Published> for Cell {
    fn from(c: &Published) -> Self {
        Cell {
            area: c.area.clone(),
            area_name: c.area_name.clone(),
            category: c.category.clone(),
            n: c.n.clone(),
            estimate: c.estimate,
            ci_low: c.ci_low,
            ci_high: c.ci_high,
            deff: c.deff,
            n_eff_design: c.n_eff_design,
            n_eff_kish: c.n_eff_kish,
            suppressed: c.suppressed.clone(),
            not_estimable: c.not_estimable.clone(),
            vs_england: c.vs_england,
            significant: significance(c.vs_england_significant),
            peer_mean: c.peer_mean,
            vs_peers: c.vs_peers,
            peer_significant: significance(c.vs_peers_significant),
            funnel: c.funnel.map(|f| match f {
                2 => "above 99.8% limit",
                1 => "above 95% limit",
                -1 => "below 95% limit",
                -2 => "below 99.8% limit",
                _ => "within limits",
            }),
            standardised: c.standardised,
        }
    }
}

#[derive(Serialize)]
pub struct SortLink {
    /// The sort order's name, shown as the link.
    pub key: &'static str,
    pub href: String,
}

#[derive(Serialize)]
pub struct Download {
    /// `csv`, `xlsx` or `json`.
    pub format: &'static str,
    pub href: String,
}

/// Where a release's numbers came from, in words.
#[derive(Serialize, Default)]
pub struct ProvenanceView {
    pub release: String,
    /// The versions pooled, with the start of their content hashes.
    pub versions: String,
    /// Versions left out because their scoring differs.
    pub not_pooled: String,
    /// Respondents per channel.
    pub channels: String,
    /// Respondents per mode, with what it says first (empty for a release
    /// stored before results were split by mode).
    pub modes: String,
    pub samples: String,
    pub weighting: String,
    pub trimming: String,
    pub variance: String,
    pub population: String,
    pub aggregates: String,
    pub deprivation: String,
    pub suppression: String,
    pub information_loss: String,
    pub computed_at: String,
}

impl ProvenanceView {
    pub fn from(report: &Report) -> Self {
        let p = &report.provenance;
        ProvenanceView {
            release: format!("{} (responses submitted {} to {})", p.release, p.release_from, p.release_to),
            versions: p
                .versions
                .iter()
                .map(|(v, h)| format!("{v} ({})", &h[..12.min(h.len())]))
                .collect::<Vec<_>>()
                .join(", "),
            not_pooled: p.versions_not_pooled.join(", "),
            channels: p.channel_mix.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "),
            modes: match p.mode_mix.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ") {
                modes if modes.is_empty() => String::new(),
                modes => format!("; by mode: {modes}"),
            },
            samples: p.samples.clone(),
            weighting: p.weighting.clone(),
            trimming: p.trimming.clone(),
            variance: p.variance.clone(),
            population: p.population_source.clone(),
            aggregates: p.aggregates.clone(),
            deprivation: p.deprivation_source.clone(),
            suppression: p.suppression.clone(),
            information_loss: p.information_loss.clone(),
            computed_at: p.computed_at.clone(),
        }
    }
}

/// `analyst/questions`: question-level tables of a release, when there
/// is one.
#[derive(Serialize)]
pub struct Questions {
    pub survey_id: String,
    pub survey_title: String,
    /// There is no release: the page says so and shows nothing of `release`.
    pub empty: bool,
    /// Back to the results page.
    pub results_href: String,
    #[serde(flatten)]
    pub release: QuestionsRelease,
}

#[derive(Serialize, Default)]
pub struct QuestionsRelease {
    /// `YYYY-MM`.
    pub release: String,
    pub release_label: String,
    /// The sample's code, sent on with the area form.
    pub sample: String,
    pub sample_label: String,
    pub indicative: bool,
    /// The weight trimming asked for, sent on with the area form.
    pub trim: Option<String>,
    pub area_options: Vec<Choice>,
    pub group: String,
    pub tables: Vec<QuestionTable>,
    pub provenance: ProvenanceView,
}

/// One question's answers.
#[derive(Serialize)]
pub struct QuestionTable {
    /// The question's id.
    pub id: String,
    pub text: String,
    pub rows: Vec<AnswerRow>,
}

#[derive(Serialize)]
pub struct AnswerRow {
    pub answer: String,
    pub n: String,
    /// The weighted percentage choosing the answer.
    pub percent: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub suppressed: Option<String>,
    pub not_estimable: Option<String>,
}

/// `analyst/margins`: the uploaded versions and the upload form.
#[derive(Serialize)]
pub struct Margins {
    pub notice: Option<String>,
    /// Newest first.
    pub versions: Vec<MarginVersion>,
    /// The first problems of a refused file.
    pub problems: Vec<LineProblem>,
    /// Problems not listed.
    pub more_problems: usize,
    /// The dimensions and categories each group's file may have, in words.
    pub people_dimensions: String,
    pub carer_dimensions: String,
    pub form: MarginsForm,
}

#[derive(Serialize)]
pub struct MarginVersion {
    pub id: i64,
    /// `people` or `carers`.
    pub group: String,
    pub version: i32,
    pub dimensions: String,
    /// Where the figures come from.
    pub source: String,
    pub file_name: String,
    /// SHA-256 of the file.
    pub hash: String,
    pub uploaded_by: String,
    pub uploaded_at: String,
    pub retired_at: Option<String>,
    /// Results are weighted to it now.
    pub in_use: bool,
}

#[derive(Serialize)]
pub struct LineProblem {
    pub line: usize,
    pub message: String,
}

/// What the upload form shows as chosen and typed.
#[derive(Serialize)]
pub struct MarginsForm {
    /// `people` or `carers`.
    pub group: String,
    pub source: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::staff::{Page, StaffFrame};
    use crate::web::templates;

    fn frame() -> StaffFrame {
        StaffFrame {
            lang: "en",
            title: "Results - joinedup".into(),
            service_name: "joinedup",
            home_href: "/account",
            ui: crate::journey::view::catalogue_ui("en"),
            csrf: "token".into(),
            account: None,
            back_href: None,
            wide: true,
            errors: Vec::new(),
            field_errors: Default::default(),
        }
    }

    /// A survey with no release yet (no integration test reaches one)
    /// renders under handlebars strict mode: its release part is there,
    /// empty.
    #[test]
    fn pages_without_a_release_render_in_strict_mode() {
        let mut hb = templates::registry().unwrap();
        hb.set_strict_mode(true);
        let results = Page {
            frame: frame(),
            body: Results {
                survey_id: "s".into(),
                survey_title: "S".into(),
                empty: true,
                release_options: Vec::new(),
                release: ResultsRelease::default(),
            },
        };
        let html = templates::render_owned(&hb, "analyst/results", serde_json::to_value(&results).unwrap()).unwrap();
        assert!(html.contains("There is no release of this survey yet"), "{html}");
        let questions = Page {
            frame: frame(),
            body: Questions {
                survey_id: "s".into(),
                survey_title: "S".into(),
                empty: true,
                results_href: "/analyst/surveys/s".into(),
                release: QuestionsRelease::default(),
            },
        };
        let html =
            templates::render_owned(&hb, "analyst/questions", serde_json::to_value(&questions).unwrap()).unwrap();
        assert!(html.contains("There is no release of this survey yet"), "{html}");
    }
}

//! Published results, release by release: a survey's responses of one
//! closed period (a calendar month) read from the database, weighted and
//! put through the pure `index` chain once, stored, and served unchanged to
//! the analyst pages, the API and `joinedup results` ever after.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::NaiveDate;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::index::columns::Frame;
use crate::index::compare::IcsProfile;
use crate::index::disclosure;
use crate::index::frame::{ADULT_BANDS, DEFAULT_TRIM, Group, PopulationTable, Row, WeighOptions};
use crate::index::margins::UsedMargins;
use crate::index::record::{self, question_items};
use crate::index::release::Period;
use crate::index::results::{self, Inputs, Results};
use crate::index::sample::Sample;
use crate::index::scoring::Scoring;
use crate::storage::results::ReportRow;
use crate::storage::{Db, DbConn, StorageError, icss};
use crate::surveys::SurveyRegistry;

/// Trim caps an analyst may choose (besides none): a short list, so the
/// variants of a release stay few.
pub const TRIM_CHOICES: [f64; 9] = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];

/// What a release is computed with, besides its period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReleaseOptions {
    /// Estimates from fewer respondents are hidden.
    pub threshold: usize,
    /// Weights capped at this many times the ICS mean weight; `None`: off.
    pub trim: Option<f64>,
    /// Also publish the invited and open-link samples combined.
    pub pooled: bool,
}

impl ReleaseOptions {
    pub fn new(threshold: usize) -> ReleaseOptions {
        ReleaseOptions { threshold: threshold.max(disclosure::FLOOR), trim: Some(DEFAULT_TRIM), pooled: false }
    }

    /// The stored name of these options: a release is kept per variant.
    pub fn variant(&self) -> String {
        let trim = self.trim.map_or("off".to_string(), |k| format!("{k}"));
        format!("suppress_below={};trim={trim};pooled={}", self.threshold, self.pooled)
    }

    /// Reads a trim choice as pages and commands take it: `off`, or one of
    /// `TRIM_CHOICES`.
    pub fn parse_trim(text: &str) -> Result<Option<f64>, String> {
        if text == "off" || text == "none" {
            return Ok(None);
        }
        match text.parse::<f64>() {
            Ok(k) if TRIM_CHOICES.contains(&k) => Ok(Some(k)),
            _ => Err(format!("trim must be `off` or one of 2, 3, 4, 5, 6, 7, 8, 9, 10 (got `{text}`)")),
        }
    }
}

/// Which releases to give.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Window {
    /// The latest closed release.
    #[default]
    Latest,
    /// One release.
    Period(Period),
    /// Every closed release a date window touches (either end open): the
    /// dates snap outwards to whole releases.
    Dates(Option<NaiveDate>, Option<NaiveDate>),
}

/// What to report.
#[derive(Debug, Clone)]
pub struct Request {
    pub survey_id: String,
    pub window: Window,
    pub options: ReleaseOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("there is no survey `{0}`")]
    UnknownSurvey(String),
    #[error(
        "survey `{0}` has no closed release with submitted responses (results are published a month at a time, from the second day after the month ends)"
    )]
    NoRelease(String),
    #[error("release {1} of survey `{0}` is not available: {2}")]
    NotReleased(String, String, String),
    #[error("the uploaded population margins cannot be used: {0}")]
    Margins(String),
    #[error("the results cannot be weighted: {0}")]
    Weighting(#[from] crate::weighting::WeightingError),
    #[error("the stored release cannot be read: {0}")]
    Stored(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where every number came from, carried by every output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    pub survey_id: String,
    pub survey_title: String,
    /// The release: its period and the days it covers.
    pub release: String,
    pub release_from: NaiveDate,
    pub release_to: NaiveDate,
    /// Versions pooled: label and content hash.
    pub versions: Vec<(String, String)>,
    /// Versions left out because their scoring differs from the latest.
    pub versions_not_pooled: Vec<String>,
    pub first_response: Option<NaiveDate>,
    pub last_response: Option<NaiveDate>,
    /// Respondents per channel, published as counts are.
    pub channel_mix: BTreeMap<String, String>,
    /// Respondents per mode (`online`, `paper`), published as counts are;
    /// empty in a release stored before results were split by mode.
    #[serde(default)]
    pub mode_mix: BTreeMap<String, String>,
    /// The samples and which is the headline, in words.
    pub samples: String,
    pub weighting: String,
    pub trimming: String,
    pub variance: String,
    pub population_source: String,
    pub aggregates: String,
    pub deprivation_source: String,
    pub comparisons: String,
    pub suppression: String,
    pub information_loss: String,
    pub software: String,
    pub computed_at: String,
    /// Where the rows were read when not from the primary: a replica, and
    /// how far behind it was (`JOINEDUP_DATABASE_READ_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_from: Option<String>,
}

/// One release's results with their provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub period: Period,
    pub results: Results,
    pub provenance: Provenance,
    /// The uploaded margin versions the weights used (the microdata weighs
    /// with the same ones).
    pub margin_ids: Vec<i64>,
    /// The survey versions whose responses it pools (`None`: stored before
    /// this was kept).
    pub pooled_versions: Option<Vec<i64>>,
    /// The options it was computed with.
    pub options: ReleaseOptions,
}

/// What a variant of a release (other trimming, or pooled samples) takes
/// from the default release of the same month, so the two never differ in
/// what they let out: the same respondents, the same margins, and every
/// cell the default hid or coarsened kept so (docs/outputs.md §6, rule 2).
struct Basis {
    marks: disclosure::Marks,
    margin_ids: Vec<i64>,
    pooled_versions: Option<Vec<i64>>,
}

impl Basis {
    fn of(default: &Report) -> Basis {
        Basis {
            marks: results::marks(&default.results.cells),
            margin_ids: default.margin_ids.clone(),
            pooled_versions: default.pooled_versions.clone(),
        }
    }
}

/// A report as stored: what outputs show, plus what only the server keeps
/// (exact counts, the margin versions used). Cells are stored as arrays,
/// their measure and area labels once each: a release of a million
/// respondents has a hundred thousand cells, and field names and repeated
/// question wording made up most of its JSON.
#[derive(Serialize, Deserialize)]
struct Stored {
    provenance: Provenance,
    /// The results without their cells.
    results: Results,
    /// (measure, label) and (area, name), referred to by position.
    measures: Vec<(String, String)>,
    areas: Vec<(String, String)>,
    cells: Vec<StoredCell>,
    margin_ids: Vec<i64>,
    #[serde(default)]
    pooled_versions: Option<Vec<i64>>,
}

/// One cell as stored: `Published` with its measure and area by position
/// and its exact count, in a fixed order.
#[derive(Serialize, Deserialize)]
struct StoredCell(
    Sample,
    String,
    u32,
    u32,
    String,
    String,
    String,
    [Option<f64>; 8],
    Option<String>,
    Option<String>,
    [Option<f64>; 2],
    Option<i8>,
    [Option<f64>; 2],
    [Option<i8>; 2],
    [Option<f64>; 2],
    u64,
    #[serde(default)] bool,
);

impl Stored {
    fn new(report: &Report) -> Stored {
        let mut measures: Vec<(String, String)> = Vec::new();
        let mut areas: Vec<(String, String)> = Vec::new();
        let mut measure_at: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut area_at: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut cells = Vec::with_capacity(report.results.cells.len());
        for c in &report.results.cells {
            let m = *measure_at.entry(&c.measure).or_insert_with(|| {
                measures.push((c.measure.clone(), c.measure_label.clone()));
                measures.len() as u32 - 1
            });
            let a = *area_at.entry(&c.area).or_insert_with(|| {
                areas.push((c.area.clone(), c.area_name.clone()));
                areas.len() as u32 - 1
            });
            cells.push(StoredCell(
                c.sample,
                c.group.clone(),
                m,
                a,
                c.dimension.clone(),
                c.category.clone(),
                c.n.clone(),
                [c.sum_w, c.n_eff_kish, c.deff, c.n_eff_design, c.estimate, c.se, c.ci_low, c.ci_high],
                c.suppressed.clone(),
                c.not_estimable.clone(),
                [c.vs_england, c.vs_england_se],
                c.vs_england_significant,
                [c.peer_mean, c.vs_peers],
                [c.vs_peers_significant, c.funnel],
                [c.standardised, c.standardised_se],
                c.n_exact as u64,
                c.coarsened,
            ));
        }
        let results = report.results.clone_without_cells();
        Stored {
            provenance: report.provenance.clone(),
            results,
            measures,
            areas,
            cells,
            margin_ids: report.margin_ids.clone(),
            pooled_versions: report.pooled_versions.clone(),
        }
    }

    fn cells(&self) -> Vec<crate::index::results::Published> {
        self.cells
            .iter()
            .map(|c| {
                let (measure, measure_label) = self.measures.get(c.2 as usize).cloned().unwrap_or_default();
                let (area, area_name) = self.areas.get(c.3 as usize).cloned().unwrap_or_default();
                let [sum_w, n_eff_kish, deff, n_eff_design, estimate, se, ci_low, ci_high] = c.7;
                crate::index::results::Published {
                    sample: c.0,
                    group: c.1.clone(),
                    measure,
                    measure_label,
                    area,
                    area_name,
                    dimension: c.4.clone(),
                    category: c.5.clone(),
                    n: c.6.clone(),
                    sum_w,
                    n_eff_kish,
                    deff,
                    n_eff_design,
                    estimate,
                    se,
                    ci_low,
                    ci_high,
                    suppressed: c.8.clone(),
                    not_estimable: c.9.clone(),
                    vs_england: c.10[0],
                    vs_england_se: c.10[1],
                    vs_england_significant: c.11,
                    peer_mean: c.12[0],
                    vs_peers: c.12[1],
                    vs_peers_significant: c.13[0],
                    funnel: c.13[1],
                    standardised: c.14[0],
                    standardised_se: c.14[1],
                    coarsened: c.16,
                    n_exact: c.15 as usize,
                }
            })
            .collect()
    }
}

/// The adult population table and ICS profiles from the bundled reference data.
pub fn reference_tables() -> (PopulationTable, Vec<IcsProfile>) {
    let counts = crate::reference::population().unwrap_or_default();
    let deprivation = crate::reference::deprivation_shares().unwrap_or_default();
    let mut adults: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for ((ics, band, _), n) in &counts {
        if ADULT_BANDS.contains(&band.as_str()) {
            let e = adults.entry(ics.as_str()).or_default();
            e.0 += n;
            if matches!(band.as_str(), "65-74" | "75-84" | "85+") {
                e.1 += n;
            }
        }
    }
    let profiles = adults
        .iter()
        .filter_map(|(code, (all, older))| {
            Some(IcsProfile { code: code.to_string(), deprivation: *deprivation.get(*code)?, older: older / all })
        })
        .collect();
    (
        PopulationTable { counts, source: crate::reference::POPULATION_SOURCE.into(), uploaded: BTreeMap::new() },
        profiles,
    )
}

/// The survey's periods with submitted responses, and how many each has
/// (open or closed).
pub fn periods(conn: &mut DbConn, survey_id: &str) -> Result<Vec<(Period, usize)>, StorageError> {
    let mut out: Vec<(Period, usize)> = Vec::new();
    for day in crate::storage::results::per_day(conn, survey_id)? {
        let period = Period::of(day.day);
        let n = usize::try_from(day.rows).unwrap_or(0);
        match out.last_mut() {
            Some((p, total)) if *p == period => *total += n,
            _ => out.push((period, n)),
        }
    }
    Ok(out)
}

/// The closed releases a request asks for, in period order.
pub fn resolve(
    conn: &mut DbConn,
    registry: &SurveyRegistry,
    request: &Request,
    today: NaiveDate,
) -> Result<Vec<Period>, ReportError> {
    if registry.latest(&request.survey_id).is_none() {
        return Err(ReportError::UnknownSurvey(request.survey_id.clone()));
    }
    let available: Vec<Period> = periods(conn, &request.survey_id)?.into_iter().map(|(p, _)| p).collect();
    let chosen = match request.window {
        Window::Latest => available.iter().rev().find(|p| p.is_closed(today)).copied().into_iter().collect(),
        Window::Period(p) if !p.is_closed(today) => {
            return Err(ReportError::NotReleased(
                request.survey_id.clone(),
                p.to_string(),
                format!("the period is still open: it is released on {}", p.release_day()),
            ));
        }
        Window::Period(p) if !available.contains(&p) => {
            return Err(ReportError::NotReleased(
                request.survey_id.clone(),
                p.to_string(),
                "no responses were submitted in it".into(),
            ));
        }
        Window::Period(p) => vec![p],
        Window::Dates(from, to) => Period::covering(from, to, &available, today),
    };
    if chosen.is_empty() {
        return Err(ReportError::NoRelease(request.survey_id.clone()));
    }
    Ok(chosen)
}

/// A release: read back if stored, else computed, stored and returned. Two
/// computing at once both return the one stored first.
pub fn release(
    db: &Db,
    registry: &SurveyRegistry,
    survey_id: &str,
    period: Period,
    options: ReleaseOptions,
) -> Result<Report, ReportError> {
    if let Some(stored) = stored(db, survey_id, period, options)? {
        return Ok(stored);
    }
    let report = compute(db, registry, survey_id, period, options)?;
    Ok(store(db, &report)?.unwrap_or(report))
}

/// The stored release, if it has been computed.
pub fn stored(
    db: &Db,
    survey_id: &str,
    period: Period,
    options: ReleaseOptions,
) -> Result<Option<Report>, ReportError> {
    // On the primary: a release another request has just stored may not
    // have reached a replica yet.
    let mut conn = db.get_primary()?;
    match crate::storage::releases::find(&mut conn, survey_id, &period.to_string(), &options.variant())? {
        Some(stored) => Ok(Some(decode(&stored.body, period, options)?)),
        None => Ok(None),
    }
}

/// Stores a computed release. `None`: stored; `Some`: another request
/// stored the same release first, and that one (which everyone else sees)
/// is returned to be served instead.
pub fn store(db: &Db, report: &Report) -> Result<Option<Report>, ReportError> {
    let started = std::time::Instant::now();
    let (survey_id, period, variant) =
        (&report.provenance.survey_id, report.period.to_string(), report.options.variant());
    let body = encode(report)?;
    tracing::debug!(bytes = body.len(), seconds = started.elapsed().as_secs_f64(), "release encoded");
    let respondents = report.results.samples.iter().map(|s| s.respondents as i64).sum();
    let mut writer = db.get_writer()?;
    let inserted = crate::storage::releases::insert_if_absent(
        &mut writer,
        (survey_id, &period, &variant),
        crate::storage::now(),
        respondents,
        &body,
    )?;
    drop(writer);
    tracing::debug!(bytes = body.len(), seconds = started.elapsed().as_secs_f64(), inserted, "release stored");
    if inserted { Ok(None) } else { stored(db, survey_id, report.period, report.options) }
}

fn encode(report: &Report) -> Result<Vec<u8>, ReportError> {
    let started = std::time::Instant::now();
    let stored = Stored::new(report);
    // JSON first, then compressed in one go: serde_json writes many small
    // pieces, and each write into the encoder costs a compression call.
    let json = serde_json::to_vec(&stored).map_err(|e| ReportError::Stored(e.to_string()))?;
    tracing::debug!(bytes = json.len(), seconds = started.elapsed().as_secs_f64(), "release as JSON");
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 4), flate2::Compression::fast());
    gz.write_all(&json).map_err(|e| ReportError::Stored(e.to_string()))?;
    gz.finish().map_err(|e| ReportError::Stored(e.to_string()))
}

fn decode(body: &[u8], period: Period, options: ReleaseOptions) -> Result<Report, ReportError> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut json).map_err(|e| ReportError::Stored(e.to_string()))?;
    let stored: Stored = serde_json::from_slice(&json).map_err(|e| ReportError::Stored(e.to_string()))?;
    let cells = stored.cells();
    Ok(Report {
        period,
        results: Results { cells, ..stored.results },
        provenance: stored.provenance,
        margin_ids: stored.margin_ids,
        pooled_versions: stored.pooled_versions,
        options,
    })
}

/// Which versions of a survey score (and ask) the same as its latest.
pub struct Pooling {
    pub pooled: BTreeMap<i64, bool>,
    pub same_questions: BTreeMap<i64, bool>,
}

impl Pooling {
    pub fn of(registry: &SurveyRegistry, survey_id: &str) -> Option<Pooling> {
        let latest = registry.latest(survey_id)?;
        let scoring = Scoring::new(&latest.definition);
        let item_ids: Vec<String> = question_items(&latest.definition).into_iter().map(|i| i.id).collect();
        let mut pooling = Pooling { pooled: BTreeMap::new(), same_questions: BTreeMap::new() };
        for v in registry.all().filter(|v| v.definition.id == survey_id) {
            pooling.pooled.insert(v.version.id, Scoring::new(&v.definition).signature == scoring.signature);
            let ids: Vec<String> = question_items(&v.definition).into_iter().map(|i| i.id).collect();
            pooling.same_questions.insert(v.version.id, ids == item_ids);
        }
        Some(pooling)
    }
}

/// What one read of result rows takes.
struct Read<'a> {
    survey_id: &'a str,
    window: (Option<NaiveDate>, Option<NaiveDate>),
    pooled: &'a BTreeMap<i64, bool>,
    same_questions: &'a BTreeMap<i64, bool>,
}

/// The rows of one release as a frame, with the survey's latest definition
/// (for profiling and benchmarks).
pub fn load_frame(
    db: &Db,
    registry: &SurveyRegistry,
    survey_id: &str,
    period: Period,
) -> Result<(Frame, crate::definitions::SurveyDefinition), ReportError> {
    let latest = registry.latest(survey_id).ok_or_else(|| ReportError::UnknownSurvey(survey_id.to_string()))?;
    let d = latest.definition.clone();
    let pooling = Pooling::of(registry, survey_id).ok_or_else(|| ReportError::UnknownSurvey(survey_id.to_string()))?;
    let read = Read {
        survey_id,
        window: (Some(period.first_day()), Some(period.last_day())),
        pooled: &pooling.pooled,
        same_questions: &pooling.same_questions,
    };
    let mut conn = db.get()?;
    let shape = (Scoring::new(&d).domain_count(), question_items(&d).len());
    Ok((read_frame(db, &mut conn, &read, shape)?.frame, d))
}

/// Reads, weights and publishes one release as it would be computed now,
/// without storing it (`release` stores it; tests compare what a change of
/// margins would do). A variant is computed on its default release, which
/// is published (stored) first if it is not yet.
pub fn compute(
    db: &Db,
    registry: &SurveyRegistry,
    survey_id: &str,
    period: Period,
    options: ReleaseOptions,
) -> Result<Report, ReportError> {
    let default = ReleaseOptions::new(options.threshold);
    if options == default {
        return compute_on(db, registry, survey_id, period, options, None);
    }
    let basis = Basis::of(&release(db, registry, survey_id, period, default)?);
    compute_on(db, registry, survey_id, period, options, Some(&basis))
}

fn compute_on(
    db: &Db,
    registry: &SurveyRegistry,
    survey_id: &str,
    period: Period,
    options: ReleaseOptions,
    basis: Option<&Basis>,
) -> Result<Report, ReportError> {
    let latest = registry.latest(survey_id).ok_or_else(|| ReportError::UnknownSurvey(survey_id.to_string()))?;
    let d = &latest.definition;
    let scoring = Scoring::new(d);
    let items = question_items(d);
    let mut pooling =
        Pooling::of(registry, survey_id).ok_or_else(|| ReportError::UnknownSurvey(survey_id.to_string()))?;
    if let Some(kept) = basis.and_then(|b| b.pooled_versions.as_ref()) {
        if kept.iter().any(|id| !pooling.pooled.get(id).copied().unwrap_or(false)) {
            return Err(ReportError::NotReleased(
                survey_id.to_string(),
                period.to_string(),
                "the survey's scoring has changed since this release was published, so only its published form is available".into(),
            ));
        }
        for (id, pooled) in pooling.pooled.iter_mut() {
            *pooled &= kept.contains(id);
        }
    }
    // Measured before the rows are read: they are at least this fresh.
    let read_from = db.replica_lag()?.map(|lag| lag.describe());
    let mut conn = db.get()?;
    let conn = &mut *conn;
    let started = std::time::Instant::now();
    let read = Read {
        survey_id,
        window: (Some(period.first_day()), Some(period.last_day())),
        pooled: &pooling.pooled,
        same_questions: &pooling.same_questions,
    };
    let Loaded { frame, channel_mix, first, last } =
        read_frame(db, conn, &read, (scoring.domain_count(), items.len()))?;
    tracing::debug!(rows = frame.len(), seconds = started.elapsed().as_secs_f64(), "release rows read");
    if frame.is_empty() {
        return Err(ReportError::NotReleased(
            survey_id.to_string(),
            period.to_string(),
            "no responses were submitted in it".into(),
        ));
    }
    let (mut population, profiles) = reference_tables();
    let used = match basis {
        Some(b) => crate::results::population_margins::versions(conn, &b.margin_ids)?,
        None => crate::results::population_margins::in_use(conn)?,
    }
    .map_err(ReportError::Margins)?;
    let no_marks = disclosure::Marks::new();
    population.uploaded = crate::results::population_margins::sets(&used);
    let ics_names: BTreeMap<String, String> = icss::all(conn)?.into_iter().map(|i| (i.ons_code, i.name)).collect();
    let results = results::compute(&Inputs {
        definition: d,
        frame: &frame,
        population: &population,
        profiles: &profiles,
        ics_names: &ics_names,
        threshold: options.threshold,
        weighing: WeighOptions { min_respondents: 10, trim: options.trim },
        pooled: options.pooled,
        forced: basis.map_or(&no_marks, |b| &b.marks),
    })?;
    tracing::debug!(cells = results.cells.len(), seconds = started.elapsed().as_secs_f64(), "release computed");
    let mut versions = Vec::new();
    let mut not_pooled = Vec::new();
    for v in registry.all().filter(|v| v.definition.id == survey_id) {
        if pooling.pooled.get(&v.version.id).copied().unwrap_or(false) {
            versions.push((v.version.version_label.clone(), v.version.content_hash.clone()));
        } else {
            not_pooled.push(v.version.version_label.clone());
        }
    }
    let provenance = Provenance {
        survey_id: d.id.clone(),
        survey_title: d.title.get(d.default_language(), None).to_string(),
        release: period.to_string(),
        release_from: period.first_day(),
        release_to: period.last_day(),
        versions,
        versions_not_pooled: not_pooled,
        first_response: first,
        last_response: last,
        channel_mix: channel_mix.into_iter().map(|(k, v)| (k, disclosure::published_count(v))).collect(),
        mode_mix: frame.mode.counts().into_iter().map(|(k, v)| (k, disclosure::published_count(v))).collect(),
        samples: samples_description(&results),
        weighting: weighting_description(&used, &results),
        trimming: trimming_description(options.trim, &results),
        variance: VARIANCE_METHOD.into(),
        population_source: population.source.clone(),
        aggregates: AGGREGATES.into(),
        deprivation_source: crate::reference::DEPRIVATION_SOURCE.into(),
        comparisons: COMPARISONS.into(),
        suppression: format!(
            "estimates from fewer than {} respondents hidden; where a hidden value would otherwise follow within ±{} points from its family (England and its ICSs, an area and one dimension's categories), a published sibling is shown to whole points, or if that is not enough the smallest is hidden; counts 1-7 shown as *, others rounded to 5; weighted totals to 3 significant figures; effective sample sizes to 5; one release a calendar month, computed once and never changed; a variant (other trimming, pooled) keeps every hidden and whole-point cell of the default release",
            options.threshold,
            disclosure::DERIVABLE_WITHIN
        ),
        information_loss: results.disclosure.describe(),
        software: format!("joinedup {}", env!("CARGO_PKG_VERSION")),
        computed_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        read_from,
    };
    let margin_ids = used.values().map(|u| u.id).collect();
    let pooled_versions = Some(pooling.pooled.iter().filter(|(_, p)| **p).map(|(id, _)| *id).collect());
    Ok(Report { period, results, provenance, margin_ids, pooled_versions, options })
}

/// How the variance is estimated, as every output states it.
pub const VARIANCE_METHOD: &str = "Taylor linearisation, with replacement, ICS as strata (each sample and group its own design); raked groups use raking residuals (R survey's svyrecvar); an ICS with a single respondent is centred at the grand mean (R options(survey.lonely.psu = \"adjust\")); question percentages are domain proportions with R svyciprop(method = \"logit\") intervals, t with degf degrees of freedom; design effects as R svymean(deff = TRUE)";

/// How England and peer figures combine ICSs.
pub const AGGREGATES: &str = "every group's weights add up, within each ICS, to the people it stands for, so England and peer means weigh ICSs by population: people by the ICS's adults (ONS mid-2022), children (on-behalf answers about under-18s) by its 0-17 population, carers by its adult population (no ICS figure for carers exists; adults stand in for them)";

/// Why the funnel and the England comparison can disagree, in one sentence.
pub const COMPARISONS: &str = "an ICS can be significantly different from England yet within the funnel limits, because the England comparison asks only whether its own sampling error explains the gap, while the funnel (on the same standard error) also allows the spread that ICSs show between them beyond chance (Spiegelhalter's overdispersion, tau2), so it flags only ICSs unusual among ICSs; peers are the 5 ICSs nearest on IMD 2019 deprivation and share aged 65+, their mean weighted by population";

fn samples_description(results: &Results) -> String {
    let mut parts = Vec::new();
    for s in &results.samples {
        let headline = if Some(s.sample) == results.headline { ", the headline" } else { "" };
        parts.push(format!(
            "{} ({}{headline}): {} respondents",
            s.sample.code(),
            s.sample.label(),
            disclosure::published_count(s.respondents)
        ));
    }
    let mut text = parts.join("; ");
    if results.headline == Some(Sample::OpenLink) {
        text.push_str(
            "; this release has no invited respondents, so every figure is self-selected and indicative only",
        );
    }
    text
}

fn trimming_description(trim: Option<f64>, results: &Results) -> String {
    let Some(k) = trim else {
        return "none: weights are not trimmed (asked for; the default caps them at 5 x the ICS mean weight)".into();
    };
    let mut text = format!(
        "weights capped at {k} x the mean weight within each ICS, the excess shared equally among the others (R trimWeights(strict = TRUE)); raked groups then raked again, repeated until cap and margins both hold (as joinedup weight --trim)"
    );
    for s in &results.samples {
        for w in &s.weighting {
            let t = &w.trimmed;
            text.push_str(&format!(
                "; {} {}: {} of {} weights capped, {:.2}% of the weight moved",
                s.sample.code(),
                w.group,
                disclosure::published_count(t.capped),
                disclosure::published_count(w.respondents),
                100.0 * t.trimmed_share + 0.0
            ));
            if t.limit_reached > 0 {
                text.push_str(&format!(" (in {} ICSs cap and margins could not both be met)", t.limit_reached));
            }
        }
    }
    text
}

/// The weighting specification every output states, naming the uploaded
/// margins it used.
pub fn weighting_description(used: &BTreeMap<Group, UsedMargins>, results: &Results) -> String {
    let people = match used.get(&Group::People) {
        Some(u) => format!("adult age band and sex margins (ONS) and the {}", u.label),
        None => "adult age band and sex margins (ONS)".into(),
    };
    let carers = match used.get(&Group::Carers) {
        Some(u) => format!("carers: base weights raked within each ICS to the {}", u.label),
        None => "carers: base weights scaled within each ICS to its adult population".into(),
    };
    let mut text = format!(
        "each sample weighted on its own; people's index: base weights (1/selection probability) raked within each ICS to {people} \
         (iterative proportional fitting to convergence, R rake() equivalent); {carers}; children: base weights scaled within each ICS to its 0-17 population"
    );
    text.push_str(&format!(
        "; in each ICS, a margin category with fewer than {} respondents is merged into its neighbour, and an ICS with fewer than 10 respondents is only scaled to its population",
        crate::index::frame::MIN_CATEGORY_RESPONDENTS
    ));
    if results.samples.iter().any(|s| s.sample == Sample::Pooled) {
        text.push_str("; pooled (on request): within each ICS and group the two samples' weights combined in proportion to their Kish effective sizes (a composite estimator), with standard errors that treat the composite weights as fixed");
    }
    for s in &results.samples {
        for w in s.weighting.iter().filter(|w| !w.margins_not_met.is_empty()) {
            text.push_str(&format!(
                "; {} {}: the margins could not be met (raking did not converge, or respondents are in a category the margins give no population), so in {} the weights are only scaled to the ICS population: that ICS's figures are not estimable, and England counts its people at their population total",
                s.sample.code(),
                w.group,
                w.margins_not_met.join(", ")
            ));
        }
    }
    text
}

/// A survey's pooled result rows as columns, with what provenance says
/// about them.
struct Loaded {
    frame: Frame,
    channel_mix: BTreeMap<String, usize>,
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
}

impl Loaded {
    fn new((domains, items): (usize, usize)) -> Loaded {
        Loaded { frame: Frame::new(domains, items), channel_mix: BTreeMap::new(), first: None, last: None }
    }

    /// Adds the rows read after these.
    fn append(&mut self, later: &Loaded) {
        self.frame.append(&later.frame);
        for (channel, n) in &later.channel_mix {
            match self.channel_mix.get_mut(channel) {
                Some(total) => *total += n,
                None => {
                    self.channel_mix.insert(channel.clone(), *n);
                }
            }
        }
        self.first = self.first.into_iter().chain(later.first).min();
        self.last = self.last.into_iter().chain(later.last).max();
    }

    /// Empties it for the next part, keeping the memory.
    fn clear(&mut self) {
        self.frame.clear();
        self.channel_mix.clear();
        self.first = None;
        self.last = None;
    }
}

/// About how many rows `read_frame` reads as one part.
const PART_ROWS: usize = 16_384;

/// Reads the rows a report pools into a `Frame`. Reading a row costs about
/// as much as everything done with it later, so the response ids are cut
/// into parts of about `PART_ROWS` rows, read alternately on two
/// connections side by side and joined in order: the same frame as one
/// read, in about half the time. The frame's columns are sized once from a
/// count, and each side reuses a part's worth of memory: a million rows
/// then touch their own memory once, which matters on a virtual machine
/// where memory handed back and taken again is slow to fault in.
fn read_frame(db: &Db, conn: &mut DbConn, request: &Read<'_>, shape: (usize, usize)) -> Result<Loaded, StorageError> {
    let read = |conn: &mut DbConn, ids, into: &mut Loaded| read_part(conn, request, ids, into);
    let mut loaded = Loaded::new(shape);
    // The period's size and id range, from the index of rows per day.
    let (from, to) = request.window;
    let (from, to) = (from.unwrap_or(NaiveDate::MIN), to.unwrap_or(NaiveDate::MAX));
    let days: Vec<_> = crate::storage::results::per_day(conn, request.survey_id)?
        .into_iter()
        .filter(|d| d.day >= from && d.day <= to)
        .collect();
    let (Some(first), Some(last)) = (days.iter().map(|d| d.first_id).min(), days.iter().map(|d| d.last_id).max())
    else {
        return Ok(loaded);
    };
    let total = days.iter().map(|d| usize::try_from(d.rows).unwrap_or(0)).sum();
    loaded.frame.reserve(total);
    let parts = parts(first..=last, total);
    let spare = if parts.len() > 1 { db.get_spare() } else { None };
    let Some(mut spare) = spare else {
        read(conn, first..=last, &mut loaded)?;
        return Ok(loaded);
    };
    std::thread::scope(|scope| {
        // The other side reads the odd parts and hands each over; the
        // part comes back empty to be filled again.
        let (handed, receive) = std::sync::mpsc::sync_channel::<Result<Loaded, StorageError>>(1);
        let (give_back, returned) = std::sync::mpsc::channel::<Loaded>();
        let odd: Vec<_> = parts.iter().skip(1).step_by(2).cloned().collect();
        scope.spawn(move || {
            for ids in odd {
                let mut part = returned.try_recv().unwrap_or_else(|_| Loaded::new(shape));
                part.clear();
                let result = read(&mut spare, ids, &mut part).map(|()| part);
                let failed = result.is_err();
                if handed.send(result).is_err() || failed {
                    return;
                }
            }
        });
        let mut own = Loaded::new(shape);
        for (k, ids) in parts.into_iter().enumerate() {
            if k % 2 == 0 {
                own.clear();
                read(conn, ids, &mut own)?;
                loaded.append(&own);
            } else {
                // A closed channel means the other side panicked; the
                // scope passes the panic on when it ends.
                let Ok(part) = receive.recv() else { break };
                let part = part?;
                loaded.append(&part);
                let _ = give_back.send(part);
            }
        }
        Ok(loaded)
    })
}

/// The response ids `ids` cut into runs of equal width holding about
/// `PART_ROWS` of the `rows` each, at least two when there are rows to share.
fn parts(ids: std::ops::RangeInclusive<i64>, rows: usize) -> Vec<std::ops::RangeInclusive<i64>> {
    let (first, last) = (*ids.start(), *ids.end());
    let span = (last - first).saturating_add(1).max(1);
    let count = i64::try_from(rows.div_ceil(PART_ROWS)).unwrap_or(i64::MAX).max(2).min(span);
    let width = span / count + i64::from(span % count != 0);
    (0..count)
        .map(|k| first + k * width)
        .take_while(|&start| start <= last)
        .map(|start| start..=(start + width - 1).min(last))
        .collect()
}

/// One part of `read_frame`: the pooled rows among the response ids `ids`,
/// added to `into`.
fn read_part(
    conn: &mut DbConn,
    request: &Read<'_>,
    ids: std::ops::RangeInclusive<i64>,
    into: &mut Loaded,
) -> Result<(), StorageError> {
    let (domains, items) = (into.frame.domains.len(), into.frame.items);
    let (pooled, same_questions) = (request.pooled, request.same_questions);
    let mut row = Row::default();
    // The dates are checked here, not in SQL: the rows come in response
    // order through the (survey, response) index either way, and a date
    // test per row in the query cost a fifth of the read.
    let (from, to) = request.window;
    let (from, to) = (from.unwrap_or(NaiveDate::MIN), to.unwrap_or(NaiveDate::MAX));
    crate::storage::results::each_for_report(conn, request.survey_id, (None, None), ids, None, |_, r| {
        let channel = r.texts().channel;
        if !pooled.get(&r.survey_version_id).copied().unwrap_or(false) || r.submitted_on < from || r.submitted_on > to {
            return ControlFlow::Continue(());
        }
        match into.channel_mix.get_mut(channel) {
            Some(n) => *n += 1,
            None => {
                into.channel_mix.insert(channel.to_string(), 1);
            }
        }
        into.first = Some(into.first.map_or(r.submitted_on, |f| f.min(r.submitted_on)));
        into.last = Some(into.last.map_or(r.submitted_on, |l| l.max(r.submitted_on)));
        let same = same_questions.get(&r.survey_version_id).copied().unwrap_or(false);
        fill_row(&mut row, &r, domains, items, same);
        into.frame.push(&row);
        ControlFlow::Continue(())
    })?;
    Ok(())
}

/// A stored result as the index reads it, written over `row` so a million
/// rows reuse one row's buffers; answers only from versions whose question
/// list is the latest's (`same_questions`), so columns line up.
pub fn fill_row(row: &mut Row, r: &ReportRow, domains: usize, items: usize, same_questions: bool) {
    let t = r.texts();
    let text = |v: Option<&str>| v.map(CompactString::from);
    row.version = r.survey_version_id;
    row.channel = t.channel.into();
    row.mode = text(Some(t.mode).filter(|m| !m.is_empty()));
    row.voice = text(t.voice);
    row.ics = text(t.ics_code);
    row.age_band = text(t.age_band);
    row.sex = text(t.sex);
    row.ethnicity = text(t.ethnicity);
    row.long_term_condition = text(t.long_term_condition);
    row.imd_quintile = r.imd_quintile;
    row.base_weight = r.base_weight;
    row.index = r.index_score;
    record::parse_scores_into(t.domain_scores, domains, &mut row.domains);
    if same_questions {
        record::parse_choices_into(t.choices, items, &mut row.choices);
    } else {
        row.choices.clear();
        row.choices.resize(items, 0);
    }
}

/// Releases already read, by survey, period and variant: a stored release
/// never changes, so an entry never goes stale; the oldest go when there
/// are many.
pub struct ReleaseCache {
    entries: quick_cache::sync::Cache<(String, String, String), Arc<Report>>,
    stats: ReleaseStats,
}

/// How the release cache does, for the metrics page.
#[derive(Clone)]
pub struct ReleaseStats {
    /// Releases answered from memory.
    pub hits: Counter,
    /// Releases read from the database or computed.
    pub misses: Counter,
    /// Seconds to read or compute a release not in memory.
    pub build: Histogram,
}

impl Default for ReleaseCache {
    fn default() -> Self {
        let stats = ReleaseStats {
            hits: Counter::default(),
            misses: Counter::default(),
            build: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        };
        ReleaseCache { entries: quick_cache::sync::Cache::new(32), stats }
    }
}

impl ReleaseCache {
    pub fn stats(&self) -> &ReleaseStats {
        &self.stats
    }

    /// The releases a request asks for, from memory, the database, or
    /// computed and stored (blocking: run it off the async workers).
    pub fn releases(
        &self,
        db: &Db,
        registry: &SurveyRegistry,
        request: &Request,
        today: NaiveDate,
    ) -> Result<Vec<Arc<Report>>, ReportError> {
        let periods = {
            let mut conn = db.get()?;
            resolve(&mut conn, registry, request, today)?
        };
        let variant = request.options.variant();
        periods
            .into_iter()
            .map(|period| {
                let key = (request.survey_id.clone(), period.to_string(), variant.clone());
                if let Some(report) = self.entries.get(&key) {
                    self.stats.hits.inc();
                    return Ok(report);
                }
                self.stats.misses.inc();
                let began = std::time::Instant::now();
                let report = Arc::new(release(db, registry, &request.survey_id, period, request.options)?);
                self.stats.build.observe(began.elapsed().as_secs_f64());
                self.entries.insert(key, report.clone());
                Ok(report)
            })
            .collect()
    }
}

/// Margins tried against the respondents there are: each survey's latest
/// closed release is computed afresh (nothing is stored) with the margins
/// now in use, and every ICS whose margins its respondents cannot meet is
/// named, by survey, sample and group. Those ICSs' figures are then not
/// estimable (England counts them at their population total); everything
/// else is weighted as usual.
pub fn margins_not_met(db: &Db, registry: &SurveyRegistry, today: NaiveDate) -> Result<Vec<String>, ReportError> {
    let mut ids: Vec<String> = registry.all().map(|s| s.definition.id.clone()).collect();
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for survey_id in ids {
        let periods = {
            let mut conn = db.get()?;
            periods(&mut conn, &survey_id)?
        };
        let Some((period, _)) = periods.into_iter().rev().find(|(p, _)| p.is_closed(today)) else { continue };
        let report = compute_on(db, registry, &survey_id, period, ReleaseOptions::new(disclosure::FLOOR), None)?;
        for s in &report.results.samples {
            for w in s.weighting.iter().filter(|w| !w.margins_not_met.is_empty()) {
                out.push(format!(
                    "{survey_id}, release {period}, {} sample, {}: {}",
                    s.sample.code(),
                    w.group,
                    w.margins_not_met.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{PART_ROWS, parts};

    /// A release with only open-link respondents says on its provenance
    /// (so on every output) that every figure is self-selected.
    #[test]
    fn an_open_link_only_release_says_so() {
        use crate::index::results::{Results, SampleSummary};
        use crate::index::sample::Sample;
        let mut results = Results::empty(30);
        results.headline = Some(Sample::OpenLink);
        results.samples =
            vec![SampleSummary { sample: Sample::OpenLink, respondents: 120, weighting: Vec::new(), funnel: None }];
        let text = super::samples_description(&results);
        assert!(text.contains("open_link (self-selected (indicative)"), "{text}");
        assert!(text.contains("the headline"), "{text}");
        assert!(
            text.contains("no invited respondents, so every figure is self-selected and indicative only"),
            "{text}"
        );
        results.headline = Some(Sample::Invitation);
        results.samples.insert(
            0,
            SampleSummary { sample: Sample::Invitation, respondents: 900, weighting: Vec::new(), funnel: None },
        );
        let text = super::samples_description(&results);
        assert!(text.contains("invitation (probability sample (invited people), the headline)"), "{text}");
        assert!(!text.contains("no invited respondents"), "{text}");
    }

    /// The parts cover the ids exactly once, in order, without gaps.
    fn assert_tiles(ids: std::ops::RangeInclusive<i64>, cut: &[std::ops::RangeInclusive<i64>]) {
        assert_eq!(cut.first().map(|p| *p.start()), Some(*ids.start()));
        assert_eq!(cut.last().map(|p| *p.end()), Some(*ids.end()));
        for pair in cut.windows(2) {
            assert_eq!(*pair[0].end() + 1, *pair[1].start(), "{cut:?}");
        }
        assert!(cut.iter().all(|p| p.start() <= p.end()), "{cut:?}");
    }

    #[test]
    fn a_million_rows_are_read_in_parts_of_about_part_rows() {
        let cut = parts(1..=1_000_000, 1_000_000);
        assert_tiles(1..=1_000_000, &cut);
        assert_eq!(cut.len(), 1_000_000usize.div_ceil(PART_ROWS));
    }

    #[test]
    fn a_few_rows_are_still_shared_between_two_readers() {
        let cut = parts(10..=20, 5);
        assert_tiles(10..=20, &cut);
        assert_eq!(cut.len(), 2);
    }

    #[test]
    fn a_single_id_is_one_part() {
        assert_eq!(parts(7..=7, 1), vec![7..=7]);
    }

    #[test]
    fn sparse_ids_give_parts_of_equal_width() {
        let cut = parts(100..=1_000_099, 40_000);
        assert_tiles(100..=1_000_099, &cut);
        assert_eq!(cut.len(), 3);
        assert!(cut.iter().all(|p| p.end() - p.start() < 333_334), "{cut:?}");
    }
}

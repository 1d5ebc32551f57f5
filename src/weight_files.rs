//! `joinedup weight`: the CSV files around the pure weighting engine, for
//! analysts who weight their own data. Every bad row is reported with its
//! line number, and nothing is written unless everything succeeded.
//!
//! respondents.csv: `id`, `ics`, one column per dimension named in the
//! margins (empty = preferred not to say), optional `base_weight`; other
//! columns are ignored unless named by `--estimate` or `--by`.
//! margins.csv: `ics`, `dimension`, `category`, `population`, optional
//! `collapse_into`. `ics` may be any label used the same way in both files.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::weighting::{self, DimensionMargins, Population, Respondents, TrimControl, Weighted, WeightingSpec};

/// What `joinedup weight` was asked to do.
#[derive(Debug, Clone)]
pub struct WeightJob {
    pub respondents: PathBuf,
    pub margins: PathBuf,
    pub out: PathBuf,
    pub trim: Option<f64>,
    pub min_respondents: usize,
    pub estimate: Option<String>,
    pub by: Option<String>,
    pub estimates_out: Option<PathBuf>,
}

/// The respondents file, read and checked against the margins.
struct RespondentFile {
    ids: Vec<String>,
    respondents: Respondents,
    /// The `--estimate` column (None where empty).
    values: Vec<Option<f64>>,
    /// The `--by` column as group indices, with the group labels.
    groups: Vec<Option<u32>>,
    group_labels: Vec<String>,
}

fn csv_reader(path: &Path) -> anyhow::Result<csv::Reader<std::fs::File>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(file))
}

fn column(headers: &csv::StringRecord, name: &str, path: &Path) -> anyhow::Result<usize> {
    headers.iter().position(|h| h == name).with_context(|| {
        format!(
            "{}: no `{name}` column (the header is: {})",
            path.display(),
            headers.iter().collect::<Vec<_>>().join(",")
        )
    })
}

fn positive(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0)
}

/// Reads margins.csv into a `Population` (dimensions in first-seen order).
fn read_margins(path: &Path) -> anyhow::Result<Population> {
    let mut reader = csv_reader(path)?;
    let headers = reader.headers()?.clone();
    let (c_ics, c_dim, c_cat, c_pop) = (
        column(&headers, "ics", path)?,
        column(&headers, "dimension", path)?,
        column(&headers, "category", path)?,
        column(&headers, "population", path)?,
    );
    let c_into = headers.iter().position(|h| h == "collapse_into");
    let mut strata: Vec<String> = Vec::new();
    let mut dims: Vec<(String, Vec<String>)> = Vec::new();
    let mut rows: Vec<(usize, usize, usize, f64, Option<String>, u64)> = Vec::new();
    let mut seen: HashMap<(usize, usize, usize), u64> = HashMap::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{}: cannot read a row", path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let get = |c: usize| record.get(c).unwrap_or("").to_string();
        let (ics, dim, cat, pop) = (get(c_ics), get(c_dim), get(c_cat), get(c_pop));
        if ics.is_empty() || dim.is_empty() || cat.is_empty() {
            bail!("{} line {line}: `ics`, `dimension` and `category` must all be filled in", path.display());
        }
        let Some(population) = positive(&pop) else {
            bail!("{} line {line}: population `{pop}` must be a positive number", path.display());
        };
        let h = index_of(&mut strata, &ics);
        let d = dims.iter().position(|(n, _)| *n == dim).unwrap_or_else(|| {
            dims.push((dim.clone(), Vec::new()));
            dims.len() - 1
        });
        let c = index_of(&mut dims[d].1, &cat);
        if let Some(first) = seen.insert((h, d, c), line) {
            bail!("{} line {line}: `{ics}` `{dim}` `{cat}` is already given on line {first}", path.display());
        }
        let into = c_into.map(get).filter(|s| !s.is_empty());
        rows.push((h, d, c, population, into, line));
    }
    if rows.is_empty() {
        bail!("{}: no margins", path.display());
    }
    let mut dimensions: Vec<DimensionMargins> = dims
        .iter()
        .map(|(name, cats)| DimensionMargins {
            name: name.clone(),
            categories: cats.clone(),
            population: vec![vec![None; cats.len()]; strata.len()],
            collapse_into: vec![vec![None; cats.len()]; strata.len()],
        })
        .collect();
    for (h, d, c, population, into, line) in rows {
        let dim = &mut dimensions[d];
        dim.population[h][c] = Some(population);
        if let Some(into) = into {
            let Some(target) = dim.categories.iter().position(|x| *x == into) else {
                bail!("{} line {line}: collapse_into `{into}` is not a `{}` category", path.display(), dim.name);
            };
            dim.collapse_into[h][c] = Some(target as u32);
        }
    }
    Ok(Population { strata, dimensions })
}

fn index_of(list: &mut Vec<String>, value: &str) -> usize {
    list.iter().position(|x| x == value).unwrap_or_else(|| {
        list.push(value.to_string());
        list.len() - 1
    })
}

fn read_respondents(
    path: &Path,
    population: &Population,
    job: &WeightJob,
    progress: &ProgressBar,
) -> anyhow::Result<RespondentFile> {
    let mut reader = csv_reader(path)?;
    let headers = reader.headers()?.clone();
    let (c_id, c_ics) = (column(&headers, "id", path)?, column(&headers, "ics", path)?);
    let c_dims: Vec<usize> =
        population.dimensions.iter().map(|d| column(&headers, &d.name, path)).collect::<Result<_, _>>()?;
    let c_weight = headers.iter().position(|h| h == "base_weight");
    let c_estimate = job.estimate.as_deref().map(|c| column(&headers, c, path)).transpose()?;
    let c_by = job.by.as_deref().map(|c| column(&headers, c, path)).transpose()?;
    let strata: HashMap<&str, u32> =
        population.strata.iter().enumerate().map(|(i, s)| (s.as_str(), i as u32)).collect();
    let categories: Vec<HashMap<&str, u32>> = population
        .dimensions
        .iter()
        .map(|d| d.categories.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect())
        .collect();
    let mut file = RespondentFile {
        ids: Vec::new(),
        respondents: Respondents { categories: vec![Vec::new(); c_dims.len()], ..Respondents::default() },
        values: Vec::new(),
        groups: Vec::new(),
        group_labels: Vec::new(),
    };
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).with_context(|| format!("{}: cannot read a row", path.display()))? {
        let line = record.position().map_or(0, |p| p.line());
        progress.set_position(record.position().map_or(0, |p| p.byte()));
        let get = |c: usize| record.get(c).unwrap_or("");
        let id = get(c_id);
        if id.is_empty() {
            bail!("{} line {line}: `id` is empty", path.display());
        }
        if let Some(first) = ids.insert(id.to_string(), line) {
            bail!("{} line {line}: id `{id}` is already used on line {first}", path.display());
        }
        let ics = get(c_ics);
        let Some(&h) = strata.get(ics) else {
            bail!("{} line {line}: ICS `{ics}` has no margins in {}", path.display(), job.margins.display());
        };
        for (d, &c) in c_dims.iter().enumerate() {
            let value = get(c);
            let category = if value.is_empty() {
                None
            } else {
                let Some(&k) = categories[d].get(value) else {
                    let dim = &population.dimensions[d];
                    bail!(
                        "{} line {line}: `{}` = `{value}` is not a category in the margins (known: {})",
                        path.display(),
                        dim.name,
                        dim.categories.join(", ")
                    );
                };
                Some(k)
            };
            file.respondents.categories[d].push(category);
        }
        let weight = match c_weight.map(get).filter(|w| !w.is_empty()) {
            None => 1.0,
            Some(text) => positive(text).with_context(|| {
                format!("{} line {line}: base_weight `{text}` must be a positive number", path.display())
            })?,
        };
        if let Some(c) = c_estimate {
            let text = get(c);
            let value = if text.is_empty() {
                None
            } else {
                Some(text.parse::<f64>().ok().filter(|v| v.is_finite()).with_context(|| {
                    format!(
                        "{} line {line}: `{}` = `{text}` is not a number",
                        path.display(),
                        job.estimate.as_deref().unwrap_or("")
                    )
                })?)
            };
            file.values.push(value);
        }
        if let Some(c) = c_by {
            let text = get(c);
            file.groups.push((!text.is_empty()).then(|| index_of(&mut file.group_labels, text) as u32));
        }
        file.ids.push(id.to_string());
        file.respondents.stratum.push(h);
        file.respondents.base_weight.push(weight);
    }
    if file.ids.is_empty() {
        bail!("{}: no respondents", path.display());
    }
    Ok(file)
}

/// Writes through a temporary file in the same folder, so a failure
/// never leaves a partial file behind.
fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    {
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut out).with_context(|| format!("cannot write {}", path.display()))?;
        out.flush()?;
    }
    tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Runs `joinedup weight`; diagnostics go to stderr.
pub fn run(job: &WeightJob) -> anyhow::Result<()> {
    let started = Instant::now();
    let population = read_margins(&job.margins)?;
    let size = std::fs::metadata(&job.respondents).map(|m| m.len()).unwrap_or(0);
    let reading = ProgressBar::new(size).with_message("reading respondents");
    reading.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}").expect("valid template"));
    let file = read_respondents(&job.respondents, &population, job, &reading)?;
    reading.finish_and_clear();
    if job.estimates_out.is_some() != job.estimate.is_some() {
        bail!("--estimate and --estimates-out go together");
    }
    let spec = WeightingSpec {
        trim: job.trim.map(|cap| TrimControl { cap, ..TrimControl::default() }),
        min_respondents: job.min_respondents,
        ..WeightingSpec::default()
    };
    if let Some(k) = job.trim
        && !(k > 1.0 && k.is_finite())
    {
        bail!("--trim must be a number above 1 (the cap is that many times the ICS mean weight)");
    }
    let busy = spinner(&format!("weighting {} respondents in {} ICSs", file.ids.len(), population.strata.len()));
    let weighted = weighting::weight(&file.respondents, &population, &spec);
    busy.finish_and_clear();
    let weighted = weighted?;
    let estimates = match &job.estimate {
        Some(_) => Some(estimate_rows(&file, &population, &weighted)?),
        None => None,
    };
    write_atomically(&job.out, |out| {
        writeln!(out, "id,weight")?;
        for (id, w) in file.ids.iter().zip(&weighted.weights) {
            writeln!(out, "{},{w}", csv_field(id))?;
        }
        Ok(())
    })?;
    if let (Some(path), Some(rows)) = (&job.estimates_out, estimates) {
        write_atomically(path, |out| {
            let by = job.by.as_deref().map(|b| format!(",{b}")).unwrap_or_default();
            writeln!(out, "ics{by},n,sum_w,n_eff,estimate,se,ci_low,ci_high,deff,n_eff_design")?;
            for row in rows {
                writeln!(out, "{row}")?;
            }
            Ok(())
        })?;
    }
    print_diagnostics(&weighted, started.elapsed());
    Ok(())
}

/// Full-precision numbers in the estimates file: one row per ICS (× `--by`
/// group), then the same over every ICS (`(all)`). An ICS of one respondent
/// is centred at the grand mean as R's `lonely.psu = "adjust"` does, so it
/// has a standard error (methodology §10). A figure that cannot be
/// estimated (a design effect from one respondent, or from scores that do
/// not vary) is left empty, never written as NaN.
fn estimate_rows(file: &RespondentFile, population: &Population, weighted: &Weighted) -> anyhow::Result<Vec<String>> {
    let design = weighted.design(&file.respondents);
    let y: Vec<f64> = file.values.iter().map(|v| v.unwrap_or(0.0)).collect();
    let n_groups = file.group_labels.len().max(1);
    let by_of = |i: usize| if file.groups.is_empty() { Some(0) } else { file.groups[i] };
    let mut group: Vec<Option<u32>> = Vec::with_capacity(y.len());
    let mut overall: Vec<Option<u32>> = Vec::with_capacity(y.len());
    for (i, value) in file.values.iter().enumerate() {
        let by = value.and(by_of(i));
        group.push(by.map(|g| file.respondents.stratum[i] * n_groups as u32 + g));
        overall.push(by);
    }
    let estimates = design.means_by(&y, &group, population.strata.len() * n_groups);
    let totals = design.means_by(&y, &overall, n_groups);
    let mut labels: Vec<(String, String, weighting::Estimate)> = Vec::new();
    for (h, ics) in population.strata.iter().enumerate() {
        for g in 0..n_groups {
            let label = file.group_labels.get(g).cloned().unwrap_or_default();
            labels.push((ics.clone(), label, estimates[h * n_groups + g]));
        }
    }
    labels.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    for (g, e) in totals.iter().enumerate() {
        labels.push(("(all)".into(), file.group_labels.get(g).cloned().unwrap_or_default(), *e));
    }
    let finite = |v: f64| if v.is_finite() { v.to_string() } else { String::new() };
    let mut rows = Vec::new();
    for (ics, label, e) in labels {
        if e.n == 0 {
            continue;
        }
        if !(e.estimate.is_finite() && e.se.is_finite()) {
            bail!("ICS {ics}: the estimate or its standard error is not a number (are the weights finite?)");
        }
        let by = if file.groups.is_empty() { String::new() } else { format!(",{}", csv_field(&label)) };
        rows.push(format!(
            "{}{by},{},{},{},{},{},{},{},{},{}",
            csv_field(&ics),
            e.n,
            e.sum_w,
            e.n_eff,
            e.estimate,
            e.se,
            e.estimate - weighting::Z95 * e.se,
            e.estimate + weighting::Z95 * e.se,
            finite(e.deff),
            finite(e.n as f64 / e.deff),
        ));
    }
    Ok(rows)
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

fn print_diagnostics(weighted: &Weighted, elapsed: Duration) {
    eprintln!(
        "{:<12} {:>7} {:>6} {:>5} {:>10} {:>12} {:>12} {:>9} {:>6}  status",
        "ics", "n", "cycles", "trims", "max error", "min weight", "max weight", "n_eff", "deff"
    );
    let mut statuses: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &weighted.strata {
        *statuses.entry(s.status.describe()).or_default() += 1;
        eprintln!(
            "{:<12} {:>7} {:>6} {:>5} {:>10.2e} {:>12.3} {:>12.3} {:>9.1} {:>6.3}  {}",
            s.ics,
            s.respondents,
            s.cycles,
            s.trim_iterations,
            s.max_margin_error,
            s.min_weight,
            s.max_weight,
            s.n_eff,
            s.design_effect,
            s.status.describe()
        );
    }
    let summary: Vec<String> = statuses.iter().map(|(k, v)| format!("{v} {k}")).collect();
    eprintln!(
        "weighted {} respondents in {:.2} s: {}",
        weighted.weights.len(),
        elapsed.as_secs_f64(),
        summary.join(", ")
    );
}

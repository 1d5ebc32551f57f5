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
use rayon::prelude::*;
use rustc_hash::FxHashMap;

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
    /// Print how long each phase took (stderr), to see where time goes.
    pub timings: bool,
}

/// Respondent ids in one buffer: a million small strings would be a
/// million allocations, on reading and again on freeing.
#[derive(Default)]
struct Ids {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Ids {
    fn push(&mut self, id: &[u8]) {
        self.bytes.extend_from_slice(id);
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// The respondents file, read and checked against the margins.
struct RespondentFile {
    /// Fields in each row of a part read without its header (csv checks
    /// every row against the part's first; that one against the header).
    fields: Option<usize>,
    ids: Ids,
    /// Each respondent's line in the file, for messages.
    lines: Vec<u64>,
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

/// Text of a field for messages (the file need not be UTF-8 there).
fn shown(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// How often (in rows) the progress bar moves: often enough to watch,
/// rarely enough to cost nothing.
const PROGRESS_EVERY: usize = 1 << 16;

/// Where each needed column is, by position.
struct Columns {
    id: usize,
    ics: usize,
    dims: Vec<usize>,
    weight: Option<usize>,
    estimate: Option<usize>,
    by: Option<usize>,
}

/// The labels a row's fields are looked up in.
struct Lookup<'a> {
    strata: FxHashMap<&'a [u8], u32>,
    /// A dimension has a handful of categories: a scan beats hashing.
    categories: Vec<Vec<&'a [u8]>>,
}

/// A file this size or more, with no quoted fields, is parsed in parts
/// on every core: a record then never spans a line break, so the file can
/// be cut at any line.
const PARALLEL_FROM_BYTES: usize = 1 << 20;

fn read_respondents(
    path: &Path,
    population: &Population,
    job: &WeightJob,
    progress: &ProgressBar,
) -> anyhow::Result<RespondentFile> {
    use std::io::{Read, Seek, SeekFrom};
    let open = || std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()));
    let metadata = open()?.metadata().with_context(|| format!("cannot read {}", path.display()))?;
    // A pipe or other stream can be read once only: into memory, whole.
    let streamed = if metadata.is_file() { None } else { Some(std::fs::read(path)?) };
    let size = streamed.as_ref().map_or(metadata.len() as usize, Vec::len);
    let mut head = vec![0u8; size.min(64 << 10)];
    match &streamed {
        Some(bytes) => {
            let n = head.len();
            head.copy_from_slice(&bytes[..n]);
        }
        None => open()?.read_exact(&mut head).with_context(|| format!("cannot read {}", path.display()))?,
    }
    // The header as csv reads it, however long; fields are trimmed one
    // by one as they are used: trimming every field of every row (csv's
    // Trim::All) rebuilds each record.
    let headers: csv::StringRecord = match &streamed {
        Some(bytes) => csv::ReaderBuilder::new().from_reader(&bytes[..]).headers()?.clone(),
        None => csv::ReaderBuilder::new().from_reader(open()?).headers()?.clone(),
    }
    .iter()
    .map(str::trim)
    .collect();
    let columns = Columns {
        id: column(&headers, "id", path)?,
        ics: column(&headers, "ics", path)?,
        dims: population.dimensions.iter().map(|d| column(&headers, &d.name, path)).collect::<Result<_, _>>()?,
        weight: headers.iter().position(|h| h == "base_weight"),
        estimate: job.estimate.as_deref().map(|c| column(&headers, c, path)).transpose()?,
        by: job.by.as_deref().map(|c| column(&headers, c, path)).transpose()?,
    };
    let lookup = Lookup {
        strata: population.strata.iter().enumerate().map(|(i, s)| (s.as_bytes(), i as u32)).collect(),
        categories: population.dimensions.iter().map(|d| d.categories.iter().map(|c| c.as_bytes()).collect()).collect(),
    };
    let rows = estimated_rows(size, &head);
    let whole = || -> anyhow::Result<RespondentFile> {
        let read;
        let bytes = match &streamed {
            Some(bytes) => bytes,
            None => {
                read = std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
                &read
            }
        };
        let file = parse_rows(&bytes[..], true, 0, rows, &columns, &lookup, population, job, path, Some(progress))?;
        if file.ids.is_empty() {
            bail!("{}: no respondents", path.display());
        }
        Ok(file)
    };
    // Cut points at line starts, found in a small window around each even
    // share of the file; any doubt (no line end near, a quoted field
    // anywhere, a problem in a part) and the file is read whole, in one
    // piece, which also gives a problem its exact line.
    let parts = rayon::current_num_threads();
    let header_end = head.iter().position(|&b| b == b'\n').map(|i| i + 1);
    let cuts = match header_end {
        Some(start) if streamed.is_none() && parts > 1 && size >= PARALLEL_FROM_BYTES && !head.contains(&b'"') => {
            let mut cuts = vec![start];
            for k in 1..parts {
                let at = start + (size - start) * k / parts;
                let mut window = vec![0u8; (64 << 10).min(size - at)];
                let mut file = open()?;
                file.seek(SeekFrom::Start(at as u64))?;
                file.read_exact(&mut window)?;
                match window.iter().position(|&b| b == b'\n') {
                    Some(i) if at + i + 1 > *cuts.last().unwrap_or(&0) => cuts.push(at + i + 1),
                    _ => break,
                }
            }
            cuts.push(size);
            (cuts.len() == parts + 1).then_some(cuts)
        }
        _ => None,
    };
    let Some(cuts) = cuts else { return whole() };
    let parsed: Vec<Option<(RespondentFile, u64)>> = cuts
        .windows(2)
        .collect::<Vec<_>>()
        .into_par_iter()
        .enumerate()
        .map(|(k, w)| {
            let mut chunk = vec![0u8; w[1] - w[0]];
            let mut file = open().ok()?;
            file.seek(SeekFrom::Start(w[0] as u64)).ok()?;
            file.read_exact(&mut chunk).ok()?;
            if chunk.contains(&b'"') {
                return None;
            }
            let newlines = chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            // The first part holds every row in the end: room for all.
            let room = if k == 0 { rows } else { rows / parts + 1 };
            let progress = (k == 0).then_some(progress);
            let part = parse_rows(&chunk, false, 0, room, &columns, &lookup, population, job, path, progress).ok()?;
            // Each part checks its rows against its first; the first row of
            // every part is checked against the header here.
            if part.fields.is_some_and(|n| n != headers.len()) {
                return None;
            }
            Some((part, newlines))
        })
        .collect();
    if parsed.iter().any(Option::is_none) {
        return whole();
    }
    let mut parsed = parsed.into_iter().flatten();
    let (mut file, mut lines_before) = parsed.next().expect("at least one part");
    // Lines count from the header's (1); each part's from its own start.
    file.lines.iter_mut().for_each(|l| *l += 1);
    lines_before += 1;
    for (mut part, newlines) in parsed {
        part.lines.iter_mut().for_each(|l| *l += lines_before);
        lines_before += newlines;
        file.append(part);
    }
    if file.ids.is_empty() {
        bail!("{}: no respondents", path.display());
    }
    Ok(file)
}

impl RespondentFile {
    /// Adds the rows of a later part of the same file.
    fn append(&mut self, part: RespondentFile) {
        let base = self.ids.bytes.len();
        self.ids.bytes.extend_from_slice(&part.ids.bytes);
        self.ids.ends.extend(part.ids.ends.iter().map(|e| e + base));
        self.lines.extend(part.lines);
        self.respondents.stratum.extend(part.respondents.stratum);
        self.respondents.base_weight.extend(part.respondents.base_weight);
        for (mine, theirs) in self.respondents.categories.iter_mut().zip(part.respondents.categories) {
            mine.extend(theirs);
        }
        self.values.extend(part.values);
        let relabel: Vec<u32> = part.group_labels.iter().map(|l| index_of(&mut self.group_labels, l) as u32).collect();
        self.groups.extend(part.groups.into_iter().map(|g| g.map(|g| relabel[g as usize])));
    }
}

/// Parses respondents' rows: `data` is the whole file (`with_header`) or
/// a part of its body whose first line is line `line_offset + 1`.
#[allow(clippy::too_many_arguments)] // one part of one file: these belong together
fn parse_rows(
    data: &[u8],
    with_header: bool,
    line_offset: u64,
    rows: usize,
    columns: &Columns,
    lookup: &Lookup<'_>,
    population: &Population,
    job: &WeightJob,
    path: &Path,
    progress: Option<&ProgressBar>,
) -> anyhow::Result<RespondentFile> {
    let mut reader = csv::ReaderBuilder::new().has_headers(with_header).from_reader(data);
    let mut file = RespondentFile {
        fields: None,
        ids: Ids::default(),
        lines: Vec::new(),
        respondents: Respondents { categories: vec![Vec::new(); columns.dims.len()], ..Respondents::default() },
        values: Vec::new(),
        groups: Vec::new(),
        group_labels: Vec::new(),
    };
    // Room for every row at once: growing vectors of a million rows by
    // doubling costs more in page faults than the parsing itself.
    file.ids.bytes.reserve(rows * 8);
    file.ids.ends.reserve(rows);
    file.lines.reserve(rows);
    file.respondents.stratum.reserve(rows);
    file.respondents.base_weight.reserve(rows);
    for d in &mut file.respondents.categories {
        d.reserve(rows);
    }
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).with_context(|| format!("{}: cannot read a row", path.display()))? {
        let line = line_offset + record.position().map_or(0, |p| p.line());
        file.fields.get_or_insert(record.len());
        if let Some(progress) = progress
            && file.lines.len().is_multiple_of(PROGRESS_EVERY)
        {
            progress.set_position(record.position().map_or(0, |p| p.byte()));
        }
        let get = |c: usize| record.get(c).unwrap_or(b"").trim_ascii();
        let id = get(columns.id);
        if id.is_empty() {
            bail!("{} line {line}: `id` is empty", path.display());
        }
        if std::str::from_utf8(id).is_err() {
            bail!("{} line {line}: id `{}` is not UTF-8 text", path.display(), shown(id));
        }
        let ics = get(columns.ics);
        let Some(&h) = lookup.strata.get(ics) else {
            bail!("{} line {line}: ICS `{}` has no margins in {}", path.display(), shown(ics), job.margins.display());
        };
        for (d, &c) in columns.dims.iter().enumerate() {
            let value = get(c);
            let category = if value.is_empty() {
                None
            } else {
                let Some(k) = lookup.categories[d].iter().position(|k| *k == value) else {
                    let dim = &population.dimensions[d];
                    bail!(
                        "{} line {line}: `{}` = `{}` is not a category in the margins (known: {})",
                        path.display(),
                        dim.name,
                        shown(value),
                        dim.categories.join(", ")
                    );
                };
                Some(k as u32)
            };
            file.respondents.categories[d].push(category);
        }
        let weight = match columns.weight.map(get).filter(|w| !w.is_empty()) {
            None => 1.0,
            Some(text) => std::str::from_utf8(text).ok().and_then(positive).with_context(|| {
                format!("{} line {line}: base_weight `{}` must be a positive number", path.display(), shown(text))
            })?,
        };
        if let Some(c) = columns.estimate {
            let text = get(c);
            let value = if text.is_empty() {
                None
            } else {
                let number = std::str::from_utf8(text).ok().and_then(|t| t.parse::<f64>().ok());
                Some(number.filter(|v| v.is_finite()).with_context(|| {
                    format!(
                        "{} line {line}: `{}` = `{}` is not a number",
                        path.display(),
                        job.estimate.as_deref().unwrap_or(""),
                        shown(text)
                    )
                })?)
            };
            file.values.push(value);
        }
        if let Some(c) = columns.by {
            let text = get(c);
            file.groups.push((!text.is_empty()).then(|| index_of(&mut file.group_labels, &shown(text)) as u32));
        }
        file.ids.push(id);
        file.lines.push(line);
        file.respondents.stratum.push(h);
        file.respondents.base_weight.push(weight);
    }
    Ok(file)
}

/// Rows in CSV text of `size` bytes, roughly, from the mean length of
/// the lines in `head` (a guess for reserving room, never for correctness).
fn estimated_rows(size: usize, head: &[u8]) -> usize {
    let lines = head.iter().filter(|&&b| b == b'\n').count();
    if lines < 2 {
        return 0;
    }
    let guess = size as f64 * lines as f64 / head.len() as f64 * 1.05;
    (guess as usize).min(100_000_000)
}

/// Ids must be unique. The table holds row numbers only (4 bytes each,
/// not a borrowed slice and a row: a million entries of those cost more
/// in fresh pages than the hashing), and compares the ids they point at.
fn check_unique_ids(file: &RespondentFile, path: &Path) -> anyhow::Result<()> {
    use std::hash::BuildHasher;
    let hasher = rustc_hash::FxBuildHasher;
    let hash = |i: u32| hasher.hash_one(file.ids.get(i as usize));
    let mut seen: hashbrown::HashTable<u32> = hashbrown::HashTable::with_capacity(file.ids.len());
    for (i, id) in file.ids.iter().enumerate() {
        let i = i as u32;
        match seen.entry(hasher.hash_one(id), |&j| file.ids.get(j as usize) == id, |&j| hash(j)) {
            hashbrown::hash_table::Entry::Occupied(first) => bail!(
                "{} line {}: id `{}` is already used on line {}",
                path.display(),
                file.lines[i as usize],
                shown(id),
                file.lines[*first.get() as usize]
            ),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }
    Ok(())
}

/// Writes through a temporary file in the same folder, so a failure
/// never leaves a partial file behind.
fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
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
    let mut phases = Phases::new(job.timings);
    let population = read_margins(&job.margins)?;
    phases.done("read margins");
    let size = std::fs::metadata(&job.respondents).map(|m| m.len()).unwrap_or(0);
    let reading = ProgressBar::new(size).with_message("reading respondents");
    reading.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}").expect("valid template"));
    let file = read_respondents(&job.respondents, &population, job, &reading)?;
    reading.finish_and_clear();
    phases.done("read respondents");
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
    // The id check needs nothing the weighting makes: it runs alongside.
    let (unique, weighted) = rayon::join(
        || check_unique_ids(&file, &job.respondents),
        || weighting::weight(&file.respondents, &population, &spec),
    );
    busy.finish_and_clear();
    unique?;
    let weighted = weighted?;
    phases.done("check ids and weight");
    let estimates = match &job.estimate {
        Some(_) => Some(estimate_rows(&file, &population, &weighted)?),
        None => None,
    };
    phases.done("estimate");
    write_atomically(&job.out, |out| write_weights(out, &file.ids, &weighted.weights))?;
    phases.done("write weights");
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
    phases.print();
    Ok(())
}

/// Wall time per phase of a run, for `--timings`.
struct Phases {
    on: bool,
    last: Instant,
    seen: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn new(on: bool) -> Phases {
        Phases { on, last: Instant::now(), seen: Vec::new() }
    }

    fn done(&mut self, phase: &'static str) {
        if self.on {
            let now = Instant::now();
            self.seen.push((phase, now - self.last));
            self.last = now;
        }
    }

    fn print(&self) {
        if self.on {
            let parts: Vec<String> = self.seen.iter().map(|(p, d)| format!("{p} {:.3} s", d.as_secs_f64())).collect();
            eprintln!("timings: {}", parts.join(", "));
        }
    }
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

/// `id,weight` lines: ids as read (quoted when they must be), weights in
/// the shortest form that reads back as the same number (`ryu`).
fn write_weights(out: &mut dyn Write, ids: &Ids, weights: &[f64]) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(64);
    let mut number = ryu::Buffer::new();
    out.write_all(b"id,weight\n")?;
    for (id, &w) in ids.iter().zip(weights) {
        line.clear();
        if id.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            line.push(b'"');
            for &b in id {
                if b == b'"' {
                    line.push(b'"');
                }
                line.push(b);
            }
            line.push(b'"');
        } else {
            line.extend_from_slice(id);
        }
        line.push(b',');
        line.extend_from_slice(number.format(w).as_bytes());
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_written_with_ids_quoted_as_csv_needs() {
        let mut ids = Ids::default();
        for id in ["7", "a,b", "say \"hi\"", "é"] {
            ids.push(id.as_bytes());
        }
        let mut out = Vec::new();
        write_weights(&mut out, &ids, &[1.0, 0.1 + 0.2, 88.6669080421249, 1e-7]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "id,weight\n7,1.0\n\"a,b\",0.30000000000000004\n\"say \"\"hi\"\"\",88.6669080421249\né,1e-7\n"
        );
        // Read back, every weight is the same number.
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let back: Vec<f64> = reader.records().map(|r| r.unwrap()[1].parse().unwrap()).collect();
        assert_eq!(back, [1.0, 0.1 + 0.2, 88.6669080421249, 1e-7]);
    }

    /// A file big enough to be read in parts, as `joinedup weight` gets it.
    fn read_in_parts(body: &str) -> anyhow::Result<RespondentFile> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("respondents.csv");
        std::fs::write(&path, format!("id,ics,sex\n{body}")).unwrap();
        let population = Population {
            strata: vec!["A".into(), "B".into()],
            dimensions: vec![DimensionMargins {
                name: "sex".into(),
                categories: vec!["female".into(), "male".into()],
                population: vec![vec![Some(1.0); 2]; 2],
                collapse_into: vec![vec![None; 2]; 2],
            }],
        };
        let job = WeightJob {
            respondents: path.clone(),
            margins: dir.path().join("margins.csv"),
            out: dir.path().join("w.csv"),
            trim: None,
            min_respondents: 10,
            estimate: None,
            by: None,
            estimates_out: None,
            timings: false,
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        pool.install(|| {
            let file = read_respondents(&path, &population, &job, &ProgressBar::hidden())?;
            check_unique_ids(&file, &path)?;
            Ok(file)
        })
    }

    #[test]
    fn a_file_read_in_parts_keeps_its_order_and_line_numbers() {
        let n = 120_000; // about 2 MB: three parts
        let body: String =
            (0..n).map(|i| format!("r{i},{},{}\n", ["A", "B"][i % 2], ["female", "male"][i % 3 % 2])).collect();
        let file = read_in_parts(&body).unwrap();
        assert_eq!(file.ids.len(), n);
        assert_eq!(file.ids.get(n - 1), format!("r{}", n - 1).as_bytes());
        assert!(file.lines.iter().enumerate().all(|(i, &l)| l == i as u64 + 2), "line i+2 holds row i");
        assert_eq!(file.respondents.stratum[n - 1], ((n - 1) % 2) as u32);
        // A repeated id far apart is named with both lines; so is a bad
        // category deep in a later part (read again whole for its line).
        let repeated = body.replacen(&format!("r{},", n - 10), "r5,", 1);
        let error = read_in_parts(&repeated).err().unwrap().to_string();
        assert!(error.ends_with(&format!("line {}: id `r5` is already used on line 7", n - 10 + 2)), "{error}");
        let wrong = body.replacen(&format!("r{},A,female", n - 4), &format!("r{},A,other", n - 4), 1);
        let error = read_in_parts(&wrong).err().unwrap().to_string();
        assert!(error.contains(&format!("line {}: `sex` = `other` is not a category", n - 4 + 2)), "{error}");
    }

    #[test]
    fn rows_short_of_the_header_are_refused_at_any_size() {
        // Every row lacks the header's last field: each part agrees with
        // itself, so only the header can tell.
        for n in [10, 120_000] {
            let body: String = (0..n).map(|i| format!("r{i},A\n")).collect();
            let error = read_in_parts(&body).err().map(|e| format!("{e:#}")).unwrap_or_default();
            assert!(error.contains("found record with 2 fields, but the previous record has 3"), "{n}: {error}");
        }
    }

    #[test]
    fn a_header_alone_is_no_respondents() {
        let error = read_in_parts("").err().unwrap().to_string();
        assert!(error.ends_with("respondents.csv: no respondents"), "{error}");
    }

    #[test]
    fn rows_are_estimated_from_the_first_lines() {
        let body: String = (0..10_000).map(|i| format!("{i},E54000008,female\n")).collect();
        let guess = estimated_rows(body.len(), &body.as_bytes()[..4096]);
        assert!((9_000..=12_000).contains(&guess), "{guess}");
        assert_eq!(estimated_rows(0, b""), 0);
    }
}

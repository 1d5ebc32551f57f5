//! Population margins an analyst uploads, beyond the bundled ONS age band ×
//! sex figures: ethnicity and deprivation for the people's index, or any
//! of the group dimensions for carers (who otherwise keep base weights).
//!
//! The file is a CSV with the columns `ics`, `dimension`, `category`,
//! `population`, one row per ICS × dimension × category. Every dimension
//! in the file must give every category for every ICS, so raking never
//! meets an ICS without margins. The counts are used as shares of each
//! ICS: raking scales them to the ICS total of the first margin (for
//! people, the ONS adult population), because every margin of an ICS must
//! add up to the same population.

use std::collections::{BTreeMap, BTreeSet};

use super::frame::{ADULT_BANDS, Group};

/// The largest count a margin may give: more than England's population
/// (57 million), far less than would overflow any sum of counts.
pub const MAX_POPULATION: f64 = 1e9;

/// One problem in an uploaded file, by line (1 = the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub message: String,
}

/// One dimension's margins: per ICS, a count per category.
#[derive(Debug, Clone, PartialEq)]
pub struct DimensionCounts {
    pub name: String,
    pub categories: Vec<String>,
    /// ICS code → population per category (in `categories` order).
    pub counts: BTreeMap<String, Vec<f64>>,
}

/// A validated margins file.
#[derive(Debug, Clone, PartialEq)]
pub struct MarginSet {
    pub group: Group,
    /// In the order the file first names them.
    pub dimensions: Vec<DimensionCounts>,
}

/// An uploaded set in use, with what provenance says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsedMargins {
    /// The stored version's id.
    pub id: i64,
    pub set: MarginSet,
    /// e.g. `people margins v2 (Census 2021 TS021; sha256 1a2b3c4d; uploaded 2026-11-25)`.
    pub label: String,
}

/// The groups margins may be uploaded for.
pub fn group_from_code(code: &str) -> Option<Group> {
    match code {
        "people" => Some(Group::People),
        "carers" => Some(Group::Carers),
        _ => None,
    }
}

/// The dimensions a file may hold for a group, with their categories. The
/// people's age band and sex come from the bundled ONS figures.
pub fn allowed_dimensions(group: Group) -> Vec<(&'static str, Vec<&'static str>)> {
    let ethnicity = ("ethnicity", vec!["asian", "black", "mixed", "white", "other"]);
    let deprivation = ("imd_quintile", vec!["1", "2", "3", "4", "5"]);
    match group {
        Group::People => vec![ethnicity, deprivation],
        Group::Carers => {
            vec![("age_band", ADULT_BANDS.to_vec()), ("sex", vec!["female", "male"]), ethnicity, deprivation]
        }
        Group::Children => Vec::new(),
    }
}

/// Reads and checks a margins file for `group` against the known ICS
/// codes. Every problem is listed, by line; nothing is returned unless the
/// whole file is good.
pub fn parse(group: Group, bytes: &[u8], ics_codes: &BTreeSet<String>) -> Result<MarginSet, Vec<LineProblem>> {
    let allowed = allowed_dimensions(group);
    if allowed.is_empty() {
        return Err(vec![LineProblem { line: 0, message: format!("margins cannot be uploaded for {}", group.code()) }]);
    }
    let mut problems = Vec::new();
    let problem = |problems: &mut Vec<LineProblem>, line: usize, message: String| {
        problems.push(LineProblem { line, message });
    };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(bytes);
    let headers = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase()).collect::<Vec<_>>(),
        Err(e) => return Err(vec![LineProblem { line: 1, message: format!("the file is not readable CSV ({e})") }]),
    };
    let required = ["ics", "dimension", "category", "population"];
    for h in &headers {
        if !required.contains(&h.as_str()) {
            problem(&mut problems, 1, format!("unknown column `{h}`; the columns are {}", required.join(", ")));
        }
    }
    let column = |name: &str| headers.iter().position(|h| h == name);
    let missing: Vec<&str> = required.iter().copied().filter(|c| column(c).is_none()).collect();
    if !missing.is_empty() {
        problem(&mut problems, 1, format!("missing column(s): {}", missing.join(", ")));
        return Err(problems);
    }
    let [c_ics, c_dim, c_cat, c_pop] = required.map(|c| column(c).unwrap_or_default());
    // (dimension, ICS, category) → (population, line).
    let mut seen: BTreeMap<(String, String, String), (f64, usize)> = BTreeMap::new();
    let mut dimension_order: Vec<String> = Vec::new();
    let mut rows = 0;
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problem(&mut problems, line, format!("not readable CSV ({e})"));
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        rows += 1;
        let get = |c: usize| record.get(c).unwrap_or_default();
        let (ics, dimension, category, population) = (get(c_ics), get(c_dim), get(c_cat), get(c_pop));
        let mut ok = true;
        if !ics_codes.contains(ics) {
            problem(&mut problems, line, format!("ics `{ics}` is not an ICS code (E54…)"));
            ok = false;
        }
        match allowed.iter().find(|(name, _)| *name == dimension) {
            None => {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                problem(
                    &mut problems,
                    line,
                    format!(
                        "dimension `{dimension}` cannot be uploaded for {}; it must be one of {}",
                        group.code(),
                        names.join(", ")
                    ),
                );
                ok = false;
            }
            Some((_, categories)) if !categories.contains(&category) => {
                problem(
                    &mut problems,
                    line,
                    format!(
                        "category `{category}` is not a category of {dimension}; it must be one of {}",
                        categories.join(", ")
                    ),
                );
                ok = false;
            }
            Some(_) => {}
        }
        let count = match population.parse::<f64>() {
            Ok(p) if p.is_finite() && (0.0..=MAX_POPULATION).contains(&p) => p,
            Ok(p) if p.is_finite() && p > MAX_POPULATION => {
                problem(
                    &mut problems,
                    line,
                    format!(
                        "population `{population}` is larger than any population (at most {MAX_POPULATION:.0}); give a head count"
                    ),
                );
                ok = false;
                0.0
            }
            _ => {
                problem(&mut problems, line, format!("population `{population}` must be a number, 0 or more"));
                ok = false;
                0.0
            }
        };
        if !ok {
            continue;
        }
        if !dimension_order.iter().any(|d| d == dimension) {
            dimension_order.push(dimension.to_string());
        }
        let key = (dimension.to_string(), ics.to_string(), category.to_string());
        if let Some((_, first)) = seen.get(&key) {
            problem(
                &mut problems,
                line,
                format!("{ics} {dimension} `{category}` is given twice (first on line {first})"),
            );
            continue;
        }
        seen.insert(key, (count, line));
    }
    if rows == 0 && problems.is_empty() {
        problem(&mut problems, 2, "the file has a header but no margins".into());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // Every dimension covers every ICS and category, with people in each ICS.
    let last_line = rows + 1;
    let mut dimensions = Vec::new();
    for name in dimension_order {
        let categories: Vec<String> = allowed
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        let mut counts = BTreeMap::new();
        for ics in ics_codes {
            let values: Vec<Option<f64>> =
                categories.iter().map(|c| seen.get(&(name.clone(), ics.clone(), c.clone())).map(|(p, _)| *p)).collect();
            let absent: Vec<&str> =
                categories.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(c, _)| c.as_str()).collect();
            if absent.len() == categories.len() {
                problem(&mut problems, last_line, format!("{name}: ICS {ics} has no margins"));
                continue;
            }
            if !absent.is_empty() {
                problem(&mut problems, last_line, format!("{name}: ICS {ics} has no row for {}", absent.join(", ")));
                continue;
            }
            let values: Vec<f64> = values.into_iter().flatten().collect();
            if values.iter().sum::<f64>() <= 0.0 {
                problem(&mut problems, last_line, format!("{name}: ICS {ics} has a population of 0"));
                continue;
            }
            counts.insert(ics.clone(), values);
        }
        dimensions.push(DimensionCounts { name, categories, counts });
    }
    if problems.is_empty() { Ok(MarginSet { group, dimensions }) } else { Err(problems) }
}

/// For each category of a dimension, the neighbour that takes its
/// population in an ICS where it has no respondents: age bands the band
/// below (the youngest the one above), sex the other, deprivation the next
/// quintile up (the fifth the fourth), ethnicity the ICS's largest group.
pub fn collapse_rule(dimension: &str, counts: &[f64]) -> Vec<Option<u32>> {
    let k = counts.len();
    match dimension {
        "age_band" => (0..k).map(|c| Some(if c == 0 { 1 } else { c as u32 - 1 })).collect(),
        "sex" => vec![Some(1), Some(0)],
        "imd_quintile" => (0..k).map(|c| Some(if c + 1 < k { c as u32 + 1 } else { c as u32 - 1 })).collect(),
        _ => {
            let largest = (0..k).max_by(|&a, &b| counts[a].total_cmp(&counts[b])).unwrap_or(0);
            (0..k).map(|c| if c == largest { None } else { Some(largest as u32) }).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> BTreeSet<String> {
        ["E54000008", "E54000010"].iter().map(|s| s.to_string()).collect()
    }

    fn file(rows: &[&str]) -> Vec<u8> {
        format!("ics,dimension,category,population\n{}\n", rows.join("\n")).into_bytes()
    }

    fn deprivation(ics: &str) -> Vec<String> {
        (1..=5).map(|q| format!("{ics},imd_quintile,{q},{}", q * 100)).collect()
    }

    #[test]
    fn a_complete_file_is_read_in_category_order() {
        let mut rows = deprivation("E54000008");
        rows.extend(deprivation("E54000010"));
        rows.reverse();
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let set = parse(Group::People, &file(&refs), &codes()).unwrap();
        assert_eq!(set.dimensions.len(), 1);
        assert_eq!(set.dimensions[0].counts["E54000008"], vec![100.0, 200.0, 300.0, 400.0, 500.0]);
    }

    #[test]
    fn counts_beyond_any_population_are_refused_by_line() {
        let mut rows = deprivation("E54000008");
        rows.extend(deprivation("E54000010"));
        rows[0] = "E54000008,imd_quintile,1,1e308".into();
        rows[1] = "E54000008,imd_quintile,2,inf".into();
        rows[2] = "E54000008,imd_quintile,3,NaN".into();
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let problems = parse(Group::People, &file(&refs), &codes()).unwrap_err();
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 3, 4], "{problems:?}");
        assert!(problems[0].message.contains("larger than any population"), "{}", problems[0].message);
        assert!(problems[1].message.contains("must be a number"));
        assert!(problems[2].message.contains("must be a number"));
    }

    #[test]
    fn every_bad_line_is_named() {
        let mut rows = deprivation("E54000008");
        rows.extend(deprivation("E54000010"));
        rows.push("E99999999,imd_quintile,1,5".into());
        rows.push("E54000008,imd_quintile,6,5".into());
        rows.push("E54000008,religion,none,5".into());
        rows.push("E54000008,imd_quintile,1,-3".into());
        rows.push("E54000008,imd_quintile,2,7".into());
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let problems = parse(Group::People, &file(&refs), &codes()).unwrap_err();
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![12, 13, 14, 15, 16], "{problems:?}");
        assert!(problems[0].message.contains("E99999999"));
        assert!(problems[1].message.contains("category `6`"));
        assert!(problems[2].message.contains("religion"));
        assert!(problems[3].message.contains("-3"));
        assert!(problems[4].message.contains("given twice (first on line 3)"), "{}", problems[4].message);
    }

    #[test]
    fn an_ics_without_margins_or_with_a_gap_is_refused() {
        let mut rows = deprivation("E54000008");
        rows.pop();
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let problems = parse(Group::People, &file(&refs), &codes()).unwrap_err();
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            vec!["imd_quintile: ICS E54000008 has no row for 5", "imd_quintile: ICS E54000010 has no margins"]
        );
    }

    #[test]
    fn the_header_is_checked() {
        let problems = parse(Group::People, b"ics,dim,category,population\n", &codes()).unwrap_err();
        assert_eq!(problems[0].line, 1);
        assert!(problems.iter().any(|p| p.message.contains("missing column(s): dimension")), "{problems:?}");
        let empty = parse(Group::People, b"ics,dimension,category,population\n", &codes()).unwrap_err();
        assert!(empty[0].message.contains("no margins"));
    }

    #[test]
    fn people_margins_leave_age_and_sex_to_the_ons_figures() {
        let problems =
            parse(Group::People, &file(&["E54000008,sex,female,10", "E54000008,sex,male,10"]), &codes()).unwrap_err();
        assert!(problems[0].message.contains("cannot be uploaded for people"), "{problems:?}");
        assert!(parse(Group::Carers, &file(&["E54000008,sex,female,10"]), &codes()).is_err());
    }

    #[test]
    fn collapse_rules_point_at_a_neighbour() {
        assert_eq!(collapse_rule("imd_quintile", &[1.0; 5]), vec![Some(1), Some(2), Some(3), Some(4), Some(3)]);
        assert_eq!(
            collapse_rule("ethnicity", &[5.0, 3.0, 2.0, 80.0, 1.0]),
            vec![Some(3), Some(3), Some(3), None, Some(3)]
        );
    }
}

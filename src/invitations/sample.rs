//! Reading a sample file: a CSV with a header line and one person a line.
//! Every line is checked and every problem is reported with its line
//! number, so a lead fixes the file once. Nothing here touches the
//! database; `import` adds the checks that need it.
//!
//! Columns: `email` and `ics` (ONS code E54… or ODS code) are required;
//! `age_band`, `sex`, `imd_quintile` (1 most deprived to 5),
//! `selection_probability` (above 0, at most 1), `language` and `voice`
//! are optional.

use std::collections::BTreeMap;

use validator::ValidateEmail;

use crate::definitions::diagnostics::did_you_mean;
use crate::definitions::{Dimension, SurveyDefinition, Voice};
use crate::storage::icss::Ics;

pub const REQUIRED: [&str; 2] = ["email", "ics"];
pub const OPTIONAL: [&str; 6] = ["age_band", "sex", "imd_quintile", "selection_probability", "language", "voice"];
/// More people than this in one file is refused: split the file.
pub const MAX_ROWS: usize = 500_000;

/// One valid person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub line: usize,
    /// As written, trimmed.
    pub email: String,
    /// The ONS code, whichever code the file used.
    pub ics_code: String,
    pub age_band: Option<String>,
    pub sex: Option<String>,
    pub imd_quintile: Option<i32>,
    pub selection_probability: Option<f64>,
    pub language: String,
    pub voice: Option<String>,
}

/// A problem with one line (line 1 is the header).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineProblem {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The valid people and the problems, both in line order.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub people: Vec<Person>,
    pub problems: Vec<LineProblem>,
}

/// What a sample is checked against: the survey's languages and voices,
/// and the ICSs that exist today.
pub struct Rules<'a> {
    pub survey: &'a SurveyDefinition,
    pub icss: &'a [Ics],
}

impl Rules<'_> {
    fn ics(&self, code: &str) -> Option<&str> {
        let code = code.to_ascii_uppercase();
        self.icss.iter().find(|i| i.ons_code == code || i.ods_code == code).map(|i| i.ons_code.as_str())
    }
}

fn problem(line: usize, message: impl Into<String>) -> LineProblem {
    LineProblem { line, message: message.into() }
}

/// Checks a whole file. A problem with the header stops there (no line can
/// be read without it); otherwise every line is checked.
pub fn check(bytes: &[u8], rules: &Rules<'_>) -> Checked {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = Checked::default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        out.problems
            .push(problem(1, "the file is empty: it needs a header line (email,ics,...) and a line per person"));
        return out;
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(bytes);
    let columns = match header(&mut reader) {
        Ok(columns) => columns,
        Err(p) => {
            out.problems.push(p);
            return out;
        }
    };
    // Line numbers come from byte offsets: the CSV reader's own line count
    // leaves out blank lines, and a lead looks lines up in an editor.
    let newlines: Vec<usize> = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).collect();
    // A record's reported start includes the blank lines skipped before it.
    let line_at = |offset: u64| {
        let start = bytes[(offset as usize).min(bytes.len())..]
            .iter()
            .position(|b| *b != b'\n' && *b != b'\r')
            .map_or(offset as usize, |skip| offset as usize + skip);
        newlines.partition_point(|&n| n < start) + 1
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = line_at(reader.position().byte());
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = e.position().map_or(line, |p| line_at(p.byte()));
                out.problems.push(problem(at, format!("the line cannot be read as CSV ({e})")));
                continue;
            }
        }
        let line = record.position().map_or(line, |p| line_at(p.byte()));
        if record.iter().all(<[u8]>::is_empty) {
            continue;
        }
        if out.people.len() + out.problems.len() >= MAX_ROWS {
            out.problems.push(problem(line, format!("a sample may have at most {MAX_ROWS} people: split the file")));
            break;
        }
        // Duplicates are found whether or not either line is otherwise valid:
        // fixing the first line must not reveal a duplicate only then.
        let address = columns
            .get("email")
            .and_then(|&i| record.get(i))
            .map(|raw| String::from_utf8_lossy(raw).trim().to_lowercase())
            .filter(|a| !a.is_empty());
        let duplicate_of = address.as_ref().and_then(|a| seen.get(a).copied());
        if let (Some(a), None) = (address, duplicate_of) {
            seen.insert(a, line);
        }
        match (person(line, &record, &columns, rules), duplicate_of) {
            (Ok(p), None) => out.people.push(p),
            (Ok(_), Some(first)) => out.problems.push(problem(line, format!("the same email address as line {first}"))),
            (Err(mut problems), first) => {
                out.problems.append(&mut problems);
                if let Some(first) = first {
                    out.problems.push(problem(line, format!("the same email address as line {first}")));
                }
            }
        }
    }
    if out.people.is_empty() && out.problems.is_empty() {
        out.problems.push(problem(2, "the file has a header but no people"));
    }
    out
}

/// Column name → index, or the header's problem.
fn header<R: std::io::Read>(reader: &mut csv::Reader<R>) -> Result<BTreeMap<String, usize>, LineProblem> {
    let names = reader.byte_headers().map_err(|e| problem(1, format!("the header line cannot be read ({e})")))?.clone();
    let mut columns = BTreeMap::new();
    let known: Vec<&str> = REQUIRED.iter().chain(OPTIONAL.iter()).copied().collect();
    let mut problems = Vec::new();
    for (i, raw) in names.iter().enumerate() {
        let name = String::from_utf8_lossy(raw).trim().to_lowercase();
        if name.contains(';') && names.len() == 1 {
            return Err(problem(
                1,
                "the columns seem to be separated by semicolons: save the file as CSV (comma delimited)",
            ));
        }
        if !known.contains(&name.as_str()) {
            let hint = did_you_mean(&name, known.iter().copied()).map(|h| format!("; {h}")).unwrap_or_default();
            problems.push(format!("unknown column `{name}`{hint}"));
        } else if columns.insert(name.clone(), i).is_some() {
            problems.push(format!("the column `{name}` appears twice"));
        }
    }
    for required in REQUIRED {
        if !columns.contains_key(required) {
            problems.push(format!("the required column `{required}` is missing"));
        }
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(problem(
            1,
            format!("{} (columns: {}, optional {})", problems.join("; "), REQUIRED.join(", "), OPTIONAL.join(", ")),
        ))
    }
}

fn person(
    line: usize,
    record: &csv::ByteRecord,
    columns: &BTreeMap<String, usize>,
    rules: &Rules<'_>,
) -> Result<Person, Vec<LineProblem>> {
    let mut problems = Vec::new();
    let mut field = |name: &str| -> Option<String> {
        let raw = record.get(*columns.get(name)?)?;
        match std::str::from_utf8(raw) {
            Ok("") => None,
            Ok(s) => Some(s.to_string()),
            Err(_) => {
                problems.push(problem(line, format!("`{name}` is not UTF-8 text: save the file as CSV UTF-8")));
                None
            }
        }
    };
    let (email, ics, age_band, sex, imd, probability, language, voice) = (
        field("email"),
        field("ics"),
        field("age_band"),
        field("sex").map(|s| s.to_lowercase()),
        field("imd_quintile"),
        field("selection_probability"),
        field("language"),
        field("voice"),
    );
    if record.len() != columns.len() {
        problems.push(problem(
            line,
            format!("the line has {} values but the header has {} columns", record.len(), columns.len()),
        ));
    }
    let d = rules.survey;
    match &email {
        None => problems.push(problem(line, "`email` is empty")),
        Some(e) if !e.validate_email() => problems.push(problem(line, format!("`{e}` is not an email address"))),
        Some(_) => {}
    }
    let ics_code = match &ics {
        None => {
            problems.push(problem(line, "`ics` is empty: give the ONS code (E54…) or ODS code of the person's ICS"));
            None
        }
        Some(code) => match rules.ics(code) {
            Some(ons) => Some(ons.to_string()),
            None => {
                problems
                    .push(problem(line, format!("`{code}` is not the ONS or ODS code of an ICS that exists today")));
                None
            }
        },
    };
    for (value, dimension) in [(&age_band, Dimension::AgeBand), (&sex, Dimension::Sex)] {
        if let Some(v) = value
            && !dimension.categories().contains(&v.as_str())
        {
            problems.push(problem(
                line,
                format!("`{v}` is not a {} ({})", dimension.code(), dimension.categories().join(", ")),
            ));
        }
    }
    let imd_quintile = imd.as_deref().and_then(|v| match v.parse::<i32>() {
        Ok(q) if (1..=5).contains(&q) => Some(q),
        _ => {
            problems.push(problem(line, format!("`imd_quintile` must be a whole number from 1 to 5, not `{v}`")));
            None
        }
    });
    let selection_probability = probability.as_deref().and_then(|v| match v.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Some(p),
        _ => {
            problems.push(problem(line, format!("`selection_probability` must be above 0 and at most 1, not `{v}`")));
            None
        }
    });
    let language = match language {
        None => d.default_language().to_string(),
        Some(l) if d.languages.iter().any(|x| x.code == l) => l,
        Some(l) => {
            let offered: Vec<&str> = d.languages.iter().map(|x| x.code.as_str()).collect();
            problems
                .push(problem(line, format!("the survey is not offered in `{l}` (it is in {})", offered.join(", "))));
            String::new()
        }
    };
    if let Some(v) = &voice {
        match Voice::from_code(v) {
            Some(voice) if d.voices.contains(&voice) => {}
            _ => {
                let offered: Vec<&str> = d.voices.iter().map(|v| v.code()).collect();
                problems.push(problem(line, format!("`{v}` is not a voice of this survey ({})", offered.join(", "))));
            }
        }
    }
    match (problems.is_empty(), email, ics_code) {
        (true, Some(email), Some(ics_code)) => {
            Ok(Person { line, email, ics_code, age_band, sex, imd_quintile, selection_probability, language, voice })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey() -> SurveyDefinition {
        let source =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/survey-definitions/format-example.yaml"))
                .unwrap();
        crate::definitions::parse("format-example.yaml", &source).unwrap()
    }

    fn check_text(text: &str) -> Checked {
        let icss = crate::reference::icss().unwrap();
        let d = survey();
        check(text.as_bytes(), &Rules { survey: &d, icss: &icss })
    }

    #[test]
    fn good_lines_are_read_with_either_ics_code() {
        let icss = crate::reference::icss().unwrap();
        let ods = &icss[0].ods_code;
        let text = format!(
            "\u{feff}Email,ICS,age_band,sex,imd_quintile,selection_probability,language,voice\n\
             ann@example.org,{},65-74,Female,2,0.25,pl,carer_self\n\
             bob@example.org,{ods},,,,,,\n",
            icss[0].ons_code
        );
        let checked = check_text(&text);
        assert_eq!(checked.problems, vec![]);
        assert_eq!(checked.people.len(), 2);
        let ann = &checked.people[0];
        assert_eq!(
            (ann.line, ann.sex.as_deref(), ann.imd_quintile, ann.language.as_str()),
            (2, Some("female"), Some(2), "pl")
        );
        assert_eq!(checked.people[1].ics_code, icss[0].ons_code, "the ODS code becomes the ONS code");
        assert_eq!(checked.people[1].language, "en", "the survey's first language by default");
    }

    #[test]
    fn every_bad_line_is_named() {
        let ics = &crate::reference::icss().unwrap()[0].ons_code;
        let text = format!(
            "email,ics,imd_quintile,selection_probability,voice\n\
             ann@example.org,{ics},6,0.5,\n\
             not-an-address,{ics},,,\n\
             carl@example.org,E99999999,,1.5,\n\
             ANN@example.org,{ics},,,\n\
             dee@example.org,{ics},,,astronaut\n\
             \n\
             eve@example.org,{ics},3,1,patient\n"
        );
        let checked = check_text(&text);
        let lines: Vec<usize> = checked.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 4, 5, 6], "{:?}", checked.problems);
        assert!(checked.problems[0].message.contains("imd_quintile"));
        assert!(checked.problems[4].message.contains("same email address as line"), "{:?}", checked.problems[4]);
        assert_eq!(checked.people.iter().map(|p| p.line).collect::<Vec<_>>(), vec![8]);
    }

    #[test]
    fn header_problems_stop_the_check() {
        let checked = check_text("emial,ics\nann@example.org,E54000008\n");
        assert_eq!(checked.problems.len(), 1);
        assert!(checked.problems[0].message.contains("did you mean `email`?"), "{}", checked.problems[0]);
        assert!(checked.problems[0].message.contains("required column `email` is missing"));
        assert!(check_text("").problems[0].message.contains("empty"));
        assert!(check_text("email;ics\na@b.org;E54000008\n").problems[0].message.contains("semicolons"));
        assert!(check_text("email,ics\n").problems[0].message.contains("no people"));
    }
}

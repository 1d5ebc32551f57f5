//! Reading a sample file: a CSV with a header line and one person a line.
//! Every line is checked and every problem is reported with its line
//! number, so a lead fixes the file once. Nothing here touches the
//! database; `import` adds the checks that need it.
//!
//! Columns: `ics` (ONS code E54… or ODS code) is required, with `email`,
//! or `address` and `postcode`, or both; `channel` (`email` or `letter`)
//! says which to use, by default email when there is one. `age_band`,
//! `sex`, `imd_quintile` (1 most deprived to 5), `selection_probability`
//! (above 0, at most 1), `language` and `voice` are optional.

use std::collections::BTreeMap;

use validator::ValidateEmail;

use crate::definitions::diagnostics::did_you_mean;
use crate::definitions::{Dimension, SurveyDefinition, Voice};
use crate::storage::icss::Ics;
use crate::storage::samples::Contact;

pub const REQUIRED: [&str; 1] = ["ics"];
pub const OPTIONAL: [&str; 10] = [
    "email",
    "address",
    "postcode",
    "channel",
    "age_band",
    "sex",
    "imd_quintile",
    "selection_probability",
    "language",
    "voice",
];
/// More people than this in one file is refused: split the file.
pub const MAX_ROWS: usize = 500_000;

/// One valid person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub line: usize,
    /// As written, trimmed.
    pub email: Option<String>,
    /// Its lines, one per line of text (a comma in the file starts a line).
    pub address: Option<String>,
    /// Upper case, one space before the inward code: `LS1 4AP`.
    pub postcode: Option<String>,
    pub channel: Contact,
    /// The ONS code, whichever code the file used.
    pub ics_code: String,
    pub age_band: Option<String>,
    pub sex: Option<String>,
    pub imd_quintile: Option<i32>,
    pub selection_probability: Option<f64>,
    pub language: String,
    pub voice: Option<String>,
}

impl Person {
    /// What finds the same person again: their email address, or for
    /// someone written to by post only, their address and postcode.
    pub fn contact_key(&self) -> String {
        match (&self.email, &self.address, &self.postcode) {
            (Some(email), _, _) => email.clone(),
            (None, Some(address), Some(postcode)) => postal_key(address, postcode),
            _ => String::new(),
        }
    }
}

/// The contact key of someone written to by post: their first address
/// line (as typed, any case or spacing) and their tidied postcode.
pub fn postal_key(address: &str, postcode: &str) -> String {
    let first = address.lines().next().unwrap_or("");
    format!("postal:{}|{}", first.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" "), postcode)
}

/// A UK postcode tidied (`ls14ap` → `LS1 4AP`), or None if it is not one:
/// an outward code of 2 to 4 letters and digits starting with a letter,
/// and an inward code of a digit and two letters.
pub fn postcode(typed: &str) -> Option<String> {
    let compact: String = typed.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    if !(5..=7).contains(&compact.len()) || !compact.is_ascii() {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let inward_ok = inward.as_bytes()[0].is_ascii_digit() && inward[1..].chars().all(|c| c.is_ascii_alphabetic());
    let outward_ok = outward.starts_with(|c: char| c.is_ascii_alphabetic())
        && outward.chars().all(|c| c.is_ascii_alphanumeric())
        && outward.chars().any(|c| c.is_ascii_digit());
    (inward_ok && outward_ok).then(|| format!("{outward} {inward}"))
}

/// An address as lines: the file may separate them with newlines (a quoted
/// cell) or with commas.
fn address_lines(typed: &str) -> String {
    typed.split(['\n', ',']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
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
        let cell = |name: &str| {
            columns
                .get(name)
                .and_then(|&i| record.get(i))
                .map(|raw| String::from_utf8_lossy(raw).trim().to_string())
                .filter(|a| !a.is_empty())
        };
        let (what, key) = match (cell("email"), cell("address"), cell("postcode").as_deref().and_then(postcode)) {
            (Some(email), _, _) => ("email address", Some(email.to_lowercase())),
            (None, Some(address), Some(code)) => ("postal address", Some(postal_key(&address_lines(&address), &code))),
            _ => ("address", None),
        };
        let duplicate_of = key.as_ref().and_then(|a| seen.get(a).copied());
        if let (Some(a), None) = (key, duplicate_of) {
            seen.insert(a, line);
        }
        let same = |first: usize| problem(line, format!("the same {what} as line {first}"));
        match (person(line, &record, &columns, rules), duplicate_of) {
            (Ok(p), None) => out.people.push(p),
            (Ok(_), Some(first)) => out.problems.push(same(first)),
            (Err(mut problems), first) => {
                out.problems.append(&mut problems);
                if let Some(first) = first {
                    out.problems.push(same(first));
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
    if !columns.contains_key("email") && !columns.contains_key("address") {
        problems.push("a sample needs an `email` column, an `address` column (with `postcode`), or both".into());
    }
    if columns.contains_key("address") && !columns.contains_key("postcode") {
        problems.push("the `address` column needs a `postcode` column beside it".into());
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
    let (email, address, typed_postcode, channel) =
        (field("email"), field("address"), field("postcode"), field("channel").map(|c| c.to_lowercase()));
    let (ics, age_band, sex, imd, probability, language, voice) = (
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
    if let Some(e) = &email
        && !e.validate_email()
    {
        problems.push(problem(line, format!("`{e}` is not an email address")));
    }
    let address = address.map(|a| address_lines(&a));
    let postcode = match (&address, &typed_postcode) {
        (_, Some(typed)) => {
            let tidy = postcode(typed);
            if tidy.is_none() {
                problems.push(problem(line, format!("`{typed}` is not a UK postcode (like LS1 4AP)")));
            }
            tidy
        }
        (Some(_), None) => {
            problems.push(problem(line, "`address` is given but `postcode` is empty: a letter needs a postcode"));
            None
        }
        (None, None) => None,
    };
    let channel = match channel.as_deref() {
        None if email.is_some() => Some(Contact::Email),
        None if address.is_some() => Some(Contact::Letter),
        None => {
            problems.push(problem(
                line,
                "give an `email`, or an `address` with `postcode`: there is no way to reach this person",
            ));
            None
        }
        Some("email") if email.is_none() => {
            problems.push(problem(line, "`channel` is `email` but `email` is empty"));
            None
        }
        Some("letter") if address.is_none() => {
            problems.push(problem(line, "`channel` is `letter` but `address` is empty"));
            None
        }
        Some("email") => Some(Contact::Email),
        Some("letter") => Some(Contact::Letter),
        Some(other) => {
            problems.push(problem(line, format!("`channel` must be `email` or `letter`, not `{other}`")));
            None
        }
    };
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
    match (problems.is_empty(), channel, ics_code) {
        (true, Some(channel), Some(ics_code)) => Ok(Person {
            line,
            email,
            address,
            postcode,
            channel,
            ics_code,
            age_band,
            sex,
            imd_quintile,
            selection_probability,
            language,
            voice,
        }),
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
    fn postal_lines_are_read_and_their_mistakes_named() {
        let checked = check_text(
            "ics,email,address,postcode,channel\n\
             E54000008,,\"1 High Street, Leeds\",ls14ap,\n\
             E54000008,bob@example.org,\"2 Low Road\nYork\",YO17HH,letter\n\
             E54000008,,\"3 Hill\",,\n\
             E54000008,,,,\n\
             E54000008,cy@example.org,,,letter\n\
             E54000008,,\"4 Dale\",LS1,\n\
             E54000008,,\"1 HIGH STREET\",LS1 4AP,\n",
        );
        let leeds = &checked.people[0];
        assert_eq!(
            (leeds.address.as_deref(), leeds.postcode.as_deref(), leeds.channel),
            (Some("1 High Street\nLeeds"), Some("LS1 4AP"), Contact::Letter)
        );
        assert_eq!(checked.people[1].channel, Contact::Letter);
        assert_eq!(checked.people[1].contact_key(), "bob@example.org");
        // Lines as an editor numbers them: York's address spans two.
        let problems: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "line 5: `address` is given but `postcode` is empty: a letter needs a postcode",
                "line 6: give an `email`, or an `address` with `postcode`: there is no way to reach this person",
                "line 7: `channel` is `letter` but `address` is empty",
                "line 8: `LS1` is not a UK postcode (like LS1 4AP)",
                "line 9: the same postal address as line 2",
            ]
        );
    }

    #[test]
    fn postcodes_are_tidied_or_refused() {
        assert_eq!(postcode("ls14ap").as_deref(), Some("LS1 4AP"));
        assert_eq!(postcode(" SW1A 1AA ").as_deref(), Some("SW1A 1AA"));
        assert_eq!(postcode("M1 1AE").as_deref(), Some("M1 1AE"));
        for bad in ["LS1", "12345", "LS1 4A", "LS1 AAP", "ŁS1 4AP", "LSAA 4AP"] {
            assert_eq!(postcode(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_problems_stop_the_check() {
        let checked = check_text("emial,ics\nann@example.org,E54000008\n");
        assert_eq!(checked.problems.len(), 1);
        assert!(checked.problems[0].message.contains("did you mean `email`?"), "{}", checked.problems[0]);
        assert!(checked.problems[0].message.contains("a sample needs an `email` column, an `address` column"));
        let no_postcode = check_text("address,ics\n1 High St,E54000008\n");
        assert!(no_postcode.problems[0].message.contains("`address` column needs a `postcode` column"));
        assert!(check_text("").problems[0].message.contains("empty"));
        assert!(check_text("email;ics\na@b.org;E54000008\n").problems[0].message.contains("semicolons"));
        assert!(check_text("email,ics\n").problems[0].message.contains("no people"));
    }
}

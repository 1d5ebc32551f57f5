//! Property tests (proptest) on every parser an outsider or a staff member
//! can reach: whatever the input, each gives an answer or a clear error,
//! never a panic, and an error names a real line. The inputs that once
//! crashed or froze joinedup are kept as seeds. Coverage-guided fuzzing of
//! the same parsers is `scripts/fuzz.sh` (cargo fuzz).

use std::collections::BTreeSet;

use crate::common;
use joinedup::definitions::{self, Voice};
use joinedup::journey::Wording;
use joinedup::journey::form::{Context, read_page};
use libtest_mimic::Trial;
use proptest::prelude::*;

fn survey() -> definitions::SurveyDefinition {
    definitions::load_file(&common::project_path("survey-definitions/format-example.yaml")).unwrap().definition
}

/// The inputs that broke joinedup before, and their neighbours.
fn seeds() -> Vec<String> {
    vec![
        format!("{}x\n", "- ".repeat(40_000)),
        (0..2_000).map(|n| format!("k{n}: 1\n")).collect(),
        format!("a: {}1{}\n", "[".repeat(300), "]".repeat(300)),
        "a: &x 1\nb: *x\n".into(),
        "\u{feff}id: x\r\nversion: 1\r\n".into(),
        "id: x\nversion: \"1\"\npages:\n  - id: v\n    depends_on: [v, v]\n".into(),
        // Found by cargo fuzz: lone CR line breaks, counted by YAML as lines.
        "# a file\rid: x\rversion: \"1\"\rpages:\r  - id: v\r   type: [\r".into(),
    ]
}

/// YAML-ish text: keys, dashes, brackets, quotes and indentation.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("- ".to_string()),
        Just("  ".to_string()),
        Just("\n".to_string()),
        Just(": ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("---\n".to_string()),
        prop::sample::select(vec!["id", "version", "pages", "type", "show_if", "depends_on", "options", "text"])
            .prop_map(str::to_string),
        "[a-z0-9_ ]{0,8}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(token, 0..200).prop_map(|t| t.concat())
}

fn check_definition(source: &str) {
    let lines = definitions::line_count(source).max(1);
    if let Err(problems) = definitions::parse("fuzz.yaml", source) {
        assert!(!problems.is_empty());
        for p in problems {
            assert!(p.at.line >= 1 && p.at.line <= lines + 1, "line {} of {lines}: {p}", p.at.line);
            assert!(!p.message.is_empty());
        }
    }
}

fn seeds_end_in_a_clear_error_or_a_definition() {
    for seed in seeds() {
        check_definition(&seed);
    }
    // The shipped surveys, cut short at every 97th byte boundary.
    let example = std::fs::read_to_string(common::project_path("survey-definitions/integration-index.yaml")).unwrap();
    for cut in (0..example.len()).step_by(97).filter(|&c| example.is_char_boundary(c)) {
        check_definition(&example[..cut]);
    }
}

proptest! {
    #![proptest_config(common::proptest_config(512))]

    fn definitions_never_panic(source in yamlish()) {
        check_definition(&source);
    }

    fn a_shipped_definition_with_bytes_changed_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..8)
    ) {
        let mut text: Vec<char> =
            std::fs::read_to_string(common::project_path("survey-definitions/format-example.yaml")).unwrap().chars().collect();
        for (at, c) in edits {
            let i = at.index(text.len());
            text[i] = c;
        }
        check_definition(&text.into_iter().collect::<String>());
    }

    fn form_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let fields = joinedup::web::csrf::parse_urlencoded(&body);
        let d = survey();
        let ics: BTreeSet<String> = ["E54000008".to_string()].into_iter().collect();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        for page in &d.pages {
            let ctx = Context { wording: Wording::new(&d, "en", Some(Voice::Patient)), ics_codes: &ics, today };
            let _ = read_page(&ctx, page, &fields);
        }
    }

    fn answers_for_each_page_are_read_or_refused(
        page in 0usize..20,
        values in prop::collection::vec("[-0-9a-z_. ]{0,12}|\\PC{0,20}", 0..4),
    ) {
        let d = survey();
        let page = &d.pages[page % d.pages.len()];
        let ics: BTreeSet<String> = BTreeSet::new();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let ctx = Context { wording: Wording::new(&d, "en", None), ics_codes: &ics, today };
        for name in joinedup::journey::form::field_names(page) {
            let mut fields = joinedup::journey::Fields::new();
            fields.insert(name, values.clone());
            let _ = read_page(&ctx, page, &fields);
        }
    }

    fn query_values_never_panic(text in "\\PC{0,40}") {
        let _ = joinedup::index::release::Period::parse(&text);
        let _ = joinedup::index::sample::Sample::parse(&text);
        let _ = joinedup::index::frame::Group::parse(&text);
        let _ = joinedup::results::reports::ReleaseOptions::parse_trim(&text);
    }

    fn cookies_codes_tokens_and_references_never_panic(text in "\\PC{0,80}") {
        let _ = joinedup::accounts::SessionId::from_cookie(&text);
        let code = joinedup::tokens::normalise_code(&text);
        prop_assert!(code.len() <= text.len() * 4 + 16);
        let _ = joinedup::tokens::hash(&text);
        let reference = joinedup::rights::normalise_reference(&text);
        prop_assert!(!reference.is_empty() || text.trim().is_empty());
    }

    fn sample_csv_never_panics(body in prop::collection::vec(any::<u8>(), 0..600), header in any::<bool>()) {
        let d = survey();
        let icss = joinedup::reference::icss().unwrap();
        let mut bytes = if header {
            b"email,ics,age_band,sex,imd_quintile,selection_probability,language\n".to_vec()
        } else {
            Vec::new()
        };
        bytes.extend(body);
        let rules = joinedup::invitations::sample::Rules { survey: &d, icss: &icss };
        let checked = joinedup::invitations::sample::check(&bytes, &rules);
        for p in &checked.problems {
            prop_assert!(p.line >= 1);
        }
    }

    fn margins_csv_never_panics(rows in prop::collection::vec(("[A-Z0-9]{0,9}", "[a-z_]{0,12}", "[0-9a-z+-]{0,6}", "\\PC{0,12}"), 0..30)) {
        let mut text = String::from("ics,dimension,category,population\n");
        for (ics, dimension, category, population) in rows {
            text.push_str(&format!("{ics},{dimension},{category},{population}\n"));
        }
        let codes: BTreeSet<String> = ["E54000008".to_string()].into_iter().collect();
        for group in joinedup::index::frame::Group::ALL {
            if let Err(problems) = joinedup::index::margins::parse(group, text.as_bytes(), &codes) {
                prop_assert!(!problems.is_empty());
            }
        }
    }
}

pub fn trials() -> Vec<Trial> {
    plain_trials![
        seeds_end_in_a_clear_error_or_a_definition,
        definitions_never_panic,
        a_shipped_definition_with_bytes_changed_never_panics,
        form_bodies_never_panic,
        answers_for_each_page_are_read_or_refused,
        query_values_never_panic,
        cookies_codes_tokens_and_references_never_panic,
        sample_csv_never_panics,
        margins_csv_never_panics,
    ]
}

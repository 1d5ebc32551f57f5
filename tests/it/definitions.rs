//! Survey definitions: the shipped files are valid, every broken file gives
//! its exact located message, and no input can panic the loader.

use crate::common;
use joinedup::definitions::{self, Diagnostic};
use libtest_mimic::Trial;
use proptest::prelude::*;

fn shipped_definitions_are_valid() {
    let files = definitions::load_paths(&[common::project_path("survey-definitions")]).unwrap_or_else(|problems| {
        panic!("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    });
    assert!(!files.is_empty());
}

/// The first line of a diagnostic without the file name and "error: ".
fn located(d: &Diagnostic) -> String {
    let first = d.to_string().lines().next().unwrap_or_default().to_string();
    let rest = first.strip_prefix(&format!("{}:", d.file)).unwrap_or(&first).to_string();
    rest.replacen(" error: ", " ", 1)
}

fn each_broken_definition_reports_its_mistake_where_it_is() {
    let dir = common::project_path("tests/broken-definitions");
    let files = definitions::definition_files(&dir).unwrap();
    assert!(files.len() >= 15, "expected at least 15 broken definitions, found {}", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let expected: Vec<String> =
            source.lines().filter_map(|l| l.strip_prefix("# expect: ")).map(|l| l.trim().to_string()).collect();
        assert!(!expected.is_empty(), "{} has no `# expect:` line", file.display());
        let actual: Vec<String> = match definitions::load_file(file) {
            Ok(_) => vec!["(no error: the file was accepted)".to_string()],
            Err(problems) => problems.iter().map(located).collect(),
        };
        if actual != expected {
            failures.push(format!("{}\n  expected: {expected:#?}\n  actual:   {actual:#?}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn every_problem_is_reported_at_once() {
    let source = std::fs::read_to_string(common::project_path("survey-definitions/format-example.yaml")).unwrap();
    let broken = source
        .replace(
            "    domain: information\n    text:\n      en:\n        default: I only",
            "    domian: information\n    text:\n      en:\n        default: I only",
        )
        .replace("score: 100, label: { en: Agree", "score: 150, label: { en: Agree")
        .replace(
            "show_if: voice in ['carer_self', 'carer_on_behalf']",
            "show_if: voice in ['carer_self', 'carer_on_behalf'] and answered(anything_else)",
        );
    let problems = definitions::parse("many.yaml", &broken).unwrap_err();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let all = text.join("\n");
    assert!(all.contains("unknown key `domian`"), "{all}");
    assert!(all.contains("must be a number from 0 to 100"), "{all}");
    assert!(all.contains("uses `anything_else` from page"), "{all}");
    assert!(text.len() >= 3);
    assert!(problems.windows(2).all(|w| w[0].at <= w[1].at), "reported in file order");
}

fn content_hash_is_the_sha256_of_the_bytes() {
    let path = common::project_path("survey-definitions/format-example.yaml");
    let loaded = definitions::load_file(&path).unwrap();
    assert_eq!(loaded.definition.content_hash.len(), 64);
    assert_eq!(loaded.definition.content_hash, definitions::content_hash(&std::fs::read(&path).unwrap()));
}

fn example_source() -> String {
    std::fs::read_to_string(common::project_path("survey-definitions/format-example.yaml")).unwrap()
}

/// One random edit of a valid file: the kind of damage typing does.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, char),
    Truncate(usize),
    SwapLines(usize, usize),
    DuplicateLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let junk = prop::sample::select(vec![
        ':', '-', ' ', '\t', '\'', '"', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\n', 'x', '0',
    ]);
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), junk).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        any::<usize>().prop_map(Edit::DuplicateLine),
    ]
}

fn apply(source: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match *e {
            Edit::Delete(i) => {
                if !chars.is_empty() {
                    chars.remove(i % n);
                }
            }
            Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
            Edit::Truncate(i) => chars.truncate(i % n),
            Edit::SwapLines(a, b) | Edit::DuplicateLine(a @ b) => {
                let text: String = chars.iter().collect();
                let mut lines: Vec<&str> = text.lines().collect();
                if lines.is_empty() {
                    continue;
                }
                let (a, b) = (a % lines.len(), b % lines.len());
                if matches!(e, Edit::DuplicateLine(_)) {
                    lines.insert(a, lines[a]);
                } else {
                    lines.swap(a, b);
                }
                chars = lines.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(common::proptest_config(400))]

    fn arbitrary_text_never_panics(source in "\\PC{0,400}") {
        let _ = definitions::parse("random.yaml", &source);
    }

    fn yaml_shaped_noise_never_panics(source in "([a-z_]{1,8}: ?(\\[|\\{|'|\"|-|[a-z0-9 ]{0,6}|\\]|\\})\n {0,4}(- )?){0,40}") {
        let _ = definitions::parse("noise.yaml", &source);
    }

    fn mutated_definitions_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        let source = apply(&example_source(), &edits);
        if let Err(problems) = definitions::parse("mutated.yaml", &source) {
            prop_assert!(!problems.is_empty());
            for p in &problems {
                prop_assert!(p.at.line >= 1 && p.at.column >= 1, "{}", p);
            }
        }
    }
}

pub fn trials() -> Vec<Trial> {
    plain_trials![
        shipped_definitions_are_valid,
        each_broken_definition_reports_its_mistake_where_it_is,
        every_problem_is_reported_at_once,
        content_hash_is_the_sha256_of_the_bytes,
        arbitrary_text_never_panics,
        yaml_shaped_noise_never_panics,
        mutated_definitions_never_panic,
    ]
}

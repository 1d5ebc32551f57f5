//! The architecture, checked from the source: which top-level module of
//! `src/` names which (`crate::x` outside comments), and three rules.
//!
//! - The top-level modules form no cycle.
//! - Only `main`, `cli` and `web` import `app` (start-up).
//! - The pure layers (`definitions`, `weighting`, `index`, `journey`, `paper`) import
//!   only each other: no storage, web, settings or clock from outside.
//!
//! `docs/architecture.md` draws the layers these rules keep.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use libtest_mimic::Trial;

type Graph = BTreeMap<String, BTreeSet<String>>;

const MAY_IMPORT_APP: [&str; 3] = ["main", "cli", "web"];
const PURE: [&str; 5] = ["definitions", "weighting", "index", "journey", "paper"];

/// Each top-level module and the top-level modules its files name.
fn graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src/");
            let first = relative.components().next().expect("a file name").as_os_str().to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let names = graph.entry(module.clone()).or_default();
            for line in text.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
                for prefix in ["crate::", "joinedup::"] {
                    for (at, _) in line.match_indices(prefix) {
                        // `foo_crate::x` is another crate's path, not ours.
                        let before = line[..at].chars().next_back();
                        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                            continue;
                        }
                        let rest = &line[at + prefix.len()..];
                        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                        if !name.is_empty() && name != module {
                            names.insert(name);
                        }
                    }
                }
            }
        }
    }
    // Names that are not modules (macros exported at the root, say).
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for names in graph.values_mut() {
        names.retain(|n| modules.contains(n));
    }
    graph
}

/// A cycle, as the modules along it, if there is one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next) {
                Some(Mark::Open) => {
                    let start = path.iter().position(|p| p == next).expect("an open node is on the path");
                    let mut found = path[start..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(found) = visit(next, graph, marks, path) {
                        return Some(found);
                    }
                }
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if !marks.contains_key(node)
            && let Some(found) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(found);
        }
    }
    None
}

/// Every broken rule, one sentence each.
fn problems(graph: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(found) = cycle(graph) {
        out.push(format!("the top-level modules import each other in a cycle: {}", found.join(" → ")));
    }
    for (module, names) in graph {
        if names.contains("app") && !MAY_IMPORT_APP.contains(&module.as_str()) {
            out.push(format!("`{module}` imports `app`; only main, cli and web may"));
        }
        if PURE.contains(&module.as_str()) {
            for name in names.iter().filter(|n| !PURE.contains(&n.as_str())) {
                out.push(format!("`{module}` is pure but imports `{name}`"));
            }
        }
    }
    out
}

fn the_modules_form_one_way_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    for expected in ["app", "cli", "web", "storage", "index", "definitions"] {
        assert!(graph.contains_key(expected), "`{expected}` was not found: is the walk reading src/?");
    }
    assert!(graph["cli"].contains("app"), "the walk sees imports");
    let found = problems(&graph);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

fn the_check_finds_what_it_should() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g = Graph::new();
        for (from, to) in edges {
            g.entry(from.to_string()).or_default().insert(to.to_string());
            g.entry(to.to_string()).or_default();
        }
        g
    };
    let cyclic = graph(&[("web", "reports"), ("reports", "outputs"), ("outputs", "reports")]);
    assert_eq!(problems(&cyclic), ["the top-level modules import each other in a cycle: outputs → reports → outputs"]);
    assert_eq!(problems(&graph(&[("reports", "app")])), ["`reports` imports `app`; only main, cli and web may"]);
    assert_eq!(problems(&graph(&[("index", "storage")])), ["`index` is pure but imports `storage`"]);
    assert!(problems(&graph(&[("cli", "app"), ("app", "web"), ("web", "index"), ("index", "weighting")])).is_empty());
}

pub fn trials() -> Vec<Trial> {
    plain_trials![the_modules_form_one_way_layers, the_check_finds_what_it_should,]
}

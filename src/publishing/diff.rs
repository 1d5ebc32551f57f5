//! A readable line diff between two definition texts, as a survey lead sees
//! it before publishing: only the changed lines with three lines of context
//! around them, each with its line number in the old and the new text.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Same,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub change: Change,
    /// 1-based line numbers; a line only in one text has only that number.
    pub old_line: Option<usize>,
    pub new_line: Option<usize>,
    pub text: String,
}

/// A stretch of changes with its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hunk {
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub hunks: Vec<Hunk>,
    pub added: usize,
    pub removed: usize,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added == 0 && self.removed == 0
    }
}

/// The changes from `old` to `new`, line by line.
pub fn lines(old: &str, new: &str) -> Diff {
    let diff = TextDiff::from_lines(old, new);
    let (mut added, mut removed) = (0, 0);
    let hunks = diff
        .grouped_ops(3)
        .iter()
        .map(|group| {
            let lines = group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|c| {
                    let change = match c.tag() {
                        ChangeTag::Equal => Change::Same,
                        ChangeTag::Insert => {
                            added += 1;
                            Change::Added
                        }
                        ChangeTag::Delete => {
                            removed += 1;
                            Change::Removed
                        }
                    };
                    Line {
                        change,
                        old_line: c.old_index().map(|i| i + 1),
                        new_line: c.new_index().map(|i| i + 1),
                        text: c.value().trim_end_matches(['\n', '\r']).to_string(),
                    }
                })
                .collect();
            Hunk { lines }
        })
        .collect();
    Diff { hunks, added, removed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changes_with_numbers_and_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
        let d = lines(old, new);
        assert_eq!((d.added, d.removed), (2, 1));
        let all: Vec<&Line> = d.hunks.iter().flat_map(|h| &h.lines).collect();
        let removed = all.iter().find(|l| l.change == Change::Removed).unwrap();
        assert_eq!((removed.old_line, removed.new_line, removed.text.as_str()), (Some(5), None, "e"));
        let added = all.iter().find(|l| l.change == Change::Added).unwrap();
        assert_eq!((added.old_line, added.new_line, added.text.as_str()), (None, Some(5), "E"));
        assert!(!all.iter().any(|l| l.text == "a"), "lines far from a change are left out");
        assert!(lines(old, old).is_empty());
    }
}

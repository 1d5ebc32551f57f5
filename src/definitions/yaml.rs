//! A small located YAML tree built from `saphyr-parser` events.
//!
//! Survey leads write definitions by hand, so every node keeps the line and
//! column it came from. Scalars stay as the text the author typed: the schema,
//! not YAML's type guessing, decides whether `no` or `1.0` is a string or a
//! number. Anchors, aliases, tags, duplicate keys and several documents are
//! refused, because each of them makes a hand-written file mean something
//! other than it seems to.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A position in a definition file, both parts counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_span(span: &Span) -> Self {
        Pos { line: span.start.line(), column: span.start.col() + 1 }
    }

    /// The position `chars` characters to the right on the same line.
    pub fn shifted(self, chars: usize) -> Self {
        Pos { line: self.line, column: self.column + chars }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar as typed; `quoted` tells `"null"` from `null`.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its own position (unknown-key errors point at the key).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub text: String,
    pub at: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub at: Pos,
    /// For quoted scalars, where the text itself starts (after the quote).
    pub text_at: Pos,
}

impl Node {
    /// True for `~`, `null` and an empty plain value.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, quoted: false } if text.is_empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
    }

    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "nothing",
            NodeKind::Scalar { .. } => "a single value",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a set of keys",
        }
    }
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub at: Pos,
    pub message: String,
    pub hint: Option<String>,
}

impl SyntaxError {
    fn new(at: Pos, message: impl Into<String>) -> Self {
        SyntaxError { at, message: message.into(), hint: None }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Parses one YAML document into a located tree.
pub fn parse(source: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    for item in Parser::new_from_str(source) {
        let (event, span) = item.map_err(|e| {
            let at = Pos { line: e.marker().line(), column: e.marker().col() + 1 };
            SyntaxError::new(at, format!("the YAML cannot be read: {}", e.info()))
                .hint("check the indentation and that every `key: value` pair has a space after the colon")
        })?;
        builder.event(event, &span)?;
    }
    builder.finish()
}

enum Frame {
    Seq(Vec<Node>, Pos),
    Map(Vec<(Key, Node)>, Pos, Option<Key>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), SyntaxError> {
        let at = Pos::from_span(span);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SyntaxError::new(
                        at,
                        "a definition file holds one survey, but this file has a second YAML document",
                    )
                    .hint("remove the `---` line, or move the second survey into its own file"));
                }
                Ok(())
            }
            Event::Alias(_) => Err(SyntaxError::new(at, "aliases (`*name`) are not supported in survey definitions")
                .hint("write the value out in full, or use a shared `option_sets` entry")),
            Event::Scalar(text, style, anchor, tag) => {
                refuse_anchor_and_tag(at, anchor, tag.is_some())?;
                let quoted = !matches!(style, ScalarStyle::Plain);
                let text_at = match style {
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => at.shifted(1),
                    _ => at,
                };
                let node = Node { kind: NodeKind::Scalar { text: text.into_owned(), quoted }, at, text_at };
                self.push(node)
            }
            Event::SequenceStart(anchor, tag) => {
                refuse_anchor_and_tag(at, anchor, tag.is_some())?;
                self.stack.push(Frame::Seq(Vec::new(), at));
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                refuse_anchor_and_tag(at, anchor, tag.is_some())?;
                self.stack.push(Frame::Map(Vec::new(), at, None));
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq(items, start)) => {
                    self.push(Node { kind: NodeKind::Seq(items), at: start, text_at: start })
                }
                _ => Err(SyntaxError::new(at, "unexpected end of a list")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map(entries, start, _)) => {
                    self.push(Node { kind: NodeKind::Map(entries), at: start, text_at: start })
                }
                _ => Err(SyntaxError::new(at, "unexpected end of a mapping")),
            },
        }
    }

    fn push(&mut self, node: Node) -> Result<(), SyntaxError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq(items, _)) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map(entries, _, pending)) => match pending.take() {
                None => {
                    let NodeKind::Scalar { text, .. } = node.kind else {
                        return Err(SyntaxError::new(node.at, "a key must be a plain name, not a list or a mapping"));
                    };
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.text == text) {
                        return Err(SyntaxError::new(
                            node.at,
                            format!("duplicate key `{text}` (first given on line {})", first.at.line),
                        )
                        .hint("each key may appear once in the same block; remove or rename one of them"));
                    }
                    *pending = Some(Key { text, at: node.at });
                    Ok(())
                }
                Some(key) => {
                    entries.push((key, node));
                    Ok(())
                }
            },
        }
    }

    fn finish(self) -> Result<Node, SyntaxError> {
        self.root.ok_or_else(|| SyntaxError::new(Pos { line: 1, column: 1 }, "the file is empty"))
    }
}

fn refuse_anchor_and_tag(at: Pos, anchor: usize, tagged: bool) -> Result<(), SyntaxError> {
    if anchor != 0 {
        return Err(SyntaxError::new(at, "anchors (`&name`) are not supported in survey definitions")
            .hint("write the value out in full, or use a shared `option_sets` entry"));
    }
    if tagged {
        return Err(SyntaxError::new(at, "YAML tags (`!name`) are not supported in survey definitions")
            .hint("remove the tag; the format decides each value's type"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_raw_text() {
        let node = parse("id: demo\nversion: 1.0\nlist:\n  - no\n  - 'x'\n").unwrap();
        let NodeKind::Map(entries) = &node.kind else { panic!("map expected") };
        assert_eq!(entries[1].0.text, "version");
        assert_eq!(entries[1].1.kind, NodeKind::Scalar { text: "1.0".into(), quoted: false });
        assert_eq!(entries[1].1.at, Pos { line: 2, column: 10 });
        let NodeKind::Seq(items) = &entries[2].1.kind else { panic!("seq expected") };
        assert_eq!(items[0].kind, NodeKind::Scalar { text: "no".into(), quoted: false });
        assert_eq!(items[1].at, Pos { line: 5, column: 5 });
        assert_eq!(items[1].text_at, Pos { line: 5, column: 6 });
    }

    #[test]
    fn refuses_duplicates_aliases_and_second_documents() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.at, Pos { line: 3, column: 1 });
        assert!(err.message.contains("duplicate key `a` (first given on line 1)"));
        assert!(parse("a: &x 1\nb: *x\n").unwrap_err().message.contains("anchors"));
        assert!(parse("a: 1\n---\nb: 2\n").unwrap_err().message.contains("second YAML document"));
        assert!(parse("a: !!str 1\n").unwrap_err().message.contains("tags"));
        assert_eq!(parse("").unwrap_err().message, "the file is empty");
    }

    #[test]
    fn null_forms() {
        let node = parse("a:\nb: ~\nc: 'null'\n").unwrap();
        let NodeKind::Map(entries) = &node.kind else { panic!() };
        assert!(entries[0].1.is_null());
        assert!(entries[1].1.is_null());
        assert!(!entries[2].1.is_null());
    }
}

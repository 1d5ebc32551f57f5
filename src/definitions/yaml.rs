//! A small located YAML tree built from `saphyr-parser` events.
//!
//! Survey leads write definitions by hand, so every node keeps the line and
//! column it came from. Scalars stay as the text the author typed: the schema,
//! not YAML's type guessing, decides whether `no` or `1.0` is a string or a
//! number. Anchors, aliases, tags, duplicate keys and several documents are
//! refused, because each of them makes a hand-written file mean something
//! other than it seems to.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Lists and mappings may nest this deep, no deeper. A real definition
/// nests about eight levels; the limit stops a file like `- - - - …` from
/// building a tree so deep that reading or dropping it overflows the stack.
pub const MAX_DEPTH: usize = 32;

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

/// How a scalar was written, which decides how its text maps back to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
    /// A list or mapping written with brackets, `[a, b]` or `{ k: v }`.
    Flow,
    /// A list or mapping written as indented lines.
    Indented,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub at: Pos,
    /// Character index of the node's start in the source.
    pub index: usize,
    pub style: Style,
}

impl Node {
    /// True for `~`, `null` and an empty plain value.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, quoted: false } if text.is_empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
    }

    /// The file position of the `offset`-th character of a scalar's text,
    /// following it across folded lines and past an opening quote.
    pub fn text_pos(&self, source: &[char], offset: usize) -> Pos {
        let mut i = self.index;
        let mut pos = self.at;
        match self.style {
            Style::Quoted => {
                i += 1;
                pos.column += 1;
            }
            Style::Block => {
                while i < source.len() && source[i] != '\n' {
                    i += 1;
                }
                (i, pos) = skip_indent(source, i, pos);
            }
            _ => {}
        }
        let mut out = 0;
        while i < source.len() && out < offset {
            if source[i] == '\n' {
                (i, pos) = skip_indent(source, i, pos);
            } else {
                i += 1;
                pos.column += 1;
            }
            out += 1;
        }
        pos
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

/// Steps over a line break and the next line's indentation.
fn skip_indent(source: &[char], mut i: usize, mut pos: Pos) -> (usize, Pos) {
    i += 1;
    pos.line += 1;
    pos.column = 1;
    while i < source.len() && matches!(source[i], ' ' | '\t') {
        i += 1;
        pos.column += 1;
    }
    (i, pos)
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
    let mut builder = Builder { chars: source.chars().collect(), ..Builder::default() };
    for item in Parser::new_from_str(source) {
        let (event, span) = item.map_err(|e| {
            let at = Pos { line: e.marker().line(), column: e.marker().col() + 1 };
            explain_syntax_error(source, at, e.info())
        })?;
        builder.event(event, &span)?;
    }
    builder.finish()
}

/// Turns the parser's wording into what a survey lead can act on, by
/// looking for the usual hand-editing slips at or above the error.
fn explain_syntax_error(source: &str, at: Pos, info: &str) -> SyntaxError {
    let lines: Vec<&str> = source.lines().collect();
    let upto = (at.line + 1).min(lines.len());
    if let Some((n, _)) = lines[..upto].iter().enumerate().find(|(_, l)| {
        let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
        indent.contains('\t')
    }) {
        return SyntaxError::new(
            Pos { line: n + 1, column: 1 },
            "the YAML cannot be read: this line is indented with a tab; indent with spaces only",
        )
        .hint("set your editor to insert spaces for the Tab key");
    }
    for n in (upto.saturating_sub(3)..upto).rev() {
        if let Some((column, token)) = key_without_space(lines[n]) {
            return SyntaxError::new(
                Pos { line: n + 1, column },
                format!("the YAML cannot be read: `{token}` needs a space after the colon"),
            );
        }
    }
    if info.contains("unknown anchor") {
        return SyntaxError::new(at, "aliases (`*name`) are not supported in survey definitions")
            .hint("write the value out in full, or use a shared `option_sets` entry");
    }
    if info.contains("mapping values are not allowed") && at.line <= lines.len() {
        let line = lines[at.line - 1];
        let column = line.chars().take_while(|c| *c == ' ').count() + 1;
        let key: String = line.trim_start().chars().take_while(|c| *c != ':').collect();
        return SyntaxError::new(
            Pos { line: at.line, column },
            format!(
                "the YAML cannot be read: `{}` is indented further than the key above it; keys in the same block must start in the same column",
                key.trim()
            ),
        );
    }
    SyntaxError::new(at, format!("the YAML cannot be read: {info}"))
        .hint("check the indentation and that every `key: value` pair has a space after the colon")
}

/// `option_set:agreement` at the start of a line: a key missing the space
/// after its colon. Returns the colon's column and the whole token.
fn key_without_space(line: &str) -> Option<(usize, String)> {
    let trimmed = line.trim_start();
    let lead = line.len() - trimmed.len();
    let (dash, rest) = match trimmed.strip_prefix("- ") {
        Some(r) => (2, r),
        None => (0, trimmed),
    };
    let name_len = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').count();
    let after = rest[name_len..].chars().next()?;
    let next = rest[name_len..].chars().nth(1)?;
    if name_len == 0 || after != ':' || next.is_whitespace() || next == '/' {
        return None;
    }
    let token: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    Some((lead + dash + name_len + 1, token))
}

enum Frame {
    Seq(Vec<Node>, Pos, usize),
    Map(Vec<(Key, Node)>, Pos, usize, Option<Key>, Seen),
}

/// The keys of a mapping so far and the line of each: duplicates are found
/// in constant time, so a mapping of 100,000 keys is read in linear time.
type Seen = HashMap<String, usize>;

#[derive(Default)]
struct Builder {
    chars: Vec<char>,
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
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    _ => Style::Block,
                };
                let node = Node {
                    kind: NodeKind::Scalar { text: text.into_owned(), quoted },
                    at,
                    index: span.start.index(),
                    style,
                };
                self.push(node)
            }
            Event::SequenceStart(anchor, tag) => {
                refuse_anchor_and_tag(at, anchor, tag.is_some())?;
                self.deeper(at)?;
                self.stack.push(Frame::Seq(Vec::new(), at, span.start.index()));
                Ok(())
            }
            Event::MappingStart(anchor, tag) => {
                refuse_anchor_and_tag(at, anchor, tag.is_some())?;
                self.deeper(at)?;
                self.stack.push(Frame::Map(Vec::new(), at, span.start.index(), None, Seen::new()));
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq(items, start, index)) => {
                    let style = self.container_style(index, '[');
                    self.push(Node { kind: NodeKind::Seq(items), at: start, index, style })
                }
                _ => Err(SyntaxError::new(at, "unexpected end of a list")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map(entries, start, index, _, _)) => {
                    let style = self.container_style(index, '{');
                    self.push(Node { kind: NodeKind::Map(entries), at: start, index, style })
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
            Some(Frame::Seq(items, _, _)) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map(entries, _, _, pending, seen)) => match pending.take() {
                None => {
                    let NodeKind::Scalar { text, .. } = node.kind else {
                        return Err(SyntaxError::new(node.at, "a key must be a plain name, not a list or a mapping"));
                    };
                    if let Some(first) = seen.get(&text) {
                        return Err(SyntaxError::new(
                            node.at,
                            format!("duplicate key `{text}` (first given on line {first})"),
                        )
                        .hint("each key may appear once in the same block; remove or rename one of them"));
                    }
                    seen.insert(text.clone(), node.at.line);
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

    /// Refuses a list or mapping that would nest deeper than `MAX_DEPTH`.
    fn deeper(&self, at: Pos) -> Result<(), SyntaxError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(SyntaxError::new(
                at,
                format!("lists and mappings nest more than {MAX_DEPTH} levels deep here; definitions are limited to {MAX_DEPTH}"),
            )
            .hint("a survey definition nests about eight levels; check the indentation and the `- ` markers"));
        }
        Ok(())
    }

    fn container_style(&self, index: usize, opening: char) -> Style {
        if self.chars.get(index) == Some(&opening) { Style::Flow } else { Style::Indented }
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
        assert_eq!(items[1].style, Style::Quoted);
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
    fn text_positions_follow_folded_lines() {
        let source = "a: first line\n  and second\nb: 'quoted x'\n";
        let chars: Vec<char> = source.chars().collect();
        let node = parse(source).unwrap();
        let NodeKind::Map(entries) = &node.kind else { panic!() };
        let a = &entries[0].1;
        assert_eq!(a.kind, NodeKind::Scalar { text: "first line and second".into(), quoted: false });
        assert_eq!(a.text_pos(&chars, 15), Pos { line: 2, column: 7 });
        assert_eq!(entries[1].1.text_pos(&chars, 7), Pos { line: 3, column: 12 });
    }

    #[test]
    fn syntax_slips_are_explained_where_they_are() {
        let err = parse("a:\n  b: 1\n\tc: 2\n").unwrap_err();
        assert_eq!((err.at, err.message.contains("tab")), (Pos { line: 3, column: 1 }, true));
        let err = parse("a:\n  b:1\n  c: 2\n").unwrap_err();
        assert_eq!(err.at, Pos { line: 2, column: 4 });
        assert!(err.message.contains("`b:1` needs a space after the colon"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_refused_where_it_goes_too_deep() {
        let deep = format!("{}x\n", "- ".repeat(40_000));
        let err = parse(&deep).unwrap_err();
        assert_eq!(err.at, Pos { line: 1, column: 2 * MAX_DEPTH + 1 });
        assert!(err.message.contains("limited to 32"), "{}", err.message);
        let flow = format!("a: {}1{}\n", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(parse(&flow).unwrap_err().message.contains("nest more than"));
        let fits = format!("{}x\n", "- ".repeat(MAX_DEPTH));
        assert!(parse(&fits).is_ok());
    }

    #[test]
    fn many_keys_are_read_in_linear_time() {
        let keys: String = (0..150_000).map(|n| format!("k{n}: 1\n")).collect();
        let node = parse(&keys).unwrap();
        let NodeKind::Map(entries) = &node.kind else { panic!() };
        assert_eq!(entries.len(), 150_000);
        let repeated = format!("{keys}k7: 2\n");
        assert!(parse(&repeated).unwrap_err().message.contains("duplicate key `k7` (first given on line 8)"));
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

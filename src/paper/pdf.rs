//! Draws booklets as one A4 PDF with krilla: tagged (headings, paragraphs,
//! lists, in reading order, so a screen reader and `pdftotext` read it as
//! printed), with the bundled Lato (SIL OFL, Polish glyphs) embedded.
//!
//! Two steps: `layout` measures and wraps text into lines and pages of
//! marks with positions, then `draw` writes them and builds the tag tree
//! from the marks' places in it. Tick boxes, answer lines and footers are
//! artifacts: they carry no words a reader needs.

use std::num::NonZeroU16;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::tagging::{Artifact, ArtifactType, ContentTag, Identifier, Node, SpanTag, Tag, TagGroup, TagKind, TagTree};
use krilla::text::{Font, TextDirection};
use krilla::{Document, SerializeSettings};

use super::booklet::{Answer, Block, Booklet, Question};
use super::letter::Letter;

const REGULAR: &[u8] = include_bytes!("../../fonts/Lato-Regular.ttf");
const BOLD: &[u8] = include_bytes!("../../fonts/Lato-Bold.ttf");

/// A4 in points.
const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 56.0;
const FOOTER_SPACE: f32 = 36.0;

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the bundled font cannot be read")]
    Font,
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

/// Point sizes: standard print, or large print at 16 pt and above.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    body: f32,
    small: f32,
    heading: f32,
    title: f32,
    tick: f32,
}

impl Sizes {
    fn for_print(large: bool) -> Sizes {
        if large {
            Sizes { body: 16.0, small: 16.0, heading: 20.0, title: 26.0, tick: 20.0 }
        } else {
            Sizes { body: 12.0, small: 11.0, heading: 15.0, title: 22.0, tick: 14.0 }
        }
    }
}

struct Fonts {
    regular: Font,
    bold: Font,
    regular_face: rustybuzz::Face<'static>,
    bold_face: rustybuzz::Face<'static>,
}

impl Fonts {
    fn load() -> Result<Fonts, PdfError> {
        Ok(Fonts {
            regular: Font::new(REGULAR.into(), 0).ok_or(PdfError::Font)?,
            bold: Font::new(BOLD.into(), 0).ok_or(PdfError::Font)?,
            regular_face: rustybuzz::Face::from_slice(REGULAR, 0).ok_or(PdfError::Font)?,
            bold_face: rustybuzz::Face::from_slice(BOLD, 0).ok_or(PdfError::Font)?,
        })
    }

    /// The width of `text` as drawn, shaped as krilla shapes it.
    fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        let face = if bold { &self.bold_face } else { &self.regular_face };
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        let shaped = rustybuzz::shape(face, &[], buffer);
        let units: i32 = shaped.glyph_positions().iter().map(|p| p.x_advance).sum();
        units as f32 * size / face.units_per_em() as f32
    }

    /// Greedy word wrap; a word wider than the line is split by characters.
    fn wrap(&self, text: &str, width: f32, size: f32, bold: bool) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
            if self.width(&candidate, size, bold) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if self.width(word, size, bold) <= width {
                line = word.to_string();
            } else {
                for c in word.chars() {
                    if !line.is_empty() && self.width(&format!("{line}{c}"), size, bold) > width {
                        lines.push(std::mem::take(&mut line));
                    }
                    line.push(c);
                }
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }
}

/// What a group of the tag tree is.
#[derive(Debug, Clone)]
enum Kind {
    Section,
    Heading(u16, String),
    Paragraph,
    List,
    Item,
    Body,
    Figure(String),
}

#[derive(Debug, Clone, Copy)]
enum Child {
    Group(usize),
    Leaf(usize),
}

/// The tag tree while laying out: groups, and leaves that are marks.
#[derive(Debug, Default)]
struct Tree {
    groups: Vec<(Kind, Vec<Child>)>,
    root: Vec<usize>,
    leaves: usize,
}

impl Tree {
    fn group(&mut self, parent: Option<usize>, kind: Kind) -> usize {
        self.groups.push((kind, Vec::new()));
        let id = self.groups.len() - 1;
        match parent {
            Some(p) => self.groups[p].1.push(Child::Group(id)),
            None => self.root.push(id),
        }
        id
    }

    fn leaf(&mut self, group: usize) -> usize {
        self.leaves += 1;
        self.groups[group].1.push(Child::Leaf(self.leaves - 1));
        self.leaves - 1
    }

    fn build(&self, ids: &mut [Option<Identifier>]) -> TagTree {
        fn node(tree: &Tree, g: usize, ids: &mut [Option<Identifier>]) -> Option<TagGroup> {
            let (kind, children) = &tree.groups[g];
            let tag: TagKind = match kind {
                Kind::Section => Tag::Section.into(),
                Kind::Heading(level, title) => {
                    Tag::Hn(NonZeroU16::new(*level).unwrap_or(NonZeroU16::MIN), Some(title.clone())).into()
                }
                Kind::Paragraph => Tag::P.into(),
                Kind::List => Tag::L(krilla::tagging::ListNumbering::None).into(),
                Kind::Item => Tag::LI.into(),
                Kind::Body => Tag::LBody.into(),
                Kind::Figure(alt) => Tag::Figure(Some(alt.clone())).into(),
            };
            let mut group = TagGroup::new(tag);
            for child in children {
                match child {
                    Child::Group(c) => {
                        if let Some(n) = node(tree, *c, ids) {
                            group.push(Node::from(n));
                        }
                    }
                    Child::Leaf(l) => {
                        if let Some(id) = ids[*l].take() {
                            group.push(Node::from(id));
                        }
                    }
                }
            }
            (!group.children.is_empty()).then_some(group)
        }
        let mut tree = TagTree::new();
        for &g in &self.root {
            if let Some(n) = node(self, g, ids) {
                tree.push(n);
            }
        }
        tree
    }
}

/// Something drawn, at a position relative to its line's top.
#[derive(Debug, Clone)]
enum Mark {
    Text { x: f32, baseline: f32, size: f32, bold: bool, text: String, leaf: usize },
    Box { x: f32, y: f32, w: f32, h: f32 },
    Rule { x: f32, y: f32, w: f32 },
    Qr { x: f32, y: f32, module: f32, dark: Vec<(usize, usize)>, leaf: usize },
}

impl Mark {
    fn shifted(&self, dy: f32) -> Mark {
        let mut m = self.clone();
        match &mut m {
            Mark::Text { baseline, .. } => *baseline += dy,
            Mark::Box { y, .. } | Mark::Rule { y, .. } | Mark::Qr { y, .. } => *y += dy,
        }
        m
    }
}

#[derive(Debug, Default)]
struct Line {
    height: f32,
    marks: Vec<Mark>,
}

/// Lines that stay on one page if they fit on one.
#[derive(Debug, Default)]
struct Chunk {
    lines: Vec<Line>,
    new_page: bool,
}

struct Layout<'a> {
    fonts: &'a Fonts,
    sizes: Sizes,
    tree: Tree,
    chunks: Vec<Chunk>,
}

const WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;

impl Layout<'_> {
    fn leading(size: f32) -> f32 {
        size * 1.35
    }

    /// Wrapped text as lines, each a leaf of `group`.
    fn text(&mut self, chunk: &mut Chunk, group: usize, text: &str, x: f32, size: f32, bold: bool) {
        for line in self.fonts.wrap(text, WIDTH - x, size, bold) {
            let leaf = self.tree.leaf(group);
            chunk.lines.push(Line {
                height: Self::leading(size),
                marks: vec![Mark::Text { x, baseline: size * 1.05, size, bold, text: line, leaf }],
            });
        }
    }

    fn gap(chunk: &mut Chunk, height: f32) {
        chunk.lines.push(Line { height, marks: Vec::new() });
    }

    fn paragraph(&mut self, chunk: &mut Chunk, parent: usize, text: &str, size: f32, bold: bool) {
        let p = self.tree.group(Some(parent), Kind::Paragraph);
        self.text(chunk, p, text, 0.0, size, bold);
        Self::gap(chunk, size * 0.5);
    }

    fn cover(&mut self, booklet: &Booklet, copy: usize) {
        let sizes = self.sizes;
        let mut chunk = Chunk { new_page: true, ..Chunk::default() };
        if let Some(serial) = &booklet.serial {
            let figure = self.tree.group(Some(copy), Kind::Figure(serial.clone()));
            if let Some(qr) = self.qr(figure, serial, 64.0) {
                chunk.lines.push(Line { height: 72.0, marks: vec![qr] });
            }
        }
        for block in &booklet.cover {
            match block {
                Block::Title(t) => {
                    let h = self.tree.group(Some(copy), Kind::Heading(1, t.clone()));
                    self.text(&mut chunk, h, t, 0.0, sizes.title, true);
                    Self::gap(&mut chunk, sizes.body);
                }
                Block::Heading(t) => {
                    Self::gap(&mut chunk, sizes.body * 0.5);
                    let h = self.tree.group(Some(copy), Kind::Heading(2, t.clone()));
                    self.text(&mut chunk, h, t, 0.0, sizes.heading, true);
                    Self::gap(&mut chunk, sizes.body * 0.3);
                }
                Block::Paragraph(t) => self.paragraph(&mut chunk, copy, t, sizes.body, false),
                Block::Question(_) => {}
            }
        }
        self.chunks.push(chunk);
    }

    /// A QR code of `text`, `size` points wide, at the right margin.
    fn qr(&mut self, figure: usize, text: &str, size: f32) -> Option<Mark> {
        let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
        let leaf = self.tree.leaf(figure);
        let width = code.width();
        let colors = code.to_colors();
        let dark =
            (0..width * width).filter(|i| colors[*i] == qrcode::Color::Dark).map(|i| (i % width, i / width)).collect();
        Some(Mark::Qr { x: WIDTH - size, y: 0.0, module: size / width as f32, dark, leaf })
    }

    /// A letter on a page of its own: the address where a window envelope
    /// shows it, the QR code of the personal link beside it, then the text.
    fn letter(&mut self, letter: &Letter, section: usize) {
        let s = self.sizes;
        let mut chunk = Chunk { new_page: true, ..Chunk::default() };
        let address = self.tree.group(Some(section), Kind::Paragraph);
        let figure = self.tree.group(Some(section), Kind::Figure(letter.code.clone()));
        Self::gap(&mut chunk, 40.0);
        let first = chunk.lines.len();
        for line in &letter.address {
            self.text(&mut chunk, address, line, 0.0, s.body, false);
        }
        if let Some(qr) = self.qr(figure, &letter.link, 96.0) {
            chunk.lines[first].marks.push(qr);
        }
        let shown: f32 = chunk.lines[first..].iter().map(|l| l.height).sum();
        Self::gap(&mut chunk, (110.0 - shown).max(s.body));
        self.paragraph(&mut chunk, section, &letter.date, s.body, false);
        let h = self.tree.group(Some(section), Kind::Heading(1, letter.title.clone()));
        self.text(&mut chunk, h, &letter.title, 0.0, s.heading, true);
        Self::gap(&mut chunk, s.body * 0.6);
        for paragraph in &letter.body {
            let bold = paragraph.contains(&letter.code);
            self.paragraph(&mut chunk, section, paragraph, s.body, bold);
        }
        self.chunks.push(chunk);
    }

    fn question(&mut self, q: &Question, copy: usize) {
        let s = self.sizes;
        let mut chunk = Chunk::default();
        let section = self.tree.group(Some(copy), Kind::Section);
        if let Some(only_if) = &q.only_if {
            self.paragraph(&mut chunk, section, only_if, s.body, true);
        }
        let heading = format!("{}. {}", q.number, q.text);
        let h = self.tree.group(Some(section), Kind::Heading(2, heading.clone()));
        let indent = self.fonts.width(&format!("{}.  ", q.number.max(10)), s.body, true);
        let number_leaf = self.tree.leaf(h);
        let mut first = true;
        for line in self.fonts.wrap(&q.text, WIDTH - indent, s.body, true) {
            let leaf = self.tree.leaf(h);
            let mut marks =
                vec![Mark::Text { x: indent, baseline: s.body * 1.05, size: s.body, bold: true, text: line, leaf }];
            if first {
                let number = format!("{}.", q.number);
                marks.insert(
                    0,
                    Mark::Text {
                        x: 0.0,
                        baseline: s.body * 1.05,
                        size: s.body,
                        bold: true,
                        text: number,
                        leaf: number_leaf,
                    },
                );
                first = false;
            }
            chunk.lines.push(Line { height: Self::leading(s.body), marks });
        }
        let p = self.tree.group(Some(section), Kind::Paragraph);
        if let Some(help) = &q.help {
            self.text(&mut chunk, p, help, indent, s.small, false);
        }
        self.text(&mut chunk, p, &q.instruction, indent, s.small, false);
        Self::gap(&mut chunk, s.body * 0.4);
        self.answer(&mut chunk, section, &q.answer, indent);
        Self::gap(&mut chunk, s.body * 1.2);
        self.chunks.push(chunk);
    }

    fn answer(&mut self, chunk: &mut Chunk, section: usize, answer: &Answer, indent: f32) {
        let s = self.sizes;
        let tick = s.tick;
        match answer {
            Answer::Boxes { options } => {
                let list = self.tree.group(Some(section), Kind::List);
                for option in options {
                    let item = self.tree.group(Some(list), Kind::Item);
                    let body = self.tree.group(Some(item), Kind::Body);
                    let x = indent + tick + s.body * 0.6;
                    let lines = self.fonts.wrap(&option.label, WIDTH - x, s.body, false);
                    let first = chunk.lines.len();
                    let last = lines.last().map_or("", String::as_str);
                    match &option.go_to {
                        Some(go) if self.fonts.width(&format!("{last}  {go}"), s.body, true) <= WIDTH - x => {
                            self.option_lines(chunk, body, &lines, x, Some(go));
                        }
                        Some(go) => {
                            self.option_lines(chunk, body, &lines, x, None);
                            self.text(chunk, body, go, x, s.body, true);
                        }
                        None => self.option_lines(chunk, body, &lines, x, None),
                    }
                    // The box sits beside the option's first line.
                    chunk.lines[first].marks.push(Mark::Box {
                        x: indent,
                        y: (Self::leading(s.body) - tick) / 2.0,
                        w: tick,
                        h: tick,
                    });
                    Self::gap(chunk, s.body * 0.35);
                }
            }
            Answer::Grid { columns, rows } => {
                for (i, row) in rows.iter().enumerate() {
                    let item = self.tree.group(Some(section), Kind::Paragraph);
                    let letter = char::from(b'a' + (i % 26) as u8);
                    self.text(chunk, item, &format!("{letter}. {row}"), indent, s.body, false);
                    // The options flow left to right, wrapping, each after its box.
                    let mut line = Line { height: Self::leading(s.body) + 4.0, marks: Vec::new() };
                    let mut x = indent;
                    for label in columns {
                        let w = tick + s.body * 0.4 + self.fonts.width(label, s.small, false) + s.body;
                        if x + w > WIDTH && x > indent {
                            chunk.lines.push(std::mem::take(&mut line));
                            line.height = Self::leading(s.body) + 4.0;
                            x = indent;
                        }
                        let leaf = self.tree.leaf(item);
                        line.marks.push(Mark::Box { x, y: (line.height - tick) / 2.0, w: tick, h: tick });
                        line.marks.push(Mark::Text {
                            x: x + tick + s.body * 0.4,
                            baseline: line.height / 2.0 + s.small * 0.35,
                            size: s.small,
                            bold: false,
                            text: label.clone(),
                            leaf,
                        });
                        x += w;
                    }
                    chunk.lines.push(line);
                    Self::gap(chunk, s.body * 0.5);
                }
            }
            Answer::Number { unit, boxes } => {
                let w = tick * 1.3;
                let mut line = Line { height: w * 1.4, marks: Vec::new() };
                for i in 0..*boxes {
                    line.marks.push(Mark::Box { x: indent + i as f32 * (w + 3.0), y: w * 0.2, w, h: w * 1.2 });
                }
                if let Some(unit) = unit {
                    let p = self.tree.group(Some(section), Kind::Paragraph);
                    let leaf = self.tree.leaf(p);
                    line.marks.push(Mark::Text {
                        x: indent + *boxes as f32 * (w + 3.0) + s.body * 0.5,
                        baseline: w * 1.05,
                        size: s.body,
                        bold: false,
                        text: unit.clone(),
                        leaf,
                    });
                }
                chunk.lines.push(line);
            }
            Answer::Date { labels } => {
                let w = tick * 1.3;
                let p = self.tree.group(Some(section), Kind::Paragraph);
                let mut heads = Line { height: Self::leading(s.small), marks: Vec::new() };
                let mut boxes = Line { height: w * 1.4, marks: Vec::new() };
                let mut x = indent;
                for (label, count) in labels.iter().zip([2, 2, 4]) {
                    let leaf = self.tree.leaf(p);
                    heads.marks.push(Mark::Text {
                        x,
                        baseline: s.small * 1.05,
                        size: s.small,
                        bold: false,
                        text: label.clone(),
                        leaf,
                    });
                    for i in 0..count {
                        boxes.marks.push(Mark::Box { x: x + i as f32 * (w + 3.0), y: w * 0.2, w, h: w * 1.2 });
                    }
                    x += count as f32 * (w + 3.0) + s.body * 1.5;
                }
                chunk.lines.push(heads);
                chunk.lines.push(boxes);
            }
            Answer::Text { lines } => {
                for _ in 0..*lines {
                    chunk.lines.push(Line {
                        height: s.body * 2.2,
                        marks: vec![Mark::Rule { x: indent, y: s.body * 2.0, w: WIDTH - indent }],
                    });
                }
            }
        }
    }

    /// An option's label lines, the last with its "go to" in bold after it.
    fn option_lines(&mut self, chunk: &mut Chunk, body: usize, lines: &[String], x: f32, go: Option<&str>) {
        let s = self.sizes;
        for (i, text) in lines.iter().enumerate() {
            let leaf = self.tree.leaf(body);
            let mut marks =
                vec![Mark::Text { x, baseline: s.body * 1.05, size: s.body, bold: false, text: text.clone(), leaf }];
            if i + 1 == lines.len()
                && let Some(go) = go
            {
                let leaf = self.tree.leaf(body);
                let after = x + self.fonts.width(&format!("{text}  "), s.body, false);
                marks.push(Mark::Text {
                    x: after,
                    baseline: s.body * 1.05,
                    size: s.body,
                    bold: true,
                    text: go.to_string(),
                    leaf,
                });
            }
            chunk.lines.push(Line { height: Self::leading(s.body), marks });
        }
    }
}

/// A page of marks at their places.
#[derive(Debug, Default)]
struct PageMarks {
    marks: Vec<Mark>,
    footer: String,
}

fn paginate(chunks: Vec<(Chunk, String)>) -> Vec<PageMarks> {
    let bottom = PAGE_HEIGHT - MARGIN - FOOTER_SPACE;
    let mut pages: Vec<PageMarks> = Vec::new();
    let mut y = bottom;
    for (chunk, footer) in chunks {
        let height: f32 = chunk.lines.iter().map(|l| l.height).sum();
        let fits_a_page = height <= bottom - MARGIN;
        if chunk.new_page || pages.is_empty() || (y + height > bottom && fits_a_page) {
            pages.push(PageMarks { marks: Vec::new(), footer: footer.clone() });
            y = MARGIN;
        }
        for line in chunk.lines {
            if y + line.height > bottom {
                pages.push(PageMarks { marks: Vec::new(), footer: footer.clone() });
                y = MARGIN;
            }
            let page = pages.last_mut().expect("a page");
            page.marks.extend(line.marks.iter().map(|m| m.shifted(y)));
            y += line.height;
        }
    }
    pages
}

/// Lays out and draws every booklet, each from a new page, into one PDF.
pub fn render(booklets: &[Booklet]) -> Result<Vec<u8>, PdfError> {
    let fonts = Fonts::load()?;
    let first = booklets.first();
    let sizes = Sizes::for_print(first.is_some_and(|b| b.large_print));
    let mut layout = Layout { fonts: &fonts, sizes, tree: Tree::default(), chunks: Vec::new() };
    let mut footers = Vec::new();
    for booklet in booklets {
        let copy = layout.tree.group(None, Kind::Section);
        let before = layout.chunks.len();
        layout.cover(booklet, copy);
        for block in &booklet.questions {
            match block {
                Block::Question(q) => layout.question(q, copy),
                Block::Paragraph(t) => {
                    let mut chunk = Chunk::default();
                    layout.paragraph(&mut chunk, copy, t, sizes.body, true);
                    layout.chunks.push(chunk);
                }
                Block::Title(_) | Block::Heading(_) => {}
            }
        }
        footers.extend(std::iter::repeat_n(booklet.footer.clone(), layout.chunks.len() - before));
    }
    let Layout { tree, chunks, .. } = layout;
    let meta = first.map(|b| (b.title.clone(), b.language.clone()));
    write(&fonts, sizes, tree, paginate(chunks.into_iter().zip(footers).collect()), meta)
}

/// Lays out and draws letters, one a page, into one PDF to print.
pub fn render_letters(letters: &[Letter]) -> Result<Vec<u8>, PdfError> {
    let fonts = Fonts::load()?;
    let sizes = Sizes::for_print(false);
    let mut layout = Layout { fonts: &fonts, sizes, tree: Tree::default(), chunks: Vec::new() };
    for letter in letters {
        let section = layout.tree.group(None, Kind::Section);
        layout.letter(letter, section);
    }
    let Layout { tree, chunks, .. } = layout;
    let meta = letters.first().map(|l| (l.title.clone(), l.language.clone()));
    let footers = std::iter::repeat_n(String::new(), chunks.len());
    write(&fonts, sizes, tree, paginate(chunks.into_iter().zip(footers).collect()), meta)
}

/// Draws laid-out pages, then attaches the tag tree and the metadata.
fn write(
    fonts: &Fonts,
    sizes: Sizes,
    tree: Tree,
    pages: Vec<PageMarks>,
    meta: Option<(String, String)>,
) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::new_with(SerializeSettings { enable_tagging: true, ..SerializeSettings::default() });
    let mut ids: Vec<Option<Identifier>> = vec![None; tree.leaves];
    // Pages are numbered within each copy: a copy's footer differs from
    // the one before it.
    let mut number = 0;
    for (index, page) in pages.iter().enumerate() {
        number = if index > 0 && pages[index - 1].footer == page.footer { number + 1 } else { 1 };
        let Some(settings) = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT) else { continue };
        let mut pdf_page = document.start_page_with(settings);
        let mut surface = pdf_page.surface();
        for mark in &page.marks {
            draw(&mut surface, fonts, mark, &mut ids);
        }
        if !page.footer.is_empty() {
            let footer = format!("{}   {number}", page.footer);
            surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(ArtifactType::Footer)));
            surface.set_fill(Some(black()));
            surface.draw_text(
                Point::from_xy(MARGIN, PAGE_HEIGHT - MARGIN + sizes.small),
                fonts.regular.clone(),
                sizes.small,
                &footer,
                false,
                TextDirection::Auto,
            );
            surface.end_tagged();
        }
        surface.finish();
        pdf_page.finish();
    }
    document.set_tag_tree(tree.build(&mut ids));
    let mut metadata = Metadata::new().creator("joinedup".into());
    if let Some((title, language)) = meta {
        metadata = metadata.title(title).language(language);
    }
    document.set_metadata(metadata);
    document.finish().map_err(|e| PdfError::Write(format!("{e:?}")))
}

fn black() -> Fill {
    Fill { paint: rgb::Color::black().into(), ..Fill::default() }
}

fn draw(surface: &mut Surface<'_>, fonts: &Fonts, mark: &Mark, ids: &mut [Option<Identifier>]) {
    let at = |x: f32, y: f32| (MARGIN + x, y);
    match mark {
        Mark::Text { x, baseline, size, bold, text, leaf } => {
            let (x, y) = at(*x, *baseline);
            let id = surface.start_tagged(ContentTag::Span(SpanTag::empty()));
            surface.set_fill(Some(black()));
            surface.set_stroke(None);
            let font = if *bold { fonts.bold.clone() } else { fonts.regular.clone() };
            surface.draw_text(Point::from_xy(x, y), font, *size, text, false, TextDirection::Auto);
            surface.end_tagged();
            ids[*leaf] = Some(id);
        }
        Mark::Box { x, y, w, h } => {
            let (x, y) = at(*x, *y);
            outline(surface, Rect::from_xywh(x, y, *w, *h));
        }
        Mark::Rule { x, y, w } => {
            let (x, y) = at(*x, *y);
            let mut path = PathBuilder::new();
            path.move_to(x, y);
            path.line_to(x + w, y);
            surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(ArtifactType::Layout)));
            surface.set_fill(None);
            surface.set_stroke(Some(Stroke { width: 0.75, ..Stroke::default() }));
            if let Some(path) = path.finish() {
                surface.draw_path(&path);
            }
            surface.end_tagged();
        }
        Mark::Qr { x, y, module, dark, leaf } => {
            let (x, y) = at(*x, *y);
            let mut path = PathBuilder::new();
            for (cx, cy) in dark {
                if let Some(r) = Rect::from_xywh(x + *cx as f32 * module, y + *cy as f32 * module, *module, *module) {
                    path.push_rect(r);
                }
            }
            let id = surface.start_tagged(ContentTag::Other);
            surface.set_stroke(None);
            surface.set_fill(Some(black()));
            if let Some(path) = path.finish() {
                surface.draw_path(&path);
            }
            surface.end_tagged();
            ids[*leaf] = Some(id);
        }
    }
}

/// A tick or write-in box: an outline only.
fn outline(surface: &mut Surface<'_>, rect: Option<Rect>) {
    let Some(rect) = rect else { return };
    let mut path = PathBuilder::new();
    path.push_rect(rect);
    surface.start_tagged(ContentTag::Artifact(Artifact::with_kind(ArtifactType::Layout)));
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke { width: 1.0, ..Stroke::default() }));
    if let Some(path) = path.finish() {
        surface.draw_path(&path);
    }
    surface.end_tagged();
}

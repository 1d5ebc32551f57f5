//! The published results in every download format: tidy CSV (one row per
//! cell), JSON and XLSX (a sheet per group dimension and "About this
//! data"). Each carries every release's provenance. The columns are
//! documented in docs/outputs.md. Text that could start a spreadsheet
//! formula is neutralised in every CSV (OWASP CSV injection).

use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;

use crate::index::frame::{DIMENSIONS, MODE_NOTE};
use crate::index::results::Published;
use crate::index::sample::Sample;
use crate::results::reports::{Provenance, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Xlsx,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
        }
    }
}

/// The cell columns, in output order.
pub const COLUMNS: [&str; 30] = [
    "release",
    "sample",
    "group",
    "measure",
    "measure_label",
    "area",
    "area_name",
    "dimension",
    "category",
    "n",
    "sum_w",
    "n_eff_kish",
    "deff",
    "n_eff_design",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "suppressed",
    "not_estimable",
    "vs_england",
    "vs_england_se",
    "vs_england_significant",
    "peer_mean",
    "vs_peers",
    "vs_peers_significant",
    "funnel",
    "standardised",
    "standardised_se",
    "note",
];

/// Which columns hold numbers (the rest are text).
fn numeric(column: usize) -> bool {
    (10..=17).contains(&column) || (20..=28).contains(&column)
}

/// A text cell as a spreadsheet should take it: one that begins with `=`,
/// `+`, `-`, `@`, a tab or a carriage return would be read as a formula, so
/// it gets a leading `'` (OWASP's advice). Labels come from survey leads.
pub fn safe_text(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

fn number(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map(|x| x.to_string()).unwrap_or_default()
}

fn flag(v: Option<i8>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// A cell as text, column by column (text not yet neutralised).
pub fn cell_fields(release: &str, c: &Published) -> Vec<String> {
    vec![
        release.to_string(),
        c.sample.code().to_string(),
        c.group.clone(),
        c.measure.clone(),
        c.measure_label.clone(),
        c.area.clone(),
        c.area_name.clone(),
        c.dimension.clone(),
        c.category.clone(),
        c.n.clone(),
        number(c.sum_w),
        number(c.n_eff_kish),
        number(c.deff),
        number(c.n_eff_design),
        number(c.estimate),
        number(c.se),
        number(c.ci_low),
        number(c.ci_high),
        c.suppressed.clone().unwrap_or_default(),
        c.not_estimable.clone().unwrap_or_default(),
        number(c.vs_england),
        number(c.vs_england_se),
        flag(c.vs_england_significant),
        number(c.peer_mean),
        number(c.vs_peers),
        flag(c.vs_peers_significant),
        flag(c.funnel),
        number(c.standardised),
        number(c.standardised_se),
        note(c),
    ]
}

fn note(c: &Published) -> String {
    let mut notes = Vec::new();
    if c.coarsened {
        notes.push("to whole points, to protect another cell");
    }
    if c.sample == Sample::OpenLink {
        notes.push("self-selected (indicative)");
    }
    if let Some((_, says)) = DIMENSION_NOTES.iter().find(|(d, _)| *d == c.dimension) {
        notes.push(says);
    }
    notes.join("; ")
}

/// What every row of a dimension says in `note` (JSON: `dimension_notes`).
const DIMENSION_NOTES: [(&str, &str); 2] =
    [("imd_quintile", "deprivation from invitation samples"), ("mode", MODE_NOTE)];

/// The provenance of one release as (key, value) lines.
pub fn provenance_lines(p: &Provenance) -> Vec<(String, String)> {
    let versions = p.versions.iter().map(|(v, h)| format!("{v} (sha256 {h})")).collect::<Vec<_>>().join("; ");
    let mix = p.channel_mix.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    let modes = p.mode_mix.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    let modes = if modes.is_empty() { String::new() } else { format!("; by mode: {modes}") };
    vec![
        ("survey".into(), format!("{} ({})", p.survey_id, p.survey_title)),
        ("release".into(), format!("{} (responses submitted {} to {})", p.release, p.release_from, p.release_to)),
        ("versions".into(), versions),
        ("versions not pooled (scoring differs)".into(), p.versions_not_pooled.join(", ")),
        (
            "responses".into(),
            format!(
                "first {}, last {}; by channel: {mix}{modes}",
                p.first_response.map(|d| d.to_string()).unwrap_or_default(),
                p.last_response.map(|d| d.to_string()).unwrap_or_default()
            ),
        ),
        ("samples".into(), p.samples.clone()),
        ("weighting".into(), p.weighting.clone()),
        ("trimming".into(), p.trimming.clone()),
        ("variance".into(), p.variance.clone()),
        ("population".into(), p.population_source.clone()),
        ("england and peers".into(), p.aggregates.clone()),
        ("deprivation peers".into(), p.deprivation_source.clone()),
        ("comparisons".into(), p.comparisons.clone()),
        ("disclosure control".into(), p.suppression.clone()),
        ("information loss".into(), p.information_loss.clone()),
        ("software".into(), p.software.clone()),
        ("computed at".into(), p.computed_at.clone()),
    ]
    .into_iter()
    .chain(p.read_from.clone().map(|r| ("read from".into(), r)))
    .collect()
}

/// A provenance value on one line: a title or label with a line break in
/// it would otherwise end the `#` line early and break the file's shape.
/// A spreadsheet splits the line at its commas, so no piece may start a
/// formula either (and double quotes, which would start a quoted field,
/// become single ones).
pub fn one_line(value: &str) -> String {
    let line = value.split(['\r', '\n']).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ").replace('"', "'");
    line.split(',')
        .map(|piece| {
            let text = piece.trim_start();
            let indent = &piece[..piece.len() - text.len()];
            format!("{indent}{}", safe_text(text))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The cells of a release an output holds: every sample, or one.
fn cells(report: &Report, sample: Option<Sample>) -> impl Iterator<Item = &Published> {
    report.results.cells.iter().filter(move |c| sample.is_none_or(|s| c.sample == s))
}

/// Writes the releases in `format` (only `sample`'s cells if given).
pub fn write(
    reports: &[Arc<Report>],
    sample: Option<Sample>,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        Format::Csv => {
            for report in reports {
                for (k, v) in provenance_lines(&report.provenance) {
                    writeln!(out, "# {k}: {}", one_line(&v))?;
                }
            }
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(COLUMNS)?;
            for report in reports {
                let release = report.period.to_string();
                for c in cells(report, sample) {
                    let fields = cell_fields(&release, c);
                    writer.write_record(
                        fields
                            .iter()
                            .enumerate()
                            .map(|(i, f)| if numeric(i) { f.clone() } else { safe_text(f).into_owned() }),
                    )?;
                }
            }
            writer.flush()?;
        }
        Format::Json => {
            let releases: Vec<serde_json::Value> = reports
                .iter()
                .map(|report| {
                    let r = &report.results;
                    json!({
                        "release": report.period.to_string(),
                        "provenance": report.provenance,
                        "headline": r.headline,
                        "samples": r.samples.iter().map(|s| json!({
                            "sample": s.sample, "label": s.sample.label(),
                            "respondents": crate::index::disclosure::published_count(s.respondents),
                            "funnel": s.funnel,
                            "weighting": s.weighting.iter().map(|w| json!({
                                "group": w.group, "raked": w.raked,
                                "respondents": crate::index::disclosure::published_count(w.respondents),
                                "icss": w.icss, "icss_scaled_not_raked": w.icss_scaled_not_raked,
                                "max_margin_error": w.max_margin_error, "margins_not_met": w.margins_not_met,
                                "trimmed": w.trimmed,
                            })).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                        "disclosure": {
                            "summary": r.disclosure.describe(),
                            "information_loss": r.disclosure.information_loss(),
                            "hidden_too_few": r.disclosure.primary,
                            "hidden_to_protect": r.disclosure.complementary,
                        },
                        "peers": r.peers,
                        "dimension_notes": DIMENSION_NOTES.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
                        "cells": cells(report, sample).collect::<Vec<_>>(),
                    })
                })
                .collect();
            serde_json::to_writer(&mut *out, &json!({ "releases": releases }))?;
            writeln!(out)?;
        }
        Format::Xlsx => {
            let bytes = xlsx(reports, sample)?;
            out.write_all(&bytes)?;
        }
    }
    Ok(())
}

fn xlsx(reports: &[Arc<Report>], sample: Option<Sample>) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format as Style, Workbook};
    let mut book = Workbook::new();
    // The file's creation date is the last release's end, not the time of
    // the download: two downloads of a release are then the same bytes.
    if let Some(last) = reports.last() {
        use chrono::Datelike;
        let end = last.provenance.release_to;
        let date = ExcelDateTime::from_ymd(end.year() as u16, end.month() as u8, end.day() as u8)?;
        book.set_properties(&DocProperties::new().set_creation_datetime(&date));
    }
    let bold = Style::new().set_bold();
    let about = book.add_worksheet().set_name("About this data").context("sheet name")?;
    about.write_string_with_format(0, 0, "About this data", &bold)?;
    let mut row = 2u32;
    for report in reports {
        for (k, v) in provenance_lines(&report.provenance) {
            about.write_string(row, 0, &k)?;
            about.write_string(row, 1, &v)?;
            row += 1;
        }
        row += 1;
    }
    let notes = [
        "One row per cell. Empty figures with a reason in `suppressed` are hidden by disclosure control; in `not_estimable`, they could not be estimated.",
        "Estimates are on a 0-100 scale; question rows are weighted percentages choosing that answer.",
        "Open-link (self-selected) figures are indicative only. Column meanings: docs/outputs.md.",
        "The mode sheet (online, paper) is for monitoring differences between modes: no figure is adjusted for mode effects, and a difference between modes mixes how people answer in each with who chose it (methodology 5.1).",
    ];
    for note in notes {
        about.write_string(row, 0, note)?;
        row += 1;
    }
    about.set_column_width(0, 34)?;
    about.set_column_width(1, 120)?;
    for dimension in std::iter::once("all").chain(DIMENSIONS) {
        let name = if dimension == "all" { "England and ICS" } else { dimension };
        let sheet = book.add_worksheet().set_name(name).context("sheet name")?;
        for (col, title) in COLUMNS.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, *title, &bold)?;
        }
        let mut row = 1u32;
        for report in reports {
            let release = report.period.to_string();
            for c in cells(report, sample).filter(|c| c.dimension == dimension) {
                for (col, value) in cell_fields(&release, c).iter().enumerate() {
                    match value.parse::<f64>() {
                        Ok(v) if numeric(col) => sheet.write_number(row, col as u16, v)?,
                        _ => sheet.write_string(row, col as u16, value)?,
                    };
                }
                row += 1;
            }
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    Ok(book.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised_and_others_kept() {
        for bad in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(safe_text(bad).starts_with('\''), "{bad:?}");
        }
        for fine in ["Integration index", "0-17", "E54000008", "*", "", "a=b"] {
            assert_eq!(safe_text(fine), fine);
        }
        // Provenance lines are split at commas by a spreadsheet too.
        assert_eq!(one_line("Survey,=HYPERLINK(\"x\"), +1"), "Survey,'=HYPERLINK('x'), '+1");
        assert_eq!(one_line("a\nb, c"), "a b, c");
    }

    #[test]
    fn the_numeric_columns_are_the_figures() {
        let numbers: Vec<&str> = COLUMNS.iter().enumerate().filter(|(i, _)| numeric(*i)).map(|(_, c)| *c).collect();
        assert_eq!(
            numbers,
            [
                "sum_w",
                "n_eff_kish",
                "deff",
                "n_eff_design",
                "estimate",
                "se",
                "ci_low",
                "ci_high",
                "vs_england",
                "vs_england_se",
                "vs_england_significant",
                "peer_mean",
                "vs_peers",
                "vs_peers_significant",
                "funnel",
                "standardised",
                "standardised_se"
            ]
        );
    }
}

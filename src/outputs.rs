//! The published results in every download format: tidy CSV (one row per
//! cell), JSON and XLSX (a sheet per group dimension and "About this data").
//! Each carries the provenance. The columns are documented in
//! docs/outputs.md.

use std::io::Write;

use anyhow::Context;
use serde_json::json;

use crate::index::frame::DIMENSIONS;
use crate::index::results::Published;
use crate::reports::{Provenance, Report};

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
pub const COLUMNS: [&str; 25] = [
    "group",
    "measure",
    "measure_label",
    "area",
    "area_name",
    "dimension",
    "category",
    "n",
    "sum_w",
    "n_eff",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "suppressed",
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

fn number(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn flag(v: Option<i8>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// A cell as text, column by column.
pub fn cell_fields(c: &Published) -> Vec<String> {
    vec![
        c.group.to_string(),
        c.measure.clone(),
        c.measure_label.clone(),
        c.area.clone(),
        c.area_name.clone(),
        c.dimension.clone(),
        c.category.clone(),
        c.n.clone(),
        number(c.sum_w),
        number(c.n_eff),
        number(c.estimate),
        number(c.se),
        number(c.ci_low),
        number(c.ci_high),
        c.suppressed.unwrap_or_default().to_string(),
        number(c.vs_england),
        number(c.vs_england_se),
        flag(c.vs_england_significant),
        number(c.peer_mean),
        number(c.vs_peers),
        flag(c.vs_peers_significant),
        flag(c.funnel),
        number(c.standardised),
        number(c.standardised_se),
        if c.dimension == "imd_quintile" { "deprivation from invitation samples".into() } else { String::new() },
    ]
}

fn provenance_lines(p: &Provenance) -> Vec<(String, String)> {
    let versions = p.versions.iter().map(|(v, h)| format!("{v} (sha256 {h})")).collect::<Vec<_>>().join("; ");
    let mix = p.channel_mix.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    vec![
        ("survey".into(), format!("{} ({})", p.survey_id, p.survey_title)),
        ("versions".into(), versions),
        ("versions not pooled (scoring differs)".into(), p.versions_not_pooled.join(", ")),
        (
            "response window".into(),
            format!(
                "{} to {} (responses {} to {})",
                p.from.map_or("start".into(), |d| d.to_string()),
                p.to.map_or("now".into(), |d| d.to_string()),
                p.first_response.map(|d| d.to_string()).unwrap_or_default(),
                p.last_response.map(|d| d.to_string()).unwrap_or_default()
            ),
        ),
        ("channels".into(), format!("{} ({mix})", p.channel_filter)),
        ("weighting".into(), p.weighting.clone()),
        ("population".into(), p.population_source.clone()),
        ("deprivation peers".into(), p.deprivation_source.clone()),
        ("disclosure control".into(), p.suppression.clone()),
        ("software".into(), p.software.clone()),
        ("generated at".into(), p.generated_at.clone()),
    ]
}

/// A provenance value on one line: a title or label with a line break in
/// it would otherwise end the `#` line early and break the file's shape.
pub fn one_line(value: &str) -> String {
    value.split(['\r', '\n']).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Writes the report in `format`.
pub fn write(report: &Report, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Csv => {
            for (k, v) in provenance_lines(&report.provenance) {
                writeln!(out, "# {k}: {}", one_line(&v))?;
            }
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(COLUMNS)?;
            for c in &report.results.cells {
                writer.write_record(cell_fields(c))?;
            }
            writer.flush()?;
        }
        Format::Json => {
            let value = json!({
                "provenance": report.provenance,
                // Respondent counts published as every count is.
                "weighting": report.results.weighting.iter().map(|w| json!({
                    "group": w.group, "raked": w.raked,
                    "respondents": crate::index::disclosure::published_count(w.respondents),
                    "icss": w.icss, "icss_scaled_not_raked": w.icss_scaled_not_raked,
                    "max_margin_error": w.max_margin_error, "margins_not_met": w.margins_not_met,
                })).collect::<Vec<_>>(),
                "funnel": report.results.funnel.map(|f| json!({"target": f.target, "sd": f.sd, "tau2": f.tau2, "phi": f.phi})),
                "peers": report.results.peers,
                "cells": report.results.cells,
            });
            serde_json::to_writer(&mut *out, &value)?;
            writeln!(out)?;
        }
        Format::Xlsx => {
            let bytes = xlsx(report)?;
            out.write_all(&bytes)?;
        }
    }
    Ok(())
}

fn xlsx(report: &Report) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{Format as Style, Workbook};
    let mut book = Workbook::new();
    let bold = Style::new().set_bold();
    let about = book.add_worksheet().set_name("About this data").context("sheet name")?;
    about.write_string_with_format(0, 0, "About this data", &bold)?;
    for (row, (k, v)) in provenance_lines(&report.provenance).iter().enumerate() {
        about.write_string(row as u32 + 2, 0, k)?;
        about.write_string(row as u32 + 2, 1, v)?;
    }
    let notes = [
        "One row per cell. Empty figures with a reason in `suppressed` are hidden by disclosure control.",
        "Estimates are on a 0-100 scale; question rows are weighted percentages choosing that answer.",
        "Column meanings: docs/outputs.md.",
    ];
    let base = provenance_lines(&report.provenance).len() as u32 + 3;
    for (i, note) in notes.iter().enumerate() {
        about.write_string(base + i as u32, 0, *note)?;
    }
    about.set_column_width(0, 34)?;
    about.set_column_width(1, 120)?;
    for dimension in std::iter::once("all").chain(DIMENSIONS) {
        let name = if dimension == "all" { "England and ICS" } else { dimension };
        let sheet = book.add_worksheet().set_name(name).context("sheet name")?;
        for (col, title) in COLUMNS.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, *title, &bold)?;
        }
        for (row, c) in (1u32..).zip(report.results.cells.iter().filter(|c| c.dimension == dimension)) {
            for (col, value) in cell_fields(c).iter().enumerate() {
                match value.parse::<f64>() {
                    Ok(v) if (8..=23).contains(&col) => sheet.write_number(row, col as u16, v)?,
                    _ => sheet.write_string(row, col as u16, value)?,
                };
            }
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    Ok(book.save_to_buffer()?)
}

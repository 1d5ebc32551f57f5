//! Charts drawn on the server as SVG, so they need no JavaScript: each has
//! a title and description for screen readers, and the page shows the same
//! numbers in a table beside it.

use std::fmt::Write;

use crate::index::compare::{Funnel, Z998};
use crate::weighting::Z95;

/// One estimate with its interval, as a chart row.
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    /// Highlighted (significantly different, or outside the limits).
    pub flagged: bool,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const WIDTH: f64 = 640.0;
const LEFT: f64 = 230.0;
const RIGHT: f64 = 20.0;

fn x(value: f64) -> f64 {
    LEFT + (value.clamp(0.0, 100.0) / 100.0) * (WIDTH - LEFT - RIGHT)
}

/// Estimates with 95% intervals, one row each, with a reference line
/// (England) when given.
pub fn dot_plot(id: &str, title: &str, points: &[Point], reference: Option<(f64, &str)>) -> String {
    let row = 18.0;
    let height = 40.0 + row * points.len() as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {WIDTH} {height}" class="joinedup-chart"><title id="{id}-title">{}</title><desc id="{id}-desc">Each row shows an estimate (dot) and its 95% confidence interval (line) on a 0 to 100 scale; the same figures are in the table below.</desc>"#,
        escape(title)
    );
    for tick in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="20" y2="{1:.1}" stroke="#d8dde0"/><text x="{0:.1}" y="14" font-size="11" text-anchor="middle" fill="#212b32">{2}</text>"##,
            x(tick),
            height - 10.0,
            tick
        );
    }
    if let Some((value, label)) = reference {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="20" y2="{1:.1}" stroke="#212b32" stroke-dasharray="4 3"/><text x="{0:.1}" y="{2:.1}" font-size="11" text-anchor="middle" fill="#212b32">{3}</text>"##,
            x(value),
            height - 10.0,
            height - 1.0,
            escape(label)
        );
    }
    for (i, p) in points.iter().enumerate() {
        let y = 30.0 + row * i as f64;
        let colour = if p.flagged { "#d5281b" } else { "#005eb8" };
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#212b32">{}</text><line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="2"/><circle cx="{:.1}" cy="{y:.1}" r="4" fill="{colour}"/>"##,
            LEFT - 8.0,
            y + 4.0,
            escape(&p.label),
            x(p.low),
            x(p.high),
            x(p.estimate)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A funnel plot: each ICS's estimate against its precision (1 / its
/// standard error, the one behind its confidence interval), with 95% and
/// 99.8% limits around England. `points`: (name, estimate, SE, flag).
pub fn funnel_plot(id: &str, title: &str, funnel: &Funnel, points: &[(String, f64, f64, i8)]) -> String {
    let (w, h, left, bottom, top) = (640.0, 360.0, 50.0, 40.0, 20.0);
    let precision = |se: f64| 1.0 / se;
    let max_p = points.iter().map(|p| precision(p.2)).filter(|p| p.is_finite()).fold(1.0, f64::max) * 1.1;
    let min_p = max_p / 60.0;
    let (lo, hi) = points
        .iter()
        .fold((funnel.target - 10.0, funnel.target + 10.0), |(lo, hi), p| (lo.min(p.1 - 2.0), hi.max(p.1 + 2.0)));
    let (lo, hi) = (lo.max(0.0), hi.min(100.0));
    let px = |p: f64| left + p / max_p * (w - left - 20.0);
    let py = |v: f64| top + (hi - v) / (hi - lo) * (h - top - bottom);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {w} {h}" class="joinedup-chart"><title id="{id}-title">{}</title><desc id="{id}-desc">Each dot is an ICS: its estimate against its precision (one over its standard error). Lines show England and the 95% and 99.8% control limits; ICSs outside the outer limits differ by more than chance and the usual spread between ICSs would explain. The figures are in the table below.</desc>"#,
        escape(title)
    );
    let _ = write!(
        svg,
        r##"<line x1="{left}" x2="{left}" y1="{top}" y2="{0:.1}" stroke="#212b32"/><line x1="{left}" x2="{1:.1}" y1="{0:.1}" y2="{0:.1}" stroke="#212b32"/><text x="{2:.1}" y="{3:.1}" font-size="12" text-anchor="middle" fill="#212b32">Precision (1 / standard error)</text>"##,
        h - bottom,
        w - 20.0,
        (w + left) / 2.0,
        h - 8.0
    );
    for (z, dash) in [(Z95, "6 3"), (Z998, "2 2")] {
        for side in [-1.0, 1.0] {
            let mut d = String::new();
            for step in 1..=60 {
                let p = min_p.max(max_p * step as f64 / 60.0);
                let (l, u) = funnel.limits(1.0 / p, z);
                let v = if side < 0.0 { l } else { u };
                let _ = write!(d, "{}{:.1},{:.1} ", if step == 1 { "M" } else { "L" }, px(p), py(v.clamp(lo, hi)));
            }
            let _ = write!(svg, r##"<path d="{d}" fill="none" stroke="#768692" stroke-dasharray="{dash}"/>"##);
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{left}" x2="{:.1}" y1="{1:.1}" y2="{1:.1}" stroke="#212b32"/>"##,
        w - 20.0,
        py(funnel.target)
    );
    for (label, estimate, se, flag) in points {
        let colour = if *flag != 0 { "#d5281b" } else { "#005eb8" };
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{colour}"><title>{}</title></circle>"##,
            px(precision(*se)),
            py(*estimate),
            escape(label)
        );
    }
    for tick in [lo, (lo + hi) / 2.0, hi] {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#212b32">{:.0}</text>"##,
            left - 6.0,
            py(tick) + 4.0,
            tick
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let svg = dot_plot(
            "c",
            "A <title>",
            &[Point { label: "x & <y>".into(), estimate: 50.0, low: 40.0, high: 60.0, flagged: false }],
            None,
        );
        assert!(svg.contains("x &amp; &lt;y&gt;"));
        assert!(!svg.contains("<y>"));
        assert!(svg.contains("role=\"img\""));
    }
}

//! The page's charts as inline SVG: a stacked bar, a single bar, and the per-second traffic
//! as polylines. Colours come from the page's CSS classes, so they follow the colour scheme.
//! (No `xmlns`: SVG inside HTML needs none, and the page names no URL at all.)

use std::fmt::Write;

use super::{thousands, Figure, SecondSample, Tone};

/// Width of the stacked bar's coordinate space; the bar is stretched to the page's width.
const WIDTH: f64 = 1000.0;
/// The narrowest a non-empty part is drawn, so that one failed row among 50,000 still shows.
const MIN_PART: f64 = 3.0;

/// The parts of a whole, side by side in one bar.
pub fn stacked(out: &mut String, parts: &[Figure]) {
    let total: u64 = parts.iter().map(|p| p.count).sum();
    let _ = write!(
        out,
        "<svg class=\"stacked\" viewBox=\"0 0 {WIDTH} 28\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\">",
        super::escaped(
            &parts
                .iter()
                .map(|p| format!("{} {}", p.label, p.count))
                .collect::<Vec<_>>()
                .join(", ")
        )
    );
    if total == 0 {
        out.push_str("<rect class=\"track\" width=\"1000\" height=\"28\"></rect>");
    }
    let shown: Vec<&Figure> = parts.iter().filter(|p| p.count > 0).collect();
    // Widths in proportion, each at least MIN_PART, taken from the widest so the sum stays WIDTH.
    let mut widths: Vec<f64> = shown
        .iter()
        .map(|p| (p.count as f64 / total.max(1) as f64 * WIDTH).max(MIN_PART))
        .collect();
    let excess: f64 = widths.iter().sum::<f64>() - WIDTH;
    if let Some(widest) = widths.iter_mut().max_by(|a, b| a.total_cmp(b)) {
        *widest -= excess.max(0.0);
    }
    let mut x = 0.0;
    for (part, width) in shown.iter().zip(widths) {
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{x:.1}\" width=\"{width:.1}\" height=\"28\"><title>{}: {}</title></rect>",
            part.tone.class(),
            super::escaped(&part.label),
            thousands(part.count)
        );
        x += width;
    }
    out.push_str("</svg>\n");
}

/// One horizontal bar, `value` of `top` long.
pub fn bar(out: &mut String, value: f64, top: f64, tone: Tone) {
    let length = if top > 0.0 {
        (value / top * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    };
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" aria-hidden=\"true\">\
         <rect class=\"track\" width=\"100\" height=\"10\"></rect>\
         <rect class=\"{}\" width=\"{length:.2}\" height=\"10\"></rect></svg>",
        tone.class()
    );
}

/// Plot area inside the series chart's 1000 × 280 coordinate space.
const LEFT: f64 = 48.0;
const RIGHT: f64 = 990.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 250.0;

/// One line of the series chart and its legend entry.
struct Line {
    label: &'static str,
    tone: Tone,
    dashed: bool,
    reading: fn(&SecondSample) -> Option<f64>,
}

/// The limit first, so that the traffic is drawn over it.
const LINES: [Line; 5] = [
    Line {
        label: "rate limit in force (dashed)",
        tone: Tone::Muted,
        dashed: true,
        reading: |s| s.rate_in_force,
    },
    Line {
        label: "requests sent per second",
        tone: Tone::Info,
        dashed: false,
        reading: |s| Some(s.sent as f64),
    },
    Line {
        label: "2xx",
        tone: Tone::Good,
        dashed: false,
        reading: |s| Some(s.ok as f64),
    },
    Line {
        label: "429 throttled",
        tone: Tone::Warn,
        dashed: false,
        reading: |s| Some(s.throttled as f64),
    },
    Line {
        label: "5xx",
        tone: Tone::Bad,
        dashed: false,
        reading: |s| Some(s.server_errors as f64),
    },
];

/// Requests per second over the run: sent, 2xx, 429 and 5xx as lines, the rate limit in force
/// dashed, with a legend.
pub fn series(out: &mut String, samples: &[SecondSample]) {
    let last = samples.iter().map(|s| s.second).max().unwrap_or(0).max(1);
    let top = samples
        .iter()
        .flat_map(|s| [s.sent as f64, s.ok as f64, s.rate_in_force.unwrap_or(0.0)])
        .fold(1.0, f64::max)
        * 1.1;
    let x = |second: u64| LEFT + (RIGHT - LEFT) * second as f64 / last as f64;
    let y = |value: f64| BOTTOM - (BOTTOM - TOP) * value / top;
    out.push_str(
        "<svg class=\"series\" viewBox=\"0 0 1000 280\" role=\"img\" aria-label=\"requests per second over the run\">",
    );
    for step in 0..=4 {
        let value = top / 1.1 * f64::from(step) / 4.0;
        let at = y(value);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{RIGHT}\" y1=\"{at:.1}\" y2=\"{at:.1}\"></line>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            at + 4.0,
            short_number(value)
        );
    }
    for (second, anchor) in [(0, "start"), (last / 2, "middle"), (last, "end")] {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"272\" text-anchor=\"{anchor}\">{second} s</text>",
            x(second)
        );
    }
    for line in &LINES {
        let points: Vec<String> = samples
            .iter()
            .filter_map(|s| (line.reading)(s).map(|v| format!("{:.1},{:.1}", x(s.second), y(v))))
            .collect();
        if points.is_empty() {
            continue;
        }
        let dashed = if line.dashed { " limit" } else { "" };
        let _ = write!(
            out,
            "<polyline class=\"{}{dashed}\" points=\"{}\"></polyline>",
            line.tone.class(),
            points.join(" ")
        );
    }
    out.push_str("</svg>\n<ul class=\"legend\">");
    for line in &LINES {
        let _ = write!(
            out,
            "<li class=\"{}\"><i></i><span class=\"n\">{}</span></li>",
            line.tone.class(),
            line.label
        );
    }
    out.push_str("</ul>\n");
}

/// An axis label: `12`, `2.5`, `1.2k`.
fn short_number(value: f64) -> String {
    match value {
        v if v >= 1000.0 => format!("{:.1}k", v / 1000.0),
        v if v.fract() == 0.0 || v >= 10.0 => format!("{v:.0}"),
        v => format!("{v:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(count: u64, tone: Tone) -> Figure {
        Figure {
            label: format!("{tone:?}"),
            count,
            tone,
        }
    }

    #[test]
    fn a_tiny_part_still_shows_and_the_bar_stays_whole() {
        let mut out = String::new();
        stacked(
            &mut out,
            &[
                figure(49_999, Tone::Good),
                figure(1, Tone::Bad),
                figure(0, Tone::Muted),
            ],
        );
        assert_eq!(out.matches("<rect").count(), 2, "no rect for an empty part");
        assert!(
            out.contains("class=\"bad\" x=\"997.0\" width=\"3.0\""),
            "{out}"
        );
    }

    #[test]
    fn every_series_is_a_polyline_and_the_limit_is_dashed() {
        let samples: Vec<SecondSample> = (0..10)
            .map(|second| SecondSample {
                second,
                sent: 5,
                ok: 4,
                throttled: 1,
                server_errors: 0,
                rate_in_force: Some(5.0),
            })
            .collect();
        let mut out = String::new();
        series(&mut out, &samples);
        assert_eq!(out.matches("<polyline").count(), 5);
        assert_eq!(out.matches("class=\"muted limit\"").count(), 1);
        assert!(out.contains(">9 s</text>"));
    }
}

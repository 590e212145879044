//! Static SVG timelines of a run (`reports/timelines/*.svg`): the picture `timeline.rs` computes,
//! drawn with true time left to right and one lane per node.
//!
//! A picture a room can follow: each client's sessions as bars in the client's colour (the legend
//! names every client with its colour), a red tail where it still acts as holder after its lease,
//! the intervals with two holders shaded across all lanes and labelled, writes as dots (green
//! applied, red stale, grey ✕ rejected by fencing: status colours no client uses), grants with
//! their tokens, faults where they act. Labels are thinned so they never collide and shifted so
//! none is cut at the right edge; every item has a `<title>` with its trace line.

use std::fmt::Write as _;

use crate::runner::RunResult;
use crate::timeline::{
    build, place_labels, text_width, BandKind, MarkKind, Timeline, APPLIED, CLIENT_COLORS, REJECTED, STALE,
};

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 40.0;
const TOP: f64 = 96.0;
const LABEL_FONT: f64 = 10.0;

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A "nice" tick step (1, 2, 5 × 10^k ms) giving about 10 ticks.
pub fn tick_step_ms(span_ms: f64) -> f64 {
    let raw = span_ms / 10.0;
    let pow = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * pow).find(|s| *s >= raw).unwrap_or(10.0 * pow)
}

/// Render the timeline of one run.
pub fn timeline(r: &RunResult) -> String {
    render(&build(r))
}

/// A label waiting for its place: (lane slot, x, text, colour).
struct Label {
    slot: (usize, u8),
    x: f64,
    text: String,
    fill: &'static str,
}

/// Draw a computed picture.
pub fn render(t: &Timeline) -> String {
    let span_ns = t.span_ns.max(1) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |t_ns: u64| LEFT + (t_ns as f64 / span_ns).min(1.0) * plot_w;
    let row_y = |i: usize| TOP + i as f64 * ROW;
    let lanes_bottom = TOP + t.lanes.len() as f64 * ROW - ROW / 2.0;
    let axis_y = lanes_bottom + 6.0;
    let legend = legend_items(t);
    let legend_lines = layout_legend(&legend).iter().map(|&(_, line)| line).max().unwrap_or(0) + 1;
    let height = axis_y + 44.0 + legend_lines as f64 * 18.0;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"##
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(out, r##"<text x="10" y="20" font-size="15" font-weight="bold">{}</text>"##, esc(&t.title));
    let _ = writeln!(out, r##"<text x="10" y="38" fill="#555">{}</text>"##, esc(&t.verdicts));
    if t.thinned > 0 {
        let _ = writeln!(
            out,
            r##"<text x="10" y="54" fill="#a00">busy run: {} items thinned out of this picture (stale and rejected writes, faults and two-holder moments are all kept)</text>"##,
            t.thinned
        );
    }

    // Time axis and grid.
    let span_ms = span_ns / 1e6;
    let step = tick_step_ms(span_ms);
    let mut tick = 0.0;
    let mut ticks = Vec::new();
    while tick <= span_ms + 1e-9 {
        ticks.push(tick);
        tick += step;
    }
    let tick_labels: Vec<String> = ticks
        .iter()
        .map(|&t| if step >= 1000.0 { format!("{:.0} s", t / 1000.0) } else { format!("{t:.0} ms") })
        .collect();
    let items: Vec<(f64, f64)> = ticks
        .iter()
        .zip(&tick_labels)
        .map(|(&t, l)| {
            let w = text_width(l, 12.0);
            (x((t * 1e6) as u64) - w / 2.0, w)
        })
        .collect();
    let placed = place_labels(&items, 6.0, WIDTH - 2.0);
    for ((&t, l), p) in ticks.iter().zip(&tick_labels).zip(placed) {
        let px = x((t * 1e6) as u64);
        let _ = writeln!(out, r##"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{axis_y}" stroke="#eee"/>"##, TOP - 20.0);
        if let Some(lx) = p {
            let _ = writeln!(out, r##"<text x="{lx:.1}" y="{}" fill="#555">{l}</text>"##, axis_y + 16.0);
        }
    }
    let _ = writeln!(out, r##"<text x="10" y="{}" fill="#555">true time</text>"##, axis_y + 16.0);

    // Lane names and baselines.
    for (i, lane) in t.lanes.iter().enumerate() {
        let y = row_y(i);
        let fill = lane.color.map_or("#222", |c| CLIENT_COLORS[c]);
        let _ = writeln!(
            out,
            r##"<text x="10" y="{}" font-weight="bold" fill="{fill}">{}</text>"##,
            y + 4.0,
            esc(&lane.name)
        );
        let _ = writeln!(out, r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ccc"/>"##, WIDTH - RIGHT);
    }

    let mut labels: Vec<Label> = Vec::new();

    // Two holders: shaded across every lane, labelled on the row above the lanes.
    for o in &t.overlaps {
        let (x0, x1) = (x(o.start_ns), x(o.end_ns));
        let w = (x1 - x0).max(5.0);
        let when = if o.end_ns - o.start_ns <= 1 {
            format!("at {} ms (a write sent as holder after its lease)", o.start_ns as f64 / 1e6)
        } else {
            format!("from {} to {} ms", o.start_ns as f64 / 1e6, o.end_ns as f64 / 1e6)
        };
        let _ = writeln!(
            out,
            r##"<rect x="{x0:.1}" y="{}" width="{w:.1}" height="{}" fill="{STALE}" opacity="0.18"><title>two holders {when}: {}</title></rect>"##,
            TOP - 20.0,
            lanes_bottom - TOP + 20.0,
            esc(&o.holders.join(", "))
        );
        let _ = writeln!(out, r##"<rect x="{x0:.1}" y="{}" width="{w:.1}" height="4" fill="{STALE}"/>"##, TOP - 24.0);
        labels.push(Label { slot: (usize::MAX, 0), x: x0, text: "two holders".into(), fill: STALE });
    }

    // Faults acting over an interval.
    for b in &t.bands {
        let (x0, x1) = (x(b.start_ns), x(b.end_ns));
        let fill = match b.kind {
            BandKind::Paused => "#999",
            BandKind::Down => "#000",
            BandKind::Partition => STALE,
        };
        let y = row_y(b.lane) - ROW / 2.0 + 3.0;
        let _ = writeln!(
            out,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" opacity="0.25"><title>{}</title></rect>"##,
            (x1 - x0).max(1.0),
            ROW - 6.0,
            esc(&b.hover)
        );
        labels.push(Label { slot: (b.lane, 1), x: x0 + 2.0, text: b.label.clone(), fill: "#444" });
    }

    // Sessions.
    for b in &t.bars {
        let y = row_y(b.lane) - 6.0;
        let (x0, x1) = (x(b.start_ns), x(b.main_end_ns));
        let _ = writeln!(
            out,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="12" rx="2" fill="{}"><title>{}</title></rect>"##,
            (x1 - x0).max(2.0),
            CLIENT_COLORS[b.color],
            esc(&b.hover)
        );
        if b.belief_end_ns > b.main_end_ns + 1 {
            let _ = writeln!(
                out,
                r##"<rect x="{x1:.1}" y="{:.1}" width="{:.1}" height="5" fill="{STALE}"><title>acts as holder after its lease</title></rect>"##,
                y + 3.5,
                (x(b.belief_end_ns) - x1).max(2.0)
            );
        }
        labels.push(Label { slot: (b.lane, 0), x: x0, text: b.label.clone(), fill: "#222" });
    }

    // Marks.
    for m in &t.marks {
        let px = x(m.t_ns);
        let y = row_y(m.lane);
        let title = esc(&m.hover);
        match m.kind {
            MarkKind::Applied | MarkKind::Stale => {
                let fill = if m.kind == MarkKind::Stale { STALE } else { APPLIED };
                let _ = writeln!(
                    out,
                    r##"<circle cx="{px:.1}" cy="{y:.1}" r="5" fill="{fill}"><title>{title}</title></circle>"##
                );
                let fill = if m.kind == MarkKind::Stale { STALE } else { APPLIED };
                labels.push(Label { slot: (m.lane, 1), x: px - 3.0, text: m.label.clone(), fill });
            }
            MarkKind::Rejected => {
                let _ = writeln!(
                    out,
                    r##"<path d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke="{REJECTED}" stroke-width="2"><title>{title}</title></path>"##,
                    px - 4.0,
                    y - 4.0
                );
                labels.push(Label { slot: (m.lane, 1), x: px - 3.0, text: m.label.clone(), fill: REJECTED });
            }
            MarkKind::Grant => {
                let _ = writeln!(
                    out,
                    r##"<path d="M{px:.1},{:.1} v14" stroke="#222" stroke-width="2"><title>{title}</title></path>"##,
                    y - 7.0
                );
                if !m.label.is_empty() {
                    labels.push(Label { slot: (m.lane, 0), x: px - 2.0, text: m.label.clone(), fill: "#222" });
                }
            }
            MarkKind::ClockJump => {
                let _ = writeln!(
                    out,
                    r##"<path d="M{px:.1},{:.1} l-5,-8 h10 z" fill="{STALE}"><title>{title}</title></path>"##,
                    y - 4.0
                );
                labels.push(Label { slot: (m.lane, 0), x: px + 6.0, text: m.label.clone(), fill: STALE });
            }
            MarkKind::Dropped | MarkKind::Delayed => {
                let _ = writeln!(
                    out,
                    r##"<path d="M{:.1},{:.1} h8 v6 h-8 z l4,3 l4,-3" fill="none" stroke="{STALE}"><title>{title}</title></path>"##,
                    px - 4.0,
                    y + 4.0
                );
                labels.push(Label { slot: (m.lane, 1), x: px + 6.0, text: m.label.clone(), fill: STALE });
            }
        }
    }

    // Labels: per lane, one line above the baseline and one below; thinned so none collide.
    labels.sort_by(|a, b| a.slot.cmp(&b.slot).then(a.x.total_cmp(&b.x)));
    let mut i = 0;
    while i < labels.len() {
        let slot = labels[i].slot;
        let group: Vec<&Label> = labels[i..].iter().take_while(|l| l.slot == slot).collect();
        i += group.len();
        let items: Vec<(f64, f64)> = group.iter().map(|l| (l.x.max(LEFT), text_width(&l.text, LABEL_FONT))).collect();
        let y = if slot.0 == usize::MAX {
            TOP - 28.0
        } else if slot.1 == 0 {
            row_y(slot.0) - 9.0
        } else {
            row_y(slot.0) + 17.0
        };
        for (l, p) in group.iter().zip(place_labels(&items, 4.0, WIDTH - 2.0)) {
            if let Some(lx) = p {
                let _ = writeln!(
                    out,
                    r##"<text x="{lx:.1}" y="{y:.1}" font-size="{LABEL_FONT}" fill="{}">{}</text>"##,
                    l.fill,
                    esc(&l.text)
                );
            }
        }
    }

    // Legend.
    let ly = axis_y + 40.0;
    for (item, (lx, line)) in legend.iter().zip(layout_legend(&legend)) {
        let y = ly + line as f64 * 18.0;
        let _ = writeln!(out, "{}", item.swatch(lx, y));
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{y:.1}" font-size="11" fill="#333">{}</text>"##,
            lx + 22.0,
            esc(&item.text)
        );
    }
    let _ = writeln!(out, "</svg>");
    out
}

/// One legend entry: a swatch and its words.
pub struct LegendItem {
    pub swatch: &'static str,
    pub color: &'static str,
    pub text: String,
}

impl LegendItem {
    fn swatch(&self, x: f64, y: f64) -> String {
        match self.swatch {
            "bar" => format!(
                r##"<rect x="{x:.1}" y="{:.1}" width="18" height="10" rx="2" fill="{}"/>"##,
                y - 9.0,
                self.color
            ),
            "tail" => format!(r##"<rect x="{x:.1}" y="{:.1}" width="18" height="5" fill="{}"/>"##, y - 6.0, self.color),
            "shade" => format!(
                r##"<rect x="{x:.1}" y="{:.1}" width="18" height="12" fill="{}" opacity="0.3"/>"##,
                y - 10.0,
                self.color
            ),
            "band" => format!(
                r##"<rect x="{x:.1}" y="{:.1}" width="18" height="12" fill="{}" opacity="0.25"/>"##,
                y - 10.0,
                self.color
            ),
            "dot" => format!(r##"<circle cx="{:.1}" cy="{:.1}" r="5" fill="{}"/>"##, x + 9.0, y - 4.0, self.color),
            "cross" => format!(
                r##"<path d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke="{}" stroke-width="2"/>"##,
                x + 5.0,
                y - 8.0,
                self.color
            ),
            "tick" => {
                format!(r##"<path d="M{:.1},{:.1} v12" stroke="{}" stroke-width="2"/>"##, x + 9.0, y - 10.0, self.color)
            }
            "tri" => format!(r##"<path d="M{:.1},{:.1} l-5,-8 h10 z" fill="{}"/>"##, x + 9.0, y, self.color),
            _ => format!(
                r##"<path d="M{:.1},{:.1} h8 v6 h-8 z l4,3 l4,-3" fill="none" stroke="{}"/>"##,
                x + 5.0,
                y - 8.0,
                self.color
            ),
        }
    }
}

/// The legend: every client's colour by name, then the status marks (shared with the HTML report).
pub fn legend_items(t: &Timeline) -> Vec<LegendItem> {
    let mut items = Vec::new();
    for lane in &t.lanes {
        if let Some(c) = lane.color {
            items.push(LegendItem {
                swatch: "bar",
                color: CLIENT_COLORS[c],
                text: format!("{} holds (lease valid by its own clock)", lane.name),
            });
        }
    }
    items.push(LegendItem { swatch: "tail", color: STALE, text: "acts as holder after its lease".into() });
    items.push(LegendItem {
        swatch: "shade",
        color: STALE,
        text: "two holders (≥ 2 clients believe they hold)".into(),
    });
    items.push(LegendItem { swatch: "dot", color: APPLIED, text: "write applied".into() });
    items.push(LegendItem { swatch: "dot", color: STALE, text: "stale write".into() });
    items.push(LegendItem { swatch: "cross", color: REJECTED, text: "write rejected by fencing".into() });
    items.push(LegendItem { swatch: "tick", color: "#222", text: "grant (token)".into() });
    items.push(LegendItem { swatch: "band", color: "#999", text: "paused".into() });
    items.push(LegendItem { swatch: "band", color: "#000", text: "down (crashed)".into() });
    items.push(LegendItem { swatch: "band", color: STALE, text: "partition".into() });
    items.push(LegendItem { swatch: "tri", color: STALE, text: "clock jump".into() });
    items.push(LegendItem { swatch: "env", color: STALE, text: "message dropped / delayed".into() });
    items
}

/// Flow the legend into lines: (x, line) per item.
fn layout_legend(items: &[LegendItem]) -> Vec<(f64, usize)> {
    let mut x = 10.0;
    let mut line = 0;
    items
        .iter()
        .map(|it| {
            let w = 22.0 + text_width(&it.text, 11.0) + 16.0;
            if x + w > WIDTH - 4.0 && x > 10.0 {
                x = 10.0;
                line += 1;
            }
            let at = (x, line);
            x += w;
            at
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{Bar, Lane, Overlap};

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step_ms(10_000.0), 1000.0);
        assert_eq!(tick_step_ms(13_000.0), 2000.0);
        assert_eq!(tick_step_ms(45.0), 5.0);
    }

    fn picture(overlaps: Vec<Overlap>) -> Timeline {
        let bar = |lane, color, s: u64, e: u64| Bar {
            lane,
            color,
            start_ns: s,
            main_end_ns: e,
            belief_end_ns: e,
            label: format!("c{lane}#1"),
            hover: String::new(),
        };
        Timeline {
            title: "t".into(),
            verdicts: String::new(),
            span_ns: 100_000_000,
            lanes: vec![Lane { name: "c1".into(), color: Some(0) }, Lane { name: "c2".into(), color: Some(1) }],
            bars: vec![bar(0, 0, 0, 60_000_000), bar(1, 1, 40_000_000, 90_000_000)],
            marks: vec![],
            bands: vec![],
            overlaps,
            thinned: 0,
        }
    }

    /// The shading is drawn: an overlap gives a labelled translucent band across the lanes.
    #[test]
    fn two_holders_are_shaded_and_labelled() {
        let o =
            Overlap { lock: 0, start_ns: 40_000_000, end_ns: 60_000_000, holders: vec!["c1#1".into(), "c2#1".into()] };
        let with = render(&picture(vec![o]));
        let without = render(&picture(vec![]));
        assert!(with.contains(">two holders</text>"), "{with}");
        assert!(with.contains("<title>two holders from 40 to 60 ms: c1#1, c2#1</title>"));
        assert!(!without.contains(">two holders</text>"));
    }

    /// The legend names each client in the colour its bars use (the old legend said blue for
    /// every client).
    #[test]
    fn the_legend_gives_each_client_its_bar_colour() {
        let svg = render(&picture(vec![]));
        for (c, name) in [(0, "c1"), (1, "c2")] {
            let swatch = format!(r##"fill="{}"/>"##, CLIENT_COLORS[c]);
            let bar = format!(r##"rx="2" fill="{}"><title>"##, CLIENT_COLORS[c]);
            assert!(svg.contains(&swatch) && svg.contains(&bar), "{name}");
            assert!(svg.contains(&format!("{name} holds (lease valid by its own clock)")));
        }
        assert!(!CLIENT_COLORS.contains(&APPLIED) && !CLIENT_COLORS.contains(&STALE));
    }
}

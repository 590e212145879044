//! SVG timelines of a run: one row per node, true time left to right.
//!
//! A picture a room can follow: each client's lock sessions as bars (solid while its lease is
//! valid by its own clock, red where it acts as holder after that), its writes as ticks (green
//! applied, grey rejected by fencing, red stale), pauses and crashes shaded, server grants with
//! their tokens, partitions and clock jumps on their own rows.

use std::fmt::Write as _;

use locklab_checkers::sessions;
use locklab_protocols::history::{Event, Observation, SessionId, WorldEvent};
use locklab_protocols::NodeId;

use crate::runner::RunResult;

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const ROW: f64 = 34.0;
const TOP: f64 = 58.0;

/// A color per client, cycled.
const PALETTE: &[&str] = &["#3b73b9", "#e08a1e", "#3a9a5b", "#8e5bb5", "#c0467a", "#5a8f9e"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A "nice" tick step (1, 2, 5 × 10^k ms) giving about 10 ticks.
fn tick_step_ms(span_ms: f64) -> f64 {
    let raw = span_ms / 10.0;
    let pow = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * pow).find(|s| *s >= raw).unwrap_or(10.0 * pow)
}

/// Render the timeline of one run.
pub fn timeline(r: &RunResult) -> String {
    let end_ns = r.stats.end_ns;
    let ss = sessions(&r.history, end_ns);
    // Show up to the last interesting event, plus a margin.
    let mut last_ns = 0u64;
    for s in &ss {
        last_ns = last_ns.max(s.belief_end_ns().min(end_ns));
    }
    for e in &r.history {
        if matches!(e.event, Event::World(_))
            || matches!(
                &e.event,
                Event::Obs { obs: Observation::WriteApplied { .. } | Observation::WriteRejected { .. }, .. }
            )
        {
            last_ns = last_ns.max(e.t_ns);
        }
    }
    let span_ns = ((last_ns as f64) * 1.05).max(1e6).min(end_ns.max(1) as f64);
    let x = |t_ns: u64| LEFT + (t_ns as f64 / span_ns).min(1.0) * (WIDTH - LEFT - RIGHT);

    // Rows: servers that granted, the resource, clients, and "net" if partitioned.
    let names = &r.names;
    let mut rows: Vec<NodeId> = Vec::new();
    for (id, name) in names.iter().enumerate() {
        let used = r.history.iter().any(|e| e.node == id);
        if used || name.starts_with('c') {
            rows.push(id);
        }
    }
    let has_net = r.history.iter().any(|e| matches!(e.event, Event::World(WorldEvent::PartitionStart { .. })));
    let row_of = |id: NodeId| rows.iter().position(|&n| n == id);
    let row_y = |i: usize| TOP + i as f64 * ROW;
    let height = TOP + (rows.len() + usize::from(has_net)) as f64 * ROW + 70.0;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"##
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let verdicts: Vec<String> =
        r.report.properties.iter().map(|p| format!("{} {}", p.property, p.outcome.as_str())).collect();
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{} — {} — seed {}</text>"##,
        esc(&r.scenario),
        esc(&r.variant),
        r.seed
    );
    let _ = writeln!(out, r##"<text x="{LEFT}" y="38" fill="#555">{}</text>"##, esc(&verdicts.join(" · ")));

    // Time axis and grid.
    let span_ms = span_ns / 1e6;
    let step = tick_step_ms(span_ms);
    let axis_y = TOP + (rows.len() + usize::from(has_net)) as f64 * ROW;
    let mut t = 0.0;
    while t <= span_ms + 1e-9 {
        let px = x((t * 1e6) as u64);
        let _ = writeln!(out, r##"<line x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{axis_y}" stroke="#eee"/>"##, TOP - 12.0);
        let label = if step >= 1000.0 { format!("{:.0} s", t / 1000.0) } else { format!("{t:.0} ms") };
        let _ = writeln!(
            out,
            r##"<text x="{px:.1}" y="{}" text-anchor="middle" fill="#555">{label}</text>"##,
            axis_y + 16.0
        );
        t += step;
    }
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#555">true time</text>"##,
        WIDTH - RIGHT,
        axis_y + 32.0
    );

    // Row labels and baselines.
    for (i, &id) in rows.iter().enumerate() {
        let y = row_y(i);
        let _ = writeln!(out, r##"<text x="10" y="{}" font-weight="bold">{}</text>"##, y + 4.0, esc(&names[id]));
        let _ = writeln!(out, r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ccc"/>"##, WIDTH - RIGHT);
    }
    if has_net {
        let y = row_y(rows.len());
        let _ = writeln!(out, r##"<text x="10" y="{}" font-weight="bold">net</text>"##, y + 4.0);
    }

    // Faults: pauses and crashes shade their node's row; partitions shade the net row.
    let mut open_pause: Vec<(NodeId, u64)> = Vec::new();
    let mut open_crash: Vec<(NodeId, u64)> = Vec::new();
    // Partitions open at the same time get their own lane (label line) in the net row.
    let mut open_partition: Vec<(String, u64, usize)> = Vec::new();
    let shade = |out: &mut String, row: usize, from: u64, to: u64, fill: &str, label: &str, lane: usize| {
        let (x0, x1) = (x(from), x(to));
        let y = row_y(row) - ROW / 2.0 + 2.0 - 11.0 * lane as f64;
        let _ = writeln!(
            out,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" opacity="0.35"/>"##,
            (x1 - x0).max(1.0),
            ROW - 4.0
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#444">{}</text>"##,
            x0 + 3.0,
            y + ROW - 7.0,
            esc(label)
        );
    };
    for e in &r.history {
        let Event::World(w) = &e.event else { continue };
        match w {
            WorldEvent::PauseStart { .. } => open_pause.push((e.node, e.t_ns)),
            WorldEvent::PauseEnd => {
                if let Some(k) = open_pause.iter().position(|(n, _)| *n == e.node) {
                    let (_, from) = open_pause.swap_remove(k);
                    if let Some(row) = row_of(e.node) {
                        shade(&mut out, row, from, e.t_ns, "#999", "paused", 0);
                    }
                }
            }
            WorldEvent::Crash => open_crash.push((e.node, e.t_ns)),
            WorldEvent::Restart { .. } => {
                if let Some(k) = open_crash.iter().position(|(n, _)| *n == e.node) {
                    let (_, from) = open_crash.swap_remove(k);
                    if let Some(row) = row_of(e.node) {
                        shade(&mut out, row, from, e.t_ns, "#000", "down", 0);
                    }
                }
            }
            WorldEvent::PartitionStart { description } => {
                let lane = open_partition.len();
                open_partition.push((description.clone(), e.t_ns, lane));
            }
            WorldEvent::PartitionHeal { description } => {
                if let Some(k) = open_partition.iter().position(|(d, ..)| d == description) {
                    let (_, from, lane) = open_partition.remove(k);
                    shade(&mut out, rows.len(), from, e.t_ns, "#d33", &format!("partition {description}"), lane);
                }
            }
            WorldEvent::ClockJump { by_ns } => {
                if let Some(row) = row_of(e.node) {
                    let px = x(e.t_ns);
                    let y = row_y(row);
                    let _ = writeln!(
                        out,
                        r##"<path d="M{px:.1},{:.1} l-5,-8 h10 z" fill="#d33"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#d33">clock {}{:.1} s</text>"##,
                        y - 4.0,
                        px + 6.0,
                        y - 6.0,
                        if *by_ns >= 0 { "+" } else { "−" },
                        by_ns.unsigned_abs() as f64 / 1e9
                    );
                }
            }
            WorldEvent::MessageDropped { kind, from, .. } | WorldEvent::MessageDelayed { kind, from, .. } => {
                if let Some(row) = row_of(*from) {
                    let px = x(e.t_ns);
                    let y = row_y(row);
                    let what = if matches!(w, WorldEvent::MessageDropped { .. }) { "dropped" } else { "delayed" };
                    let _ = writeln!(
                        out,
                        r##"<text x="{px:.1}" y="{:.1}" font-size="10" fill="#d33">✉ {kind} {what}</text>"##,
                        y + 14.0
                    );
                }
            }
        }
    }
    for (node, from) in open_pause {
        if let Some(row) = row_of(node) {
            shade(&mut out, row, from, end_ns, "#999", "paused", 0);
        }
    }
    for (node, from) in open_crash {
        if let Some(row) = row_of(node) {
            shade(&mut out, row, from, end_ns, "#000", "down", 0);
        }
    }
    for (description, from, lane) in open_partition {
        shade(&mut out, rows.len(), from, end_ns, "#d33", &format!("partition {description}"), lane);
    }

    // Sessions: a bar while valid by the client's own clock, red where it acts as holder after.
    let color = |client: NodeId| {
        let k = r.names.iter().take(client).filter(|n| n.starts_with('c')).count();
        PALETTE[k % PALETTE.len()]
    };
    let label = |s: SessionId| {
        let c = &r.names[s.client as usize];
        if s.incarnation == 0 {
            format!("{c}#{}", s.n)
        } else {
            format!("{c}.{}#{}", s.incarnation, s.n)
        }
    };
    // Labels are skipped where they would overlap the previous one on the same row.
    let mut last_label_x: Vec<f64> = vec![f64::MIN; rows.len() + 1];
    for s in &ss {
        let Some(row) = row_of(s.client) else { continue };
        let y = row_y(row) - 7.0;
        let (x0, x1) = (x(s.acquired_ns), x(s.main_end_ns()));
        let _ = writeln!(
            out,
            r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="14" rx="3" fill="{}"/>"##,
            (x1 - x0).max(1.5),
            color(s.client)
        );
        let token = s.token.map_or(String::new(), |t| format!(" token {t}"));
        let text = format!("{}{}", label(s.id), token);
        if x0 - last_label_x[row] > 6.0 * text.len() as f64 {
            last_label_x[row] = x0;
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#222">{}</text>"##,
                x0 + 2.0,
                y - 3.0,
                esc(&text)
            );
        }
        let after = s.belief_end_ns();
        if after > s.main_end_ns() + 1 {
            let x2 = x(after);
            let _ = writeln!(
                out,
                r##"<rect x="{x1:.1}" y="{:.1}" width="{:.1}" height="6" fill="#d33" opacity="0.8"><title>acts as holder after its lease</title></rect>"##,
                y + 4.0,
                (x2 - x1).max(1.5)
            );
        }
    }

    // Writes at the resource and grants at the servers.
    let stale_writes = stale_write_indices(r);
    let mut last_label_x: Vec<f64> = vec![f64::MIN; rows.len() + 1];
    for (i, e) in r.history.iter().enumerate() {
        let Event::Obs { obs, .. } = &e.event else { continue };
        let Some(row) = row_of(e.node) else { continue };
        let px = x(e.t_ns);
        let y = row_y(row);
        match obs {
            Observation::WriteApplied { session, value, .. } => {
                let stale = stale_writes.contains(&i);
                let fill = if stale { "#d33" } else { "#2a8a3e" };
                let _ = writeln!(
                    out,
                    r##"<circle cx="{px:.1}" cy="{y:.1}" r="5" fill="{fill}"><title>{} wrote {value}{}</title></circle>"##,
                    esc(&label(*session)),
                    if stale { " (STALE)" } else { "" }
                );
                if px - last_label_x[row] > 34.0 {
                    last_label_x[row] = px;
                    let _ = writeln!(
                        out,
                        r##"<text x="{px:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="{fill}">{}</text>"##,
                        y + 16.0,
                        esc(&label(*session))
                    );
                }
            }
            Observation::WriteRejected { session, .. } => {
                let _ = writeln!(
                    out,
                    r##"<text x="{px:.1}" y="{:.1}" font-size="14" text-anchor="middle" fill="#777">✕<title>{} rejected by fencing</title></text>"##,
                    y + 5.0,
                    esc(&label(*session))
                );
            }
            Observation::Grant { token, .. } => {
                let _ = writeln!(out, r##"<path d="M{px:.1},{:.1} v12" stroke="#222" stroke-width="2"/>"##, y - 6.0);
                if let Some(t) = token {
                    let _ = writeln!(out, r##"<text x="{:.1}" y="{:.1}" font-size="9">{t}</text>"##, px + 2.0, y - 7.0);
                }
            }
            _ => {}
        }
    }

    // Legend.
    let ly = height - 18.0;
    let _ = writeln!(
        out,
        r##"<g font-size="11" fill="#333"><rect x="{LEFT}" y="{}" width="18" height="10" fill="{}"/><text x="{}" y="{ly}">lease valid by the client's clock</text><rect x="{}" y="{}" width="18" height="6" fill="#d33"/><text x="{}" y="{ly}">acting as holder after it</text><circle cx="{}" cy="{}" r="5" fill="#2a8a3e"/><text x="{}" y="{ly}">write applied</text><circle cx="{}" cy="{}" r="5" fill="#d33"/><text x="{}" y="{ly}">stale write</text><text x="{}" y="{}" font-size="14" fill="#777">✕</text><text x="{}" y="{ly}">rejected by fencing</text><path d="M{},{} v12" stroke="#222" stroke-width="2"/><text x="{}" y="{ly}">grant (token)</text></g>"##,
        ly - 9.0,
        PALETTE[0],
        LEFT + 22.0,
        LEFT + 215.0,
        ly - 7.0,
        LEFT + 237.0,
        LEFT + 385.0,
        ly - 4.0,
        LEFT + 394.0,
        LEFT + 490.0,
        ly - 4.0,
        LEFT + 499.0,
        LEFT + 580.0,
        ly + 1.0,
        LEFT + 595.0,
        LEFT + 730.0,
        ly - 10.0,
        LEFT + 737.0,
    );
    let _ = writeln!(out, "</svg>");
    out
}

/// History indices of applied writes that are stale (by the same rule as property 1).
fn stale_write_indices(r: &RunResult) -> Vec<usize> {
    let ss = sessions(&r.history, r.stats.end_ns);
    let rank = |id: SessionId| ss.iter().position(|s| s.id == id);
    let mut newest: Option<usize> = None;
    let mut out = Vec::new();
    for (i, e) in r.history.iter().enumerate() {
        if let Event::Obs { obs: Observation::WriteApplied { session, .. }, .. } = &e.event {
            let Some(k) = rank(*session) else { continue };
            match newest {
                Some(n) if k < n => out.push(i),
                Some(n) if k == n => {}
                _ => newest = Some(k),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::tick_step_ms;

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step_ms(10_000.0), 1000.0);
        assert_eq!(tick_step_ms(13_000.0), 2000.0);
        assert_eq!(tick_step_ms(45.0), 5.0);
    }
}

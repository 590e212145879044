//! What `locklab explore` shows of a path: a sequence diagram ([`sequence_svg`], stateright's
//! `Model::as_svg`) and the state in words ([`describe_state`], stateright's `format_step`).
//!
//! # The sequence diagram
//!
//! One vertical lifeline per node, named as `locklab run` names them (clients `c1`, `c2`, the
//! lock servers, the resource). Time runs down, one row per step of the path:
//!
//! * a delivered message is an arrow from its sender's lifeline to its receiver's, labelled
//!   with its kind (`acquire`, `acquire_reply`, `write` …), at the step it is delivered;
//! * faults are red where they act: a dropped message is a dashed red arrow ending in ✕, a
//!   delayed one a dashed orange arrow, a pause / resume / crash / restart / clock jump a red
//!   box on that node's lifeline;
//! * a timer firing is a small grey box on its node's lifeline; a tick of true time is a
//!   dashed line across the diagram with the new time at the left (`t=400 ms`);
//! * at each step where it changes, the lock state of every server in words in the right-hand
//!   column (`s1: held by c1, token 3, expires t=2000 ms`), as the path shows it: a server's
//!   grant (its `Grant` observation), the release a client saw succeed, the lease running out
//!   at grant time + TTL by true time, a crash;
//! * the step where an invariant first fails, marked in that column (`✗ violated here: …`);
//! * under the last step, every property's status at the end of the path (an `always` property
//!   holds or is violated there; a `sometimes` property was reached on the path or not).
//!
//! Text is monospace and every width is computed from the number of characters (0.62 em per
//! character, a bound for the usual monospace fonts), so labels never overlap and never leave
//! the picture: columns are as wide as their widest label.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use locklab_protocols::history::Observation;
use locklab_protocols::node::{NodeId, Timer};
use locklab_protocols::Node;
use stateright::{Expectation, Model};

use crate::model::{Action, LockModel, LogEvent, State, Status};

/// Font size of every label, px.
pub const FONT_PX: f64 = 11.0;
/// Width of one character of the monospace font, px (an upper bound: 0.62 em).
pub const CHAR_PX: f64 = FONT_PX * 0.62;
/// Height of one text line, px.
pub const LINE_PX: f64 = 15.0;

/// Width of `text` in px at [`FONT_PX`].
pub fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_PX
}

/// A label placed in the diagram (for tests: every one lies inside the picture and none
/// overlaps another).
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub text: String,
    /// Left edge, px.
    pub x: f64,
    /// Baseline, px.
    pub y: f64,
    /// The horizontal extent the label belongs to and must stay within, px: its arrow's span
    /// between two lifelines, or its lifeline's column (none for headers and the state column).
    pub room: Option<(f64, f64)>,
}

impl Label {
    /// The box the label occupies: (left, top, right, bottom).
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        (self.x, self.y - FONT_PX, self.x + text_width(&self.text), self.y + 3.0)
    }
}

/// A drawn sequence diagram.
#[derive(Clone, Debug)]
pub struct Diagram {
    pub svg: String,
    pub width: f64,
    pub height: f64,
    pub labels: Vec<Label>,
    /// Lifelines, left to right (node names).
    pub lifelines: Vec<String>,
    /// The message arrows, in path order: (from, to, kind).
    pub arrows: Vec<(String, String, String)>,
}

/// A short name for a timer.
fn timer_name(timer: &Timer) -> String {
    match timer {
        Timer::Named(name, _) => name.to_string(),
        other => format!("{other:?}"),
    }
}

/// What one server holds, as the path shows it.
#[derive(Clone, Debug, PartialEq)]
enum Held {
    /// As at the start: nothing granted.
    Initial,
    By {
        holder: NodeId,
        token: Option<u64>,
        expires_ns: Option<u64>,
    },
    Released {
        by: NodeId,
    },
    Down,
    Restarted,
}

/// One step of the path, as drawn.
enum Row {
    Tick { now_ns: u64 },
    Arrow { from: NodeId, to: NodeId, label: String, fault: Option<&'static str> },
    Note { node: NodeId, label: String, fault: bool },
}

/// The lock state of the servers in words.
fn servers_text(model: &LockModel, held: &BTreeMap<NodeId, Held>, now_ns: u64) -> Vec<String> {
    let ms = |ns: u64| ns / 1_000_000;
    let n = |id: NodeId| model.name(id).to_string();
    held.iter()
        .map(|(&s, h)| {
            let what = match h {
                Held::Initial => "free".to_string(),
                Held::By { holder, token, expires_ns } => {
                    let mut t = format!("held by {}", n(*holder));
                    if let Some(token) = token {
                        let _ = write!(t, ", token {token}");
                    }
                    match expires_ns {
                        Some(e) if *e <= now_ns => {
                            t = format!("free ({}'s lease expired at t={} ms)", n(*holder), ms(*e));
                        }
                        Some(e) => {
                            let verb = if model.setup.protocol.lazy_expiry() { "expires ≥" } else { "expires" };
                            let _ = write!(t, ", {verb} t={} ms", ms(*e));
                        }
                        None => {}
                    }
                    t
                }
                Held::Released { by } => format!("free (released by {})", n(*by)),
                Held::Down => "DOWN (crashed)".to_string(),
                Held::Restarted => "restarted (lock table as on its disk)".to_string(),
            };
            format!("{}: {what}", n(s))
        })
        .collect()
}

/// The sequence diagram of `path` (states with the action taken from each; the last has none).
pub fn diagram(model: &LockModel, path: &[(State, Option<Action>)]) -> Diagram {
    let setup = &model.setup;
    let mut order: Vec<NodeId> = setup.clients.clone();
    order.extend(&setup.servers);
    order.push(setup.resource);
    let names: Vec<String> = order.iter().map(|&id| model.name(id).to_string()).collect();
    let column_of: BTreeMap<NodeId, usize> = order.iter().enumerate().map(|(i, &id)| (id, i)).collect();

    // Walk the path, replaying each step to see what it sent and recorded.
    let mut rows: Vec<(Row, Option<Vec<String>>)> = Vec::new();
    let mut held: BTreeMap<NodeId, Held> = setup.servers.iter().map(|&s| (s, Held::Initial)).collect();
    let mut last_text: Vec<String> = Vec::new();
    let ttl_ns = setup.ttl_ns;
    let always: Vec<_> =
        model.properties().into_iter().filter(|p| matches!(p.expectation, Expectation::Always)).collect();
    let mut broken: Vec<&'static str> = Vec::new();
    for (state, action) in path {
        let Some(action) = action else { break };
        let mut next = state.clone();
        let mut log = Vec::new();
        model.step(&mut next, action, Some(&mut log));
        let now_ns = model.now_ns(&next);
        for event in &log {
            match event {
                LogEvent::Recorded { node, obs: Observation::Grant { holder, token, .. } }
                    if held.contains_key(node) =>
                {
                    held.insert(
                        *node,
                        Held::By { holder: *holder, token: *token, expires_ns: ttl_ns.map(|t| now_ns + t) },
                    );
                }
                LogEvent::Recorded { node, obs: Observation::ReleaseDone { ok: Some(true), .. } } => {
                    for h in held.values_mut() {
                        if matches!(h, Held::By { holder, .. } if holder == node) {
                            *h = Held::Released { by: *node };
                        }
                    }
                }
                _ => {}
            }
        }
        let row = match action {
            Action::Tick => Row::Tick { now_ns },
            Action::Deliver { from, to, kind, .. } => {
                if *kind == "release" && matches!(held.get(to), Some(Held::By { holder, .. }) if holder == from) {
                    held.insert(*to, Held::Released { by: *from });
                }
                Row::Arrow { from: *from, to: *to, label: kind.to_string(), fault: None }
            }
            Action::Drop { from, to, kind, .. } => {
                Row::Arrow { from: *from, to: *to, label: format!("DROP {kind}"), fault: Some("drop") }
            }
            Action::Delay { from, to, kind, .. } => {
                Row::Arrow { from: *from, to: *to, label: format!("DELAY {kind}"), fault: Some("delay") }
            }
            Action::Fire { node, timer } => {
                Row::Note { node: *node, label: format!("timer {}", timer_name(timer)), fault: false }
            }
            Action::Pause { node } => Row::Note { node: *node, label: "PAUSE".into(), fault: true },
            Action::Resume { node } => Row::Note { node: *node, label: "RESUME".into(), fault: true },
            Action::Crash { node } => {
                if held.contains_key(node) {
                    held.insert(*node, Held::Down);
                }
                Row::Note { node: *node, label: "CRASH".into(), fault: true }
            }
            Action::Restart { node } => {
                if held.contains_key(node) {
                    held.insert(*node, Held::Restarted);
                }
                Row::Note { node: *node, label: "RESTART".into(), fault: true }
            }
            Action::ClockJump { node } => {
                Row::Note { node: *node, label: format!("CLOCK +{} ms", setup.timing.clock_jump_ms), fault: true }
            }
        };
        let text = servers_text(model, &held, now_ns);
        let changed = text != last_text;
        last_text = text.clone();
        // The step where an invariant first fails is marked in the state column.
        let mut shown = changed.then_some(text);
        for p in &always {
            if !broken.contains(&p.name) && !(p.condition)(model, &next) {
                broken.push(p.name);
                shown.get_or_insert_with(Vec::new).push(format!("✗ violated here: {}", p.name));
            }
        }
        rows.push((row, shown));
    }

    // Properties at the end of the path.
    let mut verdicts: Vec<String> = Vec::new();
    if let Some((last, _)) = path.last() {
        for p in model.properties() {
            let line = match p.expectation {
                Expectation::Always | Expectation::Eventually => {
                    if (p.condition)(model, last) {
                        format!("✓ holds: {}", p.name)
                    } else {
                        format!("✗ VIOLATED: {}", p.name)
                    }
                }
                Expectation::Sometimes => {
                    if path.iter().any(|(s, _)| (p.condition)(model, s)) {
                        format!("✓ reached: {}", p.name)
                    } else {
                        format!("· not reached: {}", p.name)
                    }
                }
            };
            verdicts.push(line);
        }
    }

    // Layout: column widths from the widest label each column must hold.
    let pad = 12.0;
    let time_w = text_width("t=00000 ms") + pad;
    let mut col_w = names.iter().map(|n| text_width(n) + 2.0 * pad).fold(90.0, f64::max);
    for (row, _) in &rows {
        match row {
            Row::Arrow { from, to, label, .. } => {
                let span = column_of[from].abs_diff(column_of[to]).max(1) as f64;
                col_w = col_w.max((text_width(label) + 2.0 * pad) / span);
            }
            Row::Note { label, .. } => col_w = col_w.max(text_width(label) + 2.0 * pad + 8.0),
            Row::Tick { .. } => {}
        }
    }
    let lifelines_w = col_w * order.len() as f64;
    let state_x = time_w + lifelines_w + pad;
    let state_w = rows
        .iter()
        .filter_map(|(_, t)| t.as_ref())
        .flatten()
        .chain(verdicts.iter())
        .map(|t| text_width(t))
        .fold(text_width("lock state (servers)"), f64::max);
    let width = (state_x + state_w + pad).ceil();
    let x_of = |id: NodeId| time_w + col_w * (column_of[&id] as f64 + 0.5);
    let header_h = 30.0;

    let mut body = String::new();
    let mut labels: Vec<Label> = Vec::new();
    let mut arrows = Vec::new();
    let mut text = |body: &mut String, x: f64, y: f64, t: &str, class: &str, room: Option<(f64, f64)>| {
        let _ = writeln!(body, r#"<text x="{x:.1}" y="{y:.1}" class="{class}">{}</text>"#, escape(t));
        labels.push(Label { text: t.to_string(), x, y, room });
    };
    let mut y = header_h + 8.0;
    for (row, state_text) in &rows {
        let lines = state_text.as_ref().map_or(1, |t| t.len().max(1));
        let row_h = (LINE_PX * lines as f64).max(24.0) + 4.0;
        let mid = y + 14.0;
        match row {
            Row::Tick { now_ns } => {
                let _ = writeln!(
                    body,
                    r#"<line x1="{time_w:.1}" x2="{:.1}" y1="{mid:.1}" y2="{mid:.1}" class="tick"/>"#,
                    time_w + lifelines_w
                );
                text(&mut body, 4.0, mid + 4.0, &format!("t={} ms", now_ns / 1_000_000), "time", Some((0.0, time_w)));
            }
            Row::Arrow { from, to, label, fault } => {
                let (x1, x2) = (x_of(*from), x_of(*to));
                let class = match fault {
                    Some("drop") => "msg drop",
                    Some(_) => "msg delay",
                    None => "msg",
                };
                let end = if *fault == Some("drop") { (x1 + x2) / 2.0 } else { x2 };
                let marker = if fault.is_some() { "" } else { r#" marker-end="url(#arrow)""# };
                let _ = writeln!(
                    body,
                    r#"<line x1="{x1:.1}" x2="{end:.1}" y1="{:.1}" y2="{:.1}" class="{class}"{marker}/>"#,
                    mid + 7.0,
                    mid + 7.0
                );
                if *fault == Some("drop") {
                    let _ =
                        writeln!(body, r#"<path d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" class="cross"/>"#, end - 4.0, mid);
                }
                let lx = (x1 + x2) / 2.0 - text_width(label) / 2.0;
                let class = if fault.is_some() { "label flabel" } else { "label" };
                text(&mut body, lx, mid, label, class, Some((x1.min(x2), x1.max(x2))));
                arrows.push((model.name(*from).to_string(), model.name(*to).to_string(), label.clone()));
            }
            Row::Note { node, label, fault } => {
                let w = text_width(label) + 8.0;
                let x = x_of(*node) - w / 2.0;
                let _ = writeln!(
                    body,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="18" rx="3" class="{}"/>"#,
                    mid - 9.0,
                    if *fault { "fault" } else { "timer" }
                );
                let column = (x_of(*node) - col_w / 2.0, x_of(*node) + col_w / 2.0);
                text(&mut body, x + 4.0, mid + 4.0, label, if *fault { "flabel" } else { "tlabel" }, Some(column));
            }
        }
        if let Some(lines) = state_text {
            for (k, line) in lines.iter().enumerate() {
                let class = if line.starts_with('✗') { "state bad" } else { "state" };
                text(&mut body, state_x, y + 12.0 + LINE_PX * k as f64, line, class, None);
            }
        }
        y += row_h;
    }
    y += 10.0;
    let _ = writeln!(body, r#"<line x1="0" x2="{width:.1}" y1="{y:.1}" y2="{y:.1}" class="rule"/>"#);
    y += 4.0;
    for v in &verdicts {
        y += LINE_PX;
        let class = if v.starts_with('✗') { "state bad" } else { "state" };
        text(&mut body, state_x, y, v, class, None);
    }
    let height = (y + 10.0).ceil();
    let mut head = String::new();
    for (i, name) in names.iter().enumerate() {
        let x = time_w + col_w * (i as f64 + 0.5);
        let _ = writeln!(
            head,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" class="life"/>"#,
            header_h - 8.0,
            height - 10.0 - LINE_PX * verdicts.len() as f64 - 14.0
        );
        let column = (x - col_w / 2.0, x + col_w / 2.0);
        text(&mut head, x - text_width(name) / 2.0, header_h - 14.0, name, "node", Some(column));
    }
    text(&mut head, state_x, header_h - 14.0, "lock state (servers)", "node", None);
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT_PX}">
<style>.life{{stroke:#999;stroke-dasharray:3 3}} .msg{{stroke:#222;stroke-width:1.3}} .drop{{stroke:#c00;stroke-dasharray:5 3}} .delay{{stroke:#d9480f;stroke-dasharray:5 3}} .cross{{stroke:#c00;stroke-width:2}} .tick{{stroke:#bbb;stroke-dasharray:2 4}} .rule{{stroke:#ccc}} .fault{{fill:#fde2e2;stroke:#c00}} .timer{{fill:#eee;stroke:#999}} .node{{font-weight:bold}} .flabel{{fill:#a00;font-weight:bold}} .label{{paint-order:stroke;stroke:#fff;stroke-width:4px;stroke-linejoin:round}} .time{{fill:#666}} .state{{fill:#134}} .bad{{fill:#c00;font-weight:bold}} text{{white-space:pre}}</style>
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#222"/></marker></defs>
<rect width="{width:.0}" height="{height:.0}" fill="#fff"/>
{head}{body}</svg>"##
    );
    Diagram { svg, width, height, labels, lifelines: names, arrows }
}

/// The SVG of [`diagram`].
pub fn sequence_svg(model: &LockModel, path: &[(State, Option<Action>)]) -> String {
    diagram(model, path).svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A state in words: true time, each node's status and what it is doing, the messages in
/// flight, the fault budget left, and the properties' ghost flags.
pub fn describe_state(model: &LockModel, s: &State) -> String {
    let mut out = String::new();
    let now_ns = model.now_ns(s);
    let _ = writeln!(out, "t = {} ms (tick {})", now_ns / 1_000_000, s.now_tick);
    for (id, slot) in s.slots.iter().enumerate() {
        let status = match slot.status {
            Status::Up => "up".to_string(),
            Status::Paused { .. } => "PAUSED".to_string(),
            Status::Down { .. } => "DOWN".to_string(),
        };
        let role = match &slot.node {
            Node::Client(c) => {
                let valid =
                    if model.lease_valid(s, id) { "believes it holds the lock" } else { "holds no valid lease" };
                format!("client, {:?}, {valid}", c.phase).replace("{ ", "(").replace(" }", ")")
            }
            Node::Server(_) => "lock server".to_string(),
            Node::Resource(_) => "resource".to_string(),
        };
        let mut timers: Vec<String> = Vec::new();
        let (mono_ns, wall_ns) = model.readings(s, id);
        for (timer, deadline) in &slot.timers {
            timers.push(format!("{} in {} ms", timer_name(timer), deadline.saturating_sub(mono_ns) / 1_000_000));
        }
        let _ = write!(out, "{}: {status}, {role}", model.name(id));
        if slot.wall_steps_ns != 0 {
            let _ = write!(out, ", wall clock {} ms", wall_ns / 1_000_000);
        }
        if !timers.is_empty() {
            let _ = write!(out, "; timers: {}", timers.join(", "));
        }
        out.push('\n');
    }
    if s.network.is_empty() {
        out.push_str("in flight: nothing\n");
    } else {
        out.push_str("in flight:\n");
        for e in &s.network {
            let delayed = if e.delayed { " (delayed)" } else { "" };
            let _ = writeln!(out, "  {} → {}: {}{delayed}", model.name(e.from), model.name(e.to), e.msg);
        }
    }
    let g = &s.ghost;
    if let Some(&(token, holder)) = g.grants_seen.last() {
        let _ = writeln!(out, "latest grant: token {token} to {}", model.name(holder));
    }
    let _ = writeln!(out, "fault budget left: {}", s.budget);
    let flags = [
        (g.stale_write, "a stale write was applied"),
        (g.write_overlap, "a client wrote as holder after its lease ran out while another's was valid"),
        (g.token_regressed, "a fencing token went backwards"),
        (!g.linearizable, "the client-visible history is not linearizable"),
    ];
    for (on, what) in flags {
        if on {
            let _ = writeln!(out, "VIOLATION: {what}");
        }
    }
    out
}

/// The lock model as `locklab explore` serves it: the same states, actions and properties, but a
/// state prints (`Debug`, which stateright's explorer shows in its state pane) as
/// [`describe_state`]'s words instead of a dump of Rust structures.
#[derive(Clone)]
pub struct Explorable {
    pub model: Arc<LockModel>,
    /// The model's properties, forwarded by index (stateright's conditions are plain `fn`s).
    props: Arc<Vec<stateright::Property<LockModel>>>,
}

/// A [`State`] that prints as words; equal and hashed as the state alone.
#[derive(Clone)]
pub struct Shown {
    pub state: State,
    model: Arc<LockModel>,
}

impl PartialEq for Shown {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state
    }
}

impl Eq for Shown {}

impl Hash for Shown {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.state.hash(h)
    }
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe_state(&self.model, &self.state))
    }
}

impl Explorable {
    pub fn new(model: LockModel) -> Self {
        let props = Arc::new(model.properties());
        Explorable { model: Arc::new(model), props }
    }

    fn shown(&self, state: State) -> Shown {
        Shown { state, model: self.model.clone() }
    }
}

/// Property `K` of the inner model, as a plain `fn` of the wrapper.
fn forwarded<const K: usize>(m: &Explorable, s: &Shown) -> bool {
    (m.props[K].condition)(&m.model, &s.state)
}

/// One forwarder per property index (more than any model has).
const FORWARDED: [fn(&Explorable, &Shown) -> bool; 12] = [
    forwarded::<0>,
    forwarded::<1>,
    forwarded::<2>,
    forwarded::<3>,
    forwarded::<4>,
    forwarded::<5>,
    forwarded::<6>,
    forwarded::<7>,
    forwarded::<8>,
    forwarded::<9>,
    forwarded::<10>,
    forwarded::<11>,
];

impl Model for Explorable {
    type State = Shown;
    type Action = Action;

    fn init_states(&self) -> Vec<Shown> {
        self.model.init_states().into_iter().map(|s| self.shown(s)).collect()
    }

    fn actions(&self, s: &Shown, actions: &mut Vec<Action>) {
        self.model.actions(&s.state, actions)
    }

    fn next_state(&self, s: &Shown, action: Action) -> Option<Shown> {
        self.model.next_state(&s.state, action).map(|n| self.shown(n))
    }

    fn format_action(&self, action: &Action) -> String {
        self.model.format_action(action)
    }

    fn format_step(&self, s: &Shown, action: Action) -> Option<String> {
        self.model.format_step(&s.state, action)
    }

    fn as_svg(&self, path: stateright::Path<Shown, Action>) -> Option<String> {
        let inner: Vec<(State, Option<Action>)> = path.into_vec().into_iter().map(|(s, a)| (s.state, a)).collect();
        Some(sequence_svg(&self.model, &inner))
    }

    fn properties(&self) -> Vec<stateright::Property<Self>> {
        assert!(self.props.len() <= FORWARDED.len(), "more properties than forwarders");
        self.props
            .iter()
            .zip(FORWARDED)
            .map(|(p, condition)| stateright::Property { expectation: p.expectation.clone(), name: p.name, condition })
            .collect()
    }

    fn within_boundary(&self, s: &Shown) -> bool {
        self.model.within_boundary(&s.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::shortest_counterexample;
    use crate::cli::build_model;
    use crate::prop;

    fn pause_counterexample() -> (LockModel, Vec<(State, Option<Action>)>) {
        let model = build_model("lease", 2, None, Some("pause"), None, Some(9)).expect("valid configuration");
        let path = shortest_counterexample(&model, prop::NO_STALE_WRITE).expect("the pause breaks the lease");
        (model, path)
    }

    #[test]
    fn the_pause_counterexample_draws_lifelines_arrows_the_pause_and_the_verdict() {
        let (model, path) = pause_counterexample();
        let d = diagram(&model, &path);
        assert_eq!(d.lifelines, ["c1", "c2", "s1", "r1"].map(String::from));
        assert!(d.arrows.iter().any(|(f, t, k)| f == "c1" && t == "s1" && k == "acquire"), "{:?}", d.arrows);
        assert!(d.arrows.iter().any(|(f, t, k)| f == "s1" && t == "c1" && k == "acquire_reply"));
        assert!(d.arrows.iter().any(|(_, t, k)| t == "r1" && k == "write"));
        let texts: Vec<&str> = d.labels.iter().map(|l| l.text.as_str()).collect();
        assert!(texts.contains(&"PAUSE"), "{texts:?}");
        assert!(texts.iter().any(|t| t.starts_with("s1: held by c") && t.contains("expires t=")), "{texts:?}");
        assert!(texts.iter().any(|t| t.contains("lease expired at")), "the paused client's lease runs out: {texts:?}");
        assert!(texts.contains(&"✗ VIOLATED: no stale write"), "{texts:?}");
        assert!(texts.contains(&"✗ violated here: no stale write"), "the step is marked: {texts:?}");
        assert!(texts.contains(&"✓ holds: linearizable (lease spec)"), "{texts:?}");
        assert!(d.svg.starts_with("<svg") && d.svg.ends_with("</svg>"));
        // DUMP_SVG=FILE writes the diagram, to look at it in a browser.
        if let Ok(out) = std::env::var("DUMP_SVG") {
            std::fs::write(out, &d.svg).unwrap();
        }
        let actions: Vec<Action> = path.iter().filter_map(|(_, a)| a.clone()).collect();
        let hooked = stateright::Path::from_actions(&model, path[0].0.clone(), &actions).expect("a path of the model");
        assert_eq!(model.as_svg(hooked), Some(d.svg.clone()), "the Model hook draws the same");
    }

    #[test]
    fn a_dropped_message_and_a_crash_are_drawn_where_they_act() {
        let model = build_model("lease", 2, None, Some("drop,crash"), None, Some(9)).expect("valid configuration");
        let init = model.init_states().remove(0);
        let pick = |s: &State, want: &dyn Fn(&Action) -> bool| {
            let mut actions = Vec::new();
            model.actions(s, &mut actions);
            actions.into_iter().find(|a| want(a)).expect("the action is enabled")
        };
        let drop = pick(&init, &|a| matches!(a, Action::Drop { kind: "acquire", .. }));
        let after_drop = model.next_state(&init, drop.clone()).unwrap();
        let crash = pick(&after_drop, &|a| matches!(a, Action::Crash { .. }));
        let after_crash = model.next_state(&after_drop, crash.clone()).unwrap();
        let path = vec![(init, Some(drop)), (after_drop, Some(crash)), (after_crash, None)];
        let d = diagram(&model, &path);
        assert_eq!(d.arrows, [("c1".to_string(), "s1".to_string(), "DROP acquire".to_string())]);
        assert!(
            d.svg.contains(r#"class="msg drop""#) && d.svg.contains(r#"class="cross""#),
            "dashed, ending in a cross"
        );
        let texts: Vec<&str> = d.labels.iter().map(|l| l.text.as_str()).collect();
        assert!(texts.contains(&"CRASH") && texts.contains(&"s1: DOWN (crashed)"), "{texts:?}");
    }

    #[test]
    fn labels_stay_inside_the_picture_their_arrow_or_column_and_never_overlap() {
        let (model, path) = pause_counterexample();
        let d = diagram(&model, &path);
        for l in &d.labels {
            let (x0, y0, x1, y1) = l.bounds();
            assert!(
                x0 >= 0.0 && y0 >= 0.0 && x1 <= d.width && y1 <= d.height,
                "{l:?} outside {}×{}",
                d.width,
                d.height
            );
            if let Some((from, to)) = l.room {
                assert!(x0 >= from && x1 <= to, "{l:?} spills out of its arrow or column");
            }
        }
        for (i, a) in d.labels.iter().enumerate() {
            for b in &d.labels[i + 1..] {
                let (a0, a1, a2, a3) = a.bounds();
                let (b0, b1, b2, b3) = b.bounds();
                let overlap = a0 < b2 && b0 < a2 && a1 < b3 && b1 < a3;
                assert!(!overlap, "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn the_explorer_model_prints_states_as_words_and_draws_the_same_diagram() {
        let (model, path) = pause_counterexample();
        let explorable = Explorable::new(model.clone());
        let init = explorable.init_states().remove(0);
        assert_eq!(format!("{init:#?}"), describe_state(&model, &path[0].0), "the state pane shows the words");
        let actions: Vec<Action> = path.iter().filter_map(|(_, a)| a.clone()).collect();
        let shown = stateright::Path::from_actions(&explorable, init, &actions).expect("the same path");
        assert_eq!(explorable.as_svg(shown), Some(sequence_svg(&model, &path)));
        let names: Vec<&str> = explorable.properties().iter().map(|p| p.name).collect();
        let inner: Vec<&str> = model.properties().iter().map(|p| p.name).collect();
        assert_eq!(names, inner);
        // Each forwarded condition is the inner one: at the end of the path, no stale write is false.
        let (last, _) = path.last().unwrap();
        for (p, q) in explorable.properties().iter().zip(model.properties()) {
            assert_eq!(
                (p.condition)(&explorable, &explorable.shown(last.clone())),
                (q.condition)(&model, last),
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn state_text_is_words_not_a_debug_dump() {
        let (model, path) = pause_counterexample();
        let (last, _) = path.last().unwrap();
        let text = describe_state(&model, last);
        assert!(text.starts_with("t = "), "{text}");
        assert!(text.contains("c1: ") && text.contains("s1: up, lock server"), "{text}");
        assert!(text.contains("VIOLATION: a stale write was applied"), "{text}");
        assert!(!text.contains("SlotRef") && !text.contains("Ghost {"), "{text}");
        let (first, action) = &path[0];
        let step = model.format_step(first, action.clone().unwrap()).unwrap();
        assert!(step.starts_with("t = "), "format_step shows the words: {step}");
    }
}

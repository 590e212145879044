//! `lin --html`: a self-contained, interactive HTML timeline of a checked history, in the manner
//! of Porcupine's visualiser (anishathalye/porcupine, `visualization.go` and its page).
//!
//! What the page shows, per partition (key) — a selector switches between partitions when the
//! checker split the history (P-compositionality), starting on the one that failed:
//!
//! * one lane per client process, named as the history names it (`c1`, `c2`: `locklab run
//!   --history` writes the scenario's names; a Jepsen history has numbers, shown as Jepsen shows
//!   them, "process 3"); operations of one process that overlap in time (a timed-out call and
//!   the next) stack in sub-rows of the lane, never on top of each other;
//! * a time axis in milliseconds over the full width of the window (redrawn on resize);
//! * each operation as a bar from call to return (dashed and open-ended when it never returned,
//!   up to the moment the client gave up if the history says); its label inside the bar when it
//!   fits, a shorter one when not, nothing rather than a cut or overlapping label;
//! * for lease specs, where each granted lease expires: a marker at the earliest expiry and a
//!   band to the latest (the grant took effect somewhere between call and return);
//! * linearized operations green and numbered in linearization order, the operations that could
//!   not be placed after the longest linearizable prefix red, the rest grey;
//! * hover any bar or marker for its details and, for a linearized operation, the spec's state
//!   after it; step through the linearization (or the longest linearizable prefix) with the
//!   buttons or the ← → Home End keys, the state after each step written out.
//!
//! The data the page draws is one JSON object ([`page_data`]) embedded in the page; the drawing
//! is inline JavaScript, so the layout can use the real width and measure real text. No
//! network: no external script, style, font or image. The bytes depend only on the history and
//! the verdict (no timestamps, no hash-map order).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::specs::{KvOp, KvRet, LockOp, LockRet, RegisterOp, RegisterRet};
use crate::{CheckResult, Operation, PartitionOutcome, Verdict};

/// What the report and the timeline show of one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpView {
    /// Client process.
    pub process: u64,
    /// Key.
    pub key: String,
    /// Call time.
    pub call_ns: u64,
    /// Return time, if it returned.
    pub return_ns: Option<u64>,
    /// When a client that never learned the outcome gave up waiting (the history's
    /// `return_ns` of an operation without output), for drawing only.
    pub gave_up_ns: Option<u64>,
    /// Short text, e.g. `acquire → ok (token 7)`.
    pub label: String,
    /// For a lease granted or extended by this operation: the earliest and latest moment the
    /// lease expires, in ns: call + TTL … return + TTL, narrowed to what the spec's constraints
    /// allow when the operation is linearized and the page's states were asked for.
    pub expiry_ns: Option<(u64, u64)>,
}

impl OpView {
    /// View of `op` with `label`.
    pub fn of<I, O>(op: &Operation<I, O>, label: String) -> Self {
        let returned = op.output.is_some();
        OpView {
            process: op.process,
            key: op.key.clone(),
            call_ns: op.call_ns,
            return_ns: if returned { op.return_ns } else { None },
            gave_up_ns: if returned { None } else { op.return_ns },
            label,
            expiry_ns: None,
        }
    }

    /// One line for text reports; the process by its name in `names` ("process N" without).
    pub fn describe(&self, index: usize, names: &BTreeMap<u64, String>) -> String {
        let ret = self.return_ns.map_or("never returned".to_string(), |r| format!("returned {r} ns"));
        format!(
            "#{index} {} key '{}': {} [called {} ns, {ret}]",
            process_name(names, self.process),
            self.key,
            self.label,
            self.call_ns
        )
    }
}

/// Where the lease a lock operation was granted expires, if it was granted one: a successful
/// acquire or extend under a spec with a TTL; the grant took effect between call and return.
pub fn lease_expiry(op: &Operation<LockOp, LockRet>, ttl_ns: Option<u64>) -> Option<(u64, u64)> {
    let ttl = ttl_ns?;
    match (op.input, op.output, op.return_ns) {
        (LockOp::Acquire | LockOp::Extend, Some(LockRet::Ok { .. }), Some(r)) => {
            Some((op.call_ns.saturating_add(ttl), r.saturating_add(ttl)))
        }
        _ => None,
    }
}

/// Label of a lock operation.
pub fn lock_label(op: &Operation<LockOp, LockRet>) -> String {
    let f = match op.input {
        LockOp::Acquire => "acquire",
        LockOp::Release => "release",
        LockOp::Extend => "extend",
    };
    match op.output {
        None => format!("{f} → ? (unknown)"),
        Some(LockRet::Fail) => format!("{f} → fail"),
        Some(LockRet::Ok { token: Some(t) }) => format!("{f} → ok (token {t})"),
        Some(LockRet::Ok { token: None }) => format!("{f} → ok"),
    }
}

/// Label of a register operation.
pub fn register_label(op: &Operation<RegisterOp, RegisterRet>) -> String {
    let f = match op.input {
        RegisterOp::Read => "read".to_string(),
        RegisterOp::Write(v) => format!("write {v}"),
        RegisterOp::Cas { from, to } => format!("cas {from}→{to}"),
    };
    match op.output {
        None => format!("{f} → ? (unknown)"),
        Some(RegisterRet::Fail) => format!("{f} → fail"),
        Some(RegisterRet::Ok) => format!("{f} → ok"),
        Some(RegisterRet::Value(Some(v))) => format!("{f} → {v}"),
        Some(RegisterRet::Value(None)) => format!("{f} → nil"),
    }
}

/// Label of a key-value operation.
pub fn kv_label(op: &Operation<KvOp, KvRet>) -> String {
    let f = match &op.input {
        KvOp::Get => "get".to_string(),
        KvOp::Put(s) => format!("put {s:?}"),
        KvOp::Append(s) => format!("append {s:?}"),
    };
    match &op.output {
        None => format!("{f} → ? (unknown)"),
        Some(KvRet::Fail) => format!("{f} → fail"),
        Some(KvRet::Ok) => format!("{f} → ok"),
        Some(KvRet::Value(Some(v))) => format!("{f} → {v:?}"),
        Some(KvRet::Value(None)) => format!("{f} → nil"),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Everything the page shows: the history's operations, the checker's result, and the spec's
/// state after each linearized operation.
#[derive(Clone, Debug)]
pub struct Page<'a> {
    /// Page title (the history file and the model).
    pub title: String,
    /// The model's name.
    pub model: String,
    /// The lease TTL of the spec, if it has one.
    pub ttl_ns: Option<u64>,
    /// Display names of processes (`c1`); a process without one is "process N".
    pub names: &'a BTreeMap<u64, String>,
    /// One view per operation of the checked history (same indices).
    pub ops: &'a [OpView],
    /// The checker's result.
    pub result: &'a CheckResult,
    /// The spec's initial state, in words.
    pub initial_state: String,
    /// Per partition (same order as `result.partitions`): the spec's state, in words, after
    /// each operation of its `linearization` (`None`: not available).
    pub states: Vec<Option<Vec<String>>>,
}

/// The display name of `process`.
pub fn process_name(names: &BTreeMap<u64, String>, process: u64) -> String {
    names.get(&process).cloned().unwrap_or_else(|| format!("process {process}"))
}

/// The data the page draws, as embedded in it (tests read it to check what is shown).
///
/// `parts[k].lin` is partition `k`'s linearization (its longest linearizable prefix when it is
/// not linearizable), `parts[k].states[j]` the state after `lin[j]`, `parts[k].unplaced` the
/// operations that could not come next (the failing partition only); `failing` the index of the
/// failing partition.
pub fn page_data(page: &Page) -> Value {
    let (verdict, unplaced, failing_key) = match &page.result.verdict {
        Verdict::Linearizable => ("linearizable", Vec::new(), None),
        Verdict::NotLinearizable(v) => ("not linearizable", v.unplaced.clone(), Some(v.key.clone())),
        Verdict::Unknown => ("unknown (a budget ran out)", Vec::new(), None),
    };
    let ops: Vec<Value> = page
        .ops
        .iter()
        .map(|o| {
            json!({
                "p": o.process,
                "call": o.call_ns,
                "ret": o.return_ns,
                "gaveUp": o.gave_up_ns,
                "label": o.label,
                "exp": o.expiry_ns.map(|(lo, hi)| vec![lo, hi]),
            })
        })
        .collect();
    let mut failing = Value::Null;
    let parts: Vec<Value> = page
        .result
        .partitions
        .iter()
        .enumerate()
        .map(|(k, part)| {
            let is_failing = failing_key.as_deref() == Some(part.key.as_str());
            if is_failing {
                failing = json!(k);
            }
            json!({
                "key": part.key,
                "outcome": match part.outcome {
                    PartitionOutcome::Linearizable => "linearizable",
                    PartitionOutcome::NotLinearizable => "not linearizable",
                    PartitionOutcome::Unknown => "not decided",
                },
                "ops": part.ops,
                "lin": part.linearization,
                "states": page.states.get(k).cloned().flatten(),
                "unplaced": if is_failing { unplaced.clone() } else { Vec::new() },
            })
        })
        .collect();
    let mut processes: Vec<u64> = page.ops.iter().map(|o| o.process).collect();
    processes.sort_unstable();
    processes.dedup();
    let names: BTreeMap<String, String> =
        processes.iter().map(|&p| (p.to_string(), process_name(page.names, p))).collect();
    json!({
        "title": page.title,
        "model": page.model,
        "ttlNs": page.ttl_ns,
        "verdict": verdict,
        "names": names,
        "ops": ops,
        "parts": parts,
        "failing": failing,
        "initial": page.initial_state,
        "stats": {
            "ops": page.result.stats.ops,
            "partitions": page.result.stats.partitions,
            "states": page.result.stats.states,
        },
    })
}

/// Renders the page.
pub fn render(page: &Page) -> String {
    let data = serde_json::to_string(&page_data(page)).expect("plain data serialises");
    // Inside <script>, "</" could end the element: escape it (and the other HTML-significant
    // characters, which JSON allows as \u escapes).
    let data = data.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    PAGE.replace("{{TITLE}}", &escape(&page.title)).replace("{{DATA}}", &data)
}

const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 0; color: #222; }
header { padding: 10px 16px 4px; }
h1 { font-size: 17px; margin: 0 0 4px; word-break: break-all; }
.verdict { font-weight: 600; }
.verdict.bad { color: #b00020; } .verdict.ok { color: #17692f; }
.bar { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 4px 16px; }
.bar button { font: inherit; padding: 2px 10px; }
#state { padding: 6px 16px; background: #f5f7fa; border-top: 1px solid #dde; border-bottom: 1px solid #dde; min-height: 2.6em; }
#state b { font-weight: 600; }
main { padding: 6px 16px 16px; }
svg { display: block; width: 100%; }
#chart { cursor: grab; user-select: none; }
.legend span { display: inline-block; padding: 1px 8px; margin-right: 4px; border: 1px solid #555; border-radius: 3px; font-size: 12px; }
.axis line { stroke: #ccc; } .axis text { font-size: 11px; fill: #555; }
.lane-name { font-size: 13px; fill: #222; }
.lane-sep { stroke: #e4e4e4; }
.op rect { stroke: #555; stroke-width: 1; }
.op text, .op-text { font-size: 11px; pointer-events: none; fill: #111; }
.axis-text, .axis-probe { font-size: 11px; }
.op.lin rect { fill: #a7dcb7; } .op.later rect { fill: #e2f3e7; stroke: #9ab; }
.op.bad rect { fill: #f4a6a6; stroke: #b00020; stroke-width: 2; }
.op.rest rect { fill: #e5e5e5; }
.op.info rect { stroke-dasharray: 4 3; fill-opacity: 0.7; }
.op.current rect { stroke: #000; stroke-width: 2.5; }
.op:hover rect { stroke: #1a4fd6; stroke-width: 2; }
.expiry line { stroke: #d9480f; stroke-width: 2; } .expiry rect { fill: #d9480f; fill-opacity: 0.18; }
#tip { position: fixed; pointer-events: none; background: #fff; border: 1px solid #888; border-radius: 4px; padding: 6px 8px; font-size: 12px; white-space: pre-line; max-width: 420px; box-shadow: 0 2px 6px rgba(0,0,0,.2); display: none; }
.caption { color: #555; font-size: 12px; }
</style></head><body>
<header><h1>{{TITLE}}</h1>
<div><span id="verdict" class="verdict"></span> <span id="summary" class="caption"></span></div>
<div class="legend caption"><span style="background:#a7dcb7">linearized (number = order)</span><span style="background:#f4a6a6;border-color:#b00020">could not be placed next</span><span style="background:#e5e5e5">not linearized</span><span style="border-style:dashed">never returned</span><span id="expiryKey" style="background:#f8d3c2;border-color:#d9480f">lease expiry (earliest … latest)</span></div>
</header>
<div class="bar"><label id="partLabel">partition <select id="part"></select></label>
<button id="first" title="first step (Home)">« first</button><button id="prev" title="previous step (←)">‹ prev</button><button id="next" title="next step (→)">next ›</button><button id="last" title="last step (End)">last »</button>
<span id="stepText"></span><button id="zoomOps" title="zoom to the operations (leases' expiries may lie beyond)">fit operations</button><button id="fit" title="show the whole history (double-click the chart)">show all</button><span class="caption">(steps: ← → Home End; zoom: wheel; pan: drag; hover a bar for details)</span></div>
<div id="state"></div>
<main><div class="caption" id="axisCaption">time (ms since the first call)</div><div id="chart"></div></main>
<div id="tip"></div>
<script type="application/json" id="data">{{DATA}}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById('data').textContent);
const SVGNS = 'http://www.w3.org/2000/svg';
const $ = id => document.getElementById(id);
const nameOf = p => D.names[String(p)] || ('process ' + p);
const fmtMs = ns => (ns / 1e6).toFixed(3);
const ordinal = n => n + (n % 100 >= 11 && n % 100 <= 13 ? 'th' : ['th', 'st', 'nd', 'rd'][n % 10] || 'th');
let part = D.failing === null ? 0 : D.failing;
const steps = D.parts.map(p => p.lin.length);
const views = D.parts.map(() => null); // per partition: [from_ns, to_ns] shown, or null for all
let geometry = null;

function el(name, attrs, parent) {
  const e = document.createElementNS(SVGNS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

// --- header
(function header() {
  const v = $('verdict');
  v.textContent = 'Verdict: ' + D.verdict;
  v.classList.add(D.verdict === 'linearizable' ? 'ok' : 'bad');
  $('summary').textContent = '— model ' + D.model + (D.ttlNs ? ', TTL ' + fmtMs(D.ttlNs) + ' ms' : '') + '; ' +
    D.stats.ops + ' operations, ' + D.stats.partitions + ' partition(s), ' + D.stats.states + ' states explored';
  if (!D.ttlNs) $('expiryKey').style.display = 'none';
  const sel = $('part');
  D.parts.forEach((p, i) => {
    const o = document.createElement('option');
    o.value = i;
    o.textContent = p.key + ' — ' + p.outcome + ' (' + p.ops.length + ' ops)';
    sel.appendChild(o);
  });
  sel.value = part;
  if (D.parts.length < 2) $('partLabel').style.display = 'none';
  sel.addEventListener('change', () => { part = +sel.value; draw(); });
})();

// --- tooltip
const tip = $('tip');
function showTip(ev, text) {
  tip.textContent = text;
  tip.style.display = 'block';
  const w = tip.offsetWidth, h = tip.offsetHeight;
  let x = ev.clientX + 14, y = ev.clientY + 14;
  if (x + w > window.innerWidth - 4) x = Math.max(4, ev.clientX - w - 14);
  if (y + h > window.innerHeight - 4) y = Math.max(4, ev.clientY - h - 14);
  tip.style.left = x + 'px';
  tip.style.top = y + 'px';
}
function hideTip() { tip.style.display = 'none'; }

function opDetails(P, i) {
  const o = D.ops[i];
  const rank = P.lin.indexOf(i);
  let t = '#' + i + ' ' + nameOf(o.p) + ': ' + o.label + '\ncalled at ' + fmtMs(o.call) + ' ms, ';
  if (o.ret !== null) t += 'returned at ' + fmtMs(o.ret) + ' ms';
  else t += 'never returned' + (o.gaveUp !== null ? ' (gave up at ' + fmtMs(o.gaveUp) + ' ms)' : '');
  if (o.exp) t += '\nlease expires between ' + fmtMs(o.exp[0]) + ' and ' + fmtMs(o.exp[1]) + ' ms';
  if (rank >= 0) {
    t += '\nlinearized ' + ordinal(rank + 1) + ' of ' + P.lin.length;
    if (P.states) t += '\nstate after it: ' + P.states[rank];
  } else if (P.unplaced.includes(i)) {
    t += '\ncould not be placed after the longest linearizable prefix (' + P.lin.length + ' operations)';
  } else if (o.ret === null) {
    t += '\nnot linearized: it never took effect';
  } else {
    t += '\nnot linearized';
  }
  return t;
}

// --- drawing
let textWidthCache = new Map();
function measure(svg, text, cls) {
  const key = cls + '\u0000' + text;
  if (textWidthCache.has(key)) return textWidthCache.get(key);
  const t = el('text', { x: 0, y: -100, class: cls }, svg);
  t.textContent = text;
  const w = t.getComputedTextLength();
  t.remove();
  textWidthCache.set(key, w);
  return w;
}

function niceStep(rawMs) {
  const p = Math.pow(10, Math.floor(Math.log10(rawMs)));
  for (const m of [1, 2, 5, 10]) if (m * p >= rawMs) return m * p;
  return 10 * p;
}

function draw() {
  hideTip();
  const P = D.parts[part];
  const chart = $('chart');
  chart.textContent = '';
  const W = Math.max(320, chart.clientWidth);
  const svg = el('svg', { xmlns: SVGNS, width: W, height: 10 }, chart);
  const ops = P.ops.map(i => D.ops[i]);
  // Time span: calls, returns, give-ups, expiries.
  let t0 = Infinity, t1 = -Infinity;
  for (const o of ops) {
    t0 = Math.min(t0, o.call);
    t1 = Math.max(t1, o.call, o.ret === null ? o.call : o.ret, o.gaveUp === null ? o.call : o.gaveUp);
    if (o.exp) t1 = Math.max(t1, o.exp[1]);
  }
  if (!isFinite(t0)) { t0 = 0; t1 = 1; }
  if (t1 <= t0) t1 = t0 + 1e6;
  const tEnd = t1 + (t1 - t0) * 0.03; // open bars of operations that never returned end here
  // Lanes: one per process, sub-rows where its operations overlap in time.
  const procs = [...new Set(ops.map(o => o.p))].sort((a, b) => a - b);
  const laneNameW = Math.max(40, ...procs.map(p => measure(svg, nameOf(p), 'lane-name')));
  const left = Math.ceil(laneNameW) + 18, right = 14;
  const plotW = W - left - right;
  // The visible window (zoomed with the wheel, panned by dragging); rows are laid out on the
  // whole history so they stay put while zooming.
  const view = views[part] || [t0, tEnd];
  const [v0, v1] = view;
  const x = t => left + (t - v0) / (v1 - v0) * plotW;
  const xFull = t => left + (t - t0) / (tEnd - t0) * plotW;
  geometry = { left, plotW, t0, tEnd, v0, v1 };
  const endOf = o => o.ret !== null ? o.ret : (o.gaveUp !== null ? o.gaveUp : tEnd);
  const rowOf = new Map(), rowsOf = new Map();
  for (const p of procs) {
    const mine = P.ops.filter(i => D.ops[i].p === p).sort((a, b) => D.ops[a].call - D.ops[b].call || a - b);
    const rowEnd = [];
    for (const i of mine) {
      const o = D.ops[i];
      const x1 = xFull(o.call);
      let r = rowEnd.findIndex(e => e <= x1);
      if (r < 0) { r = rowEnd.length; rowEnd.push(0); }
      rowEnd[r] = Math.max(xFull(endOf(o)), x1 + 3) + 2;
      rowOf.set(i, r);
    }
    rowsOf.set(p, Math.max(1, rowEnd.length));
  }
  const axisH = 26, rowH = 24, lanePad = 6;
  let y = axisH + 4;
  const laneY = new Map();
  for (const p of procs) { laneY.set(p, y); y += rowsOf.get(p) * rowH + lanePad; }
  const H = y + 6;
  svg.setAttribute('height', H);
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  // Axis: ticks far enough apart for their labels.
  const axis = el('g', { class: 'axis' }, svg);
  const spanMs = (v1 - v0) / 1e6;
  const labelW = measure(svg, (spanMs * 10).toFixed(3), 'axis-probe') + 16;
  let stepMs = niceStep(Math.max(spanMs / Math.max(1, Math.floor(plotW / Math.max(labelW, 60))), 1e-6));
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(stepMs) + 1e-9)));
  let lastRight = -Infinity;
  for (let k = Math.ceil((v0 / 1e6) / stepMs); k * stepMs <= v1 / 1e6 + 1e-9; k++) {
    const ms = k * stepMs, xt = x(ms * 1e6);
    const text = ms.toFixed(decimals);
    const w = measure(svg, text, 'axis-text');
    if (xt < left - 0.5 || xt - w / 2 < 2 || xt + w / 2 > W - 2 || xt - w / 2 < lastRight + 8) continue;
    el('line', { x1: xt, x2: xt, y1: axisH - 6, y2: H - 4 }, axis);
    const t = el('text', { x: xt, y: axisH - 10, 'text-anchor': 'middle' }, axis);
    t.textContent = text;
    lastRight = xt + w / 2;
  }
  // Bars and markers are clipped to the plot area (the lane names stay clear).
  const defs = el('defs', {}, svg);
  const clip = el('clipPath', { id: 'plot' }, defs);
  el('rect', { x: left, y: 0, width: plotW, height: H }, clip);
  const plot = el('g', { 'clip-path': 'url(#plot)' });
  // Lanes.
  for (const p of procs) {
    const y0 = laneY.get(p), h = rowsOf.get(p) * rowH;
    el('line', { class: 'lane-sep', x1: 0, x2: W, y1: y0 + h + lanePad / 2, y2: y0 + h + lanePad / 2 }, svg);
    const t = el('text', { class: 'lane-name', x: 6, y: y0 + Math.min(h, rowH) / 2 + 5 }, svg);
    t.textContent = nameOf(p);
  }
  svg.appendChild(plot);
  const k = steps[part];
  const rank = new Map(P.lin.map((i, r) => [i, r]));
  const unplaced = new Set(P.unplaced);
  // Lease expiry markers (under the bars, so a bar's hover wins), in the lane (and row) of the operation that was granted the lease.
  for (const i of P.ops) {
    const o = D.ops[i];
    if (!o.exp) continue;
    if (o.exp[1] < v0 || o.exp[0] > v1) continue;
    const g = el('g', { class: 'expiry' }, plot);
    const yTop = laneY.get(o.p) + rowOf.get(i) * rowH, xa = x(o.exp[0]), xb = x(o.exp[1]);
    el('rect', { x: xa, y: yTop + 1, width: Math.max(1, xb - xa), height: rowH - 2 }, g);
    el('line', { x1: xa, x2: xa, y1: yTop, y2: yTop + rowH }, g);
    const text = nameOf(o.p) + "'s lease from #" + i + ' (' + o.label + ')\nexpires between ' + fmtMs(o.exp[0]) +
      ' and ' + fmtMs(o.exp[1]) + ' ms' +
      (rank.has(i) ? ' (as the spec places the grant)' : ' (call + TTL … return + TTL)');
    g.addEventListener('mousemove', ev => showTip(ev, text));
    g.addEventListener('mouseleave', hideTip);
  }
  // Operations.
  for (const i of P.ops) {
    const o = D.ops[i];
    const r = rank.has(i) ? rank.get(i) : -1;
    let cls = 'op ' + (unplaced.has(i) ? 'bad' : r < 0 ? 'rest' : r < k ? 'lin' : 'later');
    if (o.ret === null) cls += ' info';
    if (r >= 0 && r === k - 1) cls += ' current';
    const x1 = x(o.call), x2 = Math.max(x(endOf(o)), x1 + 3);
    if (x2 < left || x1 > left + plotW) continue;
    const g = el('g', { class: cls, 'data-op': i }, plot);
    const yTop = laneY.get(o.p) + rowOf.get(i) * rowH + 2;
    el('rect', { x: x1, y: yTop, width: x2 - x1, height: rowH - 4, rx: 3 }, g);
    // The label goes in the visible part of the bar, whole or not at all.
    const lx = Math.max(x1, left), room = Math.min(x2, left + plotW) - lx - 8;
    const candidates = r >= 0 ? [(r + 1) + ' · ' + o.label, o.label, String(r + 1)] : [o.label, o.label.split(' ')[0]];
    for (const c of candidates) {
      if (room > 0 && measure(svg, c, 'op-text') <= room) {
        const t = el('text', { x: lx + 4, y: yTop + rowH / 2 + 2 }, g);
        t.textContent = c;
        break;
      }
    }
    g.addEventListener('mousemove', ev => showTip(ev, opDetails(P, i)));
    g.addEventListener('mouseleave', hideTip);
    g.addEventListener('click', () => { if (r >= 0) { steps[part] = r + 1; draw(); } });
  }
  stateText();
}

function stateText() {
  const P = D.parts[part], k = steps[part], n = P.lin.length;
  const whole = P.outcome === 'linearizable' ? 'linearization' : 'longest linearizable prefix';
  $('stepText').textContent = 'step ' + k + ' of ' + n + ' (' + whole + ')';
  const box = $('state');
  box.textContent = '';
  const b = document.createElement('b');
  if (k === 0) {
    b.textContent = 'Initial state: ';
    box.append(b, D.initial);
  } else {
    const i = P.lin[k - 1], o = D.ops[i];
    b.textContent = 'After step ' + k + ' — #' + i + ' ' + nameOf(o.p) + ': ' + o.label + ' — ';
    box.append(b, P.states ? P.states[k - 1] : '(state not available)');
  }
  if (k === n && P.unplaced.length) {
    const more = document.createElement('div');
    more.textContent = 'None of these can come next: ' +
      P.unplaced.map(i => '#' + i + ' ' + nameOf(D.ops[i].p) + ': ' + D.ops[i].label).join('; ');
    box.append(more);
  }
}

function go(k) { steps[part] = Math.max(0, Math.min(D.parts[part].lin.length, k)); draw(); }
$('first').onclick = () => go(0);
$('prev').onclick = () => go(steps[part] - 1);
$('next').onclick = () => go(steps[part] + 1);
$('last').onclick = () => go(D.parts[part].lin.length);
document.addEventListener('keydown', ev => {
  if (ev.target && ev.target.tagName === 'SELECT') return;
  const k = steps[part];
  if (ev.key === 'ArrowLeft') go(k - 1);
  else if (ev.key === 'ArrowRight') go(k + 1);
  else if (ev.key === 'Home') go(0);
  else if (ev.key === 'End') go(D.parts[part].lin.length);
  else return;
  ev.preventDefault();
});
// Zoom (wheel, around the pointer) and pan (drag) on the time axis; double-click or "fit" resets.
const chartDiv = $('chart');
function timeAt(clientX) {
  const g = geometry, r = chartDiv.getBoundingClientRect();
  return g.v0 + (clientX - r.left - g.left) / g.plotW * (g.v1 - g.v0);
}
function setView(a, b) {
  const g = geometry, full = g.tEnd - g.t0, minSpan = Math.max(full / 5000, 1000);
  if (b - a < minSpan) { const m = (a + b) / 2; a = m - minSpan / 2; b = m + minSpan / 2; }
  if (b - a >= full) { views[part] = null; draw(); return; }
  if (a < g.t0) { b += g.t0 - a; a = g.t0; }
  if (b > g.tEnd) { a -= b - g.tEnd; b = g.tEnd; }
  views[part] = [a, b];
  draw();
}
chartDiv.addEventListener('wheel', ev => {
  if (!geometry) return;
  ev.preventDefault();
  const t = timeAt(ev.clientX), f = ev.deltaY > 0 ? 1.25 : 0.8;
  setView(t - (t - geometry.v0) * f, t + (geometry.v1 - t) * f);
}, { passive: false });
let dragFrom = null;
chartDiv.addEventListener('mousedown', ev => { if (geometry) dragFrom = [ev.clientX, geometry.v0, geometry.v1]; });
window.addEventListener('mouseup', () => { dragFrom = null; });
window.addEventListener('mousemove', ev => {
  if (!dragFrom || !(ev.buttons & 1)) return;
  const dt = (ev.clientX - dragFrom[0]) / geometry.plotW * (dragFrom[2] - dragFrom[1]);
  if (Math.abs(ev.clientX - dragFrom[0]) > 3) setView(dragFrom[1] - dt, dragFrom[2] - dt);
});
chartDiv.addEventListener('dblclick', () => { views[part] = null; draw(); });
$('fit').onclick = () => { views[part] = null; draw(); };
$('zoomOps').onclick = () => {
  const P = D.parts[part];
  let a = Infinity, b = -Infinity;
  for (const i of P.ops) { const o = D.ops[i]; a = Math.min(a, o.call); b = Math.max(b, o.ret !== null ? o.ret : o.call); }
  if (isFinite(a)) setView(a - (b - a) * 0.02, b + (b - a) * 0.02);
};
let resizeTimer = null;
window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(draw, 100); });
if (D.parts.length) draw(); else { $('stepText').textContent = 'no operations'; }
</script>
</body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{self, Model};
    use crate::specs::LeaseSpec;
    use crate::{check, cli, Limits, Spec};

    fn lock(
        process: u64,
        call_ns: u64,
        return_ns: Option<u64>,
        input: LockOp,
        output: Option<LockRet>,
    ) -> Operation<LockOp, LockRet> {
        Operation { process, key: "lock0".into(), call_ns, return_ns, input, output }
    }

    const MS: u64 = 1_000_000;
    const TTL: u64 = 100 * MS;

    /// c1 acquires at 0–1 ms; c2 is granted at 10–12 ms while c1's lease (100 ms) is live: the
    /// prefix is c1's acquire, c2's acquire cannot be placed. c2 also has a crashed acquire.
    fn violating() -> Vec<Operation<LockOp, LockRet>> {
        vec![
            lock(6, 0, Some(MS), LockOp::Acquire, Some(LockRet::Ok { token: None })),
            lock(7, 10 * MS, Some(12 * MS), LockOp::Acquire, Some(LockRet::Ok { token: None })),
            lock(8, 20 * MS, Some(30 * MS), LockOp::Acquire, None),
        ]
    }

    fn names() -> BTreeMap<u64, String> {
        [(6, "c1".to_string()), (7, "c2".to_string())].into_iter().collect()
    }

    /// The page data of `history` checked as a lease, built as `lin --html` builds it.
    fn data_of(history: Vec<Operation<LockOp, LockRet>>) -> (Value, CheckResult, String) {
        let names = names();
        let checked = cli::check_history_for(
            &Model::Lease { ttl_ns: TTL },
            &cli::Specs::default(),
            &format::History::Lock(history),
            &Limits::default(),
            Some(&names),
        )
        .unwrap();
        let (initial_state, states) = checked.states.unwrap();
        let page = Page {
            title: "t".into(),
            model: "lease".into(),
            ttl_ns: Some(TTL),
            names: &names,
            ops: &checked.views,
            result: &checked.result,
            initial_state,
            states,
        };
        (page_data(&page), checked.result.clone(), render(&page))
    }

    fn indices(v: &Value) -> Vec<usize> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
    }

    #[test]
    fn prefix_shown_is_the_checkers_longest_prefix_with_its_states() {
        let (data, result, _) = data_of(violating());
        let Verdict::NotLinearizable(v) = &result.verdict else { panic!("not refuted: {:?}", result.verdict) };
        let k = data["failing"].as_u64().unwrap() as usize;
        assert_eq!(data["parts"][k]["key"], "lock0");
        assert_eq!(indices(&data["parts"][k]["lin"]), v.longest_prefix);
        assert_eq!(v.longest_prefix, vec![0]);
        // One state per step, replayed through the spec: c1 holds a lease ending 100–101 ms.
        let states = data["parts"][k]["states"].as_array().unwrap();
        assert_eq!(states.len(), v.longest_prefix.len());
        assert_eq!(states[0], "held by c1, lease expires t∈[100.000, 101.000] ms");
        assert_eq!(data["initial"], "free");
    }

    #[test]
    fn unplaceable_operation_is_marked() {
        let (data, result, _) = data_of(violating());
        let Verdict::NotLinearizable(v) = &result.verdict else { panic!() };
        let k = data["failing"].as_u64().unwrap() as usize;
        assert_eq!(indices(&data["parts"][k]["unplaced"]), v.unplaced);
        assert_eq!(v.unplaced, vec![1], "c2's grant is what cannot come next");
        // A linearizable history marks nothing.
        let mut ok = violating();
        ok[1].call_ns = 200 * MS;
        ok[1].return_ns = Some(201 * MS);
        let (data, result, _) = data_of(ok);
        assert_eq!(result.verdict, Verdict::Linearizable);
        assert!(data["parts"][0]["unplaced"].as_array().unwrap().is_empty());
        assert_eq!(data["failing"], Value::Null);
    }

    #[test]
    fn lanes_use_the_histories_names_and_jepsen_numbers_otherwise() {
        let (data, _, page) = data_of(violating());
        assert_eq!(data["names"]["6"], "c1");
        assert_eq!(data["names"]["7"], "c2");
        assert_eq!(data["names"]["8"], "process 8", "no name in the history: Jepsen's 'process N'");
        assert!(page.contains(r#""6":"c1""#));
    }

    #[test]
    fn granted_leases_carry_their_expiry_window() {
        let (data, _, _) = data_of(violating());
        assert_eq!(data["ops"][0]["exp"], json!([TTL, TTL + MS]), "call + TTL … return + TTL");
        assert_eq!(data["ops"][1]["exp"], json!([TTL + 10 * MS, TTL + 12 * MS]), "not linearized: call and return");
        assert_eq!(data["ops"][2]["exp"], Value::Null, "a crashed acquire was granted nothing the client knows of");
        assert_eq!(data["ops"][2]["gaveUp"], json!(30 * MS), "drawn up to when the client gave up");
        assert_eq!(data["ops"][2]["ret"], Value::Null);
    }

    #[test]
    fn a_linearized_grants_expiry_is_the_specs_window() {
        // c1 is granted at 0–1 ms; c2's acquire spans 50–150 ms and succeeds, so it took effect
        // once c1's lease (100 ms) was over: at 100–150 ms, and its lease expires at 200–250 ms,
        // not 150–250 ms.
        let history = vec![
            lock(6, 0, Some(MS), LockOp::Acquire, Some(LockRet::Ok { token: None })),
            lock(7, 50 * MS, Some(150 * MS), LockOp::Acquire, Some(LockRet::Ok { token: None })),
        ];
        let (data, result, _) = data_of(history);
        assert_eq!(result.verdict, Verdict::Linearizable);
        assert_eq!(data["ops"][1]["exp"], json!([TTL + 100 * MS, TTL + 150 * MS]));
        assert_eq!(data["parts"][0]["states"][1], "held by c2, lease expires t∈[200.000, 250.000] ms");
    }

    #[test]
    fn replay_rejects_an_order_the_search_did_not_produce() {
        let h = violating();
        let spec = LeaseSpec { ttl_ns: TTL };
        assert!(crate::replay(&spec, &h, &[0, 1, 2], &[0]).is_some());
        assert!(crate::replay(&spec, &h, &[0, 1, 2], &[0, 1]).is_none(), "two live leases");
        let _ = check(&spec, &h, None).unwrap();
        assert_eq!(spec.describe_state(&spec.init(), &|p| format!("p{p}")), "free");
    }

    #[test]
    fn page_is_self_contained_and_deterministic() {
        let (_, _, page) = data_of(violating());
        let (_, _, again) = data_of(violating());
        assert_eq!(page, again);
        // No external resource: the one URL is the SVG namespace the script passes to
        // createElementNS, and the one url( is the page's own clip path, url(#plot).
        let without_ns = page.replace("'http://www.w3.org/2000/svg'", "").replace("url(#plot)", "");
        for needle in ["http://", "https://", "src=", "href=", "url(", "@import", "//cdn"] {
            assert!(!without_ns.contains(needle), "the page references {needle}");
        }
        // The data cannot end the <script> element early.
        let data_start = page.find("id=\"data\">").unwrap();
        let data_end = page[data_start..].find("</script>").unwrap() + data_start;
        assert!(!page[data_start + 10..data_end].contains('<'));
    }

    #[test]
    fn titles_and_labels_are_escaped() {
        let mut h = violating();
        h[0].key = "</script><b>".into();
        let names = names();
        let checked = cli::check_history_for(
            &Model::Lease { ttl_ns: TTL },
            &cli::Specs::default(),
            &format::History::Lock(h),
            &Limits::default(),
            Some(&names),
        )
        .unwrap();
        let page = Page {
            title: "<x>".into(),
            model: "lease".into(),
            ttl_ns: Some(TTL),
            names: &names,
            ops: &checked.views,
            result: &checked.result,
            initial_state: String::new(),
            states: Vec::new(),
        };
        let html = render(&page);
        assert!(!html.contains("<x>") && !html.contains("</script><b>"));
        assert!(html.contains("&lt;x&gt;"));
    }
}

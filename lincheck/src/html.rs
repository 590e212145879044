//! A self-contained HTML timeline of a checked history, in the manner of Porcupine's
//! visualiser: one row per client process within each key, a bar per operation from
//! call to return (dashed to the right edge when it never returned), and the
//! linearization drawn on top — green bars numbered in linearization order, red bars
//! for the operations that could not be placed, grey for the rest. Hovering a bar shows
//! the operation; clicking it highlights the linearized operations up to it.
//!
//! The x axis is event order, not wall time, so that bursts of short operations stay
//! readable (as in Porcupine). No network access: inline SVG, CSS and a few lines of JS.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

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
    /// Short text, e.g. `acquire → ok (token 7)`.
    pub label: String,
}

impl OpView {
    /// View of `op` with `label`.
    pub fn of<I, O>(op: &Operation<I, O>, label: String) -> Self {
        OpView {
            process: op.process,
            key: op.key.clone(),
            call_ns: op.call_ns,
            return_ns: if op.output.is_some() { op.return_ns } else { None },
            label,
        }
    }

    /// One line for text reports.
    pub fn describe(&self, index: usize) -> String {
        let ret = self.return_ns.map_or("never returned".to_string(), |r| format!("returned {r} ns"));
        format!(
            "#{index} process {} key '{}': {} [called {} ns, {ret}]",
            self.process, self.key, self.label, self.call_ns
        )
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

const ROW_PX: usize = 26;
const STEP_PX: usize = 14;
const LEFT_PX: usize = 110;

/// Renders the page.
pub fn render(title: &str, ops: &[OpView], result: &CheckResult) -> String {
    let verdict = match &result.verdict {
        Verdict::Linearizable => "linearizable".to_string(),
        Verdict::NotLinearizable(v) => format!("not linearizable (key '{}')", escape(&v.key)),
        Verdict::Unknown => "unknown (budget ran out)".to_string(),
    };
    let unplaced: HashSet<usize> = match &result.verdict {
        Verdict::NotLinearizable(v) => v.unplaced.iter().copied().collect(),
        _ => HashSet::new(),
    };
    let mut body = String::new();
    for part in &result.partitions {
        let order: BTreeMap<usize, usize> = part.linearization.iter().enumerate().map(|(rank, &i)| (i, rank)).collect();
        // Event order on the x axis: distinct call/return times of this partition.
        let mut times: Vec<u64> = Vec::new();
        for &i in &part.ops {
            times.push(ops[i].call_ns);
            if let Some(r) = ops[i].return_ns {
                times.push(r);
            }
        }
        times.sort_unstable();
        times.dedup();
        let x_of = |t: u64| LEFT_PX + STEP_PX * (times.partition_point(|&x| x < t) + 1);
        let right = LEFT_PX + STEP_PX * (times.len() + 2);
        let mut processes: Vec<u64> = part.ops.iter().map(|&i| ops[i].process).collect();
        processes.sort_unstable();
        processes.dedup();
        let height = ROW_PX * (processes.len() + 1);
        let outcome = match part.outcome {
            PartitionOutcome::Linearizable => "linearizable",
            PartitionOutcome::NotLinearizable => "not linearizable",
            PartitionOutcome::Unknown => "not decided",
        };
        let _ = writeln!(
            body,
            "<h2>key '{}' — {} ({} operations)</h2>\n<svg width=\"{}\" height=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
            escape(&part.key),
            outcome,
            part.ops.len(),
            right + 20,
            height
        );
        for (row, p) in processes.iter().enumerate() {
            let y = ROW_PX * row + ROW_PX / 2;
            let _ = writeln!(
                body,
                "<text x=\"4\" y=\"{}\" class=\"proc\">process {p}</text><line x1=\"{LEFT_PX}\" x2=\"{right}\" y1=\"{y}\" y2=\"{y}\" class=\"lane\"/>",
                y + 4
            );
        }
        for &i in &part.ops {
            let op = &ops[i];
            let row = processes.binary_search(&op.process).expect("process listed");
            let y = ROW_PX * row + 4;
            let x1 = x_of(op.call_ns);
            let x2 = op.return_ns.map_or(right, x_of).max(x1 + 6);
            let rank = order.get(&i);
            let class = match (rank, unplaced.contains(&i)) {
                (_, true) => "bad",
                (Some(_), false) => "lin",
                (None, false) => "rest",
            };
            let dash = if op.return_ns.is_none() { " info" } else { "" };
            let tip = format!(
                "#{i} process {}: {}\ncall {} ns, {}{}",
                op.process,
                op.label,
                op.call_ns,
                op.return_ns.map_or("never returned".into(), |r| format!("return {r} ns")),
                rank.map_or(String::new(), |r| format!("\nlinearized {}", r + 1))
            );
            let _ = writeln!(
                body,
                "<g class=\"op {class}{dash}\" data-rank=\"{}\" data-part=\"{}\"><title>{}</title><rect x=\"{x1}\" y=\"{y}\" width=\"{}\" height=\"{}\" rx=\"3\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
                rank.map_or(-1, |r| *r as i64),
                escape(&part.key),
                escape(&tip),
                x2 - x1,
                ROW_PX - 8,
                x1 + 3,
                y + ROW_PX / 2 + 1,
                escape(&rank.map_or(op.label.clone(), |r| format!("{} · {}", r + 1, op.label)))
            );
        }
        let _ = writeln!(body, "</svg>");
    }
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 16px; }}
svg {{ display: block; border: 1px solid #ddd; margin-bottom: 18px; }}
.proc {{ font-size: 12px; fill: #333; }}
.lane {{ stroke: #eee; }}
.op rect {{ stroke: #555; stroke-width: 1; }}
.op text {{ font-size: 11px; pointer-events: none; }}
.lin rect {{ fill: #b7e4c7; }}
.bad rect {{ fill: #f4a6a6; stroke: #b00; }}
.rest rect {{ fill: #e5e5e5; }}
.info rect {{ stroke-dasharray: 4 3; fill-opacity: 0.6; }}
.dim {{ opacity: 0.25; }}
.legend span {{ padding: 2px 8px; margin-right: 6px; border: 1px solid #555; }}
</style></head><body>
<h1>{title}</h1>
<p><b>Verdict: {verdict}</b> — {ops} operations, {parts} partitions, {states} states explored.</p>
<p class="legend"><span style="background:#b7e4c7">linearized (number = order)</span><span style="background:#f4a6a6">could not be placed</span><span style="background:#e5e5e5">not linearized</span><span style="border-style:dashed">never returned</span> Click an operation to show the linearization up to it; click again to reset.</p>
{body}
<script>
let chosen = null;
document.querySelectorAll('.op').forEach(g => g.addEventListener('click', () => {{
  const rank = +g.dataset.rank, part = g.dataset.part;
  const reset = chosen === g || rank < 0;
  chosen = reset ? null : g;
  document.querySelectorAll('.op').forEach(o => {{
    const keep = reset || (o.dataset.part === part && +o.dataset.rank >= 0 && +o.dataset.rank <= rank);
    o.classList.toggle('dim', !keep);
  }});
}}));
</script>
</body></html>
"#,
        title = escape(title),
        verdict = verdict,
        ops = result.stats.ops,
        parts = result.stats.partitions,
        states = result.stats.states,
        body = body
    )
}

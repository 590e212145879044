//! Scenario files: TOML, parsed with serde, every table denying unknown keys.
//!
//! The format is documented field by field in `scenarios/README.md`. Parsing is pure (text in,
//! [`Scenario`] or [`InputError`] out); validation resolves node names and checks ranges, and
//! every error names the file, the line and the field.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

/// A user's mistake in an input file, located as precisely as possible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The key the error is about, when known.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        // A value echoed into a message (a 100 KB string) is cut.
        if self.message.chars().count() > 2 * MAX_MESSAGE_CHARS {
            let cut: String = self.message.chars().take(2 * MAX_MESSAGE_CHARS).collect();
            write!(f, "{cut}…")
        } else {
            write!(f, "{}", self.message)
        }
    }
}

impl std::error::Error for InputError {}

/// Line and column (1-based) of a byte offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The key assigned on a line, e.g. `ttl_ms` for `ttl_ms = -5`.
fn key_on_line(source: &str, line: usize) -> Option<String> {
    let text = source.lines().nth(line.checked_sub(1)?)?;
    let (key, _) = text.split_once('=')?;
    let key = key.trim().trim_start_matches('{').trim();
    let key = key.rsplit(',').next()?.trim().trim_start_matches('{').trim();
    (!key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.')).then(|| key.to_string())
}

/// Builds located errors for one source file.
pub struct Locator<'a> {
    pub file: &'a str,
    pub source: &'a str,
}

impl Locator<'_> {
    pub fn at(&self, span: Range<usize>, field: &str, message: impl Into<String>) -> InputError {
        let (line, col) = line_col(self.source, span.start);
        InputError {
            file: self.file.to_string(),
            line: Some(line),
            column: Some(col),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// An error about `field` (a dotted path such as `network.duplicate`), located at the line
    /// that sets it — or at its table's header when the key is absent (a default out of range).
    pub fn whole(&self, field: Option<&str>, message: impl Into<String>) -> InputError {
        let (line, column) = match field.and_then(|f| find_field(self.source, f)) {
            Some(offset) => {
                let (l, c) = line_col(self.source, offset);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        InputError {
            file: self.file.to_string(),
            line,
            column,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    /// An error about key `field` of the `[[protocols]]` entry whose `name` is at `name_span`:
    /// located at the key's line in that entry, or at the name when the key is absent.
    pub fn in_entry(&self, name_span: Range<usize>, field: &str, message: impl Into<String>) -> InputError {
        let start = self.source[..name_span.start.min(self.source.len())].rfind("[[").unwrap_or(0);
        let end = self.source[name_span.start.min(self.source.len())..]
            .find("\n[")
            .map_or(self.source.len(), |i| name_span.start + i);
        let offset = find_key_in(&self.source[start..end], field).map_or(name_span.start, |o| start + o);
        self.at(offset..offset, field, message)
    }
}

/// Byte offset of `key = …` in `text` (a key at the start of a line, or inside an inline table).
fn find_key_in(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let code = line.split('#').next().unwrap_or("");
        let mut from = 0;
        while let Some(i) = code[from..].find(key) {
            let at = from + i;
            let before = code[..at].trim_end();
            let after = code[at + key.len()..].trim_start();
            let starts_key = before.is_empty() || before.ends_with('{') || before.ends_with(',');
            if starts_key && after.starts_with('=') {
                return Some(offset + at);
            }
            from = at + key.len();
        }
        offset += line.len();
    }
    None
}

/// Byte offset of a dotted field (`table.key`, `table.sub.key`) in a TOML source: the key's line
/// inside its table, else the table's header, else an inline `table = { key = … }`, else the key
/// anywhere.
fn find_field(source: &str, field: &str) -> Option<usize> {
    let (table, key) = field.rsplit_once('.').unwrap_or(("", field));
    // (table name, start, end) of every table body; the top level is "".
    let mut regions: Vec<(String, usize, usize)> = vec![(String::new(), 0, source.len())];
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') {
            let name = t.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string();
            if let Some(last) = regions.last_mut() {
                last.2 = offset;
            }
            regions.push((name, offset, source.len()));
        }
        offset += line.len();
    }
    let matching: Vec<&(String, usize, usize)> = regions.iter().filter(|(name, ..)| name == table).collect();
    for (_, start, end) in &matching {
        if let Some(o) = find_key_in(&source[*start..*end], key) {
            return Some(start + o);
        }
    }
    if let Some((_, start, _)) = matching.first() {
        return Some(*start);
    }
    let parent = table.rsplit('.').next().unwrap_or("");
    if !parent.is_empty() {
        if let Some(o) = find_key_in(source, parent) {
            return find_key_in(&source[o..], key).map(|k| o + k).or(Some(o));
        }
    }
    find_key_in(source, key)
}

pub use locklab_protocols::params::{MsBounds, MsSpec};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub scenario: Meta,
    #[serde(default)]
    pub topology: Topology,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub clocks: ClocksSpec,
    #[serde(default)]
    pub workload: WorkloadSpec,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Randomized recurring faults, drawn per seed.
    #[serde(default)]
    pub nemesis: Vec<NemesisSpec>,
    pub protocols: Vec<ProtocolSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Short identifier, used in reports.
    pub name: String,
    /// One line for humans.
    pub title: String,
    /// Number in ../shared/scenarios-literature.md's catalogue, if the scenario is one of them.
    pub literature: Option<u32>,
    /// Where the scenario comes from.
    pub source: String,
    #[serde(default)]
    pub description: String,
    /// Simulated time the run lasts.
    pub duration_ms: u64,
    /// The seed `run` uses when none is given: an integer, or a string for seeds above TOML's
    /// 2^63 − 1 (seeds are u64).
    #[serde(default = "default_seed", deserialize_with = "seed_u64")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    1
}

fn seed_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a whole number from 0 to 18446744073709551615 (above 2^63 − 1 as a string)")]
    enum Seed {
        Int(u64),
        Text(String),
    }
    match Seed::deserialize(d)? {
        Seed::Int(n) => Ok(n),
        Seed::Text(t) => t.trim().parse().map_err(|_| {
            serde::de::Error::custom(format!("`{t}` is not a seed: a whole number from 0 to 18446744073709551615"))
        }),
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    pub servers: u32,
    pub clients: u32,
}

impl Default for Topology {
    fn default() -> Self {
        Topology { servers: 1, clients: 2 }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    pub latency_ms: MsSpec,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Probability that a message is held back by up to `reorder_ms` extra.
    pub reorder: f64,
    pub reorder_ms: u64,
    /// Per directed link overrides.
    pub links: Vec<LinkSpec>,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency_ms: MsSpec::Range(MsBounds { min: 1, max: 3 }),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_ms: 10,
            links: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub from: Spanned<String>,
    pub to: Spanned<String>,
    pub latency_ms: Option<MsSpec>,
    pub loss: Option<f64>,
    pub duplicate: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ClocksSpec {
    /// Each node's drift is drawn uniformly from [-drift_ppm_max, +drift_ppm_max].
    pub drift_ppm_max: u32,
    /// Each node's wall clock offset is drawn uniformly from [-offset_ms_max, +offset_ms_max].
    pub offset_ms_max: u64,
    /// Per node settings, overriding the draws.
    pub nodes: Vec<NodeClockSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeClockSpec {
    pub node: Spanned<String>,
    pub offset_ms: Option<i64>,
    pub drift_ppm: Option<i32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadSpec {
    /// Locks, each guarding its own resource (`r1`…`rK`); each session picks one at random.
    pub locks: u32,
    pub sessions: u32,
    pub ops_per_session: u32,
    pub think_ms: MsSpec,
    pub idle_ms: MsSpec,
    /// When each client starts its workload (drawn per client).
    pub start_ms: MsSpec,
    /// When each client starts, one entry per client in order (c1, c2, …); overrides `start_ms`.
    pub client_start_ms: Option<Vec<u64>>,
    pub resource_timeout_ms: u64,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            locks: 1,
            sessions: 3,
            ops_per_session: 1,
            think_ms: MsSpec::Range(MsBounds { min: 5, max: 20 }),
            idle_ms: MsSpec::Range(MsBounds { min: 5, max: 50 }),
            start_ms: MsSpec::Range(MsBounds { min: 0, max: 10 }),
            client_start_ms: None,
            resource_timeout_ms: 1000,
        }
    }
}

/// When a fault happens: at a time, or after the n-th occurrence of an event.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// `acquired`, `write_sent`, `write_applied`, `released`, `granted`.
    pub event: Spanned<String>,
    /// The node where the event happens.
    pub node: Spanned<String>,
    #[serde(default = "one")]
    pub nth: u32,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// `pause`, `crash`, `partition`, `clock_jump`, `drop`, `delay`.
    pub kind: Spanned<String>,
    pub at_ms: Option<u64>,
    pub after: Option<TriggerSpec>,
    /// With `after`: how long after the event.
    #[serde(default)]
    pub delay_ms: u64,
    /// pause, crash, clock_jump: the node.
    pub node: Option<Spanned<String>>,
    /// pause: how long; partition: until it heals (absent: never); crash: until the restart
    /// (absent: stays down).
    pub duration_ms: Option<u64>,
    /// clock_jump: how far the wall clock steps (negative: backwards).
    pub by_ms: Option<i64>,
    /// partition: symmetric, between every pair of groups.
    pub groups: Option<Vec<Vec<Spanned<String>>>>,
    /// partition (one-way), drop, delay: message source(s).
    pub from: Option<Vec<Spanned<String>>>,
    /// partition (one-way), drop, delay: message destination(s).
    pub to: Option<Vec<Spanned<String>>>,
    /// drop, delay: the message kind (`acquire_reply`, `write`, …).
    pub message: Option<Spanned<String>>,
    /// drop, delay: the first matching message affected (1-based).
    pub nth: Option<u32>,
    /// drop, delay: how many matching messages from the n-th on.
    pub count: Option<u32>,
    /// delay: extra latency.
    pub extra_ms: Option<u64>,
}

/// A fault generator (a nemesis, as Jepsen calls it): recurring faults with random targets and
/// durations, drawn from the run's seed (a sub-stream of its own), between `from_ms` and
/// `until_ms`. After `until_ms` every drawn fault has healed: the rest of the run is the healing
/// phase, in which liveness is judged (VOPR's safety-then-liveness).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NemesisSpec {
    /// `pause`, `crash` (restarted after `duration_ms`), `partition` (a random minority of the
    /// targets cut off from every other node for `duration_ms`), `clock_jump` (by `by_ms`).
    pub kind: Spanned<String>,
    /// The time between one fault's start and the next's.
    pub every_ms: MsSpec,
    /// `clients`, `servers` or `all` (default `servers`), or a list of node names.
    pub targets: Option<TargetsSpec>,
    /// pause, crash, partition: how long each lasts.
    pub duration_ms: Option<MsSpec>,
    /// clock_jump: how far (negative: backwards), drawn from `{ min, max }` (signed).
    pub by_ms: Option<SignedRange>,
    /// The first fault starts one `every_ms` after this (default 0).
    #[serde(default)]
    pub from_ms: u64,
    /// No fault starts at or after this, and every fault is healed by it (default: the run's end).
    pub until_ms: Option<u64>,
}

/// A nemesis's targets: a group's name or node names.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged, expecting = "\"clients\", \"servers\", \"all\" or a list of node names")]
pub enum TargetsSpec {
    Group(String),
    Nodes(Vec<String>),
}

/// A signed range in ms (`{ min = -5000, max = 5000 }`) or one value.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged, expecting = "a whole number of milliseconds (may be negative), or { min = .., max = .. }")]
pub enum SignedRange {
    Fixed(i64),
    Range { min: i64, max: i64 },
}

/// What a protocol variant is expected to show (the literature's "Expect" column).
#[derive(Clone, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    pub no_stale_write: Option<Spanned<String>>,
    pub mutual_exclusion: Option<Spanned<String>>,
    /// Property 3: the client-visible lock history is linearizable against the lease spec.
    pub linearizable: Option<Spanned<String>>,
    pub token_order: Option<Spanned<String>>,
    pub liveness: Option<Spanned<String>>,
    /// Raft's own invariants (election safety, log matching, leader completeness, state machine safety).
    pub raft_safety: Option<Spanned<String>>,
    /// The slowest successful acquire must take at least this long (e.g. a stuck lock, #9).
    pub max_acquire_ms_at_least: Option<u64>,
    /// The slowest successful acquire must take at most this long.
    pub max_acquire_ms_at_most: Option<u64>,
}

/// One protocol variant the scenario runs against: its name, its kind, what it is expected to
/// show, and the kind's own keys, which the kind's folder in `locklab-protocols` reads (the
/// registry's `compile`): this crate names no protocol parameter.
#[derive(Clone, Debug, Deserialize)]
pub struct ProtocolSpec {
    /// The variant's name in this file (e.g. `lease`, `lease-fenced`).
    pub name: Spanned<String>,
    /// The protocol kind (`lease`, `raft`, …: the registry's names).
    pub kind: Spanned<String>,
    #[serde(default)]
    pub expect: ExpectSpec,
    /// Every other key, for the kind to read.
    #[serde(flatten)]
    pub params: toml::Table,
}

/// Parse a scenario file's text. `file` names it in errors.
pub fn parse(file: &str, source: &str) -> Result<Scenario, InputError> {
    let loc = Locator { file, source };
    if source.trim().is_empty() {
        return Err(loc.whole(None, "the file is empty; a scenario needs at least [scenario] and [[protocols]]"));
    }
    toml::from_str::<Scenario>(source).map_err(|e| {
        // One line per error: toml's messages may span several.
        let message = e.message().trim().split('\n').map(str::trim).collect::<Vec<_>>().join("; ");
        let message = explain(&message);
        match e.span() {
            Some(span) => {
                let (line, col) = line_col(source, span.start);
                let field = field_in_message(&message).or_else(|| key_on_line(source, line));
                InputError { file: file.to_string(), line: Some(line), column: Some(col), field, message }
            }
            None => loc.whole(field_in_message(&message).as_deref(), message),
        }
    })
}

/// The longest message an error repeats from its input (a 100 KB value is not echoed whole).
const MAX_MESSAGE_CHARS: usize = 240;

/// Make a parser message useful: never empty, a suggestion for a mistyped key, the range of a
/// number that does not fit, and never longer than [`MAX_MESSAGE_CHARS`].
pub(crate) fn explain(message: &str) -> String {
    let mut message = if message.is_empty() {
        "a value is missing or cut off here (the line or the file ends before it)".to_string()
    } else {
        message.to_string()
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let unknown = rest.split('`').next().unwrap_or("");
        let valid: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
        let suggestion = valid
            .iter()
            .map(|v| (edit_distance(unknown, v), *v))
            .filter(|&(d, v)| d <= 2.max(v.len() / 3))
            .min()
            .map_or(String::new(), |(_, v)| format!("; did you mean `{v}`?"));
        message = format!("unknown field `{unknown}`{suggestion} (valid: {})", valid.join(", "));
    }
    if message.contains("number too large to fit in target type") {
        message = "number too large: TOML integers are 64-bit signed (at most 9223372036854775807); \
                   a larger seed can be written as a string, e.g. seed = \"18446744073709551615\""
            .to_string();
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        message = message.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    message
}

/// Levenshtein distance (for "did you mean").
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The field a serde message is about: "unknown field `x`", "missing field `x`".
fn field_in_message(message: &str) -> Option<String> {
    for prefix in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.split(prefix).nth(1) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    None
}

/// Read and parse a scenario file. Non-UTF-8 (binary) content is an input error, not a panic.
pub fn load(path: &std::path::Path) -> Result<(Scenario, String), InputError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| InputError {
        file: file.clone(),
        line: None,
        column: None,
        field: None,
        message: format!("cannot read the file: {e}"),
    })?;
    let source = String::from_utf8(bytes).map_err(|e| {
        let (line, column) = {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let text = String::from_utf8_lossy(valid);
            line_col(&text, text.len())
        };
        InputError {
            file: file.clone(),
            line: Some(line),
            column: Some(column),
            field: None,
            message: "not a UTF-8 text file (is it binary?); scenario files are TOML text".to_string(),
        }
    })?;
    if source.contains('\0') {
        return Err(InputError {
            file,
            line: None,
            column: None,
            field: None,
            message: "contains NUL bytes: not a TOML text file".into(),
        });
    }
    let scenario = parse(&file, &source)?;
    Ok((scenario, source))
}

//! Reading and writing histories: locklab's own JSON format, Jepsen EDN histories and
//! Jepsen text logs. See `lincheck/README.md` for the formats.
//!
//! The operation name (`f`) decides which family an operation belongs to, and the
//! families use disjoint names: `acquire`/`release`/`extend` (locks),
//! `read`/`write`/`cas` (register), `get`/`put`/`append` (key-value map). All operations
//! of one history must be of one family, which must match the model being checked.

pub mod edn;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::budget::{Guard, Limit};
use crate::error::{LoadError, TextError};
use crate::specs::{KvOp, KvRet, LockOp, LockRet, RegisterOp, RegisterRet};
use crate::Operation;
use edn::{Edn, EdnValue};

/// The models `lin` knows, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// `mutex`: [`crate::specs::MutexSpec`].
    Mutex,
    /// `lease`: [`crate::specs::LeaseSpec`].
    Lease {
        /// Lease duration.
        ttl_ns: u64,
    },
    /// `fencing`: [`crate::specs::FencingSpec`] (lease semantics when a TTL is given).
    Fencing {
        /// Lease duration, if any.
        ttl_ns: Option<u64>,
    },
    /// `lease-lazy`: [`crate::specs::LazyLeaseSpec`] (the TTL is a lower bound); `lease-session`
    /// when the lease is a session an acquire does not renew.
    LazyLease {
        /// Least lease duration.
        ttl_ns: u64,
        /// `lease-session`.
        session: bool,
    },
    /// `fencing-lazy` / `fencing-session`: [`crate::specs::LazyFencingSpec`].
    LazyFencing {
        /// Least lease duration.
        ttl_ns: u64,
        /// `fencing-session`.
        session: bool,
    },
    /// `cas-register`: [`crate::specs::CasRegisterSpec`].
    CasRegister,
    /// `kv`: [`crate::specs::KvSpec`].
    Kv,
}

/// Model names accepted by [`Model::from_name`].
pub const MODEL_NAMES: &[&str] = &[
    "mutex",
    "lease",
    "fencing",
    "lease-lazy",
    "fencing-lazy",
    "lease-session",
    "fencing-session",
    "cas-register",
    "kv",
];

impl Model {
    /// The model called `name`; `lease` needs `ttl_ns`, `fencing` may take one.
    pub fn from_name(name: &str, ttl_ns: Option<u64>) -> Result<Model, String> {
        match name {
            "mutex" => Ok(Model::Mutex),
            "lease" => match ttl_ns {
                Some(ttl_ns) if ttl_ns > 0 => Ok(Model::Lease { ttl_ns }),
                _ => Err("model lease needs a positive TTL (--ttl-ms, or ttl_ns in the JSON history)".into()),
            },
            "fencing" => Ok(Model::Fencing { ttl_ns }),
            "lease-lazy" | "fencing-lazy" | "lease-session" | "fencing-session" => match ttl_ns {
                Some(ttl_ns) if ttl_ns > 0 => {
                    let session = name.ends_with("-session");
                    Ok(if name.starts_with("lease") {
                        Model::LazyLease { ttl_ns, session }
                    } else {
                        Model::LazyFencing { ttl_ns, session }
                    })
                }
                _ => Err(format!("model {name} needs a positive TTL (--ttl-ms, or ttl_ns in the JSON history)")),
            },
            "cas-register" => Ok(Model::CasRegister),
            "kv" => Ok(Model::Kv),
            _ => Err(format!("unknown model '{name}' (expected one of: {})", MODEL_NAMES.join(", "))),
        }
    }

    /// The model's name.
    pub fn name(&self) -> &'static str {
        match self {
            Model::Mutex => "mutex",
            Model::Lease { .. } => "lease",
            Model::Fencing { .. } => "fencing",
            Model::LazyLease { session: false, .. } => "lease-lazy",
            Model::LazyFencing { session: false, .. } => "fencing-lazy",
            Model::LazyLease { session: true, .. } => "lease-session",
            Model::LazyFencing { session: true, .. } => "fencing-session",
            Model::CasRegister => "cas-register",
            Model::Kv => "kv",
        }
    }

    /// The operation family the model checks.
    pub fn family(&self) -> Family {
        match self {
            Model::Mutex
            | Model::Lease { .. }
            | Model::Fencing { .. }
            | Model::LazyLease { .. }
            | Model::LazyFencing { .. } => Family::Lock,
            Model::CasRegister => Family::Register,
            Model::Kv => Family::Kv,
        }
    }

    /// The TTL, for models that have one.
    pub fn ttl_ns(&self) -> Option<u64> {
        match self {
            Model::Lease { ttl_ns } => Some(*ttl_ns),
            Model::Fencing { ttl_ns } => *ttl_ns,
            Model::LazyLease { ttl_ns, .. } | Model::LazyFencing { ttl_ns, .. } => Some(*ttl_ns),
            _ => None,
        }
    }
}

/// Operation families (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// acquire / release / extend
    Lock,
    /// read / write / cas
    Register,
    /// get / put / append
    Kv,
}

impl Family {
    fn of(f: &str) -> Option<Family> {
        match f {
            "acquire" | "release" | "extend" => Some(Family::Lock),
            "read" | "write" | "cas" => Some(Family::Register),
            "get" | "put" | "append" => Some(Family::Kv),
            _ => None,
        }
    }

    /// Human name.
    pub fn name(&self) -> &'static str {
        match self {
            Family::Lock => "lock",
            Family::Register => "register",
            Family::Kv => "key-value",
        }
    }
}

/// A typed history of one family.
#[derive(Clone, Debug, PartialEq)]
pub enum History {
    /// Lock operations.
    Lock(Vec<Operation<LockOp, LockRet>>),
    /// Register operations.
    Register(Vec<Operation<RegisterOp, RegisterRet>>),
    /// Key-value operations.
    Kv(Vec<Operation<KvOp, KvRet>>),
}

impl History {
    /// Number of operations.
    pub fn len(&self) -> usize {
        match self {
            History::Lock(h) => h.len(),
            History::Register(h) => h.len(),
            History::Kv(h) => h.len(),
        }
    }

    /// True when there are no operations.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The family.
    pub fn family(&self) -> Family {
        match self {
            History::Lock(_) => Family::Lock,
            History::Register(_) => Family::Register,
            History::Kv(_) => Family::Kv,
        }
    }

    fn empty(family: Family) -> History {
        match family {
            Family::Lock => History::Lock(Vec::new()),
            Family::Register => History::Register(Vec::new()),
            Family::Kv => History::Kv(Vec::new()),
        }
    }
}

/// The input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// locklab's own JSON history.
    Json,
    /// Jepsen EDN history (one map per line, or a vector of maps).
    Edn,
    /// Jepsen text log (`INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2]`).
    JepsenLog,
}

/// Names accepted by [`Format::from_name`] (`--format`).
pub const FORMAT_NAMES: &[&str] = &["json", "edn", "log"];

impl Format {
    /// The format called `name` (`json`, `edn` or `log`).
    pub fn from_name(name: &str) -> Result<Format, String> {
        match name {
            "json" => Ok(Format::Json),
            "edn" => Ok(Format::Edn),
            "log" | "text" | "txt" => Ok(Format::JepsenLog),
            _ => Err(format!("unknown format '{name}' (expected one of: {})", FORMAT_NAMES.join(", "))),
        }
    }

    /// The format's name.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Edn => "edn",
            Format::JepsenLog => "log",
        }
    }
}

/// A loaded history and the model the file names, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The format detected.
    pub format: Format,
    /// `model` from a JSON history.
    pub model: Option<String>,
    /// `ttl_ns` from a JSON history.
    pub ttl_ns: Option<u64>,
    /// Display names of processes (`"processes": {"3": "c1"}` in a JSON history; `locklab run
    /// --history` writes the scenario's client names there). Empty for Jepsen histories,
    /// whose processes are numbers: they are shown as Jepsen shows them, "process 3".
    pub names: BTreeMap<u64, String>,
    /// The operations; `None` when the file has no operations (then the family is
    /// unknown until a model is chosen).
    pub history: Option<History>,
}

/// Why a history could not be loaded: bad input, or a budget ran out while reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadFailure {
    /// The file is unreadable or malformed.
    Invalid(LoadError),
    /// The time or memory budget ran out while reading.
    Budget(Limit),
}

impl From<LoadError> for LoadFailure {
    fn from(e: LoadError) -> Self {
        LoadFailure::Invalid(e)
    }
}

/// Inside the parsers: a located error, or a budget ran out.
enum Stop {
    Text(TextError),
    Budget(Limit),
}

impl From<TextError> for Stop {
    fn from(e: TextError) -> Self {
        Stop::Text(e)
    }
}

impl Stop {
    fn in_file(self, path: &Path) -> LoadFailure {
        match self {
            Stop::Text(e) => LoadFailure::Invalid(e.in_file(path)),
            Stop::Budget(limit) => LoadFailure::Budget(limit),
        }
    }
}

/// How often (in events or lines) the parsers poll the budget.
const POLL_EVERY: usize = 1024;

/// Reads and parses a history file, detecting its format from its content (see
/// [`sniff`]). No budget.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    match load_with(path, None, &Guard::default()) {
        Ok(loaded) => Ok(loaded),
        Err(LoadFailure::Invalid(e)) => Err(e),
        Err(LoadFailure::Budget(_)) => unreachable!("no budget"),
    }
}

/// Reads and parses a history file incrementally (the file is never held whole in
/// memory), in `format` or the format [`sniff`] detects, within `guard`'s budget.
pub fn load_with(path: &Path, format: Option<Format>, guard: &Guard) -> Result<Loaded, LoadFailure> {
    let file = std::fs::File::open(path).map_err(|e| LoadError::whole(path, format!("cannot read: {e}")))?;
    read(path, std::io::BufReader::with_capacity(256 * 1024, file), format, guard)
}

/// Parses `text` (named `path` in errors), detecting the format as [`load`] does.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, LoadError> {
    match read(path, text.as_bytes(), None, &Guard::default()) {
        Ok(loaded) => Ok(loaded),
        Err(LoadFailure::Invalid(e)) => Err(e),
        Err(LoadFailure::Budget(_)) => unreachable!("no budget"),
    }
}

/// Parses a history from `src` (named `path` in errors) in `format`, or the format
/// [`sniff`] detects from the first bytes, polling `guard` as it goes.
pub fn read<R: BufRead>(path: &Path, mut src: R, format: Option<Format>, guard: &Guard) -> Result<Loaded, LoadFailure> {
    let head = src.fill_buf().map_err(|e| LoadError::whole(path, format!("cannot read: {e}")))?;
    let head = head.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(head);
    let visible = head.iter().position(|c| !c.is_ascii_whitespace());
    if visible.is_none() && head.len() < 64 * 1024 {
        // The whole (short) file is blank. (A longer blank prefix is read by the parser.)
        return Err(LoadError::at(path, 1, 1, "file is empty: expected a history").into());
    }
    let format = format.unwrap_or_else(|| sniff(path, head));
    match format {
        Format::Json => read_json(src, guard).map_err(|e| e.in_file(path)),
        Format::Edn => read_edn(src, guard).map_err(|e| e.in_file(path)),
        Format::JepsenLog => read_log(src, guard).map_err(|e| e.in_file(path)),
    }
}

/// The format of a history from its first bytes: a JSON object (`{` then `"`) is
/// locklab's JSON; `{`, `[`, `(`, `;` or `#` start EDN; anything else is a Jepsen text
/// log. The extension (`.json`, `.edn`, `.log`/`.txt`) only decides what the content
/// cannot (`{}`, or a start beyond the first bytes): a Jepsen EDN history saved as
/// `.txt` is still read as EDN.
pub fn sniff(path: &Path, head: &[u8]) -> Format {
    let by_extension = || match path.extension().and_then(|e| e.to_str()) {
        Some("edn") => Format::Edn,
        Some("log") | Some("txt") => Format::JepsenLog,
        _ => Format::Json,
    };
    let mut visible = head.iter().copied().filter(|c| !c.is_ascii_whitespace() && *c != b',');
    match visible.next() {
        None => by_extension(),
        Some(b'{') => match visible.next() {
            Some(b'"') => Format::Json,
            Some(b'}') | None => by_extension(),
            Some(_) => Format::Edn,
        },
        Some(b'[' | b'(' | b';' | b'#') => Format::Edn,
        Some(_) => Format::JepsenLog,
    }
}

// ------------------------------------------------------------------------ values

/// A value as far as the converters care.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Nil,
    Int(i64),
    Str(String),
    Vec(Vec<Val>),
    Other(&'static str),
}

impl Val {
    fn kind(&self) -> &'static str {
        match self {
            Val::Nil => "null",
            Val::Int(_) => "an integer",
            Val::Str(_) => "a string",
            Val::Vec(_) => "a list",
            Val::Other(k) => k,
        }
    }

    fn from_json(v: &serde_json::Value) -> Val {
        match v {
            serde_json::Value::Null => Val::Nil,
            serde_json::Value::Number(n) => n.as_i64().map(Val::Int).unwrap_or(Val::Other("a non-integer number")),
            serde_json::Value::String(s) => Val::Str(s.clone()),
            serde_json::Value::Array(a) => Val::Vec(a.iter().map(Val::from_json).collect()),
            serde_json::Value::Bool(_) => Val::Other("a boolean"),
            serde_json::Value::Object(_) => Val::Other("an object"),
        }
    }

    fn from_edn(v: &EdnValue) -> Val {
        match v {
            EdnValue::Nil => Val::Nil,
            EdnValue::Int(i) => Val::Int(*i),
            EdnValue::Str(s) => Val::Str(s.clone()),
            EdnValue::Vector(a) | EdnValue::List(a) => Val::Vec(a.iter().map(|e| Val::from_edn(&e.value)).collect()),
            other => Val::Other(other.kind()),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Val::Nil | Val::Other(_) => serde_json::Value::Null,
            Val::Int(i) => (*i).into(),
            Val::Str(s) => s.clone().into(),
            Val::Vec(v) => serde_json::Value::Array(v.iter().map(Val::to_json).collect()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ok,
    Fail,
    Info,
}

/// One complete operation before typing.
struct RawOp {
    process: u64,
    key: String,
    call_ns: u64,
    return_ns: Option<u64>,
    f: String,
    value_in: Val,
    value_out: Val,
    kind: Kind,
    token: Option<u64>,
}

enum AnyOp {
    Lock(Operation<LockOp, LockRet>),
    Register(Operation<RegisterOp, RegisterRet>),
    Kv(Operation<KvOp, KvRet>),
}

impl AnyOp {
    fn family(&self) -> Family {
        match self {
            AnyOp::Lock(_) => Family::Lock,
            AnyOp::Register(_) => Family::Register,
            AnyOp::Kv(_) => Family::Kv,
        }
    }
}

fn int_of(v: &Val, what: &str) -> Result<i64, String> {
    match v {
        Val::Int(i) => Ok(*i),
        other => Err(format!("{what} must be an integer, found {}", other.kind())),
    }
}

fn type_op(raw: RawOp) -> Result<AnyOp, String> {
    let family = Family::of(&raw.f).ok_or_else(|| {
        format!(
            "unknown operation f '{}' (expected acquire, release, extend, read, write, cas, get, put or append)",
            raw.f
        )
    })?;
    if raw.kind != Kind::Info && raw.return_ns.is_none() {
        return Err("an ok or fail operation needs return_ns".into());
    }
    if let Some(r) = raw.return_ns {
        if r < raw.call_ns {
            return Err(format!("return_ns {r} is before call_ns {}", raw.call_ns));
        }
    }
    let base = |_: ()| (raw.process, raw.key.clone(), raw.call_ns, raw.return_ns);
    let (process, key, call_ns, return_ns) = base(());
    if raw.token.is_some() && !(raw.f == "acquire" && raw.kind == Kind::Ok) {
        return Err("token is only allowed on an acquire of type ok".into());
    }
    Ok(match family {
        Family::Lock => {
            let input = match raw.f.as_str() {
                "acquire" => LockOp::Acquire,
                "release" => LockOp::Release,
                _ => LockOp::Extend,
            };
            let output = match raw.kind {
                Kind::Info => None,
                Kind::Fail => Some(LockRet::Fail),
                Kind::Ok => {
                    let token = match (raw.token, &raw.value_out) {
                        (Some(t), _) => Some(t),
                        (None, Val::Nil) => None,
                        (None, Val::Int(t)) if *t >= 0 && input == LockOp::Acquire => Some(*t as u64),
                        (None, other) => {
                            return Err(format!(
                                "value of a lock operation must be null (or a token on an acquire), found {}",
                                other.kind()
                            ))
                        }
                    };
                    Some(LockRet::Ok { token })
                }
            };
            AnyOp::Lock(Operation { process, key, call_ns, return_ns, input, output })
        }
        Family::Register => {
            let input = match raw.f.as_str() {
                "read" => RegisterOp::Read,
                "write" => RegisterOp::Write(int_of(&raw.value_in, "the value of a write")?),
                _ => match &raw.value_in {
                    Val::Vec(pair) if pair.len() == 2 => RegisterOp::Cas {
                        from: int_of(&pair[0], "a cas's expected value")?,
                        to: int_of(&pair[1], "a cas's new value")?,
                    },
                    other => return Err(format!("the value of a cas must be [from, to], found {}", other.kind())),
                },
            };
            let output = match (raw.kind, input) {
                (Kind::Info, _) => None,
                (Kind::Fail, _) => Some(RegisterRet::Fail),
                (Kind::Ok, RegisterOp::Read) => match &raw.value_out {
                    Val::Nil => Some(RegisterRet::Value(None)),
                    Val::Int(i) => Some(RegisterRet::Value(Some(*i))),
                    other => return Err(format!("a read's value must be null or an integer, found {}", other.kind())),
                },
                (Kind::Ok, _) => Some(RegisterRet::Ok),
            };
            AnyOp::Register(Operation { process, key, call_ns, return_ns, input, output })
        }
        Family::Kv => {
            let string_of = |v: &Val| match v {
                Val::Str(s) => Ok(s.clone()),
                Val::Int(i) => Ok(i.to_string()),
                other => Err(format!("the value of a put or append must be a string, found {}", other.kind())),
            };
            let input = match raw.f.as_str() {
                "get" => KvOp::Get,
                "put" => KvOp::Put(string_of(&raw.value_in)?),
                _ => KvOp::Append(string_of(&raw.value_in)?),
            };
            let output = match (raw.kind, &input) {
                (Kind::Info, _) => None,
                (Kind::Fail, _) => Some(KvRet::Fail),
                (Kind::Ok, KvOp::Get) => match &raw.value_out {
                    Val::Nil => Some(KvRet::Value(None)),
                    v => Some(KvRet::Value(Some(
                        string_of(v)
                            .map_err(|_| format!("a get's value must be null or a string, found {}", v.kind()))?,
                    ))),
                },
                (Kind::Ok, _) => Some(KvRet::Ok),
            };
            AnyOp::Kv(Operation { process, key, call_ns, return_ns, input, output })
        }
    })
}

/// Collects typed operations into a [`History`] of one family.
#[derive(Default)]
struct Builder {
    history: Option<History>,
}

impl Builder {
    /// Adds operation number `index`; an error if its family differs from the first's.
    fn push(&mut self, op: AnyOp, index: usize) -> Result<(), String> {
        let history = self.history.get_or_insert_with(|| History::empty(op.family()));
        let family = history.family();
        match (history, op) {
            (History::Lock(h), AnyOp::Lock(op)) => h.push(op),
            (History::Register(h), AnyOp::Register(op)) => h.push(op),
            (History::Kv(h), AnyOp::Kv(op)) => h.push(op),
            (_, op) => {
                return Err(format!(
                    "operation {index} is a {} operation but the history's first operation is a {} operation",
                    op.family().name(),
                    family.name()
                ))
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------ JSON

fn default_key() -> String {
    "default".into()
}

/// One operation of locklab's JSON history (see the README).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonOpRaw {
    process: u64,
    #[serde(default = "default_key")]
    key: String,
    call_ns: u64,
    #[serde(default)]
    return_ns: Option<u64>,
    f: String,
    #[serde(default)]
    value: serde_json::Value,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<u64>,
}

#[derive(Deserialize)]
#[serde(try_from = "JsonOpRaw")]
struct JsonOp(AnyOp);

thread_local! {
    /// Index of the next JSON operation being deserialised (for error messages: serde
    /// reports semantic errors at the end of the object, so the index says which one).
    static JSON_OP_INDEX: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The budget of the JSON parse on this thread, and the limit it hit.
    static JSON_GUARD: std::cell::RefCell<(Option<Guard>, Option<Limit>)> = const { std::cell::RefCell::new((None, None)) };
}

impl TryFrom<JsonOpRaw> for JsonOp {
    type Error = String;
    fn try_from(raw: JsonOpRaw) -> Result<Self, String> {
        let index = JSON_OP_INDEX.with(|i| {
            let index = i.get();
            i.set(index + 1);
            index
        });
        if index.is_multiple_of(POLL_EVERY) {
            let hit = JSON_GUARD.with(|g| {
                let mut g = g.borrow_mut();
                let hit = g.0.as_ref().and_then(|guard| guard.check().err());
                g.1 = g.1.or(hit);
                hit
            });
            if let Some(limit) = hit {
                return Err(format!("the {limit} budget ran out"));
            }
        }
        Self::typed(raw).map_err(|m| format!("operation {index} (ending here): {m}"))
    }
}

impl JsonOp {
    fn typed(raw: JsonOpRaw) -> Result<Self, String> {
        let kind = match raw.kind.as_str() {
            "ok" => Kind::Ok,
            "fail" => Kind::Fail,
            "info" => Kind::Info,
            other => return Err(format!("unknown type '{other}' (expected ok, fail or info)")),
        };
        let value = Val::from_json(&raw.value);
        type_op(RawOp {
            process: raw.process,
            key: raw.key,
            call_ns: raw.call_ns,
            return_ns: raw.return_ns,
            f: raw.f,
            value_in: value.clone(),
            value_out: value,
            kind,
            token: raw.token,
        })
        .map(JsonOp)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonHistoryIn {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    ttl_ns: Option<u64>,
    #[serde(default)]
    processes: BTreeMap<u64, String>,
    ops: JsonOps,
}

/// The `ops` array, typed and collected into a [`History`] as it is read (no
/// intermediate list of all operations).
struct JsonOps(Option<History>);

impl<'de> Deserialize<'de> for JsonOps {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonOps;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of operations")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonOps, A::Error> {
                let mut builder = Builder::default();
                let mut index = 0;
                while let Some(JsonOp(op)) = seq.next_element()? {
                    builder.push(op, index).map_err(serde::de::Error::custom)?;
                    index += 1;
                }
                Ok(JsonOps(builder.history))
            }
        }
        deserializer.deserialize_seq(Visitor)
    }
}

#[derive(Serialize)]
struct JsonHistoryOut<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_ns: Option<u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    processes: &'a BTreeMap<u64, String>,
    ops: Vec<JsonOpRaw>,
}

fn read_json<R: BufRead>(src: R, guard: &Guard) -> Result<Loaded, Stop> {
    JSON_OP_INDEX.with(|i| i.set(0));
    JSON_GUARD.with(|g| *g.borrow_mut() = (Some(guard.clone()), None));
    let parsed: Result<JsonHistoryIn, _> = serde_json::from_reader(src);
    let hit = JSON_GUARD.with(|g| std::mem::take(&mut *g.borrow_mut()).1);
    if let Some(limit) = hit {
        return Err(Stop::Budget(limit));
    }
    let parsed = parsed.map_err(|e| TextError::new(e.line().max(1), e.column().max(1), json_message(&e)))?;
    if let Some(model) = &parsed.model {
        if !MODEL_NAMES.contains(&model.as_str()) {
            return Err(TextError::new(
                1,
                1,
                format!("unknown model '{model}' (expected one of: {})", MODEL_NAMES.join(", ")),
            )
            .into());
        }
    }
    Ok(Loaded {
        format: Format::Json,
        model: parsed.model,
        ttl_ns: parsed.ttl_ns,
        names: parsed.processes,
        history: parsed.ops.0,
    })
}

/// serde_json appends " at line L column C"; the caller reports the position itself.
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Renders `history` in locklab's JSON format for `model`.
pub fn to_json(model: &Model, history: &History) -> String {
    to_json_named(model, history, &BTreeMap::new())
}

/// [`to_json`] with display names of the processes (the `"processes"` object).
pub fn to_json_named(model: &Model, history: &History, names: &BTreeMap<u64, String>) -> String {
    fn raw<I, O>(op: &Operation<I, O>, f: &str, value: Val, kind: &str, token: Option<u64>) -> JsonOpRaw {
        JsonOpRaw {
            process: op.process,
            key: op.key.clone(),
            call_ns: op.call_ns,
            return_ns: op.return_ns,
            f: f.into(),
            value: value.to_json(),
            kind: kind.into(),
            token,
        }
    }
    let ops: Vec<JsonOpRaw> = match history {
        History::Lock(h) => h
            .iter()
            .map(|op| {
                let f = match op.input {
                    LockOp::Acquire => "acquire",
                    LockOp::Release => "release",
                    LockOp::Extend => "extend",
                };
                let (kind, token) = match op.output {
                    None => ("info", None),
                    Some(LockRet::Fail) => ("fail", None),
                    Some(LockRet::Ok { token }) => ("ok", token),
                };
                raw(op, f, Val::Nil, kind, token)
            })
            .collect(),
        History::Register(h) => h
            .iter()
            .map(|op| {
                let kind = match op.output {
                    None => "info",
                    Some(RegisterRet::Fail) => "fail",
                    Some(_) => "ok",
                };
                let (f, value) = match (op.input, op.output) {
                    (RegisterOp::Read, Some(RegisterRet::Value(v))) => ("read", v.map_or(Val::Nil, Val::Int)),
                    (RegisterOp::Read, _) => ("read", Val::Nil),
                    (RegisterOp::Write(v), _) => ("write", Val::Int(v)),
                    (RegisterOp::Cas { from, to }, _) => ("cas", Val::Vec(vec![Val::Int(from), Val::Int(to)])),
                };
                raw(op, f, value, kind, None)
            })
            .collect(),
        History::Kv(h) => h
            .iter()
            .map(|op| {
                let kind = match op.output {
                    None => "info",
                    Some(KvRet::Fail) => "fail",
                    Some(_) => "ok",
                };
                let (f, value) = match (&op.input, &op.output) {
                    (KvOp::Get, Some(KvRet::Value(v))) => ("get", v.clone().map_or(Val::Nil, Val::Str)),
                    (KvOp::Get, _) => ("get", Val::Nil),
                    (KvOp::Put(s), _) => ("put", Val::Str(s.clone())),
                    (KvOp::Append(s), _) => ("append", Val::Str(s.clone())),
                };
                raw(op, f, value, kind, None)
            })
            .collect(),
    };
    let out = JsonHistoryOut { model: model.name(), ttl_ns: model.ttl_ns(), processes: names, ops };
    serde_json::to_string_pretty(&out).expect("serialising plain data cannot fail")
}

// ------------------------------------------------------------------------ Jepsen

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventType {
    Invoke,
    Done(Kind),
}

struct Event {
    /// `None` for non-client processes such as `:nemesis` (skipped).
    process: Option<u64>,
    kind: EventType,
    f: String,
    value: Val,
    time: Option<i64>,
    key: Option<String>,
    line: usize,
    column: usize,
}

/// Keys accepted in a Jepsen op map. `:key` is a locklab extension (the object);
/// `:index`, `:error`, `:node` are Jepsen's and ignored.
const EDN_KEYS: &[&str] = &["process", "type", "f", "value", "time", "index", "error", "node", "key"];

/// One Jepsen operation map as an event.
fn edn_event(form: &Edn) -> Result<Event, TextError> {
    let EdnValue::Map(pairs) = &form.value else {
        return Err(TextError::new(
            form.line,
            form.column,
            format!("expected an operation map, found {}", form.value.kind()),
        ));
    };
    let mut process = None;
    let mut kind = None;
    let mut f = None;
    let mut value = Val::Nil;
    let mut time = None;
    let mut key = None;
    for (k, v) in pairs {
        let name = match &k.value {
            EdnValue::Keyword(name) => name.as_str(),
            other => {
                return Err(TextError::new(k.line, k.column, format!("expected a keyword key, found {}", other.kind())))
            }
        };
        let bad =
            |what: &str| TextError::new(v.line, v.column, format!(":{name} must be {what}, found {}", v.value.kind()));
        match name {
            "process" => {
                process = Some(match &v.value {
                    EdnValue::Int(p) if *p >= 0 => Some(*p as u64),
                    EdnValue::Keyword(_) => None,
                    _ => return Err(bad("a non-negative integer or a keyword such as :nemesis")),
                })
            }
            "type" => {
                kind = Some(match &v.value {
                    EdnValue::Keyword(t) => match t.as_str() {
                        "invoke" => EventType::Invoke,
                        "ok" => EventType::Done(Kind::Ok),
                        "fail" => EventType::Done(Kind::Fail),
                        "info" => EventType::Done(Kind::Info),
                        other => {
                            return Err(TextError::new(
                                v.line,
                                v.column,
                                format!("unknown :type :{other} (expected :invoke, :ok, :fail or :info)"),
                            ))
                        }
                    },
                    _ => return Err(bad("a keyword")),
                })
            }
            "f" => {
                f = Some(match &v.value {
                    EdnValue::Keyword(s) | EdnValue::Str(s) | EdnValue::Symbol(s) => s.clone(),
                    _ => return Err(bad("a keyword")),
                })
            }
            "value" => value = Val::from_edn(&v.value),
            "time" => {
                time = Some(match &v.value {
                    EdnValue::Int(t) => *t,
                    _ => return Err(bad("an integer (nanoseconds)")),
                })
            }
            "key" => {
                key = Some(match &v.value {
                    EdnValue::Keyword(s) | EdnValue::Str(s) | EdnValue::Symbol(s) => s.clone(),
                    EdnValue::Int(i) => i.to_string(),
                    _ => return Err(bad("a keyword, string or integer")),
                })
            }
            _ if EDN_KEYS.contains(&name) => {}
            _ => {
                return Err(TextError::new(
                    k.line,
                    k.column,
                    format!("unknown key :{name} (expected one of :{})", EDN_KEYS.join(", :")),
                ))
            }
        }
    }
    let missing = |what: &str| TextError::new(form.line, form.column, format!("operation map has no :{what}"));
    Ok(Event {
        process: process.ok_or_else(|| missing("process"))?,
        kind: kind.ok_or_else(|| missing("type"))?,
        f: f.ok_or_else(|| missing("f"))?,
        value,
        time,
        key,
        line: form.line,
        column: form.column,
    })
}

/// Reads a Jepsen EDN history one form at a time: one map per line, or one vector (or
/// list) of maps read element by element.
fn read_edn<R: BufRead>(src: R, guard: &Guard) -> Result<Loaded, Stop> {
    let mut reader = edn::Reader::new(src);
    let mut pairer = Pairer::default();
    if let Some(close) = reader.open_sequence() {
        while let Some(form) = reader.next_item(close)? {
            pairer.feed(edn_event(&form)?, guard)?;
        }
        if let Some(extra) = reader.next_form()? {
            return Err(TextError::new(
                extra.line,
                extra.column,
                format!("expected the end of the file after the history vector, found {}", extra.value.kind()),
            )
            .into());
        }
    } else {
        while let Some(form) = reader.next_form()? {
            pairer.feed(edn_event(&form)?, guard)?;
        }
    }
    pairer.finish(Format::Edn)
}

/// The four Jepsen event types, as written in a log.
fn event_type(token: &str) -> Option<EventType> {
    Some(match token {
        ":invoke" => EventType::Invoke,
        ":ok" => EventType::Done(Kind::Ok),
        ":fail" => EventType::Done(Kind::Fail),
        ":info" => EventType::Done(Kind::Info),
        _ => return None,
    })
}

/// One line of a Jepsen text log: `<anything> <process> :<type> :<f> <value> [<error>]`,
/// fields separated by any whitespace (tabs, as `jepsen.util/op->str` writes them, or
/// spaces, as Porcupine's and Knossos' readers accept: `INFO\s+jepsen\.util\s+-\s+(\d+)\s+:invoke…`).
///
/// The operation starts at the first token that is a process (a non-negative integer,
/// or a keyword such as `:nemesis`) followed by a keyword and another keyword (`:f`).
/// With an integer process the middle keyword must be a type (an error otherwise); a
/// keyword process must be followed by a type, or the line is chatter. The value is the
/// first EDN form after `:f`; anything after it (Jepsen's `:error`) is ignored. Lines
/// without that shape are log chatter: `None`.
fn log_event(line: &str, line_no: usize) -> Result<Option<Event>, TextError> {
    // Whitespace-separated tokens with their byte offsets.
    let mut tokens: Vec<(usize, &str)> = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                tokens.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        tokens.push((s, &line[s..]));
    }
    let column = |offset: usize| line[..offset].chars().count() + 1;
    let is_keyword = |t: &str| t.len() > 1 && t.starts_with(':');
    for k in 0..tokens.len().saturating_sub(2) {
        let (_, p) = tokens[k];
        let (type_at, type_token) = tokens[k + 1];
        let (f_at, f_token) = tokens[k + 2];
        let integer = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !(integer || is_keyword(p)) || !is_keyword(type_token) || !is_keyword(f_token) {
            continue;
        }
        let kind = match event_type(type_token) {
            Some(kind) => kind,
            None if integer => {
                return Err(TextError::new(
                    line_no,
                    column(type_at),
                    format!("unknown type '{type_token}' (expected :invoke, :ok, :fail or :info)"),
                ))
            }
            None => continue,
        };
        let process = if integer {
            Some(p.parse::<u64>().map_err(|_| {
                TextError::new(line_no, column(tokens[k].0), format!("process number '{p}' is too large"))
            })?)
        } else {
            None
        };
        let f = f_token[1..].to_string();
        let rest_at = f_at + f_token.len();
        let value = match edn::Reader::new(&line.as_bytes()[rest_at..]).next_form() {
            Ok(None) => Val::Nil,
            Ok(Some(form)) => Val::from_edn(&form.value),
            Err(e) => return Err(TextError::new(line_no, column(rest_at) + e.column - 1, e.message)),
        };
        return Ok(Some(Event {
            process,
            kind,
            f,
            value,
            time: None,
            key: None,
            line: line_no,
            column: column(tokens[k].0),
        }));
    }
    Ok(None)
}

/// Reads a Jepsen text log line by line; time is line order.
fn read_log<R: BufRead>(mut src: R, guard: &Guard) -> Result<Loaded, Stop> {
    let mut pairer = Pairer::default();
    let mut bytes = Vec::new();
    let mut line_no = 0;
    loop {
        bytes.clear();
        line_no += 1;
        match src.read_until(b'\n', &mut bytes) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(TextError::new(line_no, 1, format!("cannot read: {e}")).into()),
        }
        let line = std::str::from_utf8(&bytes).map_err(|e| {
            let column = String::from_utf8_lossy(&bytes[..e.valid_up_to()]).chars().count() + 1;
            TextError::new(line_no, column, "not valid UTF-8")
        })?;
        if line_no.is_multiple_of(POLL_EVERY) {
            guard.check().map_err(Stop::Budget)?;
        }
        if let Some(event) = log_event(line, line_no)? {
            pairer.feed(event, guard)?;
        }
    }
    if pairer.events == 0 {
        return Err(TextError::new(
            1,
            1,
            "no Jepsen operations found (expected lines such as `INFO  jepsen.util - 3 :invoke :read nil`)",
        )
        .into());
    }
    pairer.finish(Format::JepsenLog)
}

/// One operation being paired: times are recorded both as event indices and as
/// `:time`s, since whether every event has a `:time` is known only at the end.
struct Pending {
    raw: RawOp,
    call_time: Option<i64>,
    return_time: Option<i64>,
    /// Position of the invocation, and of the completion when it has a `:time`.
    at: (usize, usize),
    done_at: (usize, usize),
}

/// Pairs invocations with completions per process, as events stream in.
#[derive(Default)]
struct Pairer {
    /// Process -> its open invocation (index into `ops`).
    open: std::collections::HashMap<u64, usize>,
    ops: Vec<Pending>,
    /// Events seen (client and non-client).
    events: usize,
    /// Some event had no `:time`.
    untimed: bool,
}

impl Pairer {
    fn feed(&mut self, event: Event, guard: &Guard) -> Result<(), Stop> {
        let index = self.events as u64;
        self.events += 1;
        if self.events.is_multiple_of(POLL_EVERY) {
            guard.check().map_err(Stop::Budget)?;
        }
        self.untimed |= event.time.is_none();
        let Some(process) = event.process else { return Ok(()) };
        match event.kind {
            EventType::Invoke => {
                if let Some(&open) = self.open.get(&process) {
                    let line = self.ops[open].at.0;
                    return Err(TextError::new(
                        event.line,
                        event.column,
                        format!("process {process} invokes again before its invocation on line {line} completed"),
                    )
                    .into());
                }
                self.open.insert(process, self.ops.len());
                self.ops.push(Pending {
                    raw: RawOp {
                        process,
                        key: event.key.unwrap_or_else(default_key),
                        call_ns: index,
                        return_ns: None,
                        f: event.f,
                        value_in: event.value,
                        value_out: Val::Nil,
                        kind: Kind::Info,
                        token: None,
                    },
                    call_time: event.time,
                    return_time: None,
                    at: (event.line, event.column),
                    done_at: (event.line, event.column),
                });
            }
            EventType::Done(kind) => {
                let Some(open) = self.open.remove(&process) else {
                    return Err(TextError::new(
                        event.line,
                        event.column,
                        format!("process {process} completes an operation it never invoked"),
                    )
                    .into());
                };
                let op = &mut self.ops[open];
                if op.raw.f != event.f {
                    return Err(TextError::new(
                        event.line,
                        event.column,
                        format!(
                            "completion :{} does not match the invocation :{} of process {process}",
                            event.f, op.raw.f
                        ),
                    )
                    .into());
                }
                op.raw.kind = kind;
                if kind != Kind::Info {
                    op.raw.return_ns = Some(index);
                    op.return_time = event.time;
                    op.done_at = (event.line, event.column);
                    op.raw.value_out = event.value;
                }
            }
        }
        Ok(())
    }

    /// Types the operations (times from `:time` when every event has one, else event
    /// order) and collects them.
    fn finish(self, format: Format) -> Result<Loaded, Stop> {
        let use_time = !self.untimed;
        let mut builder = Builder::default();
        for (index, mut op) in self.ops.into_iter().enumerate() {
            if use_time {
                let time = |t: Option<i64>, at: (usize, usize)| match t {
                    Some(t) if t >= 0 => Ok(t as u64),
                    _ => Err(TextError::new(at.0, at.1, ":time must not be negative")),
                };
                op.raw.call_ns = time(op.call_time, op.at)?;
                if op.raw.return_ns.is_some() {
                    op.raw.return_ns = Some(time(op.return_time, op.done_at)?);
                }
            }
            let (line, column) = op.at;
            let typed = type_op(op.raw).map_err(|m| TextError::new(line, column, m))?;
            builder.push(typed, index).map_err(|m| TextError::new(line, column, m))?;
        }
        Ok(Loaded { format, model: None, ttl_ns: None, names: BTreeMap::new(), history: builder.history })
    }
}

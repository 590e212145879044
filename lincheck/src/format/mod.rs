//! Reading and writing histories: locklab's own JSON format, Jepsen EDN histories and
//! Jepsen text logs. See `lincheck/README.md` for the formats.
//!
//! The operation name (`f`) decides which family an operation belongs to, and the
//! families use disjoint names: `acquire`/`release`/`extend` (locks),
//! `read`/`write`/`cas` (register), `get`/`put`/`append` (key-value map). All operations
//! of one history must be of one family, which must match the model being checked.

pub mod edn;

use std::path::Path;

use serde::{Deserialize, Serialize};

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
    /// `cas-register`: [`crate::specs::CasRegisterSpec`].
    CasRegister,
    /// `kv`: [`crate::specs::KvSpec`].
    Kv,
}

/// Model names accepted by [`Model::from_name`].
pub const MODEL_NAMES: &[&str] = &["mutex", "lease", "fencing", "cas-register", "kv"];

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
            Model::CasRegister => "cas-register",
            Model::Kv => "kv",
        }
    }

    /// The operation family the model checks.
    pub fn family(&self) -> Family {
        match self {
            Model::Mutex | Model::Lease { .. } | Model::Fencing { .. } => Family::Lock,
            Model::CasRegister => Family::Register,
            Model::Kv => Family::Kv,
        }
    }

    /// The TTL, for models that have one.
    pub fn ttl_ns(&self) -> Option<u64> {
        match self {
            Model::Lease { ttl_ns } => Some(*ttl_ns),
            Model::Fencing { ttl_ns } => *ttl_ns,
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

/// A loaded history and the model the file names, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The format detected.
    pub format: Format,
    /// `model` from a JSON history.
    pub model: Option<String>,
    /// `ttl_ns` from a JSON history.
    pub ttl_ns: Option<u64>,
    /// The operations; `None` when the file has no operations (then the family is
    /// unknown until a model is chosen).
    pub history: Option<History>,
}

/// Reads and parses a history file, detecting its format from the extension
/// (`.json`, `.edn`, `.log`/`.txt`) or, failing that, from its content.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::whole(path, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        LoadError::at(path, line, column, "file is not valid UTF-8")
    })?;
    parse(path, &text)
}

/// Parses `text` (named `path` in errors), detecting the format as [`load`] does.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, LoadError> {
    if text.trim().is_empty() {
        return Err(LoadError::at(path, 1, 1, "file is empty: expected a history"));
    }
    let format = detect(path, text);
    match format {
        Format::Json => parse_json(text).map_err(|e| e.in_file(path)),
        Format::Edn => {
            let forms = edn::parse_all(text).map_err(|e| e.in_file(path))?;
            let events = edn_events(&forms).map_err(|e| e.in_file(path))?;
            pair_events(events, Format::Edn).map_err(|e| e.in_file(path))
        }
        Format::JepsenLog => {
            let events = log_events(text).map_err(|e| e.in_file(path))?;
            pair_events(events, Format::JepsenLog).map_err(|e| e.in_file(path))
        }
    }
}

fn detect(path: &Path, text: &str) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => return Format::Json,
        Some("edn") => return Format::Edn,
        Some("log") | Some("txt") => return Format::JepsenLog,
        _ => {}
    }
    let start = text.trim_start();
    let after = |p: char| start.strip_prefix(p).map(|r| r.trim_start().chars().next()).unwrap_or(None);
    if start.starts_with('{') && after('{') == Some('"') {
        Format::Json
    } else if start.starts_with('{') || start.starts_with('[') || start.starts_with('(') {
        Format::Edn
    } else {
        Format::JepsenLog
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

fn collect(ops: Vec<(AnyOp, Option<(usize, usize)>)>) -> Result<Option<History>, TextError> {
    let Some(family) = ops.first().map(|(op, _)| op.family()) else {
        return Ok(None);
    };
    let mut history = History::empty(family);
    for (i, (op, pos)) in ops.into_iter().enumerate() {
        let (line, column) = pos.unwrap_or((0, 0));
        let mismatch = |got: Family| {
            TextError::new(
                line,
                column,
                format!(
                    "operation {i} is a {} operation but the history's first operation is a {} operation",
                    got.name(),
                    family.name()
                ),
            )
        };
        match (&mut history, op) {
            (History::Lock(h), AnyOp::Lock(op)) => h.push(op),
            (History::Register(h), AnyOp::Register(op)) => h.push(op),
            (History::Kv(h), AnyOp::Kv(op)) => h.push(op),
            (_, op) => return Err(mismatch(op.family())),
        }
    }
    Ok(Some(history))
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
}

impl TryFrom<JsonOpRaw> for JsonOp {
    type Error = String;
    fn try_from(raw: JsonOpRaw) -> Result<Self, String> {
        let index = JSON_OP_INDEX.with(|i| {
            let index = i.get();
            i.set(index + 1);
            index
        });
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
    ops: Vec<JsonOp>,
}

#[derive(Serialize)]
struct JsonHistoryOut<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_ns: Option<u64>,
    ops: Vec<JsonOpRaw>,
}

fn parse_json(text: &str) -> Result<Loaded, TextError> {
    JSON_OP_INDEX.with(|i| i.set(0));
    let parsed: JsonHistoryIn =
        serde_json::from_str(text).map_err(|e| TextError::new(e.line().max(1), e.column().max(1), json_message(&e)))?;
    if let Some(model) = &parsed.model {
        if !MODEL_NAMES.contains(&model.as_str()) {
            return Err(TextError::new(
                1,
                1,
                format!("unknown model '{model}' (expected one of: {})", MODEL_NAMES.join(", ")),
            ));
        }
    }
    let history = collect(parsed.ops.into_iter().map(|op| (op.0, None)).collect())?;
    Ok(Loaded { format: Format::Json, model: parsed.model, ttl_ns: parsed.ttl_ns, history })
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
    let out = JsonHistoryOut { model: model.name(), ttl_ns: model.ttl_ns(), ops };
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

fn edn_events(forms: &[Edn]) -> Result<Vec<Event>, TextError> {
    let maps: Vec<&Edn> = match forms {
        [single] if matches!(single.value, EdnValue::Vector(_) | EdnValue::List(_)) => match &single.value {
            EdnValue::Vector(items) | EdnValue::List(items) => items.iter().collect(),
            _ => unreachable!("matched above"),
        },
        _ => forms.iter().collect(),
    };
    let mut events = Vec::with_capacity(maps.len());
    for form in maps {
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
                    return Err(TextError::new(
                        k.line,
                        k.column,
                        format!("expected a keyword key, found {}", other.kind()),
                    ))
                }
            };
            let bad = |what: &str| {
                TextError::new(v.line, v.column, format!(":{name} must be {what}, found {}", v.value.kind()))
            };
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
        events.push(Event {
            process: process.ok_or_else(|| missing("process"))?,
            kind: kind.ok_or_else(|| missing("type"))?,
            f: f.ok_or_else(|| missing("f"))?,
            value,
            time,
            key,
            line: form.line,
            column: form.column,
        });
    }
    Ok(events)
}

/// Jepsen text log lines: `<anything> - <process>\t:<type>\t:<f>\t<value EDN>`. Lines
/// without a tab are log chatter and skipped.
fn log_events(text: &str) -> Result<Vec<Event>, TextError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if !line.contains('\t') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(4, '\t').collect();
        if fields.len() < 3 {
            return Err(TextError::new(line_no, 1, "expected tab-separated fields: process, :type, :f and value"));
        }
        let column_of = |field: usize| fields[..field].iter().map(|f| f.chars().count() + 1).sum::<usize>() + 1;
        let process_text = fields[0].rsplit(' ').next().unwrap_or("").trim();
        let process = if process_text.starts_with(':') {
            None
        } else {
            match process_text.parse::<u64>() {
                Ok(p) => Some(p),
                Err(_) => {
                    return Err(TextError::new(
                        line_no,
                        column_of(0) + fields[0].len() - process_text.len(),
                        format!("expected a process number or keyword, found '{process_text}'"),
                    ))
                }
            }
        };
        let kind = match fields[1].trim() {
            ":invoke" => EventType::Invoke,
            ":ok" => EventType::Done(Kind::Ok),
            ":fail" => EventType::Done(Kind::Fail),
            ":info" => EventType::Done(Kind::Info),
            other => {
                return Err(TextError::new(
                    line_no,
                    column_of(1),
                    format!("unknown type '{other}' (expected :invoke, :ok, :fail or :info)"),
                ))
            }
        };
        let f = fields[2].trim().trim_start_matches(':').to_string();
        let value = match fields.get(3).map(|v| v.trim()) {
            None | Some("") => Val::Nil,
            Some(v) => {
                let forms =
                    edn::parse_all(v).map_err(|e| TextError::new(line_no, column_of(3) + e.column - 1, e.message))?;
                match forms.as_slice() {
                    [one] => Val::from_edn(&one.value),
                    _ => {
                        return Err(TextError::new(line_no, column_of(3), "expected exactly one EDN value"));
                    }
                }
            }
        };
        events.push(Event { process, kind, f, value, time: None, key: None, line: line_no, column: 1 });
    }
    if events.is_empty() {
        return Err(TextError::new(1, 1, "no Jepsen operations found (expected tab-separated lines)"));
    }
    Ok(events)
}

/// Pairs invocations with completions per process.
fn pair_events(events: Vec<Event>, format: Format) -> Result<Loaded, TextError> {
    let use_time = events.iter().all(|e| e.time.is_some());
    let mut pending: std::collections::HashMap<u64, (usize, u64)> = std::collections::HashMap::new();
    let mut ops: Vec<(Option<RawOp>, (usize, usize))> = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let Some(process) = event.process else { continue };
        let t = if use_time {
            let t = event.time.expect("checked");
            if t < 0 {
                return Err(TextError::new(event.line, event.column, ":time must not be negative"));
            }
            t as u64
        } else {
            index as u64
        };
        match event.kind {
            EventType::Invoke => {
                if let Some((open, _)) = pending.get(&process) {
                    let (line, _) = ops[*open].1;
                    return Err(TextError::new(
                        event.line,
                        event.column,
                        format!("process {process} invokes again before its invocation on line {line} completed"),
                    ));
                }
                pending.insert(process, (ops.len(), t));
                ops.push((
                    Some(RawOp {
                        process,
                        key: event.key.clone().unwrap_or_else(default_key),
                        call_ns: t,
                        return_ns: None,
                        f: event.f.clone(),
                        value_in: event.value.clone(),
                        value_out: Val::Nil,
                        kind: Kind::Info,
                        token: None,
                    }),
                    (event.line, event.column),
                ));
            }
            EventType::Done(kind) => {
                let Some((open, _)) = pending.remove(&process) else {
                    return Err(TextError::new(
                        event.line,
                        event.column,
                        format!("process {process} completes an operation it never invoked"),
                    ));
                };
                let raw = ops[open].0.as_mut().expect("open op");
                if raw.f != event.f {
                    return Err(TextError::new(
                        event.line,
                        event.column,
                        format!(
                            "completion :{} does not match the invocation :{} of process {process}",
                            event.f, raw.f
                        ),
                    ));
                }
                raw.kind = kind;
                if kind != Kind::Info {
                    raw.return_ns = Some(t);
                    raw.value_out = event.value.clone();
                }
            }
        }
    }
    let mut typed = Vec::with_capacity(ops.len());
    for (raw, (line, column)) in ops {
        let raw = raw.expect("every op is filled");
        let op = type_op(raw).map_err(|m| TextError::new(line, column, m))?;
        typed.push((op, Some((line, column))));
    }
    let history = collect(typed)?;
    Ok(Loaded { format, model: None, ttl_ns: None, history })
}

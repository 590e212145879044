//! Fuzzing the three history parsers (issue 10's acceptance): mutated and random inputs
//! must never panic, and every rejection must be located (`FILE:LINE:COLUMN`).
//!
//! proptest, bounded: a fixed number of cases per parser (a few seconds in all), so it
//! runs in CI with `cargo test`. Raise `PROPTEST_CASES` to fuzz longer.

use std::path::Path;

use locklab_lincheck::format::{self, Format, LoadFailure};
use locklab_lincheck::Guard;
use proptest::prelude::*;

const JSON: &str = r#"{"model": "cas-register", "ops": [
  {"process": 0, "key": "r", "call_ns": 0, "return_ns": 10, "f": "write", "value": 1, "type": "ok"},
  {"process": 1, "call_ns": 5, "return_ns": null, "f": "cas", "value": [1, 2], "type": "info"},
  {"process": 2, "call_ns": 12, "return_ns": 20, "f": "read", "value": 2, "type": "ok"}
]}"#;

const EDN: &str = "[{:process 0, :type :invoke, :f :append, :key \"k\", :value \"a\", :time 0}\n\
 {:process :nemesis, :type :info, :f :start, :value nil, :time 1}\n\
 {:process 0, :type :ok, :f :append, :key \"k\", :value \"a\", :time 10}\n\
 {:process 1, :type :invoke, :f :get, :key \"k\", :value nil, :time 20, :index 3} ; note\n\
 {:process 1, :type :ok, :f :get, :key \"k\", :value \"a\", :time 30, :error #inst \"2020\"}]\n";

const LOG: &str = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
INFO  jepsen.util - 0 :ok :write 1\n\
INFO  jepsen.core - chatter\n\
INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n\
INFO  jepsen.util - 1 :info :cas [1 2] indeterminate: timed out\n\
INFO  jepsen.util - :nemesis :info :start nil\n";

/// Pieces a mutation may splice in: the syntax the parsers branch on.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "\\",
    ":",
    ",",
    ";",
    "#",
    "#_",
    "#{",
    "\t",
    " ",
    "\n",
    "\r",
    "nil",
    "-1",
    "99999999999999999999",
    ":invoke",
    ":ok",
    ":info",
    ":fail",
    ":process",
    ":f",
    "\"ops\"",
    "null",
    "1e999",
    "\u{0}",
    "\u{e9}",
    "\u{1F600}",
    "\\u0000",
];

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Replace(usize, u8),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..8usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), prop::sample::select(PIECES)).prop_map(|(at, p)| Mutation::Insert(at, p.as_bytes().to_vec())),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..4)).prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Replace(at, b)),
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
    ]
}

fn apply(seed: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.as_bytes().to_vec();
    for m in mutations {
        let n = bytes.len().max(1);
        match m {
            Mutation::Delete(at, len) => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Mutation::Insert(at, piece) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, piece.iter().copied());
            }
            Mutation::Replace(at, b) => {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = *b;
                }
            }
            Mutation::Duplicate(at, len) => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                if at < end {
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(end..end, copy);
                }
            }
        }
    }
    bytes
}

/// Parses `bytes` as `format` (and sniffed); panics only if the outcome is unlocated.
fn parse_is_located(bytes: &[u8], format: Option<Format>) {
    let path = Path::new("fuzz.input");
    match format::read(path, bytes, format, &Guard::default()) {
        Ok(_) => {}
        Err(LoadFailure::Budget(limit)) => panic!("no budget, yet {limit:?}"),
        Err(LoadFailure::Invalid(e)) => {
            let (line, column) = e.position.unwrap_or_else(|| panic!("unlocated error: {e}"));
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!(line >= 1 && column >= 1, "{e}");
            assert!(line <= lines, "line {line} beyond the input's {lines} lines: {e}");
            let text = e.to_string();
            assert!(text.starts_with(&format!("fuzz.input:{line}:{column}: ")), "{text}");
            assert!(text.len() > "fuzz.input:1:1: ".len() + 3, "a message says what is wrong: {text}");
        }
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 1500, max_shrink_iters: 2000, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_parser_never_panics_and_locates_errors(m in prop::collection::vec(mutation(), 1..6)) {
        parse_is_located(&apply(JSON, &m), Some(Format::Json));
    }

    #[test]
    fn edn_parser_never_panics_and_locates_errors(m in prop::collection::vec(mutation(), 1..6)) {
        parse_is_located(&apply(EDN, &m), Some(Format::Edn));
    }

    #[test]
    fn log_parser_never_panics_and_locates_errors(m in prop::collection::vec(mutation(), 1..6)) {
        parse_is_located(&apply(LOG, &m), Some(Format::JepsenLog));
    }

    #[test]
    fn sniffed_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        parse_is_located(&bytes, None);
    }
}

#[test]
fn seeds_parse() {
    for (seed, format) in [(JSON, Format::Json), (EDN, Format::Edn), (LOG, Format::JepsenLog)] {
        let loaded = format::read(Path::new("seed"), seed.as_bytes(), None, &Guard::default());
        assert!(matches!(&loaded, Ok(l) if l.format == format && l.history.is_some()), "{loaded:?}");
    }
}

/// Regressions found by the fuzzer and the issue's repros.
#[test]
fn repros() {
    for (bytes, format) in [
        (&b"[1 2))"[..], Format::Edn),
        (b"{:process 0 :type}", Format::Edn),
        (b"\xff\xfe", Format::Edn),
        (b"INFO jepsen.util - 99999999999999999999999 :invoke :read nil\n", Format::JepsenLog),
        (b"INFO jepsen.util - 0 :invoke :read \xff\n", Format::JepsenLog),
        (b"INFO jepsen.util - 0 :invoke :read [1\n", Format::JepsenLog),
        (b"{\"ops\": [", Format::Json),
        (b"   \n  ", Format::Json),
    ] {
        parse_is_located(bytes, Some(format));
        parse_is_located(bytes, None);
    }
}

//! The `lin` command end to end: formats, verdicts, exit codes and error messages.

use std::path::PathBuf;

use locklab_lincheck::cli::{self, LinArgs};
use locklab_lincheck::format::{self, Model};
use locklab_lincheck::gen::{self, RegisterGen};

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn temp_file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lincheck-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn lin(args: LinArgs) -> Run {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = cli::run_with(&args, &mut out, &mut err);
    Run { code, out: String::from_utf8(out).unwrap(), err: String::from_utf8(err).unwrap() }
}

fn args(path: PathBuf, model: Option<&str>) -> LinArgs {
    LinArgs { history: path, model: model.map(str::to_string), ..LinArgs::default() }
}

const GOOD_LOCK_JSON: &str = r#"{"model": "mutex", "ops": [
  {"process": 1, "key": "l", "call_ns": 0, "return_ns": 10, "f": "acquire", "type": "ok"},
  {"process": 2, "key": "l", "call_ns": 5, "return_ns": 15, "f": "acquire", "type": "fail"},
  {"process": 1, "key": "l", "call_ns": 20, "return_ns": 30, "f": "release", "type": "ok"}
]}"#;

const BAD_LOCK_JSON: &str = r#"{"model": "mutex", "ops": [
  {"process": 1, "key": "l", "call_ns": 0, "return_ns": 10, "f": "acquire", "type": "ok"},
  {"process": 2, "key": "l", "call_ns": 20, "return_ns": 30, "f": "acquire", "type": "ok"}
]}"#;

#[test]
fn json_linearizable_exits_0() {
    let run = lin(args(temp_file("good.json", GOOD_LOCK_JSON), None));
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "{}", run.err);
    assert!(run.out.starts_with("linearizable"), "{}", run.out);
}

#[test]
fn json_not_linearizable_exits_1_with_prefix_and_unplaced() {
    let run = lin(args(temp_file("bad.json", BAD_LOCK_JSON), None));
    assert_eq!(run.code, cli::EXIT_NOT_LINEARIZABLE, "{}", run.err);
    assert!(run.out.contains("not linearizable: key 'l'"), "{}", run.out);
    let prefix = run.out.split("operations that could not be placed next:").collect::<Vec<_>>();
    assert!(prefix[0].contains("#0 process 1"), "{}", run.out);
    assert!(prefix[1].contains("#1 process 2 key 'l': acquire → ok"), "{}", run.out);
}

#[test]
fn lease_model_from_flag_overrides_nothing_but_needs_ttl() {
    let path = temp_file("lease.json", &BAD_LOCK_JSON.replace("\"model\": \"mutex\", ", ""));
    let run = lin(args(path.clone(), Some("lease")));
    assert_eq!(run.code, cli::EXIT_BAD_INPUT);
    assert!(run.err.contains("needs a positive TTL"), "{}", run.err);
    let run = lin(LinArgs { ttl_ms: Some(0.000_01), ..args(path.clone(), Some("lease")) });
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "a 10 ns lease has expired by 20 ns: {}", run.err);
    let run = lin(LinArgs { ttl_ms: Some(1.0), ..args(path, Some("lease")) });
    assert_eq!(run.code, cli::EXIT_NOT_LINEARIZABLE);
}

#[test]
fn model_flag_contradicting_the_file_is_a_usage_error() {
    let run = lin(args(temp_file("contra.json", GOOD_LOCK_JSON), Some("fencing")));
    assert_eq!(run.code, cli::EXIT_BAD_INPUT);
    assert!(run.err.contains("contradicts"), "{}", run.err);
}

#[test]
fn jepsen_text_log_cas_register() {
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
               INFO  jepsen.util - 0\t:ok\t:write\t1\n\
               INFO  jepsen.core - some chatter without tabs\n\
               INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
               INFO  jepsen.util - 2\t:invoke\t:cas\t[1 2]\n\
               INFO  jepsen.util - 1\t:ok\t:read\t1\n\
               INFO  jepsen.util - 2\t:info\t:cas\t:timed-out\n\
               INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
               INFO  jepsen.util - 3\t:invoke\t:read\tnil\n\
               INFO  jepsen.util - 3\t:ok\t:read\t2\n";
    let run = lin(args(temp_file("etcd.log", log), Some("cas-register")));
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "{} {}", run.out, run.err);
    // The read of 1 after the read of 2 cannot be explained.
    let bad = format!("{log}INFO  jepsen.util - 3\t:invoke\t:read\tnil\nINFO  jepsen.util - 3\t:ok\t:read\t1\n");
    let run = lin(args(temp_file("etcd-bad.log", &bad), Some("cas-register")));
    assert_eq!(run.code, cli::EXIT_NOT_LINEARIZABLE, "{} {}", run.out, run.err);
}

#[test]
fn jepsen_edn_with_nemesis_and_vector_form() {
    let edn = r#"[{:process 0, :type :invoke, :f :acquire, :value nil, :time 0}
 {:process :nemesis, :type :info, :f :start, :value nil, :time 1}
 {:process 0, :type :ok, :f :acquire, :value 7, :time 10}
 {:process 1, :type :invoke, :f :acquire, :value nil, :time 20}
 {:process 1, :type :ok, :f :acquire, :value 3, :time 30}]"#;
    let path = temp_file("locks.edn", edn);
    // Mutex: two grants without a release.
    assert_eq!(lin(args(path.clone(), Some("mutex"))).code, cli::EXIT_NOT_LINEARIZABLE);
    // Lease of 5 ns: the first expired; but fencing tokens go 7 then 3.
    assert_eq!(lin(LinArgs { ttl_ms: Some(0.000_005), ..args(path.clone(), Some("lease")) }).code, 0);
    let run = lin(LinArgs { ttl_ms: Some(0.000_005), ..args(path, Some("fencing")) });
    assert_eq!(run.code, cli::EXIT_NOT_LINEARIZABLE, "{}", run.out);
}

#[test]
fn one_map_per_line_edn_and_json_conversion_round_trip() {
    let edn = "{:process 0, :type :invoke, :f :put, :value [\"k\" \"a\"]}\n\
               {:process 0, :type :ok, :f :put, :value [\"k\" \"a\"]}\n\
               {:process 1, :type :invoke, :f :append, :value [\"k\" \"b\"]}\n\
               {:process 1, :type :ok, :f :append, :value [\"k\" \"b\"]}\n\
               {:process 2, :type :invoke, :f :get, :value [\"k\" nil]}\n\
               {:process 2, :type :ok, :f :get, :value [\"k\" \"ab\"]}\n";
    // Jepsen's independent-key tuples are not a locklab convention: use :key instead.
    let edn = edn.replace(":value [\"k\" ", ":key \"k\", :value ").replace("]}", "}");
    let path = temp_file("kv.edn", &edn);
    let out = path.with_extension("json");
    let run = lin(LinArgs { to_json: Some(out.clone()), ..args(path, Some("kv")) });
    assert_eq!(run.code, 0, "{} {}", run.out, run.err);
    let json = std::fs::read_to_string(&out).unwrap();
    assert!(json.contains("\"model\": \"kv\""), "{json}");
    assert_eq!(lin(args(out, None)).code, 0);
}

#[test]
fn zero_budget_on_a_hard_history_is_unknown_exit_4() {
    let history = gen::register_history(&RegisterGen {
        seed: 7,
        ops: 2000,
        clients: 8,
        info_prob: 0.3,
        values: 3,
        ..Default::default()
    });
    let json = format::to_json(&Model::CasRegister, &format::History::Register(history));
    let path = temp_file("hard.json", &json);
    let run = lin(LinArgs { budget_s: Some(0.0), ..args(path.clone(), None) });
    assert_eq!(run.code, cli::EXIT_UNKNOWN, "{}", run.out);
    assert!(run.out.contains("unknown"));
    let run = lin(LinArgs { stats: true, ..args(path, None) });
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE);
    assert!(run.out.contains("stats: ops=2000 partitions=1 states="), "{}", run.out);
}

#[test]
fn html_report_is_self_contained() {
    let out = temp_file("report.html", "");
    let run = lin(LinArgs { html: Some(out.clone()), ..args(temp_file("bad2.json", BAD_LOCK_JSON), None) });
    assert_eq!(run.code, cli::EXIT_NOT_LINEARIZABLE);
    let page = std::fs::read_to_string(out).unwrap();
    assert!(page.contains("createElementNS"), "the page draws SVG");
    assert!(page.contains(r#""lin":[0]"#), "the prefix is in the page's data: {page}");
    assert!(page.contains(r#""unplaced":[1]"#), "the unplaced grant is marked");
    assert!(!page.replace("'http://www.w3.org/2000/svg'", "").contains("http"), "the only URL is the SVG namespace");
    assert!(!page.contains("<script src"), "no external scripts");
}

// ------------------------------------------------------------ malformed input: exit 2

fn error_of(name: &str, content: &str, model: Option<&str>) -> String {
    let path = temp_file(name, content);
    let run = lin(args(path, model));
    assert_eq!(run.code, cli::EXIT_BAD_INPUT, "stdout: {} stderr: {}", run.out, run.err);
    assert!(run.err.contains(name), "the error names the file: {}", run.err);
    assert_eq!(run.err.lines().count(), 1, "one clear error: {}", run.err);
    run.err
}

#[test]
fn bad_edn_names_line_and_column() {
    let err = error_of(
        "bad.edn",
        "{:process 0, :type :invoke, :f :cas, :value [1 2]}\n{:process 1 :type}",
        Some("cas-register"),
    );
    assert!(err.contains("bad.edn:2:1:"), "{err}");
    assert!(err.contains("odd number"), "{err}");
    let err = error_of("unclosed.edn", "{:process 0, :type :invoke, :f :cas, :value [1 2}", Some("cas-register"));
    assert!(err.contains("unclosed.edn:1:"), "{err}");
}

#[test]
fn bad_edn_semantics_name_line_and_column() {
    let err = error_of(
        "badtype.edn",
        "{:process 0, :type :invoke, :f :read}\n{:process 0, :type :done, :f :read}",
        Some("cas-register"),
    );
    assert!(err.contains("badtype.edn:2:20:"), "{err}");
    assert!(err.contains("unknown :type :done"), "{err}");
    let err = error_of("unknownkey.edn", "{:process 0, :type :invoke, :f :read, :colour :red}", Some("cas-register"));
    assert!(err.contains("unknownkey.edn:1:39:"), "{err}");
    assert!(err.contains("unknown key :colour"), "{err}");
}

#[test]
fn bad_json_names_line_and_column() {
    let err = error_of("syntax.json", "{\"model\": \"mutex\",\n \"ops\": [\n {\"process\": 1,, }]}", None);
    assert!(err.contains("syntax.json:3:"), "{err}");
}

#[test]
fn unknown_json_field_is_rejected_with_its_position() {
    let json = GOOD_LOCK_JSON.replace("\"type\": \"fail\"", "\"type\": \"fail\", \"colour\": \"red\"");
    let err = error_of("field.json", &json, None);
    assert!(err.contains("field.json:3:"), "{err}");
    assert!(err.contains("unknown field `colour`"), "{err}");
    let err = error_of("top.json", "{\"model\": \"mutex\", \"ops\": [], \"extra\": 1}", None);
    assert!(err.contains("unknown field `extra`"), "{err}");
}

#[test]
fn semantic_json_errors_have_positions() {
    let json = GOOD_LOCK_JSON.replace("\"f\": \"release\"", "\"f\": \"unlock\"");
    let err = error_of("f.json", &json, None);
    assert!(err.contains("f.json:5:1: operation 2 (ending here): unknown operation f 'unlock'"), "{err}");
}

#[test]
fn unknown_model_is_a_usage_error() {
    let err = error_of("model.json", &GOOD_LOCK_JSON.replace("\"mutex\"", "\"semaphore\""), None);
    assert!(err.contains("unknown model 'semaphore'"), "{err}");
    let path = temp_file("model2.json", GOOD_LOCK_JSON);
    let run = lin(LinArgs { model: Some("semaphore".into()), ..args(path, None) });
    assert_eq!(run.code, cli::EXIT_BAD_INPUT);
}

#[test]
fn wrong_family_for_model_is_a_usage_error() {
    let path = temp_file("family.json", &GOOD_LOCK_JSON.replace("\"model\": \"mutex\", ", ""));
    let run = lin(args(path, Some("cas-register")));
    assert_eq!(run.code, cli::EXIT_BAD_INPUT);
    assert!(run.err.contains("checks register operations but the history has lock operations"), "{}", run.err);
}

#[test]
fn empty_file_is_rejected() {
    let err = error_of("empty.json", "  \n", Some("mutex"));
    assert!(err.contains("empty.json:1:1: file is empty"), "{err}");
}

#[test]
fn missing_file_is_a_usage_error() {
    let run = lin(args(PathBuf::from("/nonexistent/history.json"), Some("mutex")));
    assert_eq!(run.code, cli::EXIT_BAD_INPUT);
    assert!(run.err.contains("/nonexistent/history.json: cannot read"), "{}", run.err);
}

#[test]
fn jepsen_log_errors_name_the_line() {
    let err = error_of(
        "bad.log",
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:okay\t:write\t1\n",
        Some("cas-register"),
    );
    assert!(err.contains("bad.log:2:"), "{err}");
    assert!(err.contains("unknown type ':okay'"), "{err}");
    let err = error_of("twice.log", "x - 0\t:invoke\t:write\t1\nx - 0\t:invoke\t:write\t2\n", Some("cas-register"));
    assert!(err.contains("twice.log:2:5:") && err.contains("invokes again"), "{err}");
}

// ------------------------------------------------------------ issue 10: files lin did not write

/// Issue 10 item 10: real Jepsen logs separate fields with spaces as well as tabs (and
/// Jepsen appends an `:error` after the value).
#[test]
fn jepsen_text_log_with_spaces_and_errors() {
    let log = "2017-03-21 12:00:00,001{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0 :invoke :write 1\n\
               INFO  jepsen.util - 0    :ok      :write  1\n\
               INFO  jepsen.core - Run complete, writing\n\
               INFO  jepsen.util - 1 :invoke :read nil\n\
               INFO  jepsen.util - 2\t:invoke :cas [1 2]\n\
               INFO  jepsen.util - 1 :ok :read 1\n\
               INFO  jepsen.util - 2 :info :cas [1 2] indeterminate: timed out\n\
               INFO  jepsen.util - :nemesis :info :start nil\n\
               INFO  jepsen.util - 3 :invoke :read nil\r\n\
               INFO  jepsen.util - 3 :ok :read 2\r\n";
    let run = lin(args(temp_file("spaces.log", log), Some("cas-register")));
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "{} {}", run.out, run.err);
    let bad = format!("{log}INFO  jepsen.util - 3 :invoke :read nil\nINFO  jepsen.util - 3 :ok :read 1\n");
    let run = lin(args(temp_file("spaces-bad.log", &bad), Some("cas-register")));
    assert_eq!(run.code, cli::EXIT_NOT_LINEARIZABLE, "{} {}", run.out, run.err);
    let err = error_of("spaces-type.log", "INFO jepsen.util - 0 :okay :write 1\n", Some("cas-register"));
    assert!(err.contains("spaces-type.log:1:22: unknown type ':okay'"), "{err}");
    let err = error_of("chatter.log", "INFO jepsen.core - nothing here\n", Some("cas-register"));
    assert!(err.contains("chatter.log:1:1: no Jepsen operations found"), "{err}");
}

/// Issue 10 item 11: the format is sniffed from the content, not taken from the
/// extension; `--format` forces it.
#[test]
fn format_is_sniffed_from_content_and_can_be_forced() {
    let edn = "{:process 0, :type :invoke, :f :write, :value 1}\n\
               {:process 0, :type :ok, :f :write, :value 1}\n\
               {:process 1, :type :invoke, :f :read, :value nil}\n\
               {:process 1, :type :ok, :f :read, :value 1}\n";
    for name in ["history.txt", "history.log", "history.json", "history"] {
        let run = lin(args(temp_file(name, edn), Some("cas-register")));
        assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "{name}: {} {}", run.out, run.err);
    }
    let vector = format!("[{}]", edn.replace('\n', " "));
    let run = lin(args(temp_file("vector.txt", &vector), Some("cas-register")));
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "{} {}", run.out, run.err);
    // JSON saved as .edn, a log saved as .json.
    let run = lin(args(temp_file("good-json.edn", GOOD_LOCK_JSON), None));
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "{} {}", run.out, run.err);
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n";
    let run = lin(args(temp_file("log.json", log), Some("cas-register")));
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "{} {}", run.out, run.err);
    // Forcing a format reads the file as that format (here: wrongly, so an error).
    let path = temp_file("forced.txt", edn);
    let run = lin(LinArgs { format: Some("log".into()), ..args(path.clone(), Some("cas-register")) });
    assert_eq!(run.code, cli::EXIT_BAD_INPUT, "{} {}", run.out, run.err);
    assert!(run.err.contains("no Jepsen operations found"), "{}", run.err);
    let run = lin(LinArgs { format: Some("edn".into()), ..args(path.clone(), Some("cas-register")) });
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "{} {}", run.out, run.err);
    let run = lin(LinArgs { format: Some("yaml".into()), ..args(path, Some("cas-register")) });
    assert_eq!(run.code, cli::EXIT_BAD_INPUT);
    assert!(run.err.contains("unknown format 'yaml'"), "{}", run.err);
}

/// Issue 10 item 12: `--kv-initial` on the command line.
#[test]
fn kv_initial_flag() {
    let json = r#"{"model": "kv", "ops": [
      {"process": 1, "key": "k", "call_ns": 0, "return_ns": 10, "f": "get", "value": "", "type": "ok"},
      {"process": 1, "key": "k", "call_ns": 20, "return_ns": 30, "f": "append", "value": "x", "type": "ok"},
      {"process": 2, "key": "k", "call_ns": 40, "return_ns": 50, "f": "get", "value": "x", "type": "ok"}
    ]}"#;
    let path = temp_file("kv-empty.json", json);
    assert_eq!(lin(args(path.clone(), None)).code, cli::EXIT_LINEARIZABLE);
    let with = |v: &str| lin(LinArgs { kv_initial: Some(v.into()), ..args(path.clone(), None) });
    assert_eq!(with("empty").code, cli::EXIT_LINEARIZABLE);
    assert_eq!(with("either").code, cli::EXIT_LINEARIZABLE);
    assert_eq!(with("absent").code, cli::EXIT_NOT_LINEARIZABLE);
    let run = with("zero");
    assert_eq!(run.code, cli::EXIT_BAD_INPUT);
    assert!(run.err.contains("unknown kv initial value 'zero'"), "{}", run.err);
    let run = lin(LinArgs { kv_initial: Some("empty".into()), ..args(temp_file("kvi.json", GOOD_LOCK_JSON), None) });
    assert_eq!(run.code, cli::EXIT_BAD_INPUT);
}

// ------------------------------------------------------------ issue 10 item 5: budgets

/// The issue's repro: 60 crashed writes, then a read of a value nobody wrote. Without a
/// budget the search grew ~22 MB/s forever.
fn crashed_writes_then_impossible_read() -> String {
    let mut ops: Vec<String> = (0..60)
        .map(|i| {
            format!(
                r#"{{"process": {i}, "call_ns": {}, "return_ns": null, "f": "write", "value": {}, "type": "info"}}"#,
                i * 10,
                i + 1
            )
        })
        .collect();
    ops.push(r#"{"process": 99, "call_ns": 1000, "return_ns": 1010, "f": "read", "value": 999, "type": "ok"}"#.into());
    format!("{{\"model\": \"cas-register\", \"ops\": [\n{}\n]}}", ops.join(",\n"))
}

#[test]
fn default_time_budget_ends_a_hopeless_search_with_unknown() {
    let path = temp_file("hopeless.json", &crashed_writes_then_impossible_read());
    let started = std::time::Instant::now();
    let run = lin(LinArgs { budget_s: Some(0.5), ..args(path.clone(), None) });
    assert_eq!(run.code, cli::EXIT_UNKNOWN, "{} {}", run.out, run.err);
    assert!(run.out.contains("unknown: the time budget (--budget 0.5 s) ran out before a verdict"), "{}", run.out);
    assert!(run.out.contains("raise it with --budget"), "{}", run.out);
    assert!(started.elapsed().as_secs_f64() < 5.0);
    // With no flag, the default budget applies (10 s, 2 GB): it must end, and say which.
    assert!(cli::DEFAULT_BUDGET_S.is_finite() && cli::DEFAULT_MEMORY_MB.is_finite());
    let started = std::time::Instant::now();
    let run = lin(args(path, None));
    assert_eq!(run.code, cli::EXIT_UNKNOWN, "{} {}", run.out, run.err);
    assert!(run.out.contains("budget"), "{}", run.out);
    assert!(started.elapsed().as_secs_f64() < cli::DEFAULT_BUDGET_S + 5.0);
}

#[test]
fn memory_budget_ends_a_search_with_unknown() {
    if locklab_lincheck::budget::resident_bytes().is_none() {
        return; // not Linux: the memory budget is not enforced
    }
    let path = temp_file("hopeless-memory.json", &crashed_writes_then_impossible_read());
    let run = lin(LinArgs { memory_mb: Some(1.0), budget_s: Some(20.0), ..args(path.clone(), None) });
    assert_eq!(run.code, cli::EXIT_UNKNOWN, "{} {}", run.out, run.err);
    assert!(run.out.contains("the memory budget (--memory-mb 1"), "{}", run.out);
    let run = lin(LinArgs { memory_mb: Some(-1.0), ..args(path, None) });
    assert_eq!(run.code, cli::EXIT_BAD_INPUT);
}

/// The budget covers reading the file: a zero budget stops the parser itself.
#[test]
fn budget_covers_parsing() {
    let (mut edn, mut log) = (String::new(), String::new());
    for i in 0..5000 {
        edn.push_str(&format!("{{:process {}, :type :invoke, :f :write, :value {i}}}\n", i % 5));
        edn.push_str(&format!("{{:process {}, :type :ok, :f :write, :value {i}}}\n", i % 5));
        log.push_str(&format!("INFO  jepsen.util - {} :invoke :write {i}\n", i % 5));
        log.push_str(&format!("INFO  jepsen.util - {} :ok :write {i}\n", i % 5));
    }
    for (name, text) in [("big.edn", edn), ("big.log", log)] {
        let path = temp_file(name, &text);
        let run = lin(LinArgs { budget_s: Some(0.0), ..args(path.clone(), Some("cas-register")) });
        assert_eq!(run.code, cli::EXIT_UNKNOWN, "{name}: {} {}", run.out, run.err);
        assert!(run.out.contains("ran out while reading the history"), "{name}: {}", run.out);
        assert_eq!(lin(args(path, Some("cas-register"))).code, cli::EXIT_LINEARIZABLE, "{name}");
    }
    let history = gen::register_history(&RegisterGen { ops: 5000, ..Default::default() });
    let path = temp_file("big.json", &format::to_json(&Model::CasRegister, &format::History::Register(history)));
    let run = lin(LinArgs { budget_s: Some(0.0), ..args(path, None) });
    assert_eq!(run.code, cli::EXIT_UNKNOWN, "{} {}", run.out, run.err);
    assert!(run.out.contains("ran out while reading the history"), "{}", run.out);
}

// ------------------------------------------------------------ issue 10 item 1: stdout errors

struct FailingWriter(std::io::ErrorKind);

impl std::io::Write for FailingWriter {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(self.0, "injected"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_write_to_stdout_is_one_message_and_exit_5_a_broken_pipe_keeps_the_verdict() {
    let path = temp_file("pipe-bad.json", BAD_LOCK_JSON);
    let mut err = Vec::new();
    let code = cli::run_with(&args(path.clone(), None), &mut FailingWriter(std::io::ErrorKind::BrokenPipe), &mut err);
    assert_eq!(code, cli::EXIT_NOT_LINEARIZABLE, "the verdict survives a closed pipe");
    assert!(err.is_empty(), "quietly: {}", String::from_utf8_lossy(&err));
    let mut err = Vec::new();
    let code = cli::run_with(&args(path, None), &mut FailingWriter(std::io::ErrorKind::StorageFull), &mut err);
    assert_eq!(code, cli::EXIT_OUTPUT);
    let err = String::from_utf8(err).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot write the report to standard output"), "{err}");
}

#[test]
fn json_output_and_junit_carry_the_verdict() {
    let junit = std::env::temp_dir().join(format!("lincheck-cli-{}-junit.xml", std::process::id()));
    let run =
        lin(LinArgs { json: true, junit: Some(junit.clone()), ..args(temp_file("bad-j.json", BAD_LOCK_JSON), None) });
    assert_eq!(run.code, cli::EXIT_NOT_LINEARIZABLE, "{}", run.err);
    let v: serde_json::Value = serde_json::from_str(&run.out).expect("--json prints one JSON object");
    assert_eq!(v["verdict"], "not linearizable");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["key"], "l");
    assert!(v["unplaced"][0].as_str().unwrap().starts_with("#1 process 2 key 'l': acquire → ok"), "{v}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testsuites name="locklab lin" tests="1" failures="1">"#), "{xml}");
    assert!(xml.contains("<failure message=\"not linearizable against mutex\""), "{xml}");

    let run =
        lin(LinArgs { json: true, junit: Some(junit.clone()), ..args(temp_file("good-j.json", GOOD_LOCK_JSON), None) });
    assert_eq!(run.code, cli::EXIT_LINEARIZABLE, "{}", run.err);
    let v: serde_json::Value = serde_json::from_str(&run.out).unwrap();
    assert_eq!(v["verdict"], "linearizable");
    assert_eq!(v["operations"], 3);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"failures="0""#) && !xml.contains("<failure"), "{xml}");
}

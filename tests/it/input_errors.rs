//! Bad input gets one clear error naming the file, the line and the field, and exit code 2 —
//! never a panic, never a silently ignored key.

use std::path::PathBuf;

use crate::{locklab, root};

/// A copy of scenario #1 with `from` replaced by `to`, written to a temp file. Returns the path
/// and the 1-based line of the replacement.
fn broken(name: &str, from: &str, to: &str) -> (PathBuf, usize) {
    let text = std::fs::read_to_string(root().join("scenarios/01-gc-pause.toml")).unwrap();
    let at = text.find(from).unwrap_or_else(|| panic!("`{from}` not in the scenario"));
    let line = text[..at].matches('\n').count() + 1;
    let text = text.replacen(from, to, 1);
    let dir = std::env::temp_dir().join(format!("locklab-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    (path, line)
}

/// Run `locklab run` on the file; assert exit 2 and an error naming the file, line and field.
fn assert_rejected(path: &std::path::Path, line: Option<usize>, field: Option<&str>, words: &str) -> String {
    let (code, stdout, stderr) = locklab(&["run", path.to_str().unwrap()], &root());
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
    // `None`: the error names the file (with or without a line).
    let location = match line {
        Some(l) => format!("{}:{l}:", path.display()),
        None => format!("{}:", path.display()),
    };
    assert!(stderr.contains(&location), "expected `{location}` in: {stderr}");
    if let Some(f) = field {
        assert!(stderr.contains(&format!("`{f}`")), "expected the field `{f}` in: {stderr}");
    }
    assert!(stderr.contains(words), "expected `{words}` in: {stderr}");
    stderr
}

#[test]
fn mistyped_key() {
    let (path, line) = broken("mistyped.toml", "ttl_ms = 5000\nfencing", "ttl_msx = 5000\nfencing");
    let err = assert_rejected(&path, Some(line), Some("ttl_msx"), "unknown field");
    assert!(err.contains("ttl_ms"), "the valid keys are listed: {err}");
}

#[test]
fn wrong_type() {
    let (path, line) = broken("wrong-type.toml", "duration_ms = 8000", "duration_ms = \"eight seconds\"");
    assert_rejected(&path, Some(line), Some("duration_ms"), "invalid type");
}

#[test]
fn negative_ttl() {
    let (path, line) = broken("negative-ttl.toml", "ttl_ms = 5000", "ttl_ms = -5000");
    assert_rejected(&path, Some(line), Some("ttl_ms"), "-5000");
}

#[test]
fn zero_ttl() {
    let (path, _) = broken("zero-ttl.toml", "ttl_ms = 5000", "ttl_ms = 0");
    assert_rejected(&path, None, Some("ttl_ms"), "greater than 0");
}

#[test]
fn unknown_protocol() {
    let (path, line) = broken("unknown-protocol.toml", "kind = \"lease\"", "kind = \"redlok\"");
    let err = assert_rejected(&path, Some(line), Some("kind"), "unknown protocol kind `redlok`");
    assert!(err.contains("valid kinds: lease"), "{err}");
}

#[test]
fn unknown_node_name() {
    let (path, line) = broken("unknown-node.toml", "node = \"c1\"\nafter", "node = \"c9\"\nafter");
    let err = assert_rejected(&path, Some(line), Some("node"), "unknown node `c9`");
    assert!(err.contains("s1, s2, s3, s4, s5, r1, c1, c2"), "the valid names are listed: {err}");
}

#[test]
fn unknown_fault_kind_and_misplaced_field() {
    let (path, line) = broken("unknown-fault.toml", "kind = \"pause\"", "kind = \"stall\"");
    assert_rejected(&path, Some(line), Some("kind"), "unknown fault kind `stall`");
    let (path, line) = broken("misplaced.toml", "duration_ms = 8000", "by_ms = 8000");
    assert_rejected(&path, Some(line - 4), Some("by_ms"), "does not apply to a `pause` fault");
}

#[test]
fn bad_probability_and_ranges() {
    let (path, _) = broken("loss.toml", "latency_ms = { min = 1, max = 3 }", "latency_ms = { min = 9, max = 3 }");
    assert_rejected(&path, None, Some("network.latency_ms"), "min (9) is greater than max (3)");
    let (path, _) = broken("prob.toml", "[network]\n", "[network]\nloss = 1.5\n");
    assert_rejected(&path, None, Some("network.loss"), "not a probability");
}

#[test]
fn empty_file() {
    let (path, _) = broken("empty.toml", "", "");
    std::fs::write(&path, "").unwrap();
    assert_rejected(&path, None, None, "empty");
}

#[test]
fn binary_file() {
    let (path, _) = broken("binary.toml", "", "");
    std::fs::write(&path, [0x7f, b'E', b'L', b'F', 0xff, 0xfe, 0x00, 0x01, 0x80]).unwrap();
    assert_rejected(&path, Some(1), None, "not a UTF-8 text file");
}

#[test]
fn missing_file() {
    let path = std::env::temp_dir().join("locklab-it-does-not-exist.toml");
    assert_rejected(&path, None, None, "cannot read the file");
}

#[test]
fn invalid_toml_syntax() {
    let (path, line) = broken("syntax.toml", "[workload]", "[workload");
    assert_rejected(&path, Some(line), None, "");
}

// ---- Issue 10, item 9: every field error is located, explained and short ----

#[test]
fn range_errors_carry_the_line_of_the_field() {
    let (p, line) = broken("clients17.toml", "clients = 2", "clients = 17");
    assert_rejected(&p, Some(line), Some("topology.clients"), "between 1 and 16");
    let (p, line) = broken("minmax.toml", "latency_ms = { min = 1, max = 3 }", "latency_ms = { min = 5, max = 3 }");
    assert_rejected(&p, Some(line), Some("network.latency_ms"), "min (5) is greater than max (3)");
    let (p, line) = broken("dur0.toml", "duration_ms = 30000", "duration_ms = 0");
    assert_rejected(&p, Some(line), Some("scenario.duration_ms"), "greater than 0");
    let (p, line) = broken("dup.toml", "[network]\n", "[network]\nduplicate = 1.5\n");
    assert_rejected(&p, Some(line + 1), Some("network.duplicate"), "not a probability");
}

#[test]
fn a_duration_no_run_could_finish_is_rejected() {
    let (p, line) = broken("durhuge.toml", "duration_ms = 30000", "duration_ms = 9223372036854775807");
    assert_rejected(&p, Some(line), Some("scenario.duration_ms"), "could not finish");
}

#[test]
fn a_value_cut_off_at_the_end_of_the_file_is_explained() {
    let dir = std::env::temp_dir().join(format!("locklab-it-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cut.toml");
    std::fs::write(&path, "[scenario]\nname = \"x\"\n[[protocols]]\nname = \"a\"\nkind = \"lease\"\nexpect = ")
        .unwrap();
    let stderr = assert_rejected(&path, Some(6), Some("expect"), "missing or cut off");
    assert!(!stderr.trim_end().ends_with(':'), "never an empty message: {stderr}");
}

#[test]
fn a_mistyped_key_gets_a_suggestion() {
    let (p, line) = broken("typo.toml", "ttl_ms = 5000", "ttl_msx = 5000");
    assert_rejected(&p, Some(line), Some("ttl_msx"), "did you mean `ttl_ms`?");
}

#[test]
fn a_huge_value_is_not_echoed_whole() {
    let big = "y".repeat(100_000);
    let (p, _) = broken("huge.toml", "kind = \"lease\"", &format!("kind = \"{big}\""));
    let (code, _, stderr) = locklab(&["run", p.to_str().unwrap()], &root());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.len() < 2_000, "{} bytes of error", stderr.len());
}

#[test]
fn seeds_use_the_whole_u64_range() {
    let (p, line) = broken("seedbig.toml", "seed = 1", "seed = 18446744073709551615");
    assert_rejected(&p, Some(line), Some("seed"), "TOML integers are 64-bit signed");
    let (p, _) = broken("seedstr.toml", "seed = 1", "seed = \"18446744073709551615\"");
    let (code, stdout, stderr) = locklab(&["run", p.to_str().unwrap(), "--protocol", "lease"], &root());
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("--seed 18446744073709551615"), "{stdout}");
}

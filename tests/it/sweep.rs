//! `locklab sweep`: a grid of parameter values × seeds without editing files — rates that follow
//! the swept parameter, Wilson intervals, deterministic CSV/JSON/Markdown/SVG, errors that name
//! the bad `--set`.

use crate::{locklab, root};

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("locklab-it-sweep-").tempdir().unwrap()
}

/// #1's GC pause against a 5 s lease: a 1 s pause leaves c1's critical section inside its lease
/// (a 3 s one already does not: the section outlasts the TTL with no heartbeat), a longer one
/// lets a second client in while the first still believes (mutual exclusion violated) — the rate
/// must follow the swept pause length, not be written by the scenario.
#[test]
fn the_violation_rate_follows_the_swept_parameter() {
    let dir = tmp();
    let out = dir.path().join("a");
    let args = [
        "sweep",
        "scenarios/01-gc-pause.toml",
        "--set",
        "faults[0].duration_ms=1000,8000",
        "--set",
        "protocols.*.ttl_ms=5000",
        "--protocols",
        "lease",
        "--seeds",
        "4",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    let (code, _, stderr) = locklab(&args, &root());
    assert_eq!(code, 0, "{stderr}");
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "a header and one row per (point, variant):\n{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let cell = |row: usize, name: &str| lines[row].split(',').nth(col(name)).unwrap().to_string();
    assert_eq!(cell(1, "faults[0].duration_ms"), "1000");
    assert_eq!(cell(1, "mutual_exclusion_rate"), "0.0000", "{csv}");
    assert_eq!(cell(2, "mutual_exclusion_rate"), "1.0000", "{csv}");
    // 4 of 4: the Wilson interval is [0.51, 1] (not [1, 1]).
    assert_eq!(cell(2, "mutual_exclusion_ci_low"), "0.5101", "{csv}");
    assert!(out.join("sweep-mutual_exclusion.svg").exists());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 2);
    // The same sweep again: byte-identical outputs (determinism under rayon).
    let again = dir.path().join("b");
    let mut args2 = args.to_vec();
    let last = args2.len() - 1;
    args2[last] = again.to_str().unwrap();
    let (code, _, stderr) = locklab(&args2, &root());
    assert_eq!(code, 0, "{stderr}");
    for f in ["sweep.csv", "sweep.json", "sweep-mutual_exclusion.svg"] {
        assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(again.join(f)).unwrap(), "{f} differs");
    }
}

#[test]
fn a_bad_set_is_an_error_naming_it() {
    let dir = tmp();
    let out = dir.path().to_str().unwrap();
    for (set, words) in [
        ("faults[5].duration_ms=1", "faults"),
        ("protocols.nosuch.ttl_ms=1", "named `nosuch`"),
        ("protocols.*.ttl_ms=1..9", "needs a step"),
        ("protocols.*.ttl_ms=0", "ttl_ms"),
        ("protocols.*.no_such_key=1", "no_such_key"),
    ] {
        let (code, _, stderr) = locklab(
            &["sweep", "scenarios/01-gc-pause.toml", "--set", set, "--seeds", "1", "--quiet", "--out", out],
            &root(),
        );
        assert_eq!(code, 2, "{set}: {stderr}");
        assert!(stderr.contains(words), "{set}: expected `{words}` in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// `sweep --shard I/N` for every I, then `merge`: byte for byte the unsharded sweep's outputs;
/// `--junit` is JUnit XML a CI system reads, failing exactly the violated properties.
#[test]
fn sweep_shards_merge_to_the_unsharded_output() {
    let dir = tmp();
    let d = |name: &str| dir.path().join(name).display().to_string();
    let base = [
        "sweep",
        "scenarios/01-gc-pause.toml",
        "--set",
        "faults[0].duration_ms=1000,8000",
        "--set",
        "protocols.*.ttl_ms=5000",
        "--seeds",
        "5",
        "--quiet",
    ];
    let whole = d("whole");
    let junit = d("whole.xml");
    let mut args = base.to_vec();
    args.extend(["--out", &whole, "--junit", &junit, "--stats"]);
    let (code, _, stderr) = locklab(&args, &root());
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("runs/s"), "--stats: {stderr}");
    let shards = d("shards");
    for i in 1..=3 {
        let mut args = base.to_vec();
        let shard = format!("{i}/3");
        args.extend(["--out", &shards, "--shard", &shard]);
        let (code, _, stderr) = locklab(&args, &root());
        assert_eq!(code, 0, "{stderr}");
    }
    let merged = d("merged");
    let (code, _, stderr) = locklab(&["merge", &shards, "--out", &merged, "--quiet"], &root());
    assert_eq!(code, 0, "{stderr}");
    let mut files: Vec<String> =
        std::fs::read_dir(&whole).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    for f in &files {
        let a = std::fs::read(dir.path().join("whole").join(f)).unwrap();
        let b = std::fs::read(dir.path().join("merged").join(f)).unwrap();
        assert!(a == b, "{f}: merged shards differ from the unsharded sweep");
    }
    // The JUnit report parses, and its failures are the violated (point, variant, property)s.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root_el = doc.root_element();
    assert_eq!(root_el.tag_name().name(), "testsuites");
    let csv = std::fs::read_to_string(dir.path().join("whole").join("sweep.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let violated_cells: usize = csv
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            header.iter().zip(&cells).filter(|(h, c)| h.ends_with("_violated") && **c != "0").count()
        })
        .sum();
    let failures = doc.descendants().filter(|n| n.has_tag_name("failure")).count();
    assert_eq!(failures, violated_cells, "{xml}");
    assert!(failures > 0 && xml.contains("reproduce: locklab sweep"), "{xml}");
}

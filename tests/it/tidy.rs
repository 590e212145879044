//! Tidy: `protocols/` is sans-IO. It never reads a clock, never uses a global or randomly seeded
//! RNG or hash map, never does I/O, and depends on none of tokio, turmoil, stateright or the
//! simulator. (A test that cannot fail proves nothing: the last test feeds the scanner bad code.)

use crate::root;

/// Source patterns that `protocols/` must not contain, with the reason.
const FORBIDDEN: &[(&str, &str)] = &[
    ("std::time", "reads a clock: time comes from Ctx"),
    ("Instant::", "reads a clock: time comes from Ctx"),
    ("SystemTime", "reads a clock: time comes from Ctx"),
    ("thread_rng", "global RNG: randomness comes from Ctx"),
    ("rand::", "an RNG of its own: randomness comes from Ctx"),
    ("getrandom", "an RNG of its own: randomness comes from Ctx"),
    ("HashMap", "randomly seeded iteration order: use BTreeMap"),
    ("HashSet", "randomly seeded iteration order: use BTreeSet"),
    ("std::fs", "I/O: effects are data"),
    ("std::net", "I/O: effects are data"),
    ("std::io", "I/O: effects are data"),
    ("std::thread", "threads: the driver owns scheduling"),
    ("println!", "I/O: record a history event instead"),
    ("tokio", "a runtime"),
    ("turmoil", "a simulator"),
    ("stateright", "a model checker"),
    ("locklab_sim", "the simulator"),
];

/// Crates `protocols/` may depend on.
const ALLOWED_DEPENDENCIES: &[&str] = &["serde"];

/// Every forbidden pattern in `source` (comments excluded), as (line, pattern, reason).
fn scan(source: &str) -> Vec<(usize, &'static str, &'static str)> {
    let mut hits = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for &(pattern, why) in FORBIDDEN {
            if code.contains(pattern) {
                hits.push((i + 1, pattern, why));
            }
        }
    }
    hits
}

/// The dependency names declared in a Cargo.toml's [dependencies] table.
fn dependencies(manifest: &str) -> Vec<String> {
    let table: toml::Table = manifest.parse().expect("Cargo.toml parses");
    table.get("dependencies").and_then(|d| d.as_table()).map(|d| d.keys().cloned().collect()).unwrap_or_default()
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn protocols_is_sans_io() {
    let mut files = Vec::new();
    rust_files(&root().join("protocols/src"), &mut files);
    assert!(files.len() >= 5, "protocols/src looks empty: {files:?}");
    let mut problems = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for (line, pattern, why) in scan(&source) {
            problems.push(format!("{}:{line}: `{pattern}`: {why}", file.display()));
        }
    }
    assert!(problems.is_empty(), "protocols/ must stay sans-IO:\n{}", problems.join("\n"));
}

#[test]
fn protocols_depends_only_on_allowed_crates() {
    let manifest = std::fs::read_to_string(root().join("protocols/Cargo.toml")).unwrap();
    let deps = dependencies(&manifest);
    for dep in &deps {
        assert!(ALLOWED_DEPENDENCIES.contains(&dep.as_str()), "protocols/ may not depend on `{dep}`");
    }
}

#[test]
fn the_tidy_scanner_catches_violations() {
    let bad = "use std::time::Instant;\nlet t = Instant::now();\nlet r = rand::thread_rng();\n// std::fs in a comment is fine\nlet m: HashMap<u8, u8>;\n";
    let hits: Vec<_> = scan(bad).into_iter().map(|(line, pattern, _)| (line, pattern)).collect();
    assert!(hits.contains(&(1, "std::time")));
    assert!(hits.contains(&(2, "Instant::")));
    assert!(hits.contains(&(3, "thread_rng")));
    assert!(hits.contains(&(5, "HashMap")));
    assert!(!hits.iter().any(|(line, _)| *line == 4), "comments are not code");
    let deps = dependencies("[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\ntokio = \"1\"\n");
    assert_eq!(deps, ["serde", "tokio"]);
    assert!(!ALLOWED_DEPENDENCIES.contains(&"tokio"));
}

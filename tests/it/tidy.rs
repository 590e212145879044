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

/// Crates `protocols/` may depend on: serde for the wire encoding and, with toml, for reading a
/// protocol's own scenario keys (text in, values out: no I/O).
const ALLOWED_DEPENDENCIES: &[&str] = &["serde", "toml"];

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

/// Modules of `protocols/src/` every protocol folder may import: the node contract (`node`,
/// `history`), the lock-library contract (`library`), and the registry enums that wrap every
/// protocol (`msg`, `registry`, re-exported at the crate root as `Msg`, `Node`, `Durable`,
/// `LockLibrary`). Everything else under `protocols/src/` is a folder of its own (a protocol, or a
/// protocol-neutral role: `worker`, `resource`).
const SHARED_MODULES: &[&str] = &["node", "history", "library", "msg", "params", "registry"];

/// The protocol folders under `protocols/src/`.
fn protocol_folders() -> Vec<String> {
    let mut folders: Vec<String> = std::fs::read_dir(root().join("protocols/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    folders
}

/// Names the crate root re-exports from a folder (`pub use lease::{LeaseLock, LeaseServer};`), so
/// `crate::LeaseServer` counts as an import of `lease`.
fn root_reexports(lib_rs: &str, folders: &[String]) -> std::collections::BTreeMap<String, String> {
    let mut map = std::collections::BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else { continue };
        let Some((module, names)) = rest.trim_end_matches(';').split_once("::") else { continue };
        if !folders.iter().any(|f| f == module) {
            continue;
        }
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.trim().rsplit("::").next().unwrap().split(" as ").last().unwrap().trim();
            if !name.is_empty() {
                map.insert(name.to_string(), module.to_string());
            }
        }
    }
    map
}

/// The first segment of every `crate::` path in `code` (`crate::{a, b::c}` gives `a` and `b`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                if !first.is_empty() {
                    out.push(first.to_string());
                }
            }
        } else {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            out.push(rest[..end].to_string());
        }
    }
    out
}

/// Every import in `source` (a file of folder `owner`, or of a shared module when `owner` is
/// `None`) of a protocol folder other than `owner`, as (line, folder).
fn cross_imports(
    owner: Option<&str>,
    source: &str,
    folders: &[String],
    reexports: &std::collections::BTreeMap<String, String>,
) -> Vec<(usize, String)> {
    let mut hits = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for first in crate_paths(code) {
            let target = if folders.contains(&first) { Some(first) } else { reexports.get(&first).cloned() };
            if let Some(target) = target {
                if Some(target.as_str()) != owner {
                    hits.push((i + 1, target));
                }
            }
        }
    }
    hits
}

#[test]
fn protocol_folders_import_only_themselves_and_the_shared_modules() {
    let src = root().join("protocols/src");
    let folders = protocol_folders();
    for expected in ["lease", "raft", "redlock", "resource", "worker"] {
        assert!(folders.iter().any(|f| f == expected), "protocols/src/{expected}/ is missing: {folders:?}");
    }
    let reexports = root_reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap(), &folders);
    let mut problems = Vec::new();
    for folder in &folders {
        let mut files = Vec::new();
        rust_files(&src.join(folder), &mut files);
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            for (line, target) in cross_imports(Some(folder), &source, &folders, &reexports) {
                problems.push(format!("{}:{line}: `{folder}` imports `{target}`", file.display()));
            }
        }
    }
    // The node contract and the lock-library contract import no protocol at all.
    for shared in ["node", "history", "library"] {
        let file = src.join(format!("{shared}.rs"));
        let source = std::fs::read_to_string(&file).unwrap();
        for (line, target) in cross_imports(None, &source, &folders, &reexports) {
            problems.push(format!("{}:{line}: shared module `{shared}` imports `{target}`", file.display()));
        }
    }
    // The registry wraps the protocols, not the worker above it: the worker imports the
    // registry's `LockLibrary`, so the registry importing the worker would close a circle.
    let file = src.join("registry.rs");
    let source = std::fs::read_to_string(&file).unwrap();
    for (line, target) in cross_imports(None, &source, &folders, &reexports) {
        if target == "worker" {
            problems.push(format!("{}:{line}: the registry imports the worker, which imports it", file.display()));
        }
    }
    // Every top-level module is either shared or a folder (a new protocol gets a folder).
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_file() && stem != "lib" && !SHARED_MODULES.contains(&stem.as_str()) {
            problems.push(format!("{}: a top-level module that is neither shared nor a folder", path.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "a protocol folder may import only itself and {SHARED_MODULES:?}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_folder_scanner_catches_cross_imports() {
    let folders: Vec<String> = ["lease", "raft", "redlock"].map(String::from).to_vec();
    let reexports = root_reexports("pub use raft::{RaftLock, RaftPeer};\npub use msg::Msg;\n", &folders);
    assert_eq!(reexports.get("RaftPeer").map(String::as_str), Some("raft"));
    assert!(!reexports.contains_key("Msg"));
    let bad = "use crate::raft::RaftOp;\nuse crate::{history::Entry, redlock::Redlock};\n// crate::raft in a comment is fine\nlet p: crate::RaftPeer;\nuse crate::lease::LeaseLock;\nuse crate::msg::Msg;\n";
    let hits = cross_imports(Some("lease"), bad, &folders, &reexports);
    assert_eq!(hits, [(1, "raft".to_string()), (2, "redlock".to_string()), (4, "raft".to_string())]);
    assert_eq!(cross_imports(None, bad, &folders, &reexports).len(), 4, "a shared module may import no folder");
}

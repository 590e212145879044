//! locklab's integration tests: one binary (matklad's layout), one module per concern.
//!
//! Golden files under tests/golden are rewritten with `UPDATE_EXPECT=1 cargo test`.

mod browser;
mod cli;
mod determinism;
mod fuzz;
mod hostile;
mod input_errors;
mod lease_redis;
mod live;
mod nemesis;
mod raft;
mod readme;
mod scenarios;
mod shards;
mod shrink;
mod sweep;
mod tidy;
mod workshop;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every bundled scenario file, sorted.
pub fn bundled_scenarios() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Run the locklab binary; returns (exit code, stdout, stderr).
pub fn locklab(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_locklab"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the locklab binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

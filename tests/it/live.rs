//! The live tier's acceptance, against real servers: `locklab live` runs bundled scenarios with
//! real `redis-server` and etcd processes that it starts itself on loopback, and the observed
//! verdicts are asserted here. Each test runs the binary with its own fresh `TMPDIR` and checks
//! afterwards that nothing leaked: no server process still names that directory, and the
//! directory is empty.
//!
//! Without the Debian packages (`redis-server etcd-server faketime`) these tests say SKIPPED and
//! pass — unless `LOCKLAB_LIVE_REQUIRED=1` (set by `.ci/run`, which installs the packages), where
//! a missing server fails them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::root;

/// Is `bin` available? If not: fail when required, else skip (false).
fn have(bin: &str) -> bool {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file())).unwrap_or(false);
    if !found {
        assert!(
            std::env::var("LOCKLAB_LIVE_REQUIRED").as_deref() != Ok("1"),
            "`{bin}` is not installed but LOCKLAB_LIVE_REQUIRED=1 (apt-get install redis-server etcd-server faketime)"
        );
        eprintln!("SKIPPED: `{bin}` is not on the PATH (apt-get install redis-server etcd-server faketime)");
    }
    found
}

/// Processes whose command line mentions `needle`.
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().filter(|s| s.bytes().all(|b| b.is_ascii_digit())) else { continue };
        if pid == std::process::id().to_string() {
            continue;
        }
        // redis-server rewrites its command line ("redis-server 127.0.0.1:PORT"): look at its
        // working directory and environment (TMPDIR) too.
        let cmd = std::fs::read(e.path().join("cmdline")).map(|c| String::from_utf8_lossy(&c).replace('\0', " "));
        let Ok(cmd) = cmd else { continue };
        let cwd = std::fs::read_link(e.path().join("cwd")).map(|p| p.display().to_string()).unwrap_or_default();
        let env = std::fs::read(e.path().join("environ")).map(|c| String::from_utf8_lossy(&c).into_owned());
        if cmd.contains(needle) || cwd.contains(needle) || env.is_ok_and(|v| v.contains(needle)) {
            let exe = std::fs::read_link(e.path().join("exe")).map(|p| p.display().to_string()).unwrap_or_default();
            found.push(format!("{pid}: {exe}: {cmd} (cwd {cwd})"));
        }
    }
    found
}

/// Nothing of a run with `tmp` as its TMPDIR remains.
fn assert_no_leaks(tmp: &Path) {
    let needle = tmp.display().to_string();
    // A killed child may take a moment to be reaped by init.
    let start = Instant::now();
    let mut procs = processes_naming(&needle);
    while !procs.is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        procs = processes_naming(&needle);
    }
    assert!(procs.is_empty(), "server processes leaked:\n{}", procs.join("\n"));
    let left: Vec<PathBuf> = std::fs::read_dir(tmp).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "temporary files leaked: {left:?}");
}

/// Run `locklab live ARGS --json` with a fresh TMPDIR; returns (exit code, rows).
fn live(args: &[&str]) -> (i32, Vec<Value>) {
    let tmp = tempfile::Builder::new().prefix("locklab-it-live-").tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_locklab"))
        .arg("live")
        .args(args)
        .args(["--json", "--sim-seeds", "5"])
        .current_dir(root())
        .env("TMPDIR", tmp.path())
        .output()
        .expect("locklab runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rows: Vec<Value> = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("JSON ({e}):\n{stdout}\n{stderr}"));
    for r in &rows {
        assert!(r["errors"].as_array().unwrap().is_empty(), "the live machinery failed: {r:#}\n{stderr}");
    }
    assert_no_leaks(tmp.path());
    (out.status.code().unwrap_or(-1), rows)
}

/// The outcomes a property showed over the live runs of `variant`, as a sorted list.
fn observed(rows: &[Value], variant: &str, property: &str) -> Vec<String> {
    let row = rows.iter().find(|r| r["variant"] == variant).unwrap_or_else(|| panic!("no row for {variant}"));
    assert!(row["runs"].as_u64().unwrap() >= 1, "{variant} did not run: {row:#}");
    row["observed"][property].as_object().unwrap().keys().cloned().collect()
}

fn row<'a>(rows: &'a [Value], variant: &str) -> &'a Value {
    rows.iter().find(|r| r["variant"] == variant).unwrap()
}

#[test]
fn gc_pause_against_a_real_redis_server_stale_write_unless_fenced() {
    if !have("redis-server") {
        return;
    }
    let (_, rows) = live(&["scenarios/01-gc-pause.toml", "--target", "redis", "--runs", "2", "--time-scale", "0.5"]);
    assert_eq!(row(&rows, "lease")["server"].as_str().unwrap().split(' ').next(), Some("redis-server"));
    // Unfenced: the paused client wakes and writes after c2 acquired.
    assert_eq!(observed(&rows, "lease", "no_stale_write"), ["violated"]);
    // Fenced (the token from the acquire script's INCR, checked by the resource): rejected.
    assert_eq!(observed(&rows, "lease-fenced", "no_stale_write"), ["holds"]);
    assert_eq!(
        observed(&rows, "lease-fenced", "mutual_exclusion"),
        ["violated"],
        "fencing protects the resource, not the belief"
    );
}

#[test]
fn gc_pause_against_real_etcd_stale_write_unless_fenced_by_revision() {
    if !have("etcd") {
        return;
    }
    let (_, rows) = live(&["scenarios/raft-01-gc-pause.toml", "--target", "etcd", "--runs", "1"]);
    assert!(row(&rows, "raft")["server"].as_str().unwrap().starts_with("etcd 3."));
    assert_eq!(observed(&rows, "raft", "no_stale_write"), ["violated"]);
    // The key's creation revision as the fencing token: the late write is rejected.
    assert_eq!(observed(&rows, "raft-fenced", "no_stale_write"), ["holds"]);
}

#[test]
fn restart_of_a_real_redis_server_without_persistence_two_holders_fsync_always_safe() {
    if !have("redis-server") {
        return;
    }
    let (_, rows) = live(&[
        "scenarios/server-restart.toml",
        "--target",
        "redis",
        "--runs",
        "1",
        "--time-scale",
        "0.5",
        "--protocol",
        "lease",
    ]);
    assert_eq!(observed(&rows, "lease", "mutual_exclusion"), ["violated"]);
    let (_, rows) = live(&[
        "scenarios/server-restart.toml",
        "--target",
        "redis",
        "--runs",
        "1",
        "--time-scale",
        "0.5",
        "--protocol",
        "lease-fsync-always",
    ]);
    assert_eq!(observed(&rows, "lease-fsync-always", "mutual_exclusion"), ["holds"]);
    assert_eq!(observed(&rows, "lease-fsync-always", "no_stale_write"), ["holds"]);
}

/// Scenario #4 over five real redis-servers, one server's wall clock stepped forward by
/// libfaketime. Real Redis 7.0 judges expiry on the wall clock — `t_string.c` turns `PX` into an
/// absolute time with `mstime()`, `server.c` defines `mstime()` by `gettimeofday`, and `db.c`
/// `keyIsExpired` compares the two — so it matches the simulated `redlock` variant (wall-clock
/// expiry: two holders), not `redlock-monotonic` (safe). That is this test's expectation.
#[test]
fn redlock_clock_jump_on_real_redis_matches_wall_clock_expiry() {
    if !have("redis-server") || !have("faketime") {
        return;
    }
    let (_, rows) =
        live(&["scenarios/04-redlock-clock-jump.toml", "--target", "redis", "--runs", "1", "--time-scale", "0.5"]);
    let wall = row(&rows, "redlock");
    let mono = row(&rows, "redlock-monotonic");
    // What the simulator predicts for each model of expiry…
    assert_eq!(wall["predicted"]["mutual_exclusion"].as_object().unwrap().keys().collect::<Vec<_>>(), ["violated"]);
    assert_eq!(mono["predicted"]["mutual_exclusion"].as_object().unwrap().keys().collect::<Vec<_>>(), ["holds"]);
    // … and what real Redis does, whichever variant's client runs against it: two holders.
    assert_eq!(observed(&rows, "redlock", "mutual_exclusion"), ["violated"]);
    assert_eq!(observed(&rows, "redlock-monotonic", "mutual_exclusion"), ["violated"]);
    assert_eq!(wall["agrees"], true, "real Redis 7.0 matches `redlock` (wall-clock expiry)");
    assert_eq!(mono["agrees"], false, "real Redis 7.0 does not match `redlock-monotonic`");
}

/// Scenario #9: the proxy in front of the real server swallows the acquire's reply (the `SET NX`
/// was executed). The naive retry is refused by its own orphaned key until the TTL ends; the
/// GET-and-compare retry finds its own value and holds the lock at once.
#[test]
fn lost_acquire_reply_from_a_real_redis_server_naive_vs_get_and_compare_retry() {
    if !have("redis-server") {
        return;
    }
    let (code, rows) = live(&[
        "scenarios/09-lost-acquire-response.toml",
        "--target",
        "redis",
        "--runs",
        "1",
        "--time-scale",
        "0.5",
        "--expect",
    ]);
    let naive = row(&rows, "lease-naive-retry")["observed_acquire_ms_max"].as_f64().unwrap();
    let compare = row(&rows, "lease")["observed_acquire_ms_max"].as_f64().unwrap();
    assert!(naive >= 4500.0, "the naive retry waits out its orphaned key: slowest acquire {naive} ms");
    assert!(compare <= 1000.0, "GET-and-compare acquires at once: slowest acquire {compare} ms");
    assert!(
        row(&rows, "lease-redisson")["skipped"].is_string(),
        "Redisson is not mapped: said so, not skipped silently"
    );
    assert_eq!(code, 0, "every expectation of the scenario is met live: {rows:#?}");
}

/// Ctrl-C in the middle of a live run against real servers: locklab stops every server it
/// started and removes its temporary directories, then exits with 130.
#[test]
fn ctrl_c_stops_every_server_and_removes_every_directory() {
    if !have("redis-server") {
        return;
    }
    let tmp = tempfile::Builder::new().prefix("locklab-it-live-").tempdir().unwrap();
    let needle = tmp.path().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_locklab"))
        .args(["live", "scenarios/01-gc-pause.toml", "--target", "redis", "--protocol", "redlock", "--runs", "1"])
        .args(["--time-scale", "1", "--sim-seeds", "1"])
        .current_dir(root())
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until the five redis-servers run.
    let start = Instant::now();
    let servers = || processes_naming(&needle).iter().filter(|p| p.contains("redis-server")).count();
    while servers() < 5 {
        assert!(start.elapsed() < Duration::from_secs(20), "the servers did not start");
        assert!(child.try_wait().unwrap().is_none(), "locklab exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("{} redis-servers up after {:?}; sending SIGINT", servers(), start.elapsed());
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "locklab did not exit after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    assert_no_leaks(tmp.path());
}

/// The README's live example is real output: every line it quotes appears in what the command
/// prints against a real redis-server.
#[test]
fn the_readme_live_example_matches_the_output() {
    if !have("redis-server") {
        return;
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let opening = "```console\n$ locklab live scenarios/01-gc-pause.toml --target redis --protocol lease --runs 2 --time-scale 0.5\n";
    let start = readme.find(opening).expect("README has the live example");
    let body = &readme[start + opening.len()..];
    let quoted: Vec<&str> = body[..body.find("```").unwrap()].lines().filter(|l| l.trim() != "...").collect();
    let tmp = tempfile::Builder::new().prefix("locklab-it-live-").tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_locklab"))
        .args(["live", "scenarios/01-gc-pause.toml", "--target", "redis", "--protocol", "lease"])
        .args(["--runs", "2", "--time-scale", "0.5"])
        .current_dir(root())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(quoted.len() >= 5);
    for line in quoted {
        assert!(stdout.lines().any(|l| l == line), "README line not in the output:\n{line}\n---\n{stdout}");
    }
    assert_no_leaks(tmp.path());
}

//! The lease lock against what Redis really does (issue 9), and the mechanisms that keep the
//! lease and Redlock safe, each in the directed scenario that needs it.
//!
//! * `SET key value NX PX ttl` is refused whenever the key exists, whatever its value: a client
//!   whose grant was lost learns it holds the lock only by reading the key (`GET` + `PTTL`),
//!   scenario #9. Redisson's reentrant script grants the resent acquire instead — and counts it.
//! * Redlock's drift allowance absorbs servers whose clocks run fast
//!   (`scenarios/redlock-fast-server-clocks.toml`); the lease heartbeat keeps a lease alive through
//!   a critical section longer than the TTL (`scenarios/lease-heartbeat.toml`).

use locklab::runner::{run_one, RunResult};

use crate::root;

const SEEDS: [u64; 5] = [1, 2, 3, 17, 1234];

fn run(file: &str, variant: &str, seed: u64) -> RunResult {
    let compiled = locklab_sim::load_compiled(&root().join("scenarios").join(file)).unwrap_or_else(|e| panic!("{e}"));
    let v = compiled.variant(variant).unwrap_or_else(|| panic!("{file} has a variant {variant}"));
    run_one(&compiled, v, seed, true)
}

fn outcome<'a>(r: &'a RunResult, property: &str) -> &'a str {
    r.report.get(property).unwrap_or_else(|| panic!("{property} is reported")).outcome.as_str()
}

/// One trace line, split: true time (ms), node, event, detail.
struct Line<'a> {
    ms: f64,
    node: &'a str,
    event: &'a str,
    detail: &'a str,
}

fn lines(trace: &str) -> Vec<Line<'_>> {
    trace
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let ms = it.next()?.parse().ok()?;
            let node = it.next()?;
            let event = it.next()?;
            let rest = l.trim_start();
            // The detail is what follows the third field.
            let detail = rest.splitn(4, char::is_whitespace).nth(3).unwrap_or("").trim_start();
            let detail = detail.strip_prefix(event).unwrap_or(detail).trim_start();
            Some(Line { ms, node, event, detail })
        })
        .collect()
}

/// The value `c1`'s first session acquired with, and when (true ms).
fn first_acquired<'a>(trace: &'a [Line<'a>], client: &str) -> (f64, &'a str) {
    let l =
        trace.iter().find(|l| l.node == client && l.event == "acquired").unwrap_or_else(|| panic!("{client} acquired"));
    let value = l.detail.split_whitespace().find_map(|w| w.strip_prefix("value=")).expect("value=");
    (l.ms, value)
}

/// #9, `lease`: the retry that carries c1's own value is refused by c1's own key — what Redis
/// answers to `SET NX` on an existing key. A server that grants a same-value `SET NX` (locklab's
/// lease server before issue 9) fails this test.
#[test]
fn redis_refuses_the_retry_that_carries_the_holders_own_value() {
    for seed in SEEDS {
        let r = run("09-lost-acquire-response.toml", "lease", seed);
        let trace = r.trace.as_deref().unwrap();
        let trace = lines(trace);
        let (at_ms, value) = first_acquired(&trace, "c1");
        let own_refusal = format!("value={value} denied");
        assert!(
            trace.iter().any(|l| l.node == "c1"
                && l.event == "recv"
                && l.detail.contains("acquire_reply")
                && l.detail.contains(&own_refusal)
                && l.ms < at_ms),
            "seed {seed}: c1's retry with its own value {value} must be refused before it holds the lock"
        );
        assert!(
            !trace.iter().any(|l| l.node == "c1" && l.event == "recv" && l.detail.contains("GRANTED") && l.ms <= at_ms),
            "seed {seed}: the only grant (the first request's) was lost; no retry may be granted"
        );
    }
}

/// #9, `lease`: refused after an unanswered request, the client reads the key (`GET` + `PTTL`),
/// finds its own value and holds the lock at once, its validity bounded by the `PTTL`. A client
/// that does not read the key waits out its own key's TTL (≈ 5 s): this test fails.
#[test]
fn lost_grant_is_found_by_get_and_compare() {
    for seed in SEEDS {
        let r = run("09-lost-acquire-response.toml", "lease", seed);
        assert!(r.expectation.met, "seed {seed}: {:?}", r.expectation.mismatches);
        let trace = r.trace.as_deref().unwrap();
        let trace = lines(trace);
        let (at_ms, value) = first_acquired(&trace, "c1");
        assert!(at_ms < 1000.0, "seed {seed}: c1 held the lock only at {at_ms} ms");
        // What c1 heard just before: the GET's answer, with its own value and the time left.
        let before = trace
            .iter()
            .rfind(|l| l.node == "c1" && l.event == "recv" && l.ms <= at_ms)
            .expect("c1 heard something before acquiring");
        assert!(
            before.detail.starts_with("<- s1 get_reply") && before.detail.contains(&format!("value={value} pttl_ms=")),
            "seed {seed}: c1 must learn it holds the lock from GET, not from {:?}",
            before.detail
        );
        // Its validity is bounded by the PTTL counted from the GET's send (earlier than first
        // send + TTL here, since the key was set after the first request left).
        let acquired = trace.iter().find(|l| l.node == "c1" && l.event == "acquired").unwrap();
        let valid_until: f64 = acquired
            .detail
            .split_whitespace()
            .find_map(|w| w.strip_prefix("valid_until="))
            .and_then(|v| v.parse().ok())
            .expect("valid_until=");
        assert!(valid_until < 5000.0 - 50.0, "seed {seed}: validity {valid_until} ms exceeds TTL − margin");
    }
}

/// #9, `lease-redisson`: Redisson's reentrant acquire script grants the resent acquire (hold
/// count 2) — no GET needed — but one `unlock()` only decrements the count: the lock stays held
/// after c1's release until the TTL runs out, and c2 waits ≈ TTL.
#[test]
fn redisson_resent_acquire_is_a_second_hold_that_outlives_the_release() {
    for seed in SEEDS {
        let r = run("09-lost-acquire-response.toml", "lease-redisson", seed);
        assert!(r.expectation.met, "seed {seed}: {:?}", r.expectation.mismatches);
        let trace = r.trace.as_deref().unwrap();
        let trace = lines(trace);
        let (c1_ms, _) = first_acquired(&trace, "c1");
        assert!(c1_ms < 1000.0, "seed {seed}: the resent acquire is granted at once ({c1_ms} ms)");
        assert!(!trace.iter().any(|l| l.node == "c1" && l.detail.starts_with("-> s1 get")), "seed {seed}: no GET");
        let c1_released =
            trace.iter().rfind(|l| l.node == "c1" && l.event == "released").map(|l| l.ms).expect("c1 released");
        let (c2_ms, _) = first_acquired(&trace, "c2");
        assert!(
            c2_ms > c1_released + 4500.0,
            "seed {seed}: c2 acquired at {c2_ms} ms, c1 released at {c1_released} ms: the lock should have outlived the release"
        );
    }
}

/// `redlock-fast-server-clocks`: two servers' clocks run 0.8% fast, so c1's keys there expire
/// ~79 ms early and c2 takes the majority. The drift allowance (102 ms) ends c1's validity first:
/// safe. Without it (`drift_factor = 0`, `drift_extra_ms = 0`) c1 and c2 both hold the lock.
/// Removing the drift term from `Redlock::decide` makes the first half fail.
#[test]
fn redlock_drift_allowance_absorbs_fast_server_clocks() {
    for seed in SEEDS {
        let r = run("redlock-fast-server-clocks.toml", "redlock-checked", seed);
        assert_eq!(outcome(&r, "mutual_exclusion"), "holds", "seed {seed}");
        assert_eq!(outcome(&r, "no_stale_write"), "holds", "seed {seed}");
        let trace = r.trace.as_deref().unwrap();
        let trace = lines(trace);
        assert!(
            trace.iter().any(|l| l.node == "c2" && l.event == "acquired"),
            "seed {seed}: c2 gets the lock in the end"
        );
        let bare = run("redlock-fast-server-clocks.toml", "redlock-checked-no-drift-allowance", seed);
        assert_eq!(outcome(&bare, "mutual_exclusion"), "violated", "seed {seed}");
        assert_eq!(outcome(&bare, "no_stale_write"), "violated", "seed {seed}");
    }
}

/// `lease-heartbeat`: the TTL (1 s) is shorter than the critical section (~1.5–2 s). With a
/// heartbeat every 300 ms the lease outlives it: safe, and the extensions are there to see.
/// Without one, c1's lease expires mid-section: two holders and stale writes. A client that never
/// sends its heartbeat makes the first half fail.
#[test]
fn lease_heartbeat_carries_a_critical_section_longer_than_the_ttl() {
    for seed in SEEDS {
        let r = run("lease-heartbeat.toml", "lease-heartbeat", seed);
        assert_eq!(outcome(&r, "mutual_exclusion"), "holds", "seed {seed}");
        assert_eq!(outcome(&r, "no_stale_write"), "holds", "seed {seed}");
        let trace = r.trace.as_deref().unwrap();
        let extended = lines(trace).iter().filter(|l| l.event == "extended").count();
        assert!(extended >= 8, "seed {seed}: {extended} extensions for four ~2 s sections of a 1 s lease");
        let bare = run("lease-heartbeat.toml", "lease", seed);
        assert_eq!(outcome(&bare, "mutual_exclusion"), "violated", "seed {seed}");
        assert_eq!(outcome(&bare, "no_stale_write"), "violated", "seed {seed}");
    }
}

/// `get` and `get_reply` are message kinds faults can target: a lost `GET` answer times out, and
/// the client starts over with `SET NX` (refused again by its own key) and a second `GET`.
#[test]
fn a_lost_get_reply_is_retried() {
    let text = std::fs::read_to_string(root().join("scenarios/09-lost-acquire-response.toml")).unwrap();
    let text = format!("{text}\n[[faults]]\nkind = \"drop\"\nmessage = \"get_reply\"\nto = [\"c1\"]\nnth = 1\n");
    let scenario = locklab_sim::parse("09-get-drop.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let compiled = locklab_sim::compile("09-get-drop.toml", &text, scenario).unwrap_or_else(|e| panic!("{e}"));
    let r = run_one(&compiled, compiled.variant("lease").unwrap(), 1, true);
    assert!(r.expectation.met, "{:?}", r.expectation.mismatches);
    let trace = r.trace.as_deref().unwrap();
    let trace = lines(trace);
    let gets =
        trace.iter().filter(|l| l.node == "c1" && l.event == "send" && l.detail.starts_with("-> s1 get")).count();
    assert_eq!(gets, 2, "one GET lost, one answered");
    let (at_ms, _) = first_acquired(&trace, "c1");
    assert!(at_ms < 1000.0, "c1 held the lock only at {at_ms} ms");
}

/// Redisson's client keeps one value (`<UUID>:<thread id>`): a naive retry cannot be expressed.
#[test]
fn a_redisson_client_cannot_draw_new_values() {
    let text = std::fs::read_to_string(root().join("scenarios/09-lost-acquire-response.toml")).unwrap();
    let text =
        text.replace("server = \"redisson\"\nretry = \"idempotent\"", "server = \"redisson\"\nretry = \"naive\"");
    let scenario = locklab_sim::parse("09-naive-redisson.toml", &text).unwrap();
    let err = locklab_sim::compile("09-naive-redisson.toml", &text, scenario).unwrap_err().to_string();
    assert!(err.contains("retry") && err.contains("redisson"), "{err}");
}

//! The pictures in a real browser (issue 15's acceptance): headless Chromium loads
//! `index.html` as `compare` writes it (with one timeline opened through `#pair=N`), a static
//! timeline SVG, and a `lin --html` page; each must load without a console error, and the text of
//! every SVG must be only what the picture shows — every `<text>` inside its SVG's viewport and
//! overlapping no other. Screenshots go to `target/ci-artifacts/screenshots/` (CI keeps them as
//! artifacts; nothing is committed).
//!
//! How errors are caught without extra crates: a hook injected at the top of a copy of the page
//! records `error` and `unhandledrejection` events and `console.error` calls; a check script
//! injected at the end (`browser_check.js`) writes them and the SVG text problems into the DOM,
//! which `chromium --dump-dom` prints; Chromium's own console log on stderr (`--enable-logging`)
//! is scanned for "Uncaught" too. `a_page_with_a_script_error_fails_the_check` proves the
//! detection fails a broken page.
//!
//! Without Chromium the tests say SKIPPED and pass — unless `CI=true` or
//! `LOCKLAB_BROWSER_REQUIRED=1` (`.ci/run` installs Debian's `chromium`), where they fail.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{locklab, root};

const CHECK_JS: &str = include_str!("browser_check.js");
const ERROR_HOOK: &str = r#"<script>window.__locklabErrors = [];
window.addEventListener("error", (e) => window.__locklabErrors.push("error: " + e.message));
window.addEventListener("unhandledrejection", (e) => window.__locklabErrors.push("unhandled rejection: " + e.reason));
(() => { const original = console.error; console.error = (...a) => { window.__locklabErrors.push("console.error: " + a.join(" ")); original.apply(console, a); }; })();
</script>"#;

/// The most one Chromium invocation may take.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(40);

/// Chromium on the PATH, or None after saying SKIPPED (a failure where it is required).
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|bin| {
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(bin)).find(|c| c.is_file()))
    });
    if found.is_none() {
        let required = std::env::var("CI").as_deref() == Ok("true")
            || std::env::var("LOCKLAB_BROWSER_REQUIRED").as_deref() == Ok("1");
        assert!(
            !required,
            "chromium is not installed but CI=true or LOCKLAB_BROWSER_REQUIRED=1 (apt-get install chromium)"
        );
        eprintln!("SKIPPED: chromium is not on the PATH (apt-get install chromium); the pictures were not tested in a browser");
    }
    found
}

/// Run Chromium headless on `url` with `extra` flags; (stdout, stderr). Killed (its process group,
/// by id) after [`CHROMIUM_TIMEOUT`].
fn run_chromium(bin: &Path, profile: &Path, url: &str, extra: &[&str]) -> (String, String) {
    let mut child = Command::new(bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars"])
        .args(["--disable-extensions", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > CHROMIUM_TIMEOUT {
            // SAFETY: a plain kill(2) of the process group this test created for chromium.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!("chromium did not finish {url} within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Helpers chromium left in its group (none expected) go with it.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    (out_thread.join().unwrap(), err_thread.join().unwrap())
}

/// What the check found on one page.
#[derive(Debug)]
struct Checked {
    errors: Vec<String>,
    svgs: u64,
    texts: u64,
    /// The text of every SVG `<text>`, in document order.
    words: Vec<String>,
    problems: Vec<String>,
    /// index.html only: the tooltip shown on hovering a timeline item, and whether the wheel zoomed.
    hover: String,
    zoomed: bool,
}

/// A copy of `page` with the error hook first and the check last, beside it (so its relative
/// links still resolve).
fn instrument(page: &Path) -> PathBuf {
    let html = std::fs::read_to_string(page).expect("the page exists");
    let html = match html.find("<head>") {
        Some(i) => format!("{}{ERROR_HOOK}{}", &html[..i + 6], &html[i + 6..]),
        None => format!("{ERROR_HOOK}{html}"),
    };
    let check = format!("<script>{CHECK_JS}</script>");
    let html = match html.rfind("</body>") {
        Some(i) => format!("{}{check}{}", &html[..i], &html[i..]),
        None => format!("{html}{check}"),
    };
    let out = page.with_file_name(format!("checked-{}", page.file_name().unwrap().to_string_lossy()));
    std::fs::write(&out, html).unwrap();
    out
}

/// Load `page` (+ `fragment`) headless, run the check, and take a screenshot named `shot`.
fn check_page(bin: &Path, page: &Path, fragment: &str, shot: &str) -> Checked {
    let checked = instrument(page);
    let url = format!("file://{}{fragment}", checked.display());
    let profile = checked.with_file_name(format!("profile-{shot}"));
    let (dom, log) = run_chromium(bin, &profile, &url, &["--virtual-time-budget=5000", "--dump-dom"]);
    let start = dom
        .rfind("<pre id=\"locklab-check\">")
        .unwrap_or_else(|| panic!("{shot}: the check did not report; chromium said:\n{log}"));
    let body = &dom[start + "<pre id=\"locklab-check\">".len()..];
    let body = &body[..body.find("</pre>").expect("the report ends")];
    let text = body.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{shot}: {e}: {text}"));
    let strings =
        |k: &str| -> Vec<String> { v[k].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect() };
    let mut errors = strings("errors");
    // Chromium's own console log: an uncaught error the hook could not see (e.g. a syntax error).
    errors.extend(log.lines().filter(|l| l.contains("CONSOLE") && l.contains("Uncaught")).map(String::from));
    // Screenshots for people (CI artifacts).
    let dir = root().join("target/ci-artifacts/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join(format!("{shot}.png"));
    let _ = std::fs::remove_file(&png);
    let shot_url = format!("file://{}{fragment}", page.display());
    let shot_arg = format!("--screenshot={}", png.display());
    run_chromium(bin, &profile, &shot_url, &["--virtual-time-budget=5000", "--window-size=1400,1400", &shot_arg]);
    assert!(png.is_file(), "{shot}: no screenshot at {}", png.display());
    Checked {
        errors,
        svgs: v["svgs"].as_u64().unwrap(),
        texts: v["texts"].as_u64().unwrap(),
        words: strings("words"),
        problems: strings("problems"),
        hover: v["interaction"]["hover"].as_str().unwrap_or("").to_string(),
        zoomed: v["interaction"]["zoomed"].as_bool().unwrap_or(false),
    }
}

/// A scratch directory removed when dropped, also when the test fails.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("locklab-it-browser-{name}-")).tempdir().unwrap()
}

/// `index.html` from `compare` on a few scenarios, with the busiest pair's timeline opened (a
/// violation with two holders, faults of every kind, raft-chaos's many sessions); and its static
/// SVG timelines.
#[test]
fn the_html_report_and_timelines_load_cleanly_in_chromium() {
    let Some(bin) = chromium() else { return };
    let scratch = temp_dir("report");
    let dir = scratch.path();
    let out = dir.join("report");
    let (code, stdout, stderr) = locklab(
        &[
            "compare",
            "--seeds",
            "3",
            "--scenarios",
            "01-gc-pause,04-redlock-clock-jump,15-partition-isolates-holder,raft-chaos",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        &root(),
    );
    assert!(code == 0 || code == 1, "{stdout}{stderr}");
    let index = out.join("index.html");
    let html = std::fs::read_to_string(&index).unwrap();
    for external in ["src=\"http", "href=\"http", "https://", "url(http"] {
        assert!(!html.contains(external), "index.html must not load anything from the network ({external})");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap()).unwrap();
    let pairs = json["pairs"].as_array().unwrap();
    let pair = |scenario: &str, variant: &str| {
        pairs
            .iter()
            .position(|p| p["scenario"] == scenario && p["variant"] == variant)
            .expect("the pair is in the report")
    };
    for (scenario, variant, shot) in
        [("gc-pause", "lease", "index-gc-pause-lease"), ("raft-chaos", "raft-fenced", "index-raft-chaos")]
    {
        let n = pair(scenario, variant);
        let c = check_page(&bin, &index, &format!("#pair={n}"), shot);
        assert!(c.errors.is_empty(), "{shot}: console errors: {:?}", c.errors);
        // The opened panel: the timeline and the latency plot (the matrix itself has no SVG).
        assert!(c.svgs >= 2 && c.texts > 20, "{shot}: the timeline was not drawn: {c:?}");
        assert!(c.problems.is_empty(), "{shot}: SVG text that the picture does not show:\n{}", c.problems.join("\n"));
        // gc-pause under a plain lease has two holders: the opened timeline must mark them.
        let marked = c.words.iter().any(|w| w == "two holders");
        // Hover shows the item's trace line; the wheel zooms the time axis.
        assert!(
            c.hover.contains(" ms  ") && c.hover.contains("believes it holds until"),
            "{shot}: hover: {:?}",
            c.hover
        );
        assert!(c.zoomed, "{shot}: the wheel did not zoom");
        assert_eq!(marked, scenario == "gc-pause", "{shot}: two holders marked: {marked}");
    }
    // The static SVGs, inline in a page so their text can be measured.
    for stem in ["01-gc-pause.lease", "raft-chaos.raft-fenced", "15-partition-isolates-holder.lease-fenced"] {
        let svg = std::fs::read_to_string(out.join(format!("timelines/{stem}.svg"))).unwrap();
        let page = dir.join(format!("{stem}.html"));
        std::fs::write(
            &page,
            format!("<!DOCTYPE html><html><head></head><body style=\"margin:0\">{svg}</body></html>"),
        )
        .unwrap();
        let c = check_page(&bin, &page, "", &format!("svg-{stem}"));
        assert!(c.errors.is_empty(), "{stem}: {:?}", c.errors);
        assert!(c.svgs == 1 && c.texts > 10, "{stem}: {c:?}");
        assert!(c.problems.is_empty(), "{stem}: SVG text that the picture does not show:\n{}", c.problems.join("\n"));
    }
}

/// `sweep`'s page: its rate-vs-parameter plots inline above its table.
#[test]
fn the_sweep_page_loads_cleanly_in_chromium() {
    let Some(bin) = chromium() else { return };
    let scratch = temp_dir("sweep");
    let dir = scratch.path();
    let out = dir.join("sweep");
    let (code, stdout, stderr) = locklab(
        &[
            "sweep",
            "scenarios/01-gc-pause.toml",
            "--set",
            "faults[0].duration_ms=1000..10000:step=3000",
            "--set",
            "protocols.*.ttl_ms=5000",
            "--seeds",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
        &root(),
    );
    assert!(code == 0 || code == 1, "{stdout}{stderr}");
    let c = check_page(&bin, &out.join("index.html"), "", "sweep-gc-pause");
    assert!(c.errors.is_empty(), "console errors: {:?}", c.errors);
    assert!(c.svgs >= 3, "the sweep's plots are inline: {c:?}");
    assert!(c.problems.is_empty(), "SVG text that the picture does not show:\n{}", c.problems.join("\n"));
}

/// A `lin --html` page on a history from a bundled scenario (a non-linearizable run).
#[test]
fn the_lin_html_page_loads_cleanly_in_chromium() {
    let Some(bin) = chromium() else { return };
    let scratch = temp_dir("lin");
    let dir = scratch.path();
    let history = dir.join("history.json");
    let (_, stdout, stderr) = locklab(
        &["run", "scenarios/server-restart.toml", "--protocol", "lease", "--history", history.to_str().unwrap()],
        &root(),
    );
    assert!(history.is_file(), "{stdout}{stderr}");
    let page = dir.join("lin.html");
    let (code, stdout, stderr) =
        locklab(&["lin", history.to_str().unwrap(), "--html", page.to_str().unwrap()], &root());
    assert_eq!(code, 1, "the history is not linearizable: {stdout}{stderr}");
    let c = check_page(&bin, &page, "", "lin-server-restart-lease");
    assert!(c.errors.is_empty(), "console errors: {:?}", c.errors);
    assert!(c.svgs >= 1, "the lin page draws an SVG: {c:?}");
    assert!(c.problems.is_empty(), "SVG text that the picture does not show:\n{}", c.problems.join("\n"));
}

/// The test of the test: a page whose script throws, one that logs with `console.error`, and one
/// whose SVG has colliding and cut text must each fail the check.
#[test]
fn a_page_with_a_script_error_fails_the_check() {
    let Some(bin) = chromium() else { return };
    let scratch = temp_dir("broken");
    let dir = scratch.path();
    let page = dir.join("broken.html");
    std::fs::write(
        &page,
        r#"<!DOCTYPE html><html><head></head><body>
<svg width="200" height="60"><text x="10" y="20">35781012</text><text x="14" y="22">overlap</text><text x="180" y="50">cut at the edge</text></svg>
<script>document.title = "x"; notAFunction();</script>
<script>console.error("deliberate");</script>
</body></html>"#,
    )
    .unwrap();
    let c = check_page(&bin, &page, "", "broken-page");
    assert!(c.errors.iter().any(|e| e.contains("notAFunction")), "the thrown error was not caught: {c:?}");
    assert!(c.errors.iter().any(|e| e.contains("deliberate")), "console.error was not caught: {c:?}");
    assert!(c.problems.iter().any(|p| p.contains("overlaps")), "colliding text was not caught: {c:?}");
    assert!(c.problems.iter().any(|p| p.contains("outside the picture")), "cut text was not caught: {c:?}");
}

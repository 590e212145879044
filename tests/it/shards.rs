//! CI outputs: `compare --seed-start`, `--shard I/N` + `merge` (byte-identical to the unsharded
//! report), `--junit` on compare and check (parsed as the JUnit XML CI systems read), `check --json`.

use crate::{locklab, root};

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("locklab-it-shards-").tempdir().unwrap()
}

const FILTER: &[&str] = &["--scenarios", "01-gc-pause,09-lost-acquire-response,raft-keepalive-race", "--seeds", "7"];

#[test]
fn three_shards_merged_are_byte_identical_to_the_unsharded_report() {
    let dir = tmp();
    let d = |name: &str| dir.path().join(name).display().to_string();
    let whole = d("whole");
    let mut args = vec!["compare", "--out", &whole, "--quiet"];
    args.extend(FILTER);
    let (code, stdout, stderr) = locklab(&args, &root());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "--quiet prints nothing: {stdout}");
    let shard_dirs: Vec<String> = (1..=3).map(|i| d(&format!("s{i}"))).collect();
    for (i, out) in shard_dirs.iter().enumerate() {
        let shard = format!("{}/3", i + 1);
        let mut args = vec!["compare", "--out", out, "--shard", &shard];
        args.extend(FILTER);
        let (code, _, stderr) = locklab(&args, &root());
        assert_eq!(code, 0, "{stderr}");
    }
    // Merging two of three is refused, naming what is missing.
    let (code, _, stderr) = locklab(&["merge", &shard_dirs[0], &shard_dirs[2], "--out", &d("partial")], &root());
    assert_eq!(code, 2);
    assert!(stderr.contains("exactly once"), "{stderr}");
    let (code, _, stderr) = locklab(
        &["merge", &shard_dirs[2], &shard_dirs[0], &shard_dirs[1], "--out", &d("merged"), "--junit", &d("m.xml")],
        &root(),
    );
    assert_eq!(code, 0, "{stderr}");
    for file in ["comparison.md", "comparison.json"] {
        let a = std::fs::read(dir.path().join("whole").join(file)).unwrap();
        let b = std::fs::read(dir.path().join("merged").join(file)).unwrap();
        assert!(a == b, "{file} differs between the unsharded and the merged report");
    }
    let timelines = |n: &str| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path().join(n).join("timelines"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(timelines("whole"), timelines("merged"));
    // A shard of another sweep is refused.
    let other = d("other");
    let mut args = vec!["compare", "--out", &other, "--shard", "1/3", "--seeds", "8"];
    args.extend(&FILTER[..2]);
    locklab(&args, &root());
    let (code, _, stderr) =
        locklab(&["merge", &d("other"), &shard_dirs[1], &shard_dirs[2], "--out", &d("mixed")], &root());
    assert_eq!(code, 2);
    assert!(stderr.contains("another sweep"), "{stderr}");
}

#[test]
fn seed_start_runs_the_seeds_it_names() {
    let dir = tmp();
    let out = dir.path().display().to_string();
    let (code, _, stderr) = locklab(
        &["compare", "--scenarios", "01-gc-pause", "--seeds", "5", "--seed-start", "11", "--out", &out, "--quiet"],
        &root(),
    );
    assert_eq!(code, 0, "{stderr}");
    let md = std::fs::read_to_string(dir.path().join("comparison.md")).unwrap();
    assert!(md.contains("over seeds 11–15"), "{md}");
    assert!(md.contains("--seed-start 11"), "the command that reproduces the report names it");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("comparison.json")).unwrap()).unwrap();
    assert_eq!(json["seed_start"], 11);
    assert_eq!(json["seeds"], 5);
    // Each reproducing seed is in 11..=15.
    for p in json["pairs"].as_array().unwrap() {
        let seed = p["timeline_seed"].as_u64().unwrap();
        assert!((11..=15).contains(&seed), "{p}");
    }
    let (code, _, stderr) = locklab(&["compare", "--seeds", "5", "--shard", "4/3", "--out", &out], &root());
    assert_eq!(code, 2);
    assert!(stderr.contains("1 ≤ i ≤ n"), "{stderr}");
}

#[test]
fn junit_is_the_xml_ci_systems_read_with_failures_carrying_the_reproduce_command() {
    let dir = tmp();
    let scen = dir.path().join("scen");
    std::fs::create_dir_all(&scen).unwrap();
    // A scenario whose expectation is wrong on purpose: the lease variant does show a stale write.
    let text = std::fs::read_to_string(root().join("scenarios/01-gc-pause.toml")).unwrap().replacen(
        "expect = { no_stale_write = \"violated\"",
        "expect = { no_stale_write = \"holds\"",
        1,
    );
    std::fs::write(scen.join("wrong.toml"), text).unwrap();
    let xml_path = dir.path().join("junit.xml");
    let (code, _, _) = locklab(
        &[
            "compare",
            "--dir",
            &scen.display().to_string(),
            "--seeds",
            "3",
            "--out",
            &dir.path().join("out").display().to_string(),
            "--junit",
            &xml_path.display().to_string(),
        ],
        &root(),
    );
    assert_eq!(code, 1, "a missed expectation fails compare");
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suites = doc.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    let suite = suites.children().find(|n| n.has_tag_name("testsuite")).expect("a testsuite");
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(suite.attribute("tests"), Some(cases.len().to_string().as_str()));
    assert!(cases.len() >= 2);
    let failed: Vec<_> = cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("failure"))).collect();
    assert_eq!(suite.attribute("failures"), Some(failed.len().to_string().as_str()));
    assert_eq!(failed.len(), 1, "only the wrong expectation fails");
    let case = failed[0];
    assert_eq!(case.attribute("classname"), Some("wrong"));
    assert_eq!(case.attribute("name"), Some("lease"));
    let failure = case.children().find(|n| n.has_tag_name("failure")).unwrap();
    assert!(failure.attribute("message").unwrap().contains("locklab run"), "the reproduce command");
    for c in &cases {
        assert!(c.attribute("classname").is_some() && c.attribute("name").is_some());
    }
}

/// `check --json` and `--junit`: one JSON object (properties, counterexamples, state counts), and
/// one JUnit test case per property, a violated one failing with its counterexample's file.
#[test]
fn check_json_and_junit() {
    let dir = tmp();
    let xml_path = dir.path().join("check.xml");
    let out = dir.path().join("cx").display().to_string();
    let (code, stdout, stderr) =
        locklab(&["check", "lease", "--json", "--junit", &xml_path.display().to_string(), "--out", &out], &root());
    assert_eq!(code, 1, "the unfenced lease violates no-stale-write: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("--json prints one JSON object");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["complete"], true);
    let props = v["properties"].as_array().unwrap();
    assert!(props.iter().any(|p| p[0] == "no stale write" && p[2] == "VIOLATED"), "{v:#}");
    assert!(v["counterexamples"][0][1].as_str().unwrap().starts_with(&out));
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = doc.root_element().children().find(|n| n.has_tag_name("testsuite")).unwrap();
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), props.len());
    let failed = cases.iter().filter(|c| c.children().any(|n| n.has_tag_name("failure"))).count();
    assert_eq!(suite.attribute("failures"), Some(failed.to_string().as_str()));
    assert!(failed >= 1);
}

/// `check --network fifo`: the FIFO abstraction with its reduction, named in the JSON; its
/// counterexamples are real behaviours, so they replay in the simulator like any other.
#[test]
fn check_network_fifo_counterexamples_replay() {
    let dir = tmp();
    let out = dir.path().join("cx").display().to_string();
    let (code, stdout, stderr) =
        locklab(&["check", "godistlock", "--network", "fifo", "--json", "--out", &out], &root());
    assert_eq!(code, 1, "godistlock's stale write is found under the FIFO network too: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("--json prints one JSON object");
    assert_eq!((v["network"].as_str(), v["reduction"].as_bool()), (Some("fifo"), Some(true)));
    assert_eq!(v["complete"], true);
    let cxs = v["counterexamples"].as_array().unwrap();
    for property in ["no stale write", "belief mutual exclusion"] {
        let cx = cxs.iter().find(|cx| cx[0] == property).unwrap_or_else(|| panic!("{property}: {v:#}"));
        assert!(cx[2].as_str().unwrap().starts_with("reproduced"), "{cx}");
    }
    assert!(v["text"].as_str().unwrap().contains("FIFO network (partial-order reduction)"));
}

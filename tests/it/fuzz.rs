//! The scenario parser under mutation (issue 10's acceptance: a bounded fuzz test per parser; the
//! history parsers' are in `lincheck/tests/fuzz.rs`). Every bundled scenario, cut, spliced and
//! corrupted at random: parsing and compiling never panic, and every rejection names the file and
//! carries a non-empty message — with a line and column whenever the parser knows one.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn check(text: &str) {
    let file = "fuzz.toml";
    let result = locklab_sim::parse(file, text).and_then(|scenario| locklab_sim::compile(file, text, scenario));
    if let Err(e) = result {
        let shown = e.to_string();
        assert!(shown.starts_with("fuzz.toml"), "the error names the file: {shown}");
        assert!(!e.message.trim().is_empty(), "an empty message for:\n{text}");
        assert!(shown.len() < 2_000, "a short message: {} bytes", shown.len());
    }
}

#[test]
fn mutated_scenarios_never_panic_and_errors_are_located() {
    let sources: Vec<String> =
        crate::bundled_scenarios().iter().map(|f| std::fs::read_to_string(f).expect("readable")).collect();
    let mut runner = TestRunner::new(Config { cases: 600, failure_persistence: None, ..Config::default() });
    let edit = (0..sources.len(), any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0..6u8, ".{0,12}");
    runner
        .run(&edit, |(which, at, len, kind, insert)| {
            let source = &sources[which];
            let bytes = source.as_bytes();
            let start = at.index(bytes.len().max(1));
            let end = (start + len.index(64)).min(bytes.len());
            let mut text: Vec<u8> = match kind {
                0 => bytes[..start].to_vec(),                                        // cut the file here
                1 => [&bytes[..start], &bytes[end..]].concat(),                      // delete a stretch
                2 => [&bytes[..start], insert.as_bytes(), &bytes[start..]].concat(), // insert junk
                3 => [&bytes[..start], b"\r", &bytes[start..]].concat(),             // a bare CR
                4 => [&bytes[..start], b"= ", &bytes[end..]].concat(),               // a value cut off
                _ => [&bytes[..start], b"99999999999999999999", &bytes[end..]].concat(), // a huge number
            };
            // Keep the input text (the loader rejects non-UTF-8 before parsing; tested elsewhere).
            while std::str::from_utf8(&text).is_err() {
                text.pop();
            }
            check(std::str::from_utf8(&text).expect("made valid"));
            Ok(())
        })
        .expect("no panic, every error located and explained");
}

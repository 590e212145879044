//! The README's worked example is real output: every line it quotes must appear in what the
//! command prints today.

use crate::{locklab, root};

fn block_after<'a>(readme: &'a str, opening: &str) -> Vec<&'a str> {
    let start = readme.find(opening).unwrap_or_else(|| panic!("README has no `{opening}` block"));
    let body = &readme[start + opening.len()..];
    let end = body.find("```").expect("the block closes");
    body[..end].lines().collect()
}

#[test]
fn the_worked_example_matches_the_output() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (code, stdout, _) = locklab(&["run", "scenarios/01-gc-pause.toml", "--protocol", "lease"], &root());
    assert_eq!(code, 1);
    let quoted = block_after(&readme, "```console\n$ locklab run scenarios/01-gc-pause.toml --protocol lease\n");
    let mut checked = 0;
    for line in quoted {
        if line.trim() == "..." || line.starts_with('$') || line == "1" {
            continue;
        }
        assert!(stdout.lines().any(|l| l == line), "README line not in the output:\n{line}\n---\n{stdout}");
        checked += 1;
    }
    assert!(checked >= 10, "the example quotes the verdicts and the lead-up");

    let (_, trace, _) =
        locklab(&["run", "scenarios/01-gc-pause.toml", "--protocol", "lease-fenced", "--trace"], &root());
    let quoted = block_after(&readme, "```text\n");
    assert!(quoted.len() >= 8);
    for line in quoted {
        assert!(trace.lines().any(|l| l == line), "README trace line not in the trace:\n{line}");
    }
}

//! The workshop (`workshop/*.md`) walked end to end: every command it tells a room to type is run
//! with the built binary, and its outcome is checked against what the exercise's answer says.
//!
//! The annotation. Every ```` ```sh ```` block in `workshop/*.md` holds exactly one command, and
//! the next non-blank line after the block is an HTML comment (not rendered, so a reader does not
//! see it) stating the outcome:
//!
//! ```text
//! <!-- expect: exit=1; stdout~"no_stale_write    VIOLATED"; stdout!~"REJECTED"; file=gc.svg -->
//! ```
//!
//! Clauses, separated by `;` (a `;` inside quotes is text):
//!
//! * `exit=N` — the exit code (required: every command states one);
//! * `stdout~"TEXT"` / `stdout!~"TEXT"` — stdout contains / does not contain TEXT (`stderr~` too);
//! * `file=PATH` — the command wrote PATH (relative to the working directory), not empty;
//! * `file=PATH~"TEXT"` — … and it contains TEXT.
//!
//! Every `stdout~"TEXT"` must also appear, verbatim, in the exercise's `## Explain` section: the
//! answer states in words (and quotes) what the tool prints, and cannot drift from it.
//!
//! A command is a `locklab …` line, split into words as a POSIX shell would for the plain quoting
//! the workshop uses ('…', "…"); pipes, redirections, globs and variables are refused, so what the
//! test runs is exactly what a shell would run. Setup blocks in the index (the README's `cargo …`
//! lines, `export`, `mkdir`, `cp`, `cd`) are recognised by their first word and not run; an
//! exercise may not have one. Anything else in a `sh` block —
//! another program, a second command, a block without an annotation, a clause the parser does not
//! know — fails the parse, as does a `locklab` command in any other kind of block (```` ```console ````
//! …), so every command in the workshop is checked.
//!
//! Each workshop file is walked in its own temporary directory holding a copy of `scenarios/`,
//! its commands in order (a later command may read what an earlier one wrote, e.g. a history
//! for `locklab lin`). The commands bound their own work (`--seeds`, `--faults`, the checkers'
//! budgets).

use std::path::Path;

use crate::{locklab, root};

/// Programs a setup block may name; such blocks are documentation, not run.
/// Only the index and the facilitator's page may have them (an exercise's commands are all walked).
const SETUP_PROGRAMS: &[&str] = &["cargo", "export", "mkdir", "cp", "cd", "git"];

/// One clause of an `expect` annotation.
#[derive(Debug, Clone, PartialEq)]
enum Clause {
    Exit(i32),
    Stdout { text: String, present: bool },
    Stderr { text: String, present: bool },
    File { path: String, text: Option<String> },
}

/// A command to run and its expected outcome, with the Markdown line it came from.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    line: usize,
    args: Vec<String>,
    expect: Vec<Clause>,
}

/// Split a command line into words: '…' literal, "…" literal (no `$`, backslash or backtick
/// inside), refusing what a shell would interpret differently.
fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('$' | '\\' | '`') if c == '"' => {
                            return Err(format!("`$`, `\\` or a backtick inside \"…\" in `{line}`"));
                        }
                        Some(other) => word.push(other),
                        None => return Err(format!("unclosed {c} in `{line}`")),
                    }
                }
            }
            '|' | '>' | '<' | '&' | ';' | '$' | '*' | '?' | '[' | '(' | ')' | '`' | '\\' | '#' | '~' => {
                return Err(format!("unquoted `{c}` (shell syntax the walk does not run) in `{line}`"));
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Parse `exit=1; stdout~"…"; file=x.svg` (the part between `<!-- expect:` and `-->`).
fn parse_expect(body: &str) -> Result<Vec<Clause>, String> {
    // split on `;` outside double quotes
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in body.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if quoted {
        return Err(format!("unclosed quote in `{body}`"));
    }
    parts.push(current);
    let unquote = |s: &str| -> Result<String, String> {
        let s = s.trim();
        s.strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("expected a non-empty \"quoted text\", found `{s}`"))
    };
    let mut clauses = Vec::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let clause = if let Some(code) = part.strip_prefix("exit=") {
            Clause::Exit(code.trim().parse().map_err(|_| format!("bad exit code in `{part}`"))?)
        } else if let Some(text) = part.strip_prefix("stdout!~") {
            Clause::Stdout { text: unquote(text)?, present: false }
        } else if let Some(text) = part.strip_prefix("stdout~") {
            Clause::Stdout { text: unquote(text)?, present: true }
        } else if let Some(text) = part.strip_prefix("stderr!~") {
            Clause::Stderr { text: unquote(text)?, present: false }
        } else if let Some(text) = part.strip_prefix("stderr~") {
            Clause::Stderr { text: unquote(text)?, present: true }
        } else if let Some(rest) = part.strip_prefix("file=") {
            match rest.split_once('~') {
                Some((path, text)) => Clause::File { path: path.trim().to_string(), text: Some(unquote(text)?) },
                None => Clause::File { path: rest.trim().to_string(), text: None },
            }
        } else {
            return Err(format!("unknown clause `{part}` (exit=, stdout~, stdout!~, stderr~, stderr!~, file=)"));
        };
        clauses.push(clause);
    }
    if !clauses.iter().any(|c| matches!(c, Clause::Exit(_))) {
        return Err(format!("no `exit=` clause in `{body}`: every command states its exit code"));
    }
    Ok(clauses)
}

/// Every runnable step of one workshop file, in order, and how many setup blocks it has; an error
/// names the line.
fn parse(markdown: &str) -> Result<(Vec<Step>, usize), String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut steps = Vec::new();
    let mut setup_blocks = 0;
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if !fence.starts_with("```") {
            i += 1;
            continue;
        }
        let lang = fence.trim_start_matches('`').trim();
        let open = i;
        i += 1;
        let mut body = Vec::new();
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            body.push((i + 1, lines[i]));
            i += 1;
        }
        if i == lines.len() {
            return Err(format!("line {}: the code block never closes", open + 1));
        }
        i += 1; // past the closing fence
        if lang != "sh" {
            // a command in another kind of block would be shown to the room and never checked
            if let Some((n, l)) =
                body.iter().find(|(_, l)| l.trim_start().trim_start_matches("$ ").starts_with("locklab "))
            {
                return Err(format!("line {n}: `{}` is in a ```{lang} block: commands go in ```sh blocks", l.trim()));
            }
            continue;
        }
        let commands: Vec<(usize, &str)> =
            body.into_iter().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#')).collect();
        let is_setup = |l: &str| l.split_whitespace().next().is_some_and(|w| SETUP_PROGRAMS.contains(&w));
        if !commands.is_empty() && commands.iter().all(|(_, l)| is_setup(l)) {
            setup_blocks += 1; // a setup block: documentation for the room, not run here
            continue;
        }
        let [(line, command)] = commands[..] else {
            return Err(format!(
                "line {}: a `sh` block holds exactly one locklab command, found {}",
                open + 1,
                commands.len()
            ));
        };
        let mut args = shell_words(command).map_err(|e| format!("line {line}: {e}"))?;
        if args.first().map(String::as_str) != Some("locklab") {
            return Err(format!("line {line}: only `locklab …` commands are walked, found `{command}`"));
        }
        args.remove(0);
        // the annotation: the next non-blank line
        while i < lines.len() && lines[i].trim().is_empty() {
            i += 1;
        }
        let annotation = lines.get(i).map(|l| l.trim()).unwrap_or("");
        let body = annotation.strip_prefix("<!-- expect:").and_then(|b| b.strip_suffix("-->")).ok_or_else(|| {
            format!("line {line}: `{command}` has no `<!-- expect: … -->` annotation after its block")
        })?;
        let expect = parse_expect(body).map_err(|e| format!("line {}: {e}", i + 1))?;
        steps.push(Step { line, args, expect });
    }
    Ok((steps, setup_blocks))
}

/// The runnable steps of one workshop file.
fn parse_steps(markdown: &str) -> Result<Vec<Step>, String> {
    parse(markdown).map(|(steps, _)| steps)
}

/// The text of the `## Explain` section (to the next `## ` heading or the end).
fn explain_section(markdown: &str) -> Option<&str> {
    let start = markdown.find("\n## Explain")? + 1;
    let rest = &markdown[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 4);
    Some(&rest[..end])
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Run one step in `dir`; every failed clause, described.
fn run_step(step: &Step, dir: &Path) -> Vec<String> {
    let args: Vec<&str> = step.args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = locklab(&args, dir);
    let mut failures = Vec::new();
    for clause in &step.expect {
        let failed = match clause {
            Clause::Exit(want) => (code != *want).then(|| format!("exit {code}, the annotation says {want}")),
            Clause::Stdout { text, present } => (stdout.contains(text.as_str()) != *present)
                .then(|| format!("stdout {} \"{text}\"", if *present { "lacks" } else { "has" })),
            Clause::Stderr { text, present } => (stderr.contains(text.as_str()) != *present)
                .then(|| format!("stderr {} \"{text}\"", if *present { "lacks" } else { "has" })),
            Clause::File { path, text } => match std::fs::read_to_string(dir.join(path)) {
                Err(e) => Some(format!("{path} not written: {e}")),
                Ok(body) if body.is_empty() => Some(format!("{path} is empty")),
                Ok(body) => match text {
                    Some(t) if !body.contains(t.as_str()) => Some(format!("{path} lacks \"{t}\"")),
                    _ => None,
                },
            },
        };
        failures.extend(failed);
    }
    if !failures.is_empty() {
        failures.push(format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"));
    }
    failures
}

fn workshop_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("workshop"))
        .expect("workshop/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

/// The targets of the Markdown links `](target)` that point into the repository (not `http…`,
/// not `#anchor`), without their `#fragment`.
fn relative_links(markdown: &str) -> Vec<&str> {
    markdown
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target))
        .map(|target| target.split('#').next().unwrap_or(""))
        .filter(|target| !target.is_empty() && !target.starts_with("http"))
        .collect()
}

/// Exercise files: `NN-….md`.
fn is_exercise(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.as_bytes().first().is_some_and(u8::is_ascii_digit))
}

#[test]
fn every_workshop_command_gives_the_outcome_its_answer_states() {
    let started = std::time::Instant::now();
    let files = workshop_files();
    let exercises = files.iter().filter(|p| is_exercise(p)).count();
    let mut walked = 0;
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let markdown = std::fs::read_to_string(file).unwrap();
        for target in relative_links(&markdown) {
            assert!(file.parent().unwrap().join(target).exists(), "workshop/{name}: the link `{target}` leads nowhere");
        }
        let (steps, setup_blocks) = parse(&markdown).unwrap_or_else(|e| panic!("workshop/{name}: {e}"));
        if is_exercise(file) {
            assert_eq!(setup_blocks, 0, "workshop/{name}: an exercise's `sh` blocks are all walked: no setup commands");
            let mut at = 0;
            for heading in ["\n## Predict", "\n## Run", "\n## Look", "\n## Explain"] {
                let found = markdown[at..].find(heading);
                assert!(found.is_some(), "workshop/{name}: no `{}` section after the previous one", heading.trim());
                at += found.unwrap() + 1;
            }
            assert!(!steps.is_empty(), "workshop/{name}: an exercise runs at least one command");
            let explain = explain_section(&markdown).unwrap();
            for step in &steps {
                for clause in &step.expect {
                    if let Clause::Stdout { text, present: true } = clause {
                        assert!(
                            explain.contains(text.as_str()),
                            "workshop/{name} line {}: the answer (## Explain) does not quote \"{text}\", which the annotation checks",
                            step.line
                        );
                    }
                }
            }
        }
        if steps.is_empty() {
            continue;
        }
        let dir = tempfile::Builder::new().prefix("locklab-it-workshop-").tempdir().unwrap();
        copy_dir(&root().join("scenarios"), &dir.path().join("scenarios"));
        for step in &steps {
            let problems = run_step(step, dir.path());
            if !problems.is_empty() {
                failures.push(format!(
                    "workshop/{name} line {}: `locklab {}`:\n  {}",
                    step.line,
                    step.args.join(" "),
                    problems.join("\n  ")
                ));
            }
            walked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!((8..=10).contains(&exercises), "the workshop has 8–10 exercises, found {exercises}");
    assert!(walked >= exercises, "every exercise ran a command ({walked} commands)");
    eprintln!(
        "workshop: {walked} commands in {} files walked in {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_command_without_an_expectation_fails_the_parse() {
    let md = "## Run\n\n```sh\nlocklab run scenarios/01-gc-pause.toml\n```\n\nNo annotation here.\n";
    let err = parse_steps(md).unwrap_err();
    assert!(err.contains("no `<!-- expect: … -->` annotation"), "{err}");
    // … and one with an annotation parses
    let md = "```sh\nlocklab run scenarios/01-gc-pause.toml --svg 'a b.svg'\n```\n<!-- expect: exit=1; stdout~\"a; b\"; file=a b.svg~\"<svg\" -->\n";
    let steps = parse_steps(md).unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].args, ["run", "scenarios/01-gc-pause.toml", "--svg", "a b.svg"]);
    assert_eq!(
        steps[0].expect,
        [
            Clause::Exit(1),
            Clause::Stdout { text: "a; b".into(), present: true },
            Clause::File { path: "a b.svg".into(), text: Some("<svg".into()) }
        ]
    );
}

#[test]
fn the_parser_refuses_what_it_would_not_check() {
    let cases = [
        ("```sh\nlocklab run a.toml\n```\n<!-- expect: stdout~\"x\" -->\n", "no `exit=` clause"),
        ("```sh\nlocklab run a.toml\n```\n<!-- expect: exit=0; verdict=ok -->\n", "unknown clause"),
        (
            "```sh\nlocklab run a.toml\nlocklab run b.toml\n```\n<!-- expect: exit=0 -->\n",
            "exactly one locklab command",
        ),
        ("```sh\nlocklab run scenarios/*.toml\n```\n<!-- expect: exit=0 -->\n", "unquoted `*`"),
        ("```sh\nlocklab run a.toml | grep x\n```\n<!-- expect: exit=0 -->\n", "unquoted `|`"),
        ("```sh\nlockalb run a.toml\n```\n<!-- expect: exit=0 -->\n", "only `locklab …` commands"),
        ("```sh\nlocklab run a.toml\n", "never closes"),
        ("```console\n$ locklab run a.toml\n```\n", "commands go in ```sh blocks"),
    ];
    for (md, want) in cases {
        let err = parse_steps(md).expect_err(md);
        assert!(err.contains(want), "{md}\n→ {err}");
    }
    // a setup block is documentation: not run, no annotation needed
    assert_eq!(parse_steps("```sh\ncargo build --release\n```\n"), Ok(vec![]));
}

#[test]
fn a_wrong_expectation_is_reported() {
    let dir = tempfile::Builder::new().prefix("locklab-it-workshop-").tempdir().unwrap();
    copy_dir(&root().join("scenarios"), &dir.path().join("scenarios"));
    let md = "```sh\nlocklab run scenarios/01-gc-pause.toml --protocol lease-fenced\n```\n<!-- expect: exit=0; stdout~\"no_stale_write    VIOLATED\"; file=missing.svg -->\n";
    let steps = parse_steps(md).unwrap();
    let problems = run_step(&steps[0], dir.path());
    // belief overlap exits 1; the fence holds; no SVG was asked for
    assert!(problems[0].contains("exit 1, the annotation says 0"), "{problems:?}");
    assert!(problems[1].contains("stdout lacks \"no_stale_write    VIOLATED\""), "{problems:?}");
    assert!(problems[2].contains("missing.svg not written"), "{problems:?}");
}

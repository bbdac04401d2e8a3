//! Tidy: source rules for the whole workspace, checked on every test run — every Rust file
//! opens with a `//!` line saying what it holds; `unsafe` appears only under `engine/src/io/`;
//! no `todo!`, `unimplemented!` or `dbg!` is left in; no import circle between a crate's
//! top-level modules (ARCHITECTURE.md's code map calls them separate).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose sources are checked.
const CRATES: &[&str] = &["engine", "net", "node", "cli", "bench"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("engine/ has a parent")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let p = ent.path();
        let name = ent.file_name();
        if p.is_dir() {
            // Build output and Python environments are not sources.
            if name != "target" && name != ".venv" && name != "results" {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a line with `//` comments and string literals blanked (good enough for the
/// words this test looks for: it never needs to parse nested quotes in raw strings).
fn code_of(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_str = false;
    let mut prev = '\0';
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            if c == '"' && prev != '\\' {
                in_str = false;
            }
            prev = if prev == '\\' && c == '\\' { '\0' } else { c };
            out.push(' ');
            continue;
        }
        if c == '/' && chars.peek() == Some(&'/') {
            break;
        }
        if c == '"' {
            in_str = true;
            prev = '\0';
            out.push(' ');
            continue;
        }
        out.push(c);
    }
    out
}

fn has_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

#[test]
fn sources_follow_the_tidy_rules() {
    let root = workspace_root();
    let io_dir = root.join("engine/src/io");
    let mut files = Vec::new();
    for c in CRATES {
        rust_files(&root.join(c), &mut files);
    }
    assert!(
        files.len() > 50,
        "found only {} Rust files under {}: wrong root?",
        files.len(),
        root.display()
    );
    let mut problems = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let text = std::fs::read_to_string(f).expect("read a source file");
        if !text.starts_with("//!") {
            problems.push(format!(
                "{rel}: does not open with a `//!` line saying what it holds"
            ));
        }
        for (n, line) in text.lines().enumerate() {
            let code = code_of(line);
            if has_word(&code, "unsafe") && !f.starts_with(&io_dir) {
                problems.push(format!("{rel}:{}: `unsafe` outside engine/src/io/", n + 1));
            }
            for mac in ["todo!", "unimplemented!", "dbg!"] {
                if has_word(&code, &mac[..mac.len() - 1]) && code.contains(mac) {
                    problems.push(format!("{rel}:{}: `{mac}` left in", n + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn the_scanner_sees_what_it_must() {
    // Goal: the helpers above find the words in code and ignore them in comments and strings.
    assert!(has_word(&code_of("let x = unsafe { f() };"), "unsafe"));
    assert!(!has_word(&code_of("// unsafe here is a comment"), "unsafe"));
    assert!(!has_word(&code_of("let s = \"unsafe\";"), "unsafe"));
    assert!(!has_word(&code_of("#![deny(unsafe_code)]"), "unsafe"));
    assert!(has_word(&code_of("    dbg!(x);"), "dbg"));
    assert!(!has_word(&code_of("let s = \"a \\\" todo!()\";"), "todo"));
}

/// The top-level module of `file` under `src` (`a` for `src/a.rs` and `src/a/b.rs`); `None` for
/// the crate roots.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Which top-level modules each top-level module of a crate names through `crate::`.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let Some(from) = top_module(src, &f) else {
            continue;
        };
        let text = std::fs::read_to_string(&f).expect("read a source file");
        let deps = graph.entry(from.clone()).or_default();
        for line in text.lines() {
            let code = code_of(line);
            for (i, _) in code.match_indices("crate::") {
                let to: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !to.is_empty() && to != from {
                    deps.insert(to);
                }
            }
        }
    }
    graph
}

/// A cycle through `start` in `graph`, as the path of modules, if there is one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((m, path)) = stack.pop() {
        for d in graph.get(&m).into_iter().flatten() {
            if d == start {
                let mut p = path.clone();
                p.push(d.clone());
                return Some(p);
            }
            if seen.insert(d.clone()) {
                let mut p = path.clone();
                p.push(d.clone());
                stack.push((d.clone(), p));
            }
        }
    }
    None
}

#[test]
fn no_import_circles_between_top_level_modules() {
    let root = workspace_root();
    let mut problems = Vec::new();
    let mut modules = 0;
    for c in CRATES {
        let graph = module_graph(&root.join(c).join("src"));
        modules += graph.len();
        for m in graph.keys() {
            if let Some(cycle) = cycle_from(&graph, m) {
                problems.push(format!("{c}: {}", cycle.join(" -> ")));
            }
        }
    }
    assert!(
        modules > 20,
        "found only {modules} top-level modules: wrong root?"
    );
    assert!(
        problems.is_empty(),
        "import circles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle_from(&g, "a"), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle_from(&g, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

//! Guards the layering of `src/`: the modules form the stack that `src/lib.rs` documents,
//! each importing only modules below it, and no two files import each other, directly or
//! around a circle.
//!
//! An import is a `use crate::...`, `use super::...` or `use self::...` item, or an inline
//! `crate::a::b` / `super::a` path, in code outside `#[cfg(test)]`. A mod.rs re-exporting
//! its children (`pub use child::Item`) is not an import of them. This reads source text
//! rather than compiler output, so it runs anywhere `cargo test` does.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The module stack from `src/lib.rs`'s doc comment, bottom first: the first word of each
/// line of its ```text block that does not start with a space.
fn layers() -> Vec<String> {
    let lib = fs::read_to_string(Path::new(SRC).join("lib.rs")).unwrap();
    let doc: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = doc
        .iter()
        .position(|l| *l == "```text")
        .expect("a ```text block in lib.rs");
    doc[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with("```"))
        .filter(|l| !l.is_empty() && !l.starts_with(' '))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// Every `.rs` file under `src/`, sorted.
fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::from(SRC)];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module path of a file: `src/builder/stage.rs` is `[builder, stage]`,
/// `src/builder/mod.rs` is `[builder]`, `src/lib.rs` and `src/main.rs` are `[]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(SRC).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// `src` without comments and without everything from its first `#[cfg(test)]` on (test
/// modules come last in our files).
fn code(src: &str) -> String {
    let end = src.find("#[cfg(test)]").unwrap_or(src.len());
    src[..end]
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a use tree without whitespace (`a::{b,c::{d,e}}`) into its paths.
fn expand_use(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let (prefix, inner) = (&tree[..open], &tree[open + 1..tree.len() - 1]);
    let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
    for ch in inner.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    parts.push(current);
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand_use(p))
        .map(|p| format!("{prefix}{p}"))
        .collect()
}

/// The paths a file's code names through `crate`, `super` or `self`.
fn imported_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    // The code with its use items taken out, for the inline paths.
    let mut other = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
            // `x as y` names x; the alias is dropped before whitespace goes.
            let marked = tail[..end].replace(" as ", "@");
            let mut tree = String::new();
            let mut alias = false;
            for c in marked.chars().filter(|c| !c.is_whitespace()) {
                alias = match c {
                    '@' => true,
                    c if alias && (c.is_alphanumeric() || c == '_') => true,
                    _ => false,
                };
                if !alias {
                    tree.push(c);
                }
            }
            paths.extend(expand_use(&tree));
            other.push_str(&rest[..at]);
        } else {
            other.push_str(&rest[..at + 4 + end]);
        }
        rest = &tail[end.min(tail.len())..];
    }
    other.push_str(rest);
    let code = other.as_str();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let len = code[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(code.len() - at);
            paths.push(code[at..at + len].trim_end_matches(':').to_owned());
        }
    }
    paths
}

/// The module a path names, from the module of the file it is written in.
fn resolve(path: &str, here: &[String]) -> Option<Vec<String>> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let (mut base, rest): (Vec<String>, &[&str]) = match *segments.first()? {
        "crate" => (Vec::new(), &segments[1..]),
        "self" => (here.to_vec(), &segments[1..]),
        "super" => (here.to_vec(), &segments[..]),
        _ => return None,
    };
    let mut rest = rest;
    // `super` is the parent of the file's module (for a mod.rs, of its directory's).
    while rest.first() == Some(&"super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().map(|s| (*s).to_owned()));
    Some(base)
}

/// The file holding the longest prefix of `module` that is a file of `src/`.
fn file_of(module: &[String], files: &BTreeSet<PathBuf>) -> Option<PathBuf> {
    (1..=module.len()).rev().find_map(|n| {
        let base = Path::new(SRC).join(module[..n].join("/"));
        [base.with_extension("rs"), base.join("mod.rs")]
            .into_iter()
            .find(|f| files.contains(f))
    })
}

/// Imports between files and between top-level modules.
struct Graph {
    files: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    modules: BTreeMap<String, BTreeSet<String>>,
}

fn graph() -> Graph {
    let all: BTreeSet<PathBuf> = sources().into_iter().collect();
    let mut graph = Graph {
        files: BTreeMap::new(),
        modules: BTreeMap::new(),
    };
    for file in &all {
        let here = module_path(file);
        let code = code(&fs::read_to_string(file).unwrap());
        for path in imported_paths(&code) {
            let Some(target) = resolve(&path, &here) else {
                continue;
            };
            let (Some(from), Some(to)) = (here.first(), target.first()) else {
                continue;
            };
            if from != to {
                graph
                    .modules
                    .entry(from.clone())
                    .or_default()
                    .insert(to.clone());
            }
            if let Some(to_file) = file_of(&target, &all) {
                if &to_file != file {
                    graph.files.entry(file.clone()).or_default().insert(to_file);
                }
            }
        }
    }
    graph
}

/// One circle of `edges`, if there is any (depth-first search for a back edge).
fn find_circle<T: Ord + Clone>(edges: &BTreeMap<T, BTreeSet<T>>) -> Option<Vec<T>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    let mut marks: BTreeMap<T, Mark> = BTreeMap::new();
    for start in edges.keys() {
        if marks.contains_key(start) {
            continue;
        }
        // Iterative, so a long chain cannot overflow the stack.
        let mut stack: Vec<(T, Vec<T>)> =
            vec![(start.clone(), edges[start].iter().cloned().collect())];
        marks.insert(start.clone(), Mark::Open);
        while let Some((node, next)) = stack.last_mut() {
            let Some(to) = next.pop() else {
                marks.insert(node.clone(), Mark::Done);
                stack.pop();
                continue;
            };
            match marks.get(&to) {
                Some(Mark::Open) => {
                    let from = stack.iter().position(|(n, _)| *n == to).unwrap();
                    return Some(stack[from..].iter().map(|(n, _)| n.clone()).collect());
                }
                Some(Mark::Done) => {}
                None => {
                    marks.insert(to.clone(), Mark::Open);
                    let next = edges
                        .get(&to)
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default();
                    stack.push((to, next));
                }
            }
        }
    }
    None
}

#[test]
fn lib_rs_documents_every_module_once() {
    let layers = layers();
    let lib = fs::read_to_string(Path::new(SRC).join("lib.rs")).unwrap();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect();
    let documented: BTreeSet<String> = layers.iter().cloned().collect();
    assert_eq!(
        documented.len(),
        layers.len(),
        "a module is listed twice: {layers:?}"
    );
    assert_eq!(
        declared, documented,
        "lib.rs's module table and its `pub mod` lines differ"
    );
}

#[test]
fn modules_import_only_modules_below_them() {
    let layers = layers();
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut wrong = Vec::new();
    for (from, tos) in &graph().modules {
        for to in tos {
            let (Some(f), Some(t)) = (rank.get(from.as_str()), rank.get(to.as_str())) else {
                wrong.push(format!("{from} -> {to}: not in lib.rs's module table"));
                continue;
            };
            if t >= f {
                wrong.push(format!("{from} imports {to}, which lib.rs puts above it"));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_circle_between_files() {
    let files = graph().files;
    if let Some(circle) = find_circle(&files) {
        let names: Vec<String> = circle
            .iter()
            .map(|f| f.strip_prefix(SRC).unwrap().display().to_string())
            .collect();
        panic!(
            "files import each other in a circle: {}",
            names.join(" -> ")
        );
    }
}

#[test]
fn the_guard_sees_circles_and_nested_imports() {
    // The checker itself: a circle is found, nested use trees are expanded.
    let edges: BTreeMap<u8, BTreeSet<u8>> = [
        (1, [2].into()),
        (2, [3].into()),
        (3, [1].into()),
        (4, [1].into()),
    ]
    .into();
    let circle = find_circle(&edges).unwrap();
    assert_eq!(circle.len(), 3);
    assert_eq!(
        find_circle(&BTreeMap::from([(1u8, BTreeSet::from([2u8]))])),
        None
    );
    assert_eq!(
        imported_paths("use crate::a::{b as x, c::{d, e}};\nfn f() { super::g::h(); }"),
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "super::g::h"
        ]
    );
    let here = ["builder".to_owned(), "stage".to_owned()];
    assert_eq!(
        resolve("super::exec::Executor", &here).unwrap(),
        ["builder", "exec", "Executor"]
    );
}

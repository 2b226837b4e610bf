//! The crate's layering, checked from its source: every module uses only modules of its own
//! layer or the layers before it, and no two modules use each other — neither the top-level
//! modules nor the modules inside any folder. `src/lib.rs` lists the layers; `docs/architecture.md`
//! draws them.
//!
//! Edges are read from `crate::…` and `super::…` paths in code outside `#[cfg(test)]` modules
//! (tests may reach anywhere).
//!
//! One rule of the hot path is checked from the source here too: a deserialised
//! `Option<Cow<str>>` borrows through `json::opt_cow` (serde's own allocates every string).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers in order; a module may use modules of its own layer and the ones before it.
const LAYERS: &[&[&str]] = &[
    &["error", "http", "json", "usage"],
    &["anthropic", "bedrock", "eventstream", "openai", "sigv4"],
    &["translate"],
    &["access", "credentials", "config", "limits", "metrics"],
    &["pipeline"],
    &["filter"],
];

/// A module of the crate: its path below `crate` (`["translate", "chat", "stream"]`).
type ModPath = Vec<String>;

fn layer_of(top: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&top))
        .unwrap_or_else(|| panic!("module `{top}` is in no layer of tests/layers.rs"))
}

/// Every `.rs` file under `dir` with the module path it defines.
fn modules(dir: &Path, prefix: &ModPath, out: &mut Vec<(ModPath, PathBuf)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            let mut p = prefix.clone();
            p.push(name);
            modules(&path, &p, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut p = prefix.clone();
            if name != "mod" && name != "lib" {
                p.push(name);
            }
            out.push((p, path));
        }
    }
}

/// The file without its `#[cfg(test)]` items (test modules and test-support modules).
fn non_test_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            // Skip the next item: a `mod x;` line, or a braced block up to its closing brace.
            let mut depth = 0i32;
            for item in lines.by_ref() {
                depth += item.matches('{').count() as i32 - item.matches('}').count() as i32;
                if depth <= 0 && (item.trim_end().ends_with(';') || item.trim_end().ends_with('}'))
                {
                    break;
                }
            }
            continue;
        }
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The module paths `file` (module `me`) refers to, as written: `crate::a::b`, `super::x`.
fn references(me: &ModPath, code: &str) -> Vec<ModPath> {
    let mut refs = Vec::new();
    let bytes = code.as_bytes();
    for (kw, base) in [("crate::", 0usize), ("super::", 1usize)] {
        let mut from = 0;
        while let Some(i) = code[from..].find(kw) {
            let at = from + i;
            from = at + kw.len();
            // Not part of a longer identifier (`$crate::`, `my_super::`).
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b'$')
            {
                continue;
            }
            let rest: String = code[from..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut segs = rest.split("::").filter(|s| !s.is_empty()).peekable();
            // `super` is the parent module: `a` for both `a/b.rs` and `a/b/mod.rs`.
            let mut up = base;
            while segs.next_if_eq(&"super").is_some() {
                up += 1;
            }
            let mut path: ModPath = if base == 0 {
                Vec::new()
            } else {
                me[..me.len().saturating_sub(up)].to_vec()
            };
            path.extend(segs.map(str::to_string));
            refs.push(path);
        }
    }
    refs
}

/// The module a path lands in: its longest prefix that is a module of the crate.
fn resolve(path: &ModPath, known: &BTreeSet<ModPath>) -> Option<ModPath> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| known.contains(p))
}

fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(i) = stack.iter().position(|s| s == n) {
            found.push(stack[i..].to_vec());
            return;
        }
        if done.contains(n) {
            return;
        }
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, stack, done, found);
        }
        stack.pop();
        done.insert(n.to_string());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        visit(n, edges, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn layers_hold_and_no_modules_use_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    modules(&src, &Vec::new(), &mut files);
    let known: BTreeSet<ModPath> = files.iter().map(|(p, _)| p.clone()).collect();
    // Sibling edges, per parent module: parent → (child → children it uses).
    let mut siblings: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut problems = Vec::new();
    for (me, file) in &files {
        if me.is_empty() {
            continue;
        }
        let code = non_test_code(&fs::read_to_string(file).unwrap());
        for target in references(me, &code) {
            let Some(target) = resolve(&target, &known) else {
                continue;
            };
            // Layers between top-level modules.
            let (a, b) = (&me[0], &target[0]);
            if a != b && layer_of(b) > layer_of(a) {
                problems.push(format!(
                    "{} uses {}: layer {} may not use layer {}",
                    me.join("::"),
                    target.join("::"),
                    layer_of(a),
                    layer_of(b)
                ));
            }
            // The two modules as siblings under their closest common parent.
            let common = me.iter().zip(&target).take_while(|(x, y)| x == y).count();
            if let (Some(x), Some(y)) = (me.get(common), target.get(common)) {
                siblings
                    .entry(me[..common].to_vec())
                    .or_default()
                    .entry(x.clone())
                    .or_default()
                    .insert(y.clone());
            }
        }
    }
    for (parent, edges) in &siblings {
        for cycle in cycles(edges) {
            problems.push(format!(
                "modules of `crate{}{}` use each other: {}",
                if parent.is_empty() { "" } else { "::" },
                parent.join("::"),
                cycle.join(" → ")
            ));
        }
    }
    let top = siblings
        .get(&Vec::new())
        .map_or(0, |e| e.values().map(BTreeSet::len).sum::<usize>());
    assert!(
        top > 20,
        "the scan found {top} edges between top-level modules: is it reading src/?"
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn optional_strings_are_borrowed() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    modules(&src, &Vec::new(), &mut files);
    let mut fields = 0;
    let mut problems = Vec::new();
    for (_, file) in &files {
        let code = non_test_code(&fs::read_to_string(file).unwrap());
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let field = line.trim_start().trim_start_matches("pub ");
            if !(field.contains(": Option<Cow<'") && field.ends_with(", str>>,")) {
                continue;
            }
            // The attributes right above the field.
            let attrs: Vec<&str> = lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim())
                .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
                .collect();
            if !attrs
                .iter()
                .any(|a| a.starts_with("#[serde(") && a.contains("borrow"))
            {
                continue; // serialised only
            }
            fields += 1;
            if !attrs
                .iter()
                .any(|a| a.contains("deserialize_with = \"crate::json::opt_cow\""))
            {
                problems.push(format!("{}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        fields > 50,
        "the scan found {fields} fields: is it reading src/?"
    );
    assert!(
        problems.is_empty(),
        "add `deserialize_with = \"crate::json::opt_cow\"` (and `default`):\n{}",
        problems.join("\n")
    );
}

//! The module layout's rules, checked on the source itself (README, "Layout"):
//! `config/` is a leaf that imports nothing else of the crate, nothing under `sources/`
//! imports `api/`, and the top-level modules import each other without a circle.
//! It reads every `crate::<module>` path in `agent/` (comments aside), so a new import that
//! breaks a rule fails `cargo test`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read agent/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`agent/rules/group.rs` → `rules`).
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).expect("under agent/");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.strip_suffix(".rs").unwrap_or(&name).to_string()
}

/// Every `crate::<module>` a file names outside comments.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
        // `use crate::{a, b}` names several.
        if let Some(i) = code.find("crate::{") {
            let inner = &code[i + "crate::{".len()..];
            for part in inner.split([',', '}']) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// Top-level module → the modules it imports.
type Edges = BTreeMap<String, BTreeSet<String>>;
/// Each file and the modules it names.
type Files = Vec<(PathBuf, BTreeSet<String>)>;

fn graph() -> (Edges, Files) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("agent");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut per_file = Vec::new();
    for f in files {
        let module = module_of(&root, &f);
        if module == "main" || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read source");
        let used = imports(&text);
        let entry = edges.entry(module.clone()).or_default();
        entry.extend(used.iter().filter(|m| **m != module).cloned());
        per_file.push((f, used));
    }
    (edges, per_file)
}

#[test]
fn config_is_a_leaf() {
    let (edges, _) = graph();
    let config = edges.get("config").cloned().unwrap_or_default();
    assert!(
        config.is_empty(),
        "agent/config/ must import nothing else of the crate; it imports {config:?}"
    );
}

#[test]
fn sources_do_not_import_the_api() {
    let (_, files) = graph();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("agent");
    for (f, used) in files {
        if module_of(&root, &f) == "sources" {
            assert!(
                !used.contains("api") && !used.contains("daemon"),
                "{} imports a stage above it: {used:?}",
                f.display()
            );
        }
    }
}

#[test]
fn top_level_modules_import_each_other_without_a_circle() {
    let (edges, _) = graph();
    // Depth-first search for a back edge; the circle found is printed whole.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut circle = path[i..].to_vec();
            circle.push(m.to_string());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(circle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            panic!(
                "import circle between top-level modules: {}",
                circle.join(" -> ")
            );
        }
    }
}

//! The floors and the import graph, read with a real parser (issue 37 §3): every path that names
//! another part of the crate — `use crate::…` in any form (`{a, b}`, `self`, renames, globs),
//! `super::…`, and `crate::…` written out in code, types and patterns — is resolved to the file
//! it reaches. A module may reach only a floor below its own (ARCHITECTURE.md's table, one floor
//! per line, top first); no two files reach each other, however indirectly; ARCHITECTURE.md
//! names no file that does not exist.

use crate::support::repo;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// Every source file: its path under `src/`, its module path (`web/pages.rs` → `web::pages`,
/// `web/mod.rs` → `web`, `lib.rs` → ``).
fn files() -> BTreeMap<Vec<String>, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = repo().join("src");
    let mut paths = Vec::new();
    walk(&src, &mut paths);
    let mut out = BTreeMap::new();
    for p in paths {
        let rel = p.strip_prefix(&src).unwrap();
        let mut parts: Vec<String> = rel
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect();
        if matches!(
            parts.last().map(String::as_str),
            Some("mod") | Some("lib") | Some("main")
        ) && (parts.len() > 1 || parts[0] != "main")
        {
            parts.pop();
        }
        out.insert(parts, rel.to_path_buf());
    }
    out
}

/// The paths a file names, each as the module path it starts from plus its segments.
struct Names {
    /// The module the visitor is in (the file's, then inline `mod`s).
    here: Vec<String>,
    found: Vec<(Vec<String>, usize)>,
}

impl Names {
    fn add(&mut self, segments: Vec<String>, line: usize) {
        let Some(first) = segments.first() else {
            return;
        };
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "super" => {
                let mut b = self.here.clone();
                b.pop();
                b
            }
            "self" => self.here.clone(),
            _ => return,
        };
        let mut rest = segments[1..].iter().peekable();
        while rest.peek().is_some_and(|s| *s == "super") {
            base.pop();
            rest.next();
        }
        base.extend(rest.cloned());
        self.found.push((base, line));
    }

    fn use_tree(&mut self, prefix: Vec<String>, tree: &syn::UseTree, line: usize) {
        match tree {
            syn::UseTree::Path(p) => {
                let mut next = prefix;
                next.push(p.ident.to_string());
                self.use_tree(next, &p.tree, line);
            }
            syn::UseTree::Name(n) => {
                let mut all = prefix;
                if n.ident != "self" {
                    all.push(n.ident.to_string());
                }
                self.add(all, line);
            }
            syn::UseTree::Rename(r) => {
                let mut all = prefix;
                if r.ident != "self" {
                    all.push(r.ident.to_string());
                }
                self.add(all, line);
            }
            syn::UseTree::Glob(_) => self.add(prefix, line),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix.clone(), t, line);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Names {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let line = u.use_token.span.start().line;
        self.use_tree(Vec::new(), &u.tree, line);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let line = p
            .segments
            .first()
            .map(|s| s.ident.span().start().line)
            .unwrap_or(0);
        self.add(segments, line);
        syn::visit::visit_path(self, p);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        // Unit tests (`#[cfg(test)] mod tests`) may reach anything of their module's.
        let test = m.attrs.iter().any(|a| {
            a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
        });
        if m.content.is_some() && !test {
            self.here.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.here.pop();
        }
    }
}

/// The file a module path reaches: its longest prefix that is a file.
fn file_of<'f>(
    files: &'f BTreeMap<Vec<String>, PathBuf>,
    path: &[String],
) -> Option<(&'f Vec<String>, &'f PathBuf)> {
    (0..=path.len())
        .rev()
        .find_map(|n| files.get_key_value(&path[..n]))
}

/// Every edge file → file of the crate (with the line that makes it), but a file to itself.
fn edges() -> BTreeMap<PathBuf, BTreeMap<PathBuf, usize>> {
    let files = files();
    let mut out: BTreeMap<PathBuf, BTreeMap<PathBuf, usize>> = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(repo().join("src").join(path)).unwrap();
        let ast = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{}: does not parse: {e}", path.display()));
        let mut names = Names {
            here: module.clone(),
            found: Vec::new(),
        };
        names.visit_file(&ast);
        let entry = out.entry(path.clone()).or_default();
        for (target, line) in names.found {
            if let Some((_, to)) = file_of(&files, &target)
                && to != path
                && !is_parent(to, path)
            {
                entry.entry(to.clone()).or_insert(line);
            }
        }
    }
    out
}

/// Whether `parent` is the `mod.rs` (or `lib.rs`) that declares `child`'s module: reaching the
/// module's own facade is not an import of another part (`super::Thing` from a submodule).
fn is_parent(parent: &Path, child: &Path) -> bool {
    let is_facade = parent
        .file_name()
        .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
    is_facade
        && parent
            .parent()
            .is_some_and(|dir| child.parent() == Some(dir) && child != parent)
}

/// The top module of a file (`web/pages.rs` → `web`, `cli.rs` → `cli`).
fn top(path: &Path) -> String {
    path.components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// Strongly connected groups of more than one file (Tarjan).
fn circles(graph: &BTreeMap<PathBuf, BTreeMap<PathBuf, usize>>) -> Vec<Vec<PathBuf>> {
    struct T<'g> {
        graph: &'g BTreeMap<PathBuf, BTreeMap<PathBuf, usize>>,
        index: BTreeMap<&'g PathBuf, usize>,
        low: BTreeMap<&'g PathBuf, usize>,
        stack: Vec<&'g PathBuf>,
        on: BTreeSet<&'g PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn strong<'g>(t: &mut T<'g>, v: &'g PathBuf) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        if let Some(next) = t.graph.get(v) {
            for w in next.keys() {
                if !t.index.contains_key(w) {
                    strong(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut group = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                group.push(w.clone());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                t.out.push(group);
            }
        }
    }
    let mut t = T {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            strong(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_two_files_reach_each_other() {
    let graph = edges();
    let found: Vec<String> = circles(&graph)
        .iter()
        .map(|group| {
            let names: Vec<String> = group.iter().map(|p| p.display().to_string()).collect();
            format!("import circle: {}", names.join(" ↔ "))
        })
        .collect();
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn every_module_reaches_only_floors_below_its_own() {
    let floors = crate::architecture::floors();
    let mut wrong = Vec::new();
    for (from, to) in edges() {
        let me = top(&from);
        if me == "main" || me == "lib" {
            continue;
        }
        let Some(&mine) = floors.get(&me) else {
            wrong.push(format!(
                "src/{}: module {me} is in no floor",
                from.display()
            ));
            continue;
        };
        for (target, line) in to {
            let them = top(&target);
            if them == me || them == "lib" {
                continue;
            }
            match floors.get(&them) {
                Some(&theirs) if theirs <= mine => wrong.push(format!(
                    "src/{}:{line}: {me} (floor {mine}) reaches src/{} ({them}, floor {theirs}): not below",
                    from.display(),
                    target.display()
                )),
                None => wrong.push(format!(
                    "src/{}:{line}: {them} is in no floor",
                    from.display()
                )),
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n({} in all)",
        wrong.join("\n"),
        wrong.len()
    );
}

/// Every source file ARCHITECTURE.md names (`src/…`, a module's `name.rs` or `dir/name.rs`, a
/// test file) exists — as a module's file (`web.rs` may be `web/mod.rs`) or under `src/` or
/// `tests/` with that ending (the text names a module's files in its module's sentence).
#[test]
fn architecture_names_only_files_that_exist() {
    let doc = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let mut all = Vec::new();
    for dir in ["src", "tests"] {
        let mut stack = vec![repo().join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    all.push(format!("/{}", p.strip_prefix(repo()).unwrap().display()));
                }
            }
        }
    }
    let mut missing = BTreeSet::new();
    for part in doc.split('`').skip(1).step_by(2) {
        let name = part.trim_start_matches("src/");
        let looks_like_file = name.ends_with(".rs") && !name.contains(' ') && !name.contains('*');
        if !looks_like_file {
            continue;
        }
        let folder = format!("/{}/mod.rs", name.trim_end_matches(".rs"));
        let found = all
            .iter()
            .any(|f| f.ends_with(&format!("/{name}")) || f.ends_with(&folder));
        if !found && !repo().join(name).exists() {
            missing.insert(name.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names files that do not exist: {missing:?}"
    );
}

/// The tests the text names (`file::test_name`, a file of `tests/it/`) and whether each exists.
fn named_tests(text: &str) -> Vec<(String, bool)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|part| {
            let (file, name) = part.split_once("::")?;
            let plain = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            };
            // A test of tests/it/<file>.rs, or a unit test of src/<file>.rs (or <file>/mod.rs).
            let mut homes = vec![
                repo().join("tests/it").join(format!("{file}.rs")),
                repo().join("src").join(format!("{file}.rs")),
            ];
            // A module folder: any of its files (`notify::deliver_due` is in notify/deliver.rs).
            if let Ok(rd) = std::fs::read_dir(repo().join("src").join(file)) {
                homes.extend(rd.flatten().map(|e| e.path()));
            }
            let known = homes.iter().any(|h| h.exists());
            (plain(file) && plain(name) && name.contains('_') && known).then(|| {
                let found = homes.iter().any(|h| {
                    std::fs::read_to_string(h)
                        .is_ok_and(|body| body.contains(&format!("fn {name}(")))
                });
                (part.to_string(), found)
            })
        })
        .collect()
}

/// Every invariant ARCHITECTURE.md states (a bullet with *Invariant*) names a test beside it, and
/// every test it names exists.
#[test]
fn every_invariant_names_a_test_that_exists() {
    let doc = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    // Bullets: a line starting "- " and the indented lines under it.
    let mut bullets: Vec<String> = Vec::new();
    for line in doc.lines() {
        if line.starts_with("- ")
            || bullets.is_empty()
            || line.trim().is_empty()
            || line.starts_with('#')
        {
            bullets.push(line.to_string());
        } else if let Some(last) = bullets.last_mut() {
            last.push('\n');
            last.push_str(line);
        }
    }
    let mut wrong = Vec::new();
    for b in &bullets {
        let named = named_tests(b);
        for (t, exists) in &named {
            if !exists {
                wrong.push(format!("names a test that does not exist: {t}"));
            }
        }
        if b.contains("*Invariant") && named.is_empty() {
            let head: String = b.chars().take(90).collect();
            wrong.push(format!("states an invariant and names no test: {head}…"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n({} in all)",
        wrong.join("\n"),
        wrong.len()
    );
}

/// README's table of the texts people receive names exactly the values each template gets — its
/// type's fields besides `title`, `city` and `office` (`src/texts/contexts.rs`,
/// `src/texts/documents.rs`) — and every template: one fact, written in the code, read back here.
#[test]
fn the_readme_lists_each_templates_values() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme
        .find("### Texts people receive")
        .expect("the section")..];
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .flat_map(|t| t.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let mut seen = Vec::new();
    let mut wrong = Vec::new();
    for line in section
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with('|'))
    {
        let cells: Vec<&str> = line.split('|').collect();
        let (names, values) = (ticked(cells[1]), ticked(cells[3]));
        let mut values: Vec<String> = values.into_iter().filter(|v| !v.contains('.')).collect();
        values.sort();
        values.dedup();
        for name in names {
            let example = fayuan::texts::example(&name);
            let mut keys: Vec<String> = example
                .try_iter()
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .map(|k| k.to_string())
                .filter(|k| !["title", "city", "office"].contains(&k.as_str()))
                .collect();
            keys.sort();
            if keys != values {
                wrong.push(format!("{name}: README {values:?}, the type {keys:?}"));
            }
            seen.push(name);
        }
    }
    seen.sort();
    let mut all: Vec<String> = fayuan::texts::names()
        .into_iter()
        .map(String::from)
        .collect();
    all.sort();
    assert_eq!(seen, all, "every template in the table, once");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

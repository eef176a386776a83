//! The layering of the workspace, checked from the sources: no module of a library crate
//! imports, directly or through others, a module that imports it back (the pass registry is
//! the one cycle allowed: `passes::pass` lists the passes and every pass implements its
//! trait). A module is a file; an inline module (`mod simd { .. }`) belongs to its file, and
//! `#[cfg(test)]` modules are left out.
//!
//! A reference is a path the code names: `crate::a::b`, `super::x`, `self::child::x`, or a
//! child module's name (`data::fill`) in its parent. It points at the longest prefix of the
//! path that is a module, so `crate::kernels::call` from `kernels/data.rs` is an edge from
//! `kernels::data` to `kernels`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The strongly connected components that may be cycles: the pass registry.
const ALLOWED: &[(&str, &str)] = &[("passes", "pass")];

#[test]
fn no_library_crate_has_an_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for krate in library_crates(root) {
        let graph = Graph::of_crate(&root.join(&krate).join("src"));
        for component in graph.cycles() {
            if ALLOWED.iter().any(|(k, m)| *k == krate && component.contains(*m)) {
                continue;
            }
            let edges: Vec<String> = graph
                .edges
                .iter()
                .filter(|(a, b)| component.contains(a) && component.contains(b))
                .map(|(a, b)| format!("    {a} -> {b}"))
                .collect();
            found.push(format!("{krate}: {:?}\n{}", component, edges.join("\n")));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_checker_sees_a_cycle_between_a_parent_and_its_child() {
    let dir = std::env::temp_dir().join(format!("daphne-layers-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("kernels")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod kernels;\n").unwrap();
    std::fs::write(dir.join("kernels/mod.rs"), "pub mod data;\npub fn call() { data::fill() }\n// crate::nothing\n")
        .unwrap();
    std::fs::write(dir.join("kernels/data.rs"), "use super::{call};\npub fn fill() { let s = \"crate::x\"; }\n")
        .unwrap();
    let graph = Graph::of_crate(&dir);
    assert_eq!(graph.cycles(), vec![BTreeSet::from(["kernels".to_owned(), "kernels::data".to_owned()])]);
    std::fs::write(dir.join("kernels/data.rs"), "#[cfg(test)]\nmod tests {\n    use super::*;\n}\npub fn fill() {}\n")
        .unwrap();
    assert!(Graph::of_crate(&dir).cycles().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The workspace members with a `src/lib.rs`.
fn library_crates(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let line = manifest.lines().find(|l| l.trim_start().starts_with("members")).expect("a members line");
    let members: Vec<String> = line
        .split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, m)| m.to_owned())
        .filter(|m| root.join(m).join("src/lib.rs").exists())
        .collect();
    assert!(members.len() >= 5, "members: {members:?}");
    members
}

struct Graph {
    modules: BTreeSet<String>,
    edges: BTreeSet<(String, String)>,
}

impl Graph {
    fn of_crate(src: &Path) -> Graph {
        let mut files = BTreeMap::new();
        collect(src, src, &mut files);
        // Generated modules (`lalrpop_mod!(pub grammar)`) are modules without text of ours.
        let generated: Vec<String> = files
            .iter()
            .flat_map(|(module, text)| {
                text.match_indices("lalrpop_mod!(").filter_map(move |(at, _)| {
                    let args = &text[at + "lalrpop_mod!(".len()..];
                    let mut depth = 1;
                    let end = args.find(|c| {
                        depth += match c {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })?;
                    let name = args[..end].split([',', ' ', '\n', ']']).rfind(|s| !s.trim().is_empty())?.trim();
                    Some(if module == "crate" { name.to_owned() } else { format!("{module}::{name}") })
                })
            })
            .collect();
        for g in generated {
            files.insert(g, String::new());
        }
        let modules: BTreeSet<String> = files.keys().cloned().collect();
        let mut edges = BTreeSet::new();
        for (module, text) in &files {
            for target in references(module, &strip(text), &modules) {
                if &target != module {
                    edges.insert((module.clone(), target));
                }
            }
        }
        Graph { modules, edges }
    }

    /// The strongly connected components of more than one module (Tarjan's algorithm).
    fn cycles(&self) -> Vec<BTreeSet<String>> {
        struct State<'a> {
            graph: &'a Graph,
            index: BTreeMap<&'a str, usize>,
            low: BTreeMap<&'a str, usize>,
            stack: Vec<&'a str>,
            out: Vec<BTreeSet<String>>,
        }
        fn visit<'a>(s: &mut State<'a>, v: &'a str) {
            let n = s.index.len();
            s.index.insert(v, n);
            s.low.insert(v, n);
            s.stack.push(v);
            let graph = s.graph;
            for (_, w) in graph.edges.iter().filter(|(a, _)| a == v) {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.stack.contains(&w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if s.low[v] == s.index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = s.stack.pop() {
                    component.insert(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    s.out.push(component);
                }
            }
        }
        let mut s =
            State { graph: self, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), out: Vec::new() };
        for m in &self.modules {
            if !s.index.contains_key(m.as_str()) {
                visit(&mut s, m);
            }
        }
        s.out
    }
}

/// Every `.rs` file under `dir` by module path (`kernels::data`; the crate root is `crate`).
fn collect(src: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path: PathBuf = entry.unwrap().path();
        if path.is_dir() {
            collect(src, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            let name = if parts.is_empty() { "crate".to_owned() } else { parts.join("::") };
            out.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The text without comments, string and character literals (each literal left as `""`), and
/// without `#[cfg(test)]` modules.
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let next = skip_literal(text, i);
        if next != i {
            if !text[i..].starts_with("//") && !text[i..].starts_with("/*") {
                out.push_str("\"\"");
            }
            i = next;
        } else if text[i..].starts_with("#[cfg(test)]") {
            let after = i + "#[cfg(test)]".len();
            let rest = text[after..].trim_start();
            let body = rest.find('{').filter(|&n| rest.starts_with("mod ") && !rest[..n].contains(';'));
            match body {
                Some(n) => i = matching_brace(text, after + (text[after..].len() - rest.len()) + n),
                None => {
                    out.push_str("#[cfg(test)]");
                    i = after;
                }
            }
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The position after the brace that closes the one at `open`, skipping braces in comments
/// and literals.
fn matching_brace(text: &str, open: usize) -> usize {
    let inner = strip(&text[open + 1..]);
    // `strip` keeps every brace outside comments and literals, in order: find how many
    // braces of the stripped text close this block, then the same brace in the original.
    let mut depth = 1;
    let mut braces = 0;
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => continue,
        }
        braces += 1;
        if depth == 0 {
            break;
        }
    }
    let mut i = open + 1;
    while braces > 0 && i < text.len() {
        let next = skip_literal(text, i);
        if next != i {
            i = next;
            continue;
        }
        if matches!(text.as_bytes()[i], b'{' | b'}') {
            braces -= 1;
        }
        i += 1;
    }
    i
}

/// The position after a comment or literal starting at `i`, or `i` if none starts there.
fn skip_literal(text: &str, i: usize) -> usize {
    let b = text.as_bytes();
    let rest = &text[i..];
    if rest.starts_with("//") {
        rest.find('\n').map_or(b.len(), |n| i + n)
    } else if let Some(comment) = rest.strip_prefix("/*") {
        comment.find("*/").map_or(b.len(), |n| i + n + 4)
    } else if b[i] == b'r'
        && (rest[1..].starts_with('"') || rest[1..].starts_with("#\""))
        && (i == 0 || !is_ident(b[i - 1]))
    {
        let hashes = rest[1..].bytes().take_while(|&c| c == b'#').count();
        let close = format!("\"{}", "#".repeat(hashes));
        let start = i + 2 + hashes;
        text[start..].find(&close).map_or(b.len(), |n| start + n + close.len())
    } else if b[i] == b'"' {
        let mut j = i + 1;
        while j < b.len() && b[j] != b'"' {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        j + 1
    } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 1] == b'\\' || b[i + 2] == b'\'') {
        // A character literal ('a', '\n', '\''); a lifetime ('a) is not one.
        let mut j = i + 2;
        while j < b.len() && b[j] != b'\'' {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        j + 1
    } else {
        i
    }
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The modules that `module`'s (stripped) text names.
fn references(module: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let own: Vec<&str> = if module == "crate" { Vec::new() } else { module.split("::").collect() };
    let resolve = |path: &[&str]| -> Option<String> {
        (0..=path.len())
            .rev()
            .map(|k| if k == 0 { "crate".to_owned() } else { path[..k].join("::") })
            .find(|c| modules.contains(c))
    };
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let ident = is_ident;
    let mut i = 0;
    // Inline modules: `super::` inside one refers to the file's own module or deeper.
    let inline_depths = inline_module_spans(text);
    while i < b.len() {
        if !ident(b[i])
            || (i > 0 && (ident(b[i - 1]) || b[i - 1] == b'$' || (b[i - 1] == b':' && i > 1 && b[i - 2] == b':')))
        {
            i += 1;
            continue;
        }
        // A path starting here: segments separated by `::`, possibly ending in a `{group}`.
        let (segments, groups, end) = path_at(text, i);
        i = end.max(i + 1);
        if segments.len() < 2 && groups.is_empty() {
            continue;
        }
        let inline = inline_depths.iter().filter(|(s, e)| (*s..*e).contains(&i)).count();
        let base: Vec<&str>;
        let mut rest: &[String] = &segments[..];
        match segments[0].as_str() {
            "crate" => {
                base = Vec::new();
                rest = &segments[1..];
            }
            "super" | "self" => {
                let mut depth = own.len() + inline;
                while let Some(s) = rest.first() {
                    match s.as_str() {
                        "super" => depth = depth.saturating_sub(1),
                        "self" => {}
                        _ => break,
                    }
                    rest = &rest[1..];
                }
                if depth >= own.len() {
                    // Within this file's inline modules: the file itself.
                    continue;
                }
                base = own[..depth].to_vec();
            }
            first => {
                // A child module of this one, named bare.
                let mut child = own.clone();
                child.push(first);
                if !modules.contains(&child.join("::")) {
                    continue;
                }
                base = own.clone();
            }
        }
        let names: Vec<Vec<&str>> = if groups.is_empty() {
            vec![rest.iter().map(String::as_str).collect()]
        } else {
            groups
                .iter()
                .map(|g| rest.iter().map(String::as_str).chain(g.split("::").map(str::trim)).collect())
                .collect()
        };
        for name in names {
            let mut path = base.clone();
            path.extend(name);
            if let Some(target) = resolve(&path) {
                out.insert(target);
            }
        }
    }
    out
}

/// The byte spans of inline module bodies (`mod name { .. }`).
fn inline_module_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(n) = text[from..].find("mod ") {
        let at = from + n;
        from = at + 4;
        if at > 0 && (text.as_bytes()[at - 1].is_ascii_alphanumeric() || text.as_bytes()[at - 1] == b'_') {
            continue;
        }
        let rest = &text[at + 4..];
        let name_len = rest.bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_').count();
        let after = rest[name_len..].trim_start();
        if name_len > 0 && after.starts_with('{') {
            let open = at + 4 + (rest.len() - after.len());
            spans.push((open, matching_brace(text, open)));
        }
    }
    spans
}

/// The path starting at `i`: its segments, the entries of a trailing `{..}` group (first
/// level, `a`, `b::c`), and where it ends.
fn path_at(text: &str, mut i: usize) -> (Vec<String>, Vec<String>, usize) {
    let b = text.as_bytes();
    let mut segments = Vec::new();
    let mut groups = Vec::new();
    loop {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        segments.push(text[start..i].to_owned());
        if !text[i..].starts_with("::") {
            break;
        }
        i += 2;
        if text[i..].starts_with('{') {
            let mut depth = 0;
            let mut item = String::new();
            for (k, c) in text[i..].char_indices() {
                match c {
                    '{' => {
                        depth += 1;
                        if depth == 1 {
                            continue;
                        }
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            i += k + 1;
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        groups.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                if depth == 1 || c != '{' {
                    item.push(c);
                }
            }
            groups.push(item);
            groups = groups
                .into_iter()
                .map(|g| {
                    g.split(['{', ' '])
                        .find(|s| !s.trim().is_empty())
                        .unwrap_or("")
                        .trim()
                        .trim_end_matches("::")
                        .to_owned()
                })
                .filter(|g| !g.is_empty() && g != "self")
                .collect();
            break;
        }
        if !(i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_')) {
            break;
        }
    }
    (segments, groups, i)
}

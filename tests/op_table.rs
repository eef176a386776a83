//! Where ops are named. An op's facts live in one row of the op table (`ir/src/op.rs`); what
//! else may name it is its kernel. For the elementwise ops of one operand this test lists
//! every Rust file of the workspace that names each (as an identifier, as in `Builtin::X`
//! or `B::X`) and fails when a file outside the small allowed set does, so adding such an
//! op stays a row in the table plus its kernel.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use daphne_ir::Builtin;

/// The files that may name an elementwise op of one operand: the op table, the runtime's
/// elementwise kernels, and codegen's emission of the ops it compiles natively or through
/// the runtime's math functions.
const ALLOWED: &[&str] = &[
    "ir/src/op.rs",
    "runtime/src/kernels/ew.rs",
    "codegen/src/compile.rs",
    "codegen/src/math.rs",
    // A rewrite that builds `sqrt(var)` for `stddevCol(X)`: it decides nothing by the op.
    "passes/src/expand_column_moments.rs",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every identifier of the workspace's Rust files, with the files (relative paths) naming it.
fn identifiers() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let rel = file.strip_prefix(root).unwrap_or(&file).to_string_lossy().into_owned();
        for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !word.is_empty() {
                names.entry(word.to_owned()).or_default().insert(rel.clone());
            }
        }
    }
    names
}

/// Where each op is named, for a reader (`cargo test --test op_table -- --nocapture`).
fn listing(names: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::new();
    for &op in Builtin::ALL {
        let variant = format!("{op:?}");
        let files: Vec<&str> = names.get(&variant).map_or(Vec::new(), |f| f.iter().map(String::as_str).collect());
        out.push_str(&format!("{variant}: {}\n", files.join(", ")));
    }
    out
}

#[test]
fn an_elementwise_unary_op_is_named_only_by_the_op_table_and_its_kernel() {
    let names = identifiers();
    println!("{}", listing(&names));
    let ew_unary: Vec<Builtin> = Builtin::ALL.iter().copied().filter(|b| b.is_ew_unary()).collect();
    assert!(ew_unary.len() >= 20, "the table lost its elementwise unary ops");
    for op in ew_unary {
        let variant = format!("{op:?}");
        let files = names.get(&variant).cloned().unwrap_or_default();
        assert!(files.contains("ir/src/op.rs"), "{variant} is not in the op table");
        let stray: Vec<&String> = files.iter().filter(|f| !ALLOWED.contains(&f.as_str())).collect();
        assert!(
            stray.is_empty(),
            "{variant} is named outside the op table and its kernel, in {stray:?}; read the op's facts \
             from the table (`Builtin::fuse`, `fails`, `rule`, `function`) instead"
        );
    }
}

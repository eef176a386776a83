//! The canonical text form of the IR.
//!
//! ```text
//! entry @main
//!
//! func @main() {
//!   %0 = const 1:si64
//!   %1 = ewAdd(%0, %0) : si64
//!   %2 = while(%1) : si64 {
//!   ^(%3: si64):
//!     %4 = const 10:si64
//!     %5 = ewLt(%3, %4) : si64
//!     condition(%5, %3)
//!   } {
//!   ^(%6: si64):
//!     yield(%6)
//!   }
//!   return()
//! }
//! ```
//!
//! Values are numbered in the order the text defines them, so the text of a function does not
//! depend on how its arenas happen to be ordered: equal text means equal structure.
//! Source locations are not part of the text.

use std::collections::HashMap;
use std::fmt::Write;

use crate::function::{Function, Module, Region, Value};
use crate::op::OpKind;

/// The text form of a whole module. The module should have passed the verifier: the printer
/// does not guard against ops placed in several regions.
pub fn module(m: &Module) -> String {
    let mut out = String::new();
    if let Some(entry) = m.functions.get(m.entry.0 as usize) {
        let _ = writeln!(out, "entry {}", func_ref(&entry.name));
    }
    for f in &m.functions {
        out.push('\n');
        out.push_str(&function(f, m));
    }
    out
}

/// `@name`, quoted when the name is not a plain identifier.
pub fn func_ref(name: &str) -> String {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain { format!("@{name}") } else { format!("@{name:?}") }
}

/// The text form of one function; `module` resolves call targets to names.
pub fn function(f: &Function, module: &Module) -> String {
    let mut p = Printer { f, module, names: HashMap::new(), next: 0, out: String::new() };
    let params: Vec<String> = f.body.args.iter().map(|&a| p.def_arg(a)).collect();
    let _ = write!(p.out, "func {}({})", func_ref(&f.name), params.join(", "));
    if !f.result_types.is_empty() {
        let tys: Vec<String> = f.result_types.iter().map(ToString::to_string).collect();
        let _ = write!(p.out, " -> ({})", tys.join(", "));
    }
    p.out.push_str(" {\n");
    p.ops(&f.body, 1);
    p.out.push_str("}\n");
    p.out
}

struct Printer<'a> {
    f: &'a Function,
    module: &'a Module,
    names: HashMap<Value, usize>,
    next: usize,
    out: String,
}

impl Printer<'_> {
    fn define(&mut self, v: Value) -> String {
        let n = self.next;
        self.next += 1;
        self.names.insert(v, n);
        format!("%{n}")
    }

    fn def_arg(&mut self, v: Value) -> String {
        let name = self.define(v);
        let ty = self.f.values.try_get(v).map_or("?".to_owned(), |d| d.ty.to_string());
        format!("{name}: {ty}")
    }

    fn use_of(&self, v: Value) -> String {
        match self.names.get(&v) {
            Some(n) => format!("%{n}"),
            // Only an invalid IR uses a value before defining it; show it recognizably.
            None => format!("%undefined{}", v.index()),
        }
    }

    fn ops(&mut self, region: &Region, depth: usize) {
        let indent = "  ".repeat(depth.min(crate::verify::MAX_NESTING));
        // Only unverified IR nests deeper (or cyclically); stop rather than overflow.
        if depth > crate::verify::MAX_NESTING {
            let _ = writeln!(self.out, "{indent}<regions nested too deeply>");
            return;
        }
        for &id in &region.ops {
            let Some(op) = self.f.ops.try_get(id) else {
                let _ = writeln!(self.out, "{indent}<invalid op #{}>", id.index());
                continue;
            };
            let operands: Vec<String> = op.operands.iter().map(|&v| self.use_of(v)).collect();
            let results: Vec<String> = op.results.iter().map(|&v| self.define(v)).collect();
            let mut line = indent.clone();
            if !results.is_empty() {
                let _ = write!(line, "{} = ", results.join(", "));
            }
            match &op.kind {
                OpKind::Const(lit) => {
                    let _ = write!(line, "const {lit}");
                }
                OpKind::Call(fid) | OpKind::Map(fid) => {
                    let name = self.module.functions.get(fid.0 as usize).map_or("?", |f| f.name.as_str());
                    let _ = write!(line, "{} {}({})", op.kind.name(), func_ref(name), operands.join(", "));
                }
                OpKind::Pipeline(spec) => {
                    let _ = write!(line, "pipeline{spec}({})", operands.join(", "));
                }
                other => {
                    let _ = write!(line, "{}({})", other.name(), operands.join(", "));
                }
            }
            if !matches!(op.kind, OpKind::Const(_)) && !op.results.is_empty() {
                let tys: Vec<String> = op
                    .results
                    .iter()
                    .map(|&v| self.f.values.try_get(v).map_or("?".to_owned(), |d| d.ty.to_string()))
                    .collect();
                let _ = write!(line, " : {}", tys.join(", "));
            }
            self.out.push_str(&line);
            for r in &op.regions {
                self.out.push_str(" {\n");
                if !r.args.is_empty() {
                    let args: Vec<String> = r.args.iter().map(|&a| self.def_arg(a)).collect();
                    let _ = writeln!(self.out, "{indent}^({}):", args.join(", "));
                }
                self.ops(r, depth + 1);
                let _ = write!(self.out, "{indent}}}");
            }
            self.out.push('\n');
        }
    }
}

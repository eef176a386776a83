//! Modules, functions, regions, ops and values: the structure of the IR.
//!
//! Each function owns two arenas, one of values and one of ops. A region is an ordered list of
//! ops with arguments; control-flow ops own their regions, so the nesting of regions mirrors
//! the nesting of the source's blocks. Source locations are kept in a side table so that two
//! ops that compute the same thing compare equal wherever they came from.

use serde::{Deserialize, Serialize};

use crate::arena::{Arena, Handle};
use crate::op::OpKind;
use crate::types::Type;

pub type Value = Handle<ValueData>;
pub type OpId = Handle<Op>;

pub use crate::op::FuncId;

/// Where a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValueDef {
    /// The `index`-th result of an op.
    Result(OpId, u32),
    /// An argument of a region (a function parameter, a loop variable).
    Arg,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ValueData {
    pub ty: Type,
    pub def: ValueDef,
}

/// An operation: what it computes, what it consumes and produces, and its nested regions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Op {
    pub kind: OpKind,
    pub operands: Vec<Value>,
    pub results: Vec<Value>,
    pub regions: Vec<Region>,
}

/// An ordered list of ops with arguments. A region that must produce values ends in a
/// terminator (`yield`, `condition`, `return`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Region {
    pub args: Vec<Value>,
    pub ops: Vec<OpId>,
}

/// A source position: file (an index into `Module::files`), 1-based line and column, and, for
/// an op copied into a caller by inlining, the call it was inlined at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Loc {
    pub file: u32,
    pub line: u32,
    pub col: u32,
    /// An index into `Module::inline_sites`: the call this op's function body was inlined at.
    pub inlined: Option<u32>,
}

/// The most calls `Module::call_notes` lists.
pub const MAX_CALL_NOTES: usize = 10;

/// A call that inlining replaced by the callee's body: the callee's name as the script wrote
/// it and where the call was (itself perhaps inlined).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InlineSite {
    pub callee: String,
    pub call: Loc,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub name: String,
    /// The body; its arguments are the parameters.
    pub body: Region,
    pub result_types: Vec<Type>,
    pub values: Arena<ValueData>,
    pub ops: Arena<Op>,
    /// Source locations of ops, by op index (side table; may be shorter than `ops`).
    pub locs: Vec<Option<Loc>>,
}

impl Function {
    pub fn new(name: impl Into<String>) -> Function {
        Function {
            name: name.into(),
            body: Region::default(),
            result_types: Vec::new(),
            values: Arena::new(),
            ops: Arena::new(),
            locs: Vec::new(),
        }
    }

    /// The name the script calls the function by: specializations of one definition are
    /// named `f`, `f.1`, `f.2`, ...
    pub fn source_name(&self) -> &str {
        match self.name.rsplit_once('.') {
            Some((base, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => base,
            _ => &self.name,
        }
    }

    pub fn params(&self) -> &[Value] {
        &self.body.args
    }

    /// The parameter types; a parameter whose handle is invalid (only in unverified IR) is
    /// `Unknown`.
    pub fn param_types(&self) -> Vec<Type> {
        self.body.args.iter().map(|&v| self.values.try_get(v).map_or(Type::Unknown, |d| d.ty.clone())).collect()
    }

    /// A new region argument of type `ty` (not yet attached to a region).
    pub fn new_arg(&mut self, ty: Type) -> Value {
        self.values.push(ValueData { ty, def: ValueDef::Arg })
    }

    /// Creates an op whose results have `result_types`; the caller places it in a region.
    pub fn new_op(
        &mut self,
        kind: OpKind,
        operands: Vec<Value>,
        result_types: Vec<Type>,
        regions: Vec<Region>,
        loc: Option<Loc>,
    ) -> OpId {
        let id = self.ops.push(Op { kind, operands, results: Vec::new(), regions });
        let results: Vec<Value> = result_types
            .into_iter()
            .enumerate()
            .map(|(i, ty)| self.values.push(ValueData { ty, def: ValueDef::Result(id, i as u32) }))
            .collect();
        self.ops[id].results = results;
        if loc.is_some() {
            if self.locs.len() <= id.index() {
                self.locs.resize(id.index() + 1, None);
            }
            self.locs[id.index()] = loc;
        }
        id
    }

    pub fn loc(&self, op: OpId) -> Option<Loc> {
        self.locs.get(op.index()).copied().flatten()
    }

    pub fn ty(&self, v: Value) -> &Type {
        &self.values[v].ty
    }

    /// Copies op `id` of `from` (with its regions, and its location) into this function,
    /// renaming values through `map`: its operands must be there (or defined inside it), its
    /// results and region arguments are added. `None` when `from` is malformed.
    pub fn copy_op_from(
        &mut self,
        from: &Function,
        id: OpId,
        map: &mut std::collections::HashMap<Value, Value>,
    ) -> Option<OpId> {
        let op = from.ops.try_get(id)?;
        let operands = op.operands.iter().map(|v| map.get(v).copied()).collect::<Option<Vec<_>>>()?;
        let mut regions = Vec::new();
        for r in &op.regions {
            let mut args = Vec::with_capacity(r.args.len());
            for &a in &r.args {
                let n = self.new_arg(from.values.try_get(a)?.ty.clone());
                map.insert(a, n);
                args.push(n);
            }
            let ops = r.ops.iter().map(|&o| self.copy_op_from(from, o, map)).collect::<Option<_>>()?;
            regions.push(Region { args, ops });
        }
        let types = op.results.iter().map(|&r| from.values.try_get(r).map(|d| d.ty.clone())).collect::<Option<_>>()?;
        let new = self.new_op(op.kind.clone(), operands, types, regions, from.loc(id));
        for (&old, &new) in op.results.iter().zip(&self.ops[new].results) {
            map.insert(old, new);
        }
        Some(new)
    }
}

/// A compiled script: its functions, the entry function, and the source files that
/// locations refer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Module {
    pub functions: Vec<Function>,
    pub entry: FuncId,
    pub files: Vec<String>,
    /// The calls that inlining replaced, which `Loc::inlined` points at.
    #[serde(default)]
    pub inline_sites: Vec<InlineSite>,
}

impl Module {
    pub fn function(&self, id: FuncId) -> &Function {
        &self.functions[id.0 as usize]
    }

    pub fn function_mut(&mut self, id: FuncId) -> &mut Function {
        &mut self.functions[id.0 as usize]
    }

    /// `file:line:col` of a location, for messages.
    pub fn describe(&self, loc: Loc) -> String {
        let file = self.files.get(loc.file as usize).map_or("?", String::as_str);
        format!("{file}:{}:{}", loc.line, loc.col)
    }

    /// The calls that led to an error at `at`, innermost first, as notes: the calls inlining
    /// replaced (from `at` and each call's own location), then the calls the interpreter was
    /// in (`calls`: callee and call site, innermost first). The same text whether or not the
    /// functions were inlined, and as the compiler's notes.
    pub fn call_notes(&self, at: Option<Loc>, calls: &[(String, Option<Loc>)]) -> Vec<String> {
        let mut notes = Vec::new();
        let inlined = |mut loc: Option<Loc>, notes: &mut Vec<String>| {
            // Bounded by the table: a malformed chain cannot loop for ever.
            for _ in 0..=self.inline_sites.len() {
                let Some(site) = loc.and_then(|l| l.inlined).and_then(|k| self.inline_sites.get(k as usize)) else {
                    return;
                };
                notes.push(format!("in the call of `{}` at {}", site.callee, self.describe(site.call)));
                loc = Some(site.call);
            }
        };
        inlined(at, &mut notes);
        for (callee, call) in calls {
            match call {
                Some(l) => notes.push(format!("in the call of `{callee}` at {}", self.describe(*l))),
                None => notes.push(format!("in the call of `{callee}`")),
            }
            inlined(*call, &mut notes);
        }
        // A recursion shows each call site once, with how often it repeats in a row.
        let mut runs: Vec<(String, usize)> = Vec::new();
        for n in notes {
            match runs.last_mut() {
                Some((last, count)) if *last == n => *count += 1,
                _ => runs.push((n, 1)),
            }
        }
        let mut notes: Vec<String> =
            runs.into_iter().map(|(n, count)| if count == 1 { n } else { format!("{n} ({count} times)") }).collect();
        // A long chain shows its innermost calls and how many more there were.
        if notes.len() > MAX_CALL_NOTES {
            let more = notes.len() - MAX_CALL_NOTES;
            notes.truncate(MAX_CALL_NOTES);
            notes.push(format!("and {more} more {}", if more == 1 { "call" } else { "calls" }));
        }
        notes
    }

    /// `loc` as seen from a caller into which its function was inlined at site `outer`: the
    /// end of its chain of inline sites gets `outer` (new sites are added to the table).
    pub fn inlined_at(&mut self, loc: Loc, outer: u32) -> Loc {
        match loc.inlined.and_then(|k| self.inline_sites.get(k as usize).cloned()) {
            None => Loc { inlined: Some(outer), ..loc },
            Some(site) => {
                let call = self.inlined_at(site.call, outer);
                self.inline_sites.push(InlineSite { callee: site.callee, call });
                Loc { inlined: Some(self.inline_sites.len() as u32 - 1), ..loc }
            }
        }
    }

    /// The module as bytes, for shipping to a worker.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// A module from bytes made by `to_bytes`. The result is not trusted: run the verifier
    /// before using it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Module, DecodeError> {
        postcard::from_bytes(bytes).map_err(|e| DecodeError(e.to_string()))
    }
}

/// Bytes that are not a module made by [`Module::to_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed IR bytes: {0}")]
pub struct DecodeError(pub String);

#[cfg(test)]
mod call_note_tests {
    use super::*;

    fn at(line: u32) -> Loc {
        Loc { file: 0, line, col: 1, inlined: None }
    }

    fn module() -> Module {
        Module { functions: Vec::new(), entry: FuncId(0), files: vec!["s.daph".into()], inline_sites: Vec::new() }
    }

    #[test]
    fn inlined_and_interpreted_calls_read_the_same() {
        // `inner` inlined at line 5 of `outer`, `outer` inlined at line 9 of main.
        let mut m = module();
        m.inline_sites.push(InlineSite { callee: "inner".into(), call: at(5) });
        let in_outer = Loc { inlined: Some(0), ..at(2) };
        m.inline_sites.push(InlineSite { callee: "outer".into(), call: at(9) });
        let in_main = m.inlined_at(in_outer, 1);
        let inlined = m.call_notes(Some(in_main), &[]);
        let interpreted = m.call_notes(Some(at(2)), &[("inner".into(), Some(at(5))), ("outer".into(), Some(at(9)))]);
        assert_eq!(inlined, vec!["in the call of `inner` at s.daph:5:1", "in the call of `outer` at s.daph:9:1"]);
        assert_eq!(inlined, interpreted);
    }

    #[test]
    fn a_recursion_is_one_note_per_site_and_long_chains_are_cut() {
        let m = module();
        let mut calls = vec![("f".to_owned(), Some(at(3))); 500];
        calls.push(("f".into(), Some(at(7))));
        let notes = m.call_notes(Some(at(3)), &calls);
        assert_eq!(notes, vec!["in the call of `f` at s.daph:3:1 (500 times)", "in the call of `f` at s.daph:7:1"]);
        let many: Vec<(String, Option<Loc>)> = (0..20).map(|i| (format!("f{i}"), Some(at(i)))).collect();
        let notes = m.call_notes(None, &many);
        assert_eq!(notes.len(), MAX_CALL_NOTES + 1);
        assert_eq!(notes.last().map(String::as_str), Some("and 10 more calls"));
    }

    #[test]
    fn specializations_are_named_as_the_script_calls_them() {
        for (ir, source) in [("f", "f"), ("f.2", "f"), ("utils.f", "utils.f"), ("utils.f.1", "utils.f")] {
            assert_eq!(Function::new(ir).source_name(), source);
        }
    }
}

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

/// The index of a function in its module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FuncId(pub u32);

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

/// A source position: file (an index into `Module::files`), 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Loc {
    pub file: u32,
    pub line: u32,
    pub col: u32,
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

    /// The module as bytes, for shipping to a worker.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// A module from bytes made by `to_bytes`. The result is not trusted: run the verifier
    /// before using it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Module, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("malformed IR bytes: {e}"))
    }
}

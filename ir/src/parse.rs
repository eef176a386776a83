//! A parser for the text form that `print` writes. Parsing then printing gives back the same
//! text; printing then parsing gives back the same structure.

use std::collections::HashMap;

use crate::function::{FuncId, Function, Module, OpId, Region, Value};
use crate::op::{Builtin, Literal, OpKind};
use crate::types::{ColumnType, FrameType, MatrixType, Repr, Type, ValueType};

/// Why a text is not a module (or a type).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Malformed text, at a line and column (from 1).
    #[error("IR text {line}:{col}: {message}")]
    At { line: usize, col: usize, message: String },
    #[error("call of undefined function @{0}")]
    UndefinedFunction(String),
    #[error("entry function @{0} is not defined")]
    UndefinedEntry(String),
}

/// Parses a module's text form. Errors name the line and column.
pub fn module(text: &str) -> Result<Module, ParseError> {
    let mut p = Parser { text, pos: 0 };
    let mut functions = Vec::new();
    let mut entry_name = None;
    let mut calls: Vec<(usize, OpId, String)> = Vec::new();
    p.skip_ws();
    if p.eat_word("entry") {
        entry_name = Some(p.func_ref()?);
    }
    loop {
        p.skip_ws();
        if p.at_end() {
            break;
        }
        let (f, fcalls) = p.function()?;
        calls.extend(fcalls.into_iter().map(|(op, name)| (functions.len(), op, name)));
        functions.push(f);
    }
    let ids: HashMap<String, FuncId> =
        functions.iter().enumerate().map(|(i, f): (usize, &Function)| (f.name.clone(), FuncId(i as u32))).collect();
    for (fi, op, name) in calls {
        let id = *ids.get(&name).ok_or_else(|| ParseError::UndefinedFunction(name.clone()))?;
        let kind = &mut functions[fi].ops[op].kind;
        *kind = if matches!(kind, OpKind::Map(_)) { OpKind::Map(id) } else { OpKind::Call(id) };
    }
    let entry = match entry_name {
        Some(name) => *ids.get(&name).ok_or_else(|| ParseError::UndefinedEntry(name.clone()))?,
        None => FuncId(0),
    };
    Ok(Module { functions, entry, files: Vec::new(), inline_sites: Vec::new() })
}

/// Parses a type's text form (`matrix<?x3xf64>`, `si64`, ...).
pub fn ty(text: &str) -> Result<Type, ParseError> {
    let mut p = Parser { text, pos: 0 };
    let t = p.ty()?;
    p.skip_ws();
    if p.at_end() { Ok(t) } else { Err(p.error("trailing text after type")) }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

/// Per-function state: text value numbers to handles.
struct Scope {
    values: HashMap<u64, Value>,
}

impl<'a> Parser<'a> {
    fn error(&self, msg: &str) -> ParseError {
        let before = &self.text[..self.pos.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ParseError::At { line, col, message: msg.to_owned() }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn skip_ws(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> Result<(), ParseError> {
        if self.eat(s) { Ok(()) } else { Err(self.error(&format!("expected `{s}`"))) }
    }

    /// Consumes `word` if it is followed by a non-identifier character.
    fn eat_word(&mut self, word: &str) -> bool {
        self.skip_ws();
        let rest = self.rest();
        if rest.starts_with(word) && !rest[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Result<&'a str, ParseError> {
        self.skip_ws();
        let rest = self.rest();
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a name"));
        }
        let start = self.pos;
        self.pos += len;
        Ok(&self.text[start..start + len])
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.expect("\"")?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('0') => out.push('\0'),
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some('\'') => out.push('\''),
                    Some('u') => {
                        // \u{XXXX}, as Rust's `{:?}` writes it.
                        let rest: String = chars.by_ref().map(|(_, c)| c).take_while(|&c| c != '}').collect();
                        let hex = rest.trim_start_matches('{');
                        let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                        out.push(c.ok_or_else(|| self.error("bad \\u escape"))?);
                    }
                    _ => return Err(self.error("bad escape in string")),
                },
                c => out.push(c),
            }
        }
        Err(self.error("unterminated string"))
    }

    fn func_ref(&mut self) -> Result<String, ParseError> {
        self.expect("@")?;
        if self.rest().starts_with('"') { self.string() } else { Ok(self.ident()?.to_owned()) }
    }

    fn number_u64(&mut self) -> Result<u64, ParseError> {
        self.skip_ws();
        let rest = self.rest();
        let len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n = rest[..len].parse().map_err(|_| self.error("expected a number"))?;
        self.pos += len;
        Ok(n)
    }

    fn value_type(&mut self) -> Result<ValueType, ParseError> {
        let start = self.pos;
        let name = self.ident()?;
        ValueType::from_name(name).ok_or_else(|| {
            self.pos = start;
            self.error(&format!("unknown value type `{name}`"))
        })
    }

    fn dim(&mut self) -> Result<Option<u64>, ParseError> {
        if self.eat("?") { Ok(None) } else { self.number_u64().map(Some) }
    }

    fn ty(&mut self) -> Result<Type, ParseError> {
        self.skip_ws();
        if self.eat_word("unknown") {
            Ok(Type::Unknown)
        } else if self.eat("matrix<") {
            let rows = self.dim()?;
            self.expect("x")?;
            let cols = self.dim()?;
            self.expect("x")?;
            let vt = if self.eat("?") { None } else { Some(self.value_type()?) };
            let repr = if self.eat(":dense") {
                Some(Repr::Dense)
            } else if self.eat(":sparse") {
                Some(Repr::Sparse)
            } else {
                None
            };
            self.expect(">")?;
            Ok(Type::Matrix(MatrixType { vt, rows, cols, repr }))
        } else if self.eat("frame<") {
            let rows = self.dim()?;
            self.expect("x")?;
            let columns = if self.eat("?") {
                None
            } else {
                self.expect("[")?;
                let mut cols = Vec::new();
                if !self.eat("]") {
                    loop {
                        let label = if self.eat("?") { None } else { Some(self.string()?) };
                        self.expect(":")?;
                        cols.push(ColumnType { label, vt: self.value_type()? });
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                Some(cols)
            };
            self.expect(">")?;
            Ok(Type::Frame(FrameType { rows, columns }))
        } else if self.eat("list<") {
            let t = self.ty()?;
            self.expect(">")?;
            match t {
                Type::Matrix(m) => Ok(Type::List(m)),
                _ => Err(self.error("a list holds matrices")),
            }
        } else {
            Ok(Type::Scalar(self.value_type()?))
        }
    }

    fn types(&mut self) -> Result<Vec<Type>, ParseError> {
        let mut tys = vec![self.ty()?];
        while self.eat(",") {
            tys.push(self.ty()?);
        }
        Ok(tys)
    }

    fn value_number(&mut self) -> Result<u64, ParseError> {
        self.expect("%")?;
        self.number_u64()
    }

    fn literal(&mut self) -> Result<Literal, ParseError> {
        self.skip_ws();
        let start = self.pos;
        if self.rest().starts_with('"') {
            let s = self.string()?;
            self.expect(":")?;
            let vt = self.value_type()?;
            return if vt == ValueType::Str {
                Ok(Literal::Str(s))
            } else {
                Err(self.error("a string literal has type str"))
            };
        }
        let rest = self.rest();
        let len = rest.find(':').ok_or_else(|| self.error("expected `:` and a value type after the constant"))?;
        let text = rest[..len].trim().to_owned();
        self.pos += len + 1;
        let vt = self.value_type()?;
        let bad = |p: &mut Self| {
            p.pos = start;
            p.error(&format!("`{text}` is not a {vt} constant"))
        };
        let float = |t: &str| -> Option<f64> {
            match t {
                "nan" => Some(f64::NAN),
                "-nan" => Some(-f64::NAN),
                "inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                _ => t.parse().ok(),
            }
        };
        let lit = match vt {
            ValueType::F64 => float(&text).map(Literal::f64),
            ValueType::F32 => match text.as_str() {
                "nan" | "-nan" | "inf" | "-inf" => float(&text).map(|v| Literal::f32(v as f32)),
                _ => text.parse::<f32>().ok().map(Literal::f32),
            },
            ValueType::Si64 => text.parse().ok().map(Literal::Si64),
            ValueType::Si32 => text.parse().ok().map(Literal::Si32),
            ValueType::Si8 => text.parse().ok().map(Literal::Si8),
            ValueType::Ui64 => text.parse().ok().map(Literal::Ui64),
            ValueType::Ui32 => text.parse().ok().map(Literal::Ui32),
            ValueType::Ui8 => text.parse().ok().map(Literal::Ui8),
            ValueType::Index => text.parse().ok().map(Literal::Index),
            ValueType::Bool => text.parse().ok().map(Literal::Bool),
            ValueType::Str => None,
        };
        lit.ok_or_else(|| bad(self))
    }

    /// `[rows, broadcast -> add, rows]`
    fn pipeline_spec(&mut self) -> Result<crate::op::PipelineSpec, ParseError> {
        use crate::op::{Combine, Split};
        self.expect("[")?;
        let mut spec = crate::op::PipelineSpec::default();
        if !self.eat("->") {
            loop {
                let at = self.pos;
                let name = self.ident()?;
                spec.splits.push(Split::from_name(name).ok_or_else(|| {
                    self.pos = at;
                    self.error(&format!("unknown split mode `{name}`"))
                })?);
                if self.eat("->") {
                    break;
                }
                self.expect(",")?;
            }
        }
        if !self.eat("]") {
            loop {
                let at = self.pos;
                let name = self.ident()?;
                spec.combines.push(Combine::from_name(name).ok_or_else(|| {
                    self.pos = at;
                    self.error(&format!("unknown combine mode `{name}`"))
                })?);
                if self.eat("]") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok(spec)
    }

    /// Defines a new value for text number `n`.
    fn define(&self, scope: &mut Scope, n: u64, v: Value) -> Result<(), ParseError> {
        if scope.values.insert(n, v).is_some() {
            return Err(self.error(&format!("%{n} is defined twice")));
        }
        Ok(())
    }

    fn use_value(&mut self, scope: &Scope) -> Result<Value, ParseError> {
        let n = self.value_number()?;
        scope.values.get(&n).copied().ok_or_else(|| self.error(&format!("%{n} is used before it is defined")))
    }

    /// `%n: type, ...)`: typed arguments up to the closing parenthesis, defined in `scope`.
    fn args(&mut self, f: &mut Function, scope: &mut Scope) -> Result<Vec<Value>, ParseError> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            let n = self.value_number()?;
            self.expect(":")?;
            let t = self.ty()?;
            let v = f.new_arg(t);
            self.define(scope, n, v)?;
            args.push(v);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn function(&mut self) -> Result<(Function, Vec<(OpId, String)>), ParseError> {
        if !self.eat_word("func") {
            return Err(self.error("expected `func`"));
        }
        let name = self.func_ref()?;
        let mut f = Function::new(name);
        let mut scope = Scope { values: HashMap::new() };
        self.expect("(")?;
        let params = self.args(&mut f, &mut scope)?;
        if self.eat("->") {
            self.expect("(")?;
            if !self.eat(")") {
                f.result_types = self.types()?;
                self.expect(")")?;
            }
        }
        self.expect("{")?;
        let mut calls = Vec::new();
        let ops = self.ops(&mut f, &mut scope, &mut calls)?;
        f.body = Region { args: params, ops };
        Ok((f, calls))
    }

    /// Ops up to and including the closing `}` of their region.
    fn ops(
        &mut self,
        f: &mut Function,
        scope: &mut Scope,
        calls: &mut Vec<(OpId, String)>,
    ) -> Result<Vec<OpId>, ParseError> {
        let mut ops = Vec::new();
        loop {
            if self.eat("}") {
                return Ok(ops);
            }
            if self.at_end() {
                return Err(self.error("expected `}`"));
            }
            ops.push(self.op(f, scope, calls)?);
        }
    }

    fn op(&mut self, f: &mut Function, scope: &mut Scope, calls: &mut Vec<(OpId, String)>) -> Result<OpId, ParseError> {
        self.skip_ws();
        let mut result_numbers = Vec::new();
        if self.rest().starts_with('%') {
            loop {
                result_numbers.push(self.value_number()?);
                if !self.eat(",") {
                    break;
                }
            }
            self.expect("=")?;
        }
        self.skip_ws();
        let name_at = self.pos;
        let name = self.ident()?.to_owned();
        let (kind, operands, types, regions, call_target) = if name == "const" {
            let lit = self.literal()?;
            let t = Type::Scalar(lit.value_type());
            (OpKind::Const(lit), Vec::new(), vec![t], Vec::new(), None)
        } else {
            let call_target = if name == "call" || name == "map" { Some(self.func_ref()?) } else { None };
            let kind = match name.as_str() {
                "pipeline" => OpKind::Pipeline(self.pipeline_spec()?),
                "call" => OpKind::Call(FuncId(u32::MAX)),
                "map" => OpKind::Map(FuncId(u32::MAX)),
                "cast" => OpKind::Cast,
                "if" => OpKind::If,
                "while" => OpKind::While,
                "for" => OpKind::For,
                "yield" => OpKind::Yield,
                "condition" => OpKind::Condition,
                "return" => OpKind::Return,
                other => OpKind::Builtin(Builtin::from_name(other).ok_or_else(|| {
                    self.pos = name_at;
                    self.error(&format!("unknown op `{other}`"))
                })?),
            };
            self.expect("(")?;
            let mut operands = Vec::new();
            if !self.eat(")") {
                loop {
                    operands.push(self.use_value(scope)?);
                    if self.eat(")") {
                        break;
                    }
                    self.expect(",")?;
                }
            }
            let types = if self.eat(":") { self.types()? } else { Vec::new() };
            (kind, operands, types, Vec::new(), call_target)
        };
        if types.len() != result_numbers.len() {
            return Err(self.error(&format!("{} results but {} result types", result_numbers.len(), types.len())));
        }
        let mut regions = regions;
        while self.eat("{") {
            let mut args = Vec::new();
            if self.eat("^(") {
                args = self.args(f, scope)?;
                self.expect(":")?;
            }
            let ops = self.ops(f, scope, calls)?;
            regions.push(Region { args, ops });
        }
        let id = f.new_op(kind, operands, types, regions, None);
        for (i, n) in result_numbers.into_iter().enumerate() {
            let v = f.ops[id].results[i];
            self.define(scope, n, v)?;
        }
        if let Some(target) = call_target {
            calls.push((id, target));
        }
        Ok(id)
    }
}

//! Every op kind survives printing and parsing, and serialization to bytes; the verifier
//! accepts what is well-formed and rejects, without panicking, what is not.

use daphne_ir::{
    Builtin, Combine, FuncId, Function, Literal, Module, OpKind, PipelineSpec, Region, Split, Type, ValueType, parse,
    pipeline, print, verify,
};

fn f64_matrix() -> Type {
    Type::matrix(ValueType::F64, None, Some(3))
}

/// A module using every op kind: one op per builtin, every literal type, a cast, a call and
/// all control flow.
fn every_op() -> Module {
    let mut helper = Function::new("helper");
    let p = helper.new_arg(f64_matrix());
    let ret = helper.new_op(OpKind::Return, vec![p], vec![], vec![], None);
    helper.body = Region { args: vec![p], ops: vec![ret] };
    helper.result_types = vec![f64_matrix()];

    let mut f = Function::new("main");
    let mut ops = Vec::new();
    let lits = [
        Literal::f64(2.5),
        Literal::f64(f64::NAN),
        Literal::f64(f64::NEG_INFINITY),
        Literal::f32(0.1),
        Literal::Si64(-7),
        Literal::Si32(5),
        Literal::Si8(-1),
        Literal::Ui64(u64::MAX),
        Literal::Ui32(3),
        Literal::Ui8(255),
        Literal::Index(4),
        Literal::Bool(true),
        Literal::Str("tab\t \"quoted\" ü\n".into()),
    ];
    let mut consts = Vec::new();
    for lit in lits {
        let t = Type::Scalar(lit.value_type());
        let op = f.new_op(OpKind::Const(lit), vec![], vec![t], vec![], None);
        consts.push(f.ops[op].results[0]);
        ops.push(op);
    }
    let x = consts[0];
    let cond = consts[11];
    // Every builtin on a value of unknown type, with as many results as its rule gives.
    let unknown = f.new_op(OpKind::Cast, vec![x], vec![Type::Unknown], vec![], None);
    ops.push(unknown);
    let u = f.ops[unknown].results[0];
    for &b in Builtin::ALL {
        let (min, _) = b.arity();
        let operands = vec![daphne_ir::infer::Operand { ty: &Type::Unknown, constant: None }; min];
        let results = daphne_ir::infer::infer(b, &operands).map_or(1, |r| r.len());
        let op = f.new_op(OpKind::Builtin(b), vec![u; min], vec![Type::Unknown; results], vec![], None);
        ops.push(op);
    }
    let m = f.new_op(OpKind::Cast, vec![x], vec![f64_matrix()], vec![], None);
    ops.push(m);
    let m = f.ops[m].results[0];
    let call = f.new_op(OpKind::Call(FuncId(1)), vec![m], vec![f64_matrix()], vec![], None);
    ops.push(call);
    let mapped = f.new_op(OpKind::Map(FuncId(2)), vec![m], vec![f64_matrix()], vec![], None);
    ops.push(mapped);

    // if
    let y1 = f.new_op(OpKind::Yield, vec![x], vec![], vec![], None);
    let y2 = f.new_op(OpKind::Yield, vec![consts[0]], vec![], vec![], None);
    let iff = f.new_op(
        OpKind::If,
        vec![cond],
        vec![Type::Scalar(ValueType::F64)],
        vec![Region { args: vec![], ops: vec![y1] }, Region { args: vec![], ops: vec![y2] }],
        None,
    );
    ops.push(iff);

    // while
    let a = f.new_arg(Type::Scalar(ValueType::F64));
    let lt = f.new_op(OpKind::Builtin(Builtin::EwLt), vec![a, x], vec![Type::Scalar(ValueType::F64)], vec![], None);
    let c = f.new_op(OpKind::Condition, vec![f.ops[lt].results[0], a], vec![], vec![], None);
    let b = f.new_arg(Type::Scalar(ValueType::F64));
    let add = f.new_op(OpKind::Builtin(Builtin::EwAdd), vec![b, x], vec![Type::Scalar(ValueType::F64)], vec![], None);
    let y = f.new_op(OpKind::Yield, vec![f.ops[add].results[0]], vec![], vec![], None);
    let wh = f.new_op(
        OpKind::While,
        vec![x],
        vec![Type::Scalar(ValueType::F64)],
        vec![Region { args: vec![a], ops: vec![lt, c] }, Region { args: vec![b], ops: vec![add, y] }],
        None,
    );
    ops.push(wh);

    // for
    let (from, to, step) = (consts[4], consts[5], consts[4]);
    let iv = f.new_arg(Type::Scalar(ValueType::Si64));
    let acc = f.new_arg(Type::Scalar(ValueType::F64));
    let y = f.new_op(OpKind::Yield, vec![acc], vec![], vec![], None);
    let fo = f.new_op(
        OpKind::For,
        vec![from, to, step, x],
        vec![Type::Scalar(ValueType::F64)],
        vec![Region { args: vec![iv, acc], ops: vec![y] }],
        None,
    );
    ops.push(fo);

    // pipeline: X * s by rows, and sum(X * s) added up
    let (bx, bs) = (f.new_arg(f64_matrix()), f.new_arg(Type::Scalar(ValueType::F64)));
    let mul = f.new_op(OpKind::Builtin(Builtin::EwMul), vec![bx, bs], vec![f64_matrix()], vec![], None);
    let prod = f.ops[mul].results[0];
    let sum = f.new_op(OpKind::Builtin(Builtin::SumAll), vec![prod], vec![Type::Scalar(ValueType::F64)], vec![], None);
    let y = f.new_op(OpKind::Yield, vec![prod, f.ops[sum].results[0]], vec![], vec![], None);
    let pipe = f.new_op(
        OpKind::Pipeline(PipelineSpec {
            splits: vec![Split::Rows, Split::Broadcast],
            combines: vec![Combine::Rows, Combine::Add],
        }),
        vec![m, x],
        vec![f64_matrix(), Type::Scalar(ValueType::F64)],
        vec![Region { args: vec![bx, bs], ops: vec![mul, sum, y] }],
        None,
    );
    ops.push(pipe);
    ops.push(f.new_op(OpKind::Return, vec![], vec![], vec![], None));
    f.body = Region { args: vec![], ops };
    let mut cell = Function::new("cell");
    let p = cell.new_arg(Type::Scalar(ValueType::F64));
    let ret = cell.new_op(OpKind::Return, vec![p], vec![], vec![], None);
    cell.body = Region { args: vec![p], ops: vec![ret] };
    cell.result_types = vec![Type::Scalar(ValueType::F64)];
    Module {
        functions: vec![f, helper, cell],
        entry: FuncId(0),
        files: vec!["x.daph".into()],
        inline_sites: Vec::new(),
    }
}

#[test]
fn every_op_is_valid() {
    verify::module(&every_op()).unwrap();
}

#[test]
fn text_round_trips() {
    let m = every_op();
    let text = print::module(&m);
    let parsed = parse::module(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    verify::module(&parsed).unwrap();
    assert_eq!(print::module(&parsed), text);
    for &b in Builtin::ALL {
        let (with_results, without) = (format!(" = {}(", b.name()), format!("  {}(", b.name()));
        assert!(text.contains(&with_results) || text.contains(&without), "{} missing from the text", b.name());
    }
    insta::assert_snapshot!(text);
}

#[test]
fn bytes_round_trip_exactly() {
    let m = every_op();
    let back = Module::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn garbage_bytes_are_an_error_or_fail_verification() {
    let good = every_op().to_bytes();
    // `DAPHNE_FUZZ_CASES` runs a longer hunt (with a seed derived from the count).
    let cases: u64 = std::env::var("DAPHNE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let mut state = 0x2545F4914F6CDD1Du64 ^ cases;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..cases {
        let mut bytes = good.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() as usize) % bytes.len();
            bytes[i] = next() as u8;
        }
        bytes.truncate(bytes.len() - (next() as usize % 3));
        if let Ok(m) = Module::from_bytes(&bytes) {
            // Either valid, or rejected with a message: never a panic. Only verified IR
            // goes on (here, to the printer).
            if verify::module(&m).is_ok() {
                let _ = print::module(&m);
            }
        }
    }
}

#[test]
fn the_verifier_rejects_malformed_modules() {
    let mut m = every_op();
    // A use outside the scope of the definition: the while's loop argument used after it.
    let f = &mut m.functions[0];
    let inner =
        f.body.ops.iter().find(|&&o| f.ops[o].kind == OpKind::While).map(|&o| f.ops[o].regions[0].args[0]).unwrap();
    let bad = f.new_op(OpKind::Builtin(Builtin::Transpose), vec![inner], vec![Type::Unknown], vec![], None);
    let ret = f.body.ops.pop().unwrap();
    f.body.ops.extend([bad, ret]);
    let err = verify::module(&m).unwrap_err().to_string();
    assert!(err.contains("outside the scope"), "{err}");

    let mut m = every_op();
    m.functions[0].body.ops.pop();
    assert!(verify::module(&m).unwrap_err().to_string().contains("must end in `return`"));

    let mut m = every_op();
    let f = &mut m.functions[0];
    let x = f.body.ops[0];
    f.body.ops.insert(1, x);
    assert!(verify::module(&m).unwrap_err().to_string().contains("appears twice"));

    let mut m = every_op();
    m.entry = FuncId(9);
    assert!(verify::module(&m).is_err());

    // A pipeline body that uses a value from outside is not self-contained.
    let mut m = every_op();
    let f = &mut m.functions[0];
    let outer = f.ops[f.body.ops[0]].results[0];
    let pipe = f.body.ops.iter().copied().find(|&o| matches!(f.ops[o].kind, OpKind::Pipeline(_))).unwrap();
    let mul = f.ops[pipe].regions[0].ops[0];
    f.ops[mul].operands[1] = outer;
    let err = verify::module(&m).unwrap_err().to_string();
    assert!(err.contains("outside the scope"), "{err}");

    // Split modes must match the operands.
    let mut m = every_op();
    let f = &mut m.functions[0];
    let pipe = f.body.ops.iter().copied().find(|&o| matches!(f.ops[o].kind, OpKind::Pipeline(_))).unwrap();
    if let OpKind::Pipeline(spec) = &mut f.ops[pipe].kind {
        spec.splits.pop();
    }
    assert!(verify::module(&m).unwrap_err().to_string().contains("split modes"));
}

#[test]
fn a_pipeline_extracts_to_a_module_that_verifies_and_round_trips() {
    let m = every_op();
    let f = &m.functions[0];
    let pipe = f.body.ops.iter().copied().find(|&o| matches!(f.ops[o].kind, OpKind::Pipeline(_))).unwrap();
    let alone = pipeline::extract(f, pipe).unwrap();
    verify::pipeline_module(&alone).unwrap();
    let back = Module::from_bytes(&alone.to_bytes()).unwrap();
    verify::pipeline_module(&back).unwrap();
    assert_eq!(print::module(&back), print::module(&alone));
    // A whole script is not a pipeline module.
    assert!(verify::pipeline_module(&m).is_err());
}

#[test]
fn parse_errors_are_located() {
    let err = parse::module("func @main() {\n  %0 = nosuch() : si64\n}\n").unwrap_err().to_string();
    assert!(err.starts_with("IR text 2:8: unknown op `nosuch`"), "{err}");
    let err = parse::module("func @main() {\n  %1 = ewAbs(%0) : si64\n}\n").unwrap_err().to_string();
    assert!(err.contains("%0 is used before it is defined"), "{err}");
}

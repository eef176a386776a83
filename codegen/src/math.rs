//! The Rust functions kernels call for what Cranelift has no instruction for. They are the
//! runtime's own `f64` operations, so a kernel computes the same bits as the interpreter.

use daphne_ir::Builtin;

extern "C" fn exp(x: f64) -> f64 {
    x.exp()
}
extern "C" fn ln(x: f64) -> f64 {
    x.ln()
}
extern "C" fn sin(x: f64) -> f64 {
    x.sin()
}
extern "C" fn cos(x: f64) -> f64 {
    x.cos()
}
extern "C" fn tan(x: f64) -> f64 {
    x.tan()
}
extern "C" fn sinh(x: f64) -> f64 {
    x.sinh()
}
extern "C" fn cosh(x: f64) -> f64 {
    x.cosh()
}
extern "C" fn tanh(x: f64) -> f64 {
    x.tanh()
}
extern "C" fn asin(x: f64) -> f64 {
    x.asin()
}
extern "C" fn acos(x: f64) -> f64 {
    x.acos()
}
extern "C" fn atan(x: f64) -> f64 {
    x.atan()
}
/// C++'s `round`: halves away from zero (Cranelift's `nearest` rounds them to even).
extern "C" fn round(x: f64) -> f64 {
    x.round()
}
/// As the runtime's `pow`: a square is `a * a`.
extern "C" fn pow(a: f64, b: f64) -> f64 {
    if b == 2.0 { a * a } else { a.powf(b) }
}
/// C's `fmod`.
extern "C" fn fmod(a: f64, b: f64) -> f64 {
    a % b
}
/// `log(a, b)`: the logarithm of `a` to base `b`, as the runtime computes it.
extern "C" fn log(a: f64, b: f64) -> f64 {
    a.ln() / b.ln()
}

/// One-argument functions: the op, the symbol name kernels import, the function.
pub(crate) const UNARY: &[(Builtin, &str, extern "C" fn(f64) -> f64)] = &[
    (Builtin::EwExp, "daphne_exp", exp),
    (Builtin::EwLn, "daphne_ln", ln),
    (Builtin::EwSin, "daphne_sin", sin),
    (Builtin::EwCos, "daphne_cos", cos),
    (Builtin::EwTan, "daphne_tan", tan),
    (Builtin::EwSinh, "daphne_sinh", sinh),
    (Builtin::EwCosh, "daphne_cosh", cosh),
    (Builtin::EwTanh, "daphne_tanh", tanh),
    (Builtin::EwAsin, "daphne_asin", asin),
    (Builtin::EwAcos, "daphne_acos", acos),
    (Builtin::EwAtan, "daphne_atan", atan),
    (Builtin::EwRound, "daphne_round", round),
];

/// Two-argument functions.
pub(crate) const BINARY: &[(Builtin, &str, extern "C" fn(f64, f64) -> f64)] =
    &[(Builtin::EwPow, "daphne_pow", pow), (Builtin::EwMod, "daphne_fmod", fmod), (Builtin::EwLog, "daphne_log", log)];

/// As the runtime's `f32` `pow`: a square is `a * a`, anything else `f32::powf`.
extern "C" fn powf(a: f32, b: f32) -> f32 {
    if b == 2.0 { a * a } else { a.powf(b) }
}
/// C's `fmodf`.
extern "C" fn fmodf(a: f32, b: f32) -> f32 {
    a % b
}

/// Two-argument functions the runtime computes in `f32` for floats (every other function of a
/// float is computed in `f64` and rounded, as the runtime does).
pub(crate) const BINARY_F32: &[(Builtin, &str, extern "C" fn(f32, f32) -> f32)] =
    &[(Builtin::EwPow, "daphne_powf", powf), (Builtin::EwMod, "daphne_fmodf", fmodf)];

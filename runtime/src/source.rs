//! Matrices made a range of rows at a time: what `rand` (dense), `fill` and `seq` make. Their
//! kernels are [`Source::make`] over all rows; a worker of a distributed run makes only its
//! rows of a large matrix, bit-identical to those rows of the whole matrix made here, so the
//! data is born where it is used.
//!
//! `rand`'s stream is sequential: a range of rows starts at the position the rows before
//! leave its engines at ([`RandPos`]); `Source::guess` is that position if nothing before was
//! re-drawn (`random::RandStream`), and the range's maker reports where it ended, so whoever
//! cuts the rows confirms each guess by the range before. `seq` adds its step row by row, so a
//! range replays the additions before it (a nanosecond a row, no memory).

use std::ops::Range;

use daphne_ir::{Builtin, ValueType};

use crate::elem::Elem;
use crate::error::Error;
use crate::kernels::args::{R, int_arg, size_arg};
use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
pub use crate::random::RandPos;
use crate::random::{RandStream, RandValue};
use crate::value::{Scalar, Value};
use crate::with_elem_type;

/// A matrix made by rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `rand(rows, cols, min, max, sparsity, seed)` with a dense result; `seed` is resolved
    /// (never `-1`), `min` and `max` have the value type.
    Rand { rows: usize, cols: usize, min: Scalar, max: Scalar, sparsity: f64, seed: i64 },
    /// `fill(value, rows, cols)` of a number.
    Fill { value: Scalar, rows: usize, cols: usize },
    /// `seq(from, to, inc)`: `rows` values from `from`, each the one before plus `inc` (both of
    /// the result's value type).
    Seq { from: Scalar, inc: Scalar, rows: usize },
    /// `sample(range, rows, true, seed)`: `rows` draws from `[0, range)` with replacement, one
    /// `rand` stream (`random::RandStream`) whose zeros stay; `seed` is resolved, `range` has
    /// the value type. (Without replacement each value depends on all before it: only the
    /// kernel makes it, whole.)
    Sample { range: Scalar, rows: usize, seed: i64 },
}

impl Source {
    /// The source of a creation op's arguments (`vt`: its result's value type), checked as the
    /// kernel checks them; `None` for other ops and for string matrices.
    pub fn of(op: Builtin, args: &[Value], vt: ValueType) -> R<Option<Source>> {
        Ok(Some(match op {
            Builtin::Rand => rand_of(args, vt)?,
            Builtin::Fill => {
                let rows = size_arg(op, &args[1], "the number of rows")?;
                let cols = size_arg(op, &args[2], "the number of columns")?;
                match &args[0] {
                    Value::Scalar(Scalar::Str(_)) => return Ok(None),
                    Value::Scalar(s) => Source::Fill { value: s.clone(), rows, cols },
                    _ => return Err("`fill` needs a scalar value".into()),
                }
            }
            Builtin::Seq => seq_of(&args[0], &args[1], &args[2], vt)?,
            Builtin::Sample => match sample_of(args, vt)? {
                Some(s) => s,
                None => return Ok(None),
            },
            _ => return Ok(None),
        }))
    }

    /// Rows and columns.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Source::Rand { rows, cols, .. } | Source::Fill { rows, cols, .. } => (*rows, *cols),
            Source::Seq { rows, .. } | Source::Sample { rows, .. } => (*rows, 1),
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Source::Rand { min: v, .. }
            | Source::Fill { value: v, .. }
            | Source::Seq { from: v, .. }
            | Source::Sample { range: v, .. } => v.value_type(),
        }
    }

    /// Where the stream stands before row `row` if nothing before it was re-drawn; `None`
    /// when it depends on the rows before (a `rand` that chooses cells at random). Only `rand`
    /// has a stream: the others stand at the start everywhere.
    pub fn guess(&self, row: usize) -> Option<RandPos> {
        match self {
            Source::Rand { .. } | Source::Sample { .. } => {
                let cols = self.shape().1;
                struct Guess(usize);
                impl RandFn<Option<RandPos>> for Guess {
                    fn call<T: RandValue + MatrixElem>(self, s: RandStream<T>) -> Option<RandPos> {
                        s.guess(self.0)
                    }
                }
                with_rand_type(self, Guess(row.checked_mul(cols)?), || None)
            }
            Source::Fill { .. } | Source::Seq { .. } => Some(RandPos::default()),
        }
    }

    /// Rows `rows` of the matrix, from the stream position `at` before the first of them; and
    /// the position after the last.
    pub fn make(&self, rows: Range<usize>, at: RandPos) -> R<(Matrix, RandPos)> {
        let (n, cols) = self.shape();
        if rows.start > rows.end || rows.end > n {
            return Err(Error::Internal(format!("rows {}..{} of a matrix of {n} rows", rows.start, rows.end)));
        }
        let count = rows.len();
        match self {
            Source::Rand { .. } | Source::Sample { .. } => {
                struct Make(Range<usize>, RandPos, &'static str);
                impl RandFn<R<(Matrix, RandPos)>> for Make {
                    fn call<T: RandValue + MatrixElem>(self, s: RandStream<T>) -> R<(Matrix, RandPos)> {
                        let Make(rows, at, op) = self;
                        let cols = s.num_cols;
                        let mut end = at;
                        let m = DenseMatrix::build(rows.len(), cols, op, |_| {
                            let (cells, e) = s
                                .cells(rows.start * cols..rows.end * cols, at)
                                .map_err(|e| Error::from(format!("{op}: {e}")))?;
                            end = e;
                            Ok(cells)
                        })?;
                        Ok((T::wrap(m), end))
                    }
                }
                let op = if matches!(self, Source::Sample { .. }) { "`sample`" } else { "`rand`" };
                with_rand_type(self, Make(rows, at, op), || {
                    Err(format!("{op} cannot generate values of type {}", self.value_type()).into())
                })
            }
            Source::Fill { value, .. } => {
                let m = with_elem_type!(value.value_type(), T => {
                    let v: T = value.get().unwrap_or_default();
                    T::wrap(DenseMatrix::filled(count, cols, v, "`fill`")?)
                }, str => return Err(Error::Internal("a string fill by rows".into())));
                Ok((m, at))
            }
            Source::Seq { from, inc, .. } => {
                let m = with_elem_type!(from.value_type(), T => {
                    let (start, step): (T, T) = (from.get().unwrap_or_default(), inc.get().unwrap_or_default());
                    let mut acc = start;
                    for _ in 0..rows.start {
                        acc = acc.add(step);
                    }
                    T::wrap(DenseMatrix::build(count, 1, "`seq`", |n| {
                        let mut cells = Vec::with_capacity(n);
                        for _ in 0..n {
                            cells.push(acc);
                            acc = acc.add(step);
                        }
                        Ok(cells)
                    })?)
                }, str => return Err(Error::Internal("a string seq".into())));
                Ok((m, at))
            }
        }
    }

    /// The whole matrix (what the kernel returns).
    pub fn make_all(&self) -> R<Value> {
        Ok(Value::Matrix(self.make(0..self.shape().0, RandPos::default())?.0))
    }
}

/// `f` on the typed `rand` stream of a `Source::Rand` or `Source::Sample` (`other` for value
/// types `rand` does not make, and other sources).
fn with_rand_type<X>(s: &Source, f: impl RandFn<X>, other: impl FnOnce() -> X) -> X {
    /// The stream's arguments, of any value type: a `sample` is a column of draws between 0
    /// and its upper bound (`nextafter(range, 0)`) that keeps its zeros.
    type Args<'a> = (usize, usize, Option<&'a Scalar>, &'a Scalar, f64, i64);
    let a: Args = match s {
        Source::Rand { rows, cols, min, max, sparsity, seed } => (*rows, *cols, Some(min), max, *sparsity, *seed),
        Source::Sample { range, rows, seed } => (*rows, 1, None, range, 1.0, *seed),
        _ => return other(),
    };
    fn stream<T: RandValue + MatrixElem>((rows, cols, min, max, sparsity, seed): Args) -> RandStream<T> {
        let max: T = max.get().unwrap_or_default();
        RandStream {
            num_rows: rows,
            num_cols: cols,
            min: min.map_or(T::ZERO, |m| m.get().unwrap_or_default()),
            max: if min.is_some() { max } else { max.sample_upper_bound() },
            sparsity,
            seed,
            keep_zeros: min.is_none(),
        }
    }
    match a.3.value_type() {
        ValueType::F64 => f.call(stream::<f64>(a)),
        ValueType::F32 => f.call(stream::<f32>(a)),
        ValueType::Si64 => f.call(stream::<i64>(a)),
        ValueType::Si32 => f.call(stream::<i32>(a)),
        ValueType::Si8 => f.call(stream::<i8>(a)),
        ValueType::Ui64 | ValueType::Index => f.call(stream::<u64>(a)),
        ValueType::Ui32 => f.call(stream::<u32>(a)),
        ValueType::Ui8 => f.call(stream::<u8>(a)),
        ValueType::Bool | ValueType::Str => other(),
    }
}

/// A function of a `rand` stream of any value type (what a generic closure would be).
trait RandFn<X> {
    fn call<T: RandValue + MatrixElem>(self, s: RandStream<T>) -> X;
}

/// `rand`'s arguments: rows, cols, min, max, sparsity, seed.
fn rand_of(args: &[Value], vt: ValueType) -> R<Source> {
    let op = Builtin::Rand;
    let rows = size_arg(op, &args[0], "the number of rows")?;
    let cols = size_arg(op, &args[1], "the number of columns")?;
    let sparsity = match &args[4] {
        Value::Scalar(s) => s.get::<f64>().ok_or("`rand`: the sparsity must be a number")?,
        _ => return Err("`rand`: the sparsity must be a scalar".into()),
    };
    let seed = crate::random::resolve_seed(int_arg(op, &args[5], "the seed")?);
    let bound = |v: &Value| -> R<Scalar> {
        match v {
            Value::Scalar(s) => s.cast(vt).ok_or_else(|| Error::from("`rand`: min and max must be numbers")),
            _ => Err("`rand`: min and max must be scalars".into()),
        }
    };
    let source = Source::Rand { rows, cols, min: bound(&args[2])?, max: bound(&args[3])?, sparsity, seed };
    struct Check;
    impl RandFn<R<()>> for Check {
        fn call<T: RandValue + MatrixElem>(self, s: RandStream<T>) -> R<()> {
            crate::random::validate_rand(s.num_rows, s.num_cols, s.min, s.max, s.sparsity)
                .map_err(|e| format!("`rand`: {e}").into())
        }
    }
    with_rand_type(&source, Check, || Err(format!("`rand` cannot generate values of type {vt}").into()))?;
    Ok(source)
}

/// `sample`'s arguments as the kernel reads them (the seed as given, `-1` unresolved).
pub struct SampleArgs {
    pub range: Scalar,
    pub size: usize,
    pub with_replacement: bool,
    pub seed: i64,
}

/// Reads `sample(range, size, withReplacement, seed)`'s arguments (the kernel's and
/// [`Source::of`]'s one reading of them).
pub fn sample_args(args: &[Value]) -> R<SampleArgs> {
    let op = Builtin::Sample;
    let size = size_arg(op, &args[1], "the size")?;
    let with_replacement = match &args[2] {
        Value::Scalar(s) => s.get::<bool>().ok_or("`sample`: withReplacement must be a boolean")?,
        _ => return Err("`sample`: withReplacement must be a scalar".into()),
    };
    let seed = int_arg(op, &args[3], "the seed")?;
    let range = match &args[0] {
        Value::Scalar(s) => s.clone(),
        _ => return Err("`sample`: the range must be a scalar".into()),
    };
    Ok(SampleArgs { range, size, with_replacement, seed })
}

/// `sample(range, size, withReplacement, seed)` with replacement (`None` without), checked as
/// the kernel checks it.
fn sample_of(args: &[Value], vt: ValueType) -> R<Option<Source>> {
    let SampleArgs { range, size: rows, with_replacement, seed } = sample_args(args)?;
    if !with_replacement {
        return Ok(None);
    }
    let seed = crate::random::resolve_seed(seed);
    let range = range.cast(vt).ok_or("`sample`: the range must be a number")?;
    struct Check<'a>(&'a Scalar, usize);
    impl RandFn<R<()>> for Check<'_> {
        fn call<T: RandValue + MatrixElem>(self, _: RandStream<T>) -> R<()> {
            let range: T = self.0.get().unwrap_or_default();
            crate::random::validate_sample(range, self.1, true).map_err(|e| format!("`sample`: {e}").into())
        }
    }
    let source = Source::Sample { range: range.clone(), rows, seed };
    with_rand_type(&source, Check(&range, rows), || Err(format!("`sample` cannot draw values of type {vt}").into()))?;
    Ok(Some(source))
}

/// `seq(from, to, inc)` in the value type `vt`: as DAPHNE's `Seq` kernel. A sequence with no
/// finite length (`seq(1, inf, 1)`) is an error, and so is one too long for memory.
fn seq_of(from: &Value, to: &Value, inc: &Value, vt: ValueType) -> R<Source> {
    fn count<T: MatrixElem>(start: T, end: T, inc: T) -> R<usize> {
        if T::IS_FLOAT && (inc.to_f64().is_nan() || start.to_f64().is_nan() || end.to_f64().is_nan()) {
            return Err("`seq`: from, to and inc must not be NaN".into());
        }
        if inc.is_zero() {
            return Err("`seq`: inc must not be zero".into());
        }
        let zero = T::default();
        if (start < end && inc < zero) || (start > end && inc > zero) {
            return Ok(0);
        }
        // DAPHNE's row count, `ceil(|end - start| / |inc|) + 1` in the value type; for integers
        // the distance is taken exactly (in the value type it may overflow, which C++ leaves
        // undefined), and the division truncates as C++'s does.
        let steps = if T::IS_FLOAT {
            let abs = |x: T| if x < zero { x.neg() } else { x };
            abs(end.sub(start)).div(abs(inc)).unwrap_or_default().to_f64().ceil()
        } else {
            let distance = (end.to_i128() - start.to_i128()).unsigned_abs();
            (distance / inc.to_i128().unsigned_abs()) as f64
        };
        let fmt = |x: T| {
            let mut s = String::new();
            x.cpp_fmt(&mut s);
            s
        };
        if !steps.is_finite() {
            return Err(format!(
                "`seq`: the sequence from {} to {} by {} has no finite length",
                fmt(start),
                fmt(end),
                fmt(inc)
            )
            .into());
        }
        // `steps` is below 2^64 here, so the conversion is exact for integers.
        let Some(n) = (steps < usize::MAX as f64).then(|| steps as usize + 1) else {
            return Err(format!(
                "`seq`: the sequence from {} to {} by {} has {} rows, more than any memory holds",
                fmt(start),
                fmt(end),
                fmt(inc),
                crate::format::fmt_f64(steps + 1.0)
            )
            .into());
        };
        crate::memory::check_shape::<T>(n, 1, "`seq`")?;
        // The last value, as the additions make it: one past the end (by more than rounding)
        // is dropped.
        let mut last = start;
        for _ in 1..n {
            last = last.add(inc);
        }
        let last = last.to_f64();
        let eps = if T::IS_FLOAT { 1.0e-13 } else { 0.0 };
        let (s, e) = (start.to_f64(), end.to_f64());
        if (e < s && e - last > eps) || (e > s && last - e > eps) {
            return Ok(n - 1);
        }
        Ok(n)
    }
    let get = |v: &Value, what: &str| -> R<Scalar> {
        match v {
            Value::Scalar(s) => s.cast(vt).ok_or_else(|| Error::from(format!("`seq`: {what} must be a number"))),
            _ => Err(format!("`seq`: {what} must be a scalar").into()),
        }
    };
    let (a, b, c) = (get(from, "from")?, get(to, "to")?, get(inc, "inc")?);
    let rows = with_elem_type!(vt, T => {
        let (a, b, c): (T, T, T) = (a.get().unwrap_or_default(), b.get().unwrap_or_default(), c.get().unwrap_or_default());
        count(a, b, c)?
    }, str => return Err("`seq` needs numbers".into()));
    Ok(Source::Seq { from: a, inc: c, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> Value {
        Value::Scalar(Scalar::F64(x))
    }

    fn i(x: i64) -> Value {
        Value::Scalar(Scalar::Si64(x))
    }

    /// The rows of `s` made range by range (each from where the one before ended) equal the
    /// whole matrix; and whether every guess was right.
    fn by_rows(s: &Source, cuts: &[usize]) -> (Matrix, bool) {
        let whole = match s.make_all().unwrap() {
            Value::Matrix(m) => m,
            _ => unreachable!(),
        };
        let mut at = RandPos::default();
        let mut right = true;
        for w in cuts.windows(2) {
            right &= s.guess(w[0]) == Some(at);
            let (part, end) = s.make(w[0]..w[1], at).unwrap();
            assert_eq!(part, whole.row_range(w[0], w[1]), "rows {}..{} of {s:?}", w[0], w[1]);
            at = end;
        }
        (whole, right)
    }

    #[test]
    fn seqs_rows_as_the_compiler_infers_them_are_the_kernels() {
        use daphne_ir::infer::{Operand, infer};
        use daphne_ir::{Literal, Type};
        let ends = [-7i64, -3, -1, 0, 1, 2, 5, 9, 10, 1 << 49];
        let mut known = 0;
        for (from, to, inc) in ends.iter().flat_map(|&a| ends.iter().flat_map(move |&b| ends.map(|c| (a, b, c)))) {
            if (to - from).unsigned_abs() / inc.unsigned_abs().max(1) > 1 << 20 {
                continue;
            }
            for vt in [ValueType::F64, ValueType::Si64] {
                let (lits, values): (Vec<Literal>, Vec<Value>) = [from, to, inc]
                    .into_iter()
                    .map(|x| match vt {
                        ValueType::F64 => (Literal::F64((x as f64).to_bits()), f(x as f64)),
                        _ => (Literal::Si64(x), i(x)),
                    })
                    .unzip();
                let ty = Type::Scalar(vt);
                let args: Vec<Operand> = lits.iter().map(|l| Operand { ty: &ty, constant: Some(l) }).collect();
                let inferred = match &infer(Builtin::Seq, &args).unwrap()[0] {
                    Type::Matrix(m) => m.rows,
                    other => panic!("seq inferred as {other:?}"),
                };
                let made = Source::of(Builtin::Seq, &values, vt).ok().flatten().map(|s| s.shape().0 as u64);
                if let Some(rows) = inferred {
                    known += 1;
                    assert_eq!(Some(rows), made, "seq({from}, {to}, {inc}) of {vt}");
                }
            }
        }
        assert!(known > 1000, "{known} shapes inferred");
        // A fraction is the kernel's to count.
        let frac = Literal::F64(0.5f64.to_bits());
        let ty = Type::Scalar(ValueType::F64);
        let args = [Operand { ty: &ty, constant: Some(&frac) }; 3];
        assert!(matches!(&infer(Builtin::Seq, &args).unwrap()[0], Type::Matrix(m) if m.rows.is_none()));
    }

    #[test]
    fn every_source_by_rows_is_the_whole() {
        let rand = Source::of(Builtin::Rand, &[i(50), i(7), f(0.0), f(1.0), f(1.0), i(42)], ValueType::F64).unwrap();
        let (m, right) = by_rows(&rand.unwrap(), &[0, 3, 4, 20, 50]);
        assert!(right);
        assert_eq!(m.rows(), 50);
        let ints = Source::of(Builtin::Rand, &[i(50), i(7), i(0), i(2), f(1.0), i(1)], ValueType::Si64).unwrap();
        assert!(!by_rows(&ints.unwrap(), &[0, 3, 4, 20, 50]).1, "zeros were re-drawn, so some guess is wrong");
        let sparse = Source::of(Builtin::Rand, &[i(50), i(7), f(1.0), f(2.0), f(0.2), i(3)], ValueType::F64).unwrap();
        assert!(sparse.as_ref().unwrap().guess(3).is_none());
        by_rows(&sparse.unwrap(), &[0, 3, 4, 20, 50]);
        let fill = Source::of(Builtin::Fill, &[f(2.5), i(9), i(3)], ValueType::F64).unwrap().unwrap();
        assert!(by_rows(&fill, &[0, 4, 9]).1);
        // Floating-point steps accumulate their rounding: a range replays the additions.
        let seq = Source::of(Builtin::Seq, &[f(0.0), f(1.0), f(0.1)], ValueType::F64).unwrap().unwrap();
        assert_eq!(seq.shape(), (11, 1));
        by_rows(&seq, &[0, 3, 7, 11]);
        let ints = Source::of(Builtin::Seq, &[i(10), i(-5), i(-3)], ValueType::Si64).unwrap().unwrap();
        assert_eq!(ints.shape(), (6, 1));
        by_rows(&ints, &[0, 1, 6]);
    }
}

//! Matrix Market files (`%%MatrixMarket matrix coordinate|array real|integer|pattern
//! general|symmetric|skew-symmetric`): read into a dense matrix, written from one.

use daphne_ir::ValueType;

use super::meta::Meta;
use crate::error::Error;
use crate::matrix::{DenseMatrix, Matrix};
use crate::value::Value;

/// A Matrix Market file (`%%MatrixMarket matrix coordinate|array real|integer|pattern
/// general|symmetric|skew-symmetric`), read into a dense matrix of the meta data's value type.
/// Coordinates are 1-based; `array` lists the cells column by column.
pub fn read_matrix_market(path: &str, meta: &Meta) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
    let bad = |what: &str| Error::from(format!("Matrix Market file '{path}': {what}"));
    let mut lines = text.lines();
    let header = lines.next().ok_or_else(|| bad("empty file"))?.to_lowercase();
    let words: Vec<&str> = header.split_whitespace().collect();
    if words.len() < 5 || words[0] != "%%matrixmarket" || words[1] != "matrix" {
        return Err(bad("the first line must be `%%MatrixMarket matrix <format> <field> <symmetry>`"));
    }
    let (coordinate, field, symmetry) = (words[2] == "coordinate", words[3], words[4]);
    if !["real", "integer", "pattern", "double"].contains(&field) {
        return Err(bad(&format!("the field `{field}` is not supported")));
    }
    let mut data = lines.filter(|l| !l.starts_with('%') && !l.trim().is_empty());
    let size: Vec<usize> = data
        .next()
        .ok_or_else(|| bad("missing size line"))?
        .split_whitespace()
        .map(|t| t.parse().map_err(|_| bad("malformed size line")))
        .collect::<Result<_, _>>()?;
    let (rows, cols) = (
        *size.first().ok_or_else(|| bad("malformed size line"))?,
        *size.get(1).ok_or_else(|| bad("malformed size line"))?,
    );
    // The compiler took the shape from the meta data: a matrix of another shape would
    // contradict its own type.
    if (Some(rows), cols) != (meta.rows, meta.cols) {
        return Err(bad(&format!(
            "its header says {rows}x{cols}, but its meta data '{path}.meta' says {}x{}",
            meta.rows.map_or("?".to_owned(), |r| r.to_string()),
            meta.cols
        )));
    }
    if symmetry != "general" && rows != cols {
        return Err(bad(&format!("a {symmetry} matrix must be square, not {rows}x{cols}")));
    }
    let vt = meta.schema.first().copied().unwrap_or(ValueType::F64);
    let what = format!("reading '{path}'");
    let entries = Entries { data: data.collect(), coordinate, pattern: field == "pattern", symmetry, rows, cols };
    macro_rules! cells {
        ($t:ty) => {
            entries.read::<$t>(&bad, &what).map(|m| Value::Matrix(<$t as crate::matrix::MatrixElem>::wrap(m)))
        };
    }
    match vt {
        ValueType::F64 => cells!(f64),
        ValueType::F32 => cells!(f32),
        ValueType::Si64 => cells!(i64),
        ValueType::Si32 => cells!(i32),
        ValueType::Si8 => cells!(i8),
        ValueType::Ui64 | ValueType::Index => cells!(u64),
        ValueType::Ui32 => cells!(u32),
        ValueType::Ui8 => cells!(u8),
        ValueType::Bool | ValueType::Str => Err(bad(&format!("cannot hold values of {vt}"))),
    }
}

/// A cell type of a matrix read from a Matrix Market file.
trait Cell: crate::elem::Elem {
    const ONE: Self;
    /// The value a cell's text spells exactly: an integer type takes an integer (`7`, or
    /// `7.0` and `7e0`, which are the same number) within its range, never a rounded one.
    fn parse(text: &str) -> Option<Self>;
    /// The value of the mirrored cell of a skew-symmetric matrix.
    fn negated(self) -> Option<Self>;
}

macro_rules! float_cell {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            const ONE: Self = 1.0;
            fn parse(text: &str) -> Option<Self> {
                text.parse().ok()
            }
            fn negated(self) -> Option<Self> {
                Some(-self)
            }
        }
    )*};
}
float_cell!(f64, f32);

macro_rules! int_cell {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            const ONE: Self = 1;
            fn parse(text: &str) -> Option<Self> {
                text.parse().ok().or_else(|| {
                    let x: f64 = text.parse().ok()?;
                    // Integral floats below 2^64 in magnitude are exact as i128.
                    (x.fract() == 0.0 && x.abs() < 1.9e19).then(|| <$t>::try_from(x as i128).ok()).flatten()
                })
            }
            fn negated(self) -> Option<Self> {
                (0 as $t).checked_sub(self)
            }
        }
    )*};
}
int_cell!(i64, i32, i8, u64, u32, u8);

/// A Matrix Market file's entries after its size line.
struct Entries<'t> {
    data: Vec<&'t str>,
    coordinate: bool,
    pattern: bool,
    symmetry: &'t str,
    rows: usize,
    cols: usize,
}

impl Entries<'_> {
    fn read<T: Cell>(&self, bad: &dyn Fn(&str) -> Error, what: &str) -> Result<DenseMatrix<T>, Error> {
        let (rows, cols, symmetry) = (self.rows, self.cols, self.symmetry);
        let mut dense = DenseMatrix::filled(rows, cols, T::default(), what)?;
        let cells = dense.cells_mut();
        let mut set = |r: usize, c: usize, v: T| -> Result<(), Error> {
            if r >= rows || c >= cols {
                return Err(bad(&format!("entry ({}, {}) is outside the {rows}x{cols} matrix", r + 1, c + 1)));
            }
            cells[r * cols + c] = v;
            match symmetry {
                "symmetric" if r != c => cells[c * cols + r] = v,
                "skew-symmetric" if r != c => {
                    cells[c * cols + r] = v.negated().ok_or_else(|| {
                        bad(&format!("entry ({}, {}) has no negative of type {} for its mirror", r + 1, c + 1, T::VT))
                    })?
                }
                _ => {}
            }
            Ok(())
        };
        let value = |text: Option<&str>, line: &str| -> Result<T, Error> {
            let text = text.ok_or_else(|| bad(&format!("malformed entry `{line}`")))?;
            T::parse(text).ok_or_else(|| bad(&format!("`{text}` in entry `{line}` is not a value of type {}", T::VT)))
        };
        if self.coordinate {
            for &line in &self.data {
                let t: Vec<&str> = line.split_whitespace().collect();
                let pos = |i: usize| -> Result<usize, Error> {
                    t.get(i)
                        .and_then(|s| s.parse::<usize>().ok())
                        .filter(|&p| p >= 1)
                        .map(|p| p - 1)
                        .ok_or_else(|| bad(&format!("malformed entry `{line}`")))
                };
                let v = if self.pattern { T::ONE } else { value(t.get(2).copied(), line)? };
                set(pos(0)?, pos(1)?, v)?;
            }
        } else {
            let mut it = self.data.iter();
            for c in 0..cols {
                let start = if symmetry == "general" { 0 } else { c };
                for r in start..rows {
                    let line = it.next().ok_or_else(|| bad("too few values"))?;
                    set(r, c, value(Some(line.trim()), line)?)?;
                }
            }
        }
        Ok(dense)
    }
}

/// Writes a matrix as a Matrix Market file: `coordinate` with the non-zero cells (1-based,
/// row by row), `integer` for integer value types and `real` for floats, with the shortest
/// text that reads back to the same value. Returns its meta data.
pub fn write_matrix_market(m: &Matrix, path: &str) -> Result<Meta, Error> {
    use std::io::Write as _;
    let vt = m.value_type();
    if vt == ValueType::Str {
        return Err("a matrix of strings cannot be written to a Matrix Market file".into());
    }
    let err = |e: std::io::Error| format!("could not write file '{path}': {e}");
    let file = std::fs::File::create(path).map_err(err)?;
    let mut w = std::io::BufWriter::new(file);
    let (rows, cols) = (m.rows(), m.cols());
    let field = if vt.is_float() { "real" } else { "integer" };
    // Debug formatting is the shortest round-trip text for floats and decimal for integers.
    let nonzeros: Vec<(usize, String)> = crate::with_matrix!(m, x => x
        .cells()
        .iter()
        .enumerate()
        .filter(|(_, v)| !crate::elem::Elem::is_zero(**v))
        .map(|(i, v)| (i, if vt == ValueType::Bool { "1".to_owned() } else { format!("{v:?}") }))
        .collect(), _s => Vec::new());
    writeln!(w, "%%MatrixMarket matrix coordinate {field} general").map_err(err)?;
    writeln!(w, "{rows} {cols} {}", nonzeros.len()).map_err(err)?;
    for (i, v) in nonzeros {
        let v = if v == "NaN" { "nan".to_owned() } else { v };
        writeln!(w, "{} {} {v}", i / cols + 1, i % cols + 1).map_err(err)?;
    }
    w.flush().map_err(err)?;
    Ok(Meta { rows: Some(rows), cols, schema: vec![vt], labels: None, header: false, delimiter: b',' })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> String {
        crate::io::test_path("mtx", name)
    }

    fn round_trip(m: &Matrix, name: &str) -> (String, Matrix) {
        let p = tmp(name);
        let meta = write_matrix_market(m, &p).unwrap();
        assert_eq!((meta.rows, meta.cols, meta.schema.clone()), (Some(m.rows()), m.cols(), vec![m.value_type()]));
        let text = std::fs::read_to_string(&p).unwrap();
        let Value::Matrix(back) = read_matrix_market(&p, &meta).unwrap() else { panic!() };
        (text, back)
    }

    #[test]
    fn floats_read_back_with_zeros_nan_and_negative_values() {
        let xs = vec![0.0, -1.5, f64::NAN, 0.0, 1e-300, -f64::MAX, f64::INFINITY, 0.1, 0.0];
        let m = Matrix::F64(DenseMatrix::from_vec(3, 3, xs.clone()));
        let (text, back) = round_trip(&m, "f64.mtx");
        let mut lines = text.lines();
        // The banner and the size line (rows, columns, entries) as the format's spec has them.
        assert_eq!(lines.next(), Some("%%MatrixMarket matrix coordinate real general"));
        assert_eq!(lines.next(), Some("3 3 6"));
        assert_eq!(lines.next(), Some("1 2 -1.5"));
        assert_eq!(lines.next(), Some("1 3 nan"));
        let Matrix::F64(back) = back else { panic!("{back:?}") };
        for (a, b) in xs.iter().zip(back.cells()) {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{a} read back as {b}");
        }
    }

    #[test]
    fn integers_read_back_exactly() {
        let xs = vec![0, -1, i64::MIN, 9007199254740993, 0, i64::MAX];
        let m = Matrix::Si64(DenseMatrix::from_vec(2, 3, xs));
        let (text, back) = round_trip(&m, "si64.mtx");
        assert!(text.starts_with("%%MatrixMarket matrix coordinate integer general\n2 3 4\n1 2 -1\n"), "{text}");
        assert_eq!(back, m);
        let u = Matrix::Ui64(DenseMatrix::from_vec(1, 2, vec![u64::MAX, 0]));
        assert_eq!(round_trip(&u, "ui64.mtx").1, u);
    }

    #[test]
    fn a_value_outside_the_value_type_is_an_error() {
        let p = tmp("range.mtx");
        std::fs::write(&p, "%%MatrixMarket matrix coordinate real general\n1 2 2\n1 1 300\n1 2 1.5\n").unwrap();
        let meta =
            Meta { rows: Some(1), cols: 2, schema: vec![ValueType::Ui8], labels: None, header: false, delimiter: b',' };
        let e = read_matrix_market(&p, &meta).unwrap_err().to_string();
        assert!(e.contains("`300` in entry `1 1 300` is not a value of type ui8"), "{e}");
        let meta = Meta { schema: vec![ValueType::Si64], ..meta };
        assert!(read_matrix_market(&p, &meta).unwrap_err().to_string().contains("`1.5` in entry"));
    }
}

//! Matrix Market files (`%%MatrixMarket matrix coordinate|array real|integer|pattern
//! general|symmetric|skew-symmetric`): read into a dense matrix, written from one.

use daphne_ir::ValueType;

use super::Meta;
use crate::matrix::{DenseMatrix, Matrix};
use crate::value::Value;

/// A Matrix Market file (`%%MatrixMarket matrix coordinate|array real|integer|pattern
/// general|symmetric|skew-symmetric`), read into a dense matrix of the meta data's value type.
/// Coordinates are 1-based; `array` lists the cells column by column.
pub fn read_matrix_market(path: &str, meta: &Meta) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("could not read file '{path}': {e}"))?;
    let bad = |what: &str| format!("Matrix Market file '{path}': {what}");
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
    let mut dense = DenseMatrix::filled(rows, cols, 0.0f64, &format!("reading '{path}'"))?;
    let cells = dense.cells_mut();
    let mut set = |r: usize, c: usize, v: f64| -> Result<(), String> {
        if r >= rows || c >= cols {
            return Err(bad(&format!("entry ({}, {}) is outside the {rows}x{cols} matrix", r + 1, c + 1)));
        }
        cells[r * cols + c] = v;
        match symmetry {
            "symmetric" if r != c => cells[c * cols + r] = v,
            "skew-symmetric" if r != c => cells[c * cols + r] = -v,
            _ => {}
        }
        Ok(())
    };
    if coordinate {
        for line in data {
            let t: Vec<&str> = line.split_whitespace().collect();
            let pos = |i: usize| -> Result<usize, String> {
                t.get(i)
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|&p| p >= 1)
                    .map(|p| p - 1)
                    .ok_or_else(|| bad(&format!("malformed entry `{line}`")))
            };
            let v = if field == "pattern" {
                1.0
            } else {
                t.get(2).and_then(|s| s.parse::<f64>().ok()).ok_or_else(|| bad(&format!("malformed entry `{line}`")))?
            };
            set(pos(0)?, pos(1)?, v)?;
        }
    } else {
        let values: Vec<f64> = data
            .map(|l| l.trim().parse::<f64>().map_err(|_| bad(&format!("malformed value `{l}`"))))
            .collect::<Result<_, _>>()?;
        let mut it = values.into_iter();
        for c in 0..cols {
            let start = if symmetry == "general" { 0 } else { c };
            for r in start..rows {
                set(r, c, it.next().ok_or_else(|| bad("too few values"))?)?;
            }
        }
    }
    let vt = meta.schema.first().copied().unwrap_or(ValueType::F64);
    Matrix::F64(dense).cast(vt).map(Value::Matrix).ok_or_else(|| bad(&format!("cannot hold values of {vt}")))
}

/// Writes a matrix as a Matrix Market file: `coordinate` with the non-zero cells (1-based,
/// row by row), `integer` for integer value types and `real` for floats, with the shortest
/// text that reads back to the same value. Returns its meta data.
pub fn write_matrix_market(m: &Matrix, path: &str) -> Result<Meta, String> {
    use std::io::Write as _;
    let vt = m.value_type();
    if vt == ValueType::Str {
        return Err("a matrix of strings cannot be written to a Matrix Market file".to_owned());
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

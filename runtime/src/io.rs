//! Reading and writing matrices and frames as CSV files with DAPHNE's `.meta` JSON files
//! beside them (`doc/FileMetaDataFormat.md`).
//!
//! Parsing follows DAPHNE's readers where it matters for output: floats are read as `strtod`
//! reads them (a cell that is not a number is NaN), integers as `atoi` reads a leading number.
//! Writing follows `WriteCsv.h`: floats with `%f`, integers in decimal, strings quoted only
//! when they contain a comma, a quote or a line break; the meta file is compact JSON with
//! sorted keys, as nlohmann's `dump()` writes it.

use std::sync::Arc;

use daphne_ir::ValueType;
use serde_json::{Map, Value as Json};

use crate::format::CppDisplay;
use crate::frame::Frame;
use crate::kernels::{cell, matrix_from_scalars};
use crate::matrix::{DenseMatrix, Matrix};
use crate::value::{Scalar, Value};

/// What a `.meta` file says.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub rows: usize,
    pub cols: usize,
    /// One value type per column; a single entry for a matrix.
    pub schema: Vec<ValueType>,
    /// Column labels, for frames.
    pub labels: Option<Vec<String>>,
}

fn value_type(name: &str) -> Option<ValueType> {
    match name {
        "f64" => Some(ValueType::F64),
        "f32" => Some(ValueType::F32),
        "si64" => Some(ValueType::Si64),
        "si32" => Some(ValueType::Si32),
        "si8" => Some(ValueType::Si8),
        "ui64" => Some(ValueType::Ui64),
        "ui32" => Some(ValueType::Ui32),
        "ui8" => Some(ValueType::Ui8),
        "str" => Some(ValueType::Str),
        _ => None,
    }
}

/// Reads and checks `path.meta`.
pub fn read_meta(path: &str) -> Result<Meta, String> {
    let meta_path = format!("{path}.meta");
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|e| format!("could not open file '{meta_path}' for reading meta data: {e}"))?;
    let bad = |what: &str| format!("meta data file '{meta_path}': {what}");
    let json: Json = serde_json::from_str(&text).map_err(|e| bad(&format!("not valid JSON: {e}")))?;
    let obj = json.as_object().ok_or_else(|| bad("expected a JSON object"))?;
    let size = |key: &str| -> Result<usize, String> {
        obj.get(key)
            .and_then(Json::as_u64)
            .map(|n| n as usize)
            .ok_or_else(|| bad(&format!("\"{key}\" must be present and a non-negative integer")))
    };
    let (rows, cols) = (size("numRows")?, size("numCols")?);
    let default_vt = match obj.get("valueType") {
        None => None,
        Some(v) => {
            let name = v.as_str().ok_or_else(|| bad("\"valueType\" must be a string"))?;
            Some(value_type(name).ok_or_else(|| bad(&format!("unknown value type \"{name}\"")))?)
        }
    };
    match obj.get("schema") {
        None => {
            let vt = default_vt.ok_or_else(|| bad("a matrix needs \"valueType\""))?;
            Ok(Meta { rows, cols, schema: vec![vt], labels: None })
        }
        Some(schema) => {
            let columns = schema.as_array().ok_or_else(|| bad("\"schema\" must be a list"))?;
            let mut vts = Vec::new();
            let mut labels = Vec::new();
            for c in columns {
                let label = c.get("label").and_then(Json::as_str).unwrap_or("").to_owned();
                let vt = match c.get("valueType").and_then(Json::as_str).unwrap_or("") {
                    "" => default_vt.ok_or_else(|| bad("a column has no value type and there is no default"))?,
                    name => value_type(name).ok_or_else(|| bad(&format!("unknown value type \"{name}\"")))?,
                };
                vts.push(vt);
                labels.push(label);
            }
            if vts.len() != cols {
                return Err(bad(&format!("\"schema\" has {} columns but \"numCols\" is {cols}", vts.len())));
            }
            Ok(Meta { rows, cols, schema: vts, labels: Some(labels) })
        }
    }
}

/// Splits a CSV line into cells; double quotes enclose cells with commas, `""` is a quote.
fn split_csv(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    cells.push(cur);
    cells
}

/// A cell as DAPHNE's reader converts it to value type `vt`.
fn parse_cell(text: &str, vt: ValueType) -> Scalar {
    let t = text.trim();
    if vt == ValueType::Str {
        return Scalar::Str(Arc::from(text));
    }
    if vt.is_float() {
        // strtod: the longest leading number; none gives NaN.
        let end = (1..=t.len()).rev().find(|&i| t.is_char_boundary(i) && t[..i].parse::<f64>().is_ok());
        let v = end.map_or(f64::NAN, |i| t[..i].parse::<f64>().unwrap_or(f64::NAN));
        return Scalar::from_elem(v, vt);
    }
    // atoi: an optional sign and leading digits; none gives 0.
    let bytes = t.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let v: i128 = t[..i].parse().unwrap_or(0);
    Scalar::from_elem(v as i64, vt)
}

/// The rows of a CSV file, checked against the expected shape.
fn read_rows(path: &str, meta: &Meta) -> Result<Vec<Vec<String>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("could not read file '{path}': {e}"))?;
    let rows: Vec<Vec<String>> = text.lines().filter(|l| !l.trim().is_empty()).take(meta.rows).map(split_csv).collect();
    if rows.len() < meta.rows {
        return Err(format!("file '{path}' has {} rows but its meta data says {}", rows.len(), meta.rows));
    }
    for (i, r) in rows.iter().enumerate() {
        if r.len() < meta.cols {
            return Err(format!("row {i} of file '{path}' has {} cells but its meta data says {}", r.len(), meta.cols));
        }
    }
    Ok(rows)
}

/// Checks a file name's extension as DAPHNE's `Read`/`Write` kernels do. Only CSV is
/// implemented; DAPHNE's other formats are reported as such.
fn check_extension(path: &str, writing: bool) -> Result<(), String> {
    let ext = std::path::Path::new(path).extension().map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    match ext.as_str() {
        ".csv" => Ok(()),
        ".mtx" if !writing => Ok(()),
        ".mtx" | ".parquet" | ".dbdf" => Err(format!("file extension '{ext}' is not supported by daphne-rs yet")),
        _ => Err(format!("file extension not supported: '{ext}'")),
    }
}

/// `readMatrix(path)`
pub fn read_matrix(path: &str) -> Result<Value, String> {
    check_extension(path, false)?;
    let meta = read_meta(path)?;
    if path.ends_with(".mtx") {
        return read_matrix_market(path, &meta);
    }
    if meta.labels.is_some() {
        return Err(format!("the meta data of '{path}' describes a frame; use readFrame"));
    }
    let vt = meta.schema[0];
    let rows = read_rows(path, &meta)?;
    // A file without rows does not bound the number of columns its meta data declares.
    crate::memory::check_shape::<Scalar>(meta.rows, meta.cols, &format!("reading '{path}'"))?;
    let cells: Vec<Scalar> = rows.iter().flat_map(|r| r[..meta.cols].iter().map(|c| parse_cell(c, vt))).collect();
    matrix_from_scalars(meta.rows, meta.cols, &cells, vt)
}

/// `readFrame(path)`
pub fn read_frame(path: &str) -> Result<Value, String> {
    check_extension(path, false)?;
    if path.ends_with(".mtx") {
        return Err("reading a frame from a Matrix Market file is not supported".to_owned());
    }
    let meta = read_meta(path)?;
    let rows = read_rows(path, &meta)?;
    // A file without rows does not bound the number of columns its meta data declares.
    crate::memory::check_cells::<Matrix>(1, meta.cols, &format!("the columns of '{path}'"))?;
    let schema =
        if meta.schema.len() == 1 && meta.cols != 1 { vec![meta.schema[0]; meta.cols] } else { meta.schema.clone() };
    let mut columns = Vec::new();
    for (j, &vt) in schema.iter().enumerate() {
        let cells: Vec<Scalar> = rows.iter().map(|r| parse_cell(&r[j], vt)).collect();
        match matrix_from_scalars(meta.rows, 1, &cells, vt)? {
            Value::Matrix(m) => columns.push(m),
            _ => return Err("internal: not a matrix".to_owned()),
        }
    }
    let labels = match &meta.labels {
        Some(ls) => ls
            .iter()
            .enumerate()
            .map(|(i, l)| if l.is_empty() { crate::frame::default_label(i) } else { Arc::from(l.as_str()) })
            .collect(),
        None => (0..meta.cols).map(crate::frame::default_label).collect(),
    };
    Frame::new(columns, labels).map(Value::Frame)
}

/// A cell as DAPHNE's CSV writer prints it.
fn write_cell(s: &Scalar, out: &mut String) {
    match s {
        Scalar::F64(x) => out.push_str(&x.cpp_to_string()),
        Scalar::F32(x) => out.push_str(&x.cpp_to_string()),
        Scalar::Str(t) => {
            if t.contains([',', '"', '\n', '\r']) {
                out.push('"');
                out.push_str(&t.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(t);
            }
        }
        other => other.print(out),
    }
}

fn vt_name(vt: ValueType) -> &'static str {
    match vt {
        ValueType::Index => "ui64",
        other => other.name(),
    }
}

/// `write(X, path)`, `writeMatrix`, `writeFrame`: the CSV file and its `.meta`.
pub fn write(v: &Value, path: &str) -> Result<(), String> {
    check_extension(path, true)?;
    let mut text = String::new();
    let mut meta = Map::new();
    match v {
        Value::Matrix(m) => {
            for i in 0..m.rows() {
                for j in 0..m.cols() {
                    if j > 0 {
                        text.push(',');
                    }
                    write_cell(&cell(m, i, j), &mut text);
                }
                text.push('\n');
            }
            meta.insert("numRows".into(), Json::from(m.rows()));
            meta.insert("numCols".into(), Json::from(m.cols()));
            meta.insert("valueType".into(), Json::from(vt_name(m.value_type())));
        }
        Value::Frame(f) => {
            for i in 0..f.rows() {
                for (j, c) in f.columns().iter().enumerate() {
                    if j > 0 {
                        text.push(',');
                    }
                    write_cell(&cell(c, i, 0), &mut text);
                }
                text.push('\n');
            }
            meta.insert("numRows".into(), Json::from(f.rows()));
            meta.insert("numCols".into(), Json::from(f.cols()));
            let schema: Vec<Json> = f
                .labels()
                .iter()
                .zip(f.schema())
                .map(|(l, vt)| {
                    let mut c = Map::new();
                    c.insert("label".into(), Json::from(&**l));
                    c.insert("valueType".into(), Json::from(vt_name(vt)));
                    Json::Object(c)
                })
                .collect();
            meta.insert("schema".into(), Json::Array(schema));
        }
        Value::Scalar(_) | Value::List(..) | Value::Sparse(_) | Value::Remote(_) => {
            return Err("only matrices and frames can be written to files".to_owned());
        }
    }
    std::fs::write(path, text).map_err(|e| format!("could not write file '{path}': {e}"))?;
    let meta_path = format!("{path}.meta");
    std::fs::write(&meta_path, Json::Object(meta).to_string())
        .map_err(|e| format!("could not open file '{meta_path}' for writing meta data: {e}"))
}

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
    if (rows, cols) != (meta.rows, meta.cols) {
        return Err(bad(&format!(
            "its header says {rows}x{cols}, but its meta data '{path}.meta' says {}x{}",
            meta.rows, meta.cols
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

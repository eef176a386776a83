//! Reading and writing matrices and frames, one module per file format, chosen by the file
//! name's extension ([`format_of`]):
//!
//! - [`csv`] (`.csv`, `.tsv`): with DAPHNE's `.meta` JSON files beside them
//!   (`doc/FileMetaDataFormat.md`) or with a schema inferred from the file;
//! - [`mtx`] (`.mtx`): Matrix Market files, with a `.meta` file;
//! - [`parquet`] (`.parquet`, the `parquet` feature): the schema is the file's footer;
//! - [`dbdf`] (`.dbdf`): DAPHNE's binary format, the schema is the file's header.
//!
//! The compiler asks [`describe`] what a file holds (the file's own schema for Parquet and
//! `.dbdf` files, else its `.meta` file, else the CSV file's own header, else an inference
//! from its first rows) and types the read with the answer; at run time the read gets that
//! type back ([`Meta::from_type`]) and the file must agree with it. A `.meta` file beside a
//! Parquet or `.dbdf` file is not read: the file's own schema is the authority (DAPHNE needs
//! one beside either; `write` writes it for `.dbdf` files, as DAPHNE does, and not for Parquet
//! files, which DAPHNE does not write).
//! No cell is ever changed on the way in: a cell that does not hold a value of its column's
//! type, a row with too many or too few cells and a file with more or fewer rows than its meta
//! data says are errors naming the file, line and column ([`csv`]); a null in a Parquet
//! column other than a float one (where it is NaN) is an error naming the file, column and row.
//!
//! Writing CSV follows DAPHNE's `WriteCsv.h` (integers in decimal, strings quoted when they
//! need it, the meta file as compact JSON with sorted keys, as nlohmann's `dump()` writes it),
//! except that floats are written as the shortest text that reads back to the same bits;
//! DAPHNE's `%f` ([`FloatFormat::Fixed`]) is the user configuration's `csv_float_format`.

pub mod csv;
pub mod dbdf;
pub mod mtx;
#[cfg(feature = "parquet")]
pub mod parquet;

use std::sync::Arc;

use daphne_ir::{FrameType, MatrixType, Type, ValueType};
use serde_json::{Map, Value as Json};

use crate::value::Value;

/// What a file holds: its `.meta` file's content, or what was inferred from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// Unknown for a file whose rows were not counted (a schema inferred while compiling).
    pub rows: Option<usize>,
    pub cols: usize,
    /// One value type per column; a single entry for a matrix.
    pub schema: Vec<ValueType>,
    /// Column labels, for frames.
    pub labels: Option<Vec<String>>,
    /// Whether the first line of a CSV file holds the column labels (not data).
    pub header: bool,
    /// The cell delimiter of a CSV file.
    pub delimiter: u8,
}

/// How a script asked for a file to be read: `readFrame(path, header=true, sep=";")`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadOptions {
    pub frame: bool,
    pub header: Option<bool>,
    pub delimiter: Option<u8>,
    /// `valueType="si64"`: the value type of every cell (matrices) or column (frames).
    pub value_type: Option<ValueType>,
}

/// How floating-point cells are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FloatFormat {
    /// The shortest text that reads back to the same value (`0.1`, `1e-10`).
    #[default]
    Shortest,
    /// DAPHNE's `%f` (`0.100000`, `0.000000` for `1e-10`): byte-compatible with DAPHNE.
    Fixed,
}

impl FloatFormat {
    /// The user configuration's `csv_float_format` values.
    pub fn parse(name: &str) -> Option<FloatFormat> {
        match name {
            "shortest" => Some(FloatFormat::Shortest),
            "fixed" | "%f" => Some(FloatFormat::Fixed),
            _ => None,
        }
    }
}

pub(crate) fn value_type(name: &str) -> Option<ValueType> {
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

/// The name of a value type in meta data files.
pub(crate) fn vt_name(vt: ValueType) -> &'static str {
    match vt {
        ValueType::Index => "ui64",
        other => other.name(),
    }
}

/// A delimiter as a script or a meta file writes it: one ASCII character other than a quote
/// or a line break (`"\t"` for a tab).
pub fn delimiter(text: &str) -> Result<u8, String> {
    match text.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Ok(*b),
        _ => Err(format!("the separator must be one ASCII character other than a quote or a line break, not {text:?}")),
    }
}

fn meta_path(path: &str) -> String {
    format!("{path}.meta")
}

/// Whether `path.meta` exists.
pub fn has_meta(path: &str) -> bool {
    std::path::Path::new(&meta_path(path)).exists()
}

/// Reads and checks `path.meta`.
pub fn read_meta(path: &str) -> Result<Meta, String> {
    let meta_path = meta_path(path);
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
    let header = match obj.get("header") {
        None => false,
        Some(h) => h.as_bool().ok_or_else(|| bad("\"header\" must be true or false"))?,
    };
    let delimiter = match obj.get("delimiter") {
        None => b',',
        Some(d) => delimiter(d.as_str().ok_or_else(|| bad("\"delimiter\" must be a string"))?).map_err(|e| bad(&e))?,
    };
    let default_vt = match obj.get("valueType") {
        None => None,
        Some(v) => {
            let name = v.as_str().ok_or_else(|| bad("\"valueType\" must be a string"))?;
            Some(value_type(name).ok_or_else(|| bad(&format!("unknown value type \"{name}\"")))?)
        }
    };
    let meta = |schema, labels| Meta { rows: Some(rows), cols, schema, labels, header, delimiter };
    match obj.get("schema") {
        None => {
            let vt = default_vt.ok_or_else(|| bad("a matrix needs \"valueType\""))?;
            Ok(meta(vec![vt], None))
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
            Ok(meta(vts, Some(labels)))
        }
    }
}

/// The `.meta` JSON DAPHNE writes for `meta` (compact, keys sorted).
pub fn meta_json(meta: &Meta) -> String {
    let mut obj = Map::new();
    obj.insert("numRows".into(), Json::from(meta.rows.unwrap_or(0)));
    obj.insert("numCols".into(), Json::from(meta.cols));
    if meta.header {
        obj.insert("header".into(), Json::from(true));
    }
    if meta.delimiter != b',' {
        obj.insert("delimiter".into(), Json::from((meta.delimiter as char).to_string()));
    }
    match &meta.labels {
        None => {
            obj.insert("valueType".into(), Json::from(vt_name(meta.schema[0])));
        }
        Some(labels) => {
            let schema: Vec<Json> = labels
                .iter()
                .zip(&meta.schema)
                .map(|(l, vt)| {
                    let mut c = Map::new();
                    c.insert("label".into(), Json::from(l.as_str()));
                    c.insert("valueType".into(), Json::from(vt_name(*vt)));
                    Json::Object(c)
                })
                .collect();
            obj.insert("schema".into(), Json::Array(schema));
        }
    }
    Json::Object(obj).to_string()
}

/// The formats, by file name extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    MatrixMarket,
    Parquet,
    /// DAPHNE's binary data format.
    Daphne,
}

/// A file's format, by its extension, as DAPHNE's `Read`/`Write` kernels choose it.
fn format_of(path: &str, writing: bool) -> Result<Format, String> {
    let ext = std::path::Path::new(path).extension().map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    match ext.as_str() {
        ".csv" | ".tsv" => Ok(Format::Csv),
        ".mtx" => Ok(Format::MatrixMarket),
        ".parquet" => Ok(Format::Parquet),
        ".dbdf" => Ok(Format::Daphne),
        _ if writing => Err(format!("file extension not supported: '{ext}' (use .csv, .mtx, .parquet or .dbdf)")),
        _ => {
            Err(format!("file extension not supported: '{ext}' (daphne-rs reads .csv, .tsv, .mtx, .parquet and .dbdf)"))
        }
    }
}

#[cfg(not(feature = "parquet"))]
fn no_parquet(path: &str) -> String {
    format!(
        "cannot read or write '{path}': this build of daphne-rs lacks Parquet support (it was built without the `parquet` feature)"
    )
}

/// What a file that carries its own schema (Parquet, DAPHNE binary) says it holds, shaped
/// for the read: a matrix needs one value type for all columns.
fn own_schema(path: &str, format: Format, opts: &ReadOptions) -> Result<Meta, String> {
    let (mut meta, name) = match format {
        #[cfg(feature = "parquet")]
        Format::Parquet => (parquet::describe(path)?, "a Parquet file"),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => return Err(no_parquet(path)),
        _ => (dbdf::describe(path)?, "a DAPHNE binary file"),
    };
    if opts.header.is_some() || opts.delimiter.is_some() {
        return Err(format!("the options header and sep are for CSV files, and '{path}' is {name}"));
    }
    let names = |m: &Meta| -> String {
        let types = m.column_types();
        match &m.labels {
            Some(ls) => {
                ls.iter().zip(&types).map(|(l, vt)| format!("{l}:{}", vt_name(*vt))).collect::<Vec<_>>().join(", ")
            }
            None => format!("{} columns of {}", m.cols, m.schema.first().map_or("?", |vt| vt_name(*vt))),
        }
    };
    if let Some(vt) = opts.value_type
        && meta.column_types().iter().any(|&t| t != vt)
    {
        return Err(format!(
            "the option valueType=\"{}\" contradicts '{path}', whose columns are [{}] ({name} carries its schema; nothing is converted)",
            vt_name(vt),
            names(&meta)
        ));
    }
    match (format, opts.frame, meta.labels.is_some()) {
        (Format::Daphne, true, false) => return Err(format!("'{path}' holds a matrix; read it with readMatrix")),
        (Format::Daphne, false, true) => return Err(format!("'{path}' holds a frame; read it with readFrame")),
        (_, true, _) => {}
        (_, false, _) => {
            let types = meta.column_types();
            let Some(&first) = types.first() else {
                return Err(format!("'{path}' has no columns, so it holds no matrix"));
            };
            if types.iter().any(|&t| t != first) {
                return Err(format!(
                    "readMatrix reads files whose columns have one value type, but the columns of '{path}' are [{}]; use readFrame",
                    names(&meta)
                ));
            }
            meta.schema = vec![first];
            meta.labels = None;
        }
    }
    Ok(meta)
}

/// What the compiler needs to know about a file a script reads: a Parquet or `.dbdf` file's
/// own schema, else its `.meta` file if there is one, else what the file itself says. The
/// second result, when there is one, tells the user what was inferred (for stderr).
pub fn describe(path: &str, opts: &ReadOptions) -> Result<(Meta, Option<String>), String> {
    if let Ok(format @ (Format::Parquet | Format::Daphne)) = format_of(path, false) {
        return Ok((own_schema(path, format, opts)?, None));
    }
    // As DAPHNE: a file with meta data is typed by it, whatever its extension (a format that
    // cannot be read is a run-time error).
    if has_meta(path) {
        let mut meta = read_meta(path)?;
        merge_options(path, &mut meta, opts)?;
        check_kind(path, &meta, opts.frame)?;
        if opts.frame {
            header_labels(path, &mut meta)?;
        }
        return Ok((meta, None));
    }
    match format_of(path, false)? {
        Format::Csv => {
            let (meta, note) = csv::infer(path, opts, default_delimiter(path))?;
            Ok((meta, Some(note)))
        }
        _ => Err(format!("could not open file '{}' for reading meta data", meta_path(path))),
    }
}

/// A tab for `.tsv` files, else a comma.
fn default_delimiter(path: &str) -> u8 {
    if path.ends_with(".tsv") { b'\t' } else { b',' }
}

/// Applies a script's options to what a `.meta` file says: the file's meta data is the
/// authority, so an option may add what it leaves open but not contradict it.
fn merge_options(path: &str, meta: &mut Meta, opts: &ReadOptions) -> Result<(), String> {
    let conflict = |what: &str| {
        format!("the option {what} contradicts the meta data file '{}' (which is the authority)", meta_path(path))
    };
    if let Some(h) = opts.header {
        if meta.header && !h {
            return Err(conflict("header=false"));
        }
        meta.header = h;
    }
    if let Some(d) = opts.delimiter {
        if meta.delimiter != b',' && meta.delimiter != d {
            return Err(conflict(&format!("sep={:?}", d as char)));
        }
        meta.delimiter = d;
    }
    if let Some(vt) = opts.value_type
        && meta.schema.iter().any(|&s| s != vt)
    {
        return Err(conflict(&format!("valueType=\"{}\"", vt_name(vt))));
    }
    Ok(())
}

/// Labels a frame's meta data leaves empty come from the CSV file's header line, if it has one.
fn header_labels(path: &str, meta: &mut Meta) -> Result<(), String> {
    if meta.header && format_of(path, false) == Ok(Format::Csv) {
        let header = csv::header_labels(path, meta.delimiter)?;
        let labels = meta.labels.get_or_insert_with(|| vec![String::new(); meta.cols]);
        for (l, h) in labels.iter_mut().zip(header) {
            if l.is_empty() {
                *l = h;
            }
        }
    }
    Ok(())
}

fn check_kind(path: &str, meta: &Meta, frame: bool) -> Result<(), String> {
    if !frame && meta.labels.is_some() {
        return Err(format!("the meta data of '{path}' describes a frame; use readFrame"));
    }
    Ok(())
}

impl Meta {
    /// What the compiler's type of a read says about the file (at run time, for a file
    /// without a `.meta` file). `None` when the type leaves the value types open.
    pub fn from_type(ty: &Type, header: bool, delimiter: u8) -> Option<Meta> {
        let meta = |rows: Option<u64>, cols: usize, schema, labels| Meta {
            rows: rows.map(|r| r as usize),
            cols,
            schema,
            labels,
            header,
            delimiter,
        };
        match ty {
            Type::Matrix(MatrixType { vt: Some(vt), rows, cols: Some(cols), .. }) => {
                Some(meta(*rows, *cols as usize, vec![*vt], None))
            }
            Type::Frame(FrameType { rows, columns: Some(columns) }) => Some(meta(
                *rows,
                columns.len(),
                columns.iter().map(|c| c.vt).collect(),
                Some(columns.iter().map(|c| c.label.clone().unwrap_or_default()).collect()),
            )),
            _ => None,
        }
    }

    /// The per-column value types (a matrix's single type repeated).
    pub fn column_types(&self) -> Vec<ValueType> {
        if self.schema.len() == 1 && self.cols != 1 { vec![self.schema[0]; self.cols] } else { self.schema.clone() }
    }

    /// Whether a file with this meta data can be the value the compiler typed `ty`.
    fn check_against(&self, path: &str, ty: &Type) -> Result<(), String> {
        let Some(expected) = Meta::from_type(ty, self.header, self.delimiter) else { return Ok(()) };
        let changed = |what: String| {
            format!(
                "'{path}' changed since the script was compiled: {what}; run the script again to compile it for the new file"
            )
        };
        if let (Some(a), Some(b)) = (expected.rows, self.rows)
            && a != b
        {
            return Err(changed(format!("it has {b} rows, not {a}")));
        }
        if expected.cols != self.cols {
            return Err(changed(format!("it has {} columns, not {}", self.cols, expected.cols)));
        }
        if expected.column_types() != self.column_types() {
            let names = |m: &Meta| m.column_types().iter().map(|v| vt_name(*v)).collect::<Vec<_>>().join(", ");
            return Err(changed(format!("its value types are [{}], not [{}]", names(self), names(&expected))));
        }
        Ok(())
    }
}

/// The labels of a frame read with `meta` (DAPHNE's default label for an unlabelled column).
fn frame_labels(meta: &Meta) -> Vec<Arc<str>> {
    match &meta.labels {
        Some(ls) => ls
            .iter()
            .enumerate()
            .map(|(i, l)| if l.is_empty() { crate::frame::default_label(i) } else { Arc::from(l.as_str()) })
            .collect(),
        None => (0..meta.cols).map(crate::frame::default_label).collect(),
    }
}

/// `readMatrix(path)` and `readFrame(path)` at run time: `ty` is the type the compiler gave
/// the result, `header` and `delimiter` what it decided for a file without meta data.
pub fn read(path: &str, frame: bool, ty: &Type, header: bool, delimiter: u8) -> Result<Value, String> {
    let format = format_of(path, false)?;
    if matches!(format, Format::Parquet | Format::Daphne) {
        let meta = own_schema(path, format, &ReadOptions { frame, ..ReadOptions::default() })?;
        meta.check_against(path, ty)?;
        return match format {
            #[cfg(feature = "parquet")]
            Format::Parquet => parquet::read(path, &meta, frame),
            #[cfg(not(feature = "parquet"))]
            Format::Parquet => Err(no_parquet(path)),
            _ => dbdf::read(path, frame),
        };
    }
    let meta = if has_meta(path) {
        let mut meta = read_meta(path)?;
        // An option the compiler merged into the meta data (it cannot contradict it).
        meta.header |= header;
        if meta.delimiter == b',' {
            meta.delimiter = delimiter;
        }
        check_kind(path, &meta, frame)?;
        if frame {
            header_labels(path, &mut meta)?;
        }
        meta
    } else {
        match (format, Meta::from_type(ty, header, delimiter)) {
            (Format::Csv, Some(meta)) => meta,
            _ => return Err(format!("could not open file '{}' for reading meta data", meta_path(path))),
        }
    };
    meta.check_against(path, ty)?;
    match format {
        Format::MatrixMarket if frame => Err("reading a frame from a Matrix Market file is not supported".to_owned()),
        Format::MatrixMarket => mtx::read_matrix_market(path, &meta),
        _ => csv::read(path, &meta, frame),
    }
}

/// `write(X, path)`, `writeMatrix`, `writeFrame`: the file and its `.meta` (none for Parquet
/// files, which carry their schema).
pub fn write(v: &Value, path: &str, floats: FloatFormat) -> Result<(), String> {
    let format = format_of(path, true)?;
    if !matches!(v, Value::Matrix(_) | Value::Frame(_)) {
        return Err("only matrices and frames can be written to files".to_owned());
    }
    let meta = match (format, v) {
        (Format::Csv, _) => csv::write(v, path, floats, default_delimiter(path))?,
        (Format::MatrixMarket, Value::Matrix(m)) => mtx::write_matrix_market(m, path)?,
        (Format::MatrixMarket, _) => return Err("only matrices can be written to Matrix Market files".to_owned()),
        #[cfg(feature = "parquet")]
        (Format::Parquet, _) => return parquet::write(v, path).map(|_| ()),
        #[cfg(not(feature = "parquet"))]
        (Format::Parquet, _) => return Err(no_parquet(path)),
        (Format::Daphne, _) => dbdf::write(v, path)?,
    };
    let meta_path = meta_path(path);
    std::fs::write(&meta_path, meta_json(&meta))
        .map_err(|e| format!("could not open file '{meta_path}' for writing meta data: {e}"))
}

/// A file `name` in this process's scratch directory for the tests of `module`.
#[cfg(test)]
fn test_path(module: &str, name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("daphne-{module}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{DenseMatrix, Matrix};

    fn tmp(name: &str) -> String {
        test_path("io", name)
    }

    #[test]
    fn parquet_files_need_the_parquet_feature_or_say_so() {
        let p = tmp("absent.parquet");
        let e = describe(&p, &ReadOptions::default()).unwrap_err();
        if cfg!(feature = "parquet") {
            assert!(e.contains(&format!("could not read file '{p}'")), "{e}");
        } else {
            assert!(e.contains("this build of daphne-rs lacks Parquet support"), "{e}");
            let m = Value::Matrix(Matrix::F64(DenseMatrix::from_vec(1, 1, vec![1.0])));
            assert!(write(&m, &p, FloatFormat::Shortest).unwrap_err().contains("lacks Parquet support"));
        }
    }

    /// A file that carries its schema is typed by it, whatever a `.meta` file beside it says.
    #[test]
    fn a_stale_meta_file_does_not_type_a_self_describing_file() {
        let mut paths = vec![tmp("stale.dbdf")];
        if cfg!(feature = "parquet") {
            paths.push(tmp("stale.parquet"));
        }
        for p in paths {
            let m = Value::Matrix(Matrix::Si32(DenseMatrix::from_vec(2, 2, vec![1, 2, 3, 4])));
            write(&m, &p, FloatFormat::Shortest).unwrap();
            std::fs::write(format!("{p}.meta"), r#"{"numCols":5,"numRows":5,"valueType":"f64"}"#).unwrap();
            let (meta, note) = describe(&p, &ReadOptions::default()).unwrap();
            assert_eq!((meta.rows, meta.cols, meta.schema, note), (Some(2), 2, vec![ValueType::Si32], None), "{p}");
            let ty = Type::Matrix(MatrixType { vt: Some(ValueType::Si32), rows: Some(2), cols: Some(2), repr: None });
            let Value::Matrix(back) = read(&p, false, &ty, false, b',').unwrap() else { panic!() };
            assert_eq!(back, Matrix::Si32(DenseMatrix::from_vec(2, 2, vec![1, 2, 3, 4])));
            let opts = ReadOptions { header: Some(true), ..ReadOptions::default() };
            assert!(describe(&p, &opts).unwrap_err().contains("header and sep are for CSV files"));
        }
    }
}

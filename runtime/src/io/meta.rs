//! What a data file holds (its `.meta` file, DAPHNE's `doc/FileMetaDataFormat.md`, or what
//! was inferred or read from the file), how a script asked for it to be read, and how floats
//! are written: what every format module shares.

use std::sync::Arc;

use crate::error::Error;
use daphne_ir::{FrameType, MatrixType, Type, ValueType};
use serde_json::{Map, Value as Json};

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
pub fn delimiter(text: &str) -> Result<u8, Error> {
    match text.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Ok(*b),
        _ => Err(format!("the separator must be one ASCII character other than a quote or a line break, not {text:?}")
            .into()),
    }
}

pub(super) fn meta_path(path: &str) -> String {
    format!("{path}.meta")
}

/// Whether `path.meta` exists.
pub fn has_meta(path: &str) -> bool {
    std::path::Path::new(&meta_path(path)).exists()
}

/// Reads and checks `path.meta`.
pub fn read_meta(path: &str) -> Result<Meta, Error> {
    let meta_path = meta_path(path);
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|e| Error::from(format!("could not open file '{meta_path}' for reading meta data: {e}")))?;
    let bad = |what: &str| Error::from(format!("meta data file '{meta_path}': {what}"));
    let json: Json = serde_json::from_str(&text).map_err(|e| bad(&format!("not valid JSON: {e}")))?;
    let obj = json.as_object().ok_or_else(|| bad("expected a JSON object"))?;
    let size = |key: &str| -> Result<usize, Error> {
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
        Some(d) => delimiter(d.as_str().ok_or_else(|| bad("\"delimiter\" must be a string"))?)
            .map_err(|e| bad(&e.to_string()))?,
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
    pub(super) fn check_against(&self, path: &str, ty: &Type) -> Result<(), Error> {
        let Some(expected) = Meta::from_type(ty, self.header, self.delimiter) else { return Ok(()) };
        let changed = |what: String| {
            format!(
                "'{path}' changed since the script was compiled: {what}; run the script again to compile it for the new file"
            )
        };
        if let (Some(a), Some(b)) = (expected.rows, self.rows)
            && a != b
        {
            return Err(Error::from(changed(format!("it has {b} rows, not {a}"))));
        }
        if expected.cols != self.cols {
            return Err(Error::from(changed(format!("it has {} columns, not {}", self.cols, expected.cols))));
        }
        if expected.column_types() != self.column_types() {
            let names = |m: &Meta| m.column_types().iter().map(|v| vt_name(*v)).collect::<Vec<_>>().join(", ");
            return Err(Error::from(changed(format!(
                "its value types are [{}], not [{}]",
                names(self),
                names(&expected)
            ))));
        }
        Ok(())
    }
}

/// The labels of a frame read with `meta` (DAPHNE's default label for an unlabelled column).
pub(super) fn frame_labels(meta: &Meta) -> Vec<Arc<str>> {
    match &meta.labels {
        Some(ls) => ls
            .iter()
            .enumerate()
            .map(|(i, l)| if l.is_empty() { crate::frame::default_label(i) } else { Arc::from(l.as_str()) })
            .collect(),
        None => (0..meta.cols).map(crate::frame::default_label).collect(),
    }
}

/// The formats, by file name extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Csv,
    MatrixMarket,
    Parquet,
    /// DAPHNE's binary data format.
    Daphne,
}

/// A file's format, by its extension, as DAPHNE's `Read`/`Write` kernels choose it.
pub(super) fn format_of(path: &str, writing: bool) -> Result<Format, Error> {
    let ext = std::path::Path::new(path).extension().map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    match ext.as_str() {
        ".csv" | ".tsv" => Ok(Format::Csv),
        ".mtx" => Ok(Format::MatrixMarket),
        ".parquet" => Ok(Format::Parquet),
        ".dbdf" => Ok(Format::Daphne),
        _ if writing => {
            Err(format!("file extension not supported: '{ext}' (use .csv, .mtx, .parquet or .dbdf)").into())
        }
        _ => {
            Err(format!("file extension not supported: '{ext}' (daphne-rs reads .csv, .tsv, .mtx, .parquet and .dbdf)")
                .into())
        }
    }
}

#[cfg(not(feature = "parquet"))]
pub(super) fn no_parquet(path: &str) -> Error {
    format!(
        "cannot read or write '{path}': this build of daphne-rs lacks Parquet support (it was built without the `parquet` feature)"
    )
    .into()
}

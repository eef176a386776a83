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
//! A read's path may be a directory of part files, as Spark and Dask write data sets
//! (`X.csv/part-00000-….csv`, `X.parquet/part.0.parquet`, `X.dbdf/…`; which files, in what
//! order: [`parts`]): its rows are the parts' rows in order. A CSV directory has one `.meta`
//! file beside it (`X.csv.meta`, the path plus `.meta` as for a file), and when it says
//! `"header": true` every part's first line is a header line (Spark and Dask write one per
//! part); the rows are checked against the meta data as a file's are, and without meta data
//! the schema is inferred from the first part. The parts of a Parquet or `.dbdf` directory
//! must have one schema (each file's own), and their rows are summed.
//!
//! [`ranges`] reads a matrix file or directory by row ranges (each worker of a distributed
//! run its own rows), bit for bit the rows the whole read gives.
//!
//! Writing CSV follows DAPHNE's `WriteCsv.h` (integers in decimal, strings quoted when they
//! need it, the meta file as compact JSON with sorted keys, as nlohmann's `dump()` writes it),
//! except that floats are written as the shortest text that reads back to the same bits;
//! DAPHNE's `%f` ([`FloatFormat::Fixed`]) is the user configuration's `csv_float_format`.

pub mod csv;
pub mod dbdf;
pub mod meta;
pub mod mtx;
#[cfg(feature = "parquet")]
pub mod parquet;
mod parts;
pub mod ranges;

use daphne_ir::Type;

use crate::value::Value;

use crate::error::Error;
#[cfg(not(feature = "parquet"))]
use meta::no_parquet;
pub use meta::{FloatFormat, Meta, ReadOptions, delimiter, has_meta, meta_json, read_meta};
use meta::{Format, format_of, meta_path, vt_name};
pub use ranges::{Pos, count_rows, parts, read_csv_rows, read_rows, scan_piece};

/// One Parquet or `.dbdf` file's own schema.
fn describe_file(file: &str, format: Format) -> Result<Meta, Error> {
    match format {
        #[cfg(feature = "parquet")]
        Format::Parquet => parquet::describe(file),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(no_parquet(file)),
        _ => dbdf::describe(file),
    }
}

/// The own schema of a Parquet or `.dbdf` file, or of a directory of their parts: the parts'
/// schemas must be one (columns, value types, labels), and their rows are summed.
fn own_meta(path: &str, format: Format) -> Result<Meta, Error> {
    let files = parts::list(path)?;
    let first_name = files[0].to_string_lossy().into_owned();
    let mut meta = describe_file(&first_name, format)?;
    for file in &files[1..] {
        let name = file.to_string_lossy();
        let m = describe_file(&name, format)?;
        if (m.cols, m.column_types(), &m.labels) != (meta.cols, meta.column_types(), &meta.labels) {
            let show = |m: &Meta| {
                let types = m.column_types();
                match &m.labels {
                    Some(ls) => ls
                        .iter()
                        .zip(&types)
                        .map(|(l, vt)| format!("{l}:{}", vt_name(*vt)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    None => types.iter().map(|vt| vt_name(*vt)).collect::<Vec<_>>().join(", "),
                }
            };
            return Err(format!(
                "the parts of '{path}' differ: '{name}' holds [{}], but '{first_name}' holds [{}]",
                show(&m),
                show(&meta)
            )
            .into());
        }
        meta.rows = Some(meta.rows.unwrap_or(0).saturating_add(m.rows.unwrap_or(0)));
    }
    Ok(meta)
}

/// What a file that carries its own schema (Parquet, DAPHNE binary) says it holds, shaped
/// for the read: a matrix needs one value type for all columns.
fn own_schema(path: &str, format: Format, opts: &ReadOptions) -> Result<Meta, Error> {
    let name = if format == Format::Parquet { "a Parquet file" } else { "a DAPHNE binary file" };
    let mut meta = own_meta(path, format)?;
    if opts.header.is_some() || opts.delimiter.is_some() {
        return Err(format!("the options header and sep are for CSV files, and '{path}' is {name}").into());
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
        ).into());
    }
    match (format, opts.frame, meta.labels.is_some()) {
        (Format::Daphne, true, false) => return Err(format!("'{path}' holds a matrix; read it with readMatrix").into()),
        (Format::Daphne, false, true) => return Err(format!("'{path}' holds a frame; read it with readFrame").into()),
        (_, true, _) => {}
        (_, false, _) => {
            let types = meta.column_types();
            let Some(&first) = types.first() else {
                return Err(format!("'{path}' has no columns, so it holds no matrix").into());
            };
            if types.iter().any(|&t| t != first) {
                return Err(format!(
                    "readMatrix reads files whose columns have one value type, but the columns of '{path}' are [{}]; use readFrame",
                    names(&meta)
                ).into());
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
pub fn describe(path: &str, opts: &ReadOptions) -> Result<(Meta, Option<String>), Error> {
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
        _ => Err(format!("could not open file '{}' for reading meta data", meta_path(path)).into()),
    }
}

/// A tab for `.tsv` files, else a comma.
fn default_delimiter(path: &str) -> u8 {
    if path.ends_with(".tsv") { b'\t' } else { b',' }
}

/// Applies a script's options to what a `.meta` file says: the file's meta data is the
/// authority, so an option may add what it leaves open but not contradict it.
fn merge_options(path: &str, meta: &mut Meta, opts: &ReadOptions) -> Result<(), Error> {
    let conflict = |what: &str| {
        format!("the option {what} contradicts the meta data file '{}' (which is the authority)", meta_path(path))
    };
    if let Some(h) = opts.header {
        if meta.header && !h {
            return Err(Error::from(conflict("header=false")));
        }
        meta.header = h;
    }
    if let Some(d) = opts.delimiter {
        if meta.delimiter != b',' && meta.delimiter != d {
            return Err(Error::from(conflict(&format!("sep={:?}", d as char))));
        }
        meta.delimiter = d;
    }
    if let Some(vt) = opts.value_type
        && meta.schema.iter().any(|&s| s != vt)
    {
        return Err(Error::from(conflict(&format!("valueType=\"{}\"", vt_name(vt)))));
    }
    Ok(())
}

/// Labels a frame's meta data leaves empty come from the CSV file's header line, if it has one.
fn header_labels(path: &str, meta: &mut Meta) -> Result<(), Error> {
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

fn check_kind(path: &str, meta: &Meta, frame: bool) -> Result<(), Error> {
    if !frame && meta.labels.is_some() {
        return Err(format!("the meta data of '{path}' describes a frame; use readFrame").into());
    }
    Ok(())
}

/// `readMatrix(path)` and `readFrame(path)` at run time: `ty` is the type the compiler gave
/// the result, `header` and `delimiter` what it decided for a file without meta data.
pub fn read(path: &str, frame: bool, ty: &Type, header: bool, delimiter: u8, threads: usize) -> Result<Value, Error> {
    let (format, meta) = plan(path, frame, ty, header, delimiter)?;
    match format {
        Format::Parquet | Format::Daphne if parts::is_dir(path) => read_parts(path, format, &meta, frame, threads),
        #[cfg(feature = "parquet")]
        Format::Parquet => parquet::read(path, &meta, frame),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(no_parquet(path)),
        Format::Daphne => dbdf::read(path, frame),
        Format::MatrixMarket if frame => Err("reading a frame from a Matrix Market file is not supported".into()),
        Format::MatrixMarket => mtx::read_matrix_market(path, &meta),
        Format::Csv => csv::read(path, &meta, frame, threads),
    }
}

/// What a read of `path` reads: its format and the meta data it is read with (a Parquet or
/// `.dbdf` file's own schema, else the `.meta` file with the read's options merged in, else
/// what the compiler typed it as), checked against the compiler's type `ty`.
fn plan(path: &str, frame: bool, ty: &Type, header: bool, delimiter: u8) -> Result<(Format, Meta), Error> {
    let format = format_of(path, false)?;
    if matches!(format, Format::Parquet | Format::Daphne) {
        let meta = own_schema(path, format, &ReadOptions { frame, ..ReadOptions::default() })?;
        meta.check_against(path, ty)?;
        return Ok((format, meta));
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
            _ => return Err(format!("could not open file '{}' for reading meta data", meta_path(path)).into()),
        }
    };
    meta.check_against(path, ty)?;
    Ok((format, meta))
}

/// How a matrix read goes by row ranges ([`ranges`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ByRows {
    /// A CSV file (or directory): its pieces are scanned first, then each range read from an
    /// anchor (`ranges::scan_piece`, `ranges::read_csv_rows`).
    Scanned,
    /// A Parquet or `.dbdf` file (or directory) of this many rows, from its metadata
    /// (`ranges::read_rows`).
    Counted(usize),
}

/// `readMatrix(path, header, sep)` (or with `frame`, `readFrame`) typed `ty`, as a read by row
/// ranges: its meta data (as the whole read has it; labels for a frame) and how it splits;
/// `None` when only the whole read reads it (a Matrix Market file, a `.dbdf` frame).
pub fn by_rows(
    path: &str,
    frame: bool,
    ty: &Type,
    header: bool,
    delimiter: u8,
) -> Result<Option<(Meta, ByRows)>, Error> {
    let (format, mut meta) = plan(path, frame, ty, header, delimiter)?;
    if frame {
        // The labels the whole read gives the frame (a column without one gets its default).
        meta.labels = Some(meta::frame_labels(&meta).iter().map(|l| l.to_string()).collect());
    }
    Ok(match format {
        Format::Csv => Some((meta, ByRows::Scanned)),
        Format::Parquet | Format::Daphne if !(frame && format == Format::Daphne) => {
            let n = ranges::count_rows(path)?;
            Some((meta, ByRows::Counted(n)))
        }
        Format::Parquet | Format::Daphne | Format::MatrixMarket => None,
    })
}

/// A directory of Parquet or `.dbdf` parts: a matrix by [`read_rows`], a frame part by part,
/// its columns stacked.
fn read_parts(path: &str, format: Format, meta: &Meta, frame: bool, threads: usize) -> Result<Value, Error> {
    if !frame {
        return read_rows(path, meta, 0..meta.rows.unwrap_or(0), threads);
    }
    let mut pieces = Vec::new();
    for file in parts::list(path)? {
        let file = file.to_string_lossy();
        pieces.push(match format {
            #[cfg(feature = "parquet")]
            Format::Parquet => parquet::read(&file, &describe_file(&file, format)?, true)?,
            #[cfg(not(feature = "parquet"))]
            Format::Parquet => return Err(no_parquet(&file)),
            _ => dbdf::read(&file, true)?,
        });
    }
    parts::stack(path, pieces, meta)
}

/// `write(X, path)`, `writeMatrix`, `writeFrame`: the file and its `.meta` (none for Parquet
/// files, which carry their schema).
pub fn write(v: &Value, path: &str, floats: FloatFormat) -> Result<(), Error> {
    let format = format_of(path, true)?;
    if !matches!(v, Value::Matrix(_) | Value::Frame(_)) {
        return Err("only matrices and frames can be written to files".into());
    }
    let meta = match (format, v) {
        (Format::Csv, _) => csv::write(v, path, floats, default_delimiter(path))?,
        (Format::MatrixMarket, Value::Matrix(m)) => mtx::write_matrix_market(m, path)?,
        (Format::MatrixMarket, _) => return Err("only matrices can be written to Matrix Market files".into()),
        #[cfg(feature = "parquet")]
        (Format::Parquet, _) => return parquet::write(v, path).map(|_| ()),
        #[cfg(not(feature = "parquet"))]
        (Format::Parquet, _) => return Err(no_parquet(path)),
        (Format::Daphne, _) => dbdf::write(v, path)?,
    };
    let meta_path = meta_path(path);
    std::fs::write(&meta_path, meta_json(&meta))
        .map_err(|e| Error::from(format!("could not open file '{meta_path}' for writing meta data: {e}")))
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
    use daphne_ir::{MatrixType, ValueType};

    fn tmp(name: &str) -> String {
        test_path("io", name)
    }

    #[test]
    fn parquet_files_need_the_parquet_feature_or_say_so() {
        let p = tmp("absent.parquet");
        let e = describe(&p, &ReadOptions::default()).unwrap_err().to_string();
        if cfg!(feature = "parquet") {
            assert!(e.contains(&format!("could not read file '{p}'")), "{e}");
        } else {
            assert!(e.contains("this build of daphne-rs lacks Parquet support"), "{e}");
            let m = Value::Matrix(Matrix::F64(DenseMatrix::from_vec(1, 1, vec![1.0])));
            assert!(write(&m, &p, FloatFormat::Shortest).unwrap_err().to_string().contains("lacks Parquet support"));
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
            let Value::Matrix(back) = read(&p, false, &ty, false, b',', 2).unwrap() else { panic!() };
            assert_eq!(back, Matrix::Si32(DenseMatrix::from_vec(2, 2, vec![1, 2, 3, 4])));
            let opts = ReadOptions { header: Some(true), ..ReadOptions::default() };
            assert!(describe(&p, &opts).unwrap_err().to_string().contains("header and sep are for CSV files"));
        }
    }
}

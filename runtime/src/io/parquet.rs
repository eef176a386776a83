//! Parquet files, through the Apache Arrow project's `parquet` crate (its column readers and
//! writers; DAPHNE reads Parquet through Arrow's C++ library).
//!
//! A Parquet file carries its schema, so no `.meta` file is needed or written: the footer
//! gives the rows, the column names (a frame's labels) and each column's value type:
//!
//! | Parquet column                                  | value type |
//! |-------------------------------------------------|------------|
//! | DOUBLE                                          | f64        |
//! | FLOAT                                           | f32        |
//! | INT64, INT64 with INT(64, signed)               | si64       |
//! | INT64 with INT(64, unsigned) / UINT_64          | ui64       |
//! | INT32, INT32 with INT(32 or 16, signed)         | si32       |
//! | INT32 with INT(8, signed)                       | si8        |
//! | INT32 with INT(32 or 16, unsigned)              | ui32       |
//! | INT32 with INT(8, unsigned)                     | ui8        |
//! | BOOLEAN                                         | ui8 (0, 1) |
//! | BYTE_ARRAY with STRING / UTF8, ENUM or JSON     | str        |
//!
//! Anything else (dates, timestamps, decimals, binary, nested columns) is an error naming the
//! column. A null in a float column reads as NaN (pandas' missing value); a null in any other
//! column is an error naming the file, the column and the row, as is a value outside its
//! column's declared type (data is never changed on the way in).
//!
//! Writing: one column per frame column, labelled with its label, or per matrix column,
//! labelled `col_0`, `col_1`, ... (DAPHNE's default labels); all columns are required
//! (non-null), snappy-compressed (pyarrow's default), in row groups of at most
//! [`ROW_GROUP`] rows; booleans are written as BOOLEAN (and read back as ui8).

use std::fs::File;
use std::sync::Arc;

use daphne_ir::ValueType;
use parquet::basic::{Compression, ConvertedType, IntType, LogicalType, Repetition, Type as Physical};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::{ByteArray, DataType};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescriptor, Type as SchemaType};

use super::meta::{Meta, frame_labels};
use crate::error::Error;
use crate::frame::Frame;
use crate::matrix::{DenseMatrix, Matrix};
use crate::value::Value;

/// The most rows a written row group holds.
pub const ROW_GROUP: usize = 1 << 20;

/// The most values read from a column chunk at a time.
const BATCH: usize = 1 << 16;

fn open(path: &str) -> Result<SerializedFileReader<File>, Error> {
    let file = File::open(path).map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
    SerializedFileReader::new(file).map_err(|e| Error::from(format!("Parquet file '{path}': {e}")))
}

/// The value type a column reads as, or why it cannot be read.
fn column_type(path: &str, col: &ColumnDescriptor) -> Result<ValueType, Error> {
    let name = col.path().string();
    if col.max_rep_level() > 0 || col.path().parts().len() != 1 {
        return Err(format!(
            "Parquet file '{path}': column '{name}' is nested (a list, map or struct); daphne-rs reads flat columns"
        )
        .into());
    }
    let logical = col.logical_type_ref();
    let converted = col.converted_type();
    let unsupported = || {
        let annotation = match logical {
            Some(l) => format!(" {l:?}"),
            None if converted != ConvertedType::NONE => format!(" {converted}"),
            None => String::new(),
        };
        format!(
            "Parquet file '{path}': column '{name}' holds {}{annotation} values, which daphne-rs does not read (it reads floats, integers, booleans and strings)",
            col.physical_type()
        )
    };
    Ok(match col.physical_type() {
        Physical::DOUBLE if logical.is_none() => ValueType::F64,
        Physical::FLOAT if logical.is_none() => ValueType::F32,
        Physical::BOOLEAN if logical.is_none() => ValueType::Ui8,
        Physical::INT64 => match (logical, converted) {
            (None, ConvertedType::NONE | ConvertedType::INT_64) => ValueType::Si64,
            (None, ConvertedType::UINT_64) => ValueType::Ui64,
            (Some(LogicalType::Integer(IntType { bit_width: 64, is_signed })), _) => {
                if *is_signed {
                    ValueType::Si64
                } else {
                    ValueType::Ui64
                }
            }
            _ => return Err(Error::from(unsupported())),
        },
        Physical::INT32 => {
            let int = match (logical, converted) {
                (None, ConvertedType::NONE | ConvertedType::INT_32) => (32, true),
                (None, ConvertedType::INT_16) => (16, true),
                (None, ConvertedType::INT_8) => (8, true),
                (None, ConvertedType::UINT_32) => (32, false),
                (None, ConvertedType::UINT_16) => (16, false),
                (None, ConvertedType::UINT_8) => (8, false),
                (Some(LogicalType::Integer(IntType { bit_width, is_signed })), _) => (*bit_width, *is_signed),
                _ => return Err(Error::from(unsupported())),
            };
            match int {
                (8, true) => ValueType::Si8,
                (16 | 32, true) => ValueType::Si32,
                (8, false) => ValueType::Ui8,
                (16 | 32, false) => ValueType::Ui32,
                _ => return Err(Error::from(unsupported())),
            }
        }
        Physical::BYTE_ARRAY => match (logical, converted) {
            (Some(LogicalType::String | LogicalType::Enum | LogicalType::Json), _)
            | (None, ConvertedType::UTF8 | ConvertedType::ENUM | ConvertedType::JSON) => ValueType::Str,
            _ => return Err(Error::from(unsupported())),
        },
        _ => return Err(Error::from(unsupported())),
    })
}

/// What a Parquet file holds, from its footer: its rows, its columns' names (labels) and
/// value types.
pub fn describe(path: &str) -> Result<Meta, Error> {
    guarded(path, || describe_reader(path, &open(path)?))
}

/// `f`, whose panic (the crate reports corrupt files as errors, but should one panic instead)
/// is an error naming the file, not the end of the program.
fn guarded<T>(path: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(format!("Parquet file '{path}': the Parquet reader failed on it (a corrupt file?)").into())
    })
}

fn describe_reader(path: &str, reader: &SerializedFileReader<File>) -> Result<Meta, Error> {
    let meta = reader.metadata().file_metadata();
    let rows = usize::try_from(meta.num_rows())
        .map_err(|_| Error::from(format!("Parquet file '{path}': its footer says it has {} rows", meta.num_rows())))?;
    let schema = meta.schema_descr();
    if let Some(nested) = schema.root_schema().get_fields().iter().find(|f| !f.is_primitive()) {
        return Err(format!(
            "Parquet file '{path}': column '{}' is nested (a list, map or struct); daphne-rs reads flat columns",
            nested.name()
        )
        .into());
    }
    let types = schema.columns().iter().map(|c| column_type(path, c)).collect::<Result<Vec<_>, _>>()?;
    let labels = schema.columns().iter().map(|c| c.name().to_owned()).collect();
    Ok(Meta {
        rows: Some(rows),
        cols: types.len(),
        schema: types,
        labels: Some(labels),
        header: false,
        delimiter: b',',
    })
}

/// Where a column's values come from, for messages.
struct Place<'a> {
    path: &'a str,
    column: &'a str,
    /// The file's row of the first value of the current batch (0-based).
    row: usize,
}

impl Place<'_> {
    fn at(&self, i: usize, what: &str) -> Error {
        format!("Parquet file '{}', column '{}', row {}: {what}", self.path, self.column, self.row + i + 1).into()
    }
}

/// Reads one column chunk into `out` (as many rows as it holds, after skipping its first
/// `skip`), converting each value with `conv`; a null becomes `null` if there is one, else an
/// error.
fn read_chunk<D: DataType, T: Clone>(
    reader: &mut ColumnReaderImpl<D>,
    skip: usize,
    max_def: i16,
    place: &mut Place<'_>,
    null: Option<T>,
    out: &mut [T],
    conv: impl Fn(D::T) -> Result<T, Error>,
) -> Result<(), Error> {
    let n = out.len();
    if skip > 0 {
        let skipped = reader
            .skip_records(skip)
            .map_err(|e| Error::from(format!("Parquet file '{}', column '{}': {e}", place.path, place.column)))?;
        if skipped != skip {
            return Err(place.at(0, "the column has fewer values than its row group's rows (a corrupt file?)"));
        }
    }
    let mut defs: Vec<i16> = Vec::new();
    let mut vals: Vec<D::T> = Vec::new();
    let mut done = 0;
    while done < n {
        defs.clear();
        vals.clear();
        let (records, _, _) = reader
            .read_records(BATCH.min(n - done), Some(&mut defs), None, &mut vals)
            .map_err(|e| Error::from(format!("Parquet file '{}', column '{}': {e}", place.path, place.column)))?;
        if records == 0 {
            return Err(place.at(0, "the column has fewer values than its row group's rows (a corrupt file?)"));
        }
        let mut values = vals.drain(..);
        for (i, cell) in out[done..done + records].iter_mut().enumerate() {
            let defined = max_def == 0 || defs.get(i) == Some(&max_def);
            *cell = if defined {
                let v = values.next().ok_or_else(|| place.at(i, "a value is missing (a corrupt file?)"))?;
                conv(v).map_err(|e| place.at(i, &e.to_string()))?
            } else {
                null.clone().ok_or_else(|| {
                    place.at(i, "the value is null, and only float columns have a missing value (NaN)")
                })?
            };
        }
        done += records;
        place.row += records;
    }
    Ok(())
}

fn in_range<S: Copy + std::fmt::Display, T: TryFrom<S>>(x: S, vt: &str) -> Result<T, Error> {
    T::try_from(x).map_err(|_| Error::from(format!("the value {x} is outside the column's type ({vt})")))
}

/// Reads one column chunk, after skipping its first `skip` rows, into rows `lo..lo + n` of
/// `cells`.
fn read_column(
    reader: ColumnReader,
    skip: usize,
    (lo, n): (usize, usize),
    max_def: i16,
    place: &mut Place<'_>,
    cells: &mut Matrix,
) -> Result<(), Error> {
    let wrong =
        || format!("Parquet file '{}', column '{}': internal: the column's type changed", place.path, place.column);
    // `cells` holds the file's rows, `new_cells` checked.
    let rows = lo..lo + n;
    match (reader, cells) {
        (ColumnReader::DoubleColumnReader(mut r), Matrix::F64(out)) => {
            read_chunk(&mut r, skip, max_def, place, Some(f64::NAN), &mut out.cells_mut()[rows.clone()], Ok)
        }
        (ColumnReader::FloatColumnReader(mut r), Matrix::F32(out)) => {
            read_chunk(&mut r, skip, max_def, place, Some(f32::NAN), &mut out.cells_mut()[rows.clone()], Ok)
        }
        (ColumnReader::Int64ColumnReader(mut r), Matrix::Si64(out)) => {
            read_chunk(&mut r, skip, max_def, place, None, &mut out.cells_mut()[rows.clone()], Ok)
        }
        // An unsigned 64-bit column stores its values' bits in INT64.
        (ColumnReader::Int64ColumnReader(mut r), Matrix::Ui64(out)) => {
            read_chunk(&mut r, skip, max_def, place, None, &mut out.cells_mut()[rows.clone()], |x| Ok(x as u64))
        }
        (ColumnReader::Int32ColumnReader(mut r), Matrix::Si32(out)) => {
            read_chunk(&mut r, skip, max_def, place, None, &mut out.cells_mut()[rows.clone()], Ok)
        }
        (ColumnReader::Int32ColumnReader(mut r), Matrix::Si8(out)) => {
            read_chunk(&mut r, skip, max_def, place, None, &mut out.cells_mut()[rows.clone()], |x| in_range(x, "si8"))
        }
        // Unsigned 32-bit (and narrower) columns store their values' bits in INT32.
        (ColumnReader::Int32ColumnReader(mut r), Matrix::Ui32(out)) => {
            read_chunk(&mut r, skip, max_def, place, None, &mut out.cells_mut()[rows.clone()], |x| Ok(x as u32))
        }
        (ColumnReader::Int32ColumnReader(mut r), Matrix::Ui8(out)) => {
            read_chunk(&mut r, skip, max_def, place, None, &mut out.cells_mut()[rows.clone()], |x| {
                in_range(x as u32, "ui8")
            })
        }
        (ColumnReader::BoolColumnReader(mut r), Matrix::Ui8(out)) => {
            read_chunk(&mut r, skip, max_def, place, None, &mut out.cells_mut()[rows.clone()], |x| Ok(u8::from(x)))
        }
        (ColumnReader::ByteArrayColumnReader(mut r), Matrix::Str(out)) => {
            read_chunk(&mut r, skip, max_def, place, None, &mut out.cells_mut()[rows.clone()], |x: ByteArray| {
                Ok(std::str::from_utf8(x.data()).map(Arc::from).map_err(|_| "the text is not UTF-8".to_owned())?)
            })
        }
        _ => Err(Error::from(wrong())),
    }
}

/// Reads a Parquet file whose footer says `meta` into a frame or (if `frame` is false) a
/// matrix, whose columns must then all have one value type.
pub fn read(path: &str, meta: &Meta, frame: bool) -> Result<Value, Error> {
    guarded(path, || read_file(path, meta, frame))
}

fn read_file(path: &str, expected: &Meta, frame: bool) -> Result<Value, Error> {
    let reader = open(path)?;
    let meta = describe_reader(path, &reader)?;
    if (meta.rows, meta.cols, meta.column_types()) != (expected.rows, expected.cols, expected.column_types()) {
        return Err(format!("'{path}' changed since it was described; run the script again").into());
    }
    let rows = meta.rows.unwrap_or(0);
    let what = format!("reading '{path}'");
    if !frame {
        let vt = meta.schema.first().copied().unwrap_or(ValueType::F64);
        crate::with_elem_type!(vt, T => crate::memory::check_shape::<T>(rows, meta.cols, &what)?, str => crate::memory::check_shape::<Arc<str>>(rows, meta.cols, &what)?);
    }
    let mut columns =
        meta.schema.iter().map(|&vt| Matrix::zeroed(vt, rows, 1, &what)).collect::<Result<Vec<_>, _>>()?;
    let labels = meta.labels.clone().unwrap_or_default();
    let descr = reader.metadata().file_metadata().schema_descr();
    let mut first_row = 0;
    for g in 0..reader.num_row_groups() {
        let group = reader.get_row_group(g).map_err(|e| Error::from(format!("Parquet file '{path}': {e}")))?;
        let n = usize::try_from(group.metadata().num_rows()).unwrap_or(usize::MAX);
        if n > rows - first_row {
            return Err(format!("Parquet file '{path}': its row groups hold more rows than its footer's {rows}").into());
        }
        for (j, cells) in columns.iter_mut().enumerate() {
            let column = group.get_column_reader(j).map_err(|e| Error::from(format!("Parquet file '{path}': {e}")))?;
            let mut place = Place { path, column: &labels[j], row: first_row };
            read_column(column, 0, (first_row, n), descr.column(j).max_def_level(), &mut place, cells)?;
        }
        first_row += n;
    }
    if first_row != rows {
        return Err(
            format!("Parquet file '{path}': its row groups hold {first_row} rows, its footer says {rows}").into()
        );
    }
    if frame {
        let labels = frame_labels(&meta);
        return Frame::new(columns, labels)
            .map(Value::Frame)
            .map_err(|e| Error::from(format!("Parquet file '{path}': {e}")));
    }
    if columns.is_empty() {
        return Ok(Value::Matrix(Matrix::F64(DenseMatrix::from_vec(rows, 0, Vec::new()))));
    }
    Matrix::concat(&columns, false)
        .map(Value::Matrix)
        .ok_or_else(|| Error::from(format!("Parquet file '{path}': its columns do not have one value type")))
}

/// The number of rows of a Parquet file, from its footer.
pub fn count_rows(path: &str) -> Result<usize, Error> {
    guarded(path, || Ok(describe_reader(path, &open(path)?)?.rows.unwrap_or(0)))
}

/// Rows `lo..hi` of a Parquet file read as a matrix of the value type `expected` says, or as a
/// frame of `expected`'s labels when it has them: only the row groups that hold some of them
/// are read, and in those the rows before `lo` skipped.
pub fn read_rows(path: &str, expected: &Meta, lo: usize, hi: usize) -> Result<Value, Error> {
    guarded(path, || {
        let reader = open(path)?;
        let meta = describe_reader(path, &reader)?;
        if meta.cols != expected.cols || meta.column_types() != expected.column_types() {
            return Err(format!("'{path}' changed since it was described; run the script again").into());
        }
        let rows = meta.rows.unwrap_or(0);
        if lo > hi || hi > rows {
            return Err(format!("Parquet file '{path}' has {rows} rows, so no rows {lo}..{hi}").into());
        }
        let what = format!("reading '{path}'");
        let frame = expected.labels.is_some();
        if !frame {
            let vt = meta.schema.first().copied().unwrap_or(ValueType::F64);
            crate::with_elem_type!(vt, T => crate::memory::check_shape::<T>(hi - lo, meta.cols, &what)?, str => crate::memory::check_shape::<Arc<str>>(hi - lo, meta.cols, &what)?);
        }
        let mut columns =
            meta.schema.iter().map(|&vt| Matrix::zeroed(vt, hi - lo, 1, &what)).collect::<Result<Vec<_>, _>>()?;
        let labels = meta.labels.clone().unwrap_or_default();
        let descr = reader.metadata().file_metadata().schema_descr();
        let mut group_start = 0;
        for g in 0..reader.num_row_groups() {
            let n = usize::try_from(reader.metadata().row_group(g).num_rows()).unwrap_or(usize::MAX);
            let (from, to) = (lo.max(group_start), hi.min(group_start.saturating_add(n)));
            if from < to {
                let group = reader.get_row_group(g).map_err(|e| Error::from(format!("Parquet file '{path}': {e}")))?;
                for (j, cells) in columns.iter_mut().enumerate() {
                    let column =
                        group.get_column_reader(j).map_err(|e| Error::from(format!("Parquet file '{path}': {e}")))?;
                    let mut place = Place { path, column: &labels[j], row: from };
                    let max_def = descr.column(j).max_def_level();
                    read_column(column, from - group_start, (from - lo, to - from), max_def, &mut place, cells)?;
                }
            }
            group_start = group_start.saturating_add(n);
            if group_start >= hi {
                break;
            }
        }
        if group_start < hi {
            return Err(format!(
                "Parquet file '{path}': its row groups hold {group_start} rows, its footer says {rows}"
            )
            .into());
        }
        if frame {
            return Frame::new(columns, frame_labels(expected))
                .map(Value::Frame)
                .map_err(|e| Error::from(format!("Parquet file '{path}': {e}")));
        }
        if columns.is_empty() {
            return Ok(Value::Matrix(Matrix::F64(DenseMatrix::from_vec(hi - lo, 0, Vec::new()))));
        }
        Matrix::concat(&columns, false)
            .map(Value::Matrix)
            .ok_or_else(|| Error::from(format!("Parquet file '{path}': its columns do not have one value type")))
    })
}

/// The Parquet column a value type is written as.
fn schema_column(label: &str, vt: ValueType) -> Result<Arc<SchemaType>, Error> {
    let (physical, logical) = match vt {
        ValueType::F64 => (Physical::DOUBLE, None),
        ValueType::F32 => (Physical::FLOAT, None),
        ValueType::Si64 => (Physical::INT64, None),
        ValueType::Si32 => (Physical::INT32, None),
        ValueType::Si8 => (Physical::INT32, Some(LogicalType::integer(8, true))),
        ValueType::Ui64 | ValueType::Index => (Physical::INT64, Some(LogicalType::integer(64, false))),
        ValueType::Ui32 => (Physical::INT32, Some(LogicalType::integer(32, false))),
        ValueType::Ui8 => (Physical::INT32, Some(LogicalType::integer(8, false))),
        ValueType::Bool => (Physical::BOOLEAN, None),
        ValueType::Str => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
    };
    SchemaType::primitive_type_builder(label, physical)
        .with_repetition(Repetition::REQUIRED)
        .with_logical_type(logical)
        .build()
        .map(Arc::new)
        .map_err(|e| Error::from(format!("the Parquet column '{label}': {e}")))
}

/// Writes rows `lo..hi` of a column (an n x 1 matrix, or column `j` of a matrix with `cols`
/// columns) to a column chunk.
fn write_cells(
    w: &mut ColumnWriter<'_>,
    m: &Matrix,
    j: usize,
    lo: usize,
    hi: usize,
) -> Result<(), parquet::errors::ParquetError> {
    let cols = m.cols();
    fn pick<T: Clone, U>(cells: &[T], cols: usize, j: usize, lo: usize, hi: usize, f: impl Fn(&T) -> U) -> Vec<U> {
        (lo..hi).map(|r| f(&cells[r * cols + j])).collect()
    }
    match (w, m) {
        (ColumnWriter::DoubleColumnWriter(w), Matrix::F64(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| *v), None, None)
        }
        (ColumnWriter::FloatColumnWriter(w), Matrix::F32(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| *v), None, None)
        }
        (ColumnWriter::Int64ColumnWriter(w), Matrix::Si64(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| *v), None, None)
        }
        (ColumnWriter::Int64ColumnWriter(w), Matrix::Ui64(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| *v as i64), None, None)
        }
        (ColumnWriter::Int32ColumnWriter(w), Matrix::Si32(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| *v), None, None)
        }
        (ColumnWriter::Int32ColumnWriter(w), Matrix::Si8(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| i32::from(*v)), None, None)
        }
        (ColumnWriter::Int32ColumnWriter(w), Matrix::Ui32(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| *v as i32), None, None)
        }
        (ColumnWriter::Int32ColumnWriter(w), Matrix::Ui8(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| i32::from(*v)), None, None)
        }
        (ColumnWriter::BoolColumnWriter(w), Matrix::Bool(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| *v), None, None)
        }
        (ColumnWriter::ByteArrayColumnWriter(w), Matrix::Str(x)) => {
            w.write_batch(&pick(x.cells(), cols, j, lo, hi, |v| ByteArray::from(v.as_bytes().to_vec())), None, None)
        }
        _ => Err(parquet::errors::ParquetError::General(
            Error::Internal("a column's writer does not match its type".into()).to_string(),
        )),
    }
    .map(|_| ())
}

/// Writes a frame or matrix as a Parquet file; returns what it holds.
pub fn write(v: &Value, path: &str) -> Result<Meta, Error> {
    write_groups(v, path, ROW_GROUP)
}

pub(super) fn write_groups(v: &Value, path: &str, row_group: usize) -> Result<Meta, Error> {
    // (column label, the matrix holding it, its column in that matrix)
    let (columns, rows, meta): (Vec<(String, &Matrix, usize)>, usize, Meta) = match v {
        Value::Matrix(m) => {
            let labels: Vec<String> = (0..m.cols()).map(|j| crate::frame::default_label(j).to_string()).collect();
            let meta = Meta {
                rows: Some(m.rows()),
                cols: m.cols(),
                schema: vec![m.value_type()],
                labels: None,
                header: false,
                delimiter: b',',
            };
            (labels.into_iter().enumerate().map(|(j, l)| (l, m, j)).collect(), m.rows(), meta)
        }
        Value::Frame(f) => {
            let labels: Vec<String> = f.labels().iter().map(|l| l.to_string()).collect();
            let meta = Meta {
                rows: Some(f.rows()),
                cols: f.cols(),
                schema: f.schema(),
                labels: Some(labels.clone()),
                header: false,
                delimiter: b',',
            };
            (labels.into_iter().zip(f.columns()).map(|(l, c)| (l, c, 0)).collect(), f.rows(), meta)
        }
        _ => return Err("only matrices and frames can be written to files".into()),
    };
    let fields = columns.iter().map(|(l, m, _)| schema_column(l, m.value_type())).collect::<Result<Vec<_>, _>>()?;
    let schema = SchemaType::group_type_builder("schema")
        .with_fields(fields)
        .build()
        .map_err(|e| Error::from(format!("could not write '{path}': {e}")))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let err = |e: parquet::errors::ParquetError| format!("could not write file '{path}': {e}");
    let file = File::create(path).map_err(|e| Error::from(format!("could not write file '{path}': {e}")))?;
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).map_err(err)?;
    let mut lo = 0;
    // A file without rows still has one (empty) row group, so readers see its columns.
    while lo < rows || lo == 0 {
        let hi = rows.min(lo + row_group);
        let mut group = writer.next_row_group().map_err(err)?;
        for (_, m, j) in &columns {
            let mut column = group
                .next_column()
                .map_err(err)?
                .ok_or_else(|| Error::from(format!("could not write '{path}': internal: too few columns")))?;
            write_cells(column.untyped(), m, *j, lo, hi).map_err(err)?;
            column.close().map_err(err)?;
        }
        group.close().map_err(err)?;
        if hi == rows {
            break;
        }
        lo = hi;
    }
    writer.close().map_err(err)?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> String {
        crate::io::test_path("parquet", name)
    }

    fn col<T: Clone>(v: Vec<T>) -> DenseMatrix<T> {
        DenseMatrix::from_vec(v.len(), 1, v)
    }

    fn frame() -> Frame {
        let text = ["a,b", "say \"hi\"", "two\nlines", "ünïcödé ✓", ""];
        Frame::new(
            vec![
                Matrix::F64(col(vec![0.1, -0.0, f64::NAN, f64::INFINITY, 5e-324])),
                Matrix::Si64(col(vec![i64::MIN, -1, 0, 1, i64::MAX])),
                Matrix::Str(col(text.iter().map(|t| Arc::from(*t)).collect())),
                Matrix::F32(col(vec![1.5f32, -2.0, 0.0, f32::MAX, f32::MIN_POSITIVE])),
                Matrix::Si32(col(vec![i32::MIN, -7, 0, 7, i32::MAX])),
                Matrix::Si8(col(vec![i8::MIN, -1, 0, 1, i8::MAX])),
                Matrix::Ui64(col(vec![0, 1, 1 << 63, u64::MAX - 1, u64::MAX])),
                Matrix::Ui32(col(vec![0, 1, 1 << 31, u32::MAX - 1, u32::MAX])),
                Matrix::Ui8(col(vec![0, 1, 128, 254, 255])),
            ],
            ["f64", "si64", "str", "f32", "si32", "si8", "ui64", "ui32", "ui8"].iter().map(|l| Arc::from(*l)).collect(),
        )
        .unwrap()
    }

    /// Cells equal, NaNs by bits.
    fn same(a: &Matrix, b: &Matrix) -> bool {
        match (a, b) {
            (Matrix::F64(x), Matrix::F64(y)) => {
                x.cells().iter().zip(y.cells()).all(|(p, q)| p.to_bits() == q.to_bits()) && x.rows() == y.rows()
            }
            (Matrix::F32(x), Matrix::F32(y)) => {
                x.cells().iter().zip(y.cells()).all(|(p, q)| p.to_bits() == q.to_bits()) && x.rows() == y.rows()
            }
            _ => a == b,
        }
    }

    #[test]
    fn frames_read_back_as_written_in_every_value_type() {
        let p = tmp("frame.parquet");
        let f = frame();
        for group in [ROW_GROUP, 2] {
            write_groups(&Value::Frame(f.clone()), &p, group).unwrap();
            let meta = describe(&p).unwrap();
            assert_eq!(meta.rows, Some(5));
            assert_eq!(meta.schema, f.schema());
            assert_eq!(
                meta.labels.as_deref().unwrap(),
                ["f64", "si64", "str", "f32", "si32", "si8", "ui64", "ui32", "ui8"]
            );
            let Value::Frame(g) = read(&p, &meta, true).unwrap() else { panic!() };
            assert_eq!(g.labels(), f.labels());
            for (a, b) in f.columns().iter().zip(g.columns()) {
                assert!(same(a, b), "{a:?} read back as {b:?}");
            }
        }
    }

    #[test]
    fn matrices_are_written_with_default_labels_and_read_back() {
        let p = tmp("matrix.parquet");
        let m = Matrix::Si64(DenseMatrix::from_vec(3, 2, vec![1, -2, 0, i64::MAX, i64::MIN, 5]));
        write(&Value::Matrix(m.clone()), &p).unwrap();
        let meta = describe(&p).unwrap();
        assert_eq!(meta.labels.as_deref().unwrap(), ["col_0", "col_1"]);
        let matrix_meta = Meta { schema: vec![ValueType::Si64], labels: None, ..meta };
        let Value::Matrix(back) = read(&p, &matrix_meta, false).unwrap() else { panic!() };
        assert_eq!(back, m);
        // A view's cells start at an offset.
        let view = m.row_range(1, 3);
        write(&Value::Matrix(view.clone()), &p).unwrap();
        let meta = Meta { rows: Some(2), ..matrix_meta };
        let Value::Matrix(back) = read(&p, &meta, false).unwrap() else { panic!() };
        assert_eq!(back, view);
    }

    #[test]
    fn booleans_are_written_as_boolean_and_read_as_ui8() {
        let p = tmp("bool.parquet");
        let m = Matrix::Bool(DenseMatrix::from_vec(3, 1, vec![true, false, true]));
        write(&Value::Matrix(m), &p).unwrap();
        let meta = describe(&p).unwrap();
        assert_eq!(meta.schema, [ValueType::Ui8]);
        let Value::Frame(f) = read(&p, &meta, true).unwrap() else { panic!() };
        assert_eq!(f.columns()[0], Matrix::Ui8(col(vec![1, 0, 1])));
    }

    /// A file with an optional f64 column and an optional si64 column, with nulls in row 2
    /// of the first row group of 2 rows and row 4 (the second group).
    fn nullable(path: &str) {
        let schema = parquet::schema::parser::parse_message_type(
            "message m { optional double x; optional int64 n; optional binary s (UTF8); }",
        )
        .unwrap();
        let file = File::create(path).unwrap();
        let mut w =
            SerializedFileWriter::new(file, Arc::new(schema), Arc::new(WriterProperties::builder().build())).unwrap();
        for (xs, defs) in [(vec![1.5], vec![1i16, 0]), (vec![2.5, 3.5], vec![1, 1])] {
            let mut g = w.next_row_group().unwrap();
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<parquet::data_type::DoubleType>().write_batch(&xs, Some(&defs), None).unwrap();
            c.close().unwrap();
            let ns: Vec<i64> = if defs == [1, 0] { vec![7, 8] } else { vec![9] };
            let ndefs = if defs == [1, 0] { vec![1, 1] } else { vec![0, 1] };
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<parquet::data_type::Int64Type>().write_batch(&ns, Some(&ndefs), None).unwrap();
            c.close().unwrap();
            let mut c = g.next_column().unwrap().unwrap();
            let ss = [ByteArray::from("a"), ByteArray::from("b")];
            c.typed::<parquet::data_type::ByteArrayType>().write_batch(&ss, Some(&[1, 1]), None).unwrap();
            c.close().unwrap();
            g.close().unwrap();
        }
        w.close().unwrap();
    }

    #[test]
    fn a_null_is_nan_in_a_float_column_and_an_error_elsewhere() {
        let p = tmp("nulls.parquet");
        nullable(&p);
        let meta = describe(&p).unwrap();
        assert_eq!(meta.schema, [ValueType::F64, ValueType::Si64, ValueType::Str]);
        let e = read(&p, &meta, true).unwrap_err().to_string();
        assert!(e.contains(&format!("Parquet file '{p}', column 'n', row 3: the value is null")), "{e}");
        // The float column's null is NaN.
        let file = File::open(&p).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let mut cells = Matrix::zeroed(ValueType::F64, 4, 1, "test").unwrap();
        let mut row = 0;
        for g in 0..reader.num_row_groups() {
            let group = reader.get_row_group(g).unwrap();
            let n = group.metadata().num_rows() as usize;
            let mut place = Place { path: &p, column: "x", row };
            read_column(group.get_column_reader(0).unwrap(), 0, (row, n), 1, &mut place, &mut cells).unwrap();
            row += n;
        }
        let Matrix::F64(xs) = cells else { panic!() };
        let xs = xs.cells();
        assert_eq!(xs.len(), 4);
        assert!(xs[0] == 1.5 && xs[1].is_nan() && xs[2] == 2.5 && xs[3] == 3.5, "{xs:?}");
    }

    #[test]
    fn unsupported_and_mixed_columns_are_errors_naming_them() {
        let p = tmp("date.parquet");
        let schema = parquet::schema::parser::parse_message_type("message m { required int32 day (DATE); }").unwrap();
        let w = SerializedFileWriter::new(
            File::create(&p).unwrap(),
            Arc::new(schema),
            Arc::new(WriterProperties::builder().build()),
        )
        .unwrap();
        w.close().unwrap();
        let e = describe(&p).unwrap_err().to_string();
        assert!(e.contains("column 'day' holds INT32 Date values"), "{e}");

        let p = tmp("mixed.parquet");
        write(&Value::Frame(frame()), &p).unwrap();
        let opts = super::super::ReadOptions::default();
        let e = super::super::describe(&p, &opts).unwrap_err().to_string();
        assert!(
            e.contains("readMatrix reads files whose columns have one value type") && e.contains("str:str, f32:f32"),
            "{e}"
        );

        let p = tmp("garbage.parquet");
        std::fs::write(&p, b"PAR1 this is not a parquet file PAR1").unwrap();
        assert!(describe(&p).unwrap_err().to_string().contains(&format!("Parquet file '{p}'")));
    }
}

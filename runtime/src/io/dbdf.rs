//! DAPHNE's binary data format (`.dbdf`), byte for byte as DAPHNE's `DaphneSerializer.h`,
//! `ReadDaphne.h` and `WriteDaphne.h` (`src/runtime/local/io/`) lay it out. Everything is
//! little-endian (DAPHNE writes its machine's order, which is little-endian on the machines it
//! runs on) and packed:
//!
//! ```text
//! header:        version: u8 = 1, data type: u8 (1 dense, 2 CSR, 3 frame), rows: u64, cols: u64
//! dense matrix:  header, value type: u8, block position: u64 row = 0, u64 col = 0,
//!                block: rows: u32, cols: u32, body type: u8 (1 dense, 0 empty), value type: u8,
//!                rows * cols cells, row-major                          (45 bytes before the cells)
//! CSR matrix:    the same with body type 2, then non-zeros: u64, rows + 1 row offsets: u64,
//!                non-zeros column indices: u64, non-zeros values
//! frame:         header, cols value types: u8, cols labels (length: u16, UTF-8 bytes),
//!                block position: u64 row = 0, u64 col = 0, then row by row each column's cell
//! value types:   0 si8, 1 si32, 2 si64, 3 ui8, 4 ui32, 5 ui64, 6 f32, 7 f64 (`ValueTypeCode`)
//! ```
//!
//! DAPHNE has no binary form for strings or booleans, so neither can be written here.
//! DAPHNE's `WriteDaphne<Frame>` writes the first bytes of each label's `std::string` object
//! instead of its characters (and `ReadDaphne<Frame>` reads them back into one), so frames
//! written by DAPHNE carry no readable labels; this module writes the characters, and a label
//! that is not UTF-8 is an error naming the file. As DAPHNE, writing a `.dbdf` file writes
//! its `.meta` file beside it (DAPHNE's reader needs it); reading takes the shape and value
//! types from the file's own header.
//!
//! Every size in a header is checked against the file's length (and the memory budget) before
//! anything is allocated: a truncated or corrupt file is an error naming it.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::Arc;

use daphne_ir::ValueType;

use super::meta::{Meta, vt_name};
use crate::error::Error;
use crate::frame::Frame;
use crate::matrix::{DenseMatrix, Matrix, MatrixElem};
use crate::value::Value;

const VERSION: u8 = 1;
const DENSE: u8 = 1;
const CSR: u8 = 2;
const FRAME: u8 = 3;
const BODY_EMPTY: u8 = 0;
const BODY_DENSE: u8 = 1;
const BODY_SPARSE: u8 = 2;
/// Version, data type, rows and columns.
const HEADER: u64 = 18;
/// The bytes of a dense matrix before its cells (DAPHNE's `HEADER_BUFFER_SIZE`).
const DENSE_HEADER: u64 = 45;

/// DAPHNE's `ValueTypeCode` of a value type this format holds.
fn code(vt: ValueType) -> Option<u8> {
    Some(match vt {
        ValueType::Si8 => 0,
        ValueType::Si32 => 1,
        ValueType::Si64 => 2,
        ValueType::Ui8 => 3,
        ValueType::Ui32 => 4,
        ValueType::Ui64 | ValueType::Index => 5,
        ValueType::F32 => 6,
        ValueType::F64 => 7,
        ValueType::Bool | ValueType::Str => return None,
    })
}

/// The value type of a `ValueTypeCode` (strings, 8, are not in DAPHNE's binary format).
fn value_type(code: u8) -> Option<ValueType> {
    Some(match code {
        0 => ValueType::Si8,
        1 => ValueType::Si32,
        2 => ValueType::Si64,
        3 => ValueType::Ui8,
        4 => ValueType::Ui32,
        5 => ValueType::Ui64,
        6 => ValueType::F32,
        7 => ValueType::F64,
        _ => return None,
    })
}

/// A cell's little-endian bytes. (`bool` has one byte, but no value type code: it is never
/// read or written, and only completes the set `with_elem_type!` and `with_matrix!` expand.)
trait Le: MatrixElem {
    const WIDTH: usize = std::mem::size_of::<Self>();
    fn get(bytes: &[u8]) -> Self;
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! le_number {
    ($($t:ty),*) => {$(
        impl Le for $t {
            fn get(bytes: &[u8]) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
le_number!(f64, f32, i64, i32, i8, u64, u32, u8);

impl Le for bool {
    fn get(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
    fn put(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
}

fn width(vt: ValueType) -> u64 {
    match vt {
        ValueType::Si8 | ValueType::Ui8 | ValueType::Bool => 1,
        ValueType::Si32 | ValueType::Ui32 | ValueType::F32 => 4,
        _ => 8,
    }
}

/// A reader of a file's bytes that knows how many remain, so that no size read from the file
/// is believed before the bytes are there.
struct Input {
    path: String,
    reader: BufReader<File>,
    left: u64,
}

impl Input {
    fn open(path: &str) -> Result<Input, Error> {
        let file = File::open(path).map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
        let left = file.metadata().map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?.len();
        Ok(Input { path: path.to_owned(), reader: BufReader::with_capacity(1 << 20, file), left })
    }

    fn bad(&self, what: &str) -> Error {
        format!("DAPHNE binary file '{}': {what}", self.path).into()
    }

    /// That `n` items of `width` bytes follow.
    fn need(&self, n: u64, width: u64, what: &str) -> Result<(), Error> {
        match n.checked_mul(width) {
            Some(bytes) if bytes <= self.left => Ok(()),
            _ => {
                let size = if width == 1 { format!("{n} bytes") } else { format!("{n} x {width} bytes") };
                Err(self.bad(&format!("the file is too short for {what} ({size}; {} bytes are left)", self.left)))
            }
        }
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), Error> {
        self.need(buf.len() as u64, 1, what)?;
        self.reader.read_exact(buf).map_err(|e| Error::from(format!("could not read file '{}': {e}", self.path)))?;
        self.left -= buf.len() as u64;
        Ok(())
    }

    fn u8(&mut self, what: &str) -> Result<u8, Error> {
        let mut b = [0u8; 1];
        self.fill(&mut b, what)?;
        Ok(b[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, Error> {
        let mut b = [0u8; 2];
        self.fill(&mut b, what)?;
        Ok(u16::from_le_bytes(b))
    }

    fn u32(&mut self, what: &str) -> Result<u32, Error> {
        let mut b = [0u8; 4];
        self.fill(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64, Error> {
        let mut b = [0u8; 8];
        self.fill(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Passes over `n` bytes (already checked against the file).
    fn skip(&mut self, n: u64, what: &str) -> Result<(), Error> {
        self.need(n, 1, what)?;
        let step = i64::try_from(n).map_err(|_| self.bad("an offset beyond 2^63 bytes"))?;
        self.reader
            .seek_relative(step)
            .map_err(|e| Error::from(format!("could not read file '{}': {e}", self.path)))?;
        self.left -= n;
        Ok(())
    }

    /// `n` cells (already checked against the file and the memory budget).
    fn cells<T: Le>(&mut self, n: usize, what: &str) -> Result<Vec<T>, Error> {
        self.need(n as u64, T::WIDTH as u64, what)?;
        let mut cells = Vec::with_capacity(n);
        let mut buf = vec![0u8; (1 << 16) * T::WIDTH];
        while cells.len() < n {
            let k = (n - cells.len()).min(1 << 16);
            let bytes = &mut buf[..k * T::WIDTH];
            self.fill(bytes, what)?;
            cells.extend(bytes.chunks_exact(T::WIDTH).map(T::get));
        }
        Ok(cells)
    }

    /// The end of the data: DAPHNE's files hold nothing after it.
    fn end(&self) -> Result<(), Error> {
        match self.left {
            0 => Ok(()),
            n => Err(self.bad(&format!("{n} bytes after the end of the data"))),
        }
    }
}

/// What a file's header says, and for frames the rest of its head.
struct Head {
    kind: u8,
    rows: u64,
    cols: u64,
    /// Per column (frames) or a single entry (matrices).
    schema: Vec<ValueType>,
    labels: Option<Vec<String>>,
}

fn vt_of(input: &Input, code: u8) -> Result<ValueType, Error> {
    value_type(code).ok_or_else(|| {
        input.bad(&format!("value type code {code} is none of DAPHNE's binary value types (0 to 7: si8 ... f64)"))
    })
}

/// Reads the header (and a frame's schema and labels, a matrix's value type and block).
fn head(input: &mut Input) -> Result<Head, Error> {
    let version = input.u8("the header")?;
    if version != VERSION {
        return Err(input.bad(&format!(
            "format version {version}, but DAPHNE's binary format is version {VERSION} (is this a .dbdf file?)"
        )));
    }
    let kind = input.u8("the header")?;
    let rows = input.u64("the header")?;
    let cols = input.u64("the header")?;
    match kind {
        DENSE | CSR => {
            let code = input.u8("the value type")?;
            let vt = vt_of(input, code)?;
            let (rx, cx) = (input.u64("the block position")?, input.u64("the block position")?);
            if (rx, cx) != (0, 0) {
                return Err(input.bad(&format!("a block at ({rx}, {cx}); DAPHNE writes one block at (0, 0)")));
            }
            let (brows, bcols) = (input.u32("the block header")?, input.u32("the block header")?);
            let body = input.u8("the block header")?;
            let expected_body = if kind == DENSE { BODY_DENSE } else { BODY_SPARSE };
            if body == BODY_EMPTY {
                return Ok(Head { kind, rows: 0, cols: 0, schema: vec![vt], labels: None });
            }
            if body != expected_body {
                return Err(input.bad(&format!("block body type {body} in a file of data type {kind}")));
            }
            // DAPHNE writes the block's shape as 32-bit numbers.
            if (u64::from(brows), u64::from(bcols)) != (rows & 0xffff_ffff, cols & 0xffff_ffff) {
                return Err(input.bad(&format!("its block is {brows}x{bcols} but its header says {rows}x{cols}")));
            }
            let code2 = input.u8("the block's value type")?;
            let vt2 = vt_of(input, code2)?;
            if vt2 != vt {
                return Err(input.bad("the block's value type is not the header's"));
            }
            Ok(Head { kind, rows, cols, schema: vec![vt], labels: None })
        }
        FRAME => {
            // At least one byte per column for its type and two for its label's length.
            input.need(cols, 3, "the frame's schema and labels")?;
            let mut schema = Vec::with_capacity(cols as usize);
            for _ in 0..cols {
                let code = input.u8("the frame's schema")?;
                schema.push(vt_of(input, code)?);
            }
            let mut labels = Vec::with_capacity(cols as usize);
            for c in 0..cols {
                let len = input.u16("a label's length")?;
                let mut bytes = vec![0u8; len as usize];
                input.fill(&mut bytes, "a label")?;
                let label = String::from_utf8(bytes).map_err(|_| {
                    input.bad(&format!(
                        "the label of column {c} is not UTF-8 text (DAPHNE's WriteDaphne writes no readable labels)"
                    ))
                })?;
                labels.push(label);
            }
            let (rx, cx) = (input.u64("the block position")?, input.u64("the block position")?);
            if (rx, cx) != (0, 0) {
                return Err(input.bad(&format!("a block at ({rx}, {cx}); DAPHNE writes one block at (0, 0)")));
            }
            Ok(Head { kind, rows, cols, schema, labels: Some(labels) })
        }
        other => Err(input.bad(&format!("data type {other} is not a dense matrix (1), CSR matrix (2) or frame (3)"))),
    }
}

fn meta_of(head: &Head) -> Meta {
    Meta {
        rows: Some(head.rows as usize),
        cols: head.cols as usize,
        schema: head.schema.clone(),
        labels: head.labels.clone(),
        header: false,
        delimiter: b',',
    }
}

/// What a `.dbdf` file holds, from its header.
pub fn describe(path: &str) -> Result<Meta, Error> {
    let mut input = Input::open(path)?;
    let head = head(&mut input)?;
    if head.rows > usize::MAX as u64 || head.cols > usize::MAX as u64 {
        return Err(input.bad("its shape is larger than this machine's addresses"));
    }
    Ok(meta_of(&head))
}

/// Reads a `.dbdf` file: a dense or CSR matrix (into a dense matrix) or a frame.
pub fn read(path: &str, frame: bool) -> Result<Value, Error> {
    let mut input = Input::open(path)?;
    let head = head(&mut input)?;
    let (rows, cols) = (head.rows as usize, head.cols as usize);
    let what = format!("reading '{path}'");
    let value = match head.kind {
        DENSE | CSR if frame => {
            return Err(format!("'{path}' holds a matrix; read it with readMatrix").into());
        }
        FRAME if !frame => return Err(format!("'{path}' holds a frame; read it with readFrame").into()),
        DENSE => {
            let vt = head.schema[0];
            input.need(head.rows.saturating_mul(head.cols), width(vt), "the cells")?;
            crate::with_elem_type!(vt, T => Value::Matrix(dense::<T>(&mut input, rows, cols, &what)?), str => no_cells(&input)?)
        }
        CSR => {
            let vt = head.schema[0];
            crate::with_elem_type!(vt, T => Value::Matrix(csr::<T>(&mut input, rows, cols, &what)?), str => no_cells(&input)?)
        }
        _ => {
            if head.cols == 0 && head.rows != 0 {
                return Err(input.bad(&format!("a frame without columns cannot have {} rows", head.rows)));
            }
            let row_width: u64 = head.schema.iter().map(|&vt| width(vt)).sum();
            input.need(head.rows, row_width, "the frame's cells")?;
            crate::memory::check_cells::<u8>(rows, row_width as usize, &what)?;
            Value::Frame(frame_cells(&mut input, rows, &head)?)
        }
    };
    input.end()?;
    Ok(value)
}

/// The number of rows of a `.dbdf` file, from its header.
pub fn count_rows(path: &str) -> Result<usize, Error> {
    Ok(describe(path)?.rows.unwrap_or(0))
}

/// Rows `lo..hi` of a `.dbdf` matrix file (dense or CSR, into a dense matrix of the value type
/// `expected` says), read by seeking to them.
pub fn read_matrix_rows(path: &str, expected: &Meta, lo: usize, hi: usize) -> Result<Matrix, Error> {
    let mut input = Input::open(path)?;
    let head = head(&mut input)?;
    let (rows, cols) = (head.rows as usize, head.cols as usize);
    if head.kind == FRAME {
        return Err(format!("'{path}' holds a frame; read it with readFrame").into());
    }
    let vt = head.schema[0];
    if cols != expected.cols || expected.column_types().iter().any(|&t| t != vt) {
        return Err(format!("'{path}' changed since it was described; run the script again").into());
    }
    if lo > hi || hi > rows {
        return Err(format!("DAPHNE binary file '{path}' has {rows} rows, so no rows {lo}..{hi}").into());
    }
    let what = format!("reading '{path}'");
    let w = width(vt);
    let m = if head.kind == DENSE {
        input.need(head.rows.saturating_mul(head.cols), w, "the cells")?;
        input.skip(lo as u64 * cols as u64 * w, "the cells")?;
        crate::with_elem_type!(vt, T => dense::<T>(&mut input, hi - lo, cols, &what)?, str => no_cells(&input)?)
    } else {
        crate::with_elem_type!(vt, T => csr_rows::<T>(&mut input, (rows, cols), lo, hi, &what)?, str => no_cells(&input)?)
    };
    Ok(m)
}

/// Rows `lo..hi` of a CSR matrix of `rows` x `cols`, into a dense matrix: only their row
/// offsets, column indices and values are read.
fn csr_rows<T: Le>(
    input: &mut Input,
    (rows, cols): (usize, usize),
    lo: usize,
    hi: usize,
    what: &str,
) -> Result<Matrix, Error> {
    let nnz = input.u64("the number of non-zeros")?;
    let nnz_width = 8 + std::mem::size_of::<T>() as u64;
    input.need((rows as u64).saturating_add(1), 8, "the row offsets")?;
    input.need(nnz, nnz_width, "the non-zeros")?;
    crate::memory::check_shape::<T>(hi - lo, cols, what)?;
    input.skip(lo as u64 * 8, "the row offsets")?;
    let offsets = input.cells::<u64>(hi - lo + 1, "the row offsets")?;
    let (first, last) = (offsets[0], offsets[hi - lo]);
    if last > nnz || offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err(input.bad("its row offsets do not run from 0 to the number of non-zeros"));
    }
    input.skip((rows - hi) as u64 * 8 + first * 8, "the column indices")?;
    let columns = input.cells::<u64>((last - first) as usize, "the column indices")?;
    input.skip((nnz - last) * 8 + first * std::mem::size_of::<T>() as u64, "the values")?;
    let values = input.cells::<T>((last - first) as usize, "the values")?;
    let mut cells = vec![T::default(); (hi - lo) * cols];
    for r in 0..hi - lo {
        for k in (offsets[r] - first) as usize..(offsets[r + 1] - first) as usize {
            let c = columns[k];
            if c >= cols as u64 {
                return Err(input.bad(&format!("row {} has a value in column {c}, outside its {cols} columns", lo + r)));
            }
            cells[r * cols + c as usize] = values[k];
        }
    }
    Ok(T::wrap(DenseMatrix::from_vec(hi - lo, cols, cells)))
}

/// Strings and booleans never come out of a header (`value_type` has no code for them).
fn no_cells<T>(input: &Input) -> Result<T, Error> {
    Err(Error::Internal(format!("{}: a value type without a binary form", input.path)))
}

fn dense<T: Le>(input: &mut Input, rows: usize, cols: usize, what: &str) -> Result<Matrix, Error> {
    crate::memory::check_shape::<T>(rows, cols, what)?;
    let cells = input.cells::<T>(rows * cols, "the cells")?;
    Ok(T::wrap(DenseMatrix::from_vec(rows, cols, cells)))
}

/// A CSR matrix, into a dense matrix: its offsets and column indices are checked.
fn csr<T: Le>(input: &mut Input, rows: usize, cols: usize, what: &str) -> Result<Matrix, Error> {
    let nnz = input.u64("the number of non-zeros")?;
    let nnz_width = 8 + std::mem::size_of::<T>() as u64;
    input.need(nnz, nnz_width, "the non-zeros")?;
    input.need((rows as u64).saturating_add(1), 8, "the row offsets")?;
    crate::memory::check_shape::<T>(rows, cols, what)?;
    let offsets = input.cells::<u64>(rows + 1, "the row offsets")?;
    let nnz = nnz as usize;
    let columns = input.cells::<u64>(nnz, "the column indices")?;
    let values = input.cells::<T>(nnz, "the values")?;
    if offsets[0] != 0 || offsets[rows] != nnz as u64 || offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err(input.bad("its row offsets do not run from 0 to the number of non-zeros"));
    }
    let mut cells = vec![T::default(); rows * cols];
    for r in 0..rows {
        for k in offsets[r] as usize..offsets[r + 1] as usize {
            let c = columns[k];
            if c >= cols as u64 {
                return Err(input.bad(&format!("row {r} has a value in column {c}, outside its {cols} columns")));
            }
            cells[r * cols + c as usize] = values[k];
        }
    }
    Ok(T::wrap(DenseMatrix::from_vec(rows, cols, cells)))
}

/// A frame's cells, stored row by row, into its columns.
fn frame_cells(input: &mut Input, rows: usize, head: &Head) -> Result<Frame, Error> {
    let widths: Vec<usize> = head.schema.iter().map(|&vt| width(vt) as usize).collect();
    let row_width: usize = widths.iter().sum();
    let mut bytes: Vec<Vec<u8>> = widths.iter().map(|w| Vec::with_capacity(w * rows)).collect();
    let chunk_rows = ((1 << 20) / row_width.max(1)).max(1);
    let mut buf = vec![0u8; chunk_rows.min(rows) * row_width];
    let mut done = 0;
    while done < rows {
        let n = chunk_rows.min(rows - done);
        let chunk = &mut buf[..n * row_width];
        input.fill(chunk, "the frame's cells")?;
        for row in chunk.chunks_exact(row_width) {
            let mut at = 0;
            for (col, w) in bytes.iter_mut().zip(&widths) {
                col.extend_from_slice(&row[at..at + w]);
                at += w;
            }
        }
        done += n;
    }
    let columns = head
        .schema
        .iter()
        .zip(bytes)
        .map(|(&vt, b)| crate::with_elem_type!(vt, T => Ok(column::<T>(&b)), str => no_cells(input)))
        .collect::<Result<Vec<_>, Error>>()?;
    let labels = head.labels.iter().flatten().map(|l| Arc::from(l.as_str())).collect();
    Frame::new(columns, labels).map_err(|e| input.bad(&e.to_string()))
}

fn column<T: Le>(bytes: &[u8]) -> Matrix {
    let cells: Vec<T> = bytes.chunks_exact(T::WIDTH).map(T::get).collect();
    T::wrap(DenseMatrix::from_vec(cells.len(), 1, cells))
}

/// Writes a dense matrix or a frame as DAPHNE does; returns its meta data.
pub fn write(v: &Value, path: &str) -> Result<Meta, Error> {
    let no_type = |what: String| {
        format!(
            "{what} cannot be written to DAPHNE's binary format, which has no such value type; cast it, or write .csv or .parquet"
        )
    };
    let err = |e: std::io::Error| format!("could not write file '{path}': {e}");
    let (mut out, meta) = match v {
        Value::Matrix(m) => {
            let vt = m.value_type();
            let code = code(vt).ok_or_else(|| no_type(format!("a matrix of {}", vt_name(vt))))?;
            let (rows, cols) = (m.rows(), m.cols());
            if rows > u32::MAX as usize || cols > u32::MAX as usize {
                return Err(format!(
                    "could not write '{path}': DAPHNE's binary format holds at most 2^32-1 rows and columns, not {rows}x{cols}"
                ).into());
            }
            let mut head = header(DENSE, rows, cols);
            head.push(code);
            head.extend_from_slice(&[0u8; 16]);
            head.extend_from_slice(&(rows as u32).to_le_bytes());
            head.extend_from_slice(&(cols as u32).to_le_bytes());
            head.push(BODY_DENSE);
            head.push(code);
            debug_assert_eq!(head.len() as u64, DENSE_HEADER);
            let mut out = open(path)?;
            out.write_all(&head).map_err(err)?;
            let mut bytes = Vec::with_capacity(1 << 20);
            crate::with_matrix!(m, x => {
                for chunk in x.cells().chunks(1 << 16) {
                    bytes.clear();
                    chunk.iter().for_each(|v| v.put(&mut bytes));
                    out.write_all(&bytes).map_err(err)?;
                }
            }, _s => {});
            (out, Meta { rows: Some(rows), cols, schema: vec![vt], labels: None, header: false, delimiter: b',' })
        }
        Value::Frame(f) => {
            let schema = f.schema();
            let mut head = header(FRAME, f.rows(), f.cols());
            for (vt, label) in schema.iter().zip(f.labels()) {
                head.push(code(*vt).ok_or_else(|| no_type(format!("column '{label}' ({})", vt_name(*vt))))?);
            }
            for label in f.labels() {
                let len = u16::try_from(label.len()).map_err(|_| {
                    format!("could not write '{path}': the label '{label:.40}...' is longer than DAPHNE's 65535 bytes")
                })?;
                head.extend_from_slice(&len.to_le_bytes());
                head.extend_from_slice(label.as_bytes());
            }
            head.extend_from_slice(&[0u8; 16]);
            let mut out = open(path)?;
            out.write_all(&head).map_err(err)?;
            let mut row = Vec::new();
            for r in 0..f.rows() {
                row.clear();
                for c in f.columns() {
                    crate::with_matrix!(c, x => x.cells()[r].put(&mut row), _s => {});
                }
                out.write_all(&row).map_err(err)?;
            }
            let meta = Meta {
                rows: Some(f.rows()),
                cols: f.cols(),
                schema,
                labels: Some(f.labels().iter().map(|l| l.to_string()).collect()),
                header: false,
                delimiter: b',',
            };
            (out, meta)
        }
        _ => return Err("only matrices and frames can be written to files".into()),
    };
    out.flush().map_err(err)?;
    Ok(meta)
}

fn header(kind: u8, rows: usize, cols: usize) -> Vec<u8> {
    let mut h = vec![VERSION, kind];
    h.extend_from_slice(&(rows as u64).to_le_bytes());
    h.extend_from_slice(&(cols as u64).to_le_bytes());
    debug_assert_eq!(h.len() as u64, HEADER);
    h
}

fn open(path: &str) -> Result<BufWriter<File>, Error> {
    let file = File::create(path).map_err(|e| Error::from(format!("could not write file '{path}': {e}")))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> String {
        crate::io::test_path("dbdf", name)
    }

    fn m<T: MatrixElem>(rows: usize, cols: usize, cells: Vec<T>) -> Matrix {
        T::wrap(DenseMatrix::from_vec(rows, cols, cells))
    }

    /// The 45 bytes before a matrix's cells (DAPHNE's `serializeHeader`), written out here.
    fn matrix_head(kind: u8, rows: u64, cols: u64, code: u8) -> Vec<u8> {
        let mut b = vec![1u8, kind];
        b.extend_from_slice(&rows.to_le_bytes());
        b.extend_from_slice(&cols.to_le_bytes());
        b.push(code);
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&(rows as u32).to_le_bytes());
        b.extend_from_slice(&(cols as u32).to_le_bytes());
        b.extend_from_slice(&[kind, code]);
        b
    }

    #[test]
    fn a_dense_matrix_is_laid_out_as_daphne_writes_it() {
        let p = tmp("layout.dbdf");
        write(&Value::Matrix(m(2, 1, vec![1.0f64, -2.5])), &p).unwrap();
        let mut want = matrix_head(DENSE, 2, 1, 7);
        want.extend_from_slice(&1.0f64.to_le_bytes());
        want.extend_from_slice(&(-2.5f64).to_le_bytes());
        assert_eq!(std::fs::read(&p).unwrap(), want);
    }

    #[test]
    fn matrices_of_every_value_type_read_back() {
        let p = tmp("all.dbdf");
        let ms = [
            m(2, 2, vec![0.1f64, f64::NAN, -0.0, f64::MAX]),
            m(1, 3, vec![1.5f32, f32::INFINITY, -3.0]),
            m(3, 1, vec![i64::MIN, 0, i64::MAX]),
            m(1, 2, vec![i32::MIN, i32::MAX]),
            m(1, 2, vec![i8::MIN, i8::MAX]),
            m(1, 2, vec![0u64, u64::MAX]),
            m(1, 2, vec![0u32, u32::MAX]),
            m(1, 2, vec![0u8, u8::MAX]),
            m(0, 3, Vec::<f64>::new()),
        ];
        for x in ms {
            write(&Value::Matrix(x.clone()), &p).unwrap();
            let meta = describe(&p).unwrap();
            assert_eq!((meta.rows, meta.cols, meta.schema.clone()), (Some(x.rows()), x.cols(), vec![x.value_type()]));
            let Value::Matrix(back) = read(&p, false).unwrap() else { panic!() };
            assert_eq!(format!("{back:?}"), format!("{x:?}"));
        }
        let e = write(&Value::Matrix(Matrix::Str(DenseMatrix::from_vec(1, 1, vec![Arc::from("a")]))), &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a matrix of str cannot be written"), "{e}");
    }

    #[test]
    fn frames_read_back_with_their_labels() {
        let p = tmp("frame.dbdf");
        let f = Frame::new(
            vec![m(3, 1, vec![1i64, -2, 3]), m(3, 1, vec![0.5f64, f64::NAN, 2.0]), m(3, 1, vec![7u8, 8, 9])],
            vec![Arc::from("id"), Arc::from("scöre"), Arc::from("")],
        )
        .unwrap();
        write(&Value::Frame(f.clone()), &p).unwrap();
        let meta = describe(&p).unwrap();
        assert_eq!(meta.labels.unwrap(), ["id", "scöre", ""]);
        let Value::Frame(g) = read(&p, true).unwrap() else { panic!() };
        assert_eq!(format!("{:?}", g.columns()), format!("{:?}", f.columns()));
        assert_eq!(g.labels(), f.labels());
        assert!(read(&p, false).unwrap_err().to_string().contains("holds a frame"));
    }

    #[test]
    fn a_daphne_csr_matrix_reads_as_dense() {
        let p = tmp("csr.dbdf");
        // 2x3: [[0, 5, 0], [7, 0, 9]] as DAPHNE's CSR serializer writes it.
        let mut b = matrix_head(CSR, 2, 3, 2);
        b.extend_from_slice(&3u64.to_le_bytes());
        for x in [0u64, 1, 3, 1, 0, 2] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        for x in [5i64, 7, 9] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(&p, &b).unwrap();
        let Value::Matrix(x) = read(&p, false).unwrap() else { panic!() };
        assert_eq!(x, m(2, 3, vec![0i64, 5, 0, 7, 0, 9]));
        // A column index outside the matrix.
        let at = b.len() - 3 * 8 - 8;
        b[at..at + 8].copy_from_slice(&3u64.to_le_bytes());
        std::fs::write(&p, &b).unwrap();
        assert!(read(&p, false).unwrap_err().to_string().contains("outside its 3 columns"));
    }

    #[test]
    fn bad_files_are_errors_naming_them() {
        let p = tmp("good.dbdf");
        write(&Value::Matrix(m(2, 2, vec![1i32, 2, 3, 4])), &p).unwrap();
        let good = std::fs::read(&p).unwrap();
        let huge = |at: usize| {
            let mut b = good.clone();
            b[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
            b
        };
        let mut frame_huge = vec![1u8, 3];
        frame_huge.extend_from_slice(&1u64.to_le_bytes());
        frame_huge.extend_from_slice(&u64::MAX.to_le_bytes());
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", vec![], "too short for the header"),
            ("version", [&[2u8][..], &good[1..]].concat(), "format version 2"),
            ("kind", [&[1u8, 9][..], &good[2..]].concat(), "data type 9"),
            ("vt", [&good[..18], &[42][..], &good[19..]].concat(), "value type code 42"),
            ("truncated", good[..good.len() - 1].to_vec(), "too short for the cells"),
            ("header", good[..38].to_vec(), "too short for the block header"),
            ("trailing", [&good[..], &[0][..]].concat(), "1 bytes after the end"),
            ("rows", huge(2), "its block is 2x2 but its header says 1099511627776x2"),
            ("frame", frame_huge, "too short for the frame's schema"),
        ];
        for (name, bytes, want) in cases {
            let q = tmp(&format!("bad_{name}.dbdf"));
            std::fs::write(&q, &bytes).unwrap();
            let e = describe(&q).and_then(|_| read(&q, false).map(|_| ())).unwrap_err().to_string();
            assert!(e.contains(&format!("'{q}'")) && e.contains(want), "{name}: {e}");
        }
    }
}

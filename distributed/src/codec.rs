//! The wire form of values: what travels in `Chunk`s and inline inputs and outputs.
//!
//! ```text
//! scalar:  0, value type, cell
//! dense:   1, value type, rows: u64, cols: u64, rows * cols cells (row-major)
//! CSR:     2, rows: u64, cols: u64, nnz: u64, rows + 1 offsets: u64, nnz columns: u64,
//!          the values as a dense 1 x nnz matrix
//! cell:    little-endian bytes of its width (bool one byte); a string: u64 length, UTF-8
//! ```
//!
//! Decoding checks every length against the bytes that are there before allocating, so a
//! hostile or truncated message is an error, never a panic or a huge allocation.

use std::sync::Arc;

use daphne_ir::ValueType;
use daphne_runtime::csr::CsrMatrix;
use daphne_runtime::matrix::{DenseMatrix, Matrix};
use daphne_runtime::value::{Scalar, Value};

/// Why a value cannot travel or some bytes are not a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Frames, lists and remote values stay where they are (what the value is).
    #[error("{0} cannot be sent to a worker")]
    Unsendable(String),
    #[error("malformed value: {0}")]
    Malformed(#[from] Malformed),
}

/// What is wrong with bytes that should be a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("value type {0}")]
    ValueType(u32),
    #[error("tag {0}")]
    Tag(u8),
    #[error("truncated")]
    Truncated,
    #[error("more cells declared than sent")]
    CellsMissing,
    #[error("{0} bytes after the value")]
    Trailing(usize),
    #[error("a length too large")]
    LengthTooLarge,
    #[error("too many rows")]
    TooManyRows,
    #[error("too many cells")]
    TooManyCells,
    #[error("a string is not UTF-8")]
    NotUtf8,
    #[error("CSR values are not a matrix")]
    CsrValuesNotDense,
    #[error("CSR values of the wrong shape")]
    CsrValuesShape,
    #[error("CSR")]
    Csr,
}

const SCALAR: u8 = 0;
const DENSE: u8 = 1;
const CSR: u8 = 2;

/// The value type's code on the wire.
pub fn type_code(vt: ValueType) -> u8 {
    ValueType::ALL.iter().position(|&t| t == vt).map_or(u8::MAX, |i| i as u8)
}

/// The value type of a code.
pub fn type_of_code(code: u32) -> Result<ValueType, CodecError> {
    ValueType::ALL.get(code as usize).copied().ok_or(CodecError::Malformed(Malformed::ValueType(code)))
}

/// A cell type with its wire form.
trait Wire: Sized + Clone {
    /// Bytes per cell (strings: the least, their length prefix).
    const WIDTH: usize;
    fn put(cells: &[Self], out: &mut Vec<u8>);
    fn take(r: &mut Reader<'_>, n: usize) -> Result<Vec<Self>, CodecError>;
}

macro_rules! wire_number {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            fn put(cells: &[$t], out: &mut Vec<u8>) {
                if cfg!(target_endian = "little") {
                    out.extend_from_slice(bytemuck::cast_slice(cells));
                } else {
                    for x in cells {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
            fn take(r: &mut Reader<'_>, n: usize) -> Result<Vec<$t>, CodecError> {
                r.check(n, Self::WIDTH)?;
                let mut cells: Vec<$t> = vec![0 as $t; n];
                r.fill(bytemuck::cast_slice_mut(&mut cells))?;
                if cfg!(target_endian = "big") {
                    for x in &mut cells {
                        *x = <$t>::from_le_bytes(x.to_ne_bytes());
                    }
                }
                Ok(cells)
            }
        }
    )*};
}
wire_number!(f64, f32, i64, i32, i8, u64, u32, u8);

impl Wire for bool {
    const WIDTH: usize = 1;
    fn put(cells: &[bool], out: &mut Vec<u8>) {
        out.extend(cells.iter().map(|&b| u8::from(b)));
    }
    fn take(r: &mut Reader<'_>, n: usize) -> Result<Vec<bool>, CodecError> {
        Ok(u8::take(r, n)?.into_iter().map(|b| b != 0).collect())
    }
}

impl Wire for Arc<str> {
    const WIDTH: usize = 8;
    fn put(cells: &[Arc<str>], out: &mut Vec<u8>) {
        for s in cells {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    fn take(r: &mut Reader<'_>, n: usize) -> Result<Vec<Arc<str>>, CodecError> {
        r.check(n, Self::WIDTH)?;
        (0..n)
            .map(|_| {
                let len = r.len()?;
                let bytes = u8::take(r, len)?;
                String::from_utf8(bytes).map(Arc::from).map_err(|_| CodecError::Malformed(Malformed::NotUtf8))
            })
            .collect()
    }
}

/// A dense matrix's cells as bytes, shared with the matrix (no copy): what a large numeric
/// matrix travels as.
struct CellBytes<T>(DenseMatrix<T>);

impl<T: bytemuck::Pod> AsRef<[u8]> for CellBytes<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(self.0.cells())
    }
}

/// A value's encoding as segments to send one after the other: a numeric dense matrix is its
/// header and its cells in place (little-endian machines), anything else one encoded segment.
pub fn encode_segments(v: &Value) -> Result<Vec<bytes::Bytes>, CodecError> {
    use bytes::Bytes;
    fn split<T: bytemuck::Pod + Clone + Send + Sync>(m: &Matrix, x: &DenseMatrix<T>) -> Vec<Bytes> {
        let mut header = Vec::with_capacity(18);
        dense_header(m, &mut header);
        vec![Bytes::from(header), Bytes::from_owner(CellBytes(x.clone()))]
    }
    if cfg!(target_endian = "little")
        && let Value::Matrix(m) = v
    {
        let parts = match m {
            Matrix::F64(x) => Some(split(m, x)),
            Matrix::F32(x) => Some(split(m, x)),
            Matrix::Si64(x) => Some(split(m, x)),
            Matrix::Si32(x) => Some(split(m, x)),
            Matrix::Si8(x) => Some(split(m, x)),
            Matrix::Ui64(x) => Some(split(m, x)),
            Matrix::Ui32(x) => Some(split(m, x)),
            Matrix::Ui8(x) => Some(split(m, x)),
            Matrix::Bool(_) | Matrix::Str(_) => None,
        };
        if let Some(p) = parts {
            return Ok(p);
        }
    }
    Ok(vec![Bytes::from(encode(v)?)])
}

/// Runs `$body` with `$t` the Rust cell type of a matrix's variant (`$m` bound to it).
macro_rules! each_matrix {
    ($matrix:expr, $m:ident => $body:expr) => {
        match $matrix {
            Matrix::F64($m) => $body,
            Matrix::F32($m) => $body,
            Matrix::Si64($m) => $body,
            Matrix::Si32($m) => $body,
            Matrix::Si8($m) => $body,
            Matrix::Ui64($m) => $body,
            Matrix::Ui32($m) => $body,
            Matrix::Ui8($m) => $body,
            Matrix::Bool($m) => $body,
            Matrix::Str($m) => $body,
        }
    };
}

/// The bytes of a value; frames, lists and remote values cannot travel.
pub fn encode(v: &Value) -> Result<Vec<u8>, CodecError> {
    let mut out = match v {
        Value::Matrix(m) => Vec::with_capacity(dense_size(m)),
        _ => Vec::new(),
    };
    match v {
        Value::Scalar(s) => {
            out.push(SCALAR);
            out.push(type_code(s.value_type()));
            match s {
                Scalar::F64(x) => f64::put(&[*x], &mut out),
                Scalar::F32(x) => f32::put(&[*x], &mut out),
                Scalar::Si64(x) => i64::put(&[*x], &mut out),
                Scalar::Si32(x) => i32::put(&[*x], &mut out),
                Scalar::Si8(x) => i8::put(&[*x], &mut out),
                Scalar::Ui64(x) | Scalar::Index(x) => u64::put(&[*x], &mut out),
                Scalar::Ui32(x) => u32::put(&[*x], &mut out),
                Scalar::Ui8(x) => u8::put(&[*x], &mut out),
                Scalar::Bool(x) => bool::put(&[*x], &mut out),
                Scalar::Str(x) => <Arc<str>>::put(std::slice::from_ref(x), &mut out),
            }
        }
        Value::Matrix(m) => dense(m, &mut out),
        Value::Sparse(m) => {
            out.push(CSR);
            for x in [m.rows(), m.cols(), m.nnz()] {
                out.extend_from_slice(&(x as u64).to_le_bytes());
            }
            for &o in m.row_offsets().iter().chain(m.col_idxs()) {
                out.extend_from_slice(&(o as u64).to_le_bytes());
            }
            dense(m.values(), &mut out);
        }
        other => return Err(CodecError::Unsendable(other.describe())),
    }
    Ok(out)
}

/// The encoded size of a dense matrix without encoding it (strings: an estimate from below).
pub fn dense_size(m: &Matrix) -> usize {
    let cell = match m.value_type() {
        ValueType::Bool | ValueType::Si8 | ValueType::Ui8 => 1,
        ValueType::Si32 | ValueType::Ui32 | ValueType::F32 => 4,
        _ => 8,
    };
    18 + m.rows() * m.cols() * cell
}

fn dense(m: &Matrix, out: &mut Vec<u8>) {
    dense_header(m, out);
    each_matrix!(m, x => Wire::put(x.cells(), out));
}

/// A dense matrix's tag, value type and shape.
fn dense_header(m: &Matrix, out: &mut Vec<u8>) {
    out.push(DENSE);
    out.push(type_code(m.value_type()));
    out.extend_from_slice(&(m.rows() as u64).to_le_bytes());
    out.extend_from_slice(&(m.cols() as u64).to_le_bytes());
}

/// The value of some bytes; every byte must be used.
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_segments(&[bytes])
}

/// The value of bytes that arrived in segments (chunks), without joining them first.
pub fn decode_segments(segments: &[&[u8]]) -> Result<Value, CodecError> {
    let total = segments.iter().map(|s| s.len()).sum();
    let mut r = Reader { segments, seg: 0, at: 0, left: total };
    let v = match r.byte()? {
        SCALAR => {
            let vt = type_of_code(u32::from(r.byte()?))?;
            Value::Scalar(match vt {
                ValueType::F64 => Scalar::F64(one(f64::take(&mut r, 1)?)),
                ValueType::F32 => Scalar::F32(one(f32::take(&mut r, 1)?)),
                ValueType::Si64 => Scalar::Si64(one(i64::take(&mut r, 1)?)),
                ValueType::Si32 => Scalar::Si32(one(i32::take(&mut r, 1)?)),
                ValueType::Si8 => Scalar::Si8(one(i8::take(&mut r, 1)?)),
                ValueType::Ui64 => Scalar::Ui64(one(u64::take(&mut r, 1)?)),
                ValueType::Index => Scalar::Index(one(u64::take(&mut r, 1)?)),
                ValueType::Ui32 => Scalar::Ui32(one(u32::take(&mut r, 1)?)),
                ValueType::Ui8 => Scalar::Ui8(one(u8::take(&mut r, 1)?)),
                ValueType::Bool => Scalar::Bool(one(bool::take(&mut r, 1)?)),
                ValueType::Str => Scalar::Str(one(<Arc<str>>::take(&mut r, 1)?)),
            })
        }
        DENSE => Value::Matrix(read_dense(&mut r)?),
        CSR => {
            let (rows, cols, nnz) = (r.len()?, r.len()?, r.len()?);
            let offsets = r.lens(rows.checked_add(1).ok_or(Malformed::TooManyRows)?)?;
            let col_idxs = r.lens(nnz)?;
            if r.byte()? != DENSE {
                return Err(Malformed::CsrValuesNotDense.into());
            }
            let values = read_dense(&mut r)?;
            if values.rows() != 1 || values.cols() != nnz {
                return Err(Malformed::CsrValuesShape.into());
            }
            Value::Sparse(CsrMatrix::new(rows, cols, offsets, col_idxs, values).map_err(|_| Malformed::Csr)?)
        }
        tag => return Err(Malformed::Tag(tag).into()),
    };
    if r.left != 0 {
        return Err(Malformed::Trailing(r.left).into());
    }
    Ok(v)
}

fn one<T>(v: Vec<T>) -> T {
    // `take(_, 1)` returns exactly one cell or an error.
    let mut v = v;
    v.swap_remove(0)
}

fn read_dense(r: &mut Reader<'_>) -> Result<Matrix, CodecError> {
    let vt = type_of_code(u32::from(r.byte()?))?;
    let (rows, cols) = (r.len()?, r.len()?);
    let n = rows.checked_mul(cols).ok_or(Malformed::TooManyCells)?;
    fn cells<T: Wire>(r: &mut Reader<'_>, rows: usize, cols: usize, n: usize) -> Result<DenseMatrix<T>, CodecError> {
        r.check(n, T::WIDTH)?;
        Ok(DenseMatrix::from_vec(rows, cols, T::take(r, n)?))
    }
    Ok(match vt {
        ValueType::F64 => Matrix::F64(cells(r, rows, cols, n)?),
        ValueType::F32 => Matrix::F32(cells(r, rows, cols, n)?),
        ValueType::Si64 => Matrix::Si64(cells(r, rows, cols, n)?),
        ValueType::Si32 => Matrix::Si32(cells(r, rows, cols, n)?),
        ValueType::Si8 => Matrix::Si8(cells(r, rows, cols, n)?),
        ValueType::Ui64 | ValueType::Index => Matrix::Ui64(cells(r, rows, cols, n)?),
        ValueType::Ui32 => Matrix::Ui32(cells(r, rows, cols, n)?),
        ValueType::Ui8 => Matrix::Ui8(cells(r, rows, cols, n)?),
        ValueType::Bool => Matrix::Bool(cells(r, rows, cols, n)?),
        ValueType::Str => Matrix::Str(cells(r, rows, cols, n)?),
    })
}

/// Decodes one object from its bytes as they arrive (a store's chunks). A dense matrix of
/// numbers whose header announces exactly the bytes to come is written into its cells chunk
/// by chunk, so the chunks can go as they come and the object takes about its own size, not
/// twice; anything else (and every object on a big-endian machine) is kept in segments and
/// decoded at the end by [`decode_segments`], with the same checks.
pub struct Incremental {
    total: usize,
    state: Stream,
}

enum Stream {
    /// The first bytes, until a dense matrix's 18-byte header is complete.
    Head(Vec<u8>),
    /// Cells written as they arrive: `filled` bytes of them so far.
    Dense { cells: Box<dyn DenseCells>, filled: usize },
    /// Everything else, in order.
    Segments(Vec<bytes::Bytes>),
    /// More bytes than the header announced.
    Trailing(usize),
}

/// A dense matrix's cells being filled byte by byte.
trait DenseCells: Send {
    fn bytes_mut(&mut self) -> &mut [u8];
    fn finish(self: Box<Self>) -> Matrix;
}

struct Cells<T> {
    rows: usize,
    cols: usize,
    cells: Vec<T>,
    make: fn(DenseMatrix<T>) -> Matrix,
}

impl<T: bytemuck::Pod + Send> DenseCells for Cells<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.cells)
    }
    fn finish(self: Box<Self>) -> Matrix {
        (self.make)(DenseMatrix::from_vec(self.rows, self.cols, self.cells))
    }
}

/// The cells of a dense matrix of `vt` and this shape, zeroed, when it is of numbers (whose
/// wire form is their little-endian bytes) and its cells are exactly `bytes` bytes.
fn dense_cells(vt: ValueType, rows: usize, cols: usize, bytes: usize) -> Option<Box<dyn DenseCells>> {
    fn cells<T: bytemuck::Pod + Default + Send + 'static>(
        rows: usize,
        cols: usize,
        bytes: usize,
        make: fn(DenseMatrix<T>) -> Matrix,
    ) -> Option<Box<dyn DenseCells>> {
        let n = rows.checked_mul(cols)?;
        if n.checked_mul(std::mem::size_of::<T>())? != bytes {
            return None;
        }
        Some(Box::new(Cells { rows, cols, cells: vec![T::default(); n], make }))
    }
    if !cfg!(target_endian = "little") {
        return None;
    }
    match vt {
        ValueType::F64 => cells(rows, cols, bytes, Matrix::F64),
        ValueType::F32 => cells(rows, cols, bytes, Matrix::F32),
        ValueType::Si64 => cells(rows, cols, bytes, Matrix::Si64),
        ValueType::Si32 => cells(rows, cols, bytes, Matrix::Si32),
        ValueType::Si8 => cells(rows, cols, bytes, Matrix::Si8),
        ValueType::Ui64 | ValueType::Index => cells(rows, cols, bytes, Matrix::Ui64),
        ValueType::Ui32 => cells(rows, cols, bytes, Matrix::Ui32),
        ValueType::Ui8 => cells(rows, cols, bytes, Matrix::Ui8),
        ValueType::Bool | ValueType::Str => None,
    }
}

impl Incremental {
    /// A decoder of an object of `total` encoded bytes.
    pub fn new(total: usize) -> Incremental {
        Incremental { total, state: Stream::Head(Vec::with_capacity(18.min(total))) }
    }

    /// The next bytes of the object, in order.
    pub fn push(&mut self, mut data: bytes::Bytes) {
        if let Stream::Head(head) = &mut self.state {
            let take = (18 - head.len()).min(data.len());
            head.extend_from_slice(&data.split_to(take));
            if head.len() < 18 {
                return;
            }
            let word = |at: usize| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&head[at..at + 8]);
                usize::try_from(u64::from_le_bytes(a)).ok()
            };
            let cells = match (head[0], type_of_code(u32::from(head[1])).ok(), word(2), word(10)) {
                (DENSE, Some(vt), Some(rows), Some(cols)) => {
                    self.total.checked_sub(18).and_then(|bytes| dense_cells(vt, rows, cols, bytes))
                }
                _ => None,
            };
            self.state = match cells {
                Some(cells) => Stream::Dense { cells, filled: 0 },
                None => Stream::Segments(vec![bytes::Bytes::from(std::mem::take(head))]),
            };
        }
        match &mut self.state {
            Stream::Head(_) => {}
            Stream::Dense { cells, filled } => {
                let out = cells.bytes_mut();
                let n = data.len().min(out.len() - *filled);
                out[*filled..*filled + n].copy_from_slice(&data[..n]);
                *filled += n;
                if n < data.len() {
                    self.state = Stream::Trailing(data.len() - n);
                }
            }
            Stream::Segments(segments) => {
                if !data.is_empty() {
                    segments.push(data);
                }
            }
            Stream::Trailing(extra) => *extra += data.len(),
        }
    }

    /// The object, once every byte arrived (the errors of [`decode_segments`] otherwise).
    pub fn finish(self) -> Result<Value, CodecError> {
        match self.state {
            Stream::Dense { mut cells, filled } => {
                if filled == cells.bytes_mut().len() {
                    Ok(Value::Matrix(cells.finish()))
                } else {
                    Err(Malformed::Truncated.into())
                }
            }
            Stream::Trailing(extra) => Err(Malformed::Trailing(extra).into()),
            Stream::Head(head) => decode(&head),
            Stream::Segments(segments) => {
                let parts: Vec<&[u8]> = segments.iter().map(|s| s.as_ref()).collect();
                decode_segments(&parts)
            }
        }
    }
}

/// Reads across segments: `seg` and `at` are where the next byte is, `left` how many remain.
struct Reader<'a> {
    segments: &'a [&'a [u8]],
    seg: usize,
    at: usize,
    left: usize,
}

impl Reader<'_> {
    /// Fills `out` with the next bytes.
    fn fill(&mut self, out: &mut [u8]) -> Result<(), CodecError> {
        if out.len() > self.left {
            return Err(Malformed::Truncated.into());
        }
        let mut done = 0;
        while done < out.len() {
            let seg = self.segments.get(self.seg).ok_or(Malformed::Truncated)?;
            let n = (seg.len() - self.at).min(out.len() - done);
            out[done..done + n].copy_from_slice(&seg[self.at..self.at + n]);
            done += n;
            self.at += n;
            if self.at == seg.len() {
                self.seg += 1;
                self.at = 0;
            }
        }
        self.left -= out.len();
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Ok(b[0])
    }

    /// A u64 length that fits this machine.
    fn len(&mut self) -> Result<usize, CodecError> {
        let mut a = [0u8; 8];
        self.fill(&mut a)?;
        usize::try_from(u64::from_le_bytes(a)).map_err(|_| CodecError::Malformed(Malformed::LengthTooLarge))
    }

    fn lens(&mut self, n: usize) -> Result<Vec<usize>, CodecError> {
        self.check(n, 8)?;
        (0..n).map(|_| self.len()).collect()
    }

    /// Fails unless `n` items of at least `width` bytes can still follow.
    fn check(&self, n: usize, width: usize) -> Result<(), CodecError> {
        match n.checked_mul(width) {
            Some(b) if b <= self.left => Ok(()),
            _ => Err(Malformed::CellsMissing.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: Value) {
        let bytes = encode(&v).expect("encodes");
        let back = decode(&bytes).expect("decodes");
        // The segments join to the same bytes, and decode in any cut.
        let segments = encode_segments(&v).expect("encodes");
        assert_eq!(segments.concat(), bytes);
        for cut in [1, 3, 8, 17] {
            let pieces: Vec<&[u8]> = bytes.chunks(cut).collect();
            assert_eq!(encode(&decode_segments(&pieces).expect("decodes")).expect("encodes"), bytes);
        }
        // Bit for bit (NaN included): the decoded value encodes to the same bytes.
        assert_eq!(encode(&back).expect("encodes"), bytes);
        assert_eq!(kind(&back), kind(&v));
        // Every truncation is an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "{cut} of {} bytes", bytes.len());
        }
        // As chunks arrive: the same value in any cut; a missing or an extra byte is an error.
        let incremental = |pieces: &[&[u8]], total: usize| {
            let mut d = Incremental::new(total);
            for p in pieces {
                d.push(bytes::Bytes::copy_from_slice(p));
            }
            d.finish()
        };
        for cut in [1, 3, 8, 17, 18, 19, bytes.len()] {
            let pieces: Vec<&[u8]> = bytes.chunks(cut).collect();
            let v = incremental(&pieces, bytes.len()).expect("decodes as it arrives");
            assert_eq!(encode(&v).expect("encodes"), bytes, "in chunks of {cut}");
        }
        for cut in 0..bytes.len() {
            assert!(incremental(&[&bytes[..cut]], bytes.len()).is_err(), "{cut} of {} bytes", bytes.len());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(incremental(&[&longer], bytes.len()).is_err(), "a byte past the end");
    }

    fn kind(v: &Value) -> String {
        match v {
            Value::Matrix(m) => format!("dense {} {}x{}", m.value_type(), m.rows(), m.cols()),
            Value::Sparse(m) => format!("csr {} {}x{} {}", m.value_type(), m.rows(), m.cols(), m.nnz()),
            Value::Scalar(s) => format!("scalar {}", s.value_type()),
            other => other.describe(),
        }
    }

    #[test]
    fn every_value_type_and_csr_round_trip() {
        round_trip(Value::Scalar(Scalar::F64(-0.0)));
        round_trip(Value::Scalar(Scalar::Index(7)));
        round_trip(Value::Scalar(Scalar::Str(Arc::from("ä b"))));
        round_trip(Value::Matrix(Matrix::F64(DenseMatrix::from_vec(2, 2, vec![1.5, f64::NAN.abs(), -3.0, 1e300]))));
        round_trip(Value::Matrix(Matrix::F32(DenseMatrix::from_vec(1, 3, vec![1.5, 2.0, -3.0]))));
        round_trip(Value::Matrix(Matrix::Si64(DenseMatrix::from_vec(3, 1, vec![i64::MIN, 0, i64::MAX]))));
        round_trip(Value::Matrix(Matrix::Si32(DenseMatrix::from_vec(1, 2, vec![-1, 2]))));
        round_trip(Value::Matrix(Matrix::Si8(DenseMatrix::from_vec(1, 2, vec![-1, 2]))));
        round_trip(Value::Matrix(Matrix::Ui64(DenseMatrix::from_vec(1, 2, vec![u64::MAX, 2]))));
        round_trip(Value::Matrix(Matrix::Ui32(DenseMatrix::from_vec(1, 2, vec![1, 2]))));
        round_trip(Value::Matrix(Matrix::Ui8(DenseMatrix::from_vec(1, 2, vec![255, 2]))));
        round_trip(Value::Matrix(Matrix::Bool(DenseMatrix::from_vec(1, 2, vec![true, false]))));
        round_trip(Value::Matrix(Matrix::Str(DenseMatrix::from_vec(1, 2, vec![Arc::from("a"), Arc::from("")]))));
        round_trip(Value::Matrix(Matrix::F64(DenseMatrix::from_vec(0, 5, vec![]))));
        let dense = Matrix::F64(DenseMatrix::from_vec(3, 3, vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 3.0]));
        let csr = CsrMatrix::from_dense(&dense).expect("csr");
        round_trip(Value::Sparse(csr.clone()));
        round_trip(Value::Sparse(csr.row_range(1, 3).expect("rows")));
    }

    #[test]
    fn hostile_sizes_are_errors_without_allocating() {
        let mut huge = vec![DENSE, type_code(ValueType::F64)];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
        let mut many = vec![DENSE, type_code(ValueType::Str)];
        many.extend_from_slice(&(1u64 << 40).to_le_bytes());
        many.extend_from_slice(&1u64.to_le_bytes());
        assert!(decode(&many).is_err());
        assert!(decode(&[9]).is_err());
        assert!(decode(&[SCALAR, 200, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode(&[]).is_err());
    }
}

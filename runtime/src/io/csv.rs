//! CSV files: a parallel reader that parses straight into the result, a writer whose text
//! reads back to the same values, and the schema inference for files without meta data.
//!
//! Records are separated by line breaks (`\n` or `\r\n`) outside quotes; a cell that starts
//! with a double quote runs to the closing quote, may hold delimiters and line breaks, and
//! writes a quote as `""` (RFC 4180). Blank lines at the end of a file are not rows. A read
//! covers one file or the part files of a directory ([`super::parts`]), one after another; a
//! record never spans two parts, and each part has its own header line and blank lines at its
//! end ([`Part`] says where a part's records are: the one definition the whole read and the
//! read by row ranges, [`super::ranges`], share).
//!
//! Reading is two passes over the files, neither of which holds them whole:
//! 1. [`split`] reads them in blocks and cuts them into segments of whole records, counting
//!    each segment's records (a block without quotes is counted at memory speed), so every
//!    segment knows the row where it starts;
//! 2. threads parse the segments ([`parse`]), each into its own rows of the result, which is
//!    allocated once at its final size. Peak memory is the result plus one block per thread.
//!
//! A read by row ranges is the same two passes over the records from an anchor (a record
//! start found by [`records_in`]): [`read_records`].
//!
//! A cell is converted exactly or not at all: an integer must be a decimal integer within its
//! type's range, a float a decimal or scientific number, `nan` or `inf` (an empty float cell
//! is NaN, a missing value); anything else is an error `file:line:column` naming the expected
//! type, as are rows with too many or too few cells and files with more or fewer rows than
//! their meta data says.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use daphne_ir::ValueType;

use super::meta::{FloatFormat, Meta, ReadOptions, frame_labels, meta_json, vt_name};
use crate::error::Error;
use crate::format::CppDisplay;
use crate::frame::Frame;
use crate::matrix::Matrix;
use crate::value::Value;

/// The size of the blocks the file is split and read in.
const BLOCK: usize = 1 << 20;

/// How much of a file schema inference looks at.
const SAMPLE_BYTES: usize = 1 << 20;

/// A run of whole records of one part file (the file itself, or a part of a directory).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    /// The index of the part file (in `parts::list`'s order).
    part: u32,
    offset: u64,
    len: usize,
    rows: usize,
}

/// The state of the record splitter between two bytes.
#[derive(Clone, Copy, PartialEq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted cell: the closing one, or the first of `""`.
    QuoteInQuoted,
}

impl State {
    /// Whether a line break here would be inside a quoted cell (a `"` just seen inside one may
    /// be its closing quote or the first of `""`: counted as inside).
    fn in_quotes(self) -> bool {
        matches!(self, State::Quoted | State::QuoteInQuoted)
    }
}

/// The quote-aware splitter: feeds `bytes` on from `state`, calling `on_end(i)` for each line
/// break `i` that ends a record, until it returns `false`. Returns where it stopped (just
/// after that line break) or `bytes.len()`.
fn run_splitter(state: &mut State, bytes: &[u8], delim: u8, mut on_end: impl FnMut(usize) -> bool) -> usize {
    for (i, &b) in bytes.iter().enumerate() {
        *state = match (*state, b) {
            (State::FieldStart, b'"') => State::Quoted,
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b'\n') => {
                *state = State::FieldStart;
                if !on_end(i) {
                    return i + 1;
                }
                State::FieldStart
            }
            (_, b) if b == delim => State::FieldStart,
            _ => State::Unquoted,
        };
    }
    bytes.len()
}

/// The number of line breaks in `bytes` (vectorized by the compiler).
fn count_breaks(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// The position of the `n`-th line break (1-based) in `bytes`, which holds at least `n`:
/// whole chunks are counted at memory speed, the one holding it searched.
fn nth_break(bytes: &[u8], mut n: usize) -> usize {
    const CHUNK: usize = 4096;
    let mut base = 0;
    for chunk in bytes.chunks(CHUNK) {
        let k = count_breaks(chunk);
        if k < n {
            n -= k;
            base += chunk.len();
            continue;
        }
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                n -= 1;
                if n == 0 {
                    return base + i;
                }
            }
        }
    }
    unreachable!("nth_break: fewer line breaks than asked for")
}

/// Counts the records that end in `bytes` (which starts at a record boundary), at most
/// `limit`, and returns the count and the end of the last of them (just after its line
/// break). Without quotes this runs at memory speed.
fn scan_records(bytes: &[u8], delim: u8, limit: usize) -> (usize, Option<usize>) {
    if !bytes.contains(&b'"') {
        let n = count_breaks(bytes);
        if n <= limit {
            return (n, bytes.iter().rposition(|&b| b == b'\n').map(|i| i + 1));
        }
        return (limit, Some(nth_break(bytes, limit) + 1));
    }
    let (mut n, mut last) = (0, None);
    let mut state = State::FieldStart;
    if limit > 0 {
        run_splitter(&mut state, bytes, delim, |i| {
            n += 1;
            last = Some(i + 1);
            n < limit
        });
    }
    (n, last)
}

/// The end of the first record in `bytes` (just after its line break), if it ends there.
fn first_record_end(bytes: &[u8], delim: u8) -> Option<usize> {
    scan_records(bytes, delim, 1).1
}

/// A reader of a file's bytes from an offset.
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// Reads as much as `buf` holds (less at the end of the file).
fn fill(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The error of a failed read of `path`.
fn unreadable(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::from(format!("could not read file '{}': {e}", path.display()))
}

/// One part file of a read (the file itself, or one of a directory's parts), open, with where
/// its records are: from `data_start` (after the header line, when there is one) to
/// `content_end` (blank lines at the end of a file are no rows: its records end with the line
/// break after its last line with content, or at its end if that line has none). Records
/// begin at `data_start` and after every line break outside quotes before `content_end`.
pub(super) struct Part {
    pub path: PathBuf,
    file: File,
    pub data_start: u64,
    pub content_end: u64,
}

impl Part {
    pub fn open(path: &Path, delim: u8, header: bool) -> Result<Part, Error> {
        let err = unreadable(path);
        let mut file = File::open(path).map_err(&err)?;
        let size = file.metadata().map_err(&err)?.len();
        let content_end = content_end(&mut file, size).map_err(&err)?;
        let data_start = if header { header_end(&mut file, size, delim).map_err(&err)? } else { 0 };
        Ok(Part { path: path.to_path_buf(), file, data_start, content_end })
    }

    /// Whether the part has records at all.
    fn has_records(&self) -> bool {
        self.data_start < self.content_end
    }
}

/// Where a file's records end (see [`Part`]); 0 for a file of blank lines.
fn content_end(file: &mut File, size: u64) -> std::io::Result<u64> {
    const TAIL: u64 = 1 << 16;
    let mut buf = vec![0u8; TAIL as usize];
    let mut end = size;
    let last = loop {
        if end == 0 {
            return Ok(0);
        }
        let start = end.saturating_sub(TAIL);
        let chunk = &mut buf[..(end - start) as usize];
        read_at(file, start, chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b != b'\n' && b != b'\r') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    // Everything from `last` on is line breaks and carriage returns: the first line break ends
    // the last line with content.
    let mut at = last;
    while at < size {
        let chunk = &mut buf[..(size - at).min(TAIL) as usize];
        read_at(file, at, chunk)?;
        if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            return Ok(at + i as u64 + 1);
        }
        at += chunk.len() as u64;
    }
    Ok(size)
}

/// The end of a file's first record (its header line), or its size if that has no line break.
fn header_end(file: &mut File, size: u64, delim: u8) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 12];
    loop {
        let n = (buf.len() as u64).min(size) as usize;
        read_at(file, 0, &mut buf[..n])?;
        if let Some(end) = first_record_end(&buf[..n], delim) {
            return Ok(end as u64);
        }
        if n as u64 == size {
            return Ok(size);
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// Pass 1 on one part: its records from `from` (a record start, at or after its data start)
/// to its content end, cut into segments of about `block` bytes; the first `skip` records are
/// passed over and at most `take` taken. Returns the segments and how many records were
/// skipped and taken.
fn split_part(
    part: &mut Part,
    index: u32,
    from: u64,
    delim: u8,
    block: usize,
    mut skip: usize,
    take: usize,
) -> Result<(Vec<Segment>, usize, usize), Error> {
    let end = part.content_end;
    let err = unreadable(&part.path);
    let mut segments = Vec::new();
    let (mut skipped, mut taken) = (0, 0);
    // `buf[..have]` holds the part's bytes from `start`, beginning at a record boundary.
    let mut buf = vec![0u8; block.min(end.saturating_sub(from) as usize).max(1)];
    let (mut start, mut have) = (from, 0usize);
    while start + (have as u64) < end || have > 0 {
        let limit = if skip > 0 { skip } else { take - taken };
        if limit == 0 {
            break;
        }
        if have == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let want = ((buf.len() - have) as u64).min(end - start - have as u64) as usize;
        read_at(&mut part.file, start + have as u64, &mut buf[have..have + want]).map_err(&err)?;
        have += want;
        let eof = start + have as u64 == end;
        let (mut rows, last) = scan_records(&buf[..have], delim, limit);
        let stop = match last {
            // The last record may lack its line break.
            _ if eof && rows < limit && last != Some(have) => {
                rows += 1;
                have
            }
            Some(stop) => stop,
            None => continue, // a record longer than the buffer: read more
        };
        if skip > 0 {
            skip -= rows;
            skipped += rows;
        } else {
            segments.push(Segment { part: index, offset: start, len: stop, rows });
            taken += rows;
        }
        buf.copy_within(stop..have, 0);
        start += stop as u64;
        have -= stop;
    }
    Ok((segments, skipped, taken))
}

/// Pass 1 on all the parts of a read: every record, in segments.
fn split(parts: &[PathBuf], delim: u8, header: bool, block: usize) -> Result<Vec<Segment>, Error> {
    let mut segments = Vec::new();
    for (i, path) in parts.iter().enumerate() {
        let mut part = Part::open(path, delim, header)?;
        let from = part.data_start;
        segments.extend(split_part(&mut part, i as u32, from, delim, block, 0, usize::MAX)?.0);
    }
    Ok(segments)
}

/// A problem at a byte offset of the file.
#[derive(Debug)]
struct CellError {
    offset: u64,
    message: String,
}

/// The cells of one segment's rows, in the result's storage.
enum Dest<'a> {
    F64(&'a mut [f64]),
    F32(&'a mut [f32]),
    Si64(&'a mut [i64]),
    Si32(&'a mut [i32]),
    Si8(&'a mut [i8]),
    Ui64(&'a mut [u64]),
    Ui32(&'a mut [u32]),
    Ui8(&'a mut [u8]),
    Bool(&'a mut [bool]),
    Str(&'a mut [Arc<str>]),
}

/// Cuts `cells` into consecutive mutable pieces of the given lengths.
fn pieces<'a, T>(mut cells: &'a mut [T], lens: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(lens.len());
    for &n in lens {
        let (head, rest) = std::mem::take(&mut cells).split_at_mut(n);
        out.push(head);
        cells = rest;
    }
    out
}

/// One destination per segment, `lens` cells each, in a matrix's (unshared) cells.
fn dests<'a>(m: &'a mut Matrix, lens: &[usize]) -> Vec<Dest<'a>> {
    match m {
        Matrix::F64(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::F64).collect(),
        Matrix::F32(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::F32).collect(),
        Matrix::Si64(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::Si64).collect(),
        Matrix::Si32(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::Si32).collect(),
        Matrix::Si8(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::Si8).collect(),
        Matrix::Ui64(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::Ui64).collect(),
        Matrix::Ui32(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::Ui32).collect(),
        Matrix::Ui8(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::Ui8).collect(),
        Matrix::Bool(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::Bool).collect(),
        Matrix::Str(m) => pieces(m.cells_mut(), lens).into_iter().map(Dest::Str).collect(),
    }
}

/// Spaces and tabs around a number are not part of it.
fn trim(b: &[u8]) -> &[u8] {
    let is_space = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !is_space(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_space(c)).map_or(start, |i| i + 1);
    &b[start..end]
}

/// A number of type `T` spelled exactly by the cell (no trailing text, within range).
fn number<T: std::str::FromStr>(cell: &[u8]) -> Option<T> {
    std::str::from_utf8(trim(cell)).ok()?.parse().ok()
}

/// Powers of ten that are exact doubles.
const EXACT_POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The common case of a plain decimal (`-12.375`) whose digits fit a double's mantissa: the
/// digits as an integer divided by a power of ten, both exact, so the one rounding of the
/// division gives the correctly rounded value, the same bits `str::parse` gives (Clinger's
/// fast path). `None` for anything else.
fn plain_decimal(t: &[u8]) -> Option<f64> {
    let (negative, digits) = match t.first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let (mut mantissa, mut fraction, mut seen_point, mut seen_digit) = (0u64, 0usize, false, false);
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                fraction += usize::from(seen_point);
                seen_digit = true;
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    if !seen_digit || mantissa > 1 << 53 {
        return None;
    }
    let x = mantissa as f64 / EXACT_POWERS[fraction];
    Some(if negative { -x } else { x })
}

/// A float cell: empty is NaN (a missing value); `nan`, `inf`, `-inf` and `infinity` in any
/// case are accepted, as `strtod` accepts them.
fn float<T: std::str::FromStr + From<f32>>(cell: &[u8]) -> Option<T> {
    let t = trim(cell);
    if t.is_empty() {
        return Some(T::from(f32::NAN));
    }
    // `-nan` (glibc's text for a NaN with its sign bit set) is a NaN too.
    let t = if t.eq_ignore_ascii_case(b"-nan") { &t[1..] } else { t };
    number(t)
}

/// An si64 cell: a sign and at most 18 digits cannot overflow, so they are summed directly;
/// anything else goes to `str::parse`, which gives the same answer for those.
fn si64_cell(cell: &[u8]) -> Option<i64> {
    let t = trim(cell);
    let (negative, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return number(cell);
    }
    let v = digits.iter().fold(0i64, |v, &c| v * 10 + i64::from(c - b'0'));
    Some(if negative { -v } else { v })
}

/// An f64 cell, by the fast path where it applies.
fn f64_cell(cell: &[u8]) -> Option<f64> {
    plain_decimal(trim(cell)).or_else(|| float::<f64>(cell))
}

/// What a cell of value type `vt` must be, for error messages.
fn expected(vt: ValueType) -> &'static str {
    match vt {
        ValueType::F64 => "f64 (a number)",
        ValueType::F32 => "f32 (a number)",
        ValueType::Si64 => "si64 (an integer from -9223372036854775808 to 9223372036854775807)",
        ValueType::Si32 => "si32 (an integer from -2147483648 to 2147483647)",
        ValueType::Si8 => "si8 (an integer from -128 to 127)",
        ValueType::Ui64 | ValueType::Index => "ui64 (an integer from 0 to 18446744073709551615)",
        ValueType::Ui32 => "ui32 (an integer from 0 to 4294967295)",
        ValueType::Ui8 => "ui8 (an integer from 0 to 255)",
        ValueType::Bool => "bool (true, false, 1 or 0)",
        ValueType::Str => "str (UTF-8 text)",
    }
}

impl Dest<'_> {
    /// Stores cell `i`; `false` if the text is not a value of the destination's type.
    fn set(&mut self, i: usize, cell: &[u8]) -> bool {
        macro_rules! put {
            ($d:expr, $v:expr) => {
                match $v {
                    Some(x) => {
                        $d[i] = x;
                        true
                    }
                    None => false,
                }
            };
        }
        match self {
            Dest::F64(d) => put!(d, f64_cell(cell)),
            Dest::F32(d) => put!(d, float::<f32>(cell)),
            Dest::Si64(d) => put!(d, si64_cell(cell)),
            Dest::Si32(d) => put!(d, number::<i32>(cell)),
            Dest::Si8(d) => put!(d, number::<i8>(cell)),
            Dest::Ui64(d) => put!(d, number::<u64>(cell)),
            Dest::Ui32(d) => put!(d, number::<u32>(cell)),
            Dest::Ui8(d) => put!(d, number::<u8>(cell)),
            Dest::Bool(d) => put!(
                d,
                match trim(cell) {
                    b"1" | b"true" => Some(true),
                    b"0" | b"false" => Some(false),
                    _ => None,
                }
            ),
            Dest::Str(d) => put!(d, std::str::from_utf8(cell).ok().map(Arc::from)),
        }
    }
}

/// Where one segment's cells go: a matrix's row-major cells or one piece per frame column.
enum Target<'a> {
    Matrix(Dest<'a>),
    Frame(Vec<Dest<'a>>),
}

/// A malformed quote: its byte offset in the segment and what is wrong.
type Misquoted = (usize, String);

/// The cells of a record, one after another: `(start offset, text)`; quoted cells come back
/// without their quotes and with `""` as `"`.
struct Cells<'b> {
    bytes: &'b [u8],
    pos: usize,
    delim: u8,
    /// The record's end was reached.
    done: bool,
    unescaped: Vec<u8>,
}

impl<'b> Cells<'b> {
    fn new(bytes: &'b [u8], pos: usize, delim: u8) -> Cells<'b> {
        Cells { bytes, pos, delim, done: false, unescaped: Vec::new() }
    }

    /// The next cell of the record, or `None` after its last. Errors are malformed quotes.
    fn next_cell(&mut self) -> Result<Option<(usize, &[u8])>, Misquoted> {
        if self.done {
            return Ok(None);
        }
        let b = self.bytes;
        let start = self.pos;
        let (cell_start, cell_end, quoted);
        if b.get(start) == Some(&b'"') {
            // A quoted cell: to the quote that is not doubled.
            let mut i = start + 1;
            let mut escapes = false;
            loop {
                match b[i.min(b.len())..].iter().position(|&c| c == b'"') {
                    None => {
                        return Err((start, "a quoted cell is not closed (its closing quote is missing)".to_owned()));
                    }
                    Some(k) => {
                        i += k;
                        if b.get(i + 1) == Some(&b'"') {
                            escapes = true;
                            i += 2;
                        } else {
                            break;
                        }
                    }
                }
            }
            (cell_start, cell_end, quoted) = (start + 1, i, escapes);
            self.pos = i + 1;
            match b.get(self.pos) {
                None => self.done = true,
                Some(&c) if c == self.delim => self.pos += 1,
                Some(b'\n') => {
                    self.pos += 1;
                    self.done = true;
                }
                Some(b'\r') if b.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.done = true;
                }
                Some(_) => {
                    return Err((
                        self.pos,
                        "text after a quoted cell's closing quote (a quote inside a quoted cell must be doubled)"
                            .to_owned(),
                    ));
                }
            }
        } else {
            let rest = &b[start..];
            let k = rest.iter().position(|&c| c == self.delim || c == b'\n').unwrap_or(rest.len());
            let mut end = start + k;
            self.pos = end + 1;
            match b.get(end) {
                Some(&c) if c == self.delim => {}
                _ => self.done = true,
            }
            if self.done && end > start && b[end - 1] == b'\r' {
                end -= 1;
            }
            (cell_start, cell_end, quoted) = (start, end, false);
        }
        if quoted {
            self.unescaped.clear();
            let mut i = cell_start;
            while i < cell_end {
                self.unescaped.push(b[i]);
                i += if b[i] == b'"' { 2 } else { 1 };
            }
            return Ok(Some((start, &self.unescaped)));
        }
        Ok(Some((start, &b[cell_start..cell_end])))
    }

    /// The position after the record.
    fn end(&self) -> usize {
        self.pos.min(self.bytes.len())
    }
}

/// Pass 2 for one segment: its `rows` records into `target`.
fn parse_segment(
    bytes: &[u8],
    offset: u64,
    rows: usize,
    meta: &Meta,
    types: &[ValueType],
    target: &mut Target<'_>,
) -> Result<(), CellError> {
    let at = |pos: usize, message: String| CellError { offset: offset + pos as u64, message };
    let cols = meta.cols;
    let mut pos = 0;
    for r in 0..rows {
        let row_start = pos;
        let mut cells = Cells::new(bytes, pos, meta.delimiter);
        let mut j = 0;
        while let Some((start, text)) = cells.next_cell().map_err(|(p, m)| at(p, m))? {
            if j == cols {
                return Err(at(start, format!("the row has more than the {cols} cells {}", source(meta))));
            }
            let ok = match target {
                Target::Matrix(d) => d.set(r * cols + j, text),
                Target::Frame(ds) => ds[j].set(r, text),
            };
            if !ok {
                let label = match &meta.labels {
                    Some(ls) if !ls[j].is_empty() => format!(" (\"{}\")", ls[j]),
                    _ => String::new(),
                };
                return Err(at(
                    start,
                    format!("expected {} in cell {}{label}, found {}", expected(types[j]), j + 1, shown(text)),
                ));
            }
            j += 1;
        }
        if j < cols {
            return Err(at(
                row_start,
                format!("the row has {} but {} {cols}", daphne_ir::count(j, "cell", "cells"), source(meta)),
            ));
        }
        pos = cells.end();
    }
    Ok(())
}

/// Where a file's shape comes from, for messages.
fn source(meta: &Meta) -> &'static str {
    if meta.rows.is_some() { "its meta data says" } else { "its first row has" }
}

/// A cell's text in a message, shortened.
fn shown(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    let s: String = if s.chars().count() > 40 { s.chars().take(40).chain("...".chars()).collect() } else { s.into() };
    format!("`{s}`")
}

/// The 1-based line and column (in characters) of a byte offset.
fn locate(path: &Path, offset: u64) -> (u64, u64) {
    let Ok(mut file) = File::open(path) else { return (0, 0) };
    let mut prefix = vec![0u8; offset as usize];
    if fill(&mut file, &mut prefix).is_err() {
        return (0, 0);
    }
    let line = prefix.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = prefix.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&prefix[line_start..]).chars().count() as u64 + 1;
    (line, col)
}

/// Reads a CSV file (or a directory of CSV part files, see [`super::parts`]) described by
/// `meta` into a matrix or (if `frame`) a frame, parsing on up to `threads` threads.
pub fn read(path: &str, meta: &Meta, frame: bool, threads: usize) -> Result<Value, Error> {
    read_blocks(path, meta, frame, BLOCK, threads)
}

fn read_blocks(path: &str, meta: &Meta, frame: bool, block: usize, threads: usize) -> Result<Value, Error> {
    let parts = super::parts::list(path)?;
    let segments = split(&parts, meta.delimiter, meta.header, block)?;
    let rows: usize = segments.iter().map(|s| s.rows).sum();
    let columns = parse(path, &parts, &segments, rows, meta, frame, threads)?;
    // The count is checked against the meta data after the cells: a broken quote makes fewer
    // rows, and is the better message.
    if let Some(expected) = meta.rows
        && rows != expected
    {
        let header = match (meta.header, parts.len()) {
            (false, _) => "",
            (true, 1) => " after its header line",
            (true, _) => " after their header lines",
        };
        let what = if super::parts::is_dir(path) {
            format!("directory '{path}' (its {}) holds", daphne_ir::count(parts.len(), "part", "parts"))
        } else {
            format!("file '{path}' has")
        };
        let rows = daphne_ir::count(rows, "row", "rows");
        return Err(format!("{what} {rows}{header}, but its meta data says {expected}").into());
    }
    made(columns, meta, frame)
}

/// What a read parsed: a frame of its columns, or the matrix of a matrix read.
fn made(mut columns: Vec<Matrix>, meta: &Meta, frame: bool) -> Result<Value, Error> {
    if frame {
        Frame::new(columns, frame_labels(meta)).map(Value::Frame)
    } else {
        Ok(Value::Matrix(columns.pop().expect("one matrix")))
    }
}

/// Pass 2: parses `segments` (of `rows` records in all) of the part files `parts` on up to
/// `threads` threads into the result (a matrix, or a frame's columns), allocated once. An
/// error names the part file, line and column of the first bad cell.
fn parse(
    path: &str,
    parts: &[PathBuf],
    segments: &[Segment],
    rows: usize,
    meta: &Meta,
    frame: bool,
    threads: usize,
) -> Result<Vec<Matrix>, Error> {
    let cols = meta.cols;
    let types = meta.column_types();
    let what = format!("reading '{path}'");
    let mut columns = if frame {
        crate::memory::check_cells::<Matrix>(1, cols, &format!("the columns of '{path}'"))?;
        types.iter().map(|&vt| Matrix::zeroed(vt, rows, 1, &what)).collect::<Result<Vec<_>, _>>()?
    } else {
        vec![Matrix::zeroed(types.first().copied().unwrap_or(ValueType::F64), rows, cols, &what)?]
    };
    let seg_rows: Vec<usize> = segments.iter().map(|s| s.rows).collect();
    let mut targets: Vec<Target<'_>> = if frame {
        let mut per_column: Vec<std::vec::IntoIter<Dest<'_>>> =
            columns.iter_mut().map(|c| dests(c, &seg_rows).into_iter()).collect();
        (0..segments.len())
            .map(|_| Target::Frame(per_column.iter_mut().map(|it| it.next().expect("one piece per segment")).collect()))
            .collect()
    } else {
        let lens: Vec<usize> = seg_rows.iter().map(|r| r * cols).collect();
        dests(&mut columns[0], &lens).into_iter().map(Target::Matrix).collect()
    };
    let work: Mutex<Vec<(Segment, &mut Target<'_>)>> =
        Mutex::new(segments.iter().copied().zip(targets.iter_mut()).rev().collect());
    // The first error by place: (part, error).
    let first_error: Mutex<Option<(u32, CellError)>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, segments.len().max(1)) {
            scope.spawn(|| {
                let mut open: Option<(u32, File)> = None;
                let mut buf = Vec::new();
                loop {
                    let next = work.lock().unwrap_or_else(|p| p.into_inner()).pop();
                    let Some((seg, target)) = next else { break };
                    let failed = |message: String| CellError { offset: seg.offset, message };
                    if open.as_ref().is_none_or(|(p, _)| *p != seg.part) {
                        open = File::open(&parts[seg.part as usize]).ok().map(|f| (seg.part, f));
                    }
                    buf.resize(seg.len, 0);
                    let result = match open.as_mut() {
                        None => Err(failed("could not read the file".to_owned())),
                        Some((_, file)) => read_at(file, seg.offset, &mut buf)
                            .map_err(|e| failed(format!("could not read the file: {e}")))
                            .and_then(|()| parse_segment(&buf, seg.offset, seg.rows, meta, &types, target)),
                    };
                    if let Err(e) = result {
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        if first.as_ref().is_none_or(|(p, f)| (seg.part, e.offset) < (*p, f.offset)) {
                            *first = Some((seg.part, e));
                        }
                        // Later segments cannot hold an earlier error.
                        work.lock().unwrap_or_else(|p| p.into_inner()).clear();
                    }
                }
            });
        }
    });
    drop(targets);
    if let Some((part, e)) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let file = &parts[part as usize];
        let (line, col) = locate(file, e.offset);
        let hint = if line == 1 && !meta.header && e.message.starts_with("expected") {
            "; if the first line holds column labels, read it with header=true or add \"header\": true to the meta data"
        } else {
            ""
        };
        return Err(format!("{}:{line}:{col}: {}{hint}", file.display(), e.message).into());
    }
    Ok(columns)
}

/// The first record that begins at or after byte `a` of a part, and how many begin in bytes
/// `a..b` (part offsets): phase 1 of a read by byte ranges ([`super::ranges::scan_piece`]).
/// Without a quote in the bytes it reads, it counts line breaks at memory speed; with one,
/// the quote state at `a` is unknown, so it splits the part from its data start. `next_end`
/// is where the next piece's range ends in this part: if this piece ends inside a quoted cell
/// that holds a line break and runs quote-free past it, that piece would count wrongly
/// without knowing it, so this is an error (read such a file whole).
pub(super) fn records_in(
    part: &mut Part,
    delim: u8,
    a: u64,
    b: u64,
    next_end: u64,
) -> Result<(Option<u64>, u64), Error> {
    if !part.has_records() {
        return Ok((None, 0));
    }
    let (ds, ce) = (part.data_start, part.content_end);
    let (a, b) = (a.max(ds), b.min(ce));
    let path = part.path.clone();
    let err = unreadable(&path);
    // Record starts in [a, b): `ds` itself, and after each line break at [max(a - 1, ds), b - 1).
    let from = if a == ds { ds } else { a - 1 };
    let mut first = (a == ds).then_some(ds);
    let mut count = u64::from(a == ds && a < b);
    let mut buf = vec![0u8; BLOCK];
    let mut at = from;
    let mut quoted = false;
    while at < ce && (at + 1 < b || first.is_none()) {
        let n = ((ce - at) as usize).min(BLOCK);
        read_at(&mut part.file, at, &mut buf[..n]).map_err(&err)?;
        let bytes = &buf[..n];
        if bytes.contains(&b'"') {
            quoted = true;
            break;
        }
        // Line breaks at [at, b - 1) start records in the range.
        let counted = ((b.saturating_sub(1)).saturating_sub(at) as usize).min(n);
        count += count_breaks(&bytes[..counted]) as u64;
        if first.is_none()
            && let Some(i) = bytes.iter().position(|&c| c == b'\n')
            && at + (i as u64) + 1 < ce
        {
            first = Some(at + i as u64 + 1);
        }
        at += n as u64;
    }
    if !quoted {
        return Ok((first, count));
    }
    // The quote state at `a` is only known from the data start: split from there.
    let mut state = State::FieldStart;
    let mut first = (a == ds).then_some(ds);
    let mut count = u64::from(a == ds && a < b);
    let mut at = ds;
    // An empty range has no boundary to check.
    let mut state_at_b = (a >= b).then_some(State::FieldStart);
    while at < ce && (first.is_none() || state_at_b.is_none()) {
        let n = ((ce - at) as usize).min(BLOCK);
        read_at(&mut part.file, at, &mut buf[..n]).map_err(&err)?;
        // Feed up to `b` first, so the state at `b` is seen.
        let cut = if at < b { ((b - at) as usize).min(n) } else { n };
        for (lo, hi) in [(0, cut), (cut, n)] {
            run_splitter(&mut state, &buf[lo..hi], delim, |i| {
                let s = at + (lo + i) as u64 + 1;
                if s >= a && s < b {
                    count += 1;
                }
                if s >= a && s < ce && first.is_none() {
                    first = Some(s);
                }
                true
            });
            if lo == 0 && at + cut as u64 == b {
                state_at_b = Some(state);
            }
        }
        at += n as u64;
    }
    if state_at_b.is_some_and(State::in_quotes) {
        check_quoted_boundary(part, b, next_end.min(ce), ce)?;
    }
    Ok((first, count))
}

/// A piece ends at `b` inside a quoted cell: an error if the quote-free bytes from `b - 1` on
/// (to the next `"`, or the content end `ce`) hold a line break and reach `next_end`, the end
/// of the next piece, which then holds no quote and cannot know that its line breaks (or the
/// one after it, where it would place its first record) are inside a cell. When they reach no
/// further, the next piece holds the `"` and splits from its part's start.
fn check_quoted_boundary(part: &mut Part, b: u64, next_end: u64, ce: u64) -> Result<(), Error> {
    let path = part.path.clone();
    let err = unreadable(&path);
    let mut buf = vec![0u8; BLOCK];
    let (mut at, mut line_break) = (b.saturating_sub(1), false);
    while at < ce {
        let n = ((ce - at) as usize).min(BLOCK);
        read_at(&mut part.file, at, &mut buf[..n]).map_err(&err)?;
        let quote = buf[..n].iter().position(|&c| c == b'"');
        line_break |= buf[..quote.unwrap_or(n)].contains(&b'\n');
        if let Some(q) = quote {
            at += q as u64;
            break;
        }
        at += n as u64;
    }
    if line_break && at >= next_end {
        return Err(format!(
            "'{}': a quoted cell holds a line break and spans the byte {b} where a piece of the read ends, so the file cannot be read by byte ranges; read it whole",
            part.path.display()
        )
        .into());
    }
    Ok(())
}

/// Phase 2 of a read by row ranges ([`super::ranges::read_csv_rows`]): from `anchor`, the
/// start of a record in part `anchor.0` (at byte `anchor.1`), skips `skip` records and reads
/// the next `rows.len()` (crossing into the following parts as needed) into a matrix (a frame
/// when `meta` has labels), parsed
/// on up to `threads` threads as the whole read parses. `rows` are their indexes in the whole
/// read, for messages.
pub(super) fn read_records(
    path: &str,
    parts: &[PathBuf],
    meta: &Meta,
    anchor: (u32, u64),
    skip: usize,
    rows: std::ops::Range<usize>,
    threads: usize,
) -> Result<Value, Error> {
    let (take, first_row) = (rows.len(), rows.start);
    let mut segments = Vec::new();
    let (mut skip, mut left) = (skip, take);
    let mut index = anchor.0 as usize;
    while left > 0 && index < parts.len() {
        let mut part = Part::open(&parts[index], meta.delimiter, meta.header)?;
        let from = if index == anchor.0 as usize { anchor.1.max(part.data_start) } else { part.data_start };
        let (segs, skipped, taken) = split_part(&mut part, index as u32, from, meta.delimiter, BLOCK, skip, left)?;
        segments.extend(segs);
        skip -= skipped;
        left -= taken;
        index += 1;
    }
    if left > 0 {
        let found = take - left;
        return Err(format!(
            "'{path}' has no rows {}..{} (it ends {} rows after row {first_row}); it changed since its rows were counted, or the anchor is wrong",
            first_row + found,
            first_row + take,
            found
        )
        .into());
    }
    let frame = meta.labels.is_some();
    made(parse(path, parts, &segments, take, meta, frame, threads)?, meta, frame)
}

/// The kind of text a cell holds, for schema inference (ordered: each admits the ones before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Empty,
    Int,
    Float,
    Text,
}

fn kind(cell: &[u8]) -> Kind {
    if trim(cell).is_empty() {
        Kind::Empty
    } else if si64_cell(cell).is_some() {
        Kind::Int
    } else if f64_cell(cell).is_some() {
        Kind::Float
    } else {
        Kind::Text
    }
}

/// The first `SAMPLE_BYTES` of a file (at least its first record): the first record's
/// cells, the kind of every cell, and the first text cell after the first record (row, cell,
/// text), for messages. Only kinds are kept per cell, so a sample costs little memory.
struct Sample {
    first: Vec<Vec<u8>>,
    kinds: Vec<Vec<Kind>>,
    first_text: Option<(usize, usize, Vec<u8>)>,
}

fn sample(path: &str, delim: u8) -> Result<Sample, Error> {
    let mut file = File::open(path).map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
    let mut bytes = vec![0u8; SAMPLE_BYTES];
    let n = fill(&mut file, &mut bytes).map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
    bytes.truncate(n);
    let whole = n < SAMPLE_BYTES;
    let end = match scan_records(&bytes, delim, usize::MAX) {
        (_, Some(end)) if !whole => end,
        _ => bytes.len(),
    };
    let bytes = &bytes[..end];
    let mut sample = Sample { first: Vec::new(), kinds: Vec::new(), first_text: None };
    let mut pos = 0;
    while pos < bytes.len() {
        let row = sample.kinds.len();
        let mut cells = Cells::new(bytes, pos, delim);
        let mut kinds = Vec::new();
        let mut blank = true;
        while let Some((_, text)) = cells.next_cell().map_err(|(p, m)| {
            let (line, col) = locate(Path::new(path), p as u64);
            format!("{path}:{line}:{col}: {m}")
        })? {
            let k = kind(text);
            blank &= kinds.is_empty() && text.iter().all(|&b| b == b'\r');
            if row == 0 {
                sample.first.push(text.to_vec());
            } else if k == Kind::Text && sample.first_text.is_none() {
                sample.first_text = Some((row, kinds.len(), text.to_vec()));
            }
            kinds.push(k);
        }
        pos = cells.end();
        // A blank line is marked by no kinds: at the end of the file it is no record.
        sample.kinds.push(if blank { Vec::new() } else { kinds });
    }
    while sample.kinds.last().is_some_and(Vec::is_empty) {
        sample.kinds.pop();
    }
    for k in &mut sample.kinds {
        if k.is_empty() {
            k.push(Kind::Empty);
        }
    }
    Ok(sample)
}

/// The labels in a file's header line (for meta data that says there is one but leaves
/// labels empty).
pub fn header_labels(path: &str, delim: u8) -> Result<Vec<String>, Error> {
    let sample = sample(&first_part(path)?, delim)?;
    if sample.kinds.is_empty() {
        return Err(format!("file '{path}' is empty, but its meta data says it has a header line").into());
    }
    Ok(sample.first.iter().map(|c| String::from_utf8_lossy(c).trim().to_owned()).collect())
}

/// The schema of a CSV file without meta data, from its first rows (at most 1 MiB of them,
/// as pyarrow's reader infers from its first block): the delimiter (`,`, else `;` or tab when
/// every sampled row has the same number of them and no comma), whether the first row is a
/// header (every cell text while some column below it is all numbers), and per column `si64`
/// if every cell is an integer, `f64` if every cell is a number or empty, else `str`.
/// `readMatrix` takes `f64` for numbers, as NumPy's `loadtxt` does, unless `valueType`
/// says otherwise. The second result says what was inferred, with the `.meta` file that
/// would fix it.
pub fn infer(path: &str, opts: &ReadOptions, default_delim: u8) -> Result<(Meta, String), Error> {
    if !std::path::Path::new(path).exists() {
        return Err(format!(
            "could not open file '{path}.meta' for reading meta data, nor '{path}' to infer its schema (file not found)"
        )
        .into());
    }
    // A directory's schema is its first part's.
    let file = first_part(path)?;
    let delimiter = match opts.delimiter {
        Some(d) => d,
        None => sniff(&file, default_delim)?,
    };
    let Sample { first, kinds, first_text } = sample(&file, delimiter)?;
    if kinds.is_empty() {
        return Err(format!("file '{path}' is empty, so its schema cannot be inferred; give it a .meta file").into());
    }
    let cols = first.len();
    if let Some((i, r)) = kinds.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(format!(
            "file '{path}': row {} has {} but the first row has {cols}, so its schema cannot be inferred",
            i + 1,
            daphne_ir::count(r.len(), "cell", "cells")
        )
        .into());
    }
    let column_kind = |rows: &[Vec<Kind>], j: usize| rows.iter().map(|r| r[j]).max().unwrap_or(Kind::Empty);
    let header = match opts.header {
        Some(h) => h,
        None => {
            kinds.len() > 1
                && kinds[0].iter().all(|&k| k == Kind::Text)
                && (0..cols).any(|j| column_kind(&kinds[1..], j) <= Kind::Float)
        }
    };
    let body = if header { &kinds[1..] } else { &kinds[..] };
    let column_types: Vec<ValueType> = (0..cols)
        .map(|j| match opts.value_type {
            Some(vt) => vt,
            None if !opts.frame => ValueType::F64,
            None => match column_kind(body, j) {
                Kind::Int => ValueType::Si64,
                Kind::Empty | Kind::Float => ValueType::F64,
                Kind::Text => ValueType::Str,
            },
        })
        .collect();
    // The first text cell of the rows that must be numbers.
    let text_cell = match (header, first.iter().position(|c| kind(c) == Kind::Text)) {
        (false, Some(j)) => Some((0, j, first[j].clone())),
        _ => first_text,
    };
    if !opts.frame
        && column_types[0] != ValueType::Str
        && let Some((i, j, cell)) = text_cell
    {
        let row = i + 1;
        return Err(format!(
            "file '{path}', row {row}, cell {}: {} is not a number, and readMatrix reads numbers; use readFrame for a file with text columns",
            j + 1,
            shown(&cell)
        ).into());
    }
    let labels = opts.frame.then(|| {
        if header {
            first.iter().map(|c| String::from_utf8_lossy(c).trim().to_owned()).collect()
        } else {
            (0..cols).map(|i| format!("col_{i}")).collect::<Vec<_>>()
        }
    });
    let schema = if opts.frame { column_types } else { vec![column_types[0]] };
    let meta = Meta { rows: None, cols, schema, labels, header, delimiter };
    let columns = match &meta.labels {
        Some(ls) => {
            ls.iter().zip(&meta.schema).map(|(l, vt)| format!("{l}:{}", vt_name(*vt))).collect::<Vec<_>>().join(", ")
        }
        None => format!("{cols} columns of {}", vt_name(meta.schema[0])),
    };
    let sep = if delimiter == b'\t' { "\\t".to_owned() } else { (delimiter as char).to_string() };
    let note = format!(
        "'{path}' has no meta data file; inferred from its first rows: {}, separator '{sep}', [{columns}]. \
         To fix the schema, write {path}.meta, e.g. {}",
        if header { "a header line" } else { "no header line" },
        meta_json(&Meta { rows: Some(0), ..meta.clone() }).replace("\"numRows\":0", "\"numRows\":<rows>"),
    );
    Ok((meta, note))
}

/// The file a read's schema is inferred from: the file, or a directory's first part.
fn first_part(path: &str) -> Result<String, Error> {
    let parts = super::parts::list(path)?;
    Ok(parts[0].to_string_lossy().into_owned())
}

/// The delimiter of a file whose script names none: `default` unless the first rows have
/// none of it but the same number of semicolons (or tabs) on every line.
fn sniff(path: &str, default: u8) -> Result<u8, Error> {
    let mut file = File::open(path).map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
    let mut bytes = vec![0u8; 64 << 10];
    let n = fill(&mut file, &mut bytes).map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
    let text = &bytes[..n];
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).take(20).collect();
    if lines.is_empty() || text.contains(&default) {
        return Ok(default);
    }
    for candidate in [b';', b'\t', b'|'] {
        let count = |l: &&[u8]| l.iter().filter(|&&b| b == candidate).count();
        let n = count(&lines[0]);
        if n > 0 && lines.iter().all(|l| count(l) == n) {
            return Ok(candidate);
        }
    }
    Ok(default)
}

/// Appends a cell's text as written to a CSV file.
fn write_str(t: &str, delim: u8, out: &mut Vec<u8>) {
    // Empty cells are quoted so that a one-column frame's empty string is not a blank line.
    if t.is_empty() || t.bytes().any(|b| b == delim || b == b'"' || b == b'\n' || b == b'\r') {
        out.push(b'"');
        for b in t.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(t.as_bytes());
    }
}

/// A float cell: the shortest text that reads back to the same value, or DAPHNE's `%f`.
fn write_float<F: CppDisplay + std::fmt::Debug + Copy>(x: F, is_nan: bool, floats: FloatFormat, out: &mut Vec<u8>) {
    match floats {
        FloatFormat::Fixed => out.extend_from_slice(x.cpp_to_string().as_bytes()),
        FloatFormat::Shortest if is_nan => out.extend_from_slice(b"nan"),
        FloatFormat::Shortest => {
            let _ = write!(out, "{x:?}");
        }
    }
}

/// Appends cell `i` of a matrix.
fn write_cell(m: &Matrix, i: usize, floats: FloatFormat, delim: u8, out: &mut Vec<u8>) {
    match m {
        Matrix::F64(x) => write_float(x.cells()[i], x.cells()[i].is_nan(), floats, out),
        Matrix::F32(x) => write_float(x.cells()[i], x.cells()[i].is_nan(), floats, out),
        Matrix::Str(x) => write_str(&x.cells()[i], delim, out),
        Matrix::Bool(x) => out.push(if x.cells()[i] { b'1' } else { b'0' }),
        other => crate::with_matrix!(other, x => { let _ = write!(out, "{}", x.cells()[i]); }, _s => {}),
    }
}

/// Writes a matrix or frame as CSV; returns its meta data.
pub fn write(v: &Value, path: &str, floats: FloatFormat, delim: u8) -> Result<Meta, Error> {
    let file = File::create(path).map_err(|e| Error::from(format!("could not write file '{path}': {e}")))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let err = |e: std::io::Error| format!("could not write file '{path}': {e}");
    let meta = match v {
        Value::Matrix(m) => {
            // A view's cells start at its offset: rows are read through `row_range`.
            let (rows, cols) = (m.rows(), m.cols());
            for r in 0..rows {
                let row = m.row_range(r, r + 1);
                line.clear();
                for j in 0..cols {
                    if j > 0 {
                        line.push(delim);
                    }
                    write_cell(&row, j, floats, delim, &mut line);
                }
                line.push(b'\n');
                w.write_all(&line).map_err(err)?;
            }
            Meta { rows: Some(rows), cols, schema: vec![m.value_type()], labels: None, header: false, delimiter: delim }
        }
        Value::Frame(f) => {
            let columns: Vec<Matrix> = f.columns().iter().map(|c| c.row_range(0, c.rows())).collect();
            for r in 0..f.rows() {
                line.clear();
                for (j, c) in columns.iter().enumerate() {
                    if j > 0 {
                        line.push(delim);
                    }
                    write_cell(c, r, floats, delim, &mut line);
                }
                line.push(b'\n');
                w.write_all(&line).map_err(err)?;
            }
            Meta {
                rows: Some(f.rows()),
                cols: f.cols(),
                schema: f.schema(),
                labels: Some(f.labels().iter().map(|l| l.to_string()).collect()),
                header: false,
                delimiter: delim,
            }
        }
        _ => return Err("only matrices and frames can be written to files".into()),
    };
    w.flush().map_err(err)?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::DenseMatrix;

    fn tmp(name: &str, text: &[u8]) -> String {
        let p = crate::io::test_path("csv", name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn meta(rows: usize, cols: usize, vt: ValueType) -> Meta {
        Meta { rows: Some(rows), cols, schema: vec![vt], labels: None, header: false, delimiter: b',' }
    }

    #[test]
    fn segments_cover_every_record_whatever_the_block_size() {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!("{i},\"a\nb,{i}\"\r\n"));
        }
        text.push_str("\n\n");
        let p = tmp("seg.csv", text.as_bytes());
        for block in [1, 3, 7, 64, 1 << 20] {
            let segs = split(&[PathBuf::from(&p)], b',', false, block).unwrap();
            assert_eq!(segs.iter().map(|s| s.rows).sum::<usize>(), 200, "block {block}");
            let m = Meta {
                rows: Some(200),
                cols: 2,
                schema: vec![ValueType::Si64, ValueType::Str],
                labels: Some(vec!["a".into(), "b".into()]),
                header: false,
                delimiter: b',',
            };
            let Value::Frame(f) = read_blocks(&p, &m, true, block, 2).unwrap() else { panic!() };
            assert_eq!(f.columns()[1].cell(199, 0), crate::value::Scalar::Str(Arc::from("a\nb,199")));
        }
    }

    #[test]
    fn blank_lines_at_the_end_are_no_rows() {
        for (i, (text, rows)) in
            [(&b"1\n\r"[..], 1), (b"1\r\n\r\n\n", 1), (b"\n\n", 0), (b"1\n\n2", 3), (b"1\r", 1), (b"", 0)]
                .iter()
                .enumerate()
        {
            let p = tmp(&format!("blank{i}.csv"), text);
            let Value::Matrix(m) = read(&p, &meta(*rows, 1, ValueType::F64), false, 2).unwrap() else { panic!() };
            assert_eq!(m.rows(), *rows, "{text:?}");
        }
    }

    #[test]
    fn bad_cells_are_errors_with_their_place() {
        let cases: &[(&[u8], ValueType, &str)] = &[
            (b"1,2\n3,x\n", ValueType::F64, ":2:3: expected f64"),
            (b"1,2\n3,5.5\n", ValueType::Si64, ":2:3: expected si64"),
            (b"1,2\n3,300\n", ValueType::Ui8, ":2:3: expected ui8"),
            (b"1,2\n3,99999999999999999999\n", ValueType::Si64, ":2:3: expected si64"),
            (b"1,2\n3,4,5\n", ValueType::F64, ":2:5: the row has more than the 2 cells"),
            (b"1,2\n3\n", ValueType::F64, ":2:1: the row has 1 cell but"),
            (b"1,\"2\n3,4\n", ValueType::F64, ":1:3: a quoted cell is not closed"),
        ];
        for (i, (text, vt, want)) in cases.iter().enumerate() {
            let p = tmp(&format!("bad{i}.csv"), text);
            let e = read(&p, &meta(2, 2, *vt), false, 2).unwrap_err().to_string();
            assert!(e.contains(want), "{e} does not contain {want}");
        }
        let p = tmp("rows.csv", b"1,2\n3,4\n5,6\n");
        assert!(read(&p, &meta(2, 2, ValueType::F64), false, 2).unwrap_err().to_string().contains("has 3 rows"));
    }

    #[test]
    fn the_fast_path_gives_the_bits_parse_gives() {
        let mut state = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let digits = 1 + (next() % 19) as usize;
            let mantissa = next() % 10u64.pow(digits as u32);
            let text = format!("{mantissa:0digits$}");
            let point = (next() % (digits as u64 + 1)) as usize;
            let sign = if next() % 2 == 0 { "-" } else { "" };
            let cell = format!("{sign}{}.{}", &text[..point], &text[point..]);
            let want: f64 = cell.parse().unwrap();
            assert_eq!(f64_cell(cell.as_bytes()).map(f64::to_bits), Some(want.to_bits()), "{cell}");
        }
        for cell in ["1e5", "0x10", ".", "-", "1.2.3", "9007199254740993", "12345678901234567890"] {
            assert_eq!(
                f64_cell(cell.as_bytes()).map(f64::to_bits),
                cell.parse::<f64>().ok().map(f64::to_bits),
                "{cell}"
            );
        }
    }

    #[test]
    fn integers_read_as_parse_reads_them() {
        let cells = [
            "0",
            "-0",
            "+7",
            "-9223372036854775808",
            "9223372036854775807",
            "9223372036854775808",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "",
            "-",
            "+",
            "1.0",
            "1e3",
            " 42 ",
            "0x1",
            "--1",
            "007",
        ];
        for cell in cells {
            assert_eq!(si64_cell(cell.as_bytes()), cell.trim().parse::<i64>().ok(), "{cell:?}");
        }
    }

    #[test]
    fn shortest_floats_read_back_to_the_same_bits() {
        let xs = [1e-10, 0.1, 1.0 / 3.0, -0.0, f64::MAX, f64::MIN_POSITIVE, 5e-324, f64::INFINITY, f64::NAN];
        let m = Matrix::F64(DenseMatrix::from_vec(1, xs.len(), xs.to_vec()));
        let p = tmp("floats.csv", b"");
        write(&Value::Matrix(m), &p, FloatFormat::Shortest, b',').unwrap();
        let Value::Matrix(Matrix::F64(back)) = read(&p, &meta(1, xs.len(), ValueType::F64), false, 2).unwrap() else {
            panic!()
        };
        for (a, b) in xs.iter().zip(back.cells()) {
            assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{a} read back as {b}");
        }
    }
}

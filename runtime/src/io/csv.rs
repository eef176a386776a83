//! CSV files: a parallel reader that parses straight into the result, a writer whose text
//! reads back to the same values, and the schema inference for files without meta data.
//!
//! Records are separated by line breaks (`\n` or `\r\n`) outside quotes; a cell that starts
//! with a double quote runs to the closing quote, may hold delimiters and line breaks, and
//! writes a quote as `""` (RFC 4180). Blank lines at the end of a file are not rows.
//!
//! Reading is two passes over the file, neither of which holds it whole:
//! 1. [`split`] reads it in blocks and cuts it into segments of whole records, counting each
//!    segment's records (a block without quotes is counted at memory speed), so every segment
//!    knows the row where it starts;
//! 2. threads parse the segments, each into its own rows of the result, which is allocated once
//!    at its final size. Peak memory is the result plus one block per thread.
//!
//! A cell is converted exactly or not at all: an integer must be a decimal integer within its
//! type's range, a float a decimal or scientific number, `nan` or `inf` (an empty float cell
//! is NaN, a missing value); anything else is an error `file:line:column` naming the expected
//! type, as are rows with too many or too few cells and files with more or fewer rows than
//! their meta data says.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write as _};
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

/// A run of whole records.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
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

/// Counts the records that end in `bytes` (which starts at a record boundary) and returns
/// the count and the end of the last of them (just after its line break).
fn count_records(bytes: &[u8], delim: u8) -> (usize, Option<usize>) {
    scan_records(bytes, delim, false)
}

/// The end of the first record in `bytes` (just after its line break), if it ends there.
fn first_record_end(bytes: &[u8], delim: u8) -> Option<usize> {
    scan_records(bytes, delim, true).1
}

fn scan_records(bytes: &[u8], delim: u8, first_only: bool) -> (usize, Option<usize>) {
    if first_only && !bytes.contains(&b'"') {
        return (1, bytes.iter().position(|&b| b == b'\n').map(|i| i + 1));
    }
    if !bytes.contains(&b'"') {
        let n = bytes.iter().filter(|&&b| b == b'\n').count();
        return (n, bytes.iter().rposition(|&b| b == b'\n').map(|i| i + 1));
    }
    let (mut n, mut last) = (0, None);
    let mut state = State::FieldStart;
    for (i, &b) in bytes.iter().enumerate() {
        state = match (state, b) {
            (State::FieldStart, b'"') => State::Quoted,
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b'\n') => {
                n += 1;
                last = Some(i + 1);
                if first_only {
                    break;
                }
                State::FieldStart
            }
            (_, b) if b == delim => State::FieldStart,
            _ => State::Unquoted,
        };
    }
    (n, last)
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

/// Pass 1: the file's records cut into segments, after the header record if `header`
/// (whose bytes are returned). Blank lines at the end of the file are left out.
fn split(path: &str, delim: u8, header: bool, block: usize) -> Result<(Vec<Segment>, Option<Vec<u8>>), Error> {
    let mut file = File::open(path).map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
    let err = |e: std::io::Error| format!("could not read file '{path}': {e}");
    let mut segments = Vec::new();
    let mut head = None;
    // `buf[..have]` holds the file's bytes from `start`, beginning at a record boundary.
    let mut buf = vec![0u8; block];
    let (mut start, mut have) = (0u64, 0usize);
    let mut eof = false;
    while !eof || have > 0 {
        if !eof {
            if have == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            let n = fill(&mut file, &mut buf[have..]).map_err(err)?;
            eof = n < buf.len() - have;
            have += n;
        }
        let (mut rows, last) = count_records(&buf[..have], delim);
        let end = match last {
            Some(end) if !eof => end,
            // The last record may lack its line break.
            _ if eof => {
                if last != Some(have) && have > 0 {
                    rows += 1;
                }
                have
            }
            _ => continue, // a record longer than the buffer: read more
        };
        let mut seg_start = 0;
        if header && head.is_none() {
            let first = first_record_end(&buf[..end], delim).unwrap_or(end);
            let mut h = buf[..first].to_vec();
            while matches!(h.last(), Some(b'\n' | b'\r')) {
                h.pop();
            }
            head = Some(h);
            rows = rows.saturating_sub(1);
            seg_start = first;
        }
        if end > seg_start {
            segments.push(Segment { offset: start + seg_start as u64, len: end - seg_start, rows });
        }
        buf.copy_within(end..have, 0);
        start += end as u64;
        have -= end;
    }
    drop_trailing_blank_lines(path, &mut segments)?;
    Ok((segments, head))
}

/// Blank lines at the end of a file are no rows: they are dropped from the last segments.
fn drop_trailing_blank_lines(path: &str, segments: &mut Vec<Segment>) -> Result<(), Error> {
    let mut file = File::open(path).map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
    while let Some(last) = segments.last_mut() {
        let mut bytes = vec![0u8; last.len];
        read_at(&mut file, last.offset, &mut bytes)
            .map_err(|e| Error::from(format!("could not read file '{path}': {e}")))?;
        let blank_tail = bytes.iter().rev().take_while(|&&b| b == b'\n' || b == b'\r').count();
        let breaks = bytes[bytes.len() - blank_tail..].iter().filter(|&&b| b == b'\n').count();
        if blank_tail == bytes.len() {
            // Only blank lines (or a lone `\r`): no rows at all.
            segments.pop();
            continue;
        }
        // The first break ends the last record with content; the others end blank lines.
        let tail_start = bytes.len() - blank_tail;
        last.rows -= breaks.saturating_sub(1);
        last.len = match bytes[tail_start..].iter().position(|&b| b == b'\n') {
            Some(k) => tail_start + k + 1,
            None => tail_start,
        };
        break;
    }
    Ok(())
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
fn locate(path: &str, offset: u64) -> (u64, u64) {
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

/// Reads a CSV file described by `meta` into a matrix or (if `frame`) a frame, parsing on up
/// to `threads` threads.
pub fn read(path: &str, meta: &Meta, frame: bool, threads: usize) -> Result<Value, Error> {
    read_blocks(path, meta, frame, BLOCK, threads)
}

fn read_blocks(path: &str, meta: &Meta, frame: bool, block: usize, threads: usize) -> Result<Value, Error> {
    let (segments, _) = split(path, meta.delimiter, meta.header, block)?;
    let rows: usize = segments.iter().map(|s| s.rows).sum();
    // The count is checked against the meta data after the cells: a broken quote makes fewer
    // rows, and is the better message.
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
    let first_error: Mutex<Option<CellError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, segments.len().max(1)) {
            scope.spawn(|| {
                let mut file = match File::open(path) {
                    Ok(f) => f,
                    Err(e) => {
                        *first_error.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(CellError { offset: 0, message: format!("could not read the file: {e}") });
                        return;
                    }
                };
                let mut buf = Vec::new();
                loop {
                    let next = work.lock().unwrap_or_else(|p| p.into_inner()).pop();
                    let Some((seg, target)) = next else { break };
                    buf.resize(seg.len, 0);
                    let result = read_at(&mut file, seg.offset, &mut buf)
                        .map_err(|e| CellError { offset: seg.offset, message: format!("could not read the file: {e}") })
                        .and_then(|()| parse_segment(&buf, seg.offset, seg.rows, meta, &types, target));
                    if let Err(e) = result {
                        let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        if first.as_ref().is_none_or(|f| e.offset < f.offset) {
                            *first = Some(e);
                        }
                        // Later segments cannot hold an earlier error.
                        work.lock().unwrap_or_else(|p| p.into_inner()).clear();
                    }
                }
            });
        }
    });
    drop(targets);
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let (line, col) = locate(path, e.offset);
        let hint = if line == 1 && !meta.header && e.message.starts_with("expected") {
            "; if the first line holds column labels, read it with header=true or add \"header\": true to the meta data"
        } else {
            ""
        };
        return Err(format!("{path}:{line}:{col}: {}{hint}", e.message).into());
    }
    if let Some(expected) = meta.rows
        && rows != expected
    {
        let header = if meta.header { " after its header line" } else { "" };
        let rows = daphne_ir::count(rows, "row", "rows");
        return Err(format!("file '{path}' has {rows}{header}, but its meta data says {expected}").into());
    }
    if frame {
        let labels = frame_labels(meta);
        Frame::new(columns, labels).map(Value::Frame)
    } else {
        Ok(Value::Matrix(columns.pop().expect("one matrix")))
    }
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
    let end = match count_records(&bytes, delim) {
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
            let (line, col) = locate(path, p as u64);
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
    let sample = sample(path, delim)?;
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
    let delimiter = match opts.delimiter {
        Some(d) => d,
        None => sniff(path, default_delim)?,
    };
    let Sample { first, kinds, first_text } = sample(path, delimiter)?;
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
            let (segs, _) = split(&p, b',', false, block).unwrap();
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

//! Reading a matrix file by row ranges, so that each worker of a distributed run reads only its
//! own rows of a file every worker sees (a shared file system), bit for bit the rows the whole
//! read ([`super::read`]) gives. Pure functions of the files: no networking, no state.
//!
//! A read covers [`parts`]: the file, or the part files of a directory (`X.csv/part-*.csv`, as
//! Spark and Dask write data; see [`super::parts`] for which files, their order and the one
//! `X.csv.meta` beside the directory).
//!
//! **CSV** is read in two phases, since where its rows begin is only known by reading it:
//!
//! 1. [`scan_piece`] on each of `pieces` workers: the bytes of all parts, taken as one stream,
//!    are cut into `pieces` even byte ranges. A record belongs to the range it *starts* in;
//!    records start at each part's data start (its first byte, or the byte after its header
//!    line when `header`) and after every line break outside quotes, up to the part's content
//!    end (blank lines at the end of a part are no rows, as in the whole read). A piece returns
//!    where its first record begins and how many records start in it.
//! 2. The caller sums the counts in piece order: piece `k`'s first record is record number
//!    `sum of counts before k` (its anchor), and the total must be the meta data's rows. Each
//!    worker then reads its rows with [`read_csv_rows`] from the nearest anchor at or before
//!    them: records are skipped from the anchor (at memory speed without quotes) and the rows
//!    parsed by the whole read's parser on up to `threads` threads; an error names the part
//!    file, line and column as the whole read does.
//!
//! Quotes: a byte range may start inside a quoted cell, and only the bytes before it tell. A
//! piece whose bytes hold no `"` counts line breaks at memory speed; one whose bytes hold a `"`
//! splits its part with the quote-aware splitter from the part's data start (correct, but that
//! worker reads its part from the start). The one case no piece can see alone, a quoted cell
//! holding a line break that runs quote-free over the whole of the next piece, is found by the
//! piece where the cell is open at its end: its `scan_piece` fails with "cannot be read by byte
//! ranges; read it whole", and the caller reads the file whole instead (any piece's failure
//! voids the others' results). A numeric matrix rarely holds a quote at all.
//!
//! **Parquet and `.dbdf`** carry their row counts: [`count_rows`] sums them from the footers
//! and headers (no data read), and [`read_rows`] reads a range, from a Parquet file only the
//! row groups that hold some of its rows (rows before the range in the first are skipped),
//! from a `.dbdf` file only the range's bytes (dense) or its row offsets, column indices and
//! values (CSR).
//!
//! Only matrices are read by row ranges (`readMatrix`): the meta data of a frame is an error
//! "frames are not read by row ranges" (read them whole).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Mutex;

use super::csv::{self, Part};
use super::meta::{Format, Meta, format_of};
use crate::error::Error;
use crate::matrix::Matrix;
use crate::value::Value;

/// A position in the bytes of a read: a part file (an index into [`parts`]) and a byte offset
/// in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub part: u32,
    pub offset: u64,
}

/// The files a read of `path` covers: the file itself, or the part files of the directory
/// `path` in order ([`super::parts`]).
pub fn parts(path: &str) -> Result<Vec<PathBuf>, Error> {
    super::parts::list(path)
}

/// CSV phase 1 on piece `piece` of `pieces` (see the module's documentation): where the first
/// record that starts in the piece's byte range begins, and how many start in it. With none,
/// the position is where the next record after the range begins, or the end of the last part
/// when no record follows; either way record number `sum of the counts before piece` begins
/// there, so every piece's position is an anchor for [`read_csv_rows`].
pub fn scan_piece(path: &str, header: bool, delim: u8, piece: usize, pieces: usize) -> Result<(Pos, u64), Error> {
    if piece >= pieces {
        return Err(Error::Internal(format!("scan_piece: piece {piece} of {pieces}")));
    }
    let files = parts(path)?;
    let sizes = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()))
        .collect::<Result<Vec<u64>, _>>()
        .map_err(|e| Error::from(format!("could not read '{path}': {e}")))?;
    let total: u64 = sizes.iter().sum();
    let bound = |k: usize| (u128::from(total) * k as u128 / pieces as u128) as u64;
    let (lo, hi, next_hi) = (bound(piece), bound(piece + 1), bound((piece + 2).min(pieces)));
    let (mut first, mut count, mut start) = (None, 0, 0u64);
    for (i, (file, &size)) in files.iter().zip(&sizes).enumerate() {
        let end = start + size;
        let part_start = start;
        start = end;
        if end <= lo {
            continue;
        }
        if part_start >= hi && first.is_some() {
            break;
        }
        // The piece's range and the next piece's end in part offsets (empty past the range: the
        // first record after it is looked for).
        let a = lo.saturating_sub(part_start);
        let b = hi.saturating_sub(part_start).min(size);
        let next_end = next_hi.saturating_sub(part_start).min(size);
        let mut part = Part::open(file, delim, header)?;
        let (at, n) = csv::records_in(&mut part, delim, a, b, next_end)?;
        count += n;
        if first.is_none()
            && let Some(offset) = at
        {
            first = Some(Pos { part: i as u32, offset });
        }
    }
    let end = Pos { part: (files.len() - 1) as u32, offset: sizes.last().copied().unwrap_or(0) };
    Ok((first.unwrap_or(end), count))
}

/// The error of a ranged read of a frame.
fn no_frames(path: &str) -> Error {
    format!("'{path}' is read as a frame, and frames are not read by row ranges; read it whole").into()
}

/// CSV phase 2: rows `rows` (record indexes of the whole read) of the matrix `meta` describes
/// (value type, columns, header, delimiter), given an anchor: record `anchor_row` begins at
/// `anchor` (a position [`scan_piece`] returned). Records are skipped from the anchor, then
/// `rows.len()` parsed on up to `threads` threads. A bad cell is an error
/// `part-file:line:column: message`, as the whole read gives it; too few records after the
/// anchor is an error too.
pub fn read_csv_rows(
    path: &str,
    meta: &Meta,
    anchor: Pos,
    anchor_row: u64,
    rows: Range<usize>,
    threads: usize,
) -> Result<Value, Error> {
    if meta.labels.is_some() {
        return Err(no_frames(path));
    }
    let anchor_row = usize::try_from(anchor_row).unwrap_or(usize::MAX);
    if rows.start < anchor_row {
        return Err(Error::Internal(format!(
            "read_csv_rows('{path}'): rows {}..{} begin before the anchor's row {anchor_row}",
            rows.start, rows.end
        )));
    }
    let files = parts(path)?;
    if anchor.part as usize >= files.len() {
        return Err(format!("'{path}' has {} part files, so no part {}; it changed", files.len(), anchor.part).into());
    }
    if rows.is_empty() {
        let vt = meta.schema.first().copied().unwrap_or(daphne_ir::ValueType::F64);
        return Ok(Value::Matrix(Matrix::zeroed(vt, 0, meta.cols, "an empty read")?));
    }
    let skip = rows.start - anchor_row;
    csv::read_records(path, &files, meta, (anchor.part, anchor.offset), skip, rows.len(), rows.start, threads)
        .map(Value::Matrix)
}

/// Which self-describing format `path` is, or an error for the others.
fn binary_format(path: &str, what: &str) -> Result<Format, Error> {
    match format_of(path, false)? {
        f @ (Format::Parquet | Format::Daphne) => Ok(f),
        _ => Err(Error::Internal(format!(
            "{what}('{path}'): only Parquet and .dbdf files carry their row counts; CSV files are read with scan_piece and read_csv_rows"
        ))),
    }
}

/// The rows of one Parquet or `.dbdf` file, from its footer or header.
fn rows_of(file: &str, format: Format) -> Result<usize, Error> {
    match format {
        #[cfg(feature = "parquet")]
        Format::Parquet => super::parquet::count_rows(file),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(super::meta::no_parquet(file)),
        _ => super::dbdf::count_rows(file),
    }
}

/// Rows `lo..hi` of one Parquet or `.dbdf` file.
fn rows_in(file: &str, format: Format, meta: &Meta, lo: usize, hi: usize) -> Result<Matrix, Error> {
    match format {
        #[cfg(feature = "parquet")]
        Format::Parquet => super::parquet::read_matrix_rows(file, meta, lo, hi),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(super::meta::no_parquet(file)),
        _ => super::dbdf::read_matrix_rows(file, meta, lo, hi),
    }
}

/// The number of rows of a Parquet or `.dbdf` file, or of a directory of their parts (the sum
/// of the parts'), from their metadata alone.
pub fn count_rows(path: &str) -> Result<usize, Error> {
    let format = binary_format(path, "count_rows")?;
    let mut total = 0usize;
    for file in parts(path)? {
        total = total.saturating_add(rows_of(&file.to_string_lossy(), format)?);
    }
    Ok(total)
}

/// Rows `rows` of a Parquet or `.dbdf` matrix file, or of a directory of their parts (the rows
/// of each part in order, each part's count from its own metadata), as the matrix `meta`
/// describes (every part must hold its value type and columns). Parts are read on up to
/// `threads` threads.
pub fn read_rows(path: &str, meta: &Meta, rows: Range<usize>, threads: usize) -> Result<Value, Error> {
    let format = binary_format(path, "read_rows")?;
    if meta.labels.is_some() {
        return Err(no_frames(path));
    }
    let files = parts(path)?;
    // Each part's share of the rows: (file, lo, hi) in the part's own rows.
    let mut shares = Vec::new();
    let mut start = 0usize;
    for file in &files {
        let file = file.to_string_lossy().into_owned();
        let n = if files.len() == 1 { usize::MAX } else { rows_of(&file, format)? };
        let end = start.saturating_add(n);
        let (lo, hi) = (rows.start.max(start), rows.end.min(end));
        if lo < hi {
            shares.push((file, lo - start, hi - start));
        }
        start = end;
        if start >= rows.end {
            break;
        }
    }
    if rows.end > start || rows.start > rows.end {
        return Err(format!("'{path}' has {start} rows, so no rows {}..{}", rows.start, rows.end).into());
    }
    if shares.is_empty() {
        let vt = meta.schema.first().copied().unwrap_or(daphne_ir::ValueType::F64);
        return Ok(Value::Matrix(Matrix::zeroed(vt, 0, meta.cols, "an empty read")?));
    }
    let results: Vec<Mutex<Option<Result<Matrix, Error>>>> = shares.iter().map(|_| Mutex::new(None)).collect();
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, shares.len()) {
            scope.spawn(|| {
                loop {
                    let k = {
                        let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                        *n += 1;
                        *n - 1
                    };
                    let Some((file, lo, hi)) = shares.get(k) else { break };
                    let m = rows_in(file, format, meta, *lo, *hi);
                    *results[k].lock().unwrap_or_else(|p| p.into_inner()) = Some(m);
                }
            });
        }
    });
    let mut pieces = Vec::with_capacity(results.len());
    for r in results {
        let r = r.into_inner().unwrap_or_else(|p| p.into_inner());
        pieces.push(r.unwrap_or_else(|| Err(Error::Internal("read_rows: a part was not read".into())))?);
    }
    if pieces.len() == 1 {
        return Ok(Value::Matrix(pieces.pop().expect("one piece")));
    }
    Matrix::concat(&pieces, true)
        .map(Value::Matrix)
        .ok_or_else(|| format!("the parts of '{path}' do not have one value type and number of columns").into())
}

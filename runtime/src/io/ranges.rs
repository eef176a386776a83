//! Reading a matrix or frame file by row ranges, so that each worker of a distributed run reads only its
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
//! Matrices (`readMatrix`) and frames (`readFrame`: meta data with labels) are read by row
//! ranges alike, but for frames in DAPHNE's binary format (read them whole).

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

/// The error of a ranged read of a `.dbdf` frame.
fn no_frames(path: &str) -> Error {
    format!("'{path}' is read as a frame from DAPHNE's binary format, which is not read by row ranges; read it whole")
        .into()
}

/// An empty read: a matrix, or (with labels) a frame, of no rows of `meta`'s schema.
fn empty(meta: &Meta) -> Result<Value, Error> {
    if meta.labels.is_none() {
        let vt = meta.schema.first().copied().unwrap_or(daphne_ir::ValueType::F64);
        return Ok(Value::Matrix(Matrix::zeroed(vt, 0, meta.cols, "an empty read")?));
    }
    let columns = meta
        .column_types()
        .into_iter()
        .map(|vt| Matrix::zeroed(vt, 0, 1, "an empty read"))
        .collect::<Result<_, _>>()?;
    crate::frame::Frame::new(columns, super::meta::frame_labels(meta)).map(Value::Frame)
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
        return empty(meta);
    }
    let skip = rows.start - anchor_row;
    csv::read_records(path, &files, meta, (anchor.part, anchor.offset), skip, rows, threads)
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

/// Rows `lo..hi` of one Parquet or `.dbdf` file (a matrix, or a Parquet file's frame).
fn rows_in(file: &str, format: Format, meta: &Meta, lo: usize, hi: usize) -> Result<Value, Error> {
    match format {
        #[cfg(feature = "parquet")]
        Format::Parquet => super::parquet::read_rows(file, meta, lo, hi),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(super::meta::no_parquet(file)),
        _ => super::dbdf::read_matrix_rows(file, meta, lo, hi).map(Value::Matrix),
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
    if meta.labels.is_some() && format == Format::Daphne {
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
        return empty(meta);
    }
    let results: Vec<Mutex<Option<Result<Value, Error>>>> = shares.iter().map(|_| Mutex::new(None)).collect();
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
    super::parts::stack(path, pieces, meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::DenseMatrix;
    use daphne_ir::ValueType;
    use std::path::Path;

    /// A fresh scratch path `name` (a file or directory, removed if it exists).
    fn fresh(name: &str) -> String {
        let p = crate::io::test_path("ranges", name);
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_file(&p);
        p
    }

    /// xorshift: the tests' reproducible randomness.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    fn meta(cols: usize, vt: ValueType, header: bool) -> Meta {
        Meta { rows: None, cols, schema: vec![vt], labels: None, header, delimiter: b',' }
    }

    /// Cells equal bit for bit (NaNs included), shapes equal.
    fn same(a: &Value, b: &Value) -> bool {
        let (Value::Matrix(a), Value::Matrix(b)) = (a, b) else { return false };
        if (a.rows(), a.cols(), a.value_type()) != (b.rows(), b.cols(), b.value_type()) {
            return false;
        }
        match (a, b) {
            (Matrix::F64(x), Matrix::F64(y)) => {
                let (x, y) = (x.row_range(0, x.rows()), y.row_range(0, y.rows()));
                x.cells().iter().zip(y.cells()).all(|(p, q)| p.to_bits() == q.to_bits())
            }
            _ => a == b,
        }
    }

    /// The text of `rows` records of `cols` cells (numbers, some empty: NaN), ending lines with
    /// `eol`; `quoted` quotes some cells.
    fn records(rng: &mut Rng, rows: usize, cols: usize, eol: &str, quoted: bool) -> String {
        let mut s = String::new();
        for _ in 0..rows {
            let cells: Vec<String> = (0..cols)
                .map(|_| match rng.below(12) {
                    0 => String::new(),
                    1 if quoted => format!("\"{}\"", rng.below(1000)),
                    k => format!("{}.{}", rng.below(100_000) as i64 - 50_000, k),
                })
                .collect();
            s.push_str(&cells.join(","));
            s.push_str(eol);
        }
        s
    }

    /// Scans all pieces, builds anchors by prefix sums, and reads rows `range` from the nearest
    /// anchor at or before it.
    fn ranged(path: &str, m: &Meta, pieces: usize, range: Range<usize>) -> Result<Value, Error> {
        let mut anchors = Vec::new();
        let mut row = 0u64;
        for piece in 0..pieces {
            let (pos, n) = scan_piece(path, m.header, m.delimiter, piece, pieces)?;
            anchors.push((row, pos));
            row += n;
        }
        let &(anchor_row, anchor) =
            anchors.iter().rev().find(|(r, _)| *r as usize <= range.start).expect("the first anchor is row 0");
        read_csv_rows(path, m, anchor, anchor_row, range, 2)
    }

    /// Every piece count sums to the whole read's rows, and every worker's range (and random
    /// ranges) read from anchors is the whole read's rows, bit for bit.
    fn check_csv(path: &str, m: &Meta, expected_rows: usize, rng: &mut Rng) {
        let Value::Matrix(whole) = csv::read(path, m, false, 2).unwrap() else { panic!() };
        let rows = whole.rows();
        assert_eq!(rows, expected_rows, "{path}");
        for pieces in 1..=5 {
            let total: u64 = (0..pieces).map(|p| scan_piece(path, m.header, m.delimiter, p, pieces).unwrap().1).sum();
            assert_eq!(total as usize, rows, "{path}: {pieces} pieces count {total} rows, the read {rows}");
            let mut ranges: Vec<Range<usize>> =
                (0..pieces).map(|w| rows * w / pieces..rows * (w + 1) / pieces).collect();
            for _ in 0..4 {
                let lo = rng.below(rows as u64 + 1) as usize;
                ranges.push(lo..lo + rng.below((rows - lo) as u64 + 1) as usize);
            }
            for range in ranges {
                let got = ranged(path, m, pieces, range.clone()).unwrap();
                let want = Value::Matrix(whole.row_range(range.start, range.end));
                assert!(same(&got, &want), "{path}: {pieces} pieces, rows {range:?}: {got:?} is not {want:?}");
            }
        }
    }

    #[test]
    fn ranged_csv_reads_give_the_whole_reads_rows() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut case = 0;
        for header in [false, true] {
            for eol in ["\n", "\r\n"] {
                for ending in ["", "no-break", "blank", "cr"] {
                    for quoted in [false, true] {
                        case += 1;
                        let m = meta(3, ValueType::F64, header);
                        let head = if header { format!("a,b,c{eol}") } else { String::new() };
                        let fix = |mut s: String| {
                            match ending {
                                "no-break" => s.truncate(s.len() - eol.len()),
                                "blank" => s.push_str(&format!("{eol}{eol}")),
                                // A lone carriage return after the last line is a blank line.
                                "cr" => s.push('\r'),
                                _ => {}
                            }
                            s
                        };
                        // One file.
                        let rows = 1 + rng.below(60) as usize;
                        let p = fresh(&format!("one{case}.csv"));
                        std::fs::write(&p, fix(head.clone() + &records(&mut rng, rows, 3, eol, quoted))).unwrap();
                        check_csv(&p, &m, rows, &mut rng);
                        // A directory of parts of uneven sizes, one empty (without even a header).
                        let d = fresh(&format!("dir{case}.csv"));
                        std::fs::create_dir_all(&d).unwrap();
                        for (k, rows) in [7, 0, 1, 30, 2].into_iter().enumerate() {
                            let text = if k == 1 {
                                String::new()
                            } else {
                                fix(head.clone() + &records(&mut rng, rows, 3, eol, quoted))
                            };
                            std::fs::write(Path::new(&d).join(format!("part-{k}.csv")), text).unwrap();
                        }
                        check_csv(&d, &m, 40, &mut rng);
                    }
                }
            }
        }
    }

    #[test]
    fn quoted_line_breaks_are_read_by_ranges_or_refused() {
        let mut rng = Rng(7);
        // Short quoted cells with line breaks in a str matrix: found from the part's start.
        let p = fresh("quoted.csv");
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("\"a\nb{i}\",x{i}\n"));
        }
        std::fs::write(&p, &text).unwrap();
        check_csv(&p, &meta(2, ValueType::Str, false), 40, &mut rng);
        // One cell whose line breaks span a whole piece without a quote: refused, not misread.
        let p = fresh("spanning.csv");
        std::fs::write(&p, format!("x\n\"{}\"\ny\n", "aaaa\n".repeat(100))).unwrap();
        let e = (0..5).map(|k| scan_piece(&p, false, b',', k, 5)).find_map(Result::err).unwrap().to_string();
        assert!(e.contains("cannot be read by byte ranges; read it whole"), "{e}");
        let Value::Matrix(m) = csv::read(&p, &meta(1, ValueType::Str, false), false, 2).unwrap() else { panic!() };
        assert_eq!(m.rows(), 3);
    }

    #[test]
    fn a_bad_cell_is_reported_by_a_ranged_read_as_by_the_whole_read() {
        let mut rng = Rng(11);
        let mut text = records(&mut rng, 50, 3, "\n", false);
        let line = 31;
        let at = text.match_indices('\n').nth(line - 2).unwrap().0 + 1;
        let comma = at + text[at..].find(',').unwrap();
        text.insert(comma + 1, 'x');
        let d = fresh("bad.csv");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(Path::new(&d).join("part-0.csv"), "1,2,3\n").unwrap();
        std::fs::write(Path::new(&d).join("part-1.csv"), &text).unwrap();
        let m = meta(3, ValueType::F64, false);
        let whole = csv::read(&d, &m, false, 2).unwrap_err().to_string();
        assert!(whole.contains(&format!("part-1.csv:{line}:")), "{whole}");
        for pieces in 1..=5 {
            // The rows of the worker whose range holds the bad row (row 31 of the read).
            let w = (0..pieces).find(|w| 51 * (w + 1) / pieces > line).unwrap();
            let e = ranged(&d, &m, pieces, 51 * w / pieces..51 * (w + 1) / pieces).unwrap_err().to_string();
            assert_eq!(e, whole);
        }
    }

    fn f64_matrix(rng: &mut Rng, rows: usize, cols: usize) -> Matrix {
        let cells = (0..rows * cols).map(|_| rng.below(1 << 20) as f64 / 7.0 - 1000.0).collect();
        Matrix::F64(DenseMatrix::from_vec(rows, cols, cells))
    }

    /// Rows of `whole` in random ranges and across parts equal the ranged reads of `path`.
    fn check_binary(path: &str, whole: &Matrix, rng: &mut Rng) {
        let m = Meta {
            rows: None,
            cols: whole.cols(),
            schema: vec![whole.value_type()],
            labels: None,
            header: false,
            delimiter: b',',
        };
        let rows = whole.rows();
        assert_eq!(count_rows(path).unwrap(), rows, "{path}");
        let mut ranges = vec![0..rows, 0..0, rows..rows];
        for _ in 0..30 {
            let lo = rng.below(rows as u64 + 1) as usize;
            ranges.push(lo..lo + rng.below((rows - lo) as u64 + 1) as usize);
        }
        for range in ranges {
            let got = read_rows(path, &m, range.clone(), 2).unwrap();
            let want = Value::Matrix(whole.row_range(range.start, range.end));
            assert!(same(&got, &want), "{path}, rows {range:?}");
        }
        let e = read_rows(path, &m, rows..rows + 1, 2).unwrap_err().to_string();
        assert!(e.contains(&format!("rows {rows}..{}", rows + 1)), "{e}");
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn ranged_parquet_reads_give_the_sliced_whole_read() {
        let mut rng = Rng(3);
        let whole = f64_matrix(&mut rng, 45, 3);
        let p = fresh("groups.parquet");
        super::super::parquet::write_groups(&Value::Matrix(whole.clone()), &p, 7).unwrap();
        check_binary(&p, &whole, &mut rng);
        let d = fresh("parts.parquet");
        std::fs::create_dir_all(&d).unwrap();
        for (k, (lo, hi)) in [(0, 11), (11, 11), (11, 12), (12, 45)].into_iter().enumerate() {
            let part = Path::new(&d).join(format!("part.{k}.parquet"));
            super::super::parquet::write_groups(&Value::Matrix(whole.row_range(lo, hi)), &part.to_string_lossy(), 5)
                .unwrap();
        }
        check_binary(&d, &whole, &mut rng);
    }

    #[test]
    fn ranged_dbdf_reads_give_the_sliced_whole_read() {
        let mut rng = Rng(5);
        let whole = f64_matrix(&mut rng, 33, 4);
        let p = fresh("dense.dbdf");
        super::super::dbdf::write(&Value::Matrix(whole.clone()), &p).unwrap();
        check_binary(&p, &whole, &mut rng);
        let d = fresh("parts.dbdf");
        std::fs::create_dir_all(&d).unwrap();
        for (k, (lo, hi)) in [(0, 3), (3, 3), (3, 20), (20, 33)].into_iter().enumerate() {
            let part = Path::new(&d).join(format!("part-{k}.dbdf"));
            super::super::dbdf::write(&Value::Matrix(whole.row_range(lo, hi)), &part.to_string_lossy()).unwrap();
        }
        check_binary(&d, &whole, &mut rng);
        // A CSR matrix, as DAPHNE writes one: 4x3 [[0,5,0],[7,0,9],[0,0,0],[1,2,3]] of si64.
        let p = fresh("csr.dbdf");
        let mut b = vec![1u8, 2];
        b.extend_from_slice(&4u64.to_le_bytes());
        b.extend_from_slice(&3u64.to_le_bytes());
        b.push(2);
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[2, 2]);
        b.extend_from_slice(&6u64.to_le_bytes());
        for x in [0u64, 1, 3, 3, 6, 1, 0, 2, 0, 1, 2] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        for x in [5i64, 7, 9, 1, 2, 3] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(&p, &b).unwrap();
        let whole = Matrix::Si64(DenseMatrix::from_vec(4, 3, vec![0, 5, 0, 7, 0, 9, 0, 0, 0, 1, 2, 3]));
        check_binary(&p, &whole, &mut rng);
    }

    /// A directory of parts reads (through `io::read`, with its one `.meta` beside it) as the
    /// file of the parts concatenated.
    #[test]
    fn a_directory_of_parts_reads_as_the_concatenated_file() {
        use daphne_ir::{MatrixType, Type};
        let mut rng = Rng(13);
        let ty = |rows| Type::Matrix(MatrixType { vt: Some(ValueType::F64), rows, cols: Some(3), repr: None });
        // CSV, each part with its header line; the single file has one.
        let d = fresh("X.csv");
        std::fs::create_dir_all(&d).unwrap();
        let mut all = String::from("a,b,c\n");
        for (k, rows) in [4, 0, 9, 1].into_iter().enumerate() {
            let body = records(&mut rng, rows, 3, "\n", false);
            all.push_str(&body);
            std::fs::write(Path::new(&d).join(format!("part-{k:05}.csv")), format!("a,b,c\n{body}")).unwrap();
        }
        let f = fresh("X1.csv");
        std::fs::write(&f, &all).unwrap();
        let meta_text = r#"{"header":true,"numCols":3,"numRows":14,"valueType":"f64"}"#;
        std::fs::write(format!("{d}.meta"), meta_text).unwrap();
        std::fs::write(format!("{f}.meta"), meta_text).unwrap();
        let (m, _) = super::super::describe(&d, &super::super::ReadOptions::default()).unwrap();
        assert_eq!(m.rows, Some(14));
        let a = super::super::read(&d, false, &ty(Some(14)), false, b',', 2).unwrap();
        let b = super::super::read(&f, false, &ty(Some(14)), false, b',', 2).unwrap();
        assert!(same(&a, &b));
        std::fs::write(format!("{d}.meta"), meta_text.replace("14", "15")).unwrap();
        let e = super::super::read(&d, false, &ty(None), false, b',', 2).unwrap_err().to_string();
        assert!(e.contains("(its 4 parts) holds 14 rows after their header lines, but its meta data says 15"), "{e}");
        // Without its meta data the directory's schema is inferred from its first part.
        std::fs::remove_file(format!("{d}.meta")).unwrap();
        let (m, note) = super::super::describe(&d, &super::super::ReadOptions::default()).unwrap();
        assert_eq!((m.cols, m.header, m.rows), (3, true, None));
        assert!(note.unwrap().contains(&format!("write {d}.meta")));
        let a = super::super::read(&d, false, &ty(None), true, b',', 2).unwrap();
        assert!(same(&a, &b));
        // Parquet and .dbdf: their own schemas, rows summed.
        let whole = f64_matrix(&mut rng, 20, 3);
        let mut formats = vec!["dbdf"];
        if cfg!(feature = "parquet") {
            formats.push("parquet");
        }
        for ext in formats {
            let d = fresh(&format!("Y.{ext}"));
            std::fs::create_dir_all(&d).unwrap();
            for (k, (lo, hi)) in [(0, 8), (8, 9), (9, 20)].into_iter().enumerate() {
                let part = Path::new(&d).join(format!("part.{k}.{ext}"));
                super::super::write(
                    &Value::Matrix(whole.row_range(lo, hi)),
                    &part.to_string_lossy(),
                    Default::default(),
                )
                .unwrap();
            }
            let (m, _) = super::super::describe(&d, &super::super::ReadOptions::default()).unwrap();
            assert_eq!((m.rows, m.cols), (Some(20), 3), "{ext}");
            let a = super::super::read(&d, false, &ty(Some(20)), false, b',', 2).unwrap();
            assert!(same(&a, &Value::Matrix(whole.clone())), "{ext}");
        }
    }

    /// Frames too: a directory of CSV, Parquet or .dbdf parts reads as the frame of their rows,
    /// and a range of them (but .dbdf frames) as those rows.
    #[test]
    fn a_directory_of_frame_parts_reads_as_the_concatenated_frame() {
        use crate::frame::Frame;
        use daphne_ir::Type;
        use std::sync::Arc;
        let frame = |lo: i64, hi: i64| {
            let ids: Vec<i64> = (lo..hi).collect();
            let xs: Vec<f64> = (lo..hi).map(|i| i as f64 / 4.0).collect();
            let n = ids.len();
            Frame::new(
                vec![Matrix::Si64(DenseMatrix::from_vec(n, 1, ids)), Matrix::F64(DenseMatrix::from_vec(n, 1, xs))],
                vec![Arc::from("id"), Arc::from("x")],
            )
            .unwrap()
        };
        let whole = frame(0, 12);
        let mut formats = vec!["csv", "dbdf"];
        if cfg!(feature = "parquet") {
            formats.push("parquet");
        }
        for ext in formats {
            let d = fresh(&format!("F.{ext}"));
            std::fs::create_dir_all(&d).unwrap();
            for (k, (lo, hi)) in [(0, 5), (5, 5), (5, 12)].into_iter().enumerate() {
                let part = Path::new(&d).join(format!("part-{k}.{ext}"));
                let part = part.to_string_lossy();
                super::super::write(&Value::Frame(frame(lo, hi)), &part, Default::default()).unwrap();
                let _ = std::fs::remove_file(format!("{part}.meta"));
            }
            if ext == "csv" {
                std::fs::write(
                    format!("{d}.meta"),
                    r#"{"numCols":2,"numRows":12,"schema":[{"label":"id","valueType":"si64"},{"label":"x","valueType":"f64"}]}"#,
                )
                .unwrap();
            }
            let opts = super::super::ReadOptions { frame: true, ..Default::default() };
            let (m, _) = super::super::describe(&d, &opts).unwrap();
            assert_eq!(m.rows, Some(12), "{ext}");
            let Value::Frame(f) = super::super::read(&d, true, &Type::Unknown, false, b',', 2).unwrap() else {
                panic!()
            };
            assert_eq!(f.labels(), whole.labels(), "{ext}");
            assert_eq!(format!("{:?}", f.columns()), format!("{:?}", whole.columns()), "{ext}");
            // By row ranges: the whole frame's rows, but from DAPHNE's binary format.
            let got = match ext {
                "csv" => ranged(&d, &m, 2, 3..9),
                _ => read_rows(&d, &m, 3..9, 2),
            };
            if ext == "dbdf" {
                assert!(got.unwrap_err().to_string().contains("not read by row ranges"), "{ext}");
                continue;
            }
            let Value::Frame(part) = got.unwrap() else { panic!("{ext}: not a frame") };
            let rows = whole.select_rows(&(3..9).collect::<Vec<_>>());
            assert_eq!(part.labels(), rows.labels(), "{ext}");
            assert_eq!(format!("{:?}", part.columns()), format!("{:?}", rows.columns()), "{ext}");
        }
    }
}

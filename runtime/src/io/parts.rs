//! Directories of part files: a data set written in pieces, as Spark (`X.csv/part-00000-….csv`,
//! `X.parquet/part-00000-….snappy.parquet`) and Dask (`X.csv/0.part`, `X.parquet/part.0.parquet`)
//! write it. A read of such a directory reads its part files one after another:
//!
//! - the part files of a directory `D.ext` (`ext` one of `csv`, `tsv`, `parquet`, `dbdf`) are
//!   its files whose names end in `.ext`, and for CSV also `.part` (Dask's default name);
//! - names beginning with `.` or `_` are not parts (Hadoop's rule for hidden files: Spark's
//!   `_SUCCESS`, its `.crc` check sums, a `_temporary/` directory); other files are ignored,
//!   except compressed parts (`.csv.gz`, …), which are an error, as is a subdirectory (a
//!   partitioned data set, `key=value/`, whose paths hold column values, is not read);
//! - parts are in natural name order: runs of digits compare as numbers, so `part.10.parquet`
//!   (Dask does not pad its numbers) comes after `part.9.parquet`; zero-padded names (Spark's)
//!   are in plain name order too;
//! - the directory has one meta data file, DAPHNE's `D.ext.meta` beside it (as for a file:
//!   the read's path plus `.meta`, so Spark's overwriting the directory keeps it); part files
//!   have none. A Parquet or `.dbdf` part carries its own schema, and all must agree.
//!
//! A directory without parts is an error (most likely the wrong extension or path).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::meta::Meta;
use crate::error::Error;
use crate::matrix::Matrix;
use crate::value::Value;

/// Compressed files, which are not read (named in the error).
const COMPRESSED: [&str; 7] = ["gz", "bz2", "zst", "xz", "lz4", "snappy", "deflate"];

/// Whether `path` is a directory (of part files).
pub fn is_dir(path: &str) -> bool {
    Path::new(path).is_dir()
}

/// The files a read of `path` covers: `path` itself, or the part files of the directory
/// `path` in natural name order (see the module's documentation).
pub fn list(path: &str) -> Result<Vec<PathBuf>, Error> {
    let dir = Path::new(path);
    if !dir.is_dir() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let ext = dir.extension().map_or(String::new(), |e| e.to_string_lossy().into_owned());
    let exts: &[&str] = match ext.as_str() {
        "csv" | "tsv" => &[ext.as_str(), "part"],
        "parquet" | "dbdf" => &[ext.as_str()],
        _ => {
            return Err(format!(
                "'{path}' is a directory; daphne-rs reads directories of part files named .csv, .tsv, .parquet or .dbdf"
            )
            .into());
        }
    };
    let err = |e: std::io::Error| Error::from(format!("could not read directory '{path}': {e}"));
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let kind = entry.file_type().map_err(err)?;
        let file = entry.path();
        if kind.is_dir() {
            return Err(format!(
                "directory '{path}' holds a subdirectory '{name}': a partitioned data set (key=value/ directories) is not read; read its directories one by one"
            )
            .into());
        }
        let ends =
            |e: &str| name.len() > e.len() + 1 && name.ends_with(e) && name[..name.len() - e.len()].ends_with('.');
        if exts.iter().any(|e| ends(e)) {
            parts.push(file);
        } else if exts.iter().any(|e| COMPRESSED.iter().any(|c| name.ends_with(&format!(".{e}.{c}")))) {
            return Err(format!(
                "directory '{path}' holds the compressed part '{name}'; daphne-rs reads uncompressed parts"
            )
            .into());
        }
    }
    if parts.is_empty() {
        let names = exts.iter().map(|e| format!("*.{e}")).collect::<Vec<_>>().join(" or ");
        return Err(format!("directory '{path}' holds no part files ({names})").into());
    }
    parts.sort_by(|a, b| natural(&a.to_string_lossy(), &b.to_string_lossy()));
    Ok(parts)
}

/// Natural order: runs of ASCII digits compare as numbers (leading zeros aside), the rest
/// byte by byte; names equal that way are in plain byte order.
pub(super) fn natural(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        if x[i].is_ascii_digit() && y[j].is_ascii_digit() {
            let run = |s: &[u8], k: usize| k + s[k..].iter().take_while(|c| c.is_ascii_digit()).count();
            let (ei, ej) = (run(x, i), run(y, j));
            let trim = |s: &[u8]| {
                let z = s.iter().take_while(|&&c| c == b'0').count();
                s[z..].to_vec()
            };
            let (p, q) = (trim(&x[i..ei]), trim(&y[j..ej]));
            match p.len().cmp(&q.len()).then_with(|| p.cmp(&q)) {
                Ordering::Equal => {}
                other => return other,
            }
            (i, j) = (ei, ej);
        } else {
            match x[i].cmp(&y[j]) {
                Ordering::Equal => {}
                other => return other,
            }
            i += 1;
            j += 1;
        }
    }
    (x.len() - i).cmp(&(y.len() - j)).then_with(|| x.cmp(y))
}

/// The pieces of a read (its parts, or row ranges of them) one under the other: a matrix, or a
/// frame of `meta`'s labels whose columns are the pieces' stacked.
pub(super) fn stack(path: &str, mut pieces: Vec<Value>, meta: &Meta) -> Result<Value, Error> {
    let differ = || Error::from(format!("the parts of '{path}' do not have one schema"));
    if meta.labels.is_none() {
        if pieces.len() == 1 {
            return Ok(pieces.pop().expect("one piece"));
        }
        let ms = pieces
            .into_iter()
            .map(|p| match p {
                Value::Matrix(m) => Ok(m),
                other => Err(Error::Internal(format!("a piece of '{path}' was read as {}", other.describe()))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Matrix::concat(&ms, true).map(Value::Matrix).ok_or_else(differ);
    }
    let mut columns: Vec<Vec<Matrix>> = vec![Vec::new(); meta.cols];
    for piece in pieces {
        let Value::Frame(f) = piece else {
            return Err(Error::Internal(format!("a part of '{path}' was not read as a frame")));
        };
        if f.cols() != meta.cols {
            return Err(differ());
        }
        for (all, c) in columns.iter_mut().zip(f.columns()) {
            all.push(c.clone());
        }
    }
    let columns = columns.iter().map(|c| Matrix::concat(c, true)).collect::<Option<Vec<_>>>().ok_or_else(differ)?;
    crate::frame::Frame::new(columns, super::meta::frame_labels(meta)).map(Value::Frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_numbers_as_numbers() {
        let mut names = vec!["part.10.parquet", "part.9.parquet", "part.0.parquet", "part-00001.csv", "part-00000.csv"];
        names.sort_by(|a, b| natural(a, b));
        assert_eq!(names, ["part-00000.csv", "part-00001.csv", "part.0.parquet", "part.9.parquet", "part.10.parquet"]);
        assert_eq!(natural("a01", "a1"), Ordering::Less);
        assert_eq!(natural("a1", "a1"), Ordering::Equal);
    }

    #[test]
    fn parts_are_the_files_of_the_extension_hidden_ones_left_out() {
        let dir = crate::io::test_path("parts", "X.csv");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["part-10.csv", "part-9.csv", "_SUCCESS", ".part-9.csv.crc", "notes.txt", "3.part"] {
            std::fs::write(Path::new(&dir).join(name), b"").unwrap();
        }
        let got: Vec<String> =
            list(&dir).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(got, ["3.part", "part-9.csv", "part-10.csv"]);
        std::fs::write(Path::new(&dir).join("part-11.csv.gz"), b"").unwrap();
        assert!(list(&dir).unwrap_err().to_string().contains("compressed part 'part-11.csv.gz'"));
        std::fs::remove_file(Path::new(&dir).join("part-11.csv.gz")).unwrap();
        std::fs::create_dir_all(Path::new(&dir).join("k=1")).unwrap();
        assert!(list(&dir).unwrap_err().to_string().contains("subdirectory 'k=1'"));
        let empty = crate::io::test_path("parts", "E.parquet");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(list(&empty).unwrap_err().to_string().contains("holds no part files (*.parquet)"));
    }
}

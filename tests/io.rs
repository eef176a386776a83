//! Data in and out: any frame written and read back is the same frame (a property test over
//! random frames, strings with delimiters, quotes and line breaks among them), floats are
//! written so that they read back to the same bits (DAPHNE's `%f` on request), and reading
//! the file a script wrote before works while compiling it (CLI runs in a temporary directory).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use daphne_ir::Type;
use daphne_runtime::frame::Frame;
use daphne_runtime::io::{self, FloatFormat};
use daphne_runtime::matrix::{DenseMatrix, Matrix};
use daphne_runtime::value::Value;
use proptest::prelude::*;

/// A column of one of the value types a CSV file holds.
fn column(rows: usize) -> impl Strategy<Value = Matrix> {
    let floats = prop_oneof![
        4 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(-0.0),
        1 => Just(1e-10),
        1 => (-1000i32..1000).prop_map(|i| f64::from(i) / 8.0),
    ];
    // Text with the characters CSV must quote or escape, and others it must keep.
    let text = proptest::collection::vec(
        prop_oneof![
            Just(","),
            Just("\""),
            Just("\n"),
            Just("\r\n"),
            Just("\r"),
            Just(" "),
            Just("a"),
            Just("Zürich"),
            Just("1.5"),
            Just(";"),
            Just("\t"),
        ],
        0..6,
    )
    .prop_map(|parts| Arc::<str>::from(parts.concat()));
    prop_oneof![
        proptest::collection::vec(floats, rows).prop_map(move |v| Matrix::F64(DenseMatrix::from_vec(rows, 1, v))),
        proptest::collection::vec(any::<f32>(), rows).prop_map(move |v| Matrix::F32(DenseMatrix::from_vec(rows, 1, v))),
        proptest::collection::vec(any::<i64>(), rows)
            .prop_map(move |v| Matrix::Si64(DenseMatrix::from_vec(rows, 1, v))),
        proptest::collection::vec(any::<u8>(), rows).prop_map(move |v| Matrix::Ui8(DenseMatrix::from_vec(rows, 1, v))),
        proptest::collection::vec(any::<i8>(), rows).prop_map(move |v| Matrix::Si8(DenseMatrix::from_vec(rows, 1, v))),
        proptest::collection::vec(text, rows).prop_map(move |v| Matrix::Str(DenseMatrix::from_vec(rows, 1, v))),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    (0usize..12, 1usize..5).prop_flat_map(|(rows, cols)| {
        proptest::collection::vec(column(rows), cols).prop_map(|columns| {
            let labels = (0..columns.len()).map(|i| Arc::from(format!("c{i}"))).collect();
            Frame::new(columns, labels).expect("columns of one length")
        })
    })
}

/// Cells equal bit for bit (every NaN equal to every NaN).
fn same(a: &Matrix, b: &Matrix) -> bool {
    match (a, b) {
        (Matrix::F64(x), Matrix::F64(y)) => {
            x.cells().iter().zip(y.cells()).all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        }
        (Matrix::F32(x), Matrix::F32(y)) => {
            x.cells().iter().zip(y.cells()).all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        }
        _ => a == b,
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("daphne-io-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_frame_written_and_read_back_is_the_same_frame(f in frame()) {
        let dir = temp_dir("prop");
        let path = dir.join("f.csv").to_string_lossy().into_owned();
        io::write(&Value::Frame(f.clone()), &path, FloatFormat::Shortest).expect("write");
        let back = match io::read(&path, true, &Type::Unknown, false, b',', 2).expect("read") {
            Value::Frame(b) => b,
            other => panic!("not a frame: {other:?}"),
        };
        prop_assert_eq!(back.rows(), f.rows());
        prop_assert_eq!(back.labels(), f.labels());
        for (a, b) in f.columns().iter().zip(back.columns()) {
            prop_assert!(same(a, b), "column {:?} read back as {:?}", a, b);
        }
    }
}

fn daphne(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_daphne")).current_dir(dir).args(args).output().expect("daphne runs")
}

#[test]
fn a_script_reads_the_file_it_wrote_before() {
    let dir = temp_dir("same-script");
    std::fs::write(
        dir.join("s.daph"),
        "X = rand(3, 2, 0.0, 1.0, 1, 42) * 1e-10;\n\
         writeMatrix(X, \"m2.csv\");\n\
         Y = readMatrix(\"m2.csv\");\n\
         print(sum(X == Y));\n\
         F = {\"a\": [1, 2], \"b\": [\"x,\\\"y\\\"\", \"z\"]};\n\
         writeFrame(F, \"f.csv\");\n\
         print(readFrame(\"f.csv\"));\n\
         writeFrame(F, \"f.tsv\");\n\
         print(readFrame(\"f.tsv\"));\n",
    )
    .unwrap();
    let out = daphne(&dir, &["s.daph"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "6\n\
         Frame(2x2, [a:int64_t, b:std::string])\n1 x,\"y\"\n2 z\n\
         Frame(2x2, [a:int64_t, b:std::string])\n1 x,\"y\"\n2 z\n",
        "every cell of a tiny-valued matrix reads back equal"
    );
}

#[test]
fn a_missing_file_without_meta_data_says_what_is_missing() {
    let dir = temp_dir("missing");
    std::fs::write(dir.join("s.daph"), "print(\"start\");\nX = readMatrix(\"nowhere.csv\");\nprint(X);\n").unwrap();
    let out = daphne(&dir, &["s.daph"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a compile error: {err}");
    assert!(err.contains("nowhere.csv.meta") && err.contains("file not found"), "{err}");
    assert!(err.contains("s.daph:2:5"), "{err}");
}

#[test]
fn floats_are_written_shortest_or_as_daphne_writes_them() {
    let dir = temp_dir("floats");
    std::fs::write(dir.join("s.daph"), "writeMatrix([1e-10, 0.1, 2.0], \"m.csv\");\n").unwrap();
    let out = daphne(&dir, &["s.daph"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("m.csv")).unwrap(), "1e-10\n0.1\n2.0\n");
    std::fs::write(dir.join("c.json"), "{\"csv_float_format\": \"fixed\"}").unwrap();
    let out = daphne(&dir, &["--config", "c.json", "s.daph"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("m.csv")).unwrap(), "0.000000\n0.100000\n2.000000\n");
}

#[test]
fn a_large_file_is_read_in_parallel_segments_with_its_quotes() {
    // More than one 1 MiB block, with quoted line breaks across block boundaries.
    let dir = temp_dir("large");
    let mut text = String::new();
    let rows = 60_000;
    for i in 0..rows {
        text.push_str(&format!("{i},\"line\n{i}, \"\"q\"\"\",{}\n", i as f64 / 7.0));
    }
    std::fs::write(dir.join("big.csv"), &text).unwrap();
    std::fs::write(
        dir.join("s.daph"),
        "F = readFrame(\"big.csv\");\nprint(nrow(F));\nprint(sum(as.matrix(F[, \"col_0\"])));\nprint(F[59999, ]);\n",
    )
    .unwrap();
    let out = daphne(&dir, &["--num-threads=2", "s.daph"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{rows}\n1799970000\nFrame(1x3, [col_0:int64_t, col_1:std::string, col_2:double])\n59999 line\n59999, \"q\" 8571.29\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

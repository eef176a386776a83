//! Parquet files across implementations: pyarrow writes, `daphne` reads, and the other way
//! round. Runs only where Python has pyarrow (`python3`, or the interpreter named by
//! `DAPHNE_TEST_PYTHON`); elsewhere each test says it is skipped and passes.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::check;

const DAPHNE: &str = env!("CARGO_BIN_EXE_daphne");

/// The Python interpreter with pyarrow, if there is one.
fn python() -> Option<String> {
    let python = std::env::var("DAPHNE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let works = Command::new(&python).args(["-c", "import pyarrow"]).output().is_ok_and(|o| o.status.success());
    if works {
        Some(python)
    } else {
        eprintln!("skipped: `{python} -c \"import pyarrow\"` fails (set DAPHNE_TEST_PYTHON to a Python with pyarrow)");
        None
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("daphne-formats-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a Python program; panics with its stderr if it fails.
fn run_python(python: &str, program: &str) -> String {
    let out = Command::new(python).args(["-c", program]).output().expect("python runs");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a DaphneDSL script with `daphne`; returns its stdout, panics if it fails.
fn run_daphne(dir: &std::path::Path, script: &str) -> String {
    let path = dir.join("script.daph");
    std::fs::write(&path, script).unwrap();
    let out = check(DAPHNE, &[path.to_str().unwrap()]);
    assert_eq!(out.status, 0, "daphne failed:\n{}{}", out.stdout, out.stderr);
    out.stdout
}

#[test]
fn daphne_reads_what_pyarrow_writes() {
    let Some(python) = python() else { return };
    let dir = temp_dir("read");
    // Every compression pyarrow users meet (snappy is pandas' default, zstd polars'), small
    // row groups, dictionary-encoded strings, nulls in a float column, every integer width.
    for compression in ["snappy", "zstd", "none"] {
        let file = dir.join(format!("{compression}.parquet"));
        run_python(
            &python,
            &format!(
                r#"
import pyarrow as pa, pyarrow.parquet as pq
t = pa.table({{
    "f": pa.array([1.5, None, -0.25, float("inf")], pa.float64()),
    "g": pa.array([0.5, 2.0, -1.0, 3.0], pa.float32()),
    "n": pa.array([-9223372036854775808, 0, 7, 9223372036854775807], pa.int64()),
    "i": pa.array([-2147483648, 1, 2, 2147483647], pa.int32()),
    "h": pa.array([-32768, 0, 1, 32767], pa.int16()),
    "b": pa.array([-128, 0, 1, 127], pa.int8()),
    "u64": pa.array([0, 1, 2**63, 2**64 - 1], pa.uint64()),
    "u32": pa.array([0, 1, 2, 2**32 - 1], pa.uint32()),
    "u16": pa.array([0, 1, 2, 65535], pa.uint16()),
    "u8": pa.array([0, 1, 2, 255], pa.uint8()),
    "ok": pa.array([True, False, True, False]),
    "s": pa.array(["a,b", "say \"hi\"", "a,b", "grüße\n✓"]),
}})
pq.write_table(t, r"{}", compression="{compression}", row_group_size=3, use_dictionary=True)
"#,
                file.display()
            ),
        );
        let out = run_daphne(&dir, &format!("F = readFrame(\"{}\");\nprint(F);\n", file.display()));
        let expected = "Frame(4x12, [f:double, g:float, n:int64_t, i:int32_t, h:int32_t, b:int8_t, u64:uint64_t, u32:uint32_t, u16:uint32_t, u8:uint8_t, ok:uint8_t, s:std::string])\n\
            1.5 0.5 -9223372036854775808 -2147483648 -32768 -128 0 0 0 0 1 a,b\n\
            nan 2 0 1 0 0 1 1 1 1 0 say \"hi\"\n\
            -0.25 -1 7 2 1 1 9223372036854775808 2 2 2 1 a,b\n\
            inf 3 9223372036854775807 2147483647 32767 127 18446744073709551615 4294967295 65535 255 0 grüße\n✓\n";
        assert_eq!(out, expected, "{compression}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn pyarrow_reads_what_daphne_writes() {
    let Some(python) = python() else { return };
    let dir = temp_dir("write");
    let (frame, matrix) = (dir.join("frame.parquet"), dir.join("matrix.parquet"));
    run_daphne(
        &dir,
        &format!(
            r#"F = {{"x": [0.1, nan, -inf, 5e-324], "n": [-9223372036854775807 - 1, -1, 0, 9223372036854775807], "s": ["a,b", "say \"hi\"", "two\nlines", "grüße ✓"]}};
writeFrame(F, "{}");
M = reshape(as.matrix<ui8>([0, 1, 254, 255, 7, 8]), 3, 2);
write(M, "{}");
"#,
            frame.display(),
            matrix.display()
        ),
    );
    let out = run_python(
        &python,
        &format!(
            r#"
import math, pyarrow as pa, pyarrow.parquet as pq
t = pq.read_table(r"{}")
assert t.schema.names == ["x", "n", "s"], t.schema
assert [str(c.type) for c in t.columns] == ["double", "int64", "string"], t.schema
x = t.column("x").to_pylist()
assert x[0] == 0.1 and math.isnan(x[1]) and x[2] == -math.inf and x[3] == 5e-324, x
assert t.column("n").to_pylist() == [-2**63, -1, 0, 2**63 - 1], t.column("n")
assert t.column("s").to_pylist() == ["a,b", 'say "hi"', "two\nlines", "grüße ✓"], t.column("s")
m = pq.read_table(r"{}")
assert m.schema.names == ["col_0", "col_1"], m.schema
assert [str(c.type) for c in m.columns] == ["uint8", "uint8"], m.schema
assert m.column("col_0").to_pylist() == [0, 254, 7] and m.column("col_1").to_pylist() == [1, 255, 8], m
print("ok")
"#,
            frame.display(),
            matrix.display()
        ),
    );
    assert_eq!(out, "ok\n");
    std::fs::remove_dir_all(&dir).ok();
}

//! Compares runtime::format against the text printed by libstdc++/glibc.
//!
//! The fixtures under tests/data/ were produced by tools/reference/gen_format_fixtures.cpp
//! (see that file for how to regenerate them).

use daphne_runtime::format::{fmt_f32, fmt_f32_fixed, fmt_f64, fmt_f64_fixed, fmt_general};

fn fixture(name: &str) -> Vec<Vec<String>> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.lines().filter(|l| !l.is_empty()).map(|l| l.split('\t').map(str::to_owned).collect()).collect()
}

fn f64_from_hex(s: &str) -> f64 {
    f64::from_bits(u64::from_str_radix(s, 16).expect("hex bits"))
}

fn f32_from_hex(s: &str) -> f32 {
    f32::from_bits(u32::from_str_radix(s, 16).expect("hex bits"))
}

/// Checks every record and reports all mismatches at once.
fn check(name: &str, min_records: usize, mut f: impl FnMut(&[String]) -> (String, String)) {
    let records = fixture(name);
    assert!(records.len() >= min_records, "{name}: only {} records", records.len());
    let mismatches: Vec<String> = records
        .iter()
        .filter_map(|r| {
            let (got, want) = f(r);
            (got != want).then(|| format!("{r:?}: got {got:?}, want {want:?}"))
        })
        .collect();
    assert!(mismatches.is_empty(), "{name}: {} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

#[test]
fn cout_double() {
    check("format_f64.tsv", 3000, |r| (fmt_f64(f64_from_hex(&r[0])), r[1].clone()));
}

#[test]
fn cout_float() {
    check("format_f32.tsv", 1000, |r| (fmt_f32(f32_from_hex(&r[0])), r[1].clone()));
}

#[test]
fn to_string_double() {
    check("format_fixed.tsv", 1000, |r| (fmt_f64_fixed(f64_from_hex(&r[0])), r[1].clone()));
}

#[test]
fn to_string_float() {
    check("format_fixed_f32.tsv", 300, |r| (fmt_f32_fixed(f32_from_hex(&r[0])), r[1].clone()));
}

#[test]
fn setprecision_double() {
    check("format_prec.tsv", 500, |r| {
        let p: usize = r[0].parse().expect("precision");
        (fmt_general(f64_from_hex(&r[1]), p), r[2].clone())
    });
}

//! Compares runtime::random against libstdc++ and DAPHNE's kernel logic.
//!
//! tests/data/random.txt was produced by tools/reference/gen_random_fixtures.cpp (see that file for
//! the record format and how to regenerate it). Each record's outputs are re-rendered here in the
//! generator's text format and compared as strings.

use daphne_runtime::random::{
    Distribution, MinstdRand0, Mt19937, RandValue, UniformIntDistribution, UniformRealDistribution, Urbg,
    rand_matrix_csr, rand_matrix_values, sample_values, shuffle,
};

/// Conversion between values and the generator's text format.
trait Fixture: Copy + PartialEq {
    fn parse(s: &str) -> Self;
    fn text(self) -> String;
    fn bytes(self, out: &mut Vec<u8>);
    fn is_zero(self) -> bool;
}

macro_rules! fixture_int {
    ($($t:ty),*) => {
        $(
            impl Fixture for $t {
                fn parse(s: &str) -> Self {
                    s.parse().unwrap_or_else(|e| panic!("bad integer {s:?}: {e}"))
                }
                fn text(self) -> String {
                    self.to_string()
                }
                fn bytes(self, out: &mut Vec<u8>) {
                    out.extend_from_slice(&self.to_le_bytes());
                }
                fn is_zero(self) -> bool {
                    self == 0
                }
            }
        )*
    };
}

fixture_int!(i8, i32, i64, u8, u32, u64, usize);

impl Fixture for f64 {
    fn parse(s: &str) -> Self {
        f64::from_bits(u64::from_str_radix(s, 16).expect("hex f64"))
    }
    fn text(self) -> String {
        format!("{:016x}", self.to_bits())
    }
    fn bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
}

impl Fixture for f32 {
    fn parse(s: &str) -> Self {
        f32::from_bits(u32::from_str_radix(s, 16).expect("hex f32"))
    }
    fn text(self) -> String {
        format!("{:08x}", self.to_bits())
    }
    fn bytes(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
}

/// The generator's rendering: values, or `#hash nnz` for long outputs.
fn render<T: Fixture>(v: &[T], max_inline: usize) -> String {
    if v.len() > max_inline {
        let mut bytes = Vec::new();
        for &x in v {
            x.bytes(&mut bytes);
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let nnz = v.iter().filter(|x| !x.is_zero()).count();
        return format!("#{h:016x} {nnz}");
    }
    v.iter().map(|x| x.text()).collect::<Vec<_>>().join(" ")
}

const MAX_INLINE: usize = 48;

struct Record {
    line: String,
    kind: String,
    params: Vec<String>,
    expected: String,
}

fn records() -> Vec<Record> {
    let path = format!("{}/tests/data/random.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (head, expected) = l.split_once(" : ").unwrap_or((l, ""));
            let mut tokens = head.split(' ').map(str::to_owned);
            let kind = tokens.next().unwrap_or_default();
            Record { line: l.to_owned(), kind, params: tokens.collect(), expected: expected.to_owned() }
        })
        .collect()
}

/// Runs `f` on every record of `kind` and reports all mismatches.
fn check(kind: &str, min_records: usize, mut f: impl FnMut(&[String]) -> String) {
    let mut count = 0;
    let mut mismatches = Vec::new();
    for r in records().iter().filter(|r| r.kind == kind) {
        count += 1;
        let got = f(&r.params);
        if got != r.expected {
            let short: String = r.line.chars().take(300).collect();
            let got_short: String = got.chars().take(300).collect();
            mismatches.push(format!("{short}\n    got: {got_short}"));
        }
    }
    assert!(count >= min_records, "{kind}: only {count} records");
    assert!(mismatches.is_empty(), "{kind}: {} of {count} mismatch:\n{}", mismatches.len(), mismatches.join("\n"));
}

fn int(s: &str) -> i64 {
    s.parse().expect("integer")
}

fn size(s: &str) -> usize {
    s.parse().expect("size")
}

/// Dispatches on a value-type name.
macro_rules! by_type {
    ($name:expr, $f:ident, $($args:tt)*) => {
        match $name {
            "f64" => $f::<f64>($($args)*),
            "f32" => $f::<f32>($($args)*),
            "si64" => $f::<i64>($($args)*),
            "si32" => $f::<i32>($($args)*),
            "si8" => $f::<i8>($($args)*),
            "ui64" => $f::<u64>($($args)*),
            "ui32" => $f::<u32>($($args)*),
            "ui8" => $f::<u8>($($args)*),
            other => panic!("unknown value type {other}"),
        }
    };
}

#[test]
fn mt19937_outputs() {
    check("mt", 10, |p| {
        let mut g = Mt19937::from_i64_seed(int(&p[0]));
        let v: Vec<u64> = (0..size(&p[1])).map(|_| u64::from(g.next_u32())).collect();
        render(&v, 1000)
    });
}

#[test]
fn minstd_rand0_outputs() {
    check("minstd", 8, |p| {
        let mut g = MinstdRand0::from_i64_seed(int(&p[0]));
        let v: Vec<u64> = (0..size(&p[1])).map(|_| u64::from(g.next_u32())).collect();
        render(&v, 1000)
    });
}

fn draw<T: Fixture, D: Distribution<T>>(engine: &str, seed: i64, d: &D, n: usize) -> String {
    let v: Vec<T> = match engine {
        "mt19937" => {
            let mut g = Mt19937::from_i64_seed(seed);
            (0..n).map(|_| d.sample(&mut g)).collect()
        }
        "minstd_rand0" => {
            let mut g = MinstdRand0::from_i64_seed(seed);
            (0..n).map(|_| d.sample(&mut g)).collect()
        }
        other => panic!("unknown engine {other}"),
    };
    render(&v, 1000)
}

fn uniform_int<T>(p: &[String]) -> String
where
    T: Fixture + daphne_runtime::random::UniformInt,
{
    let d = UniformIntDistribution::new(T::parse(&p[3]), T::parse(&p[4]));
    draw(&p[0], int(&p[2]), &d, size(&p[5]))
}

#[test]
fn uniform_int_distribution() {
    check("uint", 40, |p| match p[1].as_str() {
        "si64" => uniform_int::<i64>(p),
        "si32" => uniform_int::<i32>(p),
        "si8" => uniform_int::<i8>(p),
        "ui64" => uniform_int::<u64>(p),
        "ui32" => uniform_int::<u32>(p),
        "ui8" => uniform_int::<u8>(p),
        other => panic!("unexpected type {other}"),
    });
}

#[test]
fn uniform_real_distribution() {
    check("ureal", 20, |p| match p[1].as_str() {
        "f64" => {
            draw(&p[0], int(&p[2]), &UniformRealDistribution::new(f64::parse(&p[3]), f64::parse(&p[4])), size(&p[5]))
        }
        "f32" => {
            draw(&p[0], int(&p[2]), &UniformRealDistribution::new(f32::parse(&p[3]), f32::parse(&p[4])), size(&p[5]))
        }
        other => panic!("unexpected type {other}"),
    });
}

fn shuffled<G: Urbg>(mut g: G, n: usize) -> String {
    let mut v: Vec<u64> = (0..n as u64).collect();
    shuffle(&mut v, &mut g);
    format!("{} | {}", render(&v, MAX_INLINE), g.generate())
}

#[test]
fn std_shuffle() {
    check("shuffle", 15, |p| match p[0].as_str() {
        "mt19937" => shuffled(Mt19937::from_i64_seed(int(&p[1])), size(&p[2])),
        "minstd_rand0" => shuffled(MinstdRand0::from_i64_seed(int(&p[1])), size(&p[2])),
        other => panic!("unknown engine {other}"),
    });
}

fn dense<T: Fixture + RandValue>(p: &[String]) -> String {
    let v =
        rand_matrix_values(size(&p[1]), size(&p[2]), T::parse(&p[3]), T::parse(&p[4]), f64::parse(&p[5]), int(&p[6]))
            .expect("valid arguments");
    render(&v, MAX_INLINE)
}

#[test]
fn rand_dense() {
    check("rand_dense", 300, |p| by_type!(p[0].as_str(), dense, p));
}

fn csr<T: Fixture + RandValue>(p: &[String]) -> String {
    let c = rand_matrix_csr(size(&p[1]), size(&p[2]), T::parse(&p[3]), T::parse(&p[4]), f64::parse(&p[5]), int(&p[6]))
        .expect("valid arguments");
    assert_eq!(c.values.len(), c.col_idxs.len());
    assert_eq!(c.row_offsets.len(), size(&p[1]) + 1);
    format!(
        "{} | {} | {}",
        render(&c.values, MAX_INLINE),
        render(&c.col_idxs, MAX_INLINE),
        render(&c.row_offsets, MAX_INLINE)
    )
}

#[test]
fn rand_csr() {
    check("rand_csr", 100, |p| by_type!(p[0].as_str(), csr, p));
}

fn sample<T: Fixture + RandValue>(p: &[String]) -> String {
    let v = sample_values(T::parse(&p[1]), size(&p[2]), p[3] == "1", int(&p[4])).expect("valid arguments");
    render(&v, MAX_INLINE)
}

#[test]
fn sample_kernel() {
    check("sample", 200, |p| by_type!(p[0].as_str(), sample, p));
}

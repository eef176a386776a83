//! Number formatting that reproduces C++ iostreams (libstdc++ on glibc) byte for byte.
//!
//! DAPHNE prints every value with `os << value` on a default-configured `std::ostream`: no
//! precision or flags are set anywhere in its runtime (scalars via `printSca`, dense and sparse
//! matrices via `printValue`, frames via `ValueTypeUtils::printValue`). For floating-point values
//! that is printf's `%g` with precision 6:
//!
//! * six significant digits, trailing zeros (and a trailing decimal point) removed: `0.1`, `1`,
//!   `3.14159`, `5.00153e+06`, `1e-05`;
//! * scientific notation when the decimal exponent after rounding is `< -4` or `>= 6`, with a
//!   signed exponent of at least two digits;
//! * `inf`, `-inf`, `nan`, and `-nan` when the NaN's sign bit is set (glibc prints the sign of a
//!   NaN, and on x86-64 `0.0 / 0.0` yields a NaN with the sign bit set, so DAPHNE prints `-nan`
//!   for it);
//! * `-0` for negative zero.
//!
//! `float` values are widened to `double` before formatting. `int8_t`/`uint8_t` are printed as
//! numbers (DAPHNE casts them to 32-bit integers first), `bool` as `1`/`0`.
//!
//! Casting a number to a string in DaphneDSL (`CastSca<std::string, VT>`, e.g. `as.str(x)` or the
//! number in `"a" + x`) uses `std::to_string`, which is printf's `%f` for floating-point values
//! (six decimals, never scientific: `0.100000`); see [`write_f64_fixed`] and
//! [`CppDisplay::cpp_to_string`].
//!
//! The implementation builds on Rust's exact float formatting (`{:.*e}` / `{:.*}`), which, like
//! glibc, rounds the exact binary value to the requested digits with ties broken to even.

use std::fmt::Write as _;

/// The default precision of a C++ output stream.
pub const DEFAULT_PRECISION: usize = 6;

/// Appends the text of `os << x` for a default-configured C++ stream (`%g`, precision 6).
pub fn write_f64(out: &mut String, x: f64) {
    write_general(out, x, DEFAULT_PRECISION);
}

/// The text of `std::cout << x` (`%g`, precision 6).
pub fn fmt_f64(x: f64) -> String {
    let mut s = String::new();
    write_f64(&mut s, x);
    s
}

/// Appends the text of `os << x` for a `float` (widened to `double`, then `%g` precision 6).
pub fn write_f32(out: &mut String, x: f32) {
    write_f64(out, f64::from(x));
}

/// The text of `std::cout << x` for a `float`.
pub fn fmt_f32(x: f32) -> String {
    fmt_f64(f64::from(x))
}

/// Appends `x` formatted like printf's `%.{precision}g`, i.e. what a C++ stream prints after
/// `os << std::setprecision(precision)` with default flags. A precision of 0 behaves like 1.
pub fn write_general(out: &mut String, x: f64, precision: usize) {
    if write_special(out, x) {
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    let a = x.abs();
    if a == 0.0 {
        out.push('0');
        return;
    }
    let p = precision.max(1);
    // Round the exact value to `p` significant digits: "d.ddddde<exp>".
    let sci = format!("{:.*e}", p - 1, a);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    // Significant digits without trailing zeros (at least one digit remains: the value is non-zero).
    let sig_len = digits.iter().rposition(|&d| d != b'0').map_or(1, |i| i + 1);
    let sig = &digits[..sig_len];
    let p = i64::try_from(p).unwrap_or(i64::MAX);
    if exp < -4 || exp >= p {
        out.push(char::from(sig[0]));
        if sig.len() > 1 {
            out.push('.');
            push_ascii(out, &sig[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        let _ = write!(out, "{e}");
    } else if exp >= 0 {
        // `exp + 1` integer digits; `exp < p` guarantees they all come from `digits`.
        let int_len = usize::try_from(exp).unwrap_or(0) + 1;
        push_ascii(out, &digits[..int_len]);
        if sig.len() > int_len {
            out.push('.');
            push_ascii(out, &sig[int_len..]);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        push_ascii(out, sig);
    }
}

/// `x` formatted like printf's `%.{precision}g`; see [`write_general`].
pub fn fmt_general(x: f64, precision: usize) -> String {
    let mut s = String::new();
    write_general(&mut s, x, precision);
    s
}

/// Appends the text of `std::to_string(x)`, i.e. printf's `%f`: six decimals, never scientific
/// (`0.100000`, `-0.000000`, `1000000.000000`, `inf`, `-nan`).
pub fn write_f64_fixed(out: &mut String, x: f64) {
    if write_special(out, x) {
        return;
    }
    // Rust keeps the sign of negative zero and of negative values that round to zero, like glibc.
    let _ = write!(out, "{x:.6}");
}

/// The text of `std::to_string(x)` for a `double`.
pub fn fmt_f64_fixed(x: f64) -> String {
    let mut s = String::new();
    write_f64_fixed(&mut s, x);
    s
}

/// Appends the text of `std::to_string(x)` for a `float` (widened to `double`, then `%f`).
pub fn write_f32_fixed(out: &mut String, x: f32) {
    write_f64_fixed(out, f64::from(x));
}

/// The text of `std::to_string(x)` for a `float`.
pub fn fmt_f32_fixed(x: f32) -> String {
    fmt_f64_fixed(f64::from(x))
}

/// Writes `inf`, `-inf`, `nan` or `-nan` and returns true if `x` is not finite.
fn write_special(out: &mut String, x: f64) -> bool {
    if x.is_nan() {
        out.push_str(if x.is_sign_negative() { "-nan" } else { "nan" });
        true
    } else if x.is_infinite() {
        out.push_str(if x < 0.0 { "-inf" } else { "inf" });
        true
    } else {
        false
    }
}

fn push_ascii(out: &mut String, digits: &[u8]) {
    out.extend(digits.iter().map(|&d| char::from(d)));
}

/// Values that DAPHNE prints with `os << value`; `cpp_fmt` appends exactly the same text.
pub trait CppDisplay {
    /// Appends the text C++ prints for this value on a default-configured stream.
    fn cpp_fmt(&self, out: &mut String);

    /// The text C++ prints for this value on a default-configured stream.
    fn cpp_string(&self) -> String {
        let mut s = String::new();
        self.cpp_fmt(&mut s);
        s
    }

    /// The text of `std::to_string(value)`, which DAPHNE uses to cast a number to a string
    /// (`CastSca<std::string, VT>`): like [`CppDisplay::cpp_string`] except that floating-point
    /// values use printf's `%f` (`0.500000`). Strings are returned as they are.
    fn cpp_to_string(&self) -> String {
        self.cpp_string()
    }
}

impl CppDisplay for f64 {
    fn cpp_fmt(&self, out: &mut String) {
        write_f64(out, *self);
    }
    fn cpp_to_string(&self) -> String {
        fmt_f64_fixed(*self)
    }
}

impl CppDisplay for f32 {
    fn cpp_fmt(&self, out: &mut String) {
        write_f32(out, *self);
    }
    fn cpp_to_string(&self) -> String {
        fmt_f32_fixed(*self)
    }
}

macro_rules! cpp_display_integer {
    ($($t:ty),*) => {
        $(
            impl CppDisplay for $t {
                fn cpp_fmt(&self, out: &mut String) {
                    let _ = write!(out, "{self}");
                }
            }
        )*
    };
}

// int8_t/uint8_t print as numbers: DAPHNE casts them to int32_t/uint32_t before printing.
cpp_display_integer!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl CppDisplay for bool {
    fn cpp_fmt(&self, out: &mut String) {
        out.push(if *self { '1' } else { '0' });
    }
}

impl CppDisplay for str {
    fn cpp_fmt(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl CppDisplay for String {
    fn cpp_fmt(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl<T: CppDisplay + ?Sized> CppDisplay for &T {
    fn cpp_fmt(&self, out: &mut String) {
        (**self).cpp_fmt(out);
    }
    fn cpp_to_string(&self) -> String {
        (**self).cpp_to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_cpp() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.1, "0.1"),
            (5_001_530.0, "5.00153e+06"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (-f64::NAN, "-nan"),
            (999_999.0, "999999"),
            (999_999.5, "1e+06"),
            (9.999995, "10"), // the double is slightly above 9.999995
            (0.000_099_999_995, "0.0001"),
            (99_999.95, "99999.9"), // slightly below
            (123_456.0, "123456"),
            (1_234_565.0, "1.23456e+06"), // exact tie: round half to even
            (1_234_575.0, "1.23458e+06"),
            (f64::MAX, "1.79769e+308"),
            (f64::MIN_POSITIVE, "2.22507e-308"),
            (5e-324, "4.94066e-324"),
            (1e100, "1e+100"),
            (-3.5, "-3.5"),
            (100.0, "100"),
            (0.000_123_456_7, "0.000123457"),
        ];
        for &(x, s) in cases {
            assert_eq!(fmt_f64(x), s, "{x:e}");
        }
    }

    #[test]
    fn nan_sign_follows_the_bit_pattern() {
        let zero = std::hint::black_box(0.0_f64);
        let quotient = zero / zero;
        // Whatever sign the platform gives 0/0, the text follows the sign bit, as glibc does.
        let expected = if quotient.is_sign_negative() { "-nan" } else { "nan" };
        assert_eq!(fmt_f64(quotient), expected);
        assert_eq!(fmt_f64(f64::from_bits(0xfff8_0000_0000_0000)), "-nan");
        assert_eq!(fmt_f32(f32::from_bits(0xffc0_0000)), "-nan");
        assert_eq!(fmt_f32(f32::from_bits(0x7fc0_0000)), "nan");
    }

    #[test]
    fn floats_are_widened() {
        assert_eq!(fmt_f32(0.1), "0.1");
        assert_eq!(fmt_f32(16_777_217.0), "1.67772e+07");
        assert_eq!(fmt_f32(1.0 / 3.0), "0.333333");
        assert_eq!(fmt_f32(-0.0), "-0");
    }

    #[test]
    fn fixed_like_to_string() {
        assert_eq!(fmt_f64_fixed(0.1), "0.100000");
        assert_eq!(fmt_f64_fixed(-0.0), "-0.000000");
        assert_eq!(fmt_f64_fixed(-0.000_000_4), "-0.000000");
        assert_eq!(fmt_f64_fixed(1e6), "1000000.000000");
        assert_eq!(fmt_f64_fixed(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_f64_fixed(-f64::NAN), "-nan");
        assert_eq!(fmt_f64_fixed(0.007_812_5), "0.007812");
        assert_eq!(fmt_f32_fixed(0.1), "0.100000");
    }

    #[test]
    fn other_precisions() {
        assert_eq!(fmt_general(9.5, 0), "1e+01");
        assert_eq!(fmt_general(0.95, 1), "0.9");
        assert_eq!(fmt_general(0.1, 17), "0.10000000000000001");
        assert_eq!(fmt_general(1e16, 17), "10000000000000000");
        assert_eq!(fmt_general(123_456_789.0, 10), "123456789");
    }

    #[test]
    fn cpp_display() {
        assert_eq!(true.cpp_string(), "1");
        assert_eq!(false.cpp_string(), "0");
        assert_eq!((-5_i8).cpp_string(), "-5");
        assert_eq!(200_u8.cpp_string(), "200");
        assert_eq!(u64::MAX.cpp_string(), "18446744073709551615");
        assert_eq!(i64::MIN.cpp_string(), "-9223372036854775808");
        assert_eq!(2.5_f64.cpp_string(), "2.5");
        assert_eq!(2.5_f32.cpp_string(), "2.5");
        assert_eq!("a b".cpp_string(), "a b");
        assert_eq!(String::from("x").cpp_string(), "x");
        assert_eq!(0.5_f64.cpp_to_string(), "0.500000");
        assert_eq!(0.5_f32.cpp_to_string(), "0.500000");
        fn through_reference<T: CppDisplay>(x: T) -> (String, String) {
            (x.cpp_string(), x.cpp_to_string())
        }
        let tiny: &f64 = &1e-7;
        assert_eq!(through_reference(tiny), ("1e-07".to_owned(), "0.000000".to_owned()));
        assert_eq!((-3_i8).cpp_to_string(), "-3");
        assert_eq!(true.cpp_to_string(), "1");
        assert_eq!("s".cpp_to_string(), "s");
        let mut s = String::from("v=");
        let seven: &i32 = &7;
        CppDisplay::cpp_fmt(&seven, &mut s);
        assert_eq!(s, "v=7");
    }
}

//! DAPHNE's random data generation, reproduced bit for bit.
//!
//! DAPHNE draws random numbers in exactly two DaphneDSL builtins, both implemented with the C++
//! standard library as shipped with GCC (libstdc++, x86-64 Linux, where `uint_fast32_t` — the
//! result type of `std::mt19937` and `std::minstd_rand0` — is 64 bits wide):
//!
//! * `rand(numRows, numCols, min, max, sparsity, seed)` — kernel `RandMatrix.h`, reproduced by
//!   [`rand_matrix_values`] (dense result, DAPHNE's default) and [`rand_matrix_csr`] (CSR result,
//!   only chosen by DAPHNE with `--select-matrix-repr` for sparse results);
//! * `sample(range, size, withReplacement, seed)` — kernel `Sample.h`, reproduced by
//!   [`sample_values`].
//!
//! This module provides the building blocks with libstdc++'s exact algorithms (GCC 12):
//! [`Mt19937`] (`std::mt19937`), [`MinstdRand0`] (`std::minstd_rand0`, which is
//! `std::default_random_engine`), [`UniformIntDistribution`] (Lemire's nearly-divisionless
//! downscaling for 32-bit engines, division-based downscaling otherwise, and upscaling for ranges
//! wider than the engine), [`UniformRealDistribution`] with [`generate_canonical`], and
//! [`shuffle`] (`std::shuffle`, which draws two swap positions per number when it can).
//!
//! # Seeds
//!
//! A seed of `-1` asks for a nondeterministic seed. DAPHNE then draws a seed in `[0, 2^63)` from
//! `std::random_device` (dense `rand`, `sample`) or uses the nanoseconds of the system clock (CSR
//! `rand`); here [`nondeterministic_seed`] mixes the system time with the per-process random keys
//! of the standard library's `RandomState` (which come from the operating system). Any other
//! seed, including other negative ones, is used as is; the engines only look at its low 32 bits
//! (`std::mt19937`) or its value modulo 2^31 - 1 (`std::minstd_rand0`).

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};

// ****************************************************************************
// Engines
// ****************************************************************************

/// A uniform random bit generator as seen by libstdc++'s distributions: `generate()` returns
/// values in `[MIN, MAX]` (the engine's `result_type` is `u64` on x86-64 Linux).
pub trait Urbg {
    /// `Engine::min()`.
    const MIN: u64;
    /// `Engine::max()`.
    const MAX: u64;
    /// `engine()`: the next output.
    fn generate(&mut self) -> u64;
}

const MT_N: usize = 624;
const MT_M: usize = 397;

/// `std::mt19937`: the 32-bit Mersenne Twister (MT19937) with the standard seeding.
#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; MT_N],
    index: usize,
}

impl Mt19937 {
    /// `std::mt19937::default_seed`.
    pub const DEFAULT_SEED: u32 = 5489;

    /// `std::mt19937 gen(seed)`.
    pub fn new(seed: u32) -> Self {
        let mut state = [0_u32; MT_N];
        state[0] = seed;
        for i in 1..MT_N {
            let prev = state[i - 1];
            // `i < 624`, so the cast is lossless.
            state[i] = 1_812_433_253_u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(i as u32);
        }
        Mt19937 { state, index: MT_N }
    }

    /// `std::mt19937 gen(seed)` for a 64-bit signed seed, as DAPHNE does it: the seed converts to
    /// the engine's 64-bit `result_type` and the engine keeps it modulo 2^32.
    pub fn from_i64_seed(seed: i64) -> Self {
        // Truncation to the low 32 bits is the point.
        Self::new(seed as u32)
    }

    /// The next 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= MT_N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `gen.discard(n)`: skips `n` outputs. Whole blocks of `MT_N` outputs cost one twist
    /// each and no tempering (about half a nanosecond an output), so a worker skips to its
    /// rows of a `rand` matrix quickly.
    pub fn discard(&mut self, mut n: u64) {
        let left = (MT_N - self.index.min(MT_N)) as u64;
        if n <= left {
            // `n <= MT_N` here.
            self.index += n as usize;
            return;
        }
        n -= left;
        // The current block is used up; every further whole block is one twist.
        while n > MT_N as u64 {
            self.twist();
            n -= MT_N as u64;
        }
        self.twist();
        // `1 <= n <= MT_N`: the outputs taken from the last block.
        self.index = n as usize;
    }

    fn twist(&mut self) {
        for i in 0..MT_N {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % MT_N] & 0x7fff_ffff);
            let mut v = self.state[(i + MT_M) % MT_N] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= 0x9908_b0df;
            }
            self.state[i] = v;
        }
        self.index = 0;
    }
}

impl Default for Mt19937 {
    fn default() -> Self {
        Self::new(Self::DEFAULT_SEED)
    }
}

impl fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mt19937").field("index", &self.index).finish_non_exhaustive()
    }
}

impl Urbg for Mt19937 {
    const MIN: u64 = 0;
    const MAX: u64 = u32::MAX as u64;
    fn generate(&mut self) -> u64 {
        u64::from(self.next_u32())
    }
}

/// `std::minstd_rand0` (= `std::default_random_engine` in libstdc++): the Lehmer generator
/// `x = 16807 * x mod (2^31 - 1)`, with outputs in `[1, 2^31 - 2]`.
#[derive(Clone, Debug)]
pub struct MinstdRand0 {
    x: u64,
}

impl MinstdRand0 {
    const MODULUS: u64 = 2_147_483_647;
    const MULTIPLIER: u64 = 16_807;
    /// `std::minstd_rand0::default_seed`.
    pub const DEFAULT_SEED: u64 = 1;

    /// `std::minstd_rand0 gen(seed)`: the state is `seed mod (2^31 - 1)`, or 1 if that is 0.
    pub fn new(seed: u64) -> Self {
        let x = seed % Self::MODULUS;
        MinstdRand0 { x: if x == 0 { 1 } else { x } }
    }

    /// `std::minstd_rand0 gen(seed)` for a 64-bit signed seed (converted to the engine's 64-bit
    /// unsigned `result_type` first, i.e. taken modulo 2^64).
    pub fn from_i64_seed(seed: i64) -> Self {
        // Two's-complement reinterpretation is the C++ conversion.
        Self::new(seed as u64)
    }

    /// The next output, in `[1, 2^31 - 2]`.
    pub fn next_u32(&mut self) -> u32 {
        self.x = self.x * Self::MULTIPLIER % Self::MODULUS;
        // Below 2^31 after the reduction.
        self.x as u32
    }
}

impl Default for MinstdRand0 {
    fn default() -> Self {
        Self::new(Self::DEFAULT_SEED)
    }
}

impl Urbg for MinstdRand0 {
    const MIN: u64 = 1;
    const MAX: u64 = 2_147_483_646;
    fn generate(&mut self) -> u64 {
        u64::from(self.next_u32())
    }
}

// ****************************************************************************
// Distributions
// ****************************************************************************

/// A value distribution over `T`.
pub trait Distribution<T> {
    /// Draws one value, consuming engine outputs exactly like libstdc++.
    fn sample<G: Urbg>(&self, g: &mut G) -> T;
}

/// Integer types usable with [`UniformIntDistribution`].
pub trait UniformInt: Copy {
    /// The value converted to `u64` like a C++ integral conversion (sign-extending).
    fn to_wrapping_u64(self) -> u64;
    /// The `u64` converted to this type like a C++ integral conversion (truncating).
    fn from_wrapping_u64(v: u64) -> Self;
}

macro_rules! uniform_int_impl {
    ($($t:ty),*) => {
        $(
            impl UniformInt for $t {
                fn to_wrapping_u64(self) -> u64 {
                    // Sign extension, then reinterpretation: the C++ conversion to unsigned long.
                    self as i128 as u64
                }
                fn from_wrapping_u64(v: u64) -> Self {
                    // Truncation: the C++ conversion to the narrower type.
                    v as $t
                }
            }
        )*
    };
}

uniform_int_impl!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

/// `std::uniform_int_distribution<T>(a, b)` as implemented by libstdc++ (GCC 11 and later).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UniformIntDistribution<T> {
    a: T,
    b: T,
}

impl<T: UniformInt> UniformIntDistribution<T> {
    /// The distribution over `[a, b]`. Like libstdc++ (without assertions), `a > b` is not
    /// rejected; the arithmetic then wraps exactly as in C++.
    pub fn new(a: T, b: T) -> Self {
        UniformIntDistribution { a, b }
    }

    /// The lower bound.
    pub fn a(&self) -> T {
        self.a
    }

    /// The upper bound.
    pub fn b(&self) -> T {
        self.b
    }
}

impl<T: UniformInt> Distribution<T> for UniformIntDistribution<T> {
    fn sample<G: Urbg>(&self, g: &mut G) -> T {
        let urange = self.b.to_wrapping_u64().wrapping_sub(self.a.to_wrapping_u64());
        T::from_wrapping_u64(uniform_offset(g, urange).wrapping_add(self.a.to_wrapping_u64()))
    }
}

/// A uniform value in `[0, urange]` (arithmetic in `u64`, the common type of the engine's
/// `result_type` and any standard integer type on x86-64 Linux).
fn uniform_offset<G: Urbg>(g: &mut G, urange: u64) -> u64 {
    let urngrange = G::MAX - G::MIN;
    if urngrange > urange {
        // Downscaling.
        let uerange = urange + 1;
        if urngrange == u64::MAX {
            // 64-bit engine: Lemire's method with 128-bit products.
            lemire_u64(g, uerange)
        } else if urngrange == u64::from(u32::MAX) {
            // 32-bit engine: Lemire's method with 64-bit products. `uerange <= 2^32 - 1` here.
            lemire_u32(g, uerange as u32)
        } else {
            let scaling = urngrange / uerange;
            let past = uerange * scaling;
            loop {
                let ret = g.generate() - G::MIN;
                if ret < past {
                    return ret / scaling;
                }
            }
        }
    } else if urngrange < urange {
        // Upscaling: combine a draw for the high part with one for the low part.
        let uerngrange = urngrange + 1;
        loop {
            let tmp = uerngrange.wrapping_mul(uniform_offset(g, urange / uerngrange));
            let ret = tmp.wrapping_add(g.generate() - G::MIN);
            if ret <= urange && ret >= tmp {
                return ret;
            }
        }
    } else {
        g.generate() - G::MIN
    }
}

/// libstdc++'s `_S_nd<uint64_t>`: Lemire's nearly-divisionless method for a 32-bit engine. Like
/// libstdc++, it uses the raw engine output (the engine's minimum is 0 in practice).
fn lemire_u32<G: Urbg>(g: &mut G, range: u32) -> u64 {
    let mut product = g.generate().wrapping_mul(u64::from(range));
    // The low half of the product, by design of the method.
    let mut low = product as u32;
    if low < range {
        let threshold = range.wrapping_neg() % range;
        while low < threshold {
            product = g.generate().wrapping_mul(u64::from(range));
            low = product as u32;
        }
    }
    product >> 32
}

/// libstdc++'s `_S_nd<unsigned __int128>`: Lemire's method for a 64-bit engine.
fn lemire_u64<G: Urbg>(g: &mut G, range: u64) -> u64 {
    let mut product = u128::from(g.generate()) * u128::from(range);
    // The low half of the product, by design of the method.
    let mut low = product as u64;
    if low < range {
        let threshold = range.wrapping_neg() % range;
        while low < threshold {
            product = u128::from(g.generate()) * u128::from(range);
            low = product as u64;
        }
    }
    // The high half fits in 64 bits.
    (product >> 64) as u64
}

/// Floating-point types usable with [`UniformRealDistribution`].
pub trait UniformReal: Copy {
    /// `std::generate_canonical<T, std::numeric_limits<T>::digits>(g)`.
    fn canonical<G: Urbg>(g: &mut G) -> Self;
    /// `c * (b - a) + a` in this type's arithmetic (no fused multiply-add, as in DAPHNE's build).
    fn scale(c: Self, a: Self, b: Self) -> Self;
}

/// The number of engine calls `std::generate_canonical` makes for `digits` bits of mantissa, and
/// the engine's range `r = MAX - MIN + 1`.
fn canonical_calls<G: Urbg>(digits: u32) -> (u32, u128) {
    let r = u128::from(G::MAX - G::MIN) + 1;
    // floor(log2(r)); libstdc++ computes it as log(r) / log(2) in long double, which gives the
    // same call count for every engine used here.
    let log2r = 127 - r.leading_zeros();
    let calls = digits.div_ceil(log2r).max(1);
    (calls, r)
}

/// `std::generate_canonical<double, 53>(g)` (libstdc++): `calls` engine outputs combined as
/// digits in base `r`, divided by `r^calls`; a result of 1.0 is replaced by the largest double
/// below 1.
pub fn generate_canonical_f64<G: Urbg>(g: &mut G) -> f64 {
    let (calls, r) = canonical_calls::<G>(f64::MANTISSA_DIGITS);
    let mut sum = 0.0_f64;
    let mut tmp = 1.0_f64;
    let mut tmp_exact: u128 = 1;
    for _ in 0..calls {
        // Conversions round to nearest, as in C++.
        sum += (g.generate() - G::MIN) as f64 * tmp;
        // libstdc++ multiplies in long double; r^k is exact there for the engines used here
        // (at most 64 significant bits), so one rounding to double remains.
        tmp_exact = tmp_exact.saturating_mul(r);
        tmp = tmp_exact as f64;
    }
    let ret = sum / tmp;
    if ret >= 1.0 { f64::from_bits(1.0_f64.to_bits() - 1) } else { ret }
}

/// `std::generate_canonical<float, 24>(g)` (libstdc++); see [`generate_canonical_f64`].
pub fn generate_canonical_f32<G: Urbg>(g: &mut G) -> f32 {
    let (calls, r) = canonical_calls::<G>(f32::MANTISSA_DIGITS);
    let mut sum = 0.0_f32;
    let mut tmp = 1.0_f32;
    let mut tmp_exact: u128 = 1;
    for _ in 0..calls {
        // Conversions round to nearest, as in C++.
        sum += (g.generate() - G::MIN) as f32 * tmp;
        tmp_exact = tmp_exact.saturating_mul(r);
        tmp = tmp_exact as f32;
    }
    let ret = sum / tmp;
    if ret >= 1.0 { f32::from_bits(1.0_f32.to_bits() - 1) } else { ret }
}

/// `std::generate_canonical<T, digits(T)>(g)`.
pub fn generate_canonical<T: UniformReal, G: Urbg>(g: &mut G) -> T {
    T::canonical(g)
}

impl UniformReal for f64 {
    fn canonical<G: Urbg>(g: &mut G) -> Self {
        generate_canonical_f64(g)
    }
    fn scale(c: Self, a: Self, b: Self) -> Self {
        c * (b - a) + a
    }
}

impl UniformReal for f32 {
    fn canonical<G: Urbg>(g: &mut G) -> Self {
        generate_canonical_f32(g)
    }
    fn scale(c: Self, a: Self, b: Self) -> Self {
        c * (b - a) + a
    }
}

/// `std::uniform_real_distribution<T>(a, b)` as implemented by libstdc++:
/// `generate_canonical(g) * (b - a) + a`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UniformRealDistribution<T> {
    a: T,
    b: T,
}

impl<T: UniformReal> UniformRealDistribution<T> {
    /// The distribution over `[a, b)`. Bounds are not validated (as in libstdc++ without
    /// assertions).
    pub fn new(a: T, b: T) -> Self {
        UniformRealDistribution { a, b }
    }

    /// The lower bound.
    pub fn a(&self) -> T {
        self.a
    }

    /// The upper bound.
    pub fn b(&self) -> T {
        self.b
    }
}

impl<T: UniformReal> Distribution<T> for UniformRealDistribution<T> {
    fn sample<G: Urbg>(&self, g: &mut G) -> T {
        T::scale(T::canonical(g), self.a, self.b)
    }
}

/// `std::shuffle(v.begin(), v.end(), g)` as implemented by libstdc++ (GCC 10 and later): when
/// the engine's range is at least `len^2`, each engine-based draw yields two swap positions.
pub fn shuffle<T, G: Urbg>(v: &mut [T], g: &mut G) {
    let len = v.len();
    if len == 0 {
        return;
    }
    let urngrange = G::MAX - G::MIN;
    let urange = len as u64;
    if urngrange / urange >= urange {
        let mut i = 1;
        if urange.is_multiple_of(2) {
            let pos = UniformIntDistribution::new(0_u64, 1).sample(g);
            v.swap(i, pos as usize);
            i += 1;
        }
        while i != len {
            let swap_range = i as u64 + 1;
            let x = UniformIntDistribution::new(0_u64, swap_range * (swap_range + 1) - 1).sample(g);
            // Both positions are at most `i + 1 < len`.
            v.swap(i, (x / (swap_range + 1)) as usize);
            i += 1;
            v.swap(i, (x % (swap_range + 1)) as usize);
            i += 1;
        }
        return;
    }
    for i in 1..len {
        let pos = UniformIntDistribution::new(0_u64, i as u64).sample(g);
        // At most `i`.
        v.swap(i, pos as usize);
    }
}

// ****************************************************************************
// Value types of the kernels
// ****************************************************************************

mod sealed {
    pub trait Sealed {}
}

/// The value types of `rand` and `sample`: `f64`, `f32`, `i64`, `i32`, `i8`, `u64`, `u32`, `u8`.
///
/// Floating-point types draw with [`UniformRealDistribution`], integer types with
/// [`UniformIntDistribution`]. The `DAPHNE_*` constants tell which value types DAPHNE has a
/// kernel for (other types make DAPHNE fail to find a kernel); the functions here accept all.
pub trait RandValue: Copy + PartialEq + PartialOrd + fmt::Debug + sealed::Sealed + 'static {
    /// The distribution DAPHNE uses for values of this type.
    type Distr: Distribution<Self>;
    /// Whether the type is a floating-point type.
    const IS_FLOAT: bool;
    /// The digits `generate_canonical` makes for a floating-point type (0 for integers).
    const DIGITS: u32;
    /// Whether DAPHNE instantiates the dense `rand` kernel for this value type.
    const DAPHNE_DENSE_RAND: bool;
    /// Whether DAPHNE instantiates the CSR `rand` kernel for this value type.
    const DAPHNE_CSR_RAND: bool;
    /// Whether DAPHNE instantiates the `sample` kernel for this value type.
    const DAPHNE_SAMPLE: bool;
    /// The type's zero.
    const ZERO: Self;

    /// `distr(min, max)`.
    fn distribution(min: Self, max: Self) -> Self::Distr;
    /// `value == 0` (true for `-0.0`, false for NaN).
    fn is_zero(self) -> bool;
    /// `std::nextafter(range, 0)` converted back to this type, the upper bound used by `sample`.
    /// The computation happens in `double` even for `float` and integers.
    fn sample_upper_bound(self) -> Self;
    /// The value converted to `double` (for `fmod`).
    fn to_f64(self) -> f64;
    /// `static_cast<T>(v)` for an integer `v`.
    fn from_i64(v: i64) -> Self;
    /// `static_cast<T>(v)` for an index `v`.
    fn from_u64(v: u64) -> Self;
    /// `static_cast<size_t>(self)`, wrapping (used for integer types only).
    fn to_size(self) -> u64;
    /// A key under which equal values (in the sense of `==`) collide; `None` for NaN, which is
    /// never equal to anything.
    fn eq_key(self) -> Option<u64>;
    /// How many values of the type lie in `[0, self]` for `self >= 0` (`u64::MAX` when more,
    /// or for NaN).
    fn values_from_zero(self) -> u64;
}

macro_rules! rand_value_float {
    ($t:ty, $dense:expr, $csr:expr, $sample:expr) => {
        impl sealed::Sealed for $t {}
        impl RandValue for $t {
            type Distr = UniformRealDistribution<$t>;
            const IS_FLOAT: bool = true;
            const DIGITS: u32 = <$t>::MANTISSA_DIGITS;
            const DAPHNE_DENSE_RAND: bool = $dense;
            const DAPHNE_CSR_RAND: bool = $csr;
            const DAPHNE_SAMPLE: bool = $sample;
            const ZERO: Self = 0.0;
            fn distribution(min: Self, max: Self) -> Self::Distr {
                UniformRealDistribution::new(min, max)
            }
            fn is_zero(self) -> bool {
                self == 0.0
            }
            fn sample_upper_bound(self) -> Self {
                // Rounds to nearest for `float`, as the implicit C++ conversion does.
                next_toward_zero(f64::from(self)) as $t
            }
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn from_u64(v: u64) -> Self {
                v as $t
            }
            fn to_size(self) -> u64 {
                self as u64
            }
            fn eq_key(self) -> Option<u64> {
                if self.is_nan() {
                    None
                } else if self == 0.0 {
                    Some(0)
                } else {
                    Some(u64::from(self.to_bits()))
                }
            }
            fn values_from_zero(self) -> u64 {
                // Non-negative floats are ordered as their bits.
                if self.is_nan() { u64::MAX } else { u64::from(self.abs().to_bits()).saturating_add(1) }
            }
        }
    };
}

macro_rules! rand_value_int {
    ($t:ty, $dense:expr, $csr:expr, $sample:expr) => {
        impl sealed::Sealed for $t {}
        impl RandValue for $t {
            type Distr = UniformIntDistribution<$t>;
            const IS_FLOAT: bool = false;
            const DIGITS: u32 = 0;
            const DAPHNE_DENSE_RAND: bool = $dense;
            const DAPHNE_CSR_RAND: bool = $csr;
            const DAPHNE_SAMPLE: bool = $sample;
            const ZERO: Self = 0;
            fn distribution(min: Self, max: Self) -> Self::Distr {
                UniformIntDistribution::new(min, max)
            }
            fn is_zero(self) -> bool {
                self == 0
            }
            fn sample_upper_bound(self) -> Self {
                // double -> integer conversion truncates toward zero (the value is in range).
                next_toward_zero(self as f64) as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn from_u64(v: u64) -> Self {
                v as $t
            }
            fn to_size(self) -> u64 {
                self.to_wrapping_u64()
            }
            fn eq_key(self) -> Option<u64> {
                Some(self.to_wrapping_u64())
            }
            fn values_from_zero(self) -> u64 {
                self.to_wrapping_u64().saturating_add(1)
            }
        }
    };
}

rand_value_float!(f64, true, true, true);
rand_value_float!(f32, true, true, false);
rand_value_int!(i64, true, true, true);
rand_value_int!(i32, true, false, false);
rand_value_int!(i8, false, false, false);
rand_value_int!(u64, false, false, true);
rand_value_int!(u32, true, false, false);
rand_value_int!(u8, true, false, false);

/// `std::nextafter(x, 0.0)`.
fn next_toward_zero(x: f64) -> f64 {
    if x.is_nan() || x == 0.0 { x } else { f64::from_bits(x.to_bits() - 1) }
}

// ****************************************************************************
// Kernels
// ****************************************************************************

/// Why DAPHNE rejects the arguments of `rand` or `sample`. `Display` gives DAPHNE's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RandError {
    /// `rand` with `numRows == 0`.
    NumRowsZero,
    /// `rand` with `numCols == 0`.
    NumColsZero,
    /// `rand` with `min > max`.
    MinGreaterThanMax,
    /// `rand` with `min == 0 && max == 0`.
    MinAndMaxZero,
    /// `rand` with a sparsity outside `[0, 1]`.
    SparsityOutOfRange,
    /// `sample` with `size <= 0` (after conversion of the size to `int64_t`).
    SampleSizeNotPositive,
    /// `sample` with `range <= 0`.
    SampleRangeNotPositive,
    /// `sample` of integers without replacement and `range < size`.
    SampleRangeSmallerThanSize,
    /// The result does not fit in memory (DAPHNE fails to allocate it).
    TooLarge,
    /// `sample` of floating-point values without replacement from a range with fewer than
    /// `size` values (DAPHNE loops for ever).
    SampleRangeTooFewValues,
}

impl fmt::Display for RandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RandError::NumRowsZero => "RandMatrix - numRows must be > 0",
            RandError::NumColsZero => "RandMatrix - numCols must be > 0",
            RandError::MinGreaterThanMax => "RandMatrix - min must be <= max",
            RandError::MinAndMaxZero => {
                "RandMatrix - min and max must not both be zero, consider setting sparsity to zero instead"
            }
            RandError::SparsityOutOfRange => "sparsity has to be in the interval [0.0, 1.0]",
            RandError::SampleSizeNotPositive => "size (rows) must be > 0",
            RandError::SampleRangeNotPositive => "range must be > 0",
            RandError::SampleRangeSmallerThanSize => "if no duplicates are allowed, then must be range >= size",
            RandError::TooLarge => "std::bad_alloc",
            RandError::SampleRangeTooFewValues => "the range holds fewer distinct values than size",
        })
    }
}

impl std::error::Error for RandError {}

/// A nondeterministic seed in `[0, 2^63)`, standing in for DAPHNE's draws from
/// `std::random_device` / the system clock when a script passes seed `-1`.
pub fn nondeterministic_seed() -> i64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos);
    // Keep 63 bits: DAPHNE's seed distribution is uniform_int_distribution<int64_t>() = [0, 2^63 - 1].
    (h.finish() >> 1) as i64
}

/// The seed DAPHNE actually uses: `seed`, or a nondeterministic one for `-1`.
pub fn resolve_seed(seed: i64) -> i64 {
    if seed == -1 { nondeterministic_seed() } else { seed }
}

/// `size_t(x)` for a non-negative rounded double, as compiled for x86-64 (NaN gives 2^63).
fn double_to_size(x: f64) -> u64 {
    if x.is_nan() { 1 << 63 } else { x as u64 }
}

/// DAPHNE's checks of `rand`'s arguments, which come before any allocation.
pub fn validate_rand<T: RandValue>(
    num_rows: usize,
    num_cols: usize,
    min: T,
    max: T,
    sparsity: f64,
) -> Result<(), RandError> {
    if num_rows == 0 {
        return Err(RandError::NumRowsZero);
    }
    if num_cols == 0 {
        return Err(RandError::NumColsZero);
    }
    if min > max {
        return Err(RandError::MinGreaterThanMax);
    }
    if min.is_zero() && max.is_zero() {
        return Err(RandError::MinAndMaxZero);
    }
    // Written like DAPHNE's check so that NaN passes (as it does in DAPHNE).
    #[allow(clippy::manual_range_contains)]
    if sparsity < 0.0 || sparsity > 1.0 {
        return Err(RandError::SparsityOutOfRange);
    }
    Ok(())
}

/// Draws a non-zero value (zeros are re-drawn).
fn draw_non_zero<T: RandValue, G: Urbg>(distr: &T::Distr, g: &mut G) -> T {
    loop {
        let v = distr.sample(g);
        if !v.is_zero() {
            return v;
        }
    }
}

/// DAPHNE's `rand(numRows, numCols, min, max, sparsity, seed)` with a dense result (its default):
/// the row-major values, bit-identical to DAPHNE's `RandMatrix<DenseMatrix<T>, T>`.
///
/// `sparsity` is the fraction of non-zero cells. Non-zero values are drawn uniformly from
/// `[min, max)` (floating point) or `[min, max]` (integers) with an mt19937 seeded with `seed`,
/// re-drawing zeros. For `sparsity >= 0.5`, every cell is filled first and then
/// `round((1 - sparsity) * numCols * numRows)` cells are set to zero; otherwise all cells start at
/// zero and `round(sparsity * numCols * numRows)` cells receive a value (drawn in row-major order
/// of the chosen cells). The cells are chosen by selection sampling (Knuth's algorithm S) with a
/// second mt19937 seeded with `seed * 3`, whose draws come from `uniform_int_distribution<int>`
/// over `[0, numCols * numRows - 1]`: cell `i` is taken if `draw mod (cells - i)` is below the
/// number still to choose. A seed of `-1` is replaced by [`nondeterministic_seed`].
///
/// Like DAPHNE, a range that only contains zero-valued results (impossible after validation for
/// integers) would loop forever.
pub fn rand_matrix_values<T: RandValue>(
    num_rows: usize,
    num_cols: usize,
    min: T,
    max: T,
    sparsity: f64,
    seed: i64,
) -> Result<Vec<T>, RandError> {
    validate_rand(num_rows, num_cols, min, max, sparsity)?;
    let cells = num_rows.checked_mul(num_cols).ok_or(RandError::TooLarge)?;
    let seed = resolve_seed(seed);
    let all = RandStream { num_rows, num_cols, min, max, sparsity, seed, keep_zeros: false };
    Ok(all.cells(0..cells, RandPos::default())?.0)
}

/// Where the stream of a dense `rand` stands before a cell: the outputs drawn so far from its
/// value engine and from its index engine, and the cells chosen so far. A worker that makes
/// rows of a `rand` matrix starts from the position before its first cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RandPos {
    pub value_words: u64,
    pub index_words: u64,
    pub chosen: u64,
}

/// An engine that counts the outputs taken from it.
struct Counted<'g> {
    engine: &'g mut Mt19937,
    words: u64,
}

impl Urbg for Counted<'_> {
    const MIN: u64 = Mt19937::MIN;
    const MAX: u64 = Mt19937::MAX;
    fn generate(&mut self) -> u64 {
        self.words += 1;
        self.engine.generate()
    }
}

/// A dense `rand` matrix by cells (its seed resolved: never `-1`), made a range of cells at a
/// time: the cells of [`rand_matrix_values`] from any stream position.
///
/// The two engines are consumed in cell order (the value engine by every cell when the matrix
/// is filled first, else by the chosen cells; the index engine by every cell until enough are
/// chosen), so a range of cells needs only the position before it: each engine skips
/// (`Mt19937::discard`) the outputs the cells before took. That position depends on those
/// cells when a draw is re-drawn (a zero value, an integer draw the distribution rejects) or
/// when cells are chosen at random; [`RandStream::guess`] is the position if nothing before was
/// re-drawn, which the caller confirms by the positions the ranges before end at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandStream<T> {
    pub num_rows: usize,
    pub num_cols: usize,
    pub min: T,
    pub max: T,
    pub sparsity: f64,
    pub seed: i64,
    /// Whether a zero drawn stays (`sample`'s draws) or is drawn again (`rand`'s values).
    pub keep_zeros: bool,
}

impl<T: RandValue> RandStream<T> {
    /// The number of cells chosen (to be zeroed when the matrix is filled first, else to get a
    /// value), and whether the matrix is filled first.
    fn plan(&self) -> (u64, bool) {
        let fill_first = self.sparsity >= 0.5;
        let (n, m) = (self.num_rows as f64, self.num_cols as f64);
        let limit = if fill_first {
            double_to_size(((1.0 - self.sparsity) * m * n).round())
        } else {
            double_to_size((self.sparsity * m * n).round())
        };
        (limit, fill_first)
    }

    /// The position before cell `cell` when no draw before it was re-drawn; `None` when the
    /// position depends on the cells before (cells chosen at random).
    pub fn guess(&self, cell: usize) -> Option<RandPos> {
        self.num_rows.checked_mul(self.num_cols)?;
        let (limit, fill_first) = self.plan();
        if limit > 0 {
            return None;
        }
        let per_cell = if !fill_first {
            0
        } else if T::IS_FLOAT {
            u64::from(canonical_calls::<Mt19937>(T::DIGITS).0)
        } else {
            // One output per draw when the range fits the engine's, else two (libstdc++'s
            // upscaling); rejections aside.
            let range = (self.max.to_f64() - self.min.to_f64()).abs();
            if range < 4_294_967_296.0 { 1 } else { 2 }
        };
        Some(RandPos { value_words: per_cell.checked_mul(cell as u64)?, index_words: 0, chosen: 0 })
    }

    /// The values of cells `range` (row-major), from the stream position `at` before the first
    /// of them; and the position after the last.
    pub fn cells(&self, range: std::ops::Range<usize>, at: RandPos) -> Result<(Vec<T>, RandPos), RandError> {
        if !self.keep_zeros {
            // `rand`'s checks (`sample` checks its own: its range may leave only zero).
            validate_rand(self.num_rows, self.num_cols, self.min, self.max, self.sparsity)?;
        }
        let cells = self.num_rows.checked_mul(self.num_cols).ok_or(RandError::TooLarge)?;
        if range.start > range.end || range.end > cells {
            return Err(RandError::TooLarge);
        }
        let mut value_engine = Mt19937::from_i64_seed(self.seed);
        value_engine.discard(at.value_words);
        let mut index_engine = Mt19937::from_i64_seed(self.seed.wrapping_mul(3));
        index_engine.discard(at.index_words);
        let mut gen_val = Counted { engine: &mut value_engine, words: 0 };
        let mut gen_index = Counted { engine: &mut index_engine, words: 0 };
        let distr_val = T::distribution(self.min, self.max);
        // `numCols * numRows - 1` converted to int (wraps for more than 2^31 cells, as in C++).
        let distr_index = UniformIntDistribution::new(0_i32, (cells - 1) as i32);
        let (limit, fill_first) = self.plan();

        let mut values = Vec::new();
        values.try_reserve_exact(range.len()).map_err(|_| RandError::TooLarge)?;
        if fill_first {
            for _ in range.clone() {
                values.push(if self.keep_zeros {
                    distr_val.sample(&mut gen_val)
                } else {
                    draw_non_zero::<T, _>(&distr_val, &mut gen_val)
                });
            }
        } else {
            values.resize(range.len(), T::ZERO);
        }

        let mut chosen = at.chosen;
        for (i, cell) in range.clone().zip(values.iter_mut()) {
            if chosen >= limit {
                break;
            }
            let remaining_cells = (cells - i) as f64;
            let remaining_to_choose = (limit - chosen) as f64;
            let draw = f64::from(distr_index.sample(&mut gen_index));
            if draw % remaining_cells < remaining_to_choose {
                *cell = if fill_first { T::ZERO } else { draw_non_zero::<T, _>(&distr_val, &mut gen_val) };
                chosen += 1;
            }
        }
        let end = RandPos {
            value_words: at.value_words + gen_val.words,
            index_words: at.index_words + gen_index.words,
            chosen,
        };
        Ok((values, end))
    }
}

/// The arrays of a CSR matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct CsrParts<T> {
    /// The non-zero values, row by row.
    pub values: Vec<T>,
    /// The column index of each value (sorted within each row).
    pub col_idxs: Vec<usize>,
    /// `num_rows + 1` offsets into `values`/`col_idxs`.
    pub row_offsets: Vec<usize>,
}

/// DAPHNE's `rand` with a CSR result (`RandMatrix<CSRMatrix<T>, T>`, chosen by DAPHNE only with
/// `--select-matrix-repr` when the sparsity is below its threshold).
///
/// Everything is drawn from one `std::default_random_engine` (`minstd_rand0`) seeded with `seed`
/// (`-1`: nondeterministic; DAPHNE uses the clock). First `nnz = round(numRows * numCols *
/// sparsity)` values from the value distribution (zeros are *not* re-drawn here); then the number
/// of non-zeros per row by repeatedly picking random rows (`uniform_int_distribution<size_t>`),
/// incrementing from empty rows when `sparsity <= 0.5` or decrementing from full rows otherwise;
/// then for each row a set of distinct random columns, which are the non-zero columns (sparsity
/// <= 0.5) or the zero columns (otherwise).
pub fn rand_matrix_csr<T: RandValue>(
    num_rows: usize,
    num_cols: usize,
    min: T,
    max: T,
    sparsity: f64,
    seed: i64,
) -> Result<CsrParts<T>, RandError> {
    validate_rand(num_rows, num_cols, min, max, sparsity)?;
    let cells = num_rows.checked_mul(num_cols).ok_or(RandError::TooLarge)?;
    let nnz = double_to_size((cells as f64 * sparsity).round());
    let nnz = usize::try_from(nnz).ok().filter(|&n| n <= cells).ok_or(RandError::TooLarge)?;
    let seed = resolve_seed(seed);
    let mut rng = MinstdRand0::from_i64_seed(seed);
    let distr_val = T::distribution(min, max);
    let distr_row = UniformIntDistribution::new(0_usize, num_rows - 1);
    let distr_col = UniformIntDistribution::new(0_usize, num_cols - 1);

    let mut values = Vec::new();
    values.try_reserve_exact(nnz).map_err(|_| RandError::TooLarge)?;
    for _ in 0..nnz {
        values.push(distr_val.sample(&mut rng));
    }

    let fill_up = sparsity <= 0.5;
    let mut per_row: Vec<usize>;
    if fill_up {
        per_row = vec![0; num_rows];
        let mut assigned = 0;
        while assigned < nnz {
            let r = distr_row.sample(&mut rng);
            if per_row[r] < num_cols {
                per_row[r] += 1;
                assigned += 1;
            }
        }
    } else {
        per_row = vec![num_cols; num_rows];
        let mut assigned = cells;
        while assigned > nnz {
            let r = distr_row.sample(&mut rng);
            if per_row[r] > 0 {
                per_row[r] -= 1;
                assigned -= 1;
            }
        }
    }

    let mut col_idxs = Vec::with_capacity(nnz);
    for &n in &per_row {
        let mut drawn = BTreeSet::new();
        if fill_up {
            while drawn.len() < n {
                drawn.insert(distr_col.sample(&mut rng));
            }
            col_idxs.extend(drawn);
        } else {
            while drawn.len() < num_cols - n {
                drawn.insert(distr_col.sample(&mut rng));
            }
            col_idxs.extend((0..num_cols).filter(|c| !drawn.contains(c)));
        }
    }

    let mut row_offsets = Vec::with_capacity(num_rows + 1);
    row_offsets.push(0);
    let mut total = 0;
    for &n in &per_row {
        total += n;
        row_offsets.push(total);
    }
    Ok(CsrParts { values, col_idxs, row_offsets })
}

/// DAPHNE's checks of `sample`'s arguments, which come before any allocation.
pub fn validate_sample<T: RandValue>(range: T, size: usize, with_replacement: bool) -> Result<(), RandError> {
    // DAPHNE passes the size_t size on as int64_t.
    let size = size as i64;
    if size <= 0 {
        return Err(RandError::SampleSizeNotPositive);
    }
    if range <= T::ZERO {
        return Err(RandError::SampleRangeNotPositive);
    }
    if !with_replacement && !T::IS_FLOAT && range < T::from_i64(size) {
        return Err(RandError::SampleRangeSmallerThanSize);
    }
    Ok(())
}

/// Ranges up to this size are sampled without replacement exactly as DAPHNE does, by a scan
/// over every candidate below the last one taken (about 7 ns per candidate in a release build:
/// at most half a minute); larger ranges by [`sample_floyd`], in time linear in the size.
pub const SAMPLE_SCAN_LIMIT: u64 = 1 << 32;

/// How many draws in a row may repeat values already taken before `sample` of floating-point
/// values without replacement gives up (DAPHNE would loop for ever).
const MAX_REDRAWS: u32 = 1 << 24;

/// DAPHNE's `sample(range, size, withReplacement, seed)`: a `size x 1` column of values in
/// `[0, range)`, bit-identical to `Sample<DenseMatrix<T>, T>` wherever DAPHNE finishes.
///
/// Values come from an mt19937 seeded with `seed` (`-1`: nondeterministic) and the distribution
/// over `[0, nextafter(range, 0)]` (computed in double; for integers this is `range - 1` unless
/// `range` exceeds 2^53). With replacement, `size` draws. Without replacement, floating-point
/// draws are repeated until unseen (where the range holds fewer than `size` values, or draws
/// keep repeating [`MAX_REDRAWS`] times, DAPHNE loops for ever; this is an error);
/// integers are chosen by selection sampling over `0..range` (candidate `i` is taken if
/// `draw mod (range - i)` is below the number still to choose, so this runs over up to `range`
/// candidates) and then shuffled with [`shuffle`]. The scan is linear in the range, so ranges
/// above [`SAMPLE_SCAN_LIMIT`] are sampled by Floyd's algorithm from the same generator
/// instead: other values than DAPHNE's, whose scan takes from about half a minute just above
/// the limit to centuries (`sample(2^63 - 1, 5, false, 1)`).
pub fn sample_values<T: RandValue>(
    range: T,
    size: usize,
    with_replacement: bool,
    seed: i64,
) -> Result<Vec<T>, RandError> {
    validate_sample(range, size, with_replacement)?;
    let len = size;
    let mut values = Vec::new();
    values.try_reserve_exact(len).map_err(|_| RandError::TooLarge)?;

    let seed = resolve_seed(seed);
    let mut rng = Mt19937::from_i64_seed(seed);
    let upper = range.sample_upper_bound();
    let distr = T::distribution(T::ZERO, upper);

    if with_replacement {
        // One draw per value: `RandStream` with zeros kept, which makes any range of them.
        let stream =
            RandStream { num_rows: len, num_cols: 1, min: T::ZERO, max: upper, sparsity: 1.0, seed, keep_zeros: true };
        return Ok(stream.cells(0..len, RandPos::default())?.0);
    } else if T::IS_FLOAT {
        if len as u64 > upper.values_from_zero() {
            return Err(RandError::SampleRangeTooFewValues);
        }
        let mut seen = HashSet::new();
        for _ in 0..len {
            let mut v = distr.sample(&mut rng);
            let mut redraws = 0;
            while v.eq_key().is_some_and(|k| seen.contains(&k)) {
                redraws += 1;
                if redraws > MAX_REDRAWS {
                    return Err(RandError::SampleRangeTooFewValues);
                }
                v = distr.sample(&mut rng);
            }
            values.push(v);
            if let Some(k) = v.eq_key() {
                seen.insert(k);
            }
        }
    } else if range.to_size() > SAMPLE_SCAN_LIMIT {
        values.extend(sample_floyd(range.to_size(), len as u64, &mut rng).into_iter().map(T::from_u64));
        shuffle(&mut values, &mut rng);
    } else {
        let range_size = range.to_size();
        let mut candidate: u64 = 0;
        // DAPHNE tests `fmod(draw, remaining candidates) < remaining to choose` in doubles; below
        // the scan's limit every operand is an integer below 2^53, exact as a double, so the
        // integer remainder is the same test (and much faster).
        while candidate < range_size && values.len() < len {
            let remaining_candidates = range_size - candidate;
            let draw = distr.sample(&mut rng).to_size();
            // Mostly below twice the candidates left: a subtraction instead of a division.
            let rem = if draw < remaining_candidates {
                draw
            } else if draw - remaining_candidates < remaining_candidates {
                draw - remaining_candidates
            } else {
                draw % remaining_candidates
            };
            if rem < (len - values.len()) as u64 {
                values.push(T::from_u64(candidate));
            }
            candidate += 1;
        }
        // Unreachable in practice: `range >= size` guarantees enough candidates are taken.
        values.resize(len, T::ZERO);
        shuffle(&mut values, &mut rng);
    }
    Ok(values)
}

/// Floyd's algorithm: `size` distinct values of `0..range` (`size <= range`), one draw from
/// `g` for each, in the order taken.
pub fn sample_floyd<G: Urbg>(range: u64, size: u64, g: &mut G) -> Vec<u64> {
    let mut taken = HashSet::new();
    let mut values = Vec::new();
    for j in range - size..range {
        let t = UniformIntDistribution::new(0, j).sample(g);
        let v = if taken.insert(t) { t } else { j };
        if v == j {
            taken.insert(j);
        }
        values.push(v);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_skips_outputs_as_drawing_them_does() {
        for start in [0_u64, 1, 623, 624, 625, 1000] {
            for n in [0_u64, 1, 2, 623, 624, 625, 1247, 1248, 1249, 5000] {
                let (mut a, mut b) = (Mt19937::new(7), Mt19937::new(7));
                a.discard(start);
                (0..start).for_each(|_| {
                    b.next_u32();
                });
                a.discard(n);
                (0..n).for_each(|_| {
                    b.next_u32();
                });
                assert_eq!((a.next_u32(), a.next_u32()), (b.next_u32(), b.next_u32()), "start {start}, n {n}");
            }
        }
    }

    /// Cuts a `rand` matrix into ranges of cells made each from the position the range before
    /// ended at, and from the guess where there is one.
    fn by_ranges<T: RandValue + std::fmt::Debug>(s: RandStream<T>, cuts: &[usize]) -> (Vec<T>, bool) {
        let mut out = Vec::new();
        let mut at = RandPos::default();
        let mut guesses_right = true;
        for w in cuts.windows(2) {
            if let Some(g) = s.guess(w[0]) {
                guesses_right &= g == at;
            } else {
                guesses_right = false;
            }
            let (cells, end) = s.cells(w[0]..w[1], at).unwrap();
            out.extend(cells);
            at = end;
        }
        (out, guesses_right)
    }

    #[test]
    fn rand_by_ranges_is_the_whole_matrix() {
        let cuts = [0, 1, 7, 300, 301, 1000, 1200];
        let dense =
            RandStream { num_rows: 40, num_cols: 30, min: 0.0, max: 1.0, sparsity: 1.0, seed: 42, keep_zeros: false };
        let whole = rand_matrix_values(40, 30, 0.0, 1.0, 1.0, 42).unwrap();
        assert_eq!(by_ranges(dense, &cuts), (whole, true));
        let floats = RandStream {
            num_rows: 40,
            num_cols: 30,
            min: -1.0_f32,
            max: 3.0,
            sparsity: 1.0,
            seed: 5,
            keep_zeros: false,
        };
        assert_eq!(by_ranges(floats, &cuts), (rand_matrix_values(40, 30, -1.0_f32, 3.0, 1.0, 5).unwrap(), true));
        // Zeros drawn and re-drawn: the positions differ from the guesses, the values do not.
        let ints =
            RandStream { num_rows: 40, num_cols: 30, min: 0_i64, max: 3, sparsity: 1.0, seed: 9, keep_zeros: false };
        assert_eq!(by_ranges(ints, &cuts), (rand_matrix_values(40, 30, 0_i64, 3, 1.0, 9).unwrap(), false));
        for sparsity in [0.0, 0.3, 0.7] {
            let s =
                RandStream { num_rows: 40, num_cols: 30, min: 1.0, max: 2.0, sparsity, seed: 11, keep_zeros: false };
            assert_eq!(by_ranges(s, &cuts).0, rand_matrix_values(40, 30, 1.0, 2.0, sparsity, 11).unwrap());
        }
    }

    #[test]
    fn mt19937_10000th_output() {
        let mut g = Mt19937::default();
        g.discard(9999);
        assert_eq!(g.next_u32(), 4_123_659_995);
    }

    #[test]
    fn mt19937_first_outputs() {
        let mut g = Mt19937::new(5489);
        assert_eq!(g.next_u32(), 3_499_211_612);
        assert_eq!(g.next_u32(), 581_869_302);
        // Seeds are taken modulo 2^32.
        let mut a = Mt19937::from_i64_seed(-1);
        let mut b = Mt19937::new(u32::MAX);
        let mut c = Mt19937::from_i64_seed((1 << 32) - 1);
        for _ in 0..5 {
            let x = a.next_u32();
            assert_eq!(x, b.next_u32());
            assert_eq!(x, c.next_u32());
        }
    }

    #[test]
    fn minstd_rand0_10000th_output() {
        // The C++ standard requires the 10000th output of a default-constructed minstd_rand0 to
        // be 1043618065.
        let mut g = MinstdRand0::default();
        for _ in 0..9999 {
            g.next_u32();
        }
        assert_eq!(g.next_u32(), 1_043_618_065);
        // Seed 0 behaves like seed 1; seeds are reduced modulo 2^31 - 1.
        let mut z = MinstdRand0::new(0);
        let mut one = MinstdRand0::new(1);
        let mut m = MinstdRand0::new(2_147_483_648);
        let first = one.next_u32();
        assert_eq!(z.next_u32(), first);
        assert_eq!(m.next_u32(), first);
    }

    /// An engine replaying fixed outputs.
    struct Replay(Vec<u64>, usize);
    impl Urbg for Replay {
        const MIN: u64 = 0;
        const MAX: u64 = u32::MAX as u64;
        fn generate(&mut self) -> u64 {
            let v = self.0[self.1];
            self.1 += 1;
            v
        }
    }

    #[test]
    fn canonical_is_below_one() {
        let mut g = Replay(vec![u64::from(u32::MAX); 4], 0);
        assert_eq!(generate_canonical_f32(&mut g), f32::from_bits(0x3f7f_ffff));
        assert_eq!(g.1, 1, "float uses one 32-bit draw");
        let v = generate_canonical_f64(&mut g);
        assert!(v < 1.0);
        assert_eq!(g.1, 3, "double uses two 32-bit draws");
    }

    #[test]
    fn uniform_int_edge_cases() {
        let mut g = Mt19937::new(1);
        let d = UniformIntDistribution::new(5_i64, 5);
        for _ in 0..10 {
            assert_eq!(d.sample(&mut g), 5);
        }
        let d = UniformIntDistribution::new(-3_i8, 3);
        for _ in 0..1000 {
            let v = d.sample(&mut g);
            assert!((-3..=3).contains(&v));
        }
        let d = UniformIntDistribution::new(i64::MIN, i64::MAX);
        let _ = d.sample(&mut g);
        assert_eq!(d.a(), i64::MIN);
        assert_eq!(d.b(), i64::MAX);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        for n in [0_usize, 1, 2, 3, 10, 99, 1000] {
            let mut v: Vec<usize> = (0..n).collect();
            shuffle(&mut v, &mut Mt19937::new(3));
            let mut sorted = v.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn rand_errors() {
        assert_eq!(rand_matrix_values(0, 3, 0.0, 1.0, 1.0, 1), Err(RandError::NumRowsZero));
        assert_eq!(rand_matrix_values(3, 0, 0.0, 1.0, 1.0, 1), Err(RandError::NumColsZero));
        assert_eq!(rand_matrix_values(3, 3, 2.0, 1.0, 1.0, 1), Err(RandError::MinGreaterThanMax));
        assert_eq!(rand_matrix_values(3, 3, 0_i64, 0, 1.0, 1), Err(RandError::MinAndMaxZero));
        assert_eq!(rand_matrix_values(3, 3, -0.0, 0.0, 1.0, 1), Err(RandError::MinAndMaxZero));
        assert_eq!(rand_matrix_values(3, 3, 0.0, 1.0, 1.5, 1), Err(RandError::SparsityOutOfRange));
        assert_eq!(rand_matrix_values(3, 3, 0.0, 1.0, -0.1, 1), Err(RandError::SparsityOutOfRange));
        assert_eq!(rand_matrix_csr(3, 3, 0.0, 1.0, 2.0, 1), Err(RandError::SparsityOutOfRange));
        assert_eq!(rand_matrix_csr(3, 3, 0_i64, 0, 0.5, 1), Err(RandError::MinAndMaxZero));
        assert_eq!(rand_matrix_values(usize::MAX, 2, 0.0, 1.0, 1.0, 1), Err(RandError::TooLarge));
        assert_eq!(RandError::MinGreaterThanMax.to_string(), "RandMatrix - min must be <= max");
        assert_eq!(RandError::SparsityOutOfRange.to_string(), "sparsity has to be in the interval [0.0, 1.0]");
    }

    #[test]
    fn sample_errors() {
        assert_eq!(sample_values(10_i64, 0, true, 1), Err(RandError::SampleSizeNotPositive));
        // A size of 2^63 or more becomes negative as int64_t.
        assert_eq!(sample_values(10_i64, 1 << 63, true, 1), Err(RandError::SampleSizeNotPositive));
        assert_eq!(sample_values(0_i64, 3, true, 1), Err(RandError::SampleRangeNotPositive));
        assert_eq!(sample_values(-1.0, 3, true, 1), Err(RandError::SampleRangeNotPositive));
        assert_eq!(sample_values(5_u64, 6, false, 1), Err(RandError::SampleRangeSmallerThanSize));
        // Floats without replacement are not checked against the size.
        assert!(sample_values(0.5, 6, false, 1).is_ok());
        assert_eq!(
            RandError::SampleRangeSmallerThanSize.to_string(),
            "if no duplicates are allowed, then must be range >= size"
        );
    }

    #[test]
    fn sample_without_replacement_of_a_huge_range_takes_time_by_its_size() {
        let v = sample_values(i64::MAX, 1000, false, 3).expect("valid");
        assert_eq!(v.iter().collect::<HashSet<_>>().len(), 1000);
        assert!(v.iter().all(|&x| x >= 0));
        let u = sample_values(u64::MAX, 5, false, 3).expect("valid");
        assert_eq!(u.iter().collect::<HashSet<_>>().len(), 5);
        // Every value of a range just above the scan's limit, in some order.
        let mut all = sample_floyd(4, 4, &mut Mt19937::new(1));
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
    }

    #[test]
    fn sample_of_more_distinct_floats_than_the_range_holds_is_an_error() {
        // [0, nextafter(5e-324, 0)] holds only 0.
        assert_eq!(sample_values(5e-324, 2, false, 1), Err(RandError::SampleRangeTooFewValues));
        assert_eq!(sample_values(5e-324, 1, false, 1), Ok(vec![0.0]));
        assert_eq!(sample_values(2e-323_f64, 4, false, 1).map(|v| v.len()), Ok(4));
    }

    #[test]
    fn sample_without_replacement_is_a_permutation_when_range_equals_size() {
        let mut v = sample_values(50_i64, 50, false, 4).expect("valid");
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn nondeterministic_seeds() {
        let a = rand_matrix_values(4, 4, 0.0, 1.0, 1.0, -1).expect("valid");
        let b = rand_matrix_values(4, 4, 0.0, 1.0, 1.0, -1).expect("valid");
        assert!(a.iter().all(|&v| (0.0..1.0).contains(&v) && v != 0.0));
        assert_ne!(a, b, "two nondeterministic seeds should (almost surely) differ");
        assert!(nondeterministic_seed() >= 0);
        assert_eq!(resolve_seed(-2), -2);
        let s = sample_values(100_i64, 10, false, -1).expect("valid");
        assert_eq!(s.len(), 10);
        let c = rand_matrix_csr(5, 5, 1_i64, 9, 0.4, -1).expect("valid");
        assert_eq!(c.values.len(), 10);
    }

    #[test]
    fn dense_sparsity_counts() {
        for (sp, nnz) in [(1.0, 100), (0.0, 0), (0.5, 50), (0.1, 10), (0.95, 95), (0.333, 33)] {
            let v = rand_matrix_values(10, 10, 1_u8, 255, sp, 77).expect("valid");
            assert_eq!(v.iter().filter(|&&x| x != 0).count(), nnz, "sparsity {sp}");
        }
    }

    #[test]
    fn nan_sparsity_fills_everything() {
        let v = rand_matrix_values(3, 3, 0.0, 1.0, f64::NAN, 5).expect("NaN passes validation");
        let dense = rand_matrix_values(3, 3, 0.0, 1.0, 1.0, 5).expect("valid");
        assert_eq!(v, dense);
        assert_eq!(rand_matrix_csr(3, 3, 0.0, 1.0, f64::NAN, 5), Err(RandError::TooLarge));
    }

    #[test]
    fn daphne_kernel_instantiations() {
        let flags = |dense: bool, csr: bool, sample: bool| (dense, csr, sample);
        assert_eq!(flags(f64::DAPHNE_DENSE_RAND, f64::DAPHNE_CSR_RAND, f64::DAPHNE_SAMPLE), (true, true, true));
        assert_eq!(flags(f32::DAPHNE_DENSE_RAND, f32::DAPHNE_CSR_RAND, f32::DAPHNE_SAMPLE), (true, true, false));
        assert_eq!(flags(i64::DAPHNE_DENSE_RAND, i64::DAPHNE_CSR_RAND, i64::DAPHNE_SAMPLE), (true, true, true));
        assert_eq!(flags(i32::DAPHNE_DENSE_RAND, i32::DAPHNE_CSR_RAND, i32::DAPHNE_SAMPLE), (true, false, false));
        assert_eq!(flags(i8::DAPHNE_DENSE_RAND, i8::DAPHNE_CSR_RAND, i8::DAPHNE_SAMPLE), (false, false, false));
        assert_eq!(flags(u64::DAPHNE_DENSE_RAND, u64::DAPHNE_CSR_RAND, u64::DAPHNE_SAMPLE), (false, false, true));
        assert_eq!(flags(u32::DAPHNE_DENSE_RAND, u32::DAPHNE_CSR_RAND, u32::DAPHNE_SAMPLE), (true, false, false));
        assert_eq!(flags(u8::DAPHNE_DENSE_RAND, u8::DAPHNE_CSR_RAND, u8::DAPHNE_SAMPLE), (true, false, false));
    }
}

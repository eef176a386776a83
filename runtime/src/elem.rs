//! The element types of matrices and scalars, with C++'s conversion semantics.
//!
//! DAPHNE computes in C++: conversions are `static_cast`s (floats truncate toward zero,
//! integers wrap modulo 2^n), integer arithmetic wraps, `%` on floats is `fmod`, and `pow`
//! on integers goes through `double`. `Elem` gives each element type these semantics.

use daphne_ir::ValueType;

use crate::format::CppDisplay;

/// A numeric element type of a matrix.
pub trait Elem: Copy + Default + PartialEq + PartialOrd + Send + Sync + std::fmt::Debug + CppDisplay + 'static {
    const VT: ValueType;
    const IS_FLOAT: bool;

    fn to_f64(self) -> f64;
    /// `static_cast<T>(double)`: truncation toward zero for integers (saturating where C++
    /// would be undefined), `!= 0` for bool.
    fn from_f64(v: f64) -> Self;
    /// The value as a wide integer (floats truncated toward zero, saturating).
    fn to_i128(self) -> i128;
    /// `static_cast<T>` of an integer: wrapping for integers, `!= 0` for bool.
    fn from_i128(v: i128) -> Self;

    /// Converts with C++ `static_cast` semantics.
    fn cast<U: Elem>(self) -> U {
        if U::IS_FLOAT || Self::IS_FLOAT { U::from_f64(self.to_f64()) } else { U::from_i128(self.to_i128()) }
    }

    fn is_zero(self) -> bool {
        self == Self::default()
    }

    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// Division; `None` for an integer division by zero (which crashes DAPHNE).
    fn div(self, o: Self) -> Option<Self>;
    /// `%`: `fmod` for floats, C++'s truncated remainder for integers; `None` for an integer
    /// remainder by zero.
    fn rem(self, o: Self) -> Option<Self>;
    fn neg(self) -> Self;

    fn pow(self, o: Self) -> Self {
        Self::from_f64(self.to_f64().powf(o.to_f64()))
    }

    fn from_bool(b: bool) -> Self {
        Self::from_i128(i128::from(b))
    }
}

macro_rules! int_elem {
    ($t:ty, $vt:expr) => {
        impl Elem for $t {
            const VT: ValueType = $vt;
            const IS_FLOAT: bool = false;

            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_i128(self) -> i128 {
                self as i128
            }
            fn from_i128(v: i128) -> Self {
                v as $t
            }
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }
            fn div(self, o: Self) -> Option<Self> {
                if o == 0 { None } else { Some(self.wrapping_div(o)) }
            }
            fn rem(self, o: Self) -> Option<Self> {
                if o == 0 { None } else { Some(self.wrapping_rem(o)) }
            }
            fn neg(self) -> Self {
                (0 as $t).wrapping_sub(self)
            }
        }
    };
}

int_elem!(i64, ValueType::Si64);
int_elem!(i32, ValueType::Si32);
int_elem!(i8, ValueType::Si8);
int_elem!(u64, ValueType::Ui64);
int_elem!(u32, ValueType::Ui32);
int_elem!(u8, ValueType::Ui8);

macro_rules! float_elem {
    ($t:ty, $vt:expr) => {
        impl Elem for $t {
            const VT: ValueType = $vt;
            const IS_FLOAT: bool = true;

            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_i128(self) -> i128 {
                self as i128
            }
            fn from_i128(v: i128) -> Self {
                v as $t
            }
            fn add(self, o: Self) -> Self {
                self + o
            }
            fn sub(self, o: Self) -> Self {
                self - o
            }
            fn mul(self, o: Self) -> Self {
                self * o
            }
            fn div(self, o: Self) -> Option<Self> {
                Some(self / o)
            }
            fn rem(self, o: Self) -> Option<Self> {
                Some(self % o)
            }
            fn neg(self) -> Self {
                -self
            }
            /// `x ^ 2` is `x * x`, the exact square rounded once (libm's `pow` is within about
            /// half an ULP and costs 20 times more); the JIT computes it the same way.
            fn pow(self, o: Self) -> Self {
                if o == 2.0 { self * self } else { self.powf(o) }
            }
        }
    };
}

float_elem!(f64, ValueType::F64);
float_elem!(f32, ValueType::F32);

impl Elem for bool {
    const VT: ValueType = ValueType::Bool;
    const IS_FLOAT: bool = false;

    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn to_i128(self) -> i128 {
        i128::from(self)
    }
    fn from_i128(v: i128) -> Self {
        v != 0
    }
    fn add(self, o: Self) -> Self {
        self | o
    }
    fn sub(self, o: Self) -> Self {
        self ^ o
    }
    fn mul(self, o: Self) -> Self {
        self & o
    }
    fn div(self, o: Self) -> Option<Self> {
        if o { Some(self) } else { None }
    }
    fn rem(self, o: Self) -> Option<Self> {
        if o { Some(false) } else { None }
    }
    fn neg(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_follow_cpp() {
        assert_eq!(2.9f64.cast::<i64>(), 2);
        assert_eq!((-2.9f64).cast::<i64>(), -2);
        assert_eq!((-1i64).cast::<u64>(), u64::MAX);
        assert_eq!(300i64.cast::<u8>(), 44);
        assert!(0.5f64.cast::<bool>());
        assert_eq!(u64::MAX.cast::<f64>(), 1.8446744073709552e19);
    }

    #[test]
    fn integer_arithmetic_wraps_and_reports_division_by_zero() {
        assert_eq!(i64::MAX.add(1), i64::MIN);
        assert_eq!(7i64.rem(-3), Some(1));
        assert_eq!((-7i64).rem(3), Some(-1));
        assert_eq!(1i64.div(0), None);
        assert_eq!(2i64.pow(10), 1024);
        assert_eq!(5.5f64.rem(2.0), Some(1.5));
    }
}

//! Fixed-point formats and the arithmetic primitives of the S5 integer forward pass.
//!
//! Every function here is a direct transcription of one rule of the fixed-point specification
//! (section 4 and 5 of `fxp-s5.md`, summarised in `docs/ARCHITECTURE.md`).
//! Values are carried as `i64`; the points where the upstream model computes in 32-bit integers
//! with two's-complement wrap-around are marked with [`wrap32`].
//! All right shifts are arithmetic (floor), the only rounding used inside the forward pass.
//!
//! Shift amounts are `u32` and callers guarantee they are in `0..=31`: the model validator
//! rejects every model in which one of the forward pass's shifts would fall outside that range.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A signed fixed-point format: `bits` wide, `exp` fractional bits; a value `q` stands for `q * 2^-exp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fmt {
    /// Width in bits, sign included (2..=32).
    pub bits: u32,
    /// Number of fractional bits (the exponent of the spec).
    pub exp: i32,
}

impl Fmt {
    /// A format of `bits` bits with `exp` fractional bits.
    pub const fn new(bits: u32, exp: i32) -> Self {
        Self { bits, exp }
    }

    /// Smallest representable integer, `-2^(bits-1)`.
    pub const fn min_int(self) -> i64 {
        -(1i64 << (self.bits - 1))
    }

    /// Largest representable integer, `2^(bits-1) - 1`.
    pub const fn max_int(self) -> i64 {
        (1i64 << (self.bits - 1)) - 1
    }

    /// Whether `v` fits in this format's signed range.
    pub const fn contains(self, v: i64) -> bool {
        v >= self.min_int() && v <= self.max_int()
    }
}

impl fmt::Display for Fmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Q{}.{}", self.bits, self.exp)
    }
}

/// Receives the events the arithmetic primitives can report: a value clamped by a saturation,
/// or a value changed by a 32-bit wrap-around. The chip simulator counts them; `()` ignores
/// them at no cost.
pub trait Observer {
    /// A saturation clamped a value.
    fn saturated(&mut self);
    /// A two's-complement wrap changed a value.
    fn wrapped(&mut self);
}

impl Observer for () {
    #[inline]
    fn saturated(&mut self) {}
    #[inline]
    fn wrapped(&mut self) {}
}

/// Event counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    /// Saturations that clamped a value.
    pub saturations: u64,
    /// 32-bit wrap-arounds that changed a value.
    pub wraps: u64,
}

impl Observer for Events {
    #[inline]
    fn saturated(&mut self) {
        self.saturations += 1;
    }
    #[inline]
    fn wrapped(&mut self) {
        self.wraps += 1;
    }
}

impl std::ops::AddAssign for Events {
    fn add_assign(&mut self, o: Self) {
        self.saturations += o.saturations;
        self.wraps += o.wraps;
    }
}

/// [`sat`], reporting a clamp.
#[inline]
pub fn sat_o(v: i64, bits: u32, o: &mut impl Observer) -> i64 {
    let s = sat(v, bits);
    if s != v {
        o.saturated();
    }
    s
}

/// [`wrap32`], reporting a wrap that changed the value.
#[inline]
pub fn wrap32_o(v: i64, o: &mut impl Observer) -> i64 {
    let w = wrap32(v);
    if w != v {
        o.wrapped();
    }
    w
}

/// Saturate `v` to the signed `bits`-bit range (`sat_b` of the spec). `bits` is in 1..=63.
#[inline]
pub const fn sat(v: i64, bits: u32) -> i64 {
    let hi = (1i64 << (bits - 1)) - 1;
    let lo = -(1i64 << (bits - 1));
    if v > hi {
        hi
    } else if v < lo {
        lo
    } else {
        v
    }
}

/// Two's-complement wrap to 32 bits (`wrap32` of the spec): `((v + 2^31) mod 2^32) - 2^31`.
#[inline]
pub const fn wrap32(v: i64) -> i64 {
    v as i32 as i64
}

/// Arithmetic right shift, i.e. `floor(v / 2^s)`.
#[inline]
pub const fn shr(v: i64, s: u32) -> i64 {
    v >> s
}

/// Left shift of a value that is in the 32-bit range, without wrap (the caller wraps if the spec says so).
#[inline]
pub const fn shl(v: i64, s: u32) -> i64 {
    v.wrapping_shl(s)
}

/// `align(v, e_from -> e_to)`: left shift when the exponent grows, floor right shift when it shrinks.
/// No saturation and no wrap.
#[inline]
pub const fn align(v: i64, e_from: i32, e_to: i32) -> i64 {
    if e_to >= e_from {
        shl(v, (e_to - e_from) as u32)
    } else {
        shr(v, (e_from - e_to) as u32)
    }
}

/// Whether a computation in [`requant`] wraps to 32 bits on the left shift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// int32 arithmetic: the left shift wraps before it saturates.
    Int32,
    /// int64 arithmetic (the sigmoid path): the left shift does not wrap.
    Int64,
}

/// Format change ("requant", spec 5.1) of `v` from `from` to `to`.
///
/// A left shift saturates at the OLD width (quirk Q3); a right shift floors; a narrowing then
/// saturates at the new width.
#[inline]
pub fn requant(v: i64, from: Fmt, to: Fmt, width: Width) -> i64 {
    requant_o(v, from, to, width, &mut ())
}

/// [`requant`], reporting saturations and wraps.
#[inline]
pub fn requant_o(v: i64, from: Fmt, to: Fmt, width: Width, o: &mut impl Observer) -> i64 {
    if from == to {
        return v;
    }
    let mut v = v;
    if to.exp > from.exp {
        let shifted = shl(v, (to.exp - from.exp) as u32);
        let shifted = match width {
            Width::Int32 => wrap32_o(shifted, o),
            Width::Int64 => shifted,
        };
        v = sat_o(shifted, from.bits, o);
    } else if to.exp < from.exp {
        v = shr(v, (from.exp - to.exp) as u32);
    }
    if from.bits > to.bits {
        v = sat_o(v, to.bits, o);
    }
    v
}

/// Addition with an explicit result format whose exponent was chosen at run time upstream
/// ("compute_best" add, spec 5.4; frozen exponents in loisim).
///
/// Both operands are aligned to the larger of their exponents, each saturating at its own width
/// (quirk Q2); the int32 sum is then moved to the result exponent and saturated.
#[inline]
pub fn add_rt(a: i64, fa: Fmt, c: i64, fc: Fmt, res: Fmt) -> i64 {
    add_rt_o(a, fa, c, fc, res, &mut ())
}

/// [`add_rt`], reporting saturations and wraps.
#[inline]
pub fn add_rt_o(a: i64, fa: Fmt, c: i64, fc: Fmt, res: Fmt, o: &mut impl Observer) -> i64 {
    let agg = fa.exp.max(fc.exp);
    let a = if agg > fa.exp {
        sat_o(wrap32_o(shl(a, (agg - fa.exp) as u32), o), fa.bits, o)
    } else {
        a
    };
    let c = if agg > fc.exp {
        sat_o(wrap32_o(shl(c, (agg - fc.exp) as u32), o), fc.bits, o)
    } else {
        c
    };
    let s = wrap32_o(a + c, o);
    let r = if res.exp >= agg {
        wrap32_o(shl(s, (res.exp - agg) as u32), o)
    } else {
        shr(s, (agg - res.exp) as u32)
    };
    sat_o(r, res.bits, o)
}

/// Elementwise multiply with result format `res` (spec 5.5): the product is exact, it is floor-
/// shifted by `e_a + e_c - e_res`, cast to int32 (wrap) and saturated.
#[inline]
pub fn mul(a: i64, ea: i32, c: i64, ec: i32, res: Fmt) -> i64 {
    mul_o(a, ea, c, ec, res, &mut ())
}

/// [`mul`], reporting saturations and wraps.
#[inline]
pub fn mul_o(a: i64, ea: i32, c: i64, ec: i32, res: Fmt, o: &mut impl Observer) -> i64 {
    let s = (ea + ec - res.exp) as u32;
    sat_o(wrap32_o(shr(a * c, s), o), res.bits, o)
}

/// Saturating addition of two operands that already share the result exponent (spec 5.3).
#[inline]
pub fn add_sat(a: i64, c: i64, bits: u32) -> i64 {
    sat(a + c, bits)
}

/// ReLU, format unchanged.
#[inline]
pub const fn relu(v: i64) -> i64 {
    if v > 0 { v } else { 0 }
}

/// Complex ReLU as NumPy's lexicographic maximum of `re + i*im` and 0 (spec 6.7, quirk Q5):
/// the value is kept whole when `re > 0`, or `re == 0 && im > 0`, and zeroed whole otherwise.
#[inline]
pub const fn complex_relu(re: i64, im: i64) -> (i64, i64) {
    if re > 0 || (re == 0 && im > 0) {
        (re, im)
    } else {
        (0, 0)
    }
}

/// Floor a float input value into a format, with saturation (spec 6.0).
///
/// `x` is the float32 value after the preprocessing offset. Returns `None` for NaN or infinity.
pub fn quantize_input(x: f32, fmt: Fmt) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    let scaled = f64::from(x) * libm::exp2(f64::from(fmt.exp));
    let floored = libm::floor(scaled);
    // A finite f32 times 2^exp with |exp| <= 63 stays far inside the f64 range.
    let clamped = floored.clamp(fmt.min_int() as f64, fmt.max_int() as f64);
    Some(clamped as i64)
}

/// Round a float parameter into a format the way the upstream exporter does (spec 3):
/// `sat_b(RNE(w * 2^exp))`. Returns `None` for NaN or infinity.
pub fn quantize_param(w: f64, fmt: Fmt) -> Option<i64> {
    if !w.is_finite() {
        return None;
    }
    let scaled = w * libm::exp2(f64::from(fmt.exp));
    let r = scaled.round_ties_even();
    Some(r.clamp(fmt.min_int() as f64, fmt.max_int() as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sat_clamps_to_signed_range() {
        assert_eq!(sat(40_000, 16), 32_767);
        assert_eq!(sat(-40_000, 16), -32_768);
        assert_eq!(sat(-128, 8), -128);
        assert_eq!(sat(128, 8), 127);
    }

    #[test]
    fn wrap32_wraps_like_int32() {
        assert_eq!(wrap32(1 << 31), -(1 << 31));
        assert_eq!(wrap32((1 << 32) + 5), 5);
        assert_eq!(wrap32(-(1 << 31) - 1), (1 << 31) - 1);
    }

    #[test]
    fn right_shift_floors_toward_minus_infinity() {
        assert_eq!(shr(-1, 1), -1);
        assert_eq!(shr(-3, 1), -2);
        assert_eq!(shr(3, 1), 1);
    }

    #[test]
    fn requant_left_shift_saturates_at_old_width() {
        // Quirk Q3: 16-bit value moved from exp 11 to exp 15 saturates at 16 bits.
        let v = requant(4096, Fmt::new(16, 11), Fmt::new(16, 15), Width::Int32);
        assert_eq!(v, 32_767);
        let v = requant(-4096, Fmt::new(16, 11), Fmt::new(16, 15), Width::Int32);
        assert_eq!(v, -32_768);
    }

    #[test]
    fn add_rt_saturates_each_operand_while_aligning() {
        // Quirk Q2: a gate at exp 10 aligned to a skip at exp 15 clamps the gate to +-1.
        let fa = Fmt::new(16, 10);
        let fc = Fmt::new(16, 15);
        let r = add_rt(2048, fa, 0, fc, Fmt::new(16, 12));
        // 2048 at exp 10 is 2.0; aligned to exp 15 it saturates at 32767 (~1.0), then to exp 12: 4095.
        assert_eq!(r, 4095);
    }

    #[test]
    fn complex_relu_is_lexicographic() {
        assert_eq!(complex_relu(3, -7), (3, -7));
        assert_eq!(complex_relu(-3, 7), (0, 0));
        assert_eq!(complex_relu(0, 7), (0, 7));
        assert_eq!(complex_relu(0, -7), (0, 0));
    }

    #[test]
    fn input_quantization_floors() {
        let f = Fmt::new(16, 14);
        assert_eq!(quantize_input(-1e-9, f), Some(-1));
        assert_eq!(quantize_input(0.5, f), Some(8192));
        assert_eq!(quantize_input(100.0, f), Some(32767));
        assert_eq!(quantize_input(f32::NAN, f), None);
    }

    #[test]
    fn param_quantization_rounds_half_to_even() {
        let f = Fmt::new(8, 1);
        assert_eq!(quantize_param(0.25, f), Some(0));
        assert_eq!(quantize_param(0.75, f), Some(2));
        assert_eq!(quantize_param(-0.75, f), Some(-2));
        assert_eq!(quantize_param(1000.0, f), Some(127));
    }

    fn fmt_strategy() -> impl Strategy<Value = Fmt> {
        (2u32..=32, 0i32..=20).prop_map(|(b, e)| Fmt::new(b, e))
    }

    proptest! {
        #[test]
        fn sat_result_is_in_range_and_idempotent(v in any::<i64>(), bits in 2u32..=32) {
            let s = sat(v, bits);
            prop_assert!(Fmt::new(bits, 0).contains(s));
            prop_assert_eq!(sat(s, bits), s);
            if Fmt::new(bits, 0).contains(v) { prop_assert_eq!(s, v); }
        }

        #[test]
        fn wrap32_agrees_with_i32_wrapping_ops(a in any::<i32>(), b in any::<i32>()) {
            prop_assert_eq!(wrap32(i64::from(a) + i64::from(b)), i64::from(a.wrapping_add(b)));
            prop_assert_eq!(wrap32(i64::from(a) * i64::from(b)), i64::from(a.wrapping_mul(b)));
            prop_assert_eq!(wrap32(i64::from(a) - i64::from(b)), i64::from(a.wrapping_sub(b)));
        }

        #[test]
        fn shr_is_floor_division(v in any::<i32>(), s in 0u32..=31) {
            let expected = (f64::from(v) / f64::from(2u32).powi(s as i32)).floor() as i64;
            prop_assert_eq!(shr(i64::from(v), s), expected);
        }

        #[test]
        fn shl_then_wrap_agrees_with_i32_shl(v in any::<i32>(), s in 0u32..=31) {
            prop_assert_eq!(wrap32(shl(i64::from(v), s)), i64::from(v.wrapping_shl(s)));
        }

        #[test]
        fn requant_result_fits_and_is_monotone(
            a in any::<i16>(), b in any::<i16>(), from in fmt_strategy(), to in fmt_strategy()
        ) {
            let (a, b) = (sat(i64::from(a), from.bits), sat(i64::from(b), from.bits));
            let ra = requant(a, from, to, Width::Int64);
            let rb = requant(b, from, to, Width::Int64);
            // The result always fits the narrower of the two widths.
            prop_assert!(Fmt::new(from.bits.min(to.bits), 0).contains(ra));
            // Monotone: a format change never reorders values.
            if a <= b { prop_assert!(ra <= rb); }
        }

        #[test]
        fn requant_to_more_fraction_bits_is_exact_when_it_fits(
            v in -1000i64..1000, from_exp in 0i32..8, extra in 0i32..8
        ) {
            let from = Fmt::new(24, from_exp);
            let to = Fmt::new(24, from_exp + extra);
            let r = requant(v, from, to, Width::Int32);
            prop_assert_eq!(r, v << extra);
            // And back: the round trip is the identity.
            prop_assert_eq!(requant(r, to, from, Width::Int32), v);
        }

        #[test]
        fn mul_matches_float_floor_when_no_saturation(
            a in -30_000i64..30_000, c in -30_000i64..30_000, ea in 0i32..15, ec in 0i32..15, er in 0i32..15
        ) {
            prop_assume!(ea + ec >= er);
            let res = Fmt::new(32, er);
            let got = mul(a, ea, c, ec, res);
            let exact = ((a * c) as f64 / 2f64.powi(ea + ec - er)).floor() as i64;
            prop_assert_eq!(got, sat(wrap32(exact), 32));
        }

        #[test]
        fn add_rt_is_exact_sum_when_aligned_and_in_range(
            a in -10_000i64..10_000, c in -10_000i64..10_000, e in 0i32..12
        ) {
            let f = Fmt::new(16, e);
            prop_assert_eq!(add_rt(a, f, c, f, f), sat(a + c, 16));
        }

        #[test]
        fn quantize_param_error_is_at_most_half_a_step_inside_range(w in -0.9f64..0.9, e in 0i32..7) {
            let f = Fmt::new(8, e);
            let q = quantize_param(w, f).unwrap_or_default();
            let step = 2f64.powi(-e);
            let real = q as f64 * step;
            if f.contains((w / step).round() as i64) {
                prop_assert!((real - w).abs() <= step / 2.0 + 1e-12);
            }
        }
    }
}

//! gemmlowp / TFLite fixed-point primitives on `i32`.
//!
//! Values are Q-format numbers in the gemmlowp sense: a raw `i32` with
//! `integer_bits` integer bits (excluding sign) and `31 - integer_bits`
//! fractional bits. All operations reproduce gemmlowp's scalar reference and
//! TFLite's double-rounding `MultiplyByQuantizedMultiplier` bit for bit on
//! their valid domain; outside it (where C++ would hit undefined behaviour or
//! an assertion) they wrap or clamp instead of panicking, as documented per
//! function.

/// The raw value of 1.0 in a Q0.31 number (saturated: `i32::MAX`).
pub const Q0_ONE: i32 = i32::MAX;

/// `x * 2^shift` modulo 2^32 (two's complement), i.e. what `x * (1 << shift)`
/// yields in C++ when it overflows on real hardware. `shift >= 32` gives 0 and
/// `shift <= 0` returns `x` unchanged.
#[inline]
pub fn shl_wrapping(x: i32, shift: i32) -> i32 {
    if shift <= 0 {
        x
    } else if shift >= 32 {
        0
    } else {
        ((x as u32) << shift) as i32
    }
}

/// Rounded, saturated high half of the doubled product: `round(a * b / 2^31)`
/// with ties away from zero, saturating `i32::MIN * i32::MIN` to `i32::MAX`
/// (ARM `VQRDMULH`).
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Truncating division, as in C++.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent` rounded to nearest with ties away from zero (gemmlowp
/// `RoundingDivideByPOT`). gemmlowp requires `0 <= exponent <= 31`; here a
/// negative exponent is treated as 0 and exponents up to 63 are computed
/// exactly in 64-bit arithmetic.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent <= 0 {
        return x;
    }
    if exponent <= 31 {
        let mask: i32 = ((1i64 << exponent) - 1) as i32;
        let remainder = x & mask;
        let threshold = (mask >> 1) + i32::from(x < 0);
        (x >> exponent) + i32::from(remainder > threshold)
    } else {
        let e = exponent.min(63) as u32;
        let x = i64::from(x);
        let mask: i64 = if e >= 63 { i64::MAX } else { (1i64 << e) - 1 };
        let remainder = x & mask;
        let threshold = (mask >> 1) + i64::from(x < 0);
        ((x >> e) + i64::from(remainder > threshold)) as i32
    }
}

/// Multiplication by a power of two, `x * 2^exponent`: saturating for
/// positive exponents, rounding ([`rounding_divide_by_pot`]) for negative ones
/// (gemmlowp `SaturatingRoundingMultiplyByPOT`).
#[inline]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent == 0 {
        x
    } else if exponent < 0 {
        rounding_divide_by_pot(x, exponent.saturating_neg())
    } else {
        let threshold: i32 = if exponent >= 31 {
            0
        } else {
            (1i32 << (31 - exponent)) - 1
        };
        if x > threshold {
            i32::MAX
        } else if x < threshold.wrapping_neg() {
            i32::MIN
        } else {
            shl_wrapping(x, exponent)
        }
    }
}

/// `(a + b) / 2` rounded to nearest, ties away from zero (gemmlowp
/// `RoundingHalfSum`, ARM `VRHADD`).
#[inline]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign: i64 = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// TFLite's default (double-rounding) `MultiplyByQuantizedMultiplier`:
/// `x * multiplier * 2^shift / 2^31`, where `shift > 0` is a left shift applied
/// before the multiply and `shift < 0` a rounding right shift after it.
/// An overflowing left shift wraps as on hardware.
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { shift.saturating_neg() };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shl_wrapping(x, left), multiplier),
        right,
    )
}

/// TFLite `MultiplyByQuantizedMultiplierSmallerThanOneExp`: rounding-doubling
/// multiply then a rounding right shift by `-left_shift` (`left_shift <= 0`;
/// a positive value is treated as 0).
#[inline]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, multiplier),
        left_shift.saturating_neg(),
    )
}

/// TFLite `MultiplyByQuantizedMultiplierGreaterThanOne`: a (wrapping) left
/// shift by `left_shift >= 0` followed by the rounding-doubling multiply.
#[inline]
pub fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    saturating_rounding_doubling_high_mul(shl_wrapping(x, left_shift), multiplier)
}

/// gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl`:
/// `exp(a)` for `a` in `[-1/4, 0)`, both Q0.31. Taylor expansion around -1/8.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
    const ONE_THIRD: i32 = 715_827_883; // 1/3
    let mul = saturating_rounding_doubling_high_mul;
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly = saturating_rounding_multiply_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        -1,
    );
    CONSTANT_TERM.wrapping_add(mul(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp `exp_on_negative_values`: `exp(a)` for `a <= 0` given as a Q
/// number with `integer_bits` integer bits; the result is Q0.31 (`exp(0)`
/// saturates to [`Q0_ONE`]). `integer_bits` is clamped to `0..=29`, the range
/// gemmlowp can instantiate.
pub fn exp_on_negative_values(a: i32, integer_bits: u32) -> i32 {
    let ib = integer_bits.min(29) as i32;
    let frac = 31 - ib;
    let one_quarter: i32 = 1 << (frac - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, ib),
    );
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);

    // exp(-2^e) for e = -2..=4, Q0.31.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for &(exponent, multiplier) in BARREL.iter() {
        if ib > exponent {
            let shift = frac + exponent;
            if remainder & (1i32 << shift) != 0 {
                result = saturating_rounding_doubling_high_mul(result, multiplier);
            }
        }
    }

    if ib > 5 {
        let clamp = -(1i32 << (36 - ib)); // -32.0
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = Q0_ONE;
    }
    result
}

/// One Newton-Raphson reciprocal iteration set shared by the two gemmlowp
/// division helpers; returns `x ≈ 1 / half_denominator` in Q2.29.
fn newton_reciprocal_q2(half_denominator: i32) -> i32 {
    const C48_OVER_17: i32 = 1_515_870_810;
    const NEG_C32_OVER_17: i32 = -1_010_580_540;
    const Q2_ONE: i32 = 1 << 29;
    let mul = saturating_rounding_doubling_high_mul;
    let mut x = C48_OVER_17.wrapping_add(mul(half_denominator, NEG_C32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = Q2_ONE.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(saturating_rounding_multiply_by_pot(mul(x, one_minus), 2));
    }
    x
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1`: `1 / (1 + a)` for `a` in
/// `[0, 1)`, input and output Q0.31.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, Q0_ONE);
    let x = newton_reciprocal_q2(half_denominator);
    // ExactMulByPot<-1> (Q2 -> Q1, same raw) then Rescale<0> (x2, saturating).
    saturating_rounding_multiply_by_pot(x, 1)
}

/// gemmlowp `one_minus_x_over_one_plus_x_for_x_in_0_1`: `(1 - a) / (1 + a)`
/// for `a` in `[0, 1)`, input and output Q0.31.
pub fn one_minus_x_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, Q0_ONE);
    let x = newton_reciprocal_q2(half_denominator);
    saturating_rounding_multiply_by_pot(x.wrapping_sub(1 << 29), 2)
}

/// gemmlowp `logistic`: `1 / (1 + exp(-a))` for `a` with `integer_bits`
/// integer bits; result Q0.31 (`logistic(0) = 2^30`).
pub fn logistic(a: i32, integer_bits: u32) -> i32 {
    if a == 0 {
        return 1 << 30;
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let positive =
        one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(abs.wrapping_neg(), integer_bits));
    if a > 0 {
        positive
    } else {
        Q0_ONE.wrapping_sub(positive)
    }
}

/// gemmlowp `tanh` for `a` with `integer_bits` integer bits; result Q0.31.
pub fn tanh(a: i32, integer_bits: u32) -> i32 {
    if a == 0 {
        return 0;
    }
    let n = if a < 0 { a } else { a.wrapping_neg() };
    // neg_tanh_on_negative_values: exp of 2n, where doubling is exact
    // (one more integer bit, same raw value).
    let t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(
        n,
        integer_bits.saturating_add(1),
    ));
    if a < 0 {
        t.wrapping_neg()
    } else {
        t
    }
}

/// TFLite `GetReciprocal`: for a positive Q(`x_integer_digits`) value `x`,
/// returns `(scale, num_bits_over_unit)` with `scale` in Q0.31 such that
/// `1/x ≈ scale * 2^-num_bits_over_unit`.
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let num_bits_over_unit = x_integer_digits.wrapping_sub(headroom_plus_one as i32);
    let shifted = if headroom_plus_one >= 32 {
        0u32
    } else {
        (x as u32) << headroom_plus_one
    };
    let shifted_sum_minus_one = shifted.wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(x: f64, integer_bits: u32) -> i32 {
        (x * (1u64 << (31 - integer_bits)) as f64).round() as i32
    }
    fn f(raw: i32, integer_bits: u32) -> f64 {
        f64::from(raw) / (1u64 << (31 - integer_bits)) as f64
    }

    #[test]
    fn srdhm_known_values() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1); // 0.5 -> 1
                                                                          // VQRDMULH nudges -0.5 up to 0 (rounding is not symmetric here).
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1); // -1.5
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 29), 1); // 0.75 -> 1
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MAX, i32::MIN),
            -i32::MAX
        );
    }

    #[test]
    fn rdbp_rounds_half_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(-3, 2), -1); // -0.75
        assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5
        assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5
        assert_eq!(rounding_divide_by_pot(-2, 2), -1); // -0.5
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 40), 0);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 32), -1); // -0.5 -> -1
        assert_eq!(rounding_divide_by_pot(7, -3), 7);
    }

    #[test]
    fn mbqm_identity_and_scaling() {
        for x in [-1000, -3, -1, 0, 1, 2, 12345, (1 << 30) - 1, -(1 << 30)] {
            assert_eq!(multiply_by_quantized_multiplier(x, 1 << 30, 1), x);
        }
        // 0.5 * 2^-1 = 0.25 with double rounding: 1 -> srdhm 1 -> rdbp(1,1) = 1.
        assert_eq!(multiply_by_quantized_multiplier(1, 1 << 30, -1), 1);
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, -1), 25);
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, 3), 400);
        // The pre-multiply left shift wraps like C++ on hardware.
        assert_eq!(multiply_by_quantized_multiplier(i32::MAX, 1 << 30, 1), -1);
        // No panic for extreme shifts.
        let _ = multiply_by_quantized_multiplier(i32::MAX, i32::MAX, 40);
        let _ = multiply_by_quantized_multiplier(i32::MIN, i32::MIN, -100);
    }

    #[test]
    fn saturating_pot() {
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 29, 2), i32::MAX);
        assert_eq!(saturating_rounding_multiply_by_pot(-(1 << 29), 2), i32::MIN);
        assert_eq!(saturating_rounding_multiply_by_pot(3, 2), 12);
        assert_eq!(saturating_rounding_multiply_by_pot(6, -2), 2);
    }

    #[test]
    fn exp_constants() {
        // exp(-1/8) is exactly the Taylor constant.
        assert_eq!(exp_on_negative_values(-(1 << 28), 0), 1_895_147_668);
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
        // exp(-1) in Q5.26 hits the barrel-shifter constant within rounding.
        let e1 = exp_on_negative_values(-(1 << 26), 5);
        assert!((e1 - 790_015_084).abs() <= 1000, "{e1}");
    }

    #[test]
    fn exp_matches_float() {
        for i in 0..=400 {
            let x = -(i as f64) * 0.04;
            let got = f(exp_on_negative_values(q(x, 5), 5), 0);
            assert!((got - x.exp()).abs() < 1e-6, "x={x} got={got}");
        }
    }

    #[test]
    fn reciprocal_and_tanh_and_logistic_match_float() {
        for i in 0..100 {
            let x = i as f64 / 100.0;
            let r = f(one_over_one_plus_x_for_x_in_0_1(q(x, 0)), 0);
            assert!((r - 1.0 / (1.0 + x)).abs() < 1e-6, "x={x}");
            let r = f(one_minus_x_over_one_plus_x_for_x_in_0_1(q(x, 0)), 0);
            assert!((r - (1.0 - x) / (1.0 + x)).abs() < 1e-6, "x={x}");
        }
        for i in -150..=150 {
            let x = i as f64 * 0.05;
            let l = f(logistic(q(x, 4), 4), 0);
            assert!((l - 1.0 / (1.0 + (-x).exp())).abs() < 1e-6, "x={x}");
            let t = f(tanh(q(x, 4), 4), 0);
            assert!((t - x.tanh()).abs() < 1e-6, "x={x}");
        }
        assert_eq!(logistic(0, 4), 1 << 30);
        assert_eq!(tanh(0, 4), 0);
    }

    #[test]
    fn reciprocal_of_sum() {
        // x = 3.0 in Q12.19.
        let (scale, nbou) = get_reciprocal(3 << 19, 12);
        let approx = f(scale, 0) * 2f64.powi(-nbou);
        assert!((approx - 1.0 / 3.0).abs() < 1e-6);
        let _ = get_reciprocal(0, 12);
        let _ = get_reciprocal(-5, 12);
    }
}

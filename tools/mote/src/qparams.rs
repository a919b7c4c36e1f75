//! TFLite's host-side integer parameter computations, as the importer uses
//! them. Thin wrappers over `mote_kernels::prepare` so that every kernel
//! parameter is derived from the file's float scales exactly as TFLite does.

pub use mote_kernels::prepare::*;

/// TFLite's `Quantize(f)` for activation clamps: zero point plus `f / scale`
/// rounded half away from zero (f32 division, like TfLiteRound).
pub fn quantize_clamp(f: f32, scale: f32, zero_point: i32) -> i32 {
    let q = (f / scale).round();
    if q >= i32::MAX as f32 {
        i32::MAX
    } else if q <= i32::MIN as f32 {
        i32::MIN
    } else {
        zero_point.saturating_add(q as i32)
    }
}

/// Output clamp of an int8 op with a fused float activation range `(lo, hi)`
/// (infinite bounds for none), as TFLite's CalculateActivationRangeQuantized.
pub fn act_range(clamp: (f32, f32), scale: f32, zero_point: i32) -> (i32, i32) {
    let mut lo = -128;
    let mut hi = 127;
    if clamp.0.is_finite() {
        lo = lo.max(quantize_clamp(clamp.0, scale, zero_point));
    }
    if clamp.1.is_finite() {
        hi = hi.min(quantize_clamp(clamp.1, scale, zero_point));
    }
    (lo, hi.max(lo))
}

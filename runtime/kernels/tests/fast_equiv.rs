//! Every optimised twin (`mote_kernels::fast`) equals its reference kernel
//! bit for bit: same `Result`, same output bytes, over random shapes (odd
//! channel counts, tails, 1x1/3x3/other kernels, strides, dilations,
//! asymmetric padding, batches), extreme zero points, saturating data and
//! random multipliers and shifts. One macro per kernel family.

use mote_kernels::*;
// The portable/Cortex-M twins themselves (on x86_64 the crate-root names
// are the AVX2 kernels).
use mote_kernels::fast::{conv2d_s8_fast, depthwise_conv2d_s8_fast, fully_connected_s8_fast};
use proptest::prelude::*;

/// Deterministic bytes: `mode` 0 random, 1 all -128, 2 all 127, 3 alternating
/// extremes, 4 small values.
fn bytes(seed: u64, n: usize, mode: u8) -> Vec<i8> {
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match mode {
                1 => -128,
                2 => 127,
                3 => {
                    if (x >> 11) & 1 == 0 {
                        -128
                    } else {
                        127
                    }
                }
                4 => ((x >> 20) % 7) as i8 - 3,
                _ => (x >> 24) as u8 as i8 ^ (i as i8),
            }
        })
        .collect()
}

fn i32s(seed: u64, n: usize, lo: i32, hi: i32) -> Vec<i32> {
    let mut x = seed | 1;
    let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (i64::from(lo) + ((x >> 16) % span) as i64) as i32
        })
        .collect()
}

/// A zero point: the extremes half of the time.
fn zp() -> impl Strategy<Value = i32> {
    prop_oneof![Just(-128), Just(127), Just(0), -128i32..=127]
}

/// Requantisation: realistic (multiplier in [2^30, 2^31), shift -12..=2) or
/// anything (any multiplier, shift -40..=40), per tensor or per channel.
#[derive(Debug, Clone)]
struct Rq {
    mult: Vec<i32>,
    shift: Vec<i32>,
}

fn rq(channels: usize, seed: u64, per_channel: bool, wild: bool) -> Rq {
    let n = if per_channel { channels.max(1) } else { 1 };
    if wild {
        Rq {
            mult: i32s(seed, n, i32::MIN, i32::MAX),
            shift: i32s(seed ^ 0x55, n, -40, 40),
        }
    } else {
        Rq {
            mult: i32s(seed, n, 1 << 30, i32::MAX),
            shift: i32s(seed ^ 0x55, n, -12, 2),
        }
    }
}

impl Rq {
    fn get(&self) -> Requant<'_> {
        Requant {
            multiplier: &self.mult,
            shift: &self.shift,
        }
    }
}

/// Clamp range: full, ReLU-like, or random.
fn act() -> impl Strategy<Value = (i32, i32)> {
    prop_oneof![
        Just((-128, 127)),
        (-128i32..=127).prop_map(|lo| (lo, 127)),
        (-128i32..=127, -128i32..=127).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

/// Output extent of a window along one axis (at least 1; `extra` sometimes
/// makes it larger or smaller than the geometry implies).
fn out_len(inp: usize, k: usize, s: usize, d: usize, pad: usize, extra: i64) -> usize {
    let span = (inp + pad) as i64 - (d * (k - 1)) as i64 - 1;
    let n = if span < 0 { 1 } else { span / s as i64 + 1 };
    (n + extra).max(1) as usize
}

#[derive(Debug, Clone)]
struct ConvCase {
    n: usize,
    in_h: usize,
    in_w: usize,
    in_c: usize,
    groups: usize,
    out_c: usize,
    k: [usize; 2],
    stride: [usize; 2],
    dil: [usize; 2],
    pad: [usize; 4],
    extra: [i64; 2],
    in_zp: i32,
    out_zp: i32,
    act: (i32, i32),
    per_channel: bool,
    wild: bool,
    with_bias: bool,
    modes: [u8; 2],
    seed: u64,
}

fn conv_case(max_c: usize, max_k: usize) -> impl Strategy<Value = ConvCase> {
    (
        (
            1usize..=2,
            1usize..=9,
            1usize..=9,
            1usize..=max_c,
            1usize..=max_c,
        ),
        (
            1usize..=max_k,
            1usize..=max_k,
            1usize..=2,
            1usize..=2,
            1usize..=2,
            1usize..=2,
        ),
        (
            0usize..=2,
            0usize..=2,
            0usize..=2,
            0usize..=2,
            -1i64..=1,
            -1i64..=1,
        ),
        (
            zp(),
            zp(),
            act(),
            any::<bool>(),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.8),
        ),
        (0u8..5, 0u8..5, any::<u64>(), prop::bool::weighted(0.15)),
    )
        .prop_map(
            |(
                (n, in_h, in_w, in_c, out_c),
                (kh, kw, sh, sw, dh, dw),
                (pt, pl, pb, pr, eh, ew),
                (in_zp, out_zp, act, per_channel, wild, with_bias),
                (m0, m1, seed, grouped),
            )| {
                // Dilation 2 a third of the time at most, stride/dilation
                // from the ranges above.
                let groups = if grouped && in_c % 2 == 0 && out_c % 2 == 0 {
                    2
                } else {
                    1
                };
                ConvCase {
                    n,
                    in_h,
                    in_w,
                    in_c,
                    groups,
                    out_c,
                    k: [kh, kw],
                    stride: [sh, sw],
                    dil: [dh, dw],
                    pad: [pt, pl, pb, pr],
                    extra: [eh, ew],
                    in_zp,
                    out_zp,
                    act,
                    per_channel,
                    wild,
                    with_bias,
                    modes: [m0, m1],
                    seed,
                }
            },
        )
}

impl ConvCase {
    fn params(&self) -> ConvParams {
        ConvParams {
            stride: self.stride,
            dilation: self.dil,
            padding: [self.pad[0], self.pad[1]],
            input_offset: -self.in_zp,
            output_offset: self.out_zp,
            act_min: self.act.0,
            act_max: self.act.1,
        }
    }
    fn out_hw(&self) -> (usize, usize) {
        (
            out_len(
                self.in_h,
                self.k[0],
                self.stride[0],
                self.dil[0],
                self.pad[0] + self.pad[2],
                self.extra[0],
            ),
            out_len(
                self.in_w,
                self.k[1],
                self.stride[1],
                self.dil[1],
                self.pad[1] + self.pad[3],
                self.extra[1],
            ),
        )
    }
    fn bias(&self, n: usize) -> Vec<i32> {
        if self.with_bias {
            let (lo, hi) = if self.wild {
                (i32::MIN, i32::MAX)
            } else {
                (-50_000, 50_000)
            };
            i32s(self.seed ^ 0xb1a5, n, lo, hi)
        } else {
            Vec::new()
        }
    }
}

/// Conv-family twins: `conv2d_s8` and its optimised twins.
macro_rules! conv_equiv {
    ($name:ident, $reference:path, $fast:path, $max_c:expr, $max_k:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(600))]
            #[test]
            fn $name(c in conv_case($max_c, $max_k)) {
                let f_c = c.in_c / c.groups;
                let out_c = c.out_c * c.groups;
                let (oh, ow) = c.out_hw();
                let input = bytes(c.seed, c.n * c.in_h * c.in_w * c.in_c, c.modes[0]);
                let filter = bytes(c.seed ^ 0xf, out_c * c.k[0] * c.k[1] * f_c, c.modes[1]);
                let bias = c.bias(out_c);
                let q = rq(out_c, c.seed ^ 0x77, c.per_channel, c.wild);
                let idims = [c.n, c.in_h, c.in_w, c.in_c];
                let fdims = [out_c, c.k[0], c.k[1], f_c];
                let odims = [c.n, oh, ow, out_c];
                let mut a = vec![0x5ai8; c.n * oh * ow * out_c];
                let mut b = a.clone();
                let p = c.params();
                let ra = $reference(&p, &q.get(), &input, idims, &filter, fdims, &bias, &mut a, odims);
                let rb = $fast(&p, &q.get(), &input, idims, &filter, fdims, &bias, &mut b, odims);
                prop_assert_eq!(ra, rb);
                prop_assert_eq!(a, b);
            }
        }
    };
}

conv_equiv!(
    conv2d_fast_small_matches_reference,
    conv2d_s8,
    conv2d_s8_fast,
    9,
    3
);
conv_equiv!(
    conv2d_fast_wide_matches_reference,
    conv2d_s8,
    conv2d_s8_fast,
    40,
    5
);

/// Depthwise twins.
macro_rules! depthwise_equiv {
    ($name:ident, $reference:path, $fast:path, $max_c:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(600))]
            #[test]
            fn $name(c in conv_case($max_c, 5), dm_pick in 0usize..6) {
                // Depth multiplier 1 most of the time (the fast path).
                let dm = [1, 1, 1, 1, 2, 3][dm_pick];
                let out_c = c.in_c * dm;
                let (oh, ow) = c.out_hw();
                let input = bytes(c.seed, c.n * c.in_h * c.in_w * c.in_c, c.modes[0]);
                let filter = bytes(c.seed ^ 0xf, c.k[0] * c.k[1] * out_c, c.modes[1]);
                let bias = c.bias(out_c);
                let q = rq(out_c, c.seed ^ 0x77, c.per_channel, c.wild);
                let idims = [c.n, c.in_h, c.in_w, c.in_c];
                let fdims = [1, c.k[0], c.k[1], out_c];
                let odims = [c.n, oh, ow, out_c];
                let mut a = vec![0x5ai8; c.n * oh * ow * out_c];
                let mut b = a.clone();
                let p = c.params();
                let ra = $reference(&p, dm, &q.get(), &input, idims, &filter, fdims, &bias, &mut a, odims);
                let rb = $fast(&p, dm, &q.get(), &input, idims, &filter, fdims, &bias, &mut b, odims);
                prop_assert_eq!(ra, rb);
                prop_assert_eq!(a, b);
            }
        }
    };
}

depthwise_equiv!(
    depthwise_fast_small_matches_reference,
    depthwise_conv2d_s8,
    depthwise_conv2d_s8_fast,
    9
);
depthwise_equiv!(
    depthwise_fast_wide_matches_reference,
    depthwise_conv2d_s8,
    depthwise_conv2d_s8_fast,
    70
);

/// Fully connected twins.
macro_rules! fc_equiv {
    ($name:ident, $reference:path, $fast:path) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(800))]
            #[test]
            fn $name(
                batches in 0usize..=3,
                // Small, and large enough for the once-extended input
                // (rows × groups >= 512; over 1024 inputs it falls back).
                in_f in prop_oneof![0usize..=70, 120usize..=1100],
                out_f in prop_oneof![0usize..=13, 30usize..=70],
                in_zp in zp(),
                f_zp in prop_oneof![Just(0), Just(-128), Just(127), -128i32..=127],
                out_zp in zp(),
                act in act(),
                per_channel in any::<bool>(),
                wild in prop::bool::weighted(0.2),
                with_bias in any::<bool>(),
                modes in (0u8..5, 0u8..5),
                seed in any::<u64>(),
            ) {
                let input = bytes(seed, batches * in_f, modes.0);
                let filter = bytes(seed ^ 0xf, out_f * in_f, modes.1);
                let bias = if with_bias { i32s(seed ^ 3, out_f, -100_000, 100_000) } else { Vec::new() };
                let q = rq(out_f, seed ^ 0x77, per_channel, wild);
                let p = FcParams {
                    input_offset: -in_zp,
                    filter_offset: -f_zp,
                    output_offset: out_zp,
                    act_min: act.0,
                    act_max: act.1,
                };
                let mut a = vec![0x5ai8; batches * out_f];
                let mut b = a.clone();
                let ra = $reference(&p, &q.get(), &input, batches, in_f, &filter, &bias, &mut a, out_f);
                let rb = $fast(&p, &q.get(), &input, batches, in_f, &filter, &bias, &mut b, out_f);
                prop_assert_eq!(ra, rb);
                prop_assert_eq!(a, b);
            }
        }
    };
}

fc_equiv!(
    fully_connected_fast_matches_reference,
    fully_connected_s8,
    fully_connected_s8_fast
);

/// The wide FullyConnected layout (`mote_format`'s `WideS8`), written here
/// from its documentation: blocks of 4 rows x 4 columns, 16 little-endian
/// halfwords each; row k of a block holds columns 4g, 4g+2, 4g+1, 4g+3;
/// padding is 0.
fn wide_words(filter: &[i8], rows: usize, cols: usize) -> Vec<u32> {
    let g = cols.div_ceil(4);
    let mut h = vec![0u16; rows.div_ceil(4) * g * 16];
    for r in 0..rows {
        for c in 0..cols {
            let lane = [0, 2, 1, 3][c % 4];
            h[((r / 4) * g + c / 4) * 16 + (r % 4) * 4 + lane] = filter[r * cols + c] as i16 as u16;
        }
    }
    h.chunks(2)
        .map(|p| u32::from(p[0]) | (u32::from(p[1]) << 16))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(800))]
    /// The wide-layout kernel equals the int8 reference on the same values.
    #[test]
    fn fully_connected_wide_matches_reference(
        batches in 0usize..=3,
        // Over 1024 inputs the kernel runs the reference loop over the layout.
        in_f in prop_oneof![0usize..=70, 120usize..=700, 1020usize..=1030],
        out_f in prop_oneof![0usize..=13, 30usize..=70],
        in_zp in zp(),
        out_zp in zp(),
        act in act(),
        per_channel in any::<bool>(),
        wild in prop::bool::weighted(0.2),
        with_bias in any::<bool>(),
        modes in (0u8..5, 0u8..5),
        seed in any::<u64>(),
    ) {
        let input = bytes(seed, batches * in_f, modes.0);
        let filter = bytes(seed ^ 0xf, out_f * in_f, modes.1);
        let words = wide_words(&filter, out_f, in_f);
        let bias = if with_bias { i32s(seed ^ 3, out_f, -100_000, 100_000) } else { Vec::new() };
        let q = rq(out_f, seed ^ 0x77, per_channel, wild);
        let p = FcParams {
            input_offset: -in_zp,
            filter_offset: 0,
            output_offset: out_zp,
            act_min: act.0,
            act_max: act.1,
        };
        let mut a = vec![0x5ai8; batches * out_f];
        let mut b = a.clone();
        let ra = fully_connected_s8(&p, &q.get(), &input, batches, in_f, &filter, &bias, &mut a, out_f);
        let rb = fully_connected_wide_s8(&p, &q.get(), &input, batches, in_f, &words, &bias, &mut b, out_f);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }
}

#[test]
fn fully_connected_wide_refuses_bad_filters() {
    let q = Requant {
        multiplier: &[1 << 30],
        shift: &[-1],
    };
    let mut p = FcParams {
        input_offset: 0,
        filter_offset: 0,
        output_offset: 0,
        act_min: -128,
        act_max: 127,
    };
    let (input, mut out) = ([1i8; 6], [0i8; 5]);
    let words = wide_words(&[1i8; 30], 5, 6);
    assert_eq!(
        fully_connected_wide_s8(
            &p,
            &q,
            &input,
            1,
            6,
            &words[..words.len() - 1],
            &[],
            &mut out,
            5
        ),
        Err(KernelError::BufferLength)
    );
    assert_eq!(
        fully_connected_wide_s8(&p, &q, &input, 1, 6, &words, &[], &mut out, 5),
        Ok(())
    );
    // 6 · 2^30/2^31 · 2^-1 = 1.5, rounded half away from zero.
    assert_eq!(out, [2; 5]);
    p.filter_offset = 1;
    assert_eq!(
        fully_connected_wide_s8(&p, &q, &input, 1, 6, &words, &[], &mut out, 5),
        Err(KernelError::InvalidParameter)
    );
}

/// Element-wise add twins.
macro_rules! add_equiv {
    ($name:ident, $reference:path, $fast:path) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn $name(
                dims in (1usize..=2, 1usize..=12, 1usize..=12, 1usize..=40),
                broadcast in prop::bool::weighted(0.2),
                zps in (zp(), zp(), zp()),
                act in act(),
                left_shift in prop_oneof![Just(20), 0i32..=31],
                mults in (any::<i32>(), any::<i32>(), any::<i32>()),
                shifts in (-33i32..=0, -33i32..=0, -33i32..=0),
                modes in (0u8..5, 0u8..5),
                seed in any::<u64>(),
            ) {
                let d1 = [dims.0, dims.1, dims.2, dims.3];
                let d2 = if broadcast { [dims.0, 1, 1, dims.3] } else { d1 };
                let n1 = d1.iter().product();
                let n2 = d2.iter().product();
                let x = bytes(seed, n1, modes.0);
                let y = bytes(seed ^ 9, n2, modes.1);
                let p = AddParams {
                    input1_offset: -zps.0,
                    input2_offset: -zps.1,
                    output_offset: zps.2,
                    left_shift,
                    input1_multiplier: mults.0,
                    input1_shift: shifts.0,
                    input2_multiplier: mults.1,
                    input2_shift: shifts.1,
                    output_multiplier: mults.2,
                    output_shift: shifts.2,
                    act_min: act.0,
                    act_max: act.1,
                };
                let mut a = vec![0x5ai8; n1];
                let mut b = a.clone();
                let ra = $reference(&p, &x, d1, &y, d2, &mut a, d1);
                let rb = $fast(&p, &x, d1, &y, d2, &mut b, d1);
                prop_assert_eq!(ra, rb);
                prop_assert_eq!(a, b);
            }
        }
    };
}

add_equiv!(add_fast_matches_reference, add_s8, add_s8_fast);

/// Invalid inputs give the same error from both (no panics).
#[test]
fn fast_twins_reject_like_reference() {
    let rq_m = [1 << 30];
    let rq_s = [0];
    let q = Requant {
        multiplier: &rq_m,
        shift: &rq_s,
    };
    let p = ConvParams {
        stride: [0, 1],
        dilation: [1, 1],
        padding: [0, 0],
        input_offset: 0,
        output_offset: 0,
        act_min: -128,
        act_max: 127,
    };
    let input = [0i8; 4];
    let filter = [1i8; 4];
    let mut a = [0i8; 4];
    let mut b = [0i8; 4];
    let d = [1, 2, 2, 1];
    assert_eq!(
        conv2d_s8(&p, &q, &input, d, &filter, [1, 2, 2, 1], &[], &mut a, d),
        conv2d_s8_fast(&p, &q, &input, d, &filter, [1, 2, 2, 1], &[], &mut b, d)
    );
    // Huge padding and stride, empty input rows.
    let p = ConvParams {
        stride: [i32::MAX as usize, 3],
        padding: [i32::MAX as usize, 5],
        ..p
    };
    for dims in [[1, 0, 2, 1], [1, 2, 0, 1]] {
        assert_eq!(
            conv2d_s8(&p, &q, &[], dims, &filter, [1, 2, 2, 1], &[], &mut a, d),
            conv2d_s8_fast(&p, &q, &[], dims, &filter, [1, 2, 2, 1], &[], &mut b, d)
        );
        assert_eq!(a, b);
        assert_eq!(
            depthwise_conv2d_s8(&p, 1, &q, &[], dims, &filter, [1, 2, 2, 1], &[], &mut a, d),
            depthwise_conv2d_s8_fast(&p, 1, &q, &[], dims, &filter, [1, 2, 2, 1], &[], &mut b, d)
        );
        assert_eq!(a, b);
    }
}

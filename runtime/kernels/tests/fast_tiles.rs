//! The DSP-shaped paths of the optimised twins (conv four-pixel tiles,
//! depthwise weight tables, the table-driven add) against the reference
//! kernels, on the shapes that reach them and their edges: output channels
//! across several 64-channel blocks, filters whose length is not a multiple
//! of 4 (the padded weight copy), first-layer windows (3 input channels),
//! pixel counts that are not a multiple of 4, padding, strides, dilations,
//! extreme zero points and saturating data. In debug builds (`cargo test`)
//! the portable twins of those paths run; on DSP builds their `asm!`.

use mote_kernels::*;
// The portable/Cortex-M twins themselves (on x86_64 the crate-root names
// are the AVX2 kernels).
use mote_kernels::fast::{conv2d_s8_fast, depthwise_conv2d_s8_fast};
use proptest::prelude::*;

fn bytes(seed: u64, n: usize, extreme: bool) -> Vec<i8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if extreme {
                if x & 1 == 0 {
                    -128
                } else {
                    127
                }
            } else {
                (x >> 24) as u8 as i8
            }
        })
        .collect()
}

fn mults(seed: u64, n: usize) -> (Vec<i32>, Vec<i32>) {
    let mut x = seed | 1;
    let mut m = Vec::new();
    let mut s = Vec::new();
    for i in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        m.push((1 << 30) + ((x >> 34) as i32 & 0x3fff_ffff));
        // Mostly right shifts, sometimes none or a left shift (or, for
        // half the seeds, right shifts of at least 2 only: the band paths).
        s.push(match (i % 7, seed & 1) {
            (0, 0) => 1,
            (1, 0) => 0,
            (_, 0) => -((x >> 20) as i32 & 15) - 1,
            _ => -((x >> 20) as i32 & 15) - 2,
        });
    }
    (m, s)
}

fn zp() -> impl Strategy<Value = i32> {
    prop_oneof![Just(-128), Just(127), Just(0), -128i32..=127]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn conv_tiles_match_reference(
        hw in (1usize..=7, 1usize..=7),
        // 64 and 63 channels with 3x3 kernels: filters of 576 and 567
        // values, the longest the tiled path takes (ResNet-8's last stage).
        in_c in prop_oneof![Just(1usize), Just(3), Just(4), Just(8), Just(63), Just(64), 1usize..=20],
        out_c in prop_oneof![Just(1usize), Just(5), Just(64), Just(65), Just(130), 1usize..=20],
        k in prop_oneof![Just((1usize, 1usize)), Just((3, 3)), (1usize..=3, 1usize..=3)],
        stride in (1usize..=2, 1usize..=2),
        dil in (1usize..=2, 1usize..=2),
        pad in (0usize..=2, 0usize..=2),
        zps in (zp(), zp()),
        relu in any::<bool>(),
        extreme in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (in_h, in_w) = hw;
        let span = |n: usize, kk: usize, s: usize, d: usize, p: usize| {
            let eff = d * (kk - 1) + 1;
            if n + 2 * p >= eff { (n + 2 * p - eff) / s + 1 } else { 1 }
        };
        let oh = span(in_h, k.0, stride.0, dil.0, pad.0);
        let ow = span(in_w, k.1, stride.1, dil.1, pad.1);
        let input = bytes(seed, in_h * in_w * in_c, extreme);
        let filter = bytes(seed ^ 0xf, out_c * k.0 * k.1 * in_c, extreme);
        let bias: Vec<i32> = (0..out_c as i32).map(|i| i * 977 - 20_000).collect();
        let (m, s) = mults(seed ^ 0x77, out_c);
        let q = Requant { multiplier: &m, shift: &s };
        let p = ConvParams {
            stride: [stride.0, stride.1],
            dilation: [dil.0, dil.1],
            padding: [pad.0, pad.1],
            input_offset: -zps.0,
            output_offset: zps.1,
            act_min: if relu { zps.1 } else { -128 },
            act_max: 127,
        };
        let idims = [1, in_h, in_w, in_c];
        let fdims = [out_c, k.0, k.1, in_c];
        let odims = [1, oh, ow, out_c];
        let mut a = vec![0x5ai8; oh * ow * out_c];
        let mut b = a.clone();
        let ra = conv2d_s8(&p, &q, &input, idims, &filter, fdims, &bias, &mut a, odims);
        let rb = conv2d_s8_fast(&p, &q, &input, idims, &filter, fdims, &bias, &mut b, odims);
        prop_assert!(ra.is_ok(), "{:?}", ra);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }

    /// First-layer windows: few input channels, so kernel rows that are
    /// not whole groups of four (row-padded and extended straight from the
    /// input, with the rows at the end of an image through the int8 row),
    /// few filters, every channel band-rescaled, batches of images.
    #[test]
    fn conv_first_layer_rows_match_reference(
        n in 1usize..=2,
        hw in (2usize..=12, 2usize..=12),
        in_c in prop_oneof![Just(3usize), 1usize..=7],
        out_c in 1usize..=9,
        k in prop_oneof![Just((3usize, 3usize)), (2usize..=5, 1usize..=5)],
        stride in (1usize..=2, 1usize..=2),
        pad in (0usize..=2, 0usize..=2),
        dil_h in 1usize..=2,
        zps in (zp(), zp()),
        extreme in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (in_h, in_w) = hw;
        let span = |n: usize, kk: usize, s: usize, d: usize, p: usize| {
            let eff = d * (kk - 1) + 1;
            if n + 2 * p >= eff { (n + 2 * p - eff) / s + 1 } else { 1 }
        };
        let oh = span(in_h, k.0, stride.0, dil_h, pad.0);
        let ow = span(in_w, k.1, stride.1, 1, pad.1);
        let input = bytes(seed, n * in_h * in_w * in_c, extreme);
        let filter = bytes(seed ^ 0xf, out_c * k.0 * k.1 * in_c, extreme);
        let bias: Vec<i32> = (0..out_c as i32).map(|i| i * 977 - 20_000).collect();
        // Odd seeds: right shifts of at least 2 only (every channel banded).
        let (m, s) = mults((seed ^ 0x77) | 1, out_c);
        let q = Requant { multiplier: &m, shift: &s };
        let p = ConvParams {
            stride: [stride.0, stride.1],
            dilation: [dil_h, 1],
            padding: [pad.0, pad.1],
            input_offset: -zps.0,
            output_offset: zps.1,
            act_min: -128,
            act_max: 127,
        };
        let idims = [n, in_h, in_w, in_c];
        let fdims = [out_c, k.0, k.1, in_c];
        let odims = [n, oh, ow, out_c];
        let mut a = vec![0x5ai8; n * oh * ow * out_c];
        let mut b = a.clone();
        let ra = conv2d_s8(&p, &q, &input, idims, &filter, fdims, &bias, &mut a, odims);
        let rb = conv2d_s8_fast(&p, &q, &input, idims, &filter, fdims, &bias, &mut b, odims);
        prop_assert!(ra.is_ok(), "{:?}", ra);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn conv_gemm_1x1_matches_reference(
        n in 1usize..=2,
        hw in (1usize..=9, 1usize..=9),
        in_c in prop_oneof![Just(4usize), Just(8), Just(24), Just(32), (1usize..=16).prop_map(|g| 4 * g)],
        out_c in prop_oneof![Just(1usize), Just(24), Just(64), Just(65), 1usize..=40],
        zps in (zp(), zp()),
        relu in any::<bool>(),
        extreme in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (h, w) = hw;
        let input = bytes(seed, n * h * w * in_c, extreme);
        let filter = bytes(seed ^ 0xf, out_c * in_c, extreme);
        let bias: Vec<i32> = (0..out_c as i32).map(|i| i * 977 - 20_000).collect();
        let (m, s) = mults(seed ^ 0x77, out_c);
        let q = Requant { multiplier: &m, shift: &s };
        let p = ConvParams {
            stride: [1, 1],
            dilation: [1, 1],
            padding: [0, 0],
            input_offset: -zps.0,
            output_offset: zps.1,
            act_min: if relu { zps.1 } else { -128 },
            act_max: 127,
        };
        let idims = [n, h, w, in_c];
        let fdims = [out_c, 1, 1, in_c];
        let odims = [n, h, w, out_c];
        let mut a = vec![0x5ai8; n * h * w * out_c];
        let mut b = a.clone();
        let ra = conv2d_s8(&p, &q, &input, idims, &filter, fdims, &bias, &mut a, odims);
        let rb = conv2d_s8_fast(&p, &q, &input, idims, &filter, fdims, &bias, &mut b, odims);
        prop_assert!(ra.is_ok(), "{:?}", ra);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn depthwise_tables_match_reference(
        hw in (1usize..=9, 1usize..=9),
        c in prop_oneof![Just(4usize), Just(8), Just(24), Just(33), Just(64), 1usize..=40],
        k in prop_oneof![Just((3usize, 3usize)), (1usize..=5, 1usize..=5)],
        stride in (1usize..=2, 1usize..=2),
        dil in (1usize..=2, 1usize..=2),
        pad in (0usize..=2, 0usize..=2),
        zps in (zp(), zp()),
        relu in any::<bool>(),
        extreme in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (in_h, in_w) = hw;
        let span = |n: usize, kk: usize, s: usize, d: usize, p: usize| {
            let eff = d * (kk - 1) + 1;
            if n + 2 * p >= eff { (n + 2 * p - eff) / s + 1 } else { 1 }
        };
        let oh = span(in_h, k.0, stride.0, dil.0, pad.0);
        let ow = span(in_w, k.1, stride.1, dil.1, pad.1);
        let input = bytes(seed, in_h * in_w * c, extreme);
        let filter = bytes(seed ^ 0xf, k.0 * k.1 * c, extreme);
        let bias: Vec<i32> = (0..c as i32).map(|i| 15_000 - i * 1013).collect();
        let (m, s) = mults(seed ^ 0x77, c);
        let q = Requant { multiplier: &m, shift: &s };
        let p = ConvParams {
            stride: [stride.0, stride.1],
            dilation: [dil.0, dil.1],
            padding: [pad.0, pad.1],
            input_offset: -zps.0,
            output_offset: zps.1,
            act_min: if relu { zps.1 } else { -128 },
            act_max: 127,
        };
        let idims = [1, in_h, in_w, c];
        let fdims = [1, k.0, k.1, c];
        let odims = [1, oh, ow, c];
        let mut a = vec![0x5ai8; oh * ow * c];
        let mut b = a.clone();
        let ra = depthwise_conv2d_s8(&p, 1, &q, &input, idims, &filter, fdims, &bias, &mut a, odims);
        let rb = depthwise_conv2d_s8_fast(&p, 1, &q, &input, idims, &filter, fdims, &bias, &mut b, odims);
        prop_assert!(ra.is_ok(), "{:?}", ra);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }

    /// 3x3 depthwise over channels side by side (strided or small maps,
    /// a multiple of 4 channels, across the 64-channel chunks), padding
    /// from the padding row, batches of images, per-channel and per-tensor
    /// scales.
    #[test]
    fn depthwise_channels_match_reference(
        n in 1usize..=2,
        hw in (1usize..=9, 1usize..=9),
        c4 in prop_oneof![Just(1usize), Just(16), Just(17), 1usize..=40],
        stride in (1usize..=2, 1usize..=2),
        dil in (1usize..=2, 1usize..=2),
        pad in (0usize..=2, 0usize..=2),
        zps in (zp(), zp()),
        extreme in any::<bool>(),
        per_tensor in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let c = 4 * c4;
        let (in_h, in_w) = hw;
        let span = |n: usize, s: usize, d: usize, p: usize| {
            let eff = 2 * d + 1;
            if n + 2 * p >= eff { (n + 2 * p - eff) / s + 1 } else { 1 }
        };
        let oh = span(in_h, stride.0, dil.0, pad.0);
        let ow = span(in_w, stride.1, dil.1, pad.1);
        let input = bytes(seed, n * in_h * in_w * c, extreme);
        let filter = bytes(seed ^ 0xf, 9 * c, extreme);
        let bias: Vec<i32> = (0..c as i32).map(|i| 15_000 - i * 1013).collect();
        let (m, s) = mults((seed ^ 0x77) | 1, if per_tensor { 1 } else { c });
        let q = Requant { multiplier: &m, shift: &s };
        let p = ConvParams {
            stride: [stride.0, stride.1],
            dilation: [dil.0, dil.1],
            padding: [pad.0, pad.1],
            input_offset: -zps.0,
            output_offset: zps.1,
            act_min: -128,
            act_max: 127,
        };
        let idims = [n, in_h, in_w, c];
        let fdims = [1, 3, 3, c];
        let odims = [n, oh, ow, c];
        let mut a = vec![0x5ai8; n * oh * ow * c];
        let mut b = a.clone();
        let ra = depthwise_conv2d_s8(&p, 1, &q, &input, idims, &filter, fdims, &bias, &mut a, odims);
        let rb = depthwise_conv2d_s8_fast(&p, 1, &q, &input, idims, &filter, fdims, &bias, &mut b, odims);
        prop_assert!(ra.is_ok(), "{:?}", ra);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn depthwise_planar_bands_match_reference(
        hw in prop_oneof![(20usize..=45, 1usize..=3), (1usize..=3, 20usize..=70), (10usize..=40, 40usize..=140)],
        c in 1usize..=5,
        k in prop_oneof![Just((3usize, 3usize)), Just((5, 1)), Just((1, 5)), (1usize..=7, 1usize..=7)],
        stride in prop_oneof![Just((1usize, 1usize)), Just((2, 2)), (1usize..=3, 1usize..=3)],
        dil in prop_oneof![Just((1usize, 1usize)), (1usize..=2, 1usize..=2)],
        pad in (0usize..=3, 0usize..=3),
        zps in (zp(), zp()),
        relu in any::<bool>(),
        extreme in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (in_h, in_w) = hw;
        let span = |n: usize, kk: usize, s: usize, d: usize, p: usize| {
            let eff = d * (kk - 1) + 1;
            if n + 2 * p >= eff { (n + 2 * p - eff) / s + 1 } else { 1 }
        };
        let oh = span(in_h, k.0, stride.0, dil.0, pad.0);
        let ow = span(in_w, k.1, stride.1, dil.1, pad.1);
        let input = bytes(seed, in_h * in_w * c, extreme);
        let filter = bytes(seed ^ 0xf, k.0 * k.1 * c, extreme);
        let bias: Vec<i32> = (0..c as i32).map(|i| 15_000 - i * 1013).collect();
        let (m, s) = mults(seed ^ 0x77, c);
        let q = Requant { multiplier: &m, shift: &s };
        let p = ConvParams {
            stride: [stride.0, stride.1],
            dilation: [dil.0, dil.1],
            padding: [pad.0, pad.1],
            input_offset: -zps.0,
            output_offset: zps.1,
            act_min: if relu { zps.1 } else { -128 },
            act_max: 127,
        };
        let idims = [1, in_h, in_w, c];
        let fdims = [1, k.0, k.1, c];
        let odims = [1, oh, ow, c];
        let mut a = vec![0x5ai8; oh * ow * c];
        let mut b = a.clone();
        let ra = depthwise_conv2d_s8(&p, 1, &q, &input, idims, &filter, fdims, &bias, &mut a, odims);
        let rb = depthwise_conv2d_s8_fast(&p, 1, &q, &input, idims, &filter, fdims, &bias, &mut b, odims);
        prop_assert!(ra.is_ok(), "{:?}", ra);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn add_four_at_a_time_matches_reference(
        n in 512usize..=1100,
        zps in (zp(), zp(), zp()),
        out_shift in -12i32..=0,
        relu in any::<bool>(),
        extreme in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let x = bytes(seed, n, extreme);
        let y = bytes(seed ^ 9, n, extreme);
        let p = AddParams {
            input1_offset: -zps.0,
            input2_offset: -zps.1,
            output_offset: zps.2,
            left_shift: 20,
            input1_multiplier: 1_623_821_475,
            input1_shift: -1,
            input2_multiplier: 1 << 30,
            input2_shift: 0,
            output_multiplier: 1_098_013_465,
            output_shift: out_shift - 18,
            act_min: if relu { zps.2 } else { -128 },
            act_max: 127,
        };
        let d = [1, 1, 1, n];
        let mut a = vec![0x5ai8; n];
        let mut b = a.clone();
        let ra = add_s8(&p, &x, d, &y, d, &mut a, d);
        let rb = add_s8_fast(&p, &x, d, &y, d, &mut b, d);
        prop_assert!(ra.is_ok(), "{:?}", ra);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }
}

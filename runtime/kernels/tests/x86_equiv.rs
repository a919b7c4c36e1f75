//! The x86_64 AVX2 twins (`mote_kernels::x86`) equal the reference kernels
//! bit for bit: same `Result`, same bytes. Shapes are drawn so that every
//! buffer size class of the twins is reached (windows over 320 taps, more
//! than 64 output channels, padded images over 16 K lanes), along with
//! strides, dilations, asymmetric padding, batches, extreme zero points,
//! saturating data and arbitrary multipliers and shifts (which the vector
//! requantisation must hand to the scalar one).
#![cfg(target_arch = "x86_64")]

use mote_kernels::x86::{
    avx2_available, conv2d_s8_x86, depthwise_conv2d_s8_x86, fully_connected_s8_x86,
};
use mote_kernels::*;
use proptest::prelude::*;

/// xorshift bytes; `extreme` draws only -128 and 127.
fn data(seed: u64, n: usize, extreme: bool) -> Vec<i8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match (extreme, x >> 60 & 1) {
                (true, 0) => -128,
                (true, _) => 127,
                _ => (x >> 32) as i8,
            }
        })
        .collect()
}

/// Per-channel or per-tensor scales: realistic, or anything at all.
fn scales(n: usize, seed: u64, wild: bool) -> (Vec<i32>, Vec<i32>) {
    let mut x = seed | 3;
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        x >> 32
    };
    (0..n)
        .map(|_| {
            if wild {
                (next() as u32 as i32, (next() % 81) as i32 - 40)
            } else {
                (
                    (1 << 30) + (next() % (1 << 30)) as i32,
                    (next() % 15) as i32 - 12,
                )
            }
        })
        .unzip()
}

/// Geometry and quantisation of one convolution case.
#[derive(Debug, Clone)]
struct Case {
    n: usize,
    hw: [usize; 2],
    c: usize,
    oc: usize,
    k: [usize; 2],
    stride: [usize; 2],
    dil: [usize; 2],
    pad: [usize; 2],
    /// Output rows/columns beyond (or short of) what the geometry implies.
    grow: [usize; 2],
    zp: (i32, i32),
    act: (i32, i32),
    per_channel: bool,
    wild: bool,
    bias: bool,
    extreme: bool,
    seed: u64,
}

impl Case {
    fn out(&self, a: usize) -> usize {
        let span = (self.hw[a] + 2 * self.pad[a]) as i64 - (self.dil[a] * (self.k[a] - 1)) as i64;
        let n = if span <= 0 {
            1
        } else {
            (span as usize - 1) / self.stride[a] + 1
        };
        n + self.grow[a]
    }
    fn params(&self) -> ConvParams {
        ConvParams {
            stride: self.stride,
            dilation: self.dil,
            padding: self.pad,
            input_offset: -self.zp.0,
            output_offset: self.zp.1,
            act_min: self.act.0,
            act_max: self.act.1,
        }
    }
    fn scales(&self, channels: usize) -> (Vec<i32>, Vec<i32>) {
        scales(
            if self.per_channel { channels } else { 1 },
            self.seed ^ 9,
            self.wild,
        )
    }
    fn bias(&self, channels: usize) -> Vec<i32> {
        if !self.bias {
            return Vec::new();
        }
        let (m, _) = scales(channels, self.seed ^ 5, true);
        m.into_iter()
            .map(|v| if self.wild { v } else { v >> 14 })
            .collect()
    }
}

fn zp() -> impl Strategy<Value = i32> {
    prop_oneof![Just(-128), Just(127), -128i32..=127]
}

/// `big` widens the ranges to reach the twins' larger buffer classes.
fn case(big: bool) -> impl Strategy<Value = Case> {
    let (max_hw, max_c, max_oc): (usize, usize, usize) =
        if big { (44, 48, 80) } else { (9, 12, 10) };
    (
        (1usize..=2, [1..=max_hw, 1..=max_hw], 1..=max_c, 1..=max_oc),
        (
            [1usize..=5, 1..=5],
            [1usize..=3, 1..=3],
            [1usize..=2, 1..=2],
            [0usize..=2, 0..=2],
        ),
        (
            [
                prop_oneof![4 => Just(0usize), 1 => 1usize..=2],
                prop_oneof![4 => Just(0usize), 1 => 1usize..=2],
            ],
            (zp(), zp()),
        ),
        (
            prop_oneof![Just((-128, 127)), (-128i32..=127).prop_map(|l| (l, 127))],
            any::<(bool, bool, bool)>(),
            prop::bool::weighted(0.1),
            any::<u64>(),
        ),
    )
        .prop_map(
            |((n, hw, c, oc), (k, stride, dil, pad), (grow, zp), (act, flags, extreme, seed))| {
                Case {
                    n,
                    hw,
                    c,
                    oc,
                    k,
                    stride,
                    dil,
                    pad,
                    grow,
                    zp,
                    act,
                    per_channel: flags.0,
                    wild: flags.1 && seed % 5 == 0,
                    bias: flags.2,
                    extreme,
                    seed,
                }
            },
        )
}

fn check_conv(c: &Case) -> Result<(), TestCaseError> {
    let (oh, ow) = (c.out(0), c.out(1));
    let input = data(c.seed, c.n * c.hw[0] * c.hw[1] * c.c, c.extreme);
    let filter = data(c.seed ^ 1, c.oc * c.k[0] * c.k[1] * c.c, c.extreme);
    let (m, s) = c.scales(c.oc);
    let q = Requant {
        multiplier: &m,
        shift: &s,
    };
    let bias = c.bias(c.oc);
    let idims = [c.n, c.hw[0], c.hw[1], c.c];
    let fdims = [c.oc, c.k[0], c.k[1], c.c];
    let odims = [c.n, oh, ow, c.oc];
    let mut a = vec![0x33i8; c.n * oh * ow * c.oc];
    let mut b = a.clone();
    let p = c.params();
    let ra = conv2d_s8(&p, &q, &input, idims, &filter, fdims, &bias, &mut a, odims);
    let rb = conv2d_s8_x86(&p, &q, &input, idims, &filter, fdims, &bias, &mut b, odims);
    prop_assert_eq!(ra, rb);
    prop_assert_eq!(a, b);
    Ok(())
}

fn check_depthwise(c: &Case, mult: usize) -> Result<(), TestCaseError> {
    let (oh, ow) = (c.out(0), c.out(1));
    let oc = c.c * mult;
    let input = data(c.seed, c.n * c.hw[0] * c.hw[1] * c.c, c.extreme);
    let filter = data(c.seed ^ 1, c.k[0] * c.k[1] * oc, c.extreme);
    let (m, s) = c.scales(oc);
    let q = Requant {
        multiplier: &m,
        shift: &s,
    };
    let bias = c.bias(oc);
    let idims = [c.n, c.hw[0], c.hw[1], c.c];
    let fdims = [1, c.k[0], c.k[1], oc];
    let odims = [c.n, oh, ow, oc];
    let mut a = vec![0x33i8; c.n * oh * ow * oc];
    let mut b = a.clone();
    let p = c.params();
    let ra = depthwise_conv2d_s8(
        &p, mult, &q, &input, idims, &filter, fdims, &bias, &mut a, odims,
    );
    let rb = depthwise_conv2d_s8_x86(
        &p, mult, &q, &input, idims, &filter, fdims, &bias, &mut b, odims,
    );
    prop_assert_eq!(ra, rb);
    prop_assert_eq!(a, b);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn conv_small_matches_reference(c in case(false)) {
        check_conv(&c)?;
    }

    #[test]
    fn depthwise_matches_reference(c in case(false), mult in prop_oneof![6 => Just(1usize), 1 => 2usize..=3]) {
        check_depthwise(&c, mult)?;
    }

    #[test]
    fn fully_connected_matches_reference(
        batches in 0usize..=3,
        in_f in prop_oneof![0usize..=40, 40usize..=700],
        out_f in prop_oneof![0usize..=12, 60usize..=90],
        zps in (zp(), zp()),
        f_zp in prop_oneof![Just(0), -128i32..=127],
        act in prop_oneof![Just((-128, 127)), (-128i32..=127).prop_map(|l| (l, 127))],
        flags in any::<(bool, bool, bool)>(),
        seed in any::<u64>(),
    ) {
        let input = data(seed, batches * in_f, seed % 7 == 0);
        let filter = data(seed ^ 1, out_f * in_f, seed % 7 == 0);
        let (m, s) = scales(if flags.0 { out_f.max(1) } else { 1 }, seed ^ 9, flags.1 && seed % 3 == 0);
        let q = Requant { multiplier: &m, shift: &s };
        let bias: Vec<i32> = if flags.2 { (0..out_f as i32).map(|i| i * 977 - 20_000).collect() } else { Vec::new() };
        let p = FcParams {
            input_offset: -zps.0,
            filter_offset: -f_zp,
            output_offset: zps.1,
            act_min: act.0,
            act_max: act.1,
        };
        let mut a = vec![0x33i8; batches * out_f];
        let mut b = a.clone();
        let ra = fully_connected_s8(&p, &q, &input, batches, in_f, &filter, &bias, &mut a, out_f);
        let rb = fully_connected_s8_x86(&p, &q, &input, batches, in_f, &filter, &bias, &mut b, out_f);
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a, b);
    }
}

proptest! {
    // Fewer, larger cases: the big buffer classes.
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn conv_large_matches_reference(c in case(true)) {
        check_conv(&c)?;
    }

    #[test]
    fn depthwise_large_matches_reference(c in case(true)) {
        check_depthwise(&c, 1)?;
    }
}

/// Wrong buffer lengths are refused exactly like the reference.
#[test]
fn bad_lengths_match_reference() {
    let p = ConvParams {
        stride: [1, 1],
        dilation: [1, 1],
        padding: [0, 0],
        input_offset: 0,
        output_offset: 0,
        act_min: -128,
        act_max: 127,
    };
    let q = Requant {
        multiplier: &[1 << 30],
        shift: &[0],
    };
    let input = [1i8; 15]; // 16 expected
    let filter = [1i8; 4];
    let (mut a, mut b) = ([0i8; 16], [0i8; 16]);
    let ra = conv2d_s8(
        &p,
        &q,
        &input,
        [1, 4, 4, 1],
        &filter,
        [1, 2, 2, 1],
        &[],
        &mut a,
        [1, 4, 4, 1],
    );
    let rb = conv2d_s8_x86(
        &p,
        &q,
        &input,
        [1, 4, 4, 1],
        &filter,
        [1, 2, 2, 1],
        &[],
        &mut b,
        [1, 4, 4, 1],
    );
    assert!(ra.is_err());
    assert_eq!(ra, rb);
}

/// Says which path the tests above exercised on this machine.
#[test]
fn reports_the_path() {
    println!(
        "AVX2 paths {}",
        if avx2_available() {
            "exercised"
        } else {
            "not available: portable twins tested"
        }
    );
}

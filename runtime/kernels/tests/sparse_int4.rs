//! Sparse int8 and int4 kernels against the dense int8 reference kernels,
//! bit for bit: the sparse kernels run on the bitmap encoding of a filter
//! with 0 %, 50 %, 100 % or random density and the reference on the same
//! zero-filled dense filter; the int4 kernels run on packed nibbles and the
//! reference on the unpacked values. Random shapes (odd channel counts,
//! groups whose bitmap ends mid-byte, grouped convolution, strides,
//! dilations, padding), extreme zero points and requantisation.

use mote_kernels::*;
use proptest::prelude::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn i8s(&mut self, n: usize, lo: i32, hi: i32) -> Vec<i8> {
        (0..n)
            .map(|_| (lo + (self.next() % (hi - lo + 1) as u64) as i32) as i8)
            .collect()
    }
    fn i32s(&mut self, n: usize, lo: i64, hi: i64) -> Vec<i32> {
        (0..n)
            .map(|_| (lo + (self.next() % (hi - lo + 1) as u64) as i64) as i32)
            .collect()
    }
}

/// Zeroes weights so that a fraction `density` (0..=1) stays non-zero;
/// non-zero survivors are forced away from 0.
fn sparsify(w: &mut [i8], density: f64, rng: &mut Rng) {
    for x in w.iter_mut() {
        let keep = (rng.next() % 10_000) as f64 / 10_000.0 < density;
        *x = if keep {
            if *x == 0 {
                1
            } else {
                *x
            }
        } else {
            0
        };
    }
}

/// The test's own encoder of the bitmap layout: rows × groups × group_len,
/// element `(r, g, e)` from `at`.
fn encode(
    rows: usize,
    groups: usize,
    len: usize,
    at: impl Fn(usize, usize, usize) -> i8,
) -> Vec<u8> {
    let gb = len.div_ceil(8);
    let mut bitmap = vec![0u8; rows * groups * gb];
    let mut values = Vec::new();
    for r in 0..rows {
        for g in 0..groups {
            for e in 0..len {
                let v = at(r, g, e);
                if v != 0 {
                    bitmap[(r * groups + g) * gb + e / 8] |= 1 << (e % 8);
                    values.push(v as u8);
                }
            }
        }
    }
    bitmap.extend(values);
    bitmap
}

fn pack4(w: &[i8]) -> Vec<u8> {
    w.chunks(2)
        .map(|p| (p[0] as u8 & 15) | ((p.get(1).copied().unwrap_or(0) as u8 & 15) << 4))
        .collect()
}

fn zp() -> impl Strategy<Value = i32> {
    prop_oneof![Just(-128), Just(127), Just(0), -128i32..=127]
}

fn density() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(0.5), Just(1.0), 0.0f64..=1.0]
}

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    hw: [usize; 2],
    in_c: usize,
    out_c: usize,
    grouped: bool,
    k: [usize; 2],
    stride: [usize; 2],
    dil: [usize; 2],
    pad: [usize; 2],
    in_zp: i32,
    out_zp: i32,
    act: (i32, i32),
    per_channel: bool,
    bias: bool,
    density: f64,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..=2, 1usize..=7, 1usize..=7, 1usize..=19, 1usize..=13),
        (
            any::<bool>(),
            1usize..=3,
            1usize..=3,
            1usize..=2,
            1usize..=2,
        ),
        (1usize..=2, 1usize..=2, 0usize..=2, 0usize..=2),
        (zp(), zp(), -128i32..=127, any::<bool>(), any::<bool>()),
        (density(), any::<u64>()),
    )
        .prop_map(
            |(
                (n, h, w, in_c, out_c),
                (grouped, kh, kw, sh, sw),
                (dh, dw, ph, pw),
                (in_zp, out_zp, lo, per_channel, bias),
                (density, seed),
            )| Case {
                n,
                hw: [h, w],
                in_c,
                out_c,
                grouped: grouped && in_c % 2 == 0 && out_c % 2 == 0,
                k: [kh, kw],
                stride: [sh, sw],
                dil: [dh, dw],
                pad: [ph, pw],
                in_zp,
                out_zp,
                act: (lo, 127),
                per_channel,
                bias,
                density,
                seed: seed | 1,
            },
        )
}

impl Case {
    fn params(&self) -> ConvParams {
        ConvParams {
            stride: self.stride,
            dilation: self.dil,
            padding: self.pad,
            input_offset: -self.in_zp,
            output_offset: self.out_zp,
            act_min: self.act.0,
            act_max: self.act.1,
        }
    }

    fn out_dims(&self, oc: usize) -> [usize; 4] {
        let o = |a: usize| {
            let span =
                (self.hw[a] + 2 * self.pad[a]) as i64 - (self.dil[a] * (self.k[a] - 1)) as i64 - 1;
            if span < 0 {
                1
            } else {
                (span / self.stride[a] as i64 + 1) as usize
            }
        };
        [self.n, o(0), o(1), oc]
    }

    fn requant(&self, rng: &mut Rng, ch: usize) -> (Vec<i32>, Vec<i32>) {
        let k = if self.per_channel { ch } else { 1 };
        (rng.i32s(k, 1 << 30, i32::MAX as i64), rng.i32s(k, -10, 1))
    }
}

fn conv_check(c: &Case, int4: bool) -> Result<(), TestCaseError> {
    let mut rng = Rng(c.seed);
    let f_c = if c.grouped { c.in_c / 2 } else { c.in_c };
    let in_dims = [c.n, c.hw[0], c.hw[1], c.in_c];
    let f_dims = [c.out_c, c.k[0], c.k[1], f_c];
    let out_dims = c.out_dims(c.out_c);
    let input = rng.i8s(in_dims.iter().product(), -128, 127);
    let (lo, hi) = if int4 { (-8, 7) } else { (-128, 127) };
    let mut filter = rng.i8s(f_dims.iter().product(), lo, hi);
    if !int4 {
        sparsify(&mut filter, c.density, &mut rng);
    }
    let bias = if c.bias {
        rng.i32s(c.out_c, -100_000, 100_000)
    } else {
        Vec::new()
    };
    let (m, s) = c.requant(&mut rng, c.out_c);
    let rq = Requant {
        multiplier: &m,
        shift: &s,
    };
    let n_out: usize = out_dims.iter().product();
    let mut want = vec![0i8; n_out];
    let r1 = conv2d_s8(
        &c.params(),
        &rq,
        &input,
        in_dims,
        &filter,
        f_dims,
        &bias,
        &mut want,
        out_dims,
    );
    let mut got = vec![0i8; n_out];
    let r2 = if int4 {
        conv2d_s4(
            &c.params(),
            &rq,
            &input,
            in_dims,
            &pack4(&filter),
            f_dims,
            &bias,
            &mut got,
            out_dims,
        )
    } else {
        let taps = c.k[0] * c.k[1];
        let enc = encode(c.out_c, taps, f_c, |r, g, e| {
            filter[(r * taps + g) * f_c + e]
        });
        let sf = SparseFilter::new(&enc, c.out_c, taps, f_c).unwrap();
        conv2d_sparse_s8(
            &c.params(),
            &rq,
            &input,
            in_dims,
            &sf,
            f_dims,
            &bias,
            &mut got,
            out_dims,
        )
    };
    prop_assert_eq!(r1, Ok(()));
    prop_assert_eq!(r2, Ok(()));
    prop_assert_eq!(got, want);
    Ok(())
}

fn depthwise_check(c: &Case, int4: bool) -> Result<(), TestCaseError> {
    let mut rng = Rng(c.seed);
    let mult = 1 + c.out_c % 3;
    let oc = c.in_c * mult;
    let in_dims = [c.n, c.hw[0], c.hw[1], c.in_c];
    let f_dims = [1, c.k[0], c.k[1], oc];
    let out_dims = c.out_dims(oc);
    let input = rng.i8s(in_dims.iter().product(), -128, 127);
    let (lo, hi) = if int4 { (-8, 7) } else { (-128, 127) };
    let mut filter = rng.i8s(f_dims.iter().product(), lo, hi);
    if !int4 {
        sparsify(&mut filter, c.density, &mut rng);
    }
    let bias = if c.bias {
        rng.i32s(oc, -100_000, 100_000)
    } else {
        Vec::new()
    };
    let (m, s) = c.requant(&mut rng, oc);
    let rq = Requant {
        multiplier: &m,
        shift: &s,
    };
    let n_out: usize = out_dims.iter().product();
    let mut want = vec![0i8; n_out];
    let r1 = depthwise_conv2d_s8(
        &c.params(),
        mult,
        &rq,
        &input,
        in_dims,
        &filter,
        f_dims,
        &bias,
        &mut want,
        out_dims,
    );
    let mut got = vec![0i8; n_out];
    let r2 = if int4 {
        depthwise_conv2d_s4(
            &c.params(),
            mult,
            &rq,
            &input,
            in_dims,
            &pack4(&filter),
            f_dims,
            &bias,
            &mut got,
            out_dims,
        )
    } else {
        let taps = c.k[0] * c.k[1];
        let enc = encode(oc, 1, taps, |r, _, e| filter[e * oc + r]);
        let sf = SparseFilter::new(&enc, oc, 1, taps).unwrap();
        depthwise_conv2d_sparse_s8(
            &c.params(),
            mult,
            &rq,
            &input,
            in_dims,
            &sf,
            f_dims,
            &bias,
            &mut got,
            out_dims,
        )
    };
    prop_assert_eq!(r1, Ok(()));
    prop_assert_eq!(r2, Ok(()));
    prop_assert_eq!(got, want);
    Ok(())
}

fn fc_check(c: &Case, int4: bool) -> Result<(), TestCaseError> {
    let mut rng = Rng(c.seed);
    // Feature counts up to 7·7·19: tails of every length mod 8.
    let (batches, inf, outf) = (c.n, c.hw[0] * c.hw[1] * c.in_c, c.out_c);
    let input = rng.i8s(batches * inf, -128, 127);
    let (lo, hi) = if int4 { (-8, 7) } else { (-128, 127) };
    let mut filter = rng.i8s(outf * inf, lo, hi);
    if !int4 {
        sparsify(&mut filter, c.density, &mut rng);
    }
    let bias = if c.bias {
        rng.i32s(outf, -100_000, 100_000)
    } else {
        Vec::new()
    };
    let (m, s) = c.requant(&mut rng, outf);
    let rq = Requant {
        multiplier: &m,
        shift: &s,
    };
    let p = FcParams {
        input_offset: -c.in_zp,
        filter_offset: 0,
        output_offset: c.out_zp,
        act_min: c.act.0,
        act_max: c.act.1,
    };
    let mut want = vec![0i8; batches * outf];
    let r1 = fully_connected_s8(
        &p, &rq, &input, batches, inf, &filter, &bias, &mut want, outf,
    );
    let mut got = vec![0i8; batches * outf];
    let r2 = if int4 {
        fully_connected_s4(
            &p,
            &rq,
            &input,
            batches,
            inf,
            &pack4(&filter),
            &bias,
            &mut got,
            outf,
        )
    } else {
        let enc = encode(outf, 1, inf, |r, _, e| filter[r * inf + e]);
        let sf = SparseFilter::new(&enc, outf, 1, inf).unwrap();
        fully_connected_sparse_s8(&p, &rq, &input, batches, inf, &sf, &bias, &mut got, outf)
    };
    prop_assert_eq!(r1, Ok(()));
    prop_assert_eq!(r2, Ok(()));
    prop_assert_eq!(got, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn sparse_conv_matches_dense_reference(c in case()) {
        conv_check(&c, false)?;
    }

    #[test]
    fn sparse_depthwise_matches_dense_reference(c in case()) {
        depthwise_check(&c, false)?;
    }

    #[test]
    fn sparse_fully_connected_matches_dense_reference(c in case()) {
        fc_check(&c, false)?;
    }

    #[test]
    fn int4_conv_matches_int8_reference(c in case()) {
        conv_check(&c, true)?;
    }

    #[test]
    fn int4_depthwise_matches_int8_reference(c in case()) {
        depthwise_check(&c, true)?;
    }

    #[test]
    fn int4_fully_connected_matches_int8_reference(c in case()) {
        fc_check(&c, true)?;
    }

    /// Arbitrary bytes as a sparse filter: either refused, or every kernel
    /// runs without panicking.
    #[test]
    fn malformed_sparse_filters_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        rows in 0usize..5, groups in 0usize..4, len in 0usize..12,
    ) {
        if let Ok(sf) = SparseFilter::new(&bytes, rows, groups, len) {
            prop_assert!(sf.nonzeros() <= bytes.len());
            let p = ConvParams {
                stride: [1, 1], dilation: [1, 1], padding: [1, 1],
                input_offset: 0, output_offset: 0, act_min: -128, act_max: 127,
            };
            let rq = Requant { multiplier: &[1 << 30], shift: &[0] };
            let input = vec![1i8; 3 * 3 * len.max(1)];
            let mut out = vec![0i8; 9 * rows];
            let _ = conv2d_sparse_s8(&p, &rq, &input, [1, 3, 3, len.max(1)], &sf,
                [rows, 1, groups, len], &[], &mut out, [1, 3, 3, rows]);
            let _ = depthwise_conv2d_sparse_s8(&p, 1, &rq, &input, [1, 3, 3, len.max(1)], &sf,
                [1, 1, groups, rows], &[], &mut out, [1, 3, 3, rows]);
            let mut fo = vec![0i8; rows];
            let _ = fully_connected_sparse_s8(&FcParams { input_offset: 0, filter_offset: 0,
                output_offset: 0, act_min: -128, act_max: 127 }, &rq, &input[..len], 1, len,
                &sf, &[], &mut fo, rows);
        }
    }
}

#[test]
fn sparse_filter_validation_is_typed() {
    // 2 rows × 1 group × 3 elements: bitmap bytes 0b101, 0b010, then 3 values.
    let ok = [0b101u8, 0b010, 1, 2, 3];
    assert_eq!(SparseFilter::new(&ok, 2, 1, 3).map(|f| f.nonzeros()), Ok(3));
    assert_eq!(
        SparseFilter::new(&ok[..4], 2, 1, 3),
        Err(KernelError::BufferLength)
    );
    assert_eq!(
        SparseFilter::new(&[0b1000, 0], 2, 1, 3),
        Err(KernelError::InvalidParameter)
    );
    assert_eq!(
        SparseFilter::new(&[0], 2, 1, 3),
        Err(KernelError::BufferLength)
    );
    assert_eq!(s4_values(&[0x78, 0x0f]), [-8, 7, -1, 0]);
}

fn s4_values(p: &[u8]) -> Vec<i32> {
    (0..p.len() * 2).map(|i| int4::s4_at(p, i)).collect()
}

/// Host timing of one ResNet-8-sized convolution (32×32×16 input, 3×3, 16
/// outputs, padding 1) at 50 % random density: the dense reference, its
/// optimised twin and the sparse kernel on the same zeroed filter. Prints
/// only (timings depend on the machine):
/// `cargo test --release -p mote-kernels --test sparse_int4 -- --ignored --nocapture`.
#[test]
#[ignore]
fn sparse_conv_host_timing() {
    let (h, w, c, oc) = (32usize, 32usize, 16usize, 16usize);
    let mut rng = Rng(12345);
    let input = rng.i8s(h * w * c, -128, 127);
    let mut filter = rng.i8s(oc * 9 * c, -128, 127);
    sparsify(&mut filter, 0.5, &mut rng);
    let enc = encode(oc, 9, c, |r, g, e| filter[(r * 9 + g) * c + e]);
    let sf = SparseFilter::new(&enc, oc, 9, c).unwrap();
    let p = ConvParams {
        stride: [1, 1],
        dilation: [1, 1],
        padding: [1, 1],
        input_offset: 3,
        output_offset: 0,
        act_min: -128,
        act_max: 127,
    };
    let rq = Requant {
        multiplier: &[1 << 30],
        shift: &[-4],
    };
    let (id, fd, od) = ([1, h, w, c], [oc, 3, 3, c], [1, h, w, oc]);
    let mut want = vec![0i8; h * w * oc];
    conv2d_s8(&p, &rq, &input, id, &filter, fd, &[], &mut want, od).unwrap();
    let n = 50;
    for name in ["reference", "fast", "sparse"] {
        let mut out = vec![0i8; h * w * oc];
        let t = std::time::Instant::now();
        for _ in 0..n {
            match name {
                "reference" => conv2d_s8(&p, &rq, &input, id, &filter, fd, &[], &mut out, od),
                "fast" => conv2d_s8_fast(&p, &rq, &input, id, &filter, fd, &[], &mut out, od),
                _ => conv2d_sparse_s8(&p, &rq, &input, id, &sf, fd, &[], &mut out, od),
            }
            .unwrap();
        }
        assert_eq!(out, want, "{name}");
        eprintln!(
            "{name}: {:.3} ms per call",
            t.elapsed().as_secs_f64() * 1e3 / f64::from(n)
        );
    }
}

/// Shapes of the tiled sparse convolution: larger channel counts (several
/// channel blocks, channels with more than 252 non-zero weights, so more
/// than one accumulation chunk), the full activation range or a ReLU-like
/// one, right shifts inside and outside the band requantisation, and
/// zero points at the int8 extremes.
#[derive(Debug, Clone)]
struct TileCase {
    hw: [usize; 2],
    in_c: usize,
    out_c: usize,
    k: [usize; 2],
    stride: [usize; 2],
    dil: [usize; 2],
    pad: [usize; 2],
    in_zp: i32,
    out_zp: i32,
    relu: bool,
    shift: (i32, i32),
    density: f64,
    extreme: bool,
    seed: u64,
}

fn tile_case() -> impl Strategy<Value = TileCase> {
    (
        (1usize..=6, 1usize..=9, 1usize..=40, 1usize..=40),
        (1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2, 1usize..=2),
        (0usize..=2, 0usize..=2, zp(), zp(), any::<bool>()),
        (
            prop_oneof![Just((-12, -2)), Just((-25, 2)), Just((-1, 1))],
            density(),
            any::<bool>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (h, w, in_c, out_c),
                (kh, kw, s, d, _),
                (ph, pw, in_zp, out_zp, relu),
                (shift, density, extreme, seed),
            )| TileCase {
                hw: [h, w],
                in_c,
                out_c,
                k: [kh, kw],
                stride: [s, 1],
                dil: [1, d],
                pad: [ph, pw],
                in_zp,
                out_zp,
                relu,
                shift,
                density,
                extreme,
                seed: seed | 1,
            },
        )
}

fn tile_check(c: &TileCase) -> Result<(), TestCaseError> {
    let mut rng = Rng(c.seed);
    let base = Case {
        n: 1,
        hw: c.hw,
        in_c: c.in_c,
        out_c: c.out_c,
        grouped: false,
        k: c.k,
        stride: c.stride,
        dil: c.dil,
        pad: c.pad,
        in_zp: c.in_zp,
        out_zp: c.out_zp,
        act: if c.relu { (c.out_zp, 127) } else { (-128, 127) },
        per_channel: true,
        bias: true,
        density: c.density,
        seed: c.seed,
    };
    let in_dims = [1, c.hw[0], c.hw[1], c.in_c];
    let f_dims = [c.out_c, c.k[0], c.k[1], c.in_c];
    let out_dims = base.out_dims(c.out_c);
    // Extreme: every input and weight -128 (largest products, 2^14 each).
    let input = if c.extreme {
        vec![-128i8; in_dims.iter().product()]
    } else {
        rng.i8s(in_dims.iter().product(), -128, 127)
    };
    let mut filter = if c.extreme {
        vec![-128i8; f_dims.iter().product()]
    } else {
        rng.i8s(f_dims.iter().product(), -128, 127)
    };
    sparsify(&mut filter, c.density, &mut rng);
    let bias = rng.i32s(c.out_c, -100_000, 100_000);
    let m = rng.i32s(c.out_c, 1 << 30, i32::MAX as i64);
    let s = rng.i32s(c.out_c, c.shift.0 as i64, c.shift.1 as i64);
    let rq = Requant {
        multiplier: &m,
        shift: &s,
    };
    let n_out: usize = out_dims.iter().product();
    let (mut want, mut got) = (vec![0i8; n_out], vec![0i8; n_out]);
    let p = base.params();
    let r1 = conv2d_s8(
        &p, &rq, &input, in_dims, &filter, f_dims, &bias, &mut want, out_dims,
    );
    let taps = c.k[0] * c.k[1];
    let enc = encode(c.out_c, taps, c.in_c, |r, g, e| {
        filter[(r * taps + g) * c.in_c + e]
    });
    let sf = SparseFilter::new(&enc, c.out_c, taps, c.in_c).unwrap();
    let r2 = conv2d_sparse_s8(
        &p, &rq, &input, in_dims, &sf, f_dims, &bias, &mut got, out_dims,
    );
    prop_assert_eq!(r1, Ok(()));
    prop_assert_eq!(r2, Ok(()));
    prop_assert_eq!(got, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn sparse_conv_tiles_match_dense_reference(c in tile_case()) {
        tile_check(&c)?;
    }
}

/// An input offset whose padding value does not fit int8 (not a TFLite
/// zero point, but accepted by the kernels) takes the per-pixel path.
#[test]
fn sparse_conv_wide_input_offset() {
    let mut rng = Rng(77);
    let (h, w, c, oc) = (5usize, 6usize, 7usize, 9usize);
    let input = rng.i8s(h * w * c, -128, 127);
    let mut filter = rng.i8s(oc * 9 * c, -128, 127);
    sparsify(&mut filter, 0.5, &mut rng);
    let enc = encode(oc, 9, c, |r, g, e| filter[(r * 9 + g) * c + e]);
    let sf = SparseFilter::new(&enc, oc, 9, c).unwrap();
    for off in [-300, 129, 1000] {
        let p = ConvParams {
            stride: [1, 1],
            dilation: [1, 1],
            padding: [1, 1],
            input_offset: off,
            output_offset: 3,
            act_min: -128,
            act_max: 127,
        };
        let rq = Requant {
            multiplier: &[1 << 30],
            shift: &[-12],
        };
        let (id, fd, od) = ([1, h, w, c], [oc, 3, 3, c], [1, h, w, oc]);
        let (mut want, mut got) = (vec![0i8; h * w * oc], vec![0i8; h * w * oc]);
        conv2d_s8(&p, &rq, &input, id, &filter, fd, &[], &mut want, od).unwrap();
        conv2d_sparse_s8(&p, &rq, &input, id, &sf, fd, &[], &mut got, od).unwrap();
        assert_eq!(got, want, "input offset {off}");
    }
}

/// The largest products (-128 · -128) in every position of a 3×3×32
/// filter: 288 non-zero weights per channel, more than one accumulation
/// chunk, each chunk at its largest sum.
#[test]
fn sparse_conv_tiles_extreme_sums() {
    for (zp, x, wv) in [
        (-128, -128i8, -128i8),
        (0, -128, -128),
        (5, 127, -128),
        (-1, -128, 127),
    ] {
        let base = TileCase {
            hw: [4, 5],
            in_c: 32,
            out_c: 3,
            k: [3, 3],
            stride: [1, 1],
            dil: [1, 1],
            pad: [1, 1],
            in_zp: zp,
            out_zp: 0,
            relu: false,
            shift: (-25, -20),
            density: 1.0,
            extreme: true,
            seed: 1,
        };
        let c = &base;
        let in_dims = [1, 4, 5, 32];
        let f_dims = [3, 3, 3, 32];
        let input = vec![x; 4 * 5 * 32];
        let filter = vec![wv; 3 * 9 * 32];
        let out_dims = [1, 4, 5, 3];
        let rq = Requant {
            multiplier: &[1 << 30, i32::MAX, 1 << 30],
            shift: &[-23, -25, -1],
        };
        let p = ConvParams {
            stride: c.stride,
            dilation: c.dil,
            padding: c.pad,
            input_offset: -zp,
            output_offset: 0,
            act_min: -128,
            act_max: 127,
        };
        let (mut want, mut got) = (vec![0i8; 60], vec![0i8; 60]);
        conv2d_s8(
            &p,
            &rq,
            &input,
            in_dims,
            &filter,
            f_dims,
            &[],
            &mut want,
            out_dims,
        )
        .unwrap();
        let enc = encode(3, 9, 32, |r, g, e| filter[(r * 9 + g) * 32 + e]);
        let sf = SparseFilter::new(&enc, 3, 9, 32).unwrap();
        conv2d_sparse_s8(
            &p,
            &rq,
            &input,
            in_dims,
            &sf,
            f_dims,
            &[],
            &mut got,
            out_dims,
        )
        .unwrap();
        assert_eq!(got, want, "zp {zp}, x {x}, w {wv}");
    }
}

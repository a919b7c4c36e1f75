//! Property test for the float kernels: arbitrary shapes, parameters, buffer
//! lengths and values (NaN, infinities) never make a kernel panic; every
//! call returns `Ok` or an error, and consistent shapes return `Ok`.

use mote_kernels::*;
use proptest::prelude::*;

fn dims() -> impl Strategy<Value = [usize; 4]> {
    prop::array::uniform4(prop_oneof![4 => 0usize..4, 1 => Just(1usize), 1 => 4usize..7])
}

fn maybe_len(d: [usize; 4]) -> impl Strategy<Value = usize> {
    let n: usize = d.iter().product();
    prop_oneof![8 => Just(n), 1 => 0usize..8]
}

fn small_usize() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0usize..4, 1 => Just(usize::MAX), 1 => Just(1usize << 40)]
}

fn wild_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        6 => -4.0f32..4.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::MAX),
        1 => any::<f32>(),
    ]
}

/// Values of every kind: mostly ordinary, some NaN, infinite or huge.
fn buf(len: usize, seed: u64) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let k = seed.wrapping_mul(31).wrapping_add(i as u64 * 7919);
            match k % 23 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => -f32::MAX,
                _ => (k % 200) as f32 / 25.0 - 4.0,
            }
        })
        .collect()
}

fn halves(v: &[f32]) -> Vec<f16> {
    v.iter().map(|&x| f16::from_f32(x)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn float_conv_like_never_panics(
        (id, il) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        (fd, fl) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        (od, ol) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        stride in prop::array::uniform2(small_usize()),
        dilation in prop::array::uniform2(small_usize()),
        padding in prop::array::uniform2(small_usize()),
        act in (wild_f32(), wild_f32()),
        bias_len in 0usize..5,
        dm in 0usize..4,
        seed in any::<u64>(),
    ) {
        let act = FloatAct::new(act.0, act.1);
        let p = FloatConvParams { stride, dilation, padding, act };
        let input = buf(il, seed);
        let filter = buf(fl, seed ^ 1);
        let filter16 = halves(&filter);
        let bias = buf(bias_len, seed ^ 2);
        let mut out = vec![0f32; ol];
        for w in [Weights::F32(&filter), Weights::F16(&filter16)] {
            let _ = conv2d_f32(&p, &input, id, w, fd, &bias, &mut out, od);
            let _ = depthwise_conv2d_f32(&p, dm, &input, id, w, fd, &bias, &mut out, od);
            let _ = fully_connected_f32(act, &input, id[0], id[1], w, &bias, &mut out, od[3]);
        }
        let pp = FloatPoolParams { stride, filter: dilation, padding, act };
        let _ = avg_pool_f32(&pp, &input, id, &mut out, od);
        let _ = max_pool_f32(&pp, &input, id, &mut out, od);
        let _ = mean_hw_f32(&input, id, &mut out, od);
    }

    #[test]
    fn float_elementwise_and_layout_never_panic(
        (d1, l1) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        (d2, l2) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        (od, ol) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        act in (wild_f32(), wild_f32()),
        pads in prop::array::uniform4(prop::array::uniform2(small_usize())),
        perm in prop::array::uniform4(0usize..5),
        axis in 0usize..5,
        row in small_usize(),
        seed in any::<u64>(),
    ) {
        let act = FloatAct::new(act.0, act.1);
        let a = buf(l1, seed);
        let b = buf(l2, seed ^ 2);
        let mut out = vec![0f32; ol];
        let _ = add_f32(act, &a, d1, &b, d2, &mut out, od);
        let _ = mul_f32(act, &a, d1, &b, d2, &mut out, od);
        let _ = pad_f32(&a, d1, pads, act.min, &mut out, od);
        let _ = concat_f32(&[(&a, d1), (&b, d2)], axis, &mut out, od);
        let _ = transpose_f32(&a, d1, perm, &mut out, od);
        let _ = softmax_f32(&a, row, &mut out);
        let mut out_a = vec![0f32; a.len()];
        let _ = softmax_f32(&a, d1[3], &mut out_a);
        let _ = logistic_f32(&a, &mut out);
        let _ = logistic_f32(&a, &mut out_a);
        let _ = tanh_f32(&a, &mut out_a);
        let _ = clamp_f32(act, &a, &mut out_a);
        let _ = clamp_f32(act, &a, &mut out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Consistent shapes so the inner loops run, with extreme values.
    #[test]
    fn float_kernels_with_valid_shapes_run(
        n in 1usize..3, h in 1usize..7, w in 1usize..7, c in 1usize..5,
        kh in 1usize..4, kw in 1usize..4, oc in 1usize..5, dm in 1usize..3,
        oh in 1usize..6, ow in 1usize..6,
        stride in prop::array::uniform2(1usize..4),
        dilation in prop::array::uniform2(1usize..4),
        padding in prop::array::uniform2(0usize..4),
        act in (wild_f32(), wild_f32()),
        f16_weights in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (lo, hi) = if act.0 <= act.1 { act } else { (act.1, act.0) };
        let act = if lo <= hi { FloatAct::new(lo, hi) } else { FloatAct::NONE };
        let p = FloatConvParams { stride, dilation, padding, act };
        let input = buf(n * h * w * c, seed);
        let bias = buf(oc, seed ^ 6);
        let filter = buf(oc * kh * kw * c, seed ^ 3);
        let filter16 = halves(&filter);
        let wf = if f16_weights { Weights::F16(&filter16) } else { Weights::F32(&filter) };
        let mut out = vec![0f32; n * oh * ow * oc];
        prop_assert!(conv2d_f32(&p, &input, [n, h, w, c], wf, [oc, kh, kw, c], &bias, &mut out, [n, oh, ow, oc]).is_ok());
        let doc = c * dm;
        let dfilter = buf(kh * kw * doc, seed ^ 4);
        let dbias = buf(doc, seed ^ 7);
        let mut dout = vec![0f32; n * oh * ow * doc];
        prop_assert!(depthwise_conv2d_f32(&p, dm, &input, [n, h, w, c], Weights::F32(&dfilter), [1, kh, kw, doc], &dbias, &mut dout, [n, oh, ow, doc]).is_ok());
        let fc_filter = buf(oc * h * w * c, seed ^ 5);
        let fc16 = halves(&fc_filter);
        let fw = if f16_weights { Weights::F16(&fc16) } else { Weights::F32(&fc_filter) };
        let mut fout = vec![0f32; n * oc];
        prop_assert!(fully_connected_f32(act, &input, n, h * w * c, fw, &bias, &mut fout, oc).is_ok());
        let pp = FloatPoolParams { stride, filter: [kh, kw], padding, act };
        let mut pout = vec![0f32; n * oh * ow * c];
        let _ = avg_pool_f32(&pp, &input, [n, h, w, c], &mut pout, [n, oh, ow, c]);
        prop_assert!(max_pool_f32(&pp, &input, [n, h, w, c], &mut pout, [n, oh, ow, c]).is_ok());
        let mut mout = vec![0f32; n * c];
        prop_assert!(mean_hw_f32(&input, [n, h, w, c], &mut mout, [n, 1, 1, c]).is_ok());
        let mut sout = vec![0f32; input.len()];
        prop_assert!(softmax_f32(&input, c, &mut sout).is_ok());
        // Rows without NaN or +inf sum to 1.
        for (row, x) in sout.chunks(c).zip(input.chunks(c)) {
            if x.iter().all(|v| v.is_finite()) {
                let s: f32 = row.iter().sum();
                prop_assert!((s - 1.0).abs() < 1e-5, "row sums to {}", s);
            }
        }
        let mut aout = vec![0f32; input.len()];
        prop_assert!(add_f32(act, &input, [n, h, w, c], &input[..c], [1, 1, 1, c], &mut aout, [n, h, w, c]).is_ok());
        prop_assert!(mul_f32(act, &input, [n, h, w, c], &input[..c], [1, 1, 1, c], &mut aout, [n, h, w, c]).is_ok());
    }
}

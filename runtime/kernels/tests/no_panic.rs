//! Property test: arbitrary shapes, parameters and buffer lengths never make a
//! kernel panic (debug builds trap on overflow and out-of-bounds indexing);
//! every call returns `Ok` or an error.

use mote_kernels::*;
use proptest::prelude::*;

fn dims() -> impl Strategy<Value = [usize; 4]> {
    prop::array::uniform4(prop_oneof![4 => 0usize..4, 1 => Just(1usize), 1 => 4usize..7])
}

fn maybe_len(d: [usize; 4]) -> impl Strategy<Value = usize> {
    let n: usize = d.iter().product();
    prop_oneof![8 => Just(n), 1 => 0usize..8]
}

fn wild_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => -300i32..300,
        1 => Just(i32::MIN),
        1 => Just(i32::MAX),
        1 => any::<i32>(),
    ]
}

fn small_usize() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0usize..4, 1 => Just(usize::MAX), 1 => Just(1usize << 40)]
}

fn buf(len: usize, seed: u64) -> Vec<i8> {
    (0..len)
        .map(|i| (seed.wrapping_mul(31).wrapping_add(i as u64 * 7919) % 256) as u8 as i8)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn conv_like_never_panics(
        (id, il) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        (fd, fl) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        (od, ol) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        stride in prop::array::uniform2(small_usize()),
        dilation in prop::array::uniform2(small_usize()),
        padding in prop::array::uniform2(small_usize()),
        offs in prop::array::uniform4(wild_i32()),
        rq_m in prop::collection::vec(wild_i32(), 0..4),
        rq_s in prop::collection::vec(wild_i32(), 0..4),
        bias_len in 0usize..5,
        dm in 0usize..4,
        seed in any::<u64>(),
    ) {
        let p = ConvParams { stride, dilation, padding, input_offset: offs[0], output_offset: offs[1], act_min: offs[2].clamp(-128, 127), act_max: offs[3].clamp(-128, 127) };
        let rq = Requant { multiplier: &rq_m, shift: &rq_s };
        let input = buf(il, seed);
        let filter = buf(fl, seed ^ 1);
        let bias: Vec<i32> = (0..bias_len as i32).map(|i| i.wrapping_mul(offs[0])).collect();
        let mut out = vec![0i8; ol];
        let _ = conv2d_s8(&p, &rq, &input, id, &filter, fd, &bias, &mut out, od);
        let _ = depthwise_conv2d_s8(&p, dm, &rq, &input, id, &filter, fd, &bias, &mut out, od);
        let fc = FcParams { input_offset: offs[0], filter_offset: offs[1], output_offset: offs[2], act_min: -128, act_max: 127 };
        let _ = fully_connected_s8(&fc, &rq, &input, id[0], id[1], &filter, &bias, &mut out, od[3]);
        let pp = PoolParams { stride, filter: dilation, padding, act_min: p.act_min, act_max: p.act_max };
        let _ = avg_pool_s8(&pp, &input, id, &mut out, od);
        let _ = max_pool_s8(&pp, &input, id, &mut out, od);
        let mp = MeanParams { input_zero_point: offs[0], output_zero_point: offs[1], multiplier: offs[2], shift: offs[3], same_quantization: seed % 2 == 0 };
        let _ = mean_hw_s8(&mp, &input, id, &mut out, od);
    }

    #[test]
    fn elementwise_and_layout_never_panic(
        (d1, l1) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        (d2, l2) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        (od, ol) in dims().prop_flat_map(|d| (Just(d), maybe_len(d))),
        v in prop::array::uniform12(wild_i32()),
        pads in prop::array::uniform4(prop::array::uniform2(small_usize())),
        perm in prop::array::uniform4(0usize..5),
        axis in 0usize..5,
        seed in any::<u64>(),
    ) {
        let a = buf(l1, seed);
        let b = buf(l2, seed ^ 2);
        let mut out = vec![0i8; ol];
        let ap = AddParams { input1_offset: v[0], input2_offset: v[1], output_offset: v[2], left_shift: v[3], input1_multiplier: v[4], input1_shift: v[5], input2_multiplier: v[6], input2_shift: v[7], output_multiplier: v[8], output_shift: v[9], act_min: v[10], act_max: v[11] };
        let _ = add_s8(&ap, &a, d1, &b, d2, &mut out, od);
        let ap2 = AddParams { left_shift: v[3].rem_euclid(32), act_min: -128, act_max: 127, ..ap };
        let _ = add_s8(&ap2, &a, d1, &b, d2, &mut out, od);
        let mp = MulParams { input1_offset: v[0], input2_offset: v[1], output_offset: v[2], output_multiplier: v[8], output_shift: v[9], act_min: -128, act_max: 127 };
        let _ = mul_s8(&mp, &a, d1, &b, d2, &mut out, od);
        let _ = pad_s8(&a, d1, pads, 3, &mut out, od);
        let _ = concat_s8(&[(&a, d1), (&b, d2)], axis, &mut out, od);
        let _ = transpose_s8(&a, d1, perm, &mut out, od);
        let sp = SoftmaxParams { input_multiplier: v[0], input_left_shift: v[1], diff_min: v[2] };
        let _ = softmax_s8(&sp, &a, d1[3], &mut out);
        let mut out_a = vec![0i8; a.len()];
        let _ = softmax_s8(&sp, &a, d1[3], &mut out_a);
        let lp = LutActParams { input_zero_point: v[3], input_range_radius: v[4], input_multiplier: v[5], input_left_shift: v[6] };
        let _ = logistic_s8(&lp, &a, &mut out_a);
        let _ = tanh_s8(&lp, &a, &mut out_a);
        let _ = requantize_s8(&a, v[7], v[8], v[9], v[10], &mut out_a);
        let f: Vec<f32> = a.iter().map(|&x| f32::from(x) * f32::from_bits(v[11] as u32)).collect();
        let _ = quantize_f32_s8(&f, f32::from_bits(v[10] as u32), v[9], &mut out_a);
        let mut fo = vec![0f32; a.len()];
        let _ = dequantize_s8_f32(&a, f32::from_bits(v[8] as u32), v[7], &mut fo);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Consistent shapes so the inner loops run, with extreme quantisation
    /// parameters.
    #[test]
    fn kernels_with_valid_shapes_never_panic(
        n in 1usize..3, h in 1usize..7, w in 1usize..7, c in 1usize..5,
        kh in 1usize..4, kw in 1usize..4, oc in 1usize..5, dm in 1usize..3,
        oh in 1usize..6, ow in 1usize..6,
        stride in prop::array::uniform2(1usize..4),
        dilation in prop::array::uniform2(1usize..4),
        padding in prop::array::uniform2(0usize..4),
        offs in prop::array::uniform4(wild_i32()),
        mults in prop::collection::vec(wild_i32(), 1..2),
        shifts in prop::collection::vec(prop_oneof![-40i32..40, any::<i32>()], 1..2),
        act in (-128i32..=127, -128i32..=127),
        seed in any::<u64>(),
    ) {
        let (act_min, act_max) = (act.0.min(act.1), act.0.max(act.1));
        let p = ConvParams { stride, dilation, padding, input_offset: offs[0], output_offset: offs[1], act_min, act_max };
        let rq = Requant { multiplier: &mults, shift: &shifts };
        let input = buf(n * h * w * c, seed);
        let bias: Vec<i32> = (0..oc).map(|i| offs[2].wrapping_add(i as i32)).collect();
        let filter = buf(oc * kh * kw * c, seed ^ 3);
        let mut out = vec![0i8; n * oh * ow * oc];
        prop_assert!(conv2d_s8(&p, &rq, &input, [n, h, w, c], &filter, [oc, kh, kw, c], &bias, &mut out, [n, oh, ow, oc]).is_ok());
        let doc = c * dm;
        let dfilter = buf(kh * kw * doc, seed ^ 4);
        let dbias: Vec<i32> = (0..doc).map(|i| offs[3].wrapping_mul(i as i32)).collect();
        let mut dout = vec![0i8; n * oh * ow * doc];
        prop_assert!(depthwise_conv2d_s8(&p, dm, &rq, &input, [n, h, w, c], &dfilter, [1, kh, kw, doc], &dbias, &mut dout, [n, oh, ow, doc]).is_ok());
        let fc = FcParams { input_offset: offs[0], filter_offset: offs[3], output_offset: offs[1], act_min, act_max };
        let mut fout = vec![0i8; n * oc];
        let fc_filter = buf(oc * h * w * c, seed ^ 5);
        prop_assert!(fully_connected_s8(&fc, &rq, &input, n, h * w * c, &fc_filter, &bias, &mut fout, oc).is_ok());
        let pp = PoolParams { stride, filter: [kh, kw], padding, act_min, act_max };
        let mut pout = vec![0i8; n * oh * ow * c];
        let _ = avg_pool_s8(&pp, &input, [n, h, w, c], &mut pout, [n, oh, ow, c]);
        prop_assert!(max_pool_s8(&pp, &input, [n, h, w, c], &mut pout, [n, oh, ow, c]).is_ok());
        let mp = MeanParams { input_zero_point: offs[0], output_zero_point: offs[1], multiplier: mults[0], shift: shifts[0], same_quantization: seed % 2 == 0 };
        let mut mout = vec![0i8; n * c];
        prop_assert!(mean_hw_s8(&mp, &input, [n, h, w, c], &mut mout, [n, 1, 1, c]).is_ok());
        let sp = SoftmaxParams { input_multiplier: mults[0], input_left_shift: shifts[0], diff_min: offs[2] };
        let mut sout = vec![0i8; input.len()];
        prop_assert!(softmax_s8(&sp, &input, c, &mut sout).is_ok());
        let ap = AddParams { input1_offset: offs[0], input2_offset: offs[1], output_offset: offs[2], left_shift: (offs[3] & 31), input1_multiplier: mults[0], input1_shift: shifts[0], input2_multiplier: offs[3], input2_shift: offs[2], output_multiplier: mults[0], output_shift: shifts[0], act_min, act_max };
        let mut aout = vec![0i8; input.len()];
        prop_assert!(add_s8(&ap, &input, [n, h, w, c], &input[..c], [1, 1, 1, c], &mut aout, [n, h, w, c]).is_ok());
    }
}

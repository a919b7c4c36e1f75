//! Convolution, depthwise and fully connected against independent oracles.

mod common;
use common::*;
use mote_kernels::*;

const IDENTITY_M: [i32; 1] = [1 << 30];
const IDENTITY_S: [i32; 1] = [1];

fn identity() -> Requant<'static> {
    Requant {
        multiplier: &IDENTITY_M,
        shift: &IDENTITY_S,
    }
}

fn params(
    stride: [usize; 2],
    dilation: [usize; 2],
    padding: [usize; 2],
    in_zp: i32,
    out_zp: i32,
) -> ConvParams {
    ConvParams {
        stride,
        dilation,
        padding,
        input_offset: -in_zp,
        output_offset: out_zp,
        act_min: -128,
        act_max: 127,
    }
}

#[test]
fn conv_1x1_hand_computed() {
    // input_zp = -1 -> offset +1; identity requant; output zp 3.
    let p = params([1, 1], [1, 1], [0, 0], -1, 3);
    let input = [1i8, 2, 3];
    let filter = [1i8, 0, -1, 2, 2, 2];
    let bias = [10, -5];
    let mut out = [0i8; 2];
    conv2d_s8(
        &p,
        &identity(),
        &input,
        [1, 1, 1, 3],
        &filter,
        [2, 1, 1, 3],
        &bias,
        &mut out,
        [1, 1, 1, 2],
    )
    .unwrap();
    // (1*2 + 0*3 - 1*4 + 10) + 3 = 11 ; (2*(2+3+4) - 5) + 3 = 16
    assert_eq!(out, [11, 16]);
}

#[test]
fn conv_1x1_with_hand_requantization() {
    // Multiplier 0.75 * 2^-2 = 0.1875: acc 100 -> srdhm(100, 0.75) = 75 -> 75/4 = 18.75 -> 19.
    let p = params([1, 1], [1, 1], [0, 0], 0, -7);
    let m = [3 << 29];
    let s = [-2];
    let rq = Requant {
        multiplier: &m,
        shift: &s,
    };
    let input = [10i8, 5];
    let filter = [6i8, 8]; // 60 + 40 = 100
    let mut out = [0i8; 1];
    conv2d_s8(
        &p,
        &rq,
        &input,
        [1, 1, 1, 2],
        &filter,
        [1, 1, 1, 2],
        &[],
        &mut out,
        [1, 1, 1, 1],
    )
    .unwrap();
    assert_eq!(out, [19 - 7]);
}

/// Runs conv2d with identity requantisation against the explicit-padding oracle.
#[allow(clippy::too_many_arguments)]
fn check_conv_exact(
    seed: u64,
    id: [usize; 4],
    fd: [usize; 4],
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: [usize; 2],
    od: [usize; 4],
    in_zp: i32,
    out_zp: i32,
) {
    let mut rng = Rng::new(seed);
    let input = rng.i8s(id.iter().product(), in_zp - 3, in_zp + 3);
    let filter = rng.i8s(fd.iter().product(), -2, 2);
    let bias: Vec<i32> = (0..fd[0]).map(|_| rng.range(-20, 20)).collect();
    let p = params(stride, dilation, pad, in_zp, out_zp);
    let mut out = vec![0i8; od.iter().product()];
    conv2d_s8(
        &p,
        &identity(),
        &input,
        id,
        &filter,
        fd,
        &bias,
        &mut out,
        od,
    )
    .unwrap();
    let acc = conv_acc_oracle(
        &input, id, in_zp, &filter, fd, &bias, stride, dilation, pad, od,
    );
    let want: Vec<i32> = acc
        .iter()
        .map(|&a| (a + i64::from(out_zp)).clamp(-128, 127) as i32)
        .collect();
    assert_close(&out, &want, 0);
}

#[test]
fn conv_padding_on_all_sides() {
    check_conv_exact(
        1,
        [2, 5, 6, 3],
        [4, 3, 3, 3],
        [1, 1],
        [1, 1],
        [1, 1],
        [2, 5, 6, 4],
        5,
        -2,
    );
}

#[test]
fn conv_stride2_same_asymmetric_padding() {
    // 6x6, k3, s2 SAME: out 3, total pad 1 -> top/left 0, bottom/right 1.
    check_conv_exact(
        2,
        [1, 6, 6, 2],
        [3, 3, 3, 2],
        [2, 2],
        [1, 1],
        [0, 0],
        [1, 3, 3, 3],
        -128,
        0,
    );
    // 7x7, k4, s2 SAME: out 4, total pad 3 -> top/left 1, bottom/right 2.
    check_conv_exact(
        3,
        [1, 7, 7, 3],
        [2, 4, 4, 3],
        [2, 2],
        [1, 1],
        [1, 1],
        [1, 4, 4, 2],
        127,
        10,
    );
}

#[test]
fn conv_dilation_and_odd_channels() {
    check_conv_exact(
        4,
        [1, 9, 8, 5],
        [3, 3, 3, 5],
        [1, 1],
        [2, 3],
        [2, 3],
        [1, 9, 8, 3],
        -1,
        1,
    );
    check_conv_exact(
        5,
        [1, 10, 10, 1],
        [1, 3, 2, 1],
        [2, 3],
        [3, 2],
        [0, 1],
        [1, 2, 4, 1],
        0,
        0,
    );
}

#[test]
fn conv_grouped() {
    // 4 input channels, filters see 2 -> 2 groups, 4 filters -> 2 per group.
    check_conv_exact(
        6,
        [1, 4, 4, 4],
        [4, 3, 3, 2],
        [1, 1],
        [1, 1],
        [1, 1],
        [1, 4, 4, 4],
        3,
        0,
    );
}

#[cfg(feature = "std")]
#[test]
fn conv_matches_float_reference_per_channel() {
    use mote_kernels::prepare::{activation_range, conv_multipliers, Activation};
    let mut rng = Rng::new(7);
    let (id, fd, od) = ([1, 7, 7, 6], [5, 3, 3, 6], [1, 4, 4, 5]);
    let (stride, pad) = ([2, 2], [1, 1]);
    let (in_scale, in_zp) = (0.05f32, -20);
    let (out_scale, out_zp) = (0.4f32, 5);
    let f_scales: Vec<f32> = (0..5).map(|i| 0.002 + 0.003 * i as f32).collect();
    let input = rng.i8s(7 * 7 * 6, -128, 127);
    let filter = rng.i8s(5 * 3 * 3 * 6, -127, 127);
    let bias: Vec<i32> = (0..5).map(|_| rng.range(-3000, 3000)).collect();
    let (m, s) = conv_multipliers(in_scale, &f_scales, out_scale);
    let (act_min, act_max) = activation_range(Activation::Relu, out_scale, out_zp);
    let p = ConvParams {
        stride,
        dilation: [1, 1],
        padding: pad,
        input_offset: -in_zp,
        output_offset: out_zp,
        act_min,
        act_max,
    };
    let mut out = vec![0i8; 80];
    conv2d_s8(
        &p,
        &Requant {
            multiplier: &m,
            shift: &s,
        },
        &input,
        id,
        &filter,
        fd,
        &bias,
        &mut out,
        od,
    )
    .unwrap();
    let acc = conv_acc_oracle(
        &input,
        id,
        in_zp,
        &filter,
        fd,
        &bias,
        stride,
        [1, 1],
        pad,
        od,
    );
    let want: Vec<i32> = acc
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let real = a as f64 * f64::from(in_scale) * f64::from(f_scales[i % 5]);
            q8(real / f64::from(out_scale) + f64::from(out_zp)).clamp(act_min, act_max)
        })
        .collect();
    assert_close(&out, &want, 1);
    assert!(
        want.iter().any(|&w| w > act_min),
        "test data should not all clamp"
    );
}

#[test]
fn conv_rejects_bad_arguments() {
    let p = params([1, 1], [1, 1], [0, 0], 0, 0);
    let input = [0i8; 4];
    let filter = [0i8; 2];
    let mut out = [0i8; 4];
    let id = [1, 2, 1, 2];
    let fd = [2, 1, 1, 1];
    let od = [1, 2, 1, 2];
    let rq = identity();
    // Works (groups = 2).
    assert_eq!(
        conv2d_s8(&p, &rq, &input, id, &filter, fd, &[], &mut out, od),
        Ok(())
    );
    assert_eq!(
        conv2d_s8(&p, &rq, &input[..3], id, &filter, fd, &[], &mut out, od),
        Err(KernelError::BufferLength)
    );
    assert_eq!(
        conv2d_s8(&p, &rq, &input, id, &filter, fd, &[1], &mut out, od),
        Err(KernelError::BufferLength)
    );
    let zero_stride = ConvParams {
        stride: [0, 1],
        ..p
    };
    assert_eq!(
        conv2d_s8(
            &zero_stride,
            &rq,
            &input,
            id,
            &filter,
            fd,
            &[],
            &mut out,
            od
        ),
        Err(KernelError::InvalidParameter)
    );
    let bad_act = ConvParams {
        act_min: 5,
        act_max: 4,
        ..p
    };
    assert_eq!(
        conv2d_s8(&bad_act, &rq, &input, id, &filter, fd, &[], &mut out, od),
        Err(KernelError::InvalidParameter)
    );
    let m3 = [1, 2, 3];
    let bad_rq = Requant {
        multiplier: &m3,
        shift: &m3,
    };
    assert_eq!(
        conv2d_s8(&p, &bad_rq, &input, id, &filter, fd, &[], &mut out, od),
        Err(KernelError::InvalidParameter)
    );
    assert_eq!(
        conv2d_s8(
            &p,
            &rq,
            &input,
            id,
            &filter,
            [2, 1, 1, 3],
            &[],
            &mut out,
            od
        ),
        Err(KernelError::BufferLength)
    );
    // Input channels not divisible by the filter's channels.
    let filter3 = [0i8; 6];
    assert_eq!(
        conv2d_s8(
            &p,
            &rq,
            &input,
            id,
            &filter3,
            [2, 1, 1, 3],
            &[],
            &mut out,
            od
        ),
        Err(KernelError::ShapeMismatch)
    );
}

#[test]
fn depthwise_multiplier_2_hand_computed() {
    let p = params([1, 1], [1, 1], [0, 0], 0, 0);
    let input = [3i8, -2];
    let filter = [1i8, 2, 3, 4];
    let mut out = [0i8; 4];
    depthwise_conv2d_s8(
        &p,
        2,
        &identity(),
        &input,
        [1, 1, 1, 2],
        &filter,
        [1, 1, 1, 4],
        &[],
        &mut out,
        [1, 1, 1, 4],
    )
    .unwrap();
    assert_eq!(out, [3, 6, -6, -8]);
}

/// Depthwise with multiplier `dm` equals a grouped convolution with one input
/// channel per group and the filter moved from [1,KH,KW,OC] to [OC,KH,KW,1].
#[cfg(feature = "std")]
#[test]
fn depthwise_equals_grouped_conv() {
    use mote_kernels::prepare::conv_multipliers;
    let mut rng = Rng::new(11);
    for &(ic, dm, stride, dil, pad, hw, k) in &[
        (
            3usize,
            2usize,
            [1usize, 1usize],
            [1usize, 1usize],
            [1usize, 1usize],
            6usize,
            3usize,
        ),
        (5, 1, [2, 2], [1, 1], [0, 1], 7, 3),
        (2, 3, [1, 2], [2, 1], [2, 0], 8, 2),
    ] {
        let oc = ic * dm;
        let id = [2, hw, hw, ic];
        let oh = (hw + pad[0] * 2 - ((k - 1) * dil[0] + 1)) / stride[0] + 1;
        let ow = (hw + pad[1] * 2 - ((k - 1) * dil[1] + 1)) / stride[1] + 1;
        let od = [2, oh, ow, oc];
        let input = rng.i8s(id.iter().product(), -128, 127);
        let dw_filter = rng.i8s(k * k * oc, -127, 127);
        let bias: Vec<i32> = (0..oc).map(|_| rng.range(-5000, 5000)).collect();
        let scales: Vec<f32> = (0..oc).map(|i| 0.001 + 0.0005 * i as f32).collect();
        let (m, s) = conv_multipliers(0.03, &scales, 0.1);
        let rq = Requant {
            multiplier: &m,
            shift: &s,
        };
        let p = ConvParams {
            stride,
            dilation: dil,
            padding: pad,
            input_offset: 7,
            output_offset: -3,
            act_min: -100,
            act_max: 120,
        };
        let mut a = vec![0i8; od.iter().product()];
        depthwise_conv2d_s8(
            &p,
            dm,
            &rq,
            &input,
            id,
            &dw_filter,
            [1, k, k, oc],
            &bias,
            &mut a,
            od,
        )
        .unwrap();
        let mut conv_filter = vec![0i8; oc * k * k];
        for y in 0..k {
            for x in 0..k {
                for o in 0..oc {
                    conv_filter[off([oc, k, k, 1], o, y, x, 0)] =
                        dw_filter[off([1, k, k, oc], 0, y, x, o)];
                }
            }
        }
        let mut b = vec![0i8; a.len()];
        conv2d_s8(
            &p,
            &rq,
            &input,
            id,
            &conv_filter,
            [oc, k, k, 1],
            &bias,
            &mut b,
            od,
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(a.iter().any(|&v| v != a[0]));
    }
}

#[test]
fn depthwise_exact_with_padding() {
    let mut rng = Rng::new(12);
    let (id, k, dm) = ([1, 5, 5, 3], 3, 2);
    let oc = 6;
    let od = [1, 5, 5, oc];
    let input = rng.i8s(75, -4, 4);
    let filter = rng.i8s(k * k * oc, -3, 3);
    let p = params([1, 1], [1, 1], [1, 1], 0, 0);
    let mut out = vec![0i8; 150];
    depthwise_conv2d_s8(
        &p,
        dm,
        &identity(),
        &input,
        id,
        &filter,
        [1, k, k, oc],
        &[],
        &mut out,
        od,
    )
    .unwrap();
    for oy in 0..5 {
        for ox in 0..5 {
            for o in 0..oc {
                let ic = o / dm;
                let mut acc = 0i32;
                for ky in 0..k {
                    for kx in 0..k {
                        let (y, x) = (oy as i32 + ky as i32 - 1, ox as i32 + kx as i32 - 1);
                        if (0..5).contains(&y) && (0..5).contains(&x) {
                            acc += i32::from(input[off(id, 0, y as usize, x as usize, ic)])
                                * i32::from(filter[off([1, k, k, oc], 0, ky, kx, o)]);
                        }
                    }
                }
                assert_eq!(i32::from(out[off(od, 0, oy, ox, o)]), acc.clamp(-128, 127));
            }
        }
    }
}

#[test]
fn depthwise_rejects_bad_multiplier() {
    let p = params([1, 1], [1, 1], [0, 0], 0, 0);
    let mut out = [0i8; 4];
    let r = depthwise_conv2d_s8(
        &p,
        3,
        &identity(),
        &[0, 0],
        [1, 1, 1, 2],
        &[0; 4],
        [1, 1, 1, 4],
        &[],
        &mut out,
        [1, 1, 1, 4],
    );
    assert_eq!(r, Err(KernelError::ShapeMismatch));
    let r = depthwise_conv2d_s8(
        &p,
        0,
        &identity(),
        &[0, 0],
        [1, 1, 1, 2],
        &[0; 4],
        [1, 1, 1, 4],
        &[],
        &mut out,
        [1, 1, 1, 4],
    );
    assert_eq!(r, Err(KernelError::InvalidParameter));
}

#[test]
fn fully_connected_hand_computed() {
    // 2 batches, 3 inputs, 2 outputs; input zp 1, filter zp -2 (offset 2), out zp -1.
    let p = FcParams {
        input_offset: -1,
        filter_offset: 2,
        output_offset: -1,
        act_min: -128,
        act_max: 127,
    };
    let input = [1i8, 2, 3, 0, -1, 5];
    let filter = [1i8, -1, 0, 2, 0, -2];
    let bias = [4, -4];
    let mut out = [0i8; 4];
    fully_connected_s8(&p, &identity(), &input, 2, 3, &filter, &bias, &mut out, 2).unwrap();
    // b0: x-1 = [0,1,2]; w+2 = [3,1,2] -> 0+1+4+4 = 9 -> 8 ; [4,2,0] -> 0+2+0-4 = -2 -> -3
    // b1: x-1 = [-1,-2,4]; [3,1,2] -> -3-2+8+4 = 7 -> 6 ; [4,2,0] -> -4-4+0-4 = -12 -> -13
    assert_eq!(out, [8, -3, 6, -13]);
}

#[test]
fn fully_connected_per_channel_ignores_filter_offset() {
    let p = FcParams {
        input_offset: 0,
        filter_offset: 100,
        output_offset: 0,
        act_min: -128,
        act_max: 127,
    };
    let m = [1 << 30, 1 << 30];
    let s = [1, 2]; // x1, x2
    let rq = Requant {
        multiplier: &m,
        shift: &s,
    };
    let mut out = [0i8; 2];
    fully_connected_s8(&p, &rq, &[3, 4], 1, 2, &[1, 1, 2, -1], &[], &mut out, 2).unwrap();
    assert_eq!(out, [7, 4]);
}

#[cfg(feature = "std")]
#[test]
fn fully_connected_matches_float_reference() {
    use mote_kernels::prepare::fc_multiplier;
    let mut rng = Rng::new(13);
    let (b, i, o) = (3, 37, 11);
    let (in_s, in_zp, f_s, out_s, out_zp) = (0.02f32, 12, 0.004f32, 0.15f32, -128 + 30);
    let input = rng.i8s(b * i, -128, 127);
    let filter = rng.i8s(o * i, -127, 127);
    let bias: Vec<i32> = (0..o).map(|_| rng.range(-2000, 2000)).collect();
    let (m, s) = fc_multiplier(in_s, f_s, out_s);
    let rq = Requant {
        multiplier: &[m],
        shift: &[s],
    };
    let p = FcParams {
        input_offset: -in_zp,
        filter_offset: 0,
        output_offset: out_zp,
        act_min: -128,
        act_max: 127,
    };
    let mut out = vec![0i8; b * o];
    fully_connected_s8(&p, &rq, &input, b, i, &filter, &bias, &mut out, o).unwrap();
    let mut want = vec![];
    for bb in 0..b {
        for oo in 0..o {
            let mut acc = i64::from(bias[oo]);
            for k in 0..i {
                acc += i64::from(filter[oo * i + k])
                    * (i64::from(input[bb * i + k]) - i64::from(in_zp));
            }
            want.push(q8(acc as f64 * f64::from(in_s) * f64::from(f_s)
                / f64::from(out_s)
                + f64::from(out_zp)));
        }
    }
    assert_close(&out, &want, 1);
}

#[test]
fn fully_connected_rejects_bad_lengths() {
    let p = FcParams {
        input_offset: 0,
        filter_offset: 0,
        output_offset: 0,
        act_min: -128,
        act_max: 127,
    };
    let mut out = [0i8; 2];
    assert_eq!(
        fully_connected_s8(&p, &identity(), &[0; 3], 1, 2, &[0; 4], &[], &mut out, 2),
        Err(KernelError::BufferLength)
    );
    assert_eq!(
        fully_connected_s8(
            &p,
            &identity(),
            &[0; 2],
            1,
            2,
            &[0; 4],
            &[0; 3],
            &mut out,
            2
        ),
        Err(KernelError::BufferLength)
    );
    assert_eq!(
        fully_connected_s8(
            &p,
            &identity(),
            &[],
            usize::MAX,
            2,
            &[0; 4],
            &[],
            &mut out,
            2
        ),
        Err(KernelError::SizeOverflow)
    );
}

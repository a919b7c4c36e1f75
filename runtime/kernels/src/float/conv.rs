//! Float 2-D and depthwise convolution (TFLite `reference_ops::Conv` and
//! `DepthwiseConv`, float path).

use super::{FloatAct, Weights, Widen};
use crate::conv::{inside, Window};
use crate::error::KernelError;
use crate::shape::{check_len, offset, Dims4};

/// Geometry and output clamp of a float convolution (also used by depthwise).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatConvParams {
    /// `[stride_h, stride_w]`, each >= 1.
    pub stride: [usize; 2],
    /// `[dilation_h, dilation_w]`, each >= 1.
    pub dilation: [usize; 2],
    /// `[pad_top, pad_left]`; bottom/right padding is implied by the output size.
    pub padding: [usize; 2],
    /// Fused activation clamp.
    pub act: FloatAct,
}

/// Float convolution.
///
/// `input_dims = [N, H, W, C]`, `filter_dims = [OC, KH, KW, FC]` (OHWI) with
/// `C % FC == 0` (grouped convolution when `FC < C`), `output_dims =
/// [N, OH, OW, OC]`, `bias` empty or `OC` long. Positions outside the input
/// contribute nothing (zero padding). `out = clamp(Σ input * filter + bias)`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_f32(
    p: &FloatConvParams,
    input: &[f32],
    input_dims: Dims4,
    filter: Weights<'_>,
    filter_dims: Dims4,
    bias: &[f32],
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    match filter {
        Weights::F32(f) => conv(
            p,
            input,
            input_dims,
            f,
            filter_dims,
            bias,
            output,
            output_dims,
        ),
        Weights::F16(f) => conv(
            p,
            input,
            input_dims,
            f,
            filter_dims,
            bias,
            output,
            output_dims,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn conv<W: Widen>(
    p: &FloatConvParams,
    input: &[f32],
    input_dims: Dims4,
    filter: &[W],
    filter_dims: Dims4,
    bias: &[f32],
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    check_len(filter.len(), filter_dims)?;
    check_len(output.len(), output_dims)?;
    p.act.check()?;
    let [batches, in_h, in_w, in_c] = input_dims;
    let [out_c, k_h, k_w, f_c] = filter_dims;
    let [o_n, out_h, out_w, o_c] = output_dims;
    if o_n != batches || o_c != out_c {
        return Err(KernelError::ShapeMismatch);
    }
    if f_c == 0 || in_c % f_c != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_c) {
        return Err(KernelError::BufferLength);
    }
    let win = Window::new(p.stride, p.dilation, p.padding)?;
    let groups = in_c / f_c;
    if output.is_empty() {
        return Ok(());
    }
    if groups == 0 || out_c % groups != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    let filters_per_group = out_c / groups;

    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                for oc in 0..out_c {
                    let group = oc / filters_per_group;
                    let mut acc = 0.0f32;
                    for ky in 0..k_h {
                        let Some(iy) = inside(win.input_coord(0, oy, ky), in_h) else {
                            continue;
                        };
                        for kx in 0..k_w {
                            let Some(ix) = inside(win.input_coord(1, ox, kx), in_w) else {
                                continue;
                            };
                            let in_base = offset(input_dims, b, iy, ix, group * f_c);
                            let f_base = offset(filter_dims, oc, ky, kx, 0);
                            let ins = &input[in_base..in_base + f_c];
                            let fs = &filter[f_base..f_base + f_c];
                            for (&iv, &fv) in ins.iter().zip(fs) {
                                acc += iv * fv.widen();
                            }
                        }
                    }
                    let bv = bias.get(oc).copied().unwrap_or(0.0);
                    output[offset(output_dims, b, oy, ox, oc)] = p.act.apply(acc + bv);
                }
            }
        }
    }
    Ok(())
}

/// Float depthwise convolution.
///
/// `input_dims = [N, H, W, C]`, `filter_dims = [1, KH, KW, OC]` with
/// `OC = C * depth_multiplier`, `output_dims = [N, OH, OW, OC]`, `bias` empty
/// or `OC` long. Output channel `c * depth_multiplier + m` reads input
/// channel `c`. Arithmetic as in [`conv2d_f32`].
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_f32(
    p: &FloatConvParams,
    depth_multiplier: usize,
    input: &[f32],
    input_dims: Dims4,
    filter: Weights<'_>,
    filter_dims: Dims4,
    bias: &[f32],
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    match filter {
        Weights::F32(f) => depthwise(
            p,
            depth_multiplier,
            input,
            input_dims,
            f,
            filter_dims,
            bias,
            output,
            output_dims,
        ),
        Weights::F16(f) => depthwise(
            p,
            depth_multiplier,
            input,
            input_dims,
            f,
            filter_dims,
            bias,
            output,
            output_dims,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn depthwise<W: Widen>(
    p: &FloatConvParams,
    depth_multiplier: usize,
    input: &[f32],
    input_dims: Dims4,
    filter: &[W],
    filter_dims: Dims4,
    bias: &[f32],
    output: &mut [f32],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    check_len(filter.len(), filter_dims)?;
    check_len(output.len(), output_dims)?;
    p.act.check()?;
    if depth_multiplier == 0 {
        return Err(KernelError::InvalidParameter);
    }
    let [batches, in_h, in_w, in_c] = input_dims;
    let [f_one, k_h, k_w, f_oc] = filter_dims;
    let [o_n, out_h, out_w, out_c] = output_dims;
    let expected_oc = in_c
        .checked_mul(depth_multiplier)
        .ok_or(KernelError::SizeOverflow)?;
    if f_one != 1 || o_n != batches || f_oc != out_c || out_c != expected_oc {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_c) {
        return Err(KernelError::BufferLength);
    }
    let win = Window::new(p.stride, p.dilation, p.padding)?;

    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                for ic in 0..in_c {
                    for m in 0..depth_multiplier {
                        let oc = ic * depth_multiplier + m;
                        let mut acc = 0.0f32;
                        for ky in 0..k_h {
                            let Some(iy) = inside(win.input_coord(0, oy, ky), in_h) else {
                                continue;
                            };
                            for kx in 0..k_w {
                                let Some(ix) = inside(win.input_coord(1, ox, kx), in_w) else {
                                    continue;
                                };
                                let iv = input[offset(input_dims, b, iy, ix, ic)];
                                let fv = filter[offset(filter_dims, 0, ky, kx, oc)].widen();
                                acc += iv * fv;
                            }
                        }
                        let bv = bias.get(oc).copied().unwrap_or(0.0);
                        output[offset(output_dims, b, oy, ox, oc)] = p.act.apply(acc + bv);
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::float::f16;
    use crate::float::test_util::{assert_close, data};

    fn params(stride: usize, dilation: usize, padding: usize) -> FloatConvParams {
        FloatConvParams {
            stride: [stride; 2],
            dilation: [dilation; 2],
            padding: [padding; 2],
            act: FloatAct::NONE,
        }
    }

    /// Naive conv in f64 with explicit zero padding (groups = 1).
    #[allow(clippy::too_many_arguments)]
    fn naive_conv(
        p: &FloatConvParams,
        x: &[f32],
        xd: Dims4,
        f: &[f32],
        fd: Dims4,
        bias: &[f32],
        od: Dims4,
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; od.iter().product()];
        for b in 0..od[0] {
            for oy in 0..od[1] {
                for ox in 0..od[2] {
                    for oc in 0..od[3] {
                        let mut acc = 0.0f64;
                        for ky in 0..fd[1] {
                            for kx in 0..fd[2] {
                                let iy = (oy * p.stride[0] + ky * p.dilation[0]) as i64
                                    - p.padding[0] as i64;
                                let ix = (ox * p.stride[1] + kx * p.dilation[1]) as i64
                                    - p.padding[1] as i64;
                                if iy < 0 || ix < 0 || iy >= xd[1] as i64 || ix >= xd[2] as i64 {
                                    continue;
                                }
                                for ic in 0..fd[3] {
                                    let xv = x[offset(xd, b, iy as usize, ix as usize, ic)];
                                    let fv = f[offset(fd, oc, ky, kx, ic)];
                                    acc += f64::from(xv) * f64::from(fv);
                                }
                            }
                        }
                        acc += f64::from(bias.get(oc).copied().unwrap_or(0.0));
                        out[offset(od, b, oy, ox, oc)] = p.act.apply(acc as f32);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn one_by_one_conv_is_a_matrix_product() {
        // 1x1 input pixel, 2 channels in, 3 out: out = W x + b.
        let x = [2.0f32, -1.0];
        let f = [1.0f32, 0.0, 0.5, 0.5, -1.0, 3.0];
        let bias = [0.25f32, 0.0, -1.0];
        let mut out = [0.0f32; 3];
        conv2d_f32(
            &params(1, 1, 0),
            &x,
            [1, 1, 1, 2],
            Weights::F32(&f),
            [3, 1, 1, 2],
            &bias,
            &mut out,
            [1, 1, 1, 3],
        )
        .unwrap();
        assert_eq!(out, [2.25, 0.5, -6.0]);
    }

    #[test]
    fn conv_matches_naive_loops() {
        for (stride, dilation, padding, act) in [
            (1, 1, 0, FloatAct::NONE),
            (1, 1, 1, FloatAct::RELU),
            (2, 1, 1, FloatAct::NONE),
            (1, 2, 2, FloatAct::new(-0.5, 0.5)),
            (2, 2, 0, FloatAct::RELU6),
        ] {
            let xd = [2, 7, 6, 3];
            let fd = [4, 3, 3, 3];
            let p = FloatConvParams {
                act,
                ..params(stride, dilation, padding)
            };
            let span = |n: usize| (n + 2 * padding - dilation * 2 - 1) / stride + 1;
            let od = [2, span(7), span(6), 4];
            let x = data(xd.iter().product(), 1);
            let f = data(fd.iter().product(), 2);
            let bias = data(4, 3);
            let mut out = vec![0.0f32; od.iter().product()];
            conv2d_f32(&p, &x, xd, Weights::F32(&f), fd, &bias, &mut out, od).unwrap();
            assert_close(&out, &naive_conv(&p, &x, xd, &f, fd, &bias, od), 1e-5);
        }
    }

    #[test]
    fn f16_weights_match_f32_within_f16_rounding() {
        let xd = [1, 5, 5, 4];
        let fd = [3, 3, 3, 4];
        let od = [1, 5, 5, 3];
        let x = data(100, 4);
        let f = data(fd.iter().product(), 5);
        let h: Vec<f16> = f.iter().map(|&v| f16::from_f32(v)).collect();
        let widened: Vec<f32> = h.iter().map(|v| v.to_f32()).collect();
        let p = params(1, 1, 1);
        let mut a = vec![0.0f32; 75];
        let mut b = vec![0.0f32; 75];
        conv2d_f32(&p, &x, xd, Weights::F16(&h), fd, &[], &mut a, od).unwrap();
        conv2d_f32(&p, &x, xd, Weights::F32(&widened), fd, &[], &mut b, od).unwrap();
        // Exactly the f32 conv of the widened weights...
        assert_eq!(a, b);
        // ...and within f16 rounding of the f32 weights: each weight moves
        // by at most 2^-11 of itself, so |out - ref| <= 2^-11 Σ |x| |f|.
        let mut c = vec![0.0f32; 75];
        conv2d_f32(&p, &x, xd, Weights::F32(&f), fd, &[], &mut c, od).unwrap();
        let ax: Vec<f32> = x.iter().map(|v| v.abs()).collect();
        let af: Vec<f32> = f.iter().map(|v| v.abs()).collect();
        let mut mag = vec![0.0f32; 75];
        conv2d_f32(&p, &ax, xd, Weights::F32(&af), fd, &[], &mut mag, od).unwrap();
        for ((u, v), m) in a.iter().zip(&c).zip(&mag) {
            assert!((u - v).abs() <= m * 2f32.powi(-11) + 1e-5, "{u} vs {v}");
        }
        assert_ne!(a, c, "f16 rounding should be visible somewhere");
    }

    #[test]
    fn depthwise_equals_grouped_conv() {
        for mult in [1usize, 2, 3] {
            let c = 3;
            let oc = c * mult;
            let xd = [1, 6, 5, c];
            let fd = [1, 3, 3, oc];
            let od = [1, 3, 3, oc];
            let p = FloatConvParams {
                act: FloatAct::new(-0.75, 0.75),
                ..params(2, 1, 1)
            };
            let x = data(xd.iter().product(), 6);
            let f = data(fd.iter().product(), 7);
            let bias = data(oc, 8);
            let mut dw = vec![0.0f32; od.iter().product()];
            depthwise_conv2d_f32(&p, mult, &x, xd, Weights::F32(&f), fd, &bias, &mut dw, od)
                .unwrap();
            // The same filter as a grouped conv: [OC, KH, KW, 1], groups = C.
            let mut g = vec![0.0f32; oc * 9];
            for ky in 0..3 {
                for kx in 0..3 {
                    for o in 0..oc {
                        g[offset([oc, 3, 3, 1], o, ky, kx, 0)] = f[offset(fd, 0, ky, kx, o)];
                    }
                }
            }
            let mut grouped = vec![0.0f32; od.iter().product()];
            conv2d_f32(
                &p,
                &x,
                xd,
                Weights::F32(&g),
                [oc, 3, 3, 1],
                &bias,
                &mut grouped,
                od,
            )
            .unwrap();
            assert_eq!(dw, grouped, "multiplier {mult}");
        }
    }

    #[test]
    fn depthwise_f16_weights_are_the_widened_f32_weights() {
        let (xd, fd, od) = ([2, 4, 4, 2], [1, 2, 2, 4], [2, 3, 3, 4]);
        let x = data(64, 9);
        let h: Vec<f16> = data(16, 10).iter().map(|&v| f16::from_f32(v)).collect();
        let widened: Vec<f32> = h.iter().map(|v| v.to_f32()).collect();
        let bias = data(4, 11);
        let p = params(1, 1, 0);
        let mut a = vec![0.0f32; 72];
        let mut b = vec![0.0f32; 72];
        depthwise_conv2d_f32(&p, 2, &x, xd, Weights::F16(&h), fd, &bias, &mut a, od).unwrap();
        depthwise_conv2d_f32(&p, 2, &x, xd, Weights::F32(&widened), fd, &bias, &mut b, od).unwrap();
        assert_eq!(a, b);
        // Closed form for output (0, 0, 0, channel 1 = input channel 0, m = 1).
        let want = bias[1]
            + x[0] * widened[1]
            + x[2] * widened[5]
            + x[8] * widened[9]
            + x[10] * widened[13];
        assert!((a[1] - want).abs() < 1e-6, "{} vs {want}", a[1]);
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        let p = params(1, 1, 0);
        let x = [0.0f32; 4];
        let f = [0.0f32; 4];
        let mut out = [0.0f32; 4];
        let run = |p: &FloatConvParams, x: &[f32], f: &[f32], bias: &[f32], out: &mut [f32]| {
            conv2d_f32(
                p,
                x,
                [1, 2, 2, 1],
                Weights::F32(f),
                [1, 1, 1, 1],
                bias,
                out,
                [1, 2, 2, 1],
            )
        };
        assert_eq!(run(&p, &x, &f[..1], &[], &mut out), Ok(()));
        assert_eq!(
            run(&p, &x[..3], &f[..1], &[], &mut out),
            Err(KernelError::BufferLength)
        );
        assert_eq!(
            run(&p, &x, &f[..2], &[], &mut out),
            Err(KernelError::BufferLength)
        );
        assert_eq!(
            run(&p, &x, &f[..1], &[0.0, 0.0], &mut out),
            Err(KernelError::BufferLength)
        );
        let zero_stride = FloatConvParams {
            stride: [0, 1],
            ..p
        };
        assert_eq!(
            run(&zero_stride, &x, &f[..1], &[], &mut out),
            Err(KernelError::InvalidParameter)
        );
        let nan_act = FloatConvParams {
            act: FloatAct::new(f32::NAN, 0.0),
            ..p
        };
        assert_eq!(
            run(&nan_act, &x, &f[..1], &[], &mut out),
            Err(KernelError::InvalidParameter)
        );
        assert_eq!(
            conv2d_f32(
                &p,
                &x,
                [1, 2, 2, 1],
                Weights::F32(&f[..1]),
                [1, 1, 1, 1],
                &[],
                &mut out,
                [1, 2, 2, 2],
            ),
            Err(KernelError::BufferLength)
        );
        assert_eq!(
            conv2d_f32(
                &p,
                &x,
                [usize::MAX, 2, 2, 1],
                Weights::F32(&f[..1]),
                [1, 1, 1, 1],
                &[],
                &mut out,
                [1, 2, 2, 1],
            ),
            Err(KernelError::SizeOverflow)
        );
        assert_eq!(
            depthwise_conv2d_f32(
                &p,
                0,
                &x,
                [1, 2, 2, 1],
                Weights::F32(&f[..1]),
                [1, 1, 1, 1],
                &[],
                &mut out,
                [1, 2, 2, 1],
            ),
            Err(KernelError::InvalidParameter)
        );
        assert_eq!(
            depthwise_conv2d_f32(
                &p,
                2,
                &x,
                [1, 2, 2, 1],
                Weights::F32(&f[..1]),
                [1, 1, 1, 1],
                &[],
                &mut out,
                [1, 2, 2, 1],
            ),
            Err(KernelError::ShapeMismatch)
        );
    }
}

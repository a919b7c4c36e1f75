//! Quantize / dequantize / requantize and pad / concat / transpose.

mod common;
use common::*;
use mote_kernels::*;

#[test]
fn quantize_rounds_half_away_and_saturates() {
    let input = [
        2.5f32,
        -2.5,
        0.49999997,
        -0.49999997,
        1.5,
        1e10,
        -1e10,
        f32::NAN,
        126.5,
        0.0,
    ];
    let mut out = [0i8; 10];
    quantize_f32_s8(&input, 1.0, 0, &mut out).unwrap();
    assert_eq!(out, [3, -3, 0, 0, 2, 127, -128, 0, 127, 0]);
    let mut out = [0i8; 3];
    // 0.25 / 0.5 = 0.5 -> 1, + zp -128
    quantize_f32_s8(&[0.25, -0.25, 0.0], 0.5, -128, &mut out).unwrap();
    assert_eq!(out, [-127, -128, -128]);
    assert_eq!(
        quantize_f32_s8(&[0.0], 1.0, 0, &mut []),
        Err(KernelError::BufferLength)
    );
}

#[test]
fn dequantize_exact() {
    let mut out = [0f32; 4];
    dequantize_s8_f32(&[-128, 127, 5, 0], 0.5, -128, &mut out).unwrap();
    assert_eq!(out, [0.0, 127.5, 66.5, 64.0]);
    let mut out = [0f32; 1];
    dequantize_s8_f32(&[1], 0.1, i32::MIN, &mut out).unwrap();
    // int32 `1 - INT32_MIN` wraps (as on hardware); the product is then formed
    // in double like TFLite, since the difference is not exact in f32.
    assert_eq!(
        out[0],
        (f64::from(0.1f32) * f64::from(1i32.wrapping_sub(i32::MIN))) as f32
    );
}

#[test]
fn requantize_identity_and_zero_point_shift() {
    let input: Vec<i8> = (-128..=127).collect();
    let mut out = vec![0i8; 256];
    requantize_s8(&input, -128, 1 << 30, 1, 0, &mut out).unwrap();
    let want: Vec<i32> = input
        .iter()
        .map(|&v| (i32::from(v) + 128).min(127))
        .collect();
    assert_close(&out, &want, 0);
}

#[cfg(feature = "std")]
#[test]
fn requantize_matches_float_reference() {
    use mote_kernels::prepare::requantize_params;
    for &(si, zi, so, zo) in &[
        (0.1f32, 3, 0.07f32, -9),
        (0.02, -128, 0.5, 0),
        (1.0, 0, 0.3, 10),
    ] {
        let (m, s) = requantize_params(si, so);
        let input: Vec<i8> = (-128..=127).collect();
        let mut out = vec![0i8; 256];
        requantize_s8(&input, zi, m, s, zo, &mut out).unwrap();
        let want: Vec<i32> = input
            .iter()
            .map(|&v| {
                q8(f64::from(si) * f64::from(i32::from(v) - zi) / f64::from(so) + f64::from(zo))
            })
            .collect();
        assert_close(&out, &want, 1);
    }
}

#[test]
fn pad_all_sides() {
    let input = [1i8, 2, 3, 4, 5, 6];
    let mut out = vec![0i8; 2 * 4 * 5 * 2];
    pad_s8(
        &input,
        [1, 2, 3, 1],
        [[0, 1], [1, 1], [1, 1], [0, 1]],
        -7,
        &mut out,
        [2, 4, 5, 2],
    )
    .unwrap();
    for b in 0..2 {
        for y in 0..4 {
            for x in 0..5 {
                for c in 0..2 {
                    let v = out[off([2, 4, 5, 2], b, y, x, c)];
                    let inside = b == 0 && (1..3).contains(&y) && (1..4).contains(&x) && c == 0;
                    let want = if inside {
                        input[(y - 1) * 3 + (x - 1)]
                    } else {
                        -7
                    };
                    assert_eq!(v, want, "{b} {y} {x} {c}");
                }
            }
        }
    }
    assert_eq!(
        pad_s8(&input, [1, 2, 3, 1], [[0, 0]; 4], 0, &mut out, [2, 4, 5, 2]),
        Err(KernelError::ShapeMismatch)
    );
}

#[test]
fn concat_every_axis() {
    let mut rng = Rng::new(51);
    for axis in 0..4 {
        let mut d1 = [2usize, 3, 2, 3];
        let mut d2 = d1;
        d1[axis] = 1;
        d2[axis] = 2;
        let mut od = d1;
        od[axis] = 3;
        let a = rng.i8s(d1.iter().product(), -128, 127);
        let b = rng.i8s(d2.iter().product(), -128, 127);
        let mut out = vec![0i8; od.iter().product()];
        concat_s8(&[(&a, d1), (&b, d2)], axis, &mut out, od).unwrap();
        for i0 in 0..od[0] {
            for i1 in 0..od[1] {
                for i2 in 0..od[2] {
                    for i3 in 0..od[3] {
                        let mut idx = [i0, i1, i2, i3];
                        let v = out[off(od, i0, i1, i2, i3)];
                        let want = if idx[axis] < 1 {
                            a[off(d1, idx[0], idx[1], idx[2], idx[3])]
                        } else {
                            idx[axis] -= 1;
                            b[off(d2, idx[0], idx[1], idx[2], idx[3])]
                        };
                        assert_eq!(v, want);
                    }
                }
            }
        }
    }
    let mut out = [0i8; 4];
    assert_eq!(
        concat_s8(&[(&[0; 2], [1, 1, 1, 2])], 3, &mut out, [1, 1, 1, 4]),
        Err(KernelError::ShapeMismatch)
    );
    assert_eq!(
        concat_s8(&[], 4, &mut out, [1, 1, 1, 4]),
        Err(KernelError::InvalidParameter)
    );
}

#[test]
fn transpose_nhwc_to_nchw() {
    let mut rng = Rng::new(52);
    let id = [2, 3, 4, 5];
    let input = rng.i8s(120, -128, 127);
    let od = [2, 5, 3, 4];
    let mut out = vec![0i8; 120];
    transpose_s8(&input, id, [0, 3, 1, 2], &mut out, od).unwrap();
    for b in 0..2 {
        for c in 0..5 {
            for y in 0..3 {
                for x in 0..4 {
                    assert_eq!(out[off(od, b, c, y, x)], input[off(id, b, y, x, c)]);
                }
            }
        }
    }
    assert_eq!(
        transpose_s8(&input, id, [0, 3, 3, 2], &mut out, od),
        Err(KernelError::InvalidParameter)
    );
    assert_eq!(
        transpose_s8(&input, id, [0, 1, 2, 3], &mut out, od),
        Err(KernelError::ShapeMismatch)
    );
}

//! Pooling and spatial mean against closed forms and float oracles.

mod common;
use common::*;
use mote_kernels::*;

fn pool(filter: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> PoolParams {
    PoolParams {
        stride,
        filter,
        padding,
        act_min: -128,
        act_max: 127,
    }
}

#[test]
fn avg_pool_rounds_half_away_from_zero() {
    // 1x1x4 windows of two elements: sums 5, -5, 6, -6, 1, -1 -> 2.5, -2.5, 3, -3, 0.5, -0.5
    let input = [2i8, 3, -2, -3, 3, 3, -3, -3, 0, 1, 0, -1];
    let mut out = [0i8; 6];
    avg_pool_s8(
        &pool([1, 2], [1, 2], [0, 0]),
        &input,
        [1, 1, 12, 1],
        &mut out,
        [1, 1, 6, 1],
    )
    .unwrap();
    assert_eq!(out, [3, -3, 3, -3, 1, -1]);
}

#[test]
fn avg_pool_counts_only_in_bounds() {
    let mut rng = Rng::new(31);
    let id = [2, 5, 4, 3];
    let input = rng.i8s(120, -128, 127);
    let (k, s, pad) = ([3, 3], [1, 2], [1, 1]);
    let od = [2, 5, 2, 3];
    let mut out = vec![0i8; 60];
    avg_pool_s8(&pool(k, s, pad), &input, id, &mut out, od).unwrap();
    let mut want = vec![];
    for b in 0..2 {
        for oy in 0..5 {
            for ox in 0..2 {
                for c in 0..3 {
                    let (mut sum, mut n) = (0i64, 0i64);
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let y = (oy * s[0] + ky) as i64 - 1;
                            let x = (ox * s[1] + kx) as i64 - 1;
                            if (0..5).contains(&y) && (0..4).contains(&x) {
                                sum += i64::from(input[off(id, b, y as usize, x as usize, c)]);
                                n += 1;
                            }
                        }
                    }
                    want.push((sum as f64 / n as f64).round() as i32);
                }
            }
        }
    }
    assert_close(&out, &want, 0);
}

#[test]
fn avg_pool_empty_window_is_error() {
    let mut out = [0i8; 4];
    let r = avg_pool_s8(
        &pool([1, 1], [1, 1], [3, 0]),
        &[1; 2],
        [1, 2, 1, 1],
        &mut out,
        [1, 4, 1, 1],
    );
    assert_eq!(r, Err(KernelError::InvalidParameter));
}

#[test]
fn max_pool_with_padding_and_clamp() {
    let input = [-5i8, 9, 3, -100, 50, 7, 1, 2, 3];
    let mut out = [0i8; 4];
    // 2x2 windows stride 2 with pad 1 on a 3x3 image -> 2x2 output.
    let p = PoolParams {
        act_min: 0,
        act_max: 40,
        ..pool([2, 2], [2, 2], [1, 1])
    };
    max_pool_s8(&p, &input, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]).unwrap();
    // windows: {-5} {9,3} {-100,1} {50,7,2,3}
    assert_eq!(out, [0, 9, 1, 40]);
}

#[test]
fn mean_same_quantization_truncates() {
    let p = MeanParams {
        input_zero_point: 3,
        output_zero_point: 3,
        multiplier: 1 << 30,
        shift: 1,
        same_quantization: true,
    };
    let mut out = [0i8; 2];
    // channel 0: -3,-3,-3,-2 -> -11/4 = -2.75 -> -2 ; channel 1: 1,2,2,2 -> 7/4 -> 1
    mean_hw_s8(
        &p,
        &[-3, 1, -3, 2, -3, 2, -2, 2],
        [1, 2, 2, 2],
        &mut out,
        [1, 1, 1, 2],
    )
    .unwrap();
    assert_eq!(out, [-2, 1]);
}

#[cfg(feature = "std")]
#[test]
fn mean_matches_float_reference() {
    use mote_kernels::prepare::mean_params;
    let mut rng = Rng::new(32);
    for &(si, zi, so, zo, h, w) in &[
        (0.1f32, -10, 0.05f32, 3, 5usize, 5usize),
        (0.02, -128, 0.02, -120, 7, 3),
        (0.5, 20, 0.9, -4, 1, 1),
        (0.03, 0, 0.01, 0, 10, 10),
    ] {
        let p = mean_params(si, zi, so, zo);
        assert!(!p.same_quantization);
        let id = [2, h, w, 3];
        let input = rng.i8s(2 * h * w * 3, -128, 127);
        let mut out = vec![0i8; 6];
        mean_hw_s8(&p, &input, id, &mut out, [2, 1, 1, 3]).unwrap();
        let mut want = vec![];
        for b in 0..2 {
            for c in 0..3 {
                let mut s = 0f64;
                for y in 0..h {
                    for x in 0..w {
                        s += f64::from(si) * f64::from(i32::from(input[off(id, b, y, x, c)]) - zi);
                    }
                }
                want.push(q8(s / (h * w) as f64 / f64::from(so) + f64::from(zo)));
            }
        }
        assert_close(&out, &want, 1);
    }
}

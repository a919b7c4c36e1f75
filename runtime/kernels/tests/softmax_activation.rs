//! Softmax, logistic and tanh against closed forms and float oracles.
#![cfg(feature = "std")]

mod common;
use common::*;
use mote_kernels::prepare::{logistic_params, softmax_params, tanh_params};
use mote_kernels::*;

#[test]
fn softmax_equal_logits_is_uniform() {
    let p = softmax_params(1.0, 0.1).unwrap();
    for n in [1usize, 2, 4, 8, 10] {
        let input = vec![17i8; n];
        let mut out = vec![0i8; n];
        softmax_s8(&p, &input, n, &mut out).unwrap();
        let want = q8(256.0 / n as f64 - 128.0);
        assert_close(&out, &vec![want; n], 1);
    }
}

#[test]
fn softmax_dominant_logit() {
    let p = softmax_params(1.0, 0.5).unwrap();
    let mut out = [0i8; 3];
    softmax_s8(&p, &[127, -128, -100], 3, &mut out).unwrap();
    assert_eq!(out, [127, -128, -128]);
}

#[test]
fn softmax_matches_float_reference() {
    let mut rng = Rng::new(41);
    for &(beta, scale) in &[(1.0f32, 0.0625f32), (1.0, 0.1), (0.5, 0.3), (2.0, 0.02)] {
        let p = softmax_params(beta, scale).unwrap();
        let rows = 20;
        let len = 12;
        let input = rng.i8s(rows * len, -128, 127);
        let mut out = vec![0i8; rows * len];
        softmax_s8(&p, &input, len, &mut out).unwrap();
        let mut want = vec![];
        for r in input.chunks(len) {
            let m = *r.iter().max().unwrap();
            let e: Vec<f64> = r
                .iter()
                .map(|&v| {
                    (f64::from(beta) * f64::from(scale) * f64::from(i32::from(v) - i32::from(m)))
                        .exp()
                })
                .collect();
            let s: f64 = e.iter().sum();
            want.extend(e.iter().map(|x| q8(x / s * 256.0 - 128.0)));
        }
        assert_close(&out, &want, 1);
    }
}

#[test]
fn softmax_rejects_bad_rows() {
    let p = softmax_params(1.0, 0.1).unwrap();
    let mut out = [0i8; 5];
    assert_eq!(
        softmax_s8(&p, &[0; 5], 2, &mut out),
        Err(KernelError::BufferLength)
    );
    assert_eq!(
        softmax_s8(&p, &[0; 5], 0, &mut out),
        Err(KernelError::BufferLength)
    );
    assert_eq!(
        softmax_s8(&p, &[0; 4], 2, &mut out),
        Err(KernelError::BufferLength)
    );
}

#[test]
fn logistic_zero_and_float_reference() {
    for &(scale, zp) in &[(0.1f32, 0), (0.05, -20), (0.2, 100), (0.0625, -128)] {
        let p = logistic_params(scale, zp);
        let mut out = [0i8; 1];
        if (-128..=127).contains(&zp) {
            logistic_s8(&p, &[zp as i8], &mut out).unwrap();
            assert_eq!(out, [0], "logistic(0) = 0.5 -> -128 + 128");
        }
        let input: Vec<i8> = (-128..=127).collect();
        let mut out = vec![0i8; 256];
        logistic_s8(&p, &input, &mut out).unwrap();
        let want: Vec<i32> = input
            .iter()
            .map(|&v| {
                let x = f64::from(scale) * f64::from(i32::from(v) - zp);
                q8(256.0 / (1.0 + (-x).exp()) - 128.0)
            })
            .collect();
        assert_close(&out, &want, 1);
    }
}

#[test]
fn tanh_zero_and_float_reference() {
    for &(scale, zp) in &[(0.1f32, 0), (0.05, -20), (0.02, 7)] {
        let p = tanh_params(scale, zp);
        let input: Vec<i8> = (-128..=127).collect();
        let mut out = vec![0i8; 256];
        tanh_s8(&p, &input, &mut out).unwrap();
        assert_eq!(out[(zp + 128) as usize], 0);
        let want: Vec<i32> = input
            .iter()
            .map(|&v| q8(128.0 * (f64::from(scale) * f64::from(i32::from(v) - zp)).tanh()))
            .collect();
        assert_close(&out, &want, 1);
    }
}

//! Add and mul against float oracles and materialised broadcasts.
#![cfg(feature = "std")]

mod common;
use common::*;
use mote_kernels::prepare::{add_params, mul_params, Activation};
use mote_kernels::*;

fn deq(v: i8, s: f32, zp: i32) -> f64 {
    f64::from(s) * f64::from(i32::from(v) - zp)
}

#[test]
fn add_matches_float_reference() {
    let mut rng = Rng::new(21);
    for &(s1, z1, s2, z2, so, zo) in &[
        (0.05f32, -3, 0.03f32, 10, 0.07f32, -5),
        (0.1, -128, 0.1, -128, 0.2, -128),
        (0.02, 127, 0.5, 0, 0.4, 0),
        (1.0, 0, 0.001, 5, 0.9, 3),
    ] {
        let p = add_params(s1, z1, s2, z2, so, zo, Activation::None).unwrap();
        let a = rng.i8s(500, -128, 127);
        let b = rng.i8s(500, -128, 127);
        let mut out = vec![0i8; 500];
        let d = [1, 5, 10, 10];
        add_s8(&p, &a, d, &b, d, &mut out, d).unwrap();
        let want: Vec<i32> = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| q8((deq(x, s1, z1) + deq(y, s2, z2)) / f64::from(so) + f64::from(zo)))
            .collect();
        assert_close(&out, &want, 1);
    }
}

#[test]
fn add_saturates_and_relu_clamps() {
    let p = add_params(1.0, 0, 1.0, 0, 1.0, 0, Activation::Relu).unwrap();
    let d = [1, 1, 1, 4];
    let mut out = [0i8; 4];
    add_s8(
        &p,
        &[100, -100, 3, -3],
        d,
        &[100, -100, 4, 1],
        d,
        &mut out,
        d,
    )
    .unwrap();
    assert_eq!(out, [127, 0, 7, 0]);
}

#[test]
fn add_broadcast_equals_materialised() {
    let mut rng = Rng::new(22);
    let p = add_params(0.05, 2, 0.08, -7, 0.1, 1, Activation::None).unwrap();
    for &(d1, d2) in &[
        ([2usize, 3, 4, 5], [1usize, 1, 1, 5]),
        ([1, 3, 1, 5], [2, 1, 4, 1]),
        ([2, 3, 4, 1], [2, 3, 4, 5]),
        ([1, 1, 1, 1], [2, 2, 2, 3]),
    ] {
        let od: [usize; 4] = core::array::from_fn(|i| d1[i].max(d2[i]));
        let a = rng.i8s(d1.iter().product(), -128, 127);
        let b = rng.i8s(d2.iter().product(), -128, 127);
        let n: usize = od.iter().product();
        let (mut ea, mut eb) = (vec![0i8; n], vec![0i8; n]);
        for i0 in 0..od[0] {
            for i1 in 0..od[1] {
                for i2 in 0..od[2] {
                    for i3 in 0..od[3] {
                        let o = off(od, i0, i1, i2, i3);
                        let pick =
                            |d: [usize; 4], i: usize, v: usize| if d[i] == 1 { 0 } else { v };
                        ea[o] = a[off(
                            d1,
                            pick(d1, 0, i0),
                            pick(d1, 1, i1),
                            pick(d1, 2, i2),
                            pick(d1, 3, i3),
                        )];
                        eb[o] = b[off(
                            d2,
                            pick(d2, 0, i0),
                            pick(d2, 1, i1),
                            pick(d2, 2, i2),
                            pick(d2, 3, i3),
                        )];
                    }
                }
            }
        }
        let mut got = vec![0i8; n];
        add_s8(&p, &a, d1, &b, d2, &mut got, od).unwrap();
        let mut want = vec![0i8; n];
        add_s8(&p, &ea, od, &eb, od, &mut want, od).unwrap();
        assert_eq!(got, want);
        // Same broadcast with the operands swapped (and parameters swapped).
        let q = add_params(0.08, -7, 0.05, 2, 0.1, 1, Activation::None).unwrap();
        let mut swapped = vec![0i8; n];
        add_s8(&q, &b, d2, &a, d1, &mut swapped, od).unwrap();
        assert_eq!(swapped, want);
        let mut m1 = vec![0i8; n];
        let mut m2 = vec![0i8; n];
        let mp = mul_params(0.05, 2, 0.08, -7, 0.01, 1, Activation::None);
        mul_s8(&mp, &a, d1, &b, d2, &mut m1, od).unwrap();
        mul_s8(&mp, &ea, od, &eb, od, &mut m2, od).unwrap();
        assert_eq!(m1, m2);
    }
}

#[test]
fn add_rejects_incompatible_shapes() {
    let p = add_params(0.1, 0, 0.1, 0, 0.1, 0, Activation::None).unwrap();
    let mut out = [0i8; 6];
    assert_eq!(
        add_s8(
            &p,
            &[0; 2],
            [1, 1, 1, 2],
            &[0; 3],
            [1, 1, 1, 3],
            &mut out[..3],
            [1, 1, 1, 3]
        ),
        Err(KernelError::ShapeMismatch)
    );
    assert_eq!(
        add_s8(
            &p,
            &[0; 2],
            [1, 1, 1, 2],
            &[0; 3],
            [1, 1, 3, 1],
            &mut out[..5],
            [1, 1, 3, 2]
        ),
        Err(KernelError::BufferLength)
    );
    assert_eq!(
        add_s8(
            &p,
            &[0; 2],
            [1, 1, 1, 2],
            &[0; 3],
            [1, 1, 3, 1],
            &mut out,
            [1, 1, 3, 2]
        ),
        Ok(())
    );
    let bad = AddParams {
        left_shift: 40,
        ..p
    };
    assert_eq!(
        add_s8(
            &bad,
            &[0],
            [1, 1, 1, 1],
            &[0],
            [1, 1, 1, 1],
            &mut out[..1],
            [1, 1, 1, 1]
        ),
        Err(KernelError::InvalidParameter)
    );
}

#[test]
fn mul_matches_float_reference() {
    let mut rng = Rng::new(23);
    for &(s1, z1, s2, z2, so, zo) in &[
        (0.05f32, -3, 0.03f32, 10, 0.01f32, -5),
        (0.1, -128, 0.1, 127, 0.5, 0),
        (0.02, 0, 0.02, 0, 0.0001, -128),
    ] {
        let p = mul_params(s1, z1, s2, z2, so, zo, Activation::None);
        let a = rng.i8s(300, -128, 127);
        let b = rng.i8s(300, -128, 127);
        let mut out = vec![0i8; 300];
        let d = [3, 1, 10, 10];
        mul_s8(&p, &a, d, &b, d, &mut out, d).unwrap();
        let want: Vec<i32> = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| q8(deq(x, s1, z1) * deq(y, s2, z2) / f64::from(so) + f64::from(zo)))
            .collect();
        assert_close(&out, &want, 1);
    }
}

#[test]
fn mul_hand_computed() {
    // s1*s2/so = 1 -> (1<<30, 1): (x+1)*(y-2) + 3
    let p = MulParams {
        input1_offset: 1,
        input2_offset: -2,
        output_offset: 3,
        output_multiplier: 1 << 30,
        output_shift: 1,
        act_min: -128,
        act_max: 127,
    };
    let d = [1, 1, 1, 3];
    let mut out = [0i8; 3];
    mul_s8(&p, &[2, -1, 20], d, &[5, 7, 10], d, &mut out, d).unwrap();
    assert_eq!(out, [12, 3, 127]);
}

//! Choosing the channels to keep and refitting the consumer layer by
//! ridge-regularised least squares on its [`Moments`].
//!
//! With A = G + λ·I (λ on the weights, not the bias), the consumer's best
//! weights on the kept columns S are W = A_SS⁻¹ B_S. Dropping a further
//! channel R and refitting the rest raises the squared error by
//! tr(W_Rᵀ ((A_SS⁻¹)_RR)⁻¹ W_R) (the optimal brain surgeon step for a
//! block), which ranks the channels without a solve per candidate.

use anyhow::{anyhow, bail, Result};
use nalgebra::DMatrix;

use super::super::layers::{self, Layer};
use super::moments::Moments;
use crate::import::onnx::OnnxModel;

/// Ridge strength relative to the mean diagonal of G (the input energy).
pub const RIDGE: f64 = 1e-4;

/// Columns of the kept channels, then the bias column.
pub fn columns(mom: &Moments, keep: &[usize]) -> Vec<usize> {
    let pc = mom.per_channel;
    let mut cols: Vec<usize> = keep.iter().flat_map(|&c| c * pc..(c + 1) * pc).collect();
    cols.push(mom.channels * pc);
    cols
}

fn sub(m: &DMatrix<f64>, rows: &[usize], cols: &[usize]) -> DMatrix<f64> {
    DMatrix::from_fn(rows.len(), cols.len(), |r, c| m[(rows[r], cols[c])])
}

fn all_cols(m: &DMatrix<f64>) -> Vec<usize> {
    (0..m.ncols()).collect()
}

/// The ridge strength λ: [`RIDGE`] times the mean input energy.
fn ridge(mom: &Moments) -> f64 {
    let k = mom.channels * mom.per_channel;
    let mean = (0..k).map(|i| mom.g[(i, i)]).sum::<f64>() / k.max(1) as f64;
    RIDGE * mean.max(f64::MIN_POSITIVE)
}

/// The ridge-regularised A_SS for columns `cols` (the last is the bias).
fn regularised(mom: &Moments, cols: &[usize]) -> DMatrix<f64> {
    let lambda = ridge(mom);
    let mut a = sub(&mom.g, cols, cols);
    for i in 0..cols.len() - 1 {
        a[(i, i)] += lambda;
    }
    a
}

fn cholesky(a: DMatrix<f64>) -> Result<nalgebra::Cholesky<f64, nalgebra::Dyn>> {
    a.cholesky().ok_or_else(|| {
        anyhow!("the calibration inputs of the refitted layer are degenerate (no least-squares solution); try --no-reconstruct or more calibration samples")
    })
}

/// The consumer's current weights and bias as a (K + 1) × outputs matrix
/// in the column order of [`Moments`] (Gemm's alpha and beta folded in).
pub fn current_weights(m: &OnnxModel, l: &Layer, mom: &Moments) -> Result<DMatrix<f64>> {
    let w = m.consts[&l.weight].to_f32();
    let n = &m.nodes[l.node];
    let (k, o) = (mom.channels * mom.per_channel, l.channels);
    if w.len() != k * o {
        bail!(
            "internal error: layer '{}' has {} weights, not {k}×{o}",
            l.name,
            w.len()
        );
    }
    let (alpha, beta) = if n.op_type == "Gemm" {
        (n.float("alpha", 1.0), n.float("beta", 1.0))
    } else {
        (1.0, 1.0)
    };
    let bias = layers::bias(m, l);
    let output_major = l.weight_axis == 0;
    Ok(DMatrix::from_fn(k + 1, o, |r, c| {
        if r == k {
            f64::from(bias[c] * beta)
        } else if output_major {
            f64::from(w[c * k + r] * alpha)
        } else {
            f64::from(w[r * o + c] * alpha)
        }
    }))
}

/// The rows of full weights `w` for the kept channels (and the bias).
pub fn restrict(mom: &Moments, w: &DMatrix<f64>, keep: &[usize]) -> DMatrix<f64> {
    sub(w, &columns(mom, keep), &all_cols(w))
}

/// Squared output error of weights `w` (rows: the kept columns) against
/// the teacher, relative to Σ |y|².
pub fn error(mom: &Moments, keep: &[usize], w: &DMatrix<f64>) -> f64 {
    let cols = columns(mom, keep);
    let g = sub(&mom.g, &cols, &cols);
    let b = sub(&mom.b, &cols, &all_cols(&mom.b));
    let quad = (w.transpose() * &g * w).trace();
    let lin = (w.transpose() * b).trace();
    ((quad - 2.0 * lin + mom.yy) / mom.yy.max(f64::MIN_POSITIVE)).max(0.0)
}

/// The refitted weights and bias of the consumer on the kept channels.
pub fn solve(mom: &Moments, keep: &[usize]) -> Result<DMatrix<f64>> {
    let cols = columns(mom, keep);
    let b = sub(&mom.b, &cols, &all_cols(&mom.b));
    Ok(cholesky(regularised(mom, &cols))?.solve(&b))
}

/// Every output of `w` ((K + 1) × outputs, the bias last) refitted on its
/// own support: the weights that are non-zero in `w` and the bias, by
/// least squares with a ridge that pulls the weights towards their values
/// in `w` (not towards zero): (A_SS) x = B_S + λ·w_S. Directions the
/// calibration data does not excite (a channel that is always zero there)
/// keep their weights. The zeros stay zeros (unstructured pruning's
/// reconstruction).
pub fn solve_support(mom: &Moments, w: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let k = mom.channels * mom.per_channel;
    if w.nrows() != k + 1 || w.ncols() != mom.b.ncols() {
        bail!(
            "internal error: weights {}×{} for statistics of {} columns and {} outputs",
            w.nrows(),
            w.ncols(),
            k + 1,
            mom.b.ncols()
        );
    }
    let lambda = ridge(mom);
    let mut out = DMatrix::zeros(k + 1, w.ncols());
    for o in 0..w.ncols() {
        let mut cols: Vec<usize> = (0..k).filter(|&r| w[(r, o)] != 0.0).collect();
        cols.push(k);
        let b = DMatrix::from_fn(cols.len(), 1, |r, _| {
            let prior = if cols[r] < k {
                lambda * w[(cols[r], o)]
            } else {
                0.0
            };
            mom.b[(cols[r], o)] + prior
        });
        let x = cholesky(regularised(mom, &cols))?.solve(&b);
        for (i, &r) in cols.iter().enumerate() {
            out[(r, o)] = x[(i, 0)];
        }
    }
    Ok(out)
}

/// Squared output error of full weights `w` ((K + 1) × outputs) against
/// the teacher, relative to Σ |y|².
pub fn error_full(mom: &Moments, w: &DMatrix<f64>) -> f64 {
    let all: Vec<usize> = (0..mom.channels).collect();
    error(mom, &all, w)
}

/// Keeps all but `remove` channels, dropping one at a time the channel
/// whose loss the refitted consumer feels least.
pub fn select_refit(mom: &Moments, remove: usize) -> Result<Vec<usize>> {
    let pc = mom.per_channel;
    let mut keep: Vec<usize> = (0..mom.channels).collect();
    for _ in 0..remove.min(mom.channels.saturating_sub(1)) {
        let cols = columns(mom, &keep);
        let inv = cholesky(regularised(mom, &cols))?.inverse();
        let w = &inv * sub(&mom.b, &cols, &all_cols(&mom.b));
        let mut best = (f64::INFINITY, 0);
        for i in 0..keep.len() {
            let r: Vec<usize> = (i * pc..(i + 1) * pc).collect();
            let wr = sub(&w, &r, &all_cols(&w));
            let cost = match sub(&inv, &r, &r).cholesky() {
                Some(c) => wr.component_mul(&c.solve(&wr)).sum(),
                None => f64::INFINITY,
            };
            if cost < best.0 {
                best = (cost, i);
            }
        }
        keep.remove(best.1);
    }
    Ok(keep)
}

/// Keeps all but the `remove` channels whose contribution to the
/// consumer's current output, tr(W_cᵀ G_cc W_c), is smallest (no refit).
pub fn select_energy(mom: &Moments, w: &DMatrix<f64>, remove: usize) -> Vec<usize> {
    let pc = mom.per_channel;
    let mut energy: Vec<(f64, usize)> = (0..mom.channels)
        .map(|c| {
            let r: Vec<usize> = (c * pc..(c + 1) * pc).collect();
            let wc = sub(w, &r, &all_cols(w));
            ((wc.transpose() * sub(&mom.g, &r, &r) * &wc).trace(), c)
        })
        .collect();
    energy.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut keep: Vec<usize> = energy[remove.min(mom.channels - 1)..]
        .iter()
        .map(|&(_, c)| c)
        .collect();
    keep.sort_unstable();
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fully connected statistics for inputs x (rows) and targets y = x·w + b.
    fn moments(x: &DMatrix<f64>, w: &DMatrix<f64>, b: &[f64]) -> Moments {
        let (n, k) = x.shape();
        let mut rows = DMatrix::from_element(n, k + 1, 1.0);
        rows.view_mut((0, 0), (n, k)).copy_from(x);
        let mut y = x * w;
        for mut r in y.row_iter_mut() {
            for (v, bb) in r.iter_mut().zip(b) {
                *v += bb;
            }
        }
        let mut m = Moments::new(k, 1, w.ncols());
        m.add(&rows, &y);
        m
    }

    #[test]
    fn a_support_refit_recovers_sparse_weights_and_keeps_the_zeros() {
        let n = 60;
        let x = DMatrix::from_fn(n, 4, |i, j| {
            let t = i as f64;
            ((t + 1.0) * (0.3 + 0.41 * j as f64)).sin() + 0.1 * j as f64
        });
        // The teacher's outputs come from weights with zeros where the
        // student's are pruned: the refit must find them exactly.
        let w = DMatrix::from_row_slice(4, 2, &[0.7, 0.0, 0.0, -1.2, 0.4, 0.9, -0.3, 0.0]);
        let mom = moments(&x, &w, &[0.05, -0.4]);
        // The student: the same support, wrong values and biases.
        let mut student =
            DMatrix::from_row_slice(5, 2, &[1.0, 0.0, 0.0, -1.0, 0.2, 0.5, -0.6, 0.0, 0.0, 0.0]);
        let before = error_full(&mom, &student);
        let fit = solve_support(&mom, &student).unwrap();
        assert!(before > 0.01, "{before}");
        assert!(error_full(&mom, &fit) < 1e-6, "{}", error_full(&mom, &fit));
        for (r, c) in [(1, 0), (0, 1), (3, 1)] {
            assert_eq!(fit[(r, c)], 0.0, "pruned weight ({r}, {c}) moved");
        }
        for (r, c, v) in [
            (0, 0, 0.7),
            (2, 0, 0.4),
            (3, 0, -0.3),
            (4, 0, 0.05),
            (1, 1, -1.2),
            (2, 1, 0.9),
            (4, 1, -0.4),
        ] {
            assert!(
                (fit[(r, c)] - v).abs() < 1e-3,
                "w[{r},{c}] = {} not {v}",
                fit[(r, c)]
            );
        }
        // A support missing a weight the teacher needs: the best fit is
        // still better than the student, not exact.
        student[(2, 0)] = 0.0;
        let partial = solve_support(&mom, &student).unwrap();
        assert_eq!(partial[(2, 0)], 0.0);
        let e = error_full(&mom, &partial);
        assert!(e > 1e-4 && e < error_full(&mom, &student), "{e}");
        // Wrong shapes are refused.
        assert!(solve_support(&mom, &DMatrix::zeros(4, 2)).is_err());
        // An input that is always zero in the data keeps its weight.
        let mut dead = x.clone();
        dead.column_mut(3).fill(0.0);
        let mom = moments(&dead, &w, &[0.05, -0.4]);
        let fit = solve_support(&mom, &student).unwrap();
        assert!(
            (fit[(3, 0)] + 0.6).abs() < 1e-9,
            "a weight the data cannot see moved: {}",
            fit[(3, 0)]
        );
    }

    #[test]
    fn a_channel_that_is_a_combination_of_others_is_rebuilt_exactly() {
        // Channel 2 = 0.5·ch0 - 2·ch1 + 0.25; channel 3 is independent.
        let n = 40;
        let mut x = DMatrix::zeros(n, 4);
        for i in 0..n {
            let t = i as f64;
            x[(i, 0)] = (t * 0.37).sin();
            x[(i, 1)] = (t * 0.91).cos();
            x[(i, 3)] = (t * 1.7).sin() * (t * 0.2).cos();
            x[(i, 2)] = 0.5 * x[(i, 0)] - 2.0 * x[(i, 1)] + 0.25;
        }
        let w = DMatrix::from_row_slice(4, 2, &[1.0, -0.5, 0.3, 0.8, 2.0, 1.5, -1.0, 0.4]);
        let mom = moments(&x, &w, &[0.1, -0.2]);
        // The greedy choice drops one of the dependent channels, never 3.
        let keep = select_refit(&mom, 1).unwrap();
        assert_eq!(keep.len(), 3);
        assert!(keep.contains(&3), "{keep:?}");
        // Dropping channel 2 and refitting: the teacher's output exactly.
        let keep = vec![0, 1, 3];
        let fit = solve(&mom, &keep).unwrap();
        assert!(
            error(&mom, &keep, &fit) < 1e-6,
            "{}",
            error(&mom, &keep, &fit)
        );
        // Closed form: ch2's weights fold into ch0, ch1 and the bias.
        let expect = [
            (0, 0, 1.0 + 0.5 * 2.0),
            (0, 1, -0.5 + 0.5 * 1.5),
            (1, 0, 0.3 - 2.0 * 2.0),
            (1, 1, 0.8 - 2.0 * 1.5),
            (2, 0, -1.0),
            (2, 1, 0.4),
            (3, 0, 0.1 + 0.25 * 2.0),
            (3, 1, -0.2 + 0.25 * 1.5),
        ];
        for (r, c, v) in expect {
            assert!(
                (fit[(r, c)] - v).abs() < 1e-3,
                "w[{r},{c}] = {} not {v}",
                fit[(r, c)]
            );
        }
        // Without the refit, dropping channel 2 costs a lot.
        let mut full = w.clone().insert_row(4, 0.0);
        full[(4, 0)] = 0.1;
        full[(4, 1)] = -0.2;
        assert!(error(&mom, &[0, 1, 2, 3], &full) < 1e-9);
        let plain = restrict(&mom, &full, &keep);
        assert!(error(&mom, &keep, &plain) > 0.05);
        // Energy selection (no refit) keeps the largest contributions.
        let keep = select_energy(&mom, &full, 2);
        assert_eq!(keep.len(), 2);
    }
}

//! Shared helpers for the integration tests: a deterministic RNG and a few
//! float oracles.
#![allow(dead_code)]

/// xorshift64* — deterministic, dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (hi - lo + 1) as u64;
        lo + (self.next_u64() % span) as i32
    }
    pub fn i8s(&mut self, n: usize, lo: i32, hi: i32) -> Vec<i8> {
        (0..n).map(|_| self.range(lo, hi) as i8).collect()
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Round half away from zero, clamp to int8.
pub fn q8(x: f64) -> i32 {
    x.round().clamp(-128.0, 127.0) as i32
}

/// Asserts every element is within `tol` of the oracle and returns the
/// largest difference seen.
pub fn assert_close(got: &[i8], want: &[i32], tol: i32) -> i32 {
    assert_eq!(got.len(), want.len());
    let mut worst = 0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = (i32::from(g) - w).abs();
        assert!(d <= tol, "element {i}: got {g}, want {w}");
        worst = worst.max(d);
    }
    worst
}

/// NHWC offset.
pub fn off(d: [usize; 4], b: usize, y: usize, x: usize, c: usize) -> usize {
    ((b * d[1] + y) * d[2] + x) * d[3] + c
}

/// Independent convolution oracle: materialises the zero-padded input
/// (padding value = input zero point, so it contributes 0 after the offset)
/// and a dilated filter (holes = 0), then runs a plain valid correlation with
/// i64 accumulation. Returns raw accumulators (bias included) in NHWC.
#[allow(clippy::too_many_arguments)]
pub fn conv_acc_oracle(
    input: &[i8],
    id: [usize; 4],
    input_zp: i32,
    filter: &[i8],
    fd: [usize; 4],
    bias: &[i32],
    stride: [usize; 2],
    dilation: [usize; 2],
    pad_tl: [usize; 2],
    od: [usize; 4],
) -> Vec<i64> {
    let [n, h, w, c] = id;
    let [oc, kh, kw, fc] = fd;
    let groups = c / fc;
    let per_group = oc / groups;
    // Dilated kernel size.
    let dkh = (kh - 1) * dilation[0] + 1;
    let dkw = (kw - 1) * dilation[1] + 1;
    // Enough padding on the bottom/right for every output position.
    let ph = (od[1] - 1) * stride[0] + dkh;
    let pw = (od[2] - 1) * stride[1] + dkw;
    let ph = ph.max(h + pad_tl[0]);
    let pw = pw.max(w + pad_tl[1]);
    let pd = [n, ph, pw, c];
    let mut padded = vec![input_zp as i64; n * ph * pw * c];
    for b in 0..n {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    padded[off(pd, b, y + pad_tl[0], x + pad_tl[1], ch)] =
                        i64::from(input[off(id, b, y, x, ch)]);
                }
            }
        }
    }
    let dfd = [oc, dkh, dkw, fc];
    let mut dil = vec![0i64; oc * dkh * dkw * fc];
    for o in 0..oc {
        for y in 0..kh {
            for x in 0..kw {
                for ch in 0..fc {
                    dil[off(dfd, o, y * dilation[0], x * dilation[1], ch)] =
                        i64::from(filter[off(fd, o, y, x, ch)]);
                }
            }
        }
    }
    let mut out = vec![0i64; od.iter().product()];
    for b in 0..n {
        for oy in 0..od[1] {
            for ox in 0..od[2] {
                for o in 0..oc {
                    let g = o / per_group;
                    let mut acc = bias.get(o).copied().map(i64::from).unwrap_or(0);
                    for y in 0..dkh {
                        for x in 0..dkw {
                            for ch in 0..fc {
                                let iv = padded[off(
                                    pd,
                                    b,
                                    oy * stride[0] + y,
                                    ox * stride[1] + x,
                                    g * fc + ch,
                                )];
                                acc += dil[off(dfd, o, y, x, ch)] * (iv - i64::from(input_zp));
                            }
                        }
                    }
                    out[off(od, b, oy, ox, o)] = acc;
                }
            }
        }
    }
    out
}

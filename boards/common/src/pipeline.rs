//! Application glue between sensors and a model's int8 input: a sliding
//! window of accelerometer samples (logistics tags) and a frame source
//! (imaging devices), with the quantization the model expects.

/// Quantizes `x` with a model input's scale and zero point (round half away
/// from zero, saturating to int8), as TFLite's `Quantize` does.
pub fn quantize(x: f32, scale: f32, zero_point: i32) -> i8 {
    let q = x / scale;
    // `f32::round` needs std; this rounds half away from zero.
    let r = if q >= 0.0 { q + 0.5 } else { q - 0.5 } as i32;
    r.saturating_add(zero_point).clamp(-128, 127) as i8
}

/// The last `N` accelerometer samples (X, Y, Z in milli-g), oldest first.
#[derive(Debug, Clone)]
pub struct Window<const N: usize> {
    samples: [[i16; 3]; N],
    next: usize,
    filled: usize,
}

impl<const N: usize> Default for Window<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Window<N> {
    /// An empty window.
    pub const fn new() -> Self {
        Window {
            samples: [[0; 3]; N],
            next: 0,
            filled: 0,
        }
    }

    /// Adds a sample, dropping the oldest once full.
    pub fn push(&mut self, sample: [i16; 3]) {
        if N == 0 {
            return;
        }
        self.samples[self.next] = sample;
        self.next = (self.next + 1) % N;
        self.filled = (self.filled + 1).min(N);
    }

    /// Whether `N` samples have been pushed.
    pub fn is_full(&self) -> bool {
        self.filled == N
    }

    /// The samples, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = [i16; 3]> + Clone + '_ {
        let start = if self.is_full() { self.next } else { 0 };
        (0..self.filled).map(move |i| self.samples[(start + i) % N.max(1)])
    }

    /// Writes the window into a model input: each sample's acceleration
    /// magnitude minus 1 g (so a tag at rest reads 0), in g, quantized with
    /// the input's `scale` and `zero_point`. The window is repeated or cut
    /// to `input.len()` elements.
    pub fn fill_magnitudes(&self, input: &mut [i8], scale: f32, zero_point: i32) {
        let mut it = self.iter().cycle();
        for dst in input.iter_mut() {
            let g = match it.next() {
                Some([x, y, z]) => {
                    let (x, y, z) = (f32::from(x), f32::from(y), f32::from(z));
                    sqrt(x * x + y * y + z * z) / 1000.0 - 1.0
                }
                None => 0.0,
            };
            *dst = quantize(g, scale, zero_point);
        }
    }
}

/// Square root by Newton's method (no libm in `no_std`); exact enough for
/// sensor magnitudes.
fn sqrt(x: f32) -> f32 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut r = if x > 1.0 { x / 2.0 } else { 1.0 };
    for _ in 0..20 {
        r = 0.5 * (r + x / r);
    }
    r
}

/// Mean squared difference between a model's int8 input and output, in
/// real units: the reconstruction error an autoencoder scores anomalies by.
pub fn reconstruction_error(
    input: &[i8],
    in_scale: f32,
    in_zero: i32,
    output: &[i8],
    out_scale: f32,
    out_zero: i32,
) -> f32 {
    let n = input.len().min(output.len());
    if n == 0 {
        return 0.0;
    }
    let sum: f32 = input
        .iter()
        .zip(output)
        .map(|(&a, &b)| {
            let a = (i32::from(a) - in_zero) as f32 * in_scale;
            let b = (i32::from(b) - out_zero) as f32 * out_scale;
            (a - b) * (a - b)
        })
        .sum();
    sum / n as f32
}

/// A source of camera frames, already in the model's int8 NHWC layout.
pub trait FrameSource {
    /// The source's error.
    type Error;
    /// Frame height, width and channels.
    fn shape(&self) -> [usize; 3];
    /// Writes the next frame into `dst` (`height * width * channels` bytes).
    fn next_frame(&mut self, dst: &mut [i8]) -> Result<(), Self::Error>;
}

/// A synthetic frame source (moving diagonal gradient) for bring-up
/// without a camera.
#[derive(Debug, Clone)]
pub struct TestPattern {
    shape: [usize; 3],
    frame: u8,
}

impl TestPattern {
    /// A test pattern of `height` x `width` x `channels`.
    pub const fn new(height: usize, width: usize, channels: usize) -> Self {
        TestPattern {
            shape: [height, width, channels],
            frame: 0,
        }
    }
}

impl FrameSource for TestPattern {
    type Error = core::convert::Infallible;

    fn shape(&self) -> [usize; 3] {
        self.shape
    }

    fn next_frame(&mut self, dst: &mut [i8]) -> Result<(), Self::Error> {
        let [_, w, c] = self.shape;
        for (i, d) in dst.iter_mut().enumerate() {
            let px = i / c.max(1);
            let (y, x) = (px / w.max(1), px % w.max(1));
            let v = (x + y + usize::from(self.frame) * 4 + (i % c.max(1)) * 32) as u8;
            *d = v.wrapping_sub(128) as i8;
        }
        self.frame = self.frame.wrapping_add(1);
        Ok(())
    }
}

/// Index and value of the largest score (the first one on ties); `None`
/// for no scores.
pub fn top1(scores: &[i8]) -> Option<(usize, i8)> {
    scores
        .iter()
        .copied()
        .enumerate()
        .fold(None, |best, (i, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_rounds_half_away_and_saturates() {
        assert_eq!(quantize(0.5, 1.0, 0), 1);
        assert_eq!(quantize(-0.5, 1.0, 0), -1);
        assert_eq!(quantize(0.25, 0.5, -3), -2);
        assert_eq!(quantize(1e6, 1.0, 0), 127);
        assert_eq!(quantize(-1e6, 1.0, 0), -128);
    }

    #[test]
    fn window_keeps_the_last_n_in_order() {
        let mut w = Window::<3>::new();
        for i in 0..5 {
            w.push([i, 0, 0]);
        }
        assert!(w.is_full());
        let xs: [i16; 3] = {
            let mut it = w.iter().map(|s| s[0]);
            [it.next().unwrap(), it.next().unwrap(), it.next().unwrap()]
        };
        assert_eq!(xs, [2, 3, 4]);
    }

    #[test]
    fn magnitudes_of_a_tag_at_rest_are_zero() {
        let mut w = Window::<4>::new();
        for _ in 0..4 {
            w.push([0, 0, 1000]);
        }
        w.push([0, 3000, 4000]); // 5 g: 4 g above rest
        let mut input = [9i8; 6];
        w.fill_magnitudes(&mut input, 0.05, 0);
        assert_eq!(input, [0, 0, 0, 80, 0, 0]);
    }

    #[test]
    fn reconstruction_error_and_top1() {
        let e = reconstruction_error(&[10, 20], 0.5, 0, &[12, 20], 0.5, 0);
        assert!((e - 0.5).abs() < 1e-6);
        assert_eq!(top1(&[-3, 7, 7, 1]), Some((1, 7)));
        assert_eq!(top1(&[]), None);
    }

    #[test]
    fn test_pattern_fills_frames() {
        let mut t = TestPattern::new(2, 2, 3);
        let mut a = [0i8; 12];
        let mut b = [0i8; 12];
        t.next_frame(&mut a).unwrap();
        t.next_frame(&mut b).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.shape(), [2, 2, 3]);
    }
}

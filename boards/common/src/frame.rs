//! Image preprocessing for imaging devices: the DICOM grey-scale pipeline
//! (modality rescale, then the VOI window) and a bilinear resize of a frame
//! into a model's int8 input. No heap: the caller passes the pixels.

use crate::pipeline::quantize;

/// DICOM VOI LUT linear window (PS3.3 C.11.2.1.2.1), mapped to `[0, 1]`:
/// `center`/`width` are Window Center / Window Width in rescaled units
/// (`width >= 1`; smaller widths are treated as 1).
pub fn voi_linear(x: f32, center: f32, width: f32) -> f32 {
    let w = if width < 1.0 { 1.0 } else { width };
    let lo = center - 0.5 - (w - 1.0) / 2.0;
    let hi = center - 0.5 + (w - 1.0) / 2.0;
    if x <= lo {
        0.0
    } else if x > hi {
        1.0
    } else if w <= 1.0 {
        // Width 1: a threshold at the center.
        1.0
    } else {
        (x - (center - 0.5)) / (w - 1.0) + 0.5
    }
}

/// DICOM modality LUT: stored value to output units (e.g. Hounsfield).
pub fn rescale(stored: f32, slope: f32, intercept: f32) -> f32 {
    stored * slope + intercept
}

/// Where a frame goes in the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameLayout {
    /// `[height][width][channels]` (NHWC).
    Hwc,
    /// `[channels][height][width]` (NCHW).
    Chw,
}

/// Why a frame cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameError {
    /// A zero dimension, or `src` is not `height * width * channels` long.
    SourceSize,
    /// `dst` is not `height * width * channels` long.
    InputSize,
}

/// A source frame: `pixels` are interleaved `[h][w][c]` values, already
/// normalised (typically to `[0, 1]`).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The pixel values.
    pub pixels: &'a [f32],
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel.
    pub channels: usize,
}

impl Frame<'_> {
    /// Bytes of pixel memory a `height` x `width` frame of `channels`
    /// values per pixel needs (the `pixels` of a [`Frame`]): the imaging
    /// pipeline's buffer outside the model's arena. `None` on overflow.
    pub const fn buffer_bytes(height: usize, width: usize, channels: usize) -> Option<usize> {
        match height.checked_mul(width) {
            Some(hw) => match hw.checked_mul(channels) {
                Some(n) => n.checked_mul(core::mem::size_of::<f32>()),
                None => None,
            },
            None => None,
        }
    }
}

/// Resizes `src` bilinearly (pixel centres aligned, edges clamped; a
/// frame of the target size is copied unchanged) to `height` x `width`
/// with `src.channels` channels, then writes each value `(x - mean) / std`
/// quantized with the input's `scale` and `zero_point` into `dst`.
#[allow(clippy::too_many_arguments)]
pub fn resize_into(
    src: &Frame<'_>,
    dst: &mut [i8],
    height: usize,
    width: usize,
    layout: FrameLayout,
    mean: f32,
    std: f32,
    scale: f32,
    zero_point: i32,
) -> Result<(), FrameError> {
    let (sh, sw, c) = (src.height, src.width, src.channels);
    if sh == 0 || sw == 0 || c == 0 || src.pixels.len() != sh * sw * c {
        return Err(FrameError::SourceSize);
    }
    if dst.len() != height * width * c {
        return Err(FrameError::InputSize);
    }
    let px = |y: usize, x: usize, ch: usize| src.pixels.get((y * sw + x) * c + ch).copied();
    // Source coordinate of a target pixel centre, and its two neighbours.
    let axis = |i: usize, n: usize, sn: usize| -> (usize, usize, f32) {
        let f = (i as f32 + 0.5) * sn as f32 / n as f32 - 0.5;
        let f = if f < 0.0 { 0.0 } else { f };
        let i0 = (f as usize).min(sn - 1);
        let i1 = (i0 + 1).min(sn - 1);
        (i0, i1, f - i0 as f32)
    };
    let inv_std = if std == 0.0 { 1.0 } else { 1.0 / std };
    for y in 0..height {
        let (y0, y1, fy) = axis(y, height, sh);
        for x in 0..width {
            let (x0, x1, fx) = axis(x, width, sw);
            for ch in 0..c {
                let (Some(a), Some(b), Some(p), Some(q)) = (
                    px(y0, x0, ch),
                    px(y0, x1, ch),
                    px(y1, x0, ch),
                    px(y1, x1, ch),
                ) else {
                    return Err(FrameError::SourceSize);
                };
                let top = if fx == 0.0 { a } else { a + (b - a) * fx };
                let bot = if fx == 0.0 { p } else { p + (q - p) * fx };
                let v = if fy == 0.0 {
                    top
                } else {
                    top + (bot - top) * fy
                };
                let at = match layout {
                    FrameLayout::Hwc => (y * width + x) * c + ch,
                    FrameLayout::Chw => (ch * height + y) * width + x,
                };
                if let Some(d) = dst.get_mut(at) {
                    *d = quantize((v - mean) * inv_std, scale, zero_point);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_buffer_bytes() {
        assert_eq!(Frame::buffer_bytes(28, 28, 1), Some(3136));
        assert_eq!(Frame::buffer_bytes(usize::MAX, 2, 1), None);
    }

    #[test]
    fn dicom_window() {
        // Center 40, width 400 (a CT soft-tissue window).
        assert_eq!(voi_linear(-1000.0, 40.0, 400.0), 0.0);
        assert_eq!(voi_linear(1000.0, 40.0, 400.0), 1.0);
        assert!((voi_linear(39.5, 40.0, 400.0) - 0.5).abs() < 1e-6);
        assert_eq!(voi_linear(5.0, 4.0, 0.5), 1.0);
        assert_eq!(rescale(1024.0, 1.0, -1024.0), 0.0);
    }

    #[test]
    fn same_size_is_a_copy_and_2x_duplicates_come_back() {
        let pixels: [f32; 4] = [0.0, 0.25, 0.75, 1.0];
        let f = Frame {
            pixels: &pixels,
            height: 2,
            width: 2,
            channels: 1,
        };
        let mut out = [0i8; 4];
        resize_into(
            &f,
            &mut out,
            2,
            2,
            FrameLayout::Hwc,
            0.0,
            1.0,
            1.0 / 255.0,
            -128,
        )
        .unwrap();
        assert_eq!(out, [-128, -64, 63, 127]);
        // Each pixel as a 2x2 block, downscaled by 2: the original again.
        let mut big = [0.0f32; 16];
        for (i, v) in big.iter_mut().enumerate() {
            let (y, x) = (i / 4, i % 4);
            *v = pixels[(y / 2) * 2 + x / 2];
        }
        let g = Frame {
            pixels: &big,
            height: 4,
            width: 4,
            channels: 1,
        };
        let mut out2 = [0i8; 4];
        resize_into(
            &g,
            &mut out2,
            2,
            2,
            FrameLayout::Chw,
            0.0,
            1.0,
            1.0 / 255.0,
            -128,
        )
        .unwrap();
        assert_eq!(out2, out);
        assert_eq!(
            resize_into(&g, &mut out2[..3], 2, 2, FrameLayout::Hwc, 0.0, 1.0, 1.0, 0),
            Err(FrameError::InputSize)
        );
    }
}

//! Padded images for the SIMD twins (x86_64 and Helium): a batch image
//! copied once with its padding made explicit, so that every tap of every
//! output position can be read without a bounds test, and the walk over
//! output positions that finds each window's first tap.

use crate::conv::Window;

/// Lanes a window row or a padded image keeps past its end, for the copies'
/// overrun.
pub(crate) const SLACK: usize = 16;

/// The padded image's geometry: padded row `py` is input row `py - pad_top`,
/// padded column `px` input column `px - pad_left`; lanes outside the input
/// are 0 (`x + off` is 0 exactly for TFLite's implicit padding value).
pub(crate) struct Padded {
    /// Padded rows.
    pub ph: usize,
    /// Padded columns.
    pub pw: usize,
    /// Channels.
    pub c: usize,
}

impl Padded {
    /// The padded geometry covering every tap of an `out_h x out_w` output
    /// (`None` on overflow or an empty output).
    pub(crate) fn new(
        win: &Window,
        out_hw: [usize; 2],
        k_hw: [usize; 2],
        c: usize,
    ) -> Option<Self> {
        let span = |axis: usize| -> Option<usize> {
            let s = usize::try_from(win.stride[axis]).ok()?;
            let d = usize::try_from(win.dilation[axis]).ok()?;
            let o = out_hw[axis].checked_sub(1)?;
            let k = k_hw[axis].checked_sub(1)?;
            o.checked_mul(s)?
                .checked_add(k.checked_mul(d)?)?
                .checked_add(1)
        };
        Some(Self {
            ph: span(0)?,
            pw: span(1)?,
            c,
        })
    }

    /// Lanes the padded image needs, slack included.
    pub(crate) fn lanes(&self) -> Option<usize> {
        self.ph
            .checked_mul(self.pw)?
            .checked_mul(self.c)?
            .checked_add(SLACK)
    }

    /// Writes batch image `b` of `input` (`[.., in_h, in_w, c]`) into `dst`
    /// (at least [`Self::lanes`] long) as int8 lanes, `pad_value` (the input
    /// zero point, whose `x + off` is 0) outside the input.
    pub(crate) fn fill_s8(
        &self,
        dst: &mut [i8],
        input: &[i8],
        b: usize,
        in_hw: [usize; 2],
        pad: [i64; 2],
        pad_value: i8,
    ) {
        self.fill_with(dst, pad_value, input, b, in_hw, pad, |d, s| {
            d.copy_from_slice(s)
        });
    }

    /// Fills `dst` with `outside`, then each padded row's input columns with
    /// `put(dst_part, input_row_part)` (equal lengths).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn fill_with<T: Copy>(
        &self,
        dst: &mut [T],
        outside: T,
        input: &[i8],
        b: usize,
        in_hw: [usize; 2],
        pad: [i64; 2],
        put: impl Fn(&mut [T], &[i8]),
    ) {
        dst.fill(outside);
        let c = self.c;
        let (pad_t, pad_l) = (pad[0].max(0) as usize, pad[1].max(0) as usize);
        // Padded columns holding input columns.
        let px0 = pad_l.min(self.pw);
        let px1 = pad_l.saturating_add(in_hw[1]).min(self.pw);
        if px0 >= px1 {
            return;
        }
        let n = (px1 - px0) * c;
        for py in 0..self.ph {
            let Some(iy) = py.checked_sub(pad_t).filter(|&iy| iy < in_hw[0]) else {
                continue;
            };
            let s = ((b * in_hw[0] + iy) * in_hw[1] + (px0 - pad_l)) * c;
            let d = (py * self.pw + px0) * c;
            if let (Some(src), Some(dst)) = (input.get(s..s + n), dst.get_mut(d..d + n)) {
                put(dst, src);
            }
        }
    }
}

/// Row-major output positions from `start` on: the padded-image offset of
/// each window's top-left tap (`oy*stride_h*line + ox*stride_w*c`) without a
/// division per pixel.
pub(crate) struct Walk {
    /// Next output row.
    pub oy: usize,
    /// Next output column.
    pub ox: usize,
    /// Output columns.
    pub ow: usize,
    /// Lanes per padded row times the vertical stride.
    pub row_step: usize,
    /// Channels times the horizontal stride.
    pub col_step: usize,
}

impl Walk {
    /// The next position's offset; advances.
    #[inline]
    pub(crate) fn next_base(&mut self) -> usize {
        let base = self.oy * self.row_step + self.ox * self.col_step;
        self.ox += 1;
        if self.ox >= self.ow {
            self.ox = 0;
            self.oy += 1;
        }
        base
    }
}

/// The window of a depthwise call that both SIMD twins take: depth
/// multiplier 1, shapes and buffer lengths the reference accepts, a
/// non-empty output, at most `max_c` channels, a valid clamp range and
/// scales. `None` for every other call (the twins hand it on).
#[allow(clippy::too_many_arguments)]
pub(crate) fn plain_depthwise(
    p: &crate::conv::ConvParams,
    depth_multiplier: usize,
    rq: &crate::requant::Requant,
    lens: [usize; 3],
    input_dims: crate::shape::Dims4,
    filter_dims: crate::shape::Dims4,
    bias: &[i32],
    output_dims: crate::shape::Dims4,
    max_c: usize,
) -> Option<Window> {
    use crate::shape::{check_act_range, check_len};
    let [batches, _, _, in_c] = input_dims;
    let [f_one, _, _, f_oc] = filter_dims;
    let [o_n, _, _, out_c] = output_dims;
    let [input, filter, output] = lens;
    let ok = depth_multiplier == 1
        && f_one == 1
        && o_n == batches
        && f_oc == out_c
        && out_c == in_c
        && (1..=max_c).contains(&out_c)
        && (bias.is_empty() || bias.len() == out_c)
        && check_len(input, input_dims).is_ok()
        && check_len(filter, filter_dims).is_ok()
        && check_len(output, output_dims).is_ok()
        && output > 0
        && check_act_range(p.act_min, p.act_max).is_ok()
        && rq.validate(out_c).is_ok();
    if !ok {
        return None;
    }
    Window::new(p.stride, p.dilation, p.padding).ok()
}

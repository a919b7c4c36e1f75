//! Sparse int8 2-D convolution, bit-exact with [`crate::conv2d_s8`].

use super::tiled::{conv_tiled, Geom};
use super::{dot_group, skip, SparseFilter};
use crate::conv::{inside, ConvParams, Window};
use crate::error::KernelError;
use crate::requant::Requant;
use crate::shape::{check_act_range, check_len, clamp_to_i8, offset, Dims4};

/// Int8 convolution over a sparse OHWI filter of dense dims `filter_dims`
/// (`[OC, KH, KW, FC]`, grouped when `FC < C`); shapes, arithmetic and
/// errors as [`crate::conv2d_s8`]. The filter must have `OC` rows of
/// `KH·KW` groups of `FC` elements.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_sparse_s8(
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    input_dims: Dims4,
    filter: &SparseFilter,
    filter_dims: Dims4,
    bias: &[i32],
    output: &mut [i8],
    output_dims: Dims4,
) -> Result<(), KernelError> {
    check_len(input.len(), input_dims)?;
    check_len(output.len(), output_dims)?;
    check_act_range(p.act_min, p.act_max)?;
    let [batches, in_h, in_w, in_c] = input_dims;
    let [out_c, k_h, k_w, f_c] = filter_dims;
    let [o_n, out_h, out_w, o_c] = output_dims;
    let taps = k_h.checked_mul(k_w).ok_or(KernelError::SizeOverflow)?;
    if filter.rows != out_c || filter.groups != taps || filter.group_len != f_c {
        return Err(KernelError::ShapeMismatch);
    }
    if o_n != batches || o_c != out_c || f_c == 0 || in_c % f_c != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    if !(bias.is_empty() || bias.len() == out_c) {
        return Err(KernelError::BufferLength);
    }
    rq.validate(out_c)?;
    let win = Window::new(p.stride, p.dilation, p.padding)?;
    if output.is_empty() {
        return Ok(());
    }
    let groups = in_c / f_c;
    if groups == 0 || out_c % groups != 0 {
        return Err(KernelError::ShapeMismatch);
    }
    let filters_per_group = out_c / groups;
    let gb = filter.group_bytes();
    let values = filter.values;
    // Whole tiles of output pixels first; the rest pixel by pixel.
    let done = if groups == 1 {
        conv_tiled(
            p,
            rq,
            input,
            filter,
            bias,
            output,
            &Geom {
                batches,
                in_h,
                in_w,
                in_c,
                k_h,
                k_w,
                out_h,
                out_w,
                out_c,
                win: &win,
            },
        )
    } else {
        0
    };

    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                if (b * out_h + oy) * out_w + ox < done {
                    continue;
                }
                // Rows are consumed in order: the bitmap and the values are
                // walked once per output pixel.
                let mut bitmap = filter.bitmap.chunks_exact(gb.max(1));
                let mut vals = values.iter();
                for oc in 0..out_c {
                    let group = oc / filters_per_group;
                    let mut acc: i32 = 0;
                    for ky in 0..k_h {
                        let iy = inside(win.input_coord(0, oy, ky), in_h);
                        for kx in 0..k_w {
                            let bits = if gb == 0 {
                                &[][..]
                            } else {
                                bitmap.next().unwrap_or(&[])
                            };
                            let ix = inside(win.input_coord(1, ox, kx), in_w);
                            let (Some(iy), Some(ix)) = (iy, ix) else {
                                skip(bits, &mut vals);
                                continue;
                            };
                            let base = offset(input_dims, b, iy, ix, group * f_c);
                            let ins = input.get(base..base + f_c).unwrap_or(&[]);
                            acc = acc.wrapping_add(dot_group(bits, ins, &mut vals, p.input_offset));
                        }
                    }
                    if let Some(&bv) = bias.get(oc) {
                        acc = acc.wrapping_add(bv);
                    }
                    let v = rq.apply(acc, oc).wrapping_add(p.output_offset);
                    if let Some(o) = output.get_mut(offset(output_dims, b, oy, ox, oc)) {
                        *o = clamp_to_i8(v, p.act_min, p.act_max);
                    }
                }
            }
        }
    }
    Ok(())
}

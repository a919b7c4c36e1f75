//! The tiled path of the sparse convolution: four output pixels at a time,
//! each non-zero weight multiplying two pixels per instruction.
//!
//! Per block of output channels the bitmap is decoded once into entries
//! `(slot, weight)`, one per non-zero weight (padded with zero-weight
//! entries to a multiple of four per channel). Per tile of four output
//! pixels (raster order over batches, rows and columns) the pixels' windows
//! are written into `W`: for each filter position `e` (KH·KW·C order) two
//! words `x0 + x1·2^23` and `x2 + x3·2^23`, the int8 inputs of pixels 0..4
//! at `e` (padding filled with `-input_offset`, so that `x + offset` is 0
//! there; the offset term `offset·Σw` is in each channel's bias). One signed
//! 32×32→64-bit multiply-accumulate (`SMLAL` on Cortex-M) of such a word by
//! a weight adds `w·x0 + 2^23·w·x1` to a 64-bit accumulator started at
//! 2^22. With at most [`CHUNK`] products of magnitude at most 2^14 per
//! chunk, `|Σ w·x0| < 2^22`, so the low 23 bits hold `2^22 + Σ w·x0` and
//! the bits above hold `Σ w·x1`, both exact. Sums are therefore the exact
//! integers the reference accumulates, bit for bit after wrapping.

use super::SparseFilter;
use crate::conv::{ConvParams, Window};
use crate::fast::{band4, band_of, seg, seg_mut, tap_range};
use crate::requant::Requant;
use crate::shape::clamp_to_i8;

/// Output pixels per tile.
const TP: usize = 4;
/// Largest filter (`KH·KW·C` elements) of the tiled path.
pub(super) const FL_MAX: usize = 576;
/// Entries decoded per block of output channels (with the window buffer,
/// what keeps one inference within the 16 KiB of stack boards reserve).
const ENT_MAX: usize = 1024;
/// Output channels per block at most.
const OCB: usize = 16;
/// Padding values kept on the stack: a tap in the padding is packed in
/// parts of at most this many channels.
const PAD_MAX: usize = 128;
/// Output columns whose taps are computed once per call.
const COLS: usize = 64;
/// Entries per accumulation chunk (a multiple of 4, at most 255 products).
const CHUNK: usize = 252;
/// The 64-bit accumulators start here, so that the low field is never
/// negative.
const BIAS_LO: i64 = 1 << 22;

/// One non-zero weight: where its two window words are, and its value.
/// On DSP builds `slot` is the address of the words (`LDRD` from the
/// entry, then from the slot); elsewhere their index in `W`.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Ent {
    slot: usize,
    w: i32,
}

/// One output channel of a block.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Chan {
    /// `bias + offset·Σw - 2^22`: the first field's bias with the start
    /// value of the accumulators taken out.
    bias_lo: i32,
    /// `bias + offset·Σw`.
    bias: i32,
    /// First entry.
    start: usize,
    /// Entries (a multiple of 4).
    len: usize,
    /// The channel's requantisation with the output offset, when [`band_of`]
    /// applies.
    band: Option<[u32; 3]>,
}

/// Shapes of a non-grouped convolution (validated by the caller).
pub(super) struct Geom<'a> {
    pub batches: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub win: &'a Window,
}

/// Where one output pixel's window lies in the input: its image's first
/// element, and per axis the valid taps `k0..k1` with the input coordinate
/// of tap `k0` (as [`tap_range`] gives them).
#[derive(Clone, Copy, Default)]
struct Pix {
    img: usize,
    y: (usize, usize, usize),
    x: (usize, usize, usize),
    /// Input index of the first valid tap's first channel.
    base: usize,
    /// No tap falls in the padding.
    whole: bool,
}

impl Pix {
    fn new(img: usize, y: (usize, usize, usize), x: (usize, usize, usize), g: &Geom) -> Self {
        let base = img + (y.2 * g.in_w + x.2) * g.in_c;
        let whole = y.0 == 0 && y.1 == g.k_h && x.0 == 0 && x.1 == g.k_w;
        Pix {
            img,
            y,
            x,
            base,
            whole,
        }
    }

    /// No tap of kernel row `ky` (of `kw` taps) falls in the padding.
    fn whole_row(&self, ky: usize, kw: usize) -> bool {
        (self.y.0..self.y.1).contains(&ky) && self.x.0 == 0 && self.x.1 == kw
    }

    /// Tap (`ky`, `kx`) reads the input (not the padding).
    fn inside(&self, ky: usize, kx: usize) -> bool {
        (self.y.0..self.y.1).contains(&ky) && (self.x.0..self.x.1).contains(&kx)
    }

    /// Input index of tap (`ky`, `kx`)'s first channel (a valid tap).
    fn at(&self, ky: usize, kx: usize, row_len: usize, in_c: usize, dil: [usize; 2]) -> usize {
        let iy = self.y.2 + (ky - self.y.0) * dil[0];
        let ix = self.x.2 + (kx - self.x.0) * dil[1];
        self.img + iy * row_len + ix * in_c
    }
}

/// Computes the leading output pixels in whole tiles of [`TP`]; returns how
/// many (0 when the shape, the offset or the requantisation does not fit
/// this path; the caller computes the rest).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv_tiled(
    p: &ConvParams,
    rq: &Requant,
    input: &[i8],
    filter: &SparseFilter,
    bias: &[i32],
    output: &mut [i8],
    g: &Geom,
) -> usize {
    let fl = g.k_h * g.k_w * g.in_c;
    let total = g.batches * g.out_h * g.out_w;
    let tiles = total / TP;
    if tiles == 0 || fl == 0 || fl > FL_MAX {
        return 0;
    }
    let Ok(pad) = i8::try_from(p.input_offset.wrapping_neg()) else {
        return 0;
    };
    if filter.rows != g.out_c || filter.groups != g.k_h * g.k_w || filter.group_len != g.in_c {
        return 0;
    }
    let off = p.input_offset;
    let row_len = g.in_w * g.in_c;
    let img_len = g.in_h * row_len;
    let dil = [g.win.dilation[0] as usize, g.win.dilation[1] as usize];
    let gb = filter.group_bytes();
    let row_bytes = g.k_h * g.k_w * gb;
    let full_act = p.act_min <= -128 && p.act_max >= 127;
    let lo4 = u32::from(p.act_min as u8) * 0x0101_0101;
    let hi4 = u32::from(p.act_max as u8) * 0x0101_0101;

    // Column taps of the first output columns, computed once.
    let cached =
        g.out_w <= COLS && g.in_w <= usize::from(u16::MAX) && g.k_w <= usize::from(u16::MAX);
    let mut cols = [(0u16, 0u16, 0u16); COLS];
    for (ox, c) in cols.iter_mut().enumerate().take(g.out_w) {
        let (a, b, x) = tap_range(
            ox,
            g.win.stride[1],
            g.win.padding[1],
            g.win.dilation[1],
            g.in_w,
            g.k_w,
        );
        // Each is at most `k_w` or below `in_w`: exact when `cached`.
        *c = (a as u16, b as u16, x as u16);
    }
    let col = |ox: usize| -> (usize, usize, usize) {
        match cols.get(ox) {
            Some(&(a, b, x)) if cached => (usize::from(a), usize::from(b), usize::from(x)),
            _ => tap_range(
                ox,
                g.win.stride[1],
                g.win.padding[1],
                g.win.dilation[1],
                g.in_w,
                g.k_w,
            ),
        }
    };

    // The windows of one tile; slot `fl` stays zero (padding entries).
    let mut wbuf = [[0i32; 2]; FL_MAX + 1];
    // One tap's input channels in the padding: `x + offset` is 0 there.
    let pads = [pad; PAD_MAX];
    // A window word of four padding inputs.
    let pad_word = i32::from(pad) + (i32::from(pad) << 23);
    let mut ents = [Ent::default(); ENT_MAX];
    let mut chans = [Chan::default(); OCB];
    let mut vcur = 0usize;
    let mut oc0 = 0usize;
    while oc0 < g.out_c {
        // Decode a block of channels.
        #[cfg(mote_dsp)]
        let (slot0, slot_size) = (wbuf.as_ptr() as usize, core::mem::size_of::<[i32; 2]>());
        #[cfg(not(mote_dsp))]
        let (slot0, slot_size) = (0usize, 1usize);
        let mut n_ent = 0usize;
        let mut nb = 0usize;
        while oc0 + nb < g.out_c && nb < OCB {
            let oc = oc0 + nb;
            let bm = seg(filter.bitmap, oc * row_bytes, row_bytes);
            let nnz: usize = bm.iter().map(|b| b.count_ones() as usize).sum();
            let padded = nnz.div_ceil(4) * 4;
            if n_ent + padded > ENT_MAX {
                break;
            }
            let list = ents.get_mut(n_ent..n_ent + padded).unwrap_or(&mut []);
            let mut out = list.iter_mut();
            let mut vi = seg(filter.values, vcur, nnz).iter();
            let mut sum_w = 0i32;
            for (t, group) in bm.chunks_exact(gb.max(1)).enumerate() {
                for (bi, &byte) in group.iter().enumerate() {
                    let first = t * g.in_c + bi * 8;
                    let mut m = byte;
                    while m != 0 {
                        let e = first + m.trailing_zeros() as usize;
                        m &= m - 1;
                        let w = vi.next().map_or(0, |&v| i32::from(v as i8));
                        sum_w = sum_w.wrapping_add(w);
                        if let Some(slot) = out.next() {
                            // `e < fl` (validated bitmap; bits past a group
                            // are refused).
                            *slot = Ent {
                                slot: slot0 + e.min(fl) * slot_size,
                                w,
                            };
                        }
                    }
                }
            }
            for slot in out {
                *slot = Ent {
                    slot: slot0 + fl * slot_size,
                    w: 0,
                };
            }
            let (m, s) = rq.get(oc);
            let b = bias
                .get(oc)
                .copied()
                .unwrap_or(0)
                .wrapping_add(off.wrapping_mul(sum_w));
            if let Some(c) = chans.get_mut(nb) {
                *c = Chan {
                    bias_lo: b.wrapping_sub(1 << 22),
                    bias: b,
                    start: n_ent,
                    len: padded,
                    band: band_of(m, s, p.output_offset),
                };
            }
            n_ent += padded;
            vcur += nnz;
            nb += 1;
        }
        if nb == 0 {
            // A channel larger than the entry buffer: cannot happen for
            // filters within FL_MAX; leave everything to the caller.
            return 0;
        }

        let (mut b, mut oy, mut ox) = (0usize, 0usize, 0usize);
        let (mut cur_oy, mut yr) = (usize::MAX, (0, 0, 0));
        for t in 0..tiles {
            // Where each pixel's window comes from.
            let mut px = [Pix::default(); TP];
            for p in px.iter_mut() {
                if oy != cur_oy {
                    cur_oy = oy;
                    yr = tap_range(
                        oy,
                        g.win.stride[0],
                        g.win.padding[0],
                        g.win.dilation[0],
                        g.in_h,
                        g.k_h,
                    );
                }
                *p = Pix::new(b * img_len, yr, col(ox), g);
                ox += 1;
                if ox == g.out_w {
                    ox = 0;
                    oy += 1;
                    if oy == g.out_h {
                        oy = 0;
                        b += 1;
                    }
                }
            }
            pack_tile(&mut wbuf, &px, input, &pads, pad_word, g, dil);
            // Every channel of the block against the tile.
            let base = t * TP * g.out_c + oc0;
            let oc = g.out_c;
            for (j, ch) in chans.iter().take(nb).enumerate() {
                let list = seg(&ents[..], ch.start, ch.len);
                let acc = if list.len() <= CHUNK {
                    sums(list, &wbuf, ch)
                } else {
                    let mut acc = [ch.bias; TP];
                    let zero = Chan {
                        bias_lo: -(1 << 22),
                        ..Chan::default()
                    };
                    for chunk in list.chunks(CHUNK) {
                        let s = sums(chunk, &wbuf, &zero);
                        for (a, s) in acc.iter_mut().zip(s) {
                            *a = a.wrapping_add(s);
                        }
                    }
                    acc
                };
                let v = if let Some(q) = ch.band {
                    let v = band4(&q, acc);
                    if full_act {
                        v
                    } else {
                        // The activation range lies inside int8: clamping
                        // the saturated value is clamping the value.
                        clamp4(v, lo4, hi4)
                    }
                } else {
                    let oc = oc0 + j;
                    acc.map(|a| {
                        let v = rq.apply(a, oc).wrapping_add(p.output_offset);
                        clamp_to_i8(v, p.act_min, p.act_max)
                    })
                };
                let first = base + j;
                if first + 3 * oc < output.len() {
                    // SAFETY: the four indices are at most `first + 3·oc`,
                    // checked to lie inside `output` just above.
                    unsafe {
                        *output.get_unchecked_mut(first) = v[0];
                        *output.get_unchecked_mut(first + oc) = v[1];
                        *output.get_unchecked_mut(first + 2 * oc) = v[2];
                        *output.get_unchecked_mut(first + 3 * oc) = v[3];
                    }
                }
            }
        }
        oc0 += nb;
    }
    tiles * TP
}

/// The window words of a tile, kernel row by kernel row: a row that every
/// pixel reads from the input as one run packed in one pass, a row wholly
/// in the padding filled with `pad_word`; otherwise the taps every pixel
/// reads from the input packed as one run, the others tap by tap with
/// `pads` for the padding.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pack_tile(
    wbuf: &mut [[i32; 2]],
    px: &[Pix; TP],
    input: &[i8],
    pads: &[i8],
    pad_word: i32,
    g: &Geom,
    dil: [usize; 2],
) {
    let kwc = g.k_w * g.in_c;
    let row_len = g.in_w * g.in_c;
    if dil[1] == 1 && px.iter().all(|p| p.whole) {
        // The common case: each pixel's kernel rows are runs of the input,
        // one row stride apart.
        let step = dil[0] * row_len;
        for (ky, wrow) in wbuf.chunks_exact_mut(kwc.max(1)).take(g.k_h).enumerate() {
            let s = |p: &Pix| seg(input, p.base + ky * step, kwc);
            pack_row(wrow, [s(&px[0]), s(&px[1]), s(&px[2]), s(&px[3])]);
        }
        return;
    }
    for (ky, wrow) in wbuf.chunks_exact_mut(kwc.max(1)).take(g.k_h).enumerate() {
        if dil[1] == 1 && px.iter().all(|p| p.whole_row(ky, g.k_w)) {
            // Every pixel's kernel row is one run of the input.
            let s = |p: &Pix| seg(input, p.at(ky, 0, row_len, g.in_c, dil), kwc);
            pack_row(wrow, [s(&px[0]), s(&px[1]), s(&px[2]), s(&px[3])]);
            continue;
        }
        if px.iter().all(|p| !(p.y.0..p.y.1).contains(&ky)) {
            // The whole kernel row in the padding (top or bottom).
            wrow.fill([pad_word; 2]);
            continue;
        }
        // The taps every pixel reads from the input: one run (rows
        // are contiguous with `dil[1] == 1`).
        let run = if dil[1] == 1 && px.iter().all(|p| (p.y.0..p.y.1).contains(&ky)) {
            let a = px.iter().map(|p| p.x.0).max().unwrap_or(0);
            let b = px.iter().map(|p| p.x.1).min().unwrap_or(0);
            a..b.max(a)
        } else {
            0..0
        };
        if !run.is_empty() {
            let n = run.len() * g.in_c;
            let s = |p: &Pix| seg(input, p.at(ky, run.start, row_len, g.in_c, dil), n);
            let dst = seg_mut(wrow, run.start * g.in_c, n);
            pack_row(dst, [s(&px[0]), s(&px[1]), s(&px[2]), s(&px[3])]);
        }
        // The other taps one by one, the padding read from `pads`.
        for (kx, wtap) in wrow.chunks_exact_mut(g.in_c.max(1)).enumerate() {
            if run.contains(&kx) {
                continue;
            }
            if g.in_c <= pads.len() {
                let s = |p: &Pix| -> &[i8] {
                    if p.inside(ky, kx) {
                        seg(input, p.at(ky, kx, row_len, g.in_c, dil), g.in_c)
                    } else {
                        pads
                    }
                };
                pack_row(wtap, [s(&px[0]), s(&px[1]), s(&px[2]), s(&px[3])]);
                continue;
            }
            // Wider taps in parts of at most `pads.len()` channels.
            for (i, part) in wtap.chunks_mut(pads.len().max(1)).enumerate() {
                let n = part.len();
                let s = |p: &Pix| -> &[i8] {
                    if p.inside(ky, kx) {
                        let at = p.at(ky, kx, row_len, g.in_c, dil) + i * pads.len();
                        seg(input, at, n)
                    } else {
                        seg(pads, 0, n)
                    }
                };
                pack_row(part, [s(&px[0]), s(&px[1]), s(&px[2]), s(&px[3])]);
            }
        }
    }
}

/// One kernel row of the tile's windows: `dst[e] = [x0 + x1·2^23,
/// x2 + x3·2^23]` from the four pixels' rows (the shortest length bounds).
#[cfg(not(mote_dsp))]
#[inline(always)]
fn pack_row(dst: &mut [[i32; 2]], s: [&[i8]; TP]) {
    let [s0, s1, s2, s3] = s;
    for ((((w, &a), &b), &c), &d) in dst.iter_mut().zip(s0).zip(s1).zip(s2).zip(s3) {
        *w = [
            i32::from(a) + (i32::from(b) << 23),
            i32::from(c) + (i32::from(d) << 23),
        ];
    }
}

/// [`pack_row`] on Cortex-M DSP: four `LDRSB`, two shifted adds and one
/// `STRD` per position.
#[cfg(mote_dsp)]
#[inline(always)]
fn pack_row(dst: &mut [[i32; 2]], s: [&[i8]; TP]) {
    use core::arch::asm;
    let [s0, s1, s2, s3] = s;
    let n = dst
        .len()
        .min(s0.len())
        .min(s1.len())
        .min(s2.len())
        .min(s3.len());
    if n == 0 {
        return;
    }
    // SAFETY: each source pointer is read for `n` bytes and `dst` written
    // for `n` 8-byte elements, all within their slices (`n` is the least
    // length); r4/r5 keep `STRD` valid in A32 too.
    unsafe {
        asm!(
            "2:",
            "ldrsb r4, [{a}], #1",
            "ldrsb r5, [{b}], #1",
            "add r4, r4, r5, lsl #23",
            "ldrsb r5, [{c}], #1",
            "ldrsb {t}, [{d}], #1",
            "add r5, r5, {t}, lsl #23",
            "strd r4, r5, [{o}], #8",
            "subs {n}, {n}, #1",
            "bne 2b",
            a = inout(reg) s0.as_ptr() => _,
            b = inout(reg) s1.as_ptr() => _,
            c = inout(reg) s2.as_ptr() => _,
            d = inout(reg) s3.as_ptr() => _,
            o = inout(reg) dst.as_mut_ptr() => _,
            n = inout(reg) n => _,
            t = out(reg) _,
            out("r4") _,
            out("r5") _,
            options(nostack),
        );
    }
}

/// Each of four int8 values clamped to `[lo, hi]` (both given in every
/// byte of `lo4`, `hi4`; `lo <= hi`).
#[inline(always)]
fn clamp4(v: [i8; 4], lo4: u32, hi4: u32) -> [i8; 4] {
    #[cfg(mote_dsp)]
    {
        use core::arch::asm;
        let mut x = u32::from_le_bytes(v.map(|b| b as u8));
        // SAFETY: register arithmetic only (the GE flags are set and read
        // here). SSUB8 sets each byte's GE flag when `x - lo >= 0` (signed),
        // SEL then keeps `x` there and takes `lo` elsewhere: a bytewise
        // signed max; the same against `hi` with the operands swapped is
        // the bytewise min.
        unsafe {
            asm!(
                "ssub8 {t}, {x}, {lo}",
                "sel {x}, {x}, {lo}",
                "ssub8 {t}, {x}, {hi}",
                "sel {x}, {hi}, {x}",
                x = inout(reg) x,
                lo = in(reg) lo4,
                hi = in(reg) hi4,
                t = out(reg) _,
                options(pure, nomem, nostack),
            );
        }
        x.to_le_bytes().map(|b| b as i8)
    }
    #[cfg(not(mote_dsp))]
    {
        let (lo, hi) = (lo4 as u8 as i8, hi4 as u8 as i8);
        v.map(|x| x.clamp(lo, hi))
    }
}

/// `bias + Σ w·x_p` for the four pixels `p` of the tile over one channel's
/// entries (at most [`CHUNK`], a multiple of 4).
#[cfg(not(mote_dsp))]
#[inline(always)]
fn sums(ents: &[Ent], w: &[[i32; 2]], ch: &Chan) -> [i32; TP] {
    let (x, y) = mac(ents, w);
    let (l0, h0) = split(x);
    let (l1, h1) = split(y);
    [
        ch.bias.wrapping_add(l0),
        ch.bias.wrapping_add(h0),
        ch.bias.wrapping_add(l1),
        ch.bias.wrapping_add(h1),
    ]
}

/// `(Σ w·x0 + 2^23·Σ w·x1)` per 64-bit accumulator: the low field read back
/// as a signed value, the high field.
#[cfg(not(mote_dsp))]
#[inline(always)]
fn split(a: i64) -> (i32, i32) {
    let lo = (a as i32) & 0x7f_ffff;
    (lo - (1 << 22), (a >> 23) as i32)
}

/// The two 64-bit accumulators of one channel over `ents` (at most
/// [`CHUNK`] entries, a multiple of 4), each started at [`BIAS_LO`].
#[cfg(not(mote_dsp))]
#[inline(always)]
fn mac(ents: &[Ent], w: &[[i32; 2]]) -> (i64, i64) {
    let (mut a, mut b) = (BIAS_LO, BIAS_LO);
    for e in ents {
        let [x, y] = w.get(e.slot).copied().unwrap_or([0, 0]);
        let wv = i64::from(e.w);
        a += wv * i64::from(x);
        b += wv * i64::from(y);
    }
    (a, b)
}

/// [`sums`] on Cortex-M DSP: per entry one `LDRD` of (slot address,
/// weight), one `LDRD` of the two window words, two `SMLAL` into the 64-bit
/// accumulators; four entries per loop iteration; then each accumulator
/// split into its two fields (low 23 bits minus 2^22, bits from 23 up) and
/// the channel's bias added.
#[cfg(mote_dsp)]
#[inline(always)]
fn sums(ents: &[Ent], w: &[[i32; 2]], ch: &Chan) -> [i32; TP] {
    use core::arch::asm;
    let groups = ents.len() / 4;
    let (mut al, mut ah, mut bl, mut bh) = (BIAS_LO as u32, 0u32, BIAS_LO as u32, 0u32);
    let _ = w;
    // SAFETY: `ents` holds `4 * groups` entries, read in order (8 bytes
    // each: `repr(C)` usize address, i32 weight on this 32-bit target).
    // Every address was made by `conv_tiled` as `w.as_ptr() + 8·e` with
    // `e <= fl < w.len()` for this same buffer `w` (a local array of the
    // caller that does not move during the call and is borrowed here), so
    // each `LDRD` of a slot reads 8 bytes inside `w`. `ch` points to a
    // `repr(C)` `Chan` (8 bytes read: `bias_lo`, `bias`). Register pairs
    // r2/r3 and r4/r5 keep `LDRD` valid in A32 too.
    unsafe {
        asm!(
            "cmp {n}, #0",
            "beq 3f",
            "2:",
            "ldrd r2, r3, [{e}], #8",
            "ldrd r4, r5, [r2]",
            "smlal {al}, {ah}, r4, r3",
            "smlal {bl}, {bh}, r5, r3",
            "ldrd r2, r3, [{e}], #8",
            "ldrd r4, r5, [r2]",
            "smlal {al}, {ah}, r4, r3",
            "smlal {bl}, {bh}, r5, r3",
            "ldrd r2, r3, [{e}], #8",
            "ldrd r4, r5, [r2]",
            "smlal {al}, {ah}, r4, r3",
            "smlal {bl}, {bh}, r5, r3",
            "ldrd r2, r3, [{e}], #8",
            "ldrd r4, r5, [r2]",
            "smlal {al}, {ah}, r4, r3",
            "smlal {bl}, {bh}, r5, r3",
            "subs {n}, {n}, #1",
            "bne 2b",
            "3:",
            "ldrd r2, r3, [{c}]",
            "lsr r4, {al}, #23",
            "orr r4, r4, {ah}, lsl #9",
            "add {ah}, r4, r3",
            "ubfx r4, {al}, #0, #23",
            "add {al}, r4, r2",
            "lsr r4, {bl}, #23",
            "orr r4, r4, {bh}, lsl #9",
            "add {bh}, r4, r3",
            "ubfx r4, {bl}, #0, #23",
            "add {bl}, r4, r2",
            e = inout(reg) ents.as_ptr() => _,
            n = inout(reg) groups => _,
            c = in(reg) ch as *const Chan,
            al = inout(reg) al,
            ah = inout(reg) ah,
            bl = inout(reg) bl,
            bh = inout(reg) bh,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            options(nostack, readonly),
        );
    }
    [al as i32, ah as i32, bl as i32, bh as i32]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::{conv2d_s8, ConvParams};

    /// `[bitmap][values]` of an `rows` × `groups` × `len` int8 filter.
    fn encode(f: &[i8], rows: usize, groups: usize, len: usize) -> std::vec::Vec<u8> {
        let gb = len.div_ceil(8);
        let mut bits = std::vec![0u8; rows * groups * gb];
        let mut vals = std::vec::Vec::new();
        for (gi, group) in f.chunks(len).enumerate() {
            for (e, &w) in group.iter().enumerate() {
                if w != 0 {
                    bits[gi * gb + e / 8] |= 1 << (e % 8);
                    vals.push(w as u8);
                }
            }
        }
        bits.extend(vals);
        bits
    }

    #[test]
    fn padded_taps_wider_than_the_padding_buffer_take_the_tiled_path() {
        // 1×2 taps over 200 channels (more than PAD_MAX), the right tap of
        // the last column in the padding: every tile is tiled, and the
        // result is the dense reference's.
        let (h, w, c, oc, kw) = (3usize, 5usize, 200usize, 3usize, 2usize);
        let input: std::vec::Vec<i8> = (0..h * w * c)
            .map(|i| ((i * 37 % 251) as i32 - 125) as i8)
            .collect();
        let filter: std::vec::Vec<i8> = (0..oc * kw * c)
            .map(|i| {
                if i % 3 == 0 {
                    0
                } else {
                    ((i * 11 % 255) as i32 - 127) as i8
                }
            })
            .collect();
        let p = ConvParams {
            stride: [1, 1],
            dilation: [1, 1],
            padding: [0, 0],
            input_offset: 7,
            output_offset: -3,
            act_min: -128,
            act_max: 127,
        };
        let rq = Requant {
            multiplier: &[1 << 30],
            shift: &[-12],
        };
        let bias = [100, -2000, 5];
        // Output 3×5: the last column's second tap lies past the input.
        let out_dims = [1, h, w, oc];
        let mut want = std::vec![0i8; h * w * oc];
        // The reference needs the padding implied by the output size: run
        // it on an input one column wider, filled with the padding value.
        let mut wide = std::vec![(-7i32) as i8; h * (w + 1) * c];
        for y in 0..h {
            for x in 0..w {
                let src = (y * w + x) * c;
                let dst = (y * (w + 1) + x) * c;
                wide[dst..dst + c].copy_from_slice(&input[src..src + c]);
            }
        }
        conv2d_s8(
            &p,
            &rq,
            &wide,
            [1, h, w + 1, c],
            &filter,
            [oc, 1, kw, c],
            &bias,
            &mut want,
            out_dims,
        )
        .unwrap();
        let enc = encode(&filter, oc, kw, c);
        let sf = SparseFilter::new(&enc, oc, kw, c).unwrap();
        let win = Window::new(p.stride, p.dilation, p.padding).unwrap();
        let g = Geom {
            batches: 1,
            in_h: h,
            in_w: w,
            in_c: c,
            k_h: 1,
            k_w: kw,
            out_h: h,
            out_w: w,
            out_c: oc,
            win: &win,
        };
        let mut got = std::vec![0i8; h * w * oc];
        let done = conv_tiled(&p, &rq, &input, &sf, &bias, &mut got, &g);
        assert_eq!(done, (h * w / TP) * TP, "the tiled path was not taken");
        assert_eq!(&got[..done * oc], &want[..done * oc]);
    }
}

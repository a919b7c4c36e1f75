//! Choosing how each int8 layer's filter is stored: dense int8, sparse
//! (per-group bitmap of the non-zero positions + the non-zero values) or
//! int4 (two weights per byte, when every weight lies in -8..=7), whichever
//! is smallest; ties keep the dense filter (the fastest kernel). Sparse is
//! considered only when asked (`--sparse-weights`): on the emulated
//! Cortex-M4 the sparse convolutions take 1.2-2.1x the instructions of the
//! dense ones at 50 % global density (`cargo xtask sparse-qemu`). The
//! encodings are `mote_format::WeightEncoding`'s; every one is lossless, so
//! the packed model computes exactly what the dense one does.
//!
//! A Conv2d, DepthwiseConv2d or FullyConnected op (the latter only with
//! filter offset 0: a sparse filter's zero is the value 0) whose filter is
//! packed becomes the matching `*Packed` op kind, and the weight blob is
//! rebuilt without the dense copy.

use std::collections::HashMap;

use mote_format::{BlobRef, ConvSpec, FcSpec, FilterShape, FloatOp, OpKind, WeightEncoding};

use crate::lir::{Blob, Graph};

/// The smallest encoding of `dense` (an int8 filter of `shape`, where
/// `element(r, g, e)` indexes it in the encoding's row order), or `None`
/// when dense int8 is smallest.
fn choose(
    dense: &[i8],
    shape: &FilterShape,
    element: impl Fn(usize, usize, usize) -> i8,
    sparse: bool,
) -> Option<(WeightEncoding, Vec<u8>)> {
    let n = dense.len();
    if shape.elements() != Some(n) || n == 0 {
        return None;
    }
    let mut best: Option<(WeightEncoding, Vec<u8>)> = None;
    let mut best_len = n;
    let nonzero = dense.iter().filter(|&&x| x != 0).count();
    let sparse_len = shape.bitmap_len()? + nonzero;
    if sparse && sparse_len < best_len {
        best_len = sparse_len;
        best = Some((
            WeightEncoding::SparseS8,
            mote_format::encode_sparse(shape, element),
        ));
    }
    if let Some(packed) = mote_format::pack_s4(dense) {
        if packed.len() < best_len {
            best = Some((WeightEncoding::S4, packed));
        }
    }
    best
}

fn i8s(blob: &Blob, b: &BlobRef) -> Vec<i8> {
    let start = b.offset as usize;
    blob.bytes[start..start + b.len as usize]
        .iter()
        .map(|&x| x as i8)
        .collect()
}

/// FullyConnected filters of at most this many inputs are widened by
/// `--wide-fc` (the kernel's once-extended input row holds 1024).
const WIDE_MAX_IN: u32 = 1024;

/// The packed form of one op, if any: its new kind and filter bytes.
fn pack_op(kind: &OpKind, blob: &Blob, sparse: bool, wide: bool) -> Option<(OpKind, Vec<u8>)> {
    match kind {
        OpKind::Conv2d(c) => {
            let w = i8s(blob, &c.filter);
            let shape = FilterShape::conv(c.filter_dims);
            let row = shape.groups * shape.group_len;
            let (encoding, bytes) = choose(
                &w,
                &shape,
                |r, g, e| w[r * row + g * shape.group_len + e],
                sparse,
            )?;
            Some((OpKind::Conv2dPacked { conv: *c, encoding }, bytes))
        }
        OpKind::DepthwiseConv2d {
            conv: c,
            depth_multiplier,
        } => {
            let w = i8s(blob, &c.filter);
            let shape = FilterShape::depthwise(c.filter_dims);
            let oc = shape.rows;
            let (encoding, bytes) = choose(&w, &shape, |r, _, e| w[e * oc + r], sparse)?;
            Some((
                OpKind::DepthwiseConv2dPacked {
                    conv: *c,
                    depth_multiplier: *depth_multiplier,
                    encoding,
                },
                bytes,
            ))
        }
        OpKind::FullyConnected(f) => {
            let per_tensor = f.multiplier.len == 4;
            if per_tensor && f.filter_offset != 0 {
                return None;
            }
            let w = i8s(blob, &f.filter);
            if wide && f.in_features <= WIDE_MAX_IN {
                let (rows, cols) = (f.out_features as usize, f.in_features as usize);
                let encoding = WeightEncoding::WideS8;
                let bytes = mote_format::encode_wide(&w, rows, cols);
                return Some((OpKind::FullyConnectedPacked { fc: *f, encoding }, bytes));
            }
            let shape = FilterShape::fully_connected(f.in_features, f.out_features);
            let inf = shape.group_len;
            let (encoding, bytes) = choose(&w, &shape, |r, _, e| w[r * inf + e], sparse)?;
            Some((OpKind::FullyConnectedPacked { fc: *f, encoding }, bytes))
        }
        _ => None,
    }
}

fn conv_refs(c: &mut ConvSpec) -> Vec<&mut BlobRef> {
    vec![&mut c.filter, &mut c.bias, &mut c.multiplier, &mut c.shift]
}

fn fc_refs(f: &mut FcSpec) -> Vec<&mut BlobRef> {
    vec![&mut f.filter, &mut f.bias, &mut f.multiplier, &mut f.shift]
}

/// Every weight-blob range an op kind refers to.
fn blob_refs(kind: &mut OpKind) -> Vec<&mut BlobRef> {
    match kind {
        OpKind::Conv2d(c)
        | OpKind::DepthwiseConv2d { conv: c, .. }
        | OpKind::Conv2dPacked { conv: c, .. }
        | OpKind::DepthwiseConv2dPacked { conv: c, .. } => conv_refs(c),
        OpKind::FullyConnected(f) | OpKind::FullyConnectedPacked { fc: f, .. } => fc_refs(f),
        OpKind::Constant { data } => vec![data],
        OpKind::Float(FloatOp::Conv2d(c) | FloatOp::DepthwiseConv2d { conv: c, .. }) => {
            vec![&mut c.filter, &mut c.bias]
        }
        OpKind::Float(FloatOp::FullyConnected(f)) => vec![&mut f.filter, &mut f.bias],
        _ => Vec::new(),
    }
}

/// The filter bytes that storing `g`'s int8 filters in their smallest
/// encodings, sparse included, would save over the default packing (dense,
/// or int4 where every weight fits), from the filters' non-zero counts:
/// nothing is encoded. `g` must not be packed yet.
pub fn sparse_saving(g: &Graph) -> usize {
    g.ops
        .iter()
        .filter_map(|op| {
            let (filter, shape) = match &op.kind {
                OpKind::Conv2d(c) => (&c.filter, FilterShape::conv(c.filter_dims)),
                OpKind::DepthwiseConv2d { conv: c, .. } => {
                    (&c.filter, FilterShape::depthwise(c.filter_dims))
                }
                // A sparse filter's zero is the value 0 (see `pack_op`).
                OpKind::FullyConnected(f) if f.multiplier.len != 4 || f.filter_offset == 0 => (
                    &f.filter,
                    FilterShape::fully_connected(f.in_features, f.out_features),
                ),
                _ => return None,
            };
            let w = i8s(&g.blob, filter);
            let n = w.len();
            if shape.elements() != Some(n) {
                return None;
            }
            let fast = if w.iter().all(|x| (-8..=7).contains(x)) {
                n.div_ceil(2)
            } else {
                n
            };
            let sparse = shape.bitmap_len()? + w.iter().filter(|&&x| x != 0).count();
            Some(fast.saturating_sub(sparse))
        })
        .sum()
}

/// What packing did to one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Op name.
    pub name: String,
    /// The chosen encoding.
    pub encoding: WeightEncoding,
    /// Dense int8 filter bytes.
    pub dense_bytes: usize,
    /// Encoded filter bytes.
    pub packed_bytes: usize,
}

/// Stores every int8 filter of `g` in its smallest encoding (sparse only
/// when `sparse`: it saves flash but its kernels are slower than dense
/// ones), or with `wide` every FullyConnected filter of up to 1024 inputs
/// in the wide layout (faster, twice the bytes), and rebuilds the weight
/// blob; returns what was packed.
pub fn pack(g: &mut Graph, sparse: bool, wide: bool) -> Vec<Packed> {
    let mut report = Vec::new();
    let mut replacement: Vec<Option<Vec<u8>>> = Vec::with_capacity(g.ops.len());
    for op in g.ops.iter_mut() {
        match pack_op(&op.kind, &g.blob, sparse, wide) {
            Some((kind, bytes)) => {
                let dense_bytes = blob_refs(&mut op.kind)
                    .first()
                    .map_or(0, |f| f.len as usize);
                let encoding = match &kind {
                    OpKind::Conv2dPacked { encoding, .. }
                    | OpKind::DepthwiseConv2dPacked { encoding, .. }
                    | OpKind::FullyConnectedPacked { encoding, .. } => *encoding,
                    _ => WeightEncoding::SparseS8,
                };
                report.push(Packed {
                    name: op.name.clone(),
                    encoding,
                    dense_bytes,
                    packed_bytes: bytes.len(),
                });
                op.kind = kind;
                replacement.push(Some(bytes));
            }
            None => replacement.push(None),
        }
    }
    if report.is_empty() {
        return report;
    }
    // Rebuild the blob: packed filters fresh, every other range copied once
    // (ranges shared between ops stay shared).
    let old = std::mem::take(&mut g.blob);
    let mut moved: HashMap<(u32, u32), BlobRef> = HashMap::new();
    for (op, packed) in g.ops.iter_mut().zip(replacement) {
        let mut refs = blob_refs(&mut op.kind);
        for (i, r) in refs.iter_mut().enumerate() {
            if i == 0 {
                if let Some(bytes) = &packed {
                    **r = g.blob.push_bytes(bytes);
                    continue;
                }
            }
            let key = (r.offset, r.len);
            let new = *moved.entry(key).or_insert_with(|| {
                let start = r.offset as usize;
                g.blob.push_bytes(&old.bytes[start..start + r.len as usize])
            });
            **r = new;
        }
    }
    report
}

//! Malformed `.mote` files: every corruption gives the specific typed
//! `mote_runtime::Error`, never a panic, and a model that does parse can be
//! bound and invoked without panicking.
//!
//! Structural corruptions are made with a valid CRC (the graph is decoded,
//! one field edited, re-encoded and the header rebuilt), so that validation
//! beyond the CRC is exercised.

use std::sync::OnceLock;

use mote_cli::AlignedBytes;
use mote_format::{
    crc32, put, take, AddSpec, BlobRef, DType, FloatConvSpec, FloatFcSpec, FloatOp, FloatPoolSpec,
    GraphHeader, Header, LutActSpec, MeanSpec, MulSpec, Op, OpKind, PoolSpec, QuantSpec,
    RequantSpec, SoftmaxSpec, TensorDesc, WeightType, HEADER_LEN, VERSION, WEIGHTS_ALIGN,
};
use mote_runtime::{Error, Interpreter, Model};
use proptest::prelude::*;

// ---------------------------------------------------------------- fixtures

fn compressed(dir: &str) -> Vec<u8> {
    let path = mote_tests::data_dir().join(dir).join("model_qdq.onnx");
    mote_cli::compress::compress_bytes(&path)
        .unwrap_or_else(|e| panic!("compressing {}: {e:#}", path.display()))
        .0
}

macro_rules! cached_model {
    ($fn:ident, $dir:literal) => {
        fn $fn() -> &'static [u8] {
            static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
            BYTES.get_or_init(|| compressed($dir))
        }
    };
}

// Conv2d, Add, AvgPool, FullyConnected, Softmax.
cached_model!(ic, "ic");
// Conv2d and Concat; small enough to invoke thousands of times.
cached_model!(concat, "op_concat");
// Constant and Mul.
cached_model!(mul, "op_mul");
// DepthwiseConv2d.
cached_model!(dwmult, "op_dwmult");
// Pad.
cached_model!(pad, "op_pad");
// Tanh (same-shape input and output).
cached_model!(tanh, "op_tanh");
// FullyConnected only.
cached_model!(ad, "ad");
// Mean.
cached_model!(mean, "op_mean");

/// The Tanh model as a float model: every tensor f32 (offsets and arena
/// scaled by 4, so f32 offsets stay 4-byte aligned), its op a float Tanh.
fn float_tanh() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| encode_edit(tanh(), to_float))
}

fn to_float(p: &mut Parts<'_>) {
    p.graph.arena_len *= 4;
    for t in &mut p.tensors {
        (t.dtype, t.offset, t.scale, t.zero_point) = (DType::F32, t.offset * 4, 1.0, 0);
    }
    for o in &mut p.ops {
        for a in o.inputs.iter_mut().chain(std::iter::once(&mut o.output)) {
            (a.dtype, a.offset) = (DType::F32, a.offset * 4);
        }
        o.kind = match &o.kind {
            OpKind::Tanh(_) => OpKind::Float(FloatOp::Tanh),
            k => panic!("no float twin for {k:?}"),
        };
    }
}

fn is_float_tanh(k: &OpKind) -> bool {
    matches!(k, OpKind::Float(FloatOp::Tanh))
}

/// Parses `bytes` from 16-byte aligned memory, as the runtime wants.
fn parse(bytes: &[u8]) -> Result<(), Error> {
    let aligned = AlignedBytes::new(bytes);
    Model::parse(aligned.as_slice()).map(|_| ())
}

// ---------------------------------------------------------- file surgery

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

// Byte offsets of the header fields.
const VERSION_AT: usize = 4;
const GRAPH_LEN_AT: usize = 8;
const WEIGHTS_OFFSET_AT: usize = 12;
const WEIGHTS_LEN_AT: usize = 16;
const BODY_LEN_AT: usize = 20;
const CRC_AT: usize = 24;

/// Recomputes the header CRC over the `body_len` bytes after the header (as
/// far as the file goes), so that an edit is not caught by the CRC alone.
fn reseal(b: &mut [u8]) {
    if b.len() < HEADER_LEN {
        return;
    }
    let end = HEADER_LEN
        .saturating_add(u32_at(b, BODY_LEN_AT) as usize)
        .min(b.len());
    let crc = crc32(&b[HEADER_LEN..end]);
    set_u32(b, CRC_AT, crc);
}

/// A decoded file, borrowing its strings from the original bytes.
#[derive(Debug, Clone)]
struct Parts<'a> {
    graph: GraphHeader<'a>,
    tensors: Vec<TensorDesc<'a>>,
    ops: Vec<Op<'a>>,
    weights: Vec<u8>,
    /// Bytes appended to the graph section after the last op.
    trailing: Vec<u8>,
}

fn decode(file: &[u8]) -> Parts<'_> {
    let h = Header::read(file).unwrap();
    let graph_bytes = &file[HEADER_LEN..HEADER_LEN + h.graph_len as usize];
    let (graph, mut rest): (GraphHeader<'_>, _) = take(graph_bytes).unwrap();
    let mut tensors = Vec::new();
    for _ in 0..graph.n_tensors {
        let (t, r) = take(rest).unwrap();
        tensors.push(t);
        rest = r;
    }
    let mut ops = Vec::new();
    for _ in 0..graph.n_ops {
        let (o, r) = take(rest).unwrap();
        ops.push(o);
        rest = r;
    }
    assert!(rest.is_empty(), "graph section has trailing bytes");
    let weights = file[h.weights_offset as usize..][..h.weights_len as usize].to_vec();
    Parts {
        graph,
        tensors,
        ops,
        weights,
        trailing: Vec::new(),
    }
}

/// Encodes `p` as a complete file with a consistent header and a valid CRC.
fn encode(p: &Parts<'_>) -> Vec<u8> {
    let mut graph = Vec::new();
    put(&p.graph, &mut graph).unwrap();
    for t in &p.tensors {
        put(t, &mut graph).unwrap();
    }
    for o in &p.ops {
        put(o, &mut graph).unwrap();
    }
    graph.extend_from_slice(&p.trailing);
    let weights_offset = (HEADER_LEN + graph.len()).div_ceil(WEIGHTS_ALIGN) * WEIGHTS_ALIGN;
    let total = weights_offset + p.weights.len();
    let mut out = vec![0u8; total];
    out[HEADER_LEN..HEADER_LEN + graph.len()].copy_from_slice(&graph);
    out[weights_offset..].copy_from_slice(&p.weights);
    let h = Header {
        version: VERSION,
        flags: 0,
        graph_len: graph.len() as u32,
        weights_offset: weights_offset as u32,
        weights_len: p.weights.len() as u32,
        body_len: (total - HEADER_LEN) as u32,
        crc32: crc32(&out[HEADER_LEN..]),
    };
    out[..HEADER_LEN].copy_from_slice(&h.to_bytes());
    out
}

/// Decodes `file`, applies `edit`, re-encodes with a valid CRC and parses.
fn edited(file: &[u8], edit: impl FnOnce(&mut Parts<'_>)) -> Result<(), Error> {
    let mut p = decode(file);
    edit(&mut p);
    parse(&encode(&p))
}

fn op_index(p: &Parts<'_>, pred: impl Fn(&OpKind) -> bool) -> usize {
    p.ops
        .iter()
        .position(|o| pred(&o.kind))
        .expect("the model has no op of the kind this test edits")
}

fn first_op(file: &[u8], pred: impl Fn(&OpKind) -> bool) -> u16 {
    op_index(&decode(file), pred) as u16
}

fn is_conv(k: &OpKind) -> bool {
    matches!(k, OpKind::Conv2d(_))
}

fn conv_mut<'p>(p: &'p mut Parts<'_>) -> &'p mut mote_format::ConvSpec {
    let i = op_index(p, is_conv);
    match &mut p.ops[i].kind {
        OpKind::Conv2d(c) => c,
        _ => unreachable!(),
    }
}

// ------------------------------------------------- the editing is faithful

#[test]
fn decode_encode_round_trips_and_parses() {
    for file in [ic(), concat(), mul(), dwmult(), pad(), tanh(), ad()] {
        let p = decode(file);
        assert_eq!(encode(&p), file, "re-encoding an unedited model changes it");
        assert_eq!(parse(file), Ok(()));
        assert!(p.graph.n_ops > 0 && p.graph.n_tensors > 0);
    }
}

// ------------------------------------------------------------ truncation

#[test]
fn every_truncation_is_truncated() {
    for file in [ic(), concat(), mul()] {
        for len in 0..file.len() {
            assert_eq!(
                parse(&file[..len]),
                Err(Error::Truncated),
                "cut at {len} of {}",
                file.len()
            );
        }
    }
}

#[test]
fn truncation_with_a_resealed_header_is_bad_layout() {
    // The header claims exactly the bytes that are left, with a valid CRC:
    // only the layout checks can notice.
    for (file, step) in [(concat(), 1), (mul(), 1), (ic(), 7)] {
        for len in (HEADER_LEN..file.len()).step_by(step) {
            let mut cut = file[..len].to_vec();
            set_u32(&mut cut, BODY_LEN_AT, (len - HEADER_LEN) as u32);
            reseal(&mut cut);
            assert_eq!(
                parse(&cut),
                Err(Error::BadLayout),
                "cut at {len} of {}",
                file.len()
            );
        }
    }
}

#[test]
fn weights_cut_short_consistently_is_bad_op() {
    // Header, lengths and CRC all agree with a shorter weight blob: the op
    // whose weights run past the blob's end is caught.
    for file in [ic(), concat(), ad()] {
        let mut cut = file[..file.len() - 16].to_vec();
        set_u32(&mut cut, WEIGHTS_LEN_AT, u32_at(file, WEIGHTS_LEN_AT) - 16);
        set_u32(&mut cut, BODY_LEN_AT, u32_at(file, BODY_LEN_AT) - 16);
        reseal(&mut cut);
        assert!(
            matches!(parse(&cut), Err(Error::BadOp(_))),
            "{:?}",
            parse(&cut)
        );
    }
}

// ---------------------------------------------------------------- header

#[test]
fn wrong_magic_is_bad_magic() {
    for at in 0..4 {
        let mut b = ic().to_vec();
        b[at] ^= 0x20;
        assert_eq!(parse(&b), Err(Error::BadMagic));
    }
    assert_eq!(
        parse(b"TFL3\x01\0\0\0 and then some bytes to reach 32"),
        Err(Error::BadMagic)
    );
    // A too-short file is truncated, whatever it starts with.
    assert_eq!(parse(b"MOTE"), Err(Error::Truncated));
    assert_eq!(parse(b"XXXX"), Err(Error::Truncated));
}

#[test]
fn other_versions_are_unsupported() {
    for v in [0u16, 2, 0x0100, u16::MAX] {
        let mut b = ic().to_vec();
        b[VERSION_AT..VERSION_AT + 2].copy_from_slice(&v.to_le_bytes());
        assert_eq!(parse(&b), Err(Error::UnsupportedVersion(v)));
    }
}

#[test]
fn a_flipped_body_byte_is_a_crc_mismatch() {
    let file = ic();
    let h = Header::read(file).unwrap();
    // In the graph section, in the padding before the weights, in the weights,
    // and the very last byte.
    let pad = h.weights_offset as usize - 1;
    for at in [
        HEADER_LEN,
        HEADER_LEN + 10,
        pad,
        h.weights_offset as usize + 100,
        file.len() - 1,
    ] {
        let mut b = file.to_vec();
        b[at] ^= 0x01;
        let computed = crc32(&b[HEADER_LEN..]);
        assert_ne!(computed, h.crc32);
        assert_eq!(
            parse(&b),
            Err(Error::CrcMismatch {
                expected: h.crc32,
                computed
            }),
            "byte {at}"
        );
    }
    // A wrong CRC in the header, body untouched.
    let mut b = file.to_vec();
    set_u32(&mut b, CRC_AT, h.crc32 ^ 0x8000_0000);
    assert_eq!(
        parse(&b),
        Err(Error::CrcMismatch {
            expected: h.crc32 ^ 0x8000_0000,
            computed: h.crc32
        })
    );
}

#[test]
fn inconsistent_header_lengths() {
    let file = ic();
    let h = Header::read(file).unwrap();
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = file.to_vec();
        edit(&mut b);
        parse(&b)
    };
    // weights_offset not 16-aligned (the sum with weights_len still matches).
    assert_eq!(
        with(&|b| {
            set_u32(b, WEIGHTS_OFFSET_AT, h.weights_offset + 4);
            set_u32(b, WEIGHTS_LEN_AT, h.weights_len - 4);
        }),
        Err(Error::BadLayout)
    );
    // Weights that do not end where the body does.
    assert_eq!(
        with(&|b| set_u32(b, WEIGHTS_LEN_AT, h.weights_len - 16)),
        Err(Error::BadLayout)
    );
    assert_eq!(
        with(&|b| set_u32(b, WEIGHTS_LEN_AT, h.weights_len + 16)),
        Err(Error::BadLayout)
    );
    assert_eq!(
        with(&|b| set_u32(b, WEIGHTS_LEN_AT, u32::MAX)),
        Err(Error::BadLayout)
    );
    assert_eq!(
        with(&|b| set_u32(b, WEIGHTS_OFFSET_AT, h.weights_offset + 16)),
        Err(Error::BadLayout)
    );
    assert_eq!(
        with(&|b| set_u32(b, WEIGHTS_OFFSET_AT, u32::MAX - 15)),
        Err(Error::BadLayout)
    );
    // Weights starting inside the header or the graph.
    assert_eq!(
        with(&|b| {
            set_u32(b, WEIGHTS_OFFSET_AT, 16);
            set_u32(b, WEIGHTS_LEN_AT, h.body_len + 16);
        }),
        Err(Error::BadLayout)
    );
    // A graph section running into the weights, or past the end of the file.
    assert_eq!(
        with(&|b| set_u32(b, GRAPH_LEN_AT, h.weights_offset)),
        Err(Error::BadLayout)
    );
    assert_eq!(
        with(&|b| set_u32(b, GRAPH_LEN_AT, u32::MAX)),
        Err(Error::BadLayout)
    );
    // body_len beyond the file.
    assert_eq!(
        with(&|b| set_u32(b, BODY_LEN_AT, h.body_len + 1)),
        Err(Error::Truncated)
    );
    assert_eq!(
        with(&|b| set_u32(b, BODY_LEN_AT, u32::MAX)),
        Err(Error::Truncated)
    );
    // body_len shorter than the file says, CRC recomputed to match.
    assert_eq!(
        with(&|b| {
            set_u32(b, BODY_LEN_AT, h.body_len - 16);
            reseal(b);
        }),
        Err(Error::BadLayout)
    );
    // A graph section that is cut short: its last op no longer decodes.
    assert_eq!(
        with(&|b| set_u32(b, GRAPH_LEN_AT, h.graph_len - 1)),
        Err(Error::Decode)
    );
    assert_eq!(with(&|b| set_u32(b, GRAPH_LEN_AT, 0)), Err(Error::Decode));
}

#[test]
fn misaligned_weights_in_memory() {
    let file = ic();
    let mut shifted = vec![0u8];
    shifted.extend_from_slice(file);
    let aligned = AlignedBytes::new(&shifted);
    assert_eq!(
        Model::parse(&aligned.as_slice()[1..]).map(|_| ()),
        Err(Error::MisalignedWeights)
    );
}

// -------------------------------------------- graph section, CRC valid

#[test]
fn trailing_bytes_in_the_graph_section() {
    assert_eq!(
        edited(ic(), |p| p.trailing = vec![0]),
        Err(Error::BadLayout)
    );
    assert_eq!(
        edited(ic(), |p| p.trailing = vec![0xff; 40]),
        Err(Error::BadLayout)
    );
    // One op fewer declared than stored: the last op is left over.
    assert_eq!(edited(ic(), |p| p.graph.n_ops -= 1), Err(Error::BadLayout));
    // One op more declared than stored: the record is missing.
    assert_eq!(edited(ic(), |p| p.graph.n_ops += 1), Err(Error::Decode));
    // Garbage instead of the ops.
    assert_eq!(
        edited(concat(), |p| {
            p.ops.clear();
            p.trailing = vec![0xff; 8];
        }),
        Err(Error::Decode)
    );
}

#[test]
fn op_output_outside_the_arena_is_bad_op() {
    let file = ic();
    let arena = decode(file).graph.arena_len;
    for i in [0usize, 5] {
        assert_eq!(
            edited(file, |p| p.ops[i].output.offset = arena),
            Err(Error::BadOp(i as u16))
        );
        assert_eq!(
            edited(file, |p| p.ops[i].output.offset = u32::MAX),
            Err(Error::BadOp(i as u16))
        );
        assert_eq!(
            edited(file, |p| p.ops[i].inputs[0].offset = arena - 1),
            Err(Error::BadOp(i as u16))
        );
        assert_eq!(
            edited(file, |p| p.ops[i].output.dims[1] = u32::MAX),
            Err(Error::BadOp(i as u16))
        );
        assert_eq!(
            edited(file, |p| p.ops[i].output.dims[2] = 0),
            Err(Error::BadOp(i as u16))
        );
    }
}

#[test]
fn act_ref_tensor_index_out_of_range_is_bad_op() {
    let file = ic();
    let n = decode(file).graph.n_tensors;
    assert_eq!(
        edited(file, |p| p.ops[3].output.tensor = n),
        Err(Error::BadOp(3))
    );
    assert_eq!(
        edited(file, |p| p.ops[3].inputs[0].tensor = u16::MAX),
        Err(Error::BadOp(3))
    );
    let last = decode(file).ops.len() - 1;
    assert_eq!(
        edited(file, |p| p.ops[last].output.tensor = n),
        Err(Error::BadOp(last as u16))
    );
}

#[test]
fn input_overlapping_output_is_bad_op() {
    let file = ic();
    assert_eq!(
        edited(file, |p| p.ops[2].inputs[0].offset = p.ops[2].output.offset),
        Err(Error::BadOp(2))
    );
    // Partial overlap: the input starts one byte before the output ends.
    assert_eq!(
        edited(concat(), |p| {
            let o = p.ops[0].output;
            let len: u32 = o.dims.iter().product();
            p.ops[0].inputs[0].offset = o.offset + len - 1;
        }),
        Err(Error::BadOp(0))
    );
}

#[test]
fn wrong_input_count_is_bad_op() {
    let conv = first_op(ic(), is_conv);
    assert_eq!(
        edited(ic(), |p| {
            let extra = p.ops[conv as usize].inputs[0];
            p.ops[conv as usize].inputs.push(extra).unwrap();
        }),
        Err(Error::BadOp(conv))
    );
    assert_eq!(
        edited(ic(), |p| p.ops[conv as usize].inputs.clear()),
        Err(Error::BadOp(conv))
    );
    let add = first_op(ic(), |k| matches!(k, OpKind::Add(_)));
    assert_eq!(
        edited(ic(), |p| {
            p.ops[add as usize].inputs.pop();
        }),
        Err(Error::BadOp(add))
    );
}

#[test]
fn conv_weights_outside_the_blob_are_bad_op() {
    let file = ic();
    let conv = first_op(file, is_conv);
    let w_len = decode(file).weights.len() as u32;
    let bad =
        |edit: fn(&mut mote_format::ConvSpec, u32)| edited(file, |p| edit(conv_mut(p), w_len));
    assert_eq!(bad(|c, w| c.filter.offset = w), Err(Error::BadOp(conv)));
    assert_eq!(
        bad(|c, w| c.filter.offset = w - c.filter.len + 16),
        Err(Error::BadOp(conv))
    );
    assert_eq!(
        bad(|c, _| c.filter.offset = u32::MAX - 15),
        Err(Error::BadOp(conv))
    );
    assert_eq!(bad(|c, _| c.filter.len += 1), Err(Error::BadOp(conv)));
    assert_eq!(
        bad(|c, w| c.bias = BlobRef { offset: w, len: 4 }),
        Err(Error::BadOp(conv))
    );
    assert_eq!(bad(|c, w| c.multiplier.offset = w), Err(Error::BadOp(conv)));
    assert_eq!(bad(|c, w| c.shift.offset = w - 4), Err(Error::BadOp(conv)));
    // int32 ranges must be 4-byte aligned.
    assert_eq!(
        bad(|c, _| c.multiplier.offset += 2),
        Err(Error::BadOp(conv))
    );
    // Bias, multipliers and shifts sized for another channel count.
    assert_eq!(bad(|c, _| c.bias.len -= 4), Err(Error::BadOp(conv)));
    assert_eq!(bad(|c, _| c.shift.len -= 4), Err(Error::BadOp(conv)));
    assert_eq!(
        bad(|c, _| {
            c.multiplier.len += 4;
            c.shift.len += 4;
        }),
        Err(Error::BadOp(conv))
    );
    // An empty bias is allowed: the control that these edits are what fails.
    assert_eq!(bad(|c, _| c.bias.len = 0), Ok(()));
}

#[test]
fn conv_shapes_that_disagree_are_bad_op() {
    let file = ic();
    let conv = first_op(file, is_conv);
    let bad = |edit: fn(&mut Parts<'_>)| edited(file, edit);
    // Filter input channels differ from the input's channels.
    assert_eq!(
        bad(|p| conv_mut(p).filter_dims[3] += 1),
        Err(Error::BadOp(conv))
    );
    // Filter output channels differ from the output's channels.
    assert_eq!(
        bad(|p| conv_mut(p).filter_dims[0] += 1),
        Err(Error::BadOp(conv))
    );
    // Filter dims whose product no longer matches the filter bytes.
    assert_eq!(
        bad(|p| conv_mut(p).filter_dims[1] += 1),
        Err(Error::BadOp(conv))
    );
    assert_eq!(
        bad(|p| conv_mut(p).filter_dims[2] = 0),
        Err(Error::BadOp(conv))
    );
    assert_eq!(
        bad(|p| {
            let i = op_index(p, is_conv);
            p.ops[i].inputs[0].dims[3] += 1;
        }),
        Err(Error::BadOp(conv))
    );
    // Batch of the output differs from the input's.
    assert_eq!(
        bad(|p| {
            let i = op_index(p, is_conv);
            p.ops[i].output.dims[0] = 2;
            p.ops[i].output.offset = 0;
            p.ops[i].inputs[0].offset = p.graph.arena_len / 2;
        }),
        Err(Error::BadOp(conv))
    );
    assert_eq!(
        bad(|p| conv_mut(p).stride = [0, 1]),
        Err(Error::BadOp(conv))
    );
    assert_eq!(
        bad(|p| conv_mut(p).dilation = [1, 0]),
        Err(Error::BadOp(conv))
    );
    assert_eq!(bad(|p| conv_mut(p).act_min = -129), Err(Error::BadOp(conv)));
    assert_eq!(bad(|p| conv_mut(p).act_max = 128), Err(Error::BadOp(conv)));
    assert_eq!(
        bad(|p| {
            let c = conv_mut(p);
            (c.act_min, c.act_max) = (10, 9);
        }),
        Err(Error::BadOp(conv))
    );
}

#[test]
fn depthwise_multiplier_that_disagrees_is_bad_op() {
    let file = dwmult();
    let dw = first_op(file, |k| matches!(k, OpKind::DepthwiseConv2d { .. }));
    let with_mult = |m: fn(u16) -> u16| {
        edited(file, |p| {
            if let OpKind::DepthwiseConv2d {
                depth_multiplier, ..
            } = &mut p.ops[dw as usize].kind
            {
                *depth_multiplier = m(*depth_multiplier);
            }
        })
    };
    assert_eq!(with_mult(|m| m), Ok(()));
    assert_eq!(with_mult(|m| m + 1), Err(Error::BadOp(dw)));
    assert_eq!(with_mult(|_| 0), Err(Error::BadOp(dw)));
    assert_eq!(with_mult(|_| u16::MAX), Err(Error::BadOp(dw)));
}

#[test]
fn fully_connected_shapes_that_disagree_are_bad_op() {
    for file in [ic(), ad()] {
        let fc = first_op(file, |k| matches!(k, OpKind::FullyConnected(_)));
        let bad = |edit: fn(&mut mote_format::FcSpec)| {
            edited(file, |p| {
                let i = op_index(p, |k| matches!(k, OpKind::FullyConnected(_)));
                if let OpKind::FullyConnected(f) = &mut p.ops[i].kind {
                    edit(f);
                }
            })
        };
        assert_eq!(bad(|f| f.in_features += 1), Err(Error::BadOp(fc)));
        assert_eq!(bad(|f| f.in_features = 0), Err(Error::BadOp(fc)));
        assert_eq!(bad(|f| f.out_features += 1), Err(Error::BadOp(fc)));
        assert_eq!(bad(|f| f.out_features = 0), Err(Error::BadOp(fc)));
        assert_eq!(bad(|f| f.filter.len -= 1), Err(Error::BadOp(fc)));
        assert_eq!(bad(|f| f.filter.offset = u32::MAX), Err(Error::BadOp(fc)));
        assert_eq!(bad(|f| f.act_min = 200), Err(Error::BadOp(fc)));
    }
}

#[test]
fn element_wise_and_layout_ops_that_disagree_are_bad_op() {
    // Add: non-broadcastable shapes.
    let add = first_op(ic(), |k| matches!(k, OpKind::Add(_)));
    assert_eq!(
        edited(ic(), |p| p.ops[add as usize].inputs[1].dims[3] -= 1),
        Err(Error::BadOp(add))
    );
    assert_eq!(
        edited(ic(), |p| p.ops[add as usize].output.dims[1] -= 1),
        Err(Error::BadOp(add))
    );
    // Mul: an output that is not the broadcast shape.
    let m = first_op(mul(), |k| matches!(k, OpKind::Mul(_)));
    assert_eq!(
        edited(mul(), |p| p.ops[m as usize].output.dims[3] += 1),
        Err(Error::BadOp(m))
    );
    // Constant: data of the wrong length, or an input.
    let c = first_op(mul(), |k| matches!(k, OpKind::Constant { .. }));
    assert_eq!(
        edited(mul(), |p| {
            if let OpKind::Constant { data } = &mut p.ops[c as usize].kind {
                data.len += 1;
            }
        }),
        Err(Error::BadOp(c))
    );
    assert_eq!(
        edited(mul(), |p| {
            let i = p.ops[m as usize].inputs[0];
            p.ops[c as usize].inputs.push(i).unwrap();
        }),
        Err(Error::BadOp(c))
    );
    // Concat: axis out of range, or parts that do not add up.
    let cat = first_op(concat(), |k| matches!(k, OpKind::Concat { .. }));
    let with_axis = |a: u8| {
        edited(concat(), |p| {
            if let OpKind::Concat { axis } = &mut p.ops[cat as usize].kind {
                *axis = a;
            }
        })
    };
    assert_eq!(with_axis(4), Err(Error::BadOp(cat)));
    assert_eq!(with_axis(u8::MAX), Err(Error::BadOp(cat)));
    assert_eq!(
        edited(concat(), |p| {
            p.ops[cat as usize].inputs.pop();
        }),
        Err(Error::BadOp(cat))
    );
    assert_eq!(
        edited(concat(), |p| p.ops[cat as usize].inputs.clear()),
        Err(Error::BadOp(cat))
    );
    // Pad: pads that do not give the output shape.
    let pd = first_op(pad(), |k| matches!(k, OpKind::Pad { .. }));
    assert_eq!(
        edited(pad(), |p| {
            if let OpKind::Pad { pads, .. } = &mut p.ops[pd as usize].kind {
                pads[1][0] += 1;
            }
        }),
        Err(Error::BadOp(pd))
    );
    assert_eq!(
        edited(pad(), |p| {
            if let OpKind::Pad { pads, .. } = &mut p.ops[pd as usize].kind {
                pads[2][1] = u32::MAX;
            }
        }),
        Err(Error::BadOp(pd))
    );
    // Tanh: output with a different element count than the input.
    let th = first_op(tanh(), |k| matches!(k, OpKind::Tanh(_)));
    assert_eq!(
        edited(tanh(), |p| p.ops[th as usize].output.dims[3] -= 1),
        Err(Error::BadOp(th))
    );
    // Transpose (made from the Tanh): an identity permutation is valid, a
    // repeated or out-of-range axis is not.
    let transpose = |perm: [u8; 4]| {
        edited(tanh(), |p| {
            p.ops[th as usize].kind = OpKind::Transpose { perm }
        })
    };
    assert_eq!(transpose([0, 1, 2, 3]), Ok(()));
    assert_eq!(transpose([0, 1, 1, 3]), Err(Error::BadOp(th)));
    assert_eq!(transpose([0, 1, 2, 4]), Err(Error::BadOp(th)));
    assert_eq!(
        transpose([0, 2, 1, 3]),
        Ok(()),
        "swaps two dims of the same size"
    );
    assert_eq!(
        transpose([0, 1, 3, 2]),
        Err(Error::BadOp(th)),
        "swaps two dims of different sizes"
    );
    // Pooling with a zero window, Mean whose output is not 1x1.
    let pool = first_op(ic(), |k| matches!(k, OpKind::AvgPool(_)));
    assert_eq!(
        edited(ic(), |p| {
            if let OpKind::AvgPool(s) = &mut p.ops[pool as usize].kind {
                s.filter = [0, 1];
            }
        }),
        Err(Error::BadOp(pool))
    );
    assert_eq!(
        edited(ic(), |p| p.ops[pool as usize].output.dims[3] += 1),
        Err(Error::BadOp(pool))
    );
}

#[test]
fn parameters_the_kernels_refuse_are_bad_op() {
    let add = first_op(ic(), |k| matches!(k, OpKind::Add(_)));
    let left_shift = |v: i32| {
        edited(ic(), |p| {
            if let OpKind::Add(a) = &mut p.ops[add as usize].kind {
                a.left_shift = v;
            }
        })
    };
    assert_eq!(left_shift(31), Ok(()));
    assert_eq!(left_shift(32), Err(Error::BadOp(add)));
    assert_eq!(left_shift(-1), Err(Error::BadOp(add)));
    // Average pooling over the 8x8 Tanh input, output 8x8: a window that
    // lies entirely in the padding has nothing to average.
    let th = first_op(tanh(), |k| matches!(k, OpKind::Tanh(_)));
    let pool = |stride: [u16; 2], filter: [u16; 2], padding: [u16; 2], max: bool| {
        let spec = PoolSpec {
            stride,
            filter,
            padding,
            act_min: -128,
            act_max: 127,
        };
        let bytes = encode_edit(tanh(), |p| {
            p.ops[th as usize].kind = if max {
                OpKind::MaxPool(spec)
            } else {
                OpKind::AvgPool(spec)
            }
        });
        exercise(&bytes)
    };
    assert_eq!(pool([1, 1], [3, 3], [1, 1], false), Ok(()));
    assert_eq!(pool([1, 1], [1, 1], [0, 0], false), Ok(()));
    // The first window ends before the input starts.
    assert_eq!(pool([1, 1], [2, 2], [2, 0], false), Err(Error::BadOp(th)));
    assert_eq!(
        pool([1, 1], [2, 2], [0, u16::MAX], false),
        Err(Error::BadOp(th))
    );
    // The last window starts after the input ends (7 * 2 - 0 >= 8).
    assert_eq!(pool([1, 2], [2, 2], [0, 0], false), Err(Error::BadOp(th)));
    assert_eq!(
        pool([u16::MAX, 1], [2, 2], [0, 0], false),
        Err(Error::BadOp(th))
    );
    // Max pooling defines an empty window (-128, then the clamp), as TFLM does.
    assert_eq!(pool([1, 2], [2, 2], [0, 0], true), Ok(()));
    assert_eq!(pool([1, 1], [1, 1], [0, 0], true), Ok(()));
    assert_eq!(pool([0, 1], [1, 1], [0, 0], true), Err(Error::BadOp(th)));
    assert_eq!(pool([1, 1], [1, 0], [0, 0], true), Err(Error::BadOp(th)));
}

#[test]
fn malformed_tensors_are_bad_tensor() {
    let file = ic();
    let n = decode(file).tensors.len();
    let arena = decode(file).graph.arena_len;
    for i in [0, n / 2, n - 1] {
        let t = i as u16;
        assert_eq!(
            edited(file, |p| p.tensors[i].rank = 0),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].rank = 5),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].dims[3] = 0),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].dims[0] = u32::MAX),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].dims = [u32::MAX; 4]),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].offset = arena),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].offset = u32::MAX),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].scale = 0.0),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].scale = -1.0),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].scale = f32::NAN),
            Err(Error::BadTensor(t))
        );
        assert_eq!(
            edited(file, |p| p.tensors[i].scale = f32::INFINITY),
            Err(Error::BadTensor(t))
        );
    }
}

#[test]
fn an_arena_smaller_than_the_plan_is_caught() {
    for file in [ic(), concat(), mul(), ad()] {
        let p = decode(file);
        // The tensor that reaches furthest into the arena.
        let (far, end) = p
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t.offset as usize + t.byte_len().unwrap()))
            .max_by_key(|&(i, end)| (end, std::cmp::Reverse(i)))
            .unwrap();
        assert_eq!(
            edited(file, |p| p.graph.arena_len = end as u32 - 1),
            Err(Error::BadTensor(far as u16))
        );
        assert_eq!(
            edited(file, |p| p.graph.arena_len = 0),
            Err(Error::BadTensor(0))
        );
        // Exactly as much as the furthest tensor needs is enough.
        assert_eq!(edited(file, |p| p.graph.arena_len = end as u32), Ok(()));
    }
}

#[test]
fn bad_inputs_and_outputs_are_bad_io() {
    let file = ic();
    let n = decode(file).graph.n_tensors;
    assert_eq!(edited(file, |p| p.graph.inputs.clear()), Err(Error::BadIo));
    assert_eq!(edited(file, |p| p.graph.outputs.clear()), Err(Error::BadIo));
    assert_eq!(edited(file, |p| p.graph.inputs[0] = n), Err(Error::BadIo));
    assert_eq!(
        edited(file, |p| p.graph.outputs[0] = u16::MAX),
        Err(Error::BadIo)
    );
    assert_eq!(
        edited(file, |p| p.graph.inputs.push(n).unwrap()),
        Err(Error::BadIo)
    );
    // Naming another, existing tensor is structurally fine.
    assert_eq!(edited(file, |p| p.graph.outputs[0] = 0), Ok(()));
}

// ------------------------------------------------------ element types

#[test]
fn int8_ops_on_f32_data_and_float_ops_on_int8_data_are_bad_op() {
    let th = first_op(tanh(), |k| matches!(k, OpKind::Tanh(_)));
    let t = th as usize;
    let q = QuantSpec {
        scale: 0.5,
        zero_point: 0,
    };
    let bad = |edit: &dyn Fn(&mut Parts<'_>)| edited(tanh(), |p| edit(p));
    assert_eq!(bad(&|_| {}), Ok(()));
    assert_eq!(
        bad(&|p| p.ops[t].inputs[0].dtype = DType::F32),
        Err(Error::BadOp(th))
    );
    assert_eq!(
        bad(&|p| p.ops[t].output.dtype = DType::F32),
        Err(Error::BadOp(th))
    );
    assert_eq!(
        bad(&|p| p.ops[t].kind = OpKind::Float(FloatOp::Tanh)),
        Err(Error::BadOp(th))
    );
    assert_eq!(
        bad(&|p| p.ops[t].kind = OpKind::Quantize(q)),
        Err(Error::BadOp(th))
    );
    assert_eq!(
        bad(&|p| p.ops[t].kind = OpKind::Dequantize(q)),
        Err(Error::BadOp(th))
    );
    // The tensor table agrees; only the op's view changed.
    assert_eq!(
        bad(&|p| p.tensors.iter_mut().for_each(|t| t.dtype = DType::I8)),
        Ok(())
    );
}

#[test]
fn float_ops_check_element_types_and_boundaries() {
    let f = float_tanh();
    let ft = first_op(f, is_float_tanh);
    let t = ft as usize;
    let q = QuantSpec {
        scale: 0.5,
        zero_point: -3,
    };
    let bad = |edit: &dyn Fn(&mut Parts<'_>)| edited(f, |p| edit(p));
    assert_eq!(bad(&|_| {}), Ok(()));
    assert_eq!(
        bad(&|p| p.ops[t].inputs[0].dtype = DType::I8),
        Err(Error::BadOp(ft))
    );
    assert_eq!(
        bad(&|p| p.ops[t].output.dtype = DType::I8),
        Err(Error::BadOp(ft))
    );
    // Copy moves one element type: f32 to f32 is fine, f32 to int8 is not.
    assert_eq!(bad(&|p| p.ops[t].kind = OpKind::Copy), Ok(()));
    assert_eq!(
        bad(&|p| {
            p.ops[t].kind = OpKind::Copy;
            p.ops[t].output.dtype = DType::I8;
        }),
        Err(Error::BadOp(ft))
    );
    // Quantize is f32 -> int8, Dequantize int8 -> f32, never the other way.
    assert_eq!(
        bad(&|p| {
            p.ops[t].kind = OpKind::Quantize(q);
            p.ops[t].output.dtype = DType::I8;
        }),
        Ok(())
    );
    assert_eq!(
        bad(&|p| p.ops[t].kind = OpKind::Quantize(q)),
        Err(Error::BadOp(ft))
    );
    assert_eq!(
        bad(&|p| {
            p.ops[t].kind = OpKind::Dequantize(q);
            p.ops[t].inputs[0].dtype = DType::I8;
        }),
        Ok(())
    );
    assert_eq!(
        bad(&|p| {
            p.ops[t].kind = OpKind::Dequantize(q);
            p.ops[t].output.dtype = DType::I8;
        }),
        Err(Error::BadOp(ft))
    );
    for (scale, zero_point) in [
        (0.0, 0),
        (-0.5, 0),
        (f32::NAN, 0),
        (f32::INFINITY, 0),
        (0.5, -129),
        (0.5, 128),
    ] {
        let q = QuantSpec { scale, zero_point };
        assert_eq!(
            bad(&|p| {
                p.ops[t].kind = OpKind::Quantize(q);
                p.ops[t].output.dtype = DType::I8;
            }),
            Err(Error::BadOp(ft)),
            "{q:?}"
        );
    }
    // Float clamps: NaN or an empty range is refused, infinities are "none".
    let clamp =
        |min: f32, max: f32| bad(&|p| p.ops[t].kind = OpKind::Float(FloatOp::Clamp { min, max }));
    assert_eq!(clamp(f32::NEG_INFINITY, f32::INFINITY), Ok(()));
    assert_eq!(clamp(0.0, 0.0), Ok(()));
    assert_eq!(clamp(1.0, 0.0), Err(Error::BadOp(ft)));
    assert_eq!(clamp(f32::NAN, 1.0), Err(Error::BadOp(ft)));
    assert_eq!(clamp(0.0, f32::NAN), Err(Error::BadOp(ft)));
    // The arena holds 4 bytes per f32 element: a quarter of it is too little.
    assert_eq!(bad(&|p| p.graph.arena_len /= 4), Err(Error::BadTensor(0)));
}

#[test]
fn misaligned_f32_offsets_are_bad() {
    let f = float_tanh();
    let ft = first_op(f, is_float_tanh);
    let t = ft as usize;
    let arena = decode(f).graph.arena_len;
    assert_eq!(arena % 4, 0);
    // Room at the end of the arena for the largest tensor, and some.
    let room = decode(f)
        .tensors
        .iter()
        .map(|t| t.byte_len().unwrap() as u32)
        .max()
        .unwrap()
        + 16;
    // Move the op's output, or a table entry, into fresh bytes at the end.
    let move_output = |skew: u32| {
        edited(f, |p| {
            p.graph.arena_len += room;
            p.ops[t].output.offset = arena + skew;
        })
    };
    assert_eq!(move_output(0), Ok(()));
    assert_eq!(move_output(4), Ok(()));
    for skew in [1, 2, 3, 6] {
        assert_eq!(move_output(skew), Err(Error::BadOp(ft)), "skew {skew}");
    }
    let n = decode(f).tensors.len();
    for i in 0..n {
        let move_tensor = |skew: u32| {
            edited(f, |p| {
                p.graph.arena_len += room;
                p.tensors[i].offset = arena + skew;
            })
        };
        assert_eq!(move_tensor(8), Ok(()));
        assert_eq!(move_tensor(2), Err(Error::BadTensor(i as u16)));
    }
    // int8 tensors have no alignment to keep.
    let th = first_op(tanh(), |k| matches!(k, OpKind::Tanh(_)));
    let int8_arena = decode(tanh()).graph.arena_len;
    assert_eq!(
        edited(tanh(), |p| {
            p.graph.arena_len += room;
            p.ops[th as usize].output.offset = int8_arena + 3;
            p.tensors[0].offset = int8_arena + 1;
        }),
        Ok(())
    );
}

#[test]
fn float_model_runs_and_wants_an_aligned_arena() {
    let f = float_tanh();
    assert_eq!(exercise(f), Ok(()));
    let aligned = AlignedBytes::new(f);
    let model = Model::parse(aligned.as_slice()).unwrap();
    assert!(model.has_f32());
    let n = model.arena_len();
    let mut storage = vec![0u8; n + 32];
    let arena = aligned_arena(&mut storage, n + 16);
    for skew in [1, 4, 8] {
        assert_eq!(
            Interpreter::new(&model, &mut arena[skew..]).map(|_| ()),
            Err(Error::MisalignedArena)
        );
    }
    let mut interp = Interpreter::new(&model, &mut arena[16..]).unwrap();
    let len = model.input(0).unwrap().elements().unwrap();
    let x: Vec<f32> = (0..len).map(|i| (i as f32 - 100.0) * 0.03).collect();
    interp.set_input_f32(0, &x).unwrap();
    interp.invoke().unwrap();
    let y = interp.output_f32_slice(0).unwrap();
    assert_eq!(y.len(), len);
    for (a, b) in x.iter().zip(y) {
        assert!(
            (f64::from(*b) - f64::from(*a).tanh()).abs() < 1e-6,
            "tanh({a}) = {b}"
        );
    }
    assert_eq!(interp.input_mut(0).map(|_| ()), Err(Error::WrongDType));
    assert_eq!(interp.output(0).map(|_| ()), Err(Error::WrongDType));
    // An int8-only model runs in an arena at any address.
    let aligned = AlignedBytes::new(tanh());
    let model = Model::parse(aligned.as_slice()).unwrap();
    assert!(!model.has_f32());
    let mut storage = vec![0u8; model.arena_len() + 32];
    let arena = aligned_arena(&mut storage, model.arena_len() + 1);
    let mut interp = Interpreter::new(&model, &mut arena[1..]).unwrap();
    interp.invoke().unwrap();
    assert_eq!(interp.input_f32_mut(0).map(|_| ()), Err(Error::WrongDType));
    assert_eq!(
        interp.output_f32_slice(0).map(|_| ()),
        Err(Error::WrongDType)
    );
}

// ------------------------------------------------------------ interpreter

#[test]
fn interpreter_arena_too_small() {
    for file in [ic(), concat()] {
        let aligned = AlignedBytes::new(file);
        let model = Model::parse(aligned.as_slice()).unwrap();
        let needed = model.arena_len();
        for given in [0, 1, needed / 2, needed - 1] {
            let mut arena = vec![0u8; given];
            assert_eq!(
                Interpreter::new(&model, &mut arena).map(|_| ()),
                Err(Error::ArenaTooSmall {
                    needed: needed as u32,
                    given: given as u32
                })
            );
        }
        let mut arena = vec![0u8; needed];
        let mut interp = Interpreter::new(&model, &mut arena).unwrap();
        interp.invoke().unwrap();
        assert_eq!(interp.output(1).map(|_| ()), Err(Error::NoSuchTensor(1)));
        assert_eq!(interp.input_mut(8).map(|_| ()), Err(Error::NoSuchTensor(8)));
        let wrong_len = vec![0.0f32; interp.input_mut(0).unwrap().len() + 1];
        assert!(matches!(
            interp.set_input_f32(0, &wrong_len),
            Err(Error::Kernel { op: u16::MAX, .. })
        ));
    }
}

// ------------------------------------------------------------- fuzzing

/// `len` bytes of `storage` (which has 15 to spare) starting 16-byte aligned,
/// as a model with f32 tensors wants.
fn aligned_arena(storage: &mut [u8], len: usize) -> &mut [u8] {
    let skip = storage.as_ptr().align_offset(16);
    &mut storage[skip..skip + len]
}

/// Everything a caller may do with a model that parsed: none of it may panic.
fn exercise(bytes: &[u8]) -> Result<(), Error> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::parse(aligned.as_slice())?;
    for t in 0..model.tensor_count() {
        model.tensor(t)?;
    }
    let n_ops = model.ops().count();
    assert_eq!(
        n_ops,
        usize::from(model.op_count()),
        "a validated model's ops all decode"
    );
    let _ = (
        model.name(),
        model.producer(),
        model.macs(),
        model.file_len(),
    );
    // The host tool's view of the same model.
    let report = mote_cli::inspect::report(aligned.as_slice())
        .expect("inspect fails on a model that parses");
    let _ = mote_cli::inspect::render(&report);
    let mut small = [0u8; 8];
    if model.arena_len() > small.len() {
        assert!(matches!(
            Interpreter::new(&model, &mut small),
            Err(Error::ArenaTooSmall { .. })
        ));
    }
    // Bound the work of one case (a flipped arena_len could ask for gigabytes).
    if model.arena_len() > 1 << 20 {
        return Ok(());
    }
    let mut storage = vec![0x55u8; model.arena_len() + 15];
    let mut interp = Interpreter::new(&model, aligned_arena(&mut storage, model.arena_len()))?;
    for i in 0..model.input_count() {
        if let Ok(x) = interp.input_mut(i) {
            for (j, v) in x.iter_mut().enumerate() {
                *v = (j as i8).wrapping_mul(37);
            }
        }
        if let Ok(x) = interp.input_f32_mut(i) {
            for (j, v) in x.iter_mut().enumerate() {
                *v = (j as f32 * 0.37).sin() * 4.0;
            }
        }
        let n = model.input(i).ok().and_then(|t| t.elements()).unwrap_or(0);
        let _ = interp.set_input_f32(i, &vec![0.5; n.min(1 << 20)]);
    }
    let result = interp.invoke();
    for i in 0..model.output_count() + 1 {
        let _ = interp.output(i);
        let _ = interp.output_f32_slice(i);
        let n = model.output(i).ok().and_then(|t| t.elements()).unwrap_or(0);
        let _ = interp.output_f32(i, &mut vec![0.0; n.min(1 << 20)]);
    }
    result
}

fn fuzz_base(which: usize) -> &'static [u8] {
    match which % 5 {
        0 => concat(),
        1 => mul(),
        2 => dwmult(),
        3 => ad(),
        _ => float_tanh(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random byte flips and overwrites, CRC recomputed so they reach the
    /// structural checks (and, when they pass, the kernels).
    #[test]
    fn flipped_bytes_with_a_valid_crc_never_panic(
        which in 0usize..5,
        edits in prop::collection::vec(
            (any::<prop::sample::Index>(), any::<u8>(), any::<bool>()),
            1..8,
        ),
        graph_only in any::<bool>(),
    ) {
        let base = fuzz_base(which);
        let mut b = base.to_vec();
        let h = Header::read(base).unwrap();
        // Half the cases aim at the header and graph section, where a flip is
        // most likely to break structure rather than weights.
        let span = if graph_only { h.weights_offset as usize } else { b.len() };
        for (at, v, xor) in edits {
            let at = at.index(span);
            if xor { b[at] ^= v.max(1) } else { b[at] = v }
        }
        reseal(&mut b);
        let _ = exercise(&b);
    }

    /// Fully random bytes, some behind a valid header prefix and a valid CRC.
    #[test]
    fn random_bytes_never_panic(
        mut body in prop::collection::vec(any::<u8>(), 0..600),
        prefix in 0u8..3,
    ) {
        let mut b = Vec::new();
        if prefix > 0 {
            b.extend_from_slice(b"MOTE");
            b.extend_from_slice(&VERSION.to_le_bytes());
        }
        if prefix == 2 && body.len() >= 26 {
            // A plausible header: lengths that agree with the file, then a CRC.
            let rest = (body.len() - 26) as u32;
            let graph_len = rest / 2;
            let w_off = (HEADER_LEN as u32 + graph_len).div_ceil(16) * 16;
            let total = HEADER_LEN as u32 + rest;
            let w_off = w_off.min(total / 16 * 16).max(HEADER_LEN as u32);
            body[2..6].copy_from_slice(&graph_len.to_le_bytes());
            body[6..10].copy_from_slice(&w_off.to_le_bytes());
            body[10..14].copy_from_slice(&(total.saturating_sub(w_off)).to_le_bytes());
            body[14..18].copy_from_slice(&rest.to_le_bytes());
        }
        b.extend_from_slice(&body);
        if prefix == 2 {
            reseal(&mut b);
        }
        let r = exercise(&b);
        if b.len() < HEADER_LEN {
            prop_assert_eq!(r, Err(Error::Truncated));
        } else if prefix == 0 && &b[..4] != b"MOTE" {
            prop_assert_eq!(r, Err(Error::BadMagic));
        }
    }
}

fn wild_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(i32::MIN),
        Just(i32::MAX),
        Just(0),
        Just(1 << 30),
        -70i32..70,
        any::<i32>(),
    ]
}

fn wild_u16() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), Just(u16::MAX), 1u16..6, any::<u16>()]
}

/// Overwrites the int32 values of a weight-blob range.
fn fill_i32(weights: &mut [u8], b: &BlobRef, values: &[i32]) {
    let range = &mut weights[b.offset as usize..][..b.len as usize];
    for (chunk, v) in range.chunks_exact_mut(4).zip(values.iter().cycle()) {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Valid graphs whose op parameters (multipliers, shifts, offsets,
    /// strides, padding, windows, clamps) take extreme values: parse and
    /// invoke return Ok or an error, and never panic.
    #[test]
    fn extreme_op_parameters_never_panic(
        kind in 0u8..12,
        v in prop::collection::vec(wild_i32(), 12),
        u in prop::collection::vec(wild_u16(), 6),
        act in (-128i32..=127, -128i32..=127),
        flag in any::<bool>(),
    ) {
        let bytes = extreme_case(kind, &v, &u, act, flag);
        // Parameters the kernels would refuse are refused by validation
        // already: a model that parses runs (`Error::Kernel` "cannot happen").
        match exercise(&bytes) {
            Ok(()) | Err(Error::BadOp(0)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}

/// A valid graph with one op's parameters replaced: Softmax, Logistic, Tanh,
/// Requantize, Add, Mul, AvgPool, MaxPool (on the Tanh model's 8x8x4
/// tensors), Mean, Conv2d, DepthwiseConv2d, FullyConnected (on models that
/// have one, with their multipliers, shifts and biases overwritten).
fn extreme_case(kind: u8, v: &[i32], u: &[u16], act: (i32, i32), flag: bool) -> Vec<u8> {
    let (act_min, act_max) = (act.0.min(act.1), act.0.max(act.1));
    let same_shape = |k: OpKind| move |p: &mut Parts<'_>| p.ops[0].kind = k;
    let lut = LutActSpec {
        input_zero_point: v[0],
        input_range_radius: v[1],
        input_multiplier: v[2],
        input_left_shift: v[3],
    };
    let pool = PoolSpec {
        stride: [u[0], u[1]],
        filter: [u[2], u[3]],
        padding: [u[4], u[5]],
        act_min,
        act_max,
    };
    match kind {
        0 => encode_edit(
            tanh(),
            same_shape(OpKind::Softmax(SoftmaxSpec {
                input_multiplier: v[0],
                input_left_shift: v[1],
                diff_min: v[2],
            })),
        ),
        1 => encode_edit(tanh(), same_shape(OpKind::Logistic(lut))),
        2 => encode_edit(tanh(), same_shape(OpKind::Tanh(lut))),
        3 => encode_edit(
            tanh(),
            same_shape(OpKind::Requantize(RequantSpec {
                input_zero_point: v[0],
                multiplier: v[1],
                shift: v[2],
                output_zero_point: v[3],
            })),
        ),
        4 | 5 => encode_edit(tanh(), |p| {
            // x + x and x * x: both inputs may read the same buffer.
            let x = p.ops[0].inputs[0];
            p.ops[0].inputs.push(x).unwrap();
            p.ops[0].kind = if kind == 4 {
                OpKind::Add(AddSpec {
                    input1_offset: v[0],
                    input2_offset: v[1],
                    output_offset: v[2],
                    left_shift: v[3],
                    input1_multiplier: v[4],
                    input1_shift: v[5],
                    input2_multiplier: v[6],
                    input2_shift: v[7],
                    output_multiplier: v[8],
                    output_shift: v[9],
                    act_min,
                    act_max,
                })
            } else {
                OpKind::Mul(MulSpec {
                    input1_offset: v[0],
                    input2_offset: v[1],
                    output_offset: v[2],
                    output_multiplier: v[3],
                    output_shift: v[4],
                    act_min,
                    act_max,
                })
            };
        }),
        6 => encode_edit(tanh(), same_shape(OpKind::AvgPool(pool))),
        7 => encode_edit(tanh(), same_shape(OpKind::MaxPool(pool))),
        8 => encode_edit(mean(), |p| {
            let i = op_index(p, |k| matches!(k, OpKind::Mean(_)));
            p.ops[i].kind = OpKind::Mean(MeanSpec {
                multiplier: v[0],
                shift: v[1],
                input_zero_point: v[2],
                output_zero_point: v[3],
                same_quantization: flag,
            });
        }),
        9 | 10 => encode_edit(if kind == 9 { concat() } else { dwmult() }, |p| {
            let i = op_index(p, |k| {
                matches!(k, OpKind::Conv2d(_) | OpKind::DepthwiseConv2d { .. })
            });
            let c = match &mut p.ops[i].kind {
                OpKind::Conv2d(c) | OpKind::DepthwiseConv2d { conv: c, .. } => c,
                _ => unreachable!(),
            };
            c.stride = [u[0], u[1]];
            c.dilation = [u[2], u[3]];
            c.padding = [u[4], u[5]];
            (c.input_offset, c.output_offset, c.act_min, c.act_max) =
                (v[0], v[1], act_min, act_max);
            let c = *c;
            fill_i32(&mut p.weights, &c.multiplier, &v[2..5]);
            fill_i32(&mut p.weights, &c.shift, &v[5..8]);
            fill_i32(&mut p.weights, &c.bias, &v[8..12]);
        }),
        _ => encode_edit(ad(), |p| {
            let i = op_index(p, |k| matches!(k, OpKind::FullyConnected(_)));
            let OpKind::FullyConnected(f) = &mut p.ops[i].kind else {
                unreachable!()
            };
            (
                f.input_offset,
                f.filter_offset,
                f.output_offset,
                f.act_min,
                f.act_max,
            ) = (v[0], v[1], v[2], act_min, act_max);
            let f = *f;
            fill_i32(&mut p.weights, &f.multiplier, &v[3..6]);
            fill_i32(&mut p.weights, &f.shift, &v[6..9]);
            fill_i32(&mut p.weights, &f.bias, &v[9..12]);
        }),
    }
}

fn wild_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(0.0f32),
        Just(f32::MAX),
        Just(f32::MIN_POSITIVE),
        -8.0f32..8.0,
        any::<f32>(),
    ]
}

/// Appends `bytes` to the weight blob at a 16-byte aligned offset.
fn push_blob(weights: &mut Vec<u8>, bytes: &[u8]) -> BlobRef {
    let offset = weights.len().div_ceil(WEIGHTS_ALIGN) * WEIGHTS_ALIGN;
    weights.resize(offset, 0);
    weights.extend_from_slice(bytes);
    BlobRef {
        offset: offset as u32,
        len: bytes.len() as u32,
    }
}

/// `n` float weights of type `ty` made from `values` (any bit patterns).
fn float_weights(weights: &mut Vec<u8>, ty: WeightType, n: usize, values: &[f32]) -> BlobRef {
    let bytes: Vec<u8> = values
        .iter()
        .cycle()
        .take(n)
        .flat_map(|v| match ty {
            WeightType::F32 => v.to_le_bytes().to_vec(),
            WeightType::F16 => ((v.to_bits() >> 16) as u16).to_le_bytes().to_vec(),
        })
        .collect();
    push_blob(weights, &bytes)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The float twin of `extreme_op_parameters_never_panic`: float ops with
    /// extreme clamps (NaN, infinities), windows, strides, padding, weights
    /// and quantization on the float Tanh model's 8x8x4 tensors are refused
    /// by validation or run, and never panic.
    #[test]
    fn extreme_float_op_parameters_never_panic(
        kind in 0u8..13,
        f in prop::collection::vec(wild_f32(), 4),
        u in prop::collection::vec(wild_u16(), 6),
        zp in wild_i32(),
        flag in any::<bool>(),
    ) {
        let bytes = extreme_float_case(kind, &f, &u, zp, flag);
        match exercise(&bytes) {
            Ok(()) | Err(Error::BadOp(0)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}

/// The float Tanh model with its op replaced: AvgPool, MaxPool, Clamp, Add,
/// Mul, Softmax, Logistic, Mean, Pad, Conv2d, DepthwiseConv2d (weights
/// appended to the blob, f32 or f16), Quantize/Dequantize, FullyConnected.
fn extreme_float_case(kind: u8, f: &[f32], u: &[u16], zp: i32, flag: bool) -> Vec<u8> {
    let (act_min, act_max) = if flag && f[0] > f[1] {
        (f[1], f[0])
    } else {
        (f[0], f[1])
    };
    let ty = if flag {
        WeightType::F16
    } else {
        WeightType::F32
    };
    encode_edit(float_tanh(), |p| {
        let op = &mut p.ops[0];
        let pool = FloatPoolSpec {
            stride: [u[0], u[1]],
            filter: [u[2], u[3]],
            padding: [u[4], u[5]],
            act_min,
            act_max,
        };
        let oc = op.output.dims[3];
        op.kind = match kind {
            0 => OpKind::Float(FloatOp::AvgPool(pool)),
            1 => OpKind::Float(FloatOp::MaxPool(pool)),
            2 => OpKind::Float(FloatOp::Clamp {
                min: act_min,
                max: act_max,
            }),
            3 | 4 => {
                let x = op.inputs[0];
                op.inputs.push(x).unwrap();
                if kind == 3 {
                    OpKind::Float(FloatOp::Add { act_min, act_max })
                } else {
                    OpKind::Float(FloatOp::Mul { act_min, act_max })
                }
            }
            5 => OpKind::Float(FloatOp::Softmax),
            6 => OpKind::Float(FloatOp::Logistic),
            7 => OpKind::Float(FloatOp::Mean),
            8 => OpKind::Float(FloatOp::Pad {
                pads: [
                    [0, 0],
                    [u32::from(u[0]), u32::from(u[1])],
                    [u32::from(u[2]), 0],
                    [0, 0],
                ],
                value: f[2],
            }),
            9 | 10 => {
                let depthwise = kind == 10;
                let ic = op.inputs[0].dims[3];
                let filter_dims = if depthwise {
                    [1, 3, 3, oc]
                } else {
                    [oc, 3, 3, ic]
                };
                let n = filter_dims.iter().product::<u32>() as usize;
                let conv = FloatConvSpec {
                    stride: [u[0], u[1]],
                    dilation: [u[2], u[3]],
                    padding: [u[4], u[5]],
                    act_min,
                    act_max,
                    filter: float_weights(&mut p.weights, ty, n, &f[2..]),
                    filter_dims,
                    bias: float_weights(&mut p.weights, WeightType::F32, oc as usize, &f[3..]),
                    weights: ty,
                };
                if depthwise {
                    OpKind::Float(FloatOp::DepthwiseConv2d {
                        conv,
                        depth_multiplier: u[0] % 3,
                    })
                } else {
                    OpKind::Float(FloatOp::Conv2d(conv))
                }
            }
            11 => {
                let q = QuantSpec {
                    scale: f[2],
                    zero_point: zp,
                };
                if flag {
                    op.output.dtype = DType::I8;
                    OpKind::Quantize(q)
                } else {
                    op.inputs[0].dtype = DType::I8;
                    OpKind::Dequantize(q)
                }
            }
            _ => {
                let inf = u32::from(u[0] % 9);
                OpKind::Float(FloatOp::FullyConnected(FloatFcSpec {
                    act_min,
                    act_max,
                    filter: float_weights(&mut p.weights, ty, (inf * oc) as usize, &f[2..]),
                    bias: float_weights(&mut p.weights, WeightType::F32, oc as usize, &f[3..]),
                    in_features: inf,
                    out_features: oc,
                    weights: ty,
                }))
            }
        };
    })
}

fn encode_edit<'f>(file: &'f [u8], edit: impl FnOnce(&mut Parts<'f>)) -> Vec<u8> {
    let mut p = decode(file);
    edit(&mut p);
    encode(&p)
}

/// Byte flips in the graph section of the big classifier (CRC recomputed):
/// fewer cases, since a surviving model runs 3 M MACs.
#[test]
fn flipped_graph_bytes_of_the_classifier_never_panic() {
    let base = ic();
    let h = Header::read(base).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ok, mut err) = (0, 0);
    for _ in 0..300 {
        let mut b = base.to_vec();
        for _ in 0..1 + next() % 3 {
            let at = HEADER_LEN + (next() as usize) % (h.graph_len as usize);
            b[at] ^= 1 << (next() % 8);
        }
        reseal(&mut b);
        match exercise(&b) {
            Ok(()) => ok += 1,
            Err(_) => err += 1,
        }
    }
    eprintln!("{ok} flipped models ran, {err} were rejected");
    assert!(
        err > 0,
        "no flip was ever rejected: the flips did not reach the graph"
    );
}

// ------------------------------------------------ packed (sparse, int4) filters

/// Relabels the first Conv2d as a packed op with `encoding`, its filter
/// range cut to `len` bytes (`None`: left as the dense range).
fn packed_conv(
    file: &[u8],
    encoding: mote_format::WeightEncoding,
    len: Option<u32>,
) -> Result<(), Error> {
    edited(file, |p| {
        let i = op_index(p, is_conv);
        if let OpKind::Conv2d(mut c) = p.ops[i].kind.clone() {
            if let Some(l) = len {
                c.filter.len = l;
            }
            p.ops[i].kind = OpKind::Conv2dPacked { conv: c, encoding };
        }
    })
}

#[test]
fn packed_filters_that_disagree_with_their_shape_are_bad_encoding() {
    use mote_format::{EncodingError, WeightEncoding};
    let file = ic();
    let op = first_op(file, is_conv);
    let elements = {
        let p = decode(file);
        let i = op_index(&p, is_conv);
        match &p.ops[i].kind {
            OpKind::Conv2d(c) => c.filter_dims.iter().product::<u32>(),
            _ => unreachable!(),
        }
    };
    // A dense filter read as int4 has twice the bytes int4 needs.
    assert_eq!(
        packed_conv(file, WeightEncoding::S4, None),
        Err(Error::BadEncoding {
            op,
            error: EncodingError::S4Length {
                expected: elements.div_ceil(2),
                found: elements,
            }
        })
    );
    // Cut to the int4 length, the same bytes are a valid int4 filter.
    assert_eq!(
        packed_conv(file, WeightEncoding::S4, Some(elements.div_ceil(2))),
        Ok(())
    );
    // Read as sparse, its bitmap and value count disagree (or it is
    // shorter than its bitmap once cut).
    for len in [None, Some(1)] {
        match packed_conv(file, WeightEncoding::SparseS8, len) {
            Err(Error::BadEncoding { op: o, error }) => {
                assert_eq!(o, op);
                assert!(matches!(
                    error,
                    EncodingError::ValueCount { .. }
                        | EncodingError::PaddingBits
                        | EncodingError::Truncated
                ));
            }
            other => panic!("dense bytes accepted as sparse: {other:?}"),
        }
    }
}

// ------------------------------------------------- wide FullyConnected filters

/// The `ad` model with its FullyConnected filters widened (`--wide-fc`).
fn ad_wide() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let path = mote_tests::data_dir().join("ad/model_qdq.onnx");
        mote_cli::compress::compress_bytes_with(&path, mote_cli::compress::Packing::WideFc)
            .unwrap_or_else(|e| panic!("compressing {}: {e:#}", path.display()))
            .0
    })
}

fn is_wide(k: &OpKind) -> bool {
    matches!(
        k,
        OpKind::FullyConnectedPacked {
            encoding: mote_format::WeightEncoding::WideS8,
            ..
        }
    )
}

#[test]
fn wide_filter_corruptions_are_bad_encoding() {
    use mote_format::{EncodingError, WeightEncoding};
    let file = ad_wide();
    assert_eq!(parse(file), Ok(()));
    let op = first_op(file, is_wide);
    let filter = |p: &Parts<'_>| match p.ops[op as usize].kind {
        OpKind::FullyConnectedPacked { fc, .. } => fc.filter,
        _ => unreachable!(),
    };
    // A value outside -128..=127 (256 in the first halfword).
    let r = edited(file, |p| {
        let at = filter(p).offset as usize;
        p.weights[at] = 0;
        p.weights[at + 1] = 1;
    });
    let want = Err(Error::BadEncoding {
        op,
        error: EncodingError::WideValue,
    });
    assert_eq!(r, want);
    // A filter range one block short.
    let r = edited(file, |p| {
        if let OpKind::FullyConnectedPacked { fc, .. } = &mut p.ops[op as usize].kind {
            fc.filter.len -= 32;
        }
    });
    assert!(
        matches!(
            r,
            Err(Error::BadEncoding {
                error: EncodingError::WideLength { .. },
                ..
            })
        ),
        "{r:?}"
    );
    // A filter range off its 4-byte alignment (the kernel loads words):
    // refused with the op, as every misaligned blob range is.
    let r = edited(file, |p| {
        if let OpKind::FullyConnectedPacked { fc, .. } = &mut p.ops[op as usize].kind {
            fc.filter.offset += 2;
        }
    });
    assert_eq!(r, Err(Error::BadOp(op)));
    // The wide encoding on a convolution.
    let conv = first_op(ic(), is_conv);
    let r = edited(ic(), |p| {
        let c = *conv_mut(p);
        p.ops[conv as usize].kind = OpKind::Conv2dPacked {
            conv: c,
            encoding: WeightEncoding::WideS8,
        };
    });
    assert_eq!(
        r,
        Err(Error::BadEncoding {
            op: conv,
            error: EncodingError::WideOp,
        })
    );
}

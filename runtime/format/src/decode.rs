//! The reader's side of the postcard wire format, written out by hand.
//!
//! The graph section stays postcard (the `mote` tool writes it with
//! `postcard` and the serde derives), but the device decodes it with this
//! module instead of `postcard` + `serde`: the generic serde machinery (a
//! visitor per struct, a `SeqAccess` per array, a deserializer entry per
//! type) took about 11 KB of flash on thumbv7em; these straight-line field
//! readers take a fraction of it and are faster.
//!
//! What postcard writes, and so what is read here: `u8`/`i8` as one byte,
//! `bool` as one byte 0 or 1, `u16`/`u32`/`u64` (and lengths) as LEB128
//! varints of at most 3/5/10 bytes, `i32` zigzag then varint, `f32` as four
//! little-endian bytes, `&str` as a varint length then UTF-8 bytes, arrays
//! `[T; N]` as N values, `heapless::Vec` as a varint length then the
//! values, structs as their fields in declaration order, enums as the
//! varint variant index then the variant's fields. The checks are
//! postcard's: a varint's last byte may not carry bits past the type, a
//! bool is 0 or 1, a string is valid UTF-8, a vector fits its capacity, a
//! variant index exists. The host tests decode every record both ways.
//!
//! Errors are sticky: a failed read marks the [`Reader`] and yields a zero
//! value, later reads yield zeros too, and [`crate::take`] turns a marked
//! reader into [`crate::FormatError::Decode`]. Each field read is then one
//! call, with no branch per field.

use crate::{
    ActRef, AddSpec, BlobRef, ConvSpec, DType, FcSpec, FloatConvSpec, FloatFcSpec, FloatOp,
    FloatPoolSpec, GraphHeader, LutActSpec, MeanSpec, MulSpec, Op, OpKind, PoolSpec, QuantSpec,
    RequantSpec, SoftmaxSpec, TensorDesc, WeightEncoding, WeightType,
};

/// A cursor over postcard bytes with a sticky error flag.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader {
            rest: bytes,
            failed: false,
        }
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// True once any read failed.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Marks the reader failed (and stops it: later reads see no bytes).
    #[inline(never)]
    fn fail(&mut self) {
        self.failed = true;
        self.rest = &[];
    }

    /// The next `n` bytes (empty once failed).
    #[inline(never)]
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                head
            }
            None => {
                self.fail();
                &[]
            }
        }
    }

    /// The next byte (0 once failed).
    #[inline(never)]
    fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, tail)) => {
                self.rest = tail;
                b
            }
            None => {
                self.fail();
                0
            }
        }
    }

    /// A varint of at most `max` bytes whose last byte is at most `last`
    /// (u16: 3 bytes, last ≤ 0x03; u32: 5 bytes, last ≤ 0x0F).
    #[inline(never)]
    fn varint(&mut self, max: u32, last: u8) -> u32 {
        let mut out = 0u32;
        for i in 0..max {
            let b = self.byte();
            out |= u32::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i == max - 1 && b > last {
                    break;
                }
                return out;
            }
        }
        self.fail();
        0
    }

    /// A u32 varint.
    #[inline(never)]
    fn u32(&mut self) -> u32 {
        self.varint(5, 0x0F)
    }

    /// A length (postcard's `usize` varint: u32 on 32-bit targets, u64 on
    /// 64-bit ones).
    fn len(&mut self) -> usize {
        #[cfg(target_pointer_width = "64")]
        {
            let n = self.u64();
            usize::try_from(n).unwrap_or(usize::MAX)
        }
        #[cfg(not(target_pointer_width = "64"))]
        {
            self.u32() as usize
        }
    }

    /// A u64 varint (10 bytes at most, the last one ≤ 0x01).
    #[inline(never)]
    fn u64(&mut self) -> u64 {
        let mut out = 0u64;
        for i in 0..10 {
            let b = self.byte();
            out |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i == 9 && b > 0x01 {
                    break;
                }
                return out;
            }
        }
        self.fail();
        0
    }

    /// An enum's variant index; `None` (and the reader failed) past `count`.
    #[inline(never)]
    fn variant(&mut self, count: u32) -> Option<u32> {
        let v = self.u32();
        if v < count {
            Some(v)
        } else {
            self.fail();
            None
        }
    }
}

/// A value read from postcard bytes borrowing from them.
pub trait Decode<'a>: Sized {
    /// Reads one value (a zero value if the reader fails on the way).
    fn decode(r: &mut Reader<'a>) -> Self;
}

impl Decode<'_> for u8 {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.byte()
    }
}

impl Decode<'_> for i8 {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.byte() as i8
    }
}

impl Decode<'_> for bool {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.byte() {
            0 => false,
            1 => true,
            _ => {
                r.fail();
                false
            }
        }
    }
}

impl Decode<'_> for u16 {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.varint(3, 0x03) as u16
    }
}

impl Decode<'_> for u32 {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.u32()
    }
}

impl Decode<'_> for i32 {
    #[inline(never)]
    fn decode(r: &mut Reader<'_>) -> Self {
        let v = r.u32();
        ((v >> 1) as i32) ^ -((v & 1) as i32)
    }
}

impl Decode<'_> for u64 {
    fn decode(r: &mut Reader<'_>) -> Self {
        r.u64()
    }
}

impl Decode<'_> for f32 {
    #[inline(never)]
    fn decode(r: &mut Reader<'_>) -> Self {
        let b = r.bytes(4);
        match b {
            [b0, b1, b2, b3] => f32::from_le_bytes([*b0, *b1, *b2, *b3]),
            _ => 0.0,
        }
    }
}

impl<'a> Decode<'a> for &'a str {
    #[inline(never)]
    fn decode(r: &mut Reader<'a>) -> Self {
        let n = r.len();
        match core::str::from_utf8(r.bytes(n)) {
            Ok(s) => s,
            Err(_) => {
                r.fail();
                ""
            }
        }
    }
}

impl<'a, T: Decode<'a> + Copy + Default, const N: usize> Decode<'a> for [T; N] {
    #[inline(never)]
    fn decode(r: &mut Reader<'a>) -> Self {
        let mut a = [T::default(); N];
        for x in a.iter_mut() {
            *x = T::decode(r);
        }
        a
    }
}

impl<'a, T: Decode<'a>, const N: usize> Decode<'a> for heapless::Vec<T, N> {
    fn decode(r: &mut Reader<'a>) -> Self {
        let mut v = heapless::Vec::new();
        let n = r.len();
        if n > N {
            r.fail();
            return v;
        }
        for _ in 0..n {
            // Cannot fail: n <= N.
            let _ = v.push(T::decode(r));
        }
        v
    }
}

/// `Decode` for a struct: its fields read in declaration order (a struct
/// expression evaluates its fields in the order written).
macro_rules! structs {
    ($($t:ident $(<$lt:lifetime>)? { $($f:ident),* $(,)? })*) => {$(
        impl<'a> Decode<'a> for $t $(<$lt>)? {
            #[inline(never)]
            fn decode(r: &mut Reader<'a>) -> Self {
                $t { $($f: Decode::decode(r)),* }
            }
        }
    )*};
}

structs! {
    BlobRef { offset, len }
    ActRef { tensor, dtype, offset, dims }
    GraphHeader<'a> { name, producer, arena_len, n_tensors, n_ops, inputs, outputs, macs }
    TensorDesc<'a> { name, dtype, rank, dims, offset, scale, zero_point }
    ConvSpec {
        stride, dilation, padding, input_offset, output_offset, act_min, act_max, filter,
        filter_dims, bias, multiplier, shift,
    }
    FcSpec {
        input_offset, filter_offset, output_offset, act_min, act_max, filter, bias, multiplier,
        shift, in_features, out_features,
    }
    AddSpec {
        input1_offset, input2_offset, output_offset, left_shift, input1_multiplier,
        input1_shift, input2_multiplier, input2_shift, output_multiplier, output_shift,
        act_min, act_max,
    }
    MulSpec {
        input1_offset, input2_offset, output_offset, output_multiplier, output_shift, act_min,
        act_max,
    }
    PoolSpec { stride, filter, padding, act_min, act_max }
    MeanSpec { multiplier, shift, input_zero_point, output_zero_point, same_quantization }
    SoftmaxSpec { input_multiplier, input_left_shift, diff_min }
    LutActSpec { input_zero_point, input_range_radius, input_multiplier, input_left_shift }
    RequantSpec { input_zero_point, multiplier, shift, output_zero_point }
    QuantSpec { scale, zero_point }
    FloatConvSpec {
        stride, dilation, padding, act_min, act_max, filter, filter_dims, bias, weights,
    }
    FloatFcSpec { act_min, act_max, filter, bias, in_features, out_features, weights }
    FloatPoolSpec { stride, filter, padding, act_min, act_max }
}

impl Decode<'_> for DType {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(2) {
            Some(1) => DType::F32,
            _ => DType::I8,
        }
    }
}

impl Decode<'_> for WeightType {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(2) {
            Some(1) => WeightType::F16,
            _ => WeightType::F32,
        }
    }
}

impl Decode<'_> for WeightEncoding {
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(3) {
            Some(1) => WeightEncoding::S4,
            Some(2) => WeightEncoding::WideS8,
            _ => WeightEncoding::SparseS8,
        }
    }
}

/// Shorthand in the enum readers.
fn d<'a, T: Decode<'a>>(r: &mut Reader<'a>) -> T {
    T::decode(r)
}

/// Every [`OpKind`] variant: bit `i` stands for variant index `i`.
pub const ALL_KINDS: u32 = (1 << OP_KINDS) - 1;

/// Number of [`OpKind`] variants.
pub const OP_KINDS: u32 = 23;

/// Whether `kinds` has variant index `i` (a constant in each reader).
const fn has(kinds: u32, i: u32) -> bool {
    kinds & (1 << i) != 0
}

/// Reads an [`OpKind`] whose variant is one of `KINDS`; another variant
/// fails the read. A build that runs only some ops reads only those: the
/// readers of the others (and the code behind them) are not linked.
#[inline(never)]
fn kind<const KINDS: u32>(r: &mut Reader<'_>) -> OpKind {
    // Variant indices in declaration order (they are append-only).
    match r.variant(OP_KINDS) {
        Some(0) if has(KINDS, 0) => OpKind::Conv2d(d(r)),
        Some(1) if has(KINDS, 1) => OpKind::DepthwiseConv2d {
            conv: d(r),
            depth_multiplier: d(r),
        },
        Some(2) if has(KINDS, 2) => OpKind::FullyConnected(d(r)),
        Some(3) if has(KINDS, 3) => OpKind::Add(d(r)),
        Some(4) if has(KINDS, 4) => OpKind::Mul(d(r)),
        Some(5) if has(KINDS, 5) => OpKind::AvgPool(d(r)),
        Some(6) if has(KINDS, 6) => OpKind::MaxPool(d(r)),
        Some(7) if has(KINDS, 7) => OpKind::Mean(d(r)),
        Some(8) if has(KINDS, 8) => OpKind::Softmax(d(r)),
        Some(9) if has(KINDS, 9) => OpKind::Logistic(d(r)),
        Some(10) if has(KINDS, 10) => OpKind::Tanh(d(r)),
        Some(11) if has(KINDS, 11) => OpKind::Pad {
            pads: d(r),
            value: d(r),
        },
        Some(12) if has(KINDS, 12) => OpKind::Concat { axis: d(r) },
        Some(13) if has(KINDS, 13) => OpKind::Transpose { perm: d(r) },
        Some(14) if has(KINDS, 14) => OpKind::Requantize(d(r)),
        Some(15) if has(KINDS, 15) => OpKind::Copy,
        Some(16) if has(KINDS, 16) => OpKind::Float(d(r)),
        Some(17) if has(KINDS, 17) => OpKind::Quantize(d(r)),
        Some(18) if has(KINDS, 18) => OpKind::Dequantize(d(r)),
        Some(19) if has(KINDS, 19) => OpKind::Constant { data: d(r) },
        Some(20) if has(KINDS, 20) => OpKind::Conv2dPacked {
            conv: d(r),
            encoding: d(r),
        },
        Some(21) if has(KINDS, 21) => OpKind::DepthwiseConv2dPacked {
            conv: d(r),
            depth_multiplier: d(r),
            encoding: d(r),
        },
        Some(22) if has(KINDS, 22) => OpKind::FullyConnectedPacked {
            fc: d(r),
            encoding: d(r),
        },
        // A variant left out of `KINDS`, or a failed read.
        _ => {
            r.fail();
            OpKind::Copy
        }
    }
}

impl Decode<'_> for OpKind {
    fn decode(r: &mut Reader<'_>) -> Self {
        kind::<ALL_KINDS>(r)
    }
}

/// Reads an [`Op`] whose kind is one of `KINDS` (see [`take_op`]).
#[inline(never)]
fn op<'a, const KINDS: u32>(r: &mut Reader<'a>) -> Op<'a> {
    Op {
        name: d(r),
        kind: kind::<KINDS>(r),
        inputs: d(r),
        output: d(r),
    }
}

impl<'a> Decode<'a> for Op<'a> {
    fn decode(r: &mut Reader<'a>) -> Self {
        op::<ALL_KINDS>(r)
    }
}

/// Like [`crate::take`] for an [`Op`], but an op whose kind's variant index
/// `i` has bit `i` clear in `KINDS` does not decode ([`ALL_KINDS`]: every
/// op decodes, as with `take`). Check [`peek_op_kind`] first to tell such
/// an op from corrupt bytes.
pub fn take_op<'a, const KINDS: u32>(
    bytes: &'a [u8],
) -> Result<(Op<'a>, &'a [u8]), crate::FormatError> {
    let mut r = Reader::new(bytes);
    let value = op::<KINDS>(&mut r);
    if r.failed() {
        Err(crate::FormatError::Decode)
    } else {
        Ok((value, r.rest()))
    }
}

/// The variant index of the kind of the [`Op`] at the front of `bytes`,
/// read without decoding the rest; `None` if its name or index does not
/// decode.
pub fn peek_op_kind(bytes: &[u8]) -> Option<u32> {
    let mut r = Reader::new(bytes);
    let _name: &str = d(&mut r);
    let index = r.u32();
    (!r.failed()).then_some(index)
}

impl Decode<'_> for FloatOp {
    #[inline(never)]
    fn decode(r: &mut Reader<'_>) -> Self {
        match r.variant(15) {
            Some(0) => FloatOp::Conv2d(d(r)),
            Some(1) => FloatOp::DepthwiseConv2d {
                conv: d(r),
                depth_multiplier: d(r),
            },
            Some(2) => FloatOp::FullyConnected(d(r)),
            Some(3) => FloatOp::Add {
                act_min: d(r),
                act_max: d(r),
            },
            Some(4) => FloatOp::Mul {
                act_min: d(r),
                act_max: d(r),
            },
            Some(5) => FloatOp::AvgPool(d(r)),
            Some(6) => FloatOp::MaxPool(d(r)),
            Some(8) => FloatOp::Softmax,
            Some(9) => FloatOp::Logistic,
            Some(10) => FloatOp::Tanh,
            Some(11) => FloatOp::Clamp {
                min: d(r),
                max: d(r),
            },
            Some(12) => FloatOp::Pad {
                pads: d(r),
                value: d(r),
            },
            Some(13) => FloatOp::Concat { axis: d(r) },
            Some(14) => FloatOp::Transpose { perm: d(r) },
            // 7, and a failed read.
            _ => FloatOp::Mean,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::{take, MAX_IO, MAX_OP_INPUTS};

    fn blob(o: u32) -> BlobRef {
        BlobRef {
            offset: o * 16,
            len: o * 1000 + 3,
        }
    }

    fn act(t: u16) -> ActRef {
        ActRef {
            tensor: t,
            dtype: if t.is_multiple_of(2) {
                DType::I8
            } else {
                DType::F32
            },
            offset: 70_000 * u32::from(t),
            dims: [1, 200, 3, u32::MAX],
        }
    }

    fn conv() -> ConvSpec {
        ConvSpec {
            stride: [1, 65535],
            dilation: [2, 3],
            padding: [0, 300],
            input_offset: -128,
            output_offset: 127,
            act_min: i32::MIN,
            act_max: i32::MAX,
            filter: blob(1),
            filter_dims: [8, 3, 3, 4],
            bias: blob(2),
            multiplier: blob(3),
            shift: blob(4),
        }
    }

    fn fc() -> FcSpec {
        FcSpec {
            input_offset: 5,
            filter_offset: -6,
            output_offset: 7,
            act_min: -128,
            act_max: 127,
            filter: blob(5),
            bias: blob(6),
            multiplier: blob(7),
            shift: blob(8),
            in_features: 1 << 20,
            out_features: 10,
        }
    }

    fn fconv() -> FloatConvSpec {
        FloatConvSpec {
            stride: [1, 2],
            dilation: [1, 1],
            padding: [1, 0],
            act_min: f32::NEG_INFINITY,
            act_max: 6.0,
            filter: blob(9),
            filter_dims: [4, 1, 1, 2],
            bias: blob(10),
            weights: WeightType::F16,
        }
    }

    fn fpool() -> FloatPoolSpec {
        FloatPoolSpec {
            stride: [2, 2],
            filter: [3, 3],
            padding: [1, 1],
            act_min: -1.5,
            act_max: f32::INFINITY,
        }
    }

    fn pool() -> PoolSpec {
        PoolSpec {
            stride: [2, 1],
            filter: [4, 4],
            padding: [0, 1],
            act_min: -100,
            act_max: 100,
        }
    }

    fn lut() -> LutActSpec {
        LutActSpec {
            input_zero_point: -3,
            input_range_radius: 1000,
            input_multiplier: 1 << 30,
            input_left_shift: 7,
        }
    }

    /// One of every op kind and float op.
    fn kinds() -> Vec<OpKind> {
        let floats = [
            FloatOp::Conv2d(fconv()),
            FloatOp::DepthwiseConv2d {
                conv: fconv(),
                depth_multiplier: 3,
            },
            FloatOp::FullyConnected(FloatFcSpec {
                act_min: -2.0,
                act_max: 2.0,
                filter: blob(11),
                bias: blob(12),
                in_features: 128,
                out_features: 300,
                weights: WeightType::F32,
            }),
            FloatOp::Add {
                act_min: 0.0,
                act_max: 1.0,
            },
            FloatOp::Mul {
                act_min: -0.0,
                act_max: 1e30,
            },
            FloatOp::AvgPool(fpool()),
            FloatOp::MaxPool(fpool()),
            FloatOp::Mean,
            FloatOp::Softmax,
            FloatOp::Logistic,
            FloatOp::Tanh,
            FloatOp::Clamp { min: 0.0, max: 6.0 },
            FloatOp::Pad {
                pads: [[0, 1], [2, 3], [4, 500], [6, 7]],
                value: -0.25,
            },
            FloatOp::Concat { axis: 3 },
            FloatOp::Transpose { perm: [0, 2, 1, 3] },
        ];
        let mut k = std::vec![
            OpKind::Conv2d(conv()),
            OpKind::DepthwiseConv2d {
                conv: conv(),
                depth_multiplier: 2,
            },
            OpKind::FullyConnected(fc()),
            OpKind::Add(AddSpec {
                input1_offset: 1,
                input2_offset: -2,
                output_offset: 3,
                left_shift: 20,
                input1_multiplier: 1 << 30,
                input1_shift: -4,
                input2_multiplier: 12345678,
                input2_shift: -31,
                output_multiplier: 2,
                output_shift: 0,
                act_min: -128,
                act_max: 127,
            }),
            OpKind::Mul(MulSpec {
                input1_offset: 9,
                input2_offset: -9,
                output_offset: 0,
                output_multiplier: 1 << 29,
                output_shift: -1,
                act_min: -120,
                act_max: 120,
            }),
            OpKind::AvgPool(pool()),
            OpKind::MaxPool(pool()),
            OpKind::Mean(MeanSpec {
                multiplier: 1 << 30,
                shift: -3,
                input_zero_point: -1,
                output_zero_point: 2,
                same_quantization: true,
            }),
            OpKind::Softmax(SoftmaxSpec {
                input_multiplier: 1 << 30,
                input_left_shift: 26,
                diff_min: -248,
            }),
            OpKind::Logistic(lut()),
            OpKind::Tanh(lut()),
            OpKind::Pad {
                pads: [[0, 0], [1, 1], [2, 2], [0, 70000]],
                value: -128,
            },
            OpKind::Concat { axis: 3 },
            OpKind::Transpose { perm: [3, 2, 1, 0] },
            OpKind::Requantize(RequantSpec {
                input_zero_point: 5,
                multiplier: 1 << 30,
                shift: 1,
                output_zero_point: -5,
            }),
            OpKind::Copy,
        ];
        k.extend(floats.into_iter().map(OpKind::Float));
        k.extend([
            OpKind::Quantize(QuantSpec {
                scale: 0.5,
                zero_point: -128,
            }),
            OpKind::Dequantize(QuantSpec {
                scale: 1e-6,
                zero_point: 127,
            }),
            OpKind::Constant { data: blob(13) },
            OpKind::Conv2dPacked {
                conv: conv(),
                encoding: WeightEncoding::S4,
            },
            OpKind::DepthwiseConv2dPacked {
                conv: conv(),
                depth_multiplier: 1,
                encoding: WeightEncoding::SparseS8,
            },
            OpKind::FullyConnectedPacked {
                fc: fc(),
                encoding: WeightEncoding::S4,
            },
            OpKind::FullyConnectedPacked {
                fc: fc(),
                encoding: WeightEncoding::WideS8,
            },
        ]);
        k
    }

    fn ops() -> Vec<Op<'static>> {
        kinds()
            .into_iter()
            .enumerate()
            .map(|(i, kind)| {
                let n = i % (MAX_OP_INPUTS + 1);
                Op {
                    name: ["", "conv/1", "ünïcode", "a"][i % 4],
                    kind,
                    inputs: (0..n as u16).map(act).collect(),
                    output: act(i as u16),
                }
            })
            .collect()
    }

    fn header() -> GraphHeader<'static> {
        GraphHeader {
            name: "kws",
            producer: "mote 0.1.0",
            arena_len: 123_456,
            n_tensors: 300,
            n_ops: 2,
            inputs: [0u16].into_iter().collect(),
            outputs: (0..MAX_IO as u16).collect(),
            macs: u64::MAX - 5,
        }
    }

    fn tensor() -> TensorDesc<'static> {
        TensorDesc {
            name: "input_1",
            dtype: DType::F32,
            rank: 4,
            dims: [1, 49, 10, 1],
            offset: 1 << 31,
            scale: 0.007_812_5,
            zero_point: -128,
        }
    }

    /// Decodes `bytes` as a `T` with [`take`] and with postcard: both must
    /// succeed or fail together, and agree on the value (compared by its
    /// re-encoding, so that NaNs compare) and on the bytes left.
    fn same<'a, T>(bytes: &'a [u8]) -> bool
    where
        T: Decode<'a> + serde::Deserialize<'a> + serde::Serialize,
    {
        let ours = take::<T>(bytes);
        let theirs = postcard::take_from_bytes::<T>(bytes);
        match (ours, theirs) {
            (Ok((a, ra)), Ok((b, rb))) => {
                ra.len() == rb.len() && postcard::to_stdvec(&a).ok() == postcard::to_stdvec(&b).ok()
            }
            (Err(_), Err(_)) => true,
            _ => false,
        }
    }

    /// Every single-byte change and every truncation of `bytes`, and the
    /// bytes with junk appended.
    fn mutations(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = std::vec![bytes.to_vec()];
        for n in 0..bytes.len() {
            out.push(bytes[..n].to_vec());
        }
        for i in 0..bytes.len() {
            for v in [
                0,
                1,
                2,
                3,
                4,
                0x0F,
                0x10,
                0x7F,
                0x80,
                0x81,
                0xC0,
                0xFF,
                bytes[i] ^ 1,
            ] {
                let mut m = bytes.to_vec();
                m[i] = v;
                out.push(m);
            }
        }
        let mut longer = bytes.to_vec();
        longer.extend_from_slice(&[0xAA, 0x55]);
        out.push(longer);
        out
    }

    fn check<T>(value: &T)
    where
        T: for<'b> Decode<'b> + serde::de::DeserializeOwned + serde::Serialize,
        T: core::fmt::Debug + PartialEq,
    {
        let bytes = postcard::to_stdvec(value).expect("encodes");
        let (back, rest) = take::<T>(&bytes).expect("decodes");
        assert_eq!(&back, value);
        assert!(rest.is_empty());
        for m in mutations(&bytes) {
            assert!(same::<T>(&m), "{value:?}: disagree on {m:02x?}");
        }
    }

    #[test]
    fn every_record_decodes_as_postcard_does() {
        for op in ops() {
            let bytes = postcard::to_stdvec(&op).expect("encodes");
            let (back, rest) = take::<Op<'_>>(&bytes).expect("decodes");
            assert_eq!(back, op);
            assert!(rest.is_empty());
            for m in mutations(&bytes) {
                assert!(same::<Op<'_>>(&m), "{op:?}: disagree on {m:02x?}");
            }
        }
        let bytes = postcard::to_stdvec(&header()).expect("encodes");
        assert_eq!(
            take::<GraphHeader<'_>>(&bytes).expect("decodes").0,
            header()
        );
        for m in mutations(&bytes) {
            assert!(same::<GraphHeader<'_>>(&m), "header: disagree on {m:02x?}");
        }
        let bytes = postcard::to_stdvec(&tensor()).expect("encodes");
        assert_eq!(take::<TensorDesc<'_>>(&bytes).expect("decodes").0, tensor());
        for m in mutations(&bytes) {
            assert!(same::<TensorDesc<'_>>(&m), "tensor: disagree on {m:02x?}");
        }
        check(&WeightEncoding::S4);
        check(&WeightEncoding::WideS8);
        check(&u64::MAX);
        check(&u16::MAX);
        check(&i32::MIN);
        check(&true);
    }

    #[test]
    fn random_bytes_decode_as_postcard_does() {
        // A fixed xorshift stream: short records of small bytes, so that
        // many of them get past the first fields.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 96) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let v = next();
                    if v.is_multiple_of(4) {
                        (v >> 8) as u8
                    } else {
                        (v >> 8) as u8 % 24
                    }
                })
                .collect();
            assert!(same::<Op<'_>>(&bytes), "{bytes:02x?}");
            assert!(same::<GraphHeader<'_>>(&bytes), "{bytes:02x?}");
            assert!(same::<TensorDesc<'_>>(&bytes), "{bytes:02x?}");
        }
    }
}

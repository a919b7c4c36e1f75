//! Float models built by hand (no tool involved): an all-f32 network with
//! f32 and f16 weights, and a mixed one crossing int8 <-> f32 boundaries with
//! Dequantize and Quantize. Both run in the runtime and are compared with
//! straightforward references.
//! Without the runtime's `float` feature only the refusal of float models
//! is tested.
#![cfg_attr(not(feature = "float"), allow(dead_code, unused_imports))]

use mote_format::{
    crc32, put, ActRef, BlobRef, DType, FloatConvSpec, FloatFcSpec, FloatOp, GraphHeader, Header,
    Op, OpKind, QuantSpec, TensorDesc, WeightType, HEADER_LEN, VERSION, WEIGHTS_ALIGN,
};
use mote_kernels::f16;
use mote_runtime::{Error, Hook, Interpreter, Model};

// ------------------------------------------------------------- building

/// 16-byte aligned bytes (model files and arenas).
struct Aligned {
    words: Vec<u128>,
    len: usize,
}

impl Aligned {
    fn zeroed(len: usize) -> Self {
        Aligned {
            words: vec![0; len.div_ceil(16)],
            len,
        }
    }

    fn from(bytes: &[u8]) -> Self {
        let mut a = Aligned::zeroed(bytes.len());
        a.bytes_mut().copy_from_slice(bytes);
        a
    }

    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.words)[..self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.words)[..self.len]
    }
}

/// Lays out a `.mote` file the way the tool does: 32-byte header, postcard
/// graph (header, tensors, ops), zero padding to 16, weight blob whose
/// ranges start 16-byte aligned.
#[derive(Default)]
struct Builder {
    tensors: Vec<TensorDesc<'static>>,
    ops: Vec<Op<'static>>,
    blob: Vec<u8>,
    arena_len: u32,
    inputs: Vec<u16>,
    outputs: Vec<u16>,
}

impl Builder {
    /// A new tensor at the end of the arena (16-byte aligned).
    fn tensor(&mut self, dtype: DType, rank: u8, dims: [u32; 4], scale: f32, zp: i32) -> ActRef {
        let offset = self.arena_len.div_ceil(16) * 16;
        let elements: u32 = dims.iter().product();
        self.arena_len = offset + elements * dtype.size() as u32;
        self.tensors.push(TensorDesc {
            name: "t",
            dtype,
            rank,
            dims,
            offset,
            scale,
            zero_point: zp,
        });
        ActRef {
            tensor: (self.tensors.len() - 1) as u16,
            dtype,
            offset,
            dims,
        }
    }

    fn f32_tensor(&mut self, rank: u8, dims: [u32; 4]) -> ActRef {
        self.tensor(DType::F32, rank, dims, 1.0, 0)
    }

    fn raw(&mut self, bytes: &[u8]) -> BlobRef {
        let offset = self.blob.len().div_ceil(WEIGHTS_ALIGN) * WEIGHTS_ALIGN;
        self.blob.resize(offset, 0);
        self.blob.extend_from_slice(bytes);
        BlobRef {
            offset: offset as u32,
            len: bytes.len() as u32,
        }
    }

    fn f32s(&mut self, v: &[f32]) -> BlobRef {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.raw(&bytes)
    }

    fn f16s(&mut self, v: &[f16]) -> BlobRef {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
        self.raw(&bytes)
    }

    fn op(&mut self, kind: OpKind, inputs: &[ActRef], output: ActRef) {
        self.ops.push(Op {
            name: "op",
            kind,
            inputs: inputs.iter().copied().collect(),
            output,
        });
    }

    fn finish(&self) -> Vec<u8> {
        let header = GraphHeader {
            name: "float_model",
            producer: "runtime/tests/float_model.rs",
            arena_len: self.arena_len,
            n_tensors: self.tensors.len() as u16,
            n_ops: self.ops.len() as u16,
            inputs: self.inputs.iter().copied().collect(),
            outputs: self.outputs.iter().copied().collect(),
            macs: 0,
        };
        let mut graph = Vec::new();
        put(&header, &mut graph).unwrap();
        for t in &self.tensors {
            put(t, &mut graph).unwrap();
        }
        for o in &self.ops {
            put(o, &mut graph).unwrap();
        }
        let weights_offset = (HEADER_LEN + graph.len()).div_ceil(WEIGHTS_ALIGN) * WEIGHTS_ALIGN;
        let total = weights_offset + self.blob.len();
        let mut out = vec![0u8; total];
        out[HEADER_LEN..HEADER_LEN + graph.len()].copy_from_slice(&graph);
        out[weights_offset..].copy_from_slice(&self.blob);
        let h = Header {
            version: VERSION,
            flags: 0,
            graph_len: graph.len() as u32,
            weights_offset: weights_offset as u32,
            weights_len: self.blob.len() as u32,
            body_len: (total - HEADER_LEN) as u32,
            crc32: crc32(&out[HEADER_LEN..]),
        };
        out[..HEADER_LEN].copy_from_slice(&h.to_bytes());
        out
    }
}

/// Deterministic values in [-1, 1).
fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

// -------------------------------------------------------- all-float model

const H: usize = 5;
const W: usize = 5;
const C: usize = 2;
const OC: usize = 3;
const K: usize = 3;
const CLASSES: usize = 4;
const FEATURES: usize = H * W * OC;

struct FloatNet {
    file: Vec<u8>,
    conv_w: Vec<f32>,
    conv_b: Vec<f32>,
    fc_w: Vec<f16>,
    fc_b: Vec<f32>,
}

/// The FC weights before rounding to f16 (small, so the softmax is not
/// saturated).
fn fc_weights_f32() -> Vec<f32> {
    data(CLASSES * FEATURES, 3)
        .iter()
        .map(|v| v * 0.2)
        .collect()
}

/// x [1,5,5,2] f32 -> Conv2d 3x3 pad 1 (f32 weights, bias) -> Clamp ReLU ->
/// FullyConnected 75 -> 4 (f16 weights, bias) -> Softmax.
fn float_net() -> FloatNet {
    let mut b = Builder::default();
    let x = b.f32_tensor(4, [1, H as u32, W as u32, C as u32]);
    let conv = b.f32_tensor(4, [1, H as u32, W as u32, OC as u32]);
    let relu = b.f32_tensor(4, [1, H as u32, W as u32, OC as u32]);
    let logits = b.f32_tensor(2, [1, 1, 1, CLASSES as u32]);
    let probs = b.f32_tensor(2, [1, 1, 1, CLASSES as u32]);
    let conv_w = data(OC * K * K * C, 1);
    let conv_b = data(OC, 2);
    let fc_w: Vec<f16> = fc_weights_f32().iter().map(|&v| f16::from_f32(v)).collect();
    let fc_b = data(CLASSES, 4);
    let filter = b.f32s(&conv_w);
    let bias = b.f32s(&conv_b);
    b.op(
        OpKind::Float(FloatOp::Conv2d(FloatConvSpec {
            stride: [1, 1],
            dilation: [1, 1],
            padding: [1, 1],
            act_min: f32::NEG_INFINITY,
            act_max: f32::INFINITY,
            filter,
            filter_dims: [OC as u32, K as u32, K as u32, C as u32],
            bias,
            weights: WeightType::F32,
        })),
        &[x],
        conv,
    );
    b.op(
        OpKind::Float(FloatOp::Clamp {
            min: 0.0,
            max: f32::INFINITY,
        }),
        &[conv],
        relu,
    );
    let filter = b.f16s(&fc_w);
    let bias = b.f32s(&fc_b);
    b.op(
        OpKind::Float(FloatOp::FullyConnected(FloatFcSpec {
            act_min: f32::NEG_INFINITY,
            act_max: f32::INFINITY,
            filter,
            bias,
            in_features: FEATURES as u32,
            out_features: CLASSES as u32,
            weights: WeightType::F16,
        })),
        &[relu],
        logits,
    );
    b.op(OpKind::Float(FloatOp::Softmax), &[logits], probs);
    b.inputs = vec![x.tensor];
    b.outputs = vec![probs.tensor];
    FloatNet {
        file: b.finish(),
        conv_w,
        conv_b,
        fc_w,
        fc_b,
    }
}

/// The same network in f64 with naive loops (f16 weights widened): logits
/// and probabilities.
fn float_net_reference(n: &FloatNet, x: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let act = relu_features(n, x);
    let logits: Vec<f64> = (0..CLASSES)
        .map(|o| {
            f64::from(n.fc_b[o])
                + (0..FEATURES)
                    .map(|i| act[i] * f64::from(n.fc_w[o * FEATURES + i].to_f32()))
                    .sum::<f64>()
        })
        .collect();
    let m = logits.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
    let s: f64 = e.iter().sum();
    (logits, e.iter().map(|v| v / s).collect())
}

/// Records each op's output byte count.
#[derive(Default)]
struct Sizes(Vec<(u16, u16, usize)>);

impl Hook for Sizes {
    fn after_op(&mut self, index: u16, tensor: u16, output: &[u8]) {
        self.0.push((index, tensor, output.len()));
    }
}

#[test]
#[cfg(feature = "float")]
fn float_network_matches_naive_reference() {
    let net = float_net();
    let file = Aligned::from(&net.file);
    let model = Model::parse(file.bytes()).expect("the float model parses");
    assert!(model.has_f32());
    let x = data(H * W * C, 5);
    let (_, want) = float_net_reference(&net, &x);

    let mut arena = Aligned::zeroed(model.arena_len());
    let mut interp = Interpreter::new(&model, arena.bytes_mut()).unwrap();
    interp.set_input_f32(0, &x).unwrap();
    let mut sizes = Sizes::default();
    interp.invoke_with(&mut sizes).unwrap();
    // The hook sees f32 outputs as 4 bytes per element.
    assert_eq!(
        sizes.0,
        vec![
            (0, 1, FEATURES * 4),
            (1, 2, FEATURES * 4),
            (2, 3, CLASSES * 4),
            (3, 4, CLASSES * 4)
        ]
    );
    let got = interp.output_f32_slice(0).unwrap().to_vec();
    assert_eq!(got.len(), CLASSES);
    for (g, w) in got.iter().zip(&want) {
        assert!((f64::from(*g) - w).abs() < 1e-5, "{g} vs {w}");
    }
    let sum: f32 = got.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "softmax sums to {sum}");
    // The probabilities are not degenerate (the test would prove little).
    assert!(got.iter().all(|&p| p > 1e-3 && p < 0.999), "{got:?}");

    // output_f32 copies an f32 output; input_f32_mut writes the input in place.
    let mut copied = [0.0f32; CLASSES];
    interp.output_f32(0, &mut copied).unwrap();
    assert_eq!(copied[..], got[..]);
    interp.input_f32_mut(0).unwrap().copy_from_slice(&x);
    interp.invoke().unwrap();
    assert_eq!(interp.output_f32_slice(0).unwrap(), &got[..]);

    // int8 accessors refuse f32 tensors; the float helpers check lengths.
    assert_eq!(interp.input_mut(0).map(|_| ()), Err(Error::WrongDType));
    assert_eq!(interp.output(0).map(|_| ()), Err(Error::WrongDType));
    assert!(matches!(
        interp.set_input_f32(0, &x[1..]),
        Err(Error::Kernel { op: u16::MAX, .. })
    ));
    assert!(matches!(
        interp.output_f32(0, &mut [0.0; CLASSES + 1]),
        Err(Error::Kernel { op: u16::MAX, .. })
    ));
    assert_eq!(
        interp.input_f32_mut(1).map(|_| ()),
        Err(Error::NoSuchTensor(1))
    );
}

#[test]
#[cfg(feature = "float")]
fn float_model_wants_an_aligned_arena() {
    let net = float_net();
    let file = Aligned::from(&net.file);
    let model = Model::parse(file.bytes()).unwrap();
    let mut arena = Aligned::zeroed(model.arena_len() + 16);
    for shift in [1, 4, 8, 15] {
        let misaligned = &mut arena.bytes_mut()[shift..];
        assert_eq!(
            Interpreter::new(&model, misaligned).map(|_| ()),
            Err(Error::MisalignedArena)
        );
    }
    assert!(Interpreter::new(&model, &mut arena.bytes_mut()[16..]).is_ok());
    // Too small is reported before misaligned.
    assert!(matches!(
        Interpreter::new(&model, &mut arena.bytes_mut()[1..8]),
        Err(Error::ArenaTooSmall { .. })
    ));
}

#[test]
#[cfg(feature = "float")]
fn f16_weights_stay_within_f16_rounding_of_f32_weights() {
    // The f16 FC of the network against the same FC with the original f32
    // weights: the logits differ by at most 2^-11 of Σ |a w| (each weight
    // moves by at most 2^-11 of itself).
    let net = float_net();
    let x = data(H * W * C, 6);
    let file = Aligned::from(&net.file);
    let model = Model::parse(file.bytes()).unwrap();
    let mut arena = Aligned::zeroed(model.arena_len());
    let mut interp = Interpreter::new(&model, arena.bytes_mut()).unwrap();
    interp.set_input_f32(0, &x).unwrap();
    interp.invoke().unwrap();
    let (logits, _) = float_net_reference(&net, &x);
    // The logits (op 2's output), read through the hook.
    struct Logits(Vec<f32>);
    impl Hook for Logits {
        fn after_op(&mut self, index: u16, _: u16, output: &[u8]) {
            if index == 2 {
                self.0 = output
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect();
            }
        }
    }
    let mut l = Logits(Vec::new());
    interp.invoke_with(&mut l).unwrap();
    assert_eq!(l.0.len(), CLASSES);
    let f32_weights = fc_weights_f32();
    let act = relu_features(&net, &x);
    let mut rounding_seen = false;
    for (o, &got) in l.0.iter().enumerate() {
        assert!((f64::from(got) - logits[o]).abs() < 1e-5);
        // Against the unrounded f32 weights.
        let with_f32: f64 = f64::from(net.fc_b[o])
            + (0..FEATURES)
                .map(|i| act[i] * f64::from(f32_weights[o * FEATURES + i]))
                .sum::<f64>();
        let bound: f64 = (0..FEATURES)
            .map(|i| (act[i] * f64::from(f32_weights[o * FEATURES + i])).abs())
            .sum::<f64>()
            * 2f64.powi(-11);
        assert!(
            (f64::from(got) - with_f32).abs() <= bound + 1e-5,
            "{got} vs {with_f32} (bound {bound})"
        );
        rounding_seen |= (f64::from(got) - with_f32).abs() > 1e-6;
    }
    assert!(rounding_seen, "f16 rounding should change some logit");
}

/// The ReLU features of the network, in f64.
fn relu_features(n: &FloatNet, x: &[f32]) -> Vec<f64> {
    let mut act = vec![0.0f64; FEATURES];
    for y in 0..H {
        for xx in 0..W {
            for o in 0..OC {
                let mut acc = f64::from(n.conv_b[o]);
                for ky in 0..K {
                    for kx in 0..K {
                        let (iy, ix) = (y as i64 + ky as i64 - 1, xx as i64 + kx as i64 - 1);
                        if iy < 0 || ix < 0 || iy >= H as i64 || ix >= W as i64 {
                            continue;
                        }
                        for c in 0..C {
                            acc += f64::from(x[((iy as usize) * W + ix as usize) * C + c])
                                * f64::from(n.conv_w[((o * K + ky) * K + kx) * C + c]);
                        }
                    }
                }
                act[(y * W + xx) * OC + o] = acc.max(0.0);
            }
        }
    }
    act
}

// ------------------------------------------------------------ mixed model

const N: usize = 16;
const IN_SCALE: f32 = 0.05;
const IN_ZP: i32 = 3;
const OUT_SCALE: f32 = 1.0 / 256.0;
const OUT_ZP: i32 = -128;

/// x int8 [1,16] -> Dequantize -> Logistic (f32) -> Quantize -> y int8 [1,16].
fn mixed_net() -> Vec<u8> {
    let mut b = Builder::default();
    let x = b.tensor(DType::I8, 2, [1, 1, 1, N as u32], IN_SCALE, IN_ZP);
    let xf = b.f32_tensor(2, [1, 1, 1, N as u32]);
    let yf = b.f32_tensor(2, [1, 1, 1, N as u32]);
    let y = b.tensor(DType::I8, 2, [1, 1, 1, N as u32], OUT_SCALE, OUT_ZP);
    b.op(
        OpKind::Dequantize(QuantSpec {
            scale: IN_SCALE,
            zero_point: IN_ZP,
        }),
        &[x],
        xf,
    );
    b.op(OpKind::Float(FloatOp::Logistic), &[xf], yf);
    b.op(
        OpKind::Quantize(QuantSpec {
            scale: OUT_SCALE,
            zero_point: OUT_ZP,
        }),
        &[yf],
        y,
    );
    b.inputs = vec![x.tensor];
    b.outputs = vec![y.tensor];
    b.finish()
}

#[test]
#[cfg(feature = "float")]
fn mixed_int8_float_int8_matches_closed_form() {
    let file = Aligned::from(&mixed_net());
    let model = Model::parse(file.bytes()).unwrap();
    assert!(model.has_f32());
    let mut arena = Aligned::zeroed(model.arena_len());
    let mut interp = Interpreter::new(&model, arena.bytes_mut()).unwrap();
    for q0 in [-128i32, -64, -16, 0, 16, 64, 112] {
        let q: Vec<i8> = (0..N as i32).map(|i| (q0 + i) as i8).collect();
        interp.input_mut(0).unwrap().copy_from_slice(&q);
        interp.invoke().unwrap();
        let y = interp.output(0).unwrap().to_vec();
        for (&qi, &yi) in q.iter().zip(&y) {
            let x = f64::from(IN_SCALE) * f64::from(i32::from(qi) - IN_ZP);
            let s = 1.0 / (1.0 + (-x).exp());
            let want = ((s / f64::from(OUT_SCALE)).round() as i32 + OUT_ZP).clamp(-128, 127);
            // Only a sigmoid within an ulp of a rounding tie may differ by one.
            assert!(
                (i32::from(yi) - want).abs() <= 1,
                "q={qi}: got {yi}, want {want}"
            );
            let frac = (s / f64::from(OUT_SCALE)).fract();
            if (frac - 0.5).abs() > 1e-4 {
                assert_eq!(i32::from(yi), want, "q={qi}");
            }
        }
    }
    // The float helpers quantize into the int8 input and dequantize the
    // int8 output.
    let xs: Vec<f32> = (0..N).map(|i| i as f32 * 0.25 - 2.0).collect();
    interp.set_input_f32(0, &xs).unwrap();
    let q = interp.input_mut(0).unwrap().to_vec();
    for (&x, &qi) in xs.iter().zip(&q) {
        assert_eq!(i32::from(qi), (x / IN_SCALE).round() as i32 + IN_ZP);
    }
    interp.invoke().unwrap();
    let mut ys = [0.0f32; N];
    interp.output_f32(0, &mut ys).unwrap();
    for (&x, &yv) in xs.iter().zip(&ys) {
        let s = 1.0 / (1.0 + (-f64::from(x)).exp());
        assert!(
            (f64::from(yv) - s).abs() <= f64::from(OUT_SCALE),
            "{x}: {yv} vs {s}"
        );
    }
    assert_eq!(interp.input_f32_mut(0).map(|_| ()), Err(Error::WrongDType));
    assert_eq!(
        interp.output_f32_slice(0).map(|_| ()),
        Err(Error::WrongDType)
    );
}

#[test]
fn int8_only_models_take_any_arena() {
    // No f32 tensor: the arena may start anywhere (as before float support).
    let mut b = Builder::default();
    let x = b.tensor(DType::I8, 1, [1, 1, 1, 8], 1.0, 0);
    let y = b.tensor(DType::I8, 1, [1, 1, 1, 8], 1.0, 0);
    b.op(OpKind::Copy, &[x], y);
    b.inputs = vec![x.tensor];
    b.outputs = vec![y.tensor];
    let file = Aligned::from(&b.finish());
    let model = Model::parse(file.bytes()).unwrap();
    assert!(!model.has_f32());
    let mut arena = Aligned::zeroed(model.arena_len() + 1);
    let mut interp = Interpreter::new(&model, &mut arena.bytes_mut()[1..]).unwrap();
    interp
        .input_mut(0)
        .unwrap()
        .copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, -8]);
    interp.invoke().unwrap();
    assert_eq!(interp.output(0).unwrap(), &[1, 2, 3, 4, 5, 6, 7, -8]);
}

#[test]
#[cfg(feature = "float")]
fn float_copy_and_constant_move_four_bytes_per_element() {
    // Constant (f32 data) -> Add with the input -> Copy to the output.
    let mut b = Builder::default();
    let x = b.f32_tensor(1, [1, 1, 1, 3]);
    let k = b.f32_tensor(1, [1, 1, 1, 3]);
    let s = b.f32_tensor(1, [1, 1, 1, 3]);
    let y = b.f32_tensor(1, [1, 1, 1, 3]);
    let data = b.f32s(&[0.5, -1.0, 100.0]);
    b.op(OpKind::Constant { data }, &[], k);
    b.op(
        OpKind::Float(FloatOp::Add {
            act_min: -10.0,
            act_max: 10.0,
        }),
        &[x, k],
        s,
    );
    b.op(OpKind::Copy, &[s], y);
    b.inputs = vec![x.tensor];
    b.outputs = vec![y.tensor];
    let file = Aligned::from(&b.finish());
    let model = Model::parse(file.bytes()).unwrap();
    let mut arena = Aligned::zeroed(model.arena_len());
    let mut interp = Interpreter::new(&model, arena.bytes_mut()).unwrap();
    interp.set_input_f32(0, &[1.0, 2.0, 3.0]).unwrap();
    interp.invoke().unwrap();
    assert_eq!(interp.output_f32_slice(0).unwrap(), &[1.5, 1.0, 10.0]);
}

#[test]
#[cfg(feature = "float")]
fn dtype_mismatches_are_bad_op() {
    // The mixed model with one element type changed at a time.
    let base = mixed_net();
    let parse = |bytes: &[u8]| Model::parse(Aligned::from(bytes).bytes()).map(|_| ());
    assert_eq!(parse(&base), Ok(()));
    let edit = |f: &dyn Fn(&mut Builder)| {
        let mut b = Builder::default();
        let x = b.tensor(DType::I8, 2, [1, 1, 1, N as u32], IN_SCALE, IN_ZP);
        let xf = b.f32_tensor(2, [1, 1, 1, N as u32]);
        let q = QuantSpec {
            scale: IN_SCALE,
            zero_point: IN_ZP,
        };
        b.op(OpKind::Dequantize(q), &[x], xf);
        b.inputs = vec![0];
        b.outputs = vec![1];
        f(&mut b);
        parse(&b.finish())
    };
    assert_eq!(edit(&|_| {}), Ok(()));
    // Dequantize reading f32 or writing int8.
    assert_eq!(
        edit(&|b| b.ops[0].inputs[0].dtype = DType::F32),
        Err(Error::BadOp(0))
    );
    assert_eq!(
        edit(&|b| b.ops[0].output.dtype = DType::I8),
        Err(Error::BadOp(0))
    );
    // Quantize the wrong way round.
    assert_eq!(
        edit(&|b| {
            let q = QuantSpec {
                scale: 1.0,
                zero_point: 0,
            };
            b.ops[0].kind = OpKind::Quantize(q);
        }),
        Err(Error::BadOp(0))
    );
    // Boundary parameters.
    for (scale, zero_point) in [
        (0.0, 0),
        (-1.0, 0),
        (f32::NAN, 0),
        (f32::INFINITY, 0),
        (1.0, 128),
    ] {
        assert_eq!(
            edit(&|b| b.ops[0].kind = OpKind::Dequantize(QuantSpec { scale, zero_point })),
            Err(Error::BadOp(0))
        );
    }
    // A float op on int8 data, an int8 op on f32 data.
    assert_eq!(
        edit(&|b| {
            let (x, y) = (b.ops[0].inputs[0], b.ops[0].output);
            let y8 = ActRef {
                dtype: DType::I8,
                ..y
            };
            b.ops[0] = Op {
                name: "tanh",
                kind: OpKind::Float(FloatOp::Tanh),
                inputs: [x].into_iter().collect(),
                output: y8,
            };
        }),
        Err(Error::BadOp(0))
    );
    assert_eq!(
        edit(&|b| {
            let y = b.ops[0].output;
            b.ops.push(Op {
                name: "copy",
                kind: OpKind::Copy,
                inputs: [y].into_iter().collect(),
                output: ActRef {
                    dtype: DType::I8,
                    ..b.ops[0].inputs[0]
                },
            });
        }),
        Err(Error::BadOp(1))
    );
    // An f32 reference off 4-byte alignment, in an op or in the table.
    assert_eq!(
        edit(&|b| {
            b.arena_len += 16;
            b.ops[0].output.offset += 2;
        }),
        Err(Error::BadOp(0))
    );
    assert_eq!(
        edit(&|b| {
            b.arena_len += 16;
            b.tensors[1].offset += 2;
        }),
        Err(Error::BadTensor(1))
    );
    // The arena must hold 4 bytes per f32 element.
    assert_eq!(edit(&|b| b.arena_len -= 1), Err(Error::BadTensor(1)));
}

#[test]
#[cfg(not(feature = "float"))]
fn float_models_are_refused_without_the_float_feature() {
    let parse = |bytes: &[u8]| Model::parse(Aligned::from(bytes).bytes()).map(|_| ());
    assert_eq!(parse(&float_net().file), Err(Error::BadOp(0)));
    assert_eq!(parse(&mixed_net()), Err(Error::BadOp(0)));
}

// ------------------------------------------------- every float op, wired

/// Runs a one-op float model: `ins` are its inputs (dims, data), `out` the
/// output dims, `kind` makes the op (adding its weights to the blob).
#[cfg(feature = "float")]
fn run_single(
    ins: &[([u32; 4], &[f32])],
    out: [u32; 4],
    kind: impl FnOnce(&mut Builder) -> OpKind,
) -> Vec<f32> {
    let mut b = Builder::default();
    let refs: Vec<ActRef> = ins.iter().map(|(d, _)| b.f32_tensor(4, *d)).collect();
    let o = b.f32_tensor(4, out);
    let k = kind(&mut b);
    b.op(k, &refs, o);
    b.inputs = refs.iter().map(|r| r.tensor).collect();
    b.outputs = vec![o.tensor];
    let file = Aligned::from(&b.finish());
    let model = Model::parse(file.bytes()).expect("the one-op model parses");
    let mut arena = Aligned::zeroed(model.arena_len());
    let mut interp = Interpreter::new(&model, arena.bytes_mut()).unwrap();
    for (i, (_, x)) in ins.iter().enumerate() {
        interp.set_input_f32(i, x).unwrap();
    }
    interp.invoke().unwrap();
    interp.output_f32_slice(0).unwrap().to_vec()
}

#[cfg(feature = "float")]
fn us(d: [u32; 4]) -> [usize; 4] {
    d.map(|v| v as usize)
}

/// Each float op through the runtime equals its kernel called directly with
/// the parameters the op record carries (the dispatch wires them faithfully).
#[test]
#[cfg(feature = "float")]
fn every_float_op_runs_its_kernel_with_its_parameters() {
    use mote_format::FloatPoolSpec;
    use mote_kernels::{self as k, FloatAct, Weights};

    let xd = [1, 6, 5, 3];
    let x = data(90, 11);
    let act = FloatAct::new(-0.4, 0.6);
    let none = (f32::NEG_INFINITY, f32::INFINITY);

    // Conv2d: f16 weights, stride 2, dilation 1x2, padding 1, clamp.
    let (od, fd) = ([1, 3, 2, 4], [4, 3, 2, 3]);
    let w: Vec<f16> = data(72, 12).iter().map(|&v| f16::from_f32(v)).collect();
    let bias = data(4, 13);
    let got = run_single(&[(xd, &x)], od, |b| {
        let (filter, bias) = (b.f16s(&w), b.f32s(&bias));
        OpKind::Float(FloatOp::Conv2d(FloatConvSpec {
            stride: [2, 2],
            dilation: [1, 2],
            padding: [1, 1],
            act_min: act.min,
            act_max: act.max,
            filter,
            filter_dims: fd,
            bias,
            weights: WeightType::F16,
        }))
    });
    let mut want = vec![0.0; 24];
    let p = k::FloatConvParams {
        stride: [2, 2],
        dilation: [1, 2],
        padding: [1, 1],
        act,
    };
    k::conv2d_f32(
        &p,
        &x,
        us(xd),
        Weights::F16(&w),
        us(fd),
        &bias,
        &mut want,
        us(od),
    )
    .unwrap();
    assert_eq!(got, want, "Conv2d");

    // DepthwiseConv2d: multiplier 2, f32 weights, no bias.
    let (od, fd) = ([1, 6, 5, 6], [1, 3, 3, 6]);
    let w = data(54, 14);
    let got = run_single(&[(xd, &x)], od, |b| {
        let filter = b.f32s(&w);
        OpKind::Float(FloatOp::DepthwiseConv2d {
            conv: FloatConvSpec {
                stride: [1, 1],
                dilation: [1, 1],
                padding: [1, 1],
                act_min: none.0,
                act_max: none.1,
                filter,
                filter_dims: fd,
                bias: BlobRef::default(),
                weights: WeightType::F32,
            },
            depth_multiplier: 2,
        })
    });
    let mut want = vec![0.0; 180];
    let p = k::FloatConvParams {
        stride: [1, 1],
        dilation: [1, 1],
        padding: [1, 1],
        act: FloatAct::NONE,
    };
    k::depthwise_conv2d_f32(
        &p,
        2,
        &x,
        us(xd),
        Weights::F32(&w),
        us(fd),
        &[],
        &mut want,
        us(od),
    )
    .unwrap();
    assert_eq!(got, want, "DepthwiseConv2d");

    // FullyConnected: 6 rows of 15 features -> 6 rows of 7.
    let w = data(105, 15);
    let bias = data(7, 16);
    let od = [1, 1, 6, 7];
    let got = run_single(&[(xd, &x)], od, |b| {
        let (filter, bias) = (b.f32s(&w), b.f32s(&bias));
        OpKind::Float(FloatOp::FullyConnected(FloatFcSpec {
            act_min: act.min,
            act_max: act.max,
            filter,
            bias,
            in_features: 15,
            out_features: 7,
            weights: WeightType::F32,
        }))
    });
    let mut want = vec![0.0; 42];
    k::fully_connected_f32(act, &x, 6, 15, Weights::F32(&w), &bias, &mut want, 7).unwrap();
    assert_eq!(got, want, "FullyConnected");

    // Add and Mul, broadcasting a [1, 1, 5, 1] operand.
    let yd = [1, 1, 5, 1];
    let y = data(5, 17);
    for add in [true, false] {
        let got = run_single(&[(xd, &x), (yd, &y)], xd, |_| {
            OpKind::Float(if add {
                FloatOp::Add {
                    act_min: act.min,
                    act_max: act.max,
                }
            } else {
                FloatOp::Mul {
                    act_min: act.min,
                    act_max: act.max,
                }
            })
        });
        let mut want = vec![0.0; 90];
        if add {
            k::add_f32(act, &x, us(xd), &y, us(yd), &mut want, us(xd)).unwrap();
        } else {
            k::mul_f32(act, &x, us(xd), &y, us(yd), &mut want, us(xd)).unwrap();
        }
        assert_eq!(got, want, "Add/Mul");
    }

    // AvgPool and MaxPool: 3x2 window, stride 2x1, padding 1x0.
    let od = [1, 3, 4, 3];
    let spec = FloatPoolSpec {
        stride: [2, 1],
        filter: [3, 2],
        padding: [1, 0],
        act_min: act.min,
        act_max: act.max,
    };
    for avg in [true, false] {
        let got = run_single(&[(xd, &x)], od, |_| {
            OpKind::Float(if avg {
                FloatOp::AvgPool(spec)
            } else {
                FloatOp::MaxPool(spec)
            })
        });
        let p = k::FloatPoolParams {
            stride: [2, 1],
            filter: [3, 2],
            padding: [1, 0],
            act,
        };
        let mut want = vec![0.0; 36];
        if avg {
            k::avg_pool_f32(&p, &x, us(xd), &mut want, us(od)).unwrap();
        } else {
            k::max_pool_f32(&p, &x, us(xd), &mut want, us(od)).unwrap();
        }
        assert_eq!(got, want, "pooling");
    }

    // Mean over H and W.
    let got = run_single(&[(xd, &x)], [1, 1, 1, 3], |_| OpKind::Float(FloatOp::Mean));
    let mut want = vec![0.0; 3];
    k::mean_hw_f32(&x, us(xd), &mut want, [1, 1, 1, 3]).unwrap();
    assert_eq!(got, want, "Mean");

    // Element-wise and per-row ops.
    let scaled: Vec<f32> = x.iter().map(|v| v * 5.0).collect();
    for (op, name) in [
        (FloatOp::Softmax, "Softmax"),
        (FloatOp::Logistic, "Logistic"),
        (FloatOp::Tanh, "Tanh"),
        (
            FloatOp::Clamp {
                min: -1.0,
                max: 2.5,
            },
            "Clamp",
        ),
    ] {
        let got = run_single(&[(xd, &scaled)], xd, |_| OpKind::Float(op.clone()));
        let mut want = vec![0.0; 90];
        match op {
            FloatOp::Softmax => k::softmax_f32(&scaled, 3, &mut want),
            FloatOp::Logistic => k::logistic_f32(&scaled, &mut want),
            FloatOp::Tanh => k::tanh_f32(&scaled, &mut want),
            _ => k::clamp_f32(FloatAct::new(-1.0, 2.5), &scaled, &mut want),
        }
        .unwrap();
        assert_eq!(got, want, "{name}");
    }

    // Pad, Concat, Transpose.
    let pads = [[0, 1], [2, 0], [1, 1], [0, 2]];
    let od = [2, 8, 7, 5];
    let got = run_single(&[(xd, &x)], od, |_| {
        OpKind::Float(FloatOp::Pad { pads, value: -7.5 })
    });
    let mut want = vec![0.0; 560];
    k::pad_f32(
        &x,
        us(xd),
        pads.map(|p| p.map(|v| v as usize)),
        -7.5,
        &mut want,
        us(od),
    )
    .unwrap();
    assert_eq!(got, want, "Pad");

    let zd = [1, 6, 2, 3];
    let z = data(36, 18);
    let od = [1, 6, 7, 3];
    let got = run_single(&[(xd, &x), (zd, &z)], od, |_| {
        OpKind::Float(FloatOp::Concat { axis: 2 })
    });
    let mut want = vec![0.0; 126];
    k::concat_f32(&[(&x, us(xd)), (&z, us(zd))], 2, &mut want, us(od)).unwrap();
    assert_eq!(got, want, "Concat");

    let perm = [0u8, 3, 1, 2];
    let od = [1, 3, 6, 5];
    let got = run_single(&[(xd, &x)], od, |_| {
        OpKind::Float(FloatOp::Transpose { perm })
    });
    let mut want = vec![0.0; 90];
    k::transpose_f32(&x, us(xd), perm.map(usize::from), &mut want, us(od)).unwrap();
    assert_eq!(got, want, "Transpose");
    // A transpose is a permutation: every input value appears once.
    let mut a = got.clone();
    let mut b = x.clone();
    a.sort_by(f32::total_cmp);
    b.sort_by(f32::total_cmp);
    assert_eq!(a, b);
}

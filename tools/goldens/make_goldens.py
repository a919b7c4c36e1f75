#!/usr/bin/env python3
"""Generate bit-exact test oracles for Mote under tests/data/<model>/.

Run from the repository root (inside a venv with tools/goldens/requirements.txt):

    python tools/goldens/make_goldens.py            # all models
    python tools/goldens/make_goldens.py ic kws     # a subset

For every model this builds a small Keras network that mirrors an MLPerf Tiny
reference architecture (or a single op), trains it briefly on deterministic
synthetic data, converts it to a full-int8 TFLite flatbuffer exactly as the
MLPerf Tiny models are, and records:

  model_int8.tflite      full-int8 TFLite (int8 input and output)
  model_qdq.onnx         tf2onnx --tflite model_int8.tflite --opset 13
  model_float.onnx       float Keras model via tf2onnx (opset 13)
  model_ort_qdq.onnx     onnxruntime quantize_static, QDQ, per-channel, s8/s8
  model_qop_std.onnx     onnxruntime quantize_static, QOperator, only
                         Conv/MatMul/Gemm quantized (standard ONNX ops only)
  inputs.npy             int8 [N, *input_shape]
  outputs_tflm.npy       int8 outputs of the tflite-micro interpreter (target)
  outputs_tflite_ref.npy int8 outputs of the TF Lite interpreter, BUILTIN_REF
  outputs_float.npy      float32 outputs of model_float.onnx   (on dequantized inputs)
  outputs_ort_qdq.npy    float32 outputs of model_ort_qdq.onnx (on dequantized inputs)
  outputs_ort_qdq_plain.npy  the same with graph optimizations disabled (the graph as written)
  outputs_ort_qop.npy    float32 outputs of model_qop_std.onnx (on dequantized inputs)
  meta.json              shapes, quantization params, op lists, comparisons
"""
import collections
import json
import os
import subprocess
import sys
import tempfile

# tf2onnx iterates over sets: fix the hash seed so ONNX files are byte-identical
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnxruntime import quantization as ortq  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

K = tf.keras
L = tf.keras.layers

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data")
N_SAMPLES = 8
N_CALIB = 100
OPSET = 13


# ---------------------------------------------------------------- data ----
def smooth_field(rng, shape, factor):
    """Low-frequency random field of `shape` (H, W, C) or (D,)."""
    if len(shape) == 1:
        n = shape[0]
        coarse = rng.normal(size=(max(2, n // factor),))
        return np.interp(np.linspace(0, len(coarse) - 1, n),
                         np.arange(len(coarse)), coarse)
    h, w, c = shape
    ch, cw = max(2, h // factor), max(1, w // factor)
    coarse = rng.normal(size=(ch, cw, c))
    rep = np.repeat(np.repeat(coarse, -(-h // ch), 0), -(-w // cw), 1)
    return rep[:h, :w, :]


def class_data(rng, shape, n_classes, n, factor=4, noise=1.6):
    """Synthetic classification data with structure: each class has a
    low-frequency prototype plus a class-specific oriented texture
    (frequency, orientation, per-channel weights) with random phase, so both
    spatial and translation-invariant (global-pool friendly) cues exist."""
    h, w, c = shape
    protos = np.stack([smooth_field(rng, shape, factor) for _ in range(n_classes)])
    fy = rng.uniform(0.5, 4.0, n_classes) / h
    fx = rng.uniform(0.5, 3.0, n_classes) / max(w, 1) * (w > 1)
    cw = rng.uniform(0.3, 1.0, (n_classes, c)) * rng.choice([-1, 1], (n_classes, c))
    ii, jj = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")

    def draw(m):
        y = rng.integers(0, n_classes, size=m)
        ph = rng.uniform(0, 2 * np.pi, size=m)
        tex = np.cos(2 * np.pi * (fy[y, None, None] * ii + fx[y, None, None] * jj) + ph[:, None, None])
        x = 1.2 * tex[..., None] * cw[y, None, None, :]
        amp = rng.uniform(0.6, 1.4, size=(m, 1, 1, 1))
        x = x + 0.6 * amp * protos[y] + noise * rng.normal(size=(m,) + tuple(shape))
        return x.astype(np.float32), y.astype(np.int64)

    return draw


def generic_data(rng, shape, scale=1.0, offset=0.0):
    def draw(m):
        x = np.stack([smooth_field(rng, shape, 2) for _ in range(m)])
        x = x + 0.3 * rng.normal(size=x.shape)
        return (scale * x + offset).astype(np.float32), None

    return draw


def ad_data(rng, dim=640, latent=8):
    basis = rng.normal(size=(latent, dim)) / np.sqrt(latent)

    def draw(m):
        z = rng.normal(size=(m, latent))
        x = np.tanh(z @ basis) + 0.1 * rng.normal(size=(m, dim))
        return x.astype(np.float32), None

    return draw


# -------------------------------------------------------------- models ----
def conv_bn(x, f, k, s=1, act="relu", pad="same", dil=1):
    x = L.Conv2D(f, k, strides=s, padding=pad, dilation_rate=dil, use_bias=True)(x)
    x = L.BatchNormalization(momentum=0.9)(x)
    return L.Activation(act)(x) if act == "relu" else (L.ReLU(6.0)(x) if act == "relu6" else x)


def dw_bn(x, k, s=1, act="relu", pad="same", dil=1, mult=1):
    x = L.DepthwiseConv2D(k, strides=s, padding=pad, dilation_rate=dil, depth_multiplier=mult)(x)
    x = L.BatchNormalization(momentum=0.9)(x)
    return L.Activation(act)(x) if act == "relu" else (L.ReLU(6.0)(x) if act == "relu6" else x)


def build_ic(filters=(8, 16, 32), name="ic"):
    # ResNet-8 (MLPerf Tiny IC); `ic` has filters 8/16/32 instead of 16/32/64.
    f0, f1, f2 = filters
    inp = K.Input((32, 32, 3))
    x = conv_bn(inp, f0, 3)
    # stack 1: identity shortcut
    y = conv_bn(x, f0, 3)
    y = L.BatchNormalization(momentum=0.9)(L.Conv2D(f0, 3, padding="same")(y))
    x = L.Activation("relu")(L.Add()([x, y]))
    # stacks 2,3: stride-2 with 1x1 conv shortcut
    for f in (f1, f2):
        y = conv_bn(x, f, 3, s=2)
        y = L.BatchNormalization(momentum=0.9)(L.Conv2D(f, 3, padding="same")(y))
        sc = L.Conv2D(f, 1, strides=2, padding="same")(x)
        x = L.Activation("relu")(L.Add()([sc, y]))
    x = L.AveragePooling2D(pool_size=8)(x)
    x = L.Flatten()(x)
    x = L.Dense(10)(x)
    out = L.Softmax()(x)
    return K.Model(inp, out, name=name)


def build_kws(f=24, blocks=3, name="kws"):
    # DS-CNN (MLPerf Tiny KWS); `kws` has 24 filters and 3 blocks instead of 64 and 4.
    inp = K.Input((49, 10, 1))
    x = conv_bn(inp, f, (10, 4), s=(2, 2))
    for _ in range(blocks):
        x = dw_bn(x, 3)
        x = conv_bn(x, f, 1)
    x = L.AveragePooling2D(pool_size=(x.shape[1], x.shape[2]))(x)
    x = L.Flatten()(x)
    x = L.Dense(12)(x)
    out = L.Softmax()(x)
    return K.Model(inp, out, name=name)


VWW_BLOCKS = ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1))
# MobileNetV1 alpha 0.25 exactly as MLPerf Tiny VWW: 13 (width, stride) blocks.
VWW_FULL_BLOCKS = VWW_BLOCKS + ((128, 2),) + ((128, 1),) * 5 + ((256, 2), (256, 1))


def build_vww(size=48, blocks=VWW_BLOCKS, name="vww"):
    # MobileNetV1 (MLPerf Tiny VWW) alpha~0.25; `vww` is 48x48x3 with 5 blocks.
    inp = K.Input((size, size, 3))
    x = conv_bn(inp, 8, 3, s=2, act="relu6")          # asym pad
    for f, s in blocks:
        x = dw_bn(x, 3, s=s, act="relu6")             # s=2: asym pad
        x = conv_bn(x, f, 1, act="relu6")
    x = L.AveragePooling2D(pool_size=(x.shape[1], x.shape[2]))(x)
    x = L.Flatten()(x)
    x = L.Dense(2)(x)
    out = L.Softmax()(x)
    return K.Model(inp, out, name=name)


def build_ad(hidden=(32, 32, 8, 32), name="ad"):
    # FC autoencoder (MLPerf Tiny AD, ToyCar); `ad` has hidden 32 instead of 128.
    inp = K.Input((640,))
    x = inp
    for h in hidden:
        x = L.Dense(h, activation="relu")(x)
    out = L.Dense(640)(x)
    return K.Model(inp, out, name=name)


def build_sww():
    # Streaming-wake-word-like 1-D conv net: 28 frames x 40 features as [T, 1, C].
    inp = K.Input((28, 1, 40))
    x = conv_bn(inp, 24, (3, 1), pad="valid")                  # 26
    x = dw_bn(x, (3, 1), pad="valid", dil=(2, 1))              # 22, dilated
    x = conv_bn(x, 24, 1)
    x = dw_bn(x, (5, 1), pad="valid")                          # 18
    x = conv_bn(x, 32, 1)
    x = dw_bn(x, (5, 1), pad="valid", dil=(2, 1))              # 10, dilated
    x = conv_bn(x, 32, 1)
    x = L.Reshape((x.shape[1] * x.shape[3],))(x)
    x = L.Dense(3)(x)
    out = L.Softmax()(x)
    return K.Model(inp, out, name="sww")


def build_op_maxpool():
    inp = K.Input((16, 16, 4))
    out = L.MaxPooling2D(pool_size=3, strides=2, padding="same")(inp)
    return K.Model(inp, out, name="op_maxpool")


class ConstMul(L.Layer):
    def build(self, shape):
        c = np.linspace(-1.5, 2.0, shape[-1]).astype(np.float32)
        self.c = self.add_weight(shape=(shape[-1],), initializer=K.initializers.Constant(c),
                                 trainable=False, name="c")

    def call(self, x):
        return x * self.c


def build_op_mul():
    inp = K.Input((8, 8, 6))
    out = ConstMul()(inp)
    return K.Model(inp, out, name="op_mul")


def build_op_concat():
    inp = K.Input((8, 8, 4))
    a = L.Conv2D(6, 1)(inp)
    out = L.Concatenate(axis=-1)([inp, a])
    return K.Model(inp, out, name="op_concat")


def build_op_pad():
    inp = K.Input((8, 8, 4))
    out = L.ZeroPadding2D(((1, 2), (2, 1)))(inp)
    return K.Model(inp, out, name="op_pad")


def build_op_logistic():
    inp = K.Input((8, 8, 4))
    out = L.Activation("sigmoid")(inp)
    return K.Model(inp, out, name="op_logistic")


def build_op_tanh():
    inp = K.Input((8, 8, 4))
    out = L.Activation("tanh")(inp)
    return K.Model(inp, out, name="op_tanh")


def build_op_mean():
    inp = K.Input((6, 6, 8))
    out = L.GlobalAveragePooling2D()(inp)
    return K.Model(inp, out, name="op_mean")


def build_op_dwmult():
    inp = K.Input((12, 12, 4))
    out = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, dilation_rate=2)(inp)
    return K.Model(inp, out, name="op_dwmult")


# name -> (builder, data factory(rng), training: "cls" | "ae" | None)
MODELS = collections.OrderedDict([
    ("ic", (build_ic, lambda r: class_data(r, (32, 32, 3), 10, 0, factor=8), "cls")),
    ("kws", (build_kws, lambda r: class_data(r, (49, 10, 1), 12, 0, factor=5), "cls")),
    ("vww", (build_vww, lambda r: class_data(r, (48, 48, 3), 2, 0, factor=8, noise=2.5), "cls")),
    ("ad", (build_ad, lambda r: ad_data(r), "ae")),
    ("sww", (build_sww, lambda r: class_data(r, (28, 1, 40), 3, 0, factor=4), "cls")),
    ("op_maxpool", (build_op_maxpool, lambda r: generic_data(r, (16, 16, 4)), None)),
    ("op_mul", (build_op_mul, lambda r: generic_data(r, (8, 8, 6)), None)),
    ("op_concat", (build_op_concat, lambda r: generic_data(r, (8, 8, 4)), None)),
    ("op_pad", (build_op_pad, lambda r: generic_data(r, (8, 8, 4), 1.0, 0.7), None)),
    ("op_logistic", (build_op_logistic, lambda r: generic_data(r, (8, 8, 4), 3.0), None)),
    ("op_tanh", (build_op_tanh, lambda r: generic_data(r, (8, 8, 4), 2.0), None)),
    ("op_mean", (build_op_mean, lambda r: generic_data(r, (6, 6, 8), 1.0, 0.3), None)),
    ("op_dwmult", (build_op_dwmult, lambda r: generic_data(r, (12, 12, 4)), None)),
    # Appended last so that the earlier models keep their seeds (1000 + index).
    ("ic_full", (lambda: build_ic((16, 32, 64), "ic_full"), lambda r: class_data(r, (32, 32, 3), 10, 0, factor=8), "cls")),
    ("kws_full", (lambda: build_kws(64, 4, "kws_full"), lambda r: class_data(r, (49, 10, 1), 12, 0, factor=5), "cls")),
    ("vww_full", (lambda: build_vww(96, VWW_FULL_BLOCKS, "vww_full"), lambda r: class_data(r, (96, 96, 3), 2, 0, factor=16, noise=2.5), "cls")),
    ("ad_full", (lambda: build_ad((128,) * 4 + (8,) + (128,) * 4, "ad_full"), lambda r: ad_data(r), "ae")),
])


def randomize_bn(model, rng):
    """Give BN layers non-trivial statistics (used for untrained op models)."""
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape).astype(np.float32),
                               rng.normal(0, 0.2, b.shape).astype(np.float32),
                               rng.normal(0, 0.2, m.shape).astype(np.float32),
                               rng.uniform(0.5, 2.0, v.shape).astype(np.float32)])


# ---------------------------------------------------------- conversion ----
def batch1(model):
    """Clone `model` with a static batch of 1 (as deployed on an MCU), so that
    Flatten becomes one static RESHAPE instead of SHAPE/STRIDED_SLICE/PACK."""
    cfg = model.get_config()
    for layer in cfg["layers"]:
        if layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = [1] + list(layer["config"]["batch_shape"][1:])
    m1 = K.Model.from_config(cfg, custom_objects={"ConstMul": ConstMul})
    m1.set_weights(model.get_weights())
    return m1


def to_tflite_int8(model, calib):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def rep():
        for x in calib:
            yield [x[None].astype(np.float32)]

    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def float_onnx(model, path):
    import tf2onnx
    tf2onnx.utils.INTERNAL_NAME = 1  # global name counter -> byte-identical files
    shape = (1,) + tuple(model.input_shape[1:])
    spec = (tf.TensorSpec(shape, tf.float32, name="input"),)

    @tf.function(input_signature=spec)
    def fn(x):
        return {"output": model(x, training=False)}

    tf2onnx.convert.from_function(fn, input_signature=spec, opset=OPSET, output_path=path)


def tflite_to_onnx(tfl_path, onnx_path):
    # tf2onnx_fixed.py == `python -m tf2onnx.convert` + a fix for a dropped FC bias
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf2onnx_fixed.py"),
           "--tflite", tfl_path,
           "--output", onnx_path, "--opset", str(OPSET)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("tf2onnx --tflite failed:\n" + r.stderr[-3000:])


class Reader(ortq.CalibrationDataReader):
    def __init__(self, name, data):
        self.it = iter([{name: x[None].astype(np.float32)} for x in data])

    def get_next(self):
        return next(self.it, None)


def strip_unused_opsets(path):
    """quant_pre_process leaves opset imports for every domain ORT knows
    (com.microsoft, ...) although no node uses them; keep only used ones."""
    m = onnx.load(path)
    used = {n.domain for n in m.graph.node} | {""}
    keep = [o for o in m.opset_import if o.domain in used or o.domain == "ai.onnx"]
    del m.opset_import[:]
    m.opset_import.extend(keep)
    onnx.save(m, path)


def gemm_to_matmul(src, dst):
    """Rewrite Gemm(A, B, C) (alpha=beta=1, transA=0) as MatMul(A, B') + Add(C)
    so that QOperator quantization gives standard QLinearMatMul instead of the
    com.microsoft QGemm."""
    from onnx import helper, numpy_helper
    m = onnx.load(src)
    inits = {i.name: i for i in m.graph.initializer}
    nodes = []
    for n in m.graph.node:
        at = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Gemm" and at.get("alpha", 1.0) == 1.0 and at.get("beta", 1.0) == 1.0 \
                and not at.get("transA", 0) and n.input[1] in inits:
            b = n.input[1]
            if at.get("transB", 0):
                w = numpy_helper.to_array(inits[b]).T.copy()
                inits[b].CopyFrom(numpy_helper.from_array(w, b))
            mm = n.output[0] + "_matmul"
            nodes.append(helper.make_node("MatMul", [n.input[0], b], [mm], name=n.name + "_MatMul"))
            if len(n.input) > 2 and n.input[2]:
                nodes.append(helper.make_node("Add", [mm, n.input[2]], [n.output[0]], name=n.name + "_Add"))
            else:
                nodes[-1].output[0] = n.output[0]
        else:
            nodes.append(n)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


def ort_quantize(float_path, out_path, calib, fmt):
    name = onnx.load(float_path).graph.input[0].name
    if fmt == "qdq":
        ortq.quantize_static(float_path, out_path, Reader(name, calib),
                             quant_format=ortq.QuantFormat.QDQ, per_channel=True,
                             activation_type=ortq.QuantType.QInt8,
                             weight_type=ortq.QuantType.QInt8)
    else:
        mm_path = out_path + ".matmul.onnx"
        gemm_to_matmul(float_path, mm_path)
        float_path = mm_path
        ortq.quantize_static(float_path, out_path, Reader(name, calib),
                             quant_format=ortq.QuantFormat.QOperator, per_channel=True,
                             activation_type=ortq.QuantType.QInt8,
                             weight_type=ortq.QuantType.QInt8,
                             op_types_to_quantize=["Conv", "MatMul", "Gemm"])
        m = onnx.load(out_path)
        bad = [n.op_type for n in m.graph.node if n.domain not in ("", "ai.onnx")]
        if bad:
            # QGemm is com.microsoft: re-quantize without Gemm
            ortq.quantize_static(float_path, out_path, Reader(name, calib),
                                 quant_format=ortq.QuantFormat.QOperator, per_channel=True,
                                 activation_type=ortq.QuantType.QInt8,
                                 weight_type=ortq.QuantType.QInt8,
                                 op_types_to_quantize=["Conv", "MatMul"])
            m = onnx.load(out_path)
            bad = [n.op_type for n in m.graph.node if n.domain not in ("", "ai.onnx")]
            if bad:
                raise RuntimeError("non-standard ops in QOperator model: %s" % bad)
        os.remove(mm_path)
    strip_unused_opsets(out_path)


# ------------------------------------------------------------- running ----
def run_tflm(tfl_bytes, xs):
    from tflite_micro.python.tflite_micro import runtime
    interp = runtime.Interpreter.from_bytes(tfl_bytes, arena_size=4 << 20)
    outs = []
    for x in xs:
        interp.set_input(x[None], 0)
        interp.invoke()
        outs.append(np.array(interp.get_output(0))[0].copy())
        interp.reset()
    return np.stack(outs)


def run_litert(tfl_bytes, xs, ref=True):
    kw = {}
    if ref:
        kw["experimental_op_resolver_type"] = tf.lite.experimental.OpResolverType.BUILTIN_REF
    it = tf.lite.Interpreter(model_content=tfl_bytes, num_threads=1, **kw)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for x in xs:
        it.set_tensor(i["index"], x[None])
        it.invoke()
        outs.append(it.get_tensor(o["index"])[0].copy())
    return np.stack(outs)


def run_ort(path, xs, level=None):
    so = ort.SessionOptions()
    if level is not None:
        so.graph_optimization_level = level
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.stack([s.run(None, {name: x[None]})[0][0] for x in xs])


def onnx_hist(path):
    m = onnx.load(path)
    h = collections.Counter((n.domain + "::" if n.domain not in ("", "ai.onnx") else "") + n.op_type
                            for n in m.graph.node)
    return {
        "opsets": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "inputs": [{"name": v.name, "elem_type": onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type),
                    "shape": [d.dim_value if d.HasField("dim_value") else d.dim_param
                              for d in v.type.tensor_type.shape.dim]} for v in m.graph.input],
        "outputs": [{"name": v.name, "elem_type": onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type),
                     "shape": [d.dim_value if d.HasField("dim_value") else d.dim_param
                               for d in v.type.tensor_type.shape.dim]} for v in m.graph.output],
        "op_types": dict(sorted(h.items())),
    }


def cmp(a, b):
    d = np.abs(a.astype(np.int32) - b.astype(np.int32))
    return {"equal": bool((d == 0).all()), "max_abs_diff": int(d.max()),
            "num_diff": int((d != 0).sum()), "num": int(d.size)}


def quantize(x, scale, zp):
    return np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)


# ---------------------------------------------------------------- main ----
def make(name, seed):
    builder, data_fn, train = MODELS[name]
    K.backend.clear_session()  # reset auto layer names -> byte-identical files
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    draw = data_fn(rng)
    model = builder()
    info = {"train": train}
    if train == "cls":
        xtr, ytr = draw(1200)
        # label smoothing keeps the softmax off saturation, so the int8
        # outputs stay informative (not just -128/127)
        ncls = model.output_shape[-1]
        model.compile(optimizer=K.optimizers.Adam(3e-3),
                      loss=K.losses.CategoricalCrossentropy(label_smoothing=0.4),
                      metrics=["categorical_accuracy"])
        model.fit(xtr, np.eye(ncls, dtype=np.float32)[ytr], epochs=6, batch_size=32,
                  shuffle=True, verbose=0)
        xv, yv = draw(300)
        info["synthetic_val_accuracy"] = float(
            (model.predict(xv, verbose=0).argmax(-1) == yv).mean())
    elif train == "ae":
        xtr, _ = draw(1500)
        model.compile(optimizer=K.optimizers.Adam(2e-3), loss="mse")
        model.fit(xtr, xtr, epochs=8, batch_size=32, shuffle=True, verbose=0)
        xv, _ = draw(300)
        info["synthetic_val_mse"] = float(model.evaluate(xv, xv, verbose=0))
    else:
        randomize_bn(model, rng)

    model = batch1(model)
    calib, _ = draw(N_CALIB)
    test_x, _ = draw(N_SAMPLES)

    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    tfl = to_tflite_int8(model, calib)
    tfl_path = os.path.join(d, "model_int8.tflite")
    with open(tfl_path, "wb") as f:
        f.write(tfl)

    it = tf.lite.Interpreter(
        model_content=tfl,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    idet, odet = it.get_input_details()[0], it.get_output_details()[0]
    in_s, in_zp = idet["quantization"]
    out_s, out_zp = odet["quantization"]
    ops = [o["op_name"] for o in it._get_ops_details()]

    xs = quantize(test_x, in_s, in_zp)
    np.save(os.path.join(d, "inputs.npy"), xs)
    y_tflm = run_tflm(tfl, xs).astype(np.int8)
    np.save(os.path.join(d, "outputs_tflm.npy"), y_tflm)
    y_ref = run_litert(tfl, xs, ref=True).astype(np.int8)
    np.save(os.path.join(d, "outputs_tflite_ref.npy"), y_ref)
    y_opt = run_litert(tfl, xs, ref=False).astype(np.int8)

    # ONNX forms
    qdq_path = os.path.join(d, "model_qdq.onnx")
    tflite_to_onnx(tfl_path, qdq_path)
    fl_path = os.path.join(d, "model_float.onnx")
    float_onnx(model, fl_path)
    with tempfile.TemporaryDirectory() as td:
        # quant_pre_process: shape inference + graph optimization (folds BN etc.)
        pre = os.path.join(td, "pre.onnx")
        try:
            from onnxruntime.quantization.shape_inference import quant_pre_process
            quant_pre_process(fl_path, pre)
            src = pre
        except Exception as e:  # pragma: no cover
            print("  quant_pre_process failed (%s); quantizing the raw float model" % e)
            src = fl_path
        oq_path = os.path.join(d, "model_ort_qdq.onnx")
        ort_quantize(src, oq_path, calib, "qdq")
        qop_path = os.path.join(d, "model_qop_std.onnx")
        ort_quantize(src, qop_path, calib, "qop")

    xf = ((xs.astype(np.float32) - in_zp) * in_s).astype(np.float32)
    y_float = run_ort(fl_path, xf).astype(np.float32)
    np.save(os.path.join(d, "outputs_float.npy"), y_float)
    y_oqdq = run_ort(oq_path, xf).astype(np.float32)
    np.save(os.path.join(d, "outputs_ort_qdq.npy"), y_oqdq)
    y_oqop = run_ort(qop_path, xf).astype(np.float32)
    np.save(os.path.join(d, "outputs_ort_qop.npy"), y_oqop)
    # Without graph optimizations onnxruntime executes the QDQ graph as
    # written (DequantizeLinear -> float op -> QuantizeLinear): the ONNX
    # semantics of the file, as opposed to its fused integer kernels.
    y_oqdq_plain = run_ort(oq_path, xf, ort.GraphOptimizationLevel.ORT_DISABLE_ALL).astype(np.float32)
    np.save(os.path.join(d, "outputs_ort_qdq_plain.npy"), y_oqdq_plain)
    # the tf2onnx QDQ model run by onnxruntime (informative only)
    # ORT_ENABLE_BASIC keeps DQ/op/Q as separate float ops (a float
    # simulation); ENABLE_ALL fuses into ORT's own integer kernels.
    y_t2o = run_ort(qdq_path, xs, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)
    y_t2o_all = run_ort(qdq_path, xs, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)

    deq_tflm = (y_tflm.astype(np.float32) - out_zp) * out_s
    meta = {
        "model": name,
        "seed": seed,
        "num_samples": int(xs.shape[0]),
        "input": {"shape": [int(v) for v in idet["shape"]], "dtype": "int8", "scale": float(in_s), "zero_point": int(in_zp)},
        "output": {"shape": [int(v) for v in odet["shape"]], "dtype": "int8", "scale": float(out_s), "zero_point": int(out_zp)},
        "tflite_ops": ops,
        "tflite_op_histogram": dict(sorted(collections.Counter(ops).items())),
        "litert_ref_equals_tflm": bool(np.array_equal(y_ref, y_tflm)),
        "litert_ref_vs_tflm": cmp(y_ref, y_tflm),
        "litert_builtin_vs_tflm": cmp(y_opt, y_tflm),
        "ort_basic_on_model_qdq_vs_tflm": cmp(y_t2o.astype(np.int8), y_tflm),
        "ort_basic_on_model_qdq_vs_litert_ref": cmp(y_t2o.astype(np.int8), y_ref),
        "ort_all_on_model_qdq_vs_tflm": cmp(y_t2o_all.astype(np.int8), y_tflm),
        "float_vs_tflm_dequant_max_abs": float(np.abs(y_float - deq_tflm).max()),
        "ort_qdq_vs_float_max_abs": float(np.abs(y_oqdq - y_float).max()),
        "ort_qop_vs_float_max_abs": float(np.abs(y_oqop - y_float).max()),
        "training": info,
        "onnx": {f: onnx_hist(os.path.join(d, f)) for f in
                 ("model_qdq.onnx", "model_float.onnx", "model_ort_qdq.onnx", "model_qop_std.onnx")},
        "file_sizes": {},
    }
    for f in sorted(os.listdir(d)):
        if f != "meta.json":
            meta["file_sizes"][f] = os.path.getsize(os.path.join(d, f))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("%-12s tflite=%6dB ops=%s ref==tflm:%s builtin==tflm:%s" % (
        name, len(tfl), meta["tflite_op_histogram"], meta["litert_ref_equals_tflm"],
        meta["litert_builtin_vs_tflm"]["equal"]), flush=True)
    return meta


def main(argv):
    names = argv or list(MODELS)
    failed = {}
    for i, name in enumerate(MODELS):
        if name not in names:
            continue
        try:
            make(name, 1000 + i)
        except Exception as e:  # keep going; report at the end
            import traceback
            traceback.print_exc()
            failed[name] = repr(e)[:500]
    if failed:
        print("FAILED:", json.dumps(failed, indent=1))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Generates the tiny malformed/unsupported ONNX models used by tests/cli.rs.

Run from this directory with a Python that has `onnx`:
    python make_bad_onnx.py
Each file is a few hundred bytes; they are committed so the tests need no Python.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def qdq_params(prefix, scale=0.05, zp=0):
    return [
        numpy_helper.from_array(np.array(scale, dtype=np.float32), prefix + "_scale"),
        numpy_helper.from_array(np.array(zp, dtype=np.int8), prefix + "_zp"),
    ]


# Output quantization of a quantized Sigmoid (TFLite's fixed 1/256, -128).
SIGMOID_OUT = dict(scale=1.0 / 256, zp=-128)


def save(nodes, inputs, outputs, inits, path):
    graph = helper.make_graph(nodes, path.split(".")[0], inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def qdq(x, y, prefix):
    """QuantizeLinear then DequantizeLinear of x into y."""
    return [
        helper.make_node("QuantizeLinear", [x, prefix + "_scale", prefix + "_zp"], [prefix + "_q"], name=prefix + "_quant"),
        helper.make_node("DequantizeLinear", [prefix + "_q", prefix + "_scale", prefix + "_zp"], [y], name=prefix + "_dequant"),
    ]


shape = [1, 4]
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)

# 1. A float model: no quantization at all.
save([helper.make_node("Relu", ["x"], ["y"], name="relu0")], [x], [y], [], "float_relu.onnx")

# 2. A quantized model with an unsupported op (Erf) in the middle.
save(
    qdq("x", "xd", "in")
    + [helper.make_node("Erf", ["xd"], ["e"], name="my_erf")]
    + qdq("e", "y", "out"),
    [x], [y], qdq_params("in") + qdq_params("out"), "erf.onnx",
)

# 3. Nodes out of topological order (the consumer comes before its producer).
nodes = qdq("x", "xd", "in") + [helper.make_node("Sigmoid", ["xd"], ["r"], name="sigmoid0")] + qdq("r", "y", "out")
save([nodes[2]] + nodes[:2] + nodes[3:], [x], [y], qdq_params("in") + qdq_params("out", **SIGMOID_OUT), "out_of_order.onnx")

# 4. A cycle: two Relus reading each other.
save(
    qdq("x", "xd", "in")
    + [
        helper.make_node("Add", ["xd", "b"], ["a"], name="add_cycle"),
        helper.make_node("Relu", ["a"], ["b"], name="relu_cycle"),
    ]
    + qdq("b", "y", "out"),
    [x], [y], qdq_params("in") + qdq_params("out"), "cyclic.onnx",
)

# 5. A dynamic non-batch dimension.
xd = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "width"])
yd = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "width"])
save(
    qdq("x", "xd", "in") + [helper.make_node("Sigmoid", ["xd"], ["r"], name="sigmoid0")] + qdq("r", "y", "out"),
    [xd], [yd], qdq_params("in") + qdq_params("out", **SIGMOID_OUT), "dynamic_dim.onnx",
)

# 6. Control: the same quantized Sigmoid, in order and with fixed shapes,
# compresses fine, so the failures of 3 and 5 are due to their one defect.
save(
    qdq("x", "xd", "in") + [helper.make_node("Sigmoid", ["xd"], ["r"], name="sigmoid0")] + qdq("r", "y", "out"),
    [x], [y], qdq_params("in") + qdq_params("out", **SIGMOID_OUT), "sigmoid_ok.onnx",
)

# Float models for the quantizer's error paths.
# A dynamic non-batch dimension: calibration cannot resolve the shape.
xd = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"])
yd = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"])
save([helper.make_node("Relu", ["x"], ["y"], name="relu0")], [xd], [yd], [], "float_dynamic.onnx")

# NaN in the weights of a float fully connected layer.
w = np.ones((4, 3), dtype=np.float32)
w[1, 2] = np.nan
y3 = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
save(
    [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc0")],
    [x], [y3], [numpy_helper.from_array(w, "w")], "float_nan_weights.onnx",
)

# Huge dimensions: the arena plan would overflow.
xh = helper.make_tensor_value_info("x", TensorProto.INT8, [1, 100000, 100000, 4])
yh = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 100000, 100000, 4])
save(
    [helper.make_node("DequantizeLinear", ["x", "in_scale", "in_zp"], ["y"], name="dq0")],
    [xh], [yh], qdq_params("in"), "huge_dims.onnx",
)

# An int16 input: not a supported element type.
x16 = helper.make_tensor_value_info("x", TensorProto.INT16, [1, 4])
save(
    [helper.make_node("DequantizeLinear", ["x", "in_scale", "in_zp16"], ["y"], name="dq0")],
    [x16], [y],
    [numpy_helper.from_array(np.array(0.05, dtype=np.float32), "in_scale"),
     numpy_helper.from_array(np.array(0, dtype=np.int16), "in_zp16")],
    "int16_input.onnx",
)

# Float models whose BatchNormalization follows a fully connected layer:
# MatMul -> BatchNormalization (PyTorch Linear + BatchNorm1d) and
# Gemm -> Mul -> Add (Keras Dense + BatchNormalization), then Relu.
rng = np.random.default_rng(5)
w1 = rng.normal(size=(4, 6)).astype(np.float32)
bn = [rng.uniform(0.5, 1.5, 6), rng.normal(size=6), rng.normal(size=6), rng.uniform(0.5, 2.0, 6)]
y6 = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])
save(
    [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("BatchNormalization", ["h", "g", "b", "m", "v"], ["hn"], name="bn1"),
        helper.make_node("Relu", ["hn"], ["y"], name="relu1"),
    ],
    [x], [y6],
    [numpy_helper.from_array(w1, "w1")]
    + [numpy_helper.from_array(a.astype(np.float32), n) for a, n in zip(bn, "gbmv")],
    "float_dense_bn.onnx",
)
save(
    [
        helper.make_node("Gemm", ["x", "w1", "c1"], ["h"], name="fc1"),
        helper.make_node("Mul", ["h", "k"], ["hk"], name="bn_mul"),
        helper.make_node("Add", ["hk", "s"], ["hn"], name="bn_add"),
        helper.make_node("Relu", ["hn"], ["y"], name="relu1"),
    ],
    [x], [y6],
    [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(bn[1].astype(np.float32), "c1"),
     numpy_helper.from_array(bn[0].astype(np.float32), "k"), numpy_helper.from_array(bn[2].astype(np.float32), "s")],
    "float_dense_mul_add.onnx",
)

# A PyTorch-style Conv1d network on [N, C, L] tensors.
x1 = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 20])
y1 = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])
save(
    [
        helper.make_node("Conv", ["x", "cw1", "cb1"], ["c1"], name="conv1", kernel_shape=[5], pads=[2, 2], strides=[2]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "cw2", "cb2"], ["c2"], name="conv2", kernel_shape=[3], dilations=[2]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ],
    [x1], [y1],
    [
        numpy_helper.from_array(rng.normal(size=(8, 3, 5)).astype(np.float32) * 0.4, "cw1"),
        numpy_helper.from_array(rng.normal(size=8).astype(np.float32) * 0.1, "cb1"),
        numpy_helper.from_array(rng.normal(size=(4, 8, 3)).astype(np.float32) * 0.3, "cw2"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32) * 0.1, "cb2"),
        numpy_helper.from_array(rng.normal(size=(5, 24)).astype(np.float32) * 0.3, "fw"),
        numpy_helper.from_array(rng.normal(size=5).astype(np.float32) * 0.1, "fb"),
    ],
    "float_conv1d.onnx",
)

# A model whose activations (256x256x16 int8 = 1 MiB) overflow a small part's RAM.
xb = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 256, 256])
yb = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 256, 256])
save(
    [
        helper.make_node("Conv", ["x", "bw", "bb"], ["c"], name="big_conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="big_relu"),
    ],
    [xb], [yb],
    [
        numpy_helper.from_array(rng.normal(size=(16, 3, 3, 3)).astype(np.float32) * 0.3, "bw"),
        numpy_helper.from_array(np.zeros(16, dtype=np.float32), "bb"),
    ],
    "float_big_activations.onnx",
)

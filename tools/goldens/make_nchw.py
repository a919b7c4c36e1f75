"""Make the NCHW twin of tests/data/ic/model_float.onnx (as a PyTorch export
would look): the leading NHWC->NCHW Transpose is removed and the graph input
becomes [1, 3, 32, 32]. Usage: python tools/goldens/make_nchw.py"""
import onnx
from onnx import helper, TensorProto

SRC = "tests/data/ic/model_float.onnx"
DST = "tests/data/ic/model_float_nchw.onnx"

m = onnx.load(SRC)
g = m.graph
first = g.node[0]
assert first.op_type == "Transpose" and list(first.attribute[0].ints) == [0, 3, 1, 2], first
inp = g.input[0]
n, h, w, c = [d.dim_value for d in inp.type.tensor_type.shape.dim]
out = first.output[0]
g.node.remove(first)
for node in g.node:
    for i, name in enumerate(node.input):
        if name == out:
            node.input[i] = inp.name
g.input.remove(inp)
g.input.insert(0, helper.make_tensor_value_info(inp.name, TensorProto.FLOAT, [max(n, 1), c, h, w]))
onnx.checker.check_model(m)
onnx.save(m, DST)
print("wrote", DST)

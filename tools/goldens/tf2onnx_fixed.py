#!/usr/bin/env python3
"""`python -m tf2onnx.convert` with one bug fix, used for model_qdq.onnx.

tf2onnx 1.17's TFL_FULLY_CONNECTED handler silently DROPS THE BIAS when the
FC input has rank != 2 and keep_num_dims is false (it inserts a Reshape and
then replaces the node inputs with [reshaped_input, weights], losing input 2).
Recent TFLite converters fold Keras' Flatten into FULLY_CONNECTED, so e.g.
AVERAGE_POOL_2D [1,1,1,C] -> FULLY_CONNECTED hits this. The handler below is
the upstream one with the bias kept. Everything else is stock tf2onnx.

Usage: identical to `python -m tf2onnx.convert ...`.
"""
import numpy as np
from tf2onnx import utils
from tf2onnx.handler import tfl_op
from tf2onnx.tflite_handlers import tfl_math
from tf2onnx import convert


@tfl_op(["TFL_FULLY_CONNECTED"])
class TflFullyConnectedOpFixed:
    @classmethod
    def to_tf(cls, ctx, node, **kwargs):
        tfl_math.separate_fused_activation_function(ctx, node)
        utils.make_sure(node.attr['weights_format'].s == b'DEFAULT',
                        "Only default weights format supported for fully connected op")
        if node.attr['asymmetric_quantize_inputs'].i == 1:
            tfl_math.dynamic_quantize_inputs(ctx, node)
        bias = list(node.input[2:3])  # FIX: remember the bias before rewiring

        if node.attr['keep_num_dims'].i == 0 and ctx.get_rank(node.input[0]) != 2:
            utils.make_sure(ctx.get_rank(node.input[1]) == 2, "weights for FullyConnected must have rank 2")
            weights_shape = ctx.get_shape(node.input[1])[1]
            utils.make_sure(weights_shape != -1, "weights for FullyConnected must have known shape")
            shape_const = ctx.make_const(utils.make_name("reshape_shape"), np.array([-1, weights_shape], np.int64))
            reshape_node = ctx.make_node("Reshape", [node.input[0], shape_const.output[0]])
            reshape_node.skip_conversion = True
            ctx.replace_inputs(node, [reshape_node.output[0], node.input[1]] + bias)

        transpose_node = ctx.insert_new_node_on_input(node, "Transpose", node.input[1],
                                                      name=None, input_index=1, perm=[1, 0])
        transpose_node.skip_conversion = True
        node.set_attr("transpose_a", 0)
        node.set_attr("transpose_b", 0)
        node.type = "MatMul"

        if len(node.input) == 3:
            bias_inp = node.input[2]
            ctx.replace_inputs(node, node.input[:2])
            add_node = ctx.insert_new_node_on_output("Add", node.output[0], inputs=[node.output[0], bias_inp])
            add_node.skip_conversion = True

        del node.attr["weights_format"]
        del node.attr["keep_num_dims"]
        del node.attr["asymmetric_quantize_inputs"]


if __name__ == "__main__":
    convert.main()

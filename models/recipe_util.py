"""Helpers shared by the example-model recipes in models/*/recipe.py.

Nothing here downloads anything: data sets are read from files that ship
inside installed PyPI packages, located without importing those packages.
"""
import importlib.util
import json
import os
import platform

import numpy as np

SEED = 20240601
N_CALIB = 100


def limit_threads(n=1):
    """Keep numeric libraries to `n` threads (set before importing them)."""
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(k, str(n))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def package_file(package, *parts):
    """Path of a data file inside an installed package (not imported)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {package!r} is not installed: pip install -r requirements.txt")
    path = os.path.join(spec.submodule_search_locations[0], *parts)
    if not os.path.isfile(path):
        raise SystemExit(f"{path} is missing from the installed {package!r}")
    return path


def package_version(name):
    from importlib.metadata import version
    return version(name)


def calibration_subset(x_train, n=N_CALIB, seed=SEED):
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x_train), n, replace=False))
    return np.ascontiguousarray(x_train[idx], dtype=np.float32)


def onnx_accuracy(path, x, y):
    """Top-1 accuracy of a float ONNX model under onnxruntime, one sample at a time."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    pred = np.array([s.run(None, {name: xi[None].astype(np.float32)})[0].reshape(-1).argmax()
                     for xi in x])
    return float((pred == y).mean())


def save_split(here, calib, x_test, y_test):
    np.save(os.path.join(here, "calib.npy"), np.ascontiguousarray(calib, dtype=np.float32))
    np.save(os.path.join(here, "test_x.npy"), np.ascontiguousarray(x_test, dtype=np.float32))
    np.save(os.path.join(here, "test_y.npy"), np.ascontiguousarray(y_test, dtype=np.int64))


def write_metrics(here, metrics, packages):
    """Writes metrics.json, keeping a `mote` section written by models/measure.py."""
    path = os.path.join(here, "metrics.json")
    old = {}
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
    metrics["versions"] = {"python": platform.python_version(),
                           **{p: package_version(p) for p in packages}}
    metrics["file_sizes"] = {f: os.path.getsize(os.path.join(here, f))
                             for f in sorted(os.listdir(here)) if f.endswith((".npy", ".onnx"))}
    if "mote" in old:
        metrics["mote"] = old["mote"]
    with open(path, "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in metrics.items() if k != "preprocessing"}, indent=1))


def read_ts(path):
    """Reads an equal-length .ts file (the UCR/UEA archive's text format).

    Returns X float64 [N, dims, length], labels as strings, and the class
    names in the order the header's @classLabel line lists them.
    """
    xs, ys, classes, in_data = [], [], None, False
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            low = line.lower()
            if low.startswith("@classlabel"):
                classes = line.split()[2:]
            elif low.startswith("@data"):
                in_data = True
            elif in_data:
                parts = line.split(":")
                xs.append([[float(v) for v in dim.split(",")] for dim in parts[:-1]])
                ys.append(parts[-1])
    return np.array(xs), np.array(ys), classes

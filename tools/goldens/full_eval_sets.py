"""Calibration and held-out sets for the `tests/data/*_full` models.

`make_goldens.py` trains each `*_full` model on synthetic data drawn from
per-class prototypes; this script repeats its draws (same seed, same order)
so that the sets come from the same distribution with the same labels: the
100 calibration samples are the ones the TFLite converter used, and 300
fresh samples follow as a held-out test set. Writes, into the directory
given as the first argument, `<model>_calib.npy` and `<model>_test_x.npy`
(float32, the model's input layout) and, for classifiers,
`<model>_test_y.npy` (int64 labels).

    python tools/goldens/full_eval_sets.py /tmp/fulldata

Run from the repository root in the venv of `requirements.txt`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_goldens as g  # noqa: E402  (re-executes with PYTHONHASHSEED=0)
import numpy as np  # noqa: E402

HELD_OUT = 300


def main(out):
    os.makedirs(out, exist_ok=True)
    for i, name in enumerate(g.MODELS):
        if not name.endswith("_full"):
            continue
        _, data_fn, train = g.MODELS[name]
        rng = np.random.default_rng(1000 + i)  # make()'s seed
        draw = data_fn(rng)
        # make()'s draws: training and validation sets, then calibration,
        # then the stored golden inputs.
        if train == "cls":
            draw(1200)
            draw(300)
        else:
            draw(1500)
            draw(300)
        calib, _ = draw(g.N_CALIB)
        draw(g.N_SAMPLES)
        test_x, test_y = draw(HELD_OUT)
        np.save(os.path.join(out, f"{name}_calib.npy"), calib.astype(np.float32))
        np.save(os.path.join(out, f"{name}_test_x.npy"), test_x.astype(np.float32))
        if test_y is not None:
            np.save(os.path.join(out, f"{name}_test_y.npy"), np.asarray(test_y).astype(np.int64))
        print(name, calib.shape, test_x.shape, flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/goldens/full_eval_sets.py <output dir>")
    sys.exit(main(sys.argv[1]))

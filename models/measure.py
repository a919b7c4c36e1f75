#!/usr/bin/env python3
"""Measures the example models with Mote and records the numbers.

Run from the repository root after `cargo build --release -p mote-cli`:

    python models/measure.py [name ...]        # default: every recipe-made model

For each model it runs, with the committed files only:

    mote compress models/<name>/<name>_float.onnx --calibration models/<name>/calib.npy -o <name>.mote
    mote eval <name>.mote --reference models/<name>/<name>_float.onnx \
        --data models/<name>/test_x.npy --labels models/<name>/test_y.npy --json
    mote inspect <name>.mote --json

and writes the results into the `mote` section of models/<name>/metrics.json,
then prints the models/README.md table rows. The test
`tests/tests/models.rs` re-measures the same numbers and fails when they
drift from models/README.md or metrics.json. Only the standard library is
needed.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MOTE = os.environ.get("MOTE", os.path.join(ROOT, "target", "release", "mote"))


def mote(*args):
    r = subprocess.run([MOTE, *args], check=True, capture_output=True, text=True)
    return r.stdout


def measure(name, tmp):
    d = os.path.join(HERE, name)
    onnx = os.path.join(d, f"{name}_float.onnx")
    out = os.path.join(tmp, f"{name}.mote")
    mote("compress", onnx, "--calibration", os.path.join(d, "calib.npy"), "-o", out)
    ev = json.loads(mote("eval", out, "--reference", onnx, "--data", os.path.join(d, "test_x.npy"),
                         "--labels", os.path.join(d, "test_y.npy"), "--json"))
    ins = json.loads(mote("inspect", out, "--json"))
    rel = f"models/{name}"
    result = {
        "samples": ev["samples"],
        "float_accuracy": ev["float_accuracy"],
        "int8_accuracy": ev["int8_accuracy"],
        "top1_agreement": ev["top1_agreement"],
        "output_sqnr_db": round(ev["output_sqnr_db"], 2),
        "file_bytes": ins["file_bytes"],
        "weights_bytes": ins["weights_bytes"],
        "arena_bytes": ins["arena_bytes"],
        "macs": ins["macs"],
        "input": ins["inputs"][0],
        "ops": [o["op"] for o in ins["ops"]],
        "cortex_m4_instructions": None,
        "commands": [
            f"mote compress {rel}/{name}_float.onnx --calibration {rel}/calib.npy -o {name}.mote",
            f"mote eval {name}.mote --reference {rel}/{name}_float.onnx "
            f"--data {rel}/test_x.npy --labels {rel}/test_y.npy --json",
            f"mote inspect {name}.mote --json",
        ],
    }
    path = os.path.join(d, "metrics.json")
    with open(path) as f:
        metrics = json.load(f)
    metrics["mote"] = result
    with open(path, "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")
    return result


def main():
    names = sys.argv[1:] or sorted(
        n for n in os.listdir(HERE)
        if os.path.isfile(os.path.join(HERE, n, "recipe.py"))
        and os.path.isfile(os.path.join(HERE, n, f"{n}_float.onnx")) and n != "digits")
    pct = lambda v: f"{100 * v:.2f} %"  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            r = measure(n, tmp)
            print(f"{n}: float {pct(r['float_accuracy'])} | int8 {pct(r['int8_accuracy'])} | "
                  f"{r['file_bytes']:,} B | arena {r['arena_bytes']:,} B | {r['macs']:,} MACs")


if __name__ == "__main__":
    main()

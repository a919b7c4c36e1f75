#!/usr/bin/env python3
"""Train and export the `imu_motions` example model (PyTorch 1-D CNN, torch.onnx.export).

Run from the repository root, in a venv with models/requirements.txt:

    python models/imu_motions/recipe.py

Data: BasicMotions (UEA multivariate archive): a smart watch's 3-axis
accelerometer and 3-axis gyroscope, 10 s at 10 Hz, four activities. Read
from the .ts files that ship inside the `aeon` wheel (no download; aeon is
not imported). The archive's own train/test split is kept.

The 1-D convolutions are written as Conv2d with (1, k) kernels over NCHW
[1, 6, 1, 100] (channels = sensor axes, H = 1, W = time), which Mote runs as
NHWC [1, 1, 100, 6]. Writes into models/imu_motions/: imu_motions_float.onnx,
calib.npy, test_x.npy, test_y.npy, metrics.json.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import recipe_util as ru  # noqa: E402

ru.limit_threads(1)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

NAME = "imu_motions"
EPOCHS = 150


class Net(nn.Module):
    def __init__(self, classes):
        super().__init__()

        def block(cin, cout, k):
            return [nn.Conv2d(cin, cout, (1, k), padding=(0, k // 2), bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU()]
        self.features = nn.Sequential(
            *block(6, 16, 5), nn.MaxPool2d((1, 2)),     # 1x50x16
            *block(16, 32, 5), nn.MaxPool2d((1, 2)),    # 1x25x32
            *block(32, 32, 3),                          # 1x25x32
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(32, classes)

    def forward(self, x):
        return self.head(self.features(x))           # logits


def load(split):
    x, y, classes = ru.read_ts(ru.package_file(
        "aeon", "datasets", "data", "BasicMotions", f"BasicMotions_{split}.ts"))
    idx = np.array([classes.index(v) for v in y], dtype=np.int64)
    return x.astype(np.float32)[:, :, None, :], idx, classes   # NCHW [N, 6, 1, 100]


def main():
    torch.manual_seed(ru.SEED)
    torch.set_num_threads(1)
    xtr, ytr, classes = load("TRAIN")
    xte, yte, _ = load("TEST")

    net = Net(len(classes))
    opt = torch.optim.Adam(net.parameters(), 3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    g = torch.Generator().manual_seed(ru.SEED)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range(EPOCHS):
        net.train()
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 8):
            b = perm[i:i + 8]
            # augmentation: a random circular time shift and a random gain per batch
            shift = int(torch.randint(0, 100, (1,), generator=g))
            gain = 0.8 + 0.4 * float(torch.rand(1, generator=g))
            xb = torch.roll(xt[b], shifts=shift, dims=3) * gain
            loss = nn.functional.cross_entropy(net(xb), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        torch_acc = float((net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())

    onnx_path = os.path.join(HERE, f"{NAME}_float.onnx")
    torch.onnx.export(net, (torch.zeros(1, 6, 1, 100),), onnx_path, opset_version=13,
                      input_names=["imu"], output_names=["logits"], dynamo=False)

    # all 40 training recordings serve as the calibration set
    ru.save_split(HERE, ru.calibration_subset(xtr, n=min(ru.N_CALIB, len(xtr))), xte, yte)
    metrics = {
        "name": NAME,
        "task": "activity classification from a wrist IMU (accelerometer + gyroscope)",
        "data": "BasicMotions (UEA archive), .ts files bundled in the aeon wheel",
        "seed": ru.SEED,
        "split": "the archive's TRAIN / TEST files",
        "n_train": int(len(xtr)), "n_test": int(len(xte)),
        "classes": classes,
        "input_shape": [1, 6, 1, 100],
        "epochs": EPOCHS,
        "float_torch_test_accuracy": torch_acc,
        "float_onnxruntime_test_accuracy": ru.onnx_accuracy(onnx_path, xte, yte),
        "preprocessing": {"formula": "raw sensor values; NCHW [N, 6, 1, 100], channels "
                                     "acc x,y,z then gyro x,y,z, 10 Hz"},
    }
    ru.write_metrics(HERE, metrics, ["torch", "onnx", "onnxruntime", "numpy", "aeon"])


if __name__ == "__main__":
    main()

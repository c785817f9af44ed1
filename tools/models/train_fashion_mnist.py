#!/usr/bin/python3
"""Train a compact CNN on Fashion-MNIST and export it to ONNX.

Reads the dataset straight from the Debian package files
(/usr/share/datasets/fashion-mnist/*.gz, package "fashion-mnist"), trains on
the 60k training images, evaluates on the 10k test images and writes

  models/fashion_mnist_cnn.onnx   input  "input"  float32 [N,1,28,28], pixels x/255
                                  output "logits" float32 [N,10]
  models/fashion_mnist_cnn.json   {"test_accuracy", "input_scale", "classes", ...}

Run from the repository root:
  /usr/bin/python3 tools/models/train_fashion_mnist.py
"""

import argparse
import gzip
import json
import os
import random
import struct
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# --------------------------------------------------------------------------
# IDX file parsing
# --------------------------------------------------------------------------
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path):
    """Parse an (optionally gzip-compressed) IDX file into a numpy array.

    Header: two zero bytes, one dtype code byte, one byte holding the number
    of dimensions, then one big-endian uint32 per dimension; data follows.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type 0x{code:02x}")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    dtype = _IDX_DTYPES[code]
    count = int(np.prod(dims)) if dims else 1
    offset = 4 + 4 * ndim
    expected = offset + count * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: size {len(raw)} != expected {expected}")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return arr.reshape(dims).astype(dtype.newbyteorder("="), copy=True)


def load_split(split):
    images = read_idx(os.path.join(DATA_DIR, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, f"{split}-labels-idx1-ubyte.gz"))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"unexpected image shape {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels {labels.shape} do not match images {images.shape}")
    x = torch.from_numpy(images).float().div_(255.0).unsqueeze(1)  # [N,1,28,28] in [0,1]
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------
def conv_bn_relu(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class FashionCNN(nn.Module):
    """Three conv-bn-relu + maxpool stages (28->14->7->3), dropout, linear.

    Takes plain x/255 pixels; no further normalisation is needed because the
    first BatchNorm absorbs the input statistics.
    """

    def __init__(self, num_classes=10, width=32, dropout=0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn_relu(1, w), nn.MaxPool2d(2),          # 28 -> 14
            conv_bn_relu(w, 2 * w), nn.MaxPool2d(2),      # 14 -> 7
            conv_bn_relu(2 * w, 4 * w), nn.MaxPool2d(2),  # 7 -> 3
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(4 * w * 3 * 3, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(self.dropout(x))


# --------------------------------------------------------------------------
# Training / evaluation
# --------------------------------------------------------------------------
def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(model, x, y, batch_size=1000):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        logits = model(x[i:i + batch_size])
        correct += (logits.argmax(1) == y[i:i + batch_size]).sum().item()
    return correct / x.shape[0]


def augment(xb, gen):
    """Random horizontal flip of half the batch (cheap, label preserving)."""
    flip = torch.rand(xb.shape[0], generator=gen) < 0.5
    if flip.any():
        xb = xb.clone()
        xb[flip] = xb[flip].flip(-1)
    return xb


def train(args):
    seed_everything(args.seed)
    torch.set_num_threads(args.threads)

    t0 = time.time()
    x_train, y_train = load_split("train")
    x_test, y_test = load_split("t10k")
    print(f"data: train {tuple(x_train.shape)} test {tuple(x_test.shape)} "
          f"({time.time() - t0:.1f}s)", flush=True)

    model = FashionCNN(width=args.width, dropout=args.dropout)
    # NHWC is noticeably faster for these small convolutions on CPU.
    model = model.to(memory_format=torch.channels_last)
    x_train = x_train.contiguous(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters", flush=True)

    steps_per_epoch = (x_train.shape[0] + args.batch_size - 1) // args.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.25)
    gen = torch.Generator().manual_seed(args.seed)

    t_train, c_train = time.time(), time.process_time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        total_loss, seen = 0.0, 0
        te = time.time()
        for i in range(0, x_train.shape[0], args.batch_size):
            idx = perm[i:i + args.batch_size]
            xb, yb = augment(x_train[idx], gen), y_train[idx]
            loss = F.cross_entropy(model(xb), yb, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * xb.shape[0]
            seen += xb.shape[0]
        acc = evaluate(model, x_test, y_test)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total_loss / seen:.4f} "
              f"test acc {acc * 100:.2f}% ({time.time() - te:.1f}s)", flush=True)
    train_time = time.time() - t_train
    cpu_time = time.process_time() - c_train

    model.eval()
    test_acc = evaluate(model, x_test, y_test)
    print(f"training time: {train_time:.1f}s wall, {cpu_time:.1f}s CPU "
          f"({args.threads} threads)", flush=True)
    print(f"test accuracy: {test_acc * 100:.2f}%", flush=True)
    return model, test_acc, train_time


def export(model, onnx_path, fold_bn=False):
    """Export in eval mode (BatchNorm uses its running statistics).

    By default the BatchNormalization nodes are kept in the graph (so the
    runtime's own Conv+BN folding is exercised); --fold-bn lets the exporter
    fold them into the preceding Conv instead.
    """
    import onnx

    model = model.to(memory_format=torch.contiguous_format).eval()
    dummy = torch.zeros(1, 1, 28, 28)
    os.makedirs(os.path.dirname(onnx_path), exist_ok=True)
    with warnings.catch_warnings():
        # PRESERVE + constant folding warns about models in *training* mode;
        # this one is in eval mode, so the warning does not apply.
        warnings.filterwarnings("ignore", message=".*constant folding be turned off.*")
        torch.onnx.export(
            model, dummy, onnx_path,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
            opset_version=13, do_constant_folding=True,
            training=(torch.onnx.TrainingMode.EVAL if fold_bn
                      else torch.onnx.TrainingMode.PRESERVE),
        )
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    if any(n.op_type == "Dropout" for n in m.graph.node):
        raise RuntimeError("export left Dropout nodes in the graph")
    print(f"exported {onnx_path} ({os.path.getsize(onnx_path)} bytes), ops: {', '.join(ops)}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "models"),
                   help="where to write fashion_mnist_cnn.{onnx,json} (default: <repo>/models)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fold-bn", action="store_true",
                   help="fold BatchNorm into Conv at export (default: keep BatchNormalization nodes)")
    p.add_argument("--min-accuracy", type=float, default=0.915,
                   help="exit non-zero if the test accuracy is below this")
    args = p.parse_args()

    model, test_acc, train_time = train(args)

    onnx_path = os.path.join(args.out_dir, "fashion_mnist_cnn.onnx")
    export(model, onnx_path, fold_bn=args.fold_bn)
    meta = {
        "test_accuracy": round(test_acc, 4),
        "input_scale": "x/255",
        "classes": CLASSES,
        "input": {"name": "input", "shape": ["N", 1, 28, 28], "dtype": "float32"},
        "output": {"name": "logits", "shape": ["N", 10], "dtype": "float32"},
        "opset": 13,
        "epochs": args.epochs,
        "seed": args.seed,
    }
    json_path = os.path.join(args.out_dir, "fashion_mnist_cnn.json")
    with open(json_path, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {json_path}")

    if test_acc < args.min_accuracy:
        print(f"ERROR: test accuracy {test_acc:.4f} below target {args.min_accuracy}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Checks a --dynamic-batch export with edgerun: batch 1 matches torch's reference output, and every
row of batch N (1..8) matches the batch-1 result of the same image.

  /usr/bin/python3 bench/check_dynamic_batch.py ~/.cache/edgerun/models-dyn mobilenet_v2 resnet18
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
edgerun = os.path.join(root, "build", "edgerun")
folder, names = sys.argv[1], sys.argv[2:]


def run(model, x, tmp):
    inp = os.path.join(tmp, "x.npy")
    np.save(inp, x)
    out_dir = os.path.join(tmp, "out")
    subprocess.run([edgerun, "run", model, "--input", inp, "-o", out_dir], check=True, capture_output=True)
    return np.load(os.path.join(out_dir, "output.npy"))


ok = True
with tempfile.TemporaryDirectory() as tmp:
    for name in names:
        model = os.path.join(folder, name + ".onnx")
        ref_in = np.load(os.path.join(folder, name + ".input.npy"))
        ref_out = np.load(os.path.join(folder, name + ".output.npy"))
        y1 = run(model, ref_in, tmp)
        err = float(np.max(np.abs(y1 - ref_out)) / np.max(np.abs(ref_out)))
        print(f"{name}: batch 1 vs torch: max rel err {err:.2e}")
        ok &= err < 1e-4
        rng = np.random.RandomState(0)
        images = np.concatenate([ref_in, rng.standard_normal((7,) + ref_in.shape[1:]).astype(np.float32)])
        singles = [run(model, images[i:i + 1], tmp) for i in range(8)]
        for n in range(1, 9):
            yn = run(model, images[:n], tmp)
            worst = max(float(np.max(np.abs(yn[i] - singles[i][0])) / np.max(np.abs(singles[i]))) for i in range(n))
            print(f"{name}: batch {n}: shape {list(yn.shape)}, rows vs batch-1 runs: max rel err {worst:.2e}")
            ok &= yn.shape[0] == n and worst < 1e-4
print("OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)

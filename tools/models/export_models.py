#!/usr/bin/python3
"""Export reference ONNX models (random weights) plus torch reference outputs.

For every model NAME this writes into --out DIR:

  NAME.onnx                 opset 13, eval mode, constant folding on; the
                            BatchNormalization nodes are kept (not folded by
                            the exporter) unless --fold-bn is given
  NAME.input.npy            fixed float32 input (seeded)
  NAME.<output>.npy         torch's float32 output for that input, one per output
  NAME.json                 manifest: {"model", "inputs", "outputs", "rtol", "atol"}

No pretrained weights are used: every model is built with random
initialisation under torch.manual_seed(<per-model seed>).  Freshly initialised
BatchNorm layers have trivial statistics (mean 0, var 1, gamma 1, beta 0),
which would let an engine pass the tests with a broken BN folding, so before
export every BatchNorm gets non-trivial, seeded statistics:

  1. running_mean/running_var are estimated from a few seeded random images
     (train-mode forward, cumulative average), which keeps activations of the
     randomly initialised network in a sane range, then
  2. running_var is multiplied by U(0.5, 2), running_mean is shifted by
     U(-0.25, 0.25) * std, gamma ~ U(0.5, 1.5) and beta ~ U(-0.25, 0.25).

Conv/Linear biases that are initialised to zero get U(-0.1, 0.1) values first.

Usage (from the repository root):
  /usr/bin/python3 tools/models/export_models.py --out build/models
  /usr/bin/python3 tools/models/export_models.py --out build/models --only resnet18,yolo_tiny --force
  /usr/bin/python3 tools/models/export_models.py --out build/models-dyn --only mobilenet_v2,resnet18 --dynamic-batch

--dynamic-batch makes dimension 0 of the input and of every output symbolic ("batch"), for
serving with dynamic batching; use a separate --out folder, the default exports keep batch 1.
"""

import argparse
import json
import os
import sys
import time
import warnings
import zlib

import numpy as np
import torch
import torch.nn as nn
import torchvision

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)

RTOL = 1e-4
OPSET = 13


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------
def imagenet_input(rng, shape):
    """Uniform [0,1) image, ImageNet mean/std normalised: values in ~[-2.1, 2.6]."""
    img = rng.uniform(0.0, 1.0, size=shape).astype(np.float32)
    return ((img - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def symmetric_input(rng, shape):
    """Image normalised with mean 0.5 / std 0.5 (torchvision SSD transform): [-1, 1)."""
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def unit_input(rng, shape):
    """Plain x/255 image: [0, 1)."""
    return rng.uniform(0.0, 1.0, size=shape).astype(np.float32)


# --------------------------------------------------------------------------
# SSDLite: raw head outputs only
# --------------------------------------------------------------------------
class SSDLiteRawHead(nn.Module):
    """torchvision SSDLite320-MobileNetV3-Large without pre/post-processing.

    Input: the already transformed image tensor [N,3,320,320], i.e. pixels
    scaled to [0,1] and normalised with mean 0.5 / std 0.5 (so in [-1,1]);
    torchvision's GeneralizedRCNNTransform (resize + normalise) is NOT part of
    the graph.

    Outputs: the raw head tensors
      bbox_regression [N, 3234, 4]   box deltas w.r.t. the default anchors
      cls_logits      [N, 3234, 91]  per-anchor class logits (index 0 = background)

    The data-dependent postprocessing (anchor generation/box decoding,
    softmax, score threshold, top-k, per-class NMS) is NOT exported; it has
    data-dependent output shapes and is left to the runtime.
    """

    def __init__(self, ssd):
        super().__init__()
        self.backbone = ssd.backbone
        self.head = ssd.head

    def forward(self, x):
        features = self.backbone(x)
        if isinstance(features, torch.Tensor):
            features = [features]
        else:
            features = list(features.values())
        out = self.head(features)
        return out["bbox_regression"], out["cls_logits"]


def build_ssdlite():
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    ssd = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
    return SSDLiteRawHead(ssd)


# --------------------------------------------------------------------------
# yolo_tiny: small YOLO-style detector, decoding inside the graph
# --------------------------------------------------------------------------
class ConvBNSiLU(nn.Sequential):
    def __init__(self, cin, cout, k=3, s=1):
        super().__init__(
            nn.Conv2d(cin, cout, k, s, padding=k // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.SiLU(inplace=True),
        )


class Bottleneck(nn.Module):
    """1x1 -> 3x3 conv with a residual add."""

    def __init__(self, c):
        super().__init__()
        self.cv1 = ConvBNSiLU(c, c // 2, 1)
        self.cv2 = ConvBNSiLU(c // 2, c, 3)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5/s1 max pools, concat."""

    def __init__(self, cin, cout):
        super().__init__()
        hidden = cin // 2
        self.cv1 = ConvBNSiLU(cin, hidden, 1)
        self.pool = nn.MaxPool2d(5, stride=1, padding=2)
        self.cv2 = ConvBNSiLU(hidden * 4, cout, 1)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        y3 = self.pool(y2)
        return self.cv2(torch.cat([x, y1, y2, y3], 1))


class YoloHead(nn.Module):
    """1x1 conv -> per-anchor (x, y, w, h, obj, classes), sigmoid + decoding.

    xy = (2*sigmoid(t_xy) - 0.5 + grid) * stride
    wh = (2*sigmoid(t_wh))^2 * anchor
    obj, cls = sigmoid(t)
    The grid and anchor tensors depend only on the (fixed) input size, so they
    are buffers and end up as constants in the ONNX graph.
    """

    def __init__(self, cin, num_classes, anchors, stride, grid_hw):
        super().__init__()
        self.na = len(anchors)
        self.no = 5 + num_classes
        self.stride = float(stride)
        self.conv = nn.Conv2d(cin, self.na * self.no, 1)
        h, w = grid_hw
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing="ij")
        grid = torch.stack((xs, ys), -1).view(1, 1, h, w, 2)
        anchor_grid = torch.tensor(anchors, dtype=torch.float32).view(1, self.na, 1, 1, 2)
        self.register_buffer("grid", grid)
        self.register_buffer("anchor_grid", anchor_grid)

    def forward(self, x):
        n, _, h, w = x.shape
        p = self.conv(x).view(n, self.na, self.no, h, w).permute(0, 1, 3, 4, 2)
        s = torch.sigmoid(p)
        xy = (s[..., 0:2] * 2.0 - 0.5 + self.grid) * self.stride
        t = s[..., 2:4] * 2.0
        wh = t * t * self.anchor_grid
        out = torch.cat((xy, wh, s[..., 4:]), -1)
        return out.reshape(n, self.na * h * w, self.no)


class YoloTiny(nn.Module):
    """Input [1,3,320,320] in [0,1]; output decoded detections
    [1, 3*(10*10 + 20*20) = 1500, 5 + num_classes] as (cx, cy, w, h, obj, cls...)
    in input pixel units.  Confidence thresholding / NMS is not part of the graph.
    """

    def __init__(self, num_classes=80, input_size=320):
        super().__init__()
        self.backbone_p3 = nn.Sequential(
            ConvBNSiLU(3, 16, 3, 2),     # /2   160
            ConvBNSiLU(16, 32, 3, 2),    # /4    80
            Bottleneck(32),
            ConvBNSiLU(32, 64, 3, 2),    # /8    40
            Bottleneck(64),
        )
        self.backbone_p4 = nn.Sequential(
            ConvBNSiLU(64, 128, 3, 2),   # /16   20
            Bottleneck(128),
        )
        self.backbone_p5 = nn.Sequential(
            ConvBNSiLU(128, 256, 3, 2),  # /32   10
            SPPF(256, 256),
        )
        # neck: top-down path P5 -> P4
        self.lateral5 = ConvBNSiLU(256, 128, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse4 = nn.Sequential(ConvBNSiLU(256, 128, 1), ConvBNSiLU(128, 128, 3))
        self.out5 = ConvBNSiLU(128, 256, 3)
        s16, s32 = input_size // 16, input_size // 32
        self.head16 = YoloHead(128, num_classes, [(10, 14), (23, 27), (37, 58)], 16, (s16, s16))
        self.head32 = YoloHead(256, num_classes, [(81, 82), (135, 169), (344, 319)], 32, (s32, s32))

    def forward(self, x):
        p3 = self.backbone_p3(x)
        p4 = self.backbone_p4(p3)
        p5 = self.backbone_p5(p4)
        l5 = self.lateral5(p5)                           # [N,128,10,10]
        n4 = self.fuse4(torch.cat([self.up(l5), p4], 1))  # [N,128,20,20]
        n5 = self.out5(l5)                               # [N,256,10,10]
        return torch.cat([self.head16(n4), self.head32(n5)], 1)


# --------------------------------------------------------------------------
# Model table
# --------------------------------------------------------------------------
def _tv(fn):
    return lambda: fn(weights=None)


MODELS = {
    # name: (builder, input shape, input generator, output names)
    "mobilenet_v2": (_tv(torchvision.models.mobilenet_v2), (1, 3, 224, 224), imagenet_input, ["output"]),
    "mobilenet_v3_small": (_tv(torchvision.models.mobilenet_v3_small), (1, 3, 224, 224), imagenet_input, ["output"]),
    "squeezenet1_1": (_tv(torchvision.models.squeezenet1_1), (1, 3, 224, 224), imagenet_input, ["output"]),
    "shufflenet_v2_x1_0": (_tv(torchvision.models.shufflenet_v2_x1_0), (1, 3, 224, 224), imagenet_input, ["output"]),
    "efficientnet_b0": (_tv(torchvision.models.efficientnet_b0), (1, 3, 224, 224), imagenet_input, ["output"]),
    "resnet18": (_tv(torchvision.models.resnet18), (1, 3, 224, 224), imagenet_input, ["output"]),
    "resnet50": (_tv(torchvision.models.resnet50), (1, 3, 224, 224), imagenet_input, ["output"]),
    "ssdlite320_mobilenet_v3_large": (build_ssdlite, (1, 3, 320, 320), symmetric_input,
                                      ["bbox_regression", "cls_logits"]),
    "yolo_tiny": (YoloTiny, (1, 3, 320, 320), unit_input, ["detections"]),
}


def model_seed(name):
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


# --------------------------------------------------------------------------
# BatchNorm statistics
# --------------------------------------------------------------------------
_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@torch.no_grad()
def randomize_zero_biases(model, seed):
    """Give all-zero conv/linear biases small seeded random values.

    Many layers initialise their bias to zero, which would hide bias bugs in
    a runtime (and makes the exporter merge the identical initialisers into
    Identity nodes).
    """
    g = torch.Generator().manual_seed(seed)
    count = 0
    for mod in model.modules():
        if isinstance(mod, _BN_TYPES):
            continue
        b = getattr(mod, "bias", None)
        if isinstance(b, torch.nn.Parameter) and not torch.any(b):
            b.copy_(torch.rand(b.shape, generator=g) * 0.2 - 0.1)
            count += 1
    return count


@torch.no_grad()
def randomize_batchnorm(model, calib_input, seed):
    bns = [m for m in model.modules() if isinstance(m, _BN_TYPES)]
    if not bns:
        return 0
    # 1. estimate statistics on seeded random images (cumulative average)
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    model(calib_input)
    for bn, mom in zip(bns, saved):
        bn.momentum = mom
    model.eval()
    # 2. perturb them (and the affine parameters) with a seeded generator
    g = torch.Generator().manual_seed(seed)

    def u(shape, lo, hi):
        return torch.rand(shape, generator=g) * (hi - lo) + lo

    for bn in bns:
        c = bn.num_features
        var = bn.running_var.clamp(min=1e-3) * u(c, 0.5, 2.0)
        bn.running_mean.add_(u(c, -0.25, 0.25) * var.sqrt())
        bn.running_var.copy_(var)
        if bn.affine:
            bn.weight.copy_(u(c, 0.5, 1.5))
            bn.bias.copy_(u(c, -0.25, 0.25))
    return len(bns)


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------
def as_tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def check_outputs(name, outs):
    """Reject degenerate references; returns printable stats."""
    parts = []
    for oname, y in outs.items():
        if not np.all(np.isfinite(y)):
            raise RuntimeError(f"{name}: output {oname} has NaN/Inf")
        ymin, ymax, ystd = float(y.min()), float(y.max()), float(y.std())
        if ystd == 0.0 or not np.any(y):
            raise RuntimeError(f"{name}: output {oname} is constant ({ymin})")
        if max(abs(ymin), abs(ymax)) > 1e4:
            raise RuntimeError(f"{name}: output {oname} too large (range {ymin}..{ymax})")
        if ystd < 1e-3:
            raise RuntimeError(f"{name}: output {oname} nearly constant (std {ystd:.3g})")
        zeros = float(np.mean(y == 0.0))
        parts.append(f"{oname}{list(y.shape)} min {ymin:.4g} max {ymax:.4g} std {ystd:.4g}"
                     + (f" zeros {zeros * 100:.0f}%" if zeros else ""))
    return "; ".join(parts)


def export_one(name, out_dir, force, fold_bn=False, dynamic_batch=False):
    import onnx

    builder, shape, make_input, out_names = MODELS[name]
    onnx_path = os.path.join(out_dir, f"{name}.onnx")
    manifest_path = os.path.join(out_dir, f"{name}.json")
    if not force and os.path.exists(onnx_path) and os.path.exists(manifest_path):
        print(f"{name}: present, skipped (use --force to re-export)", flush=True)
        return True

    t0 = time.time()
    seed = model_seed(name)
    torch.manual_seed(seed)
    model = builder()
    model.eval()

    rng = np.random.RandomState(seed)
    x = make_input(rng, shape)
    calib = torch.from_numpy(make_input(np.random.RandomState(seed + 1), (4,) + tuple(shape[1:])))
    randomize_zero_biases(model, seed + 3)
    n_bn = randomize_batchnorm(model, calib, seed + 2)
    model.eval()

    xt = torch.from_numpy(x)
    with torch.no_grad():
        ys = as_tuple(model(xt))
    if len(ys) != len(out_names):
        raise RuntimeError(f"{name}: {len(ys)} outputs, expected {len(out_names)}")
    outs = {n: y.detach().numpy().astype(np.float32) for n, y in zip(out_names, ys)}
    stats = check_outputs(name, outs)

    # float64 re-run: estimate of the float32 rounding noise in the reference
    with torch.no_grad():
        ys64 = as_tuple(model.double()(xt.double()))
    model.float()
    fp_err = max(
        float(np.max(np.abs(outs[n] - y64.numpy())) / max(np.max(np.abs(y64.numpy())), 1e-30))
        for n, y64 in zip(out_names, ys64))

    tmp_path = onnx_path + ".tmp"
    # Model is in eval mode.  TrainingMode.PRESERVE exports it as it is
    # (BatchNormalization in inference form, no Dropout) but skips the
    # exporter's Conv+BN fusion, so the runtime's own BN folding is exercised.
    # TrainingMode.EVAL (--fold-bn) lets the exporter fold BN into Conv.
    mode = torch.onnx.TrainingMode.EVAL if fold_bn else torch.onnx.TrainingMode.PRESERVE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*constant folding be turned off.*")
        warnings.filterwarnings("ignore", message=".*shape inference of prim::Constant.*")
        torch.onnx.export(
            model, xt, tmp_path,
            input_names=["input"], output_names=out_names,
            opset_version=OPSET, do_constant_folding=True, training=mode,
            dynamic_axes=({n: {0: "batch"} for n in ["input"] + out_names} if dynamic_batch else None),
        )
    m = onnx.load(tmp_path)
    onnx.checker.check_model(m)
    if any(n.op_type in ("Dropout", "Identity") for n in m.graph.node):
        raise RuntimeError(f"{name}: Dropout/Identity left in the exported graph")
    graph_outputs = [o.name for o in m.graph.output]
    if graph_outputs != out_names or [i.name for i in m.graph.input] != ["input"]:
        raise RuntimeError(f"{name}: unexpected graph I/O {[i.name for i in m.graph.input]} -> {graph_outputs}")
    os.replace(tmp_path, onnx_path)

    np.save(os.path.join(out_dir, f"{name}.input.npy"), x)
    out_files = {}
    for n, y in outs.items():
        fname = f"{name}.{n}.npy"
        np.save(os.path.join(out_dir, fname), y)
        out_files[n] = fname
    # Suggested elementwise check: |engine - ref| <= atol + rtol * |ref|.
    # atol only matters for elements close to zero, whose float32 rounding
    # error scales with the typical magnitude of the output, not their own.
    atol = max(RTOL * min(float(np.mean(np.abs(y))) for y in outs.values()), 1e-7)
    manifest = {
        "model": f"{name}.onnx",
        "inputs": {"input": f"{name}.input.npy"},
        "outputs": out_files,
        "rtol": RTOL,
        "atol": float(f"{atol:.3g}"),
    }
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")

    n_nodes = len(m.graph.node)
    size_mb = os.path.getsize(onnx_path) / 1e6
    print(f"{name}: {time.time() - t0:.1f}s  input{list(shape)}  {stats}  "
          f"[{n_nodes} nodes, {size_mb:.1f} MB, {n_bn} BN, atol {manifest['atol']:.3g}, "
          f"fp32-vs-fp64 max err/max|y| {fp_err:.1e}]",
          flush=True)
    return True


def main():
    p = argparse.ArgumentParser(description="Export random-weight reference ONNX models.")
    p.add_argument("--out", required=True, help="output directory (e.g. build/models)")
    p.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(MODELS))
    p.add_argument("--force", action="store_true", help="re-export models already present")
    p.add_argument("--fold-bn", action="store_true",
                   help="let the exporter fold BatchNorm into Conv (default: keep BN nodes)")
    p.add_argument("--dynamic-batch", action="store_true",
                   help="symbolic batch dimension (dim 0) on the input and outputs; write to its own --out folder")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--list", action="store_true", help="list model names and exit")
    args = p.parse_args()

    if args.list:
        print("\n".join(MODELS))
        return 0

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        p.error(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(MODELS)}")

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    failed = []
    t0 = time.time()
    for name in names:
        try:
            export_one(name, args.out, args.force, args.fold_bn, args.dynamic_batch)
        except Exception as e:  # keep going, report at the end
            print(f"{name}: FAILED: {e}", flush=True)
            failed.append(name)
    print(f"done in {time.time() - t0:.1f}s; {len(names) - len(failed)}/{len(names)} ok"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Quantize an fp32 ONNX CNN to int8 QDQ format with per-tensor min-max calibration.

The output follows the QDQ format edgerun executes with int8 kernels (also what ONNX
Runtime's quantizer writes with QuantFormat.QDQ, QInt8 activations and weights,
per_channel=True):

  * activations: per-tensor asymmetric int8, QuantizeLinear -> DequantizeLinear, one pair
    per tensor; the ranges are the min/max (widened to include 0) over the calibration set
  * Conv weights: int8 [M, C/g, kH, kW], symmetric per output channel (axis 0, zero points 0);
    Gemm weights (transB=1) likewise along axis 0
  * biases: int32 with scale x_scale * w_scale (axis 0)
  * a Relu or Clip directly after a Conv/Add/Gemm is not quantized on its own: the Q comes
    after the activation; MaxPool and Flatten outputs reuse their input's scale/zero point

BatchNormalization nodes after a Conv are folded into it first; Constant nodes become
initializers. Calibration runs the float graph with torch functional ops on 32 Fashion-MNIST
test images, upscaled to 224x224, replicated to 3 channels and ImageNet-normalised.

Usage (from the repository root):
  /usr/bin/python3 tools/models/make_qdq.py                         # resnet18 resnet50 mobilenet_v2
  /usr/bin/python3 tools/models/make_qdq.py --models resnet18 --images 8
Writes ~/.cache/edgerun/models/int8/NAME.onnx (--out DIR to change).
"""

import argparse
import gzip
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)
FASHION_MNIST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def calibration_images(count, size=224):
    with gzip.open(FASHION_MNIST, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    count = min(count, n)
    pixels = np.frombuffer(data, dtype=np.uint8, offset=16, count=count * rows * cols)
    x = torch.from_numpy(pixels.reshape(count, 1, rows, cols).astype(np.float32) / 255.0)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    return ((x.numpy() - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32)


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


# --------------------------------------------------------------------------
# Graph preparation: Constant -> initializer, BatchNormalization folded into Conv
# --------------------------------------------------------------------------
def prepare(model):
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes = []
    for n in g.node:
        if n.op_type == "Constant":
            inits[n.output[0]] = numpy_helper.to_array(attrs(n)["value"])
        else:
            nodes.append(n)
    readers = {}
    for n in nodes:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    producer = {o: n for n in nodes for o in n.output}
    kept = []
    for n in nodes:
        if n.op_type == "BatchNormalization":
            conv = producer.get(n.input[0])
            if conv is not None and conv.op_type == "Conv" and readers[n.input[0]] == 1:
                scale, shift, mean, var = (inits[i] for i in n.input[1:5])
                eps = attrs(n).get("epsilon", 1e-5)
                s = scale / np.sqrt(var + eps)
                w = inits[conv.input[1]]
                b = inits[conv.input[2]] if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0], np.float32)
                inits[conv.input[1]] = (w * s.reshape(-1, 1, 1, 1)).astype(np.float32)
                bias_name = conv.output[0] + "_folded_bias"
                inits[bias_name] = ((b - mean) * s + shift).astype(np.float32)
                if len(conv.input) > 2:
                    conv.input[2] = bias_name
                else:
                    conv.input.append(bias_name)
                conv.output[0] = n.output[0]
                continue
        kept.append(n)
    return kept, inits


# --------------------------------------------------------------------------
# Float evaluation with torch (calibration)
# --------------------------------------------------------------------------
def run_float(nodes, inits, input_name, x):
    env = {k: torch.from_numpy(np.array(v)) for k, v in inits.items()}
    env[input_name] = torch.from_numpy(x)
    ranges = {input_name: (float(x.min()), float(x.max()))}
    for n in nodes:
        a = attrs(n)
        ins = [env[i] if i else None for i in n.input]
        op = n.op_type
        if op == "Conv":
            pads = a.get("pads", [0, 0, 0, 0])
            if pads[0] != pads[2] or pads[1] != pads[3]:
                raise SystemExit(f"{n.name}: asymmetric pads not supported by the calibrator")
            y = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, stride=a.get("strides", [1, 1]),
                         padding=pads[:2], dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
        elif op == "Relu":
            y = F.relu(ins[0])
        elif op == "Clip":
            lo = float(ins[1]) if len(ins) > 1 and ins[1] is not None else -np.inf
            hi = float(ins[2]) if len(ins) > 2 and ins[2] is not None else np.inf
            y = torch.clamp(ins[0], lo, hi)
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "MaxPool":
            pads = a.get("pads", [0, 0, 0, 0])
            y = F.max_pool2d(ins[0], a["kernel_shape"], a.get("strides", [1, 1]), pads[:2], ceil_mode=bool(a.get("ceil_mode", 0)))
        elif op == "GlobalAveragePool":
            y = ins[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Flatten":
            axis = a.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:axis])), -1)
        elif op == "Reshape":
            y = ins[0].reshape([int(d) for d in ins[1]])
        elif op == "Gemm":
            w = ins[1].t() if a.get("transB", 0) else ins[1]
            y = a.get("alpha", 1.0) * (ins[0] @ w)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
        else:
            raise SystemExit(f"calibrator has no {op} ({n.name})")
        env[n.output[0]] = y
        ranges[n.output[0]] = (float(y.min()), float(y.max()))
    return ranges


# --------------------------------------------------------------------------
# QDQ graph
# --------------------------------------------------------------------------
def activation_quant(lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
    zp = int(np.clip(np.round(-128.0 - lo / scale), -128, 127))
    return scale, np.int8(zp)


def quantize_model(model, nodes, inits, ranges):
    g = model.graph
    input_name = g.input[0].name
    output_names = {o.name for o in g.output}
    consumers = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    producer = {o: n for n in nodes for o in n.output}

    new_inits = {}
    new_nodes = []
    quant = {}   # float tensor -> (scale name, zp name, scale, zp)
    dq_name = {}  # float tensor -> its DequantizeLinear output

    def const(name, value):
        new_inits[name] = value
        return name

    def quant_params(t):
        if t not in quant:
            s, z = activation_quant(*ranges[t])
            quant[t] = (const(t + "_scale", np.array(s, np.float32)), const(t + "_zero_point", np.array(z, np.int8)), s, z)
        return quant[t]

    # Tensors after which a Q/DQ pair goes. A Conv/Add/Gemm output read only by a Relu/Clip is
    # not quantized (the activation output is); MaxPool/Flatten share their input's parameters.
    def fused_activation(t):
        c = consumers.get(t, [])
        return len(c) == 1 and c[0].op_type in ("Relu", "Clip") and t not in output_names

    quantized = {input_name}
    for n in nodes:
        t = n.output[0]
        if n.op_type in ("Conv", "Add", "Gemm", "GlobalAveragePool", "MaxPool", "Flatten", "Reshape", "Relu", "Clip"):
            if n.op_type in ("Conv", "Add", "Gemm") and fused_activation(t):
                continue
            quantized.add(t)
    for n in nodes:
        if n.op_type in ("MaxPool", "Flatten", "Reshape") and n.input[0] in quantized:
            quant[n.output[0]] = quant_params(n.input[0])

    def reader_name(t):
        return dq_name.get(t, t)

    def emit_qdq(t, float_name):
        """Q(float_name) -> DQ, readers of t read the DQ output."""
        sname, zname, _, _ = quant_params(t)
        q = t + "_quantized"
        d = t + "_dequantized" if t not in output_names else t
        new_nodes.append(helper.make_node("QuantizeLinear", [float_name, sname, zname], [q], name=t + "_Q"))
        new_nodes.append(helper.make_node("DequantizeLinear", [q, sname, zname], [d], name=t + "_DQ"))
        dq_name[t] = d

    emit_qdq(input_name, input_name)
    for n in nodes:
        ins = [reader_name(i) for i in n.input]
        if n.op_type in ("Conv", "Gemm") and n.input[1] in inits:
            w = inits[n.input[1]].astype(np.float32)
            x_scale = quant_params(n.input[0])[2]
            axis_dims = tuple(range(1, w.ndim))
            w_scale = (np.abs(w).max(axis=axis_dims) / 127.0).astype(np.float32)
            w_scale[w_scale == 0] = np.float32(1.0)
            shape = (-1,) + (1,) * (w.ndim - 1)
            if n.op_type == "Gemm" and not attrs(n).get("transB", 0):
                raise SystemExit(f"{n.name}: Gemm without transB is not handled")
            w_q = np.clip(np.round(w / w_scale.reshape(shape)), -127, 127).astype(np.int8)
            p = n.output[0]
            const(p + "_w_quantized", w_q)
            const(p + "_w_scale", w_scale)
            const(p + "_w_zero_point", np.zeros(w.shape[0], np.int8))
            new_nodes.append(helper.make_node("DequantizeLinear", [p + "_w_quantized", p + "_w_scale", p + "_w_zero_point"],
                                              [p + "_w_dequantized"], name=p + "_w_DQ", axis=0))
            ins[1] = p + "_w_dequantized"
            if len(n.input) > 2 and n.input[2]:
                b = inits[n.input[2]].astype(np.float32).reshape(-1)
                b_scale = (np.float32(x_scale) * w_scale).astype(np.float32)
                b_q = np.round(b / b_scale).astype(np.int64).clip(-2**31, 2**31 - 1).astype(np.int32)
                const(p + "_b_quantized", b_q)
                const(p + "_b_scale", b_scale)
                const(p + "_b_zero_point", np.zeros(w.shape[0], np.int32))
                new_nodes.append(helper.make_node("DequantizeLinear", [p + "_b_quantized", p + "_b_scale", p + "_b_zero_point"],
                                                  [p + "_b_dequantized"], name=p + "_b_DQ", axis=0))
                ins[2] = p + "_b_dequantized"
        out = n.output[0]
        float_out = out + "_float" if out in output_names and out in quantized else out
        node = helper.make_node(n.op_type, ins, [float_out] + list(n.output[1:]), name=n.name or out)
        node.attribute.extend(n.attribute)
        new_nodes.append(node)
        if out in quantized:
            emit_qdq(out, float_out)

    used = {i for n in new_nodes for i in n.input}
    for name, v in inits.items():
        if name in used and name not in new_inits:
            new_inits[name] = v
    graph = helper.make_graph(new_nodes, g.name, list(g.input), list(g.output),
                              [numpy_helper.from_array(np.asarray(v), name) for name, v in new_inits.items()])
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="edgerun make_qdq.py")
    out.ir_version = model.ir_version
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="resnet18,resnet50,mobilenet_v2")
    ap.add_argument("--src", default=os.path.expanduser("~/.cache/edgerun/models"))
    ap.add_argument("--out", default=os.path.expanduser("~/.cache/edgerun/models/int8"))
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep-existing", action="store_true", help="skip models whose output file exists")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    x = calibration_images(args.images)
    for name in args.models.split(","):
        path = os.path.join(args.out, name + ".onnx")
        if args.keep_existing and os.path.exists(path):
            print(f"{name}: {path} exists, kept")
            continue
        model = onnx.load(os.path.join(args.src, name + ".onnx"))
        nodes, inits = prepare(model)
        ranges = {}
        with torch.no_grad():
            for i in range(0, len(x), 8):
                for t, (lo, hi) in run_float(nodes, inits, model.graph.input[0].name, x[i:i + 8]).items():
                    old = ranges.get(t, (lo, hi))
                    ranges[t] = (min(old[0], lo), max(old[1], hi))
        q = quantize_model(model, nodes, inits, ranges)
        onnx.checker.check_model(q)
        onnx.save(q, path)
        print(f"{name}: {sum(n.op_type == 'QuantizeLinear' for n in q.graph.node)} quantized tensors -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

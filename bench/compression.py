#!/usr/bin/python3
"""fp32 vs fp16 vs int8: file size, accuracy (or agreement), and p50 latency, beside ONNX Runtime.

For the default Fashion-MNIST model and the torchvision classifiers in the model cache it
  1. writes NAME.fp16.onnx (`edgerun convert --fp16`), NAME.int8.onnx (`edgerun quantize`, QDQ,
     calibrated on the first --calib Fashion-MNIST training images), NAME.int8w7.onnx (the same with
     `--conv-weight-bits 7`, which the vpmaddubsw kernel multiplies twice as fast on CPUs without VNNI) and
     NAME.int8w6.onnx (`--conv-weight-bits 6`, which its k-octet tile multiplies faster again) into
     OUT/compressed/;
  2. measures accuracy on the Fashion-MNIST test set (default model, all 10,000 images) or, for the
     classifiers with random weights, top-1 agreement and mean cosine similarity with the fp32
     model on the first --agree test images (upscaled to 224x224 RGB, ImageNet normalization);
  3. times p50 latency at each thread count, alternating fresh processes round by round:
     edgerun fp32, fp16, int8, int8w7, int8w6, then ONNX Runtime fp32 and ONNX Runtime on the same int8 QDQ
     files;
     medians over --rounds.
Writes OUT/compression.md and OUT/compression.json.

  /usr/bin/python3 bench/compression.py [--models NAME ...] [--rounds 3] [--iters 20] [--threads 1 2]
"""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, HERE, cpu_name, fmt, geomean, git_commit, model_cache, run_json  # noqa: E402

CLASSIFIERS = ["mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x1_0", "efficientnet_b0",
               "resnet18", "resnet50"]
DEFAULT_MODEL = "fashion_mnist_cnn"
IMAGENET = ["--image-mean", "0.485,0.456,0.406", "--image-std", "0.229,0.224,0.225"]


def edgerun():
    return os.path.join(ROOT, "build", "edgerun")


def run_text(cmd, timeout=3600):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}")
    return p.stdout


def grab(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else None


def prepare(name, src, out_dir, calib, reuse):
    """Writes the fp16 and int8 files; returns their paths and the quantizer's summary."""
    fp16 = os.path.join(out_dir, f"{name}.fp16.onnx")
    int8 = os.path.join(out_dir, f"{name}.int8.onnx")
    int8w7 = os.path.join(out_dir, f"{name}.int8w7.onnx")
    int8w6 = os.path.join(out_dir, f"{name}.int8w6.onnx")
    pre = [] if name == DEFAULT_MODEL else IMAGENET
    if not (reuse and os.path.isfile(fp16)):
        run_text([edgerun(), "convert", src, "--fp16", "-o", fp16])
    log = ""
    for path, extra in ((int8, []), (int8w7, ["--conv-weight-bits", "7"]), (int8w6, ["--conv-weight-bits", "6"])):
        if not (reuse and os.path.isfile(path)):
            out = run_text([edgerun(), "quantize", src, "-c", "fashion-mnist", "--limit", str(calib), "-o", path]
                           + extra + pre)
            log += out
            print(out, file=sys.stderr)
    return fp16, int8, int8w7, int8w6, log


def quality(name, src, variant, agree):
    """Accuracy (default model) or agreement + cosine with the fp32 model."""
    if name == DEFAULT_MODEL:
        out = run_text([edgerun(), "evaluate", variant, "--dataset", "fashion-mnist", "--reference", src])
        return {"accuracy": _first_accuracy(out),
                "reference_accuracy": grab(r"reference accuracy: ([\d.]+) %", out),
                "agreement": grab(r"top-1 agreement with the reference: ([\d.]+) %", out),
                "cosine": grab(r"mean cosine similarity to the reference outputs: ([\d.]+)", out)}
    out = run_text([edgerun(), "evaluate", variant, "--dataset", "fashion-mnist", "--limit", str(agree),
                    "--reference", src] + IMAGENET)
    return {"agreement": grab(r"top-1 agreement with the reference: ([\d.]+) %", out),
            "cosine": grab(r"mean cosine similarity to the reference outputs: ([\d.]+)", out)}


def _first_accuracy(text):
    for line in text.splitlines():
        if line.startswith("accuracy: "):
            return float(line.split()[1])
    return None


def time_round(models, threads, iters, warmup, results):
    """One round: every variant of every model once, edgerun and ORT interleaved."""
    node = "node"
    for m in models:
        for t in threads:
            jobs = [
                ("edgerun fp32", [edgerun(), "bench", m["fp32"], "--threads", str(t), "--iters", str(iters),
                                  "--warmup", str(warmup), "--json"]),
                ("ort fp32", [node, os.path.join(HERE, "ort_bench.js"), m["fp32"], "--threads", str(t),
                              "--iters", str(iters), "--warmup", str(warmup)]),
                ("edgerun fp16", [edgerun(), "bench", m["fp16"], "--threads", str(t), "--iters", str(iters),
                                  "--warmup", str(warmup), "--json"]),
                ("edgerun int8", [edgerun(), "bench", m["int8"], "--threads", str(t), "--iters", str(iters),
                                  "--warmup", str(warmup), "--json"]),
                ("ort int8", [node, os.path.join(HERE, "ort_bench.js"), m["int8"], "--threads", str(t),
                              "--iters", str(iters), "--warmup", str(warmup)]),
                ("edgerun int8w7", [edgerun(), "bench", m["int8w7"], "--threads", str(t), "--iters", str(iters),
                                    "--warmup", str(warmup), "--json"]),
                ("ort int8w7", [node, os.path.join(HERE, "ort_bench.js"), m["int8w7"], "--threads", str(t),
                                "--iters", str(iters), "--warmup", str(warmup)]),
                ("edgerun int8w6", [edgerun(), "bench", m["int8w6"], "--threads", str(t), "--iters", str(iters),
                                    "--warmup", str(warmup), "--json"]),
                ("ort int8w6", [node, os.path.join(HERE, "ort_bench.js"), m["int8w6"], "--threads", str(t),
                                "--iters", str(iters), "--warmup", str(warmup)]),
            ]
            for label, cmd in jobs:
                r, err = run_json(cmd, timeout=1800)
                key = f"{m['name']}|{t}|{label}"
                results.setdefault(key, []).append(r["p50_ms"] if r else None)
                if err:
                    print(f"  {key}: {err}", file=sys.stderr)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=[DEFAULT_MODEL] + CLASSIFIERS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--calib", type=int, default=100, help="calibration images")
    ap.add_argument("--agree", type=int, default=200, help="test images for agreement")
    ap.add_argument("--reuse", action="store_true", help="keep compressed files that already exist")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    comp_dir = os.path.join(a.out, "compressed")
    os.makedirs(comp_dir, exist_ok=True)
    cache = model_cache()
    models = []
    for name in a.models:
        src = os.path.join(ROOT, "models", "fashion_mnist_cnn.onnx") if name == DEFAULT_MODEL else \
            os.path.join(cache, name + ".onnx")
        if not os.path.isfile(src):
            print(f"skipping {name}: {src} not found (run tools/models/export_models.py)", file=sys.stderr)
            continue
        print(f"== {name}: compressing", file=sys.stderr)
        fp16, int8, int8w7, int8w6, log = prepare(name, src, comp_dir, a.calib, a.reuse)
        m = {"name": name, "fp32": src, "fp16": fp16, "int8": int8, "int8w7": int8w7, "int8w6": int8w6,
             "size_mb": {k: os.path.getsize(p) / 2**20
                         for k, p in (("fp32", src), ("fp16", fp16), ("int8", int8), ("int8w7", int8w7),
                                      ("int8w6", int8w6))},
             "quantize_log": log}
        print(f"== {name}: accuracy", file=sys.stderr)
        m["fp16_quality"] = quality(name, src, fp16, a.agree)
        m["int8_quality"] = quality(name, src, int8, a.agree)
        m["int8w7_quality"] = quality(name, src, int8w7, a.agree)
        m["int8w6_quality"] = quality(name, src, int8w6, a.agree)
        models.append(m)
    results = {}
    for r in range(a.rounds):
        print(f"== timing round {r + 1}/{a.rounds}", file=sys.stderr)
        time_round(models, a.threads, a.iters, a.warmup, results)
    for m in models:
        m["p50_ms"] = {}
        for t in a.threads:
            m["p50_ms"][str(t)] = {label: med(results.get(f"{m['name']}|{t}|{label}", []))
                                   for label in ("edgerun fp32", "edgerun fp16", "edgerun int8", "ort fp32", "ort int8",
                                                 "edgerun int8w7", "ort int8w7", "edgerun int8w6", "ort int8w6")}
    ort_version = "onnxruntime-node"
    try:
        with open(os.path.join(HERE, "node_modules", "onnxruntime-node", "package.json")) as f:
            ort_version += " " + json.load(f)["version"]
    except OSError:
        pass
    meta = {"date": datetime.date.today().isoformat(), "cpu": cpu_name(), "cpus": os.cpu_count(),
            "commit": git_commit(), "ort": ort_version, "rounds": a.rounds, "iters": a.iters,
            "calib": a.calib, "agree": a.agree}
    with open(os.path.join(a.out, "compression.json"), "w") as f:
        json.dump({"meta": meta, "models": models}, f, indent=1)
    write_markdown(os.path.join(a.out, "compression.md"), models, meta, a.threads)
    print(open(os.path.join(a.out, "compression.md")).read())


def ratio(a, b):
    return a / b if a is not None and b else None


def write_markdown(path, models, meta, threads):
    lines = [
        "# Compression: fp32 vs fp16 vs int8",
        "",
        f"{meta['date']}, {meta['cpu']} ({meta['cpus']} CPUs), edgerun {meta['commit']}, {meta['ort']}. "
        f"int8 = `edgerun quantize` (QDQ, least-squared-error ranges, {meta['calib']} Fashion-MNIST training images); "
        f"fp16 = `edgerun convert --fp16`. p50 latency: medians of {meta['rounds']} rounds of alternating fresh "
        f"processes, {meta['iters']} timed runs each. ORT int8 runs the very same QDQ file.",
        "",
        "Quality: Fashion-MNIST model: top-1 accuracy on the 10,000 test images. Classifiers (random weights): "
        f"top-1 agreement with fp32 and mean cosine similarity of the outputs on {meta['agree']} test images.",
        "",
        "| model | fp32 MB | fp16 MB (x) | int8 MB (x) | fp16 quality | int8 quality | int8 w7 quality | int8 w6 quality |",
        "|---|---:|---:|---:|---|---|---|---|",
    ]

    def q(m, key):
        d = m[key]
        if d.get("accuracy") is not None:
            return f"{fmt(d['accuracy'])} % (fp32 {fmt(d.get('reference_accuracy'))} %)"
        return f"agree {fmt(d.get('agreement'), 1)} %, cos {fmt(d.get('cosine'), 4)}"

    for m in models:
        s = m["size_mb"]
        lines.append(f"| {m['name']} | {fmt(s['fp32'])} | {fmt(s['fp16'])} ({fmt(ratio(s['fp16'], s['fp32']))}) | "
                     f"{fmt(s['int8'])} ({fmt(ratio(s['int8'], s['fp32']))}) | {q(m, 'fp16_quality')} | "
                     f"{q(m, 'int8_quality')} | {q(m, 'int8w7_quality')} | {q(m, 'int8w6_quality')} |")
    lines += ["", "p50 latency (ms) and ratios (below 1 means edgerun int8 is faster; w7, w6: 7- and 6-bit convolution "
              "weights, the same file for both runtimes):", "",
              "| model | threads | edgerun fp32 | edgerun fp16 | edgerun int8 | edgerun int8 w7 | edgerun int8 w6 | "
              "ORT fp32 | ORT int8 | ORT int8 w7 | ORT int8 w6 | int8 / ORT fp32 | int8 / ORT int8 | "
              "int8 w7 / ORT fp32 | int8 w7 / ORT int8 w7 | int8 w6 / ORT fp32 | int8 w6 / ORT int8 w6 |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_thread = {}
    for m in models:
        for t in threads:
            p = m["p50_ms"][str(t)]
            rs = (ratio(p["edgerun int8"], p["ort fp32"]), ratio(p["edgerun int8"], p["ort int8"]),
                  ratio(p["edgerun int8w7"], p["ort fp32"]), ratio(p["edgerun int8w7"], p["ort int8w7"]),
                  ratio(p["edgerun int8w6"], p["ort fp32"]), ratio(p["edgerun int8w6"], p["ort int8w6"]))
            by_thread.setdefault(t, []).append(rs)
            lines.append(f"| {m['name']} | {t} | {fmt(p['edgerun fp32'], 3)} | {fmt(p['edgerun fp16'], 3)} | "
                         f"{fmt(p['edgerun int8'], 3)} | {fmt(p['edgerun int8w7'], 3)} | {fmt(p['edgerun int8w6'], 3)} | "
                         f"{fmt(p['ort fp32'], 3)} | {fmt(p['ort int8'], 3)} | {fmt(p['ort int8w7'], 3)} | "
                         f"{fmt(p['ort int8w6'], 3)} | "
                         + " | ".join(fmt(r) for r in rs) + " |")
    for t, rs in by_thread.items():
        lines.append(f"| **geometric mean** | {t} | | | | | | | | | | "
                     + " | ".join(f"**{fmt(geomean([r[i] for r in rs]))}**" for i in range(6)) + " |")
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()

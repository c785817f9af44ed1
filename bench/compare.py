#!/usr/bin/python3
"""Side-by-side benchmark of edgerun and ONNX Runtime (CPU) on the same models and inputs.

For every model and thread count it alternates `edgerun bench --json` and `node ort_bench.js`
(A B A B ..., one fresh process each, --rounds rounds), takes the median of each measurement over
the rounds and writes OUT/latest.md (table of edgerun / ONNX Runtime ratios with geometric means),
OUT/latest.png (bar chart of the ratios) and OUT/latest.json (every raw run).

Models are names looked up in the model cache (NAME.onnx plus NAME.input.npy, as written by
tools/models/export_models.py) or paths to .onnx files (random inputs unless FILE.input.npy or
input_0.pb-style data sits next to them).

Needs only Debian packages: /usr/bin/python3, python3-numpy, python3-matplotlib, nodejs.
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_MODELS = ["mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x1_0", "efficientnet_b0",
                  "resnet18", "resnet50", "ssdlite320_mobilenet_v3_large", "yolo_tiny"]


def model_cache():
    return os.environ.get("EDGERUN_MODEL_CACHE", os.path.expanduser("~/.cache/edgerun/models"))


def resolve_model(spec, cache):
    """(label, onnx path, input .npy or None) for a model name or .onnx path; None if missing."""
    if spec.endswith(".onnx") or os.sep in spec:
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            return None
        base = path[:-len(".onnx")] if path.endswith(".onnx") else path
        label = os.path.basename(base)
        if label == "model":  # ONNX test-data layout: DIR/model.onnx
            label = os.path.basename(os.path.dirname(path))
        npy = base + ".input.npy"
        return label, path, npy if os.path.isfile(npy) else None
    path = os.path.join(cache, spec + ".onnx")
    if not os.path.isfile(path):
        return None
    npy = os.path.join(cache, spec + ".input.npy")
    return spec, path, npy if os.path.isfile(npy) else None


def run_json(cmd, timeout, cpus=None):
    """Runs one benchmark process (on `cpus` only, when given); returns (parsed JSON or None, error text)."""
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                           preexec_fn=pin)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
    try:
        return json.loads(p.stdout), ""
    except json.JSONDecodeError as e:
        return None, f"bad JSON output: {e}"


def median(runs, key):
    vals = [r[key] for r in runs if r is not None and isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    if a is None or b is None or b <= 0 or a < 0:
        return None
    return a / b


def geomean(vals):
    vals = [v for v in vals if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None


def fmt(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def summarize(er_runs, ort_runs):
    s = {}
    for name, runs in (("edgerun", er_runs), ("ort", ort_runs)):
        ok = [r for r in runs if r is not None]
        lf = [r["load_ms"] + r["first_ms"] for r in ok]
        cpu = [1000 * r["cpu_s"] / r["total_runs"] for r in ok if r.get("cpu_s") is not None and r.get("total_runs")]
        s[name] = {
            "ok_runs": len(ok),
            "p50_ms": median(ok, "p50_ms"),
            "p99_ms": median(ok, "p99_ms"),
            "throughput_ips": median(ok, "throughput_ips"),
            "load_first_ms": statistics.median(lf) if lf else None,
            "mem_mb": median(ok, "mem_mb"),
            "cpu_ms_per_run": statistics.median(cpu) if cpu else None,
        }
    s["p50_ratio"] = ratio(s["edgerun"]["p50_ms"], s["ort"]["p50_ms"])
    s["load_first_ratio"] = ratio(s["edgerun"]["load_first_ms"], s["ort"]["load_first_ms"])
    s["mem_ratio"] = ratio(s["edgerun"]["mem_mb"], s["ort"]["mem_mb"])
    s["cpu_ratio"] = ratio(s["edgerun"]["cpu_ms_per_run"], s["ort"]["cpu_ms_per_run"])
    return s


def write_markdown(path, rows, meta):
    lines = [
        "# edgerun vs ONNX Runtime",
        "",
        f"{meta['date']}, {meta['cpu']} ({meta['cpus']} CPUs), edgerun {meta['commit']}, {meta['ort']}.",
        f"{meta['rounds']} rounds of alternating fresh processes (edgerun, ORT, edgerun, ORT, ...), "
        f"{meta['iters']} timed runs and {meta['warmup']} warmup runs per process; medians over rounds."
        + (f" A pause of {meta['run_delay_ms']:g} ms before each timed run (`--run-delay`), as between camera frames."
           if meta.get("run_delay_ms") else "")
        + (" Single-thread processes of both runtimes run on the same CPU within a round, the CPUs in turn "
           "over the rounds (`--pin alternate`)." if meta.get("pin_single_thread") == "alternate" else ""),
        "",
        "Ratios are edgerun / ONNX Runtime: below 1 means edgerun is faster (latency, load) or smaller (memory).",
        "Load+first is the time to load the model and create the session plus the first inference. "
        "Peak memory is the growth of the process's peak RSS from before loading the model.",
        "",
        "| model | threads | edgerun p50 (ms) | ORT p50 (ms) | p50 ratio | edgerun load+first (ms) | "
        "ORT load+first (ms) | load+first ratio | edgerun peak MB | ORT peak MB | peak memory ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for r in rows:
        s, e, o = r["summary"], r["summary"]["edgerun"], r["summary"]["ort"]
        note = ""
        if r["errors"]:
            notes.append(f"{r['model']}, {r['threads']} thread(s): " + "; ".join(sorted(set(r["errors"]))))
            note = f" [{len(notes)}]"
        lines.append(
            f"| {r['model']}{note} | {r['threads']} | {fmt(e['p50_ms'], 3)} | {fmt(o['p50_ms'], 3)} | "
            f"{fmt(s['p50_ratio'])} | {fmt(e['load_first_ms'], 1)} | {fmt(o['load_first_ms'], 1)} | "
            f"{fmt(s['load_first_ratio'])} | {fmt(e['mem_mb'], 1)} | {fmt(o['mem_mb'], 1)} | {fmt(s['mem_ratio'])} |")
    g = meta["geomean"]
    lines.append(f"| **geometric mean** | | | | **{fmt(g['p50_ratio'])}** | | | **{fmt(g['load_first_ratio'])}** "
                 f"| | | **{fmt(g['mem_ratio'])}** |")
    lines.append("")
    if meta.get("run_delay_ms"):
        # Between runs a runtime may keep its threads spinning; the CPU time it burns then shows here.
        lines += ["Process CPU time (all threads) per timed run, pauses included:", "",
                  "| model | threads | edgerun CPU ms | ORT CPU ms | ratio |", "|---|---:|---:|---:|---:|"]
        for r in rows:
            s, e, o = r["summary"], r["summary"]["edgerun"], r["summary"]["ort"]
            lines.append(f"| {r['model']} | {r['threads']} | {fmt(e['cpu_ms_per_run'], 2)} | {fmt(o['cpu_ms_per_run'], 2)} "
                         f"| {fmt(s['cpu_ratio'])} |")
        lines.append("")
    if notes:
        lines.append("Failed runs (n/a: no successful run; geometric means cover the rows with both results):")
        lines.append("")
        lines += [f"{i}. {n}" for i, n in enumerate(notes, 1)]
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_chart(path, rows, meta):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [f"{r['model']}\n{r['threads']}t" for r in rows] + ["geomean"]
    series = [("p50 latency", "p50_ratio"), ("load + first", "load_first_ratio"), ("peak memory", "mem_ratio")]
    x = np.arange(len(labels))
    width = 0.27
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels) + 2), 4.8))
    present = []
    for i, (title, key) in enumerate(series):
        vals = [r["summary"][key] for r in rows] + [meta["geomean"][key]]
        present += [v for v in vals if v]
        ax.bar(x + (i - 1) * width, [v if v else 0 for v in vals], width, label=title)
        for xi, v in zip(x, vals):
            if v:
                ax.text(xi + (i - 1) * width, v, f"{v:.2g}", ha="center", va="bottom", fontsize=6)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    lo, hi = min(present + [1.0]), max(present + [1.0])
    ax.set_ylim(lo / 1.6, hi * 1.6)
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500) if lo / 1.6 <= t <= hi * 1.6]
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{t:g}" for t in ticks])
    ax.minorticks_off()
    for xi, r in zip(x, rows):
        if r["summary"]["p50_ratio"] is None:
            ax.text(xi, 1.0, "n/a", ha="center", va="bottom", fontsize=8, color="gray")
    ax.set_ylabel("edgerun / ONNX Runtime (log scale; < 1: edgerun better)")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_title(f"edgerun vs ONNX Runtime ({meta['cpu']}, {meta['rounds']} rounds)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="comma-separated model names in the model cache, or .onnx paths (default: the exported set)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per model and thread count (default 3)")
    ap.add_argument("--iters", type=int, default=20, help="timed runs per process (default 20)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs per process after the first (default 2)")
    ap.add_argument("--run-delay", type=float, default=0,
                    help="milliseconds each runtime pauses before each timed run, as between camera frames (default 0)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="output folder (default bench/results)")
    ap.add_argument("--model-dir", default=model_cache(),
                    help="model cache (default $EDGERUN_MODEL_CACHE or ~/.cache/edgerun/models)")
    ap.add_argument("--edgerun", default=os.environ.get("EDGERUN_BIN", os.path.join(ROOT, "build", "edgerun")),
                    help="edgerun binary (default $EDGERUN_BIN or build/edgerun)")
    ap.add_argument("--node", default="node", help="Node.js binary (default node)")
    ap.add_argument("--pin", choices=["alternate", "none"], default="alternate",
                    help="single-thread processes: 'alternate' (default) runs both runtimes of a round on the same "
                         "CPU, the next CPU each round; 'none' leaves them where the scheduler starts them")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per benchmark process (default 1800)")
    args = ap.parse_args()

    if not os.access(args.edgerun, os.X_OK):
        sys.exit(f"error: no edgerun binary at {args.edgerun}: build it (ninja -C build edgerun_cli) or pass --edgerun")
    ort_script = os.path.join(HERE, "ort_bench.js")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        sys.exit("error: onnxruntime-node is not installed: cd bench && npm install --ignore-scripts onnxruntime-node")
    threads = [int(t) for t in args.threads.split(",") if t.strip()]

    models, missing = [], []
    for spec in [m.strip() for m in args.models.split(",") if m.strip()]:
        found = resolve_model(spec, args.model_dir)
        (models if found else missing).append(found or spec)
    if missing:
        print(f"warning: not found in {args.model_dir}: {', '.join(missing)}", file=sys.stderr)
        print(f"  make them with: /usr/bin/python3 tools/models/export_models.py --out {args.model_dir}", file=sys.stderr)
    if not models:
        sys.exit("error: no models to benchmark")

    # One thread of each runtime on the same CPU within a round, the CPUs taken in turn over the rounds:
    # the two vCPUs of the VM this was written on differed by up to 20 % in speed for stretches of
    # minutes, and where the scheduler started each process then decided a single-thread ratio.
    allowed = sorted(os.sched_getaffinity(0))

    def single_cpu(t, rnd):
        return {allowed[rnd % len(allowed)]} if t == 1 and args.pin == "alternate" else None

    rows, raw = [], []
    for label, path, npy in models:
        for t in threads:
            er_cmd = [args.edgerun, "bench", path, "--json", "--threads", str(t), "--iters", str(args.iters),
                      "--warmup", str(args.warmup), "--no-progress"]
            ort_cmd = [args.node, ort_script, path, "--threads", str(t), "--iters", str(args.iters),
                       "--warmup", str(args.warmup)]
            if args.run_delay > 0:
                er_cmd += ["--run-delay", f"{args.run_delay:g}"]
                ort_cmd += ["--run-delay", f"{args.run_delay:g}"]
            if npy:
                er_cmd += ["--input", npy]
                ort_cmd += ["--input", npy]
            er_runs, ort_runs, errors = [], [], []
            for rnd in range(args.rounds):
                for name, cmd, runs in (("edgerun", er_cmd, er_runs), ("ort", ort_cmd, ort_runs)):
                    print(f"[{label} threads={t} round {rnd + 1}/{args.rounds}] {name} ...", file=sys.stderr, flush=True)
                    res, err = run_json(cmd, args.timeout, single_cpu(t, rnd))
                    runs.append(res)
                    raw.append({"model": label, "threads": t, "round": rnd + 1, "runtime": name, "result": res,
                                "error": err})
                    if res is None:
                        errors.append(f"{name}: {err}")
                        print(f"  failed: {err}", file=sys.stderr)
            summary = summarize(er_runs, ort_runs)
            rows.append({"model": label, "threads": t, "input": npy or "random", "summary": summary, "errors": errors})
            print(f"  {label} threads={t}: p50 edgerun {fmt(summary['edgerun']['p50_ms'], 3)} ms, "
                  f"ORT {fmt(summary['ort']['p50_ms'], 3)} ms, ratio {fmt(summary['p50_ratio'])}", file=sys.stderr)

    ort_version = next((r["result"].get("runtime") for r in raw if r["runtime"] == "ort" and r["result"]),
                       "onnxruntime-node")
    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_name(), "cpus": os.cpu_count(), "commit": git_commit(), "ort": ort_version,
        "rounds": args.rounds, "iters": args.iters, "warmup": args.warmup, "run_delay_ms": args.run_delay,
        "pin_single_thread": args.pin,
        "geomean": {k: geomean([r["summary"][k] for r in rows]) for k in ("p50_ratio", "load_first_ratio", "mem_ratio")},
    }
    os.makedirs(args.out, exist_ok=True)
    md = os.path.join(args.out, "latest.md")
    write_markdown(md, rows, meta)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows, "runs": raw}, f, indent=1)
    png = os.path.join(args.out, "latest.png")
    try:
        write_chart(png, rows, meta)
    except ImportError as e:
        print(f"warning: no chart ({e}); install python3-matplotlib", file=sys.stderr)
        png = None
    print(f"wrote {md}" + (f" and {png}" if png else ""), file=sys.stderr)
    with open(md) as f:
        sys.stdout.write(f.read())


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""p50 latency of int8 QDQ models against their fp32 originals, edgerun and ONNX Runtime.

For every model and thread count, each round runs (one fresh process each, alternating):
edgerun fp32, edgerun int8, ONNX Runtime fp32, ONNX Runtime int8 (the same QDQ file), all with
`--iters N --json` on the model's fixed input (NAME.input.npy). Prints a markdown table of the
medians over the rounds and writes every raw run to --out (JSON).

The int8 models are those of tools/models/make_qdq.py (MODEL_CACHE/int8/NAME.onnx).

Also reported: process CPU time per timed run (cpu_s / runs, median over rounds). On a machine
shared with other jobs, wall-clock percentiles include time the process waited for a core; at one
thread the CPU time per run is the latency an unloaded core would give (at two threads it adds both
threads' time, spin-waiting included, so it is not a latency).

  /usr/bin/python3 bench/int8_compare.py --models resnet18,resnet50,mobilenet_v2 --threads 1,2 --rounds 5
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900).stdout
    return json.loads(out[out.index("{"):])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="resnet18,resnet50,mobilenet_v2")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--edgerun", default=os.path.join(ROOT, "build", "edgerun"))
    ap.add_argument("--cache", default=os.environ.get("EDGERUN_MODEL_CACHE", os.path.expanduser("~/.cache/edgerun/models")))
    ap.add_argument("--no-ort", action="store_true")
    ap.add_argument("--out", default="int8_compare.json")
    args = ap.parse_args()

    raw = []
    rows = []
    for model in args.models.split(","):
        fp32 = os.path.join(args.cache, model + ".onnx")
        int8 = os.path.join(args.cache, "int8", model + ".onnx")
        npy = os.path.join(args.cache, model + ".input.npy")
        for threads in [int(t) for t in args.threads.split(",")]:
            configs = [("edgerun", "fp32", fp32), ("edgerun", "int8", int8)]
            if not args.no_ort:
                configs += [("ort", "fp32", fp32), ("ort", "int8", int8)]
            p50 = {(r, p): [] for r, p, _ in configs}
            cpu = {(r, p): [] for r, p, _ in configs}
            for _ in range(args.rounds):
                for runtime, precision, path in configs:
                    common = [path, "--threads", str(threads), "--iters", str(args.iters)]
                    if runtime == "edgerun":
                        cmd = [args.edgerun, "bench"] + common + ["--json", "--no-progress", "-i", npy]
                    else:
                        cmd = ["node", os.path.join(HERE, "ort_bench.js")] + common + ["--input", npy]
                    result = run_json(cmd)
                    cpu_ms = 1000.0 * result["cpu_s"] / result["total_runs"]
                    p50[(runtime, precision)].append(result["p50_ms"])
                    cpu[(runtime, precision)].append(cpu_ms)
                    raw.append({"model": model, "threads": threads, "runtime": runtime, "precision": precision,
                                "p50_ms": result["p50_ms"], "cpu_ms_per_run": cpu_ms, "loadavg": os.getloadavg()[0]})
            med = {k: statistics.median(v) for k, v in p50.items()}
            med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
            rows.append((model, threads, med, med_cpu))
            print(f"{model} threads={threads}: " + ", ".join(f"{r} {p} p50 {v:.1f} ms (cpu {med_cpu[(r, p)]:.1f} ms)"
                                                              for (r, p), v in med.items()) +
                  f", load average {os.getloadavg()[0]:.1f}", flush=True)
    with open(args.out, "w") as f:
        json.dump(raw, f, indent=1)
    ratio = lambda a, b: f"{a / b:.2f}" if b else "-"
    fmt = lambda v: f"{v:.1f}" if v else "-"
    for title, index in (("p50 wall-clock latency, ms", 2), ("CPU time per run, ms (a latency only at 1 thread)", 3)):
        print(f"\n{title}\n")
        print("| model | threads | edgerun fp32 | edgerun int8 | ORT fp32 | ORT int8 | int8 / ORT fp32 | int8 / ORT int8 |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            model, threads, med = row[0], row[1], row[index]
            e32, e8 = med[("edgerun", "fp32")], med[("edgerun", "int8")]
            o32, o8 = med.get(("ort", "fp32")), med.get(("ort", "int8"))
            print(f"| {model} | {threads} | {e32:.1f} | {e8:.1f} | {fmt(o32)} | {fmt(o8)} | {ratio(e8, o32)} | {ratio(e8, o8)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

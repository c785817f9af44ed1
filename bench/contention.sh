#!/bin/bash
# Two threads against one while other processes hold the cores: for each number of busy-looping
# processes (HOGS, default "0 1 2"), alternates `edgerun bench --threads 1`, `--threads 2`, and
# `--threads 2` with EDGERUN_ADAPTIVE_THREADS=0 (every run on both threads) runs, ROUNDS each (default 5),
# and prints the median p50 of each, their ratios to one thread, and how many of the two-thread
# session's runs it chose to run on one thread. ITERS (default 20) sets the timed runs per process.
#
#   bench/contention.sh [MODEL ...]     models: names in the model cache or .onnx paths (default mobilenet_v2 resnet18)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${EDGERUN_BIN:-$HERE/../build/edgerun}
CACHE=${EDGERUN_MODEL_CACHE:-$HOME/.cache/edgerun/models}
ROUNDS=${ROUNDS:-5}
ITERS=${ITERS:-20}  # timed runs per process
HOGS=${HOGS:-"0 1 2"}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mobilenet_v2 resnet18)

# The benchmark's JSON goes to a file first: a Python started on the other end of a pipe shares the
# cores with the run it waits for (a pyenv shim on PATH takes a third of a second of CPU to start).
PY=/usr/bin/python3
OUT=$(mktemp)
# p50 MODEL THREADS [VAR=VALUE]: prints "p50_ms single_thread_runs total_runs" of one benchmark process.
p50() {
  env ${3:-EDGERUN_ADAPTIVE_THREADS=1} "$BIN" bench "$1" --threads "$2" --iters "$ITERS" --no-progress --json > "$OUT"
  $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["p50_ms"], j["single_thread_runs"], j["total_runs"] + j["warmup"] + 1)' "$OUT"
}
median() { $PY -c 'import statistics,sys; print("%.2f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ratio() { $PY -c "print('%.2f' % ($1 / $2))"; }

hog_pids=()
stop_hogs() { for p in "${hog_pids[@]}"; do kill "$p" 2>/dev/null || true; done; hog_pids=(); }
trap 'stop_hogs; rm -f "$OUT"' EXIT

echo "| model | busy processes | 1 thread p50 (ms) | 2 threads p50 (ms) | 2 / 1 | runs on one thread | 2 threads, every run on both (ms) | that / 1 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for spec in "${models[@]}"; do
  model=$spec
  [[ $spec == *.onnx ]] || model=$CACHE/$spec.onnx
  for hogs in $HOGS; do
    for ((h = 0; h < hogs; ++h)); do (while :; do :; done) & hog_pids+=($!); done
    one=(); two=(); fixed=(); single=0; total=0
    for ((r = 0; r < ROUNDS; ++r)); do
      read -r t _ _ < <(p50 "$model" 1); one+=("$t")
      read -r t s n < <(p50 "$model" 2); two+=("$t"); single=$((single + s)); total=$((total + n))
      read -r t _ _ < <(p50 "$model" 2 EDGERUN_ADAPTIVE_THREADS=0); fixed+=("$t")
    done
    stop_hogs
    a=$(median "${one[@]}"); b=$(median "${two[@]}"); c=$(median "${fixed[@]}")
    echo "| $(basename "$model" .onnx) | $hogs | $a | $b | $(ratio "$b" "$a") | $single / $total | $c | $(ratio "$c" "$a") |"
  done
done

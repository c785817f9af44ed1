#!/bin/bash
# Two threads against one beside busy processes, measured run by run inside one process
# (build/bench/edgerun_threads_ab): for each model and number of busy-looping processes (HOGS, default
# "0 1 2"), REPEATS processes (default 3) of RUNS rounds each (default 300). Prints a markdown table:
# the ratios of p50 to the one-thread session's p50 in the same process (median over the processes,
# and the lowest and highest), the median per-round ratio, and the runs the shipped two-thread session
# put on one thread.
#
#   bench/threads_ab.sh [MODEL ...]     models: names in the model cache or .onnx paths
#                                        (default mobilenet_v2 resnet18 efficientnet_b0)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${EDGERUN_THREADS_AB:-$HERE/../build/bench/edgerun_threads_ab}
CACHE=${EDGERUN_MODEL_CACHE:-$HOME/.cache/edgerun/models}
REPEATS=${REPEATS:-3}
RUNS=${RUNS:-300}
HOGS=${HOGS:-"0 1 2"}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mobilenet_v2 resnet18 efficientnet_b0)

# "median (lowest-highest)" of the numbers on stdin.
summary() { sort -g | awk '{v[NR] = $1} END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
  printf "%.2f (%.2f-%.2f)", m, v[1], v[NR]}'; }

echo "| model | busy processes | 1 thread p50 (ms) | 2 threads / 1 | per-round | runs on one thread | every run on both / 1 | per-round |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for spec in "${models[@]}"; do
  model=$spec
  [[ $spec == *.onnx ]] || model=$CACHE/$spec.onnx
  for hogs in $HOGS; do
    out=$(mktemp)
    for ((r = 0; r < REPEATS; ++r)); do "$BIN" "$model" --busy "$hogs" --runs "$RUNS" >> "$out"; done
    one=$(awk '/^1 thread /{print $4}' "$out" | summary)
    two=$(awk '/^2 threads  /{print $13}' "$out" | summary)
    two_round=$(awk '/^2 threads  /{print $17}' "$out" | summary)
    both=$(awk '/^2 threads, every/{print $17}' "$out" | summary)
    both_round=$(awk '/^2 threads, every/{print $21}' "$out" | summary)
    single=$(awk '/as shipped:/{s += $5; n += $7} END {print s " / " n}' "$out")
    rm -f "$out"
    echo "| $(basename "$model" .onnx) | $hogs | $one | $two | $two_round | $single | $both | $both_round |"
  done
done

#!/bin/bash
# Load + first run, p50 and peak memory of two edgerun builds, alternating fresh processes.
#   bench/ab_load.sh BIN_A BIN_B ROUNDS THREADS MODEL...
# MODEL is a name in the model cache (tools/models/export_models.py) or an .onnx path. Prints medians.
set -euo pipefail
a=$1 b=$2 rounds=$3 threads=$4
shift 4
cache=${EDGERUN_MODEL_CACHE:-$HOME/.cache/edgerun/models}
for m in "$@"; do
  path=$m
  [[ -f $path ]] || path=$cache/$m.onnx
  for _ in $(seq "$rounds"); do
    for bin in "$a" "$b"; do
      "$bin" bench "$path" --threads "$threads" --iters 5 --warmup 0 --json --no-progress |
        /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print('$(basename "$m" .onnx)', '$bin', d['load_ms'], d['first_ms'], d['p50_ms'], d['mem_mb'])"
    done
  done
done | /usr/bin/python3 -c "
import collections, statistics as st, sys
rows = collections.defaultdict(list)
for line in sys.stdin:
    m, b, *v = line.split()
    rows[(m, b)].append([float(x) for x in v])
for (m, b), r in rows.items():
    load, first, p50, mem = (st.median(c) for c in zip(*r))
    print(f'{m:24s} {b}: load {load:7.1f} ms  first {first:7.1f} ms  load+first {load + first:7.1f} ms  p50 {p50:7.2f} ms  peak {mem:6.1f} MB')
"

#!/usr/bin/env bash
# Load benchmark of `edgerun serve` against in-process `edgerun bench`, same machine, alternating.
#
#   bench/serve_bench.sh [MODEL ...]        (default: mobilenet_v2 resnet18)
#
# For each model (a --dynamic-batch export, made on first use in ${EDGERUN_MODEL_CACHE}-dyn), ROUNDS
# times in turn:
#   1. in-process throughput: edgerun bench --threads 1 --streams $INSTANCES --json
#   2. edgerun serve --threads 1 with $INSTANCES instances, dynamic batching on (max_batch_size 8,
#      max_queue_delay DELAY_US) and off: saturation throughput with wrk (closed loop, CONNECTIONS
#      connections, binary-extension POSTs of one image each, binary output), the average batch size
#      from /metrics (inference_count / exec_count) over that run, then p50/p99 latency at half the
#      saturation rate (open loop, bench/serve_load.cpp, latency from each request's scheduled start).
# Then prints the median of each figure over the rounds.
# Env: ROUNDS (3), INSTANCES (2), CONNECTIONS (8), SECONDS_SAT (15), SECONDS_LAT (20), DELAY_US (2000).
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ $# -gt 0 ] || models=(mobilenet_v2 resnet18)
cache="${EDGERUN_MODEL_CACHE:-$HOME/.cache/edgerun/models}-dyn"
rounds=${ROUNDS:-3}
instances=${INSTANCES:-2}
connections=${CONNECTIONS:-8}
sat_s=${SECONDS_SAT:-15}
lat_s=${SECONDS_LAT:-20}
delay_us=${DELAY_US:-2000}
edgerun=build/edgerun
load=build/bench/edgerun_serve_load
[ -x "$edgerun" ] && [ -x "$load" ] || { echo "build first: ninja -C build edgerun_cli edgerun_serve_load"; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
work=$(mktemp -d)
server_pid=""
cleanup() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
results="$work/results.tsv"

counts() {  # counts MODEL -> "inference_count exec_count", from one scrape
  curl -s "http://127.0.0.1:$port/metrics" | awk -v i="edgerun_inference_count{model=\"$1\",version=\"1\"}" \
    -v e="edgerun_inference_exec_count{model=\"$1\",version=\"1\"}" '$1 == i { a = $2 } $1 == e { b = $2 } END { print a, b }'
}

start_server() {  # start_server REPO
  "$edgerun" serve --model-repository "$1" --http-port 0 --threads 1 > "$work/server.log" 2>&1 &
  server_pid=$!
  port=""
  for _ in $(seq 300); do
    port=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.2
  done
  [ -n "$port" ] || { cat "$work/server.log"; exit 1; }
}

stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$results"; echo "  $1 $2 $3: $4"; }

/usr/bin/python3 - "$work/body.bin" "$work/hl" <<'PY'
import json, struct, sys, random
random.seed(1)
n = 3 * 224 * 224
head = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32",
                               "parameters": {"binary_data_size": n * 4}}],
                   "parameters": {"binary_data_output": True}}).encode()
with open(sys.argv[1], "wb") as f:
    f.write(head + struct.pack(f"<{n}f", *[random.uniform(-1, 1) for _ in range(n)]))
open(sys.argv[2], "w").write(str(len(head)))
PY
hl=$(cat "$work/hl")

for m in "${models[@]}"; do
  [ -f "$cache/$m.onnx" ] || /usr/bin/python3 tools/models/export_models.py --out "$cache" --only "$m" --dynamic-batch >/dev/null
  for batching in on off; do
    repo="$work/repo-$m-$batching"
    mkdir -p "$repo/$m/1"
    ln -sf "$cache/$m.onnx" "$repo/$m/1/model.onnx"
    if [ "$batching" = on ]; then
      echo "{\"max_batch_size\": 8, \"dynamic_batching\": {\"max_queue_delay_microseconds\": $delay_us}, \"instance_count\": $instances}" > "$repo/$m/config.json"
    else
      echo "{\"instance_count\": $instances}" > "$repo/$m/config.json"
    fi
  done
  for round in $(seq "$rounds"); do
    echo "$m round $round ($(uptime | sed 's/.*load/load/'))"
    ips=""
    for _ in 1 2; do  # one retry: on a shared machine a run can fail for reasons of its own
      ips=$("$edgerun" bench "$cache/$m.onnx" --threads 1 --streams "$instances" --duration "$sat_s" --json --no-progress |
            /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["throughput_ips"], 2))' || true)
      [ -n "$ips" ] && break
      echo "  in-process bench gave no result, retrying"
    done
    record "$m" in-process throughput_ips "$ips"
    for batching in on off; do
      start_server "$work/repo-$m-$batching"
      url="http://127.0.0.1:$port/v2/models/$m/infer"
      wrk -t1 -c"$connections" -d3s -s bench/serve_infer.lua "$url" -- "$work/body.bin" "$hl" >/dev/null  # warm-up
      read -r inf0 exec0 < <(counts "$m")
      out=$(wrk -t1 -c"$connections" -d"${sat_s}s" -s bench/serve_infer.lua "$url" -- "$work/body.bin" "$hl")
      read -r inf1 exec1 < <(counts "$m")
      rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
      record "$m" "batching-$batching" saturation_rps "$rps"
      record "$m" "batching-$batching" saturation_non200 "$(echo "$out" | awk '/non-200/ { print $3 }')"
      record "$m" "batching-$batching" saturation_pct_of_inprocess "$(awk -v a="$rps" -v b="$ips" 'BEGIN { printf "%.1f", 100 * a / b }')"
      record "$m" "batching-$batching" avg_batch "$(awk -v a="$inf0" -v b="$inf1" -v c="$exec0" -v d="$exec1" 'BEGIN { printf "%.2f", (b - a) / (d - c) }')"
      half=$(awk -v r="$rps" 'BEGIN { printf "%.1f", r / 2 }')
      lat=$("$load" --port "$port" --model "$m" --shape 1,3,224,224 --rate "$half" --duration "$lat_s" --connections 32 || true)
      for k in p50_ms p99_ms errors throughput_rps; do
        record "$m" "batching-$batching" "half_load_$k" "$(echo "$lat" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$k'])")"
      done
      stop_server
    done
  done
done

echo
echo "medians over $rounds rounds (instances $instances, --threads 1, wrk -c$connections, ${sat_s}s saturation, ${lat_s}s open loop):"
/usr/bin/python3 - "$results" <<'PY'
import collections, statistics, sys
vals = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m, cfg, k, v = line.rstrip("\n").split("\t")
    try:
        vals[(m, cfg, k)].append(float(v))
    except ValueError:
        pass
for key in sorted(vals):
    v = vals[key]
    print(f"{key[0]:14s} {key[1]:12s} {key[2]:30s} median {statistics.median(v):10.2f}   all {v}")
PY

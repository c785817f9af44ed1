#!/usr/bin/env bash
# Load benchmark of `edgerun serve` against in-process `edgerun bench` on the same machine.
#
#   bench/serve_bench.sh [MODEL ...]        (default: mobilenet_v2 resnet18)
#
# For each model (a --dynamic-batch export, made on first use in $EDGERUN_MODEL_CACHE-dyn):
#   1. in-process throughput: edgerun bench --threads 1 --streams $INSTANCES --json
#   2. serve with dynamic batching on (max_batch_size 8) and off, $INSTANCES instances, --threads 1:
#      saturation throughput with wrk (closed loop, binary-extension POSTs of one image each),
#      average batch size from /metrics (inference_count / exec_count) during that run,
#      then p50/p99 latency at half the saturation rate (open loop, bench/serve_load.cpp).
# Env: INSTANCES (2), CONNECTIONS (8), SECONDS_SAT (15), SECONDS_LAT (20), DELAY_US (2000).
set -euo pipefail
cd "$(dirname "$0")/.."
models=("${@:-mobilenet_v2 resnet18}")
[ $# -gt 0 ] || models=(mobilenet_v2 resnet18)
cache="${EDGERUN_MODEL_CACHE:-$HOME/.cache/edgerun/models}-dyn"
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
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

metric() {  # metric NAME MODEL -> value
  curl -s "http://127.0.0.1:$port/metrics" | awk -v s="$1{model=\"$2\",version=\"1\"}" '$1 == s { print $2 }'
}

start_server() {  # start_server REPO
  "$edgerun" serve --model-repository "$1" --http-port 0 --threads 1 > "$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    port=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
    [ -n "$port" ] && break
    sleep 0.2
  done
  [ -n "$port" ] || { cat "$work/server.log"; exit 1; }
}

stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

for m in "${models[@]}"; do
  [ -f "$cache/$m.onnx" ] || /usr/bin/python3 tools/models/export_models.py --out "$cache" --only "$m" --dynamic-batch >/dev/null
  inproc=$("$edgerun" bench "$cache/$m.onnx" --threads 1 --streams "$instances" --duration 10 --json --no-progress |
           /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["throughput_ips"], 2))')
  echo "$m: in-process edgerun bench --threads 1 --streams $instances: $inproc inferences/s"
  # One image, binary tensor data in and out.
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
  for batching in on off; do
    repo="$work/repo-$batching"
    mkdir -p "$repo/$m/1"
    ln -sf "$cache/$m.onnx" "$repo/$m/1/model.onnx"
    if [ "$batching" = on ]; then
      echo "{\"max_batch_size\": 8, \"dynamic_batching\": {\"max_queue_delay_microseconds\": $delay_us}, \"instance_count\": $instances}" > "$repo/$m/config.json"
    else
      echo "{\"instance_count\": $instances}" > "$repo/$m/config.json"
    fi
    start_server "$repo"
    # Warm-up, then the saturation run.
    wrk -t1 -c"$connections" -d3s -s bench/serve_infer.lua "http://127.0.0.1:$port/v2/models/$m/infer" -- "$work/body.bin" "$(cat "$work/hl")" >/dev/null
    inf0=$(metric edgerun_inference_count "$m"); exec0=$(metric edgerun_inference_exec_count "$m")
    out=$(wrk -t1 -c"$connections" -d"${sat_s}s" -s bench/serve_infer.lua "http://127.0.0.1:$port/v2/models/$m/infer" -- "$work/body.bin" "$(cat "$work/hl")")
    inf1=$(metric edgerun_inference_count "$m"); exec1=$(metric edgerun_inference_exec_count "$m")
    rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
    non200=$(echo "$out" | awk '/non-200/ { print $3 }')
    avg_batch=$(awk -v a="$inf0" -v b="$inf1" -v c="$exec0" -v d="$exec1" 'BEGIN { printf "%.2f", (b - a) / (d - c) }')
    ratio=$(awk -v a="$rps" -v b="$inproc" 'BEGIN { printf "%.1f", 100 * a / b }')
    echo "$m batching $batching: saturation $rps req/s (wrk -c$connections, ${sat_s}s; $ratio % of in-process), non-200: $non200, average batch $avg_batch"
    half=$(awk -v r="$rps" 'BEGIN { printf "%.1f", r / 2 }')
    lat=$("$load" --port "$port" --model "$m" --shape 1,3,224,224 --rate "$half" --duration "$lat_s" --connections 32 || true)
    echo "$m batching $batching: open loop at $half req/s: $lat"
    stop_server
  done
done

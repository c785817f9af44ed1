#!/usr/bin/env bash
# A model swap under load: REQUESTS inference requests (binary extension) from CONCURRENCY
# connections; after RELOAD_AFTER of them, version 2 (already copied into the repository) is loaded
# through POST /v2/repository/models/M/load. Prints the client's JSON (errors must be 0) and the
# served versions afterwards.
#
#   bench/serve_swap.sh [MODEL_ONNX] [INPUT_SHAPE]    (default: the Fashion-MNIST model, 1,1,28,28)
# Env: REQUESTS (10000), CONCURRENCY (4), RELOAD_AFTER (3000), CONFIG (dynamic batching, max 8).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/fashion_mnist_cnn.onnx}
shape=${2:-1,1,28,28}
requests=${REQUESTS:-10000}
concurrency=${CONCURRENCY:-4}
reload_after=${RELOAD_AFTER:-3000}
config=${CONFIG:-'{"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 1000}}'}
work=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/repo/m/1"
cp "$model" "$work/repo/m/1/model.onnx"
echo "$config" > "$work/repo/m/config.json"
build/edgerun serve --model-repository "$work/repo" --http-port 0 --threads 1 > "$work/server.log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 100); do
  port=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$work/server.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.2
done
[ -n "$port" ] || { cat "$work/server.log"; exit 1; }
mkdir -p "$work/repo/m/2"
cp "$model" "$work/repo/m/2/model.onnx"  # not seen until the load call
status=0
build/bench/edgerun_serve_load --port "$port" --model m --shape "$shape" --concurrency "$concurrency" \
  --requests "$requests" --reload-after "$reload_after" || status=$?
echo "served versions after: $(curl -s "http://127.0.0.1:$port/v2/models/m" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["versions"])')"
exit $status

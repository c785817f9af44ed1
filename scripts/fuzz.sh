#!/usr/bin/env bash
# Runs each fuzz target for a bounded time, seeded from the conformance models and sample .npy files.
set -euo pipefail
build=$(cd "${1:-build-asan}" && pwd)
seconds=${2:-60}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus/model" "$corpus/npy" "$corpus/infer"
for t in /usr/share/libonnx-testdata/data/node/*/; do
  n=$(basename "$t")
  case "$n" in test_abs|test_add_bcast|test_conv_with_strides_padding|test_relu|test_reshape_negative_dim|test_if|test_loop11|test_gemm_default_matrix_bias|test_maxpool_2d_pads|test_slice|test_concat_2d_axis_0|test_lstm_defaults)
    cp "$t/model.onnx" "$corpus/model/$n.onnx";;
  esac
done
/usr/bin/python3 - "$corpus/npy" <<'PY'
import sys, numpy as np
d = sys.argv[1]
np.save(f"{d}/f32.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
np.save(f"{d}/i64.npy", np.arange(5, dtype=np.int64))
np.save(f"{d}/b.npy", np.array([True, False]))
PY
# Inference requests: byte 0 picks the signature, bytes 1-2 the Inference-Header-Content-Length
# (little-endian, ff ff: none), then the body.
/usr/bin/python3 - "$corpus/infer" <<'PY'
import json, struct, sys
d = sys.argv[1]
def save(name, sig, body, hl=None):
    with open(f"{d}/{name}", "wb") as f:
        f.write(bytes([sig]) + struct.pack("<H", 0xFFFF if hl is None else hl) + body)
img = {"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32"}
save("json", 0, json.dumps({"id": "a", "inputs": [dict(img, data=[1, 2, 3, 4])], "outputs": [{"name": "logits"}]}).encode())
save("nested", 0, json.dumps({"inputs": [dict(img, data=[[[[1, 2], [3, 4]]]])], "parameters": {"binary_data_output": True}}).encode())
head = json.dumps({"inputs": [dict(img, parameters={"binary_data_size": 16})]}).encode()
save("binary", 0, head + struct.pack("<4f", 1, 2, 3, 4), len(head))
mixed = {"inputs": [
    {"name": "a", "shape": [1, 2], "datatype": "INT64", "data": [1, -2]},
    {"name": "b", "shape": [2], "datatype": "BOOL", "data": [True, False]},
    {"name": "c", "shape": [3], "datatype": "UINT8", "data": [0, 1, 255]},
    {"name": "d", "shape": [2], "datatype": "FP16", "data": [0.5, 2]},
    {"name": "e", "shape": [1], "datatype": "BYTES", "data": ["hi"]},
    {"name": "f", "shape": [], "datatype": "INT8", "data": [3]},
    {"name": "g", "shape": [1], "datatype": "BF16", "data": [1]},
    {"name": "h", "shape": [1], "datatype": "FP64", "data": [1e300]},
    {"name": "i", "shape": [1], "datatype": "UINT64", "data": [18446744073709551615]}]}
save("mixed", 1, json.dumps(mixed).encode())
mixed["inputs"][4] = {"name": "e", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}
head = json.dumps(mixed).encode()
save("mixed_binary", 1, head + struct.pack("<I", 2) + b"hi", len(head))
PY
# Runs one target; on a finding, prints the report and the input (base64) so that the CI log alone is
# enough to reproduce it.
run_target() {
  local name=$1
  shift
  local log="$corpus/$name.log" status=0
  (cd "$corpus" && "$build/fuzz/$name" -artifact_prefix="$corpus/finding-" "$@") >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    for f in "$corpus"/finding-*; do
      [ -e "$f" ] || continue
      echo "== $name finding $(basename "$f") (base64; decode with base64 -d and pass the file to the target):"
      base64 "$f"
    done
    return "$status"
  fi
  tail -n 3 "$log"
}
run_target fuzz_model_loader -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 "$corpus/model"
run_target fuzz_npy -max_total_time=$((seconds / 4 + 1)) "$corpus/npy"
run_target fuzz_infer_request -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 -max_len=65536 "$corpus/infer"

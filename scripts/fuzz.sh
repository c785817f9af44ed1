#!/usr/bin/env bash
# Runs each fuzz target for a bounded time, seeded from the conformance models and sample .npy files.
set -euo pipefail
build=${1:-build-asan}
seconds=${2:-60}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus/model" "$corpus/npy"
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
"$build/fuzz/fuzz_model_loader" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 "$corpus/model" 2>&1 | tail -3
"$build/fuzz/fuzz_npy" -max_total_time=$((seconds / 4 + 1)) "$corpus/npy" 2>&1 | tail -3

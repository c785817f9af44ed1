#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: unit tests, the ONNX conformance suites,
# exported-model checks against torch, then the same tests under ASan+UBSan and a bounded fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
jobs=$(nproc)
export EDGERUN_MODEL_CACHE="${EDGERUN_MODEL_CACHE:-$HOME/.cache/edgerun/models}"

echo "== release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j"$jobs"
/usr/bin/python3 tools/models/export_models.py --out "$EDGERUN_MODEL_CACHE"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests, fuzzing"
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGERUN_FUZZ=ON >/dev/null
ninja -C build-asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow)
scripts/fuzz.sh build-asan "${EDGERUN_FUZZ_SECONDS:-60}"
echo "all tests passed"

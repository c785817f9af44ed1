#!/usr/bin/env bash
# Builds edgerun and evaluates the embedded Fashion-MNIST model on the 10,000 test images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build edgerun_cli
./build/edgerun info
./build/edgerun evaluate --dataset fashion-mnist

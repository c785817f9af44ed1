#!/usr/bin/env bash
# Installs the Debian 12 packages edgerun needs to build, test and benchmark (run as root).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libprotobuf-dev protobuf-compiler libonnx-dev libonnx-testdata
  libpng-dev libjpeg-dev zlib1g-dev libcli11-dev libgtest-dev libbenchmark-dev
  libxnnpack-dev libpthreadpool-dev nlohmann-json3-dev libboost-dev wrk
  python3-torch python3-torchvision python3-onnx python3-numpy python3-matplotlib dataset-fashion-mnist
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

#!/usr/bin/env bash
# Throwaway measurement that chose the HTTP stack for `edgerun serve` (see README "Serving"):
# a trivial 200-OK endpoint in three Debian libraries, wrk throughput, and a robustness probe
# (200 slow connections that never finish their headers, then one normal request).
# Needs: apt-get install wrk libcpp-httplib-dev libmicrohttpd-dev (Boost is in install_deps.sh).
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ -O2 -std=c++20 beast_hello.cpp -o "$out/beast_hello" -pthread
g++ -O2 -std=c++20 httplib_hello.cpp -o "$out/httplib_hello" -pthread $(pkg-config --cflags --libs cpp-httplib)
g++ -O2 -std=c++20 mhd_hello.cpp -o "$out/mhd_hello" -lmicrohttpd
for s in "beast_hello 18081 2" "httplib_hello 18082" "mhd_hello 18083 2"; do
  set -- $s
  "$out/$1" "$2" ${3:-} & pid=$!
  sleep 0.5
  echo "== $1"
  wrk -t2 -c64 -d10s "http://127.0.0.1:$2/" | grep -E "Requests/sec|Latency"
  /usr/bin/python3 probe.py "$2" 200
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

#!/usr/bin/env bash
# Connection-stack benchmarks in one session (docs/benchmarks.md, "Connection stack"): single-stream throughput
# (raw TCP, C#/js pairs over TCP + Noise + Yamux), connection establishment per Noise suite, the Noise handshake
# alone, and memory per idle connection. Every client and server runs in its own process on 127.0.0.1.
#   benchmarks/run-stack.sh [--wait-load X] [-- options of `stack all`, e.g. --runs 5 --bytes 1G --js-bytes 256M]
# Output: artifacts/benchmarks/stack-<time>/ (env.txt, one JSON file per measurement, stack.md = the tables).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1

wait_load=
while [ $# -gt 0 ]; do
  case "$1" in
    --wait-load) wait_load=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (pass options of 'stack all' after --)" >&2; exit 2 ;;
  esac
done

load1() { cut -d' ' -f1 /proc/loadavg; }
if [ -n "$wait_load" ]; then
  for _ in $(seq 90); do
    awk -v l="$(load1)" -v max="$wait_load" 'BEGIN { exit !(l <= max) }' && break
    echo "load $(load1) > $wait_load, waiting..." >&2; sleep 10
  done
fi

out="artifacts/benchmarks/stack-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
dotnet build benchmarks/P2PStack.Benchmarks -c Release --nologo -v quiet
(cd interop/js && { [ -x node_modules/.bin/node ] || npm ci --silent; })

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cores (nproc): $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "memory: $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo ".NET SDK: $(dotnet --version), runtime: $(dotnet --list-runtimes | grep -m1 NETCore.App | cut -d' ' -f2)"
  echo "node (js-libp2p): $(interop/js/node_modules/.bin/node --version)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/env.txt"

dotnet artifacts/bin/P2PStack.Benchmarks/release/P2PStack.Benchmarks.dll stack all --out "$out" "$@" > "$out/stack.md"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/env.txt"
cat "$out/env.txt"
echo
cat "$out/stack.md"
echo
echo "written to $out"

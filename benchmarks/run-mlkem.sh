#!/usr/bin/env bash
# Runs the ML-KEM / X-Wing benchmarks of this implementation (BenchmarkDotNet) and of @noble/post-quantum
# (interop/noble/bench.mjs) in one session, then writes a markdown comparison table.
#   benchmarks/run-mlkem.sh [--full] [--wait-load X]
#     --full         BenchmarkDotNet's adaptive job and longer noble batches (default: the quick job, about 2 min in all)
#     --wait-load X  first wait (up to 15 min) until the 1-minute load average is at most X
# Output: artifacts/benchmarks/mlkem-<time>/ (env.txt, BenchmarkDotNet results, noble.json, mlkem.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1

mode=--quick wait_load=
while [ $# -gt 0 ]; do
  case "$1" in
    --full) mode=; shift ;;
    --wait-load) wait_load=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

load1() { cut -d' ' -f1 /proc/loadavg; }
if [ -n "$wait_load" ]; then
  for _ in $(seq 90); do
    awk -v l="$(load1)" -v max="$wait_load" 'BEGIN { exit !(l <= max) }' && break
    echo "load $(load1) > $wait_load, waiting..." >&2; sleep 10
  done
fi

out="artifacts/benchmarks/mlkem-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
dotnet build benchmarks/P2PStack.Benchmarks -c Release --nologo -v quiet
(cd interop/noble && { [ -d node_modules ] || npm ci --silent; })

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cores (nproc): $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "cpu flags: $(grep -m1 -o -w -E 'avx2|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo ".NET SDK: $(dotnet --version)"
  echo "node: $(node --version)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/env.txt"

echo "running BenchmarkDotNet (log: $out/dotnet.log)..." >&2
status=0
dotnet artifacts/bin/P2PStack.Benchmarks/release/P2PStack.Benchmarks.dll $mode \
  --filter '*MLKemBenchmarks*' '*XWingBenchmarks*' --artifacts "$out/dotnet" > "$out/dotnet.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then echo "BenchmarkDotNet run failed ($status); see $out/dotnet.log" >&2; exit "$status"; fi
echo "load after .NET: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/env.txt"

echo "running interop/noble/bench.mjs..." >&2
node interop/noble/bench.mjs $mode > "$out/noble.json"
echo "load after node: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/env.txt"

node benchmarks/mlkem-table.mjs "$out/dotnet/results" "$out/noble.json" > "$out/mlkem.md"
cat "$out/env.txt"
echo
cat "$out/mlkem.md"
echo
echo "written to $out"

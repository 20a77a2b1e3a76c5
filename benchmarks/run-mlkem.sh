#!/usr/bin/env bash
# Runs the ML-KEM / X-Wing benchmarks of this implementation (BenchmarkDotNet) and of @noble/post-quantum
# (interop/noble/bench.mjs) in one session, then writes a markdown comparison table.
#   benchmarks/run-mlkem.sh [--full] [--wait-load X]
#     --full         BenchmarkDotNet's adaptive job and longer noble batches (default: the quick job, about 2 min in all)
#     --wait-load X  first wait (up to 15 min) until the 1-minute load average is at most X
# Output: artifacts/benchmarks/mlkem-<time>/ (env.txt, BenchmarkDotNet results, noble.json, mlkem.md).
source "$(dirname "$0")/session.sh"

mode=--quick wait_load=
while [ $# -gt 0 ]; do
  case "$1" in
    --full) mode=; shift ;;
    --wait-load) wait_load=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

wait_for_load "$wait_load"

out=$(new_output_dir mlkem)
dotnet build benchmarks/P2PStack.Benchmarks -c Release --nologo -v quiet
(cd interop/noble && { [ -d node_modules ] || npm ci --silent; })

{
  describe_machine
  echo "cpu flags: $(grep -m1 -o -w -E 'avx2|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  echo ".NET SDK: $(dotnet --version)"
  echo "node: $(node --version)"
  load_line before
} > "$out/env.txt"

echo "running BenchmarkDotNet (log: $out/dotnet.log)..." >&2
status=0
dotnet artifacts/bin/P2PStack.Benchmarks/release/P2PStack.Benchmarks.dll $mode \
  --filter '*MLKemBenchmarks*' '*XWingBenchmarks*' --artifacts "$out/dotnet" > "$out/dotnet.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then echo "BenchmarkDotNet run failed ($status); see $out/dotnet.log" >&2; exit "$status"; fi
load_line "after .NET" >> "$out/env.txt"

echo "running interop/noble/bench.mjs..." >&2
node interop/noble/bench.mjs $mode > "$out/noble.json"
load_line "after node" >> "$out/env.txt"

node benchmarks/mlkem-table.mjs "$out/dotnet/results" "$out/noble.json" > "$out/mlkem.md"
print_report "$out" "$out/mlkem.md"

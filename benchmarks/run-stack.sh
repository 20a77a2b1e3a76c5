#!/usr/bin/env bash
# Connection-stack benchmarks in one session (docs/benchmarks.md, "Connection stack"): single-stream throughput
# (raw TCP, C#/js pairs over TCP + Noise + Yamux), connection establishment per Noise suite, the Noise handshake
# alone, and memory per idle connection. Every client and server runs in its own process on 127.0.0.1.
#   benchmarks/run-stack.sh [--wait-load X] [-- options of `stack all`, e.g. --runs 5 --bytes 1G --js-bytes 256M]
# Output: artifacts/benchmarks/stack-<time>/ (env.txt, one JSON file per measurement, stack.md = the tables).
source "$(dirname "$0")/session.sh"

wait_load=
while [ $# -gt 0 ]; do
  case "$1" in
    --wait-load) wait_load=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (pass options of 'stack all' after --)" >&2; exit 2 ;;
  esac
done

wait_for_load "$wait_load"

out=$(new_output_dir stack)
dotnet build benchmarks/P2PStack.Benchmarks -c Release --nologo -v quiet
(cd interop/js && { [ -x node_modules/.bin/node ] || npm ci --silent; })

{
  describe_machine
  echo "memory: $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo ".NET SDK: $(dotnet --version), runtime: $(dotnet --list-runtimes | grep -m1 NETCore.App | cut -d' ' -f2)"
  echo "node (js-libp2p): $(interop/js/node_modules/.bin/node --version)"
  load_line before
} > "$out/env.txt"

dotnet artifacts/bin/P2PStack.Benchmarks/release/P2PStack.Benchmarks.dll stack all --out "$out" "$@" > "$out/stack.md"
load_line after >> "$out/env.txt"
print_report "$out" "$out/stack.md"

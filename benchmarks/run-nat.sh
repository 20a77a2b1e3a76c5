#!/usr/bin/env bash
# NAT traversal behind real NATs (docs/benchmarks.md, "NAT matrix" and "Relay throughput"): network namespaces joined
# by a bridge, Linux routers doing NAT (iptables MASQUERADE: cone = endpoint-independent mapping with the port kept,
# symmetric = --random-fully), a public relay serving AutoNAT, and fresh test nodes per run. Prints the tables.
#   benchmarks/run-nat.sh [--wait-load X] [--no-build] [--resume DIR] [-- --runs N --pairs cone->cone,... --throughput-mib M
#                         --throughput-runs R --no-matrix --no-throughput]
# Needs root (ip netns, iptables; iproute2, iptables and conntrack state are the lab's, removed at the end).
# Output: artifacts/benchmarks/nat-<time>/ (env.txt, nat.md = the tables, matrix-runs.jsonl, throughput-runs.jsonl).
# Matrix runs go in rounds over the pairs, one JSON line each as it ends; a stopped session (Ctrl-C, a kill) is
# continued with --resume DIR (its output folder): pairs that already have N runs are left alone, nat.md counts all.
source "$(dirname "$0")/session.sh"

wait_load= build=1 resume=
while [ $# -gt 0 ]; do
  case "$1" in
    --wait-load) wait_load=$2; shift 2 ;;
    --no-build) build=; shift ;;
    --resume) resume=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (pass the benchmark's options after --)" >&2; exit 2 ;;
  esac
done

wait_for_load "$wait_load"

if [ -n "$resume" ]; then
  [ -f "$resume/matrix-runs.jsonl" ] || { echo "--resume $resume: no matrix-runs.jsonl there" >&2; exit 2; }
  out=$resume
else
  out=$(new_output_dir nat)
fi
if [ -n "$build" ]; then
  dotnet build benchmarks/P2PStack.Benchmarks.Nat -c Release --nologo -v quiet
fi

{
  if [ -n "$resume" ]; then echo "resumed:"; fi
  describe_machine
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo ".NET SDK: $(dotnet --version)"
  load_line before
} >> "$out/env.txt"

dotnet artifacts/bin/P2PStack.Benchmarks.Nat/release/P2PStack.Benchmarks.Nat.dll --out "$out" "$@" | tee -a "$out/progress.txt" >&2
load_line after >> "$out/env.txt"
print_report "$out" "$out/nat.md"

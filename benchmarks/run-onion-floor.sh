#!/usr/bin/env bash
# The floor of the onion data path's mandated per-byte work on this machine (docs/benchmarks.md, "Onion loopback: the
# floor of the mandated work on this machine"): builds benchmarks/onion-floor (C, gcc, OpenSSL 3), runs its self-test
# and single-thread component costs, then rounds of the C chain (modes full, aead, layers, plain, raw) alternating with
# the C# `onion-loopback --relay-processes` benchmark in the same minutes, each with the load (`uptime`) before it.
#   benchmarks/run-onion-floor.sh [--rounds 3] [--runs 1] [--mib 256] [--warmup-mib 64] [--ctr vaes|aesni|evp]
#                                 [--modes full,aead,layers,plain,raw] [--no-csharp] [--no-build] [--wait-load X]
source "$(dirname "$0")/session.sh"

rounds=3 runs=1 mib=256 warmup=64 ctr=vaes modes=full,aead,layers,plain,raw csharp=1 build=1 max_load=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --warmup-mib) warmup=$2; shift 2 ;;
    --ctr) ctr=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --no-csharp) csharp=; shift ;;
    --no-build) build=; shift ;;
    --wait-load) max_load=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

bin=artifacts/onion-floor/onion-floor
dll=artifacts/bin/P2PStack.Benchmarks/release/P2PStack.Benchmarks.dll
if [ -n "$build" ]; then
  mkdir -p "$(dirname "$bin")"
  gcc -O2 -march=native -Wall -Wextra -Werror -pthread -o "$bin" benchmarks/onion-floor/{main,crypto,selftest,components,chain}.c -lcrypto
  [ -z "$csharp" ] || nice dotnet build benchmarks/P2PStack.Benchmarks -c Release --nologo -v quiet >/dev/null
fi
out=$(new_output_dir onion-floor)
{ describe_machine; echo "gcc: $(gcc --version | head -1)"; echo "openssl: $(openssl version)"; } > "$out/env.txt"

wait_for_load "$max_load"
"$bin" selftest | tee "$out/selftest.txt"
echo "== $(uptime)" | tee "$out/components.txt"
nice -n 19 "$bin" components | tee -a "$out/components.txt"

for round in $(seq "$rounds"); do
  wait_for_load "$max_load"
  echo "== round $round floor $(date -u +%H:%M:%SZ) $(uptime)" | tee -a "$out/chain.txt"
  nice -n 19 "$bin" chain --mib "$mib" --warmup-mib "$warmup" --runs "$runs" --modes "$modes" --ctr "$ctr" | tee -a "$out/chain.txt"
  if [ -n "$csharp" ]; then
    echo "== round $round csharp $(date -u +%H:%M:%SZ) $(uptime)" | tee -a "$out/csharp.txt"
    nice -n 19 dotnet "$dll" onion-loopback --relay-processes --builds 400 --warmup-builds 1000 --echoes 200 --mib 32 \
      | tee -a "$out/csharp.txt"
  fi
done
echo "written to $out"

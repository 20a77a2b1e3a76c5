#!/usr/bin/env bash
# X25519 / Ed25519 for the Noise handshake: BouncyCastle 2.7 (Ed25519, and X25519 where libcrypto is missing), BouncyCastle
# 1.8.10 (former), NSec (libsodium) and OpenSSL's libcrypto (X25519 by default since it is faster).
#   benchmarks/run-curve25519.sh [--no-bdn] [--no-count]
# 1. BenchmarkDotNet (quick job): wall-clock means and ratios against BouncyCastle 2.7, all in one process.
# 2. Instruction counts with valgrind's callgrind (load-independent): each operation is run LOW and HIGH times in a
#    process of its own; (Ir(HIGH) - Ir(LOW)) / (HIGH - LOW) is the instructions of one operation. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
bdn=1 count=1
for a in "$@"; do
  case "$a" in --no-bdn) bdn=0 ;; --no-count) count=0 ;; *) echo "unknown option $a" >&2; exit 2 ;; esac
done
dotnet build benchmarks/P2PStack.Benchmarks -c Release -v q -nologo >/dev/null
bin=artifacts/bin/P2PStack.Benchmarks/release
if [ "$bdn" = 1 ]; then
  (cd "$bin" && nice -n 5 dotnet P2PStack.Benchmarks.dll --quick --filter '*Curve25519Benchmarks*' >/dev/null)
  cat "$bin"/BenchmarkDotNet.Artifacts/results/*Curve25519Benchmarks-report-github.md
fi
if [ "$count" = 1 ]; then
  command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
  low=5 high=55
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  ir() { # operation count -> total instructions
    (cd "$bin" && DOTNET_TieredCompilation=0 nice -n 5 valgrind --tool=callgrind --callgrind-out-file="$out/cg" \
      dotnet P2PStack.Benchmarks.dll curve25519-count "$1" "$2" 2>&1 >/dev/null) | sed -n 's/.*I *refs: *//p' | tr -d ,
  }
  printf '\n| operation | instructions per operation |\n| --- | ---: |\n'
  ops=""
  for group in X25519KeyGen X25519Agree Ed25519Sign Ed25519Verify; do
    for lib in BouncyCastle27 BouncyCastle18 NSec OpenSsl; do ops="$ops ${group}_${lib}"; done
  done
  for op in $ops X25519KeyGen_OpenSslImport X25519BaseAgree_BouncyCastle27 X25519BaseAgree_OpenSsl; do
    a=$(ir "$op" "$low"); b=$(ir "$op" "$high")
    printf '| %s | %d |\n' "$op" $(( (b - a) / (high - low) ))
  done
fi

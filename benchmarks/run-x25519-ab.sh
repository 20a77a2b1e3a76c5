#!/usr/bin/env bash
# X25519 in OpenSSL against BouncyCastle on connection setup, same build, same minutes (docs/benchmarks.md, "X25519
# and Ed25519 for the handshake"): `stack serve` / `stack connect --suites S`, both processes run with
# P2PSTACK_X25519=openssl, then both with =bouncycastle, alternating (the order reversed every round). Per run: a fresh
# listener warmed by one connect process, then a measured connect process (its own warm-up first); dial and dial to
# first ping medians, and CPU per setup of the dialing process and of the listener (/proc/PID/stat).
#   benchmarks/run-x25519-ab.sh [--no-build] [--rounds 4] [--count 300] [--warmup 300] [--suites mlkem768]
source "$(dirname "$0")/session.sh"

build=1 rounds=4 count=300 warmup=300 suites=mlkem768
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --suites) suites=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -z "$build" ] || dotnet build benchmarks/P2PStack.Benchmarks -c Release --nologo -v quiet >/dev/null
dll=artifacts/bin/P2PStack.Benchmarks/release/P2PStack.Benchmarks.dll
out=$(new_output_dir x25519-ab)
serve_pid= hold_pid=
cleanup() { for p in $serve_pid $hold_pid; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

median() { jq -r "$1 | sort | .[length / 2 | floor]"; }

run_one() { # impl round
  local impl=$1 tag="$1-$2"
  rm -f "$out/in"; mkfifo "$out/in"
  sleep 3600 > "$out/in" 2>/dev/null & hold_pid=$!
  P2PSTACK_X25519=$impl dotnet "$dll" stack serve < "$out/in" > "$out/serve-$tag.txt" 2>&1 & serve_pid=$!
  for _ in $(seq 600); do grep -q '^LISTEN ' "$out/serve-$tag.txt" 2>/dev/null && break; sleep 0.1; done
  local addr; addr=$(sed -n 's/^LISTEN //p' "$out/serve-$tag.txt")
  P2PSTACK_X25519=$impl dotnet "$dll" stack connect --addr "$addr" --count 1 --warmup "$warmup" --suites "$suites" > /dev/null
  P2PSTACK_X25519=$impl dotnet "$dll" stack connect --addr "$addr" --count "$count" --warmup "$warmup" --suites "$suites" \
    --server-pid "$serve_pid" | tail -1 > "$out/connect-$tag.json"
  kill "$serve_pid" "$hold_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  serve_pid= hold_pid=
  local j="$out/connect-$tag.json"
  printf '| %s | %s | %s | %.2f | %.2f | %.3f | %.3f |\n' "$2" "$impl" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$(median '.suites[0].dialMs' < "$j")" "$(median '.suites[0].pingMs' < "$j")" \
    "$(jq -r '.cpuMsPerSetup.client' < "$j")" "$(jq -r '.cpuMsPerSetup.server' < "$j")"
}

report="$out/ab.md"
{
  echo "suite $suites, $count measured connections after $warmup warm-ups per run; $(load_line before)"
  echo
  echo "| round | X25519 | load | dial (ms, median) | dial to first ping (ms, median) | CPU per setup, dialer (ms) | CPU per setup, listener (ms) |"
  echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
} > "$report"
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="openssl bouncycastle"; else order="bouncycastle openssl"; fi
  for impl in $order; do run_one "$impl" "$r" >> "$report"; tail -1 "$report" >&2; done
done
{ echo; load_line after; } >> "$report"
cat "$report"
echo "results in $out" >&2

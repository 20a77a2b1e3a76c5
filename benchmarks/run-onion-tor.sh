#!/usr/bin/env bash
# Onion circuits side by side with Tor on this machine, in one session (docs/benchmarks.md, "Onion circuits and Tor on
# loopback"): Debian's tor as a private network on 127.0.0.1 (3 directory authorities with TestingTorNetwork 1, 5 relays,
# a client driven through its control port; `tor-loopback`), then our 3-hop circuits on 127.0.0.1 with each relay in a
# process of its own (`onion-loopback --relay-processes`), the same measures: 3-hop build, 1-byte echo, one-stream throughput, CPU per MiB per relay.
#   benchmarks/run-onion-tor.sh [--wait-load X] [--no-build] [--builds N] [--echoes N] [--mib N] [--schedulers default,Vanilla]
# Installs tor (apt-get) when missing; needs root for that. Tor's processes and data directories are the benchmark's own
# (temporary, removed at the end, killed even on failure); ports come from the kernel.
# Output: artifacts/benchmarks/onion-tor-<time>/ (env.txt, tor.txt, onion.txt).
source "$(dirname "$0")/session.sh"

wait_load= build=1 builds=200 echoes=1000 mib=32 schedulers=default,Vanilla
while [ $# -gt 0 ]; do
  case "$1" in
    --wait-load) wait_load=$2; shift 2 ;;
    --no-build) build=; shift ;;
    --builds) builds=$2; shift 2 ;;
    --echoes) echoes=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --schedulers) schedulers=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if ! command -v tor > /dev/null || ! command -v tor-gencert > /dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends tor
fi

wait_for_load "$wait_load"

out=$(new_output_dir onion-tor)
if [ -n "$build" ]; then
  dotnet build benchmarks/P2PStack.Benchmarks -c Release --nologo -v quiet
fi
bench=artifacts/bin/P2PStack.Benchmarks/release/P2PStack.Benchmarks.dll

{
  describe_machine
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo ".NET SDK: $(dotnet --version)"
  echo "tor: $(tor --version | head -1)"
  load_line before
} > "$out/env.txt"

dotnet "$bench" tor-loopback --builds "$builds" --echoes "$echoes" --mib "$mib" --schedulers "$schedulers" | tee "$out/tor.txt"
load_line "after tor" >> "$out/env.txt"
dotnet "$bench" onion-loopback --builds "$builds" --echoes "$echoes" --mib "$mib" --relay-processes | tee "$out/onion.txt"
load_line after >> "$out/env.txt"

echo
cat "$out/env.txt"
echo "written to $out"

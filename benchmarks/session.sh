# Sourced by benchmarks/run-*.sh: what every benchmark session does the same way (from the repository root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1

load1() { cut -d' ' -f1 /proc/loadavg; }

# "load <when>: <1, 5 and 15-minute load averages>", for env.txt.
load_line() { echo "load $1: $(cut -d' ' -f1-3 /proc/loadavg)"; }

# wait_for_load X: waits (up to 15 min) until the 1-minute load average is at most X; nothing when X is empty.
wait_for_load() {
  [ -n "$1" ] || return 0
  for _ in $(seq 90); do
    awk -v l="$(load1)" -v max="$1" 'BEGIN { exit !(l <= max) }' && break
    echo "load $(load1) > $1, waiting..." >&2; sleep 10
  done
}

# new_output_dir NAME: creates artifacts/benchmarks/NAME-<UTC time> and prints its path.
new_output_dir() {
  local dir
  dir="artifacts/benchmarks/$1-$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$dir"
  echo "$dir"
}

# The first lines of env.txt: date, cores, CPU model.
describe_machine() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cores (nproc): $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
}

# print_report DIR TABLE: env.txt and the markdown table, then where they are.
print_report() {
  cat "$1/env.txt"
  echo
  cat "$2"
  echo
  echo "written to $1"
}

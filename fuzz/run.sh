#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder of network input (fuzz/README.md).
#   fuzz/run.sh [--seconds N] [--out DIR] [--corpus DIR | --fresh] [--no-build] [TARGET[:SECONDS]...]
# Builds fuzz/P2PStack.Fuzz, instruments a copy of its P2PStack assemblies with SharpFuzz, writes the seed corpora,
# then runs afl-fuzz on each target (all by default) for N seconds (default 10; TARGET:SECONDS for one), starting from the seeds and the corpus
# an earlier run kept in DIR/<target> (default artifacts/fuzz/corpus; --fresh: the seeds only), which it replaces
# with afl's queue at the end. Installs afl++ (Debian) and the
# sharpfuzz tool (NuGet) when missing. Prints one line per target (executions, corpus, crashes, hangs) and exits
# non-zero when any target crashed or hung, replaying each such input (exception and stack trace). With --out, afl's
# whole output stays in DIR/<target>/default (crashes, hangs, queue); without it the work directory is removed at
# the end and only the crash and hang inputs are kept, in artifacts/fuzz-findings/<target>/, and printed in hex.
# --no-build: use the Release build already in artifacts/bin (a long run whose sources are edited meanwhile).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
out=""
corpus=artifacts/fuzz/corpus
build=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --corpus) corpus="$2"; shift 2 ;;
    --fresh) corpus=""; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
work=$(mktemp -d "${TMPDIR:-/tmp}/p2pstack-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
# Without --out afl's output lives in the work directory, which goes at exit: crash and hang inputs are kept here.
[ -n "$out" ] || { out="$work/findings"; kept=artifacts/fuzz-findings; }

if ! command -v afl-fuzz >/dev/null; then
  echo "fuzz: installing afl++" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++) >"$work/apt.log" 2>&1 \
    || { cat "$work/apt.log" >&2; exit 1; }
fi
sharpfuzz_version=$(sed -n 's/.*Include="SharpFuzz" Version="\([^"]*\)".*/\1/p' Directory.Packages.props)
dotnet tool install SharpFuzz.CommandLine --version "$sharpfuzz_version" --tool-path "$work/tools" >/dev/null

[ "$build" = 0 ] || dotnet build fuzz/P2PStack.Fuzz -c Release -v quiet -nologo >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
built=$(dirname "$(find artifacts/bin/P2PStack.Fuzz -path '*release*' -name P2PStack.Fuzz.dll | head -1)")
cp -r "$built" "$work/bin"
for dll in "$work"/bin/P2PStack.*.dll; do
  case "$(basename "$dll")" in P2PStack.Fuzz.dll) continue ;; esac
  "$work/tools/sharpfuzz" "$dll" >/dev/null
done
# Instrumented code runs only under afl-fuzz: seeds, the listing and replays use the plain build.
dotnet "$built/P2PStack.Fuzz.dll" seed "$work/seeds" >/dev/null
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(dotnet "$built/P2PStack.Fuzz.dll" list | cut -f1)

# dotnet is not an instrumented binary (the assemblies are); the machine is shared, so no CPU binding.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1
status=0
mkdir -p "$out" "$work/tmp"
for spec in "${targets[@]}"; do
  target=${spec%%:*}
  target_seconds=$seconds
  [ "$target" = "$spec" ] || target_seconds=${spec#*:}
  rm -rf "${out:?}/$target" "$out/$target.exceptions.log"
  [ -z "${kept:-}" ] || rm -rf "${kept:?}/$target"   # an earlier run's inputs of this target
  # The input: the seeds and what earlier runs' queues kept (a fresh checkout, as in CI, has none).
  input="$work/input/$target"
  mkdir -p "$input"
  cp "$work/seeds/$target"/* "$input/"
  kept_inputs=0
  if [ -n "$corpus" ] && [ -d "$corpus/$target" ]; then
    for f in "$corpus/$target"/*; do [ -f "$f" ] && cp "$f" "$input/" && kept_inputs=$((kept_inputs + 1)); done
  fi
  # -t: per-input timeout in ms (generous: the machine is loaded); -V: seconds of fuzzing.
  # TMPDIR: files a target needs (the registry's SQLite replay cache) go where the trap removes them.
  if ! TMPDIR="$work/tmp" P2PSTACK_FUZZ_LOG="$out/$target.exceptions.log" afl-fuzz -V "$target_seconds" -t 10000 -m none -i "$input" -o "$out/$target" \
      -- dotnet "$work/bin/P2PStack.Fuzz.dll" run "$target" >"$work/$target.log" 2>&1; then
    echo "fuzz: $target: afl-fuzz failed" >&2; tail -20 "$work/$target.log" >&2; status=1; continue
  fi
  stats="$out/$target/default/fuzzer_stats"
  stat() { sed -n "s/^$1 *: *//p" "$stats"; }
  crashes=$(stat saved_crashes); hangs=$(stat saved_hangs)
  echo "fuzz: $target: $(stat execs_done) executions in $(stat run_time) s, corpus $(stat corpus_count) (from $kept_inputs kept), edges $(stat edges_found), last new path at $(( $(stat last_find) > 0 ? $(stat last_find) - $(stat start_time) : 0 )) s, crashes $crashes, hangs $hangs"
  if [ -n "$corpus" ]; then
    # Keep the queue for the next run, under short names (afl's carry the history of each input and would grow).
    rm -rf "${corpus:?}/$target.new"
    mkdir -p "$corpus/$target.new"
    n=0
    for f in "$out/$target/default/queue"/id*; do
      [ -f "$f" ] || continue
      cp "$f" "$corpus/$target.new/$(printf 'q%06d' "$n")"
      n=$((n + 1))
    done
    rm -rf "${corpus:?}/$target"
    mv "$corpus/$target.new" "$corpus/$target"
  fi
  if [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then
    status=1
    for input in "$out/$target/default/crashes"/id* "$out/$target/default/hangs"/id*; do
      [ -e "$input" ] || continue
      echo "fuzz: $target: $input" >&2
      if [ -n "${kept:-}" ]; then
        # The work directory goes at exit: keep the input in the repository's (ignored) artifacts, and print it so
        # that a CI log alone is enough to reproduce the finding.
        copy="$kept/$target/$(basename "$(dirname "$input")")-$(basename "$input" | cut -d, -f1 | tr ':' '-')"
        mkdir -p "$kept/$target"
        cp "$input" "$copy"
        echo "fuzz: $target: kept as $copy ($(command stat -c %s "$input") bytes; the first 4 KiB in hex):" >&2
        head -c 4096 "$input" | od -An -tx1 -v >&2
      fi
      timeout 60 dotnet "$built/P2PStack.Fuzz.dll" replay "$target" "$input" >&2 || echo "fuzz: $target: replay failed or timed out (exit $?)" >&2
    done
    # What the instrumented process saw (a crash that does not replay still has its exception here).
    if [ -s "$out/$target.exceptions.log" ]; then
      echo "fuzz: $target: exceptions seen while fuzzing ($out/$target.exceptions.log):" >&2
      tail -60 "$out/$target.exceptions.log" >&2
    fi
  fi
done
[ -z "${kept:-}" ] || [ ! -d "$kept" ] || echo "fuzz: crash and hang inputs kept in $kept/" >&2
exit $status

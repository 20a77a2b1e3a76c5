#!/usr/bin/env bash
# Runs every test of the solution (unit, conformance, simulation, interop) and prints one summary line.
# Whatever the tests need beyond the .NET SDK, Node and npm (npm packages, Node 22) their fixtures install.
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1
log=$(mktemp)
dotnet test P2PStack.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# Sum the per-assembly summaries ("Passed!  - Failed: 0, Passed: 18, Skipped: 0, Total: 18").
read -r passed failed skipped < <(grep -E '^(Passed|Failed)! +- Failed:' "$log" | sed -E \
  's/.*Failed: *([0-9]+), Passed: *([0-9]+), Skipped: *([0-9]+).*/\2 \1 \3/' \
  | awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
# Repeat the failed tests' names (and a test host that died) next to the summary: CI may show only the output's tail.
failures=$( { grep -E '\[FAIL\]|Test Run Aborted|The active test run was aborted' "$log" | sort -u
  grep -E -A2 '^  Failed [A-Za-z]' "$log" | cut -c1-400 | head -60; } )
rm -f "$log"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; failures="${failures:-(no test failed: the build or a test runner failed; see above)}"; fi
# A short coverage-guided fuzzing pass over every network decoder (fuzz/README.md): a crash or hang fails the run.
if fuzz/run.sh --seconds "${FUZZ_SECONDS:-5}"; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
if [ -n "$failures" ]; then echo "failed:"; echo "$failures"; fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"

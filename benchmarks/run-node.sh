#!/usr/bin/env bash
# The stack as a user sees it, in one session (docs/benchmarks.md, "Node data path"): raw loopback TCP, two started
# synaptic-mesh nodes through `p2p perf` (up and down), two js-libp2p 3.3 nodes with the same perf protocol, and
# connection setup (dial to first ping) node->node, node->js, js->js. Prints the tables with the node/raw and
# node/js ratios and writes them into docs/benchmarks.md (between the run-node markers).
#   benchmarks/run-node.sh [--wait-load X] [--no-docs] [--no-build] [-- options of `stack node-all`, e.g. --bytes 2G --runs 5 --connects 200
#     --connect-warmup 500 --connect-settle 2500]
# Connection setup is reported apart for the warm-up dials of fresh nodes (the JIT compiling the connection path), the
# connections right after them, and settled ones (after --connect-settle more dials), each with both nodes' CPU per setup.
# Output: artifacts/benchmarks/node-<time>/ (env.txt, one JSON file per measurement, node.md = the tables).
source "$(dirname "$0")/session.sh"

wait_load= docs=1 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --wait-load) wait_load=$2; shift 2 ;;
    --no-docs) docs=; shift ;;
    --no-build) build=; shift ;;
    --) shift; break ;;
    *) echo "unknown option $1 (pass options of 'stack node-all' after --)" >&2; exit 2 ;;
  esac
done

wait_for_load "$wait_load"

out=$(new_output_dir node)
if [ -n "$build" ]; then
  dotnet build src/Node/SynapticMesh/SynapticMesh.csproj -c Release --nologo -v quiet
  dotnet build benchmarks/P2PStack.Benchmarks -c Release --nologo -v quiet
fi
(cd interop/js && { [ -x node_modules/.bin/node ] || npm ci --silent; })

{
  describe_machine
  echo "memory: $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
  echo ".NET SDK: $(dotnet --version), runtime: $(dotnet --list-runtimes | grep -m1 NETCore.App | cut -d' ' -f2)"
  echo "node (js-libp2p): $(interop/js/node_modules/.bin/node --version)"
  load_line before
} > "$out/env.txt"

dotnet artifacts/bin/P2PStack.Benchmarks/release/P2PStack.Benchmarks.dll stack node-all \
  --mesh artifacts/bin/SynapticMesh/release/synaptic-mesh.dll --out "$out" "$@" > "$out/node.md"
load_line after >> "$out/env.txt"

if [ -n "$docs" ]; then
  # Replace what lies between the markers in docs/benchmarks.md with this run's env and tables.
  section="$out/section.md"
  {
    echo "Run of $(date -u +%Y-%m-%dT%H:%MZ) (\`benchmarks/run-node.sh $*\`): $(grep -m1 '^cpu:' "$out/env.txt" | cut -d' ' -f2-),"
    echo "$(nproc) cores; $(grep '^load before' "$out/env.txt"), $(grep '^load after' "$out/env.txt")."
    echo
    cat "$out/node.md"
  } > "$section"
  awk -v section="$section" '
    /<!-- run-node:begin -->/ { print; while ((getline line < section) > 0) print line; skip = 1; next }
    /<!-- run-node:end -->/ { skip = 0 }
    !skip { print }
  ' docs/benchmarks.md > "$out/benchmarks.md.new"
  if grep -q '<!-- run-node:begin -->' docs/benchmarks.md; then
    cp "$out/benchmarks.md.new" docs/benchmarks.md
    echo "docs/benchmarks.md updated (run-node section)" >&2
  else
    echo "docs/benchmarks.md has no run-node markers; not updated" >&2
  fi
fi
print_report "$out" "$out/node.md"

#!/usr/bin/env bash
# DAG consensus figures in one session (docs/benchmarks.md, "DAG consensus"):
#   sweep  - seeded safety/liveness runs on the in-process model: N = 50, R seeds for each configuration
#            (no byzantine nodes; each byzantine kind at 10 % and at 20 %), resumable (--resume DIR)
#   model  - latency and messages per decision against N = 50, 200, 1000 on the model (seeds 1-3)
#   hosts  - the same on real hosts (memory transport, Noise, Yamux, signed neural envelopes), N = 50, 200
#   benchmarks/run-dag.sh [--parts sweep,model,hosts] [--runs 1000] [--first-seed 1] [--parallel 2] [--resume DIR] [--wait-load X] [--sign]
#                         [--nodes 50] [--fractions 0,0.1,0.2] [--kinds RandomVoter,BothSides,Withholder,Equivocator]
#   (--nodes N: the sweep's N; --fractions/--kinds: only those configurations, e.g. --fractions 0 for the honest one;
#   a later session with more of them and --resume DIR runs only what the file does not hold yet)
#   (the sweep runs seeds F..R of each configuration: --first-seed F continues a sweep whose seeds below F were run
#   elsewhere; a resumed DIR keeps the first seed it was started with, kept in DIR/first-seed)
#   (--sign: the sweep wraps every message in a signed and verified neural envelope; such runs are kept apart)
# Output: artifacts/benchmarks/dag-<time>/ (env.txt, sweep.jsonl, sweep.md, model.md, hosts.md).
source "$(dirname "$0")/session.sh"

parts=sweep,model,hosts runs=1000 first_seed= parallel=$(nproc) resume= wait_load= sign= nodes=50 fractions=0,0.1,0.2 kinds=RandomVoter,BothSides,Withholder,Equivocator
while [ $# -gt 0 ]; do
  case "$1" in
    --parts) parts=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --first-seed) first_seed=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --resume) resume=$2; shift 2 ;;
    --wait-load) wait_load=$2; shift 2 ;;
    --sign) sign=--sign; shift ;;
    --nodes) nodes=$2; shift 2 ;;
    --fractions) fractions=$2; shift 2 ;;
    --kinds) kinds=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

wait_for_load "$wait_load"
# A larger gen-0 budget: the model allocates a message per send, and fewer collections cost a few per cent less CPU.
export DOTNET_GCgen0size=${DOTNET_GCgen0size:-0x8000000}
out=${resume:-$(new_output_dir dag)}
# The session runs its own copy of the build, so later builds in the tree cannot change a long sweep under way;
# a resumed session keeps the copy it started with.
if [ ! -d "$out/bin" ]; then
  dotnet build benchmarks/P2PStack.Benchmarks -c Release --nologo -v quiet
  cp -r artifacts/bin/P2PStack.Benchmarks/release "$out/bin"
fi
bench=$out/bin/P2PStack.Benchmarks.dll
# A resumed sweep starts where its first session said, unless told otherwise.
if [ -z "$first_seed" ]; then first_seed=$(cat "$out/first-seed" 2>/dev/null || echo 1); fi
echo "$first_seed" > "$out/first-seed"
{
  describe_machine
  echo ".NET SDK: $(dotnet --version), runtime: $(dotnet --list-runtimes | grep -m1 NETCore.App | cut -d' ' -f2)"
  echo "commit: $(git rev-parse --short HEAD)"
  load_line before
} >> "$out/env.txt"

run_part() { # name, command...
  local name=$1; shift
  local start; start=$(date +%s)
  "$@" > "$out/$name.md"
  echo "$name: $(( $(date +%s) - start )) s wall, $(load_line after)" >> "$out/env.txt"
}

case ",$parts," in *,sweep,*) run_part sweep dotnet "$bench" dag sweep --runs "$runs" --first-seed "$first_seed" --nodes "$nodes" --fractions "$fractions" --kinds "$kinds" --parallel "$parallel" --out "$out/sweep.jsonl" $sign ;; esac
case ",$parts," in *,model,*) run_part model dotnet "$bench" dag model --nodes 50,200,1000 --seeds 1,2,3 ;; esac
case ",$parts," in *,hosts,*) run_part hosts dotnet "$bench" dag hosts --nodes 50,200 --seed 1 ;; esac

cat "$out/env.txt"
for f in sweep model hosts; do [ -f "$out/$f.md" ] && { echo; cat "$out/$f.md"; }; done
echo
echo "written to $out"

#!/usr/bin/env bash
# `make bench-core`: the decision core's CPU per decision (bench/core.ts: DecisionService.decide() on
# memory stores, no HTTP) of this checkout, and with BENCH_BASE=<rev> of that revision's src/ too,
# the two run in turn PAIRS times (A B, B A, …) so that other work on the machine weighs on both alike.
# Prints each run's figures and the median of the per-pair ratios. Bounded: ~1 min per pair of runs.
#   BENCH_BASE=main     compare with src/ at that revision (this checkout's bench/core.ts and policy)
#   BENCH_PAIRS=4       runs of each
#   BENCH_N=20000       decisions per round (5 rounds per run after a warm-up round)
#   TOLLGATE_LOG_LEVEL  warn (default, no decision log line) or info
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$root/node_modules/.bin:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-core.XXXXXX")
trap 'rm -rf "$work"' EXIT
scripts/build-wasm.sh "$work/wasm" >&2
export TOLLGATE_POLICY_DIR="$work/wasm" TOLLGATE_LOG_LEVEL=${TOLLGATE_LOG_LEVEL:-warn}
pairs=${BENCH_PAIRS:-4}
n=${BENCH_N:-20000}
dirs=("$root")
if [[ -n ${BENCH_BASE:-} ]]; then
	rev=$(git rev-parse --short "$BENCH_BASE^{commit}")
	mkdir -p "$work/base"
	git archive "$rev" package.json tsconfig.json src | tar -x -C "$work/base"
	mkdir -p "$work/base/bench" && cp bench/core.ts "$work/base/bench/"
	ln -s "$root/node_modules" "$work/base/node_modules"
	dirs+=("$work/base")
fi
echo "==> checkout $(git rev-parse --short HEAD)${rev:+ against $BENCH_BASE ($rev)}, TOLLGATE_LOG_LEVEL=$TOLLGATE_LOG_LEVEL; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# run DIR: the median µs of CPU per decision over its rounds
run() { (cd "$1" && timeout 300 node --import tsx bench/core.ts 5 "$n") | node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8")).cpu_us_per_decision.sort((a,b)=>a-b);process.stdout.write(String(v[v.length>>1]))'; }
ratios=()
for p in $(seq "$pairs"); do
	if ((${#dirs[@]} == 1)); then
		echo "run $p: $(run "$root") µs/decision"
		continue
	fi
	if ((p % 2)); then new=$(run "${dirs[0]}"); old=$(run "${dirs[1]}"); else old=$(run "${dirs[1]}"); new=$(run "${dirs[0]}"); fi
	ratio=$(node -e "process.stdout.write((${new}/${old}).toFixed(3))")
	ratios+=("$ratio")
	echo "pair $p: this checkout ${new} µs/decision, $BENCH_BASE ${old} µs/decision, ratio ${ratio}"
done
if ((${#ratios[@]} > 0)); then
	echo "median ratio (this checkout ÷ $BENCH_BASE, CPU per decision): $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')"
fi
echo "==> load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

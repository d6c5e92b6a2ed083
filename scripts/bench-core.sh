#!/usr/bin/env bash
# `make bench-core`: the decision core's CPU per decision (bench/core.ts: DecisionService.decide() on
# memory stores, no HTTP), and with BENCH_BASE=<rev> the same for that revision's src/, both built in
# one process and taken in turn round after round, so that other work on the machine weighs on both
# alike. Prints the medians and the median of the rounds' ratios. Bounded: about a minute.
#   BENCH_BASE=main      compare with src/ at that revision (this checkout's bench/core.ts and policy)
#   BENCH_ROUNDS=20      rounds (after a warm-up round)
#   BENCH_N=5000         decisions per round and checkout
#   TOLLGATE_LOG_LEVEL   warn (default: no decision log line) or info (lines to /dev/null)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$root/node_modules/.bin:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-core.XXXXXX")
trap 'rm -rf "$work"' EXIT
scripts/build-wasm.sh "$work/wasm" >&2
export TOLLGATE_POLICY_DIR="$work/wasm" TOLLGATE_LOG_LEVEL=${TOLLGATE_LOG_LEVEL:-warn}
checkouts=("$root")
if [[ -n ${BENCH_BASE:-} ]]; then
	rev=$(git rev-parse --short "$BENCH_BASE^{commit}")
	mkdir -p "$work/base"
	git archive "$rev" package.json tsconfig.json src | tar -x -C "$work/base"
	ln -s "$root/node_modules" "$work/base/node_modules"
	checkouts+=("$work/base")
fi
echo "==> checkout $(git rev-parse --short HEAD)${rev:+ against $BENCH_BASE ($rev) as $work/base}, TOLLGATE_LOG_LEVEL=$TOLLGATE_LOG_LEVEL; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
timeout 600 node --import tsx bench/core.ts "${BENCH_ROUNDS:-20}" "${BENCH_N:-5000}" "${checkouts[@]}"
echo "==> load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

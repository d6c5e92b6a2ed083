#!/usr/bin/env bash
# `make bench-eval`: the WASM engine's cost per decision (engine.decide, engine.route, the raw
# opa-wasm evaluate and its parts) beside `opa bench` of the same query on the same inputs.
# policies/ is compiled to a fresh policy.wasm in a temp dir first, so both evaluators run the same
# policy source even when wasm/ is stale. Bounded: about a minute on 2 cores.
#   BENCH_WASM_DIR=wasm   benchmark the checked-in wasm/policy.wasm instead
#   BENCH_N=200000        timed calls per measurement (minimum 100000)
#   BENCH_OPA=0           skip opa bench
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$root/node_modules/.bin:$PATH"
export OPA_BIN=${OPA_BIN:-$root/.tools/bin/opa}
command -v "$OPA_BIN" >/dev/null || { echo "opa not found at $OPA_BIN: run 'make tools'" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-eval.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [[ -z "${BENCH_WASM_DIR:-}" ]]; then
	echo "==> compiling policies/ to $work/wasm/policy.wasm" >&2
	scripts/build-wasm.sh "$work/wasm" >&2
	export BENCH_WASM_DIR="$work/wasm"
fi
export BENCH_POLICY_DIR=${BENCH_POLICY_DIR:-policies}
echo "==> checkout $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -n $(git status --porcelain -- src policies 2>/dev/null) ]] && echo ' + uncommitted changes in src/ or policies/')" >&2

echo "==> $(nproc) cores, node $(node --version), $("$OPA_BIN" version | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
timeout 300 node --import tsx bench/eval.ts

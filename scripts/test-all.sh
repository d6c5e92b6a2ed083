#!/usr/bin/env bash
# Runs every check and test, keeps going after a failure so one run reports everything, and
# ends with the line `tests: N passed, N failed` (opa test + vitest; a failed check counts as
# one failed test). Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PWD/node_modules/.bin:$PATH"
mkdir -p .tmp
passed=0
failed=0
failed_steps=()

step() { echo; echo "==> $1"; }
check() { # name, command...
	local name=$1; shift
	step "$name"
	if "$@"; then echo "    ok: $name"; else failed=$((failed + 1)); failed_steps+=("$name"); fi
}

check "route_tree.rego is up to date with route_table" make --no-print-directory check-route-tree
check "wasm/ is up to date with policies/" make --no-print-directory check-wasm
check "Rego lint (opa fmt, opa check --strict, regal)" make --no-print-directory lint-rego
check "TypeScript typecheck (src, test, bench)" npx tsc -p tsconfig.check.json

step "opa test (policies/ and test/policy/)"
if opa test --timeout 120s --format=json policies test/policy > .tmp/opa-test.json 2> .tmp/opa-test.err; then :; fi
if jq -e 'type == "array"' .tmp/opa-test.json > /dev/null 2>&1; then
	opa_pass=$(jq '[.[] | select((.fail // false) == false and .error == null and (.skip // false) == false)] | length' .tmp/opa-test.json)
	opa_fail=$(jq '[.[] | select((.fail // false) == true or .error != null)] | length' .tmp/opa-test.json)
	jq -r '.[] | select((.fail // false) == true or .error != null) | "    FAIL \(.package).\(.name) \(.error.message // "")"' .tmp/opa-test.json
	echo "    $opa_pass passed, $opa_fail failed"
	passed=$((passed + opa_pass)); failed=$((failed + opa_fail))
	[ "$opa_fail" -eq 0 ] || failed_steps+=("opa test")
else
	cat .tmp/opa-test.err; failed=$((failed + 1)); failed_steps+=("opa test (did not run)")
fi

step "opa test --coverage (minimum ${COVERAGE_MIN:-95}%)"
coverage=$(opa test --timeout 120s --coverage --format=json policies test/policy 2> /dev/null | jq '.coverage // 0')
echo "    line coverage: ${coverage}%"
if ! awk -v c="$coverage" -v m="${COVERAGE_MIN:-95}" 'BEGIN { exit !(c >= m) }'; then
	echo "    coverage below ${COVERAGE_MIN:-95}%; uncovered lines:"
	opa test --timeout 120s --coverage --format=json policies test/policy 2> /dev/null | jq -r '.files | to_entries[] | select(.value.not_covered) | "      \(.key): \([.value.not_covered[] | "\(.start.row)-\(.end.row)"] | join(", "))"'
	failed=$((failed + 1)); failed_steps+=("policy coverage")
fi

step "vitest (unit and integration)"
rm -f .tmp/vitest.json
npx vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest.json
if [ -s .tmp/vitest.json ]; then
	v_pass=$(jq '.numPassedTests' .tmp/vitest.json)
	v_fail=$(jq '.numFailedTests + ([.testResults[] | select(.status == "failed" and (.assertionResults | length) == 0)] | length)' .tmp/vitest.json)
	passed=$((passed + v_pass)); failed=$((failed + v_fail))
	[ "$v_fail" -eq 0 ] || failed_steps+=("vitest")
else
	failed=$((failed + 1)); failed_steps+=("vitest (no report)")
fi

echo
if [ ${#failed_steps[@]} -gt 0 ]; then echo "failed: ${failed_steps[*]}"; fi
echo "tests: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Compiles policies/ into OUT_DIR/policy.wasm. The capabilities are the builtins that
# @open-policy-agent/opa-wasm implements, so a policy that needs anything else fails here
# rather than at request time. The output is byte-for-byte reproducible.
set -euo pipefail
out_dir=${1:?usage: build-wasm.sh OUT_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The SDK's capabilities list no language features; v1 syntax is a parser feature, not a builtin.
jq '.features = ["rego_v1"]' "$root/node_modules/@open-policy-agent/opa-wasm/capabilities.json" > "$work/capabilities.json"
# Relative source paths: OPA records them, and the output must not depend on the checkout's location.
# The tests beside the policies (*_test.rego) are never part of the build.
(cd "$root" && opa build -t wasm --capabilities "$work/capabilities.json" \
	-e tollgate/authz/decision -e tollgate/authz/route -e tollgate/admin/decision -e tollgate/grants/violations \
	--ignore "*_test.rego" -o "$work/bundle.tar.gz" policies)
tar -xzf "$work/bundle.tar.gz" -C "$work" --transform 's,^/,,' /policy.wasm 2>/dev/null
mkdir -p "$out_dir"
install -m 0644 "$work/policy.wasm" "$out_dir/policy.wasm.tmp"
# Rename so a running engine watching the folder never sees a half-written file.
mv -f "$out_dir/policy.wasm.tmp" "$out_dir/policy.wasm"
echo "==> $out_dir/policy.wasm sha256:$(sha256sum "$out_dir/policy.wasm" | cut -c1-16)…"

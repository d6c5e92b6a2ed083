# Tollgate build, test and tool installation. Every tool lands in .tools/ at a pinned version.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

OPA_VERSION      := v1.22.2
TOOLS            := $(CURDIR)/.tools
BIN              := $(TOOLS)/bin
OPA              := $(BIN)/opa
REGAL            := $(BIN)/regal
FERRETDB         := $(BIN)/ferretdb
OPA_WASM_CAPS    := node_modules/@open-policy-agent/opa-wasm/capabilities.json
COVERAGE_MIN     := 95
export PATH := $(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# ---------------------------------------------------------------------------- tools
# The stamp names the version, so changing OPA_VERSION reinstalls and nothing else does.
OPA_STAMP := $(TOOLS)/.opa-$(OPA_VERSION)
$(OPA_STAMP):
	@echo "==> installing opa $(OPA_VERSION) into .tools/bin"
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install github.com/open-policy-agent/opa@$(OPA_VERSION)
	@touch $@

# Regal and FerretDB are pinned by their own go.mod/go.sum under tools/.
$(REGAL): tools/regal/go.mod tools/regal/go.sum
	@echo "==> building regal (tools/regal/go.mod) into .tools/bin"
	@mkdir -p $(BIN)
	cd tools/regal && go build -o $(REGAL) github.com/styrainc/regal
	@touch $@

# FerretDB refuses to start unless built as its own main module with build/version/version.txt
# filled in, so it is built from a checksum-verified copy of its module source.
FERRETDB_VERSION := $(shell awk '/FerretDB\/FerretDB / {print $$NF}' tools/ferretdb/go.mod)
$(FERRETDB): tools/ferretdb/go.mod tools/ferretdb/go.sum
	@echo "==> building ferretdb $(FERRETDB_VERSION) into .tools/bin (about a minute the first time)"
	@mkdir -p $(BIN) $(TOOLS)/src
	cd tools/ferretdb && go mod download github.com/FerretDB/FerretDB
	rm -rf $(TOOLS)/src/ferretdb
	cp -r "$$(cd tools/ferretdb && go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)" $(TOOLS)/src/ferretdb
	chmod -R u+w $(TOOLS)/src/ferretdb
	echo $(FERRETDB_VERSION) > $(TOOLS)/src/ferretdb/build/version/version.txt
	cd $(TOOLS)/src/ferretdb && go build -o $(FERRETDB) ./cmd/ferretdb
	@touch $@

node_modules/.stamp: package.json package-lock.json
	@echo "==> npm ci"
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: system-deps
system-deps:
	@command -v redis-server >/dev/null || { echo "==> installing redis-server (Debian package)"; apt-get update -qq && apt-get install -y -qq redis-server; }
	@command -v ss >/dev/null || { echo "==> installing iproute2 (Debian package: ss, for the workers test)"; apt-get update -qq && apt-get install -y -qq iproute2; }
	@command -v ps >/dev/null || { echo "==> installing procps (Debian package: ps, for the workers test and bench)"; apt-get update -qq && apt-get install -y -qq procps; }
	@command -v jq >/dev/null || { echo "==> installing jq (Debian package)"; apt-get update -qq && apt-get install -y -qq jq; }
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "==> installing nginx (Debian package, for the forward-auth end-to-end test)"; apt-get update -qq && apt-get install -y -qq nginx; }
	@command -v chromium >/dev/null || { echo "==> installing chromium (Debian package, for the browser tests driven by playwright-core)"; apt-get update -qq && apt-get install -y -qq chromium; }

.PHONY: tools
tools: $(OPA_STAMP) $(REGAL) $(FERRETDB) node_modules/.stamp system-deps ## Install every pinned tool into .tools/ and node_modules/

# ---------------------------------------------------------------------------- policy
.PHONY: wasm
wasm: $(OPA_STAMP) node_modules/.stamp ## Regenerate the route tree and tool lookup from their tables and compile policies/ to wasm/ (reproducible)
	@tsx scripts/gen-route-tree.ts
	@tsx scripts/gen-tool-lookup.ts
	@scripts/build-wasm.sh wasm

# route_tree.rego and tool_lookup.rego are generated from route_table and the tool table; they
# must be regenerated whenever a table changes.
.PHONY: check-route-tree
check-route-tree: $(OPA_STAMP) node_modules/.stamp
	@tsx scripts/gen-route-tree.ts --check
	@tsx scripts/gen-tool-lookup.ts --check

.PHONY: check-wasm
check-wasm: $(OPA_STAMP) node_modules/.stamp
	@scripts/build-wasm.sh .tmp/wasm-check >/dev/null
	@if ! cmp -s .tmp/wasm-check/policy.wasm wasm/policy.wasm; then \
		echo "wasm/ is stale: policies/ changed since the last 'make wasm'. Run 'make wasm' and commit wasm/." >&2; exit 1; fi
	@echo "==> wasm/ matches policies/"

.PHONY: lint-rego
lint-rego: $(OPA_STAMP) $(REGAL) ## opa fmt, opa check --strict and regal lint
	@echo "==> opa fmt / opa check --strict / regal lint"
	@if [ -n "$$(opa fmt --list policies test/policy)" ]; then echo "not opa-fmt formatted:"; opa fmt --list policies test/policy; exit 1; fi
	opa check --strict policies test/policy
	regal lint --format pretty policies test/policy

# ---------------------------------------------------------------------------- tests
.PHONY: test
test: tools ## Run every test (opa test + vitest) and print the totals
	@scripts/test-all.sh

# ---------------------------------------------------------------------------- build and run
.PHONY: build
build: node_modules/.stamp ## Compile src/ to dist/ (what `make run`, `npm start` and the Dockerfile run)
	rm -rf dist
	tsc -p tsconfig.json

# `exec`: the process make starts is the server itself, so SIGTERM (which make passes on to it)
# and Ctrl-C reach it and nothing is left behind.
.PHONY: run
run: build ## Run Tollgate on its embedded default (in-memory stores, demo data)
	exec node dist/main.js

.PHONY: run-real
run-real: build $(FERRETDB) ## Run Tollgate on FerretDB + redis-server started locally on free ports; Ctrl-C stops all three
	exec scripts/run-real.sh

# The pictures in docs/screenshots/ (committed), taken with Debian's chromium (system-deps).
.PHONY: screenshots
screenshots: node_modules/.stamp system-deps ## Take docs/screenshots/*.png of the sign-in, consent and tokens pages (chromium, headless)
	@tsx scripts/screenshots.ts

# ---------------------------------------------------------------------------- benchmarks
.PHONY: bench-eval
bench-eval: tools ## WASM engine cost per decision beside `opa bench` (~1 min)
	@scripts/bench-eval.sh

.PHONY: bench
bench: tools ## HTTP load: Tollgate (FerretDB + Redis) vs opa run --server, the gateway vs a direct upstream (~2.5 min)
	@scripts/bench.sh

.PHONY: bench-core
bench-core: tools ## The decision core's CPU per decision in one process, no HTTP; BENCH_BASE=<rev> compares in alternating rounds (~1 min)
	@scripts/bench-core.sh

.PHONY: bench-replicas
bench-replicas: tools ## Cross-replica invalidation: time until every other replica enforces a change, 500 of each kind (~3 min)
	node --import tsx bench/replicas.ts

.PHONY: bench-workers
bench-workers: tools ## TOLLGATE_WORKERS=1 vs 2 with the load generator pinned apart by taskset (~7 min)
	node --import tsx bench/workers.ts

.PHONY: bench-limiter
bench-limiter: tools ## Rate limiter: Redis memory per key at 1k/10k/100k a minute, cost per hit (~1.5 min)
	node --import tsx bench/limiter.ts

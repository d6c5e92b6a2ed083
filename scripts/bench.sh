#!/usr/bin/env bash
# `make bench`: HTTP throughput and latency of Tollgate beside `opa run --server` on the same policy,
# and of Tollgate's gateway beside its upstream reached directly; issue 8's rows as ratios against a
# trivial node:http JSON POST and a trivial upstream, all in one run (bench/load.ts prints them).
# Starts its own redis-server and FerretDB (SQLite) on free loopback ports, a trivial upstream, three
# Tollgates (fact cache on, its gateway proxying to that upstream; TOLLGATE_CACHE_TTL_MS=0; memory
# stores, with a lean-Express /v1/authorize on a second port), OPA
# and two trivial baselines, then runs autocannon against each in turn (bench/load.ts). Everything it
# starts is stopped on exit, whatever the exit. Fails if any answer under load is not the expected 2xx.
# About 2.5 minutes (the load waits until the Tollgates' first audit prune, 30 s after their start, has passed).
#   BENCH_DURATION=8 BENCH_WARMUP=2 BENCH_CONNECTIONS=50   autocannon settings
#   BENCH_BASELINES=0                                      skip the Express / node:http floors
#   BENCH_GATEWAY=0                                        skip the gateway vs direct upstream pair
#   BENCH_SERIAL=4                                         seconds of the pair one request at a time (0: skip)
#   BENCH_ROUNDS=1                                         each timed run in rounds, the targets in turn (fair under shared load)
#   BENCH_TARGETS=direct,gateway,gateway-base              only these targets, in this order (bench/load.ts)
#   BENCH_BASE=main                                        also the gateway and the memory-store /v1/authorize of src/ at that git revision (same policy), in the same run
#   FERRETDB_BIN=/path/to/ferretdb                         another FerretDB 1.x binary
#   BENCH_TOLLGATE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"  extra node flags for both Tollgates
#   BENCH_LOG_LEVEL=info                                   the Tollgates' log level (default warn: no decision log line)
#   BENCH_MCP_ROUNDS=10 BENCH_MCP_N=300                     bench/mcp.ts (run last): MCP parsing and filtering per call
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$root/node_modules/.bin:$PATH"
OPA_BIN=${OPA_BIN:-$root/.tools/bin/opa}
FERRETDB_BIN=${FERRETDB_BIN:-$root/.tools/bin/ferretdb}
STARTUP_TIMEOUT_S=30

say() { echo "==> $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

command -v redis-server >/dev/null || die "redis-server not on PATH (make system-deps)"
[[ -x "$OPA_BIN" ]] || die "opa not found at $OPA_BIN (make tools)"
[[ -x "$FERRETDB_BIN" ]] || die "FerretDB not found at $FERRETDB_BIN (make tools, or set FERRETDB_BIN)"
if ! "$FERRETDB_BIN" --version >/dev/null 2>&1; then
	die "$FERRETDB_BIN does not start ($("$FERRETDB_BIN" --version 2>&1 | head -1)); rebuild it or set FERRETDB_BIN to a working FerretDB 1.x"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")
pids=()
names=()
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	if ((${#pids[@]} > 0)); then
		say "stopping ${names[*]}"
		for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
		for _ in $(seq 30); do
			local alive=0
			for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
			((alive)) || break
			sleep 0.1
		done
		for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
		wait 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME COMMAND...: runs COMMAND in the background, output to $work/NAME.log, remembers its pid.
start() {
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=("$!")
	names+=("$name")
}

free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})'
}

# wait_for NAME PROBE...: polls PROBE until it succeeds; fails with NAME's log if NAME died or time ran out.
wait_for() {
	local name=$1
	shift
	local deadline=$((SECONDS + STARTUP_TIMEOUT_S)) i pid=""
	for i in "${!names[@]}"; do [[ ${names[$i]} == "$name" ]] && pid=${pids[$i]}; done
	until "$@" >/dev/null 2>&1; do
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
			tail -20 "$work/$name.log" >&2 || true
			die "$name exited during startup"
		fi
		if ((SECONDS > deadline)); then
			tail -20 "$work/$name.log" >&2 || true
			die "$name not ready within ${STARTUP_TIMEOUT_S} s"
		fi
		sleep 0.1
	done
}
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }
log_has() { grep -q "$2" "$work/$1.log"; }

say "$(nproc) cores, node $(node --version), $("$OPA_BIN" version | head -1), $(redis-server --version | cut -d' ' -f1-3), FerretDB $("$FERRETDB_BIN" --version 2>&1 | sed -n 's/^version: //p')"
say "autocannon and every server share these $(nproc) cores: read req/s as this machine's, not a server's capacity"
say "checkout $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -n $(git status --porcelain -- src policies 2>/dev/null) ]] && echo ' + uncommitted changes in src/ or policies/')"
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"

say "compiling policies/ to $work/wasm (Tollgate and OPA run the same policy source)"
scripts/build-wasm.sh "$work/wasm" >&2

redis_port=$(free_port)
say "starting redis-server on 127.0.0.1:$redis_port"
mkdir -p "$work/redis"
start redis redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/redis" --daemonize no --loglevel warning
wait_for redis tcp_open "$redis_port"

mongo_port=$(free_port)
say "starting FerretDB (SQLite) on 127.0.0.1:$mongo_port"
mkdir -p "$work/ferretdb"
start ferretdb "$FERRETDB_BIN" --handler=sqlite "--sqlite-url=file:$work/ferretdb/" "--listen-addr=127.0.0.1:$mongo_port" \
	--telemetry=disable --log-level=error --debug-addr=- "--state-dir=$work/ferretdb"
wait_for ferretdb tcp_open "$mongo_port"

export MONGODB_URI="mongodb://127.0.0.1:$mongo_port/"
export MONGODB_DB=tollgate_bench
export REDIS_URL="redis://127.0.0.1:$redis_port"
# The Redis limiter accepts limits up to 1,000,000 per window: 16,000 req/s per key over 60 s, never reached here.
export TOLLGATE_RATE_LIMITS='{"api":{"default":1000000}}'
export TOLLGATE_POLICY_DIR="$work/wasm"
# warn: no decision log line (BENCH_LOG_LEVEL=info measures with it; the Tollgates' stdout goes to files in the work folder).
export TOLLGATE_LOG_LEVEL=${BENCH_LOG_LEVEL:-warn}
export HOST=127.0.0.1
unset TOLLGATE_CACHE_TTL_MS TOLLGATE_ENV TOLLGATE_DEMO TOLLGATE_UPSTREAM_URL

upstream_url=""
if [[ ${BENCH_GATEWAY:-1} != 0 ]]; then
	upstream_port=$(free_port)
	upstream_url="http://127.0.0.1:$upstream_port"
	say "starting the gateway's trivial upstream (node:http) on 127.0.0.1:$upstream_port"
	start upstream node --import tsx bench/baseline.ts upstream "$upstream_port"
	wait_for upstream log_has upstream "^listening"
fi

tg_port=$(free_port)
say "starting Tollgate (fact cache on${upstream_url:+, gateway upstream $upstream_url}) on 127.0.0.1:$tg_port and seeding MongoDB through its stores"
# shellcheck disable=SC2086 # BENCH_TOLLGATE_NODE_ARGS is a list of flags
PORT=$tg_port TOLLGATE_UPSTREAM_URL=$upstream_url start tollgate node ${BENCH_TOLLGATE_NODE_ARGS:-} --import tsx bench/server.ts --seed "$work/seed.json"
wait_for tollgate log_has tollgate "^listening"
wait_for tollgate http_ok "http://127.0.0.1:$tg_port/readyz"

base_url=""
if [[ -n ${BENCH_BASE:-} && -n $upstream_url ]]; then
	base_rev=$(git rev-parse --short "$BENCH_BASE^{commit}") || die "BENCH_BASE=$BENCH_BASE is not a git revision"
	git diff --quiet "$base_rev" -- policies || say "note: policies/ differ at $base_rev; both Tollgates run this checkout's policy"
	mkdir -p "$work/base"
	git archive "$base_rev" package.json tsconfig.json src bench | tar -x -C "$work/base"
	ln -s "$root/node_modules" "$work/base/node_modules"
	base_port=$(free_port)
	base_url="http://127.0.0.1:$base_port"
	say "starting Tollgate with src/ at $BENCH_BASE ($base_rev), gateway upstream $upstream_url, on 127.0.0.1:$base_port"
	# shellcheck disable=SC2086
	start tollgate-base env -C "$work/base" PORT=$base_port TOLLGATE_UPSTREAM_URL=$upstream_url node ${BENCH_TOLLGATE_NODE_ARGS:-} --import tsx bench/server.ts
	export BENCH_BASE_LABEL="$BENCH_BASE ($base_rev)"
fi

mem_port=$(free_port)
lean_port=$(free_port)
say "starting Tollgate on memory stores on 127.0.0.1:$mem_port, and its lean-Express /v1/authorize on $lean_port"
# shellcheck disable=SC2086
PORT=$mem_port start tollgate-mem node ${BENCH_TOLLGATE_NODE_ARGS:-} --import tsx bench/server.ts --memory --seed "$work/seed-mem.json" --lean-express "$lean_port"
wait_for tollgate-mem log_has tollgate-mem "^listening"
if [[ -n ${BENCH_BASE:-} ]]; then
	base_rev=$(git rev-parse --short "$BENCH_BASE^{commit}") || die "BENCH_BASE=$BENCH_BASE is not a git revision"
	if [[ ! -d $work/base ]]; then
		mkdir -p "$work/base"
		git archive "$base_rev" package.json tsconfig.json src bench | tar -x -C "$work/base"
		ln -s "$root/node_modules" "$work/base/node_modules"
	fi
	mem_base_port=$(free_port)
	say "starting Tollgate on memory stores with src/ at $BENCH_BASE ($base_rev) on 127.0.0.1:$mem_base_port"
	# shellcheck disable=SC2086
	start tollgate-mem-base env -C "$work/base" PORT=$mem_base_port node ${BENCH_TOLLGATE_NODE_ARGS:-} --import tsx bench/server.ts --memory --seed "$work/seed-mem-base.json"
	wait_for tollgate-mem-base log_has tollgate-mem-base "^listening"
	export TOLLGATE_MEM_BASE_URL="http://127.0.0.1:$mem_base_port" SEED_MEM_BASE_FILE="$work/seed-mem-base.json" BENCH_BASE_LABEL="$BENCH_BASE ($base_rev)"
fi

tg0_port=$(free_port)
say "starting Tollgate (TOLLGATE_CACHE_TTL_MS=0) on 127.0.0.1:$tg0_port"
# shellcheck disable=SC2086
PORT=$tg0_port TOLLGATE_CACHE_TTL_MS=0 start tollgate-ttl0 node ${BENCH_TOLLGATE_NODE_ARGS:-} --import tsx bench/server.ts

opa_port=$(free_port)
say "starting opa run --server on 127.0.0.1:$opa_port"
start opa "$OPA_BIN" run --server --addr "127.0.0.1:$opa_port" --log-level error --log-level-request error policies

if [[ ${BENCH_BASELINES:-1} != 0 ]]; then
	http_port=$(free_port)
	express_port=$(free_port)
	say "starting baselines: node:http on $http_port, Express on $express_port"
	start baseline-http node --import tsx bench/baseline.ts http "$http_port"
	start baseline-express node --import tsx bench/baseline.ts express "$express_port"
	wait_for baseline-http log_has baseline-http "^listening"
	wait_for baseline-express log_has baseline-express "^listening"
	export BASELINE_HTTP_URL="http://127.0.0.1:$http_port" BASELINE_EXPRESS_URL="http://127.0.0.1:$express_port"
fi
wait_for tollgate-ttl0 http_ok "http://127.0.0.1:$tg0_port/readyz"
tollgates_ready=$SECONDS # both Tollgates have scheduled their first audit prune by now
wait_for opa http_ok "http://127.0.0.1:$opa_port/health?bundles"
[[ -z $base_url ]] || wait_for tollgate-base http_ok "$base_url/readyz"

pid_list=""
for i in "${!names[@]}"; do pid_list+="${names[$i]}=${pids[$i]},"; done
export BENCH_PIDS=$pid_list BENCH_CLK_TCK=$(getconf CLK_TCK)
export SEED_FILE="$work/seed.json" SEED_MEM_FILE="$work/seed-mem.json"
export TOLLGATE_MEM_URL="http://127.0.0.1:$mem_port" TOLLGATE_LEAN_EXPRESS_URL="http://127.0.0.1:$lean_port"
export TOLLGATE_URL="http://127.0.0.1:$tg_port" TOLLGATE_TTL0_URL="http://127.0.0.1:$tg0_port" OPA_URL="http://127.0.0.1:$opa_port" UPSTREAM_URL=$upstream_url TOLLGATE_BASE_URL=$base_url
# Each Tollgate prunes the audit trail 30 s after it starts (src/audit/prune.ts), then every ~15 min.
# On FerretDB (no TTL index) that deleteMany scans the whole audit collection: seconds of FerretDB CPU
# once the timed runs have filled it, which landed in whichever run was under way. Let the first
# prune pass on the still-empty collection before the load starts.
prune_wait=$((tollgates_ready + 32 - SECONDS))
if ((prune_wait > 0)); then
	say "waiting $prune_wait s for the Tollgates' first audit prune (30 s after start) to pass before the load"
	sleep "$prune_wait"
fi
say "all servers ready; load runs one target at a time"
timeout 300 node --import tsx bench/load.ts
# What a project's MCP endpoint adds to a plain proxied POST (its own in-process Tollgate and upstream).
say "MCP: parsing and filtering per call (bench/mcp.ts)"
timeout 300 node --import tsx bench/mcp.ts

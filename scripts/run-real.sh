#!/usr/bin/env bash
# `make run-real`: Tollgate (dist/, built by `make build`) on real backends without containers.
# Starts FerretDB (SQLite handler) and redis-server on free loopback ports, as the tests do, with
# their data in a temporary folder, then Tollgate with MONGODB_URI and REDIS_URL pointing at them
# and the demo data seeded (TOLLGATE_DEMO=false to start empty). Every other variable of
# docs/configuration.md passes through (PORT, TOLLGATE_INTERNAL_PORT, ...).
# Ctrl-C or SIGTERM stops Tollgate first (it drains and flushes its audit queue into FerretDB),
# then both servers, and removes the folder. Exits with Tollgate's status.
#   FERRETDB_BIN=/path/to/ferretdb   another FerretDB 1.x binary
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
FERRETDB_BIN=${FERRETDB_BIN:-$root/.tools/bin/ferretdb}
STARTUP_TIMEOUT_S=30

say() { echo "==> $*" >&2; }
die() { echo "run-real: $*" >&2; exit 1; }

command -v redis-server >/dev/null || die "redis-server not on PATH (Debian: apt-get install redis-server, or make system-deps)"
[[ -x "$FERRETDB_BIN" ]] || die "FerretDB not found at $FERRETDB_BIN (make tools, or set FERRETDB_BIN)"
[[ -f dist/main.js ]] || die "dist/main.js not found (make build)"

work=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-run-real.XXXXXX")
servers=()
tollgate=""

# stop PID SECONDS: SIGTERM, then SIGKILL if it is still there after SECONDS.
stop() {
	local pid=$1 deadline=$((SECONDS + $2))
	kill -TERM "$pid" 2>/dev/null || return 0
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
}

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	if [[ -n $tollgate ]]; then
		stop "$tollgate" 30
		wait "$tollgate" && status=0 || status=$?
	fi
	((${#servers[@]} == 0)) || say "stopping FerretDB and redis-server"
	for pid in "${servers[@]}"; do stop "$pid" 5; done
	wait 2>/dev/null || true
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each child gets a session of its own, so a Ctrl-C at the terminal reaches this script alone and
# the order of shutdown stays the script's: Tollgate, then its backends.
start_server() {
	local name=$1
	shift
	setsid "$@" >"$work/$name.log" 2>&1 &
	servers+=("$!")
}

free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})'
}

# wait_port NAME PORT: until something listens on PORT; fails with NAME's log if time runs out.
wait_port() {
	local deadline=$((SECONDS + STARTUP_TIMEOUT_S))
	until (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; do
		if ((SECONDS > deadline)); then
			tail -20 "$work/$1.log" >&2 || true
			die "$1 is not listening on port $2 after ${STARTUP_TIMEOUT_S} s"
		fi
		sleep 0.1
	done
}

redis_port=$(free_port)
mkdir -p "$work/redis" "$work/ferretdb"
start_server redis redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/redis" --daemonize no --loglevel warning
mongo_port=$(free_port)
start_server ferretdb "$FERRETDB_BIN" --handler=sqlite "--sqlite-url=file:$work/ferretdb/" "--listen-addr=127.0.0.1:$mongo_port" \
	--telemetry=disable --log-level=error --debug-addr=- "--state-dir=$work/ferretdb"
wait_port redis "$redis_port"
wait_port ferretdb "$mongo_port"
say "redis-server on 127.0.0.1:$redis_port, FerretDB on 127.0.0.1:$mongo_port, data in $work (removed on exit)"

MONGODB_URI="mongodb://127.0.0.1:$mongo_port/" REDIS_URL="redis://127.0.0.1:$redis_port" TOLLGATE_DEMO=${TOLLGATE_DEMO:-true} \
	setsid node dist/main.js &
tollgate=$!
wait "$tollgate" && status=0 || status=$?
tollgate=""
exit "$status"

# shellcheck shell=bash
# Shared by tests/e2e/egress_*.t: TAP helpers, the origin server, the host's
# egress proxy (egress-proxyd) and audit-file queries. Source it after
# setting top (the source tree) and build (BUILD_DIR).

egress_dir=$top/tests/e2e/egress
proxyd=$build/tests/e2e/egress/egress-proxyd
pids=()

# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"

egress_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "${tmp:-}" ] && [ -z "${KEEP:-}" ] && rm -rf "$tmp"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server LOG: the origin; sets server_port.
start_server() {
	local out=$tmp/server.port
	python3 "$egress_dir/server.py" --log "$1" >"$out" 2>"$tmp/server.err" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
	server_port=$(head -n 1 "$out")
	[ -n "$server_port" ] || { echo "Bail out! the origin server did not start"; exit 1; }
}

# start_proxyd OUT ARGS...: egress-proxyd, waits for its "ready".
start_proxyd() {
	local out=$1
	shift
	"$proxyd" "$@" >"$out" 2>"$out.err" &
	pids+=($!)
	for _ in $(seq 100); do grep -q ready "$out" 2>/dev/null && return 0; sleep 0.05; done
	echo "Bail out! egress-proxyd did not start: $(cat "$out.err")"
	exit 1
}

# wait_lines FILE N: until FILE has at least N lines (5 s at most).
wait_lines() {
	for _ in $(seq 100); do
		[ "$(grep -c '' "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# aq FILE EXPR: evaluate a Python expression over L, the audit lines as dicts.
aq() {
	python3 -c 'import json,sys
L=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
v=eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2"
}

#!/usr/bin/env bash
# Egress proxy benchmark: the wall time of a 1 MiB download from an origin on
# 127.0.0.1, through the egress path a sandbox uses (curl -> the agent's
# proxy listener -> Unix socket -> the host's egress proxy with a policy ->
# origin) against the same download made directly. The median of
# BENCH_EGRESS_RUNS (20) runs of each, interleaved run by run. Prints
#   bench: proxy_overhead_ms ours=<through the proxy> peer=<direct> unit=ms
# and exits non-zero (reason on stderr) if it could not measure.
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$TOP/build}
RUNS=${BENCH_EGRESS_RUNS:-20}
PROXYD=$BUILD_DIR/tests/e2e/egress/egress-proxyd
AGENT=$BUILD_DIR/agentvm-agent

die() {
	echo "bench: egress: $*" >&2
	exit 1
}

[ -x "$PROXYD" ] || die "$PROXYD is not built (make all)"
[ -x "$AGENT" ] || die "$AGENT is not built (make all)"
command -v curl >/dev/null || die "curl is not installed"
command -v python3 >/dev/null || die "python3 is not installed"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

python3 "$TOP/tests/e2e/egress/server.py" >"$TMP/port" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
P=$(head -n 1 "$TMP/port")
[ -n "$P" ] || die "the origin server did not start"

cat >"$TMP/policy.json" <<EOF
{"allow_domains": ["origin.test"], "allow_ports": [$P], "allow_ranges": ["127.0.0.1/32"],
 "hosts": {"origin.test": "127.0.0.1"}, "dns": false}
EOF
"$PROXYD" --sandbox bench="$TMP/egress.sock" --policy "$TMP/policy.json" \
	--audit "$TMP/audit.log" >"$TMP/proxyd.out" 2>&1 &
PIDS+=($!)
AP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$AGENT" --listen "unix:$TMP/agent.sock" --egress "unix:$TMP/egress.sock" \
	--egress-listen "127.0.0.1:$AP" >"$TMP/agent.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
	grep -q ready "$TMP/proxyd.out" && grep -q "egress proxy on" "$TMP/agent.log" && break
	sleep 0.05
done
grep -q ready "$TMP/proxyd.out" || die "egress-proxyd did not start: $(cat "$TMP/proxyd.out")"

URL_PROXY="http://origin.test:$P/big"
URL_DIRECT="http://127.0.0.1:$P/big"
one() { # one URL [CURL ARGS]: milliseconds, or nothing on failure
	local url=$1 t size
	shift
	read -r t size < <(curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "$@" "$url")
	[ "${size:-0}" = 1048576 ] || return 1
	awk -v t="$t" 'BEGIN { printf "%.3f\n", t * 1000 }'
}
median() {
	sort -n | awk '{a[NR]=$1} END {if (NR == 0) exit 1; if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'
}

# One warm-up of each, then the runs, interleaved.
one "$URL_PROXY" -x "http://127.0.0.1:$AP" >/dev/null || die "a download through the proxy failed"
one "$URL_DIRECT" --noproxy '*' >/dev/null || die "a direct download failed"
: >"$TMP/ours"
: >"$TMP/peer"
for _ in $(seq "$RUNS"); do
	one "$URL_PROXY" -x "http://127.0.0.1:$AP" >>"$TMP/ours" || die "a download through the proxy failed"
	one "$URL_DIRECT" --noproxy '*' >>"$TMP/peer" || die "a direct download failed"
done
ours=$(median <"$TMP/ours") || die "no figure through the proxy"
peer=$(median <"$TMP/peer") || die "no direct figure"
echo "bench: proxy_overhead_ms ours=$ours peer=$peer unit=ms"
